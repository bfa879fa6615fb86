//! `agent config`: the effective configuration, each value with where it came from.

use anyhow::Result;

use crate::cli::{ConfigArgs, exit};

pub fn run(args: &ConfigArgs) -> Result<i32> {
    let cfg = super::pull::load_config(&args.config, args.source.as_deref())?;
    print!("{}", cfg.render());
    Ok(exit::OK)
}
