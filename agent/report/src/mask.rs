//! Secrets never leak: every byte the agent writes (stdout, stderr logs, reports) passes
//! through [`mask`], which replaces each registered secret — and the escaped forms it
//! takes in JSON and in Python reprs — with `********`.
//!
//! Secrets are registered once per run ([`register`]): SSM SecureString values, and
//! anything else the caller knows is secret. A multi-line secret is also registered line
//! by line, because output is masked a line at a time.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::RwLock;

pub const MASK: &str = "********";

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Shorter texts are not masked: they would mask ordinary words (documented).
pub const MIN_LEN: usize = 3;

fn forms(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json[1..json.len().saturating_sub(1)].to_string();
    // Python's `json.dumps(ensure_ascii=True)` form (the JSON output): \uXXXX escapes.
    if !json.is_ascii() {
        let mut ascii = String::new();
        for c in json.chars() {
            if c.is_ascii() {
                ascii.push(c);
            } else {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    ascii.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
        out.push(ascii);
    }
    out.push(json);
    out.push(secret.replace('\\', "\\\\").replace('\'', "\\'"));
    out.push(secret.replace('\\', "\\\\").replace('"', "\\\""));
    out
}

/// Register a secret for masking.
pub fn register(secret: &str) {
    let mut add: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        if s.chars().count() >= MIN_LEN {
            for f in forms(s) {
                add.push(f);
            }
        }
    };
    push(secret);
    if secret.contains('\n') {
        for line in secret.lines() {
            push(line.trim_end_matches('\r'));
        }
    }
    if let Ok(mut list) = SECRETS.write() {
        for a in add {
            if !list.contains(&a) {
                list.push(a);
            }
        }
        // Longest first, so a secret that contains another is masked whole.
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Are any secrets registered?
pub fn active() -> bool {
    SECRETS.read().map(|l| !l.is_empty()).unwrap_or(false)
}

/// `text` with every registered secret replaced by [`MASK`].
pub fn mask(text: &str) -> Cow<'_, str> {
    let Ok(list) = SECRETS.read() else {
        return Cow::Borrowed(text);
    };
    let mut out: Cow<'_, str> = Cow::Borrowed(text);
    for s in list.iter() {
        if out.contains(s.as_str()) {
            out = Cow::Owned(out.replace(s.as_str(), MASK));
        }
    }
    out
}

/// A writer that masks what passes through, a line at a time (a secret is never split
/// across two writes to the inner writer).
pub struct Masking<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> Masking<W> {
    pub fn new(inner: W) -> Self {
        Masking {
            inner,
            pending: Vec::new(),
        }
    }

    fn emit(&mut self, upto: usize) -> io::Result<()> {
        let chunk = &self.pending[..upto];
        let res = if active() {
            self.inner
                .write_all(mask(&String::from_utf8_lossy(chunk)).as_bytes())
        } else {
            self.inner.write_all(chunk)
        };
        self.pending.drain(..upto);
        res
    }
}

impl<W: Write> Write for Masking<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(pos) = self.pending.iter().rposition(|b| *b == b'\n') {
            self.emit(pos + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let n = self.pending.len();
        if n > 0 {
            self.emit(n)?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Masking<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_plain_json_and_repr_forms_and_lines() {
        register("pa\"ss'wd");
        register("line-one\nline-two");
        assert_eq!(mask("x pa\"ss'wd y"), "x ******** y");
        let json = serde_json::to_string("pa\"ss'wd").unwrap();
        assert_eq!(mask(&json), "\"********\"");
        assert_eq!(mask("'pa\"ss\\'wd'"), "'********'");
        assert_eq!(mask("+line-two\n"), "+********\n");
        let mut out = Vec::new();
        {
            let mut w = Masking::new(&mut out);
            w.write_all(b"a pa\"ss").unwrap();
            w.write_all(b"'wd b\nc").unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "a ******** b\nc");
        assert_eq!(mask("ab"), "ab");
        register("pässwörd");
        assert_eq!(mask("\"p\\u00e4ssw\\u00f6rd\""), "\"********\"");
    }
}
