//! Action plugins shipped beside a playbook or in a role (`action_plugins/NAME.py`).
//!
//! Action plugins are Python that runs inside Ansible's controller; the agent runs none.
//! One kind is understood without running it: a file whose whole code re-exports a
//! built-in action, `from ansible.plugins.action.debug import ActionModule`. Ansible runs
//! such a plugin exactly as the built-in, under the plugin's own name, so the agent runs
//! the built-in and keeps the name the task wrote (a `first_found` loop picks its
//! directory from it, and an unnamed task's banner shows it).

use std::path::{Path, PathBuf};

/// What `action_plugins/NAME.py` in the plugin directories is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionPlugin {
    /// It re-exports this built-in action and does nothing else.
    Alias(String),
    /// It is other Python code (the agent cannot run it).
    Python(PathBuf),
}

/// The first `NAME.py` in `dirs`, read; `None` when no directory has one.
pub fn find(dirs: &[PathBuf], name: &str) -> Option<ActionPlugin> {
    if name.is_empty() || name.contains(['/', '.']) {
        return None;
    }
    dirs.iter().find_map(|dir| {
        let path = dir.join(format!("{name}.py"));
        let code = std::fs::read_to_string(&path).ok()?;
        Some(match reexported_action(&code) {
            Some(builtin) => ActionPlugin::Alias(builtin.to_string()),
            None => ActionPlugin::Python(path),
        })
    })
}

/// The action a plugin's code re-exports, when that is all the code does: besides the
/// one `from ansible.plugins.action.NAME import ActionModule`, only comments, blank lines,
/// `from __future__ import ...`, `__metaclass__ = type` and `assert ActionModule`.
pub fn reexported_action(code: &str) -> Option<&str> {
    let mut found = None;
    for line in code.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty()
            || line.starts_with("from __future__ import ")
            || line == "__metaclass__ = type"
            || line == "assert ActionModule"
        {
            continue;
        }
        let name = line
            .strip_prefix("from ansible.plugins.action.")
            .and_then(|rest| rest.strip_suffix(" import ActionModule"))
            .filter(|n| {
                !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })?;
        if found.replace(name).is_some() {
            return None;
        }
    }
    found
}

/// The `action_plugins` directory beside a playbook or in a role, when there is one.
pub fn dir_in(base: &Path) -> Option<PathBuf> {
    let dir = base.join("action_plugins");
    dir.is_dir().then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pure_reexport_is_an_alias() {
        let code = "from __future__ import annotations\n\nfrom ansible.plugins.action.debug import ActionModule\n\nassert ActionModule\n";
        assert_eq!(reexported_action(code), Some("debug"));
        let old = "# comment\nfrom __future__ import (absolute_import, division)\n__metaclass__ = type\nfrom ansible.plugins.action.template import ActionModule  # noqa\n";
        assert_eq!(reexported_action(old), Some("template"));
    }

    #[test]
    fn other_code_is_not() {
        for code in [
            "",
            "from ansible.plugins.action.debug import ActionModule\nclass X: pass\n",
            "from ansible.plugins.action.debug import ActionModule as Base\n",
            "from ansible.plugins.action import ActionBase\n",
            "from ansible.plugins.action.debug import ActionModule\nfrom ansible.plugins.action.copy import ActionModule\n",
            "from ansible.plugins.action.a.b import ActionModule\n",
            "import os\nfrom ansible.plugins.action.debug import ActionModule\n",
        ] {
            assert_eq!(reexported_action(code), None, "{code:?}");
        }
    }

    #[test]
    fn found_in_the_first_directory_that_has_it() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(
            b.path().join("dbg.py"),
            "from ansible.plugins.action.debug import ActionModule\n",
        )
        .unwrap();
        std::fs::write(a.path().join("own.py"), "class ActionModule: pass\n").unwrap();
        let dirs = [a.path().to_path_buf(), b.path().to_path_buf()];
        assert_eq!(
            find(&dirs, "dbg"),
            Some(ActionPlugin::Alias("debug".into()))
        );
        assert_eq!(
            find(&dirs, "own"),
            Some(ActionPlugin::Python(a.path().join("own.py")))
        );
        assert_eq!(find(&dirs, "none"), None);
        assert_eq!(find(&dirs, "a.b"), None);
    }
}
