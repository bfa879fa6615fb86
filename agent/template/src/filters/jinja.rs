//! Overrides of minijinja builtins with Jinja2 semantics (map/select/join/int/...): none yet.

use minijinja::Environment;

pub(crate) fn register(env: &mut Environment<'static>) {
    let _ = env;
}
