//! The central log store (C12) and detection (C23) with real processes: kcat's wrong secrets
//! reach it as entries on every replica, detection raises an alert and the desk an incident
//! that the on-call sees through the control plane's API, a confirmation puts the written
//! notice in the mail spool; the chains verify with `broker verify-log`, and one byte changed
//! in a replica's file is found.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::cluster::{python, Cluster};

/// The entries replica `n` (1-3) serves, read by the dev directory's auditor over HTTPS.
fn entries(cluster: &Cluster, replica: u8) -> Vec<serde_json::Value> {
    let script = r#"
import base64, json, ssl, sys, urllib.request
directory, address = sys.argv[1], sys.argv[2]
token = json.load(open(directory + "/log-store.secrets.json"))["principals"]["auditor"][0]
context = ssl.create_default_context(cafile=directory + "/ca.pem")
context.check_hostname = False
request = urllib.request.Request("https://" + address + ":6514/v1/entries?limit=1000")
request.add_header("Authorization", "Basic " + base64.b64encode(("auditor:" + token).encode()).decode())
print(urllib.request.urlopen(request, context=context, timeout=5).read().decode())
"#;
    let output = Command::new(python())
        .args(["-c", script])
        .arg(&cluster.dir)
        .arg(format!("127.0.0.{replica}"))
        .output()
        .unwrap();
    let page: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    page["entries"].as_array().cloned().unwrap_or_default()
}

/// The control plane's `/v1/incidents` as the dev directory's on-call responder; with `body`,
/// a POST to `path` instead.
fn desk(cluster: &Cluster, path: &str, body: Option<&str>) -> serde_json::Value {
    let script = r#"
import base64, json, ssl, sys, urllib.request
directory, path, body = sys.argv[1], sys.argv[2], sys.argv[3]
token = json.load(open(directory + "/incidents.secrets.json"))["responder_token"]
context = ssl.create_default_context(cafile=directory + "/ca.pem")
request = urllib.request.Request("https://localhost:443" + path, data=body.encode() if body else None)
request.add_header("Authorization", "Basic " + base64.b64encode(("security-on-call:" + token).encode()).decode())
print(urllib.request.urlopen(request, context=context, timeout=5).read().decode())
"#;
    let output = Command::new(python())
        .args(["-c", script])
        .arg(&cluster.dir)
        .arg(path)
        .arg(body.unwrap_or(""))
        .output()
        .unwrap();
    serde_json::from_slice(&output.stdout).unwrap_or_default()
}

fn failed_sign_ins(entries: &[serde_json::Value]) -> usize {
    entries.iter().filter(|e| e["event"]["action"] == "kafka.authentication.failed").count()
}

fn verify_log(cluster: &Cluster) -> (bool, String) {
    let output =
        Command::new(env!("CARGO_BIN_EXE_broker")).args(["verify-log", "--dir"]).arg(&cluster.dir).output().unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
#[ignore = "full tier: about 70 s of real time; the simulation pins the log store in the fast tier"]
fn wrong_secrets_reach_every_log_replica_and_one_changed_byte_is_found() {
    let mut cluster = Cluster::start();
    let wrong = cluster.dir.join("wrong.properties");
    let properties = std::fs::read_to_string(cluster.properties()).unwrap();
    let properties: String = properties
        .lines()
        .map(
            |line| {
                if line.starts_with("sasl.password=") {
                    "sasl.password=wrong".to_string()
                } else {
                    line.to_string()
                }
            },
        )
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&wrong, properties).unwrap();
    for _ in 0..20 {
        let _ = Command::new("timeout").args(["5", "kcat", "-F"]).arg(&wrong).args(["-L", "-m", "3"]).output().unwrap();
    }
    // Shipped within a linger and a round trip; replicas fill gaps from each other.
    let deadline = Instant::now() + Duration::from_secs(30);
    let counts = loop {
        let counts: Vec<usize> = (1..=3).map(|replica| failed_sign_ins(&entries(&cluster, replica))).collect();
        if counts.iter().all(|n| *n >= 20) || Instant::now() > deadline {
            break counts;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(counts.iter().filter(|n| **n >= 20).count() >= 2, "failed sign-ins per replica: {counts:?}");

    // Detection reads a replica a minute (each event is on two of three), the desk opens an
    // incident; the on-call sees it at the control plane.
    let deadline = Instant::now() + Duration::from_secs(200);
    let incident = loop {
        let incidents = desk(&cluster, "/v1/incidents", None)["incidents"].as_array().cloned().unwrap_or_default();
        let burst = incidents.into_iter().find(|i| {
            i["alerts"].as_array().is_some_and(|alerts| alerts.iter().any(|a| a["rule"] == "auth-failure-burst"))
        });
        match burst {
            Some(incident) => break incident,
            None if Instant::now() > deadline => {
                panic!("no incident within 200 s; detection.log:\n{}", cluster.log("detection.log"))
            }
            None => std::thread::sleep(Duration::from_secs(2)),
        }
    };
    assert_eq!(incident["alerts"][0]["network"], "127.0.0.1", "{incident}");
    let id = incident["id"].as_str().unwrap().to_string();
    let confirmed = desk(
        &cluster,
        &format!("/v1/incidents/{id}/confirm"),
        Some(r#"{"clusters":["lkc-dev"],"data":"none: sign-in failures only","summary":"test"}"#),
    );
    assert_eq!(confirmed["status"], "confirmed", "{confirmed}");
    let notice = cluster.dir.join(format!("mail/notices/{id}-notice.json"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !notice.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&notice).unwrap()).unwrap();
    assert_eq!(
        (written["incident"].as_str(), written["confirmed_ms"].clone()),
        (Some(id.as_str()), confirmed["confirmation"]["at_ms"].clone())
    );

    cluster.kill_log_store();
    let (verified, report) = verify_log(&cluster);
    assert!(verified, "{report}");
    assert_eq!(report.matches(": verified:").count(), 3, "{report}");

    // One byte of one entry of log-store-2, as someone with the disk would change it.
    let chain = cluster.dir.join("log-store-2/chain");
    let mut files: Vec<_> = std::fs::read_dir(&chain).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let file = files.iter().find(|f| std::fs::read_to_string(f).unwrap().contains("authentication.failed")).unwrap();
    let mut bytes = std::fs::read(file).unwrap();
    let at = bytes.windows(6).position(|w| w == b"failed").unwrap();
    bytes[at] = b'F';
    std::fs::write(file, bytes).unwrap();
    let (verified, report) = verify_log(&cluster);
    assert!(!verified, "{report}");
    assert!(report.contains("log-store-2: DOES NOT VERIFY") && report.contains("does not match its hash"), "{report}");
    assert_eq!(report.matches(": verified:").count(), 2, "{report}");
}
