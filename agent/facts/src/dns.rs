//! `dns` collector (dns.py): /etc/resolv.conf.

use serde_json::Value;

use crate::util::read_raw;
use crate::{Ctx, Facts};

pub fn collect(_ctx: &mut Ctx<'_>) -> Facts {
    let mut f = Facts::new();
    f.insert(
        "dns".into(),
        Value::Object(parse_resolv_conf(
            &read_raw("/etc/resolv.conf").unwrap_or_default(),
        )),
    );
    f
}

pub fn parse_resolv_conf(text: &str) -> Facts {
    let mut d = Facts::new();
    for line in text.lines() {
        if line.starts_with('#') || line.starts_with(';') || line.trim().is_empty() {
            continue;
        }
        let t: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = t.first() else { continue };
        let rest = || Value::Array(t[1..].iter().map(|s| Value::from(*s)).collect());
        match *first {
            "nameserver" => {
                let e = d
                    .entry("nameservers")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(a) = e {
                    a.extend(t[1..].iter().map(|s| Value::from(*s)));
                }
            }
            "domain" => {
                if let Some(x) = t.get(1) {
                    d.insert("domain".into(), Value::from(*x));
                }
            }
            "search" => {
                d.insert("search".into(), rest());
            }
            "sortlist" => {
                d.insert("sortlist".into(), rest());
            }
            "options" => {
                let mut o = Facts::new();
                for opt in &t[1..] {
                    match opt.split_once(':') {
                        Some((k, v)) if !v.is_empty() => o.insert(k.into(), Value::from(v)),
                        Some((k, _)) => o.insert(k.into(), Value::Bool(true)),
                        None => o.insert((*opt).into(), Value::Bool(true)),
                    };
                }
                d.insert("options".into(), Value::Object(o));
            }
            _ => {}
        }
    }
    d
}

#[cfg(test)]
mod tests {
    #[test]
    fn resolv_conf() {
        let d = super::parse_resolv_conf(
            "# c\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch a.example b.example\ndomain example\noptions ndots:2 rotate\n",
        );
        assert_eq!(
            d["nameservers"],
            serde_json::json!(["10.0.0.2", "10.0.0.3"])
        );
        assert_eq!(d["search"], serde_json::json!(["a.example", "b.example"]));
        assert_eq!(d["domain"], "example");
        assert_eq!(d["options"]["ndots"], "2");
        assert_eq!(d["options"]["rotate"], true);
    }
}
