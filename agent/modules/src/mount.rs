//! The `mount` module (ansible.posix.mount): fstab entries and active mounts. States
//! `mounted`, `present`, `unmounted`, `absent`, `absent_from_fstab`, `remounted` and
//! `ephemeral`, with Ansible's fstab line format and matching rules. The fstab is read
//! and written directly (atomically); mounts are read from /proc/self/mountinfo.
//! Mounting uses mount(2) for local filesystems (see host/mounts.rs for when the `mount`
//! binary is used instead); remounting always uses the binary, which merges the fstab
//! entry's options as Ansible relies on.

use std::path::{Path, PathBuf};

use crate::host::fs::{self as hfs, FileAttrs};
use crate::host::mounts::{self as hm, MountEntry};
use crate::lineinfile::universal_newlines;
use crate::spec::{Arg, Args, Def};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap, Value};

pub struct Mount;

const SPEC: &[Arg] = &[
    Arg::bool("boot", true),
    Arg::str("dump").default(Def::Str("0")),
    Arg::str("fstab"),
    Arg::str("fstype"),
    Arg::path("path").required().aliases(&["name"]),
    Arg::str("opts"),
    Arg::bool("opts_no_log", false),
    Arg::str("passno").default(Def::Str("0")),
    Arg::path("src"),
    Arg::bool("backup", false),
    Arg::str("state").required().choices(&[
        "absent",
        "absent_from_fstab",
        "mounted",
        "present",
        "unmounted",
        "remounted",
        "ephemeral",
    ]),
];

/// What the module reads.
#[derive(Debug)]
pub struct Observed {
    fstab: PathBuf,
    /// The fstab's text (universal newlines); `None` when it does not exist.
    text: Option<String>,
    mounts: Option<Vec<MountEntry>>,
    /// The source of the mount on `path` as `mount -v` lists it (an image file behind
    /// a loop device).
    listed: Option<String>,
    ismount: bool,
    exists: bool,
    /// Missing directories of `path`, outermost first.
    missing: Vec<PathBuf>,
}

/// One planned operation, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Create the missing fstab (and its directory): Ansible does it for every state but
    /// `ephemeral`.
    CreateFstab,
    Mkdirs(Vec<PathBuf>),
    /// Rewrite the fstab; `old` is restored when the following mount fails.
    WriteFstab {
        content: String,
        old: String,
    },
    Mount,
    Remount,
    Umount,
    Rmdir,
}

/// The resolved arguments, as Ansible's `args` dict.
#[derive(Debug, Clone)]
struct MArgs {
    name: String,
    src: Option<String>,
    fstype: String,
    opts: String,
    dump: String,
    passno: String,
    fstab: String,
    boot: String,
    warnings: Vec<String>,
}

/// Ansible's `_escape_fstab`.
pub fn escape_fstab(v: &str) -> String {
    v.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('&', "\\046")
}

fn margs(args: &Args) -> MArgs {
    let mut m = MArgs {
        name: args.string("path").unwrap_or_default(),
        src: args.string("src"),
        fstype: args.string("fstype").unwrap_or_default(),
        opts: args.string("opts").unwrap_or_else(|| "defaults".into()),
        dump: args.string("dump").unwrap_or_else(|| "0".into()),
        passno: args.string("passno").unwrap_or_else(|| "0".into()),
        fstab: args.string("fstab").unwrap_or_else(|| "/etc/fstab".into()),
        boot: "yes".into(),
        warnings: Vec::new(),
    };
    let boot = args.bool("boot");
    let mut opts: Vec<String> = m.opts.split(',').map(str::to_string).collect();
    if boot && opts.iter().any(|o| o == "noauto") {
        m.warnings
            .push("Ignore the 'boot' due to 'opts' contains 'noauto'.".into());
    } else if !boot {
        m.boot = "no".into();
        opts.push("noauto".into());
        m.opts = opts.join(",");
    }
    m
}

/// Python's `readlines()`: lines with their `\n`, the last one possibly without.
fn readlines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// `_set_mount_save_old`: the new fstab text, whether it changed.
fn set_mount(text: &str, a: &MArgs) -> (String, bool) {
    let esc = |s: &str| escape_fstab(s);
    let e_name = esc(&a.name);
    let e_src = esc(a.src.as_deref().unwrap_or(""));
    let want = [
        e_src.clone(),
        esc(&a.fstype),
        esc(&a.opts),
        esc(&a.dump),
        esc(&a.passno),
    ];
    let mut out = String::new();
    let mut exists = false;
    let mut changed = false;
    for line in readlines(text) {
        let line = if line.ends_with('\n') {
            line.to_string()
        } else {
            format!("{line}\n")
        };
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            out.push_str(&line);
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !(4..=6).contains(&fields.len()) {
            out.push_str(&line);
            continue;
        }
        // src, name, fstype, opts, dump, passno; missing dump/passno are Python's int
        // 0, never equal to a string.
        let mut ld: Vec<Option<String>> = vec![None; 6];
        for (i, f) in fields.iter().enumerate() {
            ld[i] = Some(f.to_string());
        }
        let ld_name = ld[1].clone().unwrap_or_default();
        let is_other_swap = a.src.is_some()
            && ld_name == "none"
            && ld[2].as_deref() == Some("swap")
            && ld[0].as_deref() != a.src.as_deref();
        if ld_name != e_name || is_other_swap {
            out.push_str(&line);
            continue;
        }
        exists = true;
        for (slot, w) in [0usize, 2, 3, 4, 5].into_iter().zip(want.iter()) {
            if ld[slot].as_deref() != Some(w.as_str()) {
                ld[slot] = Some(w.clone());
                changed = true;
            }
        }
        if changed {
            let f = |i: usize| ld[i].clone().unwrap_or_else(|| "0".into());
            out.push_str(&format!(
                "{} {} {} {} {} {}\n",
                f(0),
                f(1),
                f(2),
                f(3),
                f(4),
                f(5)
            ));
        } else {
            out.push_str(&line);
        }
    }
    if !exists {
        out.push_str(&format!(
            "{} {} {} {} {} {}\n",
            want[0], e_name, want[1], want[2], want[3], want[4]
        ));
        changed = true;
    }
    (out, changed)
}

/// `unset_mount`: the fstab without the path's six-field lines, whether it changed.
fn unset_mount(text: &str, a: &MArgs) -> (String, bool) {
    let e_name = escape_fstab(&a.name);
    let mut out = String::new();
    let mut changed = false;
    for line in readlines(text) {
        let t = line.trim();
        let fields: Vec<&str> = line.split_whitespace().collect();
        if t.is_empty() || t.starts_with('#') || fields.len() != 6 {
            out.push_str(line);
            continue;
        }
        let is_other_swap = a.src.is_some()
            && fields[1] == "none"
            && fields[2] == "swap"
            && Some(fields[0]) != a.src.as_deref();
        if fields[1] != e_name || is_other_swap {
            out.push_str(line);
            continue;
        }
        changed = true;
    }
    (out, changed)
}

fn find_mount<'a>(mounts: &'a Option<Vec<MountEntry>>, dest: &str) -> Option<&'a MountEntry> {
    mounts.as_ref()?.iter().find(|m| m.dst == dest)
}

fn missing_dirs(path: &Path) -> Vec<PathBuf> {
    let mut cur = path.to_path_buf();
    let mut missing = Vec::new();
    while !cur.as_os_str().is_empty() && !cur.exists() {
        missing.push(cur.clone());
        match cur.parent() {
            Some(p) => cur = p.to_path_buf(),
            None => break,
        }
    }
    missing.reverse();
    missing
}

impl Module for Mount {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = Observed;
    type Op = Op;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        let a = margs(args);
        let fstab = PathBuf::from(&a.fstab);
        let text = match std::fs::read(&fstab) {
            Ok(b) => Some(universal_newlines(String::from_utf8_lossy(&b).into_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(ModuleError::new(format!(
                    "Failed to open {} due to {e}",
                    fstab.display()
                )));
            }
        };
        let path = PathBuf::from(&a.name);
        let mounts = hm::linux_mounts();
        let listed = find_mount(&mounts, &a.name).map(|m| hm::listed_source(&m.source));
        Ok(Observed {
            fstab,
            text,
            mounts,
            listed,
            ismount: hm::ismount(&path),
            exists: path.exists(),
            missing: missing_dirs(&path),
        })
    }

    fn plan(args: &Args, o: &Observed, _ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        let state = args.str("state").unwrap_or_default().to_string();
        if matches!(state.as_str(), "mounted" | "present" | "ephemeral") {
            let missing: Vec<&str> = ["src", "fstype"]
                .into_iter()
                .filter(|k| !args.is_set(k))
                .collect();
            if !missing.is_empty() {
                return Err(ModuleError::new(format!(
                    "state is {state} but all of the following are missing: {}",
                    missing.join(", ")
                )));
            }
        }
        let mut a = margs(args);
        if o.mounts.is_none() {
            a.warnings.push(
                "Cannot open file /proc/self/mountinfo. Bind mounts might be misinterpreted."
                    .into(),
            );
        }
        let text = o.text.clone().unwrap_or_default();
        let mut plan = Plan::default();
        if state != "ephemeral" && o.text.is_none() {
            plan.ops.push(Op::CreateFstab);
        }
        let mounted_any = o.ismount || find_mount(&o.mounts, &a.name).is_some();
        let mut changed = false;
        match state.as_str() {
            "absent" | "absent_from_fstab" => {
                let (content, ch) = unset_mount(&text, &a);
                if ch {
                    changed = true;
                    plan.ops.push(Op::WriteFstab {
                        content,
                        old: text.clone(),
                    });
                    if state == "absent" {
                        if mounted_any {
                            plan.ops.push(Op::Umount);
                        }
                        if o.exists {
                            plan.ops.push(Op::Rmdir);
                        }
                    }
                }
            }
            "unmounted" => {
                if mounted_any {
                    plan.ops.push(Op::Umount);
                    changed = true;
                }
            }
            "mounted" | "ephemeral" => {
                if !o.exists && !o.missing.is_empty() {
                    plan.ops.push(Op::Mkdirs(o.missing.clone()));
                }
                if state != "ephemeral" {
                    let (content, ch) = set_mount(&text, &a);
                    if ch {
                        changed = true;
                        plan.ops.push(Op::WriteFstab {
                            content,
                            old: text.clone(),
                        });
                    }
                }
                let bind_same = find_mount(&o.mounts, &a.name)
                    .is_some_and(|m| Some(m.src.as_str()) == a.src.as_deref());
                if o.ismount || bind_same {
                    if changed {
                        plan.ops.push(Op::Remount);
                    }
                    if state == "ephemeral" {
                        if same_source(o, &a) {
                            changed = true;
                            plan.ops.push(Op::Remount);
                        } else {
                            return Err(ModuleError::new(
                                "Ephemeral mount point is already mounted with a different \
                                 source than the specified one. Failing in order to prevent an \
                                 unwanted unmount or override operation. Try replacing this \
                                 command with a \"state: unmounted\" followed by a \"state: \
                                 ephemeral\", or use a different destination path.",
                            ));
                        }
                    }
                } else {
                    changed = true;
                    plan.ops.push(Op::Mount);
                }
            }
            "present" => {
                let (content, ch) = set_mount(&text, &a);
                if ch {
                    changed = true;
                    plan.ops.push(Op::WriteFstab {
                        content,
                        old: text.clone(),
                    });
                }
            }
            "remounted" => {
                changed = true;
                plan.ops.push(Op::Remount);
            }
            _ => return Err(ModuleError::new("Unexpected position reached")),
        }
        if !changed {
            // Only the fstab creation remains: Ansible creates it but reports no change.
            plan.ops.clear();
        }
        plan.set("changed", changed);
        plan.set("name", a.name.as_str());
        plan.set("opts", a.opts.as_str());
        plan.set("dump", a.dump.as_str());
        plan.set("passno", a.passno.as_str());
        plan.set("fstab", a.fstab.as_str());
        plan.set("boot", a.boot.as_str());
        if !a.warnings.is_empty() {
            plan.set("warnings", Value::from(a.warnings.clone()));
        }
        plan.set("backup_file", "");
        if let Some(s) = &a.src {
            plan.set("src", s.as_str());
        }
        if args.is_set("fstype") {
            plan.set("fstype", a.fstype.as_str());
        }
        if let Some(secret) = no_log_opts(args) {
            mask_result(&mut plan.result, secret);
        }
        Ok(plan)
    }

    fn apply(
        args: &Args,
        o: Observed,
        plan: &Plan<Op>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let res = apply_ops(args, o, plan);
        let Some(secret) = no_log_opts(args) else {
            return res;
        };
        match res {
            Ok(mut out) => {
                mask_result(&mut out, secret);
                Ok(out)
            }
            Err(mut e) => {
                e.msg = e.msg.replace(secret, MASK);
                mask_result(&mut e.fields, secret);
                Err(e)
            }
        }
    }
}

/// What Ansible's `remove_values` writes for a hidden value, and inside a longer string.
const NO_LOG_VALUE: &str = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER";
const MASK: &str = "********";

/// `opts` when `opts_no_log` hides it (the module adds it to its `no_log_values`).
fn no_log_opts(args: &Args) -> Option<&str> {
    args.bool("opts_no_log")
        .then(|| args.str("opts"))
        .flatten()
        .filter(|s| !s.is_empty())
}

/// Ansible's `remove_values` on a result: a string equal to the secret is replaced,
/// one that contains it has it starred out.
fn mask_result(result: &mut ResultMap, secret: &str) {
    for v in result.values_mut() {
        if let Some(s) = v.as_str() {
            if s == secret {
                *v = Value::from(NO_LOG_VALUE);
            } else if s.contains(secret) {
                *v = Value::from(s.replace(secret, MASK));
            }
        }
    }
}

fn apply_ops(args: &Args, o: Observed, plan: &Plan<Op>) -> Result<ResultMap, ModuleError> {
    let a = margs(args);
    let state = args.str("state").unwrap_or_default();
    let name = PathBuf::from(&a.name);
    let mut out = ResultMap::new();
    let mut created: Vec<PathBuf> = Vec::new();
    let mut old_fstab: Option<String> = None;
    let mounting = matches!(state, "mounted" | "ephemeral");
    let backup = args.bool("backup");
    for op in &plan.ops {
        let fail_mount = |msg: String, created: &[PathBuf], old: &Option<String>| {
            if mounting {
                if let Some(old) = old {
                    let _ = hfs::atomic_write(&o.fstab, old.as_bytes(), &FileAttrs::default());
                }
                for d in created.iter().rev() {
                    let _ = std::fs::remove_dir(d);
                }
                ModuleError::new(format!("Error mounting {}: {msg}", a.name))
            } else {
                ModuleError::new(format!("Error remounting {}: {msg}", a.name))
            }
        };
        match op {
            Op::CreateFstab => {
                if let Some(d) = o.fstab.parent().filter(|d| !d.as_os_str().is_empty())
                    && !d.exists()
                {
                    std::fs::create_dir_all(d).map_err(|e| {
                        ModuleError::new(format!("Failed to open {} due to {e}", a.fstab))
                    })?;
                }
                hfs::atomic_write(&o.fstab, b"", &FileAttrs::default()).map_err(|e| {
                    ModuleError::new(format!("Failed to open {} due to {e}", a.fstab))
                })?;
            }
            Op::Mkdirs(dirs) => {
                for d in dirs {
                    match std::fs::create_dir(d) {
                        Ok(()) => created.push(d.clone()),
                        Err(e) if d.is_dir() && e.kind() == std::io::ErrorKind::AlreadyExists => {}
                        Err(e) => {
                            return Err(ModuleError::new(format!(
                                "Error making dir {}: {e}",
                                a.name
                            )));
                        }
                    }
                }
            }
            Op::WriteFstab { content, old } => {
                if backup && o.fstab.exists() {
                    let b = hfs::backup_file(&o.fstab)
                        .map_err(|e| ModuleError::io("Could not make backup of", &o.fstab, &e))?;
                    if matches!(state, "mounted" | "present") {
                        out.insert("backup_file".into(), Value::from(b.display().to_string()));
                    }
                }
                hfs::atomic_write(&o.fstab, content.as_bytes(), &FileAttrs::default())
                    .map_err(|e| ModuleError::io("Failed to write", &o.fstab, &e))?;
                old_fstab = Some(old.clone());
            }
            Op::Mount => {
                let (rc, msg) = mount_now(&a, state);
                if rc != 0 {
                    return Err(fail_mount(msg, &created, &old_fstab));
                }
            }
            Op::Remount => {
                let (rc, msg) = remount(&a, state)?;
                if rc != 0 {
                    return Err(fail_mount(msg, &created, &old_fstab));
                }
            }
            Op::Umount => {
                let (rc, msg) = hm::umount(&name);
                if rc != 0 {
                    return Err(ModuleError::new(format!(
                        "Error unmounting {}: {msg}",
                        a.name
                    )));
                }
            }
            Op::Rmdir => {
                if name.exists() {
                    std::fs::remove_dir(&name)
                        .map_err(|e| ModuleError::new(format!("Error rmdir {}: {e}", a.name)))?;
                }
            }
        }
    }
    Ok(out)
}

/// For `ephemeral` on a mounted path: is the mounted source the task's `src`? Ansible
/// asks the mount table (bind mounts) and then `mount -v`, whose first field is the
/// source as mountinfo records it (a device path: a `UUID=` source never equals it), or
/// for an image mounted through a loop device, the image file (`Observed::listed`).
fn same_source(o: &Observed, a: &MArgs) -> bool {
    let Some(src) = a.src.as_deref() else {
        return false;
    };
    find_mount(&o.mounts, &a.name)
        .is_some_and(|m| m.src == src || m.source == src || o.listed.as_deref() == Some(src))
}

/// `-T FSTAB` when it is not /etc/fstab.
fn fstab_args(a: &MArgs, state: &str) -> Vec<String> {
    if state != "ephemeral" && a.fstab != "/etc/fstab" {
        vec!["-T".into(), a.fstab.clone()]
    } else {
        Vec::new()
    }
}

fn ephemeral_args(a: &MArgs) -> Vec<String> {
    let mut v = vec!["-t".to_string(), a.fstype.clone()];
    if a.opts != "defaults" {
        v.push("-o".into());
        v.push(a.opts.clone());
    }
    v.push(a.src.clone().unwrap_or_default());
    v
}

/// Mount the path: what `mount [-T fstab] path` (or the ephemeral command line) would.
fn mount_now(a: &MArgs, state: &str) -> (i32, String) {
    let mut bin = fstab_args(a, state);
    if state == "ephemeral" {
        bin.extend(ephemeral_args(a));
    }
    bin.push(a.name.clone());
    match &a.src {
        Some(src) if !a.fstype.is_empty() => {
            hm::mount(src, Path::new(&a.name), &a.fstype, &a.opts, bin)
        }
        _ => hm::mount("", Path::new(&a.name), "auto", "loop", bin),
    }
}

/// Ansible's `remount`: `mount -o remount` first, unmount and mount when it fails.
fn remount(a: &MArgs, state: &str) -> Result<(i32, String), ModuleError> {
    let mut args = vec!["-o".to_string()];
    if state == "remounted" && a.opts != "defaults" {
        args.push(format!("remount,{}", a.opts));
    } else {
        args.push("remount".into());
    }
    args.extend(fstab_args(a, state));
    if state == "ephemeral" {
        args.extend(ephemeral_args(a));
    }
    args.push(a.name.clone());
    let (rc, _msg) = hm::remount_binary(&args);
    if rc == 0 {
        return Ok((0, String::new()));
    }
    if state == "remounted" && a.opts != "defaults" {
        return Err(ModuleError::new(
            "Options were specified with remounted, but the remount command failed. Failing \
             in order to prevent an unexpected mount result. Try replacing this command with a \
             \"state: unmounted\" followed by a \"state: mounted\" using the full desired mount \
             options instead.",
        ));
    }
    let (rc, msg) = hm::umount(Path::new(&a.name));
    if rc != 0 {
        return Ok((rc, msg));
    }
    Ok(mount_now(a, state))
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
        crate::spec::parse("mount", Mount::SPECS, &raw).unwrap()
    }

    #[test]
    fn opts_no_log_masks_the_result() {
        let a = args(&[
            ("src", "/dev/sdb1"),
            ("path", "/srv/data"),
            ("fstype", "ext4"),
            ("opts", "rw,user"),
            ("opts_no_log", "true"),
            ("state", "present"),
        ]);
        let p = plan(&a, &obs(Some(FSTAB), false)).unwrap();
        assert_eq!(p.result["opts"], Value::from(NO_LOG_VALUE));
        let mut r = ResultMap::new();
        r.insert("msg".into(), Value::from("mount -o rw,user failed"));
        mask_result(&mut r, "rw,user");
        assert_eq!(r["msg"], Value::from("mount -o ******** failed"));
        assert_eq!(no_log_opts(&data("present")), None);
    }

    fn obs(text: Option<&str>, ismount: bool) -> Observed {
        Observed {
            fstab: PathBuf::from("/etc/fstab"),
            text: text.map(String::from),
            mounts: Some(Vec::new()),
            listed: None,
            ismount,
            exists: true,
            missing: Vec::new(),
        }
    }

    fn plan(a: &Args, o: &Observed) -> Result<Plan<Op>, ModuleError> {
        crate::testctx::with_ctx(false, |ctx| Mount::plan(a, o, ctx))
    }

    const FSTAB: &str = "# /etc/fstab\nUUID=abc / ext4 errors=remount-ro 0 1\n\n/dev/sdb1\t/srv/data\text4\tdefaults\t0\t2\n/swapfile none swap sw 0 0\n";

    fn data(state: &str) -> Args {
        args(&[
            ("src", "UUID=0f1e"),
            ("path", "/srv/data"),
            ("fstype", "ext4"),
            ("state", state),
        ])
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_fstab("/mnt/a b&c\\d"), "/mnt/a\\040b\\046c\\134d");
    }

    #[test]
    fn new_line_appended_in_ansible_format() {
        let a = margs(&data("present"));
        let (out, ch) = set_mount("# empty\n", &a);
        assert!(ch);
        assert_eq!(out, "# empty\nUUID=0f1e /srv/data ext4 defaults 0 0\n");
        // A missing final newline is added to the last line.
        let (out, _) = set_mount("# x", &a);
        assert_eq!(out, "# x\nUUID=0f1e /srv/data ext4 defaults 0 0\n");
        // Same again: nothing changes.
        let (again, ch) = set_mount(&out, &a);
        assert!(!ch);
        assert_eq!(again, out);
    }

    #[test]
    fn existing_line_rewritten_with_spaces() {
        let a = margs(&data("present"));
        let (out, ch) = set_mount(FSTAB, &a);
        assert!(ch);
        assert_eq!(
            out,
            "# /etc/fstab\nUUID=abc / ext4 errors=remount-ro 0 1\n\nUUID=0f1e /srv/data ext4 defaults 0 0\n/swapfile none swap sw 0 0\n"
        );
        // A line equal in every field is left as it is (tabs kept).
        let a2 = margs(&args(&[
            ("src", "/dev/sdb1"),
            ("path", "/srv/data"),
            ("fstype", "ext4"),
            ("passno", "2"),
            ("state", "present"),
        ]));
        let (out, ch) = set_mount(FSTAB, &a2);
        assert!(!ch);
        assert_eq!(out, FSTAB);
    }

    #[test]
    fn four_field_lines_always_rewritten() {
        let a = margs(&data("present"));
        let (out, ch) = set_mount("UUID=0f1e /srv/data ext4 defaults\n", &a);
        assert!(ch);
        assert_eq!(out, "UUID=0f1e /srv/data ext4 defaults 0 0\n");
    }

    #[test]
    fn swap_entries_matched_by_source() {
        let a = margs(&args(&[
            ("src", "/swap2"),
            ("path", "none"),
            ("fstype", "swap"),
            ("opts", "sw"),
            ("state", "present"),
        ]));
        let (out, ch) = set_mount(FSTAB, &a);
        assert!(ch);
        assert!(out.ends_with("/swapfile none swap sw 0 0\n/swap2 none swap sw 0 0\n"));
        let (out, ch) = unset_mount(&out, &a);
        assert!(ch);
        assert_eq!(out, FSTAB);
    }

    #[test]
    fn boot_no_adds_noauto() {
        let a = margs(&args(&[
            ("src", "/dev/x"),
            ("path", "/mnt/x"),
            ("fstype", "ext4"),
            ("boot", "no"),
            ("state", "present"),
        ]));
        assert_eq!(
            (a.opts.as_str(), a.boot.as_str()),
            ("defaults,noauto", "no")
        );
        let a = margs(&args(&[
            ("src", "/dev/x"),
            ("path", "/mnt/x"),
            ("fstype", "ext4"),
            ("opts", "noauto"),
            ("state", "present"),
        ]));
        assert_eq!(a.warnings.len(), 1);
    }

    #[test]
    fn plans_by_state() {
        // mounted, not in fstab, not mounted: write then mount.
        let p = plan(&data("mounted"), &obs(Some(FSTAB), false)).unwrap();
        assert!(matches!(
            p.ops.as_slice(),
            [Op::WriteFstab { .. }, Op::Mount]
        ));
        assert_eq!(p.result.get("fstab"), Some(&Value::from("/etc/fstab")));
        assert_eq!(p.result.get("src"), Some(&Value::from("UUID=0f1e")));
        // Converged: in fstab and mounted.
        let conv = "UUID=0f1e /srv/data ext4 defaults 0 0\n";
        let p = plan(&data("mounted"), &obs(Some(conv), true)).unwrap();
        assert!(p.ops.is_empty());
        // fstab changed while mounted: remount.
        let p = plan(&data("mounted"), &obs(Some(FSTAB), true)).unwrap();
        assert!(matches!(
            p.ops.as_slice(),
            [Op::WriteFstab { .. }, Op::Remount]
        ));
        // absent: remove, unmount, rmdir.
        let p = plan(&data("absent"), &obs(Some(conv), true)).unwrap();
        assert!(matches!(
            p.ops.as_slice(),
            [Op::WriteFstab { .. }, Op::Umount, Op::Rmdir]
        ));
        // absent with no entry: nothing, even when mounted.
        let p = plan(&data("absent"), &obs(Some("\n"), true)).unwrap();
        assert!(p.ops.is_empty());
        let p = plan(&data("unmounted"), &obs(Some(conv), true)).unwrap();
        assert_eq!(p.ops, vec![Op::Umount]);
        let p = plan(&data("remounted"), &obs(Some(conv), true)).unwrap();
        assert_eq!(p.ops, vec![Op::Remount]);
        // A missing fstab is created for present.
        let p = plan(&data("present"), &obs(None, false)).unwrap();
        assert!(matches!(
            p.ops.as_slice(),
            [Op::CreateFstab, Op::WriteFstab { .. }]
        ));
        let e = plan(
            &args(&[("path", "/x"), ("state", "mounted")]),
            &obs(None, false),
        )
        .unwrap_err();
        assert_eq!(
            e.msg,
            "state is mounted but all of the following are missing: src, fstype"
        );
    }

    #[test]
    fn unset_keeps_short_lines() {
        let a = margs(&data("absent"));
        let text = "UUID=0f1e /srv/data ext4 defaults\nUUID=0f1e /srv/data ext4 defaults 0 0";
        let (out, ch) = unset_mount(text, &a);
        assert!(ch);
        assert_eq!(out, "UUID=0f1e /srv/data ext4 defaults\n");
    }
}
