//! `agent facts`: this host's facts as `ansible -m setup` prints them (the JSON
//! `ansible_facts` dict with `ansible_`-prefixed names).

use std::io::Write;

use anyhow::Result;

use crate::cli::{FactsArgs, exit};

pub fn run(args: &FactsArgs) -> Result<i32> {
    let opts = agent_facts::Options {
        gather_subset: if args.gather_subset.is_empty() {
            vec!["all".into()]
        } else {
            args.gather_subset.clone()
        },
        filter: args.filter.clone(),
        fact_path: args.fact_path.clone(),
        ..agent_facts::Options::default()
    };
    let facts = agent_facts::gather(&opts, &mut agent_facts::Cache::new())?;
    let out = serde_json::Value::Object(agent_facts::prefixed(&facts));
    let text = serde_json::to_string_pretty(&out)?;
    // A closed pipe (`agent facts | head`) is not an error.
    let _ = writeln!(std::io::stdout().lock(), "{text}");
    Ok(exit::OK)
}
