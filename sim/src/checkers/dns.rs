//! DNS answers per network (C06): every answer a DNS server gave a client is judged against
//! the network the client is on. A client in a range connected to the cluster network (by the
//! peering the control plane recorded) must get private addresses from the network's CIDR;
//! any other client must get public addresses. And an answer for `b<id>.<zone>` must lead to
//! broker `id`: none of its addresses may be another broker's (by the world's own map of which
//! machine is behind which address). Cached and stale answers are copies of a server's answer
//! and are counted, not judged again. (A server's "no such name" reaches the log as a failed
//! resolution, which is not judged: an empty answer to an entitled client is not caught yet.)

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
    /// The zone whose broker names are judged, and which broker is behind each address the
    /// world routes (public endpoints and private addresses alike).
    pub zone: String,
    pub broker_at: std::collections::BTreeMap<Ipv4Addr, i32>,
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
        let at = record.at.saturating_duration_since(zero).as_millis() as u64;
        let named = record
            .name
            .strip_suffix(&format!(".{}", views.zone))
            .and_then(|label| label.strip_prefix('b'))
            .and_then(|id| id.parse::<i32>().ok());
        if let Some(id) = named {
            let others: Vec<(Ipv4Addr, i32)> = record
                .addresses
                .iter()
                .filter_map(|address| views.broker_at.get(address).map(|behind| (*address, *behind)))
                .filter(|(_, behind)| *behind != id)
                .collect();
            if !others.is_empty() {
                let what = others
                    .iter()
                    .map(|(address, behind)| format!("{address} (broker {behind}'s)"))
                    .collect::<Vec<_>>()
                    .join(", ");
                violations.push((
                    at,
                    format!(
                        "{} ({}) was given {what} for {} at {:.3}s; it names broker {id}",
                        record.machine,
                        record.source,
                        record.name,
                        at as f64 / 1000.0
                    ),
                ));
                continue;
            }
        }
        if !wrong.is_empty() {
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

    /// Broker 1 at 172.16.0.11 and 203.0.113.1, broker 2 at 172.16.0.12 and 203.0.113.2.
    fn brokers() -> std::collections::BTreeMap<Ipv4Addr, i32> {
        [("172.16.0.11", 1), ("203.0.113.1", 1), ("172.16.0.12", 2), ("203.0.113.2", 2)]
            .into_iter()
            .map(|(address, id)| (address.parse().unwrap(), id))
            .collect()
    }

    #[test]
    fn a_broker_s_name_must_lead_to_that_broker() {
        let views = DnsViews {
            network: None,
            connected: Vec::new(),
            public: "203.0.113.0/24".parse().unwrap(),
            zone: "pkc-sim.region-1.faultline.cloud".into(),
            broker_at: brokers(),
        };
        let zero = tokio::time::Instant::now();
        assert_eq!(dns_violations(&[record("198.51.100.1", "203.0.113.1", "server")], &views, zero).0, vec![]);
        let (found, _) = dns_violations(&[record("198.51.100.1", "203.0.113.2", "server")], &views, zero);
        assert!(found[0].1.contains("203.0.113.2 (broker 2's) for b1."), "{found:?}");
        // An address no broker is behind now (a public endpoint moved since) is not judged here.
        assert_eq!(dns_violations(&[record("198.51.100.1", "203.0.113.101", "server")], &views, zero).0, vec![]);
    }

    #[test]
    fn each_source_must_get_its_own_networks_addresses() {
        let views = DnsViews {
            network: Some("172.16.0.0/16".parse().unwrap()),
            connected: vec!["10.9.0.0/16".parse().unwrap()],
            public: "203.0.113.0/24".parse().unwrap(),
            zone: "pkc-sim.region-1.faultline.cloud".into(),
            broker_at: brokers(),
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
        let public_only = DnsViews { network: None, connected: vec![], public: views.public, ..views };
        assert_eq!(dns_violations(&[record("10.9.0.3", "203.0.113.9", "server")], &public_only, zero).0, vec![]);
    }
}
