//! The system under test: a Kafka-protocol broker cluster stretched across three zones.
pub mod log;
