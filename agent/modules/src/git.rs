//! The `git` module (ansible.builtin.git): clone a repository into `dest`, or fetch and
//! switch it to `version`, with the `git` program, in the steps Ansible takes; `before`
//! and `after` are the commit ids. Observe reads the local state and asks the remote
//! (`git ls-remote`) what `version` is, so check mode and the plan know the outcome.

use std::path::{Path, PathBuf};

use crate::command::CmdOutput;
use crate::host::run;
use crate::spec::{Arg, Args, Def};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap, Value};

pub struct Git;

const SPEC: &[Arg] = &[
    Arg::path("dest"),
    Arg::str("repo").required().aliases(&["name"]),
    Arg::str("version").default(Def::Str("HEAD")),
    Arg::str("remote").default(Def::Str("origin")),
    Arg::str("refspec"),
    Arg::str("reference"),
    Arg::bool("force", false),
    Arg::int("depth"),
    Arg::bool("clone", true),
    Arg::bool("update", true),
    Arg::bool("verify_commit", false),
    Arg::list("gpg_allowlist"),
    Arg::bool("accept_hostkey", false),
    Arg::bool("accept_newhostkey", false),
    Arg::path("key_file"),
    Arg::str("ssh_opts"),
    Arg::path("executable"),
    Arg::bool("bare", false),
    Arg::bool("recursive", true),
    Arg::bool("single_branch", false),
    Arg::bool("track_submodules", false),
    Arg::raw("umask"),
    Arg::path("archive"),
    Arg::str("archive_prefix"),
    Arg::path("separate_git_dir"),
];

const LOCALE: [(&str, &str); 5] = [
    ("LANG", "C"),
    ("LC_ALL", "C"),
    ("LC_MESSAGES", "C"),
    ("LC_CTYPE", "C"),
    ("LANGUAGE", "C"),
];

/// How git is run: the program, ssh options, the working directory.
#[derive(Debug, Clone)]
struct Runner {
    git: String,
    ssh_command: Option<String>,
}

impl Runner {
    fn run(&self, args: &[&str], cwd: Option<&Path>) -> Result<CmdOutput, ModuleError> {
        let mut argv = vec![self.git.clone()];
        argv.extend(args.iter().map(|s| s.to_string()));
        let mut env: Vec<(&str, &str)> = LOCALE.to_vec();
        if let Some(s) = &self.ssh_command {
            env.push(("GIT_SSH_COMMAND", s));
        }
        run::run_in(&argv, cwd, &env)
    }

    /// Run and fail as Ansible's `check_rc=True` does.
    fn check(&self, args: &[&str], cwd: Option<&Path>) -> Result<CmdOutput, ModuleError> {
        let out = self.run(args, cwd)?;
        if out.rc != 0 {
            let cmd = std::iter::once(self.git.as_str())
                .chain(args.iter().copied())
                .collect::<Vec<_>>()
                .join(" ");
            return Err(ModuleError::new(out.stderr.trim_end().to_string())
                .with("cmd", cmd)
                .with("rc", out.rc)
                .with("stdout", out.stdout.as_str())
                .with("stderr", out.stderr.as_str()));
        }
        Ok(out)
    }
}

#[derive(Debug)]
pub struct Observed {
    runner: Runner,
    repo: String,
    dest: Option<PathBuf>,
    /// The repository's git directory (`dest/.git`, the `gitdir:` of a `.git` file, or
    /// `dest` itself when bare).
    repo_path: Option<PathBuf>,
    /// A repository exists at dest (its config file does).
    exists: bool,
    before: Option<String>,
    local_mods: bool,
    remote_url_changed: bool,
    /// What `version` names on the remote.
    remote_head: Option<String>,
}

#[derive(Debug, PartialEq)]
pub enum Op {
    Clone,
    /// Reset local modifications (force), set the remote URL, fetch, switch version.
    Update,
    /// `clone: no` with no repository: Ansible reports a change without making one.
    Report,
}

/// Ansible's `unfrackgitpath`: a local path normalised, URLs as they are.
fn unfrack(p: &str) -> String {
    if p.is_empty() {
        return String::new();
    }
    let path = Path::new(p);
    if p.contains("://") || !path.is_absolute() {
        return p.to_string();
    }
    std::fs::canonicalize(path)
        .map(|c| c.display().to_string())
        .unwrap_or_else(|_| p.to_string())
}

fn repo_path(dest: &Path, bare: bool) -> Result<PathBuf, ModuleError> {
    if bare {
        return Ok(dest.to_path_buf());
    }
    let dotgit = dest.join(".git");
    if dotgit.is_file() {
        let text = std::fs::read_to_string(&dotgit).unwrap_or_default();
        let Some(gitdir) = text.lines().next().and_then(|l| l.strip_prefix("gitdir: ")) else {
            return Err(ModuleError::new(
                "Current repo does not have a valid reference to a separate Git dir or it refers to the invalid path",
            ));
        };
        let g = Path::new(gitdir.trim());
        return Ok(if g.is_absolute() {
            g.to_path_buf()
        } else {
            dest.join(g)
        });
    }
    Ok(dotgit)
}

/// The branch HEAD is on (from the HEAD file; when detached, the remote's HEAD).
fn head_branch(repo_path: &Path, remote: &str) -> Result<String, ModuleError> {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let mut head = read(&repo_path.join("HEAD"));
    if !head.starts_with("ref:") {
        head = read(&repo_path.join("refs/remotes").join(remote).join("HEAD"));
    }
    let r = head
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("ref:"))
        .map(str::trim)
        .ok_or_else(|| ModuleError::new("The remote HEAD reference could not be determined"))?;
    let remote_prefix = format!("refs/remotes/{remote}/");
    Ok(r.strip_prefix("refs/heads/")
        .or_else(|| r.strip_prefix(&remote_prefix))
        .unwrap_or(r)
        .to_string())
}

fn first_sha(out: &str) -> Option<String> {
    out.split_whitespace().next().map(str::to_string)
}

fn is_remote_ref(
    r: &Runner,
    kind: &str,
    remote: &str,
    version: &str,
    cwd: Option<&Path>,
) -> Result<bool, ModuleError> {
    let refname = format!(
        "refs/{}/{version}",
        if kind == "-h" { "heads" } else { "tags" }
    );
    let out = r.check(&["ls-remote", remote, kind, &refname], cwd)?;
    Ok(out.stdout.contains(version))
}

/// Ansible's `get_remote_head`.
fn remote_head(
    r: &Runner,
    remote: &str,
    version: &str,
    cloning: bool,
    dest: Option<&Path>,
    repo_path: Option<&Path>,
    remote_name: &str,
) -> Result<String, ModuleError> {
    let cwd = if cloning { None } else { dest };
    let out = if version == "HEAD" {
        if cloning {
            r.check(&["ls-remote", remote, "-h", "HEAD"], cwd)?
        } else {
            let branch = head_branch(repo_path.unwrap_or(Path::new(".git")), remote_name)?;
            r.check(
                &["ls-remote", remote, "-h", &format!("refs/heads/{branch}")],
                cwd,
            )?
        }
    } else if is_remote_ref(r, "-h", remote, version, cwd)? {
        r.check(
            &["ls-remote", remote, "-h", &format!("refs/heads/{version}")],
            cwd,
        )?
    } else if is_remote_ref(r, "-t", remote, version, cwd)? {
        let out = r.check(
            &["ls-remote", remote, "-t", &format!("refs/tags/{version}*")],
            cwd,
        )?;
        let mut pick = out.stdout.clone();
        for line in out.stdout.split('\n') {
            if line.ends_with(&format!("{version}^{{}}")) {
                pick = line.to_string();
                break;
            } else if line.ends_with(version) {
                pick = line.to_string();
            }
        }
        return first_sha(&pick).ok_or_else(|| {
            ModuleError::new(format!("Could not determine remote revision for {version}"))
        });
    } else {
        // A commit id: known locally, it is read in full (so an abbreviated id does
        // not count as a change on every run).
        if let Some(d) = dest.filter(|_| !cloning) {
            let full = r.run(
                &[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("{version}^{{commit}}"),
                ],
                Some(d),
            )?;
            if full.rc == 0
                && let Some(s) = first_sha(&full.stdout)
            {
                return Ok(s);
            }
            r.check(&["fetch", "--dry-run", remote, version], Some(d))?;
        }
        return Ok(version.to_string());
    };
    first_sha(&out.stdout).ok_or_else(|| {
        ModuleError::new(format!("Could not determine remote revision for {version}"))
            .with("stdout", out.stdout.as_str())
            .with("stderr", out.stderr.as_str())
            .with("rc", out.rc)
    })
}

fn ssh_command(args: &Args) -> Option<String> {
    let mut opts = args.string("ssh_opts");
    for (flag, value) in [
        ("accept_hostkey", "-o StrictHostKeyChecking=no"),
        ("accept_newhostkey", "-o StrictHostKeyChecking=accept-new"),
    ] {
        if args.bool(flag) {
            opts = Some(match opts {
                Some(o)
                    if o.contains("-o StrictHostKeyChecking=no")
                        || o.contains("-o StrictHostKeyChecking=accept-new") =>
                {
                    o
                }
                Some(o) => format!("{o} {value}"),
                None => value.to_string(),
            });
        }
    }
    let key = args.string("key_file");
    if opts.is_none() && key.is_none() {
        return None;
    }
    let mut cmd = String::from("ssh");
    if let Some(k) = key {
        cmd.push_str(&format!(
            " -i {} -o IdentitiesOnly=yes",
            crate::command::shlex_quote(&k)
        ));
    }
    if let Some(o) = opts {
        cmd.push(' ');
        cmd.push_str(&o);
    }
    Some(cmd)
}

fn unsupported(args: &Args) -> Result<(), ModuleError> {
    for name in ["archive", "separate_git_dir", "umask"] {
        if args.is_set(name) {
            return Err(ModuleError::new(format!(
                "git: {name} is not supported by the agent"
            )));
        }
    }
    if args.bool("verify_commit") {
        return Err(ModuleError::new(
            "git: verify_commit is not supported by the agent",
        ));
    }
    Ok(())
}

impl Module for Git {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = Observed;
    type Op = Op;

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<Observed, ModuleError> {
        unsupported(args)?;
        if args.bool("accept_hostkey") && args.bool("accept_newhostkey") {
            return Err(ModuleError::new(
                "parameters are mutually exclusive: accept_hostkey|accept_newhostkey",
            ));
        }
        let git = match args.str("executable") {
            Some(e) => e.to_string(),
            None => run::require_bin("git")?.display().to_string(),
        };
        let runner = Runner {
            git,
            ssh_command: ssh_command(args),
        };
        let mut repo = args.string("repo").unwrap_or_default();
        if repo.starts_with('/') {
            repo = format!("file://{repo}");
        }
        let allow_clone = args.bool("clone");
        let bare = args.bool("bare");
        let version = args.str("version").unwrap_or("HEAD");
        let remote = args.str("remote").unwrap_or("origin");
        let dest = match args.str("dest") {
            Some(d) => Some(std::path::absolute(d).unwrap_or_else(|_| PathBuf::from(d))),
            None if allow_clone => {
                return Err(ModuleError::new(
                    "the destination directory must be specified unless clone=no",
                ));
            }
            None => None,
        };
        let rp = dest.as_deref().map(|d| repo_path(d, bare)).transpose()?;
        let exists = rp.as_deref().is_some_and(|p| p.join("config").exists());
        let mut o = Observed {
            runner,
            repo: repo.clone(),
            dest: dest.clone(),
            repo_path: rp.clone(),
            exists,
            before: None,
            local_mods: false,
            remote_url_changed: false,
            remote_head: None,
        };
        if !exists {
            o.remote_head = Some(remote_head(
                &o.runner,
                &repo,
                version,
                true,
                dest.as_deref(),
                rp.as_deref(),
                remote,
            )?);
            return Ok(o);
        }
        let d = dest.as_deref().unwrap_or(Path::new("."));
        let head = o.runner.run(&["rev-parse", "HEAD"], Some(d))?;
        o.before = Some(head.stdout.trim_end_matches('\n').to_string());
        if !args.bool("update") {
            return Ok(o);
        }
        if !bare {
            let st = o.runner.run(&["status", "--porcelain"], Some(d))?;
            o.local_mods = st.stdout.lines().any(|l| !l.starts_with("??"));
        }
        if o.local_mods && !args.bool("force") {
            return Err(ModuleError::new(format!(
                "Local modifications exist in the destination: {} (force=no).",
                d.display()
            ))
            .with("before", o.before.clone().unwrap_or_default())
            .with("changed", false));
        }
        let url = o.runner.run(&["ls-remote", "--get-url", remote], Some(d))?;
        if url.rc == 0 {
            let cur = url.stdout.trim_end_matches('\n');
            o.remote_url_changed = !cur.is_empty() && cur != repo && unfrack(cur) != unfrack(&repo);
        }
        o.remote_head = Some(remote_head(
            &o.runner,
            remote,
            version,
            false,
            Some(d),
            rp.as_deref(),
            remote,
        )?);
        Ok(o)
    }

    fn plan(args: &Args, o: &Observed, _ctx: &Ctx<'_>) -> Result<Plan<Op>, ModuleError> {
        let mut plan = Plan::default();
        plan.set(
            "before",
            o.before.clone().map_or(Value::from(()), Value::from),
        );
        if !o.exists {
            plan.set("after", o.remote_head.clone().unwrap_or_default());
            plan.ops.push(if args.bool("clone") {
                Op::Clone
            } else {
                Op::Report
            });
            return Ok(plan);
        }
        if !args.bool("update") {
            plan.set("after", o.before.clone().unwrap_or_default());
            return Ok(plan);
        }
        plan.set("remote_url_changed", o.remote_url_changed);
        plan.set("after", o.remote_head.clone().unwrap_or_default());
        if o.local_mods {
            plan.set(
                "msg",
                format!(
                    "Local modifications exist in the destination: {}",
                    o.dest.as_deref().unwrap_or(Path::new(".")).display()
                ),
            );
        }
        if o.before != o.remote_head || o.remote_url_changed || o.local_mods {
            plan.ops.push(Op::Update);
        }
        Ok(plan)
    }

    fn apply(
        args: &Args,
        o: Observed,
        plan: &Plan<Op>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        let r = &o.runner;
        let version = args.str("version").unwrap_or("HEAD");
        let remote = args.str("remote").unwrap_or("origin");
        let depth = args.int("depth").filter(|d| *d > 0);
        let bare = args.bool("bare");
        let force = args.bool("force");
        let refspec = args.str("refspec");
        let mut out = ResultMap::new();
        let mut warnings: Vec<Value> = Vec::new();
        let Some(dest) = o.dest.clone().filter(|_| !plan.ops.contains(&Op::Report)) else {
            out.insert("changed".into(), Value::from(true));
            return Ok(out);
        };
        for op in &plan.ops {
            match op {
                Op::Report => {}
                Op::Clone => {
                    let parent = dest.parent().unwrap_or(Path::new("/"));
                    let _ = std::fs::create_dir_all(parent);
                    let mut cmd: Vec<String> = vec!["clone".into()];
                    if bare {
                        cmd.push("--bare".into());
                    } else {
                        cmd.extend(["--origin".into(), remote.into()]);
                    }
                    let branch_or_tag = is_remote_ref(r, "-h", &o.repo, version, None)?
                        || is_remote_ref(r, "-t", &o.repo, version, None)?;
                    if let Some(d) = depth {
                        if version == "HEAD" || refspec.is_some() {
                            cmd.extend(["--depth".into(), d.to_string()]);
                        } else if branch_or_tag {
                            cmd.extend([
                                "--depth".into(),
                                d.to_string(),
                                "--branch".into(),
                                version.into(),
                            ]);
                        } else {
                            warnings.push(Value::from("Ignoring depth argument. Shallow clones are only available for HEAD, branches, tags or in combination with refspec."));
                        }
                    }
                    if let Some(reference) = args.str("reference") {
                        cmd.extend(["--reference".into(), reference.into()]);
                    }
                    if args.bool("single_branch") {
                        cmd.push("--single-branch".into());
                        if branch_or_tag {
                            cmd.extend(["--branch".into(), version.into()]);
                        }
                    }
                    cmd.push(o.repo.clone());
                    cmd.push(dest.display().to_string());
                    let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
                    r.check(&refs, Some(parent))?;
                    if bare && remote != "origin" {
                        r.check(&["remote", "add", remote, &o.repo], Some(&dest))?;
                    }
                    if let Some(rs) = refspec {
                        let mut f = vec!["fetch".to_string()];
                        if let Some(d) = depth {
                            f.extend(["--depth".into(), d.to_string()]);
                        }
                        f.extend([remote.to_string(), rs.to_string()]);
                        let refs: Vec<&str> = f.iter().map(String::as_str).collect();
                        r.check(&refs, Some(&dest))?;
                    }
                }
                Op::Update => {
                    if o.local_mods && force {
                        r.check(&["reset", "--hard", "HEAD"], Some(&dest))?;
                    }
                    if o.remote_url_changed {
                        let s = r.run(&["remote", "set-url", remote, &o.repo], Some(&dest))?;
                        if s.rc != 0 {
                            return Err(ModuleError::new(format!(
                                "Failed to set a new url {} for {remote}: {} {}",
                                o.repo, s.stdout, s.stderr
                            )));
                        }
                    }
                    fetch(r, &o, args, &dest)?;
                }
            }
        }
        if !bare {
            switch_version(r, &o, args, &dest)?;
            if args.bool("recursive") && dest.join(".gitmodules").exists() {
                r.check(
                    &["submodule", "update", "--init", "--recursive"],
                    Some(&dest),
                )?;
            }
        }
        let after = r.run(&["rev-parse", "HEAD"], Some(&dest))?;
        let after = after.stdout.trim_end_matches('\n').to_string();
        let changed = o.before.as_deref() != Some(after.as_str())
            || o.local_mods
            || o.remote_url_changed
            || plan.ops.contains(&Op::Report);
        out.insert("after".into(), Value::from(after));
        out.insert("changed".into(), Value::from(changed));
        if !warnings.is_empty() {
            out.insert("warnings".into(), Value::from(warnings));
        }
        Ok(out)
    }
}

/// Ansible's `fetch` (the parts for git 1.9 and later).
fn fetch(r: &Runner, o: &Observed, args: &Args, dest: &Path) -> Result<(), ModuleError> {
    let version = args.str("version").unwrap_or("HEAD");
    let remote = args.str("remote").unwrap_or("origin");
    let depth = args.int("depth").filter(|d| *d > 0);
    let refspec = args.str("refspec");
    let mut cmd: Vec<String> = vec!["fetch".into()];
    let mut refspecs: Vec<String> = Vec::new();
    if let Some(d) = depth {
        let current = head_branch(o.repo_path.as_deref().unwrap_or(dest), remote)?;
        if let Some(rs) = refspec {
            refspecs.push(rs.into());
        } else if version == "HEAD" {
            refspecs.push(current);
        } else if is_remote_ref(r, "-h", &o.repo, version, Some(dest))? {
            if current != version {
                refspecs.push(format!("+refs/heads/{version}:refs/heads/{version}"));
            }
            refspecs.push(format!(
                "+refs/heads/{version}:refs/remotes/{remote}/{version}"
            ));
        } else if is_remote_ref(r, "-t", &o.repo, version, Some(dest))? {
            refspecs.push(format!("+refs/tags/{version}:refs/tags/{version}"));
        }
        if !refspecs.is_empty() {
            cmd.extend(["--depth".into(), d.to_string()]);
        }
    }
    if depth.is_none() || refspecs.is_empty() {
        if args.bool("bare") {
            refspecs = vec![
                "+refs/heads/*:refs/heads/*".into(),
                "+refs/tags/*:refs/tags/*".into(),
            ];
        } else {
            cmd.push("--tags".into());
        }
        if let Some(rs) = refspec {
            refspecs.push(rs.into());
        }
    }
    if args.bool("force") {
        cmd.push("--force".into());
    }
    cmd.push(remote.into());
    cmd.extend(refspecs);
    let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let out = r.run(&refs, Some(dest))?;
    if out.rc != 0 {
        return Err(ModuleError::new(format!(
            "Failed to download remote objects and refs: {} {}",
            out.stdout, out.stderr
        ))
        .with("cmd", cmd.join(" ")));
    }
    Ok(())
}

fn is_local_branch(r: &Runner, dest: &Path, branch: &str) -> Result<bool, ModuleError> {
    let out = r.run(&["branch", "--no-color", "-a"], Some(dest))?;
    if out.rc != 0 {
        return Err(ModuleError::new(format!(
            "Could not determine branch data - received {}",
            out.stdout
        )));
    }
    let star = format!("* {branch}");
    Ok(out
        .stdout
        .lines()
        .map(str::trim)
        .any(|l| l == branch || l == star))
}

/// Ansible's `switch_version`.
fn switch_version(r: &Runner, o: &Observed, args: &Args, dest: &Path) -> Result<(), ModuleError> {
    let version = args.str("version").unwrap_or("HEAD");
    let remote = args.str("remote").unwrap_or("origin");
    let depth = args.int("depth").filter(|d| *d > 0);
    let repo_path = o.repo_path.clone().unwrap_or_else(|| dest.join(".git"));
    let fail = |what: String, out: &CmdOutput| {
        ModuleError::new(what)
            .with("stdout", out.stdout.as_str())
            .with("stderr", out.stderr.as_str())
            .with("rc", out.rc)
    };
    let last: Vec<String> = if version == "HEAD" {
        let branch = head_branch(&repo_path, remote)?;
        let out = r.run(&["checkout", "--force", &branch], Some(dest))?;
        if out.rc != 0 {
            return Err(fail(format!("Failed to checkout branch {branch}"), &out));
        }
        vec![
            "reset".into(),
            "--hard".into(),
            format!("{remote}/{branch}"),
            "--".into(),
        ]
    } else if is_remote_ref(r, "-h", remote, version, Some(dest))? {
        if let Some(d) = depth
            && !is_local_branch(r, dest, version)?
        {
            let out = r.run(
                &[
                    "fetch",
                    &format!("--depth={d}"),
                    remote,
                    &format!("+refs/heads/{version}:refs/heads/{version}"),
                    &format!("+refs/heads/{version}:refs/remotes/{remote}/{version}"),
                ],
                Some(dest),
            )?;
            if out.rc != 0 {
                return Err(fail(
                    format!("Failed to fetch branch from remote: {version}"),
                    &out,
                ));
            }
        }
        if !is_local_branch(r, dest, version)? {
            vec![
                "checkout".into(),
                "--track".into(),
                "-b".into(),
                version.into(),
                format!("{remote}/{version}"),
            ]
        } else {
            let out = r.run(&["checkout", "--force", version], Some(dest))?;
            if out.rc != 0 {
                return Err(fail(format!("Failed to checkout branch {version}"), &out));
            }
            vec![
                "reset".into(),
                "--hard".into(),
                format!("{remote}/{version}"),
            ]
        }
    } else {
        vec!["checkout".into(), "--force".into(), version.into()]
    };
    let refs: Vec<&str> = last.iter().map(String::as_str).collect();
    let out = r.run(&refs, Some(dest))?;
    if out.rc != 0 {
        return Err(fail(format!("Failed to checkout {version}"), &out)
            .with("cmd", format!("{} {}", r.git, last.join(" "))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_branch_from_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("HEAD"), "ref: refs/heads/main\n").unwrap();
        assert_eq!(head_branch(d.path(), "origin").unwrap(), "main");
        std::fs::write(d.path().join("HEAD"), "0123abcd\n").unwrap();
        std::fs::create_dir_all(d.path().join("refs/remotes/origin")).unwrap();
        std::fs::write(
            d.path().join("refs/remotes/origin/HEAD"),
            "ref: refs/remotes/origin/dev\n",
        )
        .unwrap();
        assert_eq!(head_branch(d.path(), "origin").unwrap(), "dev");
    }

    #[test]
    fn unfrack_paths() {
        assert_eq!(unfrack("https://x/y.git"), "https://x/y.git");
        assert_eq!(unfrack(""), "");
    }
}
