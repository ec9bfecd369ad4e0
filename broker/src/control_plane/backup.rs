//! Backups of the control plane's state (C21): organizations, environments, clusters, users,
//! service accounts, key hashes, ACLs and the audit log; never a customer record (there are
//! none in the control plane to copy). Two kinds, both on storage in another zone:
//! - the continuous copy, written with every change before the change is acknowledged, so a
//!   control plane restored after losing its zone has everything it ever acknowledged;
//! - snapshots every `SNAPSHOT_INTERVAL`, kept `SNAPSHOTS_KEPT` deep, for going back to a
//!   point in time.

use std::time::Duration;

use super::state::Records;
use crate::log::Disk;

pub const CONTINUOUS_FILE: &str = "control-plane-backup/records.json";
const SNAPSHOT_PREFIX: &str = "control-plane-backup/snapshot-";
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(60);
const SNAPSHOTS_KEPT: usize = 24;

/// Writes the continuous copy.
pub fn write_continuous(disk: &dyn Disk, records: &[u8]) -> std::io::Result<()> {
    disk.replace_durably(CONTINUOUS_FILE, records)
}

/// Writes a snapshot named by its time (zero-padded, so names sort by time) and drops the
/// oldest beyond `SNAPSHOTS_KEPT`.
pub fn write_snapshot(disk: &dyn Disk, records: &[u8], taken_at_ms: u64) -> std::io::Result<()> {
    disk.replace_durably(&format!("{SNAPSHOT_PREFIX}{taken_at_ms:020}.json"), records)?;
    let snapshots = disk.list(SNAPSHOT_PREFIX)?;
    for old in snapshots.iter().take(snapshots.len().saturating_sub(SNAPSHOTS_KEPT)) {
        disk.remove_prefix(old)?;
    }
    Ok(())
}

/// Every backup file (for the checker that scans them).
pub fn files(disk: &dyn Disk) -> std::io::Result<Vec<String>> {
    disk.list("control-plane-backup/")
}

/// The newest state a restore can use: the continuous copy, else the newest readable snapshot.
pub fn latest(disk: &dyn Disk) -> Option<Records> {
    let parse = |file: &str| disk.read(file).ok().flatten().and_then(|bytes| serde_json::from_slice(&bytes).ok());
    parse(CONTINUOUS_FILE).or_else(|| disk.list(SNAPSHOT_PREFIX).ok()?.iter().rev().find_map(|file| parse(file)))
}
