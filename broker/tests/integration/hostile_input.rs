//! Every input a fuzz target (`sim/fuzz`) found a bug with, replayed through the same entry
//! point: `tests/hostile/<target>/<what it is>`. A new finding gets its minimized input here.

use std::path::Path;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile").join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap())
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} holds no inputs", dir.display());
    inputs
}

#[test]
fn kafka_request_findings_decode_without_aborting() {
    for (name, frame) in inputs("kafka_request") {
        eprintln!("{name}");
        broker::fuzzing::kafka_request(&frame);
    }
}

#[test]
fn record_batch_findings_keep_the_log_consistent() {
    for (name, payload) in inputs("record_batches") {
        eprintln!("{name}");
        broker::fuzzing::record_batches(&[&payload]);
    }
}

/// The connection harness's own checks (answers only after SASL, correlation ids, responses
/// that decode) hold for every seed session: each API alone before and after authenticating,
/// and one session through all of them.
#[test]
fn seed_sessions_pass_the_connection_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sim/fuzz/seeds/kafka_connection");
    let mut sessions = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let input = std::fs::read(&path).unwrap();
        let steps = broker::fuzzing::steps(&input);
        let answered = broker::fuzzing::kafka_connection(&steps);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let requests = steps.iter().filter(|step| matches!(step, broker::fuzzing::Step::Request(_))).count();
        eprintln!("{name}: {answered} of {requests} requests answered");
        if name == "session" {
            // Every API after authentication: all answered (Fetch has max_wait_ms 0).
            assert_eq!(answered, requests, "the seed session");
        }
        sessions += 1;
    }
    assert!(sessions >= 40, "{sessions} seed sessions in {}", dir.display());
}

/// ApiVersions v0 padded to `bytes` (the broker ignores bytes after a request's body).
fn padded_api_versions(bytes: usize) -> Vec<u8> {
    let mut frame = vec![0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff];
    frame.resize(bytes, 0);
    frame
}

/// Bound: before authentication a frame is at most 512 KiB (`sasl.server.max.receive.size`);
/// after it, 100 MiB (`socket.request.max.bytes`). A larger one closes the connection unread.
#[test]
fn frames_before_authentication_are_bounded_by_sasl_server_max_receive_size() {
    use broker::fuzzing::{kafka_connection, Step};
    let small = padded_api_versions(500 * 1024);
    let large = padded_api_versions(600 * 1024);
    assert_eq!(kafka_connection(&[Step::Request(&small)]), 1, "500 KiB before authentication is read");
    assert_eq!(kafka_connection(&[Step::Request(&large), Step::Request(&small)]), 0, "600 KiB closes the connection");
    assert_eq!(
        kafka_connection(&[Step::Authenticate, Step::Request(&large)]),
        1,
        "600 KiB after authentication is read"
    );
}
