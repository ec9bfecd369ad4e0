//! A broker's keyring: the root keys it seals segments under, unwrapped by the key service and
//! held in memory under a lease (C09: revocation fails closed within a bound).
//!
//! - Every `KEY_RENEW_INTERVAL` the keyring confirms each master key it uses with one unwrap.
//!   A refusal (disabled, grant removed, pending deletion, destroyed) drops every root key of
//!   that master at once: nothing of the tenant is served until a confirmation succeeds again.
//! - If the key service cannot be reached, the roots stay usable until `KEY_LEASE` after the
//!   last confirmation, then they are dropped too (fail closed, not fail open).
//! - The cluster's own key (the metadata log, committed offsets, the audit topic) is held for
//!   the life of the process, as a cloud disk's key is once the disk is attached: a key-service
//!   outage must not stop the controller quorum.
//!
//! So after a revocation the last read is served at most `REVOCATION_BOUND` later.
//! A master key's rotation is seen at the next confirmation (the answer names the current
//! version); a new root key is then wrapped under the new version and new segments use it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand_core::RngCore;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::client::{KmsCallError, KmsClient};
use crate::encryption::{KeySource, KeyUnavailable, RootKey, WrappedKey, KEY_BYTES};
use crate::entropy::Generator;
use crate::planted_bugs::{PlantedBug, PlantedBugs};

pub const KEY_RENEW_INTERVAL: Duration = Duration::from_secs(10);
pub const KEY_LEASE: Duration = Duration::from_secs(60);
/// How often a key that is unusable for want of the key service is tried again.
const KEY_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// How often keys are confirmed and how long a confirmation lasts: `KEY_RENEW_INTERVAL` and
/// `KEY_LEASE` for every node; shorter only in the keyring's own tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLease {
    pub renew_interval: Duration,
    pub lease: Duration,
}

impl Default for KeyLease {
    fn default() -> Self {
        KeyLease { renew_interval: KEY_RENEW_INTERVAL, lease: KEY_LEASE }
    }
}
/// A refusal is seen at the next renewal, which may take a call timeout per endpoint.
pub const REVOCATION_BOUND: Duration = Duration::from_secs(30);
/// The cluster's own key: `alias/faultline/cluster/<cluster id>`.
pub const CLUSTER_KEY_PREFIX: &str = "alias/faultline/cluster/";

/// What a root key's wrapping is bound to (the KMS's encryption context).
pub fn context(root_id: u64) -> String {
    format!("faultline root key {root_id:016x}")
}

/// Which master key protects a topic's data (its tenant's, or the cluster's own); `None` for
/// a tenant this broker does not know (yet): nothing of it is sealed until it does.
pub type KeyResolver = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

struct Root {
    wrapped: WrappedKey,
    key: Option<Arc<RootKey>>,
}

#[derive(Default)]
struct Master {
    current: Option<u64>,
    confirmed_at: Option<Instant>,
    refused: Option<String>,
    latest_version: u32,
}

#[derive(Default)]
struct State {
    roots: BTreeMap<u64, Root>,
    masters: BTreeMap<String, Master>,
}

impl State {
    /// Whether `master`'s roots may be used now; drops them if the lease ran out.
    fn usable(&mut self, master: &str, now: Instant, lease: Duration) -> Result<(), KeyUnavailable> {
        let entry = self.masters.entry(master.to_string()).or_default();
        if let Some(reason) = &entry.refused {
            return Err(KeyUnavailable::Revoked { master_key_id: master.into(), reason: reason.clone() });
        }
        let Some(confirmed_at) = entry.confirmed_at else {
            return Err(KeyUnavailable::NotReady(master.into()));
        };
        if !master.starts_with(CLUSTER_KEY_PREFIX) && now.saturating_duration_since(confirmed_at) > lease {
            self.forget_roots_of(master);
            return Err(KeyUnavailable::LeaseExpired(master.into()));
        }
        Ok(())
    }

    fn forget_roots_of(&mut self, master: &str) {
        for root in self.roots.values_mut().filter(|r| r.wrapped.master_key_id == master) {
            root.key = None;
        }
    }
}

pub struct Keyring {
    client: KmsClient,
    resolve: KeyResolver,
    state: Mutex<State>,
    random: Mutex<Generator>,
    /// Something new is wanted (a master key without a root, a root not unwrapped).
    wanted: Notify,
    /// A maintenance pass finished.
    maintained: Notify,
    /// The last failure that was not a refusal, for a person waiting on a start.
    last_failure: Mutex<Option<String>>,
    timing: KeyLease,
    bugs: PlantedBugs,
    /// Told of the roots re-wrapped after a rotation (the node rewrites their key files).
    rewrap_listener: Mutex<Option<RewrapListener>>,
}

/// What to do with roots re-wrapped under a newer version: root id -> its new wrapping.
pub type RewrapListener = Box<dyn Fn(&BTreeMap<u64, WrappedKey>) + Send + Sync>;

impl Keyring {
    pub fn new(
        client: KmsClient,
        resolve: KeyResolver,
        random: Generator,
        timing: KeyLease,
        bugs: PlantedBugs,
    ) -> Keyring {
        Keyring {
            client,
            resolve,
            state: Mutex::default(),
            random: Mutex::new(random),
            wanted: Notify::new(),
            maintained: Notify::new(),
            last_failure: Mutex::default(),
            timing,
            bugs,
            rewrap_listener: Mutex::default(),
        }
    }

    /// The master key that protects `topic`, if its tenant is known.
    pub fn master_key_of(&self, topic: &str) -> Option<String> {
        (self.resolve)(topic)
    }

    /// Unwraps the roots of segments found on disk, and a root for each of `masters`, before
    /// the node opens anything. Retries while the key service is unreachable (a node cannot
    /// read its own metadata log without it); returns when every root is unwrapped or refused.
    pub async fn load(&self, roots: Vec<(u64, WrappedKey)>, masters: &[String]) {
        {
            let mut state = self.state.lock().unwrap();
            for (id, wrapped) in roots {
                state.masters.entry(wrapped.master_key_id.clone()).or_default();
                state.roots.entry(id).or_insert(Root { wrapped, key: None });
            }
            for master in masters {
                state.masters.entry(master.clone()).or_default();
            }
        }
        let mut waited = Duration::ZERO;
        loop {
            self.maintain().await;
            if !self.waiting_on_key_service() {
                return;
            }
            if waited.as_secs().is_power_of_two() {
                let last_failure = self.last_failure.lock().unwrap().clone().unwrap_or_default();
                tracing::warn!(waited_s = waited.as_secs(), %last_failure, "waiting for the key service to unwrap this node's keys");
            }
            tokio::time::sleep(KEY_RETRY_INTERVAL).await;
            waited += Duration::from_secs(1);
        }
    }

    /// Confirms, unwraps and creates roots forever. While a key is unusable for want of the key
    /// service (its lease ran out, or it was never unwrapped), every second rather than every
    /// `renew_interval`: its data is served again within a second of the service's return.
    pub async fn maintain_forever(self: Arc<Self>) {
        loop {
            self.maintain().await;
            if self.waiting_on_key_service() {
                // Not sooner when asked: requests must not turn an outage into a stream of calls.
                tokio::time::sleep(KEY_RETRY_INTERVAL).await;
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.timing.renew_interval) => {}
                _ = self.wanted.notified() => {}
            }
        }
    }

    /// `State::usable`, and a maintenance pass wanted at once when the key service could help.
    fn usable(&self, state: &mut State, master: &str) -> Result<(), KeyUnavailable> {
        let usable = state.usable(master, Instant::now(), self.timing.lease);
        if matches!(usable, Err(KeyUnavailable::NotReady(_) | KeyUnavailable::LeaseExpired(_))) {
            self.wanted.notify_one();
        }
        usable
    }

    /// Whether a root or a master key not refused still waits for the key service.
    fn waiting_on_key_service(&self) -> bool {
        let state = self.state.lock().unwrap();
        let unresolved = |master: &Master| master.refused.is_none();
        state
            .roots
            .values()
            .any(|r| r.key.is_none() && state.masters.get(&r.wrapped.master_key_id).is_some_and(unresolved))
            || state.masters.values().any(|m| unresolved(m) && m.current.is_none())
    }

    /// Waits (up to `timeout`) until a maintenance pass has run, for a caller that was told
    /// `NotReady`.
    pub async fn wait_maintained(&self, timeout: Duration) {
        self.wanted.notify_one();
        let _ = crate::clock::timeout(timeout, self.maintained.notified()).await;
    }

    /// Crypto-shredding of a deleted cluster's master key (C13): every root under it leaves
    /// memory (its material is zeroized on drop) and is never renewed again. A service-managed
    /// key is also scheduled for deletion at the key service, which makes it unusable at once;
    /// true once that is done or was not ours to do (a customer's key, or one already pending
    /// deletion or never created).
    pub async fn shred_master(&self, master: &str, service_managed: bool) -> bool {
        {
            let mut state = self.state.lock().unwrap();
            if state.masters.remove(master).is_some() {
                tracing::info!(master, "master key forgotten: its cluster was deleted");
            }
            state.roots.retain(|_, root| root.wrapped.master_key_id != master);
        }
        if !service_managed {
            return true;
        }
        match self.client.schedule_deletion(master, crate::kms::keys::DELETION_WAIT_DAYS_MIN).await {
            Ok(_) => {
                tracing::info!(master, "master key scheduled for deletion: its cluster was deleted");
                true
            }
            // Already pending deletion (another broker asked first), or never created.
            Err(error) if error.is_refusal() => true,
            Err(error) => {
                tracing::debug!(master, %error, "cannot schedule the master key's deletion yet");
                false
            }
        }
    }

    /// After every maintenance pass, roots re-wrapped under a newer version go to `listener`.
    pub fn on_rewrap(&self, listener: RewrapListener) {
        *self.rewrap_listener.lock().unwrap() = Some(listener);
    }

    async fn maintain(&self) {
        let masters: Vec<String> = self.state.lock().unwrap().masters.keys().cloned().collect();
        for master in masters {
            self.maintain_master(&master).await;
        }
        self.maintained.notify_waiters();
        // Not before someone can rewrite the key files (a root re-wrapped in memory only would
        // never be found stale again).
        if self.rewrap_listener.lock().unwrap().is_none() {
            return;
        }
        let rewrapped = self.rewrap_stale_roots().await;
        if !rewrapped.is_empty() {
            if let Some(listener) = self.rewrap_listener.lock().unwrap().as_ref() {
                listener(&rewrapped);
            }
        }
    }

    async fn maintain_master(&self, master: &str) {
        let now = Instant::now();
        let (current, due, missing) = {
            let state = self.state.lock().unwrap();
            // Shredded meanwhile (its cluster was deleted).
            let Some(entry) = state.masters.get(master) else { return };
            let current = entry.current.map(|id| (id, state.roots[&id].wrapped.clone()));
            let due =
                entry.confirmed_at.is_none_or(|at| now.saturating_duration_since(at) >= self.timing.renew_interval)
                    || entry.refused.is_some();
            let missing: Vec<(u64, WrappedKey)> = state
                .roots
                .iter()
                .filter(|(_, r)| r.wrapped.master_key_id == master && r.key.is_none())
                .map(|(id, r)| (*id, r.wrapped.clone()))
                .collect();
            (current, due, missing)
        };
        // Confirm with the current root (or, before there is one, with any root to unwrap).
        let mut to_unwrap = missing;
        if let Some((id, wrapped)) = current.filter(|_| due) {
            if !to_unwrap.iter().any(|(missing, _)| *missing == id) {
                to_unwrap.insert(0, (id, wrapped));
            }
        }
        for (id, wrapped) in to_unwrap {
            match self.client.unwrap(&wrapped, &context(id)).await {
                Ok((material, version)) => {
                    let Ok(material) = <[u8; KEY_BYTES]>::try_from(material.as_slice()) else {
                        tracing::error!(root = id, "the key service unwrapped a root of the wrong size");
                        continue;
                    };
                    let mut state = self.state.lock().unwrap();
                    if let Some(root) = state.roots.get_mut(&id) {
                        root.key = Some(Arc::new(RootKey::new(id, material)));
                    }
                    let Some(entry) = state.masters.get_mut(master) else { return };
                    if entry.refused.take().is_some() {
                        tracing::info!(master, "key usable again: serving its data");
                    }
                    entry.confirmed_at = Some(Instant::now());
                    entry.latest_version = entry.latest_version.max(version);
                }
                Err(error) => {
                    self.note_failure(master, &error);
                    return;
                }
            }
        }
        let needs_root = {
            let state = self.state.lock().unwrap();
            let Some(entry) = state.masters.get(master) else { return };
            entry.refused.is_none()
                && entry.current.is_none_or(|id| state.roots[&id].wrapped.version < entry.latest_version)
        };
        if needs_root {
            self.create_root(master).await;
        }
    }

    /// Re-wraps, under its master key's latest version, every root still wrapped under an
    /// older one (`ReEncrypt`: the root never leaves the key service in clear for it). Returns
    /// the new wrappings, for the key files that hold the old ones.
    pub async fn rewrap_stale_roots(&self) -> BTreeMap<u64, WrappedKey> {
        let stale: Vec<(u64, WrappedKey)> = {
            let state = self.state.lock().unwrap();
            let latest = |master: &str| {
                state.masters.get(master).filter(|m| m.refused.is_none()).map_or(0, |m| m.latest_version)
            };
            state
                .roots
                .iter()
                .filter(|(_, root)| root.wrapped.version < latest(&root.wrapped.master_key_id))
                .map(|(id, root)| (*id, root.wrapped.clone()))
                .collect()
        };
        let mut rewrapped = BTreeMap::new();
        for (id, wrapped) in stale {
            match self.client.rewrap(&wrapped, &context(id)).await {
                Ok(new) => {
                    if let Some(root) = self.state.lock().unwrap().roots.get_mut(&id) {
                        root.wrapped = new.clone();
                    }
                    rewrapped.insert(id, new);
                }
                Err(error) => self.note_failure(&wrapped.master_key_id, &error),
            }
        }
        rewrapped
    }

    fn note_failure(&self, master: &str, error: &KmsCallError) {
        // BUG (planted): a refusal taken for an outage, so the lease carries the roots on.
        let refusal = error.is_refusal() && !self.bugs.is_on(PlantedBug::StaleDataKeyAfterRevoke);
        if refusal {
            let mut state = self.state.lock().unwrap();
            let first = state.masters.get(master).is_some_and(|m| m.refused.is_none());
            state.forget_roots_of(master);
            if let Some(entry) = state.masters.get_mut(master) {
                entry.refused = Some(error.to_string());
            }
            if first {
                tracing::warn!(master, %error, "key refused: this key's data is no longer served");
            }
        } else {
            tracing::debug!(master, %error, "key service unreachable; the lease carries on");
            *self.last_failure.lock().unwrap() = Some(error.to_string());
        }
    }

    async fn create_root(&self, master: &str) {
        let (id, material) = {
            let mut random = self.random.lock().unwrap();
            let mut material = [0u8; KEY_BYTES];
            random.fill_bytes(&mut material);
            (random.next_u64(), zeroize::Zeroizing::new(material))
        };
        match self.client.wrap(master, material.as_ref(), &context(id)).await {
            Ok(wrapped) => {
                let mut state = self.state.lock().unwrap();
                let version = wrapped.version;
                let Some(entry) = state.masters.get_mut(master) else { return };
                entry.current = Some(id);
                entry.confirmed_at = Some(Instant::now());
                entry.latest_version = entry.latest_version.max(version);
                state.roots.insert(id, Root { wrapped, key: Some(Arc::new(RootKey::new(id, *material))) });
                tracing::info!(master, version, root = format!("{id:016x}"), "new root key");
            }
            Err(error) => self.note_failure(master, &error),
        }
    }
}

impl KeySource for Keyring {
    fn current_root(&self, topic: &str) -> Result<(Arc<RootKey>, WrappedKey), KeyUnavailable> {
        let master = (self.resolve)(topic).ok_or_else(|| KeyUnavailable::UnknownTenant(topic.into()))?;
        let mut state = self.state.lock().unwrap();
        let usable = self.usable(&mut state, &master);
        let current = state.masters[&master].current.and_then(|id| {
            let root = &state.roots[&id];
            Some((root.key.clone()?, root.wrapped.clone()))
        });
        match (usable, current) {
            (Ok(()), Some(current)) => Ok(current),
            (Err(error), _) => Err(error),
            (Ok(()), None) => {
                self.wanted.notify_one();
                Err(KeyUnavailable::NotReady(master))
            }
        }
    }

    fn root(&self, id: u64, wrapped: &WrappedKey) -> Result<Arc<RootKey>, KeyUnavailable> {
        let mut state = self.state.lock().unwrap();
        self.usable(&mut state, &wrapped.master_key_id)?;
        let root = state.roots.entry(id).or_insert_with(|| Root { wrapped: wrapped.clone(), key: None });
        match &root.key {
            Some(key) => Ok(key.clone()),
            None => {
                self.wanted.notify_one();
                Err(KeyUnavailable::NotReady(wrapped.master_key_id.clone()))
            }
        }
    }

    fn check(&self, id: u64) -> Result<(), KeyUnavailable> {
        let mut state = self.state.lock().unwrap();
        let Some(master) = state.roots.get(&id).map(|r| r.wrapped.master_key_id.clone()) else {
            return Err(KeyUnavailable::UnknownRoot(id));
        };
        self.usable(&mut state, &master)?;
        match state.roots[&id].key {
            Some(_) => Ok(()),
            None => Err(KeyUnavailable::NotReady(master)),
        }
    }

    fn salt(&self) -> [u8; 16] {
        let mut salt = [0u8; 16];
        self.random.lock().unwrap().fill_bytes(&mut salt);
        salt
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use super::*;
    use crate::kms::client::KmsLinkConfig;
    use crate::kms::server::{token_hash, KeyService, KmsServer, KmsServerConfig, KMS_PORT};
    use crate::log::MemoryDisk;
    use crate::net::https_client::HttpsEndpoint;
    use crate::net::tcp_dialer;
    use crate::security::tls::{client_config, os_crypto_provider, CertificateAuthority};

    const BROKER: &str = "service:broker/test";
    const CUSTOMER: &str = "customer:org-test";

    /// Until `condition` holds, up to 5 s (a renewal every 100 ms).
    async fn eventually(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !condition() {
            assert!(Instant::now() < deadline, "{what} within 5 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The lease: a key service that cannot be reached is carried through for `KEY_LEASE` from
    /// the last confirmation, then the roots are dropped (fail closed); the cluster's own key is
    /// never dropped for silence.
    #[test]
    fn an_unconfirmed_key_is_dropped_when_its_lease_runs_out_except_the_clusters_own() {
        let now = Instant::now();
        let wrapped = |master: &str| WrappedKey {
            master_key_id: master.into(),
            version: 1,
            nonce: vec![0; 12],
            ciphertext: vec![0; 48],
        };
        let cluster = format!("{CLUSTER_KEY_PREFIX}c1");
        let mut state = State::default();
        for (id, master) in [(1, "tenant"), (2, cluster.as_str())] {
            let key = Some(Arc::new(RootKey::new(id, [id as u8; KEY_BYTES])));
            state.roots.insert(id, Root { wrapped: wrapped(master), key });
            state.masters.insert(master.into(), Master { confirmed_at: Some(now), ..Master::default() });
        }
        assert!(state.usable("tenant", now + KEY_LEASE - Duration::from_secs(1), KEY_LEASE).is_ok());
        assert!(state.roots[&1].key.is_some(), "carried through within the lease");
        let expired = state.usable("tenant", now + KEY_LEASE + Duration::from_secs(1), KEY_LEASE);
        assert!(matches!(expired, Err(KeyUnavailable::LeaseExpired(_))), "{expired:?}");
        assert!(state.roots[&1].key.is_none(), "the unwrapped root is dropped, not kept for later");
        assert!(state.usable(&cluster, now + 10 * KEY_LEASE, KEY_LEASE).is_ok());
        assert!(state.roots[&2].key.is_some(), "the cluster's own key stays");
    }

    /// A real key service on `ip` (443 needs root, as the real-mode tests do), a customer key
    /// granted to the broker, and a loaded keyring with `timing` that maintains itself.
    async fn keyring_on(ip: IpAddr, timing: KeyLease) -> (Arc<Keyring>, KmsClient, String) {
        let ca = CertificateAuthority::generate().unwrap();
        let principals =
            BTreeMap::from([(BROKER.to_string(), token_hash("b")), (CUSTOMER.to_string(), token_hash("c"))]);
        let service = KeyService::open(
            "test",
            principals,
            crate::entropy::seeded_for_tests(1),
            Arc::new(MemoryDisk::new()),
            PlantedBugs::none(),
        )
        .unwrap();
        let config = KmsServerConfig {
            listen_ip: ip,
            tls: ca.issue(&[ip.to_string()], &[ip], None).unwrap(),
            crypto: os_crypto_provider(),
            log_store: None,
        };
        KmsServer::start(config, service).await.unwrap();
        let tls = client_config(&ca.ca_cert_pem(), &os_crypto_provider()).unwrap();
        let link = |principal: &str, token: &str| KmsLinkConfig {
            endpoints: vec![HttpsEndpoint { address: SocketAddr::new(ip, KMS_PORT), server_name: ip.to_string() }],
            principal: principal.into(),
            token: token.into(),
        };
        let customer = KmsClient::new(&link(CUSTOMER, "c"), tls.clone(), tcp_dialer());
        let key = customer.create_key().await.unwrap().id;
        customer.grant_action("CreateGrant", &key, BROKER).await.unwrap();
        let resolved = key.clone();
        let keyring = Arc::new(Keyring::new(
            KmsClient::new(&link(BROKER, "b"), tls, tcp_dialer()),
            Box::new(move |_| Some(resolved.clone())),
            crate::entropy::seeded_for_tests(7),
            timing,
            PlantedBugs::none(),
        ));
        keyring.load(Vec::new(), std::slice::from_ref(&key)).await;
        (keyring, customer, key)
    }

    // A keyring renewing every 100 ms.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refusal_drops_the_keys_at_the_next_renewal_and_rotation_brings_a_new_root() {
        let timing = KeyLease { renew_interval: Duration::from_millis(100), lease: Duration::from_secs(60) };
        let (keyring, customer, key) = keyring_on(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 44)), timing).await;
        let rewrapped = Arc::new(Mutex::new(BTreeMap::new()));
        let seen = rewrapped.clone();
        keyring.on_rewrap(Box::new(move |roots| seen.lock().unwrap().extend(roots.clone())));
        tokio::spawn(keyring.clone().maintain_forever());
        let (first, wrapped) = keyring.current_root("orders").unwrap();
        assert_eq!((wrapped.master_key_id.as_str(), wrapped.version), (key.as_str(), 1));

        // Disabled: refused at the next renewal, nothing usable, not even the cached root.
        customer.key_action("DisableKey", &key).await.unwrap();
        eventually("the refusal seen", || matches!(keyring.check(first.id), Err(KeyUnavailable::Revoked { .. }))).await;
        assert!(matches!(keyring.current_root("orders"), Err(KeyUnavailable::Revoked { .. })));
        // Enabled again: the same root is unwrapped again, nothing written before is lost.
        customer.key_action("EnableKey", &key).await.unwrap();
        eventually("the key back", || keyring.check(first.id).is_ok()).await;
        assert_eq!(keyring.root(first.id, &wrapped).unwrap().material(), first.material());

        // Rotated: a new root under version 2 for new segments; the old one still opens.
        customer.key_action("RotateKey", &key).await.unwrap();
        eventually("a root under the new version", || {
            keyring.current_root("orders").is_ok_and(|(_, wrapped)| wrapped.version == 2)
        })
        .await;
        assert!(keyring.check(first.id).is_ok(), "rotation leaves old data readable");
        // Re-wrapped at a renewal: the first root, same material, now under version 2.
        eventually("the old root re-wrapped", || {
            rewrapped.lock().unwrap().get(&first.id).is_some_and(|w| w.version == 2)
        })
        .await;
        assert!(keyring.rewrap_stale_roots().await.is_empty(), "nothing left under version 1");
        let under_v2 = rewrapped.lock().unwrap()[&first.id].clone();
        assert_eq!(keyring.root(first.id, &under_v2).unwrap().material(), first.material());

        // The grant removed: refused like a disabled key.
        customer.grant_action("RevokeGrant", &key, BROKER).await.unwrap();
        eventually("the revocation seen", || keyring.check(first.id).is_err()).await;
    }

    /// A key whose lease ran out is confirmed again as soon as a request needs it, not at the
    /// next renewal: after a key-service outage past the lease, data is served again within a
    /// retry of the service's return (seed 25 of random-faults waited up to a renewal, 10 s).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_key_whose_lease_ran_out_is_confirmed_again_when_a_request_needs_it() {
        // Renewals far apart, a lease shorter than them: the lease runs out with the service up.
        let timing = KeyLease { renew_interval: Duration::from_secs(600), lease: Duration::from_millis(300) };
        let (keyring, _customer, _key) = keyring_on(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 45)), timing).await;
        tokio::spawn(keyring.clone().maintain_forever());
        assert!(keyring.current_root("orders").is_ok());
        tokio::time::sleep(Duration::from_millis(400)).await;
        let lapsed = keyring.current_root("orders");
        assert!(matches!(lapsed, Err(KeyUnavailable::LeaseExpired(_))), "{lapsed:?}");
        eventually("the key confirmed again", || keyring.current_root("orders").is_ok()).await;
    }
}
