//! Ansible inventories: INI and YAML files or directories of them, `group_vars/` and
//! `host_vars/` beside the inventory and beside the playbook, host patterns for
//! `--limit` and `hosts:`, and the per-host variable merge in Ansible's order.
//!
//! The behaviour follows ansible-core 2.21: `plugins/inventory/{ini,yaml,host_list}.py`,
//! `inventory/{data,group,host,manager}.py`, `plugins/vars/host_group_vars.py` and the
//! host part of `VariableManager.get_vars`.

mod address;
mod ini;
mod pattern;
mod pyliteral;
mod vars_files;
mod yaml_inv;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
pub use minijinja::Value;

pub use address::{expand_hostname_range, parse_address};
pub use pattern::split_host_pattern;
pub use pyliteral::literal_eval;
use vars_files::{DirVars, Vars};

/// Host names Ansible treats as the local machine (`C.LOCALHOST`).
pub const LOCALHOST_NAMES: [&str; 3] = ["127.0.0.1", "localhost", "::1"];

/// An inventory error, with the file and (where the input has lines) line and column.
/// A `line` of 0 means the error has no position inside the file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct InventoryError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            if self.file.is_empty() {
                write!(f, "{}", self.message)
            } else {
                write!(f, "{}: {}", self.file, self.message)
            }
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.col, self.message
            )
        }
    }
}

impl InventoryError {
    pub(crate) fn new(
        file: impl Into<String>,
        line: usize,
        col: usize,
        message: impl Into<String>,
    ) -> Self {
        InventoryError {
            file: file.into(),
            line,
            col,
            message: message.into(),
        }
    }

    /// An error about the inventory as a whole (no file).
    pub(crate) fn general(message: impl Into<String>) -> Self {
        InventoryError::new("", 0, 0, message)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Host {
    pub name: String,
    /// Variables set on the host in inventory files (not host_vars/): `ansible_port` from
    /// `host:port`, `inventory_file`, `inventory_dir`, then the host's own variables.
    pub vars: IndexMap<String, Value>,
    /// Groups the host is directly in (inventory order).
    pub groups: Vec<String>,
    /// Every group the host belongs to, ancestors included and `all` included.
    pub all_groups: Vec<String>,
}

/// Most hosts an inventory may hold: loading is linear in the hosts, but a few lines of
/// ranges (`web[1:99999]` ten times) would otherwise make millions of them (found by
/// fuzzing).
pub const MAX_HOSTS: usize = 100_000;

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub vars: IndexMap<String, Value>,
    /// Hosts directly in the group, in the order they were added.
    pub hosts: Vec<String>,
    pub children: Vec<String>,
    pub parents: Vec<String>,
    /// Longest distance from `all` (`all` is 0).
    pub depth: usize,
    /// `ansible_group_priority` (default 1).
    pub priority: i64,
}

impl Default for Group {
    fn default() -> Self {
        Group {
            name: String::new(),
            vars: IndexMap::new(),
            hosts: Vec::new(),
            children: Vec::new(),
            parents: Vec::new(),
            depth: 0,
            priority: 1,
        }
    }
}

/// A loaded inventory. `all` and `ungrouped` always exist.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub hosts: IndexMap<String, Host>,
    pub groups: IndexMap<String, Group>,
    /// Directories whose `group_vars/` and `host_vars/` apply as inventory vars: one per
    /// inventory source (the directory itself, or the directory holding the file).
    pub vars_dirs: Vec<PathBuf>,
    /// Playbook directories (see [`Inventory::add_playbook_dir`]), whose vars files take
    /// precedence over the inventory's.
    pub playbook_dirs: Vec<PathBuf>,
    inv_vars: Vec<DirVars>,
    play_vars: Vec<DirVars>,
    /// The `groups` magic variable, computed once.
    groups_cache: IndexMap<String, Vec<String>>,
    /// The implicit localhost's name once a pattern created it (`localhost`,
    /// `127.0.0.1` or `::1`; the first one asked for wins, as in Ansible).
    implicit_localhost: std::sync::OnceLock<String>,
}

impl Default for Inventory {
    fn default() -> Self {
        let mut inv = Inventory {
            hosts: IndexMap::new(),
            groups: IndexMap::new(),
            vars_dirs: Vec::new(),
            playbook_dirs: Vec::new(),
            inv_vars: Vec::new(),
            play_vars: Vec::new(),
            groups_cache: IndexMap::new(),
            implicit_localhost: std::sync::OnceLock::new(),
        };
        inv.add_group("all");
        inv.add_group("ungrouped");
        // Cannot fail: two fresh groups.
        let _ = inv.add_child_group("all", "ungrouped");
        inv.finish();
        inv
    }
}

/// Where a source is being read from, for `inventory_file` / `inventory_dir` and errors.
#[derive(Debug, Clone, Default)]
pub(crate) struct Source {
    pub file: String,
    pub dir: Option<String>,
}

/// Inventory file names Ansible skips inside an inventory directory.
const IGNORED_EXTS: [&str; 12] = [
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry",
];
const YAML_EXTS: [&str; 3] = [".yaml", ".yml", ".json"];

fn ignored_in_dir(name: &str) -> bool {
    name.starts_with('.')
        || matches!(name, "host_vars" | "group_vars" | "vars_plugins")
        || IGNORED_EXTS.iter().any(|e| name.ends_with(e))
}

/// Python's `os.path.splitext(path)[1]` for the file name.
fn extension(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let trimmed = name.trim_start_matches('.');
    match trimmed.rfind('.') {
        Some(i) => trimmed[i..].to_string(),
        None => String::new(),
    }
}

/// `os.path.abspath` without resolving symlinks.
fn abspath(p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

impl Inventory {
    /// Load inventory sources (files, directories, or `host1,host2` lists), in order.
    /// With no sources, an inventory holding only `localhost` (implicit) is returned.
    pub fn load(sources: &[PathBuf]) -> Result<Inventory, InventoryError> {
        let mut inv = Inventory::default();
        for src in sources {
            let text = src.to_string_lossy();
            if !src.exists() && text.contains(',') {
                inv.parse_host_list(&text)?;
                continue;
            }
            if !src.exists() {
                return Err(InventoryError::new(
                    text.into_owned(),
                    0,
                    0,
                    "inventory source not found; check the path given with -i",
                ));
            }
            let abs = abspath(src);
            inv.parse_source(&abs)?;
            let dir = if abs.is_dir() {
                abs.clone()
            } else {
                abs.parent().map(Path::to_path_buf).unwrap_or_default()
            };
            inv.vars_dirs.push(dir);
        }
        inv.reconcile()?;
        let mut loaded: HashMap<PathBuf, DirVars> = HashMap::new();
        for dir in inv.vars_dirs.clone() {
            let dv = match loaded.get(&dir) {
                Some(dv) => dv.clone(),
                None => {
                    let dv = DirVars::load(&dir, &inv)?;
                    loaded.insert(dir.clone(), dv.clone());
                    dv
                }
            };
            inv.inv_vars.push(dv);
        }
        Ok(inv)
    }

    /// Parse a string inventory: YAML text if it is a mapping, else INI (as a file
    /// without extension would be read). `name` is used for errors and `inventory_file`.
    pub fn from_str(name: &str, text: &str) -> Result<Inventory, InventoryError> {
        let mut inv = Inventory::default();
        let src = Source {
            file: name.to_string(),
            dir: None,
        };
        inv.parse_text(Path::new(name), text, &src, true)?;
        inv.reconcile()?;
        Ok(inv)
    }

    fn parse_source(&mut self, path: &Path) -> Result<(), InventoryError> {
        if path.is_dir() {
            let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(path)
                .map_err(|e| InventoryError::new(path.display().to_string(), 0, 0, e.to_string()))?
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .collect();
            names.sort();
            for name in names {
                if ignored_in_dir(&name.to_string_lossy()) {
                    continue;
                }
                self.parse_source(&path.join(name))?;
            }
            return Ok(());
        }
        let text = std::fs::read(path)
            .map_err(|e| InventoryError::new(path.display().to_string(), 0, 0, e.to_string()))?;
        let text = agent_yaml::decode(&text, path)
            .map_err(|e| InventoryError::new(e.file, e.line, e.col, e.message))?;
        let src = Source {
            file: path.display().to_string(),
            dir: path.parent().map(|p| p.display().to_string()),
        };
        let ext = extension(path);
        if ext == ".toml" {
            return Err(InventoryError::new(
                src.file,
                0,
                0,
                "TOML inventories are not supported; convert it to INI or YAML",
            ));
        }
        let try_yaml = ext.is_empty() || YAML_EXTS.contains(&ext.as_str());
        self.parse_text(path, &text, &src, try_yaml)
    }

    /// Try the YAML plugin (when `try_yaml`), then the INI plugin, as Ansible does.
    fn parse_text(
        &mut self,
        path: &Path,
        text: &str,
        src: &Source,
        try_yaml: bool,
    ) -> Result<(), InventoryError> {
        let yaml_err = if try_yaml {
            match yaml_inv::parse(self, path, text, src) {
                Ok(()) => return Ok(()),
                Err(e) => Some(e),
            }
        } else {
            None
        };
        match ini::parse(self, path, text, src) {
            Ok(()) => Ok(()),
            Err(ini_err) => match yaml_err {
                // The file looked like a YAML inventory (a mapping) or is named like one:
                // the YAML error is the one that explains what is wrong.
                Some(y) if y.is_structural || YAML_EXTS.contains(&extension(path).as_str()) => {
                    Err(y.error)
                }
                _ => Err(ini_err),
            },
        }
    }

    fn parse_host_list(&mut self, list: &str) -> Result<(), InventoryError> {
        let src = Source {
            file: list.to_string(),
            dir: None,
        };
        for h in list.split(',') {
            let h = h.trim();
            if h.is_empty() {
                continue;
            }
            let (host, port) = match parse_address(h) {
                Some((host, port)) if !host.contains('[') => (host, port),
                _ => (h.to_string(), None),
            };
            if !self.hosts.contains_key(&host) {
                self.add_host(&host, Some("ungrouped"), port, &src)
                    .map_err(|m| InventoryError::new(list, 0, 0, m))?;
            }
        }
        Ok(())
    }

    /// Add the playbook directory, whose `group_vars/`/`host_vars/` take precedence over
    /// the inventory's. Errors come from reading those files.
    pub fn add_playbook_dir(&mut self, dir: &Path) -> Result<(), InventoryError> {
        let dir = abspath(dir);
        let dv = DirVars::load(&dir, self)?;
        self.playbook_dirs.push(dir);
        self.play_vars.push(dv);
        Ok(())
    }

    /// Add group variables from outside the bundle (SSM Parameter Store): they take
    /// the precedence of the playbook's `group_vars/<group>` files and come after them,
    /// so for the same group and name the external value wins. Groups that the
    /// inventory does not have are ignored (their hosts are not this host).
    pub fn add_external_group_vars(&mut self, groups: IndexMap<String, IndexMap<String, Value>>) {
        let mut dv = DirVars::default();
        for (g, vars) in groups {
            dv.groups.insert(g, vars.into_iter().collect());
        }
        self.play_vars.push(dv);
    }

    /// Put `host` into `groups` (created when missing), as an inventory file would: used
    /// for groups that come from outside the bundle (EC2 instance tags).
    pub fn join_groups(&mut self, host: &str, groups: &[String]) -> Result<(), InventoryError> {
        let src = Source {
            file: "<ec2 instance tags>".into(),
            dir: None,
        };
        if !self.hosts.contains_key(host) {
            self.add_host(host, None, None, &src)
                .map_err(InventoryError::general)?;
        }
        // Groups the inventory lacks get their group_vars files, which were read for the
        // inventory's groups only.
        let made = self.missing_groups(groups.iter().map(String::as_str));
        let files = self.read_group_vars(&made)?;
        for g in groups {
            self.add_group(g);
            self.group_add_host(g, host);
        }
        self.finish_dynamic(files, true).map(|_| ())
    }

    /// Ansible's `add_dynamic_group` (the `group_by` action): put `host` into the group
    /// `name` (made when missing) unless it is in it already (directly or through a
    /// child group), and make that group a child of each of `parents` (made when
    /// missing). A group new to the inventory gets its `group_vars/` files from the
    /// inventory's and the playbook's directories, as Ansible's vars plugins find them
    /// when the variables are next asked for. Returns whether anything changed; on an
    /// error nothing is changed.
    pub fn add_dynamic_group(
        &mut self,
        host: &str,
        name: &str,
        parents: &[String],
    ) -> Result<bool, InventoryError> {
        if name.is_empty() {
            return Err(InventoryError::general(format!(
                "Invalid empty/false group name provided: {name}"
            )));
        }
        let Some(h) = self.hosts.get(host) else {
            return Err(InventoryError::general(format!(
                "{host} cannot be matched in inventory"
            )));
        };
        let in_group = h.all_groups.iter().any(|g| g == name);
        // Everything that can fail is done before the inventory changes.
        for p in parents {
            if p == name {
                return Err(InventoryError::general("can't add group to itself"));
            }
            if self.groups.contains_key(p) && self.ancestors(p).contains(name) {
                return Err(InventoryError::general(format!(
                    "Adding group '{name}' as child to '{p}' creates a recursive dependency loop."
                )));
            }
        }
        let made =
            self.missing_groups(std::iter::once(name).chain(parents.iter().map(String::as_str)));
        let files = self.read_group_vars(&made)?;
        let mut changed = made.iter().any(|g| *g != name);
        for g in &made {
            self.add_group(g);
        }
        for p in parents {
            let new = !self
                .groups
                .get(p)
                .is_some_and(|g| g.children.iter().any(|c| c == name));
            self.add_child_group(p, name)
                .map_err(InventoryError::general)?;
            changed |= new;
        }
        if !in_group {
            self.group_add_host(name, host);
            changed = true;
        }
        self.finish_dynamic(files, changed)
    }

    /// The names the inventory has no group for yet.
    fn missing_groups<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        names
            .into_iter()
            .filter(|g| !self.groups.contains_key(*g))
            .collect()
    }

    /// The end of a change made at run time: the new groups' variables files added, and
    /// the inventory reconciled when anything changed.
    fn finish_dynamic(
        &mut self,
        files: Vec<Vec<(String, Vars)>>,
        changed: bool,
    ) -> Result<bool, InventoryError> {
        self.add_group_vars(files);
        if changed {
            self.reconcile()?;
        }
        Ok(changed)
    }

    /// The `group_vars/` files of groups made after loading, per vars directory (in the
    /// order of `inv_vars` then `play_vars`), read before anything changes.
    fn read_group_vars(&self, groups: &[&str]) -> Result<Vec<Vec<(String, Vars)>>, InventoryError> {
        self.inv_vars
            .iter()
            .chain(&self.play_vars)
            .map(|dv| {
                let mut found = Vec::new();
                for g in groups {
                    if let Some(v) = dv.read_group(g)? {
                        found.push((g.to_string(), v));
                    }
                }
                Ok(found)
            })
            .collect()
    }

    fn add_group_vars(&mut self, files: Vec<Vec<(String, Vars)>>) {
        for (dv, found) in self
            .inv_vars
            .iter_mut()
            .chain(self.play_vars.iter_mut())
            .zip(files)
        {
            dv.groups.extend(found);
        }
    }

    /// Ansible's `add_dynamic_host` (the `add_host` action) for a host the inventory has:
    /// its variables combined with `vars` (top-level replace), and the host put into
    /// `groups` (made when missing, as children of `all`). Returns whether anything
    /// changed; on an error nothing is changed.
    pub fn add_dynamic_host(
        &mut self,
        host: &str,
        groups: &[String],
        vars: &IndexMap<String, Value>,
    ) -> Result<bool, InventoryError> {
        if !self.hosts.contains_key(host) {
            return Err(InventoryError::general(format!(
                "{host} cannot be matched in inventory"
            )));
        }
        let made = self.missing_groups(groups.iter().map(String::as_str));
        let files = self.read_group_vars(&made)?;
        let made: Vec<String> = made.into_iter().map(str::to_string).collect();
        let mut changed = !made.is_empty();
        if let Some(h) = self.hosts.get_mut(host) {
            for (k, v) in vars {
                if h.vars.get(k) != Some(v) {
                    h.vars.insert(k.clone(), v.clone());
                    changed = true;
                }
            }
        }
        for g in &made {
            self.add_group(g);
        }
        for g in groups {
            // Ansible asks the host's own groups here (not the nested ones).
            changed |= self.group_add_host(g, host);
        }
        self.finish_dynamic(files, changed)
    }

    // ----- building (InventoryData's operations) -----

    pub(crate) fn add_group(&mut self, name: &str) {
        if !self.groups.contains_key(name) {
            self.groups.insert(
                name.to_string(),
                Group {
                    name: name.to_string(),
                    ..Group::default()
                },
            );
        }
    }

    /// `add_host(host, group, port)`: create the host on first sight (with
    /// `ansible_port`, `inventory_file`, `inventory_dir`), and put it in `group`.
    pub(crate) fn add_host(
        &mut self,
        name: &str,
        group: Option<&str>,
        port: Option<u32>,
        src: &Source,
    ) -> Result<(), String> {
        if name.is_empty() {
            return Err("Invalid empty host name provided".into());
        }
        if let Some(g) = group
            && !self.groups.contains_key(g)
        {
            return Err(format!("Could not find group {g} in inventory"));
        }
        if !self.hosts.contains_key(name) {
            if self.hosts.len() >= MAX_HOSTS {
                return Err(format!(
                    "the inventory has more than {MAX_HOSTS} hosts (a runaway host range?)"
                ));
            }
            let mut vars = IndexMap::new();
            if let Some(p) = port.filter(|p| *p != 0) {
                vars.insert("ansible_port".to_string(), Value::from(p));
            }
            vars.insert("inventory_file".to_string(), Value::from(src.file.as_str()));
            vars.insert(
                "inventory_dir".to_string(),
                // Ansible stores `to_text(None)` here for host-list sources.
                Value::from(src.dir.as_deref().unwrap_or("None")),
            );
            self.hosts.insert(
                name.to_string(),
                Host {
                    name: name.to_string(),
                    vars,
                    ..Host::default()
                },
            );
        }
        if let Some(g) = group {
            self.group_add_host(g, name);
        }
        Ok(())
    }

    /// Put `host` into `group`; whether it was not in it (directly) before.
    fn group_add_host(&mut self, group: &str, host: &str) -> bool {
        let Some(g) = self.groups.get_mut(group) else {
            return false;
        };
        // Membership is asked of the host's own (short) group list, which is kept in step
        // with the group's: a group's host list can be long (`web[1:30000]`), and
        // searching it for every host added made loading quadratic (found by fuzzing).
        let added = match self.hosts.get_mut(host) {
            Some(h) => {
                let added = !h.groups.iter().any(|x| x == group);
                if added {
                    h.groups.push(group.to_string());
                }
                added
            }
            None => !g.hosts.iter().any(|h| h == host),
        };
        if added {
            g.hosts.push(host.to_string());
        }
        added
    }

    pub(crate) fn set_group_var(&mut self, group: &str, key: &str, value: Value) {
        if let Some(g) = self.groups.get_mut(group) {
            if key == "ansible_group_priority" {
                if let Some(p) = py_int_value(&value) {
                    g.priority = p;
                } else {
                    tracing::warn!(
                        "Invalid priority value '{value}' for group '{group}'. Setting priority to default value."
                    );
                }
            } else {
                g.vars.insert(key.to_string(), value);
            }
        }
    }

    pub(crate) fn set_host_var(&mut self, host: &str, key: &str, value: Value) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.vars.insert(key.to_string(), value);
        }
    }

    fn ancestors(&self, group: &str) -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut stack: Vec<&str> = vec![group];
        while let Some(g) = stack.pop() {
            if let Some(gr) = self.groups.get(g) {
                for p in &gr.parents {
                    if seen.insert(p.clone()) {
                        stack.push(p);
                    }
                }
            }
        }
        seen
    }

    /// `add_child(group, child)` where the child is a group: refuses loops.
    pub(crate) fn add_child_group(&mut self, parent: &str, child: &str) -> Result<(), String> {
        if parent == child {
            return Err(format!("can't add group '{child}' to itself"));
        }
        let Some(p) = self.groups.get(parent) else {
            return Err(format!("{parent} is not a known group"));
        };
        if p.children.iter().any(|c| c == child) {
            return Ok(());
        }
        if self.ancestors(parent).contains(child) {
            return Err(format!(
                "Adding group '{child}' as child to '{parent}' creates a recursive dependency loop."
            ));
        }
        if let Some(p) = self.groups.get_mut(parent) {
            p.children.push(child.to_string());
        }
        if let Some(c) = self.groups.get_mut(child)
            && !c.parents.iter().any(|x| x == parent)
        {
            c.parents.push(parent.to_string());
        }
        Ok(())
    }

    /// `add_child(group, child)`: a group or a host.
    pub(crate) fn add_child(&mut self, parent: &str, child: &str) -> Result<(), String> {
        if !self.groups.contains_key(parent) {
            return Err(format!("{parent} is not a known group"));
        }
        if self.groups.contains_key(child) {
            self.add_child_group(parent, child)
        } else if self.hosts.contains_key(child) {
            self.group_add_host(parent, child);
            Ok(())
        } else {
            Err(format!("{child} is not a known host nor group"))
        }
    }

    /// `reconcile_inventory`: top-level groups under `all`, hosts without a group in
    /// `ungrouped` (and out of it when they have one), then depths and memberships.
    fn reconcile(&mut self) -> Result<(), InventoryError> {
        let names: Vec<String> = self.groups.keys().cloned().collect();
        for g in &names {
            if g != "all" && self.groups.get(g).is_some_and(|gr| gr.parents.is_empty()) {
                self.add_child_group("all", g)
                    .map_err(InventoryError::general)?;
            }
        }
        let host_names: Vec<String> = self.hosts.keys().cloned().collect();
        let mut leave_ungrouped = HashSet::new();
        for h in &host_names {
            let mine = self.host_ancestry(h);
            if mine.contains("ungrouped") {
                if mine.iter().any(|g| g != "all" && g != "ungrouped") {
                    if let Some(host) = self.hosts.get_mut(h) {
                        host.groups.retain(|x| x != "ungrouped");
                    }
                    leave_ungrouped.insert(h.clone());
                }
            } else if mine.is_empty() || (mine.len() == 1 && mine.contains("all")) {
                self.group_add_host("ungrouped", h);
            }
        }
        if !leave_ungrouped.is_empty()
            && let Some(u) = self.groups.get_mut("ungrouped")
        {
            u.hosts.retain(|x| !leave_ungrouped.contains(x));
        }
        self.finish();
        Ok(())
    }

    /// Every group a host is in, ancestors included.
    fn host_ancestry(&self, host: &str) -> HashSet<String> {
        let mut out = HashSet::new();
        if let Some(h) = self.hosts.get(host) {
            for g in &h.groups {
                out.insert(g.clone());
                out.extend(self.ancestors(g));
            }
        }
        out
    }

    /// Compute depths, each host's full group list and the `groups` variable.
    fn finish(&mut self) {
        let mut depth: HashMap<String, usize> = HashMap::new();
        let names: Vec<String> = self.groups.keys().cloned().collect();
        for g in &names {
            self.depth_of(g, &mut depth, 0);
        }
        for (name, g) in self.groups.iter_mut() {
            g.depth = depth.get(name).copied().unwrap_or(0);
        }
        let mut anc_cache: HashMap<String, Vec<String>> = HashMap::new();
        for g in &names {
            let mut anc: Vec<String> = self.ancestors(g).into_iter().collect();
            anc.sort();
            anc_cache.insert(g.clone(), anc);
        }
        for host in self.hosts.values_mut() {
            let mut all: Vec<String> = Vec::new();
            let mut seen: HashSet<&str> = HashSet::new();
            for g in &host.groups {
                for a in anc_cache.get(g).into_iter().flatten() {
                    if seen.insert(a) {
                        all.push(a.clone());
                    }
                }
                if seen.insert(g) {
                    all.push(g.clone());
                }
            }
            host.all_groups = all;
        }
        let mut cache = IndexMap::new();
        for name in self.groups.keys() {
            cache.insert(name.clone(), self.group_hosts(name));
        }
        self.groups_cache = cache;
    }

    fn depth_of(&self, g: &str, memo: &mut HashMap<String, usize>, guard: usize) -> usize {
        if let Some(d) = memo.get(g) {
            return *d;
        }
        if guard > self.groups.len() {
            return 0;
        }
        let d = self
            .groups
            .get(g)
            .map(|gr| {
                gr.parents
                    .iter()
                    .map(|p| self.depth_of(p, memo, guard + 1) + 1)
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        memo.insert(g.to_string(), d);
        d
    }

    /// `Group.get_hosts()`: the group's hosts, then its descendants' (breadth first),
    /// each host once.
    fn group_hosts(&self, group: &str) -> Vec<String> {
        let mut ordered: Vec<&str> = vec![group];
        let mut seen_groups: HashSet<&str> = HashSet::from([group]);
        let mut level: Vec<&str> = vec![group];
        while !level.is_empty() {
            let mut next = Vec::new();
            for g in level {
                if let Some(gr) = self.groups.get(g) {
                    for c in &gr.children {
                        if seen_groups.insert(c.as_str()) {
                            ordered.push(c);
                            next.push(c.as_str());
                        }
                    }
                }
            }
            level = next;
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for g in ordered {
            if let Some(gr) = self.groups.get(g) {
                for h in &gr.hosts {
                    if seen.insert(h.as_str()) {
                        out.push(h.clone());
                    }
                }
            }
        }
        out
    }

    // ----- queries -----

    /// Hosts matching an Ansible host pattern (`all`, `web:&prod:!web3`, `web[0:2]`,
    /// `~regex`, `*.example.com`, comma lists), in inventory order. `localhost` (and
    /// `127.0.0.1`, `::1`) match the implicit localhost when the inventory lacks it.
    pub fn select(&self, pattern: &str) -> Result<Vec<String>, InventoryError> {
        pattern::select(self, &split_host_pattern(pattern))
    }

    /// The parts of `pattern` that match no group and no host (Ansible warns about each:
    /// "Could not match supplied host pattern, ignoring: …").
    pub fn unmatched_patterns(&self, pattern: &str) -> Vec<String> {
        pattern::unmatched(self, &split_host_pattern(pattern))
    }

    /// Hosts matching `pattern` restricted to `--limit` (which may name `@file`s holding
    /// one pattern per line), as `ansible-playbook --limit` applies it.
    pub fn select_limited(
        &self,
        pattern: &str,
        limit: Option<&str>,
    ) -> Result<Vec<String>, InventoryError> {
        let hosts = self.select(pattern)?;
        let Some(limit) = limit else {
            return Ok(hosts);
        };
        let subset = pattern::limit_patterns(limit)?;
        let allowed: HashSet<String> = pattern::select(self, &subset)?.into_iter().collect();
        Ok(hosts.into_iter().filter(|h| allowed.contains(h)).collect())
    }

    /// Hosts matching a list of patterns (a play's `hosts:` given as a YAML list); each
    /// item is split on its own, as Ansible does.
    pub fn select_list(&self, patterns: &[String]) -> Result<Vec<String>, InventoryError> {
        let split: Vec<String> = patterns
            .iter()
            .flat_map(|p| split_host_pattern(p))
            .collect();
        pattern::select(self, &split)
    }

    /// The hosts a `--limit` value allows (patterns, with `@file` read one per line).
    pub fn limit_hosts(&self, limit: &str) -> Result<Vec<String>, InventoryError> {
        pattern::select(self, &pattern::limit_patterns(limit)?)
    }

    /// Whether a name is the implicit localhost (asked for but not in the inventory).
    pub fn is_implicit_localhost(&self, host: &str) -> bool {
        LOCALHOST_NAMES.contains(&host) && !self.hosts.contains_key(host)
    }

    /// Ansible's `get_host` for a localhost name missing from the inventory: an
    /// inventory host named like localhost, else the implicit localhost (named after the
    /// first localhost name asked for).
    pub(crate) fn localhost_for(&self, name: &str) -> String {
        if let Some(h) = self
            .hosts
            .keys()
            .find(|h| LOCALHOST_NAMES.contains(&h.as_str()))
        {
            return h.clone();
        }
        self.implicit_localhost
            .get_or_init(|| name.to_string())
            .clone()
    }

    /// Group names of a host (sorted, without `all`), as `group_names` gives them.
    pub fn group_names(&self, host: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .hosts
            .get(host)
            .map(|h| {
                h.all_groups
                    .iter()
                    .filter(|g| *g != "all")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The `groups` magic variable: every group to its hosts.
    pub fn groups_value(&self) -> Value {
        Value::from_pairs(
            self.groups_cache
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.clone()))),
        )
    }

    /// The `groups` magic variable as plain data.
    pub fn groups_map(&self) -> &IndexMap<String, Vec<String>> {
        &self.groups_cache
    }

    /// A host's groups other than `all`, in the order their variables apply
    /// (`sort_groups`: depth, then `ansible_group_priority`, then name).
    pub fn sorted_groups(&self, host: &str) -> Vec<&Group> {
        let mut gs: Vec<&Group> = self
            .hosts
            .get(host)
            .map(|h| {
                h.all_groups
                    .iter()
                    .filter(|g| *g != "all")
                    .filter_map(|g| self.groups.get(g))
                    .collect()
            })
            .unwrap_or_default();
        gs.sort_by(|a, b| (a.depth, a.priority, &a.name).cmp(&(b.depth, b.priority, &b.name)));
        gs
    }

    /// A host's inventory variables merged in Ansible's order: `all` group vars, other
    /// group vars (by depth, priority, name), `group_vars/all` of the inventory then of
    /// the playbook, `group_vars/<group>` likewise, the host's inventory vars with
    /// `inventory_hostname`, `inventory_hostname_short` and `group_names`, then
    /// `host_vars/<host>` of the inventory and then of the playbook. Dicts replace, they
    /// are not merged (`hash_behaviour = replace`).
    pub fn host_vars(&self, host: &str) -> Result<IndexMap<String, Value>, InventoryError> {
        let implicit = self.is_implicit_localhost(host);
        let Some(h) = self.hosts.get(host) else {
            if implicit {
                return Ok(self.implicit_localhost_vars(host));
            }
            return Err(InventoryError::general(format!(
                "host '{host}' is not in the inventory"
            )));
        };
        let groups = self.sorted_groups(host);
        let mut out = IndexMap::new();
        let combine = |out: &mut IndexMap<String, Value>, vars: &IndexMap<String, Value>| {
            for (k, v) in vars {
                out.insert(k.clone(), v.clone());
            }
        };
        if let Some(all) = self.groups.get("all") {
            combine(&mut out, &all.vars);
        }
        for g in &groups {
            combine(&mut out, &g.vars);
        }
        for dv in self.inv_vars.iter().chain(&self.play_vars) {
            if let Some(v) = dv.groups.get("all") {
                combine(&mut out, v);
            }
        }
        for dv in self.inv_vars.iter().chain(&self.play_vars) {
            for g in &groups {
                if let Some(v) = dv.groups.get(&g.name) {
                    combine(&mut out, v);
                }
            }
        }
        combine(&mut out, &h.vars);
        self.add_magic(&mut out, host);
        for dv in self.inv_vars.iter().chain(&self.play_vars) {
            if let Some(v) = dv.hosts.get(host) {
                combine(&mut out, v);
            }
        }
        Ok(out)
    }

    fn add_magic(&self, out: &mut IndexMap<String, Value>, host: &str) {
        out.insert("inventory_hostname".into(), Value::from(host));
        let short = if address::is_ip(host) {
            host
        } else {
            host.split('.').next().unwrap_or(host)
        };
        out.insert("inventory_hostname_short".into(), Value::from(short));
        out.insert("group_names".into(), Value::from(self.group_names(host)));
    }

    fn implicit_localhost_vars(&self, host: &str) -> IndexMap<String, Value> {
        let mut out = IndexMap::new();
        if let Some(all) = self.groups.get("all") {
            out.extend(all.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        for dv in self.inv_vars.iter().chain(&self.play_vars) {
            if let Some(v) = dv.groups.get("all") {
                out.extend(v.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        out.insert("ansible_connection".into(), Value::from("local"));
        // Ansible gives the implicit localhost its own interpreter
        // (`ansible_playbook_python`); the agent has none and names the one that runs
        // Python modules here (ANSIBLE_PYTHON_INTERPRETER, else the system's python3).
        out.insert(
            "ansible_python_interpreter".into(),
            Value::from(local_python_interpreter()),
        );
        self.add_magic(&mut out, host);
        for dv in self.inv_vars.iter().chain(&self.play_vars) {
            if let Some(v) = dv.hosts.get(host) {
                out.extend(v.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        out
    }
}

/// The Python that runs modules on this machine: `ANSIBLE_PYTHON_INTERPRETER` (unless
/// `auto...`), else `/usr/bin/python3` (or `/usr/bin/python` when only that exists).
fn local_python_interpreter() -> String {
    std::env::var("ANSIBLE_PYTHON_INTERPRETER")
        .ok()
        .filter(|v| !v.is_empty() && !v.starts_with("auto"))
        .unwrap_or_else(|| {
            ["/usr/bin/python3", "/usr/bin/python"]
                .into_iter()
                .find(|p| std::path::Path::new(p).exists())
                .unwrap_or("/usr/bin/python3")
                .to_string()
        })
}

/// Python `int(value)` for a group priority.
fn py_int_value(v: &Value) -> Option<i64> {
    use minijinja::value::ValueKind;
    match v.kind() {
        ValueKind::Bool => Some(i64::from(v.is_true())),
        ValueKind::Number => {
            if let Ok(i) = i64::try_from(v.clone()) {
                Some(i)
            } else {
                f64::try_from(v.clone())
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| f.trunc() as i64)
            }
        }
        ValueKind::String => v
            .as_str()
            .and_then(|s| s.trim().replace('_', "").parse::<i64>().ok()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
