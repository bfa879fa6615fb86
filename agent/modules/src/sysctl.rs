//! The `sysctl` module (ansible.posix.sysctl): a `key=value` line kept in a sysctl file,
//! the running value set through /proc/sys (`sysctl_set`), and the file applied like
//! `sysctl -p FILE` (`reload`). No `sysctl` process is spawned.

use std::path::{Path, PathBuf};

use crate::host::fs::{self as hfs, FileAttrs};
use crate::host::sysctl as hsys;
use crate::spec::{Arg, Args, Def, Ty};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap};

pub struct Sysctl;

const PROC_SYS: &str = "/proc/sys";

const SPEC: &[Arg] = &[
    Arg::str("name").required().aliases(&["key"]),
    Arg::str("value").aliases(&["val"]),
    Arg::str("state")
        .default(Def::Str("present"))
        .choices(&["present", "absent"]),
    Arg::bool("reload", true),
    Arg::bool("sysctl_set", false),
    Arg::bool("ignoreerrors", false),
    Arg::new("sysctl_file", Ty::Path).default(Def::Str("/etc/sysctl.conf")),
];

/// What the module reads: the running value and the file.
#[derive(Debug)]
pub struct Observed {
    /// `sysctl -e -n` output: empty for a missing key, `None` when unreadable.
    proc_value: Option<String>,
    /// The file's lines (`None` when it is not a regular file).
    file: Option<String>,
    /// Where the file is written: the path with links resolved.
    real: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Write the running value.
    SetProc { name: String, value: String },
    /// Rewrite the file with this content.
    WriteFile(String),
    /// Apply the whole file (`sysctl -p`).
    Reload,
}

const BOOL_TRUE: &[&str] = &["y", "yes", "on", "1", "true", "t", "1.0"];
const BOOL_FALSE: &[&str] = &["n", "no", "off", "0", "false", "f", "0.0"];

/// Ansible's `_parse_value`: booleans become `1`/`0`, other strings are trimmed.
fn parse_value(v: Option<&str>) -> String {
    match v {
        None => String::new(),
        Some(s) => {
            let l = s.to_lowercase();
            if BOOL_TRUE.contains(&l.as_str()) {
                "1".into()
            } else if BOOL_FALSE.contains(&l.as_str()) {
                "0".into()
            } else {
                s.trim().to_string()
            }
        }
    }
}

/// Whitespace-split equality (`_values_is_equal`).
fn values_equal(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| a.split_whitespace().eq(b.split_whitespace()))
}

/// The file's values and the rewritten content (`read_sysctl_file` + `fix_lines`):
/// every `k = v` line is normalised to `k=v`, a key's later duplicates dropped, the
/// task's key set (or removed) and appended when missing.
fn fix_lines(text: &str, name: &str, value: &str, present: bool) -> (Option<String>, String) {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut file_value: Option<String> = None;
    for l in &lines {
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if let Some((k, v)) = l.split_once('=')
            && k.trim() == name
        {
            file_value = Some(v.trim().to_string());
        }
    }
    let mut out = String::new();
    let mut checked: Vec<String> = Vec::new();
    for l in &lines {
        let Some((k, v)) = l
            .split_once('=')
            .filter(|_| !(l.is_empty() || l.starts_with('#') || l.starts_with(';')))
        else {
            out.push_str(l);
            out.push('\n');
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if checked.iter().any(|c| c == k) {
            continue;
        }
        checked.push(k.to_string());
        if k == name {
            if present {
                out.push_str(&format!("{k}={value}\n"));
            }
        } else {
            out.push_str(&format!("{k}={v}\n"));
        }
    }
    if present && !checked.iter().any(|c| c == name) {
        out.push_str(&format!("{name}={value}\n"));
    }
    (file_value, out)
}

impl Module for Sysctl {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = Observed;
    type Op = Op;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        let name = args.str("name").unwrap_or_default().trim().to_string();
        let file = PathBuf::from(args.str("sysctl_file").unwrap_or("/etc/sysctl.conf"));
        let text = if file.is_file() {
            Some(
                std::fs::read(&file)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .map_err(|e| {
                        ModuleError::new(format!("Failed to open {}: {e}", file.display()))
                    })?,
            )
        } else {
            None
        };
        Ok(Observed {
            proc_value: hsys::read(Path::new(PROC_SYS), &name),
            file: text,
            real: std::fs::canonicalize(&file).unwrap_or(file),
        })
    }

    fn plan(args: &Args, o: &Observed, _ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        let state = args.str("state").unwrap_or("present");
        let present = state == "present";
        let raw_name = args.str("name").unwrap_or_default();
        // required_if counts a `value` given as null; the module then refuses it.
        if present && !args.given("value") {
            return Err(ModuleError::new(
                "state is present but all of the following are missing: value",
            ));
        }
        if present && !args.is_set("value") {
            return Err(ModuleError::new("value cannot be None"));
        }
        if raw_name.is_empty() {
            return Err(ModuleError::new("name cannot be blank"));
        }
        if present && args.str("value") == Some("") {
            return Err(ModuleError::new("value cannot be blank"));
        }
        let name = raw_name.trim().to_string();
        let value = parse_value(args.str("value"));
        let (file_value, fixed) =
            fix_lines(o.file.as_deref().unwrap_or(""), &name, &value, present);

        let mut changed = false;
        let mut write_file = false;
        let mut set_proc = false;
        match (&file_value, present) {
            (None, true) => {
                changed = true;
                write_file = true;
            }
            (None, false) => {}
            (Some(v), false) => {
                // Python's truthiness: an empty value counts as no value.
                if !v.is_empty() {
                    changed = true;
                    write_file = true;
                }
            }
            (Some(v), true) if *v != value => {
                changed = true;
                write_file = true;
            }
            _ => {
                if args.bool("reload") && !values_equal(o.proc_value.as_deref(), &value) {
                    changed = true;
                }
            }
        }
        if args.bool("sysctl_set") && present {
            match &o.proc_value {
                None => changed = true,
                Some(cur) if !values_equal(Some(cur), &value) => {
                    changed = true;
                    set_proc = true;
                }
                _ => {}
            }
        }
        let mut plan = Plan::default();
        if set_proc {
            plan.ops.push(Op::SetProc {
                name: name.clone(),
                value: value.clone(),
            });
        }
        if write_file {
            plan.ops.push(Op::WriteFile(fixed));
        }
        if changed && args.bool("reload") {
            plan.ops.push(Op::Reload);
        }
        plan.set("changed", changed);
        Ok(plan)
    }

    fn apply(
        args: &Args,
        o: Observed,
        plan: &Plan<Op>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let root = Path::new(PROC_SYS);
        let ignore = args.bool("ignoreerrors");
        for op in &plan.ops {
            match op {
                Op::SetProc { name, value } => {
                    hsys::write(root, name, value, ignore)
                        .map_err(|e| ModuleError::new(format!("setting {name} failed: {e}")))?;
                }
                Op::WriteFile(content) => {
                    hfs::atomic_write(&o.real, content.as_bytes(), &FileAttrs::default())
                        .map_err(|e| ModuleError::io("Failed to write to file", &o.real, &e))?;
                }
                Op::Reload => {
                    let file = PathBuf::from(args.str("sysctl_file").unwrap_or("/etc/sysctl.conf"));
                    hsys::apply_file(root, &file, ignore)
                        .map_err(|e| ModuleError::new(format!("Failed to reload sysctl: {e}")))?;
                }
            }
        }
        Ok(ResultMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;
    use indexmap::IndexMap;

    fn args(pairs: &[(&str, Value)]) -> Args {
        let raw: IndexMap<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        crate::spec::parse("sysctl", Sysctl::SPECS, &raw).unwrap()
    }

    fn obs(proc_value: Option<&str>, file: Option<&str>) -> Observed {
        Observed {
            proc_value: proc_value.map(String::from),
            file: file.map(String::from),
            real: PathBuf::from("/etc/sysctl.d/x.conf"),
        }
    }

    fn plan(a: &Args, o: &Observed) -> Plan<Op> {
        crate::testctx::with_ctx(false, |ctx| Sysctl::plan(a, o, ctx)).unwrap()
    }

    #[test]
    fn values() {
        assert_eq!(parse_value(Some("yes")), "1");
        assert_eq!(parse_value(Some("False")), "0");
        assert_eq!(parse_value(Some(" 4096 ")), "4096");
        assert!(values_equal(Some("32768\t60999\n"), "32768 60999"));
        assert!(!values_equal(None, "1"));
        assert!(!values_equal(Some(""), "1"));
    }

    #[test]
    fn file_editing_like_ansible() {
        let text = "# keep\n net.a = 1 \n\nnet.b=2\nnet.a=3\n; semi\nnoeq\n";
        let (v, out) = fix_lines(text, "net.b", "5", true);
        assert_eq!(v.as_deref(), Some("2"));
        assert_eq!(out, "# keep\nnet.a=1\n\nnet.b=5\n; semi\nnoeq\n");
        let (v, out) = fix_lines(text, "net.a", "", false);
        assert_eq!(v.as_deref(), Some("3"));
        assert_eq!(out, "# keep\n\nnet.b=2\n; semi\nnoeq\n");
        let (v, out) = fix_lines("", "net.c", "7", true);
        assert_eq!((v, out.as_str()), (None, "net.c=7\n"));
    }

    #[test]
    fn persist_without_setting() {
        let a = args(&[
            ("name", Value::from("net.core.somaxconn")),
            ("value", Value::from(1024)),
            ("sysctl_set", Value::from(false)),
            ("reload", Value::from(false)),
            ("sysctl_file", Value::from("/etc/sysctl.d/x.conf")),
        ]);
        let p = plan(&a, &obs(Some("4096\n"), None));
        assert_eq!(
            p.ops,
            vec![Op::WriteFile("net.core.somaxconn=1024\n".into())]
        );
        let p = plan(&a, &obs(Some("4096\n"), Some("net.core.somaxconn=1024\n")));
        assert!(p.ops.is_empty());
        assert_eq!(p.result.get("changed"), Some(&Value::from(false)));
    }

    #[test]
    fn set_and_reload() {
        let a = args(&[
            ("name", Value::from("net.ipv4.ip_forward")),
            ("value", Value::from(true)),
            ("sysctl_set", Value::from(true)),
        ]);
        let p = plan(&a, &obs(Some("0\n"), Some("net.ipv4.ip_forward=1\n")));
        assert_eq!(
            p.ops,
            vec![
                Op::SetProc {
                    name: "net.ipv4.ip_forward".into(),
                    value: "1".into()
                },
                Op::Reload
            ]
        );
        let p = plan(&a, &obs(Some("1\n"), Some("net.ipv4.ip_forward=1\n")));
        assert!(p.ops.is_empty());
    }

    #[test]
    fn absent_and_required() {
        let a = args(&[
            ("name", Value::from("net.x")),
            ("state", Value::from("absent")),
            ("reload", Value::from(false)),
        ]);
        assert!(plan(&a, &obs(Some(""), Some("a=1\n"))).ops.is_empty());
        let p = plan(&a, &obs(Some(""), Some("a=1\nnet.x=2\n")));
        assert_eq!(p.ops, vec![Op::WriteFile("a=1\n".into())]);
        let bad = args(&[("name", Value::from("net.x"))]);
        let e = crate::testctx::with_ctx(false, |ctx| Sysctl::plan(&bad, &obs(None, None), ctx))
            .unwrap_err();
        assert_eq!(
            e.msg,
            "state is present but all of the following are missing: value"
        );
        let null = args(&[("name", Value::from("net.x")), ("value", Value::from(()))]);
        let e = crate::testctx::with_ctx(false, |ctx| Sysctl::plan(&null, &obs(None, None), ctx))
            .unwrap_err();
        assert_eq!(e.msg, "value cannot be None");
    }
}
