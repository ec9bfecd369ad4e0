//! Per-tenant stream quotas (C03, C04): greedy clients of a Basic or Standard cluster produce
//! or fetch as fast as they can and ignore every `throttle_time_ms` (as a hostile or broken
//! client would). The bytes a broker accepts from a producer, or hands a consumer, over any
//! window must stay within that broker's share of the cluster's limit in that direction (plus
//! the one-second burst and the request in flight), the broker must have said so with
//! throttle times, and it must never have closed the connection for it: quotas delay, they do
//! not drop.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// Which way a greedy client's bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Flow {
    /// Produce request bytes the broker accepted.
    Ingress,
    /// Fetch response record bytes the broker sent.
    Egress,
}

/// One request of a greedy client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GreedySend {
    pub flow: Flow,
    pub start_ms: u64,
    pub end_ms: u64,
    pub broker: i32,
    pub bytes: u64,
    /// The partition error code, or `None` when the request got no answer. Bytes count only
    /// with 0 (a produce acknowledged, a fetch that returned records).
    pub error_code: Option<i16>,
    pub throttle_ms: i32,
    /// The transport failed under it (a closed connection).
    pub disconnected: bool,
}

impl GreedySend {
    /// A request sent, before its answer is read: no bytes counted, no error, no throttle.
    pub fn unanswered(flow: Flow, start_ms: u64, end_ms: u64, broker: i32) -> GreedySend {
        GreedySend { flow, start_ms, end_ms, broker, bytes: 0, error_code: None, throttle_ms: 0, disconnected: false }
    }
}

#[derive(Debug, Clone, Default)]
pub struct GreedyLog {
    pub sends: Arc<Mutex<Vec<GreedySend>>>,
}

/// The window the rate is judged over.
pub const WINDOW_MS: u64 = 5_000;

/// What the quota checker found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuotaFindings {
    /// (at ms, what) for each broker whose accepted bytes exceeded its share in some window.
    pub violations: Vec<(u64, String)>,
    pub throttled_responses: usize,
    pub disconnects: usize,
    /// Bytes accepted in all.
    pub accepted_bytes: u64,
}

/// `share_bytes_per_second`: each broker's part of the tenant's limit.
pub fn quota_findings(sends: &[GreedySend], share_bytes_per_second: u64) -> QuotaFindings {
    let mut findings = QuotaFindings::default();
    let mut accepted: BTreeMap<(i32, Flow), Vec<(u64, u64)>> = BTreeMap::new();
    for send in sends {
        findings.throttled_responses += usize::from(send.throttle_ms > 0);
        findings.disconnects += usize::from(send.disconnected);
        if send.error_code == Some(0) {
            accepted.entry((send.broker, send.flow)).or_default().push((send.end_ms, send.bytes));
            findings.accepted_bytes += send.bytes;
        }
    }
    for ((broker, flow), mut sends) in accepted {
        let moved = if flow == Flow::Ingress { "accepted" } else { "sent" };
        sends.sort();
        let largest = sends.iter().map(|(_, bytes)| *bytes).max().unwrap_or(0);
        // The share over the window, the burst of one second, and one request admitted on credit.
        let allowed = share_bytes_per_second * (WINDOW_MS + 1_000) / 1_000 + largest;
        let (mut start, mut in_window) = (0usize, 0u64);
        for end in 0..sends.len() {
            in_window += sends[end].1;
            while sends[end].0 - sends[start].0 >= WINDOW_MS {
                in_window -= sends[start].1;
                start += 1;
            }
            if in_window > allowed {
                let seconds = WINDOW_MS as f64 / 1000.0;
                findings.violations.push((
                    sends[end].0,
                    format!(
                        "broker {broker} {moved} {:.1} MB ({flow:?}) of the tenant in {seconds} s, over its share of the limit ({:.1} MB/s: at most {:.1} MB)",
                        in_window as f64 / 1e6,
                        share_bytes_per_second as f64 / 1e6,
                        allowed as f64 / 1e6
                    ),
                ));
                break;
            }
        }
    }
    findings.violations.sort();
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    fn send(end_ms: u64, bytes: u64, throttle_ms: i32) -> GreedySend {
        GreedySend {
            bytes,
            error_code: Some(0),
            throttle_ms,
            ..GreedySend::unanswered(Flow::Ingress, end_ms.saturating_sub(5), end_ms, 1)
        }
    }

    #[test]
    fn a_throttled_stream_at_the_share_holds() {
        // 10 MB/s share: 1 MB every 100 ms after a 10 MB burst.
        let mut sends: Vec<GreedySend> = (0..10).map(|i| send(i, MB, 0)).collect();
        sends.extend((1..200).map(|i| send(10 + i * 100, MB, 100)));
        // The same bytes the other way are judged apart.
        sends.extend(sends.clone().into_iter().map(|s| GreedySend { flow: Flow::Egress, ..s }));
        let findings = quota_findings(&sends, 10 * MB);
        assert!(findings.violations.is_empty(), "{:?}", findings.violations);
        assert_eq!(findings.throttled_responses, 398);
    }

    #[test]
    fn a_stream_past_the_share_is_a_violation_and_so_is_a_dropped_connection() {
        let mut sends: Vec<GreedySend> = (0..200).map(|i| send(i * 20, MB, 100)).collect();
        sends.push(GreedySend { error_code: None, disconnected: true, ..send(4_100, MB, 0) });
        let findings = quota_findings(&sends, 10 * MB);
        assert_eq!(findings.violations.len(), 1, "{:?}", findings.violations);
        assert!(findings.violations[0].1.contains("broker 1 accepted 62.0 MB (Ingress)"), "{:?}", findings.violations);
        assert_eq!(findings.disconnects, 1);
    }
}
