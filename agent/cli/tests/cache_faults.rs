//! The cache under faults, end to end through the CLI with a `file://` bundle source
//! (issue 8): a half-written or damaged archive, an unpacked tree changed on disk and
//! leftovers of a killed download are detected by sha256 and never used; and every file
//! the agent creates in a fresh cache directory has a mode that keeps it from other users,
//! whatever the umask (docs/reliability.md, "Permissions").

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct World {
    tmp: tempfile::TempDir,
    sha: String,
}

impl World {
    /// A bundle (site.yml writes `out/marker` with `version`) and a configuration pointing
    /// at it; the cache in `cache/`, the metrics in `metrics/`.
    fn new(version: &str) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let site = tmp.path().join("site");
        std::fs::create_dir_all(&site).unwrap();
        std::fs::create_dir_all(tmp.path().join("out")).unwrap();
        std::fs::write(
            site.join("site.yml"),
            format!(
                "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - copy: {{content: \"{version}\\n\", dest: {}/out/marker}}\n",
                tmp.path().display()
            ),
        )
        .unwrap();
        let mut w = World {
            tmp,
            sha: String::new(),
        };
        let o = w.run(&["bundle", "site", "-o", "site.tar.gz"]);
        assert!(o.status.success(), "{}", text(&o));
        w.sha = String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .find(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
            .unwrap_or_else(|| panic!("no sha256 in {}", text(&o)))
            .to_string();
        std::fs::write(
            w.path("agent.toml"),
            format!(
                "source = \"file://{dir}/site.tar.gz\"\nsha256 = \"{sha}\"\ncache_dir = \"{dir}/cache\"\nlock_file = \"{dir}/run/agent.lock\"\n\n[report]\nprometheus_dir = \"{dir}/metrics\"\n",
                dir = w.tmp.path().display(),
                sha = w.sha
            ),
        )
        .unwrap();
        w
    }

    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    fn cache(&self) -> PathBuf {
        self.path("cache")
    }

    fn archive(&self) -> PathBuf {
        self.cache().join(format!("bundles/{}.bundle", self.sha))
    }

    fn unpacked(&self) -> PathBuf {
        self.cache().join(format!("bundles/{}", self.sha))
    }

    fn marker(&self) -> Option<String> {
        std::fs::read_to_string(self.path("out/marker")).ok()
    }

    /// The agent under `umask 000`, so that every mode it sets is its own choice.
    fn run(&self, args: &[&str]) -> Output {
        let mut c = Command::new("/bin/sh");
        c.arg("-c")
            .arg("umask 000; exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_agent"))
            .args(args)
            .current_dir(self.tmp.path())
            .env_remove("AGENT_LOCK_FILE")
            .env_remove("AGENT_CONFIG")
            .env_remove("ANSIBLE_ROLES_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.output().expect("run agent")
    }

    fn apply(&self) -> Output {
        let config = self.path("agent.toml");
        self.run(&["apply", "--config", &config.display().to_string()])
    }

    fn last_run(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.cache().join("last_run.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn sha256_of(path: &Path) -> String {
    agent_source::bundle::sha256_file(path).unwrap()
}

#[test]
fn half_written_archive_is_detected_and_fetched_again() {
    let w = World::new("v1");
    let o = w.apply();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(w.marker().as_deref(), Some("v1\n"));
    // Half of the archive, as a crash in the middle of a copy would leave it.
    let bytes = std::fs::read(w.archive()).unwrap();
    std::fs::write(w.archive(), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::remove_file(w.path("out/marker")).unwrap();
    let o = w.apply();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("[WARNING]: cached bundle") && t.contains("is damaged"),
        "{t}"
    );
    assert_eq!(sha256_of(&w.archive()), w.sha, "fetched again, whole");
    assert_eq!(w.marker().as_deref(), Some("v1\n"));
}

#[test]
fn damaged_archive_is_never_used_when_the_source_is_gone() {
    let w = World::new("v1");
    let o = w.apply();
    assert!(o.status.success(), "{}", text(&o));
    let mut bytes = std::fs::read(w.archive()).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(w.archive(), &bytes).unwrap();
    std::fs::remove_file(w.path("site.tar.gz")).unwrap();
    std::fs::remove_file(w.path("out/marker")).unwrap();
    let o = w.apply();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("is damaged"), "{t}");
    assert!(t.contains("nothing was changed"), "{t}");
    assert_eq!(w.marker(), None, "the host was touched");
    assert!(!w.archive().exists());
    assert!(!w.unpacked().exists());
    let doc = w.last_run();
    assert_eq!(doc["report"]["result"], "failed", "{doc}");
    let err = doc["report"]["error"].as_str().unwrap_or_default();
    assert!(err.contains("damaged"), "{err}");
}

#[test]
fn unpacked_tree_changed_on_disk_is_never_used() {
    let w = World::new("v1");
    let o = w.apply();
    assert!(o.status.success(), "{}", text(&o));
    let site = w.unpacked().join("site.yml");
    let evil = std::fs::read_to_string(&site)
        .unwrap()
        .replace("v1", "evil");
    std::fs::write(&site, evil).unwrap();
    // Whether or not the source can still be reached.
    for source_gone in [false, true] {
        if source_gone {
            std::fs::remove_file(w.path("site.tar.gz")).unwrap();
            std::fs::write(&site, "garbage: [").unwrap();
        }
        let o = w.apply();
        let t = text(&o);
        let want = if source_gone { 4 } else { 0 };
        assert_eq!(o.status.code(), Some(want), "{t}");
        assert!(t.contains("was changed on disk"), "{t}");
        assert_eq!(w.marker().as_deref(), Some("v1\n"), "{t}");
        assert!(std::fs::read_to_string(&site).unwrap().contains("v1"));
    }
}

#[test]
fn leftovers_of_a_killed_download_or_unpack_are_removed() {
    let w = World::new("v1");
    let o = w.apply();
    assert!(o.status.success(), "{}", text(&o));
    let bundles = w.cache().join("bundles");
    std::fs::write(bundles.join(".download-AbC123"), b"half a download").unwrap();
    std::fs::create_dir_all(bundles.join(format!(".unpack-{}", w.sha))).unwrap();
    std::fs::write(
        bundles.join(format!(".unpack-{}/site.yml", w.sha)),
        "garbage",
    )
    .unwrap();
    let o = w.apply();
    assert!(o.status.success(), "{}", text(&o));
    let names: Vec<String> = std::fs::read_dir(&bundles)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "left in the cache: {names:?}");
}

/// Every entry under `root` with its mode, and whether a user other than the owner can
/// reach it (every directory on the way, `root` included, searchable by others).
fn walk(root: &Path) -> Vec<(PathBuf, u32, bool, bool)> {
    fn go(p: &Path, open: bool, out: &mut Vec<(PathBuf, u32, bool, bool)>) {
        let md = std::fs::symlink_metadata(p).unwrap();
        let mode = md.mode() & 0o7777;
        let is_dir = md.is_dir();
        out.push((p.to_path_buf(), mode, is_dir, open));
        if is_dir {
            let open = open && mode & 0o011 != 0;
            let mut names: Vec<_> = std::fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            names.sort();
            for n in names {
                go(&n, open, out);
            }
        }
    }
    let mut out = Vec::new();
    go(root, true, &mut out);
    out
}

#[test]
fn a_fresh_cache_keeps_everything_from_other_users_whatever_the_umask() {
    let w = World::new("v1");
    let config = w.path("agent.toml");
    let config = config.display().to_string();
    let o = w.run(&["apply", "--config", &config, "--output", "prometheus"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = w.run(&["check", "--config", &config]);
    assert!(o.status.success(), "{}", text(&o));
    let entries = walk(&w.cache());
    let mut seen = std::collections::BTreeSet::new();
    for (p, mode, is_dir, reachable) in &entries {
        let rel = p.strip_prefix(w.cache()).unwrap().display().to_string();
        let in_tree = rel.starts_with(&format!("bundles/{}/", w.sha));
        let md = std::fs::symlink_metadata(p).unwrap();
        if md.file_type().is_symlink() {
            assert_eq!(rel, "current", "unexpected link {rel}");
        } else if in_tree {
            // The unpacked bundle keeps the archive's modes (0644/0755: `mode: preserve`
            // and scripts depend on them); nobody else can reach them.
            assert!(!reachable, "{rel} ({mode:o}) is reachable by other users");
        } else if *is_dir {
            assert_eq!(*mode, 0o700, "{rel}");
        } else {
            assert_eq!(*mode, 0o600, "{rel}");
        }
        seen.insert(rel);
    }
    for want in [
        "".to_string(),
        "bundles".into(),
        format!("bundles/{}.bundle", w.sha),
        format!("bundles/{}", w.sha),
        format!("bundles/{}/.complete", w.sha),
        "current".into(),
        "last_run.json".into(),
    ] {
        assert!(seen.contains(&want), "{want} missing from {seen:?}");
    }
    // The lock: a 0700 directory of this user (0755 under /run for root), the file 0600.
    let lock = std::fs::metadata(w.path("run/agent.lock")).unwrap();
    assert_eq!(lock.permissions().mode() & 0o7777, 0o600);
    // node_exporter runs as another user: the metrics are 0644 in a 0755 directory.
    let prom = std::fs::metadata(w.path("metrics/agent.prom")).unwrap();
    assert_eq!(prom.permissions().mode() & 0o7777, 0o644);
    let dir = std::fs::metadata(w.path("metrics")).unwrap();
    assert_eq!(dir.permissions().mode() & 0o7777, 0o755);
}
