//! Connection direction (C14, C05): the world records who opened every connection to whom and
//! by which path (service, local, public, peering, or unroutable: a connect that hung); the
//! control plane is dialed by brokers and customers and never dials a broker itself.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// (initiator, target machine, port, path).
type Link = (String, String, u16, String);

/// Every link dialed -> (first dial, dials). Filled by the world's dialers.
#[derive(Debug, Clone, Default)]
pub struct ConnectionLog {
    dials: Arc<Mutex<BTreeMap<Link, (tokio::time::Instant, u64)>>>,
}

impl ConnectionLog {
    pub fn record(&self, initiator: &str, target: &str, port: u16, path: &str) {
        let mut dials = self.dials.lock().unwrap();
        let key = (initiator.to_string(), target.to_string(), port, path.to_string());
        let entry = dials.entry(key).or_insert((tokio::time::Instant::now(), 0));
        entry.1 += 1;
    }

    /// Every (initiator, target, port, first dial, count), in name order, over every path.
    pub fn dials(&self) -> Vec<(String, String, u16, tokio::time::Instant, u64)> {
        let mut merged: BTreeMap<(String, String, u16), (tokio::time::Instant, u64)> = BTreeMap::new();
        for ((i, t, p, _), (at, n)) in self.dials.lock().unwrap().iter() {
            let entry = merged.entry((i.clone(), t.clone(), *p)).or_insert((*at, 0));
            entry.0 = entry.0.min(*at);
            entry.1 += n;
        }
        merged.into_iter().map(|((i, t, p), (at, n))| (i, t, p, at, n)).collect()
    }

    /// Every (initiator, target, port, path, first dial, count).
    pub fn links(&self) -> Vec<(String, String, u16, String, tokio::time::Instant, u64)> {
        self.dials
            .lock()
            .unwrap()
            .iter()
            .map(|((i, t, p, path), (at, n))| (i.clone(), t.clone(), *p, path.clone(), *at, *n))
            .collect()
    }

    /// Dials per path ("peering peer-…", "public", "unroutable", ...).
    pub fn paths(&self) -> BTreeMap<String, u64> {
        let mut paths = BTreeMap::new();
        for ((_, _, _, path), (_, n)) in self.dials.lock().unwrap().iter() {
            *paths.entry(path.clone()).or_insert(0) += n;
        }
        paths
    }
}

/// A connection the control plane opened to a broker: (first dial relative to `zero`, what).
pub fn control_plane_dials(
    log: &ConnectionLog,
    control_plane: &str,
    is_broker: impl Fn(&str) -> bool,
    zero: tokio::time::Instant,
) -> Vec<(u64, String)> {
    log.dials()
        .into_iter()
        .filter(|(initiator, target, _, _, _)| initiator == control_plane && is_broker(target))
        .map(|(initiator, target, port, at, count)| {
            let at_ms = at.saturating_duration_since(zero).as_millis() as u64;
            let when = if at < zero { "during setup".to_string() } else { format!("at {at_ms} ms") };
            (at_ms, format!("{initiator} opened {count} connection(s) to {target}:{port}, the first {when}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_control_plane_initiated_connections_to_brokers_count() {
        let log = ConnectionLog::default();
        log.record("broker-1", "control-plane", 443, "service");
        log.record("client-1", "control-plane", 443, "public");
        log.record("client-1", "broker-2", 9092, "public");
        let zero = tokio::time::Instant::now();
        assert!(control_plane_dials(&log, "control-plane", |m| m.starts_with("broker-"), zero).is_empty());
        log.record("control-plane", "broker-2", 9092, "service");
        log.record("control-plane", "broker-2", 9092, "service");
        let found = control_plane_dials(&log, "control-plane", |m| m.starts_with("broker-"), zero);
        assert_eq!(found.len(), 1);
        assert!(found[0].1.contains("2 connection(s) to broker-2:9092"), "{}", found[0].1);
    }
}
