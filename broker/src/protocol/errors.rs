//! Kafka error codes, mapped in one place.

use kafka_protocol::ResponseError;

use crate::controller::metadata::ControllerError;
use crate::group::coordinator::GroupError;
use crate::log::LogError;
use crate::replication::acks::AppendError;

pub(crate) const NONE: i16 = 0;

pub(crate) fn from_controller(error: &ControllerError) -> i16 {
    match error {
        ControllerError::TopicAlreadyExists(_) => ResponseError::TopicAlreadyExists.code(),
        ControllerError::UnknownTopic(_) => ResponseError::UnknownTopicOrPartition.code(),
        ControllerError::InvalidReplicationFactor { .. } => ResponseError::InvalidReplicationFactor.code(),
        ControllerError::InvalidPartitions(_) => ResponseError::InvalidPartitions.code(),
        ControllerError::PartitionLimit { .. } => ResponseError::PolicyViolation.code(),
        ControllerError::InvalidTopicName(_) => ResponseError::InvalidTopicException.code(),
        ControllerError::StalePartitionState { .. } | ControllerError::IneligibleReplica { .. } => {
            ResponseError::InvalidRequest.code()
        }
        ControllerError::StaleBrokerEpoch { .. } => ResponseError::IneligibleReplica.code(),
        ControllerError::StaleBrokerRegistration(_) => ResponseError::StaleBrokerEpoch.code(),
        ControllerError::NotController => ResponseError::NotController.code(),
        ControllerError::Timeout => ResponseError::RequestTimedOut.code(),
    }
}

pub(crate) fn from_log(error: &LogError) -> i16 {
    match error {
        LogError::InvalidBatch(_) => ResponseError::CorruptMessage.code(),
        LogError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber.code(),
        LogError::ProducerFenced { .. } => ResponseError::InvalidProducerEpoch.code(),
        // The data's key is revoked, expired or not ready, or a frame does not authenticate:
        // served as a storage error (retriable), never as data (C09).
        LogError::Storage(_)
        | LogError::KeyUnavailable(_)
        | LogError::Corrupt { .. }
        | LogError::KeyFile(_)
        | LogError::MissingKeyFile(_) => ResponseError::KafkaStorageError.code(),
    }
}

pub(crate) fn from_append(error: &AppendError) -> i16 {
    match error {
        AppendError::NotLeader => ResponseError::NotLeaderOrFollower.code(),
        AppendError::NotEnoughReplicas => ResponseError::NotEnoughReplicas.code(),
        AppendError::NotEnoughReplicasAfterAppend => ResponseError::NotEnoughReplicasAfterAppend.code(),
        AppendError::Timeout => ResponseError::RequestTimedOut.code(),
        AppendError::Log(error) => from_log(error),
    }
}

pub(crate) fn from_group(error: &GroupError) -> i16 {
    match error {
        GroupError::UnknownMemberId => ResponseError::UnknownMemberId.code(),
        GroupError::IllegalGeneration => ResponseError::IllegalGeneration.code(),
        GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress.code(),
        GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol.code(),
        GroupError::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached.code(),
        GroupError::NotCoordinator => ResponseError::NotCoordinator.code(),
    }
}
