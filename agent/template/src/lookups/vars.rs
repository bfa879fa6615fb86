//! Lookups that read the environment, variables or commands: env, vars, varnames,
//! pipe, lines.

use minijinja::{Error, Value};

use super::LookupCtx;
use crate::filters::{err, py_str};

/// `env`: environment variables (`default=''` for missing ones).
pub fn env(terms: Vec<Value>, ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    let default = ctx
        .opt("default")
        .cloned()
        .unwrap_or_else(|| Value::from(""));
    Ok(terms
        .iter()
        .map(|t| {
            // Ansible reads the first word of a term
            let term = py_str(t);
            let name = term.split_whitespace().next().unwrap_or("");
            match std::env::var(name) {
                Ok(v) => {
                    crate::origin::note(
                        &v,
                        format!(
                            "<environment variable {}>",
                            crate::filters::py_repr(&Value::from(name))
                        ),
                    );
                    if default.is_undefined() {
                        // an `undef()` default that is not used leaves no hint behind
                        crate::undef::take_hint();
                    }
                    Value::from(v)
                }
                Err(_) if default.is_undefined() => {
                    // Ansible replaces only `undef()`'s own hint (a custom hint stays; an
                    // undefined variable as the default names itself)
                    match crate::undef::take_hint() {
                        Some(h) if h == crate::undef::DEFAULT_HINT => {
                            crate::undef::set_hint(format!(
                                "The environment variable {} is not set.",
                                crate::filters::py_repr(&Value::from(name))
                            ))
                        }
                        Some(h) => crate::undef::set_hint(h),
                        None => {}
                    }
                    Value::UNDEFINED
                }
                Err(_) => default.clone(),
            }
        })
        .collect())
}

/// `vars`: variables by name (`default=` for missing ones).
pub fn vars(terms: Vec<Value>, ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    let default = ctx.opt("default").filter(|v| !v.is_none()).cloned();
    let mut out = Vec::new();
    for t in terms {
        let Some(name) = t.as_str() else {
            return Err(err(format!(
                "Variable name must be 'str' not '{}'.",
                crate::filters::type_name(&t)
            )));
        };
        match ctx.vars.get_var(name) {
            Some(v) => out.push(v),
            None => match &default {
                Some(d) => out.push(d.clone()),
                None => return Err(err(format!("No variable named '{name}' was found."))),
            },
        }
    }
    Ok(out)
}

/// `varnames`: names of variables matching each regex term (Python `re.search`).
pub fn varnames(terms: Vec<Value>, ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    let names = ctx.vars.var_names();
    let mut out = Vec::new();
    for t in terms {
        let Some(pattern) = t.as_str() else {
            return Err(err(format!(
                "Invalid setting identifier, \"{}\" is not a string, it is a {}",
                py_str(&t),
                crate::filters::type_name(&t)
            )));
        };
        let re = crate::filters::regex::compile(pattern, false, false).map_err(|e| {
            err(format!(
                "Unable to use \"{pattern}\" as a search parameter: {e}"
            ))
        })?;
        for n in &names {
            if re.is_match(n).unwrap_or(false) {
                out.push(Value::from(n.as_str()));
            }
        }
    }
    Ok(out)
}

fn run_shell(cmd: &str) -> Result<(i32, String), Error> {
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output();
    // The command may have changed what was read of the host (users, the time zone).
    crate::epoch::touched();
    let out = out.map_err(|e| err(format!("lookup_plugin.pipe({cmd}) failed: {e}")))?;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// `pipe`: each term's stdout (trailing whitespace removed).
pub fn pipe(terms: Vec<Value>, _ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for t in terms {
        let cmd = py_str(&t);
        let (rc, stdout) = run_shell(&cmd)?;
        if rc != 0 {
            return Err(err(format!("lookup_plugin.pipe({cmd}) returned {rc}")));
        }
        out.push(Value::from(stdout.trim_end()));
    }
    Ok(out)
}

/// `lines`: each term's stdout, one result per line.
pub fn lines(terms: Vec<Value>, _ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for t in terms {
        let cmd = py_str(&t);
        let (rc, stdout) = run_shell(&cmd)?;
        if rc != 0 {
            return Err(err(format!("lookup_plugin.lines({cmd}) returned {rc}")));
        }
        out.extend(stdout.lines().map(Value::from));
    }
    Ok(out)
}
