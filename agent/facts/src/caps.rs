//! `caps` collector (caps.py). Ansible runs `capsh --print`; with no process spawned the
//! values are what Ansible reports when capsh is not installed.

use serde_json::Value;

use crate::{Ctx, Facts};

pub fn collect(_ctx: &mut Ctx<'_>) -> Facts {
    let mut f = Facts::new();
    f.insert("system_capabilities".into(), Value::from("N/A"));
    f.insert("system_capabilities_enforced".into(), Value::from("N/A"));
    f
}
