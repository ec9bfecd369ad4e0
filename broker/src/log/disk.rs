//! The `Disk` abstraction: a page cache in front of durable storage.
//!
//! Writes land in the page cache and survive a process kill; only `sync` makes them survive a
//! power loss. Real mode maps this onto files and `fsync`; `MemoryDisk` models it in memory so
//! that a simulated power loss can drop exactly what was never synced.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Durable storage for one node. File names are relative, `/`-separated.
pub trait Disk: Send + Sync + 'static {
    /// Appends to the page cache (creating the file).
    fn append(&self, file: &str, bytes: &[u8]) -> io::Result<()>;
    /// Makes everything written to `file` so far durable.
    fn sync(&self, file: &str) -> io::Result<()>;
    /// The file as the page cache sees it; `None` if it does not exist.
    fn read(&self, file: &str) -> io::Result<Option<Vec<u8>>>;
    /// `length` bytes at `position` (the page cache's view).
    fn read_at(&self, file: &str, position: u64, length: usize) -> io::Result<Vec<u8>>;
    /// Cuts the file to `length` bytes (in the page cache until synced).
    fn truncate(&self, file: &str, length: u64) -> io::Result<()>;
    /// Replaces the whole content and syncs it (write-temp-then-rename in real mode).
    fn replace_durably(&self, file: &str, bytes: &[u8]) -> io::Result<()>;
    /// Removes every file whose name starts with `prefix` (durably).
    fn remove_prefix(&self, prefix: &str) -> io::Result<()>;
    /// File names starting with `prefix`, sorted.
    fn list(&self, prefix: &str) -> io::Result<Vec<String>>;
    /// How long a group commit's sync takes beyond the call itself: a simulated disk's fsync
    /// latency (a real one spends it inside `sync`).
    /// (No default, so that a wrapping disk cannot hide it.)
    fn sync_latency(&self) -> std::time::Duration;
}

/// Real mode: one directory, ordinary files, `fsync` for `sync`.
pub(crate) struct FileDisk {
    root: PathBuf,
    // Open append handles, so that a hot partition does not reopen its segment per write.
    handles: Mutex<BTreeMap<String, Arc<std::fs::File>>>,
}

impl FileDisk {
    pub(crate) fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(Self { root, handles: Mutex::new(BTreeMap::new()) })
    }

    fn path(&self, file: &str) -> PathBuf {
        self.root.join(file)
    }

    /// The file's open handle. The map's lock is held only to look the handle up, never across
    /// the I/O: an fsync takes milliseconds, and holding it then stalled every other partition's
    /// appends and reads on the node (and the runtime thread doing them) behind that fsync.
    fn handle(&self, file: &str) -> io::Result<Arc<std::fs::File>> {
        let mut handles = self.handles.lock().unwrap();
        if let Some(handle) = handles.get(file) {
            return Ok(handle.clone());
        }
        let path = self.path(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let handle = Arc::new(std::fs::OpenOptions::new().create(true).append(true).read(true).open(path)?);
        handles.insert(file.to_string(), handle.clone());
        Ok(handle)
    }
}

impl Disk for FileDisk {
    fn sync_latency(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    fn append(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        (&*self.handle(file)?).write_all(bytes)
    }

    fn sync(&self, file: &str) -> io::Result<()> {
        self.handle(file)?.sync_data()
    }

    fn read(&self, file: &str) -> io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(file)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn read_at(&self, file: &str, position: u64, length: usize) -> io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut buffer = vec![0u8; length];
        self.handle(file)?.read_exact_at(&mut buffer, position)?;
        Ok(buffer)
    }

    fn truncate(&self, file: &str, length: u64) -> io::Result<()> {
        self.handle(file)?.set_len(length)
    }

    fn replace_durably(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let path = self.path(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let temporary = path.with_extension("tmp");
        let mut handle = std::fs::File::create(&temporary)?;
        handle.write_all(bytes)?;
        handle.sync_all()?;
        std::fs::rename(&temporary, &path)?;
        self.handles.lock().unwrap().remove(file);
        Ok(())
    }

    fn remove_prefix(&self, prefix: &str) -> io::Result<()> {
        let mut directories = std::collections::BTreeSet::new();
        for name in self.list(prefix)? {
            self.handles.lock().unwrap().remove(&name);
            let path = self.path(&name);
            std::fs::remove_file(&path)?;
            directories.extend(path.parent().map(PathBuf::from));
        }
        // An unlink is durable only once its directory is synced: a removed key file must not
        // come back after a power loss (C13). A directory left empty goes too.
        for directory in directories.into_iter().rev() {
            std::fs::File::open(&directory)?.sync_all()?;
            if directory != self.root && std::fs::remove_dir(&directory).is_ok() {
                if let Some(parent) = directory.parent() {
                    std::fs::File::open(parent)?.sync_all()?;
                }
            }
        }
        Ok(())
    }

    fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(directory) = stack.pop() {
            for entry in std::fs::read_dir(&directory)? {
                let path = entry?.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(relative) = path.strip_prefix(&self.root) {
                    let name = relative.to_string_lossy().replace('\\', "/");
                    if name.starts_with(prefix) && !name.ends_with(".tmp") {
                        names.push(name);
                    }
                }
            }
        }
        names.sort();
        Ok(names)
    }
}

#[derive(Clone, Default)]
struct MemoryFile {
    /// What a reader sees: the page cache.
    cached: Vec<u8>,
    /// What survives a power loss.
    durable: Vec<u8>,
    /// The cache was cut below what is durable since the last sync (so a sync must copy all,
    /// not just append the new tail: syncing by whole copies was quadratic).
    rewritten: bool,
}

/// An in-memory disk with page-cache semantics. It outlives the node process that uses it, so a
/// killed node restarts on the same disk; `power_loss` reverts every file to its last sync.
#[derive(Clone, Default)]
pub struct MemoryDisk {
    files: Arc<Mutex<BTreeMap<String, MemoryFile>>>,
    /// The fsync latencies of the `slow-disk` faults now active (the worst applies).
    slow_syncs: Arc<Mutex<Vec<std::time::Duration>>>,
}

impl MemoryDisk {
    /// A 64 KiB append's `fdatasync` took 2.2 ms on the CI machines' disks. A sync that took no
    /// simulated time could never be cut short by a power loss, so acknowledging before it
    /// (planted bug `ack-before-sync`) would be a bug no seed can show.
    pub const NORMAL_SYNC_LATENCY: std::time::Duration = std::time::Duration::from_micros(2_200);

    pub fn new() -> Self {
        Self::default()
    }

    /// A disk under write-back pressure: group-commit syncs take `latency` until `speed_up`.
    pub fn slow_down(&self, latency: std::time::Duration) {
        self.slow_syncs.lock().unwrap().push(latency);
    }

    /// Ends one `slow_down` of `latency` (overlapping ones are counted).
    pub fn speed_up(&self, latency: std::time::Duration) {
        let mut slow = self.slow_syncs.lock().unwrap();
        if let Some(index) = slow.iter().position(|l| *l == latency) {
            slow.swap_remove(index);
        }
    }

    /// Power loss: the page cache is gone, only synced bytes remain.
    pub fn power_loss(&self) {
        let mut files = self.files.lock().unwrap();
        files.retain(|_, file| !file.durable.is_empty());
        for file in files.values_mut() {
            file.cached = file.durable.clone();
            file.rewritten = false;
        }
    }

    /// The disk is destroyed (zone loss).
    pub fn destroy(&self) {
        self.files.lock().unwrap().clear();
    }
}

impl Disk for MemoryDisk {
    fn append(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        self.files.lock().unwrap().entry(file.to_string()).or_default().cached.extend_from_slice(bytes);
        Ok(())
    }

    fn sync(&self, file: &str) -> io::Result<()> {
        if let Some(entry) = self.files.lock().unwrap().get_mut(file) {
            if entry.rewritten || entry.cached.len() < entry.durable.len() {
                entry.durable.clone_from(&entry.cached);
                entry.rewritten = false;
            } else {
                let synced = entry.durable.len();
                entry.durable.extend_from_slice(&entry.cached[synced..]);
            }
        }
        Ok(())
    }

    fn sync_latency(&self) -> std::time::Duration {
        self.slow_syncs.lock().unwrap().iter().copied().fold(Self::NORMAL_SYNC_LATENCY, std::time::Duration::max)
    }

    fn read(&self, file: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.files.lock().unwrap().get(file).map(|entry| entry.cached.clone()))
    }

    fn read_at(&self, file: &str, position: u64, length: usize) -> io::Result<Vec<u8>> {
        let files = self.files.lock().unwrap();
        let cached = &files.get(file).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?.cached;
        let start = position as usize;
        cached
            .get(start..start + length)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))
    }

    fn truncate(&self, file: &str, length: u64) -> io::Result<()> {
        let mut files = self.files.lock().unwrap();
        let entry = files.entry(file.to_string()).or_default();
        entry.cached.truncate(length as usize);
        if entry.cached.len() < entry.durable.len() {
            entry.rewritten = true;
        }
        Ok(())
    }

    fn replace_durably(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        let mut files = self.files.lock().unwrap();
        let entry = files.entry(file.to_string()).or_default();
        entry.cached = bytes.to_vec();
        entry.durable = bytes.to_vec();
        entry.rewritten = false;
        Ok(())
    }

    fn remove_prefix(&self, prefix: &str) -> io::Result<()> {
        self.files.lock().unwrap().retain(|name, _| !name.starts_with(prefix));
        Ok(())
    }

    fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        Ok(self.files.lock().unwrap().keys().filter(|name| name.starts_with(prefix)).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_loss_drops_only_unsynced_bytes() {
        let disk = MemoryDisk::new();
        disk.append("p/0.log", b"synced").unwrap();
        disk.sync("p/0.log").unwrap();
        disk.append("p/0.log", b"+cached").unwrap();
        disk.append("p/1.log", b"never synced").unwrap();
        assert_eq!(disk.read("p/0.log").unwrap().unwrap(), b"synced+cached");
        disk.power_loss();
        assert_eq!(disk.read("p/0.log").unwrap().unwrap(), b"synced");
        assert_eq!(disk.read("p/1.log").unwrap(), None);
    }

    #[test]
    fn a_truncation_then_append_syncs_what_the_cache_holds() {
        let disk = MemoryDisk::new();
        disk.append("f", b"abcdef").unwrap();
        disk.sync("f").unwrap();
        disk.truncate("f", 2).unwrap();
        disk.append("f", b"XYZW").unwrap();
        disk.sync("f").unwrap();
        disk.power_loss();
        assert_eq!(disk.read("f").unwrap().unwrap(), b"abXYZW");
    }

    #[test]
    fn a_synced_truncation_survives_power_loss() {
        let disk = MemoryDisk::new();
        disk.append("f", b"abcdef").unwrap();
        disk.sync("f").unwrap();
        disk.truncate("f", 2).unwrap();
        disk.sync("f").unwrap();
        disk.power_loss();
        assert_eq!(disk.read("f").unwrap().unwrap(), b"ab");
    }

    #[test]
    fn file_disk_round_trips() {
        let root = std::env::temp_dir().join(format!("faultline-disk-{}", std::process::id()));
        let disk = FileDisk::open(&root).unwrap();
        disk.append("t/0.log", b"hello").unwrap();
        disk.sync("t/0.log").unwrap();
        disk.truncate("t/0.log", 4).unwrap();
        assert_eq!(disk.read("t/0.log").unwrap().unwrap(), b"hell");
        disk.replace_durably("t/hw", b"7").unwrap();
        assert_eq!(disk.list("t/").unwrap(), vec!["t/0.log".to_string(), "t/hw".to_string()]);
        disk.remove_prefix("t/").unwrap();
        assert!(disk.list("t/").unwrap().is_empty());
        assert!(!root.join("t").exists(), "an emptied directory is removed");
        std::fs::remove_dir_all(root).ok();
    }
}
