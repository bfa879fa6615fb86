//! Fact gathering the way Ansible's `setup` module does it on Linux, without Python and
//! without spawning processes: everything is read from /proc, /sys, /etc and system calls.
//!
//! One module per collector, named like Ansible's `module_utils/facts` collectors. Facts
//! are returned without the `ansible_` prefix (as `ansible_facts` holds them); the engine
//! adds the prefixed top-level copies.
//!
//! Subsets and filters follow `module_utils/facts/collector.py` and `ansible_collector.py`:
//! `gather_subset` (`all`, `min`, collector names and fact ids, `!name` exclusions, the
//! setup module's minimal set) and `filter` (fnmatch patterns on the `ansible_` names).
//!
//! [`Cache`] keeps, for one run, the parts that cannot change without a reboot (see
//! [`Cache`] for the list); everything else is read again at each gathering.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

mod apparmor;
mod caps;
mod chroot;
mod cmdline;
mod date_time;
mod devices;
mod distribution;
mod dmi;
mod dns;
mod env;
mod fc_wwn;
mod fips;
mod hardware;
mod iscsi;
pub mod kept;
mod loadavg;
mod local;
mod lsb;
mod mounts;
mod network;
mod nvme;
mod pkg_mgr;
mod platform;
mod python;
mod selinux;
mod service_mgr;
mod ssh_pub_keys;
mod systemd;

/// Start the systemd collector's one program early (see the `systemd` collector).
pub use systemd::prefetch as prefetch_systemd;
pub use systemd::set_run_dir as set_systemd_run_dir;
mod user;
mod util;
mod virt;

pub use util::fnmatch;

/// A facts dict: names without the `ansible_` prefix.
pub type Facts = serde_json::Map<String, Value>;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    /// Ansible's wording for an unknown `gather_subset` entry.
    #[error("Bad subset '{0}' given to Ansible. gather_subset options allowed: all, {1}")]
    BadSubset(String, String),
}

/// The setup module's parameters.
#[derive(Debug, Clone)]
pub struct Options {
    pub gather_subset: Vec<String>,
    pub filter: Vec<String>,
    /// Seconds; bounds the statvfs of network mounts (Ansible's per-mount time limit).
    pub gather_timeout: u64,
    pub fact_path: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            gather_subset: vec!["all".into()],
            filter: Vec::new(),
            gather_timeout: 10,
            fact_path: "/etc/ansible/facts.d".into(),
        }
    }
}

/// Facts kept between gatherings of one run. Cached (read once per run): kernel identity
/// from uname (system, kernel, kernel_version, machine, architecture, userspace_*), CPU
/// (/proc/cpuinfo), DMI (/sys/class/dmi), the kernel command line, fips, selinux and
/// apparmor status, virtualization, python, caps and systemd's version. Read again each time: host names,
/// distribution and lsb (an upgrade changes them), memory, mounts, devices, uptime,
/// loadavg, network, dns, date_time, env, user, service_mgr, pkg_mgr, machine_id and
/// local facts. Between them, the costly ones (block devices, mounts, network) are kept
/// from one gathering to the next while no task has changed the host in between
/// ([`Cache::host_changed`]): the next play of a no-op run reuses them.
#[derive(Debug, Default)]
pub struct Cache {
    parts: HashMap<&'static str, Facts>,
    /// The devices, mounts and network facts gathered since a task last changed the host
    /// (emptied by [`Cache::host_changed`], so whatever it holds is current).
    snapshot: HashMap<&'static str, Facts>,
}

impl Cache {
    pub fn new() -> Self {
        Self::default()
    }

    fn get_or(&mut self, key: &'static str, f: impl FnOnce() -> Facts) -> Facts {
        self.parts.entry(key).or_insert_with(f).clone()
    }

    /// The last gathering's `key` part, when no task has changed the host since.
    fn current(&self, key: &str) -> Option<Facts> {
        self.snapshot.get(key).cloned()
    }

    fn keep(&mut self, key: &'static str, facts: &Facts) {
        self.snapshot.insert(key, facts.clone());
    }

    /// A task may have changed the host: the next gathering reads everything again.
    pub fn host_changed(&mut self) {
        self.snapshot.clear();
        // what was read before the run's first task is no longer current either
        drop(prefetched().take());
    }

    /// Forget everything (a new run).
    pub fn clear(&mut self) {
        self.parts.clear();
        self.host_changed();
    }

    /// Take what [`prefetch_costly`] read at the start of the run, when nothing has been
    /// gathered yet (mounts only when they were read with this `gather_timeout`).
    fn adopt_prefetch(&mut self, timeout: u64) {
        if !self.snapshot.is_empty() {
            return;
        }
        if let Some(p) = prefetched().take() {
            self.adopt(p, timeout);
        }
    }

    fn adopt(&mut self, p: Prefetch, timeout: u64) {
        let Ok(costly) = p.handle.join() else { return };
        self.snapshot.insert("devices", costly.devices);
        self.snapshot.insert("network", costly.network);
        if p.timeout == timeout {
            self.snapshot.insert("mounts", costly.mounts);
        }
    }
}

struct Costly {
    devices: Facts,
    mounts: Facts,
    network: Facts,
}

struct Prefetch {
    timeout: u64,
    handle: std::thread::JoinHandle<Costly>,
}

static PREFETCHED: std::sync::Mutex<Option<Prefetch>> = std::sync::Mutex::new(None);

fn prefetched() -> std::sync::MutexGuard<'static, Option<Prefetch>> {
    PREFETCHED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Start reading the costly facts (block devices, mounts with the default
/// `gather_timeout`, network interfaces) on a thread of their own, for a run that is about
/// to load its playbook: loading keeps one core busy, and the first gathering then takes
/// them ready. They are taken only while no task has changed the host
/// ([`Cache::host_changed`] drops them), the rule the gatherings of one run already follow.
pub fn prefetch_costly() {
    // a new run: whatever an earlier run in this process left is not current
    *prefetched() = spawn_prefetch();
}

fn spawn_prefetch() -> Option<Prefetch> {
    let timeout = Options::default().gather_timeout;
    std::thread::Builder::new()
        .name("facts-prefetch".into())
        .spawn(move || {
            let network = std::thread::spawn(|| {
                let mut cache = Cache::new();
                let none = Facts::new();
                let opts = Options::default();
                let mut ctx = Ctx {
                    opts: &opts,
                    cache: &mut cache,
                    collected: &none,
                };
                network::collect(&mut ctx)
            });
            let devices = devices::collect();
            let mounts = mounts::collect(timeout);
            Costly {
                devices,
                mounts,
                network: network.join().unwrap_or_default(),
            }
        })
        .ok()
        .map(|handle| Prefetch { timeout, handle })
}

/// Collectors whose facts depend only on files and settings that a task changes (or on
/// nothing that changes at all): a later gathering in the same run takes the last one's
/// answer while no task has changed the host ([`Cache::host_changed`]). Not here: the
/// clock (`date_time`, `loadavg`, the memory and uptime parts of `hardware`), local facts
/// (`facts.d` scripts may answer differently each time), and the collectors that keep
/// their own parts.
const STABLE: &[&str] = &[
    "distribution",
    "lsb",
    "platform",
    "user",
    "pkg_mgr",
    "ssh_pub_keys",
    "service_mgr",
    "dns",
    "chroot",
    "iscsi",
    "fibre_channel_wwn",
    "nvme",
    "env",
    "python",
];

/// What a collector sees: the options, the run cache and the facts collected before it.
pub struct Ctx<'a> {
    pub opts: &'a Options,
    pub cache: &'a mut Cache,
    pub collected: &'a Facts,
}

type CollectFn = fn(&mut Ctx<'_>) -> Facts;

struct Collector {
    name: &'static str,
    ids: &'static [&'static str],
    requires: &'static [&'static str],
    collect: CollectFn,
}

/// Linux collectors in Ansible's default_collectors order (base, restrictive, general,
/// virtual, hardware, network, extra).
const COLLECTORS: &[Collector] = &[
    Collector {
        name: "platform",
        ids: &[
            "system",
            "kernel",
            "kernel_version",
            "machine",
            "python_version",
            "architecture",
            "machine_id",
        ],
        requires: &[],
        collect: platform::collect,
    },
    Collector {
        name: "distribution",
        ids: &[
            "distribution_version",
            "distribution_release",
            "distribution_major_version",
            "os_family",
        ],
        requires: &[],
        collect: distribution::collect,
    },
    Collector {
        name: "lsb",
        ids: &[],
        requires: &[],
        collect: lsb::collect,
    },
    Collector {
        name: "selinux",
        ids: &[],
        requires: &[],
        collect: selinux::collect,
    },
    Collector {
        name: "apparmor",
        ids: &[],
        requires: &[],
        collect: apparmor::collect,
    },
    Collector {
        name: "chroot",
        ids: &["is_chroot"],
        requires: &[],
        collect: chroot::collect,
    },
    Collector {
        name: "fips",
        ids: &[],
        requires: &[],
        collect: fips::collect,
    },
    Collector {
        name: "python",
        ids: &[],
        requires: &[],
        collect: python::collect,
    },
    Collector {
        name: "caps",
        ids: &["system_capabilities", "system_capabilities_enforced"],
        requires: &[],
        collect: caps::collect,
    },
    Collector {
        name: "pkg_mgr",
        ids: &[],
        requires: &["distribution"],
        collect: pkg_mgr::collect,
    },
    Collector {
        name: "service_mgr",
        ids: &[],
        requires: &["platform", "distribution"],
        collect: service_mgr::collect,
    },
    Collector {
        name: "cmdline",
        ids: &[],
        requires: &[],
        collect: cmdline::collect,
    },
    Collector {
        name: "date_time",
        ids: &[],
        requires: &[],
        collect: date_time::collect,
    },
    Collector {
        name: "env",
        ids: &[],
        requires: &[],
        collect: env::collect,
    },
    Collector {
        name: "loadavg",
        ids: &[],
        requires: &[],
        collect: loadavg::collect,
    },
    Collector {
        name: "ssh_pub_keys",
        ids: &[
            "ssh_host_pub_keys",
            "ssh_host_key_dsa_public",
            "ssh_host_key_rsa_public",
            "ssh_host_key_ecdsa_public",
            "ssh_host_key_ed25519_public",
        ],
        requires: &[],
        collect: ssh_pub_keys::collect,
    },
    Collector {
        name: "user",
        ids: &[
            "user_id",
            "user_uid",
            "user_gid",
            "user_gecos",
            "user_dir",
            "user_shell",
            "real_user_id",
            "effective_user_id",
            "effective_group_ids",
        ],
        requires: &[],
        collect: user::collect,
    },
    Collector {
        name: "systemd",
        ids: &[],
        requires: &[],
        collect: systemd::collect,
    },
    Collector {
        name: "virtual",
        ids: &[
            "virtualization_type",
            "virtualization_role",
            "virtualization_tech_guest",
            "virtualization_tech_host",
        ],
        requires: &[],
        collect: virt::collect,
    },
    Collector {
        name: "hardware",
        ids: &[
            "processor",
            "processor_cores",
            "processor_count",
            "mounts",
            "devices",
        ],
        requires: &["platform"],
        collect: hardware::collect,
    },
    Collector {
        name: "dns",
        ids: &[],
        requires: &[],
        collect: dns::collect,
    },
    Collector {
        name: "fibre_channel_wwn",
        ids: &[],
        requires: &[],
        collect: fc_wwn::collect,
    },
    Collector {
        name: "network",
        ids: &[
            "interfaces",
            "default_ipv4",
            "default_ipv6",
            "all_ipv4_addresses",
            "all_ipv6_addresses",
        ],
        requires: &["distribution", "platform"],
        collect: network::collect,
    },
    Collector {
        name: "iscsi",
        ids: &[],
        requires: &[],
        collect: iscsi::collect,
    },
    Collector {
        name: "nvme",
        ids: &[],
        requires: &[],
        collect: nvme::collect,
    },
    Collector {
        name: "local",
        ids: &[],
        requires: &[],
        collect: local::collect,
    },
    // facter and ohai run external programs: accepted, collect nothing.
    Collector {
        name: "facter",
        ids: &["facter"],
        requires: &[],
        collect: nothing,
    },
    Collector {
        name: "ohai",
        ids: &[],
        requires: &[],
        collect: nothing,
    },
];

fn nothing(_: &mut Ctx<'_>) -> Facts {
    Facts::new()
}

/// The setup module's `minimal_gather_subset`.
pub const MINIMAL_GATHER_SUBSET: &[&str] = &[
    "apparmor",
    "caps",
    "cmdline",
    "date_time",
    "distribution",
    "dns",
    "env",
    "fips",
    "local",
    "lsb",
    "pkg_mgr",
    "platform",
    "python",
    "selinux",
    "service_mgr",
    "ssh_pub_keys",
    "user",
];

fn valid_subsets() -> BTreeSet<&'static str> {
    let mut v = BTreeSet::new();
    for c in COLLECTORS {
        v.insert(c.name);
        v.extend(c.ids.iter().copied());
    }
    v
}

/// Ansible's `get_collector_names`: the subset ids a `gather_subset` spec selects.
pub fn collector_names(gather_subset: &[String]) -> Result<BTreeSet<String>, Error> {
    let valid = valid_subsets();
    let minimal: BTreeSet<&str> = MINIMAL_GATHER_SUBSET.iter().copied().collect();
    let aliases = |name: &str| -> Vec<&'static str> {
        COLLECTORS
            .iter()
            .filter(|c| c.name == name)
            .flat_map(|c| c.ids.iter().copied())
            .collect()
    };
    let mut spec: Vec<&str> = vec!["min"];
    if gather_subset.is_empty() {
        spec.push("all");
    } else {
        spec.extend(gather_subset.iter().map(String::as_str));
    }
    let mut additional: BTreeSet<String> = BTreeSet::new();
    let mut exclude: BTreeSet<String> = BTreeSet::new();
    let mut explicit: BTreeSet<String> = BTreeSet::new();
    for s in spec {
        match s {
            "min" => additional.extend(minimal.iter().map(|x| x.to_string())),
            "all" => additional.extend(valid.iter().map(|x| x.to_string())),
            _ => {
                if let Some(name) = s.strip_prefix('!') {
                    match name {
                        "min" => exclude.extend(minimal.iter().map(|x| x.to_string())),
                        "all" => exclude.extend(
                            valid
                                .iter()
                                .filter(|x| !minimal.contains(*x))
                                .map(|x| x.to_string()),
                        ),
                        _ => {
                            exclude.extend(aliases(name).into_iter().map(String::from));
                            exclude.insert(name.to_string());
                        }
                    }
                } else {
                    if !valid.contains(s) {
                        let allowed: Vec<&str> = valid.iter().copied().collect();
                        return Err(Error::BadSubset(s.to_string(), allowed.join(", ")));
                    }
                    explicit.insert(s.to_string());
                    additional.insert(s.to_string());
                }
            }
        }
    }
    if additional.is_empty() {
        additional.extend(valid.iter().map(|x| x.to_string()));
    }
    for e in exclude {
        if !explicit.contains(&e) {
            additional.remove(&e);
        }
    }
    Ok(additional)
}

/// The collectors (in collection order) for a set of subset ids, with their requirements.
fn select(names: &BTreeSet<String>) -> Vec<&'static Collector> {
    let mut chosen: BTreeSet<&'static str> = BTreeSet::new();
    for c in COLLECTORS {
        if names.contains(c.name) || c.ids.iter().any(|i| names.contains(*i)) {
            chosen.insert(c.name);
        }
    }
    loop {
        let mut added = false;
        for c in COLLECTORS {
            if chosen.contains(c.name) {
                for r in c.requires {
                    added |= chosen.insert(r);
                }
            }
        }
        if !added {
            break;
        }
    }
    COLLECTORS
        .iter()
        .filter(|c| chosen.contains(c.name))
        .collect()
}

/// Ansible's `AnsibleFactCollector._filter` on one (prefixed) fact name.
pub fn filter_matches(prefixed: &str, filter: &[String]) -> bool {
    if filter.is_empty() || (filter.len() == 1 && filter[0] == "*") {
        return true;
    }
    filter.iter().any(|f| {
        f.is_empty()
            || util::fnmatch(prefixed, f)
            || (!(f.starts_with("ansible_") || f.starts_with("facter") || f.starts_with("ohai"))
                && util::fnmatch(prefixed, &format!("ansible_{f}")))
    })
}

/// Gather facts as `setup` does with these options. Names have no `ansible_` prefix;
/// `gather_subset` and `module_setup` are included as the setup module returns them.
pub fn gather(opts: &Options, cache: &mut Cache) -> Result<Facts, Error> {
    let names = collector_names(&opts.gather_subset)?;
    let mut collected = Facts::new();
    let mut out = Facts::new();
    let chosen = select(&names);
    if chosen
        .iter()
        .any(|c| matches!(c.name, "hardware" | "network"))
    {
        // `gather_subset: min` leaves the prefetch for a later gathering that needs it
        cache.adopt_prefetch(opts.gather_timeout);
    }
    std::thread::scope(|scope| {
        // The network collector reads only the kernel (netlink, /sys, /proc) and nothing
        // other collectors found: it runs beside the others, on a thread of its own.
        let reuse_network = cache.current("network");
        let mut network = chosen
            .iter()
            .find(|c| c.name == "network" && reuse_network.is_none())
            .map(|c| {
                let collect = c.collect;
                scope.spawn(move || {
                    let mut cache = Cache::new();
                    let none = Facts::new();
                    let mut ctx = Ctx {
                        opts,
                        cache: &mut cache,
                        collected: &none,
                    };
                    collect(&mut ctx)
                })
            });
        for c in &chosen {
            let started = std::time::Instant::now();
            let got = match network.take_if(|_| c.name == "network") {
                Some(h) => {
                    let f = h.join().unwrap_or_default();
                    cache.keep("network", &f);
                    f
                }
                None if c.name == "network" && reuse_network.is_some() => {
                    reuse_network.clone().unwrap_or_default()
                }
                None => match cache.current(c.name).filter(|_| STABLE.contains(&c.name)) {
                    Some(f) => f,
                    None => {
                        let mut ctx = Ctx {
                            opts,
                            cache,
                            collected: &collected,
                        };
                        let f = (c.collect)(&mut ctx);
                        if STABLE.contains(&c.name) {
                            cache.keep(c.name, &f);
                        }
                        f
                    }
                },
            };
            tracing::trace!(
                collector = c.name,
                elapsed_us = started.elapsed().as_micros() as u64,
                "facts collected"
            );
            collected.extend(got);
        }
    });
    let all = opts.filter.is_empty() || opts.filter == ["*"];
    for (k, v) in collected {
        if all || filter_matches(&format!("ansible_{k}"), &opts.filter) {
            out.insert(k, v);
        }
    }
    let subset: Vec<Value> = if opts.gather_subset.is_empty() {
        vec![Value::from("all")]
    } else {
        opts.gather_subset
            .iter()
            .map(|s| Value::from(s.as_str()))
            .collect()
    };
    for (k, v) in [
        ("gather_subset", Value::Array(subset)),
        ("module_setup", Value::Bool(true)),
    ] {
        if filter_matches(k, &opts.filter) {
            out.insert(k.to_string(), v);
        }
    }
    out.sort_keys();
    Ok(out)
}

/// The setup module's own naming: `ansible_`-prefixed names, except `gather_subset` and
/// `module_setup`.
pub fn prefixed(facts: &Facts) -> Facts {
    facts
        .iter()
        .map(|(k, v)| {
            let name = if k == "gather_subset" || k == "module_setup" {
                k.clone()
            } else {
                format!("ansible_{k}")
            };
            (name, v.clone())
        })
        .collect()
}

/// [`gather`] with default options and no cache.
pub fn gather_all() -> Facts {
    gather(&Options::default(), &mut Cache::new()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(spec: &[&str]) -> BTreeSet<String> {
        collector_names(&spec.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap_or_default()
    }

    #[test]
    fn costly_facts_are_reused_until_the_host_changes() {
        let mut cache = Cache::new();
        let opts = Options::default();
        assert!(cache.current("mounts").is_none());
        let first = gather(&opts, &mut cache).unwrap();
        assert!(cache.current("mounts").is_some() && cache.current("network").is_some());
        let again = gather(&opts, &mut cache).unwrap();
        assert_eq!(first.get("mounts"), again.get("mounts"));
        assert_eq!(first.get("interfaces"), again.get("interfaces"));
        // the stable collectors' answers are kept too, the clock's are not
        assert!(cache.current("distribution").is_some() && cache.current("user").is_some());
        assert!(cache.current("date_time").is_none());
        assert_eq!(first.get("distribution"), again.get("distribution"));
        assert_eq!(first.get("user_id"), again.get("user_id"));
        cache.host_changed();
        assert!(cache.current("mounts").is_none() && cache.current("devices").is_none());
        assert!(cache.current("distribution").is_none());
        let changed = gather(&opts, &mut cache).unwrap();
        assert_eq!(first.get("distribution"), changed.get("distribution"));
    }

    #[test]
    fn stable_collectors_exist() {
        for name in STABLE {
            assert!(COLLECTORS.iter().any(|c| c.name == *name), "{name}");
        }
    }

    #[test]
    fn a_filter_keeps_only_matching_facts() {
        let opts = Options {
            filter: vec!["ansible_distribution*".into()],
            ..Options::default()
        };
        let f = gather(&opts, &mut Cache::new()).unwrap();
        assert!(f.contains_key("distribution"));
        assert!(!f.contains_key("user_id") && !f.contains_key("mounts"));
    }

    #[test]
    fn all_is_every_subset() {
        let n = names(&["all"]);
        assert!(n.contains("hardware") && n.contains("network") && n.contains("virtual"));
        assert!(n.contains("platform"));
    }

    #[test]
    fn not_all_leaves_min() {
        let n = names(&["!all"]);
        let min: BTreeSet<String> = MINIMAL_GATHER_SUBSET
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(n, min);
        assert!(names(&["!all", "!min"]).is_empty());
    }

    #[test]
    fn exclusion_removes_aliases() {
        let n = names(&["all", "!hardware"]);
        assert!(!n.contains("hardware") && !n.contains("mounts") && !n.contains("devices"));
        assert!(n.contains("network"));
        let n = names(&["!all", "network"]);
        assert!(n.contains("network") && !n.contains("hardware"));
    }

    #[test]
    fn explicit_wins_over_exclusion() {
        let n = names(&["!hardware", "hardware"]);
        assert!(n.contains("hardware"));
    }

    #[test]
    fn bad_subset_message() {
        let e = collector_names(&["bogus".to_string()]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("Bad subset 'bogus' given to Ansible. gather_subset options allowed: all, all_ipv4_addresses"));
    }

    #[test]
    fn prefetched_costly_facts_are_the_gathered_ones() {
        let mut cache = Cache::new();
        cache.adopt(spawn_prefetch().unwrap(), 10);
        assert!(cache.current("devices").is_some() && cache.current("network").is_some());
        let mounts = cache.current("mounts").unwrap();
        // the same mount points (sizes may move on a busy machine)
        let points = |f: &Facts| -> Vec<Value> {
            f.get("mounts")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|m| m.get("mount").cloned()).collect())
                .unwrap_or_default()
        };
        assert_eq!(points(&mounts), points(&mounts::collect(10)));
        // read with another gather_timeout: mounts are read again
        let mut cache = Cache::new();
        cache.adopt(spawn_prefetch().unwrap(), 3);
        assert!(cache.current("mounts").is_none() && cache.current("devices").is_some());
    }

    #[test]
    fn requirements_are_added() {
        let n = names(&["!all", "!min", "hardware"]);
        let sel: Vec<&str> = select(&n).iter().map(|c| c.name).collect();
        assert_eq!(sel, vec!["platform", "hardware"]);
    }

    #[test]
    fn filter_semantics() {
        let f = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(filter_matches("ansible_distribution", &f(&[])));
        assert!(filter_matches(
            "ansible_distribution",
            &f(&["distribution"])
        ));
        assert!(filter_matches(
            "ansible_distribution",
            &f(&["ansible_distr*"])
        ));
        assert!(!filter_matches(
            "ansible_distribution_version",
            &f(&["distribution"])
        ));
        assert!(!filter_matches("gather_subset", &f(&["distribution"])));
        assert!(filter_matches("ansible_eth0", &f(&["ansible_eth*", "x"])));
    }

    #[test]
    fn second_gathering_reuses_cached_parts() {
        let mut cache = Cache::new();
        let first = gather(&Options::default(), &mut cache).unwrap_or_default();
        assert!(first.contains_key("processor_vcpus"));
        // Replace a cached part: the next gathering must use it, not re-read /proc.
        let mut fake = Facts::new();
        fake.insert("processor_vcpus".into(), Value::from(4242));
        cache.parts.insert("cpu", fake);
        let second = gather(&Options::default(), &mut cache).unwrap_or_default();
        assert_eq!(second.get("processor_vcpus"), Some(&Value::from(4242)));
        // Uncached facts are read again.
        assert!(second.contains_key("date_time") && second.contains_key("mounts"));
        cache.clear();
        let third = gather(&Options::default(), &mut cache).unwrap_or_default();
        assert_eq!(third.get("processor_vcpus"), first.get("processor_vcpus"));
    }

    #[test]
    fn gather_min_with_filter() {
        let opts = Options {
            gather_subset: vec!["!all".into()],
            filter: vec!["ansible_distribution*".into()],
            ..Options::default()
        };
        let f = gather(&opts, &mut Cache::new()).unwrap_or_default();
        assert!(f.contains_key("distribution"));
        assert!(!f.contains_key("mounts") && !f.contains_key("env"));
        assert!(!f.contains_key("module_setup"));
    }
}
