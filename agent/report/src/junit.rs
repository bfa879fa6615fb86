//! `--output junit`: the run as JUnit XML for CI systems. One `<testsuite>` per play, one
//! `<testcase>` per task (classname: the role, else the play). Drift (a task that would
//! change in check mode) and failures are `<failure>`s carrying the diff or the message;
//! skipped tasks are `<skipped/>`. Ignored and rescued failures pass, as in Ansible's
//! junit callback (its `JUNIT_FAIL_ON_IGNORE` default).

use crate::report::{RunReport, TaskEntry, TaskStatus};

/// XML text: masked, escaped, and without the characters XML 1.0 cannot carry.
fn esc(s: &str) -> String {
    let masked = crate::mask::mask(s);
    let mut out = String::with_capacity(masked.len());
    for c in masked.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// The first line of a message (for the `message` attribute).
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

struct Case<'a> {
    t: &'a TaskEntry,
    failure: Option<(&'static str, String, String)>,
    skipped: Option<String>,
}

fn case<'a>(t: &'a TaskEntry, check: bool) -> Case<'a> {
    let msg = t.msg.clone().unwrap_or_default();
    let mut c = Case {
        t,
        failure: None,
        skipped: None,
    };
    match t.status {
        TaskStatus::Failed if !t.ignored && !t.rescued => {
            let m = if msg.is_empty() {
                "failed".to_string()
            } else {
                msg
            };
            c.failure = Some(("failed", first_line(&m).to_string(), m));
        }
        TaskStatus::Changed if check => {
            let diff: String = t
                .changes
                .iter()
                .map(|d| {
                    let v = minijinja::Value::from(minijinja::value::Serde(d));
                    crate::diff::unified_diff(&v)
                })
                .collect();
            let body = if diff.is_empty() {
                "(no diff available)\n".to_string()
            } else {
                diff
            };
            c.failure = Some(("drift", "would change".to_string(), body));
        }
        TaskStatus::Skipped => c.skipped = Some(msg),
        _ => {}
    }
    c
}

/// The JUnit XML document of a run.
pub fn render(r: &RunReport) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    // Consecutive tasks of the same play form one suite.
    let mut suites: Vec<(&str, Vec<Case<'_>>)> = Vec::new();
    for t in &r.tasks {
        let c = case(t, r.check_mode);
        match suites.last_mut() {
            Some((play, cases)) if *play == t.play => cases.push(c),
            _ => suites.push((&t.play, vec![c])),
        }
    }
    let error_case = r.error.as_ref().map(|e| {
        (
            "run",
            e.clone(),
            r.playbook.clone().unwrap_or_else(|| "agent".into()),
        )
    });
    let count = |cases: &[Case<'_>]| {
        (
            cases.len(),
            cases.iter().filter(|c| c.failure.is_some()).count(),
            cases.iter().filter(|c| c.skipped.is_some()).count(),
        )
    };
    let (mut tests, mut failures, mut skipped) = (0, 0, 0);
    for (_, cases) in &suites {
        let (t, f, s) = count(cases);
        tests += t;
        failures += f;
        skipped += s;
    }
    if error_case.is_some() {
        tests += 1;
    }
    out.push_str(&format!(
        "<testsuites name=\"agent {}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{}\" skipped=\"{skipped}\" time=\"{}\">\n",
        esc(&r.command),
        usize::from(error_case.is_some()),
        secs(r.duration_ms)
    ));
    for (play, cases) in &suites {
        let (t, f, s) = count(cases);
        let time: u64 = cases.iter().map(|c| c.t.duration_ms).sum();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" hostname=\"{}\" timestamp=\"{}\" tests=\"{t}\" failures=\"{f}\" errors=\"0\" skipped=\"{s}\" time=\"{}\">\n",
            esc(play),
            esc(&r.host),
            esc(&r.started),
            secs(time)
        ));
        for c in cases {
            let classname = c.t.role.as_deref().unwrap_or(*play);
            let head = format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
                esc(classname),
                esc(&c.t.task),
                secs(c.t.duration_ms)
            );
            if let Some((kind, message, body)) = &c.failure {
                out.push_str(&format!(
                    "{head}>\n      <failure type=\"{kind}\" message=\"{}\">{}</failure>\n    </testcase>\n",
                    esc(message),
                    esc(body)
                ));
            } else if let Some(reason) = &c.skipped {
                if reason.is_empty() {
                    out.push_str(&format!("{head}>\n      <skipped/>\n    </testcase>\n"));
                } else {
                    out.push_str(&format!(
                        "{head}>\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                        esc(reason)
                    ));
                }
            } else {
                out.push_str(&format!("{head}/>\n"));
            }
        }
        out.push_str("  </testsuite>\n");
    }
    if let Some((name, err, suite)) = error_case {
        out.push_str(&format!(
            "  <testsuite name=\"{}\" hostname=\"{}\" timestamp=\"{}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" time=\"{}\">\n    <testcase classname=\"{}\" name=\"{name}\" time=\"{}\">\n      <error type=\"error\" message=\"{}\">{}</error>\n    </testcase>\n  </testsuite>\n",
            esc(&suite),
            esc(&r.host),
            esc(&r.started),
            secs(r.duration_ms),
            esc(&suite),
            secs(r.duration_ms),
            esc(first_line(&err)),
            esc(&err)
        ));
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::TaskEntry;

    #[test]
    fn escapes_and_strips() {
        assert_eq!(esc("a<b>&\"'\u{1}\n"), "a&lt;b&gt;&amp;&quot;&apos;\n");
    }

    #[test]
    fn drift_failure_and_skip() {
        let t = |task: &str, status, msg: Option<&str>| TaskEntry {
            play: "p".into(),
            task: task.into(),
            module: "ansible.builtin.copy".into(),
            status,
            msg: msg.map(str::to_string),
            changes: if status == TaskStatus::Changed {
                vec![
                    serde_json::json!({"before": "a\n", "after": "b\n", "before_header": "f", "after_header": "f"}),
                ]
            } else {
                vec![]
            },
            ..Default::default()
        };
        let mut r = RunReport {
            command: "check".into(),
            check_mode: true,
            host: "h".into(),
            tasks: vec![
                t("a", TaskStatus::Ok, None),
                t("b", TaskStatus::Changed, None),
                t("c", TaskStatus::Failed, Some("boom\nmore")),
                t("d", TaskStatus::Skipped, None),
            ],
            ..Default::default()
        };
        r.tasks[1].role = Some("web".into());
        let x = render(&r);
        assert!(
            x.contains("tests=\"4\" failures=\"2\" errors=\"0\" skipped=\"1\""),
            "{x}"
        );
        assert!(x.contains("<testcase classname=\"web\" name=\"b\""), "{x}");
        assert!(
            x.contains(
                "<failure type=\"drift\" message=\"would change\">--- before: f\n+++ after: f\n"
            ),
            "{x}"
        );
        assert!(
            x.contains("<failure type=\"failed\" message=\"boom\">boom\nmore</failure>"),
            "{x}"
        );
        assert!(
            x.contains("<testcase classname=\"p\" name=\"d\" time=\"0.000\">\n      <skipped/>"),
            "{x}"
        );
        r.check_mode = false;
        r.error = Some("bad".into());
        let x = render(&r);
        assert!(x.contains("failures=\"1\" errors=\"1\""), "{x}");
        assert!(
            x.contains("<error type=\"error\" message=\"bad\">bad</error>"),
            "{x}"
        );
    }
}
