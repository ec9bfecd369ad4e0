//! A stub resolver, as a client machine has one: it asks the service's DNS servers in turn
//! over UDP, caches answers for their TTL, and when no server answers it serves an expired
//! answer for a while (RFC 8767's serve-stale, as Unbound and the clouds' resolvers do), so a
//! DNS outage is felt only by names it never resolved or resolved too long ago. Overrides are
//! the customer's own private zone (PrivateLink needs one): they win over the service's answers.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use tokio::time::Instant;

use super::dns::{parse_answer, query};

/// How long one server has to answer before the next is asked.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(1);
/// How long past its TTL an answer may still be used while no server answers (RFC 8767
/// suggests one to three days; a client machine's cache keeps far less).
pub const STALE_MAX: Duration = Duration::from_secs(300);

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A server answered now.
    Server(SocketAddr),
    /// A fresh cached answer.
    Cache,
    /// An expired answer, because no server answered.
    Stale,
    /// The customer's own override.
    Override,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub name: String,
    pub addresses: Vec<Ipv4Addr>,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}: no such name")]
    NoSuchName(String),
    #[error("{name}: the server answered {code}")]
    Refused { name: String, code: String },
    #[error("{0}: no DNS server answered and nothing usable is cached")]
    Unreachable(String),
}

struct Cached {
    addresses: Vec<Ipv4Addr>,
    expires: Instant,
}

pub struct Resolver {
    servers: Vec<SocketAddr>,
    overrides: BTreeMap<String, Vec<Ipv4Addr>>,
    cache: Mutex<BTreeMap<String, Cached>>,
    next_id: AtomicU16,
}

impl Resolver {
    /// `servers` are asked in order; `first_id` seeds query ids (deterministic per client).
    pub fn new(servers: Vec<SocketAddr>, overrides: BTreeMap<String, Vec<Ipv4Addr>>, first_id: u16) -> Self {
        let overrides = overrides.into_iter().map(|(name, addresses)| (normalize(&name), addresses)).collect();
        Resolver { servers, overrides, cache: Mutex::default(), next_id: AtomicU16::new(first_id) }
    }

    /// Whether `name` has an answer in the cache (fresh or usable stale) or an override.
    pub fn knows(&self, name: &str) -> bool {
        let name = normalize(name);
        self.overrides.contains_key(&name)
            || self.cache.lock().unwrap().get(&name).is_some_and(|c| Instant::now() < c.expires + STALE_MAX)
    }

    pub async fn resolve(&self, name: &str) -> Result<Resolution, ResolveError> {
        let name = normalize(name);
        if let Some(addresses) = self.overrides.get(&name) {
            return Ok(Resolution { name, addresses: addresses.clone(), origin: Origin::Override });
        }
        let now = Instant::now();
        if let Some(cached) = self.cache.lock().unwrap().get(&name) {
            if now < cached.expires {
                return Ok(Resolution { name, addresses: cached.addresses.clone(), origin: Origin::Cache });
            }
        }
        for server in &self.servers {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let Some(answer) = ask(*server, id, &name).await else { continue };
            return match answer {
                (ResponseCode::NoError, addresses, ttl) if !addresses.is_empty() => {
                    self.cache
                        .lock()
                        .unwrap()
                        .insert(name.clone(), Cached { addresses: addresses.clone(), expires: Instant::now() + ttl });
                    Ok(Resolution { name, addresses, origin: Origin::Server(*server) })
                }
                (ResponseCode::NoError | ResponseCode::NXDomain, _, _) => {
                    self.cache.lock().unwrap().remove(&name);
                    Err(ResolveError::NoSuchName(name))
                }
                (code, _, _) => Err(ResolveError::Refused { name, code: code.to_string() }),
            };
        }
        let cache = self.cache.lock().unwrap();
        match cache.get(&name) {
            Some(cached) if Instant::now() < cached.expires + STALE_MAX => {
                Ok(Resolution { name, addresses: cached.addresses.clone(), origin: Origin::Stale })
            }
            _ => Err(ResolveError::Unreachable(name)),
        }
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// One query to one server; `None` if it does not answer in time.
async fn ask(server: SocketAddr, id: u16, name: &str) -> Option<(ResponseCode, Vec<Ipv4Addr>, Duration)> {
    let bytes = query(id, name)?;
    let local: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("literal address");
    let socket = tokio::net::UdpSocket::bind(local).await.ok()?;
    super::send_to(&socket, &bytes, server).await.ok()?;
    let mut buffer = vec![0u8; 1_500];
    crate::clock::timeout(QUERY_TIMEOUT, async {
        loop {
            let (length, from) = socket.recv_from(&mut buffer).await.ok()?;
            // Anything else is noise or a spoof attempt: keep waiting for the real answer.
            if from == server {
                if let Some(answer) = parse_answer(id, &buffer[..length]) {
                    return Some(answer);
                }
            }
        }
    })
    .await
    .ok()
    .flatten()
}
