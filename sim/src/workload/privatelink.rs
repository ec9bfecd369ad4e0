//! PrivateLink probes (C05, C06). From the service side (the load balancer and a broker), a
//! prober keeps trying to open connections into the PrivateLink VPC: to its machines and to its
//! endpoints. In the VPC, a client without the customer's DNS override keeps trying to reach
//! the cluster by its names. The fabric decides; the connection log is the evidence, judged by
//! `checkers::privatelink`.

use std::net::SocketAddr;
use std::time::Duration;

use broker::net::Dialer;

use super::client::ClusterClient;
use super::Recorder;

/// How long one reverse dial may take before it counts as refused (a connect without a route
/// hangs, as in a real cloud).
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// Dials each of `targets` in turn, once a second, until the run stops.
pub async fn reverse_probe(dialer: Dialer, targets: Vec<SocketAddr>, recorder: Recorder) {
    for target in targets.iter().cycle() {
        if recorder.stop.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        // Success or not, the fabric's decision is in the connection log.
        let _ = broker::clock::timeout(DIAL_TIMEOUT, dialer(*target)).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Asks for the cluster's metadata (resolving its names without the override) every 2 s.
pub async fn unnamed_client(mut client: ClusterClient, recorder: Recorder) {
    while !recorder.stop.load(std::sync::atomic::Ordering::Relaxed) {
        let _ = client.refresh_metadata().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// What an outsider's attempt got (C05: a private-only cluster refuses the internet).
#[derive(Debug, Clone, PartialEq)]
pub struct OutsiderAttempt {
    pub at_ms: u64,
    pub broker: i32,
    /// The TLS handshake completed: the broker admitted the connection.
    pub admitted: bool,
}

#[derive(Debug, Clone, Default)]
pub struct OutsiderLog(pub std::sync::Arc<std::sync::Mutex<Vec<OutsiderAttempt>>>);

/// A host on the internet dialing the brokers' public addresses (they exist for the broker
/// cluster whatever its clusters' networking) and trying a TLS handshake, every 2 s.
pub async fn outsider(
    dialer: Dialer,
    credentials: broker::client::ClientCredentials,
    targets: Vec<(i32, SocketAddr, String)>,
    recorder: Recorder,
    log: OutsiderLog,
) {
    for (broker, address, name) in targets.iter().cycle() {
        if recorder.stop.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let outcome = broker::client::Connection::connect(&dialer, *address, name, &credentials, DIAL_TIMEOUT).await;
        // SASL refused the made-up key: TLS had completed, so the broker had admitted it.
        let admitted = matches!(outcome, Ok(_) | Err(broker::client::ClientError::Authentication(_)));
        log.0.lock().unwrap().push(OutsiderAttempt { at_ms: recorder.now_ms(), broker: *broker, admitted });
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
