//! How a node opens connections. Real mode dials TCP; the simulation substitutes a dialer
//! that makes partitioned connects hang until the caller's timeout, as real ones do.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::net::TcpStream;

pub type DialFuture = Pin<Box<dyn Future<Output = std::io::Result<TcpStream>> + Send>>;

/// Opens a TCP connection from this node to `target`.
pub type Dialer = Arc<dyn Fn(SocketAddr) -> DialFuture + Send + Sync>;

pub fn tcp_dialer() -> Dialer {
    Arc::new(|target| Box::pin(TcpStream::connect(target)))
}
