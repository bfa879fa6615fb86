//! `fips` collector (fips.py).

use serde_json::Value;

use crate::util::read;
use crate::{Ctx, Facts};

pub fn collect(ctx: &mut Ctx<'_>) -> Facts {
    ctx.cache.get_or("fips", || {
        let on = read("/proc/sys/crypto/fips_enabled").as_deref() == Some("1");
        let mut f = Facts::new();
        f.insert("fips".into(), Value::Bool(on));
        f
    })
}
