//! Drift reports end to end (docs/reports.md): `check` and `apply` with `--output json`,
//! `junit` and `prometheus` against golden files (times, paths and the host name
//! normalised), `last_run.json` (same document, modes, written on failures too), the
//! Prometheus textfile.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct World {
    tmp: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let w = World {
            tmp: tempfile::tempdir().unwrap(),
        };
        let root = w.root();
        w.write(
            "agent.toml",
            &format!(
                "cache_dir = \"{root}/state\"\n\n[report]\nprometheus_dir = \"{root}/textfile\"\n"
            ),
        );
        w.write(
            "play.yml",
            "- name: web servers\n  hosts: localhost\n  gather_facts: false\n  roles:\n    - web\n  tasks:\n    - name: never\n      ansible.builtin.command: /bin/false\n      when: false\n",
        );
        w.write(
            "roles/web/tasks/main.yml",
            "- name: web.conf\n  ansible.builtin.copy:\n    dest: \"{{ out }}/web.conf\"\n    content: \"port=80\\n\"\n- name: data dir\n  ansible.builtin.file:\n    path: \"{{ out }}/data\"\n    state: directory\n    mode: \"0750\"\n- name: always ok\n  ansible.builtin.debug:\n    msg: hello\n",
        );
        std::fs::create_dir_all(w.path("out")).unwrap();
        w
    }

    fn root(&self) -> String {
        self.tmp.path().display().to_string()
    }

    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    fn write(&self, name: &str, text: &str) {
        let p = self.path(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn agent(&self, args: &[&str]) -> Output {
        let out = format!("out={}/out", self.root());
        let cfg = self.path("agent.toml");
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", cfg.to_str().unwrap(), "-e", &out]);
        Command::new(env!("CARGO_BIN_EXE_agent"))
            .args(&all)
            .current_dir(self.tmp.path())
            .env_remove("ANSIBLE_ROLES_PATH")
            .env_remove("AGENT_CONFIG")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AGENT_LOCK_FILE", self.path("agent.lock"))
            .output()
            .expect("run agent")
    }

    fn last_run(&self) -> String {
        std::fs::read_to_string(self.path("state/last_run.json")).unwrap()
    }

    /// Paths, times, durations and the host name replaced by fixed words.
    fn normalise(&self, text: &str) -> String {
        let t = text.replace(&self.root(), "TMP");
        let re =
            |p: &str, r: &str, t: &str| regex::Regex::new(p).unwrap().replace_all(t, r).to_string();
        let t = re(r#"time="[0-9.]+""#, r#"time="T""#, &t);
        let t = re(r#"timestamp="[0-9TZ:-]+""#, r#"timestamp="DATE""#, &t);
        let t = re(
            r"(?m)^agent_last_run_timestamp_seconds \d+$",
            "agent_last_run_timestamp_seconds T",
            &t,
        );
        let t = re(
            r"(?m)^agent_run_duration_seconds [0-9.]+$",
            "agent_run_duration_seconds T",
            &t,
        );
        let host = agent::host_identity::hostname();
        t.replace(&format!("hostname=\"{host}\""), "hostname=\"HOST\"")
    }

    /// The `report` section with its run-specific values fixed.
    fn report_section(&self, doc: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(doc).expect("JSON document");
        let r = v.get_mut("report").expect("a report section");
        for k in ["started", "ended"] {
            r[k] = "DATE".into();
        }
        r["duration_ms"] = 0.into();
        r["hostname"] = "HOST".into();
        r["agent_version"] = "VERSION".into();
        for (_, t) in r["timings_ms"].as_object_mut().unwrap().iter_mut() {
            *t = 0.into();
        }
        for t in r["tasks"].as_array_mut().unwrap() {
            t["duration_ms"] = 0.into();
        }
        self.normalise(&(serde_json::to_string_pretty(r).unwrap() + "\n"))
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn golden(name: &str, got: &str) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var("AGENT_UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&p).unwrap_or_default();
    if want != got {
        let d = similar::TextDiff::from_lines(&want, got);
        panic!(
            "{name} differs from its golden file:\n{}",
            d.unified_diff().header("golden", "agent")
        );
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn check_junit_prometheus_json_then_apply_and_clean() {
    let w = World::new();

    // Drift, as JUnit: two tasks would change, one skipped.
    let o = w.agent(&["check", "--output", "junit", "play.yml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    golden(
        "check.junit.xml",
        &w.normalise(&String::from_utf8_lossy(&o.stdout)),
    );
    // The check's last_run.json has the same report.
    golden("check.report.json", &w.report_section(&w.last_run()));
    assert_eq!(mode(&w.path("state/last_run.json")), 0o600);
    assert_eq!(mode(&w.path("state")), 0o700);
    assert!(!w.path("out/web.conf").exists(), "check changed the host");

    // Prometheus: printed and written, the same text.
    let o = w.agent(&["check", "--output", "prometheus", "play.yml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let printed = String::from_utf8_lossy(&o.stdout).to_string();
    let file = std::fs::read_to_string(w.path("textfile/agent.prom")).unwrap();
    assert_eq!(printed, file);
    assert_eq!(mode(&w.path("textfile/agent.prom")), 0o644);
    golden("check.prom", &w.normalise(&printed));

    // Apply, as JSON: stdout is exactly last_run.json.
    let o = w.agent(&["apply", "--output", "json", "play.yml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let printed = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(printed, w.last_run());
    let doc: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert!(doc["plays"].is_array() && doc["stats"].is_object());
    assert_eq!(doc["report"]["result"], "changed");
    assert_eq!(doc["report"]["counts"]["changed"], 2);
    assert_eq!(doc["report"]["drifted"], serde_json::json!([]));
    assert!(w.path("out/web.conf").exists());

    // Clean again: human output, and last_run.json still written.
    let o = w.agent(&["check", "play.yml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("PLAY RECAP"));
    let doc: serde_json::Value = serde_json::from_str(&w.last_run()).unwrap();
    assert_eq!(doc["report"]["result"], "ok");
    assert_eq!(doc["report"]["command"], "check");
    let o = w.agent(&["check", "--output", "prometheus", "play.yml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let file = std::fs::read_to_string(w.path("textfile/agent.prom")).unwrap();
    assert!(file.contains("\nagent_drift 0\n"), "{file}");
    assert!(file.contains("\nagent_last_run_success 1\n"), "{file}");
}

#[test]
fn failures_are_reported() {
    let w = World::new();
    // A task that fails: result failed, exit 1, the failure in JUnit.
    w.write(
        "fail.yml",
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: boom\n      ansible.builtin.fail:\n        msg: it <broke> & stopped\n",
    );
    let o = w.agent(&["apply", "--output", "junit", "fail.yml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let x = String::from_utf8_lossy(&o.stdout);
    assert!(
        x.contains("<failure type=\"failed\" message=\"it &lt;broke&gt; &amp; stopped\">"),
        "{x}"
    );
    let doc: serde_json::Value = serde_json::from_str(&w.last_run()).unwrap();
    assert_eq!(doc["report"]["result"], "failed");
    assert_eq!(doc["report"]["counts"]["failed"], 1);

    // A playbook that does not load: still a report, with the error; metrics say so.
    w.write(
        "bad.yml",
        "- hosts: localhost\n  tasks:\n    - nosuchmodule: {}\n",
    );
    let o = w.agent(&["check", "--output", "prometheus", "bad.yml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_str(&w.last_run()).unwrap();
    assert_eq!(doc["report"]["result"], "failed");
    assert!(
        doc["report"]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("nosuchmodule"),
        "{doc}"
    );
    let file = std::fs::read_to_string(w.path("textfile/agent.prom")).unwrap();
    assert!(file.contains("\nagent_last_run_success 0\n"), "{file}");

    // --syntax-check and --list-tasks leave the last report alone.
    let before = w.last_run();
    let o = w.agent(&["check", "--syntax-check", "play.yml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(w.last_run(), before);
}

#[test]
fn unwritable_state_dir_is_a_warning() {
    let w = World::new();
    // The state directory is a file: last_run.json cannot be written.
    w.write("state", "not a directory");
    let o = w.agent(&["apply", "play.yml"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("[WARNING]: could not write"), "{t}");
}
