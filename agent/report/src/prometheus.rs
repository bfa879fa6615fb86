//! `--output prometheus`: the run as a node_exporter textfile (Prometheus text format
//! 0.0.4), written atomically into the textfile collector's directory and printed.

use crate::report::RunReport;

/// The file name in the textfile collector's directory.
pub const FILE_NAME: &str = "agent.prom";

/// Escape a label value (`\`, `"`, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metrics of one run. Values: `ended` and `duration_ms` of the report; `agent_drift`
/// is 1 only when a check run found drift (an apply that changed things leaves the host
/// in line with its configuration).
pub fn render(r: &RunReport) -> String {
    let ended = crate::time::parse_rfc3339(&r.ended).unwrap_or(0);
    let sha = r.bundle.as_ref().map(|b| b.sha256.as_str()).unwrap_or("");
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, samples: &[(String, String)]| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (labels, value) in samples {
            out.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    let one = |v: String| vec![(String::new(), v)];
    metric(
        "agent_last_run_timestamp_seconds",
        "When the last agent run ended, in seconds since the Unix epoch.",
        &one(ended.to_string()),
    );
    metric(
        "agent_last_run_success",
        "1 if the last agent run succeeded (no task failed), else 0.",
        &one(u8::from(r.success()).to_string()),
    );
    metric(
        "agent_drift",
        "1 if the last agent run found drift (check mode: a task would change), else 0.",
        &one(u8::from(r.result == crate::report::RunResult::Drift).to_string()),
    );
    let c = r.counts;
    metric(
        "agent_tasks",
        "Tasks of the last agent run by state (ignored and rescued failures not counted as failed).",
        &[
            ("{state=\"ok\"}".into(), c.ok.to_string()),
            ("{state=\"changed\"}".into(), c.changed.to_string()),
            ("{state=\"failed\"}".into(), c.failed.to_string()),
            ("{state=\"skipped\"}".into(), c.skipped.to_string()),
        ],
    );
    metric(
        "agent_run_duration_seconds",
        "How long the last agent run took, in seconds.",
        &one(format!("{:.3}", r.duration_ms as f64 / 1000.0)),
    );
    metric(
        "agent_bundle_info",
        "The bundle the last agent run used (sha256 empty when the playbook was not from a bundle).",
        &[(format!("{{sha256=\"{}\"}}", label(sha)), "1".into())],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Bundle, Counts, RunResult};

    #[test]
    fn metrics() {
        let r = RunReport {
            ended: "2026-11-29T22:13:19Z".into(),
            duration_ms: 1234,
            result: RunResult::Drift,
            counts: Counts {
                ok: 3,
                changed: 2,
                ..Default::default()
            },
            bundle: Some(Bundle {
                sha256: "ab\"c".into(),
                uri: String::new(),
                signed_by: None,
            }),
            ..Default::default()
        };
        let t = render(&r);
        assert!(
            t.contains("\nagent_last_run_timestamp_seconds 1795990399\n"),
            "{t}"
        );
        assert!(t.contains("\nagent_last_run_success 1\n"), "{t}");
        assert!(t.contains("\nagent_drift 1\n"), "{t}");
        assert!(t.contains("\nagent_tasks{state=\"changed\"} 2\n"), "{t}");
        assert!(t.contains("\nagent_run_duration_seconds 1.234\n"), "{t}");
        assert!(
            t.contains("agent_bundle_info{sha256=\"ab\\\"c\"} 1\n"),
            "{t}"
        );
        assert_eq!(t.matches("# TYPE ").count(), 6);
    }
}
