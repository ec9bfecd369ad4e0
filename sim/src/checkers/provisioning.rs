//! Provisioning (C03, C04): every cluster request the harness makes through the REST API is
//! compared with the paper's matrix, written here independently of the control plane. Basic is
//! single-zone with public endpoints only; Standard is single- or multi-zone with public
//! endpoints; Dedicated may use private networking but needs brokers of its own, which the
//! simulated region does not have (it has one shared broker cluster), so every Dedicated
//! request must be refused. A cluster created is deleted again. An environment holds at most
//! one schema registry: the second is refused. A peering whose customer route overlaps the
//! network's CIDR (inside it, or containing it) is refused; a disjoint one connects (C05).

use std::sync::{Arc, Mutex};

use broker::control_plane::model::{Availability, ClusterType, Networking};
use serde::{Deserialize, Serialize};

/// What the harness asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Provision {
    Cluster {
        cluster_type: ClusterType,
        availability: Availability,
        networking: Networking,
    },
    /// The n-th (from 1) schema registry asked for in one fresh environment.
    SchemaRegistry {
        nth: u32,
    },
    /// A peering to a fresh /16 network by one customer route placed so (C05).
    Peering {
        route: RoutePlacement,
    },
}

/// Where a peering's customer route lies against the network's CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoutePlacement {
    /// A /20 within the network's range.
    Inside,
    /// The /8 that holds the network's range.
    Containing,
    /// The next /16: disjoint, so it connects.
    Adjacent,
}

/// One request and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvisionAttempt {
    pub at_ms: u64,
    pub asked: Provision,
    /// The HTTP status, or `None` when the control plane did not answer (it may be down).
    pub status: Option<u16>,
    /// For a created cluster: the SLA target it was given.
    pub sla_target_percent: Option<f64>,
}

#[derive(Debug, Clone, Default)]
pub struct ProvisionLog {
    pub attempts: Arc<Mutex<Vec<ProvisionAttempt>>>,
}

/// The paper's answer: `Some(sla)` if the request must be granted, `None` if refused.
fn granted(asked: &Provision) -> Option<f64> {
    match asked {
        Provision::Cluster { cluster_type: ClusterType::Basic, availability, networking } => {
            (*availability == Availability::SingleZone && *networking == Networking::Public).then_some(99.5)
        }
        Provision::Cluster { cluster_type: ClusterType::Standard, networking, .. } => {
            (*networking == Networking::Public).then_some(99.95)
        }
        // Single-tenant: no shared brokers for it, and the region has no others.
        Provision::Cluster { cluster_type: ClusterType::Dedicated, .. } => None,
        Provision::SchemaRegistry { nth } => (*nth == 1).then_some(0.0),
        // Overlapping ranges make routing ambiguous: refused.
        Provision::Peering { route } => (*route == RoutePlacement::Adjacent).then_some(0.0),
    }
}

/// (at ms, what) for every answer that differs from the paper, and how many answers were judged.
pub fn provisioning_violations(attempts: &[ProvisionAttempt]) -> (Vec<(u64, String)>, usize) {
    let mut violations = Vec::new();
    let mut judged = 0;
    for attempt in attempts {
        // No answer, or a server error: nothing was decided that the matrix could judge.
        let Some(status) = attempt.status.filter(|s| *s < 500) else { continue };
        judged += 1;
        let created = (200..300).contains(&status);
        match (granted(&attempt.asked), created) {
            (Some(_), false) if status == 401 || status == 403 => violations.push((
                attempt.at_ms,
                format!("{:?} was refused {status}: the harness is the organization admin", attempt.asked),
            )),
            (Some(_), false) => violations
                .push((attempt.at_ms, format!("{:?} is allowed by the paper but was refused {status}", attempt.asked))),
            (None, true) => violations.push((
                attempt.at_ms,
                format!("{:?} is not allowed by the paper but was granted ({status})", attempt.asked),
            )),
            (Some(sla), true)
                if matches!(attempt.asked, Provision::Cluster { .. }) && attempt.sla_target_percent != Some(sla) =>
            {
                violations.push((
                    attempt.at_ms,
                    format!(
                        "{:?} was created with SLA target {:?}, not {sla} %",
                        attempt.asked, attempt.sla_target_percent
                    ),
                ));
            }
            _ => {}
        }
    }
    (violations, judged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(
        cluster_type: ClusterType,
        availability: Availability,
        networking: Networking,
        status: u16,
        sla: Option<f64>,
    ) -> ProvisionAttempt {
        ProvisionAttempt {
            at_ms: 7,
            asked: Provision::Cluster { cluster_type, availability, networking },
            status: Some(status),
            sla_target_percent: sla,
        }
    }

    #[test]
    fn the_papers_answers_hold() {
        use Availability::*;
        use ClusterType::*;
        use Networking::*;
        let attempts = vec![
            cluster(Basic, SingleZone, Public, 201, Some(99.5)),
            cluster(Basic, MultiZone, Public, 400, None),
            cluster(Standard, MultiZone, Public, 201, Some(99.95)),
            cluster(Standard, SingleZone, Private, 400, None),
            cluster(Dedicated, MultiZone, Private, 409, None),
            ProvisionAttempt {
                at_ms: 8,
                asked: Provision::SchemaRegistry { nth: 1 },
                status: Some(201),
                sla_target_percent: None,
            },
            ProvisionAttempt {
                at_ms: 9,
                asked: Provision::SchemaRegistry { nth: 2 },
                status: Some(409),
                sla_target_percent: None,
            },
            ProvisionAttempt {
                at_ms: 9,
                asked: Provision::SchemaRegistry { nth: 2 },
                status: None,
                sla_target_percent: None,
            },
        ];
        let (violations, judged) = provisioning_violations(&attempts);
        assert!(violations.is_empty(), "{violations:?}");
        assert_eq!(judged, 7);
    }

    #[test]
    fn a_second_registry_a_shared_dedicated_cluster_a_wrong_sla_and_an_overlap_are_violations() {
        use Availability::*;
        use ClusterType::*;
        use Networking::*;
        let attempts = vec![
            ProvisionAttempt {
                at_ms: 9,
                asked: Provision::SchemaRegistry { nth: 2 },
                status: Some(201),
                sla_target_percent: None,
            },
            cluster(Dedicated, SingleZone, Public, 201, Some(99.95)),
            cluster(Standard, SingleZone, Public, 201, Some(99.5)),
            cluster(Basic, SingleZone, Public, 400, None),
            ProvisionAttempt {
                at_ms: 10,
                asked: Provision::Peering { route: RoutePlacement::Containing },
                status: Some(201),
                sla_target_percent: None,
            },
        ];
        let (violations, _) = provisioning_violations(&attempts);
        assert_eq!(violations.len(), 5, "{violations:?}");
        assert!(violations[0].1.contains("SchemaRegistry { nth: 2 } is not allowed"), "{violations:?}");
    }
}
