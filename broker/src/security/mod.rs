//! Security at the edge: TLS policy (rustls, 1.2 minimum), SASL/PLAIN with API keys, secrets
//! stored as bcrypt hashes, and ACLs.
pub mod acl;
pub mod sasl;
pub mod secrets;
pub mod tls;
