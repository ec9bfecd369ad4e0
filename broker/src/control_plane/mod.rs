//! The control plane (C03, C04, C14-C18, C21, C28): organizations, environments, clusters,
//! identities, API keys, ACLs and audit events, on its own machines and its own port (443).
//! Brokers pull what they need from it; it never opens a connection to a broker.
pub mod access;
pub mod api;
pub mod audit;
pub mod backup;
pub mod identity;
pub mod link;
pub mod model;
pub mod network;
pub mod quotas;
pub mod server;
pub mod snapshot;
pub mod state;
