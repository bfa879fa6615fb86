//! Ansible's `undef()` global (2.19+): an undefined value with a hint, for role defaults
//! that must be overridden (`db_password: "{{ undef(hint='set db_password') }}"`) and
//! for lookups' `default=undef()`.
//!
//! minijinja's undefined carries no payload, so the hint travels beside it: the last
//! hint made during a render is kept per thread, an undefined error of that render says
//! the hint instead of naming the expression, and [`clear`] forgets it when the
//! top-level render returns.

use std::cell::RefCell;

use minijinja::value::Kwargs;
use minijinja::{Error, Value};

use crate::filters::{err, type_name};

/// The hint of `undef()` without one.
pub(crate) const DEFAULT_HINT: &str = "Mandatory variable has not been overridden";

thread_local! {
    static HINT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Remember why the value about to be returned is undefined.
pub(crate) fn set_hint(hint: String) {
    HINT.with(|h| *h.borrow_mut() = Some(hint));
}

/// The pending hint, if an undefined value with one was made in this render.
pub(crate) fn take_hint() -> Option<String> {
    HINT.with(|h| h.borrow_mut().take())
}

/// Forget any pending hint (a top-level render has returned).
pub(crate) fn clear() {
    HINT.with(|h| {
        if let Ok(mut h) = h.try_borrow_mut() {
            *h = None;
        }
    });
}

/// `undef(hint=None)`: an undefined value; using it fails with `hint`.
pub(crate) fn undef(hint: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let hint = match hint.or(kwargs.get::<Option<Value>>("hint")?) {
        None => None,
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) => match v.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                return Err(err(format!(
                    "The 'hint' argument must be of type 'str' or 'NoneType', not '{}'.",
                    type_name(&v)
                )));
            }
        },
    };
    kwargs.assert_all_used()?;
    set_hint(
        hint.filter(|h| !h.is_empty())
            .unwrap_or_else(|| DEFAULT_HINT.to_string()),
    );
    Ok(Value::UNDEFINED)
}

#[cfg(test)]
mod tests {
    use crate::{Templar, Vars};
    use minijinja::Value;

    fn render(t: &Templar, vars: &Vars, s: &str) -> Result<Value, String> {
        t.render_str(s, vars).map_err(|e| e.message)
    }

    #[test]
    fn undef_hints_and_defaults() {
        let t = Templar::new();
        let vars = Vars::new(vec![Value::from(minijinja::value::Serde(
            serde_json::json!({
                "a": "{{ undef(hint='a must be set') }}",
                "b": "{{ undef() }}",
            }),
        ))]);
        assert_eq!(
            render(&t, &vars, "{{ a | default('d') }} {{ b is defined }}").unwrap(),
            Value::from("d False")
        );
        assert!(
            render(&t, &vars, "{{ a }}")
                .unwrap_err()
                .contains("a must be set")
        );
        let e = render(&t, &vars, "{{ b }}").unwrap_err();
        assert!(
            e.contains("Mandatory variable has not been overridden"),
            "{e}"
        );
        let e = render(&t, &vars, "{{ undef(1) }}").unwrap_err();
        assert!(
            e.contains("must be of type 'str' or 'NoneType', not 'int'"),
            "{e}"
        );
        // a hint does not outlive its render
        let e = render(&t, &vars, "{{ nosuch }}").unwrap_err();
        assert!(e.contains("'nosuch' is undefined"), "{e}");
        let e = render(
            &t,
            &vars,
            "{{ lookup('env', 'AGENT_SURELY_UNSET_VAR', default=undef()) }}",
        )
        .unwrap_err();
        assert!(
            e.contains("The environment variable 'AGENT_SURELY_UNSET_VAR' is not set."),
            "{e}"
        );
        assert_eq!(
            render(
                &t,
                &vars,
                "{{ lookup('env', 'AGENT_SURELY_UNSET_VAR', default=undef()) is defined }}"
            )
            .unwrap(),
            Value::from(false)
        );
        // a custom hint is kept; an unused undef() default leaves no hint behind
        let e = render(
            &t,
            &vars,
            "{{ lookup('env', 'AGENT_SURELY_UNSET_VAR', default=undef('custom hint')) }}",
        )
        .unwrap_err();
        assert!(e.contains("custom hint"), "{e}");
        let e = render(
            &t,
            &vars,
            "{{ lookup('env', 'PATH', default=undef()) }}{{ nosuch }}",
        )
        .unwrap_err();
        assert!(e.contains("'nosuch' is undefined"), "{e}");
    }
}
