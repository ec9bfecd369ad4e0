//! What a broker knows of its customers (C14-C17): the API keys and ACLs of the logical clusters
//! it hosts, as last pulled from the control plane, and the two questions every connection asks
//! of them: who is this key, and may it do this. Both fail closed.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::model::ClusterLimits;
use super::network::Endpoints;
use super::snapshot::{DataPlaneSnapshot, DeletedCluster, KeyGrant};
use crate::kms::keys::tenant_key_alias;
use crate::planted_bugs::{PlantedBug, PlantedBugs};
use crate::security::acl::{Acls, Action, Operation, ResourceType};
use crate::security::sasl::{CredentialStore, Customer, Principal, Role};
use crate::security::secrets::VerifiedSecrets;

/// One version of the control plane's data-plane state, immutable once built.
#[derive(Debug, Default)]
pub struct DataPlaneAccess {
    pub version: u64,
    /// The limits of every hosted logical cluster that has them (Basic and Standard).
    limits: BTreeMap<String, ClusterLimits>,
    keys: BTreeMap<String, KeyGrant>,
    acls: BTreeMap<String, Acls>,
    empty: Acls,
    /// Who may connect at all, and which addresses they are given (C05, C06).
    pub endpoints: Endpoints,
    /// Every hosted logical cluster -> the customer's own master key, if it brought one (C09).
    encryption_keys: BTreeMap<String, Option<String>>,
    /// Deleted logical clusters whose data the brokers shred (C13).
    pub deleted_clusters: Vec<DeletedCluster>,
}

impl DataPlaneAccess {
    pub fn from_snapshot(snapshot: DataPlaneSnapshot, bugs: PlantedBugs) -> Self {
        let mut bindings: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for acl in snapshot.acls {
            bindings.entry(acl.cluster_id).or_default().push(acl.binding);
        }
        let mut endpoints = Endpoints::new(snapshot.clusters.iter().map(|c| (c.networking, c.network.as_ref())));
        endpoints.public_addresses = snapshot.public_endpoints.clone();
        DataPlaneAccess {
            endpoints,
            version: snapshot.version,
            limits: snapshot.clusters.iter().filter_map(|c| Some((c.id.clone(), c.limits?))).collect(),
            encryption_keys: snapshot.clusters.iter().map(|c| (c.id.clone(), c.encryption_key.clone())).collect(),
            keys: snapshot.api_keys.into_iter().map(|key| (key.id.clone(), key)).collect(),
            acls: bindings.into_iter().map(|(cluster, bindings)| (cluster, Acls::new(bindings, bugs))).collect(),
            empty: Acls::default(),
            // Planted: the tombstones never reach the shredder.
            deleted_clusters: if bugs.is_on(PlantedBug::DeletedClusterStillReadable) {
                Vec::new()
            } else {
                snapshot.deleted_clusters
            },
        }
    }

    /// A logical cluster's quotas, if it has any (Dedicated clusters do not).
    pub fn limits(&self, cluster_id: &str) -> Option<ClusterLimits> {
        self.limits.get(cluster_id).copied()
    }

    /// The master key that protects a hosted cluster's data: the customer's own, or the one
    /// the service keeps for it. `None` for a cluster this snapshot does not host.
    pub fn master_key(&self, cluster_id: &str) -> Option<String> {
        let own = self.encryption_keys.get(cluster_id)?;
        Some(own.clone().unwrap_or_else(|| tenant_key_alias(cluster_id)))
    }

    /// Whether a hosted cluster's data is under `master_key` (a customer may use one key for
    /// several clusters: deleting one must not forget the others').
    pub fn uses_master_key(&self, master_key: &str) -> bool {
        self.encryption_keys.values().any(|own| own.as_deref() == Some(master_key))
    }

    pub fn key(&self, id: &str) -> Option<&KeyGrant> {
        self.keys.get(id)
    }

    pub fn acls(&self, cluster_id: &str) -> &Acls {
        self.acls.get(cluster_id).unwrap_or(&self.empty)
    }

    /// Whether `principal` may do `operation` on the named resource of its own cluster.
    pub(crate) fn authorize(
        &self,
        principal: &Principal,
        host: &str,
        operation: Operation,
        resource_type: ResourceType,
        resource_name: &str,
    ) -> bool {
        match &principal.customer {
            // The service's own brokers.
            None => principal.role == Role::Broker,
            Some(customer) if customer.super_user => true,
            Some(customer) => self.acls(&customer.cluster_id).authorize(&Action {
                principal: &customer.name,
                host,
                operation,
                resource_type,
                resource_name,
            }),
        }
    }

    /// Whether `principal` may do `operation` on some resource of the type.
    pub(crate) fn authorize_any(
        &self,
        principal: &Principal,
        operation: Operation,
        resource_type: ResourceType,
    ) -> bool {
        match &principal.customer {
            None => principal.role == Role::Broker,
            Some(customer) if customer.super_user => true,
            Some(customer) => self.acls(&customer.cluster_id).authorize_any(&customer.name, operation, resource_type),
        }
    }
}

/// Checks SASL credentials: the service's own keys from its file, then customer keys from the
/// control plane's latest snapshot.
#[derive(Debug, Default)]
pub struct Authenticator {
    verified: VerifiedSecrets,
    /// Keys that verified once, with whom they were (read only by the planted stale cache).
    remembered: Mutex<BTreeMap<String, Principal>>,
    bugs: PlantedBugs,
}

impl Authenticator {
    pub fn new(bugs: PlantedBugs) -> Self {
        Authenticator { bugs, ..Default::default() }
    }

    pub(crate) fn authenticate(
        &self,
        service_keys: &CredentialStore,
        access: &DataPlaneAccess,
        api_key: &str,
        secret: &[u8],
    ) -> Option<Principal> {
        if let Some(principal) = service_keys.verify(api_key, secret) {
            return Some(principal);
        }
        if self.bugs.is_on(PlantedBug::StaleCredentialCache) && self.verified.remembers(api_key, secret) {
            // Planted: the cache is trusted before the current key list.
            return self.remembered.lock().unwrap().get(api_key).cloned();
        }
        let grant = access.key(api_key)?;
        if !self.verified.verify(api_key, &grant.secret_hash, secret) {
            return None;
        }
        let principal = Principal {
            api_key: api_key.to_string(),
            role: Role::Client,
            customer: Some(Customer {
                name: grant.principal.clone(),
                cluster_id: grant.cluster_id.clone(),
                super_user: grant.super_user,
            }),
        };
        self.remembered.lock().unwrap().insert(api_key.to_string(), principal.clone());
        Some(principal)
    }

    /// Whether an authenticated connection may go on: a customer key must still exist with the
    /// same owner (deleted keys close their connections at the next request).
    pub(crate) fn still_valid(&self, access: &DataPlaneAccess, principal: &Principal) -> bool {
        let Some(customer) = &principal.customer else { return true };
        if customer.cluster_id.is_empty() {
            // An operator key of the credentials file: the control plane does not revoke it.
            return true;
        }
        if self.bugs.is_on(PlantedBug::StaleCredentialCache) {
            return true;
        }
        access.key(&principal.api_key).is_some_and(|grant| grant.principal == customer.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control_plane::snapshot::ClusterAcl;
    use crate::security::acl::{AclBinding, PatternType, Permission};
    use crate::security::secrets::SecretHash;

    fn snapshot(keys: &[(&str, &str)], acls: Vec<AclBinding>) -> DataPlaneSnapshot {
        DataPlaneSnapshot {
            version: 1,
            physical_cluster_id: "pkc-1".into(),
            clusters: Vec::new(),
            api_keys: keys
                .iter()
                .map(|(id, secret)| KeyGrant {
                    id: id.to_string(),
                    secret_hash: SecretHash::new(secret, 4, [5; 16]).unwrap(),
                    principal: "User:sa-app".into(),
                    cluster_id: "lkc-1".into(),
                    super_user: false,
                })
                .collect(),
            acls: acls.into_iter().map(|binding| ClusterAcl { cluster_id: "lkc-1".into(), binding }).collect(),
            public_endpoints: Vec::new(),
            deleted_clusters: Vec::new(),
        }
    }

    #[test]
    fn a_clusters_master_key_is_its_own_its_service_key_or_none_when_not_hosted() {
        use crate::control_plane::model::{ClusterType, Networking};
        use crate::control_plane::snapshot::HostedCluster;
        let hosted = |id: &str, encryption_key: Option<&str>| HostedCluster {
            id: id.into(),
            cluster_type: ClusterType::Dedicated,
            limits: None,
            networking: Networking::Public,
            network: None,
            encryption_key: encryption_key.map(str::to_string),
        };
        let mut with_clusters = snapshot(&[], Vec::new());
        with_clusters.clusters = vec![hosted("lkc-own", Some("arn:k")), hosted("lkc-kept", None)];
        let access = DataPlaneAccess::from_snapshot(with_clusters, PlantedBugs::none());
        assert_eq!(access.master_key("lkc-own").as_deref(), Some("arn:k"));
        assert_eq!(access.master_key("lkc-kept").as_deref(), Some("alias/faultline/tenant/lkc-kept"));
        assert_eq!(access.master_key("lkc-gone"), None, "a cluster not hosted has no key: nothing is sealed");
    }

    #[test]
    fn deleted_keys_stop_working_unless_the_stale_cache_is_planted() {
        let write = AclBinding {
            principal: "User:sa-app".into(),
            host: "*".into(),
            resource_type: ResourceType::Topic,
            resource_name: "orders".into(),
            pattern_type: PatternType::Literal,
            operation: Operation::Write,
            permission: Permission::Allow,
        };
        let before = DataPlaneAccess::from_snapshot(snapshot(&[("KEY", "secret")], vec![write]), PlantedBugs::none());
        let after = DataPlaneAccess::from_snapshot(snapshot(&[], vec![]), PlantedBugs::none());
        let service = CredentialStore::default();
        for (bugs, works_after) in
            [(PlantedBugs::none(), false), (PlantedBugs::from_names(["stale-credential-cache"]).unwrap(), true)]
        {
            let authenticator = Authenticator::new(bugs);
            let principal = authenticator.authenticate(&service, &before, "KEY", b"secret").unwrap();
            assert!(before.authorize(&principal, "h", Operation::Write, ResourceType::Topic, "orders"));
            assert!(!before.authorize(&principal, "h", Operation::Write, ResourceType::Topic, "payroll"));
            assert!(authenticator.authenticate(&service, &before, "KEY", b"wrong").is_none());
            assert_eq!(authenticator.authenticate(&service, &after, "KEY", b"secret").is_some(), works_after);
            assert_eq!(authenticator.still_valid(&after, &principal), works_after);
        }
    }
}
