//! Produce payloads appended in order to one partition log as its leader does, then read back
//! and recovered. The input is split into payloads at a four-byte marker so that the corpus
//! can hold real batches as they are. When the first byte is odd, each payload's CRC-32C is
//! recomputed before it is appended: a fuzzer does not find checksums by mutation, and without
//! this it would never get past the CRC check to the counts, producer ids and sequences.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    const SEPARATOR: &[u8] = b"\xffNXT";
    let Some((&mode, mut rest)) = data.split_first() else { return };
    let mut payloads = Vec::new();
    while let Some(at) = rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        payloads.push(rest[..at].to_vec());
        rest = &rest[at + SEPARATOR.len()..];
    }
    payloads.push(rest.to_vec());
    if mode & 1 == 1 {
        payloads.iter_mut().for_each(|payload| fix_crc(payload));
    }
    let payloads: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    broker::fuzzing::record_batches(&payloads);
});

/// Rewrites the CRC of every batch header in `payload` (v2: bytes 17..21 cover 21..end).
fn fix_crc(payload: &mut [u8]) {
    let mut at = 0;
    while payload.len() >= at + 61 {
        let length = i32::from_be_bytes(payload[at + 8..at + 12].try_into().unwrap());
        let Some(end) = usize::try_from(length).ok().map(|length| at + 12 + length) else { return };
        if length < 49 || end > payload.len() {
            return;
        }
        let crc = crc32c::crc32c(&payload[at + 21..end]);
        payload[at + 17..at + 21].copy_from_slice(&crc.to_be_bytes());
        at = end;
    }
}
