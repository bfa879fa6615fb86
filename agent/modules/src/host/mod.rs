//! The only place that touches the system: atomic writes, ownership and modes, user and
//! group lookups. Modules use these, never libc directly.

pub mod fs;
pub mod hostname;
pub mod http;
pub mod kmod;
pub mod run;
pub mod users;
