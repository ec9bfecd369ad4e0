//! The dev cluster's log store (C12): three replicas in the dev process, one per zone, on
//! 127.0.0.1-3:6514, their images in `DIR/log-store-<n>`. Their signing seeds and every
//! principal's token are in `DIR/log-store.secrets.json` (owner-only), written on first use.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::directory::{dev_nodes, random_secret, read, write_private, DevError};
use crate::log::FileDisk;
use crate::log_store::chain::{Signer, TrustedKeys, Verified};
use crate::log_store::server::{self, LogStore, LogStoreConfig, LogStoreServerConfig, Principal};
use crate::log_store::shipper::LogStoreLink;
use crate::log_store::{Role, LOG_STORE_PORT};
use crate::net::https_client::HttpsEndpoint;
use crate::planted_bugs::PlantedBugs;
use crate::security::tls::{client_config, os_crypto_provider, CertificateAuthority};

const SECRETS_FILE: &str = "log-store.secrets.json";

#[derive(Serialize, Deserialize)]
struct Secrets {
    /// Replica name to its hex Ed25519 seed.
    seeds: BTreeMap<String, String>,
    /// Principal to (token, role).
    principals: BTreeMap<String, (String, Role)>,
}

fn replicas() -> Vec<(String, HttpsEndpoint)> {
    dev_nodes()
        .into_iter()
        .map(|(id, _, ip)| {
            let endpoint =
                HttpsEndpoint { address: SocketAddr::new(ip, LOG_STORE_PORT), server_name: "localhost".into() };
            (format!("log-store-{id}"), endpoint)
        })
        .collect()
}

/// Every principal of the dev log store and its role.
fn principals() -> Vec<(String, Role)> {
    let mut principals: Vec<(String, Role)> = replicas().into_iter().map(|(name, _)| (name, Role::Replica)).collect();
    principals.extend(dev_nodes().into_iter().map(|(id, _, _)| (format!("broker-{id}"), Role::Source)));
    principals
        .extend(["control-plane", "kms", "staff-directory", "bastion"].map(|name| (name.to_string(), Role::Source)));
    principals.push(("auditor".into(), Role::Reader));
    principals.push(("detection".into(), Role::Reader));
    principals.push(("incident-desk".into(), Role::Source));
    principals.push(("custodian".into(), Role::Custodian));
    principals
}

/// Writes the secrets, or adds the principals an older directory's lack (by `init` only).
pub(super) fn init(dir: &Path) -> Result<(), DevError> {
    let path = dir.join(SECRETS_FILE);
    let mut secrets = if path.exists() {
        secrets(dir)?
    } else {
        let seeds = replicas()
            .into_iter()
            .map(|(name, _)| (name, format!("{}{}", random_secret(), random_secret())[..64].to_string()))
            .collect();
        Secrets { seeds, principals: BTreeMap::new() }
    };
    let before = secrets.principals.len();
    for (name, role) in principals() {
        secrets.principals.entry(name).or_insert_with(|| (random_secret(), role));
    }
    if !path.exists() || secrets.principals.len() != before {
        write_private(&path, &serde_json::to_string_pretty(&secrets).expect("JSON"))?;
    }
    Ok(())
}

fn secrets(dir: &Path) -> Result<Secrets, DevError> {
    let path = dir.join(SECRETS_FILE);
    serde_json::from_str(&read(&path)?).map_err(|error| DevError::LogStore(format!("{}: {error}", path.display())))
}

fn signer(secrets: &Secrets, name: &str) -> Result<Signer, DevError> {
    let bytes = crate::log_store::chain::unhex(&secrets.seeds[name])
        .ok_or_else(|| DevError::LogStore(format!("{name}'s seed is not hex")))?;
    let seed: [u8; 32] = bytes.try_into().map_err(|_| DevError::LogStore(format!("{name}'s seed is not 32 bytes")))?;
    Ok(Signer::from_seed(name, &seed))
}

fn trusted(secrets: &Secrets) -> Result<TrustedKeys, DevError> {
    secrets.seeds.keys().map(|name| Ok((name.clone(), signer(secrets, name)?.public_key()))).collect()
}

/// How `principal` (`broker-1`, ...) ships to the dev log store.
pub(crate) fn link_config(dir: &Path, principal: &str) -> Result<LogStoreLink, DevError> {
    let secrets = secrets(dir)?;
    let (token, _) =
        secrets.principals.get(principal).ok_or_else(|| DevError::LogStore(format!("no principal {principal}")))?;
    Ok(LogStoreLink {
        endpoints: replicas().into_iter().map(|(_, endpoint)| endpoint).collect(),
        principal: principal.into(),
        token: token.clone(),
    })
}

/// Starts the three replicas of an initialised `dir`.
pub async fn start(dir: &Path) -> Result<(), DevError> {
    let secrets = secrets(dir)?;
    let trusted = trusted(&secrets)?;
    let ca = CertificateAuthority::from_pem(&read(&dir.join("ca.pem"))?, &read(&dir.join("ca.key"))?)?;
    let crypto = os_crypto_provider();
    let tls = client_config(&ca.to_pem().0, &crypto)?;
    let principals: BTreeMap<String, Principal> = secrets
        .principals
        .iter()
        .map(|(name, (token, role))| {
            (name.clone(), Principal { token_hash: crate::net::api::token_hash(token), role: *role })
        })
        .collect();
    let replicas = replicas();
    for (name, endpoint) in &replicas {
        let data = dir.join(name);
        let disk = FileDisk::open(&data).map_err(|source| DevError::File { path: data.clone(), source })?;
        let config = LogStoreConfig {
            name: name.clone(),
            life: super::directory::life_id(),
            principals: principals.clone(),
            trusted: trusted.clone(),
            bugs: PlantedBugs::none(),
        };
        let store = LogStore::open(config, signer(&secrets, name)?, Arc::new(disk));
        let ip = endpoint.address.ip();
        let server_config = LogStoreServerConfig {
            listen_ip: ip,
            tls: ca.issue(&["localhost".to_string()], &[ip], None)?,
            crypto: crypto.clone(),
        };
        server::start(server_config, store.clone()).await.map_err(DevError::LogStore)?;
        let token = &secrets.principals[name].0;
        let (peers, alarm) = server::peer_links(name, token, &replicas, tls.clone(), crate::net::tcp_dialer());
        tokio::spawn(store.maintain_forever(peers, alarm));
    }
    Ok(())
}

/// A replica's name and what its image verified to.
pub type ReplicaVerdict = (String, Result<Verified, crate::log_store::chain::ChainError>);

/// Verifies every replica's image in `dir` (stop the cluster first: a live image may end in a
/// line being written).
pub fn verify(dir: &Path) -> Result<Vec<ReplicaVerdict>, DevError> {
    let secrets = secrets(dir)?;
    let trusted = trusted(&secrets)?;
    replicas()
        .into_iter()
        .map(|(name, _)| {
            let data = dir.join(&name);
            let disk = FileDisk::open(&data).map_err(|source| DevError::File { path: data.clone(), source })?;
            Ok((name, crate::log_store::chain::verify(&disk, &trusted)))
        })
        .collect()
}
