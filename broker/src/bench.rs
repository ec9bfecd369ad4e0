//! `broker bench`: a produce load generator on our own client against a running dev cluster
//! (acks=all, replication factor 3, 1 KiB records). It reports throughput and request latency;
//! performance is measured here, never asserted in tests.
#![allow(clippy::disallowed_methods, reason = "a benchmark of a real cluster measures the host's clock")]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{CreateTopicsRequest, MetadataRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::client::{ClientCredentials, ClientError, Connection};
use crate::dev::DevError;
use crate::log::batch::encode_values;
use crate::net::tcp_dialer;
use crate::security::tls::{client_config, os_crypto_provider};

const TOPIC: &str = "bench";
const RECORD_BYTES: usize = 1024;

pub struct BenchReport {
    pub seconds: f64,
    pub records: u64,
    pub bytes: u64,
    pub latencies_ms: Vec<f64>,
    /// Responses that asked the client to wait (a tenant at its quota), and the waits in all.
    pub throttled_responses: u64,
    pub throttle_ms: u64,
}

impl BenchReport {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_ms.is_empty() {
            return f64::NAN;
        }
        self.latencies_ms[((self.latencies_ms.len() - 1) as f64 * p).round() as usize]
    }
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "acks=all, replication factor 3, {RECORD_BYTES} B records, {:.1} s", self.seconds)?;
        writeln!(
            f,
            "  throughput: {:.1} MB/s, {:.0} records/s",
            self.bytes as f64 / self.seconds / 1e6,
            self.records as f64 / self.seconds
        )?;
        writeln!(
            f,
            "  produce request latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} requests)",
            self.percentile(0.5),
            self.percentile(0.99),
            self.percentile(1.0),
            self.latencies_ms.len()
        )?;
        write!(f, "  throttled by the tenant's quota: {} responses, {} ms", self.throttled_responses, self.throttle_ms)
    }
}

fn property(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).map(str::to_string)
}

/// `properties`: whose key produces (`client.properties`: the dev cluster's application, held
/// to its ACLs, tenant namespace and Standard quota; `operator.properties`: the service's own
/// key, held to none of them).
pub async fn run(
    dir: &Path,
    properties_path: &Path,
    seconds: u64,
    partitions: i32,
    batch_records: usize,
    in_flight_per_partition: usize,
) -> Result<BenchReport, DevError> {
    let properties_path = properties_path.to_path_buf();
    let text = std::fs::read_to_string(&properties_path)
        .map_err(|source| DevError::File { path: properties_path.clone(), source })?;
    let ca = std::fs::read_to_string(dir.join("ca.pem"))
        .map_err(|source| DevError::File { path: dir.join("ca.pem"), source })?;
    let credentials = ClientCredentials {
        tls: client_config(&ca, &os_crypto_provider())?,
        api_key: property(&text, "sasl.username").unwrap_or_default(),
        secret: property(&text, "sasl.password").unwrap_or_default(),
    };
    let dialer = tcp_dialer();
    let connect = move |host: String| {
        let (dialer, credentials) = (dialer.clone(), credentials.clone());
        async move {
            Connection::connect(
                &dialer,
                format!("{host}:9092").parse().expect("dev hosts are IPs"),
                &host,
                &credentials,
                Duration::from_secs(5),
            )
            .await
        }
    };
    let bench_error =
        |e: ClientError| DevError::File { path: properties_path.clone(), source: std::io::Error::other(e.to_string()) };
    let mut admin = connect("127.0.0.1".into()).await.map_err(bench_error)?;
    let create = CreateTopicsRequest::default().with_timeout_ms(10_000).with_topics(vec![CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
        .with_num_partitions(partitions)
        .with_replication_factor(3)]);
    admin.send(create, 5).await.map_err(bench_error)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let metadata = admin.send(MetadataRequest::default().with_topics(None), 4).await.map_err(bench_error)?;
    let hosts: std::collections::BTreeMap<i32, String> =
        metadata.brokers.iter().map(|b| (b.node_id.0, b.host.to_string())).collect();
    let leaders: Vec<(i32, String)> = metadata
        .topics
        .iter()
        .filter(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == TOPIC))
        .flat_map(|t| {
            t.partitions.iter().map(|p| (p.partition_index, hosts.get(&p.leader_id.0).cloned().unwrap_or_default()))
        })
        .collect();
    let values: Vec<Bytes> =
        (0..batch_records).map(|i| Bytes::from(vec![b'a' + (i % 26) as u8; RECORD_BYTES])).collect();
    let batch = encode_values(&values, -1, -1, -1);
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let records = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let throttles = Arc::new(Mutex::new((0u64, 0u64)));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (partition, host) in leaders {
        for _ in 0..in_flight_per_partition {
            let (batch, latencies, records, connect, throttles) =
                (batch.clone(), latencies.clone(), records.clone(), connect.clone(), throttles.clone());
            let host = host.clone();
            tasks.push(tokio::spawn(async move {
                let Ok(mut connection) = connect(host).await else { return };
                connection.set_request_timeout(Duration::from_secs(30));
                while Instant::now() < deadline {
                    let request =
                        ProduceRequest::default().with_acks(-1).with_timeout_ms(30_000).with_topic_data(vec![
                            TopicProduceData::default()
                                .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                                .with_partition_data(vec![PartitionProduceData::default()
                                    .with_index(partition)
                                    .with_records(Some(batch.clone()))]),
                        ]);
                    let sent = Instant::now();
                    match connection.send(request, 7).await {
                        Ok(response) if response.responses[0].partition_responses[0].error_code == 0 => {
                            latencies.lock().unwrap().push(sent.elapsed().as_secs_f64() * 1000.0);
                            if response.throttle_time_ms > 0 {
                                let mut throttles = throttles.lock().unwrap();
                                throttles.0 += 1;
                                throttles.1 += response.throttle_time_ms as u64;
                            }
                            records.fetch_add(batch_records as u64, std::sync::atomic::Ordering::Relaxed);
                        }
                        _ => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            }));
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut latencies_ms = std::mem::take(&mut *latencies.lock().unwrap());
    latencies_ms.sort_by(f64::total_cmp);
    let records = records.load(std::sync::atomic::Ordering::Relaxed);
    let (throttled_responses, throttle_ms) = *throttles.lock().unwrap();
    Ok(BenchReport {
        seconds,
        records,
        bytes: records * RECORD_BYTES as u64,
        latencies_ms,
        throttled_responses,
        throttle_ms,
    })
}
