//! Output of a run: Ansible's default callback (human), the ansible.posix `json`
//! callback shape, and drift reports (the versioned `report` section, JUnit XML,
//! Prometheus textfile; docs/reports.md). The engine sends [`Event`]s; a
//! [`Reporter`] turns them into output. Nothing here runs modules or reads the host.

use std::io::Write;

pub use minijinja::Value;

pub mod color;
pub mod diff;
pub mod files;
mod human;
mod json;
pub mod junit;
pub mod mask;
pub mod prometheus;
pub mod pyjson;
pub mod report;
pub mod time;
pub mod width;

pub use diff::{render_diff, unified_diff};
pub use human::{Human, dump_result, dump_result_with};
pub use json::Json;
pub use report::{Collector, RunReport};

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
        /// How many plays the playbook has (`N plays in PATH` at `-vv`).
        plays: usize,
    },
    /// `name` is what Ansible's `play.get_name()` gives: the play name, or the hosts
    /// pattern when the play has no name (empty prints a bare `PLAY` banner).
    PlayStart {
        name: &'a str,
        hosts: &'a str,
        check_mode: bool,
        /// `file:line` of the play (json output only).
        path: &'a str,
    },
    /// `name` is the task's display name (`role : name`, or the action when unnamed).
    TaskStart {
        name: &'a str,
        /// `file:line` (shown at `-vv` as `task path:`).
        path: &'a str,
        is_handler: bool,
        /// Resolved action name, e.g. `ansible.builtin.debug` (debug output is trimmed
        /// specially; json output records it).
        action: &'a str,
        /// The task has `loop`/`with_*` (its final result carries `results`).
        is_loop: bool,
        /// The role the task belongs to (`name` then starts with `role : `); drift
        /// reports record it.
        role: Option<&'a str>,
    },
    /// `RUNNING HANDLER` banner and the like are decided by the reporter from `is_handler`.
    /// One loop item's result. The item label comes from the result's
    /// `_ansible_item_label` (or `item`); `_ansible_no_log` censors it.
    ItemResult {
        host: &'a str,
        status: Status,
        result: &'a Value,
        ignore_errors: bool,
        /// `delegate_to` of the task for this host, if any (`host -> delegate`).
        delegate_to: Option<&'a str>,
        /// Formatted error shown as `[ERROR]: ...` before a failure when the result has
        /// an `exception` key (Ansible: `Task failed: Action failed: msg` + origin).
        error: Option<&'a str>,
    },
    /// A task's final result on a host. `Ok` vs changed is read from the result's
    /// `changed`; for unreachable hosts `ignore_errors` means `ignore_unreachable`.
    TaskResult {
        host: &'a str,
        status: Status,
        result: &'a Value,
        ignore_errors: bool,
        delegate_to: Option<&'a str>,
        error: Option<&'a str>,
    },
    /// The final result of a looped task on a host (its `results` list inside). The
    /// default output does not print it (it printed the items); the json output records it
    /// as the task's result, as Ansible's json callback does.
    LoopResult {
        host: &'a str,
        status: Status,
        result: &'a Value,
    },
    /// A block's rescue took over a failure on this host.
    Rescued {
        host: &'a str,
    },
    NoHostsMatched,
    /// `include_tasks` / `include_role` loaded a file: `included: PATH for HOST`.
    /// A line an action prints as it runs (`Pausing for 5 seconds`).
    Display {
        message: &'a str,
    },
    /// An `until` loop will try again: `FAILED - RETRYING: [host]: task (N retries left).`
    Retry {
        host: &'a str,
        task: &'a str,
        retries_left: i64,
    },
    Included {
        path: &'a str,
        host: &'a str,
        /// The loop item's label when the include is looped.
        item: Option<&'a str>,
    },
    Warning {
        message: &'a str,
    },
    Deprecation {
        message: &'a str,
    },
    /// `set_stats` data at the end of the run: a map of host name -> data, with the
    /// run-wide (not per-host) data under `_run`. Sent just before `Recap`.
    CustomStats {
        stats: &'a Value,
    },
    Recap {
        stats: &'a [(String, Stats)],
    },
}

/// Per-host counters, counted as Ansible counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Stats {
    pub ok: u64,
    pub changed: u64,
    pub unreachable: u64,
    pub failures: u64,
    pub skipped: u64,
    pub rescued: u64,
    pub ignored: u64,
}

/// Options every reporter honours. `Default` gives Ansible's defaults.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub verbosity: u8,
    pub diff: bool,
    pub check: bool,
    /// Print skipped results (Ansible's `display_skipped_hosts`, default on).
    pub display_skipped_hosts: bool,
    /// Print `ok` results (Ansible's `display_ok_hosts`, default on).
    pub display_ok_hosts: bool,
    pub color: bool,
    /// `[CHECK MODE]` / `DRY RUN` markers (`check_mode_markers`, default off).
    pub check_mode_markers: bool,
    /// Print `CUSTOM STATS` after the recap (`show_custom_stats`, default off).
    pub show_custom_stats: bool,
    /// Terminal columns for banners; Ansible uses `max(79, tty width - 1)`.
    pub columns: usize,
    /// Print deprecation warnings (Ansible's `deprecation_warnings`, default on).
    pub deprecation_warnings: bool,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            verbosity: 0,
            diff: false,
            check: false,
            display_skipped_hosts: true,
            display_ok_hosts: true,
            color: false,
            check_mode_markers: false,
            show_custom_stats: false,
            columns: 79,
            deprecation_warnings: true,
        }
    }
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
