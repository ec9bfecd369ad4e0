//! `faultline`: run with `cargo faultline ...` (a cargo alias that builds this binary with
//! `--cfg madsim` in its `sim` profile under target/sim).

#[cfg(madsim)]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(madsim)]
fn main() -> std::process::ExitCode {
    sim::cli::main()
}

/// The real-mode build judges recorded histories (`ci/chaos-real.sh`) and nothing else.
#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [command, path] if command == "check-history" => sim::recorded::main(std::path::Path::new(path)),
        _ => {
            eprintln!("faultline runs only in the simulation build: use `cargo faultline <command>` (see README.md); this build only has `check-history FILE`");
            std::process::ExitCode::from(2)
        }
    }
}
