//! The network layer the service runs (C05, C06): its DNS service, which answers the broker
//! cluster's names per source network, and the stub resolver clients use to ask it. Who may
//! connect at all is `control_plane::network::Endpoints`, enforced at the brokers' accept.

pub mod dns;
pub mod privatelink;
pub mod resolver;
pub mod service;

/// Sends one datagram. The simulator's `send_to` takes its arguments in the other order than
/// tokio's (madsim 0.2.34), so the difference lives here and nowhere else.
pub(crate) async fn send_to(
    socket: &tokio::net::UdpSocket,
    datagram: &[u8],
    target: std::net::SocketAddr,
) -> std::io::Result<()> {
    #[cfg(madsim)]
    {
        socket.send_to(target, datagram).await
    }
    #[cfg(not(madsim))]
    {
        socket.send_to(datagram, target).await.map(|_| ())
    }
}
