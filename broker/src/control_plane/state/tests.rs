use ring::signature::KeyPair;

use super::*;
use crate::control_plane::identity::{sign_assertion, AssertionClaims, ASSERTION_AUDIENCE};
use crate::security::acl::{Operation, PatternType, Permission, ResourceType};

pub(crate) const NOW: u64 = 1_700_000_000_000;

fn idp() -> ring::signature::Ed25519KeyPair {
    ring::signature::Ed25519KeyPair::from_seed_unchecked(&[9; 32]).unwrap()
}

/// A control plane with an admin, two physical clusters and one broker key (`broker-1`,
/// `broker-secret`).
pub(crate) fn control_plane() -> (ControlPlane, Caller) {
    let broker_hash = SecretHash::new("broker-secret", 4, [1; 16]).unwrap();
    let config = ControlPlaneConfig {
        organization_id: "org-test".into(),
        physical_clusters: vec![
            PhysicalCluster {
                id: "pkc-shared".into(),
                region: "eu-1".into(),
                zone_count: 3,
                bootstrap: "b:9092".into(),
                key_principal: "service:broker/shared".into(),
            },
            PhysicalCluster {
                id: "pkc-dedicated".into(),
                region: "eu-1".into(),
                zone_count: 3,
                bootstrap: "d:9092".into(),
                key_principal: "service:broker/dedicated".into(),
            },
            PhysicalCluster {
                id: "pkc-us".into(),
                region: "us-1".into(),
                zone_count: 3,
                bootstrap: "u:9092".into(),
                key_principal: "service:broker/us".into(),
            },
        ],
        bcrypt_cost: 4,
        idp_issuer: "idp".into(),
        idp_public_key: idp().public_key().as_ref().to_vec(),
        broker_keys: [("broker-1".to_string(), broker_hash)].into(),
        bugs: crate::planted_bugs::PlantedBugs::none(),
    };
    let mut plane = ControlPlane::new(config, Records::default(), crate::entropy::seeded_for_tests(7));
    let admin = plane.bootstrap_admin("admin@example.com", "Admin", Some("correct horse battery"), NOW).unwrap();
    let caller = Caller::User { id: admin.id, organization_admin: true };
    (plane, caller)
}

fn cluster(plane: &mut ControlPlane, admin: &Caller, kind: ClusterType, availability: Availability) -> Result<Cluster> {
    cluster_in(plane, admin, kind, availability, "eu-1", NOW)
}

fn cluster_in(
    plane: &mut ControlPlane,
    admin: &Caller,
    kind: ClusterType,
    availability: Availability,
    region: &str,
    now_ms: u64,
) -> Result<Cluster> {
    let environment = plane.create_environment(admin, "prod", now_ms)?;
    plane.create_cluster(
        admin,
        ClusterRequest {
            display_name: "orders".into(),
            environment_id: environment.id,
            cluster_type: kind,
            availability,
            networking: Networking::Public,
            network_id: None,
            region: region.into(),
            encryption_key: None,
        },
        now_ms,
    )
}

/// C07: a cluster is placed only in the region asked for; when that region's broker clusters
/// have stopped reporting the request waits (503), and an unknown region is named.
#[test]
fn placement_stays_in_the_chosen_region() {
    use ClusterType::Basic;
    let single = Availability::SingleZone;
    let (mut plane, admin) = control_plane();
    let us = cluster_in(&mut plane, &admin, Basic, single, "us-1", NOW).unwrap();
    assert_eq!((us.region.as_str(), us.physical_cluster_id.as_str()), ("us-1", "pkc-us"));
    match cluster_in(&mut plane, &admin, Basic, single, "mars-1", NOW) {
        Err(ControlPlaneError::Invalid { field: "region", reason }) => {
            assert!(reason.contains("eu-1, us-1"), "{reason}")
        }
        other => panic!("an unknown region must be refused, got {other:?}"),
    }
    // eu-1's clusters last pulled at NOW; us-1's keeps pulling.
    let later = NOW + REPORTING_WINDOW_MS + 1;
    for physical in ["pkc-shared", "pkc-dedicated"] {
        plane.note_pull(physical, NOW);
    }
    plane.note_pull("pkc-us", later);
    assert!(matches!(
        cluster_in(&mut plane, &admin, Basic, single, "eu-1", later),
        Err(ControlPlaneError::RegionUnavailable(_))
    ));
    plane.note_pull("pkc-shared", later);
    let eu = cluster_in(&mut plane, &admin, Basic, single, "eu-1", later).unwrap();
    assert_eq!(eu.physical_cluster_id, "pkc-shared");

    let (mut buggy, admin) = control_plane();
    buggy.config.bugs = crate::planted_bugs::PlantedBugs::from_names(["replica-placed-cross-region"]).unwrap();
    buggy.note_pull("pkc-shared", NOW);
    buggy.note_pull("pkc-dedicated", NOW);
    buggy.note_pull("pkc-us", later);
    let misplaced = cluster_in(&mut buggy, &admin, Basic, single, "eu-1", later).unwrap();
    assert_eq!(misplaced.physical_cluster_id, "pkc-us", "the planted bug places it abroad");
}

#[test]
fn provisioning_enforces_the_matrix_and_placement() {
    let (mut plane, admin) = control_plane();
    assert_eq!(
        cluster(&mut plane, &admin, ClusterType::Basic, Availability::MultiZone),
        Err(ControlPlaneError::Matrix(MatrixViolation::MultiZoneBasic))
    );
    let basic = cluster(&mut plane, &admin, ClusterType::Basic, Availability::SingleZone).unwrap();
    let standard = cluster(&mut plane, &admin, ClusterType::Standard, Availability::MultiZone).unwrap();
    assert_eq!(basic.physical_cluster_id, standard.physical_cluster_id, "multi-tenant types share brokers");
    assert_eq!(standard.sla_target_percent(), 99.95);
    let dedicated = cluster(&mut plane, &admin, ClusterType::Dedicated, Availability::MultiZone).unwrap();
    assert_eq!(dedicated.physical_cluster_id, "pkc-dedicated", "single tenant: its own brokers");
    assert!(matches!(
        cluster(&mut plane, &admin, ClusterType::Dedicated, Availability::MultiZone),
        Err(ControlPlaneError::NoCapacity(_))
    ));
    let environment = basic.environment_id.clone();
    plane.create_schema_registry(&admin, &environment, NOW).unwrap();
    assert!(matches!(plane.create_schema_registry(&admin, &environment, NOW), Err(ControlPlaneError::Conflict(_))));
    assert!(matches!(plane.delete_environment(&admin, &environment, NOW), Err(ControlPlaneError::Conflict(_))));
}

#[test]
fn api_key_secrets_are_shown_once_and_stored_only_as_hashes() {
    let (mut plane, admin) = control_plane();
    let cluster = cluster(&mut plane, &admin, ClusterType::Standard, Availability::MultiZone).unwrap();
    let account = plane.create_service_account(&admin, "orders-app", "", NOW).unwrap();
    let version = plane.data_plane_version();
    let created =
        plane.create_api_key(&admin, &account.id, ApiKeyScope::Cluster(cluster.id.clone()), "app", NOW).unwrap();
    assert!(plane.data_plane_version() > version, "brokers must learn of the key");
    let dump = serde_json::to_string(plane.records()).unwrap();
    assert!(!dump.contains(&created.secret), "the secret is in no record");
    assert!(!format!("{:?}", plane.list_api_keys(&admin, None).unwrap()).contains(&created.secret));
    let snapshot = plane.data_plane_snapshot(&Caller::Broker { key_id: "broker-1".into() }, "pkc-shared").unwrap();
    let grant = snapshot.api_keys.iter().find(|k| k.id == created.key.id).unwrap();
    assert!(grant.secret_hash.verify(created.secret.as_bytes()));
    assert_eq!(grant.principal, format!("User:{}", account.id));
    assert!(!grant.super_user);
    // A cluster key opens no cloud API.
    let key_caller =
        plane.authenticate(Credentials::Basic { id: &created.key.id, secret: created.secret.as_bytes() }, NOW).unwrap();
    assert_eq!(plane.list_environments(&key_caller).err(), Some(ControlPlaneError::Forbidden));
    assert_eq!(
        plane.authenticate(Credentials::Basic { id: &created.key.id, secret: b"wrong" }, NOW),
        Err(ControlPlaneError::Unauthenticated)
    );
    // Rotation: a new key; the old one stays until deleted.
    let rotated = plane.rotate_api_key(&admin, &created.key.id, NOW).unwrap();
    assert_eq!(rotated.key.rotated_from.as_deref(), Some(created.key.id.as_str()));
    assert!(plane.api_key(&admin, &created.key.id).is_ok());
    plane.delete_api_key(&admin, &created.key.id, NOW).unwrap();
    let snapshot = plane.data_plane_snapshot(&Caller::Broker { key_id: "broker-1".into() }, "pkc-shared").unwrap();
    assert!(snapshot.api_keys.iter().all(|k| k.id != created.key.id));
    assert!(snapshot.api_keys.iter().any(|k| k.id == rotated.key.id));
    // Deleting the account deletes its keys.
    plane.delete_service_account(&admin, &account.id, NOW).unwrap();
    assert!(plane.list_api_keys(&admin, None).unwrap().is_empty());
}

#[test]
fn only_admins_mutate_and_only_brokers_pull() {
    let (mut plane, admin) = control_plane();
    let user = plane.create_user(&admin, "dev@example.com", "Dev", Some("a long password!"), false, NOW).unwrap();
    let token = plane.sign_in("dev@example.com", "a long password!", NOW).unwrap();
    let caller = plane.authenticate(Credentials::Bearer(&token), NOW).unwrap();
    assert_eq!(caller, Caller::User { id: user.id, organization_admin: false });
    assert!(plane.list_environments(&caller).is_ok());
    assert_eq!(plane.create_environment(&caller, "x", NOW).err(), Some(ControlPlaneError::Forbidden));
    assert_eq!(plane.data_plane_snapshot(&admin, "pkc-shared").err(), Some(ControlPlaneError::Forbidden));
    assert_eq!(
        plane.sign_in("dev@example.com", "wrong password!!", NOW).err(),
        Some(ControlPlaneError::Unauthenticated)
    );
    assert_eq!(
        plane.authenticate(Credentials::Bearer(&token), NOW + SESSION_TTL_MS).err(),
        Some(ControlPlaneError::Unauthenticated),
        "sessions expire"
    );
    assert_eq!(plane.authenticate(Credentials::None, NOW).err(), Some(ControlPlaneError::Unauthenticated));
}

#[test]
fn single_sign_on_refuses_expired_forged_and_replayed_assertions() {
    let (mut plane, admin) = control_plane();
    plane.create_user(&admin, "sso@example.com", "Sso", None, false, NOW).unwrap();
    let now_s = NOW / 1000;
    let claims = |jti: &str, exp: u64| AssertionClaims {
        iss: "idp".into(),
        sub: "sso@example.com".into(),
        aud: ASSERTION_AUDIENCE.into(),
        iat: now_s,
        exp,
        jti: jti.into(),
    };
    let good = sign_assertion(&claims("1", now_s + 300), &idp());
    assert!(plane.sign_in_with_assertion(&good, NOW).is_ok());
    assert_eq!(plane.sign_in_with_assertion(&good, NOW).err(), Some(AssertionError::Replayed.into()));
    let expired = sign_assertion(&claims("2", now_s - 1), &idp());
    assert_eq!(plane.sign_in_with_assertion(&expired, NOW).err(), Some(AssertionError::Expired.into()));
    let forger = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[1; 32]).unwrap();
    let forged = sign_assertion(&claims("3", now_s + 300), &forger);
    assert_eq!(plane.sign_in_with_assertion(&forged, NOW).err(), Some(AssertionError::BadSignature.into()));
    // No password: local sign-in is impossible.
    assert!(plane.sign_in("sso@example.com", "", NOW).is_err());
}

#[test]
fn every_mutation_is_audited_exactly_once_in_sequence() {
    let (mut plane, admin) = control_plane();
    let before = plane.records().audit.len();
    let cluster = cluster(&mut plane, &admin, ClusterType::Basic, Availability::SingleZone).unwrap();
    let account = plane.create_service_account(&admin, "app", "", NOW).unwrap();
    let binding = AclBinding {
        principal: format!("User:{}", account.id),
        host: "*".into(),
        resource_type: ResourceType::Topic,
        resource_name: "orders-".into(),
        pattern_type: PatternType::Prefixed,
        operation: Operation::Write,
        permission: Permission::Allow,
    };
    plane.create_acls(&admin, admin.principal(), &cluster.id, vec![binding.clone()], NOW).unwrap();
    plane.create_acls(&admin, admin.principal(), &cluster.id, vec![binding.clone()], NOW).unwrap(); // no change, no event
    let deleted = plane.delete_acls(&admin, admin.principal(), &cluster.id, &AclFilter::default(), NOW).unwrap();
    assert_eq!(deleted, vec![binding]);
    let kinds: Vec<&str> = plane.records().audit[before..].iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "io.faultline.org.environment.created",
            "io.faultline.cmk.cluster.created",
            "io.faultline.iam.service-account.created",
            "io.faultline.kafka.acl.created",
            "io.faultline.kafka.acl.deleted"
        ]
    );
    for (index, event) in plane.records().audit.iter().enumerate() {
        assert_eq!(event.sequence, index as u64 + 1, "gapless");
    }
}

#[test]
fn only_the_service_moves_public_endpoints_and_brokers_learn_them_from_the_snapshot() {
    use crate::control_plane::network::PublicEndpoint;
    let (mut plane, admin) = control_plane();
    let broker = Caller::Broker { key_id: "broker-1".into() };
    let endpoint =
        |id: i32, last: u8| PublicEndpoint { broker_id: id, address: std::net::Ipv4Addr::new(203, 0, 113, last) };
    let moved = vec![endpoint(1, 101), endpoint(2, 102)];
    assert!(matches!(
        plane.move_public_endpoints(&admin, "pkc-shared", moved.clone(), NOW),
        Err(ControlPlaneError::Forbidden)
    ));
    for bad in [vec![], vec![endpoint(1, 101), endpoint(1, 102)], vec![endpoint(1, 101), endpoint(2, 101)]] {
        assert!(plane.move_public_endpoints(&broker, "pkc-shared", bad.clone(), NOW).is_err(), "{bad:?}");
    }
    let version = plane.data_plane_version();
    plane.move_public_endpoints(&broker, "pkc-shared", moved.clone(), NOW).unwrap();
    assert!(plane.data_plane_version() > version, "the DNS service must learn of the move");
    assert_eq!(plane.data_plane_snapshot(&broker, "pkc-shared").unwrap().public_endpoints, moved);
}

/// C09: the customer's own key is for Dedicated clusters only, and only once the key service
/// has confirmed (recently) that it grants the brokers' principal of the placement; the
/// brokers learn the key from their snapshot.
#[test]
fn bring_your_own_key_is_dedicated_only_and_needs_a_confirmed_grant() {
    let (mut plane, admin) = control_plane();
    let environment = plane.create_environment(&admin, "prod", NOW).unwrap();
    let request = |cluster_type| ClusterRequest {
        display_name: "orders".into(),
        environment_id: environment.id.clone(),
        cluster_type,
        availability: Availability::MultiZone,
        networking: Networking::Public,
        network_id: None,
        region: "eu-1".into(),
        encryption_key: Some("arn:faultline:kms:eu-1:key/k1".into()),
    };
    let refused_field = |outcome: Result<_>| match outcome {
        Err(ControlPlaneError::Invalid { field, reason }) => (field, reason),
        other => panic!("expected a refusal, got {other:?}"),
    };
    let (field, reason) = refused_field(plane.key_grantee(&admin, &request(ClusterType::Standard), NOW).map(|_| ()));
    assert_eq!((field, reason.contains("Dedicated clusters only")), ("encryption_key", true));
    let (field, _) = refused_field(plane.create_cluster(&admin, request(ClusterType::Standard), NOW).map(|_| ()));
    assert_eq!(field, "encryption_key");

    let (key, grantee) = plane.key_grantee(&admin, &request(ClusterType::Dedicated), NOW).unwrap().unwrap();
    assert_eq!(grantee, "service:broker/shared", "the first physical cluster that can host it");
    let (_, reason) = refused_field(plane.create_cluster(&admin, request(ClusterType::Dedicated), NOW).map(|_| ()));
    assert!(reason.contains("has not confirmed"), "{reason}");
    // A confirmation too old counts for nothing.
    plane.note_key_checked(&key, &grantee, NOW - KEY_CHECK_VALID_MS - 1);
    refused_field(plane.create_cluster(&admin, request(ClusterType::Dedicated), NOW).map(|_| ()));
    plane.note_key_checked(&key, &grantee, NOW);
    let cluster = plane.create_cluster(&admin, request(ClusterType::Dedicated), NOW).unwrap();
    assert_eq!(cluster.encryption_key.as_deref(), Some(key.as_str()));
    let snapshot = plane.data_plane_snapshot(&Caller::Broker { key_id: "broker-1".into() }, "pkc-shared").unwrap();
    let hosted = snapshot.clusters.iter().find(|c| c.id == cluster.id).unwrap();
    assert_eq!(hosted.encryption_key.as_deref(), Some(key.as_str()));
}
