//! The `Disk` abstraction: a page cache in front of durable storage.
//!
//! Writes land in the page cache and survive a process kill; only `sync` makes them survive a
//! power loss. Real mode maps this onto files and `fsync`; `MemoryDisk` models it in memory so
//! that a simulated power loss can drop exactly what was never synced.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::planted_bugs::{PlantedBug, PlantedBugs};

/// Durable storage for one node. File names are relative, `/`-separated.
pub trait Disk: Send + Sync + 'static {
    /// Appends to the page cache. A file it creates exists durably (empty) when it returns.
    fn append(&self, file: &str, bytes: &[u8]) -> io::Result<()>;
    /// Makes everything written to `file` so far durable.
    fn sync(&self, file: &str) -> io::Result<()>;
    /// The file as the page cache sees it; `None` if it does not exist.
    fn read(&self, file: &str) -> io::Result<Option<Vec<u8>>>;
    /// `length` bytes at `position` (the page cache's view).
    fn read_at(&self, file: &str, position: u64, length: usize) -> io::Result<Vec<u8>>;
    /// Cuts the file to `length` bytes (in the page cache until synced).
    fn truncate(&self, file: &str, length: u64) -> io::Result<()>;
    /// Replaces the whole content durably (write-temp, sync, rename, sync the directory in real
    /// mode).
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

/// Real mode: one directory, ordinary files, `fsync` for `sync`. Every create, rename and delete
/// syncs its directory before it returns: POSIX does not promise that a new or renamed entry
/// survives a power cut otherwise, however well the file itself was synced.
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
        if let Some(handle) = self.handles.lock().unwrap().get(file) {
            return Ok(handle.clone());
        }
        // Opened, or created and its directory synced, with the lock released (two callers that
        // race here open the same file; the first handle stored is the one kept).
        let path = self.path(file);
        let open = |create| std::fs::OpenOptions::new().create(create).append(true).read(true).open(&path);
        let handle = match open(false) {
            Ok(handle) => handle,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let directory = self.create_directories(&path)?;
                let handle = open(true)?;
                sync_directory(&directory)?;
                handle
            }
            Err(error) => return Err(error),
        };
        Ok(self.handles.lock().unwrap().entry(file.to_string()).or_insert_with(|| Arc::new(handle)).clone())
    }

    /// Makes the directories above `path` that are missing, each durable (its parent synced),
    /// and returns the one that holds `path`.
    fn create_directories(&self, path: &Path) -> io::Result<PathBuf> {
        let directory = path.parent().unwrap_or(&self.root).to_path_buf();
        let mut missing = Vec::new();
        let mut next = directory.as_path();
        while !next.exists() {
            missing.push(next.to_path_buf());
            next = next.parent().unwrap_or(&self.root);
        }
        for created in missing.into_iter().rev() {
            std::fs::create_dir(&created).or_else(|error| match error.kind() {
                io::ErrorKind::AlreadyExists => Ok(()),
                _ => Err(error),
            })?;
            sync_directory(created.parent().unwrap_or(&self.root))?;
        }
        Ok(directory)
    }
}

fn sync_directory(directory: &Path) -> io::Result<()> {
    std::fs::File::open(directory)?.sync_all()
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
        let directory = self.create_directories(&path)?;
        let temporary = path.with_extension("tmp");
        let mut handle = std::fs::File::create(&temporary)?;
        handle.write_all(bytes)?;
        handle.sync_all()?;
        std::fs::rename(&temporary, &path)?;
        self.handles.lock().unwrap().remove(file);
        // The rename is durable only once the directory is: without this a power cut can
        // leave the old content (or no file) under the name, though the new bytes were synced.
        sync_directory(&directory)
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
            sync_directory(&directory)?;
            if directory != self.root && std::fs::remove_dir(&directory).is_ok() {
                if let Some(parent) = directory.parent() {
                    sync_directory(parent)?;
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
    /// What a power loss leaves under this name, as POSIX has it: a create or a rename is
    /// durable only once its directory is synced.
    entry: Entry,
}

#[derive(Clone, Default)]
enum Entry {
    /// The name and the file it points to are on disk.
    #[default]
    Durable,
    /// Created or renamed since its directory was last synced: a power loss leaves the file
    /// this name pointed to before (its durable bytes), or nothing.
    Pending { previous: Option<Vec<u8>> },
}

impl Entry {
    /// The entry after this name is pointed at a new file while the directory is not synced.
    fn relinked(self, old_durable: Vec<u8>) -> Entry {
        match self {
            Entry::Durable => Entry::Pending { previous: Some(old_durable) },
            pending @ Entry::Pending { .. } => pending,
        }
    }
}

#[derive(Default)]
struct Namespace {
    files: BTreeMap<String, MemoryFile>,
    /// Directories made since their parent was last synced: a power loss takes them and all
    /// they hold.
    pending_directories: std::collections::BTreeSet<String>,
}

impl Namespace {
    /// Makes every entry in `directory` durable, as `fsync` on the directory does.
    fn sync_directory(&mut self, directory: &str) {
        for (name, file) in self.files.iter_mut() {
            if parent(name) == directory {
                file.entry = Entry::Durable;
            }
        }
        self.pending_directories.retain(|pending| parent(pending) != directory);
    }

    /// The directories of `file` not known to the namespace yet, outermost first.
    fn new_directories(&self, file: &str) -> Vec<String> {
        let mut directories = Vec::new();
        let mut directory = parent(file);
        while !directory.is_empty() && !self.holds_directory(directory) {
            directories.push(directory.to_string());
            directory = parent(directory);
        }
        directories.reverse();
        directories
    }

    fn holds_directory(&self, directory: &str) -> bool {
        let prefix = format!("{directory}/");
        self.pending_directories.contains(directory)
            || self.files.range(prefix.clone()..).next().is_some_and(|(name, _)| name.starts_with(&prefix))
    }
}

/// The directory part of a `/`-separated name (`""` for the disk's root).
fn parent(name: &str) -> &str {
    name.rsplit_once('/').map_or("", |(directory, _)| directory)
}

/// An in-memory disk with page-cache semantics. It outlives the node process that uses it, so a
/// killed node restarts on the same disk; `power_loss` reverts every file to its last sync, and
/// every name to its directory's last sync.
///
/// Like `FileDisk`, every create and rename syncs its directory before it returns (planted bug
/// `rename-without-directory-sync`: neither does, as `FileDisk` did before it was fixed).
#[derive(Clone, Default)]
pub struct MemoryDisk {
    namespace: Arc<Mutex<Namespace>>,
    /// The fsync latencies of the `slow-disk` faults now active (the worst applies).
    slow_syncs: Arc<Mutex<Vec<std::time::Duration>>>,
    bugs: PlantedBugs,
}

impl MemoryDisk {
    /// A 64 KiB append's `fdatasync` took 2.2 ms on the CI machines' disks. A sync that took no
    /// simulated time could never be cut short by a power loss, so acknowledging before it
    /// (planted bug `ack-before-sync`) would be a bug no seed can show.
    pub const NORMAL_SYNC_LATENCY: std::time::Duration = std::time::Duration::from_micros(2_200);

    pub fn new() -> Self {
        Self::default()
    }

    /// A disk whose file operations carry the planted bugs among `bugs`.
    pub fn with_bugs(bugs: PlantedBugs) -> Self {
        MemoryDisk { bugs, ..Self::default() }
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

    /// Power loss: the page cache is gone, only synced bytes remain, under the names whose
    /// directories were synced after they were made.
    pub fn power_loss(&self) {
        let mut namespace = self.namespace.lock().unwrap();
        let lost_directories = std::mem::take(&mut namespace.pending_directories);
        let in_lost_directory =
            |name: &str| lost_directories.iter().any(|directory| name.starts_with(&format!("{directory}/")));
        namespace.files.retain(|name, file| {
            if in_lost_directory(name) {
                return false;
            }
            match std::mem::take(&mut file.entry) {
                Entry::Durable => {}
                Entry::Pending { previous: None } => return false,
                Entry::Pending { previous: Some(bytes) } => file.durable = bytes,
            }
            file.cached = file.durable.clone();
            file.rewritten = false;
            true
        });
    }

    /// The disk is destroyed (zone loss).
    pub fn destroy(&self) {
        let mut namespace = self.namespace.lock().unwrap();
        namespace.files.clear();
        namespace.pending_directories.clear();
    }

    /// The directory syncs of a create or a rename of `file`: done before the call returns,
    /// unless the planted bug skips them.
    fn sync_new_entry(&self, namespace: &mut Namespace, file: &str, new_directories: Vec<String>) {
        if self.bugs.is_on(PlantedBug::RenameWithoutDirectorySync) {
            // BUG (planted): the rename or create is left to the file system's whim, as if
            // `fsync` of the file made its name durable too (POSIX does not promise it).
            namespace.pending_directories.extend(new_directories);
            return;
        }
        namespace.sync_directory(parent(file));
    }

    /// The file under `name`, created (with its directories) if it does not exist.
    fn created<'a>(&self, namespace: &'a mut Namespace, name: &str) -> &'a mut MemoryFile {
        if !namespace.files.contains_key(name) {
            let new_directories = namespace.new_directories(name);
            namespace.files.insert(
                name.to_string(),
                MemoryFile { entry: Entry::Pending { previous: None }, ..MemoryFile::default() },
            );
            self.sync_new_entry(namespace, name, new_directories);
        }
        namespace.files.get_mut(name).expect("created above")
    }
}

impl Disk for MemoryDisk {
    fn append(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        let mut namespace = self.namespace.lock().unwrap();
        self.created(&mut namespace, file).cached.extend_from_slice(bytes);
        Ok(())
    }

    fn sync(&self, file: &str) -> io::Result<()> {
        if let Some(entry) = self.namespace.lock().unwrap().files.get_mut(file) {
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
        Ok(self.namespace.lock().unwrap().files.get(file).map(|entry| entry.cached.clone()))
    }

    fn read_at(&self, file: &str, position: u64, length: usize) -> io::Result<Vec<u8>> {
        let namespace = self.namespace.lock().unwrap();
        let cached = &namespace.files.get(file).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?.cached;
        let start = position as usize;
        cached
            .get(start..start + length)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))
    }

    fn truncate(&self, file: &str, length: u64) -> io::Result<()> {
        let mut namespace = self.namespace.lock().unwrap();
        let entry = self.created(&mut namespace, file);
        entry.cached.truncate(length as usize);
        if entry.cached.len() < entry.durable.len() {
            entry.rewritten = true;
        }
        Ok(())
    }

    fn replace_durably(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        let mut namespace = self.namespace.lock().unwrap();
        let new_directories = namespace.new_directories(file);
        // A synced temporary file renamed over the name: the new file's bytes are durable, the
        // name's pointing at it is not until the directory is synced.
        let entry = match namespace.files.remove(file) {
            Some(old) => old.entry.relinked(old.durable),
            None => Entry::Pending { previous: None },
        };
        namespace.files.insert(
            file.to_string(),
            MemoryFile { cached: bytes.to_vec(), durable: bytes.to_vec(), rewritten: false, entry },
        );
        self.sync_new_entry(&mut namespace, file, new_directories);
        Ok(())
    }

    fn remove_prefix(&self, prefix: &str) -> io::Result<()> {
        let mut namespace = self.namespace.lock().unwrap();
        let removed: Vec<String> = namespace.files.keys().filter(|name| name.starts_with(prefix)).cloned().collect();
        let mut directories = std::collections::BTreeSet::new();
        for name in removed {
            namespace.files.remove(&name);
            directories.insert(parent(&name).to_string());
        }
        // `FileDisk` syncs each directory it removed from, and the parent of one it emptied.
        for directory in directories {
            namespace.sync_directory(&directory);
            if !directory.is_empty() && !namespace.holds_directory(&directory) {
                namespace.sync_directory(parent(&directory));
            }
        }
        Ok(())
    }

    fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        Ok(self.namespace.lock().unwrap().files.keys().filter(|name| name.starts_with(prefix)).cloned().collect())
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
        // Its create was durable (the directory synced), its bytes were not.
        assert_eq!(disk.read("p/1.log").unwrap().unwrap(), b"");
    }

    fn without_directory_syncs() -> MemoryDisk {
        MemoryDisk::with_bugs(PlantedBugs::from_names(["rename-without-directory-sync"]).unwrap())
    }

    #[test]
    fn a_rename_is_durable_when_it_returns() {
        let disk = MemoryDisk::new();
        disk.replace_durably("p/hw", b"old").unwrap();
        disk.replace_durably("p/hw", b"new").unwrap();
        disk.power_loss();
        assert_eq!(disk.read("p/hw").unwrap().unwrap(), b"new");
    }

    #[test]
    fn a_rename_without_a_directory_sync_can_be_undone_by_a_power_loss() {
        let disk = without_directory_syncs();
        disk.replace_durably("hw", b"first").unwrap();
        disk.power_loss();
        assert_eq!(disk.read("hw").unwrap(), None, "a new name whose directory was never synced");
        disk.replace_durably("hw", b"old").unwrap();
        disk.remove_prefix("unrelated").unwrap(); // no file: syncs nothing
        disk.append("0.log", b"x").unwrap();
        disk.remove_prefix("0.log").unwrap(); // syncs the root: "old" is durable under its name
        disk.replace_durably("hw", b"new").unwrap();
        disk.replace_durably("hw", b"newer").unwrap();
        assert_eq!(disk.read("hw").unwrap().unwrap(), b"newer");
        disk.power_loss();
        assert_eq!(disk.read("hw").unwrap().unwrap(), b"old", "the last name the directory synced");
    }

    #[test]
    fn a_synced_file_in_an_unsynced_directory_is_lost_with_it() {
        let disk = without_directory_syncs();
        disk.append("topic-0/00.log", b"acknowledged").unwrap();
        disk.sync("topic-0/00.log").unwrap();
        disk.power_loss();
        assert_eq!(disk.list("").unwrap(), Vec::<String>::new());

        let fixed = MemoryDisk::new();
        fixed.append("topic-0/00.log", b"acknowledged").unwrap();
        fixed.sync("topic-0/00.log").unwrap();
        fixed.power_loss();
        assert_eq!(fixed.read("topic-0/00.log").unwrap().unwrap(), b"acknowledged");
    }

    #[test]
    fn a_removal_syncs_its_directory_for_the_names_made_before_it() {
        let disk = without_directory_syncs();
        disk.append("kept", b"k").unwrap();
        disk.sync("kept").unwrap();
        disk.append("gone", b"g").unwrap();
        disk.remove_prefix("gone").unwrap();
        // A new directory whose parent was never synced: the removal in it syncs it, not the
        // entry that names it (the directory is not emptied, so its parent is not synced).
        disk.append("d/kept", b"k").unwrap();
        disk.sync("d/kept").unwrap();
        disk.append("d/gone", b"g").unwrap();
        disk.remove_prefix("d/gone").unwrap();
        disk.power_loss();
        assert_eq!(disk.list("").unwrap(), vec!["kept".to_string()]);
        assert_eq!(disk.read("kept").unwrap().unwrap(), b"k");
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
        disk.replace_durably("a/b/c/meta", b"1").unwrap();
        disk.append("a/b/d/0.log", b"2").unwrap();
        assert_eq!(disk.read("a/b/c/meta").unwrap().unwrap(), b"1");
        assert_eq!(disk.list("a/").unwrap(), vec!["a/b/c/meta".to_string(), "a/b/d/0.log".to_string()]);
        std::fs::remove_dir_all(root).ok();
    }
}
