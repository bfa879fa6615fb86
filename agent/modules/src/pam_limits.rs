//! The `pam_limits` module (community.general.pam_limits): one `domain type item value`
//! line of /etc/security/limits.conf (or `dest`), changed in place or appended, as
//! community.general 10 writes it (tab-separated, the comment handling included).

use std::path::{Path, PathBuf};

use crate::host::fs::{self as hfs, Meta};
use crate::lineinfile::{EditOp, TextFile, apply_edit, plan_write};
use crate::spec::{Arg, Args, Def};
use crate::{Ctx, Diff, Module, ModuleError, Plan, ResultMap, Value};

pub struct PamLimits;

const ITEMS: &[&str] = &[
    "core",
    "data",
    "fsize",
    "memlock",
    "nofile",
    "rss",
    "stack",
    "cpu",
    "nproc",
    "as",
    "maxlogins",
    "maxsyslogins",
    "priority",
    "locks",
    "sigpending",
    "msgqueue",
    "nice",
    "rtprio",
    "chroot",
];

const SPEC: &[Arg] = &[
    Arg::str("domain").required(),
    Arg::str("limit_type")
        .required()
        .choices(&["soft", "hard", "-"]),
    Arg::str("limit_item").required().choices(ITEMS),
    Arg::str("value").required(),
    Arg::bool("use_max", false),
    Arg::bool("use_min", false),
    Arg::bool("backup", false),
    Arg::str("dest").default(Def::Str("/etc/security/limits.conf")),
    Arg::str("comment").default(Def::Str("")),
];

/// Python's `repr()` of a string (the quotes Ansible's messages show).
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `int()` of a string, for the values limits.conf holds.
fn py_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    t.replace('_', "").parse().ok()
}

const UNLIMITED: &[&str] = &["unlimited", "infinity", "-1"];

/// Ansible's `_assert_is_valid_value`.
fn check_value(item: &str, value: &str, prefix: &str) -> Result<(), ModuleError> {
    if item == "nice" || item == "priority" {
        if py_int(value).is_some_and(|v| (-20..=19).contains(&v)) {
            return Ok(());
        }
        return Err(ModuleError::new(format!(
            "{prefix} Value of {} for item {} is invalid. Value must be a number in the range -20 to 19 inclusive. Refer to the limits.conf(5) manual pages for more details.",
            py_repr(value),
            py_repr(item)
        )));
    }
    if UNLIMITED.contains(&value)
        || (!value.is_empty() && value.chars().all(|c| c.is_ascii_digit()))
    {
        return Ok(());
    }
    Err(ModuleError::new(format!(
        "{prefix} Value of {} for item {} is invalid. Value must either be 'unlimited', 'infinity' or -1, all of which indicate no limit, or a limit of 0 or larger. Refer to the limits.conf(5) manual pages for more details.",
        py_repr(value),
        py_repr(item)
    )))
}

/// Python's `\s` and `str.strip()` whitespace.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// `re.sub(r'\s+', ' ', line).strip()`.
fn squeeze(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_space = false;
    for c in line.chars() {
        if py_space(c) {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    out.trim_matches(py_space).to_string()
}

/// What the edit needs.
#[derive(Debug, Clone)]
pub(crate) struct Limit<'a> {
    pub domain: &'a str,
    pub kind: &'a str,
    pub item: &'a str,
    pub value: &'a str,
    pub use_max: bool,
    pub use_min: bool,
    pub comment: &'a str,
}

/// The edit Ansible's `main()` makes: (changed, msg, new content). `lines` are the file's
/// lines with their newlines (none for a missing file).
pub(crate) fn edit(
    l: &Limit<'_>,
    lines: &[&str],
    dest: &str,
) -> Result<(bool, String, String), ModuleError> {
    let mut changed = false;
    let mut new_comment = l.comment.to_string();
    let mut found = false;
    let mut new_value = l.value.to_string();
    let mut message = String::new();
    let mut out = String::new();
    let prefix = format!("Invalid configuration found in '{dest}'.");
    for &line in lines {
        if line.starts_with('#') {
            out.push_str(line);
            continue;
        }
        let squeezed = squeeze(line);
        if squeezed.is_empty() {
            out.push_str(line);
            continue;
        }
        let body = squeezed.split('#').next().unwrap_or_default();
        let old_comment = line.split_once('#').map_or("", |(_, c)| c);
        let body = body.trim_end_matches(py_space);
        if new_comment.is_empty() {
            new_comment = old_comment.to_string();
        }
        let fields: Vec<&str> = body.split(' ').collect();
        let [domain, kind, item, actual] = fields[..] else {
            out.push_str(line);
            continue;
        };
        check_value(item, actual, &prefix)?;
        if !(domain == l.domain && kind == l.kind && item == l.item) {
            out.push_str(line);
            continue;
        }
        found = true;
        if l.value == actual {
            message = line.to_string();
            out.push_str(line);
            continue;
        }
        // Ansible tests the type here, not the item: values of -1 count as unlimited.
        let (actual_unlimited, value_unlimited) = if kind != "nice" && kind != "priority" {
            (UNLIMITED.contains(&actual), UNLIMITED.contains(&l.value))
        } else {
            (false, false)
        };
        let int = |s: &str| {
            py_int(s).ok_or_else(|| {
                ModuleError::new(format!(
                    "invalid literal for int() with base 10: {}",
                    py_repr(s)
                ))
            })
        };
        if l.use_max {
            new_value = if actual_unlimited {
                actual.to_string()
            } else if value_unlimited {
                l.value.to_string()
            } else {
                int(l.value)?.max(int(actual)?).to_string()
            };
        }
        if l.use_min {
            new_value = if actual_unlimited && value_unlimited {
                actual.to_string()
            } else if actual_unlimited {
                l.value.to_string()
            } else if value_unlimited {
                actual.to_string()
            } else {
                int(l.value)?.min(int(actual)?).to_string()
            };
        }
        if new_value != actual {
            changed = true;
            if !new_comment.is_empty() {
                new_comment = format!("\t#{new_comment}");
            }
            let new_limit = format!(
                "{}\t{}\t{}\t{new_value}{new_comment}\n",
                l.domain, l.kind, l.item
            );
            out.push_str(&new_limit);
            message = new_limit;
        } else {
            message = line.to_string();
            out.push_str(line);
        }
    }
    if !found {
        changed = true;
        if !new_comment.is_empty() {
            new_comment = format!("\t#{new_comment}");
        }
        let new_limit = format!(
            "{}\t{}\t{}\t{new_value}{new_comment}\n",
            l.domain, l.kind, l.item
        );
        out.push_str(&new_limit);
        message = new_limit;
    }
    Ok((changed, message, out))
}

fn writable(p: &Path) -> bool {
    nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok()
}

impl Module for PamLimits {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = TextFile;
    type Op = EditOp;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<TextFile, ModuleError> {
        let dest = args.str("dest").unwrap_or("/etc/security/limits.conf");
        let p = Path::new(dest);
        if p.is_file() {
            if !writable(p) {
                return Err(ModuleError::new(format!(
                    "{dest} is not writable. Use sudo"
                )));
            }
            let md = hfs::stat(p)
                .map_err(|e| ModuleError::io("Unable to stat", p, &e))?
                .ok_or_else(|| ModuleError::new(format!("{dest} vanished")))?;
            let bytes = std::fs::read(p).map_err(|e| ModuleError::io("Unable to read", p, &e))?;
            let text = String::from_utf8(bytes)
                .map_err(|e| ModuleError::new(format!("'utf-8' codec can't decode {dest}: {e}")))?;
            return Ok(TextFile {
                real: p.to_path_buf(),
                is_dir: false,
                content: Some(text),
                meta: Meta::from(&md),
                parent_missing: None,
            });
        }
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from(""),
        };
        let dir_ok = if dir.as_os_str().is_empty() {
            writable(Path::new("."))
        } else {
            dir.is_dir() && writable(&dir)
        };
        if !dir_ok {
            return Err(ModuleError::new(format!(
                "directory {} is not writable (check presence, access rights, use sudo)",
                dir.display()
            )));
        }
        Ok(TextFile {
            real: p.to_path_buf(),
            is_dir: false,
            content: None,
            meta: Meta::new_file(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                &dir
            }),
            parent_missing: None,
        })
    }

    fn plan(args: &Args, file: &TextFile, _ctx: &Ctx<'_>) -> Result<Plan<EditOp>, ModuleError> {
        let dest = args.str("dest").unwrap_or("/etc/security/limits.conf");
        let limit = Limit {
            domain: args.str("domain").unwrap_or_default(),
            kind: args.str("limit_type").unwrap_or_default(),
            item: args.str("limit_item").unwrap_or_default(),
            value: args.str("value").unwrap_or_default(),
            use_max: args.bool("use_max"),
            use_min: args.bool("use_min"),
            comment: args.str("comment").unwrap_or_default(),
        };
        if limit.use_max && limit.use_min {
            return Err(ModuleError::new(
                "Cannot use use_min and use_max at the same time.",
            ));
        }
        check_value(limit.item, limit.value, "")?;
        let before = file.content.clone().unwrap_or_default();
        let lines: Vec<&str> = before.split_inclusive('\n').collect();
        let (changed, msg, after) = edit(&limit, &lines, dest)?;
        let mut plan = Plan::default();
        plan.diff.push(Diff {
            before: Value::from(before.as_str()),
            after: Value::from(after.as_str()),
            before_header: None,
            after_header: None,
        });
        if changed {
            plan_write(&mut plan, args, file, &after, args.bool("backup"))?;
        }
        plan.set("msg", msg);
        if changed && args.bool("backup") && !file.exists() {
            plan.set("backup_file", "");
        }
        Ok(plan)
    }

    fn apply(
        args: &Args,
        file: TextFile,
        plan: &Plan<EditOp>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        apply_edit(args, &file, plan, "backup_file")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit<'a>(value: &'a str) -> Limit<'a> {
        Limit {
            domain: "*",
            kind: "soft",
            item: "nofile",
            value,
            use_max: false,
            use_min: false,
            comment: "",
        }
    }

    #[test]
    fn appends_tab_separated() {
        let (changed, msg, out) = edit(&limit("1024"), &["# x\n"], "f").unwrap();
        assert!(changed);
        assert_eq!(msg, "*\tsoft\tnofile\t1024\n");
        assert_eq!(out, "# x\n*\tsoft\tnofile\t1024\n");
    }

    #[test]
    fn use_max_keeps_larger() {
        let l = Limit {
            use_max: true,
            ..limit("10")
        };
        let (changed, msg, _) = edit(&l, &["*  soft nofile 20\n"], "f").unwrap();
        assert!(!changed);
        assert_eq!(msg, "*  soft nofile 20\n");
    }

    #[test]
    fn python_helpers() {
        assert_eq!(py_repr("a'b"), "\"a'b\"");
        assert_eq!(py_int(" -5 "), Some(-5));
        assert_eq!(py_int("1_0"), Some(10));
        assert_eq!(py_int("x"), None);
        assert_eq!(squeeze("  a \t b  \n"), "a b");
    }
}
