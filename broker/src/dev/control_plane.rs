//! The dev cluster's control plane: bootstrapped once by `broker init` (an organization admin,
//! an environment, a Standard cluster, a service account with ACLs and its keys, written next
//! to `client.properties`), then served on 127.0.0.1:443 by `broker dev` or
//! `broker control-plane`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use ring::signature::KeyPair;

use super::directory::{
    dev_nodes, life_id, random_secret, read, write_private, DevError, BCRYPT_COST, COMPLETE_MARKER,
};
use crate::control_plane::identity::ApiKeyScope;
use crate::control_plane::link::ControlPlaneLinkConfig;
use crate::control_plane::model::{Availability, ClusterType, Networking, PhysicalCluster};
use crate::control_plane::server::{ControlPlaneServer, ControlPlaneServerConfig, CONTROL_PLANE_PORT};
use crate::control_plane::state::{Caller, ClusterRequest, ControlPlane, ControlPlaneConfig, Records};
use crate::log::{Disk, FileDisk};
use crate::net::https_client::HttpsEndpoint;
use crate::net::tcp_dialer;
use crate::node::BROKER_PORT;
use crate::planted_bugs::PlantedBugs;
use crate::security::acl::allow_everything;
use crate::security::sasl::CredentialStore;
use crate::security::secrets::SecretHash;
use crate::security::tls::{os_crypto_provider, CertificateAuthority};

const CONTROL_PLANE_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const PHYSICAL_CLUSTER_ID: &str = "pkc-dev";
const IDP_ISSUER: &str = "faultline-dev-idp";
/// The dev cluster's one region (the DNS zone names it too).
const REGION: &str = "dev";

fn bootstrap_servers() -> String {
    dev_nodes().iter().map(|(_, _, ip)| format!("{ip}:{BROKER_PORT}")).collect::<Vec<_>>().join(",")
}

fn physical_clusters(dir: &Path) -> Result<Vec<PhysicalCluster>, DevError> {
    let bootstrap = bootstrap_servers();
    let cluster_id = read(&dir.join("cluster.id"))?.trim().to_string();
    Ok(vec![PhysicalCluster {
        id: PHYSICAL_CLUSTER_ID.into(),
        region: REGION.into(),
        zone_count: 3,
        bootstrap,
        key_principal: crate::kms::broker_principal(&cluster_id),
    }])
}

/// Where brokers pull from.
pub(crate) fn link_config() -> ControlPlaneLinkConfig {
    ControlPlaneLinkConfig {
        endpoint: HttpsEndpoint {
            address: SocketAddr::new(CONTROL_PLANE_IP, CONTROL_PLANE_PORT),
            server_name: "localhost".into(),
        },
        physical_cluster_id: PHYSICAL_CLUSTER_ID.into(),
    }
}

fn idp_key(dir: &Path) -> Result<ring::signature::Ed25519KeyPair, DevError> {
    let pkcs8 =
        std::fs::read(dir.join("idp.key")).map_err(|source| DevError::File { path: dir.join("idp.key"), source })?;
    ring::signature::Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| DevError::NotInitialised(dir.display().to_string()))
}

fn plane_config(dir: &Path) -> Result<ControlPlaneConfig, DevError> {
    let credentials = CredentialStore::parse(&read(&dir.join("credentials"))?)?;
    let broker_keys: BTreeMap<String, SecretHash> = credentials.broker_keys().into_iter().collect();
    Ok(ControlPlaneConfig {
        organization_id: read(&dir.join("organization.id"))?.trim().to_string(),
        physical_clusters: physical_clusters(dir)?,
        bcrypt_cost: BCRYPT_COST,
        idp_issuer: IDP_ISSUER.into(),
        idp_public_key: idp_key(dir)?.public_key().as_ref().to_vec(),
        broker_keys,
        bugs: PlantedBugs::none(),
    })
}

/// Creates the identity provider's key and the organization: admin, environment, Standard
/// cluster, service account `dev-app` (allowed everything on its cluster by ACLs) with a
/// cluster key (into `client.properties`), and a cloud key for the admin (into `cloud.env`).
pub(super) fn bootstrap(dir: &Path, ca_path: &Path) -> Result<(), DevError> {
    #[allow(clippy::disallowed_methods, reason = "a real identity provider key must be unpredictable")]
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .map_err(|_| DevError::Random)?;
    std::fs::write(dir.join("idp.key"), pkcs8.as_ref())
        .map_err(|source| DevError::File { path: dir.join("idp.key"), source })?;
    write_private(&dir.join("organization.id"), &format!("org-{}", &random_secret()[..8]))?;
    let now = crate::net::http::wall_clock_ms();
    let mut plane = ControlPlane::new(plane_config(dir)?, Records::default(), super::os());
    let admin_password = random_secret();
    let admin = plane.bootstrap_admin("admin@localhost", "Dev Admin", Some(&admin_password), now)?;
    let admin = Caller::User { id: admin.id, organization_admin: true };
    let environment = plane.create_environment(&admin, "dev", now)?;
    let cluster = plane.create_cluster(
        &admin,
        ClusterRequest {
            display_name: "dev".into(),
            environment_id: environment.id.clone(),
            cluster_type: ClusterType::Standard,
            availability: Availability::MultiZone,
            networking: Networking::Public,
            network_id: None,
            region: REGION.into(),
            encryption_key: None,
        },
        now,
    )?;
    let account = plane.create_service_account(&admin, "dev-app", "the dev cluster's application", now)?;
    let bindings = allow_everything(&format!("User:{}", account.id));
    plane.create_acls(&admin, admin.principal(), &cluster.id, bindings, now)?;
    let app_key =
        plane.create_api_key(&admin, &account.id, ApiKeyScope::Cluster(cluster.id.clone()), "dev-app", now)?;
    let Caller::User { id: admin_id, .. } = &admin else { unreachable!("bootstrapped as a user") };
    let cloud_key = plane.create_api_key(&admin, admin_id, ApiKeyScope::Cloud, "dev admin", now)?;
    let disk = FileDisk::open(dir.join("control-plane"))
        .map_err(|source| DevError::File { path: dir.join("control-plane"), source })?;
    let records = serde_json::to_vec(plane.records()).expect("records serialize");
    disk.replace_durably(crate::control_plane::server::RECORDS_FILE, &records)
        .map_err(|source| DevError::File { path: dir.join("control-plane"), source })?;
    FileDisk::open(dir.join("backup-zone"))
        .and_then(|backup| crate::control_plane::backup::write_continuous(&backup, &records))
        .map_err(|source| DevError::File { path: dir.join("backup-zone"), source })?;
    // The secrets are shown once, here, at creation (C15); the control plane keeps hashes.
    write_private(&dir.join("admin.password"), &format!("{admin_password}\n"))?;
    write_private(
        &dir.join("cloud.env"),
        &format!(
            "CLOUD_API_KEY={}\nCLOUD_API_SECRET={}\nENVIRONMENT_ID={}\nCLUSTER_ID={}\nCONTROL_PLANE=https://localhost:{CONTROL_PLANE_PORT}\nCA={}\n",
            cloud_key.key.id,
            cloud_key.secret,
            environment.id,
            cluster.id,
            ca_path.display()
        ),
    )?;
    write_private(&dir.join("client.properties"), &client_properties(&app_key.key.id, &app_key.secret, ca_path))
}

/// A librdkafka-style properties file for a key (kcat `-F`, and our Python clients).
pub(super) fn client_properties(key: &str, secret: &str, ca_path: &Path) -> String {
    let bootstrap = bootstrap_servers();
    format!(
        "bootstrap.servers={bootstrap}\nsecurity.protocol=SASL_SSL\nsasl.mechanisms=PLAIN\nsasl.username={key}\nsasl.password={secret}\nssl.ca.location={}\n",
        ca_path.display()
    )
}

/// A signed assertion of the dev identity provider for `email`, valid for five minutes.
pub fn sso_assertion(dir: &Path, email: &str) -> Result<String, DevError> {
    let now_s = crate::net::http::wall_clock_ms() / 1000;
    let claims = crate::control_plane::identity::AssertionClaims {
        iss: IDP_ISSUER.into(),
        sub: email.into(),
        aud: crate::control_plane::identity::ASSERTION_AUDIENCE.into(),
        iat: now_s,
        exp: now_s + 300,
        jti: random_secret(),
    };
    Ok(crate::control_plane::identity::sign_assertion(&claims, &idp_key(dir)?))
}

/// Serves the control plane of an initialised `dir` on 127.0.0.1:443.
pub async fn start(dir: &Path) -> Result<Arc<ControlPlaneServer>, DevError> {
    if !dir.join(COMPLETE_MARKER).exists() {
        return Err(DevError::NotInitialised(dir.display().to_string()));
    }
    let ca = CertificateAuthority::from_pem(&read(&dir.join("ca.pem"))?, &read(&dir.join("ca.key"))?)?;
    let tls = ca.issue(&["localhost".to_string()], &[CONTROL_PLANE_IP], None)?;
    let disk = FileDisk::open(dir.join("control-plane"))
        .map_err(|source| DevError::File { path: dir.join("control-plane"), source })?;
    let broker_addresses = dev_nodes().iter().map(|(_, _, ip)| SocketAddr::new(*ip, BROKER_PORT)).collect();
    let config = ControlPlaneServerConfig {
        listen_ip: CONTROL_PLANE_IP,
        tls,
        crypto: os_crypto_provider(),
        plane: plane_config(dir)?,
        random: super::os(),
        dialer: tcp_dialer(),
        broker_addresses,
        bugs: PlantedBugs::none(),
        log_store: Some(crate::log_store::shipper::ShippingConfig {
            link: super::log_store::link_config(dir, "control-plane")?,
            dialer: tcp_dialer(),
            life: life_id(),
        }),
        desk: Some(super::incidents::desk(dir)?),
        // In the dev cluster "another zone" is another directory; a real deployment mounts
        // storage of another zone here.
        backup_disk: Arc::new(
            FileDisk::open(dir.join("backup-zone"))
                .map_err(|source| DevError::File { path: dir.join("backup-zone"), source })?,
        ),
    };
    Ok(ControlPlaneServer::start(config, Arc::new(disk)).await?)
}
