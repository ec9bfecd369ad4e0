//! The key management service (C08, C09, C13): the cloud provider's KMS as this service uses
//! it. Its own machines and port (443), reached over TLS; master keys never leave it.
//! `keys` is its state machine, `server` its process, `client` how others call it, and
//! `keyring` the broker's side: root keys wrapped by it, unwrapped in memory under a lease.
pub mod client;
pub mod keyring;
pub mod keys;
pub mod server;

pub use keys::{broker_principal, tenant_key_alias};
pub use keys::{KeyDescription, KeyState, KeyStore, KmsAuditRecord, KmsError, SERVICE_ALIAS_PREFIX};
