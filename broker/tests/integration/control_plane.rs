//! The control plane in real mode (C01, C14-C17): its REST API on 127.0.0.1:443 driven with
//! curl, keys and prefixed ACLs used by kcat, Kafka's ACL APIs used by kafka-python's admin
//! client, revocation reaching the brokers, TLS 1.1 refused, and bad input answered with
//! problems while the control plane stays up.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cluster::{client_script, python, run_ok, Cluster};

struct Cloud {
    env: BTreeMap<String, String>,
}

impl Cloud {
    fn of(cluster: &Cluster) -> Cloud {
        let text = std::fs::read_to_string(cluster.dir.join("cloud.env")).unwrap();
        let env = text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Cloud { env }
    }

    fn get(&self, name: &str) -> &str {
        &self.env[name]
    }

    /// The body of `POST /cmk/v2/clusters` for a cluster in the dev region and environment.
    fn cluster_request(&self, name: &str, availability: &str, kind: &str) -> String {
        format!(
            r#"{{"spec":{{"display_name":"{name}","availability":"{availability}","config":{{"kind":"{kind}"}},"environment":{{"id":"{}"}},"region":"dev"}}}}"#,
            self.get("ENVIRONMENT_ID")
        )
    }

    /// curl with the admin's cloud key; returns the status and the body.
    fn curl(&self, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        let credentials = format!("{}:{}", self.get("CLOUD_API_KEY"), self.get("CLOUD_API_SECRET"));
        self.curl_with(&["-u", &credentials], method, path, body)
    }

    fn curl_with(&self, extra: &[&str], method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        let mut command = Command::new("curl");
        command.args(["-s", "-w", "\n%{http_code}", "--cacert", self.get("CA"), "-X", method]).args(extra);
        if let Some(body) = body {
            command.args(["-H", "content-type: application/json", "--data-binary", body]);
        }
        let output = run_ok(command.arg(format!("https://localhost{path}")));
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let (body, status) = text.rsplit_once('\n').unwrap();
        let value = if body.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(body).unwrap_or(serde_json::Value::String(body.into()))
        };
        (status.trim().parse().unwrap(), value)
    }
}

fn kcat_with_key(cluster: &Cluster, key: &str, secret: &str) -> Command {
    let cloud = Cloud::of(cluster);
    let mut command = Command::new("kcat");
    command.args(["-b", "127.0.0.1:9092", "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=PLAIN"]);
    command.arg("-X").arg(format!("sasl.username={key}")).arg("-X").arg(format!("sasl.password={secret}"));
    command.arg("-X").arg(format!("ssl.ca.location={}", cloud.get("CA")));
    command
}

fn produce_one(cluster: &Cluster, key: &str, secret: &str, topic: &str) -> String {
    produce_one_value(cluster, key, secret, topic, "hello")
}

fn produce_one_value(cluster: &Cluster, key: &str, secret: &str, topic: &str, value: &str) -> String {
    let mut child = kcat_with_key(cluster, key, secret)
        .args(["-P", "-t", topic, "-X", "topic.request.required.acks=all", "-X", "message.timeout.ms=5000"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(format!("{value}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// A service account with a cluster key and the given ACL bindings (JSON bodies).
fn service_account_with_key(cloud: &Cloud, name: &str, acls: &[&str]) -> (String, String, String) {
    service_account_with_key_on(cloud, cloud.get("CLUSTER_ID"), name, acls)
}

fn service_account_with_key_on(cloud: &Cloud, cluster_id: &str, name: &str, acls: &[&str]) -> (String, String, String) {
    let (status, account) =
        cloud.curl("POST", "/iam/v2/service-accounts", Some(&format!(r#"{{"display_name":"{name}"}}"#)));
    assert_eq!(status, 201, "{account}");
    let account = account["id"].as_str().unwrap().to_string();
    let body = format!(r#"{{"spec":{{"owner":{{"id":"{account}"}},"resource":{{"id":"{cluster_id}"}}}}}}"#);
    let (status, key) = cloud.curl("POST", "/iam/v2/api-keys", Some(&body));
    assert_eq!(status, 201, "{key}");
    for acl in acls {
        let acl = acl.replace("{principal}", &format!("User:{account}"));
        let (status, created) = cloud.curl("POST", &format!("/kafka/v3/clusters/{cluster_id}/acls"), Some(&acl));
        assert_eq!(status, 201, "{created}");
    }
    (account, key["id"].as_str().unwrap().to_string(), key["spec"]["secret"].as_str().unwrap().to_string())
}

const WRITE_ORDERS: &str = r#"{"principal":"{principal}","host":"*","resource_type":"TOPIC","resource_name":"orders-","pattern_type":"PREFIXED","operation":"WRITE","permission":"ALLOW"}"#;

/// Waits until `check` holds (the brokers pull every second).
fn eventually(what: &str, bound: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < bound, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    start.elapsed()
}

#[test]
fn a_prefixed_acl_key_writes_where_allowed_and_is_refused_elsewhere_then_revoked() {
    let cluster = Cluster::start();
    let cloud = Cloud::of(&cluster);
    cluster.create_topic("orders-eu", 3);
    cluster.create_topic("payroll", 3);
    let (_, key, secret) = service_account_with_key(&cloud, "orders-app", &[WRITE_ORDERS]);
    eventually("the new key reaches the brokers", Duration::from_secs(15), || {
        produce_one(&cluster, &key, &secret, "orders-eu").is_empty()
    });
    let refused = produce_one(&cluster, &key, &secret, "payroll");
    assert!(refused.contains("Topic authorization failed"), "{refused}");
    // Metadata lists only what the key may describe (Write implies Describe).
    let listing = run_ok(kcat_with_key(&cluster, &key, &secret).args(["-L", "-m", "5"]));
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("orders-eu") && !listing.contains("payroll"), "{listing}");
    // Deleting the key stops it within the bound (REVOCATION_BOUND: 10 s).
    let (status, _) = cloud.curl("DELETE", &format!("/iam/v2/api-keys/{key}"), None);
    assert_eq!(status, 204);
    let took = eventually("the deleted key stops working", Duration::from_secs(10), || {
        let answer = produce_one(&cluster, &key, &secret, "orders-eu");
        answer.contains("Authentication failed") || answer.contains("SASL authentication error")
    });
    eprintln!("revocation took {took:?}");
}

#[test]
fn kafka_python_admin_manages_acls_through_the_brokers() {
    let cluster = Cluster::start();
    let cloud = Cloud::of(&cluster);
    let (account, _, _) = service_account_with_key(&cloud, "billing", &[]);
    let output = run_ok(
        Command::new(python()).arg(client_script("acls.py")).arg(cluster.properties()).arg(format!("User:{account}")),
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("created 1") && text.contains("deleted 1") && text.contains("after 0"), "{text}");
    // The control plane saw both changes and audited them.
    let (_, listed) = cloud.curl(
        "GET",
        &format!("/kafka/v3/clusters/{}/acls?principal=User:{account}", cloud.get("CLUSTER_ID")),
        None,
    );
    assert_eq!(listed["data"].as_array().unwrap().len(), 0);
}

#[test]
fn the_rest_api_speaks_tls_1_2_and_1_3_only_and_answers_bad_input_with_problems() {
    let cluster = Cluster::start();
    let cloud = Cloud::of(&cluster);
    for version in [["--tlsv1.2", "--tls-max", "1.2"], ["--tlsv1.3", "--tls-max", "1.3"]] {
        let credentials = format!("{}:{}", cloud.get("CLOUD_API_KEY"), cloud.get("CLOUD_API_SECRET"));
        let (status, _) = cloud.curl_with(
            &[version[0], version[1], version[2], "-u", &credentials],
            "GET",
            "/org/v2/environments",
            None,
        );
        assert_eq!(status, 200, "{version:?}");
    }
    let old = Command::new("openssl")
        // Debian's openssl offers TLS 1.1 only at SECLEVEL=0; without it a refusal proves nothing.
        .args([
            "s_client",
            "-connect",
            "127.0.0.1:443",
            "-tls1_1",
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
            "-servername",
            "localhost",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let transcript = format!("{}{}", String::from_utf8_lossy(&old.stdout), String::from_utf8_lossy(&old.stderr));
    assert!(
        !old.status.success() && transcript.contains("Cipher is (NONE)"),
        "TLS 1.1 was accepted (openssl prints the protocol it offered even when refused: look at the cipher):\n{transcript}"
    );
    let big = format!(r#"{{"display_name":"{}"}}"#, "x".repeat(70_000));
    let cases: [(&str, &str, Option<&str>, u16); 6] = [
        ("POST", "/org/v2/environments", Some("{not json"), 400),
        ("POST", "/org/v2/environments", Some(r#"{"display_name":"a","extra":1}"#), 400),
        ("POST", "/org/v2/environments", Some(&big), 413),
        ("GET", "/org/v2/environments?page_token=%%%", None, 400),
        ("GET", "/iam/v2/api-keys?page_size=0", None, 400),
        ("DELETE", "/cmk/v2/clusters/lkc-none", None, 404),
    ];
    for (method, path, body, expected) in cases {
        let (status, problem) = cloud.curl(method, path, body);
        assert_eq!(status, expected, "{method} {path}: {problem}");
        assert_eq!(problem["status"], expected, "a problem body: {problem}");
    }
    let (status, _) = cloud.curl_with(&[], "GET", "/org/v2/environments", None);
    assert_eq!(status, 401, "unauthenticated");
    let (status, _) = cloud.curl("GET", "/org/v2/environments", None);
    assert_eq!(status, 200, "still up after bad input:\n{}", cluster.logs());
}

#[test]
fn the_data_plane_keeps_serving_while_the_control_plane_is_down() {
    let mut cluster = Cluster::start();
    cluster.create_topic("orders", 3);
    cluster.kill_control_plane();
    // New connections authenticate against the brokers' last snapshot; writes and reads go on.
    let mut producer = cluster.kcat();
    producer.args(["-P", "-t", "orders", "-X", "topic.request.required.acks=all"]);
    let mut child = producer.stdin(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"while-the-control-plane-is-down\n").unwrap();
    assert!(child.wait().unwrap().success());
    let consumed = cluster.consume_all("orders");
    assert_eq!(consumed, vec!["while-the-control-plane-is-down".to_string()]);
    // Restarted from its own disk, it still knows the organization.
    cluster.start_control_plane();
    let cloud = Cloud::of(&cluster);
    // Until it listens, curl fails to connect (exit 7): that is "not back yet", not a failure.
    let credentials = format!("{}:{}", cloud.get("CLOUD_API_KEY"), cloud.get("CLOUD_API_SECRET"));
    let url = format!("https://localhost/cmk/v2/clusters/{}", cloud.get("CLUSTER_ID"));
    eventually("the control plane is back", Duration::from_secs(10), || {
        let output = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", cloud.get("CA"), "-u", &credentials])
            .arg(&url)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout) == "200"
    });
}

/// schemathesis (from PyPI) drives the REST API from `broker/openapi.yaml`: examples, coverage,
/// fuzzing and stateful phases, as the organization admin (a session, which the fuzzer cannot
/// delete the way it may delete the admin's own API key). No 5xx, no undocumented status,
/// content type or response shape.
#[test]
fn the_openapi_driven_fuzzer_finds_no_server_error_and_no_schema_violation() {
    let cluster = Cluster::start();
    let cloud = Cloud::of(&cluster);
    let password = std::fs::read_to_string(cluster.dir.join("admin.password")).unwrap();
    let body = serde_json::json!({ "email": "admin@localhost", "password": password.trim() }).to_string();
    let (status, session) = cloud.curl_with(&[], "POST", "/api/sessions", Some(&body));
    assert_eq!(status, 201, "{session}");
    let token = session["token"].as_str().unwrap();
    let schemathesis = python().with_file_name("schemathesis");
    let output = Command::new(&schemathesis)
        .arg("--config-file")
        .arg(client_script("schemathesis.toml"))
        .arg("run")
        .arg(crate::cluster::workspace().join("broker/openapi.yaml"))
        .args(["--url", "https://localhost", "--tls-verify", cloud.get("CA")])
        .arg("-H")
        .arg(format!("Authorization: Bearer {token}"))
        .args(["-c", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
        .args(["-n", "25", "--generation-deterministic", "--no-color"])
        .env("CLUSTER_ID", cloud.get("CLUSTER_ID"))
        // Its cache directory goes with the cluster's, not into the repository.
        .current_dir(&cluster.dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {schemathesis:?}: {e} (ci/test.sh installs it in .venv)"));
    let report = String::from_utf8_lossy(&output.stdout);
    let summary: String = report.lines().skip_while(|l| !l.contains("SUMMARY")).collect::<Vec<_>>().join("\n");
    eprintln!("{summary}");
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        cluster.logs()
    );
    let generated = summary
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_suffix(" passed")
                .and_then(|l| l.split(" generated, ").nth(1))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .expect("a test-case count in the summary");
    assert!(generated >= 500, "too few cases to mean anything: {generated}");
    let (status, _) =
        cloud.curl_with(&["-H", &format!("Authorization: Bearer {token}")], "GET", "/org/v2/environments", None);
    assert_eq!(status, 200, "the control plane is up after the fuzzer");
}

/// C01: the cluster's processes listen on 9092 (each node) and 443 (the control plane, the key
/// service) and on nothing else, as `ss` sees the sockets they own; and the service-internal
/// log store on syslog-over-TLS's 6514 (never routed to customers, C12).
#[test]
fn the_service_listens_on_9092_and_443_only() {
    let cluster = Cluster::start();
    let pids = cluster.pids();
    let sockets = run_ok(Command::new("ss").args(["-ltnpH"]));
    let mut ports: Vec<u16> = String::from_utf8_lossy(&sockets.stdout)
        .lines()
        .filter(|line| pids.iter().any(|pid| line.contains(&format!("pid={pid},"))))
        .filter_map(|line| line.split_whitespace().nth(3)?.rsplit_once(':')?.1.parse().ok())
        .collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports, vec![443, 6514, 9092], "listening ports of the cluster's processes");
}

/// C16: a user without a password signs in with the identity provider's signed assertion
/// (`broker sso-assertion`), once; the session reads but, not being an admin, may not change
/// anything; the same assertion again, or a tampered one, is refused.
#[test]
fn single_sign_on_admits_a_fresh_assertion_once() {
    let cluster = Cluster::start();
    let cloud = Cloud::of(&cluster);
    let (status, user) = cloud.curl("POST", "/iam/v2/users", Some(r#"{"email":"ada@example.com","full_name":"Ada"}"#));
    assert_eq!(status, 201, "{user}");
    let minted = run_ok(
        Command::new(env!("CARGO_BIN_EXE_broker"))
            .args(["sso-assertion", "--dir"])
            .arg(&cluster.dir)
            .args(["--email", "ada@example.com"]),
    );
    let assertion = String::from_utf8_lossy(&minted.stdout).trim().to_string();
    let sign_in = |assertion: &str| {
        let body = serde_json::json!({ "assertion": assertion }).to_string();
        cloud.curl_with(&[], "POST", "/api/sessions/sso", Some(&body))
    };
    let (status, session) = sign_in(&assertion);
    assert_eq!(status, 201, "{session}");
    let bearer = format!("Authorization: Bearer {}", session["token"].as_str().unwrap());
    assert_eq!(cloud.curl_with(&["-H", &bearer], "GET", "/org/v2/environments", None).0, 200);
    let (status, _) =
        cloud.curl_with(&["-H", &bearer], "POST", "/org/v2/environments", Some(r#"{"display_name":"x"}"#));
    assert_eq!(status, 403, "not an organization admin");
    assert_eq!(sign_in(&assertion).0, 401, "a replayed assertion");
    let (claims, signature) = assertion.split_once('.').unwrap();
    let tampered = format!("{}x.{signature}", claims);
    assert_eq!(sign_in(&tampered).0, 401, "a tampered assertion");
}

/// C28: a second customer's Basic cluster on the same brokers. Both tenants create `orders`
/// (names collide freely) and write to it; each one's `kcat -L` lists only its own topics,
/// and each reads only its own records.
#[test]
fn a_tenants_kcat_lists_and_reads_only_its_own_cluster() {
    let cluster = Cluster::start();
    let cloud = Cloud::of(&cluster);
    let body = cloud.cluster_request("rival", "SINGLE_ZONE", "Basic");
    // C07: a region the service does not run is refused, naming the ones it does.
    let (status, problem) = cloud.curl("POST", "/cmk/v2/clusters", Some(&body.replace(r#""dev""#, r#""mars-1""#)));
    assert_eq!(status, 400, "{problem}");
    assert!(problem["detail"].as_str().unwrap_or("").contains("offered: dev"), "{problem}");
    let (status, rival) = cloud.curl("POST", "/cmk/v2/clusters", Some(&body));
    assert_eq!(status, 201, "{rival}");
    let rival_cluster = rival["id"].as_str().unwrap().to_string();
    let (_, key, secret) = service_account_with_key_on(&cloud, &rival_cluster, "rival-app", &ALLOW_EVERYTHING);
    let rival_properties = properties_with_key(&cluster, "rival", &key, &secret);
    let ours = std::fs::read_to_string(cluster.properties()).unwrap();
    eventually("the rival's key reaches the brokers", Duration::from_secs(15), || {
        let mut command = Command::new(python());
        command.arg(client_script("admin.py")).arg(&rival_properties).args(["payroll", "1", "3"]);
        command.output().unwrap().status.success()
    });
    run_ok(Command::new(python()).arg(client_script("admin.py")).arg(&rival_properties).args(["orders", "1", "3"]));
    cluster.create_topic("orders", 1);
    assert!(produce_one_value(&cluster, &key, &secret, "orders", "rival-record").is_empty());
    let app = properties_key(&ours);
    assert!(produce_one_value(&cluster, &app.0, &app.1, "orders", "our-record").is_empty());

    let listing = |key: &str, secret: &str| {
        let output = run_ok(kcat_with_key(&cluster, key, secret).args(["-L", "-m", "5"]));
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    let our_listing = listing(&app.0, &app.1);
    assert!(our_listing.contains("topic \"orders\""), "{our_listing}");
    for hidden in ["payroll", "lkc-", "__consumer_offsets"] {
        assert!(!our_listing.contains(hidden), "{hidden} in our listing: {our_listing}");
    }
    let rival_listing = listing(&key, &secret);
    assert!(
        rival_listing.contains("topic \"payroll\"") && rival_listing.contains("topic \"orders\""),
        "{rival_listing}"
    );
    assert!(!rival_listing.contains("lkc-"), "{rival_listing}");
    let read = |key: &str, secret: &str| {
        let output = run_ok(kcat_with_key(&cluster, key, secret).args([
            "-C",
            "-t",
            "orders",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-m",
            "10",
        ]));
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    assert_eq!(read(&app.0, &app.1).trim(), "our-record");
    assert_eq!(read(&key, &secret).trim(), "rival-record");
}

const ALLOW_EVERYTHING: [&str; 2] = [
    r#"{"principal":"{principal}","host":"*","resource_type":"TOPIC","resource_name":"*","pattern_type":"LITERAL","operation":"ALL","permission":"ALLOW"}"#,
    r#"{"principal":"{principal}","host":"*","resource_type":"CLUSTER","resource_name":"kafka-cluster","pattern_type":"LITERAL","operation":"ALL","permission":"ALLOW"}"#,
];

/// The dev cluster's `client.properties` with another API key, as `<name>.properties`.
fn properties_with_key(cluster: &Cluster, name: &str, key: &str, secret: &str) -> std::path::PathBuf {
    let path = cluster.dir.join(format!("{name}.properties"));
    let ours = std::fs::read_to_string(cluster.properties()).unwrap();
    let theirs: String = ours
        .lines()
        .map(|line| match line.split_once('=') {
            Some(("sasl.username", _)) => format!("sasl.username={key}\n"),
            Some(("sasl.password", _)) => format!("sasl.password={secret}\n"),
            _ => format!("{line}\n"),
        })
        .collect();
    std::fs::write(&path, theirs).unwrap();
    path
}

/// (key, secret) of a `client.properties` text.
fn properties_key(properties: &str) -> (String, String) {
    let value =
        |name: &str| properties.lines().find_map(|l| l.strip_prefix(&format!("{name}="))).unwrap().trim().to_string();
    (value("sasl.username"), value("sasl.password"))
}

/// C05 (issue 9's first part): a peering whose customer route overlaps the network's CIDR is
/// refused through the REST API with both ranges named; a disjoint one is created.
#[test]
fn an_overlapping_customer_range_is_refused_over_the_rest_api() {
    let cluster = Cluster::start();
    let cloud = Cloud::of(&cluster);
    let body = format!(
        r#"{{"spec":{{"display_name":"prod","cidr":"10.60.0.0/16","connection_types":["PEERING"],"environment":{{"id":"{}"}}}}}}"#,
        cloud.get("ENVIRONMENT_ID")
    );
    let (status, network) = cloud.curl("POST", "/networking/v1/networks", Some(&body));
    assert_eq!(status, 201, "{network}");
    let id = network["id"].as_str().unwrap();
    let peering = |route: &str| {
        format!(r#"{{"spec":{{"display_name":"vpc","network":{{"id":"{id}"}},"customer":{{"routes":["{route}"]}}}}}}"#)
    };
    let (status, problem) = cloud.curl("POST", "/networking/v1/peerings", Some(&peering("10.60.64.0/18")));
    assert_eq!(status, 409, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("10.60.64.0/18") && detail.contains("10.60.0.0/16"), "{detail}");
    let (status, created) = cloud.curl("POST", "/networking/v1/peerings", Some(&peering("172.31.0.0/16")));
    assert_eq!(status, 201, "{created}");
}

/// C06 in real mode: the DNS service (its own process) answers the dev cluster's names with
/// the brokers' addresses once it has pulled the cluster's networking, to a client nobody here
/// wrote (dig); names outside its zone are refused.
#[test]
fn the_dns_service_answers_the_bootstrap_name_with_the_dev_cluster_addresses() {
    let cluster = Cluster::start();
    let log = std::fs::File::create(cluster.dir.join("dns.log")).unwrap();
    let mut dns = std::process::Command::new(env!("CARGO_BIN_EXE_broker"))
        .args(["dns", "--dir"])
        .arg(&cluster.dir)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("broker binary starts");
    let dig = |name: &str| {
        let output = std::process::Command::new("dig")
            .args(["@127.0.0.1", "-p", "8053", "+tries=1", "+time=1", name])
            .output()
            .expect("dig runs (ci/test.sh installs bind9-dnsutils)");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let bootstrap = "bootstrap.pkc-dev.dev.faultline.cloud";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let answer = loop {
        let answer = dig(bootstrap);
        if answer.contains("status: NOERROR") || std::time::Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    let short = |answer: &str| -> Vec<String> {
        let mut addresses: Vec<String> = answer
            .lines()
            .filter(|line| !line.starts_with(';'))
            .filter_map(|line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                [_, _, "IN", "A", address] => Some(address.to_string()),
                _ => None,
            })
            .collect();
        addresses.sort();
        addresses
    };
    assert!(answer.contains("flags: qr aa"), "an authoritative answer: {answer}");
    assert_eq!(short(&answer), vec!["127.0.0.1", "127.0.0.2", "127.0.0.3"], "{answer}");
    let one = dig("B2.pkc-dev.dev.faultline.cloud");
    assert_eq!(short(&one), vec!["127.0.0.2"], "{one}");
    assert!(dig("b9.pkc-dev.dev.faultline.cloud").contains("status: NXDOMAIN"));
    assert!(dig("example.com").contains("status: REFUSED"));
    dns.kill().unwrap();
    dns.wait().unwrap();
}

/// C07, as `region-outage` shows it in simulation: with every broker of the dev region killed
/// (`kill -9`), a cluster asked for in that region is answered 503 once they have stopped
/// pulling (never placed elsewhere), and placed there again once they are back.
#[test]
fn a_cluster_asked_for_in_a_region_that_is_down_waits_for_it() {
    let mut cluster = Cluster::start();
    let cloud = Cloud::of(&cluster);
    let body = cloud.cluster_request("later", "SINGLE_ZONE", "Basic");
    for id in 1..=3 {
        cluster.kill(id);
    }
    // The control plane takes a broker cluster that has not pulled for this long as down.
    std::thread::sleep(Duration::from_millis(broker::control_plane::state::REPORTING_WINDOW_MS + 1_000));
    let (status, problem) = cloud.curl("POST", "/cmk/v2/clusters", Some(&body));
    assert_eq!(status, 503, "a request in the downed region: {problem}");
    assert!(problem["detail"].as_str().unwrap_or("").contains("region unavailable"), "{problem}");
    for id in 1..=3 {
        cluster.start_node(id);
    }
    let mut created = serde_json::Value::Null;
    eventually("the region reports again", Duration::from_secs(30), || {
        let (status, cluster) = cloud.curl("POST", "/cmk/v2/clusters", Some(&body));
        created = cluster;
        status == 201
    });
    assert_eq!(created["spec"]["region"], "dev", "{created}");
}

/// The directories on node `id`'s disk that belong to logical cluster `cluster_id`.
fn directories_of(cluster: &Cluster, id: i32, cluster_id: &str) -> Vec<String> {
    std::fs::read_dir(cluster.dir.join(format!("node-{id}")))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&format!("{cluster_id}_")))
        .collect()
}

/// C13 with real processes: a tenant's cluster, created over the REST API and written with
/// kcat, is deleted while node 3 is down (kill -9). Its key reads nothing at once; nodes 1 and
/// 2 shred its logs, key files first, and the service's key for it is pending deletion; node 3,
/// restarted with the logs still on its disk, shreds them too.
#[test]
fn a_deleted_cluster_is_unreadable_at_once_and_shredded_on_every_node_even_one_down_at_the_time() {
    let mut cluster = Cluster::start();
    let cloud = Cloud::of(&cluster);
    let body = cloud.cluster_request("doomed", "MULTI_ZONE", "Standard");
    let (status, created) = cloud.curl("POST", "/cmk/v2/clusters", Some(&body));
    assert_eq!(status, 201, "{created}");
    let doomed = created["id"].as_str().unwrap().to_string();
    let (_, key, secret) = service_account_with_key_on(&cloud, &doomed, "doomed-app", &ALLOW_EVERYTHING);
    let properties = properties_with_key(&cluster, "doomed", &key, &secret);
    eventually("the cluster's key reaches the brokers", Duration::from_secs(15), || {
        let mut command = Command::new(python());
        command.arg(client_script("admin.py")).arg(&properties).args(["ledger", "1", "3"]);
        command.output().unwrap().status.success()
    });
    for i in 0..20 {
        let stderr = produce_one_value(&cluster, &key, &secret, "ledger", &format!("doomed-record-{i}"));
        assert!(stderr.is_empty(), "{stderr}");
    }
    // kcat retries a refused authentication until killed: 8 s is plenty for a readable cluster.
    let read = |cluster: &Cluster| {
        let mut kcat = kcat_with_key(cluster, &key, &secret);
        kcat.args(["-C", "-t", "ledger", "-o", "beginning", "-e", "-q"]);
        let output = Command::new("timeout").arg("8").arg(kcat.get_program()).args(kcat.get_args()).output().unwrap();
        String::from_utf8_lossy(&output.stdout).lines().filter(|l| l.starts_with("doomed-record-")).count()
    };
    assert_eq!(read(&cluster), 20);
    for id in 1..=3 {
        assert!(!directories_of(&cluster, id, &doomed).is_empty(), "node {id} holds the cluster's partition");
    }

    cluster.kill(3);
    let (status, answer) = cloud.curl("DELETE", &format!("/cmk/v2/clusters/{doomed}"), None);
    assert_eq!(status, 204, "{answer}");
    let deleted_at = Instant::now();
    let shredded_after = eventually("nodes 1 and 2 shred the cluster's logs", Duration::from_secs(15), || {
        directories_of(&cluster, 1, &doomed).is_empty() && directories_of(&cluster, 2, &doomed).is_empty()
    });
    // Within the 10 s revocation bound, the cluster's own key reads nothing.
    let mut began = Duration::ZERO;
    eventually("the deleted cluster's key reads nothing", Duration::from_secs(10), || {
        began = deleted_at.elapsed();
        read(&cluster) == 0
    });
    eprintln!(
        "after the deletion: nodes 1 and 2 shredded within {shredded_after:?}; a read begun at {began:?} got nothing"
    );
    let described = crate::encryption::key_service(&cluster, "DescribeKey", &broker::kms::tenant_key_alias(&doomed));
    assert!(described.contains(r#""state":"PENDING_DELETION""#), "the service's key for the cluster: {described}");
    assert!(!directories_of(&cluster, 3, &doomed).is_empty(), "node 3 was down: its copy is still there");

    cluster.start_node(3);
    cluster.wait_until_ready();
    eventually("node 3 shreds the cluster's logs on its return", Duration::from_secs(20), || {
        directories_of(&cluster, 3, &doomed).is_empty()
    });
    let log = std::fs::read_to_string(cluster.dir.join("node-3.log")).unwrap();
    assert!(log.contains("shredded the log of a deleted cluster's partition"), "{log}");
}
