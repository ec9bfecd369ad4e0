//! Authentication (C15): no unauthenticated access. After the run a client machine opens TLS
//! connections to every broker and, without SASL, asks for the cluster's metadata (the first
//! request a client sends, and the one an attacker mapping a cluster would); then it tries a
//! made-up API key. An answer to the first or a session from the second is a violation.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use broker::client::{ClientCredentials, ClientError, Connection};
use broker::net::Dialer;
use kafka_protocol::messages::MetadataRequest;

const TIMEOUT: Duration = Duration::from_secs(5);
/// Metadata's oldest and newest versions the broker serves (header v1 and v2).
const METADATA_VERSIONS: [i16; 2] = [1, 12];

/// Probes each of `brokers` (id, address, TLS name); returns the violations and the number of
/// probes that reached a broker (a probe that could not even connect proves nothing).
pub async fn probe(
    dialer: &Dialer,
    brokers: &[(i32, SocketAddr, String)],
    made_up: &ClientCredentials,
) -> (Vec<String>, usize) {
    let mut violations = Vec::new();
    let mut probes = 0;
    for (id, address, host) in brokers {
        for version in METADATA_VERSIONS {
            let tls: Arc<rustls::ClientConfig> = made_up.tls.clone();
            let Ok(mut connection) = Connection::connect_unauthenticated(dialer, *address, host, tls, TIMEOUT).await
            else {
                continue;
            };
            probes += 1;
            if let Ok(answer) = connection.send(MetadataRequest::default().with_topics(None), version).await {
                violations.push(format!(
                    "broker {id} answered Metadata v{version} before SASL authentication ({} brokers listed)",
                    answer.brokers.len()
                ));
            }
        }
        match Connection::connect(dialer, *address, host, made_up, TIMEOUT).await {
            Ok(_) => {
                probes += 1;
                violations.push(format!("broker {id} authenticated the made-up API key {:?}", made_up.api_key));
            }
            Err(ClientError::Authentication(_)) => probes += 1,
            Err(_) => {}
        }
    }
    (violations, probes)
}
