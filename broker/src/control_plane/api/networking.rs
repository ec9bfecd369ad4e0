//! `/networking/v1/networks`, `/peerings`, `/transit-gateway-attachments` and
//! `/private-link-accesses` (C05): cluster networks with the customer's CIDR, and the ways a
//! customer connects to one.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{list, page, parse_body, ApiRequest, ApiResponse, Failure, IdRef, Outcome, Query, Spec, PAGE_PARAMETERS};
use crate::control_plane::network::{
    Cidr, ConnectionType, Network, Peering, PrivateLinkAccess, TransitGatewayAttachment,
};
use crate::control_plane::state::{Caller, ControlPlane, NetworkRequest};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkSpec {
    display_name: String,
    cidr: Cidr,
    connection_types: Vec<ConnectionType>,
    environment: IdRef,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Customer {
    routes: Vec<Cidr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeeringSpec {
    display_name: String,
    network: IdRef,
    customer: Customer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachmentSpec {
    display_name: String,
    network: IdRef,
    transit_gateway: IdRef,
    customer: Customer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerVpc {
    vpc: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessSpec {
    display_name: String,
    network: IdRef,
    customer: CustomerVpc,
}

fn attachment_view(attachment: &TransitGatewayAttachment) -> Value {
    json!({
        "api_version": "networking/v1",
        "kind": "TransitGatewayAttachment",
        "id": attachment.id,
        "spec": {
            "display_name": attachment.display_name,
            "network": { "id": attachment.network_id },
            "transit_gateway": { "id": attachment.transit_gateway_id },
            "customer": { "routes": attachment.customer_routes },
        },
        "status": { "phase": "READY" },
        "metadata": { "created_at": crate::control_plane::audit::rfc3339(attachment.created_at_ms) },
    })
}

fn access_view(access: &PrivateLinkAccess) -> Value {
    json!({
        "api_version": "networking/v1",
        "kind": "PrivateLinkAccess",
        "id": access.id,
        "spec": {
            "display_name": access.display_name,
            "network": { "id": access.network_id },
            "customer": { "vpc": access.customer_vpc },
        },
        "status": { "phase": "READY" },
        "metadata": { "created_at": crate::control_plane::audit::rfc3339(access.created_at_ms) },
    })
}

fn network_view(network: &Network) -> Value {
    json!({
        "api_version": "networking/v1",
        "kind": "Network",
        "id": network.id,
        "spec": {
            "display_name": network.display_name,
            "cidr": network.cidr,
            "connection_types": network.connection_types,
            "environment": { "id": network.environment_id },
        },
        "status": { "phase": "READY" },
        "metadata": { "created_at": crate::control_plane::audit::rfc3339(network.created_at_ms) },
    })
}

fn peering_view(peering: &Peering) -> Value {
    json!({
        "api_version": "networking/v1",
        "kind": "Peering",
        "id": peering.id,
        "spec": {
            "display_name": peering.display_name,
            "network": { "id": peering.network_id },
            "customer": { "routes": peering.customer_routes },
        },
        "status": { "phase": "READY" },
        "metadata": { "created_at": crate::control_plane::audit::rfc3339(peering.created_at_ms) },
    })
}

/// The routes under `/networking/v1/`.
pub(super) fn route(
    plane: &mut ControlPlane,
    caller: &Caller,
    method: &str,
    segments: &[&str],
    request: &ApiRequest<'_>,
    now_ms: u64,
) -> Outcome {
    match segments {
        ["networks"] => match method {
            "GET" => {
                let query = Query::parse(request.query, &PAGE_PARAMETERS)?;
                let (items, metadata) =
                    page(plane.list_networks(caller)?, |n| &n.id, &query, "/networking/v1/networks")?;
                Ok(list("networking/v1", "NetworkList", metadata, items.into_iter().map(network_view).collect()))
            }
            "POST" => {
                let Spec { spec }: Spec<NetworkSpec> = parse_body(request.body)?;
                let request = NetworkRequest {
                    display_name: spec.display_name,
                    environment_id: spec.environment.id,
                    cidr: spec.cidr,
                    connection_types: spec.connection_types,
                };
                Ok(ApiResponse::json(201, network_view(&plane.create_network(caller, request, now_ms)?)))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["networks", id] => match method {
            "GET" => Ok(ApiResponse::json(200, network_view(plane.network(caller, id)?))),
            "DELETE" => {
                plane.delete_network(caller, id, now_ms)?;
                Ok(ApiResponse::empty(204))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["peerings"] => match method {
            "GET" => {
                let query = Query::parse(request.query, &PAGE_PARAMETERS)?;
                let (items, metadata) =
                    page(plane.list_peerings(caller)?, |p| &p.id, &query, "/networking/v1/peerings")?;
                Ok(list("networking/v1", "PeeringList", metadata, items.into_iter().map(peering_view).collect()))
            }
            "POST" => {
                let Spec { spec }: Spec<PeeringSpec> = parse_body(request.body)?;
                let peering =
                    plane.create_peering(caller, &spec.network.id, &spec.display_name, spec.customer.routes, now_ms)?;
                Ok(ApiResponse::json(201, peering_view(&peering)))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["peerings", id] => match method {
            "GET" => Ok(ApiResponse::json(200, peering_view(plane.peering(caller, id)?))),
            "DELETE" => {
                plane.delete_peering(caller, id, now_ms)?;
                Ok(ApiResponse::empty(204))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["transit-gateway-attachments"] => match method {
            "GET" => {
                let query = Query::parse(request.query, &PAGE_PARAMETERS)?;
                let (items, metadata) = page(
                    plane.list_transit_gateway_attachments(caller)?,
                    |a| &a.id,
                    &query,
                    "/networking/v1/transit-gateway-attachments",
                )?;
                let data = items.into_iter().map(attachment_view).collect();
                Ok(list("networking/v1", "TransitGatewayAttachmentList", metadata, data))
            }
            "POST" => {
                let Spec { spec }: Spec<AttachmentSpec> = parse_body(request.body)?;
                let attachment = plane.create_transit_gateway_attachment(
                    caller,
                    &spec.network.id,
                    &spec.display_name,
                    &spec.transit_gateway.id,
                    spec.customer.routes,
                    now_ms,
                )?;
                Ok(ApiResponse::json(201, attachment_view(&attachment)))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["transit-gateway-attachments", id] => match method {
            "GET" => Ok(ApiResponse::json(200, attachment_view(plane.transit_gateway_attachment(caller, id)?))),
            "DELETE" => {
                plane.delete_transit_gateway_attachment(caller, id, now_ms)?;
                Ok(ApiResponse::empty(204))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["private-link-accesses"] => match method {
            "GET" => {
                let query = Query::parse(request.query, &PAGE_PARAMETERS)?;
                let (items, metadata) = page(
                    plane.list_private_link_accesses(caller)?,
                    |a| &a.id,
                    &query,
                    "/networking/v1/private-link-accesses",
                )?;
                Ok(list(
                    "networking/v1",
                    "PrivateLinkAccessList",
                    metadata,
                    items.into_iter().map(access_view).collect(),
                ))
            }
            "POST" => {
                let Spec { spec }: Spec<AccessSpec> = parse_body(request.body)?;
                let access = plane.create_private_link_access(
                    caller,
                    &spec.network.id,
                    &spec.display_name,
                    &spec.customer.vpc,
                    now_ms,
                )?;
                Ok(ApiResponse::json(201, access_view(&access)))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        ["private-link-accesses", id] => match method {
            "GET" => Ok(ApiResponse::json(200, access_view(plane.private_link_access(caller, id)?))),
            "DELETE" => {
                plane.delete_private_link_access(caller, id, now_ms)?;
                Ok(ApiResponse::empty(204))
            }
            _ => Err(Failure::MethodNotAllowed),
        },
        _ => Err(Failure::NotFound),
    }
}
