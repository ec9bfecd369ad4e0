//! The broker's one integration-test binary. Real-mode tests run the `broker` binary as
//! processes and talk to it with clients nobody here wrote (kcat, kafka-python, openssl).
//! They share 127.0.0.1-3:9092, so they take a lock and run one at a time.

#![allow(clippy::disallowed_methods, reason = "real-mode tests drive real processes on the host's clock")]

mod cluster;
mod control_plane;
mod disk_loss;
mod durability;
mod edge_security;
mod encryption;
mod failover;
mod hostile_input;
mod layers;
mod operators;
mod real_clients;
mod replication_properties;
mod retention;
mod security_log;
