//! One encrypted segment file and its `.key` file (C08): frames sealed under a key derived from
//! a root key the KMS wrapped. A segment is appended to only by the process that created it
//! (recovery and truncation roll a new one), so its frame counter never repeats.

use super::disk::Disk;
use super::error::LogError;
use crate::encryption::{Frame, KeySource, SegmentKey, SegmentKeyFile, WrappedKey};

pub(crate) struct Segment {
    /// The first offset (partition logs) or sequence number (the metadata log) it holds.
    pub(crate) base: i64,
    pub(crate) file: String,
    key_file: SegmentKeyFile,
    /// Derived from the root on first use; used only after the root's lease is checked.
    key: Option<SegmentKey>,
    /// Bytes in the file.
    pub(crate) length: u64,
    /// The counter of the next frame (frames written so far).
    next_counter: u64,
    /// When it was begun (wall clock, from its key file); `None` for a segment written before
    /// key files carried it.
    pub(crate) created_ms: Option<u64>,
    /// Only a segment this process created may take more frames.
    pub(crate) writable: bool,
}

/// A frame read back at recovery.
pub(crate) struct OpenedFrame {
    pub(crate) position: u64,
    /// Bytes the frame takes on disk.
    pub(crate) length: usize,
    pub(crate) plaintext: Vec<u8>,
}

pub(crate) fn log_file(directory: &str, base: i64) -> String {
    format!("{directory}/{base:020}.log")
}

pub(crate) fn key_file(log_file: &str) -> String {
    format!("{}.key", log_file.strip_suffix(".log").unwrap_or(log_file))
}

impl Segment {
    /// A new segment at `base`, sealed under the current root for `scope` (a topic); its key
    /// file is durable before any frame is written.
    pub(crate) fn create(
        disk: &dyn Disk,
        keys: &dyn KeySource,
        scope: &str,
        directory: &str,
        base: i64,
        created_ms: u64,
    ) -> Result<Segment, LogError> {
        let (root, wrapped) = keys.current_root(scope)?;
        let key_file = SegmentKeyFile {
            root_id: root.id,
            root: wrapped,
            salt: keys.salt().to_vec(),
            created_ms: Some(created_ms),
        };
        let file = log_file(directory, base);
        disk.replace_durably(&self::key_file(&file), &key_file.to_bytes())?;
        let key = SegmentKey::derive(&root, &key_file.salt, &file);
        Ok(Segment {
            base,
            file,
            key_file,
            key: Some(key),
            length: 0,
            next_counter: 0,
            created_ms: Some(created_ms),
            writable: true,
        })
    }

    /// Its root key now wrapped as `wrapped` (the same root re-wrapped under a newer version
    /// of its master key): the key file is replaced durably; the frames are untouched.
    pub(crate) fn rewrap(&mut self, disk: &dyn Disk, wrapped: &WrappedKey) -> Result<(), LogError> {
        let mut key_file = self.key_file.clone();
        key_file.root = wrapped.clone();
        disk.replace_durably(&self::key_file(&self.file), &key_file.to_bytes())?;
        self.key_file = key_file;
        Ok(())
    }

    /// A segment found on disk, with its bytes; read-only until the bug `nonce-reuse` says
    /// otherwise.
    pub(crate) fn load(disk: &dyn Disk, file: &str, base: i64) -> Result<(Segment, Vec<u8>), LogError> {
        let key_bytes = disk.read(&key_file(file))?.ok_or_else(|| LogError::MissingKeyFile(file.to_string()))?;
        let key_file = SegmentKeyFile::parse(&key_bytes)?;
        let created_ms = key_file.created_ms;
        let bytes = disk.read(file)?.unwrap_or_default();
        let segment = Segment {
            base,
            file: file.to_string(),
            key_file,
            key: None,
            length: bytes.len() as u64,
            next_counter: 0,
            created_ms,
            writable: false,
        };
        Ok((segment, bytes))
    }

    pub(crate) fn root_id(&self) -> u64 {
        self.key_file.root_id
    }

    /// The segment key, if its root may be used now (checked every time: fail closed).
    fn key(&mut self, keys: &dyn KeySource) -> Result<&mut SegmentKey, LogError> {
        if let Err(error) = keys.check(self.key_file.root_id) {
            self.key = None;
            return Err(error.into());
        }
        if self.key.is_none() {
            let root = keys.root(self.key_file.root_id, &self.key_file.root)?;
            self.key = Some(SegmentKey::derive(&root, &self.key_file.salt, &self.file));
        }
        let key = self.key.as_mut().expect("derived above");
        key.rewind_to(self.next_counter);
        Ok(key)
    }

    /// Seals `plaintext` and appends it (to the page cache); returns where the frame starts and
    /// its length.
    pub(crate) fn append(
        &mut self,
        disk: &dyn Disk,
        keys: &dyn KeySource,
        plaintext: &[u8],
    ) -> Result<(u64, usize), LogError> {
        assert!(self.writable, "{}: appended to a segment this process did not create", self.file);
        let frame = self.key(keys)?.seal(plaintext);
        disk.append(&self.file, &frame)?;
        let position = self.length;
        self.length += frame.len() as u64;
        self.next_counter += 1;
        Ok((position, frame.len()))
    }

    /// Opens the frame at `position`.
    pub(crate) fn read(
        &mut self,
        disk: &dyn Disk,
        keys: &dyn KeySource,
        position: u64,
        length: usize,
    ) -> Result<Vec<u8>, LogError> {
        let bytes = disk.read_at(&self.file, position, length)?;
        let frame = Frame::parse(&bytes)?;
        let file = self.file.clone();
        self.key(keys)?.open(&frame).map_err(|error| LogError::Corrupt { file, position, error })
    }

    /// Opens the frames of a loaded segment's bytes in order, up to the first one that is torn
    /// or does not authenticate; returns them and where that first bad frame starts (the
    /// length if none).
    pub(crate) fn recover(&mut self, keys: &dyn KeySource, bytes: &[u8]) -> Result<(Vec<OpenedFrame>, u64), LogError> {
        let mut frames = Vec::new();
        let mut position = 0usize;
        let key = self.key(keys)?;
        while position < bytes.len() {
            let Ok(frame) = Frame::parse(&bytes[position..]) else { break };
            let Ok(plaintext) = key.open(&frame) else {
                tracing::error!(position, "a frame does not authenticate: corrupt from here, not served");
                break;
            };
            frames.push(OpenedFrame { position: position as u64, length: frame.total_bytes, plaintext });
            position += frame.total_bytes;
        }
        self.next_counter = frames.len() as u64;
        Ok((frames, position as u64))
    }

    /// Cuts the file to `length` bytes holding `frames` frames (durably).
    pub(crate) fn truncate(&mut self, disk: &dyn Disk, length: u64, frames: u64) -> Result<(), LogError> {
        disk.truncate(&self.file, length)?;
        disk.sync(&self.file)?;
        self.length = length;
        self.next_counter = frames;
        Ok(())
    }

    /// Removes the segment and its key file.
    pub(crate) fn remove(&self, disk: &dyn Disk) -> Result<(), LogError> {
        disk.remove_prefix(&self.file)?;
        disk.remove_prefix(&key_file(&self.file))?;
        Ok(())
    }
}

/// The segments under `directory` on disk: (base, log file), oldest first.
pub(crate) fn list(disk: &dyn Disk, directory: &str) -> Result<Vec<(i64, String)>, LogError> {
    let mut segments: Vec<(i64, String)> = disk
        .list(&format!("{directory}/"))?
        .into_iter()
        .filter_map(|file| {
            // A segment is its key file, durable from its creation, with or without frames:
            // an empty last segment marks where a log emptied by retention ends.
            let stem = file.strip_suffix(".log").or_else(|| file.strip_suffix(".key"))?;
            let base = stem.rsplit('/').next()?.parse::<i64>().ok()?;
            Some((base, format!("{stem}.log")))
        })
        .collect();
    segments.sort();
    segments.dedup();
    Ok(segments)
}

/// Every wrapped root on a disk (in its segments' key files), for the keyring to unwrap before
/// the node opens its logs.
pub fn wrapped_roots(disk: &dyn Disk) -> std::io::Result<Vec<(u64, crate::encryption::WrappedKey)>> {
    let mut roots = std::collections::BTreeMap::new();
    for file in disk.list("")?.into_iter().filter(|f| f.ends_with(".key")) {
        if let Some(parsed) = disk.read(&file)?.and_then(|bytes| SegmentKeyFile::parse(&bytes).ok()) {
            roots.insert(parsed.root_id, parsed.root);
        }
    }
    Ok(roots.into_iter().collect())
}
