//! Output of a run: Ansible's default callback (human), the ansible.posix `json`
//! callback shape, and (later) drift reports. The engine sends [`Event`]s; a
//! [`Reporter`] turns them into output. Nothing here runs modules or reads the host.

use std::io::Write;

pub use minijinja::Value;

/// How a task ended on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Changed,
    Failed,
    Skipped,
    Unreachable,
}

/// What a reporter is told. Results are Ansible-shaped result dicts (`changed`, `msg`,
/// `diff`, `results` for loops, module return values ...), already masked for `no_log`.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    PlaybookStart {
        path: &'a str,
    },
    PlayStart {
        name: &'a str,
        hosts: &'a str,
        check_mode: bool,
    },
    TaskStart {
        name: &'a str,
        path: &'a str,
        is_handler: bool,
    },
    /// `RUNNING HANDLER` banner and the like are decided by the reporter from `is_handler`.
    ItemResult {
        host: &'a str,
        status: Status,
        result: &'a Value,
        ignore_errors: bool,
    },
    TaskResult {
        host: &'a str,
        status: Status,
        result: &'a Value,
        ignore_errors: bool,
    },
    /// A block's rescue took over a failure on this host.
    Rescued {
        host: &'a str,
    },
    NoHostsMatched,
    Warning {
        message: &'a str,
    },
    Deprecation {
        message: &'a str,
    },
    Recap {
        stats: &'a [(String, Stats)],
    },
}

/// Per-host counters, counted as Ansible counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub ok: u64,
    pub changed: u64,
    pub unreachable: u64,
    pub failures: u64,
    pub skipped: u64,
    pub rescued: u64,
    pub ignored: u64,
}

/// Options every reporter honours.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    pub verbosity: u8,
    pub diff: bool,
    pub check: bool,
    /// Print `ok` results (Ansible's display_ok_hosts) and skipped results.
    pub display_skipped_hosts: bool,
    pub color: bool,
}

/// Turns events into output.
pub trait Reporter {
    fn event(&mut self, ev: &Event<'_>, out: &mut dyn Write) -> std::io::Result<()>;
    /// Called once at the end (the JSON reporter prints its document here).
    fn finish(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        let _ = out;
        Ok(())
    }
}
