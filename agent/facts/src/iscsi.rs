//! `iscsi` collector (iscsi.py, Linux part): /etc/iscsi/initiatorname.iscsi.

use serde_json::Value;

use crate::util::read_raw;
use crate::{Ctx, Facts};

pub fn collect(_ctx: &mut Ctx<'_>) -> Facts {
    let text = read_raw("/etc/iscsi/initiatorname.iscsi").unwrap_or_default();
    let iqn = text
        .lines()
        .filter(|l| !(l.starts_with('#') || l.starts_with(';') || l.trim().is_empty()))
        .find_map(|l| l.strip_prefix("InitiatorName="))
        .unwrap_or_default()
        .to_string();
    let mut f = Facts::new();
    f.insert("iscsi_iqn".into(), Value::from(iqn));
    f
}
