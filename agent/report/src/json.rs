//! The `Json` reporter: the shape of the `ansible.posix.json` stdout callback, printed
//! once at [`Reporter::finish`].

use crate::pyjson::{self, JsonStyle};
use crate::time::civil_from_days;
use crate::{Event, Reporter, Stats, Status};
use indexmap::IndexMap;
use minijinja::value::{Value, ValueKind};
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

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

struct TaskRec {
    name: String,
    id: String,
    path: String,
    action: String,
    start: String,
    end: Option<String>,
    hosts: Obj,
}

struct PlayRec {
    name: String,
    id: String,
    path: String,
    start: String,
    end: Option<String>,
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
    /// The drift report section (`report`), when the caller adds one.
    report: Option<Value>,
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
    pub fn set_report(&mut self, report: &serde_json::Value) {
        self.report = Some(Value::from(minijinja::value::Serde(report)));
    }

    /// The document as it would be printed (without the trailing newline).
    pub fn document(&self) -> String {
        let plays: Vec<Value> = self
            .plays
            .iter()
            .map(|p| {
                let tasks: Vec<Value> = p
                    .tasks
                    .iter()
                    .map(|t| {
                        let mut dur = obj(vec![("start", Value::from(t.start.as_str()))]);
                        if let Some(e) = &t.end {
                            dur.insert(Value::from("end"), Value::from(e.as_str()));
                        }
                        let task = obj(vec![
                            ("name", Value::from(t.name.as_str())),
                            ("id", Value::from(t.id.as_str())),
                            ("path", Value::from(t.path.as_str())),
                            ("duration", to_value(&dur)),
                        ]);
                        to_value(&obj(vec![
                            ("task", to_value(&task)),
                            ("hosts", to_value(&t.hosts)),
                        ]))
                    })
                    .collect();
                let mut dur = obj(vec![("start", Value::from(p.start.as_str()))]);
                if let Some(e) = &p.end {
                    dur.insert(Value::from("end"), Value::from(e.as_str()));
                }
                let play = obj(vec![
                    ("name", Value::from(p.name.as_str())),
                    ("id", Value::from(p.id.as_str())),
                    ("path", Value::from(p.path.as_str())),
                    ("duration", to_value(&dur)),
                ]);
                to_value(&obj(vec![
                    ("play", to_value(&play)),
                    ("tasks", Value::from(tasks)),
                ]))
            })
            .collect();
        let mut hosts: Vec<&(String, Stats)> = self.stats.iter().collect();
        hosts.sort_by(|a, b| a.0.cmp(&b.0));
        let stats: Obj = hosts
            .into_iter()
            .map(|(h, s)| (Value::from(h.as_str()), stats_value(s)))
            .collect();
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
        let mut doc = obj(vec![
            ("plays", Value::from(plays)),
            ("stats", to_value(&stats)),
            ("custom_stats", to_value(&custom)),
            ("global_custom_stats", to_value(&global)),
        ]);
        if let Some(r) = &self.report {
            doc.insert(Value::from("report"), r.clone());
        }
        pyjson::dumps(
            &to_value(&doc),
            JsonStyle {
                indent: self.indent,
                sort_keys: true,
                ensure_ascii: true,
            },
        )
    }

    fn record(&mut self, host: &str, status: Status, result: &Value) {
        let now = now_iso();
        let Some(play) = self.plays.last_mut() else {
            return;
        };
        play.end = Some(now.clone());
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
        task.hosts.insert(Value::from(host), to_value(&r));
        task.end = Some(now);
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
                start: now_iso(),
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
                        start: now_iso(),
                        end: None,
                        hosts: Obj::new(),
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
        let mut doc = self.document();
        doc.push('\n');
        out.write_all(doc.as_bytes())
    }
}

/// `'%sZ' % datetime.utcnow().isoformat()`.
fn now_iso() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
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

    fn next(&mut self) -> String {
        self.n += 1;
        format!("{}-0000-{:012}", self.prefix, self.n)
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
        let a = g.next();
        let b = g.next();
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

    #[test]
    fn empty_document() {
        let j = Json::new(false);
        assert_eq!(
            j.document(),
            "{\n    \"custom_stats\": {},\n    \"global_custom_stats\": {},\n    \"plays\": [],\n    \"stats\": {}\n}"
        );
    }
}
