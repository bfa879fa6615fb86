//! The `package` module (ansible.builtin.package): Ansible's action plugin picks the
//! package manager module from `use`, then the `ansible_package_use` variable, then the
//! `pkg_mgr` fact (detected here, as `setup` would, when facts were not gathered), and
//! hands it every argument but `use`.

use indexmap::IndexMap;
use minijinja::Value;

use crate::spec::Args;
use crate::{Ctx, ModuleError, ResultMap};

/// A variable as the task sees it (the highest layer that defines it).
fn var(ctx: &Ctx<'_>, name: &str) -> Option<Value> {
    ctx.vars.layers.iter().find_map(|l| {
        l.get_attr(name)
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_none())
    })
}

/// What Ansible's `pkg_mgr` fact says on this host (the managers agent knows).
pub(crate) fn detect_pkg_mgr() -> Option<&'static str> {
    let exists = |p: &str| std::path::Path::new(p).exists();
    if exists("/usr/bin/apt-get") {
        return Some("apt");
    }
    for bin in ["/usr/bin/dnf", "/usr/bin/microdnf"] {
        if exists(bin) {
            let real = std::fs::canonicalize(bin).ok();
            return Some(
                if real.as_deref() == Some(std::path::Path::new("/usr/bin/dnf5")) {
                    "dnf5"
                } else {
                    "dnf"
                },
            );
        }
    }
    if exists("/usr/bin/yum") {
        return Some("dnf");
    }
    None
}

/// The backend module's name for this task.
pub(crate) fn backend(raw: &IndexMap<String, Value>, ctx: &Ctx<'_>) -> Result<String, ModuleError> {
    let mut module = raw
        .get("use")
        .filter(|v| !v.is_none())
        .map(|v| v.to_string())
        .unwrap_or_else(|| "auto".into());
    if module == "auto" {
        module = match var(ctx, "ansible_package_use") {
            Some(v) => v.to_string(),
            None => {
                let fact = var(ctx, "ansible_facts")
                    .and_then(|f| f.get_attr("pkg_mgr").ok())
                    .filter(|v| !v.is_undefined() && !v.is_none() && v.is_true())
                    .map(|v| v.to_string());
                match fact.or_else(|| detect_pkg_mgr().map(str::to_string)) {
                    Some(m) => m,
                    None => {
                        return Err(ModuleError::new(
                            "Could not detect which package manager to use. Try gathering facts or setting the \"use\" option.",
                        ));
                    }
                }
            }
        };
    }
    if module == "auto" || module.is_empty() || module == "unknown" {
        return Err(ModuleError::new(
            "Could not detect which package manager to use. Try gathering facts or setting the \"use\" option.",
        ));
    }
    Ok(module)
}

/// Run the task with its package manager's module.
pub fn run(
    _name: &str,
    raw: &IndexMap<String, Value>,
    ctx: &Ctx<'_>,
) -> Result<ResultMap, ModuleError> {
    let module = backend(raw, ctx)?;
    // dnf5 hosts are driven through the dnf module (same arguments).
    let lookup = if module == "dnf5" {
        "dnf"
    } else {
        module.as_str()
    };
    let Some(entry) = crate::registry::find(lookup).filter(|e| e.name != "package") else {
        return Err(ModuleError::new(format!(
            "Could not find a matching action for the \"{module}\" package manager."
        )));
    };
    let mut args = raw.clone();
    args.shift_remove("use");
    (entry.run)(entry.name, &args, ctx)
}

/// Arguments are checked by the backend module when the task runs (as in Ansible, whose
/// action plugin does not validate them either).
pub fn validate(_name: &str, _raw: &IndexMap<String, Value>) -> Result<Args, ModuleError> {
    Ok(Args::default())
}
