//! Modules that are not the agent's: a file in a `library/` directory (the playbook's, a
//! role's, `ANSIBLE_LIBRARY`) named as the task's action, run as Ansible runs a module
//! on a host, as a program that gets its arguments in a file and prints JSON.
//!
//! The styles are Ansible's (`module_common`):
//! - **new**: a Python module that imports `ansible.module_utils` (`AnsibleModule`). Run
//!   with the Python interpreter (`ansible_python_interpreter`, else
//!   `ANSIBLE_PYTHON_INTERPRETER`, else `/usr/bin/python3`) and `{"ANSIBLE_MODULE_ARGS":
//!   ARGS}` in a file named as its argument, which `AnsibleModule` reads as it does under
//!   `python -m ansible.modules.x args.json`. That interpreter must have ansible-core:
//!   the agent ships none of its Python (Ansible sends it along in the AnsiballZ zip).
//! - **want_json**: a script with `WANT_JSON` in it: the arguments as a JSON object, in a
//!   file named as its argument.
//! - **old**: any other script: the arguments as `k=v` words (values shell-quoted) in a
//!   file named as its argument.
//! - **binary**: a file with NUL bytes (even after a `#!` line: a zipapp): run directly,
//!   the arguments as JSON in a file.
//!
//! A script runs with the interpreter its `#!` line names, or the one the
//! `ansible_<name>_interpreter` variable gives. Its output is JSON (lines before the first
//! `{` and after the last `}` are left out, as Ansible's `_filter_non_json_lines` does);
//! output that is not JSON fails the task as in Ansible (`Module result deserialization
//! failed`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use indexmap::IndexMap;
use minijinja::Value;

use crate::{Ctx, ModuleError, ResultMap};

/// File name endings that are not modules (documentation, byte code, other platforms').
const NOT_MODULES: &[&str] = &[
    "pyc", "pyo", "md", "rst", "txt", "yml", "yaml", "json", "ps1", "psm1", "cs",
];

/// The file in `dirs` (in order) that module `name` names: `name` itself, or `name.EXT`.
pub fn find(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return None;
    }
    for dir in dirs {
        let exact = dir.join(name);
        if exact.is_file() {
            return Some(exact);
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_stem().is_some_and(|s| s == name)
                    && p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| !NOT_MODULES.contains(&e))
                    && p.is_file()
            })
            .collect();
        // `.py` first, then by name: the same file each run
        found.sort_by_key(|p| (p.extension().is_none_or(|e| e != "py"), p.clone()));
        if let Some(p) = found.into_iter().next() {
            return Some(p);
        }
    }
    None
}

/// How a module takes its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    New,
    WantJson,
    Old,
    Binary,
}

/// The style of a module whose file holds `data`.
pub fn style(data: &[u8]) -> Style {
    let has = |needle: &[u8]| data.windows(needle.len()).any(|w| w == needle);
    // (Ansible's `_is_binary` comes first: any file with non-text bytes)
    if data.contains(&0) {
        Style::Binary
    } else if has(b"from ansible.module_utils") || has(b"import ansible.module_utils") {
        Style::New
    } else if has(b"WANT_JSON") {
        Style::WantJson
    } else {
        Style::Old
    }
}

/// What the run needs to know beyond the module's own arguments.
pub struct Run<'a> {
    /// The action as written (`_ansible_module_name`).
    pub name: &'a str,
    pub no_log: bool,
    pub verbosity: u8,
    /// `ansible_<interp>_interpreter`: the variable's value for an interpreter's base name.
    pub interpreter_var: &'a dyn Fn(&str) -> Option<String>,
}

/// The interpreter and its arguments for a script whose first line is `first`.
fn interpreter(first: &str, run: &Run<'_>) -> Vec<String> {
    let words: Vec<String> = first
        .trim_start_matches("#!")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let Some(prog) = words.first() else {
        return Vec::new();
    };
    // `#!/usr/bin/env python3 -u`: the program is the word after env
    let (base, rest) = if Path::new(prog).file_name().is_some_and(|n| n == "env") && words.len() > 1
    {
        (words[1].clone(), words[2..].to_vec())
    } else {
        (
            Path::new(prog)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            words[1..].to_vec(),
        )
    };
    let kind = if base.starts_with("python") {
        "python".to_string()
    } else {
        base.clone()
    };
    let chosen = (run.interpreter_var)(&kind).or_else(|| {
        (kind == "python").then(|| {
            std::env::var("ANSIBLE_PYTHON_INTERPRETER")
                .ok()
                .filter(|v| !v.is_empty() && !v.starts_with("auto"))
                .unwrap_or_else(|| {
                    ["/usr/bin/python3", "/usr/bin/python"]
                        .into_iter()
                        .find(|p| Path::new(p).exists())
                        .unwrap_or("/usr/bin/python3")
                        .to_string()
                })
        })
    });
    match chosen {
        Some(i) => {
            let mut v: Vec<String> = i.split_whitespace().map(str::to_string).collect();
            v.extend(rest);
            v
        }
        None => words,
    }
}

/// Python's `shlex.quote`.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\"'\"'"))
    }
}

/// Python's `str()` of an argument, for old-style `k=v` files.
fn py_str(v: &Value) -> String {
    match v.kind() {
        minijinja::value::ValueKind::Bool => if v.is_true() { "True" } else { "False" }.to_string(),
        minijinja::value::ValueKind::None | minijinja::value::ValueKind::Undefined => {
            "None".to_string()
        }
        minijinja::value::ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        _ => agent_template::py_str(v),
    }
}

/// Run the module at `path` with `args` (already templated).
pub fn run(
    path: &Path,
    args: &IndexMap<String, Value>,
    ctx: &Ctx<'_>,
    run: &Run<'_>,
) -> Result<ResultMap, ModuleError> {
    let data = std::fs::read(path)
        .map_err(|e| ModuleError::new(format!("could not read module {}: {e}", path.display())))?;
    let style = style(&data);
    let tmp = tempfile::Builder::new()
        .prefix("agent-module-")
        .tempdir()
        .map_err(|e| ModuleError::new(format!("could not make a directory for the module: {e}")))?;
    // The internal arguments Ansible's action adds, in its order.
    let mut all: IndexMap<String, Value> = args.clone();
    let internal: [(&str, Value); 18] = [
        ("_ansible_check_mode", Value::from(ctx.check_mode)),
        ("_ansible_no_log", Value::from(run.no_log)),
        ("_ansible_debug", Value::from(false)),
        ("_ansible_diff", Value::from(ctx.diff_mode)),
        ("_ansible_verbosity", Value::from(run.verbosity)),
        ("_ansible_version", Value::from(crate::ANSIBLE_VERSION)),
        ("_ansible_module_name", Value::from(run.name)),
        ("_ansible_syslog_facility", Value::from("LOG_USER")),
        (
            "_ansible_selinux_special_fs",
            Value::from(vec!["fuse", "nfs", "vboxsf", "ramfs", "9p", "vfat"]),
        ),
        ("_ansible_socket", Value::from(())),
        ("_ansible_shell_executable", Value::from("/bin/sh")),
        ("_ansible_keep_remote_files", Value::from(false)),
        (
            "_ansible_tmpdir",
            Value::from(format!("{}/", tmp.path().display())),
        ),
        ("_ansible_remote_tmp", Value::from("~/.ansible/tmp")),
        ("_ansible_ignore_unknown_opts", Value::from(false)),
        ("_ansible_target_log_info", Value::from(())),
        ("_ansible_tracebacks_for", Value::from(Vec::<Value>::new())),
        ("_ansible_inject_invocation", Value::from(false)),
    ];
    for (k, v) in internal {
        all.insert(k.to_string(), v);
    }
    let json = |v: &IndexMap<String, Value>| -> Result<String, ModuleError> {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, PyJson);
        serde::Serialize::serialize(v, &mut ser)
            .map_err(|e| ModuleError::new(format!("module arguments are not JSON: {e}")))?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    };
    let text = match style {
        Style::New => format!("{{\"ANSIBLE_MODULE_ARGS\": {}}}", json(&all)?),
        Style::WantJson | Style::Binary => json(&all)?,
        Style::Old => all
            .iter()
            .map(|(k, v)| format!("{k}={} ", shell_quote(&py_str(v))))
            .collect(),
    };
    let args_file = tmp.path().join("args");
    std::fs::File::create(&args_file)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| ModuleError::new(format!("could not write the module's arguments: {e}")))?;
    let first = data.split(|b| *b == b'\n').next().unwrap_or_default();
    let mut argv: Vec<String> = match style {
        Style::Binary => Vec::new(),
        // a Python module needs no `#!` line (Ansible's AnsiballZ brings its own)
        Style::New if !first.starts_with(b"#!") => interpreter("#!/usr/bin/python", run),
        _ if first.starts_with(b"#!") => interpreter(&String::from_utf8_lossy(first), run),
        _ => Vec::new(),
    };
    if style == Style::Binary {
        // Run a copy that may be executed (as Ansible runs the copy it sends): the file
        // in `library/` need not have its execute bit.
        use std::os::unix::fs::PermissionsExt;
        let copy = tmp.path().join(path.file_name().unwrap_or_default());
        std::fs::write(&copy, &data)
            .and_then(|()| std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o700)))
            .map_err(|e| ModuleError::new(format!("could not copy the module to run it: {e}")))?;
        argv.push(copy.display().to_string());
    } else {
        argv.push(path.display().to_string());
    }
    argv.push(args_file.display().to_string());
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in ctx.environment {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| {
        ModuleError::new(format!(
            "The module failed to execute correctly, you probably need to set the interpreter.\nSee stdout/stderr for the exact error ({}: {e})",
            argv[0]
        ))
        .with("rc", Value::from(if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 }))
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let rc = out.status.code().unwrap_or(-1);
    let failure = |why: String| {
        ModuleError::new(format!("Module result deserialization failed: {why}"))
            .with("module_stdout", stdout.clone())
            .with("module_stderr", stderr.clone())
            .with("rc", rc)
    };
    let (text, warnings) = json_part(&stdout).map_err(|why| failure(why.to_string()))?;
    let obj = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(obj)) => obj,
        Ok(_) => return Err(failure("the module's output is not a JSON object".into())),
        Err(e) => return Err(failure(e.to_string())),
    };
    let mut r = ResultMap::new();
    for (k, v) in obj {
        // Ansible's internal keys stay between the module and the controller.
        if k.starts_with("_ansible_") {
            continue;
        }
        r.insert(k, agent_template::filters::pyfmt::from_json_value(v));
    }
    r.entry("changed".into()).or_insert(Value::from(false));
    summaries(&mut r, run.name);
    if !warnings.is_empty() {
        let mut all: Vec<Value> = r
            .get("warnings")
            .and_then(|w| w.try_iter().ok())
            .map(|w| w.collect())
            .unwrap_or_default();
        all.extend(warnings.into_iter().map(Value::from));
        r.insert("warnings".into(), Value::from(all));
    }
    Ok(r)
}

/// ansible-core 2.19+ modules report warnings and deprecations as tagged summaries
/// (`{"__ansible_type": "WarningSummary", "event": {"msg": …}}`); Ansible's controller
/// turns them back into what a result holds: a warning's text, a deprecation's
/// `msg`/`version`/`date` with its deprecator (the module, in `ansible.legacy`).
fn summaries(r: &mut ResultMap, module: &str) {
    let text = |v: &Value| -> Option<String> {
        let msg = v.get_attr("event").ok()?.get_attr("msg").ok()?;
        msg.as_str().map(str::to_string)
    };
    let tagged = |v: &Value, t: &str| {
        v.get_attr("__ansible_type")
            .ok()
            .is_some_and(|x| x.as_str() == Some(t))
    };
    if let Some(w) = r.get("warnings").and_then(|w| w.try_iter().ok()) {
        let list: Vec<Value> = w
            .map(|v| match text(&v) {
                Some(t) if tagged(&v, "WarningSummary") => Value::from(t),
                _ => v,
            })
            .collect();
        r.insert("warnings".into(), Value::from(list));
    }
    if let Some(d) = r.get("deprecations").and_then(|d| d.try_iter().ok()) {
        let short = module.rsplit('.').next().unwrap_or(module);
        let list: Vec<Value> = d
            .map(|v| match text(&v) {
                Some(t) if tagged(&v, "DeprecationSummary") => {
                    let mut m: IndexMap<String, Value> = IndexMap::new();
                    m.insert("collection_name".into(), Value::from("ansible.legacy"));
                    m.insert(
                        "deprecator".into(),
                        Value::from_pairs([
                            (
                                "resolved_name".to_string(),
                                Value::from(format!("ansible.legacy.{short}")),
                            ),
                            ("type".to_string(), Value::from("module")),
                        ]),
                    );
                    m.insert("msg".into(), Value::from(t));
                    for k in ["version", "date"] {
                        if let Ok(x) = v.get_attr(k)
                            && !x.is_undefined()
                            && !x.is_none()
                        {
                            m.insert(k.into(), x);
                        }
                    }
                    Value::from_pairs(m)
                }
                _ => v,
            })
            .collect();
        r.insert("deprecations".into(), Value::from(list));
    }
}

/// JSON as Python's `json.dumps` writes it by default: `, ` and `: ` between items.
struct PyJson;

impl serde_json::ser::Formatter for PyJson {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

/// The JSON object in a module's output, as Ansible's `_filter_non_json_lines` finds it
/// (objects only): from the first line that starts with `{` to the last line that ends
/// with `}`, and a warning when words follow it.
fn json_part(out: &str) -> Result<(String, Vec<String>), &'static str> {
    let lines: Vec<&str> = out.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim().starts_with('{'))
        .ok_or("No start of json char found")?;
    let rest = &lines[start..];
    let end = rest
        .iter()
        .rposition(|l| l.trim().ends_with('}'))
        .ok_or("No end of json char found")?;
    let trailing = &rest[end + 1..];
    let mut warnings = Vec::new();
    if trailing.iter().any(|l| !l.trim().is_empty()) {
        warnings.push(format!(
            "Module invocation had junk after the JSON data: {}",
            trailing.join("\n")
        ));
    }
    Ok((rest[..=end].join("\n"), warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_as_ansible_tells_them() {
        assert_eq!(
            style(b"#!/usr/bin/python\nfrom ansible.module_utils.basic import AnsibleModule\n"),
            Style::New
        );
        assert_eq!(style(b"#!/bin/sh\n# WANT_JSON\n"), Style::WantJson);
        assert_eq!(style(b"#!/bin/sh\necho '{}'\n"), Style::Old);
        assert_eq!(style(b"\x7fELF\x02\x00"), Style::Binary);
        assert_eq!(style(b"#!/usr/bin/python3\nPK\x03\x04\x00"), Style::Binary);
        assert_eq!(
            style(b"from ansible.module_utils.basic import AnsibleModule\n"),
            Style::New
        );
    }

    #[test]
    fn finds_the_module_file() {
        let d = tempfile::tempdir().unwrap();
        let lib = d.path().join("library");
        std::fs::create_dir(&lib).unwrap();
        std::fs::write(lib.join("hello.py"), "#!/usr/bin/python\n").unwrap();
        std::fs::write(lib.join("hello.md"), "docs").unwrap();
        std::fs::write(lib.join("plain"), "#!/bin/sh\n").unwrap();
        std::fs::write(lib.join("doc.yml"), "x").unwrap();
        let dirs = vec![d.path().join("missing"), lib.clone()];
        assert_eq!(find(&dirs, "hello"), Some(lib.join("hello.py")));
        assert_eq!(find(&dirs, "plain"), Some(lib.join("plain")));
        assert_eq!(find(&dirs, "doc"), None);
        assert_eq!(find(&dirs, "../library/plain"), None);
    }

    #[test]
    fn picks_the_interpreter() {
        let var = |k: &str| (k == "bash").then(|| "/opt/bash".to_string());
        let run = Run {
            name: "x",
            no_log: false,
            verbosity: 0,
            interpreter_var: &var,
        };
        assert_eq!(interpreter("#!/bin/bash -e", &run), ["/opt/bash", "-e"]);
        assert_eq!(interpreter("#!/usr/bin/env bash", &run), ["/opt/bash"]);
        assert_eq!(interpreter("#!/bin/sh", &run), ["/bin/sh"]);
        let py = interpreter("#!/usr/bin/env python", &run);
        assert!(py[0].contains("python"), "{py:?}");
    }

    #[test]
    fn summaries_become_what_a_result_holds() {
        let j: serde_json::Value = serde_json::from_str(
            r#"{"warnings": [{"event": {"msg": "w", "__ansible_type": "Event"}, "__ansible_type": "WarningSummary"}, "plain"],
                "deprecations": [{"event": {"msg": "d", "__ansible_type": "Event"}, "deprecator": {"resolved_name": null, "type": null}, "version": "9.9", "__ansible_type": "DeprecationSummary"}]}"#,
        )
        .unwrap();
        let mut r = ResultMap::new();
        if let serde_json::Value::Object(o) = j {
            for (k, v) in o {
                r.insert(k, agent_template::filters::pyfmt::from_json_value(v));
            }
        }
        summaries(&mut r, "ansible.legacy.noisy");
        assert_eq!(r["warnings"].to_string(), "['w', 'plain']");
        let d = r["deprecations"].get_item(&Value::from(0)).unwrap();
        assert_eq!(d.get_attr("msg").unwrap().as_str(), Some("d"));
        assert_eq!(d.get_attr("version").unwrap().as_str(), Some("9.9"));
        assert_eq!(
            d.get_attr("deprecator")
                .unwrap()
                .get_attr("resolved_name")
                .unwrap()
                .as_str(),
            Some("ansible.legacy.noisy")
        );
    }

    #[test]
    fn keeps_only_the_json_object() {
        let (text, warnings) = json_part("noise\n{\"a\": 1}\nmore").unwrap();
        assert_eq!(text, "{\"a\": 1}");
        assert_eq!(
            warnings,
            ["Module invocation had junk after the JSON data: more"]
        );
        assert_eq!(json_part("{\"a\":\n 1}\n\n").unwrap().1.len(), 0);
        assert_eq!(json_part("no json"), Err("No start of json char found"));
        assert_eq!(json_part("{ no end"), Err("No end of json char found"));
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("plain"), "plain");
        assert_eq!(shell_quote("it's"), "'it'\"'\"'s'");
    }
}
