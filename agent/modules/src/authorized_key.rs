//! The `authorized_key` module (ansible.posix): SSH public keys present in or absent
//! from a user's authorized_keys file, compared as Ansible compares them (the key blob
//! identifies a key; its type, options and comment must match too, else the line is
//! replaced), the file rewritten atomically, owned by the user, mode 0600, in a 0700
//! directory.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::host::fs::{FileAttrs, ModeSpec, atomic_write, path_info};
use crate::host::users::{self, PasswdEntry};
use crate::spec::{Arg, Args, Def};
use crate::{Ctx, Diff, Module, ModuleError, Plan, ResultMap, Value};

pub struct AuthorizedKey;

const SPEC: &[Arg] = &[
    Arg::str("user").required(),
    Arg::str("key").required(),
    Arg::path("path"),
    Arg::bool("manage_dir", true),
    Arg::str("state")
        .default(Def::Str("present"))
        .choices(&["absent", "present"]),
    Arg::str("key_options"),
    Arg::bool("exclusive", false),
    Arg::str("comment"),
    Arg::bool("validate_certs", true),
    Arg::bool("follow", false),
];

const KEY_TYPES: &[&str] = &[
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "ssh-ed25519",
    "ssh-ed25519-cert-v01@openssh.com",
    "ssh-dss",
    "ssh-rsa",
    "ssh-xmss@openssh.com",
    "ssh-xmss-cert-v01@openssh.com",
    "rsa-sha2-256",
    "rsa-sha2-512",
    "ssh-rsa-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com",
];

/// Key options in order; a name may repeat. Equality is Ansible's: per name, the
/// values in order, whatever the order of names.
#[derive(Debug, Clone, Default)]
pub struct Options(Vec<(String, Option<String>)>);

impl Options {
    /// `parseoptions`: split on commas outside quotes.
    pub fn parse(s: Option<&str>) -> Options {
        let mut out = Vec::new();
        let Some(s) = s.filter(|s| !s.is_empty()) else {
            return Options(out);
        };
        let Ok(re) = regex::Regex::new(r#"((?:[^,"']|"[^"]*"|'[^']*')+)"#) else {
            return Options(out);
        };
        let mut parts: Vec<&str> = Vec::new();
        let mut last = None;
        for m in re.find_iter(s) {
            if let Some(end) = last {
                parts.push(&s[end..m.start()]);
            }
            parts.push(m.as_str());
            last = Some(m.end());
        }
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                out.push((k.to_string(), Some(v.to_string())));
            } else if p != "," {
                out.push((p.to_string(), None));
            }
        }
        Options(out)
    }

    fn grouped(&self) -> IndexMap<&str, Vec<&Option<String>>> {
        let mut m: IndexMap<&str, Vec<&Option<String>>> = IndexMap::new();
        for (k, v) in &self.0 {
            m.entry(k.as_str()).or_default().push(v);
        }
        m
    }

    fn render(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            })
            .collect();
        format!("{} ", parts.join(","))
    }
}

impl PartialEq for Options {
    fn eq(&self, other: &Options) -> bool {
        let (a, b) = (self.grouped(), other.grouped());
        a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v))
    }
}

/// One line of the file (or of the `key` parameter), as `parsekey` sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A key: blob, type, options, comment.
    Key {
        blob: String,
        kind: String,
        options: Options,
        comment: String,
    },
    /// A comment or anything that is not a key: kept as written.
    Other(String),
}

#[derive(Debug, Clone)]
struct Ranked {
    line: Line,
    rank: usize,
}

/// `parsekey`: `None` for a line with no known key type.
pub fn parse_key(raw: &str) -> Option<Line> {
    let raw = raw.replace(r"\#", "#");
    let parts: Vec<&str> = raw
        .split([' ', '\t', '\r', '\n'])
        .filter(|p| !p.is_empty())
        .collect();
    if parts.first() == Some(&"#") {
        return Some(Line::Other(raw));
    }
    let ti = parts.iter().position(|p| KEY_TYPES.contains(p))?;
    let options = (ti > 0).then(|| parts[..ti].join(" "));
    // A type with no blob after it: Ansible's parser fails; kept as an unknown line.
    let blob = parts.get(ti + 1)?;
    Some(Line::Key {
        blob: blob.to_string(),
        kind: parts[ti].to_string(),
        options: Options::parse(options.as_deref()),
        comment: parts.get(ti + 2..).map(|c| c.join(" ")).unwrap_or_default(),
    })
}

fn ident(l: &Line) -> &str {
    match l {
        Line::Key { blob, .. } => blob,
        Line::Other(s) => s,
    }
}

/// `parsekeys`: the file's lines by identity (blob, or the line itself), last wins.
fn parse_file(content: &str) -> IndexMap<String, Ranked> {
    let mut keys = IndexMap::new();
    for (rank, line) in content.split_inclusive('\n').enumerate() {
        let parsed = parse_key(line).unwrap_or_else(|| Line::Other(line.to_string()));
        keys.insert(ident(&parsed).to_string(), Ranked { line: parsed, rank });
    }
    keys
}

/// `serialize`: lines by rank; keys re-rendered, other lines as they were.
fn serialize(keys: &IndexMap<String, Ranked>) -> String {
    let mut v: Vec<&Ranked> = keys.values().collect();
    v.sort_by_key(|r| r.rank);
    v.iter()
        .map(|r| match &r.line {
            Line::Key {
                blob,
                kind,
                options,
                comment,
            } => format!("{}{kind} {blob} {comment}\n", options.render()),
            Line::Other(s) => s.clone(),
        })
        .collect()
}

/// The new content, or `None` when nothing changes.
pub fn edit(args: &Args, existing: &str) -> Result<Option<String>, ModuleError> {
    let key = args.str("key").unwrap_or_default();
    let present = args.str("state") != Some("absent");
    let new_keys: Vec<&str> = py_splitlines(key)
        .into_iter()
        .filter(|s| !s.is_empty() && !s.starts_with('#'))
        .collect();
    let mut keys = parse_file(existing);
    let max_rank = keys.len();
    let mut keep: Vec<String> = Vec::new();
    let mut write = false;
    let key_options = args.str("key_options").map(|o| Options::parse(Some(o)));
    for (rank, nk) in new_keys.iter().enumerate() {
        let mut parsed = parse_key(nk)
            .ok_or_else(|| ModuleError::new(format!("invalid key specified: {nk}")))?;
        if let Line::Key {
            options, comment, ..
        } = &mut parsed
        {
            if let Some(o) = &key_options {
                *options = o.clone();
            }
            if let Some(c) = args.str("comment") {
                *comment = c.to_string();
            }
        }
        let id = ident(&parsed).to_string();
        let mut matched = false;
        let mut non_matching = false;
        if let Some(cur) = keys.get(&id) {
            if cur.line != parsed && present {
                non_matching = true;
            } else {
                matched = true;
            }
        }
        if present {
            keep.push(id.clone());
            if non_matching {
                keys.shift_remove(&id);
                write = true;
            }
            if !matched {
                keys.insert(
                    id,
                    Ranked {
                        line: parsed,
                        rank: max_rank + rank,
                    },
                );
                write = true;
            }
        } else if matched {
            keys.shift_remove(&id);
            write = true;
        }
    }
    if present && args.bool("exclusive") {
        let before = keys.len();
        keys.retain(|k, _| keep.contains(k));
        write |= keys.len() != before;
    }
    Ok(write.then(|| serialize(&keys)))
}

/// Python's `str.splitlines()` for the `key` parameter.
fn py_splitlines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        match rest.find([
            '\n', '\r', '\x0b', '\x0c', '\x1c', '\x1d', '\x1e', '\u{85}', '\u{2028}', '\u{2029}',
        ]) {
            Some(i) => {
                out.push(&rest[..i]);
                let c = rest[i..].chars().next().unwrap_or('\n');
                let mut skip = c.len_utf8();
                if c == '\r' && rest[i + 1..].starts_with('\n') {
                    skip += 1;
                }
                rest = &rest[i + skip..];
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}

#[derive(Debug, Clone)]
pub struct KeyState {
    /// The file as reported (`keyfile`), and the one written (symlink resolved with
    /// `follow`).
    pub keyfile: PathBuf,
    pub write_path: PathBuf,
    pub owner: Option<PasswdEntry>,
    pub existing: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOp {
    /// The key file's directory: made 0700 if missing, given to the user.
    ManageDir(PathBuf),
    Write(String),
}

fn realpath(p: &Path) -> PathBuf {
    // Python's realpath resolves what exists and keeps the rest.
    let mut out = PathBuf::new();
    let mut missing = PathBuf::new();
    let mut cur = p.to_path_buf();
    loop {
        if let Ok(r) = std::fs::canonicalize(&cur) {
            out = r;
            break;
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                missing = Path::new(name).join(&missing);
                cur = parent.to_path_buf();
            }
            _ => break,
        }
    }
    if missing.as_os_str().is_empty() {
        out
    } else {
        out.join(missing)
    }
}

fn ssh_dir(args: &Args, st: &KeyState) -> PathBuf {
    match args.str("path") {
        Some(p) => Path::new(p)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        None => st
            .keyfile
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    }
}

impl Module for AuthorizedKey {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = KeyState;
    type Op = KeyOp;

    fn observe(args: &Args, ctx: &Ctx<'_>) -> Result<KeyState, ModuleError> {
        let user = args.str("user").unwrap_or_default();
        if args.str("key").unwrap_or_default().starts_with("http") {
            return Err(ModuleError::new(
                "key given as a URL is not supported by agent (use the url lookup)",
            ));
        }
        let path = args.str("path");
        let owner = users::user(user);
        if owner.is_none() && !(ctx.check_mode && path.is_some()) {
            if ctx.check_mode {
                return Err(ModuleError::new(
                    "Either user must exist or you must provide full path to key file in check mode",
                ));
            }
            return Err(ModuleError::new(format!(
                "Failed to lookup user {user}: \"getpwnam(): name not found: '{user}'\""
            )));
        }
        let keyfile = match (path, &owner) {
            (Some(p), _) => PathBuf::from(p),
            (None, Some(o)) => Path::new(&o.home).join(".ssh").join("authorized_keys"),
            (None, None) => PathBuf::new(),
        };
        let write_path = if args.bool("follow") {
            realpath(&keyfile)
        } else {
            keyfile.clone()
        };
        let existing = if keyfile.is_file() {
            std::fs::read(&keyfile)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|e| ModuleError::io("Failed to read", &keyfile, &e))?
        } else {
            String::new()
        };
        Ok(KeyState {
            keyfile,
            write_path,
            owner,
            existing,
        })
    }

    fn plan(args: &Args, st: &KeyState, _ctx: &Ctx<'_>) -> Result<Plan<KeyOp>, ModuleError> {
        let mut plan = Plan::default();
        for a in SPEC {
            let v = args.get(a.name).cloned().unwrap_or(Value::from(()));
            plan.set(a.name, v);
        }
        plan.set("keyfile", st.keyfile.display().to_string());
        let new = edit(args, &st.existing)?;
        plan.set("changed", new.is_some());
        if let Some(content) = new {
            plan.diff.push(Diff {
                before: Value::from(st.existing.as_str()),
                after: Value::from(content.as_str()),
                before_header: Some(st.keyfile.display().to_string()),
                after_header: Some(st.write_path.display().to_string()),
            });
            if args.bool("manage_dir") {
                plan.ops.push(KeyOp::ManageDir(ssh_dir(args, st)));
            }
            plan.ops.push(KeyOp::Write(content));
        }
        // exit_json's add_path_info: a result with `path` describes that file.
        if let Some(p) = args.str("path") {
            plan.result.extend(path_info(Path::new(p)));
        }
        Ok(plan)
    }

    fn apply(
        args: &Args,
        st: KeyState,
        plan: &Plan<KeyOp>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let user = args.str("user").unwrap_or_default();
        let owner = st.owner.clone().ok_or_else(|| {
            ModuleError::new(format!(
                "Failed to lookup user {user}: \"getpwnam(): name not found: '{user}'\""
            ))
        })?;
        for op in &plan.ops {
            match op {
                KeyOp::ManageDir(dir) => {
                    if !dir.exists() {
                        std::fs::create_dir(dir).map_err(|e| {
                            ModuleError::new(format!(
                                "Failed to create directory {} : {e}",
                                dir.display()
                            ))
                        })?;
                    }
                    let attrs = FileAttrs {
                        mode: Some(ModeSpec::Octal(0o700)),
                        owner: Some(owner.uid.to_string()),
                        group: Some(owner.gid.to_string()),
                        attributes: None,
                    };
                    let md = std::fs::metadata(dir)
                        .map_err(|e| ModuleError::io("Failed to stat", dir, &e))?;
                    let changes = crate::host::fs::plan_attrs(dir, &(&md).into(), &attrs)?;
                    crate::host::fs::apply_attrs(dir, &changes)?;
                }
                KeyOp::Write(content) => {
                    if let Some(parent) = st.write_path.parent()
                        && !parent.as_os_str().is_empty()
                        && !parent.exists()
                    {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| ModuleError::io("Failed to create", parent, &e))?;
                    }
                    let attrs = FileAttrs {
                        mode: Some(ModeSpec::Octal(0o600)),
                        owner: Some(owner.uid.to_string()),
                        group: Some(owner.gid.to_string()),
                        attributes: None,
                    };
                    atomic_write(&st.write_path, content.as_bytes(), &attrs).map_err(|e| {
                        ModuleError::new(format!(
                            "Failed to write to file {}: {e}",
                            st.write_path.display()
                        ))
                    })?;
                }
            }
        }
        let mut out = ResultMap::new();
        if let Some(p) = args.str("path") {
            out.extend(path_info(Path::new(p)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::args_of;

    const K1: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne alice@a";
    const K2: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABTwo bob@b";

    fn run(pairs: &[(&str, Value)], existing: &str) -> Option<String> {
        let mut p = vec![("user", Value::from("alice"))];
        p.extend_from_slice(pairs);
        edit(&args_of::<AuthorizedKey>(&p), existing).unwrap()
    }

    #[test]
    fn adds_after_existing_and_is_idempotent() {
        let out = run(&[("key", Value::from(K2))], &format!("{K1}\n")).unwrap();
        assert_eq!(out, format!("{K1}\n{K2}\n"));
        assert_eq!(run(&[("key", Value::from(K2))], &out), None);
    }

    #[test]
    fn key_without_comment_gets_a_trailing_space() {
        let out = run(&[("key", Value::from("ssh-ed25519 AAAAx"))], "").unwrap();
        assert_eq!(out, "ssh-ed25519 AAAAx \n");
    }

    #[test]
    fn options_replace_and_compare_as_ansible() {
        let out = run(
            &[
                ("key", Value::from(K1)),
                (
                    "key_options",
                    Value::from("no-pty,from=\"10.0.0.1,10.0.0.2\""),
                ),
            ],
            &format!("{K1}\n# keep me\n"),
        )
        .unwrap();
        assert_eq!(
            out,
            format!("# keep me\nno-pty,from=\"10.0.0.1,10.0.0.2\" {K1}\n")
        );
        // Same options in another order: the same key.
        assert_eq!(
            run(
                &[
                    ("key", Value::from(K1)),
                    (
                        "key_options",
                        Value::from("from=\"10.0.0.1,10.0.0.2\",no-pty")
                    ),
                ],
                &out
            ),
            None
        );
    }

    #[test]
    fn absent_and_exclusive() {
        let both = format!("{K1}\n{K2}\n");
        let out = run(
            &[("key", Value::from(K1)), ("state", Value::from("absent"))],
            &both,
        )
        .unwrap();
        assert_eq!(out, format!("{K2}\n"));
        let out = run(
            &[("key", Value::from(K2)), ("exclusive", Value::from(true))],
            &both,
        )
        .unwrap();
        assert_eq!(out, format!("{K2}\n"));
        // Several keys in one parameter, comments skipped.
        let out = run(
            &[("key", Value::from(format!("# mine\n{K1}\n\n{K2}\n")))],
            "",
        )
        .unwrap();
        assert_eq!(out, both);
    }

    #[test]
    fn comment_parameter_overrides() {
        let out = run(
            &[("key", Value::from(K1)), ("comment", Value::from("ops"))],
            &format!("{K1}\n"),
        )
        .unwrap();
        assert_eq!(out, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOne ops\n");
    }

    #[test]
    fn invalid_key_fails() {
        let a = args_of::<AuthorizedKey>(&[
            ("user", Value::from("alice")),
            ("key", Value::from("not a key")),
        ]);
        assert_eq!(
            edit(&a, "").unwrap_err().msg,
            "invalid key specified: not a key"
        );
    }

    /// Inputs and outputs recorded from the collection's own code (ansible 11's ansible.posix,
    /// `enforce_state` in check+diff mode): blank and comment lines collapse, whitespace
    /// is normalised, options compare as dicts, a changed key moves to the end.
    #[test]
    fn matches_the_collection_on_edge_cases() {
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, Value)], Option<&'a str>);
        let cases: &[Case] = &[
            (
                "ssh-ed25519 AAAAk1 a\n\n\n# c\n# c\nssh-ed25519 AAAAk1 b\n",
                "ssh-rsa AAAAk2 z",
                &[],
                Some("\nssh-rsa AAAAk2 z\n# c\nssh-ed25519 AAAAk1 b\n"),
            ),
            (
                "ssh-ed25519 AAAAk1 a\n",
                "ssh-ed25519 AAAAk1",
                &[],
                Some("ssh-ed25519 AAAAk1 \n"),
            ),
            (
                "no-pty,command=\"a b\"  ssh-ed25519   AAAAk1 a  b\nssh-rsa AAAAk2 x",
                "ssh-rsa AAAAk3 y",
                &[],
                Some(
                    "no-pty,command=\"a b\" ssh-ed25519 AAAAk1 a b\nssh-rsa AAAAk2 x\nssh-rsa AAAAk3 y\n",
                ),
            ),
            (
                "ssh-ed25519 AAAAk1 a\nssh-rsa AAAAk2 x\n",
                "ssh-rsa AAAAk2 x\nssh-ed25519 AAAAk9 n",
                &[("exclusive", Value::from(true))],
                Some("ssh-rsa AAAAk2 x\nssh-ed25519 AAAAk9 n\n"),
            ),
            (
                "ssh-ed25519 AAAAk1 a\ngarbage line\n",
                "ssh-ed25519 AAAAk1 a",
                &[("key_options", Value::from("no-pty"))],
                Some("garbage line\nno-pty ssh-ed25519 AAAAk1 a\n"),
            ),
            (
                "from=\"1.2.3.4\",no-pty ssh-ed25519 AAAAk1 a\n",
                "ssh-ed25519 AAAAk1 a",
                &[("key_options", Value::from("no-pty,from=\"1.2.3.4\""))],
                None,
            ),
            (
                "ssh-ed25519 AAAAk1 a\n",
                "ssh-ed25519 AAAAk1 other",
                &[("state", Value::from("absent"))],
                Some(""),
            ),
        ];
        for (existing, key, extra, after) in cases {
            let mut p = vec![("key", Value::from(*key))];
            p.extend_from_slice(extra);
            assert_eq!(
                run(&p, existing).as_deref(),
                *after,
                "{existing:?} + {key:?}"
            );
        }
    }
}
