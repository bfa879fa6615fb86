//! Template syntax checks at load time (parse only, nothing rendered).

use std::sync::OnceLock;

use minijinja::Environment;

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut e = Environment::new();
        e.set_syntax(minijinja::syntax::SyntaxConfig::default());
        e
    })
}

/// Check that `s` parses: as a bare expression (`when`) or as a template string.
pub fn check(s: &str, expr: bool) -> Result<(), String> {
    if expr {
        let inner = s.trim();
        // `when: "{{ x }}"` is accepted by Ansible (with a warning).
        let inner = inner
            .strip_prefix("{{")
            .and_then(|r| r.strip_suffix("}}"))
            .unwrap_or(inner);
        env()
            .compile_expression(inner)
            .map(|_| ())
            .map_err(|e| e.to_string())
    } else {
        env()
            .template_from_str(s)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn catches_bad_expressions() {
        assert!(super::check("x == 1", true).is_ok());
        assert!(super::check("x ==", true).is_err());
        assert!(super::check("{{ x }", false).is_err());
    }
}
