//! The cluster's master key under rotation, revocation and key-service outages (C09).
//!
//! - Readability: every segment on every broker disk at the end of the run must still open with
//!   what the key service holds (a rotation adds a version; it never takes one away).
//! - New versions: a segment started more than `ROTATION_BOUND` after a rotation is sealed
//!   under a root wrapped by the new version, unless the key service could not be reached then.
//! - Revocation bound: from the moment the key becomes unusable (disabled, grant removed,
//!   deletion scheduled) until it is usable again, nothing of the cluster's data is served
//!   past `claims::KEY_REVOCATION_BOUND`, or past `claims::KEY_REVOCATION_BOUND_UNREACHABLE`
//!   when the key service could not be reached from some zone before the revocation would have
//!   been seen (an outage, or a partition between it and a zone); from the start of a
//!   key-service outage, nothing past `claims::KEY_SERVICE_OUTAGE_BOUND`.
//!
//! Served means a poll that returned records, or an acknowledged produce. A poll's request was
//! sent at its start; a produce's last attempt was sent at most `send_attempt_max` before its
//! acknowledgement (its connect and request timeouts). So a violation is certain, never a guess at the edges.

use std::time::Duration;

use broker::kms::server::KeyService;

use crate::claims::{KEY_REVOCATION_BOUND, KEY_REVOCATION_BOUND_UNREACHABLE, KEY_SERVICE_OUTAGE_BOUND};

use crate::history::{History, OpKind, PollOutcome, SendOutcome};
use crate::scenario::KeyAction;

/// A rotation is seen at the next renewal; a new root is then wrapped and the next append
/// rolls a segment.
pub const ROTATION_BOUND: Duration = crate::claims::KEY_ROTATION_BOUND;
/// A segment key file written (the disk tap sees each): when, where, and the master key
/// version its root is wrapped under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFileWrite {
    /// Since the world was built as the tap records it; since the run started once judged.
    pub at_ms: u64,
    pub machine: String,
    pub file: String,
    pub master_key_id: String,
    pub version: u32,
}

/// An action on the cluster's master key, as applied (ms since the run started).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEvent {
    pub at_ms: u64,
    pub action: KeyAction,
    /// The key's current version after the action, or why it was refused.
    pub outcome: Result<u32, String>,
}

/// A stretch in which the cluster's data must stop being served `bound_ms` after `start_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyWindow {
    pub start_ms: u64,
    pub end_ms: u64,
    pub bound_ms: u64,
    pub why: String,
}

/// Revocation windows from the key's actions, and outage windows from the schedule's
/// key-service outages (`(start_ms, end_ms)`), each closed at `end_ms` (the run's end) if open.
/// `unreachable`: the outages and every cut between the key service and a zone; a revocation
/// one of them overlaps before it would have been seen is bound by the lease instead.
pub fn windows(events: &[KeyEvent], outages: &[(u64, u64)], unreachable: &[(u64, u64)], end_ms: u64) -> Vec<KeyWindow> {
    let (mut enabled, mut granted, mut pending_deletion) = (true, true, false);
    let mut open: Option<(u64, KeyAction)> = None;
    let mut windows = Vec::new();
    for event in events.iter().filter(|e| e.outcome.is_ok()) {
        match event.action {
            KeyAction::Disable => enabled = false,
            KeyAction::Enable => enabled = true,
            KeyAction::RevokeGrant => granted = false,
            KeyAction::Grant => granted = true,
            KeyAction::ScheduleDeletion => pending_deletion = true,
            // Back, but disabled (as in AWS KMS).
            KeyAction::CancelDeletion => (pending_deletion, enabled) = (false, false),
            KeyAction::Rotate => {}
        }
        let usable = enabled && granted && !pending_deletion;
        match (open, usable) {
            (None, false) => open = Some((event.at_ms, event.action)),
            (Some((start_ms, action)), true) => {
                windows.push(revocation(start_ms, event.at_ms, action, unreachable));
                open = None;
            }
            _ => {}
        }
    }
    if let Some((start_ms, action)) = open {
        windows.push(revocation(start_ms, end_ms, action, unreachable));
    }
    windows.extend(outages.iter().map(|&(start_ms, end)| KeyWindow {
        start_ms,
        end_ms: end,
        bound_ms: KEY_SERVICE_OUTAGE_BOUND.as_millis() as u64,
        why: format!(
            "the key service went down at {:.3}s (the bound is {} s)",
            start_ms as f64 / 1000.0,
            KEY_SERVICE_OUTAGE_BOUND.as_secs()
        ),
    }));
    windows
}

fn revocation(start_ms: u64, end_ms: u64, action: KeyAction, unreachable: &[(u64, u64)]) -> KeyWindow {
    let seen_by_ms = start_ms + KEY_REVOCATION_BOUND.as_millis() as u64;
    let cut = unreachable.iter().any(|&(from, to)| from < seen_by_ms && to > start_ms);
    let (bound, case) = if cut {
        (KEY_REVOCATION_BOUND_UNREACHABLE, ", the key service unreachable from a zone")
    } else {
        (KEY_REVOCATION_BOUND, "")
    };
    KeyWindow {
        start_ms,
        end_ms,
        bound_ms: bound.as_millis() as u64,
        why: format!(
            "the customer's `{}` at {:.3}s (the bound is {} s{case})",
            action.name(),
            start_ms as f64 / 1000.0,
            bound.as_secs()
        ),
    }
}

/// What was served past a window's bound: (ms, what), and how many clients were refused with
/// a storage error inside the windows (the service saying no, as it must).
/// `send_attempt_max`: a produce attempt is answered (or abandoned) within this of being sent.
pub fn served_past_bound(
    history: &History,
    windows: &[KeyWindow],
    send_attempt_max: Duration,
) -> (Vec<(u64, String)>, u64) {
    let mut served = Vec::new();
    let mut refusals = 0;
    for op in &history.ops {
        let inside = |at: u64| windows.iter().find(|w| at > w.start_ms && at < w.end_ms);
        match &op.kind {
            OpKind::Poll { outcome: PollOutcome::Ok { records }, .. } if !records.is_empty() => {
                if let Some(window) = inside(op.start_ms).filter(|w| op.start_ms > w.start_ms + w.bound_ms) {
                    let (partition, offset, _) = &records[0];
                    served.push((
                        op.start_ms,
                        format!(
                            "a poll sent at {:.3}s returned {} records ({partition} from offset {offset}), {:.1} s after {}",
                            op.start_ms as f64 / 1000.0,
                            records.len(),
                            (op.start_ms - window.start_ms) as f64 / 1000.0,
                            window.why
                        ),
                    ));
                }
            }
            OpKind::Send { partition, outcome: SendOutcome::Acked { offset }, .. } => {
                let sent_no_earlier = op.end_ms.saturating_sub(send_attempt_max.as_millis() as u64);
                let late = |w: &&KeyWindow| sent_no_earlier > w.start_ms + w.bound_ms;
                if let Some(window) = inside(op.end_ms).filter(late) {
                    served.push((
                        op.end_ms,
                        format!(
                            "a produce to {partition} was acknowledged at offset {offset} at {:.3}s, {:.1} s after {}",
                            op.end_ms as f64 / 1000.0,
                            (op.end_ms - window.start_ms) as f64 / 1000.0,
                            window.why
                        ),
                    ));
                }
            }
            OpKind::Poll { outcome: PollOutcome::Failed { error }, .. }
            | OpKind::Send { outcome: SendOutcome::Failed { error } | SendOutcome::Indeterminate { error }, .. }
                if error.contains("KafkaStorageError") && inside(op.start_ms).is_some() =>
            {
                refusals += 1;
            }
            _ => {}
        }
    }
    (served, refusals)
}

/// Segments on the broker disks whose root key the key service can no longer unwrap: one line
/// per (machine, root key), with how many segments it seals.
pub fn unreadable_segments(disks: &[super::at_rest::DiskImage], services: &[&KeyService]) -> (Vec<String>, u64) {
    use broker::encryption::SegmentKeyFile;
    let mut lines = Vec::new();
    let mut count = 0;
    for (machine, files) in disks {
        let mut unreadable: std::collections::BTreeMap<u64, (String, u32, usize, String)> = Default::default();
        for (file, bytes) in files.iter().filter(|(name, _)| name.ends_with(".key")) {
            let Ok(key_file) = SegmentKeyFile::parse(bytes) else { continue };
            let context = broker::kms::keyring::context(key_file.root_id);
            let opens =
                services.iter().any(|s| s.with_store(|store| store.peek_unwrap(&key_file.root, &context).is_some()));
            if !opens {
                count += 1;
                let entry = unreadable
                    .entry(key_file.root_id)
                    .or_insert_with(|| (key_file.root.master_key_id.clone(), key_file.root.version, 0, file.clone()));
                entry.2 += 1;
            }
        }
        for (root, (master, version, segments, first)) in unreadable {
            lines.push(format!(
                "{machine}: root key {root:016x} (wrapped under {master} v{version}) no longer unwraps: {segments} segment(s) unreadable, {first} the first"
            ));
        }
    }
    (lines, count)
}

/// Every segment key file on the disks, as found at `at_ms` (for `stale_versions`: after a
/// rotation the brokers re-wrap old roots, so the files at the end must be under the new version
/// too).
pub fn key_files(disks: &[super::at_rest::DiskImage], at_ms: u64) -> Vec<KeyFileWrite> {
    use broker::encryption::SegmentKeyFile;
    let mut found = Vec::new();
    for (machine, files) in disks {
        for (file, bytes) in files.iter().filter(|(name, _)| name.ends_with(".key")) {
            if let Ok(key_file) = SegmentKeyFile::parse(bytes) {
                found.push(KeyFileWrite {
                    at_ms,
                    machine: machine.clone(),
                    file: format!("{file} (at the end)"),
                    master_key_id: key_file.root.master_key_id,
                    version: key_file.root.version,
                });
            }
        }
    }
    found
}

/// Segments started (or, at the end, lying) more than `ROTATION_BOUND` after a rotation of `master_key` under an older
/// version, outside the stretches in which the key service could not be reached (`dark`).
pub fn stale_versions(
    writes: &[KeyFileWrite],
    events: &[KeyEvent],
    master_key: &str,
    dark: &[(u64, u64)],
) -> Vec<(u64, String)> {
    let bound = ROTATION_BOUND.as_millis() as u64;
    let rotations: Vec<(u64, u32)> = events
        .iter()
        .filter(|e| e.action == KeyAction::Rotate)
        .filter_map(|e| Some((e.at_ms, *e.outcome.as_ref().ok()?)))
        .collect();
    let mut stale = Vec::new();
    for write in writes.iter().filter(|w| w.master_key_id == master_key) {
        let at_ms = write.at_ms;
        // The newest version a segment started now must have: the last rotation a bound ago.
        let Some(&(rotated_ms, version)) = rotations.iter().rev().find(|(r, _)| r + bound < at_ms) else { continue };
        // Since when every broker could have seen it: the rotation, or the end of the last
        // stretch without the key service that began before this write.
        let seen_from = dark
            .iter()
            .filter(|&&(start, end)| start < at_ms && end > rotated_ms)
            .map(|&(_, end)| end)
            .fold(rotated_ms, u64::max);
        if write.version < version && at_ms > seen_from + bound {
            stale.push((
                at_ms,
                format!(
                    "{}: {} was under {master_key} v{} at {:.3}s, {:.1} s after the rotation to v{version}",
                    write.machine,
                    write.file,
                    write.version,
                    at_ms as f64 / 1000.0,
                    (at_ms - rotated_ms) as f64 / 1000.0
                ),
            ));
        }
    }
    stale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, TopicPartition, WriteValue};

    fn event(at_ms: u64, action: KeyAction) -> KeyEvent {
        KeyEvent { at_ms, action, outcome: Ok(1) }
    }

    #[test]
    fn a_window_opens_when_the_key_becomes_unusable_and_closes_when_it_is_usable_again() {
        let events = [
            event(10_000, KeyAction::Disable),
            event(20_000, KeyAction::RevokeGrant),
            event(30_000, KeyAction::Enable),
            event(40_000, KeyAction::Grant),
            event(50_000, KeyAction::ScheduleDeletion),
            event(60_000, KeyAction::CancelDeletion),
        ];
        let windows = windows(&events, &[(70_000, 80_000)], &[], 100_000);
        let spans: Vec<(u64, u64, u64)> = windows.iter().map(|w| (w.start_ms, w.end_ms, w.bound_ms)).collect();
        assert_eq!(spans, vec![(10_000, 40_000, 30_000), (50_000, 100_000, 30_000), (70_000, 80_000, 60_000)]);
    }

    #[test]
    fn a_revocation_the_brokers_cannot_learn_of_is_bound_by_the_lease() {
        let events = [event(10_000, KeyAction::Disable), event(90_000, KeyAction::Enable)];
        let bound = |unreachable: &[(u64, u64)]| windows(&events, &[], unreachable, 100_000)[0].bound_ms;
        assert_eq!(bound(&[]), 30_000);
        assert_eq!(bound(&[(5_000, 60_000)]), 60_000, "cut off before the revocation");
        assert_eq!(bound(&[(25_000, 60_000)]), 60_000, "cut off before the next renewal could see it");
        assert_eq!(bound(&[(40_000, 60_000)]), 30_000, "cut off only after the bound");
        assert_eq!(bound(&[(1_000, 9_000)]), 30_000, "reachable again before the revocation");
        assert!(windows(&events, &[], &[(5_000, 60_000)], 100_000)[0].why.contains("unreachable"));
    }

    #[test]
    fn only_what_was_certainly_served_past_the_bound_counts() {
        let value: WriteValue = 7;
        let tp = TopicPartition::new("orders", 0);
        let poll = |start_ms: u64, records: usize| Op {
            process: 1,
            start_ms,
            end_ms: start_ms + 5,
            kind: OpKind::Poll {
                group: "g".into(),
                outcome: PollOutcome::Ok { records: vec![(tp.clone(), 0, value); records] },
            },
        };
        let history = History {
            ops: vec![
                poll(35_000, 3), // within the bound
                poll(45_000, 0), // nothing returned
                poll(45_000, 2), // served past the bound
                poll(75_000, 1), // after the window
                Op {
                    process: 2,
                    start_ms: 1_000,
                    end_ms: 50_000, // its last attempt may have been sent at 37 s: not certain
                    kind: OpKind::Send { partition: tp.clone(), value, outcome: SendOutcome::Acked { offset: 4 } },
                },
                Op {
                    process: 2,
                    start_ms: 40_000,
                    end_ms: 41_000,
                    kind: OpKind::Poll {
                        group: "g".into(),
                        outcome: PollOutcome::Failed { error: "KafkaStorageError".into() },
                    },
                },
            ],
        };
        let windows =
            windows(&[event(10_000, KeyAction::Disable), event(70_000, KeyAction::Enable)], &[], &[], 100_000);
        let (served, refusals) = served_past_bound(&history, &windows, Duration::from_secs(13));
        assert_eq!(served.len(), 1, "{served:?}");
        assert!(served[0].1.contains("a poll sent at 45.000s returned 2 records"), "{}", served[0].1);
        assert_eq!(refusals, 1);
    }

    #[test]
    fn a_segment_begun_well_after_a_rotation_under_the_old_version_is_stale_unless_the_key_service_was_dark() {
        let write = |at_ms: u64, version: u32| KeyFileWrite {
            at_ms,
            machine: "broker-1".into(),
            file: format!("orders-0/{at_ms}.key"),
            master_key_id: "k".into(),
            version,
        };
        let rotated = [KeyEvent { at_ms: 10_000, action: KeyAction::Rotate, outcome: Ok(2) }];
        let writes = [write(20_000, 1), write(50_000, 1), write(60_000, 2), write(70_000, 1)];
        let stale = stale_versions(&writes, &rotated, "k", &[]);
        let at: Vec<u64> = stale.iter().map(|(at, _)| *at).collect();
        assert_eq!(at, vec![50_000, 70_000], "{stale:?}");
        assert!(stale[0].1.contains("under k v1 at 50.000s, 40.0 s after the rotation to v2"), "{}", stale[0].1);
        // The key service down from 5 s to 35 s: the rotation could not be seen until then.
        let dark = stale_versions(&writes, &rotated, "k", &[(5_000, 35_000)]);
        assert_eq!(dark.iter().map(|(at, _)| *at).collect::<Vec<_>>(), vec![70_000], "{dark:?}");
        assert!(stale_versions(&writes, &rotated, "other", &[]).is_empty());
    }
}
