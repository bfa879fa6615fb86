//! `agent apply`: converge this host.

use anyhow::Result;

use crate::cli::RunArgs;

pub fn run(args: &RunArgs) -> Result<i32> {
    let _lock = match crate::lock::start(args.inspects_only(), &args.config, args.wait) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    super::run(args, args.check, args.diff, false)
}
