//! Shipping events to the log store. `LogShipper::ship` sends a batch to every replica at once
//! and returns once `QUORUM` of them have made it durable. `SecurityEvents` is what a component
//! holds: `record` never blocks the component; a background task batches, ships and retries,
//! and says how many events it had to drop when its buffer was full.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;

use super::{Event, QUORUM};
use crate::net::http::wall_clock_ms;
use crate::net::https_client::{HttpsClient, HttpsEndpoint};
use crate::net::Dialer;

/// Events a component may have waiting to be shipped; more are dropped (and counted).
const BUFFER_MAX: usize = 10_000;
const BATCH_MAX: usize = 500;
/// How long the shipper waits for more events before it ships a batch.
const LINGER: Duration = Duration::from_millis(200);
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// How a component reaches the log store and who it is there.
#[derive(Clone)]
pub struct LogStoreLink {
    pub endpoints: Vec<HttpsEndpoint>,
    pub principal: String,
    pub token: String,
}

impl std::fmt::Debug for LogStoreLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStoreLink").field("endpoints", &self.endpoints).field("principal", &self.principal).finish()
    }
}

/// What a component needs to ship: the link, how to dial, and a name for this process's life
/// (unique per start: the store recognises events by source and number).
#[derive(Clone)]
pub struct ShippingConfig {
    pub link: LogStoreLink,
    pub dialer: Dialer,
    pub life: String,
}

impl ShippingConfig {
    /// The security events of a server whose certificates `ca_pem` signs (the log store's
    /// too): shipped per `config`, or nowhere without one.
    pub fn events(
        config: Option<&ShippingConfig>,
        ca_pem: &str,
        crypto: &Arc<crate::security::tls::CryptoProvider>,
    ) -> Result<SecurityEvents, crate::security::tls::TlsError> {
        Ok(match config {
            Some(shipping) => {
                let tls = crate::security::tls::client_config(ca_pem, crypto)?;
                SecurityEvents::start(&shipping.link, &shipping.life, tls, shipping.dialer.clone())
            }
            None => SecurityEvents::disabled(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShipError {
    /// Fewer than a quorum of replicas stored the batch; it may be on some (shipping it again
    /// is safe: replicas recognise events they hold).
    #[error("stored by {stored} replica(s), fewer than a quorum: {errors}")]
    NoQuorum { stored: usize, errors: String },
    /// A replica refused the batch itself (malformed, or not this source's to ship).
    #[error("refused: {0}")]
    Refused(String),
}

pub struct LogShipper {
    clients: Vec<Arc<HttpsClient>>,
    quorum: usize,
}

impl LogShipper {
    pub fn new(link: &LogStoreLink, tls: Arc<rustls::ClientConfig>, dialer: Dialer) -> LogShipper {
        let clients = link
            .endpoints
            .iter()
            .map(|endpoint| {
                Arc::new(HttpsClient::new(endpoint.clone(), tls.clone(), dialer.clone(), &link.principal, &link.token))
            })
            .collect();
        LogShipper { clients, quorum: QUORUM.min(link.endpoints.len()) }
    }

    /// Counts a batch stored once `quorum` of these replicas have it (a replica shipping its
    /// own events to its peers holds one copy already).
    pub fn with_quorum(mut self, quorum: usize) -> LogShipper {
        self.quorum = quorum.min(self.clients.len());
        self
    }

    /// Ships `events` to every replica; `Ok(replicas that stored them)` once a quorum did.
    pub async fn ship(&self, events: &[Event]) -> Result<usize, ShipError> {
        let body = serde_json::to_vec(&json!({ "events": events })).expect("JSON");
        let (answers, mut answered) = mpsc::channel(self.clients.len().max(1));
        for client in &self.clients {
            let (client, body, answers) = (client.clone(), body.clone(), answers.clone());
            tokio::spawn(async move {
                let outcome = match client.call("POST", "/v1/events", Some(body)).await {
                    Ok((200, _)) => Ok(()),
                    Ok((status @ 400..=499, bytes)) => {
                        Err((true, format!("{status} {}", String::from_utf8_lossy(&bytes))))
                    }
                    Ok((status, _)) => Err((false, format!("status {status}"))),
                    Err(error) => Err((false, error.to_string())),
                };
                let _ = answers.send(outcome).await;
            });
        }
        drop(answers);
        let (mut stored, mut errors) = (0, Vec::new());
        while let Some(outcome) = answered.recv().await {
            match outcome {
                Ok(()) => {
                    stored += 1;
                    if stored >= self.quorum {
                        return Ok(stored);
                    }
                }
                Err((true, refusal)) => return Err(ShipError::Refused(refusal)),
                Err((false, error)) => errors.push(error),
            }
        }
        Err(ShipError::NoQuorum { stored, errors: errors.join("; ") })
    }
}

/// A component's handle on its security events (cheap to clone).
#[derive(Clone)]
pub struct SecurityEvents {
    source: Arc<str>,
    seq: Arc<AtomicU64>,
    queue: Option<mpsc::Sender<Event>>,
    dropped: Arc<AtomicU64>,
}

impl SecurityEvents {
    /// Events go nowhere (a component run without a log store: unit tests, tools).
    pub fn disabled() -> SecurityEvents {
        SecurityEvents { source: "".into(), seq: Arc::default(), queue: None, dropped: Arc::default() }
    }

    /// A handle for `principal`'s events in this life (`life` names it), and the outbox they
    /// wait in until `ship_forever` takes them.
    pub fn channel(principal: &str, life: &str) -> (SecurityEvents, Outbox) {
        let (queue, waiting) = mpsc::channel(BUFFER_MAX);
        let events = SecurityEvents {
            source: format!("{principal}@{life}").into(),
            seq: Arc::default(),
            queue: Some(queue),
            dropped: Arc::default(),
        };
        (events.clone(), Outbox { waiting, events })
    }

    /// Starts shipping `link.principal`'s events for this life.
    pub fn start(link: &LogStoreLink, life: &str, tls: Arc<rustls::ClientConfig>, dialer: Dialer) -> SecurityEvents {
        let (events, outbox) = SecurityEvents::channel(&link.principal, life);
        tokio::spawn(outbox.ship_forever(LogShipper::new(link, tls, dialer)));
        events
    }

    /// An event of this source now (numbered, not yet queued).
    pub fn event(
        &self,
        category: &str,
        action: &str,
        actor: &str,
        outcome: &str,
        network: &str,
        detail: &str,
    ) -> Event {
        Event {
            source: self.source.to_string(),
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            at_ms: wall_clock_ms(),
            category: category.into(),
            action: action.into(),
            actor: actor.into(),
            outcome: outcome.into(),
            network: network.into(),
            detail: detail.into(),
        }
    }

    /// Queues `event` for shipping; never waits (a full buffer drops it, counted).
    pub fn send(&self, event: Event) {
        let Some(queue) = &self.queue else { return };
        if queue.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records an event now; never waits.
    pub fn record(&self, category: &str, action: &str, actor: &str, outcome: &str, network: &str, detail: &str) {
        if self.queue.is_some() {
            self.send(self.event(category, action, actor, outcome, network, detail));
        }
    }
}

/// Events waiting to be shipped.
pub struct Outbox {
    waiting: mpsc::Receiver<Event>,
    events: SecurityEvents,
}

impl Outbox {
    /// The next event waiting, if any (unit tests read what a component logged).
    #[cfg(test)]
    pub(crate) fn take(&mut self) -> Option<Event> {
        self.waiting.try_recv().ok()
    }

    /// Ships batches with `shipper`, retrying with backoff, until every handle is gone.
    pub async fn ship_forever(self, shipper: LogShipper) {
        let Outbox { mut waiting, events } = self;
        ship_batches(shipper, &mut waiting, events).await
    }
}

async fn ship_batches(shipper: LogShipper, waiting: &mut mpsc::Receiver<Event>, events: SecurityEvents) {
    let mut pending: Vec<Event> = Vec::new();
    let mut backoff = RETRY_MIN;
    loop {
        if pending.is_empty() {
            let Some(first) = waiting.recv().await else { return };
            pending.push(first);
            tokio::time::sleep(LINGER).await;
        }
        while pending.len() < BATCH_MAX {
            match waiting.try_recv() {
                Ok(event) => pending.push(event),
                Err(_) => break,
            }
        }
        let dropped = events.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            // Said in the log itself: a gap the reader can see.
            let detail = format!("{dropped} events dropped: the shipping buffer ({BUFFER_MAX}) was full");
            events.record("log-store", "events-dropped", &events.source, "failure", "", &detail);
            tracing::warn!(source = %events.source, dropped, "security events dropped");
        }
        match shipper.ship(&pending).await {
            Ok(_) => {
                pending.clear();
                backoff = RETRY_MIN;
            }
            Err(ShipError::Refused(why)) => {
                // Shipping it again would be refused again: said loudly, then dropped.
                tracing::error!(source = %events.source, why, events = pending.len(), "log store refused a batch");
                pending.clear();
            }
            Err(error) => {
                tracing::info!(source = %events.source, %error, "log store: shipping failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RETRY_MAX);
            }
        }
    }
}
