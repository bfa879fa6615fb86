//! `nvme` collector (nvme.py, Linux part): /etc/nvme/hostnqn.

use serde_json::Value;

use crate::util::read_raw;
use crate::{Ctx, Facts};

pub fn collect(_ctx: &mut Ctx<'_>) -> Facts {
    let text = read_raw("/etc/nvme/hostnqn").unwrap_or_default();
    let nqn = text
        .lines()
        .filter(|l| !(l.starts_with('#') || l.starts_with(';') || l.trim().is_empty()))
        .find(|l| l.starts_with("nqn."))
        .unwrap_or_default()
        .to_string();
    let mut f = Facts::new();
    f.insert("hostnqn".into(), Value::from(nqn));
    f
}
