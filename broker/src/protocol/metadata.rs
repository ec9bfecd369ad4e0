//! Metadata, CreateTopics, DeleteTopics.

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse, MetadataRequest,
    MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::errors;
use crate::controller::metadata::{MetadataImage, TopicConfig, NO_LEADER};
use crate::messages::ControllerRequest;
use crate::node::Node;

/// How long a Metadata request waits for a node just started to catch up with the metadata log.
const CATCH_UP_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub(super) async fn metadata(node: &Node, request: MetadataRequest, version: i16) -> MetadataResponse {
    node.wait_caught_up(CATCH_UP_WAIT).await;
    let image = node.metadata();
    let brokers = image
        .brokers
        .iter()
        .filter(|(_, registration)| !registration.fenced)
        .map(|(id, registration)| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(*id))
                .with_host(StrBytes::from_string(registration.host.clone()))
                .with_port(registration.port)
                // The zone is the rack (v1+): clients use it for rack-aware placement.
                .with_rack((version >= 1).then(|| StrBytes::from_string(registration.zone.clone())))
        })
        .collect();
    let names: Vec<String> = match request.topics {
        // v0 used an empty list for "all topics"; later versions use null.
        Some(topics) if !(topics.is_empty() && version == 0) => {
            topics.into_iter().filter_map(|t| t.name.map(|n| n.0.to_string())).collect()
        }
        _ => image.topics.keys().cloned().collect(),
    };
    let topics = names.iter().map(|name| describe_topic(&image, name, version)).collect();
    let response = MetadataResponse::default().with_brokers(brokers).with_topics(topics);
    let response = if version >= 1 {
        response.with_controller_id(BrokerId(node.controller().leader().unwrap_or(-1)))
    } else {
        response
    };
    if version >= 2 {
        response.with_cluster_id(Some(StrBytes::from_static_str("faultline")))
    } else {
        response
    }
}

fn describe_topic(image: &MetadataImage, name: &str, version: i16) -> MetadataResponseTopic {
    let topic = MetadataResponseTopic::default().with_name(Some(TopicName(StrBytes::from_string(name.to_string()))));
    let Some(partitions) = image.topics.get(name) else {
        return topic.with_error_code(ResponseError::UnknownTopicOrPartition.code());
    };
    let fenced = |b: &i32| image.brokers.get(b).is_none_or(|r| r.fenced);
    let partitions = partitions
        .iter()
        .enumerate()
        .map(|(index, state)| {
            let error = if state.leader == NO_LEADER { ResponseError::LeaderNotAvailable.code() } else { errors::NONE };
            let partition = MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(index as i32)
                .with_leader_id(BrokerId(state.leader))
                .with_replica_nodes(state.replicas.iter().map(|b| BrokerId(*b)).collect())
                .with_isr_nodes(state.isr.iter().map(|b| BrokerId(*b)).collect());
            let partition = if version >= 5 {
                partition
                    .with_offline_replicas(state.replicas.iter().filter(|b| fenced(b)).map(|b| BrokerId(*b)).collect())
            } else {
                partition
            };
            if version >= 7 {
                partition.with_leader_epoch(state.leader_epoch)
            } else {
                partition
            }
        })
        .collect();
    let topic = topic.with_partitions(partitions);
    if version >= 1 {
        topic.with_is_internal(name.starts_with("__"))
    } else {
        topic
    }
}

pub(super) async fn create_topics(node: &Node, request: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
    let mut results = Vec::new();
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let partitions = if topic.num_partitions < 0 { node.config.default_partitions } else { topic.num_partitions };
        let replication_factor = if topic.replication_factor < 0 {
            node.config.default_replication_factor
        } else {
            topic.replication_factor
        };
        let mut result = CreatableTopicResult::default().with_name(topic.name.clone());
        if version >= 5 {
            result = result.with_num_partitions(partitions).with_replication_factor(replication_factor);
        }
        let config = TopicConfig::for_customer(
            topic.configs.iter().map(|c| (c.name.as_str(), c.value.as_ref().map(|v| v.as_str()))),
        );
        let config = match config {
            Ok(config) => config,
            Err(reason) => {
                result = result.with_error_code(ResponseError::InvalidConfig.code());
                if version >= 1 {
                    result = result.with_error_message(Some(StrBytes::from_string(reason)));
                }
                results.push(result);
                continue;
            }
        };
        if request.validate_only {
            results.push(result);
            continue;
        }
        let create = ControllerRequest::CreateTopic { name: name.clone(), partitions, replication_factor, config };
        let outcome = node.controller_request(create).await;
        if let Err(error) = outcome {
            if matches!(error, crate::controller::metadata::ControllerError::PartitionLimit { .. }) {
                tracing::warn!(topic = %name, %error, "CreateTopics refused");
            }
            result = result.with_error_code(errors::from_controller(&error));
            if version >= 1 {
                result = result.with_error_message(Some(StrBytes::from_string(error.to_string())));
            }
        }
        results.push(result);
    }
    CreateTopicsResponse::default().with_topics(results)
}

pub(super) async fn delete_topics(node: &Node, request: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
    let names: Vec<TopicName> =
        if version >= 6 { request.topics.into_iter().filter_map(|t| t.name).collect() } else { request.topic_names };
    let mut responses = Vec::new();
    for name in names {
        let mut result = DeletableTopicResult::default().with_name(Some(name.clone()));
        if let Err(error) = node.controller_request(ControllerRequest::DeleteTopic { name: name.0.to_string() }).await {
            result = result.with_error_code(errors::from_controller(&error));
            if version >= 5 {
                result = result.with_error_message(Some(StrBytes::from_string(error.to_string())));
            }
        }
        responses.push(result);
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
