//! minijinja errors turned into Ansible's messages (`'foo' is undefined`, `object of
//! type 'dict' has no attribute 'zz'`, `No filter named 'x'.`), with the template text
//! or file and line they came from.

use std::path::Path;
use std::sync::Arc;

use minijinja::ErrorKind;

use crate::pymethods::py_type_name;
use crate::vars::Scope;
use crate::{Templar, TemplateError};

const MAX_SOURCE_IN_MESSAGE: usize = 200;

/// Convert a minijinja error from rendering `source` (a string template, or the file
/// `file`). With a scope, undefined errors are described the way Ansible does.
pub(crate) fn convert(
    err: &minijinja::Error,
    source: &str,
    file: Option<&Path>,
    scope: Option<(&Templar, &Arc<Scope>)>,
) -> TemplateError {
    let outer = err;
    // An error inside an include or a macro is wrapped (`error in "t.j2"`): the innermost
    // one says what went wrong.
    let mut err = err;
    while let Some(inner) =
        std::error::Error::source(err).and_then(|s| s.downcast_ref::<minijinja::Error>())
    {
        err = inner;
    }
    let detail = err.detail().unwrap_or_default();
    let mut undefined = false;
    let core = match err.kind() {
        // `mandatory` on an undefined value: only the VM knows the value's expression.
        _ if std::error::Error::source(err)
            .is_some_and(|s| s.is::<crate::filters::MandatoryUndefined>()) =>
        {
            let name = undefined_expr(detail)
                .map(undefined_name)
                .filter(|n| !n.is_empty())
                .map(|n| format!("'{n}' "))
                .unwrap_or_default();
            format!(
                "The filter plugin 'ansible.builtin.mandatory' failed: Mandatory variable \
                 {name}not defined."
            )
        }
        ErrorKind::UndefinedError => {
            undefined = true;
            if let Some(hint) = crate::undef::take_hint() {
                return TemplateError {
                    message: hint,
                    file: file.map(Path::to_path_buf),
                    line: None,
                    undefined,
                };
            }
            match (undefined_expr(detail), scope) {
                (Some(expr), Some((templar, scope))) => describe_undefined(expr, templar, scope),
                (Some(expr), None) => format!("'{expr}' is undefined"),
                (None, _) if !detail.is_empty() => detail.to_string(),
                (None, _) => "undefined variable".to_string(),
            }
        }
        ErrorKind::UnknownFilter => format!("No filter named '{}'.", quoted_name(detail)),
        ErrorKind::UnknownTest => format!("No test named '{}'.", quoted_name(detail)),
        // An unknown lookup plugin says so itself (`lookup plugin (x) not found`).
        ErrorKind::UnknownFunction if detail.starts_with("lookup plugin") => detail.to_string(),
        // Jinja2 looks a called name up as a variable: calling a missing one is using an
        // undefined value
        ErrorKind::UnknownFunction => {
            undefined = true;
            format!("'{}' is undefined", quoted_name(detail))
        }
        ErrorKind::SyntaxError => format!("Syntax error in template: {}", or_kind(err)),
        ErrorKind::OutOfFuel => "Error rendering template: the template used too many \
             operations (a loop over a huge range?); limit reached"
            .to_string(),
        ErrorKind::TemplateNotFound => format!("Template not found: {}", or_kind(err)),
        _ => {
            let d = or_kind(err);
            // an undefined value that caused another failure, e.g. `foo | int`
            if let (Some(expr), Some((templar, scope))) = (undefined_expr(&d), scope) {
                undefined = true;
                describe_undefined(expr, templar, scope)
            } else {
                format!("Error rendering template: {}", python_arith_error(&d))
            }
        }
    };
    let line = outer.line();
    let message = match file {
        Some(f) => match line {
            Some(l) => format!("{core} (in template file {}:{l})", f.display()),
            None => format!("{core} (in template file {})", f.display()),
        },
        None => {
            let mut src: String = source.chars().take(MAX_SOURCE_IN_MESSAGE).collect();
            if src.len() < source.len() {
                src.push_str("...");
            }
            format!("{core} (in template: {src:?})")
        }
    };
    TemplateError {
        message,
        file: file.map(Path::to_path_buf),
        line: if file.is_some() { line } else { None },
        undefined,
    }
}

/// minijinja's `unable to calculate 1 / 0` as Python says it (`division by zero`).
fn python_arith_error(detail: &str) -> String {
    let Some(expr) = detail.strip_prefix("unable to calculate ") else {
        return detail.to_string();
    };
    let zero = |op: &str| {
        expr.rsplit_once(op)
            .is_some_and(|(_, r)| r.trim().parse::<f64>().is_ok_and(|z| z == 0.0))
    };
    if zero(" // ") || zero(" % ") {
        "integer division or modulo by zero".to_string()
    } else if zero(" / ") {
        "division by zero".to_string()
    } else {
        detail.to_string()
    }
}

fn or_kind(err: &minijinja::Error) -> String {
    match err.detail() {
        Some(d) => d.to_string(),
        None => err.kind().to_string(),
    }
}

/// The name in a detail such as `filter foo is unknown` or `unknown test 'foo'`.
fn quoted_name(detail: &str) -> &str {
    // The agent's own detail quotes the name whole (it may hold spaces: `'asdf '`).
    if let (Some(a), Some(b)) = (detail.find('\''), detail.rfind('\''))
        && b > a
    {
        return &detail[a + 1..b];
    }
    let words: Vec<&str> = detail.split_whitespace().collect();
    words
        .iter()
        .find(|w| {
            !matches!(
                **w,
                "filter" | "test" | "function" | "is" | "unknown" | "named"
            )
        })
        .map(|w| w.trim_matches(|c| c == '\'' || c == '`' || c == '"'))
        .unwrap_or(detail)
}

/// The name Ansible gives an undefined value (its `_undefined_name`) whose expression
/// is `expr`: the variable's, or the missing attribute's or key's when it is a step of a
/// defined value (`d.nokey`, `d['k']`).
fn undefined_name(expr: &str) -> &str {
    let last = match expr.rfind(['.', '[']) {
        None => expr,
        Some(i) => expr[i + 1..].trim_end_matches(']'),
    };
    last.trim_matches(|c| c == '\'' || c == '"')
}

/// The expression in minijinja's "`foo.bar` is undefined" detail.
fn undefined_expr(detail: &str) -> Option<&str> {
    let start = detail.find('`')? + 1;
    let len = detail[start..].find("` is undefined")?;
    Some(&detail[start..start + len])
}

/// Ansible's wording for an undefined expression: `'foo' is undefined` when the
/// variable is missing, `object of type 'dict' has no attribute 'zz'` when an attribute
/// or item of a defined value is.
pub(crate) fn describe_undefined(expr: &str, templar: &Templar, scope: &Arc<Scope>) -> String {
    let root_len = expr
        .char_indices()
        .find(|&(i, c)| !(c == '_' || c.is_alphanumeric()) || (i == 0 && c.is_ascii_digit()))
        .map_or(expr.len(), |(i, _)| i);
    let root = &expr[..root_len];
    if root.is_empty() {
        return format!("'{expr}' is undefined");
    }
    let segments = match accessor_segments(&expr[root_len..]) {
        Some(s) if !s.is_empty() => s,
        _ => return format!("'{root}' is undefined"),
    };
    let Some(mut current) = scope.lookup(root) else {
        // not a variable: a loop variable or other local the scope cannot see
        if scope.raw(root).is_none() {
            let last = segments.last().map_or("", |s| s.1.as_str());
            return format!("'{expr}' is undefined (no attribute {last})");
        }
        return format!("'{root}' is undefined");
    };
    let env = templar.inner_env();
    for (text, shown) in &segments {
        let key_expr = format!("__agent_parent{text}");
        let next = env.compile_expression_owned(key_expr).ok().and_then(|e| {
            e.eval(minijinja::context! { __agent_parent => current.clone() })
                .ok()
        });
        match next {
            Some(v) if !v.is_undefined() => current = v,
            _ => {
                return format!(
                    "object of type '{}' has no attribute {shown}",
                    py_type_name(&current)
                );
            }
        }
    }
    format!("'{expr}' is undefined")
}

/// Split `.a[0]["b"]` into (`.a`, `'a'`), (`[0]`, `0`), (`["b"]`, `'b'`).
fn accessor_segments(rest: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let b = rest.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && (b[j] == b'_' || b[j].is_ascii_alphanumeric()) {
                    j += 1;
                }
                let name = &rest[start..j];
                out.push((format!(".{name}"), format!("'{name}'")));
                i = j;
            }
            b'[' => {
                let j = i + rest[i..].find(']')?;
                let inner = rest[i + 1..j].trim();
                let shown = if inner.starts_with(['"', '\'']) {
                    format!("'{}'", inner.trim_matches(|c| c == '"' || c == '\''))
                } else {
                    inner.to_string()
                };
                out.push((rest[i..=j].to_string(), shown));
                i = j + 1;
            }
            _ => return None,
        }
    }
    Some(out)
}

impl Templar {
    pub(crate) fn inner_env(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, minijinja::Environment<'static>> {
        self.env()
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn parse_details() {
        assert_eq!(undefined_expr("`foo.bar` is undefined"), Some("foo.bar"));
        assert_eq!(undefined_expr("x (`a` is undefined, from y)"), Some("a"));
        assert_eq!(quoted_name("filter nosuch is unknown"), "nosuch");
        let segs = accessor_segments(".a[0][\"b\"]").unwrap();
        assert_eq!(segs[1].1, "0");
        assert_eq!(segs[2].1, "'b'");
    }
}

#[cfg(test)]
mod tests {
    use super::python_arith_error;

    #[test]
    fn division_by_zero_reads_as_python() {
        assert_eq!(
            python_arith_error("unable to calculate 1 / 0"),
            "division by zero"
        );
        assert_eq!(
            python_arith_error("unable to calculate 7 // 0"),
            "integer division or modulo by zero"
        );
        assert_eq!(
            python_arith_error("unable to calculate 1 + \"a\""),
            "unable to calculate 1 + \"a\""
        );
    }
}
