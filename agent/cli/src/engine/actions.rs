//! Actions the engine carries out itself (they change variables or control flow, not the
//! host): debug, set_fact, assert, fail, meta, include_vars, pause, the includes and
//! imports, and fact gathering. Their parameters are checked like a module's.

use agent_modules::ModuleError;
use agent_modules::spec::{self, Arg, Def};
use indexmap::IndexMap;
use minijinja::Value;

/// One engine action.
pub struct Action {
    pub name: &'static str,
    pub free_form: bool,
    /// None: any parameter is accepted (set_fact).
    pub spec: Option<&'static [Arg]>,
}

const DEBUG: &[Arg] = &[
    Arg::raw("msg"),
    Arg::raw("var"),
    Arg::int("verbosity").default(Def::Int(0)),
];
const ASSERT: &[Arg] = &[
    Arg::raw("that").required(),
    Arg::raw("fail_msg").aliases(&["msg"]),
    Arg::raw("success_msg"),
    Arg::bool("quiet", false),
];
const FAIL: &[Arg] = &[Arg::raw("msg")];
const META: &[Arg] = &[Arg::str("_raw_params").required()];
const INCLUDE_VARS: &[Arg] = &[
    Arg::str("file"),
    Arg::str("_raw_params"),
    Arg::str("dir"),
    Arg::str("name"),
    Arg::int("depth"),
    Arg::str("files_matching"),
    Arg::list("ignore_files"),
    Arg::list("extensions"),
    Arg::bool("ignore_unknown_extensions", false),
    Arg::str("hash_behaviour").choices(&["replace", "merge"]),
];
const PAUSE: &[Arg] = &[
    Arg::raw("seconds"),
    Arg::raw("minutes"),
    Arg::str("prompt"),
    Arg::bool("echo", true),
];
const INCLUDE_TASKS: &[Arg] = &[Arg::str("file"), Arg::str("_raw_params"), Arg::raw("apply")];
const IMPORT_TASKS: &[Arg] = &[Arg::str("file"), Arg::str("_raw_params")];
const ROLE: &[Arg] = &[
    Arg::str("name").aliases(&["role"]),
    Arg::str("tasks_from"),
    Arg::str("vars_from"),
    Arg::str("defaults_from"),
    Arg::str("handlers_from"),
    Arg::bool("public", false),
    Arg::bool("allow_duplicates", true),
    Arg::raw("apply"),
    Arg::bool("rolespec_validate", true),
    // (accepted; a failing include_role is rescuable either way)
    Arg::bool("rescuable", true),
];
const SETUP: &[Arg] = &[
    Arg::list("gather_subset"),
    Arg::raw("filter"),
    Arg::int("gather_timeout"),
    Arg::str("fact_path"),
    Arg::bool("parallel", false),
];
const ASYNC_STATUS: &[Arg] = &[
    Arg::str("jid").required(),
    Arg::str("mode")
        .default(Def::Str("status"))
        .choices(&["status", "cleanup"]),
];
const PING: &[Arg] = &[Arg::str("data").default(Def::Str("pong"))];
const GROUP_BY: &[Arg] = &[Arg::str("key").required(), Arg::raw("parents")];
const SET_STATS: &[Arg] = &[
    Arg::raw("data").required(),
    Arg::bool("per_host", false),
    Arg::bool("aggregate", true),
];

/// ansible-core's internal debug action (its tests use it): expressions, not templates.
const PROTOMATTER_DEBUG: &[Arg] = &[Arg::list("expression").required()];

/// Every engine action.
pub static ACTIONS: &[Action] = &[
    Action {
        name: "ansible._protomatter.debug",
        free_form: false,
        spec: Some(PROTOMATTER_DEBUG),
    },
    Action {
        name: "debug",
        free_form: false,
        spec: Some(DEBUG),
    },
    Action {
        name: "set_fact",
        free_form: false,
        spec: None,
    },
    Action {
        name: "assert",
        free_form: false,
        spec: Some(ASSERT),
    },
    Action {
        name: "fail",
        free_form: false,
        spec: Some(FAIL),
    },
    Action {
        name: "meta",
        free_form: true,
        spec: Some(META),
    },
    Action {
        name: "include_vars",
        free_form: true,
        spec: Some(INCLUDE_VARS),
    },
    Action {
        name: "pause",
        free_form: false,
        spec: Some(PAUSE),
    },
    Action {
        name: "include_tasks",
        free_form: true,
        spec: Some(INCLUDE_TASKS),
    },
    Action {
        name: "import_tasks",
        free_form: true,
        spec: Some(IMPORT_TASKS),
    },
    Action {
        name: "include_role",
        free_form: false,
        spec: Some(ROLE),
    },
    Action {
        name: "import_role",
        free_form: false,
        spec: Some(ROLE),
    },
    Action {
        name: "setup",
        free_form: false,
        spec: Some(SETUP),
    },
    Action {
        name: "gather_facts",
        free_form: false,
        spec: Some(SETUP),
    },
    Action {
        name: "ping",
        free_form: false,
        spec: Some(PING),
    },
    Action {
        name: "async_status",
        free_form: false,
        spec: Some(ASYNC_STATUS),
    },
    Action {
        name: "set_stats",
        free_form: false,
        spec: Some(SET_STATS),
    },
    Action {
        name: "group_by",
        free_form: false,
        spec: Some(GROUP_BY),
    },
    // name/hostname/host, groups/group, and any variables for the new host.
    Action {
        name: "add_host",
        free_form: false,
        spec: None,
    },
];

pub fn find(name: &str) -> Option<&'static Action> {
    ACTIONS.iter().find(|a| a.name == name)
}

pub fn is_action(name: &str) -> bool {
    find(name).is_some()
}

pub fn is_free_form(name: &str) -> bool {
    find(name).is_some_and(|a| a.free_form)
}

/// Check an action's arguments (templated values already replaced by None).
pub fn validate(name: &str, args: &IndexMap<String, Value>) -> Result<(), ModuleError> {
    let Some(a) = find(name) else {
        return Err(ModuleError::new(format!(
            "couldn't resolve module/action '{name}'"
        )));
    };
    match a.spec {
        Some(s) => spec::parse(name, &[s], args).map(|_| ()),
        None => {
            if name == "add_host" {
                if !args
                    .keys()
                    .any(|k| matches!(k.as_str(), "name" | "hostname" | "host"))
                {
                    return Err(ModuleError::new("missing required arguments: name"));
                }
                return Ok(());
            }
            if name == "set_fact" {
                for k in args.keys() {
                    if k == "cacheable" {
                        continue;
                    }
                    // A templated name is checked when it is rendered.
                    if !is_identifier(k) && !k.contains("{{") {
                        return Err(ModuleError::new(format!(
                            "The variable name '{k}' is not valid. Variables must start with a letter or underscore character, and contain only letters, numbers and underscores."
                        )));
                    }
                }
                if args.is_empty() {
                    return Err(ModuleError::new(
                        "No key/value pairs provided, at least one is required for this action to succeed",
                    ));
                }
            }
            Ok(())
        }
    }
}

/// The checks Ansible's `include_vars` action makes of its arguments before it runs, with
/// its messages: unknown options, `file` and `dir` options mixed, `extensions` and
/// `ignore_files` that are not lists.
pub fn check_include_vars(args: &IndexMap<String, Value>) -> Result<(), String> {
    const DIR: &[&str] = &[
        "dir",
        "depth",
        "files_matching",
        "ignore_files",
        "extensions",
        "ignore_unknown_extensions",
    ];
    const FILE: &[&str] = &["file", "_raw_params"];
    const ALL: &[&str] = &["name", "hash_behaviour"];
    let (mut dirs, mut files) = (0, 0);
    for k in args.keys() {
        if DIR.contains(&k.as_str()) {
            dirs += 1;
        } else if FILE.contains(&k.as_str()) {
            files += 1;
        } else if !ALL.contains(&k.as_str()) {
            return Err(format!("{k} is not a valid option in include_vars"));
        }
    }
    if dirs > 0 && files > 0 {
        return Err(
            "You are mixing file only and dir only arguments, these are incompatible".into(),
        );
    }
    let is_list = |v: &Value| v.kind() == minijinja::value::ValueKind::Seq;
    if let Some(v) = args.get("extensions")
        && !is_list(v)
    {
        return Err("The 'extensions' option must be a list.".into());
    }
    if let Some(v) = args.get("ignore_files")
        && v.is_true()
        && !is_list(v)
        && v.as_str().is_none()
    {
        return Err("The 'ignore_files' option must be a list.".into());
    }
    Ok(())
}

/// Parse an action's arguments (after templating) into typed [`spec::Args`].
pub fn parse(name: &str, args: &IndexMap<String, Value>) -> Result<spec::Args, ModuleError> {
    match find(name).and_then(|a| a.spec) {
        Some(s) => spec::parse(name, &[s], args),
        None => Ok(spec::Args::default()),
    }
}

/// A valid Python identifier, as variable names must be.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// Meta actions.
pub const META_ACTIONS: &[&str] = &[
    "noop",
    "flush_handlers",
    "refresh_inventory",
    "clear_facts",
    "clear_host_errors",
    "end_play",
    "end_host",
    "end_batch",
    "end_role",
    "reset_connection",
    "role_complete",
];
