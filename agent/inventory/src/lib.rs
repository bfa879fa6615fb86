//! Ansible inventories: INI and YAML files or directories of them, `group_vars/` and
//! `host_vars/` beside the inventory and beside the playbook, host patterns for
//! `--limit` and `hosts:`, and the per-host variable merge in Ansible's order.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
pub use minijinja::Value;

/// An inventory error, with the file and (where the input has lines) line and column.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{line}:{col}: {message}")]
pub struct InventoryError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct Host {
    pub name: String,
    /// Variables set on the host in inventory files (not host_vars/).
    pub vars: IndexMap<String, Value>,
}

#[derive(Debug, Clone, Default)]
pub struct Group {
    pub name: String,
    pub vars: IndexMap<String, Value>,
    pub hosts: Vec<String>,
    pub children: Vec<String>,
}

/// A loaded inventory. `all` and `ungrouped` always exist.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub hosts: IndexMap<String, Host>,
    pub groups: IndexMap<String, Group>,
    /// Directories whose `group_vars/` and `host_vars/` apply (inventory dirs first).
    pub vars_dirs: Vec<PathBuf>,
}

impl Inventory {
    /// Load inventory sources (files or directories), in order. With no sources, an
    /// inventory holding only `localhost` (implicit) is returned.
    pub fn load(sources: &[PathBuf]) -> Result<Inventory, InventoryError> {
        let _ = sources;
        Ok(Inventory::default())
    }

    /// Add the playbook directory, whose `group_vars/`/`host_vars/` take precedence over
    /// the inventory's.
    pub fn add_playbook_dir(&mut self, dir: &Path) {
        self.vars_dirs.push(dir.to_path_buf());
    }

    /// Hosts matching an Ansible host pattern (`all`, `web:&prod:!web3`, `web[0:2]`,
    /// `~regex`, `*.example.com`, comma lists), in inventory order.
    pub fn select(&self, pattern: &str) -> Result<Vec<String>, InventoryError> {
        let _ = pattern;
        Ok(Vec::new())
    }

    /// Group names of a host (sorted, without `all`), as `group_names` gives them.
    pub fn group_names(&self, host: &str) -> Vec<String> {
        let _ = host;
        Vec::new()
    }

    /// The `groups` magic variable: every group to its hosts.
    pub fn groups_value(&self) -> Value {
        Value::from(())
    }

    /// A host's inventory variables merged in Ansible's order (group vars by depth,
    /// priority and name; group_vars/ and host_vars/ files; host vars last).
    pub fn host_vars(&self, host: &str) -> Result<IndexMap<String, Value>, InventoryError> {
        let _ = host;
        Ok(IndexMap::new())
    }
}
