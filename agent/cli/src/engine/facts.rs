//! Fact gathering (`setup` / `gather_facts`) from /proc, /sys, /etc and uname: no process
//! is spawned. This is the subset the engine needs now; the host-modules work extends it.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use minijinja::Value;

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn os_release() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let text = read("/etc/os-release")
        .or_else(|| read("/usr/lib/os-release"))
        .unwrap_or_default();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            m.insert(
                k.trim().to_string(),
                v.trim().trim_matches('"').trim_matches('\'').to_string(),
            );
        }
    }
    m
}

fn os_family(id: &str, like: &str) -> &'static str {
    let all = format!("{id} {like}");
    if all.contains("debian") || all.contains("ubuntu") {
        "Debian"
    } else if all.contains("rhel")
        || all.contains("fedora")
        || all.contains("centos")
        || all.contains("amzn")
    {
        "RedHat"
    } else if all.contains("suse") {
        "Suse"
    } else if all.contains("arch") {
        "Archlinux"
    } else if all.contains("alpine") {
        "Alpine"
    } else {
        "Linux"
    }
}

fn distribution_name(id: &str) -> String {
    match id {
        "debian" => "Debian".into(),
        "ubuntu" => "Ubuntu".into(),
        "amzn" => "Amazon".into(),
        "rhel" => "RedHat".into(),
        "centos" => "CentOS".into(),
        "fedora" => "Fedora".into(),
        "rocky" => "Rocky".into(),
        "almalinux" => "AlmaLinux".into(),
        "alpine" => "Alpine".into(),
        other => {
            let mut c = other.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
    }
}

fn meminfo() -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for line in read("/proc/meminfo").unwrap_or_default().lines() {
        if let Some((k, v)) = line.split_once(':') {
            let kb: u64 = v
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            m.insert(k.to_string(), kb);
        }
    }
    m
}

/// Gather facts: the `ansible_facts` dict (names without the `ansible_` prefix).
pub fn gather() -> IndexMap<String, Value> {
    let mut f: IndexMap<String, Value> = IndexMap::new();
    let uts = nix::sys::utsname::uname().ok();
    let s = |o: Option<&std::ffi::OsStr>| {
        o.map(|x| x.to_string_lossy().to_string())
            .unwrap_or_default()
    };
    let nodename = s(uts.as_ref().map(|u| u.nodename()));
    let machine = s(uts.as_ref().map(|u| u.machine()));
    let hostname = nodename.split('.').next().unwrap_or_default().to_string();
    let fqdn = crate::host_identity::fqdn().unwrap_or_else(|| nodename.clone());
    let domain = fqdn
        .split_once('.')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();
    let os = os_release();
    let id = os.get("ID").cloned().unwrap_or_default();
    let like = os.get("ID_LIKE").cloned().unwrap_or_default();
    let version = os.get("VERSION_ID").cloned().unwrap_or_default();
    let mut version_full = version.clone();
    if id == "debian"
        && let Some(v) = read("/etc/debian_version")
    {
        version_full = v.trim().to_string();
    }
    f.insert("hostname".into(), Value::from(hostname));
    f.insert("nodename".into(), Value::from(nodename));
    f.insert("fqdn".into(), Value::from(fqdn));
    f.insert("domain".into(), Value::from(domain));
    f.insert(
        "system".into(),
        Value::from(s(uts.as_ref().map(|u| u.sysname()))),
    );
    f.insert(
        "kernel".into(),
        Value::from(s(uts.as_ref().map(|u| u.release()))),
    );
    f.insert(
        "kernel_version".into(),
        Value::from(s(uts.as_ref().map(|u| u.version()))),
    );
    f.insert("architecture".into(), Value::from(machine.clone()));
    f.insert("machine".into(), Value::from(machine));
    f.insert("distribution".into(), Value::from(distribution_name(&id)));
    f.insert(
        "distribution_version".into(),
        Value::from(version_full.clone()),
    );
    f.insert(
        "distribution_major_version".into(),
        Value::from(
            version_full
                .split('.')
                .next()
                .unwrap_or_default()
                .to_string(),
        ),
    );
    f.insert(
        "distribution_release".into(),
        Value::from(os.get("VERSION_CODENAME").cloned().unwrap_or_default()),
    );
    f.insert("os_family".into(), Value::from(os_family(&id, &like)));
    let mem = meminfo();
    f.insert(
        "memtotal_mb".into(),
        Value::from(mem.get("MemTotal").copied().unwrap_or(0) / 1024),
    );
    f.insert(
        "memfree_mb".into(),
        Value::from(mem.get("MemFree").copied().unwrap_or(0) / 1024),
    );
    f.insert(
        "swaptotal_mb".into(),
        Value::from(mem.get("SwapTotal").copied().unwrap_or(0) / 1024),
    );
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    f.insert("processor_vcpus".into(), Value::from(cpus));
    f.insert("processor_count".into(), Value::from(1));
    f.insert("processor_cores".into(), Value::from(cpus));
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    f.insert("user_id".into(), Value::from(user));
    f.insert(
        "user_uid".into(),
        Value::from(nix::unistd::getuid().as_raw()),
    );
    f.insert(
        "user_gid".into(),
        Value::from(nix::unistd::getgid().as_raw()),
    );
    f.insert(
        "machine_id".into(),
        Value::from(
            read("/etc/machine-id")
                .unwrap_or_default()
                .trim()
                .to_string(),
        ),
    );
    let service_mgr = if std::path::Path::new("/run/systemd/system").is_dir() {
        "systemd"
    } else {
        "service"
    };
    f.insert("service_mgr".into(), Value::from(service_mgr));
    let pkg_mgr = if std::path::Path::new("/usr/bin/apt-get").exists() {
        "apt"
    } else if std::path::Path::new("/usr/bin/dnf").exists() {
        "dnf"
    } else {
        "unknown"
    };
    f.insert("pkg_mgr".into(), Value::from(pkg_mgr));
    let env: IndexMap<String, Value> = std::env::vars().map(|(k, v)| (k, Value::from(v))).collect();
    f.insert("env".into(), Value::from_pairs(env));
    f.insert("date_time".into(), date_time());
    f.insert("python_version".into(), Value::from("3.12.1"));
    f.insert("virtualization_type".into(), Value::from(""));
    f.insert("virtualization_role".into(), Value::from(""));
    f.insert(
        "lsb".into(),
        Value::from_pairs(Vec::<(String, Value)>::new()),
    );
    f.insert(
        "local".into(),
        Value::from_pairs(Vec::<(String, Value)>::new()),
    );
    f.insert("gather_subset".into(), Value::from(vec!["all"]));
    f.insert("module_setup".into(), Value::from(true));
    f
}

fn date_time() -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let mut dt: IndexMap<String, Value> = IndexMap::new();
    dt.insert("year".into(), Value::from(format!("{y:04}")));
    dt.insert("month".into(), Value::from(format!("{m:02}")));
    dt.insert("day".into(), Value::from(format!("{d:02}")));
    dt.insert("hour".into(), Value::from(format!("{hh:02}")));
    dt.insert("minute".into(), Value::from(format!("{mm:02}")));
    dt.insert("second".into(), Value::from(format!("{ss:02}")));
    dt.insert("epoch".into(), Value::from(secs.to_string()));
    dt.insert("date".into(), Value::from(format!("{y:04}-{m:02}-{d:02}")));
    dt.insert(
        "time".into(),
        Value::from(format!("{hh:02}:{mm:02}:{ss:02}")),
    );
    dt.insert(
        "iso8601".into(),
        Value::from(format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")),
    );
    dt.insert("tz".into(), Value::from("UTC"));
    dt.insert("tz_offset".into(), Value::from("+0000"));
    Value::from_pairs(dt)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(20_000), (2024, 10, 4));
    }

    #[test]
    fn gathers_basic_facts_without_panicking() {
        let f = super::gather();
        assert!(f.contains_key("distribution"));
        assert!(f.contains_key("memtotal_mb"));
    }
}
