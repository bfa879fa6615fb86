//! `pkg_mgr` collector (pkg_mgr.py, Linux): the last package manager found on disk,
//! corrected by os_family.

use serde_json::Value;

use crate::util::exists;
use crate::{Ctx, Facts};

const PKG_MGRS: &[(&str, &str)] = &[
    ("/usr/bin/rpm-ostree", "atomic_container"),
    ("/usr/bin/yum", "dnf"),
    ("/usr/bin/dnf-3", "dnf"),
    ("/usr/bin/dnf5", "dnf5"),
    ("/usr/bin/apt-get", "apt"),
    ("/usr/bin/zypper", "zypper"),
    ("/usr/sbin/urpmi", "urpmi"),
    ("/usr/bin/pacman", "pacman"),
    ("/bin/opkg", "opkg"),
    ("/usr/pkg/bin/pkgin", "pkgin"),
    ("/opt/local/bin/pkgin", "pkgin"),
    ("/opt/tools/bin/pkgin", "pkgin"),
    ("/opt/local/bin/port", "macports"),
    ("/usr/local/bin/brew", "homebrew"),
    ("/opt/homebrew/bin/brew", "homebrew"),
    ("/sbin/apk", "apk"),
    ("/usr/sbin/pkg", "pkgng"),
    ("/usr/sbin/swlist", "swdepot"),
    ("/usr/bin/emerge", "portage"),
    ("/usr/sbin/pkgadd", "svr4pkg"),
    ("/usr/bin/pkg", "pkg5"),
    ("/usr/bin/xbps-install", "xbps"),
    ("/usr/local/sbin/pkg", "pkgng"),
    ("/usr/bin/swupd", "swupd"),
    ("/usr/sbin/sorcery", "sorcery"),
    ("/usr/bin/installp", "installp"),
];

pub fn collect(ctx: &mut Ctx<'_>) -> Facts {
    let family = ctx
        .collected
        .get("os_family")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut f = Facts::new();
    f.insert(
        "pkg_mgr".into(),
        Value::from(pkg_mgr(family, &|p| exists(p), &|p| {
            std::fs::canonicalize(p)
                .ok()
                .map(|x| x.display().to_string())
        })),
    );
    f
}

pub fn pkg_mgr(
    family: &str,
    exists: &dyn Fn(&str) -> bool,
    realpath: &dyn Fn(&str) -> Option<String>,
) -> String {
    let mut name = "unknown".to_string();
    for (path, n) in PKG_MGRS {
        if family == "Altlinux" && *path == "/usr/bin/pkg" {
            continue;
        }
        if exists(path) {
            name = n.to_string();
        }
    }
    if family == "RedHat" {
        name = if exists("/run/ostree-booted") {
            "atomic_container".into()
        } else if let Some(bin) = ["/usr/bin/dnf", "/usr/bin/microdnf"]
            .iter()
            .find(|b| exists(b))
        {
            if realpath(bin).as_deref() == Some("/usr/bin/dnf5") {
                "dnf5".into()
            } else {
                "dnf".into()
            }
        } else {
            "unknown".into()
        };
    } else if family == "Debian" && name != "apt" {
        name = "apt".into();
    } else if family == "Altlinux" && name == "apt" {
        name = "apt_rpm".into();
    }
    // Ansible asks rpm whether apt-get is rpm-packaged (apt_rpm); not asked here.
    name
}

#[cfg(test)]
mod tests {
    use super::pkg_mgr;

    #[test]
    fn families() {
        let none = |_: &str| None;
        assert_eq!(
            pkg_mgr("Debian", &|p| p == "/usr/bin/apt-get", &none),
            "apt"
        );
        assert_eq!(pkg_mgr("Debian", &|_| false, &none), "apt");
        assert_eq!(pkg_mgr("RedHat", &|p| p == "/usr/bin/dnf", &none), "dnf");
        assert_eq!(
            pkg_mgr("RedHat", &|p| p == "/usr/bin/dnf", &|_| Some(
                "/usr/bin/dnf5".into()
            )),
            "dnf5"
        );
        assert_eq!(pkg_mgr("RedHat", &|_| false, &none), "unknown");
        assert_eq!(pkg_mgr("Alpine", &|p| p == "/sbin/apk", &none), "apk");
    }
}
