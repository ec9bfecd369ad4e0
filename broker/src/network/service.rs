//! The DNS service as a process: it pulls the broker cluster's data-plane snapshot from the
//! control plane (as the brokers do, over a connection it opens, C14) and answers from the last
//! one it has, kept on its own disk so a restart during a control-plane outage still answers.

use std::net::SocketAddr;
use std::sync::Arc;

use super::dns::{self, DnsCounters, DnsZone};
use crate::client::ClientCredentials;
use crate::control_plane::link::{ControlPlaneLink, ControlPlaneLinkConfig};
use crate::log::Disk;
use crate::net::https_client::HttpsClient;
use crate::net::Dialer;

pub struct DnsServiceConfig {
    /// UDP address to answer on (port 53 in the simulation).
    pub listen: SocketAddr,
    pub zone: DnsZone,
    pub control_plane: ControlPlaneLinkConfig,
    /// The service key it pulls with, and TLS trust for the control plane.
    pub credentials: ClientCredentials,
    pub dialer: Dialer,
}

/// A running DNS service.
pub struct DnsService {
    pub address: SocketAddr,
    pub counters: Arc<DnsCounters>,
    pub link: Arc<ControlPlaneLink>,
}

/// Starts pulling and answering; `source` names this process in the audit log.
pub async fn start(config: DnsServiceConfig, disk: Arc<dyn Disk>, source: String) -> std::io::Result<DnsService> {
    let client = HttpsClient::new(
        config.control_plane.endpoint.clone(),
        config.credentials.tls.clone(),
        config.dialer,
        &config.credentials.api_key,
        &config.credentials.secret,
    );
    let bugs = config.zone.bugs;
    let link = Arc::new(ControlPlaneLink::new(Some((client, config.control_plane)), disk, source, bugs));
    tokio::spawn(link.clone().pull_forever());
    let answering = link.clone();
    let (address, counters) = dns::start(config.listen, config.zone, move || answering.access()).await?;
    Ok(DnsService { address, counters, link })
}
