//! `faultline`: run with `cargo faultline ...` (a cargo alias that builds this binary with
//! `--cfg madsim` in release mode under target/sim).

#[cfg(madsim)]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(madsim)]
fn main() -> std::process::ExitCode {
    sim::cli::main()
}

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    eprintln!("faultline runs only in the simulation build: use `cargo faultline <command>` (see README.md)");
    std::process::ExitCode::from(2)
}
