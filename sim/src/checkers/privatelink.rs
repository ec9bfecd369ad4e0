//! PrivateLink direction (C05, C06): over PrivateLink only the customer side opens
//! connections. From the connection log: a connection the fabric carried from a service
//! machine to a machine of a PrivateLink VPC is a violation, and so is one that a client
//! without the customer's DNS override got through to the service (it has no way in but the
//! endpoint, and only the override names it).

use std::collections::BTreeSet;

use broker::control_plane::network::Cidr;

/// One logged dial: (initiator, target machine, port, path, first dial, count).
pub type Link = (String, String, u16, String, tokio::time::Instant, u64);

/// Violations as (ms since `zero`, what), and how many probing dials were judged.
/// The world's parts, by machine name.
pub struct Sides<'a> {
    /// The service's machines.
    pub service: &'a BTreeSet<String>,
    /// The PrivateLink VPC's machines, and its range (a target with no machine is an address).
    pub private_link: &'a BTreeSet<String>,
    pub private_link_range: Cidr,
    /// The client without the DNS override.
    pub probe: &'a str,
}

pub fn privatelink_violations(
    links: &[Link],
    sides: &Sides<'_>,
    zero: tokio::time::Instant,
) -> (Vec<(u64, String)>, u64) {
    let probe = sides.probe;
    let in_private_link = |target: &str| {
        sides.private_link.contains(target)
            || target.parse::<std::net::IpAddr>().is_ok_and(|address| sides.private_link_range.contains(address))
    };
    let mut violations = Vec::new();
    let mut judged = 0;
    for (initiator, target, port, path, at, count) in links {
        let reverse = sides.service.contains(initiator) && in_private_link(target);
        let unnamed = initiator == probe && !in_private_link(target);
        if !(reverse || unnamed) {
            continue;
        }
        judged += count;
        if path == "unroutable" {
            continue;
        }
        let at_ms = at.saturating_duration_since(zero).as_millis() as u64;
        let what = if reverse {
            format!("{initiator} (service side) opened {count} connection(s) to {target}:{port} in the PrivateLink VPC over {path}, the first at {:.3}s", at_ms as f64 / 1000.0)
        } else {
            format!(
                "{initiator}, without the DNS override, reached {target}:{port} over {path}, the first at {:.3}s",
                at_ms as f64 / 1000.0
            )
        };
        violations.push((at_ms, what));
    }
    violations.sort();
    (violations, judged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_customer_initiated_connections_cross_privatelink() {
        let names = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
        let (service, private_link) = (names(&["broker-1", "nlb"]), names(&["client-1", "probe"]));
        let sides = Sides {
            service: &service,
            private_link: &private_link,
            private_link_range: "10.11.0.0/16".parse().unwrap(),
            probe: "probe",
        };
        let zero = tokio::time::Instant::now();
        let link = |i: &str, t: &str, path: &str| (i.to_string(), t.to_string(), 9092, path.to_string(), zero, 2);
        let fine = [
            link("client-1", "nlb", "private-link pla-1"),
            link("broker-1", "client-1", "unroutable"),
            link("nlb", "10.11.0.201", "unroutable"),
            link("probe", "203.0.113.1", "unroutable"),
            link("broker-1", "client-2", "peering peer-1"),
        ];
        let (violations, judged) = privatelink_violations(&fine, &sides, zero);
        assert_eq!((violations, judged), (vec![], 6), "four refused reverse dials and two refused probe dials");
        let (violations, _) =
            privatelink_violations(&[link("broker-1", "client-1", "private-link pla-1")], &sides, zero);
        assert!(
            violations[0].1.contains("broker-1 (service side) opened 2 connection(s) to client-1:9092"),
            "{violations:?}"
        );
        let (violations, _) = privatelink_violations(&[link("probe", "broker-2", "public")], &sides, zero);
        assert!(violations[0].1.contains("without the DNS override"), "{violations:?}");
    }
}
