//! Entry points that take hostile bytes the way the service receives them, for the fuzz
//! targets in `sim/fuzz` and the regression tests of what they found. Each runs the code that
//! production runs on the same bytes, and panics only where production has a bug: a panic
//! here is a finding. None of it changes what the service does.

mod connection;
pub mod seeds;

pub use connection::{
    authenticated_connections_held, connections_admitted_from, kafka_connection, kafka_connection_fuzzed, pipelined,
    steps, wire, Step,
};

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use crate::control_plane::model::PhysicalCluster;
use crate::control_plane::state::{ControlPlane, ControlPlaneConfig, Records};
use crate::encryption::FixedKeys;
use crate::log::batch::split_batches;
use crate::log::{AppendOutcome, MemoryDisk, PartitionLog, SegmentPolicy};
use crate::net::api::{token_hash, ApiRequest, ApiResponse};
use crate::net::http::Responder;
use crate::planted_bugs::PlantedBugs;
use crate::security::secrets::SecretHash;

/// A request frame (size prefix removed): the header and the body at its version, decoded as
/// the broker decodes them before anything else sees the request.
pub fn kafka_request(frame: &[u8]) {
    if frame.len() < 8 {
        return;
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    if api_key == crate::messages::INTERNAL_API_KEY {
        let _ = crate::messages::decode_request(frame);
        return;
    }
    if let Ok(key) = ApiKey::try_from(api_key) {
        let _ = crate::protocol::decode_request(key, &mut Bytes::copy_from_slice(frame));
    }
}

/// The bytes of a SaslAuthenticate request under PLAIN (RFC 4616): parsed, then checked
/// against a store that holds one key, as the session does.
pub fn sasl_plain(auth_bytes: &[u8]) {
    static STORE: OnceLock<crate::security::sasl::CredentialStore> = OnceLock::new();
    let store = STORE.get_or_init(|| {
        let mut store = crate::security::sasl::CredentialStore::default();
        store.add("key", "secret", crate::security::sasl::Role::Client, 4, None).expect("a valid key");
        store
    });
    if let Some((api_key, secret)) = crate::security::sasl::parse_plain(auth_bytes) {
        // A wrong key must never authenticate: only "key"/"secret" does.
        let principal = store.verify(&api_key, &secret);
        assert_eq!(principal.is_some(), api_key == "key" && secret == b"secret", "SASL/PLAIN verdict for {api_key:?}");
    }
}

/// Produce payloads appended, in order, to one partition as its leader does (batch headers,
/// CRC, counts, producer ids and sequences), then read back and recovered from the disk. Every
/// append the log accepts must be readable at the offsets it reported, and survive a restart
/// once synced.
pub fn record_batches(payloads: &[&[u8]]) {
    let disk = MemoryDisk::new();
    let keys = Arc::new(FixedKeys::default());
    let open = || {
        PartitionLog::open(
            Arc::new(disk.clone()),
            keys.clone(),
            "t",
            "t-0",
            SegmentPolicy::default(),
            PlantedBugs::none(),
        )
        .expect("an empty or synced log opens")
    };
    let mut log = open();
    let mut end = 0;
    for payload in payloads {
        match log.append_as_leader(Bytes::copy_from_slice(payload), 0) {
            Ok(AppendOutcome::Appended { base_offset, last_offset }) => {
                assert_eq!(base_offset, end, "an append starts at the log end");
                assert!(last_offset >= base_offset);
                end = last_offset + 1;
            }
            Ok(AppendOutcome::Duplicate { last_offset, .. }) => assert!(last_offset < end, "a duplicate is in the log"),
            Err(_) => {}
        }
        assert_eq!(log.log_end_offset(), end);
    }
    log.sync().expect("memory disks do not fail");
    let read = log.read(0, end, usize::MAX).expect("what was appended reads back");
    let batches = split_batches(read, true).expect("what the log holds validates");
    let records: i64 = batches.iter().map(|(header, _)| header.record_count as i64).sum();
    assert_eq!(records, end, "every appended record reads back");
    drop(log);
    assert_eq!(open().log_end_offset(), end, "a synced log recovers to its end");
}

/// One call to an HTTPS API, as its handler sees it.
#[derive(Debug)]
pub struct HttpCall<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub credentials: Credentials<'a>,
    pub body: &'a [u8],
}

/// Who a call claims to be.
#[derive(Debug)]
pub enum Credentials<'a> {
    None,
    /// The harness's own valid principal (an organization admin, a key-service caller, a
    /// log-store custodian): reaches the handlers behind authentication.
    Valid,
    /// An `authorization` header as given.
    Raw(&'a str),
}

/// Answers every call, checking that each answer is well formed: a status that says what
/// happened (no 5xx for bad input) and a JSON body.
fn answer_all(calls: &[HttpCall], valid: &str, body_max: usize, mut respond: impl FnMut(&ApiRequest) -> ApiResponse) {
    for call in calls {
        if call.body.len() > body_max {
            continue; // refused with 413 before any handler sees it
        }
        let authorization = match call.credentials {
            Credentials::None => None,
            Credentials::Valid => Some(valid),
            Credentials::Raw(raw) => Some(raw),
        };
        let request =
            ApiRequest { method: call.method, path: call.path, query: call.query, authorization, body: call.body };
        let response = respond(&request);
        assert!((200..500).contains(&response.status), "{} {}: status {}", call.method, call.path, response.status);
        if !response.body.is_empty() {
            let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&response.body);
            assert!(parsed.is_ok(), "{} {}: the body is not JSON", call.method, call.path);
        }
    }
}

fn basic(principal: &str, token: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{principal}:{token}")))
}

const NOW_MS: u64 = 1_700_000_000_000;

/// Calls to the control plane's API (C04 onwards) against one organization with an admin,
/// signed in with a session; each input starts from that same state.
pub fn control_plane_calls(calls: &[HttpCall]) {
    static START: OnceLock<(ControlPlane, String)> = OnceLock::new();
    let (start, token) = START.get_or_init(|| {
        let config = ControlPlaneConfig {
            organization_id: "org-fuzz".into(),
            physical_clusters: ["eu-1", "us-1"]
                .iter()
                .map(|region| PhysicalCluster {
                    id: format!("pkc-{region}"),
                    region: region.to_string(),
                    zone_count: 3,
                    bootstrap: format!("{region}:9092"),
                    key_principal: format!("service:broker/{region}"),
                })
                .collect(),
            bcrypt_cost: 4,
            idp_issuer: "idp".into(),
            idp_public_key: vec![0; 32],
            broker_keys: [("broker-1".to_string(), SecretHash::new("broker-secret", 4, [1; 16]).expect("hash"))].into(),
            bugs: PlantedBugs::none(),
        };
        let mut plane = ControlPlane::new(config, Records::default(), crate::entropy::os());
        plane.bootstrap_admin("admin@example.com", "Admin", Some("correct horse battery"), NOW_MS).expect("an admin");
        let sign_in = ApiRequest {
            method: "POST",
            path: "/api/sessions",
            query: "",
            authorization: None,
            body: br#"{"email":"admin@example.com","password":"correct horse battery"}"#,
        };
        let response = crate::control_plane::api::handle(&mut plane, &sign_in, NOW_MS);
        let session: serde_json::Value = serde_json::from_slice(&response.body).expect("a session");
        let token = session["token"].as_str().unwrap_or_else(|| panic!("no session token in {session}")).to_string();
        (plane, format!("Bearer {token}"))
    });
    let mut plane = start.clone();
    let mut now_ms = NOW_MS;
    answer_all(calls, token, crate::control_plane::api::BODY_BYTES_MAX, |request| {
        now_ms += 1_000;
        crate::control_plane::api::handle(&mut plane, request, now_ms)
    });
}

/// Calls to the key service (C08, C09) as the broker principal that holds its grants.
pub fn key_service_calls(calls: &[HttpCall]) {
    let principals = BTreeMap::from([("broker".to_string(), token_hash("broker-token"))]);
    let service = crate::kms::server::KeyService::open(
        "eu-1",
        principals,
        crate::entropy::os(),
        Arc::new(MemoryDisk::new()),
        PlantedBugs::none(),
    )
    .expect("an empty key store opens");
    answer_all(
        calls,
        &basic("broker", "broker-token"),
        <crate::kms::server::KeyService as Responder>::BODY_BYTES_MAX,
        |request| service.respond(request),
    );
}

/// Calls to one log-store replica (C12) as its custodian, the principal that may do most.
pub fn log_store_calls(calls: &[HttpCall]) {
    use crate::log_store::chain::{Signer, TrustedKeys};
    use crate::log_store::server::{LogStore, LogStoreConfig, Principal};
    use crate::log_store::Role;
    let signer = Signer::from_seed("log-store-1", &[1; 32]);
    let trusted = TrustedKeys::from([(signer.name.clone(), signer.public_key())]);
    let principals = [("broker-1", Role::Source), ("custodian", Role::Custodian)]
        .into_iter()
        .map(|(name, role)| (name.to_string(), Principal { token_hash: token_hash(&format!("{name}-token")), role }))
        .collect();
    let config =
        LogStoreConfig { name: "log-store-1".into(), life: "0".into(), principals, trusted, bugs: PlantedBugs::none() };
    let store = LogStore::open(config, signer, Arc::new(MemoryDisk::new()));
    answer_all(
        calls,
        &basic("custodian", "custodian-token"),
        <crate::log_store::server::LogStore as Responder>::BODY_BYTES_MAX,
        |request| store.respond(request),
    );
}

/// A datagram to the DNS service (C06) from `source`: any answer must parse as DNS.
pub fn dns_query(source: [u8; 4], query: &[u8]) {
    let zone = crate::network::dns::DnsZone {
        zone: "pkc-fuzz.eu-1.faultline.cloud".into(),
        public_addresses: vec![(1, [10, 0, 0, 1].into()), (2, [10, 0, 0, 2].into())],
        bugs: PlantedBugs::none(),
    };
    let endpoints = crate::control_plane::network::Endpoints { public: true, ..Default::default() };
    if let Some(answer) = zone.answer(&endpoints, source.into(), query) {
        assert!(hickory_proto::op::Message::from_vec(&answer).is_ok(), "the answer parses");
    }
}
