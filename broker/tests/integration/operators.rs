//! Operator access (C10) with real processes: an operator created at the staff directory, her
//! second factor from oathtool (RFC 6238, a client nobody here wrote), a session at the bastion
//! that may do what her role permits and nothing once she is offboarded; her code again, a
//! wrong code and the bastion's key used directly at a broker with kcat are refused, and every
//! refusal is in the security log.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::cluster::{run_ok, Cluster};

fn secrets(cluster: &Cluster) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(cluster.dir.join("staff.secrets.json")).unwrap()).unwrap()
}

/// `curl` to `https://<ip><path>`: the status and the JSON body.
fn call(
    cluster: &Cluster,
    ip: &str,
    method: &str,
    path: &str,
    user: Option<(&str, &str)>,
    body: Option<String>,
) -> (u16, serde_json::Value) {
    let mut command = Command::new("curl");
    command.args(["-s", "-w", "\n%{http_code}", "--cacert"]).arg(cluster.dir.join("ca.pem"));
    command.args(["-X", method, "-H", "content-type: application/json"]);
    if let Some((name, token)) = user {
        command.args(["-u", &format!("{name}:{token}")]);
    }
    if let Some(body) = body {
        command.args(["-d", &body]);
    }
    command.arg(format!("https://{ip}{path}"));
    // The directory and the bastion may still be starting: curl exits 7 until they listen.
    let started = Instant::now();
    let output = loop {
        let output = command.output().unwrap();
        if output.status.code() != Some(7) || started.elapsed() > Duration::from_secs(20) {
            break output;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.trim().parse().unwrap(), serde_json::from_str(body).unwrap_or_default())
}

fn totp(secret: &str) -> String {
    let output = run_ok(Command::new("oathtool").args(["--totp", "-b", secret]));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn an_operator_acts_only_through_the_bastion_with_her_second_factor_and_not_after_offboarding() {
    let cluster = Cluster::start();
    let secrets = secrets(&cluster);
    let admin = ("security-admin", secrets["admin_token"].as_str().unwrap());
    let (status, ada) = call(
        &cluster,
        "127.0.0.5",
        "POST",
        "/v1/operators",
        Some(admin),
        Some(r#"{"name":"ada","role":"observer","hours":8}"#.into()),
    );
    assert_eq!(status, 201, "{ada}");
    let (password, secret) = (ada["password"].as_str().unwrap(), ada["totp_secret"].as_str().unwrap());

    let open = |code: &str| {
        let body = serde_json::json!({ "operator": "ada", "password": password, "code": code, "role": "observer" });
        call(&cluster, "127.0.0.6", "POST", "/v1/sessions", None, Some(body.to_string()))
    };
    let (status, refused) = open("000000");
    assert_eq!(status, 403, "a wrong code: {refused}");
    let code = totp(secret);
    let (status, session) = open(&code);
    assert_eq!(status, 201, "{session}");
    let (status, _) = open(&code);
    assert_eq!(status, 403, "the same code again is a replay");
    let id = session["session"].as_str().unwrap();
    let act = |action: &str| {
        let body = format!(r#"{{"action":"{action}"}}"#);
        call(&cluster, "127.0.0.6", "POST", &format!("/v1/sessions/{id}/actions"), None, Some(body))
    };
    let (status, described) = act("describe-cluster");
    assert_eq!(status, 200, "{described}");
    assert_eq!(described["result"], "3 brokers");
    assert_eq!(act("list-topics").0, 403, "not an observer's to do");

    // The bastion's key, straight at a broker: refused (brokers take it from the bastion only).
    let direct = Command::new("kcat")
        .args(["-b", "127.0.0.1:9092", "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=PLAIN"])
        .args(["-X", "sasl.username=bastion", "-X"])
        .arg(format!("sasl.password={}", secrets["bastion_key_secret"].as_str().unwrap()))
        .arg("-X")
        .arg(format!("ssl.ca.location={}", cluster.dir.join("ca.pem").display()))
        .args(["-L", "-m", "5"])
        .output()
        .unwrap();
    assert!(!direct.status.success(), "kcat with the bastion's key: {}", String::from_utf8_lossy(&direct.stdout));

    let (status, _) = call(&cluster, "127.0.0.5", "DELETE", "/v1/operators/ada/role", Some(admin), None);
    assert_eq!(status, 200);
    let ended = Instant::now();
    let closed = loop {
        if act("describe-cluster").0 == 403 {
            break ended.elapsed();
        }
        assert!(ended.elapsed() < Duration::from_secs(40), "the session still acts 40 s after offboarding");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(closed <= Duration::from_secs(31), "closed {closed:?} after offboarding");
    assert_eq!(open(&totp(secret)).0, 403, "no new session after offboarding");

    // Every refusal reached the security log (shipped within a linger).
    std::thread::sleep(Duration::from_secs(2));
    let store: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cluster.dir.join("log-store.secrets.json")).unwrap()).unwrap();
    let auditor = ("auditor", store["principals"]["auditor"][0].as_str().unwrap());
    let (status, page) = call(&cluster, "127.0.0.1:6514", "GET", "/v1/entries?limit=1000", Some(auditor), None);
    assert_eq!(status, 200);
    let actions: Vec<(String, String)> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (e["event"]["action"].as_str().unwrap().to_string(), e["event"]["outcome"].as_str().unwrap().to_string())
        })
        .collect();
    let count = |action: &str, outcome: &str| actions.iter().filter(|(a, o)| a == action && o == outcome).count();
    assert!(count("mfa-verify", "refused") >= 3, "wrong code, replay, after offboarding: {actions:?}");
    assert!(count("operator-action", "refused") >= 2, "list-topics, after offboarding: {actions:?}");
    assert!(count("kafka.operator.outside-bastion", "refused") >= 1, "{actions:?}");
    assert!(count("role-ended", "success") == 1 && count("session-close", "success") >= 1, "{actions:?}");
}
