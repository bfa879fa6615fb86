//! The `stat` module: everything Ansible's stat reports that a plain `lstat`/`stat`
//! can give. It never changes anything (empty plan).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use indexmap::IndexMap;
use minijinja::Value;

use crate::host::fs::file_digest;
use crate::host::users;
use crate::spec::{Arg, Args, Def};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap};

pub struct Stat;

const SPEC: &[Arg] = &[
    Arg::path("path").required().aliases(&["dest", "name"]),
    Arg::bool("follow", false),
    Arg::bool("get_checksum", true),
    Arg::bool("get_mime", true).aliases(&["mime", "mime_type", "mime-type"]),
    Arg::bool("get_attributes", true).aliases(&["attr", "attributes"]),
    Arg::bool("get_selinux_context", false),
    Arg::str("checksum_algorithm")
        .default(Def::Str("sha1"))
        .aliases(&["checksum", "checksum_algo"])
        .choices(&["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]),
];

/// A plain guess at `file --mime-type --mime-encoding` (no libmagic).
fn mime_guess(path: &Path, md: &fs::Metadata) -> (&'static str, &'static str) {
    let ft = md.file_type();
    if ft.is_dir() {
        return ("inode/directory", "binary");
    }
    if ft.is_symlink() {
        return ("inode/symlink", "binary");
    }
    if ft.is_fifo() {
        return ("inode/fifo", "binary");
    }
    if ft.is_socket() {
        return ("inode/socket", "binary");
    }
    if ft.is_char_device() {
        return ("inode/chardevice", "binary");
    }
    if ft.is_block_device() {
        return ("inode/blockdevice", "binary");
    }
    if md.len() == 0 {
        return ("inode/x-empty", "binary");
    }
    let mut head = vec![0u8; 8192];
    let n = fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    let head = &head[..n];
    if head.contains(&0) {
        ("application/octet-stream", "binary")
    } else if head.is_ascii() {
        ("text/plain", "us-ascii")
    } else if std::str::from_utf8(head).is_ok() {
        ("text/plain", "utf-8")
    } else {
        ("application/octet-stream", "binary")
    }
}

fn access(path: &Path, mode: nix::unistd::AccessFlags) -> bool {
    nix::unistd::access(path, mode).is_ok()
}

/// The `stat` dict for `path`.
pub fn stat_dict(
    path: &Path,
    follow: bool,
    checksum: Option<&str>,
    mime: bool,
    attributes: bool,
) -> Result<IndexMap<String, Value>, ModuleError> {
    let md = if follow {
        fs::metadata(path)
    } else {
        fs::symlink_metadata(path)
    };
    let mut o: IndexMap<String, Value> = IndexMap::new();
    let md = match md {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            o.insert("exists".into(), Value::from(false));
            return Ok(o);
        }
        Err(e) => {
            return Err(ModuleError::new(e.to_string()).with("path", path.display().to_string()));
        }
    };
    let mode = md.mode();
    let ft = md.file_type();
    let mut put = |k: &str, v: Value| {
        o.insert(k.to_string(), v);
    };
    put("exists", Value::from(true));
    put("path", Value::from(path.display().to_string()));
    put("mode", Value::from(format!("{:04o}", mode & 0o7777)));
    put("isdir", Value::from(ft.is_dir()));
    put("ischr", Value::from(ft.is_char_device()));
    put("isblk", Value::from(ft.is_block_device()));
    put("isreg", Value::from(ft.is_file()));
    put("isfifo", Value::from(ft.is_fifo()));
    put("islnk", Value::from(ft.is_symlink()));
    put("issock", Value::from(ft.is_socket()));
    put("uid", Value::from(md.uid()));
    put("gid", Value::from(md.gid()));
    put("size", Value::from(md.size()));
    put("inode", Value::from(md.ino()));
    put("dev", Value::from(md.dev()));
    put("nlink", Value::from(md.nlink()));
    let t = |s: i64, ns: i64| s as f64 + ns as f64 / 1e9;
    put("atime", Value::from(t(md.atime(), md.atime_nsec())));
    put("mtime", Value::from(t(md.mtime(), md.mtime_nsec())));
    put("ctime", Value::from(t(md.ctime(), md.ctime_nsec())));
    let bit = |b: u32| Value::from(mode & b != 0);
    put("wusr", bit(0o200));
    put("rusr", bit(0o400));
    put("xusr", bit(0o100));
    put("wgrp", bit(0o020));
    put("rgrp", bit(0o040));
    put("xgrp", bit(0o010));
    put("woth", bit(0o002));
    put("roth", bit(0o004));
    put("xoth", bit(0o001));
    put("isuid", bit(0o4000));
    put("isgid", bit(0o2000));
    put("blocks", Value::from(md.blocks()));
    put("disk_usage_bytes", Value::from(md.blocks() * 512));
    put("block_size", Value::from(md.blksize()));
    put("device_type", Value::from(md.rdev()));
    use nix::unistd::AccessFlags;
    let readable = access(path, AccessFlags::R_OK);
    put("readable", Value::from(readable));
    put("writeable", Value::from(access(path, AccessFlags::W_OK)));
    put("executable", Value::from(access(path, AccessFlags::X_OK)));
    if ft.is_symlink() {
        let real = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        put("lnk_source", Value::from(real.display().to_string()));
        put(
            "lnk_target",
            Value::from(
                fs::read_link(path)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
        );
    }
    if let Some(u) = users::user_name(md.uid()) {
        put("pw_name", Value::from(u));
    }
    if let Some(g) = users::group_name(md.gid()) {
        put("gr_name", Value::from(g));
    }
    if ft.is_file()
        && readable
        && let Some(algo) = checksum
    {
        let sum = file_digest(path, algo).map_err(|e| {
            ModuleError::new(format!("Unable to read {}: {e}", path.display()))
                .with("path", path.display().to_string())
        })?;
        put("checksum", Value::from(sum));
    }
    if mime {
        let (m, c) = mime_guess(path, &md);
        put("mimetype", Value::from(m));
        put("charset", Value::from(c));
    }
    if attributes {
        put("version", Value::from(()));
        put("attributes", Value::from(Vec::<Value>::new()));
        put("attr_flags", Value::from(""));
    }
    Ok(o)
}

impl Module for Stat {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = IndexMap<String, Value>;
    type Op = ();

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<Self::Observed, ModuleError> {
        let path = args.str("path").unwrap_or_default();
        let algo = args.str("checksum_algorithm").unwrap_or("sha1");
        stat_dict(
            Path::new(path),
            args.bool("follow"),
            args.bool("get_checksum").then_some(algo),
            args.bool("get_mime"),
            args.bool("get_attributes"),
        )
    }

    fn plan(
        args: &Args,
        observed: &Self::Observed,
        _ctx: &Ctx<'_>,
    ) -> Result<Plan<()>, ModuleError> {
        let mut plan = Plan::default();
        let mut stat = observed.clone();
        if args.bool("get_selinux_context") && stat.get("exists").is_some_and(|v| v.is_true()) {
            // Without SELinux, Ansible reports a context of four None values.
            stat.insert(
                "selinux_context".into(),
                Value::from(vec![Value::from(()); 4]),
            );
        }
        plan.set("stat", Value::from_pairs(stat));
        Ok(plan)
    }

    fn apply(
        _args: &Args,
        _observed: Self::Observed,
        _plan: &Plan<()>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        Ok(ResultMap::new())
    }
}
