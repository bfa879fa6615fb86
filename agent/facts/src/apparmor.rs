//! `apparmor` collector (apparmor.py).

use crate::util::{exists, map};
use crate::{Ctx, Facts};

pub fn collect(ctx: &mut Ctx<'_>) -> Facts {
    ctx.cache.get_or("apparmor", || {
        let status = if exists("/sys/kernel/security/apparmor") {
            "enabled"
        } else {
            "disabled"
        };
        let mut f = Facts::new();
        f.insert("apparmor".into(), map([("status", status.into())]));
        f
    })
}
