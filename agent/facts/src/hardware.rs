//! `hardware` collector (hardware/linux.py): CPU, memory, DMI, s390 sysinfo, devices,
//! uptime, LVM and mounts (see cpu/memory here, dmi.rs, devices.rs, mounts.rs).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::util::{exists, read};
use crate::{Ctx, Facts};

pub fn collect(ctx: &mut Ctx<'_>) -> Facts {
    let arch = ctx
        .collected
        .get("architecture")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut f = Facts::new();
    f.extend(ctx.cache.get_or("cpu", || {
        let xen = exists("/proc/xen") || read("/sys/hypervisor/type").as_deref() == Some("xen");
        let mut c = cpu_facts(&read("/proc/cpuinfo").unwrap_or_default(), &arch, xen);
        if let Ok(set) = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
            let n = (0..nix::sched::CpuSet::count())
                .filter(|i| set.is_set(*i).unwrap_or(false))
                .count();
            c.insert("processor_nproc".into(), Value::from(n));
        }
        c
    }));
    f.extend(memory_facts(&read("/proc/meminfo").unwrap_or_default()));
    f.extend(ctx.cache.get_or("dmi", crate::dmi::collect));
    f.extend(ctx.cache.get_or("sysinfo", sysinfo_facts));
    // The block devices (sysfs) and the mounts (statvfs of each) are read side by side,
    // or taken from the last gathering while no task has changed the host since.
    let timeout = ctx.opts.gather_timeout;
    let (devices, mounts) = match (ctx.cache.current("devices"), ctx.cache.current("mounts")) {
        (Some(d), Some(m)) => (d, m),
        _ => {
            let (d, m) = std::thread::scope(|s| {
                let devices = s.spawn(crate::devices::collect);
                let mounts = crate::mounts::collect(timeout);
                (devices.join().unwrap_or_default(), mounts)
            });
            ctx.cache.keep("devices", &d);
            ctx.cache.keep("mounts", &m);
            (d, m)
        }
    };
    f.extend(devices);
    if let Some(up) = read("/proc/uptime")
        && let Some(s) = up.split(' ').next().and_then(|x| x.parse::<f64>().ok())
    {
        f.insert("uptime_seconds".into(), Value::from(s as i64));
    }
    // Ansible runs vgs/lvs/pvs when they are installed and it is root; not run here.
    f.insert("lvm".into(), Value::from("N/A"));
    f.extend(mounts);
    f
}

/// `get_memory_facts`.
pub fn memory_facts(meminfo: &str) -> Facts {
    let mut f = Facts::new();
    let mut stats: BTreeMap<&str, i64> = BTreeMap::new();
    for line in meminfo.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let val = rest
            .trim()
            .split(' ')
            .next()
            .and_then(|v| v.parse::<i64>().ok());
        let Some(val) = val else { continue };
        if ["MemTotal", "SwapTotal", "MemFree", "SwapFree"].contains(&key) {
            f.insert(
                format!("{}_mb", key.to_lowercase()),
                Value::from(val / 1024),
            );
        }
        for k in [
            "MemTotal",
            "SwapTotal",
            "MemFree",
            "SwapFree",
            "Buffers",
            "Cached",
            "SwapCached",
        ] {
            if k == key {
                stats.insert(k, val / 1024);
            }
        }
    }
    let g = |k: &str| stats.get(k).copied();
    let real_used = g("MemTotal").zip(g("MemFree")).map(|(t, fr)| t - fr);
    let nocache_free = match (g("Cached"), g("MemFree"), g("Buffers")) {
        (Some(c), Some(fr), Some(b)) => Some(c + fr + b),
        _ => None,
    };
    let nocache_used = g("MemTotal").zip(nocache_free).map(|(t, n)| t - n);
    let swap_used = g("SwapTotal").zip(g("SwapFree")).map(|(t, fr)| t - fr);
    f.insert(
        "memory_mb".into(),
        json!({
            "nocache": {"free": nocache_free, "used": nocache_used},
            "real": {"free": g("MemFree"), "total": g("MemTotal"), "used": real_used},
            "swap": {"cached": g("SwapCached"), "free": g("SwapFree"), "total": g("SwapTotal"), "used": swap_used},
        }),
    );
    f
}

/// `get_cpu_facts` (without processor_nproc, which comes from the affinity mask).
pub fn cpu_facts(cpuinfo: &str, arch: &str, xen: bool) -> Facts {
    let mut f = Facts::new();
    let mut processor: Vec<Value> = Vec::new();
    let (mut i, mut vendor_occ, mut model_occ, mut proc_occ) = (0i64, 0i64, 0i64, 0i64);
    let mut physid = String::from("0");
    let mut coreid = String::from("0");
    // Python dicts keep insertion order; only the first values are used.
    let mut sockets: Vec<(String, i64)> = Vec::new();
    let mut cores: Vec<(String, i64)> = Vec::new();
    let (mut zp, mut zmt) = (0i64, 0i64);
    let mut xen_paravirt = false;
    fn set(v: &mut Vec<(String, i64)>, k: &str, val: i64) {
        if let Some(e) = v.iter_mut().find(|(x, _)| x == k) {
            e.1 = val;
        } else {
            v.push((k.to_string(), val));
        }
    }
    for line in cpuinfo.lines() {
        let (key, val) = match line.split_once(':') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (line.trim(), ""),
        };
        if xen && key == "flags" && !val.contains("vme") {
            xen_paravirt = true;
        }
        if key == "flags" {
            f.insert(
                "flags".into(),
                Value::Array(val.split_whitespace().map(Value::from).collect()),
            );
        }
        match key {
            "model name" | "Processor" | "vendor_id" | "cpu" | "Vendor" | "processor" => {
                processor.push(Value::from(val));
                match key {
                    "vendor_id" => vendor_occ += 1,
                    "model name" => model_occ += 1,
                    "processor" => proc_occ += 1,
                    _ => {}
                }
                i += 1;
            }
            "physical id" => {
                physid = val.to_string();
                if !sockets.iter().any(|(k, _)| *k == physid) {
                    sockets.push((physid.clone(), 1));
                }
            }
            "core id" => {
                coreid = val.to_string();
                // Ansible tests `sockets` here (sic).
                if !sockets.iter().any(|(k, _)| *k == coreid) {
                    set(&mut cores, &coreid, 1);
                }
            }
            "cpu cores" => set(&mut sockets, &physid, val.parse().unwrap_or(0)),
            "siblings" => set(&mut cores, &coreid, val.parse().unwrap_or(0)),
            "# processors" => zp = val.parse().unwrap_or(0),
            "max thread id" => zmt = val.parse::<i64>().unwrap_or(0) + 1,
            "ncpus active" => i = val.parse().unwrap_or(i),
            _ => {}
        }
    }
    f.insert("processor".into(), Value::Array(processor));
    if vendor_occ > 0 && vendor_occ == model_occ {
        i = vendor_occ;
    }
    if arch.starts_with("armv") || arch.starts_with("aarch") || arch.starts_with("ppc") {
        i = proc_occ;
    }
    let mut put = |k: &str, v: i64| {
        f.insert(k.to_string(), Value::from(v));
    };
    if arch == "s390x" {
        put("processor_count", 1);
        put(
            "processor_cores",
            if zmt > 0 {
                (zp as f64 / zmt as f64).round() as i64
            } else {
                0
            },
        );
        put("processor_threads_per_core", zmt);
        put("processor_vcpus", zp);
        put("processor_nproc", zp);
    } else if xen_paravirt {
        for k in [
            "processor_count",
            "processor_cores",
            "processor_vcpus",
            "processor_nproc",
        ] {
            put(k, i);
        }
        put("processor_threads_per_core", 1);
    } else {
        let count = if sockets.is_empty() {
            i
        } else {
            sockets.len() as i64
        };
        let cores_per = sockets
            .first()
            .map(|s| s.1)
            .filter(|v| *v != 0)
            .unwrap_or(1);
        let tpc = match cores.first() {
            Some((_, c)) => py_round(*c as f64 / cores_per as f64),
            None => py_round(1.0 / cores_per as f64),
        };
        put("processor_count", count);
        put("processor_cores", cores_per);
        put("processor_threads_per_core", tpc);
        put("processor_vcpus", tpc * count * cores_per);
        put("processor_nproc", proc_occ);
    }
    f
}

/// Python's round() (half to even).
fn py_round(x: f64) -> i64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && (r as i64) % 2 != 0 {
        (r - x.signum()) as i64
    } else {
        r as i64
    }
}

/// `get_sysinfo_facts` (IBM Z /proc/sysinfo).
fn sysinfo_facts() -> Facts {
    let Some(data) = read("/proc/sysinfo") else {
        return Facts::new();
    };
    let mut f = Facts::new();
    for k in [
        "system_vendor",
        "product_version",
        "product_serial",
        "product_name",
        "product_uuid",
    ] {
        f.insert(k.into(), Value::from("NA"));
    }
    for line in data.lines() {
        if let Some(v) = line.strip_prefix("Manufacturer:") {
            f.insert("system_vendor".into(), Value::from(v.trim()));
        } else if let Some(v) = line.strip_prefix("Type:") {
            f.insert("product_name".into(), Value::from(v.trim()));
        } else if let Some(v) = line.strip_prefix("Sequence Code:") {
            let v = v.trim().trim_start_matches('0');
            f.insert("product_serial".into(), Value::from(v));
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO_2: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel name\t: Intel(R) Xeon(R) Processor\nphysical id\t: 0\nsiblings\t: 2\ncore id\t\t: 0\ncpu cores\t: 2\nflags\t\t: fpu vme de\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\nphysical id\t: 0\nsiblings\t: 2\ncore id\t\t: 1\ncpu cores\t: 2\nflags\t\t: fpu vme de\n";

    const CPUINFO_ARM: &str = "processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n\nprocessor\t: 1\nBogoMIPS\t: 243.75\n";

    #[test]
    fn x86_two_cores() {
        let f = cpu_facts(CPUINFO_2, "x86_64", false);
        assert_eq!(
            f["processor"],
            json!([
                "0",
                "GenuineIntel",
                "Intel(R) Xeon(R) Processor",
                "1",
                "GenuineIntel",
                "Intel(R) Xeon(R) Processor"
            ])
        );
        assert_eq!(f["processor_count"], 1);
        assert_eq!(f["processor_cores"], 2);
        assert_eq!(f["processor_threads_per_core"], 1);
        assert_eq!(f["processor_vcpus"], 2);
        assert_eq!(f["flags"], json!(["fpu", "vme", "de"]));
    }

    #[test]
    fn arm_counts_processors() {
        let f = cpu_facts(CPUINFO_ARM, "aarch64", false);
        assert_eq!(f["processor_count"], 2);
        assert_eq!(f["processor_cores"], 1);
        assert_eq!(f["processor_vcpus"], 2);
    }

    #[test]
    fn meminfo() {
        let m = "MemTotal:       24683656 kB\nMemFree:        21105800 kB\nMemAvailable:   23000000 kB\nBuffers:          100000 kB\nCached:          2000000 kB\nSwapCached:            0 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n";
        let f = memory_facts(m);
        assert_eq!(f["memtotal_mb"], 24105);
        assert_eq!(f["memfree_mb"], 20611);
        assert_eq!(f["swaptotal_mb"], 0);
        assert_eq!(f["memory_mb"]["real"]["used"], 24105 - 20611);
        assert_eq!(f["memory_mb"]["nocache"]["free"], 20611 + 97 + 1953);
        assert_eq!(f["memory_mb"]["swap"]["cached"], 0);
    }
}
