//! The only place that touches the system: atomic writes, ownership and modes, user and
//! group lookups. Modules use these, never libc directly.

pub mod blockdev;
pub mod fs;
pub mod mounts;
pub mod sysctl;
pub mod users;
