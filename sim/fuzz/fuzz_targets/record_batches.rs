//! Produce payloads appended in order to one partition log as its leader does, then read back
//! and recovered. The input is split into payloads at a four-byte marker so that the corpus
//! can hold real batches as they are.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    const SEPARATOR: &[u8] = b"\xffNXT";
    let mut payloads = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        payloads.push(&rest[..at]);
        rest = &rest[at + SEPARATOR.len()..];
    }
    payloads.push(rest);
    broker::fuzzing::record_batches(&payloads);
});
