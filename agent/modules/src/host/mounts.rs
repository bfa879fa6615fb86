//! Mounts: /proc/self/mountinfo read directly, mount points tested as Python's
//! `ismount`, and mounting/unmounting through mount(2)/umount(2) (nix) — or through the
//! `mount` binary where userspace has to act (filesystem helpers such as mount.nfs,
//! loop setup, remounts that merge fstab options).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{MntFlags, MsFlags};

/// One mounted filesystem, as Ansible's `get_linux_mounts` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub dst: String,
    /// The device, or for a bind mount the source directory.
    pub src: String,
    pub opts: String,
    pub fs: String,
    /// `major:minor` of the mounted filesystem.
    pub devnum: String,
    /// The mount source as mountinfo has it (what `mount -v` prints first).
    pub source: String,
}

/// Undo mountinfo's octal escapes (`\040` for a space).
pub fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = u32::from(b[i + 1] - b'0') * 64
                + u32::from(b[i + 2] - b'0') * 8
                + u32::from(b[i + 3] - b'0');
            if let Ok(c) = u8::try_from(v) {
                out.push(c);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Raw {
    id: i64,
    parent: i64,
    devnum: String,
    root: String,
    dst: String,
    opts: String,
    fs: String,
    src: String,
}

/// Parse mountinfo text into Ansible's mount table: keyed by mount point (the last
/// mount on a path wins), bind mounts' sources rebuilt from the parent's root and
/// mount point. Fields are kept escaped, as Ansible compares them.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    let mut raws: Vec<Raw> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 {
            continue;
        }
        let (Ok(id), Ok(parent)) = (f[0].parse(), f[1].parse()) else {
            continue;
        };
        raws.push(Raw {
            id,
            parent,
            devnum: f[2].into(),
            root: f[3].into(),
            dst: f[4].into(),
            opts: f[5].into(),
            fs: f[f.len() - 3].into(),
            src: f[f.len() - 2].into(),
        });
    }
    let mut out: Vec<MountEntry> = Vec::new();
    for r in &raws {
        let parent = raws.iter().find(|m| m.id == r.parent);
        let src = match parent {
            Some(m) if r.parent != 1 => {
                let mut root = r.root.clone();
                if m.root.len() > 1 && root.starts_with(&format!("{}/", m.root)) {
                    root = root[m.root.len()..].to_string();
                }
                if m.dst != "/" {
                    root = format!("{}{}", m.dst, root);
                }
                root
            }
            _ => r.src.clone(),
        };
        let e = MountEntry {
            dst: r.dst.clone(),
            src,
            opts: r.opts.clone(),
            fs: r.fs.clone(),
            devnum: r.devnum.clone(),
            source: r.src.clone(),
        };
        match out.iter_mut().find(|m| m.dst == e.dst) {
            Some(slot) => *slot = e,
            None => out.push(e),
        }
    }
    out
}

/// The source as `mount -v` prints it: for a loop device that clears itself when
/// unmounted (what `mount IMAGE DIR` sets up), the file behind it; else `source`.
pub fn listed_source(source: &str) -> String {
    if let Some(name) = source.strip_prefix("/dev/")
        && name.starts_with("loop")
        && !name.contains('/')
    {
        let dir = Path::new("/sys/block").join(name).join("loop");
        let autoclear = fs::read_to_string(dir.join("autoclear")).is_ok_and(|v| v.trim() == "1");
        if autoclear && let Ok(file) = fs::read_to_string(dir.join("backing_file")) {
            let file = file.trim_end_matches('\n');
            if !file.is_empty() {
                return file.to_string();
            }
        }
    }
    source.to_string()
}

/// The mount table of this process (`None` when /proc/self/mountinfo is unreadable).
pub fn linux_mounts() -> Option<Vec<MountEntry>> {
    fs::read_to_string("/proc/self/mountinfo")
        .ok()
        .map(|t| parse_mountinfo(&t))
}

/// Python's `os.path.ismount` as Ansible's copy has it: not a link, and on another
/// device than its parent or the same inode as it.
pub fn ismount(path: &Path) -> bool {
    let Ok(s1) = fs::symlink_metadata(path) else {
        return false;
    };
    if s1.file_type().is_symlink() {
        return false;
    }
    let parent = fs::canonicalize(path.join("..")).unwrap_or_else(|_| path.join(".."));
    let Ok(s2) = fs::symlink_metadata(&parent) else {
        return false;
    };
    s1.dev() != s2.dev() || s1.ino() == s2.ino()
}

/// mount(2) flags and the filesystem data string for an fstab option list; `None`
/// when the options need the `mount` binary (`loop`, `user` mounts, helpers' options).
pub fn parse_opts(opts: &str) -> Option<(MsFlags, String)> {
    let mut flags = MsFlags::empty();
    let mut data: Vec<&str> = Vec::new();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        let (set, clear) = match o {
            "defaults" | "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
            "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty()),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            // Userspace-only options: fstab and systemd read them, the kernel never does.
            "auto" | "noauto" | "nouser" | "nofail" | "_netdev" | "noswap" => {
                (MsFlags::empty(), MsFlags::empty())
            }
            "loop" | "user" | "users" | "owner" | "group" | "remount" | "move" => return None,
            o if o.starts_with("x-")
                || o.starts_with("X-")
                || o.starts_with("comment=")
                || o.starts_with("loop=")
                || o.starts_with("offset=")
                || o.starts_with("sizelimit=")
                || o.starts_with("encryption=")
                || o.starts_with("helper=") =>
            {
                if o.starts_with("x-") || o.starts_with("X-") || o.starts_with("comment=") {
                    (MsFlags::empty(), MsFlags::empty())
                } else {
                    return None;
                }
            }
            other => {
                data.push(other);
                (MsFlags::empty(), MsFlags::empty())
            }
        };
        flags.insert(set);
        flags.remove(clear);
    }
    Some((flags, data.join(",")))
}

/// Whether a `mount.<fstype>` helper exists (then only the `mount` binary mounts it).
pub fn has_helper(fstype: &str) -> bool {
    ["/sbin", "/usr/sbin", "/bin", "/usr/bin"]
        .iter()
        .any(|d| Path::new(d).join(format!("mount.{fstype}")).exists())
}

/// Output of a spawned program: exit code and captured text.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub rc: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run a program (LANG=C) and capture its output. A program that cannot be started
/// gives rc 127 and the error as stderr.
pub fn run(argv: &[String]) -> Output {
    let Some((prog, rest)) = argv.split_first() else {
        return Output {
            rc: 127,
            ..Output::default()
        };
    };
    let mut cmd = Command::new(prog);
    super::creds::prepare_command(&mut cmd);
    match cmd
        .args(rest)
        .env("LANG", "C")
        .env("LC_ALL", "C")
        .env("LC_MESSAGES", "C")
        .stdin(std::process::Stdio::null())
        .output()
    {
        Ok(o) => Output {
            rc: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        },
        Err(e) => Output {
            rc: 127,
            stdout: String::new(),
            stderr: format!("{prog}: {e}"),
        },
    }
}

/// Find a program on the usual sbin/bin path (Ansible's `get_bin_path`).
pub fn bin_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .filter(|d| !d.is_empty())
        .chain(["/sbin", "/usr/sbin", "/usr/local/sbin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// How a mount is carried out: which path the agent takes, reported in errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountVia {
    /// mount(2) with a resolved device.
    Syscall {
        source: PathBuf,
        fstype: String,
        flags: MsFlags,
        data: String,
    },
    /// The `mount` binary with these arguments.
    Binary(Vec<String>),
}

/// Mount `src` (a device, `UUID=`/`LABEL=` source or directory) on `target`. The
/// syscall is used for local filesystems with kernel-only options; `binary_args` is the
/// `mount` command line used otherwise. Returns `(rc, message)` like Ansible's helpers.
pub fn mount(
    src: &str,
    target: &Path,
    fstype: &str,
    opts: &str,
    binary_args: Vec<String>,
) -> (i32, String) {
    let via = choose(src, fstype, opts, binary_args);
    mount_via(&via, target)
}

/// Decide between mount(2) and the binary.
pub fn choose(src: &str, fstype: &str, opts: &str, binary_args: Vec<String>) -> MountVia {
    let binary = MountVia::Binary(binary_args);
    if has_helper(fstype) || fstype.starts_with("fuse") || fstype.contains('.') {
        return binary;
    }
    let Some((flags, data)) = parse_opts(opts) else {
        return binary;
    };
    let bind = flags.contains(MsFlags::MS_BIND);
    let source = if bind {
        PathBuf::from(src)
    } else {
        match crate::host::blockdev::resolve_source(src) {
            Some(p) => p,
            None => return binary,
        }
    };
    // A regular file needs a loop device: the binary sets one up.
    if !bind && source.is_file() {
        return binary;
    }
    MountVia::Syscall {
        source,
        fstype: fstype.to_string(),
        flags,
        data,
    }
}

fn mount_via(via: &MountVia, target: &Path) -> (i32, String) {
    match via {
        MountVia::Binary(args) => {
            let Some(bin) = bin_path("mount") else {
                return (
                    1,
                    "Failed to find required executable \"mount\" in paths".into(),
                );
            };
            let mut argv = vec![bin.display().to_string()];
            argv.extend(args.iter().cloned());
            let o = run(&argv);
            if o.rc == 0 {
                (0, String::new())
            } else {
                (o.rc, o.stdout + &o.stderr)
            }
        }
        MountVia::Syscall {
            source,
            fstype,
            flags,
            data,
        } => {
            let bind = flags.contains(MsFlags::MS_BIND);
            let fstype = (!bind).then_some(fstype.as_str());
            let data = (!data.is_empty()).then_some(data.as_str());
            let r = nix::mount::mount(Some(source.as_path()), target, fstype, *flags, data);
            // A read-only bind needs a second, remounting call.
            let r = r.and_then(|()| {
                if bind && flags.contains(MsFlags::MS_RDONLY) {
                    nix::mount::mount(
                        None::<&str>,
                        target,
                        None::<&str>,
                        *flags | MsFlags::MS_REMOUNT,
                        None::<&str>,
                    )
                } else {
                    Ok(())
                }
            });
            match r {
                Ok(()) => (0, String::new()),
                Err(e) => (
                    32,
                    format!(
                        "mount: {}: mount({}) failed: {}.\n",
                        target.display(),
                        source.display(),
                        e.desc()
                    ),
                ),
            }
        }
    }
}

/// umount(2) `target`, in `umount`'s words on failure.
pub fn umount(target: &Path) -> (i32, String) {
    match nix::mount::umount2(target, MntFlags::empty()) {
        Ok(()) => (0, String::new()),
        Err(e) => (32, format!("umount: {}: {}.\n", target.display(), e.desc())),
    }
}

/// Remount with the `mount` binary (`mount -o remount[,opts] [-T fstab] path`), which
/// merges the options of the fstab entry as Ansible relies on.
pub fn remount_binary(args: &[String]) -> (i32, String) {
    mount_via(&MountVia::Binary(args.to_vec()), Path::new("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
42 22 0:35 / /tmp rw,nosuid,nodev shared:2 - tmpfs tmpfs rw
78 42 0:35 /aaa /tmp/bbb rw - tmpfs tmpfs rw
140 22 253:2 /rootfs /srv rw - ext4 /dev/sdb2 rw
141 140 253:2 /rootfs/tmp/aaa /srv/x rw - ext4 /dev/sdb2 rw
150 22 7:0 / /srv/data rw,relatime shared:9 - ext4 /dev/loop0 rw
151 22 0:40 / /mnt/with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn mountinfo_like_ansible() {
        let m = parse_mountinfo(INFO);
        let get = |d: &str| m.iter().find(|e| e.dst == d).unwrap().clone();
        assert_eq!(get("/").src, "/dev/sda1");
        assert_eq!(get("/tmp").src, "/");
        assert_eq!(get("/tmp/bbb").src, "/tmp/aaa");
        assert_eq!(get("/srv/x").src, "/srv/tmp/aaa");
        assert_eq!(get("/srv/data").src, "/");
        assert_eq!(get("/srv/data").fs, "ext4");
        assert_eq!(get("/srv/data").devnum, "7:0");
        assert_eq!(get("/srv/data").source, "/dev/loop0");
        assert_eq!(get("/mnt/with\\040space").fs, "tmpfs");
        assert_eq!(unescape_octal("/mnt/with\\040space"), "/mnt/with space");
        assert_eq!(unescape_octal("a\\9"), "a\\9");
        assert!(parse_mountinfo("garbage\n1 2\n").is_empty());
    }

    #[test]
    fn options_to_flags() {
        let (f, d) = parse_opts("defaults").unwrap();
        assert!(f.is_empty() && d.is_empty());
        let (f, d) =
            parse_opts("ro,noatime,nofail,x-systemd.automount,errors=remount-ro,discard").unwrap();
        assert_eq!(f, MsFlags::MS_RDONLY | MsFlags::MS_NOATIME);
        assert_eq!(d, "errors=remount-ro,discard");
        let (f, _) = parse_opts("ro,rw").unwrap();
        assert!(f.is_empty());
        assert!(parse_opts("loop,ro").is_none());
        assert!(parse_opts("user").is_none());
        let (f, _) = parse_opts("rbind").unwrap();
        assert_eq!(f, MsFlags::MS_BIND | MsFlags::MS_REC);
    }

    #[test]
    fn choice_of_mount_path() {
        let via = choose("/dev/null-not-a-file", "ext4", "loop", vec!["x".into()]);
        assert_eq!(via, MountVia::Binary(vec!["x".into()]));
        let via = choose("/srv", "none", "bind", vec![]);
        assert!(matches!(via, MountVia::Syscall { .. }));
        let via = choose("/dev/sdz9", "ext4", "defaults,noatime", vec![]);
        assert!(matches!(via, MountVia::Syscall { ref data, .. } if data.is_empty()));
    }

    #[test]
    fn ismount_root_and_dirs() {
        assert!(ismount(Path::new("/")));
        let d = tempfile::tempdir().unwrap();
        assert!(!ismount(d.path()));
        assert!(!ismount(&d.path().join("missing")));
    }
}
