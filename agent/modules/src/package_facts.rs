//! The `package_facts` module: `ansible_facts.packages` (name → list of installed
//! versions) from the dpkg status file (manager `apt`) or one `rpm -qa` (manager `rpm`).

use indexmap::IndexMap;
use minijinja::Value;

use crate::host::dpkg::{self, DpkgStatus};
use crate::host::rpm;
use crate::spec::{Arg, Args, Def, Ty};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap};

pub struct PackageFacts;

const SPEC: &[Arg] = &[
    Arg::new("manager", Ty::List).default(Def::Str("auto")),
    Arg::str("strategy")
        .default(Def::Str("first"))
        .choices(&["first", "all"]),
];

/// Managers agent reads, with Ansible's aliases.
const KNOWN: &[&str] = &["apt", "rpm", "dnf", "dnf5", "yum", "zypper"];

fn canonical(m: &str) -> &str {
    match m {
        "dnf" | "dnf5" | "yum" | "zypper" => "rpm",
        other => other,
    }
}

fn entry(pairs: &[(&str, Value)]) -> Value {
    let m: IndexMap<String, Value> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    Value::from_pairs(m)
}

/// The apt manager's view of the dpkg database.
pub(crate) fn apt_packages(st: &DpkgStatus) -> IndexMap<String, Vec<Value>> {
    let mut out: IndexMap<String, Vec<Value>> = IndexMap::new();
    let mut pkgs: Vec<&dpkg::DpkgPackage> = st.installed_packages().collect();
    pkgs.sort_by(|a, b| a.name.cmp(&b.name));
    for p in pkgs {
        let name = if p.arch == st.native_arch || p.arch == "all" || st.native_arch.is_empty() {
            p.name.clone()
        } else {
            format!("{}:{}", p.name, p.arch)
        };
        let e = entry(&[
            ("name", Value::from(name.as_str())),
            ("version", Value::from(p.version.as_str())),
            ("arch", Value::from(p.arch.as_str())),
            ("category", Value::from(p.section.as_str())),
            ("source", Value::from("apt")),
        ]);
        out.entry(name).or_default().push(e);
    }
    out
}

/// The rpm manager's entries (Ansible's `None` strings for missing fields).
pub(crate) fn rpm_packages(list: &[rpm::RpmPackage]) -> IndexMap<String, Vec<Value>> {
    let none = |s: &str| {
        if s.is_empty() {
            "None".to_string()
        } else {
            s.to_string()
        }
    };
    let mut out: IndexMap<String, Vec<Value>> = IndexMap::new();
    for p in list {
        let e = entry(&[
            ("name", Value::from(p.name.as_str())),
            ("version", Value::from(none(&p.version))),
            ("release", Value::from(none(&p.release))),
            ("epoch", Value::from(none(&p.epoch))),
            ("arch", Value::from(none(&p.arch))),
            ("source", Value::from("rpm")),
        ]);
        out.entry(p.name.clone()).or_default().push(e);
    }
    out
}

/// What observe finds: packages by name, and warnings.
#[derive(Debug, Default)]
pub struct Found {
    packages: IndexMap<String, Vec<Value>>,
    found: usize,
    warnings: Vec<String>,
}

impl Module for PackageFacts {
    const SPECS: &'static [&'static [Arg]] = &[SPEC];
    type Observed = Found;
    type Op = ();

    fn observe(args: &Args, _ctx: &Ctx<'_>) -> Result<Found, ModuleError> {
        let given: Vec<String> = match args.get("manager").and_then(|v| v.as_str()) {
            Some(s) => vec![s.to_lowercase()],
            None => args
                .list_str("manager")
                .iter()
                .map(|m| m.to_lowercase())
                .collect(),
        };
        let auto = given.iter().any(|m| m == "auto");
        let mut managers: Vec<String> = given.iter().filter(|m| *m != "auto").cloned().collect();
        if auto {
            managers.extend(["apt", "rpm"].iter().map(|s| s.to_string()));
        }
        let unsupported: Vec<&String> = managers
            .iter()
            .filter(|m| !KNOWN.contains(&m.as_str()))
            .collect();
        if !unsupported.is_empty() {
            let names: Vec<&str> = unsupported.iter().map(|s| s.as_str()).collect();
            return Err(ModuleError::new(format!(
                "Unsupported package managers requested: {}",
                names.join(", ")
            )));
        }
        let first = args.str("strategy") != Some("all");
        let mut f = Found::default();
        let mut seen: Vec<&str> = Vec::new();
        for m in &managers {
            if first && f.found > 0 {
                break;
            }
            let m = canonical(m);
            if seen.contains(&m) {
                continue;
            }
            seen.push(m);
            let found = match m {
                "apt" => {
                    if !std::path::Path::new("/usr/bin/apt-get").exists() {
                        continue;
                    }
                    let st = DpkgStatus::read(std::path::Path::new(dpkg::STATUS_PATH))
                        .map_err(|e| ModuleError::new(e.to_string()))?;
                    apt_packages(&st)
                }
                _ => {
                    if !std::path::Path::new("/usr/bin/rpm").exists() {
                        continue;
                    }
                    match rpm::query_all() {
                        Ok(l) => rpm_packages(&l),
                        Err(e) => {
                            f.warnings
                                .push(format!("Failed to retrieve packages with rpm: {}", e.msg));
                            continue;
                        }
                    }
                }
            };
            if found.is_empty() {
                f.warnings
                    .push(format!("Found \"{m}\" but no associated packages"));
                continue;
            }
            f.found += 1;
            for (k, v) in found {
                f.packages.entry(k).or_default().extend(v);
            }
        }
        if f.found == 0 {
            let list: Vec<String> = managers.iter().map(|m| format!("'{m}'")).collect();
            return Err(ModuleError::new(format!(
                "Could not detect a supported package manager from the following list: [{}], or the required Python library is not installed. Check warnings for details.",
                list.join(", ")
            )));
        }
        Ok(f)
    }

    fn plan(_args: &Args, o: &Found, _ctx: &Ctx<'_>) -> Result<Plan<()>, ModuleError> {
        let mut plan = Plan::default();
        let packages: IndexMap<String, Value> = o
            .packages
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        let mut facts = IndexMap::new();
        facts.insert("packages".to_string(), Value::from_pairs(packages));
        plan.set("ansible_facts", Value::from_pairs(facts));
        if !o.warnings.is_empty() {
            plan.set(
                "warnings",
                Value::from(
                    o.warnings
                        .iter()
                        .map(|w| Value::from(w.as_str()))
                        .collect::<Vec<_>>(),
                ),
            );
        }
        Ok(plan)
    }

    fn apply(
        _args: &Args,
        _o: Found,
        _plan: &Plan<()>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        Ok(ResultMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_shape() {
        let st = dpkg::parse_status(
            "Package: dpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.21\nSection: admin\n\nPackage: libc6\nStatus: install ok installed\nArchitecture: i386\nVersion: 2.36\n\nPackage: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n",
        );
        let p = apt_packages(&st);
        assert_eq!(p.keys().collect::<Vec<_>>(), vec!["dpkg", "libc6:i386"]);
        let d = &p["dpkg"][0];
        assert_eq!(d.get_attr("version").unwrap().as_str(), Some("1.21"));
        assert_eq!(d.get_attr("category").unwrap().as_str(), Some("admin"));
        assert_eq!(d.get_attr("source").unwrap().as_str(), Some("apt"));
    }

    #[test]
    fn rpm_shape() {
        let l = vec![rpm::RpmPackage {
            name: "bash".into(),
            epoch: String::new(),
            version: "5.2".into(),
            release: "1".into(),
            arch: "x86_64".into(),
        }];
        let p = rpm_packages(&l);
        let b = &p["bash"][0];
        assert_eq!(b.get_attr("epoch").unwrap().as_str(), Some("None"));
        assert_eq!(b.get_attr("source").unwrap().as_str(), Some("rpm"));
    }
}
