//! DescribeAcls, CreateAcls and DeleteAcls (C17), so that Kafka's own admin clients manage the
//! ACLs of the principal's cluster. Describing needs Describe on the cluster; changing needs
//! Alter, and the change is relayed to the control plane (the source of truth), never kept here.

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{DeleteAclsFilterResult, DeleteAclsMatchingAcl};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse, DescribeAclsRequest,
    DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::authorize::Authorizer;
use crate::node::Node;
use crate::security::acl::{AclBinding, AclFilter, Operation, PatternType, ResourceType};

/// Kafka's `ResourceType`, `PatternType`, `AclOperation` and `AclPermissionType` codes; `ANY`
/// (1) is `None` in a filter. `MATCH` (2) and unknown codes are refused.
mod codes {
    use crate::security::acl::{Operation, PatternType, Permission, ResourceType};

    pub(super) fn resource_type(code: i8) -> Result<Option<ResourceType>, ()> {
        Ok(Some(match code {
            1 => return Ok(None),
            2 => ResourceType::Topic,
            3 => ResourceType::Group,
            4 => ResourceType::Cluster,
            5 => ResourceType::TransactionalId,
            _ => return Err(()),
        }))
    }

    pub(super) fn from_resource_type(value: ResourceType) -> i8 {
        match value {
            ResourceType::Topic => 2,
            ResourceType::Group => 3,
            ResourceType::Cluster => 4,
            ResourceType::TransactionalId => 5,
        }
    }

    pub(super) fn pattern_type(code: i8) -> Result<Option<PatternType>, ()> {
        Ok(Some(match code {
            1 => return Ok(None),
            3 => PatternType::Literal,
            4 => PatternType::Prefixed,
            _ => return Err(()),
        }))
    }

    pub(super) fn from_pattern_type(value: PatternType) -> i8 {
        match value {
            PatternType::Literal => 3,
            PatternType::Prefixed => 4,
        }
    }

    const OPERATIONS: [(i8, Operation); 11] = [
        (2, Operation::All),
        (3, Operation::Read),
        (4, Operation::Write),
        (5, Operation::Create),
        (6, Operation::Delete),
        (7, Operation::Alter),
        (8, Operation::Describe),
        (9, Operation::ClusterAction),
        (10, Operation::DescribeConfigs),
        (11, Operation::AlterConfigs),
        (12, Operation::IdempotentWrite),
    ];

    pub(super) fn operation(code: i8) -> Result<Option<Operation>, ()> {
        if code == 1 {
            return Ok(None);
        }
        OPERATIONS.iter().find(|(c, _)| *c == code).map(|(_, op)| Some(*op)).ok_or(())
    }

    pub(super) fn from_operation(value: Operation) -> i8 {
        OPERATIONS.iter().find(|(_, op)| *op == value).map(|(c, _)| *c).expect("every operation has a code")
    }

    pub(super) fn permission(code: i8) -> Result<Option<Permission>, ()> {
        Ok(Some(match code {
            1 => return Ok(None),
            2 => Permission::Deny,
            3 => Permission::Allow,
            _ => return Err(()),
        }))
    }

    pub(super) fn from_permission(value: Permission) -> i8 {
        match value {
            Permission::Deny => 2,
            Permission::Allow => 3,
        }
    }
}

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_string())
}

#[allow(clippy::too_many_arguments)]
fn filter(
    resource_type: i8,
    resource_name: Option<&StrBytes>,
    pattern_type: i8,
    principal: Option<&StrBytes>,
    host: Option<&StrBytes>,
    operation: i8,
    permission: i8,
) -> Result<AclFilter, ()> {
    Ok(AclFilter {
        resource_type: codes::resource_type(resource_type)?,
        resource_name: resource_name.map(|n| n.to_string()),
        pattern_type: codes::pattern_type(pattern_type)?,
        principal: principal.map(|p| p.to_string()),
        host: host.map(|h| h.to_string()),
        operation: codes::operation(operation)?,
        permission: codes::permission(permission)?,
    })
}

fn cluster_id(auth: &Authorizer) -> Option<String> {
    auth.principal().customer.as_ref().map(|c| c.cluster_id.clone()).filter(|c| !c.is_empty())
}

pub(super) fn describe_acls(
    node: &Node,
    auth: &Authorizer,
    request: DescribeAclsRequest,
    _version: i16,
) -> DescribeAclsResponse {
    let refuse = |error: ResponseError, message: &str| {
        DescribeAclsResponse::default().with_error_code(error.code()).with_error_message(Some(text(message)))
    };
    if !auth.cluster(Operation::Describe) {
        return refuse(ResponseError::ClusterAuthorizationFailed, "Describe on the cluster is required");
    }
    let Ok(filter) = filter(
        request.resource_type_filter,
        request.resource_name_filter.as_ref(),
        request.pattern_type_filter,
        request.principal_filter.as_ref(),
        request.host_filter.as_ref(),
        request.operation,
        request.permission_type,
    ) else {
        return refuse(ResponseError::InvalidRequest, "unknown or unsupported filter code");
    };
    let Some(cluster) = cluster_id(auth) else {
        return DescribeAclsResponse::default();
    };
    let access = node.control_plane().access();
    // Grouped by resource, as Kafka answers.
    let mut resources: std::collections::BTreeMap<(ResourceType, String, PatternType), Vec<AclDescription>> =
        std::collections::BTreeMap::new();
    for binding in access.acls(&cluster).bindings().iter().filter(|b| filter.matches(b)) {
        resources
            .entry((binding.resource_type, binding.resource_name.clone(), binding.pattern_type))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(text(&binding.principal))
                    .with_host(text(&binding.host))
                    .with_operation(codes::from_operation(binding.operation))
                    .with_permission_type(codes::from_permission(binding.permission)),
            );
    }
    let resources = resources
        .into_iter()
        .map(|((resource_type, name, pattern), acls)| {
            DescribeAclsResource::default()
                .with_resource_type(codes::from_resource_type(resource_type))
                .with_resource_name(text(&name))
                .with_pattern_type(codes::from_pattern_type(pattern))
                .with_acls(acls)
        })
        .collect();
    DescribeAclsResponse::default().with_resources(resources)
}

pub(super) async fn create_acls(
    node: &Node,
    auth: &Authorizer,
    request: CreateAclsRequest,
    _version: i16,
) -> CreateAclsResponse {
    let failure = |error: ResponseError, message: &str| {
        AclCreationResult::default().with_error_code(error.code()).with_error_message(Some(text(message)))
    };
    let all_failed = |result: AclCreationResult| {
        CreateAclsResponse::default().with_results(request.creations.iter().map(|_| result.clone()).collect())
    };
    if !auth.cluster(Operation::Alter) {
        return all_failed(failure(ResponseError::ClusterAuthorizationFailed, "Alter on the cluster is required"));
    }
    let Some(cluster) = cluster_id(auth) else {
        return all_failed(failure(ResponseError::SecurityDisabled, "this principal has no customer cluster"));
    };
    let parsed: Vec<Option<AclBinding>> = request
        .creations
        .iter()
        .map(|c| {
            Some(AclBinding {
                principal: c.principal.to_string(),
                host: c.host.to_string(),
                resource_type: codes::resource_type(c.resource_type).ok()??,
                resource_name: c.resource_name.to_string(),
                pattern_type: codes::pattern_type(c.resource_pattern_type).ok()??,
                operation: codes::operation(c.operation).ok()??,
                permission: codes::permission(c.permission_type).ok()??,
            })
        })
        .collect();
    let valid: Vec<AclBinding> = parsed.iter().flatten().cloned().collect();
    let principal = auth.principal().customer.as_ref().map(|c| c.name.clone()).unwrap_or_default();
    let relayed =
        if valid.is_empty() { Ok(()) } else { node.control_plane().create_acls(&principal, &cluster, valid).await };
    let results = parsed
        .iter()
        .map(|binding| match (binding, &relayed) {
            (None, _) => failure(ResponseError::InvalidRequest, "ANY, MATCH or unknown codes cannot be created"),
            (Some(_), Ok(())) => AclCreationResult::default(),
            (Some(_), Err(error)) => failure(ResponseError::RequestTimedOut, &error.to_string()),
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}

pub(super) async fn delete_acls(
    node: &Node,
    auth: &Authorizer,
    request: DeleteAclsRequest,
    _version: i16,
) -> DeleteAclsResponse {
    let failure = |error: ResponseError, message: &str| {
        DeleteAclsFilterResult::default().with_error_code(error.code()).with_error_message(Some(text(message)))
    };
    if !auth.cluster(Operation::Alter) {
        let result = failure(ResponseError::ClusterAuthorizationFailed, "Alter on the cluster is required");
        return DeleteAclsResponse::default()
            .with_filter_results(request.filters.iter().map(|_| result.clone()).collect());
    }
    let Some(cluster) = cluster_id(auth) else {
        let result = failure(ResponseError::SecurityDisabled, "this principal has no customer cluster");
        return DeleteAclsResponse::default()
            .with_filter_results(request.filters.iter().map(|_| result.clone()).collect());
    };
    let principal = auth.principal().customer.as_ref().map(|c| c.name.clone()).unwrap_or_default();
    let mut results = Vec::new();
    for f in &request.filters {
        let parsed = filter(
            f.resource_type_filter,
            f.resource_name_filter.as_ref(),
            f.pattern_type_filter,
            f.principal_filter.as_ref(),
            f.host_filter.as_ref(),
            f.operation,
            f.permission_type,
        );
        let Ok(parsed) = parsed else {
            results.push(failure(ResponseError::InvalidRequest, "unknown or unsupported filter code"));
            continue;
        };
        match node.control_plane().delete_acls(&principal, &cluster, &parsed).await {
            Ok(deleted) => {
                let matching = deleted
                    .iter()
                    .map(|b| {
                        DeleteAclsMatchingAcl::default()
                            .with_resource_type(codes::from_resource_type(b.resource_type))
                            .with_resource_name(text(&b.resource_name))
                            .with_pattern_type(codes::from_pattern_type(b.pattern_type))
                            .with_principal(text(&b.principal))
                            .with_host(text(&b.host))
                            .with_operation(codes::from_operation(b.operation))
                            .with_permission_type(codes::from_permission(b.permission))
                    })
                    .collect();
                results.push(DeleteAclsFilterResult::default().with_matching_acls(matching));
            }
            Err(error) => results.push(failure(ResponseError::RequestTimedOut, &error.to_string())),
        }
    }
    DeleteAclsResponse::default().with_filter_results(results)
}
