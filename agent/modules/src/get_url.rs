//! The `get_url` module (ansible.builtin.get_url): download a URL to `dest` (a file, or a
//! directory that the response names the file in), with Ansible's checksum handling,
//! `force`, If-Modified-Since and check mode (a HEAD request). The body is streamed to a
//! temporary file beside `dest` (or in `tmp_dest`) during observe; apply renames it over
//! `dest` when its sha1 differs.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::host::fs::{self as hfs, FileAttrs, Meta};
use crate::host::http::{self, Request, Response};
use crate::spec::{Arg, Args, Def, FILE_COMMON, Ty};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap, Value};
use agent_template::lookups::url::mask_url;

pub struct GetUrl;

const SPEC: &[Arg] = &[
    Arg::str("url").required(),
    Arg::path("dest").required(),
    Arg::bool("backup", false),
    Arg::str("checksum").default(Def::Str("")),
    Arg::int("timeout").default(Def::Int(10)),
    Arg::new("headers", Ty::Dict),
    Arg::path("tmp_dest"),
    Arg::list("unredirected_headers"),
    Arg::bool("decompress", true),
    Arg::list("ciphers"),
    Arg::bool("use_netrc", true),
    // url_argument_spec
    Arg::bool("force", false),
    Arg::str("http_agent").default(Def::Str("ansible-httpget")),
    Arg::bool("use_proxy", true),
    Arg::bool("validate_certs", true),
    Arg::str("url_username").aliases(&["username"]),
    Arg::str("url_password").aliases(&["password"]).no_log(),
    Arg::bool("force_basic_auth", false),
    Arg::path("client_cert"),
    Arg::path("client_key"),
    Arg::bool("use_gssapi", false),
];

/// What the request (or the existing file) told.
#[derive(Debug)]
pub enum Observed {
    /// `dest` already has the content `checksum` names: no request made.
    Exists { dest: PathBuf, meta: Meta },
    /// The server answered 304 Not Modified.
    NotModified { dest: PathBuf, resp: Response },
    /// The body is in `tmp` (empty after a HEAD in check mode).
    Fetched {
        dest: PathBuf,
        tmp: tempfile::NamedTempFile,
        resp: Response,
        checksum_src: String,
        checksum_dest: Option<String>,
        /// `(algorithm, hex)` to verify the body against.
        checksum: Option<(String, String)>,
        dest_meta: Option<Meta>,
        elapsed: u64,
    },
}

#[derive(Debug)]
pub enum Op {
    /// Move the downloaded file over `dest` (after a backup when asked).
    Install,
    Attrs(Vec<hfs::AttrChange>),
}

fn url_filename(url: &str) -> String {
    let path = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
    let path = path.split(['?', '#']).next().unwrap_or_default();
    match path.rsplit('/').next() {
        Some(f) if !f.is_empty() => f.to_string(),
        _ => "index.html".into(),
    }
}

/// The `filename` parameter of a Content-Disposition header, its basename.
pub(crate) fn disposition_filename(h: &str) -> Option<String> {
    let re = Regex::new(r#"(?i)(?:^|;)\s*filename\s*=\s*(?:"([^"]*)"|([^;\s]*))"#).ok()?;
    let c = re.captures(h)?;
    let f = c.get(1).or_else(|| c.get(2))?.as_str();
    let base = f.rsplit('/').next().unwrap_or(f);
    (!base.is_empty()).then(|| base.to_string())
}

/// Ansible's `parse_digest_lines`.
fn parse_digest_lines(filename: &str, lines: &[&str]) -> Vec<(String, String)> {
    if lines.len() == 1 && lines[0].split_whitespace().count() == 1 {
        return vec![(lines[0].to_string(), filename.to_string())];
    }
    let bsd = Regex::new(r"^(\w+) ?\((?P<path>.+)\) ?= (?P<digest>[\w.]+)$").ok();
    let gnu = Regex::new(r"^(?P<digest>[\w.]+)\s+(\*|\./|\.)?(?P<path>.+)$").ok();
    let mut out = Vec::new();
    for line in lines {
        if let Some(c) = bsd.as_ref().and_then(|r| r.captures(line)) {
            out.push((c["digest"].to_string(), c["path"].to_string()));
        } else if let Some(c) = gnu.as_ref().and_then(|r| r.captures(line)) {
            out.push((
                c["digest"].to_string(),
                c["path"].trim_start_matches(['.', '/']).to_string(),
            ));
        }
    }
    out
}

fn is_url(s: &str) -> bool {
    ["http://", "https://", "ftp://", "file://"]
        .iter()
        .any(|p| s.to_ascii_lowercase().starts_with(p))
}

pub(crate) fn request<'a>(args: &Args, url: &'a str, head: bool) -> Request<'a> {
    let headers = args
        .get("headers")
        .and_then(|h| {
            h.try_iter().ok().map(|keys| {
                keys.filter_map(|k| {
                    let v = h.get_item(&k).ok()?;
                    Some((
                        crate::spec::value_to_string(&k),
                        crate::spec::value_to_string(&v),
                    ))
                })
                .collect::<Vec<_>>()
            })
        })
        .unwrap_or_default();
    let basic_auth = args
        .string("url_username")
        .filter(|u| !u.is_empty())
        .map(|u| (u, args.string("url_password").unwrap_or_default()));
    Request {
        url,
        head,
        headers,
        timeout_secs: args.int("timeout").unwrap_or(10).max(1) as u64,
        validate_certs: args.bool("validate_certs"),
        basic_auth,
        force_basic_auth: args.bool("force_basic_auth"),
        use_netrc: args.bool("use_netrc"),
        unredirected: args.list_str("unredirected_headers"),
        decompress: args.bool("decompress"),
        no_cache: false,
        client_cert: args.str("client_cert").map(PathBuf::from),
        client_key: args.str("client_key").map(PathBuf::from),
        if_modified_since: None,
        user_agent: args
            .string("http_agent")
            .unwrap_or_else(|| "ansible-httpget".into()),
        ..Default::default()
    }
}

fn fail_fields(e: ModuleError, url: &str, dest: &Path) -> ModuleError {
    e.with("url", mask_url(url))
        .with("dest", dest.display().to_string())
}

/// The expected checksum: `(algorithm, lower-case hex)`, fetching a sums file when the
/// value is a URL.
fn parse_checksum(
    args: &Args,
    url: &str,
    dir: &Path,
    ctx: &Ctx<'_>,
) -> Result<Option<(String, String)>, ModuleError> {
    let raw = args.str("checksum").unwrap_or_default();
    if raw.is_empty() {
        return Ok(None);
    }
    let Some((algo, value)) = raw.split_once(':') else {
        return Err(ModuleError::new(
            "The checksum parameter has to be in format <algorithm>:<checksum>",
        ));
    };
    let mut value = value.to_string();
    if is_url(&value) {
        let mut buf: Vec<u8> = Vec::new();
        let mut req = request(args, &value, false);
        req.netrc = http::task_netrc(ctx.environment);
        let resp = http::fetch(&req, &mut buf).map_err(ModuleError::new)?;
        if resp.status != 200 {
            return Err(ModuleError::new("Request failed")
                .with("status_code", resp.status)
                .with("response", resp.msg));
        }
        let text = String::from_utf8_lossy(&buf).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        let filename = url_filename(url);
        let map = parse_digest_lines(&filename, &lines);
        match map.into_iter().find(|(_, f)| *f == filename) {
            Some((s, _)) => value = s,
            None => {
                return Err(ModuleError::new(format!(
                    "Unable to find a checksum for file '{filename}' in '{}'",
                    mask_url(&value)
                )));
            }
        }
    }
    let _ = dir;
    let cleaned: String = value
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_lowercase();
    if cleaned.is_empty() || !cleaned.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ModuleError::new("The checksum format is invalid"));
    }
    if !hfs::DIGESTS.contains(&algo) {
        return Err(ModuleError::new(format!(
            "Could not hash file with unsupported algorithm {algo}"
        )));
    }
    Ok(Some((algo.to_string(), cleaned)))
}

pub(crate) fn http_date(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    jiff::Timestamp::from_second(secs)
        .map(|ts| ts.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_default()
}

fn base_result(args: &Args, dest: &Path) -> ResultMap {
    let mut r = ResultMap::new();
    r.insert("dest".into(), Value::from(dest.display().to_string()));
    r.insert(
        "url".into(),
        Value::from(mask_url(args.str("url").unwrap_or_default())),
    );
    r
}

impl Module for GetUrl {
    const SPECS: &'static [&'static [Arg]] = &[SPEC, FILE_COMMON];
    type Observed = Observed;
    type Op = Op;

    fn observe(args: &Args, ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        let url = args.str("url").unwrap_or_default();
        let dest = PathBuf::from(args.str("dest").unwrap_or_default());
        let dest_is_dir = dest.is_dir();
        let dir = if dest_is_dir {
            dest.clone()
        } else {
            dest.parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        };
        let checksum =
            parse_checksum(args, url, &dir, ctx).map_err(|e| fail_fields(e, url, &dest))?;
        let mut force = args.bool("force");
        let mut last_mod = None;
        if !dest_is_dir && let Ok(md) = std::fs::metadata(&dest) {
            let mut mismatch = false;
            if !force && let Some((algo, sum)) = &checksum {
                let have = hfs::file_digest(&dest, algo)
                    .map_err(|e| ModuleError::io("Unable to read", &dest, &e))?;
                mismatch = &have != sum;
                if !mismatch {
                    return Ok(Observed::Exists {
                        dest,
                        meta: Meta::from(&md),
                    });
                }
            }
            last_mod = md.modified().ok();
            if mismatch {
                force = true;
            }
        }
        let mut req = request(args, url, ctx.check_mode);
        req.netrc = http::task_netrc(ctx.environment);
        req.no_cache = force;
        if !force && let Some(t) = last_mod {
            req.if_modified_since = Some(http_date(t));
        }
        let tmp_dir = match args.str("tmp_dest") {
            Some(t) => {
                let p = PathBuf::from(t);
                if !p.is_dir() {
                    return Err(ModuleError::new(if p.exists() {
                        format!("{t} is a file but should be a directory.")
                    } else {
                        format!("{t} directory does not exist.")
                    }));
                }
                p
            }
            None if dir.is_dir() => dir.clone(),
            None => std::env::temp_dir(),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".ansible_get_url")
            .tempfile_in(&tmp_dir)
            .map_err(|e| ModuleError::io("Unable to create a temporary file in", &tmp_dir, &e))?;
        let start = std::time::Instant::now();
        let resp = http::fetch(&req, tmp.as_file_mut())
            .map_err(|m| fail_fields(ModuleError::new(m), url, &dest))?;
        let elapsed = start.elapsed().as_secs();
        if resp.status == 304 {
            return Ok(Observed::NotModified { dest, resp });
        }
        if resp.status != 200 {
            return Err(fail_fields(
                ModuleError::new("Request failed")
                    .with("status_code", resp.status)
                    .with("response", resp.msg.as_str())
                    .with("elapsed", elapsed),
                url,
                &dest,
            ));
        }
        tmp.as_file_mut()
            .flush()
            .map_err(|e| ModuleError::io("Unable to write", tmp.path(), &e))?;
        if !ctx.check_mode
            && let Some(cl) = resp
                .header("content-length")
                .and_then(|v| v.parse::<u64>().ok())
            && !resp.decoded
            && cl != resp.bytes
        {
            return Err(ModuleError::new(format!(
                "Incomplete read, (cl={cl}, st.st_size={}) failed to read remaining {} bytes",
                resp.bytes,
                cl.saturating_sub(resp.bytes)
            )));
        }
        let dest = if dest_is_dir {
            let name = resp
                .header("content-disposition")
                .and_then(disposition_filename)
                .unwrap_or_else(|| url_filename(&resp.url));
            dest.join(name)
        } else {
            dest
        };
        let checksum_src = hfs::file_digest(tmp.path(), "sha1")
            .map_err(|e| ModuleError::io("Unable to read", tmp.path(), &e))?;
        let dest_md = hfs::stat(&dest).ok().flatten();
        let checksum_dest = match &dest_md {
            Some(_) => Some(
                hfs::file_digest(&dest, "sha1")
                    .map_err(|e| ModuleError::io("Unable to read", &dest, &e))?,
            ),
            None => {
                let parent = dest.parent().unwrap_or(Path::new("/"));
                if !parent.exists() {
                    return Err(fail_fields(
                        ModuleError::new(format!(
                            "Destination {} does not exist",
                            parent.display()
                        )),
                        url,
                        &dest,
                    ));
                }
                None
            }
        };
        Ok(Observed::Fetched {
            dest,
            tmp,
            resp,
            checksum_src,
            checksum_dest,
            checksum,
            dest_meta: dest_md.as_ref().map(Meta::from),
            elapsed,
        })
    }

    fn plan(args: &Args, o: &Observed, ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        let attrs = FileAttrs::from_args(args)?;
        match o {
            Observed::Exists { dest, meta } => {
                let mut plan = Plan {
                    result: base_result(args, dest),
                    ..Plan::default()
                };
                plan.set("checksum_dest", ());
                plan.set("checksum_src", ());
                plan.set("elapsed", 0);
                let changes = hfs::plan_attrs(dest, meta, &attrs)?;
                if changes.is_empty() {
                    plan.set("msg", "file already exists");
                } else {
                    plan.set("msg", "file already exists but file attributes changed");
                    plan.ops.push(Op::Attrs(changes));
                }
                plan.result.extend(hfs::path_info(dest));
                Ok(plan)
            }
            Observed::NotModified { dest, resp } => {
                let mut plan = Plan {
                    result: base_result(args, dest),
                    ..Plan::default()
                };
                plan.set("msg", resp.msg.as_str());
                plan.set("status_code", resp.status);
                plan.set("elapsed", 0);
                plan.result.extend(hfs::path_info(dest));
                Ok(plan)
            }
            Observed::Fetched {
                dest,
                tmp,
                resp,
                checksum_src,
                checksum_dest,
                checksum,
                dest_meta,
                elapsed,
            } => {
                let mut plan = Plan {
                    result: base_result(args, dest),
                    ..Plan::default()
                };
                plan.set(
                    "checksum_dest",
                    checksum_dest.clone().map_or(Value::from(()), Value::from),
                );
                plan.set("checksum_src", checksum_src.as_str());
                plan.set("elapsed", *elapsed);
                plan.set("src", tmp.path().display().to_string());
                plan.set("msg", resp.msg.as_str());
                let differs = checksum_dest.as_deref() != Some(checksum_src.as_str());
                if ctx.check_mode {
                    if differs {
                        plan.ops.push(Op::Install);
                    }
                    plan.result.extend(hfs::path_info(dest));
                    return Ok(plan);
                }
                if let Some((algo, want)) = checksum {
                    let got = hfs::file_digest(tmp.path(), algo)
                        .map_err(|e| ModuleError::io("Unable to read", tmp.path(), &e))?;
                    if &got != want {
                        return Err(ModuleError::new(format!(
                            "The checksum for {} did not match {want}; it was {got}.",
                            tmp.path().display()
                        )));
                    }
                }
                plan.set("status_code", resp.status);
                if differs {
                    plan.ops.push(Op::Install);
                }
                let meta = dest_meta
                    .unwrap_or_else(|| Meta::new_file(dest.parent().unwrap_or(Path::new("/"))));
                let changes = hfs::plan_attrs(dest, &meta, &attrs)?;
                if !changes.is_empty() {
                    plan.ops.push(Op::Attrs(changes));
                }
                plan.result.extend(hfs::path_info(dest));
                if !differs {
                    plan.set("md5sum", hfs::file_digest(dest, "md5").ok());
                }
                Ok(plan)
            }
        }
    }

    fn apply(
        args: &Args,
        o: Observed,
        plan: &Plan<Op>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let mut out = ResultMap::new();
        let (dest, tmp, dest_meta) = match o {
            Observed::Exists { dest, meta } => (dest, None, Some(meta)),
            Observed::NotModified { dest, .. } => (dest, None, None),
            Observed::Fetched {
                dest,
                tmp,
                dest_meta,
                ..
            } => (dest, Some(tmp), dest_meta),
        };
        let installing = plan.ops.iter().any(|op| matches!(op, Op::Install));
        for op in &plan.ops {
            match op {
                Op::Install => {
                    let Some(tmp) = &tmp else { continue };
                    if args.bool("backup") && dest_meta.is_some() {
                        let b = hfs::backup_file(&dest).map_err(|e| {
                            ModuleError::new(format!(
                                "Could not make backup of {}: {e}",
                                dest.display()
                            ))
                        })?;
                        out.insert("backup_file".into(), Value::from(b.display().to_string()));
                    }
                    install(
                        tmp.path(),
                        &dest,
                        dest_meta.as_ref(),
                        &FileAttrs::from_args(args)?,
                    )?;
                }
                Op::Attrs(changes) => {
                    if !installing {
                        hfs::apply_attrs(&dest, changes)?;
                    }
                }
            }
        }
        if tmp.is_some() {
            out.insert(
                "md5sum".into(),
                hfs::file_digest(&dest, "md5").map_or(Value::from(()), Value::from),
            );
        }
        out.extend(hfs::path_info(&dest));
        Ok(out)
    }
}

/// Put the downloaded file at `dest` atomically: the existing file's owner and mode (or
/// 0666 & ~umask), then the requested attributes; renamed when on the same file system,
/// else copied next to `dest` first.
pub(crate) fn install(
    tmp: &Path,
    dest: &Path,
    existing: Option<&Meta>,
    attrs: &FileAttrs,
) -> Result<(), ModuleError> {
    let dir = dest.parent().unwrap_or(Path::new("/"));
    let err = |e: std::io::Error| {
        ModuleError::new(format!(
            "failed to copy {} to {}: {e}",
            tmp.display(),
            dest.display()
        ))
    };
    let staged = if tmp.parent() == Some(dir) {
        tmp.to_path_buf()
    } else {
        let t = tempfile::Builder::new()
            .prefix(".ansible_get_url")
            .tempfile_in(dir)
            .map_err(err)?;
        std::fs::copy(tmp, t.path()).map_err(err)?;
        t.into_temp_path().keep().map_err(|e| err(e.error))?
    };
    let base = match existing {
        Some(m) => *m,
        None => Meta::new_file(dir),
    };
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(base.perms()))
        .map_err(err)?;
    if existing.is_some() {
        let _ = std::os::unix::fs::chown(&staged, Some(base.uid), Some(base.gid));
        // atomic_move keeps the destination's extended attributes (ACLs), as copystat
        if !std::fs::symlink_metadata(dest).is_ok_and(|m| m.file_type().is_symlink())
            && let Ok(f) = std::fs::File::open(&staged)
        {
            hfs::copy_xattrs(dest, &f);
        }
    }
    let changes = hfs::plan_attrs(&staged, &base, attrs)?;
    hfs::apply_attrs(&staged, &changes)?;
    std::fs::rename(&staged, dest).map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames() {
        assert_eq!(url_filename("http://h/a/b.tar.gz?x=1"), "b.tar.gz");
        assert_eq!(url_filename("http://h/"), "index.html");
        assert_eq!(url_filename("http://h"), "index.html");
        assert_eq!(
            disposition_filename("attachment; filename=\"../x/y.bin\"").as_deref(),
            Some("y.bin")
        );
        assert_eq!(disposition_filename("inline").as_deref(), None);
    }

    #[test]
    fn digest_lines() {
        let m = parse_digest_lines("f.tgz", &["abc123  f.tgz", "def456 *./g.tgz"]);
        assert_eq!(
            m,
            vec![
                ("abc123".into(), "f.tgz".into()),
                ("def456".into(), "g.tgz".into())
            ]
        );
        assert_eq!(
            parse_digest_lines("f", &["SHA256 (f.tgz) = 0a1b"]),
            vec![("0a1b".into(), "f.tgz".into())]
        );
        assert_eq!(
            parse_digest_lines("f.tgz", &["0a1b"]),
            vec![("0a1b".into(), "f.tgz".into())]
        );
    }

    #[test]
    fn masks_passwords() {
        assert_eq!(mask_url("https://u:p@h/x"), "https://****:****@h/x");
        assert_eq!(mask_url("https://h/x"), "https://h/x");
    }
}
