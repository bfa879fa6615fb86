//! One file per subcommand. `apply` and `check` share [`run`].

pub mod apply;
pub mod bundle;
pub mod check;
pub mod config;
pub mod demo;
pub mod facts;
pub mod fleet;
mod lockstep;
pub mod pull;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agent_inventory::Inventory;
use anyhow::{Context, Result, bail};
use indexmap::IndexMap;
use minijinja::Value;

use crate::cli::{ExitCodes, RunArgs, exit};
use crate::engine::{Engine, RunOptions};
use crate::loader::kv::parse_kv;
use crate::loader::model::Playbook;
use crate::loader::playbook::Loader;

/// Parse `-e` values: `k=v ...`, a YAML/JSON mapping, or `@file`.
pub fn parse_extra_vars(items: &[String]) -> Result<IndexMap<String, Value>> {
    let mut out = IndexMap::new();
    for item in items {
        let item = item.trim();
        if let Some(file) = item.strip_prefix('@') {
            let m = crate::loader::files::read_vars_file(Path::new(file))?;
            out.extend(m);
        } else if item.starts_with('{') || item.starts_with("---") {
            let node = agent_yaml::parse_one(item, Path::new("<extra vars>"))?;
            let m = crate::loader::files::node_to_vars(&Arc::from("<extra vars>"), node.as_ref())?;
            out.extend(m);
        } else if !item.is_empty() {
            let m = parse_kv(item, false).map_err(|e| anyhow::anyhow!("-e {item}: {e}"))?;
            out.extend(m);
        }
    }
    Ok(out)
}

/// The inventory host this machine is (and how it was chosen).
pub fn choose_host(inv: &Inventory, limit: Option<&str>) -> Result<(String, &'static str)> {
    if let Some(l) = limit {
        let hosts = inv.select(l)?;
        return match hosts.first() {
            Some(h) => Ok((h.clone(), "the --limit host")),
            None if l == "localhost" => Ok(("localhost".into(), "the --limit host")),
            None => bail!("--limit {l} matches no host in the inventory"),
        };
    }
    let short = crate::host_identity::hostname();
    let fqdn = crate::host_identity::fqdn().unwrap_or_default();
    for name in [
        fqdn.as_str(),
        short.as_str(),
        short.split('.').next().unwrap_or_default(),
    ] {
        if !name.is_empty() && inv.hosts.contains_key(name) {
            return Ok((name.to_string(), "this machine's host name"));
        }
    }
    Ok((
        "localhost".into(),
        "no inventory host is named like this machine",
    ))
}

/// A playbook for `--role NAME`: one play on this host with that role.
fn role_playbook(role: &str, dir: &Path, tmp: &Path) -> Result<PathBuf> {
    let p = tmp.join("agent-role-play.yml");
    let roles_dir = dir.join("roles");
    let text = format!(
        "- name: role {role}\n  hosts: all:localhost\n  gather_facts: true\n  roles:\n    - role: {}\n",
        if roles_dir.join(role).is_dir() {
            roles_dir.join(role).display().to_string()
        } else {
            role.to_string()
        }
    );
    std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
    Ok(p)
}

/// Set by the binary, which exits right after its run (or `demo`'s three): the run's
/// large in-memory state (variables, facts, parsed playbook) is then left to the process
/// exit instead of being freed piece by piece (about a millisecond for the reference
/// site). Library and test callers that run many times in one process keep the default:
/// everything is freed.
static LEAVE_TO_EXIT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The process exits after this run: see [`LEAVE_TO_EXIT`].
pub fn exit_after_run() {
    LEAVE_TO_EXIT.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Drop `v`, or leave it to the process exit when the binary said it exits after the run.
/// Only for plain data: nothing whose drop cleans up outside the process.
fn release<T>(v: T) {
    if LEAVE_TO_EXIT.load(std::sync::atomic::Ordering::Relaxed) {
        std::mem::forget(v);
    } else {
        drop(v);
    }
}

/// Load, check and run, printing to stdout. Returns the process exit code.
pub fn run(args: &RunArgs, check: bool, diff: bool, drift_exit: bool) -> Result<i32> {
    let stdout = std::io::stdout();
    let mut out = agent_report::mask::Masking::new(stdout.lock());
    let code = run_to(args, check, diff, drift_exit, &mut out)?;
    out.flush()?;
    Ok(code)
}

/// Load, check and run, printing to `out`. Returns the process exit code.
/// `drift_exit`: exit 2 when something changed (or would change, in check mode).
/// Every run that gets as far as its configuration leaves a report (docs/reports.md).
pub fn run_to(
    args: &RunArgs,
    check: bool,
    diff: bool,
    drift_exit: bool,
    out: &mut dyn Write,
) -> Result<i32> {
    let command = if drift_exit { "check" } else { "apply" };
    let mut info = crate::report::RunInfo::new(args, check, command);
    let res = run_inner(args, check, diff, drift_exit, out, &mut info);
    if let Err(e) = &res {
        // Warnings found while loading (duplicate keys) come before the error, as in Ansible.
        print_load_warnings();
        info.failed(e, out);
    }
    res
}

/// Read the vault passwords (`--vault-password-file`, `--vault-id`) for `!vault` values,
/// before anything loads. A file that is executable is run and its output is the
/// password, as Ansible does with a vault password script.
fn set_vault_secrets(args: &RunArgs) -> Result<()> {
    let files = args.vault_password_files.iter().cloned().chain(
        args.vault_ids
            .iter()
            .filter(|id| !id.trim().is_empty())
            .map(|id| PathBuf::from(id.split_once('@').map_or(id.as_str(), |(_, f)| f))),
    );
    let mut secrets = Vec::new();
    for file in files {
        secrets.push(read_vault_password(&file)?);
    }
    if !secrets.is_empty() {
        agent_yaml::vault::set_secrets(secrets);
    }
    Ok(())
}

fn read_vault_password(file: &Path) -> Result<Vec<u8>> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(file).map_err(|e| {
        anyhow::anyhow!(
            "The vault password file {} was not found: {e}",
            file.display()
        )
    })?;
    let script = meta.permissions().mode() & 0o111 != 0 && meta.is_file();
    let password = if script {
        // A relative path names a file here, not a program on PATH.
        let program = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        let out = std::process::Command::new(program)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| {
                anyhow::anyhow!(
                    "Problem running vault password script {}: {e}",
                    file.display()
                )
            })?;
        if !out.status.success() {
            anyhow::bail!(
                "Vault password script {} returned non-zero ({}): {}",
                file.display(),
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        // A script's output without its line ends at either end.
        let nl = |c: &u8| *c == b'\r' || *c == b'\n';
        let start = out
            .stdout
            .iter()
            .position(|c| !nl(c))
            .unwrap_or(out.stdout.len());
        let end = out
            .stdout
            .iter()
            .rposition(|c| !nl(c))
            .map_or(start, |i| i + 1);
        out.stdout[start..end].to_vec()
    } else {
        // A file's whole content without surrounding white space.
        std::fs::read(file)
            .map_err(|e| {
                anyhow::anyhow!("Could not read vault password file {}: {e}", file.display())
            })?
            .trim_ascii()
            .to_vec()
    };
    if password.is_empty() {
        let what = if script { "script" } else { "file" };
        anyhow::bail!(
            "Invalid vault password was provided from {what} ({})",
            file.display()
        );
    }
    Ok(password)
}

/// Print the loader's warnings (duplicate YAML keys) that no run printed.
fn print_load_warnings() {
    for w in crate::loader::files::take_warnings() {
        eprintln!("{}", agent_report::mask::mask(&format!("[WARNING]: {w}\n")));
    }
}

fn run_inner(
    args: &RunArgs,
    check: bool,
    diff: bool,
    drift_exit: bool,
    out: &mut dyn Write,
    info: &mut crate::report::RunInfo,
) -> Result<i32> {
    let tmp;
    set_vault_secrets(args)?;
    // No playbook (or --source): the configured source gives the bundle.
    let source = (args.playbook.is_none() && args.role.is_none()) || args.source.is_some();
    let mut pulled = None;
    let mut inventory = args.inventory.clone();
    let ec2 = pull::ec2_instance();
    let cfg = info.config(args, source, ec2.as_ref())?;
    let base = if source {
        let t = std::time::Instant::now();
        let p = pull::pull_with(&cfg)?;
        info.pulled(&p, t.elapsed());
        if inventory.is_empty() {
            inventory.extend(pull::bundle_inventory(&p.dir, &cfg));
        }
        let dir = p.dir.clone();
        pulled = Some((p, cfg));
        dir
    } else {
        std::env::current_dir()?
    };
    let playbook_path = match (&args.playbook, &args.role) {
        (Some(p), None) => base.join(p),
        (None, Some(r)) => {
            tmp = tempfile::tempdir()?;
            role_playbook(r, &base, tmp.path())?
        }
        (Some(_), Some(_)) => bail!("give either a playbook or --role, not both"),
        (None, None) => match &pulled {
            Some((_, cfg)) => base.join(&cfg.playbook.value),
            None => bail!("no playbook given: `agent apply PLAYBOOK` (or --role NAME)"),
        },
    };
    // Absolute, as Ansible shows paths (origins, `included:` lines, role paths).
    let playbook_path = std::path::absolute(&playbook_path).unwrap_or(playbook_path);
    let playbook_dir = playbook_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let playbook_dir = if playbook_dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        playbook_dir
    };
    if !args.inspects_only() {
        // the first gathering's costly facts are read while the bundle loads
        agent_facts::prefetch_costly();
    }
    let mut inv = Inventory::load(&inventory)?;
    inv.add_playbook_dir(&playbook_dir)?;
    if let Some(i) = &ec2 {
        inv.add_external_group_vars(pull::ec2_vars(i));
    }
    if let Some((p, _)) = &pulled {
        inv.add_external_group_vars(pull::group_vars(&p.vars));
    }
    let extra_vars = parse_extra_vars(&args.extra_vars)?;

    let mut loader = Loader::new(args.roles_path.clone());
    loader.extra_vars = extra_vars.clone();
    let pb: Playbook = loader.load_playbook(&playbook_path)?;
    if args.inspects_only() {
        print_load_warnings();
    }
    if args.syntax_check {
        info.skip();
        println!("\nplaybook: {}", playbook_path.display());
        return Ok(exit::OK);
    }
    if args.list_tasks || args.list_tags {
        info.skip();
        list(
            &pb,
            args.list_tasks,
            &args.tags,
            &args.skip_tags,
            &extra_vars,
        )?;
        return Ok(exit::OK);
    }
    if args.list_hosts {
        info.skip();
        list_hosts(&pb, &inv, args.limit.as_deref(), &extra_vars)?;
        return Ok(exit::OK);
    }
    let local_hosts = if args.local_hosts {
        all_play_hosts(&pb, &inv, args.limit.as_deref(), &extra_vars)
    } else {
        Vec::new()
    };
    let (host, why) = match local_hosts.first() {
        Some(h) => (h.clone(), "the first of the plays' hosts (--local-hosts)"),
        None => choose_host(&inv, args.limit.as_deref())?,
    };
    tracing::info!("this host is '{host}' ({why})");
    if let Some(i) = &ec2 {
        let tags = match &pulled {
            Some((_, cfg)) => cfg.group_tags.value.clone(),
            None => agent_source::Config::default().group_tags.value,
        };
        let groups = pull::tag_groups(i, &tags);
        if !groups.is_empty() {
            tracing::info!("EC2 tags put this host in: {}", groups.join(", "));
            inv.join_groups(&host, &groups)?;
        }
    }
    // A task Ansible would fail when it runs for want of `k=v` arguments is refused now,
    // before anything changes, when a play for the hosts run here holds it.
    // (the plays' hosts are worked out only when some task has such words)
    let running: Vec<&String> = if local_hosts.len() > 1 {
        local_hosts.iter().collect()
    } else {
        vec![&host]
    };
    let matched = if pb.any_task(&|t| t.bad_args.is_some()) {
        plays_hosts(&pb, &inv, args.limit.as_deref(), &extra_vars)
    } else {
        Vec::new()
    };
    for (play, hosts) in pb.plays.iter().zip(matched) {
        if !hosts.iter().any(|h| running.contains(&h)) {
            continue;
        }
        if let Some((at, msg)) = play
            .find_task(&|t| t.bad_args.is_some())
            .and_then(|t| t.bad_args.clone())
        {
            return Err(crate::loader::error::LoadError::at(at, msg).into());
        }
    }

    let split = |v: &[String]| -> Vec<String> {
        v.iter()
            .flat_map(|t| t.split(','))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect()
    };
    let opts = RunOptions {
        check,
        diff,
        tags: split(&args.tags),
        skip_tags: split(&args.skip_tags),
        extra_vars,
        start_at_task: args.start_at_task.clone(),
        force_handlers: args.force_handlers,
        error_on_missing_handler: std::env::var("ANSIBLE_ERROR_ON_MISSING_HANDLER")
            .map(|v| crate::cli::ansible_boolean(&v).unwrap_or(true))
            .unwrap_or(true),
        fact_cache: crate::engine::factcache::FactCache::from_env()?,
        flush_cache: args.flush_cache,
        verbosity: args.verbose,
        inventory_sources: inventory.iter().map(|p| p.display().to_string()).collect(),
        connection: args.connection.clone(),
        interrupt: Some(crate::signals::flag()),
    };
    let report_opts = agent_report::ReportOptions {
        verbosity: args.verbose,
        diff,
        check,
        deprecation_warnings: std::env::var("ANSIBLE_DEPRECATION_WARNINGS")
            .map(|v| crate::cli::ansible_boolean(&v).unwrap_or(true))
            .unwrap_or(true),
        ..Default::default()
    };
    info.loaded(&host, &playbook_path);
    let mut reporter = crate::report::make(args.output, report_opts);
    let outcome = if local_hosts.len() > 1 {
        let (outcome, r) =
            lockstep::run(opts, Arc::new(inv), local_hosts, loader, &pb, reporter, out);
        reporter = r;
        outcome
    } else {
        let mut engine = Engine::new(opts, Arc::new(inv), host, loader, &mut reporter, out);
        let outcome = engine.run_playbook(&pb);
        release(engine);
        outcome
    };
    release(pb);
    if let Some((at, msg)) = outcome.fatal.clone() {
        // As ansible-playbook: a parser error in a file an include brought ends the run.
        return Err(crate::loader::error::LoadError::at(at, msg).into());
    }
    info.complete(reporter, &outcome, out)?;
    let stale = pulled.as_ref().is_some_and(|(p, _)| p.fallback.is_some());
    if args.exit_codes == ExitCodes::Ansible && !drift_exit {
        return Ok(ansible_exit_code(&outcome));
    }
    Ok(if outcome.failed || outcome.interrupted {
        exit::FAILED
    } else if stale {
        exit::STALE_SOURCE
    } else if outcome.stats.changed > 0 && (drift_exit || args.detailed_exitcode) {
        exit::CHANGED
    } else {
        exit::OK
    })
}

/// ansible-playbook's exit code for a finished run (`--exit-codes ansible`): as its
/// strategy decides, unreachable hosts before failed ones.
fn ansible_exit_code(outcome: &crate::engine::Outcome) -> i32 {
    if outcome.interrupted {
        exit::ansible::INTERRUPTED
    } else if outcome.stats.unreachable > 0 {
        exit::ansible::HOST_UNREACHABLE
    } else if outcome.failed {
        exit::ansible::HOST_FAILED
    } else {
        exit::OK
    }
}

/// ansible-playbook's exit code for a run that stopped with an error before it ran
/// (`--exit-codes ansible`): 4 when a file did not load, else 1.
pub fn ansible_error_code(e: &anyhow::Error) -> i32 {
    if e.chain().any(|c| {
        c.downcast_ref::<crate::loader::error::LoadError>()
            .is_some()
            || c.downcast_ref::<agent_yaml::YamlError>().is_some()
    }) {
        exit::ansible::PARSER_ERROR
    } else {
        exit::FAILED
    }
}

/// Each play's host pattern (a templated one rendered with the extra vars, as the run
/// does before host variables exist) and the hosts it matches within `limit`.
fn plays_hosts(
    pb: &Playbook,
    inv: &Inventory,
    limit: Option<&str>,
    extra_vars: &IndexMap<String, Value>,
) -> Vec<Vec<String>> {
    let templar = agent_template::Templar::new();
    let extra: Value = extra_vars
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let vars = agent_template::Vars::new(vec![extra]);
    pb.plays
        .iter()
        .map(|play| {
            let pattern = if agent_template::Templar::is_template(&play.hosts) {
                templar
                    .render_str(&play.hosts, &vars)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|_| play.hosts.clone())
            } else {
                play.hosts.clone()
            };
            inv.select_limited(&pattern, limit).unwrap_or_default()
        })
        .collect()
}

/// Every host some play matches (`--local-hosts`), in the order the plays meet them.
fn all_play_hosts(
    pb: &Playbook,
    inv: &Inventory,
    limit: Option<&str>,
    extra_vars: &IndexMap<String, Value>,
) -> Vec<String> {
    let mut all: indexmap::IndexSet<String> = indexmap::IndexSet::new();
    for hosts in plays_hosts(pb, inv, limit, extra_vars) {
        all.extend(hosts);
    }
    // In inventory order, as Ansible orders a play's hosts (the implicit localhost last).
    let mut all: Vec<String> = all.into_iter().collect();
    all.sort_by_key(|h| inv.hosts.get_index_of(h).unwrap_or(usize::MAX));
    all
}

/// `--list-hosts`, as ansible-playbook prints it: each play's pattern and the hosts it
/// matches (within `--limit`). A templated pattern is templated with the extra vars, as
/// the run does before host variables exist.
fn list_hosts(
    pb: &Playbook,
    inv: &Inventory,
    limit: Option<&str>,
    extra_vars: &IndexMap<String, Value>,
) -> Result<()> {
    println!("\nplaybook: {}", pb.path.display());
    let matched = plays_hosts(pb, inv, limit, extra_vars);
    for (n, (play, hosts)) in pb.plays.iter().zip(matched).enumerate() {
        // An unnamed play is shown by its pattern.
        let name = if play.name.is_empty() {
            &play.hosts
        } else {
            &play.name
        };
        println!(
            "\n  play #{} ({}): {name}\tTAGS: [{}]",
            n + 1,
            play.hosts,
            play.common.tags.join(",")
        );
        println!("    pattern: ['{}']", play.hosts);
        println!("    hosts ({}):", hosts.len());
        for h in hosts {
            println!("      {h}");
        }
    }
    Ok(())
}

/// `--list-tasks` / `--list-tags` as ansible-playbook prints them: per play, the tasks
/// that `--tags`/`--skip-tags` select (tags templated with the play's and the extra
/// variables, as Ansible's `filter_tagged_tasks`), each with the play's tags and its own
/// (inherited ones included); a block's `rescue` and `always` are not listed.
fn list(
    pb: &Playbook,
    tasks: bool,
    only: &[String],
    skip: &[String],
    extra: &IndexMap<String, Value>,
) -> Result<()> {
    // `--list-tags` without `--tags` lists every tag, `never` ones included
    // (ansible-playbook sets the tags to `never,all` for it).
    let list_all = [String::from("never"), String::from("all")];
    let only = if !tasks && only.is_empty() {
        &list_all[..]
    } else {
        only
    };
    use crate::loader::model::Item;
    use std::collections::HashSet;
    struct Walk<'a> {
        templar: agent_template::Templar,
        vars: agent_template::Vars,
        only: &'a [String],
        skip: &'a [String],
        out: Vec<(String, Vec<String>)>,
        error: Option<String>,
    }
    impl Walk<'_> {
        fn walk(&mut self, items: &[Item], inherited: &[String]) {
            for i in items {
                match i {
                    Item::Task(t) => {
                        let mut tags = inherited.to_vec();
                        tags.extend(t.common.tags.iter().cloned());
                        // The task's role's vars and defaults join the play's.
                        let mut vars = self.vars.clone();
                        if let Some(r) = &t.role {
                            for layer in [&r.vars, &r.defaults] {
                                vars.layers.push(Value::from_pairs(
                                    layer.iter().map(|(k, v)| (k.as_str(), v.clone())),
                                ));
                            }
                        }
                        let tags = match crate::engine::expand_tags(
                            tags.iter().map(String::as_str),
                            &self.templar,
                            &vars,
                        ) {
                            Ok(t) => t,
                            Err(e) => {
                                self.error.get_or_insert(e);
                                continue;
                            }
                        };
                        let set: HashSet<&str> = tags.iter().map(String::as_str).collect();
                        if !crate::engine::tags_selected(&set, self.only, self.skip) {
                            continue;
                        }
                        let name = t
                            .name
                            .clone()
                            .unwrap_or_else(|| t.written_action().to_string());
                        let name = match &t.role {
                            Some(r) => format!("{} : {name}", r.name),
                            None => name,
                        };
                        self.out.push((name, tags));
                    }
                    Item::Block(b) => {
                        let mut tags = inherited.to_vec();
                        tags.extend(b.common.tags.iter().cloned());
                        self.walk(&b.block, &tags);
                    }
                }
            }
        }
    }
    println!("\nplaybook: {}", pb.path.display());
    for (n, play) in pb.plays.iter().enumerate() {
        let mut w = Walk {
            templar: agent_template::Templar::new(),
            vars: agent_template::Vars::new(vec![
                Value::from_pairs(extra.iter().map(|(k, v)| (k.as_str(), v.clone()))),
                Value::from_pairs(
                    play.common
                        .vars
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.clone())),
                ),
            ]),
            only,
            skip,
            out: Vec::new(),
            error: None,
        };
        for section in [&play.pre_tasks, &play.main, &play.post_tasks] {
            w.walk(section, &play.common.tags);
        }
        if let Some(e) = w.error {
            anyhow::bail!("{e}");
        }
        let entries = w.out;
        let mut all_tags: Vec<String> = entries
            .iter()
            .flat_map(|(_, t)| t.iter().cloned())
            .collect();
        all_tags.extend(play.common.tags.iter().cloned());
        all_tags.sort();
        all_tags.dedup();
        println!(
            "\n  play #{} ({}): {}\tTAGS: [{}]",
            n + 1,
            play.hosts,
            play.name,
            play.common.tags.join(",")
        );
        if tasks {
            println!("    tasks:");
            for (name, tags) in entries {
                let mut t = tags.clone();
                t.sort();
                t.dedup();
                println!("      {name}\tTAGS: [{}]", t.join(", "));
            }
        } else {
            println!("      TASK TAGS: [{}]", all_tags.join(", "));
        }
    }
    Ok(())
}
