//! The loaded, validated playbook: plays, blocks and tasks as plain data. Values that
//! may hold templates are kept raw; the engine renders them when a task runs.

use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::Value;

use super::error::Loc;

/// Keywords that blocks, roles and imports pass down to the tasks inside them.
///
/// The keywords most tasks leave unset ([`Keywords`]) are kept out of line and read
/// through `Deref` (`common.no_log`): a 10,000-task playbook keeps every task loaded, and
/// each unset keyword would otherwise take 24 bytes in each of them (docs/performance.md).
#[derive(Debug, Clone, Default)]
pub struct Common {
    /// `when` conditions (strings, or literal bools), all must hold.
    pub when: Vec<Value>,
    pub tags: Vec<String>,
    pub vars: IndexMap<String, Value>,
    /// `module_defaults`: dicts of module name (canonical, see
    /// [`crate::loader::playbook::defaults_key`]) → default arguments (raw, may hold
    /// templates). Outer levels come first; a later dict replaces a module's entry.
    pub module_defaults: Vec<IndexMap<String, Value>>,
    /// The other keywords, when any is set (see [`Keywords`]).
    pub(crate) kw: Option<Box<Keywords>>,
}

/// The keywords of [`Common`] that are usually unset.
#[derive(Debug, Clone, Default)]
pub struct Keywords {
    pub r#become: Option<Value>,
    pub become_user: Option<Value>,
    pub ignore_errors: Option<Value>,
    pub no_log: Option<Value>,
    pub check_mode: Option<Value>,
    pub diff: Option<Value>,
    pub environment: Option<Value>,
    pub run_once: Option<Value>,
    pub delegate_to: Option<Value>,
    pub any_errors_fatal: Option<Value>,
    pub ignore_unreachable: Option<Value>,
    /// `connection:` (it matters only with several hosts: see `Engine::unreachable_self`).
    pub connection: Option<Value>,
    /// `timeout:` seconds for the task to finish (see `agent_modules::deadline`).
    pub timeout: Option<Value>,
}

/// What an unset [`Keywords`] reads as.
static NO_KEYWORDS: Keywords = Keywords {
    r#become: None,
    become_user: None,
    ignore_errors: None,
    no_log: None,
    check_mode: None,
    diff: None,
    environment: None,
    run_once: None,
    delegate_to: None,
    any_errors_fatal: None,
    ignore_unreachable: None,
    connection: None,
    timeout: None,
};

impl std::ops::Deref for Common {
    type Target = Keywords;
    fn deref(&self) -> &Keywords {
        self.kw.as_deref().unwrap_or(&NO_KEYWORDS)
    }
}

impl std::ops::DerefMut for Common {
    /// Setting a keyword makes room for them.
    fn deref_mut(&mut self) -> &mut Keywords {
        self.kw.get_or_insert_with(Default::default)
    }
}

impl Common {
    /// What the handlers of a role that an `import_role`/`include_role` with these
    /// keywords placed inherit from it (Ansible makes the include task their parent):
    /// `None` when it sets none of them. Tags and `run_once` are left out (they do not
    /// decide whether a notified handler runs).
    pub fn for_handlers(&self) -> Option<Common> {
        let c = Common {
            when: self.when.clone(),
            vars: self.vars.clone(),
            module_defaults: self.module_defaults.clone(),
            kw: Some(Box::new(Keywords {
                r#become: self.r#become.clone(),
                become_user: self.become_user.clone(),
                ignore_errors: self.ignore_errors.clone(),
                no_log: self.no_log.clone(),
                check_mode: self.check_mode.clone(),
                diff: self.diff.clone(),
                environment: self.environment.clone(),
                delegate_to: self.delegate_to.clone(),
                ignore_unreachable: self.ignore_unreachable.clone(),
                connection: self.connection.clone(),
                ..Keywords::default()
            })),
            ..Common::default()
        };
        let any = !c.when.is_empty()
            || !c.vars.is_empty()
            || !c.module_defaults.is_empty()
            || [
                &c.r#become,
                &c.become_user,
                &c.ignore_errors,
                &c.no_log,
                &c.check_mode,
                &c.diff,
                &c.environment,
                &c.delegate_to,
                &c.ignore_unreachable,
                &c.connection,
            ]
            .iter()
            .any(|v| v.is_some());
        any.then_some(c)
    }

    /// `handlers` under these keywords (see [`Common::for_handlers`]), each in a block of
    /// its own so that each is still notified and run by itself.
    pub fn wrap_handlers(&self, handlers: &[Item], loc: &Loc) -> Vec<Item> {
        match self.for_handlers() {
            Some(c) => handlers
                .iter()
                .map(|h| Block::wrap(c.clone(), None, vec![h.clone()], loc.clone(), None))
                .collect(),
            None => handlers.to_vec(),
        }
    }
}

/// A loop: `loop:` items, or `with_<lookup>:` terms.
#[derive(Debug, Clone)]
pub enum Loop {
    Items(Value),
    Lookup { name: String, terms: Value },
}

/// A role as it is used at one place in a play (name, path, its variables, the
/// parameters it was given).
#[derive(Debug, Clone)]
pub struct RoleInstance {
    pub name: String,
    pub path: PathBuf,
    pub defaults: IndexMap<String, Value>,
    pub vars: IndexMap<String, Value>,
    pub params: IndexMap<String, Value>,
    pub handlers: Vec<Item>,
    /// `public: true` (import_role, roles:) makes vars/defaults visible to the play.
    pub public: bool,
    /// What makes two placements of a role the same role (Ansible's `Role.__eq__`:
    /// path, own parameters, `*_from` files, conditions, tags, whether an include placed
    /// it). A placement ends by marking its identity completed on the host when a task of
    /// it ran; a later equal placement is skipped there unless `allow_duplicates`.
    pub dedup_key: Arc<str>,
    /// The role's `allow_duplicates` (meta, or the include's own argument).
    pub allow_duplicates: bool,
    /// The first placement of this identity in the play (loaded while the play loads).
    pub first_placement: bool,
}

/// A task. The keywords most tasks leave unset ([`TaskRare`]) are kept out of line and
/// read through `Deref` (`task.until`), as [`Common`]'s are.
#[derive(Debug, Clone)]
pub struct Task {
    pub common: Common,
    pub name: Option<String>,
    /// The action as written (e.g. `ansible.builtin.copy`) and its short form.
    pub action: String,
    pub short: String,
    pub args: IndexMap<String, Value>,
    pub loc: Loc,
    pub loop_: Option<Loop>,
    pub register: Option<String>,
    pub notify: Vec<String>,
    pub role: Option<Arc<RoleInstance>>,
    /// Where the module key is, and each argument's value (for error origins).
    pub action_loc: Option<Loc>,
    pub arg_locs: ArgLocs,
    pub(crate) rare: Option<Box<TaskRare>>,
}

impl Task {
    /// A task of `action` at `loc`, nothing else set yet.
    pub fn new(loc: Loc, role: Option<Arc<RoleInstance>>) -> Task {
        Task {
            common: Common::default(),
            name: None,
            action: String::new(),
            short: String::new(),
            args: IndexMap::new(),
            loc,
            loop_: None,
            register: None,
            notify: Vec::new(),
            role,
            action_loc: None,
            arg_locs: ArgLocs::default(),
            rare: None,
        }
    }
}

/// Where each of a task's arguments is (for error origins): a short list instead of a
/// map of full locations, since every loaded task keeps it.
#[derive(Debug, Clone, Default)]
pub struct ArgLocs(Vec<(Box<str>, Arc<str>, u32, u32)>);

impl ArgLocs {
    pub fn get(&self, key: &str) -> Option<Loc> {
        self.0
            .iter()
            .find(|(k, ..)| &**k == key)
            .map(|(_, file, line, col)| Loc {
                file: file.clone(),
                line: *line as usize,
                col: *col as usize,
            })
    }

    /// Set where `key` is (replacing what was there).
    pub fn insert(&mut self, key: &str, loc: Loc) {
        let line = u32::try_from(loc.line).unwrap_or(u32::MAX);
        let col = u32::try_from(loc.col).unwrap_or(u32::MAX);
        match self.0.iter_mut().find(|(k, ..)| &**k == key) {
            Some(slot) => *slot = (key.into(), loc.file, line, col),
            None => self.0.push((key.into(), loc.file, line, col)),
        }
    }

    /// Set where `key` is unless it is known.
    pub fn insert_if_absent(&mut self, key: &str, loc: impl FnOnce() -> Loc) {
        if !self.0.iter().any(|(k, ..)| &**k == key) {
            self.insert(key, loc());
        }
    }
}

/// What an unset [`TaskRare`] reads as.
static NO_TASK_RARE: TaskRare = TaskRare {
    loop_control: None,
    listen: Vec::new(),
    changed_when: None,
    failed_when: None,
    until: None,
    retries: None,
    delay: None,
    async_: None,
    poll: None,
    bad_args: None,
    module_path: None,
    written_action: None,
};

impl Task {
    /// The action name as the task wrote it (Ansible's `task.action`).
    pub fn written_action(&self) -> &str {
        self.written_action.as_deref().unwrap_or(&self.action)
    }
}

impl std::ops::Deref for Task {
    type Target = TaskRare;
    fn deref(&self) -> &TaskRare {
        self.rare.as_deref().unwrap_or(&NO_TASK_RARE)
    }
}

impl std::ops::DerefMut for Task {
    fn deref_mut(&mut self) -> &mut TaskRare {
        self.rare.get_or_insert_with(Default::default)
    }
}

/// The keywords of a [`Task`] that are usually unset.
#[derive(Debug, Clone, Default)]
pub struct TaskRare {
    pub loop_control: Option<Value>,
    pub listen: Vec<String>,
    pub changed_when: Option<Value>,
    pub failed_when: Option<Value>,
    pub until: Option<Value>,
    pub retries: Option<Value>,
    pub delay: Option<Value>,
    /// `async` (seconds) and `poll`: with `poll: 0` the module runs in the background.
    pub async_: Option<Value>,
    pub poll: Option<Value>,
    /// Words in a `k=v` string that are not `k=v`, given to a module that takes no
    /// free-form text: where, and the agent's message. Ansible loads such a task and
    /// fails it when it runs; the agent refuses a run whose plays hold one for this host
    /// before anything changes, and fails the task when a dynamic include brings it.
    pub bad_args: Option<(Loc, String)>,
    /// The file of a module that is not the agent's (found in a `library/` directory).
    pub module_path: Option<std::path::PathBuf>,
    /// The action name the task wrote, when it differs from `action`: an action plugin
    /// that re-exports a built-in (`debug_var_alias` runs `debug`; see
    /// `loader::action_plugins`).
    pub written_action: Option<String>,
}

#[derive(Debug)]
pub struct Block {
    pub common: Common,
    pub name: Option<String>,
    pub block: Vec<Item>,
    pub rescue: Vec<Item>,
    pub always: Vec<Item>,
    pub loc: Loc,
    pub role: Option<Arc<RoleInstance>>,
    /// This block is a placement of `role` (a `roles:` entry, a dependency, an
    /// import_role), not a block inside it: where its deduplication is decided.
    pub role_root: bool,
}

impl Block {
    /// A block that only groups items (a role, an import) under inherited keywords.
    pub fn wrap(
        common: Common,
        name: Option<String>,
        block: Vec<Item>,
        loc: Loc,
        role: Option<Arc<RoleInstance>>,
    ) -> Item {
        Item::Block(Arc::new(Block {
            common,
            name,
            block,
            rescue: Vec::new(),
            always: Vec::new(),
            loc,
            role,
            role_root: false,
        }))
    }

    /// A placement of a role: its items under the entry's keywords.
    pub fn role(common: Common, block: Vec<Item>, loc: Loc, role: Arc<RoleInstance>) -> Item {
        Item::Block(Arc::new(Block {
            common,
            name: None,
            block,
            rescue: Vec::new(),
            always: Vec::new(),
            loc,
            role: Some(role),
            role_root: true,
        }))
    }
}

#[derive(Debug, Clone)]
pub enum Item {
    Task(Arc<Task>),
    Block(Arc<Block>),
}

#[derive(Debug)]
pub struct Play {
    pub name: String,
    pub hosts: String,
    pub gather_facts: Option<Value>,
    /// The play's gather_subset / gather_timeout / fact_path keywords (passed to setup).
    pub gather_subset: Option<Value>,
    pub gather_timeout: Option<Value>,
    pub fact_path: Option<Value>,
    pub common: Common,
    pub vars_files: Vec<Value>,
    pub pre_tasks: Vec<Item>,
    /// Roles, then tasks (one section: handlers flush after it).
    pub main: Vec<Item>,
    pub post_tasks: Vec<Item>,
    pub handlers: Vec<Item>,
    pub roles: Vec<Arc<RoleInstance>>,
    /// The play's `force_handlers`; unset, the command line's decides.
    pub force_handlers: Option<bool>,
    /// The play's `serial` (batch sizes: a number, a percentage or a list of them);
    /// it matters only when several hosts run (`--local-hosts`).
    pub serial: Option<Value>,
    pub loc: Loc,
    pub dir: PathBuf,
}

#[derive(Debug)]
pub struct Playbook {
    pub path: PathBuf,
    pub plays: Vec<Play>,
}

impl Item {
    /// Whether this task, or a task in this block (its rescue and always included),
    /// satisfies `f`.
    pub fn any_task(&self, f: &dyn Fn(&Task) -> bool) -> bool {
        match self {
            Item::Task(t) => f(t),
            Item::Block(b) => [&b.block, &b.rescue, &b.always]
                .into_iter()
                .flatten()
                .any(|i| i.any_task(f)),
        }
    }
}

impl Item {
    /// The first task (this one, or one in this block) that satisfies `f`.
    pub fn find_task(&self, f: &dyn Fn(&Task) -> bool) -> Option<&Task> {
        match self {
            Item::Task(t) => f(t).then_some(&**t),
            Item::Block(b) => [&b.block, &b.rescue, &b.always]
                .into_iter()
                .flatten()
                .find_map(|i| i.find_task(f)),
        }
    }
}

impl Play {
    /// The first task or handler loaded with the play (its roles' included) that
    /// satisfies `f`.
    pub fn find_task(&self, f: &dyn Fn(&Task) -> bool) -> Option<&Task> {
        [
            &self.pre_tasks,
            &self.main,
            &self.post_tasks,
            &self.handlers,
        ]
        .into_iter()
        .chain(self.roles.iter().map(|r| &r.handlers))
        .flatten()
        .find_map(|i| i.find_task(f))
    }
}

impl Playbook {
    /// Whether any task or handler loaded with the playbook (its roles' included; not
    /// what dynamic includes add at run time) satisfies `f`.
    pub fn any_task(&self, f: &dyn Fn(&Task) -> bool) -> bool {
        self.plays.iter().any(|p| {
            [&p.pre_tasks, &p.main, &p.post_tasks, &p.handlers]
                .into_iter()
                .chain(p.roles.iter().map(|r| &r.handlers))
                .flatten()
                .any(|i| i.any_task(f))
        })
    }
}
