//! Pure helpers of the integration-target runner: the target list, the recorded Ansible
//! results, what ansible-test generates for a role-style target, and the verdict of a run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One entry of `targets.txt`: its group (from the last `# group ...` comment), name and
/// the task list items left out of it (`drop=FILE:LINE,...`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetEntry {
    pub group: String,
    pub name: String,
    pub drops: Vec<Drop>,
    /// `script`: run its `runme.sh` (as ansible-test does) although it has `tasks/` too.
    pub script: bool,
    /// `script=N`: run only lines 1 to N of its `runme.sh` (the rest sets up what is not
    /// for this machine); implies `script`.
    pub script_lines: Option<usize>,
    /// `here`: its `needs/root` alias is not needed here (it only reads files): it runs
    /// on this machine.
    pub here: bool,
}

/// A list item (a task) left out of a target: the file (relative to the target) and the
/// 1-based line where its `- ` is. Both tools run the target without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drop {
    pub file: String,
    pub line: usize,
}

impl std::fmt::Display for Drop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Parse `drop=FILE:LINE[,FILE:LINE...]`.
fn parse_drops(word: &str) -> Option<Vec<Drop>> {
    let list = word.strip_prefix("drop=")?;
    list.split(',')
        .map(|d| {
            let (file, line) = d.rsplit_once(':')?;
            let line = line.parse().ok().filter(|n| *n > 0)?;
            (!file.is_empty() && !file.starts_with('/') && !file.contains("..")).then(|| Drop {
                file: file.to_string(),
                line,
            })
        })
        .collect()
}

/// Parse `targets.txt`: one target per line; `# group N: ...` starts a group; other
/// `#` comments and blank lines are ignored. After the name, `drop=FILE:LINE,...` names
/// task list items to leave out, `script` runs the target's `runme.sh` although it has
/// `tasks/` too (`script=N`: only its lines 1 to N), and `here` runs a `needs/root` target that only reads files on this
/// machine; anything else after the name is ignored. A malformed `drop=` or `script=` is
/// an error.
pub fn parse_targets(text: &str) -> Result<Vec<TargetEntry>, String> {
    let mut group = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim();
            if let Some(rest) = comment.strip_prefix("group") {
                let id = rest.trim().split([':', ' ']).next().unwrap_or("").trim();
                group = id.to_string();
            }
            continue;
        }
        let line = line.split(" #").next().unwrap_or(line);
        let mut words = line.split_whitespace();
        if let Some(name) = words.next() {
            let mut drops = Vec::new();
            for w in words.filter(|w| w.starts_with("drop=")) {
                drops.extend(parse_drops(w).ok_or_else(|| {
                    format!("{name}: `{w}`: expected drop=FILE:LINE[,FILE:LINE...]")
                })?);
            }
            let flag = |f: &str| line.split_whitespace().skip(1).any(|w| w == f);
            let mut script_lines = None;
            for w in line.split_whitespace().skip(1) {
                if let Some(n) = w.strip_prefix("script=") {
                    let n = n.parse().ok().filter(|n: &usize| *n > 0);
                    script_lines =
                        Some(n.ok_or_else(|| format!("{name}: `{w}`: expected script=LINES"))?);
                }
            }
            out.push(TargetEntry {
                group: group.clone(),
                name: name.to_string(),
                drops,
                script: flag("script") || script_lines.is_some(),
                script_lines,
                here: flag("here"),
            });
        }
    }
    Ok(out)
}

/// The first `n` lines of a script (the rest left out).
pub fn script_head(text: &str, n: usize) -> String {
    text.split_inclusive('\n').take(n).collect()
}

/// `text` without the YAML list item that starts on 1-based `line` (`- ` after its
/// indentation): that line and every following line that is blank or indented deeper
/// than its dash. An error when the line does not start a list item.
pub fn drop_item(text: &str, line: usize) -> Result<String, String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let start = line
        .checked_sub(1)
        .filter(|i| *i < lines.len())
        .ok_or_else(|| format!("line {line}: past the end of the file"))?;
    let first = lines[start];
    let indent = first.len() - first.trim_start_matches(' ').len();
    let rest = &first[indent..];
    if !(rest.starts_with("- ") || rest.trim_end() == "-") {
        return Err(format!(
            "line {line} does not start a list item: {:?}",
            first.trim_end()
        ));
    }
    let end = lines[start + 1..]
        .iter()
        .position(|l| {
            let t = l.trim_start_matches(' ');
            !t.trim().is_empty() && l.len() - t.len() <= indent
        })
        .map_or(lines.len(), |i| start + 1 + i);
    let mut out = String::with_capacity(text.len());
    for l in lines[..start].iter().chain(&lines[end..]) {
        out.push_str(l);
    }
    Ok(out)
}

/// What real ansible-playbook did with a target on the recording machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// `pass`, `fail` or `skip`.
    pub status: String,
    pub note: String,
}

/// Parse `ansible-results.txt`: `target<TAB>status<TAB>note` lines, `#` comments.
pub fn parse_results(text: &str) -> BTreeMap<String, Recorded> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.splitn(3, '\t');
            let name = parts.next()?.trim();
            let status = parts.next()?.trim();
            let note = parts.next().unwrap_or("").trim();
            Some((
                name.to_string(),
                Recorded {
                    status: status.to_string(),
                    note: note.to_string(),
                },
            ))
        })
        .collect()
}

/// A collection's target, named `NAMESPACE.COLLECTION/TARGET` in targets.txt
/// (`ansible.posix/mount`): the collection and the target's own name.
pub fn collection_target(name: &str) -> Option<(&str, &str)> {
    let (coll, target) = name.split_once('/')?;
    let (ns, c) = coll.split_once('.')?;
    let ok = |s: &str| !s.is_empty() && s.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
    (ok(ns) && ok(c) && ok(target)).then_some((coll, target))
}

/// Where a collection's integration targets are, under a collections path
/// (`ansible_collections/ansible/posix/tests/integration/targets`).
pub fn collection_targets_dir(collection: &str) -> PathBuf {
    let (ns, c) = collection.split_once('.').unwrap_or((collection, ""));
    [
        "ansible_collections",
        ns,
        c,
        "tests",
        "integration",
        "targets",
    ]
    .iter()
    .collect()
}

/// The aliases of a target (its `aliases` file, comments dropped).
pub fn parse_aliases(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split('#').next())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// `gather_facts` of the generated play: true, unless the target has the alias
/// `gather_facts/no` (as ansible-test decides).
pub fn gather_facts(aliases: &[String]) -> bool {
    let has = |a: &str| aliases.iter().any(|x| x.trim_end_matches('/') == a);
    if has("gather_facts/yes") {
        return true;
    }
    !has("gather_facts/no")
}

/// Why a script target that needs root is skipped.
pub const SCRIPT_NEEDS_ROOT: &str =
    "needs/root (runs here with INTEGRATION_ROOT=1; script targets are not run on test hosts yet)";

/// Why a target is not run as a role, if it is not.
pub fn skip_reason(target_dir: &Path, aliases: &[String], allow_root: bool) -> Option<String> {
    if !target_dir.is_dir() {
        return Some("no such target in ansible-core 2.21.5".to_string());
    }
    let has_tasks = target_dir.join("tasks").join("main.yml").is_file()
        || target_dir.join("tasks").join("main.yaml").is_file();
    if !has_tasks && !target_dir.join("runme.sh").is_file() {
        return Some("no tasks/main.yml".to_string());
    }
    if needs_httptester(aliases) && !allow_root {
        return Some(
            "needs/httptester (runs on a test host with AGENT_HOST_TESTS=1, against tests/integration/httptester.py)"
                .to_string(),
        );
    }
    if needs_root(aliases)
        && is_script(target_dir)
        && !std::env::var("INTEGRATION_ROOT").is_ok_and(|v| v == "1")
    {
        return Some(SCRIPT_NEEDS_ROOT.to_string());
    }
    if !allow_root && needs_root(aliases) {
        return Some(
            "needs/root (runs on a test host with AGENT_HOST_TESTS=1, or here with INTEGRATION_ROOT=1)"
                .to_string(),
        );
    }
    None
}

/// The target is a script target: it has `runme.sh` and no `tasks/main.yml`. (When a target
/// has both, only its role part is run.)
pub fn is_script(target_dir: &Path) -> bool {
    let has_tasks = target_dir.join("tasks").join("main.yml").is_file()
        || target_dir.join("tasks").join("main.yaml").is_file();
    !has_tasks && target_dir.join("runme.sh").is_file()
}

/// The verdict of a script target, as ansible-test's: it passes when `runme.sh` exits 0.
pub fn script_verdict(output: &str, rc: i32) -> Verdict {
    if rc == 0 {
        return Verdict::Pass;
    }
    // The first failed task, else the last line the script printed (`set -x` shows the
    // failing command).
    let why = first_failure(output).unwrap_or_else(|| {
        let last = output.lines().rev().find(|l| !l.trim().is_empty());
        shorten(last.unwrap_or(""))
    });
    Verdict::Fail(format!("runme.sh exited {rc}: {why}"))
}

/// The target has the alias `needs/root`: it changes the host (packages, users, units).
pub fn needs_root(aliases: &[String]) -> bool {
    aliases
        .iter()
        .any(|a| a.trim_end_matches('/') == "needs/root")
}

/// The target has the alias `needs/httptester`: it talks to ansible-test's HTTP test
/// container, which `httptester.py` stands in for inside a test host.
pub fn needs_httptester(aliases: &[String]) -> bool {
    aliases
        .iter()
        .any(|a| a.trim_end_matches('/') == "needs/httptester")
}

/// Whether a target of `group` is selected by `INTEGRATION_GROUPS` (comma-separated group
/// ids; empty or unset selects all).
pub fn group_selected(groups: &str, group: &str) -> bool {
    let wanted: Vec<&str> = groups
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .collect();
    wanted.is_empty() || wanted.contains(&group)
}

/// The play ansible-test generates for a role-style target, as it writes it (JSON).
pub fn play_json(target: &str, output_dir: &Path, gather_facts: bool) -> String {
    let play = serde_json::json!([{
        "gather_facts": gather_facts,
        "hosts": "testhost",
        "roles": [target],
        "vars": { "output_dir": output_dir.to_string_lossy() },
        "vars_files": [],
    }]);
    serde_json::to_string_pretty(&play).unwrap_or_default() + "\n"
}

/// ansible-test's controller inventory: `testhost` in group `testgroup`, local connection.
pub fn inventory_text(python: &Path) -> String {
    format!(
        "[testgroup]\ntesthost ansible_connection=local ansible_pipelining=yes \
         ansible_python_interpreter={}\n",
        python.display()
    )
}

/// Under the agent, the `ansible-playbook` that a target runs (script targets' `runme.sh`,
/// and copy's `no_log.yml`, which runs a nested playbook at `-vvv` and checks that its
/// secret stays out of the output): a script that runs `agent apply` with the same
/// arguments, under its own run lock (an outer run may hold the usual one) and its own
/// cache directory.
///
/// Ansible runs each play on every host it matches; in these tests they are all this
/// machine (local connection). The agent does the same with `--local-hosts` (the hosts
/// take turns task by task, as the linear strategy runs them), and exits with
/// ansible-playbook's codes (`--exit-codes ansible`), which the scripts test.
pub fn playbook_wrapper(agent: &Path, dir: &Path) -> String {
    format!(
        r#"#!/bin/sh
# ansible-playbook, as the agent's integration runner provides it
# (tests/integration/support.rs, playbook_wrapper).
export AGENT_LOCK_FILE='{dir}/nested.lock' AGENT_CONFIG='{dir}/nested.toml'
# Every host the plays match, on this machine; ansible-playbook's exit codes.
export AGENT_LOCAL_HOSTS=1 AGENT_EXIT_CODES=ansible
exec '{agent}' apply "$@"
"#,
        dir = dir.display(),
        agent = agent.display()
    )
}

/// Under the agent, the ad hoc `ansible` command that a script target runs
/// (`ansible -m include_role -a name=role1 localhost`): the module, with its `-a`
/// arguments as a free-form string, becomes the one task of a playbook generated in the
/// current directory (so that `roles/` is found there, as ad hoc runs find it), run by the
/// `ansible-playbook` wrapper beside it with the other options. The output is a playbook
/// run's, not ad hoc's `HOST | SUCCESS => {…}` lines.
pub fn adhoc_wrapper() -> String {
    r#"#!/usr/bin/env bash
# ansible (ad hoc), as the agent's integration runner provides it: the module as the one
# task of a generated playbook (tests/integration/support.rs, adhoc_wrapper).
pattern='' module=command margs='' rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    -m|--module-name) module=$2; shift 2 ;;
    --module-name=*) module=${1#*=}; shift ;;
    -a|--args) margs=$2; shift 2 ;;
    --args=*) margs=${1#*=}; shift ;;
    -i|--inventory|-e|--extra-vars|-l|--limit|-c|--connection)
      rest+=("$1" "$2"); shift 2 ;;
    # Options with a value that a one-host local run has no use for.
    -u|--user|-f|--forks|-t|--tree|-M|--module-path|-P|--poll|-B|--background|\
    --become-user|--become-method|--vault-id|--vault-password-file|--private-key|-T|--timeout)
      shift 2 ;;
    -*) rest+=("$1"); shift ;;
    *) [ -z "$pattern" ] && pattern=$1; shift ;;
  esac
done
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }
pb=$(mktemp ./.agent-adhoc-XXXXXX.yml) || exit 1
trap 'rm -f "$pb"' EXIT
{
  echo "- hosts: $(q "${pattern:-all}")"
  echo "  gather_facts: false"
  echo "  tasks:"
  if [ -n "$margs" ]; then echo "    - $(q "$module"): $(q "$margs")"; else echo "    - $(q "$module"):"; fi
} > "$pb"
ansible-playbook "$pb" "${rest[@]}"
"#
    .to_string()
}

/// The agent configuration of a nested run: its cache directory under `dir`.
pub fn nested_config(dir: &Path) -> String {
    format!("cache_dir = \"{}/nested-cache\"\n", dir.display())
}

/// The outcome of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(String),
}

/// Pass = exit 0 and a recap for `testhost` with failed=0 and unreachable=0.
pub fn verdict(output: &str, rc: i32) -> Verdict {
    let recap = recap_line(output);
    match recap {
        Some((failed, unreachable)) if failed == 0 && unreachable == 0 && rc == 0 => Verdict::Pass,
        Some((failed, unreachable)) => {
            let why = first_failure(output)
                .unwrap_or_else(|| format!("exit {rc}, failed={failed} unreachable={unreachable}"));
            Verdict::Fail(why)
        }
        None => Verdict::Fail(
            first_failure(output)
                .unwrap_or_else(|| format!("exit {rc} without a PLAY RECAP for testhost")),
        ),
    }
}

/// `failed` and `unreachable` of testhost's recap line.
fn recap_line(output: &str) -> Option<(u64, u64)> {
    let mut in_recap = false;
    let mut found = None;
    for line in output.lines() {
        if line.starts_with("PLAY RECAP") {
            in_recap = true;
            continue;
        }
        if !in_recap {
            continue;
        }
        let Some(rest) = line.trim_start().strip_prefix("testhost") else {
            continue;
        };
        let Some(rest) = rest.trim_start().strip_prefix(':') else {
            continue;
        };
        let field = |name: &str| {
            rest.split_whitespace()
                .filter_map(|f| f.split_once('='))
                .find(|(k, _)| *k == name)
                .and_then(|(_, v)| v.parse::<u64>().ok())
        };
        found = Some((field("failed")?, field("unreachable")?));
    }
    found
}

const MAX_REASON: usize = 220;

fn shorten(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= MAX_REASON {
        return text.to_string();
    }
    let cut: String = text.chars().take(MAX_REASON).collect();
    format!("{cut}...")
}

/// The failure that ended the run: the last `fatal:`/`failed:` line that is not followed by
/// `...ignoring`, with its task, else the first `ERROR` line. Its `msg` is shown when the
/// line is a JSON result.
pub fn first_failure(output: &str) -> Option<String> {
    let lines: Vec<&str> = output.lines().collect();
    let mut task = "";
    let mut found: Option<String> = None;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("TASK [") || line.starts_with("RUNNING HANDLER [") {
            task = line.trim_end_matches(['*', ' ']);
            continue;
        }
        if !(line.starts_with("fatal: ") || line.starts_with("failed: ")) {
            continue;
        }
        let ignored = lines
            .iter()
            .skip(i + 1)
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.trim() == "...ignoring");
        if ignored {
            continue;
        }
        // A JSON result may continue on the following lines; gather it.
        let mut text = line.to_string();
        if let Some(start) = line.find("=> {") {
            let mut json = line[start + 3..].to_string();
            for next in lines.iter().skip(i + 1) {
                if serde_json::from_str::<serde_json::Value>(&json).is_ok() {
                    break;
                }
                json.push('\n');
                json.push_str(next);
            }
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&json)
                && let Some(msg) = value.get("msg").and_then(|m| m.as_str())
            {
                text = msg.lines().next().unwrap_or("").to_string();
                if let Some(item) = value.get("item") {
                    text = format!("(item={}) {text}", shorten(&item.to_string()));
                }
            }
        }
        found = Some(shorten(&format!("{task}: {text}")));
    }
    if found.is_some() {
        return found;
    }
    let i = lines
        .iter()
        .position(|l| l.contains("ERROR") || l.starts_with("error"))?;
    // Ansible 2.19+'s display puts where on the next line: `Origin: FILE:LINE:COL`.
    let at = lines
        .get(i + 1)
        .and_then(|l| l.strip_prefix("Origin: "))
        .map(|o| format!(" ({})", o.rsplit('/').next().unwrap_or(o)))
        .unwrap_or_default();
    Some(shorten(&format!("{}{at}", lines[i])))
}

/// The target a results line (`name<TAB>...`) or a table row (`| name | ...`) is about.
fn row_target(line: &str) -> Option<&str> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with("|---") {
        return None;
    }
    let name = match line.strip_prefix('|') {
        Some(rest) => rest.split('|').next()?.trim(),
        None => line.split('\t').next()?.trim(),
    };
    (!name.is_empty() && name != "target").then_some(name)
}

/// The rows of a results file or table after a run: the new rows, and the old rows of
/// targets this run did not touch, in `order` (targets.txt), then any others.
pub fn merge_rows(old: &str, new: &[String], order: &[String]) -> Vec<String> {
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for line in old.lines() {
        if let Some(name) = row_target(line) {
            by_name.insert(name.to_string(), line.to_string());
        }
    }
    for line in new {
        if let Some(name) = row_target(line) {
            by_name.insert(name.to_string(), line.clone());
        }
    }
    let mut out = Vec::new();
    for name in order {
        if let Some(line) = by_name.remove(name) {
            out.push(line);
        }
    }
    out.extend(by_name.into_values());
    out
}
