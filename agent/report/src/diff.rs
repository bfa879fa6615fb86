//! Ansible's diff display (`CallbackBase._get_diff`) over a Python `difflib`-exact
//! unified diff, so hunks line up exactly as ansible-playbook prints them.

use crate::color::{self, Color};
use crate::pyjson::{self, JsonStyle};
use minijinja::value::{Value, ValueKind};
use std::collections::HashMap;

/// Lines of context around changes (Ansible's `DIFF_CONTEXT`, default 3).
pub const DIFF_CONTEXT: usize = 3;

/// Render an Ansible `diff` result value (one dict or a list of them) the way the
/// default callback shows it, without colour. Empty when there is nothing to show.
pub fn unified_diff(diff: &Value) -> String {
    render_diff(diff, false, DIFF_CONTEXT)
}

/// [`unified_diff`] with colour (`+` green, `-` red, `@@` cyan) and a context size.
pub fn render_diff(diff: &Value, colored: bool, context: usize) -> String {
    let mut ret = String::new();
    let diffs: Vec<Value> = match diff.kind() {
        ValueKind::Seq | ValueKind::Iterable => {
            diff.try_iter().map(|i| i.collect()).unwrap_or_default()
        }
        _ => vec![diff.clone()],
    };
    for d in &diffs {
        if d.kind() != ValueKind::Map {
            continue;
        }
        let has = |k: &str| d.get_attr(k).is_ok_and(|v| !v.is_undefined());
        let get = |k: &str| d.get_attr(k).unwrap_or_default();
        if has("dst_binary") {
            ret.push_str("diff skipped: destination file appears to be binary\n");
        }
        if has("src_binary") {
            ret.push_str("diff skipped: source file appears to be binary\n");
        }
        if has("dst_larger") {
            ret.push_str(&format!(
                "diff skipped: destination file size is greater than {}\n",
                get("dst_larger")
            ));
        }
        if has("src_larger") {
            ret.push_str(&format!(
                "diff skipped: source file size is greater than {}\n",
                get("src_larger")
            ));
        }
        if has("before") && has("after") {
            let before = side_text(&get("before"));
            let after = side_text(&get("after"));
            let before_header = if has("before_header") {
                format!("before: {}", get("before_header"))
            } else {
                "before".to_string()
            };
            let after_header = if has("after_header") {
                format!("after: {}", get("after_header"))
            } else {
                "after".to_string()
            };
            let mut a = splitlines_keepends(&before);
            let mut b = splitlines_keepends(&after);
            for lines in [&mut a, &mut b] {
                if let Some(last) = lines.last_mut()
                    && !last.ends_with('\n')
                {
                    last.push_str("\n\\ No newline at end of file\n");
                }
            }
            let lines = difflib_unified(&a, &b, &before_header, &after_header, context);
            let has_diff = !lines.is_empty();
            for line in lines {
                let c = if line.starts_with('+') {
                    Some(Color::DiffAdd)
                } else if line.starts_with('-') {
                    Some(Color::DiffRemove)
                } else if line.starts_with("@@") {
                    Some(Color::DiffLines)
                } else {
                    None
                };
                match c {
                    Some(c) if colored => ret.push_str(&color::stringc(&line, c)),
                    _ => ret.push_str(&line),
                }
            }
            if has_diff {
                ret.push('\n');
            }
        }
        if has("prepared") {
            ret.push_str(&get("prepared").to_string());
        }
    }
    ret
}

/// A diff side as text: dicts are dumped as sorted, indented JSON; `None` is empty.
fn side_text(v: &Value) -> String {
    match v.kind() {
        ValueKind::Map => {
            let mut s = pyjson::dumps(
                v,
                JsonStyle {
                    indent: Some(4),
                    sort_keys: true,
                    ensure_ascii: true,
                },
            );
            s.push('\n');
            s
        }
        ValueKind::None | ValueKind::Undefined => String::new(),
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        _ => v.to_string(),
    }
}

/// Python's `str.splitlines(True)`.
pub(crate) fn splitlines_keepends(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        cur.push(c);
        let is_break = matches!(
            c,
            '\n' | '\u{b}'
                | '\u{c}'
                | '\u{1c}'
                | '\u{1d}'
                | '\u{1e}'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                cur.push('\n');
                chars.next();
            }
            out.push(std::mem::take(&mut cur));
        } else if is_break {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Equal,
    Replace,
    Delete,
    Insert,
}

type Opcode = (Tag, usize, usize, usize, usize);

/// `difflib.SequenceMatcher(None, a, b)` (autojunk on) reduced to what unified diffs need.
struct Matcher<'a> {
    a: &'a [String],
    b: &'a [String],
    b2j: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Matcher<'a> {
    fn new(a: &'a [String], b: &'a [String]) -> Self {
        let mut b2j: HashMap<&'a str, Vec<usize>> = HashMap::new();
        for (j, line) in b.iter().enumerate() {
            b2j.entry(line.as_str()).or_default().push(j);
        }
        let n = b.len();
        if n >= 200 {
            let ntest = n / 100 + 1;
            b2j.retain(|_, idx| idx.len() <= ntest);
        }
        Matcher { a, b, b2j }
    }

    fn find_longest_match(
        &self,
        alo: usize,
        ahi: usize,
        blo: usize,
        bhi: usize,
    ) -> (usize, usize, usize) {
        let (mut besti, mut bestj, mut bestsize) = (alo, blo, 0usize);
        let mut j2len: HashMap<usize, usize> = HashMap::new();
        for i in alo..ahi {
            let mut newj2len: HashMap<usize, usize> = HashMap::new();
            if let Some(js) = self.b2j.get(self.a[i].as_str()) {
                for &j in js {
                    if j < blo {
                        continue;
                    }
                    if j >= bhi {
                        break;
                    }
                    let k = j
                        .checked_sub(1)
                        .and_then(|p| j2len.get(&p))
                        .copied()
                        .unwrap_or(0)
                        + 1;
                    newj2len.insert(j, k);
                    if k > bestsize {
                        besti = i + 1 - k;
                        bestj = j + 1 - k;
                        bestsize = k;
                    }
                }
            }
            j2len = newj2len;
        }
        while besti > alo && bestj > blo && self.a[besti - 1] == self.b[bestj - 1] {
            besti -= 1;
            bestj -= 1;
            bestsize += 1;
        }
        while besti + bestsize < ahi
            && bestj + bestsize < bhi
            && self.a[besti + bestsize] == self.b[bestj + bestsize]
        {
            bestsize += 1;
        }
        (besti, bestj, bestsize)
    }

    fn matching_blocks(&self) -> Vec<(usize, usize, usize)> {
        let (la, lb) = (self.a.len(), self.b.len());
        let mut queue = vec![(0, la, 0, lb)];
        let mut blocks = Vec::new();
        while let Some((alo, ahi, blo, bhi)) = queue.pop() {
            let (i, j, k) = self.find_longest_match(alo, ahi, blo, bhi);
            if k > 0 {
                blocks.push((i, j, k));
                if alo < i && blo < j {
                    queue.push((alo, i, blo, j));
                }
                if i + k < ahi && j + k < bhi {
                    queue.push((i + k, ahi, j + k, bhi));
                }
            }
        }
        blocks.sort();
        let (mut i1, mut j1, mut k1) = (0, 0, 0);
        let mut out = Vec::new();
        for (i2, j2, k2) in blocks {
            if i1 + k1 == i2 && j1 + k1 == j2 {
                k1 += k2;
            } else {
                if k1 > 0 {
                    out.push((i1, j1, k1));
                }
                (i1, j1, k1) = (i2, j2, k2);
            }
        }
        if k1 > 0 {
            out.push((i1, j1, k1));
        }
        out.push((la, lb, 0));
        out
    }

    fn opcodes(&self) -> Vec<Opcode> {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        for (ai, bj, size) in self.matching_blocks() {
            let tag = if i < ai && j < bj {
                Some(Tag::Replace)
            } else if i < ai {
                Some(Tag::Delete)
            } else if j < bj {
                Some(Tag::Insert)
            } else {
                None
            };
            if let Some(tag) = tag {
                out.push((tag, i, ai, j, bj));
            }
            i = ai + size;
            j = bj + size;
            if size > 0 {
                out.push((Tag::Equal, ai, i, bj, j));
            }
        }
        out
    }

    fn grouped_opcodes(&self, n: usize) -> Vec<Vec<Opcode>> {
        let mut codes = self.opcodes();
        if codes.is_empty() {
            codes.push((Tag::Equal, 0, 1, 0, 1));
        }
        if let Some(first) = codes.first_mut()
            && first.0 == Tag::Equal
        {
            let (t, i1, i2, j1, j2) = *first;
            *first = (
                t,
                i1.max(i2.saturating_sub(n)),
                i2,
                j1.max(j2.saturating_sub(n)),
                j2,
            );
        }
        if let Some(last) = codes.last_mut()
            && last.0 == Tag::Equal
        {
            let (t, i1, i2, j1, j2) = *last;
            *last = (t, i1, i2.min(i1 + n), j1, j2.min(j1 + n));
        }
        let nn = n + n;
        let mut groups = Vec::new();
        let mut group = Vec::new();
        for (tag, mut i1, i2, mut j1, j2) in codes {
            if tag == Tag::Equal && i2 - i1 > nn {
                group.push((tag, i1, i2.min(i1 + n), j1, j2.min(j1 + n)));
                groups.push(std::mem::take(&mut group));
                i1 = i1.max(i2.saturating_sub(n));
                j1 = j1.max(j2.saturating_sub(n));
            }
            group.push((tag, i1, i2, j1, j2));
        }
        let only_equal = group.len() == 1 && group[0].0 == Tag::Equal;
        if !group.is_empty() && !only_equal {
            groups.push(group);
        }
        groups
    }
}

fn format_range(start: usize, stop: usize) -> String {
    let mut beginning = start + 1;
    let length = stop - start;
    if length == 1 {
        return beginning.to_string();
    }
    if length == 0 {
        beginning -= 1;
    }
    format!("{beginning},{length}")
}

/// `difflib.unified_diff(a, b, fromfile, tofile, n=context)` as a list of lines.
pub(crate) fn difflib_unified(
    a: &[String],
    b: &[String],
    fromfile: &str,
    tofile: &str,
    context: usize,
) -> Vec<String> {
    let m = Matcher::new(a, b);
    let mut out = Vec::new();
    for (gi, group) in m.grouped_opcodes(context).iter().enumerate() {
        if gi == 0 {
            out.push(format!("--- {fromfile}\n"));
            out.push(format!("+++ {tofile}\n"));
        }
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        out.push(format!(
            "@@ -{} +{} @@\n",
            format_range(first.1, last.2),
            format_range(first.3, last.4)
        ));
        for &(tag, i1, i2, j1, j2) in group {
            if tag == Tag::Equal {
                for line in &a[i1..i2] {
                    out.push(format!(" {line}"));
                }
                continue;
            }
            if matches!(tag, Tag::Replace | Tag::Delete) {
                for line in &a[i1..i2] {
                    out.push(format!("-{line}"));
                }
            }
            if matches!(tag, Tag::Replace | Tag::Insert) {
                for line in &b[j1..j2] {
                    out.push(format!("+{line}"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(j: &str) -> Value {
        let j: serde_json::Value = serde_json::from_str(j).unwrap();
        Value::from(minijinja::value::Serde(&j))
    }

    #[test]
    fn content_diff_with_headers() {
        let d = v(
            r#"{"before": "line1\nline2\nline3\n", "after": "line1\nLINE2\nline3\nline4",
                "before_header": "/f", "after_header": "/f"}"#,
        );
        assert_eq!(
            unified_diff(&d),
            "--- before: /f\n+++ after: /f\n@@ -1,3 +1,4 @@\n line1\n-line2\n+LINE2\n line3\n+line4\n\\ No newline at end of file\n\n"
        );
    }

    #[test]
    fn dict_sides_and_creation() {
        let d = v(
            r#"{"before": {"path": "/d", "state": "absent"}, "after": {"path": "/d", "state": "directory"}}"#,
        );
        assert_eq!(
            unified_diff(&d),
            "--- before\n+++ after\n@@ -1,4 +1,4 @@\n {\n     \"path\": \"/d\",\n-    \"state\": \"absent\"\n+    \"state\": \"directory\"\n }\n\n"
        );
        let d = v(r#"{"before": "", "after": "a\n", "after_header": "/x"}"#);
        assert_eq!(
            unified_diff(&d),
            "--- before\n+++ after: /x\n@@ -0,0 +1 @@\n+a\n\n"
        );
    }

    #[test]
    fn no_change_and_prepared() {
        assert_eq!(unified_diff(&v(r#"{"before": "a\n", "after": "a\n"}"#)), "");
        assert_eq!(
            unified_diff(&v(r#"[{"prepared": "p\n"}, {"dst_binary": 1}]"#)),
            "p\ndiff skipped: destination file appears to be binary\n"
        );
    }

    #[test]
    fn hunks_split_on_long_context() {
        let before: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let after: String = (1..=20)
            .map(|i| match i {
                2 => "two\n".to_string(),
                19 => "nineteen\n".to_string(),
                i => format!("{i}\n"),
            })
            .collect();
        let a = splitlines_keepends(&before);
        let b = splitlines_keepends(&after);
        let lines = difflib_unified(&a, &b, "a", "b", 3);
        let hunks: Vec<&String> = lines.iter().filter(|l| l.starts_with("@@")).collect();
        assert_eq!(hunks, ["@@ -1,5 +1,5 @@\n", "@@ -16,5 +16,5 @@\n"]);
    }

    #[test]
    fn splitlines_like_python() {
        assert_eq!(
            splitlines_keepends("a\r\nb\rc\n\nd"),
            ["a\r\n", "b\r", "c\n", "\n", "d"]
        );
        assert!(splitlines_keepends("").is_empty());
    }
}
