//! YAML as Ansible reads it: YAML 1.1 scalar meaning (PyYAML's resolver), with the
//! file, line and column of every node kept for error messages.
//!
//! The parser is saphyr-parser's event stream; this crate builds [`Node`] trees from it
//! and resolves plain scalars the way PyYAML does (`yes`/`no`/`on`/`off` are booleans,
//! `0644` is octal, `~` and empty are null, `1_000` is an int, `<<` merges). Quoted
//! scalars always stay strings.
//!
//! [`emit`] writes values back as PyYAML's `yaml.dump` would (for `to_yaml` /
//! `to_nice_yaml`).

mod emit;
mod node;
mod parse;
mod resolve;
pub mod vault;

pub use emit::{EmitOptions, emit};
pub use node::{Kind, Node, Pos};
pub use parse::{
    Limits, YamlError, YamlWarning, decode, parse_all, parse_all_with_warnings, parse_one,
};
