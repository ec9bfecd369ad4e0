//! PrivateLink probes (C05, C06). From the service side (the load balancer and a broker), a
//! prober keeps trying to open connections into the PrivateLink VPC: to its machines and to its
//! endpoints. In the VPC, a client without the customer's DNS override keeps trying to reach
//! the cluster by its names. The fabric decides; the connection log is the evidence, judged by
//! `checkers::privatelink`.

use std::net::SocketAddr;
use std::time::Duration;

use broker::net::Dialer;

use super::client::ClusterClient;

/// How long one reverse dial may take before it counts as refused (a connect without a route
/// hangs, as in a real cloud).
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// Dials each of `targets` in turn, once a second, forever.
pub async fn reverse_probe(dialer: Dialer, targets: Vec<SocketAddr>) {
    for target in targets.iter().cycle() {
        // Success or not, the fabric's decision is in the connection log.
        let _ = tokio::time::timeout(DIAL_TIMEOUT, dialer(*target)).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Asks for the cluster's metadata (resolving its names without the override) every 2 s.
pub async fn unnamed_client(mut client: ClusterClient) {
    loop {
        let _ = client.refresh_metadata().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
