//! The `deb822_repository` module: one `/etc/apt/sources.list.d/<slug>.sources` file in
//! deb822 format, written from the task's fields exactly as Ansible's module writes it
//! (fields in argument-name order, `yes`/`no`, space-joined lists, multi-line values
//! indented). `signed_by` may be a key file path or the key itself (armored text, kept
//! inline in the file as Ansible does); key URLs are not fetched (use get_url into
//! /etc/apt/keyrings and give the path).

use std::path::{Path, PathBuf};

use minijinja::Value;

use crate::host::fs::{self as hfs, AttrChange, FileAttrs, Meta};
use crate::spec::{Arg, Args, Def, Ty};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap};

pub struct Deb822Repository;

pub const KEYRINGS_DIR: &str = "/etc/apt/keyrings";
pub const SOURCES_DIR: &str = "/etc/apt/sources.list.d";

const SPEC: &[Arg] = &[
    Arg::new("allow_downgrade_to_insecure", Ty::Bool),
    Arg::new("allow_insecure", Ty::Bool),
    Arg::new("allow_weak", Ty::Bool),
    Arg::list("architectures"),
    Arg::new("by_hash", Ty::Bool),
    Arg::new("check_date", Ty::Bool),
    Arg::new("check_valid_until", Ty::Bool),
    Arg::list("components"),
    Arg::int("date_max_future"),
    Arg::new("enabled", Ty::Bool),
    Arg::list("exclude"),
    Arg::list("include"),
    Arg::str("inrelease_path"),
    Arg::bool("install_python_debian", false),
    Arg::list("languages"),
    Arg::str("name").required(),
    Arg::new("pdiffs", Ty::Bool),
    Arg::str("signed_by"),
    Arg::list("suites"),
    Arg::list("targets"),
    Arg::new("trusted", Ty::Bool),
    Arg::list("types")
        .choices(&["deb", "deb-src"])
        .default(Def::Str("deb")),
    Arg::list("uris"),
    Arg::raw("mode").default(Def::Str("0644")),
    Arg::str("state")
        .default(Def::Str("present"))
        .choices(&["present", "absent"]),
];

/// The fields that go into the file, in the order Ansible writes them (sorted names).
const FIELDS: &[&str] = &[
    "allow_downgrade_to_insecure",
    "allow_insecure",
    "allow_weak",
    "architectures",
    "by_hash",
    "check_date",
    "check_valid_until",
    "components",
    "date_max_future",
    "enabled",
    "exclude",
    "include",
    "inrelease_path",
    "languages",
    "name",
    "pdiffs",
    "signed_by",
    "suites",
    "targets",
    "trusted",
    "types",
    "uris",
];

/// Python's `str.title()` on ASCII.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_alpha = false;
    for c in s.chars() {
        if c.is_alphabetic() {
            if prev_alpha {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            prev_alpha = true;
        } else {
            out.push(c);
            prev_alpha = false;
        }
    }
    out
}

fn field_name(v: &str) -> String {
    match v {
        "name" => "X-Repolib-Name".into(),
        "uris" => "URIs".into(),
        other => title(&other.replace('_', "-")),
    }
}

/// Ansible's `format_multiline`: a leading newline, lines indented by four spaces, empty
/// lines as `.`.
fn format_multiline(v: &str) -> String {
    let lines: Vec<String> = v
        .trim()
        .lines()
        .map(|l| {
            let t = l.trim();
            if t.is_empty() {
                "    .".to_string()
            } else {
                format!("    {t}")
            }
        })
        .collect();
    format!("\n{}", lines.join("\n"))
}

/// The file name slug: the legacy form when such a file exists, else spaces → dashes.
pub(crate) fn slugs(name: &str) -> (String, String) {
    let lower = name.to_lowercase();
    let mut dashed = String::new();
    let mut in_run = false;
    for c in lower.chars() {
        if c == '_' || c.is_whitespace() {
            if !in_run {
                dashed.push('-');
            }
            in_run = true;
        } else {
            dashed.push(c);
            in_run = false;
        }
    }
    let legacy: String = dashed
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect();
    (legacy, name.replace(' ', "-"))
}

pub(crate) fn sources_path(slug: &str) -> PathBuf {
    Path::new(SOURCES_DIR).join(format!("{slug}.sources"))
}

/// The deb822 text for the task's fields (`signed_by` already resolved to a path or
/// inline key).
pub(crate) fn render(args: &Args, signed_by: Option<&str>) -> String {
    let mut out = String::new();
    for f in FIELDS {
        let value: String = if *f == "signed_by" {
            match signed_by {
                Some(s) => s.to_string(),
                None => continue,
            }
        } else {
            let Some(v) = args.get(f) else {
                continue;
            };
            match v.kind() {
                minijinja::value::ValueKind::Bool => {
                    if v.is_true() { "yes" } else { "no" }.to_string()
                }
                minijinja::value::ValueKind::Seq => args.list_str(f).join(" "),
                _ => crate::spec::value_to_string(v),
            }
        };
        let value = if value.contains('\n') {
            format_multiline(&value)
        } else {
            value
        };
        let key = field_name(f);
        if value.is_empty() || value.starts_with('\n') {
            out.push_str(&format!("{key}:{value}\n"));
        } else {
            out.push_str(&format!("{key}: {value}\n"));
        }
    }
    out
}

#[derive(Debug)]
pub struct Observed {
    slug: String,
    /// The current file's content and metadata.
    current: Option<(Vec<u8>, Meta)>,
    /// Key files `<slug>.asc` / `<slug>.gpg` that exist (for state=absent).
    keys: Vec<PathBuf>,
    /// `signed_by` names an existing file.
    signed_by_is_file: bool,
    /// Ansible's path info of the sources file as it is now.
    info: ResultMap,
}

/// What Ansible's `add_path_info` adds for `dest`.
fn info(path: &Path) -> ResultMap {
    let i = hfs::path_info(path);
    if i.is_empty() {
        let mut m = ResultMap::new();
        m.insert("state".into(), Value::from("absent"));
        m
    } else {
        i
    }
}

#[derive(Debug)]
pub enum Op {
    Write(String),
    Attrs(Vec<AttrChange>),
    Remove(PathBuf),
}

impl Module for Deb822Repository {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = Observed;
    type Op = Op;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        if args.is_set("include") && args.is_set("exclude") {
            return Err(ModuleError::new(
                "parameters are mutually exclusive: exclude|include",
            ));
        }
        let name = args.str("name").unwrap_or_default();
        let (legacy, plain) = slugs(name);
        let slug = if sources_path(&legacy).exists() {
            legacy
        } else {
            plain
        };
        let path = sources_path(&slug);
        let current = match std::fs::read(&path) {
            Ok(b) => {
                let md = std::fs::metadata(&path)
                    .map_err(|e| ModuleError::io("Failed to stat", &path, &e))?;
                Some((b, Meta::from(&md)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(ModuleError::io("Failed to read", &path, &e)),
        };
        let keys = ["asc", "gpg"]
            .iter()
            .map(|ext| Path::new(KEYRINGS_DIR).join(format!("{slug}.{ext}")))
            .filter(|p| p.exists())
            .collect();
        let signed_by_is_file = args
            .str("signed_by")
            .is_some_and(|s| Path::new(s).is_file());
        Ok(Observed {
            info: info(&path),
            slug,
            current,
            keys,
            signed_by_is_file,
        })
    }

    fn plan(args: &Args, o: &Observed, _ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        let mut plan = Plan::default();
        let path = sources_path(&o.slug);
        plan.set("dest", path.display().to_string());
        let absent = args.str("state") == Some("absent");
        if !absent || o.current.is_none() {
            for (k, v) in &o.info {
                plan.set(k, v.clone());
            }
        }
        if absent {
            if o.current.is_some() {
                plan.ops.push(Op::Remove(path.clone()));
            }
            for k in &o.keys {
                plan.ops.push(Op::Remove(k.clone()));
            }
            plan.set("repo", Value::from(()));
            plan.set(
                "key_filename",
                Path::new(KEYRINGS_DIR)
                    .join(format!("{}.gpg", o.slug))
                    .display()
                    .to_string(),
            );
            return Ok(plan);
        }
        let signed_by = args.str("signed_by");
        if let Some(s) = signed_by
            && !o.signed_by_is_file
            && s.contains("://")
        {
            return Err(ModuleError::new(
                "agent's deb822_repository does not fetch signed_by URLs: download the key (get_url) into /etc/apt/keyrings and give its path",
            ));
        }
        let key_filename = signed_by.filter(|_| o.signed_by_is_file);
        plan.set(
            "key_filename",
            key_filename.map(Value::from).unwrap_or(Value::from(())),
        );
        let repo = render(args, signed_by);
        plan.set("repo", repo.as_str());
        let attrs = FileAttrs {
            mode: args.get("mode").map(hfs::ModeSpec::parse).transpose()?,
            ..FileAttrs::default()
        };
        let base = match &o.current {
            Some((content, meta)) => {
                if content.as_slice() != repo.as_bytes() {
                    plan.ops.push(Op::Write(repo.clone()));
                }
                *meta
            }
            None => {
                plan.ops.push(Op::Write(repo.clone()));
                Meta::new_file(Path::new(SOURCES_DIR))
            }
        };
        let changes = hfs::plan_attrs(&path, &base, &attrs)?;
        if !changes.is_empty() {
            plan.ops.push(Op::Attrs(changes));
        }
        Ok(plan)
    }

    fn apply(
        _args: &Args,
        _o: Observed,
        plan: &Plan<Op>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let dest = PathBuf::from(
            plan.result
                .get("dest")
                .map(|v| v.to_string())
                .unwrap_or_default(),
        );
        for op in &plan.ops {
            match op {
                Op::Write(text) => {
                    if let Some(dir) = dest.parent() {
                        std::fs::create_dir_all(dir)
                            .map_err(|e| ModuleError::io("Failed to create", dir, &e))?;
                    }
                    hfs::atomic_write(&dest, text.as_bytes(), &FileAttrs::default())
                        .map_err(|e| ModuleError::io("Failed to write", &dest, &e))?;
                }
                Op::Attrs(changes) => hfs::apply_attrs(&dest, changes)?,
                Op::Remove(p) => std::fs::remove_file(p)
                    .map_err(|e| ModuleError::io("Failed to remove", p, &e))?,
            }
        }
        Ok(info(&dest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    fn args(pairs: &[(&str, Value)]) -> Args {
        let raw: IndexMap<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        crate::spec::parse("deb822_repository", &[SPEC], &raw).unwrap()
    }

    #[test]
    fn renders_as_ansible() {
        let a = args(&[
            ("name", Value::from("example repo")),
            ("uris", Value::from("https://example.com/debian")),
            ("suites", Value::from(vec![Value::from("bookworm")])),
            (
                "components",
                Value::from(vec![Value::from("main"), Value::from("contrib")]),
            ),
            ("enabled", Value::from(true)),
            ("architectures", Value::from("amd64")),
        ]);
        assert_eq!(
            render(&a, Some("/etc/apt/keyrings/example.asc")),
            "Architectures: amd64\nComponents: main contrib\nEnabled: yes\nX-Repolib-Name: example repo\nSigned-By: /etc/apt/keyrings/example.asc\nSuites: bookworm\nTypes: deb\nURIs: https://example.com/debian\n"
        );
    }

    #[test]
    fn inline_keys_are_indented() {
        assert_eq!(
            format_multiline(
                "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nabc\n-----END PGP PUBLIC KEY BLOCK-----\n"
            ),
            "\n    -----BEGIN PGP PUBLIC KEY BLOCK-----\n    .\n    abc\n    -----END PGP PUBLIC KEY BLOCK-----"
        );
    }

    #[test]
    fn names() {
        assert_eq!(field_name("check_valid_until"), "Check-Valid-Until");
        assert_eq!(field_name("inrelease_path"), "Inrelease-Path");
        assert_eq!(
            slugs("My Repo_x"),
            ("my-repo-x".to_string(), "My-Repo_x".to_string())
        );
    }
}
