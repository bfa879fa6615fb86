//! The `dnf` module (ansible.builtin.dnf; `yum` is the same module, as in ansible-core
//! where `yum` redirects to `dnf`). Installed state comes from one batched `rpm -q`;
//! for `state: latest`, one `dnf check-update` for the installed names tells which have
//! updates. Everything to install goes to one `dnf install` transaction (updates as
//! exact `name-version-release.arch` so they ride in the same transaction).
//!
//! Specs whose state rpm cannot tell (groups `@x`, globs, `.rpm` files, URLs) are handed
//! to dnf; the run then reports changed only when dnf did something.

use std::collections::HashMap;

use minijinja::Value;

use crate::command::{Spawn, spawn};
use crate::host::rpm::{self, RpmPackage};
use crate::spec::{Arg, Args, Def, Ty};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap};

pub struct Dnf;

const BACKENDS: &[&str] = &["auto", "dnf", "yum", "yum4", "dnf4", "dnf5"];

const SPEC: &[Arg] = &[
    Arg::bool("allow_downgrade", false),
    Arg::bool("allowerasing", false),
    Arg::bool("autoremove", false),
    Arg::new("best", Ty::Bool),
    Arg::bool("bugfix", false),
    Arg::bool("cacheonly", false),
    Arg::str("conf_file"),
    Arg::str("disable_excludes"),
    Arg::bool("disable_gpg_check", false),
    Arg::list("disable_plugin"),
    Arg::list("disablerepo"),
    Arg::bool("download_only", false),
    Arg::str("download_dir"),
    Arg::list("enable_plugin"),
    Arg::list("enablerepo"),
    Arg::list("exclude"),
    Arg::str("installroot").default(Def::Str("/")),
    Arg::bool("install_weak_deps", true),
    Arg::str("list"),
    Arg::list("name").aliases(&["pkg"]),
    Arg::new("nobest", Ty::Bool),
    Arg::raw("releasever"),
    Arg::bool("security", false),
    Arg::bool("skip_broken", false),
    Arg::str("state").choices(&["absent", "installed", "latest", "present", "removed"]),
    Arg::bool("update_cache", false).aliases(&["expire-cache"]),
    Arg::bool("update_only", false),
    Arg::bool("validate_certs", true),
    Arg::bool("sslverify", true),
    Arg::int("lock_timeout").default(Def::Int(30)),
    // No default: "auto" when unset, and given together with `use` it is refused.
    Arg::str("use_backend").choices(BACKENDS),
    // The dnf action's other name for use_backend.
    Arg::str("use").choices(BACKENDS),
];

/// A spec whose installed state rpm cannot answer.
pub(crate) fn is_opaque(spec: &str) -> bool {
    spec.starts_with('@')
        || spec.ends_with(".rpm")
        || spec.contains("://")
        || spec.contains(['*', '?', '['])
}

/// Ansible's `listify_comma_sep_strings_in_list`: comma-separated items are split (and
/// moved to the end).
pub(crate) fn listify(names: Vec<String>) -> Vec<String> {
    let (with, mut without): (Vec<String>, Vec<String>) =
        names.into_iter().partition(|n| n.contains(','));
    for n in with {
        without.extend(n.split(',').map(|p| p.trim().to_string()));
    }
    if without == [""] {
        return Vec::new();
    }
    without
}

/// Parse `dnf check-update` output: names (and `name.arch`) with an update, mapped to
/// the exact spec that installs the update.
pub(crate) fn parse_check_update(out: &str) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for line in out.lines() {
        if line.starts_with("Obsoleting") {
            break;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() != 3 || line.starts_with(' ') {
            continue;
        }
        let Some((name, arch)) = w[0].rsplit_once('.') else {
            continue;
        };
        let spec = format!("{name}-{}.{arch}", w[1]);
        m.insert(name.to_string(), spec.clone());
        m.insert(w[0].to_string(), spec);
    }
    m
}

/// The installed packages a spec names (by rpm's answer).
fn installed<'a>(map: &'a HashMap<String, Vec<RpmPackage>>, spec: &str) -> &'a [RpmPackage] {
    map.get(spec).map(Vec::as_slice).unwrap_or(&[])
}

/// The pure plan: (specs to install, specs to remove).
pub(crate) fn resolve(
    names: &[String],
    state: &str,
    inst: &HashMap<String, Vec<RpmPackage>>,
    updates: &HashMap<String, String>,
    update_only: bool,
) -> (Vec<String>, Vec<String>) {
    let mut install = Vec::new();
    let mut remove = Vec::new();
    for n in names {
        let have = installed(inst, n);
        match state {
            "absent" | "removed" => {
                if is_opaque(n) || !have.is_empty() {
                    remove.push(n.clone());
                }
            }
            "latest" => {
                if is_opaque(n) {
                    install.push(n.clone());
                } else if have.is_empty() {
                    if !update_only {
                        install.push(n.clone());
                    }
                } else if let Some(u) = have
                    .iter()
                    .find_map(|p| updates.get(&p.name).or_else(|| updates.get(n)))
                {
                    if !install.contains(u) {
                        install.push(u.clone());
                    }
                }
            }
            _ => {
                if is_opaque(n) || (have.is_empty() && !update_only) {
                    install.push(n.clone());
                }
            }
        }
    }
    (install, remove)
}

/// dnf's global options from the task's arguments.
fn dnf_options(a: &Args) -> Vec<String> {
    let mut o = Vec::new();
    let joined = |n: &str| a.list_str(n).join(",");
    if a.bool("disable_gpg_check") {
        o.push("--nogpgcheck".into());
    }
    for (arg, flag) in [
        ("enablerepo", "--enablerepo"),
        ("disablerepo", "--disablerepo"),
        ("exclude", "--exclude"),
        ("disable_plugin", "--disableplugin"),
        ("enable_plugin", "--enableplugin"),
    ] {
        let v = joined(arg);
        if !v.is_empty() {
            o.push(format!("{flag}={v}"));
        }
    }
    if !a.bool("install_weak_deps") {
        o.push("--setopt=install_weak_deps=False".into());
    }
    if !a.bool("sslverify") || !a.bool("validate_certs") {
        o.push("--setopt=sslverify=False".into());
    }
    if a.bool("allowerasing") {
        o.push("--allowerasing".into());
    }
    if a.bool("skip_broken") {
        o.push("--skip-broken".into());
    }
    match (a.opt_bool("best"), a.opt_bool("nobest")) {
        (Some(true), _) | (_, Some(false)) => o.push("--best".into()),
        (Some(false), _) | (_, Some(true)) => o.push("--nobest".into()),
        _ => {}
    }
    if let Some(r) = a.get("releasever") {
        o.push(format!("--releasever={r}"));
    }
    if let Some(c) = a.str("conf_file") {
        o.push(format!("--config={c}"));
    }
    if let Some(r) = a.str("installroot").filter(|r| *r != "/") {
        o.push(format!("--installroot={r}"));
    }
    if let Some(d) = a.str("disable_excludes") {
        o.push(format!("--disableexcludes={d}"));
    }
    if a.bool("update_cache") {
        o.push("--refresh".into());
    }
    if a.bool("cacheonly") {
        o.push("--cacheonly".into());
    }
    if a.bool("security") {
        o.push("--security".into());
    }
    if a.bool("bugfix") {
        o.push("--bugfix".into());
    }
    if a.bool("download_only") {
        o.push("--downloadonly".into());
        if let Some(d) = a.str("download_dir") {
            o.push(format!("--downloaddir={d}"));
        }
    }
    o
}

fn run_dnf(argv: Vec<String>, ctx: &Ctx<'_>) -> Result<crate::command::CmdOutput, ModuleError> {
    let mut env: Vec<(String, String)> = ctx.environment.to_vec();
    env.retain(|(k, _)| k != "LC_ALL");
    env.push(("LC_ALL".into(), "C".into()));
    let s = Spawn {
        argv,
        env,
        ..Spawn::default()
    };
    spawn(&s)?.map_err(|e| ModuleError::new(format!("Failed to run dnf: {e}")).with("rc", 1))
}

/// `No match for argument: x` lines as Ansible's failures (`No package x available.`).
pub(crate) fn failures(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("No match for argument: ")
                .or_else(|| l.trim().strip_prefix("Error: Unable to find a match: "))
        })
        .flat_map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .map(|s| format!("No package {s} available."))
        .fold(Vec::new(), |mut acc, f| {
            if !acc.contains(&f) {
                acc.push(f);
            }
            acc
        })
}

/// What observe learns.
#[derive(Debug, Default)]
pub struct DnfObserved {
    names: Vec<String>,
    state: String,
    installed: HashMap<String, Vec<RpmPackage>>,
    updates: HashMap<String, String>,
}

#[derive(Debug)]
pub enum DnfOp {
    MakeCache,
    Install(Vec<String>),
    Remove(Vec<String>),
}

fn strs(v: &[String]) -> Value {
    Value::from(
        v.iter()
            .map(|s| Value::from(s.as_str()))
            .collect::<Vec<_>>(),
    )
}

impl Module for Dnf {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = DnfObserved;
    type Op = DnfOp;

    fn observe(args: &Args, ctx: &Ctx<'_>) -> Result<DnfObserved, ModuleError> {
        if args.is_set("use") && args.is_set("use_backend") {
            return Err(ModuleError::new(
                "parameters are mutually exclusive: ('use', 'use_backend')",
            ));
        }
        if args.is_set("list") {
            return Err(ModuleError::new(
                "agent's dnf module does not support list yet",
            ));
        }
        if args.is_set("list") && args.is_set("name") {
            return Err(ModuleError::new(
                "parameters are mutually exclusive: name|list",
            ));
        }
        let names: Vec<String> = listify(args.list_str("name"))
            .into_iter()
            .map(|n| n.trim().to_string())
            .collect();
        if !args.is_set("name") && !args.bool("update_cache") && !args.is_set("list") {
            return Err(ModuleError::new(
                "one of the following is required: name, list, update_cache",
            ));
        }
        for n in &names {
            if n.contains(' ') && !n.contains(['@', '>', '<', '=']) {
                return Err(ModuleError::new(
                    "It appears that a space separated string of packages was passed in as an argument. To operate on several packages, pass a comma separated string of packages or a list of packages.",
                ));
            }
        }
        let autoremove = args.bool("autoremove");
        let state = match args.str("state") {
            Some(s) => s.to_string(),
            None if autoremove => "absent".into(),
            None => "installed".into(),
        };
        if autoremove && !matches!(state.as_str(), "absent" | "removed") {
            return Err(
                ModuleError::new("Autoremove should be used alone or with state=absent")
                    .with("results", Value::from(Vec::<Value>::new())),
            );
        }
        if autoremove && names.is_empty() {
            return Err(ModuleError::new(
                "agent's dnf module does not support autoremove without names yet",
            ));
        }
        if names == ["*"] {
            return Err(ModuleError::new(
                "agent's dnf module does not support name='*' yet",
            ));
        }
        let plain: Vec<String> = names.iter().filter(|n| !is_opaque(n)).cloned().collect();
        let installed = if plain.is_empty() {
            HashMap::new()
        } else {
            rpm::query(&plain)?
        };
        let mut updates = HashMap::new();
        if state == "latest" {
            let have: Vec<String> = plain
                .iter()
                .filter(|n| !installed.get(*n).is_none_or(|v| v.is_empty()))
                .cloned()
                .collect();
            if !have.is_empty() {
                let mut argv = vec!["dnf".to_string(), "-q".to_string()];
                argv.extend(dnf_options(args));
                argv.push("check-update".into());
                argv.extend(have);
                let r = run_dnf(argv, ctx)?;
                match r.rc {
                    0 => {}
                    100 => updates = parse_check_update(&r.stdout),
                    rc => {
                        return Err(ModuleError::new(format!(
                            "Unknown Error occurred: {}",
                            r.stderr.trim()
                        ))
                        .with("rc", rc)
                        .with("results", Value::from(Vec::<Value>::new())));
                    }
                }
            }
        }
        Ok(DnfObserved {
            names,
            state,
            installed,
            updates,
        })
    }

    fn plan(args: &Args, o: &DnfObserved, ctx: &Ctx<'_>) -> Result<Plan<DnfOp>, ModuleError> {
        let mut plan = Plan::default();
        if o.names.is_empty() && args.bool("update_cache") {
            plan.ops.push(DnfOp::MakeCache);
            plan.set("msg", "Cache updated");
            plan.set("changed", false);
            plan.set("results", Value::from(Vec::<Value>::new()));
            plan.set("rc", 0);
            return Ok(plan);
        }
        let (install, remove) = resolve(
            &o.names,
            &o.state,
            &o.installed,
            &o.updates,
            args.bool("update_only"),
        );
        if install.is_empty() && remove.is_empty() {
            plan.set("msg", "Nothing to do");
            plan.set("changed", false);
            plan.set("results", Value::from(Vec::<Value>::new()));
            plan.set("rc", 0);
            return Ok(plan);
        }
        if ctx.check_mode {
            let mut results: Vec<String> =
                install.iter().map(|n| format!("Installed: {n}")).collect();
            results.extend(remove.iter().map(|n| format!("Removed: {n}")));
            plan.set(
                "msg",
                "Check mode: No changes made, but would have if not in check mode",
            );
            plan.set("results", strs(&results));
            plan.set("rc", 0);
        }
        if !install.is_empty() {
            plan.ops.push(DnfOp::Install(install));
        }
        if !remove.is_empty() {
            plan.ops.push(DnfOp::Remove(remove));
        }
        Ok(plan)
    }

    fn apply(
        args: &Args,
        _o: DnfObserved,
        plan: &Plan<DnfOp>,
        ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let mut out = ResultMap::new();
        let mut results: Vec<String> = Vec::new();
        let mut changed = false;
        for op in &plan.ops {
            let (verb, specs) = match op {
                DnfOp::MakeCache => {
                    let mut argv = vec!["dnf".to_string(), "-y".to_string()];
                    argv.extend(dnf_options(args));
                    argv.push("makecache".into());
                    let r = run_dnf(argv, ctx)?;
                    if r.rc != 0 {
                        return Err(ModuleError::new(r.stderr.trim().to_string())
                            .with("results", Value::from(Vec::<Value>::new()))
                            .with("rc", 1));
                    }
                    return Ok(out);
                }
                DnfOp::Install(s) => ("install", s),
                DnfOp::Remove(s) => ("remove", s),
            };
            let mut argv = vec!["dnf".to_string(), "-y".to_string()];
            argv.extend(dnf_options(args));
            if verb == "install" && args.bool("allow_downgrade") {
                argv.push("--allowerasing".into());
            }
            argv.push(verb.into());
            argv.extend(specs.iter().cloned());
            let r = run_dnf(argv, ctx)?;
            if r.rc != 0 {
                let f = failures(&format!("{}\n{}", r.stdout, r.stderr));
                let msg = if f.is_empty() {
                    format!("Unknown Error occurred: {}", r.stderr.trim())
                } else {
                    "Failed to install some of the specified packages".to_string()
                };
                return Err(ModuleError::new(msg)
                    .with("failures", strs(&f))
                    .with("results", strs(&results))
                    .with("rc", r.rc));
            }
            for (section, pkgs) in rpm::parse_dnf_transaction(&r.stdout) {
                let word = match section.as_str() {
                    "Removed" => "Removed",
                    _ if args.bool("download_only") => "Downloaded",
                    _ => "Installed",
                };
                if !pkgs.is_empty() {
                    changed = true;
                }
                results.extend(pkgs.iter().map(|p| format!("{word}: {p}")));
            }
        }
        out.insert("changed".into(), Value::from(changed));
        out.insert(
            "msg".into(),
            Value::from(if changed { "" } else { "Nothing to do" }),
        );
        out.insert("results".into(), strs(&results));
        out.insert("rc".into(), Value::from(0));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pk(name: &str) -> RpmPackage {
        RpmPackage {
            name: name.into(),
            epoch: String::new(),
            version: "1.0".into(),
            release: "1".into(),
            arch: "x86_64".into(),
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn comma_lists() {
        assert_eq!(listify(s(&["a,b", "c"])), s(&["c", "a", "b"]));
        assert!(listify(s(&[""])).is_empty());
    }

    #[test]
    fn plans() {
        let mut inst = HashMap::new();
        inst.insert("bash".to_string(), vec![pk("bash")]);
        inst.insert("tree".to_string(), vec![]);
        let none = HashMap::new();
        let names = s(&["bash", "tree", "@core"]);
        let (i, r) = resolve(&names, "present", &inst, &none, false);
        assert_eq!(i, s(&["tree", "@core"]));
        assert!(r.is_empty());
        let (i, r) = resolve(&names, "absent", &inst, &none, false);
        assert!(i.is_empty());
        assert_eq!(r, s(&["bash", "@core"]));
        let ups = parse_check_update(
            "\nbash.x86_64    1:5.2-2.el9    baseos\nObsoleting Packages\nfoo.x86_64 1-1 x\n",
        );
        let (i, _) = resolve(&s(&["bash", "tree"]), "latest", &inst, &ups, false);
        assert_eq!(i, s(&["bash-1:5.2-2.el9.x86_64", "tree"]));
        let (i, _) = resolve(&s(&["bash", "tree"]), "latest", &inst, &none, true);
        assert!(i.is_empty());
        assert!(!ups.contains_key("foo"));
    }

    #[test]
    fn failure_lines() {
        assert_eq!(
            failures(
                "Last metadata expiration check\nNo match for argument: nope\nError: Unable to find a match: nope nope2"
            ),
            s(&["No package nope available.", "No package nope2 available."])
        );
    }
}
