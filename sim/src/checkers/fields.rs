//! Client-side field encryption (C26): the service never holds a protected field in clear.
//! The harness opens every segment the way the service itself can (its keys, through the key
//! service) and searches every file of every service disk and backup for the field's canary,
//! while finding the record canary, which travels in clear in the same values, proves that
//! the search saw the records at all.

use super::at_rest::DiskImage;

/// What the search over the service's opened files found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSearch {
    /// "<machine>: <file>" for every file holding the protected field's canary in clear.
    pub in_clear: Vec<String>,
    /// Segments (`.log`) in which the record canary was found: the positive control.
    pub segments_with_records: u64,
}

/// Searches `opened` (each disk with its segments already opened) for the canaries.
pub fn search(opened: &[DiskImage], field_canary: &[u8], record_canary: &[u8]) -> FieldSearch {
    let field = memchr::memmem::Finder::new(field_canary);
    let record = memchr::memmem::Finder::new(record_canary);
    let mut found = FieldSearch::default();
    for (machine, files) in opened {
        for (file, bytes) in files {
            if field.find(bytes).is_some() {
                found.in_clear.push(format!("{machine}: {file}"));
            }
            if file.ends_with(".log") && record.find(bytes).is_some() {
                found.segments_with_records += 1;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_canary_anywhere_is_found_and_record_canaries_count_segments() {
        let disks: Vec<DiskImage> = vec![(
            "broker-1".into(),
            vec![
                ("t-0/0.log".into(), b"..RECORD..sealed..".to_vec()),
                ("t-0/9.log".into(), b"..RECORD..FIELD..".to_vec()),
                ("backup.json".into(), b"FIELD".to_vec()),
                ("t-0/high-watermark".into(), b"RECORD".to_vec()),
            ],
        )];
        let found = search(&disks, b"FIELD", b"RECORD");
        assert_eq!(found.in_clear, ["broker-1: t-0/9.log", "broker-1: backup.json"]);
        assert_eq!(found.segments_with_records, 2);
        let clean = search(&disks[..0], b"FIELD", b"RECORD");
        assert_eq!(clean, FieldSearch::default());
    }
}
