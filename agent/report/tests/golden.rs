//! Golden tests: replay the callback events recorded from real ansible-playbook
//! (tests/record.py) into our reporters and compare byte for byte with what
//! ansible-core 2.21.5 printed.

use agent_report::{Event, Human, Json, ReportOptions, Reporter, Stats, Status, Value};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn header(src: &str, key: &str) -> String {
    let prefix = format!("# {key}:");
    src.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or("")
        .trim()
        .to_string()
}

fn options(src: &str) -> ReportOptions {
    let mut o = ReportOptions::default();
    for a in header(src, "args").split_whitespace() {
        match a {
            "--diff" => o.diff = true,
            "--check" => o.check = true,
            v if v.starts_with("-v") => o.verbosity = (v.len() - 1) as u8,
            _ => {}
        }
    }
    for kv in header(src, "env").split_whitespace() {
        match kv {
            "ANSIBLE_FORCE_COLOR=1" => o.color = true,
            "ANSIBLE_DISPLAY_SKIPPED_HOSTS=false" => o.display_skipped_hosts = false,
            "ANSIBLE_DISPLAY_OK_HOSTS=false" => o.display_ok_hosts = false,
            "ANSIBLE_SHOW_CUSTOM_STATS=true" => o.show_custom_stats = true,
            "ANSIBLE_CHECK_MODE_MARKERS=true" => o.check_mode_markers = true,
            other => panic!("unknown env in scenario header: {other}"),
        }
    }
    o
}

/// Drop what ansible-playbook's CLI (not the callback) prints at higher verbosity.
fn strip_cli_lines(s: &str) -> String {
    let mut out = String::new();
    let mut in_version = false;
    for line in s.split_inclusive('\n') {
        if line.starts_with("ansible-playbook [core ") {
            in_version = true;
            continue;
        }
        if in_version {
            if line.starts_with("  ") {
                continue;
            }
            in_version = false;
        }
        if line.starts_with("No config file found") || line.starts_with("Skipping callback") {
            continue;
        }
        out.push_str(line);
    }
    out
}

fn status(s: &str) -> Status {
    match s {
        "ok" => Status::Ok,
        "changed" => Status::Changed,
        "failed" => Status::Failed,
        "skipped" => Status::Skipped,
        "unreachable" => Status::Unreachable,
        other => panic!("bad status {other}"),
    }
}

fn s<'a>(e: &'a serde_json::Value, k: &str) -> &'a str {
    e.get(k).and_then(|v| v.as_str()).unwrap_or("")
}

fn b(e: &serde_json::Value, k: &str) -> bool {
    e.get(k).and_then(|v| v.as_bool()).unwrap_or(false)
}

fn os<'a>(e: &'a serde_json::Value, k: &str) -> Option<&'a str> {
    e.get(k).and_then(|v| v.as_str())
}

/// Feed the recorded events into a reporter.
fn replay(events: &[serde_json::Value], rep: &mut dyn Reporter, out: &mut Vec<u8>) {
    for e in events {
        let result = e
            .get("result")
            .map(|r| Value::from(minijinja::value::Serde(r)))
            .unwrap_or_default();
        let stats_v = e
            .get("stats")
            .map(|r| Value::from(minijinja::value::Serde(r)))
            .unwrap_or_default();
        let recap: Vec<(String, Stats)> = match (s(e, "ev"), e.get("stats")) {
            ("Recap", Some(st)) => serde_json::from_value(st.clone()).expect("recap stats"),
            _ => Vec::new(),
        };
        let ev = match s(e, "ev") {
            "PlaybookStart" => Event::PlaybookStart {
                path: s(e, "path"),
                plays: e["plays"].as_u64().unwrap_or(0) as usize,
            },
            "PlayStart" => Event::PlayStart {
                name: s(e, "name"),
                hosts: s(e, "hosts"),
                check_mode: b(e, "check_mode"),
                path: s(e, "path"),
            },
            "TaskStart" => Event::TaskStart {
                name: s(e, "name"),
                path: s(e, "path"),
                is_handler: b(e, "is_handler"),
                action: s(e, "action"),
                is_loop: b(e, "is_loop"),
                role: os(e, "role").or_else(|| s(e, "name").split_once(" : ").map(|(r, _)| r)),
            },
            "TaskResult" => Event::TaskResult {
                host: s(e, "host"),
                status: status(s(e, "status")),
                result: &result,
                ignore_errors: b(e, "ignore_errors"),
                delegate_to: os(e, "delegate_to"),
                error: os(e, "error"),
            },
            "ItemResult" => Event::ItemResult {
                host: s(e, "host"),
                status: status(s(e, "status")),
                result: &result,
                ignore_errors: b(e, "ignore_errors"),
                delegate_to: os(e, "delegate_to"),
                error: os(e, "error"),
            },
            "NoHostsMatched" => Event::NoHostsMatched,
            "Warning" => Event::Warning {
                message: s(e, "message"),
            },
            "Deprecation" => Event::Deprecation {
                message: s(e, "message"),
            },
            "CustomStats" => Event::CustomStats { stats: &stats_v },
            "Recap" => Event::Recap { stats: &recap },
            "Rescued" => Event::Rescued { host: s(e, "host") },
            other => panic!("unknown recorded event {other}"),
        };
        rep.event(&ev, out).expect("write");
    }
    rep.finish(out).expect("finish");
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn scenarios() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir().join("scenarios"))
        .expect("scenarios dir")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".yml"))
                .map(String::from)
        })
        .collect();
    names.sort();
    names
}

fn show_diff(name: &str, what: &str, want: &str, got: &str) -> String {
    let d = similar::TextDiff::from_lines(want, got);
    format!(
        "{name} ({what}) differs from ansible-playbook:\n{}",
        d.unified_diff().header("ansible", "agent")
    )
}

#[test]
fn human_output_matches_ansible() {
    let names = scenarios();
    assert!(names.len() >= 20, "expected at least 20 scenarios");
    let mut failures = Vec::new();
    for name in &names {
        let src = fs::read_to_string(dir().join("scenarios").join(format!("{name}.yml")))
            .expect("scenario");
        let gold = dir().join("golden");
        let events: Vec<serde_json::Value> = serde_json::from_str(
            &fs::read_to_string(gold.join(format!("{name}.events.json"))).expect("events"),
        )
        .expect("events json");
        let err = Shared::default();
        let mut rep = Human::with_stderr(options(&src), Box::new(err.clone()));
        let mut out = Vec::new();
        replay(&events, &mut rep, &mut out);
        let got = String::from_utf8(out).expect("utf8");
        let want = strip_cli_lines(
            &fs::read_to_string(gold.join(format!("{name}.out"))).expect("golden out"),
        );
        if got != want {
            failures.push(show_diff(name, "stdout", &want, &got));
        }
        let got_err = String::from_utf8(err.0.lock().expect("lock").clone()).expect("utf8");
        let want_err = fs::read_to_string(gold.join(format!("{name}.err"))).expect("golden err");
        if got_err != want_err {
            failures.push(show_diff(name, "stderr", &want_err, &got_err));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn json_output_matches_ansible_posix_json() {
    let id = regex::Regex::new(r#""id": "[0-9a-f-]+""#).expect("re");
    let time = regex::Regex::new(r#""(start|end)": "[0-9T:.\-]+Z""#).expect("re");
    let tmp = regex::Regex::new(r"ansible-tmp-[0-9.\-]+").expect("re");
    let mut failures = Vec::new();
    let mut count = 0;
    for name in scenarios() {
        let gold = dir().join("golden");
        let Ok(want) = fs::read_to_string(gold.join(format!("{name}.json"))) else {
            continue;
        };
        count += 1;
        let src = fs::read_to_string(dir().join("scenarios").join(format!("{name}.yml")))
            .expect("scenario");
        let events: Vec<serde_json::Value> = serde_json::from_str(
            &fs::read_to_string(gold.join(format!("{name}.events.json"))).expect("events"),
        )
        .expect("events json");
        let mut rep = Json::new(options(&src).show_custom_stats);
        let mut out = Vec::new();
        replay(&events, &mut rep, &mut out);
        let got = String::from_utf8(out).expect("utf8");
        let got = id.replace_all(&got, r#""id": "ID""#);
        let got = time.replace_all(&got, r#""$1": "TIME""#);
        let got = tmp.replace_all(&got, "ansible-tmp-X").into_owned();
        if got != want {
            failures.push(show_diff(&name, "json", &want, &got));
        }
    }
    assert!(count >= 5);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The drift report of a recorded run, with fixed times and host so that it can be
/// compared with a golden file.
fn report_of(name: &str) -> agent_report::RunReport {
    use agent_report::report::{Bundle, SCHEMA_VERSION};
    let src =
        fs::read_to_string(dir().join("scenarios").join(format!("{name}.yml"))).expect("scenario");
    let opts = options(&src);
    let events: Vec<serde_json::Value> = serde_json::from_str(
        &fs::read_to_string(dir().join("golden").join(format!("{name}.events.json")))
            .expect("events"),
    )
    .expect("events json");
    let mut c = agent_report::Collector::new();
    let mut out = Vec::new();
    replay(&events, &mut c, &mut out);
    assert!(out.is_empty(), "the collector prints nothing");
    let mut r = agent_report::RunReport {
        schema_version: SCHEMA_VERSION,
        agent_version: "VERSION".into(),
        command: if opts.check { "check" } else { "apply" }.into(),
        check_mode: opts.check,
        host: "localhost".into(),
        hostname: "testhost".into(),
        environment: Some("test".into()),
        playbook: Some(format!("/tmp/agent-report-golden/{name}.yml")),
        bundle: Some(Bundle {
            sha256: "0".repeat(64),
            uri: "s3://bundles/site.tar.gz".into(),
            signed_by: None,
        }),
        started: "2026-01-02T03:04:05Z".into(),
        ended: "2026-01-02T03:04:06Z".into(),
        duration_ms: 1250,
        ..Default::default()
    };
    r.tasks = c.take_tasks();
    for t in &mut r.tasks {
        t.duration_ms = 0;
    }
    r.settle(false);
    r
}

/// Drift reports (the JSON `report` section, JUnit, Prometheus) of recorded runs against
/// golden files in golden/reports/. `AGENT_UPDATE_GOLDEN=1` rewrites them.
#[test]
fn drift_reports_match_golden_files() {
    let update = std::env::var("AGENT_UPDATE_GOLDEN").as_deref() == Ok("1");
    let gold = dir().join("golden").join("reports");
    let mut failures = Vec::new();
    for name in [
        "02_skipped",
        "03_failed",
        "04_ignored",
        "06_loops",
        "10_diff_content",
        "12_check_mode",
        "19_loop_diff",
        "20_roles",
    ] {
        let r = report_of(name);
        let json = serde_json::to_string_pretty(&r.to_json()).expect("json") + "\n";
        let outputs = [
            ("report.json", json),
            ("junit.xml", agent_report::junit::render(&r)),
            ("prom", agent_report::prometheus::render(&r)),
        ];
        for (ext, got) in outputs {
            let path = gold.join(format!("{name}.{ext}"));
            if update {
                fs::create_dir_all(&gold).expect("mkdir");
                fs::write(&path, &got).expect("write golden");
                continue;
            }
            let want = fs::read_to_string(&path).unwrap_or_default();
            if got != want {
                failures.push(show_diff(name, ext, &want, &got));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
