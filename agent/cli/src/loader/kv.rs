//! Ansible's `k=v` argument strings (`copy: src=a dest=b`), split as parse_kv splits them:
//! on spaces outside quotes and outside `{{ }}` / `{% %}`, quotes removed from values.

use indexmap::IndexMap;
use minijinja::Value;

/// Split a string into shell-like words, keeping Jinja2 expressions and quoted parts whole.
pub fn split_args(s: &str) -> Vec<String> {
    split_args_state(s).0
}

/// Whether `s` ends inside a quote or a `{{ }}`/`{% %}`/`{# #}` block, which Ansible
/// refuses ("failed at splitting arguments").
pub fn unbalanced(s: &str) -> bool {
    let (_, open) = split_args_state(s);
    open
}

fn split_args_state(s: &str) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if quote.is_none() && c == '{' && matches!(next, Some('{') | Some('%') | Some('#')) {
            depth += 1;
            cur.push(c);
            cur.push(next.unwrap_or('{'));
            i += 2;
            continue;
        }
        if quote.is_none() && depth > 0 && matches!(c, '}' | '%' | '#') && next == Some('}') {
            depth -= 1;
            cur.push(c);
            cur.push('}');
            i += 2;
            continue;
        }
        if depth == 0 {
            if let Some(q) = quote {
                if c == q && (i == 0 || chars[i - 1] != '\\') {
                    quote = None;
                }
                cur.push(c);
                i += 1;
                continue;
            }
            if c == '"' || c == '\'' {
                quote = Some(c);
                cur.push(c);
                i += 1;
                continue;
            }
            if c.is_whitespace() {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                i += 1;
                continue;
            }
        }
        cur.push(c);
        i += 1;
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    (out, quote.is_some() || depth > 0)
}

fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        s[1..s.len() - 1].replace(&format!("\\{}", b[0] as char), &(b[0] as char).to_string())
    } else {
        s.to_string()
    }
}

/// Ansible's `_decode_escapes`: `\\`, `\'`, `\"`, `\a\b\f\n\r\t\v`, `\xHH`, `\uHHHH`,
/// `\UHHHHHHHH` become the characters they name; anything else stays as written.
pub fn decode_escapes(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            let c = chars[i + 1];
            let simple = match c {
                '\\' => Some('\\'),
                '\'' => Some('\''),
                '"' => Some('"'),
                'a' => Some('\u{7}'),
                'b' => Some('\u{8}'),
                'f' => Some('\u{c}'),
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                'v' => Some('\u{b}'),
                _ => None,
            };
            if let Some(ch) = simple {
                out.push(ch);
                i += 2;
                continue;
            }
            let width = match c {
                'x' => 2,
                'u' => 4,
                'U' => 8,
                _ => 0,
            };
            if width > 0 && i + 2 + width <= chars.len() {
                let hex: String = chars[i + 2..i + 2 + width].iter().collect();
                if hex.chars().all(|h| h.is_ascii_hexdigit())
                    && let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                {
                    out.push(ch);
                    i += 2 + width;
                    continue;
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Ansible's split_args drops a line continuation (a lone `\` ending a line outside
/// quotes): the line and the next are joined with one space. Everything else, newlines of
/// a `shell: |` script and newlines inside quotes included, stays as written.
pub fn join_continuations(s: &str) -> String {
    if !s.contains("\\\n") && !s.contains("\\ \n") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut quote: Option<char> = None;
    let mut lines = s.split('\n').peekable();
    let mut joining = false;
    while let Some(line) = lines.next() {
        let line = if joining { line.trim_start() } else { line };
        let mut prev = '\0';
        for c in line.chars() {
            match quote {
                Some(q) if c == q && prev != '\\' => quote = None,
                None if (c == '"' || c == '\'') && prev != '\\' => quote = Some(c),
                _ => {}
            }
            prev = c;
        }
        let trimmed = line.trim_end();
        let continued = quote.is_none()
            && lines.peek().is_some()
            && (trimmed == "\\" || trimmed.ends_with(" \\"));
        if continued {
            out.push_str(trimmed[..trimmed.len() - 1].trim_end());
            out.push(' ');
        } else {
            out.push_str(line);
            if lines.peek().is_some() {
                out.push('\n');
            }
        }
        joining = continued;
    }
    out
}

/// A `k=v` word split at its first `=` (Python escapes in it decoded first, as Ansible's
/// parse_kv does: `regexp='\b'` is a backspace, `'\\b'` a regex word boundary).
fn kv_word(decoded: &str) -> Option<(&str, &str)> {
    decoded.split_once('=').filter(|(k, _)| {
        !k.is_empty()
            && (k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                // A templated key (`set_fact: "{{ name }}=x"`) is rendered at run time.
                || k.contains("{{"))
    })
}

/// A module's `k=v` string as Ansible's task loading takes it: the `k=v` words, and
/// the error for the first word that is not one (which Ansible's `_raw_params` keeps,
/// and the task then fails with when it runs). Unbalanced quotes or template
/// delimiters are an error at once, as in Ansible.
pub fn parse_kv_deferred(s: &str) -> Result<(IndexMap<String, Value>, Option<String>), String> {
    match parse_kv(s, false) {
        Ok(args) => Ok((args, None)),
        Err(e) if unbalanced(s.trim()) => Err(e),
        Err(e) => {
            let mut out = IndexMap::new();
            for word in split_args(s.trim()) {
                let decoded = decode_escapes(&word);
                if let Some((k, v)) = kv_word(&decoded) {
                    out.insert(k.to_string(), Value::from(unquote(v)));
                }
            }
            Ok((out, Some(e)))
        }
    }
}

/// Parse `k=v` words; words that are not `k=v` make `_raw_params` when `free_form`,
/// else they are returned as errors.
pub fn parse_kv(s: &str, free_form: bool) -> Result<IndexMap<String, Value>, String> {
    let original = s;
    let mut out = IndexMap::new();
    let mut raw: Vec<String> = Vec::new();
    // For free-form modules only keys the module knows are taken from the string; the
    // rest stays in the command line (Ansible: chdir, creates, removes, ...).
    const FREE_FORM_KEYS: &[&str] = &[
        "creates",
        "removes",
        "chdir",
        "executable",
        "warn",
        "stdin",
        "stdin_add_newline",
        "strip_empty_ends",
        "argv",
        "cmd",
        "expand_argument_vars",
    ];
    let s = s.trim();
    if unbalanced(s) {
        return Err(format!(
            "failed at splitting arguments, either an unbalanced jinja2 block or quotes: {s}"
        ));
    }
    for word in split_args(s) {
        let decoded = decode_escapes(&word);
        match kv_word(&decoded) {
            Some((k, v)) if !free_form || FREE_FORM_KEYS.contains(&k) => {
                out.insert(k.to_string(), Value::from(unquote(v)));
            }
            _ => {
                if free_form {
                    raw.push(word);
                } else {
                    return Err(format!(
                        "this module takes key=value arguments, but '{word}' is not one (quote values with spaces)"
                    ));
                }
            }
        }
    }
    if free_form && !raw.is_empty() {
        // The command keeps its text as written (newlines of `shell: |` scripts
        // included); only the recognised `key=value` words are taken out of it.
        if out.is_empty() {
            // Nothing taken out: the command exactly as written (a `shell: |` script keeps
            // its final newline).
            out.insert(
                "_raw_params".into(),
                Value::from(join_continuations(original)),
            );
            return Ok(out);
        }
        // Take the words out line by line: a line left empty goes with its newline
        // (Ansible attaches a line's newline to its last word), a script's final
        // newline stays.
        let words: Vec<String> = out
            .keys()
            .filter_map(|k| {
                split_args(s)
                    .into_iter()
                    .find(|w| w.starts_with(&format!("{k}=")))
            })
            .collect();
        let mut text = String::new();
        let lines: Vec<&str> = original.split('\n').collect();
        for (i, line) in lines.iter().enumerate() {
            let mut l = line.to_string();
            for w in &words {
                l = l.replacen(w.as_str(), "", 1);
            }
            let last = i + 1 == lines.len();
            if l.trim().is_empty() && l.len() != line.len() {
                continue;
            }
            text.push_str(if l.len() == line.len() {
                line
            } else {
                l.trim_start()
            });
            if !last {
                text.push('\n');
            }
        }
        let text = join_continuations(text.trim_start());
        let text = if original.ends_with('\n') {
            text
        } else {
            text.trim_end().to_string()
        };
        out.insert("_raw_params".into(), Value::from(text));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deferred_keeps_the_pairs_and_the_first_stray_word() {
        let (args, bad) = parse_kv_deferred("msg=not tagged verbosity=1").unwrap();
        assert_eq!(args.get("msg"), Some(&Value::from("not")));
        assert_eq!(args.get("verbosity"), Some(&Value::from("1")));
        assert!(bad.unwrap().contains("'tagged' is not one"));
        let (args, bad) = parse_kv_deferred("msg='a b'").unwrap();
        assert_eq!(args.get("msg"), Some(&Value::from("a b")));
        assert!(bad.is_none());
        // unbalanced quotes stay an error at once
        assert!(parse_kv_deferred("msg='a b").is_err());
    }

    #[test]
    fn joins_line_continuations_outside_quotes() {
        let script = "echo this is a \\\n\"multiline echo\" \\\n\"with a new line\nin quotes\" \\\n| cat\necho \"second\"\n";
        assert_eq!(
            join_continuations(script),
            "echo this is a \"multiline echo\" \"with a new line\nin quotes\" | cat\necho \"second\"\n"
        );
        assert_eq!(join_continuations("a\nb\n"), "a\nb\n");
        assert_eq!(join_continuations("echo 'x \\\ny'"), "echo 'x \\\ny'");
    }

    #[test]
    fn splits_kv_with_quotes_and_jinja() {
        let m = parse_kv(
            "src=a.txt dest='/tmp/a b' mode={{ m | default('0644') }}",
            false,
        )
        .unwrap();
        assert_eq!(m["src"].as_str(), Some("a.txt"));
        assert_eq!(m["dest"].as_str(), Some("/tmp/a b"));
        assert_eq!(m["mode"].as_str(), Some("{{ m | default('0644') }}"));
    }

    #[test]
    fn free_form_keeps_command() {
        let m = parse_kv("echo hello world creates=/tmp/x", true).unwrap();
        assert_eq!(m["_raw_params"].as_str(), Some("echo hello world"));
        assert_eq!(m["creates"].as_str(), Some("/tmp/x"));
    }

    #[test]
    fn free_form_keeps_newlines_and_spacing() {
        let m = parse_kv("n=1\necho  $n > f\n", true).unwrap();
        assert_eq!(m["_raw_params"].as_str(), Some("n=1\necho  $n > f\n"));
    }

    #[test]
    fn non_kv_word_is_an_error_for_kv_modules() {
        assert!(parse_kv("path=/x oops", false).is_err());
    }
}

#[cfg(test)]
mod escape_tests {
    use super::*;

    #[test]
    fn kv_values_decode_python_escapes() {
        let m = parse_kv(r"regexp='\b(.+)\b' other='\\b' nl=a\nb", false).unwrap();
        assert_eq!(m["regexp"].as_str(), Some("\u{8}(.+)\u{8}"));
        assert_eq!(m["other"].as_str(), Some(r"\b"));
        assert_eq!(m["nl"].as_str(), Some("a\nb"));
    }
}
