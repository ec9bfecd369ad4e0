//! Per-link latency, jitter and loss, in the world's own transport (madsim's are global: a
//! latency fault on one link would slow every link). Every connection a node dials runs through
//! a relay that delivers each chunk at `sent + latency (+ jitter)`, in order and pipelined, and
//! delays a chunk by a retransmission timeout with the link's loss probability (TCP turns loss
//! into delay). Overlapping impairments on a link are counted: the worst active one applies,
//! and the link is restored when the last one ends.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What a retransmission costs when a segment is lost (Linux's minimum RTO).
const RETRANSMISSION_TIMEOUT: Duration = Duration::from_millis(200);

/// One impairment of a link.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Impairment {
    pub latency: Duration,
    /// Extra delay drawn uniformly in [0, jitter) per chunk.
    pub jitter: Duration,
    /// Probability that a chunk needs a retransmission.
    pub loss: f64,
}

impl Impairment {
    fn worst(self, other: Impairment) -> Impairment {
        Impairment {
            latency: self.latency.max(other.latency),
            jitter: self.jitter.max(other.jitter),
            loss: self.loss.max(other.loss),
        }
    }
}

/// The state of every directed link between machines (by name).
#[derive(Default)]
pub struct LinkTable {
    /// Counted partitions: a link is cut while its count is positive.
    pub(super) cut: BTreeMap<(String, String), u32>,
    /// Active impairments per directed link, by the fault that set them.
    impaired: BTreeMap<(String, String), BTreeMap<u64, Impairment>>,
}

impl LinkTable {
    pub(super) fn is_cut(&self, source: &str, target: &str) -> bool {
        self.cut.contains_key(&(source.to_string(), target.to_string()))
    }

    /// The impairment in force on `source -> target`: the worst active one.
    pub fn impairment(&self, source: &str, target: &str) -> Impairment {
        self.impaired
            .get(&(source.to_string(), target.to_string()))
            .map(|active| active.values().fold(Impairment::default(), |worst, i| worst.worst(*i)))
            .unwrap_or_default()
    }

    pub(super) fn impair(&mut self, fault: u64, source: &str, target: &str, impairment: Impairment) {
        self.impaired.entry((source.to_string(), target.to_string())).or_default().insert(fault, impairment);
    }

    pub(super) fn restore(&mut self, fault: u64, source: &str, target: &str) {
        let key = (source.to_string(), target.to_string());
        if let Some(active) = self.impaired.get_mut(&key) {
            active.remove(&fault);
            if active.is_empty() {
                self.impaired.remove(&key);
            }
        }
    }
}

/// Relays bytes between the dialing application (`app`) and the network stream (`net`), each
/// direction impaired as its link is at the moment the bytes are sent.
pub(super) fn relay(
    app: impl AsyncRead + AsyncWrite + Send + 'static,
    net: impl AsyncRead + AsyncWrite + Send + 'static,
    links: std::sync::Arc<std::sync::Mutex<LinkTable>>,
    (source, target): (String, String),
) {
    let (app_read, app_write) = tokio::io::split(app);
    let (net_read, net_write) = tokio::io::split(net);
    tokio::spawn(pump(app_read, net_write, links.clone(), (source.clone(), target.clone())));
    tokio::spawn(pump(net_read, app_write, links, (target, source)));
}

/// One direction: read chunks, stamp each with its delivery time, deliver in order.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    links: std::sync::Arc<std::sync::Mutex<LinkTable>>,
    (source, target): (String, String),
) {
    let (queue, mut deliveries) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let deliver = async move {
        while let Some((at, bytes)) = deliveries.recv().await {
            tokio::time::sleep_until(at).await;
            // madsim's TcpStream sends on flush.
            if to.write_all(&bytes).await.is_err() || to.flush().await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    let read = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        let mut last = Instant::now();
        loop {
            let read = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            let impairment = links.lock().unwrap().impairment(&source, &target);
            let mut at = Instant::now() + impairment.latency;
            if impairment.jitter > Duration::ZERO {
                at += impairment.jitter.mul_f64(madsim::rand::random::<f64>());
            }
            if impairment.loss > 0.0 && madsim::rand::random::<f64>() < impairment.loss {
                at += RETRANSMISSION_TIMEOUT;
            }
            // TCP delivers in order: never before what was sent earlier.
            at = at.max(last);
            last = at;
            if queue.send((at, buffer[..read].to_vec())).is_err() {
                return;
            }
        }
    };
    tokio::join!(read, deliver);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_active_impairment_applies_and_the_link_is_restored_when_the_last_ends() {
        let mut links = LinkTable::default();
        let slow = Impairment { latency: Duration::from_millis(100), ..Impairment::default() };
        let lossy = Impairment { loss: 0.2, ..Impairment::default() };
        links.impair(1, "broker-1", "broker-2", slow);
        links.impair(2, "broker-1", "broker-2", lossy);
        assert_eq!(
            links.impairment("broker-1", "broker-2"),
            Impairment { latency: Duration::from_millis(100), jitter: Duration::ZERO, loss: 0.2 }
        );
        assert_eq!(links.impairment("broker-2", "broker-1"), Impairment::default(), "links are directed");
        links.restore(1, "broker-1", "broker-2");
        assert_eq!(links.impairment("broker-1", "broker-2"), lossy);
        links.restore(2, "broker-1", "broker-2");
        assert_eq!(links.impairment("broker-1", "broker-2"), Impairment::default());
    }

    #[test]
    fn a_slow_link_delays_its_bytes_and_no_other_link() {
        madsim::runtime::Runtime::new().block_on(async {
            let links = std::sync::Arc::new(std::sync::Mutex::new(LinkTable::default()));
            links.lock().unwrap().impair(
                1,
                "a",
                "b",
                Impairment { latency: Duration::from_millis(300), ..Impairment::default() },
            );
            let elapsed = |source: &'static str, target: &'static str| {
                let links = links.clone();
                async move {
                    let (app, relay_app) = tokio::io::duplex(1 << 16);
                    let (relay_net, mut net) = tokio::io::duplex(1 << 16);
                    relay(relay_app, relay_net, links, (source.into(), target.into()));
                    let mut app = app;
                    let started = Instant::now();
                    app.write_all(b"fetch").await.unwrap();
                    let mut received = [0u8; 5];
                    net.read_exact(&mut received).await.unwrap();
                    assert_eq!(&received, b"fetch");
                    started.elapsed()
                }
            };
            let slow = elapsed("a", "b").await;
            let fast = elapsed("a", "c").await;
            assert!(slow >= Duration::from_millis(300), "{slow:?}");
            assert!(fast < Duration::from_millis(50), "{fast:?}");
        });
    }
}
