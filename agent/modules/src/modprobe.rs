//! The `modprobe` module (community.general.modprobe): load or unload a kernel module
//! with the `modprobe` program, and keep it loaded across boots (`persistent`) with
//! /etc/modules-load.d/NAME.conf and /etc/modprobe.d/NAME.conf, as community.general 10
//! writes them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::command::shlex_split;
use crate::host::fs::{self as hfs, FileAttrs};
use crate::host::{kmod, run};
use crate::spec::{Arg, Args, Def};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap, Value};

pub struct Modprobe;

const SPEC: &[Arg] = &[
    Arg::str("name").required(),
    Arg::str("state")
        .default(Def::Str("present"))
        .choices(&["absent", "present"]),
    Arg::str("params").default(Def::Str("")),
    Arg::str("persistent")
        .default(Def::Str("disabled"))
        .choices(&["disabled", "present", "absent"]),
];

const MODULES_LOAD: &str = "/etc/modules-load.d";
const MODPROBE_D: &str = "/etc/modprobe.d";

/// A file of one of the two directories and its lines (with their newlines).
#[derive(Debug, Clone)]
pub struct ConfFile {
    path: PathBuf,
    lines: Vec<String>,
}

#[derive(Debug)]
pub struct Observed {
    modprobe: PathBuf,
    loaded: bool,
    modules_files: Vec<ConfFile>,
    modprobe_files: Vec<ConfFile>,
}

#[derive(Debug, PartialEq)]
pub enum Op {
    Load(Vec<String>),
    Unload(Vec<String>),
    /// Write a whole file (made, or with lines commented out).
    Write {
        path: PathBuf,
        content: String,
    },
}

fn read_dir_files(dir: &str) -> Result<Vec<ConfFile>, ModuleError> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let path = e.path();
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|err| ModuleError::new(kmod::errno_msg(&err, &path.display().to_string())))?;
        let text = crate::lineinfile::universal_newlines(text);
        out.push(ConfFile {
            path,
            lines: text.split_inclusive('\n').map(str::to_string).collect(),
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The patterns Ansible matches lines with (the name taken literally here).
struct Patterns {
    module: Regex,
    params: Regex,
}

impl Patterns {
    fn new(name: &str) -> Result<Patterns, ModuleError> {
        let n = regex::escape(name);
        let re = |s: String| {
            Regex::new(&s).map_err(|e| ModuleError::new(format!("bad module name: {e}")))
        };
        Ok(Patterns {
            module: re(format!(r"^ *{n} *(?:[#;].*)?$"))?,
            params: re(format!(r"^options {n} (\w+=\S+) *(?:[#;].*)?$"))?,
        })
    }
}

fn body(line: &str) -> &str {
    line.strip_suffix('\n').unwrap_or(line)
}

/// Lines matching `re` commented out, the file joined as Ansible joins it (`'\n'.join`
/// of lines that keep their newlines); `None` when nothing matches.
fn commented(f: &ConfFile, re: &Regex) -> Option<String> {
    let mut hit = false;
    let lines: Vec<String> = f
        .lines
        .iter()
        .map(|l| {
            if re.is_match(body(l)) {
                hit = true;
                format!("#{l}")
            } else {
                l.clone()
            }
        })
        .collect();
    hit.then(|| lines.join("\n"))
}

/// The planned operations for the observed state (Ansible's `main()`).
fn plan_ops(
    name: &str,
    params: &str,
    state: &str,
    persistent: &str,
    obs: &Observed,
) -> Result<Vec<Op>, ModuleError> {
    let pats = Patterns::new(name)?;
    let bin = obs.modprobe.display().to_string();
    let mut ops = Vec::new();
    let extra = shlex_split(params).map_err(ModuleError::new)?;
    if state == "present" && !obs.loaded {
        let mut argv = vec![bin.clone(), name.to_string()];
        argv.extend(extra);
        ops.push(Op::Load(argv));
    } else if state == "absent" && obs.loaded {
        ops.push(Op::Unload(vec![bin, "-r".into(), name.into()]));
    }
    let persisted = obs
        .modules_files
        .iter()
        .any(|f| f.lines.iter().any(|l| pats.module.is_match(body(l))));
    let permanent: BTreeSet<String> = obs
        .modprobe_files
        .iter()
        .flat_map(|f| f.lines.iter())
        .filter_map(|l| pats.params.captures(body(l)))
        .filter_map(|c| c.get(1).map(|m| m.as_str().to_string()))
        .collect();
    let desired: BTreeSet<String> = params.split_whitespace().map(str::to_string).collect();
    let params_set = desired == permanent;
    let disable_params = |ops: &mut Vec<Op>| {
        for f in &obs.modprobe_files {
            if let Some(content) = commented(f, &pats.params) {
                ops.push(Op::Write {
                    path: f.path.clone(),
                    content,
                });
            }
        }
    };
    if persistent == "present" && !(persisted && params_set) {
        if !persisted {
            ops.push(Op::Write {
                path: Path::new(MODULES_LOAD).join(format!("{name}.conf")),
                content: format!("{name}\n"),
            });
        }
        if !params_set {
            disable_params(&mut ops);
            let lines: Vec<String> = params
                .split_whitespace()
                .map(|p| format!("options {name} {p}"))
                .collect();
            ops.push(Op::Write {
                path: Path::new(MODPROBE_D).join(format!("{name}.conf")),
                content: lines.join("\n") + "\n",
            });
        }
    } else if persistent == "absent" && (persisted || !permanent.is_empty()) {
        if persisted {
            for f in &obs.modules_files {
                if let Some(content) = commented(f, &pats.module) {
                    ops.push(Op::Write {
                        path: f.path.clone(),
                        content,
                    });
                }
            }
        }
        if !permanent.is_empty() {
            disable_params(&mut ops);
        }
    }
    Ok(ops)
}

fn base_result(args: &Args) -> ResultMap {
    let mut r = ResultMap::new();
    for k in ["name", "params", "state"] {
        r.insert(k.into(), Value::from(args.str(k).unwrap_or_default()));
    }
    r
}

fn fail_cmd(args: &Args, out: &crate::command::CmdOutput) -> ModuleError {
    let mut e = ModuleError::new(out.stderr.clone())
        .with("rc", out.rc)
        .with("stdout", out.stdout.as_str())
        .with("stderr", out.stderr.as_str());
    e.fields.extend(base_result(args));
    e
}

impl Module for Modprobe {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = Observed;
    type Op = Op;

    fn observe(args: &Args, ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        let name = args.str("name").unwrap_or_default();
        let modprobe = run::require_bin("modprobe")?;
        let state = args.str("state").unwrap_or("present");
        let loaded_or_fail = || {
            kmod::loaded(name).map_err(|m| {
                let mut e = ModuleError::new(m);
                e.fields.extend(base_result(args));
                e
            })
        };
        let loaded = loaded_or_fail()?;
        // Ansible's check mode asks modprobe for a dry run (read only); it fails when
        // the module cannot be found.
        if ctx.check_mode && state == "present" && !loaded {
            let mut argv = vec![modprobe.display().to_string(), "-n".into(), name.into()];
            argv.extend(
                shlex_split(args.str("params").unwrap_or_default()).map_err(ModuleError::new)?,
            );
            let out = run::run(&argv)?;
            if out.rc != 0 {
                return Err(fail_cmd(args, &out));
            }
        }
        Ok(Observed {
            modprobe,
            loaded,
            modules_files: read_dir_files(MODULES_LOAD)?,
            modprobe_files: read_dir_files(MODPROBE_D)?,
        })
    }

    fn plan(args: &Args, obs: &Observed, _ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        let ops = plan_ops(
            args.str("name").unwrap_or_default(),
            args.str("params").unwrap_or_default(),
            args.str("state").unwrap_or("present"),
            args.str("persistent").unwrap_or("disabled"),
            obs,
        )?;
        let plan = Plan {
            ops,
            result: base_result(args),
            ..Plan::default()
        };
        Ok(plan)
    }

    fn apply(
        args: &Args,
        _obs: Observed,
        plan: &Plan<Op>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let mut out = ResultMap::new();
        let mut changed = false;
        let mut warnings = Vec::new();
        for op in &plan.ops {
            match op {
                Op::Load(argv) => {
                    let r = run::run(argv)?;
                    if r.rc != 0 {
                        return Err(fail_cmd(args, &r));
                    }
                    let name = args.str("name").unwrap_or_default();
                    if kmod::loaded(name).map_err(ModuleError::new)? {
                        changed = true;
                    } else {
                        // Ansible then reports no change, with modprobe's reason.
                        let mut probe = vec![argv[0].clone(), "-n".into(), "--first-time".into()];
                        probe.extend(argv[1..].iter().cloned());
                        let r = run::run(&probe)?;
                        if r.rc != 0 {
                            warnings.push(Value::from(r.stderr));
                        }
                    }
                }
                Op::Unload(argv) => {
                    let r = run::run(argv)?;
                    if r.rc != 0 {
                        return Err(fail_cmd(args, &r));
                    }
                    changed = true;
                }
                Op::Write { path, content } => {
                    hfs::atomic_write(path, content.as_bytes(), &FileAttrs::default()).map_err(
                        |e| ModuleError::new(kmod::errno_msg(&e, &path.display().to_string())),
                    )?;
                    changed = true;
                }
            }
        }
        out.insert("changed".into(), Value::from(changed));
        if !warnings.is_empty() {
            out.insert("warnings".into(), Value::from(warnings));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(path: &str, text: &str) -> ConfFile {
        ConfFile {
            path: PathBuf::from(path),
            lines: text.split_inclusive('\n').map(str::to_string).collect(),
        }
    }

    fn obs(loaded: bool, modules: Vec<ConfFile>, modprobe: Vec<ConfFile>) -> Observed {
        Observed {
            modprobe: PathBuf::from("/sbin/modprobe"),
            loaded,
            modules_files: modules,
            modprobe_files: modprobe,
        }
    }

    #[test]
    fn load_with_params() {
        let ops = plan_ops(
            "dummy",
            "numdummies=2",
            "present",
            "disabled",
            &obs(false, vec![], vec![]),
        )
        .unwrap();
        assert_eq!(
            ops,
            vec![Op::Load(vec![
                "/sbin/modprobe".into(),
                "dummy".into(),
                "numdummies=2".into()
            ])]
        );
        let none = plan_ops(
            "dummy",
            "",
            "present",
            "disabled",
            &obs(true, vec![], vec![]),
        )
        .unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn persistent_present_writes_both_files() {
        let old = conf(
            "/etc/modprobe.d/old.conf",
            "options dummy numdummies=1\nblacklist x\n",
        );
        let ops = plan_ops(
            "dummy",
            "numdummies=2",
            "present",
            "present",
            &obs(true, vec![], vec![old]),
        )
        .unwrap();
        assert_eq!(
            ops,
            vec![
                Op::Write {
                    path: "/etc/modules-load.d/dummy.conf".into(),
                    content: "dummy\n".into()
                },
                Op::Write {
                    path: "/etc/modprobe.d/old.conf".into(),
                    content: "#options dummy numdummies=1\n\nblacklist x\n".into()
                },
                Op::Write {
                    path: "/etc/modprobe.d/dummy.conf".into(),
                    content: "options dummy numdummies=2\n".into()
                },
            ]
        );
    }

    #[test]
    fn persistent_present_converged() {
        let m = conf("/etc/modules-load.d/dummy.conf", "dummy\n");
        let p = conf("/etc/modprobe.d/dummy.conf", "options dummy numdummies=2\n");
        let ops = plan_ops(
            "dummy",
            "numdummies=2",
            "present",
            "present",
            &obs(true, vec![m], vec![p]),
        )
        .unwrap();
        assert!(ops.is_empty());
    }

    #[test]
    fn persistent_absent_comments_out() {
        let m = conf("/etc/modules-load.d/dummy.conf", "dummy # keep\n");
        let ops = plan_ops(
            "dummy",
            "",
            "absent",
            "absent",
            &obs(false, vec![m], vec![]),
        )
        .unwrap();
        assert_eq!(
            ops,
            vec![Op::Write {
                path: "/etc/modules-load.d/dummy.conf".into(),
                content: "#dummy # keep\n".into()
            }]
        );
    }
}
