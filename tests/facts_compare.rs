//! The comparison of the agent's facts with `ansible -m setup`'s, shared by
//! `facts_live.rs` (this machine) and the host suite (a booted test host).
//!
//! Compared: the key sets, equal values for the facts that are stable between two
//! gatherings, sets where Ansible's order is arbitrary, interfaces, mounts, and key sets where
//! values move (date_time, memory_mb, loadavg). Known, documented differences
//! (docs/compat.md, "setup") are listed in [`KNOWN`] and reported, not failed.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// Facts whose values the agent does not reproduce on purpose (docs/compat.md).
pub const KNOWN: &[&str] = &["ansible_python", "ansible_python_version", "ansible_lvm"];

fn set(v: Option<&Value>) -> BTreeSet<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().map(|x| x.to_string()).collect())
        .unwrap_or_default()
}

fn keys(v: Option<&Value>) -> BTreeSet<String> {
    v.and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The `ansible_facts` object in the output of `ansible HOST -m setup` (text before the
/// JSON, such as `localhost | SUCCESS =>`, is skipped).
pub fn parse_setup_output(text: &str) -> Result<Map<String, Value>, String> {
    let json = text
        .find('{')
        .map(|i| &text[i..])
        .ok_or_else(|| format!("no JSON in ansible output: {text}"))?;
    let v: Value = serde_json::from_str(json).map_err(|e| format!("ansible JSON: {e}"))?;
    v.get("ansible_facts")
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| "no ansible_facts".to_string())
}

/// Compare Ansible's facts `a` with the agent's `b`: (problems, known differences).
pub fn compare(a: &Map<String, Value>, b: &Map<String, Value>) -> (Vec<String>, Vec<String>) {
    let mut problems: Vec<String> = Vec::new();
    let mut known: Vec<String> = Vec::new();

    // The key sets of the whole dict.
    let ka: BTreeSet<&String> = a.keys().collect();
    let kb: BTreeSet<&String> = b.keys().collect();
    for k in ka.difference(&kb) {
        if KNOWN.contains(&k.as_str()) {
            known.push(format!("{k}: only Ansible has it"));
        } else {
            problems.push(format!("{k}: missing from the agent"));
        }
    }
    for k in kb.difference(&ka) {
        problems.push(format!("{k}: only the agent has it"));
    }

    // Equal values.
    let same = [
        "ansible_distribution",
        "ansible_distribution_version",
        "ansible_distribution_major_version",
        "ansible_distribution_minor_version",
        "ansible_distribution_release",
        "ansible_distribution_file_path",
        "ansible_distribution_file_variety",
        "ansible_os_family",
        "ansible_architecture",
        "ansible_kernel",
        "ansible_kernel_version",
        "ansible_system",
        "ansible_machine",
        "ansible_hostname",
        "ansible_fqdn",
        "ansible_nodename",
        "ansible_domain",
        "ansible_memtotal_mb",
        "ansible_swaptotal_mb",
        "ansible_processor",
        "ansible_processor_vcpus",
        "ansible_processor_cores",
        "ansible_processor_count",
        "ansible_processor_threads_per_core",
        "ansible_processor_nproc",
        "ansible_service_mgr",
        "ansible_pkg_mgr",
        "ansible_user_id",
        "ansible_user_uid",
        "ansible_user_gid",
        "ansible_user_dir",
        "ansible_user_shell",
        "ansible_machine_id",
        "ansible_virtualization_type",
        "ansible_virtualization_role",
        "ansible_lsb",
        "ansible_dns",
        "ansible_cmdline",
        "ansible_proc_cmdline",
        "ansible_selinux",
        "ansible_apparmor",
        "ansible_fips",
        "ansible_is_chroot",
        "ansible_default_ipv6",
        "ansible_device_links",
        "ansible_devices",
        "ansible_locally_reachable_ips",
        "ansible_bios_vendor",
        "ansible_product_name",
        "ansible_system_vendor",
        "ansible_form_factor",
        "ansible_system_capabilities",
        "ansible_system_capabilities_enforced",
    ];
    for k in same {
        if a.get(k) != b.get(k) {
            problems.push(format!(
                "{k}: ansible {} agent {}",
                a.get(k).map(Value::to_string).unwrap_or_default(),
                b.get(k).map(Value::to_string).unwrap_or_default()
            ));
        }
    }
    // Sets (Ansible's order follows readdir / Python set order).
    for k in [
        "ansible_interfaces",
        "ansible_all_ipv4_addresses",
        "ansible_all_ipv6_addresses",
        "ansible_virtualization_tech_guest",
        "ansible_virtualization_tech_host",
    ] {
        if set(a.get(k)) != set(b.get(k)) {
            problems.push(format!(
                "{k}: ansible {:?} agent {:?}",
                set(a.get(k)),
                set(b.get(k))
            ));
        }
    }
    // default_ipv4 and per-interface dicts (ethtool's features/timestamping aside).
    if a.get("ansible_default_ipv4") != b.get("ansible_default_ipv4") {
        problems.push(format!(
            "ansible_default_ipv4: ansible {:?} agent {:?}",
            a.get("ansible_default_ipv4"),
            b.get("ansible_default_ipv4")
        ));
    }
    for iface in set(a.get("ansible_interfaces")) {
        let name = format!("ansible_{}", iface.trim_matches('"'));
        let strip = |v: Option<&Value>| {
            let mut m = v.and_then(Value::as_object).cloned().unwrap_or_default();
            for k in [
                "features",
                "timestamping",
                "hw_timestamp_filters",
                "phc_index",
            ] {
                m.remove(k);
            }
            m
        };
        if strip(a.get(&name)) != strip(b.get(&name)) {
            problems.push(format!(
                "{name}: ansible {:?} agent {:?}",
                a.get(&name),
                b.get(&name)
            ));
        }
    }
    // Mounts by mount point: device, fstype, options, size_total, uuid.
    let mounts = |m: &Map<String, Value>| -> Vec<(String, Value, Value, Value, Value)> {
        let mut v: Vec<_> = m
            .get("ansible_mounts")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| {
                        (
                            x["mount"].to_string(),
                            x["device"].clone(),
                            x["fstype"].clone(),
                            x["size_total"].clone(),
                            x["options"].clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|x, y| x.0.cmp(&y.0));
        v
    };
    if mounts(a) != mounts(b) {
        problems.push(format!(
            "ansible_mounts: ansible {:?} agent {:?}",
            mounts(a),
            mounts(b)
        ));
    }
    // Same keys where values move.
    for k in ["ansible_date_time", "ansible_memory_mb", "ansible_loadavg"] {
        if keys(a.get(k)) != keys(b.get(k)) {
            problems.push(format!(
                "{k} keys: ansible {:?} agent {:?}",
                keys(a.get(k)),
                keys(b.get(k))
            ));
        }
    }
    for k in ["tz", "tz_dst", "tz_offset", "date", "weekday", "weeknumber"] {
        let g = |m: &Map<String, Value>| m.get("ansible_date_time").and_then(|d| d.get(k)).cloned();
        if g(a) != g(b) {
            problems.push(format!(
                "ansible_date_time.{k}: ansible {:?} agent {:?}",
                g(a),
                g(b)
            ));
        }
    }
    // env: the module's environment is Ansible's; compare what roles read.
    for var in ["HOME", "PATH", "USER", "LANG"] {
        let g = |m: &Map<String, Value>| m.get("ansible_env").and_then(|d| d.get(var)).cloned();
        if g(a) != g(b) {
            known.push(format!(
                "ansible_env.{var}: ansible {:?} agent {:?}",
                g(a),
                g(b)
            ));
        }
    }
    for k in KNOWN {
        if a.get(*k) != b.get(*k) {
            known.push(format!(
                "{k}: ansible {:?} agent {:?}",
                a.get(*k),
                b.get(*k)
            ));
        }
    }
    (problems, known)
}
