//! Seed inputs for the fuzz targets: one well-formed request per API the broker serves, at its
//! lowest and highest version, with the fields a real client fills (a topic, a partition, a
//! record batch, a group), encoded by the protocol crate. A fuzzer that starts from these
//! reaches the handlers' decoders at once instead of rediscovering each API's layout.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};

use crate::protocol::versions;

fn topic(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn group() -> GroupId {
    GroupId(StrBytes::from_static_str("g"))
}

/// A request body of `key` as a client fills it.
fn body(key: ApiKey) -> Option<RequestKind> {
    let records = crate::log::batch::encode_values(&[Bytes::from_static(b"hello")], -1, -1, -1);
    Some(match key {
        ApiKey::Produce => {
            RequestKind::Produce(ProduceRequest::default().with_acks(-1).with_timeout_ms(1000).with_topic_data(vec![
                produce_request::TopicProduceData::default().with_name(topic("t")).with_partition_data(vec![
                    produce_request::PartitionProduceData::default().with_index(0).with_records(Some(records)),
                ]),
            ]))
        }
        // max_wait_ms 0: a seed must not long-poll.
        ApiKey::Fetch => RequestKind::Fetch(
            FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(0)
                .with_max_bytes(1 << 20)
                .with_topics(vec![fetch_request::FetchTopic::default().with_topic(topic("t")).with_partitions(vec![
                    fetch_request::FetchPartition::default().with_partition(0).with_partition_max_bytes(1 << 20),
                ])]),
        ),
        ApiKey::ListOffsets => RequestKind::ListOffsets(ListOffsetsRequest::default().with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default().with_name(topic("t")).with_partitions(vec![
                list_offsets_request::ListOffsetsPartition::default().with_partition_index(0).with_timestamp(-1),
            ]),
        ])),
        ApiKey::Metadata => RequestKind::Metadata(
            MetadataRequest::default()
                .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default().with_name(Some(topic("t")))])),
        ),
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(
            OffsetCommitRequest::default().with_group_id(group()).with_generation_id_or_member_epoch(-1).with_topics(
                vec![offset_commit_request::OffsetCommitRequestTopic::default().with_name(topic("t")).with_partitions(
                    vec![offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1)],
                )],
            ),
        ),
        ApiKey::OffsetFetch => {
            RequestKind::OffsetFetch(OffsetFetchRequest::default().with_group_id(group()).with_topics(Some(
                vec![offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(topic("t"))
                .with_partition_indexes(vec![0])],
            )))
        }
        ApiKey::FindCoordinator => {
            RequestKind::FindCoordinator(FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g")))
        }
        ApiKey::JoinGroup => RequestKind::JoinGroup(
            JoinGroupRequest::default()
                .with_group_id(group())
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(10_000)
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default()
                    .with_name(StrBytes::from_static_str("range"))
                    .with_metadata(Bytes::from_static(b"\0\0\0\0\0\x01\0\x01t"))]),
        ),
        ApiKey::Heartbeat => RequestKind::Heartbeat(HeartbeatRequest::default().with_group_id(group())),
        ApiKey::LeaveGroup => RequestKind::LeaveGroup(LeaveGroupRequest::default().with_group_id(group())),
        ApiKey::SyncGroup => RequestKind::SyncGroup(SyncGroupRequest::default().with_group_id(group())),
        ApiKey::SaslHandshake => RequestKind::SaslHandshake(
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        ),
        ApiKey::ApiVersions => RequestKind::ApiVersions(
            ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str("seed"))
                .with_client_software_version(StrBytes::from_static_str("1")),
        ),
        ApiKey::CreateTopics => {
            RequestKind::CreateTopics(CreateTopicsRequest::default().with_timeout_ms(1000).with_topics(
                vec![create_topics_request::CreatableTopic::default()
                .with_name(topic("t"))
                .with_num_partitions(1)
                .with_replication_factor(1)],
            ))
        }
        ApiKey::DeleteTopics => {
            RequestKind::DeleteTopics(DeleteTopicsRequest::default().with_topic_names(vec![topic("gone")]))
        }
        ApiKey::InitProducerId => {
            RequestKind::InitProducerId(InitProducerIdRequest::default().with_producer_id(ProducerId(-1)))
        }
        ApiKey::SaslAuthenticate => RequestKind::SaslAuthenticate(
            SaslAuthenticateRequest::default()
                .with_auth_bytes(Bytes::from(crate::security::sasl::plain_message("fuzz", "fuzz-secret"))),
        ),
        ApiKey::DescribeAcls => RequestKind::DescribeAcls(
            DescribeAclsRequest::default()
                .with_resource_type_filter(2)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1),
        ),
        ApiKey::CreateAcls => RequestKind::CreateAcls(CreateAclsRequest::default().with_creations(vec![
            create_acls_request::AclCreation::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("t"))
                .with_resource_pattern_type(3)
                .with_principal(StrBytes::from_static_str("User:fuzz"))
                .with_host(StrBytes::from_static_str("*"))
                .with_operation(3)
                .with_permission_type(3),
        ])),
        ApiKey::DeleteAcls => RequestKind::DeleteAcls(DeleteAclsRequest::default().with_filters(vec![
            delete_acls_request::DeleteAclsFilter::default()
                .with_resource_type_filter(2)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1),
        ])),
        _ => return None,
    })
}

/// `(name, frame without its size prefix)` for every API the broker serves, at its lowest and
/// highest decodable version (a version that lacks one of the filled fields has no seed).
pub fn requests() -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for (key, min, max) in versions::all() {
        let low = min.max(key.valid_versions().min);
        for version in [low, max] {
            if seeds.iter().any(|(name, _): &(String, Vec<u8>)| *name == format!("{key:?}-v{version}")) {
                continue;
            }
            let Some(request) = body(key) else { continue };
            let mut frame = BytesMut::new();
            let header = RequestHeader::default()
                .with_request_api_key(key as i16)
                .with_request_api_version(version)
                .with_correlation_id(7)
                .with_client_id(Some(StrBytes::from_static_str("seed")));
            if header.encode(&mut frame, key.request_header_version(version)).is_err() {
                continue;
            }
            if request.encode(&mut frame, version).is_err() {
                // A field this version lacks: the defaults alone then.
                continue;
            }
            seeds.push((format!("{key:?}-v{version}"), frame.to_vec()));
        }
    }
    seeds
}

/// Seeds from a request capture (`broker dev --capture-requests DIR`, `net::capture`): every
/// session as a `kafka_connection` input, the first frame of each API and version a client sent
/// as a `kafka_request` input, and each produced record set as a `record_batches` input (mode 0:
/// the client's own CRCs). At most `PER_CLIENT` sessions and record sets per client id, the
/// longest first; identical inputs once. The service's own connections (its replica fetchers,
/// broker-to-broker frames, which name no client) are not a real client's traffic and are left
/// out. Returns `(target, name, input)`.
pub fn from_capture(dir: &std::path::Path) -> std::io::Result<Vec<(&'static str, String, Vec<u8>)>> {
    const PER_CLIENT: usize = 6;
    let mut sessions = Vec::new();
    for entry in walk(dir)? {
        sessions.push(std::fs::read(&entry)?);
    }
    sessions.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut seeds: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut per_client: std::collections::BTreeMap<(&str, String), usize> = Default::default();
    let mut keep = |seeds: &mut Vec<(&'static str, String, Vec<u8>)>, target, client: &str, name: String, input| {
        let count = per_client.entry((target, client.to_string())).or_default();
        if *count < PER_CLIENT && !seeds.iter().any(|(t, _, i)| *t == target && *i == input) {
            *count += 1;
            seeds.push((target, name, input));
        }
    };
    for session in &sessions {
        let steps = super::steps(session);
        let client_id = steps.iter().find_map(|step| match step {
            super::Step::Request(frame) => client_id(frame),
            super::Step::Authenticate => None,
        });
        let Some(client) = client_id.filter(|id| id != crate::client::CLIENT_ID) else { continue };
        let client: String = client.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        for step in &steps {
            let super::Step::Request(frame) = step else { continue };
            let Some(key) = frame.get(..2).and_then(|k| ApiKey::try_from(i16::from_be_bytes([k[0], k[1]])).ok()) else {
                continue;
            };
            let Ok((header, request)) = crate::protocol::decode_request(key, &mut Bytes::copy_from_slice(frame)) else {
                continue;
            };
            let version = header.request_api_version;
            let name = format!("captured-{client}-{key:?}-v{version}");
            if !seeds.iter().any(|(t, n, _)| *t == "kafka_request" && *n == name) {
                seeds.push(("kafka_request", name, frame.to_vec()));
            }
            if let Some(RequestKind::Produce(produce)) = request {
                for records in
                    produce.topic_data.iter().flat_map(|t| &t.partition_data).filter_map(|p| p.records.as_ref())
                {
                    let input = [&[0u8][..], records].concat();
                    keep(&mut seeds, "record_batches", &client, format!("captured-{client}-records"), input);
                }
            }
        }
        if steps.len() >= 2 {
            let name = format!("captured-{client}-session");
            keep(&mut seeds, "kafka_connection", &client, name, session.clone());
        }
    }
    // Names unique within a target: a counter after repeated ones.
    let mut seen: std::collections::BTreeMap<(&str, String), usize> = Default::default();
    for (target, name, _) in &mut seeds {
        let n = seen.entry((*target, name.clone())).or_default();
        *n += 1;
        if *n > 1 {
            name.push_str(&format!("-{n}"));
        }
    }
    Ok(seeds)
}

/// The client id a request frame names, if its header decodes.
fn client_id(frame: &[u8]) -> Option<String> {
    let key = ApiKey::try_from(i16::from_be_bytes([*frame.first()?, *frame.get(1)?])).ok()?;
    let (header, _) = crate::protocol::decode_request(key, &mut Bytes::copy_from_slice(frame)).ok()?;
    header.client_id.map(|id| id.to_string())
}

/// The capture's session files, in name order.
fn walk(dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(walk(&path)?);
        } else if path.extension().is_some_and(|e| e == "session") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
