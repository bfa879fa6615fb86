//! Ansible's terminal colours (`ansible.utils.color`, default `COLOR_*` settings).

/// The colour roles the default callback uses, with Ansible's default colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// green
    Ok,
    /// yellow
    Changed,
    /// red
    Error,
    /// cyan
    Skip,
    /// bright red
    Unreachable,
    /// bright purple
    Warn,
    /// purple
    Deprecate,
    /// dark gray
    Debug,
    /// blue
    Verbose,
    /// green
    DiffAdd,
    /// red
    DiffRemove,
    /// cyan
    DiffLines,
    /// cyan
    Included,
}

impl Color {
    /// The SGR code Ansible emits for this colour.
    pub fn code(self) -> &'static str {
        match self {
            Color::Ok | Color::DiffAdd => "0;32",
            Color::Changed => "0;33",
            Color::Error | Color::DiffRemove => "0;31",
            Color::Skip | Color::DiffLines | Color::Included => "0;36",
            Color::Unreachable => "1;31",
            Color::Warn => "1;35",
            Color::Deprecate => "0;35",
            Color::Debug => "1;30",
            Color::Verbose => "0;34",
        }
    }
}

/// `stringc`: wrap every line of `text` in the colour's escape codes.
pub fn stringc(text: &str, color: Color) -> String {
    text.split('\n')
        .map(|line| format!("\x1b[{}m{}\x1b[0m", color.code(), line))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_each_line() {
        assert_eq!(
            stringc("a\n", Color::Error),
            "\x1b[0;31ma\x1b[0m\n\x1b[0;31m\x1b[0m"
        );
        assert_eq!(stringc("ok", Color::Ok), "\x1b[0;32mok\x1b[0m");
    }
}
