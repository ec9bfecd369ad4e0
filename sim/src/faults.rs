//! The nemesis. Each fault is a value with a start, an end and a printed form; a schedule is
//! the scenario's explicit faults plus those the seed generates from rates (swarm testing).
//! Dynamic targets (the controller leader's zone, a partition's leader) are resolved when the
//! fault starts and logged in the trace.

use broker::control_plane::model::internal_topic_name;
use rand_chacha::rand_core::RngCore;

use crate::scenario::{DurationDraw, Fault, FaultKind, Group, Scenario, ZONES};
use crate::seeds::{self, Stream};
use std::time::Duration;

use crate::world::{Impairment, World};

/// The service's timeouts, in seconds, that fault lengths should straddle: a fault just shorter
/// than a timeout and one just longer exercise different code (a broker back before it is
/// fenced; a follower back just after it left the ISR). Read from the service's own constants.
pub fn service_timeouts_s() -> Vec<(&'static str, f64)> {
    use broker::quorum::{BROKER_SESSION_TIMEOUT_MS, CONTROLLER_REQUEST_TIMEOUT, ELECTION_TIMEOUT_MS};
    vec![
        ("raft election timeout (min)", ELECTION_TIMEOUT_MS.0 as f64 / 1000.0),
        ("raft election timeout (max)", ELECTION_TIMEOUT_MS.1 as f64 / 1000.0),
        ("controller request timeout", CONTROLLER_REQUEST_TIMEOUT.as_secs_f64()),
        ("broker session timeout", BROKER_SESSION_TIMEOUT_MS as f64 / 1000.0),
        (
            "replica.lag.time.max.ms",
            broker::replication::ReplicationConfig::default().replica_lag_time_max_ms as f64 / 1000.0,
        ),
        ("producer delivery timeout", crate::workload::producer::DELIVERY_TIMEOUT.as_secs_f64()),
        ("DNS answer TTL", broker::network::dns::ANSWER_TTL.as_secs_f64()),
        ("key renewal interval", broker::kms::keyring::KEY_RENEW_INTERVAL.as_secs_f64()),
        ("key lease", broker::kms::keyring::KEY_LEASE.as_secs_f64()),
    ]
}

/// Just under, just over, half and twice a timeout.
const STRADDLE_FACTORS: [f64; 4] = [0.9, 1.1, 0.5, 2.0];
/// A zone that lost its disks needs this long after it is back to be a full member again
/// (re-replication, voter replacement); a second zone loss before that is beyond the promise
/// (C20: one zone down), so the swarm does not draw one.
const ZONE_LOSS_RECOVERY_S: f64 = 60.0;

/// The explicit faults plus the seed's generated ones, sorted by start (an SLA month's: drawn
/// from its rates).
pub fn expand(scenario: &Scenario, seed: u64) -> Vec<Fault> {
    // An SLA month draws from its rates, over the month (its episodes get fixed schedules).
    if let Some(month) = scenario.sla_month.as_ref().filter(|m| m.episode.is_none()) {
        return crate::sla::month_faults(month, seed);
    }
    let mut faults: Vec<Fault> = scenario.faults.iter().map(Fault::from).collect();
    if let Some(generate) = &scenario.generate {
        let mut rng = seeds::rng(seed, Stream::Schedule, 0);
        let mut uniform = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let window_s = scenario.duration_s as f64 * 0.8;
        let expected = generate.rate_per_minute * window_s / 60.0;
        // A Poisson-ish count: the expected number, rounded by a draw.
        let count = (expected + uniform()).floor() as usize;
        let kinds: Vec<FaultKind> = if generate.swarm {
            // Swarm testing: a non-empty subset of the kinds, each in with probability 1/2.
            let mask = loop {
                let mask: Vec<bool> = generate.kinds.iter().map(|_| uniform() < 0.5).collect();
                if mask.iter().any(|on| *on) {
                    break mask;
                }
            };
            generate.kinds.iter().zip(mask).filter(|(_, on)| *on).map(|(kind, _)| kind.clone()).collect()
        } else {
            generate.kinds.clone()
        };
        let timeouts = service_timeouts_s();
        let mut zone_losses: Vec<(f64, f64)> = Vec::new();
        for _ in 0..count {
            let kind = kinds[(uniform() * kinds.len() as f64) as usize % kinds.len()].clone();
            let length = match generate.durations {
                DurationDraw::Uniform => {
                    generate.duration_s_min + uniform() * (generate.duration_s_max - generate.duration_s_min)
                }
                DurationDraw::StraddleTimeouts => {
                    let (_, timeout) = timeouts[(uniform() * timeouts.len() as f64) as usize % timeouts.len()];
                    let factor = STRADDLE_FACTORS[(uniform() * 4.0) as usize % 4] * (0.97 + 0.06 * uniform());
                    (timeout * factor).clamp(generate.duration_s_min, generate.duration_s_max)
                }
            };
            let start = 5.0 + uniform() * (window_s - length).max(1.0);
            let end = (start + length).min(scenario.duration_s as f64 - 1.0);
            if kind == FaultKind::ZoneLoss {
                let overlaps = zone_losses
                    .iter()
                    .any(|(s, e)| start < e + ZONE_LOSS_RECOVERY_S && *s < end + ZONE_LOSS_RECOVERY_S);
                if overlaps {
                    continue;
                }
                zone_losses.push((start, end));
            }
            let zone = Group::Zone((uniform() * 3.0) as usize % 3);
            let broker = Group::Broker(1 + (uniform() * 3.0) as u8 % 3);
            let (target, peer, amount) = match kind {
                FaultKind::ZoneOutage | FaultKind::ZoneLoss => (Some(zone), None, None),
                FaultKind::KillNode | FaultKind::Pause => (Some(broker), None, None),
                // From a healthy disk's 2.2 ms to a stalled one's, around the produce timeouts.
                FaultKind::SlowDisk => (Some(zone), None, Some((20.0 + uniform() * 480.0).round())),
                FaultKind::RouteWithdrawn | FaultKind::PeeringDeleted => (Some(Group::Peering), None, None),
                FaultKind::DnsOutage
                | FaultKind::TransitGatewayDetach
                | FaultKind::DnsChange
                | FaultKind::RegionOutage
                | FaultKind::KmsOutage => (None, None, None),
                FaultKind::Partition | FaultKind::OneWayPartition => {
                    let targets =
                        [Group::Zone(0), Group::Zone(1), Group::Zone(2), Group::Peering, Group::ControllerLeaderZone];
                    (Some(targets[(uniform() * 5.0) as usize % 5].clone()), Some(Group::Rest), None)
                }
                FaultKind::Latency => (None, None, Some((20.0 + uniform() * 200.0).round())),
                FaultKind::Loss => (None, None, Some((uniform() * 0.2 * 100.0).round() / 100.0)),
            };
            faults.push(Fault {
                kind,
                target,
                peer,
                start_ms: (start * 1000.0) as u64,
                end_ms: (end * 1000.0) as u64,
                amount,
            });
        }
    }
    faults.sort_by(|a, b| (a.start_ms, a.end_ms, a.kind.name()).cmp(&(b.start_ms, b.end_ms, b.kind.name())));
    faults
}

/// Machine names a group stands for, now.
pub fn resolve(world: &World, group: &Group, other: Option<&[String]>) -> Vec<String> {
    // A zone takes every machine in it: brokers and the DNS server there.
    let brokers_in_zone =
        |zone: &str| world.all_machines().filter(|m| m.zone == Some(zone)).map(|m| m.name.clone()).collect::<Vec<_>>();
    let leader_of = |partition: Option<(&str, i32)>| {
        world.brokers.iter().find_map(|b| {
            let node = world.live_node(&b.name)?;
            match partition {
                Some((topic, index)) => {
                    let internal = internal_topic_name(&world.organization.cluster_id, topic);
                    node.metadata().partition(&internal, index).map(|s| s.leader)
                }
                None => node.controller().leader(),
            }
        })
    };
    match group {
        Group::Zone(index) => brokers_in_zone(ZONES[*index]),
        Group::Broker(id) => vec![format!("broker-{id}")],
        Group::Peering => world.clients.iter().map(|c| c.name.clone()).collect(),
        Group::ControlPlane => vec![world.control_plane.name.clone()],
        Group::KeyService => world.key_service.machines.iter().map(|m| m.name.clone()).collect(),
        Group::Cluster => world.brokers.iter().map(|b| b.name.clone()).collect(),
        Group::Rest => {
            world.all_machines().map(|m| m.name.clone()).filter(|n| other.is_none_or(|o| !o.contains(n))).collect()
        }
        Group::ControllerLeaderZone => {
            let name = format!("broker-{}", leader_of(None).unwrap_or(1));
            brokers_in_zone(world.machine(&name).and_then(|m| m.zone).unwrap_or("zone-a"))
        }
        Group::PartitionLeader { topic, partition } => {
            vec![format!("broker-{}", leader_of(Some((topic, *partition))).unwrap_or(1).max(1))]
        }
    }
}

/// A `slow-disk` fault's fsync latency.
fn slow_sync(fault: &Fault) -> Duration {
    Duration::from_secs_f64(fault.amount.unwrap_or(0.0) / 1000.0)
}

/// What a started fault needs to undo itself.
#[derive(Debug, Clone)]
pub struct ActiveFault {
    pub fault: Fault,
    pub machines: Vec<String>,
    pub peers: Vec<String>,
    /// The number of a latency or loss impairment, to restore it.
    pub impairment: Option<u64>,
}

/// Starts a fault; returns what it touched (for the trace) and how to end it.
pub fn start(world: &std::sync::Arc<World>, fault: &Fault) -> ActiveFault {
    // Latency and loss without groups hit every link of the brokers (to each other and to clients).
    let impairs = matches!(fault.kind, FaultKind::Latency | FaultKind::Loss);
    let target = fault.target.clone().or(impairs.then_some(Group::Cluster));
    let machines = match fault.kind {
        // Every zone of the customer's region: its brokers and DNS servers.
        // The region's key service goes down with it (its store, regional too, keeps its keys).
        FaultKind::RegionOutage => {
            world.brokers.iter().chain(&world.dns).chain(&world.key_service.machines).map(|m| m.name.clone()).collect()
        }
        FaultKind::KmsOutage => resolve(world, &Group::KeyService, None),
        _ => target.as_ref().map(|t| resolve(world, t, None)).unwrap_or_default(),
    };
    let peers = match &fault.peer {
        Some(peer) => resolve(world, peer, Some(&machines)),
        None if impairs => world.all_machines().map(|m| m.name.clone()).collect(),
        None => Vec::new(),
    };
    match fault.kind {
        FaultKind::KillNode | FaultKind::KmsOutage => {
            for name in &machines {
                world.take_down(name);
            }
        }
        FaultKind::ZoneOutage | FaultKind::ZoneLoss | FaultKind::RegionOutage => {
            for name in &machines {
                world.take_down(name);
                // The key service's frontends keep nothing on disk (its store is regional).
                let Some(disk) = world.disks.get(name) else { continue };
                if fault.kind == FaultKind::ZoneLoss {
                    disk.destroy();
                } else {
                    disk.power_loss();
                }
            }
        }
        FaultKind::SlowDisk => {
            for disk in machines.iter().filter_map(|name| world.disks.get(name)) {
                disk.slow_down(slow_sync(fault));
            }
        }
        FaultKind::Partition => {
            world.cut(&machines, &peers);
            world.cut(&peers, &machines);
        }
        FaultKind::OneWayPartition => world.cut(&machines, &peers),
        FaultKind::Latency | FaultKind::Loss => {
            let amount = fault.amount.unwrap_or(0.0);
            let impairment = if fault.kind == FaultKind::Latency {
                let latency = Duration::from_secs_f64(amount / 1000.0);
                Impairment { latency, jitter: latency / 10, loss: 0.0 }
            } else {
                Impairment { loss: amount, ..Impairment::default() }
            };
            let id = world.impair(&machines, &peers, impairment);
            return ActiveFault { fault: fault.clone(), machines, peers, impairment: Some(id) };
        }
        FaultKind::Pause => {
            for name in &machines {
                world.pause(name);
            }
        }
        FaultKind::RouteWithdrawn => world.withdraw_customer_route(),
        FaultKind::TransitGatewayDetach => world.detach_transit_gateway(),
        FaultKind::PeeringDeleted => world.delete_customer_peering(),
        FaultKind::DnsChange => world.move_public_endpoints(true),
        FaultKind::DnsOutage => {
            for name in world.dns_servers() {
                world.take_down(&name);
            }
        }
    }
    ActiveFault { fault: fault.clone(), machines, peers, impairment: None }
}

pub fn end(world: &std::sync::Arc<World>, active: &ActiveFault) {
    match active.fault.kind {
        FaultKind::KillNode
        | FaultKind::ZoneOutage
        | FaultKind::ZoneLoss
        | FaultKind::RegionOutage
        | FaultKind::KmsOutage => {
            for name in &active.machines {
                world.bring_up(name);
            }
        }
        FaultKind::Partition => {
            world.heal(&active.machines, &active.peers);
            world.heal(&active.peers, &active.machines);
        }
        FaultKind::OneWayPartition => world.heal(&active.machines, &active.peers),
        FaultKind::SlowDisk => {
            for disk in active.machines.iter().filter_map(|name| world.disks.get(name)) {
                disk.speed_up(slow_sync(&active.fault));
            }
        }
        FaultKind::Latency | FaultKind::Loss => world.restore(
            active.impairment.expect("latency and loss faults are impairments"),
            &active.machines,
            &active.peers,
        ),
        FaultKind::Pause => {
            for name in &active.machines {
                world.resume(name);
            }
        }
        FaultKind::RouteWithdrawn => world.restore_customer_route(),
        FaultKind::TransitGatewayDetach => world.reattach_transit_gateway(),
        FaultKind::PeeringDeleted => world.recreate_customer_peering(),
        FaultKind::DnsChange => world.move_public_endpoints(false),
        FaultKind::DnsOutage => {
            for name in world.dns_servers() {
                world.bring_up(&name);
            }
        }
    }
}
