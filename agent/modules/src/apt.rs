//! The `apt` module (ansible.builtin.apt). Installed state comes from the dpkg status
//! file, read once per task; candidate versions, only when a name is missing, has the
//! wrong version or `state: latest` asks, from one `apt-cache policy` for all of them.
//! Everything a task installs goes to one `apt-get install` transaction, with the
//! command line Ansible builds.
//!
//! `update_cache` (or an expired `cache_valid_time`) is an operation like any other:
//! check mode reports `cache_updated: true` without updating, as Ansible does; a real
//! run updates first and then works out the install list again from the fresh lists.

use std::collections::HashMap;

use minijinja::Value;

use crate::command::{CmdOutput, shlex_quote, shlex_split};
use crate::host::dpkg::{self, DpkgStatus, Policy};
use crate::spec::{Arg, Args, Def, Ty};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap};

pub struct Apt;

pub const DPKG_OPTIONS: &str = "force-confdef,force-confold";
const APT_GET: &str = "/usr/bin/apt-get";

const SPEC: &[Arg] = &[
    Arg::str("state").default(Def::Str("present")).choices(&[
        "absent",
        "build-dep",
        "fixed",
        "latest",
        "present",
    ]),
    Arg::new("update_cache", Ty::Bool).aliases(&["update-cache"]),
    Arg::int("update_cache_retries").default(Def::Int(5)),
    Arg::int("update_cache_retry_max_delay").default(Def::Int(12)),
    Arg::int("cache_valid_time").default(Def::Int(0)),
    Arg::bool("purge", false),
    Arg::list("package").aliases(&["pkg", "name"]),
    Arg::path("deb"),
    Arg::str("default_release").aliases(&["default-release"]),
    Arg::new("install_recommends", Ty::Bool).aliases(&["install-recommends"]),
    Arg::bool("force", false),
    Arg::str("upgrade")
        .default(Def::Str("no"))
        .choices(&["dist", "full", "no", "safe", "yes"]),
    Arg::str("dpkg_options").default(Def::Str(DPKG_OPTIONS)),
    Arg::bool("autoremove", false),
    Arg::bool("autoclean", false),
    Arg::bool("fail_on_autoremove", false),
    Arg::int("policy_rc_d"),
    Arg::bool("only_upgrade", false),
    Arg::bool("force_apt_get", false),
    Arg::bool("clean", false),
    Arg::bool("allow_unauthenticated", false).aliases(&["allow-unauthenticated"]),
    Arg::bool("allow_downgrade", false).aliases(&[
        "allow-downgrade",
        "allow_downgrades",
        "allow-downgrades",
    ]),
    Arg::bool("allow_change_held_packages", false),
    Arg::int("lock_timeout").default(Def::Int(60)),
    Arg::bool("auto_install_module_deps", true),
];

/// A package as a task names it: `name`, `name=version` (a glob) or `name>=version`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PkgSpec {
    pub raw: String,
    pub name: String,
    pub cmp: Option<Cmp>,
    pub version: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cmp {
    Eq,
    Ge,
}

/// Ansible's `package_split`: split at the first `>=` or `=`.
pub(crate) fn parse_spec(raw: &str) -> PkgSpec {
    let raw = raw.trim();
    let at = raw.find('=');
    match at {
        Some(i) => {
            let (name, cmp) = if i > 0 && raw.as_bytes()[i - 1] == b'>' {
                (&raw[..i - 1], Cmp::Ge)
            } else {
                (&raw[..i], Cmp::Eq)
            };
            PkgSpec {
                raw: raw.to_string(),
                name: name.to_string(),
                cmp: Some(cmp),
                version: raw[i + 1..].to_string(),
            }
        }
        None => PkgSpec {
            raw: raw.to_string(),
            name: raw.to_string(),
            cmp: None,
            version: String::new(),
        },
    }
}

/// The installed version satisfies the spec's version constraint.
fn version_ok(installed: &str, spec: &PkgSpec) -> bool {
    match spec.cmp {
        Some(Cmp::Eq) => dpkg::fnmatch(installed, &spec.version),
        Some(Cmp::Ge) => dpkg::compare_versions(installed, &spec.version).is_ge(),
        None => true,
    }
}

/// Ansible's `package_best_match`: the version apt would install for the spec.
fn best_match(p: &Policy, spec: &PkgSpec) -> Option<String> {
    match spec.cmp {
        // A version pin (priority 1001) makes the highest matching version the candidate.
        Some(Cmp::Eq) => p
            .versions
            .iter()
            .map(|(v, _)| v)
            .filter(|v| dpkg::fnmatch(v, &spec.version))
            .max_by(|a, b| dpkg::compare_versions(a, b))
            .cloned(),
        Some(Cmp::Ge) => p
            .candidate
            .clone()
            .filter(|c| dpkg::compare_versions(c, &spec.version).is_ge()),
        None => p.candidate.clone(),
    }
}

/// Names whose candidate must be known to plan an install: those not installed (and
/// not provided by an installed package), installed in a version the spec refuses,
/// or all of them for `latest`.
pub(crate) fn policy_names(specs: &[PkgSpec], st: &DpkgStatus, upgrade: bool) -> Vec<String> {
    let mut out = Vec::new();
    for s in specs {
        let need = match st.installed(&s.name) {
            Some(p) => upgrade || !version_ok(&p.version, s),
            None => s.cmp.is_some() || st.providers(&s.name).is_empty(),
        };
        if need && !out.contains(&s.name) {
            out.push(s.name.clone());
        }
    }
    out
}

/// Ansible's `install`: the `apt-get install` arguments for the specs (each quoted as
/// Ansible quotes it), or the failure message.
pub(crate) fn resolve_install(
    specs: &[PkgSpec],
    st: &DpkgStatus,
    policy: &HashMap<String, Policy>,
    upgrade: bool,
    only_upgrade: bool,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for s in specs {
        let installed = st.installed(&s.name);
        let (is_installed, ver_ok) = match installed {
            Some(p) => (true, version_ok(&p.version, s)),
            None if s.cmp.is_none() && !st.providers(&s.name).is_empty() => (true, true),
            None => (false, false),
        };
        if !is_installed && only_upgrade {
            continue;
        }
        if is_installed && ver_ok && !upgrade {
            continue;
        }
        if is_installed && installed.is_none() {
            // Provided by an installed package: nothing to upgrade by this name.
            continue;
        }
        // Some(None): installable by name (a virtual package, apt decides).
        let installable: Option<Option<String>> = match dpkg::policy_for(policy, &s.name) {
            None => {
                if is_installed {
                    None
                } else {
                    return Err(format!("No package matching '{}' is available", s.name));
                }
            }
            Some(p) if p.is_virtual() => {
                if is_installed {
                    None
                } else {
                    Some(None)
                }
            }
            Some(p) => best_match(p, s)
                .filter(|b| installed.is_none_or(|i| &i.version != b))
                .map(Some),
        };
        let Some(inst) = installable else {
            if !ver_ok {
                return Err(format!("no available installation candidate for {}", s.raw));
            }
            continue;
        };
        if !is_installed || upgrade || !ver_ok {
            let arg = match inst {
                Some(v) => format!("{}={v}", s.name),
                None if s.cmp.is_some() => format!("{}={}", s.name, s.version),
                None => s.name.clone(),
            };
            out.push(arg);
        }
    }
    Ok(out)
}

/// Ansible's `remove`: the specs with something to remove.
pub(crate) fn resolve_remove(specs: &[PkgSpec], st: &DpkgStatus, purge: bool) -> Vec<String> {
    specs
        .iter()
        .filter(|s| {
            st.installed(&s.name)
                .is_some_and(|p| version_ok(&p.version, s))
                || (purge && st.has_files(&s.name))
        })
        .map(|s| s.raw.clone())
        .collect()
}

/// Ansible's `expand_dpkg_options` plus the lock timeout.
fn dpkg_option_string(opts: &str, lock_timeout: i64) -> String {
    let mut s = String::new();
    for o in opts.split(',') {
        s.push_str(&format!(" -o \"Dpkg::Options::=--{o}\""));
    }
    format!("{} -o DPkg::Lock::Timeout={lock_timeout}", s.trim())
}

/// Options that shape the apt-get command line.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    dpkg_options: String,
    force: bool,
    autoremove: bool,
    fail_on_autoremove: bool,
    only_upgrade: bool,
    purge: bool,
    default_release: Option<String>,
    install_recommends: Option<bool>,
    allow_unauthenticated: bool,
    allow_downgrade: bool,
    allow_change_held_packages: bool,
    policy_rc_d: Option<i64>,
}

impl Flags {
    fn from_args(a: &Args) -> Flags {
        Flags {
            dpkg_options: dpkg_option_string(
                a.str("dpkg_options").unwrap_or(DPKG_OPTIONS),
                a.int("lock_timeout").unwrap_or(60),
            ),
            force: a.bool("force"),
            autoremove: a.bool("autoremove"),
            fail_on_autoremove: a.bool("fail_on_autoremove"),
            only_upgrade: a.bool("only_upgrade"),
            purge: a.bool("purge"),
            default_release: a.string("default_release"),
            install_recommends: a.opt_bool("install_recommends"),
            allow_unauthenticated: a.bool("allow_unauthenticated"),
            allow_downgrade: a.bool("allow_downgrade"),
            allow_change_held_packages: a.bool("allow_change_held_packages"),
            policy_rc_d: a.int("policy_rc_d"),
        }
    }
}

fn on(b: bool, s: &str) -> &str {
    if b { s } else { "" }
}

/// The `apt-get install` command line, as Ansible formats it.
pub(crate) fn install_cmd(f: &Flags, pkgs: &[String]) -> String {
    let quoted: Vec<String> = pkgs.iter().map(|p| format!("'{p}'")).collect();
    let mut cmd = format!(
        "{APT_GET} -y {} {} {} {} {} {} {} install {}",
        f.dpkg_options,
        on(f.only_upgrade, "--only-upgrade"),
        "",
        on(f.force, "--force-yes"),
        on(f.autoremove, "--auto-remove"),
        on(f.fail_on_autoremove, "--no-remove"),
        "",
        quoted.join(" ")
    );
    if let Some(r) = &f.default_release {
        cmd.push_str(&format!(" -t '{r}'"));
    }
    match f.install_recommends {
        Some(false) => cmd.push_str(" -o APT::Install-Recommends=no"),
        Some(true) => cmd.push_str(" -o APT::Install-Recommends=yes"),
        None => {}
    }
    if f.allow_unauthenticated {
        cmd.push_str(" --allow-unauthenticated");
    }
    if f.allow_downgrade {
        cmd.push_str(" --allow-downgrades");
    }
    if f.allow_change_held_packages {
        cmd.push_str(" --allow-change-held-packages");
    }
    cmd
}

/// The `apt-get remove` command line, as Ansible formats it.
pub(crate) fn remove_cmd(f: &Flags, pkgs: &[String]) -> (String, String) {
    let quoted: Vec<String> = pkgs.iter().map(|p| format!("'{p}'")).collect();
    let packages = quoted.join(" ");
    let cmd = format!(
        "{APT_GET} -q -y {} {} {} {} {} {} remove {packages}",
        f.dpkg_options,
        on(f.purge, "--purge"),
        on(f.force, "--force-yes"),
        on(f.autoremove, "--auto-remove"),
        "",
        on(f.allow_change_held_packages, "--allow-change-held-packages"),
    );
    (cmd, packages)
}

const APT_GET_ZERO: &str = "\n0 upgraded, 0 newly installed, 0 to remove";
const AUTOREMOVE_CHANGED: &str = "The following packages will be REMOVED";

/// Ansible's `upgrade` command line with apt-get (aptitude is not used): the command and
/// the `upgrade_command` part its failure message names.
pub(crate) fn upgrade_cmd(f: &Flags, mode: &str, simulate: bool) -> (String, String) {
    let ar = on(f.autoremove, "--auto-remove");
    let upgrade_command = match mode {
        "dist" | "full" => format!("dist-upgrade {ar}"),
        _ => format!("upgrade --with-new-pkgs {ar}"),
    };
    let mut cmd = format!(
        "{APT_GET} -y {} {} {} {} {} {} {upgrade_command}",
        f.dpkg_options,
        on(f.force, "--force-yes"),
        on(f.fail_on_autoremove, "--no-remove"),
        on(f.allow_unauthenticated, "--allow-unauthenticated"),
        on(f.allow_downgrade, "--allow-downgrades"),
        on(simulate, "--simulate"),
    );
    if let Some(r) = &f.default_release {
        cmd.push_str(&format!(" -t '{r}'"));
    }
    (cmd, upgrade_command)
}

/// Ansible's `cleanup(operation='autoremove')` command line.
pub(crate) fn autoremove_cmd(f: &Flags, simulate: bool) -> String {
    format!(
        "{APT_GET} -y {} {} {} autoremove {}",
        f.dpkg_options,
        on(f.purge, "--purge"),
        on(f.force, "--force-yes"),
        on(simulate, "--simulate"),
    )
}

/// What the task does besides installing or removing named packages.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// `upgrade: dist|full|yes|safe`.
    Upgrade,
    /// `autoremove` with no packages (and no cache update, which ends the task first).
    Autoremove,
    Packages,
}

fn mode_of(args: &Args) -> Mode {
    let no_pkgs = !args.is_set("package") && !args.is_set("deb");
    if args.str("upgrade").is_some_and(|u| u != "no") {
        Mode::Upgrade
    } else if no_pkgs
        && args.bool("autoremove")
        && !args.bool("update_cache")
        && args.int("cache_valid_time").unwrap_or(0) == 0
    {
        Mode::Autoremove
    } else {
        Mode::Packages
    }
}

/// Ansible's `parse_diff`: the part of apt-get's output between "Reading state
/// information..." and the "N upgraded" line.
pub(crate) fn parse_diff(out: &str) -> Value {
    let lines: Vec<&str> = out.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == "Resolving dependencies...")
        .or_else(|| {
            lines
                .iter()
                .position(|l| *l == "Reading state information...")
        })
        .map(|i| i + 1)
        .unwrap_or(0);
    let end = lines
        .iter()
        .position(|l| {
            let d = l.trim_start_matches(|c: char| c.is_ascii_digit());
            d.len() < l.len() && (d.starts_with(" upgraded") || d.starts_with(" packages upgraded"))
        })
        .map(|i| i + 1)
        .unwrap_or(lines.len());
    let part = lines.get(start..end.max(start)).unwrap_or(&[]).join("\n");
    let mut m = indexmap::IndexMap::new();
    m.insert("prepared".to_string(), Value::from(part));
    Value::from_pairs(m)
}

/// What observe learns.
#[derive(Debug)]
pub struct AptObserved {
    dpkg: std::sync::Arc<DpkgStatus>,
    policy: HashMap<String, Policy>,
    cache_mtime: i64,
    now: i64,
    auto: Vec<String>,
    /// (Package, Version, Architecture) of each `deb` file.
    debs: Vec<(String, String, String, String)>,
    /// `apt-get --simulate` output for an upgrade or an autoremove.
    simulated: Option<CmdOutput>,
}

/// One operation of the plan.
#[derive(Debug)]
pub enum AptOp {
    UpdateCache,
    Install(Vec<String>),
    Remove(Vec<String>),
    InstallDebs(Vec<String>),
    MarkManual(Vec<String>),
    Upgrade(String),
    Autoremove,
}

fn specs_of(args: &Args) -> Vec<PkgSpec> {
    args.list_str("package")
        .iter()
        .filter(|p| p.as_str() != "*")
        .map(|p| parse_spec(p))
        .collect()
}

fn unsupported(what: &str) -> ModuleError {
    ModuleError::new(format!("agent's apt module does not support {what} yet"))
}

fn check_args(args: &Args) -> Result<(), ModuleError> {
    let given: Vec<&str> = ["deb", "package", "upgrade"]
        .into_iter()
        .filter(|n| args.is_set(n) && !(*n == "upgrade" && args.str("upgrade") == Some("no")))
        .collect();
    if given.len() > 1 {
        return Err(ModuleError::new(format!(
            "parameters are mutually exclusive: {}",
            ["deb", "package", "upgrade"].join("|")
        )));
    }
    match args.str("state") {
        Some("build-dep") => return Err(unsupported("state=build-dep")),
        Some("fixed") => return Err(unsupported("state=fixed")),
        _ => {}
    }
    if args.bool("clean") {
        return Err(unsupported("clean"));
    }
    if args.bool("autoclean") {
        return Err(unsupported("autoclean"));
    }
    if args.list_str("package").iter().any(|p| p == "*") {
        return Err(unsupported("name='*'"));
    }
    for p in args.list_str("package") {
        if p.contains(['*', '?', '[', ']', '!']) && !p.contains('=') {
            return Err(unsupported(&format!("package name patterns ({p})")));
        }
        if p.matches('=').count() > 1 {
            return Err(ModuleError::new(format!("invalid package spec: {p}")));
        }
    }
    if let Some(d) = args.str("deb") {
        if args.str("state") != Some("present") {
            return Err(ModuleError::new("deb only supports state=present"));
        }
        if d.contains("://") {
            return Err(unsupported(
                "deb URLs (download the file with get_url first)",
            ));
        }
    }
    Ok(())
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn wants_cache_update(args: &Args, o: &AptObserved) -> bool {
    let valid = args.int("cache_valid_time").unwrap_or(0);
    (args.bool("update_cache") || valid != 0) && o.cache_mtime + valid < o.now
}

fn deb_fields(
    path: &str,
    env: &[(String, String)],
) -> Result<(String, String, String), ModuleError> {
    let out = dpkg::run_apt_tool(
        vec![
            "dpkg-deb".into(),
            "--field".into(),
            path.into(),
            "Package".into(),
            "Version".into(),
            "Architecture".into(),
        ],
        env,
    )?;
    if out.rc != 0 {
        return Err(ModuleError::new(format!(
            "Unable to install package: {}",
            out.stderr.trim()
        )));
    }
    let mut f: HashMap<&str, &str> = HashMap::new();
    for l in out.stdout.lines() {
        if let Some((k, v)) = l.split_once(':') {
            f.insert(k.trim(), v.trim());
        }
    }
    let g = |k: &str| f.get(k).map(|s| s.to_string()).unwrap_or_default();
    Ok((g("Package"), g("Version"), g("Architecture")))
}

fn observe_state(args: &Args, ctx: &Ctx<'_>) -> Result<AptObserved, ModuleError> {
    let dpkg = DpkgStatus::read_shared(std::path::Path::new(dpkg::STATUS_PATH))
        .map_err(|e| ModuleError::new(format!("Failed to read {}: {e}", dpkg::STATUS_PATH)))?;
    let specs = specs_of(args);
    let state = args.str("state").unwrap_or("present");
    let policy = if matches!(state, "present" | "latest") {
        let names = policy_names(&specs, &dpkg, state == "latest");
        dpkg::query_policy(&names, args.str("default_release"), ctx.environment)?
    } else {
        HashMap::new()
    };
    let mut debs = Vec::new();
    if let Some(d) = args.str("deb") {
        for f in d.split(',') {
            let (p, v, a) = deb_fields(f, ctx.environment)?;
            debs.push((f.to_string(), p, v, a));
        }
    }
    let flags = Flags::from_args(args);
    let simulated = match mode_of(args) {
        Mode::Upgrade => {
            let (cmd, _) = upgrade_cmd(&flags, args.str("upgrade").unwrap_or("yes"), true);
            Some(run_cmd(&cmd, &Flags::default(), ctx)?)
        }
        Mode::Autoremove => Some(run_cmd(
            &autoremove_cmd(&flags, true),
            &Flags::default(),
            ctx,
        )?),
        Mode::Packages => None,
    };
    Ok(AptObserved {
        simulated,
        dpkg,
        policy,
        cache_mtime: dpkg::cache_mtime(),
        now: now_secs(),
        auto: if matches!(state, "present" | "latest") {
            dpkg::auto_installed()
        } else {
            Vec::new()
        },
        debs,
    })
}

/// Named, installed packages apt marked as automatically installed (Ansible marks all
/// named packages manual after an install run).
fn auto_named(specs: &[PkgSpec], o: &AptObserved, excluded: &[String]) -> Vec<String> {
    specs
        .iter()
        .filter(|s| o.auto.contains(&s.name) && o.dpkg.installed(&s.name).is_some())
        .filter(|s| !excluded.iter().any(|e| parse_spec(e).name == s.name))
        .map(|s| s.name.clone())
        .collect()
}

impl Module for Apt {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = AptObserved;
    type Op = AptOp;

    fn observe(args: &Args, ctx: &Ctx<'_>) -> Result<AptObserved, ModuleError> {
        check_args(args)?;
        observe_state(args, ctx)
    }

    fn plan(args: &Args, o: &AptObserved, ctx: &Ctx<'_>) -> Result<Plan<AptOp>, ModuleError> {
        let mut plan = Plan::default();
        let update = wants_cache_update(args, o);
        let specs = specs_of(args);
        let state = args.str("state").unwrap_or("present");
        if update {
            plan.ops.push(AptOp::UpdateCache);
        }
        let cache_fields = |plan: &mut Plan<AptOp>| {
            plan.set("cache_updated", update && ctx.check_mode);
            plan.set("cache_update_time", o.cache_mtime);
        };
        let mode = mode_of(args);
        if let (Mode::Upgrade | Mode::Autoremove, Some(sim)) = (mode, &o.simulated) {
            let changed = match mode {
                Mode::Upgrade => !sim.stdout.contains(APT_GET_ZERO),
                _ => sim.stdout.contains(AUTOREMOVE_CHANGED),
            };
            if sim.rc != 0 {
                let what = match mode {
                    Mode::Upgrade => {
                        let (_, uc) = upgrade_cmd(
                            &Flags::default(),
                            args.str("upgrade").unwrap_or("yes"),
                            true,
                        );
                        format!("{APT_GET} {uc}")
                    }
                    _ => "apt-get autoremove".to_string(),
                };
                return Err(ModuleError::new(format!("'{what}' failed: {}", sim.stderr))
                    .with("stdout", sim.stdout.as_str())
                    .with("rc", sim.rc));
            }
            if changed {
                plan.ops.push(match mode {
                    Mode::Upgrade => {
                        AptOp::Upgrade(args.str("upgrade").unwrap_or("yes").to_string())
                    }
                    _ => AptOp::Autoremove,
                });
            } else {
                plan.set("changed", false);
            }
            if ctx.check_mode || !changed {
                // What Ansible's check mode shows: the simulation's output.
                if mode == Mode::Upgrade {
                    plan.set("msg", sim.stdout.as_str());
                }
                plan.set("stdout", sim.stdout.as_str());
                plan.set("stderr", sim.stderr.as_str());
                if ctx.diff_mode && changed {
                    plan.set("diff", parse_diff(&sim.stdout));
                }
            }
            return Ok(plan);
        }
        // Only the cache to update.
        if specs.is_empty() && o.debs.is_empty() {
            plan.set("changed", update && ctx.check_mode);
            cache_fields(&mut plan);
            return Ok(plan);
        }
        if !o.debs.is_empty() {
            let todo: Vec<String> = o
                .debs
                .iter()
                .filter(|(_, p, v, a)| {
                    let key = if a == &o.dpkg.native_arch || a == "all" {
                        p.clone()
                    } else {
                        format!("{p}:{a}")
                    };
                    o.dpkg
                        .installed(&key)
                        .is_none_or(|i| dpkg::compare_versions(&i.version, v).is_ne())
                })
                .map(|(f, ..)| f.clone())
                .collect();
            if todo.is_empty() {
                plan.set("changed", false);
                plan.set("stdout", "");
                plan.set("stderr", "");
            } else {
                plan.ops.push(AptOp::InstallDebs(todo));
            }
            return Ok(plan);
        }
        if state == "absent" {
            let pkgs = resolve_remove(&specs, &o.dpkg, args.bool("purge"));
            if pkgs.is_empty() {
                // Ansible leaves the cache fields out here; an update may still run.
                plan.set("changed", false);
            } else {
                plan.ops.push(AptOp::Remove(pkgs));
            }
            return Ok(plan);
        }
        let resolved = resolve_install(
            &specs,
            &o.dpkg,
            &o.policy,
            state == "latest",
            args.bool("only_upgrade"),
        );
        let pkgs = match resolved {
            Ok(p) => p,
            // The lists are about to be refreshed: decide after the update.
            Err(_) if update && !ctx.check_mode => Vec::new(),
            Err(msg) => {
                // Ansible adds the cache fields to the candidate failure only.
                let with_cache = msg.starts_with("no available installation candidate");
                let mut e = ModuleError::new(msg);
                if with_cache {
                    e.fields.insert("cache_updated".into(), Value::from(update));
                    e.fields
                        .insert("cache_update_time".into(), Value::from(o.cache_mtime));
                }
                return Err(e);
            }
        };
        cache_fields(&mut plan);
        let mark = auto_named(&specs, o, &pkgs);
        if pkgs.is_empty() {
            plan.set("changed", false);
        } else {
            plan.ops.push(AptOp::Install(pkgs));
        }
        if !mark.is_empty() && !ctx.check_mode {
            plan.ops.push(AptOp::MarkManual(mark));
        }
        Ok(plan)
    }

    fn apply(
        args: &Args,
        o: AptObserved,
        plan: &Plan<AptOp>,
        ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let flags = Flags::from_args(args);
        let mut out = ResultMap::new();
        let specs = specs_of(args);
        let state = args.str("state").unwrap_or("present");
        let mut ops: Vec<&AptOp> = plan.ops.iter().collect();
        let mut replanned: Vec<AptOp> = Vec::new();
        if matches!(ops.first(), Some(AptOp::UpdateCache)) {
            ops.remove(0);
            let before = o.cache_mtime;
            update_cache(args, ctx)?;
            let after = dpkg::cache_mtime();
            out.insert("cache_updated".into(), Value::from(before != after));
            out.insert("cache_update_time".into(), Value::from(after));
            let only_cache =
                specs.is_empty() && o.debs.is_empty() && mode_of(args) == Mode::Packages;
            if mode_of(args) != Mode::Packages {
                out.shift_remove("cache_updated");
                out.shift_remove("cache_update_time");
            }
            if only_cache {
                out.insert("changed".into(), Value::from(before != after));
                return Ok(out);
            }
            if matches!(state, "present" | "latest") && !specs.is_empty() {
                // Plan the install again from the fresh lists.
                let fresh = observe_state(args, ctx)?;
                let pkgs = resolve_install(
                    &specs,
                    &fresh.dpkg,
                    &fresh.policy,
                    state == "latest",
                    args.bool("only_upgrade"),
                )
                .map_err(|m| {
                    ModuleError::new(m)
                        .with("cache_updated", before != after)
                        .with("cache_update_time", after)
                })?;
                let mark = auto_named(&specs, &fresh, &pkgs);
                if !pkgs.is_empty() {
                    replanned.push(AptOp::Install(pkgs));
                }
                if !mark.is_empty() {
                    replanned.push(AptOp::MarkManual(mark));
                }
                ops = replanned.iter().collect();
            }
            if state == "absent" {
                out.shift_remove("cache_updated");
                out.shift_remove("cache_update_time");
            }
        }
        let mut changed = false;
        for op in ops {
            match op {
                AptOp::UpdateCache => {}
                AptOp::Upgrade(mode) => {
                    let (cmd, upgrade_command) = upgrade_cmd(&flags, mode, false);
                    let r = run_cmd(&cmd, &flags, ctx)?;
                    if r.rc != 0 {
                        return Err(ModuleError::new(format!(
                            "'{APT_GET} {upgrade_command}' failed: {}",
                            r.stderr
                        ))
                        .with("stdout", r.stdout)
                        .with("rc", r.rc));
                    }
                    changed = !r.stdout.contains(APT_GET_ZERO);
                    out.insert("msg".into(), Value::from(r.stdout.as_str()));
                    out.insert("stdout".into(), Value::from(r.stdout.as_str()));
                    out.insert("stderr".into(), Value::from(r.stderr.as_str()));
                    if ctx.diff_mode && changed {
                        out.insert("diff".into(), parse_diff(&r.stdout));
                    }
                }
                AptOp::Autoremove => {
                    let r = run_cmd(&autoremove_cmd(&flags, false), &flags, ctx)?;
                    if r.rc != 0 {
                        return Err(ModuleError::new(format!(
                            "'apt-get autoremove' failed: {}",
                            r.stderr
                        ))
                        .with("stdout", r.stdout)
                        .with("stderr", r.stderr)
                        .with("rc", r.rc));
                    }
                    changed = r.stdout.contains(AUTOREMOVE_CHANGED);
                    out.insert("stdout".into(), Value::from(r.stdout.as_str()));
                    out.insert("stderr".into(), Value::from(r.stderr.as_str()));
                    if ctx.diff_mode {
                        out.insert("diff".into(), parse_diff(&r.stdout));
                    }
                }
                AptOp::Install(pkgs) => {
                    let cmd = install_cmd(&flags, pkgs);
                    let r = run_cmd(&cmd, &flags, ctx)?;
                    if r.rc != 0 {
                        let mut e = ModuleError::new(format!("'{cmd}' failed: {}", r.stderr))
                            .with("stdout", r.stdout.as_str())
                            .with("stderr", r.stderr.as_str())
                            .with("rc", r.rc);
                        for k in ["cache_updated", "cache_update_time"] {
                            if let Some(v) = out.get(k) {
                                e.fields.insert(k.into(), v.clone());
                            }
                        }
                        return Err(e);
                    }
                    changed = true;
                    out.insert("stdout".into(), Value::from(r.stdout.as_str()));
                    out.insert("stderr".into(), Value::from(r.stderr.as_str()));
                    if ctx.diff_mode {
                        out.insert("diff".into(), parse_diff(&r.stdout));
                    }
                    // apt-get install marks what it was asked for as manually installed.
                }
                AptOp::MarkManual(names) => {
                    let mut argv = vec!["apt-mark".to_string(), "manual".to_string()];
                    argv.extend(names.iter().cloned());
                    let r = dpkg::run_apt_tool(argv.clone(), ctx.environment)?;
                    if r.rc != 0 {
                        let quoted: Vec<String> = argv.iter().map(|a| shlex_quote(a)).collect();
                        return Err(ModuleError::new(format!(
                            "Command '{}' failed.",
                            quoted.join(" ")
                        ))
                        .with("stdout", r.stdout)
                        .with("stderr", r.stderr)
                        .with("rc", r.rc));
                    }
                }
                AptOp::Remove(pkgs) => {
                    let (cmd, packages) = remove_cmd(&flags, pkgs);
                    let r = run_cmd(&cmd, &flags, ctx)?;
                    if r.rc != 0 {
                        return Err(ModuleError::new(format!(
                            "'apt-get remove {packages}' failed: {}",
                            r.stderr
                        ))
                        .with("stdout", r.stdout)
                        .with("stderr", r.stderr)
                        .with("rc", r.rc));
                    }
                    changed = true;
                    out.insert("stdout".into(), Value::from(r.stdout.as_str()));
                    out.insert("stderr".into(), Value::from(r.stderr.as_str()));
                    if ctx.diff_mode {
                        out.insert("diff".into(), parse_diff(&r.stdout));
                    }
                }
                AptOp::InstallDebs(files) => {
                    // apt-get installs a local .deb with its dependencies in one go.
                    let paths: Vec<String> = files
                        .iter()
                        .map(|f| {
                            if f.contains('/') {
                                f.clone()
                            } else {
                                format!("./{f}")
                            }
                        })
                        .collect();
                    let cmd = install_cmd(&flags, &paths);
                    let r = run_cmd(&cmd, &flags, ctx)?;
                    if r.rc != 0 {
                        return Err(ModuleError::new(format!("{cmd} failed"))
                            .with("stdout", r.stdout)
                            .with("stderr", r.stderr));
                    }
                    changed = true;
                    out.insert("stdout".into(), Value::from(r.stdout.as_str()));
                    out.insert("stderr".into(), Value::from(r.stderr.as_str()));
                    if ctx.diff_mode {
                        out.insert("diff".into(), parse_diff(&r.stdout));
                    }
                }
            }
        }
        out.insert("changed".into(), Value::from(changed));
        Ok(out)
    }
}

/// `apt-get update`, retried with Ansible's backoff.
fn update_cache(args: &Args, ctx: &Ctx<'_>) -> Result<(), ModuleError> {
    let retries = args.int("update_cache_retries").unwrap_or(5).max(1);
    let max_delay = args.int("update_cache_retry_max_delay").unwrap_or(12) as f64;
    let mut err = String::new();
    for retry in 0..retries {
        let r = dpkg::run_apt_tool(
            vec!["apt-get".into(), "update".into(), "-q".into()],
            ctx.environment,
        )?;
        if r.rc == 0 {
            return Ok(());
        }
        err = r.stderr.trim().to_string();
        if retry + 1 < retries {
            let mut delay = 2f64.powi(retry as i32);
            if delay > max_delay {
                delay = max_delay;
            }
            std::thread::sleep(std::time::Duration::from_secs_f64(delay));
        }
    }
    Err(ModuleError::new(format!(
        "Failed to update apt cache after {retries} retries: {}",
        if err.is_empty() {
            "unknown reason"
        } else {
            &err
        }
    )))
}

/// Run an apt-get command line (split as Python's shlex would), with /usr/sbin/policy-rc.d
/// in place when `policy_rc_d` asks for it.
fn run_cmd(cmd: &str, f: &Flags, ctx: &Ctx<'_>) -> Result<CmdOutput, ModuleError> {
    let argv = shlex_split(cmd).map_err(ModuleError::new)?;
    let guard = match f.policy_rc_d {
        Some(code) => Some(PolicyRcD::install(code)?),
        None => None,
    };
    let r = dpkg::run_apt_tool(argv, ctx.environment);
    if let Some(g) = guard {
        g.restore()?;
    }
    r
}

/// /usr/sbin/policy-rc.d replaced for the duration of one apt-get run.
struct PolicyRcD {
    backup: Option<Vec<u8>>,
}

const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

impl PolicyRcD {
    fn install(code: i64) -> Result<PolicyRcD, ModuleError> {
        use std::os::unix::fs::PermissionsExt;
        let backup = std::fs::read(POLICY_RC_D).ok();
        std::fs::write(POLICY_RC_D, format!("#!/bin/sh\nexit {code}\n"))
            .map_err(|_| ModuleError::new("Failed to create or chmod /usr/sbin/policy-rc.d"))?;
        std::fs::set_permissions(POLICY_RC_D, std::fs::Permissions::from_mode(0o755))
            .map_err(|_| ModuleError::new("Failed to create or chmod /usr/sbin/policy-rc.d"))?;
        Ok(PolicyRcD { backup })
    }

    fn restore(self) -> Result<(), ModuleError> {
        match self.backup {
            Some(b) => std::fs::write(POLICY_RC_D, b).map_err(|_| {
                ModuleError::new(format!(
                    "Fail to move back {POLICY_RC_D} to /usr/sbin/policy-rc.d"
                ))
            }),
            None => std::fs::remove_file(POLICY_RC_D).map_err(|_| {
                ModuleError::new(
                    "Fail to remove /usr/sbin/policy-rc.d (after package manipulation)",
                )
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "\
Package: jq
Status: install ok installed
Architecture: amd64
Version: 1.6-2.1+deb12u1

Package: dpkg
Status: install ok installed
Architecture: amd64
Version: 1.21.22

Package: exim4-daemon-light
Status: install ok installed
Architecture: amd64
Version: 4.96-15
Provides: mail-transport-agent

Package: oldpkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0
";

    fn policy() -> HashMap<String, Policy> {
        dpkg::parse_policy(
            "\
tree:
  Installed: (none)
  Candidate: 2.1.0-1
  Version table:
     2.1.0-1 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
     2.0.0-1 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
jq:
  Installed: 1.6-2.1+deb12u1
  Candidate: 1.6-2.1+deb12u3
  Version table:
     1.6-2.1+deb12u3 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
 *** 1.6-2.1+deb12u1 100
        100 /var/lib/dpkg/status
virt:
  Installed: (none)
  Candidate: (none)
  Version table:
",
        )
    }

    fn specs(names: &[&str]) -> Vec<PkgSpec> {
        names.iter().map(|n| parse_spec(n)).collect()
    }

    #[test]
    fn splits_specs_like_ansible() {
        let s = parse_spec("foo=1.0*");
        assert_eq!(
            (s.name.as_str(), s.cmp, s.version.as_str()),
            ("foo", Some(Cmp::Eq), "1.0*")
        );
        let s = parse_spec("foo>=1.0");
        assert_eq!(
            (s.name.as_str(), s.cmp, s.version.as_str()),
            ("foo", Some(Cmp::Ge), "1.0")
        );
        let s = parse_spec(" foo ");
        assert_eq!((s.name.as_str(), s.cmp), ("foo", None));
    }

    #[test]
    fn present_needs_no_policy_when_installed() {
        let st = dpkg::parse_status(STATUS);
        assert!(policy_names(&specs(&["jq", "mail-transport-agent"]), &st, false).is_empty());
        assert_eq!(
            policy_names(&specs(&["jq", "tree", "jq=1.7*"]), &st, false),
            vec!["tree", "jq"]
        );
        assert_eq!(policy_names(&specs(&["jq"]), &st, true), vec!["jq"]);
    }

    #[test]
    fn install_plan() {
        let st = dpkg::parse_status(STATUS);
        let p = policy();
        let r = resolve_install(&specs(&["jq", "tree"]), &st, &p, false, false).unwrap();
        assert_eq!(r, vec!["tree=2.1.0-1"]);
        // latest upgrades jq to the candidate.
        let r = resolve_install(&specs(&["jq", "tree"]), &st, &p, true, false).unwrap();
        assert_eq!(r, vec!["jq=1.6-2.1+deb12u3", "tree=2.1.0-1"]);
        // only_upgrade skips what is not installed.
        let r = resolve_install(&specs(&["jq", "tree"]), &st, &p, true, true).unwrap();
        assert_eq!(r, vec!["jq=1.6-2.1+deb12u3"]);
        // A version pin picks the matching version.
        let r = resolve_install(&specs(&["tree=2.0*"]), &st, &p, false, false).unwrap();
        assert_eq!(r, vec!["tree=2.0.0-1"]);
        // A pin the installed version satisfies is a no-op.
        assert!(
            resolve_install(&specs(&["jq=1.6*"]), &st, &p, false, false)
                .unwrap()
                .is_empty()
        );
        // >= already satisfied / satisfiable.
        assert!(
            resolve_install(&specs(&["jq>=1.5"]), &st, &p, false, false)
                .unwrap()
                .is_empty()
        );
        let r = resolve_install(&specs(&["jq>=1.6-2.1+deb12u2"]), &st, &p, false, false).unwrap();
        assert_eq!(r, vec!["jq=1.6-2.1+deb12u3"]);
        // A virtual package already provided is a no-op; one not provided goes to apt.
        assert!(
            resolve_install(&specs(&["mail-transport-agent"]), &st, &p, false, false)
                .unwrap()
                .is_empty()
        );
        let r = resolve_install(&specs(&["virt"]), &st, &p, false, false).unwrap();
        assert_eq!(r, vec!["virt"]);
    }

    #[test]
    fn install_failures() {
        let st = dpkg::parse_status(STATUS);
        let p = policy();
        assert_eq!(
            resolve_install(&specs(&["nope"]), &st, &p, false, false).unwrap_err(),
            "No package matching 'nope' is available"
        );
        assert_eq!(
            resolve_install(&specs(&["tree=9*"]), &st, &p, false, false).unwrap_err(),
            "no available installation candidate for tree=9*"
        );
        assert_eq!(
            resolve_install(&specs(&["jq>=2"]), &st, &p, false, false).unwrap_err(),
            "no available installation candidate for jq>=2"
        );
    }

    #[test]
    fn remove_plan() {
        let st = dpkg::parse_status(STATUS);
        assert_eq!(
            resolve_remove(&specs(&["jq", "tree", "oldpkg"]), &st, false),
            vec!["jq"]
        );
        assert_eq!(
            resolve_remove(&specs(&["jq", "tree", "oldpkg"]), &st, true),
            vec!["jq", "oldpkg"]
        );
        assert!(resolve_remove(&specs(&["jq=2*"]), &st, false).is_empty());
    }

    #[test]
    fn command_lines_as_ansible_builds_them() {
        let f = Flags {
            dpkg_options: dpkg_option_string(DPKG_OPTIONS, 60),
            install_recommends: Some(false),
            ..Flags::default()
        };
        assert_eq!(
            install_cmd(&f, &["tree=2.1.0-1".into()]),
            "/usr/bin/apt-get -y -o \"Dpkg::Options::=--force-confdef\" -o \"Dpkg::Options::=--force-confold\" -o DPkg::Lock::Timeout=60       install 'tree=2.1.0-1' -o APT::Install-Recommends=no"
        );
        let argv = shlex_split(&install_cmd(&f, &["tree=2.1.0-1".into()])).unwrap();
        assert_eq!(argv[3], "Dpkg::Options::=--force-confdef");
        assert!(argv.contains(&"tree=2.1.0-1".to_string()));
        let f = Flags { purge: true, ..f };
        let (cmd, pk) = remove_cmd(&f, &["jq".into()]);
        assert_eq!(pk, "'jq'");
        assert!(cmd.contains(" --purge "), "{cmd}");
        assert!(cmd.ends_with(" remove 'jq'"), "{cmd}");
    }

    #[test]
    fn upgrade_and_autoremove_command_lines() {
        let f = Flags {
            dpkg_options: dpkg_option_string(DPKG_OPTIONS, 60),
            autoremove: true,
            ..Flags::default()
        };
        let (cmd, uc) = upgrade_cmd(&f, "dist", true);
        assert_eq!(uc, "dist-upgrade --auto-remove");
        assert!(
            cmd.contains(" --simulate dist-upgrade --auto-remove"),
            "{cmd}"
        );
        let (cmd, uc) = upgrade_cmd(&f, "safe", false);
        assert_eq!(uc, "upgrade --with-new-pkgs --auto-remove");
        assert!(!cmd.contains("--simulate"), "{cmd}");
        let c = autoremove_cmd(&f, true);
        assert!(c.ends_with(" autoremove --simulate"), "{c}");
        assert!(shlex_split(&c).unwrap().contains(&"autoremove".to_string()));
    }

    #[test]
    fn diff_of_apt_output() {
        let out = "Reading package lists...\nBuilding dependency tree...\nReading state information...\nThe following NEW packages will be installed:\n  tree\n0 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.\nGet:1 http://x tree\n";
        let d = parse_diff(out);
        assert_eq!(
            d.get_attr("prepared").unwrap().as_str().unwrap(),
            "The following NEW packages will be installed:\n  tree\n0 upgraded, 1 newly installed, 0 to remove and 0 not upgraded."
        );
    }
}
