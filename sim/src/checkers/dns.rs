//! DNS answers per network (C06): every answer a DNS server gave a client is judged against
//! the network the client is on. A client in a range connected to the cluster network (by the
//! peering the control plane recorded) must get private addresses from the network's CIDR;
//! any other client must get public addresses. Cached and stale answers are copies of a
//! server's answer and are counted, not judged again.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use broker::control_plane::network::Cidr;

/// One resolution a client made.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolutionRecord {
    pub at: tokio::time::Instant,
    pub machine: String,
    pub source: IpAddr,
    pub name: String,
    pub addresses: Vec<Ipv4Addr>,
    /// "server", "cache", "stale", "override", or "failed: <why>".
    pub origin: String,
}

#[derive(Debug, Clone, Default)]
pub struct ResolutionLog(Arc<Mutex<Vec<ResolutionRecord>>>);

impl ResolutionLog {
    pub fn record(&self, record: ResolutionRecord) {
        self.0.lock().unwrap().push(record);
    }

    pub fn records(&self) -> Vec<ResolutionRecord> {
        self.0.lock().unwrap().clone()
    }
}

/// What the configuration promises each source: private addresses in `network` for sources
/// in `connected`, public ones (in `public`) for everyone else.
pub struct DnsViews {
    /// The cluster network's range, if the cluster is private.
    pub network: Option<Cidr>,
    /// Customer ranges connected to it.
    pub connected: Vec<Cidr>,
    pub public: Cidr,
}

/// Server answers that gave a source the other network's addresses, as (ms since `zero`, what);
/// and how many server answers were judged.
pub fn dns_violations(
    records: &[ResolutionRecord],
    views: &DnsViews,
    zero: tokio::time::Instant,
) -> (Vec<(u64, String)>, usize) {
    let mut violations = Vec::new();
    let mut judged = 0;
    for record in records.iter().filter(|r| r.origin == "server") {
        judged += 1;
        let private = views.network.filter(|_| views.connected.iter().any(|range| range.contains(record.source)));
        let (expected, wrong): (&str, Vec<&Ipv4Addr>) = match private {
            Some(network) => (
                "a private address in the cluster network",
                record.addresses.iter().filter(|a| !network.contains(IpAddr::V4(**a))).collect(),
            ),
            None => (
                "a public address",
                record.addresses.iter().filter(|a| !views.public.contains(IpAddr::V4(**a))).collect(),
            ),
        };
        if !wrong.is_empty() {
            let at = record.at.saturating_duration_since(zero).as_millis() as u64;
            violations.push((
                at,
                format!(
                    "{} ({}) was given {:?} for {} at {:.3}s; it should get {expected} only",
                    record.machine,
                    record.source,
                    wrong,
                    record.name,
                    at as f64 / 1000.0
                ),
            ));
        }
    }
    (violations, judged)
}

/// Answers a client got for a name that differ from its previous answer for that name: a DNS
/// change reached it.
pub fn changed_answers(records: &[ResolutionRecord]) -> usize {
    let mut last: std::collections::BTreeMap<(&str, &str), &Vec<Ipv4Addr>> = std::collections::BTreeMap::new();
    let mut changed = 0;
    for record in records.iter().filter(|r| !r.addresses.is_empty()) {
        if let Some(previous) = last.insert((&record.machine, &record.name), &record.addresses) {
            changed += usize::from(*previous != record.addresses);
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(source: &str, address: &str, origin: &str) -> ResolutionRecord {
        ResolutionRecord {
            at: tokio::time::Instant::now(),
            machine: "client-1".into(),
            source: source.parse().unwrap(),
            name: "b1.pkc-sim.region-1.faultline.cloud".into(),
            addresses: vec![address.parse().unwrap()],
            origin: origin.into(),
        }
    }

    #[test]
    fn each_source_must_get_its_own_networks_addresses() {
        let views = DnsViews {
            network: Some("172.16.0.0/16".parse().unwrap()),
            connected: vec!["10.9.0.0/16".parse().unwrap()],
            public: "203.0.113.0/24".parse().unwrap(),
        };
        let zero = tokio::time::Instant::now();
        let good = [
            record("10.9.0.3", "172.16.0.11", "server"),
            record("198.51.100.1", "203.0.113.1", "server"),
            // Copies are not judged again.
            record("10.9.0.3", "203.0.113.1", "cache"),
        ];
        assert_eq!(dns_violations(&good, &views, zero), (vec![], 2));
        let (found, judged) = dns_violations(&[record("10.9.0.3", "203.0.113.1", "server")], &views, zero);
        assert_eq!(judged, 1);
        assert!(found[0].1.contains("client-1 (10.9.0.3) was given [203.0.113.1]"), "{}", found[0].1);
        let (found, _) = dns_violations(&[record("198.51.100.1", "172.16.0.11", "server")], &views, zero);
        assert_eq!(found.len(), 1, "a public client given a private address");
        let moved = [
            record("10.9.0.3", "203.0.113.1", "server"),
            record("10.9.0.3", "203.0.113.1", "stale"),
            record("10.9.0.3", "203.0.113.101", "server"),
        ];
        assert_eq!(changed_answers(&moved), 1);
        let public_only = DnsViews { network: None, connected: vec![], public: views.public };
        assert_eq!(dns_violations(&[record("10.9.0.3", "203.0.113.2", "server")], &public_only, zero).0, vec![]);
    }
}
