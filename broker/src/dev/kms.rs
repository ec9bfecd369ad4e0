//! The dev cluster's key service: its own process (`broker kms`, or started by `broker dev`)
//! on 127.0.0.4:443, its keys in `DIR/kms`, the brokers' principal and token written by `init`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use super::directory::{random_secret, read, write_private, DevError, COMPLETE_MARKER};
use crate::kms::broker_principal;
use crate::kms::client::KmsLinkConfig;
use crate::kms::server::{token_hash, KeyService, KmsServer, KmsServerConfig, KMS_PORT};
use crate::log::FileDisk;
use crate::net::https_client::HttpsEndpoint;
use crate::planted_bugs::PlantedBugs;
use crate::security::tls::{os_crypto_provider, CertificateAuthority};

const KMS_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4));
const BROKER_TOKEN_FILE: &str = "kms-broker.token";

/// Writes the brokers' token (once, by `init`).
pub(super) fn init(dir: &Path) -> Result<(), DevError> {
    write_private(&dir.join(BROKER_TOKEN_FILE), &random_secret())
}

/// How a dev broker reaches the key service.
pub(super) fn link_config(dir: &Path, cluster_id: &str) -> Result<KmsLinkConfig, DevError> {
    Ok(KmsLinkConfig {
        endpoints: vec![HttpsEndpoint { address: SocketAddr::new(KMS_IP, KMS_PORT), server_name: "localhost".into() }],
        principal: broker_principal(cluster_id),
        token: read(&dir.join(BROKER_TOKEN_FILE))?.trim().to_string(),
    })
}

/// Serves the key service of an initialised `dir` on 127.0.0.4:443.
pub async fn start(dir: &Path) -> Result<KmsServer, DevError> {
    if !dir.join(COMPLETE_MARKER).exists() {
        return Err(DevError::NotInitialised(dir.display().to_string()));
    }
    let ca = CertificateAuthority::from_pem(&read(&dir.join("ca.pem"))?, &read(&dir.join("ca.key"))?)?;
    let cluster_id = read(&dir.join("cluster.id"))?.trim().to_string();
    let token = read(&dir.join(BROKER_TOKEN_FILE))?;
    let principals = BTreeMap::from([(broker_principal(&cluster_id), token_hash(token.trim()))]);
    let config = KmsServerConfig {
        listen_ip: KMS_IP,
        tls: ca.issue(&["localhost".to_string()], &[KMS_IP], None)?,
        crypto: os_crypto_provider(),
        log_store: Some(crate::log_store::shipper::ShippingConfig {
            link: super::log_store::link_config(dir, "kms")?,
            dialer: crate::net::tcp_dialer(),
            life: super::directory::life_id(),
        }),
    };
    let disk = FileDisk::open(dir.join("kms")).map_err(|source| DevError::File { path: dir.join("kms"), source })?;
    let failed = |error: crate::kms::server::KmsServerError| DevError::KeyService(error.to_string());
    let service =
        KeyService::open("dev", principals, super::os(), Arc::new(disk), PlantedBugs::none()).map_err(failed)?;
    tokio::spawn(service.clone().delete_due_keys_forever());
    KmsServer::start(config, service).await.map_err(failed)
}
