//! `selinux` collector (selinux.py), read from selinuxfs and /etc/selinux/config instead
//! of the Python bindings (reported as present: `selinux_python_present: true`).

use serde_json::Value;

use crate::util::read;
use crate::{Ctx, Facts};

pub fn collect(ctx: &mut Ctx<'_>) -> Facts {
    ctx.cache.get_or("selinux", || {
        let config = read("/etc/selinux/config").unwrap_or_default();
        let enforce = read("/sys/fs/selinux/enforce");
        selinux_facts(
            enforce.as_deref(),
            read("/sys/fs/selinux/policyvers").as_deref(),
            &config,
        )
    })
}

fn mode_name(n: &str) -> &'static str {
    match n {
        "1" | "enforcing" => "enforcing",
        "0" | "permissive" => "permissive",
        "-1" | "disabled" => "disabled",
        _ => "unknown",
    }
}

pub fn selinux_facts(enforce: Option<&str>, policyvers: Option<&str>, config: &str) -> Facts {
    let mut s = Facts::new();
    match enforce {
        None => {
            s.insert("status".into(), Value::from("disabled"));
        }
        Some(e) => {
            s.insert("status".into(), Value::from("enabled"));
            s.insert(
                "policyvers".into(),
                policyvers
                    .and_then(|p| p.parse::<i64>().ok())
                    .map(Value::from)
                    .unwrap_or_else(|| Value::from("unknown")),
            );
            let conf = |key: &str| {
                config.lines().find_map(|l| {
                    let (k, v) = l.trim().split_once('=')?;
                    (k.trim() == key).then(|| v.trim().to_string())
                })
            };
            s.insert(
                "config_mode".into(),
                Value::from(conf("SELINUX").map(|m| mode_name(&m)).unwrap_or("unknown")),
            );
            s.insert("mode".into(), Value::from(mode_name(e.trim())));
            s.insert(
                "type".into(),
                Value::from(conf("SELINUXTYPE").unwrap_or_else(|| "unknown".into())),
            );
        }
    }
    s.sort_keys();
    let mut f = Facts::new();
    f.insert("selinux".into(), Value::Object(s));
    f.insert("selinux_python_present".into(), Value::Bool(true));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_and_enforcing() {
        let f = selinux_facts(None, None, "");
        assert_eq!(f["selinux"]["status"], "disabled");
        let f = selinux_facts(
            Some("1"),
            Some("33"),
            "SELINUX=enforcing\nSELINUXTYPE=targeted\n",
        );
        assert_eq!(f["selinux"]["mode"], "enforcing");
        assert_eq!(f["selinux"]["config_mode"], "enforcing");
        assert_eq!(f["selinux"]["policyvers"], 33);
        assert_eq!(f["selinux"]["type"], "targeted");
    }
}
