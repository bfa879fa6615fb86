//! The loader: playbooks, roles, task files and variable files, read once and checked
//! whole before anything on the host changes.

pub mod action_plugins;
pub mod condlocs;
pub mod error;
pub mod files;
pub mod kv;
pub mod model;
pub mod playbook;

pub use error::{LoadError, Loc};
