//! The `Json` reporter: the shape of the `ansible.posix.json` stdout callback, printed
//! once at [`Reporter::finish`].

use crate::pyjson::{self, JsonStyle};
use crate::report::TaskEntry;
use crate::time::civil_from_days;
use crate::{Event, Reporter, Stats, Status};
use indexmap::IndexMap;
use minijinja::value::{Value, ValueKind};
use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type Obj = IndexMap<Value, Value>;

fn obj(pairs: Vec<(&str, Value)>) -> Obj {
    pairs
        .into_iter()
        .map(|(k, v)| (Value::from(k), v))
        .collect()
}

fn to_value(o: &Obj) -> Value {
    Value::from_object(o.clone())
}

/// A task as recorded. Ids and times are kept as numbers and written as text only in the
/// document (a 10,000-task run keeps every task).
struct TaskRec {
    name: String,
    id: u64,
    path: String,
    action: String,
    start: Duration,
    end: Option<Duration>,
    /// Each host's result (`json_key_lenient` of the host, and the result as one line of
    /// sorted, ASCII-escaped JSON: about 260 bytes for a file task where the value tree
    /// took 1.3 kB), in the order first recorded. Re-indented while the document is
    /// written ([`write_reindented`]).
    hosts: Vec<(String, Box<str>)>,
}

struct PlayRec {
    name: String,
    id: u64,
    path: String,
    start: Duration,
    end: Option<Duration>,
    tasks: Vec<TaskRec>,
}

/// Collects the run and prints one JSON document like `ansible.posix.json`
/// (`json_indent` 4, sorted keys, ASCII-escaped).
pub struct Json {
    plays: Vec<PlayRec>,
    stats: Vec<(String, Stats)>,
    custom: Option<Value>,
    /// `show_custom_stats` for this callback.
    show_custom_stats: bool,
    indent: Option<usize>,
    ids: IdGen,
    /// The drift report section (`report`), when the caller adds one (converted to a
    /// template value only while it is written).
    report: Option<serde_json::Value>,
}

impl Json {
    pub fn new(show_custom_stats: bool) -> Self {
        Json {
            plays: Vec::new(),
            stats: Vec::new(),
            custom: None,
            show_custom_stats,
            indent: Some(4),
            ids: IdGen::new(),
            report: None,
        }
    }

    /// `json_indent`: `0` prints a single line.
    pub fn with_indent(mut self, indent: usize) -> Self {
        self.indent = if indent == 0 { None } else { Some(indent) };
        self
    }

    /// Add the `report` section (see docs/reports.md) beside `plays` and `stats`.
    pub fn set_report(&mut self, report: serde_json::Value) {
        self.report = Some(report);
    }

    /// `custom_stats` and `global_custom_stats` (the `_run` entry) when they are shown.
    fn custom_stats(&self) -> (Obj, Obj) {
        let mut custom = Obj::new();
        let mut global = Obj::new();
        if self.show_custom_stats
            && let Some(c) = &self.custom
        {
            for (k, v) in pyjson::map_entries(c, false) {
                if k == "_run" {
                    for (gk, gv) in pyjson::map_entries(&v, false) {
                        global.insert(Value::from(gk), gv);
                    }
                } else {
                    custom.insert(Value::from(k), v);
                }
            }
        }
        (custom, global)
    }

    /// The document as it would be printed (without the trailing newline).
    pub fn document(&self) -> String {
        let mut buf = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.write_document(&mut buf);
        String::from_utf8(buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Write the document (without the trailing newline) to `w` as it is built: the
    /// frame (plays, tasks, hosts) is written here and each leaf (a host's result, a
    /// task's header, the stats, the report) is dumped on its own, so a 10,000-task run
    /// never holds the whole document, nor a value tree of it, in memory. Byte for byte
    /// what `json.dumps(doc, indent=N, sort_keys=True)` prints.
    pub fn write_document(&self, w: &mut dyn Write) -> io::Result<()> {
        self.write_document_with(w, &[])
    }

    /// [`Json::write_document`], where the report section's `tasks` (empty in the value
    /// given to [`Json::set_report`]) are `report_tasks`, each converted and masked only
    /// while it is written.
    pub fn write_document_with(
        &self,
        w: &mut dyn Write,
        report_tasks: &[TaskEntry],
    ) -> io::Result<()> {
        let f = Frame {
            indent: self.indent,
            style: JsonStyle {
                indent: self.indent,
                sort_keys: true,
                ensure_ascii: true,
            },
        };
        let (custom, global) = self.custom_stats();
        w.write_all(b"{")?;
        f.key(w, 1, true, "custom_stats")?;
        f.leaf(w, 1, &to_value(&custom))?;
        f.key(w, 1, false, "global_custom_stats")?;
        f.leaf(w, 1, &to_value(&global))?;
        f.key(w, 1, false, "plays")?;
        if self.plays.is_empty() {
            w.write_all(b"[]")?;
        } else {
            w.write_all(b"[")?;
            for (i, p) in self.plays.iter().enumerate() {
                f.item(w, 2, i == 0)?;
                w.write_all(b"{")?;
                f.key(w, 3, true, "play")?;
                f.leaf(w, 3, &self.header(&p.name, p.id, &p.path, p.start, p.end))?;
                f.key(w, 3, false, "tasks")?;
                if p.tasks.is_empty() {
                    w.write_all(b"[]")?;
                } else {
                    w.write_all(b"[")?;
                    for (j, t) in p.tasks.iter().enumerate() {
                        f.item(w, 4, j == 0)?;
                        w.write_all(b"{")?;
                        f.key(w, 5, true, "hosts")?;
                        if t.hosts.is_empty() {
                            w.write_all(b"{}")?;
                        } else {
                            let mut hosts: Vec<&(String, Box<str>)> = t.hosts.iter().collect();
                            hosts.sort_by(|a, b| a.0.cmp(&b.0));
                            w.write_all(b"{")?;
                            for (k, (host, result)) in hosts.into_iter().enumerate() {
                                f.key(w, 6, k == 0, host)?;
                                write_reindented(w, result, self.indent, 6)?;
                            }
                            f.close(w, 5, b"}")?;
                        }
                        f.key(w, 5, false, "task")?;
                        f.leaf(w, 5, &self.header(&t.name, t.id, &t.path, t.start, t.end))?;
                        f.close(w, 4, b"}")?;
                    }
                    f.close(w, 3, b"]")?;
                }
                f.close(w, 2, b"}")?;
            }
            f.close(w, 1, b"]")?;
        }
        if let Some(r) = &self.report {
            f.key(w, 1, false, "report")?;
            match r.as_object() {
                Some(m) if !report_tasks.is_empty() => {
                    let mut keys: Vec<&String> = m.keys().collect();
                    keys.sort();
                    w.write_all(b"{")?;
                    for (i, k) in keys.into_iter().enumerate() {
                        f.key(w, 2, i == 0, k)?;
                        if k != "tasks" {
                            f.leaf(w, 2, &Value::from(minijinja::value::Serde(&m[k])))?;
                            continue;
                        }
                        w.write_all(b"[")?;
                        for (j, t) in report_tasks.iter().enumerate() {
                            let mut v = serde_json::to_value(t).unwrap_or_default();
                            crate::report::mask_json(&mut v);
                            f.item(w, 3, j == 0)?;
                            f.leaf(w, 3, &Value::from(minijinja::value::Serde(&v)))?;
                        }
                        f.close(w, 2, b"]")?;
                    }
                    f.close(w, 1, b"}")?;
                }
                _ => f.leaf(w, 1, &Value::from(minijinja::value::Serde(r)))?,
            }
        }
        let mut hosts: Vec<&(String, Stats)> = self.stats.iter().collect();
        hosts.sort_by(|a, b| a.0.cmp(&b.0));
        let stats: Obj = hosts
            .into_iter()
            .map(|(h, s)| (Value::from(h.as_str()), stats_value(s)))
            .collect();
        f.key(w, 1, false, "stats")?;
        f.leaf(w, 1, &to_value(&stats))?;
        f.close(w, 0, b"}")
    }

    fn record(&mut self, host: &str, status: Status, result: &Value) {
        let now = now();
        let Some(play) = self.plays.last_mut() else {
            return;
        };
        play.end = Some(now);
        let Some(task) = play.tasks.last_mut() else {
            return;
        };
        let mut r: Obj = Obj::new();
        if result.kind() == ValueKind::Map
            && let Ok(keys) = result.try_iter()
        {
            for k in keys {
                let v = result.get_item(&k).unwrap_or_default();
                r.insert(k, v);
            }
        }
        match status {
            Status::Failed => {
                r.insert(Value::from("failed"), Value::from(true));
            }
            Status::Skipped => {
                r.insert(Value::from("skipped"), Value::from(true));
            }
            _ => {}
        }
        r.insert(Value::from("action"), Value::from(task.action.as_str()));
        let text: Box<str> = pyjson::dumps(&Value::from_object(r), ONE_LINE).into();
        let key = agent_py::json_key_lenient(&Value::from(host));
        match task.hosts.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = text,
            None => task.hosts.push((key, text)),
        }
        task.end = Some(now);
    }
}

/// How a host's result is kept: `json.dumps(result, sort_keys=True, ensure_ascii=True)`.
const ONE_LINE: JsonStyle = JsonStyle {
    indent: None,
    sort_keys: true,
    ensure_ascii: true,
};

/// Write `text`, one line of JSON as [`ONE_LINE`] dumps it, the way `json.dumps` with
/// `indent` would have written the same value `level` deep: every `, ` between members
/// and every non-empty `{`/`[` starts a new line, the closing bracket of a non-empty one
/// goes on its own line; strings (with their escapes) are copied as they are. Without an
/// indent the line is the document's own format.
fn write_reindented(
    w: &mut dyn Write,
    text: &str,
    indent: Option<usize>,
    level: usize,
) -> io::Result<()> {
    let Some(n) = indent else {
        return w.write_all(text.as_bytes());
    };
    let b = text.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len() + b.len() / 2);
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.resize(out.len() + n * depth, b' ');
    };
    let mut depth = level;
    let mut in_str = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        i += 1;
        if in_str {
            out.push(c);
            if c == b'\\' {
                if let Some(&e) = b.get(i) {
                    out.push(e);
                    i += 1;
                }
            } else if c == b'"' {
                in_str = false;
            }
            continue;
        }
        match c {
            b'"' => {
                in_str = true;
                out.push(c);
            }
            b'{' | b'[' => {
                let close = if c == b'{' { b'}' } else { b']' };
                out.push(c);
                if b.get(i) == Some(&close) {
                    out.push(close);
                    i += 1;
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            b',' if b.get(i) == Some(&b' ') => {
                out.push(c);
                i += 1;
                newline(&mut out, depth);
            }
            _ => out.push(c),
        }
    }
    w.write_all(&out)
}

impl Json {
    /// The `play` / `task` header: name, id, path and duration.
    fn header(
        &self,
        name: &str,
        id: u64,
        path: &str,
        start: Duration,
        end: Option<Duration>,
    ) -> Value {
        let mut dur = obj(vec![("start", Value::from(iso(start)))]);
        if let Some(e) = end {
            dur.insert(Value::from("end"), Value::from(iso(e)));
        }
        to_value(&obj(vec![
            ("name", Value::from(name)),
            ("id", Value::from(self.ids.id(id))),
            ("path", Value::from(path)),
            ("duration", to_value(&dur)),
        ]))
    }
}

/// The punctuation of `json.dumps` around values nested `level` deep: with an indent,
/// members on their own lines (`,` then newline); without, on one line (`, `).
struct Frame {
    indent: Option<usize>,
    style: JsonStyle,
}

impl Frame {
    fn newline(&self, w: &mut dyn Write, level: usize) -> io::Result<()> {
        if let Some(n) = self.indent {
            const SPACES: &[u8; 64] = &[b' '; 64];
            w.write_all(b"\n")?;
            let mut pad = n * level;
            while pad > 0 {
                let k = pad.min(SPACES.len());
                w.write_all(&SPACES[..k])?;
                pad -= k;
            }
        }
        Ok(())
    }

    /// Before an item of a list (or a member of an object) at `level`.
    fn item(&self, w: &mut dyn Write, level: usize, first: bool) -> io::Result<()> {
        if !first {
            w.write_all(if self.indent.is_some() { b"," } else { b", " })?;
        }
        self.newline(w, level)
    }

    /// `"key": ` of a member at `level`.
    fn key(&self, w: &mut dyn Write, level: usize, first: bool, key: &str) -> io::Result<()> {
        self.item(w, level, first)?;
        let mut k = String::new();
        agent_py::write_json_str(&mut k, key, self.style.ensure_ascii);
        w.write_all(k.as_bytes())?;
        w.write_all(b": ")
    }

    /// A value whose first line follows its key at `level`: dumped with its inner lines
    /// indented to that depth (without an indent the level has no effect).
    fn leaf(&self, w: &mut dyn Write, level: usize, v: &Value) -> io::Result<()> {
        w.write_all(pyjson::dumps_at(v, self.style, level).as_bytes())
    }

    /// The closing bracket of a non-empty list or object whose opening is at `level`.
    fn close(&self, w: &mut dyn Write, level: usize, bracket: &[u8]) -> io::Result<()> {
        self.newline(w, level)?;
        w.write_all(bracket)
    }
}

fn stats_value(s: &Stats) -> Value {
    let n = |x: u64| Value::from(x);
    to_value(&obj(vec![
        ("ok", n(s.ok)),
        ("failures", n(s.failures)),
        ("unreachable", n(s.unreachable)),
        ("changed", n(s.changed)),
        ("skipped", n(s.skipped)),
        ("rescued", n(s.rescued)),
        ("ignored", n(s.ignored)),
    ]))
}

impl Reporter for Json {
    fn event(&mut self, ev: &Event<'_>, _out: &mut dyn Write) -> io::Result<()> {
        match ev {
            Event::PlayStart { name, path, .. } => self.plays.push(PlayRec {
                name: name.to_string(),
                id: self.ids.next(),
                path: path.to_string(),
                start: now(),
                end: None,
                tasks: Vec::new(),
            }),
            Event::TaskStart {
                name, path, action, ..
            } => {
                let id = self.ids.next();
                if let Some(play) = self.plays.last_mut() {
                    play.tasks.push(TaskRec {
                        name: name.to_string(),
                        id,
                        path: path.to_string(),
                        action: action.to_string(),
                        start: now(),
                        end: None,
                        hosts: Vec::new(),
                    });
                }
            }
            Event::TaskResult {
                host,
                status,
                result,
                ..
            }
            | Event::LoopResult {
                host,
                status,
                result,
            } => self.record(host, *status, result),
            Event::CustomStats { stats } => self.custom = Some((*stats).clone()),
            Event::Recap { stats } => self.stats = stats.to_vec(),
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write) -> io::Result<()> {
        let mut w = io::BufWriter::new(out);
        self.write_document(&mut w)?;
        w.write_all(b"\n")?;
        w.flush()
    }
}

/// The time since the epoch.
fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// `'%sZ' % datetime.utcnow().isoformat()`.
#[cfg(test)]
fn now_iso() -> String {
    iso(now())
}

/// A time since the epoch as `'%sZ' % datetime.isoformat()` writes it.
fn iso(d: Duration) -> String {
    let secs = d.as_secs() as i64;
    let micros = d.subsec_micros();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, dd) = civil_from_days(days);
    let base = format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    );
    if micros == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{micros:06}Z")
    }
}

/// Ansible-looking ids (`xxxxxxxx-xxxx-xxxx-xxxx-00000000000N`): a per-run random
/// prefix and a counter, unique within the run.
struct IdGen {
    prefix: String,
    n: u64,
}

impl IdGen {
    fn new() -> Self {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut x = d.as_nanos() as u64 ^ ((std::process::id() as u64) << 32) | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let h = format!("{x:016x}");
        IdGen {
            prefix: format!("{}-{}-{}", &h[..8], &h[8..12], &h[12..16]),
            n: 0,
        }
    }

    /// The next id's number.
    fn next(&mut self) -> u64 {
        self.n += 1;
        self.n
    }

    /// The id numbered `n`.
    fn id(&self, n: u64) -> String {
        format!("{}-0000-{:012}", self.prefix, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        let now = now_iso();
        assert!(now.ends_with('Z') && now.len() >= 20, "{now}");
    }

    #[test]
    fn ids_are_unique_and_shaped() {
        let mut g = IdGen::new();
        let (a, b) = (g.next(), g.next());
        let (a, b) = (g.id(a), g.id(b));
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }

    #[test]
    fn loop_results_are_recorded() {
        let mut j = Json::new(false);
        let mut sink = Vec::new();
        let events = [
            Event::PlayStart {
                name: "p",
                hosts: "all",
                check_mode: false,
                path: "p.yml:1",
            },
            Event::TaskStart {
                name: "t",
                path: "p.yml:3",
                is_handler: false,
                action: "ansible.builtin.command",
                is_loop: true,
                role: None,
            },
        ];
        for ev in &events {
            j.event(ev, &mut sink).unwrap();
        }
        let item = obj(vec![
            ("changed", Value::from(true)),
            ("item", Value::from("a")),
        ]);
        let result = to_value(&obj(vec![
            ("changed", Value::from(true)),
            ("msg", Value::from("All items completed")),
            ("results", Value::from(vec![to_value(&item)])),
        ]));
        j.event(
            &Event::LoopResult {
                host: "h",
                status: Status::Changed,
                result: &result,
            },
            &mut sink,
        )
        .unwrap();
        let doc: serde_json::Value = serde_json::from_str(&j.document()).unwrap();
        let h = &doc["plays"][0]["tasks"][0]["hosts"]["h"];
        assert_eq!(h["changed"], serde_json::json!(true));
        assert_eq!(h["results"][0]["item"], serde_json::json!("a"));
        assert_eq!(h["action"], serde_json::json!("ansible.builtin.command"));
    }

    /// The document the way it was built before it was streamed: one value tree, one
    /// `json.dumps`. The streamed document must equal it byte for byte.
    fn tree_document(j: &Json) -> String {
        let plays: Vec<Value> = j
            .plays
            .iter()
            .map(|p| {
                let tasks: Vec<Value> = p
                    .tasks
                    .iter()
                    .map(|t| {
                        to_value(&obj(vec![
                            ("task", j.header(&t.name, t.id, &t.path, t.start, t.end)),
                            ("hosts", hosts_value(&t.hosts)),
                        ]))
                    })
                    .collect();
                to_value(&obj(vec![
                    ("play", j.header(&p.name, p.id, &p.path, p.start, p.end)),
                    ("tasks", Value::from(tasks)),
                ]))
            })
            .collect();
        let stats: Obj = j
            .stats
            .iter()
            .map(|(h, s)| (Value::from(h.as_str()), stats_value(s)))
            .collect();
        let (custom, global) = j.custom_stats();
        let mut doc = obj(vec![
            ("plays", Value::from(plays)),
            ("stats", to_value(&stats)),
            ("custom_stats", to_value(&custom)),
            ("global_custom_stats", to_value(&global)),
        ]);
        if let Some(r) = &j.report {
            doc.insert(
                Value::from("report"),
                Value::from(minijinja::value::Serde(r)),
            );
        }
        pyjson::dumps(
            &to_value(&doc),
            JsonStyle {
                indent: j.indent,
                sort_keys: true,
                ensure_ascii: true,
            },
        )
    }

    /// The recorded results as a value tree again (parsed back from their lines).
    fn hosts_value(hosts: &[(String, Box<str>)]) -> Value {
        let o: Obj = hosts
            .iter()
            .map(|(k, text)| {
                let v: serde_json::Value = serde_json::from_str(text).unwrap();
                (
                    Value::from(k.as_str()),
                    Value::from(minijinja::value::Serde(&v)),
                )
            })
            .collect();
        to_value(&o)
    }

    #[test]
    fn reindent_matches_indented_dumps() {
        let j: serde_json::Value = serde_json::from_str(
            r#"{"a": [], "b": {}, "c": [1, {"d": "x, y", "e": "q\"]\\", "f": [[]]}], "g": "é"}"#,
        )
        .unwrap();
        let v = Value::from(minijinja::value::Serde(&j));
        for (indent, level) in [(4, 0), (4, 6), (2, 3)] {
            let style = JsonStyle {
                indent: Some(indent),
                ..ONE_LINE
            };
            let mut got = Vec::new();
            write_reindented(&mut got, &pyjson::dumps(&v, ONE_LINE), Some(indent), level).unwrap();
            assert_eq!(
                String::from_utf8(got).unwrap(),
                pyjson::dumps_at(&v, style, level)
            );
        }
    }

    fn sample(indent: usize, plays: usize) -> Json {
        let mut j = Json::new(true).with_indent(indent);
        let mut sink = Vec::new();
        for p in 0..plays {
            let name = format!("play {p} ünï");
            j.event(
                &Event::PlayStart {
                    name: &name,
                    hosts: "all",
                    check_mode: false,
                    path: "p.yml:1",
                },
                &mut sink,
            )
            .unwrap();
            // Play 1 has no task; task 2 of each play no host result.
            let tasks = if p == 1 { 0 } else { 3 };
            for t in 0..tasks {
                let tname = format!("task \"{t}\"\n");
                j.event(
                    &Event::TaskStart {
                        name: &tname,
                        path: "p.yml:3",
                        is_handler: false,
                        action: "ansible.builtin.copy",
                        is_loop: false,
                        role: None,
                    },
                    &mut sink,
                )
                .unwrap();
                if t == 2 {
                    continue;
                }
                for host in ["web2", "app1", "Web1", "ä"] {
                    let nested = to_value(&obj(vec![
                        ("z", Value::from(vec![Value::from(1), Value::from(2.5)])),
                        ("a", to_value(&Obj::new())),
                        ("l", Value::from(Vec::<Value>::new())),
                        ("s", Value::from("x\ny\t\u{1F600}")),
                    ]));
                    let result = to_value(&obj(vec![
                        ("changed", Value::from(t == 0)),
                        ("diff", nested),
                        ("msg", Value::from(format!("{host} {t}"))),
                    ]));
                    j.event(
                        &Event::TaskResult {
                            host,
                            status: if t == 0 {
                                Status::Changed
                            } else {
                                Status::Failed
                            },
                            result: &result,
                            ignore_errors: false,
                            delegate_to: None,
                            error: None,
                        },
                        &mut sink,
                    )
                    .unwrap();
                }
            }
        }
        let custom = to_value(&obj(vec![
            ("b", Value::from(1)),
            ("_run", to_value(&obj(vec![("g", Value::from("x"))]))),
        ]));
        j.event(&Event::CustomStats { stats: &custom }, &mut sink)
            .unwrap();
        j.stats = vec![
            ("web2".into(), Stats::default()),
            ("app1".into(), Stats::default()),
        ];
        j.set_report(serde_json::json!({"tasks": [{"b": 1, "a": [true, null]}], "env": "é"}));
        j
    }

    #[test]
    fn streamed_document_equals_the_value_tree_dump() {
        for indent in [4, 0, 2] {
            for plays in [0, 1, 3] {
                let j = sample(indent, plays);
                assert_eq!(
                    j.document(),
                    tree_document(&j),
                    "indent {indent}, {plays} plays"
                );
            }
        }
        // The report's tasks given apart: the same document as with them inside.
        let tasks = vec![
            TaskEntry {
                play: "p".into(),
                task: "t1".into(),
                ..Default::default()
            },
            TaskEntry {
                play: "p".into(),
                task: "t2 ü".into(),
                status: crate::report::TaskStatus::Changed,
                ..Default::default()
            },
        ];
        for indent in [4, 0] {
            let mut j = sample(indent, 1);
            let mut r = crate::RunReport {
                host: "h".into(),
                tasks: tasks.clone(),
                ..Default::default()
            };
            j.set_report(r.to_json());
            let whole = j.document();
            r.tasks.clear();
            j.set_report(r.to_json());
            let mut buf = Vec::new();
            j.write_document_with(&mut buf, &tasks).unwrap();
            assert_eq!(String::from_utf8(buf).unwrap(), whole, "indent {indent}");
        }
        // And the parsed form.
        let doc: serde_json::Value = serde_json::from_str(&sample(4, 3).document()).unwrap();
        assert_eq!(doc["plays"][2]["tasks"][0]["hosts"]["ä"]["msg"], "ä 0");
        assert_eq!(doc["plays"][1]["tasks"], serde_json::json!([]));
        assert_eq!(doc["plays"][0]["tasks"][2]["hosts"], serde_json::json!({}));
    }

    #[test]
    fn empty_document() {
        let j = Json::new(false);
        assert_eq!(
            j.document(),
            "{\n    \"custom_stats\": {},\n    \"global_custom_stats\": {},\n    \"plays\": [],\n    \"stats\": {}\n}"
        );
    }
}
