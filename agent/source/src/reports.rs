//! Reports in S3, the fleet's shared store: each run puts its report at
//! `<prefix>/<env>/<id>/latest.json` and a dated copy at
//! `<prefix>/<env>/<id>/YYYY/MM/DD/<RFC 3339>.json`; `agent fleet` lists every
//! `*/*/latest.json` under the prefix and reads them.

use aws_sdk_s3::primitives::ByteStream;

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum ReportsError {
    #[error("'{uri}' is not an S3 prefix (expected s3://bucket/prefix)")]
    BadUri { uri: String },
    #[error("{uri}: {msg}")]
    S3 { uri: String, msg: String },
    #[error("cannot start the AWS client: {0}")]
    Runtime(std::io::Error),
}

/// `s3://bucket/prefix/` → (bucket, `prefix` without slashes at its ends; may be empty).
pub fn parse_prefix(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.');
    if bucket.len() < 3 || !bucket.chars().all(ok) {
        return None;
    }
    Some((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

/// A path component from a name: no `/`, not empty, not `.` or `..`.
fn component(s: &str) -> String {
    let c: String = s
        .trim()
        .chars()
        .map(|c| if c == '/' || c.is_control() { '_' } else { c })
        .collect();
    match c.as_str() {
        "" | "." | ".." => "_".to_string(),
        _ => c,
    }
}

fn join(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_string()
    } else {
        format!("{prefix}/{rest}")
    }
}

/// The two keys of a report: latest and the dated copy (`ended` is RFC 3339 UTC,
/// `YYYY-MM-DDTHH:MM:SSZ`).
pub fn report_keys(prefix: &str, env: &str, id: &str, ended: &str) -> (String, String) {
    let base = join(prefix, &format!("{}/{}", component(env), component(id)));
    let day = match (ended.get(0..4), ended.get(5..7), ended.get(8..10)) {
        (Some(y), Some(m), Some(d)) => format!("{y}/{m}/{d}"),
        _ => "unknown".to_string(),
    };
    (
        format!("{base}/latest.json"),
        format!("{base}/{day}/{}.json", component(ended)),
    )
}

/// Is `key` (under `prefix`) an `<env>/<id>/latest.json`? Gives (env, id).
pub fn latest_key<'a>(prefix: &str, key: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = if prefix.is_empty() {
        key
    } else {
        key.strip_prefix(prefix)?.strip_prefix('/')?
    };
    let mut parts = rest.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(env), Some(id), Some("latest.json"), None) if !env.is_empty() && !id.is_empty() => {
            Some((env, id))
        }
        _ => None,
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ReportsError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ReportsError::Runtime)
}

/// Put one report (already masked) at both keys. Returns the URIs written.
pub fn upload(
    cfg: &Config,
    uri: &str,
    env: &str,
    id: &str,
    ended: &str,
    body: &[u8],
) -> Result<Vec<String>, ReportsError> {
    let (bucket, prefix) = parse_prefix(uri).ok_or_else(|| ReportsError::BadUri {
        uri: uri.to_string(),
    })?;
    let (latest, dated) = report_keys(&prefix, env, id, ended);
    runtime()?.block_on(async {
        let sdk = crate::aws::sdk_config(cfg).await;
        let client = crate::aws::s3(&sdk);
        let mut done = Vec::new();
        // The dated copy first: `latest.json` then never names a report that is missing.
        for key in [dated, latest] {
            let target = format!("s3://{bucket}/{key}");
            client
                .put_object()
                .bucket(&bucket)
                .key(&key)
                .content_type("application/json")
                .body(ByteStream::from(body.to_vec()))
                .send()
                .await
                .map_err(|e| ReportsError::S3 {
                    uri: target.clone(),
                    msg: crate::aws::describe(&e),
                })?;
            done.push(target);
        }
        Ok(done)
    })
}

/// One host's latest report as stored.
#[derive(Debug, Clone)]
pub struct Stored {
    pub env: String,
    pub id: String,
    pub key: String,
    /// When S3 last wrote it (seconds since the epoch), if known.
    pub last_modified: Option<i64>,
    /// The object's body, or why it could not be read.
    pub body: Result<Vec<u8>, String>,
}

/// Every `<env>/<id>/latest.json` under `uri`, read (16 at a time).
pub fn fleet(cfg: &Config, uri: &str) -> Result<Vec<Stored>, ReportsError> {
    let (bucket, prefix) = parse_prefix(uri).ok_or_else(|| ReportsError::BadUri {
        uri: uri.to_string(),
    })?;
    runtime()?.block_on(async {
        let sdk = crate::aws::sdk_config(cfg).await;
        let client = crate::aws::s3(&sdk);
        let list_prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        let mut found: Vec<Stored> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = client
                .list_objects_v2()
                .bucket(&bucket)
                .prefix(&list_prefix);
            if let Some(t) = &token {
                req = req.continuation_token(t);
            }
            let page = req.send().await.map_err(|e| ReportsError::S3 {
                uri: uri.to_string(),
                msg: crate::aws::describe(&e),
            })?;
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                if let Some((env, id)) = latest_key(&prefix, key) {
                    found.push(Stored {
                        env: env.to_string(),
                        id: id.to_string(),
                        key: key.to_string(),
                        last_modified: o.last_modified().map(|t| t.secs()),
                        body: Err(String::new()),
                    });
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        let mut set = tokio::task::JoinSet::new();
        let mut bodies: Vec<Option<Result<Vec<u8>, String>>> = vec![None; found.len()];
        let mut next = 0;
        loop {
            while set.len() < 16 && next < found.len() {
                let (c, b, k, i) = (
                    client.clone(),
                    bucket.clone(),
                    found[next].key.clone(),
                    next,
                );
                set.spawn(async move { (i, get(&c, &b, &k).await) });
                next += 1;
            }
            match set.join_next().await {
                Some(Ok((i, body))) => bodies[i] = Some(body),
                Some(Err(e)) => return Err(ReportsError::Runtime(std::io::Error::other(e))),
                None => break,
            }
        }
        for (s, b) in found.iter_mut().zip(bodies) {
            s.body = b.unwrap_or_else(|| Err("not read".into()));
        }
        Ok(found)
    })
}

async fn get(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
    let resp = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| crate::aws::describe(&e))?;
    let data = resp
        .body
        .collect()
        .await
        .map_err(|e| format!("download interrupted: {e}"))?;
    Ok(data.into_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(
            parse_prefix("s3://bucket/reports/"),
            Some(("bucket".into(), "reports".into()))
        );
        assert_eq!(
            parse_prefix("s3://bucket/a/b"),
            Some(("bucket".into(), "a/b".into()))
        );
        assert_eq!(
            parse_prefix("s3://bucket"),
            Some(("bucket".into(), "".into()))
        );
        for bad in [
            "s3://",
            "s3://B/x",
            "http://bucket/x",
            "s3://ab/x",
            "bucket/x",
        ] {
            assert_eq!(parse_prefix(bad), None, "{bad}");
        }
    }

    #[test]
    fn keys() {
        assert_eq!(
            report_keys("reports", "prod", "i-0abc", "2026-11-29T22:13:19Z"),
            (
                "reports/prod/i-0abc/latest.json".into(),
                "reports/prod/i-0abc/2026/11/29/2026-11-29T22:13:19Z.json".into()
            )
        );
        assert_eq!(
            report_keys("", "a/b", "..", "x").0,
            "a_b/_/latest.json".to_string()
        );
        assert_eq!(
            latest_key("reports", "reports/prod/web1/latest.json"),
            Some(("prod", "web1"))
        );
        assert_eq!(
            latest_key("", "prod/web1/latest.json"),
            Some(("prod", "web1"))
        );
        for k in [
            "reports/prod/web1/2026/11/29/x.json",
            "reports/prod/latest.json",
            "other/prod/web1/latest.json",
            "reports//web1/latest.json",
            "reportsx/prod/web1/latest.json",
        ] {
            assert_eq!(latest_key("reports", k), None, "{k}");
        }
    }
}
