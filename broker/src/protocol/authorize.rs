//! Authorization of every request (C17), the way Kafka answers it: a topic the principal may
//! not touch gets TOPIC_AUTHORIZATION_FAILED in its place of the response, a group
//! GROUP_AUTHORIZATION_FAILED, a cluster action CLUSTER_AUTHORIZATION_FAILED; Metadata lists
//! only the topics the principal may describe. Requests are split before the handlers run, so
//! a denied topic never reaches one, and the refusals are merged into the handler's response.
//! Every denial of an explicit request is reported to the audit log (C18); filtering a listing
//! is not a denial. The audit topic is written only by brokers: no customer principal, not even
//! a super-user, may write, create, alter or delete it.

use std::sync::Arc;

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse, FetchRequest,
    FetchResponse, FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, ProduceRequest,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::fetch;
use super::groups;
use super::metadata;
use super::produce;
use super::quotas::Quota;
use super::session::Session;
use super::tenancy::Tenant;
use crate::control_plane::access::DataPlaneAccess;
use crate::control_plane::audit::{AuditResult, Decision, AUDIT_TOPIC};
use crate::control_plane::link::ControlPlaneLink;
use crate::net::http::wall_clock_ms;
use crate::node::Node;
use crate::security::acl::CLUSTER_RESOURCE_NAME;
use crate::security::acl::{Operation, ResourceType};
use crate::security::sasl::{Principal, Role};

const TOPIC_DENIED: i16 = ResponseError::TopicAuthorizationFailed.code();
const GROUP_DENIED: i16 = ResponseError::GroupAuthorizationFailed.code();
const CLUSTER_DENIED: i16 = ResponseError::ClusterAuthorizationFailed.code();

/// One request's view of the principal and the ACLs in force when it arrived.
pub(super) struct Authorizer {
    principal: Principal,
    host: String,
    access: Arc<DataPlaneAccess>,
    audit: Arc<ControlPlaneLink>,
    /// The principal's namespace: requests reach the Authorizer in internal names (C28).
    tenant: Option<Tenant>,
}

impl Authorizer {
    pub(super) fn new(node: &Node, session: &Session, principal: &Principal, access: Arc<DataPlaneAccess>) -> Self {
        Authorizer {
            principal: principal.clone(),
            host: session.peer_host.clone(),
            access,
            audit: node.control_plane().clone(),
            tenant: Tenant::of(principal, node.config.bugs),
        }
    }

    pub(super) fn tenant(&self) -> Option<&Tenant> {
        self.tenant.as_ref()
    }

    /// The quotas of the principal's logical cluster, if it is a Basic or Standard one.
    pub(super) fn quota(&self) -> Option<Quota> {
        let cluster_id = self.tenant.as_ref()?.cluster_id().to_string();
        let limits = self.access.limits(&cluster_id)?;
        Some(Quota { cluster_id, limits })
    }

    /// The name the principal's ACLs use for an internal one; `None`: another tenant's.
    fn visible<'a>(&self, name: &'a str) -> Option<&'a str> {
        match &self.tenant {
            Some(tenant) => tenant.visible(name),
            None => Some(name),
        }
    }

    fn decide(&self, operation: Operation, resource_type: ResourceType, name: &str) -> bool {
        // The cluster resource is the tenant's own logical cluster: its name is not namespaced.
        if resource_type == ResourceType::Cluster {
            return self.decide_visible(operation, resource_type, name);
        }
        let Some(name) = self.visible(name) else { return false };
        self.decide_visible(operation, resource_type, name)
    }

    fn decide_visible(&self, operation: Operation, resource_type: ResourceType, name: &str) -> bool {
        let protected = resource_type == ResourceType::Topic
            && name == AUDIT_TOPIC
            && !matches!(operation, Operation::Read | Operation::Describe | Operation::DescribeConfigs)
            && self.principal.role != Role::Broker;
        !protected && self.access.authorize(&self.principal, &self.host, operation, resource_type, name)
    }

    /// Decides and reports a denial to the audit log.
    fn allows(&self, operation: Operation, resource_type: ResourceType, name: &str) -> bool {
        let allowed = self.decide(operation, resource_type, name);
        if !allowed {
            let name = if resource_type == ResourceType::Cluster { name } else { self.visible(name).unwrap_or(name) };
            let principal = self.principal.customer.as_ref().map_or(self.principal.api_key.clone(), |c| c.name.clone());
            self.audit.report(Decision {
                subject: format!("{resource_type:?}:{name}/{operation:?}"),
                kind: "kafka.authorization.denied".into(),
                principal,
                result: AuditResult::Denied,
                time_ms: wall_clock_ms(),
                network: self.host.clone(),
            });
        }
        allowed
    }

    pub(super) fn topic(&self, operation: Operation, name: &str) -> bool {
        self.allows(operation, ResourceType::Topic, name)
    }

    /// Whether a listing shows the topic (not a denial: nothing was asked of it by name).
    pub(super) fn lists_topic(&self, name: &str) -> bool {
        let listed = match &self.tenant {
            Some(tenant) => tenant.listed(name),
            None => Some(name),
        };
        listed.is_some_and(|name| self.decide_visible(Operation::Describe, ResourceType::Topic, name))
    }

    pub(super) fn group(&self, operation: Operation, id: &str) -> bool {
        self.allows(operation, ResourceType::Group, id)
    }

    pub(super) fn cluster(&self, operation: Operation) -> bool {
        self.allows(operation, ResourceType::Cluster, CLUSTER_RESOURCE_NAME)
    }

    /// The principal's own logical cluster (ACL changes apply to it).
    pub(super) fn principal(&self) -> &Principal {
        &self.principal
    }
}

/// Moves the items `allowed` refuses out of `items`.
fn split_denied<T>(items: &mut Vec<T>, allowed: impl Fn(&T) -> bool) -> Vec<T> {
    let (kept, denied): (Vec<T>, Vec<T>) = std::mem::take(items).into_iter().partition(|item| allowed(item));
    *items = kept;
    denied
}

/// The permitted topics appended; the denied ones are refused in the acknowledgement.
pub(super) async fn produce<'n>(
    node: &'n Node,
    auth: &Authorizer,
    mut request: ProduceRequest,
    version: i16,
) -> produce::Acknowledging<'n> {
    let denied = split_denied(&mut request.topic_data, |t| auth.topic(Operation::Write, &t.name.0));
    let acknowledging = produce::append(node, request, version).await;
    Box::pin(async move {
        let mut response = acknowledging.await;
        response.responses.extend(denied.iter().map(|topic| produce::refused(topic, TOPIC_DENIED)));
        response
    })
}

pub(super) async fn fetch(
    node: &Node,
    auth: &Authorizer,
    session: &Session,
    mut request: FetchRequest,
    version: i16,
) -> FetchResponse {
    let denied = split_denied(&mut request.topics, |t| auth.topic(Operation::Read, &t.topic.0));
    if request.topics.is_empty() && !denied.is_empty() {
        // Nothing to wait for: answer at once rather than long-poll on no partition.
        request.max_wait_ms = 0;
    }
    let mut response = fetch::fetch(node, session, request, version).await;
    response.responses.extend(denied.into_iter().map(|topic| {
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                PartitionData::default()
                    .with_partition_index(p.partition)
                    .with_error_code(TOPIC_DENIED)
                    .with_high_watermark(-1)
                    .with_last_stable_offset(-1)
                    .with_log_start_offset(-1)
            })
            .collect();
        FetchableTopicResponse::default().with_topic(topic.topic).with_partitions(partitions)
    }));
    response
}

pub(super) fn list_offsets(
    node: &Node,
    auth: &Authorizer,
    mut request: ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let denied = split_denied(&mut request.topics, |t| auth.topic(Operation::Describe, &t.name.0));
    let mut response = fetch::list_offsets(node, request, version);
    response.topics.extend(denied.into_iter().map(|topic| {
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                ListOffsetsPartitionResponse::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(TOPIC_DENIED)
                    .with_offset(-1)
                    .with_timestamp(-1)
            })
            .collect();
        ListOffsetsTopicResponse::default().with_name(topic.name).with_partitions(partitions)
    }));
    response
}

/// Lists only describable topics; a topic named in the request that may not be described is
/// answered TOPIC_AUTHORIZATION_FAILED (Kafka's behaviour).
pub(super) async fn metadata(
    node: &Node,
    auth: &Authorizer,
    request: MetadataRequest,
    version: i16,
) -> MetadataResponse {
    let explicit = matches!(&request.topics, Some(topics) if !(topics.is_empty() && version == 0));
    let mut response = metadata::metadata(node, request, version).await;
    response.topics = std::mem::take(&mut response.topics)
        .into_iter()
        .filter_map(|topic| {
            let name = topic.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
            if explicit && !auth.topic(Operation::Describe, &name) {
                Some(topic.with_error_code(TOPIC_DENIED).with_partitions(Vec::new()))
            } else if explicit || auth.lists_topic(&name) {
                Some(topic)
            } else {
                None
            }
        })
        .collect();
    response
}

pub(super) async fn create_topics(
    node: &Node,
    auth: &Authorizer,
    mut request: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let cluster_wide = auth.cluster(Operation::Create);
    let denied = split_denied(&mut request.topics, |t| cluster_wide || auth.topic(Operation::Create, &t.name.0));
    let mut response = metadata::create_topics(node, request, version).await;
    response.topics.extend(denied.into_iter().map(|topic| {
        let result = CreatableTopicResult::default().with_name(topic.name).with_error_code(TOPIC_DENIED);
        if version >= 1 {
            result.with_error_message(Some(StrBytes::from_static_str("Authorization failed.")))
        } else {
            result
        }
    }));
    response
}

pub(super) async fn delete_topics(
    node: &Node,
    auth: &Authorizer,
    mut request: DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    let denied: Vec<_> = if version >= 6 {
        split_denied(&mut request.topics, |t| t.name.as_ref().is_some_and(|n| auth.topic(Operation::Delete, &n.0)))
            .into_iter()
            .filter_map(|t| t.name)
            .collect()
    } else {
        split_denied(&mut request.topic_names, |n| auth.topic(Operation::Delete, &n.0))
    };
    let mut response = metadata::delete_topics(node, request, version).await;
    response.responses.extend(
        denied
            .into_iter()
            .map(|name| DeletableTopicResult::default().with_name(Some(name)).with_error_code(TOPIC_DENIED)),
    );
    response
}

/// Idempotent producers need IdempotentWrite on the cluster or Write on some topic (KIP-679).
pub(super) async fn init_producer_id(
    node: &Node,
    auth: &Authorizer,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let allowed = match &request.transactional_id {
        Some(id) => auth.allows(Operation::Write, ResourceType::TransactionalId, &id.0),
        None => {
            auth.cluster(Operation::IdempotentWrite)
                || auth.access.authorize_any(&auth.principal, Operation::Write, ResourceType::Topic)
        }
    };
    if !allowed {
        let code = if request.transactional_id.is_some() {
            ResponseError::TransactionalIdAuthorizationFailed.code()
        } else {
            CLUSTER_DENIED
        };
        return InitProducerIdResponse::default()
            .with_error_code(code)
            .with_producer_id(kafka_protocol::messages::ProducerId(-1))
            .with_producer_epoch(-1);
    }
    produce::init_producer_id(node, request).await
}

pub(super) fn find_coordinator(
    node: &Node,
    auth: &Authorizer,
    request: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let resource_type = if request.key_type == 1 { ResourceType::TransactionalId } else { ResourceType::Group };
    let allowed = |key: &str| auth.allows(Operation::Describe, resource_type, key);
    if version >= 4 {
        let mut request = request;
        let denied = split_denied(&mut request.coordinator_keys, |key| allowed(key));
        let mut response = groups::find_coordinator(node, request, version);
        response.coordinators.extend(denied.into_iter().map(|key| {
            Coordinator::default()
                .with_key(key)
                .with_node_id(BrokerId(-1))
                .with_host(StrBytes::from_static_str(""))
                .with_port(-1)
                .with_error_code(GROUP_DENIED)
        }));
        return response;
    }
    if !allowed(&request.key) {
        return FindCoordinatorResponse::default()
            .with_error_code(GROUP_DENIED)
            .with_node_id(BrokerId(-1))
            .with_host(StrBytes::from_static_str(""))
            .with_port(-1);
    }
    groups::find_coordinator(node, request, version)
}

pub(super) async fn offset_commit(
    node: &Node,
    auth: &Authorizer,
    mut request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let group_allowed = auth.group(Operation::Read, &request.group_id.0);
    let denied = if group_allowed {
        split_denied(&mut request.topics, |t| auth.topic(Operation::Read, &t.name.0))
    } else {
        std::mem::take(&mut request.topics)
    };
    let mut response = if request.topics.is_empty() {
        OffsetCommitResponse::default()
    } else {
        groups::offset_commit(node, request).await
    };
    let code = if group_allowed { TOPIC_DENIED } else { GROUP_DENIED };
    response.topics.extend(denied.into_iter().map(|topic| {
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                OffsetCommitResponsePartition::default().with_partition_index(p.partition_index).with_error_code(code)
            })
            .collect();
        OffsetCommitResponseTopic::default().with_name(topic.name).with_partitions(partitions)
    }));
    response
}

pub(super) fn offset_fetch(
    node: &Node,
    auth: &Authorizer,
    mut request: OffsetFetchRequest,
    version: i16,
) -> OffsetFetchResponse {
    if !auth.group(Operation::Describe, &request.group_id.0) {
        if version >= 2 {
            return OffsetFetchResponse::default().with_error_code(GROUP_DENIED);
        }
        let topics =
            request.topics.unwrap_or_default().into_iter().map(|t| groups::refused_offsets(t, GROUP_DENIED)).collect();
        return OffsetFetchResponse::default().with_topics(topics);
    }
    let denied = match request.topics.as_mut() {
        Some(topics) => split_denied(topics, |t| auth.topic(Operation::Describe, &t.name.0)),
        None => Vec::new(),
    };
    let listing_all = request.topics.is_none();
    let mut response = groups::offset_fetch(node, request, version);
    if listing_all {
        response.topics.retain(|t| auth.lists_topic(&t.name.0));
    }
    response.topics.extend(denied.into_iter().map(|t| groups::refused_offsets(t, TOPIC_DENIED)));
    response
}

/// JoinGroup, SyncGroup, Heartbeat and LeaveGroup need Read on the group.
pub(super) fn group_denied(auth: &Authorizer, group_id: &str) -> Option<i16> {
    (!auth.group(Operation::Read, group_id)).then_some(GROUP_DENIED)
}
