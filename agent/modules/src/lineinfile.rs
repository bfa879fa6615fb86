//! The `lineinfile` module, and what the text-editing modules (`lineinfile`,
//! `blockinfile`, `replace`) share: reading a text file the way Python opens it,
//! planning the write and the attribute changes, backups, `validate`.

use std::path::{Path, PathBuf};

use crate::command::{CmdOutput, run_simple};
use crate::host::fs::{self as hfs, AttrChange, FileAttrs, Meta};
use crate::replace::{PyTemplate, compile};
use crate::spec::{Arg, Args, Def, FILE_COMMON};
use crate::{Ctx, Diff, Module, ModuleError, Plan, ResultMap, Value};

/// How line ends are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Newlines {
    /// Python's default text mode: `\r\n` and `\r` read as `\n`.
    Universal,
    /// `newline=''`: as they are.
    Keep,
}

/// A text file as the editing modules see it.
#[derive(Debug)]
pub struct TextFile {
    /// Where writes go: the path with symlinks resolved (Ansible's `realpath`).
    pub(crate) real: PathBuf,
    pub(crate) is_dir: bool,
    /// The decoded content; `None` when the file does not exist.
    pub(crate) content: Option<String>,
    /// The existing file's owner/group/mode, or those a new file would get.
    pub(crate) meta: Meta,
    /// Whether the parent directory is missing (to be created with `create`).
    pub(crate) parent_missing: Option<PathBuf>,
}

fn check_encoding(encoding: &str) -> Result<(), ModuleError> {
    match encoding.to_ascii_lowercase().replace('_', "-").as_str() {
        "utf-8" | "utf8" | "latin-1" | "latin1" | "iso-8859-1" | "ascii" | "us-ascii" => Ok(()),
        e if crate::codepage::table(e).is_some() => Ok(()),
        _ => Err(ModuleError::new(format!(
            "unsupported encoding: {encoding} (utf-8, latin-1, ascii, cp1252 and cp273 are supported)"
        ))),
    }
}

fn is_latin1(encoding: &str) -> bool {
    matches!(
        encoding.to_ascii_lowercase().replace('_', "-").as_str(),
        "latin-1" | "latin1" | "iso-8859-1"
    )
}

/// Decode file bytes as Python's `open(encoding=...)` would.
pub(crate) fn decode(bytes: &[u8], encoding: &str, path: &Path) -> Result<String, ModuleError> {
    check_encoding(encoding)?;
    if is_latin1(encoding) {
        return Ok(bytes.iter().map(|&b| char::from(b)).collect());
    }
    if let Some(t) = crate::codepage::table(encoding) {
        return Ok(crate::codepage::decode(bytes, t));
    }
    let s = std::str::from_utf8(bytes).map_err(|e| {
        ModuleError::new(format!(
            "'{encoding}' codec can't decode {}: {e}",
            path.display()
        ))
    })?;
    if encoding.to_ascii_lowercase().contains("ascii") && !s.is_ascii() {
        return Err(ModuleError::new(format!(
            "'ascii' codec can't decode {}",
            path.display()
        )));
    }
    Ok(s.to_string())
}

/// Encode text for writing.
pub(crate) fn encode(text: &str, encoding: &str) -> Result<Vec<u8>, ModuleError> {
    check_encoding(encoding)?;
    if let Some(t) = crate::codepage::table(encoding) {
        return crate::codepage::encode(text, t).map_err(|c| {
            ModuleError::new(format!("'{encoding}' codec can't encode character {c:?}"))
        });
    }
    if is_latin1(encoding) {
        return text
            .chars()
            .map(|c| {
                u8::try_from(u32::from(c)).map_err(|_| {
                    ModuleError::new(format!("'latin-1' codec can't encode character {c:?}"))
                })
            })
            .collect();
    }
    if encoding.to_ascii_lowercase().contains("ascii") && !text.is_ascii() {
        return Err(ModuleError::new(
            "'ascii' codec can't encode the new content",
        ));
    }
    Ok(text.as_bytes().to_vec())
}

/// `\r\n` and lone `\r` become `\n`.
pub(crate) fn universal_newlines(s: String) -> String {
    if !s.contains('\r') {
        return s;
    }
    s.replace("\r\n", "\n").replace('\r', "\n")
}

impl TextFile {
    /// Read `path` (observe): existence, directory, content, attributes.
    pub(crate) fn read(
        args: &Args,
        path: &str,
        newlines: Newlines,
    ) -> Result<TextFile, ModuleError> {
        let p = Path::new(path);
        let encoding = args.str("encoding").unwrap_or("utf-8");
        let md = hfs::stat(p).map_err(|e| ModuleError::io("Unable to stat", p, &e))?;
        let real = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Some(md) = md else {
            let parent_missing = (!dir.exists()).then(|| dir.clone());
            let meta = Meta::new_file(parent_missing.as_deref().map_or(&dir, |_| Path::new("/")));
            return Ok(TextFile {
                real,
                is_dir: false,
                content: None,
                meta,
                parent_missing,
            });
        };
        if md.is_dir() {
            return Ok(TextFile {
                real,
                is_dir: true,
                content: None,
                meta: Meta::from(&md),
                parent_missing: None,
            });
        }
        let bytes = std::fs::read(p).map_err(|e| ModuleError::io("Unable to read", p, &e))?;
        let mut content = decode(&bytes, encoding, p)?;
        if newlines == Newlines::Universal {
            content = universal_newlines(content);
        }
        Ok(TextFile {
            real,
            is_dir: false,
            content: Some(content),
            meta: Meta::from(&md),
            parent_missing: None,
        })
    }

    pub(crate) fn exists(&self) -> bool {
        self.content.is_some()
    }
}

/// One change a text-editing module makes.
#[derive(Debug)]
pub enum EditOp {
    /// Create the missing parent directories (`create: true`).
    MakeDirs(PathBuf),
    /// Replace the file's content (after a backup when asked, after `validate`).
    Write { content: Vec<u8>, backup: bool },
    /// Owner, group, mode.
    Attrs(Vec<AttrChange>),
}

/// Plan writing `new` to the file (and creating its directory if missing).
pub(crate) fn plan_write(
    plan: &mut Plan<EditOp>,
    args: &Args,
    file: &TextFile,
    new: &str,
    backup: bool,
) -> Result<(), ModuleError> {
    if let Some(v) = args.str("validate")
        && !v.contains("%s")
    {
        return Err(ModuleError::new(format!("validate must contain %s: {v}")));
    }
    let content = encode(new, args.str("encoding").unwrap_or("utf-8"))?;
    if let Some(dir) = &file.parent_missing {
        plan.ops.push(EditOp::MakeDirs(dir.clone()));
    }
    plan.ops.push(EditOp::Write {
        content,
        backup: backup && file.exists(),
    });
    Ok(())
}

/// Ansible's `check_file_attrs`: plan owner/group/mode changes, extend `msg`, and add
/// the attribute diff. Returns whether anything changes.
pub(crate) fn plan_file_attrs(
    plan: &mut Plan<EditOp>,
    args: &Args,
    file: &TextFile,
    msg: &mut String,
    header: Option<String>,
) -> Result<bool, ModuleError> {
    let attrs = FileAttrs::from_args(args)?;
    if attrs.is_empty() {
        return Ok(false);
    }
    let changes = hfs::plan_attrs(&file.real, &file.meta, &attrs)?;
    if changes.is_empty() {
        return Ok(false);
    }
    if !msg.is_empty() || !plan.ops.is_empty() {
        msg.push_str(" and ");
    }
    msg.push_str("ownership, perms or SE linux context changed");
    if let Some(h) = header {
        let mut before = indexmap::IndexMap::new();
        let mut after = indexmap::IndexMap::new();
        hfs::diff_attrs(&changes, &mut before, &mut after);
        plan.diff.push(Diff {
            before: Value::from_pairs(before),
            after: Value::from_pairs(after),
            before_header: Some(h.clone()),
            after_header: Some(h),
        });
    }
    plan.ops.push(EditOp::Attrs(changes));
    Ok(true)
}

/// Write `content` to a temporary file and run the `validate` command (`%s` is the
/// file) on it; returns how the command ended.
pub(crate) fn run_validate(validate: &str, content: &[u8]) -> Result<CmdOutput, ModuleError> {
    use std::io::Write as _;
    let mut tmp = tempfile::Builder::new()
        .prefix("ansible.validate.")
        .tempfile()
        .map_err(|e| ModuleError::new(format!("Unable to create a temporary file: {e}")))?;
    tmp.write_all(content)
        .and_then(|_| tmp.flush())
        .map_err(|e| ModuleError::new(format!("Unable to write a temporary file: {e}")))?;
    let cmd = validate
        .replace("%%", "\u{0}")
        .replace("%s", &tmp.path().display().to_string())
        .replace('\u{0}', "%");
    run_simple(&cmd)
}

/// `validate` for lineinfile, blockinfile and replace.
fn validate_content(validate: &str, content: &[u8]) -> Result<(), ModuleError> {
    let out = run_validate(validate, content)?;
    if out.rc != 0 {
        return Err(ModuleError::new(format!(
            "failed to validate: rc:{} error:{}",
            out.rc, out.stderr
        )));
    }
    Ok(())
}

/// Carry out a text-editing plan. `backup_key` is where the backup path is reported.
pub(crate) fn apply_edit(
    args: &Args,
    file: &TextFile,
    plan: &Plan<EditOp>,
    backup_key: &str,
) -> Result<ResultMap, ModuleError> {
    let mut result = ResultMap::new();
    let wrote = plan.ops.iter().any(|o| matches!(o, EditOp::Write { .. }));
    for op in &plan.ops {
        match op {
            EditOp::MakeDirs(dir) => std::fs::create_dir_all(dir)
                .map_err(|e| ModuleError::new(format!("Error creating {} ({e})", dir.display())))?,
            EditOp::Write { content, backup } => {
                if *backup {
                    let b = hfs::backup_file(&file.real).map_err(|e| {
                        ModuleError::new(format!(
                            "Could not make backup of {}: {e}",
                            file.real.display()
                        ))
                    })?;
                    result.insert(backup_key.into(), Value::from(b.display().to_string()));
                }
                if let Some(v) = args.str("validate") {
                    validate_content(v, content)?;
                }
                let attrs = FileAttrs::from_args(args)?;
                hfs::atomic_write(&file.real, content, &attrs)
                    .map_err(|e| ModuleError::io("Unable to write", &file.real, &e))?;
            }
            EditOp::Attrs(changes) => {
                // A write already gave the new file its attributes.
                if !wrote {
                    hfs::apply_attrs(&file.real, changes)?;
                }
            }
        }
    }
    Ok(result)
}

/// Fail as Ansible's `mutually_exclusive` does.
pub(crate) fn mutually_exclusive(args: &Args, groups: &[&[&str]]) -> Result<(), ModuleError> {
    for g in groups {
        // A bool left at its default `false` counts as not given.
        let set: Vec<&str> = g
            .iter()
            .copied()
            .filter(|n| args.get(n).is_some_and(|v| *v != Value::from(false)))
            .collect();
        if set.len() > 1 {
            return Err(ModuleError::new(format!(
                "parameters are mutually exclusive: {}",
                g.join("|")
            )));
        }
    }
    Ok(())
}

/// Python's `str.splitlines(True)`.
pub(crate) fn split_lines_keep(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let end = match c {
            '\r' => {
                if let Some(&(_, '\n')) = it.peek() {
                    it.next();
                    i + 2
                } else {
                    i + 1
                }
            }
            '\n' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}'
            | '\u{2029}' => i + c.len_utf8(),
            _ => continue,
        };
        out.push(s[start..end].to_string());
        start = end;
    }
    if start < s.len() {
        out.push(s[start..].to_string());
    }
    out
}

/// Python's `readlines()` on universal-newline text: split after each `\n`.
fn read_lines(s: &str) -> Vec<String> {
    s.split_inclusive('\n').map(str::to_string).collect()
}

fn strip_eol(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

pub struct Lineinfile;

const SPEC: &[Arg] = &[
    Arg::path("path")
        .required()
        .aliases(&["dest", "destfile", "name"]),
    Arg::str("state")
        .default(Def::Str("present"))
        .choices(&["absent", "present"]),
    Arg::str("regexp").aliases(&["regex"]),
    Arg::str("search_string"),
    Arg::str("line").aliases(&["value"]),
    Arg::str("encoding").default(Def::Str("utf-8")),
    Arg::str("insertafter"),
    Arg::str("insertbefore"),
    Arg::bool("backrefs", false),
    Arg::bool("create", false),
    Arg::bool("backup", false),
    Arg::bool("firstmatch", false),
    Arg::str("validate"),
];

fn rx_err(e: String) -> ModuleError {
    ModuleError::new(e)
}

/// The lines after `present`, and the message ("" when nothing changes).
fn present_lines(
    args: &Args,
    mut lines: Vec<String>,
) -> Result<(Vec<String>, &'static str), ModuleError> {
    let line = args.str("line").unwrap_or_default();
    let regexp = args.str("regexp");
    let search_string = args.str("search_string");
    let backrefs = args.bool("backrefs");
    let firstmatch = args.bool("firstmatch");
    let mut insertafter = args.str("insertafter");
    let insertbefore = args.str("insertbefore");
    if insertafter.is_none() && insertbefore.is_none() {
        insertafter = Some("EOF");
    }
    let re_m = regexp.map(|r| compile(r, false, false)).transpose()?;
    let re_ins = match (insertafter, insertbefore) {
        (Some(a), _) if a != "BOF" && a != "EOF" => Some(compile(a, false, false)?),
        (None, Some(b)) if b != "BOF" => Some(compile(b, false, false)?),
        _ => None,
    };
    let mut index: [isize; 2] = [-1, -1];
    let mut matched: Option<(usize, crate::replace::PyMatch)> = None;
    let mut found_search = false;
    let mut exact_line_match = false;

    if let Some(re) = &re_m {
        for (no, cur) in lines.iter().enumerate() {
            if let Some(m) = re.search(cur).map_err(rx_err)? {
                index[0] = no as isize;
                matched = Some((no, m));
                if firstmatch {
                    break;
                }
            }
        }
    }
    if let Some(ss) = search_string {
        for (no, cur) in lines.iter().enumerate() {
            if cur.contains(ss) {
                index[0] = no as isize;
                found_search = true;
                if firstmatch {
                    break;
                }
            }
        }
    }
    let any_match = matched.is_some() || found_search;
    if !any_match {
        for (no, cur) in lines.iter().enumerate() {
            if line == strip_eol(cur) {
                index[0] = no as isize;
                exact_line_match = true;
            } else if let Some(re) = &re_ins
                && re.is_match(cur).map_err(rx_err)?
            {
                if insertafter.is_some() {
                    index[1] = no as isize + 1;
                    if firstmatch {
                        break;
                    }
                }
                if insertbefore.is_some() {
                    index[1] = no as isize;
                    if firstmatch {
                        break;
                    }
                }
            }
        }
    }

    let nl = "\n";
    let with_nl = |l: &str| format!("{l}{nl}");
    let mut msg = "";
    let is_bof = |o: Option<&str>| o == Some("BOF");
    if index[0] != -1 {
        let mut new_line = match (&matched, backrefs) {
            (Some((no, m)), true) => {
                let re = re_m.as_ref().ok_or_else(|| ModuleError::new("no regexp"))?;
                let t = PyTemplate::parse(line, re).map_err(rx_err)?;
                t.expand(&lines[*no], m)
            }
            _ => line.to_string(),
        };
        if !new_line.ends_with(nl) {
            new_line.push_str(nl);
        }
        if regexp.is_none() && search_string.is_none() && !exact_line_match {
            // Not reachable with index[0] set, as in Ansible; kept for parity.
        } else if lines[index[0] as usize] != new_line {
            lines[index[0] as usize] = new_line;
            msg = "line replaced";
        }
    } else if backrefs {
        // Backrefs without a match: leave the file alone.
    } else if is_bof(insertbefore) || is_bof(insertafter) {
        lines.insert(0, with_nl(line));
        msg = "line added";
    } else if insertafter == Some("EOF") || index[1] == -1 {
        if let Some(last) = lines.last()
            && !last.ends_with(['\n', '\r'])
        {
            lines.push(nl.to_string());
        }
        lines.push(with_nl(line));
        msg = "line added";
    } else if insertafter.is_some() && index[1] != -1 {
        let i = index[1] as usize;
        if lines.len() == i {
            if strip_eol(&lines[i - 1]) != line {
                lines.push(with_nl(line));
                msg = "line added";
            }
        } else if line != strip_eol(&lines[i]) {
            lines.insert(i, with_nl(line));
            msg = "line added";
        }
    } else {
        lines.insert(index[1].max(0) as usize, with_nl(line));
        msg = "line added";
    }
    Ok((lines, msg))
}

/// What `lineinfile` plans on top of the text edit: the `found` count for absent.
fn absent_lines(args: &Args, lines: Vec<String>) -> Result<(Vec<String>, usize), ModuleError> {
    let regexp = args.str("regexp");
    let search_string = args.str("search_string");
    let line = args.str("line");
    let re = regexp.map(|r| compile(r, false, false)).transpose()?;
    let mut kept = Vec::with_capacity(lines.len());
    let mut found = 0;
    for cur in lines {
        let hit = if let Some(re) = &re {
            re.is_match(&cur).map_err(rx_err)?
        } else if let Some(ss) = search_string {
            cur.contains(ss)
        } else {
            line == Some(strip_eol(&cur))
        };
        if hit {
            found += 1;
        } else {
            kept.push(cur);
        }
    }
    Ok((kept, found))
}

impl Module for Lineinfile {
    const SPECS: &'static [&'static [Arg]] = &[SPEC, FILE_COMMON];
    type Observed = TextFile;
    type Op = EditOp;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<TextFile, ModuleError> {
        mutually_exclusive(
            args,
            &[
                &["insertbefore", "insertafter"],
                &["regexp", "search_string"],
                &["backrefs", "search_string"],
            ],
        )?;
        let path = args.str("path").unwrap_or_default();
        let file = TextFile::read(args, path, Newlines::Universal)?;
        if file.is_dir {
            return Err(ModuleError::new(format!("Path {path} is a directory !")).with("rc", 256));
        }
        Ok(file)
    }

    fn plan(args: &Args, file: &TextFile, ctx: &Ctx<'_>) -> Result<Plan<EditOp>, ModuleError> {
        let path = args.str("path").unwrap_or_default();
        let mut plan = Plan::default();
        let mut warnings = Vec::new();
        for (name, what) in [
            ("regexp", "regular expression"),
            ("search_string", "search string"),
        ] {
            if args.str(name) == Some("") {
                let mut w = format!(
                    "The {what} is an empty string, which will match every line in the file. This may have unintended consequences, such as replacing the last line in the file rather than appending."
                );
                if name == "regexp" {
                    w.push_str(" If this is desired, use '^' to match every line in the file and avoid this warning.");
                }
                warnings.push(Value::from(w));
            }
        }
        if !warnings.is_empty() {
            plan.set("warnings", Value::from(warnings));
        }
        let header = format!("{path} (content)");
        let before = file.content.clone().unwrap_or_default();
        let state = args.str("state").unwrap_or("present");
        let mut msg;
        if state == "present" {
            if args.bool("backrefs") && !args.is_set("regexp") {
                return Err(ModuleError::new("regexp is required with backrefs=true"));
            }
            if !args.is_set("line") {
                return Err(ModuleError::new("line is required with state=present"));
            }
            if !file.exists() && !args.bool("create") {
                return Err(
                    ModuleError::new(format!("Destination {path} does not exist !"))
                        .with("rc", 257),
                );
            }
            let (lines, m) = present_lines(args, read_lines(&before))?;
            msg = m.to_string();
            plan.set("backup", "");
            if !msg.is_empty() {
                let after = lines.concat();
                plan.diff.push(Diff {
                    before: Value::from(before.as_str()),
                    after: Value::from(after.as_str()),
                    before_header: Some(header.clone()),
                    after_header: Some(header),
                });
                plan_write(&mut plan, args, file, &after, args.bool("backup"))?;
            }
            if ctx.check_mode && !file.exists() {
                plan.set("msg", msg);
                return Ok(plan);
            }
        } else {
            if !args.is_set("regexp") && !args.is_set("search_string") && !args.is_set("line") {
                return Err(ModuleError::new(
                    "one of line, search_string, or regexp is required with state=absent",
                ));
            }
            if !file.exists() {
                plan.set("msg", "file not present");
                return Ok(plan);
            }
            let (lines, found) = absent_lines(args, read_lines(&before))?;
            plan.set("found", found);
            msg = String::new();
            if found > 0 {
                let after = lines.concat();
                plan.diff.push(Diff {
                    before: Value::from(before.as_str()),
                    after: Value::from(after.as_str()),
                    before_header: Some(header.clone()),
                    after_header: Some(header),
                });
                plan_write(&mut plan, args, file, &after, args.bool("backup"))?;
                msg = format!("{found} line(s) removed");
            }
            plan.set("backup", "");
        }
        plan_file_attrs(
            &mut plan,
            args,
            file,
            &mut msg,
            Some(format!("{path} (file attributes)")),
        )?;
        plan.set("msg", msg);
        Ok(plan)
    }

    fn apply(
        args: &Args,
        file: TextFile,
        plan: &Plan<EditOp>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        apply_edit(args, &file, plan, "backup")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitlines_like_python() {
        assert_eq!(
            split_lines_keep("a\r\nb\rc\nd"),
            vec!["a\r\n", "b\r", "c\n", "d"]
        );
        assert_eq!(split_lines_keep(""), Vec::<String>::new());
        assert_eq!(read_lines("a\nb"), vec!["a\n", "b"]);
    }

    #[test]
    fn universal_newlines_translate() {
        assert_eq!(universal_newlines("a\r\nb\rc\n".into()), "a\nb\nc\n");
    }

    #[test]
    fn latin1_round_trip() {
        let s = decode(&[0x61, 0xe9], "latin-1", Path::new("x")).unwrap();
        assert_eq!(s, "aé");
        assert_eq!(encode(&s, "latin-1").unwrap(), vec![0x61, 0xe9]);
        assert!(decode(&[0xff], "utf-8", Path::new("x")).is_err());
    }
}
