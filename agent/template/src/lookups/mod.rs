//! Lookups: `lookup()`, `query()`/`q()` and the `with_<name>` loops. A lookup finds files
//! through the `ansible_search_path` variable (role dir, then playbook dir), as Ansible.

use minijinja::Environment;

/// Register `lookup`, `query` and `q`.
pub fn register(env: &mut Environment<'static>) {
    let _ = env;
}
