//! The provisioner (C03, C04): every interval, one request through the REST API as the
//! organization admin, in turn: each combination of cluster type, availability and networking
//! (a cluster granted is deleted again), then a fresh environment and two schema registries in
//! it, then a fresh /16 network and peerings by a customer route inside it, one containing it
//! and one beside it (what is granted is deleted again, then the network). One attempt per request, never retried: a retried POST whose first answer was lost
//! would be judged as a second request. Evidence for `checkers::provisioning`; the changes
//! acknowledged go to the audit check.

use std::time::Duration;

use broker::control_plane::model::{Availability, ClusterType, Networking};
use broker::net::https_client::HttpsClient;
use serde_json::json;

use super::Recorder;
use crate::checkers::access::AccessLog;
use crate::checkers::provisioning::{Provision, ProvisionAttempt, ProvisionLog, RoutePlacement};

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
    for route in [RoutePlacement::Inside, RoutePlacement::Containing, RoutePlacement::Adjacent] {
        all.push(Provision::Peering { route });
    }
    all
}

/// The customer route placed against network `10.{octet}.0.0/16`.
fn route(octet: u8, placement: RoutePlacement) -> String {
    match placement {
        RoutePlacement::Inside => format!("10.{octet}.16.0/20"),
        RoutePlacement::Containing => "10.0.0.0/8".into(),
        RoutePlacement::Adjacent => format!("10.{}.0.0/16", octet + 1),
    }
}

/// Deletes what a request created, retrying while the control plane is away.
async fn delete(cloud: &HttpsClient, recorder: &Recorder, target: &str) -> bool {
    while !recorder.stopping() {
        match cloud.call("DELETE", target, None).await {
            Ok((204, _)) => return true,
            Ok((404, _)) => return false,
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    false
}

async fn once(
    cloud: &HttpsClient,
    method: &str,
    target: &str,
    body: serde_json::Value,
) -> Option<(u16, serde_json::Value)> {
    let (status, bytes) = cloud.call(method, target, Some(body.to_string().into_bytes())).await.ok()?;
    Some((status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)))
}

pub async fn run(
    cloud: HttpsClient,
    recorder: Recorder,
    log: ProvisionLog,
    audit: AccessLog,
    environment_id: String,
    interval: Duration,
) {
    let mutation =
        |kind: &str, subject: &str| audit.mutations.lock().unwrap().push((kind.to_string(), subject.to_string()));
    let mut registry_environment: Option<String> = None;
    // This cycle's network for the peering requests: (id, second octet of its /16).
    let mut network: Option<(String, u8)> = None;
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
                    "region": crate::world::CHOSEN_REGION,
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
            Provision::Peering { route: placement } => {
                if *placement == RoutePlacement::Inside {
                    // A fresh /16 per cycle, 10.20.0.0 to 10.219.0.0 (the adjacent one stays in 10/8).
                    let octet = 20 + (round % 200) as u8;
                    let body = json!({ "spec": {
                        "display_name": format!("network-{round}"),
                        "cidr": format!("10.{octet}.0.0/16"),
                        "connection_types": ["PEERING"],
                        "environment": { "id": environment_id },
                    }});
                    network = match once(&cloud, "POST", "/networking/v1/networks", body).await {
                        Some((201, created)) => created["id"].as_str().map(|id| (id.to_string(), octet)),
                        _ => None,
                    };
                    if let Some((id, _)) = &network {
                        mutation("networking.network.created", id);
                    }
                }
                let Some((network_id, octet)) = network.clone() else {
                    tokio::time::sleep(interval).await;
                    continue;
                };
                let body = json!({ "spec": {
                    "display_name": format!("vpc-{round}"),
                    "network": { "id": network_id },
                    "customer": { "routes": [route(octet, *placement)] },
                }});
                let (status, peering) = match once(&cloud, "POST", "/networking/v1/peerings", body).await {
                    Some((status, peering)) => (Some(status), peering),
                    None => (None, serde_json::Value::Null),
                };
                // What was granted goes again; the network after the cycle's last request.
                if let Some(id) = peering["id"].as_str().filter(|_| status == Some(201)) {
                    mutation("networking.peering.created", id);
                    if delete(&cloud, &recorder, &format!("/networking/v1/peerings/{id}")).await {
                        mutation("networking.peering.deleted", id);
                    }
                }
                if *placement == RoutePlacement::Adjacent {
                    if delete(&cloud, &recorder, &format!("/networking/v1/networks/{network_id}")).await {
                        mutation("networking.network.deleted", &network_id);
                    }
                    network = None;
                }
                (status, None)
            }
        };
        log.attempts.lock().unwrap().push(ProvisionAttempt { at_ms, asked, status, sla_target_percent });
        tokio::time::sleep(interval).await;
    }
}
