//! Real mode's keys and secrets come from the operating system: two services started from the
//! same configuration, as `broker dev` starts them, issue different ones (a seeded generator
//! would issue the same, and a 64-bit seed would cap every key at 2^64 work).

use crate::control_plane::identity::ApiKeyScope;
use crate::control_plane::state::{Caller, ControlPlane, ControlPlaneConfig, Records};
use crate::kms::keys::{KeyRecords, KeyStore};
use crate::planted_bugs::PlantedBugs;

const NOW_MS: u64 = 1_700_000_000_000;

fn plane_config() -> ControlPlaneConfig {
    ControlPlaneConfig {
        organization_id: "org-dev".into(),
        physical_clusters: Vec::new(),
        bcrypt_cost: 4,
        idp_issuer: "idp".into(),
        idp_public_key: vec![0; 32],
        broker_keys: Default::default(),
        bugs: PlantedBugs::none(),
    }
}

/// A fresh control plane's admin, service account, cloud API key and its secret.
fn issued_by_a_fresh_control_plane() -> (String, String, String, String) {
    let mut plane = ControlPlane::new(plane_config(), Records::default(), super::os());
    let admin = plane.bootstrap_admin("admin@localhost", "Dev Admin", Some("correct horse battery"), NOW_MS).unwrap();
    let caller = Caller::User { id: admin.id.clone(), organization_admin: true };
    let account = plane.create_service_account(&caller, "dev-app", "the application", NOW_MS).unwrap();
    let key = plane.create_api_key(&caller, &account.id, ApiKeyScope::Cloud, "dev-app", NOW_MS).unwrap();
    (admin.id, account.id, key.key.id, key.secret)
}

#[test]
fn two_control_planes_from_one_configuration_issue_different_ids_and_secrets() {
    let (first, second) = (issued_by_a_fresh_control_plane(), issued_by_a_fresh_control_plane());
    assert_ne!(first.0, second.0, "user ids");
    assert_ne!(first.1, second.1, "service account ids");
    assert_ne!(first.2, second.2, "API key ids");
    assert_ne!(first.3, second.3, "API key secrets");
    assert!(first.3.len() >= 43, "a secret carries 256 bits: {}", first.3.len());
}

#[test]
fn two_key_services_from_one_configuration_make_different_keys() {
    let wrapped = || {
        let mut store = KeyStore::new("dev", KeyRecords::default(), super::os(), PlantedBugs::none());
        let key = store.create_key(NOW_MS, "customer");
        store.grant(NOW_MS, "customer", &key.id, "broker").unwrap();
        let wrapped = store.wrap(NOW_MS, "broker", &key.id, &[7; 32], "a root").unwrap();
        (key.id, wrapped.nonce, wrapped.ciphertext)
    };
    let (first, second) = (wrapped(), wrapped());
    assert_ne!(first.0, second.0, "key ids");
    assert_ne!(first.1, second.1, "wrapping nonces");
    // The same plaintext under the same context differs only if the master keys do.
    assert_ne!(first.2, second.2, "ciphertexts of one root under two master keys");
}
