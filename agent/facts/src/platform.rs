//! `platform` collector (platform.py): uname, host names, architecture, machine_id.

use serde_json::Value;

use crate::util::read;
use crate::{Ctx, Facts};

/// The fixed Python version reported (no Python runs; see python.rs).
pub const PYTHON_VERSION: &str = "3.12.1";

pub fn collect(ctx: &mut Ctx<'_>) -> Facts {
    let mut f = ctx.cache.get_or("platform", uname_facts);
    let nodename = nix::sys::utsname::uname()
        .map(|u| u.nodename().to_string_lossy().into_owned())
        .unwrap_or_default();
    let hosts = crate::util::read_raw("/etc/hosts").unwrap_or_default();
    let fqdn = getfqdn(&nodename, &hosts);
    let domain = fqdn.split('.').skip(1).collect::<Vec<_>>().join(".");
    f.insert("fqdn".into(), Value::from(fqdn));
    f.insert(
        "hostname".into(),
        Value::from(nodename.split('.').next().unwrap_or_default()),
    );
    f.insert("nodename".into(), Value::from(nodename));
    f.insert("domain".into(), Value::from(domain));
    let machine_id = read("/var/lib/dbus/machine-id").or_else(|| read("/etc/machine-id"));
    if let Some(id) = machine_id
        && let Some(first) = id.lines().next()
    {
        f.insert("machine_id".into(), Value::from(first));
    }
    f
}

fn uname_facts() -> Facts {
    let mut f = Facts::new();
    let u = nix::sys::utsname::uname().ok();
    let s = |x: Option<&std::ffi::OsStr>| {
        x.map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let machine = s(u.as_ref().map(|u| u.machine()));
    f.insert(
        "system".into(),
        Value::from(s(u.as_ref().map(|u| u.sysname()))),
    );
    f.insert(
        "kernel".into(),
        Value::from(s(u.as_ref().map(|u| u.release()))),
    );
    f.insert(
        "kernel_version".into(),
        Value::from(s(u.as_ref().map(|u| u.version()))),
    );
    f.insert("machine".into(), Value::from(machine.clone()));
    f.insert("python_version".into(), Value::from(PYTHON_VERSION));
    let bits = if cfg!(target_pointer_width = "64") {
        "64"
    } else {
        "32"
    };
    f.insert("userspace_bits".into(), Value::from(bits));
    let i86 = machine.len() == 4 && machine.starts_with('i') && machine.ends_with("86");
    if machine == "x86_64" || i86 {
        f.insert(
            "architecture".into(),
            Value::from(if i86 { "i386" } else { "x86_64" }),
        );
        f.insert(
            "userspace_architecture".into(),
            Value::from(if bits == "64" { "x86_64" } else { "i386" }),
        );
    } else {
        f.insert("architecture".into(), Value::from(machine));
    }
    f
}

/// Python's `socket.getfqdn()` answered from /etc/hosts only (no DNS): the address the
/// name resolves to, then that address's entry (canonical name and aliases); the first of
/// them containing a dot, else the canonical name; the name itself when not listed.
pub fn getfqdn(name: &str, hosts: &str) -> String {
    let entries: Vec<(&str, Vec<&str>)> = hosts
        .lines()
        .filter_map(|l| {
            let l = l.split('#').next().unwrap_or_default();
            let mut w = l.split_whitespace();
            let addr = w.next()?;
            let names: Vec<&str> = w.collect();
            if names.is_empty() {
                None
            } else {
                Some((addr, names))
            }
        })
        .collect();
    let Some((addr, _)) = entries.iter().find(|(_, n)| n.contains(&name)) else {
        return name.to_string();
    };
    let Some((_, names)) = entries.iter().find(|(a, _)| a == addr) else {
        return name.to_string();
    };
    names
        .iter()
        .find(|n| n.contains('.'))
        .or(names.first())
        .map(|s| s.to_string())
        .unwrap_or_else(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::getfqdn;

    #[test]
    fn fqdn_from_hosts() {
        let hosts = "127.0.0.1 localhost\n127.0.0.1 vm\n";
        assert_eq!(getfqdn("vm", hosts), "localhost");
        let hosts = "127.0.0.1 localhost\n10.0.0.5 web1.example.com web1\n";
        assert_eq!(getfqdn("web1", hosts), "web1.example.com");
        assert_eq!(getfqdn("other", hosts), "other");
        let hosts = "10.0.0.5 web1 web1.corp.lan # comment\n";
        assert_eq!(getfqdn("web1", hosts), "web1.corp.lan");
    }
}
