//! The `unarchive` module (ansible.builtin.unarchive): unpack a tar (plain, gz, bz2, xz,
//! zst) or zip archive into an existing directory. The archive is read in-process
//! (host/archive.rs). Observe lists the members and compares each with what is on disk
//! (as Ansible's `tar --diff` / zipinfo comparison: type, size, content, mtime, mode,
//! owner, link target); plan extracts only the members that differ, then sets
//! owner/group/mode on every member and top folder as `set_fs_attributes_if_different`.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::host::archive::{self, ArchiveError, ExtractOpts, Format, Kind, Member, Options};
use crate::host::fs::{self as hfs, AttrChange, FileAttrs, Meta};
use crate::host::http;
use crate::spec::{Arg, Args, Def, FILE_COMMON, Ty};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap, Value};

pub struct Unarchive;

const SPEC: &[Arg] = &[
    Arg::path("src").required(),
    Arg::path("dest").required(),
    Arg::bool("remote_src", false),
    Arg::path("creates"),
    Arg::bool("list_files", false),
    Arg::bool("keep_newer", false),
    Arg::list("exclude"),
    Arg::list("include"),
    Arg::list("extra_opts"),
    Arg::bool("validate_certs", true),
    Arg::int("io_buffer_size").default(Def::Int(64 * 1024)),
    Arg::new("copy", Ty::Bool),
    Arg::bool("decrypt", true),
];

const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;

/// What is on disk at a member's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disk {
    pub meta: Meta,
    pub size: u64,
    pub mtime: i64,
}

/// One member (the last of its path) and the state of its path.
#[derive(Debug)]
pub struct MemberState {
    pub m: Member,
    pub disk: Option<Disk>,
    /// Regular files of equal size: whether the bytes are equal.
    pub content_same: Option<bool>,
    /// Symlinks: the target on disk. Hard links: whether it is the same inode.
    pub link_same: Option<bool>,
}

#[derive(Debug)]
pub enum Observed {
    /// `creates` exists.
    Skipped(String),
    Archive(Box<ArchiveState>),
}

#[derive(Debug)]
pub struct ArchiveState {
    src: PathBuf,
    /// A downloaded `src` (kept alive until apply).
    _download: Option<tempfile::NamedTempFile>,
    fmt: Format,
    dest: PathBuf,
    opts: ExtractOpts,
    /// `files_in_archive`: member names in archive order (after include/exclude).
    files: Vec<String>,
    members: Vec<MemberState>,
    /// Top folders without a member of their own (attributes are set on them too).
    top_folders: Vec<(String, Option<Meta>)>,
    run_uid: u32,
    run_gid: u32,
}

#[derive(Debug)]
pub enum Op {
    /// Extract these members (by archive index).
    Extract(HashSet<usize>),
    /// Set attributes on a path after extraction.
    Attrs(PathBuf, Vec<AttrChange>),
}

fn fnmatch(pattern: &str, name: &str) -> bool {
    glob::Pattern::new(pattern).is_ok_and(|p| p.matches(name))
}

fn included(name: &str, include: &[String], exclude: &[String]) -> bool {
    let bare = name.trim_end_matches('/');
    if !include.is_empty() {
        return include.iter().any(|p| {
            fnmatch(p, name)
                || fnmatch(p, bare)
                || name.starts_with(&format!("{}/", p.trim_end_matches('/')))
        });
    }
    !exclude.iter().any(|p| {
        fnmatch(p, name)
            || fnmatch(p, bare)
            || bare
                .match_indices('/')
                .any(|(i, _)| fnmatch(p, &bare[i + 1..]) || fnmatch(p, &bare[..i]))
    })
}

/// `extra_opts` we honour; anything else is refused.
fn parse_extra_opts(fmt: Format, opts: &[String]) -> Result<(Options, bool, bool), ModuleError> {
    let mut o = Options::default();
    let (mut no_same_owner, mut no_same_perms) = (false, false);
    let mut it = opts.iter().peekable();
    while let Some(x) = it.next() {
        let strip = |v: &str| {
            v.parse::<usize>().map_err(|_| {
                ModuleError::new(format!(
                    "extra_opts: invalid --strip-components value '{v}'"
                ))
            })
        };
        match (fmt, x.as_str()) {
            (Format::Tar(_), s)
                if s.starts_with("--strip-components=") || s.starts_with("--strip=") =>
            {
                o.strip_components = strip(s.split_once('=').map_or("", |(_, v)| v))?;
            }
            (Format::Tar(_), "--strip-components" | "--strip") => {
                let v = it.next().map(String::as_str).unwrap_or_default();
                o.strip_components = strip(v)?;
            }
            (Format::Tar(_), "--no-same-owner") => no_same_owner = true,
            (Format::Tar(_), "--no-same-permissions") => no_same_perms = true,
            (Format::Tar(_), "--same-owner" | "--same-permissions" | "-p") => {}
            (Format::Zip, "-o") => {}
            _ => {
                return Err(ModuleError::new(format!(
                    "extra_opts '{x}' is not supported for {} (supported: --strip-components=N, \
                     --no-same-owner, --no-same-permissions for tar archives)",
                    fmt.handler()
                )));
            }
        }
    }
    Ok((o, no_same_owner, no_same_perms))
}

fn disk_of(md: &std::fs::Metadata) -> Disk {
    Disk {
        meta: Meta::from(md),
        size: md.size(),
        mtime: md.mtime(),
    }
}

fn arch_err(e: ArchiveError) -> ModuleError {
    ModuleError::new(e.to_string())
}

/// Find `src`: the controller's file (role files/, playbook dir) or, with remote_src,
/// the path on the host, downloading a URL.
fn locate_src(
    args: &Args,
    ctx: &Ctx<'_>,
    remote_src: bool,
) -> Result<(PathBuf, Option<tempfile::NamedTempFile>), ModuleError> {
    let src_s = args.str("src").unwrap_or_default();
    if !remote_src {
        if src_s.contains("://") {
            return Err(ModuleError::new(format!(
                "Unsupported option, an URI src ({src_s}) is only supported when remote_src is True"
            )));
        }
        // Found on the controller's side: as root, also in a task that becomes another
        // user.
        let found = crate::host::creds::as_controller(|| {
            ctx.files.find("files", src_s).or_else(|| {
                let p = PathBuf::from(src_s);
                (p.is_absolute() && p.exists()).then_some(p)
            })
        })
            .ok_or_else(|| {
                ModuleError::new(format!(
                    "Could not find or access '{src_s}' on the Ansible Controller.\n\
                     If you are using a module and expect the file to exist on the remote, see the remote_src option"
                ))
            })?;
        return Ok((std::path::absolute(&found).unwrap_or(found), None));
    }
    let p = PathBuf::from(src_s);
    if p.exists() {
        return Ok((std::path::absolute(&p).unwrap_or(p), None));
    }
    if !src_s.contains("://") {
        return Err(ModuleError::new(format!("Source '{src_s}' does not exist")));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".ansible_unarchive_src")
        .tempfile()
        .map_err(|e| ModuleError::new(format!("Failure downloading {src_s}, {e}")))?;
    let req = http::Request {
        url: src_s,
        timeout_secs: 10,
        validate_certs: args.bool("validate_certs"),
        user_agent: "ansible-httpget".into(),
        // fetch_file's defaults
        use_netrc: true,
        netrc: http::task_netrc(ctx.environment),
        decompress: true,
        ..http::Request::default()
    };
    let resp = http::fetch(&req, tmp.as_file_mut())
        .map_err(|m| ModuleError::new(format!("Failure downloading {src_s}, {m}")))?;
    if resp.status != 200 {
        return Err(ModuleError::new(format!(
            "Failure downloading {src_s}, {}",
            resp.msg
        )));
    }
    let path = tmp.path().to_path_buf();
    Ok((path, Some(tmp)))
}

impl Module for Unarchive {
    const SPECS: &'static [&'static [Arg]] = &[SPEC, FILE_COMMON];
    type Observed = Observed;
    type Op = Op;

    fn observe(args: &Args, ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        let mut remote_src = args.bool("remote_src");
        if let Some(copy) = args.opt_bool("copy") {
            if args.is_set("remote_src") && args.get("remote_src") != Some(&Value::from(false)) {
                return Err(ModuleError::new(
                    "parameters are mutually exclusive: ('copy', 'remote_src')",
                ));
            }
            remote_src = !copy;
        }
        if !args.list("include").is_empty() && !args.list("exclude").is_empty() {
            return Err(ModuleError::new(
                "parameters are mutually exclusive: include|exclude",
            ));
        }
        if let Some(c) = args.str("creates")
            && Path::new(c).exists()
        {
            return Ok(Observed::Skipped(format!("skipped, since {c} exists")));
        }
        let dest_s = args.str("dest").unwrap_or_default();
        let dest = PathBuf::from(dest_s);
        if !dest.is_dir() {
            return Err(ModuleError::new(format!(
                "dest '{dest_s}' must be an existing dir"
            )));
        }
        let (src, download) = locate_src(args, ctx, remote_src)?;
        let size = std::fs::metadata(&src)
            .map_err(|e| ModuleError::new(format!("Source '{}' not readable, {e}", src.display())))?
            .len();
        if size == 0 {
            return Err(ModuleError::new(format!(
                "Invalid archive '{}', the file is 0 bytes",
                src.display()
            )));
        }
        let fmt = archive::detect(&src)
            .map_err(|e| ModuleError::new(format!("Source '{}' not readable, {e}", src.display())))?
            .ok_or_else(|| {
                ModuleError::new(format!(
                    "Failed to find handler for \"{}\". Make sure the required command to extract the file is installed.\n\
                     The file is neither a zip archive nor a (compressed) tar archive",
                    src.display()
                ))
            })?;
        let (read, no_same_owner, no_same_perms) =
            parse_extra_opts(fmt, &args.list_str("extra_opts"))?;
        let run_uid = crate::host::creds::fsuid();
        let run_gid = crate::host::creds::fsgid();
        let proc_umask = hfs::umask();
        let is_tar = matches!(fmt, Format::Tar(_));
        let opts = ExtractOpts {
            read,
            same_owner: is_tar && run_uid == 0 && !no_same_owner,
            umask: if is_tar && run_uid == 0 && !no_same_perms {
                0
            } else if is_tar {
                proc_umask
            } else {
                0
            },
        };
        let include = args.list_str("include");
        let exclude = args.list_str("exclude");
        let dest_real = std::fs::canonicalize(&dest)
            .map_err(|e| ModuleError::io("Unable to resolve", &dest, &e))?;
        let mut files = Vec::new();
        let mut by_rel: HashMap<PathBuf, usize> = HashMap::new();
        let mut members: Vec<MemberState> = Vec::new();
        let keep_newer = args.bool("keep_newer");
        let mut scan = |m: &Member, data: &mut dyn std::io::Read| -> Result<(), ArchiveError> {
            if !included(&m.name, &include, &exclude) {
                return Ok(());
            }
            files.push(m.name.clone());
            archive::check_inside(&dest_real, &m.rel)?;
            let path = dest_real.join(&m.rel);
            let md = archive::lstat(&path)?;
            let disk = md.as_ref().map(disk_of);
            let mut content_same = None;
            let mut link_same = None;
            match (&m.kind, &md) {
                (Kind::File, Some(md)) if md.is_file() && md.size() == m.size => {
                    let newer_skip = keep_newer && md.mtime() > m.mtime;
                    if !newer_skip {
                        content_same = Some(archive::same_content(&path, data)?);
                    }
                }
                (Kind::Symlink(t), Some(md)) if md.file_type().is_symlink() => {
                    link_same = Some(std::fs::read_link(&path).is_ok_and(|d| &d == t));
                }
                (Kind::Hardlink(t), Some(md)) => {
                    let same = std::fs::symlink_metadata(dest_real.join(t))
                        .is_ok_and(|o| o.ino() == md.ino() && o.dev() == md.dev());
                    link_same = Some(same);
                }
                _ => {}
            }
            let st = MemberState {
                m: m.clone(),
                disk,
                content_same,
                link_same,
            };
            match by_rel.get(&m.rel) {
                Some(&i) => members[i] = st,
                None => {
                    by_rel.insert(m.rel.clone(), members.len());
                    members.push(st);
                }
            }
            Ok(())
        };
        archive::scan(&src, fmt, read, &mut scan).map_err(|e| match e {
            ArchiveError::Format(m) => ModuleError::new(format!(
                "Failed to find handler for \"{}\". Make sure the required command to extract the file is installed.\n{m}",
                src.display()
            )),
            other => arch_err(other),
        })?;
        let mut top_folders = Vec::new();
        let mut seen = HashSet::new();
        for name in &files {
            if let Some((top, _)) = name.split_once('/')
                && seen.insert(top.to_string())
            {
                let rel = PathBuf::from(top);
                let covered = by_rel.contains_key(&rel) || top.is_empty() || top == ".";
                if !covered {
                    let md = archive::lstat(&dest_real.join(&rel)).map_err(|e| {
                        ModuleError::io("Unable to read", &dest_real.join(&rel), &e)
                    })?;
                    top_folders.push((top.to_string(), md.as_ref().map(Meta::from)));
                }
            }
        }
        Ok(Observed::Archive(Box::new(ArchiveState {
            src,
            _download: download,
            fmt,
            dest: dest_real,
            opts,
            files,
            members,
            top_folders,
            run_uid,
            run_gid,
        })))
    }

    fn plan(args: &Args, o: &Observed, _ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        let mut plan = Plan::default();
        let st = match o {
            Observed::Skipped(msg) => {
                plan.set("skipped", true);
                plan.set("changed", false);
                plan.set("msg", msg.as_str());
                return Ok(plan);
            }
            Observed::Archive(st) => st,
        };
        let attrs = FileAttrs::from_args(args)?;
        let keep_newer = args.bool("keep_newer");
        let proc_umask = hfs::umask();
        let is_tar = matches!(st.fmt, Format::Tar(_));
        let mut extract = HashSet::new();
        let mut after: Vec<(PathBuf, Meta, bool)> = Vec::new();
        let mut reasons: Vec<String> = Vec::new();
        for ms in &st.members {
            let m = &ms.m;
            let path = st.dest.join(&m.rel);
            let shown = if m.rel.as_os_str().is_empty() {
                "."
            } else {
                m.name.as_str()
            };
            let want_type = match m.kind {
                Kind::File | Kind::Hardlink(_) => S_IFREG,
                Kind::Dir => S_IFDIR,
                Kind::Symlink(_) => S_IFLNK,
            };
            let want_mode = archive::extracted_mode(m, st.opts.umask, proc_umask);
            let (want_uid, want_gid) = match (st.opts.same_owner, m.owner) {
                (true, Some(o)) => o,
                _ => (st.run_uid, st.run_gid),
            };
            let mut diff = Vec::new();
            let mut skip = false;
            match &ms.disk {
                None => diff.push(format!("Path {shown} is missing")),
                Some(d) if d.meta.mode & S_IFMT != want_type => {
                    diff.push(format!("Path {shown} exists with another file type"));
                }
                Some(d) => {
                    if m.kind == Kind::File {
                        if keep_newer && d.mtime > m.mtime {
                            skip = true;
                        } else if d.mtime != m.mtime {
                            diff.push(format!("File {shown} differs in mtime"));
                        }
                        if !skip && d.size != m.size {
                            diff.push(format!("File {shown} differs in size"));
                        } else if ms.content_same == Some(false) {
                            diff.push(format!("File {shown} differs in content"));
                        }
                    }
                    if matches!(m.kind, Kind::Symlink(_) | Kind::Hardlink(_))
                        && ms.link_same == Some(false)
                    {
                        diff.push(format!("Link {shown} differs"));
                    }
                    let plain = matches!(m.kind, Kind::File | Kind::Dir);
                    if !skip && plain && attrs.mode.is_none() && d.meta.perms() != want_mode {
                        diff.push(format!("Path {shown} differs in permissions"));
                    }
                    let check_owner = !skip
                        && !matches!(m.kind, Kind::Hardlink(_))
                        && (st.run_uid == 0 || !is_tar);
                    if check_owner && attrs.owner.is_none() && d.meta.uid != want_uid {
                        diff.push(format!("Path {shown} differs in owner"));
                    }
                    if check_owner && attrs.group.is_none() && d.meta.gid != want_gid {
                        diff.push(format!("Path {shown} differs in group"));
                    }
                }
            }
            let extracting = !diff.is_empty();
            if extracting {
                extract.insert(m.index);
                reasons.extend(diff);
            }
            let meta = match (&ms.disk, extracting) {
                (Some(d), false) => d.meta,
                _ => Meta {
                    uid: want_uid,
                    gid: want_gid,
                    mode: want_type
                        | if want_type == S_IFLNK {
                            0o777
                        } else {
                            want_mode
                        },
                },
            };
            after.push((path, meta, want_type == S_IFLNK));
        }
        // A hard link to a member that is written again must be made again.
        let extracted_rels: HashSet<&PathBuf> = st
            .members
            .iter()
            .filter(|ms| extract.contains(&ms.m.index))
            .map(|ms| &ms.m.rel)
            .collect();
        let relink: Vec<usize> = st
            .members
            .iter()
            .filter(|ms| matches!(&ms.m.kind, Kind::Hardlink(t) if extracted_rels.contains(t)))
            .map(|ms| ms.m.index)
            .collect();
        extract.extend(relink);
        for (top, meta) in &st.top_folders {
            let path = st.dest.join(top);
            let meta = meta.unwrap_or_else(|| Meta::new_dir(&st.dest));
            after.push((path, meta, meta.is_link()));
        }
        if !extract.is_empty() {
            plan.ops.push(Op::Extract(extract));
        }
        if !attrs.is_empty() {
            for (path, meta, is_link) in after {
                let mut changes = hfs::plan_attrs(&path, &meta, &attrs)?;
                if is_link {
                    changes.retain(|c| !matches!(c, AttrChange::Mode { .. }));
                }
                if !changes.is_empty() {
                    plan.ops.push(Op::Attrs(path, changes));
                }
            }
        }
        let dest_s = args.str("dest").unwrap_or_default();
        plan.set("handler", st.fmt.handler());
        plan.set("dest", dest_s);
        plan.set("src", st.src.display().to_string());
        for (k, v) in hfs::path_info(Path::new(dest_s)) {
            plan.result.insert(k, v);
        }
        if args.bool("list_files") {
            plan.set("files", Value::from(st.files.clone()));
        }
        Ok(plan)
    }

    fn apply(
        args: &Args,
        o: Observed,
        plan: &Plan<Op>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let Observed::Archive(st) = o else {
            return Ok(ResultMap::new());
        };
        let mut out = ResultMap::new();
        let attrs = FileAttrs::from_args(args)?;
        let extracted = plan.ops.iter().any(|op| matches!(op, Op::Extract(_)));
        for op in &plan.ops {
            match op {
                Op::Extract(select) => {
                    archive::extract(&st.src, st.fmt, &st.dest, select, st.opts).map_err(|e| {
                        ModuleError::new(format!(
                            "failed to unpack {} to {}: {e}",
                            st.src.display(),
                            args.str("dest").unwrap_or_default()
                        ))
                    })?;
                    out.insert("extract_results".into(), extract_results(args, &st));
                }
                Op::Attrs(path, planned) if !extracted => {
                    hfs::apply_attrs(path, planned)?;
                }
                Op::Attrs(path, _) => {
                    // Re-read: extraction may have changed what the plan assumed.
                    let Some(md) = archive::lstat(path)
                        .map_err(|e| ModuleError::io("Unable to read", path, &e))?
                    else {
                        continue;
                    };
                    let meta = Meta::from(&md);
                    let mut changes = hfs::plan_attrs(path, &meta, &attrs)?;
                    if meta.is_link() {
                        changes.retain(|c| !matches!(c, AttrChange::Mode { .. }));
                    }
                    hfs::apply_attrs(path, &changes)?;
                }
            }
        }
        let dest_s = args.str("dest").unwrap_or_default();
        for (k, v) in hfs::path_info(Path::new(dest_s)) {
            out.insert(k, v);
        }
        Ok(out)
    }
}

/// Ansible's `extract_results`: the command its handler would have run.
fn extract_results(args: &Args, st: &ArchiveState) -> Value {
    let src = st.src.display().to_string();
    let dest = st.dest.display().to_string();
    let mut cmd: Vec<String> = Vec::new();
    match st.fmt {
        Format::Zip => {
            cmd.extend(["/usr/bin/unzip".into(), "-o".into()]);
            cmd.extend(args.list_str("extra_opts"));
            cmd.push(src);
            let ex = args.list_str("exclude");
            if !ex.is_empty() {
                cmd.push("-x".into());
                cmd.extend(ex);
            }
            cmd.extend(args.list_str("include"));
            cmd.extend(["-d".into(), dest]);
        }
        Format::Tar(_) => {
            cmd.extend(["/usr/bin/tar".into(), "--extract".into(), "-C".into(), dest]);
            if let Some(f) = st.fmt.tar_flag() {
                cmd.push(f.into());
            }
            let extra = args.list_str("extra_opts");
            if !extra.is_empty() {
                cmd.push("--show-transformed-names".into());
                cmd.extend(extra);
            }
            if let Some(o) = args.str("owner") {
                cmd.push(format!("--owner={o}"));
            }
            if let Some(g) = args.str("group") {
                cmd.push(format!("--group={g}"));
            }
            if args.bool("keep_newer") {
                cmd.push("--keep-newer-files".into());
            }
            cmd.extend(
                args.list_str("exclude")
                    .into_iter()
                    .map(|e| format!("--exclude={e}")),
            );
            cmd.extend(["-f".into(), src]);
            cmd.extend(args.list_str("include"));
        }
    }
    let mut m = indexmap::IndexMap::new();
    m.insert("cmd".to_string(), Value::from(cmd));
    m.insert("err".to_string(), Value::from(""));
    m.insert("out".to_string(), Value::from(""));
    m.insert("rc".to_string(), Value::from(0));
    Value::from_pairs(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{args_of, ctx_run};
    use std::fs;
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt;

    /// A tar.gz with a dir, two files (one 0600), a symlink and a hard link.
    fn make_tgz(path: &Path, content: &[u8]) {
        let f = fs::File::create(path).unwrap();
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
        let mut b = tar::Builder::new(gz);
        let mut h = gnu_header();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o750);
        h.set_mtime(1_600_000_000);
        h.set_size(0);
        h.set_uid(0);
        h.set_gid(0);
        b.append_data(&mut h, "app/", std::io::empty()).unwrap();
        for (name, mode, data) in [("app/a.txt", 0o644, content), ("app/secret", 0o600, b"s3")] {
            let mut h = gnu_header();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(mode);
            h.set_mtime(1_600_000_000);
            h.set_size(data.len() as u64);
            h.set_uid(0);
            h.set_gid(0);
            b.append_data(&mut h, name, data).unwrap();
        }
        let mut h = gnu_header();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_mtime(1_600_000_000);
        h.set_size(0);
        b.append_link(&mut h, "app/link", "a.txt").unwrap();
        let mut h = gnu_header();
        h.set_entry_type(tar::EntryType::Link);
        h.set_mode(0o644);
        h.set_mtime(1_600_000_000);
        h.set_size(0);
        b.append_link(&mut h, "app/hard", "app/a.txt").unwrap();
        b.into_inner().unwrap().finish().unwrap();
    }

    fn make_zip(path: &Path) {
        let f = fs::File::create(path).unwrap();
        let mut z = zip::ZipWriter::new(f);
        let t = zip::DateTime::from_date_and_time(2021, 3, 4, 5, 6, 8).unwrap();
        let o = zip::write::SimpleFileOptions::default()
            .last_modified_time(t)
            .unix_permissions(0o755);
        z.add_directory("d/", o).unwrap();
        let o = o.unix_permissions(0o640);
        z.start_file("d/x.txt", o).unwrap();
        z.write_all(b"hello zip\n").unwrap();
        z.finish().unwrap();
    }

    fn run(pairs: &[(&str, Value)], check: bool) -> ResultMap {
        let args = args_of::<Unarchive>(pairs);
        ctx_run(check, |ctx| {
            let o = Unarchive::observe(&args, ctx)?;
            let p = Unarchive::plan(&args, &o, ctx)?;
            let mut r = p.result.clone();
            r.insert("changed".into(), Value::from(!p.ops.is_empty()));
            if !check && !p.ops.is_empty() {
                r.extend(Unarchive::apply(&args, o, &p, ctx)?);
            }
            Ok(r)
        })
    }

    fn changed(r: &ResultMap) -> bool {
        r.get("changed") == Some(&Value::from(true))
    }

    fn base(src: &Path, dest: &Path) -> Vec<(&'static str, Value)> {
        vec![
            ("src", Value::from(src.display().to_string())),
            ("dest", Value::from(dest.display().to_string())),
            ("remote_src", Value::from(true)),
        ]
    }

    #[test]
    fn tgz_extracts_then_is_idempotent() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("a.tgz");
        make_tgz(&src, b"hello\n");
        let dest = t.path().join("out");
        fs::create_dir(&dest).unwrap();
        let mut a = base(&src, &dest);
        a.push(("list_files", Value::from(true)));
        let r = run(&a, true);
        assert!(changed(&r));
        assert!(!dest.join("app").exists(), "check mode changes nothing");
        assert_eq!(r.get("handler"), Some(&Value::from("TgzArchive")));
        let r = run(&a, false);
        assert!(changed(&r));
        assert!(r.contains_key("extract_results"));
        assert_eq!(fs::read(dest.join("app/a.txt")).unwrap(), b"hello\n");
        let md = fs::metadata(dest.join("app/secret")).unwrap();
        assert_eq!(md.permissions().mode() & 0o7777, 0o600);
        assert_eq!(md.mtime(), 1_600_000_000);
        assert_eq!(
            fs::read_link(dest.join("app/link")).unwrap(),
            PathBuf::from("a.txt")
        );
        assert_eq!(
            fs::metadata(dest.join("app/hard")).unwrap().ino(),
            fs::metadata(dest.join("app/a.txt")).unwrap().ino()
        );
        let files = r.get("files").unwrap();
        assert_eq!(files.len(), Some(5));
        let r = run(&a, false);
        assert!(!changed(&r), "second run: {r:?}");
        // A changed file (same size, same mtime) is put back.
        fs::write(dest.join("app/a.txt"), b"HELLO\n").unwrap();
        let t0 = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
        fs::File::options()
            .write(true)
            .open(dest.join("app/a.txt"))
            .unwrap()
            .set_modified(t0)
            .unwrap();
        assert!(changed(&run(&a, false)));
        assert_eq!(fs::read(dest.join("app/a.txt")).unwrap(), b"hello\n");
        assert!(!changed(&run(&a, false)));
    }

    #[test]
    fn mode_param_applies_to_members() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("a.tgz");
        make_tgz(&src, b"x");
        let dest = t.path().join("out");
        fs::create_dir(&dest).unwrap();
        let mut a = base(&src, &dest);
        a.push(("mode", Value::from("0700")));
        assert!(changed(&run(&a, false)));
        let md = fs::metadata(dest.join("app/a.txt")).unwrap();
        assert_eq!(md.permissions().mode() & 0o7777, 0o700);
        assert!(!changed(&run(&a, false)));
    }

    #[test]
    fn zip_extracts_then_is_idempotent() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("a.zip");
        make_zip(&src);
        let dest = t.path().join("out");
        fs::create_dir(&dest).unwrap();
        let a = base(&src, &dest);
        let r = run(&a, false);
        assert!(changed(&r));
        assert_eq!(r.get("handler"), Some(&Value::from("ZipArchive")));
        assert_eq!(fs::read(dest.join("d/x.txt")).unwrap(), b"hello zip\n");
        let md = fs::metadata(dest.join("d/x.txt")).unwrap();
        assert_eq!(md.permissions().mode() & 0o7777, 0o640);
        assert!(!changed(&run(&a, false)));
        fs::set_permissions(dest.join("d/x.txt"), fs::Permissions::from_mode(0o600)).unwrap();
        assert!(changed(&run(&a, false)));
        assert!(!changed(&run(&a, false)));
    }

    #[test]
    fn creates_skips() {
        let t = tempfile::tempdir().unwrap();
        let mut a = base(&t.path().join("none.tgz"), t.path());
        a.push(("creates", Value::from(t.path().display().to_string())));
        let r = run(&a, false);
        assert_eq!(r.get("skipped"), Some(&Value::from(true)));
        assert!(!changed(&r));
    }

    #[test]
    fn xz_bz2_zstd_and_strip_components() {
        let t = tempfile::tempdir().unwrap();
        let mut plain = Vec::new();
        {
            let mut b = tar::Builder::new(&mut plain);
            let mut h = gnu_header();
            h.set_mode(0o644);
            h.set_size(3);
            h.set_mtime(1_500_000_000);
            b.append_data(&mut h, "top/inner/f", &b"abc"[..]).unwrap();
            b.finish().unwrap();
        }
        let xz = t.path().join("a.tar.xz");
        let mut w = lzma_rust2::XzWriter::new(
            fs::File::create(&xz).unwrap(),
            lzma_rust2::XzOptions::default(),
        )
        .unwrap();
        w.write_all(&plain).unwrap();
        w.finish().unwrap();
        let bz = t.path().join("a.tar.bz2");
        let mut w = bzip2::write::BzEncoder::new(
            fs::File::create(&bz).unwrap(),
            bzip2::Compression::default(),
        );
        w.write_all(&plain).unwrap();
        w.finish().unwrap();
        let zs = t.path().join("a.tar.zst");
        fs::write(&zs, zstd::encode_all(&plain[..], 3).unwrap()).unwrap();
        for (src, handler) in [
            (&xz, "TarXzArchive"),
            (&bz, "TarBzipArchive"),
            (&zs, "TarZstdArchive"),
        ] {
            let dest = tempfile::tempdir_in(t.path()).unwrap();
            let mut a = base(src, dest.path());
            a.push((
                "extra_opts",
                Value::from(vec![Value::from("--strip-components=1")]),
            ));
            let r = run(&a, false);
            assert_eq!(r.get("handler"), Some(&Value::from(handler)));
            assert_eq!(fs::read(dest.path().join("inner/f")).unwrap(), b"abc");
            assert!(!changed(&run(&a, false)));
        }
    }

    /// A GNU header with owner and group set (as every real tar writes them; the tar
    /// crate leaves them blank).
    fn gnu_header() -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    fn raw_tar(name: &str, kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut h = tar::Header::new_old();
        {
            let raw = h.as_old_mut();
            raw.name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(l) = link {
                raw.linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
        }
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    #[test]
    fn refuses_traversal() {
        let t = tempfile::tempdir().unwrap();
        let dest = t.path().join("out");
        fs::create_dir(&dest).unwrap();
        for (i, (name, kind, link, what)) in [
            ("../evil", tar::EntryType::Regular, None, "contains '..'"),
            ("/etc/evil", tar::EntryType::Regular, None, "absolute path"),
            (
                "l",
                tar::EntryType::Symlink,
                Some("/etc"),
                "outside the destination",
            ),
            (
                "l",
                tar::EntryType::Symlink,
                Some("../../x"),
                "outside the destination",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let src = t.path().join(format!("{i}.tar"));
            fs::write(&src, raw_tar(name, kind, link)).unwrap();
            let args = args_of::<Unarchive>(&base(&src, &dest));
            let e = crate::testctx::with_ctx(false, |ctx| Unarchive::observe(&args, ctx))
                .err()
                .map(|e| e.msg)
                .unwrap_or_default();
            assert!(e.contains(what), "{name}: {e}");
        }
        // A symlink already in dest that leads out is not written through.
        let outside = t.path().join("outside");
        fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, dest.join("sub")).unwrap();
        let src = t.path().join("through.tar");
        fs::write(&src, raw_tar("sub/f", tar::EntryType::Regular, None)).unwrap();
        let args = args_of::<Unarchive>(&base(&src, &dest));
        let e = crate::testctx::with_ctx(false, |ctx| Unarchive::observe(&args, ctx))
            .err()
            .map(|e| e.msg)
            .unwrap_or_default();
        assert!(e.contains("through the symlink"), "{e}");
        assert!(!outside.join("f").exists());
    }

    #[test]
    fn errors_like_ansible() {
        let t = tempfile::tempdir().unwrap();
        let empty = t.path().join("e.tgz");
        fs::write(&empty, b"").unwrap();
        let args = args_of::<Unarchive>(&base(&empty, t.path()));
        let e = crate::testctx::with_ctx(false, |ctx| Unarchive::observe(&args, ctx))
            .err()
            .map(|e| e.msg)
            .unwrap_or_default();
        assert!(e.contains("the file is 0 bytes"), "{e}");
        let args = args_of::<Unarchive>(&base(&empty, &t.path().join("nope")));
        let e = crate::testctx::with_ctx(false, |ctx| Unarchive::observe(&args, ctx))
            .err()
            .map(|e| e.msg)
            .unwrap_or_default();
        assert!(e.contains("must be an existing dir"), "{e}");
        let junk = t.path().join("j.bin");
        fs::write(&junk, b"not an archive at all").unwrap();
        let args = args_of::<Unarchive>(&base(&junk, t.path()));
        let e = crate::testctx::with_ctx(false, |ctx| Unarchive::observe(&args, ctx))
            .err()
            .map(|e| e.msg)
            .unwrap_or_default();
        assert!(e.starts_with("Failed to find handler"), "{e}");
    }

    #[test]
    fn include_exclude_match() {
        assert!(included("a/b.txt", &[], &["*.log".into()]));
        assert!(!included("a/b.log", &[], &["*.log".into()]));
        assert!(!included("a/b/", &[], &["b".into()]));
        assert!(included("a/b.txt", &["a".into()], &[]));
        assert!(!included("c/b.txt", &["a/*".into()], &[]));
    }
}
