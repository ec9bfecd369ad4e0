//! The world's control plane (C14): its own machine in its own network (10.2.0.1), serving
//! HTTPS on 443, bootstrapped before the run with an organization the harness owns: an admin
//! (whose cloud key the harness drives the REST API with), an environment, a Standard cluster
//! on the three brokers (or, with a `[network]`, a Dedicated cluster with private networking in
//! a cluster network peered with the customer VPC), and the workload's service account with its
//! ACLs and cluster key.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use broker::control_plane::identity::ApiKeyScope;
use broker::control_plane::model::{Availability, ClusterType, Networking, PhysicalCluster};
use broker::control_plane::state::{Caller, ClusterRequest, ControlPlane, ControlPlaneConfig, NetworkRequest, Records};
use broker::security::acl::allow_everything;
use broker::security::secrets::SecretHash;
use ring::signature::KeyPair;

use crate::seeds::{self, Stream};

pub const CONTROL_PLANE_NAME: &str = "control-plane";
pub const CONTROL_PLANE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1));
pub const PHYSICAL_CLUSTER_ID: &str = "pkc-sim";
/// The customer's VPC that reaches the cluster over PrivateLink, as its cloud names it.
pub const PRIVATE_LINK_VPC_ID: &str = "vpc-privatelink";
/// The customer's transit gateway.
pub const TRANSIT_GATEWAY_ID: &str = "tgw-customer";
pub const IDP_ISSUER: &str = "faultline-sim-idp";
/// bcrypt's cheapest cost: the simulation verifies on real CPU.
pub const BCRYPT_COST: u32 = 4;

/// What the harness holds after bootstrapping: the secrets were shown to it once, at creation.
#[derive(Debug, Clone)]
pub struct Organization {
    pub environment_id: String,
    pub cluster_id: String,
    pub admin_user_id: String,
    /// The admin's cloud API key (id, secret): the harness's REST identity.
    pub cloud_key: (String, String),
    /// The workload's cluster key (id, secret), allowed everything on the cluster by ACLs.
    pub workload_key: (String, String),
    /// The master key of the cluster's data: the customer's own (BYOK), or the alias of the
    /// one the service keeps for it.
    pub master_key: String,
    /// Whether `master_key` is the customer's (C09).
    pub byok: bool,
}

/// The customer at its key service's console (bring your own key, C09).
pub trait CustomerKeys {
    /// Makes a key the customer owns; returns its id.
    fn create_key(&self) -> String;
    /// Grants `grantee` use of `key`, and has the service confirm the grant (`CheckGrant`).
    fn grant_and_confirm(&self, key: &str, grantee: &str);
}

/// The identity provider the harness plays (Ed25519 from the seed).
pub fn identity_provider(seed: u64) -> ring::signature::Ed25519KeyPair {
    let mut bytes = [0u8; 32];
    for (index, chunk) in bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&seeds::derive(seed, Stream::ControlPlane, 1_000 + index as u64).to_le_bytes());
    }
    ring::signature::Ed25519KeyPair::from_seed_unchecked(&bytes).expect("32 bytes make a key")
}

/// The control plane's configuration: one physical cluster per region of the world.
pub fn config(
    seed: u64,
    sites: &[&super::Site],
    broker_keys: Vec<(String, SecretHash)>,
    bugs: broker::planted_bugs::PlantedBugs,
) -> ControlPlaneConfig {
    ControlPlaneConfig {
        organization_id: "org-sim".into(),
        physical_clusters: sites
            .iter()
            .map(|site| PhysicalCluster {
                id: site.physical_cluster_id.into(),
                region: site.region.into(),
                zone_count: 3,
                bootstrap: site.bootstrap(),
                key_principal: site.key_principal(seed),
            })
            .collect(),
        bcrypt_cost: BCRYPT_COST,
        idp_issuer: IDP_ISSUER.into(),
        idp_public_key: identity_provider(seed).public_key().as_ref().to_vec(),
        broker_keys: broker_keys.into_iter().collect::<BTreeMap<_, _>>(),
        bugs,
    }
}

/// The organization's records before the first run step, and the secrets the harness keeps.
/// With `byok`, the customer first makes its own key at the key service and grants the
/// brokers' principal; the control plane has the grant confirmed before it creates the
/// (then Dedicated) cluster under that key (C09).
pub fn bootstrap(
    seed: u64,
    config: ControlPlaneConfig,
    network: Option<&crate::scenario::NetworkSpec>,
    byok: Option<&dyn CustomerKeys>,
    now_ms: u64,
) -> (Records, Organization) {
    let mut plane = ControlPlane::new(
        config,
        Records::default(),
        crate::seeded::generator(seeds::derive(seed, Stream::ControlPlane, 0)),
    );
    let admin = plane.bootstrap_admin("admin@sim", "Harness Admin", None, now_ms).expect("a fresh organization");
    let admin_user_id = admin.id.clone();
    let admin = Caller::User { id: admin.id, organization_admin: true };
    let environment = plane.create_environment(&admin, "sim", now_ms).expect("environment");
    let environment_id = environment.id.clone();
    let request = match network {
        None => ClusterRequest {
            display_name: "orders".into(),
            environment_id: environment.id,
            cluster_type: if byok.is_some() { ClusterType::Dedicated } else { ClusterType::Standard },
            availability: Availability::MultiZone,
            networking: Networking::Public,
            network_id: None,
            region: super::CHOSEN_REGION.into(),
            encryption_key: None,
        },
        Some(spec) => {
            let created = plane
                .create_network(
                    &admin,
                    NetworkRequest {
                        display_name: "cluster-network".into(),
                        environment_id: environment.id.clone(),
                        cidr: spec.cidr,
                        connection_types: spec.connection_types.clone(),
                    },
                    now_ms,
                )
                .expect("the scenario's network was validated");
            let customer = crate::scenario::CUSTOMER_VPC.parse().expect("a literal range");
            plane
                .create_peering(&admin, &created.id, "customer-vpc", vec![customer], now_ms)
                .expect("the customer VPC does not overlap the validated network");
            use broker::control_plane::network::ConnectionType;
            if spec.connection_types.contains(&ConnectionType::PrivateLink) {
                plane
                    .create_private_link_access(&admin, &created.id, "endpoints", PRIVATE_LINK_VPC_ID, now_ms)
                    .expect("the network offers PrivateLink");
            }
            if spec.connection_types.contains(&ConnectionType::TransitGateway) {
                let behind = crate::scenario::TRANSIT_GATEWAY_VPC.parse().expect("a literal range");
                plane
                    .create_transit_gateway_attachment(
                        &admin,
                        &created.id,
                        "hub",
                        TRANSIT_GATEWAY_ID,
                        vec![behind],
                        now_ms,
                    )
                    .expect("the transit gateway's range does not overlap the validated network");
            }
            ClusterRequest {
                display_name: "orders".into(),
                environment_id: environment.id,
                cluster_type: ClusterType::Dedicated,
                availability: Availability::MultiZone,
                networking: Networking::Private,
                network_id: Some(created.id),
                region: super::CHOSEN_REGION.into(),
                encryption_key: None,
            }
        }
    };
    let mut request = request;
    if let Some(customer) = byok {
        let key = customer.create_key();
        request.encryption_key = Some(key.clone());
        let (_, grantee) = plane
            .key_grantee(&admin, &request, now_ms)
            .expect("a Dedicated request")
            .expect("a request with the customer's key");
        customer.grant_and_confirm(&key, &grantee);
        plane.note_key_checked(&key, &grantee, now_ms);
    }
    let cluster = plane.create_cluster(&admin, request, now_ms).expect("the cluster fits the simulated brokers");
    let byok = cluster.encryption_key.is_some();
    let master_key = cluster.encryption_key.clone().unwrap_or_else(|| broker::kms::tenant_key_alias(&cluster.id));
    let account = plane.create_service_account(&admin, "workload", "the harness's workload", now_ms).expect("account");
    let bindings = allow_everything(&format!("User:{}", account.id));
    plane.create_acls(&admin, admin.principal(), &cluster.id, bindings, now_ms).expect("ACLs");
    let workload = plane
        .create_api_key(&admin, &account.id, ApiKeyScope::Cluster(cluster.id.clone()), "workload", now_ms)
        .expect("workload key");
    let cloud = plane.create_api_key(&admin, &admin_user_id, ApiKeyScope::Cloud, "harness", now_ms).expect("cloud key");
    let organization = Organization {
        environment_id,
        cluster_id: cluster.id,
        admin_user_id,
        cloud_key: (cloud.key.id, cloud.secret),
        workload_key: (workload.key.id, workload.secret),
        master_key,
        byok,
    };
    (plane.records().clone(), organization)
}

pub fn address() -> SocketAddr {
    SocketAddr::new(CONTROL_PLANE_IP, broker::control_plane::server::CONTROL_PLANE_PORT)
}
