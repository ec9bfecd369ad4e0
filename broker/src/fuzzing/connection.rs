//! The stateful Kafka harness: one real node (a one-voter cluster on memory storage, with its
//! own key service), and each input a sequence of requests on one new connection to it, after
//! TLS (rustls's side is not ours to fuzz). Checked on every answer: a request before SASL
//! authentication other than ApiVersions, SaslHandshake and SaslAuthenticate gets no answer
//! and a closed connection; a failed SASL attempt closes the connection (one attempt per
//! connection); every answer carries the request's correlation id and decodes as that API's
//! response at that version; the node never panics.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Decodable;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use crate::controller::metadata::BrokerId;
use crate::kms::server::{token_hash, KeyService, KmsServer, KmsServerConfig, KMS_PORT};
use crate::log::{MemoryDisk, MetaProperties};
use crate::net::https_client::HttpsEndpoint;
use crate::node::{Node, NodeConfig, BROKER_PORT};
use crate::planted_bugs::PlantedBugs;
use crate::quorum::Voter;
use crate::security::sasl::{plain_message, CredentialStore, Role};
use crate::security::tls::{os_crypto_provider, CertificateAuthority};

/// A loopback address of this process's own for one of four roles: the process id (22 bits on
/// Linux) and the role fill the address's last 24 bits, so that the tests, a fuzzer and a dev
/// cluster (127.0.0.1-4; a process id is never below 64) never want the same port.
fn loopback(role: u8) -> IpAddr {
    let slot = (std::process::id() << 2 | u32::from(role & 3)) & 0x00ff_ffff;
    let [_, a, b, c] = slot.to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(127, a, b, c))
}
const NODE: u8 = 0;
const KMS: u8 = 1;
const API_KEY: &str = "fuzz";
const SECRET: &str = "fuzz-secret";
/// How long an answer may take before the step counts as unanswered. Before authentication a
/// request that is not answered must be met with a closed connection, which comes at once; this
/// is only how long the harness gives the broker to do either.
const ANSWER_WAIT: Duration = Duration::from_millis(200);
/// How long the harness waits before it calls a connection that should have closed open (only
/// ever spent when the broker is slow or wrong).
const PATIENCE: Duration = Duration::from_secs(10);
/// After authentication an unanswered request (a fetch that long-polls, a produce with acks=0,
/// a join waiting for its rebalance) ends the input and nothing is concluded from it, so the
/// harness waits less: most of a run's time went to these waits.
const AUTHENTICATED_ANSWER_WAIT: Duration = Duration::from_millis(20);
/// Inputs run against one node before a fresh node replaces it: topics, groups and records
/// accumulate, and each input would cost more than the one before (300 runs/s fell to 93 in
/// 128,000 runs).
const INPUTS_PER_NODE: u64 = 20_000;

/// One step of an input.
#[derive(Debug)]
pub enum Step<'a> {
    /// SaslHandshake v1 and SaslAuthenticate v2 with the harness's valid key.
    Authenticate,
    /// A request frame as given (without its size prefix).
    Request(&'a [u8]),
}

/// Steps from what a client would write on the wire: size-prefixed frames, where a size of
/// zero stands for `Step::Authenticate`. A truncated last frame is dropped.
pub fn steps(mut input: &[u8]) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    while let Some((size, rest)) = input.split_first_chunk::<4>() {
        let size = u32::from_be_bytes(*size) as usize;
        if size == 0 {
            steps.push(Step::Authenticate);
        } else if let Some(frame) = rest.get(..size) {
            steps.push(Step::Request(frame));
        } else {
            break;
        }
        input = &rest[size.min(rest.len())..];
    }
    steps
}

/// The wire form of `steps` (the inverse of `steps`), for seed inputs.
pub fn wire(steps: &[Step]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for step in steps {
        match step {
            Step::Authenticate => bytes.extend_from_slice(&0u32.to_be_bytes()),
            Step::Request(frame) => {
                bytes.extend_from_slice(&(frame.len() as u32).to_be_bytes());
                bytes.extend_from_slice(frame);
            }
        }
    }
    bytes
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    node: Arc<Node>,
    _kms: KmsServer,
}

/// Runs `steps` on one new connection to the harness's node; returns the answers to its
/// requests (size prefix removed), in order: a test's proof that the steps reached the handlers.
pub fn kafka_connection(steps: &[Step]) -> Vec<Bytes> {
    let harness = harness();
    harness.runtime.block_on(harness.connection(steps, ANSWER_WAIT))
}

/// `kafka_connection` for the fuzzer: an authenticated request unanswered within
/// `AUTHENTICATED_ANSWER_WAIT` ends the input, and the node is replaced every
/// `INPUTS_PER_NODE` inputs.
pub fn kafka_connection_fuzzed(steps: &[Step]) {
    let harness = harness_for_input();
    harness.runtime.block_on(harness.connection(steps, AUTHENTICATED_ANSWER_WAIT));
}

struct Slot {
    harness: Arc<Harness>,
    inputs: u64,
}

static SLOT: Mutex<Option<Slot>> = Mutex::new(None);

fn harness() -> Arc<Harness> {
    let mut slot = SLOT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let slot = slot.get_or_insert_with(|| Slot {
        harness: Arc::new(
            Harness::start(PlantedBugs::none(), loopback(NODE), loopback(KMS))
                .unwrap_or_else(|error| panic!("fuzz node: {error}")),
        ),
        inputs: 0,
    });
    slot.harness.clone()
}

/// The harness, replaced by a fresh node every `INPUTS_PER_NODE` inputs.
fn harness_for_input() -> Arc<Harness> {
    {
        let mut slot = SLOT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(current) = slot.as_mut() {
            current.inputs += 1;
            if current.inputs > INPUTS_PER_NODE {
                // Stopped before the next one starts: they listen on the same addresses.
                if let Some(old) = slot.take().and_then(|old| Arc::into_inner(old.harness)) {
                    old.stop();
                }
            }
        }
    }
    harness()
}

/// Opens `count` connections to the harness's node at once and authenticates each with the
/// harness's key; returns how many authenticated while all were held (all are closed after).
pub fn authenticated_connections_held(count: usize) -> usize {
    let harness = harness();
    harness.runtime.block_on(async {
        let mut held = Vec::new();
        for _ in 0..count {
            let mut client = harness.connect();
            if client.authenticate().await {
                held.push(client);
            }
        }
        held.len()
    })
}

/// Authenticates, then writes every frame of `pipelined` at once, then reads their answers:
/// the answers in the order the broker sent them (it reads a request only after answering the
/// one before, produces aside, so a connection has one request in flight however many the
/// client sends, or up to 64 produces waiting for their acknowledgements).
pub fn pipelined(pipelined: &[&[u8]]) -> Vec<Bytes> {
    let harness = harness();
    harness.runtime.block_on(async {
        let mut client = harness.connect();
        assert!(client.authenticate().await, "the harness's key authenticates");
        let mut bytes = Vec::new();
        for frame in pipelined {
            bytes.extend_from_slice(&(frame.len() as i32).to_be_bytes());
            bytes.extend_from_slice(frame);
        }
        client.stream.write_all(&bytes).await.expect("the broker reads");
        let mut answers = Vec::new();
        for _ in pipelined {
            match client.read_answer(Duration::from_secs(10)).await {
                Answer::Response(answer) => answers.push(answer),
                _ => break,
            }
        }
        answers
    })
}

/// How many of `count` connections from `source`, all held at once, the node's accept loop
/// would take (the endpoint policy and the per-address count, as `accept_forever` asks).
pub fn connections_admitted_from(source: IpAddr, count: usize) -> usize {
    let harness = harness();
    let node = &harness.node;
    let admitted: Vec<_> = (0..count).filter_map(|_| node.admit_connection(source).ok()).collect();
    admitted.len()
}

impl Harness {
    fn start(bugs: PlantedBugs, node_ip: IpAddr, kms_ip: IpAddr) -> Result<Harness, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let (node, kms) = runtime.block_on(start_node(bugs, node_ip, kms_ip))?;
        let harness = Harness { runtime, node, _kms: kms };
        harness.runtime.block_on(harness.wait_until_serving())?;
        Ok(harness)
    }

    fn stop(self) {
        let Harness { runtime, node, _kms } = self;
        runtime.shutdown_timeout(Duration::from_secs(1));
        drop((node, _kms));
    }

    /// Until the node has elected itself and registered: a Metadata request names a broker.
    async fn wait_until_serving(&self) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while tokio::time::Instant::now() < deadline {
            let mut client = self.connect();
            if client.authenticate().await {
                // Metadata v1, all topics.
                let answer = client.call(&[0, 3, 0, 1, 0, 0, 0, 9, 0, 0, 0xff, 0xff, 0xff, 0xff], ANSWER_WAIT).await;
                if let Answer::Response(frame) = answer {
                    if let Ok(ResponseKind::Metadata(metadata)) = decode_response(ApiKey::Metadata, 1, frame) {
                        if !metadata.brokers.is_empty() {
                            return Ok(());
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err("the node did not register within 60 s".into())
    }

    fn connect(&self) -> Client {
        let (client, server) = tokio::io::duplex(1 << 20);
        let node = self.node.clone();
        let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40_000);
        tokio::spawn(async move { crate::protocol::serve_session(&node, server, peer).await });
        Client { stream: client, correlation_id: 0 }
    }

    async fn connection(&self, steps: &[Step<'_>], authenticated_wait: Duration) -> Vec<Bytes> {
        let mut client = self.connect();
        let mut authenticated = false;
        let mut answered = Vec::new();
        for step in steps {
            match step {
                Step::Authenticate => {
                    if authenticated {
                        continue; // re-authentication (KIP-368) is not offered
                    }
                    if !client.authenticate().await {
                        return answered;
                    }
                    authenticated = true;
                }
                Step::Request(frame) => {
                    if frame.len() < 8 {
                        return answered; // the broker closes; nothing to check
                    }
                    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
                    let version = i16::from_be_bytes([frame[2], frame[3]]);
                    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
                    let key = ApiKey::try_from(api_key).ok();
                    let wait = if authenticated { authenticated_wait } else { ANSWER_WAIT };
                    let answer = client.call(frame, wait).await;
                    let allowed_first =
                        matches!(key, Some(ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate));
                    match answer {
                        Answer::Response(response) => {
                            assert!(
                                authenticated || allowed_first,
                                "{key:?} (API key {api_key}) v{version} was answered before authentication"
                            );
                            let key = key.unwrap_or_else(|| panic!("API key {api_key} was answered"));
                            check_response(key, version, correlation_id, response.clone());
                            answered.push(response.clone());
                            if key == ApiKey::SaslAuthenticate {
                                // One attempt per connection: a failed one closes it.
                                if sasl_error(version, response) != 0 {
                                    assert!(
                                        client.is_closed().await,
                                        "the connection stayed open after a failed SASL attempt"
                                    );
                                    return answered;
                                }
                                if authenticated {
                                    return answered; // re-authentication (KIP-368) is not offered
                                }
                                authenticated = true;
                            }
                        }
                        Answer::Closed => return answered,
                        Answer::Pending if !(authenticated || allowed_first) => {
                            // Before authentication the broker answers or closes at once; on a
                            // starved machine "at once" took longer than ANSWER_WAIT (a false
                            // finding under a parallel build), so only a connection still open
                            // after PATIENCE counts as left open.
                            match client.read_answer(PATIENCE).await {
                                Answer::Closed => return answered,
                                Answer::Response(_) => {
                                    panic!("{key:?} (API key {api_key}) v{version} was answered before authentication")
                                }
                                Answer::Pending => panic!(
                                    "{key:?} (API key {api_key}) v{version} before authentication left the connection open"
                                ),
                            }
                        }
                        Answer::Pending => return answered,
                    }
                }
            }
        }
        answered
    }
}

/// The answer's correlation id is the request's, and its body decodes as that API's response.
fn check_response(key: ApiKey, version: i16, correlation_id: i32, mut response: Bytes) {
    let header_version = if key == ApiKey::ApiVersions { 0 } else { key.response_header_version(version) };
    let header = ResponseHeader::decode(&mut response, header_version)
        .unwrap_or_else(|error| panic!("{key:?} v{version}: response header does not decode: {error}"));
    assert_eq!(header.correlation_id, correlation_id, "{key:?} v{version}: correlation id");
    // ApiVersions at an unsupported version answers in v0 (KIP-511).
    let body_version =
        if key == ApiKey::ApiVersions && response.len() >= 2 && response[..2] != [0, 0] { 0 } else { version };
    if let Err(error) = ResponseKind::decode(key, &mut response, body_version) {
        panic!("{key:?} v{version}: response body does not decode: {error}");
    }
    assert!(!response.has_remaining(), "{key:?} v{version}: {} bytes after the response", response.remaining());
}

/// The error code of a SaslAuthenticate answer already checked to decode.
fn sasl_error(version: i16, frame: Bytes) -> i16 {
    match decode_response(ApiKey::SaslAuthenticate, version, frame) {
        Ok(ResponseKind::SaslAuthenticate(response)) => response.error_code,
        _ => unreachable!("checked by check_response"),
    }
}

fn decode_response(key: ApiKey, version: i16, mut frame: Bytes) -> Result<ResponseKind, String> {
    ResponseHeader::decode(&mut frame, key.response_header_version(version)).map_err(|e| e.to_string())?;
    ResponseKind::decode(key, &mut frame, version).map_err(|e| e.to_string())
}

enum Answer {
    Response(Bytes),
    Closed,
    /// Nothing within `ANSWER_WAIT`.
    Pending,
}

struct Client {
    stream: DuplexStream,
    correlation_id: i32,
}

impl Client {
    async fn call(&mut self, frame: &[u8], wait: Duration) -> Answer {
        let mut sized = (frame.len() as i32).to_be_bytes().to_vec();
        sized.extend_from_slice(frame);
        if self.stream.write_all(&sized).await.is_err() {
            return Answer::Closed;
        }
        self.read_answer(wait).await
    }

    async fn read_answer(&mut self, wait: Duration) -> Answer {
        let read = async {
            let size = self.stream.read_i32().await.ok()?;
            let mut body = vec![0; usize::try_from(size).ok()?];
            self.stream.read_exact(&mut body).await.ok()?;
            Some(Bytes::from(body))
        };
        match crate::clock::timeout(wait, read).await {
            Ok(Some(body)) => Answer::Response(body),
            Ok(None) => Answer::Closed,
            Err(_) => Answer::Pending,
        }
    }

    /// Whether the broker closes the connection (EOF) within `PATIENCE`, sending nothing.
    async fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(crate::clock::timeout(PATIENCE, self.stream.read(&mut byte)).await, Ok(Ok(0)))
    }

    /// SaslHandshake v1 (PLAIN) and SaslAuthenticate v2 with the harness's key.
    async fn authenticate(&mut self) -> bool {
        self.correlation_id += 1;
        let mut handshake = vec![0, 17, 0, 1];
        handshake.extend_from_slice(&self.correlation_id.to_be_bytes());
        handshake.extend_from_slice(&[0, 0, 0, 5]);
        handshake.extend_from_slice(b"PLAIN");
        if !matches!(self.call(&handshake, ANSWER_WAIT).await, Answer::Response(_)) {
            return false;
        }
        self.correlation_id += 1;
        // SaslAuthenticate v2 is flexible: header v2 (client id, no tags), compact bytes, tags.
        let message = plain_message(API_KEY, SECRET);
        let mut authenticate = vec![0, 36, 0, 2];
        authenticate.extend_from_slice(&self.correlation_id.to_be_bytes());
        authenticate.extend_from_slice(&[0, 0, 0]);
        authenticate.push(message.len() as u8 + 1);
        authenticate.extend_from_slice(&message);
        authenticate.push(0);
        match self.call(&authenticate, ANSWER_WAIT).await {
            Answer::Response(frame) => matches!(
                decode_response(ApiKey::SaslAuthenticate, 2, frame),
                Ok(ResponseKind::SaslAuthenticate(response)) if response.error_code == 0
            ),
            _ => false,
        }
    }
}

/// A one-voter cluster on a memory disk, and the key service its storage is sealed with.
async fn start_node(bugs: PlantedBugs, node_ip: IpAddr, kms_ip: IpAddr) -> Result<(Arc<Node>, KmsServer), String> {
    let error = |e: &dyn std::fmt::Display| e.to_string();
    let ca = CertificateAuthority::generate().map_err(|e| error(&e))?;
    let cluster_id = "fuzz-cluster-0000000000".to_string();
    let broker_id: BrokerId = 1;
    let kms_token = "fuzz-kms-token";
    let principals = BTreeMap::from([(crate::kms::keys::broker_principal(&cluster_id), token_hash(kms_token))]);
    let service =
        KeyService::open("fuzz", principals, crate::entropy::os(), Arc::new(MemoryDisk::new()), PlantedBugs::none())
            .map_err(|e| error(&e))?;
    let kms_config = KmsServerConfig {
        listen_ip: kms_ip,
        tls: ca.issue(&["localhost".to_string()], &[kms_ip], None).map_err(|e| error(&e))?,
        crypto: os_crypto_provider(),
        log_store: None,
    };
    let kms = KmsServer::start(kms_config, service).await.map_err(|e| error(&e))?;
    let disk = MemoryDisk::new();
    MetaProperties::format_cluster(&cluster_id, &[(broker_id, 11, &disk as &dyn crate::log::Disk)])
        .map_err(|e| error(&e))?;
    let mut credentials = CredentialStore::default();
    credentials.add("inter-broker", "inter-broker-secret", Role::Broker, 4, None).map_err(|e| error(&e))?;
    credentials.add(API_KEY, SECRET, Role::Client, 4, None).map_err(|e| error(&e))?;
    let config = NodeConfig {
        cluster_id: cluster_id.clone(),
        broker_id,
        zone: "zone-1".into(),
        host: node_ip.to_string(),
        listen_ip: node_ip,
        voters: vec![Voter {
            id: broker_id,
            host: node_ip.to_string(),
            address: SocketAddr::new(node_ip, BROKER_PORT),
        }],
        tls: ca.issue(&["localhost".to_string()], &[node_ip], None).map_err(|e| error(&e))?,
        crypto: os_crypto_provider(),
        credentials,
        inter_broker_api_key: "inter-broker".into(),
        inter_broker_secret: "inter-broker-secret".into(),
        // One replica: min.insync.replicas 1, or no high watermark would ever move.
        replication: crate::replication::ReplicationConfig {
            min_insync_replicas: 1,
            ..crate::replication::ReplicationConfig::default()
        },
        default_partitions: 1,
        default_replication_factor: 1,
        bugs,
        raft_entries_per_append_max: 256,
        entropy: crate::entropy::Entropy::os(),
        dialer: crate::net::tcp_dialer(),
        control_plane: None,
        service_ranges: vec!["127.0.0.0/8".parse().expect("a literal range")],
        kms: crate::kms::client::KmsLinkConfig {
            endpoints: vec![HttpsEndpoint {
                address: SocketAddr::new(kms_ip, KMS_PORT),
                server_name: "localhost".into(),
            }],
            principal: crate::kms::keys::broker_principal(&cluster_id),
            token: kms_token.into(),
        },
        segment_policy: crate::log::SegmentPolicy::default(),
        log_store: None,
        bastion_sources: Vec::new(),
        capture_requests: None,
    };
    let node = crate::runtime::start(config, Arc::new(disk)).await.map_err(|e| error(&e))?;
    Ok((node, kms))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness's first check fails on a broker that answers before authentication: the
    /// planted bug metadata-before-sasl is caught on the seed input "Metadata v1 first", which
    /// passes against the broker as it is.
    #[test]
    fn the_harness_catches_a_broker_that_answers_before_authentication() {
        let metadata_v1 = [0, 3, 0, 1, 0, 0, 0, 9, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(kafka_connection(&[Step::Request(&metadata_v1)]).is_empty(), "closed, unanswered");
        let bugs = PlantedBugs::from_names(["metadata-before-sasl"]).unwrap();
        let bugged = Harness::start(bugs, loopback(2), loopback(3)).unwrap();
        let input = [Step::Request(&metadata_v1)];
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            bugged.runtime.block_on(bugged.connection(&input, ANSWER_WAIT))
        }));
        bugged.stop();
        let panic = caught.expect_err("the harness let an answer before authentication pass");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("answered before authentication"), "{message}");
    }
}
