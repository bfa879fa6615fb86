//! Jinja2 tests as Ansible has them (`is succeeded`, `is version`, `is match`, ...).

use minijinja::Environment;

/// Register every test.
pub fn register(env: &mut Environment<'static>) {
    let _ = env;
}
