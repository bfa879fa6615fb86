//! The only place that touches the system: atomic writes, ownership and modes, user and
//! group lookups. Modules use these, never libc directly.

pub mod dpkg;
pub mod fs;
pub mod rpm;
pub mod systemd;
pub mod account;
pub mod cron;
pub mod tools;
pub mod blockdev;
pub mod mounts;
pub mod sysctl;
pub mod hostname;
pub mod http;
pub mod kmod;
pub mod run;
pub mod users;
