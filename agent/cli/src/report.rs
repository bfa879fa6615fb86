//! Choosing the reporter for `--output`.

use agent_report::{Human, Json, ReportOptions, Reporter};

use crate::cli::Output;

pub fn make(output: Output, opts: ReportOptions) -> Box<dyn Reporter> {
    match output {
        Output::Human => Box::new(Human::new(opts)),
        Output::Json => Box::new(Json::new(opts.show_custom_stats)),
    }
}
