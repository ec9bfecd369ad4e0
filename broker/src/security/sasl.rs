//! SASL/PLAIN with API keys (C15): the keys of the service itself (brokers) from a file, as
//! bcrypt hashes. Customer keys come from the control plane (`control_plane::access`). A wrong
//! secret fails closed.

use std::collections::BTreeMap;

use super::secrets::{SecretHash, VerifiedSecrets};

/// What an authenticated connection may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// An application's API key: the Kafka APIs.
    Client,
    /// Another node of this cluster: also replication and controller traffic.
    Broker,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    pub api_key: String,
    pub role: Role,
    /// `None` for the service's own brokers.
    pub customer: Option<Customer>,
}

/// Who a customer key acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Customer {
    /// `User:sa-…`: the name ACLs use.
    pub name: String,
    /// The logical cluster (`lkc-…`) the key opens.
    pub cluster_id: String,
    /// Owned by an organization admin (or a file key): every operation.
    pub super_user: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// A line of the credentials file is not `<api key> <client|broker> <bcrypt hash>`.
    #[error("credentials line {line}: expected `<api key> <client|broker> <bcrypt hash>`")]
    Malformed { line: usize },
    /// bcrypt refused the cost or input.
    #[error("bcrypt: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
}

#[derive(Debug, Default)]
pub struct CredentialStore {
    keys: BTreeMap<String, (Role, SecretHash)>,
    verified: VerifiedSecrets,
}

impl CredentialStore {
    /// Parses the credentials file (`#` comments allowed).
    pub fn parse(text: &str) -> Result<Self, CredentialError> {
        let mut store = Self::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [key, role, hash] = fields[..] else { return Err(CredentialError::Malformed { line: number + 1 }) };
            let role = match role {
                "client" => Role::Client,
                "broker" => Role::Broker,
                _ => return Err(CredentialError::Malformed { line: number + 1 }),
            };
            let hash = SecretHash::parse(hash).ok_or(CredentialError::Malformed { line: number + 1 })?;
            store.keys.insert(key.to_string(), (role, hash));
        }
        Ok(store)
    }

    /// The file form of the store (hashes only).
    pub fn render(&self) -> String {
        self.keys
            .iter()
            .map(|(key, (role, hash))| {
                format!("{key} {} {}\n", if *role == Role::Broker { "broker" } else { "client" }, hash.as_str())
            })
            .collect()
    }

    /// Adds a key with a bcrypt hash of `secret`. `salt` makes the hash reproducible (simulation).
    pub fn add(
        &mut self,
        api_key: &str,
        secret: &str,
        role: Role,
        cost: u32,
        salt: Option<[u8; 16]>,
    ) -> Result<(), CredentialError> {
        let hash = match salt {
            Some(salt) => SecretHash::new(secret, cost, salt)?,
            None => SecretHash::parse(&bcrypt::hash(secret, cost)?).expect("bcrypt output"),
        };
        self.keys.insert(api_key.to_string(), (role, hash));
        Ok(())
    }

    /// The service's own (broker) keys and their hashes: what the control plane lets pull.
    pub fn broker_keys(&self) -> Vec<(String, SecretHash)> {
        self.keys
            .iter()
            .filter(|(_, (role, _))| *role == Role::Broker)
            .map(|(k, (_, h))| (k.clone(), h.clone()))
            .collect()
    }

    /// Checks a key and secret; `None` on any mismatch (fail closed).
    pub(crate) fn verify(&self, api_key: &str, secret: &[u8]) -> Option<Principal> {
        let (role, hash) = self.keys.get(api_key)?;
        let customer = (*role == Role::Client).then(|| Customer {
            name: format!("User:{api_key}"),
            cluster_id: String::new(),
            super_user: true,
        });
        self.verified.verify(api_key, hash, secret).then(|| Principal {
            api_key: api_key.to_string(),
            role: *role,
            customer,
        })
    }
}

/// Splits a SASL/PLAIN message `[authzid] NUL authcid NUL passwd` (RFC 4616).
pub(crate) fn parse_plain(auth_bytes: &[u8]) -> Option<(String, Vec<u8>)> {
    let mut parts = auth_bytes.splitn(3, |b| *b == 0);
    let _authorization_id = parts.next()?;
    let username = std::str::from_utf8(parts.next()?).ok()?;
    let password = parts.next()?;
    if username.is_empty() || password.is_empty() || password.contains(&0) {
        return None;
    }
    Some((username.to_string(), password.to_vec()))
}

/// Builds a SASL/PLAIN message for our own clients.
pub(crate) fn plain_message(api_key: &str, secret: &str) -> Vec<u8> {
    let mut message = vec![0u8];
    message.extend_from_slice(api_key.as_bytes());
    message.push(0);
    message.extend_from_slice(secret.as_bytes());
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_only_the_right_secret_and_never_renders_it() {
        let mut store = CredentialStore::default();
        store.add("APPKEY1", "s3cret", Role::Client, 4, Some([7; 16])).unwrap();
        assert_eq!(store.verify("APPKEY1", b"s3cret").map(|p| p.role), Some(Role::Client));
        assert_eq!(store.verify("APPKEY1", b"s3cret").map(|p| p.role), Some(Role::Client), "cached");
        assert_eq!(store.verify("APPKEY1", b"wrong"), None);
        assert_eq!(store.verify("OTHER", b"s3cret"), None);
        let rendered = store.render();
        assert!(!rendered.contains("s3cret"));
        assert!(!format!("{store:?}").contains("s3cret"));
        let reparsed = CredentialStore::parse(&rendered).unwrap();
        assert!(reparsed.verify("APPKEY1", b"s3cret").is_some());
    }

    #[test]
    fn plain_messages_parse_and_garbage_does_not() {
        assert_eq!(parse_plain(&plain_message("k", "s")), Some(("k".into(), b"s".to_vec())));
        assert_eq!(parse_plain(b"garbage"), None);
        assert_eq!(parse_plain(b"\0\0"), None);
        assert!(CredentialStore::parse("k client notahash").is_err());
        assert!(CredentialStore::parse("k admin $2b$04$x").is_err());
    }
}
