//! The customer asks for another cluster in its region (C07): from `at_ms`, every 2 s until
//! the control plane places it (503 while the region has no broker cluster reporting), then
//! gives it an application and writes the run's record canary to it through the bootstrap
//! the control plane returned, wherever that leads.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use broker::control_plane::model::ClusterType;
use broker::net::https_client::HttpsClient;
use serde_json::json;

use super::client::ClusterClient;
use super::Recorder;
use crate::checkers::access::AccessLog;
use crate::scenario::TenantSpec;
use crate::world::{Machine, World, CHOSEN_REGION};

/// (at ms, HTTP status or `None` when the control plane did not answer) of one request.
pub type Attempt = (u64, Option<u16>);

/// The cluster once placed.
#[derive(Debug, Clone)]
pub struct Placed {
    pub at_ms: u64,
    pub cluster_id: String,
    /// The region the control plane reports for it.
    pub region: String,
    /// Whether its application wrote the canary.
    pub written: Result<(), String>,
}

#[derive(Debug, Clone, Default)]
pub struct RegionLog {
    pub attempts: Arc<Mutex<Vec<Attempt>>>,
    pub placed: Arc<Mutex<Option<Placed>>>,
}

pub async fn provision(
    world: Arc<World>,
    machine: Machine,
    cloud: HttpsClient,
    recorder: Recorder,
    log: RegionLog,
    audit: AccessLog,
    environment_id: String,
) {
    let tenant = TenantSpec {
        name: "ledger".into(),
        cluster_type: ClusterType::Basic,
        topics: vec!["ledger".into()],
        region: Some(CHOSEN_REGION.into()),
    };
    let body = json!({ "spec": {
        "display_name": tenant.name,
        "availability": "SINGLE_ZONE",
        "config": { "kind": tenant.cluster_type },
        "environment": { "id": environment_id },
        "region": CHOSEN_REGION,
    }});
    let cluster = loop {
        if recorder.stopping() {
            return;
        }
        let answer = cloud.call("POST", "/cmk/v2/clusters", Some(body.to_string().into_bytes())).await.ok();
        log.attempts.lock().unwrap().push((recorder.now_ms(), answer.as_ref().map(|(status, _)| *status)));
        if let Some((201, bytes)) = answer {
            break serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default();
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let placed_at = recorder.now_ms();
    let id = cluster["id"].as_str().unwrap_or_default().to_string();
    let region = cluster["spec"]["region"].as_str().unwrap_or_default().to_string();
    audit.mutations.lock().unwrap().push(("cmk.cluster.created".into(), id.clone()));
    let written = write(&world, &machine, &cloud, &recorder, &audit, &tenant, &id, &cluster).await;
    *log.placed.lock().unwrap() = Some(Placed { at_ms: placed_at, cluster_id: id, region, written });
}

/// The cluster's application writes the run's canary to topic `ledger`.
#[allow(clippy::too_many_arguments)]
async fn write(
    world: &World,
    machine: &Machine,
    cloud: &HttpsClient,
    recorder: &Recorder,
    audit: &AccessLog,
    tenant: &TenantSpec,
    id: &str,
    cluster: &serde_json::Value,
) -> Result<(), String> {
    let bootstrap = cluster["spec"]["kafka_bootstrap_endpoint"].as_str().unwrap_or_default();
    let site = world.site_of_bootstrap(bootstrap).ok_or_else(|| format!("unknown bootstrap {bootstrap:?}"))?;
    let clusters = [(tenant.name.clone(), id.to_string())].into();
    let specs = [super::tenants::application(tenant)];
    let (accounts, mutations) = super::access::create_service_accounts(cloud, id, &clusters, &specs).await?;
    audit.mutations.lock().unwrap().extend(mutations);
    let key = &accounts[&specs[0].name].key;
    tokio::time::sleep(3 * broker::control_plane::link::PULL_INTERVAL).await;
    let (dialer, credentials) = world.client_with_key(machine, 31_000, key);
    let client = ClusterClient::new(dialer, credentials, world.endpoints_in(machine, 31_000, site));
    super::tenants::fill(client, &tenant.topics, &recorder.canary).await
}
