//! Ports (C01): clients reach the service on 9092 (brokers) and 443 (control plane) only.
//! After the run a client machine tries every port below 1025 and the ports services commonly
//! open beside them, on every machine of the service; any that accepts a connection is a
//! listener nobody promised.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Ports beyond 1..=1024 that Kafka services, proxies and admin endpoints often open.
const COMMON_PORTS: [u16; 14] = [2181, 2379, 3000, 8080, 8081, 8083, 8088, 8443, 9091, 9093, 9094, 9100, 9644, 29092];

/// The ports probed on every machine.
pub fn probed_ports() -> impl Iterator<Item = u16> {
    (1..=1024).chain(COMMON_PORTS)
}

/// Whether something holds a connection to `address` open. madsim completes a connect even
/// where nothing listens and ends the stream at the first read, so a port counts as listening
/// when the connection is still open, silent, after 100 ms (a TLS or HTTP server waits for
/// the client to speak first).
async fn listening(address: SocketAddr) -> bool {
    use tokio::io::AsyncReadExt;
    let Ok(Ok(mut stream)) =
        broker::clock::timeout(Duration::from_millis(200), tokio::net::TcpStream::connect(address)).await
    else {
        return false;
    };
    let mut byte = [0u8; 1];
    match broker::clock::timeout(Duration::from_millis(100), stream.read(&mut byte)).await {
        Err(_) => true,
        Ok(Ok(read)) => read > 0,
        Ok(Err(_)) => false,
    }
}

/// Tries every probed port of each (machine, address, allowed ports); returns the unexpected
/// listeners and the number of ports tried.
pub async fn probe(machines: &[(String, IpAddr, Vec<u16>)]) -> (Vec<String>, usize) {
    let mut found = Vec::new();
    let mut tried = 0;
    for (name, ip, allowed) in machines {
        for port in probed_ports().filter(|port| !allowed.contains(port)) {
            tried += 1;
            if listening(SocketAddr::new(*ip, port)).await {
                found.push(format!("{name} accepts connections on port {port}"));
            }
        }
    }
    (found, tried)
}
