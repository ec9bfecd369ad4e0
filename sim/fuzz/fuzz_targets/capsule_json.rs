//! A capsule, as `faultline replay` reads it: the JSON, then the scenario embedded in it. A
//! capsule that reads must write back to the same capsule.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(capsule) = sim::capsule::Capsule::from_json(text) else { return };
    let again = sim::capsule::Capsule::from_json(&capsule.to_json()).expect("a capsule written reads back");
    assert_eq!(again, capsule, "a capsule written reads back unchanged");
    let _ = capsule.scenario();
});
