//! Capsules a fuzz target (`sim/fuzz`, `capsule_json`) found a bug with, in
//! `tests/hostile/capsule_json/`: each reads, writes back unchanged and reads again equal.

#[test]
fn capsule_findings_read_back_unchanged() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/capsule_json");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let capsule = sim::capsule::Capsule::from_json(&text).unwrap();
        let again = sim::capsule::Capsule::from_json(&capsule.to_json()).unwrap();
        // Float amounts are compared bit for bit: a replay must apply the very same fault.
        assert_eq!(again, capsule, "{}", path.display());
        checked += 1;
    }
    assert!(checked > 0);
}
