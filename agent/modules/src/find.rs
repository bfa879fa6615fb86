//! The `find` module: files, directories or links under `paths` that pass every filter
//! (name patterns and excludes, glob or Python regex; age; size; content; mode), walked as
//! Python's `os.walk` does (top-down, directory order; `recurse` and `depth` limit it).
//! Read only: never changed, same in check mode.
//!
//! Ansible's quirks are kept: `hidden: false` hides dot-entries from the results but a
//! recursive walk still descends into hidden directories; `examined` counts every entry
//! of every walked directory; a path that is not a directory is skipped with a warning.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use indexmap::IndexMap;
use minijinja::Value;

use crate::host::dpkg::fnmatch;
use crate::host::fs::{file_digest, symbolic_to_octal, umask};
use crate::host::users;
use crate::replace::PyRegex;
use crate::spec::{Arg, Args, Def, expand_user};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap};

pub struct Find;

const SPEC: &[Arg] = &[
    Arg::list("paths").required().aliases(&["name", "path"]),
    Arg::list("patterns").aliases(&["pattern"]),
    Arg::list("excludes").aliases(&["exclude"]),
    Arg::str("contains"),
    Arg::bool("read_whole_file", false),
    Arg::str("file_type")
        .default(Def::Str("file"))
        .choices(&["any", "directory", "file", "link"]),
    Arg::str("age"),
    Arg::str("age_stamp")
        .default(Def::Str("mtime"))
        .choices(&["atime", "ctime", "mtime"]),
    Arg::str("size"),
    Arg::bool("recurse", false),
    Arg::bool("hidden", false),
    Arg::bool("follow", false),
    Arg::bool("get_checksum", false),
    Arg::str("checksum_algorithm")
        .default(Def::Str("sha1"))
        .choices(&["md5", "sha1", "sha224", "sha256", "sha384", "sha512"])
        .aliases(&["checksum", "checksum_algo"]),
    Arg::bool("use_regex", false),
    Arg::int("depth"),
    Arg::raw("mode"),
    Arg::bool("exact_mode", true),
    Arg::str("encoding"),
    Arg::int("limit"),
];

/// Name patterns: globs or Python regexes (matched at the start of the name).
enum Names {
    Glob(Vec<String>, Vec<String>),
    Regex(Vec<PyRegex>, Vec<PyRegex>),
}

impl Names {
    /// Ansible's `pfilter`: some pattern matches and, if one does, no exclude matches.
    fn pass(&self, name: &str) -> bool {
        fn at_start(re: &PyRegex, s: &str) -> bool {
            matches!(re.search(s), Ok(Some(m)) if m.start() == 0)
        }
        match self {
            Names::Glob(p, e) => {
                p.iter().any(|p| fnmatch(name, p)) && !e.iter().any(|e| fnmatch(name, e))
            }
            Names::Regex(p, e) => {
                p.iter().any(|p| at_start(p, name)) && !e.iter().any(|e| at_start(e, name))
            }
        }
    }
}

/// Everything the walk filters by, parsed once.
struct Filters {
    names: Names,
    file_type: String,
    age: Option<i64>,
    age_stamp: String,
    size: Option<i64>,
    contains: Option<PyRegex>,
    read_whole_file: bool,
    mode: Option<u32>,
    exact_mode: bool,
    checksum: Option<String>,
    hidden: bool,
    depth: Option<i64>,
    limit: Option<usize>,
    recurse: bool,
    follow: bool,
}

/// `-?N` with an optional unit suffix, as Ansible's age and size parsing.
fn with_unit(text: &str, units: &[(char, i64)]) -> Option<i64> {
    let t = text.to_lowercase();
    let (num, mult) = match t.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let (_, m) = units.iter().find(|(u, _)| *u == c)?;
            (&t[..t.len() - 1], *m)
        }
        _ => (t.as_str(), 1),
    };
    let digits = num.strip_prefix('-').unwrap_or(num);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    num.parse::<i64>().ok()?.checked_mul(mult)
}

fn parse_filters(args: &Args) -> Result<Filters, ModuleError> {
    let use_regex = args.bool("use_regex");
    let mut patterns = args.list_str("patterns");
    if patterns.is_empty() {
        patterns.push(if use_regex { ".*" } else { "*" }.to_string());
    }
    let excludes = args.list_str("excludes");
    let names = if use_regex {
        let compile = |list: &[String]| {
            list.iter()
                .map(|p| {
                    PyRegex::new(p, false, false)
                        .map_err(|e| ModuleError::new(format!("invalid pattern '{p}': {e}")))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Names::Regex(compile(&patterns)?, compile(&excludes)?)
    } else {
        Names::Glob(patterns, excludes)
    };
    let age = match args.str("age") {
        None => None,
        Some(a) => Some(
            with_unit(
                a,
                &[
                    ('s', 1),
                    ('m', 60),
                    ('h', 3600),
                    ('d', 86400),
                    ('w', 604800),
                ],
            )
            .ok_or_else(|| ModuleError::new("failed to process age").with("age", a))?,
        ),
    };
    let size = match args.str("size") {
        None => None,
        Some(s) => Some(
            with_unit(
                s,
                &[
                    ('b', 1),
                    ('k', 1 << 10),
                    ('m', 1 << 20),
                    ('g', 1 << 30),
                    ('t', 1 << 40),
                ],
            )
            .ok_or_else(|| ModuleError::new("failed to process size").with("size", s))?,
        ),
    };
    let limit = match args.int("limit") {
        Some(n) if n <= 0 => {
            return Err(ModuleError::new(format!(
                "limit cannot be {n} (use None for unlimited)"
            )));
        }
        n => n.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    };
    let mode = match args.get("mode") {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => {
            let Some(text) = v.as_str() else {
                return Err(ModuleError::new(format!(
                    "argument 'mode' is not a string and conversion is not allowed, value is of type {}",
                    crate::spec::python_type(v)
                )));
            };
            if text.is_empty() {
                None
            } else {
                let m = match u32::from_str_radix(text, 8) {
                    Ok(m) => m,
                    Err(_) => symbolic_to_octal(0, text, umask()).map_err(ModuleError::new)?,
                };
                Some(m & 0o7777)
            }
        }
    };
    let contains = match args.str("contains") {
        None => None,
        Some(p) => Some(
            PyRegex::new(p, false, false)
                .map_err(|e| ModuleError::new(format!("invalid contains pattern '{p}': {e}")))?,
        ),
    };
    if let Some(enc) = args.str("encoding")
        && !matches!(
            enc.to_lowercase().replace(['-', '_'], "").as_str(),
            "utf8" | "ascii" | "latin1" | "iso88591"
        )
    {
        return Err(ModuleError::new(format!("unknown encoding: {enc}")));
    }
    Ok(Filters {
        names,
        file_type: args.string("file_type").unwrap_or_else(|| "file".into()),
        age,
        age_stamp: args.string("age_stamp").unwrap_or_else(|| "mtime".into()),
        size,
        contains,
        read_whole_file: args.bool("read_whole_file"),
        mode,
        exact_mode: args.bool("exact_mode"),
        checksum: args.bool("get_checksum").then(|| {
            args.string("checksum_algorithm")
                .unwrap_or_else(|| "sha1".into())
        }),
        hidden: args.bool("hidden"),
        depth: args.int("depth").filter(|d| *d != 0),
        limit,
        recurse: args.bool("recurse"),
        follow: args.bool("follow"),
    })
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn stamp(md: &fs::Metadata, which: &str) -> f64 {
    let t = |s: i64, ns: i64| s as f64 + ns as f64 / 1e9;
    match which {
        "atime" => t(md.atime(), md.atime_nsec()),
        "ctime" => t(md.ctime(), md.ctime_nsec()),
        _ => t(md.mtime(), md.mtime_nsec()),
    }
}

impl Filters {
    fn age_ok(&self, md: &fs::Metadata, now: f64) -> bool {
        match self.age {
            None => true,
            Some(a) => {
                let elapsed = now - stamp(md, &self.age_stamp);
                if a >= 0 {
                    elapsed >= a.unsigned_abs() as f64
                } else {
                    elapsed <= a.unsigned_abs() as f64
                }
            }
        }
    }

    fn size_ok(&self, md: &fs::Metadata) -> bool {
        match self.size {
            None => true,
            Some(s) if s >= 0 => md.size() >= s.unsigned_abs(),
            Some(s) => md.size() <= s.unsigned_abs(),
        }
    }

    fn mode_ok(&self, md: &fs::Metadata) -> bool {
        match self.mode {
            None => true,
            Some(m) if self.exact_mode => md.mode() & 0o7777 == m,
            Some(m) => md.mode() & m != 0,
        }
    }

    /// Ansible's `contentfilter`: a line matching at its start (or the whole file
    /// searched); an unreadable file does not match; undecodable text is an error.
    fn content_ok(&self, path: &Path) -> Result<bool, String> {
        let Some(re) = &self.contains else {
            return Ok(true);
        };
        let Ok(bytes) = fs::read(path) else {
            return Ok(false);
        };
        let text = String::from_utf8(bytes).map_err(|_| {
            format!(
                "Failed to decode the file '{}' with encoding: utf-8 (Python default)",
                path.display()
            )
        })?;
        if self.read_whole_file {
            return Ok(matches!(re.search(&text), Ok(Some(_))));
        }
        Ok(text
            .split_inclusive('\n')
            .any(|line| matches!(re.search(line), Ok(Some(m)) if m.start() == 0)))
    }
}

/// Ansible's `statinfo` for one entry.
fn statinfo(out: &mut IndexMap<String, Value>, md: &fs::Metadata) {
    let mode = md.mode();
    let ft = md.file_type();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_string(), v);
    };
    let t = |s: i64, ns: i64| s as f64 + ns as f64 / 1e9;
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
    put("atime", Value::from(t(md.atime(), md.atime_nsec())));
    put("mtime", Value::from(t(md.mtime(), md.mtime_nsec())));
    put("ctime", Value::from(t(md.ctime(), md.ctime_nsec())));
    put(
        "gr_name",
        Value::from(users::group_name(md.gid()).unwrap_or_default()),
    );
    put(
        "pw_name",
        Value::from(users::user_name(md.uid()).unwrap_or_default()),
    );
    let bit = |b: u32| Value::from(mode & b != 0);
    for (k, b) in [
        ("wusr", 0o200),
        ("rusr", 0o400),
        ("xusr", 0o100),
        ("wgrp", 0o020),
        ("rgrp", 0o040),
        ("xgrp", 0o010),
        ("woth", 0o002),
        ("roth", 0o004),
        ("xoth", 0o001),
        ("isuid", 0o4000),
        ("isgid", 0o2000),
    ] {
        put(k, bit(b));
    }
    put("blocks", Value::from(md.blocks()));
    put("disk_usage_bytes", Value::from(md.blocks() * 512));
}

/// What one search found.
#[derive(Default)]
struct Found {
    files: Vec<Value>,
    examined: usize,
    skipped: IndexMap<String, Value>,
    warnings: Vec<Value>,
    limit_hit: bool,
}

/// One directory's entries as `os.walk` gives them: names of non-directories, then of
/// directories (a symbolic link to a directory counts as a directory).
fn list_dir(dir: &str) -> std::io::Result<(Vec<String>, Vec<String>)> {
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_dir = match entry.file_type() {
            Ok(t) if t.is_symlink() => fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()),
            Ok(t) => t.is_dir(),
            Err(_) => false,
        };
        if is_dir {
            dirs.push(name);
        } else {
            files.push(name);
        }
    }
    Ok((files, dirs))
}

fn walk_error(path: &str, e: &std::io::Error) -> String {
    let errno = e.raw_os_error().unwrap_or(0);
    let text = nix::errno::Errno::from_raw(errno).desc();
    format!("[Errno {errno}] {text}: '{path}'")
}

fn search(top: &str, f: &Filters, now: f64, found: &mut Found) -> Result<(), String> {
    if !Path::new(top).is_dir() {
        return Err(format!("'{top}' is not a directory"));
    }
    let base = format!("{}/", top.trim_end_matches('/'));
    let base_depth = base.matches('/').count() as i64;
    let mut stack: Vec<String> = vec![top.to_string()];
    while let Some(root) = stack.pop() {
        let (files, mut dirs) = match list_dir(&root) {
            Ok(x) => x,
            Err(e) => {
                let permitted = matches!(
                    e.raw_os_error(),
                    Some(nix::libc::EPERM | nix::libc::EACCES | nix::libc::ENOENT)
                );
                if !permitted {
                    return Err(walk_error(&root, &e));
                }
                found
                    .skipped
                    .insert(root.clone(), Value::from(walk_error(&root, &e)));
                continue;
            }
        };
        found.examined += files.len() + dirs.len();
        let mut descend = true;
        for name in files.iter().chain(dirs.iter()) {
            let joined = format!("{}/{name}", root.trim_end_matches('/'));
            let path = agent_template::filters::path::normpath(&joined);
            if let Some(max) = f.depth {
                let depth = path.matches('/').count() as i64 - base_depth + 1;
                if depth > max {
                    descend = false;
                    continue;
                }
            }
            if name.starts_with('.') && !f.hidden {
                continue;
            }
            let md = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    found.warnings.push(Value::from(format!(
                        "Skipped entry '{path}' due to access issue."
                    )));
                    found
                        .skipped
                        .insert(path.clone(), Value::from(e.to_string()));
                    continue;
                }
            };
            let ft = md.file_type();
            let common = || f.names.pass(name) && f.age_ok(&md, now) && f.mode_ok(&md);
            let wanted = match f.file_type.as_str() {
                "any" => common() && (!ft.is_file() || f.size_ok(&md)),
                "directory" => ft.is_dir() && common(),
                "file" => {
                    ft.is_file()
                        && f.names.pass(name)
                        && f.age_ok(&md, now)
                        && f.size_ok(&md)
                        && f.content_ok(Path::new(&path))?
                        && f.mode_ok(&md)
                }
                _ => ft.is_symlink() && common(),
            };
            if wanted {
                let mut r = IndexMap::new();
                r.insert("path".to_string(), Value::from(path.as_str()));
                statinfo(&mut r, &md);
                if ft.is_file()
                    && let Some(algo) = &f.checksum
                {
                    let sum = file_digest(Path::new(&path), algo)
                        .map_err(|e| format!("Unable to read {path}: {e}"))?;
                    r.insert("checksum".into(), Value::from(sum));
                }
                found
                    .files
                    .push(Value::from_pairs(r.into_iter().collect::<Vec<_>>()));
            }
            if f.limit == Some(found.files.len()) {
                found.limit_hit = true;
                break;
            }
        }
        if !f.recurse || found.limit_hit {
            break;
        }
        if !descend {
            continue;
        }
        // Top-down, in directory order: the first subdirectory is walked next.
        if !f.follow {
            dirs.retain(|d| {
                let p = format!("{}/{d}", root.trim_end_matches('/'));
                !fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink())
            });
        }
        for d in dirs.iter().rev() {
            stack.push(format!("{}/{d}", root.trim_end_matches('/')));
        }
    }
    Ok(())
}

impl Module for Find {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = ();
    type Op = ();

    fn observe(_args: &Args, _ctx: &Ctx<'_>) -> Result<(), ModuleError> {
        Ok(())
    }

    fn plan(args: &Args, _o: &(), _ctx: &Ctx<'_>) -> Result<Plan<()>, ModuleError> {
        let f = parse_filters(args)?;
        let now = now();
        let mut found = Found::default();
        let mut has_warnings = false;
        for top in args.list_str("paths") {
            let top = expand_user(&top);
            let before = found.warnings.len();
            if let Err(why) = search(&top, &f, now, &mut found) {
                found.warnings.push(Value::from(format!(
                    "Skipped '{top}' path due to this access issue: {why}\n"
                )));
                found.skipped.insert(top.clone(), Value::from(why));
            }
            has_warnings |= found.warnings.len() > before;
            if found.limit_hit {
                break;
            }
        }
        let msg = if has_warnings {
            "Not all paths examined, check warnings for details"
        } else if found.limit_hit {
            "Limit of matches reached"
        } else {
            "All paths examined"
        };
        let mut plan = Plan::default();
        let matched = found.files.len();
        plan.set("files", Value::from(found.files));
        plan.set("msg", msg);
        plan.set("matched", matched);
        plan.set("examined", found.examined);
        plan.set(
            "skipped_paths",
            Value::from_pairs(found.skipped.into_iter().collect::<Vec<_>>()),
        );
        if !found.warnings.is_empty() {
            plan.set("warnings", Value::from(found.warnings));
        }
        Ok(plan)
    }

    fn apply(
        _args: &Args,
        _o: (),
        _plan: &Plan<()>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        Ok(ResultMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find_in(check: bool, args: &[(&str, Value)]) -> Result<ResultMap, ModuleError> {
        let a: IndexMap<String, Value> = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        crate::testctx::with_ctx(check, |ctx| crate::run::<Find>("find", &a, ctx))
    }

    #[test]
    fn read_only_in_both_modes() {
        // Nothing to apply: a run and a check find the same and report no change.
        let d = tree();
        let t = Value::from(d.path().display().to_string());
        let args = [("paths", t), ("recurse", Value::from(true))];
        let run = find_in(false, &args).unwrap();
        let check = find_in(true, &args).unwrap();
        assert_eq!(run["changed"], Value::from(false));
        assert_eq!(check["changed"], Value::from(false));
        assert_eq!(paths(&run), paths(&check));
        assert_eq!(run["examined"], check["examined"]);
    }

    fn find(args: &[(&str, Value)]) -> Result<ResultMap, ModuleError> {
        let a: IndexMap<String, Value> = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        crate::testctx::with_ctx(true, |ctx| crate::run::<Find>("find", &a, ctx))
    }

    fn paths(r: &ResultMap) -> Vec<String> {
        let mut v: Vec<String> = r["files"]
            .try_iter()
            .unwrap()
            .map(|f| f.get_attr("path").unwrap().to_string())
            .collect();
        v.sort();
        v
    }

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        fs::create_dir_all(p.join("sub/deeper")).unwrap();
        fs::create_dir_all(p.join(".hid")).unwrap();
        fs::write(p.join("a.txt"), "hello\nworld\n").unwrap();
        fs::write(p.join("b.log"), "x".repeat(2048)).unwrap();
        fs::write(p.join(".dot"), "").unwrap();
        fs::write(p.join("sub/c.txt"), "world\n").unwrap();
        fs::write(p.join("sub/deeper/d.txt"), "").unwrap();
        fs::write(p.join(".hid/e.txt"), "").unwrap();
        std::os::unix::fs::symlink("a.txt", p.join("ln")).unwrap();
        d
    }

    #[test]
    fn walks_and_filters_like_ansible() {
        let d = tree();
        let top = d.path().display().to_string();
        let at = |s: &str| format!("{top}/{s}");
        let t = Value::from(top.as_str());
        let r = find(&[("paths", t.clone())]).unwrap();
        assert_eq!(paths(&r), vec![at("a.txt"), at("b.log")]);
        assert_eq!(r["changed"], Value::from(false));
        assert_eq!(r["examined"], Value::from(6));
        assert_eq!(r["msg"].as_str(), Some("All paths examined"));
        let f0 = r["files"].get_item(&Value::from(0)).unwrap();
        assert_eq!(f0.get_attr("isreg").unwrap(), Value::from(true));

        // Recursion reaches into hidden directories, but dot-entries stay hidden.
        let r = find(&[
            ("paths", t.clone()),
            ("recurse", Value::from(true)),
            ("patterns", Value::from("*.txt")),
        ])
        .unwrap();
        assert_eq!(
            paths(&r),
            vec![
                at(".hid/e.txt"),
                at("a.txt"),
                at("sub/c.txt"),
                at("sub/deeper/d.txt")
            ]
        );
        let r = find(&[
            ("paths", t.clone()),
            ("recurse", Value::from(true)),
            ("depth", Value::from(2)),
            ("patterns", Value::from("*.txt")),
            ("excludes", Value::from("c*")),
        ])
        .unwrap();
        assert_eq!(paths(&r), vec![at(".hid/e.txt"), at("a.txt")]);

        // Types, regexes, sizes and contents.
        let r = find(&[
            ("paths", t.clone()),
            ("file_type", Value::from("directory")),
            ("hidden", Value::from(true)),
        ])
        .unwrap();
        assert_eq!(paths(&r), vec![at(".hid"), at("sub")]);
        let r = find(&[("paths", t.clone()), ("file_type", Value::from("link"))]).unwrap();
        assert_eq!(paths(&r), vec![at("ln")]);
        let r = find(&[
            ("paths", t.clone()),
            ("use_regex", Value::from(true)),
            ("patterns", Value::from(r"b\.\w+")),
        ])
        .unwrap();
        assert_eq!(paths(&r), vec![at("b.log")]);
        let r = find(&[("paths", t.clone()), ("size", Value::from("2k"))]).unwrap();
        assert_eq!(paths(&r), vec![at("b.log")]);
        let r = find(&[
            ("paths", t.clone()),
            ("recurse", Value::from(true)),
            ("contains", Value::from("wor")),
        ])
        .unwrap();
        assert_eq!(paths(&r), vec![at("a.txt"), at("sub/c.txt")]);
        let r = find(&[("paths", t.clone()), ("age", Value::from("-1h"))]).unwrap();
        assert_eq!(r["matched"], Value::from(2));
        let r = find(&[("paths", t.clone()), ("age", Value::from("1d"))]).unwrap();
        assert_eq!(r["matched"], Value::from(0));
        let r = find(&[("paths", t.clone()), ("limit", Value::from(1))]).unwrap();
        assert_eq!(r["matched"], Value::from(1));
        assert_eq!(r["msg"].as_str(), Some("Limit of matches reached"));
        let r = find(&[
            ("paths", t.clone()),
            ("get_checksum", Value::from(true)),
            ("patterns", Value::from("a.txt")),
        ])
        .unwrap();
        let f0 = r["files"].get_item(&Value::from(0)).unwrap();
        assert_eq!(
            f0.get_attr("checksum").unwrap().as_str(),
            Some("58853e8a5e8272b1012f9a52a80758b27bd0d3cb")
        );
    }

    #[test]
    fn bad_paths_and_arguments() {
        let d = tree();
        let file = format!("{}/a.txt", d.path().display());
        let r = find(&[("paths", Value::from(file.as_str()))]).unwrap();
        assert_eq!(
            r["msg"].as_str(),
            Some("Not all paths examined, check warnings for details")
        );
        assert_eq!(
            r["skipped_paths"].get_attr(&file).unwrap().as_str(),
            Some(format!("'{file}' is not a directory").as_str())
        );
        let t = Value::from(d.path().display().to_string());
        let e = find(&[("paths", t.clone()), ("age", Value::from("3y"))]).unwrap_err();
        assert_eq!(e.msg, "failed to process age");
        let e = find(&[("paths", t.clone()), ("limit", Value::from(0))]).unwrap_err();
        assert_eq!(e.msg, "limit cannot be 0 (use None for unlimited)");
        let e = find(&[("paths", t), ("mode", Value::from(644))]).unwrap_err();
        assert!(e.msg.contains("not a string"), "{}", e.msg);
    }

    #[test]
    fn mode_filters() {
        let d = tree();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(d.path().join("a.txt"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(d.path().join("b.log"), fs::Permissions::from_mode(0o644)).unwrap();
        let t = Value::from(d.path().display().to_string());
        let r = find(&[("paths", t.clone()), ("mode", Value::from("0600"))]).unwrap();
        assert_eq!(r["matched"], Value::from(1));
        let r = find(&[("paths", t.clone()), ("mode", Value::from("u=rw,g=r"))]).unwrap();
        assert_eq!(r["matched"], Value::from(0));
        let r = find(&[
            ("paths", t),
            ("mode", Value::from("o=r")),
            ("exact_mode", Value::from(false)),
        ])
        .unwrap();
        assert_eq!(r["matched"], Value::from(1));
    }
}
