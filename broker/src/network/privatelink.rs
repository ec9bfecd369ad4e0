//! The service side of PrivateLink (C05): the endpoint service's load balancer. A customer's
//! interface endpoint delivers connections to one listener per broker; each is relayed, bytes
//! untouched (TLS stays end to end between client and broker), to that broker. Connections
//! only ever start on the customer's side: this relay accepts, it never dials a customer, and
//! the brokers see the relay's own address, so no customer range is coordinated or routed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::net::Dialer;

/// How long the relay waits for a broker to accept before it drops the customer's connection.
const BROKER_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Default)]
pub struct RelayCounters {
    pub accepted: AtomicU64,
    /// Customer connections dropped because their broker did not answer.
    pub broker_unreachable: AtomicU64,
}

/// Listens on `listen` and relays every connection to `broker`; returns the bound address.
pub async fn start_relay(
    listen: SocketAddr,
    broker: SocketAddr,
    dialer: Dialer,
    counters: Arc<RelayCounters>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let (customer, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "privatelink: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            counters.accepted.fetch_add(1, Ordering::Relaxed);
            let (dialer, counters) = (dialer.clone(), counters.clone());
            tokio::spawn(async move {
                let upstream = match crate::clock::timeout(BROKER_CONNECT_TIMEOUT, dialer(broker)).await {
                    Ok(Ok(upstream)) => upstream,
                    _ => {
                        counters.broker_unreachable.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%peer, %broker, "privatelink: broker unreachable; customer connection dropped");
                        return;
                    }
                };
                let (mut customer, mut upstream) = (customer, upstream);
                // Either side closing ends both, as a load balancer's flow does.
                let _ = tokio::io::copy_bidirectional(&mut customer, &mut upstream).await;
            });
        }
    });
    Ok(bound)
}
