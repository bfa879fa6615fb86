//! Module parameters the way Ansible's argument_spec defines them: names, aliases,
//! types with Ansible's coercions, defaults, choices and required arguments.

use indexmap::IndexMap;
use minijinja::Value;
use minijinja::value::ValueKind;

use crate::ModuleError;

/// A parameter's type, with Ansible's coercion rules (module_utils validation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// Any value becomes its string form (Python's `str()`: a list or dict its repr).
    Str,
    /// `yes/no/true/false/on/off/1/0/y/n/t/f` in any case, and ints.
    Bool,
    Int,
    Float,
    /// A string with `~` expanded.
    Path,
    /// A list; a string is split on commas; a scalar becomes a one-item list.
    List,
    /// A dict; a string holding JSON or `k=v` pairs is parsed.
    Dict,
    /// Passed through as given.
    Raw,
}

/// A default value (const-friendly).
#[derive(Debug, Clone, Copy)]
pub enum Def {
    Str(&'static str),
    Bool(bool),
    Int(i64),
}

/// One parameter of a module.
#[derive(Debug, Clone, Copy)]
pub struct Arg {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    pub default: Option<Def>,
    pub aliases: &'static [&'static str],
    pub choices: &'static [&'static str],
    /// The value is a secret: masked in output.
    pub no_log: bool,
}

impl Arg {
    pub const fn new(name: &'static str, ty: Ty) -> Arg {
        Arg {
            name,
            ty,
            required: false,
            default: None,
            aliases: &[],
            choices: &[],
            no_log: false,
        }
    }
    pub const fn str(name: &'static str) -> Arg {
        Arg::new(name, Ty::Str)
    }
    pub const fn bool(name: &'static str, default: bool) -> Arg {
        Arg::new(name, Ty::Bool).default(Def::Bool(default))
    }
    pub const fn path(name: &'static str) -> Arg {
        Arg::new(name, Ty::Path)
    }
    pub const fn int(name: &'static str) -> Arg {
        Arg::new(name, Ty::Int)
    }
    pub const fn list(name: &'static str) -> Arg {
        Arg::new(name, Ty::List)
    }
    pub const fn raw(name: &'static str) -> Arg {
        Arg::new(name, Ty::Raw)
    }
    pub const fn required(mut self) -> Arg {
        self.required = true;
        self
    }
    pub const fn default(mut self, d: Def) -> Arg {
        self.default = Some(d);
        self
    }
    pub const fn aliases(mut self, a: &'static [&'static str]) -> Arg {
        self.aliases = a;
        self
    }
    pub const fn choices(mut self, c: &'static [&'static str]) -> Arg {
        self.choices = c;
        self
    }
    pub const fn no_log(mut self) -> Arg {
        self.no_log = true;
        self
    }
}

/// Ansible's `add_file_common_args`: mode, owner, group, SELinux fields, attributes.
pub const FILE_COMMON: &[Arg] = &[
    Arg::raw("mode"),
    Arg::str("owner"),
    Arg::str("group"),
    Arg::str("seuser"),
    Arg::str("serole"),
    Arg::str("selevel"),
    Arg::str("setype"),
    Arg::bool("unsafe_writes", false),
    Arg::str("attributes").aliases(&["attr"]),
];

/// Validated, coerced parameters: canonical name → value. Absent optional parameters
/// without a default are not present (`None`, not an error).
#[derive(Debug, Clone, Default)]
pub struct Args {
    values: IndexMap<&'static str, Value>,
}

impl Args {
    /// Ansible's `invocation.module_args` (the module's `params` after validation): the
    /// keys given (aliases as given, internal `_ansible_*` keys left out), then every
    /// parameter of the spec in its order, `None` where unset; a `no_log` parameter's value
    /// is masked as Ansible masks it.
    pub fn module_args(&self, specs: &[&[Arg]], raw: &IndexMap<String, Value>) -> Value {
        let all = || specs.iter().flat_map(|s| s.iter());
        let value = |a: &Arg| {
            let v = self.values.get(a.name).cloned().unwrap_or(Value::from(()));
            if a.no_log && !v.is_none() {
                Value::from("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER")
            } else {
                v
            }
        };
        let mut out: IndexMap<String, Value> = IndexMap::new();
        for key in raw.keys() {
            if let Some(a) = all().find(|a| a.name == key || a.aliases.contains(&key.as_str())) {
                out.insert(key.clone(), value(a));
            }
        }
        for a in all() {
            if !out.contains_key(a.name) {
                out.insert(a.name.to_string(), value(a));
            }
        }
        Value::from_pairs(out)
    }

    /// Given at all, even as `None` (at load time a templated value is `None`: it is
    /// known only when the task runs).
    pub fn given(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name).filter(|v| !v.is_none())
    }
    pub fn str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| v.as_str())
    }
    pub fn string(&self, name: &str) -> Option<String> {
        self.str(name).map(str::to_string)
    }
    pub fn bool(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v.is_true())
    }
    /// A bool that was left unset is `None` (for tri-state parameters).
    pub fn opt_bool(&self, name: &str) -> Option<bool> {
        self.get(name).map(|v| v.is_true())
    }
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(|v| i64::try_from(v.clone()).ok())
    }
    pub fn list(&self, name: &str) -> Vec<Value> {
        self.get(name)
            .and_then(|v| v.try_iter().ok())
            .map(|it| it.collect())
            .unwrap_or_default()
    }
    pub fn list_str(&self, name: &str) -> Vec<String> {
        self.list(name).iter().map(value_to_string).collect()
    }
    pub fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.values.iter().map(|(k, v)| (*k, v))
    }
    pub fn set(&mut self, name: &'static str, v: Value) {
        self.values.insert(name, v);
    }
}

/// The string form Python's `str()` would give a scalar (`True`, `1.5`, `None`).
pub fn value_to_string(v: &Value) -> String {
    match v.kind() {
        ValueKind::Bool => {
            if v.is_true() {
                "True".into()
            } else {
                "False".into()
            }
        }
        ValueKind::None | ValueKind::Undefined => "None".into(),
        _ => v.to_string(),
    }
}

/// Ansible's `boolean()`.
pub fn to_bool(v: &Value) -> Option<bool> {
    match v.kind() {
        ValueKind::Bool => Some(v.is_true()),
        ValueKind::Number => {
            let f = f64::try_from(v.clone()).ok()?;
            if f == 1.0 {
                Some(true)
            } else if f == 0.0 {
                Some(false)
            } else {
                None
            }
        }
        ValueKind::String => {
            let s = v.as_str()?.trim().to_ascii_lowercase();
            match s.as_str() {
                "y" | "yes" | "on" | "1" | "true" | "t" | "1.0" => Some(true),
                "n" | "no" | "off" | "0" | "false" | "f" | "0.0" | "" => Some(false),
                _ => None,
            }
        }
        ValueKind::None => Some(false),
        _ => None,
    }
}

fn type_error(name: &str, v: &Value, ty: &str) -> ModuleError {
    ModuleError::new(format!(
        "argument '{name}' is of type {} and we were unable to convert to {ty}",
        python_type(v)
    ))
}

/// Python's name for a value's type, for messages.
pub fn python_type(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::Bool => "bool",
        ValueKind::Number => {
            if v.is_integer() {
                "int"
            } else {
                "float"
            }
        }
        ValueKind::String => "str",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        ValueKind::None | ValueKind::Undefined => "NoneType",
        _ => "object",
    }
}

fn coerce(name: &str, ty: Ty, v: &Value) -> Result<Value, ModuleError> {
    if v.is_none() {
        return Ok(Value::from(()));
    }
    Ok(match ty {
        Ty::Raw => v.clone(),
        Ty::Str | Ty::Path => match v.kind() {
            ValueKind::String => {
                let s = v.as_str().unwrap_or_default();
                if ty == Ty::Path {
                    Value::from(expand_path(s))
                } else {
                    v.clone()
                }
            }
            ValueKind::Bool | ValueKind::Number => Value::from(value_to_string(v)),
            // Ansible 2.21's check_type_str converts anything else with Python's str()
            // (a dict becomes "{'a': 1}"): allow_conversion is on for module arguments.
            ValueKind::Map | ValueKind::Seq => {
                let s = agent_template::filters::pyfmt::py_repr(v);
                if ty == Ty::Path {
                    Value::from(expand_path(&s))
                } else {
                    Value::from(s)
                }
            }
            _ => return Err(type_error(name, v, "str")),
        },
        Ty::Bool => match to_bool(v) {
            Some(b) => Value::from(b),
            None => {
                return Err(ModuleError::new(format!(
                    "argument '{name}' is of type {} and we were unable to convert to bool: The value '{}' is not a valid boolean.  Valid booleans include: 0, 'on', 'f', 'false', 1, 'no', 'n', '1', '0', 't', 'y', 'off', 'yes', 'true'",
                    python_type(v),
                    value_to_string(v)
                )));
            }
        },
        Ty::Int => match v.kind() {
            ValueKind::Number if v.is_integer() => v.clone(),
            ValueKind::Number => {
                let f = f64::try_from(v.clone()).map_err(|_| type_error(name, v, "int"))?;
                if f.fract() == 0.0 {
                    Value::from(f as i64)
                } else {
                    return Err(type_error(name, v, "int"));
                }
            }
            ValueKind::String => Value::from(
                v.as_str()
                    .unwrap_or_default()
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| type_error(name, v, "int"))?,
            ),
            _ => return Err(type_error(name, v, "int")),
        },
        Ty::Float => match v.kind() {
            ValueKind::Number => {
                Value::from(f64::try_from(v.clone()).map_err(|_| type_error(name, v, "float"))?)
            }
            ValueKind::String => Value::from(
                v.as_str()
                    .unwrap_or_default()
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| type_error(name, v, "float"))?,
            ),
            _ => return Err(type_error(name, v, "float")),
        },
        Ty::List => match v.kind() {
            ValueKind::Seq | ValueKind::Iterable => Value::from(
                v.try_iter()
                    .map(|it| it.collect::<Vec<_>>())
                    .unwrap_or_default(),
            ),
            ValueKind::String => {
                let s = v.as_str().unwrap_or_default();
                if s.is_empty() {
                    Value::from(Vec::<Value>::new())
                } else {
                    Value::from(
                        s.split(',')
                            .map(|p| Value::from(p.trim()))
                            .collect::<Vec<_>>(),
                    )
                }
            }
            ValueKind::Number | ValueKind::Bool => {
                Value::from(vec![Value::from(value_to_string(v))])
            }
            _ => return Err(type_error(name, v, "list")),
        },
        Ty::Dict => match v.kind() {
            ValueKind::Map => v.clone(),
            ValueKind::String => {
                let s = v.as_str().unwrap_or_default().trim();
                if s.starts_with('{') {
                    let j: serde_json::Value =
                        serde_json::from_str(s).map_err(|_| type_error(name, v, "dict"))?;
                    Value::from(minijinja::value::Serde(&j))
                } else {
                    let mut m = IndexMap::new();
                    for part in s.split([',', ' ']).filter(|p| !p.is_empty()) {
                        let (k, val) = part
                            .split_once('=')
                            .ok_or_else(|| type_error(name, v, "dict"))?;
                        m.insert(k.trim().to_string(), Value::from(val.trim()));
                    }
                    Value::from_pairs(m)
                }
            }
            _ => return Err(type_error(name, v, "dict")),
        },
    })
}

/// Ansible's `type='path'`: `$VAR`/`${VAR}` from the environment (Python's
/// `os.path.expandvars`; the become user's `HOME`, `USER`, `LOGNAME` and `SHELL` while a
/// task runs as that user, as `sudo -H` sets them), then `~`.
pub fn expand_path(s: &str) -> String {
    let env = |k: &str| {
        if let Some(id) = crate::host::creds::active() {
            match k {
                "HOME" => return Some(id.home.clone()),
                "USER" | "LOGNAME" => return Some(id.name.clone()),
                "SHELL" if !id.shell.is_empty() => return Some(id.shell.clone()),
                _ => {}
            }
        }
        std::env::var(k).ok()
    };
    expand_user(&crate::command::expandvars(s, &env))
}

/// `~` and `~/...` expanded with $HOME (the agent runs as root: /root), or with the
/// become user's home while a task runs as that user (`sudo -H`).
pub fn expand_user(s: &str) -> String {
    if s == "~" || s.starts_with("~/") {
        let home = crate::host::creds::home();
        format!("{home}{}", &s[1..])
    } else {
        s.to_string()
    }
}

/// The closest names to `name` among `candidates` (edit distance), best first.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| (levenshtein(name, c), c))
        .filter(|(d, c)| *d <= (c.len().max(name.len()) / 3).max(2))
        .collect();
    scored.sort();
    scored.into_iter().map(|(_, c)| c).take(3).collect()
}

pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Parse raw task arguments against a module's spec.
pub fn parse(
    module: &str,
    specs: &[&[Arg]],
    raw: &IndexMap<String, Value>,
) -> Result<Args, ModuleError> {
    let all = || specs.iter().flat_map(|s| s.iter());
    let mut args = Args::default();
    let mut unknown = Vec::new();
    for (key, value) in raw {
        // Internal parameters Ansible passes to some modules.
        if key.starts_with('_') && !all().any(|a| a.name == key) {
            continue;
        }
        let Some(arg) = all().find(|a| a.name == key || a.aliases.contains(&key.as_str())) else {
            unknown.push(key.as_str());
            continue;
        };
        if args.values.contains_key(arg.name) && arg.name != key {
            // Both the name and an alias given: the name wins, as Ansible warns.
            continue;
        }
        let v = coerce(key, arg.ty, value)?;
        if !arg.choices.is_empty() && !v.is_none() {
            let s = value_to_string(&v);
            let ok = match v.kind() {
                ValueKind::Seq => v
                    .try_iter()
                    .into_iter()
                    .flatten()
                    .all(|i| arg.choices.contains(&value_to_string(&i).as_str())),
                _ => arg.choices.contains(&s.as_str()),
            };
            if !ok {
                return Err(ModuleError::new(format!(
                    "value of {key} must be one of: {}, got: {s}",
                    arg.choices.join(", ")
                )));
            }
        }
        args.values.insert(arg.name, v);
    }
    if !unknown.is_empty() {
        let mut names: Vec<String> = all()
            .map(|a| {
                if a.aliases.is_empty() {
                    a.name.to_string()
                } else {
                    format!("{} ({})", a.name, a.aliases.join(", "))
                }
            })
            .collect();
        names.sort();
        let hints: Vec<String> = unknown
            .iter()
            .filter_map(|u| {
                let c = closest(
                    u,
                    all().flat_map(|a| std::iter::once(a.name).chain(a.aliases.iter().copied())),
                );
                c.first().map(|c| format!("'{u}' (did you mean '{c}'?)"))
            })
            .collect();
        let mut msg = format!(
            "Unsupported parameters for ({module}) module: {}. Supported parameters include: {}.",
            unknown.join(", "),
            names.join(", ")
        );
        if !hints.is_empty() {
            msg.push_str(&format!(" Closest: {}.", hints.join(", ")));
        }
        return Err(ModuleError::new(msg));
    }
    let missing: Vec<&str> = all()
        .filter(|a| a.required && !args.values.contains_key(a.name))
        .map(|a| a.name)
        .collect();
    if !missing.is_empty() {
        return Err(ModuleError::new(format!(
            "missing required arguments: {}",
            missing.join(", ")
        )));
    }
    for a in all() {
        if !args.values.contains_key(a.name)
            && let Some(d) = a.default
        {
            args.values.insert(
                a.name,
                match d {
                    Def::Str(s) => Value::from(s),
                    Def::Bool(b) => Value::from(b),
                    Def::Int(i) => Value::from(i),
                },
            );
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_expand_variables_then_home() {
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(expand_path("${PATH}/x"), format!("{path}/x"));
        assert_eq!(expand_path("$PATH"), path);
        // An unknown variable stays as written (Python's expandvars).
        assert_eq!(
            expand_path("/a/$AGENT_NO_SUCH_VARIABLE/b"),
            "/a/$AGENT_NO_SUCH_VARIABLE/b"
        );
        assert!(!expand_path("~/x").starts_with('~'));
    }

    const SPEC: &[Arg] = &[
        Arg::path("path").required().aliases(&["dest", "name"]),
        Arg::str("state").choices(&["file", "absent"]),
        Arg::bool("force", false),
        Arg::list("items"),
    ];

    fn raw(pairs: &[(&str, Value)]) -> IndexMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn aliases_defaults_and_coercion() {
        let a = parse(
            "file",
            &[SPEC],
            &raw(&[
                ("dest", Value::from("/x")),
                ("force", Value::from("yes")),
                ("items", Value::from("a, b")),
            ]),
        )
        .unwrap();
        assert_eq!(a.str("path"), Some("/x"));
        assert!(a.bool("force"));
        assert_eq!(a.list_str("items"), vec!["a", "b"]);
        assert_eq!(a.str("state"), None);
    }

    #[test]
    fn a_dict_or_list_given_for_a_string_becomes_its_python_str() {
        let item = Value::from_pairs(vec![("path", Value::from("/tmp/x")), ("n", Value::from(1))]);
        let a = parse("file", &[SPEC], &raw(&[("path", item)])).unwrap();
        assert_eq!(a.str("path"), Some("{'path': '/tmp/x', 'n': 1}"));
        let a = parse(
            "file",
            &[SPEC],
            &raw(&[(
                "path",
                Value::from(vec![Value::from("a"), Value::from(true)]),
            )]),
        )
        .unwrap();
        assert_eq!(a.str("path"), Some("['a', True]"));
    }

    #[test]
    fn unknown_parameter_names_the_closest() {
        let e = parse(
            "file",
            &[SPEC],
            &raw(&[("path", Value::from("/x")), ("stat", Value::from("file"))]),
        )
        .unwrap_err();
        assert!(
            e.msg
                .contains("Unsupported parameters for (file) module: stat"),
            "{}",
            e.msg
        );
        assert!(e.msg.contains("did you mean 'state'"), "{}", e.msg);
    }

    #[test]
    fn missing_required_and_bad_choice() {
        let e = parse("file", &[SPEC], &raw(&[])).unwrap_err();
        assert_eq!(e.msg, "missing required arguments: path");
        let e = parse(
            "file",
            &[SPEC],
            &raw(&[("path", Value::from("/x")), ("state", Value::from("dir"))]),
        )
        .unwrap_err();
        assert_eq!(
            e.msg,
            "value of state must be one of: file, absent, got: dir"
        );
    }

    #[test]
    fn bad_boolean() {
        let e = parse(
            "file",
            &[SPEC],
            &raw(&[("path", Value::from("/x")), ("force", Value::from("maybe"))]),
        )
        .unwrap_err();
        assert!(e.msg.contains("is not a valid boolean"));
    }
}
