//! The provisioner (C03, C04): every interval, one request through the REST API as the
//! organization admin, in turn: each combination of cluster type, availability and networking
//! (a cluster granted is deleted again), then a fresh environment and two schema registries in
//! it. One attempt per request, never retried: a retried POST whose first answer was lost
//! would be judged as a second request. Evidence for `checkers::provisioning`; the changes
//! acknowledged go to the audit check.

use std::time::Duration;

use broker::control_plane::client::ControlPlaneClient;
use broker::control_plane::model::{Availability, ClusterType, Networking};
use serde_json::json;

use super::Recorder;
use crate::checkers::access::AccessLog;
use crate::checkers::provisioning::{Provision, ProvisionAttempt, ProvisionLog};

fn requests() -> Vec<Provision> {
    let mut all = Vec::new();
    for cluster_type in [ClusterType::Basic, ClusterType::Standard, ClusterType::Dedicated] {
        for availability in [Availability::SingleZone, Availability::MultiZone] {
            for networking in [Networking::Public, Networking::Private] {
                all.push(Provision::Cluster { cluster_type, availability, networking });
            }
        }
    }
    all.push(Provision::SchemaRegistry { nth: 1 });
    all.push(Provision::SchemaRegistry { nth: 2 });
    all
}

async fn once(
    cloud: &ControlPlaneClient,
    method: &str,
    target: &str,
    body: serde_json::Value,
) -> Option<(u16, serde_json::Value)> {
    let (status, bytes) = cloud.call(method, target, Some(body.to_string().into_bytes())).await.ok()?;
    Some((status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)))
}

pub async fn run(
    cloud: ControlPlaneClient,
    recorder: Recorder,
    log: ProvisionLog,
    audit: AccessLog,
    environment_id: String,
    interval: Duration,
) {
    let mutation =
        |kind: &str, subject: &str| audit.mutations.lock().unwrap().push((kind.to_string(), subject.to_string()));
    let mut registry_environment: Option<String> = None;
    for (round, asked) in requests().into_iter().cycle().enumerate() {
        if recorder.stopping() {
            return;
        }
        let at_ms = recorder.now_ms();
        let (status, sla_target_percent) = match &asked {
            Provision::Cluster { cluster_type, availability, networking } => {
                let body = json!({ "spec": {
                    "display_name": format!("provisioned-{round}"),
                    "availability": availability,
                    "networking": networking,
                    "config": { "kind": cluster_type },
                    "environment": { "id": environment_id },
                }});
                match once(&cloud, "POST", "/cmk/v2/clusters", body).await {
                    Some((status, cluster)) => {
                        let sla = cluster["status"]["sla_target_percent"].as_f64();
                        if let Some(id) = cluster["id"].as_str().filter(|_| status == 201) {
                            mutation("cmk.cluster.created", id);
                            // Deleted again (retried: the deletion itself is not judged).
                            while !recorder.stopping() {
                                match cloud.call("DELETE", &format!("/cmk/v2/clusters/{id}"), None).await {
                                    Ok((204, _)) => {
                                        mutation("cmk.cluster.deleted", id);
                                        break;
                                    }
                                    Ok((404, _)) => break,
                                    _ => tokio::time::sleep(Duration::from_millis(500)).await,
                                }
                            }
                        }
                        (Some(status), sla)
                    }
                    None => (None, None),
                }
            }
            Provision::SchemaRegistry { nth } => {
                if *nth == 1 {
                    let body = json!({ "display_name": format!("registry-test-{round}") });
                    registry_environment = match once(&cloud, "POST", "/org/v2/environments", body).await {
                        Some((201, environment)) => environment["id"].as_str().map(str::to_string),
                        _ => None,
                    };
                    if let Some(id) = &registry_environment {
                        mutation("org.environment.created", id);
                    }
                }
                // Without a fresh environment the question cannot be asked this round.
                let Some(environment) = registry_environment.clone() else {
                    tokio::time::sleep(interval).await;
                    continue;
                };
                let body = json!({ "spec": { "environment": { "id": environment } } });
                match once(&cloud, "POST", "/srcm/v2/clusters", body).await {
                    Some((status, registry)) => {
                        if let Some(id) = registry["id"].as_str().filter(|_| status == 201) {
                            mutation("srcm.cluster.created", id);
                        }
                        if status >= 500 || *nth == 1 && status != 201 {
                            // The pair is judged only on a clean first answer.
                            registry_environment = None;
                        }
                        (Some(status), None)
                    }
                    None => {
                        registry_environment = None;
                        (None, None)
                    }
                }
            }
        };
        log.attempts.lock().unwrap().push(ProvisionAttempt { at_ms, asked, status, sla_target_percent });
        tokio::time::sleep(interval).await;
    }
}
