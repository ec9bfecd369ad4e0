//! The dev cluster's operator access (C10): the staff directory on 127.0.0.5:443 and one bastion
//! on 127.0.0.6:443 (the only address the brokers accept the bastion's key from), the
//! directory's records in `DIR/staff`, the tokens and the bastion's key in
//! `DIR/staff.secrets.json` (owner-only).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::directory::{dev_nodes, life_id, random_secret, read, write_private, DevError, BCRYPT_COST};
use crate::client::ClientCredentials;
use crate::log::FileDisk;
use crate::log_store::shipper::SecurityEvents;
use crate::net::https_client::{HttpsClient, HttpsEndpoint};
use crate::net::tcp_dialer;
use crate::node::BROKER_PORT;
use crate::operators::bastion::{Bastion, BastionConfig};
use crate::operators::directory::{Caller, StaffDirectory};
use crate::operators::{BASTION_API_KEY, OPERATOR_PORT};
use crate::planted_bugs::PlantedBugs;
use crate::security::sasl::{CredentialStore, Role};
use crate::security::tls::{client_config, os_crypto_provider, CertificateAuthority};

const DIRECTORY_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 5);
const BASTION_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 6);
/// The brokers accept the bastion's key from here only.
pub(super) const BASTION_SOURCE: &str = "127.0.0.6/32";
const SECRETS_FILE: &str = "staff.secrets.json";

#[derive(Serialize, Deserialize)]
struct Secrets {
    admin_token: String,
    bastion_token: String,
    bastion_key_secret: String,
}

/// Adds the bastion's key to the brokers' credentials and writes the staff secrets (by `init`).
pub(super) fn init(dir: &Path, credentials: &mut CredentialStore) -> Result<(), DevError> {
    let secrets =
        Secrets { admin_token: random_secret(), bastion_token: random_secret(), bastion_key_secret: random_secret() };
    credentials.add(BASTION_API_KEY, &secrets.bastion_key_secret, Role::Client, BCRYPT_COST, None)?;
    write_private(&dir.join(SECRETS_FILE), &serde_json::to_string_pretty(&secrets).expect("JSON"))
}

/// A directory made before operator access: the bastion's key and the staff secrets (by `init`).
pub(super) fn upgrade(dir: &Path) -> Result<(), DevError> {
    if dir.join(SECRETS_FILE).exists() {
        return Ok(());
    }
    let mut credentials = CredentialStore::parse(&read(&dir.join("credentials"))?)?;
    init(dir, &mut credentials)?;
    write_private(&dir.join("credentials"), &credentials.render())
}

/// Starts the directory and the bastion of an initialised `dir`.
pub async fn start(dir: &Path) -> Result<(), DevError> {
    let path = dir.join(SECRETS_FILE);
    let secrets: Secrets =
        serde_json::from_str(&read(&path)?).map_err(|e| DevError::LogStore(format!("{}: {e}", path.display())))?;
    let ca = CertificateAuthority::from_pem(&read(&dir.join("ca.pem"))?, &read(&dir.join("ca.key"))?)?;
    let crypto = os_crypto_provider();
    let tls = client_config(&ca.to_pem().0, &crypto)?;
    let principals = BTreeMap::from([
        ("security-admin".to_string(), (crate::net::api::token_hash(&secrets.admin_token), Caller::Admin)),
        ("bastion".to_string(), (crate::net::api::token_hash(&secrets.bastion_token), Caller::Bastion)),
    ]);
    let data = dir.join("staff");
    let disk = FileDisk::open(&data).map_err(|source| DevError::File { path: data.clone(), source })?;
    let life = life_id();
    let events = |principal: &str| -> Result<SecurityEvents, DevError> {
        let link = super::log_store::link_config(dir, principal)?;
        Ok(SecurityEvents::start(&link, &life, tls.clone(), tcp_dialer()))
    };
    let directory =
        StaffDirectory::open(Arc::new(disk), principals, events("staff-directory")?, super::os(), BCRYPT_COST)
            .map_err(|source| DevError::File { path: data, source })?;
    let serve = |ip: Ipv4Addr| {
        let ip = IpAddr::V4(ip);
        ca.issue(&["localhost".to_string()], &[ip], None).map(|material| (SocketAddr::new(ip, OPERATOR_PORT), material))
    };
    let (address, material) = serve(DIRECTORY_IP)?;
    crate::net::http::bind_https(
        address,
        crate::security::tls::acceptor(&material, &crypto)?,
        directory,
        "staff directory",
    )
    .await
    .map_err(DevError::LogStore)?;
    let directory_endpoint = HttpsEndpoint { address, server_name: "localhost".into() };
    let config = BastionConfig {
        name: "bastion".into(),
        directory: HttpsClient::new(directory_endpoint, tls.clone(), tcp_dialer(), "bastion", &secrets.bastion_token),
        brokers: dev_nodes()
            .into_iter()
            .map(|(_, _, ip)| (SocketAddr::new(ip, BROKER_PORT), "localhost".into()))
            .collect(),
        credentials: ClientCredentials {
            tls: tls.clone(),
            api_key: BASTION_API_KEY.into(),
            secret: secrets.bastion_key_secret.clone(),
        },
        dialer: crate::net::bind_dialer(IpAddr::V4(BASTION_IP)),
        events: events("bastion")?,
        bugs: PlantedBugs::none(),
    };
    let bastion = Bastion::new(config, super::os());
    let (address, material) = serve(BASTION_IP)?;
    crate::net::http::bind_https(
        address,
        crate::security::tls::acceptor(&material, &crypto)?,
        bastion.clone(),
        "bastion",
    )
    .await
    .map_err(DevError::LogStore)?;
    tokio::spawn(bastion.revalidate_forever());
    Ok(())
}
