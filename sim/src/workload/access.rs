//! The control plane's side of a run: the harness, as the organization admin, creates the
//! scenario's service accounts (keys and ACLs) through the REST API, deletes keys when the
//! scenario says so, and runs clients with those keys: a `key-user` (a leaked key in use) and
//! an `acl-prober` (an ACL-limited application trying everything). Every attempt is evidence
//! for `checkers::access`.

use std::collections::BTreeMap;
use std::time::Duration;

use broker::client::ClientError;
use broker::control_plane::audit::acl_subject;
use broker::log::batch::encode_values;
use broker::net::https_client::HttpsClient;
use broker::security::acl::{AclBinding, Operation, Permission};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{FetchRequest, MetadataRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use serde_json::json;

use super::client::ClusterClient;
use super::Recorder;
use crate::checkers::access::{AccessLog, Attempt, ClusterDeletion, Outcome, Revocation};
use crate::scenario::{ClientKind, ServiceAccountSpec};

/// A service account the harness created: its id and its cluster key (id, secret).
#[derive(Debug, Clone)]
pub struct CreatedAccount {
    pub id: String,
    pub key: (String, String),
}

/// What the setup created, and the changes it made (kind, subject) for the audit check.
pub type Created = (BTreeMap<String, CreatedAccount>, Vec<crate::checkers::audit::Mutation>);

pub(super) async fn call(
    cloud: &HttpsClient,
    method: &str,
    target: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let mut last = String::new();
    for _ in 0..10 {
        match cloud.call(method, target, Some(body.to_string().into_bytes())).await {
            Ok((status, bytes)) if (200..300).contains(&status) => {
                return serde_json::from_slice(&bytes).map_err(|e| format!("{method} {target}: {e}"));
            }
            Ok((status, bytes)) => {
                return Err(format!("{method} {target}: {status} {}", String::from_utf8_lossy(&bytes)))
            }
            Err(error) => last = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!("{method} {target}: {last}"))
}

/// Creates every account with one cluster key and its allow ACLs, on `cluster_id` or on its
/// tenant's cluster (`tenants`: name -> cluster id).
pub async fn create_service_accounts(
    cloud: &HttpsClient,
    cluster_id: &str,
    tenants: &BTreeMap<String, String>,
    specs: &[ServiceAccountSpec],
) -> Result<Created, String> {
    let mut created = BTreeMap::new();
    let mut mutations = Vec::new();
    for spec in specs {
        let cluster_id = match &spec.tenant {
            Some(tenant) => tenants.get(tenant).ok_or_else(|| format!("no cluster for tenant {tenant:?}"))?,
            None => cluster_id,
        };
        let account = call(cloud, "POST", "/iam/v2/service-accounts", json!({ "display_name": spec.name })).await?;
        let id = account["id"].as_str().ok_or("no service account id")?.to_string();
        mutations.push(("iam.service-account.created".to_string(), id.clone()));
        let key = call(
            cloud,
            "POST",
            "/iam/v2/api-keys",
            json!({ "spec": { "display_name": spec.name, "owner": { "id": id }, "resource": { "id": cluster_id } } }),
        )
        .await?;
        let key_id = key["id"].as_str().ok_or("no key id")?.to_string();
        let secret = key["spec"]["secret"].as_str().ok_or("no secret in the creation response")?.to_string();
        mutations.push(("iam.api-key.created".to_string(), key_id.clone()));
        for acl in &spec.acls {
            let binding = AclBinding {
                principal: format!("User:{id}"),
                host: "*".into(),
                resource_type: acl.resource_type,
                resource_name: acl.resource_name.clone(),
                pattern_type: acl.pattern_type,
                operation: acl.operation,
                permission: Permission::Allow,
            };
            let body = serde_json::to_value(&binding).expect("a binding is JSON");
            call(cloud, "POST", &format!("/kafka/v3/clusters/{cluster_id}/acls"), body).await?;
            mutations.push(("kafka.acl.created".to_string(), acl_subject(cluster_id, &binding)));
        }
        created.insert(spec.name.clone(), CreatedAccount { id, key: (key_id, secret) });
    }
    Ok((created, mutations))
}

/// Deletes `account`'s key, retrying every second until the control plane acknowledges it
/// (it may be down): the acknowledgement time starts the revocation bound.
pub async fn delete_key(cloud: HttpsClient, recorder: Recorder, log: AccessLog, name: String, key_id: String) {
    let requested_ms = recorder.now_ms();
    let index = {
        let mut revocations = log.revocations.lock().unwrap();
        revocations.push(Revocation { service_account: name, requested_ms, acknowledged_ms: None });
        revocations.len() - 1
    };
    let path = format!("/iam/v2/api-keys/{key_id}");
    if let Some((at_ms, deleted_now)) = delete_until_acknowledged(&cloud, &recorder, &path).await {
        log.revocations.lock().unwrap()[index].acknowledged_ms = Some(at_ms);
        if deleted_now {
            log.mutations.lock().unwrap().push(("iam.api-key.deleted".to_string(), key_id));
        }
    }
}

/// Deletes a tenant's cluster through the REST API, retrying until the control plane
/// acknowledges it (C13).
pub async fn delete_cluster(cloud: HttpsClient, recorder: Recorder, log: AccessLog, deletion: ClusterDeletion) {
    let cluster_id = deletion.cluster_id.clone();
    let index = {
        let mut deletions = log.cluster_deletions.lock().unwrap();
        deletions.push(ClusterDeletion { requested_ms: recorder.now_ms(), ..deletion });
        deletions.len() - 1
    };
    let path = format!("/cmk/v2/clusters/{cluster_id}");
    if let Some((at_ms, deleted_now)) = delete_until_acknowledged(&cloud, &recorder, &path).await {
        log.cluster_deletions.lock().unwrap()[index].acknowledged_ms = Some(at_ms);
        if deleted_now {
            log.mutations.lock().unwrap().push(("cmk.cluster.deleted".to_string(), cluster_id));
        }
    }
}

/// DELETE `path` every second until the control plane acknowledges it: when, and whether this
/// call deleted it (204) rather than finding it gone (404: an earlier attempt's answer was lost).
/// `None` if the run ended first.
async fn delete_until_acknowledged(cloud: &HttpsClient, recorder: &Recorder, path: &str) -> Option<(u64, bool)> {
    while !recorder.stopping() {
        match cloud.call("DELETE", path, None).await {
            Ok((204, _)) => return Some((recorder.now_ms(), true)),
            Ok((404, _)) => return Some((recorder.now_ms(), false)),
            _ => {}
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    None
}

fn classify(code: i16) -> Outcome {
    if code == 0 {
        Outcome::Allowed
    } else if [
        ResponseError::TopicAuthorizationFailed,
        ResponseError::GroupAuthorizationFailed,
        ResponseError::ClusterAuthorizationFailed,
    ]
    .iter()
    .any(|e| e.code() == code)
    {
        Outcome::Denied
    } else {
        Outcome::Unknown(
            ResponseError::try_from_code(code).map(|e| format!("{e:?}")).unwrap_or_else(|| code.to_string()),
        )
    }
}

fn failed(error: &ClientError) -> Outcome {
    match error {
        ClientError::Authentication(_) => Outcome::AuthenticationFailed,
        other => Outcome::Unknown(other.to_string()),
    }
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// The broker to ask about `topic`: its partition 0 leader if the key may see it, else any.
async fn broker_for(client: &mut ClusterClient, topic: &str, attempt: u64) -> i32 {
    if client.leader(topic, 0).is_none() {
        let _ = client.refresh_metadata().await;
    }
    client.leader(topic, 0).unwrap_or(1 + (attempt % 3) as i32)
}

async fn produce(client: &mut ClusterClient, topic: &str, attempt: u64) -> Outcome {
    let broker = broker_for(client, topic, attempt).await;
    let records = encode_values(&[bytes::Bytes::from_static(b"control-plane client")], -1, -1, -1);
    let request = ProduceRequest::default().with_acks(-1).with_timeout_ms(5_000).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(records))]),
    ]);
    match client.send(broker, request, 7).await {
        Ok(response) => {
            let code =
                response.responses.first().and_then(|t| t.partition_responses.first()).map_or(-1, |p| p.error_code);
            if code == ResponseError::NotLeaderOrFollower.code() {
                let _ = client.refresh_metadata().await;
            }
            classify(code)
        }
        Err(error) => failed(&error),
    }
}

/// A consumer's fetch of `partition` of `topic` from `offset`, answered at once.
pub(super) fn fetch_request(topic: &str, partition: i32, offset: i64, bytes_max: i32) -> FetchRequest {
    FetchRequest::default().with_replica_id((-1).into()).with_max_wait_ms(0).with_max_bytes(bytes_max).with_topics(
        vec![FetchTopic::default().with_topic(topic_name(topic)).with_partitions(vec![FetchPartition::default()
            .with_partition(partition)
            .with_fetch_offset(offset)
            .with_partition_max_bytes(bytes_max)])],
    )
}

async fn fetch(client: &mut ClusterClient, topic: &str, attempt: u64) -> Outcome {
    let broker = broker_for(client, topic, attempt).await;
    match client.send(broker, fetch_request(topic, 0, 0, 16 * 1024), 11).await {
        Ok(response) => {
            classify(response.responses.first().and_then(|t| t.partitions.first()).map_or(-1, |p| p.error_code))
        }
        Err(error) => failed(&error),
    }
}

async fn describe(client: &mut ClusterClient, topic: &str, attempt: u64) -> Outcome {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(topic_name(topic)))]))
        .with_allow_auto_topic_creation(false);
    match client.send(1 + (attempt % 3) as i32, request, 4).await {
        Ok(response) => {
            let code = response.topics.first().map_or(-1, |t| t.error_code);
            // A described topic whose leader is moving is still described.
            if code == ResponseError::LeaderNotAvailable.code() {
                Outcome::Allowed
            } else {
                classify(code)
            }
        }
        Err(error) => failed(&error),
    }
}

fn note(recorder: &Recorder, log: &AccessLog, name: &str, operation: Operation, topic: &str, outcome: Outcome) {
    log.attempts.lock().unwrap().push(Attempt {
        at_ms: recorder.now_ms(),
        service_account: name.to_string(),
        operation,
        topic: topic.to_string(),
        outcome,
    });
}

/// A control-plane client: a `key-user` produces once per `interval` to its topics in turn (a
/// leaked key in use); an `acl-prober` tries Write, Read and Describe on every topic it names.
pub async fn run_client(
    kind: ClientKind,
    mut client: ClusterClient,
    recorder: Recorder,
    log: AccessLog,
    name: String,
    topics: Vec<String>,
    interval: Duration,
) {
    let mut attempt = 0u64;
    while !recorder.stopping() {
        let tried: Vec<&String> = match kind {
            ClientKind::KeyUser => vec![&topics[attempt as usize % topics.len()]],
            ClientKind::AclProber => topics.iter().collect(),
            // They run `workload::tenants::probe` and `workload::quotas` instead.
            ClientKind::TenantProber | ClientKind::GreedyProducer | ClientKind::GreedyConsumer => return,
        };
        for topic in tried {
            let outcome = produce(&mut client, topic, attempt).await;
            note(&recorder, &log, &name, Operation::Write, topic, outcome);
            if kind == ClientKind::AclProber {
                let outcome = fetch(&mut client, topic, attempt).await;
                note(&recorder, &log, &name, Operation::Read, topic, outcome);
                let outcome = describe(&mut client, topic, attempt).await;
                note(&recorder, &log, &name, Operation::Describe, topic, outcome);
            }
        }
        attempt += 1;
        tokio::time::sleep(interval).await;
    }
}

/// Every record value of the audit topic, from offset 0 to its high watermark, read as an
/// ordinary consumer would (the workload's key may read every topic).
pub async fn read_audit_topic(client: &mut ClusterClient) -> Result<Vec<Vec<u8>>, String> {
    use broker::control_plane::audit::AUDIT_TOPIC;
    let mut values = Vec::new();
    let mut offset = 0i64;
    for _ in 0..1_000 {
        let broker = broker_for(client, AUDIT_TOPIC, offset as u64).await;
        let request = fetch_request(AUDIT_TOPIC, 0, offset, 4 * 1024 * 1024);
        let response = client.send(broker, request, 11).await.map_err(|e| e.to_string())?;
        let partition =
            response.responses.first().and_then(|t| t.partitions.first()).ok_or("an empty fetch response")?;
        if partition.error_code != 0 {
            let _ = client.refresh_metadata().await;
            return Err(format!("fetching the audit topic: error {}", partition.error_code));
        }
        let high_watermark = partition.high_watermark;
        let records = partition.records.clone().unwrap_or_default();
        for (record_offset, value) in broker::log::batch::decode_values(records).map_err(|e| e.to_string())? {
            if record_offset >= offset && record_offset < high_watermark {
                values.push(value.map(|v| v.to_vec()).unwrap_or_default());
                offset = record_offset + 1;
            }
        }
        if offset >= high_watermark {
            return Ok(values);
        }
    }
    Err("the audit topic did not end within 1000 fetches".into())
}

/// Every resource the control plane will show the admin after the run (lists and each key),
/// as (target, body): what the secret-exposure check searches.
pub async fn read_everything(cloud: &HttpsClient, cluster_id: &str) -> Vec<(String, Vec<u8>)> {
    let mut targets: Vec<String> = [
        "/org/v2/environments?page_size=100",
        "/cmk/v2/clusters?page_size=100",
        "/iam/v2/users?page_size=100",
        "/iam/v2/service-accounts?page_size=100",
        "/iam/v2/api-keys?page_size=100",
    ]
    .iter()
    .map(|t| t.to_string())
    .collect();
    targets.push(format!("/kafka/v3/clusters/{cluster_id}/acls"));
    let mut bodies = Vec::new();
    for target in targets {
        if let Ok((200, body)) = cloud.call("GET", &target, None).await {
            if target.starts_with("/iam/v2/api-keys") {
                let ids: Vec<String> = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|list| {
                        list["data"]
                            .as_array()
                            .map(|keys| keys.iter().filter_map(|k| k["id"].as_str().map(str::to_string)).collect())
                    })
                    .unwrap_or_default();
                for id in ids {
                    let one = format!("/iam/v2/api-keys/{id}");
                    if let Ok((200, key)) = cloud.call("GET", &one, None).await {
                        bodies.push((one, key.to_vec()));
                    }
                }
            }
            bodies.push((target, body.to_vec()));
        }
    }
    bodies
}
