//! `agent --version`: the package version, the git commit the binary was built from
//! (short sha, `+dirty` when tracked files differ from it) and the target triple.
//! Without git or a .git directory (a source tarball) the commit is `unknown`, or what
//! `AGENT_BUILD_COMMIT` says (for packagers that know it).

use std::path::PathBuf;
use std::process::Command;

fn git(dir: &std::path::Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=AGENT_BUILD_COMMIT");
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let commit = match std::env::var("AGENT_BUILD_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => from_git(&dir).unwrap_or_else(|| "unknown".into()),
    };
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_else(|_| "0.0.0".into());
    println!("cargo:rustc-env=AGENT_VERSION={version} (commit {commit}, target {target})");
    println!("cargo:rustc-env=AGENT_COMMIT={commit}");
    println!("cargo:rustc-env=AGENT_TARGET={target}");
}

/// The short sha of HEAD, `+dirty` when tracked files changed; None outside a work tree.
/// Re-run when HEAD moves, the branch advances, or the index changes.
fn from_git(dir: &std::path::Path) -> Option<String> {
    let sha = git(dir, &["rev-parse", "--short=10", "HEAD"])?;
    for what in ["HEAD", "index", "packed-refs"] {
        if let Some(p) = git(
            dir,
            &["rev-parse", "--path-format=absolute", "--git-path", what],
        ) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    if let Some(r) = git(dir, &["symbolic-ref", "-q", "HEAD"])
        && let Some(p) = git(
            dir,
            &["rev-parse", "--path-format=absolute", "--git-path", &r],
        )
    {
        println!("cargo:rerun-if-changed={p}");
    }
    let dirty =
        git(dir, &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{sha}+dirty") } else { sha })
}
