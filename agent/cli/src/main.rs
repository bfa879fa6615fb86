//! The `agent` binary: parse the command line, run one command, map the result to an
//! exit code (0 ok, 1 failure, 2 drift/changes, 3 locked, 4 stale source; see README).

use clap::Parser;

use agent::cli::{Cli, Command, ExitCodes, exit};
use agent::commands;

/// The static build's allocator (see Cargo.toml).
#[cfg(target_env = "musl")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (15 in the v2 header libmimalloc-sys 0.1.49 builds;
/// its Rust bindings do not name it): freed memory is returned at once instead of after
/// 10 ms. The 10,000-task no-op peaks at 58 MiB instead of 74 for about 0.05 s more CPU
/// (docs/performance.md).
#[cfg(target_env = "musl")]
fn tune_allocator() {
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: setting an option is a plain store that mimalloc allows at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

fn main() {
    #[cfg(target_env = "musl")]
    tune_allocator();
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
    // Every command ends in `process::exit` below (`demo`'s three runs leave theirs too).
    commands::exit_after_run();
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
        Command::AsyncJob { spec } => Ok(agent::engine::asyncjob::work(spec)),
    };
    let ansible_codes =
        matches!(&cli.command, Command::Apply(a) if a.exit_codes == ExitCodes::Ansible);
    let code = match res {
        Ok(code) => code,
        Err(e) => {
            let text = error_text(&e);
            eprintln!("{}", agent_report::mask::mask(&text));
            if ansible_codes {
                commands::ansible_error_code(&e)
            } else {
                exit::FAILED
            }
        }
    };
    std::process::exit(code);
}

/// An error that stopped the command, as ansible-core 2.19+ shows one: `[ERROR]: MSG`,
/// and for an error in a file, `Origin: FILE:LINE:COL` and the lines up to it with a
/// caret under the column.
fn error_text(e: &anyhow::Error) -> String {
    let chain = error_chain(e);
    let at = e.chain().find_map(|c| {
        let yaml = match c.downcast_ref::<agent::loader::LoadError>() {
            Some(agent::loader::LoadError::At { loc, .. }) => return Some(loc.clone()),
            Some(agent::loader::LoadError::Yaml(y)) => Some(y),
            _ => c.downcast_ref::<agent_yaml::YamlError>(),
        };
        yaml.map(|y| agent::loader::Loc {
            file: y.file.as_str().into(),
            line: y.line,
            col: y.col,
        })
    });
    match at {
        Some(loc) => {
            let head = chain.replacen(&format!("{loc}: "), "", 1);
            format!("[ERROR]: {head}\n{}", agent::loader::error::origin(&loc))
        }
        None => format!("[ERROR]: {chain}"),
    }
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
