//! `broker`: run the real-mode dev cluster, or one of its nodes.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "broker", about = "A three-zone Kafka broker cluster (real mode)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the key service (127.0.0.4:443), the log store (127.0.0.1-3:6514), the control
    /// plane (127.0.0.1:443), all three nodes
    /// (127.0.0.1-3:9092, zones a-c) and the DNS service (127.0.0.1:8053), creating DIR's keys
    /// and organization on first use.
    Dev {
        #[arg(long)]
        dir: PathBuf,
        /// Write each connection's request frames under this directory, SASL credentials
        /// left out (fuzz seeds from real clients: `broker capture-seeds`).
        #[arg(long)]
        capture_requests: Option<PathBuf>,
    },
    /// Turn a request capture (`dev --capture-requests`) into fuzz seeds under TO/<target>/.
    CaptureSeeds {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        to: PathBuf,
    },
    /// Create DIR's CA, keys and client.properties without starting anything.
    Init {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Produce load (acks=all, 1 KiB records) against a running dev cluster in DIR.
    Bench {
        #[arg(long)]
        dir: PathBuf,
        /// Whose key produces: DIR/client.properties by default (the dev cluster's application:
        /// ACLs, tenant namespace and the Standard quota apply); DIR/operator.properties measures
        /// the brokers without them.
        #[arg(long)]
        properties: Option<PathBuf>,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 6)]
        partitions: i32,
        /// Records per produce request.
        #[arg(long, default_value_t = 256)]
        batch_records: usize,
        /// Concurrent producer connections per partition.
        #[arg(long, default_value_t = 2)]
        in_flight: usize,
    },
    /// Start the control plane of an initialised DIR alone, on 127.0.0.1:443.
    ControlPlane {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print a signed single-sign-on assertion of DIR's identity provider for EMAIL.
    SsoAssertion {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        email: String,
    },
    /// Start the key service of an initialised DIR alone, on 127.0.0.4:443 (its keys in DIR/kms).
    Kms {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Start the DNS service of an initialised DIR alone, on 127.0.0.1:8053 (UDP).
    Dns {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Start the log store of an initialised DIR alone: three replicas on 127.0.0.1-3:6514
    /// (their images in DIR/log-store-<n>).
    LogStore {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Start the staff directory (127.0.0.5:443) and the bastion (127.0.0.6:443) of an
    /// initialised DIR alone.
    Operators {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Start the detection pipeline of an initialised DIR alone: it reads the log store and
    /// hands alerts to the incident desk at the control plane.
    Detection {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Verify the log store's replicas in DIR (stopped): every entry against its hash, every
    /// link, every signed checkpoint. Exits 1 naming the first thing that does not hold.
    VerifyLog {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Start one node of an initialised DIR (for kill and restart tests).
    Node {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        id: i32,
    },
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with(broker::INVARIANT_BROKEN) {
            std::process::abort();
        }
    }));
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Init { dir } => {
                let created = broker::dev::init(&dir)?;
                println!("{} {}", if created { "initialised" } else { "already initialised:" }, dir.display());
                Ok(())
            }
            Command::CaptureSeeds { from, to } => {
                let seeds = broker::fuzzing::seeds::from_capture(&from)
                    .map_err(|source| broker::dev::DevError::File { path: from.clone(), source })?;
                for (target, name, input) in &seeds {
                    let path = to.join(target).join(name);
                    std::fs::create_dir_all(to.join(target))
                        .and_then(|()| std::fs::write(&path, input))
                        .map_err(|source| broker::dev::DevError::File { path: path.clone(), source })?;
                    println!("{} ({} bytes)", path.display(), input.len());
                }
                println!("{} seeds from {}", seeds.len(), from.display());
                Ok(())
            }
            Command::Dev { dir, capture_requests } => {
                if broker::dev::init(&dir)? {
                    println!(
                        "created a dev CA, an organization with a Standard cluster, an API key in {0}/client.properties and a cloud API key in {0}/cloud.env",
                        dir.display()
                    );
                }
                broker::dev::start_kms(&dir).await?;
                println!("key service running: https://127.0.0.4:443");
                broker::dev::start_log_store(&dir).await?;
                println!(
                    "log store running: https://127.0.0.1-3:{} (tokens in {}/log-store.secrets.json)",
                    broker::log_store::LOG_STORE_PORT,
                    dir.display()
                );
                broker::dev::start_operators(&dir).await?;
                println!("staff directory running: https://127.0.0.5:443; bastion: https://127.0.0.6:443 (tokens in {}/staff.secrets.json)", dir.display());
                broker::dev::start_control_plane(&dir).await?;
                println!("control plane running: https://localhost:443 (credentials in {}/cloud.env)", dir.display());
                broker::dev::start_detection(&dir).await?;
                println!(
                    "detection running; incidents at https://localhost:443/v1/incidents, notices in {0}/mail/notices (tokens in {0}/incidents.secrets.json)",
                    dir.display()
                );
                for (id, _, _) in broker::dev::dev_nodes() {
                    broker::dev::start_node(&dir, id, capture_requests.as_deref()).await?;
                }
                if let Some(capture) = &capture_requests {
                    println!("capturing every connection's requests (no credentials) in {}", capture.display());
                }
                println!(
                    "dev cluster running: 127.0.0.1:9092 (zone-a), 127.0.0.2:9092 (zone-b), 127.0.0.3:9092 (zone-c)"
                );
                let dns = broker::dev::start_dns(&dir).await?;
                println!(
                    "dns running: dig @127.0.0.1 -p {} bootstrap.{}",
                    dns.address.port(),
                    broker::dev::DEV_DNS_ZONE
                );
                println!("connect with:  kcat -F {}/client.properties -L", dir.display());
                wait_for_ctrl_c().await;
                Ok(())
            }
            Command::Bench { dir, properties, seconds, partitions, batch_records, in_flight } => {
                let properties = properties.unwrap_or_else(|| dir.join("client.properties"));
                let report =
                    broker::bench::run(&dir, &properties, seconds, partitions, batch_records, in_flight).await?;
                println!("{report}");
                Ok(())
            }
            Command::ControlPlane { dir } => {
                broker::dev::start_control_plane(&dir).await?;
                wait_for_ctrl_c().await;
                Ok(())
            }
            Command::SsoAssertion { dir, email } => {
                println!("{}", broker::dev::sso_assertion(&dir, &email)?);
                Ok(())
            }
            Command::Kms { dir } => {
                broker::dev::start_kms(&dir).await?;
                wait_for_ctrl_c().await;
                Ok(())
            }
            Command::Dns { dir } => {
                broker::dev::start_dns(&dir).await?;
                wait_for_ctrl_c().await;
                Ok(())
            }
            Command::LogStore { dir } => {
                broker::dev::start_log_store(&dir).await?;
                wait_for_ctrl_c().await;
                Ok(())
            }
            Command::Operators { dir } => {
                broker::dev::start_operators(&dir).await?;
                wait_for_ctrl_c().await;
                Ok(())
            }
            Command::Detection { dir } => {
                broker::dev::start_detection(&dir).await?;
                wait_for_ctrl_c().await;
                Ok(())
            }
            Command::VerifyLog { dir } => {
                let mut broken = false;
                for (replica, verdict) in broker::dev::verify_log_store(&dir)? {
                    match verdict {
                        Ok(v) => println!(
                            "{replica}: verified: {} entries in {} segments, {} signed checkpoints, last position {}",
                            v.entries,
                            v.segments.len(),
                            v.checkpoints,
                            v.last.map_or("none".into(), |(p, _)| p.to_string())
                        ),
                        Err(error) => {
                            broken = true;
                            println!("{replica}: DOES NOT VERIFY: {error}");
                        }
                    }
                }
                if broken {
                    std::process::exit(1);
                }
                Ok(())
            }
            Command::Node { dir, id } => {
                broker::dev::start_node(&dir, id, None).await?;
                wait_for_ctrl_c().await;
                Ok(())
            }
        }
    });
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            let error: broker::dev::DevError = error;
            eprintln!("error: {error}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn wait_for_ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
    // Every write was synced when it was acknowledged; nothing more to flush.
    println!("stopping");
}
