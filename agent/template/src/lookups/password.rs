//! `password`: a random password kept in a file (created on first use, reused after),
//! optionally hashed (`encrypt=sha512_crypt`), with `length`, `chars` and `seed` as
//! Ansible has them (a seeded password is Python `Random(seed).choice` for each char).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use minijinja::{Error, Value};

use super::LookupCtx;
use crate::filters::pyrand::PyRandom;
use crate::filters::{err, py_str};

const ASCII_LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// Python `string.<name>`, or the text itself when it names no set.
fn charset(name: &str) -> String {
    match name {
        "ascii_letters" => ASCII_LETTERS.into(),
        "ascii_lowercase" => ASCII_LETTERS[..26].into(),
        "ascii_uppercase" => ASCII_LETTERS[26..].into(),
        "digits" => DIGITS.into(),
        "hexdigits" => "0123456789abcdefABCDEF".into(),
        "octdigits" => "01234567".into(),
        "punctuation" => PUNCTUATION.into(),
        "letters" => ASCII_LETTERS.into(),
        other => other.into(),
    }
}

/// Ansible's `random_password(length, chars, seed)`.
pub fn random_password(length: usize, chars: &str, seed: Option<&Value>) -> String {
    let pool: Vec<char> = chars.chars().collect();
    if pool.is_empty() {
        return String::new();
    }
    let mut r = match seed {
        Some(s) => PyRandom::from_value(s),
        None => {
            let mut b = [0u8; 16];
            if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
                use std::io::Read;
                let _ = f.read_exact(&mut b);
            }
            PyRandom::from_int(i128::from_le_bytes(b).unsigned_abs() as i128 >> 1)
        }
    };
    (0..length)
        .map(|_| pool[r.randbelow(pool.len() as u128) as usize])
        .collect()
}

fn parse_chars(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    if spec.contains(",,") {
        out.push(",".to_string());
    }
    out.extend(
        spec.replace(",,", ",")
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_string),
    );
    out
}

/// `password` lookup.
pub fn password(terms: Vec<Value>, ctx: &LookupCtx<'_>) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for t in terms {
        let term = py_str(&t);
        let mut words = term.split_whitespace();
        let relpath = words
            .next()
            .ok_or_else(|| err("password lookup requires a path"))?
            .to_string();
        let mut length: usize = ctx
            .opt("length")
            .and_then(crate::filters::to_int)
            .unwrap_or(20)
            .max(0) as usize;
        let mut encrypt: Option<String> = ctx
            .opt("encrypt")
            .filter(|v| !v.is_none())
            .map(py_str)
            .filter(|e| !e.is_empty());
        let mut chars: Vec<String> = match ctx.opt("chars") {
            Some(v) => match crate::filters::list_of(v) {
                Some(l) => l.iter().map(py_str).collect(),
                None => parse_chars(&py_str(v)),
            },
            None => vec!["ascii_letters".into(), "digits".into(), ".,:-_".into()],
        };
        let mut seed: Option<Value> = ctx.opt("seed").filter(|v| !v.is_none()).cloned();
        let mut ident: Option<String> = ctx.opt("ident").filter(|v| !v.is_none()).map(py_str);
        for w in words {
            let (k, v) = w.split_once('=').ok_or_else(|| {
                err(format!(
                    "Unrecognized value after key=value parameters given to password lookup: {w}"
                ))
            })?;
            match k {
                "length" => {
                    length = v
                        .parse()
                        .map_err(|_| err(format!("length must be an integer: {v}")))?
                }
                // `encrypt=` (empty) means no hashing, as in Ansible.
                "encrypt" => encrypt = Some(v.to_string()).filter(|e| !e.is_empty()),
                "chars" => chars = parse_chars(v),
                "seed" => seed = Some(Value::from(v)),
                "ident" => ident = Some(v.to_string()),
                _ => {
                    return Err(err(format!(
                        "Unrecognized parameter(s) given to password lookup: {k}"
                    )));
                }
            }
        }
        let _ = ident;
        let pool: String = chars.iter().map(|c| charset(c)).collect();
        let path = if relpath.starts_with('/') {
            PathBuf::from(&relpath)
        } else {
            let base = ctx
                .vars
                .get_var("playbook_dir")
                .map(|v| PathBuf::from(py_str(&v)))
                .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")));
            base.join(&relpath)
        };
        let (plaintext, salt) = if relpath == "/dev/null" {
            (random_password(length, &pool, seed.as_ref()), None)
        } else if path.exists() {
            let content = std::fs::read_to_string(&path)
                .map_err(|e| err(format!("{}: {e}", path.display())))?;
            let content = content.trim_end_matches(['\n', '\r']).to_string();
            match content.split_once(" salt=") {
                Some((p, s)) => (
                    p.to_string(),
                    Some(s.split(" ident=").next().unwrap_or(s).to_string()),
                ),
                None => (content, None),
            }
        } else {
            let pw = random_password(length, &pool, seed.as_ref());
            let salt = encrypt.as_ref().map(|_| {
                random_password(
                    8,
                    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                    None,
                )
            });
            if let Some(parent) = path.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(|e| err(format!("{}: {e}", parent.display())))?;
            }
            let mut content = pw.clone();
            if let Some(s) = &salt {
                content.push_str(&format!(" salt={s}"));
            }
            content.push('\n');
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| err(format!("{}: {e}", path.display())))?;
            f.write_all(content.as_bytes())
                .map_err(|e| err(e.to_string()))?;
            (pw, salt)
        };
        match encrypt {
            Some(algo) => out.push(Value::from(crate::filters::hash::password_hash(
                &plaintext,
                &algo,
                salt.as_deref(),
                None,
                None,
            )?)),
            None => out.push(Value::from(plaintext)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lookups::MapVars;

    #[test]
    fn seeded_like_python() {
        // random.Random('x').choice over ascii_letters+digits+".,:-_", 8 times
        let pool: String = ["ascii_letters", "digits", ".,:-_"]
            .iter()
            .map(|c| charset(c))
            .collect();
        let a = random_password(8, &pool, Some(&Value::from("x")));
        let b = random_password(8, &pool, Some(&Value::from("x")));
        assert_eq!(a, b);
        assert_eq!(a.len(), 8);
    }

    #[test]
    fn creates_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let vars = MapVars(Value::from(()));
        let ctx = LookupCtx {
            vars: &vars,
            kwargs: vec![],
            env: None,
        };
        let p = dir.path().join("sub/pw.txt");
        let term = Value::from(format!("{} length=12", p.display()));
        let a = password(vec![term.clone()], &ctx).unwrap();
        let b = password(vec![term], &ctx).unwrap();
        assert_eq!(a, b);
        assert_eq!(a[0].as_str().unwrap().len(), 12);
    }

    #[test]
    fn empty_encrypt_means_plain() {
        let dir = tempfile::tempdir().unwrap();
        let vars = MapVars(Value::from(()));
        let ctx = LookupCtx {
            vars: &vars,
            kwargs: vec![],
            env: None,
        };
        let p = dir.path().join("pw.txt");
        let term = Value::from(format!("{} length=9 encrypt=", p.display()));
        let a = password(vec![term], &ctx).unwrap();
        assert_eq!(a[0].as_str().unwrap().len(), 9);
    }
}
