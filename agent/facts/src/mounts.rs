//! Mount facts (hardware/linux.py `get_mount_facts`): /etc/mtab (else /proc/mounts), bind
//! mounts from /proc/self/mountinfo (what findmnt shows as `dev[/path]`), sizes from
//! statvfs, UUIDs from /dev/disk/by-uuid (Ansible asks lsblk / udevadm).

use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::Facts;
use crate::util::read_raw;

pub fn collect(timeout: u64) -> Facts {
    let mtab = read_raw("/etc/mtab")
        .or_else(|| read_raw("/proc/mounts"))
        .unwrap_or_default();
    let binds = bind_mounts(&read_raw("/proc/self/mountinfo").unwrap_or_default());
    let uuids = uuid_links();
    let mut mounts = Vec::new();
    for m in parse_mtab(&mtab, &binds) {
        let mut info = m;
        let mount = info
            .get("mount")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let device = info
            .get("device")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let fstype = info
            .get("fstype")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match size(&mount, &fstype, timeout) {
            Ok(sz) => {
                info.extend(sz);
                let uuid = uuids.get(&device).cloned().unwrap_or_else(|| "N/A".into());
                info.insert("uuid".into(), Value::from(uuid));
            }
            Err(()) => {
                info.insert(
                    "note".into(),
                    Value::from("Could not get extra information due to timeout"),
                );
            }
        }
        info.sort_keys();
        mounts.push(Value::Object(info));
    }
    let mut f = Facts::new();
    f.insert("mounts".into(), Value::Array(mounts));
    f
}

/// Mount points whose mountinfo root is not "/" (bind mounts, btrfs subvolumes: findmnt
/// prints them as `source[/root]`).
pub fn bind_mounts(mountinfo: &str) -> HashSet<String> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let (root, target) = (f.get(3)?, f.get(4)?);
            (*root != "/").then(|| unescape(target))
        })
        .collect()
}

fn unescape(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let n = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(n as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mtab entries Ansible keeps (device starting with '/' or '\', or containing ':/',
/// and fstype not "none"), without sizes.
pub fn parse_mtab(text: &str, binds: &HashSet<String>) -> Vec<Facts> {
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<String> = line.split_whitespace().map(unescape).collect();
        if fields.len() < 4 {
            continue;
        }
        let (device, mount, fstype) = (&fields[0], &fields[1], &fields[2]);
        let mut options = fields[3].clone();
        let dump: i64 = fields.get(4).and_then(|x| x.parse().ok()).unwrap_or(0);
        let passno: i64 = fields.get(5).and_then(|x| x.parse().ok()).unwrap_or(0);
        if !(device.starts_with('/') || device.starts_with('\\') || device.contains(":/"))
            || fstype == "none"
        {
            continue;
        }
        if binds.contains(mount) && !(options.contains("bind") && options.ends_with('"')) {
            options.push_str(",bind");
        }
        let mut m = Facts::new();
        m.insert("device".into(), Value::from(device.as_str()));
        m.insert("dump".into(), Value::from(dump));
        m.insert("fstype".into(), Value::from(fstype.as_str()));
        m.insert("mount".into(), Value::from(mount.as_str()));
        m.insert("options".into(), Value::from(options));
        m.insert("passno".into(), Value::from(passno));
        out.push(m);
    }
    out
}

/// /dev/disk/by-uuid: device path → uuid.
fn uuid_links() -> HashMap<String, String> {
    let mut m = HashMap::new();
    if let Ok(rd) = std::fs::read_dir("/dev/disk/by-uuid") {
        for e in rd.flatten() {
            if let Ok(target) = std::fs::canonicalize(e.path()) {
                m.entry(target.display().to_string())
                    .or_insert_with(|| e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    m
}

const NETWORK_FS: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "ceph",
    "glusterfs",
    "fuse.sshfs",
    "9p",
    "afs",
    "fuse.glusterfs",
    "lustre",
];

/// `get_mount_size`; network file systems are asked from a thread bounded by
/// gather_timeout (Err on timeout). A failing statvfs gives no size keys.
fn size(mount: &str, fstype: &str, timeout: u64) -> Result<Facts, ()> {
    if !NETWORK_FS.contains(&fstype) {
        return Ok(statvfs(mount));
    }
    let (tx, rx) = mpsc::channel();
    let m = mount.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(statvfs(&m));
    });
    rx.recv_timeout(Duration::from_secs(timeout.max(1)))
        .map_err(|_| ())
}

fn statvfs(mount: &str) -> Facts {
    let mut f = Facts::new();
    if let Ok(s) = nix::sys::statvfs::statvfs(mount) {
        let frsize = s.fragment_size();
        let blocks = s.blocks();
        let bavail = s.blocks_available();
        let files = s.files();
        let favail = s.files_available();
        f.insert("block_available".into(), Value::from(bavail));
        f.insert("block_size".into(), Value::from(s.block_size()));
        f.insert("block_total".into(), Value::from(blocks));
        f.insert(
            "block_used".into(),
            Value::from(blocks as i64 - bavail as i64),
        );
        f.insert("inode_available".into(), Value::from(favail));
        f.insert("inode_total".into(), Value::from(files));
        f.insert(
            "inode_used".into(),
            Value::from(files as i64 - favail as i64),
        );
        f.insert("size_available".into(), Value::from(frsize * bavail));
        f.insert("size_total".into(), Value::from(frsize * blocks));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "22 27 0:21 / /proc rw,relatime - proc proc rw\n27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n30 27 254:0 /srv/data /mnt/data rw,relatime - ext4 /dev/vda rw\n31 27 254:0 / /mnt/with\\040space rw - ext4 /dev/vdb rw\n";

    #[test]
    fn binds_from_mountinfo() {
        let b = bind_mounts(MOUNTINFO);
        assert!(b.contains("/mnt/data"));
        assert!(!b.contains("/"));
    }

    #[test]
    fn mtab_filtering() {
        let mtab = "proc /proc proc rw,relatime 0 0\n/dev/vda / ext4 rw,relatime 0 1\n/dev/vda /mnt/data ext4 rw,relatime 0 0\nserver:/export /mnt/nfs nfs4 rw 0 0\n/dev/vdb /mnt/with\\040space ext4 rw 0 0\ntmpfs /run tmpfs rw 0 0\n";
        let m = parse_mtab(mtab, &bind_mounts(MOUNTINFO));
        let mounts: Vec<&str> = m
            .iter()
            .map(|x| x["mount"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            mounts,
            vec!["/", "/mnt/data", "/mnt/nfs", "/mnt/with space"]
        );
        assert_eq!(m[0]["passno"], 1);
        assert_eq!(m[1]["options"], "rw,relatime,bind");
        assert_eq!(m[0]["options"], "rw,relatime");
    }

    #[test]
    fn statvfs_root() {
        let f = statvfs("/");
        assert!(f["size_total"].as_u64().unwrap_or(0) > 0);
    }
}
