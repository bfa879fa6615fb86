//! `env` collector (env.py): the agent's environment.

use serde_json::Value;

use crate::{Ctx, Facts};

pub fn collect(_ctx: &mut Ctx<'_>) -> Facts {
    let mut env = Facts::new();
    for (k, v) in std::env::vars_os() {
        env.insert(
            k.to_string_lossy().into_owned(),
            Value::from(v.to_string_lossy().into_owned()),
        );
    }
    let mut f = Facts::new();
    f.insert("env".into(), Value::Object(env));
    f
}
