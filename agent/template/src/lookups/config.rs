//! `config`: the value of an Ansible setting, as `lookup('config', 'NAME')` reads it in
//! ansible-core: a variable named by the setting (highest), else its environment
//! variable, else its default. The agent knows the settings below (the ones roles and
//! Ansible's own tests ask for), plugin options of the ssh connection and the sh shell,
//! the `config` lookup's own options, and the options a Python lookup plugin found in
//! `ANSIBLE_LOOKUP_PLUGINS` (or `lookup_plugins/` beside the playbook) declares in its
//! DOCUMENTATION (the agent runs no Python: it reads the declaration only).

use std::path::PathBuf;

use minijinja::{Error, ErrorKind, Value};

use super::{LookupCtx, py_str};

/// How a setting's value is typed.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Int,
    List,
    /// A path: `~` expanded.
    Path,
    /// Colon-separated paths, `~` expanded.
    PathList,
}

/// One setting: its name, environment variables, variables, default and type.
struct Setting {
    name: &'static str,
    env: &'static [&'static str],
    vars: &'static [&'static str],
    default: Option<&'static str>,
    kind: Kind,
}

const COWS: &str = "bud-frogs,bunny,cheese,daemon,default,dragon,elephant-in-snake,elephant,eyes,hellokitty,kitty,luke-koala,meow,milk,moofasa,moose,ren,sheep,small,stegosaurus,stimpy,supermilker,three-eyes,turkey,turtle,tux,udder,vader-koala,vader,www";

const fn s(
    name: &'static str,
    env: &'static [&'static str],
    default: Option<&'static str>,
    kind: Kind,
) -> Setting {
    Setting {
        name,
        env,
        vars: &[],
        default,
        kind,
    }
}

/// A plugin option given only directly (no environment variable, no variable).
const fn option(name: &'static str, default: Option<&'static str>, kind: Kind) -> Setting {
    Setting {
        name,
        env: &[],
        vars: &[],
        default,
        kind,
    }
}

/// The core settings the agent answers for.
const SETTINGS: &[Setting] = &[
    s(
        "ANSIBLE_HOME",
        &["ANSIBLE_HOME"],
        Some("~/.ansible"),
        Kind::Path,
    ),
    s(
        "ANSIBLE_COW_ACCEPTLIST",
        &["ANSIBLE_COW_ACCEPTLIST"],
        Some(COWS),
        Kind::List,
    ),
    s(
        "ANY_ERRORS_FATAL",
        &["ANSIBLE_ANY_ERRORS_FATAL"],
        Some("False"),
        Kind::Bool,
    ),
    s(
        "DEFAULT_BECOME",
        &["ANSIBLE_BECOME"],
        Some("False"),
        Kind::Bool,
    ),
    s(
        "DEFAULT_BECOME_METHOD",
        &["ANSIBLE_BECOME_METHOD"],
        Some("sudo"),
        Kind::Str,
    ),
    s(
        "DEFAULT_BECOME_USER",
        &["ANSIBLE_BECOME_USER"],
        Some("root"),
        Kind::Str,
    ),
    s(
        "DEFAULT_FORCE_HANDLERS",
        &["ANSIBLE_FORCE_HANDLERS"],
        Some("False"),
        Kind::Bool,
    ),
    s("DEFAULT_FORKS", &["ANSIBLE_FORKS"], Some("5"), Kind::Int),
    s(
        "DEFAULT_GATHERING",
        &["ANSIBLE_GATHERING"],
        Some("implicit"),
        Kind::Str,
    ),
    s(
        "DEFAULT_HASH_BEHAVIOUR",
        &["ANSIBLE_HASH_BEHAVIOUR"],
        Some("replace"),
        Kind::Str,
    ),
    s(
        "DEFAULT_LOCAL_TMP",
        &["ANSIBLE_LOCAL_TEMP"],
        Some("{ANSIBLE_HOME}/tmp"),
        Kind::Path,
    ),
    s("DEFAULT_MODULE_NAME", &[], Some("command"), Kind::Str),
    s("COLOR_OK", &["ANSIBLE_COLOR_OK"], Some("green"), Kind::Str),
    s(
        "COLOR_CHANGED",
        &["ANSIBLE_COLOR_CHANGED"],
        Some("yellow"),
        Kind::Str,
    ),
    s(
        "COLOR_ERROR",
        &["ANSIBLE_COLOR_ERROR"],
        Some("red"),
        Kind::Str,
    ),
    s(
        "COLOR_SKIP",
        &["ANSIBLE_COLOR_SKIP"],
        Some("cyan"),
        Kind::Str,
    ),
    s(
        "INTERPRETER_PYTHON",
        &["ANSIBLE_PYTHON_INTERPRETER"],
        Some("auto"),
        Kind::Str,
    ),
    s(
        "DEFAULT_PRIVATE_ROLE_VARS",
        &["ANSIBLE_PRIVATE_ROLE_VARS"],
        Some("False"),
        Kind::Bool,
    ),
    s(
        "DEFAULT_ROLES_PATH",
        &["ANSIBLE_ROLES_PATH"],
        Some("~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles"),
        Kind::PathList,
    ),
    s(
        "DEFAULT_STRATEGY",
        &["ANSIBLE_STRATEGY"],
        Some("linear"),
        Kind::Str,
    ),
    s(
        "DEFAULT_TIMEOUT",
        &["ANSIBLE_TIMEOUT"],
        Some("10"),
        Kind::Int,
    ),
    s(
        "DEPRECATION_WARNINGS",
        &["ANSIBLE_DEPRECATION_WARNINGS"],
        Some("True"),
        Kind::Bool,
    ),
    s(
        "ERROR_ON_MISSING_HANDLER",
        &["ANSIBLE_ERROR_ON_MISSING_HANDLER"],
        Some("True"),
        Kind::Bool,
    ),
    s(
        "HOST_KEY_CHECKING",
        &["ANSIBLE_HOST_KEY_CHECKING"],
        Some("True"),
        Kind::Bool,
    ),
    s(
        "INJECT_FACTS_AS_VARS",
        &["ANSIBLE_INJECT_FACT_VARS"],
        Some("True"),
        Kind::Bool,
    ),
    s(
        "RETRY_FILES_ENABLED",
        &["ANSIBLE_RETRY_FILES_ENABLED"],
        Some("False"),
        Kind::Bool,
    ),
    // Ansible's entries for its own tests.
    Setting {
        name: "_Z_TEST_ENTRY",
        env: &["ANSIBLE_TEST_ENTRY", "ANSIBLE_TEST_ENTRY_D"],
        vars: &["_z_test_entry"],
        default: None,
        kind: Kind::Str,
    },
    s(
        "_Z_TEST_ENTRY_3",
        &["ANSIBLE_TEST_ENTRY3"],
        Some("{ANSIBLE_HOME}"),
        Kind::Path,
    ),
];

/// Plugin options the agent answers for: (plugin type, plugin name, setting).
const PLUGIN_SETTINGS: &[(&str, &str, Setting)] = &[
    (
        "connection",
        "ssh",
        Setting {
            name: "remote_user",
            env: &["ANSIBLE_REMOTE_USER"],
            vars: &["ansible_user", "ansible_ssh_user"],
            default: None,
            kind: Kind::Str,
        },
    ),
    (
        "connection",
        "ssh",
        Setting {
            name: "port",
            env: &["ANSIBLE_REMOTE_PORT"],
            vars: &["ansible_port", "ansible_ssh_port"],
            default: None,
            kind: Kind::Int,
        },
    ),
    (
        "connection",
        "ssh",
        Setting {
            name: "host",
            env: &[],
            vars: &["inventory_hostname", "ansible_host", "ansible_ssh_host"],
            default: None,
            kind: Kind::Str,
        },
    ),
    (
        "connection",
        "ssh",
        Setting {
            name: "timeout",
            env: &["ANSIBLE_TIMEOUT", "ANSIBLE_SSH_TIMEOUT"],
            vars: &["ansible_ssh_timeout"],
            default: Some("10"),
            kind: Kind::Int,
        },
    ),
    (
        "shell",
        "sh",
        Setting {
            name: "remote_tmp",
            env: &["ANSIBLE_REMOTE_TEMP", "ANSIBLE_REMOTE_TMP"],
            vars: &["ansible_remote_tmp"],
            default: Some("~/.ansible/tmp"),
            kind: Kind::Str,
        },
    ),
    (
        "lookup",
        "config",
        option("on_missing", Some("error"), Kind::Str),
    ),
    ("lookup", "config", option("plugin_type", None, Kind::Str)),
    ("lookup", "config", option("plugin_name", None, Kind::Str)),
    (
        "lookup",
        "config",
        option("show_origin", Some("False"), Kind::Bool),
    ),
];

/// The lookups and connection/shell plugins the agent has (for "Unable to load").
const KNOWN_PLUGINS: &[(&str, &str)] = &[
    ("connection", "ssh"),
    ("connection", "local"),
    ("shell", "sh"),
];

fn fail(msg: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

fn home() -> String {
    std::env::var("HOME").unwrap_or_else(|_| "/root".into())
}

fn expand(p: &str) -> String {
    match p.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{}{rest}", home()),
        _ => p.to_string(),
    }
}

/// A value (from the environment or a default) as its type says.
fn typed(text: &str, kind: Kind, label: &str, origin: &str) -> Result<Value, Error> {
    let bad = || {
        fail(format!(
            "Config {label} from '{origin}' has an invalid value."
        ))
    };
    Ok(match kind {
        Kind::Str => Value::from(text),
        Kind::Bool => Value::from(matches!(
            text.trim().to_ascii_lowercase().as_str(),
            "y" | "yes" | "on" | "1" | "true" | "t"
        )),
        Kind::Int => Value::from(text.trim().parse::<i64>().map_err(|_| bad())?),
        Kind::List => Value::from(
            text.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>(),
        ),
        Kind::Path => {
            let home =
                expand(&std::env::var("ANSIBLE_HOME").unwrap_or_else(|_| "~/.ansible".into()));
            Value::from(expand(&text.replace("{ANSIBLE_HOME}", &home)))
        }
        Kind::PathList => Value::from(
            text.split(':')
                .filter(|x| !x.is_empty())
                .map(expand)
                .collect::<Vec<_>>(),
        ),
    })
}

/// A variable's value as the setting's type (variables keep their own type, but a
/// string given where a number is wanted is converted).
fn typed_var(v: Value, kind: Kind, label: &str, origin: &str) -> Result<Value, Error> {
    match (kind, v.as_str()) {
        (Kind::Str, _) | (_, None) => Ok(v),
        (k, Some(t)) => typed(t, k, label, origin),
    }
}

/// The options a Python lookup plugin declares in its DOCUMENTATION (name → required),
/// from `ANSIBLE_LOOKUP_PLUGINS` or `lookup_plugins/` in the search path.
fn python_lookup_options(name: &str, ctx: &LookupCtx<'_>) -> Option<Vec<(String, bool)>> {
    let mut dirs: Vec<PathBuf> = std::env::var("ANSIBLE_LOOKUP_PLUGINS")
        .map(|v| {
            v.split(':')
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .collect()
        })
        .unwrap_or_default();
    dirs.extend(
        ctx.search_path()
            .into_iter()
            .map(|d| d.join("lookup_plugins")),
    );
    let short = name.rsplit('.').next().unwrap_or(name);
    let text = dirs
        .iter()
        .find_map(|d| std::fs::read_to_string(d.join(format!("{short}.py"))).ok())?;
    // DOCUMENTATION = """ ... """: the `options:` mapping, read line by line.
    let start = text.find("DOCUMENTATION")?;
    let rest = &text[start..];
    let open = rest.find("\"\"\"").or_else(|| rest.find("'''"))?;
    let body = &rest[open + 3..];
    let body = &body[..body.find("\"\"\"").or_else(|| body.find("'''"))?];
    let mut options = Vec::new();
    let mut in_options = None::<usize>;
    let mut option_indent = None::<usize>;
    for line in body.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        match in_options {
            None if t == "options:" => in_options = Some(indent),
            None => {}
            Some(base) if indent <= base => break,
            Some(_) => {
                let oi = *option_indent.get_or_insert(indent);
                if indent == oi {
                    if let Some(name) = t.strip_suffix(':') {
                        options.push((name.to_string(), false));
                    }
                } else if let Some(v) = t.strip_prefix("required:")
                    && let Some(last) = options.last_mut()
                {
                    last.1 = matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "yes" | "1");
                }
            }
        }
    }
    Some(options)
}

fn label(term: &str, plugin: Option<(&str, &str)>) -> String {
    match plugin {
        Some((ptype, pname)) => format!("{term:?} for {pname:?} {ptype} plugin").replace('"', "'"),
        None => format!("'{term}'"),
    }
}

/// One setting's value and origin (`default`, `env: NAME`, `var: NAME`); `None` when no
/// setting has that name.
fn value_of(
    term: &str,
    plugin: Option<(&str, &str)>,
    ctx: &LookupCtx<'_>,
) -> Result<Option<(Value, String)>, Error> {
    let label = label(term, plugin);
    let setting = match plugin {
        None => SETTINGS.iter().find(|s| s.name == term),
        Some((ptype, pname)) => PLUGIN_SETTINGS
            .iter()
            .find(|(t, n, s)| *t == ptype && *n == pname && s.name == term)
            .map(|(_, _, s)| s),
    };
    let Some(setting) = setting else {
        if let Some((ptype @ "lookup", pname)) = plugin
            && let Some(options) = python_lookup_options(pname, ctx)
        {
            return match options.iter().find(|(n, _)| n == term) {
                None => Ok(None),
                Some((_, true)) => Err(fail(format!(
                    "Required config {} not provided.",
                    label_for(term, ptype, pname)
                ))),
                Some(_) => Ok(Some((Value::from(()), "default".into()))),
            };
        }
        return Ok(None);
    };
    let mut found = None;
    for v in setting.vars {
        if let Some(val) = ctx.vars.get_var(v) {
            found = Some((val, format!("var: {v}")));
        }
    }
    if let Some((v, origin)) = found {
        return Ok(Some((typed_var(v, setting.kind, &label, &origin)?, origin)));
    }
    for e in setting.env {
        if let Ok(text) = std::env::var(e) {
            let origin = format!("env: {e}");
            return Ok(Some((typed(&text, setting.kind, &label, &origin)?, origin)));
        }
    }
    let value = match setting.default {
        Some(d) => typed(d, setting.kind, &label, "default")?,
        None => Value::from(()),
    };
    Ok(Some((value, "default".into())))
}

fn label_for(term: &str, ptype: &str, pname: &str) -> String {
    label(term, Some((ptype, pname)))
}

pub fn config(terms: Vec<Value>, ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    let missing = ctx.opt_str("on_missing", "error");
    if !matches!(missing.as_str(), "error" | "warn" | "skip") {
        return Err(fail(format!(
            "Invalid value '{missing}' for config 'on_missing' for 'config' lookup plugin."
        )));
    }
    let ptype = ctx.opt("plugin_type").filter(|v| !v.is_none()).map(py_str);
    let pname = ctx.opt("plugin_name").filter(|v| !v.is_none()).map(py_str);
    let show_origin = ctx.opt_bool("show_origin", false);
    let plugin = match (&ptype, &pname) {
        (None, None) => None,
        (Some(t), Some(n)) => Some((t.as_str(), n.as_str())),
        _ => {
            return Err(fail(
                "Both plugin_type and plugin_name are required, cannot use one without the other."
                    .into(),
            ));
        }
    };
    if let Some((t, n)) = plugin {
        let known = KNOWN_PLUGINS.contains(&(t, n))
            || (t == "lookup" && (super::is_builtin(n) || python_lookup_options(n, ctx).is_some()));
        if !known {
            return Err(fail(format!("Unable to load {t} plugin '{n}'.")));
        }
    }
    let mut out = Vec::new();
    for term in terms {
        let Some(name) = term.as_str() else {
            let kind = if term.is_number() { "int" } else { "object" };
            return Err(fail(format!(
                "Invalid setting identifier, {} is not a <class 'str'>, its a <class '{kind}'>.",
                crate::filters::py_repr(&term)
            )));
        };
        match value_of(name, plugin, ctx)? {
            Some((v, origin)) => out.push(if show_origin {
                Value::from(vec![v, Value::from(origin)])
            } else {
                v
            }),
            None => {
                let msg = format!("No config definition exists for {}.", label(name, plugin));
                match missing.as_str() {
                    "error" => return Err(fail(msg)),
                    "warn" => tracing::warn!("Skipping {name}: {msg}"),
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}
