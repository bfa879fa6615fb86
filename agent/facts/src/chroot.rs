//! `chroot` collector (chroot.py): `/` compared with PID 1's root.

use std::os::unix::fs::MetadataExt;

use serde_json::Value;

use crate::{Ctx, Facts};

pub fn collect(_ctx: &mut Ctx<'_>) -> Facts {
    let is_chroot = if std::env::var_os("debian_chroot").is_some_and(|v| !v.is_empty()) {
        true
    } else {
        match (std::fs::metadata("/"), std::fs::metadata("/proc/1/root/.")) {
            (Ok(me), Ok(one)) => me.ino() != one.ino() || me.dev() != one.dev(),
            // Ansible then compares the root inode with the file system's root inode (2;
            // 256 on btrfs, 128 on xfs, which it learns from `stat -f`).
            (Ok(me), Err(_)) => me.ino() != 2 && me.ino() != 256 && me.ino() != 128,
            _ => false,
        }
    };
    let mut f = Facts::new();
    f.insert("is_chroot".into(), Value::Bool(is_chroot));
    f
}
