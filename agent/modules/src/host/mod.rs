//! The only place that touches the system: atomic writes, ownership and modes, user and
//! group lookups. Modules use these, never libc directly.

pub mod account;
pub mod cron;
pub mod fs;
pub mod tools;
pub mod users;
