//! C02 and C15 at the edge: TLS 1.2+ only, no plaintext, SASL before anything else.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::cluster::{run_ok, Cluster};

fn s_client(cluster: &Cluster, flags: &[&str]) -> (bool, String) {
    let output = Command::new("openssl")
        .args(["s_client", "-connect", "127.0.0.1:9092", "-CAfile"])
        .arg(cluster.dir.join("ca.pem"))
        .args(flags)
        .stdin(Stdio::null())
        .output()
        .expect("openssl is installed");
    (
        output.status.success(),
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
    )
}

#[test]
fn tls_below_1_2_is_refused_and_1_2_and_1_3_succeed() {
    let cluster = Cluster::start();
    // Debian's openssl only offers TLS 1.1 with SECLEVEL=0; without it a refusal proves nothing.
    let (ok, transcript) = s_client(&cluster, &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
    // openssl prints the protocol it offered even when the handshake fails: look at the cipher.
    assert!(!ok && transcript.contains("Cipher is (NONE)"), "TLS 1.1 was accepted:\n{transcript}");
    let (ok, transcript) = s_client(&cluster, &["-tls1_2"]);
    assert!(
        ok && transcript.contains("TLSv1.2") && transcript.contains("Verify return code: 0"),
        "TLS 1.2 failed:\n{transcript}"
    );
    let (ok, transcript) = s_client(&cluster, &["-tls1_3"]);
    assert!(
        ok && transcript.contains("TLSv1.3") && transcript.contains("Verify return code: 0"),
        "TLS 1.3 failed:\n{transcript}"
    );
}

#[test]
fn a_plaintext_kafka_request_gets_no_kafka_response() {
    let _cluster = Cluster::start();
    let mut stream = std::net::TcpStream::connect("127.0.0.1:9092").unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // ApiVersions v0, correlation id 0x0A0B0C0D, client id "plain".
    let mut request = vec![0, 18, 0, 0, 0x0A, 0x0B, 0x0C, 0x0D, 0, 5];
    request.extend_from_slice(b"plain");
    let mut frame = (request.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&request);
    stream.write_all(&frame).unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let is_kafka_response = reply.len() >= 8 && reply[4..8] == [0x0A, 0x0B, 0x0C, 0x0D];
    assert!(!is_kafka_response, "plaintext got a Kafka response: {reply:?}");
    // What comes back, if anything, is a TLS alert record (content type 21).
    assert!(reply.is_empty() || reply[0] == 21, "unexpected reply bytes {reply:?}");
}

#[test]
fn a_wrong_secret_is_refused() {
    let cluster = Cluster::start();
    let output = cluster.kcat().args(["-L", "-X", "sasl.password=not-the-secret", "-m", "5"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "kcat listed metadata with a wrong secret");
    assert!(stderr.contains("Authentication failed") || stderr.contains("SASL authentication error"), "{stderr}");
    // The right one still works.
    run_ok(cluster.kcat().args(["-L", "-m", "5"]));
}

/// Sends `request` (a frame without its size prefix) over TLS with no SASL first; returns what
/// came back before the broker closed the connection (None: it kept it open for 5 s).
fn send_before_authentication(cluster: &Cluster, request: &[u8]) -> Option<Vec<u8>> {
    use broker::security::tls::{client_config, os_crypto_provider};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ca = std::fs::read_to_string(cluster.dir.join("ca.pem")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect("127.0.0.1:9092").await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(client_config(&ca, &os_crypto_provider()).unwrap());
        let mut tls = connector
            .connect(rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(), tcp)
            .await
            .expect("TLS itself succeeds");
        let mut frame = (request.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(request);
        tls.write_all(&frame).await.unwrap();
        tls.flush().await.unwrap();
        let mut reply = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut reply)).await;
        read.ok().map(|_| reply)
    })
}

#[test]
fn a_request_before_authentication_is_refused() {
    let cluster = Cluster::start();
    // Metadata v4 for all topics, with no SASL first.
    let mut request = vec![0, 3, 0, 4, 0, 0, 0, 7, 0, 4];
    request.extend_from_slice(b"anon");
    request.extend_from_slice(&(-1i32).to_be_bytes());
    request.push(0);
    let reply =
        send_before_authentication(&cluster, &request).expect("the broker closes an unauthenticated connection");
    assert!(reply.is_empty(), "an unauthenticated Metadata request got {} bytes back", reply.len());
}

/// Found by the `kafka_request` fuzz target: 16 bytes of Metadata v0 whose topic array claims
/// 2.3 billion entries. The released kafka-protocol reserved them all up front (152 GB) and
/// the allocation failure aborted the broker, before authentication; now it costs only the
/// connection.
#[test]
fn a_request_claiming_billions_of_topics_costs_only_its_connection() {
    let mut cluster = Cluster::start();
    let request = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/hostile/kafka_request/metadata-v0-claims-2e9-topics"),
    )
    .unwrap();
    let reply = send_before_authentication(&cluster, &request).expect("the broker closes the connection");
    assert!(reply.is_empty(), "a malformed request got {} bytes back", reply.len());
    // Broker 1 (127.0.0.1, the one that read it) is still there.
    std::thread::sleep(Duration::from_millis(500));
    let exit = cluster.node_exit(1);
    assert!(
        exit.is_none(),
        "broker 1 ended ({exit:?}):\n{}",
        cluster.log("node-1.log").lines().rev().take(5).collect::<Vec<_>>().join("\n")
    );
    run_ok(cluster.kcat().args(["-b", "127.0.0.1:9092", "-L", "-m", "5"]));
}
