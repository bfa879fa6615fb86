//! Template files: `#jinja2:` header overrides, `{% include %}`/`{% import %}`/
//! `{% extends %}` through the search paths, the `template_*` variables Ansible adds,
//! trailing newlines and `newline_sequence`.

use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::Environment;

use crate::native::Backslashes;
use crate::vars::Scope;
use crate::{FileOptions, SearchPaths, Templar, TemplateError, Value, Vars, build_env, errors};

/// Apply a `#jinja2:key: value, key: value` first line; returns the options and the
/// template text after that line.
pub(crate) fn apply_header<'s>(
    source: &'s str,
    opts: &FileOptions,
) -> Result<(FileOptions, &'s str), String> {
    let mut opts = opts.clone();
    let Some(rest) = source.strip_prefix("#jinja2:") else {
        return Ok((opts, source));
    };
    let Some((line, body)) = rest.split_once('\n') else {
        return Err("Missing newline after '#jinja2:' override.".into());
    };
    for pair in split_pairs(line.trim_end_matches('\r')) {
        let Some((key, value)) = pair.split_once(':') else {
            return Err(format!(
                "Missing key-value separator `:` in '#jinja2:' override pair '{pair}'."
            ));
        };
        let key = key.trim();
        let value = parse_literal(value.trim());
        let flag = || match value.as_str() {
            "True" | "true" => Ok(true),
            "False" | "false" => Ok(false),
            other => Err(format!(
                "'#jinja2:' override {key} must be True or False, not {other}"
            )),
        };
        match key {
            "trim_blocks" => opts.trim_blocks = flag()?,
            "lstrip_blocks" => opts.lstrip_blocks = flag()?,
            "keep_trailing_newline" => opts.keep_trailing_newline = flag()?,
            "newline_sequence" => opts.newline_sequence = value,
            "block_start_string" => opts.block_start_string = value,
            "block_end_string" => opts.block_end_string = value,
            "variable_start_string" => opts.variable_start_string = value,
            "variable_end_string" => opts.variable_end_string = value,
            "comment_start_string" => opts.comment_start_string = value,
            "comment_end_string" => opts.comment_end_string = value,
            "line_statement_prefix" => opts.line_statement_prefix = value,
            "line_comment_prefix" => opts.line_comment_prefix = value,
            other => return Err(format!("unknown '#jinja2:' override {other:?}")),
        }
    }
    Ok((opts, body))
}

/// Split `a: 'x,y', b: True` at commas outside quotes.
fn split_pairs(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quote = None;
    let mut start = 0;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ',') => {
                out.push(line[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = line[start..].trim();
    if !last.is_empty() {
        out.push(last);
    }
    out.into_iter().filter(|p| !p.is_empty()).collect()
}

/// A Python literal as Ansible reads it in the header: quoted strings unquoted with
/// `\n`, `\r`, `\t` escapes; anything else as written.
fn parse_literal(v: &str) -> String {
    let unquoted = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')));
    match unquoted {
        Some(s) => s
            .replace("\\n", "\n")
            .replace("\\r", "\r")
            .replace("\\t", "\t"),
        None => v.to_string(),
    }
}

/// Where an `{% include %}` name resolves: `<dir>/templates/<name>` then `<dir>/<name>`
/// for each search dir, then next to the including template.
fn resolve(name: &str, search: &[PathBuf], own_dir: &Path) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    search
        .iter()
        .flat_map(|d| [d.join("templates").join(name), d.join(name)])
        .chain([own_dir.join("templates").join(name), own_dir.join(name)])
        .find(|c| c.is_file())
}

/// What decides a file's environment and compiled template: the syntax options, the
/// name and the prepared text. Only files that load no others are cached (an included
/// file may change during a run; Ansible reads it again every time).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct EnvKey {
    syntax: [String; 8],
    flags: [bool; 3],
    name: String,
    text: String,
}

impl EnvKey {
    fn new(opts: &FileOptions, name: &str, text: &str) -> EnvKey {
        EnvKey {
            syntax: [
                opts.block_start_string.clone(),
                opts.block_end_string.clone(),
                opts.variable_start_string.clone(),
                opts.variable_end_string.clone(),
                opts.comment_start_string.clone(),
                opts.comment_end_string.clone(),
                opts.line_statement_prefix.clone(),
                opts.line_comment_prefix.clone(),
            ],
            flags: [
                opts.trim_blocks,
                opts.lstrip_blocks,
                opts.keep_trailing_newline,
            ],
            name: name.to_string(),
            text: text.to_string(),
        }
    }
}

/// Whether a template may load other files (`include`, `import`, `from`, `extends`);
/// a conservative test on the text.
fn loads_others(text: &str) -> bool {
    text.contains("include") || text.contains("import") || text.contains("extends")
}

/// A fresh environment for one template file, the file compiled in as `name`.
fn file_env(
    path: &Path,
    body: &str,
    name: &str,
    prepared: String,
    search: &SearchPaths,
    opts: &FileOptions,
    delims: OwnedDelimiters,
) -> Result<Environment<'static>, TemplateError> {
    let mut env = build_env(opts).map_err(|e| TemplateError {
        file: Some(path.to_path_buf()),
        ..e
    })?;
    let dirs = search.dirs.clone();
    let own_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let include_delims = delims;
    let include_opts = opts.clone();
    env.set_loader(move |name| match resolve(name, &dirs, &own_dir) {
        // string literals and Python's `%` formatting are rewritten in included files too
        Some(p) => {
            let src = std::fs::read_to_string(&p).map_err(|e| {
                minijinja::Error::new(
                    minijinja::ErrorKind::TemplateNotFound,
                    format!("could not read {}: {e}", p.display()),
                )
            })?;
            if let Some(msg) = repeated_kwarg(&src, &include_opts) {
                return Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    format!("{msg} (in {})", p.display()),
                ));
            }
            prepare(src, &include_delims, &include_opts)
                .map(Some)
                .map_err(|e| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::SyntaxError,
                        format!("invalid string literal in {}: {e}", p.display()),
                    )
                })
        }
        None => Ok(None),
    });
    env.add_template_owned(name.to_string(), prepared)
        .map_err(|e| errors::convert(&e, body, Some(path), None))?;
    Ok(env)
}

/// Render a file's `body`; `stat` is the file's stat when the caller has it (else it is
/// made here, for the `template_*` variables).
pub(crate) fn render(
    templar: &Templar,
    path: &Path,
    body: &str,
    stat: Option<&Metadata>,
    vars: &Vars,
    search: &SearchPaths,
    opts: &FileOptions,
) -> Result<String, TemplateError> {
    let (out, _) = render_raw(templar, path, body, stat, vars, search, opts)?;
    Ok(finish_text(out, body, opts))
}

/// [`render`] with Jinja2's native concat, as the `template` lookup renders: a file whose
/// only output is one value (printed directly or through a macro) gives that value.
pub(crate) fn render_native(
    templar: &Templar,
    path: &Path,
    body: &str,
    stat: Option<&Metadata>,
    vars: &Vars,
    search: &SearchPaths,
    opts: &FileOptions,
) -> Result<Value, TemplateError> {
    let (out, printed) = render_raw(templar, path, body, stat, vars, search, opts)?;
    // A macro's result is taken back as the value it printed only in a file without
    // filters or `~` (`{{ m() | trim }}` is text in Ansible too).
    let allow_chain = !body.contains(['|', '~']);
    Ok(match printed.native(&out, allow_chain) {
        Some(v) => v,
        None => Value::from(finish_text(out, body, opts)),
    })
}

/// The render's text as minijinja gives it, and what it printed.
fn render_raw(
    templar: &Templar,
    path: &Path,
    body: &str,
    stat: Option<&Metadata>,
    vars: &Vars,
    search: &SearchPaths,
    opts: &FileOptions,
) -> Result<(String, crate::Outputs), TemplateError> {
    let name = path.display().to_string();
    let delims = OwnedDelimiters::new(opts);
    if let Some(msg) = repeated_kwarg(body, opts) {
        return Err(TemplateError {
            file: Some(path.to_path_buf()),
            ..TemplateError::new(format!("{msg} (in template file {})", path.display()))
        });
    }
    let prepared = prepare(body.to_string(), &delims, opts).map_err(|e| TemplateError {
        file: Some(path.to_path_buf()),
        ..TemplateError::new(format!(
            "Syntax error in template: invalid string literal: {e} (in template file {})",
            path.display()
        ))
    })?;
    let key = (!loads_others(&prepared)).then(|| EnvKey::new(opts, &name, &prepared));
    let cached = key.as_ref().and_then(|k| templar.cached_file_env(k));
    let env = match cached {
        Some(env) => env,
        None => {
            let env = Arc::new(file_env(path, body, &name, prepared, search, opts, delims)?);
            if let Some(k) = key {
                templar.cache_file_env(k, env.clone());
            }
            env
        }
    };

    let mut layers = Vec::with_capacity(vars.layers.len() + 2);
    layers.push(template_vars(path, stat, opts));
    layers.extend(vars.layers.iter().cloned());
    layers.push(Value::from_pairs([(
        "ansible_managed",
        Value::from_safe_string("Ansible managed".to_string()),
    )]));
    let scope = Scope::new(templar, &Vars::new(layers));
    let tmpl = env
        .get_template(&name)
        .map_err(|e| errors::convert(&e, body, Some(path), None))?;
    let frame = crate::OutputFrame::push();
    let rendered = tmpl.render(Value::from_dyn_object(scope.clone()));
    let printed = frame.take();
    drop(frame);
    if let Some(fatal) = scope.take_fatal() {
        return Err(TemplateError {
            file: fatal.file.or_else(|| Some(path.to_path_buf())),
            ..fatal
        });
    }
    let out = rendered.map_err(|e| {
        let err = errors::convert(&e, body, Some(path), Some((templar, &scope)));
        match (err.undefined, scope.take_undefined()) {
            (true, Some(inner)) => TemplateError {
                message: format!(
                    "{} (in template file {}:{})",
                    inner.message,
                    path.display(),
                    err.line.unwrap_or(0)
                ),
                ..err
            },
            _ => err,
        }
    })?;
    Ok((out, printed))
}

/// Trailing newlines the render dropped put back, and the newline sequence applied.
fn finish_text(mut out: String, body: &str, opts: &FileOptions) -> String {
    if !opts.keep_trailing_newline {
        let missing = crate::trailing_newlines(body).saturating_sub(crate::trailing_newlines(&out));
        for _ in 0..missing {
            out.push('\n');
        }
    }
    if opts.newline_sequence != "\n" {
        out = out
            .replace("\r\n", "\n")
            .replace('\n', &opts.newline_sequence);
    }
    out
}

/// `template_host`, `template_path`, `template_fullpath`, `template_uid`,
/// `template_mtime`, `template_run_date`, `template_destpath`; `stat` is the file's, when
/// the caller has it.
fn template_vars(path: &Path, stat: Option<&Metadata>, opts: &FileOptions) -> Value {
    use std::os::unix::fs::MetadataExt;
    let fullpath = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let made;
    let meta = match stat {
        Some(m) => Some(m),
        None => {
            made = std::fs::metadata(path).ok();
            made.as_ref()
        }
    };
    let uid = meta.map(|m| m.uid());
    let owner = uid.map(|u| match user_name(u) {
        Some(n) => Value::from(n),
        None => Value::from(u),
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_secs() as i64, d.subsec_micros()))
        .unwrap_or((0, 0));
    let mtime = meta.map(|m| (m.mtime(), (m.mtime_nsec() / 1000) as u32));
    let host = node_name();
    Value::from_pairs([
        ("template_host", Value::from(host)),
        (
            "template_path",
            Value::from(
                opts.template_path
                    .clone()
                    .unwrap_or_else(|| path.display().to_string()),
            ),
        ),
        (
            "template_fullpath",
            Value::from(fullpath.display().to_string()),
        ),
        ("template_uid", owner.unwrap_or_default()),
        (
            "template_mtime",
            mtime
                .map(|(s, us)| Value::from(py_datetime(s, us)))
                .unwrap_or_default(),
        ),
        ("template_run_date", Value::from(py_datetime(now.0, now.1))),
        (
            "template_destpath",
            opts.dest_path.clone().map(Value::from).unwrap_or_default(),
        ),
    ])
}

/// The host's name as Ansible's template action gives it (`os.uname()[1]`): the kernel's
/// node name, what /proc/sys/kernel/hostname reads, without opening a file.
fn node_name() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.nodename().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What identifies a reading of a passwd file: (device, inode, size, mtime s, mtime ns).
type PasswdStamp = (u64, u64, u64, i64, i64);

/// A passwd file's text, its stamp, and the epoch the stamp was last compared in.
struct PasswdText {
    stamp: PasswdStamp,
    checked: Option<u64>,
    text: String,
}

/// /etc/passwd as last read.
static PASSWD: std::sync::Mutex<Option<PasswdText>> = std::sync::Mutex::new(None);

/// The user name for a uid from /etc/passwd (see [`cached_user_name`]).
fn user_name(uid: u32) -> Option<String> {
    let mut cached = PASSWD.lock().unwrap_or_else(|p| p.into_inner());
    cached_user_name(&mut cached, Path::new("/etc/passwd"), uid)
}

fn passwd_stamp(path: &Path) -> Option<PasswdStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
}

/// The user name for a uid from the passwd file at `path` (its first line with that uid),
/// read again only when it changed: its stamp (device, inode, size, mtime) is compared at
/// each lookup, or once per epoch where the run manages them ([`crate::epoch`]: a task that
/// may add users starts a new one). A uid not found in a reading trusted without a look is
/// looked for again after one (a user added outside the run).
fn cached_user_name(cached: &mut Option<PasswdText>, path: &Path, uid: u32) -> Option<String> {
    if let Some(c) = cached.as_ref()
        && crate::epoch::trusted(c.checked)
        && let Some(name) = passwd_lookup(&c.text, uid)
    {
        return Some(name);
    }
    let checked = crate::epoch::current();
    let Some(stamp) = passwd_stamp(path) else {
        // Gone or not to be looked at: no name, and nothing kept.
        *cached = None;
        return None;
    };
    match cached.as_mut() {
        Some(c) if c.stamp == stamp => c.checked = checked,
        _ => {
            *cached = std::fs::read_to_string(path).ok().map(|text| PasswdText {
                stamp,
                checked,
                text,
            });
        }
    }
    cached.as_ref().and_then(|c| passwd_lookup(&c.text, uid))
}

/// The name on the first line of passwd text whose uid is `uid`.
fn passwd_lookup(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_string())
    })
}

/// Python's `str(datetime)` for a Unix time (UTC): `2024-01-31 12:00:00.123456`.
pub(crate) fn py_datetime(secs: i64, micros: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if micros == 0 {
        format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}")
    } else {
        format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{micros:06}")
    }
}

/// A file's delimiters, owned so the include loader can keep them.
#[derive(Clone)]
struct OwnedDelimiters([String; 6]);

impl OwnedDelimiters {
    fn new(o: &FileOptions) -> Self {
        OwnedDelimiters([
            o.variable_start_string.clone(),
            o.variable_end_string.clone(),
            o.block_start_string.clone(),
            o.block_end_string.clone(),
            o.comment_start_string.clone(),
            o.comment_end_string.clone(),
        ])
    }
}

/// Read string literals as Jinja2 does (Python escapes: Ansible does not pre-escape
/// template files), and rewrite Python `%` formatting (`'%05d' % 42`) into what
/// minijinja can run, as string templates get it; `*` gets its limit on repetition.
fn prepare(src: String, d: &OwnedDelimiters, opts: &FileOptions) -> Result<String, String> {
    let [vs, ve, bs, be, cs, ce] = &d.0;
    let delims = crate::native::Delimiters {
        variable: (vs, ve),
        block: (bs, be),
        comment: (cs, ce),
    };
    let src = match crate::native::rewrite_literals(&src, Backslashes::Python, &delims)? {
        std::borrow::Cow::Borrowed(_) => src,
        std::borrow::Cow::Owned(s) => s,
    };
    let src = match crate::native::rewrite_undefined_chains(&src, &delims) {
        std::borrow::Cow::Borrowed(_) => src,
        std::borrow::Cow::Owned(s) => s,
    };
    let src = if src.contains('%') {
        crate::native::rewrite_percent_ops(&src, false)
    } else {
        src
    };
    // the syntax is only built for a template that has a `*` to guard
    if src.contains('*')
        && let Ok(syntax) = crate::syntax_config(opts)
    {
        return Ok(crate::repeat::guard_repeats_owned(src, &syntax));
    }
    Ok(src)
}

/// The message for a template file that gives one keyword argument twice in a call (see
/// [`crate::repeat::repeated_kwarg`]), if it does.
fn repeated_kwarg(src: &str, opts: &FileOptions) -> Option<String> {
    if !src.contains('=') {
        return None;
    }
    let syntax = crate::syntax_config(opts).ok()?;
    crate::repeat::repeated_kwarg(src, &syntax)
        .map(|name| format!("Error rendering template: keyword argument repeated: {name}"))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn header() {
        let (o, body) = apply_header(
            "#jinja2: trim_blocks: False, variable_start_string: '[%', variable_end_string: '%]'\nx",
            &FileOptions::default(),
        )
        .unwrap();
        assert!(!o.trim_blocks);
        assert_eq!(o.variable_start_string, "[%");
        assert_eq!(o.variable_end_string, "%]");
        assert_eq!(body, "x");
        assert!(apply_header("#jinja2: trim_blocks: False", &FileOptions::default()).is_err());
        let (o, _) = apply_header(
            "#jinja2: line_statement_prefix:\":\", line_comment_prefix: '##'\n",
            &FileOptions::default(),
        )
        .unwrap();
        assert_eq!(
            (
                o.line_statement_prefix.as_str(),
                o.line_comment_prefix.as_str()
            ),
            (":", "##")
        );
        let e = apply_header("#jinja2: lstrip_blocks=True\nx", &FileOptions::default());
        assert!(e.unwrap_err().starts_with("Missing key-value separator"));
    }

    #[test]
    fn template_uid_follows_changes_of_the_passwd_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("passwd");
        std::fs::write(
            &p,
            "root:x:0:0::/root:/bin/sh\n#x:y:7\nalice:x:1000:1000::/h:/s\n",
        )
        .unwrap();
        let mut c = None;
        assert_eq!(cached_user_name(&mut c, &p, 1000).as_deref(), Some("alice"));
        assert_eq!(cached_user_name(&mut c, &p, 0).as_deref(), Some("root"));
        // as the uncached reading: the first line with the uid, any line with one
        assert_eq!(cached_user_name(&mut c, &p, 7).as_deref(), Some("#x"));
        assert_eq!(cached_user_name(&mut c, &p, 1001), None);
        // A user added, another renamed: seen at the next lookup (in a new epoch where
        // another test of this binary made them managed, as the engine starts one after
        // a task that may have changed the host).
        std::fs::write(
            &p,
            "root:x:0:0::/root:/bin/sh\n#x:y:7\nbobby:x:1000:1000::/h:/s\nbob:x:1001:1001::/h:/s\n",
        )
        .unwrap();
        crate::epoch::touched();
        assert_eq!(cached_user_name(&mut c, &p, 1001).as_deref(), Some("bob"));
        assert_eq!(cached_user_name(&mut c, &p, 1000).as_deref(), Some("bobby"));
        let tmp = d.path().join("passwd.new");
        std::fs::write(
            &tmp,
            "root:x:0:0::/root:/bin/sh\n#x:y:7\ncarol:x:1000:1000::/h:/s\nbob:x:1001:1001::/h:/s\n",
        )
        .unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        crate::epoch::touched();
        assert_eq!(cached_user_name(&mut c, &p, 1000).as_deref(), Some("carol"));
        std::fs::remove_file(&p).unwrap();
        crate::epoch::touched();
        assert_eq!(cached_user_name(&mut c, &p, 0), None);
        assert!(c.is_none());
    }

    #[test]
    fn template_host_is_the_kernel_node_name() {
        let proc = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(node_name(), proc.trim_end_matches('\n'));
    }

    #[test]
    fn datetime() {
        assert_eq!(py_datetime(0, 0), "1970-01-01 00:00:00");
        assert_eq!(py_datetime(1_700_000_000, 5), "2023-11-14 22:13:20.000005");
    }
}
