//! The `hostname` module (ansible.builtin.hostname): the permanent host name
//! (/etc/hostname, or HOSTNAME= in /etc/sysconfig/network) and the running one, chosen
//! by strategy as Ansible chooses them. Where Ansible asks `hostnamectl`, the agent reads
//! and writes /etc/hostname itself and sets the running name with sethostname(2).

use std::path::Path;

use crate::host::fs::{self as hfs, FileAttrs};
use crate::host::hostname as hn;
use crate::spec::{Arg, Args};
use crate::{Ctx, Diff, Module, ModuleError, Plan, ResultMap, Value};

pub struct Hostname;

const USES: &[&str] = &[
    "alpine", "debian", "freebsd", "generic", "macos", "macosx", "darwin", "openbsd", "openrc",
    "redhat", "sles", "solaris", "systemd",
];

const SPEC: &[Arg] = &[Arg::str("name").required(), Arg::str("use").choices(USES)];

const HOSTNAME_FILE: &str = "/etc/hostname";
const NETWORK_FILE: &str = "/etc/sysconfig/network";

/// How the name is kept (Ansible's strategy classes that apply to Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// hostnamectl in Ansible: /etc/hostname and the kernel's name.
    Systemd,
    /// /etc/hostname only (Debian family without systemd); the running name is not set.
    File,
    /// /etc/hostname, then the running name (Alpine).
    Alpine,
    /// HOSTNAME= in /etc/sysconfig/network (Red Hat family without systemd).
    RedHat,
}

#[derive(Debug)]
pub struct Observed {
    strategy: Strategy,
    current: String,
    permanent: String,
    /// /etc/sysconfig/network for the RedHat strategy.
    network: String,
}

#[derive(Debug, PartialEq)]
pub enum Op {
    WriteFile { path: &'static str, content: String },
    SetCurrent(String),
}

fn os_release_id() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
            .unwrap_or_default()
    };
    (get("ID"), get("NAME"))
}

fn strategy(use_: Option<&str>) -> Result<Strategy, ModuleError> {
    match use_ {
        Some("systemd" | "debian") => return Ok(Strategy::Systemd),
        Some("alpine") => return Ok(Strategy::Alpine),
        Some("redhat") => return Ok(Strategy::RedHat),
        Some(other) => {
            return Err(ModuleError::new(format!(
                "hostname: use={other} is not supported by the agent on Linux"
            )));
        }
        None => {}
    }
    if crate::host::run::systemd_managed() {
        return Ok(Strategy::Systemd);
    }
    let (id, name) = os_release_id();
    match id.as_str() {
        "debian" | "ubuntu" | "kali" | "parrot" | "linuxmint" | "devuan" | "cumulus-linux"
        | "kylin" | "linaro" | "raspbian" | "pop" | "elementary" | "deepin" => Ok(Strategy::File),
        "rhel" | "centos" | "ol" | "amzn" | "scientific" | "cloudlinux" | "almalinux" | "rocky"
        | "anolis" | "alinux" | "virtuozzo" | "eurolinux" => Ok(Strategy::RedHat),
        "alpine" => Ok(Strategy::Alpine),
        "fedora" | "arch" | "archarm" | "manjaro" | "opensuse-leap" | "opensuse-tumbleweed" => {
            Ok(Strategy::Systemd)
        }
        _ => Err(ModuleError::new(format!(
            "hostname module cannot be used on platform Linux ({})",
            if name.is_empty() { "Unknown" } else { &name }
        ))),
    }
}

fn read_hostname_file() -> Result<String, ModuleError> {
    if !Path::new(HOSTNAME_FILE).is_file() {
        return Ok(String::new());
    }
    std::fs::read_to_string(HOSTNAME_FILE)
        .map(|s| s.trim().to_string())
        .map_err(|e| ModuleError::new(format!("failed to read hostname: {e}")))
}

/// The HOSTNAME= value of /etc/sysconfig/network.
fn network_hostname(text: &str) -> Result<String, ModuleError> {
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("HOSTNAME") {
            let mut parts = line.split('=');
            return match (parts.next(), parts.next(), parts.next()) {
                (Some(_), Some(v), None) => Ok(v.trim().to_string()),
                _ => Err(ModuleError::new(format!(
                    "failed to read hostname: cannot parse {line:?}"
                ))),
            };
        }
    }
    Err(ModuleError::new(format!(
        "failed to read hostname: Unable to locate HOSTNAME entry in {NETWORK_FILE}"
    )))
}

/// /etc/sysconfig/network with HOSTNAME= set (Ansible's RedHatStrategy).
fn network_with(text: &str, name: &str) -> String {
    let mut out = String::new();
    let mut found = false;
    for line in crate::lineinfile::split_lines_keep(text) {
        if line.trim().starts_with("HOSTNAME") {
            out.push_str(&format!("HOSTNAME={name}\n"));
            found = true;
        } else {
            out.push_str(&line);
        }
    }
    if !found {
        out.push_str(&format!("HOSTNAME={name}\n"));
    }
    out
}

/// The operations for `name` given what was observed.
fn plan_ops(name: &str, o: &Observed) -> Result<Vec<Op>, ModuleError> {
    let mut ops = Vec::new();
    match o.strategy {
        Strategy::Systemd => {
            let too_long = || {
                ModuleError::new(
                    "name cannot be longer than 64 characters on systemd servers, try a shorter name",
                )
            };
            if o.permanent != name {
                if name.len() > 64 {
                    return Err(too_long());
                }
                ops.push(Op::WriteFile {
                    path: HOSTNAME_FILE,
                    content: format!("{name}\n"),
                });
            }
            if o.current != name {
                if name.len() > 64 {
                    return Err(too_long());
                }
                ops.push(Op::SetCurrent(name.to_string()));
            }
        }
        Strategy::File | Strategy::Alpine => {
            if o.permanent != name {
                ops.push(Op::WriteFile {
                    path: HOSTNAME_FILE,
                    content: format!("{name}\n"),
                });
                if o.strategy == Strategy::Alpine {
                    ops.push(Op::SetCurrent(name.to_string()));
                }
            }
        }
        Strategy::RedHat => {
            if o.permanent != name {
                ops.push(Op::WriteFile {
                    path: NETWORK_FILE,
                    content: network_with(&o.network, name),
                });
            }
        }
    }
    Ok(ops)
}

fn facts(name: &str) -> Value {
    let fqdn = hn::fqdn(&hn::current());
    let domain = fqdn.split('.').skip(1).collect::<Vec<_>>().join(".");
    let mut m = indexmap::IndexMap::new();
    m.insert(
        "ansible_hostname".to_string(),
        Value::from(name.split('.').next().unwrap_or_default()),
    );
    m.insert("ansible_nodename".to_string(), Value::from(name));
    m.insert("ansible_fqdn".to_string(), Value::from(fqdn));
    m.insert("ansible_domain".to_string(), Value::from(domain));
    Value::from_pairs(m)
}

impl Module for Hostname {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = Observed;
    type Op = Op;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        let strategy = strategy(args.str("use"))?;
        let mut network = String::new();
        let (current, permanent) = match strategy {
            Strategy::Systemd => (hn::current(), read_hostname_file()?),
            Strategy::File | Strategy::Alpine => {
                let p = read_hostname_file()?;
                (p.clone(), p)
            }
            Strategy::RedHat => {
                network = std::fs::read_to_string(NETWORK_FILE).unwrap_or_default();
                let p = network_hostname(&network)?;
                (p.clone(), p)
            }
        };
        Ok(Observed {
            strategy,
            current,
            permanent,
            network,
        })
    }

    fn plan(args: &Args, o: &Observed, _ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        let name = args.str("name").unwrap_or_default();
        let mut plan = Plan {
            ops: plan_ops(name, o)?,
            ..Plan::default()
        };
        plan.set("name", name);
        plan.set("ansible_facts", facts(name));
        if !plan.ops.is_empty() {
            let before = if name != o.current {
                &o.current
            } else {
                &o.permanent
            };
            plan.diff.push(Diff {
                before: Value::from(format!("hostname = {before}\n")),
                after: Value::from(format!("hostname = {name}\n")),
                before_header: None,
                after_header: None,
            });
        }
        Ok(plan)
    }

    fn apply(
        args: &Args,
        _o: Observed,
        plan: &Plan<Op>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        for op in &plan.ops {
            match op {
                Op::WriteFile { path, content } => {
                    hfs::atomic_write(Path::new(path), content.as_bytes(), &FileAttrs::default())
                        .map_err(|e| ModuleError::new(format!("failed to update hostname: {e}")))?
                }
                Op::SetCurrent(name) => hn::set_current(name)?,
            }
        }
        let mut out = ResultMap::new();
        out.insert(
            "ansible_facts".into(),
            facts(args.str("name").unwrap_or_default()),
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(strategy: Strategy, current: &str, permanent: &str) -> Observed {
        Observed {
            strategy,
            current: current.into(),
            permanent: permanent.into(),
            network: String::new(),
        }
    }

    #[test]
    fn systemd_sets_both() {
        let ops = plan_ops("web1", &obs(Strategy::Systemd, "old", "old")).unwrap();
        assert_eq!(
            ops,
            vec![
                Op::WriteFile {
                    path: HOSTNAME_FILE,
                    content: "web1\n".into()
                },
                Op::SetCurrent("web1".into())
            ]
        );
        assert!(
            plan_ops("web1", &obs(Strategy::Systemd, "web1", "web1"))
                .unwrap()
                .is_empty()
        );
        assert!(plan_ops(&"x".repeat(65), &obs(Strategy::Systemd, "a", "a")).is_err());
    }

    #[test]
    fn file_strategy_leaves_running_name() {
        let ops = plan_ops("web1", &obs(Strategy::File, "old", "old")).unwrap();
        assert_eq!(ops.len(), 1);
    }

    #[test]
    fn redhat_network_file() {
        assert_eq!(
            network_with("NETWORKING=yes\nHOSTNAME=old\n", "new"),
            "NETWORKING=yes\nHOSTNAME=new\n"
        );
        assert_eq!(network_with("A=1\n", "new"), "A=1\nHOSTNAME=new\n");
        assert_eq!(network_hostname("HOSTNAME= h \n").unwrap(), "h");
        assert!(network_hostname("A=1\n").is_err());
    }
}
