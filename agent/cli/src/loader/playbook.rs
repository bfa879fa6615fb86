//! Plays, blocks and tasks from YAML nodes, with roles and static imports expanded.
//! Everything is checked here, before the first task runs: keywords, module names,
//! arguments that are not templated, role and file references.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agent_modules::registry;
use agent_modules::spec::closest;
use agent_template::Templar;
use agent_yaml::{Kind, Node};
use indexmap::IndexMap;
use minijinja::Value;

use super::action_plugins::ActionPlugin;
use super::error::{LoadError, Loc};
use super::files::{find_main, node_to_vars, read_vars_file, read_yaml};
use super::kv::{parse_kv, parse_kv_deferred};
use super::model::*;
use crate::engine::actions;

/// Keywords a task may have (Ansible's Task, Base, Conditional, Taggable, Become,
/// Delegatable, Notifiable, Loopable attributes).
pub const TASK_KEYWORDS: &[&str] = &[
    "name",
    "action",
    "local_action",
    "args",
    "async",
    "poll",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "become_exe",
    "changed_when",
    "check_mode",
    "collections",
    "connection",
    "debugger",
    "delay",
    "delegate_facts",
    "delegate_to",
    "diff",
    "environment",
    "failed_when",
    "ignore_errors",
    "ignore_unreachable",
    "loop",
    "loop_control",
    "module_defaults",
    "no_log",
    "notify",
    "port",
    "register",
    "remote_user",
    "retries",
    "run_once",
    "tags",
    "throttle",
    "timeout",
    "until",
    "vars",
    "when",
    "listen",
    "any_errors_fatal",
];

pub const BLOCK_KEYWORDS: &[&str] = &[
    "block",
    "rescue",
    "always",
    "notify",
    "name",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "become_exe",
    "check_mode",
    "collections",
    "connection",
    "debugger",
    "delegate_facts",
    "delegate_to",
    "diff",
    "environment",
    "ignore_errors",
    "ignore_unreachable",
    "module_defaults",
    "no_log",
    "port",
    "remote_user",
    "run_once",
    "tags",
    "throttle",
    "timeout",
    "vars",
    "when",
    "any_errors_fatal",
];

pub const PLAY_KEYWORDS: &[&str] = &[
    "hosts",
    "name",
    "gather_facts",
    "gather_subset",
    "gather_timeout",
    "fact_path",
    "vars",
    "vars_files",
    "vars_prompt",
    "roles",
    "pre_tasks",
    "tasks",
    "post_tasks",
    "handlers",
    "become",
    "become_user",
    "become_method",
    "become_flags",
    "become_exe",
    "tags",
    "environment",
    "any_errors_fatal",
    "max_fail_percentage",
    "serial",
    "strategy",
    "order",
    "connection",
    "remote_user",
    "check_mode",
    "diff",
    "force_handlers",
    "ignore_errors",
    "ignore_unreachable",
    "module_defaults",
    "no_log",
    "port",
    "run_once",
    "throttle",
    "timeout",
    "collections",
    "debugger",
    "import_playbook",
    "ansible.builtin.import_playbook",
];

/// The spellings of `import_playbook`.
const IMPORT_PLAYBOOK: [&str; 3] = [
    "import_playbook",
    "ansible.builtin.import_playbook",
    "ansible.legacy.import_playbook",
];

/// The loader: a playbook and everything it references.
#[derive(Clone)]
pub struct Loader {
    pub roles_path: Vec<PathBuf>,
    /// Where modules that are not the agent's are looked for, as Ansible's module path
    /// grows: `ANSIBLE_LIBRARY`, then each playbook's and each role's `library/` as they
    /// load.
    pub library_dirs: Vec<PathBuf>,
    /// Where action plugins are looked for: `ANSIBLE_ACTION_PLUGINS`, then each
    /// playbook's and each role's `action_plugins/` as they load (see
    /// [`super::action_plugins`]).
    pub action_plugin_dirs: Vec<PathBuf>,
    /// The directory of the playbook being run: the last place task files are looked for
    /// (Ansible's loader basedir).
    pub basedir: Option<PathBuf>,
    /// The run's extra vars: what a templated `import_playbook` name is rendered with
    /// (with the import's own `vars`), before anything runs.
    pub extra_vars: IndexMap<String, Value>,
    /// The `vars` of the import_playbook statements being loaded (outermost first) and of
    /// the play being loaded: with the extra vars, what a templated name that must be
    /// known at load time (import_playbook, import_role, a `roles:` entry) is rendered
    /// with.
    import_vars: Vec<IndexMap<String, Value>>,
    play_vars: IndexMap<String, Value>,
    /// At run time (a file an include_tasks loads), the including task's variables:
    /// what load-time names are templated with then.
    pub runtime_vars: Option<agent_template::Vars>,
    /// The `notify` of the blocks being loaded (innermost last).
    block_notify: Vec<Vec<String>>,
    /// The `vars` of the blocks (and of the import_tasks) being loaded, innermost last:
    /// what a load-time name is templated with too.
    block_vars: Vec<IndexMap<String, Value>>,
    /// The role whose files are being loaded (its params, vars and defaults template
    /// load-time names).
    loading_role: Option<Arc<RoleInstance>>,
    /// The templating engine (shared with the engine): argument templates are compiled
    /// once here, so syntax errors are found before anything runs.
    pub templar: Templar,
    /// The identities of the roles placed so far in the current play (see
    /// [`RoleInstance::dedup_key`]): a role placed again adds no handlers or play-level vars.
    seen_roles: HashSet<String>,
    /// What the role being placed inherits from the roles it is placed under (its
    /// dependency chain).
    parent: Inherited,
    /// Roles placed by import_role in the current play: their vars and defaults are
    /// play-level, as those of `roles:`.
    imported_roles: Vec<Arc<RoleInstance>>,
    /// The keywords of the import_role that placed a role, which its handlers inherit.
    handler_parents: Vec<(Arc<RoleInstance>, Common, Loc)>,
    /// Every role placed in the current play, dependencies included (in load order):
    /// their handlers are the play's, their defaults and vars play-level.
    all_roles: Vec<Arc<RoleInstance>>,
    /// Files being imported (cycle detection).
    stack: Vec<PathBuf>,
    /// How many enclosing plays and blocks set `module_defaults`: their tasks may get
    /// arguments from them, so they are checked when they run.
    defaults_scope: usize,
    /// Loading the block of a handler list: a block in it is refused.
    in_handler_block: bool,
    /// Loading a file a handler includes: its tasks are handlers (no block in a block,
    /// no role), though they need no name.
    handler_include: bool,
}

fn loc(file: &Arc<str>, n: &Node) -> Loc {
    Loc::new(file, n.pos)
}

fn key_str<'a>(file: &Arc<str>, k: &'a Node) -> Result<&'a str, LoadError> {
    k.as_str().ok_or_else(|| {
        LoadError::at(
            loc(file, k),
            format!("keys must be strings, not {}", k.type_name()),
        )
    })
}

fn expect_map<'a>(
    file: &Arc<str>,
    n: &'a Node,
    what: &str,
) -> Result<&'a [(Node, Node)], LoadError> {
    n.as_map().ok_or_else(|| {
        LoadError::at(
            loc(file, n),
            format!(
                "{what} must be a dictionary (mapping), but this is a {}",
                n.type_name()
            ),
        )
    })
}

fn expect_list<'a>(file: &Arc<str>, n: &'a Node, what: &str) -> Result<&'a [Node], LoadError> {
    match &n.kind {
        Kind::Seq(s) => Ok(s),
        Kind::Null => Ok(&[]),
        _ => Err(LoadError::at(
            loc(file, n),
            format!("{what} must be a list, but this is a {}", n.type_name()),
        )),
    }
}

fn string_list(n: &Node) -> Vec<String> {
    match &n.kind {
        Kind::Seq(s) => s.iter().map(scalar_string).collect(),
        Kind::Null => Vec::new(),
        Kind::Str(s) => s
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
        _ => vec![scalar_string(n)],
    }
}

fn scalar_string(n: &Node) -> String {
    match &n.kind {
        Kind::Str(s) | Kind::Unsafe(s) | Kind::Vault(s) => s.clone(),
        Kind::Int(i) => i.to_string(),
        Kind::Float(f) => f.to_string(),
        Kind::Bool(b) => {
            if *b {
                "True".into()
            } else {
                "False".into()
            }
        }
        Kind::Null => String::new(),
        _ => n.to_value().to_string(),
    }
}

fn when_list(n: &Node) -> Vec<Value> {
    match &n.kind {
        Kind::Seq(s) => s.iter().map(Node::to_value).collect(),
        Kind::Null => Vec::new(),
        _ => vec![n.to_value()],
    }
}

fn unknown_keyword(
    file: &Arc<str>,
    k: &Node,
    key: &str,
    allowed: &[&str],
    what: &str,
) -> LoadError {
    let hint = closest(key, allowed.iter().copied());
    let mut msg = format!("'{key}' is not a valid attribute for a {what}");
    if let Some(h) = hint.first() {
        msg.push_str(&format!("; did you mean '{h}'?"));
    }
    LoadError::at(loc(file, k), msg)
}

/// A boolean keyword (`become`, `ignore_errors`, ...) must be a boolean, one of Ansible's
/// boolean strings or numbers, null, or a template. Ansible finds a bad value when the task
/// runs ("could not be converted to 'bool'"); a literal one is refused here, before
/// anything runs.
fn check_bool_keyword(file: &Arc<str>, key: &str, v: &Node) -> Result<(), LoadError> {
    let ok = match &v.kind {
        Kind::Null | Kind::Bool(_) => true,
        Kind::Int(i) => *i == 0 || *i == 1,
        Kind::Float(f) => *f == 0.0 || *f == 1.0,
        Kind::Str(s) | Kind::Unsafe(s) => {
            Templar::is_template(s)
                || matches!(
                    s.trim().to_lowercase().as_str(),
                    "y" | "yes"
                        | "on"
                        | "1"
                        | "true"
                        | "t"
                        | "n"
                        | "no"
                        | "off"
                        | "0"
                        | "false"
                        | "f"
                )
        }
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let shown = match v.as_str() {
        Some(s) => s.to_string(),
        None => v.to_value().to_string(),
    };
    Err(LoadError::at(
        loc(file, v),
        format!(
            "Error processing keyword '{key}': The value '{shown}' could not be converted to 'bool'."
        ),
    ))
}

/// A variable name Ansible accepts: a Python identifier that is not a keyword.
pub(crate) fn valid_var_name(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
        "try", "while", "with", "yield",
    ];
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first == '_' || first.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
        && !KEYWORDS.contains(&name)
}

/// `loop_control` as Ansible loads it: a mapping of LoopControl's attributes; a literal
/// `pause` must be a number.
fn check_loop_control(file: &Arc<str>, v: &Node) -> Result<(), LoadError> {
    const ATTRS: &[&str] = &[
        "loop_var",
        "index_var",
        "label",
        "pause",
        "extended",
        "extended_allitems",
        "break_when",
    ];
    let Some(entries) = v.as_map() else {
        return Err(LoadError::at(
            loc(file, v),
            "the `loop_control` value must be specified as a dictionary and cannot be a variable itself (though it can contain variables)",
        ));
    };
    for (k, val) in entries {
        let key = key_str(file, k)?;
        if !ATTRS.contains(&key) {
            return Err(unknown_keyword(file, k, key, ATTRS, "LoopControl"));
        }
        let number = match &val.kind {
            Kind::Int(_) | Kind::Float(_) | Kind::Null => true,
            Kind::Str(s) | Kind::Unsafe(s) => {
                Templar::is_template(s) || s.trim().parse::<f64>().is_ok()
            }
            _ => false,
        };
        if key == "pause" && !number {
            let shown = val
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| val.to_value().to_string());
            return Err(LoadError::at(
                loc(file, val),
                format!(
                    "Error processing keyword 'pause': The value '{shown}' could not be converted to 'float'."
                ),
            ));
        }
        if matches!(key, "extended" | "extended_allitems") {
            check_bool_keyword(file, key, val)?;
        }
    }
    Ok(())
}

/// The name module_defaults are kept under for an action: the registry's canonical
/// name when the agent has the module (so `systemd` and `ansible.builtin.systemd_service`
/// meet), else the name without `ansible.builtin.` / `ansible.legacy.`.
pub fn defaults_key(action: &str) -> String {
    if let Some(entry) = registry::find(action) {
        return entry.name.to_string();
    }
    action
        .strip_prefix("ansible.builtin.")
        .or_else(|| action.strip_prefix("ansible.legacy."))
        .unwrap_or(action)
        .to_string()
}

/// `module_defaults`: a dict or a list of dicts whose keys are static module (or
/// `group/`) names; the values may be templates. Null means none.
fn module_defaults(file: &Arc<str>, v: &Node) -> Result<Vec<IndexMap<String, Value>>, LoadError> {
    let dicts: Vec<&Node> = match &v.kind {
        Kind::Null => return Ok(Vec::new()),
        Kind::Seq(items) => items.iter().collect(),
        _ => vec![v],
    };
    let mut out = Vec::new();
    for d in dicts {
        let Some(entries) = d.as_map() else {
            return Err(LoadError::at(
                loc(file, d),
                "The field 'module_defaults' is supposed to be a dictionary or list of \
                 dictionaries, the keys of which must be static action, module, or group \
                 names. Only the values may contain templates. For example: \
                 {'ping': \"{{ ping_defaults }}\"}",
            ));
        };
        let mut m = IndexMap::new();
        for (k, val) in entries {
            let name = key_str(file, k)?;
            let key = if name.starts_with("group/") {
                name.to_string()
            } else {
                defaults_key(name)
            };
            m.insert(key, val.to_value());
        }
        out.push(m);
    }
    Ok(out)
}

/// Set one of the inherited keywords. Returns false when `key` is not one of them.
fn set_common(c: &mut Common, file: &Arc<str>, key: &str, v: &Node) -> Result<bool, LoadError> {
    if matches!(
        key,
        "become"
            | "ignore_errors"
            | "no_log"
            | "check_mode"
            | "diff"
            | "run_once"
            | "any_errors_fatal"
            | "ignore_unreachable"
    ) {
        check_bool_keyword(file, key, v)?;
    }
    match key {
        "when" => {
            c.when = when_list(v);
            super::condlocs::record(file, v, &Value::from(c.when.clone()));
        }
        "tags" => {
            if v.as_map().is_some() {
                return Err(LoadError::at(
                    loc(file, v),
                    "tags must be specified as a list",
                ));
            }
            c.tags = string_list(v);
            // Taggable._load_tags: reserved names work, but Ansible advises against them.
            let reserved: Vec<&str> = c
                .tags
                .iter()
                .map(String::as_str)
                .filter(|t| matches!(*t, "tagged" | "all" | "untagged"))
                .collect();
            if !reserved.is_empty() {
                let list = reserved
                    .iter()
                    .map(|t| format!("'{t}'"))
                    .collect::<Vec<_>>()
                    .join(", ");
                super::files::push_warning(
                    format!(
                        "Found reserved tagnames in tags: [{list}], we do not recommend doing this as it might give unexpected results\n{}",
                        super::error::origin(&loc(file, v))
                    )
                    .trim_end()
                    .to_string(),
                );
            }
        }
        "vars" => {
            if !v.is_null() {
                if let Some(seq) = v.as_seq() {
                    // Old list-of-dicts form.
                    for item in seq {
                        c.vars.extend(node_to_vars(file, Some(item))?);
                    }
                } else {
                    expect_map(file, v, "vars")?;
                    c.vars = node_to_vars(file, Some(v))?;
                }
            }
        }
        "become" => c.r#become = Some(v.to_value()),
        "become_user" => c.become_user = Some(v.to_value()),
        "ignore_errors" => c.ignore_errors = Some(v.to_value()),
        "no_log" => c.no_log = Some(v.to_value()),
        "check_mode" => c.check_mode = Some(v.to_value()),
        "diff" => c.diff = Some(v.to_value()),
        "environment" => c.environment = Some(v.to_value()),
        "module_defaults" => c.module_defaults = module_defaults(file, v)?,
        "run_once" => c.run_once = Some(v.to_value()),
        "delegate_to" => c.delegate_to = Some(v.to_value()),
        "any_errors_fatal" => c.any_errors_fatal = Some(v.to_value()),
        "ignore_unreachable" => c.ignore_unreachable = Some(v.to_value()),
        "connection" => c.connection = Some(v.to_value()),
        "timeout" => c.timeout = Some(v.to_value()),
        // Accepted and meaningless for a local run.
        "become_method" | "become_flags" | "become_exe" | "collections" | "debugger" | "port"
        | "remote_user" | "throttle" | "delegate_facts" => {}
        _ => return Ok(false),
    }
    Ok(true)
}

/// Parse `when:` etc. strings to catch template syntax errors at load time.
fn check_template_syntax(file: &Arc<str>, n: &Node, expr: bool) -> Result<(), LoadError> {
    let Some(s) = n.as_str() else { return Ok(()) };
    crate::engine::syntax::check(s, expr)
        .map_err(|e| LoadError::at(loc(file, n), format!("template error: {e}")))
}

impl Loader {
    pub fn new(roles_path: Vec<PathBuf>) -> Loader {
        Loader {
            roles_path,
            library_dirs: std::env::var_os("ANSIBLE_LIBRARY")
                .map(|v| {
                    std::env::split_paths(&v)
                        .filter(|p| !p.as_os_str().is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            action_plugin_dirs: std::env::var_os("ANSIBLE_ACTION_PLUGINS")
                .map(|v| {
                    std::env::split_paths(&v)
                        .filter(|p| !p.as_os_str().is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            basedir: None,
            extra_vars: IndexMap::new(),
            import_vars: Vec::new(),
            play_vars: IndexMap::new(),
            block_notify: Vec::new(),
            block_vars: Vec::new(),
            loading_role: None,
            runtime_vars: None,
            templar: Templar::new(),
            seen_roles: HashSet::new(),
            in_handler_block: false,
            handler_include: false,
            parent: Inherited::default(),
            imported_roles: Vec::new(),
            handler_parents: Vec::new(),
            all_roles: Vec::new(),
            stack: Vec::new(),
            defaults_scope: 0,
        }
    }

    /// A name that must be known while the playbook loads (an `import_playbook` file, an
    /// import_role or `roles:` name), rendered when it is a template, as Ansible does,
    /// with the variables known then: extra vars over `own` (an import's `vars`) over the
    /// play's vars over the enclosing imports' vars.
    fn load_time_name(
        &self,
        file: &Arc<str>,
        at: &Node,
        name: &str,
        own: IndexMap<String, Value>,
        what: &str,
    ) -> Result<String, LoadError> {
        if !Templar::is_template(name) {
            return Ok(name.to_string());
        }
        let map = |m: &IndexMap<String, Value>| {
            Value::from_pairs(m.iter().map(|(k, v)| (k.clone(), v.clone())))
        };
        let mut layers = vec![map(&self.extra_vars), map(&own)];
        layers.extend(self.block_vars.iter().rev().map(map));
        if let Some(r) = &self.loading_role {
            layers.push(map(&r.params));
            layers.push(map(&r.vars));
        }
        match &self.runtime_vars {
            Some(v) => layers.extend(v.layers.iter().cloned()),
            None => {
                layers.push(map(&self.play_vars));
                layers.extend(self.import_vars.iter().rev().map(map));
                if let Some(dir) = &self.basedir {
                    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
                    layers.push(Value::from_pairs([(
                        "playbook_dir".to_string(),
                        Value::from(dir.display().to_string()),
                    )]));
                }
            }
        }
        if let Some(r) = &self.loading_role {
            layers.push(map(&r.defaults));
        }
        match self
            .templar
            .render_str(name, &agent_template::Vars::new(layers))
        {
            Ok(v) => Ok(agent_template::py_str(&v)),
            Err(e) => Err(LoadError::at(
                loc(file, at),
                format!("could not template the {what} name '{name}': {e}"),
            )),
        }
    }

    /// Load a playbook file (plays and `import_playbook`s).
    pub fn load_playbook(&mut self, path: &Path) -> Result<Playbook, LoadError> {
        if self.basedir.is_none() {
            self.basedir = path.parent().map(Path::to_path_buf);
        }
        let mut plays = Vec::new();
        self.load_plays_into(path, &mut plays)?;
        Ok(Playbook {
            path: path.to_path_buf(),
            plays,
        })
    }

    fn load_plays_into(&mut self, path: &Path, plays: &mut Vec<Play>) -> Result<(), LoadError> {
        let canon = path.canonicalize().map_err(|e| LoadError::io(path, e))?;
        if self.stack.contains(&canon) {
            return Err(LoadError::Other(format!(
                "{}: import_playbook cycle: this playbook imports itself (through {})",
                path.display(),
                self.stack
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            )));
        }
        if let Some(lib) = path.parent().map(|d| d.join("library"))
            && lib.is_dir()
            && !self.library_dirs.contains(&lib)
        {
            self.library_dirs.push(lib);
        }
        if let Some(d) = path.parent().and_then(super::action_plugins::dir_in)
            && !self.action_plugin_dirs.contains(&d)
        {
            self.action_plugin_dirs.push(d);
        }
        let f = read_yaml(path)?;
        let file = f.name.clone();
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let Some(mut root) = f.root else {
            return Err(LoadError::Other(format!(
                "{}: the playbook is empty: it must be a list of plays",
                path.display()
            )));
        };
        let count = expect_list(&file, &root, "a playbook")?.len();
        self.stack.push(canon);
        for i in 0..count {
            // Mutable: a play's task list is taken out of the document as it is loaded.
            let Some(pn) = (match &mut root.kind {
                Kind::Seq(list) => list.get_mut(i),
                _ => None,
            }) else {
                break;
            };
            let entries = expect_map(&file, pn, "a play")?;
            if let Some(imp) = IMPORT_PLAYBOOK.iter().find_map(|k| pn.get(k)) {
                let name = imp.as_str().ok_or_else(|| {
                    LoadError::at(loc(&file, imp), "import_playbook takes a file name")
                })?;
                let own = node_to_vars(&file, pn.get("vars"))?;
                let name = self.load_time_name(&file, imp, name, own.clone(), "playbook")?;
                let target = dir.join(&name);
                if !target.is_file() {
                    return Err(LoadError::at(
                        loc(&file, imp),
                        format!(
                            "could not find the playbook to import: {}",
                            target.display()
                        ),
                    ));
                }
                for (k, _) in entries {
                    let key = key_str(&file, k)?;
                    if !IMPORT_PLAYBOOK.contains(&key)
                        && !matches!(key, "name" | "vars" | "when" | "tags")
                    {
                        return Err(unknown_keyword(
                            &file,
                            k,
                            key,
                            &["import_playbook", "name", "vars", "tags", "when"],
                            "import_playbook",
                        ));
                    }
                }
                let first = plays.len();
                if let Some(e) = self.cycle_at(&file, imp, &target, "import_playbook") {
                    return Err(e);
                }
                self.import_vars.push(own);
                let loaded = self.load_plays_into(&target, plays);
                self.import_vars.pop();
                loaded?;
                // vars, tags and when of the import apply to every imported play.
                let mut imp_common = Common::default();
                for (k, v) in entries {
                    let key = key_str(&file, k)?;
                    if matches!(key, "vars" | "tags" | "when") {
                        set_common(&mut imp_common, &file, key, v)?;
                    }
                }
                for p in &mut plays[first..] {
                    for (k, v) in &imp_common.vars {
                        p.common.vars.insert(k.clone(), v.clone());
                    }
                    p.common.tags.extend(imp_common.tags.iter().cloned());
                    p.common.when.extend(imp_common.when.iter().cloned());
                }
                continue;
            }
            plays.push(self.load_play(&file, &dir, pn)?);
        }
        self.stack.pop();
        Ok(())
    }

    fn load_play(&mut self, file: &Arc<str>, dir: &Path, pn: &mut Node) -> Result<Play, LoadError> {
        let scoped = pn.get("module_defaults").is_some();
        self.defaults_scope = usize::from(scoped);
        let play = self.load_play_inner(file, dir, pn);
        self.defaults_scope = 0;
        play
    }

    fn load_play_inner(
        &mut self,
        file: &Arc<str>,
        dir: &Path,
        pn: &mut Node,
    ) -> Result<Play, LoadError> {
        self.seen_roles.clear();
        self.imported_roles.clear();
        self.all_roles.clear();
        self.play_vars = match pn.get("vars") {
            Some(v) if v.as_map().is_some() => node_to_vars(file, Some(v))?,
            _ => IndexMap::new(),
        };
        let mut play = Play {
            name: String::new(),
            hosts: String::new(),
            gather_facts: None,
            gather_subset: None,
            gather_timeout: None,
            fact_path: None,
            common: Common::default(),
            vars_files: Vec::new(),
            pre_tasks: Vec::new(),
            main: Vec::new(),
            post_tasks: Vec::new(),
            handlers: Vec::new(),
            roles: Vec::new(),
            force_handlers: None,
            serial: None,
            loc: loc(file, pn),
            dir: dir.to_path_buf(),
        };
        let mut hosts_seen = false;
        let mut roles_node = None;
        let mut tasks_at = None;
        for (at, (k, v)) in expect_map(file, pn, "a play")?.iter().enumerate() {
            let key = key_str(file, k)?;
            if set_common(&mut play.common, file, key, v)? {
                if key == "when" {
                    return Err(LoadError::at(
                        loc(file, k),
                        "'when' is not a valid attribute for a play",
                    ));
                }
                continue;
            }
            match key {
                "hosts" => {
                    hosts_seen = true;
                    play.hosts = match &v.kind {
                        Kind::Seq(s) => s.iter().map(scalar_string).collect::<Vec<_>>().join(","),
                        _ => scalar_string(v),
                    };
                }
                "name" => play.name = scalar_string(v),
                "gather_facts" => play.gather_facts = Some(v.to_value()),
                "vars_files" => {
                    play.vars_files = match &v.kind {
                        Kind::Seq(s) => s.iter().map(Node::to_value).collect(),
                        Kind::Null => Vec::new(),
                        _ => vec![v.to_value()],
                    };
                    // What the files that are there now say helps template load-time
                    // names (the run reads them again, templated, as Ansible does).
                    for f in &play.vars_files {
                        let Some(name) = f.as_str().filter(|n| !Templar::is_template(n)) else {
                            continue;
                        };
                        let path = dir.join(name);
                        if let Ok(vars) = read_vars_file(&path) {
                            for (k, val) in vars {
                                self.play_vars.entry(k).or_insert(val);
                            }
                        }
                    }
                }
                "pre_tasks" => play.pre_tasks = self.load_items(file, dir, v, None, false)?,
                "tasks" => tasks_at = Some(at),
                "post_tasks" => play.post_tasks = self.load_items(file, dir, v, None, false)?,
                "handlers" => play.handlers = self.load_items(file, dir, v, None, true)?,
                "roles" => roles_node = Some(v),
                "force_handlers" => play.force_handlers = Some(v.to_value().is_true()),
                "gather_subset" => play.gather_subset = Some(v.to_value()),
                "gather_timeout" => play.gather_timeout = Some(v.to_value()),
                "fact_path" => play.fact_path = Some(v.to_value()),
                "serial" => play.serial = Some(v.to_value()),
                "vars_prompt" | "max_fail_percentage" | "strategy" | "order" => {}
                _ => return Err(unknown_keyword(file, k, key, PLAY_KEYWORDS, "play")),
            }
        }
        if !hosts_seen {
            return Err(LoadError::at(
                loc(file, pn),
                "the field 'hosts' is required but was not set",
            ));
        }
        if play.name.is_empty() {
            play.name = play.hosts.clone();
        }
        if let Some(rn) = roles_node {
            for r in expect_list(file, rn, "roles")? {
                if let Some(item) = self.load_role_ref(file, dir, r, &mut play.roles)? {
                    play.main.push(item);
                }
            }
        }
        if let Some(at) = tasks_at {
            // Taken out of the document: each task's nodes are freed once it is loaded,
            // so a long task list is never held twice (as nodes and as tasks).
            let tn = match &mut pn.kind {
                Kind::Map(entries) => entries.get_mut(at).map(|(_, v)| {
                    let pos = v.pos;
                    std::mem::replace(
                        v,
                        Node {
                            pos,
                            kind: Kind::Null,
                        },
                    )
                }),
                _ => None,
            };
            if let Some(tn) = tn {
                play.main
                    .extend(self.load_items_owned(file, dir, tn, None, false)?);
            }
        }
        self.imported_roles.clear();
        // Dependencies and imported roles count as the play's roles too.
        play.roles = std::mem::take(&mut self.all_roles);
        // Role handlers come before the play's own, in role order.
        let mut handlers = Vec::new();
        for r in &play.roles {
            match self
                .handler_parents
                .iter()
                .find(|(i, ..)| Arc::ptr_eq(i, r))
            {
                Some((_, common, at)) => handlers.extend(common.wrap_handlers(&r.handlers, at)),
                None => handlers.extend(r.handlers.iter().cloned()),
            }
        }
        self.handler_parents.clear();
        handlers.append(&mut play.handlers);
        play.handlers = handlers;
        self.play_vars.clear();
        Ok(play)
    }

    /// The roles placed since the last call (at run time: by an include_role, its
    /// dependencies and the roles its tasks import).
    pub fn take_placed_roles(&mut self) -> Vec<Arc<RoleInstance>> {
        std::mem::take(&mut self.all_roles)
    }

    /// A list of tasks and blocks.
    pub fn load_items(
        &mut self,
        file: &Arc<str>,
        dir: &Path,
        n: &Node,
        role: Option<&Arc<RoleInstance>>,
        handlers: bool,
    ) -> Result<Vec<Item>, LoadError> {
        let mut out = Vec::new();
        for tn in expect_list(file, n, "a task list")? {
            out.push(self.load_item(file, dir, tn, role, handlers)?);
        }
        Ok(out)
    }

    /// [`Loader::load_items`] of a list it owns: each item's nodes are dropped once the
    /// item is loaded.
    fn load_items_owned(
        &mut self,
        file: &Arc<str>,
        dir: &Path,
        n: Node,
        role: Option<&Arc<RoleInstance>>,
        handlers: bool,
    ) -> Result<Vec<Item>, LoadError> {
        let Kind::Seq(items) = n.kind else {
            return self.load_items(file, dir, &n, role, handlers);
        };
        let mut out = Vec::with_capacity(items.len());
        for tn in items {
            out.push(self.load_item(file, dir, &tn, role, handlers)?);
        }
        Ok(out)
    }

    fn load_item(
        &mut self,
        file: &Arc<str>,
        dir: &Path,
        tn: &Node,
        role: Option<&Arc<RoleInstance>>,
        handlers: bool,
    ) -> Result<Item, LoadError> {
        let entries = expect_map(file, tn, "a task")?;
        if let Some(b) = tn.get("block") {
            let handlers = handlers || self.handler_include;
            if handlers && self.in_handler_block {
                // Ansible's parser refuses it: a handler list's blocks hold tasks only
                // (a block at the top of the list is as its tasks listed there).
                return Err(LoadError::at(
                    loc(file, b),
                    "Using a block as a handler is not supported.",
                ));
            }
            let scoped = tn.get("module_defaults").is_some();
            self.defaults_scope += usize::from(scoped);
            let outer = std::mem::replace(&mut self.in_handler_block, handlers);
            let block = self.load_block(
                file,
                dir,
                tn,
                entries,
                role,
                handlers && !self.handler_include,
            );
            self.in_handler_block = outer;
            self.defaults_scope -= usize::from(scoped);
            return block;
        }
        for k in ["rescue", "always"] {
            if let Some(v) = tn.get(k) {
                return Err(LoadError::at(
                    loc(file, v),
                    format!("'{k}' is only valid in a block that has a 'block' section"),
                ));
            }
        }
        if handlers || self.handler_include {
            // As Ansible's parser: a role cannot be a handler.
            for (k, _) in entries {
                let key = k.as_str().unwrap_or_default();
                let short = key.rsplit('.').next().unwrap_or(key);
                let qualified = matches!(
                    key.strip_suffix(short),
                    Some("" | "ansible.builtin." | "ansible.legacy.")
                );
                if qualified && matches!(short, "include_role" | "import_role") {
                    return Err(LoadError::at(
                        loc(file, tn),
                        format!("Using '{key}' as a handler is not supported."),
                    ));
                }
            }
        }
        self.load_task(file, dir, tn, entries, role, handlers)
    }

    fn load_block(
        &mut self,
        file: &Arc<str>,
        dir: &Path,
        tn: &Node,
        entries: &[(Node, Node)],
        role: Option<&Arc<RoleInstance>>,
        handlers: bool,
    ) -> Result<Item, LoadError> {
        let mut b = Block {
            common: Common::default(),
            name: None,
            block: Vec::new(),
            rescue: Vec::new(),
            always: Vec::new(),
            loc: loc(file, tn),
            role: role.cloned(),
            role_root: false,
        };
        // A block's `notify` is inherited by its tasks that have none (static: the tasks
        // loaded with the block).
        let notify = tn.get("notify").map(string_list);
        if let Some(n) = &notify {
            self.block_notify.push(n.clone());
        }
        let bvars = node_to_vars(file, tn.get("vars")).unwrap_or_default();
        self.block_vars.push(bvars);
        let outer_role = std::mem::replace(&mut self.loading_role, role.cloned());
        let loaded = self.load_block_entries(&mut b, file, dir, entries, role, handlers);
        self.loading_role = outer_role;
        self.block_vars.pop();
        if notify.is_some() {
            self.block_notify.pop();
        }
        loaded?;
        Ok(Item::Block(Arc::new(b)))
    }

    fn load_block_entries(
        &mut self,
        b: &mut Block,
        file: &Arc<str>,
        dir: &Path,
        entries: &[(Node, Node)],
        role: Option<&Arc<RoleInstance>>,
        handlers: bool,
    ) -> Result<(), LoadError> {
        for (k, v) in entries {
            let key = key_str(file, k)?;
            if key == "when" {
                for c in v.as_seq().unwrap_or(std::slice::from_ref(v)) {
                    check_template_syntax(file, c, true)?;
                }
            }
            if set_common(&mut b.common, file, key, v)? {
                continue;
            }
            match key {
                "notify" => {}
                "name" => b.name = Some(scalar_string(v)),
                "block" => b.block = self.load_items(file, dir, v, role, handlers)?,
                "rescue" => b.rescue = self.load_items(file, dir, v, role, handlers)?,
                "always" => b.always = self.load_items(file, dir, v, role, handlers)?,
                _ => return Err(unknown_keyword(file, k, key, BLOCK_KEYWORDS, "block")),
            }
        }
        Ok(())
    }

    fn load_task(
        &mut self,
        file: &Arc<str>,
        dir: &Path,
        tn: &Node,
        entries: &[(Node, Node)],
        role: Option<&Arc<RoleInstance>>,
        handlers: bool,
    ) -> Result<Item, LoadError> {
        let mut t = Task::new(loc(file, tn), role.cloned());
        let mut action: Option<(&Node, &Node, String)> = None;
        let mut extra_args: Option<&Node> = None;
        for (k, v) in entries {
            let key = key_str(file, k)?;
            if matches!(key, "when" | "changed_when" | "failed_when" | "until") {
                for c in v.as_seq().unwrap_or(std::slice::from_ref(v)) {
                    check_template_syntax(file, c, true)?;
                }
            }
            if set_common(&mut t.common, file, key, v)? {
                continue;
            }
            match key {
                "name" => t.name = Some(scalar_string(v)),
                "register" => {
                    let name = scalar_string(v);
                    if !valid_var_name(&name) {
                        return Err(LoadError::at(
                            loc(file, v),
                            format!(
                                "Invalid 'register' specified: Invalid variable name '{name}'."
                            ),
                        ));
                    }
                    t.register = Some(name)
                }
                "notify" => t.notify = string_list(v).into_iter().collect(),
                "listen" => t.listen = string_list(v),
                "loop" => t.loop_ = Some(Loop::Items(v.to_value())),
                "loop_control" => {
                    check_loop_control(file, v)?;
                    t.loop_control = Some(v.to_value());
                }
                "changed_when" | "failed_when" | "until" => {
                    let value = v.to_value();
                    super::condlocs::record(file, v, &value);
                    let slot = match key {
                        "changed_when" => &mut t.changed_when,
                        "failed_when" => &mut t.failed_when,
                        _ => &mut t.until,
                    };
                    *slot = Some(value);
                }
                "retries" => t.retries = Some(v.to_value()),
                "delay" => t.delay = Some(v.to_value()),
                "args" => extra_args = Some(v),
                "async" => t.async_ = Some(v.to_value()),
                "poll" => t.poll = Some(v.to_value()),
                "action" | "local_action" => {
                    let (name, rest) = match &v.kind {
                        Kind::Str(s) => {
                            let s = s.trim();
                            // A templated module name (`action: "{{ pkg_mgr }} name=x"`)
                            // is resolved when the task runs.
                            let (n, r) = match s.strip_prefix("{{").and_then(|r| r.find("}}")) {
                                Some(end) => {
                                    let (n, r) = s.split_at(end + 4);
                                    (n, r.trim_start())
                                }
                                None => s.split_once(char::is_whitespace).unwrap_or((s, "")),
                            };
                            (n.to_string(), Some(r.to_string()))
                        }
                        Kind::Map(_) => {
                            let m = v.get("module").and_then(Node::as_str).ok_or_else(|| {
                                LoadError::at(
                                    loc(file, v),
                                    "action given as a dictionary needs a 'module' key",
                                )
                            })?;
                            (m.to_string(), None)
                        }
                        _ => {
                            return Err(LoadError::at(
                                loc(file, v),
                                "action must be a string or a dictionary",
                            ));
                        }
                    };
                    if action.is_some() {
                        return Err(LoadError::at(
                            loc(file, k),
                            "conflicting action statements: a task can run only one module",
                        ));
                    }
                    if key == "local_action" {
                        t.common.delegate_to = Some(Value::from("localhost"));
                    }
                    match rest {
                        Some(r) => {
                            t.args = if action_free_form(&name) {
                                parse_kv(&r, true).map_err(|e| LoadError::at(loc(file, v), e))?
                            } else {
                                let (args, bad) = parse_kv_deferred(&r)
                                    .map_err(|e| LoadError::at(loc(file, v), e))?;
                                t.bad_args = bad
                                    .filter(|_| !takes_stray_words(&name))
                                    .map(|e| (loc(file, v), e));
                                args
                            };
                        }
                        None => {
                            for (ak, av) in v.as_map().unwrap_or(&[]) {
                                let an = key_str(file, ak)?;
                                if an != "module" {
                                    t.args.insert(an.to_string(), av.to_value());
                                }
                            }
                        }
                    }
                    if !is_action_name(&name) && !Templar::is_template(&name) {
                        let own = name.strip_prefix("ansible.legacy.").unwrap_or(&name);
                        t.module_path = agent_modules::library::find(&self.library_dirs, own);
                    }
                    action = Some((k, v, name));
                }
                _ if key.starts_with("with_") => {
                    let lookup = &key[5..];
                    if !crate::engine::loops::lookup_exists(lookup) {
                        return Err(LoadError::at(
                            loc(file, k),
                            format!(
                                "unknown loop lookup '{key}': no lookup plugin named '{lookup}'"
                            ),
                        ));
                    }
                    if t.loop_.is_some() {
                        return Err(LoadError::at(
                            loc(file, k),
                            "a task can have only one loop (loop or with_*)",
                        ));
                    }
                    t.loop_ = Some(Loop::Lookup {
                        name: lookup.to_string(),
                        terms: v.to_value(),
                    });
                }
                _ => {
                    if action.is_some() {
                        if is_action_name(key) {
                            return Err(LoadError::at(
                                loc(file, k),
                                format!(
                                    "conflicting action statements: '{}' and '{key}': a task can run only one module",
                                    action.as_ref().map(|a| a.2.as_str()).unwrap_or_default()
                                ),
                            ));
                        }
                        return Err(unknown_action_or_keyword(file, k, key));
                    }
                    // An action plugin that re-exports a built-in runs as the built-in.
                    let alias;
                    let key = if is_action_name(key) {
                        key
                    } else {
                        // A module of the user's own, in a `library/` directory.
                        let own = key.strip_prefix("ansible.legacy.").unwrap_or(key);
                        match agent_modules::library::find(&self.library_dirs, own) {
                            Some(p) => {
                                t.module_path = Some(p);
                                key
                            }
                            None => {
                                match super::action_plugins::find(&self.action_plugin_dirs, own) {
                                    Some(ActionPlugin::Alias(builtin))
                                        if is_action_name(&builtin) =>
                                    {
                                        t.written_action = Some(key.to_string());
                                        alias = builtin;
                                        alias.as_str()
                                    }
                                    Some(ActionPlugin::Python(path)) => {
                                        return Err(python_action_plugin(file, k, key, &path));
                                    }
                                    _ => return Err(unknown_action_or_keyword(file, k, key)),
                                }
                            }
                        }
                    };
                    let free = action_free_form(key);
                    t.args = match &v.kind {
                        Kind::Map(m) => {
                            let mut args = IndexMap::new();
                            for (ak, av) in m {
                                let an = key_str(file, ak)?.to_string();
                                t.arg_locs.insert(&an, loc(file, av));
                                let value = av.to_value();
                                if an == "that" && short_name(key) == "assert" {
                                    super::condlocs::record(file, av, &value);
                                }
                                args.insert(an, value);
                            }
                            args
                        }
                        Kind::Null => IndexMap::new(),
                        // `assert: "{{ item }}"`: the whole argument dict comes from a template.
                        Kind::Str(s) if !free && is_single_template(s) => {
                            let mut a = IndexMap::new();
                            a.insert(ARGS_SPLAT.to_string(), Value::from(s.as_str()));
                            a
                        }
                        // `include_tasks: file=x.yml`: Ansible parses an include's string as
                        // k=v arguments (a bare file name is its free-form argument).
                        Kind::Str(s)
                            if matches!(short_name(key), "include_tasks" | "import_tasks")
                                && parse_kv(s, false).is_ok_and(|a| a.contains_key("file")) =>
                        {
                            parse_kv(s, false).map_err(|e| LoadError::at(loc(file, v), e))?
                        }
                        Kind::Str(s) if free => {
                            parse_kv(s, true).map_err(|e| LoadError::at(loc(file, v), e))?
                        }
                        Kind::Str(s) => {
                            let (args, bad) =
                                parse_kv_deferred(s).map_err(|e| LoadError::at(loc(file, v), e))?;
                            t.bad_args = bad
                                .filter(|_| !takes_stray_words(key))
                                .map(|e| (loc(file, v), e));
                            args
                        }
                        _ if free => {
                            let mut a = IndexMap::new();
                            a.insert("_raw_params".to_string(), Value::from(scalar_string(v)));
                            a
                        }
                        _ => {
                            return Err(LoadError::at(
                                loc(file, v),
                                format!(
                                    "the arguments of '{key}' must be a dictionary or a k=v string, not a {}",
                                    v.type_name()
                                ),
                            ));
                        }
                    };
                    action = Some((k, v, key.to_string()));
                }
            }
        }
        // Includes and imports are the engine's own: their stray words stay an error now.
        if let (Some((_, _, name)), Some((at, msg))) = (&action, &t.bad_args)
            && matches!(
                short_name(name),
                "include_tasks"
                    | "import_tasks"
                    | "include_role"
                    | "import_role"
                    | "import_playbook"
            )
        {
            return Err(LoadError::at(at.clone(), msg.clone()));
        }
        // Only Ansible's internal arguments start with `_ansible_` (mod_args.py); the
        // free-form modules (`command`, `shell`, `script`, `raw`) are exempt there too.
        // (Those given through `args:` fail when the task runs: unsupported parameters.)
        if let Some((_, av_node, name)) = &action
            && !matches!(short_name(name), "command" | "shell" | "script" | "raw")
            && let Some(bad) = t.args.keys().find(|k| k.starts_with("_ansible_"))
        {
            return Err(LoadError::at(
                t.arg_locs.get(bad).unwrap_or_else(|| loc(file, av_node)),
                format!(
                    "Invalid parameter specified beginning with keyword '_ansible_' for action \
                     '{name}': '{bad}'. The prefix '_ansible_' is reserved for internal use only."
                ),
            ));
        }
        if let Some(extra) = extra_args {
            for (ak, av) in expect_map(file, extra, "args")? {
                t.args
                    .entry(key_str(file, ak)?.to_string())
                    .or_insert_with(|| av.to_value());
            }
        }
        let Some((ak, av_node, name)) = action else {
            return Err(LoadError::at(
                loc(file, tn),
                "no module/action detected in task: a task needs a module (e.g. 'copy:', 'command:') or a block",
            ));
        };
        t.short = short_name(&name).to_string();
        t.action = name;
        t.action_loc = Some(loc(file, ak));
        // k=v strings: every argument points at the string.
        for k in t.args.keys() {
            t.arg_locs.insert_if_absent(k, || loc(file, av_node));
        }
        // (A handler without a name or `listen` loads, as in Ansible: nothing can notify it.)
        // `meta: end_role` needs a role to end (ansible-core's load_list_of_tasks).
        if t.short == "meta"
            && t.args
                .get("_raw_params")
                .is_some_and(|v| v.as_str().map(str::trim) == Some("end_role"))
        {
            if handlers {
                return Err(LoadError::at(
                    loc(file, tn),
                    "Cannot execute 'end_role' from a handler",
                ));
            }
            if role.is_none() {
                return Err(LoadError::at(
                    loc(file, tn),
                    "Cannot execute 'end_role' from outside of a role",
                ));
            }
        }
        // The keywords a dynamic include takes (ansible-core's VALID_INCLUDE_KEYWORDS, and
        // `listen` in handlers): any other is refused while loading, as in Ansible.
        if matches!(t.short.as_str(), "include_tasks" | "include_role") {
            const VALID: &[&str] = &[
                "action",
                "local_action",
                "args",
                "collections",
                "debugger",
                "ignore_errors",
                "loop",
                "loop_control",
                "name",
                "no_log",
                "register",
                "run_once",
                "tags",
                "timeout",
                "vars",
                "when",
            ];
            for (k, _) in entries {
                let key = key_str(file, k)?;
                let ok = key == t.action.as_str()
                    || key_str(file, ak)? == key
                    || VALID.contains(&key)
                    || key.starts_with("with_")
                    || (handlers && key == "listen");
                if !ok {
                    let class = if t.short == "include_role" {
                        "IncludeRole"
                    } else if handlers {
                        "HandlerTaskInclude"
                    } else {
                        "TaskInclude"
                    };
                    return Err(LoadError::at(
                        loc(file, tn),
                        format!("'{key}' is not a valid attribute for a {class}"),
                    ));
                }
            }
        }
        // The options of includes and imports, as ansible-core's TaskInclude.check_options
        // and IncludeRole.load check them while loading.
        let valid: &[&str] = match t.short.as_str() {
            "include_tasks" | "import_tasks" => &["file", "_raw_params", "apply"],
            "include_role" | "import_role" => &[
                "name",
                "role",
                "tasks_from",
                "vars_from",
                "defaults_from",
                "handlers_from",
                "apply",
                "public",
                "allow_duplicates",
                "rolespec_validate",
                "rescuable",
            ],
            _ => &[],
        };
        if !valid.is_empty() {
            let invalid = |what: String| {
                LoadError::at(
                    t.action_loc.clone().unwrap_or_else(|| t.loc.clone()),
                    format!("Invalid options for {}: {what}", t.action),
                )
            };
            let bad: Vec<&str> = t
                .args
                .keys()
                .map(String::as_str)
                .filter(|k| !valid.contains(k))
                .collect();
            if !bad.is_empty() {
                return Err(invalid(bad.join(",")));
            }
            let set = |k: &str| t.args.get(k).is_some_and(|v| v.is_true());
            if t.short.ends_with("_role")
                && !t.args.contains_key("name")
                && !t.args.contains_key("role")
            {
                return Err(LoadError::at(
                    t.loc.clone(),
                    format!("'name' is a required field for {}.", t.action),
                ));
            }
            if t.short.ends_with("_tasks") && !set("file") && !set("_raw_params") {
                return Err(LoadError::at(
                    t.loc.clone(),
                    format!("No file specified for {}", t.action),
                ));
            }
            if t.short.starts_with("import_") {
                if set("apply") {
                    return Err(invalid("apply".into()));
                }
                if t.short == "import_role" && set("rescuable") {
                    return Err(invalid("rescuable".into()));
                }
            }
        }
        // A role's `*_from` files are named by strings (ansible-core's IncludeRole.load).
        if matches!(t.short.as_str(), "include_role" | "import_role") {
            for key in ["tasks_from", "vars_from", "defaults_from", "handlers_from"] {
                let Some(v) = t.args.get(key) else { continue };
                if v.as_str().is_none() {
                    let at = t.arg_locs.get(key).unwrap_or_else(|| t.loc.clone());
                    return Err(LoadError::at(
                        at,
                        format!(
                            "Expected a string for {key} but got <class '{}'> instead",
                            py_type_name(v)
                        ),
                    ));
                }
            }
        }
        // Static imports are expanded now.
        match t.short.as_str() {
            "import_tasks" => return self.expand_import_tasks(file, dir, &t, ak, role, handlers),
            "import_role" => return self.expand_import_role(file, dir, &t, ak),
            _ => {}
        }
        // A task whose errors are ignored is checked when it runs, as in Ansible, so that
        // its failure (a bad argument, a template error) can be registered and tested.
        // So is one that module_defaults may give arguments to.
        let defaults_apply = self.defaults_scope > 0
            || !t.common.module_defaults.is_empty()
            || Templar::is_template(&t.action);
        if !ignores_errors(&t) {
            // (a module of the user's own declares its arguments only when it runs)
            if !defaults_apply && t.module_path.is_none() {
                validate_args(file, ak, &t)?;
            }
            check_arg_templates(&self.templar, file, &t)?;
        }
        for n in ["include_tasks", "include"] {
            if t.short == n {
                // Dynamic includes with a static file name must name a file that is there.
                if let Some(f) = include_file_arg(&t.args).filter(|f| !Templar::is_template(f)) {
                    let path = resolve_tasks_file(dir, role, &f, self.basedir.as_deref());
                    // A conditional (or looped) include may name a file that is not
                    // there: as in Ansible, it fails only if it runs.
                    if !path.is_file() && t.common.when.is_empty() && t.loop_.is_none() {
                        return Err(LoadError::at(
                            loc(file, ak),
                            format!(
                                "could not find or access '{f}' (looked for {})",
                                path.display()
                            ),
                        ));
                    }
                }
            }
        }
        if t.notify.is_empty()
            && let Some(n) = self.block_notify.last()
        {
            t.notify = n.clone();
        }
        Ok(Item::Task(Arc::new(t)))
    }

    /// An import of `target` (at `at` in `file`) that would import a file being loaded:
    /// the cycle, named at the import.
    fn cycle_at(&self, file: &Arc<str>, at: &Node, target: &Path, what: &str) -> Option<LoadError> {
        let canon = target.canonicalize().ok()?;
        let i = self.stack.iter().position(|p| *p == canon)?;
        let chain: Vec<String> = self.stack[i..]
            .iter()
            .chain(std::iter::once(&canon))
            .map(|p| p.display().to_string())
            .collect();
        Some(LoadError::at(
            loc(file, at),
            format!(
                "{what} cycle: {} imports itself (through {})",
                target.display(),
                chain.join(" -> ")
            ),
        ))
    }

    /// Load a tasks file into items (used by imports and, at run time, by includes).
    pub fn load_tasks_file(
        &mut self,
        path: &Path,
        role: Option<&Arc<RoleInstance>>,
        handlers: bool,
    ) -> Result<Vec<Item>, LoadError> {
        let outer = std::mem::replace(&mut self.loading_role, role.cloned());
        let r = self.load_tasks_file_of_role(path, role, handlers);
        self.loading_role = outer;
        r
    }

    fn load_tasks_file_of_role(
        &mut self,
        path: &Path,
        role: Option<&Arc<RoleInstance>>,
        handlers: bool,
    ) -> Result<Vec<Item>, LoadError> {
        let canon = path.canonicalize().map_err(|e| LoadError::io(path, e))?;
        if self.stack.contains(&canon) {
            return Err(LoadError::Other(format!(
                "{}: import cycle: this file imports itself (through {})",
                path.display(),
                self.stack
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            )));
        }
        let f = read_yaml(path)?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let Some(root) = f.root else {
            return Ok(Vec::new());
        };
        self.stack.push(canon);
        let r = self.load_items(&f.name, &dir, &root, role, handlers);
        self.stack.pop();
        r
    }

    fn expand_import_tasks(
        &mut self,
        file: &Arc<str>,
        dir: &Path,
        t: &Task,
        at: &Node,
        role: Option<&Arc<RoleInstance>>,
        handlers: bool,
    ) -> Result<Item, LoadError> {
        let f = include_file_arg(&t.args)
            .ok_or_else(|| LoadError::at(loc(file, at), "import_tasks needs a file name"))?;
        // A templated name is rendered now, with what is known while the playbook loads
        // (extra vars, the task's and the play's vars, as Ansible).
        let outer_role = std::mem::replace(&mut self.loading_role, role.cloned());
        let f = self.load_time_name(file, at, &f, t.common.vars.clone(), "import_tasks");
        self.loading_role = outer_role;
        let f = f?;
        if t.loop_.is_some() {
            return Err(LoadError::at(
                loc(file, at),
                "you cannot use loops on 'import_tasks' statements; use 'include_tasks' instead",
            ));
        }
        let path = resolve_tasks_file(dir, role, &f, self.basedir.as_deref());
        if !path.is_file() {
            return Err(LoadError::at(
                loc(file, at),
                format!(
                    "could not find or access '{f}' (looked for {})",
                    path.display()
                ),
            ));
        }
        if let Some(e) = self.cycle_at(file, at, &path, "import_tasks") {
            return Err(e);
        }
        // What the imported file's own imports are templated with: this import's vars.
        self.block_vars.push(t.common.vars.clone());
        let items = self.load_tasks_file(&path, role, handlers);
        self.block_vars.pop();
        Ok(Block::wrap(
            t.common.clone(),
            t.name.clone(),
            items?,
            t.loc.clone(),
            role.cloned(),
        ))
    }

    fn expand_import_role(
        &mut self,
        file: &Arc<str>,
        dir: &Path,
        t: &Task,
        at: &Node,
    ) -> Result<Item, LoadError> {
        let name = t
            .args
            .get("name")
            .or_else(|| t.args.get("role"))
            .and_then(|v| v.as_str())
            .ok_or_else(|| LoadError::at(loc(file, at), "import_role needs 'name'"))?
            .to_string();
        let name = self.load_time_name(file, at, &name, t.common.vars.clone(), "role")?;
        // Its templated options are known while the playbook loads too.
        let mut args = t.args.clone();
        for key in [
            "allow_duplicates",
            "public",
            "rolespec_validate",
            "tasks_from",
            "vars_from",
            "defaults_from",
            "handlers_from",
        ] {
            if let Some(raw) = args.get(key).and_then(|v| v.as_str()).map(str::to_string)
                && Templar::is_template(&raw)
            {
                let v = self.load_time_name(file, at, &raw, t.common.vars.clone(), key)?;
                args.insert(key.to_string(), Value::from(v));
            }
        }
        let opts = RoleOpts::from_args(&args).with_vars(&t.common.vars);
        let loc_ = loc(file, at);
        // import_role runs the role again even when the play already has it. Inside a
        // role, the imported one sees that role's parameters (its dependency chain).
        let inherited = Inherited::from_role(t.role.as_deref());
        self.block_vars.push(t.common.vars.clone());
        let placed = self.with_parent(inherited, |l| {
            l.instantiate_role(&loc_, dir, &name, IndexMap::new(), &opts, true)
        });
        self.block_vars.pop();
        let (role, items) = placed?;
        let items = match role {
            Some(inst) => {
                self.imported_roles.push(inst.clone());
                self.handler_parents
                    .push((inst.clone(), t.common.clone(), t.loc.clone()));
                vec![Block::role(Common::default(), items, loc_, inst)]
            }
            None => items,
        };
        Ok(Block::wrap(
            t.common.clone(),
            t.name.clone(),
            items,
            t.loc.clone(),
            None,
        ))
    }

    /// One entry of a play's `roles:` list.
    fn load_role_ref(
        &mut self,
        file: &Arc<str>,
        dir: &Path,
        r: &Node,
        play_roles: &mut Vec<Arc<RoleInstance>>,
    ) -> Result<Option<Item>, LoadError> {
        let (name, common, params) = parse_role_entry(file, r, "a role entry")?;
        let name = self.load_time_name(file, r, &name, params.clone(), "role")?;
        let l = loc(file, r);
        let opts = RoleOpts::entry(&common);
        let (inst, items) = self.instantiate_role(&l, dir, &name, params, &opts, false)?;
        let Some(inst) = inst else { return Ok(None) };
        if !self.placed_again(&inst) {
            play_roles.push(inst.clone());
        }
        Ok(Some(Block::role(common, items, l, inst)))
    }

    /// Find a role directory by name.
    pub fn find_role(&self, dir: &Path, name: &str) -> Option<PathBuf> {
        let mut candidates = vec![dir.join("roles").join(name)];
        candidates.extend(self.roles_path.iter().map(|p| p.join(name)));
        candidates.push(dir.join(name));
        // From a task file inside a role, the playbook's directory still counts (Ansible
        // searches from the loader's basedir, the playbook's).
        if let Some(base) = self.basedir.as_deref().filter(|b| *b != dir) {
            candidates.push(base.join("roles").join(name));
            candidates.push(base.join(name));
        }
        if Path::new(name).is_absolute() {
            candidates.insert(0, PathBuf::from(name));
        }
        // A collection's role, `namespace.collection.role`: under `ansible_collections`
        // of the playbook's `collections/` and of Ansible's collection paths.
        let parts: Vec<&str> = name.splitn(3, '.').collect();
        if let [ns, col, role] = parts[..]
            && !name.contains('/')
        {
            let mut roots: Vec<PathBuf> = Vec::new();
            roots.extend(self.basedir.iter().map(|b| b.join("collections")));
            roots.push(dir.join("collections"));
            let env = std::env::var("ANSIBLE_COLLECTIONS_PATH")
                .or_else(|_| std::env::var("ANSIBLE_COLLECTIONS_PATHS"));
            match env {
                Ok(paths) => roots.extend(paths.split(':').map(PathBuf::from)),
                Err(_) => {
                    if let Some(home) = std::env::var_os("HOME") {
                        roots.push(PathBuf::from(home).join(".ansible/collections"));
                    }
                    roots.push(PathBuf::from("/usr/share/ansible/collections"));
                }
            }
            candidates.extend(roots.iter().map(|r| {
                r.join("ansible_collections")
                    .join(ns)
                    .join(col)
                    .join("roles")
                    .join(role)
            }));
        }
        candidates.into_iter().find(|p| {
            p.join("tasks").is_dir()
                || p.join("meta").is_dir()
                || p.join("handlers").is_dir()
                || p.join("defaults").is_dir()
                || p.join("vars").is_dir()
        })
    }

    /// The items of a role's dependencies (`meta/main.yml`), each wrapped in a block of
    /// its own; `dir` is where the role was looked up, `path` the role's directory.
    fn load_dependencies(
        &mut self,
        deps: &[(Arc<str>, Node)],
        dir: &Path,
        path: &Path,
    ) -> Result<Vec<Item>, LoadError> {
        let mut items = Vec::new();
        for (dfile, dn) in deps {
            let (dname, dcommon, dparams) = parse_role_entry(dfile, dn, "a dependency")?;
            let dl = loc(dfile, dn);
            let base = if self.find_role(dir, &dname).is_some() {
                dir.to_path_buf()
            } else {
                path.to_path_buf()
            };
            let opts = RoleOpts::entry(&dcommon);
            let (dinst, ditems) =
                self.instantiate_role(&dl, &base, &dname, dparams, &opts, false)?;
            if let Some(dinst) = dinst {
                items.push(Block::role(dcommon, ditems, dl, dinst));
            }
        }
        Ok(items)
    }

    /// Run `f` with what the roles it places inherit: an import_role or include_role
    /// inside a role (and a role's dependencies).
    pub fn with_parent<T>(&mut self, parent: Inherited, f: impl FnOnce(&mut Loader) -> T) -> T {
        let outer = std::mem::replace(&mut self.parent, parent);
        let out = f(self);
        self.parent = outer;
        out
    }

    /// Whether an equal role was placed before in this play (its handlers and play-level
    /// vars are there already).
    fn placed_again(&self, inst: &RoleInstance) -> bool {
        !inst.allow_duplicates && !inst.first_placement
    }

    /// Load a role (with its dependencies first) into a role instance and its items.
    /// Every placement is loaded; deduplication happens when the play runs
    /// ([`RoleInstance::dedup_key`]). `from_include`: placed by import_role or
    /// include_role (their own `allow_duplicates`, default true, decides; the role's
    /// dependencies follow their meta as usual).
    pub fn instantiate_role(
        &mut self,
        at: &Loc,
        dir: &Path,
        name: &str,
        params: IndexMap<String, Value>,
        opts: &RoleOpts,
        from_include: bool,
    ) -> Result<(Option<Arc<RoleInstance>>, Vec<Item>), LoadError> {
        // A role that fails to load leaves nothing on the cycle-detection stack: an
        // include_role that failed (ignored or rescued) can be included again.
        let depth = self.stack.len();
        let r = self.instantiate_role_inner(at, dir, name, params, opts, from_include);
        self.stack.truncate(depth);
        r
    }

    fn instantiate_role_inner(
        &mut self,
        at: &Loc,
        dir: &Path,
        name: &str,
        params: IndexMap<String, Value>,
        opts: &RoleOpts,
        from_include: bool,
    ) -> Result<(Option<Arc<RoleInstance>>, Vec<Item>), LoadError> {
        let path = self.find_role(dir, name).ok_or_else(|| {
            let mut searched = vec![dir.join("roles").display().to_string()];
            searched.extend(self.roles_path.iter().map(|p| p.display().to_string()));
            searched.push(dir.display().to_string());
            LoadError::at(
                at.clone(),
                format!("the role '{name}' was not found in {}", searched.join(":")),
            )
        })?;
        let canon = path.canonicalize().map_err(|e| LoadError::io(&path, e))?;
        if self.stack.iter().any(|p| p == &canon) {
            return Err(LoadError::at(
                at.clone(),
                format!("role dependency cycle: '{name}' depends on itself"),
            ));
        }
        // meta/main.yml
        let mut deps = Vec::new();
        let mut allow_duplicates = false;
        for mp in find_main(&path.join("meta"), "main") {
            let f = read_yaml(&mp)?;
            if let Some(root) = &f.root {
                if let Some(ad) = root.get("allow_duplicates") {
                    allow_duplicates = ad.to_value().is_true();
                }
                if let Some(d) = root.get("dependencies") {
                    for dn in expect_list(&f.name, d, "dependencies")? {
                        deps.push((f.name.clone(), dn.clone()));
                    }
                }
            }
        }
        // Ansible's Role.__eq__: path, own parameters, *_from files, the entry's
        // conditions and tags, and whether an include placed it.
        let key = format!(
            "{}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{}",
            canon.display(),
            {
                // Python dicts compare without regard to order.
                let mut p: Vec<_> = params.iter().map(|(k, v)| (k, v.to_string())).collect();
                p.sort();
                p
            },
            opts.tasks_from,
            opts.vars_from,
            opts.defaults_from,
            opts.handlers_from,
            from_include,
            opts.entry,
        );
        let allow_duplicates = if from_include {
            opts.allow_duplicates.unwrap_or(true)
        } else {
            allow_duplicates
        };
        let first_placement = self.seen_roles.insert(key.clone());
        let dedup_key: Arc<str> = key.into();
        let role_name_for = Path::new(name)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(name);
        let files = |sub: &str, from: &Option<String>| {
            role_files(at, &path, role_name_for, sub, from.as_deref())
        };
        let defaults_files = files("defaults", &opts.defaults_from)?;
        let vars_files = files("vars", &opts.vars_from)?;
        let handler_files = files("handlers", &opts.handlers_from)?;
        let task_files = files("tasks", &opts.tasks_from)?;
        let mut defaults = IndexMap::new();
        for p in defaults_files {
            defaults.extend(read_vars_file(&p)?);
        }
        let mut vars = IndexMap::new();
        for p in vars_files {
            vars.extend(read_vars_file(&p)?);
        }
        let role_name = Path::new(name)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(name)
            .to_string();
        let lib = path.join("library");
        if lib.is_dir() && !self.library_dirs.contains(&lib) {
            self.library_dirs.push(lib);
        }
        if let Some(d) = super::action_plugins::dir_in(&path)
            && !self.action_plugin_dirs.contains(&d)
        {
            self.action_plugin_dirs.push(d);
        }
        self.stack.push(canon);
        // Parents' parameters, vars and defaults, then the role's own (deduplication
        // above used its own).
        let params = under(&self.parent.params, params);
        let vars = under(&self.parent.vars, vars);
        let defaults = under(&self.parent.defaults, defaults);
        // Dependencies first, inheriting all of these.
        let inherited = Inherited {
            params: params.clone(),
            vars: vars.clone(),
            defaults: defaults.clone(),
        };
        let loaded = self.with_parent(inherited, |l| l.load_dependencies(&deps, dir, &path));
        let mut items = loaded?;
        let mut inst = RoleInstance {
            name: role_name,
            path: path.clone(),
            defaults,
            vars,
            params,
            handlers: Vec::new(),
            public: opts.public(),
            dedup_key,
            allow_duplicates,
            first_placement,
        };
        // Handlers and tasks refer to the instance; build it in two steps.
        let placeholder = Arc::new(inst.clone());
        let mut handlers = Vec::new();
        for hp in handler_files {
            handlers.extend(self.load_tasks_file(&hp, Some(&placeholder), true)?);
        }
        inst.handlers = handlers;
        let inst = Arc::new(inst);
        if !self.placed_again(&inst) {
            self.all_roles.push(inst.clone());
        }
        let tasks_from = opts.tasks_from.as_deref().unwrap_or("main");
        // (The wrapper, `instantiate_role`, takes this role off the cycle stack.)
        if task_files.is_empty() && opts.tasks_from.is_some() {
            return Err(LoadError::at(
                at.clone(),
                format!(
                    "could not find tasks_from '{tasks_from}' in role '{name}' ({})",
                    path.join("tasks").display()
                ),
            ));
        }
        for tp in task_files {
            items.extend(self.load_tasks_file(&tp, Some(&inst), false)?);
        }
        Ok((Some(inst), items))
    }
}

/// The files of a role's `sub` directory (`tasks`, `vars`, …) for `main` or the
/// `*_from` name given: a name that leads outside that directory is an error, as in
/// Ansible (`tasks_from: ../../x.yml`, an absolute path).
fn role_files(
    at: &Loc,
    role_path: &Path,
    role_name: &str,
    sub: &str,
    from: Option<&str>,
) -> Result<Vec<PathBuf>, LoadError> {
    let dir = role_path.join(sub);
    let found = find_main(&dir, from.unwrap_or("main"));
    let base = lexical_abs(&dir);
    for f in &found {
        if !lexical_abs(f).starts_with(&base) {
            return Err(LoadError::at(
                at.clone(),
                format!(
                    "Failed loading '{}' for role ({role_name}) as it is not inside the expected role path: '{}'",
                    f.display(),
                    dir.display()
                ),
            ));
        }
    }
    Ok(found)
}

/// `path` made absolute with `.` and `..` resolved by name (Python's `abspath`).
fn lexical_abs(path: &Path) -> PathBuf {
    use std::path::Component;
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// What a role inherits from the roles above it in its dependency chain (Ansible's
/// `get_role_params`, `get_inherited_vars` and `get_default_vars` with a `dep_chain`):
/// each level's own values over its parents'.
#[derive(Debug, Clone, Default)]
pub struct Inherited {
    pub params: IndexMap<String, Value>,
    pub vars: IndexMap<String, Value>,
    pub defaults: IndexMap<String, Value>,
}

impl Inherited {
    /// What a role placed inside `role` (by import_role or include_role) inherits.
    pub fn from_role(role: Option<&RoleInstance>) -> Inherited {
        role.map(|r| Inherited {
            params: r.params.clone(),
            vars: r.vars.clone(),
            defaults: r.defaults.clone(),
        })
        .unwrap_or_default()
    }
}

/// A `roles:` entry or a role dependency: a name, or a map with `role` (or `name`), the
/// keywords blocks have, and anything else as a role parameter (Ansible's old style;
/// `vars:` are parameters too). `what` names the entry in errors.
fn parse_role_entry(
    file: &Arc<str>,
    r: &Node,
    what: &str,
) -> Result<(String, Common, IndexMap<String, Value>), LoadError> {
    let mut common = Common::default();
    let mut params = IndexMap::new();
    let name = match &r.kind {
        Kind::Str(s) => s.clone(),
        Kind::Map(entries) => {
            let mut name = None;
            for (k, v) in entries {
                let key = key_str(file, k)?;
                if key == "role" || key == "name" {
                    name = Some(scalar_string(v));
                } else if !set_common(&mut common, file, key, v)? {
                    params.insert(key.to_string(), v.to_value());
                }
            }
            name.ok_or_else(|| {
                LoadError::at(loc(file, r), format!("{what} needs 'role' (or 'name')"))
            })?
        }
        _ => {
            return Err(LoadError::at(
                loc(file, r),
                format!("{what} must be a name or a dictionary with 'role'"),
            ));
        }
    };
    params.extend(std::mem::take(&mut common.vars));
    Ok((name, common, params))
}

/// `own` over `inherited`.
fn under(
    inherited: &IndexMap<String, Value>,
    own: IndexMap<String, Value>,
) -> IndexMap<String, Value> {
    if inherited.is_empty() {
        return own;
    }
    let mut merged = inherited.clone();
    merged.extend(own);
    merged
}

/// `tasks_from` and friends, for import_role / include_role.
#[derive(Debug, Clone, Default)]
pub struct RoleOpts {
    pub tasks_from: Option<String>,
    pub vars_from: Option<String>,
    pub defaults_from: Option<String>,
    pub handlers_from: Option<String>,
    /// `public:` as given (unset: see `RoleOpts::public`).
    pub public: Option<bool>,
    /// Placed when the play runs (include_role), not when it loads.
    pub dynamic: bool,
    /// import_role / include_role's `allow_duplicates` (unset: true).
    pub allow_duplicates: Option<bool>,
    /// The placing entry's conditions and tags, part of the role's identity.
    pub entry: String,
}

impl RoleOpts {
    pub fn from_args(args: &IndexMap<String, Value>) -> RoleOpts {
        let s = |k: &str| {
            args.get(k).and_then(|v| v.as_str()).map(|s| {
                s.trim_end_matches(".yml")
                    .trim_end_matches(".yaml")
                    .to_string()
            })
        };
        RoleOpts {
            tasks_from: s("tasks_from"),
            vars_from: s("vars_from"),
            defaults_from: s("defaults_from"),
            handlers_from: s("handlers_from"),
            public: args
                .get("public")
                .map(|v| agent_modules::spec::to_bool(v).unwrap_or_else(|| v.is_true())),
            dynamic: false,
            allow_duplicates: args
                .get("allow_duplicates")
                .map(|v| agent_modules::spec::to_bool(v).unwrap_or_else(|| v.is_true())),
            entry: String::new(),
        }
    }

    /// Whether the role's vars and defaults are the play's (ansible-core's `Role.public`):
    /// `public:` as given; else, when `ANSIBLE_PRIVATE_ROLE_VARS` is set, its opposite;
    /// else imports and `roles:` are public and includes are not.
    pub fn public(&self) -> bool {
        match self.public {
            Some(p) => p,
            None => match std::env::var("ANSIBLE_PRIVATE_ROLE_VARS") {
                Ok(v) => !crate::cli::ansible_boolean(&v).unwrap_or(false),
                Err(_) => !self.dynamic,
            },
        }
    }

    /// An import_role or include_role with its task's `vars` (they become the role's
    /// vars, part of its identity).
    pub fn with_vars(mut self, vars: &IndexMap<String, Value>) -> RoleOpts {
        self.entry = format!("{vars:?}");
        self
    }

    /// A `roles:` entry or a dependency, with its `when` and `tags`.
    pub fn entry(common: &Common) -> RoleOpts {
        RoleOpts {
            entry: format!("{:?}|{:?}", common.when, common.tags),
            ..RoleOpts::default()
        }
    }
}

/// The argument key under which a task keeps arguments given as one template.
pub const ARGS_SPLAT: &str = "_agent_args_template";

fn is_single_template(s: &str) -> bool {
    let t = s.trim();
    t.starts_with("{{") && t.ends_with("}}") && t[2..t.len() - 2].find("}}").is_none()
}

/// The short name of an action (`ansible.builtin.copy` → `copy`).
pub fn short_name(name: &str) -> &str {
    name.strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .or_else(|| name.strip_prefix("ansible.posix."))
        .or_else(|| name.strip_prefix("community.general."))
        .unwrap_or(name)
}

/// Python's name for the type of a value read from YAML.
fn py_type_name(v: &Value) -> &'static str {
    use minijinja::value::ValueKind;
    match v.kind() {
        ValueKind::Seq => "list",
        ValueKind::Map => "dict",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::None | ValueKind::Undefined => "NoneType",
        _ => "str",
    }
}

/// Actions in Ansible's RAW_PARAM_MODULES that take `k=v` words and pass over the rest
/// (`set_fact: a=1 junk` sets `a`).
fn takes_stray_words(name: &str) -> bool {
    matches!(short_name(name), "set_fact" | "add_host" | "group_by")
}

fn is_action_name(name: &str) -> bool {
    let s = short_name(name);
    registry::find(name).is_some() || actions::is_action(s)
}

fn action_free_form(name: &str) -> bool {
    let s = short_name(name);
    registry::find(name).is_some_and(|e| e.free_form) || actions::is_free_form(s)
}

fn unknown_action_or_keyword(file: &Arc<str>, k: &Node, key: &str) -> LoadError {
    let candidates: Vec<&str> = registry::names()
        .chain(actions::ACTIONS.iter().map(|a| a.name))
        .chain(TASK_KEYWORDS.iter().copied())
        .collect();
    let hint = closest(short_name(key), candidates.iter().copied());
    let mut msg = format!(
        "couldn't resolve module/action '{key}': it is neither a task keyword nor a module the agent has"
    );
    if let Some(h) = hint.first() {
        msg.push_str(&format!("; did you mean '{h}'?"));
    }
    LoadError::at(loc(file, k), msg)
}

fn python_action_plugin(file: &Arc<str>, k: &Node, key: &str, path: &Path) -> LoadError {
    LoadError::at(
        loc(file, k),
        format!(
            "couldn't run action '{key}': its action plugin {} is Python code, which runs inside \
             Ansible and not in the agent (only a plugin that re-exports a built-in action, \
             `from ansible.plugins.action.NAME import ActionModule`, runs as that action)",
            path.display()
        ),
    )
}

fn include_file_arg(args: &IndexMap<String, Value>) -> Option<String> {
    args.get("file")
        .or_else(|| args.get("_raw_params"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// Where a task file named by an import or include is: the role's `tasks/`, the including
/// file's directory, the role's own directory, then the playbook's directory (`basedir`).
pub fn resolve_tasks_file(
    dir: &Path,
    role: Option<&Arc<RoleInstance>>,
    f: &str,
    basedir: Option<&Path>,
) -> PathBuf {
    let p = Path::new(f);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let mut candidates = Vec::new();
    if let Some(r) = role {
        candidates.push(r.path.join("tasks").join(f));
    }
    candidates.push(dir.join(f));
    let shown = dir.join(f);
    // the role's own directory (`include_tasks: tasks/x.yml` in handlers/main.yml)
    if let Some(r) = role {
        candidates.push(r.path.join(f));
    }
    if let Some(b) = basedir {
        candidates.push(b.join(f));
    }
    candidates
        .iter()
        .find(|c| c.is_file())
        .cloned()
        .unwrap_or(shown)
}

/// Validate a task's arguments now, with templated values left for run time.
/// Every template in a task's arguments must compile (syntax only).
fn check_arg_templates(templar: &Templar, file: &Arc<str>, t: &Task) -> Result<(), LoadError> {
    fn walk(templar: &Templar, v: &Value) -> Result<(), String> {
        match v.kind() {
            minijinja::value::ValueKind::String if !v.is_safe() => templar
                .check_syntax(v.as_str().unwrap_or_default())
                .map_err(|e| e.message),
            minijinja::value::ValueKind::Seq | minijinja::value::ValueKind::Map => {
                for item in v.try_iter().map_err(|e| e.to_string())? {
                    if v.kind() == minijinja::value::ValueKind::Map {
                        walk(templar, &v.get_item(&item).unwrap_or_default())?;
                    } else {
                        walk(templar, &item)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    for (k, v) in &t.args {
        if let Err(e) = walk(templar, v) {
            let at = t.arg_locs.get(k).unwrap_or_else(|| t.loc.clone());
            return Err(LoadError::at(at, format!("template error in '{k}': {e}")));
        }
    }
    let _ = file;
    Ok(())
}

/// `ignore_errors` is set to anything but a literal false (a template counts as set).
fn ignores_errors(t: &Task) -> bool {
    t.common
        .ignore_errors
        .as_ref()
        .is_some_and(|v| match v.as_str() {
            Some(s) if Templar::is_template(s) => true,
            Some(_) => agent_modules::spec::to_bool(v).unwrap_or(true),
            None => v.is_true(),
        })
}

fn validate_args(file: &Arc<str>, at: &Node, t: &Task) -> Result<(), LoadError> {
    if t.args.contains_key(ARGS_SPLAT) {
        // The arguments exist only once the template is rendered.
        return Ok(());
    }
    let mut args = t.args.clone();
    for v in args.values_mut() {
        if v.as_str().is_some_and(Templar::is_template)
            || !matches!(
                v.kind(),
                minijinja::value::ValueKind::String
                    | minijinja::value::ValueKind::Number
                    | minijinja::value::ValueKind::Bool
                    | minijinja::value::ValueKind::None
            )
        {
            // Templated or structured (may contain templates): checked at run time.
            if v.as_str().is_some_and(Templar::is_template) {
                *v = Value::from(());
            }
        }
    }
    let res = if let Some(entry) = registry::find(&t.action) {
        (entry.validate)(&t.short, &args).map(|_| ())
    } else {
        actions::validate(&t.short, &args)
    };
    res.map_err(|e| {
        LoadError::at(
            loc(file, at),
            format!(
                "{} (in task '{}')",
                e.msg,
                t.name.as_deref().unwrap_or(&t.action)
            ),
        )
    })
}

/// Helper for the engine: a dynamic include's items.
pub fn load_include(
    loader: &mut Loader,
    dir: &Path,
    role: Option<&Arc<RoleInstance>>,
    file: &str,
    handler: bool,
) -> Result<Vec<Item>, LoadError> {
    let path = resolve_tasks_file(dir, role, file, loader.basedir.as_deref());
    if !path.is_file() {
        return Err(LoadError::Other(format!(
            "could not find or access '{file}' (looked for {})",
            path.display()
        )));
    }
    // A handler's include loads handlers (no blocks in blocks, no roles).
    let outer = std::mem::replace(&mut loader.handler_include, handler);
    let r = loader.load_tasks_file(&path, role, false);
    loader.handler_include = outer;
    r
}
