//! `fibre_channel_wwn` collector (fc_wwn.py, Linux part).

use serde_json::Value;

use crate::util::lines;
use crate::{Ctx, Facts};

pub fn collect(_ctx: &mut Ctx<'_>) -> Facts {
    let mut wwn = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/sys/class/fc_host") {
        for e in rd.flatten() {
            for line in lines(e.path().join("port_name")) {
                let l = line.trim_end();
                wwn.push(Value::from(l.get(2..).unwrap_or_default()));
            }
        }
    }
    let mut f = Facts::new();
    f.insert("fibre_channel_wwn".into(), Value::Array(wwn));
    f
}
