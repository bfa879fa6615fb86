//! community.general.json_query (JMESPath): not implemented yet; registers nothing.

use minijinja::Environment;

pub(crate) fn register(env: &mut Environment<'static>) {
    let _ = env;
}
