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
/// right-aligned) and a caret under the column, as Ansible 2.21 shows a source position:
/// tabs become spaces, and lines wider than 120 columns (with their number) are cut with
/// `...`.
pub fn origin(loc: &Loc) -> String {
    const MAX_WIDTH: usize = 120;
    const MARK: &str = "...";
    let mut text = format!("Origin: {loc}\n");
    let Ok(src) = std::fs::read_to_string(&*loc.file) else {
        return text;
    };
    let lines: Vec<&str> = src.lines().collect();
    if loc.line < 1 || loc.line > lines.len() {
        return text;
    }
    let first = loc.line.saturating_sub(2).max(1);
    let width = loc.line.to_string().len();
    let max_len = MAX_WIDTH - width - 1;
    let mut usable = max_len;
    text.push('\n');
    for n in first..=loc.line {
        let mut line = lines[n - 1].replace('\t', " ");
        if line.chars().count() > max_len {
            line = line.chars().take(max_len - MARK.len()).collect::<String>() + MARK;
            usable = max_len - MARK.len();
        }
        let sep = if line.is_empty() { "" } else { " " };
        text.push_str(&format!("{n:>width$}{sep}{line}\n"));
    }
    if loc.col >= 1 && loc.col <= usable {
        let marker = format!("column {}", loc.col);
        let idx = loc.col - 1;
        let marker = if idx + 2 + marker.len() > max_len {
            format!(
                "{}{marker} ^",
                " ".repeat(idx.saturating_sub(marker.len() + 1))
            )
        } else {
            format!("{}^ {marker}", " ".repeat(idx))
        };
        text.push_str(&format!("{} {marker}\n", " ".repeat(width)));
    }
    text.push('\n');
    text
}
