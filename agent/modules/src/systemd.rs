//! The `systemd` module (ansible.builtin.systemd_service, alias systemd) and the
//! `service` module, which on a systemd host is the same thing (Ansible's service
//! action dispatches to systemd and drops the parameters systemd does not use).
//!
//! observe reads the unit's properties and unit-file state (host/systemd.rs: D-Bus,
//! systemctl or the files offline); plan decides, in Ansible's order, daemon-reload,
//! daemon-reexec, mask/unmask, enable/disable and the job to run; apply does it.
//! As in Ansible, daemon_reload and daemon_reexec run but never count as a change, and
//! `status` is the unit as found before any change.

use indexmap::IndexMap;
use minijinja::Value;

use crate::host::systemd::{self as sd, FileOp, JobVerb, Manager, Scope};
use crate::spec::{Arg, Args, Def, Ty};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap};

pub struct Systemd;
pub struct Service;

const SPEC: &[Arg] = &[
    Arg::str("name").aliases(&["service", "unit"]),
    Arg::str("state").choices(&["reloaded", "restarted", "started", "stopped"]),
    Arg::new("enabled", Ty::Bool),
    Arg::new("force", Ty::Bool),
    Arg::new("masked", Ty::Bool),
    Arg::bool("daemon_reload", false).aliases(&["daemon-reload"]),
    Arg::bool("daemon_reexec", false).aliases(&["daemon-reexec"]),
    Arg::str("scope")
        .default(Def::Str("system"))
        .choices(&["system", "user", "global"]),
    Arg::bool("no_block", false),
];

/// What `service` takes beyond systemd's parameters; dropped with a warning on a
/// systemd host, as Ansible's service action does.
const SERVICE_EXTRA: &[Arg] = &[
    Arg::str("pattern"),
    Arg::str("runlevel"),
    Arg::int("sleep"),
    Arg::str("arguments").aliases(&["args"]),
    Arg::str("use").default(Def::Str("auto")),
];

/// What observe learns.
pub struct Observed {
    mgr: Option<Manager>,
    /// The unit as systemd names it (`nginx` → `nginx.service`).
    unit: Option<String>,
    /// `systemctl show` of the unit (empty when systemd cannot be asked).
    status: IndexMap<String, String>,
    /// `systemctl is-enabled`.
    file_state: Option<String>,
    /// The links `systemctl is-enabled --full` lists (read only for the states where
    /// they decide; see [`counts_as_enabled`]).
    links: Vec<String>,
    found: bool,
    offline: bool,
    chroot: bool,
    warnings: Vec<String>,
}

/// One planned operation, in the order apply runs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    DaemonReload,
    DaemonReexec,
    Files(FileOp),
    Job(JobVerb),
}

impl Op {
    /// daemon-reload and daemon-reexec run but are not changes (as in Ansible).
    fn is_change(&self) -> bool {
        !matches!(self, Op::DaemonReload | Op::DaemonReexec)
    }
}

fn scope(args: &Args) -> Scope {
    match args.str("scope") {
        Some("user") => Scope::User,
        Some("global") => Scope::Global,
        _ => Scope::System,
    }
}

/// Ansible's required_by checks and the glob refusal. (Its required_one_of never fires:
/// daemon_reload and daemon_reexec have defaults, which count as given.)
fn check_args(args: &Args) -> Result<(), ModuleError> {
    if !args.is_set("name") {
        for p in ["state", "enabled", "masked"] {
            if args.is_set(p) {
                return Err(ModuleError::new(format!(
                    "missing parameter(s) required by '{p}': name"
                )));
            }
        }
    }
    if let Some(unit) = args.str("name") {
        for g in ["*", "?", "["] {
            if unit.contains(g) {
                return Err(ModuleError::new(format!(
                    "This module does not currently support using glob patterns, found '{g}' in service name: {unit}"
                )));
            }
        }
    }
    Ok(())
}

fn observe_unit(args: &Args) -> Result<Observed, ModuleError> {
    check_args(args)?;
    let mgr = Manager::open(scope(args));
    let offline = mgr.is_offline();
    let mut o = Observed {
        mgr: None,
        unit: None,
        status: IndexMap::new(),
        file_state: None,
        links: Vec::new(),
        found: false,
        offline,
        chroot: offline && (sd::is_chroot() || sd::offline_env()),
        warnings: Vec::new(),
    };
    if let Some(name) = args.str("name") {
        let unit = sd::unit_name(name);
        let status = mgr.show(&unit);
        let file_state = mgr.unit_file_state(&unit);
        let load = status.get("LoadState").map(String::as_str);
        let is_systemd = match load {
            Some(l) => l != "not-found",
            // Nothing loaded (offline): a unit file (or a mask) is what counts.
            None => file_state.is_some(),
        };
        let masked = load == Some("masked");
        if is_systemd
            && !masked
            && let Some(e) = status.get("LoadError")
        {
            return Err(ModuleError::new(format!(
                "Error loading unit file '{name}': {e}"
            )));
        }
        let is_initd = sd::sysv_exists(name);
        if is_initd && !is_systemd {
            o.warnings.push(format!(
                "The service ({name}) is actually an init script but the system is managed by systemd"
            ));
        }
        o.found = is_systemd || is_initd;
        o.status = status;
        // `systemctl is-enabled --full` prints the enabling links under states such as
        // "indirect"; Ansible then no longer sees the bare state (see counts_as_enabled).
        if matches!(
            file_state.as_deref(),
            Some("enabled-runtime" | "indirect" | "alias")
        ) {
            o.links = mgr.unit_file_links(&unit);
        }
        o.unit = Some(unit);
        o.file_state = file_state;
    }
    o.mgr = Some(mgr);
    Ok(o)
}

fn not_found(name: &str) -> ModuleError {
    ModuleError::new(format!("Could not find the requested service {name}: host"))
}

/// Whether `systemctl is-enabled -l` would make Ansible call the unit enabled:
/// exit status 0 and not one of the states it re-enables anyway. Ansible compares the
/// whole output, so one of those states followed by the links that enable the unit
/// (`links`: an indirect unit whose `Also=` units are enabled) counts as enabled.
fn counts_as_enabled(
    state: Option<&str>,
    links: &[String],
    name: &str,
    scope_system: bool,
) -> bool {
    match state {
        Some(
            "enabled" | "static" | "generated" | "transient" | "enabled-runtime" | "indirect"
            | "alias",
        ) => !matches!(state, Some("enabled-runtime" | "indirect" | "alias")) || !links.is_empty(),
        other => {
            scope_system
                && sd::sysv_exists(name)
                && !other.unwrap_or_default().ends_with("disabled")
                && sd::sysv_is_enabled(name)
        }
    }
}

fn plan_unit(args: &Args, o: &Observed) -> Result<Plan<Op>, ModuleError> {
    let mut plan: Plan<Op> = Plan::default();
    let name = args.string("name");
    plan.set("name", Value::from(name.clone()));
    let mut warnings = o.warnings.clone();
    if args.bool("daemon_reload") {
        plan.ops.push(Op::DaemonReload);
    }
    if args.bool("daemon_reexec") {
        plan.ops.push(Op::DaemonReexec);
    }
    let status: IndexMap<String, Value> = o
        .status
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    plan.set("status", Value::from_pairs(status));
    if let Some(name) = name.as_deref() {
        let mut file_state = o.file_state.clone();
        if let Some(want) = args.opt_bool("masked") {
            let masked = file_state.as_deref() == Some("masked");
            if masked != want {
                plan.ops
                    .push(Op::Files(if want { FileOp::Mask } else { FileOp::Unmask }));
                if want {
                    file_state = Some("masked".into());
                }
            }
        }
        if let Some(want) = args.opt_bool("enabled") {
            if !o.found {
                return Err(not_found(name));
            }
            let enabled = counts_as_enabled(
                file_state.as_deref(),
                &o.links,
                name,
                scope(args) == Scope::System,
            );
            if enabled != want {
                plan.ops.push(Op::Files(if want {
                    FileOp::Enable
                } else {
                    FileOp::Disable
                }));
            }
            plan.set("enabled", Value::from(want));
        }
        if let Some(state) = args.str("state") {
            if !o.found {
                return Err(not_found(name));
            }
            plan.set("state", Value::from(state));
            match o.status.get("ActiveState").map(String::as_str) {
                Some(active) => {
                    let running = matches!(active, "active" | "activating");
                    let verb = match state {
                        "started" => (!running).then_some(JobVerb::Start),
                        "stopped" => {
                            (running || active == "deactivating").then_some(JobVerb::Stop)
                        }
                        other => {
                            plan.set("state", Value::from("started"));
                            Some(if !running {
                                JobVerb::Start
                            } else if other == "restarted" {
                                JobVerb::Restart
                            } else {
                                JobVerb::Reload
                            })
                        }
                    };
                    if let Some(v) = verb {
                        plan.ops.push(Op::Job(v));
                    }
                }
                None if o.chroot => warnings.push(
                    "Target is a chroot or systemd is offline. This can lead to false positives or prevent the init system tools from working.".into(),
                ),
                None if o.offline => {
                    return Err(ModuleError::new(format!(
                        "Could not set {name} {state}: systemd is not running on this host (no /run/systemd/system), so units cannot be started or stopped; enabled and masked still work offline"
                    ))
                    .with("status", Value::from_pairs(IndexMap::<String, Value>::new())));
                }
                None => {
                    return Err(ModuleError::new("Service is in unknown state")
                        .with("status", plan.result.get("status").cloned().unwrap_or_default()));
                }
            }
        }
    }
    let changed = plan.ops.iter().any(Op::is_change);
    if !warnings.is_empty() {
        plan.set("warnings", Value::from(warnings));
    }
    plan.set("changed", Value::from(changed));
    Ok(plan)
}

fn apply_unit(args: &Args, o: Observed, plan: &Plan<Op>) -> Result<ResultMap, ModuleError> {
    let mut extra = ResultMap::new();
    let Some(mgr) = o.mgr else {
        return Ok(extra);
    };
    let name = args.str("name").unwrap_or_default();
    let unit = o.unit.clone().unwrap_or_default();
    let force = args.bool("force");
    let mut warnings: Vec<Value> = plan
        .result
        .get("warnings")
        .and_then(|w| w.try_iter().ok())
        .map(|it| it.collect())
        .unwrap_or_default();
    // Ansible's failures here carry only the message.
    let fail = |msg: String, _plan: &Plan<Op>| ModuleError::new(msg);
    for op in &plan.ops {
        match op {
            Op::DaemonReload | Op::DaemonReexec => {
                let what = if *op == Op::DaemonReload {
                    "daemon-reload"
                } else {
                    "daemon-reexec"
                };
                let r = if *op == Op::DaemonReload {
                    mgr.daemon_reload()
                } else {
                    mgr.daemon_reexec()
                };
                if let Err(err) = r {
                    if o.chroot {
                        warnings.push(Value::from(format!(
                            "{what} failed, but target is a chroot or systemd is offline. Continuing. Error was: 1 / {err}"
                        )));
                    } else {
                        return Err(fail(format!("failure 1 during {what}: {err}"), plan));
                    }
                }
            }
            Op::Files(f) => {
                if let Err(err) = mgr.unit_files(*f, &unit, force) {
                    return Err(match f {
                        FileOp::Mask | FileOp::Unmask => {
                            if !o.found {
                                not_found(name)
                            } else {
                                fail(
                                    format!(
                                        "Failed to {} the service ({name}): {}",
                                        f.as_str(),
                                        err.trim()
                                    ),
                                    plan,
                                )
                            }
                        }
                        _ => fail(
                            format!("Unable to {} service {name}: {err}", f.as_str()),
                            plan,
                        ),
                    });
                }
            }
            Op::Job(v) => {
                if let Err(err) = mgr.job(*v, &unit, args.bool("no_block")) {
                    return Err(fail(
                        format!("Unable to {} service {name}: {err}", v.as_str()),
                        plan,
                    ));
                }
            }
        }
    }
    if !warnings.is_empty() {
        extra.insert("warnings".into(), Value::from(warnings));
    }
    Ok(extra)
}

impl Module for Systemd {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = Observed;
    type Op = Op;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        observe_unit(args)
    }

    fn plan(args: &Args, o: &Observed, _ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        plan_unit(args, o)
    }

    fn apply(
        args: &Args,
        o: Observed,
        plan: &Plan<Op>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        apply_unit(args, o, plan)
    }
}

/// The service manager `service` dispatches to: `use`, else the `service_mgr` fact,
/// else detected on the host.
fn service_mgr(args: &Args, ctx: &Ctx<'_>) -> Option<String> {
    let u = args.str("use").unwrap_or("auto").to_ascii_lowercase();
    if u != "auto" {
        return Some(u);
    }
    let from_facts = ctx.vars.layers.iter().find_map(|layer| {
        let v = layer
            .get_attr("ansible_facts")
            .ok()?
            .get_attr("service_mgr")
            .ok()?;
        (!v.is_undefined() && !v.is_none()).then(|| v.to_string())
    });
    from_facts.or_else(|| sd::service_mgr().map(str::to_string))
}

impl Module for Service {
    const SPECS: &'static [&'static [Arg]] = &[SPEC, SERVICE_EXTRA];
    type Observed = Observed;
    type Op = Op;

    fn observe(args: &Args, ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        if !args.is_set("name") {
            return Err(ModuleError::new("missing required arguments: name"));
        }
        match service_mgr(args, ctx).as_deref() {
            Some("systemd") => {}
            Some(other) => {
                return Err(ModuleError::new(format!(
                    "the service module supports only systemd hosts here; this host's service manager is {other}"
                )));
            }
            None => {
                return Err(ModuleError::new(
                    "Could not detect which service manager to use. Try gathering facts or setting the \"use\" option.",
                ));
            }
        }
        let mut o = observe_unit(args)?;
        for p in ["pattern", "runlevel", "sleep", "arguments"] {
            if args.is_set(p) {
                o.warnings
                    .push(format!("Ignoring \"{p}\" as it is not used in \"systemd\""));
            }
        }
        Ok(o)
    }

    fn plan(args: &Args, o: &Observed, _ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        plan_unit(args, o)
    }

    fn apply(
        args: &Args,
        o: Observed,
        plan: &Plan<Op>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        apply_unit(args, o, plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, Value)]) -> Args {
        let raw: IndexMap<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        crate::spec::parse("systemd", Systemd::SPECS, &raw).unwrap()
    }

    fn observed(active: Option<&str>, file_state: Option<&str>, found: bool) -> Observed {
        let mut status = IndexMap::new();
        if let Some(a) = active {
            status.insert("ActiveState".to_string(), a.to_string());
            status.insert("LoadState".to_string(), "loaded".to_string());
        }
        Observed {
            mgr: None,
            unit: Some("demo.service".into()),
            status,
            file_state: file_state.map(str::to_string),
            links: Vec::new(),
            found,
            offline: active.is_none(),
            chroot: false,
            warnings: Vec::new(),
        }
    }

    fn ops(a: &Args, o: &Observed) -> Vec<Op> {
        plan_unit(a, o).unwrap().ops
    }

    #[test]
    fn states() {
        let started = args(&[("name", "demo".into()), ("state", "started".into())]);
        assert_eq!(
            ops(&started, &observed(Some("inactive"), Some("enabled"), true)),
            vec![Op::Job(JobVerb::Start)]
        );
        assert!(ops(&started, &observed(Some("active"), Some("enabled"), true)).is_empty());
        assert!(ops(&started, &observed(Some("activating"), None, true)).is_empty());
        let stopped = args(&[("name", "demo".into()), ("state", "stopped".into())]);
        assert_eq!(
            ops(&stopped, &observed(Some("deactivating"), None, true)),
            vec![Op::Job(JobVerb::Stop)]
        );
        assert!(ops(&stopped, &observed(Some("failed"), None, true)).is_empty());
        let restarted = args(&[("name", "demo".into()), ("state", "restarted".into())]);
        assert_eq!(
            ops(&restarted, &observed(Some("active"), None, true)),
            vec![Op::Job(JobVerb::Restart)]
        );
        assert_eq!(
            ops(&restarted, &observed(Some("inactive"), None, true)),
            vec![Op::Job(JobVerb::Start)]
        );
        let reloaded = args(&[("name", "demo".into()), ("state", "reloaded".into())]);
        let p = plan_unit(&reloaded, &observed(Some("active"), None, true)).unwrap();
        assert_eq!(p.ops, vec![Op::Job(JobVerb::Reload)]);
        assert_eq!(p.result["state"].as_str(), Some("started"));
    }

    #[test]
    fn enabled_and_masked() {
        let en = args(&[("name", "demo".into()), ("enabled", true.into())]);
        let dis = args(&[("name", "demo".into()), ("enabled", false.into())]);
        assert_eq!(
            ops(&en, &observed(Some("inactive"), Some("disabled"), true)),
            vec![Op::Files(FileOp::Enable)]
        );
        assert!(ops(&en, &observed(Some("inactive"), Some("enabled"), true)).is_empty());
        assert!(ops(&en, &observed(Some("inactive"), Some("static"), true)).is_empty());
        // Ansible re-enables indirect/alias/enabled-runtime units, unless
        // `is-enabled --full` lists links that enable them (an indirect unit's Also=).
        assert_eq!(
            ops(&en, &observed(Some("inactive"), Some("indirect"), true)),
            vec![Op::Files(FileOp::Enable)]
        );
        let mut linked = observed(Some("inactive"), Some("indirect"), true);
        linked.links = vec!["/etc/systemd/system/sockets.target.wants/demo.socket".into()];
        assert!(ops(&en, &linked).is_empty());
        assert_eq!(ops(&dis, &linked), vec![Op::Files(FileOp::Disable)]);
        assert_eq!(
            ops(&dis, &observed(Some("active"), Some("enabled"), true)),
            vec![Op::Files(FileOp::Disable)]
        );
        // A static unit "is enabled": disabling it is a change every time, as in Ansible.
        assert_eq!(
            ops(&dis, &observed(Some("active"), Some("static"), true)),
            vec![Op::Files(FileOp::Disable)]
        );
        let mask = args(&[
            ("name", "demo".into()),
            ("masked", true.into()),
            ("enabled", false.into()),
        ]);
        assert_eq!(
            ops(&mask, &observed(Some("inactive"), Some("enabled"), true)),
            vec![Op::Files(FileOp::Mask)]
        );
        let unmask = args(&[
            ("name", "demo".into()),
            ("masked", false.into()),
            ("state", "started".into()),
        ]);
        assert_eq!(
            ops(&unmask, &observed(Some("inactive"), Some("masked"), true)),
            vec![Op::Files(FileOp::Unmask), Op::Job(JobVerb::Start)]
        );
        let p = plan_unit(&en, &observed(Some("inactive"), Some("disabled"), false));
        assert_eq!(
            p.unwrap_err().msg,
            "Could not find the requested service demo: host"
        );
    }

    #[test]
    fn daemon_reload_is_not_a_change() {
        let a = args(&[("daemon_reload", true.into())]);
        let p = plan_unit(&a, &observed(None, None, false)).unwrap();
        assert_eq!(p.ops, vec![Op::DaemonReload]);
        assert_eq!(p.result["changed"], Value::from(false));
        let a = args(&[
            ("name", "demo".into()),
            ("daemon_reload", true.into()),
            ("state", "started".into()),
        ]);
        let p = plan_unit(&a, &observed(Some("inactive"), None, true)).unwrap();
        assert_eq!(p.ops, vec![Op::DaemonReload, Op::Job(JobVerb::Start)]);
        assert_eq!(p.result["changed"], Value::from(true));
    }

    #[test]
    fn offline_state_is_refused_clearly() {
        let a = args(&[("name", "demo".into()), ("state", "started".into())]);
        let e = plan_unit(&a, &observed(None, Some("enabled"), true)).unwrap_err();
        assert!(e.msg.contains("systemd is not running"), "{}", e.msg);
        let mut o = observed(None, Some("enabled"), true);
        o.chroot = true;
        let p = plan_unit(&a, &o).unwrap();
        assert!(p.ops.is_empty());
        assert!(p.result.contains_key("warnings"));
    }

    #[test]
    fn argument_checks() {
        // A name alone is accepted (and changes nothing), as in Ansible.
        assert!(check_args(&args(&[("name", "x".into())])).is_ok());
        let e = check_args(&args(&[("state", "started".into())])).unwrap_err();
        assert_eq!(e.msg, "missing parameter(s) required by 'state': name");
        let e =
            check_args(&args(&[("name", "x*".into()), ("state", "started".into())])).unwrap_err();
        assert_eq!(
            e.msg,
            "This module does not currently support using glob patterns, found '*' in service name: x*"
        );
    }
}
