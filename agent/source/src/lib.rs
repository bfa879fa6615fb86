//! Sources: where a run's playbooks, roles, inventories and variables come from.
//!
//! The flow is `config` → `pull` (a directory, a bundle file, S3, or an SSM pointer, each
//! verified against a sha256 pin) → `cache` (last-known-good, switched atomically) → a
//! bundle directory the loader reads. When AWS cannot be reached the last-known-good
//! bundle is used and the caller is told why.

pub mod aws;
pub mod bundle;
pub mod cache;
pub mod config;
pub mod imds;
pub mod progress;
pub mod pull;
pub mod reports;
pub mod s3;
pub mod sign;
pub mod ssm;

pub use config::Config;
pub use pull::{PullError, Pulled, pull};
