//! Operator access (C10): the service's own staff reach production only through bastion hosts,
//! with a second factor and a role. The staff `directory` holds operators, their TOTP secrets
//! and roles (with an end), checks second factors (refusing a code used before) and ends roles;
//! a `bastion` opens a session only after the directory said yes, lets it do only what its role
//! permits, asks the directory again every `REVALIDATE_INTERVAL` and closes it when the role
//! ended, when the directory has not confirmed it for `REVOCATION_BOUND` (failing closed) or
//! after `SESSION_TTL`. Brokers accept the bastions' key only from the bastions' addresses.
//! Every decision is an event in the security log store (C12).

pub mod bastion;
pub mod directory;
pub mod totp;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A session lasts at most this long; then the operator authenticates again.
pub const SESSION_TTL: Duration = Duration::from_secs(3600);
/// How often a bastion asks the directory whether its sessions' roles still hold.
pub const REVALIDATE_INTERVAL: Duration = Duration::from_secs(10);
/// The stated bound: a session whose role ended (or that the directory has not confirmed for
/// this long) does nothing more after it.
pub const REVOCATION_BOUND: Duration = Duration::from_secs(30);
/// The directory's and the bastions' port (C01: 443 and 9092 only).
pub const OPERATOR_PORT: u16 = 443;
/// The key bastions use at the brokers; brokers refuse it from any other address.
pub const BASTION_API_KEY: &str = "bastion";

/// What an operator may do, by role (least privilege).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperatorRole {
    /// Reads the cluster's shape.
    Observer,
    /// Also lists topics.
    Support,
}

/// What an operator asks a bastion to do on a broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperatorAction {
    DescribeCluster,
    ListTopics,
}

impl OperatorRole {
    pub fn permits(self, action: OperatorAction) -> bool {
        match (self, action) {
            (_, OperatorAction::DescribeCluster) => true,
            (OperatorRole::Support, OperatorAction::ListTopics) => true,
            (OperatorRole::Observer, OperatorAction::ListTopics) => false,
        }
    }
}
