//! `/networking/v1/networks` and `/networking/v1/peerings` (C05): cluster networks with the
//! customer's CIDR, and peerings by the customer's routes.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{list, page, parse_body, ApiRequest, ApiResponse, Failure, IdRef, Outcome, Query, Spec, PAGE_PARAMETERS};
use crate::control_plane::network::{Cidr, ConnectionType, Network, Peering};
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
        _ => Err(Failure::NotFound),
    }
}
