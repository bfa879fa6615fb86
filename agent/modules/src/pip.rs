//! The `pip` module (ansible.builtin.pip): Python packages, optionally in a virtualenv.
//! Observe reads the installed distributions from the interpreter's site directories
//! (host/python.rs: `*.dist-info` metadata; a virtualenv's are globbed, otherwise the
//! interpreter is asked once for its `sys.path`). Plan decides from the requirements
//! whether pip must run; apply creates the virtualenv (Ansible's `virtualenv_command`)
//! and runs one `pip install`/`uninstall` with every name the task gives.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::command::shlex_split;
use crate::host::python;
use crate::host::run::{bin_path, require_bin, run_in};
use crate::spec::{Arg, Args, Def};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap, Value};

pub struct Pip;

const SPEC: &[Arg] = &[
    Arg::str("state").default(Def::Str("present")).choices(&[
        "present",
        "absent",
        "latest",
        "forcereinstall",
    ]),
    Arg::list("name"),
    Arg::str("version"),
    Arg::str("requirements"),
    Arg::path("virtualenv"),
    Arg::bool("virtualenv_site_packages", false),
    Arg::path("virtualenv_command").default(Def::Str("virtualenv")),
    Arg::str("virtualenv_python"),
    Arg::str("extra_args"),
    Arg::bool("editable", false),
    Arg::path("chdir"),
    Arg::path("executable"),
    Arg::str("umask"),
    Arg::bool("break_system_packages", false),
];

// ---- PEP 440 versions and specifiers (what `packaging` does, for the common cases) ----

/// A parsed version: comparison key and release numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    epoch: u64,
    release: Vec<u64>,
    /// (0 a, 1 b, 2 rc, n)
    pre: Option<(u8, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
    local: Option<String>,
}

fn parse_version(s: &str) -> Option<Version> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_prefix('v').unwrap_or(&s);
    let (s, local) = match s.split_once('+') {
        Some((a, l)) => (a, Some(l.to_string())),
        None => (s, None),
    };
    let (epoch, s) = match s.split_once('!') {
        Some((e, r)) => (e.parse().ok()?, r),
        None => (0, s),
    };
    let rel_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let rel = s[..rel_end].trim_end_matches('.');
    let release: Vec<u64> = rel
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let mut rest = &s[rel_end..];
    let (mut pre, mut post, mut dev) = (None, None, None);
    let num = |r: &str| -> (u64, usize) {
        let r2 = r.trim_start_matches(['.', '-', '_']);
        let skip = r.len() - r2.len();
        let end = r2.find(|c: char| !c.is_ascii_digit()).unwrap_or(r2.len());
        (r2[..end].parse().unwrap_or(0), skip + end)
    };
    while !rest.is_empty() {
        let r = rest.trim_start_matches(['.', '-', '_']);
        let lead = rest.len() - r.len();
        let mut matched = false;
        for (word, kind) in [
            ("alpha", 0u8),
            ("beta", 1),
            ("preview", 2),
            ("pre", 2),
            ("rc", 2),
            ("a", 0),
            ("b", 1),
            ("c", 2),
        ] {
            if let Some(after) = r.strip_prefix(word) {
                let (n, used) = num(after);
                pre = Some((kind, n));
                rest = &rest[lead + word.len() + used..];
                matched = true;
                break;
            }
        }
        if matched {
            continue;
        }
        for word in ["post", "rev", "r"] {
            if let Some(after) = r.strip_prefix(word) {
                let (n, used) = num(after);
                post = Some(n);
                rest = &rest[lead + word.len() + used..];
                matched = true;
                break;
            }
        }
        if matched {
            continue;
        }
        if let Some(after) = r.strip_prefix("dev") {
            let (n, used) = num(after);
            dev = Some(n);
            rest = &rest[lead + 3 + used..];
            continue;
        }
        if lead > 0 && r.starts_with(|c: char| c.is_ascii_digit()) && rest.starts_with('-') {
            let (n, used) = num(r);
            post = Some(n);
            rest = &rest[lead + used..];
            continue;
        }
        return None;
    }
    Some(Version {
        epoch,
        release,
        pre,
        post,
        dev,
        local,
    })
}

impl Version {
    fn key(&self) -> (u64, Vec<u64>, (i8, u64), i64, u64) {
        let mut rel = self.release.clone();
        while rel.len() > 1 && rel.last() == Some(&0) {
            rel.pop();
        }
        let pre = match (self.pre, self.post, self.dev) {
            (Some((k, n)), _, _) => (k as i8, n),
            (None, None, Some(_)) => (-1, 0),
            _ => (3, 0),
        };
        let post = self.post.map_or(-1, |p| p as i64);
        let dev = self.dev.unwrap_or(u64::MAX);
        (self.epoch, rel, pre, post, dev)
    }

    fn cmp(&self, o: &Version) -> std::cmp::Ordering {
        self.key().cmp(&o.key())
    }
}

/// Whether `version` satisfies one specifier clause (`>=1.0`, `==2.*`, `~=1.4.2`).
fn clause_ok(op: &str, spec: &str, version: &str) -> bool {
    if op == "===" {
        return version.trim() == spec.trim();
    }
    let Some(v) = parse_version(version) else {
        return false;
    };
    if (op == "==" || op == "!=")
        && let Some(prefix) = spec.strip_suffix(".*")
    {
        let Some(p) = parse_version(prefix) else {
            return false;
        };
        let mut rel = v.release.clone();
        rel.resize(rel.len().max(p.release.len()), 0);
        let eq = v.epoch == p.epoch && rel[..p.release.len()] == p.release[..];
        return if op == "==" { eq } else { !eq };
    }
    let Some(s) = parse_version(spec) else {
        return false;
    };
    let mut v_cmp = v.clone();
    if s.local.is_none() {
        v_cmp.local = None;
    }
    use std::cmp::Ordering::*;
    let ord = v_cmp.cmp(&s);
    match op {
        "==" => ord == Equal && (s.local.is_none() || v.local == s.local),
        "!=" => !(ord == Equal && (s.local.is_none() || v.local == s.local)),
        ">=" => ord != Less,
        "<=" => ord != Greater,
        ">" => ord == Greater,
        "<" => ord == Less,
        "~=" => {
            if s.release.len() < 2 || ord == Less {
                return false;
            }
            let prefix = &s.release[..s.release.len() - 1];
            let mut rel = v.release.clone();
            rel.resize(rel.len().max(prefix.len()), 0);
            rel[..prefix.len()] == prefix[..]
        }
        _ => false,
    }
}

/// One package the task names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Req {
    /// As given (what pip is passed).
    pub text: String,
    /// Canonical name when it is a plain requirement (name, extras, specifiers);
    /// `None` for URLs, paths and VCS references.
    pub name: Option<String>,
    pub specs: Vec<(String, String)>,
}

impl Req {
    fn parse(text: &str) -> Req {
        let t = text.split(';').next().unwrap_or_default().trim();
        let name_end = t
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(t.len());
        let name = &t[..name_end];
        let mut rest = t[name_end..].trim_start();
        let not_plain = Req {
            text: text.to_string(),
            name: None,
            specs: Vec::new(),
        };
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return not_plain;
        }
        if rest.starts_with('[') {
            match rest.find(']') {
                Some(i) => rest = rest[i + 1..].trim_start(),
                None => return not_plain,
            }
        }
        let rest = rest.trim_start_matches('(').trim_end_matches(')');
        let mut specs = Vec::new();
        for clause in rest.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let op_len = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"]
                .iter()
                .find(|op| clause.starts_with(**op))
                .map(|op| op.len());
            let Some(n) = op_len else {
                return not_plain;
            };
            specs.push((clause[..n].to_string(), clause[n..].trim().to_string()));
        }
        Req {
            text: text.to_string(),
            name: Some(python::canonical_name(name)),
            specs,
        }
    }

    fn satisfied_by(&self, version: &str) -> bool {
        self.specs.iter().all(|(op, v)| clause_ok(op, v, version))
    }

    /// Installed and satisfying; `None` when that cannot be told (not a plain name).
    fn present(&self, installed: &BTreeMap<String, (String, String)>) -> Option<bool> {
        let name = self.name.as_ref()?;
        Some(
            installed
                .get(name)
                .is_some_and(|(_, v)| self.satisfied_by(v)),
        )
    }
}

const OPS: [&str; 7] = [">=", "<=", ">", "<", "==", "!=", "~="];

/// Ansible's `_recover_package_name`: a name list split on commas is put back together
/// (`["django>1.11.1", "<1.11.3"]` → `["django>1.11.1,<1.11.3"]`).
fn recover_names(names: &[String]) -> Vec<String> {
    let parts: Vec<&str> = names.iter().flat_map(|n| n.split(',')).collect();
    let mut out = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    let mut in_brackets = false;
    for p in parts {
        let is_name = !OPS.iter().any(|op| p.trim_start().starts_with(op));
        if is_name && !in_brackets && !cur.is_empty() {
            out.push(cur.join(","));
            cur.clear();
        }
        if p.contains('[') {
            in_brackets = true;
        }
        if in_brackets && p.contains(']') {
            in_brackets = false;
        }
        cur.push(p);
    }
    if !cur.is_empty() {
        out.push(cur.join(","));
    }
    out
}

/// Plain requirement lines of a requirements file; `None` when it has anything else
/// (options, URLs, includes) and so only pip can tell.
fn parse_requirements(text: &str) -> Option<Vec<Req>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or_default().trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let r = Req::parse(line);
        r.name.as_ref()?;
        out.push(r);
    }
    Some(out)
}

#[derive(Debug)]
pub struct Observed {
    env: Option<PathBuf>,
    venv_exists: bool,
    chdir: PathBuf,
    packages: Vec<Req>,
    /// Requirements file entries, when all are plain.
    requirements: Option<Vec<Req>>,
    installed: BTreeMap<String, (String, String)>,
    /// The pip command (`None` until a virtualenv to be created exists).
    pip: Option<Vec<String>>,
    /// Where installed distributions are read from (to compare after a run).
    site_dirs: Vec<PathBuf>,
}

#[derive(Debug)]
pub enum Op {
    CreateVenv,
    RunPip,
}

fn state(args: &Args) -> &str {
    args.str("state").unwrap_or("present")
}

/// Ansible's `_get_pip`.
fn find_pip(args: &Args, env: Option<&Path>) -> Result<Vec<String>, ModuleError> {
    if let Some(exe) = args.str("executable") {
        if Path::new(exe).is_absolute() {
            return Ok(vec![exe.to_string()]);
        }
        return bin_path(exe)
            .map(|p| vec![p.display().to_string()])
            .ok_or_else(|| {
                ModuleError::new(format!(
                    "Unable to find any of {exe} to use.  pip needs to be installed."
                ))
            });
    }
    if let Some(env) = env {
        for b in ["pip3", "pip"] {
            let c = env.join("bin").join(b);
            if c.is_file() {
                return Ok(vec![c.display().to_string()]);
            }
        }
        return Err(ModuleError::new(format!(
            "Unable to find pip in the virtualenv, {}, under any of these names: pip3, pip. \
             Make sure pip is present in the virtualenv.",
            env.display()
        )));
    }
    if let Some(p) = bin_path("pip3") {
        return Ok(vec![p.display().to_string()]);
    }
    Err(ModuleError::new(
        "Unable to find any of pip3 to use.  pip needs to be installed.",
    ))
}

/// The site directories of the interpreter behind `pip`.
fn site_dirs(env: Option<&Path>, pip: &[String]) -> Result<Vec<PathBuf>, ModuleError> {
    if let Some(env) = env
        && !python::venv_includes_system(env)
    {
        return Ok(python::venv_site_dirs(env));
    }
    let python = match env {
        Some(env) => env.join("bin/python"),
        None => {
            let exe = PathBuf::from(pip.first().cloned().unwrap_or_default());
            let base = exe
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            if base.starts_with("python") {
                exe
            } else {
                python::shebang(&exe)
                    .or_else(|| bin_path("python3"))
                    .ok_or_else(|| {
                        ModuleError::new("Unable to find the Python interpreter of pip")
                    })?
            }
        }
    };
    python::sys_path(&python)
}

impl Module for Pip {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = Observed;
    type Op = Op;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        let names = args.list_str("name");
        let req = args.str("requirements");
        if names.is_empty() && req.is_none() {
            return Err(ModuleError::new(
                "one of the following is required: name, requirements",
            ));
        }
        for (a, b) in [
            ("name", "requirements"),
            ("executable", "virtualenv"),
            ("editable", "requirements"),
        ] {
            let set = |k: &str| match k {
                "name" => !names.is_empty(),
                "editable" => args.bool("editable"),
                _ => args.is_set(k),
            };
            if set(a) && set(b) {
                return Err(ModuleError::new(format!(
                    "parameters are mutually exclusive: {a}|{b}"
                )));
            }
        }
        if state(args) == "latest" && args.is_set("version") {
            return Err(ModuleError::new(
                "version is incompatible with state=latest",
            ));
        }
        let chdir = args
            .str("chdir")
            .map_or_else(std::env::temp_dir, PathBuf::from);
        let env = args.str("virtualenv").map(|e| match args.str("chdir") {
            Some(c) => Path::new(c).join(e),
            None => PathBuf::from(e),
        });
        let venv_exists = env.as_ref().is_none_or(|e| e.join("bin/activate").exists());
        let mut packages: Vec<Req> = recover_names(&names)
            .iter()
            .map(|n| Req::parse(n))
            .collect();
        if let Some(v) = args.str("version") {
            if packages.len() > 1 {
                return Err(ModuleError::new(
                    "'version' argument is ambiguous when installing multiple package distributions. \
                     Please specify version restrictions next to each package in 'name' argument.",
                ));
            }
            if let Some(p) = packages.first_mut() {
                if !p.specs.is_empty() {
                    return Err(ModuleError::new(
                        "The 'version' argument conflicts with any version specifier provided along with a package name. \
                         Please keep the version specifier, but remove the 'version' argument.",
                    ));
                }
                let v = v.trim_start();
                let sep = if v.starts_with(|c: char| c.is_ascii_digit()) {
                    "=="
                } else {
                    " "
                };
                *p = Req::parse(&format!("{}{sep}{v}", p.text));
            }
        }
        let requirements = req.and_then(|r| {
            let path = chdir.join(r);
            std::fs::read_to_string(path)
                .ok()
                .and_then(|t| parse_requirements(&t))
        });
        let (pip, installed, site) = if venv_exists {
            let pip = find_pip(args, env.as_deref())?;
            let dirs = site_dirs(env.as_deref(), &pip)?;
            let inst = python::installed(&dirs);
            (Some(pip), inst, dirs)
        } else {
            (None, BTreeMap::new(), Vec::new())
        };
        Ok(Observed {
            env,
            venv_exists,
            chdir,
            packages,
            requirements,
            installed,
            pip,
            site_dirs: site,
        })
    }

    fn plan(args: &Args, o: &Observed, _ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        let mut plan = Plan::default();
        let st = state(args);
        if !o.venv_exists {
            plan.ops.push(Op::CreateVenv);
        }
        let run = if !o.packages.is_empty() {
            match st {
                "present" => o
                    .packages
                    .iter()
                    .any(|p| p.present(&o.installed) != Some(true)),
                "absent" => o
                    .packages
                    .iter()
                    .any(|p| p.present(&o.installed) != Some(false)),
                _ => true,
            }
        } else if args.is_set("requirements") {
            match (st, &o.requirements) {
                ("present", Some(reqs)) => {
                    reqs.iter().any(|p| p.present(&o.installed) != Some(true))
                }
                ("absent", Some(reqs)) => {
                    reqs.iter().any(|p| p.present(&o.installed) != Some(false))
                }
                _ => true,
            }
        } else {
            false
        };
        if run {
            plan.ops.push(Op::RunPip);
        }
        let names: Vec<Value> = args.list_str("name").into_iter().map(Value::from).collect();
        plan.set(
            "name",
            if args.is_set("name") {
                Value::from(names)
            } else {
                Value::from(())
            },
        );
        plan.set(
            "version",
            args.str("version").map_or(Value::from(()), Value::from),
        );
        plan.set("state", st);
        plan.set(
            "requirements",
            args.str("requirements")
                .map_or(Value::from(()), Value::from),
        );
        plan.set(
            "virtualenv",
            o.env
                .as_ref()
                .map_or(Value::from(()), |e| Value::from(e.display().to_string())),
        );
        plan.set(
            "cmd",
            Value::from(pip_cmd(args, o, o.pip.clone().unwrap_or_default())),
        );
        plan.set("stdout", "");
        plan.set("stderr", "");
        Ok(plan)
    }

    fn apply(
        args: &Args,
        o: Observed,
        plan: &Plan<Op>,
        ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let mut out = ResultMap::new();
        let (mut stdout, mut stderr) = (String::new(), String::new());
        let mut venv_created = false;
        let env_vars = |extra: &[(&str, String)]| -> Vec<(String, String)> {
            let mut v: Vec<(String, String)> = ctx.environment.to_vec();
            for (k, val) in extra {
                v.push((k.to_string(), val.clone()));
            }
            v
        };
        for op in &plan.ops {
            match op {
                Op::CreateVenv => {
                    let env = o
                        .env
                        .as_ref()
                        .ok_or_else(|| ModuleError::new("no virtualenv"))?;
                    let cmd = venv_cmd(args, env)?;
                    let r = run_cmd(args, &cmd, &o.chdir, &env_vars(&[]))?;
                    stdout.push_str(&r.stdout);
                    stderr.push_str(&r.stderr);
                    if r.rc != 0 {
                        return Err(fail(&cmd, &stdout, &stderr));
                    }
                    venv_created = true;
                    out.insert("cmd".into(), Value::from(cmd));
                }
                Op::RunPip => {
                    let pip = match &o.pip {
                        Some(p) => p.clone(),
                        None => find_pip(args, o.env.as_deref())?,
                    };
                    let cmd = pip_cmd(args, &o, pip.clone());
                    let vcs = o.packages.iter().any(|p| is_vcs(&p.text));
                    let dirs = if o.site_dirs.is_empty() {
                        site_dirs(o.env.as_deref(), &pip)?
                    } else {
                        o.site_dirs.clone()
                    };
                    let before = python::installed(&dirs);
                    let mut extra: Vec<(&str, String)> = Vec::new();
                    if let Some(env) = &o.env {
                        let path = std::env::var("PATH").unwrap_or_default();
                        extra.push(("PATH", format!("{}:{path}", env.join("bin").display())));
                    }
                    if args.bool("break_system_packages") {
                        extra.push(("PIP_BREAK_SYSTEM_PACKAGES", "1".into()));
                    }
                    let r = run_cmd(args, &cmd, &o.chdir, &env_vars(&extra))?;
                    stdout.push_str(&r.stdout);
                    stderr.push_str(&r.stderr);
                    let st = state(args);
                    let not_installed = st == "absent"
                        && r.rc == 1
                        && (r.stdout.contains("not installed")
                            || r.stderr.contains("not installed"));
                    if r.rc != 0 && !not_installed {
                        return Err(fail(&cmd, &stdout, &stderr));
                    }
                    let changed = if st == "absent" {
                        r.stdout.contains("Successfully uninstalled")
                    } else if args.is_set("requirements") || vcs {
                        python::installed(&dirs) != before
                    } else {
                        r.stdout.contains("Successfully installed")
                    };
                    out.insert("changed".into(), Value::from(changed || venv_created));
                    out.insert("cmd".into(), Value::from(cmd));
                }
            }
        }
        out.insert("stdout".into(), Value::from(stdout));
        out.insert("stderr".into(), Value::from(stderr));
        Ok(out)
    }
}

fn is_vcs(name: &str) -> bool {
    ["svn+", "git+", "hg+", "bzr+"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// The pip command line Ansible builds.
fn pip_cmd(args: &Args, o: &Observed, mut cmd: Vec<String>) -> Vec<String> {
    let st = state(args);
    cmd.extend(
        match st {
            "absent" => &["uninstall", "-y"][..],
            "latest" => &["install", "-U"][..],
            "forcereinstall" => &["install", "-U", "--force-reinstall"][..],
            _ => &["install"][..],
        }
        .iter()
        .map(|s| s.to_string()),
    );
    if let Some(x) = args.str("extra_args") {
        cmd.extend(shlex_split(x).unwrap_or_default());
    }
    if !o.packages.is_empty() {
        for p in &o.packages {
            if args.bool("editable") {
                cmd.push("-e".into());
            }
            cmd.push(p.text.clone());
        }
    } else if let Some(r) = args.str("requirements") {
        cmd.extend(["-r".to_string(), r.to_string()]);
    }
    cmd
}

/// Ansible's `setup_virtualenv` command line.
fn venv_cmd(args: &Args, env: &Path) -> Result<Vec<String>, ModuleError> {
    let raw = args.str("virtualenv_command").unwrap_or("virtualenv");
    let mut cmd = shlex_split(raw).map_err(ModuleError::new)?;
    let Some(first) = cmd.first_mut() else {
        return Err(ModuleError::new("virtualenv_command is empty"));
    };
    if !first.contains('/') {
        *first = require_bin(first)?.display().to_string();
    }
    let is_venv = {
        let base = Path::new(&cmd[0])
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        base == "pyvenv"
            || cmd.windows(2).any(|w| w[0] == "-m" && w[1] == "venv")
            || cmd.iter().any(|a| a == "-mvenv")
    };
    if args.bool("virtualenv_site_packages") {
        cmd.push("--system-site-packages".into());
    }
    if !is_venv {
        match args.str("virtualenv_python") {
            Some(p) => cmd.push(format!("-p{p}")),
            None => {
                let py = bin_path("python3")
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "python3".into());
                cmd.push(format!("-p{py}"));
            }
        }
    } else if args.is_set("virtualenv_python") {
        return Err(ModuleError::new(
            "virtualenv_python should not be used when using the venv module or pyvenv as virtualenv_command",
        ));
    }
    cmd.push(env.display().to_string());
    Ok(cmd)
}

fn run_cmd(
    args: &Args,
    cmd: &[String],
    chdir: &Path,
    env: &[(String, String)],
) -> Result<crate::command::CmdOutput, ModuleError> {
    let argv: Vec<String> = match args.str("umask") {
        Some(u) => {
            let m = u32::from_str_radix(u, 8).map_err(|e| {
                ModuleError::new("umask must be an octal integer").with("details", e.to_string())
            })?;
            let mut v = vec![
                "/bin/sh".to_string(),
                "-c".into(),
                format!("umask {m:04o} && exec \"$@\""),
                "sh".into(),
            ];
            v.extend(cmd.iter().cloned());
            v
        }
        None => cmd.to_vec(),
    };
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    run_in(&argv, Some(chdir), &env)
}

/// Ansible's `_fail`.
fn fail(cmd: &[String], out: &str, err: &str) -> ModuleError {
    let mut msg = String::new();
    if !out.is_empty() {
        msg.push_str(&format!("stdout: {out}"));
    }
    if !err.is_empty() {
        msg.push_str(&format!("\n:stderr: {err}"));
    }
    ModuleError::new(msg).with("cmd", Value::from(cmd.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_like_packaging() {
        let ok = |spec: &str, v: &str| Req::parse(&format!("x{spec}")).satisfied_by(v);
        assert!(ok(">=1.0", "1.0"));
        assert!(ok(">=1.0,<2", "1.9.9"));
        assert!(!ok(">=1.0,<2", "2.0"));
        assert!(ok("==1.0", "1.0.0"));
        assert!(ok("==1.*", "1.4"));
        assert!(!ok("==1.*", "2.0"));
        assert!(ok("~=1.4.2", "1.4.9"));
        assert!(!ok("~=1.4.2", "1.5.0"));
        assert!(ok("<1.0", "1.0rc1"));
        assert!(ok(">1.0rc1", "1.0"));
        assert!(ok("<1.0a1", "1.0.dev3"));
        assert!(ok(">1.0", "1.0.post1"));
        assert!(ok("!=2.0", "2.0.1"));
        assert!(ok("", "anything"));
        assert!(ok("==1.0", "1.0+local"));
    }

    #[test]
    fn names_recovered_and_parsed() {
        assert_eq!(
            recover_names(&["django>1.11.1".into(), "<1.11.3".into(), "six".into()]),
            vec!["django>1.11.1,<1.11.3".to_string(), "six".into()]
        );
        // No `name` (a requirements file only): no packages, not one empty one.
        assert!(recover_names(&[]).is_empty());
        let r = Req::parse("Requests[security] >= 2.0 ; python_version > '3'");
        assert_eq!(r.name.as_deref(), Some("requests"));
        assert_eq!(r.specs, vec![(">=".into(), "2.0".into())]);
        assert_eq!(Req::parse("git+https://x/y.git").name, None);
        assert_eq!(Req::parse("./local/dir").name, None);
        assert!(parse_requirements("six==1.16\n# c\n\nattrs>=20 # why\n").is_some());
        assert!(parse_requirements("-r other.txt\n").is_none());
    }

    #[test]
    fn plan_from_installed() {
        let installed: BTreeMap<String, (String, String)> =
            [("six".to_string(), ("six".to_string(), "1.16.0".to_string()))].into();
        let o = |names: &[&str]| Observed {
            env: None,
            venv_exists: true,
            chdir: PathBuf::from("/tmp"),
            packages: names.iter().map(|n| Req::parse(n)).collect(),
            requirements: None,
            installed: installed.clone(),
            pip: Some(vec!["/usr/bin/pip3".into()]),
            site_dirs: vec![],
        };
        let plan = |pairs: &[(&str, Value)], names: &[&str]| {
            let args = crate::test_support::args_of::<Pip>(pairs);
            crate::test_support::ctx_run(false, |ctx| Pip::plan(&args, &o(names), ctx))
        };
        let n = |v: &[&str]| Value::from(v.iter().map(|s| Value::from(*s)).collect::<Vec<_>>());
        assert!(plan(&[("name", n(&["six"]))], &["six"]).ops.is_empty());
        assert!(
            !plan(&[("name", n(&["six>=2"]))], &["six>=2"])
                .ops
                .is_empty()
        );
        assert!(!plan(&[("name", n(&["attrs"]))], &["attrs"]).ops.is_empty());
        let p = plan(
            &[("name", n(&["attrs"])), ("state", Value::from("absent"))],
            &["attrs"],
        );
        assert!(p.ops.is_empty());
        let p = plan(
            &[("name", n(&["six"])), ("state", Value::from("latest"))],
            &["six"],
        );
        assert!(!p.ops.is_empty());
        assert_eq!(
            p.result.get("cmd"),
            Some(&Value::from(vec![
                Value::from("/usr/bin/pip3"),
                Value::from("install"),
                Value::from("-U"),
                Value::from("six")
            ]))
        );
    }
}
