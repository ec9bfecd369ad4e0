//! seed -> world -> schedule -> run -> check -> outcome. Each seed runs on a fresh OS thread
//! with its own madsim runtime (std's hashers are seeded once per thread; reusing a thread
//! across seeds broke replay).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use broker::planted_bugs::PlantedBugs;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{CreateTopicsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use serde::{Deserialize, Serialize};

use crate::checkers::kafka_history::{self as checker, CheckReport, ViolationKind};
use crate::faults;
use crate::history::{History, OpKind, Phases, PollOutcome, SendOutcome, TopicPartition};
use crate::outcome::FirstViolation;
pub use crate::outcome::{empty_report, ExpectationOutcome, PartitionRead, RunOutcome, RunRequest};
use crate::scenario::Fault;
use crate::scenario::{hex, ActionKind, ClientKind, Expectation, ExpectationName};
use crate::workload::client::ClusterClient;
use crate::workload::{consumer, producer, Recorder};
use crate::world::World;
use broker::control_plane::model::internal_topic_name;
use broker::control_plane::network::ConnectionType;

/// Runs one seed in a fresh worker process (`faultline seed-worker`). Same seed, same bytes
/// needs a fresh process, not just a fresh thread: measured here, a second seed run in one
/// process diverged from a fresh process within 100 simulated ms (process-global state in the
/// simulator outlives a run), which would make sweeps disagree with `replay`.
pub fn run_seed(request: &RunRequest) -> RunOutcome {
    run_seed_within(request, seed_timeout())
}

/// `run_seed` with an explicit wall-time limit for the worker.
pub fn run_seed_within(request: &RunRequest, timeout: Duration) -> RunOutcome {
    use std::io::Write;
    // An SLA month is many simulations: each runs in a worker of its own.
    if request.scenario.scenario.sla_month.as_ref().is_some_and(|m| m.episode.is_none()) {
        return crate::sla::run_month(request, |episode| run_seed_within(episode, timeout));
    }
    // Tests point this at the faultline binary; the CLI runs itself.
    let worker = std::env::var_os("FAULTLINE_WORKER")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::current_exe().expect("own executable"));
    let mut child = std::process::Command::new(worker)
        .arg("seed-worker")
        // mimalloc asks for transparent huge pages: a seed that allocates ~100 MB then faulted
        // and zeroed 2 MiB pages over and over (clear_page was 26 % of a seed, perf).
        .env("MIMALLOC_ALLOW_THP", "0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("a seed worker process starts");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(&serde_json::to_vec(request).expect("requests serialize"))
        .expect("the worker reads its job");
    // Read stdout on a thread: a large outcome must not block the worker on a full pipe, and
    // the worker's end of the pipe closing is when it is done (no polling of its status).
    let mut stdout = child.stdout.take().expect("piped");
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(format!("seed-{}-stdout", request.seed))
        .spawn(move || {
            let mut bytes = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stdout, &mut bytes);
            let _ = done.send(bytes);
        })
        .expect("a reader thread starts");
    let finished = match finished.recv_timeout(timeout) {
        Ok(stdout) => Some((stdout, child.wait().expect("a worker that closed its output is reaped"))),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    };
    let Some((mut stdout, status)) = finished else {
        let message = format!(
            "the seed worker ran for more than {} s of wall time and was stopped (FAULTLINE_SEED_TIMEOUT_S)",
            timeout.as_secs_f64()
        );
        return finding(request, ("seed", "hung"), message, 0);
    };
    match status.success().then(|| parse_outcome(&mut stdout)).flatten() {
        Some(outcome) => outcome,
        _ => match String::from_utf8_lossy(&stdout)
            .lines()
            .find_map(|line| line.strip_prefix(CRASH_MARKER))
            .and_then(|json| serde_json::from_str::<Crash>(json).ok())
        {
            // A broken invariant of the service is a safety finding; any other panic is a crash.
            Some(crash) if crash.message.starts_with(broker::INVARIANT_BROKEN) => {
                finding(request, ("invariants", "invariant-broken"), crash.message, crash.at_ms)
            }
            Some(crash) => finding(request, ("seed", "crashed"), crash.message, crash.at_ms),
            None => {
                let message = format!("the seed worker died ({status}) without a panic report");
                finding(request, ("seed", "crashed"), message, 0)
            }
        },
    }
}

/// The wall-time limit of one seed worker: `FAULTLINE_SEED_TIMEOUT_S`, 600 s by default (a
/// 10-simulated-minute seed takes about 2 s).
fn seed_timeout() -> Duration {
    let seconds = std::env::var("FAULTLINE_SEED_TIMEOUT_S").ok().and_then(|v| v.parse::<f64>().ok()).unwrap_or(600.0);
    Duration::from_secs_f64(seconds.max(0.0))
}

/// A worker's stdout line that reports a panic inside the simulation.
const CRASH_MARKER: &str = "faultline-crash ";

/// A panic inside the simulation: an assertion in the service under test (an invariant it
/// broke, such as truncating acknowledged records) or in the harness.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Crash {
    message: String,
    at_ms: u64,
}

thread_local! {
    /// Simulated t = 0 of the running seed, for panic reports.
    static SIMULATION_ZERO: std::cell::Cell<Option<madsim::time::Instant>> = const { std::cell::Cell::new(None) };
}

/// Reports a panic on stdout (for the parent) before the default report on stderr.
fn report_crashes() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let location = info.location().map(|l| format!(" ({}:{})", l.file(), l.line())).unwrap_or_default();
        let at_ms = SIMULATION_ZERO
            .with(|zero| zero.get())
            .filter(|_| madsim::time::TimeHandle::try_current().is_some())
            .map_or(0, |zero| zero.elapsed().as_millis() as u64);
        let crash = Crash { message: format!("{message}{location}"), at_ms };
        println!("{CRASH_MARKER}{}", serde_json::to_string(&crash).expect("crashes serialize"));
        default_hook(info);
    }));
}

/// The outcome of a seed that did not finish (a panic, a dead or hung worker): a finding, with
/// a capsule like any other, and the sweep goes on.
fn finding(request: &RunRequest, (expectation, kind): (&str, &str), message: String, at_ms: u64) -> RunOutcome {
    let schedule = request.schedule.clone().unwrap_or_else(|| faults::expand(&request.scenario.scenario, request.seed));
    let report = empty_report();
    RunOutcome {
        scenario: request.scenario.scenario.name.clone(),
        seed: request.seed,
        bugs: request.bugs.clone(),
        schedule,
        duration_s: request.duration_s.unwrap_or(request.scenario.scenario.duration_s),
        trace_hash: kind.to_string(),
        wire_hash: kind.to_string(),
        wire_bytes: 0,
        trace: String::new(),
        report,
        expectations: Vec::new(),
        converged_after_ms: None,
        violation: Some(FirstViolation { expectation: expectation.into(), kind: kind.into(), detail: message, at_ms }),
        simulated_ms: at_ms,
        partition_reads: Vec::new(),
        breach_notices: Vec::new(),
        recoveries: Vec::new(),
        timeline: None,
        down_ms: Vec::new(),
        sla: None,
        history_ops: 0,
        errors: Default::default(),
        wall_ms: 0.0,
        check_wall_ms: 0.0,
    }
}

/// The worker side: read a job on stdin, run it, print the outcome on stdout (`parse_outcome`).
pub fn seed_worker() -> std::process::ExitCode {
    use std::io::Write;
    let mut input = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut input).expect("stdin");
    let request: RunRequest = serde_json::from_slice(&input).expect("a run request on stdin");
    report_crashes();
    let mut outcome = run_seed_in_process(&request);
    let trace = std::mem::take(&mut outcome.trace);
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(trace.as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| serde_json::to_writer(&mut stdout, &outcome).map_err(std::io::Error::from))
        .and_then(|()| stdout.flush());
    if written.is_err() {
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}

/// A worker's stdout: the trace as it is, then the outcome without its trace as one line of JSON
/// (which has no raw newline). The trace as a JSON string (a few MB, an escape per line) made
/// the parent spend as much CPU parsing it as 5 % of the seed's own run (perf); first, it stays
/// where it was read and only the JSON is cut off its end (taking it out of the front copied it).
fn parse_outcome(stdout: &mut Vec<u8>) -> Option<RunOutcome> {
    let end = stdout.iter().rposition(|&b| b == b'\n')?;
    let mut outcome: RunOutcome = serde_json::from_slice(&stdout[end + 1..]).ok()?;
    stdout.truncate(end);
    outcome.trace = String::from_utf8(std::mem::take(stdout)).ok()?;
    Some(outcome)
}

/// Runs one seed on a fresh thread of this process (std's hashers are seeded per thread).
pub fn run_seed_in_process(request: &RunRequest) -> RunOutcome {
    let request = request.clone();
    // This seed's logs: to stderr as the CLI's filter says, and captured at info and above for
    // the secret-exposure check (madsim runs every simulated node on the seed's thread). Built
    // here, not on the seed's thread: the filter's hash maps would seed that thread's std
    // hasher before madsim does, and std hash maps would stop being deterministic.
    let capture = crate::checkers::secrets::LogCapture::default();
    let subscriber = {
        use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt};
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::Layer;
        // madsim opens a span per task and enters it on every poll; when no layer wants spans
        // they cost nothing (about 3 % of a seed otherwise). Only RUST_LOG asks for them (a replay
        // reading logs wants each line's node); by default stderr gets warnings without it.
        let stderr = match EnvFilter::try_from_default_env() {
            Ok(filter) => FilterExt::boxed(filter),
            Err(_) => FilterExt::boxed(filter_fn(|meta| meta.is_event() && *meta.level() <= tracing::Level::WARN)),
        };
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_filter(stderr),
            )
            .with(
                capture.clone().with_filter(filter_fn(|meta| meta.is_event() && *meta.level() <= tracing::Level::INFO)),
            )
    };
    std::thread::Builder::new()
        .name(format!("seed-{}", request.seed))
        .spawn(move || {
            let started = std::time::Instant::now();
            // The runtime is made inside the seed's subscriber: its node spans belong to it.
            let simulated = tracing::subscriber::with_default(subscriber, || {
                let mut runtime =
                    madsim::runtime::Runtime::with_seed_and_config(request.seed, madsim::Config::default());
                let scenario = &request.scenario.scenario;
                let duration = request.duration_s.unwrap_or(scenario.duration_s);
                // The security services' stretch past the cluster's part, if any.
                let after_s = scenario.log_store.as_ref().map_or(0, |l| l.end_ms(duration) / 1000 - duration);
                // And the jump of the simulated wall clock to a breach's calendar (madsim's
                // clock starts in the year after 52 years of 365 days, from mid-December 2021):
                // at most the start's distance from December 2021.
                let calendar_s = scenario.breach.as_ref().map_or(0, |b| {
                    const DECEMBER_2021_MS: u64 = 1_638_316_800_000;
                    b.start_unix_ms(1.0).saturating_sub(DECEMBER_2021_MS) / 1000
                });
                runtime.set_time_limit(Duration::from_secs(
                    duration + scenario.liveness.converge_within_s + 600 + after_s + calendar_s,
                ));
                runtime.block_on(simulate(request.clone()))
            });
            let mut outcome = check_run(&request, simulated, &capture.lines());
            outcome.wall_ms = started.elapsed().as_secs_f64() * 1000.0;
            outcome
        })
        .expect("a seed thread starts")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the client of a topic with a retention writes a record to it (C13).
const RETENTION_WRITE_INTERVAL: Duration = Duration::from_millis(100);

async fn simulate(request: RunRequest) -> Simulated {
    let scenario = &request.scenario.scenario;
    let seed = request.seed;
    let duration_s = request.duration_s.unwrap_or(scenario.duration_s);
    let bugs = planted_bugs(&request.bugs);
    let schedule = request.schedule.clone().unwrap_or_else(|| faults::expand(scenario, seed));
    let window = match (schedule.iter().map(|f| f.start_ms).min(), schedule.iter().map(|f| f.end_ms).max()) {
        (Some(start), Some(end)) => (start, end),
        _ => (duration_s * 1000, duration_s * 1000),
    };
    if let Some(breach) = &scenario.breach {
        // The simulated wall clock starts at the scenario's calendar time (C23), before any
        // machine or certificate exists.
        let jitter = (crate::seeds::derive(seed, crate::seeds::Stream::Breach, 0) >> 11) as f64 / (1u64 << 53) as f64;
        let start = breach.start_unix_ms(jitter);
        let now = broker::clock::wall_clock_ms();
        madsim::time::advance(Duration::from_millis(start.saturating_sub(now)));
    }
    let workers = (scenario.workload.producers + scenario.workload.consumers) as usize;
    // Links are relayed (for per-link latency and loss) only when the schedule impairs some.
    let impairs_links = schedule
        .iter()
        .any(|f| matches!(f.kind, crate::scenario::FaultKind::Latency | crate::scenario::FaultKind::Loss));
    let access_clients = scenario.control_plane.clients.len();
    // One client machine for each topic with a retention (its writer and reader, C13).
    let retention_clients = scenario.topics.iter().filter(|t| t.retention_ms.is_some()).count();
    let world = std::sync::Arc::new(World::build(
        seed,
        workers + 2 + access_clients + retention_clients,
        scenario.network.as_ref(),
        bugs,
        impairs_links,
        crate::world::Optional {
            other_region: scenario.region.is_some(),
            byok: scenario.keys.byok,
            log_store: scenario.log_store.is_some(),
            operators: scenario.operators.is_some(),
            breach: scenario
                .breach
                .as_ref()
                .map(|b| crate::world::security_ops::DeskPlan { rota: b.oncall.rota.clone(), calendar: b.calendar() }),
        },
    ));
    let mut trace = vec![format!("0 knobs {}", crate::world::Knobs::from_seed(seed))];
    let topic_names: Vec<String> = scenario.topics.iter().map(|t| t.name.clone()).collect();
    // The harness's operator creates the topics and judges convergence on the physical
    // cluster, where the organization's cluster's topics carry its prefix (C28).
    let internal = |name: &str| internal_topic_name(&world.organization.cluster_id, name);
    let all_topics: Vec<(String, i32)> = scenario.topics.iter().map(|t| (internal(&t.name), t.partitions)).collect();
    let operator_topics: Vec<String> = all_topics.iter().map(|t| t.0.clone()).collect();
    // The workload's topics (control-plane clients write elsewhere: the history checker must
    // know every record in what it reads).
    let topics: Vec<(String, i32)> =
        scenario.topics.iter().filter(|t| t.workload).map(|t| (t.name.clone(), t.partitions)).collect();

    // Setup (before t = 0): create the topics once the cluster has a controller.
    let admin_machine = world.clients[workers].clone();
    let (dialer, credentials) = world.operator_identity(&admin_machine, 0);
    let mut admin = ClusterClient::new(dialer, credentials, world.endpoints(&admin_machine, 0));
    let retention: BTreeMap<String, u64> =
        scenario.topics.iter().filter_map(|t| Some((internal(&t.name), t.retention_ms?))).collect();
    // Partition directories are `<topic>-<partition>`: the tap dates their segments (C13).
    for topic in retention.keys() {
        world.disk_tap.track_segments(format!("{topic}-"));
    }
    let setup = madsim::runtime::Handle::current().get_node(admin_machine.id).expect("admin node").spawn({
        let topics = all_topics.clone();
        let retention = retention.clone();
        let names = operator_topics.clone();
        async move {
            let deadline = tokio::time::Instant::now() + SETUP_TIMEOUT;
            let mut created = BTreeSet::new();
            while tokio::time::Instant::now() < deadline {
                for (name, partitions) in &topics {
                    if created.contains(name) {
                        continue;
                    }
                    let configs = retention.get(name).map(|ms| {
                        kafka_protocol::messages::create_topics_request::CreatableTopicConfig::default()
                            .with_name(StrBytes::from_static_str("retention.ms"))
                            .with_value(Some(StrBytes::from_string(ms.to_string())))
                    });
                    let request = CreateTopicsRequest::default().with_timeout_ms(5_000).with_topics(vec![
                        CreatableTopic::default()
                            .with_name(TopicName(StrBytes::from_string(name.clone())))
                            .with_num_partitions(*partitions)
                            .with_replication_factor(3)
                            .with_configs(configs.into_iter().collect()),
                    ]);
                    if let Ok(response) = admin.send(1 + (created.len() as i32 % 3), request, 5).await {
                        let code = response.topics[0].error_code;
                        if code == 0 || code == kafka_protocol::ResponseError::TopicAlreadyExists.code() {
                            created.insert(name.clone());
                        }
                    }
                }
                if created.len() == topics.len() && admin.cluster_healthy(&names).await.is_ok() {
                    return (admin, true);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            (admin, false)
        }
    });
    let (mut admin, ready) = setup.await.expect("setup task");
    assert!(ready, "seed {seed}: the cluster did not become ready within {SETUP_TIMEOUT:?} of simulated time");
    // The scenario's service accounts, through the REST API as the organization admin; then a
    // few pull intervals for every broker to know their keys.
    // Tenants first (their clusters), then every account: the scenario's and each tenant's
    // own application.
    let tenants = &scenario.control_plane.tenants;
    for tenant in tenants {
        let canary = crate::workload::tenants::tenant_canary(seed, &tenant.name);
        world.disk_tap.watch(format!("tenant {}'s record data", tenant.name), canary);
    }
    let (tenant_clusters, accounts, setup_mutations) = if scenario.control_plane.service_accounts.is_empty()
        && tenants.is_empty()
    {
        (BTreeMap::new(), BTreeMap::new(), Vec::new())
    } else {
        let cloud = world.cloud_client(&admin_machine, 0);
        let (cluster_id, environment_id) =
            (world.organization.cluster_id.clone(), world.organization.environment_id.clone());
        let mut specs = scenario.control_plane.service_accounts.clone();
        specs.extend(tenants.iter().map(crate::workload::tenants::application));
        let tenants = tenants.clone();
        let created = madsim::runtime::Handle::current()
            .get_node(admin_machine.id)
            .expect("admin node")
            .spawn(async move {
                let (clusters, mut mutations) =
                    crate::workload::tenants::create_clusters(&cloud, &environment_id, &tenants).await?;
                let (accounts, more) =
                    crate::workload::access::create_service_accounts(&cloud, &cluster_id, &clusters, &specs).await?;
                mutations.extend(more);
                tokio::time::sleep(3 * broker::control_plane::link::PULL_INTERVAL).await;
                Ok::<_, String>((clusters, accounts, mutations))
            })
            .await
            .expect("service-account setup task");
        created.unwrap_or_else(|error| panic!("seed {seed}: cannot create the scenario's service accounts: {error}"))
    };
    // Each tenant's application writes its topics, from a host in the tenant's region.
    for (index, tenant) in tenants.iter().enumerate() {
        let key = &accounts[&crate::workload::tenants::application(tenant).name].key;
        let (machine, site) = match (&world.other_region, tenant.region.as_deref()) {
            (Some(other), Some(region)) if region == other.site.region => (other.client.clone(), other.site),
            _ => (admin_machine.clone(), &crate::world::CHOSEN_SITE),
        };
        let (dialer, credentials) = world.client_with_key(&machine, 30_000 + index as u64, key);
        let client = ClusterClient::new(dialer, credentials, world.endpoints_in(&machine, 30_000 + index as u64, site));
        let (topics, canary) = (tenant.topics.clone(), crate::workload::tenants::tenant_canary(seed, &tenant.name));
        let filled = madsim::runtime::Handle::current()
            .get_node(machine.id)
            .expect("admin node")
            .spawn(async move { crate::workload::tenants::fill(client, &topics, &canary).await })
            .await
            .expect("tenant setup task");
        filled.unwrap_or_else(|error| panic!("seed {seed}: tenant {}: {error}", tenant.name));
    }

    // The run: t = 0 now.
    SIMULATION_ZERO.with(|zero| zero.set(Some(madsim::time::Instant::now())));
    let mut recorder = Recorder::new(window, crate::workload::canary(request.seed));
    if scenario.workload.protected_field {
        let fields = crate::workload::ProtectedFields::new(seed, bugs);
        world.disk_tap.watch("a protected field (the run's field canary)".into(), fields.canary.to_vec());
        recorder.fields = Some(std::sync::Arc::new(fields));
    }
    let high_watermark_regressions = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let high_watermark_watch = tokio::spawn(crate::checkers::high_watermarks::watch(
        world.clone(),
        recorder.clone(),
        high_watermark_regressions.clone(),
    ));
    let handle = madsim::runtime::Handle::current();
    let mut tasks = Vec::new();
    for index in 0..workers {
        let machine = world.clients[index].clone();
        let (dialer, credentials) = world.client_identity(&machine, index as u64 + 1);
        let client = ClusterClient::new(dialer, credentials, world.endpoints(&machine, index as u64 + 1));
        let node = handle.get_node(machine.id).expect("client node");
        let (recorder, topics) = (recorder.clone(), topics.clone());
        let process = index as u32;
        if index < scenario.workload.producers as usize {
            let interval = Duration::from_millis(scenario.workload.produce_interval_ms);
            tasks.push(node.spawn(producer::run(client, recorder, process, topics, interval)));
        } else {
            let commit = Duration::from_millis(scenario.workload.commit_interval_ms);
            tasks.push(node.spawn(consumer::run(client, recorder, process, topics, commit)));
        }
    }
    // The service programs its route tables and public endpoints from the control plane's
    // records (C05, C06); worlds whose records never change them skip the reading.
    if world.network.is_some() || schedule.iter().any(|f| f.kind == crate::scenario::FaultKind::DnsChange) {
        // Not among the workload's tasks: it runs until the world ends (the drain needs routes).
        let world = world.clone();
        drop(tokio::spawn(async move {
            loop {
                world.sync_routes();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }));
    }
    // An outsider on the internet against a cluster without public endpoints (C05).
    let outsider_log = crate::workload::privatelink::OutsiderLog::default();
    if let Some(outsider) = &world.outsider {
        let (dialer, credentials) =
            world.client_with_key(outsider, 41_000, &("OUTSIDER".to_string(), "not-a-secret".to_string()));
        let probe = crate::workload::privatelink::outsider(
            dialer,
            credentials,
            world.public_endpoints(),
            recorder.clone(),
            outsider_log.clone(),
        );
        tasks.push(handle.get_node(outsider.id).expect("outsider node").spawn(probe));
    }
    // PrivateLink probes: the service side dialing into the PrivateLink VPC, and a client there
    // without the DNS override (C05, C06).
    if let (Some(nlb), Some(probe)) = (&world.nlb, &world.privatelink_probe) {
        let mut targets: Vec<std::net::SocketAddr> = world
            .all_machines()
            .filter(|m| {
                world.fabric.lock().unwrap().homes.get(&m.name)
                    == Some(&crate::world::Home::Network(crate::world::PRIVATE_LINK_NETWORK.into()))
            })
            .map(|m| std::net::SocketAddr::new(m.ip, broker::node::BROKER_PORT))
            .collect();
        targets.extend(
            world
                .fabric
                .lock()
                .unwrap()
                .endpoints
                .keys()
                .map(|ip| std::net::SocketAddr::new(*ip, broker::node::BROKER_PORT)),
        );
        for prober in [nlb, &world.brokers[0]] {
            let node = handle.get_node(prober.id).expect("service node");
            let probe =
                crate::workload::privatelink::reverse_probe(world.dialer_of(prober), targets.clone(), recorder.clone());
            tasks.push(node.spawn(probe));
        }
        let (dialer, credentials) = world.client_identity(probe, 40_000);
        let client = ClusterClient::new(dialer, credentials, world.endpoints(probe, 40_000));
        tasks.push(
            handle
                .get_node(probe.id)
                .expect("probe node")
                .spawn(crate::workload::privatelink::unnamed_client(client, recorder.clone())),
        );
    }
    // Control-plane clients with the scenario's keys, and its timed actions.
    let access = crate::checkers::access::AccessLog::default();
    access.mutations.lock().unwrap().extend(setup_mutations);
    let tenant_log = crate::checkers::tenants::TenantLog::default();
    let greedy_log = crate::checkers::quotas::GreedyLog::default();
    for (index, spec) in scenario.control_plane.clients.iter().enumerate() {
        let machine = world.clients[workers + 2 + index].clone();
        let key = &accounts[&spec.service_account].key;
        let (dialer, credentials) = world.client_with_key(&machine, 20_000 + index as u64, key);
        let client = ClusterClient::new(dialer, credentials, world.endpoints(&machine, 20_000 + index as u64));
        let node = handle.get_node(machine.id).expect("client node");
        if let (ClientKind::TenantProber, Some(rival)) = (spec.kind, &spec.rival) {
            let tenant = tenants.iter().find(|t| &t.name == rival).expect("validated: a tenant");
            let rival = crate::workload::tenants::Rival {
                cluster_id: tenant_clusters[rival].clone(),
                principal: format!("User:{}", accounts[&crate::workload::tenants::application(tenant).name].id),
                topics: spec.topics.clone(),
                canary: crate::workload::tenants::tenant_canary(seed, rival),
            };
            let (recorder, log, own) = (recorder.clone(), tenant_log.clone(), topic_names.clone());
            let interval = Duration::from_millis(spec.interval_ms);
            tasks.push(node.spawn(crate::workload::tenants::probe(client, recorder, log, own, rival, interval)));
            continue;
        }
        let (greedy, topic) = (greedy_log.clone(), spec.topics[0].clone());
        match spec.kind {
            ClientKind::GreedyProducer => {
                tasks.push(node.spawn(crate::workload::quotas::run(client, recorder.clone(), greedy, topic)));
                continue;
            }
            ClientKind::GreedyConsumer => {
                tasks.push(node.spawn(crate::workload::quotas::consume(client, recorder.clone(), greedy, topic)));
                continue;
            }
            _ => {}
        }
        let (recorder, access, name, topics) =
            (recorder.clone(), access.clone(), spec.service_account.clone(), spec.topics.clone());
        let interval = Duration::from_millis(spec.interval_ms);
        tasks.push(
            node.spawn(crate::workload::access::run_client(
                spec.kind, client, recorder, access, name, topics, interval,
            )),
        );
    }
    // Each topic with a retention written and read as a client sees it (C13: readable until
    // its retention is up).
    let retention_logs: Vec<(String, u64, crate::checkers::retention::RetentionLog)> = scenario
        .topics
        .iter()
        .filter_map(|t| Some((t, t.retention_ms?)))
        .enumerate()
        .map(|(index, (topic, retention_ms))| {
            let machine = world.clients[workers + 2 + access_clients + index].clone();
            let id = 30_000 + index as u64;
            let (dialer, credentials) = world.client_identity(&machine, id);
            let client = ClusterClient::new(dialer, credentials, world.endpoints(&machine, id));
            let log = crate::checkers::retention::RetentionLog::default();
            let run = crate::workload::retention::run(
                client,
                recorder.clone(),
                log.clone(),
                topic.name.clone(),
                topic.partitions,
                RETENTION_WRITE_INTERVAL,
            );
            tasks.push(handle.get_node(machine.id).expect("client node").spawn(run));
            (topic.name.clone(), retention_ms, log)
        })
        .collect();
    // The log store's source and tamperer (C12): until the whole run's end, past the cluster's.
    let log_store_log = crate::workload::log_store::LogStoreLog::default();
    if let (Some(spec), Some(site)) = (&scenario.log_store, &world.log_store) {
        use crate::world::log_store::{link, SOURCE, TAMPERER};
        let end_ms = spec.end_ms(duration_s);
        let node = handle.get_node(site.ops.id).expect("security-operations node");
        let dialer = world.dialer_of(&site.ops);
        let shipper =
            broker::log_store::shipper::LogShipper::new(&link(SOURCE), world.log_store_tls(0), dialer.clone());
        let (events, _) = broker::log_store::shipper::SecurityEvents::channel(SOURCE, "0");
        let interval = Duration::from_secs_f64(spec.source_interval_s);
        let source = crate::workload::log_store::source(
            shipper,
            events,
            log_store_log.clone(),
            recorder.started,
            interval,
            end_ms,
        );
        drop(node.spawn(source));
        if let Some(every) = spec.tamper_interval_s {
            let agent = link(TAMPERER);
            let replicas = crate::world::log_store::REPLICAS
                .iter()
                .zip(agent.endpoints)
                .map(|((name, _, _), endpoint)| {
                    let client = broker::net::https_client::HttpsClient::new(
                        endpoint,
                        world.log_store_tls(1),
                        dialer.clone(),
                        &agent.principal,
                        &agent.token,
                    );
                    (name.to_string(), client)
                })
                .collect();
            let tamperer = crate::workload::log_store::tamperer(
                replicas,
                log_store_log.clone(),
                recorder.started,
                Duration::from_secs_f64(every),
                end_ms,
            );
            drop(node.spawn(tamperer));
        }
    }
    // The people at the bastions (C10), from the security-operations host, for the cluster's part.
    let operator_log = crate::workload::operators::OperatorLog::default();
    if let (Some(spec), Some(ops), Some(_)) = (&scenario.operators, &world.log_store, &world.operators) {
        use crate::world::operators::{bastion_endpoint, directory_endpoint, token, ADMIN, BASTION_SECRET};
        let node = handle.get_node(ops.ops.id).expect("security-operations node");
        let dialer = world.dialer_of(&ops.ops);
        let admin = std::sync::Arc::new(broker::net::https_client::HttpsClient::new(
            directory_endpoint(),
            world.log_store_tls(2),
            dialer.clone(),
            ADMIN,
            &token(ADMIN),
        ));
        let brokers: Vec<(std::net::SocketAddr, String)> = world
            .brokers
            .iter()
            .map(|b| (std::net::SocketAddr::new(b.ip, broker::node::BROKER_PORT), b.ip.to_string()))
            .collect();
        for (index, person) in spec.people.iter().enumerate() {
            let tls = world.log_store_tls(10 + index as u64);
            let reach = crate::workload::operators::Reach {
                admin: admin.clone(),
                bastion: broker::net::https_client::HttpsClient::with_authorization(
                    bastion_endpoint(index % 3),
                    tls.clone(),
                    dialer.clone(),
                    None,
                ),
                direct: (
                    dialer.clone(),
                    brokers.clone(),
                    broker::client::ClientCredentials {
                        tls,
                        api_key: broker::operators::BASTION_API_KEY.into(),
                        secret: BASTION_SECRET.into(),
                    },
                ),
            };
            let task = crate::workload::operators::person(
                person.clone(),
                reach,
                operator_log.clone(),
                recorder.started,
                duration_s * 1000,
            );
            drop(node.spawn(task));
        }
    }
    // The breach (C23): the attacker, the rota behind the pager, the customer behind its inbox,
    // and the faults of detection and of the notice channel, to the whole run's end.
    let breach_log = crate::workload::breaches::BreachLog::default();
    if let (Some(spec), Some(site)) = (&scenario.breach, &world.security_ops) {
        start_breach(spec, site, &world, &topic_names, &breach_log, &recorder, &mut trace);
    }
    let provision_log = crate::checkers::provisioning::ProvisionLog::default();
    if let Some(provisioner) = &scenario.control_plane.provisioner {
        let cloud = world.cloud_client(&admin_machine, 500);
        let (recorder, log, audit) = (recorder.clone(), provision_log.clone(), access.clone());
        let (environment_id, interval) =
            (world.organization.environment_id.clone(), Duration::from_millis(provisioner.interval_ms));
        tasks.push(handle.get_node(admin_machine.id).expect("admin node").spawn(crate::workload::provisioning::run(
            cloud,
            recorder,
            log,
            audit,
            environment_id,
            interval,
        )));
    }
    // The customer asks for another cluster in its region (C07).
    let region_log = crate::workload::regions::RegionLog::default();
    if let Some(region) = &scenario.region {
        let cloud = world.cloud_client(&admin_machine, 800);
        let (recorder, log, audit) = (recorder.clone(), region_log.clone(), access.clone());
        let (world, machine, environment_id) =
            (world.clone(), admin_machine.clone(), world.organization.environment_id.clone());
        let at_ms = (region.provision_at_s * 1000.0) as u64;
        tasks.push(handle.get_node(admin_machine.id).expect("admin node").spawn(async move {
            sleep_until(&recorder, at_ms).await;
            crate::workload::regions::provision(world, machine, cloud, recorder, log, audit, environment_id).await;
        }));
    }
    let sign_in_log = crate::checkers::sign_in::SignInLog::default();
    if let Some(sign_in) = &scenario.control_plane.sign_in {
        let admin = world.cloud_client(&admin_machine, 600);
        let clients: crate::workload::sign_in::Clients = {
            let (world, machine) = (world.clone(), admin_machine.clone());
            let next = std::sync::atomic::AtomicU64::new(0);
            Box::new(move |authorization| {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                world.session_client(&machine, index, authorization)
            })
        };
        let idp = crate::workload::sign_in::IdentityProvider {
            issuer: crate::world::control_plane::IDP_ISSUER.into(),
            key: crate::world::control_plane::identity_provider(seed),
            forger: crate::world::control_plane::identity_provider(seed ^ 0x5eed),
        };
        let password =
            format!("password-{:016x}", crate::seeds::derive(seed, crate::seeds::Stream::ControlPlane, 2_000));
        let (recorder, log) = (recorder.clone(), sign_in_log.clone());
        let interval = Duration::from_millis(sign_in.interval_ms);
        tasks.push(
            handle
                .get_node(admin_machine.id)
                .expect("admin node")
                .spawn(crate::workload::sign_in::run(admin, clients, idp, password, recorder, log, interval)),
        );
    }
    for (index, action) in scenario.control_plane.actions.iter().enumerate() {
        let cloud = world.cloud_client(&admin_machine, 1 + index as u64);
        let (recorder, access) = (recorder.clone(), access.clone());
        let at_ms = (action.at_s * 1000.0) as u64;
        let node = handle.get_node(admin_machine.id).expect("admin node");
        match (action.action, &action.service_account, &action.tenant) {
            (ActionKind::DeleteKey, Some(name), _) => {
                let (name, key_id) = (name.clone(), accounts[name].key.0.clone());
                tasks.push(node.spawn(async move {
                    sleep_until(&recorder, at_ms).await;
                    crate::workload::access::delete_key(cloud, recorder, access, name, key_id).await;
                }));
            }
            (ActionKind::DeleteCluster, _, Some(tenant)) => {
                // The tenant's own application and every account the scenario gave it.
                let application = crate::workload::tenants::application(
                    tenants.iter().find(|t| &t.name == tenant).expect("validated: a tenant"),
                );
                let service_accounts = std::iter::once(application.name)
                    .chain(
                        scenario
                            .control_plane
                            .service_accounts
                            .iter()
                            .filter(|a| a.tenant.as_ref() == Some(tenant))
                            .map(|a| a.name.clone()),
                    )
                    .collect();
                let deletion = crate::checkers::access::ClusterDeletion {
                    tenant: tenant.clone(),
                    cluster_id: tenant_clusters[tenant].clone(),
                    service_accounts,
                    requested_ms: at_ms,
                    acknowledged_ms: None,
                };
                tasks.push(node.spawn(async move {
                    sleep_until(&recorder, at_ms).await;
                    crate::workload::access::delete_cluster(cloud, recorder, access, deletion).await;
                }));
            }
            _ => unreachable!("validated: a delete-key names an account, a delete-cluster a tenant"),
        }
    }
    // The hand on the cluster's master key (C09): the `[keys]` timeline, at the key service's
    // store as the key's owner.
    let key_events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let key_timeline = scenario.keys.timeline(duration_s);
    if !key_timeline.is_empty() {
        let (world, recorder, events) = (world.clone(), recorder.clone(), key_events.clone());
        tasks.push(handle.get_node(admin_machine.id).expect("admin node").spawn(async move {
            for (at_ms, action) in key_timeline {
                sleep_until(&recorder, at_ms).await;
                let outcome = world.act_on_master_key(action);
                tracing::info!(action = action.name(), ?outcome, "key action");
                let at_ms = recorder.now_ms();
                events.lock().unwrap().push(crate::checkers::keys::KeyEvent { at_ms, action, outcome });
            }
        }));
    }
    // The nemesis: apply the schedule in time order.
    let mut timeline: Vec<(u64, bool, usize)> =
        schedule.iter().enumerate().flat_map(|(i, f)| [(f.start_ms, true, i), (f.end_ms, false, i)]).collect();
    timeline.sort();
    let mut active = std::collections::BTreeMap::new();
    let mut process_down: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    // The control plane's state when its zone was lost (C21: the restore must keep it).
    let mut control_plane_losses = Vec::new();
    for (at_ms, starting, index) in timeline {
        sleep_until(&recorder, at_ms).await;
        if starting {
            if schedule[index].kind == crate::scenario::FaultKind::ZoneLoss
                && schedule[index].target == Some(crate::scenario::Group::ControlPlane)
            {
                control_plane_losses.push((at_ms, world.control_plane_records()));
            }
            let started = faults::start(&world, &schedule[index]);
            // Processes that stop: nothing of theirs runs (retention included) until the end.
            if matches!(
                schedule[index].kind,
                crate::scenario::FaultKind::KillNode
                    | crate::scenario::FaultKind::ZoneOutage
                    | crate::scenario::FaultKind::ZoneLoss
                    | crate::scenario::FaultKind::Pause
                    | crate::scenario::FaultKind::RegionOutage
            ) {
                let (start, end) =
                    (world.disk_tap.now_ms(), world.disk_tap.now_ms() + (schedule[index].end_ms - at_ms));
                for machine in &started.machines {
                    process_down.entry(machine.clone()).or_default().push((start, end));
                }
            }
            trace.push(format!(
                "{at_ms} fault-start {} on {:?} peers {:?}",
                schedule[index], started.machines, started.peers
            ));
            tracing::info!(fault = %schedule[index], machines = ?started.machines, "fault starts");
            active.insert(index, started);
        } else if let Some(started) = active.remove(&index) {
            faults::end(&world, &started);
            trace.push(format!("{at_ms} fault-end {}", schedule[index]));
            tracing::info!(fault = %schedule[index], "fault ends");
        }
    }
    sleep_until(&recorder, duration_s * 1000).await;

    // Liveness: the cluster must converge (full ISR, leaders, consumers caught up) in bound.
    let liveness_start = recorder.now_ms();
    // What the disks hold when the faults end: a write acknowledged by then and on no disk is
    // lost, whatever the liveness phase does.
    let surveys = {
        let history = recorder.history.lock().unwrap();
        crate::checkers::replicas::surveys(&world, &history, internal, liveness_start)
    };
    let bound_ms = scenario.liveness.converge_within_s * 1000;
    // Probed from the admin client's machine: the simulation's main task has no network identity.
    let liveness = handle.get_node(admin_machine.id).expect("admin node").spawn({
        let (recorder, topic_names) = (recorder.clone(), operator_topics.clone());
        let consumers = scenario.workload.consumers;
        async move {
            let mut not_converged = String::new();
            while recorder.now_ms() - liveness_start <= bound_ms {
                let healthy = admin.cluster_healthy(&topic_names).await;
                let caught_up = consumers == 0 || consumers_caught_up(&recorder.history.lock().unwrap());
                match (healthy, caught_up) {
                    (Ok(()), true) => return (Some(recorder.now_ms() - liveness_start), not_converged),
                    (Err(problem), _) => not_converged = problem.to_string(),
                    (Ok(()), false) => not_converged = "consumers have not read every acknowledged write".into(),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            (None, not_converged)
        }
    });
    let (converged_after_ms, not_converged) = liveness.await.expect("liveness task");
    trace.push(format!(
        "{} liveness {:?} {}",
        recorder.now_ms(),
        converged_after_ms,
        if converged_after_ms.is_none() { not_converged.as_str() } else { "" }
    ));
    recorder.stop.store(true, Ordering::Relaxed);
    let _ = high_watermark_watch.await;
    for task in tasks {
        let _ = broker::clock::timeout(Duration::from_secs(40), task).await;
    }
    // The audit topic against the control plane's log (C18): wait for the shipper to cover what
    // the log held now, then read the topic as a consumer would.
    let audit = {
        let (dialer, credentials) = world.client_identity(&admin_machine, 9_998);
        let mut client = ClusterClient::new(dialer, credentials, world.endpoints(&admin_machine, 9_998));
        let world = world.clone();
        let recorder = recorder.clone();
        handle
            .get_node(admin_machine.id)
            .expect("admin node")
            .spawn(async move {
                let covered = world.control_plane_records().audit.len();
                let deadline = recorder.now_ms() + AUDIT_CATCH_UP_MS;
                let mut topic = Err("not read".to_string());
                while recorder.now_ms() <= deadline {
                    topic = crate::workload::access::read_audit_topic(&mut client).await;
                    if topic.as_ref().is_ok_and(|values| values.len() >= covered) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                (world.control_plane_records().audit, covered, topic)
            })
            .await
            .expect("audit read task")
    };
    // Secrets (C15): every one the harness was given, looked for on every disk and in every
    // response the control plane gives afterwards (the log lines are searched after the run).
    let mut secrets = vec![
        ("the workload's API secret".to_string(), world.organization.workload_key.1.clone()),
        ("the harness's cloud API secret".to_string(), world.organization.cloud_key.1.clone()),
    ];
    secrets.extend(accounts.iter().map(|(name, account)| (format!("{name}'s API secret"), account.key.1.clone())));
    // Every disk of the world, read once: searched for secrets here (C15), for keys below (C08).
    let images: Vec<crate::checkers::at_rest::DiskImage> = world
        .disks
        .iter()
        .chain(std::iter::once((&"control-plane backup".to_string(), &world.control_plane_backup)))
        .map(|(machine, disk)| (machine.clone(), crate::world::files_of(disk)))
        .collect();
    let disk_files = images.iter().flat_map(|(machine, files)| {
        files.iter().map(move |(file, bytes)| (format!("{machine}'s disk, file {file}"), bytes.as_slice()))
    });
    let files_scanned = images.iter().map(|(_, files)| files.len()).sum::<usize>();
    let responses = {
        let cloud = world.cloud_client(&admin_machine, 99);
        let cluster_id = world.organization.cluster_id.clone();
        handle
            .get_node(admin_machine.id)
            .expect("admin node")
            .spawn(async move { crate::workload::access::read_everything(&cloud, &cluster_id).await })
            .await
            .expect("control-plane read task")
    };
    let secret_exposures = crate::checkers::secrets::exposures(
        &secrets,
        disk_files
            .chain(responses.iter().map(|(target, body)| (format!("the response to GET {target}"), body.as_slice()))),
    );
    let secret_scans = files_scanned + responses.len();
    // At rest (C08): what the disk tap saw as it was written, and every key searched for on
    // every service disk as the run ends.
    let tap = world.disk_tap.findings();
    let materials = crate::world::sealed::key_material(&images, &world.key_services());
    let keys_on_disks = crate::checkers::at_rest::key_material_on_disks(&images, &materials);
    // The keys customers gave their clusters (one customer may give several clusters one key).
    let customer_keys: BTreeSet<String> =
        world.organization.byok.then(|| world.organization.master_key.clone()).into_iter().collect();
    let (shared_master_keys, tenant_key_files) = crate::checkers::at_rest::shared_master_keys(&images, &customer_keys);
    // Secure deletion (C13): what is left of deleted clusters on every disk as the run ends.
    let cluster_deletions = access.cluster_deletions.lock().unwrap().clone();
    // A deleted cluster's leftovers are judged below, not as segments a rotation broke (C09).
    let live_images: Vec<crate::checkers::at_rest::DiskImage> = if cluster_deletions.is_empty() {
        Vec::new()
    } else {
        let deleted = |file: &str| cluster_deletions.iter().any(|d| file.starts_with(&format!("{}_", d.cluster_id)));
        images
            .iter()
            .map(|(machine, files)| (machine.clone(), files.iter().filter(|(f, _)| !deleted(f)).cloned().collect()))
            .collect()
    };
    let live = if cluster_deletions.is_empty() { &images } else { &live_images };
    let (unreadable, unreadable_count) = crate::checkers::keys::unreadable_segments(live, &world.key_services());
    let key_files_at_end = crate::checkers::keys::key_files(live, recorder.now_ms());
    let leftovers = crate::checkers::shredding::leftovers(&images, &cluster_deletions, |key_file| {
        let context = broker::kms::keyring::context(key_file.root_id);
        world.key_services().iter().any(|s| s.with_store(|store| store.peek_unwrap(&key_file.root, &context).is_some()))
    });
    // C13: every segment of a topic with a retention went by its deadline.
    let retention_evidence = (!retention.is_empty()).then(|| {
        let topics: Vec<(String, u64)> = retention.iter().map(|(topic, ms)| (format!("{topic}-"), *ms)).collect();
        let on_disk = |machine: &str, file: &str| {
            images.iter().any(|(m, files)| m == machine && files.iter().any(|(f, _)| f == file))
        };
        let (overdue, deletions) = crate::checkers::retention::overdue(
            &tap.segment_lives,
            &topics,
            &process_down,
            on_disk,
            world.disk_tap.now_ms(),
        );
        let (mut early, mut expired) = (Vec::new(), 0);
        for (topic, retention_ms, log) in &retention_logs {
            let (found, judged) = log.early(topic, *retention_ms);
            early.extend(found);
            expired += judged;
        }
        early.sort();
        RetentionEvidence { overdue, deletions, early, expired }
    });
    // C26: every file of the service as the service itself could read it (segments opened).
    let fields = recorder.fields.as_ref().map(|fields| {
        let services = world.key_services();
        let opened: Vec<crate::checkers::at_rest::DiskImage> = images
            .iter()
            .map(|(machine, files)| (machine.clone(), crate::world::sealed::open_sealed(files.clone(), &services)))
            .collect();
        let search = crate::checkers::fields::search(&opened, &fields.canary, &recorder.canary);
        FieldEvidence {
            in_clear: search
                .in_clear
                .into_iter()
                .map(|what| (recorder.now_ms(), format!("{what} holds a protected field in clear")))
                .collect(),
            segments_with_records: search.segments_with_records,
            opened: fields.opened.load(std::sync::atomic::Ordering::Relaxed),
            broken: fields.broken.lock().unwrap().iter().map(|what| (recorder.now_ms(), what.clone())).collect(),
            broken_count: fields.broken_count.load(std::sync::atomic::Ordering::Relaxed),
        }
    });
    drop(live_images);
    drop(images);
    let at_rest = AtRestEvidence {
        violation_count: tap.plaintext_count + keys_on_disks.len() as u64,
        violations: tap
            .plaintext
            .iter()
            .cloned()
            .chain(keys_on_disks.into_iter().map(|what| (recorder.now_ms(), what)))
            .collect(),
        frames_sealed: tap.frames_sealed,
        nonce_reuse_count: tap.nonce_reuse_count,
        nonce_reuses: tap.nonce_reuses,
        shared_master_keys: shared_master_keys.into_iter().map(|what| (recorder.now_ms(), what)).collect(),
        tenant_key_files,
    };
    // Ports (C01), probed only when the scenario asks: every machine of the service, from a
    // client machine, once every fault has ended.
    let wants_probe = scenario
        .expectations
        .iter()
        .any(|e| matches!(e.name, ExpectationName::UnexpectedListeners | ExpectationName::ListenerProbes));
    let listeners = if wants_probe {
        let mut machines: Vec<(String, std::net::IpAddr, Vec<u16>)> =
            world.brokers.iter().map(|b| (b.name.clone(), b.ip, vec![broker::node::BROKER_PORT])).collect();
        machines.push((
            world.control_plane.name.clone(),
            world.control_plane.ip,
            vec![broker::control_plane::server::CONTROL_PLANE_PORT],
        ));
        handle
            .get_node(admin_machine.id)
            .expect("admin node")
            .spawn(async move { crate::checkers::listeners::probe(&machines).await })
            .await
            .expect("listener probe task")
    } else {
        (Vec::new(), 0)
    };
    // Authentication (C15), probed only when the scenario asks: every broker's public endpoint,
    // from a client machine, once every fault has ended.
    let wants_authentication_probe = scenario
        .expectations
        .iter()
        .any(|e| matches!(e.name, ExpectationName::UnauthenticatedAnswers | ExpectationName::UnauthenticatedProbes));
    let authentication = if wants_authentication_probe {
        let (dialer, made_up) =
            world.client_with_key(&admin_machine, 42_000, &("PROBE".to_string(), "not-a-secret".to_string()));
        let brokers = world.public_endpoints();
        handle
            .get_node(admin_machine.id)
            .expect("admin node")
            .spawn(async move { crate::checkers::authentication::probe(&dialer, &brokers, &made_up).await })
            .await
            .expect("authentication probe task")
    } else {
        (Vec::new(), 0)
    };
    // Drain: one fresh reader of every partition from offset 0, so unseen writes are known.
    let drain_gave_up = drain(&world, &recorder, &topics, workers + 1).await;
    let region = world.other_region.is_some().then(|| {
        let (disks, hosted, links) = world.region_evidence(recorder.started);
        let mut canaries = vec![crate::checkers::regions::RegionCanary {
            label: "the organization's record canary".into(),
            region: crate::world::CHOSEN_REGION.into(),
            bytes: recorder.canary.to_vec(),
        }];
        canaries.extend(tenants.iter().map(|tenant| crate::checkers::regions::RegionCanary {
            label: format!("tenant {}'s record canary", tenant.name),
            region: tenant.region.clone().unwrap_or_else(|| crate::world::CHOSEN_REGION.into()),
            bytes: crate::workload::tenants::tenant_canary(seed, &tenant.name),
        }));
        let mut boundary =
            crate::checkers::regions::boundary_violations(&disks, &canaries, &hosted, &links, recorder.now_ms());
        // Key residency (C07): first, since it says the most about what crossed.
        let (key_crossings, keys_at_home) =
            crate::checkers::regions::key_crossings(&disks, &world.key_regions(), recorder.now_ms());
        boundary.violations.splice(0..0, key_crossings);
        // The control: the search saw key files where they belong (in some region).
        if !keys_at_home.is_empty() {
            boundary.found_at_home.insert("key files under their own region's keys".into());
        }
        // Every crossing in the trace (the report shows the first).
        trace.extend(boundary.violations.iter().map(|(at, what)| format!("{at} region-crossing {what}")));
        let attempts = region_log.attempts.lock().unwrap().clone();
        let unavailable = attempts.iter().filter(|(_, status)| *status == Some(503)).count();
        let placed = region_log.placed.lock().unwrap().clone();
        if let Some(placed) = &placed {
            let written =
                placed.written.as_ref().map_or_else(|error| format!("not written: {error}"), |()| "written".into());
            trace
                .push(format!("{} region-placed {} in {} ({written})", placed.at_ms, placed.cluster_id, placed.region));
        }
        RegionEvidence { boundary, unavailable, placed }
    });
    let simulated_ms = recorder.now_ms();
    let mut history = recorder.history.lock().unwrap().clone();
    history.ops.extend(surveys);
    let keys = {
        use crate::scenario::{FaultKind, Group};
        let events = std::mem::take(&mut *key_events.lock().unwrap());
        trace.extend(events.iter().map(|e| format!("{} key-action {} {:?}", e.at_ms, e.action.name(), e.outcome)));
        let outages: Vec<(u64, u64)> =
            schedule.iter().filter(|f| f.kind == FaultKind::KmsOutage).map(|f| (f.start_ms, f.end_ms)).collect();
        // When some zone cannot reach the key service: its brokers cannot learn of a revocation.
        let cuts_key_service = |f: &&Fault| {
            matches!(f.kind, FaultKind::KmsOutage | FaultKind::RegionOutage)
                || (matches!(
                    f.kind,
                    FaultKind::Partition | FaultKind::OneWayPartition | FaultKind::Loss | FaultKind::Pause
                ) && (f.target == Some(Group::KeyService) || f.peer == Some(Group::KeyService)))
        };
        let unreachable: Vec<(u64, u64)> =
            schedule.iter().filter(cuts_key_service).map(|f| (f.start_ms, f.end_ms)).collect();
        let windows = crate::checkers::keys::windows(&events, &outages, &unreachable, simulated_ms);
        let send_attempt_max = crate::workload::client::CONNECT_TIMEOUT + crate::workload::client::REQUEST_TIMEOUT;
        let (served, refusals) = crate::checkers::keys::served_past_bound(&history, &windows, send_attempt_max);
        // When some broker may not have reached the key service (and so not seen a rotation).
        let touches_key_service = |f: &&Fault| {
            matches!(f.kind, FaultKind::KmsOutage | FaultKind::RegionOutage | FaultKind::Latency | FaultKind::Loss)
                || f.target == Some(Group::KeyService)
                || f.peer == Some(Group::KeyService)
        };
        let dark: Vec<(u64, u64)> =
            schedule.iter().filter(touches_key_service).map(|f| (f.start_ms, f.end_ms)).collect();
        let setup_ms = recorder.started.saturating_duration_since(world.disk_tap.zero()).as_millis() as u64;
        let writes: Vec<crate::world::KeyFileWrite> = tap
            .key_files
            .into_iter()
            .filter(|w| w.at_ms >= setup_ms)
            .map(|w| crate::world::KeyFileWrite { at_ms: w.at_ms - setup_ms, ..w })
            .collect();
        // Every key file as it was written, and as it lies on the disks at the end (re-wrapped).
        let mut stale = crate::checkers::keys::stale_versions(&writes, &events, &world.organization.master_key, &dark);
        stale.extend(crate::checkers::keys::stale_versions(
            &key_files_at_end,
            &events,
            &world.organization.master_key,
            &dark,
        ));
        let rotations =
            events.iter().filter(|e| e.action == crate::scenario::KeyAction::Rotate && e.outcome.is_ok()).count();
        KeyEvidence {
            // Found at the end; dated at the first change to the key (material is lost only
            // by one), so that a lost version is reported before what it caused downstream.
            unreadable: unreadable
                .into_iter()
                .map(|what| {
                    let changed = events.iter().find(|e| e.outcome.is_ok()).map_or(simulated_ms, |e| e.at_ms);
                    (changed, format!("{what} (found at the end of the run)"))
                })
                .collect(),
            unreadable_count,
            stale,
            rotations: rotations as u64,
            served,
            refusals,
        }
    };
    let (wire_hash, wire_bytes) = world.wire.finish();
    let plaintext_leaks = world.wire.leaks();
    let divergent_replicas = crate::checkers::replicas::divergent_replicas(&world);
    let high_watermark_regressions = std::mem::take(&mut *high_watermark_regressions.lock().unwrap());
    let zero = recorder.started;
    let control_plane_dials = crate::checkers::connections::control_plane_dials(
        &world.connections,
        &world.control_plane.name,
        |machine| world.brokers.iter().any(|b| b.name == machine),
        zero,
    );
    let backup_files: Vec<(String, Vec<u8>)> = broker::control_plane::backup::files(&world.control_plane_backup)
        .expect("a memory disk lists")
        .into_iter()
        .map(|file| {
            let bytes = broker::log::Disk::read(&world.control_plane_backup, &file).ok().flatten().unwrap_or_default();
            (file, bytes)
        })
        .collect();
    let backups = (
        crate::checkers::backups::canaries_in_backups(&backup_files, &recorder.canary),
        backup_files.len(),
        control_plane_losses
            .iter()
            .flat_map(|(at_ms, at_loss)| {
                let end = world.control_plane_records();
                crate::checkers::backups::restore_losses(at_loss, &end).into_iter().map(move |what| (*at_ms, what))
            })
            .collect::<Vec<_>>(),
        control_plane_losses.len(),
    );
    let tenant_probes = std::mem::take(&mut *tenant_log.probes.lock().unwrap());
    let greedy_sends = std::mem::take(&mut *greedy_log.sends.lock().unwrap());
    let provision_attempts = std::mem::take(&mut *provision_log.attempts.lock().unwrap());
    let sign_in_attempts = std::mem::take(&mut *sign_in_log.attempts.lock().unwrap());
    let dns = {
        let records = world.resolutions.records();
        let network = world.network.as_ref();
        let offers = |kind: ConnectionType| network.is_some_and(|n| n.connection_types.contains(&kind));
        let connected = [
            (ConnectionType::Peering, crate::scenario::CUSTOMER_VPC),
            (ConnectionType::TransitGateway, crate::scenario::TRANSIT_GATEWAY_VPC),
        ]
        .into_iter()
        .filter(|(kind, _)| offers(*kind))
        .map(|(_, range)| range.parse().expect("a literal range"))
        .collect();
        let views = crate::checkers::dns::DnsViews {
            network: network.map(|n| n.cidr),
            connected,
            public: "203.0.113.0/24".parse().expect("a literal range"),
            zone: crate::world::CHOSEN_SITE.dns_zone.to_string(),
            broker_at: {
                let fabric = world.fabric.lock().unwrap();
                let id_of = |machine: &String| {
                    world.brokers.iter().position(|b| &b.name == machine).map(|index| index as i32 + 1)
                };
                fabric
                    .public
                    .iter()
                    .chain(fabric.private.iter())
                    .chain(fabric.machines.iter())
                    .filter_map(|(address, machine)| match address {
                        std::net::IpAddr::V4(v4) => id_of(machine).map(|id| (*v4, id)),
                        std::net::IpAddr::V6(_) => None,
                    })
                    .collect()
            },
        };
        let (violations, judged) = crate::checkers::dns::dns_violations(&records, &views, zero);
        let stale = records.iter().filter(|r| r.origin == "stale").count();
        let changed = crate::checkers::dns::changed_answers(&records);
        let unroutable = world.connections.paths().get("unroutable").copied().unwrap_or(0);
        let (service, private_link): (BTreeSet<String>, BTreeSet<String>) = {
            let fabric = world.fabric.lock().unwrap();
            let named = |wanted: &crate::world::Home| {
                fabric.homes.iter().filter(|(_, home)| *home == wanted).map(|(name, _)| name.clone()).collect()
            };
            (
                named(&crate::world::Home::Service),
                named(&crate::world::Home::Network(crate::world::PRIVATE_LINK_NETWORK.into())),
            )
        };
        let sides = crate::checkers::privatelink::Sides {
            service: &service,
            private_link: &private_link,
            private_link_range: crate::scenario::PRIVATE_LINK_VPC.parse().expect("a literal range"),
            probe: crate::world::PRIVATE_LINK_PROBE,
        };
        let (reverse, probes) =
            crate::checkers::privatelink::privatelink_violations(&world.connections.links(), &sides, zero);
        let outsiders = outsider_log.0.lock().unwrap().clone();
        let admitted = outsiders
            .iter()
            .filter(|a| a.admitted)
            .map(|a| {
                let what = format!(
                    "an internet host completed a TLS handshake with broker {} (public endpoint) of a cluster without public networking at {:.3}s",
                    a.broker,
                    a.at_ms as f64 / 1000.0
                );
                (a.at_ms, what)
            })
            .collect();
        DnsEvidence {
            changed,
            violations,
            judged,
            stale,
            unroutable,
            reverse,
            probes,
            admitted,
            outsiders: outsiders.len() as u64,
        }
    };
    let access_attempts = std::mem::take(&mut *access.attempts.lock().unwrap());
    let mutations = std::mem::take(&mut *access.mutations.lock().unwrap());
    let revocations = std::mem::take(&mut *access.revocations.lock().unwrap());
    let shredding = {
        let bound_ms = crate::claims::API_KEY_REVOCATION_BOUND.as_millis() as u64;
        let (served, checked) =
            crate::checkers::shredding::served_after_delete(&access_attempts, &cluster_deletions, bound_ms);
        for deletion in &cluster_deletions {
            let acknowledged =
                deletion.acknowledged_ms.map_or("never acknowledged".into(), |ms| format!("acknowledged at {ms}"));
            trace.push(format!("{} cluster-deleted {} ({acknowledged})", deletion.requested_ms, deletion.cluster_id));
        }
        ShreddingEvidence {
            served,
            served_checked: checked > 0,
            judged: cluster_deletions.iter().any(|d| d.acknowledged_ms.is_some()),
            leftovers,
            simulated_ms,
        }
    };
    let partition_reads = recorder
        .reads
        .lock()
        .unwrap()
        .iter()
        .map(|(p, e)| PartitionRead {
            partition: p.clone(),
            successful_fetches: e.successful_fetches,
            failed_fetches: e.failed_fetches,
            last_error: e.last_error.clone(),
        })
        .collect();
    // The security services run on alone (C12): the cluster's machines are paused, so that
    // days cost what the log store's own work costs; then the replicas are judged.
    let log_store = scenario.log_store.as_ref().zip(world.log_store.as_ref()).map(|(spec, site)| {
        let end_ms = spec.end_ms(duration_s);
        if end_ms > recorder.now_ms() {
            // With a breach, detection, the desk (at the control plane) and the outside parties too.
            let breach = world.security_ops.iter().flat_map(|s| [&s.detection, &s.pager, &s.inbox, &s.attacker]);
            let desk = world.security_ops.as_ref().map(|_| &world.control_plane);
            let security: BTreeSet<&str> =
                site.replicas.iter().chain([&site.ops]).chain(breach).chain(desk).map(|m| m.name.as_str()).collect();
            for machine in world.all_machines().filter(|m| !security.contains(m.name.as_str())) {
                world.pause(&machine.name);
            }
            trace.push(format!("{} cluster-paused (security services run on to {end_ms})", recorder.now_ms()));
        }
        (end_ms, site)
    });
    let mut breaches = None;
    let log_store = match log_store {
        Some((end_ms, _)) => {
            sleep_until(&recorder, end_ms).await;
            // Shipping and refusal records in flight settle.
            tokio::time::sleep(Duration::from_secs(5)).await;
            let end_wall_ms = broker::clock::wall_clock_ms();
            let clock = crate::checkers::log_store::Clock {
                zero_wall_ms: end_wall_ms - recorder.now_ms(),
                end_wall_ms,
                retention_ms: crate::claims::LOG_RETENTION.as_millis() as u64,
                purge_bound_ms: crate::claims::LOG_PURGE_GRACE.as_millis() as u64,
            };
            let images = world.log_store_images();
            let acked = log_store_log.acked.lock().unwrap().clone();
            let attempts = log_store_log.attempts.lock().unwrap().clone();
            let findings = crate::checkers::log_store::judge(&images, &acked, &attempts, &clock);
            breaches = scenario.breach.as_ref().map(|spec| {
                let calendar = spec.calendar();
                let incidents = world.incidents();
                let injected = breach_log.injected.lock().unwrap().clone();
                let arrivals = breach_log.arrivals.lock().unwrap().clone();
                let deadline_ms = crate::claims::BREACH_NOTICE_DEADLINE.as_millis() as u64;
                for (at, incident, person, what) in breach_log.steps.lock().unwrap().iter() {
                    trace.push(format!("{} breach {incident} {person} {what}", at - clock.zero_wall_ms));
                }
                for incident in &incidents {
                    let rules: Vec<&str> = incident.alerts.iter().map(|a| a.rule.name()).collect();
                    trace.push(format!(
                        "{} breach {} opened {} ({}), {} pages, {:?}",
                        recorder.now_ms(),
                        incident.id,
                        calendar.describe(incident.opened_ms),
                        rules.join(", "),
                        incident.pages.len(),
                        incident.status
                    ));
                }
                crate::checkers::breaches::judge(
                    injected.as_ref(),
                    &incidents,
                    &arrivals,
                    clock.zero_wall_ms,
                    end_wall_ms,
                    deadline_ms,
                    &calendar,
                )
            });
            // Operator access (C10): the attempts, against every entry any replica holds.
            let operators = scenario.operators.as_ref().map(|_| {
                let mut seen = BTreeSet::new();
                let entries: Vec<broker::log_store::chain::Entry> = images
                    .iter()
                    .flat_map(|image| image.entries.iter())
                    .filter(|entry| seen.insert(entry.event.id()))
                    .cloned()
                    .collect();
                let attempts = operator_log.attempts.lock().unwrap().clone();
                let bound_ms = crate::claims::OPERATOR_REVOCATION_BOUND.as_millis() as u64;
                crate::checkers::operators::judge(&attempts, &entries, bound_ms)
            });
            // What each component shipped (entries held by some replica, once each).
            let mut shipped: BTreeMap<&str, u64> = BTreeMap::new();
            let mut seen = BTreeSet::new();
            for entry in images.iter().flat_map(|image| &image.entries).filter(|e| seen.insert(e.event.id())) {
                *shipped.entry(entry.event.source.split('@').next().unwrap_or("")).or_default() += 1;
            }
            let shipped: Vec<String> = shipped.iter().map(|(source, n)| format!("{source} {n}")).collect();
            trace.push(format!("{} log-store entries by component: {}", recorder.now_ms(), shipped.join(", ")));
            trace.push(format!(
                "{} log-store {} acknowledged, {} checked, {} tampering attempts answered, {} purges",
                recorder.now_ms(),
                acked.len(),
                findings.checked,
                findings.attempts,
                findings.purges
            ));
            Some((recorder.now_ms(), findings, operators))
        }
        None => None,
    };
    Simulated {
        log_store,
        breaches,
        history,
        nemesis: trace,
        window,
        schedule,
        duration_s,
        bound_ms,
        converged_after_ms,
        not_converged,
        simulated_ms,
        wire_hash,
        wire_bytes,
        partition_reads,
        plaintext_leaks,
        divergent_replicas,
        high_watermark_regressions,
        drain_gave_up,
        control_plane_dials,
        access_attempts,
        revocations,
        cluster_deletions,
        audit,
        mutations,
        backups,
        secrets,
        secret_exposures,
        secret_scans,
        listeners,
        authentication,
        tenant_probes,
        greedy_sends,
        provision_attempts,
        sign_in_attempts,
        dns,
        region,
        at_rest,
        keys,
        shredding,
        fields,
        retention: retention_evidence,
    }
}

/// The cluster's master key (C09): segments that no longer open, segments under a stale
/// version, rotations done, what was served past a revocation's or an outage's bound.
struct KeyEvidence {
    unreadable: Vec<(u64, String)>,
    unreadable_count: u64,
    stale: Vec<(u64, String)>,
    rotations: u64,
    served: Vec<(u64, String)>,
    refusals: u64,
}

/// Secure deletion (C13): what a deleted cluster's clients were still served, and what is
/// left of it on the disks at the end.
struct ShreddingEvidence {
    served: Vec<(u64, String)>,
    served_checked: bool,
    /// A deletion was acknowledged, so the disks at the end say something.
    judged: bool,
    leftovers: crate::checkers::shredding::Leftovers,
    simulated_ms: u64,
}

impl ShreddingEvidence {
    fn first_leftover(&self) -> Option<(u64, String)> {
        self.leftovers.lines.first().map(|line| (self.simulated_ms, line.clone()))
    }

    fn first_decryptable(&self) -> Option<(u64, String)> {
        let line = self.leftovers.lines.iter().find(|l| l.contains("still unwraps"))?;
        Some((self.simulated_ms, line.clone()))
    }
}

/// Retention (C13): segments past their deadline, and segments retention deleted; records
/// its client saw go before their retention, and records it saw go at all.
struct RetentionEvidence {
    overdue: Vec<(u64, String)>,
    deletions: u64,
    early: Vec<(u64, String)>,
    expired: u64,
}

/// Client-side field encryption (C26): the field found in clear where the service holds data,
/// the positive control, and what consumers opened.
struct FieldEvidence {
    in_clear: Vec<(u64, String)>,
    /// Segments in which the record canary was found (the search saw the records).
    segments_with_records: u64,
    opened: u64,
    broken: Vec<(u64, String)>,
    broken_count: u64,
}

/// Encryption at rest (C08): what the disk tap saw and the keys found on disks.
struct AtRestEvidence {
    /// (ms, what): record data written in clear (the first few), keys on disks at the end.
    violations: Vec<(u64, String)>,
    violation_count: u64,
    frames_sealed: u64,
    nonce_reuses: Vec<(u64, String)>,
    nonce_reuse_count: u64,
    /// Master keys shared by tenants, or by a tenant and the service (C08).
    shared_master_keys: Vec<(u64, String)>,
    /// Tenant segment key files judged for it.
    tenant_key_files: u64,
}

/// The region boundary (C07) and the customer's request for a cluster in its region.
struct RegionEvidence {
    boundary: crate::checkers::regions::Boundary,
    /// Requests answered 503 (the region down).
    unavailable: usize,
    placed: Option<crate::workload::regions::Placed>,
}

/// Name resolutions judged (C06) and route faults felt (C05).
struct DnsEvidence {
    violations: Vec<(u64, String)>,
    judged: usize,
    stale: usize,
    /// Answers that differed from the client's previous answer for the name.
    changed: usize,
    unroutable: u64,
    /// PrivateLink crossed the wrong way (C05), and the probing dials judged.
    reverse: Vec<(u64, String)>,
    probes: u64,
    /// Internet connections a private-only cluster admitted (C05), and attempts made.
    admitted: Vec<(u64, String)>,
    outsiders: u64,
}

/// How long the harness waits, after the run, for the audit topic to hold the control plane's log.
const AUDIT_CATCH_UP_MS: u64 = 20_000;

/// What the simulation produced, before checking (which runs outside the simulated clock so
/// its cost can be measured in real time).
struct Simulated {
    history: History,
    nemesis: Vec<String>,
    window: (u64, u64),
    schedule: Vec<Fault>,
    duration_s: u64,
    bound_ms: u64,
    converged_after_ms: Option<u64>,
    not_converged: String,
    simulated_ms: u64,
    wire_hash: String,
    wire_bytes: u64,
    partition_reads: Vec<PartitionRead>,
    plaintext_leaks: Vec<String>,
    divergent_replicas: Vec<String>,
    /// (simulated ms, what) for every sampled leader whose high watermark moved back.
    high_watermark_regressions: Vec<(u64, String)>,
    /// Partitions the final drain could not read to the end, and why.
    drain_gave_up: Vec<String>,
    /// Connections the control plane opened to brokers (at ms, what).
    control_plane_dials: Vec<(u64, String)>,
    access_attempts: Vec<crate::checkers::access::Attempt>,
    revocations: Vec<crate::checkers::access::Revocation>,
    /// The cluster deletions asked for (their accounts' refusals from then on are the service's right).
    cluster_deletions: Vec<crate::checkers::access::ClusterDeletion>,
    /// The control plane's audit log, how much of it the topic must cover, and the topic.
    audit: (Vec<broker::control_plane::audit::AuditEvent>, usize, Result<Vec<Vec<u8>>, String>),
    mutations: Vec<crate::checkers::audit::Mutation>,
    /// Backups holding the canary, backup files scanned, restore losses (at the loss), restores checked.
    backups: (Vec<String>, usize, Vec<(u64, String)>, usize),
    /// (label, secret) of every API key the harness was given.
    secrets: Vec<(String, String)>,
    /// Secrets found on disks and in responses; how many files and responses were searched.
    secret_exposures: Vec<String>,
    secret_scans: usize,
    /// Unexpected listeners found, ports tried (0: not probed).
    listeners: (Vec<String>, usize),
    /// Unauthenticated answers and sessions, probes that reached a broker (0: not probed).
    authentication: (Vec<String>, usize),
    /// What the tenant probers asked and were answered (C28).
    tenant_probes: Vec<crate::checkers::tenants::TenantProbe>,
    /// The greedy clients' requests (C03).
    greedy_sends: Vec<crate::checkers::quotas::GreedySend>,
    /// The provisioner's requests and answers (C03, C04).
    provision_attempts: Vec<crate::checkers::provisioning::ProvisionAttempt>,
    /// The sign-in client's attempts (C16).
    sign_in_attempts: Vec<crate::checkers::sign_in::SignInAttempt>,
    dns: DnsEvidence,
    /// With a second region only.
    region: Option<RegionEvidence>,
    at_rest: AtRestEvidence,
    keys: KeyEvidence,
    shredding: ShreddingEvidence,
    /// `None`: the workload protects no field.
    fields: Option<FieldEvidence>,
    /// `None`: no topic has a retention.
    retention: Option<RetentionEvidence>,
    /// The whole run's end (past the cluster's part), the log store's findings (C12) and
    /// operator access's (C10).
    log_store:
        Option<(u64, crate::checkers::log_store::LogFindings, Option<crate::checkers::operators::OperatorFindings>)>,
    /// Breach detection and notification's findings (C23), with a `[breach]` section.
    breaches: Option<crate::checkers::breaches::BreachFindings>,
}

/// Starts the `[breach]` section's parties on their machines and schedules its fault windows.
fn start_breach(
    spec: &crate::scenario::BreachSpec,
    site: &crate::world::security_ops::SecurityOpsSite,
    world: &std::sync::Arc<World>,
    topics: &[String],
    log: &crate::workload::breaches::BreachLog,
    recorder: &Recorder,
    trace: &mut Vec<String>,
) {
    use crate::workload::breaches::{self, Mailbox};
    use crate::world::security_ops::{desk_token, listen_address, CONTACT};
    let handle = madsim::runtime::Handle::current();
    let seed = world.seed;
    let tls = |n: u64| world.log_store_tls(20_000 + n);
    let crypto = |n: u64| {
        crate::seeded::tls::seeded_crypto_provider(crate::seeds::derive(seed, crate::seeds::Stream::Breach, 100 + n))
    };
    let draws: breaches::Draws =
        std::sync::Arc::new(std::sync::Mutex::new(crate::seeds::rng(seed, crate::seeds::Stream::Breach, 1)));
    let control_plane = {
        let address = crate::world::control_plane::address();
        broker::net::https_client::HttpsEndpoint { address, server_name: address.ip().to_string() }
    };
    // The attacker, from the internet, with the workload's key (and first a wrong secret).
    let (key, secret) = world.organization.workload_key.clone();
    let (dialer, leaked) = world.client_with_key(&site.attacker, 900, &(key.clone(), secret));
    let (wrong_dialer, wrong) = world.client_with_key(&site.attacker, 901, &(key.clone(), "guessed-secret".into()));
    let wrong = ClusterClient::new(wrong_dialer, wrong, world.endpoints(&site.attacker, 901));
    let leaked = ClusterClient::new(dialer, leaked, world.endpoints(&site.attacker, 900));
    let attacker = breaches::attacker(
        spec.clone(),
        wrong,
        leaked,
        key,
        site.attacker.ip.to_string(),
        topics.first().cloned().unwrap_or_default(),
        log.clone(),
    );
    let start = Duration::from_secs_f64(spec.start_s);
    let node = handle.get_node(site.attacker.id).expect("attacker node");
    drop(node.spawn(async move {
        tokio::time::sleep(start).await;
        attacker.await;
    }));
    // The rota behind the paging provider.
    let (pager, pages) = Mailbox::new("/v1/pages");
    let pager_dialer = world.dialer_of(&site.pager);
    let people = spec
        .oncall
        .rota
        .iter()
        .enumerate()
        .map(|(index, person)| {
            let client = broker::net::https_client::HttpsClient::new(
                control_plane.clone(),
                tls(index as u64),
                pager_dialer.clone(),
                person,
                &desk_token(person),
            );
            (person.clone(), std::sync::Arc::new(client))
        })
        .collect();
    let rota = breaches::Rota {
        spec: spec.clone(),
        calendar: spec.calendar(),
        people,
        cluster_id: world.organization.cluster_id.clone(),
        draws: draws.clone(),
        log: log.clone(),
    };
    let acceptor = broker::security::tls::acceptor(&site.pager_tls, &crypto(0)).expect("pager TLS");
    let address = listen_address(&site.pager);
    drop(handle.get_node(site.pager.id).expect("pager node").spawn(async move {
        broker::net::http::bind_https(address, acceptor, pager, "pager").await.expect("the pager binds");
        breaches::rota(rota, pages).await;
    }));
    // The customer's contact behind its inbox.
    let (inbox, notices) = Mailbox::new("/v1/notices");
    let contact = std::sync::Arc::new(broker::net::https_client::HttpsClient::new(
        control_plane,
        tls(100),
        world.dialer_of(&site.inbox),
        CONTACT,
        &desk_token(CONTACT),
    ));
    let contact = breaches::contact(spec.clone(), contact, draws, log.clone(), notices);
    let acceptor = broker::security::tls::acceptor(&site.inbox_tls, &crypto(1)).expect("inbox TLS");
    let address = listen_address(&site.inbox);
    drop(handle.get_node(site.inbox.id).expect("inbox node").spawn(async move {
        broker::net::http::bind_https(address, acceptor, inbox, "customer inbox").await.expect("the inbox binds");
        contact.await;
    }));
    // Fault windows, from t = 0.
    let replicas: Vec<String> = crate::world::log_store::REPLICAS.iter().map(|r| r.0.to_string()).collect();
    // A detection window takes its machine down or cuts it from the replicas; a notice-channel
    // window cuts the control plane (the desk) from the inbox.
    let windows: Vec<_> = spec
        .detection_faults
        .iter()
        .map(|w| (*w, site.detection.name.clone(), replicas.clone(), w.kind == crate::scenario::WindowKind::Down))
        .chain(spec.notice_channel_faults.iter().map(|w| {
            (*w, crate::world::control_plane::CONTROL_PLANE_NAME.to_string(), vec![site.inbox.name.clone()], false)
        }))
        .collect();
    for (window, machine, peers, down) in windows {
        let (world, recorder) = (world.clone(), recorder.clone());
        let start_ms = (window.start_s * 1000.0) as u64;
        let end_ms = ((window.start_s + window.duration_s) * 1000.0) as u64;
        let what = if down { "down" } else { "cut" };
        trace.push(format!("{start_ms} breach-fault {machine} {what} until {end_ms}"));
        tokio::spawn(async move {
            sleep_until(&recorder, start_ms).await;
            if down {
                world.take_down(&machine);
            } else {
                world.cut(std::slice::from_ref(&machine), &peers);
            }
            sleep_until(&recorder, end_ms).await;
            if down {
                world.bring_up(&machine);
            } else {
                world.heal(std::slice::from_ref(&machine), &peers);
            }
        });
    }
}

fn check_run(request: &RunRequest, run: Simulated, log_lines: &[String]) -> RunOutcome {
    let check_started = std::time::Instant::now();
    let Simulated {
        history,
        nemesis,
        window,
        schedule,
        duration_s,
        bound_ms,
        converged_after_ms,
        not_converged,
        simulated_ms,
        wire_hash,
        wire_bytes,
        partition_reads,
        plaintext_leaks,
        divergent_replicas,
        high_watermark_regressions,
        drain_gave_up,
        control_plane_dials,
        access_attempts,
        revocations,
        cluster_deletions,
        audit,
        mutations,
        backups: (backup_canaries, backups_scanned, restore_losses, restores_checked),
        secrets,
        mut secret_exposures,
        secret_scans,
        listeners: (unexpected_listeners, listener_probes),
        authentication: (unauthenticated_answers, unauthenticated_probes),
        tenant_probes,
        greedy_sends,
        provision_attempts,
        sign_in_attempts,
        dns,
        region,
        at_rest,
        keys,
        shredding,
        fields,
        retention,
        log_store,
        breaches,
    } = run;
    let (sign_ins, sign_in_answers) = crate::checkers::sign_in::sign_in_violations(&sign_in_attempts);
    let (provisioning, provisioning_answers) =
        crate::checkers::provisioning::provisioning_violations(&provision_attempts);
    // Every tenant in the simulation is Basic or Standard: the same stream limit, shared by the
    // brokers (one per zone).
    let stream_limit = broker::control_plane::model::ClusterType::Standard
        .limits()
        .expect("Standard clusters have limits")
        .stream_bytes_per_second_max;
    let quota =
        crate::checkers::quotas::quota_findings(&greedy_sends, stream_limit / crate::scenario::ZONES.len() as u64);
    let (tenant_leaks, tenant_answers) = crate::checkers::tenants::isolation_violations(&tenant_probes);
    secret_exposures.extend(crate::checkers::secrets::exposures(
        &secrets,
        log_lines.iter().enumerate().map(|(index, line)| {
            (format!("log line {index} ({})", line.split(' ').next().unwrap_or("")), line.as_bytes())
        }),
    ));
    let secret_scans = secret_scans + log_lines.len();
    let phases = Phases { faults_start_ms: window.0, faults_end_ms: window.1 };
    let report = checker::check(&history, &phases);
    // One time-ordered trace: nemesis events and completed operations, so the first
    // difference between two runs is the earliest one.
    let mut events: Vec<(u64, String)> = nemesis
        .into_iter()
        .map(|line| (line.split(' ').next().and_then(|t| t.parse().ok()).unwrap_or(0), line))
        .collect();
    events.extend(history.ops.iter().map(|op| (op.end_ms, serde_json::to_string(op).expect("ops serialize"))));
    events.sort_by_key(|(at, _)| *at);
    let trace = events.into_iter().map(|(_, line)| line).collect::<Vec<_>>().join("\n");
    let trace_hash = hex(ring::digest::digest(&ring::digest::SHA256, trace.as_bytes()).as_ref());
    let acls: BTreeMap<String, Vec<crate::scenario::AclSpec>> = request
        .scenario
        .scenario
        .control_plane
        .service_accounts
        .iter()
        .map(|a| (a.name.clone(), a.acls.clone()))
        .collect();
    let (unauthorized, authorization_answers) =
        crate::checkers::access::unauthorized_successes(&access_attempts, &acls);
    let wrongly_denied =
        crate::checkers::access::authorized_denials(&access_attempts, &acls, &revocations, &cluster_deletions);
    let revocation_bound_ms = crate::claims::API_KEY_REVOCATION_BOUND.as_millis() as u64;
    let (late_uses, revocations_checked, revocation_propagation_ms) =
        crate::checkers::access::revocation_violations(&access_attempts, &revocations, revocation_bound_ms);
    let (audit_log, audit_covered, audit_topic) = audit;
    let (audit_findings, audit_events_checked) = match &audit_topic {
        Ok(topic) => crate::checkers::audit::audit_violations(&audit_log, audit_covered, topic, &mutations),
        Err(error) => (vec![format!("the audit topic could not be read: {error}")], 0),
    };
    let operators = log_store.as_ref().and_then(|(_, _, o)| o.as_ref());
    let measured = Measured {
        converged: converged_after_ms,
        acked_during: acked_during(&history, window),
        plaintext_leaks: plaintext_leaks.len() as u64,
        divergent_replicas: divergent_replicas.len() as u64,
        high_watermark_regressions: high_watermark_regressions.len() as u64,
        control_plane_dials: control_plane_dials.len() as u64,
        unauthorized_successes: unauthorized.len() as u64,
        authorized_denials: wrongly_denied.len() as u64,
        authorization_answers: authorization_answers as u64,
        revocation_violations: late_uses.len() as u64,
        revocations_checked: revocations_checked as u64,
        revocation_propagation_ms,
        audit_violations: audit_findings.len() as u64,
        audit_events_checked: audit_events_checked as u64,
        backup_canaries: backup_canaries.len() as u64,
        backups_scanned: backups_scanned as u64,
        restore_losses: restore_losses.len() as u64,
        restores_checked: restores_checked as u64,
        secret_exposures: secret_exposures.len() as u64,
        secret_scans: secret_scans as u64,
        unexpected_listeners: unexpected_listeners.len() as u64,
        listener_probes: listener_probes as u64,
        unauthenticated_answers: unauthenticated_answers.len() as u64,
        unauthenticated_probes: unauthenticated_probes as u64,
        tenant_leaks: tenant_leaks.len() as u64,
        tenant_probes: tenant_answers as u64,
        quota_violations: quota.violations.len() as u64,
        quota_disconnects: quota.disconnects as u64,
        throttled_responses: quota.throttled_responses as u64,
        provisioning_violations: provisioning.len() as u64,
        provisioning_answers: provisioning_answers as u64,
        sign_in_violations: sign_ins.len() as u64,
        sign_in_answers: sign_in_answers as u64,
        dns_violations: dns.violations.len() as u64,
        dns_answers: dns.judged as u64,
        dns_stale_answers: dns.stale as u64,
        dns_changed_answers: dns.changed as u64,
        unroutable_connects: dns.unroutable,
        privatelink_reverse_connects: dns.reverse.len() as u64,
        privatelink_probes: dns.probes,
        endpoint_admissions: dns.admitted.len() as u64,
        endpoint_probes: dns.outsiders,
        region_violations: region.as_ref().map_or(0, |r| r.boundary.violations.len() as u64),
        region_canaries_at_home: region.as_ref().map_or(0, |r| r.boundary.found_at_home.len() as u64),
        region_unavailable_answers: region.as_ref().map_or(0, |r| r.unavailable as u64),
        region_placements: region
            .as_ref()
            .map_or(0, |r| r.placed.as_ref().is_some_and(|placed| placed.written.is_ok()) as u64),
        at_rest_violations: at_rest.violation_count,
        frames_sealed: at_rest.frames_sealed,
        nonce_reuses: at_rest.nonce_reuse_count,
        shared_master_keys: (at_rest.tenant_key_files > 0).then_some(at_rest.shared_master_keys.len() as u64),
        unreadable_segments: keys.unreadable_count,
        stale_key_versions: keys.stale.len() as u64,
        key_rotations: keys.rotations,
        served_past_key_bound: keys.served.len() as u64,
        key_refusals: keys.refusals,
        served_after_cluster_delete: shredding.served_checked.then_some(shredding.served.len() as u64),
        deleted_cluster_files: shredding.judged.then_some(shredding.leftovers.files),
        deleted_cluster_decryptable: shredding.judged.then_some(shredding.leftovers.decryptable),
        // A search that found no record at all saw nothing: not tested.
        protected_fields_in_clear: fields
            .as_ref()
            .filter(|f| f.segments_with_records > 0)
            .map(|f| f.in_clear.len() as u64),
        protected_fields_opened: fields.as_ref().map(|f| f.opened),
        protected_fields_broken: fields.as_ref().filter(|f| f.opened + f.broken_count > 0).map(|f| f.broken_count),
        overdue_segments: retention.as_ref().map(|r| r.overdue.len() as u64),
        retention_deletions: retention.as_ref().map(|r| r.deletions),
        // Not tested until the client saw retention take a record it was acknowledged.
        early_deletions: retention.as_ref().filter(|r| r.expired > 0).map(|r| r.early.len() as u64),
        records_expired: retention.as_ref().map(|r| r.expired),
        log_entries_lost: log_store.as_ref().map(|(_, f, _)| f.lost.len() as u64),
        log_entries_purged_early: log_store.as_ref().map(|(_, f, _)| f.purged_early.len() as u64),
        log_entries_overdue: log_store.as_ref().map(|(_, f, _)| f.overdue.len() as u64),
        log_entries_altered: log_store.as_ref().map(|(_, f, _)| f.altered.len() as u64),
        log_tampering_performed: log_store
            .as_ref()
            .filter(|(_, f, _)| f.attempts > 0)
            .map(|(_, f, _)| f.performed.len() as u64),
        log_tampering_unlogged: log_store
            .as_ref()
            .filter(|(_, f, _)| f.attempts > 0)
            .map(|(_, f, _)| f.unlogged.len() as u64),
        log_entries_checked: log_store.as_ref().map(|(_, f, _)| f.checked),
        log_tamper_attempts: log_store.as_ref().map(|(_, f, _)| f.attempts),
        log_purges: log_store.as_ref().map(|(_, f, _)| f.purges),
        operator_access_violations: operators.map(|o| o.violations.len() as u64),
        operator_refusals_unlogged: operators.map(|o| o.unlogged.len() as u64),
        operator_attempts: operators.map(|o| o.attempts),
        operator_revocation_s: operators.and_then(|o| o.revocation_s),
        breach_notices_late: breaches.as_ref().map(|b| b.late.len() as u64),
        breaches_undetected: breaches.as_ref().map(|b| b.undetected.len() as u64),
        breach_notices_checked: breaches.as_ref().map(|b| b.checked),
        breaches_injected: breaches.as_ref().map(|b| b.injected),
    };
    let expectations = evaluate(&request.scenario.scenario.expectations, &report, &measured);
    // Evidence found outside the history, by the expectation it fails: its first item.
    let evidence: BTreeMap<ExpectationName, (u64, String)> = [
        (ExpectationName::ControlPlaneDials, control_plane_dials.first()),
        (ExpectationName::UnauthorizedSuccesses, unauthorized.first()),
        (ExpectationName::AuthorizedDenials, wrongly_denied.first()),
        (ExpectationName::RevocationViolations, late_uses.first()),
        (ExpectationName::AuditViolations, audit_findings.first().map(|what| (simulated_ms, what.clone())).as_ref()),
        (ExpectationName::BackupCanaries, backup_canaries.first().map(|what| (simulated_ms, what.clone())).as_ref()),
        (ExpectationName::RestoreLosses, restore_losses.first()),
        (ExpectationName::SecretExposures, secret_exposures.first().map(|what| (simulated_ms, what.clone())).as_ref()),
        (
            ExpectationName::UnexpectedListeners,
            unexpected_listeners.first().map(|what| (simulated_ms, what.clone())).as_ref(),
        ),
        (
            ExpectationName::UnauthenticatedAnswers,
            unauthenticated_answers.first().map(|what| (simulated_ms, what.clone())).as_ref(),
        ),
        (ExpectationName::TenantLeaks, tenant_leaks.first()),
        (ExpectationName::QuotaViolations, quota.violations.first()),
        (ExpectationName::ProvisioningViolations, provisioning.first()),
        (ExpectationName::SignInViolations, sign_ins.first()),
        (ExpectationName::DnsViolations, dns.violations.first()),
        (ExpectationName::PrivatelinkReverseConnects, dns.reverse.first()),
        (ExpectationName::EndpointAdmissions, dns.admitted.first()),
        (ExpectationName::RegionViolations, region.as_ref().and_then(|r| r.boundary.violations.first())),
        (ExpectationName::AtRestViolations, at_rest.violations.first()),
        (ExpectationName::NonceReuses, at_rest.nonce_reuses.first()),
        (ExpectationName::SharedMasterKeys, at_rest.shared_master_keys.first()),
        (ExpectationName::UnreadableSegments, keys.unreadable.first()),
        (ExpectationName::StaleKeyVersions, keys.stale.first()),
        (ExpectationName::ServedPastKeyBound, keys.served.first()),
        (ExpectationName::ServedAfterClusterDelete, shredding.served.first()),
        (ExpectationName::DeletedClusterFiles, shredding.first_leftover().as_ref()),
        (ExpectationName::DeletedClusterDecryptable, shredding.first_decryptable().as_ref()),
        (ExpectationName::ProtectedFieldsInClear, fields.as_ref().and_then(|f| f.in_clear.first())),
        (ExpectationName::ProtectedFieldsBroken, fields.as_ref().and_then(|f| f.broken.first())),
        (ExpectationName::OverdueSegments, retention.as_ref().and_then(|r| r.overdue.first())),
        (ExpectationName::EarlyDeletions, retention.as_ref().and_then(|r| r.early.first())),
        (ExpectationName::LogEntriesLost, log_store.as_ref().and_then(|(_, f, _)| f.lost.first())),
        (ExpectationName::LogEntriesPurgedEarly, log_store.as_ref().and_then(|(_, f, _)| f.purged_early.first())),
        (ExpectationName::LogEntriesOverdue, log_store.as_ref().and_then(|(_, f, _)| f.overdue.first())),
        (ExpectationName::LogEntriesAltered, log_store.as_ref().and_then(|(_, f, _)| f.altered.first())),
        (ExpectationName::LogTamperingPerformed, log_store.as_ref().and_then(|(_, f, _)| f.performed.first())),
        (ExpectationName::LogTamperingUnlogged, log_store.as_ref().and_then(|(_, f, _)| f.unlogged.first())),
        (ExpectationName::OperatorAccessViolations, operators.and_then(|o| o.violations.first())),
        (ExpectationName::OperatorRefusalsUnlogged, operators.and_then(|o| o.unlogged.first())),
        (ExpectationName::BreachNoticesLate, breaches.as_ref().and_then(|b| b.late.first())),
        (ExpectationName::BreachesUndetected, breaches.as_ref().and_then(|b| b.undetected.first())),
    ]
    .into_iter()
    .filter_map(|(name, first)| Some((name, first?.clone())))
    .collect();
    let mut violation =
        first_violation(&expectations, &report, converged_after_ms, duration_s, bound_ms, &not_converged, &evidence);
    if let (Some(violation), Some(first)) = (violation.as_mut(), plaintext_leaks.first()) {
        if violation.expectation == "plaintext_leaks" {
            // What leaked, counted (a line reads "<link>: <what> in clear").
            let mut what: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
            for leak in &plaintext_leaks {
                *what.entry(leak.split_once(": ").map_or(leak.as_str(), |(_, w)| w)).or_default() += 1;
            }
            let counted: Vec<String> = what.iter().map(|(w, n)| format!("{w} x{n}")).collect();
            violation.detail = format!("{}; first: {first}", counted.join(", "));
        }
    }
    if let (Some(violation), Some(divergence)) = (violation.as_mut(), divergent_replicas.first()) {
        if violation.expectation == "divergent_replicas" {
            // Found by reading the replicas once the run is over.
            violation.detail = divergence.clone();
            violation.at_ms = simulated_ms;
        }
    }
    if let (Some(violation), Some((at_ms, regression))) = (violation.as_mut(), high_watermark_regressions.first()) {
        if violation.expectation == "high_watermark_regressions" {
            violation.detail = regression.clone();
            violation.at_ms = *at_ms;
        }
    }
    if violation.is_none() {
        violation = drain_violation(&drain_gave_up, simulated_ms);
    }
    // The wire was hashed as it flowed (inside the simulation, where no real clock runs):
    // charge the same number of SHA-256 bytes here.
    let sample = vec![0u8; 1 << 20];
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for _ in 0..wire_bytes.div_ceil(1 << 20) {
        context.update(&sample);
    }
    std::hint::black_box(context.finish());
    let (recoveries, timeline) = recovery_and_timeline(request.seed, &history, &schedule);
    let check_wall_ms = check_started.elapsed().as_secs_f64() * 1000.0;
    RunOutcome {
        scenario: request.scenario.scenario.name.clone(),
        seed: request.seed,
        bugs: request.bugs.clone(),
        schedule,
        duration_s,
        trace_hash,
        wire_hash,
        wire_bytes,
        trace,
        report,
        expectations,
        converged_after_ms,
        violation,
        // The whole run: the security services' stretch past the cluster's part included.
        simulated_ms: log_store.as_ref().map_or(simulated_ms, |(end, _, _)| (*end).max(simulated_ms)),
        partition_reads,
        breach_notices: breaches.map(|b| b.notices).unwrap_or_default(),
        recoveries,
        timeline: Some(timeline),
        down_ms: match request.scenario.scenario.sla_month {
            Some(_) => crate::checkers::availability::cluster_down_intervals(&history),
            None => Vec::new(),
        },
        sla: None,
        history_ops: history.ops.len(),
        errors: error_counts(&history),
        wall_ms: 0.0,
        check_wall_ms,
    }
}

/// The report's per-fault recovery times and latency timeline. Buckets of 5 s, or wider for
/// long runs (at most about 120 points).
#[cfg(madsim)]
fn recovery_and_timeline(
    seed: u64,
    history: &History,
    schedule: &[crate::scenario::Fault],
) -> (Vec<reports::Recovery>, reports::Timeline) {
    use crate::checkers::availability;
    let ends: Vec<u64> = schedule.iter().map(|f| f.end_ms).collect();
    let recoveries = schedule
        .iter()
        .zip(availability::recoveries(history, &ends))
        .map(|(fault, ms)| reports::Recovery { seed, kind: fault.kind.name().to_string(), seconds: ms as f64 / 1000.0 })
        .collect();
    let bucket_ms = (history.end_ms() / 120).div_ceil(5_000).max(1) * 5_000;
    let ms = |v: u64| v as f64;
    let points = availability::latency_timeline(history, bucket_ms)
        .into_iter()
        .map(|b| reports::LatencyPoint {
            t_s: b.start_ms as f64 / 1000.0,
            produce_p50: b.produce.map(|p| ms(p.0)),
            produce_p99: b.produce.map(|p| ms(p.1)),
            fetch_p50: b.fetch.map(|p| ms(p.0)),
            fetch_p99: b.fetch.map(|p| ms(p.1)),
        })
        .collect();
    let faults = schedule
        .iter()
        .map(|f| reports::FaultWindow {
            kind: f.kind.name().to_string(),
            start_s: f.start_ms as f64 / 1000.0,
            end_s: f.end_ms as f64 / 1000.0,
        })
        .collect();
    (recoveries, reports::Timeline { seed, bucket_s: bucket_ms as f64 / 1000.0, points, faults })
}

#[cfg(madsim)]
fn planted_bugs(names: &[String]) -> PlantedBugs {
    PlantedBugs::from_names(names.iter().map(String::as_str)).expect("bug names are validated by the CLI")
}

async fn sleep_until(recorder: &Recorder, at_ms: u64) {
    let now = recorder.now_ms();
    if at_ms > now {
        tokio::time::sleep(Duration::from_millis(at_ms - now)).await;
    }
}

fn error_counts(history: &History) -> std::collections::BTreeMap<String, u64> {
    let mut counts = std::collections::BTreeMap::new();
    for op in &history.ops {
        let key = match &op.kind {
            OpKind::Send { outcome: SendOutcome::Failed { error }, .. } => format!("send failed: {error}"),
            OpKind::Send { outcome: SendOutcome::Indeterminate { error }, .. } => {
                format!("send indeterminate: {error}")
            }
            OpKind::Poll { outcome: PollOutcome::Failed { error }, .. } => format!("poll failed: {error}"),
            _ => continue,
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// Every acknowledged value has been polled by some consumer.
fn consumers_caught_up(history: &History) -> bool {
    // Sorted vectors, not sets: this runs every simulated second of the liveness wait, over the
    // whole history (a percent of a saturated seed with sets).
    let (mut acked, mut polled) = (Vec::new(), Vec::new());
    for op in &history.ops {
        match &op.kind {
            OpKind::Send { value, outcome: SendOutcome::Acked { .. }, .. } => acked.push(*value),
            OpKind::Poll { outcome: PollOutcome::Ok { records }, .. } => polled.extend(records.iter().map(|r| r.2)),
            _ => {}
        }
    }
    polled.sort_unstable();
    acked.iter().all(|value| polled.binary_search(value).is_ok())
}

/// A drain that could not read every partition to its end: what was never read is neither
/// proven lost nor proven kept, so the run cannot pass.
fn drain_violation(gave_up: &[String], at_ms: u64) -> Option<FirstViolation> {
    let first = gave_up.first()?;
    Some(FirstViolation {
        expectation: "drain".into(),
        kind: "drain-gave-up".into(),
        detail: format!("the final drain gave up on {} partition(s), first {first}", gave_up.len()),
        at_ms,
    })
}

/// Reads every partition from offset 0 to its end; returns the partitions it gave up on.
async fn drain(world: &World, recorder: &Recorder, topics: &[(String, i32)], machine: usize) -> Vec<String> {
    let machine = world.clients[machine].clone();
    let (dialer, credentials) = world.client_identity(&machine, 9_999);
    let mut client = ClusterClient::new(dialer, credentials, world.endpoints(&machine, 9_999));
    let recorder = recorder.clone();
    let topics = topics.to_vec();
    let task = madsim::runtime::Handle::current().get_node(machine.id).expect("drain node").spawn(async move {
        const DRAIN_PROCESS: u32 = 9_999;
        let partitions: Vec<TopicPartition> = topics
            .iter()
            .flat_map(|(t, n)| (0..*n).map(move |p| TopicPartition { topic: t.clone(), partition: p }))
            .collect();
        let start_ms = recorder.now_ms();
        recorder.record(
            DRAIN_PROCESS,
            start_ms,
            OpKind::Assign { group: "drain".into(), partitions: partitions.clone() },
        );
        let _ = client.refresh_metadata().await;
        let mut gave_up = Vec::new();
        for tp in partitions {
            let mut position = 0;
            let mut attempts = 0;
            let mut last_error = String::new();
            let finished = loop {
                if attempts >= 20 {
                    break false;
                }
                let start_ms = recorder.now_ms();
                match consumer::fetch(&mut client, &tp, position, recorder.fields.as_deref()).await {
                    Ok(records) if records.is_empty() => break true,
                    Ok(records) => {
                        position = records.last().expect("non-empty").0 + 1;
                        let records = records.into_iter().map(|(o, v)| (tp.clone(), o, v)).collect();
                        recorder.record(
                            DRAIN_PROCESS,
                            start_ms,
                            OpKind::Poll { group: "drain".into(), outcome: PollOutcome::Ok { records } },
                        );
                    }
                    Err(error) => {
                        last_error = error.to_string();
                        attempts += 1;
                        let _ = client.refresh_metadata().await;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            };
            if !finished {
                gave_up.push(format!(
                    "{}-{} at offset {position} after 20 failed fetches ({last_error})",
                    tp.topic, tp.partition
                ));
            }
        }
        gave_up
    });
    match broker::clock::timeout(Duration::from_secs(120), task).await {
        Ok(Ok(gave_up)) => gave_up,
        _ => vec!["the drain did not finish within 120 simulated s".to_string()],
    }
}

/// Sends that started at least a second into the fault window and were acknowledged before it
/// ended: with two zones down (min.insync.replicas 2) there must be none.
fn acked_during(history: &History, window: (u64, u64)) -> u64 {
    history
        .ops
        .iter()
        .filter(|op| {
            matches!(op.kind, OpKind::Send { outcome: SendOutcome::Acked { .. }, .. })
                && op.start_ms >= window.0 + 1_000
                && op.end_ms < window.1
        })
        .count() as u64
}

/// What the runner measured besides the checker's report.
#[derive(Default)]
pub struct Measured {
    pub converged: Option<u64>,
    pub acked_during: u64,
    pub plaintext_leaks: u64,
    pub divergent_replicas: u64,
    pub high_watermark_regressions: u64,
    pub control_plane_dials: u64,
    pub unauthorized_successes: u64,
    pub authorized_denials: u64,
    pub authorization_answers: u64,
    pub revocation_violations: u64,
    pub revocations_checked: u64,
    pub revocation_propagation_ms: Option<u64>,
    pub audit_violations: u64,
    pub audit_events_checked: u64,
    pub backup_canaries: u64,
    pub backups_scanned: u64,
    pub restore_losses: u64,
    pub restores_checked: u64,
    pub secret_exposures: u64,
    pub secret_scans: u64,
    pub unexpected_listeners: u64,
    pub listener_probes: u64,
    pub unauthenticated_answers: u64,
    pub unauthenticated_probes: u64,
    pub tenant_leaks: u64,
    pub tenant_probes: u64,
    pub quota_violations: u64,
    pub quota_disconnects: u64,
    pub throttled_responses: u64,
    pub provisioning_violations: u64,
    pub provisioning_answers: u64,
    pub sign_in_violations: u64,
    pub sign_in_answers: u64,
    pub dns_violations: u64,
    pub dns_answers: u64,
    pub dns_stale_answers: u64,
    pub dns_changed_answers: u64,
    pub unroutable_connects: u64,
    pub privatelink_reverse_connects: u64,
    pub privatelink_probes: u64,
    pub endpoint_admissions: u64,
    pub endpoint_probes: u64,
    pub region_violations: u64,
    pub region_canaries_at_home: u64,
    pub region_unavailable_answers: u64,
    pub region_placements: u64,
    pub at_rest_violations: u64,
    pub frames_sealed: u64,
    pub nonce_reuses: u64,
    pub shared_master_keys: Option<u64>,
    pub unreadable_segments: u64,
    pub stale_key_versions: u64,
    pub key_rotations: u64,
    pub served_past_key_bound: u64,
    pub key_refusals: u64,
    /// `None`: no deletion was judged (not tested).
    pub served_after_cluster_delete: Option<u64>,
    pub deleted_cluster_files: Option<u64>,
    pub deleted_cluster_decryptable: Option<u64>,
    pub protected_fields_in_clear: Option<u64>,
    pub protected_fields_opened: Option<u64>,
    pub protected_fields_broken: Option<u64>,
    pub overdue_segments: Option<u64>,
    pub retention_deletions: Option<u64>,
    pub early_deletions: Option<u64>,
    pub records_expired: Option<u64>,
    pub log_entries_lost: Option<u64>,
    pub log_entries_purged_early: Option<u64>,
    pub log_entries_overdue: Option<u64>,
    pub log_entries_altered: Option<u64>,
    pub log_tampering_performed: Option<u64>,
    pub log_tampering_unlogged: Option<u64>,
    pub log_entries_checked: Option<u64>,
    pub log_tamper_attempts: Option<u64>,
    pub log_purges: Option<u64>,
    pub operator_access_violations: Option<u64>,
    pub operator_refusals_unlogged: Option<u64>,
    pub operator_attempts: Option<u64>,
    pub operator_revocation_s: Option<f64>,
    pub breach_notices_late: Option<u64>,
    pub breaches_undetected: Option<u64>,
    pub breach_notices_checked: Option<u64>,
    pub breaches_injected: Option<u64>,
}

fn observed(name: ExpectationName, report: &CheckReport, measured: &Measured) -> Option<f64> {
    use ExpectationName as E;
    let count = |kind: ViolationKind| Some(report.count(kind) as f64);
    match name {
        E::ProduceAvailabilityBefore => report.availability.produce.before,
        E::ProduceAvailabilityDuring => report.availability.produce.during,
        E::ProduceAvailabilityAfter => report.availability.produce.after,
        E::PollAvailabilityDuring => report.availability.poll.during,
        E::MaxProduceGapS => report.outages.max_produce_gap_ms.map(|ms| ms as f64 / 1000.0),
        E::MaxPollGapS => report.outages.max_poll_gap_ms.map(|ms| ms as f64 / 1000.0),
        E::ProduceUptimeBefore => report.outages.produce_uptime.before,
        E::ProduceUptimeDuring => report.outages.produce_uptime.during,
        E::ProduceUptimeAfter => report.outages.produce_uptime.after,
        E::PollUptimeDuring => report.outages.poll_uptime.during,
        E::PolledRecords => Some(report.polled_records as f64),
        E::Converged => Some(if measured.converged.is_some() { 1.0 } else { 0.0 }),
        E::AckedWrites => Some(report.acked_writes as f64),
        E::AckedWritesDuring => Some(measured.acked_during as f64),
        E::PlaintextLeaks => Some(measured.plaintext_leaks as f64),
        E::DivergentReplicas => Some(measured.divergent_replicas as f64),
        E::HighWatermarkRegressions => Some(measured.high_watermark_regressions as f64),
        E::ControlPlaneDials => Some(measured.control_plane_dials as f64),
        E::UnauthorizedSuccesses => Some(measured.unauthorized_successes as f64),
        E::AuthorizedDenials => Some(measured.authorized_denials as f64),
        E::AuthorizationAnswers => Some(measured.authorization_answers as f64),
        E::RevocationViolations => Some(measured.revocation_violations as f64),
        E::RevocationsChecked => Some(measured.revocations_checked as f64),
        E::RevocationPropagationS => measured.revocation_propagation_ms.map(|ms| ms as f64 / 1000.0),
        E::AuditViolations => Some(measured.audit_violations as f64),
        E::AuditEventsChecked => Some(measured.audit_events_checked as f64),
        E::BackupCanaries => Some(measured.backup_canaries as f64),
        E::BackupsScanned => Some(measured.backups_scanned as f64),
        E::RestoreLosses => Some(measured.restore_losses as f64),
        E::RestoresChecked => Some(measured.restores_checked as f64),
        E::SecretExposures => Some(measured.secret_exposures as f64),
        E::SecretScans => Some(measured.secret_scans as f64),
        E::UnexpectedListeners => Some(measured.unexpected_listeners as f64),
        E::ListenerProbes => Some(measured.listener_probes as f64),
        E::UnauthenticatedAnswers => Some(measured.unauthenticated_answers as f64),
        E::UnauthenticatedProbes => Some(measured.unauthenticated_probes as f64),
        E::TenantLeaks => Some(measured.tenant_leaks as f64),
        E::TenantProbes => Some(measured.tenant_probes as f64),
        E::QuotaViolations => Some(measured.quota_violations as f64),
        E::QuotaDisconnects => Some(measured.quota_disconnects as f64),
        E::ThrottledResponses => Some(measured.throttled_responses as f64),
        E::ProvisioningViolations => Some(measured.provisioning_violations as f64),
        E::ProvisioningAnswers => Some(measured.provisioning_answers as f64),
        E::SignInViolations => Some(measured.sign_in_violations as f64),
        E::SignInAnswers => Some(measured.sign_in_answers as f64),
        E::DnsViolations => Some(measured.dns_violations as f64),
        E::DnsAnswers => Some(measured.dns_answers as f64),
        E::DnsStaleAnswers => Some(measured.dns_stale_answers as f64),
        E::DnsChangedAnswers => Some(measured.dns_changed_answers as f64),
        E::UnroutableConnects => Some(measured.unroutable_connects as f64),
        E::PrivatelinkReverseConnects => Some(measured.privatelink_reverse_connects as f64),
        E::PrivatelinkProbes => Some(measured.privatelink_probes as f64),
        E::EndpointAdmissions => Some(measured.endpoint_admissions as f64),
        E::EndpointProbes => Some(measured.endpoint_probes as f64),
        E::RegionViolations => Some(measured.region_violations as f64),
        E::RegionCanariesAtHome => Some(measured.region_canaries_at_home as f64),
        E::RegionUnavailableAnswers => Some(measured.region_unavailable_answers as f64),
        E::RegionPlacements => Some(measured.region_placements as f64),
        E::AtRestViolations => Some(measured.at_rest_violations as f64),
        E::FramesSealed => Some(measured.frames_sealed as f64),
        E::NonceReuses => Some(measured.nonce_reuses as f64),
        E::SharedMasterKeys => measured.shared_master_keys.map(|n| n as f64),
        E::UnreadableSegments => Some(measured.unreadable_segments as f64),
        E::StaleKeyVersions => Some(measured.stale_key_versions as f64),
        E::KeyRotations => Some(measured.key_rotations as f64),
        E::ServedPastKeyBound => Some(measured.served_past_key_bound as f64),
        E::KeyRefusals => Some(measured.key_refusals as f64),
        E::ServedAfterClusterDelete => measured.served_after_cluster_delete.map(|n| n as f64),
        E::DeletedClusterFiles => measured.deleted_cluster_files.map(|n| n as f64),
        E::DeletedClusterDecryptable => measured.deleted_cluster_decryptable.map(|n| n as f64),
        E::ProtectedFieldsInClear => measured.protected_fields_in_clear.map(|n| n as f64),
        E::ProtectedFieldsOpened => measured.protected_fields_opened.map(|n| n as f64),
        E::ProtectedFieldsBroken => measured.protected_fields_broken.map(|n| n as f64),
        E::OverdueSegments => measured.overdue_segments.map(|n| n as f64),
        E::RetentionDeletions => measured.retention_deletions.map(|n| n as f64),
        E::EarlyDeletions => measured.early_deletions.map(|n| n as f64),
        E::RecordsExpired => measured.records_expired.map(|n| n as f64),
        E::LogEntriesLost => measured.log_entries_lost.map(|n| n as f64),
        E::LogEntriesPurgedEarly => measured.log_entries_purged_early.map(|n| n as f64),
        E::LogEntriesOverdue => measured.log_entries_overdue.map(|n| n as f64),
        E::LogEntriesAltered => measured.log_entries_altered.map(|n| n as f64),
        E::LogTamperingPerformed => measured.log_tampering_performed.map(|n| n as f64),
        E::LogTamperingUnlogged => measured.log_tampering_unlogged.map(|n| n as f64),
        E::LogEntriesChecked => measured.log_entries_checked.map(|n| n as f64),
        E::LogTamperAttempts => measured.log_tamper_attempts.map(|n| n as f64),
        E::LogPurges => measured.log_purges.map(|n| n as f64),
        E::OperatorAccessViolations => measured.operator_access_violations.map(|n| n as f64),
        E::OperatorRefusalsUnlogged => measured.operator_refusals_unlogged.map(|n| n as f64),
        E::OperatorAttempts => measured.operator_attempts.map(|n| n as f64),
        E::OperatorRevocationS => measured.operator_revocation_s,
        E::BreachNoticesLate => measured.breach_notices_late.map(|n| n as f64),
        E::BreachesUndetected => measured.breaches_undetected.map(|n| n as f64),
        E::BreachNoticesChecked => measured.breach_notices_checked.map(|n| n as f64),
        E::BreachesInjected => measured.breaches_injected.map(|n| n as f64),
        checked => count(kind_of(checked).expect("the remaining expectations count checker violations")),
    }
}

pub fn evaluate(expectations: &[Expectation], report: &CheckReport, measured: &Measured) -> Vec<ExpectationOutcome> {
    expectations
        .iter()
        .map(|expectation| {
            let value = observed(expectation.name, report, measured);
            // Nothing to measure (no operation in that phase) is not a failure.
            let passed = value.is_none_or(|v| expectation.holds(v));
            ExpectationOutcome { name: expectation.name, expected: expectation.expected(), observed: value, passed }
        })
        .collect()
}

/// The checker's violation kind an expectation counts, if it counts one.
fn kind_of(expectation: ExpectationName) -> Option<ViolationKind> {
    use ExpectationName as E;
    Some(match expectation {
        E::LostAckedWrites => ViolationKind::LostAckedWrite,
        E::Duplicates => ViolationKind::Duplicate,
        E::InconsistentOffsets => ViolationKind::InconsistentOffset,
        E::Reorders => ViolationKind::Reorder,
        E::PollSkips => ViolationKind::PollSkip,
        E::NonmonotonicPolls => ViolationKind::NonmonotonicPoll,
        E::CommittedOffsetRegressions => ViolationKind::CommittedOffsetRegression,
        E::UnseenAckedWrites => ViolationKind::UnseenAckedWrite,
        E::PhantomWrites => ViolationKind::PhantomWrite,
        _ => return None,
    })
}

fn first_violation(
    expectations: &[ExpectationOutcome],
    report: &CheckReport,
    converged: Option<u64>,
    duration_s: u64,
    bound_ms: u64,
    not_converged: &str,
    evidence: &BTreeMap<ExpectationName, (u64, String)>,
) -> Option<FirstViolation> {
    let failed = expectations.iter().filter(|e| !e.passed);
    // The earliest checker evidence among failed expectations, else the first failed one.
    let mut best: Option<FirstViolation> = None;
    for expectation in failed {
        let candidate =
            match kind_of(expectation.name).and_then(|kind| report.violations.iter().find(|v| v.kind == kind)) {
                Some(violation) => FirstViolation {
                    expectation: expectation.name.to_string(),
                    kind: violation.kind.as_str().to_string(),
                    detail: violation.detail.clone(),
                    at_ms: violation.at_ms,
                },
                None if evidence.contains_key(&expectation.name) => {
                    let (at_ms, detail) = evidence[&expectation.name].clone();
                    FirstViolation {
                        expectation: expectation.name.to_string(),
                        kind: expectation.name.name().replace('_', "-"),
                        detail,
                        at_ms,
                    }
                }
                None => {
                    let at_ms = if expectation.name == ExpectationName::Converged {
                        duration_s * 1000 + bound_ms
                    } else {
                        duration_s * 1000
                    };
                    let detail = match (expectation.name, converged) {
                        (ExpectationName::Converged, None) => format!(
                            "the cluster did not converge within {} s after the faults: {not_converged}",
                            bound_ms / 1000
                        ),
                        _ => format!(
                            "{} observed {:?}, expected {}",
                            expectation.name, expectation.observed, expectation.expected
                        ),
                    };
                    FirstViolation {
                        expectation: expectation.name.to_string(),
                        kind: expectation.name.name().replace('_', "-"),
                        detail,
                        at_ms,
                    }
                }
            };
        if best.as_ref().is_none_or(|b| candidate.at_ms < b.at_ms) {
            best = Some(candidate);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_that_gave_up_is_a_finding_and_a_complete_one_is_not() {
        assert_eq!(drain_violation(&[], 9_000), None);
        let violation =
            drain_violation(&["orders-2 at offset 17 after 20 failed fetches (no leader known)".into()], 9_000)
                .expect("giving up is a violation");
        assert_eq!(
            (violation.expectation.as_str(), violation.kind.as_str(), violation.at_ms),
            ("drain", "drain-gave-up", 9_000)
        );
        assert!(violation.detail.contains("orders-2"), "{}", violation.detail);
    }
}
