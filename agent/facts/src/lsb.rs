//! `lsb` collector (lsb.py). Ansible runs `lsb_release -a` when it is installed, else reads
//! /etc/lsb-release. No process is spawned here: when `lsb_release` is installed its
//! answer is derived from os-release the way Debian's lsb_release script does (capitalized
//! ID, PRETTY_NAME, VERSION_ID, VERSION_CODENAME).

use serde_json::Value;

use crate::distribution::parse_os_release;
use crate::util::{bin_exists, read_raw};
use crate::{Ctx, Facts};

const STRIP: &[char] = &['\'', '"', '\\'];

pub fn collect(_ctx: &mut Ctx<'_>) -> Facts {
    let mut lsb = Vec::new();
    if bin_exists("lsb_release") {
        let osr = read_raw("/etc/os-release")
            .or_else(|| read_raw("/usr/lib/os-release"))
            .unwrap_or_default();
        lsb = from_os_release(&osr);
    }
    if lsb.is_empty()
        && let Some(text) = read_raw("/etc/lsb-release")
    {
        lsb = from_lsb_release_file(&text);
    }
    let mut f = Facts::new();
    f.insert("lsb".into(), Value::Object(finish(lsb)));
    f
}

/// What Debian's `lsb_release -a` prints, from os-release.
pub fn from_os_release(text: &str) -> Vec<(String, String)> {
    let p = parse_os_release(text);
    let get = |k: &str| p.get(k).cloned().filter(|v| !v.is_empty());
    let raw_id = p.get("id").cloned().unwrap_or_default();
    let mut id = {
        let mut c = raw_id.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    };
    if let Some(name) = p.get("name")
        && name.to_lowercase() == id.to_lowercase()
    {
        id = name.clone();
    }
    let id = if id.is_empty() { "n/a".to_string() } else { id };
    vec![
        ("id".into(), id),
        (
            "description".into(),
            get("pretty_name").unwrap_or_else(|| "n/a".into()),
        ),
        (
            "release".into(),
            get("version_id").unwrap_or_else(|| "n/a".into()),
        ),
        (
            "codename".into(),
            get("version_codename").unwrap_or_else(|| "n/a".into()),
        ),
    ]
}

/// `_lsb_release_file`.
pub fn from_lsb_release_file(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: &str| {
        if let Some(e) = out.iter_mut().find(|(x, _)| x == k) {
            e.1 = v.to_string();
        } else {
            out.push((k.to_string(), v.to_string()));
        }
    };
    for line in text.trim().lines() {
        let Some((_, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        if line.contains("DISTRIB_ID") {
            set("id", value);
        } else if line.contains("DISTRIB_RELEASE") {
            set("release", value);
        } else if line.contains("DISTRIB_DESCRIPTION") {
            set("description", value);
        } else if line.contains("DISTRIB_CODENAME") {
            set("codename", value);
        }
    }
    out
}

fn finish(mut lsb: Vec<(String, String)>) -> Facts {
    if let Some((_, r)) = lsb.iter().find(|(k, _)| k == "release") {
        let major = r.split('.').next().unwrap_or_default().to_string();
        lsb.push(("major_release".into(), major));
    }
    let mut f = Facts::new();
    for (k, v) in lsb {
        let v = if v.is_empty() {
            v
        } else {
            v.trim_matches(STRIP).to_string()
        };
        f.insert(k, Value::from(v));
    }
    f.sort_keys();
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_lsb_release_script() {
        let osr = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n";
        let f = finish(from_os_release(osr));
        assert_eq!(f.get("id"), Some(&Value::from("Debian")));
        assert_eq!(
            f.get("description"),
            Some(&Value::from("Debian GNU/Linux 12 (bookworm)"))
        );
        assert_eq!(f.get("release"), Some(&Value::from("12")));
        assert_eq!(f.get("major_release"), Some(&Value::from("12")));
        assert_eq!(f.get("codename"), Some(&Value::from("bookworm")));
    }

    #[test]
    fn lsb_release_file() {
        let t = "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\nDISTRIB_CODENAME=jammy\nDISTRIB_DESCRIPTION=\"Ubuntu 22.04.4 LTS\"\n";
        let f = finish(from_lsb_release_file(t));
        assert_eq!(f.get("id"), Some(&Value::from("Ubuntu")));
        assert_eq!(
            f.get("description"),
            Some(&Value::from("Ubuntu 22.04.4 LTS"))
        );
        assert_eq!(f.get("major_release"), Some(&Value::from("22")));
    }
}
