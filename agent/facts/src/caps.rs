//! `caps` collector (caps.py). Ansible parses the `Current:` line of `capsh --print`; here
//! that line is rebuilt from /proc/self/status (libcap's text form: the most common
//! flag combination as `=<flags>`, then the other groups with `+`/`-`). Without capsh
//! installed Ansible reports "N/A", and so does this.

use serde_json::Value;

use crate::util::{bin_exists, read};
use crate::{Ctx, Facts};

const NAMES: [&str; 41] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

pub fn collect(ctx: &mut Ctx<'_>) -> Facts {
    ctx.cache.get_or("caps", || {
        let mut f = Facts::new();
        let text = if bin_exists("capsh") {
            read("/proc/self/status").and_then(|s| {
                let hex = |k: &str| {
                    s.lines()
                        .find_map(|l| l.strip_prefix(k))
                        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                };
                let last = read("/proc/sys/kernel/cap_last_cap")
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(40);
                Some(cap_text(
                    hex("CapInh:")?,
                    hex("CapPrm:")?,
                    hex("CapEff:")?,
                    last,
                ))
            })
        } else {
            None
        };
        match text {
            Some(t) => {
                let (enforced, caps) = ansible_parse(&t);
                f.insert("system_capabilities".into(), caps);
                f.insert("system_capabilities_enforced".into(), Value::from(enforced));
            }
            None => {
                f.insert("system_capabilities".into(), Value::from("N/A"));
                f.insert("system_capabilities_enforced".into(), Value::from("N/A"));
            }
        }
        f
    })
}

/// caps.py on `Current: <text>`.
fn ansible_parse(text: &str) -> (&'static str, Value) {
    if text.trim() == "=ep" {
        return ("False", Value::Array(Vec::new()));
    }
    let after = text.split('=').nth(1).unwrap_or_default();
    let caps = after.split(',').map(|c| Value::from(c.trim())).collect();
    ("True", Value::Array(caps))
}

fn flag_text(f: u32) -> String {
    let mut s = String::new();
    if f & 1 != 0 {
        s.push('e');
    }
    if f & 2 != 0 {
        s.push('i');
    }
    if f & 4 != 0 {
        s.push('p');
    }
    s
}

/// libcap's text form of a capability state (effective, inheritable, permitted).
pub fn cap_text(inh: u64, prm: u64, eff: u64, last_cap: u32) -> String {
    let bits = (last_cap + 1).min(64);
    let flags = |n: u32| -> u32 {
        let b = 1u64 << n;
        u32::from(eff & b != 0) | (u32::from(inh & b != 0) << 1) | (u32::from(prm & b != 0) << 2)
    };
    let mut histo = [0u32; 8];
    for n in 0..bits {
        histo[flags(n) as usize] += 1;
    }
    // The most common combination; ties go to fewer flags (libcap's bias to "none set").
    let mut m = 7usize;
    for t in (0..7).rev() {
        if histo[t] >= histo[m] {
            m = t;
        }
    }
    let mut out = format!("={}", flag_text(m as u32));
    for t in (0..8usize).rev() {
        if t == m || histo[t] == 0 {
            continue;
        }
        let names: Vec<String> = (0..bits)
            .filter(|n| flags(*n) as usize == t)
            .map(|n| {
                NAMES
                    .get(n as usize)
                    .map(|s| format!("cap_{s}"))
                    .unwrap_or_else(|| n.to_string())
            })
            .collect();
        out.push(' ');
        out.push_str(&names.join(","));
        let add = (t & !m) as u32;
        if add != 0 {
            let mut op = '+';
            if out.starts_with("= ") {
                out.drain(..2);
                op = '=';
            }
            out.push(op);
            out.push_str(&flag_text(add));
        }
        let drop = (!t & m) as u32;
        if drop != 0 {
            out.push('-');
            out.push_str(&flag_text(drop));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libcap_text() {
        let all = (1u64 << 41) - 1;
        assert_eq!(cap_text(0, all, all, 40), "=ep");
        let no_resource = all & !(1 << 24);
        assert_eq!(
            cap_text(0, no_resource, no_resource, 40),
            "=ep cap_sys_resource-ep"
        );
        assert_eq!(cap_text(0, 0, 0, 40), "=");
        // capsh --drop=cap_net_raw,cap_chown on the build machine printed this.
        assert_eq!(
            cap_text(0, 0x1fffeffdffe, 0x1fffeffdffe, 40),
            "=ep cap_chown,cap_net_raw,cap_sys_resource-ep"
        );
        assert_eq!(cap_text(0, 0b11, 0b11, 40), "cap_chown,cap_dac_override=ep");
    }

    #[test]
    fn ansible_reading() {
        assert_eq!(ansible_parse("=ep"), ("False", Value::Array(Vec::new())));
        let (e, c) = ansible_parse("=ep cap_sys_resource-ep");
        assert_eq!(e, "True");
        assert_eq!(c, serde_json::json!(["ep cap_sys_resource-ep"]));
    }
}
