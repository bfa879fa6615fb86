//! Modules: each one answers three questions, in order, and only the third changes the
//! host (see DEVELOPERS.md and docs/architecture.md):
//!
//! 1. [`Module::observe`] reads the current state of what the task names (read only);
//! 2. [`Module::plan`] is pure: from parameters and observed state to a [`Plan`] of
//!    changes, each with before/after for diff;
//! 3. [`Module::apply`] carries out exactly that plan.
//!
//! [`run`] drives the three: check mode stops after plan, `changed` means "the plan was
//! not empty", and diff prints the plan. One file per module holds its parameters
//! ([`Arg`] specs, as Ansible's argument_spec), its three functions, and its tests.

pub mod deadline;
pub mod host;
pub mod library;
pub mod registry;
pub mod spec;

mod apt;
mod apt_repository;
mod authorized_key;
mod blockinfile;
mod codepage;
mod command;
mod copy;
mod cron;
mod deb822_repository;
mod dnf;
mod file;
mod filesize;
mod filesystem;
mod find;
mod get_url;
mod getent;
mod git;
mod group;
mod hostname;
mod ini_file;
mod lineinfile;
mod modprobe;
mod mount;
mod package;
mod package_facts;
mod pam_limits;
mod pip;
mod replace;
mod script;
mod service_facts;
mod slurp;
mod stat;
mod systemd;
mod tempfile;
mod template;
mod uri;
mod user;

mod sysctl;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod testctx;
mod timezone;
mod unarchive;
mod wait_for;

use std::path::{Path, PathBuf};

use agent_template::{Templar, Vars};
use indexmap::IndexMap;
pub use minijinja::Value;
pub use spec::{Arg, Args, Ty};

/// A result dict, as a module returns it (`changed`, `msg`, module return values).
pub type ResultMap = IndexMap<String, Value>;

/// The ansible-core version the agent follows (`ansible_version`, `_ansible_version`).
pub const ANSIBLE_VERSION: &str = "2.21.5";

/// A module failure: Ansible's `msg` plus any extra result fields (`rc`, `stderr`, ...).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{msg}")]
pub struct ModuleError {
    pub msg: String,
    pub fields: ResultMap,
}

impl ModuleError {
    pub fn new(msg: impl Into<String>) -> Self {
        ModuleError {
            msg: msg.into(),
            fields: ResultMap::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(key.to_string(), value.into());
        self
    }

    /// An I/O failure on a path, in Ansible's words where it has them.
    pub fn io(what: &str, path: &Path, err: &std::io::Error) -> Self {
        ModuleError::new(format!("{what} {}: {err}", path.display()))
            .with("path", path.display().to_string())
    }
}

/// One entry of Ansible's `diff` result: before/after are strings (file contents) or
/// dicts (attributes), with optional headers (`before_header` is usually the path).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    pub before: Value,
    pub after: Value,
    pub before_header: Option<String>,
    pub after_header: Option<String>,
}

impl Diff {
    pub fn to_value(&self) -> Value {
        let mut m: IndexMap<String, Value> = IndexMap::new();
        m.insert("before".into(), self.before.clone());
        m.insert("after".into(), self.after.clone());
        if let Some(h) = &self.before_header {
            m.insert("before_header".into(), Value::from(h.as_str()));
        }
        if let Some(h) = &self.after_header {
            m.insert("after_header".into(), Value::from(h.as_str()));
        }
        Value::from_pairs(m)
    }
}

/// The pure output of [`Module::plan`]: what would change. `ops` are the module's own
/// operations for apply; `diff` is what check/diff mode shows; `result` holds the return
/// values already known at plan time (the same in check mode and in a real run).
#[derive(Debug, Clone)]
pub struct Plan<Op> {
    pub ops: Vec<Op>,
    pub diff: Vec<Diff>,
    pub result: ResultMap,
    /// The result's `diff` is the list of diffs, even of one or none, in any mode: how
    /// Ansible's `copy` action returns a file it writes. Otherwise a single diff is
    /// returned as itself and none at all leaves `diff` out (diff mode only).
    pub diff_list: bool,
}

impl<Op> Default for Plan<Op> {
    fn default() -> Self {
        Plan {
            ops: Vec::new(),
            diff: Vec::new(),
            result: ResultMap::new(),
            diff_list: false,
        }
    }
}

impl<Op> Plan<Op> {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.result.insert(key.to_string(), value.into());
    }
}

/// How a file is found for `src` (role `files/`/`templates/`, then the playbook dir).
pub trait FileFinder: Sync {
    /// `kind` is `"files"` or `"templates"`; returns the first existing path.
    fn find(&self, kind: &str, name: &str) -> Option<PathBuf>;

    /// [`FileFinder::find`] with the found path's `stat` (links followed), for a caller
    /// that needs both: a finder that stats its candidates gives the stat it made.
    fn find_stat(
        &self,
        kind: &str,
        name: &str,
    ) -> Option<(PathBuf, std::io::Result<std::fs::Metadata>)> {
        let p = self.find(kind, name)?;
        let md = std::fs::metadata(&p);
        Some((p, md))
    }
}

/// Everything a module may know about the task it runs in.
pub struct Ctx<'a> {
    pub check_mode: bool,
    pub diff_mode: bool,
    pub files: &'a dyn FileFinder,
    pub templar: &'a Templar,
    pub vars: &'a Vars,
    /// `become_user` when `become` is on and it is not root.
    pub become_user: Option<&'a str>,
    /// The task's `environment`, already templated.
    pub environment: &'a [(String, String)],
}

/// A module: see the crate docs for the contract.
pub trait Module: Send + Sync + 'static {
    /// Its parameters: Ansible's argument_spec, in slices that are concatenated
    /// (e.g. the module's own plus [`spec::FILE_COMMON`]).
    const SPECS: &'static [&'static [Arg]];
    /// What observe learns.
    type Observed;
    /// One planned operation.
    type Op: std::fmt::Debug;

    /// Read the current state. Never changes the host.
    fn observe(args: &Args, ctx: &Ctx<'_>) -> Result<Self::Observed, ModuleError>;
    /// Pure: what must change. No I/O.
    fn plan(
        args: &Args,
        observed: &Self::Observed,
        ctx: &Ctx<'_>,
    ) -> Result<Plan<Self::Op>, ModuleError>;
    /// Carry out exactly `plan` (never called with an empty plan, never in check mode).
    /// Returns extra result fields known only after the change (e.g. `rc`, `stdout`).
    fn apply(
        args: &Args,
        observed: Self::Observed,
        plan: &Plan<Self::Op>,
        ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError>;

    /// Checks that load-time validation adds to the argument spec: arguments Ansible's
    /// action plugin requires when the task runs, with its own message and order (the
    /// module's `observe` makes them at run time, for a task that is not checked at load
    /// time).
    fn load_check(_args: &Args) -> Result<(), ModuleError> {
        Ok(())
    }
}

/// Validate and coerce raw arguments for module `M` at load time: the argument spec and
/// [`Module::load_check`].
pub fn validate<M: Module>(name: &str, raw: &IndexMap<String, Value>) -> Result<Args, ModuleError> {
    let args = spec::parse(name, M::SPECS, raw)?;
    M::load_check(&args)?;
    Ok(args)
}

/// The `invocation` Ansible adds to a module's result when `ansible_inject_invocation`
/// is on: `{"module_args": ...}` (see [`spec::Args::module_args`]); `None` when the
/// arguments do not validate (the module's own error says why).
pub fn invocation<M: Module>(name: &str, raw: &IndexMap<String, Value>) -> Option<Value> {
    let args = spec::parse(name, M::SPECS, raw).ok()?;
    let mut m: IndexMap<String, Value> = IndexMap::new();
    m.insert("module_args".into(), args.module_args(M::SPECS, raw));
    Some(Value::from_pairs(m))
}

/// Ansible's task executor adds `stdout_lines`/`stderr_lines` to any result with output.
fn add_lines(result: &mut ResultMap) {
    for (text, lines) in [("stdout", "stdout_lines"), ("stderr", "stderr_lines")] {
        if !result.contains_key(lines)
            && let Some(s) = result
                .get(text)
                .and_then(|v| v.as_str().map(str::to_string))
        {
            result.insert(lines.into(), Value::from(command::py_splitlines(&s)));
        }
    }
}

static APPLY_MICROS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn add_apply_time(d: std::time::Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    APPLY_MICROS.fetch_add(us, std::sync::atomic::Ordering::Relaxed);
}

/// Time spent in modules' `apply` so far in this process (the `apply` phase of drift
/// reports; everything else a task does is `plan`).
pub fn apply_time() -> std::time::Duration {
    std::time::Duration::from_micros(APPLY_MICROS.load(std::sync::atomic::Ordering::Relaxed))
}

/// Run a module through observe → plan → (apply unless check mode). Returns Ansible's
/// result dict: `changed`, `diff` (in diff mode), the plan's and apply's fields.
pub fn run<M: Module>(
    name: &str,
    raw: &IndexMap<String, Value>,
    ctx: &Ctx<'_>,
) -> Result<ResultMap, ModuleError> {
    match run_steps::<M>(name, raw, ctx) {
        Ok(mut r) => {
            add_lines(&mut r);
            Ok(r)
        }
        Err(mut e) => {
            add_lines(&mut e.fields);
            Err(e)
        }
    }
}

fn run_steps<M: Module>(
    name: &str,
    raw: &IndexMap<String, Value>,
    ctx: &Ctx<'_>,
) -> Result<ResultMap, ModuleError> {
    let args = spec::parse(name, M::SPECS, raw)?;
    let observed = M::observe(&args, ctx)?;
    let plan = M::plan(&args, &observed, ctx)?;
    let mut result = plan.result.clone();
    let changed = !plan.is_empty();
    if changed && !ctx.check_mode {
        let t0 = std::time::Instant::now();
        let extra = M::apply(&args, observed, &plan, ctx);
        // What was read of the host before (users, the time zone) is checked again.
        agent_template::epoch::touched();
        add_apply_time(t0.elapsed());
        result.extend(extra?);
    }
    if !result.contains_key("changed") {
        result.insert("changed".into(), Value::from(changed));
    }
    if plan.diff_list {
        let diffs: Vec<Value> = plan.diff.iter().map(Diff::to_value).collect();
        result.insert("diff".into(), Value::from(diffs));
    } else if ctx.diff_mode && !plan.diff.is_empty() {
        let diffs: Vec<Value> = plan.diff.iter().map(Diff::to_value).collect();
        let diff = if diffs.len() == 1 {
            diffs.into_iter().next().unwrap_or_default()
        } else {
            Value::from(diffs)
        };
        result.insert("diff".into(), diff);
    }
    Ok(result)
}
