//! The checkers: one module per claim or property, each a function from the evidence a run
//! gathered to what it proves wrong, with tests of bad evidence (histories, wire bytes, replica
//! states) beside it. Every checker must be able to fail: `faultline selftest` shows each
//! planted bug caught by the checker it was planted for.
//!
//! - `kafka_history`: the Jepsen-style Kafka checker over the client history (lost, duplicated,
//!   reordered or inconsistent writes; consumer anomalies).
//! - `availability`: success ratios per phase, and unavailability in simulated time.
//! - `replicas`: replicas that differ below their common high watermark (simulation only).
//! - `high_watermarks`: a leader's high watermark moving back (simulation only).
//! - `wire`: the wire tap and its plaintext check (C02).
//! - `access`: successes the scenario's ACLs deny (C17); deleted keys working past the bound (C15).
//! - `audit`: the audit topic against the control plane's log and the harness's changes (C18).
//! - `backups`: a restore after the control plane's zone is lost keeps everything; no customer record in a backup (C21).
//! - `sign_in`: passwords and assertions accepted once and only when valid; non-admins may not change (C16).
//! - `secrets`: API-key secrets on any disk, in any later response or log line (C15).
//! - `authentication`: nothing answered before SASL, no session for a made-up key (C15).
//! - `listeners`: no port but 9092 and 443 accepts connections (C01).
//! - `provisioning`: cluster and schema-registry requests answered as the paper's matrix says (C03, C04).
//! - `quotas`: a tenant's greedy client held to each broker's share of its stream limit, never dropped (C03).
//! - `tenants`: nothing of another tenant in any answer; its names answered like absent ones (C28).
//! - `connections`: who opened which connection, by which path; the control plane never dials a broker (C14).
//! - `dns`: every client given its own network's addresses by the service's DNS (C06).
//! - `privatelink`: nothing on the service side opens a connection into a PrivateLink VPC; no client without the DNS override gets in (C05, C06).
//! - `regions`: no record canary, topic or connection of a cluster outside its region (C07).
//! - `at_rest`: no record data or key in clear on any disk; no nonce used twice under a key (C08).
//! - `keys`: every segment still opens after rotations; new segments under the new version;
//!   nothing served past the bound after a revocation or a key-service outage (C09).

pub mod access;
pub mod at_rest;
pub mod audit;
pub mod availability;
pub mod backups;
pub mod breaches;
pub mod connections;
pub mod dns;
pub mod encodings;
pub mod fields;
pub mod kafka_history;
pub mod keys;
pub mod log_store;
pub mod operators;
pub mod privatelink;
pub mod provisioning;
pub mod quotas;
pub mod regions;
pub mod retention;
pub mod secrets;
pub mod shredding;
pub mod sign_in;
pub mod tenants;

#[cfg(madsim)]
pub mod authentication;
#[cfg(madsim)]
pub mod high_watermarks;
#[cfg(madsim)]
pub mod listeners;
#[cfg(madsim)]
pub mod replicas;
#[cfg(madsim)]
pub mod wire;
