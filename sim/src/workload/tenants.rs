//! Tenants (C28): the harness creates further logical clusters through the REST API, each
//! with its own application (a service account allowed everything on that cluster) that
//! creates the tenant's topics and writes one record carrying the tenant's canary to each.
//! A `tenant-prober` then asks its own cluster about those names. Every answer is evidence
//! for `checkers::tenants`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use broker::control_plane::audit::AUDIT_TOPIC;
use broker::log::batch::encode_values;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{CreateTopicsRequest, DescribeAclsRequest, MetadataRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use serde_json::json;

use super::access::{call, fetch_request};
use super::client::ClusterClient;
use super::Recorder;
use crate::checkers::audit::Mutation;
use crate::checkers::tenants::{TenantLog, TenantProbe};
use crate::scenario::{AclSpec, ServiceAccountSpec, TenantSpec};
use broker::control_plane::model::{Availability, ClusterType};
use broker::security::acl::{Operation, PatternType, ResourceType, CLUSTER_RESOURCE_NAME};

/// What a prober must never see of a rival tenant.
#[derive(Debug, Clone)]
pub struct Rival {
    pub cluster_id: String,
    /// `User:sa-…` of the rival's application.
    pub principal: String,
    pub topics: Vec<String>,
    pub canary: Vec<u8>,
}

/// The bytes every record of tenant `name` carries.
pub fn tenant_canary(seed: u64, name: &str) -> Vec<u8> {
    format!("tenant {name} record {:016x}", crate::seeds::derive(seed, crate::seeds::Stream::Workload, 2)).into_bytes()
}

/// The service account of a tenant's own application: everything on its cluster.
pub fn application(tenant: &TenantSpec) -> ServiceAccountSpec {
    let all = |resource_type, resource_name: &str| AclSpec {
        resource_type,
        resource_name: resource_name.into(),
        pattern_type: PatternType::Literal,
        operation: Operation::All,
    };
    ServiceAccountSpec {
        name: format!("{}-app", tenant.name),
        tenant: Some(tenant.name.clone()),
        acls: vec![
            all(ResourceType::Topic, "*"),
            all(ResourceType::Group, "*"),
            all(ResourceType::Cluster, CLUSTER_RESOURCE_NAME),
        ],
    }
}

/// Creates each tenant's cluster in the environment: name -> cluster id.
pub async fn create_clusters(
    cloud: &broker::net::https_client::HttpsClient,
    environment_id: &str,
    tenants: &[TenantSpec],
) -> Result<(BTreeMap<String, String>, Vec<Mutation>), String> {
    let mut clusters = BTreeMap::new();
    let mut mutations = Vec::new();
    for tenant in tenants {
        let availability =
            if tenant.cluster_type == ClusterType::Basic { Availability::SingleZone } else { Availability::MultiZone };
        let body = json!({ "spec": {
            "display_name": tenant.name,
            "availability": availability,
            "config": { "kind": tenant.cluster_type },
            "environment": { "id": environment_id },
            "region": tenant.region.as_deref().unwrap_or(crate::world::CHOSEN_REGION),
        }});
        let cluster = call(cloud, "POST", "/cmk/v2/clusters", body).await?;
        let id = cluster["id"].as_str().ok_or("no cluster id")?.to_string();
        mutations.push(("cmk.cluster.created".to_string(), id.clone()));
        clusters.insert(tenant.name.clone(), id);
    }
    Ok((clusters, mutations))
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

fn produce_request(topic: &str, value: &[u8]) -> ProduceRequest {
    let records = encode_values(&[bytes::Bytes::copy_from_slice(value)], -1, -1, -1);
    ProduceRequest::default().with_acks(-1).with_timeout_ms(5_000).with_topic_data(vec![TopicProduceData::default()
        .with_name(topic_name(topic))
        .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(records))])])
}

/// The tenant's application: creates its topics and writes one canary record to each.
pub async fn fill(mut client: ClusterClient, topics: &[String], canary: &[u8]) -> Result<(), String> {
    let mut written = BTreeSet::new();
    for attempt in 0..120u32 {
        for topic in topics {
            if written.contains(topic) {
                continue;
            }
            let create =
                CreateTopicsRequest::default().with_timeout_ms(5_000).with_topics(vec![CreatableTopic::default()
                    .with_name(topic_name(topic))
                    .with_num_partitions(1)
                    .with_replication_factor(3)]);
            let _ = client.send(1 + (attempt % 3) as i32, create, 5).await;
            let _ = client.refresh_metadata().await;
            let Some(leader) = client.leader(topic, 0) else { continue };
            if let Ok(response) = client.send(leader, produce_request(topic, canary), 7).await {
                let code = response.responses.first().and_then(|t| t.partition_responses.first()).map(|p| p.error_code);
                if code == Some(0) {
                    written.insert(topic.clone());
                }
            }
        }
        if written.len() == topics.len() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(format!("the tenant's application wrote {} of its {} topics", written.len(), topics.len()))
}

fn code_name(code: i16) -> String {
    if code == 0 {
        return "NONE".into();
    }
    ResponseError::try_from_code(code).map(|e| format!("{e:?}")).unwrap_or_else(|| code.to_string())
}

/// A tenant probing `rival` from its own cluster (whose topics are `own`).
pub async fn probe(
    mut client: ClusterClient,
    recorder: Recorder,
    log: TenantLog,
    own: Vec<String>,
    rival: Rival,
    interval: Duration,
) {
    let mut round = 0u64;
    let known: BTreeSet<&str> = own.iter().map(String::as_str).chain([AUDIT_TOPIC]).collect();
    let leaks_in = |bytes: &[u8]| -> Vec<String> {
        let mut leaks = Vec::new();
        if memchr::memmem::find(bytes, rival.cluster_id.as_bytes()).is_some() {
            leaks.push(format!("the answer names the other tenant's cluster {}", rival.cluster_id));
        }
        if memchr::memmem::find(bytes, &rival.canary).is_some() {
            leaks.push("the answer holds a record of the other tenant".into());
        }
        leaks
    };
    while !recorder.stopping() {
        let broker = 1 + (round % 3) as i32;
        let note = |kind: &str,
                    name: &str,
                    pair: Option<(u64, bool)>,
                    started: tokio::time::Instant,
                    answer: Option<String>,
                    leaks: Vec<String>| {
            log.probes.lock().unwrap().push(TenantProbe {
                at_ms: recorder.now_ms(),
                kind: kind.into(),
                name: name.into(),
                pair,
                answer,
                latency_ms: started.elapsed().as_millis() as u64,
                leaks,
            });
        };
        // The listing: only its own topics.
        let started = tokio::time::Instant::now();
        match client.send(broker, MetadataRequest::default().with_topics(None), 4).await {
            Ok(response) => {
                let mut leaks = Vec::new();
                for topic in &response.topics {
                    let name = topic.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
                    if !known.contains(name.as_str()) {
                        leaks.push(format!("lists {name:?}, not a topic of its own cluster"));
                    }
                    leaks.extend(leaks_in(name.as_bytes()));
                }
                note("metadata-listing", "*", None, started, Some(format!("{} topics", response.topics.len())), leaks);
            }
            Err(_) => note("metadata-listing", "*", None, started, None, Vec::new()),
        }
        // Each rival name that is not also its own, paired with a name that exists nowhere.
        for (index, topic) in rival.topics.iter().enumerate().filter(|(_, t)| !known.contains(t.as_str())) {
            let pair = round * 1_000 + index as u64;
            let absent = format!("absent-{round}-{index}");
            for (name, exists) in [(topic.as_str(), true), (absent.as_str(), false)] {
                let started = tokio::time::Instant::now();
                let request = MetadataRequest::default()
                    .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(topic_name(name)))]))
                    .with_allow_auto_topic_creation(false);
                let (answer, leaks) = match client.send(broker, request, 4).await {
                    Ok(response) => {
                        let code = response.topics.first().map_or(-1, |t| t.error_code);
                        let partitions = response.topics.first().map_or(0, |t| t.partitions.len());
                        (Some(format!("{} with {partitions} partitions", code_name(code))), Vec::new())
                    }
                    Err(_) => (None, Vec::new()),
                };
                note("metadata", name, Some((pair, exists)), started, answer, leaks);

                let started = tokio::time::Instant::now();
                let (answer, leaks) = match client.send(broker, fetch_request(name, 0, 0, 64 * 1024), 11).await {
                    Ok(response) => {
                        let partition = response.responses.first().and_then(|t| t.partitions.first());
                        let records = partition.and_then(|p| p.records.clone()).unwrap_or_default();
                        let code = partition.map_or(-1, |p| p.error_code);
                        (Some(format!("{} with {} record bytes", code_name(code), records.len())), leaks_in(&records))
                    }
                    Err(_) => (None, Vec::new()),
                };
                note("fetch", name, Some((pair, exists)), started, answer, leaks);

                let started = tokio::time::Instant::now();
                let answer = match client.send(broker, produce_request(name, b"probe"), 7).await {
                    Ok(response) => Some(code_name(
                        response
                            .responses
                            .first()
                            .and_then(|t| t.partition_responses.first())
                            .map_or(-1, |p| p.error_code),
                    )),
                    Err(_) => None,
                };
                note("produce", name, Some((pair, exists)), started, answer, Vec::new());
            }
        }
        // A name both tenants use: its records are its own.
        for topic in rival.topics.iter().filter(|t| known.contains(t.as_str())) {
            let started = tokio::time::Instant::now();
            let leader = client.leader(topic, 0).unwrap_or(broker);
            match client.send(leader, fetch_request(topic, 0, 0, 256 * 1024), 11).await {
                Ok(response) => {
                    let partition = response.responses.first().and_then(|t| t.partitions.first());
                    let records = partition.and_then(|p| p.records.clone()).unwrap_or_default();
                    let code = partition.map_or(-1, |p| p.error_code);
                    if code == ResponseError::NotLeaderOrFollower.code() {
                        let _ = client.refresh_metadata().await;
                    }
                    note("fetch-own", topic, None, started, Some(code_name(code)), leaks_in(&records));
                }
                Err(_) => note("fetch-own", topic, None, started, None, Vec::new()),
            }
        }
        // The cluster's ACLs: none of the rival's.
        let started = tokio::time::Instant::now();
        // ANY (1) of each filter: every binding the principal may describe.
        let request = DescribeAclsRequest::default()
            .with_resource_type_filter(1)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1);
        match client.send(broker, request, 1).await {
            Ok(response) => {
                let mut leaks = Vec::new();
                for resource in &response.resources {
                    for acl in &resource.acls {
                        if acl.principal.as_str() == rival.principal {
                            leaks.push(format!("lists an ACL of {}", rival.principal));
                        }
                    }
                    leaks.extend(leaks_in(resource.resource_name.as_bytes()));
                }
                note("describe-acls", "*", None, started, Some(code_name(response.error_code)), leaks);
            }
            Err(_) => note("describe-acls", "*", None, started, None, Vec::new()),
        }
        round += 1;
        tokio::time::sleep(interval).await;
    }
}
