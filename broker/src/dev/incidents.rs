//! The dev cluster's security operations (C23): the incident desk, served by the control plane
//! under `/v1/incidents` (its records in `DIR/incidents`, its written notices in the mail spool
//! `DIR/mail/notices`), and the detection pipeline reading the dev log store. The tokens of
//! detection, the on-call responder and the customer's security contact are in
//! `DIR/incidents.secrets.json` (owner-only).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::directory::{life_id, random_secret, read, write_private, DevError};
use crate::detection::pipeline::{self, PipelineConfig};
use crate::incidents::calendar::Calendar;
use crate::incidents::desk::{Caller, Desk, DeskConfig, NoticeChannel};
use crate::log::FileDisk;
use crate::log_store::shipper::SecurityEvents;
use crate::net::api::token_hash;
use crate::net::https_client::{HttpsClient, HttpsEndpoint};
use crate::net::tcp_dialer;
use crate::planted_bugs::PlantedBugs;
use crate::security::tls::{client_config, os_crypto_provider};

const SECRETS_FILE: &str = "incidents.secrets.json";
/// The on-call responder's principal at the desk.
pub(super) const RESPONDER: &str = "security-on-call";
pub(super) const DETECTION: &str = "detection";
/// The customer's registered security contact.
pub(super) const CONTACT: &str = "security@customer.example";
const CONTROL_PLANE: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 443);

#[derive(Serialize, Deserialize)]
struct Secrets {
    detection_token: String,
    responder_token: String,
    contact_token: String,
}

/// Writes the tokens (by `init`, and for a directory made before the desk).
pub(super) fn init(dir: &Path) -> Result<(), DevError> {
    if dir.join(SECRETS_FILE).exists() {
        return Ok(());
    }
    let secrets =
        Secrets { detection_token: random_secret(), responder_token: random_secret(), contact_token: random_secret() };
    write_private(&dir.join(SECRETS_FILE), &serde_json::to_string_pretty(&secrets).expect("JSON"))
}

fn secrets(dir: &Path) -> Result<Secrets, DevError> {
    let path = dir.join(SECRETS_FILE);
    serde_json::from_str(&read(&path)?).map_err(|e| DevError::Incidents(format!("{}: {e}", path.display())))
}

fn file_disk(dir: &Path, name: &str) -> Result<FileDisk, DevError> {
    FileDisk::open(dir.join(name)).map_err(|source| DevError::File { path: dir.join(name), source })
}

/// The desk of an initialised `dir`, running (the control plane serves its API).
pub(super) fn desk(dir: &Path) -> Result<Arc<Desk>, DevError> {
    let secrets = secrets(dir)?;
    let principals = BTreeMap::from([
        (DETECTION.to_string(), (token_hash(&secrets.detection_token), Caller::Detection)),
        (RESPONDER.to_string(), (token_hash(&secrets.responder_token), Caller::Responder)),
        (CONTACT.to_string(), (token_hash(&secrets.contact_token), Caller::Contact)),
    ]);
    let tls = client_config(&read(&dir.join("ca.pem"))?, &os_crypto_provider())?;
    let link = super::log_store::link_config(dir, "incident-desk")?;
    let config = DeskConfig {
        principals,
        rota: vec![RESPONDER.into()],
        calendar: Calendar::utc(),
        // No pager in the dev cluster: pages show on the desk.
        pager: None,
        contact: NoticeChannel::Spool { to: CONTACT.into(), disk: Arc::new(file_disk(dir, "mail")?) },
        events: SecurityEvents::start(&link, &life_id(), tls, tcp_dialer()),
        bugs: PlantedBugs::none(),
    };
    let desk = Desk::open(config, Arc::new(file_disk(dir, "incidents")?)).map_err(DevError::Incidents)?;
    tokio::spawn(desk.clone().run_forever());
    Ok(desk)
}

/// Starts the detection pipeline of an initialised `dir`: it reads the log store as
/// `detection` and hands alerts to the desk at the control plane.
pub async fn start_detection(dir: &Path) -> Result<(), DevError> {
    let secrets = secrets(dir)?;
    let tls = client_config(&read(&dir.join("ca.pem"))?, &os_crypto_provider())?;
    let reader = super::log_store::link_config(dir, DETECTION)?;
    let replicas = reader
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, endpoint)| {
            let client = HttpsClient::new(endpoint.clone(), tls.clone(), tcp_dialer(), DETECTION, &reader.token);
            (format!("log-store-{}", i + 1), client)
        })
        .collect();
    let desk = HttpsEndpoint { address: CONTROL_PLANE, server_name: "localhost".into() };
    let desk = HttpsClient::new(desk, tls, tcp_dialer(), DETECTION, &secrets.detection_token);
    tokio::spawn(pipeline::run_forever(PipelineConfig { replicas, desk, bugs: PlantedBugs::none() }));
    Ok(())
}
