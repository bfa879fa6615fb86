//! The `filesystem` module (community.general.filesystem): make a filesystem on a
//! device only when it has none (never over another one without `force`), grow it into
//! a grown device (`resizefs`), set its UUID, or wipe signatures (`state: absent`).
//! Existing filesystems and their sizes are read from the superblocks directly (no
//! `blkid`, `tune2fs` or `xfs_info`); `mkfs.*`, `resize2fs`, `xfs_growfs`, `tune2fs`,
//! `xfs_admin` and `wipefs` make the changes.

use std::path::{Path, PathBuf};

use crate::host::blockdev::{self, Probe};
use crate::host::mounts as hm;
use crate::spec::{Arg, Args, Def};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap, Value};

pub struct Filesystem;

const FSTYPES: &[&str] = &[
    "bcachefs", "btrfs", "ext2", "ext3", "ext4", "ext4dev", "f2fs", "lvm", "ocfs2", "reiserfs",
    "xfs", "vfat", "swap", "ufs",
];

const SPEC: &[Arg] = &[
    Arg::str("state")
        .default(Def::Str("present"))
        .choices(&["present", "absent"]),
    Arg::str("fstype").aliases(&["type"]).choices(FSTYPES),
    Arg::path("dev").required().aliases(&["device"]),
    Arg::str("opts"),
    Arg::bool("force", false),
    Arg::bool("resizefs", false),
    Arg::str("uuid"),
];

/// One filesystem kind as Ansible's class table has it.
struct Kind {
    /// The class name (used in messages: `Ext4`, `XFS`).
    class: &'static str,
    mkfs: &'static str,
    force: &'static [&'static str],
    /// The option of mkfs that sets the UUID, if any.
    mkfs_uuid: Option<&'static str>,
    /// The UUID-changing command and option (`tune2fs -U`).
    change_uuid: Option<(&'static str, &'static str)>,
    /// The grow command and whether it acts on the mount point.
    grow: Option<(&'static str, bool)>,
}

/// blkid's TYPE (or the task's fstype) to its class.
fn kind(fstype: &str) -> Option<Kind> {
    let k = |class, mkfs, force, mkfs_uuid, change_uuid, grow| Kind {
        class,
        mkfs,
        force,
        mkfs_uuid,
        change_uuid,
        grow,
    };
    Some(match fstype {
        "ext2" => k(
            "Ext2",
            "mkfs.ext2",
            &["-F"],
            Some("-U"),
            Some(("tune2fs", "-U")),
            Some(("resize2fs", false)),
        ),
        "ext3" => k(
            "Ext3",
            "mkfs.ext3",
            &["-F"],
            Some("-U"),
            Some(("tune2fs", "-U")),
            Some(("resize2fs", false)),
        ),
        "ext4" | "ext4dev" => k(
            "Ext4",
            "mkfs.ext4",
            &["-F"],
            Some("-U"),
            Some(("tune2fs", "-U")),
            Some(("resize2fs", false)),
        ),
        "xfs" => k(
            "XFS",
            "mkfs.xfs",
            &["-f"],
            None,
            Some(("xfs_admin", "-U")),
            Some(("xfs_growfs", true)),
        ),
        "swap" => k("Swap", "mkswap", &["-f"], None, None, None),
        "btrfs" => k("Btrfs", "mkfs.btrfs", &["-f"], None, None, None),
        "vfat" => k("VFAT", "mkfs.vfat", &[], None, None, None),
        "f2fs" => k("F2fs", "mkfs.f2fs", &["-f"], None, None, None),
        "reiserfs" => k("Reiserfs", "mkfs.reiserfs", &["-q"], None, None, None),
        "ocfs2" => k("Ocfs2", "mkfs.ocfs2", &["-Fx"], None, None, None),
        "bcachefs" => k(
            "Bcachefs",
            "mkfs.bcachefs",
            &["--force"],
            Some("-U"),
            None,
            None,
        ),
        "LVM2_member" | "lvm" => k("LVM", "pvcreate", &["-f"], Some("-u"), None, None),
        "ufs" => k("UFS", "newfs", &[], None, None, None),
        _ => return None,
    })
}

/// What the module reads.
#[derive(Debug)]
pub struct Observed {
    exists: bool,
    probe: Option<Probe>,
    dev_size: Option<u64>,
    /// The first mount point of the device (`findmnt --source DEV`).
    mountpoint: Option<PathBuf>,
    /// A mounted XFS measured as the kernel sees it (statvfs + internal log).
    mounted_xfs_size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Run a command; its stdout becomes `msg` when `msg` is set.
    Run { argv: Vec<String>, msg: bool },
}

fn mountpoint_of(dev: &Path) -> Option<PathBuf> {
    let num = blockdev::devnum(dev).map(|(a, b)| format!("{a}:{b}"));
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    // mountinfo order, first match: by device number, or by the source path.
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 {
            continue;
        }
        let src = f[f.len() - 2];
        if num.as_deref() == Some(f[2]) || Path::new(src) == dev {
            return Some(PathBuf::from(hm::unescape_octal(f[4])));
        }
    }
    None
}

fn statvfs_size(mp: &Path, log: Option<(u64, u64)>) -> Option<u64> {
    let st = nix::sys::statvfs::statvfs(mp).ok()?;
    let frsize = st.fragment_size() as u64;
    let blocks = st.blocks() as u64;
    let (logblocks, bsize) = log.unwrap_or((0, frsize));
    Some(blocks * frsize + logblocks * bsize)
}

impl Module for Filesystem {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = Observed;
    type Op = Op;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        let dev = PathBuf::from(args.str("dev").unwrap_or_default());
        if !dev.exists() {
            return Ok(Observed {
                exists: false,
                probe: None,
                dev_size: None,
                mountpoint: None,
                mounted_xfs_size: None,
            });
        }
        let probe = blockdev::probe(&dev)
            .map_err(|e| ModuleError::new(format!("Unable to read {}: {e}", dev.display())))?;
        let mountpoint = mountpoint_of(&dev);
        let mounted_xfs_size = match (&probe, &mountpoint) {
            (Some(p), Some(mp)) if p.fstype == "xfs" => statvfs_size(mp, p.xfs_log),
            _ => None,
        };
        Ok(Observed {
            exists: true,
            dev_size: blockdev::size(&dev).ok(),
            probe,
            mountpoint,
            mounted_xfs_size,
        })
    }

    fn plan(args: &Args, o: &Observed, ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        let state = args.str("state").unwrap_or("present");
        let dev = args.string("dev").unwrap_or_default();
        if args.bool("resizefs") && args.is_set("uuid") {
            return Err(ModuleError::new(
                "parameters are mutually exclusive: resizefs|uuid",
            ));
        }
        if state == "present" && !args.is_set("fstype") {
            return Err(ModuleError::new(
                "state is present but all of the following are missing: fstype",
            ));
        }
        let mut plan = Plan::default();
        if !o.exists {
            let msg = format!("Device {dev} not found.");
            if state == "present" {
                return Err(ModuleError::new(msg));
            }
            plan.set("msg", msg);
            return Ok(plan);
        }
        let fs = o
            .probe
            .as_ref()
            .map(|p| p.fstype.clone())
            .unwrap_or_default();
        if state == "absent" {
            if !fs.is_empty() {
                plan.ops.push(Op::Run {
                    argv: vec!["wipefs".into(), "--all".into(), dev.clone()],
                    msg: false,
                });
            }
            return Ok(plan);
        }
        let fstype = args.str("fstype").unwrap_or_default();
        let Some(want) = kind(fstype) else {
            return Err(ModuleError::new(format!(
                "module does not support this filesystem ({fstype}) yet."
            ))
            .with("changed", false));
        };
        let uuid = args.string("uuid");
        let fstype_name = if fstype == "lvm" {
            "LVM2_member"
        } else {
            fstype
        };
        if uuid.is_some() && want.change_uuid.is_none() && want.mkfs_uuid.is_none() {
            return Err(ModuleError::new(format!(
                "module does not support UUID option for this filesystem ({fstype_name}) yet."
            ))
            .with("changed", false));
        }
        let same_fs = kind(&fs).is_some_and(|k| k.class == want.class);
        let force = args.bool("force");
        let resizefs = args.bool("resizefs");
        if same_fs && !resizefs && uuid.is_none() && !force {
            return Ok(plan);
        }
        if same_fs && resizefs {
            let Some((grow, on_mountpoint)) = want.grow else {
                return Err(ModuleError::new(format!(
                    "module does not support resizing {fstype_name} filesystem yet."
                ))
                .with("changed", false));
            };
            let fs_size = o
                .mounted_xfs_size
                .or(o.probe.as_ref().and_then(|p| p.fs_size));
            let (Some(fs_size), Some(dev_size)) = (fs_size, o.dev_size) else {
                return Err(ModuleError::new(format!(
                    "unable to process {} output for {dev}",
                    if want.class == "XFS" {
                        "xfs_info"
                    } else {
                        "tune2fs"
                    }
                )));
            };
            if fs_size >= dev_size {
                plan.set(
                    "msg",
                    format!("{} filesystem is using the whole device {dev}", want.class),
                );
                return Ok(plan);
            }
            if ctx.check_mode {
                plan.set(
                    "msg",
                    format!("resizing filesystem {} on device {dev}", want.class),
                );
            }
            let target = if on_mountpoint {
                match &o.mountpoint {
                    Some(mp) => mp.display().to_string(),
                    None => {
                        return Err(ModuleError::new(format!(
                            "{dev} needs to be mounted for {} operations",
                            want.class
                        )));
                    }
                }
            } else {
                dev.clone()
            };
            plan.ops.push(Op::Run {
                argv: vec![grow.into(), target],
                msg: true,
            });
            return Ok(plan);
        }
        if same_fs && !force {
            // uuid: change it in place.
            if let (Some(u), Some((cmd, opt))) = (&uuid, want.change_uuid) {
                if ctx.check_mode {
                    // Ansible answers `change` (sic), so the task reports no change.
                    plan.set("change", true);
                    plan.set(
                        "msg",
                        format!("Changing {} filesystem UUID on device {dev}", want.class),
                    );
                    plan.set("changed", false);
                    return Ok(plan);
                }
                plan.ops.push(Op::Run {
                    argv: vec![cmd.into(), opt.into(), u.clone(), dev.clone()],
                    msg: true,
                });
                return Ok(plan);
            }
        } else if !fs.is_empty() && !same_fs && !force {
            return Err(ModuleError::new(format!(
                "'{dev}' is already used as {fs}, use force=true to overwrite"
            ))
            .with("rc", 0)
            .with("err", ""));
        }
        // Create.
        let mut opts: Vec<String> = args
            .str("opts")
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        if let (Some(u), Some(flag)) = (&uuid, want.mkfs_uuid)
            && !opts
                .iter()
                .any(|o| o == flag || (flag == "-U" && o == "--uuid"))
        {
            opts.push(flag.into());
            opts.push(u.clone());
            if want.class == "LVM" {
                opts.push("--norestorefile".into());
            }
        }
        let mut argv = vec![want.mkfs.to_string()];
        argv.extend(want.force.iter().map(|s| s.to_string()));
        argv.extend(opts);
        argv.push(dev.clone());
        plan.ops.push(Op::Run { argv, msg: false });
        if let (Some(u), None, Some((cmd, opt))) = (&uuid, want.mkfs_uuid, want.change_uuid) {
            plan.ops.push(Op::Run {
                argv: vec![cmd.into(), opt.into(), u.clone(), dev.clone()],
                msg: false,
            });
        }
        Ok(plan)
    }

    fn apply(
        _args: &Args,
        _o: Observed,
        plan: &Plan<Op>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let mut out = ResultMap::new();
        for op in &plan.ops {
            let Op::Run { argv, msg } = op;
            let Some((prog, rest)) = argv.split_first() else {
                continue;
            };
            let Some(bin) = hm::bin_path(prog) else {
                return Err(ModuleError::new(format!(
                    "Failed to find required executable \"{prog}\" in paths: {}",
                    std::env::var("PATH").unwrap_or_default()
                )));
            };
            let mut full = vec![bin.display().to_string()];
            full.extend(rest.iter().cloned());
            let r = hm::run(&full);
            if r.rc != 0 {
                return Err(ModuleError::new(r.stderr.trim_end().to_string())
                    .with("cmd", full.join(" "))
                    .with("rc", r.rc)
                    .with("stdout", r.stdout.as_str())
                    .with("stderr", r.stderr.as_str()));
            }
            if *msg {
                out.insert("msg".into(), Value::from(r.stdout));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    fn args(pairs: &[(&str, &str)]) -> Args {
        let raw: IndexMap<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        crate::spec::parse("filesystem", Filesystem::SPECS, &raw).unwrap()
    }

    fn probe(t: &str, fs_size: u64) -> Option<Probe> {
        Some(Probe {
            fstype: t.into(),
            fs_size: Some(fs_size),
            ..Probe::default()
        })
    }

    fn obs(p: Option<Probe>, dev_size: u64) -> Observed {
        Observed {
            exists: true,
            probe: p,
            dev_size: Some(dev_size),
            mountpoint: None,
            mounted_xfs_size: None,
        }
    }

    fn plan(a: &Args, o: &Observed, check: bool) -> Result<Plan<Op>, ModuleError> {
        crate::testctx::with_ctx(check, |ctx| Filesystem::plan(a, o, ctx))
    }

    fn argv(p: &Plan<Op>) -> Vec<Vec<String>> {
        p.ops
            .iter()
            .map(|Op::Run { argv, .. }| argv.clone())
            .collect()
    }

    #[test]
    fn create_only_when_empty() {
        let a = args(&[
            ("fstype", "ext4"),
            ("dev", "/dev/loop7"),
            ("opts", "-L data"),
        ]);
        let p = plan(&a, &obs(None, 1 << 28), false).unwrap();
        assert_eq!(
            argv(&p),
            vec![vec!["mkfs.ext4", "-F", "-L", "data", "/dev/loop7"]]
        );
        let p = plan(&a, &obs(probe("ext4", 1 << 28), 1 << 28), false).unwrap();
        assert!(p.ops.is_empty());
        let e = plan(&a, &obs(probe("xfs", 1 << 28), 1 << 28), false).unwrap_err();
        assert_eq!(
            e.msg,
            "'/dev/loop7' is already used as xfs, use force=true to overwrite"
        );
        // ext3 asked, ext4 found: another class.
        let a3 = args(&[("fstype", "ext3"), ("dev", "/dev/loop7")]);
        assert!(plan(&a3, &obs(probe("ext4", 1), 1), false).is_err());
        // force over the same type reformats (as Ansible does).
        let af = args(&[("fstype", "ext4"), ("dev", "/dev/loop7"), ("force", "yes")]);
        let p = plan(&af, &obs(probe("ext4", 1), 1), false).unwrap();
        assert_eq!(p.ops.len(), 1);
    }

    #[test]
    fn resize_when_device_grew() {
        let a = args(&[
            ("fstype", "ext4"),
            ("dev", "/dev/loop7"),
            ("resizefs", "yes"),
        ]);
        let p = plan(&a, &obs(probe("ext4", 256 << 20), 256 << 20), false).unwrap();
        assert!(p.ops.is_empty());
        assert_eq!(
            p.result.get("msg"),
            Some(&Value::from(
                "Ext4 filesystem is using the whole device /dev/loop7"
            ))
        );
        let p = plan(&a, &obs(probe("ext4", 256 << 20), 512 << 20), false).unwrap();
        assert_eq!(argv(&p), vec![vec!["resize2fs", "/dev/loop7"]]);
        let ax = args(&[
            ("fstype", "xfs"),
            ("dev", "/dev/loop7"),
            ("resizefs", "yes"),
        ]);
        let e = plan(&ax, &obs(probe("xfs", 1), 2), false).unwrap_err();
        assert_eq!(e.msg, "/dev/loop7 needs to be mounted for XFS operations");
    }

    #[test]
    fn absent_wipes_only_a_filesystem() {
        let a = args(&[("state", "absent"), ("dev", "/dev/loop7")]);
        assert!(plan(&a, &obs(None, 1), false).unwrap().ops.is_empty());
        let p = plan(&a, &obs(probe("swap", 0), 1), false).unwrap();
        assert_eq!(argv(&p), vec![vec!["wipefs", "--all", "/dev/loop7"]]);
        let gone = Observed {
            exists: false,
            probe: None,
            dev_size: None,
            mountpoint: None,
            mounted_xfs_size: None,
        };
        let p = plan(&a, &gone, false).unwrap();
        assert_eq!(
            p.result.get("msg"),
            Some(&Value::from("Device /dev/loop7 not found."))
        );
        let ap = args(&[("fstype", "ext4"), ("dev", "/dev/loop7")]);
        assert_eq!(
            plan(&ap, &gone, false).unwrap_err().msg,
            "Device /dev/loop7 not found."
        );
    }

    #[test]
    fn uuid_options() {
        let a = args(&[("fstype", "ext4"), ("dev", "/d"), ("uuid", "random")]);
        let p = plan(&a, &obs(None, 1), false).unwrap();
        assert_eq!(
            argv(&p),
            vec![vec!["mkfs.ext4", "-F", "-U", "random", "/d"]]
        );
        let p = plan(&a, &obs(probe("ext4", 1), 1), false).unwrap();
        assert_eq!(argv(&p), vec![vec!["tune2fs", "-U", "random", "/d"]]);
        let s = args(&[("fstype", "swap"), ("dev", "/d"), ("uuid", "random")]);
        assert!(plan(&s, &obs(None, 1), false).is_err());
    }
}
