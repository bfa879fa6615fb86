//! Load errors: every one names the file, line and column and says what to do.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agent_yaml::Pos;

/// A place in a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: Arc<str>,
    pub line: usize,
    pub col: usize,
}

impl Loc {
    pub fn new(file: &Arc<str>, pos: Pos) -> Loc {
        Loc {
            file: file.clone(),
            line: pos.line,
            col: pos.col,
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{loc}: {msg}")]
    At { loc: Loc, msg: String },
    #[error("{}: {err}", path.display())]
    Io { path: PathBuf, err: std::io::Error },
    // Transparent: the message is the inner error's, and `{:#}` does not repeat it.
    #[error(transparent)]
    Yaml(#[from] agent_yaml::YamlError),
    #[error(transparent)]
    Inventory(#[from] agent_inventory::InventoryError),
    #[error("{0}")]
    Other(String),
}

impl LoadError {
    pub fn at(loc: Loc, msg: impl Into<String>) -> LoadError {
        LoadError::At {
            loc,
            msg: msg.into(),
        }
    }

    pub fn io(path: &Path, err: std::io::Error) -> LoadError {
        LoadError::Io {
            path: path.to_path_buf(),
            err,
        }
    }
}

/// `Origin: FILE:LINE:COL`, then up to three lines of the file ending at LINE (numbers
/// right-aligned) and a caret under the column, as Ansible 2.21 shows a source position.
pub fn origin(loc: &Loc) -> String {
    let mut text = format!("Origin: {loc}\n");
    if let Ok(src) = std::fs::read_to_string(&*loc.file) {
        let lines: Vec<&str> = src.lines().collect();
        let first = loc.line.saturating_sub(2).max(1);
        if loc.line >= 1 && loc.line <= lines.len() {
            let width = loc.line.to_string().len();
            text.push('\n');
            for n in first..=loc.line {
                text.push_str(&format!("{n:>width$} {}\n", lines[n - 1]));
            }
            text.push_str(&format!(
                "{}^ column {}\n\n",
                " ".repeat(width + loc.col),
                loc.col
            ));
        }
    }
    text
}
