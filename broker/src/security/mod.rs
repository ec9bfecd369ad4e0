//! Security at the edge: TLS policy (rustls, 1.2 minimum) and SASL/PLAIN with API keys.
pub mod sasl;
pub mod tls;
