//! Lookups: `lookup()`, `query()`/`q()` and the `with_<name>` loops. A lookup finds files
//! through the `ansible_search_path` variable (role dir, then playbook dir), as Ansible.
//!
//! The engine runs `with_<name>` loops through [`run_lookup`]; templates call
//! `lookup(name, *terms, wantlist=False, errors='strict', **options)` (a single result is
//! returned as itself, several strings are joined with `,`) or `query(...)`/`q(...)`
//! (always a list).

pub mod config;
pub mod files;
pub mod inventory;
pub mod lists;
pub mod password;
pub mod url;
pub mod vars;

use std::path::{Path, PathBuf};

use minijinja::value::{Rest, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State, Value};

use crate::filters::{err, list_of, py_str, split_args};

/// Where a lookup reads variables from: the template [`State`], or anything else the
/// engine provides (for `with_<name>` loops).
pub trait LookupVars {
    /// A variable's value, if defined.
    fn get_var(&self, name: &str) -> Option<Value>;
    /// Every variable name (for `varnames` and the `template` lookup).
    fn var_names(&self) -> Vec<String>;
    /// The templar and the (lazy) variable layers of the render in progress, when the
    /// lookup runs under [`crate::Templar`]: the `template` lookup renders with them.
    fn lazy_vars(&self) -> Option<(crate::Templar, crate::Vars)> {
        None
    }
}

/// The lazy scope of the render a [`State`] belongs to, if it runs under `Templar`.
fn state_scope(state: &State<'_, '_>) -> Option<std::sync::Arc<crate::vars::Scope>> {
    state
        .lookup(crate::vars::SCOPE_KEY)
        .and_then(|v| crate::vars::Scope::from_context(&v))
}

impl LookupVars for State<'_, '_> {
    fn get_var(&self, name: &str) -> Option<Value> {
        self.lookup(name).filter(|v| !v.is_undefined())
    }

    /// Under `Templar`, the names in the variable layers (as Ansible, the task's
    /// variables: not the template's own `set`/loop locals); otherwise what minijinja
    /// knows.
    fn var_names(&self) -> Vec<String> {
        if let Some(scope) = state_scope(self) {
            return scope.names();
        }
        self.known_variables()
            .into_iter()
            .map(|c| c.into_owned())
            .collect()
    }

    fn lazy_vars(&self) -> Option<(crate::Templar, crate::Vars)> {
        state_scope(self).map(|scope| scope.parts())
    }
}

/// A plain map of variables (a `Value` map) as a [`LookupVars`].
pub struct MapVars(pub Value);

impl LookupVars for MapVars {
    fn get_var(&self, name: &str) -> Option<Value> {
        self.0.get_attr(name).ok().filter(|v| !v.is_undefined())
    }

    fn var_names(&self) -> Vec<String> {
        self.0
            .try_iter()
            .map(|it| it.filter_map(|k| k.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }
}

thread_local! {
    /// The action of the task whose templates and loop run on this thread (Ansible's
    /// `TaskContext.current().task.action`), as the task wrote it.
    static TASK_ACTION: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// While it lives, lookups on this thread run for a task with this action; dropping it
/// restores the outer task's (an include runs tasks inside a task).
pub struct TaskActionGuard {
    outer: Option<String>,
}

/// Lookups on this thread run for a task that wrote `action`, until the guard drops.
pub fn enter_task_action(action: &str) -> TaskActionGuard {
    let outer = TASK_ACTION.with(|c| c.replace(Some(action.to_string())));
    TaskActionGuard { outer }
}

impl Drop for TaskActionGuard {
    fn drop(&mut self) {
        let outer = self.outer.take();
        TASK_ACTION.with(|c| *c.borrow_mut() = outer);
    }
}

/// The directory `first_found` searches: `templates`, `vars` or `files`, by the first of
/// `template`, `var`, `file` in the running task's action name (`files` outside a task
/// or when none is in it), as Ansible's first_found does.
pub(crate) fn first_found_subdir() -> &'static str {
    TASK_ACTION.with(|c| {
        let action = c.borrow();
        let action = action.as_deref().unwrap_or("file");
        if action.contains("template") {
            "templates"
        } else if action.contains("var") {
            "vars"
        } else {
            "files"
        }
    })
}

/// What a lookup gets besides its terms: options and variables.
pub struct LookupCtx<'a> {
    pub vars: &'a dyn LookupVars,
    pub kwargs: Vec<(String, Value)>,
    /// The environment, for the `template` lookup (absent: templates are read raw).
    pub env: Option<&'a Environment<'a>>,
}

impl LookupCtx<'_> {
    /// A keyword option.
    pub fn opt(&self, name: &str) -> Option<&Value> {
        self.kwargs.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// A keyword option as a string, or `default`.
    pub fn opt_str(&self, name: &str, default: &str) -> String {
        match self.opt(name) {
            Some(v) if !v.is_none() => py_str(v),
            _ => default.to_string(),
        }
    }

    /// A keyword option as a bool, or `default`.
    pub fn opt_bool(&self, name: &str, default: bool) -> bool {
        match self.opt(name) {
            Some(v) => {
                if let Some(s) = v.as_str() {
                    matches!(
                        s.to_lowercase().as_str(),
                        "yes" | "on" | "true" | "1" | "y" | "t"
                    )
                } else {
                    v.is_true()
                }
            }
            None => default,
        }
    }

    /// The directories of `ansible_search_path` (or the current directory).
    pub fn search_path(&self) -> Vec<PathBuf> {
        let dirs: Vec<PathBuf> = self
            .vars
            .get_var("ansible_search_path")
            .and_then(|v| list_of(&v))
            .map(|l| l.iter().map(|d| PathBuf::from(py_str(d))).collect())
            .unwrap_or_default();
        if dirs.is_empty() {
            vec![std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))]
        } else {
            dirs
        }
    }

    /// Ansible's `find_file_in_search_path(variables, subdir, needle)`: for each search
    /// dir, `DIR/<subdir>/needle` then `DIR/needle`; absolute needles are used as given.
    pub fn find_file(&self, subdir: &str, needle: &str) -> Option<PathBuf> {
        let n = Path::new(needle);
        if n.is_absolute() {
            return n.exists().then(|| n.to_path_buf());
        }
        for dir in self.search_path() {
            for cand in [dir.join(subdir).join(needle), dir.join(needle)] {
                if cand.exists() {
                    return Some(cand);
                }
            }
        }
        None
    }
}

/// The lookups the agent has (short names).
const BUILTIN: &[&str] = &[
    "file",
    "template",
    "fileglob",
    "first_found",
    "unvault",
    "lines",
    "ini",
    "csvfile",
    "password",
    "env",
    "pipe",
    "vars",
    "varnames",
    "items",
    "list",
    "dict",
    "sequence",
    "subelements",
    "together",
    "nested",
    "indexed_items",
    "random_choice",
    "inventory_hostnames",
    "url",
    "config",
];

/// Whether the agent has lookup `name` (`ansible.builtin.` or short).
pub fn is_builtin(name: &str) -> bool {
    let short = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    BUILTIN.contains(&short)
}

/// Run lookup `name` on `terms`, returning its list of results (what `query()` and
/// `with_<name>` see). Unknown lookups are an error.
pub fn run_lookup(name: &str, terms: Vec<Value>, ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    let name = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("community.general."))
        .unwrap_or(name);
    match name {
        "file" => files::file(terms, ctx),
        "template" => files::template(terms, ctx),
        "fileglob" => files::fileglob(terms, ctx),
        "first_found" => files::first_found(terms, ctx),
        "unvault" => files::unvault(terms, ctx),
        "lines" => vars::lines(terms, ctx),
        "ini" => files::ini(terms, ctx),
        "csvfile" => files::csvfile(terms, ctx),
        "password" => password::password(terms, ctx),
        "env" => vars::env(terms, ctx),
        "pipe" => vars::pipe(terms, ctx),
        "vars" => vars::vars(terms, ctx),
        "varnames" => vars::varnames(terms, ctx),
        "items" => lists::items(terms),
        "list" => Ok(terms),
        "dict" => lists::dict(terms),
        "sequence" => lists::sequence(terms, ctx),
        "subelements" => lists::subelements(terms, ctx),
        "together" => lists::together(terms),
        "nested" => lists::nested(terms),
        "indexed_items" => lists::indexed_items(terms),
        "random_choice" => lists::random_choice(terms),
        "inventory_hostnames" => inventory::inventory_hostnames(terms, ctx),
        "url" => url::url(terms, ctx),
        "config" => config::config(terms, ctx),
        other => Err(Error::new(
            ErrorKind::UnknownFunction,
            format!("lookup plugin ({other}) not found"),
        )),
    }
}

/// Lookup terms that are trusted strings holding templates (string constants of the
/// template, `lookup('pipe', 'echo {{ x }}')`) are rendered first, as ansible-core 2.19+
/// still does for lookup terms (deprecated; Ansible warns, the agent does not). Strings a
/// template computed or read from data are untrusted and stay as they are. Lists of terms
/// are looked into one level deep.
fn const_templates(terms: Vec<Value>, state: &State) -> Result<Vec<Value>, Error> {
    if !terms.iter().any(holds_const_template) {
        return Ok(terms);
    }
    let Some((templar, vars)) = state.lazy_vars() else {
        return Ok(terms);
    };
    let render = |t: Value| -> Result<Value, Error> {
        match t.as_str() {
            Some(s) if !t.is_safe() && crate::Templar::is_template(s) => templar
                .render_str(s, &vars)
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.message)),
            _ => Ok(t),
        }
    };
    terms
        .into_iter()
        .map(|t| match t.kind() {
            minijinja::value::ValueKind::Seq if holds_const_template(&t) => {
                let items: Result<Vec<Value>, Error> = t
                    .try_iter()
                    .map(|it| it.map(render).collect())
                    .unwrap_or_else(|_| Ok(Vec::new()));
                items.map(Value::from)
            }
            minijinja::value::ValueKind::Map if holds_const_template(&t) => {
                let mut pairs = Vec::new();
                for k in t.try_iter().into_iter().flatten() {
                    let v = t.get_item(&k).unwrap_or_default();
                    pairs.push((k, render(v)?));
                }
                Ok(Value::from_pairs(pairs))
            }
            _ => render(t),
        })
        .collect()
}

/// Whether a term is (or a list of terms, or a dict's values, holds) a trusted string
/// with a template.
fn holds_const_template(t: &Value) -> bool {
    let is_const = |i: &Value| {
        i.as_str()
            .is_some_and(|s| !i.is_safe() && crate::Templar::is_template(s))
    };
    match t.kind() {
        minijinja::value::ValueKind::Seq => {
            t.try_iter().is_ok_and(|mut it| it.any(|i| is_const(&i)))
        }
        minijinja::value::ValueKind::Map => t
            .try_iter()
            .is_ok_and(|mut it| it.any(|k| t.get_item(&k).is_ok_and(|v| is_const(&v)))),
        _ => is_const(t),
    }
}

fn call(state: &State, rest: &[ValueOrKwargs], force_list: bool) -> Result<Value, Error> {
    let (pos, kw) = split_args(rest);
    let Some(name) = pos.first() else {
        return Err(err(
            "lookup() missing 1 required positional argument: 'plugin_name'",
        ));
    };
    let name = py_str(name);
    let mut wantlist = force_list;
    let mut errors = "strict".to_string();
    let mut kwargs = Vec::new();
    for (k, v) in kw {
        match k.as_str() {
            "wantlist" => wantlist = wantlist || v.is_true(),
            "errors" => errors = py_str(&v),
            _ => kwargs.push((k, v)),
        }
    }
    // An undefined option fails the lookup before it runs (Ansible trips the first
    // undefined marker among the arguments), except `env`'s: its `default` may be
    // undefined (`accept_args_markers`).
    let short = name.strip_prefix("ansible.builtin.").unwrap_or(&name);
    if let Some((k, _)) = kwargs
        .iter()
        .find(|(_, v)| v.is_undefined())
        .filter(|_| short != "env")
    {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            format!("the lookup option '{k}' is undefined"),
        ));
    }
    let terms = const_templates(pos[1..].to_vec(), state)?;
    let ctx = LookupCtx {
        vars: state,
        kwargs,
        env: Some(state.env()),
    };
    let res = match run_lookup(&name, terms, &ctx) {
        Ok(r) => r,
        Err(e) if e.kind() == ErrorKind::UnknownFunction => return Err(e),
        Err(e) => {
            return match errors.as_str() {
                "ignore" | "warn" => {
                    if errors == "warn" {
                        tracing::warn!(
                            "An error occurred while running the lookup plugin '{name}': {e}"
                        );
                    }
                    Ok(if wantlist {
                        Value::from(Vec::<Value>::new())
                    } else {
                        Value::from(())
                    })
                }
                _ => Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "The lookup plugin '{name}' failed: {}",
                        e.detail().unwrap_or(&e.to_string())
                    ),
                )),
            };
        }
    };
    if wantlist || res.is_empty() {
        return Ok(Value::from(res));
    }
    if res.len() == 1 {
        return Ok(res.into_iter().next().unwrap_or_default());
    }
    if res.iter().all(|v| v.as_str().is_some()) {
        let parts: Vec<&str> = res.iter().filter_map(|v| v.as_str()).collect();
        return Ok(Value::from(parts.join(",")));
    }
    Ok(Value::from(res))
}

/// Register `lookup`, `query` and `q`.
pub fn register(env: &mut Environment<'static>) {
    env.add_function("lookup", |state: &State, rest: Rest<ValueOrKwargs>| {
        call(state, &rest.0, false)
    });
    env.add_function("query", |state: &State, rest: Rest<ValueOrKwargs>| {
        call(state, &rest.0, true)
    });
    env.add_function("q", |state: &State, rest: Rest<ValueOrKwargs>| {
        call(state, &rest.0, true)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_join_and_query() {
        let mut env = Environment::new();
        register(&mut env);
        crate::filters::register(&mut env);
        let e = |x: &str| env.compile_expression(x).unwrap().eval(()).unwrap();
        assert_eq!(e("lookup('items', ['a', 'b'])"), Value::from("a,b"));
        assert_eq!(e("lookup('items', ['a'])"), Value::from("a"));
        assert_eq!(e("query('items', 'a')").len(), Some(1));
        assert_eq!(
            e("lookup('pipe', 'exit 1', errors='ignore')"),
            Value::from(())
        );
        assert!(
            env.compile_expression("lookup('nope')")
                .unwrap()
                .eval(())
                .is_err()
        );
    }
}
