use base64::Engine;
use serde_json::Value;

use super::*;
use crate::control_plane::state::tests::{control_plane, NOW};

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
}

struct Client {
    plane: ControlPlane,
    authorization: String,
}

impl Client {
    /// An admin with a cloud API key.
    fn new() -> Self {
        let (mut plane, admin) = control_plane();
        let Caller::User { id, .. } = &admin else { unreachable!() };
        let created = plane.create_api_key(&admin, &id.clone(), ApiKeyScope::Cloud, "admin", NOW).unwrap();
        Client { plane, authorization: basic(&created.key.id, &created.secret) }
    }

    fn call(&mut self, method: &str, target: &str, body: &str) -> (u16, Value) {
        let authorization = self.authorization.clone();
        self.call_as(Some(&authorization), method, target, body)
    }

    fn call_as(&mut self, authorization: Option<&str>, method: &str, target: &str, body: &str) -> (u16, Value) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let request = ApiRequest { method, path, query, authorization, body: body.as_bytes() };
        let response = handle(&mut self.plane, &request, NOW);
        let value =
            if response.body.is_empty() { Value::Null } else { serde_json::from_slice(&response.body).unwrap() };
        if response.status >= 400 {
            assert_eq!(response.content_type, "application/problem+json", "{value}");
            assert_eq!(value["status"], response.status);
        }
        (response.status, value)
    }
}

#[test]
fn environments_paginate_and_bad_pages_are_refused() {
    let mut client = Client::new();
    for name in ["a", "b", "c"] {
        let (status, _) = client.call("POST", "/org/v2/environments", &format!(r#"{{"display_name":"{name}"}}"#));
        assert_eq!(status, 201);
    }
    let (status, first) = client.call("GET", "/org/v2/environments?page_size=2", "");
    assert_eq!(status, 200);
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    assert_eq!(first["metadata"]["total_size"], 3);
    let next = first["metadata"]["next"].as_str().unwrap().to_string();
    let (_, second) = client.call("GET", &next, "");
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["metadata"]["next"], Value::Null);
    for bad in ["page_size=0", "page_size=101", "page_size=x", "page_token=!!", "color=red"] {
        let (status, problem) = client.call("GET", &format!("/org/v2/environments?{bad}"), "");
        assert_eq!(status, 400, "{bad}: {problem}");
    }
}

#[test]
fn bad_bodies_methods_and_paths_get_problems() {
    let mut client = Client::new();
    let cases = [
        ("POST", "/org/v2/environments", "{not json", 400),
        ("POST", "/org/v2/environments", r#"{"display_name":"x","colour":"red"}"#, 400),
        ("POST", "/org/v2/environments", r#"{"display_name":""}"#, 400),
        (
            "POST",
            "/cmk/v2/clusters",
            r#"{"spec":{"display_name":"x","availability":"MULTI_ZONE","config":{"kind":"Basic"},"environment":{"id":"env-none"},"region":"eu-1"}}"#,
            404,
        ),
        ("PATCH", "/org/v2/environments", "", 405),
        ("GET", "/no/such/thing", "", 404),
        ("GET", "/internal/v1/data-plane/pkc-shared", "", 403),
    ];
    for (method, target, body, expected) in cases {
        let (status, problem) = client.call(method, target, body);
        assert_eq!(status, expected, "{method} {target} {body}: {problem}");
    }
    let (status, _) = client.call_as(None, "GET", "/org/v2/environments", "");
    assert_eq!(status, 401);
    let (status, _) = client.call_as(Some(&basic("NOKEY", "x")), "GET", "/org/v2/environments", "");
    assert_eq!(status, 401);
    let (status, _) = client.call_as(Some("Digest abc"), "GET", "/org/v2/environments", "");
    assert_eq!(status, 401);
    let refusals =
        client.plane.records().audit.iter().filter(|e| e.kind == "io.faultline.authentication.failed").count();
    assert_eq!(refusals, 3, "every refused call is audited");
    let (status, _) =
        client.call_as(None, "POST", "/api/sessions", r#"{"email":"admin@example.com","password":"wrong password"}"#);
    assert_eq!(status, 401);
    let refusals =
        client.plane.records().audit.iter().filter(|e| e.kind == "io.faultline.authentication.failed").count();
    assert_eq!(refusals, 4, "a failed sign-in is audited once");
    let (status, session) = client.call_as(
        None,
        "POST",
        "/api/sessions",
        r#"{"email":"admin@example.com","password":"correct horse battery"}"#,
    );
    assert_eq!(status, 201);
    let bearer = format!("Bearer {}", session["token"].as_str().unwrap());
    assert_eq!(client.call_as(Some(&bearer), "GET", "/org/v2/environments", "").0, 200);
}

#[test]
fn a_key_secret_is_in_the_creation_response_only() {
    let mut client = Client::new();
    let (_, environment) = client.call("POST", "/org/v2/environments", r#"{"display_name":"prod"}"#);
    let spec = format!(
        r#"{{"spec":{{"display_name":"orders","availability":"MULTI_ZONE","config":{{"kind":"Basic"}},"environment":{{"id":"{}"}},"region":"eu-1"}}}}"#,
        environment["id"].as_str().unwrap()
    );
    let (status, problem) = client.call("POST", "/cmk/v2/clusters", &spec);
    assert_eq!(status, 400, "the matrix: {problem}");
    let (status, cluster) = client.call("POST", "/cmk/v2/clusters", &spec.replace("Basic", "Standard"));
    assert_eq!(status, 201);
    assert_eq!(cluster["status"]["sla_target_percent"], 99.95);
    let cluster_id = cluster["id"].as_str().unwrap();
    let (_, account) = client.call("POST", "/iam/v2/service-accounts", r#"{"display_name":"app"}"#);
    let account_id = account["id"].as_str().unwrap();
    let (status, key) = client.call(
        "POST",
        "/iam/v2/api-keys",
        &format!(r#"{{"spec":{{"owner":{{"id":"{account_id}"}},"resource":{{"id":"{cluster_id}"}}}}}}"#),
    );
    assert_eq!(status, 201);
    let secret = key["spec"]["secret"].as_str().unwrap().to_string();
    let key_id = key["id"].as_str().unwrap().to_string();
    for target in ["/iam/v2/api-keys".to_string(), format!("/iam/v2/api-keys/{key_id}")] {
        let (status, body) = client.call("GET", &target, "");
        assert_eq!(status, 200);
        assert!(!body.to_string().contains(&secret), "{target} returns no secret");
    }
    let (status, rotated) = client.call("POST", &format!("/iam/v2/api-keys/{key_id}/rotate"), "");
    assert_eq!(status, 201);
    assert_eq!(rotated["spec"]["rotated_from"], key_id.as_str());
    // The cluster key may not reach the cloud API.
    let (status, _) = client.call_as(Some(&basic(&key_id, &secret)), "GET", "/org/v2/environments", "");
    assert_eq!(status, 403);
    // ACLs: create, list with a filter, delete (a filter must name the resource type).
    let acl = format!(
        r#"{{"principal":"User:{account_id}","host":"*","resource_type":"TOPIC","resource_name":"orders-","pattern_type":"PREFIXED","operation":"WRITE","permission":"ALLOW"}}"#
    );
    let acls = format!("/kafka/v3/clusters/{cluster_id}/acls");
    assert_eq!(client.call("POST", &acls, &acl).0, 201);
    let (_, listed) = client.call("GET", &format!("{acls}?pattern_type=prefixed"), "");
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(client.call("DELETE", &acls, "").0, 400);
    let (status, deleted) = client.call("DELETE", &format!("{acls}?resource_type=TOPIC"), "");
    assert_eq!((status, deleted["data"].as_array().unwrap().len()), (200, 1));
    // Brokers pull; 304 when nothing changed.
    let broker = basic("broker-1", "broker-secret");
    let (status, snapshot) = client.call_as(Some(&broker), "GET", "/internal/v1/data-plane/pkc-shared", "");
    assert_eq!(status, 200);
    assert!(!snapshot.to_string().contains(&secret));
    let version = snapshot["version"].as_u64().unwrap();
    let (status, _) = client.call_as(
        Some(&broker),
        "GET",
        &format!("/internal/v1/data-plane/pkc-shared?known_version={version}"),
        "",
    );
    assert_eq!(status, 304);
    let (status, _) = client.call_as(Some(&broker), "GET", "/org/v2/environments", "");
    assert_eq!(status, 403, "a broker's key opens only the pull endpoints");
}

#[test]
fn a_peering_whose_routes_overlap_is_refused_naming_both_ranges() {
    let mut client = Client::new();
    let (_, environment) = client.call("POST", "/org/v2/environments", r#"{"display_name":"net"}"#);
    let environment = environment["id"].as_str().unwrap().to_string();
    let network = |cidr: &str| {
        format!(
            r#"{{"spec":{{"display_name":"n","cidr":"{cidr}","connection_types":["PEERING"],"environment":{{"id":"{environment}"}}}}}}"#
        )
    };
    let (status, problem) = client.call("POST", "/networking/v1/networks", &network("10.1.2.0/16"));
    assert_eq!(status, 400, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("host bits set: the range is 10.1.0.0/16"), "{problem}");
    let (status, problem) = client.call("POST", "/networking/v1/networks", &network("10.0.0.0/8"));
    assert_eq!(status, 400, "{problem}");
    let (status, created) = client.call("POST", "/networking/v1/networks", &network("10.1.0.0/16"));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let peering = |routes: &str| {
        format!(r#"{{"spec":{{"display_name":"vpc","network":{{"id":"{id}"}},"customer":{{"routes":[{routes}]}}}}}}"#)
    };
    let (status, first) = client.call("POST", "/networking/v1/peerings", &peering(r#""172.31.0.0/16""#));
    assert_eq!(status, 201, "{first}");
    for (routes, detail) in [
        (r#""10.1.128.0/20""#, "customer route 10.1.128.0/20 overlaps network"),
        (r#""172.31.0.0/20""#, "overlaps 172.31.0.0/16, already connected"),
    ] {
        let (status, problem) = client.call("POST", "/networking/v1/peerings", &peering(routes));
        assert_eq!(status, 409, "{problem}");
        assert!(problem["detail"].as_str().unwrap().contains(detail), "{problem}");
    }
    let (status, _) = client.call("POST", "/networking/v1/peerings", &peering(r#""10.2.0.0/16""#));
    assert_eq!(status, 201);
    let (status, problem) = client.call("DELETE", &format!("/networking/v1/networks/{id}"), "");
    assert_eq!(status, 409, "a network with peerings: {problem}");
    let (_, listed) = client.call("GET", "/networking/v1/peerings?page_size=10", "");
    assert_eq!(listed["metadata"]["total_size"], 2);
}
