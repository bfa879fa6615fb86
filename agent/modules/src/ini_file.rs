//! The `ini_file` module (community.general.ini_file): set, add or remove `option = value`
//! lines and whole sections of an INI file, line by line, as community.general 10 does
//! (its quirks included: a new file starts with an empty line, options without a section
//! go to the top, commented-out options are reused).

use std::path::{Path, PathBuf};

use regex::Regex;

use crate::host::fs::{self as hfs, FileAttrs, Meta};
use crate::lineinfile::{EditOp, TextFile, apply_edit, plan_write, universal_newlines};
use crate::spec::{Arg, Args, Def, FILE_COMMON};
use crate::{Ctx, Diff, Module, ModuleError, Plan, ResultMap, Value};

pub struct IniFile;

const SPEC: &[Arg] = &[
    Arg::path("path").required().aliases(&["dest"]),
    Arg::str("section"),
    Arg::list("section_has_values"),
    Arg::str("option"),
    Arg::str("value"),
    Arg::list("values"),
    Arg::bool("backup", false),
    Arg::str("state")
        .default(Def::Str("present"))
        .choices(&["absent", "present"]),
    Arg::bool("exclusive", true),
    Arg::bool("no_extra_spaces", false),
    Arg::bool("ignore_spaces", false),
    Arg::bool("allow_no_value", false),
    Arg::bool("modify_inactive_option", true),
    Arg::bool("create", true),
    Arg::bool("follow", false),
];

/// The section name Ansible gives the lines before the first section header.
const FAKE_SECTION: &str = "ad01e11446efb704fcdbdb21f2c43757423d91c5";

/// One `section_has_values` condition: the section must hold `option` (with one of
/// `values`, or any value when empty).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cond {
    option: String,
    values: Vec<String>,
}

/// What the edit needs from the parameters.
#[derive(Debug, Clone)]
pub(crate) struct IniParams {
    section: Option<String>,
    has_values: Vec<Cond>,
    option: Option<String>,
    values: Vec<String>,
    present: bool,
    exclusive: bool,
    no_extra_spaces: bool,
    ignore_spaces: bool,
    allow_no_value: bool,
    modify_inactive_option: bool,
}

/// The outcome of an edit: whether the lines changed, Ansible's `msg`, the new lines.
#[derive(Debug, PartialEq)]
pub(crate) struct Edited {
    changed: bool,
    msg: &'static str,
    lines: Vec<String>,
}

/// `option` matched on a line: Ansible's `match_opt` (commented-out lines too) or
/// `match_active_opt`. Captures: 2 = comment mark, 8 = the value.
///
/// An option that does not start with a blank, `#` or `;` and does not end with a blank
/// (every real one) is matched by hand: the patterns then have a single way to match,
/// and compiling them for each task cost more than the rest of the task.
enum OptMatcher {
    Plain(String),
    Pattern { any: Regex, active: Regex },
}

/// What the patterns match on a line with its final newline removed: the comment mark
/// (group 2) and the value (group 8).
fn match_plain<'l>(option: &str, active: bool, body: &'l str) -> Option<(&'l str, &'l str)> {
    const BLANK: [char; 2] = [' ', '\t'];
    let mut rest = body.trim_start_matches(BLANK);
    let mut mark = "";
    if !active && rest.starts_with(['#', ';']) {
        (mark, rest) = rest.split_at(1);
        rest = rest.trim_start_matches(BLANK);
    }
    let rest = rest.strip_prefix(option)?.trim_start_matches(BLANK);
    let value = if rest.is_empty() {
        ""
    } else {
        let v = rest.strip_prefix('=')?.trim_start_matches(BLANK);
        // `.` stops at a newline
        v.split('\n').next().unwrap_or("")
    };
    Some((mark, value))
}

impl OptMatcher {
    fn new(option: &str) -> Result<OptMatcher, ModuleError> {
        let plain = !option.is_empty()
            && !option.starts_with([' ', '\t', '#', ';'])
            && !option.ends_with([' ', '\t']);
        if plain {
            return Ok(OptMatcher::Plain(option.to_string()));
        }
        Self::pattern(option)
    }

    /// Ansible's patterns, compiled.
    fn pattern(option: &str) -> Result<OptMatcher, ModuleError> {
        let o = regex::escape(option);
        let build = |prefix: &str| {
            Regex::new(&format!(r"^{prefix}( |\t)*({o})( |\t)*(=|$)( |\t)*(.*)"))
                .map_err(|e| ModuleError::new(format!("bad option pattern: {e}")))
        };
        Ok(OptMatcher::Pattern {
            any: build(r"( |\t)*([#;]?)")?,
            active: build("()()")?,
        })
    }

    /// The comment mark and the value when `line` holds the option; `$` as Python's:
    /// before the line's final newline.
    fn parts<'l>(&self, active: bool, line: &'l str) -> Option<(&'l str, &'l str)> {
        let body = line.strip_suffix('\n').unwrap_or(line);
        match self {
            OptMatcher::Plain(o) => match_plain(o, active, body),
            OptMatcher::Pattern { any, active: act } => {
                let re = if active { act } else { any };
                re.captures(body).map(|c| {
                    (
                        c.get(2).map_or("", |m| m.as_str()),
                        c.get(8).map_or("", |m| m.as_str()),
                    )
                })
            }
        }
    }

    /// The value (group 8) when `line` holds the option.
    fn value<'l>(&self, active: bool, line: &'l str) -> Option<&'l str> {
        self.parts(active, line).map(|(_, v)| v)
    }

    /// The comment mark (group 2) of a line holding the option.
    fn comment<'l>(&self, line: &'l str) -> Option<&'l str> {
        self.parts(false, line).map(|(m, _)| m)
    }
}

/// Ansible's pattern for blank and comment lines: `^[ \t]*([#;].*)?$`.
fn blank_or_comment(line: &str) -> bool {
    let body = line.strip_suffix('\n').unwrap_or(line);
    let rest = body.trim_start_matches([' ', '\t']);
    (rest.is_empty() || rest.starts_with(['#', ';'])) && !rest.contains('\n')
}

fn has_values(conds: &[Cond], lines: &[String]) -> Result<bool, ModuleError> {
    for c in conds {
        let m = OptMatcher::new(&c.option)?;
        let found = lines.iter().any(|l| {
            m.value(false, l)
                .is_some_and(|v| c.values.is_empty() || c.values.iter().any(|x| x == v))
        });
        if !found {
            return Ok(false);
        }
    }
    Ok(true)
}

fn no_option() -> ModuleError {
    ModuleError::new("option is required when values are given without allow_no_value")
}

/// Ansible's `do_ini` on the file's lines (as `readlines()` gives them; empty for a
/// missing file): the pure part of the module.
pub(crate) fn edit(p: &IniParams, mut ini: Vec<String>) -> Result<Edited, ModuleError> {
    let mut changed = false;
    let mut values = p.values.clone();
    if ini.is_empty() {
        ini.push("\n".into());
    }
    if let Some(last) = ini.last_mut()
        && !last.ends_with('\n')
    {
        last.push('\n');
        changed = true;
    }
    ini.insert(0, format!("[{FAKE_SECTION}]"));
    ini.push("[".into());
    let section = match p.section.as_deref() {
        None | Some("") => FAKE_SECTION,
        Some(s) => s,
    };
    let fmt = |o: &str, v: &str| {
        if p.no_extra_spaces {
            format!("{o}={v}\n")
        } else {
            format!("{o} = {v}\n")
        }
    };
    let section_re = Regex::new(&format!(r"^\[\s*{}\s*]", regex::escape(section.trim())))
        .map_err(|e| ModuleError::new(format!("bad section pattern: {e}")))?;

    let mut within = false;
    let (mut start, mut end) = (0, 0);
    for (index, line) in ini.iter().enumerate() {
        if within && line.starts_with('[') {
            if has_values(&p.has_values, &ini[start..index])? {
                end = index;
                break;
            }
            within = false;
            start = 0;
            end = 0;
        }
        if section_re.is_match(line) {
            within = true;
            start = index;
        }
    }
    let after_part = ini.split_off(end);
    let mut section_lines = ini.split_off(start);
    let before_part = ini;
    let mut touched = vec![false; section_lines.len()];

    let opt = p.option.as_deref();
    let opt_set = opt.filter(|o| !o.is_empty());
    let matcher = opt.map(OptMatcher::new).transpose()?;
    let active_only = !p.modify_inactive_option;
    let mut msg = "OK";
    let mut no_value_present = false;

    // Ansible's update_section_line.
    let update = |lines: &mut Vec<String>,
                  touched: &mut Vec<bool>,
                  m: &OptMatcher,
                  index: usize,
                  newline: String,
                  changed: &mut bool,
                  msg: &mut &'static str| {
        let mut option_changed = None;
        if p.ignore_spaces && m.comment(&lines[index]) == Some("") {
            option_changed = Some(m.value(false, &lines[index]) != m.value(false, &newline));
        }
        let option_changed = option_changed.unwrap_or(lines[index] != newline);
        if option_changed {
            lines[index] = newline;
            *changed = true;
            *msg = "option changed";
        }
        touched[index] = true;
    };

    if p.present
        && let (Some(o), Some(m)) = (opt_set, &matcher)
    {
        for index in 0..section_lines.len() {
            let Some(found) = m
                .value(active_only, &section_lines[index])
                .map(str::to_string)
            else {
                continue;
            };
            if !values.is_empty() && values.contains(&found) {
                let newline = if found.is_empty() && p.allow_no_value {
                    no_value_present = true;
                    format!("{o}\n")
                } else {
                    fmt(o, &found)
                };
                update(
                    &mut section_lines,
                    &mut touched,
                    m,
                    index,
                    newline,
                    &mut changed,
                    &mut msg,
                );
                if let Some(i) = values.iter().position(|v| *v == found) {
                    values.remove(i);
                }
            } else if values.is_empty() && p.allow_no_value {
                update(
                    &mut section_lines,
                    &mut touched,
                    m,
                    index,
                    format!("{o}\n"),
                    &mut changed,
                    &mut msg,
                );
                no_value_present = true;
                break;
            }
        }
    }

    if p.present && p.exclusive && !p.allow_no_value {
        if !values.is_empty() {
            let (o, m) = match (opt, &matcher) {
                (Some(o), Some(m)) => (o, m),
                _ => return Err(no_option()),
            };
            for index in 0..section_lines.len() {
                if !touched[index] && m.value(active_only, &section_lines[index]).is_some() {
                    let newline = fmt(o, &values.remove(0));
                    update(
                        &mut section_lines,
                        &mut touched,
                        m,
                        index,
                        newline,
                        &mut changed,
                        &mut msg,
                    );
                    if values.is_empty() {
                        break;
                    }
                }
            }
        }
        if section_lines.len() > 1 {
            let Some(m) = &matcher else {
                return Err(no_option());
            };
            for index in (1..section_lines.len()).rev() {
                if !touched[index] && m.value(active_only, &section_lines[index]).is_some() {
                    section_lines.remove(index);
                    touched.remove(index);
                    changed = true;
                    msg = "option changed";
                }
            }
        }
    }

    if p.present {
        for index in (1..=section_lines.len()).rev() {
            if blank_or_comment(&section_lines[index - 1]) {
                continue;
            }
            if let Some(o) = opt_set {
                if !values.is_empty() {
                    for v in values.iter().rev() {
                        section_lines.insert(index, fmt(o, v));
                        msg = "option added";
                        changed = true;
                    }
                } else if p.allow_no_value && !no_value_present {
                    section_lines.insert(index, format!("{o}\n"));
                    msg = "option added";
                    changed = true;
                }
            }
            break;
        }
    } else if let (Some(_), Some(m)) = (opt_set, &matcher) {
        let kept: Vec<String> = if p.exclusive {
            section_lines
                .iter()
                .filter(|l| m.value(true, l).is_none())
                .cloned()
                .collect()
        } else if !values.is_empty() {
            section_lines
                .iter()
                .filter(|l| {
                    !m.value(true, l)
                        .is_some_and(|v| values.iter().any(|x| x == v))
                })
                .cloned()
                .collect()
        } else {
            section_lines.clone()
        };
        if kept != section_lines {
            changed = true;
            msg = "option changed";
            section_lines = kept;
        }
    } else if !section_lines.is_empty() {
        section_lines.clear();
        msg = "section removed";
        changed = true;
    }

    let mut lines = before_part;
    lines.extend(section_lines);
    lines.extend(after_part);
    if !lines.is_empty() {
        lines.remove(0);
    }
    lines.pop();

    if !within && p.present {
        lines.push(format!("[{section}]\n"));
        msg = "section and option added";
        for c in &p.has_values {
            if Some(c.option.as_str()) != opt {
                if !c.values.is_empty() {
                    for v in &c.values {
                        lines.push(fmt(&c.option, v));
                    }
                } else if p.allow_no_value {
                    lines.push(format!("{}\n", c.option));
                }
            } else if !p.exclusive {
                for v in &c.values {
                    if !values.contains(v) {
                        values.push(v.clone());
                    }
                }
            }
        }
        match opt_set {
            Some(o) if !values.is_empty() => {
                for v in &values {
                    lines.push(fmt(o, v));
                }
            }
            Some(o) if p.allow_no_value => lines.push(format!("{o}\n")),
            _ => msg = "only section added",
        }
        changed = true;
    }
    Ok(Edited {
        changed,
        msg,
        lines,
    })
}

/// A string-or-scalar element as Ansible's `type='str'` gives it.
fn elem_str(v: &Value) -> String {
    crate::spec::value_to_string(v)
}

fn parse_conds(args: &Args) -> Result<Vec<Cond>, ModuleError> {
    let mut out = Vec::new();
    for item in args.list("section_has_values") {
        let get = |k: &str| {
            item.get_attr(k)
                .ok()
                .filter(|v| !v.is_undefined() && !v.is_none())
        };
        if item.as_object().is_none() || item.as_str().is_some() {
            return Err(ModuleError::new(
                "Elements value for option 'section_has_values' is of type str and we were unable to convert to dict",
            ));
        }
        let option = get("option").ok_or_else(|| {
            ModuleError::new("missing required arguments: option found in section_has_values")
        })?;
        let value = get("value");
        let values = get("values");
        if value.is_some() && values.is_some() {
            return Err(ModuleError::new(
                "parameters are mutually exclusive: value|values found in section_has_values",
            ));
        }
        let values = match (value, values) {
            (Some(v), _) => vec![elem_str(&v)],
            (None, Some(vs)) => match vs.try_iter() {
                Ok(it) if vs.as_str().is_none() => it.map(|v| elem_str(&v)).collect(),
                _ => elem_str(&vs)
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect(),
            },
            (None, None) => Vec::new(),
        };
        out.push(Cond {
            option: elem_str(&option),
            values,
        });
    }
    Ok(out)
}

/// The parameters as [`edit`] wants them; fails as Ansible's `main()` does.
fn params(args: &Args) -> Result<IniParams, ModuleError> {
    crate::lineinfile::mutually_exclusive(args, &[&["value", "values"]])?;
    let present = args.str("state") != Some("absent");
    let allow_no_value = args.bool("allow_no_value");
    let value = args.string("value");
    let values_given = args.list_str("values");
    if present && !allow_no_value && value.is_none() && values_given.is_empty() {
        return Err(ModuleError::new(
            "Parameter 'value(s)' must be defined if state=present and allow_no_value=False.",
        ));
    }
    let raw = match value {
        Some(v) => vec![v],
        None => values_given,
    };
    let mut values: Vec<String> = Vec::new();
    for v in raw {
        if !values.contains(&v) {
            values.push(v);
        }
    }
    Ok(IniParams {
        section: args.string("section"),
        has_values: parse_conds(args)?,
        option: args.string("option"),
        values,
        present,
        exclusive: args.bool("exclusive"),
        no_extra_spaces: args.bool("no_extra_spaces"),
        ignore_spaces: args.bool("ignore_spaces"),
        allow_no_value,
        modify_inactive_option: args.bool("modify_inactive_option"),
    })
}

/// What `observe` found: the file (as the text-editing modules see it) and the path
/// Ansible reports.
#[derive(Debug)]
pub struct IniObserved {
    file: TextFile,
}

fn read_ini(path: &str, follow: bool) -> Result<TextFile, ModuleError> {
    let p = Path::new(path);
    let is_link = hfs::lstat(p)
        .ok()
        .flatten()
        .is_some_and(|m| m.file_type().is_symlink());
    let target: PathBuf = if follow && is_link {
        std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
    } else {
        p.to_path_buf()
    };
    let md = hfs::stat(&target).map_err(|e| ModuleError::io("Unable to stat", &target, &e))?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(md) = md else {
        let parent_missing = (!dir.exists()).then(|| dir.clone());
        let meta = Meta::new_file(parent_missing.as_deref().map_or(&dir, |_| Path::new("/")));
        return Ok(TextFile {
            real: target,
            is_dir: false,
            content: None,
            meta,
            parent_missing,
        });
    };
    if md.is_dir() {
        return Err(ModuleError::new(format!(
            "[Errno 21] Is a directory: '{}'",
            target.display()
        )));
    }
    let bytes =
        std::fs::read(&target).map_err(|e| ModuleError::io("Unable to read", &target, &e))?;
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ModuleError::new(format!(
            "'utf-8' codec can't decode {}: {e}",
            target.display()
        ))
    })?;
    Ok(TextFile {
        real: target,
        is_dir: false,
        content: Some(universal_newlines(text.to_string())),
        meta: Meta::from(&md),
        parent_missing: None,
    })
}

impl Module for IniFile {
    const SPECS: &'static [&'static [Arg]] = &[SPEC, FILE_COMMON];
    type Observed = IniObserved;
    type Op = EditOp;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<IniObserved, ModuleError> {
        let path = args.str("path").unwrap_or_default();
        let file = read_ini(path, args.bool("follow"))?;
        Ok(IniObserved { file })
    }

    fn plan(args: &Args, obs: &IniObserved, ctx: &Ctx<'_>) -> Result<Plan<EditOp>, ModuleError> {
        let path = args.str("path").unwrap_or_default();
        let p = params(args)?;
        let file = &obs.file;
        if !file.exists() && !args.bool("create") {
            return Err(ModuleError::new(format!(
                "Destination {} does not exist!",
                file.real.display()
            ))
            .with("rc", 257));
        }
        let before = file.content.clone().unwrap_or_default();
        let lines: Vec<String> = before.split_inclusive('\n').map(str::to_string).collect();
        let out = edit(&p, lines)?;
        let after = out.lines.concat();
        let mut plan = Plan::default();
        let header = format!("{path} (content)");
        plan.diff.push(Diff {
            before: Value::from(before.as_str()),
            after: Value::from(after.as_str()),
            before_header: Some(header.clone()),
            after_header: Some(header),
        });
        if out.changed {
            plan_write(&mut plan, args, file, &after, args.bool("backup"))?;
        }
        // Ansible sets owner, group and mode only outside check mode, and only on a
        // file that exists by then.
        if !ctx.check_mode && (file.exists() || out.changed) {
            let attrs = FileAttrs::from_args(args)?;
            if !attrs.is_empty() {
                let changes = hfs::plan_attrs(&file.real, &file.meta, &attrs)?;
                if !changes.is_empty() {
                    plan.ops.push(EditOp::Attrs(changes));
                }
            }
        }
        plan.set("msg", out.msg);
        plan.set("path", path);
        if out.changed && args.bool("backup") && !file.exists() {
            plan.set("backup_file", "");
        }
        plan.result.extend(hfs::path_info(Path::new(path)));
        Ok(plan)
    }

    fn apply(
        args: &Args,
        obs: IniObserved,
        plan: &Plan<EditOp>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let mut out = apply_edit(args, &obs.file, plan, "backup_file")?;
        let path = args.str("path").unwrap_or_default();
        out.extend(hfs::path_info(Path::new(path)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> IniParams {
        IniParams {
            section: None,
            has_values: Vec::new(),
            option: None,
            values: Vec::new(),
            present: true,
            exclusive: true,
            no_extra_spaces: false,
            ignore_spaces: false,
            allow_no_value: false,
            modify_inactive_option: true,
        }
    }

    fn run(p: &IniParams, input: &str) -> (bool, &'static str, String) {
        let lines = input.split_inclusive('\n').map(str::to_string).collect();
        let e = edit(p, lines).unwrap();
        (e.changed, e.msg, e.lines.concat())
    }

    fn set(section: Option<&str>, option: &str, values: &[&str]) -> IniParams {
        IniParams {
            section: section.map(str::to_string),
            option: Some(option.to_string()),
            values: values.iter().map(|s| s.to_string()).collect(),
            ..p()
        }
    }

    #[test]
    fn blank_and_comment_lines() {
        assert!(blank_or_comment("\n"));
        assert!(blank_or_comment("  # x\n"));
        assert!(blank_or_comment("\t;x"));
        assert!(!blank_or_comment("a = b\n"));
        assert!(!blank_or_comment("[s]"));
    }

    #[test]
    fn option_matching_like_ansible() {
        let m = OptMatcher::new("foo").unwrap();
        assert!(matches!(m, OptMatcher::Plain(_)));
        assert_eq!(m.value(false, "foo = bar  \n"), Some("bar  "));
        assert_eq!(m.value(false, "# foo=bar\n"), Some("bar"));
        assert_eq!(m.value(true, "# foo=bar\n"), None);
        assert_eq!(m.value(false, "foo\n"), Some(""));
        assert_eq!(m.value(false, "foobar = 1\n"), None);
        assert_eq!(m.value(false, "foo bar\n"), None);
        assert_eq!(m.comment(";foo = 1\n"), Some(";"));
    }

    #[test]
    fn plain_options_match_as_the_patterns_do() {
        let lines = [
            "foo = bar  \n",
            "# foo=bar\n",
            "foo\n",
            "foobar = 1\n",
            "foo bar\n",
            ";foo = 1\n",
            "\t ; \tfoo\t=\t v = w\n",
            "foo==x",
            "foo =",
            "#;foo=1",
            "##foo=1",
            "  foo",
            "foo\t",
            "foo =\n",
            "x.y = 1",
            "x.y=",
            "x.yz=1",
            "foo = a\nb",
            "foo\n\n",
            "",
            "\n",
            "  # x.y : 2",
            "x.y:2",
            "ünï = ç",
            "ünï=",
            " ; ünï",
        ];
        for opt in ["foo", "x.y", "ünï", "a b"] {
            let plain = OptMatcher::new(opt).unwrap();
            assert!(matches!(plain, OptMatcher::Plain(_)));
            let pattern = OptMatcher::pattern(opt).unwrap();
            for l in lines {
                for active in [false, true] {
                    assert_eq!(
                        plain.parts(active, l),
                        pattern.parts(active, l),
                        "{opt:?} {l:?} {active}"
                    );
                }
            }
        }
        for opt in [" foo", "#foo", ";foo", "foo ", ""] {
            assert!(matches!(
                OptMatcher::new(opt).unwrap(),
                OptMatcher::Pattern { .. }
            ));
        }
    }

    #[test]
    fn new_file_starts_with_a_blank_line() {
        assert_eq!(
            run(&set(Some("s"), "o", &["v"]), ""),
            (true, "section and option added", "\n[s]\no = v\n".into())
        );
        assert_eq!(
            run(&set(None, "o", &["v"]), ""),
            (true, "option added", "o = v\n\n".into())
        );
    }

    #[test]
    fn exclusive_values_reuse_lines() {
        assert_eq!(
            run(
                &set(Some("s"), "o", &["b", "d"]),
                "[s]\no = a\no = b\no = c\n"
            ),
            (true, "option changed", "[s]\no = d\no = b\n".into())
        );
    }

    #[test]
    fn absent_without_section_or_option_drops_the_next_header() {
        let params = IniParams {
            present: false,
            ..p()
        };
        assert_eq!(
            run(&params, "x = 1\n[s]\na = 1\n"),
            (true, "section removed", "a = 1\n".into())
        );
    }
}
