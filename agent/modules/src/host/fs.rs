//! Files: atomic replace (temp file in the same directory, fsync, rename), modes
//! (octal and symbolic, as Ansible reads them), ownership, backups.
//!
//! The attribute logic follows Ansible's `set_fs_attributes_if_different`: owner, then
//! group, then mode, each compared with the current value and recorded in the diff as
//! `before`/`after` dicts (`owner`/`group` as numeric ids, `mode` as `"0644"`).

use std::fs::{self, Metadata};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use minijinja::Value;
use minijinja::value::ValueKind;

use crate::ModuleError;
use crate::host::users;
use crate::spec::Args;

/// File-type bits of `st_mode`.
pub const S_IFMT: u32 = 0o170000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;
const PERM_BITS: u32 = 0o7777;

/// The process umask, read without changing it (from /proc/self/status); 022 if unknown.
pub fn umask() -> u32 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

/// A mode as Ansible's `mode` parameter gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeSpec {
    /// An int (YAML `0644` arrives as 420, used as is) or an octal string.
    Octal(u32),
    /// `u=rw,g=r,o=r`, `u+x,g-w`, `a+X`, `=r`...
    Symbolic(String),
    /// `preserve` (copy/template: the source file's mode).
    Preserve,
}

fn mode_error(path: Option<&Path>, details: impl Into<Value>) -> ModuleError {
    let mut e = ModuleError::new("mode must be in octal or symbolic form");
    if let Some(p) = path {
        e = e.with("path", p.display().to_string());
    }
    e.with("details", details)
}

/// Python's `int(s, 8)`: whitespace, sign, optional `0o`, underscores between digits.
fn parse_python_octal(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let t = t
        .strip_prefix("0o")
        .or_else(|| t.strip_prefix("0O"))
        .map(|r| r.strip_prefix('_').unwrap_or(r))
        .unwrap_or(t);
    if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    let digits: String = t.chars().filter(|c| *c != '_').collect();
    if !digits.chars().all(|c| ('0'..='7').contains(&c)) {
        return None;
    }
    let n = i64::from_str_radix(&digits, 8).ok()?;
    Some(if neg { -n } else { n })
}

impl ModeSpec {
    /// Read a `mode` value: int, octal string, symbolic string or `preserve`.
    pub fn parse(v: &Value) -> Result<ModeSpec, ModuleError> {
        match v.kind() {
            ValueKind::Number if v.is_integer() => {
                let n = i64::try_from(v.clone()).map_err(|_| mode_error(None, v.to_string()))?;
                u32::try_from(n)
                    .map(ModeSpec::Octal)
                    .map_err(|_| mode_error(None, v.to_string()))
            }
            ValueKind::String => {
                let s = v.as_str().unwrap_or_default();
                if s == "preserve" {
                    return Ok(ModeSpec::Preserve);
                }
                match parse_python_octal(s) {
                    Some(n) if (0..=i64::from(PERM_BITS)).contains(&n) => {
                        Ok(ModeSpec::Octal(n as u32))
                    }
                    Some(n) => Err(ModuleError::new(
                        "Invalid mode supplied, only permission info is allowed",
                    )
                    .with("details", n)),
                    None => {
                        // Check the syntax now; the bits depend on the file's current mode.
                        symbolic_to_octal(0o100644, s, 0o022).map_err(|d| mode_error(None, d))?;
                        Ok(ModeSpec::Symbolic(s.to_string()))
                    }
                }
            }
            _ => Err(mode_error(
                None,
                format!("bad symbolic permission for mode: {v}"),
            )),
        }
    }

    /// The permission bits this spec gives a file whose `st_mode` is `current`
    /// (`None` for `preserve`, which the module resolves itself).
    pub fn resolve(&self, current: u32) -> Result<Option<u32>, ModuleError> {
        match self {
            ModeSpec::Octal(n) => Ok(Some(*n)),
            ModeSpec::Symbolic(s) => symbolic_to_octal(current, s, umask())
                .map(Some)
                .map_err(|d| mode_error(None, d)),
            ModeSpec::Preserve => Ok(None),
        }
    }
}

/// Ansible's result form of a mode: `'0%03o'` (`"0644"`, `"01777"`).
pub fn format_mode(mode: u32) -> String {
    format!("0{:03o}", mode)
}

/// chmod's symbolic modes, as Ansible's `_symbolic_mode_to_octal` reads them.
/// `current` is the file's full `st_mode`.
pub fn symbolic_to_octal(current: u32, symbolic: &str, umask: u32) -> Result<u32, String> {
    let is_dir = current & S_IFMT == S_IFDIR;
    let mut new_mode = current & PERM_BITS;
    for clause in symbolic.split(',') {
        let bad = || format!("bad symbolic permission for mode: {clause}");
        let first_op = clause.find(['+', '-', '=']);
        let (users, rest) = match first_op {
            Some(i) => clause.split_at(i),
            None => (clause, ""),
        };
        let use_umask = users.is_empty();
        let users = if users.is_empty() || users == "a" {
            "ugo"
        } else {
            users
        };
        if !users.chars().all(|c| matches!(c, 'u' | 'g' | 'o')) {
            return Err(bad());
        }
        // rest is a sequence of (op, perms).
        let mut parts: Vec<(char, &str)> = Vec::new();
        let mut chars = rest.char_indices().peekable();
        while let Some((i, op)) = chars.next() {
            let start = i + op.len_utf8();
            let mut end = rest.len();
            while let Some(&(j, c)) = chars.peek() {
                if matches!(c, '+' | '-' | '=') {
                    end = j;
                    break;
                }
                chars.next();
            }
            parts.push((op, &rest[start..end]));
        }
        for (op, perms) in parts {
            if !perms
                .chars()
                .all(|c| matches!(c, 'r' | 'w' | 'x' | 'X' | 's' | 't' | 'u' | 'g' | 'o'))
            {
                return Err(bad());
            }
            for user in users.chars() {
                let bits = perms_bits(user, perms, new_mode, is_dir, use_umask, umask);
                new_mode = match op {
                    '=' => {
                        let mask = match user {
                            'u' => 0o4700,
                            'g' => 0o2070,
                            _ => 0o1007,
                        };
                        (new_mode & (mask ^ PERM_BITS)) | bits
                    }
                    '+' => new_mode | bits,
                    _ => new_mode & !bits,
                };
            }
        }
    }
    Ok(new_mode)
}

fn perms_bits(
    user: char,
    perms: &str,
    prev: u32,
    is_dir: bool,
    use_umask: bool,
    umask: u32,
) -> u32 {
    let rev_umask = umask ^ PERM_BITS;
    let apply_x = is_dir || prev & 0o111 != 0;
    let shift = match user {
        'u' => 6,
        'g' => 3,
        _ => 0,
    };
    let masked = |b: u32| if use_umask { b & rev_umask } else { b };
    let mut out = 0;
    for p in perms.chars() {
        out |= match p {
            'r' => masked(0o4 << shift),
            'w' => masked(0o2 << shift),
            'x' => masked(0o1 << shift),
            'X' if apply_x => 0o1 << shift,
            's' if user == 'u' => 0o4000,
            's' if user == 'g' => 0o2000,
            't' if user == 'o' => 0o1000,
            'u' => ((prev >> 6) & 0o7) << shift,
            'g' => ((prev >> 3) & 0o7) << shift,
            'o' => (prev & 0o7) << shift,
            _ => 0,
        };
    }
    out
}

/// The attributes a task asks for (`mode`, `owner`, `group`, `attributes`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileAttrs {
    pub mode: Option<ModeSpec>,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// chattr attributes (`attributes`/`attr`); kept for modules, not applied here.
    pub attributes: Option<String>,
}

impl FileAttrs {
    /// From a module's parameters (the `FILE_COMMON` ones).
    pub fn from_args(args: &Args) -> Result<FileAttrs, ModuleError> {
        Ok(FileAttrs {
            mode: args.get("mode").map(ModeSpec::parse).transpose()?,
            owner: args.string("owner"),
            group: args.string("group"),
            attributes: args.string("attributes"),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.mode.is_none() && self.owner.is_none() && self.group.is_none()
    }
}

/// What attribute planning needs to know about a file (real or about to be created).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub uid: u32,
    pub gid: u32,
    /// Full `st_mode` (type and permission bits).
    pub mode: u32,
}

impl From<&Metadata> for Meta {
    fn from(m: &Metadata) -> Meta {
        Meta {
            uid: m.uid(),
            gid: m.gid(),
            mode: m.mode(),
        }
    }
}

impl Meta {
    /// A regular file as [`atomic_write`] creates it in `dir` (0666 & ~umask).
    pub fn new_file(dir: &Path) -> Meta {
        Meta::new_in(dir, S_IFREG | (0o666 & !umask()))
    }

    /// A directory as `mkdir` creates it in `dir` (0777 & ~umask).
    pub fn new_dir(dir: &Path) -> Meta {
        Meta::new_in(dir, S_IFDIR | (0o777 & !umask()))
    }

    fn new_in(dir: &Path, mode: u32) -> Meta {
        let parent = fs::metadata(dir).ok();
        let gid = match &parent {
            Some(p) if p.mode() & 0o2000 != 0 => p.gid(),
            _ => super::creds::fsgid(),
        };
        Meta {
            uid: super::creds::fsuid(),
            gid,
            mode,
        }
    }

    pub fn perms(&self) -> u32 {
        self.mode & PERM_BITS
    }

    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }

    pub fn is_link(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }
}

/// One attribute to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrChange {
    Owner { from: u32, to: u32 },
    Group { from: u32, to: u32 },
    Mode { from: u32, to: u32 },
}

/// Compare `current` with what `attrs` ask for: owner, group, mode, in Ansible's order.
/// Fails as Ansible does on an unknown user or group or a bad mode.
pub fn plan_attrs(
    path: &Path,
    current: &Meta,
    attrs: &FileAttrs,
) -> Result<Vec<AttrChange>, ModuleError> {
    let p = || path.display().to_string();
    let mut out = Vec::new();
    if let Some(owner) = &attrs.owner {
        let uid = users::resolve_uid(owner).ok_or_else(|| {
            ModuleError::new(format!("chown failed: failed to look up user {owner}"))
                .with("path", p())
        })?;
        if uid != current.uid {
            out.push(AttrChange::Owner {
                from: current.uid,
                to: uid,
            });
        }
    }
    if let Some(group) = &attrs.group {
        let gid = users::resolve_gid(group).ok_or_else(|| {
            ModuleError::new(format!("chgrp failed: failed to look up group {group}"))
                .with("path", p())
        })?;
        if gid != current.gid {
            out.push(AttrChange::Group {
                from: current.gid,
                to: gid,
            });
        }
    }
    if let Some(spec) = &attrs.mode {
        let wanted = spec
            .resolve(current.mode)
            .map_err(|e| e.with("path", p()))?;
        if let Some(m) = wanted
            && m != current.perms()
        {
            out.push(AttrChange::Mode {
                from: current.perms(),
                to: m,
            });
        }
    }
    Ok(out)
}

/// Record attribute changes in a diff's `before`/`after` dicts, as Ansible does.
pub fn diff_attrs(
    changes: &[AttrChange],
    before: &mut IndexMap<String, Value>,
    after: &mut IndexMap<String, Value>,
) {
    for c in changes {
        match *c {
            AttrChange::Owner { from, to } => {
                before.insert("owner".into(), Value::from(from));
                after.insert("owner".into(), Value::from(to));
            }
            AttrChange::Group { from, to } => {
                before.insert("group".into(), Value::from(from));
                after.insert("group".into(), Value::from(to));
            }
            AttrChange::Mode { from, to } => {
                before.insert("mode".into(), Value::from(format_mode(from)));
                after.insert("mode".into(), Value::from(format_mode(to)));
            }
        }
    }
}

/// The `file` module's diff of `path`'s attribute changes (`{path, owner, group, mode}`
/// before and after; both just `{path}` when nothing changes): what Ansible's copy and
/// template actions return for a file they keep.
pub fn path_attrs_diff(path: &str, changes: &[AttrChange]) -> crate::Diff {
    let mut before = IndexMap::new();
    let mut after = IndexMap::new();
    before.insert("path".to_string(), Value::from(path));
    after.insert("path".to_string(), Value::from(path));
    diff_attrs(changes, &mut before, &mut after);
    crate::Diff {
        before: Value::from_pairs(before),
        after: Value::from_pairs(after),
        before_header: None,
        after_header: None,
    }
}

/// Carry out attribute changes on `path` (never through a symlink: owner/group apply to
/// the link itself, and a link's mode is left alone, as on Linux Ansible does).
pub fn apply_attrs(path: &Path, changes: &[AttrChange]) -> Result<(), ModuleError> {
    let p = || path.display().to_string();
    for c in changes {
        match *c {
            AttrChange::Owner { to, .. } => std::os::unix::fs::lchown(path, Some(to), None)
                .map_err(|e| {
                    ModuleError::new("chown failed")
                        .with("path", p())
                        .with("details", e.to_string())
                })?,
            AttrChange::Group { to, .. } => std::os::unix::fs::lchown(path, None, Some(to))
                .map_err(|e| {
                    ModuleError::new("chgrp failed")
                        .with("path", p())
                        .with("details", e.to_string())
                })?,
            AttrChange::Mode { to, .. } => {
                let md = fs::symlink_metadata(path).map_err(|e| {
                    ModuleError::new("chmod failed")
                        .with("path", p())
                        .with("details", e.to_string())
                })?;
                if md.file_type().is_symlink() {
                    continue;
                }
                fs::set_permissions(path, fs::Permissions::from_mode(to)).map_err(|e| {
                    ModuleError::new("chmod failed")
                        .with("path", p())
                        .with("details", e.to_string())
                })?;
            }
        }
    }
    Ok(())
}

/// `lstat`, or `None` when the path does not exist.
pub fn lstat(path: &Path) -> io::Result<Option<Metadata>> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// `stat` (following links), or `None` when the path (or a link's target) does not exist.
pub fn stat(path: &Path) -> io::Result<Option<Metadata>> {
    match fs::metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn ignore_eperm(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(()),
        other => other,
    }
}

/// Replace `path` with `content` atomically: a temp file in the same directory is
/// written, fsynced, given its attributes and renamed over `path`; then the directory is
/// fsynced. An existing file keeps its owner, group and mode (those of a link's target)
/// unless `attrs` say otherwise; a new file gets 0666 & ~umask (0644 under umask 022).
/// A symlink at `path` is replaced, not written through: resolve it first to follow it
/// (as Ansible's `follow`). No temp file is left behind on error.
pub fn atomic_write(path: &Path, content: &[u8], attrs: &FileAttrs) -> io::Result<()> {
    atomic_write_checked(path, content, attrs, |_| Ok::<(), io::Error>(()))
}

/// [`atomic_write`], running `check` on the finished temp file (attributes applied)
/// before it replaces `path`: Ansible's `validate` (`check` gets the temp path for
/// `%s`). A failed check leaves `path` untouched and removes the temp file.
pub fn atomic_write_checked<E: From<io::Error>>(
    path: &Path,
    content: &[u8],
    attrs: &FileAttrs,
    check: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    atomic_write_like(path, content, attrs, None, check)
}

/// [`atomic_write_checked`], writing a copy of a file whose metadata is `like` (Ansible's
/// `remote_src` copy: `copystat` of the source, and the destination's attributes not
/// kept): the new file takes the source's access and modification times, and over an
/// existing `path` the source's permission bits (a new file still gets 0666 & ~umask);
/// it is owned by the writer. With `like: None` it is [`atomic_write_checked`].
pub fn atomic_write_like<E: From<io::Error>>(
    path: &Path,
    content: &[u8],
    attrs: &FileAttrs,
    like: Option<&Metadata>,
    check: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let existing = stat(path)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .rand_bytes(TMP_RAND)
        .suffix(name)
        .tempfile_in(dir)?;
    // On the file itself: the error names no temporary path (the caller names the target).
    tmp.as_file_mut().write_all(content)?;
    // The file system stamps a write with the kernel's coarse clock (one tick: 4 ms at
    // CONFIG_HZ=250), so a file rewritten within a tick of its last change would keep its
    // old times and look unchanged to anything comparing them (make, rsync, Ansible's
    // `copy` tests). A copy's times are the clock's, to the nanosecond; a `remote_src`
    // copy takes its source's (`copystat`).
    match like {
        Some(src) => {
            let times = fs::FileTimes::new()
                .set_accessed(src.accessed()?)
                .set_modified(src.modified()?);
            tmp.as_file().set_times(times)?;
        }
        None => {
            // Best effort: a file system that refuses to set times keeps its own.
            let now = std::time::SystemTime::now();
            let _ = tmp
                .as_file()
                .set_times(fs::FileTimes::new().set_accessed(now).set_modified(now));
        }
    }
    tmp.as_file().sync_all()?;
    let base = match (&existing, like) {
        (Some(_), Some(src)) => Meta {
            mode: S_IFREG | (src.mode() & PERM_BITS),
            ..Meta::new_file(dir)
        },
        (Some(md), None) => {
            ignore_eperm(std::os::unix::fs::fchown(
                tmp.as_file(),
                Some(md.uid()),
                Some(md.gid()),
            ))?;
            // Ansible's atomic_move keeps the destination's attributes with
            // `shutil.copystat`, which copies its extended attributes on Linux. A symlink
            // at `path` is replaced, not written through: its target's are not taken.
            if !fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                copy_xattrs(path, tmp.as_file());
            }
            Meta {
                uid: md.uid(),
                gid: md.gid(),
                mode: S_IFREG | (md.mode() & PERM_BITS),
            }
        }
        (None, _) => Meta::new_file(dir),
    };
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(base.perms()))?;
    let changes = plan_attrs(path, &base, attrs).map_err(|e| io::Error::other(e.msg))?;
    apply_attrs(tmp.path(), &changes).map_err(|e| io::Error::other(e.msg))?;
    check(tmp.path())?;
    tmp.persist(path).map_err(|e| e.error)?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    remove_stale_temps(dir, TMP_PREFIX, name.as_encoded_bytes());
    Ok(())
}

/// Copy the extended attributes of `from` (links followed) onto the open file `to`, as
/// Python's `shutil.copystat` does on Linux: POSIX ACLs (`system.posix_acl_access`),
/// SELinux labels (`security.selinux`), `user.*` attributes. An attribute that the file
/// system or the privileges refuse is skipped, as copystat skips it.
pub fn copy_xattrs(from: &Path, to: &fs::File) {
    use nix::libc;
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let Ok(src) = CString::new(from.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: `src` is a valid C string; a null buffer of size 0 asks for the size.
    let size = unsafe { libc::listxattr(src.as_ptr(), std::ptr::null_mut(), 0) };
    if size <= 0 {
        return;
    }
    let mut names = vec![0u8; size as usize];
    // SAFETY: the buffer is `names.len()` bytes long.
    let size = unsafe {
        libc::listxattr(
            src.as_ptr(),
            names.as_mut_ptr().cast::<libc::c_char>(),
            names.len(),
        )
    };
    if size <= 0 {
        return;
    }
    names.truncate(size as usize);
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(cname) = CString::new(name) else {
            continue;
        };
        // SAFETY: valid C strings; a null buffer of size 0 asks for the value's size.
        let len = unsafe { libc::getxattr(src.as_ptr(), cname.as_ptr(), std::ptr::null_mut(), 0) };
        if len < 0 {
            continue;
        }
        let mut value = vec![0u8; len as usize];
        // SAFETY: the buffer is `value.len()` bytes long.
        let len = unsafe {
            libc::getxattr(
                src.as_ptr(),
                cname.as_ptr(),
                value.as_mut_ptr().cast::<libc::c_void>(),
                value.len(),
            )
        };
        if len < 0 {
            continue;
        }
        value.truncate(len as usize);
        // SAFETY: `to` is an open file; the value buffer is `value.len()` bytes long.
        let rc = unsafe {
            libc::fsetxattr(
                to.as_raw_fd(),
                cname.as_ptr(),
                value.as_ptr().cast::<libc::c_void>(),
                value.len(),
                0,
            )
        };
        if rc != 0 {
            tracing::debug!(
                "could not copy the extended attribute {} of {}: {}",
                String::from_utf8_lossy(name),
                from.display(),
                io::Error::last_os_error()
            );
        }
    }
}

/// The prefix of [`atomic_write`]'s temporary files (Ansible's `atomic_move` uses the same).
pub const TMP_PREFIX: &str = ".ansible_tmp";
/// Random characters in our temporary names (Python's tempfile, and so Ansible, uses 8:
/// a temporary file of a concurrent Ansible run is never taken for ours).
const TMP_RAND: usize = 6;

/// Remove temporary files that a killed earlier run left in `dir` while it wrote a file
/// called `name` (`<prefix><6 random characters><name>`, regular files only). Called after
/// a successful write of that file, under the run lock: no other run of the agent can be
/// writing it. Best effort.
pub fn remove_stale_temps(dir: &Path, prefix: &str, name: &[u8]) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let n = e.file_name();
        let b = n.as_encoded_bytes();
        let Some(rest) = b.strip_prefix(prefix.as_bytes()) else {
            continue;
        };
        let Some(rand) = rest.strip_suffix(name) else {
            continue;
        };
        if rand.len() == TMP_RAND
            && rand.iter().all(u8::is_ascii_alphanumeric)
            && e.file_type().is_ok_and(|t| t.is_file())
        {
            tracing::debug!("removing {} (left by a killed run)", e.path().display());
            let _ = fs::remove_file(e.path());
        }
    }
}

/// The name Ansible gives a backup of `path`: `path.PID.YYYY-MM-DD@HH:MM:SS~`, local time.
/// Ansible runs each module in its own process, so the PID keeps two backups apart; here
/// every task shares one PID, so a second backup of the same file within the same second
/// gets `PID-N` (N = 1, 2 …) instead of overwriting the first (docs/compat.md).
pub fn backup_name(path: &Path) -> PathBuf {
    let stamp = jiff::Timestamp::now()
        .to_zoned(agent_template::localtime::zone())
        .strftime("%Y-%m-%d@%H:%M:%S~")
        .to_string();
    let pid = std::process::id();
    let name = |n: u32| {
        let mut s = path.as_os_str().to_os_string();
        if n == 0 {
            s.push(format!(".{pid}.{stamp}"));
        } else {
            s.push(format!(".{pid}-{n}.{stamp}"));
        }
        PathBuf::from(s)
    };
    (0..1000)
        .map(name)
        .find(|p| fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| name(1000))
}

/// Copy `path` to its backup name, keeping mode, times and (when allowed) owner/group.
/// An existing file is never overwritten: the copy is made under a temporary name in the
/// same directory and linked to the backup name, which fails if that name exists.
pub fn backup_file(path: &Path) -> io::Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".agent-backup.")
        .tempfile_in(dir)?;
    preserved_copy(path, tmp.path())?;
    for _ in 0..3 {
        let dest = backup_name(path);
        match fs::hard_link(tmp.path(), &dest) {
            Ok(()) => return Ok(dest),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free backup name for {}", path.display()),
    ))
}

/// Copy content, mode, times and (when allowed) owner and group.
pub fn preserved_copy(src: &Path, dest: &Path) -> io::Result<()> {
    let md = fs::metadata(src)?;
    fs::copy(src, dest)?;
    let f = fs::OpenOptions::new().write(true).open(dest)?;
    let times = fs::FileTimes::new()
        .set_accessed(md.accessed()?)
        .set_modified(md.modified()?);
    f.set_times(times)?;
    ignore_eperm(std::os::unix::fs::fchown(
        &f,
        Some(md.uid()),
        Some(md.gid()),
    ))?;
    // `shutil.copy2` (Ansible's backup_local) copies the extended attributes (ACLs) too.
    copy_xattrs(src, &f);
    f.set_permissions(fs::Permissions::from_mode(md.mode() & PERM_BITS))?;
    Ok(())
}

/// Ansible's `add_path_info`: for a result naming an existing path (links followed for
/// existence), `uid`, `gid`, `owner`, `group`, `mode`, `state` and `size` (lstat).
pub fn path_info(path: &Path) -> IndexMap<String, Value> {
    if fs::metadata(path).is_err() {
        return IndexMap::new();
    }
    let Ok(l) = fs::symlink_metadata(path) else {
        return IndexMap::new();
    };
    let hard = !l.file_type().is_symlink()
        && !l.is_dir()
        && fs::metadata(path).map(|m| m.nlink()).unwrap_or(1) > 1;
    path_info_fields(&l, hard)
}

/// [`path_info`] of `path` from `l`, the lstat of `path` an observation just made: the
/// same fields without looking again, but for a symlink (whose target decides whether it
/// exists), which is looked at as [`path_info`] does.
pub fn path_info_lstat(path: &Path, l: &Metadata) -> IndexMap<String, Value> {
    if l.file_type().is_symlink() {
        return path_info(path);
    }
    // Not a link: its stat is this lstat (it exists, its link count is this one).
    path_info_fields(l, !l.is_dir() && l.nlink() > 1)
}

fn path_info_fields(l: &Metadata, hard: bool) -> IndexMap<String, Value> {
    let mut out = IndexMap::new();
    out.insert("uid".into(), Value::from(l.uid()));
    out.insert("gid".into(), Value::from(l.gid()));
    out.insert(
        "owner".into(),
        Value::from(users::user_name(l.uid()).unwrap_or_else(|| l.uid().to_string())),
    );
    out.insert(
        "group".into(),
        Value::from(users::group_name(l.gid()).unwrap_or_else(|| l.gid().to_string())),
    );
    out.insert(
        "mode".into(),
        Value::from(format_mode(l.mode() & PERM_BITS)),
    );
    let state = if l.file_type().is_symlink() {
        "link"
    } else if l.is_dir() {
        "directory"
    } else if hard {
        "hard"
    } else {
        "file"
    };
    out.insert("state".into(), Value::from(state));
    out.insert("size".into(), Value::from(l.size()));
    out
}

/// Whether `path` is a directory, links followed ([`Path::is_dir`]), from `l`, its lstat
/// just made (`None`: it does not exist or cannot be looked at, so `stat` fails too): only
/// a symlink needs a `stat` of its own.
pub fn is_dir_lstat(path: &Path, l: Option<&Metadata>) -> bool {
    match l {
        Some(m) if m.file_type().is_symlink() => path.is_dir(),
        Some(m) => m.is_dir(),
        None => false,
    }
}

/// Ansible's file state from an lstat result (see [`file_state`]).
pub fn state_of(l: &io::Result<Metadata>) -> &'static str {
    match l {
        Err(_) => "absent",
        Ok(m) if m.file_type().is_symlink() => "link",
        Ok(m) if m.is_dir() => "directory",
        Ok(m) if m.nlink() > 1 => "hard",
        Ok(_) => "file",
    }
}

/// `fs::read` of a file whose size a `stat` just gave: open, read to the end, close,
/// without the `fstat` `fs::read` makes to size its buffer (the size is only a hint: a
/// file that grew or shrank since is read whole all the same).
pub fn read_sized(path: &Path, size: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = fs::File::open(path)?;
    // One byte more than the size, so that the read that finds the end needs no growth.
    let want = usize::try_from(size)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let mut buf: Vec<u8> = Vec::new();
    buf.try_reserve_exact(want)
        .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    buf.resize(want, 0);
    let mut len = 0;
    loop {
        if len == buf.len() {
            let more = buf.len().max(8192);
            buf.try_reserve(more)
                .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
            buf.resize(buf.len() + more, 0);
        }
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok(buf)
}

/// `fs::read_to_string` of a file whose size a `stat` just gave (see [`read_sized`]),
/// failing with the same error on text that is not UTF-8.
pub fn read_to_string_sized(path: &Path, size: u64) -> io::Result<String> {
    String::from_utf8(read_sized(path, size)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// Ansible's file state of a path (lstat): `absent`, `link`, `directory`, `hard` (a
/// file with more than one link) or `file`.
pub fn file_state(path: &Path) -> &'static str {
    state_of(&fs::symlink_metadata(path))
}

/// A time as a float of seconds since the epoch (Python's `st_mtime`).
pub fn epoch_f64(t: std::time::SystemTime) -> f64 {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// SHA-1 of bytes, lowercase hex (Ansible's `checksum`).
pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest;
    hex(&sha1::Sha1::digest(data))
}

/// MD5 of bytes, lowercase hex (Ansible's `md5sum`).
pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(data))
}

/// The algorithms `file_digest` knows (those of Python's hashlib that take no length).
pub const DIGESTS: &[&str] = &[
    "md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3_224", "sha3_256", "sha3_384",
    "sha3_512",
];

/// A file's digest with a named algorithm (`md5`, `sha1`, `sha224`, `sha256`,
/// `sha384`, `sha512`, `sha3_224`, `sha3_256`, `sha3_384`, `sha3_512`: Python's hashlib
/// names), streamed.
pub fn file_digest(path: &Path, algorithm: &str) -> io::Result<String> {
    use std::io::Read;
    fn stream<D: sha2::Digest>(path: &Path) -> io::Result<String> {
        let mut f = fs::File::open(path)?;
        let mut h = D::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(hex(&h.finalize()))
    }
    match algorithm {
        "md5" => stream::<md5::Md5>(path),
        "sha1" => stream::<sha1::Sha1>(path),
        "sha224" => stream::<sha2::Sha224>(path),
        "sha256" => stream::<sha2::Sha256>(path),
        "sha384" => stream::<sha2::Sha384>(path),
        "sha512" => stream::<sha2::Sha512>(path),
        "sha3_224" => stream::<sha3::Sha3_224>(path),
        "sha3_256" => stream::<sha3::Sha3_256>(path),
        "sha3_384" => stream::<sha3::Sha3_384>(path),
        "sha3_512" => stream::<sha3::Sha3_512>(path),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unsupported checksum algorithm {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(cur: u32, s: &str) -> u32 {
        symbolic_to_octal(cur, s, 0o022).unwrap()
    }

    #[test]
    fn parses_modes_like_ansible() {
        assert_eq!(
            ModeSpec::parse(&Value::from(420)).unwrap(),
            ModeSpec::Octal(0o644)
        );
        assert_eq!(
            ModeSpec::parse(&Value::from(644)).unwrap(),
            ModeSpec::Octal(644)
        );
        assert_eq!(
            ModeSpec::parse(&Value::from("0644")).unwrap(),
            ModeSpec::Octal(0o644)
        );
        assert_eq!(
            ModeSpec::parse(&Value::from("644")).unwrap(),
            ModeSpec::Octal(0o644)
        );
        assert_eq!(
            ModeSpec::parse(&Value::from("0o755")).unwrap(),
            ModeSpec::Octal(0o755)
        );
        assert_eq!(
            ModeSpec::parse(&Value::from("1777")).unwrap(),
            ModeSpec::Octal(0o1777)
        );
        assert_eq!(
            ModeSpec::parse(&Value::from("preserve")).unwrap(),
            ModeSpec::Preserve
        );
        assert_eq!(
            ModeSpec::parse(&Value::from("u=rw,g=r,o=r")).unwrap(),
            ModeSpec::Symbolic("u=rw,g=r,o=r".into())
        );
        let e = ModeSpec::parse(&Value::from("rw")).unwrap_err();
        assert_eq!(e.msg, "mode must be in octal or symbolic form");
        let e = ModeSpec::parse(&Value::from("17777")).unwrap_err();
        assert_eq!(
            e.msg,
            "Invalid mode supplied, only permission info is allowed"
        );
        assert!(ModeSpec::parse(&Value::from("u+z")).is_err());
    }

    #[test]
    fn symbolic_modes() {
        assert_eq!(sym(S_IFREG | 0o600, "u=rw,g=r,o=r"), 0o644);
        assert_eq!(sym(S_IFREG | 0o644, "u+x,g-r"), 0o704);
        assert_eq!(sym(S_IFREG | 0o644, "a+X"), 0o644);
        assert_eq!(sym(S_IFREG | 0o744, "a+X"), 0o755);
        assert_eq!(sym(S_IFDIR | 0o700, "a+X"), 0o711);
        assert_eq!(sym(S_IFREG | 0o777, "=r"), 0o444);
        assert_eq!(sym(S_IFREG, "+w"), 0o200);
        assert_eq!(sym(S_IFREG | 0o640, "o=g"), 0o644);
        assert_eq!(sym(S_IFREG | 0o644, "u=rw-x+X"), 0o644);
        assert_eq!(sym(S_IFREG | 0o644, "u+s,g+s,o+t"), 0o7644);
        assert_eq!(sym(S_IFREG | 0o4755, "u=rwx"), 0o755);
        assert_eq!(sym(S_IFREG | 0o644, "u"), 0o644);
        assert!(symbolic_to_octal(0o644, "x+r", 0o022).is_err());
    }

    #[test]
    fn formats_modes() {
        assert_eq!(format_mode(0o644), "0644");
        assert_eq!(format_mode(0o1777), "01777");
        assert_eq!(format_mode(0o7), "0007");
    }

    #[test]
    fn plans_and_diffs_attrs() {
        let cur = Meta {
            uid: 0,
            gid: 0,
            mode: S_IFREG | 0o600,
        };
        let attrs = FileAttrs {
            mode: Some(ModeSpec::Octal(0o644)),
            owner: Some("root".into()),
            group: Some("0".into()),
            attributes: None,
        };
        let ch = plan_attrs(Path::new("/x"), &cur, &attrs).unwrap();
        assert_eq!(
            ch,
            vec![AttrChange::Mode {
                from: 0o600,
                to: 0o644
            }]
        );
        let (mut b, mut a) = (IndexMap::new(), IndexMap::new());
        diff_attrs(&ch, &mut b, &mut a);
        assert_eq!(b["mode"].as_str(), Some("0600"));
        assert_eq!(a["mode"].as_str(), Some("0644"));
        let bad = FileAttrs {
            owner: Some("no-such-user-xyz".into()),
            ..Default::default()
        };
        let e = plan_attrs(Path::new("/x"), &cur, &bad).unwrap_err();
        assert_eq!(
            e.msg,
            "chown failed: failed to look up user no-such-user-xyz"
        );
    }

    #[test]
    fn atomic_write_keeps_extended_attributes() {
        use nix::libc;
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        // (A file system without user.* attributes skips the test.)
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        atomic_write(&p, b"one", &FileAttrs::default()).unwrap();
        let cp = CString::new(p.as_os_str().as_bytes()).unwrap();
        let name = CString::new("user.agent_test").unwrap();
        // SAFETY: valid C strings and a 5-byte value.
        let rc =
            unsafe { libc::setxattr(cp.as_ptr(), name.as_ptr(), b"kept!".as_ptr().cast(), 5, 0) };
        if rc != 0 {
            eprintln!(
                "skipped: user xattrs unsupported here ({})",
                io::Error::last_os_error()
            );
            return;
        }
        atomic_write(&p, b"two", &FileAttrs::default()).unwrap();
        let mut buf = [0u8; 16];
        // SAFETY: the buffer is 16 bytes long.
        let n = unsafe {
            libc::getxattr(
                cp.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        assert_eq!(n, 5, "the attribute is kept across the rewrite");
        assert_eq!(&buf[..5], b"kept!");
        // and by a backup copy
        let b = d.path().join("f.bak");
        preserved_copy(&p, &b).unwrap();
        let cb = CString::new(b.as_os_str().as_bytes()).unwrap();
        let mut buf = [0u8; 16];
        // SAFETY: the buffer is 16 bytes long.
        let n = unsafe {
            libc::getxattr(
                cb.as_ptr(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        assert_eq!(n, 5, "the backup keeps the attribute");
    }

    #[test]
    fn atomic_write_creates_and_keeps_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        atomic_write(&p, b"one", &FileAttrs::default()).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        let expect = 0o666 & !umask();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, expect);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        atomic_write(&p, b"two", &FileAttrs::default()).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o600);
        let attrs = FileAttrs {
            mode: Some(ModeSpec::Symbolic("g+r".into())),
            ..Default::default()
        };
        atomic_write(&p, b"three", &attrs).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o640);
        // Nothing left behind.
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn atomic_write_stamps_the_precise_time_even_within_one_clock_tick() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        for _ in 0..20 {
            fs::write(&p, b"by the shell").unwrap();
            let before = fs::metadata(&p).unwrap();
            atomic_write(&p, b"by the agent", &FileAttrs::default()).unwrap();
            let after = fs::metadata(&p).unwrap();
            assert!(after.modified().unwrap() > before.modified().unwrap());
            assert!(after.accessed().unwrap() > before.accessed().unwrap());
        }
    }

    #[test]
    fn atomic_write_replaces_a_symlink_and_cleans_up_on_error() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("t");
        fs::write(&target, "target").unwrap();
        let link = d.path().join("l");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        atomic_write(&link, b"new", &FileAttrs::default()).unwrap();
        assert!(
            !fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&target).unwrap(), b"target");
        let bad = FileAttrs {
            owner: Some("no-such-user-xyz".into()),
            ..Default::default()
        };
        assert!(atomic_write(&d.path().join("n"), b"x", &bad).is_err());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 2);
    }

    #[test]
    fn temporary_files_of_a_killed_run_are_removed_by_the_next_write() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("app.conf");
        // Left by a killed run (ours), and one of a concurrent Ansible run (8 characters),
        // one for another file, and a directory: only the first goes.
        fs::write(d.path().join(".ansible_tmpAb12Cdapp.conf"), "half").unwrap();
        fs::write(d.path().join(".ansible_tmpAb12Cd34app.conf"), "ansible").unwrap();
        fs::write(d.path().join(".ansible_tmpAb12Cdother.conf"), "other").unwrap();
        fs::create_dir(d.path().join(".ansible_tmpXyZ123app.conf")).unwrap();
        atomic_write(&p, b"new", &FileAttrs::default()).unwrap();
        let mut names: Vec<String> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ".ansible_tmpAb12Cd34app.conf",
                ".ansible_tmpAb12Cdother.conf",
                ".ansible_tmpXyZ123app.conf",
                "app.conf"
            ]
        );
    }

    #[test]
    fn backups_are_named_and_preserved() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("conf");
        fs::write(&p, "data").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        let b = backup_file(&p).unwrap();
        let name = b.file_name().unwrap().to_string_lossy().to_string();
        let prefix = format!("conf.{}.", std::process::id());
        assert!(name.starts_with(&prefix), "{name}");
        assert!(name.ends_with('~'));
        assert_eq!(name.len(), prefix.len() + "2024-01-01@00:00:00~".len());
        assert_eq!(fs::read(&b).unwrap(), b"data");
        assert_eq!(fs::metadata(&b).unwrap().mode() & 0o7777, 0o640);
        // A second backup in the same second must not overwrite the first.
        fs::write(&p, "data2").unwrap();
        let b2 = backup_file(&p).unwrap();
        assert_ne!(b, b2);
        assert_eq!(fs::read(&b).unwrap(), b"data");
        assert_eq!(fs::read(&b2).unwrap(), b"data2");
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 3);
    }

    #[test]
    fn sized_reads_read_what_fs_read_reads() {
        let d = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        for data in [&b""[..], b"x", b"content 4\n", &big] {
            let p = d.path().join("f");
            fs::write(&p, data).unwrap();
            // The size is a hint: a file that changed since its stat is read whole.
            for hint in [0, 1, data.len() as u64, data.len() as u64 + 100, 10] {
                assert_eq!(read_sized(&p, hint).unwrap(), fs::read(&p).unwrap());
            }
        }
        let p = d.path().join("t");
        fs::write(&p, "héllo").unwrap();
        assert_eq!(read_to_string_sized(&p, 6).unwrap(), "héllo");
        // The same errors as fs::read_to_string / fs::read.
        fs::write(&p, b"\xff\xfe").unwrap();
        let ours = read_to_string_sized(&p, 2).unwrap_err();
        let std = fs::read_to_string(&p).unwrap_err();
        assert_eq!(
            (ours.kind(), ours.to_string()),
            (std.kind(), std.to_string())
        );
        for missing in [d.path().join("none"), d.path().to_path_buf()] {
            let ours = read_sized(&missing, 0).unwrap_err();
            let std = fs::read(&missing).unwrap_err();
            assert_eq!(
                (ours.kind(), ours.to_string()),
                (std.kind(), std.to_string())
            );
        }
    }

    #[test]
    fn what_one_lstat_tells_is_what_stat_and_lstat_tell() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("file");
        fs::write(&file, "x").unwrap();
        let hard = d.path().join("hard");
        fs::write(&hard, "y").unwrap();
        fs::hard_link(&hard, d.path().join("hard2")).unwrap();
        let dir = d.path().join("dir");
        fs::create_dir(&dir).unwrap();
        let to_dir = d.path().join("to_dir");
        std::os::unix::fs::symlink(&dir, &to_dir).unwrap();
        let to_file = d.path().join("to_file");
        std::os::unix::fs::symlink(&file, &to_file).unwrap();
        let broken = d.path().join("broken");
        std::os::unix::fs::symlink(d.path().join("none"), &broken).unwrap();
        let missing = d.path().join("missing");
        let under_file = file.join("x");
        let slash = PathBuf::from(format!("{}/", to_dir.display()));
        for p in [
            &file,
            &hard,
            &dir,
            &to_dir,
            &to_file,
            &broken,
            &missing,
            &under_file,
            &slash,
        ] {
            let l = fs::symlink_metadata(p);
            assert_eq!(state_of(&l), file_state(p), "{}", p.display());
            assert_eq!(
                is_dir_lstat(p, l.as_ref().ok()),
                p.is_dir(),
                "{}",
                p.display()
            );
            if let Ok(l) = &l {
                assert_eq!(path_info_lstat(p, l), path_info(p), "{}", p.display());
            }
        }
        assert_eq!(path_info(&hard)["state"].as_str(), Some("hard"));
        assert!(path_info(&broken).is_empty());
    }

    #[test]
    fn digests() {
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, "abc").unwrap();
        assert_eq!(file_digest(&p, "sha1").unwrap(), sha1_hex(b"abc"));
        assert_eq!(
            file_digest(&p, "sha256").unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
