//! ACLs in Kafka's model (C17): a binding gives a principal an operation on resources named
//! literally or by prefix, allowed or denied; deny wins. The codes are Kafka's own
//! (`AclOperation`, `AclPermissionType`, `PatternType`, `ResourceType`), so the same bindings
//! travel through DescribeAcls/CreateAcls/DeleteAcls and the REST API unchanged.

use serde::{Deserialize, Serialize};

use crate::planted_bugs::{PlantedBug, PlantedBugs};

/// Kafka's name for the one cluster resource.
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";

/// Every operation on every topic, group and the cluster, for `principal`: an application's
/// key that may do anything on its cluster (the dev cluster's and the simulation's workload).
pub fn allow_everything(principal: &str) -> Vec<AclBinding> {
    [(ResourceType::Topic, "*"), (ResourceType::Group, "*"), (ResourceType::Cluster, CLUSTER_RESOURCE_NAME)]
        .into_iter()
        .map(|(resource_type, resource_name)| AclBinding {
            principal: principal.to_string(),
            host: "*".into(),
            resource_type,
            resource_name: resource_name.into(),
            pattern_type: PatternType::Literal,
            operation: Operation::All,
            permission: Permission::Allow,
        })
        .collect()
}

/// What an ACL protects. Kafka's `ResourceType` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
}

/// How a binding's resource name matches. Kafka's `PatternType` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PatternType {
    /// The name itself, or `*` for every resource of the type.
    Literal,
    /// Every name that starts with the pattern.
    Prefixed,
}

/// Kafka's `AclOperation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Operation {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
}

/// Kafka's `AclPermissionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Permission {
    Allow,
    Deny,
}

/// One ACL: `principal` (`User:sa-…` or `User:*`) may (or may not) do `operation` from `host`
/// (`*` for any) on the resources `resource_name` matches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclBinding {
    pub principal: String,
    pub host: String,
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    pub operation: Operation,
    pub permission: Permission,
}

/// A filter over bindings (DescribeAcls, DeleteAcls, the REST list): `None` matches anything.
/// Kafka's `MATCH` pattern type is not offered: filters name a pattern type or none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclFilter {
    pub principal: Option<String>,
    pub host: Option<String>,
    pub resource_type: Option<ResourceType>,
    pub resource_name: Option<String>,
    pub pattern_type: Option<PatternType>,
    pub operation: Option<Operation>,
    pub permission: Option<Permission>,
}

impl AclFilter {
    pub fn matches(&self, binding: &AclBinding) -> bool {
        fn field<T: PartialEq>(filter: &Option<T>, value: &T) -> bool {
            filter.as_ref().is_none_or(|wanted| wanted == value)
        }
        field(&self.principal, &binding.principal)
            && field(&self.host, &binding.host)
            && field(&self.resource_type, &binding.resource_type)
            && field(&self.resource_name, &binding.resource_name)
            && field(&self.pattern_type, &binding.pattern_type)
            && field(&self.operation, &binding.operation)
            && field(&self.permission, &binding.permission)
    }
}

/// A request to authorize: who, from where, what, on which resource.
#[derive(Debug, Clone, Copy)]
pub struct Action<'a> {
    pub principal: &'a str,
    pub host: &'a str,
    pub operation: Operation,
    pub resource_type: ResourceType,
    pub resource_name: &'a str,
}

/// Operations that a grant of another implies (Kafka's `AclAuthorizer`): Describe follows from
/// Read, Write, Delete and Alter; DescribeConfigs from AlterConfigs.
fn implied_by(operation: Operation) -> &'static [Operation] {
    match operation {
        Operation::Describe => &[Operation::Read, Operation::Write, Operation::Delete, Operation::Alter],
        Operation::DescribeConfigs => &[Operation::AlterConfigs],
        _ => &[],
    }
}

/// The bindings of one cluster and the question every request asks of them.
#[derive(Debug, Clone, Default)]
pub struct Acls {
    bindings: Vec<AclBinding>,
    bugs: PlantedBugs,
}

impl Acls {
    pub fn new(bindings: Vec<AclBinding>, bugs: PlantedBugs) -> Self {
        Acls { bindings, bugs }
    }

    pub fn bindings(&self) -> &[AclBinding] {
        &self.bindings
    }

    fn resource_matches(&self, binding: &AclBinding, name: &str) -> bool {
        match binding.pattern_type {
            PatternType::Literal => binding.resource_name == "*" || binding.resource_name == name,
            // Planted: a prefixed binding matches every name, as if its prefix were empty.
            PatternType::Prefixed if self.bugs.is_on(PlantedBug::PrefixedAclMatchesAny) => true,
            PatternType::Prefixed => name.starts_with(binding.resource_name.as_str()),
        }
    }

    fn applies(&self, binding: &AclBinding, action: &Action<'_>) -> bool {
        (binding.principal == action.principal || binding.principal == "User:*")
            && (binding.host == "*" || binding.host == action.host)
            && binding.resource_type == action.resource_type
            && self.resource_matches(binding, action.resource_name)
    }

    /// Kafka's rule: any matching deny refuses; otherwise a matching allow for the operation,
    /// for `All`, or for an operation that implies it grants; otherwise refused (fail closed).
    pub fn authorize(&self, action: &Action<'_>) -> bool {
        let matching = || self.bindings.iter().filter(|binding| self.applies(binding, action));
        let denied = matching().any(|binding| {
            // BUG (planted): the deny pass forgets to look at the permission, so every allow
            // for the operation reads as a deny too.
            let deny = binding.permission == Permission::Deny || self.bugs.is_on(PlantedBug::AclDeniesEverything);
            deny && (binding.operation == action.operation || binding.operation == Operation::All)
        });
        if denied {
            return false;
        }
        matching().any(|binding| {
            binding.permission == Permission::Allow
                && (binding.operation == action.operation
                    || binding.operation == Operation::All
                    || implied_by(action.operation).contains(&binding.operation))
        })
    }

    /// Whether `principal` may do `operation` on some resource of the type (Kafka's
    /// `authorizeByResourceType`, used for idempotent producers without IdempotentWrite).
    pub fn authorize_any(&self, principal: &str, operation: Operation, resource_type: ResourceType) -> bool {
        self.bindings.iter().any(|binding| {
            binding.permission == Permission::Allow
                && (binding.principal == principal || binding.principal == "User:*")
                && binding.resource_type == resource_type
                && (binding.operation == operation || binding.operation == Operation::All)
        }) && !self.bindings.iter().any(|binding| {
            binding.permission == Permission::Deny
                && (binding.principal == principal || binding.principal == "User:*")
                && binding.resource_type == resource_type
                && binding.pattern_type == PatternType::Literal
                && binding.resource_name == "*"
                && (binding.operation == operation || binding.operation == Operation::All)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(
        principal: &str,
        name: &str,
        pattern: PatternType,
        operation: Operation,
        permission: Permission,
    ) -> AclBinding {
        AclBinding {
            principal: principal.into(),
            host: "*".into(),
            resource_type: ResourceType::Topic,
            resource_name: name.into(),
            pattern_type: pattern,
            operation,
            permission,
        }
    }

    fn can(acls: &Acls, principal: &str, operation: Operation, topic: &str) -> bool {
        acls.authorize(&Action {
            principal,
            host: "10.0.0.1",
            operation,
            resource_type: ResourceType::Topic,
            resource_name: topic,
        })
    }

    #[test]
    fn kafka_rules_table() {
        use Operation::*;
        use PatternType::*;
        use Permission::*;
        let acls = Acls::new(
            vec![
                binding("User:app", "orders-", Prefixed, Write, Allow),
                binding("User:app", "orders-secret", Literal, All, Deny),
                binding("User:app", "audit", Literal, Read, Allow),
                binding("User:*", "public", Literal, Describe, Allow),
                binding("User:admin", "*", Literal, All, Allow),
            ],
            PlantedBugs::none(),
        );
        // (principal, operation, topic, allowed)
        let table = [
            ("User:app", Write, "orders-eu", true),
            ("User:app", Describe, "orders-eu", true), // implied by Write
            ("User:app", Read, "orders-eu", false),
            ("User:app", Write, "orders", false),        // the prefix is `orders-`
            ("User:app", Write, "orders-secret", false), // deny wins
            ("User:app", Read, "audit", true),
            ("User:app", Write, "audit", false),
            ("User:other", Describe, "public", true), // wildcard principal
            ("User:other", Read, "public", false),
            ("User:admin", Delete, "anything", true),      // literal `*`
            ("User:nobody", Describe, "orders-eu", false), // no binding: refused
        ];
        for (principal, operation, topic, allowed) in table {
            assert_eq!(can(&acls, principal, operation, topic), allowed, "{principal} {operation:?} {topic}");
        }
        assert!(acls.authorize_any("User:app", Write, ResourceType::Topic));
        assert!(!acls.authorize_any("User:other", Write, ResourceType::Topic));
    }

    #[test]
    fn planted_prefixed_acl_matches_any_name() {
        let bindings = vec![binding("User:app", "orders-", PatternType::Prefixed, Operation::Write, Permission::Allow)];
        let buggy = Acls::new(bindings.clone(), PlantedBugs::from_names(["prefixed-acl-matches-any"]).unwrap());
        assert!(can(&buggy, "User:app", Operation::Write, "payroll"));
        assert!(!can(&Acls::new(bindings, PlantedBugs::none()), "User:app", Operation::Write, "payroll"));
    }

    #[test]
    fn filters_match_field_by_field() {
        let b = binding("User:app", "orders-", PatternType::Prefixed, Operation::Write, Permission::Allow);
        assert!(AclFilter::default().matches(&b));
        assert!(AclFilter { principal: Some("User:app".into()), ..Default::default() }.matches(&b));
        assert!(!AclFilter { pattern_type: Some(PatternType::Literal), ..Default::default() }.matches(&b));
    }
}
