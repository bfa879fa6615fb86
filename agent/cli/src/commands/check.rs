//! `agent check`: apply in check mode with diff; reports drift and never changes the host.

use anyhow::Result;

use crate::cli::RunArgs;

pub fn run(args: &RunArgs) -> Result<i32> {
    super::run(args, true, true, true)
}
