//! The `service_facts` module: `ansible_facts.services` in Ansible's shape, from
//! systemd's ListUnits and ListUnitFiles (one D-Bus call each) plus the init scripts
//! that `service --status-all` would list (source `sysv`). It never changes anything.

use std::path::Path;

use indexmap::IndexMap;
use minijinja::Value;

use crate::host::systemd::{self as sd, Manager, Scope, UnitRow};
use crate::spec::{Arg, Args};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap};

pub struct ServiceFacts;

const SPEC: &[Arg] = &[];

/// One entry of `ansible_facts.services`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Svc {
    pub name: String,
    pub state: String,
    /// `None` for sysv entries (Ansible gives them no status).
    pub status: Option<String>,
    pub source: &'static str,
}

pub struct Observed {
    services: Vec<Svc>,
    warnings: Vec<String>,
}

const BAD_STATES: &[&str] = &["not-found", "masked", "failed"];

/// Ansible's SystemctlScanService over already-fetched rows: units first, then unit
/// files for the ones not loaded and for the final status.
pub fn merge_systemd(
    units: &[UnitRow],
    files: &[(String, String)],
    state_of_unloaded: impl Fn(&str) -> String,
) -> IndexMap<String, Svc> {
    let mut out: IndexMap<String, Svc> = IndexMap::new();
    for u in units.iter().filter(|u| u.name.contains(".service")) {
        let status = [&u.load, &u.active, &u.sub]
            .iter()
            .find(|f| BAD_STATES.contains(&f.as_str()))
            .map(|s| s.to_string())
            .unwrap_or_else(|| u.active.clone());
        let state = if u.sub == "running" {
            "running"
        } else {
            "stopped"
        };
        out.insert(
            u.name.clone(),
            Svc {
                name: u.name.clone(),
                state: state.into(),
                status: Some(status),
                source: "systemd",
            },
        );
    }
    for (name, state) in files.iter().filter(|(n, _)| n.ends_with(".service")) {
        match out.get_mut(name) {
            None => {
                out.insert(
                    name.clone(),
                    Svc {
                        name: name.clone(),
                        state: state_of_unloaded(name),
                        status: Some(state.clone()),
                        source: "systemd",
                    },
                );
            }
            Some(s) => {
                if !s
                    .status
                    .as_deref()
                    .is_some_and(|st| BAD_STATES.contains(&st))
                {
                    s.status = Some(state.clone());
                }
            }
        }
    }
    out
}

/// Init scripts `service --status-all` lists: executable, not one it ignores, with a
/// `status` action. Running when the systemd unit of the same name is active (what the
/// script's `status` reports on a systemd host).
fn sysv_services(active: &dyn Fn(&str) -> bool) -> Vec<Svc> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/etc/init.d") else {
        return out;
    };
    let mut names: Vec<String> = rd
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    names.sort();
    for n in names {
        let ignored = matches!(
            n.as_str(),
            "functions"
                | "halt"
                | "killall"
                | "single"
                | "linuxconf"
                | "kudzu"
                | "skeleton"
                | "README"
                | "rc"
                | "rcS"
                | "reboot"
                | "bootclean.sh"
        ) || n.ends_with(".dpkg-dist")
            || n.ends_with(".dpkg-old");
        if ignored {
            continue;
        }
        let p = Path::new("/etc/init.d").join(&n);
        let exec =
            std::fs::metadata(&p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if !exec {
            continue;
        }
        // Scripts using the LSB functions get `status` from systemd's hook; others
        // need their own `status` action (without one they print a usage: `[ ? ]`).
        let has_status = std::fs::read(&p)
            .map(|b| {
                let t = String::from_utf8_lossy(&b);
                t.contains("/lib/lsb/init-functions") || t.contains("status")
            })
            .unwrap_or(false);
        if !has_status {
            continue;
        }
        let unit = sd::unit_name(n.trim_end_matches(".sh"));
        let state = if active(&unit) { "running" } else { "stopped" };
        out.push(Svc {
            name: n,
            state: state.into(),
            status: None,
            source: "sysv",
        });
    }
    out
}

impl Module for ServiceFacts {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = Observed;
    type Op = ();

    fn observe(_args: &Args, _ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        let mut warnings = Vec::new();
        let mut services = Vec::new();
        let systemd = sd::systemctl_path().is_some() && sd::booted();
        let mgr = systemd.then(|| Manager::open(Scope::System));
        let units = match &mgr {
            Some(m) => m.list_units().unwrap_or_else(|e| {
                warnings.push(format!("Could not list units from systemd: {e}"));
                Vec::new()
            }),
            None => Vec::new(),
        };
        let is_active = |unit: &str| {
            units
                .iter()
                .any(|u| u.name == unit && matches!(u.active.as_str(), "active" | "reloading"))
        };
        if Path::new("/usr/sbin/service").exists() || Path::new("/sbin/service").exists() {
            services.extend(sysv_services(&is_active));
        }
        if let Some(m) = &mgr {
            let files = m.list_unit_files().unwrap_or_else(|e| {
                warnings.push(format!("Could not get unit files data from systemd: {e}"));
                Vec::new()
            });
            // A unit file systemd has not loaded is inactive, unless it is an alias of a
            // loaded unit (asked, as Ansible asks `systemctl show`); a template cannot be
            // asked at all.
            let merged = merge_systemd(&units, &files, |name| {
                if name.contains("@.") {
                    "unknown".into()
                } else if files.iter().any(|(n, st)| n == name && st == "alias") {
                    m.active_state(name).unwrap_or_else(|| "unknown".into())
                } else {
                    "inactive".into()
                }
            });
            services.extend(merged.into_values());
        }
        Ok(Observed { services, warnings })
    }

    fn plan(_args: &Args, o: &Observed, _ctx: &Ctx<'_>) -> Result<Plan<()>, ModuleError> {
        let mut plan = Plan::default();
        if o.services.is_empty() {
            plan.set("skipped", Value::from(true));
            plan.set(
                "msg",
                Value::from(
                    "Failed to find any services. This can be due to privileges or some other configuration issue.",
                ),
            );
        } else {
            let mut all: IndexMap<String, Value> = IndexMap::new();
            for s in &o.services {
                let mut m: IndexMap<&str, Value> = IndexMap::new();
                m.insert("name", Value::from(s.name.as_str()));
                m.insert("state", Value::from(s.state.as_str()));
                if let Some(st) = &s.status {
                    m.insert("status", Value::from(st.as_str()));
                }
                m.insert("source", Value::from(s.source));
                all.insert(s.name.clone(), Value::from_pairs(m));
            }
            plan.set(
                "ansible_facts",
                Value::from_pairs([("services", Value::from_pairs(all))]),
            );
        }
        if !o.warnings.is_empty() {
            plan.set("warnings", Value::from(o.warnings.clone()));
        }
        Ok(plan)
    }

    fn apply(
        _args: &Args,
        _o: Observed,
        _plan: &Plan<()>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        Ok(ResultMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, load: &str, active: &str, sub: &str) -> UnitRow {
        UnitRow {
            name: name.into(),
            load: load.into(),
            active: active.into(),
            sub: sub.into(),
        }
    }

    #[test]
    fn shape_like_ansible() {
        let units = vec![
            row("dbus.service", "loaded", "active", "running"),
            row("gone.service", "not-found", "inactive", "dead"),
            row("broken.service", "loaded", "failed", "failed"),
            row("oneshot.service", "loaded", "active", "exited"),
            row("dbus.socket", "loaded", "active", "running"),
        ];
        let files = vec![
            ("dbus.service".to_string(), "static".to_string()),
            ("broken.service".to_string(), "enabled".to_string()),
            ("ssh.service".to_string(), "disabled".to_string()),
            ("getty@.service".to_string(), "enabled".to_string()),
            ("dbus.socket".to_string(), "static".to_string()),
        ];
        let m = merge_systemd(&units, &files, |n| {
            if n.contains("@.") {
                "unknown"
            } else {
                "inactive"
            }
            .into()
        });
        let get = |n: &str| m.get(n).cloned().unwrap();
        assert_eq!(get("dbus.service").state, "running");
        assert_eq!(get("dbus.service").status.as_deref(), Some("static"));
        assert_eq!(get("gone.service").status.as_deref(), Some("not-found"));
        assert_eq!(get("gone.service").state, "stopped");
        assert_eq!(get("broken.service").status.as_deref(), Some("failed"));
        assert_eq!(get("oneshot.service").state, "stopped");
        assert_eq!(get("oneshot.service").status.as_deref(), Some("active"));
        assert_eq!(get("ssh.service").state, "inactive");
        assert_eq!(get("ssh.service").status.as_deref(), Some("disabled"));
        assert_eq!(get("getty@.service").state, "unknown");
        assert!(!m.contains_key("dbus.socket"));
    }
}
