//! The `apt_repository` module: one-line apt sources in /etc/apt/sources.list and
//! /etc/apt/sources.list.d/*.list, handled as Ansible's module does (a source already
//! present, even commented out, is enabled in place; new ones go to a file named after
//! the URL or `filename`; a file left empty is removed), then `apt-get update`. Files are
//! compared and written in Ansible's normalised form. PPAs (`ppa:`) are not supported.

use std::path::{Path, PathBuf};

use minijinja::Value;

use crate::host::dpkg;
use crate::host::fs::{self as hfs, FileAttrs};
use crate::spec::{Arg, Args, Def};
use crate::{Ctx, Diff, Module, ModuleError, Plan, ResultMap};

pub struct AptRepository;

const DEFAULT_FILE: &str = "/etc/apt/sources.list";
const SOURCES_DIR: &str = "/etc/apt/sources.list.d";

const SPEC: &[Arg] = &[
    Arg::str("repo").required(),
    Arg::str("state")
        .default(Def::Str("present"))
        .choices(&["absent", "present"]),
    Arg::raw("mode"),
    Arg::bool("update_cache", true).aliases(&["update-cache"]),
    Arg::int("update_cache_retries").default(Def::Int(5)),
    Arg::int("update_cache_retry_max_delay").default(Def::Int(12)),
    Arg::str("filename"),
    Arg::bool("install_python_apt", true),
    Arg::bool("validate_certs", true),
    Arg::str("codename"),
];

/// One line of a sources file, as Ansible's `_parse` sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    valid: bool,
    enabled: bool,
    source: String,
    comment: String,
}

pub(crate) fn parse_line(line: &str) -> Line {
    let mut line = line.trim();
    let mut enabled = true;
    if let Some(rest) = line.strip_prefix('#') {
        enabled = false;
        line = rest;
    }
    let mut comment = String::new();
    let mut body = line;
    if let Some(i) = line.find('#')
        && i > 0
    {
        comment = line[i + 1..].trim().to_string();
        body = &line[..i];
    }
    let mut source = body.trim().to_string();
    let mut valid = false;
    if !source.is_empty() {
        let chunks: Vec<&str> = source.split_whitespace().collect();
        if matches!(chunks.first(), Some(&"deb") | Some(&"deb-src")) {
            valid = true;
            source = chunks.join(" ");
        }
    }
    Line {
        valid,
        enabled,
        source,
        comment,
    }
}

/// Ansible's `dump` of one file's lines.
pub(crate) fn dump(lines: &[Line]) -> String {
    let mut out = String::new();
    for l in lines {
        if !l.enabled {
            out.push_str("# ");
        }
        out.push_str(&l.source);
        if !l.comment.is_empty() {
            out.push_str(" # ");
            out.push_str(&l.comment);
        }
        out.push('\n');
    }
    out
}

/// Ansible's `_suggest_filename`: the host and path of the URL with non-alphanumerics
/// as `_`, or the `filename` parameter; plus `.list`.
pub(crate) fn suggest_filename(source: &str, filename: Option<&str>) -> String {
    if let Some(f) = filename {
        return format!("{f}.list");
    }
    // Options in brackets and URL schemes go.
    let mut s = String::new();
    let mut depth = 0;
    for c in source.chars() {
        match c {
            '[' => depth += 1,
            ']' if depth > 0 => depth -= 1,
            _ if depth == 0 => s.push(c),
            _ => {}
        }
    }
    let re = regex::Regex::new(r"\w+://").ok();
    let s = match re {
        Some(r) => r.replace_all(&s, "").to_string(),
        None => s,
    };
    let parts: Vec<&str> = s
        .split_whitespace()
        .filter(|p| *p != "deb" && *p != "deb-src")
        .collect();
    let first = parts.first().copied().unwrap_or("");
    let first = first.split_once('@').map(|(_, r)| r).unwrap_or(first);
    let cleaned: Vec<&str> = first
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
        .collect();
    format!("{}.list", cleaned.join("_"))
}

/// All sources files: (path, lines), sources.list first, then sources.list.d/*.list.
pub type Files = Vec<(PathBuf, Vec<Line>)>;

fn load(path: &Path) -> Result<Vec<Line>, ModuleError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ModuleError::io("Failed to read", path, &e))?;
    Ok(text.lines().map(parse_line).collect())
}

fn expand(file: &str) -> PathBuf {
    if file.contains('/') {
        PathBuf::from(file)
    } else {
        Path::new(SOURCES_DIR).join(file)
    }
}

/// The pure edit: files after adding or removing `repo`, or the invalid-source error.
pub(crate) fn edit(
    files: &Files,
    repo: &str,
    present: bool,
    filename: Option<&str>,
) -> Result<(Files, Vec<PathBuf>), String> {
    let new = parse_line(repo);
    if !new.valid || !new.enabled {
        return Err(format!("Invalid repository string: {}", repo.trim()));
    }
    let mut out = files.clone();
    let mut new_files = Vec::new();
    if present {
        let mut found = false;
        for (_, lines) in out.iter_mut() {
            for l in lines.iter_mut() {
                if l.valid && l.source == new.source {
                    l.enabled = true;
                    found = true;
                }
            }
        }
        if !found {
            let file = expand(&suggest_filename(&new.source, filename));
            match out.iter_mut().find(|(p, _)| *p == file) {
                Some((_, lines)) => lines.push(Line {
                    comment: String::new(),
                    ..new.clone()
                }),
                None => {
                    new_files.push(file.clone());
                    out.push((
                        file,
                        vec![Line {
                            comment: String::new(),
                            ..new.clone()
                        }],
                    ));
                }
            }
            if let Some(p) = out
                .iter()
                .map(|(p, _)| p.clone())
                .find(|p| *p == expand(&suggest_filename(&new.source, filename)))
                && !new_files.contains(&p)
            {
                new_files.push(p);
            }
        }
    } else {
        for (_, lines) in out.iter_mut() {
            lines.retain(|l| !(l.valid && l.enabled && l.source == new.source));
        }
    }
    Ok((out, new_files))
}

#[derive(Debug)]
pub struct Observed {
    files: Files,
}

#[derive(Debug)]
pub enum Op {
    /// Write a file (its normalised content); `new` files get `mode`.
    Write {
        path: PathBuf,
        content: String,
        new: bool,
    },
    Remove(PathBuf),
    UpdateCache,
}

impl Module for AptRepository {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = Observed;
    type Op = Op;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        let repo = args.str("repo").unwrap_or_default();
        if repo.is_empty() {
            return Err(ModuleError::new(
                "Please set argument 'repo' to a non-empty value",
            ));
        }
        if repo.starts_with("ppa:") {
            return Err(ModuleError::new(
                "agent's apt_repository does not support PPAs",
            ));
        }
        let mut files: Files = Vec::new();
        if Path::new(DEFAULT_FILE).is_file() {
            files.push((PathBuf::from(DEFAULT_FILE), load(Path::new(DEFAULT_FILE))?));
        }
        if let Ok(rd) = std::fs::read_dir(SOURCES_DIR) {
            let mut paths: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "list"))
                .collect();
            paths.sort();
            for p in paths {
                let lines = load(&p)?;
                files.push((p, lines));
            }
        }
        Ok(Observed { files })
    }

    fn plan(args: &Args, o: &Observed, ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        let repo = args.str("repo").unwrap_or_default();
        let state = args.str("state").unwrap_or("present");
        let (after, new_files) = edit(&o.files, repo, state == "present", args.str("filename"))
            .map_err(ModuleError::new)?;
        let mut plan = Plan::default();
        let before_dump: Vec<(PathBuf, String)> = o
            .files
            .iter()
            .filter(|(_, l)| !l.is_empty())
            .map(|(p, l)| (p.clone(), dump(l)))
            .collect();
        let mut added = Vec::new();
        let mut removed = Vec::new();
        for (path, lines) in &after {
            let now = dump(lines);
            let before = before_dump.iter().find(|(p, _)| p == path).map(|(_, d)| d);
            if lines.is_empty() {
                if before.is_some() {
                    removed.push(path.clone());
                    plan.ops.push(Op::Remove(path.clone()));
                }
                continue;
            }
            if before != Some(&now) {
                if before.is_none() {
                    added.push(path.clone());
                }
                plan.ops.push(Op::Write {
                    path: path.clone(),
                    content: now.clone(),
                    new: new_files.contains(path),
                });
            }
        }
        // Ansible returns `diff` as a list (one entry per added or removed file).
        let mut diffs: Vec<Value> = Vec::new();
        if ctx.diff_mode {
            for p in added.iter().chain(removed.iter()) {
                let before = before_dump
                    .iter()
                    .find(|(b, _)| b == p)
                    .map(|(_, d)| d.clone());
                let after_text = after
                    .iter()
                    .find(|(a, l)| a == p && !l.is_empty())
                    .map(|(_, l)| dump(l));
                let name = p.display().to_string();
                let d = Diff {
                    before: Value::from(before.clone().unwrap_or_default()),
                    after: Value::from(after_text.clone().unwrap_or_default()),
                    before_header: Some(if before.is_some() {
                        name.clone()
                    } else {
                        "/dev/null".into()
                    }),
                    after_header: Some(if after_text.is_some() {
                        name.clone()
                    } else {
                        "/dev/null".into()
                    }),
                };
                diffs.push(d.to_value());
            }
        }
        plan.set("diff", Value::from(diffs));
        if !plan.ops.is_empty() && args.bool("update_cache") {
            plan.ops.push(Op::UpdateCache);
        }
        let paths = |v: &[PathBuf]| {
            Value::from(
                v.iter()
                    .map(|p| Value::from(p.display().to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        plan.set("repo", repo);
        plan.set("sources_added", paths(&added));
        plan.set("sources_removed", paths(&removed));
        plan.set("state", state);
        Ok(plan)
    }

    fn apply(
        args: &Args,
        o: Observed,
        plan: &Plan<Op>,
        ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let mode = FileAttrs {
            mode: args.get("mode").map(hfs::ModeSpec::parse).transpose()?,
            ..FileAttrs::default()
        };
        let default_mode = FileAttrs {
            mode: Some(hfs::ModeSpec::parse(&Value::from("0644"))?),
            ..FileAttrs::default()
        };
        for op in &plan.ops {
            match op {
                Op::Write { path, content, new } => {
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir)
                            .map_err(|e| ModuleError::io("Failed to create directory", dir, &e))?;
                    }
                    // A symlinked sources file is written through, as Ansible does.
                    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
                    let attrs = if *new {
                        if mode.mode.is_some() {
                            &mode
                        } else {
                            &default_mode
                        }
                    } else {
                        &FileAttrs::default()
                    };
                    hfs::atomic_write(&target, content.as_bytes(), attrs)
                        .map_err(|e| ModuleError::io("Failed to write", &target, &e))?;
                }
                Op::Remove(p) => std::fs::remove_file(p)
                    .map_err(|e| ModuleError::io("Failed to remove", p, &e))?,
                Op::UpdateCache => {
                    if let Err(e) = update(args, ctx) {
                        revert(&o.files, plan);
                        return Err(e);
                    }
                }
            }
        }
        Ok(ResultMap::new())
    }
}

/// Put the files back as they were (after a failed cache update).
fn revert(before: &Files, plan: &Plan<Op>) {
    for op in &plan.ops {
        match op {
            Op::Write { path, .. } | Op::Remove(path) => {
                match before.iter().find(|(p, _)| p == path) {
                    Some((_, lines)) if !lines.is_empty() => {
                        let _ =
                            hfs::atomic_write(path, dump(lines).as_bytes(), &FileAttrs::default());
                    }
                    _ => {
                        let _ = std::fs::remove_file(path);
                    }
                }
            }
            Op::UpdateCache => {}
        }
    }
}

fn update(args: &Args, ctx: &Ctx<'_>) -> Result<(), ModuleError> {
    let retries = args.int("update_cache_retries").unwrap_or(5).max(1);
    let max_delay = args.int("update_cache_retry_max_delay").unwrap_or(12) as f64;
    let mut err = String::new();
    for retry in 0..retries {
        let r = dpkg::run_apt_tool(
            vec!["apt-get".into(), "update".into(), "-q".into()],
            ctx.environment,
        )?;
        if r.rc == 0 {
            return Ok(());
        }
        err = r.stderr.trim().to_string();
        if retry + 1 < retries {
            let delay = 2f64.powi(retry as i32).min(max_delay);
            std::thread::sleep(std::time::Duration::from_secs_f64(delay));
        }
    }
    Err(ModuleError::new(format!(
        "Failed to update apt cache after {retries} retries: {}",
        if err.is_empty() {
            "unknown reason"
        } else {
            &err
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines() {
        let l = parse_line("deb  http://deb.debian.org/debian bookworm main # the mirror");
        assert!(l.valid && l.enabled);
        assert_eq!(l.source, "deb http://deb.debian.org/debian bookworm main");
        assert_eq!(l.comment, "the mirror");
        let l = parse_line("#deb http://x/ y main");
        assert!(l.valid && !l.enabled);
        let l = parse_line("# just a comment");
        assert!(!l.valid);
        assert_eq!(dump(&[l]), "# just a comment\n");
    }

    #[test]
    fn file_names() {
        assert_eq!(
            suggest_filename(
                "deb [signed-by=/etc/apt/keyrings/x.gpg arch=amd64] https://dl.google.com/linux/chrome/deb/ stable main",
                None
            ),
            "dl_google_com_linux_chrome_deb.list"
        );
        assert_eq!(
            suggest_filename("deb http://user:pw@example.com/apt x main", None),
            "example_com_apt.list"
        );
        assert_eq!(
            suggest_filename("deb http://x/ y", Some("mine")),
            "mine.list"
        );
    }

    #[test]
    fn adds_enables_and_removes() {
        let files: Files = vec![(
            PathBuf::from("/etc/apt/sources.list"),
            vec![
                parse_line("deb http://deb.debian.org/debian bookworm main"),
                parse_line("# deb http://example.com/apt stable main"),
            ],
        )];
        // A commented-out source is enabled in place.
        let (after, new) =
            edit(&files, "deb http://example.com/apt stable main", true, None).unwrap();
        assert!(new.is_empty());
        assert_eq!(
            dump(&after[0].1),
            "deb http://deb.debian.org/debian bookworm main\ndeb http://example.com/apt stable main\n"
        );
        // A new one goes to its own file.
        let (after, new) = edit(&files, "deb http://other.org/x y main", true, None).unwrap();
        assert_eq!(
            new,
            vec![PathBuf::from("/etc/apt/sources.list.d/other_org_x.list")]
        );
        assert_eq!(after[1].1.len(), 1);
        // Removal drops enabled copies only.
        let (after, _) = edit(
            &files,
            "deb http://deb.debian.org/debian bookworm main",
            false,
            None,
        )
        .unwrap();
        assert_eq!(after[0].1.len(), 1);
        assert_eq!(
            edit(&files, "# deb x", true, None).unwrap_err(),
            "Invalid repository string: # deb x"
        );
    }
}
