//! The drift report: one versioned document per run (`report` in `--output json`,
//! `last_run.json`, the S3 copy), and the [`Collector`] that builds its task list from
//! the engine's events. The schema is documented in docs/reports.md; a change that is not
//! backwards compatible raises [`SCHEMA_VERSION`].

use std::io::{self, Write};
use std::time::{Duration, Instant};

use minijinja::value::{Value, ValueKind};
use serde::{Deserialize, Serialize};

use crate::{Event, Reporter, Status};

/// The version of the report schema (docs/reports.md).
pub const SCHEMA_VERSION: u32 = 1;

/// How a task ended, as reports count it (unreachable counts as failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    #[default]
    Ok,
    Changed,
    Failed,
    Skipped,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Ok => "ok",
            TaskStatus::Changed => "changed",
            TaskStatus::Failed => "failed",
            TaskStatus::Skipped => "skipped",
        }
    }
}

/// What a whole run found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RunResult {
    /// Nothing to change.
    #[default]
    Ok,
    /// Check mode: something would change (the host differs from its configuration).
    Drift,
    /// Apply: something was changed (the host now matches).
    Changed,
    /// A task failed (not ignored, not rescued), or the run could not start.
    Failed,
}

impl RunResult {
    pub fn as_str(self) -> &'static str {
        match self {
            RunResult::Ok => "ok",
            RunResult::Drift => "drift",
            RunResult::Changed => "changed",
            RunResult::Failed => "failed",
        }
    }
}

/// One task's outcome on this host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TaskEntry {
    /// The play's name (its hosts pattern when it has none).
    pub play: String,
    pub role: Option<String>,
    /// The task's name without the `role : ` prefix (the action when unnamed).
    pub task: String,
    /// The resolved action (`ansible.builtin.copy`).
    pub module: String,
    pub status: TaskStatus,
    /// A handler (RUNNING HANDLER).
    pub handler: bool,
    /// Failed, with `ignore_errors`.
    pub ignored: bool,
    /// Failed, and a block's rescue took over.
    pub rescued: bool,
    /// What differs, as Ansible's `diff` results (`before`/`after` with their headers,
    /// or `prepared` text). Only for changed tasks, and only when the run has diff on
    /// (`agent check` always has).
    pub changes: Vec<serde_json::Value>,
    /// The failure's (or skip's) message.
    pub msg: Option<String>,
    pub duration_ms: u64,
}

/// Tasks by how they ended. `failed` leaves out ignored and rescued failures, as
/// Ansible's recap does; those are counted in `ignored` and `rescued`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Counts {
    pub ok: u64,
    pub changed: u64,
    pub failed: u64,
    pub skipped: u64,
    pub ignored: u64,
    pub rescued: u64,
}

/// Milliseconds spent in each phase of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Timings {
    /// Configuration, bundle and variables from the source.
    pub pull: u64,
    /// Inventory, playbook, roles: read and checked.
    pub load: u64,
    /// Gathering facts.
    pub facts: u64,
    /// Running tasks except the changes themselves: templating, observing the host,
    /// planning (the whole of a check run).
    pub plan: u64,
    /// Carrying out planned changes (zero in check mode).
    pub apply: u64,
    /// Building and writing the report.
    pub report: u64,
}

/// The bundle a run used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Bundle {
    pub sha256: String,
    /// Where it came from (`s3://…`, a path).
    pub uri: String,
    /// The id of the trusted key whose signature it carried (when `trusted_keys` is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
}

/// The report of one run (schema version 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RunReport {
    pub schema_version: u32,
    pub agent_version: String,
    /// `apply` or `check`.
    pub command: String,
    pub check_mode: bool,
    /// The inventory host this machine ran as.
    pub host: String,
    /// This machine's host name.
    pub hostname: String,
    /// The EC2 instance id, on EC2.
    pub instance_id: Option<String>,
    pub environment: Option<String>,
    pub playbook: Option<String>,
    /// The configured source (`ssm:/…`, `s3://…`, a path); None for a playbook given on
    /// the command line.
    pub source: Option<String>,
    /// None when the playbook was not from a bundle.
    pub bundle: Option<Bundle>,
    /// The run used the last-known-good bundle from the cache.
    pub from_cache: bool,
    /// Why it did (the source could not be reached, or gave a bundle that did not
    /// match its pin).
    pub fallback_reason: Option<String>,
    /// RFC 3339, UTC.
    pub started: String,
    pub ended: String,
    pub duration_ms: u64,
    pub timings_ms: Timings,
    pub result: RunResult,
    pub counts: Counts,
    /// `check` mode tasks that would change (the drift), as `role : task` names.
    pub drifted: Vec<String>,
    /// Stopped between tasks by SIGTERM.
    pub interrupted: bool,
    /// Why the run failed before or outside its tasks (a load error ...).
    pub error: Option<String>,
    pub tasks: Vec<TaskEntry>,
}

impl RunReport {
    /// The report as a JSON value, every string masked.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        mask_json(&mut v);
        v
    }

    /// Counts, result and drifted tasks from `tasks` (call after filling `tasks`).
    /// `failed`: the run failed (a task or the run itself).
    pub fn settle(&mut self, failed: bool) {
        let mut c = Counts::default();
        for t in &self.tasks {
            match t.status {
                TaskStatus::Ok => c.ok += 1,
                TaskStatus::Changed => c.changed += 1,
                TaskStatus::Skipped => c.skipped += 1,
                TaskStatus::Failed if t.ignored => c.ignored += 1,
                TaskStatus::Failed if t.rescued => c.rescued += 1,
                TaskStatus::Failed => c.failed += 1,
            }
        }
        self.counts = c;
        let failed = failed || c.failed > 0 || self.error.is_some();
        self.result = if failed {
            RunResult::Failed
        } else if c.changed > 0 && self.check_mode {
            RunResult::Drift
        } else if c.changed > 0 {
            RunResult::Changed
        } else {
            RunResult::Ok
        };
        self.drifted = if self.check_mode {
            self.tasks
                .iter()
                .filter(|t| t.status == TaskStatus::Changed)
                .map(TaskEntry::display_name)
                .collect()
        } else {
            Vec::new()
        };
    }

    /// Did the run succeed (no failure)?
    pub fn success(&self) -> bool {
        self.result != RunResult::Failed
    }
}

impl TaskEntry {
    /// `role : task`, as Ansible prints it.
    pub fn display_name(&self) -> String {
        match &self.role {
            Some(r) => format!("{r} : {}", self.task),
            None => self.task.clone(),
        }
    }
}

/// Mask every string (and object key) of a JSON value with the registered secrets.
pub fn mask_json(v: &mut serde_json::Value) {
    use serde_json::Value as J;
    if !crate::mask::active() {
        return;
    }
    match v {
        J::String(s) => {
            if let std::borrow::Cow::Owned(m) = crate::mask::mask(s) {
                *s = m;
            }
        }
        J::Array(a) => a.iter_mut().for_each(mask_json),
        J::Object(o) => {
            let old = std::mem::take(o);
            for (k, mut val) in old {
                mask_json(&mut val);
                o.insert(crate::mask::mask(&k).into_owned(), val);
            }
        }
        _ => {}
    }
}

struct Pending {
    name: String,
    role: Option<String>,
    action: String,
    handler: bool,
    start: Instant,
}

/// Builds the report's task list from the engine's events (prints nothing), and
/// measures the time spent gathering facts.
pub struct Collector {
    play: String,
    pending: Option<Pending>,
    tasks: Vec<TaskEntry>,
    facts: Duration,
}

impl Default for Collector {
    fn default() -> Self {
        Self::new()
    }
}

impl Collector {
    pub fn new() -> Self {
        Collector {
            play: String::new(),
            pending: None,
            tasks: Vec::new(),
            facts: Duration::ZERO,
        }
    }

    /// The tasks seen so far.
    pub fn tasks(&self) -> &[TaskEntry] {
        &self.tasks
    }

    pub fn take_tasks(&mut self) -> Vec<TaskEntry> {
        std::mem::take(&mut self.tasks)
    }

    /// Time spent in gather_facts / setup tasks.
    pub fn facts_time(&self) -> Duration {
        self.facts
    }

    fn record(&mut self, status: Status, result: &Value, ignore_errors: bool) {
        let Some(p) = &self.pending else {
            return;
        };
        let elapsed = p.start.elapsed();
        let short = p.action.rsplit('.').next().unwrap_or_default();
        if matches!(short, "gather_facts" | "setup") {
            self.facts += elapsed;
        }
        let changed = get(result, "changed").is_some_and(|v| v.is_true());
        let status = match status {
            Status::Failed | Status::Unreachable => TaskStatus::Failed,
            Status::Skipped => TaskStatus::Skipped,
            Status::Changed => TaskStatus::Changed,
            Status::Ok if changed => TaskStatus::Changed,
            Status::Ok => TaskStatus::Ok,
        };
        let mut changes = Vec::new();
        if status == TaskStatus::Changed {
            collect_diffs(result, &mut changes);
            if let Some(items) = get(result, "results")
                && let Ok(iter) = items.try_iter()
            {
                for item in iter {
                    if get(&item, "changed").is_some_and(|v| v.is_true()) {
                        collect_diffs(&item, &mut changes);
                    }
                }
            }
        }
        let msg = match status {
            TaskStatus::Failed | TaskStatus::Skipped => message(result),
            _ => None,
        };
        let task = match &p.role {
            Some(r) => p
                .name
                .strip_prefix(&format!("{r} : "))
                .unwrap_or(&p.name)
                .to_string(),
            None => p.name.clone(),
        };
        self.tasks.push(TaskEntry {
            play: self.play.clone(),
            role: p.role.clone(),
            task,
            module: p.action.clone(),
            status,
            handler: p.handler,
            ignored: status == TaskStatus::Failed && ignore_errors,
            rescued: false,
            changes,
            msg,
            duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        });
    }
}

fn get(v: &Value, key: &str) -> Option<Value> {
    if v.kind() != ValueKind::Map {
        return None;
    }
    v.get_attr(key).ok().filter(|x| !x.is_undefined())
}

/// The `diff` of a result (one dict or a list of them) as JSON values.
fn collect_diffs(result: &Value, out: &mut Vec<serde_json::Value>) {
    let Some(d) = get(result, "diff") else {
        return;
    };
    let list: Vec<Value> = match d.kind() {
        ValueKind::Seq | ValueKind::Iterable => {
            d.try_iter().map(|i| i.collect()).unwrap_or_default()
        }
        _ => vec![d],
    };
    for one in list {
        if one.kind() != ValueKind::Map {
            continue;
        }
        let Ok(j) = serde_json::to_value(&one) else {
            continue;
        };
        // An empty diff dict says nothing.
        if j.as_object().is_some_and(|o| !o.is_empty()) {
            out.push(j);
        }
    }
}

/// The message of a failed or skipped result (a loop's: its first failed item's).
fn message(result: &Value) -> Option<String> {
    let text = |v: Value| -> Option<String> {
        match v.kind() {
            ValueKind::String => v.as_str().map(str::to_string),
            ValueKind::None | ValueKind::Undefined => None,
            _ => Some(v.to_string()),
        }
    };
    for key in ["msg", "skip_reason", "stderr"] {
        if let Some(m) = get(result, key).and_then(text).filter(|m| !m.is_empty()) {
            return Some(m);
        }
    }
    if let Some(items) = get(result, "results")
        && let Ok(iter) = items.try_iter()
    {
        for item in iter {
            if get(&item, "failed").is_some_and(|v| v.is_true())
                && let Some(m) = message(&item)
            {
                return Some(m);
            }
        }
    }
    None
}

impl Reporter for Collector {
    fn event(&mut self, ev: &Event<'_>, _out: &mut dyn Write) -> io::Result<()> {
        match ev {
            Event::PlayStart { name, hosts, .. } => {
                self.play = if name.is_empty() {
                    hosts.to_string()
                } else {
                    name.to_string()
                };
                self.pending = None;
            }
            Event::TaskStart {
                name,
                action,
                is_handler,
                role,
                ..
            } => {
                self.pending = Some(Pending {
                    name: name.trim().to_string(),
                    role: role.map(str::to_string),
                    action: action.to_string(),
                    handler: *is_handler,
                    start: Instant::now(),
                });
            }
            Event::TaskResult {
                status,
                result,
                ignore_errors,
                ..
            } => self.record(*status, result, *ignore_errors),
            Event::Rescued { .. } => {
                if let Some(t) = self
                    .tasks
                    .iter_mut()
                    .rev()
                    .find(|t| t.status == TaskStatus::Failed && !t.ignored)
                {
                    t.rescued = true;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: &str) -> Value {
        Value::from(minijinja::value::Serde(
            serde_json::from_str::<serde_json::Value>(json).unwrap(),
        ))
    }

    fn task(c: &mut Collector, name: &str, role: Option<&str>, action: &str) {
        let mut sink = Vec::new();
        c.event(
            &Event::TaskStart {
                name,
                path: "",
                is_handler: false,
                action,
                is_loop: false,
                role,
            },
            &mut sink,
        )
        .unwrap();
    }

    fn result(c: &mut Collector, status: Status, r: &Value, ignore: bool) {
        let mut sink = Vec::new();
        c.event(
            &Event::TaskResult {
                host: "h",
                status,
                result: r,
                ignore_errors: ignore,
                delegate_to: None,
                error: None,
            },
            &mut sink,
        )
        .unwrap();
    }

    #[test]
    fn collects_statuses_roles_diffs_and_counts() {
        let mut c = Collector::new();
        let mut sink = Vec::new();
        c.event(
            &Event::PlayStart {
                name: "",
                hosts: "web",
                check_mode: true,
                path: "",
            },
            &mut sink,
        )
        .unwrap();
        task(
            &mut c,
            "Gathering Facts",
            None,
            "ansible.builtin.gather_facts",
        );
        result(&mut c, Status::Ok, &v(r#"{"changed": false}"#), false);
        task(
            &mut c,
            "nginx : conf",
            Some("nginx"),
            "ansible.builtin.copy",
        );
        result(
            &mut c,
            Status::Changed,
            &v(
                r#"{"changed": true, "diff": [{"before": "a\n", "after": "b\n", "after_header": "/etc/x"}, {}]}"#,
            ),
            false,
        );
        task(&mut c, "loop", None, "ansible.builtin.file");
        result(
            &mut c,
            Status::Ok,
            &v(
                r#"{"changed": true, "results": [{"changed": false, "diff": {"before": {"state": "absent"}}}, {"changed": true, "diff": {"before": {"state": "absent"}, "after": {"state": "directory"}}}]}"#,
            ),
            false,
        );
        task(&mut c, "skip", None, "ansible.builtin.command");
        result(
            &mut c,
            Status::Skipped,
            &v(r#"{"changed": false, "skip_reason": "Conditional result was False"}"#),
            false,
        );
        task(&mut c, "boom", None, "ansible.builtin.fail");
        result(&mut c, Status::Failed, &v(r#"{"msg": "no"}"#), true);
        let mut r = RunReport {
            check_mode: true,
            tasks: c.take_tasks(),
            ..Default::default()
        };
        r.settle(false);
        assert_eq!(r.tasks.len(), 5);
        assert_eq!(r.tasks[0].play, "web");
        assert_eq!(r.tasks[1].role.as_deref(), Some("nginx"));
        assert_eq!(r.tasks[1].task, "conf");
        assert_eq!(r.tasks[1].changes.len(), 1);
        assert_eq!(r.tasks[1].changes[0]["after_header"], "/etc/x");
        assert_eq!(r.tasks[2].status, TaskStatus::Changed);
        assert_eq!(r.tasks[2].changes.len(), 1);
        assert_eq!(
            r.tasks[3].msg.as_deref(),
            Some("Conditional result was False")
        );
        assert!(r.tasks[4].ignored);
        assert_eq!(
            r.counts,
            Counts {
                ok: 1,
                changed: 2,
                failed: 0,
                skipped: 1,
                ignored: 1,
                rescued: 0
            }
        );
        assert_eq!(r.result, RunResult::Drift);
        assert_eq!(r.drifted, vec!["nginx : conf".to_string(), "loop".into()]);
        r.check_mode = false;
        r.settle(false);
        assert_eq!(r.result, RunResult::Changed);
        assert!(r.drifted.is_empty());
        r.settle(true);
        assert_eq!(r.result, RunResult::Failed);
    }

    #[test]
    fn rescued_failures_are_not_failures() {
        let mut c = Collector::new();
        task(&mut c, "t", None, "ansible.builtin.fail");
        result(&mut c, Status::Failed, &v(r#"{"msg": "x"}"#), false);
        let mut sink = Vec::new();
        c.event(&Event::Rescued { host: "h" }, &mut sink).unwrap();
        let mut r = RunReport {
            tasks: c.take_tasks(),
            ..Default::default()
        };
        r.settle(false);
        assert!(r.tasks[0].rescued);
        assert_eq!(r.counts.failed, 0);
        assert_eq!(r.counts.rescued, 1);
        assert_eq!(r.result, RunResult::Ok);
    }

    #[test]
    fn parses_tolerantly() {
        let r: RunReport = serde_json::from_str(r#"{"result": "drift", "future": 1}"#).unwrap();
        assert_eq!(r.result, RunResult::Drift);
        assert_eq!(r.schema_version, 0);
    }
}
