//! The command line: ansible-playbook's flag names and meanings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "agent",
    version = env!("AGENT_VERSION"),
    about = "Configure this host from Ansible playbooks and roles, without Python"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Converge this host: run the playbook (or one role) for real.
    Apply(RunArgs),
    /// Report drift: run in check mode with diff; never changes the host (exit 2 on drift).
    Check(RunArgs),
    /// Run a built-in example in a temporary directory, twice, and remove it: shows what
    /// agent does without touching anything else on this machine.
    Demo(DemoArgs),
    /// Print this host's facts as `ansible -m setup` returns them (JSON `ansible_facts`).
    Facts(FactsArgs),
    /// Build a bundle (a reproducible tar.gz or tar.zst of a directory) and print its sha256.
    Bundle(BundleArgs),
    /// Make a key pair for signing bundles (minisign format): PREFIX.key and PREFIX.pub.
    Keygen(KeygenArgs),
    /// Print the effective configuration and where each value came from.
    Config(ConfigArgs),
    /// Fetch the configured bundle and variables into the cache, without running anything.
    Pull(PullArgs),
    /// The fleet's drift at a glance: every host's latest report from S3 (see
    /// docs/reports.md); exit 2 when a host drifted, failed or is stale.
    Fleet(FleetArgs),
    /// Internal: run one `async` task's module in the background (started by the agent).
    #[command(hide = true)]
    AsyncJob { spec: std::path::PathBuf },
}

#[derive(Debug, Args, Clone)]
pub struct FleetArgs {
    /// Where the reports are: the `report.s3_uri` of the hosts (s3://bucket/prefix/).
    pub uri: String,
    /// A host whose last report is older than this is stale (`90s`, `30m`, `2h`, `1d`).
    #[arg(long, default_value = "2h")]
    pub stale: String,
    /// Output format.
    #[arg(long = "output", value_enum, default_value = "human")]
    pub output: FleetOutput,
    /// The configuration file (for the `[aws]` settings).
    #[arg(
        long = "config",
        env = "AGENT_CONFIG",
        default_value = "/etc/agent/agent.toml"
    )]
    pub config: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FleetOutput {
    /// A table of hosts.
    Human,
    /// One JSON document.
    Json,
}

#[derive(Debug, Args, Clone)]
pub struct PullArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// When another run holds the run lock: wait for it (for SECONDS at most; no value:
    /// as long as it takes) instead of exiting with code 3.
    #[arg(long = "wait", value_name = "SECONDS", num_args = 0..=1, require_equals = true)]
    pub wait: Option<Option<u64>>,
}

#[derive(Debug, Args, Clone)]
pub struct BundleArgs {
    /// The directory to bundle (playbooks, roles, inventories, vars).
    pub dir: PathBuf,
    /// The archive to write: `.tar.gz`, or `.tar.zst` for zstd.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Sign the bundle with this secret key (minisign format, unencrypted: `agent keygen`
    /// or `minisign -G -W`); the signature is written beside it, as OUTPUT.minisig.
    #[arg(long = "sign", value_name = "KEYFILE")]
    pub sign: Option<PathBuf>,
    /// The signature's trusted comment (signed too; default: the time and file name).
    #[arg(long = "trusted-comment", requires = "sign")]
    pub trusted_comment: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct KeygenArgs {
    /// Write PREFIX.key (the secret key, mode 0600) and PREFIX.pub (the public key).
    #[arg(short = 'o', long = "output", value_name = "PREFIX")]
    pub output: PathBuf,
    /// Replace existing key files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ConfigArgs {
    /// The configuration file.
    #[arg(
        long = "config",
        env = "AGENT_CONFIG",
        default_value = "/etc/agent/agent.toml"
    )]
    pub config: PathBuf,
    /// Where the configuration comes from (overrides `source` in the file): a directory,
    /// a bundle file, file://…, s3://bucket/key or ssm:/prefix.
    #[arg(long = "source")]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Ansible's default callback.
    Human,
    /// One JSON document in the shape of the ansible.posix json callback, with the
    /// drift report in `report` (docs/reports.md).
    Json,
    /// JUnit XML: a test case per task; drift and failures are failures.
    Junit,
    /// node_exporter textfile metrics, also written to `report.prometheus_dir`.
    Prometheus,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// The playbook to run.
    pub playbook: Option<PathBuf>,
    /// Inventory file or directory (repeatable).
    #[arg(short = 'i', long = "inventory")]
    pub inventory: Vec<PathBuf>,
    /// Limit to hosts matching this pattern; the first such host is this host.
    #[arg(short = 'l', long = "limit")]
    pub limit: Option<String>,
    /// Only run tasks with these tags (comma-separated, repeatable).
    #[arg(short = 't', long = "tags")]
    pub tags: Vec<String>,
    /// Skip tasks with these tags.
    #[arg(long = "skip-tags")]
    pub skip_tags: Vec<String>,
    /// Extra variables: key=value, YAML/JSON, or @file (repeatable).
    #[arg(short = 'e', long = "extra-vars")]
    pub extra_vars: Vec<String>,
    /// Check mode: predict changes, change nothing.
    #[arg(short = 'C', long = "check")]
    pub check: bool,
    /// Show differences of changed files and attributes.
    #[arg(short = 'D', long = "diff")]
    pub diff: bool,
    /// A file whose first line is the vault password for `!vault` values (an executable
    /// file is run and its output is the password). Repeatable; each is tried in turn.
    #[arg(
        long = "vault-password-file",
        visible_alias = "vault-pass-file",
        env = "ANSIBLE_VAULT_PASSWORD_FILE"
    )]
    pub vault_password_files: Vec<PathBuf>,
    /// A vault identity, `[LABEL@]FILE`: the password in FILE (the label is accepted and
    /// not used: every password is tried on every value). Repeatable.
    #[arg(
        long = "vault-id",
        env = "ANSIBLE_VAULT_IDENTITY_LIST",
        value_delimiter = ','
    )]
    pub vault_ids: Vec<String>,
    /// Additional role directories (colon-separated, repeatable).
    #[arg(long = "roles-path", env = "ANSIBLE_ROLES_PATH", value_delimiter = ':')]
    pub roles_path: Vec<PathBuf>,
    /// More output (-v, -vv, ...).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// List the tasks that would run, and exit.
    #[arg(long = "list-tasks")]
    pub list_tasks: bool,
    /// List the tags, and exit.
    #[arg(long = "list-tags")]
    pub list_tags: bool,
    /// List the hosts each play matches, and exit.
    #[arg(long = "list-hosts")]
    pub list_hosts: bool,
    /// Load and check the playbook, and exit.
    #[arg(long = "syntax-check")]
    pub syntax_check: bool,
    /// Start at the task with this name.
    #[arg(long = "start-at-task")]
    pub start_at_task: Option<String>,
    /// Run handlers even when a task failed.
    #[arg(
        long = "force-handlers",
        env = "ANSIBLE_FORCE_HANDLERS",
        action = clap::ArgAction::SetTrue,
        value_parser = ansible_boolean,
        hide_env_values = true
    )]
    pub force_handlers: bool,
    /// Forget this host's facts in the fact cache (ANSIBLE_CACHE_PLUGIN=jsonfile) first.
    #[arg(long = "flush-cache")]
    pub flush_cache: bool,
    /// Run one role against this host, without a playbook.
    #[arg(long = "role")]
    pub role: Option<String>,
    /// Exit 2 when something changed (apply).
    #[arg(long = "detailed-exitcode")]
    pub detailed_exitcode: bool,
    /// Output format.
    #[arg(long = "output", value_enum, default_value = "human")]
    pub output: Output,
    /// Run each play on every host it matches (within --limit), all on this machine, as
    /// ansible-playbook would: the hosts take turns task by task. A host whose connection
    /// is not local (ansible_connection, `connection:`, -c; ssh by default) is
    /// unreachable: give -c local to run them all here. Without it, the agent configures
    /// one host, this one.
    #[arg(
        long = "local-hosts",
        env = "AGENT_LOCAL_HOSTS",
        action = clap::ArgAction::SetTrue,
        value_parser = ansible_boolean,
        hide_env_values = true
    )]
    pub local_hosts: bool,
    /// Exit codes of `apply`: the agent's, or ansible-playbook's (for scripts that
    /// test them).
    #[arg(
        long = "exit-codes",
        value_enum,
        env = "AGENT_EXIT_CODES",
        default_value = "agent"
    )]
    pub exit_codes: ExitCodes,
    /// Accepted for compatibility with ansible-playbook (always a local connection).
    #[arg(short = 'c', long = "connection", hide = true)]
    pub connection: Option<String>,
    /// The configuration file (read when no playbook is given).
    #[arg(
        long = "config",
        env = "AGENT_CONFIG",
        default_value = "/etc/agent/agent.toml"
    )]
    pub config: PathBuf,
    /// Where the configuration comes from, instead of the playbook argument or the
    /// file's `source`: a directory, a bundle file, file://…, s3://bucket/key, ssm:/prefix.
    #[arg(long = "source")]
    pub source: Option<String>,
    /// Write no last_run.json and upload no report (`demo`, benchmarks).
    #[arg(skip)]
    pub no_state_files: bool,
    /// When another run holds the run lock: wait for it (for SECONDS at most; no value:
    /// as long as it takes) instead of exiting with code 3.
    #[arg(long = "wait", value_name = "SECONDS", num_args = 0..=1, require_equals = true)]
    pub wait: Option<Option<u64>>,
}

impl RunArgs {
    /// Only loads and lists (--syntax-check, --list-tasks, --list-tags): no run lock.
    pub fn inspects_only(&self) -> bool {
        self.syntax_check || self.list_tasks || self.list_tags || self.list_hosts
    }

    /// A run of one playbook with these extra vars and every other flag at its default
    /// (for callers that are not the command line: `demo`, benchmarks).
    pub fn for_playbook(playbook: std::path::PathBuf, extra_vars: Vec<String>) -> RunArgs {
        RunArgs {
            playbook: Some(playbook),
            inventory: Vec::new(),
            limit: None,
            tags: Vec::new(),
            skip_tags: Vec::new(),
            extra_vars,
            vault_password_files: Vec::new(),
            vault_ids: Vec::new(),
            check: false,
            diff: false,
            roles_path: Vec::new(),
            verbose: 0,
            list_tasks: false,
            list_tags: false,
            list_hosts: false,
            syntax_check: false,
            start_at_task: None,
            force_handlers: false,
            flush_cache: false,
            role: None,
            detailed_exitcode: false,
            output: Output::Human,
            exit_codes: ExitCodes::Agent,
            local_hosts: false,
            connection: None,
            config: PathBuf::from("/nonexistent/agent.toml"),
            source: None,
            no_state_files: true,
            wait: None,
        }
    }
}

/// Which exit codes `apply` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExitCodes {
    /// The agent's own (README, "Exit codes"): 1 for any failure.
    Agent,
    /// ansible-playbook's, for scripts written for it: 2 a host failed, 4 a host was
    /// unreachable or the playbook did not parse, 99 stopped by a signal.
    Ansible,
}

#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Keep the temporary directory (prints its path).
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Args, Clone)]
pub struct FactsArgs {
    /// Only facts whose `ansible_` name matches this fnmatch pattern (repeatable).
    #[arg(long)]
    pub filter: Vec<String>,
    /// Subsets to gather, as setup's gather_subset (comma-separated, repeatable; `!x` excludes).
    #[arg(
        long = "gather-subset",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    pub gather_subset: Vec<String>,
    /// Directory of local facts (*.fact).
    #[arg(long = "fact-path", default_value = "/etc/ansible/facts.d")]
    pub fact_path: String,
}

/// Exit codes, documented in README and docs/.
pub mod exit {
    pub const OK: i32 = 0;
    /// A failure, or a run stopped early by SIGTERM/SIGINT.
    pub const FAILED: i32 = 1;
    /// `check` found drift, or `apply --detailed-exitcode` changed something.
    pub const CHANGED: i32 = 2;
    /// Another run holds the run lock (and `--wait` was not given, or ran out).
    pub const LOCKED: i32 = 3;
    /// The run used the last-known-good bundle: the source could not be reached or gave
    /// a bundle that did not match its pin.
    pub const STALE_SOURCE: i32 = 4;

    /// ansible-playbook's codes (`--exit-codes ansible`; ansible-core's `ExitCode`).
    pub mod ansible {
        /// A task failed on a host (and was not rescued).
        pub const HOST_FAILED: i32 = 2;
        /// A host was unreachable (Ansible's strategy says this before failed hosts).
        pub const HOST_UNREACHABLE: i32 = 4;
        /// The playbook, a role or a vars file did not parse.
        pub const PARSER_ERROR: i32 = 4;
        /// Stopped by a signal.
        pub const INTERRUPTED: i32 = 99;
    }
}

/// Ansible's lenient `boolean(value, strict=False)` for settings read from the environment:
/// yes/on/1/true/y/t in any case are true, anything else (even garbage) is false. Never an
/// error, so an odd `ANSIBLE_FORCE_HANDLERS` cannot stop a run.
pub(crate) fn ansible_boolean(value: &str) -> Result<bool, std::convert::Infallible> {
    Ok(matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "y" | "yes" | "on" | "1" | "true" | "t"
    ))
}

#[cfg(test)]
mod boolean_tests {
    use super::ansible_boolean;

    #[test]
    fn lenient_like_ansible() {
        for t in ["yes", "True", " on ", "1", "t", "Y"] {
            assert_eq!(ansible_boolean(t), Ok(true), "{t}");
        }
        for f in ["no", "false", "0", "", "maybe"] {
            assert_eq!(ansible_boolean(f), Ok(false), "{f}");
        }
    }
}
