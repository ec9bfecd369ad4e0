//! The `[control_plane]` section: service accounts the harness creates through the REST API
//! before the run (each with a cluster key and allow ACLs), timed control-plane actions, and
//! the clients that use those keys: a `key-user` (a leaked key in use) and an `acl-prober`
//! (an ACL-limited application that tries everything).

use broker::security::acl::{Operation, PatternType, ResourceType};
use serde::{Deserialize, Serialize};

use super::{ScenarioError, TopicSpec};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlPlaneSpec {
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccountSpec>,
    #[serde(default)]
    pub actions: Vec<ActionSpec>,
    #[serde(default)]
    pub clients: Vec<ClientSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountSpec {
    pub name: String,
    /// Allow bindings for the account on the cluster.
    #[serde(default)]
    pub acls: Vec<AclSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclSpec {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    pub operation: Operation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// Delete the account's key (retried until the control plane acknowledges it).
    DeleteKey,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    pub at_s: f64,
    pub action: ActionKind,
    pub service_account: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientKind {
    /// Produces one record with the account's key every `interval_ms` (a leaked key in use).
    KeyUser,
    /// Every `interval_ms`, tries Produce, Fetch and Metadata on each topic with the key.
    AclProber,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    pub kind: ClientKind,
    pub service_account: String,
    pub topics: Vec<String>,
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
}

fn default_interval() -> u64 {
    200
}

impl ControlPlaneSpec {
    /// References must resolve: accounts by name, topics among the scenario's.
    pub(super) fn validate(&self, file: &str, topics: &[TopicSpec], duration_s: u64) -> Result<(), ScenarioError> {
        let account = |key: String, name: &str| -> Result<(), ScenarioError> {
            if self.service_accounts.iter().any(|a| a.name == name) {
                Ok(())
            } else {
                Err(ScenarioError::invalid(
                    file,
                    key,
                    format!("a [[control_plane.service_accounts]] name, got {name:?}"),
                ))
            }
        };
        for (index, spec) in self.service_accounts.iter().enumerate() {
            if spec.name.is_empty() || self.service_accounts.iter().filter(|a| a.name == spec.name).count() > 1 {
                return Err(ScenarioError::invalid(
                    file,
                    format!("control_plane.service_accounts[{index}].name"),
                    "a unique, non-empty name",
                ));
            }
        }
        for (index, action) in self.actions.iter().enumerate() {
            account(format!("control_plane.actions[{index}].service_account"), &action.service_account)?;
            if !(action.at_s >= 0.0 && action.at_s < duration_s as f64) {
                return Err(ScenarioError::invalid(
                    file,
                    format!("control_plane.actions[{index}].at_s"),
                    format!("0 <= at_s < duration_s ({duration_s})"),
                ));
            }
        }
        for (index, client) in self.clients.iter().enumerate() {
            account(format!("control_plane.clients[{index}].service_account"), &client.service_account)?;
            if client.topics.is_empty() {
                return Err(ScenarioError::invalid(
                    file,
                    format!("control_plane.clients[{index}].topics"),
                    "at least one topic",
                ));
            }
            for topic in &client.topics {
                if !topics.iter().any(|t| &t.name == topic) {
                    return Err(ScenarioError::invalid(
                        file,
                        format!("control_plane.clients[{index}].topics"),
                        format!("topics of the scenario's [[topics]], got {topic:?}"),
                    ));
                }
            }
            if !(10..=60_000).contains(&client.interval_ms) {
                return Err(ScenarioError::invalid(
                    file,
                    format!("control_plane.clients[{index}].interval_ms"),
                    "10 to 60000",
                ));
            }
        }
        Ok(())
    }
}
