//! `loadavg` collector (loadavg.py): /proc/loadavg.

use serde_json::Value;

use crate::util::read;
use crate::{Ctx, Facts};

pub fn collect(_ctx: &mut Ctx<'_>) -> Facts {
    let mut f = Facts::new();
    if let Some(t) = read("/proc/loadavg") {
        let v: Vec<f64> = t
            .split_whitespace()
            .take(3)
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() == 3 {
            let mut m = Facts::new();
            m.insert("15m".into(), Value::from(v[2]));
            m.insert("1m".into(), Value::from(v[0]));
            m.insert("5m".into(), Value::from(v[1]));
            f.insert("loadavg".into(), Value::Object(m));
        }
    }
    f
}
