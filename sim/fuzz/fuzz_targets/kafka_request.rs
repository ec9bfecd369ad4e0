//! A request frame as the broker reads it after the size prefix: header and body decoded at
//! the frame's API key and version (the internal controller API's JSON included).
#![no_main]
libfuzzer_sys::fuzz_target!(|frame: &[u8]| broker::fuzzing::kafka_request(frame));
