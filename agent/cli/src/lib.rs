//! agent: configure this host from Ansible playbooks and roles, without Python.
//!
//! The flow is one way: source → loader → plan → apply → report. [`loader`] reads and
//! checks the whole playbook; [`engine`] runs it for this host, where each module
//! observes, plans and (unless in check mode) applies; agent_report prints the result.

pub mod cli;
pub mod commands;
pub mod engine;
pub mod host_identity;
pub mod loader;
pub mod lock;
pub mod report;
pub mod signals;
