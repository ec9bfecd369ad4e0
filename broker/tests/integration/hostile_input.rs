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

/// A finding of the harness itself: CreateTopics before authentication, closed by the broker
/// later than the harness then waited while a build starved the fuzzer (2026-12-02). The broker
/// was right; the check now waits `PATIENCE` before it calls a connection left open.
#[test]
fn kafka_connection_findings_pass_the_connection_checks() {
    for (name, input) in inputs("kafka_connection") {
        eprintln!("{name}");
        let steps = broker::fuzzing::steps(&input);
        assert!(broker::fuzzing::kafka_connection(&steps).is_empty(), "{name}: nothing is answered before SASL");
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
        let answered = broker::fuzzing::kafka_connection(&steps).len();
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
    assert_eq!(kafka_connection(&[Step::Request(&small)]).len(), 1, "500 KiB before authentication is read");
    assert_eq!(
        kafka_connection(&[Step::Request(&large), Step::Request(&small)]).len(),
        0,
        "600 KiB closes the connection"
    );
    assert_eq!(
        kafka_connection(&[Step::Authenticate, Step::Request(&large)]).len(),
        1,
        "600 KiB after authentication is read"
    );
}

/// A request frame: header v1 (v2 for flexible versions) and `request` at `version`.
fn frame(
    key: kafka_protocol::messages::ApiKey,
    version: i16,
    request: impl kafka_protocol::protocol::Encodable,
) -> Vec<u8> {
    use kafka_protocol::messages::RequestHeader;
    use kafka_protocol::protocol::{Encodable, StrBytes};
    let mut buffer = bytes::BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("bounds")))
        .encode(&mut buffer, key.request_header_version(version))
        .unwrap();
    request.encode(&mut buffer, version).unwrap();
    buffer.to_vec()
}

/// CreateTopics v7 for one topic with `partitions` partitions and one replica.
fn create_topic(name: &'static str, partitions: i32) -> Vec<u8> {
    use kafka_protocol::messages::*;
    let topic = create_topics_request::CreatableTopic::default()
        .with_name(TopicName(kafka_protocol::protocol::StrBytes::from_static_str(name)))
        .with_num_partitions(partitions)
        .with_replication_factor(1);
    frame(ApiKey::CreateTopics, 7, CreateTopicsRequest::default().with_timeout_ms(5_000).with_topics(vec![topic]))
}

/// Bound: one request names at most 10,000 topics, partitions or ACL entries (more than a
/// cluster holds); a Metadata request naming 10,001 topics closes its connection unanswered.
#[test]
fn a_request_naming_more_topics_than_a_cluster_holds_closes_the_connection() {
    use broker::fuzzing::{kafka_connection, Step};
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::StrBytes;
    let metadata = |topics: usize| {
        let named = (0..topics)
            .map(|i| {
                metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from(format!("t{i}")))))
            })
            .collect();
        let request = MetadataRequest::default().with_topics(Some(named)).with_allow_auto_topic_creation(false);
        frame(ApiKey::Metadata, 12, request)
    };
    let (allowed, refused) = (metadata(10_000), metadata(10_001));
    assert_eq!(kafka_connection(&[Step::Authenticate, Step::Request(&allowed)]).len(), 1, "10,000 topics are answered");
    assert_eq!(
        kafka_connection(&[Step::Authenticate, Step::Request(&refused), Step::Request(&allowed)]).len(),
        0,
        "10,001 topics close the connection"
    );
}

/// Bound: a fetch holds at most max_bytes plus one batch however many partitions it names
/// (KIP-74). Four partitions with a 300 KiB batch each, fetched with max_bytes 500 KiB: the
/// first two fill it, the last two return no records (each brought a batch before).
#[test]
fn a_fetch_naming_many_partitions_stays_within_max_bytes() {
    use broker::fuzzing::{kafka_connection, Step};
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Decodable, StrBytes};
    let topic = || TopicName(StrBytes::from_static_str("fetch-bound"));
    let create = create_topic("fetch-bound", 4);
    let batch = broker::log::batch::encode_values(&[bytes::Bytes::from(vec![7u8; 300 * 1024])], -1, -1, -1);
    let produce = frame(
        ApiKey::Produce,
        9,
        ProduceRequest::default().with_acks(-1).with_timeout_ms(5_000).with_topic_data(vec![
            produce_request::TopicProduceData::default().with_name(topic()).with_partition_data(
                (0..4)
                    .map(|partition| {
                        produce_request::PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(batch.clone()))
                    })
                    .collect(),
            ),
        ]),
    );
    let fetch = frame(
        ApiKey::Fetch,
        12,
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_max_bytes(500 * 1024)
            .with_topics(vec![fetch_request::FetchTopic::default().with_topic(topic()).with_partitions(
                (0..4)
                    .map(|partition| {
                        fetch_request::FetchPartition::default()
                            .with_partition(partition)
                            .with_partition_max_bytes(1 << 20)
                    })
                    .collect(),
            )]),
    );
    let answers = kafka_connection(&[Step::Authenticate, Step::Request(&create), Step::Request(&produce)]);
    assert_eq!(answers.len(), 2, "both requests answered");
    let mut produced = answers[1].clone();
    ResponseHeader::decode(&mut produced, 1).unwrap();
    let produced = ProduceResponse::decode(&mut produced, 9).unwrap();
    let codes: Vec<i16> = produced.responses[0].partition_responses.iter().map(|p| p.error_code).collect();
    assert_eq!(codes, [0, 0, 0, 0], "the four batches were appended");
    // Consumers read below the high watermark, which follows the group commit's fsync.
    let mut fetched = FetchResponse::default();
    for _ in 0..100 {
        let answers = kafka_connection(&[Step::Authenticate, Step::Request(&fetch)]);
        let mut answer = answers[0].clone();
        ResponseHeader::decode(&mut answer, 1).unwrap();
        fetched = FetchResponse::decode(&mut answer, 12).unwrap();
        if fetched.responses[0].partitions.iter().all(|p| p.high_watermark == 1) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let sizes: Vec<usize> =
        fetched.responses[0].partitions.iter().map(|p| p.records.as_ref().map_or(0, |r| r.len())).collect();
    assert!(
        sizes[0] > 300 * 1024 && sizes[1] > 300 * 1024,
        "the first two partitions fill the response: {sizes:?} {:?}",
        fetched.responses[0].partitions.iter().map(|p| (p.error_code, p.high_watermark)).collect::<Vec<_>>()
    );
    assert_eq!(&sizes[2..], [0, 0], "past max_bytes a partition returns no records: {sizes:?}");
}

/// Bound: one SASL attempt per connection. A wrong secret is answered with an error and the
/// connection closes (the harness checks the close); the right secret sent next is never read.
#[test]
fn a_failed_sasl_attempt_closes_the_connection() {
    use broker::fuzzing::{kafka_connection, Step};
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::StrBytes;
    let handshake = frame(
        ApiKey::SaslHandshake,
        1,
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
    );
    let attempt = |secret: &str| {
        frame(
            ApiKey::SaslAuthenticate,
            2,
            SaslAuthenticateRequest::default().with_auth_bytes(bytes::Bytes::from(format!("\0fuzz\0{secret}"))),
        )
    };
    let (wrong, right) = (attempt("guess"), attempt("fuzz-secret"));
    let answers = kafka_connection(&[Step::Request(&handshake), Step::Request(&wrong), Step::Request(&right)]);
    assert_eq!(answers.len(), 2, "the handshake and the failed attempt are answered, nothing after");
    let answers = kafka_connection(&[Step::Request(&handshake), Step::Request(&right), Step::Request(&handshake)]);
    assert_eq!(answers.len(), 3, "the right secret authenticates and the connection goes on");
}

/// Bound: a customer API key holds at most `CONNECTIONS_PER_PRINCIPAL_MAX` authenticated
/// connections on a broker; the next is refused at SASL, and a closed one's place is given back.
#[test]
fn connections_per_api_key_are_bounded() {
    use broker::fuzzing::{authenticated_connections_held, kafka_connection, Step};
    use broker::net::connections::CONNECTIONS_PER_PRINCIPAL_MAX;
    assert_eq!(authenticated_connections_held(CONNECTIONS_PER_PRINCIPAL_MAX + 1), CONNECTIONS_PER_PRINCIPAL_MAX);
    // The held connections' tasks end as their streams close: then one more fits.
    let api_versions = padded_api_versions(10);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while kafka_connection(&[Step::Authenticate, Step::Request(&api_versions)]).is_empty() {
        assert!(std::time::Instant::now() < deadline, "closed connections' places were not given back");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Bound: a client address holds at most `CONNECTIONS_PER_IP_MAX` connections
/// (`max.connections.per.ip`); the service's own ranges are not counted.
#[test]
fn connections_per_client_address_are_bounded() {
    use broker::fuzzing::connections_admitted_from;
    use broker::net::connections::CONNECTIONS_PER_IP_MAX;
    let client = "198.51.100.7".parse().unwrap();
    assert_eq!(connections_admitted_from(client, CONNECTIONS_PER_IP_MAX + 5), CONNECTIONS_PER_IP_MAX);
    // All were released when the call returned: the count is per held connection.
    assert_eq!(connections_admitted_from(client, 3), 3);
    let service = "127.0.0.1".parse().unwrap();
    assert_eq!(connections_admitted_from(service, CONNECTIONS_PER_IP_MAX + 5), CONNECTIONS_PER_IP_MAX + 5);
}

/// Bound: consecutive produces on a connection are appended while the earlier ones wait for
/// their acknowledgements, at most `PRODUCES_WAITING_MAX` (64) at once, and answered in order.
/// 70 pipelined produces to one partition and an ApiVersions after them: 71 answers, in request
/// order, each produce one offset after the one before it.
#[test]
fn pipelined_produces_are_appended_and_answered_in_order() {
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Decodable, StrBytes};
    const PRODUCES: i32 = 70;
    let batch = broker::log::batch::encode_values(&[bytes::Bytes::from_static(b"in order")], -1, -1, -1);
    let produce = |correlation_id: i32| {
        let mut produce = frame(
            ApiKey::Produce,
            9,
            ProduceRequest::default().with_acks(-1).with_timeout_ms(5_000).with_topic_data(vec![
                produce_request::TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str("pipelined")))
                    .with_partition_data(vec![produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch.clone()))]),
            ]),
        );
        produce[4..8].copy_from_slice(&correlation_id.to_be_bytes());
        produce
    };
    broker::fuzzing::pipelined(&[&create_topic("pipelined", 1)]);
    let mut frames: Vec<Vec<u8>> = (0..PRODUCES).map(produce).collect();
    let mut api_versions = padded_api_versions(10);
    api_versions[4..8].copy_from_slice(&PRODUCES.to_be_bytes());
    frames.push(api_versions);
    let answers = broker::fuzzing::pipelined(&frames.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let correlation_ids: Vec<i32> = answers.iter().map(|a| i32::from_be_bytes(a[..4].try_into().unwrap())).collect();
    assert_eq!(correlation_ids, (0..=PRODUCES).collect::<Vec<_>>(), "every request answered, in order");
    let base_offsets: Vec<i64> = answers[..PRODUCES as usize]
        .iter()
        .map(|answer| {
            let mut answer = answer.clone();
            ResponseHeader::decode(&mut answer, 1).unwrap();
            let partition = &ProduceResponse::decode(&mut answer, 9).unwrap().responses[0].partition_responses[0];
            assert_eq!(partition.error_code, 0, "acknowledged");
            partition.base_offset
        })
        .collect();
    assert_eq!(base_offsets, (0..i64::from(PRODUCES)).collect::<Vec<_>>(), "appended in request order");
}

/// Bound: one request in flight per connection, produces aside. A long-polling Fetch (300 ms on a partition
/// with nothing new) written together with an ApiVersions: the ApiVersions is answered second,
/// because the broker reads it only after answering the Fetch.
#[test]
fn a_connection_has_one_request_in_flight() {
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::StrBytes;
    let topic = || TopicName(StrBytes::from_static_str("in-flight"));
    let create = create_topic("in-flight", 1);
    let mut fetch = frame(
        ApiKey::Fetch,
        12,
        FetchRequest::default().with_replica_id(BrokerId(-1)).with_max_wait_ms(300).with_min_bytes(1).with_topics(
            vec![fetch_request::FetchTopic::default().with_topic(topic()).with_partitions(vec![
                fetch_request::FetchPartition::default().with_partition(0).with_partition_max_bytes(1 << 20),
            ])],
        ),
    );
    fetch[4..8].copy_from_slice(&2i32.to_be_bytes());
    let mut api_versions = padded_api_versions(10);
    api_versions[4..8].copy_from_slice(&3i32.to_be_bytes());
    broker::fuzzing::pipelined(&[&create]);
    let answers = broker::fuzzing::pipelined(&[&fetch, &api_versions]);
    let correlation_ids: Vec<i32> = answers.iter().map(|a| i32::from_be_bytes(a[..4].try_into().unwrap())).collect();
    assert_eq!(correlation_ids, [2, 3], "answered one at a time, in order");
}
