//! A region's key service (C08, C09): a frontend machine per zone, all serving one key store
//! (the provider's regional backend: a zone outage takes a frontend down, never the keys).
//! Brokers reach it over TLS through the fabric like any service, so cuts, outages and latency
//! apply to it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use broker::kms::server::{token_hash, KeyService, KmsServer, KmsServerConfig};
use broker::log::MemoryDisk;
use broker::planted_bugs::PlantedBugs;
use madsim::runtime::Handle;

use super::sites::{broker_principal, KeyServiceSite, Shared, Site, BROKER_TOKEN};
use super::Machine;
use crate::seeded::tls::seeded_crypto_provider;
use crate::seeds::{self, Stream};

/// The customer's principal at the key service, and the service's own (it checks grants).
pub(super) const CUSTOMER_PRINCIPAL: &str = "customer:org-sim";
pub(super) const CUSTOMER_TOKEN: &str = "kms-customer-token";
const CONTROL_PLANE_PRINCIPAL: &str = "service:control-plane";
const CONTROL_PLANE_TOKEN: &str = "kms-control-plane-token";

/// `site`'s key store (the provider's regional backend). Identities are global, as a cloud's
/// are: every region's broker cluster may call it; only configuration sends each to its own.
pub(super) fn open_store(seed: u64, site: &'static Site, bugs: PlantedBugs) -> Arc<KeyService> {
    let brokers = [&super::CHOSEN_SITE, &super::OTHER_SITE]
        .map(|site| (broker_principal(&site.cluster_id(seed)), token_hash(BROKER_TOKEN)));
    let principals = BTreeMap::from_iter(brokers.into_iter().chain([
        (CUSTOMER_PRINCIPAL.to_string(), token_hash(CUSTOMER_TOKEN)),
        (CONTROL_PLANE_PRINCIPAL.to_string(), token_hash(CONTROL_PLANE_TOKEN)),
    ]));
    let store = crate::seeded::generator(seeds::derive(seed, Stream::Kms, site.seed_base));
    KeyService::open(site.region, principals, store, Arc::new(MemoryDisk::new()), bugs)
        .expect("an empty memory disk holds no key records")
}

/// Calls the key service as `principal` would through its API (`POST /v1/<action>`), at the
/// provider's console: no frontend is involved.
pub(super) fn call(
    service: &KeyService,
    principal: &str,
    token: &str,
    action: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, String> {
    use base64::Engine;
    use broker::net::api::ApiRequest;
    use broker::net::http::Responder;
    let authorization =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{principal}:{token}")));
    let body = serde_json::to_vec(&body).expect("JSON");
    let path = format!("/v1/{action}");
    let response = service.respond(&ApiRequest {
        method: "POST",
        path: &path,
        query: "",
        authorization: Some(&authorization),
        body: &body,
    });
    let value: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
    if response.status == 200 {
        Ok(value)
    } else {
        Err(format!("{} {}", response.status, value["detail"].as_str().unwrap_or_default()))
    }
}

/// Starts `site`'s key-service frontends over `service`.
pub(super) fn start(shared: &Shared, site: &'static Site, service: Arc<KeyService>) -> KeyServiceSite {
    let handle = Handle::current();
    let seed = shared.seed;
    let mut machines = Vec::new();
    for &(name, zone, address) in site.kms_servers {
        let ip = IpAddr::V4(address);
        let material = shared
            .ca
            .issue(
                &[ip.to_string()],
                &[ip],
                Some(&mut crate::seeded::leaf_key(seeds::derive(
                    seed,
                    Stream::Kms,
                    100 + site.seed_base + zone as u64,
                ))),
            )
            .expect("seeded key-service certificate");
        let lives = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let service = service.clone();
        // Only the customer's region ships to the log store (C12).
        let (log_store, dialer) = (shared.log_store && site.region == super::CHOSEN_SITE.region, shared.dialer(name));
        let init = move || {
            let life = lives.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let config = KmsServerConfig {
                listen_ip: ip,
                tls: material.clone(),
                crypto: seeded_crypto_provider(seeds::derive(seed, Stream::Kms, 1_000 + ((life << 8) | zone as u64))),
                log_store: log_store.then(|| broker::log_store::shipper::ShippingConfig {
                    link: super::security_addresses::link(name),
                    dialer: dialer.clone(),
                    life: life.to_string(),
                }),
            };
            let service = service.clone();
            async move {
                KmsServer::start(config, service.clone()).await.expect("a simulated key-service frontend binds");
                // Scheduled deletions run in the store; the first zone's frontend carries them out.
                if zone == 0 {
                    tokio::spawn(service.delete_due_keys_forever());
                }
                std::future::pending::<()>().await;
            }
        };
        let node = handle.create_node().name(name).ip(ip).init(init).build();
        machines.push(Machine { name: name.into(), ip, zone: Some(site.zones[zone]), id: node.id() });
    }
    KeyServiceSite { machines, service }
}

/// The customer at the console of `0`'s key service.
pub(super) struct Console<'a>(pub &'a KeyService);

impl super::control_plane::CustomerKeys for Console<'_> {
    fn create_key(&self) -> String {
        let created = call(self.0, CUSTOMER_PRINCIPAL, CUSTOMER_TOKEN, "CreateKey", serde_json::json!({}))
            .expect("the customer makes a key");
        created["id"].as_str().expect("a key id").to_string()
    }

    fn grant_and_confirm(&self, key: &str, grantee: &str) {
        let grant = serde_json::json!({ "key_id": key, "grantee": grantee });
        call(self.0, CUSTOMER_PRINCIPAL, CUSTOMER_TOKEN, "CreateGrant", grant.clone()).expect("the customer grants");
        call(self.0, CONTROL_PLANE_PRINCIPAL, CONTROL_PLANE_TOKEN, "CheckGrant", grant).expect("the grant is there");
    }
}
