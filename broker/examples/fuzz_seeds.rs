//! Writes the seed corpora of the Kafka targets into `sim/fuzz/seeds/` from
//! `broker::fuzzing::seeds` (one request per API and version, encoded by the protocol crate):
//! `cargo run -p broker --example fuzz_seeds` (an example: the fuzz crate instruments its binaries).
use broker::fuzzing::{seeds, wire, Step};
use broker::log::batch::encode_values;

fn main() -> std::io::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sim/fuzz/seeds");
    let requests = seeds::requests();
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)
    };
    for (name, frame) in &requests {
        write("kafka_request", name, frame)?;
        // Each request alone before authentication, and after it.
        write("kafka_connection", &format!("{name}-unauthenticated"), &wire(&[Step::Request(frame)]))?;
        write("kafka_connection", name, &wire(&[Step::Authenticate, Step::Request(frame)]))?;
    }
    // A client's session: every request in turn after authenticating.
    let mut session = vec![Step::Authenticate];
    session
        .extend(requests.iter().filter(|(name, _)| !name.starts_with("Sasl")).map(|(_, frame)| Step::Request(frame)));
    write("kafka_connection", "session", &wire(&session))?;
    // Produce payloads: plain, idempotent, two batches in one payload, and (after the
    // target's separator) a retry of the same idempotent batch and the next one.
    let value = |v: &'static [u8]| vec![bytes::Bytes::from_static(v)];
    let plain = encode_values(&value(b"hello"), -1, -1, -1);
    let first = encode_values(&value(b"one"), 1000, 0, 0);
    let second = encode_values(&[bytes::Bytes::from_static(b"two"), bytes::Bytes::from_static(b"three")], 1000, 0, 1);
    // The target's first byte: even appends as given, odd rewrites the checksums first.
    write("record_batches", "plain", &[&[0][..], &plain].concat())?;
    write("record_batches", "idempotent", &[&[0][..], &first].concat())?;
    write("record_batches", "two-batches", &[&[0][..], &plain, &first].concat())?;
    write("record_batches", "retry-then-next", &[&[1][..], &first, b"\xffNXT", &first, b"\xffNXT", &second].concat())?;
    println!("{} requests written under {}", requests.len(), root.display());
    Ok(())
}
