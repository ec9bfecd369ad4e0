//! The detection pipeline's process: every `POLL_INTERVAL` it reads the next log-store replica
//! in turn from where it left that replica (an event reaches a quorum, two of three, so every
//! event is read within two polls), runs the rules and hands each alert to the incident desk,
//! keeping those the desk did not take for the next round.

use std::collections::VecDeque;

use super::rules::Detector;
use super::{Alert, POLL_INTERVAL};
use crate::log_store::server::{read_page, PAGE_MAX};
use crate::net::https_client::HttpsClient;
use crate::planted_bugs::PlantedBugs;

pub struct PipelineConfig {
    /// Each log-store replica, as a reader.
    pub replicas: Vec<(String, HttpsClient)>,
    /// The incident desk, as the detection principal.
    pub desk: HttpsClient,
    pub bugs: PlantedBugs,
}

pub async fn run_forever(config: PipelineConfig) {
    let mut detector = Detector::new(config.bugs);
    // This life starts every replica from its beginning: the rules rebuild their state and
    // the desk recognises the alerts it already holds.
    let mut cursors: Vec<Option<u64>> = vec![None; config.replicas.len()];
    let mut undelivered: VecDeque<Alert> = VecDeque::new();
    let mut turn = 0;
    loop {
        if !config.replicas.is_empty() {
            let index = turn % config.replicas.len();
            turn += 1;
            let (replica, client) = &config.replicas[index];
            match read_replica(client, &mut cursors[index], &mut detector, &mut undelivered).await {
                Ok(0) => {}
                Ok(read) => tracing::info!(replica, read, alerts = undelivered.len(), "detection: read entries"),
                Err(error) => tracing::info!(replica, %error, "detection: cannot read a replica; the next one next"),
            }
        }
        while let Some(alert) = undelivered.front() {
            match deliver(&config.desk, alert).await {
                Ok(()) => {
                    undelivered.pop_front();
                }
                Err(error) => {
                    tracing::warn!(%error, waiting = undelivered.len(), "detection: the incident desk did not take an alert");
                    break;
                }
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Reads a replica to its end; returns how many entries were read.
async fn read_replica(
    client: &HttpsClient,
    cursor: &mut Option<u64>,
    detector: &mut Detector,
    alerts: &mut VecDeque<Alert>,
) -> Result<usize, String> {
    let mut read = 0;
    loop {
        let entries = read_page(client, *cursor).await?;
        let Some(last) = entries.last().map(|e| e.position) else { return Ok(read) };
        read += entries.len();
        for entry in &entries {
            if let Some(alert) = detector.observe(&entry.event) {
                tracing::info!(
                    rule = alert.rule.name(),
                    actor = alert.actor,
                    network = alert.network,
                    "detection: alert"
                );
                alerts.push_back(alert);
            }
        }
        *cursor = Some(last);
        if entries.len() < PAGE_MAX {
            return Ok(read);
        }
    }
}

async fn deliver(desk: &HttpsClient, alert: &Alert) -> Result<(), String> {
    let body = serde_json::to_vec(alert).expect("JSON");
    match desk.call("POST", "/v1/alerts", Some(body)).await {
        Ok((200 | 201, _)) => Ok(()),
        Ok((status, body)) => Err(format!("status {status}: {}", String::from_utf8_lossy(&body))),
        Err(error) => Err(error.to_string()),
    }
}
