//! The harness's side of the log store (C12), from the security-operations host: a source
//! that ships an event every interval (what it was told is stored is the ground truth the
//! checker compares the replicas with), and an agent whose token an attacker holds, trying in
//! turn to alter an entry, delete old entries and truncate the log at each replica.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use broker::log_store::shipper::{LogShipper, SecurityEvents};
use broker::net::https_client::HttpsClient;

use crate::checkers::log_store::{Acked, Attempt};

#[derive(Default, Clone)]
pub struct LogStoreLog {
    pub acked: Arc<Mutex<Vec<Acked>>>,
    pub attempts: Arc<Mutex<Vec<Attempt>>>,
}

/// Until `end_ms` (simulated, from `zero`): an event every `interval`; events not yet
/// acknowledged are shipped again with the next (the store recognises the ones it holds).
pub async fn source(
    shipper: LogShipper,
    events: SecurityEvents,
    log: LogStoreLog,
    zero: tokio::time::Instant,
    interval: Duration,
    end_ms: u64,
) {
    let mut pending = Vec::new();
    while (zero.elapsed().as_millis() as u64) < end_ms {
        let at = zero.elapsed().as_secs();
        let detail = format!("heartbeat at {at} s");
        pending.push(events.event("workload", "heartbeat", crate::world::log_store::SOURCE, "success", "", &detail));
        if shipper.ship(&pending).await.is_ok() {
            let acked_ms = zero.elapsed().as_millis() as u64;
            log.acked.lock().unwrap().extend(pending.drain(..).map(|event| Acked { event, acked_ms }));
        }
        tokio::time::sleep(interval).await;
    }
}

/// Until `end_ms`: every `interval`, one attempt at one replica (in turn), each with a marker
/// its refusal must record.
pub async fn tamperer(
    replicas: Vec<(String, HttpsClient)>,
    log: LogStoreLog,
    zero: tokio::time::Instant,
    interval: Duration,
    end_ms: u64,
) {
    let mut attempt = 0u64;
    loop {
        tokio::time::sleep(interval).await;
        let at_ms = zero.elapsed().as_millis() as u64;
        if at_ms >= end_ms {
            return;
        }
        attempt += 1;
        let marker = format!("tamper-{attempt:06}");
        let (replica, client) = &replicas[attempt as usize % replicas.len()];
        let (method, target, body) = match attempt % 3 {
            0 => (
                "PUT",
                format!("/v1/entries/{}?attempt={marker}", 1 + attempt % 40),
                Some(br#"{"detail":"nothing happened"}"#.to_vec()),
            ),
            1 => ("DELETE", format!("/v1/entries?before_ms={}&attempt={marker}", broker::clock::wall_clock_ms()), None),
            _ => ("POST", format!("/v1/truncate?attempt={marker}"), None),
        };
        let status = client.call(method, &target, body).await.ok().map(|(status, _)| status);
        log.attempts.lock().unwrap().push(Attempt {
            at_ms,
            replica: replica.clone(),
            request: format!("{method} {target}"),
            marker,
            status,
        });
    }
}
