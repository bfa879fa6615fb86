//! User and group lookups by reading /etc/passwd and /etc/group directly.
