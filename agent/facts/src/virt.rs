//! `virtual` collector (virtual/linux.py): virtualization_type / role / tech_guest /
//! tech_host, decided in Ansible's order from /proc/1/cgroup, /proc/1/environ, /proc/vz,
//! /run/systemd/container, /.dockerenv, /proc/xen, DMI, /proc/self/status,
//! /proc/cpuinfo, /proc/modules and /dev/kvm. (`dmidecode` and `lscpu` are not run.)

use std::collections::BTreeSet;

use regex_lite::Regex;
use serde_json::Value;

use crate::util::{exists, read};
use crate::{Ctx, Facts};

pub fn collect(ctx: &mut Ctx<'_>) -> Facts {
    ctx.cache.get_or("virtual", || {
        let src = Sources {
            cgroup1: read("/proc/1/cgroup"),
            environ1: crate::util::read_raw("/proc/1/environ"),
            exists: &|p| exists(p),
            read: &|p| read(p),
        };
        virtual_facts(&src)
    })
}

pub struct Sources<'a> {
    pub cgroup1: Option<String>,
    pub environ1: Option<String>,
    pub exists: &'a dyn Fn(&str) -> bool,
    pub read: &'a dyn Fn(&str) -> Option<String>,
}

struct State {
    found: bool,
    vtype: Option<String>,
    role: Option<String>,
    guest: BTreeSet<String>,
    host: BTreeSet<String>,
}

impl State {
    fn guest(&mut self, tech: &str, vtype: &str, role: Option<&str>) {
        self.guest.insert(tech.into());
        if !self.found {
            self.vtype = Some(vtype.into());
            if let Some(r) = role {
                self.role = Some(r.into());
            }
            self.found = true;
        }
    }
}

/// A pattern that never fails to build here; `None` would simply never match.
struct Rx(Option<Regex>);

impl Rx {
    fn is_match(&self, s: &str) -> bool {
        self.0.as_ref().is_some_and(|r| r.is_match(s))
    }
}

fn rx(p: &str) -> Rx {
    Rx(crate::util::regex(p))
}

pub fn virtual_facts(src: &Sources<'_>) -> Facts {
    let mut s = State {
        found: false,
        vtype: None,
        role: None,
        guest: BTreeSet::new(),
        host: BTreeSet::new(),
    };
    if let Some(cg) = &src.cgroup1 {
        let docker = rx(r"/docker(/|-[0-9a-f]+\.scope)");
        for line in cg.lines() {
            if docker.is_match(line) {
                s.guest("docker", "docker", Some("guest"));
            }
            if line.contains("/lxc/") || line.contains("/machine.slice/machine-lxc") {
                s.guest("lxc", "lxc", Some("guest"));
            }
            if line.contains("/system.slice/containerd.service") {
                s.guest("containerd", "containerd", Some("guest"));
            }
        }
    }
    if let Some(env) = &src.environ1 {
        for line in env.trim_end_matches('\0').split('\0') {
            if line.contains("container=lxc") {
                s.guest("lxc", "lxc", Some("guest"));
            }
            if line.contains("container=podman") {
                s.guest("podman", "podman", Some("guest"));
            }
            if line.starts_with("container=") && line.len() > "container=".len() {
                s.guest("container", "container", Some("guest"));
            }
        }
    }
    if (src.exists)("/proc/vz") && !(src.exists)("/proc/lve") {
        s.vtype = Some("openvz".into());
        if (src.exists)("/proc/bc") {
            s.host.insert("openvz".into());
            if !s.found {
                s.role = Some("host".into());
            }
        } else {
            s.guest.insert("openvz".into());
            if !s.found {
                s.role = Some("guest".into());
            }
        }
        s.found = true;
    }
    let systemd_container = (src.read)("/run/systemd/container");
    if let Some(c) = &systemd_container {
        s.guest(c, c, Some("guest"));
    }
    if (src.exists)("/.dockerenv") || (src.exists)("/.dockerinit") {
        s.guest("docker", "docker", Some("guest"));
    }
    if ["docker", "lxc", "podman", "openvz", "containerd"]
        .iter()
        .any(|t| s.guest.contains(*t))
        || systemd_container.is_some()
    {
        s.guest.insert("container".into());
    }
    if (src.exists)("/proc/xen") {
        let is_host = (src.read)("/proc/xen/capabilities").is_some_and(|c| c.contains("control_d"));
        if is_host {
            s.host.insert("xen".into());
        }
        if !s.found {
            s.vtype = Some("xen".into());
            s.role = Some(if is_host { "host" } else { "guest" }.into());
        }
        s.found = true;
    }
    if !s.found {
        s.role = Some("guest".into());
    }
    let dmi = |f: &str| (src.read)(&format!("/sys/devices/virtual/dmi/id/{f}"));
    let product_name = dmi("product_name");
    let sys_vendor = dmi("sys_vendor");
    let product_family = dmi("product_family");
    let pn = product_name.as_deref().unwrap_or_default();
    let sv = sys_vendor.as_deref().unwrap_or_default();
    let dmi_guest = |s: &mut State, tech: &str| {
        s.guest.insert(tech.into());
        if !s.found {
            s.vtype = Some(tech.into());
            s.found = true;
        }
    };
    if [
        "KVM",
        "KVM Server",
        "Bochs",
        "AHV",
        "CloudStack KVM Hypervisor",
    ]
    .contains(&pn)
    {
        dmi_guest(&mut s, "kvm");
    }
    if sv == "oVirt" {
        dmi_guest(&mut s, "oVirt");
    }
    if sv == "Red Hat" {
        if product_family.as_deref() == Some("RHV") {
            dmi_guest(&mut s, "RHV");
        } else if pn == "RHEV Hypervisor" {
            dmi_guest(&mut s, "RHEV");
        }
    }
    if pn.starts_with("VMware") {
        dmi_guest(&mut s, "VMware");
    }
    if pn == "OpenStack Compute" || pn == "OpenStack Nova" {
        dmi_guest(&mut s, "openstack");
    }
    if pn == "BHYVE" {
        dmi_guest(&mut s, "bhyve");
    }
    let bios_vendor = dmi("bios_vendor");
    let bv = bios_vendor.as_deref().unwrap_or_default();
    if bv == "Xen" {
        dmi_guest(&mut s, "xen");
    }
    if bv == "innotek GmbH" {
        dmi_guest(&mut s, "virtualbox");
    }
    if ["Amazon EC2", "DigitalOcean", "Hetzner", "Linode"].contains(&bv) {
        dmi_guest(&mut s, "kvm");
    }
    if [
        "QEMU",
        "Amazon EC2",
        "DigitalOcean",
        "Google",
        "Scaleway",
        "Nutanix",
    ]
    .contains(&sv)
    {
        dmi_guest(&mut s, "kvm");
    }
    match sv {
        "KubeVirt" => dmi_guest(&mut s, "KubeVirt"),
        "Microsoft Corporation" => dmi_guest(&mut s, "VirtualPC"),
        "Parallels Software International Inc." => dmi_guest(&mut s, "parallels"),
        "OpenStack Foundation" => dmi_guest(&mut s, "openstack"),
        _ => {}
    }
    if !s.found {
        s.role = None;
    }
    if let Some(status) = (src.read)("/proc/self/status") {
        let vx = rx(r"^VxID:\s+\d+");
        for line in status.lines() {
            if vx.is_match(line) {
                if !s.found {
                    s.vtype = Some("linux_vserver".into());
                }
                let host = rx(r"^VxID:\s+0").is_match(line);
                if host {
                    s.host.insert("linux_vserver".into());
                } else {
                    s.guest.insert("linux_vserver".into());
                }
                if !s.found {
                    s.role = Some(if host { "host" } else { "guest" }.into());
                }
                s.found = true;
            }
        }
    }
    if let Some(cpu) = (src.read)("/proc/cpuinfo") {
        let pats: [(Rx, &str); 5] = [
            (rx(r"^model name.*QEMU Virtual CPU"), "kvm"),
            (rx(r"^vendor_id.*User Mode Linux"), "uml"),
            (rx(r"^model name.*UML"), "uml"),
            (rx(r"^machine.*CHRP IBM pSeries .emulated by qemu."), "kvm"),
            (rx(r"^vendor_id.*PowerVM Lx86"), "powervm_lx86"),
        ];
        let s390 = rx(r"^vendor_id.*IBM/S390");
        for line in cpu.lines() {
            let tech = if let Some((_, t)) = pats.iter().find(|(r, _)| r.is_match(line)) {
                s.guest.insert((*t).into());
                if !s.found {
                    s.vtype = Some((*t).into());
                }
                *t
            } else if s390.is_match(line) {
                s.guest.insert("PR/SM".into());
                s.guest.insert("ibm_systemz".into());
                if !s.found {
                    s.vtype = Some("ibm_systemz".into());
                }
                "ibm_systemz"
            } else {
                continue;
            };
            if !s.found {
                s.role = Some(if tech == "PR/SM" { "LPAR" } else { "guest" }.into());
                s.found = true;
            }
        }
    }
    if let Some(mods) = (src.read)("/proc/modules") {
        let names: BTreeSet<&str> = mods.lines().filter_map(|l| l.split(' ').next()).collect();
        if names.contains("kvm") {
            s.host.insert("kvm".into());
            if !s.found {
                s.vtype = Some("kvm".into());
                s.role = Some("host".into());
            }
            s.found = true;
        }
        if names.contains("vboxdrv") {
            s.host.insert("virtualbox".into());
            if !s.found {
                s.vtype = Some("virtualbox".into());
                s.role = Some("host".into());
                s.found = true;
            }
        }
        if names.contains("virtio") {
            s.host.insert("kvm".into());
            if !s.found {
                s.vtype = Some("kvm".into());
                s.role = Some("guest".into());
                s.found = true;
            }
        }
    }
    if (src.exists)("/dev/kvm") {
        s.host.insert("kvm".into());
        if !s.found {
            s.vtype = Some("kvm".into());
            s.role = Some("host".into());
            s.found = true;
        }
    }
    if !s.found {
        s.vtype = Some("NA".into());
        s.role = Some("NA".into());
    }
    let mut f = Facts::new();
    if let Some(r) = s.role {
        f.insert("virtualization_role".into(), Value::from(r));
    }
    f.insert(
        "virtualization_tech_guest".into(),
        Value::Array(s.guest.into_iter().map(Value::from).collect()),
    );
    f.insert(
        "virtualization_tech_host".into(),
        Value::Array(s.host.into_iter().map(Value::from).collect()),
    );
    if let Some(t) = s.vtype {
        f.insert("virtualization_type".into(), Value::from(t));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cgroup: Option<&str>, environ: Option<&str>, files: &[(&str, &str)]) -> Facts {
        let files: Vec<(String, String)> = files
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let f2 = files.clone();
        let ex = move |p: &str| files.iter().any(|(k, _)| k == p);
        let rd = move |p: &str| {
            f2.iter()
                .find(|(k, _)| k == p)
                .map(|(_, v)| v.trim().to_string())
        };
        virtual_facts(&Sources {
            cgroup1: cgroup.map(String::from),
            environ1: environ.map(String::from),
            exists: &ex,
            read: &rd,
        })
    }

    #[test]
    fn docker_and_kvm_host() {
        let f = run(None, None, &[("/.dockerenv", ""), ("/dev/kvm", "")]);
        assert_eq!(f["virtualization_type"], "docker");
        assert_eq!(f["virtualization_role"], "guest");
        assert_eq!(
            f["virtualization_tech_guest"],
            serde_json::json!(["container", "docker"])
        );
        assert_eq!(f["virtualization_tech_host"], serde_json::json!(["kvm"]));
    }

    #[test]
    fn systemd_nspawn_environ() {
        let f = run(None, Some("PATH=/bin\0container=other\0"), &[]);
        assert_eq!(f["virtualization_type"], "container");
        assert_eq!(f["virtualization_role"], "guest");
    }

    #[test]
    fn ec2_dmi() {
        let f = run(
            None,
            None,
            &[("/sys/devices/virtual/dmi/id/sys_vendor", "Amazon EC2\n")],
        );
        assert_eq!(f["virtualization_type"], "kvm");
        assert_eq!(f["virtualization_role"], "guest");
    }

    #[test]
    fn bare_metal() {
        let f = run(Some("0::/init.scope"), None, &[]);
        assert_eq!(f["virtualization_type"], "NA");
        assert_eq!(f["virtualization_role"], "NA");
    }
}
