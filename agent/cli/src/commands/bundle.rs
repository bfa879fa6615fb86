//! `agent bundle DIR -o FILE`: a reproducible bundle archive; prints its sha256.

use anyhow::Result;

use crate::cli::{BundleArgs, exit};

pub fn run(args: &BundleArgs) -> Result<i32> {
    if !args.dir.is_dir() {
        anyhow::bail!("{}: not a directory", args.dir.display());
    }
    let sha = agent_source::bundle::build(&args.dir, &args.output)?;
    println!("{sha}  {}", args.output.display());
    Ok(exit::OK)
}
