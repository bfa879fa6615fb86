//! The output of `apply`/`check` and the run's drift report (docs/reports.md): the
//! reporter for `--output` (human output as the run goes; JSON, JUnit or Prometheus at
//! the end), the report built beside it, `last_run.json` in the state directory, the
//! Prometheus textfile, and the optional upload to S3.

use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use agent_report::report::{Bundle, RunReport, SCHEMA_VERSION, Timings};
use agent_report::{Collector, Event, Human, Json, ReportOptions, Reporter};
use agent_source::Config;
use agent_source::imds::Instance;
use anyhow::Result;

use crate::cli::{Output, RunArgs};
use crate::engine::Outcome;

/// The reporter a run uses: the chosen output, plus what every run records (the JSON
/// document and the report's task list). Only human output is printed as the run goes;
/// the others are printed by [`RunInfo::complete`].
pub struct RunReporter {
    human: Option<Human>,
    json: Json,
    collector: Collector,
}

pub fn make(output: Output, opts: ReportOptions) -> RunReporter {
    RunReporter {
        json: Json::new(opts.show_custom_stats),
        human: (output == Output::Human).then(|| Human::new(opts)),
        collector: Collector::new(),
    }
}

impl Reporter for RunReporter {
    fn event(&mut self, ev: &Event<'_>, out: &mut dyn Write) -> io::Result<()> {
        if let Some(h) = &mut self.human {
            h.event(ev, out)?;
        }
        self.json.event(ev, &mut io::sink())?;
        self.collector.event(ev, &mut io::sink())
    }

    fn finish(&mut self, out: &mut dyn Write) -> io::Result<()> {
        match &mut self.human {
            Some(h) => h.finish(out),
            None => Ok(()),
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What a run knows about itself, filled in as it goes.
pub struct RunInfo {
    command: &'static str,
    check: bool,
    output: Output,
    /// Write last_run.json and upload (not for `demo`, `--syntax-check`, `--list-*`).
    write_files: bool,
    started: SystemTime,
    t0: Instant,
    apply_before: Duration,
    timings: Timings,
    engine_start: Option<Instant>,
    cfg: Option<Config>,
    host: String,
    playbook: Option<String>,
    source: Option<String>,
    bundle: Option<Bundle>,
    from_cache: bool,
    fallback_reason: Option<String>,
    instance_id: Option<String>,
}

impl RunInfo {
    pub fn new(args: &RunArgs, check: bool, command: &'static str) -> RunInfo {
        RunInfo {
            command,
            check,
            output: args.output,
            write_files: !args.no_state_files,
            started: SystemTime::now(),
            t0: Instant::now(),
            apply_before: agent_modules::apply_time(),
            timings: Timings::default(),
            engine_start: None,
            cfg: None,
            host: String::new(),
            playbook: None,
            source: None,
            bundle: None,
            from_cache: false,
            fallback_reason: None,
            instance_id: None,
        }
    }

    /// The configuration: strict when the run pulls from it (`source`); otherwise read
    /// for the report settings only, and a bad file is a warning.
    pub fn config(
        &mut self,
        args: &RunArgs,
        source: bool,
        ec2: Option<&Instance>,
    ) -> Result<Config> {
        let mut cfg = if source {
            crate::commands::pull::load_config(&args.config, args.source.as_deref())?
        } else if !self.write_files {
            Config::default()
        } else {
            let required = args.config != Path::new(agent_source::config::DEFAULT_PATH);
            match Config::load(&args.config, required) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("[WARNING]: {e}; reports use the default settings");
                    Config::default()
                }
            }
        };
        if let Some(i) = ec2 {
            cfg.environment_from_tag(&i.tags);
            self.instance_id = i.facts.get("ansible_ec2_instance_id").cloned();
        }
        if source {
            // Known before the pull, so that a refused pull's report names it too.
            self.source = cfg.source.value.clone();
        }
        self.cfg = Some(cfg.clone());
        Ok(cfg)
    }

    /// The pull is done (it took `took`).
    pub fn pulled(&mut self, p: &agent_source::Pulled, took: Duration) {
        self.timings.pull = ms(took);
        self.source = self
            .cfg
            .as_ref()
            .and_then(|c| c.source.value.clone())
            .or_else(|| Some(p.uri.clone()));
        self.bundle = p.sha256.as_ref().map(|s| Bundle {
            sha256: s.clone(),
            uri: p.uri.clone(),
            signed_by: p.signed_by.as_ref().map(|v| v.key_id.clone()),
        });
        self.from_cache = p.fallback.is_some();
        self.fallback_reason = p.fallback.clone();
    }

    /// Loaded and checked; the engine starts.
    pub fn loaded(&mut self, host: &str, playbook: &Path) {
        self.host = host.to_string();
        self.playbook = Some(playbook.display().to_string());
        let pulled = Duration::from_millis(self.timings.pull);
        self.timings.load = ms(self.t0.elapsed().saturating_sub(pulled));
        self.engine_start = Some(Instant::now());
    }

    /// Nothing runs (`--syntax-check`, `--list-tasks`): no report.
    pub fn skip(&mut self) {
        self.write_files = false;
        self.cfg = None;
    }

    fn base_report(&self) -> RunReport {
        let cfg = self.cfg.as_ref();
        RunReport {
            schema_version: SCHEMA_VERSION,
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            command: self.command.to_string(),
            check_mode: self.check,
            host: self.host.clone(),
            hostname: crate::host_identity::hostname(),
            instance_id: self.instance_id.clone(),
            environment: cfg.and_then(|c| c.environment.value.clone()),
            playbook: self.playbook.clone(),
            source: self.source.clone(),
            bundle: self.bundle.clone(),
            from_cache: self.from_cache,
            fallback_reason: self.fallback_reason.clone(),
            started: agent_report::time::rfc3339(self.started),
            ..Default::default()
        }
    }

    /// The engine has run: build the report, print it in the chosen form, write
    /// last_run.json (and the Prometheus file), upload.
    pub fn complete(
        &mut self,
        mut reporter: RunReporter,
        outcome: &Outcome,
        out: &mut dyn Write,
    ) -> Result<()> {
        let ended = Instant::now();
        let t_report = Instant::now();
        let mut r = self.base_report();
        if let Some(start) = self.engine_start {
            let engine = ended.duration_since(start);
            let facts = reporter.collector.facts_time();
            let apply = agent_modules::apply_time().saturating_sub(self.apply_before);
            self.timings.facts = ms(facts);
            self.timings.apply = ms(apply);
            self.timings.plan = ms(engine.saturating_sub(facts).saturating_sub(apply));
        }
        r.tasks = reporter.collector.take_tasks();
        r.interrupted = outcome.interrupted;
        if let Some(sig) = &outcome.interrupted_by {
            r.error = Some(format!("interrupted by {sig}: stopped between two tasks"));
        }
        r.settle(outcome.failed || outcome.interrupted);
        self.finish_report(r, Some(reporter.json), t_report, out)
    }

    /// The run failed outside its tasks (a load error, no bundle): the report says so.
    pub fn failed(&mut self, err: &anyhow::Error, out: &mut dyn Write) {
        if self.cfg.is_none() {
            return;
        }
        let t_report = Instant::now();
        let mut r = self.base_report();
        r.error = Some(format!("{err:#}"));
        r.settle(true);
        if let Err(e) = self.finish_report(r, None, t_report, out) {
            tracing::warn!("could not write the report: {e:#}");
        }
    }

    fn finish_report(
        &mut self,
        mut r: RunReport,
        json: Option<Json>,
        t_report: Instant,
        out: &mut dyn Write,
    ) -> Result<()> {
        let now = SystemTime::now();
        r.ended = agent_report::time::rfc3339(now);
        self.timings.report = ms(t_report.elapsed());
        r.timings_ms = self.timings;
        r.duration_ms = ms(self.t0.elapsed());
        let mut json = json.unwrap_or_else(|| Json::new(false));
        // The document is streamed (a 10,000-task run makes 16 MB of it) into last_run.json,
        // and again to stdout or the upload when asked. The report's task list is written
        // from `r` as it goes, not copied into a value.
        let tasks = std::mem::take(&mut r.tasks);
        json.set_report(r.to_json());
        r.tasks = tasks;
        let mut write_doc = |w: &mut dyn Write| -> io::Result<()> {
            json.write_document_with(w, &r.tasks)?;
            w.write_all(b"\n")
        };
        let cfg = self.cfg.clone().unwrap_or_default();
        let state = &cfg.cache_dir.value;
        if self.write_files {
            match agent_report::files::write_last_run_with(state, &mut write_doc) {
                Ok(p) => tracing::info!("report written to {}", p.display()),
                Err(e) => eprintln!(
                    "[WARNING]: could not write {}: {e}",
                    state.join(agent_report::files::LAST_RUN).display()
                ),
            }
        }
        match self.output {
            Output::Human => {}
            Output::Json => {
                // Written again rather than read back from last_run.json: the file is
                // another run's once this one's lock is gone, and a test or a second
                // configuration may share the state directory.
                let mut w = io::BufWriter::new(&mut *out);
                write_doc(&mut w)?;
                w.flush()?;
            }
            Output::Junit => out.write_all(agent_report::junit::render(&r).as_bytes())?,
            Output::Prometheus => {
                let text = agent_report::prometheus::render(&r);
                let dir = &cfg.report_prometheus_dir.value;
                match agent_report::files::write_textfile(
                    dir,
                    agent_report::prometheus::FILE_NAME,
                    &text,
                ) {
                    Ok(p) => tracing::info!("metrics written to {}", p.display()),
                    Err(e) => eprintln!(
                        "[WARNING]: could not write {}: {e}",
                        dir.join(agent_report::prometheus::FILE_NAME).display()
                    ),
                }
                out.write_all(text.as_bytes())?;
            }
        }
        if !self.write_files {
            return Ok(());
        }
        if let Some(uri) = &cfg.report_s3_uri.value {
            let env = r.environment.as_deref().unwrap_or("default");
            let id = r.instance_id.as_deref().unwrap_or(&r.hostname);
            // Built in memory, masked, only when an upload is configured.
            let mut body = Vec::new();
            write_doc(&mut agent_report::mask::Masking::new(&mut body))?;
            match agent_source::reports::upload(&cfg, uri, env, id, &r.ended, &body) {
                Ok(keys) => tracing::info!("report uploaded to {}", keys.join(" and ")),
                Err(e) => eprintln!("[WARNING]: could not upload the report: {e}"),
            }
        }
        Ok(())
    }
}
