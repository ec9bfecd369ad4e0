//! A sequence of requests on one connection to one real node (a one-voter cluster on memory
//! storage): size-prefixed frames as a client writes them, a zero size standing for a valid
//! SASL/PLAIN authentication. See `broker::fuzzing::kafka_connection` for what is checked.
#![no_main]
libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    broker::fuzzing::kafka_connection_fuzzed(&broker::fuzzing::steps(input));
});
