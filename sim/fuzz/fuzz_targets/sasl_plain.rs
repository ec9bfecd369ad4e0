//! SaslAuthenticate bytes under PLAIN, parsed and verified as the session does.
#![no_main]
libfuzzer_sys::fuzz_target!(|auth_bytes: &[u8]| broker::fuzzing::sasl_plain(auth_bytes));
