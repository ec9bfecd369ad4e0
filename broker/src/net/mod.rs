//! How a node opens connections. Real mode dials TCP; the simulation substitutes a dialer
//! that makes partitioned connects hang until the caller's timeout, as real ones do, and that
//! can observe the bytes on the wire.

pub mod api;
pub(crate) mod capture;
pub mod connections;
pub mod frame;
pub mod http;
pub mod https_client;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

/// The port of the planted bug `plaintext-inter-broker`'s listener (C01: nodes open 9092 only).
pub(crate) const PLAINTEXT_INTER_BROKER_PORT: u16 = 9093;

/// A byte stream to another node.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Transport for T {}

pub type BoxedTransport = Box<dyn Transport>;
pub(crate) type DialFuture = Pin<Box<dyn Future<Output = std::io::Result<BoxedTransport>> + Send>>;

/// Opens a connection from this node to `target`.
pub type Dialer = Arc<dyn Fn(SocketAddr) -> DialFuture + Send + Sync>;

/// Dials from the local address `local`, so that the far side sees it (a bastion's brokers).
pub fn bind_dialer(local: std::net::IpAddr) -> Dialer {
    #[cfg(not(madsim))]
    {
        Arc::new(move |target| {
            Box::pin(async move {
                let socket =
                    if local.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
                socket.bind(std::net::SocketAddr::new(local, 0))?;
                let stream = socket.connect(target).await?;
                stream.set_nodelay(true).ok();
                Ok(Box::new(stream) as BoxedTransport)
            })
        })
    }
    // The simulation gives every machine its own dialer.
    #[cfg(madsim)]
    {
        let _ = local;
        tcp_dialer()
    }
}

pub fn tcp_dialer() -> Dialer {
    Arc::new(|target| {
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(target).await?;
            stream.set_nodelay(true).ok();
            Ok(Box::new(stream) as BoxedTransport)
        })
    })
}
