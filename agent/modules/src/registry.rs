//! The one static list of modules, by every name a task may use.

use indexmap::IndexMap;
use minijinja::Value;

use crate::spec::Args;
use crate::{Ctx, Module, ModuleError, ResultMap};

type RunFn = fn(&str, &IndexMap<String, Value>, &Ctx<'_>) -> Result<ResultMap, ModuleError>;
type ValidateFn = fn(&str, &IndexMap<String, Value>) -> Result<Args, ModuleError>;
type InvocationFn = fn(&str, &IndexMap<String, Value>) -> Option<Value>;

/// A registered module.
pub struct Entry {
    /// Short name (`file`); `ansible.builtin.` / `ansible.legacy.` forms resolve to it.
    pub name: &'static str,
    /// Other names (collection FQCNs, old names).
    pub aliases: &'static [&'static str],
    /// Takes a free-form string (`command: ls -l`) as `_raw_params`.
    pub free_form: bool,
    pub run: RunFn,
    pub validate: ValidateFn,
    /// The result's `invocation` when `ansible_inject_invocation` is on.
    pub invocation: InvocationFn,
}

const fn entry<M: Module>(
    name: &'static str,
    aliases: &'static [&'static str],
    free_form: bool,
) -> Entry {
    Entry {
        name,
        aliases,
        free_form,
        run: crate::run::<M>,
        validate: crate::validate::<M>,
        invocation: crate::invocation::<M>,
    }
}

/// A module that runs another one (`package` hands its task to apt or dnf).
const fn dispatcher(
    name: &'static str,
    aliases: &'static [&'static str],
    run: RunFn,
    validate: ValidateFn,
) -> Entry {
    Entry {
        name,
        aliases,
        free_form: false,
        run,
        validate,
        // The module that does the work adds its own in Ansible; not known here.
        invocation: |_, _| None,
    }
}

/// Every module the agent has.
pub static MODULES: &[Entry] = &[
    entry::<crate::file::File>("file", &[], false),
    entry::<crate::copy::Copy>("copy", &[], false),
    entry::<crate::stat::Stat>("stat", &[], false),
    entry::<crate::slurp::Slurp>("slurp", &[], false),
    entry::<crate::find::Find>("find", &[], false),
    entry::<crate::getent::Getent>("getent", &[], false),
    entry::<crate::tempfile::Tempfile>("tempfile", &[], false),
    entry::<crate::template::Template>("template", &[], false),
    entry::<crate::lineinfile::Lineinfile>("lineinfile", &[], false),
    entry::<crate::blockinfile::Blockinfile>("blockinfile", &[], false),
    entry::<crate::replace::Replace>("replace", &[], false),
    entry::<crate::ini_file::IniFile>("ini_file", &["community.general.ini_file"], false),
    entry::<crate::pam_limits::PamLimits>("pam_limits", &["community.general.pam_limits"], false),
    entry::<crate::modprobe::Modprobe>("modprobe", &["community.general.modprobe"], false),
    entry::<crate::hostname::Hostname>("hostname", &[], false),
    entry::<crate::timezone::Timezone>("timezone", &["community.general.timezone"], false),
    entry::<crate::git::Git>("git", &[], false),
    entry::<crate::get_url::GetUrl>("get_url", &[], false),
    entry::<crate::uri::Uri>("uri", &[], false),
    entry::<crate::unarchive::Unarchive>("unarchive", &[], false),
    entry::<crate::pip::Pip>("pip", &[], false),
    entry::<crate::command::Command>("command", &[], true),
    entry::<crate::command::Shell>("shell", &[], true),
    entry::<crate::command::Raw>("raw", &[], true),
    entry::<crate::script::Script>("script", &[], true),
    entry::<crate::apt::Apt>("apt", &[], false),
    entry::<crate::dnf::Dnf>(
        "dnf",
        &[
            "yum",
            "ansible.builtin.yum",
            "ansible.legacy.yum",
            "dnf5",
            "ansible.builtin.dnf5",
        ],
        false,
    ),
    entry::<crate::package_facts::PackageFacts>("package_facts", &[], false),
    entry::<crate::apt_repository::AptRepository>("apt_repository", &[], false),
    entry::<crate::deb822_repository::Deb822Repository>("deb822_repository", &[], false),
    dispatcher(
        "package",
        &[],
        crate::package::run,
        crate::package::validate,
    ),
    entry::<crate::systemd::Systemd>(
        "systemd_service",
        &[
            "systemd",
            "ansible.builtin.systemd",
            "ansible.legacy.systemd",
        ],
        false,
    ),
    entry::<crate::systemd::Service>("service", &[], false),
    entry::<crate::service_facts::ServiceFacts>("service_facts", &[], false),
    entry::<crate::user::User>("user", &[], false),
    entry::<crate::group::Group>("group", &[], false),
    entry::<crate::cron::Cron>("cron", &[], false),
    entry::<crate::authorized_key::AuthorizedKey>(
        "authorized_key",
        &["ansible.posix.authorized_key"],
        false,
    ),
    entry::<crate::mount::Mount>("mount", &["ansible.posix.mount"], false),
    entry::<crate::filesize::Filesize>("filesize", &["community.general.filesize"], false),
    entry::<crate::filesystem::Filesystem>("filesystem", &["community.general.filesystem"], false),
    entry::<crate::sysctl::Sysctl>("sysctl", &["ansible.posix.sysctl"], false),
    entry::<crate::wait_for::WaitFor>("wait_for", &[], false),
];

/// Find a module by the name a task uses.
pub fn find(name: &str) -> Option<&'static Entry> {
    let short = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name);
    MODULES
        .iter()
        .find(|e| e.name == short || e.aliases.contains(&name))
}

/// All names, for "did you mean" hints.
pub fn names() -> impl Iterator<Item = &'static str> {
    MODULES
        .iter()
        .flat_map(|e| std::iter::once(e.name).chain(e.aliases.iter().copied()))
}
