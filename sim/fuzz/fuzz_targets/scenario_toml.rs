//! A scenario file: parsed and validated as `faultline run` does before anything runs.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sim::scenario::parse("fuzz.toml", text);
    }
});
