//! Where each conditional (`when`, `changed_when`, `failed_when`, `until`, assert's
//! `that`) was written, for messages that point at it (Ansible's deprecation of
//! conditionals in `{{ }}`, its warning for templates in string constants). The engine
//! sees a conditional only as its text; the same text may be written in several places,
//! so the place is chosen near the task that evaluated it (see [`find`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use agent_yaml::{Kind, Node};
use minijinja::Value;

use super::error::Loc;

static LOCS: Mutex<Option<HashMap<String, Vec<Loc>>>> = Mutex::new(None);

/// Remember where `value` (made from `node`: a string, or a list of them) was written.
pub fn record(file: &Arc<str>, node: &Node, value: &Value) {
    let mut pairs = Vec::new();
    match &node.kind {
        Kind::Seq(items) => {
            for (i, n) in items.iter().enumerate() {
                if let Ok(v) = value.get_item(&Value::from(i)) {
                    pairs.push((n, v));
                }
            }
        }
        // `when: x` is kept as a list of one
        _ if value.kind() == minijinja::value::ValueKind::Seq => {
            if let Ok(v) = value.get_item(&Value::from(0)) {
                pairs.push((node, v));
            }
        }
        _ => pairs.push((node, value.clone())),
    }
    let mut guard = LOCS.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    for (n, v) in pairs {
        if let Some(text) = v.as_str() {
            let locs = map.entry(text.to_string()).or_default();
            let loc = Loc::new(file, n.pos);
            if !locs.contains(&loc) {
                locs.push(loc);
            }
        }
    }
}

/// Where a conditional evaluated for the task at `task` was written: in the task's file,
/// the first place at or after the task's line (its own keywords), else the last one
/// before it (an enclosing block's or play's).
pub fn find(text: &str, task: &Loc) -> Option<Loc> {
    let guard = LOCS.lock().unwrap_or_else(|e| e.into_inner());
    let locs = guard.as_ref()?.get(text)?;
    let same_file = || locs.iter().filter(|l| l.file == task.file);
    same_file()
        .filter(|l| l.line >= task.line)
        .min_by_key(|l| (l.line, l.col))
        .or_else(|| same_file().max_by_key(|l| (l.line, l.col)))
        .or_else(|| locs.first())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conditional_is_found_near_the_task_that_evaluated_it() {
        let file: Arc<str> = Arc::from("/condlocs-test/play.yml");
        let src = "- block:\n    - a: 1\n      when: x\n  when: x\n";
        let doc = agent_yaml::parse_one(src, std::path::Path::new(&*file))
            .unwrap()
            .unwrap();
        let block = doc.as_seq().unwrap()[0].clone();
        let task = block.get("block").unwrap().as_seq().unwrap()[0].clone();
        for n in [task.get("when").unwrap(), block.get("when").unwrap()] {
            record(&file, n, &n.to_value());
        }
        let at = |line| Loc {
            file: file.clone(),
            line,
            col: 7,
        };
        assert_eq!(find("x", &at(2)).map(|l| l.line), Some(3));
        assert_eq!(find("x", &at(5)).map(|l| l.line), Some(4));
        assert!(find("y", &at(2)).is_none());
    }
}
