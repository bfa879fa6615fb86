//! The `agent` binary: parse the command line, run one command, map the result to an
//! exit code (0 ok, 1 failure, 2 drift/changes, 3 locked, 4 stale source; see README).

use clap::Parser;

use agent::cli::{Cli, Command, exit};
use agent::commands;

/// The static build's allocator (see Cargo.toml).
#[cfg(target_env = "musl")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    tracing_subscriber::fmt()
        .with_writer(|| agent_report::mask::Masking::new(std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AGENT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_target(false)
        .without_time()
        .init();
    let cli = Cli::parse();
    let res = match &cli.command {
        Command::Apply(a) => commands::apply::run(a),
        Command::Check(a) => commands::check::run(a),
        Command::Demo(d) => commands::demo::run(d),
        Command::Facts(f) => commands::facts::run(f),
        Command::Bundle(b) => commands::bundle::run(b),
        Command::Keygen(k) => commands::bundle::keygen(k),
        Command::Config(c) => commands::config::run(c),
        Command::Pull(p) => commands::pull::run_locked(p),
        Command::Fleet(f) => commands::fleet::run(f),
    };
    let code = match res {
        Ok(code) => code,
        Err(e) => {
            let text = format!("ERROR! {}", error_chain(&e));
            eprintln!("{}", agent_report::mask::mask(&text));
            exit::FAILED
        }
    };
    std::process::exit(code);
}

/// The error and its causes, `: `-separated as `{:#}` prints them, leaving out a cause
/// whose text the message already holds (an error that prints its source in its own
/// message would otherwise say it twice).
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}
