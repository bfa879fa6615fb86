//! `agent pull`, and the pull that `apply`/`check` do when no playbook is given: the
//! configured source → a verified bundle in the cache (or the last-known-good one).

use std::path::{Path, PathBuf};

use anyhow::Result;
use indexmap::IndexMap;
use minijinja::Value;

use agent_source::imds::Instance;
use agent_source::ssm::SsmVars;
use agent_source::{Config, Pulled};

use crate::cli::{ConfigArgs, PullArgs, RunArgs, exit};

/// The configuration file (a missing file at the default path means all defaults) with
/// `--source` applied.
pub fn load_config(path: &Path, source: Option<&str>) -> Result<Config> {
    let required = path != Path::new(agent_source::config::DEFAULT_PATH);
    let mut cfg = Config::load(path, required)?;
    cfg.lock_file_from_env(
        std::env::var(agent_source::config::LOCK_FILE_ENV)
            .ok()
            .as_deref(),
    );
    cfg.override_source(source);
    if let Some(uri) = &cfg.source.value {
        agent_source::pull::check_uri(uri)?;
    }
    Ok(cfg)
}

/// Pull, register the secrets for masking, and say plainly when the last-known-good
/// bundle is used.
pub fn pull_with(cfg: &Config) -> Result<Pulled> {
    let p = agent_source::pull(cfg, true)?;
    for s in &p.vars.secrets {
        agent_report::mask::register(s);
    }
    for w in &p.warnings {
        eprintln!("[WARNING]: {w}");
    }
    match (&p.fallback, &p.sha256) {
        (Some(why), Some(sha)) => {
            eprintln!(
                "[WARNING]: {why}\n[WARNING]: running the last-known-good bundle {sha} from the cache"
            );
        }
        (None, Some(sha)) => tracing::info!(
            "bundle {sha} from {}{}{}",
            p.uri,
            if p.unchanged { " (unchanged)" } else { "" },
            match &p.signed_by {
                Some(v) => format!(", signed by key {}", v.key_id),
                None => String::new(),
            }
        ),
        _ => tracing::info!("configuration from {}", p.dir.display()),
    }
    Ok(p)
}

pub fn pull_for_run(args: &RunArgs, ec2: Option<&Instance>) -> Result<(Pulled, Config)> {
    let mut cfg = load_config(&args.config, args.source.as_deref())?;
    if let Some(i) = ec2 {
        cfg.environment_from_tag(&i.tags);
    }
    let p = pull_with(&cfg)?;
    Ok((p, cfg))
}

/// On EC2 (detected from /sys without any network wait elsewhere): the instance's
/// metadata and tags. A failure to read them is a warning, not an error.
pub fn ec2_instance() -> Option<Instance> {
    let ep = agent_source::imds::endpoint()?;
    match agent_source::imds::Imds::connect(&ep).and_then(|i| agent_source::imds::describe(&i)) {
        Ok(i) => Some(i),
        Err(e) => {
            eprintln!("[WARNING]: {e}; continuing without EC2 facts and tags");
            None
        }
    }
}

/// The groups this instance's tags put it in (`group_tags` of the configuration).
pub fn tag_groups(inst: &Instance, tags: &[String]) -> Vec<String> {
    tags.iter()
        .filter_map(|t| inst.tags.get(t))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// `ansible_ec2_*` facts as variables of every host.
pub fn ec2_vars(inst: &Instance) -> IndexMap<String, IndexMap<String, Value>> {
    let vars = inst
        .facts
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    IndexMap::from([("all".to_string(), vars)])
}

/// The inventory inside the bundle: `inventory` from the configuration, else
/// `inventories/<environment>` when it exists.
pub fn bundle_inventory(dir: &Path, cfg: &Config) -> Option<PathBuf> {
    if let Some(i) = &cfg.inventory.value {
        return Some(dir.join(i));
    }
    let env = cfg.environment.value.as_deref()?;
    let p = dir.join("inventories").join(env);
    p.exists().then_some(p)
}

/// SSM variables as inventory group vars.
pub fn group_vars(vars: &SsmVars) -> IndexMap<String, IndexMap<String, Value>> {
    vars.groups
        .iter()
        .map(|(g, m)| {
            let vars = m
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        agent_template::filters::pyfmt::from_json_value(v.clone()),
                    )
                })
                .collect();
            (g.clone(), vars)
        })
        .collect()
}

/// `agent pull`: under the run lock.
pub fn run_locked(args: &PullArgs) -> Result<i32> {
    let _lock = match crate::lock::start(false, &args.config.config, args.wait) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    run(&args.config)
}

pub fn run(args: &ConfigArgs) -> Result<i32> {
    let cfg = load_config(&args.config, args.source.as_deref())?;
    let p = pull_with(&cfg)?;
    let sha = p.sha256.as_deref().unwrap_or("-");
    let how = if p.fallback.is_some() {
        "last-known-good"
    } else if p.unchanged {
        "unchanged"
    } else {
        "pulled"
    };
    println!(
        "{how} {sha} {} ({} bytes downloaded{})",
        p.dir.display(),
        p.downloaded,
        match &p.signed_by {
            Some(v) => format!(", signed by key {}", v.key_id),
            None => String::new(),
        }
    );
    Ok(if p.fallback.is_some() {
        exit::STALE_SOURCE
    } else {
        exit::OK
    })
}
