//! How much one request may name. Decoding is already bounded by the frame (100 MiB after
//! authentication), but the work is not: a Metadata request naming ten million topics costs a
//! lookup and an answer entry each. No well-behaved client names more topics and partitions in
//! one request than a cluster can hold (4,096 partitions), so a request naming more closes its
//! connection, as an oversized frame does.

use kafka_protocol::messages::RequestKind;

/// Topics, partitions and ACL entries one request may name.
pub(crate) const ENTRIES_PER_REQUEST_MAX: usize = 10_000;

/// The topics, partitions and ACL entries `request` names (each partition once, each topic
/// without partitions once).
pub(crate) fn entries_named(request: &RequestKind) -> usize {
    fn each<T>(items: &[T], count: impl Fn(&T) -> usize) -> usize {
        items.iter().map(|item| count(item).max(1)).sum()
    }
    match request {
        RequestKind::Metadata(r) => r.topics.as_ref().map_or(0, Vec::len),
        RequestKind::Produce(r) => each(&r.topic_data, |t| t.partition_data.len()),
        RequestKind::Fetch(r) => {
            each(&r.topics, |t| t.partitions.len()) + each(&r.forgotten_topics_data, |t| t.partitions.len())
        }
        RequestKind::ListOffsets(r) => each(&r.topics, |t| t.partitions.len()),
        RequestKind::OffsetCommit(r) => each(&r.topics, |t| t.partitions.len()),
        RequestKind::OffsetFetch(r) => {
            let topics = r.topics.as_deref().map_or(0, |topics| each(topics, |t| t.partition_indexes.len()));
            let groups = each(&r.groups, |g| {
                g.topics.as_deref().map_or(0, |topics| each(topics, |t| t.partition_indexes.len()))
            });
            topics + groups
        }
        RequestKind::CreateTopics(r) => each(&r.topics, |t| t.assignments.len() + t.configs.len()),
        RequestKind::DeleteTopics(r) => r.topics.len() + r.topic_names.len(),
        RequestKind::CreateAcls(r) => r.creations.len(),
        RequestKind::DeleteAcls(r) => r.filters.len(),
        _ => 0,
    }
}
