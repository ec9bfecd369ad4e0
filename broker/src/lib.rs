//! The system under test: a Kafka-protocol broker cluster stretched across three zones.
pub mod controller;
pub mod log;
pub mod planted_bugs;
pub mod replication;
