//! The `[control_plane]` section: service accounts the harness creates through the REST API
//! before the run (each with a cluster key and allow ACLs), timed control-plane actions, and
//! the clients that use those keys: a `key-user` (a leaked key in use), an `acl-prober`
//! (an ACL-limited application that tries everything) and a `tenant-prober` (a tenant probing
//! another tenant's names, C28). `tenants` are further logical clusters on the same brokers,
//! each with its own application that creates its topics and writes one record to each.

use broker::control_plane::model::ClusterType;
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
    #[serde(default)]
    pub tenants: Vec<TenantSpec>,
    /// Cluster and schema-registry requests against the paper's matrix (C03, C04).
    #[serde(default)]
    pub provisioner: Option<ProvisionerSpec>,
    /// Password and single-sign-on sign-ins, good and bad (C16).
    #[serde(default)]
    pub sign_in: Option<ProvisionerSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionerSpec {
    /// One request (the provisioner) or one round (sign-in) per interval.
    pub interval_ms: u64,
}

/// Another logical cluster on the simulated brokers (C28), with its own application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSpec {
    pub name: String,
    /// `Basic` or `Standard`: the multi-tenant types (a Dedicated cluster has brokers of its own).
    pub cluster_type: ClusterType,
    /// Topics its application creates (one partition) and writes one record to; a name may
    /// also be a topic of the scenario's own cluster: names collide freely across tenants.
    pub topics: Vec<String>,
    /// The region its cluster is created in (default: the organization's, region-1).
    #[serde(default)]
    pub region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountSpec {
    pub name: String,
    /// The tenant whose cluster the account's key opens and its ACLs guard (default: the
    /// organization's cluster, where the scenario's topics are).
    #[serde(default)]
    pub tenant: Option<String>,
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
    /// Delete the `service_account`'s key (retried until the control plane acknowledges it).
    DeleteKey,
    /// Delete the `tenant`'s cluster (retried likewise): its data must be unavailable at once
    /// and shredded (C13).
    DeleteCluster,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    pub at_s: f64,
    pub action: ActionKind,
    /// The account of a `delete-key`.
    #[serde(default)]
    pub service_account: Option<String>,
    /// The tenant of a `delete-cluster`.
    #[serde(default)]
    pub tenant: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientKind {
    /// Produces one record with the account's key every `interval_ms` (a leaked key in use).
    KeyUser,
    /// Every `interval_ms`, tries Produce, Fetch and Metadata on each topic with the key.
    AclProber,
    /// Every `interval_ms`, lists its cluster's topics, and asks for each of the `rival`
    /// tenant's topics and for a name that exists nowhere, the same way (Metadata, Fetch,
    /// Produce), and for the cluster's ACLs: nothing of the rival may show, and the two
    /// answers must not differ (C28).
    TenantProber,
    /// Produces 1 MiB batches to its one topic back to back and ignores every throttle time:
    /// only the brokers' per-tenant quotas can hold it back (C03).
    GreedyProducer,
    /// Fetches its one topic's partition 0 from the start, 4 MiB at a time, again and again,
    /// ignoring every throttle time (C03).
    GreedyConsumer,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    pub kind: ClientKind,
    pub service_account: String,
    pub topics: Vec<String>,
    /// The tenant a `tenant-prober` probes; `topics` are then that tenant's.
    #[serde(default)]
    pub rival: Option<String>,
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
        for (key, spec) in [("provisioner", &self.provisioner), ("sign_in", &self.sign_in)] {
            if spec.as_ref().is_some_and(|spec| !(100..=60_000).contains(&spec.interval_ms)) {
                return Err(ScenarioError::invalid(file, format!("control_plane.{key}.interval_ms"), "100 to 60000"));
            }
        }
        for (index, tenant) in self.tenants.iter().enumerate() {
            let key = |field: &str| format!("control_plane.tenants[{index}].{field}");
            if tenant.name.is_empty() || self.tenants.iter().filter(|t| t.name == tenant.name).count() > 1 {
                return Err(ScenarioError::invalid(file, key("name"), "a unique, non-empty name"));
            }
            if tenant.cluster_type == ClusterType::Dedicated {
                return Err(ScenarioError::invalid(
                    file,
                    key("cluster_type"),
                    "Basic or Standard (a Dedicated cluster is single-tenant: brokers of its own)",
                ));
            }
            if tenant.topics.is_empty() {
                return Err(ScenarioError::invalid(file, key("topics"), "at least one topic"));
            }
        }
        let tenant = |key: String, name: &str| -> Result<&TenantSpec, ScenarioError> {
            self.tenants.iter().find(|t| t.name == name).ok_or_else(|| {
                ScenarioError::invalid(file, key, format!("a [[control_plane.tenants]] name, got {name:?}"))
            })
        };
        for (index, spec) in self.service_accounts.iter().enumerate() {
            if let Some(name) = &spec.tenant {
                tenant(format!("control_plane.service_accounts[{index}].tenant"), name)?;
            }
            if spec.name.is_empty() || self.service_accounts.iter().filter(|a| a.name == spec.name).count() > 1 {
                return Err(ScenarioError::invalid(
                    file,
                    format!("control_plane.service_accounts[{index}].name"),
                    "a unique, non-empty name",
                ));
            }
        }
        for (index, action) in self.actions.iter().enumerate() {
            let key = |field: &str| format!("control_plane.actions[{index}].{field}");
            match (action.action, &action.service_account, &action.tenant) {
                (ActionKind::DeleteKey, Some(name), None) => account(key("service_account"), name)?,
                (ActionKind::DeleteCluster, None, Some(name)) => {
                    tenant(key("tenant"), name)?;
                    if self.actions.iter().filter(|a| a.tenant == action.tenant).count() > 1 {
                        return Err(ScenarioError::invalid(file, key("tenant"), "a cluster deleted once"));
                    }
                }
                (ActionKind::DeleteKey, ..) => {
                    return Err(ScenarioError::invalid(
                        file,
                        key("service_account"),
                        "a delete-key names a service_account and no tenant",
                    ))
                }
                (ActionKind::DeleteCluster, ..) => {
                    return Err(ScenarioError::invalid(
                        file,
                        key("tenant"),
                        "a delete-cluster names a tenant and no service_account",
                    ))
                }
            }
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
            // An account of a tenant uses that tenant's topics.
            let own_tenant = self
                .service_accounts
                .iter()
                .find(|a| a.name == client.service_account)
                .and_then(|a| a.tenant.as_deref())
                .and_then(|name| self.tenants.iter().find(|t| t.name == name));
            if client.topics.is_empty() {
                return Err(ScenarioError::invalid(
                    file,
                    format!("control_plane.clients[{index}].topics"),
                    "at least one topic",
                ));
            }
            let greedy = matches!(client.kind, ClientKind::GreedyProducer | ClientKind::GreedyConsumer);
            if greedy && client.topics.len() != 1 {
                return Err(ScenarioError::invalid(
                    file,
                    format!("control_plane.clients[{index}].topics"),
                    "exactly one topic for a greedy client",
                ));
            }
            let rival = match (client.kind, &client.rival) {
                (ClientKind::TenantProber, Some(name)) => {
                    Some(tenant(format!("control_plane.clients[{index}].rival"), name)?)
                }
                (ClientKind::TenantProber, None) | (_, Some(_)) => {
                    return Err(ScenarioError::invalid(
                        file,
                        format!("control_plane.clients[{index}].rival"),
                        "a tenant for a tenant-prober, and only for one",
                    ))
                }
                _ => None,
            };
            for topic in &client.topics {
                let (known, whose) = match (rival, own_tenant) {
                    (Some(rival), _) => (rival.topics.contains(topic), "the rival tenant's topics"),
                    (None, Some(own)) => (own.topics.contains(topic), "the account's tenant's topics"),
                    (None, None) => (topics.iter().any(|t| &t.name == topic), "topics of the scenario's [[topics]]"),
                };
                if !known {
                    return Err(ScenarioError::invalid(
                        file,
                        format!("control_plane.clients[{index}].topics"),
                        format!("{whose}, got {topic:?}"),
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
