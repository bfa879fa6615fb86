//! Loops: which `with_<lookup>:` forms exist. The items themselves come from the lookup
//! plugins of agent-template (`query(name, *terms)`), as Ansible's with_ loops do.

/// Lookups usable as `with_<name>` loops.
pub const LOOP_LOOKUPS: &[&str] = &[
    "items",
    "list",
    "dict",
    "fileglob",
    "together",
    "nested",
    "subelements",
    "sequence",
    "indexed_items",
    "flattened",
    "file",
    "lines",
    "first_found",
    "unvault",
    "random_choice",
    "inventory_hostnames",
    "env",
    "template",
    "vars",
    "varnames",
    "ini",
    "csvfile",
    "password",
    "pipe",
    "url",
    "config",
    "cartesian",
    "community.general.cartesian",
];

pub fn lookup_exists(name: &str) -> bool {
    LOOP_LOOKUPS.contains(&name)
}
