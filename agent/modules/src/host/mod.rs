//! The only place that touches the system: atomic writes, ownership and modes, user and
//! group lookups. Modules use these, never libc directly.

pub mod account;
pub mod archive;
pub mod blockdev;
pub mod creds;
pub mod cron;
pub mod dpkg;
pub mod fs;
pub mod hostname;
pub mod http;
pub mod kmod;
pub mod mounts;
pub mod python;
pub mod rpm;
pub mod run;
pub mod sshkey;
pub mod sysctl;
pub mod systemd;
pub mod tools;
pub mod users;
