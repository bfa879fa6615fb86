//! The git module against a local bare repository made here (needs the git program).

use std::path::{Path, PathBuf};
use std::process::Command;

use agent_modules::{Ctx, FileFinder, ResultMap, Value, registry};
use agent_template::{Templar, Vars};
use indexmap::IndexMap;

struct NoFiles;

impl FileFinder for NoFiles {
    fn find(&self, _kind: &str, _name: &str) -> Option<PathBuf> {
        None
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn run(args: &[(&str, Value)], check: bool) -> ResultMap {
    let templar = Templar::new();
    let vars = Vars::default();
    let ctx = Ctx {
        check_mode: check,
        diff_mode: false,
        files: &NoFiles,
        templar: &templar,
        vars: &vars,
        become_user: None,
        environment: &[],
    };
    let raw: IndexMap<String, Value> = args
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let e = registry::find("ansible.builtin.git").unwrap();
    (e.run)("git", &raw, &ctx).unwrap()
}

#[test]
fn clone_update_and_switch_versions() {
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("no git program: skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let bare = tmp.path().join("repo.git");
    std::fs::create_dir(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("a"), "1\n").unwrap();
    git(&work, &["add", "a"]);
    git(&work, &["commit", "-q", "-m", "one"]);
    let first = git(&work, &["rev-parse", "HEAD"]);
    git(&work, &["tag", "-a", "v1", "-m", "v1"]);
    git(tmp.path(), &["clone", "-q", "--bare", "work", "repo.git"]);
    let repo = Value::from(bare.display().to_string());
    let dest = tmp.path().join("checkout");
    let d = Value::from(dest.display().to_string());
    let base = [("repo", repo.clone()), ("dest", d.clone())];

    // Check mode: reports the clone, makes nothing.
    let r = run(&base, true);
    assert_eq!(r.get("changed"), Some(&Value::from(true)));
    assert_eq!(r.get("after"), Some(&Value::from(first.as_str())));
    assert!(!dest.exists());

    let r = run(&base, false);
    assert_eq!(r.get("changed"), Some(&Value::from(true)));
    assert_eq!(r.get("before"), Some(&Value::from(())));
    assert_eq!(r.get("after"), Some(&Value::from(first.as_str())));
    assert_eq!(std::fs::read_to_string(dest.join("a")).unwrap(), "1\n");

    let r = run(&base, false);
    assert_eq!(r.get("changed"), Some(&Value::from(false)));

    // A new commit upstream: check mode sees it, apply gets it.
    std::fs::write(work.join("a"), "2\n").unwrap();
    git(&work, &["commit", "-q", "-am", "two"]);
    let second = git(&work, &["rev-parse", "HEAD"]);
    git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
    let r = run(&base, true);
    assert_eq!(r.get("changed"), Some(&Value::from(true)));
    assert_eq!(r.get("after"), Some(&Value::from(second.as_str())));
    let r = run(&base, false);
    assert_eq!(r.get("before"), Some(&Value::from(first.as_str())));
    assert_eq!(r.get("after"), Some(&Value::from(second.as_str())));
    assert_eq!(std::fs::read_to_string(dest.join("a")).unwrap(), "2\n");

    // An annotated tag, then an abbreviated commit id: converge, then no change.
    let mut tag = base.to_vec();
    tag.push(("version", Value::from("v1")));
    let r = run(&tag, false);
    assert_eq!(r.get("after"), Some(&Value::from(first.as_str())));
    assert_eq!(run(&tag, false).get("changed"), Some(&Value::from(false)));
    let mut sha = base.to_vec();
    sha.push(("version", Value::from(&second[..10])));
    assert_eq!(
        run(&sha, false).get("after"),
        Some(&Value::from(second.as_str()))
    );
    assert_eq!(run(&sha, false).get("changed"), Some(&Value::from(false)));

    // Local modifications: refused without force, reset with it.
    std::fs::write(dest.join("a"), "local\n").unwrap();
    let templar = Templar::new();
    let vars = Vars::default();
    let ctx = Ctx {
        check_mode: false,
        diff_mode: false,
        files: &NoFiles,
        templar: &templar,
        vars: &vars,
        become_user: None,
        environment: &[],
    };
    let raw: IndexMap<String, Value> = sha
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let e = registry::find("git").unwrap();
    let err = (e.run)("git", &raw, &ctx).unwrap_err();
    assert!(
        err.msg.starts_with("Local modifications exist"),
        "{}",
        err.msg
    );
    let mut forced = sha.to_vec();
    forced.push(("force", Value::from(true)));
    let r = run(&forced, false);
    assert_eq!(r.get("changed"), Some(&Value::from(true)));
    assert_eq!(std::fs::read_to_string(dest.join("a")).unwrap(), "2\n");
}
