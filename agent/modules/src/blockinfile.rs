//! The `blockinfile` module: a block of lines between two marker lines, inserted,
//! updated in place or removed.

use crate::lineinfile::{
    EditOp, Newlines, TextFile, apply_edit, mutually_exclusive, plan_file_attrs, plan_write,
    split_lines_keep,
};
use crate::replace::compile;
use crate::spec::{Arg, Args, Def, FILE_COMMON};
use crate::{Ctx, Diff, Module, ModuleError, Plan, ResultMap, Value};

pub struct Blockinfile;

const SPEC: &[Arg] = &[
    Arg::path("path")
        .required()
        .aliases(&["dest", "destfile", "name"]),
    Arg::str("state")
        .default(Def::Str("present"))
        .choices(&["absent", "present"]),
    Arg::str("marker").default(Def::Str("# {mark} ANSIBLE MANAGED BLOCK")),
    Arg::str("block")
        .default(Def::Str(""))
        .aliases(&["content"]),
    Arg::str("insertafter"),
    Arg::str("insertbefore"),
    Arg::bool("create", false),
    Arg::bool("backup", false),
    Arg::str("validate"),
    Arg::str("marker_begin").default(Def::Str("BEGIN")),
    Arg::str("marker_end").default(Def::Str("END")),
    Arg::bool("append_newline", false),
    Arg::bool("prepend_newline", false),
    Arg::str("encoding").default(Def::Str("utf-8")),
];

/// Whether a Python pattern turns on re.MULTILINE with a leading inline flag group.
fn has_multiline_flag(pattern: &str) -> bool {
    pattern
        .strip_prefix("(?")
        .and_then(|r| r.split_once(')'))
        .is_some_and(|(flags, _)| {
            !flags.is_empty() && flags.chars().all(|c| "aiLmsux".contains(c)) && flags.contains('m')
        })
}

/// The new content (`None` input: the file does not exist).
fn edit(args: &Args, original: Option<&str>) -> Result<(String, bool), ModuleError> {
    let sep = "\n";
    let mut lines = original.map(split_lines_keep).unwrap_or_default();
    let present = args.str("state") != Some("absent");
    let mut insertafter = args.str("insertafter");
    let insertbefore = args.str("insertbefore");
    if insertafter.is_none() && insertbefore.is_none() {
        insertafter = Some("EOF");
    }
    let insertre = match (insertafter, insertbefore) {
        (Some(a), _) if a != "EOF" => Some((a, compile(a, false, false)?)),
        (None, Some(b)) if b != "BOF" => Some((b, compile(b, false, false)?)),
        _ => None,
    };
    let marker = args.str("marker").unwrap_or_default();
    let marker0 = format!(
        "{}{sep}",
        marker.replace("{mark}", args.str("marker_begin").unwrap_or_default())
    );
    let marker1 = format!(
        "{}{sep}",
        marker.replace("{mark}", args.str("marker_end").unwrap_or_default())
    );
    let mut block = args.string("block").unwrap_or_default();
    let blocklines: Vec<String> = if present && !block.is_empty() {
        if !block.ends_with(sep) {
            block.push_str(sep);
        }
        let mut v = vec![marker0.clone()];
        v.extend(split_lines_keep(&block));
        v.push(marker1.clone());
        v
    } else {
        Vec::new()
    };
    let (mut n0, mut n1) = (None, None);
    for (i, line) in lines.iter().enumerate() {
        if *line == marker0 {
            n0 = Some(i);
        }
        if *line == marker1 {
            n1 = Some(i);
        }
    }
    let mut n0 = match (n0, n1) {
        (Some(a), Some(b)) if a < b => {
            lines.drain(a..=b);
            a
        }
        (Some(a), Some(b)) => {
            lines.drain(b..=a);
            b
        }
        _ => {
            let mut n: Option<usize> = None;
            if let Some((pat, re)) = &insertre {
                let orig = original.unwrap_or_default();
                if has_multiline_flag(pat) {
                    if let Some(m) = re.search(orig).map_err(ModuleError::new)? {
                        if insertafter.is_some() {
                            n = Some(orig[..m.end()].matches('\n').count());
                        } else if insertbefore.is_some() {
                            n = Some(orig[..m.start()].matches('\n').count());
                        }
                    }
                } else {
                    for (i, line) in lines.iter().enumerate() {
                        if re.is_match(line).map_err(ModuleError::new)? {
                            n = Some(i);
                        }
                    }
                }
                match n {
                    None => lines.len(),
                    Some(n) if insertafter.is_some() => n + 1,
                    Some(n) => n,
                }
            } else if insertbefore.is_some() {
                0
            } else {
                lines.len()
            }
        }
    };
    // A multiline match may point past the end.
    n0 = n0.min(lines.len());
    if n0 > 0 && !lines[n0 - 1].ends_with(sep) {
        lines[n0 - 1].push_str(sep);
    }
    if args.bool("prepend_newline") && present && n0 != 0 && lines[n0 - 1] != sep {
        lines.insert(n0, sep.to_string());
        n0 += 1;
    }
    let nblock = blocklines.len();
    let removed = blocklines.is_empty();
    lines.splice(n0..n0, blocklines);
    if args.bool("append_newline") && present {
        let after = n0 + nblock;
        if after < lines.len() && lines[after] != sep {
            lines.insert(after, sep.to_string());
        }
    }
    Ok((lines.concat(), removed))
}

impl Module for Blockinfile {
    const SPECS: &'static [&'static [Arg]] = &[SPEC, FILE_COMMON];
    type Observed = TextFile;
    type Op = EditOp;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<TextFile, ModuleError> {
        mutually_exclusive(args, &[&["insertbefore", "insertafter"]])?;
        let path = args.str("path").unwrap_or_default();
        let file = TextFile::read(args, path, Newlines::Keep)?;
        if file.is_dir {
            return Err(ModuleError::new(format!("Path {path} is a directory !")).with("rc", 256));
        }
        Ok(file)
    }

    fn plan(args: &Args, file: &TextFile, ctx: &Ctx<'_>) -> Result<Plan<EditOp>, ModuleError> {
        let path = args.str("path").unwrap_or_default();
        let mut plan = Plan::default();
        let present = args.str("state") != Some("absent");
        if !file.exists() {
            if !args.bool("create") {
                return Err(
                    ModuleError::new(format!("Path {path} does not exist !")).with("rc", 257)
                );
            }
            if !present {
                plan.set("msg", format!("File {path} not present"));
                return Ok(plan);
            }
        }
        let original = file.content.as_deref();
        let (result, removed) = edit(args, original)?;
        let mut msg = String::new();
        if original != Some(result.as_str()) {
            msg = if original.is_none() {
                "File created"
            } else if removed {
                "Block removed"
            } else {
                "Block inserted"
            }
            .to_string();
            let header = format!("{path} (content)");
            plan.diff.push(Diff {
                before: Value::from(original.unwrap_or_default()),
                after: Value::from(result.as_str()),
                before_header: Some(header.clone()),
                after_header: Some(header),
            });
            plan_write(&mut plan, args, file, &result, args.bool("backup"))?;
        }
        if !ctx.check_mode || file.exists() {
            plan_file_attrs(
                &mut plan,
                args,
                file,
                &mut msg,
                Some(format!("{path} (file attributes)")),
            )?;
        }
        plan.set("msg", msg);
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

    #[test]
    fn multiline_flag_detection() {
        assert!(has_multiline_flag("(?m)^a$"));
        assert!(has_multiline_flag("(?ms)x"));
        assert!(!has_multiline_flag("^a"));
        assert!(!has_multiline_flag("(?P<x>m)"));
    }
}
