//! The engine: plays → blocks → tasks for this one host, Ansible's keywords, handlers,
//! results and counts. Modules are run through their observe → plan → apply contract
//! (agent_modules::run); actions that change variables or flow are carried out here.

pub mod actions;
pub mod asyncjob;
pub mod factcache;
pub mod facts;
pub mod lockstep;
pub mod loops;
mod run;
pub mod syntax;
mod vars;

pub use run::{Engine, Outcome, RunOptions};
pub(crate) use run::{expand_tags, tags_selected};
