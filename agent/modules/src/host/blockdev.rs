//! Block devices read directly: filesystem signatures from superblocks (what `blkid`
//! reports as TYPE/UUID/LABEL), device sizes, `UUID=`/`LABEL=` sources resolved without
//! udev, and the NVMe EBS volume-id lookup.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a probe found on a device (blkid's TYPE, UUID and LABEL).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Probe {
    /// blkid's TYPE name: `ext4`, `xfs`, `swap`, `btrfs`, `LVM2_member`, ...
    pub fstype: String,
    pub uuid: Option<String>,
    pub label: Option<String>,
    /// Size of the filesystem in bytes, where the superblock says it (ext*, xfs).
    pub fs_size: Option<u64>,
    /// XFS: blocks of an internal log (0 for an external one) and the block size; a
    /// mounted XFS is measured by statvfs plus this log (its superblock on disk lags).
    pub xfs_log: Option<(u64, u64)>,
}

/// How many leading bytes the probe reads (btrfs's superblock sits at 64 KiB).
const PROBE_LEN: usize = 0x10000 + 4096;

fn le16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?))
}
fn le32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}
fn be32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(off..off + 4)?.try_into().ok()?))
}
fn be64(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// A 16-byte UUID in its usual text form; all zeros is no UUID.
fn uuid_text(b: &[u8]) -> Option<String> {
    if b.len() != 16 || b.iter().all(|&c| c == 0) {
        return None;
    }
    let h: String = b.iter().map(|c| format!("{c:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// A NUL-padded label.
fn label_text(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(&b[..end]).trim_end().to_string();
    (!s.is_empty()).then_some(s)
}

// ext2/3/4 feature bits (as libblkid tells the three apart).
const EXT3_COMPAT_HAS_JOURNAL: u32 = 0x0004;
const EXT3_INCOMPAT_JOURNAL_DEV: u32 = 0x0008;
const EXT2_RO_COMPAT_SUPP: u32 = 0x0001 | 0x0002 | 0x0004;
const EXT2_INCOMPAT_SUPP: u32 = 0x0002 | 0x0010;
const EXT3_INCOMPAT_SUPP: u32 = 0x0002 | 0x0004 | 0x0010;
const EXT4_INCOMPAT_64BIT: u32 = 0x0080;
const EXT2_FLAGS_TEST_FILESYS: u32 = 0x0004;

fn probe_ext(b: &[u8]) -> Option<Probe> {
    let sb = b.get(1024..2048)?;
    if le16(sb, 0x38)? != 0xEF53 {
        return None;
    }
    let compat = le32(sb, 0x5C)?;
    let incompat = le32(sb, 0x60)?;
    let ro_compat = le32(sb, 0x64)?;
    let flags = le32(sb, 0x160).unwrap_or(0);
    let fstype = if incompat & EXT3_INCOMPAT_JOURNAL_DEV != 0 {
        "jbd"
    } else if compat & EXT3_COMPAT_HAS_JOURNAL == 0
        && ro_compat & !EXT2_RO_COMPAT_SUPP == 0
        && incompat & !EXT2_INCOMPAT_SUPP == 0
    {
        "ext2"
    } else if compat & EXT3_COMPAT_HAS_JOURNAL != 0
        && ro_compat & !EXT2_RO_COMPAT_SUPP == 0
        && incompat & !EXT3_INCOMPAT_SUPP == 0
    {
        "ext3"
    } else if flags & EXT2_FLAGS_TEST_FILESYS != 0 {
        "ext4dev"
    } else {
        "ext4"
    };
    let lo = u64::from(le32(sb, 0x04)?);
    let hi = if incompat & EXT4_INCOMPAT_64BIT != 0 {
        u64::from(le32(sb, 0x150).unwrap_or(0))
    } else {
        0
    };
    let log = le32(sb, 0x18)?;
    let block = 1024u64.checked_shl(log).filter(|_| log < 16)?;
    Some(Probe {
        fstype: fstype.into(),
        uuid: uuid_text(sb.get(0x68..0x78)?),
        label: label_text(sb.get(0x78..0x88)?),
        fs_size: ((hi << 32) | lo).checked_mul(block),
        xfs_log: None,
    })
}

fn probe_xfs(b: &[u8]) -> Option<Probe> {
    if b.get(0..4)? != b"XFSB" {
        return None;
    }
    let bsize = u64::from(be32(b, 4)?);
    let dblocks = be64(b, 8)?;
    Some(Probe {
        fstype: "xfs".into(),
        uuid: uuid_text(b.get(32..48)?),
        label: label_text(b.get(108..120)?),
        fs_size: dblocks.checked_mul(bsize),
        xfs_log: {
            let logstart = be64(b, 48)?;
            let logblocks = u64::from(be32(b, 96)?);
            Some((if logstart != 0 { logblocks } else { 0 }, bsize))
        },
    })
}

fn probe_swap(b: &[u8]) -> Option<Probe> {
    // The signature ends the first page; try the usual page sizes.
    for page in [4096usize, 8192, 16384, 65536] {
        let Some(sig) = b.get(page - 10..page) else {
            continue;
        };
        if sig == b"SWAPSPACE2" || sig == b"SWAP-SPACE" {
            return Some(Probe {
                fstype: "swap".into(),
                uuid: uuid_text(b.get(1036..1052)?),
                label: label_text(b.get(1052..1068)?),
                ..Probe::default()
            });
        }
    }
    None
}

fn probe_other(b: &[u8]) -> Option<Probe> {
    let at = |off: usize, magic: &[u8]| b.get(off..off + magic.len()) == Some(magic);
    let simple = |t: &str| {
        Some(Probe {
            fstype: t.into(),
            ..Probe::default()
        })
    };
    if at(0x10040, b"_BHRfS_M") {
        return Some(Probe {
            fstype: "btrfs".into(),
            uuid: uuid_text(b.get(0x10020..0x10030)?),
            label: label_text(b.get(0x1012B..0x1022B)?),
            ..Probe::default()
        });
    }
    if at(0, b"LUKS\xba\xbe") {
        return simple("crypto_LUKS");
    }
    // LVM2 physical volume: a label in one of the first four sectors.
    for s in 0..4 {
        if at(s * 512, b"LABELONE") && at(s * 512 + 24, b"LVM2 001") {
            return simple("LVM2_member");
        }
    }
    if at(0, b"hsqs") {
        return simple("squashfs");
    }
    if at(0x8001, b"CD001") {
        return simple("iso9660");
    }
    if le32(b, 0x400) == Some(0xF2F5_2010) {
        return simple("f2fs");
    }
    if at(0x52, b"FAT32   ") || at(0x36, b"FAT12   ") || at(0x36, b"FAT16   ") {
        return simple("vfat");
    }
    if at(3, b"NTFS    ") {
        return simple("ntfs");
    }
    if at(0x10034, b"ReIsEr2Fs") || at(0x10034, b"ReIsEr3Fs") || at(0x10034, b"ReIsErFs") {
        return simple("reiserfs");
    }
    None
}

/// Identify a filesystem from a device's first bytes (`blkid -s TYPE`'s answer).
pub fn probe_bytes(b: &[u8]) -> Option<Probe> {
    probe_xfs(b)
        .or_else(|| probe_ext(b))
        .or_else(|| probe_swap(b))
        .or_else(|| probe_other(b))
}

/// Read up to [`PROBE_LEN`] bytes from the start of `dev` and probe them.
pub fn probe(dev: &Path) -> io::Result<Option<Probe>> {
    let mut f = fs::File::open(dev)?;
    let mut buf = Vec::with_capacity(PROBE_LEN);
    f.by_ref().take(PROBE_LEN as u64).read_to_end(&mut buf)?;
    Ok(probe_bytes(&buf))
}

/// Size in bytes of a block device or a regular file (`blockdev --getsize64`).
pub fn size(dev: &Path) -> io::Result<u64> {
    let md = fs::metadata(dev)?;
    if md.file_type().is_block_device() {
        let mut f = fs::File::open(dev)?;
        f.seek(SeekFrom::End(0))
    } else if md.is_file() {
        Ok(md.len())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a block device or regular file",
        ))
    }
}

/// `(major, minor)` of a block device node, `None` for anything else.
pub fn devnum(dev: &Path) -> Option<(u64, u64)> {
    let md = fs::metadata(dev).ok()?;
    if !md.file_type().is_block_device() {
        return None;
    }
    let rdev = md.rdev();
    Some((
        nix::sys::stat::major(rdev) as u64,
        nix::sys::stat::minor(rdev) as u64,
    ))
}

/// Every block device node the kernel lists (/sys/class/block), skipping empty ones.
pub fn block_devices() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/sys/class/block") else {
        return out;
    };
    let mut names: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let size = fs::read_to_string(format!("/sys/class/block/{name}/size")).unwrap_or_default();
        if size.trim() == "0" {
            continue;
        }
        let dev = PathBuf::from(format!("/dev/{name}"));
        if dev.exists() {
            out.push(dev);
        }
    }
    out
}

/// Resolve an fstab-style source (`UUID=`, `LABEL=`, `PARTUUID=`, `PARTLABEL=` or a path)
/// to a device path: udev's /dev/disk/by-* links first, then probing every block device
/// (hosts without udev). `None` when nothing matches.
pub fn resolve_source(src: &str) -> Option<PathBuf> {
    let (kind, value) = match src.split_once('=') {
        Some((k, v)) if matches!(k, "UUID" | "LABEL" | "PARTUUID" | "PARTLABEL") => (k, v),
        _ => return Some(PathBuf::from(src)),
    };
    let value = value.trim_matches('"');
    let dir = match kind {
        "UUID" => "by-uuid",
        "LABEL" => "by-label",
        "PARTUUID" => "by-partuuid",
        _ => "by-partlabel",
    };
    let link = Path::new("/dev/disk").join(dir).join(value);
    if let Ok(p) = fs::canonicalize(&link) {
        return Some(p);
    }
    if !matches!(kind, "UUID" | "LABEL") {
        return None;
    }
    block_devices().into_iter().find(|dev| {
        probe(dev).ok().flatten().is_some_and(|p| {
            if kind == "UUID" {
                p.uuid.is_some_and(|u| u.eq_ignore_ascii_case(value))
            } else {
                p.label.as_deref() == Some(value)
            }
        })
    })
}

/// The NVMe EBS device of a volume (`vol-0123...` or `vol0123...`): the controller's
/// serial is the volume id without its dash. Looks at /dev/disk/by-id first, then at
/// /sys/block/nvme*/device/serial.
pub fn nvme_ebs_device(volume_id: &str) -> Option<PathBuf> {
    let serial = volume_id.replacen("vol-", "vol", 1);
    let link = PathBuf::from(format!(
        "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{serial}"
    ));
    if let Ok(p) = fs::canonicalize(&link) {
        return Some(p);
    }
    let rd = fs::read_dir("/sys/block").ok()?;
    let mut names: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("nvme"))
        .collect();
    names.sort();
    names.into_iter().find_map(|n| {
        let s = fs::read_to_string(format!("/sys/block/{n}/device/serial")).ok()?;
        (s.trim() == serial).then(|| PathBuf::from(format!("/dev/{n}")))
    })
}

/// Wait (bounded) until `path` exists; `Ok(elapsed)` or `Err(elapsed)` on timeout.
pub fn wait_for_path(
    path: &Path,
    present: bool,
    timeout: Duration,
    sleep: Duration,
) -> Result<Duration, Duration> {
    let start = Instant::now();
    loop {
        let exists = fs::symlink_metadata(path).is_ok() && path.exists();
        if exists == present {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return Err(start.elapsed());
        }
        std::thread::sleep(sleep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_format() {
        let b: Vec<u8> = (0u8..16).collect();
        assert_eq!(
            uuid_text(&b).as_deref(),
            Some("00010203-0405-0607-0809-0a0b0c0d0e0f")
        );
        assert_eq!(uuid_text(&[0; 16]), None);
    }

    #[test]
    fn empty_and_short_buffers_probe_nothing() {
        assert_eq!(probe_bytes(&[]), None);
        assert_eq!(probe_bytes(&[0; 100]), None);
        assert_eq!(probe_bytes(&vec![0; PROBE_LEN]), None);
    }

    #[test]
    fn synthetic_ext_and_xfs() {
        let mut b = vec![0u8; 8192];
        b[1024 + 0x38..1024 + 0x3A].copy_from_slice(&0xEF53u16.to_le_bytes());
        b[1024 + 0x04..1024 + 0x08].copy_from_slice(&1000u32.to_le_bytes());
        b[1024 + 0x18..1024 + 0x1C].copy_from_slice(&2u32.to_le_bytes());
        let p = probe_bytes(&b).unwrap();
        assert_eq!(p.fstype, "ext2");
        assert_eq!(p.fs_size, Some(4096 * 1000));
        b[1024 + 0x5C] = 0x04; // has_journal
        assert_eq!(probe_bytes(&b).unwrap().fstype, "ext3");
        b[1024 + 0x60] = 0x40; // extents
        assert_eq!(probe_bytes(&b).unwrap().fstype, "ext4");

        let mut x = vec![0u8; 4096];
        x[0..4].copy_from_slice(b"XFSB");
        x[4..8].copy_from_slice(&4096u32.to_be_bytes());
        x[8..16].copy_from_slice(&100u64.to_be_bytes());
        x[108..112].copy_from_slice(b"data");
        let p = probe_bytes(&x).unwrap();
        assert_eq!(
            (p.fstype.as_str(), p.fs_size, p.label.as_deref()),
            ("xfs", Some(409600), Some("data"))
        );
    }

    #[test]
    fn swap_signature() {
        let mut b = vec![0u8; 8192];
        b[4086..4096].copy_from_slice(b"SWAPSPACE2");
        assert_eq!(probe_bytes(&b).unwrap().fstype, "swap");
    }

    fn have(tool: &str) -> bool {
        ["/sbin", "/usr/sbin", "/bin", "/usr/bin"]
            .iter()
            .any(|d| Path::new(d).join(tool).exists())
    }

    /// A real mkfs.ext4 on a regular file: type, UUID (as blkid prints it) and size.
    #[test]
    fn mkfs_ext4_on_a_file() {
        if !have("mkfs.ext4") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("img");
        fs::File::create(&img).unwrap().set_len(32 << 20).unwrap();
        assert_eq!(probe(&img).unwrap(), None);
        let uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
        let st = std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "agentdata", "-U", uuid])
            .arg(&img)
            .status()
            .unwrap();
        assert!(st.success());
        let p = probe(&img).unwrap().unwrap();
        assert_eq!(p.fstype, "ext4");
        assert_eq!(p.uuid.as_deref(), Some(uuid));
        assert_eq!(p.label.as_deref(), Some("agentdata"));
        assert_eq!(p.fs_size, Some(32 << 20));
        assert_eq!(size(&img).unwrap(), 32 << 20);
    }

    #[test]
    fn mkfs_ext2_ext3_and_swap_on_files() {
        let dir = tempfile::tempdir().unwrap();
        for (tool, args, want) in [
            ("mkfs.ext2", &["-q", "-F"][..], "ext2"),
            ("mkfs.ext3", &["-q", "-F"][..], "ext3"),
            ("mkswap", &["-f"][..], "swap"),
            ("mkfs.xfs", &["-q", "-f"][..], "xfs"),
        ] {
            if !have(tool) {
                continue;
            }
            let img = dir.path().join(want);
            fs::File::create(&img).unwrap().set_len(320 << 20).unwrap();
            let out = std::process::Command::new(tool)
                .args(args)
                .arg(&img)
                .output()
                .unwrap();
            assert!(out.status.success(), "{tool}: {out:?}");
            let p = probe(&img).unwrap().unwrap();
            assert_eq!(p.fstype, want);
            assert!(p.uuid.is_some(), "{want} has a UUID");
        }
    }
}
