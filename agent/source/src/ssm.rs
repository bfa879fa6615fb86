//! Variables and the bundle pointer from SSM Parameter Store.
//!
//! Under a prefix (`/agent/<environment>` by default) every parameter is read, recursively,
//! decrypted, all pages:
//!
//! | parameter                         | becomes                                          |
//! |-----------------------------------|--------------------------------------------------|
//! | `<prefix>/bundle`                 | the pointer `{"uri": "s3://…", "sha256": "…"}`   |
//! | `<prefix>/all/<name>`             | variable `<name>` for every host                 |
//! | `<prefix>/<group>/<name>`         | variable `<name>` for the hosts of `<group>`     |
//! | `<prefix>/<group>/<a>/<b>`        | variable `<a>` = `{"<b>": value}` (nested dicts) |
//!
//! String and SecureString values are strings; StringList values are lists. SecureString
//! values are secrets: their text is registered for masking and never cached.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum SsmError {
    #[error("SSM {path}: {msg}")]
    Get { path: String, msg: String },
    #[error("SSM parameter {name}: {msg}")]
    BadPointer { name: String, msg: String },
}

/// One parameter as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub name: String,
    pub value: String,
    /// `String`, `StringList` or `SecureString`.
    pub kind: String,
}

impl Parameter {
    pub fn is_secret(&self) -> bool {
        self.kind == "SecureString"
    }
}

/// Where the bundle is and what it must hash to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pointer {
    pub uri: String,
    pub sha256: String,
}

/// Variables per group (`all` included), which names are secret, and the secrets' text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SsmVars {
    pub groups: IndexMap<String, serde_json::Map<String, serde_json::Value>>,
    /// The text of every SecureString (never serialised).
    #[serde(skip)]
    pub secrets: Vec<String>,
}

/// Read every parameter under `prefix`.
pub async fn get_all(
    client: &aws_sdk_ssm::Client,
    prefix: &str,
) -> Result<Vec<Parameter>, SsmError> {
    let mut out = Vec::new();
    let mut pages = client
        .get_parameters_by_path()
        .path(prefix)
        .recursive(true)
        .with_decryption(true)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| SsmError::Get {
            path: prefix.to_string(),
            msg: crate::aws::describe(&e),
        })?;
        for p in page.parameters() {
            out.push(Parameter {
                name: p.name().unwrap_or_default().to_string(),
                value: p.value().unwrap_or_default().to_string(),
                kind: p
                    .r#type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_else(|| "String".into()),
            });
        }
    }
    Ok(out)
}

/// Split parameters into the pointer and the variables.
pub fn interpret(
    prefix: &str,
    params: &[Parameter],
) -> Result<(Option<Pointer>, SsmVars), SsmError> {
    let prefix = prefix.trim_end_matches('/');
    let mut pointer = None;
    let mut vars = SsmVars::default();
    for p in params {
        let Some(rel) = p
            .name
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('/'))
        else {
            continue;
        };
        if p.is_secret() && !p.value.is_empty() {
            vars.secrets.push(p.value.clone());
        }
        if rel == "bundle" {
            let ptr: Pointer =
                serde_json::from_str(&p.value).map_err(|e| SsmError::BadPointer {
                    name: p.name.clone(),
                    msg: format!(
                        "must be JSON like {{\"uri\": \"s3://bucket/key\", \"sha256\": \"…\"}}: {e}"
                    ),
                })?;
            let sha = ptr.sha256.to_ascii_lowercase();
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(SsmError::BadPointer {
                    name: p.name.clone(),
                    msg: "sha256 must be 64 hex digits".into(),
                });
            }
            pointer = Some(Pointer {
                uri: ptr.uri,
                sha256: sha,
            });
            continue;
        }
        let mut parts = rel.split('/').filter(|s| !s.is_empty());
        let (Some(group), Some(first)) = (parts.next(), parts.next()) else {
            continue;
        };
        let rest: Vec<&str> = parts.collect();
        let value = if p.kind == "StringList" {
            serde_json::Value::Array(
                p.value
                    .split(',')
                    .map(|s| serde_json::Value::String(s.to_string()))
                    .collect(),
            )
        } else {
            serde_json::Value::String(p.value.clone())
        };
        let g = vars.groups.entry(group.to_string()).or_default();
        insert_path(g, first, &rest, value);
    }
    Ok((pointer, vars))
}

fn insert_path(
    map: &mut serde_json::Map<String, serde_json::Value>,
    first: &str,
    rest: &[&str],
    value: serde_json::Value,
) {
    match rest.split_first() {
        None => {
            map.insert(first.to_string(), value);
        }
        Some((next, more)) => {
            let slot = map
                .entry(first.to_string())
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            if !slot.is_object() {
                *slot = serde_json::Value::Object(Default::default());
            }
            if let serde_json::Value::Object(m) = slot {
                insert_path(m, next, more, value);
            }
        }
    }
}

impl SsmVars {
    /// The same variables with every secret value removed (what may be cached).
    pub fn without_secrets(&self, params: &[Parameter], prefix: &str) -> SsmVars {
        let public: Vec<Parameter> = params.iter().filter(|p| !p.is_secret()).cloned().collect();
        interpret(prefix, &public)
            .map(|(_, v)| v)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, value: &str, kind: &str) -> Parameter {
        Parameter {
            name: name.into(),
            value: value.into(),
            kind: kind.into(),
        }
    }

    #[test]
    fn names_to_variables() {
        let sha = "a".repeat(64);
        let params = vec![
            p(
                "/agent/prod/bundle",
                &format!("{{\"uri\": \"s3://b/k\", \"sha256\": \"{sha}\"}}"),
                "String",
            ),
            p("/agent/prod/all/ntp_server", "10.0.0.1", "String"),
            p("/agent/prod/redis/requirepass", "s3cr3t", "SecureString"),
            p("/agent/prod/web/app/db/host", "db1", "String"),
            p("/agent/prod/web/upstreams", "a,b", "StringList"),
            p("/other/x/y", "ignored", "String"),
        ];
        let (ptr, vars) = interpret("/agent/prod/", &params).unwrap();
        assert_eq!(ptr.unwrap().sha256, sha);
        assert_eq!(vars.groups["all"]["ntp_server"], "10.0.0.1");
        assert_eq!(vars.groups["redis"]["requirepass"], "s3cr3t");
        assert_eq!(vars.groups["web"]["app"]["db"]["host"], "db1");
        assert_eq!(
            vars.groups["web"]["upstreams"],
            serde_json::json!(["a", "b"])
        );
        assert_eq!(vars.secrets, vec!["s3cr3t".to_string()]);
        let public = vars.without_secrets(&params, "/agent/prod");
        assert!(
            !public
                .groups
                .get("redis")
                .is_some_and(|g| g.contains_key("requirepass"))
        );
        assert!(!serde_json::to_string(&public).unwrap().contains("s3cr3t"));
        assert!(!serde_json::to_string(&vars).unwrap().contains("secrets"));
    }

    #[test]
    fn bad_pointer() {
        let e = interpret("/a", &[p("/a/bundle", "s3://x", "String")]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("SSM parameter /a/bundle: must be JSON"),
            "{e}"
        );
        let e = interpret(
            "/a",
            &[p(
                "/a/bundle",
                r#"{"uri":"s3://b/k","sha256":"12"}"#,
                "String",
            )],
        )
        .unwrap_err();
        assert!(e.to_string().contains("64 hex digits"), "{e}");
    }
}
