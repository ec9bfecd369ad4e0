//! The API versions this broker advertises, chosen so unmodified librdkafka and kafka-python
//! work without special settings (see shared/notes/kafka-protocol.md for why each bound).

use kafka_protocol::messages::ApiKey;

/// (API, min, max) before intersecting with what the `kafka-protocol` crate can decode.
const ADVERTISED: &[(ApiKey, i16, i16)] = &[
    // librdkafka 2.0 stops compressing unless Produce starts at 0; v0-2 are answered with
    // UNSUPPORTED_VERSION by the crate's range check. Topic IDs start at 13: capped below.
    (ApiKey::Produce, 0, 10),
    // Fetch must start at <= 4 for librdkafka to use record batches.
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    // librdkafka needs SaslHandshake from 0.
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::SaslAuthenticate, 0, 2),
    // kafka-python's admin client speaks v0-1; Kafka 3.x clients up to 3.
    (ApiKey::DescribeAcls, 0, 3),
    (ApiKey::CreateAcls, 0, 3),
    (ApiKey::DeleteAcls, 0, 3),
];

/// The advertised range of `key`, if the broker serves it.
pub(crate) fn supported(key: ApiKey) -> Option<(i16, i16)> {
    let &(_, min, max) = ADVERTISED.iter().find(|(k, _, _)| *k == key)?;
    let crate_range = key.valid_versions();
    Some((min, max.min(crate_range.max)))
}

/// Whether a request at this version can be decoded (advertised minimum aside: Produce 0-2
/// is advertised for librdkafka's sake but the crate cannot decode it).
pub(crate) fn decodable(key: ApiKey, version: i16) -> bool {
    let Some((min, max)) = supported(key) else { return false };
    let crate_range = key.valid_versions();
    version >= min.max(crate_range.min) && version <= max
}

pub(crate) fn all() -> impl Iterator<Item = (ApiKey, i16, i16)> {
    ADVERTISED.iter().filter_map(|(key, _, _)| supported(*key).map(|(min, max)| (*key, min, max)))
}
