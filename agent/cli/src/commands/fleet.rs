//! `agent fleet s3://bucket/reports/`: every host's latest report (uploaded by runs
//! with `report.s3_uri`), as a table or JSON: which hosts drifted, on which tasks, which
//! failed, and which have not reported for longer than `--stale`.
//!
//! Exit codes: 0 every host is in line and fresh; 2 a host drifted, failed, is stale or
//! its report cannot be read; 1 the reports cannot be listed.

use std::path::Path;

use anyhow::{Result, anyhow};
use serde::Serialize;

use agent_report::report::{RunReport, RunResult};
use agent_report::time;
use agent_source::Config;

use crate::cli::{FleetArgs, FleetOutput, exit};

/// One host in the fleet view.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HostRow {
    pub env: String,
    /// The key's host component: the instance id on EC2, else the host name.
    pub id: String,
    pub hostname: String,
    pub key: String,
    /// When the report's run ended (RFC 3339), if known.
    pub ended: Option<String>,
    pub age_seconds: Option<i64>,
    /// `ok`, `drift`, `changed`, `failed`, or `unreadable`.
    pub result: String,
    pub stale: bool,
    /// Check runs: the tasks that would change.
    pub drifted_tasks: Vec<String>,
    /// Failed tasks (and the run's error, if it failed outside its tasks).
    pub failed_tasks: Vec<String>,
    pub bundle_sha256: Option<String>,
    pub from_cache: bool,
    /// Why the report cannot be read.
    pub error: Option<String>,
}

impl HostRow {
    /// Does this host need attention (exit 2)?
    pub fn problem(&self) -> bool {
        self.stale || matches!(self.result.as_str(), "drift" | "failed" | "unreadable")
    }
}

/// A row from a stored report.
pub fn row(
    env: &str,
    id: &str,
    key: &str,
    last_modified: Option<i64>,
    body: &Result<Vec<u8>, String>,
    now: i64,
    stale_after: i64,
) -> HostRow {
    let mut row = HostRow {
        env: env.to_string(),
        id: id.to_string(),
        hostname: id.to_string(),
        key: key.to_string(),
        ended: None,
        age_seconds: last_modified.map(|t| now - t),
        result: "unreadable".into(),
        stale: false,
        drifted_tasks: Vec::new(),
        failed_tasks: Vec::new(),
        bundle_sha256: None,
        from_cache: false,
        error: None,
    };
    let parsed = body.as_ref().map_err(Clone::clone).and_then(|b| {
        let doc: serde_json::Value =
            serde_json::from_slice(b).map_err(|e| format!("not JSON: {e}"))?;
        let rep = doc
            .get("report")
            .cloned()
            .ok_or_else(|| "no `report` section".to_string())?;
        serde_json::from_value::<RunReport>(rep).map_err(|e| format!("bad report: {e}"))
    });
    match parsed {
        Err(e) => row.error = Some(e),
        Ok(r) => {
            if !r.hostname.is_empty() {
                row.hostname = r.hostname.clone();
            }
            if let Some(t) = time::parse_rfc3339(&r.ended) {
                row.age_seconds = Some(now - t);
                row.ended = Some(r.ended.clone());
            }
            row.result = r.result.as_str().to_string();
            if r.result == RunResult::Drift {
                row.drifted_tasks = if r.drifted.is_empty() {
                    r.tasks
                        .iter()
                        .filter(|t| t.status == agent_report::report::TaskStatus::Changed)
                        .map(|t| t.display_name())
                        .collect()
                } else {
                    r.drifted.clone()
                };
            }
            row.failed_tasks = r
                .tasks
                .iter()
                .filter(|t| {
                    t.status == agent_report::report::TaskStatus::Failed && !t.ignored && !t.rescued
                })
                .map(|t| t.display_name())
                .collect();
            if let Some(e) = &r.error {
                row.failed_tasks
                    .push(e.lines().next().unwrap_or_default().to_string());
            }
            row.bundle_sha256 = r.bundle.as_ref().map(|b| b.sha256.clone());
            row.from_cache = r.from_cache;
        }
    }
    row.stale = row.age_seconds.is_none_or(|a| a > stale_after);
    row
}

/// The table `agent fleet` prints.
pub fn table(rows: &[HostRow], stale_after: i64) -> String {
    let mut lines: Vec<[String; 5]> = vec![[
        "ENV".into(),
        "HOST".into(),
        "LAST REPORT".into(),
        "RESULT".into(),
        "TASKS".into(),
    ]];
    for r in rows {
        let host = if r.hostname != r.id {
            format!("{} ({})", r.hostname, r.id)
        } else {
            r.hostname.clone()
        };
        let age = match r.age_seconds {
            Some(a) if a >= 0 => format!("{} ago", time::human_duration(a.unsigned_abs())),
            Some(_) => "in the future".into(),
            None => "unknown".into(),
        };
        let age = if r.stale { format!("{age} STALE") } else { age };
        let mut result = r.result.clone();
        if r.from_cache {
            result.push_str(" (cached bundle)");
        }
        let tasks = if let Some(e) = &r.error {
            e.clone()
        } else {
            let mut t: Vec<String> = r.drifted_tasks.clone();
            t.extend(r.failed_tasks.iter().map(|f| format!("FAILED: {f}")));
            if t.is_empty() {
                "-".into()
            } else {
                t.join(", ")
            }
        };
        lines.push([r.env.clone(), host, age, result, tasks]);
    }
    let mut width = [0usize; 4];
    for l in &lines {
        for (w, c) in width.iter_mut().zip(l.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for l in &lines {
        let mut line = String::new();
        for (i, c) in l.iter().enumerate() {
            if i < 4 {
                let pad = width[i] - c.chars().count();
                line.push_str(c);
                line.push_str(&" ".repeat(pad + 2));
            } else {
                line.push_str(c);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let count = |f: &dyn Fn(&HostRow) -> bool| rows.iter().filter(|r| f(r)).count();
    out.push_str(&format!(
        "\n{} hosts: {} drifted, {} failed, {} stale (no report for {}), {} unreadable\n",
        rows.len(),
        count(&|r| r.result == "drift"),
        count(&|r| r.result == "failed"),
        count(&|r| r.stale),
        time::human_duration(stale_after.unsigned_abs()),
        count(&|r| r.result == "unreadable"),
    ));
    out
}

pub fn run(args: &FleetArgs) -> Result<i32> {
    let stale = time::parse_duration(&args.stale).ok_or_else(|| {
        anyhow!(
            "--stale {}: give a duration like 90s, 30m, 2h or 1d",
            args.stale
        )
    })?;
    let stale_after = i64::try_from(stale.as_secs()).unwrap_or(i64::MAX);
    let required = args.config != Path::new(agent_source::config::DEFAULT_PATH);
    let cfg = Config::load(&args.config, required)?;
    let stored = agent_source::reports::fleet(&cfg, &args.uri)?;
    let now = time::unix_seconds(std::time::SystemTime::now());
    let mut rows: Vec<HostRow> = stored
        .iter()
        .map(|s| {
            row(
                &s.env,
                &s.id,
                &s.key,
                s.last_modified,
                &s.body,
                now,
                stale_after,
            )
        })
        .collect();
    rows.sort_by(|a, b| (&a.env, &a.hostname, &a.id).cmp(&(&b.env, &b.hostname, &b.id)));
    let text = match args.output {
        FleetOutput::Human => {
            if rows.is_empty() {
                format!("no reports under {}\n", args.uri)
            } else {
                table(&rows, stale_after)
            }
        }
        FleetOutput::Json => {
            let doc = serde_json::json!({
                "uri": args.uri,
                "stale_after_seconds": stale_after,
                "hosts": rows,
            });
            let mut t = serde_json::to_string_pretty(&doc)?;
            t.push('\n');
            t
        }
    };
    print!("{}", agent_report::mask::mask(&text));
    Ok(if rows.iter().any(HostRow::problem) {
        exit::CHANGED
    } else {
        exit::OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(result: &str, ended: &str, extra: &str) -> Result<Vec<u8>, String> {
        Ok(format!(
            r#"{{"plays": [], "report": {{"schema_version": 1, "hostname": "web-1", "ended": "{ended}", "result": "{result}"{extra}}}}}"#
        )
        .into_bytes())
    }

    #[test]
    fn rows_from_reports() {
        let now = time::parse_rfc3339("2026-11-29T12:00:00Z").unwrap();
        let r = row(
            "prod",
            "i-1",
            "k",
            None,
            &report(
                "drift",
                "2026-11-29T11:50:00Z",
                r#", "drifted": ["nginx : conf"], "check_mode": true"#,
            ),
            now,
            7200,
        );
        assert_eq!(r.age_seconds, Some(600));
        assert_eq!(r.result, "drift");
        assert_eq!(r.hostname, "web-1");
        assert_eq!(r.drifted_tasks, vec!["nginx : conf".to_string()]);
        assert!(!r.stale && r.problem());
        let r = row(
            "prod",
            "web-2",
            "k",
            None,
            &report("ok", "2026-11-29T08:00:00Z", ""),
            now,
            7200,
        );
        assert!(r.stale && r.problem());
        let ok = row(
            "prod",
            "web-3",
            "k",
            None,
            &report("changed", "2026-11-29T11:59:00Z", ""),
            now,
            7200,
        );
        assert!(!ok.problem());
        let bad = row("prod", "x", "k", Some(now), &Ok(b"{".to_vec()), now, 7200);
        assert_eq!(bad.result, "unreadable");
        assert!(
            bad.error
                .as_deref()
                .unwrap_or_default()
                .starts_with("not JSON")
        );
        assert!(!bad.stale && bad.problem());
        let t = table(&[r, ok, bad], 7200);
        assert!(t.starts_with("ENV   HOST           LAST REPORT"), "{t}");
        assert!(t.contains("4h ago STALE"), "{t}");
        assert!(
            t.contains("3 hosts: 0 drifted, 0 failed, 1 stale (no report for 2h), 1 unreadable"),
            "{t}"
        );
    }
}
