//! The groups a fault can name: zones, brokers, the customer network, and the dynamic ones
//! resolved when the fault starts (the controller leader's zone, a partition's leader).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The zones every scenario's world has (one region, three zones, one broker each).
pub const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Group {
    /// One of `ZONES`, by index.
    Zone(usize),
    /// `broker-1` .. `broker-3`.
    Broker(u8),
    /// The customer's network (every client machine), across the peering link.
    Peering,
    /// The control plane's machine (its own network).
    ControlPlane,
    /// The region's key service: its frontend in every zone (the store behind them is the
    /// provider's and never fails).
    KeyService,
    /// The zone of the controller quorum's leader when the fault starts.
    ControllerLeaderZone,
    /// The broker leading a partition when the fault starts.
    PartitionLeader { topic: String, partition: i32 },
    /// Everything not on the other side (the peer of a partition only).
    Rest,
    /// Every broker (latency and loss).
    Cluster,
}

/// A group name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no group {0:?} (groups: zone-a..zone-c, broker-1..broker-3, peering, control-plane, key-service, controller-leader-zone, partition-leader:<topic>/<n>, rest, cluster)")]
pub struct UnknownGroup(pub String);

impl Group {
    /// Zone failures take a zone, fixed or dynamic.
    pub fn is_zone(&self) -> bool {
        matches!(self, Group::Zone(_) | Group::ControllerLeaderZone)
    }
}

impl FromStr for Group {
    type Err = UnknownGroup;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if let Some(index) = ZONES.iter().position(|zone| *zone == name) {
            return Ok(Group::Zone(index));
        }
        let group = match name {
            "broker-1" => Group::Broker(1),
            "broker-2" => Group::Broker(2),
            "broker-3" => Group::Broker(3),
            "peering" => Group::Peering,
            "control-plane" => Group::ControlPlane,
            "key-service" => Group::KeyService,
            "controller-leader-zone" => Group::ControllerLeaderZone,
            "rest" => Group::Rest,
            "cluster" => Group::Cluster,
            _ => {
                let leader = name.strip_prefix("partition-leader:").and_then(|rest| rest.split_once('/'));
                match leader.and_then(|(topic, partition)| Some((topic, partition.parse::<i32>().ok()?))) {
                    Some((topic, partition)) if !topic.is_empty() && partition >= 0 => {
                        Group::PartitionLeader { topic: topic.to_string(), partition }
                    }
                    _ => return Err(UnknownGroup(name.to_string())),
                }
            }
        };
        Ok(group)
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Group::Zone(index) => f.write_str(ZONES[*index]),
            Group::Broker(id) => write!(f, "broker-{id}"),
            Group::Peering => f.write_str("peering"),
            Group::ControlPlane => f.write_str("control-plane"),
            Group::KeyService => f.write_str("key-service"),
            Group::ControllerLeaderZone => f.write_str("controller-leader-zone"),
            Group::PartitionLeader { topic, partition } => write!(f, "partition-leader:{topic}/{partition}"),
            Group::Rest => f.write_str("rest"),
            Group::Cluster => f.write_str("cluster"),
        }
    }
}

impl TryFrom<String> for Group {
    type Error = UnknownGroup;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

impl From<Group> for String {
    fn from(group: Group) -> String {
        group.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_prints_as_it_parses_and_unknown_names_are_refused() {
        for name in [
            "zone-a",
            "zone-c",
            "broker-2",
            "peering",
            "control-plane",
            "key-service",
            "controller-leader-zone",
            "partition-leader:orders/3",
            "rest",
            "cluster",
        ] {
            assert_eq!(name.parse::<Group>().unwrap().to_string(), name);
        }
        for bad in ["zone-d", "broker-4", "partition-leader:orders", "partition-leader:/1", "partition-leader:t/-1", ""]
        {
            assert_eq!(bad.parse::<Group>(), Err(UnknownGroup(bad.to_string())), "{bad}");
        }
    }
}
