//! The `timezone` module (community.general.timezone) for Linux. Ansible asks
//! `timedatectl` when it works and otherwise edits files and runs `ln`/`dpkg-reconfigure`;
//! the agent always does the file work itself, the same way with or without systemd (in
//! a chroot or image build too): /etc/localtime becomes a symlink to
//! /usr/share/zoneinfo/NAME, /etc/timezone gets the name on Debian-family hosts (as
//! tzdata's configuration writes it), ZONE= in /etc/sysconfig/clock when that file
//! exists. With systemd running, the current zone is /etc/localtime's alone (what
//! timedatectl reports, so what Ansible compares); `hwclock` is the third line of /etc/adjtime (what `timedatectl set-local-rtc`
//! changes), without touching the hardware clock.

use std::path::{Path, PathBuf};

use regex::Regex;

use crate::host::fs::{self as hfs, FileAttrs};
use crate::spec::{Arg, Args};
use crate::{Ctx, Diff, Module, ModuleError, Plan, ResultMap, Value};

pub struct Timezone;

const SPEC: &[Arg] = &[
    Arg::str("hwclock")
        .choices(&["local", "UTC"])
        .aliases(&["rtc"]),
    Arg::str("name"),
];

const LOCALTIME: &str = "/etc/localtime";
const ZONEINFO: &str = "/usr/share/zoneinfo";
const TIMEZONE_FILE: &str = "/etc/timezone";
const SYSCONFIG_CLOCK: &str = "/etc/sysconfig/clock";
const ADJTIME: &str = "/etc/adjtime";

#[derive(Debug)]
pub struct Observed {
    /// The zone /etc/localtime names ("n/a" when it cannot be told).
    localtime: String,
    /// /etc/timezone's content, when the host keeps one (Debian family).
    timezone_file: Option<String>,
    /// /etc/sysconfig/clock's content, when it exists.
    sysconfig: Option<String>,
    /// /etc/adjtime's content, when it exists.
    adjtime: Option<String>,
    /// systemd runs: Ansible then asks timedatectl, which reports /etc/localtime only.
    systemd: bool,
}

#[derive(Debug, PartialEq)]
pub enum Op {
    Link(PathBuf),
    Write { path: &'static str, content: String },
}

fn abort(msg: &str) -> ModuleError {
    ModuleError::new(format!("Error message:\n{msg}"))
}

/// The zone /etc/localtime stands for, compared with `planned` as Ansible compares.
fn localtime_zone(planned: Option<&str>) -> String {
    let p = Path::new(LOCALTIME);
    match std::fs::read_link(p) {
        Ok(target) => {
            if !p.exists() {
                return "n/a".into();
            }
            let t = target.display().to_string();
            let re = Regex::new(r"(?:/(?:usr/share|etc)/zoneinfo/)(.*)");
            match re
                .ok()
                .and_then(|r| r.captures(&t)?.get(1).map(|m| m.as_str().to_string()))
            {
                Some(z) => z,
                None => "n/a".into(),
            }
        }
        Err(_) => {
            // Not a link: the same bytes as the planned zone's file, or unknown.
            let Some(planned) = planned else {
                return "n/a".into();
            };
            let a = std::fs::read(p);
            let b = std::fs::read(Path::new(ZONEINFO).join(planned));
            match (a, b) {
                (Ok(a), Ok(b)) if a == b => planned.to_string(),
                _ => "n/a".into(),
            }
        }
    }
}

fn debian_family() -> bool {
    crate::host::run::bin_path("dpkg-reconfigure").is_some()
}

/// Ansible's `_edit_file`: the first line matching `re` becomes `value`, other matches
/// go; with no match `value` becomes the first line.
fn edit_file(text: &str, re: &Regex, value: &str) -> String {
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let matched: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| re.is_match(l))
        .map(|(i, _)| i)
        .collect();
    let at = matched.first().copied().unwrap_or(0);
    for i in matched.iter().rev() {
        lines.remove(*i);
    }
    lines.insert(at, value);
    lines.concat()
}

fn first_token(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let t = l.split_whitespace().next()?;
        l.starts_with(t).then(|| t.to_string())
    })
}

fn sysconfig_zone(text: &str) -> Result<(Regex, &'static str, Option<String>), ModuleError> {
    let is_suse = text.lines().any(|l| {
        l.strip_prefix("TIMEZONE")
            .is_some_and(|r| r.trim_start().starts_with('='))
    });
    let key = if is_suse { "TIMEZONE" } else { "ZONE" };
    let re = Regex::new(&format!(r#"(?m)^{key}\s*="?([^"\s]+)"?"#))
        .map_err(|e| ModuleError::new(e.to_string()))?;
    let cur = re
        .captures(text)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string());
    Ok((re, key, cur))
}

/// The `hwclock` setting /etc/adjtime holds: its third line, LOCAL or UTC (the default).
fn adjtime_clock(text: Option<&str>) -> &'static str {
    match text.and_then(|t| t.lines().nth(2)) {
        Some(l) if l.trim() == "LOCAL" => "local",
        _ => "UTC",
    }
}

fn adjtime_with(text: Option<&str>, clock: &str) -> String {
    let word = if clock == "local" { "LOCAL" } else { "UTC" };
    let mut lines: Vec<String> = text.unwrap_or("").lines().map(str::to_string).collect();
    if lines.is_empty() {
        lines.push("0.0 0 0.0".into());
    }
    if lines.len() < 2 {
        lines.push("0".into());
    }
    if lines.len() < 3 {
        lines.push(word.into());
    } else {
        lines[2] = word.into();
    }
    lines.join("\n") + "\n"
}

/// The current name as the module reports it: the configuration file's zone unless it is
/// the planned one, then /etc/localtime's.
fn current_name(o: &Observed, planned: &str) -> String {
    if o.systemd {
        return o.localtime.clone();
    }
    let from_conf = if let Some(t) = &o.timezone_file {
        first_token(t)
    } else if let Some(s) = &o.sysconfig {
        sysconfig_zone(s).ok().and_then(|z| z.2)
    } else {
        Some(planned.to_string())
    };
    match from_conf {
        Some(z) if z == planned => o.localtime.clone(),
        Some(z) => z,
        None => "n/a".into(),
    }
}

fn plan_ops(args: &Args, o: &Observed) -> Result<Vec<Op>, ModuleError> {
    let mut ops = Vec::new();
    if let Some(name) = args.str("name")
        && current_name(o, name) != name
    {
        if o.localtime != name {
            ops.push(Op::Link(Path::new(ZONEINFO).join(name)));
        }
        if let Some(t) = &o.timezone_file {
            let re = Regex::new(r"^([^\s]+)").ok();
            let new = match re {
                Some(re) => edit_file(t, &re, &format!("{name}\n")),
                None => format!("{name}\n"),
            };
            if &new != t {
                ops.push(Op::Write {
                    path: TIMEZONE_FILE,
                    content: new,
                });
            }
        }
        if let Some(s) = &o.sysconfig {
            let (re, key, _) = sysconfig_zone(s)?;
            let new = edit_file(s, &re, &format!("{key}=\"{name}\"\n"));
            if &new != s {
                ops.push(Op::Write {
                    path: SYSCONFIG_CLOCK,
                    content: new,
                });
            }
        }
    }
    if let Some(clock) = args.str("hwclock")
        && adjtime_clock(o.adjtime.as_deref()) != clock
    {
        ops.push(Op::Write {
            path: ADJTIME,
            content: adjtime_with(o.adjtime.as_deref(), clock),
        });
    }
    Ok(ops)
}

impl Module for Timezone {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = Observed;
    type Op = Op;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        if !args.is_set("name") && !args.is_set("hwclock") {
            return Err(ModuleError::new(
                "one of the following is required: hwclock, name",
            ));
        }
        if let Some(name) = args.str("name")
            && !Path::new(ZONEINFO).join(name).is_file()
        {
            return Err(abort(&format!(
                "given timezone \"{name}\" is not available"
            )));
        }
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let timezone_file = read(TIMEZONE_FILE).or_else(|| debian_family().then(String::new));
        Ok(Observed {
            localtime: localtime_zone(args.str("name")),
            timezone_file,
            sysconfig: read(SYSCONFIG_CLOCK),
            adjtime: read(ADJTIME),
            systemd: crate::host::run::systemd_managed(),
        })
    }

    fn plan(args: &Args, o: &Observed, _ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        let mut plan = Plan {
            ops: plan_ops(args, o)?,
            ..Plan::default()
        };
        let mut before = indexmap::IndexMap::new();
        let mut after = indexmap::IndexMap::new();
        if let Some(clock) = args.str("hwclock") {
            before.insert(
                "hwclock".to_string(),
                Value::from(adjtime_clock(o.adjtime.as_deref())),
            );
            after.insert("hwclock".to_string(), Value::from(clock));
        }
        if let Some(name) = args.str("name") {
            before.insert("name".to_string(), Value::from(current_name(o, name)));
            after.insert("name".to_string(), Value::from(name));
        }
        plan.diff.push(Diff {
            before: Value::from_pairs(before),
            after: Value::from_pairs(after),
            before_header: None,
            after_header: None,
        });
        Ok(plan)
    }

    fn apply(
        _args: &Args,
        _o: Observed,
        plan: &Plan<Op>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        for op in &plan.ops {
            match op {
                Op::Link(target) => {
                    // A new link beside the old file, renamed over it (atomic).
                    let tmp = PathBuf::from(format!("{LOCALTIME}.agent-tmp"));
                    let _ = std::fs::remove_file(&tmp);
                    std::os::unix::fs::symlink(target, &tmp)
                        .and_then(|_| std::fs::rename(&tmp, LOCALTIME))
                        .map_err(|e| ModuleError::io("Unable to link", Path::new(LOCALTIME), &e))?;
                }
                Op::Write { path, content } => {
                    let p = Path::new(path);
                    if let Some(dir) = p.parent() {
                        std::fs::create_dir_all(dir)
                            .map_err(|e| ModuleError::io("Unable to create", dir, &e))?;
                    }
                    hfs::atomic_write(p, content.as_bytes(), &FileAttrs::default())
                        .map_err(|e| ModuleError::io("Unable to write", p, &e))?;
                }
            }
        }
        Ok(ResultMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_file_like_ansible() {
        let re = Regex::new(r"^([^\s]+)").unwrap();
        assert_eq!(
            edit_file("Etc/UTC\n", &re, "Europe/Paris\n"),
            "Europe/Paris\n"
        );
        assert_eq!(edit_file("", &re, "Europe/Paris\n"), "Europe/Paris\n");
        let (re, key, cur) = sysconfig_zone("ZONE=\"UTC\"\nUTC=true\n").unwrap();
        assert_eq!((key, cur.as_deref()), ("ZONE", Some("UTC")));
        assert_eq!(
            edit_file("ZONE=\"UTC\"\nUTC=true\n", &re, "ZONE=\"Asia/Tokyo\"\n"),
            "ZONE=\"Asia/Tokyo\"\nUTC=true\n"
        );
    }

    #[test]
    fn adjtime_lines() {
        assert_eq!(adjtime_clock(None), "UTC");
        assert_eq!(adjtime_clock(Some("0.0 0 0.0\n0\nLOCAL\n")), "local");
        assert_eq!(adjtime_with(None, "local"), "0.0 0 0.0\n0\nLOCAL\n");
        assert_eq!(
            adjtime_with(Some("0.0 0 0.0\n0\nLOCAL\n"), "UTC"),
            "0.0 0 0.0\n0\nUTC\n"
        );
    }

    #[test]
    fn name_reported_from_config_then_link() {
        let o = Observed {
            localtime: "Etc/UTC".into(),
            timezone_file: Some("Etc/UTC\n".into()),
            sysconfig: None,
            adjtime: None,
            systemd: false,
        };
        assert_eq!(current_name(&o, "Europe/Paris"), "Etc/UTC");
        let o2 = Observed {
            timezone_file: Some("Europe/Paris\n".into()),
            ..o
        };
        assert_eq!(current_name(&o2, "Europe/Paris"), "Etc/UTC");
        let o3 = Observed {
            localtime: "Europe/Paris".into(),
            systemd: true,
            ..o2
        };
        // timedatectl looks at /etc/localtime only.
        assert_eq!(current_name(&o3, "Europe/Paris"), "Europe/Paris");
    }
}
