//! Running plays for this host.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use agent_inventory::Inventory;
use agent_modules::{Ctx, FileFinder, registry};
use agent_report::{Event, Reporter, Stats, Status};
use agent_template::{Templar, TemplateError, Vars};
use indexmap::IndexMap;
use minijinja::Value;
use minijinja::value::ValueKind;

use super::actions;
use super::asyncjob;
use super::facts;
use super::lockstep::{Turn, Verdict};
use super::vars::{HostVars, map_value, mark_unsafe, registered};
use crate::loader::model::*;
use crate::loader::playbook::{Inherited, Loader, RoleOpts, load_include};

/// The agent's modules and actions that are action plugins in Ansible without async
/// support (`_supports_async` is set only by command, shell, dnf, package, service, uri and
/// the plain module runner): a task of these with `async` fails.
const NO_ASYNC: &[&str] = &[
    "copy",
    "template",
    "assemble",
    "script",
    "unarchive",
    "fetch",
    "raw",
    "reboot",
    "debug",
    "set_fact",
    "assert",
    "fail",
    "include_vars",
    "pause",
    "set_stats",
    "group_by",
    "add_host",
    "gather_facts",
    "wait_for_connection",
    "validate_argument_spec",
    "async_status",
];
/// What the user asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub check: bool,
    pub diff: bool,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub extra_vars: IndexMap<String, Value>,
    pub start_at_task: Option<String>,
    pub force_handlers: bool,
    /// `ANSIBLE_ERROR_ON_MISSING_HANDLER` (default true): notifying a handler that does
    /// not exist fails the host; false, it is only a warning.
    pub error_on_missing_handler: bool,
    /// Ansible's `jsonfile` fact cache, when configured (`None`: facts last one run).
    pub fact_cache: Option<super::factcache::FactCache>,
    /// `--flush-cache`: the host's cached facts are forgotten before the run.
    pub flush_cache: bool,
    pub verbosity: u8,
    pub inventory_sources: Vec<String>,
    /// `-c/--connection`: with several hosts (`--local-hosts`), the connection of every
    /// host, as ansible-playbook's (see `Engine::unreachable_self`).
    pub connection: Option<String>,
    /// Polled before each task and play: a signal number other than 0 stops the run
    /// there (crate::signals sets it on SIGTERM/SIGINT).
    pub interrupt: Option<&'static AtomicI32>,
}

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub stats: Stats,
    pub failed: bool,
    /// The run stopped early on a signal, between two tasks.
    pub interrupted: bool,
    /// Which signal stopped it (`SIGTERM`, `SIGINT`).
    pub interrupted_by: Option<String>,
    /// A file an include brought could not be loaded (not a missing file: a bad task, a
    /// YAML error): as in Ansible, that ends the whole run, with the error's origin.
    pub fatal: Option<(crate::loader::Loc, String)>,
}

/// Control flow out of a list of tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    /// The host failed (a task failed and was not ignored or rescued).
    Failed,
    EndPlay,
    EndHost,
    /// `meta: end_role`: the rest of the innermost role placement is skipped (its
    /// `always` sections too, as Ansible skips every task up to the role's end).
    EndRole,
    /// The host could not be reached (a delegate agent cannot run on): it leaves the run.
    Unreachable,
    /// A signal asked the run to stop (see RunOptions::interrupt).
    Interrupted,
    /// A file an include brought has an error Ansible raises as a parser error: the run
    /// ends (see `Outcome::fatal`).
    Fatal,
}

impl Flow {
    /// This flow, or when it goes on, what `next` says.
    fn or(self, next: impl FnOnce() -> Flow) -> Flow {
        match self {
            Flow::Continue => next(),
            f => f,
        }
    }
}

/// The batch (from 0) that the `pos`-th of `n` hosts is in, for `serial` batch sizes
/// (numbers or percentages of `n`; the last size repeats; 0, or none, is every host), as
/// ansible-core's `_get_serialized_batches` and `pct_to_int`.
fn serial_batch(sizes: &[Value], n: usize, pos: usize) -> u32 {
    let size_of = |v: &Value| -> i64 {
        let text = v.to_string();
        match text.trim().strip_suffix('%') {
            Some(pct) => {
                let pct: f64 = pct.trim().parse().unwrap_or(0.0);
                // int(pct / 100 * n) or 1
                let k = (pct / 100.0 * n as f64) as i64;
                if k == 0 { 1 } else { k }
            }
            None => text.trim().parse::<f64>().map(|f| f as i64).unwrap_or(0),
        }
    };
    let mut start = 0usize;
    let mut batch = 0u32;
    let mut i = 0usize;
    while start < n {
        let size = sizes.get(i).map_or(0, size_of);
        if size <= 0 {
            return batch;
        }
        let end = start + size as usize;
        if pos < end {
            return batch;
        }
        start = end;
        batch += 1;
        i = (i + 1).min(sizes.len().saturating_sub(1));
    }
    batch
}

/// Deepest nesting of include_tasks / include_role: a file that includes itself (directly
/// or through others) fails here with a clear error instead of exhausting the stack.
pub const MAX_INCLUDE_DEPTH: usize = 48;

/// How many includes the current task is nested in.
fn include_depth(frames: &[Frame<'_>]) -> usize {
    frames.iter().filter(|f| f.include).count()
}

fn include_too_deep(frames: &[Frame<'_>], what: &str) -> Option<String> {
    (include_depth(frames) >= MAX_INCLUDE_DEPTH).then(|| {
        format!(
            "include nesting deeper than {MAX_INCLUDE_DEPTH} levels at '{what}': does a file include itself (directly or through others)?"
        )
    })
}

#[derive(Clone, Copy)]
struct Frame<'a> {
    common: &'a Common,
    /// Vars of this frame are include parameters (include_tasks/include_role `vars:`).
    include: bool,
}

/// Per-host variables that tasks set.
#[derive(Default)]
struct HostState {
    facts: IndexMap<String, Value>,
    /// Facts a module returned without the `ansible_` prefix (`getent_passwd`,
    /// `services`): their variable is the bare name, as Ansible injects facts.
    bare_facts: std::collections::HashSet<String>,
    set_facts: IndexMap<String, Value>,
    include_vars: IndexMap<String, Value>,
    facts_v: Value,
    set_facts_v: Value,
    include_vars_v: Value,
    /// Bumped whenever the variables above (or the run-time groups and hosts) change:
    /// the magic variables built from them are cached per generation.
    generation: u64,
}

impl HostState {
    /// The variable a fact is also visible as: `ansible_<name>` for gathered facts (and
    /// module facts returned with that prefix), the bare name for other module facts.
    fn fact_var(&self, name: &str) -> String {
        if self.bare_facts.contains(name) {
            name.to_string()
        } else {
            format!("ansible_{name}")
        }
    }

    /// A fact a module returned under `ansible_facts`, named as the module named it:
    /// Ansible keeps `ansible_facts.<name without ansible_>` and the variable `<name>`.
    fn set_module_fact(&mut self, name: &str, value: Value) {
        match name
            .strip_prefix("ansible_")
            .filter(|_| name != "ansible_local")
        {
            Some(short) => {
                self.bare_facts.remove(short);
                self.facts.insert(short.to_string(), value);
            }
            None => {
                self.bare_facts.insert(name.to_string());
                self.facts.insert(name.to_string(), value);
            }
        }
    }

    /// Gathered facts join the host's facts under their `ansible_` names.
    fn set_gathered(&mut self, facts: IndexMap<String, Value>) {
        for (k, v) in facts {
            self.bare_facts.remove(&k);
            // facts are data (the environment, file contents): never templates
            self.facts.insert(k, mark_unsafe(&v));
        }
    }

    fn refresh(&mut self) {
        self.generation += 1;
        let mut with_prefix: IndexMap<String, Value> = IndexMap::new();
        for (k, v) in &self.facts {
            with_prefix.insert(self.fact_var(k), v.clone());
        }
        with_prefix.insert("ansible_facts".into(), map_value(&self.facts));
        self.facts_v = map_value(&with_prefix);
        self.set_facts_v = map_value(&self.set_facts);
        self.include_vars_v = map_value(&self.include_vars);
    }
}

struct PlayState {
    /// The play's hosts, every batch (`ansible_play_hosts_all`).
    hosts_all: Vec<String>,
    /// Where the handlers that include_role added were written (each is added once).
    /// Handlers included roles added: where each is defined → its index in `handlers`.
    included_handlers: HashMap<String, usize>,
    dir: PathBuf,
    name: String,
    play_vars: Value,
    vars_files: Value,
    roles_vars: Value,
    roles_defaults: Value,
    handlers: Vec<Item>,
    notified: Vec<bool>,
    /// Handlers inside an imported handler file (a block of the handlers list) that are
    /// notified, by address: only they run when their block is flushed.
    notified_inner: HashSet<usize>,
    /// Templated handler names, by handler address, once per play (`None`: unusable).
    handler_names: HashMap<usize, Option<String>>,
    handlers_running: bool,
    start_at_found: bool,
    any_errors_fatal: bool,
    /// Roles completed on this host in this play ([`RoleInstance::dedup_key`]): a task
    /// of the role ran (ok, changed or failed, not skipped) and the role's placement
    /// ended without failing the host. Placed again, they are skipped silently unless duplicates are allowed.
    roles_done: HashSet<Arc<str>>,
}

/// Finds files for `src:` in role `files/`/`templates/` and the playbook dir.
struct Finder {
    dirs: Vec<PathBuf>,
}

impl FileFinder for Finder {
    fn find(&self, kind: &str, name: &str) -> Option<PathBuf> {
        self.find_stat(kind, name).map(|(p, _)| p)
    }

    /// The first candidate that exists (links followed), with the stat that found it.
    fn find_stat(
        &self,
        kind: &str,
        name: &str,
    ) -> Option<(PathBuf, std::io::Result<std::fs::Metadata>)> {
        let found = |c: PathBuf| std::fs::metadata(&c).ok().map(|md| (c, Ok(md)));
        let p = Path::new(name);
        if p.is_absolute() {
            return found(p.to_path_buf());
        }
        self.dirs
            .iter()
            .flat_map(|d| [d.join(kind).join(name), d.join(name)])
            .find_map(found)
    }
}

pub struct Engine<'r> {
    opts: RunOptions,
    templar: Templar,
    inventory: Arc<Inventory>,
    host: String,
    reporter: &'r mut dyn Reporter,
    out: &'r mut dyn Write,
    stats: Stats,
    hs: HostState,
    loader: Loader,
    omit: String,
    play: Option<PlayState>,
    /// Loop variables of the item being run (include params for include_* in loops).
    loop_extra: IndexMap<String, Value>,
    loop_label: Option<String>,
    /// The include's `included:` line was already printed (looped includes).
    include_announced: bool,
    /// `meta: clear_host_errors` ran: a block whose tasks failed ends as if they had not
    /// (Ansible clears the host's failed state).
    host_errors_cleared: bool,
    /// How many of `stats.failures` a `clear_host_errors` cleared (they do not fail the run).
    failures_cleared: u64,
    /// One entry per role placement being run (innermost last): whether a task of it ran.
    role_ran: Vec<bool>,
    /// The task being run is inside a block with a `rescue` (its failure is rescued).
    rescuable_now: bool,
    /// The host's facts as the fact cache keeps them (`ansible_`-prefixed gathered facts,
    /// cacheable set_facts): rewritten to the jsonfile cache whenever they change.
    cached_facts: IndexMap<String, Value>,
    /// Warnings found while the engine was borrowed (see `emit_warning_later`).
    pending_warnings: std::cell::RefCell<Vec<String>>,
    /// The conditionals wholly in `{{ }}` the current task evaluated (Ansible deprecates
    /// them): added to its result's `deprecations` when it finishes.
    templated_conditionals: std::cell::RefCell<Vec<Value>>,
    /// The conditionals with templates in string constants (`x == '{{ y }}'`) the current
    /// task evaluated (Ansible warns): printed with its result.
    const_template_conditionals: std::cell::RefCell<Vec<Value>>,
    /// The current task's templated `notify` names (per item for a loop); `None`: as
    /// written.
    notify_acc: Option<Vec<String>>,
    /// The current task's `delegate_to` (shown as `host -> delegate`).
    delegate: Option<String>,
    /// The current task's `ignore_unreachable`.
    ignore_unreachable: bool,
    /// Groups and hosts made at run time that the engine's inventory does not hold (group →
    /// hosts): other hosts added by add_host, and the implicit localhost's groups. This
    /// host's own groups go into the inventory (see `Engine::join_group`).
    runtime_groups: IndexMap<String, Vec<String>>,
    /// Variables of hosts added by add_host.
    runtime_hosts: IndexMap<String, IndexMap<String, Value>>,
    /// Facts that stay the same for the whole run (see agent_facts::Cache).
    facts_cache: agent_facts::Cache,
    fact_values: facts::ValueCache,
    /// The signal that stopped the run (0: none).
    interrupted: i32,
    /// What ended the run (see `Outcome::fatal`).
    fatal: Option<(crate::loader::Loc, String)>,
    /// The host's magic variables and inventory variables, built for one generation
    /// of [`HostState`] (they do not depend on the task).
    host_magic: std::cell::RefCell<Option<(u64, Value, Value, Value)>>,
    /// The host's inventory variables, merged once and again only after `group_by` or
    /// `add_host` changed this host's entry in the inventory.
    own_inventory_vars: std::cell::OnceCell<Option<(IndexMap<String, Value>, Value)>>,
    /// An event's text, gathered before it is written (see [`Engine::emit`]).
    event_buf: Vec<u8>,
    /// Warnings said once per run (see [`Engine::warn_once`]).
    warned: std::collections::HashSet<String>,
    /// This host's place among several run in lockstep (`--local-hosts`); `None`: the
    /// run's only host.
    member: Option<super::lockstep::Member>,
    /// Where the engine is in the playbook: play, section, item, block part, include
    /// item, ... (the order of the lockstep's rounds).
    pos: Vec<u32>,
    /// The lockstep's play-hosts generation the magic variables were built with.
    play_hosts_gen: u64,
    /// The generation of [`HostState`] this host last published (several hosts).
    published_gen: Option<u64>,
    /// The current task's any_errors_fatal (its own, else its blocks', role's, play's).
    task_fatal: bool,
    /// The current task's `ansible_connection` from its own and its blocks' vars, and its
    /// `connection` keyword (its own, else its blocks', role's, play's).
    conn_from_task: (Option<Value>, Option<Value>),
    /// The place of the looped include item being run among the files included at its
    /// position (see `include_slots`).
    include_slot: Option<u32>,
    /// The meta action the current task carried out (for `run_once` hand-over).
    meta_done: Option<String>,
    /// Where another host's failure under any_errors_fatal failed this host (a task's
    /// position): see `run_block_inner`.
    fail_verdict_at: Option<Vec<u32>>,
    /// The task being run is a `run_once` task this host runs for the others (in this
    /// round).
    running_once: Option<u64>,
}

fn tmpl_err(e: TemplateError) -> String {
    e.message
}

fn result_map(pairs: &[(&str, Value)]) -> IndexMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// `vars` with the task's registered name (if any) set to `result`, above everything:
/// what `break_when`, a templated loop label and `failed_when` see.
fn with_registered(vars: &Vars, task: &Task, result: &IndexMap<String, Value>) -> Vars {
    let mut out = vars.clone();
    if let Some(reg) = &task.register {
        out.layers.insert(
            0,
            Value::from_pairs([(reg.clone(), registered(result, own_facts(&task.short)))]),
        );
    }
    out
}

/// Every task under `item` (blocks' sections in order).
fn collect_tasks(item: &Item, f: &mut dyn FnMut(&Arc<Task>)) {
    match item {
        Item::Task(t) => f(t),
        Item::Block(b) => {
            for i in b.block.iter().chain(&b.rescue).chain(&b.always) {
                collect_tasks(i, f);
            }
        }
    }
}

/// A collection role's own name (`ns.col.role` → `role`); other names as they are.
fn role_short_name(name: &str) -> &str {
    match name.splitn(3, '.').collect::<Vec<_>>()[..] {
        [_, _, role] if !name.contains('/') => role,
        _ => name,
    }
}

/// Ansible's `exception` text when it has no traceback to show.
const NO_TRACEBACK: &str = "(traceback unavailable)";

fn truthy(v: &Value) -> bool {
    match v.kind() {
        ValueKind::String => agent_modules::spec::to_bool(v).unwrap_or(true),
        _ => v.is_true(),
    }
}

fn get_bool(m: &IndexMap<String, Value>, k: &str) -> bool {
    m.get(k).is_some_and(|v| v.is_true())
}

impl<'r> Engine<'r> {
    pub fn new(
        opts: RunOptions,
        inventory: Arc<Inventory>,
        host: String,
        loader: Loader,
        reporter: &'r mut dyn Reporter,
        out: &'r mut dyn Write,
    ) -> Engine<'r> {
        // This engine says when a task may have changed the host (`host_touched`), so
        // cached readings of host files are trusted in between.
        agent_template::epoch::manage();
        let mut hs = HostState::default();
        hs.refresh();
        Engine {
            opts,
            templar: loader.templar.clone(),
            inventory,
            host,
            reporter,
            out,
            stats: Stats::default(),
            hs,
            loader,
            omit: agent_template::OMIT.into(),
            play: None,
            loop_extra: IndexMap::new(),
            loop_label: None,
            include_announced: false,
            host_errors_cleared: false,
            role_ran: Vec::new(),
            rescuable_now: false,
            cached_facts: IndexMap::new(),
            pending_warnings: Default::default(),
            templated_conditionals: Default::default(),
            const_template_conditionals: Default::default(),
            notify_acc: None,
            failures_cleared: 0,
            delegate: None,
            ignore_unreachable: false,
            runtime_groups: IndexMap::new(),
            runtime_hosts: IndexMap::new(),
            facts_cache: agent_facts::Cache::new(),
            fact_values: facts::ValueCache::default(),
            interrupted: 0,
            fatal: None,
            host_magic: std::cell::RefCell::new(None),
            own_inventory_vars: std::cell::OnceCell::new(),
            event_buf: Vec::new(),
            warned: std::collections::HashSet::new(),
            member: None,
            pos: Vec::new(),
            play_hosts_gen: 0,
            running_once: None,
            published_gen: None,
            task_fatal: false,
            conn_from_task: (None, None),
            meta_done: None,
            include_slot: None,
            fail_verdict_at: None,
        }
    }

    /// Run as one of several hosts that take turns task by task (see `lockstep`).
    pub fn in_lockstep(&mut self, member: super::lockstep::Member) {
        self.member = Some(member);
    }

    /// What this host has set (facts under their variable names and `ansible_facts`,
    /// include_vars, set_fact and registered results): its `hostvars` over the inventory.
    fn own_set_vars(&self) -> IndexMap<String, Value> {
        let mut vars = IndexMap::new();
        for (k, v) in &self.hs.facts {
            vars.insert(self.hs.fact_var(k), v.clone());
        }
        vars.insert("ansible_facts".into(), map_value(&self.hs.facts));
        for (k, v) in self.hs.include_vars.iter().chain(self.hs.set_facts.iter()) {
            vars.insert(k.clone(), v.clone());
        }
        vars
    }

    /// Wait for this host's turn at the current position (at once when it runs alone).
    fn turn(&mut self) -> Turn {
        let Some(m) = &self.member else {
            return Turn::ALONE;
        };
        if self.published_gen != Some(self.hs.generation) {
            // What this host set since, for the others' hostvars.
            m.lockstep.publish(m.me, self.own_set_vars());
            self.published_gen = Some(self.hs.generation);
        }
        let Some(m) = &self.member else {
            return Turn::ALONE;
        };
        let t = m.lockstep.gate(m.me, &self.pos);
        let (_, _, generation) = m.lockstep.play_hosts();
        if generation != self.play_hosts_gen {
            // ansible_play_hosts changed: the magic variables are built again.
            self.play_hosts_gen = generation;
            self.hs.generation += 1;
        }
        t
    }

    /// Several hosts: after a task, wait until every host of its round has run it; a
    /// failure under `any_errors_fatal` on another host fails this one here, in the
    /// block it is in (its rescue and always run), as Ansible marks hosts failed after
    /// the round.
    fn settle(&mut self) -> Flow {
        if self.member.is_none() {
            return Flow::Continue;
        }
        self.pos.push(u32::MAX);
        let turn = self.turn();
        self.pos.pop();
        match turn.verdict {
            Verdict::Run => Flow::Continue,
            Verdict::EndPlay => Flow::EndPlay,
            Verdict::Fail => Flow::Failed,
            Verdict::Stop => Flow::Fatal,
        }
    }

    /// A `run_once` task the round's first host ran: its registered result, facts and
    /// included vars are this host's too, and its failure fails this host (unseen).
    fn take_run_once(&mut self, round: u64) -> Flow {
        let Some(done) = self
            .member
            .as_ref()
            .and_then(|m| m.lockstep.run_once_result(round))
        else {
            return Flow::Continue;
        };
        self.hs.set_facts.extend(done.set_facts);
        self.hs.include_vars.extend(done.include_vars);
        self.hs.facts.extend(done.facts);
        match done.meta.as_deref() {
            Some("end_play" | "end_batch") => {
                self.hs.refresh();
                return Flow::EndPlay;
            }
            Some("clear_host_errors") => self.host_errors_cleared = true,
            Some("clear_facts") => {
                self.hs.facts.clear();
                self.hs.bare_facts.clear();
            }
            _ => {}
        }
        self.hs.refresh();
        if done.failed {
            Flow::Failed
        } else {
            Flow::Continue
        }
    }

    /// What an explicit meta task did, as Ansible says it at -vv (`META: ending play`).
    fn meta_said(&mut self, header: &str) {
        if self.opts.verbosity >= 2 && !header.is_empty() {
            let message = format!("META: {header}");
            self.emit(Event::Display { message: &message });
        }
    }

    /// Several hosts: which batch of `play` this host is in (by `serial`, as Ansible's
    /// `_get_serialized_batches`), and all the play's hosts. Alone: batch 0, itself.
    fn play_batch(&self, play: &Play, pattern: &str, selected: bool) -> (u32, Vec<String>) {
        let Some(m) = self.member.as_ref().filter(|_| selected) else {
            return (0, vec![self.host.clone()]);
        };
        let local = m.lockstep.hosts();
        let all: Vec<String> = self
            .inventory
            .select(pattern)
            .unwrap_or_default()
            .into_iter()
            .filter(|h| local.contains(h))
            .collect();
        let sizes: Vec<Value> = match &play.serial {
            None => Vec::new(),
            Some(v) => {
                let v = if v.as_str().is_some_and(Templar::is_template) {
                    let vars = Vars::new(vec![map_value(&self.opts.extra_vars)]);
                    self.templar
                        .template_value(v, &vars)
                        .unwrap_or_else(|_| v.clone())
                } else {
                    v.clone()
                };
                match v.kind() {
                    ValueKind::Seq => v.try_iter().map(|i| i.collect()).unwrap_or_default(),
                    _ => vec![v],
                }
            }
        };
        let pos = all.iter().position(|h| h == &self.host).unwrap_or(0);
        (serial_batch(&sizes, all.len(), pos), all)
    }

    /// Several hosts: the items of a looped include, each with its place among the files
    /// included at this position by any host (the file as its argument names it, and the
    /// item), in that order, as Ansible runs each distinct included file as its own blocks
    /// in the order hosts first included them. Alone: as they are.
    #[allow(clippy::type_complexity)]
    fn include_slots(
        &self,
        task: &Task,
        items: Vec<(IndexMap<String, Value>, Vars)>,
    ) -> Vec<(Option<u32>, (IndexMap<String, Value>, Vars))> {
        let Some(m) = &self.member else {
            return items.into_iter().map(|i| (None, i)).collect();
        };
        let mut slotted: Vec<(Option<u32>, (IndexMap<String, Value>, Vars))> = items
            .into_iter()
            .map(|(extra, ivars)| {
                let file = ["file", "_raw_params", "name"]
                    .iter()
                    .find_map(|k| task.args.get(*k))
                    .map(|v| {
                        self.templar
                            .template_value(v, &ivars)
                            .map(|v| v.to_string())
                            .unwrap_or_else(|_| v.to_string())
                    })
                    .unwrap_or_default();
                let key = format!("{file}\u{0}{:?}\u{0}{extra:?}", task.common.vars);
                (Some(m.lockstep.include_id(&self.pos, &key)), (extra, ivars))
            })
            .collect();
        slotted.sort_by_key(|(slot, _)| *slot);
        slotted
    }

    /// Tell the other hosts how this host's play ended.
    fn play_ended(&self, flow: Flow) {
        let Some(m) = &self.member else {
            return;
        };
        match flow {
            Flow::Failed | Flow::Unreachable | Flow::Interrupted | Flow::Fatal => {
                m.lockstep.host_failed(m.me)
            }
            Flow::EndHost => m.lockstep.host_ended(m.me),
            Flow::EndPlay => m.lockstep.end_play(),
            _ => {}
        }
    }

    /// Run `f` one level deeper in the playbook: `idx` is the position at that level.
    fn at<T>(&mut self, idx: usize, f: impl FnOnce(&mut Self) -> T) -> T {
        self.pos.push(u32::try_from(idx).unwrap_or(u32::MAX));
        let r = f(self);
        self.pos.pop();
        r
    }

    /// Whether a signal asked the run to stop; said once, naming what is not run.
    fn stop_requested(&mut self, before: &str) -> bool {
        if self.interrupted != 0 {
            return true;
        }
        let sig = self.opts.interrupt.map_or(0, |f| f.load(Ordering::SeqCst));
        if sig == 0 {
            return false;
        }
        self.interrupted = sig;
        let msg = format!(
            "interrupted by {}: stopping before {before}; the rest of the run is skipped",
            crate::signals::name(sig).unwrap_or("a signal")
        );
        self.emit(Event::Warning { message: &msg });
        true
    }

    /// Report an event. Its text is gathered and written whole: the reporters write it
    /// in many small pieces, and line-buffered standard output made a system call of
    /// each line.
    fn emit(&mut self, ev: Event<'_>) {
        let mut buf = std::mem::take(&mut self.event_buf);
        buf.clear();
        let res = self.reporter.event(&ev, &mut buf);
        let res = res.and(self.out.write_all(&buf));
        self.event_buf = buf;
        if let Err(e) = res {
            tracing::warn!("could not write output: {e}");
        }
    }

    /// A task may have changed the host: what was read of it ahead of time (units' state,
    /// the costly facts) is read again when next needed.
    fn host_touched(&mut self) {
        tracing::debug!("a task may have changed the host: facts and unit states are read again");
        agent_modules::host::systemd::forget_read_ahead();
        agent_template::epoch::touched();
        self.facts_cache.host_changed();
    }

    /// Run every play of a playbook. Returns the counts for this host.
    pub fn run_playbook(&mut self, pb: &Playbook) -> Outcome {
        let path = pb.path.display().to_string();
        self.pos.clear();
        if self.turn().first {
            self.emit(Event::PlaybookStart {
                path: &path,
                plays: pb.plays.len(),
            });
            self.flush_load_warnings();
        }
        self.load_fact_cache();
        if pb
            .plays
            .iter()
            .any(|p| p.gather_facts.as_ref().map(truthy).unwrap_or(true))
        {
            agent_facts::prefetch_systemd();
        }
        let is_service =
            |t: &Task| matches!(t.short.as_str(), "service" | "systemd" | "systemd_service");
        let services = pb.any_task(&is_service);
        if services {
            // Units are read ahead for tasks, in the order they run; not for handlers,
            // which run only after a change (and most often restart anyway).
            let units = std::cell::RefCell::new(Vec::new());
            let visit = |t: &Task| {
                if is_service(t)
                    && let Some(unit) = read_ahead_unit(t)
                {
                    let mut units = units.borrow_mut();
                    if !units.contains(&unit) {
                        units.push(unit);
                    }
                }
                // Visit them all.
                false
            };
            for p in &pb.plays {
                for item in [&p.pre_tasks, &p.main, &p.post_tasks].into_iter().flatten() {
                    item.any_task(&visit);
                }
            }
            let key = std::path::absolute(&pb.path).unwrap_or_else(|_| pb.path.clone());
            agent_modules::host::systemd::connect_in_background(
                units.into_inner(),
                &key.display().to_string(),
            );
        }
        let mut failed = false;
        for (i, play) in pb.plays.iter().enumerate() {
            self.pos = vec![u32::try_from(i).unwrap_or(u32::MAX)];
            let flow = self.run_play(play);
            self.play_ended(flow);
            match flow {
                Flow::Failed => {
                    failed = true;
                    break;
                }
                Flow::Interrupted | Flow::Unreachable | Flow::Fatal => break,
                _ => {}
            }
        }
        if services {
            agent_modules::host::systemd::remember_units();
        }
        if self.member.is_none() && self.fatal.is_none() {
            let stats = vec![(self.host.clone(), self.stats)];
            self.emit(Event::Recap { stats: &stats });
            if let Err(e) = self.reporter.finish(self.out) {
                tracing::warn!("could not write output: {e}");
            }
        }
        // Leave the lockstep now: the other hosts go on while this one is done.
        self.member = None;
        Outcome {
            stats: self.stats,
            failed: failed
                || self.stats.failures > self.failures_cleared
                || self.stats.unreachable > 0,
            interrupted: self.interrupted != 0,
            interrupted_by: crate::signals::name(self.interrupted).map(str::to_string),
            fatal: self.fatal.take(),
        }
    }

    /// Warnings found while loading files (duplicate YAML keys), shown once.
    fn flush_load_warnings(&mut self) {
        for w in crate::loader::files::take_warnings() {
            self.emit(Event::Warning { message: &w });
        }
    }

    fn host_selected(&self, pattern: &str) -> bool {
        if pattern.trim().is_empty() {
            return false;
        }
        match self.inventory.select(pattern) {
            Ok(hosts) => hosts.iter().any(|h| h == &self.host),
            Err(_) => false,
        }
    }

    fn run_play(&mut self, play: &Play) -> Flow {
        let what = if play.name.is_empty() {
            "the next play".to_string()
        } else {
            format!("play '{}'", play.name)
        };
        if self.stop_requested(&what) {
            return Flow::Interrupted;
        }
        let check = play
            .common
            .check_mode
            .as_ref()
            .map(truthy)
            .unwrap_or(self.opts.check);
        let ppath = play.loc.to_string();
        // Templated host patterns use extra vars only (as Ansible, before host vars exist).
        let hosts = if Templar::is_template(&play.hosts) {
            let v = Vars::new(vec![map_value(&self.opts.extra_vars)]);
            self.templar
                .render_str(&play.hosts, &v)
                .map(|v| v.to_string())
                .unwrap_or_else(|_| play.hosts.clone())
        } else {
            play.hosts.clone()
        };
        let selected = self.host_selected(&hosts);
        // Several hosts: the play runs batch by batch (`serial`), each batch whole
        // before the next, each with its own banner.
        let (batch, hosts_all) = self.play_batch(play, &hosts, selected);
        let play_idx = self.pos.first().copied().unwrap_or(0);
        self.pos = vec![play_idx, batch];
        let turn = self.turn();
        if turn.verdict == Verdict::EndPlay {
            // `meta: end_play` in an earlier batch ended the play.
            return Flow::Continue;
        }
        // Before the play's banner, as Ansible selects the play's hosts.
        let unmatched = if turn.first {
            self.inventory.unmatched_patterns(&hosts)
        } else {
            Vec::new()
        };
        for p in unmatched {
            // Groups and hosts that add_host made for other hosts are not in the inventory.
            if self.runtime_groups.contains_key(&p) || self.runtime_hosts.contains_key(&p) {
                continue;
            }
            self.warn_once(&format!(
                "Could not match supplied host pattern, ignoring: {p}"
            ));
        }
        if turn.first {
            self.emit(Event::PlayStart {
                name: &play.name,
                hosts: &play.hosts,
                check_mode: check,
                path: &ppath,
            });
        }
        let any_selected = match &self.member {
            Some(m) => {
                m.lockstep.start_play(m.me, play_idx, batch, selected);
                m.lockstep.any_selected()
            }
            None => selected,
        };
        if !selected {
            if turn.last && !any_selected {
                self.emit(Event::NoHostsMatched);
            }
            return Flow::Continue;
        }
        let mut roles_vars = IndexMap::new();
        let mut roles_defaults = IndexMap::new();
        // The play-level vars and defaults of its public roles (all but those made
        // private by `public: false` or ANSIBLE_PRIVATE_ROLE_VARS).
        for r in play.roles.iter().filter(|r| r.public) {
            roles_defaults.extend(r.defaults.clone());
            roles_vars.extend(r.vars.clone());
        }
        self.play = Some(PlayState {
            hosts_all,
            included_handlers: HashMap::new(),
            dir: play.dir.clone(),
            name: play.name.clone(),
            play_vars: map_value(&play.common.vars),
            vars_files: Value::from(()),
            roles_vars: map_value(&roles_vars),
            roles_defaults: map_value(&roles_defaults),
            notified: vec![false; play.handlers.len()],
            notified_inner: HashSet::new(),
            handler_names: HashMap::new(),
            handlers: play.handlers.clone(),
            handlers_running: false,
            start_at_found: self.opts.start_at_task.is_none(),
            any_errors_fatal: play.common.any_errors_fatal.as_ref().is_some_and(truthy),
            roles_done: HashSet::new(),
        });
        // vars_files, templated with what is known so far.
        let mut vf = IndexMap::new();
        for f in &play.vars_files {
            let vars = self.vars_for(&[], None, &IndexMap::new());
            let candidates: Vec<Value> = match f.kind() {
                ValueKind::Seq => f.try_iter().map(|i| i.collect()).unwrap_or_default(),
                _ => vec![f.clone()],
            };
            let mut loaded = false;
            let mut last_err = String::new();
            for c in candidates {
                let name = match self.templar.render_str(&c.to_string(), &vars) {
                    Ok(v) => v.to_string(),
                    Err(e) => {
                        last_err = tmpl_err(e);
                        continue;
                    }
                };
                // As Ansible's path_dwim_relative_stack: the play's `vars/` first
                // (unless the name already starts there), then the play's directory.
                let in_vars = (name.split('/').next() != Some("vars"))
                    .then(|| play.dir.join("vars").join(&name))
                    .filter(|p| p.exists());
                let p = in_vars.unwrap_or_else(|| play.dir.join(&name));
                if p.is_file() {
                    match crate::loader::files::read_vars_file(&p) {
                        Ok(m) => {
                            vf.extend(m);
                            loaded = true;
                            break;
                        }
                        Err(e) => {
                            last_err = e.to_string();
                            break;
                        }
                    }
                } else {
                    last_err = format!("vars file {name} was not found");
                }
            }
            if !loaded {
                let msg = format!("ERROR! {last_err}");
                self.emit(Event::Warning { message: &msg });
                self.stats.failures += 1;
                return Flow::Failed;
            }
            if let Some(ps) = self.play.as_mut() {
                ps.vars_files = map_value(&vf);
            }
        }
        // Play vars are their own layer (below vars_files), not block vars.
        let play_common = Common {
            vars: IndexMap::new(),
            ..play.common.clone()
        };
        let frames = [Frame {
            common: &play_common,
            include: false,
        }];
        // Facts. Ansible's implicit setup task is tagged `always` when the play has no
        // tags, else it has the play's tags: `--skip-tags <play tag>` skips it too.
        let gather = play.gather_facts.as_ref().map(truthy).unwrap_or(true) && {
            let tags: HashSet<&str> = if play.common.tags.is_empty() {
                HashSet::from(["always"])
            } else {
                play.common.tags.iter().map(String::as_str).collect()
            };
            self.tags_match(&tags)
        };
        self.pos.push(0);
        let gather_turn = if gather { self.turn() } else { Turn::ALONE };
        self.pos.pop();
        if gather_turn.verdict != Verdict::Run {
            self.play = None;
            return match gather_turn.verdict {
                Verdict::EndPlay => Flow::EndPlay,
                _ => Flow::Failed,
            };
        }
        if gather {
            if gather_turn.first {
                self.emit(Event::TaskStart {
                    name: "Gathering Facts",
                    path: "",
                    is_handler: false,
                    action: "ansible.builtin.gather_facts",
                    is_loop: false,
                    role: None,
                });
            }
            let opts = facts::options(
                play.gather_subset.as_ref(),
                None,
                play.gather_timeout.as_ref(),
                play.fact_path.as_ref(),
            );
            let vars = Vars::new(vec![map_value(&self.opts.extra_vars)]);
            self.conn_from_task = (None, play.common.connection.clone());
            if let Some(r) = self.unreachable_self(None, &vars) {
                // A host the agent cannot run (see unreachable_self).
                let ignore = play.common.ignore_unreachable.as_ref().is_some_and(truthy);
                let error = r.get("_agent_error").map(|v| v.to_string());
                let mut shown = r.clone();
                shown.shift_remove("_agent_error");
                shown.shift_remove("_agent_failure");
                self.emit(Event::TaskResult {
                    host: &self.host.clone(),
                    status: Status::Unreachable,
                    result: &map_value(&shown),
                    ignore_errors: ignore,
                    delegate_to: None,
                    error: error.as_deref(),
                });
                if !ignore {
                    self.stats.unreachable += 1;
                    self.play = None;
                    return Flow::Unreachable;
                }
                self.stats.ok += 1;
                self.stats.ignored += 1;
            } else {
                let (status, r) = match agent_facts::gather(&opts, &mut self.facts_cache) {
                    Ok(f) => {
                        let gathered = self.fact_values.convert(f);
                        self.take_gathered(gathered);
                        (
                            Status::Ok,
                            Value::from_pairs([("changed", Value::from(false))]),
                        )
                    }
                    Err(e) => (
                        Status::Failed,
                        Value::from_pairs([
                            ("changed", Value::from(false)),
                            ("failed", Value::from(true)),
                            ("msg", Value::from(e.to_string())),
                        ]),
                    ),
                };
                self.emit(Event::TaskResult {
                    host: &self.host.clone(),
                    status,
                    result: &r,
                    ignore_errors: false,
                    delegate_to: None,
                    error: None,
                });
                if status == Status::Failed {
                    self.stats.failures += 1;
                    self.play = None;
                    return Flow::Failed;
                }
                self.stats.ok += 1;
            }
        }
        let mut flow = self.run_section(&play.pre_tasks, &frames, 1);
        if flow == Flow::Continue {
            flow = self.run_section(&play.main, &frames, 3);
        }
        if flow == Flow::Continue {
            flow = self.run_section(&play.post_tasks, &frames, 5);
        }
        // The play's keyword, else the command line's (its default).
        let force = play.force_handlers.unwrap_or(self.opts.force_handlers);
        if flow == Flow::Failed && force {
            self.at(7, |e| e.flush_handlers(&frames));
        }
        self.play = None;
        // The other hosts learn how it ended (end_play ends it for them too).
        self.play_ended(flow);
        match flow {
            Flow::Failed => Flow::Failed,
            Flow::Interrupted => Flow::Interrupted,
            Flow::Unreachable => Flow::Unreachable,
            Flow::Fatal => Flow::Fatal,
            _ => Flow::Continue,
        }
    }

    /// A section of the play (pre_tasks, roles and tasks, post_tasks) at position `at`,
    /// then its handlers (at `at + 1`).
    fn run_section(&mut self, items: &[Item], frames: &[Frame<'_>], at: usize) -> Flow {
        let flow = self.at(at, |e| e.run_items(items, frames, false));
        if flow == Flow::Continue {
            let notified = self
                .play
                .as_ref()
                .is_some_and(|p| p.notified.iter().any(|n| *n) || !p.notified_inner.is_empty());
            if notified
                && std::env::var("ANSIBLE_DEBUG")
                    .is_ok_and(|v| crate::cli::ansible_boolean(&v).unwrap_or(false))
            {
                // The one line of Ansible's debug output about the implicit flush.
                let message = format!("META: triggered running handlers for {}", self.host);
                self.emit(Event::Display { message: &message });
            }
            return self.at(at + 1, |e| e.flush_handlers(frames));
        }
        flow
    }

    fn flush_handlers(&mut self, frames: &[Frame<'_>]) -> Flow {
        let Some(ps) = self.play.as_mut() else {
            return Flow::Continue;
        };
        if ps.handlers_running {
            return Flow::Continue;
        }
        ps.handlers_running = true;
        let handlers = ps.handlers.clone();
        let mut flow = Flow::Continue;
        for (i, h) in handlers.iter().enumerate() {
            let notified = self
                .play
                .as_ref()
                .is_some_and(|p| p.notified.get(i).copied().unwrap_or(false));
            if !notified {
                continue;
            }
            if let Some(p) = self.play.as_mut() {
                p.notified[i] = false;
            }
            // A flush_handlers in a block with a rescue: a failing handler is rescued.
            let rescuable = self.rescuable_now;
            flow = self.at(i, |e| match h {
                Item::Task(t) => e.run_task(t, frames, true, rescuable),
                Item::Block(b) => e.run_block(b, frames, true, rescuable),
            });
            if flow == Flow::EndRole {
                // `meta: end_role` in a file that a handler included: Ansible refuses it
                // when the file loads, and the run stops.
                self.emit(Event::Warning {
                    message: "Cannot execute 'end_role' from a handler (it is in a file a handler included); the host fails",
                });
                self.stats.failures += 1;
                flow = Flow::Failed;
            }
            if flow != Flow::Continue {
                break;
            }
        }
        if let Some(p) = self.play.as_mut() {
            p.handlers_running = false;
        }
        flow
    }

    fn run_items(&mut self, items: &[Item], frames: &[Frame<'_>], rescuable: bool) -> Flow {
        for (i, item) in items.iter().enumerate() {
            let flow = self.at(i, |e| match item {
                Item::Task(t) => e.run_task(t, frames, false, rescuable).or(|| e.settle()),
                Item::Block(b) => e.run_block(b, frames, false, rescuable),
            });
            if flow != Flow::Continue {
                return flow;
            }
        }
        Flow::Continue
    }

    fn run_block(
        &mut self,
        b: &Block,
        frames: &[Frame<'_>],
        handler: bool,
        rescuable: bool,
    ) -> Flow {
        if b.role_root
            && !handler
            && let Some(role) = &b.role
        {
            // Ansible's role deduplication: a role that has completed on this host in
            // this play is skipped without a word (its implicit `role_complete`).
            let key = role.dedup_key.clone();
            if !role.allow_duplicates
                && self
                    .play
                    .as_ref()
                    .is_some_and(|p| p.roles_done.contains(&key))
            {
                // Ansible decides per task by the task's own role: this role's tasks are
                // skipped, its dependencies' placements decide for themselves.
                let mut fr = frames.to_vec();
                fr.push(Frame {
                    common: &b.common,
                    include: false,
                });
                for item in &b.block {
                    if let Item::Block(c) = item
                        && c.role_root
                    {
                        let f = self.run_block(c, &fr, handler, rescuable);
                        if f != Flow::Continue {
                            return f;
                        }
                    }
                }
                return Flow::Continue;
            }
            self.role_ran.push(false);
            let mut flow = self.run_block_inner(b, frames, handler, rescuable);
            let ran = self.role_ran.pop().unwrap_or(false);
            if flow == Flow::EndRole {
                // The rest of the role is skipped; it counts as completed (for
                // deduplication) only if one of its tasks ran before, as Ansible's
                // `role_complete` does.
                flow = Flow::Continue;
            }
            if ran
                && flow == Flow::Continue
                && let Some(p) = self.play.as_mut()
            {
                p.roles_done.insert(key);
            }
            return flow;
        }
        self.run_block_inner(b, frames, handler, rescuable)
    }

    /// Facts cached by earlier runs become the host's facts (lowest of the fact layers,
    /// as gathered ones); `--flush-cache` forgets them instead.
    fn load_fact_cache(&mut self) {
        let Some(cache) = self.opts.fact_cache.clone() else {
            return;
        };
        let host = self.host.clone();
        if self.opts.flush_cache {
            if let Err(e) = cache.flush(&host) {
                self.emit(Event::Warning {
                    message: &e.to_string(),
                });
            }
            return;
        }
        let (facts, warning) = cache.load(&host);
        if let Some(w) = warning {
            self.emit(Event::Warning { message: &w });
        }
        if let Some(facts) = facts {
            for (k, v) in &facts {
                self.hs.set_module_fact(k, mark_unsafe(v));
            }
            self.hs.refresh();
            self.cached_facts = facts;
        }
    }

    /// Gathered facts join the host's (and the fact cache's, under `ansible_` names).
    fn take_gathered(&mut self, gathered: IndexMap<String, Value>) {
        if self.opts.fact_cache.is_some() {
            let prefixed: Vec<(String, Value)> = gathered
                .iter()
                .map(|(k, v)| (format!("ansible_{k}"), v.clone()))
                .collect();
            self.cache_facts(prefixed);
        }
        self.hs.set_gathered(gathered);
        self.hs.refresh();
    }

    /// Facts that the cache keeps changed (a gathering, a cacheable set_fact): merge them
    /// in and write the host's cache file, when there is a cache.
    fn cache_facts(&mut self, facts: impl IntoIterator<Item = (String, Value)>) {
        self.cached_facts.extend(facts);
        let Some(cache) = &self.opts.fact_cache else {
            return;
        };
        if let Err(e) = cache.store(&self.host, &self.cached_facts) {
            let message = e.to_string();
            self.emit(Event::Warning { message: &message });
        }
    }

    /// A task of the innermost role being run has run (not skipped).
    fn mark_role_ran(&mut self) {
        if let Some(top) = self.role_ran.last_mut() {
            *top = true;
        }
    }

    fn run_block_inner(
        &mut self,
        b: &Block,
        frames: &[Frame<'_>],
        handler: bool,
        rescuable: bool,
    ) -> Flow {
        let mut fr = frames.to_vec();
        fr.push(Frame {
            common: &b.common,
            include: false,
        });
        let has_rescue = !b.rescue.is_empty();
        let mut flow = self.at(0, |e| {
            if handler {
                e.run_handler_items(&b.block, &fr)
            } else {
                e.run_items(&b.block, &fr, rescuable || has_rescue)
            }
        });
        if flow == Flow::Failed && has_rescue {
            flow = self.at(1, |e| e.run_items(&b.rescue, &fr, rescuable));
            if flow == Flow::Continue {
                // Ansible clears the failure once rescued.
            }
        }
        if matches!(flow, Flow::Continue | Flow::Failed) && !b.always.is_empty() {
            // An outer block's flag survives this block's `always`.
            let outer_cleared = std::mem::take(&mut self.host_errors_cleared);
            let mut af = self.at(2, |e| e.run_items(&b.always, &fr, rescuable));
            let mut first_always = self.pos.clone();
            first_always.extend([2, 0]);
            if af == Flow::Failed
                && flow == Flow::Continue
                && has_rescue
                && self.fail_verdict_at.take() == Some(first_always)
            {
                // Another host's failure under any_errors_fatal reached this host before
                // its always began: Ansible still has it in the block, so the rescue runs.
                flow = self.at(1, |e| e.run_items(&b.rescue, &fr, rescuable));
                af = self.at(2, |e| e.run_items(&b.always, &fr, rescuable));
            }
            let cleared = std::mem::replace(&mut self.host_errors_cleared, outer_cleared);
            if af != Flow::Continue {
                return af;
            }
            if flow == Flow::Failed && cleared {
                // The host is no longer failed: its failures so far do not fail the run.
                self.failures_cleared = self.stats.failures;
                flow = Flow::Continue;
            }
            self.host_errors_cleared |= cleared;
        }
        flow
    }

    fn run_handler_items(&mut self, items: &[Item], frames: &[Frame<'_>]) -> Flow {
        for (i, item) in items.iter().enumerate() {
            let f = match item {
                Item::Task(t) => {
                    // Inside an imported handler file, only the notified ones run.
                    let key = Arc::as_ptr(t) as usize;
                    if !self
                        .play
                        .as_mut()
                        .is_some_and(|p| p.notified_inner.remove(&key))
                    {
                        continue;
                    }
                    self.at(i, |e| e.run_task(t, frames, true, false).or(|| e.settle()))
                }
                Item::Block(b) => self.at(i, |e| e.run_block(b, frames, true, false)),
            };
            if f != Flow::Continue {
                return f;
            }
        }
        Flow::Continue
    }

    /// Tag selection as Ansible does it (`always`, `never`, `tagged`, `untagged`, `all`):
    /// `Taggable.evaluate_tags`, where no `--tags` means `--tags all`.
    fn tags_match(&self, tags: &HashSet<&str>) -> bool {
        tags_selected(tags, &self.opts.tags, &self.opts.skip_tags)
    }

    /// The variables Ansible decides tags with (`get_vars(play=play)`): the extra vars,
    /// the play's vars, vars files and roles' vars, and the task's role's own vars and
    /// defaults; no facts and nothing the host set.
    fn play_level_vars(&self, task: &Task) -> Vars {
        let mut layers = vec![map_value(&self.opts.extra_vars)];
        if let Some(ps) = &self.play {
            layers.push(ps.roles_vars.clone());
            layers.push(ps.vars_files.clone());
            layers.push(ps.play_vars.clone());
        }
        if let Some(r) = &task.role {
            layers.push(map_value(&r.vars));
            layers.push(map_value(&r.defaults));
        }
        Vars::new(layers)
    }

    /// Build the variable layers for a task (highest precedence first).
    fn vars_for(
        &self,
        frames: &[Frame<'_>],
        task: Option<&Task>,
        extra: &IndexMap<String, Value>,
    ) -> Vars {
        let mut layers: Vec<Value> = Vec::with_capacity(16);
        layers.push(map_value(&self.opts.extra_vars));
        let (host_magic, inventory_vars, connection_vars) = self.host_magic();
        layers.push(self.task_magic_vars(task));
        layers.push(host_magic);
        if !extra.is_empty() {
            layers.push(map_value(extra));
        }
        for f in frames.iter().rev().filter(|f| f.include) {
            if !f.common.vars.is_empty() {
                layers.push(map_value(&f.common.vars));
            }
        }
        let role = task.and_then(|t| t.role.as_ref());
        if let Some(r) = role
            && !r.params.is_empty()
        {
            layers.push(map_value(&r.params));
        }
        layers.push(self.hs.set_facts_v.clone());
        layers.push(self.hs.include_vars_v.clone());
        if let Some(t) = task
            && !t.common.vars.is_empty()
        {
            layers.push(map_value(&t.common.vars));
        }
        for f in frames.iter().rev().filter(|f| !f.include) {
            if !f.common.vars.is_empty() {
                layers.push(map_value(&f.common.vars));
            }
        }
        if let Some(r) = role {
            layers.push(map_value(&r.vars));
        }
        if let Some(ps) = &self.play {
            layers.push(ps.roles_vars.clone());
            layers.push(ps.vars_files.clone());
            layers.push(ps.play_vars.clone());
        }
        layers.push(self.hs.facts_v.clone());
        layers.push(inventory_vars);
        if let Some(r) = role {
            layers.push(map_value(&r.defaults));
        }
        if let Some(ps) = &self.play {
            layers.push(ps.roles_defaults.clone());
        }
        layers.push(connection_vars);
        Vars::new(layers)
    }

    fn inventory_vars(&self) -> Value {
        match self.own_inventory_vars() {
            Some((_, v)) => v.clone(),
            None => Value::from(()),
        }
    }

    /// This host's merged inventory variables, also as a template value (`None` when the
    /// inventory does not know the host).
    fn own_inventory_vars(&self) -> Option<&(IndexMap<String, Value>, Value)> {
        self.own_inventory_vars
            .get_or_init(|| {
                let vars = self.inventory.host_vars(&self.host).ok()?;
                let value = map_value(&vars);
                Some((vars, value))
            })
            .as_ref()
    }

    /// The magic variables that depend on the host only, and its inventory variables:
    /// built once per generation of the host's variables rather than once per task.
    fn host_magic(&self) -> (Value, Value, Value) {
        let generation = self.hs.generation;
        if let Some((g, magic, inv, conn)) = &*self.host_magic.borrow()
            && *g == generation
        {
            return (magic.clone(), inv.clone(), conn.clone());
        }
        let magic = self.host_magic_vars();
        let inv = self.inventory_vars();
        let conn = self.connection_vars(&inv);
        *self.host_magic.borrow_mut() =
            Some((generation, magic.clone(), inv.clone(), conn.clone()));
        (magic, inv, conn)
    }

    /// The connection variables Ansible adds to a task's variables when nothing defines
    /// them (its play context's `update_vars`): the lowest layer of all. The address is the
    /// inventory's `ansible_host`, else the host's name; the rest are the local
    /// connection's defaults.
    fn connection_vars(&self, inv: &Value) -> Value {
        let addr = inv
            .get_attr("ansible_host")
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_none())
            .unwrap_or_else(|| Value::from(self.host.as_str()));
        Value::from_pairs([
            ("ansible_host", addr.clone()),
            ("ansible_ssh_host", addr),
            ("ansible_module_compression", Value::from("ZIP_DEFLATED")),
            ("ansible_shell_executable", Value::from("/bin/sh")),
            ("ansible_timeout", Value::from(10)),
            ("ansible_pipelining", Value::from(false)),
        ])
    }

    fn host_magic_vars(&self) -> Value {
        let mut m: IndexMap<String, Value> = IndexMap::new();
        let h = self.host.as_str();
        m.insert("inventory_hostname".into(), Value::from(h));
        m.insert(
            "inventory_hostname_short".into(),
            Value::from(h.split('.').next().unwrap_or(h)),
        );
        m.insert("group_names".into(), Value::from(self.group_names_now(h)));
        m.insert("groups".into(), self.groups_now());
        let mut this_vars: IndexMap<String, Value> = self
            .own_inventory_vars()
            .map(|(m, _)| m.clone())
            .unwrap_or_default();
        this_vars.extend(self.own_set_vars());
        this_vars.insert("inventory_hostname".into(), Value::from(h));
        this_vars.insert("group_names".into(), Value::from(self.group_names_now(h)));
        m.insert(
            "hostvars".into(),
            Value::from_object(HostVars {
                inventory: self.inventory.clone(),
                this_host: h.to_string(),
                this_vars: map_value(&this_vars),
                runtime: self
                    .runtime_hosts
                    .iter()
                    .map(|(h, v)| {
                        let mut v = v.clone();
                        v.insert("inventory_hostname".into(), Value::from(h.as_str()));
                        (h.clone(), map_value(&v))
                    })
                    .collect(),
                peers: self.member.as_ref().map(|m| m.lockstep.clone()),
            }),
        );
        m.insert("omit".into(), Value::from(self.omit.as_str()));
        m.insert("ansible_check_mode".into(), Value::from(self.opts.check));
        m.insert("ansible_diff_mode".into(), Value::from(self.opts.diff));
        m.insert("ansible_verbosity".into(), Value::from(self.opts.verbosity));
        m.insert("ansible_connection".into(), Value::from("local"));
        m.insert(
            "ansible_run_tags".into(),
            Value::from(if self.opts.tags.is_empty() {
                vec!["all".to_string()]
            } else {
                self.opts.tags.clone()
            }),
        );
        m.insert(
            "ansible_skip_tags".into(),
            Value::from(self.opts.skip_tags.clone()),
        );
        m.insert(
            "ansible_inventory_sources".into(),
            Value::from(self.opts.inventory_sources.clone()),
        );
        m.insert(
            "ansible_version".into(),
            Value::from_pairs([
                ("full", Value::from("2.21.5")),
                ("major", Value::from(2)),
                ("minor", Value::from(21)),
                ("revision", Value::from(5)),
                ("string", Value::from("2.21.5")),
            ]),
        );
        let (hosts, batch, all) = match (&self.member, &self.play) {
            (Some(mb), Some(ps)) => {
                // In the play's order (its pattern's), as Ansible lists them:
                // ansible_play_hosts, every batch's hosts but those that failed or
                // ended; ansible_play_batch, this batch's.
                let (batch, removed, _) = mb.lockstep.play_hosts();
                let left = ps.hosts_all.iter().filter(|h| !removed.contains(h));
                let in_batch = ps.hosts_all.iter().filter(|h| batch.contains(h));
                (
                    left.cloned().collect(),
                    in_batch.cloned().collect(),
                    ps.hosts_all.clone(),
                )
            }
            _ => (
                vec![h.to_string()],
                vec![h.to_string()],
                vec![h.to_string()],
            ),
        };
        m.insert("ansible_play_hosts".into(), Value::from(hosts.clone()));
        m.insert("ansible_play_hosts_all".into(), Value::from(all));
        m.insert("ansible_play_batch".into(), Value::from(batch));
        m.insert("play_hosts".into(), Value::from(hosts));
        map_value(&m)
    }

    /// The magic variables of a task: its role and play, and the search path.
    fn task_magic_vars(&self, task: Option<&Task>) -> Value {
        let mut m: IndexMap<String, Value> = IndexMap::new();
        let mut search = Vec::new();
        if let Some(r) = task.and_then(|t| t.role.as_ref()) {
            m.insert("role_name".into(), Value::from(r.name.as_str()));
            m.insert(
                "role_path".into(),
                Value::from(r.path.display().to_string()),
            );
            m.insert("ansible_role_name".into(), Value::from(r.name.as_str()));
            search.push(Value::from(r.path.display().to_string()));
            // A role task file's own directory (tasks/) is searched too, as Ansible's
            // path_dwim_relative_stack does for lookups in role tasks.
            if let Some(t) = task
                && let Some((dir, _)) = t.loc.file.rsplit_once('/')
                && dir != r.path.display().to_string()
            {
                search.push(Value::from(dir));
            }
        }
        if let Some(ps) = &self.play {
            m.insert(
                "playbook_dir".into(),
                Value::from(ps.dir.display().to_string()),
            );
            m.insert("ansible_play_name".into(), Value::from(ps.name.as_str()));
            m.insert(
                "ansible_role_names".into(),
                Value::from(Vec::<Value>::new()),
            );
            search.push(Value::from(ps.dir.display().to_string()));
        }
        m.insert("ansible_search_path".into(), Value::from(search));
        map_value(&m)
    }

    fn finder(&self, task: &Task) -> Finder {
        let mut dirs = Vec::new();
        if let Some(r) = &task.role {
            dirs.push(r.path.clone());
        }
        if let Some(ps) = &self.play {
            dirs.push(ps.dir.clone());
        }
        Finder { dirs }
    }

    /// The first condition that is false, as written (`when: false` gives the boolean;
    /// Ansible's `false_condition`), or `None` when all hold.
    fn eval_conditions(&self, conds: &[Value], vars: &Vars) -> Result<Option<Value>, String> {
        self.eval_conditions_with(conds, vars, |s, e| {
            format!(
                "The conditional check '{s}' failed. The error was: {}",
                e.message
            )
        })
    }

    /// changed_when / failed_when: errors read as Ansible's `Error rendering expression:
    /// division by zero` or `Error while evaluating conditional: 'x' is undefined`.
    fn eval_post_conditions(&self, conds: &[Value], vars: &Vars) -> Result<Option<Value>, String> {
        self.eval_conditions_with(conds, vars, |_, e| {
            let m = e.message.as_str();
            let m = m
                .strip_prefix("Error while evaluating conditional: ")
                .unwrap_or(m);
            let m = m.split(" (in template").next().unwrap_or(m);
            if e.undefined {
                format!("Error while evaluating conditional: {m}")
            } else {
                let m = m.strip_prefix("Error rendering template: ").unwrap_or(m);
                format!("Error rendering expression: {m}")
            }
        })
    }

    fn eval_conditions_with(
        &self,
        conds: &[Value],
        vars: &Vars,
        fmt: impl Fn(&str, &agent_template::TemplateError) -> String,
    ) -> Result<Option<Value>, String> {
        for c in conds {
            let ok = match c.kind() {
                ValueKind::Bool => c.is_true(),
                ValueKind::None | ValueKind::Undefined => true,
                ValueKind::Number => c.is_true(),
                // A computed or registered string is data, never an expression.
                ValueKind::String if c.is_safe() && !c.to_string().trim().is_empty() => {
                    return Err(agent_template::UNTRUSTED.to_string());
                }
                _ => {
                    let s = c.to_string();
                    let r = self.templar.eval_condition(&s, vars);
                    if agent_template::take_templated_conditional() {
                        self.templated_conditionals.borrow_mut().push(c.clone());
                    }
                    if agent_template::take_const_template() {
                        self.const_template_conditionals
                            .borrow_mut()
                            .push(c.clone());
                    }
                    match r {
                        Ok(b) => b,
                        Err(e) if raised_conditional(&e.message) => return Err(e.message),
                        Err(e) => return Err(fmt(&s, &e)),
                    }
                }
            };
            if !ok {
                return Ok(Some(c.clone()));
            }
        }
        Ok(None)
    }

    fn effective<'a>(
        &self,
        task: &'a Task,
        frames: &'a [Frame<'a>],
        get: fn(&Common) -> &Option<Value>,
    ) -> Option<&'a Value> {
        if let Some(v) = get(&task.common) {
            return Some(v);
        }
        frames.iter().rev().find_map(|f| get(f.common).as_ref())
    }

    fn render_bool(&self, v: Option<&Value>, vars: &Vars, default: bool) -> bool {
        match v {
            None => default,
            Some(v) => match v.as_str() {
                Some(s) if Templar::is_template(s) => self
                    .templar
                    .render_str(s, vars)
                    .map(|r| truthy(&r))
                    .unwrap_or(default),
                _ => truthy(v),
            },
        }
    }

    fn task_name(&self, task: &Task) -> String {
        if task.short == "include_role" {
            // Ansible's IncludeRole.get_name: never prefixed with the enclosing role.
            return task.name.clone().unwrap_or_else(|| {
                let role = task
                    .args
                    .get("name")
                    .or_else(|| task.args.get("role"))
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .unwrap_or_default();
                format!("{} : {role}", task.action)
            });
        }
        let base = task
            .name
            .clone()
            .unwrap_or_else(|| task.written_action().to_string());
        match &task.role {
            Some(r) => format!("{} : {base}", r.name),
            None => base,
        }
    }

    fn run_task(
        &mut self,
        task: &Arc<Task>,
        frames: &[Frame<'_>],
        handler: bool,
        rescuable: bool,
    ) -> Flow {
        // What an include run by this task runs is rescuable as the task is.
        let outer = std::mem::replace(&mut self.rescuable_now, rescuable);
        let outer_notify = self.notify_acc.take();
        // Several hosts: what a run_once task changes is handed to the other hosts.
        let before = self.member.is_some().then(|| {
            (
                self.hs.set_facts.clone(),
                self.hs.include_vars.clone(),
                self.hs.facts.clone(),
            )
        });
        // An include's tasks run inside this one: theirs is their own.
        let outer_once = self.running_once.take();
        self.meta_done = None;
        let flow = {
            // Lookups see the task's action (first_found's directory).
            let _action = agent_template::lookups::enter_task_action(task.written_action());
            self.run_task_inner(task, frames, handler, rescuable)
        };
        if let (Some(round), Some((sf, iv, facts)), Some(m)) =
            (self.running_once.take(), before, &self.member)
        {
            // What the task set: what changed, and what it sets whatever the value was
            // before (its registered name, set_fact's names).
            let mut set_by_task: HashSet<String> = task.register.iter().cloned().collect();
            if task.short == "set_fact" {
                set_by_task.extend(task.args.keys().filter(|k| *k != "cacheable").cloned());
            }
            let changed = |old: &IndexMap<String, Value>, new: &IndexMap<String, Value>| {
                new.iter()
                    .filter(|(k, v)| old.get(*k) != Some(*v) || set_by_task.contains(*k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<Vec<_>>()
            };
            m.lockstep.ran_once(super::lockstep::RunOnce {
                round,
                set_facts: changed(&sf, &self.hs.set_facts),
                include_vars: changed(&iv, &self.hs.include_vars),
                facts: changed(&facts, &self.hs.facts),
                failed: flow == Flow::Failed,
                meta: self.meta_done.take(),
            });
        }
        self.running_once = outer_once;
        self.rescuable_now = outer;
        self.notify_acc = outer_notify;
        flow
    }

    fn run_task_inner(
        &mut self,
        task: &Arc<Task>,
        frames: &[Frame<'_>],
        handler: bool,
        rescuable: bool,
    ) -> Flow {
        // Tags (inherited ones included).
        if !handler {
            let mut tags: HashSet<&str> = task.common.tags.iter().map(String::as_str).collect();
            for f in frames {
                tags.extend(f.common.tags.iter().map(String::as_str));
            }
            // Templated tags (rare) are rendered with the play's variables, as Ansible
            // decides at the start of the play.
            let rendered;
            if tags.iter().any(|t| Templar::is_template(t)) {
                let vars = self.play_level_vars(task);
                match expand_tags(tags.iter().copied(), &self.templar, &vars) {
                    Ok(r) => rendered = r,
                    Err(msg) => {
                        let r = raised(&msg, &task.loc);
                        return self.finish(task, r, false, false, handler, rescuable);
                    }
                }
                tags = rendered.iter().map(String::as_str).collect();
            }
            // Explicit meta tasks are selected by tags like any other task.
            if !self.tags_match(&tags) {
                return Flow::Continue;
            }
        }
        if let Some(ps) = &mut self.play
            && !ps.start_at_found
        {
            let name = task.name.clone().unwrap_or_default();
            let full = match &task.role {
                Some(r) => format!("{} : {name}", r.name),
                None => name.clone(),
            };
            if Some(&name) == self.opts.start_at_task.as_ref()
                || Some(&full) == self.opts.start_at_task.as_ref()
            {
                ps.start_at_found = true;
            } else {
                return Flow::Continue;
            }
        }
        // Several hosts: this task's round (the first host prints its banner).
        let turn = self.turn();
        match turn.verdict {
            Verdict::Run => {}
            Verdict::EndPlay => return Flow::EndPlay,
            // Failed by another host's failure under any_errors_fatal: as if this task
            // had failed, unseen and uncounted.
            Verdict::Fail => {
                self.fail_verdict_at = Some(self.pos.clone());
                return Flow::Failed;
            }
            Verdict::Stop => return Flow::Fatal,
        }
        let vars = self.vars_for(frames, Some(task), &IndexMap::new());
        let once = match task.short.as_str() {
            // Ansible runs these meta actions once, on the round's first host, for all.
            "meta" => !matches!(
                task.args
                    .get("_raw_params")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .trim(),
                "noop"
                    | "reset_connection"
                    | "end_host"
                    | "role_complete"
                    | "flush_handlers"
                    | "end_role"
            ),
            _ => self.render_bool(self.effective(task, frames, |c| &c.run_once), &vars, false),
        };
        self.conn_from_task = (
            task.common
                .vars
                .get("ansible_connection")
                .or_else(|| {
                    frames
                        .iter()
                        .rev()
                        .find_map(|f| f.common.vars.get("ansible_connection"))
                })
                .cloned(),
            self.effective(task, frames, |c| &c.connection).cloned(),
        );
        // any_errors_fatal as the task inherits it from its blocks, role and play.
        self.task_fatal = match self.effective(task, frames, |c| &c.any_errors_fatal) {
            Some(v) => self.render_bool(Some(v), &vars, false),
            None => self.play.as_ref().is_some_and(|p| p.any_errors_fatal),
        };
        if self.member.is_some() && once {
            if turn.first {
                self.running_once = Some(turn.round);
            } else {
                // The round's first host ran it for every host: take what it did.
                return self.take_run_once(turn.round);
            }
        }
        if task.notify.iter().any(|n| Templar::is_template(n)) {
            // Rendered with the task's variables; a loop renders them per item below.
            self.notify_acc = Some(self.render_notify(task, &vars));
        }
        let name = self.task_name(task);
        // An unnamed task is shown by its action as written, even a templated one.
        let name = if Templar::is_template(&name) && task.name.is_some() {
            self.templar
                .render_str(&name, &vars)
                .map(|v| v.to_string())
                .unwrap_or(name)
        } else {
            name
        };
        // Between tasks only: a module's apply is never cut in the middle.
        if self.stop_requested(&format!("task '{name}'")) {
            return Flow::Interrupted;
        }
        {
            let path = task.loc.to_string();
            // A templated action is reported as the module it names.
            let action = if Templar::is_template(&task.action) {
                self.templar
                    .render_str(&task.action, &vars)
                    .map(|v| qualified(&v.to_string()))
                    .unwrap_or_else(|_| task.action.clone())
            } else {
                qualified(&task.action)
            };
            // Tasks a handler included are handlers too (RUNNING HANDLER).
            let is_handler = handler || self.play.as_ref().is_some_and(|p| p.handlers_running);
            if turn.first {
                self.emit(Event::TaskStart {
                    name: &name,
                    path: &path,
                    is_handler,
                    action: &action,
                    is_loop: task.loop_.is_some(),
                    role: task.role.as_ref().map(|r| r.name.as_str()),
                });
            }
        }
        // Notices of conditionals belong to the task that evaluated them (an include's
        // or a meta task's are dropped, as Ansible shows none for them).
        self.templated_conditionals.borrow_mut().clear();
        self.const_template_conditionals.borrow_mut().clear();
        // Conditions inherited from blocks and roles, then the task's own.
        let mut conds: Vec<Value> = Vec::new();
        for f in frames {
            conds.extend(f.common.when.iter().cloned());
        }
        conds.extend(task.common.when.iter().cloned());

        self.delegate = self
            .effective(task, frames, |c| &c.delegate_to)
            .and_then(|d| self.templar.template_value(d, &vars).ok())
            .map(|d| d.to_string())
            .filter(|d| !d.is_empty() && d != &self.host);
        self.ignore_unreachable = self.render_bool(
            self.effective(task, frames, |c| &c.ignore_unreachable),
            &vars,
            false,
        );
        let ignore_errors = self.render_bool(
            self.effective(task, frames, |c| &c.ignore_errors),
            &vars,
            false,
        );
        let no_log = self.render_bool(self.effective(task, frames, |c| &c.no_log), &vars, false);

        // Loop items (or one run without an item).
        let items: Option<Vec<Value>> = match &task.loop_ {
            None => None,
            Some(l) => {
                // A false condition that does not use the loop variable skips the whole
                // loop in Ansible only when evaluated per item; we evaluate per item.
                match self.loop_items(l, &vars) {
                    Ok(v) => Some(v),
                    Err(msg) => {
                        // An undefined loop source with a false `when` is a skip in Ansible.
                        if let Ok(Some(cond)) = self.eval_conditions(&conds, &vars) {
                            return self.finish_skip(task, &name, &cond, handler);
                        }
                        let r = located_failure(task, msg);
                        return self.finish(task, r, ignore_errors, no_log, handler, rescuable);
                    }
                }
            }
        };
        let result = match items {
            None => {
                match self.eval_conditions(&conds, &vars) {
                    Ok(Some(cond)) => return self.finish_skip(task, &name, &cond, handler),
                    Ok(None) => {}
                    Err(msg) => {
                        let r = located_failure(task, msg);
                        return self.finish(task, r, ignore_errors, no_log, handler, rescuable);
                    }
                }
                match self.execute(task, frames, &vars, &name, handler) {
                    Exec::Result(r) => r,
                    Exec::Flow(f) => return f,
                }
            }
            Some(items) => {
                let lc = task.loop_control.clone().unwrap_or_default();
                let get = |k: &str| {
                    lc.get_attr(k)
                        .ok()
                        .filter(|v| !v.is_undefined() && !v.is_none())
                };
                // Every field but `label` is templated once, before the first item
                // (Ansible's always_post_validate); `label` is templated per item.
                let templated =
                    |k: &str| get(k).map(|v| self.templar.template_value(&v, &vars).unwrap_or(v));
                let loop_var = templated("loop_var")
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "item".into());
                let index_var = templated("index_var").map(|v| v.to_string());
                let label = get("label");
                let extended = templated("extended").is_some_and(|v| truthy(&v));
                let allitems = templated("extended_allitems").is_none_or(|v| truthy(&v));
                // Conditionals evaluated after each item: when they all hold, the loop
                // stops there (Ansible's `break_when`, kept as written like `when`).
                let break_when: Vec<Value> = match get("break_when") {
                    Some(v) if v.kind() == ValueKind::Seq => {
                        v.try_iter().map(|i| i.collect()).unwrap_or_default()
                    }
                    Some(v) => vec![v],
                    None => Vec::new(),
                };
                let pause = templated("pause")
                    .and_then(|v| f64::try_from(v).ok())
                    .unwrap_or(0.0);
                let n = items.len();
                let mut results = Vec::with_capacity(n);
                let (mut any_changed, mut any_failed, mut all_skipped) = (false, false, n > 0);
                let mut any_unreachable = false;
                // A looped include announces every item first, then runs them in order.
                let is_include = matches!(task.short.as_str(), "include_tasks" | "include_role");
                let mut deferred: Vec<(IndexMap<String, Value>, Vars)> = Vec::new();
                if self.notify_acc.is_some() {
                    self.notify_acc = Some(Vec::new());
                }
                for (i, item) in items.iter().enumerate() {
                    let mut extra: IndexMap<String, Value> = IndexMap::new();
                    extra.insert(loop_var.clone(), item.clone());
                    extra.insert("ansible_loop_var".into(), Value::from(loop_var.as_str()));
                    if let Some(iv) = &index_var {
                        extra.insert(iv.clone(), Value::from(i));
                        extra.insert("ansible_index_var".into(), Value::from(iv.as_str()));
                    }
                    if extended {
                        let mut l: IndexMap<String, Value> = IndexMap::new();
                        l.insert("index".into(), Value::from(i + 1));
                        l.insert("index0".into(), Value::from(i));
                        l.insert("first".into(), Value::from(i == 0));
                        l.insert("last".into(), Value::from(i + 1 == n));
                        l.insert("length".into(), Value::from(n));
                        l.insert("revindex".into(), Value::from(n - i));
                        l.insert("revindex0".into(), Value::from(n - i - 1));
                        // As Ansible: `allitems` unless `extended_allitems: false`; no
                        // `previtem` on the first item, no `nextitem` on the last.
                        if allitems {
                            l.insert("allitems".into(), Value::from(items.clone()));
                        }
                        if let Some(next) = items.get(i + 1) {
                            l.insert("nextitem".into(), next.clone());
                        }
                        if i > 0 {
                            l.insert("previtem".into(), items[i - 1].clone());
                        }
                        extra.insert("ansible_loop".into(), map_value(&l));
                    }
                    let ivars = self.vars_for(frames, Some(task), &extra);
                    let mut r = match self.eval_conditions(&conds, &ivars) {
                        Ok(Some(cond)) => result_map(&[
                            ("changed", Value::from(false)),
                            ("skipped", Value::from(true)),
                            ("skip_reason", Value::from("Conditional result was False")),
                            ("false_condition", cond),
                        ]),
                        Ok(None) if is_include => {
                            let shown = match &label {
                                Some(l) => agent_report::pyjson::py_str(
                                    &self
                                        .templar
                                        .template_value(l, &ivars)
                                        .unwrap_or_else(|_| l.clone()),
                                ),
                                None => agent_report::pyjson::py_str(item),
                            };
                            let host = self.host.clone();
                            let path = self.include_target(task, &ivars);
                            self.emit(Event::Included {
                                path: &path,
                                host: &host,
                                item: Some(&shown),
                            });
                            self.stats.ok += 1;
                            self.mark_role_ran();
                            deferred.push((extra.clone(), ivars));
                            continue;
                        }
                        Ok(None) => {
                            if self.notify_acc.is_some() {
                                // Each item's notifications ("restart {{ item }}").
                                let names = self.render_notify(task, &ivars);
                                self.notify_acc.get_or_insert_default().extend(names);
                            }
                            self.loop_extra = extra.clone();
                            self.loop_label = Some(match &label {
                                Some(l) => agent_report::pyjson::py_str(
                                    &self
                                        .templar
                                        .template_value(l, &ivars)
                                        .unwrap_or_else(|_| l.clone()),
                                ),
                                None => agent_report::pyjson::py_str(item),
                            });
                            let e = self.execute(task, frames, &ivars, &name, handler);
                            self.loop_extra.clear();
                            self.loop_label = None;
                            match e {
                                Exec::Result(r) => r,
                                // An include ran its tasks for this item.
                                Exec::Flow(Flow::Continue) => continue,
                                Exec::Flow(f) => return f,
                            }
                        }
                        Err(msg) => failure(msg),
                    };
                    let kind = r.shift_remove("_agent_failure");
                    let err_text = r.shift_remove("_agent_error");
                    let mut stop = false;
                    if !break_when.is_empty() {
                        // The registered name is this item's result (as for the label).
                        let break_vars = with_registered(&ivars, task, &r);
                        match self.eval_conditions(&break_when, &break_vars) {
                            Ok(None) => stop = true,
                            Ok(Some(_)) => {}
                            // The item fails and the loop stops.
                            Err(msg) => {
                                stop = true;
                                r.extend(failure(format!(
                                    "A 'break_when' expression failed. {msg}"
                                )));
                            }
                        }
                    }
                    r.insert(loop_var.clone(), item.clone());
                    r.insert("ansible_loop_var".into(), Value::from(loop_var.as_str()));
                    if let Some(iv) = &index_var {
                        r.insert(iv.clone(), Value::from(i));
                        r.insert("ansible_index_var".into(), Value::from(iv.as_str()));
                    }
                    if extended && let Some(l) = extra.get("ansible_loop") {
                        r.insert("ansible_loop".into(), l.clone());
                    }
                    let skipped = get_bool(&r, "skipped");
                    let unreachable = get_bool(&r, "unreachable");
                    // an unreachable item is shown as a failed one (v2_runner_item_on_failed)
                    let failed = get_bool(&r, "failed") || unreachable;
                    let changed = get_bool(&r, "changed");
                    any_changed |= changed;
                    any_unreachable |= unreachable;
                    any_failed |= get_bool(&r, "failed");
                    all_skipped &= skipped;
                    let status = if failed {
                        Status::Failed
                    } else if skipped {
                        Status::Skipped
                    } else if changed {
                        Status::Changed
                    } else {
                        Status::Ok
                    };
                    // A label that fails to template is a warning on the item's result,
                    // and the item is shown instead (Ansible's _populate_item_label).
                    let shown_label = match &label {
                        Some(l) => match l.as_str() {
                            Some(s) if Templar::is_template(s) => {
                                // the registered name is this item's result while the
                                // task runs (Ansible 2.21's register projection)
                                let label_vars = with_registered(&ivars, task, &r);
                                match self.templar.render_str(s, &label_vars) {
                                    Ok(v) => v,
                                    Err(e) => {
                                        let warning = format!(
                                            "Failed to template loop_control label: {}",
                                            template_cause(&e.message)
                                        );
                                        let mut warnings: Vec<Value> = r
                                            .get("warnings")
                                            .and_then(|w| w.try_iter().ok())
                                            .map(|w| w.collect())
                                            .unwrap_or_default();
                                        warnings.push(Value::from(warning));
                                        r.insert("warnings".into(), Value::from(warnings));
                                        item.clone()
                                    }
                                }
                            }
                            _ => l.clone(),
                        },
                        None => item.clone(),
                    };
                    r.insert("_ansible_item_label".into(), shown_label);
                    if no_log {
                        r.insert("_ansible_no_log".into(), Value::from(true));
                    }
                    let host = self.host.clone();
                    let (shown, error) = displayed(
                        &r,
                        kind.as_ref(),
                        err_text.as_ref(),
                        failed,
                        no_log,
                        &task.loc,
                    );
                    let delegate = self.delegate.clone();
                    self.emit(Event::ItemResult {
                        host: &host,
                        status,
                        result: &shown,
                        ignore_errors,
                        delegate_to: delegate.as_deref(),
                        error: error.as_deref(),
                    });
                    r.shift_remove("_ansible_item_label");
                    if unreachable && !r.contains_key("exception") {
                        r.insert("exception".into(), Value::from(NO_TRACEBACK));
                    }
                    results.push(map_value(&r));
                    if stop {
                        break;
                    }
                    if pause > 0.0 && i + 1 < n {
                        std::thread::sleep(Duration::from_secs_f64(pause));
                    }
                }
                if is_include && !any_failed {
                    for (slot, (extra, ivars)) in self.include_slots(task, deferred) {
                        self.loop_extra = extra;
                        self.include_announced = true;
                        self.include_slot = slot;
                        let e = self.execute(task, frames, &ivars, &name, handler);
                        self.include_slot = None;
                        self.loop_extra.clear();
                        self.include_announced = false;
                        match e {
                            Exec::Flow(Flow::Continue) => {}
                            Exec::Flow(f) => return f,
                            Exec::Result(r) => {
                                if get_bool(&r, "failed") {
                                    return self.finish(
                                        task,
                                        r,
                                        ignore_errors,
                                        no_log,
                                        handler,
                                        rescuable,
                                    );
                                }
                            }
                        }
                    }
                    return Flow::Continue;
                }
                let mut r = IndexMap::new();
                r.insert("changed".into(), Value::from(any_changed));
                if any_unreachable {
                    r.insert("unreachable".into(), Value::from(true));
                }
                if any_failed {
                    r.insert("failed".into(), Value::from(true));
                    r.insert("msg".into(), Value::from("One or more items failed"));
                } else if all_skipped {
                    r.insert("skipped".into(), Value::from(true));
                    r.insert("msg".into(), Value::from("All items skipped"));
                } else {
                    r.insert("msg".into(), Value::from("All items completed"));
                }
                if n == 0 {
                    r.insert("skipped".into(), Value::from(true));
                    r.insert("skipped_reason".into(), Value::from("No items in the list"));
                }
                r.insert("results".into(), Value::from(results));
                r.insert("_agent_loop".into(), Value::from(true));
                r
            }
        };
        self.finish(task, result, ignore_errors, no_log, handler, rescuable)
    }

    fn finish_skip(&mut self, task: &Task, _name: &str, cond: &Value, _handler: bool) -> Flow {
        if task.short == "meta" {
            // The meta actions that evaluate `when` report a skip (not counted in the
            // recap, not registered); the others ignore it (ansible-core's _execute_meta).
            let what = task
                .args
                .get("_raw_params")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .trim();
            let host = self.host.clone();
            let role = task
                .role
                .as_ref()
                .map(|r| r.name.clone())
                .unwrap_or_default();
            let suffix = match what {
                "flush_handlers" => Some(format!(", not running handlers for {host}")),
                "clear_facts" => Some(format!(", not clearing facts and fact cache for {host}")),
                "clear_host_errors" => Some(format!(", not clearing host error state for {host}")),
                "end_batch" => Some(", continuing current batch".to_string()),
                "end_play" => Some(", continuing play".to_string()),
                "end_host" => Some(format!(", continuing execution for {host}")),
                "end_role" => Some(format!(", continuing role {role} for {host}")),
                "noop" | "refresh_inventory" | "reset_connection" => {
                    self.warn_meta_when(what);
                    None
                }
                _ => None,
            };
            if suffix.is_none() {
                // The `when` is ignored: it runs (noop does nothing).
                let said = match what {
                    "refresh_inventory" => "inventory successfully refreshed",
                    "reset_connection" => "reset connection",
                    other => other,
                };
                self.meta_said(said);
            }
            if let Some(suffix) = suffix {
                self.meta_said(&format!("{what} conditional evaluated to False{suffix}"));
                let r = Value::from_pairs([
                    ("changed", Value::from(false)),
                    ("msg", Value::from(what)),
                    (
                        "skip_reason",
                        Value::from(format!("{what} conditional evaluated to False{suffix}")),
                    ),
                    ("skipped", Value::from(true)),
                ]);
                let host = self.host.clone();
                self.emit(Event::TaskResult {
                    host: &host,
                    status: Status::Skipped,
                    result: &r,
                    ignore_errors: false,
                    delegate_to: None,
                    error: None,
                });
            }
            return Flow::Continue;
        }
        let mut rm: IndexMap<String, Value> = IndexMap::new();
        rm.insert("changed".into(), Value::from(false));
        rm.insert("false_condition".into(), cond.clone());
        rm.insert(
            "skip_reason".into(),
            Value::from("Conditional result was False"),
        );
        rm.insert("skipped".into(), Value::from(true));
        let notices = self.take_notices(&mut rm, &task.loc);
        let r = map_value(&rm);
        notices.show(&mut rm);
        let shown = map_value(&rm);
        let host = self.host.clone();
        let delegate = self.delegate.clone();
        self.emit(Event::TaskResult {
            host: &host,
            status: Status::Skipped,
            result: &shown,
            ignore_errors: false,
            delegate_to: delegate.as_deref(),
            error: None,
        });
        self.stats.skipped += 1;
        if let Some(reg) = &task.register {
            self.hs.set_facts.insert(reg.clone(), mark_unsafe(&r));
            self.hs.refresh();
        }
        Flow::Continue
    }

    /// Register, count, print and notify for a finished task.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        task: &Task,
        mut r: IndexMap<String, Value>,
        ignore_errors: bool,
        no_log: bool,
        handler: bool,
        rescuable: bool,
    ) -> Flow {
        let was_loop = r.shift_remove("_agent_loop").is_some();
        // An include that could not load its file or role: Ansible marks the host failed
        // whatever `ignore_errors` says.
        let ignore_errors = ignore_errors && r.shift_remove("_agent_unignorable").is_none();
        let notices = self.take_notices(&mut r, &task.loc);
        // Internal markers never reach registered results.
        let kind = r.shift_remove("_agent_failure");
        let err_text = r.shift_remove("_agent_error");
        let control = r.shift_remove("_agent_control");
        let unreachable = get_bool(&r, "unreachable");
        let failed = get_bool(&r, "failed");
        let skipped = get_bool(&r, "skipped");
        let changed = get_bool(&r, "changed");
        if let Some(reg) = &task.register {
            let mut reg_r = r.clone();
            if no_log && matches!(task.short.as_str(), "copy" | "template" | "assemble") {
                hide_registered_diff(&mut reg_r);
            }
            if !reg_r.contains_key("failed") {
                reg_r.insert("failed".into(), Value::from(false));
            }
            // Ansible registers the exception of a failure (not printed without -vvv).
            if (failed || unreachable) && !reg_r.contains_key("exception") {
                reg_r.insert("exception".into(), Value::from(NO_TRACEBACK));
            }
            self.hs
                .set_facts
                .insert(reg.clone(), registered(&reg_r, own_facts(&task.short)));
            self.hs.refresh();
        }
        let status = if failed {
            Status::Failed
        } else if unreachable {
            Status::Unreachable
        } else if skipped {
            Status::Skipped
        } else if changed {
            Status::Changed
        } else {
            Status::Ok
        };
        let host = self.host.clone();
        if no_log {
            r.insert("_ansible_no_log".into(), Value::from(true));
        }
        let (mut shown, error) = displayed(
            &r,
            kind.as_ref(),
            err_text.as_ref(),
            matches!(status, Status::Failed | Status::Unreachable) && !was_loop,
            no_log,
            &task.loc,
        );
        // printed with their origins (the registered ones have none)
        if !notices.is_empty()
            && let Ok(keys) = shown.try_iter()
        {
            let mut m: IndexMap<String, Value> = keys
                .map(|k| (k.to_string(), shown.get_item(&k).unwrap_or_default()))
                .collect();
            notices.show(&mut m);
            shown = map_value(&m);
        }
        // Meta tasks print nothing unless they fail; loops print their items, and the
        // task line only when the loop failed or was skipped whole.
        let quiet = !failed
            && !unreachable
            && (task.short == "meta" || (was_loop && status != Status::Skipped));
        if !quiet {
            let delegate = self.delegate.clone();
            self.emit(Event::TaskResult {
                host: &host,
                status,
                result: &shown,
                ignore_errors: if unreachable {
                    self.ignore_unreachable
                } else {
                    ignore_errors
                },
                delegate_to: delegate.as_deref(),
                error: error.as_deref(),
            });
        } else if was_loop {
            self.emit(Event::LoopResult {
                host: &host,
                status,
                result: &shown,
            });
        }
        // A handler's run counts for its own role in Ansible; the enclosing placement
        // (a flush inside another role) is not marked.
        if !handler
            && task.short != "meta"
            && !matches!(status, Status::Skipped | Status::Unreachable)
        {
            self.mark_role_ran();
        }
        if task.short == "meta" && !failed {
            return match control.as_ref().and_then(|v| v.as_str()) {
                Some("end_play") => Flow::EndPlay,
                Some("end_host") => Flow::EndHost,
                Some("end_role") => Flow::EndRole,
                _ => Flow::Continue,
            };
        }
        match status {
            // ignore_errors does not apply; the host leaves the run (no rescue, no always,
            // no later play), as ansible-core removes an unreachable host.
            Status::Unreachable if self.ignore_unreachable => {
                self.stats.ok += 1;
                self.stats.ignored += 1;
            }
            Status::Unreachable => {
                self.stats.unreachable += 1;
                return Flow::Unreachable;
            }
            Status::Failed if ignore_errors => {
                self.stats.ok += 1;
                self.stats.ignored += 1;
                if changed {
                    self.stats.changed += 1;
                }
            }
            Status::Failed => {
                if rescuable {
                    self.stats.rescued += 1;
                    let host = self.host.clone();
                    self.emit(Event::Rescued { host: &host });
                } else {
                    self.stats.failures += 1;
                    if let Some(m) = &self.member {
                        // Out of ansible_play_hosts at once (its always still runs).
                        m.lockstep.host_failed(m.me);
                    }
                }
                let _ = handler;
                if self.task_fatal
                    && let Some(m) = &self.member
                {
                    // The play's other hosts fail at their next task (Ansible's linear
                    // strategy marks them failed after this round).
                    m.lockstep.fail_others(m.me);
                }
                if let Some(ps) = &self.play
                    && ps.any_errors_fatal
                {
                    return Flow::Failed;
                }
                let failed_task = Value::from_pairs([
                    ("name", Value::from(task.name.clone().unwrap_or_default())),
                    ("action", Value::from(task.action.as_str())),
                ]);
                self.hs
                    .set_facts
                    .insert("ansible_failed_task".into(), failed_task);
                self.hs
                    .set_facts
                    .insert("ansible_failed_result".into(), mark_unsafe(&map_value(&r)));
                self.hs.refresh();
                return Flow::Failed;
            }
            Status::Skipped => self.stats.skipped += 1,
            Status::Changed => {
                self.stats.ok += 1;
                self.stats.changed += 1;
            }
            Status::Ok => self.stats.ok += 1,
        }
        if status == Status::Changed {
            for n in self.notify(task) {
                // Ansible stops the host here (unless ERROR_ON_MISSING_HANDLER is off).
                let msg = format!(
                    "The requested handler '{n}' was not found in either the main handlers list nor in the listening handlers list"
                );
                self.emit(Event::Warning { message: &msg });
                if self.opts.error_on_missing_handler {
                    self.stats.failures += 1;
                    return Flow::Failed;
                }
            }
        }
        match control.as_ref().and_then(|v| v.as_str()) {
            Some("end_play") => Flow::EndPlay,
            Some("end_host") => Flow::EndHost,
            Some("end_role") => Flow::EndRole,
            _ => Flow::Continue,
        }
    }

    /// Mark the handlers a changed task notifies. Returns the names no handler answers to.
    /// Mark the handlers a changed task notifies; returns the names nothing answered.
    /// As Ansible's `search_handlers_by_notification`: by name, one handler (the play's
    /// own handlers first, then the roles' from the last role back; within them the first
    /// defined); by `listen`, every handler listening (a role's handlers also listen as
    /// `ROLE : topic`), one per handler name.
    fn notify(&mut self, task: &Task) -> Vec<String> {
        let mut missing = Vec::new();
        if task.notify.is_empty() {
            return missing;
        }
        let Some(ps) = self.play.as_ref() else {
            return missing;
        };
        // Every handler task: (top-level index, address, inside an imported file, group).
        let mut all: Vec<(usize, usize, bool, usize, Arc<Task>)> = Vec::new();
        for (i, h) in ps.handlers.iter().enumerate() {
            collect_tasks(h, &mut |ht: &Arc<Task>| {
                let inner = matches!(h, Item::Block(_));
                all.push((i, Arc::as_ptr(ht) as usize, inner, 0, ht.clone()));
            });
        }
        // Groups, as Ansible's handler blocks: consecutive handlers of one role (or of the
        // play itself). Static roles' handlers come first, then the play's own, then
        // those of roles included at run time.
        let mut groups = 0;
        let mut last_key = None;
        for entry in &mut all {
            let key = entry.4.role.as_ref().map_or(0, |r| Arc::as_ptr(r) as usize);
            if last_key != Some(key) {
                groups += 1;
                last_key = Some(key);
            }
            entry.3 = groups - 1;
        }
        // Search order: the last group first; within a group, the first defined.
        let order: Vec<usize> = (0..groups).rev().collect();
        let searched: Vec<&(usize, usize, bool, usize, Arc<Task>)> = order
            .iter()
            .flat_map(|g| all.iter().filter(move |e| e.3 == *g))
            .collect();
        // Handler names are templated (with the play's variables; not per host in
        // Ansible), once per play; one that fails to template is unusable by name.
        let mut names: HashMap<usize, Option<String>> = HashMap::new();
        for e in &searched {
            let Some(raw) = e.4.name.as_deref() else {
                continue;
            };
            let name = if Templar::is_template(raw) {
                if let Some(cached) = ps.handler_names.get(&e.1) {
                    cached.clone()
                } else {
                    let vars = self.vars_for(&[], Some(&e.4), &IndexMap::new());
                    match self.templar.render_str(raw, &vars) {
                        Ok(v) => Some(agent_template::py_str(&v)),
                        Err(err) => {
                            if e.4.listen.is_empty() {
                                let msg = format!(
                                    "Handler '{raw}' is unusable because it has no listen topics and the name could not be templated (host-specific variables are not supported in handler names). The error: {err}"
                                );
                                self.emit_warning_later(msg);
                            }
                            None
                        }
                    }
                }
            } else {
                Some(raw.to_string())
            };
            names.insert(e.1, name);
        }
        let notifications = self
            .notify_acc
            .take()
            .unwrap_or_else(|| task.notify.clone());
        let mut hits: Vec<(usize, usize, bool)> = Vec::new();
        for n in &notifications {
            let before = hits.len();
            if let Some(e) = searched.iter().find(|e| {
                let Some(Some(hname)) = names.get(&e.1) else {
                    return false;
                };
                hname == n
                    || e.4.role.as_ref().is_some_and(|r| {
                        format!("{} : {hname}", r.name) == *n
                            || format!("{} : {hname}", role_short_name(&r.name)) == *n
                    })
            }) {
                hits.push((e.0, e.1, e.2));
            }
            // Listen topics are not templated.
            let mut seen_names: Vec<Option<&String>> = Vec::new();
            for e in &searched {
                let ht = &e.4;
                let listens = ht.listen.iter().any(|l| {
                    l == n
                        || ht.role.as_ref().is_some_and(|r| {
                            format!("{} : {l}", r.name) == *n
                                || format!("{} : {l}", role_short_name(&r.name)) == *n
                        })
                });
                if !listens {
                    continue;
                }
                let name = names.get(&e.1).and_then(Option::as_ref);
                if name.is_some() {
                    if seen_names.contains(&name) {
                        continue;
                    }
                    seen_names.push(name);
                }
                hits.push((e.0, e.1, e.2));
            }
            if hits.len() == before {
                missing.push(n.clone());
            }
        }
        let cache: Vec<(usize, Option<String>)> = names
            .into_iter()
            .filter(|(addr, _)| {
                searched
                    .iter()
                    .any(|e| e.1 == *addr && e.4.name.as_deref().is_some_and(Templar::is_template))
            })
            .collect();
        let warnings = std::mem::take(&mut *self.pending_warnings.borrow_mut());
        for w in warnings {
            self.emit(Event::Warning { message: &w });
        }
        if let Some(ps) = self.play.as_mut() {
            ps.handler_names.extend(cache);
            for (i, addr, inner) in hits {
                ps.notified[i] = true;
                if inner {
                    ps.notified_inner.insert(addr);
                }
            }
        }
        missing
    }

    /// A warning found while `self` is borrowed; emitted by the caller afterwards.
    fn emit_warning_later(&self, msg: String) {
        self.pending_warnings.borrow_mut().push(msg);
    }

    /// The handler names a task notifies, templated with `vars` (the task's, or a loop
    /// item's); a template may give a list of names.
    fn render_notify(&self, task: &Task, vars: &Vars) -> Vec<String> {
        let mut out = Vec::new();
        for n in &task.notify {
            if !Templar::is_template(n) {
                out.push(n.clone());
                continue;
            }
            match self.templar.render_str(n, vars) {
                Ok(v) if v.kind() == ValueKind::Seq => {
                    if let Ok(items) = v.try_iter() {
                        out.extend(items.map(|i| agent_template::py_str(&i)));
                    }
                }
                Ok(v) => out.push(agent_template::py_str(&v)),
                Err(_) => out.push(n.clone()),
            }
        }
        out
    }

    /// `v` templated with the undefined parts left out (`None`: it is undefined itself):
    /// each item of a list and each value of a dict on its own, and undefined values
    /// inside what a template gives (Ansible's first_found `_recurse_terms` with
    /// `omit_undefined`).
    fn template_omitting_undefined(&self, v: &Value, vars: &Vars) -> Result<Option<Value>, String> {
        fn prune(v: Value) -> Option<Value> {
            match v.kind() {
                ValueKind::Undefined => None,
                ValueKind::Seq => Some(Value::from(
                    v.try_iter()
                        .map(|it| it.filter_map(prune).collect::<Vec<_>>())
                        .unwrap_or_default(),
                )),
                ValueKind::Map => Some(Value::from_pairs(
                    v.try_iter()
                        .map(|keys| {
                            keys.filter_map(|k| {
                                let item = v.get_item(&k).ok()?;
                                Some((k, prune(item)?))
                            })
                            .collect::<Vec<_>>()
                        })
                        .unwrap_or_default(),
                )),
                _ => Some(v),
            }
        }
        match v.kind() {
            ValueKind::Seq => {
                let mut out = Vec::new();
                for item in v.try_iter().into_iter().flatten() {
                    out.extend(self.template_omitting_undefined(&item, vars)?);
                }
                Ok(Some(Value::from(out)))
            }
            ValueKind::Map => {
                let mut out = Vec::new();
                for k in v.try_iter().into_iter().flatten() {
                    let item = v.get_item(&k).unwrap_or_default();
                    if let Some(t) = self.template_omitting_undefined(&item, vars)? {
                        out.push((k, t));
                    }
                }
                Ok(Some(Value::from_pairs(out)))
            }
            _ => match self.templar.template_value_keeping_undefined(v, vars) {
                Ok(t) => Ok(prune(t)),
                Err(e) if e.undefined => Ok(None),
                Err(e) => Err(tmpl_err(e)),
            },
        }
    }

    fn loop_items(&self, l: &Loop, vars: &Vars) -> Result<Vec<Value>, String> {
        match l {
            Loop::Items(v) => {
                let r = self.templar.template_value(v, vars).map_err(tmpl_err)?;
                match r.kind() {
                    ValueKind::Seq | ValueKind::Iterable => {
                        Ok(r.try_iter().map(|i| i.collect()).unwrap_or_default())
                    }
                    _ => Err(format!(
                        "Invalid data passed to 'loop', it requires a list, got this instead: {r}. Hint: If you passed a list/dict of just one element, try adding wantlist=True to your lookup invocation or use q/query instead of lookup."
                    )),
                }
            }
            Loop::Lookup { name, terms } => {
                let t = if crate::loader::playbook::short_name(name) == "first_found" {
                    // first_found run as with_ leaves out terms that are undefined.
                    self.template_omitting_undefined(terms, vars)?
                        .unwrap_or_else(|| Value::from(Vec::<Value>::new()))
                } else {
                    self.templar.template_value(terms, vars).map_err(tmpl_err)?
                };
                // Every with_<lookup> goes through the lookup plugins (as Ansible's
                // with_ is `query(name, *terms)`).
                let other = name.as_str();
                let terms: Vec<Value> = match t.kind() {
                    ValueKind::Seq => t.try_iter().map(|i| i.collect()).unwrap_or_default(),
                    _ => vec![t],
                };
                let expr = format!("query('{other}', *__terms)");
                let mut extra =
                    Vars::new(vec![Value::from_pairs([("__terms", Value::from(terms))])]);
                extra.layers.extend(vars.layers.iter().cloned());
                let r = self.templar.eval_expr(&expr, &extra).map_err(tmpl_err)?;
                // What a lookup reads (a file's lines, a command's output, ...) is data;
                // the lookups that only arrange their terms give them back as they were.
                let arranges = matches!(
                    other,
                    "items"
                        | "list"
                        | "indexed_items"
                        | "together"
                        | "nested"
                        | "cartesian"
                        | "dict"
                        | "subelements"
                        | "sequence"
                        | "flattened"
                        | "random_choice"
                );
                let r = if arranges { r } else { mark_unsafe(&r) };
                Ok(r.try_iter().map(|i| i.collect()).unwrap_or_default())
            }
        }
    }

    /// Template a task's arguments, dropping those that are `omit`.
    /// A template error in an argument gives Ansible's "Finalization of task args" failure
    /// (as a ready failed result, with its chain of origins).
    /// The arguments module_defaults give this task (already templated): those of its
    /// module, then — for `service` and `package`, whose action runs another module — those
    /// of the module that does the work. The dicts of the play, its blocks and the task are
    /// merged in that order, a later one replacing a module's whole entry (Ansible's
    /// `_get_action_arg_defaults`).
    fn module_defaults(
        &self,
        task: &Task,
        frames: &[Frame<'_>],
        vars: &Vars,
    ) -> Result<IndexMap<String, Value>, IndexMap<String, Value>> {
        let mut merged: IndexMap<&str, &Value> = IndexMap::new();
        for d in frames
            .iter()
            .flat_map(|f| f.common.module_defaults.iter())
            .chain(task.common.module_defaults.iter())
        {
            for (k, v) in d {
                merged.insert(k.as_str(), v);
            }
        }
        let mut out = IndexMap::new();
        if merged.is_empty() {
            return Ok(out);
        }
        let own = crate::loader::playbook::defaults_key(&task.action);
        let mut names = vec![own.clone()];
        match own.as_str() {
            "service" => names.push("systemd_service".into()),
            "package" => {
                if let Some(mgr) = self.hs.facts.get("pkg_mgr").and_then(|v| v.as_str()) {
                    names.push(crate::loader::playbook::defaults_key(mgr));
                }
            }
            _ => {}
        }
        for name in names {
            let Some(raw) = merged.get(name.as_str()) else {
                continue;
            };
            let dict = self
                .templar
                .template_value(raw, vars)
                .map_err(|e| finalization_failure(task, "module_defaults", &e.message))?;
            let Ok(keys) = dict.try_iter() else {
                continue;
            };
            if dict.kind() != ValueKind::Map {
                continue;
            }
            for k in keys {
                let v = dict.get_item(&k).unwrap_or_default();
                if v.as_str() == Some(self.omit.as_str()) {
                    continue;
                }
                out.entry(k.to_string())
                    .or_insert_with(|| strip_omit(&v, &self.omit));
            }
        }
        Ok(out)
    }

    fn render_args(
        &self,
        task: &Task,
        vars: &Vars,
        defaults: &IndexMap<String, Value>,
    ) -> Result<IndexMap<String, Value>, IndexMap<String, Value>> {
        if task.bad_args.is_some() {
            // Words that are not `k=v` for a module that takes none (`debug: msg=a b`):
            // Ansible's task fails as it is finalized.
            let text = format!(
                "Task failed: Action '{}' does not support raw params.",
                qualified(&task.action)
            );
            let at = task.action_loc.as_ref().unwrap_or(&task.loc);
            return Err(text_failure(&text, format!("{text}\n{}", origin(at))));
        }
        let mut out = IndexMap::new();
        for (k, v) in &task.args {
            // `debug: var=` is templated like any argument (a template gives the name of
            // what to show); the action then evaluates the name as an expression.
            if task.short == "assert" && k == "that" {
                out.insert(k.clone(), v.clone());
                continue;
            }
            let r = self
                .templar
                .template_value(v, vars)
                .map_err(|e| finalization_failure(task, k, &e.message))?;
            if r.as_str() == Some(self.omit.as_str()) {
                continue;
            }
            // A templated argument name (`set_fact: "{{ name }}=x"`) is rendered too.
            let key = if Templar::is_template(k) {
                self.templar
                    .render_str(k, vars)
                    .map(|v| v.to_string())
                    .map_err(|e| finalization_failure(task, k, &e.message))?
            } else {
                k.clone()
            };
            out.insert(key, strip_omit(&r, &self.omit));
        }
        // Arguments given as one template: its dict, under the task's `args:`.
        if let Some(splat) = out.shift_remove(crate::loader::playbook::ARGS_SPLAT) {
            let Ok(keys) = splat.try_iter() else {
                return Err(finalization_failure(
                    task,
                    "args",
                    "the arguments template must give a dictionary",
                ));
            };
            let mut merged = IndexMap::new();
            for k in keys {
                let v = splat.get_item(&k).unwrap_or_default();
                merged.insert(k.to_string(), v);
            }
            merged.extend(out);
            out = merged;
        }
        // module_defaults fill in what the task does not give.
        for (k, v) in defaults {
            if !out.contains_key(k) && !task.args.contains_key(k) {
                out.insert(k.clone(), v.clone());
            }
        }
        Ok(out)
    }

    /// Run the task's action once, within its `timeout` when it has one: past it, the
    /// result is Ansible's timeout failure (see `agent_modules::deadline`).
    fn execute(
        &mut self,
        task: &Arc<Task>,
        frames: &[Frame<'_>],
        vars: &Vars,
        name: &str,
        handler: bool,
    ) -> Exec {
        let secs = self
            .effective(task, frames, |c| &c.timeout)
            .and_then(|v| self.templar.template_value(v, vars).ok())
            .and_then(|v| agent_template::py_str(&v).trim().parse::<u64>().ok())
            .filter(|s| *s > 0);
        let Some(secs) = secs else {
            return self.execute_once(task, frames, vars, name, handler);
        };
        let deadline = agent_modules::deadline::enter(Duration::from_secs(secs));
        let r = self.execute_once(task, frames, vars, name, handler);
        match r {
            Exec::Result(_) if deadline.expired() => Exec::Result(result_map(&[
                ("changed", Value::from(false)),
                ("failed", Value::from(true)),
                (
                    "msg",
                    Value::from(format!("Task failed: Timed out after {secs} second(s).")),
                ),
                (
                    "timedout",
                    Value::from_pairs([
                        (
                            "frame",
                            Value::from(
                                "Configure `DISPLAY_TRACEBACK` to see a traceback on timeout errors.",
                            ),
                        ),
                        ("period", Value::from(secs)),
                    ]),
                ),
            ])),
            other => other,
        }
    }

    fn execute_once(
        &mut self,
        task: &Arc<Task>,
        frames: &[Frame<'_>],
        vars: &Vars,
        name: &str,
        handler: bool,
    ) -> Exec {
        let check = self.render_bool(
            self.effective(task, frames, |c| &c.check_mode),
            vars,
            self.opts.check,
        );
        let diff = self.render_bool(
            self.effective(task, frames, |c| &c.diff),
            vars,
            self.opts.diff,
        );
        // A templated module name (`action: "{{ pkg_mgr }}"`) is rendered now.
        let resolved;
        let task = if Templar::is_template(&task.action) {
            match self.templar.render_str(&task.action, vars) {
                Ok(name) => {
                    let name = name.to_string();
                    let mut t = (**task).clone();
                    t.short = crate::loader::playbook::short_name(&name).to_string();
                    t.action = name;
                    resolved = Arc::new(t);
                    &resolved
                }
                Err(e) => {
                    return Exec::Result(result_map(&[
                        ("failed", Value::from(true)),
                        ("msg", Value::from(format!("Task failed: {}", e.message))),
                    ]));
                }
            }
        } else {
            task
        };
        // `delegate_to` is templated for each run of the module (each loop item), and a
        // template that fails fails the task, as in Ansible.
        let mut delegated_to = None;
        if let Some(d) = self.effective(task, frames, |c| &c.delegate_to) {
            match self.templar.template_value(d, vars) {
                Ok(d) => {
                    let d = d.to_string();
                    self.delegate = Some(d.clone()).filter(|d| !d.is_empty() && d != &self.host);
                    delegated_to = Some(d).filter(|d| !d.is_empty());
                }
                Err(e) => {
                    return Exec::Result(raised(template_cause(&e.message), &task.loc));
                }
            }
        }
        // A delegated task sees `ansible_delegated_vars`: the delegate's variables by its
        // name (its inventory variables here), with this host's `inventory_hostname`.
        let with_delegated;
        let vars = match &delegated_to {
            Some(d) => {
                let mut hv = self.inventory.host_vars(d).unwrap_or_default();
                hv.insert("inventory_hostname".into(), Value::from(self.host.clone()));
                let mut by_name = IndexMap::new();
                by_name.insert(d.clone(), map_value(&hv));
                let mut top = IndexMap::new();
                top.insert("ansible_delegated_vars".to_string(), map_value(&by_name));
                let mut layers = vec![map_value(&top)];
                layers.extend(vars.layers.iter().cloned());
                with_delegated = Vars::new(layers);
                &with_delegated
            }
            None => vars,
        };
        // An unreachable delegate: no retries, failed_when or changed_when (Ansible's
        // connection error bypasses them).
        if connects(task)
            && let Some(r) = self
                .unreachable_delegate(task, vars)
                .or_else(|| self.unreachable_self(Some(task), vars))
        {
            return Exec::Result(r);
        }
        let defaults = match self.module_defaults(task, frames, vars) {
            Ok(d) => d,
            Err(r) => return Exec::Result(r),
        };
        let r = match self.render_args(task, vars, &defaults) {
            Ok(a) => self.dispatch(task, frames, vars, a, check, diff, handler),
            Err(r) => Exec::Result(r),
        };
        let Exec::Result(mut r) = r else { return r };
        // until / retries / delay
        if let Some(until) = &task.until {
            let retries = task
                .retries
                .as_ref()
                .and_then(|v| self.templar.template_value(v, vars).ok())
                .and_then(|v| i64::try_from(v).ok())
                .unwrap_or(3)
                .max(0);
            let delay = task
                .delay
                .as_ref()
                .and_then(|v| self.templar.template_value(v, vars).ok())
                .and_then(|v| f64::try_from(v).ok())
                .unwrap_or(5.0);
            let mut attempt = 1;
            loop {
                let ok = self.post_conditions(task, vars, &mut r) && {
                    let mut v2 = vars.clone();
                    let reg = task
                        .register
                        .clone()
                        .unwrap_or_else(|| "__agent_result".into());
                    v2.layers.insert(
                        0,
                        Value::from_pairs([(reg, registered(&r, own_facts(&task.short)))]),
                    );
                    let conds = match until.kind() {
                        ValueKind::Seq => until.try_iter().map(|i| i.collect()).unwrap_or_default(),
                        _ => vec![until.clone()],
                    };
                    matches!(self.eval_conditions(&conds, &v2), Ok(None))
                };
                r.insert("attempts".into(), Value::from(attempt));
                if ok {
                    return Exec::Result(r);
                }
                if attempt > retries {
                    // Out of attempts: Ansible reports `attempts` as the retries asked for.
                    r.insert("attempts".into(), Value::from(retries));
                    r.insert("failed".into(), Value::from(true));
                    return Exec::Result(r);
                }
                let host = self.host.clone();
                let left = retries - attempt;
                self.emit(Event::Retry {
                    host: &host,
                    task: name,
                    retries_left: left,
                });
                attempt += 1;
                if delay > 0.0 {
                    std::thread::sleep(Duration::from_secs_f64(delay));
                }
                r = match self.render_args(task, vars, &defaults) {
                    Ok(a) => match self.dispatch(task, frames, vars, a, check, diff, handler) {
                        Exec::Result(r) => r,
                        f => return f,
                    },
                    Err(r) => r,
                };
            }
        }
        self.post_conditions(task, vars, &mut r);
        Exec::Result(r)
    }

    /// changed_when / failed_when. Returns false when evaluation failed.
    fn post_conditions(&self, task: &Task, vars: &Vars, r: &mut IndexMap<String, Value>) -> bool {
        // Skipped results (check mode commands, verbosity) are not judged: Ansible
        // evaluates changed_when/failed_when only on results that ran.
        if (task.changed_when.is_none() && task.failed_when.is_none()) || get_bool(r, "skipped") {
            return true;
        }
        let mut v2 = vars.clone();
        let reg = task.register.clone();
        let mut top: IndexMap<String, Value> = IndexMap::new();
        if let Some(reg) = &reg {
            top.insert(reg.clone(), registered(r, own_facts(&task.short)));
        }
        // Result keys are visible directly too (Ansible exposes the result as vars here).
        for (k, v) in r.iter() {
            top.entry(k.clone()).or_insert_with(|| mark_unsafe(v));
        }
        v2.layers.insert(0, map_value(&top));
        let as_list = |v: &Value| -> Vec<Value> {
            match v.kind() {
                ValueKind::Seq => v.try_iter().map(|i| i.collect()).unwrap_or_default(),
                _ => vec![v.clone()],
            }
        };
        // A module failure that changed_when/failed_when overrides is kept (as Ansible's
        // `*_suppressed_exception`, whose traceback agent does not have).
        let module_failed = get_bool(r, "failed");
        let suppressed = |r: &mut IndexMap<String, Value>, key: &str| {
            if module_failed {
                r.insert(key.into(), Value::from(NO_TRACEBACK));
            }
        };
        if let Some(cw) = &task.changed_when {
            match self.eval_post_conditions(&as_list(cw), &v2) {
                Ok(res) => {
                    r.insert("changed".into(), Value::from(res.is_none()));
                }
                Err(msg) => {
                    // Ansible keeps the evaluation error as the result of the condition.
                    suppressed(r, "changed_when_suppressed_exception");
                    let who = if module_failed { "Module" } else { "Action" };
                    r.insert("changed_when_result".into(), Value::from(msg.clone()));
                    r.insert("failed".into(), Value::from(true));
                    r.insert(
                        "msg".into(),
                        Value::from(format!(
                            "Task failed: {who} failed: A 'changed_when' expression failed: {msg}"
                        )),
                    );
                    return false;
                }
            }
        }
        if let Some(fw) = &task.failed_when {
            // failed_when sees `changed` as decided by changed_when.
            let v2 = with_registered(&v2, task, r);
            match self.eval_post_conditions(&as_list(fw), &v2) {
                Ok(res) => {
                    let failed = res.is_none();
                    suppressed(r, "failed_when_suppressed_exception");
                    r.insert("failed_when_result".into(), Value::from(failed));
                    r.insert("failed".into(), Value::from(failed));
                    if failed && module_failed {
                        // The module's own message stays.
                    } else if failed {
                        // A message the result already has stays (debug's `msg`), as
                        // Ansible fills `msg` from the error only when nothing set it.
                        if !r.get("msg").is_some_and(Value::is_true) {
                            let why = "A 'failed_when' expression evaluated to 'True'.";
                            r.insert(
                                "msg".into(),
                                Value::from(format!("Task failed: Action failed: {why}")),
                            );
                        }
                        r.insert("_agent_failure".into(), Value::from("FailedWhen"));
                    } else {
                        r.shift_remove("_agent_failure");
                    }
                }
                Err(msg) => {
                    // Ansible keeps the evaluation error as the result of the condition.
                    suppressed(r, "failed_when_suppressed_exception");
                    r.insert("failed_when_result".into(), Value::from(msg.clone()));
                    r.insert("failed".into(), Value::from(true));
                    r.insert(
                        "msg".into(),
                        Value::from(format!(
                            "Task failed: Action failed: A 'failed_when' expression failed: {msg}"
                        )),
                    );
                    return false;
                }
            }
        }
        true
    }

    /// A module delegated to a host that Ansible would reach over a connection other
    /// than `local` (the delegate's `ansible_connection`): agent runs on this host only,
    /// so the delegate is unreachable, as it is to Ansible when it cannot connect. A
    /// delegate with no `ansible_connection` runs here, as under `ansible-playbook -c
    /// local`.
    fn unreachable_delegate(&self, task: &Task, vars: &Vars) -> Option<IndexMap<String, Value>> {
        let d = self.delegate.as_deref()?;
        let hv = self.inventory.host_vars(d).ok()?;
        let conn = hv.get("ansible_connection")?;
        let conn = self
            .templar
            .template_value(conn, vars)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| conn.to_string());
        if matches!(conn.as_str(), "local" | "ansible.builtin.local") {
            return None;
        }
        let msg = format!(
            "Task failed: Failed to connect to the host via {conn}: agent runs tasks on this \
             host only and does not connect to '{d}' (ansible_connection={conn}); delegate to \
             localhost, or run agent on '{d}'"
        );
        let block = format!("{msg}\n{}", origin(&task.loc));
        let mut r = text_failure(&msg, block);
        r.shift_remove("failed");
        r.insert("unreachable".into(), Value::from(true));
        Some(r)
    }

    /// Several hosts (`--local-hosts`): this host's connection as ansible-playbook decides
    /// it (`-c`, else its `ansible_connection`, else ssh; the implicit localhost is local).
    /// A host the agent would have to reach over anything but `local` is unreachable for
    /// what connects (modules, facts), as when Ansible cannot reach it. Alone, the agent
    /// configures the host it runs on: always local.
    fn unreachable_self(
        &self,
        task: Option<&Task>,
        vars: &Vars,
    ) -> Option<IndexMap<String, Value>> {
        self.member.as_ref()?;
        if self.delegate.is_some() {
            return None;
        }
        // As ansible-core's play context: the `ansible_connection` variable (extra vars,
        // facts, task and block vars, play vars, inventory), else the `connection`
        // keyword, else `-c`, else ssh; the implicit localhost is local.
        let var = |m: &Value| {
            m.get_attr("ansible_connection")
                .ok()
                .filter(|v| !v.is_undefined() && !v.is_none())
        };
        let play_vars = self
            .play
            .as_ref()
            .into_iter()
            .flat_map(|p| [p.vars_files.clone(), p.play_vars.clone()]);
        let found = self
            .opts
            .extra_vars
            .get("ansible_connection")
            .cloned()
            .or_else(|| self.hs.set_facts.get("ansible_connection").cloned())
            .or_else(|| self.hs.include_vars.get("ansible_connection").cloned())
            .or_else(|| self.conn_from_task.0.clone())
            .or_else(|| play_vars.into_iter().find_map(|m| var(&m)))
            .or_else(|| {
                self.inventory
                    .host_vars(&self.host)
                    .ok()
                    .and_then(|hv| hv.get("ansible_connection").cloned())
            })
            .or_else(|| self.conn_from_task.1.clone());
        let conn = match found {
            Some(v) => self
                .templar
                .template_value(&v, vars)
                .map(|v| v.to_string())
                .unwrap_or_else(|_| v.to_string()),
            None => self.opts.connection.clone().unwrap_or_else(|| {
                let implicit =
                    self.host == "localhost" && !self.inventory.hosts.contains_key("localhost");
                if implicit { "local" } else { "ssh" }.to_string()
            }),
        };
        if matches!(conn.as_str(), "local" | "ansible.builtin.local") {
            return None;
        }
        let h = &self.host;
        let msg = format!(
            "Task failed: Failed to connect to the host via {conn}: agent runs every host \
             on this machine and does not connect to '{h}' (its connection is {conn}); give \
             -c local, or ansible_connection=local"
        );
        let block = match task {
            Some(t) => format!("{msg}\n{}", origin(&t.loc)),
            None => msg.clone(),
        };
        let mut r = text_failure(&msg, block);
        r.shift_remove("failed");
        r.insert("unreachable".into(), Value::from(true));
        Some(r)
    }

    /// Whether results carry the module's `invocation`: Ansible 2.21 adds it only when
    /// asked (INJECT_INVOCATION: the variable, else the environment).
    fn inject_invocation(&self, vars: &Vars) -> bool {
        match raw_var(vars, "ansible_inject_invocation").as_ref() {
            Some(v) => self.render_bool(Some(v), vars, false),
            None => std::env::var("ANSIBLE_INJECT_INVOCATION")
                .is_ok_and(|v| crate::cli::ansible_boolean(&v).unwrap_or(false)),
        }
    }

    /// The task's `async` and `poll`, templated as integers (absent or not a number: None).
    fn async_poll(&self, task: &Task, vars: &Vars) -> (Option<i64>, Option<i64>) {
        let int = |v: &Option<Value>| -> Option<i64> {
            let v = self.templar.template_value(v.as_ref()?, vars).ok()?;
            i64::try_from(v.clone())
                .ok()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        };
        (int(&task.async_), int(&task.poll))
    }

    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &mut self,
        task: &Arc<Task>,
        frames: &[Frame<'_>],
        vars: &Vars,
        args: IndexMap<String, Value>,
        check: bool,
        diff: bool,
        _handler: bool,
    ) -> Exec {
        let entry = registry::find(&task.action);
        let (async_secs, poll) = match &task.async_ {
            Some(_) => self.async_poll(task, vars),
            None => (None, None),
        };
        let async_secs = async_secs.filter(|s| *s > 0);
        if async_secs.is_some() && NO_ASYNC.contains(&task.short.as_str()) {
            // Ansible's action plugins other than the module runner's refuse async.
            // An AnsibleActionFail: `[ERROR]: Task failed: <msg>` with the origin.
            let mut r = failure(format!(
                "This action ({}) does not support async.",
                task.action
            ));
            r.insert("changed".into(), Value::from(false));
            r.insert("_agent_failure".into(), Value::from("Raised"));
            return Exec::Result(r);
        }
        if entry.is_some() || task.module_path.is_some() {
            let finder = self.finder(task);
            // The connection variables ansible_become / ansible_become_user win over the
            // keywords, as in Ansible.
            let become_var = raw_var(vars, "ansible_become");
            let become_on = self.render_bool(
                become_var
                    .as_ref()
                    .or_else(|| self.effective(task, frames, |c| &c.r#become)),
                vars,
                false,
            );
            let become_user = if become_on {
                raw_var(vars, "ansible_become_user")
                    .as_ref()
                    .or_else(|| self.effective(task, frames, |c| &c.become_user))
                    .and_then(|v| self.templar.template_value(v, vars).ok())
                    .map(|v| v.to_string())
                    .filter(|u| u != "root")
            } else {
                None
            };
            // environment: play, blocks, then the task; inner values win.
            let mut levels: Vec<&Value> = frames
                .iter()
                .filter_map(|f| f.common.environment.as_ref())
                .collect();
            levels.extend(task.common.environment.as_ref());
            let mut env: Vec<(String, String)> = Vec::new();
            for e in levels {
                match self.templar.template_value(e, vars) {
                    Ok(v) => {
                        for (k, val) in env_pairs(&v) {
                            env.retain(|(ek, _)| ek != &k);
                            env.push((k, val));
                        }
                    }
                    Err(e) => {
                        return Exec::Result(result_map(&[
                            ("failed", Value::from(true)),
                            ("msg", Value::from(e.message)),
                        ]));
                    }
                }
            }
            // `async: N` with `poll: 0`: the module runs in the background (not in check
            // mode, where it only plans and returns at once anyway).
            if let (Some(secs), Some(0), false, Some(entry)) = (async_secs, poll, check, entry) {
                return Exec::Result(
                    match asyncjob::spawn(
                        entry.name,
                        &args,
                        &env,
                        become_user.as_deref(),
                        secs as u64,
                        diff,
                    ) {
                        Ok(r) => {
                            self.host_touched();
                            r
                        }
                        Err(msg) => failure(msg),
                    },
                );
            }
            let ctx = Ctx {
                check_mode: check,
                diff_mode: diff,
                files: &finder,
                templar: &self.templar,
                vars,
                become_user: become_user.as_deref(),
                environment: &env,
            };
            // The module runs as the become user: this thread's file-system identity is
            // switched for the call (agent_modules::host::creds).
            let res = match become_user
                .as_deref()
                .map(agent_modules::host::creds::become_user)
                .transpose()
            {
                Ok(guard) => {
                    let r = match (entry, &task.module_path) {
                        (Some(entry), _) => (entry.run)(&task.short, &args, &ctx),
                        (None, Some(path)) => {
                            let no_log = self.render_bool(
                                self.effective(task, frames, |c| &c.no_log),
                                vars,
                                false,
                            );
                            let interpreter_var = |kind: &str| {
                                raw_var(vars, &format!("ansible_{kind}_interpreter"))
                                    .and_then(|v| self.templar.template_value(&v, vars).ok())
                                    .map(|v| v.to_string())
                                    .filter(|v| !v.is_empty() && !v.starts_with("auto"))
                            };
                            agent_modules::library::run(
                                path,
                                &args,
                                &ctx,
                                &agent_modules::library::Run {
                                    name: &task.action,
                                    no_log,
                                    verbosity: self.opts.verbosity,
                                    interpreter_var: &interpreter_var,
                                },
                            )
                            .map_err(|mut e| {
                                if e.fields.contains_key("module_stdout") {
                                    // Output that is not JSON: Ansible's action fails.
                                    let block = format!(
                                        "Task failed: Action failed: {msg}\n\nTask failed: Action failed.\n{}<<< caused by >>>\n\n{msg} See stdout/stderr for the returned output.\n\n",
                                        origin(&task.loc),
                                        msg = e.msg
                                    );
                                    e.fields.insert("_agent_failure".into(), Value::from("Text"));
                                    e.fields.insert("_agent_error".into(), Value::from(block));
                                }
                                e
                            })
                        }
                        (None, None) => Err(agent_modules::ModuleError::new("no module")),
                    };
                    drop(guard);
                    r
                }
                Err(e) => Err(e),
            };
            let inject = self.inject_invocation(vars);
            // What systemd said about a unit before this task is no longer to be trusted
            // once the task may have changed the host: the module's own `changed` (before
            // changed_when; a command that ran always says so), or a failure.
            let touched = match &res {
                Ok(r) => get_bool(r, "changed") || get_bool(r, "failed"),
                Err(_) => true,
            };
            if touched {
                self.host_touched();
            }
            let res = match (res, entry) {
                (Ok(mut r), Some(entry)) if inject => {
                    if let Some(inv) = (entry.invocation)(&task.short, &args) {
                        r.entry("invocation".into()).or_insert(inv);
                    }
                    Ok(r)
                }
                (Err(mut e), Some(entry)) if inject => {
                    if let Some(inv) = (entry.invocation)(&task.short, &args) {
                        e.fields.entry("invocation".into()).or_insert(inv);
                    }
                    Err(e)
                }
                (other, _) => other,
            };
            return Exec::Result(match res {
                Ok(mut r) => {
                    if get_bool(&r, "failed") {
                        r.entry("_agent_failure".into())
                            .or_insert(Value::from("Module"));
                    } else if let Some(facts) = r.get("ansible_facts")
                        && facts.kind() == ValueKind::Map
                    {
                        // Facts a module returns (service_facts ...) join the host's facts
                        // (and the fact cache, as Ansible caches every module's facts).
                        let mut returned = Vec::new();
                        if let Ok(keys) = facts.try_iter() {
                            for k in keys {
                                if let (Some(name), Ok(v)) = (k.as_str(), facts.get_item(&k)) {
                                    self.hs.set_module_fact(name, mark_unsafe(&v));
                                    returned.push((name.to_string(), v));
                                }
                            }
                        }
                        if self.opts.fact_cache.is_some() {
                            self.cache_facts(returned);
                        }
                        self.hs.refresh();
                    }
                    r
                }
                Err(e) => {
                    let mut r = e.fields.clone();
                    r.insert("failed".into(), Value::from(true));
                    r.insert("msg".into(), Value::from(e.msg));
                    r.entry("_agent_failure".into())
                        .or_insert(Value::from("Module"));
                    r.entry("changed".into()).or_insert(Value::from(false));
                    r
                }
            });
        }
        match self.action(task, frames, vars, args, check) {
            Exec::Result(mut r) => {
                if get_bool(&r, "changed") || get_bool(&r, "failed") {
                    self.host_touched();
                }
                if get_bool(&r, "failed") && !r.contains_key("_agent_failure") {
                    r.insert("_agent_failure".into(), Value::from("Action"));
                }
                Exec::Result(r)
            }
            flow => flow,
        }
    }

    fn action(
        &mut self,
        task: &Arc<Task>,
        frames: &[Frame<'_>],
        vars: &Vars,
        args: IndexMap<String, Value>,
        check: bool,
    ) -> Exec {
        let fail = |msg: String| Exec::Result(failure(msg));
        if task.short == "include_vars"
            && let Err(msg) = actions::check_include_vars(&args)
        {
            // Raised by Ansible's action before it runs: `Task failed: <msg>`.
            return Exec::Result(raised(&msg, &task.loc));
        }
        let parsed = match actions::parse(&task.short, &args) {
            Ok(p) => p,
            Err(e) => return fail(e.msg),
        };
        match task.short.as_str() {
            "debug" | "ansible._protomatter.debug" => {
                if parsed.is_set("msg") && parsed.is_set("var") {
                    return fail("parameters are mutually exclusive: msg|var".to_string());
                }
                let verbosity = parsed.int("verbosity").unwrap_or(0);
                if verbosity > i64::from(self.opts.verbosity) {
                    return Exec::Result(result_map(&[
                        ("changed", Value::from(false)),
                        ("skipped", Value::from(true)),
                        (
                            "skipped_reason",
                            Value::from("Verbosity threshold not met."),
                        ),
                    ]));
                }
                if task.short == "ansible._protomatter.debug" {
                    // Each expression's value; an undefined one becomes a marker with a
                    // warning, as `debug: var` does.
                    let mut dv = DebugVar {
                        templar: &self.templar,
                        vars,
                        markers: Vec::new(),
                    };
                    let mut results = Vec::new();
                    for e in parsed.list("expression") {
                        match dv.eval(&e.to_string()) {
                            Ok(v) => results.push(v),
                            Err(msg) => return Exec::Result(failure(msg)),
                        }
                    }
                    let at = task.arg_locs.get("expression");
                    return Exec::Result(dv.result(
                        "expression_result",
                        results.into(),
                        at.as_ref(),
                    ));
                }
                if let Some(var) = parsed.get("var") {
                    let name = var.to_string();
                    let mut dv = DebugVar {
                        templar: &self.templar,
                        vars,
                        markers: Vec::new(),
                    };
                    let v = match dv.eval(&name) {
                        Ok(v) => v,
                        Err(msg) => {
                            let cause = format!("Error while resolving `var` expression: {msg}");
                            let text = format!("Task failed: {cause}");
                            let mut block =
                                format!("{text}\n\nTask failed.\n{}", origin(&task.loc));
                            block.push_str(&format!("<<< caused by >>>\n\n{cause}\n"));
                            if let Some(vl) = task.arg_locs.get("var") {
                                block.push_str(&origin(&vl));
                            }
                            return Exec::Result(text_failure(&text, block));
                        }
                    };
                    let at = task.arg_locs.get("var");
                    return Exec::Result(dv.result(&name, v, at.as_ref()));
                }
                let msg = parsed
                    .get("msg")
                    .cloned()
                    .unwrap_or_else(|| Value::from("Hello world!"));
                Exec::Result(result_map(&[
                    ("msg", msg),
                    ("changed", Value::from(false)),
                    ("_ansible_verbose_always", Value::from(true)),
                ]))
            }
            "set_fact" => {
                // Every name is checked before any fact is set.
                if let Some(msg) = args
                    .keys()
                    .filter(|k| *k != "cacheable")
                    .find_map(|k| invalid_fact_name(k))
                {
                    return Exec::Result(action_failure(task, &msg, None));
                }
                let cacheable = args
                    .get("cacheable")
                    .is_some_and(|v| agent_modules::spec::to_bool(v).unwrap_or(false));
                let mut facts = IndexMap::new();
                for (k, v) in &args {
                    if k == "cacheable" {
                        continue;
                    }
                    self.hs.set_facts.insert(k.clone(), v.clone());
                    // cacheable: also the host's facts (and the fact cache's).
                    if cacheable {
                        self.hs.set_module_fact(k, v.clone());
                    }
                    facts.insert(k.clone(), v.clone());
                }
                if cacheable {
                    self.cache_facts(facts.clone());
                }
                self.hs.refresh();
                Exec::Result(result_map(&[
                    ("ansible_facts", map_value(&facts)),
                    ("changed", Value::from(false)),
                ]))
            }
            "assert" => {
                let mut that = parsed.get("that").cloned().unwrap_or_default();
                // `that: "{{ checks }}"`: a template that gives a list is the list of
                // conditionals (its items are not templated here: each is one).
                // `that: "{{ var }}"` naming a list variable: its items as written (each a
                // conditional of its own, as Ansible's lazy list gives them).
                let raw_list = that
                    .as_str()
                    .and_then(|s| {
                        s.trim()
                            .strip_prefix("{{")?
                            .strip_suffix("}}")
                            .map(str::trim)
                    })
                    .filter(|name| actions::is_identifier(name))
                    .and_then(|name| raw_var(vars, name))
                    .filter(|v| v.kind() == ValueKind::Seq);
                if let Some(list) = raw_list {
                    that = list;
                } else if let Some(s) = that.as_str()
                    && agent_template::is_possibly_all_template(s.trim())
                    && let Ok(list) = self.templar.render_str(s.trim(), vars)
                    && list.kind() == ValueKind::Seq
                {
                    that = list;
                }
                let conds: Vec<Value> = match that.kind() {
                    ValueKind::Seq => that.try_iter().map(|i| i.collect()).unwrap_or_default(),
                    _ => vec![that],
                };
                // `quiet` only drops `_ansible_verbose_always`: the callback then prints
                // a bare `ok:` (or the one-line failure) as Ansible's does.
                let quiet = parsed.get("quiet").is_some_and(Value::is_true);
                let verbose = |mut r: IndexMap<String, Value>| {
                    if quiet {
                        r.shift_remove("_ansible_verbose_always");
                    }
                    Exec::Result(r)
                };
                for c in &conds {
                    if c.is_none()
                        || c.is_undefined()
                        || c.as_str().is_some_and(|s| s.trim().is_empty())
                    {
                        let msg = agent_template::EMPTY_CONDITIONAL;
                        return Exec::Result(conditional_failure(task, "that", msg));
                    }
                    match self.eval_conditions(std::slice::from_ref(c), vars) {
                        Ok(None) => {}
                        Ok(Some(_)) => {
                            let msg = parsed
                                .get("fail_msg")
                                .cloned()
                                .unwrap_or_else(|| Value::from("Assertion failed"));
                            return verbose(result_map(&[
                                ("assertion", c.clone()),
                                ("changed", Value::from(false)),
                                ("evaluated_to", Value::from(false)),
                                ("failed", Value::from(true)),
                                ("msg", msg),
                                ("_ansible_verbose_always", Value::from(true)),
                            ]));
                        }
                        Err(msg) if raised_conditional(&msg) => {
                            return Exec::Result(conditional_failure(task, "that", &msg));
                        }
                        Err(msg) => return fail(msg),
                    }
                }
                let msg = parsed
                    .get("success_msg")
                    .cloned()
                    .unwrap_or_else(|| Value::from("All assertions passed"));
                verbose(result_map(&[
                    ("changed", Value::from(false)),
                    ("msg", msg),
                    ("_ansible_verbose_always", Value::from(true)),
                ]))
            }
            "fail" => {
                let msg = parsed
                    .get("msg")
                    .cloned()
                    .unwrap_or_else(|| Value::from("Failed as requested from task"));
                Exec::Result(result_map(&[
                    ("changed", Value::from(false)),
                    ("failed", Value::from(true)),
                    ("msg", msg),
                ]))
            }
            // Ansible's ping raises an exception when `data` is `crash` (its own tests use
            // that for a module failure).
            "ping" if parsed.str("data") == Some("crash") => Exec::Result(result_map(&[
                ("changed", Value::from(false)),
                ("failed", Value::from(true)),
                ("msg", Value::from("boom")),
                ("exception", Value::from(NO_TRACEBACK)),
                ("_agent_failure", Value::from("Module")),
            ])),
            "ping" => {
                let data = parsed.str("data").unwrap_or("pong");
                let mut r =
                    result_map(&[("changed", Value::from(false)), ("ping", Value::from(data))]);
                if self.inject_invocation(vars) {
                    let args = Value::from_pairs([("data", Value::from(data))]);
                    r.insert(
                        "invocation".into(),
                        Value::from_pairs([("module_args", args)]),
                    );
                }
                Exec::Result(r)
            }
            "pause" => {
                let secs = parsed
                    .get("seconds")
                    .and_then(|v| {
                        f64::try_from(v.clone())
                            .ok()
                            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    })
                    .or_else(|| {
                        parsed.get("minutes").and_then(|v| {
                            f64::try_from(v.clone())
                                .ok()
                                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                                .map(|m| m * 60.0)
                        })
                    });
                let secs = match secs {
                    // Ansible waits at least a second, and says so.
                    Some(s) => {
                        let s = s.max(1.0);
                        self.emit(Event::Display {
                            message: &format!("Pausing for {} seconds", s as i64),
                        });
                        std::thread::sleep(Duration::from_secs_f64(s));
                        s
                    }
                    // A prompt with no duration: nobody can answer it here.
                    None => {
                        self.emit(Event::Warning { message: "Not waiting for response to prompt as stdin is not interactive" });
                        0.0
                    }
                };
                Exec::Result(result_map(&[
                    ("changed", Value::from(false)),
                    ("delta", Value::from(secs as i64)),
                    ("echo", Value::from(true)),
                    ("rc", Value::from(0)),
                    ("stderr", Value::from("")),
                    (
                        "stdout",
                        Value::from(format!("Paused for {} seconds", fmt_secs(secs))),
                    ),
                    ("user_input", Value::from("")),
                ]))
            }
            "setup" | "gather_facts" => {
                let opts = facts::options(
                    parsed.get("gather_subset"),
                    parsed.get("filter"),
                    parsed.get("gather_timeout"),
                    parsed.get("fact_path"),
                );
                match agent_facts::gather(&opts, &mut self.facts_cache) {
                    Ok(f) => {
                        let shown = facts::to_values(agent_facts::prefixed(&f));
                        // Ansible merges the gathered facts into the host's facts.
                        let gathered = self.fact_values.convert(f);
                        self.take_gathered(gathered);
                        Exec::Result(result_map(&[
                            ("ansible_facts", map_value(&shown)),
                            ("changed", Value::from(false)),
                        ]))
                    }
                    // setup is a module in Ansible: "Module failed".
                    Err(e) => Exec::Result(result_map(&[
                        ("changed", Value::from(false)),
                        ("failed", Value::from(true)),
                        ("msg", Value::from(e.to_string())),
                        ("_agent_failure", Value::from("Module")),
                    ])),
                }
            }
            "set_stats" => Exec::Result(result_map(&[("changed", Value::from(false))])),
            "async_status" => {
                let jid = parsed.str("jid").unwrap_or_default().to_string();
                let mut r = asyncjob::status(&jid, parsed.str("mode") == Some("cleanup"));
                // The action's defaults, under what the job returned.
                for key in ["stdout", "stderr"] {
                    r.entry(key.into()).or_insert(Value::from(""));
                    r.entry(format!("{key}_lines"))
                        .or_insert(Value::from(Vec::<Value>::new()));
                }
                if get_bool(&r, "failed") {
                    r.insert("_agent_failure".into(), Value::from("Module"));
                }
                Exec::Result(r)
            }
            "group_by" => {
                // As ansible-core 2.21's action: the group is named by the key as it is;
                // the result shows it, and names the parents, with spaces as dashes.
                let key = parsed.str("key").unwrap_or_default().to_string();
                // Absent: `all`; a string is one group (not split at commas); a list as given.
                let parents: Vec<String> = match parsed.get("parents") {
                    None => vec!["all".to_string()],
                    Some(v) if v.kind() == ValueKind::Seq => v
                        .try_iter()
                        .map(|it| {
                            it.map(|x| agent_modules::spec::value_to_string(&x))
                                .collect()
                        })
                        .unwrap_or_default(),
                    Some(v) if v.is_none() || v.is_undefined() => vec!["all".to_string()],
                    Some(v) => vec![agent_modules::spec::value_to_string(v)],
                }
                .into_iter()
                .map(|p| p.replace(' ', "-"))
                .collect();
                if std::iter::once(&key)
                    .chain(&parents)
                    .any(|g| invalid_group_name(g) && !self.inventory.groups.contains_key(g))
                {
                    // Ansible's default (TRANSFORM_INVALID_GROUP_CHARS=never), said once.
                    self.warn_once(
                        "Invalid characters were found in group names but not replaced, use -vvvv to see details",
                    );
                }
                let changed = match self.join_group(&key, &parents) {
                    Ok(c) => c,
                    Err(msg) => return Exec::Result(failure(msg)),
                };
                Exec::Result(result_map(&[
                    ("add_group", Value::from(key.replace(' ', "-"))),
                    ("changed", Value::from(changed)),
                    ("parent_groups", Value::from(parents)),
                ]))
            }
            "add_host" => {
                // Ansible's add_host action: a `_raw_params` mapping under the arguments;
                // the name from name/hostname/host, the groups from groupname/groups/
                // group; every argument but name, hostname, groupname and groups is a
                // host variable (so `host:` and `group:` are kept as variables too).
                let mut all: IndexMap<String, Value> = IndexMap::new();
                if let Some(raw) = args.get("_raw_params") {
                    if raw.kind() != ValueKind::Map {
                        let class = match raw.kind() {
                            ValueKind::String => "str",
                            ValueKind::Seq => "list",
                            ValueKind::Bool => "bool",
                            ValueKind::Number if raw.is_integer() => "int",
                            ValueKind::Number => "float",
                            _ => "NoneType",
                        };
                        let msg = format!(
                            "Invalid raw parameters passed, requires a dictionary/mapping got a  <class '{class}'>"
                        );
                        return Exec::Result(action_failure(task, &msg, None));
                    }
                    if let Ok(keys) = raw.try_iter() {
                        for k in keys {
                            let v = raw.get_item(&k).unwrap_or_default();
                            all.insert(k.to_string(), v);
                        }
                    }
                }
                for (k, v) in args.iter().filter(|(k, _)| k.as_str() != "_raw_params") {
                    all.insert(k.clone(), v.clone());
                }
                // `args.get(a, args.get(b, ...))`: the first key given wins, even when null.
                let given = |keys: &[&str]| {
                    keys.iter()
                        .find_map(|k| all.get(*k))
                        .filter(|v| !v.is_none())
                        .cloned()
                };
                let Some(new_name) = given(&["name", "hostname", "host"]) else {
                    let msg = "name, host or hostname needs to be provided";
                    return Exec::Result(action_failure(task, msg, None));
                };
                let new_name = agent_modules::spec::value_to_string(&new_name);
                let (name, port) = agent_inventory::parse_address(&new_name)
                    .unwrap_or_else(|| (new_name.clone(), None));
                let groups: Vec<String> = match given(&["groupname", "groups", "group"]) {
                    None => Vec::new(),
                    Some(g) if !g.is_true() => Vec::new(),
                    Some(g) => {
                        let list: Vec<String> = match g.kind() {
                            ValueKind::Seq => g
                                .try_iter()
                                .map(|i| i.map(|x| x.to_string()).collect())
                                .unwrap_or_default(),
                            ValueKind::String => {
                                g.to_string().split(',').map(String::from).collect()
                            }
                            _ => {
                                let key = ["groupname", "groups", "group"]
                                    .into_iter()
                                    .find(|k| all.contains_key(*k));
                                let msg = "Groups must be specified as a list.";
                                return Exec::Result(action_failure(task, msg, key));
                            }
                        };
                        let mut out: Vec<String> = Vec::new();
                        for g in list {
                            if !out.contains(&g) {
                                out.push(g.trim().to_string());
                            }
                        }
                        out.retain(|g| !g.is_empty());
                        out
                    }
                };
                let mut vars: IndexMap<String, Value> = all
                    .into_iter()
                    .filter(|(k, _)| {
                        !matches!(k.as_str(), "name" | "hostname" | "groupname" | "groups")
                    })
                    .collect();
                if let Some(port) = port.filter(|p| *p != 0) {
                    vars.insert("ansible_ssh_port".into(), Value::from(port));
                }
                // For the groups it makes (said once).
                if groups.iter().any(|g| {
                    invalid_group_name(g)
                        && !self.inventory.groups.contains_key(g)
                        && !self.runtime_groups.contains_key(g)
                }) {
                    self.warn_once(
                        "Invalid characters were found in group names but not replaced, use -vvvv to see details",
                    );
                }
                let changed = if name == self.host && self.inventory.hosts.contains_key(&name) {
                    // This host: its inventory entry changes, so later plays select it by
                    // its new groups and their group_vars apply.
                    match self.inventory_mut().add_dynamic_host(&name, &groups, &vars) {
                        Ok(c) => c,
                        Err(e) => return Exec::Result(failure(e.to_string())),
                    }
                } else {
                    let known = self.inventory.hosts.contains_key(&name)
                        || self.runtime_hosts.contains_key(&name);
                    self.hs.generation += 1;
                    for g in groups.iter().chain(std::iter::once(&"all".to_string())) {
                        let members = self.runtime_groups.entry(g.clone()).or_default();
                        if !members.contains(&name) {
                            members.push(name.clone());
                        }
                    }
                    self.runtime_hosts
                        .entry(name.clone())
                        .or_default()
                        .extend(vars.clone());
                    !known
                };
                Exec::Result(result_map(&[
                    (
                        "add_host",
                        Value::from_pairs([
                            ("groups", Value::from(groups)),
                            ("host_name", Value::from(name)),
                            ("host_vars", map_value(&vars)),
                        ]),
                    ),
                    ("changed", Value::from(changed)),
                ]))
            }
            "include_vars" => self.include_vars(task, &parsed, vars),
            "meta" => {
                let what = parsed
                    .str("_raw_params")
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                if matches!(
                    what.as_str(),
                    "noop" | "refresh_inventory" | "reset_connection"
                ) && !task.common.when.is_empty()
                {
                    self.warn_meta_when(&what);
                }
                let host = self.host.clone();
                self.meta_done = Some(what.clone());
                let said = match what.as_str() {
                    "flush_handlers" => format!("triggered running handlers for {host}"),
                    "refresh_inventory" => "inventory successfully refreshed".into(),
                    "clear_facts" => "facts cleared".into(),
                    "clear_host_errors" => "cleared host errors".into(),
                    "end_batch" => "ending batch".into(),
                    "end_play" => "ending play".into(),
                    "end_host" => format!("ending play for {host}"),
                    // Ansible says nothing of it at -vv (its message is the role_complete's).
                    "end_role" => String::new(),
                    "reset_connection" => "reset connection".into(),
                    other => other.to_string(),
                };
                self.meta_said(&said);
                match what.as_str() {
                    "flush_handlers" if self.play.as_ref().is_some_and(|p| p.handlers_running) => {
                        // Ansible stops the whole run here; the agent fails the host.
                        fail("flush_handlers cannot be used as a handler".into())
                    }
                    "flush_handlers" => {
                        let f = self.flush_handlers(frames);
                        if f != Flow::Continue {
                            return Exec::Flow(f);
                        }
                        Exec::Result(result_map(&[("changed", Value::from(false))]))
                    }
                    "end_play" | "end_host" | "end_batch" | "end_role" => {
                        let ctl = match what.as_str() {
                            "end_host" | "end_role" => what.as_str(),
                            _ => "end_play",
                        };
                        Exec::Result(result_map(&[
                            ("changed", Value::from(false)),
                            ("_agent_control", Value::from(ctl)),
                        ]))
                    }
                    "clear_host_errors" => {
                        self.host_errors_cleared = true;
                        Exec::Result(result_map(&[("changed", Value::from(false))]))
                    }
                    "clear_facts" => {
                        self.hs.facts.clear();
                        self.hs.bare_facts.clear();
                        self.hs.refresh();
                        Exec::Result(result_map(&[("changed", Value::from(false))]))
                    }
                    m if actions::META_ACTIONS.contains(&m) => {
                        Exec::Result(result_map(&[("changed", Value::from(false))]))
                    }
                    m => fail(format!("invalid meta action requested: {m}")),
                }
            }
            "include_tasks" | "import_tasks" => {
                let file = parsed
                    .str("file")
                    .or(parsed.str("_raw_params"))
                    .unwrap_or_default()
                    .to_string();
                if let Some(msg) = include_too_deep(frames, &file) {
                    return fail(msg);
                }
                let dir = task
                    .loc
                    .file
                    .rsplit_once('/')
                    .map(|(d, _)| PathBuf::from(d))
                    .unwrap_or_default();
                // Names templated while the file loads (import_role) see the task's vars.
                self.loader.runtime_vars = Some(vars.clone());
                // Run by a handler (or by a file a handler included): handlers.
                let handler = self.play.as_ref().is_some_and(|p| p.handlers_running);
                let loaded =
                    load_include(&mut self.loader, &dir, task.role.as_ref(), &file, handler);
                self.loader.runtime_vars = None;
                let items = match loaded {
                    Ok(i) => i,
                    Err(e) => return self.include_not_loaded(e),
                };
                self.flush_load_warnings();
                let _ = check;
                let shown = resolve_shown(
                    &dir,
                    task.role.as_ref(),
                    &file,
                    self.loader.basedir.as_deref(),
                );
                Exec::Flow(self.run_included(task, frames, &parsed, &shown, &items))
            }
            "include_role" | "import_role" => {
                let name = parsed.str("name").unwrap_or_default().to_string();
                if let Some(msg) = include_too_deep(frames, &name) {
                    return fail(msg);
                }
                let dir = self
                    .play
                    .as_ref()
                    .map(|p| p.dir.clone())
                    .unwrap_or_default();
                let mut opts = RoleOpts::from_args(&args).with_vars(&task.common.vars);
                opts.dynamic = task.short == "include_role";
                let at = task.loc.clone();
                let inherited = Inherited::from_role(task.role.as_deref());
                self.loader.take_placed_roles();
                let (inst, items) = match self.loader.with_parent(inherited, |l| {
                    l.instantiate_role(&at, &dir, &name, IndexMap::new(), &opts, true)
                }) {
                    Ok(x) => x,
                    // A role that is not there fails the include; a bad task or YAML in
                    // it ends the run (Ansible's parser error).
                    Err(e)
                        if e.to_string()
                            .contains(&format!("the role '{name}' was not found")) =>
                    {
                        return Exec::Result(unignorable(failure(e.to_string())));
                    }
                    Err(e) => return self.include_not_loaded(e),
                };
                // Roles its dependencies and tasks placed (import_role in its tasks).
                let placed = self.loader.take_placed_roles();
                if let (Some(inst), Some(ps)) = (&inst, self.play.as_mut()) {
                    // Handlers of an included role join the play's, and those of the
                    // roles it placed.
                    // The include is the parent of its role's handlers: a dynamic parent
                    // gives them its `vars` only (ansible-core's
                    // Task._get_parent_attribute), and its `apply` keywords.
                    let vars_only = Common {
                        vars: task.common.vars.clone(),
                        ..Common::default()
                    };
                    let apply = parsed.get("apply").map(apply_to_common).unwrap_or_default();
                    let others = placed.iter().filter(|r| !Arc::ptr_eq(r, inst));
                    for h in inst
                        .handlers
                        .iter()
                        .chain(others.flat_map(|r| r.handlers.iter()))
                    {
                        // A handler already added (the role included again) is not
                        // added twice; it takes the latest include's keywords, as the
                        // newest copy is the one Ansible's notify finds.
                        let at = match h {
                            Item::Task(t) => t.loc.to_string(),
                            Item::Block(b) => b.loc.to_string(),
                        };
                        let inner = apply.wrap_handlers(std::slice::from_ref(h), &task.loc);
                        let mut wrapped = vars_only.wrap_handlers(&inner, &task.loc);
                        let Some(item) = wrapped.pop() else { continue };
                        match ps.included_handlers.get(&at) {
                            Some(&i) if i < ps.handlers.len() => {
                                // A notification of the copy it replaces (the role loaded
                                // again: new tasks) goes to the same place in this one.
                                let mut old = Vec::new();
                                collect_tasks(&ps.handlers[i], &mut |t| {
                                    old.push(Arc::as_ptr(t) as usize)
                                });
                                let mut new = Vec::new();
                                collect_tasks(&item, &mut |t| new.push(Arc::as_ptr(t) as usize));
                                for (o, n) in old.iter().zip(&new) {
                                    if ps.notified_inner.remove(o) {
                                        ps.notified_inner.insert(*n);
                                    }
                                }
                                ps.handlers[i] = item;
                            }
                            _ => {
                                ps.included_handlers.insert(at, ps.handlers.len());
                                ps.handlers.push(item);
                                ps.notified.push(false);
                            }
                        }
                    }
                    // `public: true`: its vars and defaults become play-level.
                    if inst.public {
                        ps.roles_vars = merged(&ps.roles_vars, &inst.vars);
                        ps.roles_defaults = merged(&ps.roles_defaults, &inst.defaults);
                    }
                }
                // The role's own placement: deduplicated when the include says
                // `allow_duplicates: false`, and marked completed either way.
                let items = match inst {
                    Some(inst) => vec![Block::role(Common::default(), items, at, inst)],
                    None => items,
                };
                Exec::Flow(self.run_included(task, frames, &parsed, &name, &items))
            }
            other => fail(format!("the action '{other}' is not available")),
        }
    }

    /// Run what an include_tasks / include_role loaded: announce it (`included: …`, counted
    /// ok) unless a looped include did already, then run its items with the include's
    /// vars (and loop variables) as include parameters and its `apply` keywords.
    fn run_included(
        &mut self,
        task: &Task,
        frames: &[Frame<'_>],
        parsed: &agent_modules::Args,
        shown: &str,
        items: &[Item],
    ) -> Flow {
        // Announced already by a looped include (and not inherited by nested ones).
        if !std::mem::take(&mut self.include_announced) {
            let host = self.host.clone();
            self.emit(Event::Included {
                path: shown,
                host: &host,
                item: None,
            });
            self.stats.ok += 1;
            self.mark_role_ran();
        }
        let mut ivars = task.common.vars.clone();
        ivars.extend(self.loop_extra.clone());
        let common = Common {
            vars: ivars,
            ..Common::default()
        };
        let apply_common = parsed.get("apply").map(apply_to_common).unwrap_or_default();
        let mut fr = frames.to_vec();
        fr.push(Frame {
            common: &common,
            include: true,
        });
        fr.push(Frame {
            common: &apply_common,
            include: false,
        });
        let rescuable = self.rescuable_now;
        // Several hosts: each distinct file (with its variables) is its own round.
        let id = match &self.member {
            _ if self.include_slot.is_some() => self.include_slot.unwrap_or(0),
            Some(m) => {
                let key = format!(
                    "{shown}\u{0}{:?}\u{0}{:?}",
                    task.common.vars, self.loop_extra
                );
                m.lockstep.include_id(&self.pos, &key)
            }
            None => 0,
        };
        self.at(id as usize, |e| e.run_items(items, &fr, rescuable))
    }

    /// An include whose file or role did not load: a parser error ends the run for every
    /// host (ansible-core re-raises it); anything else (a file or role that is not there)
    /// fails the include, whatever `ignore_errors` says.
    fn include_not_loaded(&mut self, e: crate::loader::LoadError) -> Exec {
        match fatal_load_error(e) {
            Ok(at) => {
                self.fatal = Some(at);
                if let Some(m) = &self.member {
                    m.lockstep.stop_all();
                }
                Exec::Flow(Flow::Fatal)
            }
            Err(e) => Exec::Result(unignorable(failure(e.to_string()))),
        }
    }

    fn include_vars(&mut self, task: &Task, parsed: &agent_modules::Args, vars: &Vars) -> Exec {
        let base: Vec<PathBuf> = {
            let mut b = Vec::new();
            if let Some(r) = &task.role {
                b.push(r.path.join("vars"));
                b.push(r.path.clone());
            }
            let tdir = task
                .loc
                .file
                .rsplit_once('/')
                .map(|(d, _)| PathBuf::from(d))
                .unwrap_or_default();
            b.push(tdir.join("vars"));
            b.push(tdir);
            if let Some(ps) = &self.play {
                b.push(ps.dir.join("vars"));
                b.push(ps.dir.clone());
            }
            b
        };
        let resolve = |name: &str| -> Option<PathBuf> {
            let p = Path::new(name);
            if p.is_absolute() {
                return p.exists().then(|| p.to_path_buf());
            }
            base.iter().map(|b| b.join(name)).find(|c| c.exists())
        };
        let mut files = Vec::new();
        // Ansible reports a failure to find or load the files in `message` (its `msg` is
        // then the generic one).
        let dir_failed = |message: String| {
            let mut r = raised("Action failed: Unknown error.", &task.loc);
            r.insert("ansible_facts".into(), map_value(&IndexMap::new()));
            r.insert(
                "ansible_included_var_files".into(),
                Value::from(Vec::<Value>::new()),
            );
            r.insert("message".into(), Value::from(message));
            Exec::Result(r)
        };
        if let Some(dir) = parsed.str("dir") {
            // `dir` is relative to the role's `vars/` (or the role when it starts with
            // `vars/`), else to the task's file.
            let shown_dir = match &task.role {
                Some(r) if dir.split('/').next() == Some("vars") => r.path.join(dir),
                Some(r) => r.path.join("vars").join(dir),
                None => base
                    .iter()
                    .find(|b| !b.ends_with("vars"))
                    .map(|b| b.join(dir))
                    .unwrap_or_else(|| PathBuf::from(dir)),
            };
            let Some(d) = resolve(dir) else {
                return dir_failed(format!("{} directory does not exist", shown_dir.display()));
            };
            if !d.is_dir() {
                return dir_failed(format!("{} is not a directory", shown_dir.display()));
            }
            files = crate::loader::files::vars_dir_files(&d);
            let exts = parsed.list_str("extensions");
            let exts: Vec<String> = if exts.is_empty() {
                vec!["yaml".into(), "yml".into(), "json".into()]
            } else {
                exts
            };
            let ignore = parsed.list_str("ignore_files");
            let matching = parsed.str("files_matching").map(str::to_string);
            let ignore_unknown = parsed.bool("ignore_unknown_extensions");
            let mut kept = Vec::new();
            for f in files {
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                // Python's splitext: no extension is the extension ''
                let ext = f.extension().and_then(|e| e.to_str()).unwrap_or_default();
                let ext_ok = exts.iter().any(|x| x == ext);
                // ignore_files are regular expressions matched at the end of the name
                let ign = ignore.iter().any(|i| fancy_match(&format!("{i}$"), name));
                let m = matching.as_ref().is_none_or(|re| fancy_match(re, name));
                if !m || ign {
                    continue;
                }
                if !ext_ok {
                    if ignore_unknown {
                        continue;
                    }
                    return dir_failed(format!(
                        "'{}' does not have a valid extension: {}",
                        f.display(),
                        exts.join(", ")
                    ));
                }
                kept.push(f);
            }
            files = kept;
        } else {
            let f = parsed
                .str("file")
                .or(parsed.str("_raw_params").map(|r| r.trim_end_matches('\n')))
                .unwrap_or_default();
            if f.is_empty() {
                return dir_failed("Could not find file on the Ansible Controller.".into());
            }
            match resolve(f) {
                Some(p) => files.push(p),
                None => {
                    let searched: Vec<String> = if Path::new(f).is_absolute() {
                        vec![f.to_string()]
                    } else {
                        base.iter()
                            .map(|b| b.join(f).display().to_string())
                            .collect()
                    };
                    return dir_failed(format!(
                        "Could not find or access '{f}'\nSearched in:\n\t{} on the Ansible Controller.",
                        searched.join("\n\t")
                    ));
                }
            }
        }
        let mut loaded = IndexMap::new();
        for f in &files {
            match crate::loader::files::read_vars_file(f) {
                Ok(m) => loaded.extend(m),
                Err(e) => return dir_failed(e.to_string()),
            }
        }
        let mut facts = if let Some(name) = parsed.str("name") {
            let mut m = IndexMap::new();
            m.insert(name.to_string(), map_value(&loaded));
            m
        } else {
            loaded
        };
        // `hash_behaviour: merge`: each loaded mapping merged recursively into the value the
        // variable has now (Ansible's combine_vars).
        if parsed.str("hash_behaviour") == Some("merge") {
            for (k, v) in facts.iter_mut() {
                let old = if actions::is_identifier(k) {
                    self.templar
                        .render_str(&format!("{{{{ {k} }}}}"), vars)
                        .ok()
                } else {
                    None
                };
                if let Some(old) = old.filter(|o| !o.is_undefined())
                    && let Ok(m) =
                        agent_template::filters::core::merge_hash(&old, v, true, "replace")
                {
                    *v = m;
                }
            }
        }
        for (k, v) in &facts {
            self.hs.include_vars.insert(k.clone(), v.clone());
        }
        self.hs.refresh();
        Exec::Result(result_map(&[
            ("ansible_facts", map_value(&facts)),
            (
                "ansible_included_var_files",
                Value::from(
                    files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>(),
                ),
            ),
            ("changed", Value::from(false)),
        ]))
    }
}

enum Exec {
    Result(IndexMap<String, Value>),
    Flow(Flow),
}

fn fancy_match(re: &str, s: &str) -> bool {
    regex_lite_match(re, s)
}

/// A small anchored-at-start regex match used for include_vars `files_matching`
/// (Python's re.search): we support plain substrings and `.*` wildcards.
fn regex_lite_match(re: &str, s: &str) -> bool {
    let parts: Vec<&str> = re.split(".*").collect();
    let mut pos = 0;
    for p in parts {
        let p = p
            .trim_start_matches('^')
            .trim_end_matches('$')
            .replace("\\.", ".");
        match s[pos..].find(&p) {
            Some(i) => pos += i + p.len(),
            None => return false,
        }
    }
    true
}

fn fmt_secs(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{}", s as i64)
    } else {
        format!("{s}")
    }
}

fn apply_to_common(a: &Value) -> Common {
    let mut c = Common::default();
    if let Ok(t) = a.get_attr("tags")
        && !t.is_undefined()
    {
        c.tags = match t.kind() {
            ValueKind::Seq => t
                .try_iter()
                .map(|i| i.map(|x| x.to_string()).collect())
                .unwrap_or_default(),
            _ => t
                .to_string()
                .split(',')
                .map(|s| s.trim().to_string())
                .collect(),
        };
    }
    if let Ok(w) = a.get_attr("when")
        && !w.is_undefined()
    {
        c.when = match w.kind() {
            ValueKind::Seq => w.try_iter().map(|i| i.collect()).unwrap_or_default(),
            _ => vec![w],
        };
    }
    if let Ok(v) = a.get_attr("vars")
        && v.kind() == ValueKind::Map
        && let Ok(keys) = v.try_iter()
    {
        for k in keys {
            if let (Some(name), Ok(val)) = (k.as_str(), v.get_item(&k)) {
                c.vars.insert(name.to_string(), val);
            }
        }
    }
    let kw: &mut crate::loader::model::Keywords = &mut c;
    for (k, slot) in [
        ("become", &mut kw.r#become),
        ("become_user", &mut kw.become_user),
        ("ignore_errors", &mut kw.ignore_errors),
        ("no_log", &mut kw.no_log),
        ("environment", &mut kw.environment),
        ("delegate_to", &mut kw.delegate_to),
        ("check_mode", &mut kw.check_mode),
        ("diff", &mut kw.diff),
        ("any_errors_fatal", &mut kw.any_errors_fatal),
        ("ignore_unreachable", &mut kw.ignore_unreachable),
    ] {
        if let Ok(v) = a.get_attr(k)
            && !v.is_undefined()
        {
            *slot = Some(v);
        }
    }
    c
}

/// A variable's raw value (it may hold a template), from the highest layer defining it.
fn raw_var(vars: &Vars, name: &str) -> Option<Value> {
    vars.layers
        .iter()
        .find_map(|layer| layer.get_attr(name).ok().filter(|v| !v.is_undefined()))
}

/// `environment:` as a list of (name, value); a list of dicts is merged in order.
fn env_pairs(v: &Value) -> Vec<(String, String)> {
    let mut out: IndexMap<String, String> = IndexMap::new();
    let maps: Vec<Value> = match v.kind() {
        ValueKind::Seq => v.try_iter().map(|i| i.collect()).unwrap_or_default(),
        _ => vec![v.clone()],
    };
    for m in maps {
        if m.kind() != ValueKind::Map {
            continue;
        }
        if let Ok(keys) = m.try_iter() {
            for k in keys {
                let val = m.get_item(&k).unwrap_or_default();
                out.insert(k.to_string(), agent_modules::spec::value_to_string(&val));
            }
        }
    }
    out.into_iter().collect()
}

/// Remove `omit` placeholders inside nested values.
fn strip_omit(v: &Value, omit: &str) -> Value {
    match v.kind() {
        ValueKind::Map => {
            let Ok(keys) = v.try_iter() else {
                return v.clone();
            };
            Value::from_pairs(keys.filter_map(|k| {
                let val = v.get_item(&k).unwrap_or_default();
                if val.as_str() == Some(omit) {
                    None
                } else {
                    Some((k, strip_omit(&val, omit)))
                }
            }))
        }
        ValueKind::Seq => Value::from(
            v.try_iter()
                .map(|it| {
                    it.filter(|x| x.as_str() != Some(omit))
                        .map(|x| strip_omit(&x, omit))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        ),
        _ => v.clone(),
    }
}

/// A task's notices about its conditionals, as printed (with where each was written).
struct Notices {
    deprecations: Option<Value>,
    warnings: Option<Value>,
}

impl Notices {
    fn is_empty(&self) -> bool {
        self.deprecations.is_none() && self.warnings.is_none()
    }

    /// Put them into a result to be printed (they replace its lists, which they include).
    fn show(self, m: &mut IndexMap<String, Value>) {
        if let Some(d) = self.deprecations {
            m.insert("deprecations".into(), d);
        }
        if let Some(w) = self.warnings {
            m.insert("warnings".into(), w);
        }
    }
}

/// The list under `key` of a result (empty when there is none).
fn list_at(r: &IndexMap<String, Value>, key: &str) -> Vec<Value> {
    r.get(key)
        .and_then(|d| d.try_iter().ok())
        .map(|i| i.collect())
        .unwrap_or_default()
}

/// Whether an action runs on the controller and sets the facts it was given, whose
/// registered `ansible_facts` keep their trust.
fn own_facts(action: &str) -> bool {
    matches!(action, "set_fact" | "include_vars")
}

/// What Ansible shows in place of a `no_log` task's result.
const CENSORED: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

/// The result Ansible shows for a `no_log` task: `censored` and the keys ansible-core
/// preserves (`PRESERVE` in its `_task.py`) except `exception`, `warnings` and
/// `deprecations`, which may quote the arguments (the command module's `executable`
/// warning does; docs/compat.md). `_ansible_no_log` stays so that a loop item's label is
/// censored too.
fn censor(r: &Value) -> Value {
    let mut m: IndexMap<String, Value> = IndexMap::new();
    m.insert("censored".into(), Value::from(CENSORED));
    for k in ["_ansible_no_log", "attempts", "changed", "retries"] {
        if let Ok(v) = r.get_attr(k)
            && !v.is_undefined()
        {
            m.insert(k.into(), v);
        }
    }
    m.insert("_ansible_no_log".into(), Value::from(true));
    // A loop's items, each censored (ansible-core adds them after censoring the task).
    if let Ok(items) = r.get_attr("results")
        && items.kind() == minijinja::value::ValueKind::Seq
        && let Ok(iter) = items.try_iter()
    {
        m.insert(
            "results".into(),
            Value::from(iter.map(|i| censor(&i)).collect::<Vec<_>>()),
        );
    }
    map_value(&m)
}

/// The registered result of a `no_log` copy, template or assemble: ansible-core's
/// action plugins (`_get_diff_data`) return the diff with `before` emptied and `after`
/// replaced by a notice, for the task and for each loop item.
fn hide_registered_diff(r: &mut IndexMap<String, Value>) {
    const HIDDEN: &str =
        " [[ Diff output has been hidden because 'no_log: true' was specified for this result ]]\n";
    fn hide_one(d: &Value) -> Value {
        if d.kind() != minijinja::value::ValueKind::Map {
            return d.clone();
        }
        let mut m: IndexMap<String, Value> = IndexMap::new();
        if let Ok(keys) = d.try_iter() {
            for k in keys {
                let key = k.to_string();
                let v = match key.as_str() {
                    "before" => Value::from(""),
                    "after" => Value::from(HIDDEN),
                    _ => d.get_item(&k).unwrap_or_default(),
                };
                m.insert(key, v);
            }
        }
        map_value(&m)
    }
    fn hide(d: &Value) -> Value {
        match d.kind() {
            minijinja::value::ValueKind::Seq => Value::from(
                d.try_iter()
                    .map(|it| it.map(|x| hide_one(&x)).collect::<Vec<_>>())
                    .unwrap_or_default(),
            ),
            _ => hide_one(d),
        }
    }
    if let Some(d) = r.get("diff") {
        let h = hide(d);
        r.insert("diff".into(), h);
    }
    if let Some(items) = r.get("results").cloned()
        && let Ok(iter) = items.try_iter()
    {
        let hidden: Vec<Value> = iter
            .map(|item| {
                let Ok(keys) = item.try_iter() else {
                    return item;
                };
                if item.kind() != minijinja::value::ValueKind::Map {
                    return item;
                }
                let mut m: IndexMap<String, Value> = IndexMap::new();
                for k in keys {
                    let v = item.get_item(&k).unwrap_or_default();
                    m.insert(k.to_string(), v);
                }
                hide_registered_diff(&mut m);
                map_value(&m)
            })
            .collect();
        r.insert("results".into(), Value::from(hidden));
    }
}

/// The fully qualified action name (`copy` → `ansible.builtin.copy`).
fn qualified(action: &str) -> String {
    if action.contains('.') {
        action.to_string()
    } else {
        format!("ansible.builtin.{action}")
    }
}

fn resolve_shown(
    dir: &Path,
    role: Option<&Arc<RoleInstance>>,
    file: &str,
    basedir: Option<&Path>,
) -> String {
    crate::loader::playbook::resolve_tasks_file(dir, role, file, basedir)
        .display()
        .to_string()
}

/// A play-level map with `add` merged over it (later keys win).
fn merged(base: &Value, add: &IndexMap<String, Value>) -> Value {
    let mut m: IndexMap<String, Value> = IndexMap::new();
    if let Ok(keys) = base.try_iter() {
        for k in keys {
            let v = base.get_item(&k).unwrap_or_default();
            m.insert(k.to_string(), v);
        }
    }
    for (k, v) in add {
        m.insert(k.clone(), v.clone());
    }
    map_value(&m)
}

/// Ansible 2.21's error block above a failure: what failed, where, and the lines of the
/// task with a caret at its column.
fn failure_text(kind: &str, msg: &str, loc: &crate::loader::Loc) -> String {
    let head = match kind {
        "FailedWhen" => {
            "Task failed: Action failed: A 'failed_when' expression evaluated to 'True'."
                .to_string()
        }
        "Action" => format!("Task failed: Action failed: {msg}"),
        // "Raised": an error the action raises (AnsibleActionFail), printed without a kind.
        "Censored" | "Raised" => format!("Task failed: {msg}"),
        _ => format!("Task failed: Module failed: {msg}"),
    };
    format!("{head}\n{}", origin(loc))
}

use crate::loader::error::origin;

impl Engine<'_> {
    /// What an include's `included:` line names: the tasks file's path, or the role.
    fn include_target(&self, task: &Task, vars: &Vars) -> String {
        let raw = task
            .args
            .get("file")
            .or_else(|| task.args.get("_raw_params"))
            .or_else(|| task.args.get("name"))
            .or_else(|| task.args.get("role"))
            .cloned()
            .unwrap_or_default();
        let name = self
            .templar
            .template_value(&raw, vars)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| raw.to_string());
        if task.short == "include_role" {
            return name;
        }
        let dir = task
            .loc
            .file
            .rsplit_once('/')
            .map(|(d, _)| PathBuf::from(d))
            .unwrap_or_default();
        resolve_shown(
            &dir,
            task.role.as_ref(),
            &name,
            self.loader.basedir.as_deref(),
        )
    }
}

/// What the reporter is shown for a result: censored for no_log; for a module/action
/// failure, Ansible's error block (returned) and the result without `failed`.
fn displayed(
    r: &IndexMap<String, Value>,
    kind: Option<&Value>,
    err_text: Option<&Value>,
    failed: bool,
    no_log: bool,
    loc: &crate::loader::Loc,
) -> (Value, Option<String>) {
    if no_log {
        // Ansible prints its error block above a failure even for no_log, with the
        // message in it (which may quote the secret); the agent prints it censored.
        let error = (failed && kind.is_some()).then(|| failure_text("Censored", CENSORED, loc));
        let mut shown = censor(&map_value(r));
        if error.is_some() {
            // The marker that makes the reporter print the error block (then dropped).
            let mut m: IndexMap<String, Value> = IndexMap::new();
            if let Ok(keys) = shown.try_iter() {
                for k in keys {
                    m.insert(k.to_string(), shown.get_item(&k).unwrap_or_default());
                }
            }
            m.insert("exception".into(), Value::from(true));
            shown = map_value(&m);
        }
        return (shown, error);
    }
    if !failed {
        return (map_value(r), None);
    }
    // A failed result is shown without `failed`; module and action failures, and
    // failures that carry their own error text, with the error block above it.
    // `failed` and `skipped` are not for callbacks (ansible-core's Destination.NOT_CALLBACK).
    let mut d = r.clone();
    d.shift_remove("failed");
    d.shift_remove("skipped");
    let error = match kind.and_then(|k| k.as_str()) {
        Some("Text") => {
            d.insert("exception".into(), Value::from(true));
            err_text.and_then(|v| v.as_str()).map(str::to_string)
        }
        Some(k) => {
            let msg = r
                .get("msg")
                .map(agent_modules::spec::value_to_string)
                .unwrap_or_default();
            d.insert("exception".into(), Value::from(true));
            Some(failure_text(k, &msg, loc))
        }
        None => None,
    };
    (map_value(&d), error)
}

/// What a template error says without the template text the templar adds after it and
/// its `Error rendering template: ` prefix: Ansible's messages quote only the cause.
fn template_cause(message: &str) -> &str {
    let cause = template_core_message(message);
    cause
        .strip_prefix("Error rendering template: ")
        .unwrap_or(cause)
}

/// The failed result for a template error in argument `key`, with Ansible 2.21's message
/// and its chain: the task, the module key, the argument's value.
fn finalization_failure(task: &Task, key: &str, message: &str) -> IndexMap<String, Value> {
    let cause = template_cause(message);
    let action = qualified(&task.action);
    let msg = format!(
        "Task failed: Finalization of task args for '{action}' failed: Error while resolving value for '{key}': {cause}"
    );
    let mut text = format!("{msg}\n\nTask failed.\n{}", origin(&task.loc));
    if let Some(al) = &task.action_loc {
        text.push_str(&format!(
            "<<< caused by >>>\n\nFinalization of task args for '{action}' failed.\n{}",
            origin(al)
        ));
    }
    text.push_str(&format!(
        "<<< caused by >>>\n\nError while resolving value for '{key}': {cause}\n"
    ));
    if let Some(vl) = task.arg_locs.get(key) {
        text.push_str(&origin(&vl));
    }
    text_failure(&msg, text)
}

impl Engine<'_> {
    /// The notices of the conditionals the current task evaluated (see
    /// [`Self::conditional_deprecations`] and [`Self::const_template_warnings`]).
    fn take_notices(&self, r: &mut IndexMap<String, Value>, at: &crate::loader::Loc) -> Notices {
        Notices {
            deprecations: self.conditional_deprecations(r, at),
            warnings: self.const_template_warnings(r, at),
        }
    }

    /// Ansible's deprecation of conditionals wholly in `{{ }}`, one per evaluation: added
    /// to the result's `deprecations` as Ansible registers them; returns the list as
    /// printed (each message with its removal version and where the conditional was
    /// written), or `None` when there were none.
    fn conditional_deprecations(
        &self,
        r: &mut IndexMap<String, Value>,
        at: &crate::loader::Loc,
    ) -> Option<Value> {
        const MSG: &str = "Conditionals should not be surrounded by templating delimiters \
                           such as {{ }} or {% %}.";
        let conds = std::mem::take(&mut *self.templated_conditionals.borrow_mut());
        if conds.is_empty() {
            return None;
        }
        let mut registered = list_at(r, "deprecations");
        let mut printed = registered.clone();
        for c in &conds {
            registered.push(Value::from_pairs([
                ("msg", Value::from(MSG)),
                ("collection_name", Value::from("ansible.builtin")),
                ("version", Value::from("2.23")),
                (
                    "deprecator",
                    Value::from_pairs([
                        ("resolved_name", Value::from("ansible.builtin")),
                        ("type", Value::from(())),
                    ]),
                ),
            ]));
            let mut text =
                format!("{MSG} This feature will be removed from ansible-core version 2.23.");
            if let Some(loc) = crate::loader::condlocs::find(&c.to_string(), at) {
                text.push('\n');
                text.push_str(&origin(&loc));
            }
            printed.push(Value::from(text));
        }
        r.insert("deprecations".into(), Value::from(registered));
        Some(Value::from(printed))
    }

    /// Ansible's warning for templates inside a conditional's string constants, printed
    /// (after the result's own warnings) where the conditional was written.
    fn const_template_warnings(
        &self,
        r: &IndexMap<String, Value>,
        at: &crate::loader::Loc,
    ) -> Option<Value> {
        let conds = std::mem::take(&mut *self.const_template_conditionals.borrow_mut());
        if conds.is_empty() {
            return None;
        }
        let mut printed = list_at(r, "warnings");
        for c in &conds {
            let mut text = "Jinja constant strings should not contain embedded templates. This \
                            feature will be disabled by default in ansible-core 2.23."
                .to_string();
            if let Some(loc) = crate::loader::condlocs::find(&c.to_string(), at) {
                text.push('\n');
                text.push_str(origin(&loc).trim_end_matches('\n'));
                text.push('\n');
            }
            text.push_str(
                "\nUse inline expressions, for example: `when: \"{{ a_var }}\" == 42` becomes \
                 `when: a_var == 42`\n\n",
            );
            printed.push(Value::from(text));
        }
        Some(Value::from(printed))
    }

    /// `noop`, `refresh_inventory` and `reset_connection` ignore `when` (ansible-core's
    /// `_cond_not_supported_warn`), whether it holds or not.
    fn warn_meta_when(&mut self, what: &str) {
        self.warn_once(&format!("{what} task does not support when conditional"));
    }

    /// A warning shown at most once per run, as Ansible's display shows a repeated one.
    fn warn_once(&mut self, msg: &str) {
        if self.warned.insert(msg.to_string()) {
            self.emit(Event::Warning { message: msg });
        }
    }

    /// The run's inventory, to change this host's entry (group_by, add_host): the host's
    /// variables and merged inventory variables are built again when next asked for.
    /// `make_mut` copies the inventory (the task's `hostvars` share it), which is rare and
    /// cheap beside the run.
    fn inventory_mut(&mut self) -> &mut Inventory {
        self.hs.generation += 1;
        self.own_inventory_vars = std::cell::OnceCell::new();
        Arc::make_mut(&mut self.inventory)
    }

    /// Put this host into a group made at run time (`group_by`): into the engine's own
    /// copy of the inventory when the inventory has the host, so that later plays select
    /// it by that group and the group's `group_vars/` apply; the implicit localhost is
    /// only listed in the group. Returns whether anything changed.
    fn join_group(&mut self, name: &str, parents: &[String]) -> Result<bool, String> {
        let host = self.host.clone();
        if self.inventory.hosts.contains_key(&host) {
            return self
                .inventory_mut()
                .add_dynamic_group(&host, name, parents)
                .map_err(|e| e.to_string());
        }
        self.hs.generation += 1;
        let members = self.runtime_groups.entry(name.to_string()).or_default();
        let changed = !members.contains(&host);
        if changed {
            members.push(host);
        }
        Ok(changed)
    }

    /// `group_names` of a host, with the groups group_by / add_host put it in.
    fn group_names_now(&self, host: &str) -> Vec<String> {
        let mut names = self.inventory.group_names(host);
        for (g, members) in &self.runtime_groups {
            if g != "all" && members.iter().any(|m| m == host) && !names.contains(g) {
                names.push(g.clone());
            }
        }
        names.sort();
        names
    }

    /// The `groups` variable, with run-time groups and hosts added.
    fn groups_now(&self) -> Value {
        let base = self.inventory.groups_value();
        if self.runtime_groups.is_empty() {
            return base;
        }
        let mut m: IndexMap<String, Vec<Value>> = IndexMap::new();
        if let Ok(keys) = base.try_iter() {
            for k in keys {
                let v = base.get_item(&k).unwrap_or_default();
                m.insert(
                    k.to_string(),
                    v.try_iter().map(|i| i.collect()).unwrap_or_default(),
                );
            }
        }
        for (g, members) in &self.runtime_groups {
            let list = m.entry(g.clone()).or_default();
            for h in members {
                if !list.iter().any(|x| x.as_str() == Some(h.as_str())) {
                    list.push(Value::from(h.as_str()));
                }
            }
        }
        Value::from_pairs(
            m.into_iter()
                .map(|(k, v)| (k, Value::from(v)))
                .collect::<Vec<_>>(),
        )
    }
}

/// A failure of the task itself (its condition or its loop), shown as Ansible 2.21 shows
/// it: `[ERROR]: Task failed: …` with the task's origin above the result.
fn located_failure(task: &Task, msg: String) -> IndexMap<String, Value> {
    let text = format!("Task failed: {msg}\n\nTask failed.\n{}", origin(&task.loc));
    let mut r = failure(msg);
    r.insert("_agent_failure".to_string(), Value::from("Text"));
    r.insert("_agent_error".to_string(), Value::from(text));
    r
}

/// The result of an `AnsibleActionFail` an action raises: `[ERROR]: Task failed: <msg>`
/// and the task's origin; with `obj` (the argument whose value is at fault, as the
/// exception's `obj=`), the chain down to that value's origin.
fn action_failure(task: &Task, msg: &str, obj: Option<&str>) -> IndexMap<String, Value> {
    let text = match obj.and_then(|k| task.arg_locs.get(k)) {
        Some(vl) => format!(
            "Task failed: {msg}\n\nTask failed.\n{}<<< caused by >>>\n\n{msg}\n{}",
            origin(&task.loc),
            origin(&vl)
        ),
        None => format!("Task failed: {msg}\n{}", origin(&task.loc)),
    };
    text_failure(msg, text)
}

/// Ansible's `validate_variable_name` for a `set_fact` key (after templating): an ASCII
/// identifier that is not `true`/`false`/`none` (any case Jinja knows) or `not`. A key of
/// digits is shown as the integer it was (a YAML key, or a template's native result).
fn invalid_fact_name(name: &str) -> Option<String> {
    const JINJA_KEYWORDS: &[&str] = &["true", "false", "none", "True", "False", "None", "not"];
    let mut chars = name.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
    if identifier && !JINJA_KEYWORDS.contains(&name) {
        return None;
    }
    let digits = name.strip_prefix('-').unwrap_or(name);
    let is_int = !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit());
    Some(if is_int {
        format!("Invalid variable name '{name}' of type 'int'.")
    } else {
        format!("Invalid variable name '{name}'.")
    })
}

/// A failed, unchanged result with Ansible's `msg`, printed as `text` (the error block
/// above the result).
/// Whether a conditional's error is one Ansible raises as its own exception (a
/// conditional that is not trusted, see [`agent_template::untrusted`], or one that is
/// empty) rather than as a failed check.
fn raised_conditional(msg: &str) -> bool {
    msg == agent_template::UNTRUSTED || msg == agent_template::EMPTY_CONDITIONAL
}

/// Ansible's failure for a [`raised_conditional`] error, its cause shown at argument `key`
/// with Ansible's help text. Ansible shows where an untrusted value came from when it
/// knows (a `set_fact`, say); the agent does not track origins, and shows the argument.
fn conditional_failure(task: &Task, key: &str, msg: &str) -> IndexMap<String, Value> {
    let help = if msg == agent_template::UNTRUSTED {
        "Templates and expressions must be defined by trusted sources such as playbooks or \
         roles, not untrusted sources such as module results."
    } else {
        "Broken conditionals can be temporarily allowed with the `ALLOW_BROKEN_CONDITIONALS` \
         configuration option."
    };
    let text = format!("Task failed: {msg}");
    let block = match task.arg_locs.get(key) {
        Some(vl) => format!(
            "{text}\n\nTask failed.\n{}<<< caused by >>>\n\n{msg}\n{}{help}\n\n",
            origin(&task.loc),
            origin(&vl)
        ),
        None => format!("{text}\n{}", origin(&task.loc)),
    };
    text_failure(&text, block)
}

/// An include's load error that ends the run (Ansible re-raises its parser errors: a
/// bad task, a YAML error), with where it is; a missing or unreadable file is the
/// include's own failure (`Err`).
fn fatal_load_error(
    e: crate::loader::LoadError,
) -> Result<(crate::loader::Loc, String), crate::loader::LoadError> {
    use crate::loader::LoadError;
    match e {
        // A file that is not there (an import in the included file): the include fails,
        // with Ansible's message.
        LoadError::At { msg, .. } | LoadError::Other(msg)
            if msg.starts_with("could not find or access '") =>
        {
            let path = msg
                .rsplit_once("(looked for ")
                .map(|(_, p)| p.trim_end_matches(')').to_string())
                .unwrap_or_default();
            Err(LoadError::Other(format!(
                "Unable to retrieve file contents. Could not find or access '{path}' on the \
                 Ansible Controller: [Errno 2] No such file or directory: '{path}' If you are \
                 using a module and expect the file to exist on the remote, see the \
                 remote_src option."
            )))
        }
        LoadError::At { loc, msg } => Ok((loc, msg)),
        LoadError::Yaml(y) => Ok((
            crate::loader::Loc {
                file: y.file.as_str().into(),
                line: y.line,
                col: y.col,
            },
            y.message,
        )),
        other => Err(other),
    }
}

/// A failed result `ignore_errors` does not forgive (see `finish`).
fn unignorable(mut r: IndexMap<String, Value>) -> IndexMap<String, Value> {
    r.insert("_agent_unignorable".into(), Value::from(true));
    r
}

fn text_failure(msg: &str, text: String) -> IndexMap<String, Value> {
    let mut r = IndexMap::new();
    r.insert("changed".to_string(), Value::from(false));
    r.insert("failed".to_string(), Value::from(true));
    r.insert("msg".to_string(), Value::from(msg));
    r.insert("_agent_failure".to_string(), Value::from("Text"));
    r.insert("_agent_error".to_string(), Value::from(text));
    r
}

/// Ansible's INVALID_VARIABLE_NAMES, which its group names are checked against: a
/// leading digit or any non-word character.
fn invalid_group_name(g: &str) -> bool {
    g.starts_with(|c: char| c.is_ascii_digit())
        || g.contains(|c: char| !(c.is_alphanumeric() || c == '_'))
}

/// `debug: var=EXPR` as Ansible 2.19+ shows it: an undefined value (a missing variable,
/// attribute, or `undef()`) is replaced by `<< error N - MESSAGE >>` and reported in a
/// warning; inside a variable's dicts and lists only the undefined parts are replaced.
/// Any other error fails the task (returned as the message).
struct DebugVar<'a> {
    templar: &'a Templar,
    vars: &'a Vars,
    /// Each replaced value's message, and whether it came from the expression itself
    /// (not from a variable's own template, whose position the agent does not keep).
    markers: Vec<(String, bool)>,
}

impl DebugVar<'_> {
    /// The action's result: `key` (the variable's name, or `expression_result`) with its
    /// value, and the warnings of the markers put in it (placed at `at`).
    fn result(
        &self,
        key: &str,
        value: Value,
        at: Option<&crate::loader::Loc>,
    ) -> IndexMap<String, Value> {
        let mut r = IndexMap::new();
        r.insert(key.to_string(), value);
        r.insert("changed".into(), Value::from(false));
        let warnings = self.warnings(at);
        if !warnings.is_empty() {
            r.insert("warnings".into(), Value::from(warnings));
        }
        r.insert("_ansible_verbose_always".into(), Value::from(true));
        r
    }

    fn marker(&mut self, message: &str, from_expr: bool) -> Value {
        self.markers
            .push((template_core_message(message).to_string(), from_expr));
        Value::from(format!(
            "<< error {} - {} >>",
            self.markers.len(),
            template_core_message(message)
        ))
    }

    fn eval(&mut self, expr: &str) -> Result<Value, String> {
        match self
            .templar
            .render_str(&format!("{{{{ {expr} }}}}"), self.vars)
        {
            Ok(v) if !v.is_undefined() => Ok(v),
            Ok(_) => Ok(self.marker(&format!("'{expr}' is undefined"), true)),
            Err(e) if e.undefined => {
                let raw = actions::is_identifier(expr)
                    .then(|| {
                        self.vars.layers.iter().find_map(|l| {
                            l.get_item(&Value::from(expr))
                                .ok()
                                .filter(|v| !v.is_undefined())
                        })
                    })
                    .flatten();
                match raw {
                    // a variable: template its parts one by one, so that only the parts
                    // that are undefined become markers
                    Some(raw) if matches!(raw.kind(), ValueKind::Map | ValueKind::Seq) => {
                        self.parts(&raw)
                    }
                    Some(_) => Ok(self.marker(&e.message, false)),
                    None => {
                        // An undefined that lost its name on the way (a lookup's
                        // `default=`): named by the expression's undefined variable.
                        let message = match undefined_root(expr, self.vars) {
                            Some(name) if !e.message.contains("' is undefined") => {
                                format!("'{name}' is undefined")
                            }
                            _ => e.message.clone(),
                        };
                        let from_expr = undefined_in_expr(expr, &message);
                        Ok(self.marker(&message, from_expr))
                    }
                }
            }
            Err(e) => Err(template_core_message(&e.message).replacen(
                "Error rendering template:",
                "Error rendering expression:",
                1,
            )),
        }
    }

    fn parts(&mut self, v: &Value) -> Result<Value, String> {
        match v.kind() {
            ValueKind::Map => {
                let mut out = IndexMap::new();
                for k in v.try_iter().map_err(|e| e.to_string())? {
                    let item = v.get_item(&k).unwrap_or_default();
                    out.insert(k, self.parts(&item)?);
                }
                Ok(Value::from_pairs(out))
            }
            ValueKind::Seq => {
                let mut out = Vec::new();
                for item in v.try_iter().map_err(|e| e.to_string())? {
                    out.push(self.parts(&item)?);
                }
                Ok(Value::from(out))
            }
            _ => match self.templar.template_value(v, self.vars) {
                Ok(v) => Ok(v),
                Err(e) if e.undefined => Ok(self.marker(&e.message, false)),
                Err(e) => Err(template_core_message(&e.message).to_string()),
            },
        }
    }

    /// Ansible's warnings for the replaced values, one per template that made one
    /// (`_marker_behaviors.emit_warnings` groups them by their template): with the `var`
    /// argument's position when the expression itself was undefined.
    fn warnings(&self, loc: Option<&crate::loader::Loc>) -> Vec<String> {
        self.markers
            .iter()
            .enumerate()
            .map(|(i, (m, from_expr))| {
                let mut msg = format!("Encountered 1 template error.\nerror {} - {m}", i + 1);
                match loc {
                    Some(loc) if *from_expr => {
                        msg.push('\n');
                        msg.push_str(&origin(loc));
                    }
                    _ => msg.push_str("\n\n"),
                }
                msg
            })
            .collect()
    }
}

/// A template error's message without the `(in template: …)` that names its source.
fn template_core_message(msg: &str) -> &str {
    msg.split(" (in template:").next().unwrap_or(msg).trim_end()
}

/// Whether an undefined error of `debug: var=EXPR` is about `expr` itself (the name or
/// attribute it names, or a call it makes, such as a lookup's undefined default) rather
/// than about a variable's own template that `expr` reads.
/// The first variable an expression names that no layer of `vars` defines (a word
/// outside quotes that is not an attribute, a filter or test, a call, a keyword
/// argument or a Jinja keyword).
fn undefined_root(expr: &str, vars: &Vars) -> Option<String> {
    const KEYWORDS: &[&str] = &[
        "and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False",
        "None",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == '\\' {
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' {
            quote = Some(c);
            i += 1;
            continue;
        }
        if !(c == '_' || c.is_alphabetic()) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i] == '_' || chars[i].is_alphanumeric()) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let next = chars[i..].iter().find(|c| !c.is_whitespace()).copied();
        let before = chars[..start]
            .iter()
            .rev()
            .find(|c| !c.is_whitespace())
            .copied();
        let root = !matches!(before, Some('.' | '|'))
            && !matches!(next, Some('(' | '='))
            && !prev_is_is(&chars[..start])
            && !KEYWORDS.contains(&word.as_str());
        let defined = || {
            vars.layers.iter().any(|l| {
                l.get_item(&Value::from(word.as_str()))
                    .is_ok_and(|v| !v.is_undefined())
            })
        };
        if root && !defined() {
            return Some(word);
        }
    }
    None
}

/// Whether the text before a word ends with the keyword `is` (the word names a test).
fn prev_is_is(before: &[char]) -> bool {
    let text: String = before.iter().collect();
    text.trim_end().ends_with(" is") || text.trim_end().ends_with(" is not")
}

fn undefined_in_expr(expr: &str, message: &str) -> bool {
    let core = template_core_message(message);
    let quoted = |prefix: &str, suffix: &str| {
        core.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(suffix))
            .map(str::to_string)
    };
    let named = quoted("'", "' is undefined").or_else(|| {
        core.rsplit_once(" has no attribute '")
            .and_then(|(_, a)| a.strip_suffix('\''))
            .map(str::to_string)
    });
    match named {
        Some(name) => expr
            .split(|c: char| !(c == '_' || c.is_alphanumeric()))
            .any(|w| w == name),
        None => expr.contains('('),
    }
}

/// Whether an action needs a connection to its host (a module, or the engine's own
/// `ping` and `setup`), as opposed to controller-side actions (`debug`, `set_fact`, …).
fn connects(task: &Task) -> bool {
    registry::find(&task.action).is_some()
        || matches!(task.short.as_str(), "ping" | "setup" | "gather_facts")
}

/// A failed result with Ansible's `msg`.
fn failure(msg: impl Into<Value>) -> IndexMap<String, Value> {
    result_map(&[("failed", Value::from(true)), ("msg", msg.into())])
}

/// The result of an error an Ansible action raises (an `AnsibleError`): `msg` is
/// `Task failed: <msg>`, and so is the error block printed above it.
fn raised(msg: &str, loc: &crate::loader::Loc) -> IndexMap<String, Value> {
    let text = format!("Task failed: {msg}");
    let block = format!("{text}\n{}", origin(loc));
    text_failure(&text, block)
}

/// Tags as Ansible's `evaluate_tags` sees them: a tag that is a template is rendered with
/// `vars` (the play's variables: no facts, no host's `set_fact`), and a list it gives is
/// flattened into its items (`tags: "{{ the_tags }}"`). A tag that fails to template is
/// an error, as in Ansible (it stops the play).
pub(crate) fn expand_tags<'a>(
    tags: impl IntoIterator<Item = &'a str>,
    templar: &Templar,
    vars: &Vars,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for t in tags {
        if !Templar::is_template(t) {
            out.push(t.to_string());
            continue;
        }
        match templar.render_str(t, vars) {
            Ok(v) if v.kind() == ValueKind::Seq => {
                out.extend(v.try_iter().into_iter().flatten().map(|i| i.to_string()));
            }
            Ok(v) => out.push(v.to_string()),
            Err(e) => return Err(template_cause(&e.message).to_string()),
        }
    }
    Ok(out)
}

/// Whether a task with `tags` runs under `--tags only` / `--skip-tags skip` (an empty `only`
/// is Ansible's default `all`). An untagged task matches the tag `untagged`.
pub(crate) fn tags_selected(tags: &HashSet<&str>, only: &[String], skip: &[String]) -> bool {
    let untagged = tags.is_empty();
    let has = |t: &str| {
        if untagged {
            t == "untagged"
        } else {
            tags.contains(t)
        }
    };
    let only_all = only.is_empty() || only.iter().any(|t| t == "all");
    let selected = has("always")
        || (only_all && !has("never"))
        || only.iter().any(|t| has(t))
        || (only.iter().any(|t| t == "tagged") && !untagged && !has("never"));
    if !selected {
        return false;
    }
    if skip.iter().any(|t| t == "all") {
        return has("always") && !skip.iter().any(|t| t == "always");
    }
    !(skip.iter().any(|t| has(t)) || (skip.iter().any(|t| t == "tagged") && !untagged))
}

/// The unit a service task names, when its state may be read ahead at the start of the run
/// (see `agent_modules::host::systemd::connect_in_background`): a literal name, the
/// system scope, no daemon reload or re-exec first.
fn read_ahead_unit(t: &Task) -> Option<String> {
    let literal = |k: &str| t.args.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let name = literal("name")?;
    if Templar::is_template(&name) || t.args.contains_key(crate::loader::playbook::ARGS_SPLAT) {
        return None;
    }
    if t.args
        .get("scope")
        .is_some_and(|v| v.as_str() != Some("system"))
    {
        return None;
    }
    for k in ["daemon_reload", "daemon_reexec"] {
        if t.args
            .get(k)
            .is_some_and(|v| agent_modules::spec::to_bool(v) != Some(false))
        {
            return None;
        }
    }
    Some(agent_modules::host::systemd::unit_name(&name))
}

#[cfg(test)]
mod tests {
    use super::{
        expand_tags, invalid_fact_name, serial_batch, tags_selected, undefined_in_expr,
        undefined_root,
    };
    use agent_template::Vars;
    use minijinja::Value;
    use std::collections::HashSet;

    #[test]
    fn the_undefined_variable_an_expression_names() {
        let vars = Vars::new(vec![Value::from_pairs([("known", Value::from(1))])]);
        let root = |e: &str| undefined_root(e, &vars);
        assert_eq!(
            root("lookup('env', 'USR', default=bogus_var)").as_deref(),
            Some("bogus_var")
        );
        assert_eq!(
            root("known.attr | default(x.y) is defined"),
            Some("x".into())
        );
        assert_eq!(root("known is defined and 'missing' in known"), None);
        assert_eq!(root("undef('custom')"), None);
    }

    #[test]
    fn serial_batches_as_ansible_cuts_them() {
        let v = |s: &[&str]| s.iter().map(|x| Value::from(*x)).collect::<Vec<_>>();
        let batches = |sizes: &[Value], n: usize| {
            (0..n)
                .map(|p| serial_batch(sizes, n, p))
                .collect::<Vec<_>>()
        };
        assert_eq!(batches(&[], 3), vec![0, 0, 0]);
        assert_eq!(batches(&[Value::from(2)], 5), vec![0, 0, 1, 1, 2]);
        // the last size repeats
        assert_eq!(batches(&v(&["1", "2"]), 5), vec![0, 1, 1, 2, 2]);
        // percentages of all hosts, at least 1
        assert_eq!(batches(&v(&["50%"]), 4), vec![0, 0, 1, 1]);
        assert_eq!(batches(&v(&["10%"]), 3), vec![0, 1, 2]);
        assert_eq!(batches(&[Value::from(0)], 3), vec![0, 0, 0]);
    }

    #[test]
    fn templated_tags_are_rendered_and_flattened() {
        let templar = agent_template::Templar::new();
        let vars = agent_template::Vars::new(vec![minijinja::Value::from_pairs([
            ("the_tags", minijinja::Value::from(vec!["tag3", "tag4"])),
            ("one", minijinja::Value::from("x")),
        ])]);
        assert_eq!(
            expand_tags(["plain", "{{ the_tags }}", "{{ one }}"], &templar, &vars).unwrap(),
            vec!["plain", "tag3", "tag4", "x"]
        );
        let e = expand_tags(["{{ nosuch }}"], &templar, &vars).unwrap_err();
        assert!(e.contains("'nosuch' is undefined"), "{e}");
    }

    #[test]
    fn debug_var_undefined_origin() {
        assert!(undefined_in_expr(
            "nosuch",
            "'nosuch' is undefined (in template: \"x\")"
        ));
        assert!(undefined_in_expr(
            "d.z",
            "object of type 'dict' has no attribute 'z'"
        ));
        assert!(!undefined_in_expr("d.a", "'nosuch' is undefined"));
        assert!(undefined_in_expr(
            "lookup('env', 'X', default=undef())",
            "The environment variable 'X' is not set."
        ));
        assert!(!undefined_in_expr(
            "must_set",
            "must_set has to be overridden"
        ));
    }

    #[test]
    fn fact_names_as_ansible_validates_them() {
        assert_eq!(invalid_fact_name("my_key"), None);
        assert_eq!(invalid_fact_name("_x1"), None);
        assert_eq!(
            invalid_fact_name("true").as_deref(),
            Some("Invalid variable name 'true'.")
        );
        assert_eq!(
            invalid_fact_name("1").as_deref(),
            Some("Invalid variable name '1' of type 'int'.")
        );
        assert!(invalid_fact_name("a-b").is_some());
        assert_eq!(
            invalid_fact_name("-").as_deref(),
            Some("Invalid variable name '-'.")
        );
        assert!(invalid_fact_name("").is_some());
        assert!(invalid_fact_name("café").is_some());
    }

    fn run(tags: &[&str], only: &[&str], skip: &[&str]) -> bool {
        let tags: HashSet<&str> = tags.iter().copied().collect();
        let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
        let skip: Vec<String> = skip.iter().map(|s| s.to_string()).collect();
        tags_selected(&tags, &only, &skip)
    }

    #[test]
    fn selection_follows_ansible_evaluate_tags() {
        // No --tags: everything but `never`.
        assert!(run(&[], &[], &[]));
        assert!(!run(&["never"], &[], &[]));
        assert!(run(&["always", "never"], &[], &[]));
        // --tags: always, named, tagged, untagged.
        assert!(run(&["always"], &["web"], &[]));
        assert!(run(&["web", "db"], &["web"], &[]));
        assert!(!run(&[], &["web"], &[]));
        assert!(run(&[], &["untagged"], &[]));
        assert!(run(&["x"], &["tagged"], &[]));
        assert!(!run(&["x", "never"], &["tagged"], &[]));
        assert!(run(&["x", "never"], &["never"], &[]));
        // --skip-tags: a named tag skips even an `always` task.
        assert!(!run(&["always", "web"], &[], &["web"]));
        assert!(run(&["always"], &[], &["web"]));
        assert!(!run(&["always"], &[], &["always"]));
        assert!(run(&["always"], &[], &["all"]));
        assert!(!run(&["always"], &[], &["all", "always"]));
        assert!(!run(&["x"], &[], &["all"]));
        assert!(!run(&[], &[], &["untagged"]));
        assert!(!run(&["x"], &[], &["tagged"]));
        assert!(run(&[], &[], &["tagged"]));
    }

    #[test]
    fn no_log_results_keep_nothing_of_the_secret() {
        use super::{CENSORED, censor, displayed, hide_registered_diff};
        use indexmap::IndexMap;
        use minijinja::Value;
        let secret = "N0L0g-unit-secret";
        let item = Value::from(minijinja::value::Serde(serde_json::json!({
            "changed": true, "failed": true, "msg": secret, "item": secret,
            "_ansible_item_label": secret, "_ansible_no_log": true,
            "warnings": ["w"], "exception": secret,
        })));
        let mut r: IndexMap<String, Value> = IndexMap::new();
        r.insert("changed".into(), Value::from(true));
        r.insert("failed".into(), Value::from(true));
        r.insert("msg".into(), Value::from(secret));
        r.insert("results".into(), Value::from(vec![item]));
        r.insert("_agent_failure".into(), Value::from("Action"));
        let kind = r.shift_remove("_agent_failure");
        let loc = crate::loader::Loc {
            file: std::sync::Arc::from("/nonexistent/site.yml"),
            line: 3,
            col: 7,
        };
        let (shown, error) = displayed(&r, kind.as_ref(), None, true, true, &loc);
        let text = serde_json::to_string(&shown).unwrap();
        assert!(!text.contains(secret), "{text}");
        assert!(text.contains(CENSORED), "{text}");
        // The loop item keeps `_ansible_no_log`, so its label is censored; `failed` is
        // not shown, as in Ansible; warnings (which may quote arguments) are not shown.
        assert_eq!(shown.get_attr("results").unwrap().len(), Some(1));
        let first = shown
            .get_attr("results")
            .unwrap()
            .get_item(&Value::from(0))
            .unwrap();
        assert!(first.get_attr("_ansible_no_log").unwrap().is_true());
        assert!(first.get_attr("failed").unwrap().is_undefined());
        assert!(first.get_attr("warnings").unwrap().is_undefined());
        let error = error.unwrap_or_default();
        assert!(
            error.starts_with(&format!("Task failed: {CENSORED}")),
            "{error}"
        );
        assert!(!error.contains(secret));
        assert!(censor(&Value::from(secret)).get_attr("censored").is_ok());

        // A registered no_log copy/template: the diff is hidden as Ansible's action
        // plugins hide it, for the task and for each loop item.
        let diff = || {
            Value::from(minijinja::value::Serde(serde_json::json!({
                "before": secret, "after": secret, "after_header": "/etc/x"
            })))
        };
        let mut reg: IndexMap<String, Value> = IndexMap::new();
        reg.insert("diff".into(), diff());
        reg.insert(
            "results".into(),
            Value::from(vec![Value::from(minijinja::value::Serde(
                serde_json::json!({
                    "diff": [{"before": secret, "after": secret}], "item": 1
                }),
            ))]),
        );
        hide_registered_diff(&mut reg);
        let text = serde_json::to_string(&reg).unwrap();
        assert!(!text.contains(secret), "{text}");
        assert!(text.contains("Diff output has been hidden because 'no_log: true'"));
        assert!(text.contains("/etc/x"));
    }
}
