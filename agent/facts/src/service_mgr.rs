//! `service_mgr` collector (service_mgr.py, Linux): the name of PID 1 (/proc/1/comm), else
//! the systemd / upstart / openrc / sysvinit / dinit canaries, else `service`.

use serde_json::Value;

use crate::util::{bin_exists, exists, read};
use crate::{Ctx, Facts};

pub fn collect(_ctx: &mut Ctx<'_>) -> Facts {
    let comm = read("/proc/1/comm");
    let init_link = std::fs::read_link("/sbin/init")
        .ok()
        .map(|p| p.display().to_string());
    let name = service_mgr(comm, init_link, &|p| exists(p), &bin_exists);
    let mut f = Facts::new();
    f.insert("service_mgr".into(), Value::from(name));
    f
}

pub fn service_mgr(
    comm: Option<String>,
    init_link: Option<String>,
    exists: &dyn Fn(&str) -> bool,
    has_bin: &dyn Fn(&str) -> bool,
) -> String {
    let mut proc_1 = comm.or_else(|| init_link.clone());
    if let Some(p) = &proc_1 {
        let base = p.rsplit('/').next().unwrap_or_default().trim().to_string();
        proc_1 = if base == "init" || base.ends_with("sh") {
            None
        } else {
            Some(base)
        };
    }
    if let Some(p) = proc_1 {
        return match p.as_str() {
            "procd" => "openwrt_init",
            "runit-init" => "runit",
            "svscan" => "svc",
            "openrc-init" => "openrc",
            other => other,
        }
        .to_string();
    }
    let systemctl = has_bin("systemctl");
    let name = if systemctl
        && [
            "/run/systemd/system/",
            "/dev/.run/systemd/",
            "/dev/.systemd/",
        ]
        .iter()
        .any(|c| exists(c))
    {
        "systemd"
    } else if has_bin("initctl") && exists("/etc/init/") {
        "upstart"
    } else if exists("/sbin/openrc") {
        "openrc"
    } else if systemctl
        && init_link
            .as_deref()
            .is_some_and(|l| l.rsplit('/').next() == Some("systemd"))
    {
        "systemd"
    } else if exists("/etc/init.d/") {
        "sysvinit"
    } else if exists("/etc/dinit.d/") {
        "dinit"
    } else {
        "service"
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::service_mgr;

    #[test]
    fn pid1_name_first() {
        let no = |_: &str| false;
        assert_eq!(
            service_mgr(Some("systemd".into()), None, &no, &no),
            "systemd"
        );
        assert_eq!(
            service_mgr(Some("procd".into()), None, &no, &no),
            "openwrt_init"
        );
        // init and shells fall through to the canaries.
        let sysd = |p: &str| p == "/run/systemd/system/";
        assert_eq!(
            service_mgr(Some("init".into()), None, &sysd, &|_| true),
            "systemd"
        );
        assert_eq!(
            service_mgr(Some("bash".into()), None, &|p| p == "/etc/init.d/", &no),
            "sysvinit"
        );
        assert_eq!(service_mgr(Some("sh".into()), None, &no, &no), "service");
    }
}
