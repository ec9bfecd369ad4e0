//! Starting and stopping real-mode dev clusters for tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static PORTS: Mutex<()> = Mutex::new(());

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// kafka-python's interpreter: `$FAULTLINE_PYTHON` or the workspace venv that ci/test.sh makes.
pub fn python() -> PathBuf {
    std::env::var_os("FAULTLINE_PYTHON").map(PathBuf::from).unwrap_or_else(|| workspace().join(".venv/bin/python"))
}

pub fn client_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(name)
}

/// Runs a command, failing the test with its output if it does not succeed.
pub fn run_ok(command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|e| {
        panic!("cannot run {command:?}: {e} (ci/test.sh installs kcat, openssl and the Python venv)")
    });
    assert!(
        output.status.success(),
        "{command:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub struct Cluster {
    pub dir: PathBuf,
    nodes: Vec<(i32, Child)>,
    control_plane: Option<Child>,
    kms: Option<Child>,
    log_store: Option<Child>,
    operators: Option<Child>,
    detection: Option<Child>,
    _ports: MutexGuard<'static, ()>,
}

impl Cluster {
    /// The key service, the control plane and three `broker node` processes (so each can be
    /// killed on its own).
    pub fn start() -> Cluster {
        let ports = PORTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let dir = std::env::temp_dir().join(format!(
            "faultline-it-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos() ^ rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        run_ok(Command::new(env!("CARGO_BIN_EXE_broker")).args(["init", "--dir"]).arg(&dir));
        let mut cluster = Cluster {
            dir,
            nodes: Vec::new(),
            control_plane: None,
            kms: None,
            log_store: None,
            operators: None,
            detection: None,
            _ports: ports,
        };
        cluster.start_kms();
        cluster.log_store = Some(cluster.spawn("log-store", "log-store.log"));
        cluster.operators = Some(cluster.spawn("operators", "operators.log"));
        cluster.start_control_plane();
        cluster.detection = Some(cluster.spawn("detection", "detection.log"));
        for id in 1..=3 {
            cluster.start_node(id);
        }
        cluster.wait_until_ready();
        cluster
    }

    pub fn start_node(&mut self, id: i32) {
        let log = std::fs::File::create(self.dir.join(format!("node-{id}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_broker"))
            .args(["node", "--id", &id.to_string(), "--dir"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("broker binary starts");
        self.nodes.push((id, child));
    }

    fn spawn(&self, command: &str, log: &str) -> Child {
        let log = std::fs::File::create(self.dir.join(log)).unwrap();
        Command::new(env!("CARGO_BIN_EXE_broker"))
            .args([command, "--dir"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("broker binary starts")
    }

    /// A process's log file in the cluster's directory, for a failing test's message.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// `broker control-plane`: its own process on 127.0.0.1:443.
    pub fn start_control_plane(&mut self) {
        self.control_plane = Some(self.spawn("control-plane", "control-plane.log"));
    }

    /// `broker kms`: the key service, its own process on 127.0.0.4:443.
    pub fn start_kms(&mut self) {
        self.kms = Some(self.spawn("kms", "kms.log"));
    }

    /// The process ids of the control plane and the nodes running now.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .map(|(_, child)| child.id())
            .chain(
                self.control_plane
                    .iter()
                    .chain(&self.kms)
                    .chain(&self.log_store)
                    .chain(&self.operators)
                    .chain(&self.detection)
                    .map(Child::id),
            )
            .collect()
    }

    /// How node `id`'s process ended, if it has (`None`: still running).
    pub fn node_exit(&mut self, id: i32) -> Option<std::process::ExitStatus> {
        let (_, child) = self.nodes.iter_mut().find(|(node, _)| *node == id).expect("a started node");
        child.try_wait().expect("the node's status")
    }

    /// `kill -9` of the control plane.
    pub fn kill_control_plane(&mut self) {
        if let Some(mut child) = self.control_plane.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// `kill -9` of the log store's process (its three replicas).
    pub fn kill_log_store(&mut self) {
        if let Some(mut child) = self.log_store.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// `kill -9`: no shutdown path runs.
    pub fn kill(&mut self, id: i32) {
        if let Some(index) = self.nodes.iter().position(|(n, _)| *n == id) {
            let (_, mut child) = self.nodes.remove(index);
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn properties(&self) -> PathBuf {
        self.dir.join("client.properties")
    }

    pub fn kcat(&self) -> Command {
        let mut command = Command::new("kcat");
        command.arg("-F").arg(self.properties());
        command
    }

    /// `kcat -P` of `values` to `topic`, each keyed `key-<index>` (librdkafka's partitioner
    /// spreads keyed records; keyless batches stick to one partition), with `settings` as
    /// `-X` pairs. Returns kcat's output; the caller judges its status and stderr.
    pub fn kcat_produce(&self, topic: &str, settings: &[&str], values: &[String]) -> std::process::Output {
        use std::io::Write;
        let mut command = self.kcat();
        command.args(["-P", "-t", topic, "-K", ":"]);
        for setting in settings {
            command.args(["-X", setting]);
        }
        let mut producer =
            command.stdin(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        let lines: Vec<String> = values.iter().enumerate().map(|(i, value)| format!("key-{i}:{value}")).collect();
        producer.stdin.take().unwrap().write_all((lines.join("\n") + "\n").as_bytes()).unwrap();
        producer.wait_with_output().unwrap()
    }

    /// Until kcat lists three brokers and the offsets topic has leaders (seen with the
    /// operator's key: tenants do not see the offsets topic).
    pub fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let output = Command::new("kcat")
                .arg("-F")
                .arg(self.dir.join("operator.properties"))
                .args(["-L", "-m", "5"])
                .output()
                .expect("kcat is installed (ci/test.sh installs it)");
            let listing = String::from_utf8_lossy(&output.stdout).to_string();
            if listing.contains("3 brokers") && listing.contains("__consumer_offsets") && !listing.contains("leader -1")
            {
                return;
            }
            assert!(Instant::now() < deadline, "cluster not ready after 60 s:\n{listing}\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        run_ok(Command::new(python()).arg(client_script("admin.py")).arg(self.properties()).args([
            name,
            &partitions.to_string(),
            "3",
        ]));
    }

    /// kafka-python producing acks=all to `topic` for `seconds` (its acknowledged values go
    /// to `acked.txt`); `finish_producer` waits for it and returns them.
    pub fn start_producer(&self, topic: &str, seconds: u32) -> Child {
        Command::new(python())
            .arg(client_script("produce_during_failover.py"))
            .arg(self.properties())
            .args([topic, &seconds.to_string()])
            .arg(self.dir.join("acked.txt"))
            .stdout(Stdio::piped())
            // A file, not a pipe: kafka-python's warnings during a failover could fill a pipe
            // nobody reads until the end and stall the producer.
            .stderr(std::fs::File::create(self.dir.join("producer.stderr")).unwrap())
            .spawn()
            .unwrap()
    }

    pub fn finish_producer(&self, producer: Child) -> Vec<String> {
        let output = producer.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "producer failed: {}{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            tail(&std::fs::read_to_string(self.dir.join("producer.stderr")).unwrap_or_default(), 40),
            self.logs()
        );
        lines(&self.dir.join("acked.txt"))
    }

    /// Every value in `topic`, read from offset 0 by kafka-python, in partition order.
    pub fn consume_all(&self, topic: &str) -> Vec<String> {
        let file = self.dir.join("consumed.txt");
        run_ok(
            Command::new(python()).arg(client_script("consume_all.py")).arg(self.properties()).arg(topic).arg(&file),
        );
        lines(&file)
    }

    pub fn logs(&self) -> String {
        ["kms".to_string(), "control-plane".into(), "node-1".into(), "node-2".into(), "node-3".into()]
            .iter()
            .map(|name| {
                format!(
                    "--- {name}\n{}",
                    tail(&std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default(), 30)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self
            .nodes
            .iter_mut()
            .map(|(_, child)| child)
            .chain(self.control_plane.as_mut())
            .chain(self.kms.as_mut())
            .chain(self.log_store.as_mut())
            .chain(self.operators.as_mut())
            .chain(self.detection.as_mut())
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
