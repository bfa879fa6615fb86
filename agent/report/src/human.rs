//! The `Human` reporter: ansible-core's `default` stdout callback, byte for byte.

use crate::color::{self, Color};
use crate::diff;
use crate::pyjson::{self, JsonStyle};
use crate::width::text_width;
use crate::{Event, ReportOptions, Reporter, Stats, Status};
use indexmap::IndexMap;
use minijinja::value::{Value, ValueKind};
use std::collections::HashSet;
use std::io::{self, Write};

const DEBUG_ACTIONS: [&str; 3] = ["debug", "ansible.builtin.debug", "ansible.legacy.debug"];
const DEBUG_ALLOWED_KEYS: [&str; 4] = ["msg", "exception", "warnings", "deprecations"];
const HIDE_IN_DEBUG: [&str; 8] = [
    "changed",
    "failed",
    "skipped",
    "invocation",
    "skip_reason",
    "ansible_loop_var",
    "ansible_index_var",
    "ansible_loop",
];
const DEPRECATION_HINT: &str =
    "Deprecation warnings can be disabled by setting `deprecation_warnings=False` in ansible.cfg.";

/// A result dict we can trim like the callback does (`_clean_results` pops keys).
type ResultMap = IndexMap<String, Value>;

fn to_map(v: &Value) -> ResultMap {
    let mut m = ResultMap::new();
    if v.kind() != ValueKind::Map {
        return m;
    }
    if let Ok(keys) = v.try_iter() {
        for k in keys {
            let val = v.get_item(&k).unwrap_or_default();
            let key = match k.as_str() {
                Some(s) => s.to_string(),
                None => k.to_string(),
            };
            m.insert(key, val);
        }
    }
    m
}

fn from_map(m: &ResultMap) -> Value {
    let map: IndexMap<Value, Value> = m
        .iter()
        .map(|(k, v)| (Value::from(k.as_str()), v.clone()))
        .collect();
    Value::from_object(map)
}

/// Recursively drop `_ansible_*` keys (Ansible's `strip_internal_keys`).
fn strip_internal(v: &Value) -> Value {
    match v.kind() {
        ValueKind::Map => {
            let mut out: IndexMap<Value, Value> = IndexMap::new();
            if let Ok(keys) = v.try_iter() {
                for k in keys {
                    if k.as_str().is_some_and(|s| s.starts_with("_ansible_")) {
                        continue;
                    }
                    let val = v.get_item(&k).unwrap_or_default();
                    out.insert(k, strip_internal(&val));
                }
            }
            Value::from_object(out)
        }
        ValueKind::Seq => v
            .try_iter()
            .map(|it| it.map(|x| strip_internal(&x)).collect::<Vec<_>>())
            .map(Value::from)
            .unwrap_or_else(|_| v.clone()),
        _ => v.clone(),
    }
}

fn is_exactly_true(v: Option<&Value>) -> bool {
    v.is_some_and(|v| v.kind() == ValueKind::Bool && v.is_true())
}

fn truthy(v: Option<&Value>) -> bool {
    v.is_some_and(|v| v.is_true())
}

/// Ansible's `_dump_results` for a result dict at verbosity 0: internal keys,
/// `invocation`, `diff`, `exception`, `warnings` and `deprecations` removed, keys
/// sorted, one line unless the result asks for `_ansible_verbose_always` (indent 4).
pub fn dump_result(result: &Value) -> String {
    dump_result_with(result, 0, None)
}

/// [`dump_result`] at a verbosity (`> 2` indents, `>= 3` keeps `invocation`/`diff`),
/// with an explicit indent overriding the automatic one.
pub fn dump_result_with(result: &Value, verbosity: u8, indent: Option<usize>) -> String {
    dump_map(&to_map(result), verbosity, indent)
}

fn dump_map(result: &ResultMap, verbosity: u8, indent: Option<usize>) -> String {
    let indent = match indent {
        Some(n) if n > 0 => Some(n),
        _ if truthy(result.get("_ansible_verbose_always")) || verbosity > 2 => Some(4),
        _ => None,
    };
    let mut m = result.clone();
    if verbosity < 3 {
        m.shift_remove("invocation");
        m.shift_remove("diff");
    }
    for k in ["exception", "warnings", "deprecations"] {
        m.shift_remove(k);
    }
    let cleaned = strip_internal(&from_map(&m));
    pyjson::dumps(
        &cleaned,
        JsonStyle {
            indent,
            sort_keys: true,
            ensure_ascii: false,
        },
    )
}

#[derive(Debug, Clone)]
struct TaskInfo {
    name: String,
    path: String,
    is_handler: bool,
    action: String,
    is_loop: bool,
    seq: u64,
}

/// Ansible's default callback. Normal output goes to the `out` writer given with each
/// event; warnings and deprecations go to a separate stream (stderr by default), as
/// ansible-playbook writes them to stderr.
pub struct Human {
    opts: ReportOptions,
    err: Box<dyn Write + Send>,
    task: Option<TaskInfo>,
    seq: u64,
    banner_for: Option<u64>,
    warnings: HashSet<String>,
    deprecations: HashSet<String>,
    errors: HashSet<String>,
    custom_stats: Option<Value>,
}

impl Human {
    /// A reporter writing warnings to the process's stderr, masked (a warning may quote
    /// a secret).
    pub fn new(opts: ReportOptions) -> Self {
        Self::with_stderr(opts, Box::new(crate::mask::Masking::new(io::stderr())))
    }

    /// A reporter writing warnings/deprecations to `err`.
    pub fn with_stderr(opts: ReportOptions, err: Box<dyn Write + Send>) -> Self {
        Human {
            opts,
            err,
            task: None,
            seq: 0,
            banner_for: None,
            warnings: HashSet::new(),
            deprecations: HashSet::new(),
            errors: HashSet::new(),
            custom_stats: None,
        }
    }

    /// `Display.display`: one message, coloured line by line, newline-terminated.
    fn display(&self, out: &mut dyn Write, msg: &str, color: Option<Color>) -> io::Result<()> {
        let msg = msg.replace("\r\n", "\n");
        let body = msg.strip_suffix('\n').unwrap_or(&msg);
        let body = match color {
            Some(c) if self.opts.color => color::stringc(body, c),
            _ => body.to_string(),
        };
        out.write_all(body.as_bytes())?;
        out.write_all(b"\n")
    }

    fn banner(&self, out: &mut dyn Write, msg: &str) -> io::Result<()> {
        let msg = msg.trim();
        let stars = (self.opts.columns as i64 - text_width(msg) as i64).max(3) as usize;
        self.display(out, &format!("\n{msg} {}", "*".repeat(stars)), None)
    }

    fn warn(&mut self, msg: &str) -> io::Result<()> {
        let line = format!("[WARNING]: {msg}");
        if !self.warnings.insert(line.clone()) {
            return Ok(());
        }
        let mut err = std::mem::replace(&mut self.err, Box::new(io::sink()));
        let r = self.display(&mut err, &line, Some(Color::Warn));
        self.err = err;
        r
    }

    fn deprecate(&mut self, msg: &str) -> io::Result<()> {
        if !self.opts.deprecation_warnings {
            return Ok(());
        }
        self.warn(DEPRECATION_HINT)?;
        let line = format!("[DEPRECATION WARNING]: {msg}");
        if !self.deprecations.insert(line.clone()) {
            return Ok(());
        }
        let mut err = std::mem::replace(&mut self.err, Box::new(io::sink()));
        let r = self.display(&mut err, &line, Some(Color::Deprecate));
        self.err = err;
        r
    }

    fn print_task_banner(&mut self, out: &mut dyn Write) -> io::Result<()> {
        let Some(task) = self.task.clone() else {
            return Ok(());
        };
        let prefix = if task.is_handler {
            "RUNNING HANDLER"
        } else {
            "TASK"
        };
        let check = if self.opts.check && self.opts.check_mode_markers {
            " [CHECK MODE]"
        } else {
            ""
        };
        self.banner(out, &format!("{prefix} [{}]{check}", task.name))?;
        if self.opts.verbosity >= 2 && !task.path.is_empty() {
            self.display(
                out,
                &format!("task path: {}", task.path),
                Some(Color::Debug),
            )?;
        }
        self.banner_for = Some(task.seq);
        Ok(())
    }

    fn ensure_banner(&mut self, out: &mut dyn Write) -> io::Result<()> {
        let seq = self.task.as_ref().map(|t| t.seq);
        if seq.is_some() && self.banner_for != seq {
            self.print_task_banner(out)?;
        }
        Ok(())
    }

    fn is_debug(&self) -> bool {
        self.task
            .as_ref()
            .is_some_and(|t| DEBUG_ACTIONS.contains(&t.action.as_str()))
    }

    fn is_loop(&self) -> bool {
        self.task.as_ref().is_some_and(|t| t.is_loop)
    }

    /// `_clean_results`: debug output shows only what it was asked to.
    fn clean(&self, r: &mut ResultMap) {
        if !self.is_debug() {
            return;
        }
        if r.contains_key("msg") {
            r.retain(|k, _| DEBUG_ALLOWED_KEYS.contains(&k.as_str()) || k.starts_with("_ansible_"));
        } else {
            for k in HIDE_IN_DEBUG {
                r.shift_remove(k);
            }
        }
    }

    /// `_handle_warnings_and_exception`.
    fn warnings_and_exception(
        &mut self,
        out: &mut dyn Write,
        r: &mut ResultMap,
        error: Option<&str>,
    ) -> io::Result<()> {
        if let Some(w) = r.shift_remove("warnings")
            && w.is_true()
        {
            for m in message_list(&w) {
                self.warn(&m)?;
            }
        }
        if let Some(d) = r.shift_remove("deprecations")
            && d.is_true()
        {
            for m in deprecation_list(&d) {
                self.deprecate(&m)?;
            }
        }
        if let Some(e) = r.shift_remove("exception")
            && e.is_true()
            && let Some(msg) = error
        {
            let line = format!("[ERROR]: {msg}");
            if self.errors.insert(line.clone()) {
                self.display(out, &line, Some(Color::Error))?;
            }
        }
        Ok(())
    }

    fn run_is_verbose(&self, r: &ResultMap) -> bool {
        (self.opts.verbosity > 0 || is_exactly_true(r.get("_ansible_verbose_always")))
            && r.get("_ansible_verbose_override")
                .is_none_or(|v| v.kind() == ValueKind::Bool && !v.is_true())
    }

    fn dump(&self, r: &ResultMap) -> String {
        dump_map(r, self.opts.verbosity, None)
    }

    fn show_diff(&mut self, out: &mut dyn Write, r: &ResultMap) -> io::Result<()> {
        // Modules return `diff` only when the task runs in diff mode (the run's --diff or
        // the task's `diff:` keyword), so its presence decides.
        let Some(d) = r.get("diff") else {
            return Ok(());
        };
        if !d.is_true() || !truthy(r.get("changed")) {
            return Ok(());
        }
        let text = diff::render_diff(d, self.opts.color, diff::DIFF_CONTEXT);
        if !text.is_empty() {
            self.ensure_banner(out)?;
            self.display(out, &text, None)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn task_result(
        &mut self,
        out: &mut dyn Write,
        host: &str,
        status: Status,
        result: &Value,
        ignore_errors: bool,
        delegate_to: Option<&str>,
        error: Option<&str>,
    ) -> io::Result<()> {
        let mut r = to_map(result);
        let label = host_label(host, delegate_to, &r);
        let looped = self.is_loop() && r.contains_key("results");
        match status {
            Status::Failed => {
                self.ensure_banner(out)?;
                self.warnings_and_exception(out, &mut r, error)?;
                self.clean(&mut r);
                if !looped {
                    let msg = format!("fatal: [{label}]: FAILED! => {}", self.dump(&r));
                    self.display(out, &msg, Some(Color::Error))?;
                }
                if ignore_errors {
                    self.display(out, "...ignoring", Some(Color::Skip))?;
                }
            }
            Status::Unreachable => {
                self.ensure_banner(out)?;
                self.warnings_and_exception(out, &mut r, error)?;
                let msg = format!("fatal: [{label}]: UNREACHABLE! => {}", self.dump(&r));
                self.display(out, &msg, Some(Color::Unreachable))?;
                if ignore_errors {
                    self.display(out, "...ignoring", Some(Color::Skip))?;
                }
            }
            Status::Skipped => {
                if !self.opts.display_skipped_hosts {
                    return Ok(());
                }
                self.clean(&mut r);
                self.ensure_banner(out)?;
                self.warnings_and_exception(out, &mut r, error)?;
                if looped {
                    r.shift_remove("results");
                }
                let mut msg = format!("skipping: [{host}]");
                if self.run_is_verbose(&r) {
                    msg.push_str(&format!(" => {}", self.dump(&r)));
                }
                self.display(out, &msg, Some(Color::Skip))?;
            }
            Status::Ok | Status::Changed => {
                if !looped {
                    self.show_diff(out, &r)?;
                }
                let (word, color) = if truthy(r.get("changed")) {
                    ("changed", Color::Changed)
                } else {
                    if !self.opts.display_ok_hosts {
                        return Ok(());
                    }
                    ("ok", Color::Ok)
                };
                self.ensure_banner(out)?;
                self.warnings_and_exception(out, &mut r, error)?;
                if looped {
                    return Ok(());
                }
                self.clean(&mut r);
                let mut msg = format!("{word}: [{label}]");
                if self.run_is_verbose(&r) {
                    msg.push_str(&format!(" => {}", self.dump(&r)));
                }
                self.display(out, &msg, Some(color))?;
            }
        }
        Ok(())
    }

    fn item_result(
        &mut self,
        out: &mut dyn Write,
        host: &str,
        status: Status,
        result: &Value,
        delegate_to: Option<&str>,
        error: Option<&str>,
    ) -> io::Result<()> {
        let mut r = to_map(result);
        let label = host_label(host, delegate_to, &r);
        let item = item_label(&r);
        match status {
            Status::Failed | Status::Unreachable => {
                self.ensure_banner(out)?;
                self.warnings_and_exception(out, &mut r, error)?;
                self.clean(&mut r);
                let msg = format!("failed: [{label}] (item={item}) => {}", self.dump(&r));
                self.display(out, &msg, Some(Color::Error))?;
            }
            Status::Skipped => {
                if !self.opts.display_skipped_hosts {
                    return Ok(());
                }
                self.ensure_banner(out)?;
                self.warnings_and_exception(out, &mut r, error)?;
                self.clean(&mut r);
                let mut msg = format!("skipping: [{host}] => (item={item}) ");
                if self.run_is_verbose(&r) {
                    msg.push_str(&format!(" => {}", self.dump(&r)));
                }
                self.display(out, &msg, Some(Color::Skip))?;
            }
            Status::Ok | Status::Changed => {
                self.show_diff(out, &r)?;
                let (word, color) = if truthy(r.get("changed")) {
                    ("changed", Color::Changed)
                } else {
                    if !self.opts.display_ok_hosts {
                        return Ok(());
                    }
                    ("ok", Color::Ok)
                };
                self.ensure_banner(out)?;
                self.warnings_and_exception(out, &mut r, error)?;
                let mut msg = format!("{word}: [{label}] => (item={item})");
                self.clean(&mut r);
                if self.run_is_verbose(&r) {
                    msg.push_str(&format!(" => {}", self.dump(&r)));
                }
                self.display(out, &msg, Some(color))?;
            }
        }
        Ok(())
    }

    fn colorize(&self, lead: &str, num: u64, color: Option<Color>) -> String {
        let s = format!("{lead}={num:<4}");
        match color {
            Some(c) if num != 0 && self.opts.color => color::stringc(&s, c),
            _ => s,
        }
    }

    fn recap(&mut self, out: &mut dyn Write, stats: &[(String, Stats)]) -> io::Result<()> {
        self.banner(out, "PLAY RECAP")?;
        let mut hosts: Vec<&(String, Stats)> = stats.iter().collect();
        hosts.sort_by(|a, b| a.0.cmp(&b.0));
        for (h, t) in hosts {
            let host = if self.opts.color {
                let c = if t.failures != 0 || t.unreachable != 0 {
                    Color::Error
                } else if t.changed != 0 {
                    Color::Changed
                } else {
                    Color::Ok
                };
                pad(&color::stringc(h, c), 37)
            } else {
                pad(h, 26)
            };
            let line = format!(
                "{host} : {} {} {} {} {} {} {}",
                self.colorize("ok", t.ok, Some(Color::Ok)),
                self.colorize("changed", t.changed, Some(Color::Changed)),
                self.colorize("unreachable", t.unreachable, Some(Color::Unreachable)),
                self.colorize("failed", t.failures, Some(Color::Error)),
                self.colorize("skipped", t.skipped, Some(Color::Skip)),
                self.colorize("rescued", t.rescued, Some(Color::Ok)),
                self.colorize("ignored", t.ignored, Some(Color::Warn)),
            );
            self.display(out, &line, None)?;
        }
        self.display(out, "", None)?;
        if self.opts.show_custom_stats
            && let Some(custom) = self.custom_stats.clone()
        {
            let entries = pyjson::map_entries(&custom, true);
            if !entries.is_empty() {
                self.banner(out, "CUSTOM STATS: ")?;
                for (k, v) in &entries {
                    if k == "_run" {
                        continue;
                    }
                    let text = dump_result_with(v, self.opts.verbosity, Some(1)).replace('\n', "");
                    self.display(out, &format!("\t{k}: {text}"), None)?;
                }
                if let Some((_, run)) = entries.iter().find(|(k, _)| k == "_run") {
                    self.display(out, "", None)?;
                    let text =
                        dump_result_with(run, self.opts.verbosity, Some(1)).replace('\n', "");
                    self.display(out, &format!("\tRUN: {text}"), None)?;
                }
                self.display(out, "", None)?;
            }
        }
        if self.opts.check && self.opts.check_mode_markers {
            self.banner(out, "DRY RUN")?;
        }
        Ok(())
    }
}

/// Python `"%-Ns" % s`: pad to N code points.
fn pad(s: &str, n: usize) -> String {
    let len = s.chars().count();
    if len >= n {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(n - len))
    }
}

/// Messages of a `warnings`/`deprecations` result entry (strings or `{msg: ...}` dicts).
fn message_list(v: &Value) -> Vec<String> {
    let items: Vec<Value> = match v.kind() {
        ValueKind::Seq => v.try_iter().map(|i| i.collect()).unwrap_or_default(),
        _ => vec![v.clone()],
    };
    items
        .iter()
        .map(|i| match i.kind() {
            ValueKind::String => i.as_str().unwrap_or_default().to_string(),
            ValueKind::Map => match i.get_attr("msg") {
                Ok(m) if !m.is_undefined() => pyjson::py_str(&m),
                _ => pyjson::py_str(i),
            },
            _ => pyjson::py_str(i),
        })
        .collect()
}

/// A result's deprecations as Ansible prints them: the message, then when the feature
/// goes, for one a plugin made (`deprecator`: its type and name, in its collection).
fn deprecation_list(v: &Value) -> Vec<String> {
    let items: Vec<Value> = match v.kind() {
        ValueKind::Seq => v.try_iter().map(|i| i.collect()).unwrap_or_default(),
        _ => vec![v.clone()],
    };
    let field = |i: &Value, k: &str| {
        i.get_attr(k)
            .ok()
            .filter(|x| !x.is_undefined() && !x.is_none())
            .map(|x| pyjson::py_str(&x))
    };
    items
        .iter()
        .zip(message_list(v))
        .map(|(i, msg)| {
            if i.kind() != ValueKind::Map {
                return msg;
            }
            let Some(dep) = i.get_attr("deprecator").ok().filter(|d| d.kind() == ValueKind::Map)
            else {
                return msg;
            };
            let (Some(kind), Some(name), Some(coll)) = (
                field(&dep, "type"),
                field(&dep, "resolved_name"),
                field(i, "collection_name"),
            ) else {
                return msg;
            };
            let short = name.rsplit('.').next().unwrap_or(&name).to_string();
            let when = match (field(i, "version"), field(i, "date")) {
                (Some(v), _) => format!("version {v}"),
                (None, Some(d)) => format!("a release after {d}"),
                (None, None) => return msg,
            };
            format!(
                "{msg} This feature will be removed from {kind} '{short}' in collection '{coll}' {when}."
            )
        })
        .collect()
}

/// `CallbackBase.host_label`: `host`, or `host -> delegate(ansible_host)`.
fn host_label(host: &str, delegate_to: Option<&str>, r: &ResultMap) -> String {
    let mut label = host.to_string();
    if let Some(d) = delegate_to
        && !d.is_empty()
        && d != host
    {
        label.push_str(&format!(" -> {d}"));
        let ahost = r
            .get("_ansible_delegated_vars")
            .and_then(|v| v.get_attr("ansible_host").ok())
            .filter(|v| !v.is_undefined())
            .map(|v| pyjson::py_str(&v))
            .unwrap_or_else(|| d.to_string());
        if ahost != d {
            label.push_str(&format!("({ahost})"));
        }
    }
    label
}

/// `_get_item_label`.
fn item_label(r: &ResultMap) -> String {
    if truthy(r.get("_ansible_no_log")) {
        return "(censored due to no_log)".to_string();
    }
    match r.get("_ansible_item_label").or_else(|| r.get("item")) {
        Some(v) => pyjson::py_str(v),
        None => "None".to_string(),
    }
}

impl Reporter for Human {
    fn event(&mut self, ev: &Event<'_>, out: &mut dyn Write) -> io::Result<()> {
        match ev {
            Event::PlaybookStart { path, plays } => {
                if self.opts.verbosity > 1 {
                    let base = path.rsplit('/').next().unwrap_or(path);
                    self.banner(out, &format!("PLAYBOOK: {base}"))?;
                }
                if self.opts.check && self.opts.check_mode_markers {
                    self.banner(out, "DRY RUN")?;
                }
                if self.opts.verbosity > 1 {
                    // ansible-playbook's executor prints it after the callback's banners.
                    self.display(
                        out,
                        &format!("{plays} plays in {path}"),
                        Some(Color::Verbose),
                    )?;
                }
            }
            Event::PlayStart {
                name, check_mode, ..
            } => {
                let name = name.trim();
                let check = if *check_mode && self.opts.check_mode_markers {
                    " [CHECK MODE]"
                } else {
                    ""
                };
                let msg = if name.is_empty() {
                    format!("PLAY{check}")
                } else {
                    format!("PLAY [{name}]{check}")
                };
                self.banner(out, &msg)?;
            }
            Event::TaskStart {
                name,
                path,
                is_handler,
                action,
                is_loop,
                ..
            } => {
                self.seq += 1;
                self.task = Some(TaskInfo {
                    name: name.trim().to_string(),
                    path: path.to_string(),
                    is_handler: *is_handler,
                    action: action.to_string(),
                    is_loop: *is_loop,
                    seq: self.seq,
                });
                if self.opts.display_skipped_hosts && self.opts.display_ok_hosts {
                    self.print_task_banner(out)?;
                }
            }
            Event::TaskResult {
                host,
                status,
                result,
                ignore_errors,
                delegate_to,
                error,
            } => self.task_result(
                out,
                host,
                *status,
                result,
                *ignore_errors,
                *delegate_to,
                *error,
            )?,
            Event::ItemResult {
                host,
                status,
                result,
                delegate_to,
                error,
                ..
            } => self.item_result(out, host, *status, result, *delegate_to, *error)?,
            Event::Rescued { .. } | Event::LoopResult { .. } => {}
            Event::NoHostsMatched => {
                self.display(out, "skipping: no hosts matched", Some(Color::Skip))?;
            }
            Event::Display { message } => self.display(out, message, None)?,
            Event::Retry {
                host,
                task,
                retries_left,
            } => {
                let msg =
                    format!("FAILED - RETRYING: [{host}]: {task} ({retries_left} retries left).");
                self.display(out, &msg, Some(Color::Debug))?;
            }
            Event::Included { path, host, item } => {
                let mut msg = format!("included: {path} for {host}");
                if let Some(item) = item {
                    msg.push_str(&format!(" => (item={item})"));
                }
                self.display(out, &msg, Some(Color::Included))?;
            }
            Event::Warning { message } => self.warn(message)?,
            Event::Deprecation { message } => self.deprecate(message)?,
            Event::CustomStats { stats } => self.custom_stats = Some((*stats).clone()),
            Event::Recap { stats } => self.recap(out, stats)?,
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        self.err.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(j: &str) -> Value {
        let j: serde_json::Value = serde_json::from_str(j).unwrap();
        Value::from(minijinja::value::Serde(&j))
    }

    #[test]
    fn dump_strips_internal_and_noise() {
        let r = v(
            r#"{"changed": true, "_ansible_no_log": false, "invocation": {}, "diff": {},
                "warnings": ["w"], "exception": "x", "nested": [{"_ansible_x": 1, "k": 2}]}"#,
        );
        assert_eq!(
            dump_result(&r),
            r#"{"changed": true, "nested": [{"k": 2}]}"#
        );
        assert_eq!(
            dump_result_with(&r, 3, None),
            "{\n    \"changed\": true,\n    \"diff\": {},\n    \"invocation\": {},\n    \"nested\": [\n        {\n            \"k\": 2\n        }\n    ]\n}"
        );
    }

    #[test]
    fn dump_verbose_always_indents() {
        let r = v(r#"{"msg": "x", "_ansible_verbose_always": true}"#);
        assert_eq!(dump_result(&r), "{\n    \"msg\": \"x\"\n}");
    }

    #[test]
    fn labels() {
        let m = to_map(&v(r#"{"item": {"a": 1}}"#));
        assert_eq!(item_label(&m), "{'a': 1}");
        let m = to_map(&v(r#"{"item": "x", "_ansible_item_label": "lbl"}"#));
        assert_eq!(item_label(&m), "lbl");
        let m = to_map(&v(r#"{"item": "x", "_ansible_no_log": true}"#));
        assert_eq!(item_label(&m), "(censored due to no_log)");
        let m = to_map(&v(
            r#"{"_ansible_delegated_vars": {"ansible_host": "10.0.0.1"}}"#,
        ));
        assert_eq!(host_label("h", Some("db"), &m), "h -> db(10.0.0.1)");
        assert_eq!(host_label("h", Some("h"), &m), "h");
    }

    #[test]
    fn banner_widths() {
        let h = Human::with_stderr(ReportOptions::default(), Box::new(io::sink()));
        let mut out = Vec::new();
        h.banner(&mut out, "PLAY [x]").unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s.len(), 1 + 80 + 1);
        let mut out = Vec::new();
        h.banner(&mut out, &"y".repeat(100)).unwrap();
        assert!(String::from_utf8(out).unwrap().ends_with("y ***\n"));
    }
}
