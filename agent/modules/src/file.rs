//! The `file` module: states `file`, `directory`, `link`, `hard`, `touch`, `absent`,
//! with attributes (mode, owner, group), timestamps and recursion, as Ansible's.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use minijinja::Value;

use crate::host::fs::{
    self as hfs, AttrChange, FileAttrs, Meta, apply_attrs, diff_attrs, epoch_f64, path_info,
    path_info_lstat, plan_attrs,
};
use crate::host::users;
use crate::spec::{Arg, Args, Def, FILE_COMMON, Ty};
use crate::{Ctx, Diff, Module, ModuleError, Plan, ResultMap};

pub struct File;

const SPEC: &[Arg] = &[
    Arg::str("state").choices(&["absent", "directory", "file", "hard", "link", "touch"]),
    Arg::path("path").required().aliases(&["dest", "name"]),
    Arg::str("_original_basename"),
    Arg::bool("recurse", false),
    Arg::bool("force", false),
    Arg::bool("follow", true),
    Arg::new("_diff_peek", Ty::Bool),
    Arg::path("src"),
    Arg::str("modification_time"),
    Arg::str("modification_time_format").default(Def::Str("%Y%m%d%H%M.%S")),
    Arg::str("access_time"),
    Arg::str("access_time_format").default(Def::Str("%Y%m%d%H%M.%S")),
];

/// A requested timestamp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stamp {
    Preserve,
    Now,
    At(f64),
}

/// What `file` learns about the host.
#[derive(Debug)]
pub struct Observed {
    /// The path the task acts on (a directory `path` with `hard` gets `src`'s basename).
    path: PathBuf,
    state: String,
    prev: &'static str,
    now: f64,
    /// Facts the plan needs, by state.
    facts: Facts,
    /// Check mode: an `owner`/`group` that does not exist (yet) is a warning, as in
    /// Ansible (an earlier task of the play may create it).
    warnings: Vec<String>,
}

#[derive(Debug, Default)]
struct Facts {
    /// The path attributes apply to (the link target with `follow`) and its state.
    attr_path: PathBuf,
    attr_prev: &'static str,
    attr_meta: Option<Meta>,
    /// The lstat `attr_meta` comes from (the result's path info when it names `attr_path`).
    attr_lstat: Option<fs::Metadata>,
    /// (atime, mtime) of `attr_path`.
    times: Option<(f64, f64)>,
    /// `readlink(path)` when it is a link.
    link_src: Option<String>,
    /// Link: `src` joined to the link's directory, whether it exists.
    absrc_exists: bool,
    dir_nonempty: bool,
    /// Hard: inodes of path and src.
    path_ino: Option<u64>,
    src_ino: Option<u64>,
    /// Absent on a directory: everything under it (os.walk order).
    walk_dirs: Vec<String>,
    walk_files: Vec<String>,
    /// Recurse: every entry under the directory.
    entries: Vec<Entry>,
    /// Directory: the missing directories to create, outermost first.
    missing: Vec<PathBuf>,
}

#[derive(Debug)]
struct Entry {
    path: PathBuf,
    meta: Meta,
    times: (f64, f64),
}

/// One planned operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Mkdir(PathBuf),
    Touch(PathBuf),
    Remove {
        path: PathBuf,
        dir: bool,
    },
    Symlink {
        src: String,
        path: PathBuf,
        replace: bool,
        rmdir: bool,
    },
    Hardlink {
        src: PathBuf,
        path: PathBuf,
        replace: bool,
        follow: bool,
    },
    Attrs {
        path: PathBuf,
        changes: Vec<AttrChange>,
    },
    /// `None` times mean "now".
    Times {
        path: PathBuf,
        times: Option<(f64, f64)>,
    },
}

fn err_path(msg: impl Into<String>, path: &Path) -> ModuleError {
    ModuleError::new(msg).with("path", path.display().to_string())
}

fn times_of(md: &fs::Metadata) -> (f64, f64) {
    (
        md.accessed().map(epoch_f64).unwrap_or(0.0),
        md.modified().map(epoch_f64).unwrap_or(0.0),
    )
}

/// Python's `os.path.realpath`: canonical where it exists, else the path made absolute.
fn realpath(p: &Path) -> PathBuf {
    fs::canonicalize(p).unwrap_or_else(|_| {
        // A broken link: resolve the link text against its directory.
        match fs::read_link(p) {
            Ok(t) => p.parent().map(|d| d.join(&t)).unwrap_or(t),
            Err(_) => p.to_path_buf(),
        }
    })
}

/// `time.strptime` + `time.mktime` (local time).
pub fn parse_time(value: &str, format: &str) -> Result<f64, ModuleError> {
    let fail = |why: String| {
        ModuleError::new(format!(
            "Error while obtaining timestamp for time {value} using format {format}: {why}"
        ))
    };
    let dt = jiff::civil::DateTime::strptime(format, value).map_err(|_| {
        fail(format!(
            "time data '{value}' does not match format '{format}'"
        ))
    })?;
    let z = dt
        .to_zoned(agent_template::localtime::zone())
        .map_err(|e| fail(e.to_string()))?;
    Ok(z.timestamp().as_second() as f64)
}

fn stamp(args: &Args, name: &str, state: &str) -> Result<Stamp, ModuleError> {
    let v = args.string(name);
    let v = match (v, state) {
        (Some(v), _) => v,
        (None, "touch") => "now".into(),
        (None, _) => "preserve".into(),
    };
    match v.as_str() {
        "preserve" => Ok(Stamp::Preserve),
        "now" => Ok(Stamp::Now),
        s => {
            let fmt = args
                .str(&format!("{name}_format"))
                .unwrap_or("%Y%m%d%H%M.%S");
            Ok(Stamp::At(parse_time(s, fmt)?))
        }
    }
}

fn walk(root: &Path, dirs: &mut Vec<String>, files: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(root) else { return };
    let mut subdirs = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false)
            || (e.file_type().map(|t| t.is_symlink()).unwrap_or(false) && p.is_dir());
        if is_dir {
            dirs.push(p.display().to_string());
            if !e.file_type().map(|t| t.is_symlink()).unwrap_or(false) {
                subdirs.push(p);
            }
        } else {
            files.push(p.display().to_string());
        }
    }
    for d in subdirs {
        walk(&d, dirs, files);
    }
}

/// os.walk-style entries for recursive attributes; links are entries themselves and,
/// with `follow`, their targets too (a directory target recursed once).
fn walk_entries(root: &Path, follow: bool, seen: &mut Vec<PathBuf>, out: &mut Vec<Entry>) {
    let Ok(rd) = fs::read_dir(root) else { return };
    let mut subdirs = Vec::new();
    let mut items = Vec::new();
    for e in rd.flatten() {
        let p = e.path();
        let Ok(md) = fs::symlink_metadata(&p) else {
            continue;
        };
        if md.is_dir() {
            subdirs.push(p.clone());
        }
        items.push((p, md));
    }
    // os.walk lists directories first, then files.
    items.sort_by_key(|(_, md)| !md.is_dir());
    for (p, md) in items {
        out.push(Entry {
            path: p.clone(),
            meta: Meta::from(&md),
            times: times_of(&md),
        });
        if md.file_type().is_symlink()
            && follow
            && let Ok(t) = fs::read_link(&p)
        {
            let target = p.parent().map(|d| d.join(&t)).unwrap_or(t);
            if let Ok(tmd) = fs::metadata(&target) {
                let canon = fs::canonicalize(&target).unwrap_or(target.clone());
                if tmd.is_dir() && !seen.contains(&canon) {
                    seen.push(canon);
                    walk_entries(&target, follow, seen, out);
                }
                out.push(Entry {
                    path: target,
                    meta: Meta::from(&tmd),
                    times: times_of(&tmd),
                });
            }
        }
    }
    for d in subdirs {
        walk_entries(&d, follow, seen, out);
    }
}

impl Module for File {
    const SPECS: &'static [&'static [Arg]] = &[SPEC, FILE_COMMON];
    type Observed = Observed;
    type Op = Op;

    fn observe(args: &Args, ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        let mut path = PathBuf::from(args.str("path").unwrap_or_default());
        let requested = args.str("state");
        let src = args.string("src");
        let follow = args.bool("follow");
        // One lstat of the path answers what observe asks of it (its stat too, unless it
        // is a link).
        let mut lst = fs::symlink_metadata(&path);
        if !matches!(requested, Some("link") | Some("absent"))
            && hfs::is_dir_lstat(&path, lst.as_ref().ok())
        {
            let base = args.string("_original_basename").or_else(|| {
                src.as_deref()
                    .and_then(|s| Path::new(s).file_name())
                    .map(|b| b.to_string_lossy().into_owned())
            });
            if let Some(b) = base {
                path = path.join(b);
                lst = fs::symlink_metadata(&path);
            }
        }
        let prev = hfs::state_of(&lst);
        let mut warnings = Vec::new();
        if prev == "absent"
            && let Err(e) = &lst
            && e.kind() == io::ErrorKind::PermissionDenied
        {
            warnings.push(format!(
                "Insufficient permissions to access {}. Treating as absent",
                path.display()
            ));
        }
        let state = match requested {
            Some(s) => s.to_string(),
            None if prev != "absent" => prev.to_string(),
            None if args.bool("recurse") => "directory".into(),
            None => "file".into(),
        };
        let now = epoch_f64(std::time::SystemTime::now());
        let mut f = Facts {
            attr_path: path.clone(),
            attr_prev: prev,
            ..Default::default()
        };
        let mut attr_lst: Option<io::Result<fs::Metadata>> = None;
        if prev == "link" {
            f.link_src = fs::read_link(&path)
                .ok()
                .map(|p| p.to_string_lossy().into_owned());
        }
        match state.as_str() {
            "absent" => {
                if prev == "directory" {
                    walk(&path, &mut f.walk_dirs, &mut f.walk_files);
                }
            }
            "link" => {
                let src = src.clone().or_else(|| {
                    if follow && path.exists() {
                        f.link_src.clone()
                    } else {
                        None
                    }
                });
                let rel = if prev != "link" && path.is_dir() {
                    path.clone()
                } else {
                    path.parent().map(Path::to_path_buf).unwrap_or_default()
                };
                if let Some(s) = &src {
                    let absrc = rel.join(s);
                    f.absrc_exists = absrc.exists();
                    // Attributes go to the link's target (follow) or the link itself.
                    if follow {
                        f.attr_path = realpath(&absrc);
                    }
                }
                if prev == "directory" {
                    f.dir_nonempty = fs::read_dir(&path)
                        .map(|mut d| d.next().is_some())
                        .unwrap_or(false);
                }
            }
            "hard" => {
                f.path_ino = fs::metadata(&path).ok().map(|m| m.ino());
                f.src_ino = src
                    .as_deref()
                    .and_then(|s| fs::metadata(s).ok())
                    .map(|m| m.ino());
            }
            _ => {
                if follow && prev == "link" {
                    f.attr_path = realpath(&path);
                    let l = fs::symlink_metadata(&f.attr_path);
                    f.attr_prev = hfs::state_of(&l);
                    attr_lst = Some(l);
                }
                if state == "directory" && f.attr_prev == "absent" {
                    // The missing directories, outermost first.
                    let mut cur = f.attr_path.clone();
                    let mut missing = Vec::new();
                    while !cur.as_os_str().is_empty() && !cur.exists() {
                        missing.push(cur.clone());
                        match cur.parent() {
                            Some(p) => cur = p.to_path_buf(),
                            None => break,
                        }
                    }
                    missing.reverse();
                    f.missing = missing;
                }
                if state == "directory" && args.bool("recurse") && f.attr_prev == "directory" {
                    let mut seen = vec![realpath(&f.attr_path)];
                    walk_entries(&f.attr_path, follow, &mut seen, &mut f.entries);
                }
            }
        }
        // The lstat of attr_path (made above when it is the path or its link's target),
        // and its stat for the times (the lstat, unless it is a link).
        let attr_l = match attr_lst {
            Some(l) => l.ok(),
            None if f.attr_path.as_os_str() == path.as_os_str() => lst.ok(),
            None => fs::symlink_metadata(&f.attr_path).ok(),
        };
        if let Some(md) = attr_l {
            f.attr_meta = Some(Meta::from(&md));
            f.times = if md.file_type().is_symlink() {
                fs::metadata(&f.attr_path).ok().map(|m| times_of(&m))
            } else {
                Some(times_of(&md))
            };
            f.attr_lstat = Some(md);
        }
        if ctx.check_mode && state != "absent" {
            if let Some(owner) = args.str("owner").filter(|s| !s.is_empty()) {
                warnings.extend(missing_account_warning("user", owner));
            }
            if let Some(group) = args.str("group").filter(|s| !s.is_empty()) {
                warnings.extend(missing_account_warning("group", group));
            }
        }
        Ok(Observed {
            path,
            state,
            prev,
            now,
            facts: f,
            warnings,
        })
    }

    fn plan(args: &Args, o: &Observed, ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        let res = plan_file(args, o, ctx);
        if o.warnings.is_empty() {
            return res;
        }
        let add = |existing: Option<&Value>| {
            let mut all: Vec<Value> = o.warnings.iter().map(|w| Value::from(w.as_str())).collect();
            if let Ok(it) = existing.map(|v| v.try_iter()).transpose() {
                all.extend(it.into_iter().flatten());
            }
            Value::from(all)
        };
        match res {
            Ok(mut plan) => {
                let w = add(plan.result.get("warnings"));
                plan.set("warnings", w);
                Ok(plan)
            }
            Err(mut e) => {
                let w = add(e.fields.get("warnings"));
                e.fields.insert("warnings".into(), w);
                Err(e)
            }
        }
    }

    fn apply(
        _args: &Args,
        _o: Observed,
        plan: &Plan<Op>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let mut created: Option<&Path> = None;
        for op in &plan.ops {
            if let Err(e) = apply_op(op) {
                // As Ansible's touch: a file it has just created is removed again when its
                // attributes cannot be set (a chown the become user may not make).
                if let Some(p) = created {
                    let _ = fs::remove_file(p);
                }
                return Err(e);
            }
            if let Op::Touch(p) = op {
                created = Some(p);
            }
        }
        let mut out = ResultMap::new();
        let shown = plan
            .result
            .get("path")
            .or_else(|| plan.result.get("dest"))
            .and_then(|v| v.as_str())
            .map(PathBuf::from);
        if let Some(p) = shown {
            out.extend(path_info(&p));
        }
        Ok(out)
    }
}

fn plan_file(args: &Args, o: &Observed, ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
    let path = &o.path;
    let f = &o.facts;
    if args.bool("recurse") && o.state != "directory" {
        return Err(err_path(
            "recurse option requires state to be 'directory'",
            path,
        ));
    }
    let src = args.string("src");
    if src.is_some() && !matches!(o.state.as_str(), "link" | "hard") {
        return Err(err_path(
            "src option requires state to be 'link' or 'hard'",
            path,
        ));
    }
    let attrs = FileAttrs::from_args(args)?;
    let mut plan = Plan::default();
    let pstr = path.display().to_string();

    if args.get("_diff_peek").is_some() {
        let head = fs::read(path)
            .ok()
            .map(|b| b.iter().take(8192).any(|c| *c == 0));
        plan.set("path", pstr);
        plan.set("appears_binary", head.unwrap_or(false));
        return Ok(plan);
    }

    let mtime = stamp(args, "modification_time", &o.state)?;
    let atime = stamp(args, "access_time", &o.state)?;

    let mut before: IndexMap<String, Value> = IndexMap::new();
    let mut after: IndexMap<String, Value> = IndexMap::new();
    before.insert("path".into(), Value::from(pstr.clone()));
    after.insert("path".into(), Value::from(pstr.clone()));
    let initial_diff = |before: &mut IndexMap<String, Value>,
                        after: &mut IndexMap<String, Value>,
                        path: &Path,
                        prev: &str,
                        state: &str| {
        before.insert("path".into(), Value::from(path.display().to_string()));
        after.insert("path".into(), Value::from(path.display().to_string()));
        if prev != state {
            before.insert("state".into(), Value::from(prev));
            after.insert("state".into(), Value::from(state));
        }
    };

    // Attributes and times on `target` (whose current state is `cur`/`times`).
    let plan_attrs_times = |plan: &mut Plan<Op>,
                            before: &mut IndexMap<String, Value>,
                            after: &mut IndexMap<String, Value>,
                            target: &Path,
                            cur: &Meta,
                            times: Option<(f64, f64)>,
                            diff: bool|
     -> Result<(), ModuleError> {
        let mut changes = plan_attrs(target, cur, &attrs)?;
        if cur.is_link() {
            changes.retain(|c| !matches!(c, AttrChange::Mode { .. }));
        }
        if diff {
            diff_attrs(&changes, before, after);
        }
        if !changes.is_empty() {
            plan.ops.push(Op::Attrs {
                path: target.to_path_buf(),
                changes,
            });
        }
        if let Some(t) = plan_times(mtime, atime, times, o.now) {
            if diff {
                let (pa, pm) = times.unwrap_or((o.now, o.now));
                let (na, nm) = t.unwrap_or((o.now, o.now));
                if nm != pm {
                    before.insert("mtime".into(), Value::from(pm));
                    after.insert("mtime".into(), Value::from(nm));
                }
                if na != pa {
                    before.insert("atime".into(), Value::from(pa));
                    after.insert("atime".into(), Value::from(na));
                }
            }
            plan.ops.push(Op::Times {
                path: target.to_path_buf(),
                times: t,
            });
        }
        Ok(())
    };

    let mut diff_wanted = true;
    match o.state.as_str() {
        "absent" => {
            plan.set("path", pstr.clone());
            plan.set("state", "absent");
            if o.prev != "absent" {
                initial_diff(&mut before, &mut after, path, o.prev, "absent");
                if o.prev == "directory" {
                    let mut pc = IndexMap::new();
                    pc.insert("directories".to_string(), Value::from(f.walk_dirs.clone()));
                    pc.insert("files".to_string(), Value::from(f.walk_files.clone()));
                    before.insert("path_content".into(), Value::from_pairs(pc));
                }
                plan.ops.push(Op::Remove {
                    path: path.clone(),
                    dir: o.prev == "directory",
                });
            } else {
                diff_wanted = false;
            }
        }
        "file" => {
            let target = &f.attr_path;
            if !matches!(f.attr_prev, "file" | "hard") {
                return Err(ModuleError::new(format!(
                    "file ({}) is {}, cannot continue",
                    target.display(),
                    f.attr_prev
                ))
                .with("path", target.display().to_string())
                .with("state", f.attr_prev));
            }
            initial_diff(&mut before, &mut after, target, f.attr_prev, "file");
            plan.set("path", target.display().to_string());
            let cur = f.attr_meta.ok_or_else(|| err_path("cannot stat", target))?;
            plan_attrs_times(
                &mut plan,
                &mut before,
                &mut after,
                target,
                &cur,
                f.times,
                true,
            )?;
        }
        "directory" => {
            let target = &f.attr_path;
            initial_diff(&mut before, &mut after, target, f.attr_prev, "directory");
            plan.set("path", target.display().to_string());
            if f.attr_prev == "absent" {
                for d in &f.missing {
                    plan.ops.push(Op::Mkdir(d.clone()));
                    if !ctx.check_mode {
                        let parent = d.parent().unwrap_or(Path::new("/"));
                        let cur = Meta::new_dir(parent);
                        plan_attrs_times(&mut plan, &mut before, &mut after, d, &cur, None, true)?;
                    }
                }
                // Times apply to the final directory only; a fresh one has "now".
                plan.ops
                    .retain(|op| !matches!(op, Op::Times { path, .. } if path != target));
            } else if f.attr_prev != "directory" {
                let mut e = err_path(
                    format!("{} already exists as a {}", target.display(), f.attr_prev),
                    target,
                );
                e.fields.extend(path_info(target));
                return Err(e);
            } else {
                let cur = f.attr_meta.ok_or_else(|| err_path("cannot stat", target))?;
                plan_attrs_times(
                    &mut plan,
                    &mut before,
                    &mut after,
                    target,
                    &cur,
                    f.times,
                    true,
                )?;
                let (mut nb, mut na) = (IndexMap::new(), IndexMap::new());
                for e in &f.entries {
                    plan_attrs_times(
                        &mut plan,
                        &mut nb,
                        &mut na,
                        &e.path,
                        &e.meta,
                        Some(e.times),
                        false,
                    )?;
                }
            }
        }
        "touch" => {
            plan.set("dest", pstr.clone());
            if o.prev == "absent" {
                plan.ops.push(Op::Touch(path.clone()));
                if ctx.check_mode {
                    diff_wanted = false;
                }
            }
            if diff_wanted {
                initial_diff(&mut before, &mut after, path, o.prev, "touch");
                let target = &f.attr_path;
                let (cur, times) = match f.attr_meta {
                    Some(m) => (m, f.times),
                    None => (
                        Meta::new_file(path.parent().unwrap_or(Path::new("."))),
                        Some((o.now, o.now)),
                    ),
                };
                plan_attrs_times(
                    &mut plan,
                    &mut before,
                    &mut after,
                    target,
                    &cur,
                    times,
                    true,
                )?;
            }
        }
        "link" => {
            let follow = args.bool("follow");
            let force = args.bool("force");
            let src = src.or_else(|| {
                if follow && f.attr_meta.is_some() {
                    f.link_src.clone()
                } else {
                    None
                }
            });
            plan.set("dest", pstr.clone());
            plan.set("src", src.clone().map(Value::from).unwrap_or_default());
            if !force && src.is_some() && !f.absrc_exists {
                let rel = if o.prev != "link" && path.is_dir() {
                    path.clone()
                } else {
                    path.parent().map(Path::to_path_buf).unwrap_or_default()
                };
                let absrc = rel.join(src.as_deref().unwrap_or_default());
                return Err(ModuleError::new(format!(
                    "src file does not exist, use 'force=yes' if you really want to create the link: {}",
                    absrc.display()
                ))
                .with("path", pstr.clone())
                .with("src", src.unwrap_or_default()));
            }
            match o.prev {
                "directory" if !force => {
                    return Err(err_path(
                        format!("refusing to convert from directory to symlink for {pstr}"),
                        path,
                    ));
                }
                "directory" if f.dir_nonempty => {
                    return Err(err_path(
                        format!("the directory {pstr} is not empty, refusing to convert it"),
                        path,
                    ));
                }
                "file" | "hard" if !force => {
                    return Err(err_path(
                        format!("refusing to convert from {} to symlink for {pstr}", o.prev),
                        path,
                    ));
                }
                _ => {}
            }
            initial_diff(&mut before, &mut after, path, o.prev, "link");
            let mut link_changes = false;
            if o.prev != "link" {
                let Some(s) = &src else {
                    return Err(ModuleError::new(
                        "src is required for creating new symlinks",
                    ));
                };
                plan.ops.push(Op::Symlink {
                    src: s.clone(),
                    path: path.clone(),
                    replace: o.prev != "absent",
                    rmdir: o.prev == "directory",
                });
                link_changes = true;
            } else if let Some(s) = &src
                && f.link_src.as_deref() != Some(s.as_str())
            {
                before.insert(
                    "src".into(),
                    Value::from(f.link_src.clone().unwrap_or_default()),
                );
                after.insert("src".into(), Value::from(s.clone()));
                plan.ops.push(Op::Symlink {
                    src: s.clone(),
                    path: path.clone(),
                    replace: true,
                    rmdir: false,
                });
                link_changes = true;
            }
            let exists_after = !(ctx.check_mode && link_changes && o.prev == "absent");
            if exists_after && follow && src.is_some() && !f.absrc_exists {
                // Ansible warns (and sets nothing) on a link to a missing target.
                plan.set(
                    "warnings",
                    Value::from(vec![Value::from(
                        "Cannot set fs attributes on a non-existent symlink target. \
                         follow should be set to False to avoid this.",
                    )]),
                );
            }
            if exists_after {
                if follow {
                    // Attributes go to the link's target, if it exists.
                    if let Some(cur) = f.attr_meta
                        && f.attr_path != *path
                    {
                        plan_attrs_times(
                            &mut plan,
                            &mut before,
                            &mut after,
                            &f.attr_path,
                            &cur,
                            f.times,
                            true,
                        )?;
                    }
                } else {
                    let cur = if link_changes {
                        Meta {
                            mode: hfs::S_IFLNK | 0o777,
                            ..Meta::new_file(path.parent().unwrap_or(Path::new(".")))
                        }
                    } else {
                        f.attr_meta.ok_or_else(|| err_path("cannot stat", path))?
                    };
                    plan_attrs_times(
                        &mut plan,
                        &mut before,
                        &mut after,
                        path,
                        &cur,
                        f.times,
                        true,
                    )?;
                }
            }
        }
        "hard" => {
            let force = args.bool("force");
            plan.set("dest", pstr.clone());
            plan.set("src", src.clone().map(Value::from).unwrap_or_default());
            if o.prev != "hard" && src.is_none() {
                return Err(ModuleError::new(
                    "src is required for creating new hardlinks",
                ));
            }
            if let Some(s) = &src
                && f.src_ino.is_none()
            {
                return Err(ModuleError::new("src does not exist")
                    .with("dest", pstr.clone())
                    .with("src", s.clone()));
            }
            initial_diff(&mut before, &mut after, path, o.prev, "hard");
            let src_s = src.clone().unwrap_or_default();
            let fail = |msg: String| {
                ModuleError::new(msg)
                    .with("dest", pstr.clone())
                    .with("src", src_s.clone())
            };
            let mut changed = false;
            match o.prev {
                "absent" => changed = true,
                "link" => {
                    if f.link_src.as_deref() != src.as_deref() {
                        before.insert(
                            "src".into(),
                            Value::from(f.link_src.clone().unwrap_or_default()),
                        );
                        after.insert("src".into(), Value::from(src_s.clone()));
                        changed = true;
                    }
                }
                "hard" => {
                    if src.is_some() && f.path_ino != f.src_ino {
                        changed = true;
                        if !force {
                            return Err(fail(
                                "Cannot link, different hard link exists at destination".into(),
                            ));
                        }
                    }
                }
                "file" => {
                    changed = true;
                    if !force {
                        return Err(fail("Cannot link, file exists at destination".into()));
                    }
                }
                _ => {
                    // directory
                    if f.path_ino.is_some() && f.path_ino == f.src_ino {
                        let mut p = Plan::default();
                        p.set("path", pstr);
                        return Ok(p);
                    }
                    if !force {
                        return Err(fail(
                            "Cannot link: different hard link exists at destination".into(),
                        ));
                    }
                    changed = true;
                }
            }
            if changed {
                plan.ops.push(Op::Hardlink {
                    src: PathBuf::from(&src_s),
                    path: path.clone(),
                    replace: o.prev != "absent",
                    follow: args.bool("follow"),
                });
            }
            if !(ctx.check_mode && changed && o.prev == "absent") {
                // After linking, the path is the source's inode.
                let srcmeta = fs::metadata(&src_s)
                    .ok()
                    .map(|m| (Meta::from(&m), times_of(&m)));
                let (cur, times) = if changed {
                    match srcmeta {
                        Some((m, t)) => (m, Some(t)),
                        None => (
                            f.attr_meta.unwrap_or(Meta::new_file(Path::new("."))),
                            f.times,
                        ),
                    }
                } else {
                    match f.attr_meta {
                        Some(m) => (m, f.times),
                        None => return Ok(plan),
                    }
                };
                plan_attrs_times(&mut plan, &mut before, &mut after, path, &cur, times, true)?;
            }
        }
        other => {
            return Err(ModuleError::new(format!("unexpected state {other}")));
        }
    }
    if diff_wanted {
        plan.diff.push(Diff {
            before: Value::from_pairs(before),
            after: Value::from_pairs(after),
            before_header: None,
            after_header: None,
        });
    }
    let shown = plan
        .result
        .get("path")
        .or_else(|| plan.result.get("dest"))
        .and_then(|v| v.as_str())
        .map(PathBuf::from);
    // Path info is that of after the change: apply adds it when there is one. Without
    // one the path is as observed.
    if let Some(p) = shown
        && (ctx.check_mode || plan.is_empty())
    {
        let info = match &f.attr_lstat {
            Some(l) if p.as_os_str() == f.attr_path.as_os_str() => path_info_lstat(&p, l),
            _ => path_info(&p),
        };
        plan.result.extend(info);
    }
    Ok(plan)
}

/// Ansible's `check_owner_exists` / `check_group_exists` (check mode only): the warning for
/// an account that is not there, by name or by number.
fn missing_account_warning(kind: &str, name: &str) -> Option<String> {
    let (by_number, exists) = match name.parse::<u32>() {
        Ok(id) if kind == "user" => (Some(id), users::user_by_uid(id).is_some()),
        Ok(id) => (Some(id), users::group_by_gid(id).is_some()),
        Err(_) if kind == "user" => (None, users::user(name).is_some()),
        Err(_) => (None, users::group(name).is_some()),
    };
    if exists {
        return None;
    }
    let what = match (kind, by_number) {
        ("user", Some(id)) => format!("user with uid {id}"),
        (_, Some(id)) => format!("group with gid {id}"),
        (k, None) => format!("{k} {name}"),
    };
    Some(format!(
        "failed to look up {what}. Create {kind} up to this point in real play"
    ))
}

/// `None`: nothing to do; `Some(None)`: set both to now; `Some(Some((a, m)))`.
#[allow(clippy::option_option)]
fn plan_times(
    mtime: Stamp,
    atime: Stamp,
    current: Option<(f64, f64)>,
    now: f64,
) -> Option<Option<(f64, f64)>> {
    if mtime == Stamp::Now && atime == Stamp::Now {
        return Some(None);
    }
    if mtime == Stamp::Preserve && atime == Stamp::Preserve {
        return None;
    }
    let (pa, pm) = current?;
    let pick = |s: Stamp, prev: f64| match s {
        Stamp::Preserve => prev,
        Stamp::Now => now,
        Stamp::At(t) => t,
    };
    let (a, m) = (pick(atime, pa), pick(mtime, pm));
    if a == pa && m == pm {
        None
    } else {
        Some(Some((a, m)))
    }
}

fn tmp_sibling(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let t = epoch_f64(std::time::SystemTime::now());
    dir.join(format!(".{}.{}.tmp", std::process::id(), t))
}

fn set_times(path: &Path, times: Option<(f64, f64)>) -> io::Result<()> {
    use nix::sys::stat::{UtimensatFlags, utimensat};
    use nix::sys::time::TimeSpec;
    let ts = |t: f64| {
        let secs = t.floor();
        TimeSpec::new(secs as i64, ((t - secs) * 1e9) as i64)
    };
    let (a, m) = match times {
        Some((a, m)) => (ts(a), ts(m)),
        None => (TimeSpec::UTIME_NOW, TimeSpec::UTIME_NOW),
    };
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &a,
        &m,
        UtimensatFlags::FollowSymlink,
    )
    .map_err(io::Error::from)
}

/// Carry out one planned step (also for `copy`'s links).
pub(crate) fn apply_op(op: &Op) -> Result<(), ModuleError> {
    match op {
        Op::Mkdir(p) => match fs::create_dir(p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && p.is_dir() => Ok(()),
            Err(e) => Err(err_path(
                format!(
                    "There was an issue creating {} as requested: {e}",
                    p.display()
                ),
                p,
            )),
        },
        Op::Touch(p) => fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(p)
            .map(drop)
            .map_err(|e| {
                err_path("Error, could not touch target.", p).with("details", e.to_string())
            }),
        Op::Remove { path, dir } => {
            if *dir {
                fs::remove_dir_all(path)
                    .map_err(|e| ModuleError::new(format!("rmtree failed: {e}")))
            } else {
                match fs::remove_file(path) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                    Err(e) => {
                        Err(err_path("Unlinking failed.", path).with("details", e.to_string()))
                    }
                }
            }
        }
        Op::Symlink {
            src,
            path,
            replace,
            rmdir,
        } => {
            if *replace {
                let tmp = tmp_sibling(path);
                let r = (|| {
                    if *rmdir {
                        fs::remove_dir(path)?;
                    }
                    std::os::unix::fs::symlink(src, &tmp)?;
                    fs::rename(&tmp, path)
                })();
                r.map_err(|e| {
                    let _ = fs::remove_file(&tmp);
                    err_path(format!("Error while replacing: {e}"), path)
                })
            } else {
                std::os::unix::fs::symlink(src, path)
                    .map_err(|e| err_path(format!("Error while linking: {e}"), path))
            }
        }
        Op::Hardlink {
            src,
            path,
            replace,
            follow,
        } => {
            if *replace {
                let tmp = tmp_sibling(path);
                let r = fs::hard_link(src, &tmp).and_then(|()| fs::rename(&tmp, path));
                r.map_err(|e| {
                    let _ = fs::remove_file(&tmp);
                    err_path(format!("Error while replacing: {e}"), path)
                })
            } else {
                let mut s = src.clone();
                if *follow
                    && fs::symlink_metadata(&s).is_ok_and(|m| m.file_type().is_symlink())
                    && let Ok(t) = fs::read_link(&s)
                {
                    s = t;
                }
                fs::hard_link(&s, path)
                    .map_err(|e| err_path(format!("Error while linking: {e}"), path))
            }
        }
        Op::Attrs { path, changes } => apply_attrs(path, changes),
        Op::Times { path, times } => set_times(path, *times).map_err(|e| {
            err_path(
                format!("Error while updating modification or access time: {e}"),
                path,
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_plan() {
        assert_eq!(plan_times(Stamp::Now, Stamp::Now, None, 5.0), Some(None));
        assert_eq!(
            plan_times(Stamp::Preserve, Stamp::Preserve, Some((1.0, 2.0)), 5.0),
            None
        );
        assert_eq!(
            plan_times(Stamp::At(2.0), Stamp::Preserve, Some((1.0, 2.0)), 5.0),
            None
        );
        assert_eq!(
            plan_times(Stamp::At(3.0), Stamp::Preserve, Some((1.0, 2.0)), 5.0),
            Some(Some((1.0, 3.0)))
        );
    }

    #[test]
    fn check_mode_warns_about_missing_accounts() {
        assert_eq!(missing_account_warning("user", "root"), None);
        assert_eq!(missing_account_warning("group", "0"), None);
        assert_eq!(
            missing_account_warning("user", "no-such-user-here").as_deref(),
            Some(
                "failed to look up user no-such-user-here. Create user up to this point in real play"
            )
        );
        assert_eq!(
            missing_account_warning("user", "3999999").as_deref(),
            Some(
                "failed to look up user with uid 3999999. Create user up to this point in real play"
            )
        );
        assert_eq!(
            missing_account_warning("group", "3999999").as_deref(),
            Some(
                "failed to look up group with gid 3999999. Create group up to this point in real play"
            )
        );
    }

    #[test]
    fn parses_times() {
        let t = parse_time("202401021504.05", "%Y%m%d%H%M.%S").unwrap();
        let back = jiff::Timestamp::from_second(t as i64)
            .unwrap()
            .to_zoned(agent_template::localtime::zone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string();
        assert_eq!(back, "2024-01-02 15:04:05");
        let e = parse_time("junk", "%Y%m%d%H%M.%S").unwrap_err();
        assert!(
            e.msg
                .starts_with("Error while obtaining timestamp for time junk")
        );
    }
}
