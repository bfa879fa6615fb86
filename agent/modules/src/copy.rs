//! The `copy` module, with the work of Ansible's copy action plugin (finding `src` in
//! the role's `files/`, `content`, directories) done on the host itself.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use minijinja::Value;

use crate::host::fs::{
    self as hfs, AttrChange, FileAttrs, Meta, ModeSpec, apply_attrs, atomic_write_like,
    backup_file, md5_hex, path_attrs_diff, path_info, path_info_lstat, plan_attrs, sha1_hex,
};
use crate::spec::{Arg, Args, FILE_COMMON};
use crate::{Ctx, Diff, Module, ModuleError, Plan, ResultMap};

pub struct Copy;

const SPEC: &[Arg] = &[
    Arg::path("src"),
    // Internal parameters of Ansible's action and module: a task may not set them.
    Arg::raw("_original_basename"),
    Arg::raw("_diff_peek"),
    Arg::str("content").no_log(),
    // Required: at load time (load_check), else as the action plugin checks it when the
    // task runs (after src/content: `dest is required`).
    Arg::path("dest"),
    Arg::bool("backup", false),
    Arg::bool("force", true),
    Arg::str("validate"),
    Arg::raw("directory_mode"),
    Arg::bool("remote_src", false),
    Arg::new("local_follow", crate::spec::Ty::Bool),
    Arg::str("checksum"),
    Arg::bool("follow", false),
    Arg::bool("decrypt", true),
];

/// One file to put in place.
#[derive(Debug)]
pub struct Item {
    dest: PathBuf,
    content: Vec<u8>,
    /// The source as shown in results and diff headers (`None` for `content`).
    src: Option<PathBuf>,
    /// lstat of dest, and stat when it is a link being followed.
    existing: Option<Meta>,
    /// The lstat `existing` comes from (the result's path info before any change).
    lstat: Option<fs::Metadata>,
    is_link: bool,
    old: Option<Vec<u8>>,
    /// The path as given (dest may be a followed link's target): the diff names it, as
    /// Ansible's action plugin does.
    shown: PathBuf,
    /// A link that is replaced (not followed): its target's content, which Ansible's diff
    /// shows as "before".
    link_old: Option<Vec<u8>>,
    /// Directories to create first (outermost first).
    mkdirs: Vec<PathBuf>,
    /// The source's permission bits (for `mode: preserve`).
    src_mode: Option<u32>,
}

#[derive(Debug)]
pub struct Observed {
    items: Vec<Item>,
    /// A directory copy: (dest as given, src as found).
    dir: Option<(String, String)>,
    /// A directory copy's subdirectories that hold no file: Ansible's `file` module
    /// creates (or fixes) them after the files are copied.
    leaf_dirs: Vec<LeafDir>,
    /// A directory copy's links that are copied as links.
    links: Vec<LinkItem>,
    /// `dest` as the task gives it.
    dest_arg: String,
    remote: bool,
}

/// A link of a directory copy, made as Ansible's action makes it: by the `file` module.
#[derive(Debug)]
pub struct LinkItem {
    args: Args,
    observed: crate::file::Observed,
}

/// The `file` module's arguments for a link of a directory copy: the task's file
/// arguments (without `mode: preserve`), `state: link`, `force`, not followed.
fn link_args(args: &Args, path: &Path, target: &Path) -> Result<Args, ModuleError> {
    let mut raw: IndexMap<String, Value> = IndexMap::new();
    for a in FILE_COMMON {
        if let Some(v) = args.get(a.name)
            && !(a.name == "mode" && v.as_str() == Some("preserve"))
        {
            raw.insert(a.name.to_string(), v.clone());
        }
    }
    raw.insert("path".into(), Value::from(path.display().to_string()));
    raw.insert("src".into(), Value::from(target.display().to_string()));
    raw.insert("state".into(), Value::from("link"));
    raw.insert("force".into(), Value::from(true));
    raw.insert("follow".into(), Value::from(false));
    crate::spec::parse("file", <crate::file::File as Module>::SPECS, &raw)
}

/// A subdirectory of a directory copy with no file below it.
#[derive(Debug)]
pub struct LeafDir {
    path: PathBuf,
    existing: Option<Meta>,
    /// It and its missing ancestors, outermost first (empty when it exists).
    missing: Vec<PathBuf>,
}

impl Observed {
    /// Whether the result is one file's (Ansible reports the one file of a directory
    /// copy of a single file as a file copy).
    fn reports_file(&self) -> bool {
        self.dir.is_none() || (!self.remote && self.items.len() == 1)
    }
}

/// One planned operation.
#[derive(Debug)]
pub enum Op {
    Mkdir {
        path: PathBuf,
        changes: Vec<AttrChange>,
    },
    Write {
        item: usize,
        backup: bool,
    },
    Attrs {
        path: PathBuf,
        changes: Vec<AttrChange>,
    },
    /// A step of the `file` module making a link of a directory copy.
    Link(crate::file::Op),
}

fn err(msg: impl Into<String>) -> ModuleError {
    ModuleError::new(msg)
}

fn lstat_meta(p: &Path) -> Option<Meta> {
    fs::symlink_metadata(p).ok().map(|m| Meta::from(&m))
}

/// Missing ancestors of `dir`, outermost first.
fn missing_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut cur = dir.to_path_buf();
    while !cur.as_os_str().is_empty() && fs::symlink_metadata(&cur).is_err() {
        out.push(cur.clone());
        match cur.parent() {
            Some(p) => cur = p.to_path_buf(),
            None => break,
        }
    }
    out.reverse();
    out
}

/// Run `f`, which reads the source, on the controller's side (as root, see
/// [`crate::host::creds::as_controller`]) unless the source is on the remote side.
fn on_src<T>(remote: bool, f: impl FnOnce() -> T) -> T {
    if remote {
        f()
    } else {
        crate::host::creds::as_controller(f)
    }
}

fn read_src(p: &Path) -> Result<Vec<u8>, ModuleError> {
    fs::read(p).map_err(|e| {
        if e.kind() == io::ErrorKind::PermissionDenied {
            err(format!("Source {} not readable", p.display()))
        } else {
            err(format!("Source {} not found", p.display()))
        }
    })
}

/// A local source that is an Ansible Vault file (with `decrypt`, the default) is copied
/// as its plain text, decrypted with the run's vault secrets; without a secret that
/// opens it, the copy fails as Ansible's does. Other data is copied as it is.
fn open_vault(remote: bool, args: &Args, p: &Path, data: Vec<u8>) -> Result<Vec<u8>, ModuleError> {
    if remote || !args.bool("decrypt") || !data.starts_with(b"$ANSIBLE_VAULT") {
        return Ok(data);
    }
    use agent_yaml::vault::{VaultError, decrypt};
    match decrypt(&String::from_utf8_lossy(&data)) {
        Ok(plain) => Ok(plain),
        Err(VaultError::NoSecrets) => Err(err(format!(
            "A vault password or secret must be specified to decrypt {}",
            p.display()
        ))),
        Err(e) => Err(err(format!("Unable to decrypt {}: {e}", p.display()))),
    }
}

fn src_mode(p: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(p).ok().map(|m| m.mode() & 0o7777)
}

/// Observe one destination file for `content` (from `src` if any); `lstat` is the lstat
/// of `dest` the caller made (`None`: none found).
fn observe_item(
    dest: PathBuf,
    lstat: Option<fs::Metadata>,
    content: Vec<u8>,
    src: Option<PathBuf>,
    follow: bool,
    want_old: bool,
) -> Item {
    let shown = dest.clone();
    let mut dest = dest;
    let mut lstat = lstat;
    let mut is_link = lstat.as_ref().is_some_and(|m| m.file_type().is_symlink());
    if is_link && follow && dest.exists() {
        dest = fs::canonicalize(&dest).unwrap_or(dest);
        is_link = false;
        lstat = fs::symlink_metadata(&dest).ok();
    }
    let existing = lstat.as_ref().map(Meta::from);
    let old = match &lstat {
        Some(md) if !is_link => hfs::read_sized(&dest, md.len()).ok(),
        _ => None,
    };
    let old = if want_old || old.is_some() { old } else { None };
    let link_old = if is_link && want_old {
        fs::read(&dest).ok()
    } else {
        None
    };
    // A path that exists has its directories (path resolution went through them).
    let mkdirs = match lstat {
        Some(_) => Vec::new(),
        None => dest.parent().map(missing_dirs).unwrap_or_default(),
    };
    // Stat on the controller's side (a remote source is readable by root as well).
    let src_mode = src
        .as_deref()
        .and_then(|p| crate::host::creds::as_controller(|| src_mode(p)));
    Item {
        dest,
        content,
        src,
        existing,
        lstat,
        is_link,
        old,
        shown,
        link_old,
        mkdirs,
        src_mode,
    }
}

/// What a directory copy puts in place: files (source, destination relative to the copy's
/// base), directories (relative) and links copied as links (link text, relative).
#[derive(Debug, Default)]
struct SrcTree {
    files: Vec<(PathBuf, PathBuf)>,
    dirs: Vec<PathBuf>,
    links: Vec<(PathBuf, PathBuf)>,
}

/// A remote (`remote_src`) directory: everything under `root`, directories first at each
/// level, sorted; links are followed only with `local_follow: true` (the module copies
/// with `shutil.copytree(symlinks=not local_follow)`), else kept as links.
fn walk_src(root: &Path, rel: &Path, follow_links: bool, tree: &mut SrcTree) {
    let Ok(rd) = fs::read_dir(root.join(rel)) else {
        return;
    };
    let mut names: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
    names.sort();
    for n in names {
        let r = rel.join(&n);
        let path = root.join(&r);
        if !follow_links && path.is_symlink() {
            tree.links
                .push((fs::read_link(&path).unwrap_or_default(), r));
        } else if path.is_dir() {
            tree.dirs.push(r.clone());
            walk_src(root, &r, follow_links, tree);
        } else {
            tree.files.push((root.join(&r), r));
        }
    }
}

/// (device, inode) of what `p` names, links followed.
fn dev_ino(p: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// A local source directory as Ansible's copy action walks it (`_walk_dirs`): a link to a
/// file is copied as that file with `local_follow`, else kept as a link (so is a broken
/// one); a link to a directory is walked as a directory with `local_follow`, unless it
/// leads back to a directory being copied (a circle), which is kept as a link.
fn walk_local(top: &Path, local_follow: bool) -> Result<SrcTree, ModuleError> {
    let mut tree = SrcTree::default();
    let parents: HashSet<(u64, u64)> = dev_ino(top).into_iter().collect();
    walk_local_dir(top, Path::new(""), &parents, local_follow, &mut tree, 0)?;
    Ok(tree)
}

/// Deeper than this, a walk fails (each level is a directory or a followed link): a link to
/// an ancestor of the copied directory makes an endless tree, on which Ansible fails too
/// (Python's recursion limit).
const MAX_WALK_DEPTH: usize = 256;

fn walk_local_dir(
    dir: &Path,
    rel: &Path,
    parents: &HashSet<(u64, u64)>,
    local_follow: bool,
    tree: &mut SrcTree,
    depth: usize,
) -> Result<(), ModuleError> {
    if depth > MAX_WALK_DEPTH {
        return Err(err(format!(
            "{} is more than {MAX_WALK_DEPTH} directories deep (a symbolic link to a directory above it?)",
            dir.display()
        )));
    }
    let Ok(rd) = fs::read_dir(dir) else {
        return Ok(());
    };
    let mut names: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
    names.sort();
    // As os.walk: directories (links to directories too) apart from the rest; files of a
    // level first, then its directories.
    let (subdirs, files): (Vec<_>, Vec<_>) = names.into_iter().partition(|n| dir.join(n).is_dir());
    let link_text = |p: &Path| fs::read_link(p).unwrap_or_default();
    for n in files {
        let path = dir.join(&n);
        let drel = rel.join(&n);
        if !path.is_symlink() {
            tree.files.push((path, drel));
            continue;
        }
        match fs::canonicalize(&path) {
            Ok(real) if local_follow && real.is_file() => tree.files.push((real, drel)),
            _ => tree.links.push((link_text(&path), drel)),
        }
    }
    let mut plain = Vec::new();
    for n in subdirs {
        let path = dir.join(&n);
        let drel = rel.join(&n);
        if !path.is_symlink() {
            tree.dirs.push(drel.clone());
            plain.push((path, drel));
            continue;
        }
        if !local_follow {
            tree.links.push((link_text(&path), drel));
            continue;
        }
        let (Ok(real), Some(target)) = (fs::canonicalize(&path), dev_ino(&path)) else {
            tree.links.push((link_text(&path), drel));
            continue;
        };
        if parents.contains(&target) {
            tree.links.push((link_text(&path), drel));
            continue;
        }
        // The directories between the link and the part of the tree already known: a
        // link to one of them is a circle too.
        let mut new_parents = HashSet::new();
        for anc in dir.ancestors() {
            let Some(id) = dev_ino(anc) else { break };
            if parents.contains(&id) {
                break;
            }
            new_parents.insert(id);
        }
        if new_parents.contains(&target) {
            tree.links.push((link_text(&path), drel));
            continue;
        }
        tree.dirs.push(drel.clone());
        let all: HashSet<(u64, u64)> = parents.union(&new_parents).copied().collect();
        walk_local_dir(&real, &drel, &all, local_follow, tree, depth + 1)?;
    }
    for (path, drel) in plain {
        walk_local_dir(&path, &drel, parents, local_follow, tree, depth + 1)?;
    }
    Ok(())
}

/// Run `validate` (with `%s` the file to check) without a shell, as Ansible does.
pub(crate) fn run_validate(validate: &str, file: &Path) -> Result<(), ModuleError> {
    if !validate.contains("%s") {
        return Err(err(format!("validate must contain %s: {validate}")));
    }
    let cmd = validate.replace("%s", &file.display().to_string());
    let argv = split_command(&cmd);
    let Some((prog, rest)) = argv.split_first() else {
        return Err(err("failed to validate"));
    };
    let mut cmd = std::process::Command::new(prog);
    crate::host::creds::prepare_command(&mut cmd);
    let out = cmd.args(rest).output().map_err(|e| {
        err("failed to validate")
            .with("exit_status", 2)
            .with("stdout", "")
            .with("stderr", e.to_string())
    })?;
    if !out.status.success() {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let lines =
            |s: &str| minijinja::Value::from(s.lines().map(str::to_string).collect::<Vec<_>>());
        return Err(err("failed to validate")
            .with("exit_status", out.status.code().unwrap_or(-1))
            .with("stdout_lines", lines(&stdout))
            .with("stderr_lines", lines(&stderr))
            .with("stdout", stdout)
            .with("stderr", stderr));
    }
    Ok(())
}

/// POSIX-shell-like word splitting (quotes and backslashes), as Python's `shlex.split`.
fn split_command(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    cur.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                if !matches!(n, '"' | '\\' | '$' | '`') {
                                    cur.push('\\');
                                }
                                cur.push(n);
                            }
                        }
                        _ => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

impl Module for Copy {
    const SPECS: &'static [&'static [Arg]] = &[SPEC, FILE_COMMON];
    type Observed = Observed;
    type Op = Op;

    fn load_check(args: &Args) -> Result<(), ModuleError> {
        if !args.given("dest") || args.str("dest") == Some("") {
            return Err(err("missing required arguments: dest"));
        }
        Ok(())
    }

    fn observe(args: &Args, ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        for internal in ["_original_basename", "_diff_peek"] {
            if args.get(internal).is_some_and(|v| !v.is_none()) {
                return Err(err(format!("Invalid parameter specified: \"{internal}\""))
                    .with("_agent_failure", "Raised"));
            }
        }
        let dest_s = args.string("dest").unwrap_or_default();
        let follow = args.bool("follow");
        let remote = args.bool("remote_src");
        let want_old = ctx.diff_mode;
        let content = args.get("content").map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| crate::spec::value_to_string(v))
        });
        // An empty `src` counts as none (the action plugin's `not source`); the action
        // plugin's checks come in its order.
        let src = args.string("src").filter(|s| !s.is_empty());
        if content.is_none() && src.is_none() {
            return Err(err("src (or content) is required"));
        }
        if dest_s.is_empty() {
            return Err(err("dest is required"));
        }
        match (content, src) {
            (Some(_), Some(_)) => Err(err("src and content are mutually exclusive")),
            (None, None) => Err(err("src (or content) is required")),
            (Some(c), None) => {
                if dest_s.ends_with('/') {
                    // An error of Ansible's copy action plugin, not of the module.
                    return Err(err("can not use content with a dir as dest")
                        .with("_agent_failure", "Action"));
                }
                let dest = PathBuf::from(&dest_s);
                let lstat = fs::symlink_metadata(&dest).ok();
                // The action plugin stats dest (following a link only with `follow`).
                let dest_is_dir = if follow {
                    hfs::is_dir_lstat(&dest, lstat.as_ref())
                } else {
                    lstat.as_ref().is_some_and(|m| m.is_dir())
                };
                if dest_is_dir {
                    return Err(err("can not use content with a dir as dest")
                        .with("_agent_failure", "Action"));
                }
                Ok(Observed {
                    items: vec![observe_item(
                        dest,
                        lstat,
                        c.into_bytes(),
                        None,
                        follow,
                        want_old,
                    )],
                    dir: None,
                    leaf_dirs: Vec::new(),
                    links: Vec::new(),
                    dest_arg: dest_s,
                    remote,
                })
            }
            (None, Some(src_s)) => {
                let src = if remote {
                    PathBuf::from(&src_s)
                } else {
                    // Found on the controller's side: as root, also in a task that
                    // becomes another user (so is the source read, read_src).
                    crate::host::creds::as_controller(|| {
                        ctx.files
                            .find("files", src_s.trim_end_matches('/'))
                            .or_else(|| {
                                let p = PathBuf::from(&src_s);
                                (p.is_absolute() && p.exists()).then_some(p)
                            })
                            .ok_or_else(|| {
                                err(format!(
                                    "Could not find or access '{src_s}' on the Ansible Controller."
                                ))
                            })
                            .map(|p| std::path::absolute(&p).unwrap_or(p))
                    })?
                };
                if remote && !src.exists() {
                    return Err(err(format!("Source {src_s} not found")));
                }
                // A device, a FIFO or a socket: the module copies files and directories.
                if remote && !src.is_file() && !src.is_dir() {
                    return Err(err(format!(
                        "Cannot copy invalid source '{src_s}': not a file"
                    )));
                }
                if on_src(remote, || src.is_dir()) {
                    // Copy the directory (or, with a trailing slash, its content).
                    let base = if src_s.ends_with('/') {
                        PathBuf::from(&dest_s)
                    } else {
                        PathBuf::from(&dest_s).join(src.file_name().unwrap_or_default())
                    };
                    // Ansible's action follows local links unless told not to; the module
                    // (remote_src) only when told to.
                    let local_follow = args.opt_bool("local_follow");
                    let tree = on_src(remote, || {
                        if remote {
                            let mut t = SrcTree::default();
                            walk_src(&src, Path::new(""), local_follow == Some(true), &mut t);
                            Ok(t)
                        } else {
                            walk_local(&src, local_follow.unwrap_or(true))
                        }
                    })?;
                    let single = !remote && tree.files.len() == 1;
                    let leaf = |path: PathBuf| LeafDir {
                        existing: lstat_meta(&path),
                        missing: missing_dirs(&path),
                        path,
                    };
                    let mut leaf_dirs: Vec<LeafDir> = tree
                        .dirs
                        .iter()
                        .filter(|d| !tree.files.iter().any(|(_, f)| f.starts_with(d)))
                        .map(|d| leaf(base.join(d)))
                        .collect();
                    if remote && tree.dirs.is_empty() && tree.files.is_empty() {
                        // An empty directory is copied too (the module's copytree makes
                        // the destination directory).
                        leaf_dirs.push(leaf(base.clone()));
                    }
                    let mut items = Vec::new();
                    for (from, f) in &tree.files {
                        let data = on_src(remote, || read_src(from))?;
                        let data = open_vault(remote, args, from, data)?;
                        let dest = base.join(f);
                        let lstat = fs::symlink_metadata(&dest).ok();
                        let it = observe_item(
                            dest,
                            lstat,
                            data,
                            Some(from.clone()),
                            follow && tree.dirs.is_empty(),
                            want_old && single,
                        );
                        items.push(it);
                    }
                    // Links are made by Ansible's `file` module (state=link, force, not
                    // followed), after the files and directories.
                    let mut links = Vec::new();
                    for (target, f) in &tree.links {
                        let fargs = link_args(args, &base.join(f), target)?;
                        let observed = <crate::file::File as Module>::observe(&fargs, ctx)?;
                        links.push(LinkItem {
                            args: fargs,
                            observed,
                        });
                    }
                    let mut shown = src.display().to_string();
                    if src_s.ends_with('/') && !shown.ends_with('/') {
                        shown.push('/');
                    }
                    let mut dshown = dest_s.clone();
                    if !dshown.ends_with('/') {
                        dshown.push('/');
                    }
                    return Ok(Observed {
                        items,
                        dir: Some((dshown, shown)),
                        leaf_dirs,
                        links,
                        dest_arg: dest_s,
                        remote,
                    });
                }
                let data = on_src(remote, || read_src(&src))?;
                let data = open_vault(remote, args, &src, data)?;
                let basename = src
                    .file_name()
                    .map(|b| b.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mut dest = PathBuf::from(&dest_s);
                let mut lstat = None;
                if dest_s.ends_with('/') {
                    dest = dest.join(&basename);
                } else {
                    let l = fs::symlink_metadata(&dest).ok();
                    if hfs::is_dir_lstat(&dest, l.as_ref()) {
                        dest = dest.join(&basename);
                    } else {
                        lstat = Some(l);
                    }
                }
                let lstat = lstat.unwrap_or_else(|| fs::symlink_metadata(&dest).ok());
                Ok(Observed {
                    items: vec![observe_item(dest, lstat, data, Some(src), follow, want_old)],
                    dir: None,
                    leaf_dirs: Vec::new(),
                    links: Vec::new(),
                    dest_arg: dest_s,
                    remote,
                })
            }
        }
    }

    fn plan(args: &Args, o: &Observed, ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        let attrs = FileAttrs::from_args(args)?;
        let force = args.bool("force");
        let dir_mode = args
            .get("directory_mode")
            .map(ModeSpec::parse)
            .transpose()?;
        let dattrs = FileAttrs {
            mode: dir_mode,
            ..attrs.clone()
        };
        let one = o.reports_file();
        let mut plan = Plan::default();
        // Directories this run creates (a directory copy's files share them).
        let mut created: HashSet<PathBuf> = HashSet::new();
        // Whether the result is already one file's.
        let mut reported = false;

        for (i, it) in o.items.iter().enumerate() {
            let dest_s = it.dest.display().to_string();
            let src_s = it.src.as_ref().map(|s| s.display().to_string());
            let fattrs = item_attrs(&attrs, it);
            let checksum = sha1_hex(&it.content);
            if let Some(want) = args.str("checksum")
                && want != checksum
            {
                return Err(err(
                    "Copied file does not match the expected checksum. Transfer failed.",
                )
                .with("checksum", checksum)
                .with("expected_checksum", want));
            }
            if it.existing.is_some() && !force {
                // Ansible's action skips the file; the module (remote_src) says why.
                if one && o.remote {
                    reported = true;
                    plan.set("msg", "file already exists");
                    if let Some(s) = &src_s {
                        plan.set("src", s.clone());
                    }
                    plan.set("dest", dest_s.clone());
                    plan.result.extend(item_path_info(it));
                } else if o.dir.is_none() {
                    reported = true;
                    plan.set("dest", o.dest_arg.clone());
                    if let Some(s) = &src_s {
                        plan.set("src", s.clone());
                    }
                }
                continue;
            }
            if it.existing.is_none() && !it.mkdirs.is_empty() {
                let parent = it.dest.parent().unwrap_or(Path::new("/"));
                let dir_dest = o.dir.is_some() || o.dest_arg.ends_with('/');
                if !dir_dest && (o.remote || !ctx.check_mode) {
                    return Err(err(format!(
                        "Destination directory {} does not exist",
                        parent.display()
                    ))
                    .with("checksum", checksum));
                }
                if dir_dest && o.remote && ctx.check_mode && o.dir.is_none() {
                    let mut p = Plan::default();
                    p.ops.push(Op::Mkdir {
                        path: parent.to_path_buf(),
                        changes: Vec::new(),
                    });
                    p.set(
                        "msg",
                        format!("dest directory {} would be created", parent.display()),
                    );
                    if let Some(s) = &src_s {
                        p.set("src", s.clone());
                    }
                    return Ok(p);
                }
                if dir_dest {
                    plan_mkdirs(&mut plan, &mut created, &it.mkdirs, &dattrs, ctx.check_mode)?;
                }
            }
            if let Some(m) = &it.existing
                && m.is_dir()
            {
                return Err(err(format!(
                    "Failed to copy to {dest_s}: destination is a directory"
                )));
            }
            let old_sum = it.old.as_deref().map(sha1_hex);
            let rewrite = it.is_link || old_sum.as_deref() != Some(checksum.as_str());
            let parent = it.dest.parent().unwrap_or(Path::new("."));
            // The file as it will be before attributes: kept, a new 0644 file, or (a
            // remote_src copy over an existing file) one with the source's mode.
            let base = match (&it.existing, it.is_link, it.src_mode) {
                (Some(m), false, Some(sm)) if rewrite && o.remote => Meta {
                    mode: (m.mode & !0o7777) | sm,
                    ..Meta::new_file(parent)
                },
                (Some(m), false, _) => *m,
                _ => Meta::new_file(parent),
            };
            let changes = plan_attrs(&it.dest, &base, &fattrs)?;
            if rewrite {
                if one {
                    reported = true;
                    // In check mode Ansible's action answers before running the module.
                    if o.remote || !ctx.check_mode {
                        plan.set("dest", dest_s.clone());
                        if let Some(s) = &src_s {
                            plan.set("src", s.clone());
                        }
                        plan.set("md5sum", md5_hex(&it.content));
                        plan.set("checksum", checksum.clone());
                        plan.result.extend(item_path_info(it));
                    }
                    if !o.remote {
                        // Ansible's action returns its content diffs as a list: one, or
                        // none outside diff mode.
                        plan.diff_list = true;
                        if ctx.diff_mode {
                            plan.diff.push(content_diff(it));
                        }
                    }
                }
                plan.ops.push(Op::Write {
                    item: i,
                    backup: args.bool("backup") && it.existing.is_some(),
                });
            } else {
                if one {
                    reported = true;
                    if o.remote {
                        plan.set("dest", dest_s.clone());
                        if let Some(s) = &src_s {
                            plan.set("src", s.clone());
                        }
                        plan.set("md5sum", md5_hex(&it.content));
                        plan.set("checksum", checksum.clone());
                        plan.result.extend(item_path_info(it));
                    } else {
                        // Ansible's action runs the `file` module on the kept file: its
                        // diff in diff mode, else the action's empty list.
                        plan.diff_list = !ctx.diff_mode;
                        plan.set("path", dest_s.clone());
                        plan.result.extend(item_path_info(it));
                        plan.set("checksum", checksum.clone());
                        plan.set("dest", dest_s.clone());
                        if ctx.diff_mode {
                            plan.diff.push(path_attrs_diff(&dest_s, &changes));
                        }
                    }
                }
                if !changes.is_empty() {
                    plan.ops.push(Op::Attrs {
                        path: it.dest.clone(),
                        changes,
                    });
                }
            }
        }

        // Subdirectories without files, as Ansible's `file` module (state=directory,
        // mode=directory_mode) makes them after the files.
        for l in &o.leaf_dirs {
            match &l.existing {
                None => plan_mkdirs(&mut plan, &mut created, &l.missing, &dattrs, ctx.check_mode)?,
                Some(m) if m.is_dir() => {
                    let changes = plan_attrs(&l.path, m, &dattrs)?;
                    if !changes.is_empty() {
                        plan.ops.push(Op::Attrs {
                            path: l.path.clone(),
                            changes,
                        });
                    }
                }
                Some(_) => {
                    return Err(err(format!(
                        "{} already exists as a {}",
                        l.path.display(),
                        hfs::file_state(&l.path)
                    ))
                    .with("path", l.path.display().to_string()));
                }
            }
        }
        let mut warnings: Vec<Value> = Vec::new();
        for l in &o.links {
            let p = <crate::file::File as Module>::plan(&l.args, &l.observed, ctx)?;
            plan.ops.extend(p.ops.into_iter().map(Op::Link));
            if let Some(Ok(w)) = p.result.get("warnings").map(|w| w.try_iter()) {
                warnings.extend(w);
            }
        }
        if !warnings.is_empty() {
            plan.set("warnings", warnings);
        }
        if !reported && let Some((dest, src)) = &o.dir {
            plan.set("dest", dest.clone());
            plan.set("src", src.clone());
        }
        Ok(plan)
    }

    fn apply(
        args: &Args,
        o: Observed,
        plan: &Plan<Op>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let attrs = FileAttrs::from_args(args)?;
        let validate = args.string("validate");
        let one = o.reports_file() && plan.result.contains_key("checksum");
        let mut out = ResultMap::new();
        for op in &plan.ops {
            match op {
                Op::Mkdir { path, changes } => {
                    match fs::create_dir(path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(ModuleError::io("Could not create", path, &e)),
                    }
                    apply_attrs(path, changes)?;
                }
                Op::Attrs { path, changes } => apply_attrs(path, changes)?,
                Op::Link(op) => crate::file::apply_op(op)?,
                Op::Write { item, backup } => {
                    let Some(it) = o.items.get(*item) else {
                        continue;
                    };
                    let fattrs = item_attrs(&attrs, it);
                    if *backup {
                        let b = backup_file(&it.dest).map_err(|e| {
                            err(format!(
                                "Could not make backup of {} to {}: {e}",
                                it.dest.display(),
                                hfs::backup_name(&it.dest).display()
                            ))
                        })?;
                        if one {
                            out.insert("backup_file".into(), Value::from(b.display().to_string()));
                        }
                    }
                    if it.is_link {
                        fs::remove_file(&it.dest)
                            .map_err(|e| ModuleError::io("Failed to replace", &it.dest, &e))?;
                    }
                    // remote_src: Ansible copies the source's times (and, over an
                    // existing file, its mode) instead of keeping the destination's.
                    let like = if o.remote {
                        it.src.as_deref().and_then(|s| fs::metadata(s).ok())
                    } else {
                        None
                    };
                    let mut verr: Option<ModuleError> = None;
                    let mut written: Option<PathBuf> = None;
                    atomic_write_like(&it.dest, &it.content, &fattrs, like.as_ref(), |tmp| {
                        written = Some(tmp.to_path_buf());
                        if let Some(v) = &validate
                            && let Err(e) = run_validate(v, tmp)
                        {
                            verr = Some(e.with("checksum", crate::host::fs::sha1_hex(&it.content)));
                            return Err(io::Error::other("validation failed"));
                        }
                        Ok(())
                    })
                    .map_err(|e| {
                        verr.take().unwrap_or_else(|| {
                            err(format!(
                                "Failed to copy {} to {}: {e}",
                                it.src
                                    .as_ref()
                                    .map(|s| s.display().to_string())
                                    .unwrap_or_else(|| "content".into()),
                                it.dest.display()
                            ))
                        })
                    })?;
                    // For `content`, Ansible reports the temporary file it copied from.
                    if one
                        && it.src.is_none()
                        && let Some(w) = written
                    {
                        out.insert("src".into(), Value::from(w.display().to_string()));
                    }
                }
            }
        }
        if one && let Some(it) = o.items.first() {
            out.extend(path_info(&it.dest));
        }
        Ok(out)
    }
}

/// [`path_info`] of an item's destination as observed (nothing has changed it yet).
fn item_path_info(it: &Item) -> IndexMap<String, Value> {
    match &it.lstat {
        Some(l) => path_info_lstat(&it.dest, l),
        None => path_info(&it.dest),
    }
}

/// The file attributes for one item (`mode: preserve` is the source's mode).
fn item_attrs(attrs: &FileAttrs, it: &Item) -> FileAttrs {
    let mut a = attrs.clone();
    if matches!(a.mode, Some(ModeSpec::Preserve)) {
        a.mode = it.src_mode.map(ModeSpec::Octal);
    }
    a
}

/// Plan `mkdir` of each of `dirs` not planned yet, with the directory attributes.
fn plan_mkdirs(
    plan: &mut Plan<Op>,
    created: &mut HashSet<PathBuf>,
    dirs: &[PathBuf],
    dattrs: &FileAttrs,
    check: bool,
) -> Result<(), ModuleError> {
    for d in dirs {
        if !created.insert(d.clone()) {
            continue;
        }
        let changes = if check {
            Vec::new()
        } else {
            plan_attrs(
                d,
                &Meta::new_dir(d.parent().unwrap_or(Path::new("/"))),
                dattrs,
            )?
        };
        plan.ops.push(Op::Mkdir {
            path: d.clone(),
            changes,
        });
    }
    Ok(())
}

/// The content diff of a file being written: text, or empty for binary data.
fn content_diff(it: &Item) -> Diff {
    let text = |b: &[u8]| match std::str::from_utf8(b) {
        Ok(s) if !b.contains(&0) => Value::from(s),
        _ => Value::from(""),
    };
    let dest_s = it.shown.display().to_string();
    let old = it.old.as_ref().or(it.link_old.as_ref());
    Diff {
        before: old.map(|o| text(o)).unwrap_or(Value::from("")),
        after: text(&it.content),
        before_header: old.map(|_| dest_s.clone()),
        after_header: Some(
            it.src
                .as_ref()
                .map(|s| s.display().to_string())
                .unwrap_or_else(|| dest_s.to_string()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_shlex() {
        assert_eq!(
            split_command(r#"visudo -cf '/tmp/a b' "x\"y" c\ d"#),
            vec!["visudo", "-cf", "/tmp/a b", "x\"y", "c d"]
        );
        assert!(split_command("   ").is_empty());
    }
}
