//! Block device facts (hardware/linux.py `get_device_facts`): /sys/block and the
//! /dev/disk/by-* links. `host` stays "" (Ansible fills it from `lspci -D`) and `serial`
//! comes from sysfs (Ansible prefers `sg_inq` when installed).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::Facts;
use crate::util::{bytes_to_human, opt, read};

type Links = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn link_dir(dir: &str) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if let Ok(t) = std::fs::read_link(e.path())
                && let Some(base) = t.file_name()
            {
                m.entry(base.to_string_lossy().into_owned())
                    .or_default()
                    .insert(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    m.into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect()
}

fn masters() -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if let Ok(rd) = std::fs::read_dir("/sys/block") {
        for e in rd.flatten() {
            let dev = e.file_name().to_string_lossy().into_owned();
            if let Ok(sl) = std::fs::read_dir(e.path().join("slaves")) {
                for s in sl.flatten() {
                    m.entry(s.file_name().to_string_lossy().into_owned())
                        .or_default()
                        .insert(dev.clone());
                }
            }
        }
    }
    m.into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect()
}

fn links_value(links: &Links, name: &str) -> Value {
    let mut m = Facts::new();
    for (kind, values) in links {
        m.insert(
            kind.clone(),
            Value::Array(
                values
                    .get(name)
                    .map(|v| v.iter().map(|s| Value::from(s.as_str())).collect())
                    .unwrap_or_default(),
            ),
        );
    }
    Value::Object(m)
}

fn holders(dir: &Path) -> Value {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir.join("holders")) {
        for e in rd.flatten() {
            let folder = e.file_name().to_string_lossy().into_owned();
            if !folder.starts_with("dm-") {
                continue;
            }
            let name = read(e.path().join("dm/name")).unwrap_or(folder);
            out.push(Value::from(name));
        }
    }
    Value::Array(out)
}

/// "x" or the 512 fallback, as Ansible: logical_block_size, else hw_sector_size, else 512
/// (an int then).
fn sectorsize(dir: &Path) -> (Value, f64) {
    match read(dir.join("queue/logical_block_size"))
        .or_else(|| read(dir.join("queue/hw_sector_size")))
    {
        Some(s) => {
            let n = s.parse::<f64>().unwrap_or(512.0);
            (Value::from(s), n)
        }
        None => (Value::from(512), 512.0),
    }
}

/// `scheduler_mode` from "mq-deadline [none]": from the first '[' to the last ']'.
pub fn scheduler_mode(s: &str) -> String {
    match (s.find('['), s.rfind(']')) {
        (Some(a), Some(b)) if b > a => s[a + 1..b].to_string(),
        _ => String::new(),
    }
}

/// The partition directory name inside `folder` for disk `disk` (`disk[p]?\d+`).
pub fn partition_name(disk: &str, folder: &str) -> Option<String> {
    let pos = folder.find(disk)?;
    let rest = &folder[pos + disk.len()..];
    let (p, digits_from) = match rest.strip_prefix('p') {
        Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => ("p", r),
        _ => ("", rest),
    };
    let digits: String = digits_from
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    if digits.is_empty() {
        return None;
    }
    Some(format!("{disk}{p}{digits}"))
}

pub fn collect() -> Facts {
    let mut f = Facts::new();
    let Ok(rd) = std::fs::read_dir("/sys/block") else {
        f.insert("devices".into(), Value::Object(Facts::new()));
        return f;
    };
    let mut wwn: BTreeMap<String, String> = BTreeMap::new();
    if let Ok(ids) = std::fs::read_dir("/dev/disk/by-id") {
        for e in ids.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(w) = n.strip_prefix("wwn-")
                && let Ok(t) = std::fs::read_link(e.path())
                && let Some(b) = t.file_name()
            {
                wwn.insert(b.to_string_lossy().into_owned(), w.to_string());
            }
        }
    }
    let mut links: Links = BTreeMap::new();
    links.insert("ids".into(), link_dir("/dev/disk/by-id"));
    links.insert("labels".into(), link_dir("/dev/disk/by-label"));
    links.insert("masters".into(), masters());
    links.insert("uuids".into(), link_dir("/dev/disk/by-uuid"));
    let mut device_links = Facts::new();
    for (k, v) in &links {
        let mut m = Facts::new();
        for (t, names) in v {
            m.insert(
                t.clone(),
                Value::Array(names.iter().map(|s| Value::from(s.as_str())).collect()),
            );
        }
        device_links.insert(k.clone(), Value::Object(m));
    }
    let uuid_of = |part: &str| -> Option<String> {
        let rd = std::fs::read_dir("/dev/disk/by-uuid").ok()?;
        for e in rd.flatten() {
            if std::fs::canonicalize(e.path()).ok()? == Path::new("/dev").join(part) {
                return Some(e.file_name().to_string_lossy().into_owned());
            }
        }
        None
    };
    let mut devices = Facts::new();
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let block = e.file_name().to_string_lossy().into_owned();
        let mut is_virtual = 1;
        let sysdir: PathBuf = match std::fs::read_link(e.path()) {
            Ok(p) => Path::new("/sys/block").join(p),
            Err(err) if err.raw_os_error() == Some(nix::libc::EINVAL) => {
                let d = Path::new("/sys/block").join(&block);
                if std::fs::read_dir(&d)
                    .map(|r| {
                        r.flatten()
                            .any(|x| x.file_name().to_string_lossy().contains("device"))
                    })
                    .unwrap_or(false)
                {
                    is_virtual = 0;
                }
                d
            }
            Err(_) => continue,
        };
        let diskname = sysdir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut d = Facts::new();
        d.insert("virtual".into(), Value::from(is_virtual));
        d.insert("links".into(), links_value(&links, &block));
        for key in ["vendor", "model", "sas_address", "sas_device_handle"] {
            d.insert(key.into(), opt(read(sysdir.join("device").join(key))));
        }
        if let Some(serial) = read(format!("/sys/block/{block}/device/serial")) {
            d.insert("serial".into(), Value::from(serial));
        }
        d.insert("removable".into(), opt(read(sysdir.join("removable"))));
        let discard = if read(sysdir.join("queue/discard_max_hw_bytes")).as_deref() == Some("0") {
            Value::from("0")
        } else {
            opt(read(sysdir.join("queue/discard_granularity")))
        };
        d.insert("support_discard".into(), discard);
        if let Some(w) = wwn.get(&diskname) {
            d.insert("wwn".into(), Value::from(w.as_str()));
        }
        let mut partitions = Facts::new();
        if let Ok(rd) = std::fs::read_dir(&sysdir) {
            let mut folders: Vec<String> = rd
                .flatten()
                .map(|x| x.file_name().to_string_lossy().into_owned())
                .collect();
            folders.sort();
            for folder in folders {
                let Some(part) = partition_name(&diskname, &folder) else {
                    continue;
                };
                let pdir = sysdir.join(&part);
                let mut p = Facts::new();
                p.insert("links".into(), links_value(&links, &part));
                p.insert(
                    "start".into(),
                    read(pdir.join("start"))
                        .map(Value::from)
                        .unwrap_or(Value::from(0)),
                );
                let (ss, ssn) = sectorsize(&pdir);
                let size512: f64 = read(pdir.join("size"))
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0.0);
                let sectors = (size512 * 512.0 / ssn).floor();
                p.insert("sectors".into(), Value::from(sectors as i64));
                p.insert("sectorsize".into(), ss);
                p.insert("size".into(), Value::from(bytes_to_human(sectors * ssn)));
                p.insert("uuid".into(), opt(uuid_of(&part)));
                p.insert("holders".into(), holders(&pdir));
                p.sort_keys();
                partitions.insert(part, Value::Object(p));
            }
        }
        d.insert("partitions".into(), Value::Object(partitions));
        d.insert(
            "rotational".into(),
            opt(read(sysdir.join("queue/rotational"))),
        );
        d.insert(
            "scheduler_mode".into(),
            Value::from(
                read(sysdir.join("queue/scheduler"))
                    .map(|s| scheduler_mode(&s))
                    .unwrap_or_default(),
            ),
        );
        let (ss, ssn) = sectorsize(&sysdir);
        let size512: f64 = read(sysdir.join("size"))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0);
        let sectors = (size512 * 512.0 / ssn).floor();
        d.insert("sectorsize".into(), ss);
        d.insert("sectors".into(), Value::from(sectors as i64));
        d.insert("size".into(), Value::from(bytes_to_human(sectors * ssn)));
        d.insert("host".into(), Value::from(""));
        d.insert("holders".into(), holders(&sysdir));
        d.sort_keys();
        devices.insert(diskname, Value::Object(d));
    }
    f.insert("devices".into(), Value::Object(devices));
    f.insert("device_links".into(), Value::Object(device_links));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler() {
        assert_eq!(scheduler_mode("[none] mq-deadline"), "none");
        assert_eq!(scheduler_mode("mq-deadline kyber [bfq] none"), "bfq");
        assert_eq!(scheduler_mode("none"), "");
    }

    #[test]
    fn partitions() {
        assert_eq!(partition_name("sda", "sda1").as_deref(), Some("sda1"));
        assert_eq!(
            partition_name("nvme0n1", "nvme0n1p2").as_deref(),
            Some("nvme0n1p2")
        );
        assert_eq!(partition_name("sda", "size"), None);
        assert_eq!(
            partition_name("loop0", "loop0p1").as_deref(),
            Some("loop0p1")
        );
    }
}
