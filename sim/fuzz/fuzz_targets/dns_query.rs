//! A datagram to the DNS service from a source address (the first four bytes).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some((source, query)) = data.split_first_chunk::<4>() {
        broker::fuzzing::dns_query(*source, query);
    }
});
