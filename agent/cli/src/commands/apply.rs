//! `agent apply`: converge this host.

use anyhow::Result;

use crate::cli::RunArgs;

pub fn run(args: &RunArgs) -> Result<i32> {
    super::run(args, args.check, args.diff, false)
}
