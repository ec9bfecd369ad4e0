//! C20 in real mode: `kill -9` of one node during an acks=all produce run loses no
//! acknowledged message; with two nodes down acks=all is refused and never acknowledged.

use std::collections::BTreeSet;
use std::time::Duration;

use broker::client::{ClientCredentials, Connection};
use broker::security::tls::{client_config, os_crypto_provider};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::cluster::Cluster;

#[test]
#[ignore = "full tier: about 45 s; kill -9 of real processes stays in the fast tier (durability, ci/chaos-real.sh)"]
fn killing_a_node_loses_no_acknowledged_write_and_two_down_refuses_acks_all() {
    let mut cluster = Cluster::start();
    cluster.create_topic("failover", 3);
    let producer = cluster.start_producer("failover", 20);
    std::thread::sleep(Duration::from_secs(6));
    cluster.kill(2);
    let acked = cluster.finish_producer(producer);
    assert!(acked.len() > 1_000, "too few acknowledged writes to mean anything: {}", acked.len());

    let consumed: BTreeSet<String> = cluster.consume_all("failover").into_iter().collect();
    let lost: Vec<&String> = acked.iter().filter(|v| !consumed.contains(*v)).collect();
    assert!(lost.is_empty(), "{} acknowledged writes lost, first {:?}\n{}", lost.len(), lost.first(), cluster.logs());

    // Two nodes down: the survivor's followers lag past replica.lag.time.max.ms (10 s).
    cluster.kill(3);
    std::thread::sleep(Duration::from_secs(12));
    let properties = std::fs::read_to_string(cluster.properties()).unwrap();
    let property = |key: &str| properties.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap().to_string();
    let ca = std::fs::read_to_string(cluster.dir.join("ca.pem")).unwrap();
    let credentials = ClientCredentials {
        tls: client_config(&ca, &os_crypto_provider()).unwrap(),
        api_key: property("sasl.username"),
        secret: property("sasl.password"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let codes: Vec<i16> = runtime.block_on(async {
        let mut connection = Connection::connect(
            &broker::net::tcp_dialer(),
            "127.0.0.1:9092".parse().unwrap(),
            "127.0.0.1",
            &credentials,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let mut codes = Vec::new();
        for partition in 0..3 {
            let records =
                broker::log::batch::encode_values(&[bytes::Bytes::from(format!("two-down-{partition}"))], -1, -1, -1);
            let request = ProduceRequest::default().with_acks(-1).with_timeout_ms(5_000).with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str("failover")))
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records))]),
            ]);
            let response = connection.send(request, 7).await.unwrap();
            codes.push(response.responses[0].partition_responses[0].error_code);
        }
        codes
    });
    // 19 = NOT_ENOUGH_REPLICAS where node 1 leads; 6 = NOT_LEADER where a dead node led.
    assert!(codes.contains(&19), "expected NOT_ENOUGH_REPLICAS from the surviving leader, got {codes:?}");
    assert!(!codes.contains(&0), "acks=all was acknowledged with two of three nodes down: {codes:?}");

    // Bring the cluster back: none of the refused writes ever appears.
    cluster.start_node(2);
    cluster.start_node(3);
    cluster.wait_until_ready();
    let after = cluster.consume_all("failover");
    assert!(!after.iter().any(|v| v.starts_with("two-down-")), "a refused write became visible");
}
