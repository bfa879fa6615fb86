use std::path::Path;

use crate::node::Node;

/// Limits that keep hostile input from exhausting memory or time.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most nodes an alias expansion may produce in one document (billion laughs).
    pub max_nodes: usize,
    /// Deepest nesting accepted.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_nodes: 1_000_000,
            max_depth: 256,
        }
    }
}

/// A YAML error at a place in a file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{line}:{col}: {message}")]
pub struct YamlError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Parse every document of a YAML stream.
pub fn parse_all(src: &str, file: &Path, limits: Limits) -> Result<Vec<Node>, YamlError> {
    let _ = (src, file, limits);
    Err(YamlError {
        file: file.display().to_string(),
        line: 0,
        col: 0,
        message: "not yet".into(),
    })
}

/// Parse a stream that must hold at most one document; an empty stream is `None`.
pub fn parse_one(src: &str, file: &Path) -> Result<Option<Node>, YamlError> {
    let mut docs = parse_all(src, file, Limits::default())?;
    match docs.len() {
        0 => Ok(None),
        1 => Ok(docs.pop()),
        _ => Err(YamlError {
            file: file.display().to_string(),
            line: docs[1].pos.line,
            col: docs[1].pos.col,
            message: "expected a single document in the stream, but found another document".into(),
        }),
    }
}
