//! The disk tap (C08): every byte a service machine writes to its disk passes here on its way
//! to the simulated disk. Each write is searched for the run's canary (record data in clear,
//! at any moment, whatever a later crash or truncation erased), and each sealed frame's key
//! and counter are remembered so that a nonce used twice under one key, with different
//! ciphertext, is caught even when the first frame was overwritten.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::io;
use std::sync::{Arc, Mutex};

use broker::encryption::{Frame, SegmentKeyFile, WrappedKey};
use broker::log::{Disk, MemoryDisk};

pub use crate::checkers::keys::KeyFileWrite;
use crate::workload::Canary;

/// What the tap saw, for the checkers.
#[derive(Debug, Default, Clone)]
pub struct TapFindings {
    /// Sealed frames written.
    pub frames_sealed: u64,
    /// Bytes written in all.
    pub bytes_written: u64,
    /// (ms, "machine wrote record data in clear to file"), the first few.
    pub plaintext: Vec<(u64, String)>,
    pub plaintext_count: u64,
    /// (ms, "machine: file: key k sealed two different frames with counter c"), the first few.
    pub nonce_reuses: Vec<(u64, String)>,
    pub nonce_reuse_count: u64,
    /// Every segment key file written: when, where, and the master key version its root is
    /// wrapped under (C09: new segments under the new version after a rotation).
    pub key_files: Vec<KeyFileWrite>,
    /// Every life of every segment of a tracked topic (retention, C13).
    pub segment_lives: Vec<crate::checkers::retention::SegmentLife>,
}

struct TapState {
    /// (what, its bytes) searched for in every write, in clear or encoded.
    canaries: Vec<(String, Vec<u8>)>,
    /// Every form of every canary in one automaton (built once per canary added: building one
    /// per search cost more than the search).
    search: crate::checkers::encodings::Search,
    zero: tokio::time::Instant,
    /// (hash of machine, file, key tag), counter -> hash of the ciphertext.
    frames: BTreeMap<(u64, u64), u64>,
    /// Directory prefixes whose segments' lives are dated (topics with a retention).
    tracked: Vec<String>,
    /// (machine, file) -> index of its current life in `findings.segment_lives`.
    living: BTreeMap<(String, String), usize>,
    findings: TapFindings,
}

/// Shared by every tapped disk of a world.
#[derive(Clone)]
pub struct DiskTap(Arc<Mutex<TapState>>);

const EXAMPLES_MAX: usize = 5;

fn hash_of(parts: impl Hash) -> u64 {
    // FxHash: the same value on every run, and cheap over every frame written.
    let mut hasher = rustc_hash::FxHasher::default();
    parts.hash(&mut hasher);
    hasher.finish()
}

impl DiskTap {
    pub fn new(canary: Canary) -> DiskTap {
        DiskTap(Arc::new(Mutex::new(TapState {
            search: crate::checkers::encodings::Search::new([canary.as_slice()]),
            canaries: vec![("record data (the run's canary)".into(), canary.to_vec())],
            zero: tokio::time::Instant::now(),
            frames: BTreeMap::new(),
            tracked: Vec::new(),
            living: BTreeMap::new(),
            findings: TapFindings::default(),
        })))
    }

    /// Dates every segment under `prefix` (a topic's partition directories) from now on.
    pub fn track_segments(&self, prefix: String) {
        self.0.lock().unwrap().tracked.push(prefix);
    }

    /// The tap's clock now (ms since its zero).
    pub fn now_ms(&self) -> u64 {
        self.0.lock().unwrap().zero.elapsed().as_millis() as u64
    }

    /// Dates a write to a tracked topic's segment (under the caller's lock: one per write).
    fn segment_written(state: &mut TapState, machine: &str, file: &str, at_ms: u64) {
        if !state.tracked.iter().any(|prefix| file.starts_with(prefix.as_str())) {
            return;
        }
        let key = (machine.to_string(), file.to_string());
        match state.living.get(&key).copied() {
            Some(index) => state.findings.segment_lives[index].last_write_ms = at_ms,
            None => {
                let life = crate::checkers::retention::SegmentLife {
                    machine: machine.into(),
                    file: file.into(),
                    last_write_ms: at_ms,
                    removed_ms: None,
                };
                state.findings.segment_lives.push(life);
                let index = state.findings.segment_lives.len() - 1;
                state.living.insert(key, index);
            }
        }
    }

    fn removed(&self, machine: &str, prefix: &str) {
        let mut state = self.0.lock().unwrap();
        if state.tracked.is_empty() {
            return;
        }
        let at_ms = state.zero.elapsed().as_millis() as u64;
        let ended: Vec<(String, String)> =
            state.living.keys().filter(|(m, file)| m == machine && file.starts_with(prefix)).cloned().collect();
        for key in ended {
            let index = state.living.remove(&key).expect("listed");
            state.findings.segment_lives[index].removed_ms = Some(at_ms);
        }
    }

    /// Searches every later write for `bytes` too (a tenant's canary).
    pub fn watch(&self, what: String, bytes: Vec<u8>) {
        let mut state = self.0.lock().unwrap();
        state.canaries.push((what, bytes));
        state.search = crate::checkers::encodings::Search::new(state.canaries.iter().map(|(_, c)| c.as_slice()));
    }

    fn key_file_written(&self, machine: &str, file: &str, root: &WrappedKey) {
        let mut state = self.0.lock().unwrap();
        let at_ms = state.zero.elapsed().as_millis() as u64;
        state.findings.key_files.push(KeyFileWrite {
            at_ms,
            machine: machine.into(),
            file: file.into(),
            master_key_id: root.master_key_id.clone(),
            version: root.version,
        });
    }

    /// What the tap's times count from.
    pub fn zero(&self) -> tokio::time::Instant {
        self.0.lock().unwrap().zero
    }

    pub fn findings(&self) -> TapFindings {
        self.0.lock().unwrap().findings.clone()
    }

    fn observe(&self, machine: &str, file: &str, bytes: &[u8], sealed: bool) {
        let mut state = self.0.lock().unwrap();
        let at_ms = state.zero.elapsed().as_millis() as u64;
        state.findings.bytes_written += bytes.len() as u64;
        if let Some((index, how)) = state.search.first(bytes) {
            let line = format!("{machine} wrote {} {how} to {file}", state.canaries[index].0);
            state.findings.plaintext_count += 1;
            if state.findings.plaintext.len() < EXAMPLES_MAX {
                state.findings.plaintext.push((at_ms, line));
            }
        }
        if !sealed {
            return;
        }
        Self::segment_written(&mut state, machine, file, at_ms);
        // Appends to segments are one frame each.
        let Ok(frame) = Frame::parse(bytes) else { return };
        state.findings.frames_sealed += 1;
        let key = (hash_of((machine, file, frame.key_tag)), frame.counter);
        let ciphertext = hash_of(frame.sealed);
        match state.frames.insert(key, ciphertext) {
            Some(earlier) if earlier != ciphertext => {
                state.findings.nonce_reuse_count += 1;
                if state.findings.nonce_reuses.len() < EXAMPLES_MAX {
                    let line = format!(
                        "{machine}: {file}: segment key {:016x} sealed two different frames with counter {}",
                        frame.key_tag, frame.counter
                    );
                    state.findings.nonce_reuses.push((at_ms, line));
                }
            }
            _ => {}
        }
    }
}

/// A machine's disk seen through the tap.
pub struct TappedDisk {
    pub inner: MemoryDisk,
    machine: String,
    tap: DiskTap,
}

impl TappedDisk {
    pub fn new(inner: MemoryDisk, machine: &str, tap: DiskTap) -> TappedDisk {
        TappedDisk { inner, machine: machine.into(), tap }
    }
}

impl Disk for TappedDisk {
    fn append(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        self.tap.observe(&self.machine, file, bytes, file.ends_with(".log"));
        self.inner.append(file, bytes)
    }

    fn sync(&self, file: &str) -> io::Result<()> {
        self.inner.sync(file)
    }

    fn sync_latency(&self) -> std::time::Duration {
        self.inner.sync_latency()
    }

    fn read(&self, file: &str) -> io::Result<Option<Vec<u8>>> {
        self.inner.read(file)
    }

    fn read_at(&self, file: &str, position: u64, length: usize) -> io::Result<Vec<u8>> {
        self.inner.read_at(file, position, length)
    }

    fn truncate(&self, file: &str, length: u64) -> io::Result<()> {
        self.inner.truncate(file, length)
    }

    fn replace_durably(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        self.tap.observe(&self.machine, file, bytes, false);
        if let Some(key_file) = file.ends_with(".key").then(|| SegmentKeyFile::parse(bytes).ok()).flatten() {
            self.tap.key_file_written(&self.machine, file, &key_file.root);
        }
        self.inner.replace_durably(file, bytes)
    }

    fn remove_prefix(&self, prefix: &str) -> io::Result<()> {
        self.tap.removed(&self.machine, prefix);
        self.inner.remove_prefix(prefix)
    }

    fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        self.inner.list(prefix)
    }
}
