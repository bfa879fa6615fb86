//! Bundles from S3: a conditional GET on the cached ETag (304: nothing downloaded),
//! streamed into the cache while its sha256 is computed.

use std::io::Write;

use sha2::{Digest, Sha256};

use crate::cache::{Cache, CacheError};

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("'{uri}' is not an S3 URI (expected s3://bucket/key)")]
    BadUri { uri: String },
    #[error("s3://{bucket}/{key}: {msg}")]
    Get {
        bucket: String,
        key: String,
        msg: String,
    },
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// `s3://bucket/key` → (bucket, key).
pub fn parse_uri(uri: &str) -> Result<(String, String), S3Error> {
    let bad = || S3Error::BadUri {
        uri: uri.to_string(),
    };
    let rest = uri.strip_prefix("s3://").ok_or_else(bad)?;
    let (bucket, key) = rest.split_once('/').ok_or_else(bad)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(bad());
    }
    Ok((bucket.to_string(), key.to_string()))
}

/// What a fetch gave.
pub enum Fetch {
    /// 304: the cached object is current.
    Unchanged,
    /// A new object, downloaded whole into the cache's temporary file.
    Downloaded {
        file: tempfile::NamedTempFile,
        sha256: String,
        etag: Option<String>,
        bytes: u64,
    },
}

/// GET `s3://bucket/key`, conditional on `etag` when given.
pub async fn fetch(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    etag: Option<&str>,
    cache: &Cache,
    progress: bool,
) -> Result<Fetch, S3Error> {
    let get_err = |msg: String| S3Error::Get {
        bucket: bucket.to_string(),
        key: key.to_string(),
        msg,
    };
    let mut req = client.get_object().bucket(bucket).key(key);
    if let Some(e) = etag {
        req = req.if_none_match(e);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            if e.raw_response().map(|r| r.status().as_u16()) == Some(304) {
                return Ok(Fetch::Unchanged);
            }
            return Err(get_err(crate::aws::describe(&e)));
        }
    };
    let total = resp.content_length().and_then(|n| u64::try_from(n).ok());
    let new_etag = resp.e_tag().map(str::to_string);
    let mut bar = crate::progress::bar(progress, total, &format!("s3://{bucket}/{key}"));
    let mut file = cache.download_file()?;
    let mut hasher = Sha256::new();
    let mut body = resp.body;
    let mut bytes: u64 = 0;
    loop {
        let chunk = body
            .try_next()
            .await
            .map_err(|e| get_err(format!("download interrupted: {e}")))?;
        let Some(chunk) = chunk else { break };
        hasher.update(&chunk);
        file.write_all(&chunk)
            .map_err(|e| get_err(format!("cannot write the download: {e}")))?;
        bytes += chunk.len() as u64;
        bar.advance(chunk.len() as u64);
    }
    bar.finish();
    if let Some(t) = total
        && t != bytes
    {
        return Err(get_err(format!(
            "download incomplete: {bytes} of {t} bytes"
        )));
    }
    Ok(Fetch::Downloaded {
        file,
        sha256: hex::encode(hasher.finalize()),
        etag: new_etag,
        bytes,
    })
}

/// GET a small object (a signature) whole: `None` when there is no such object (404).
/// At most `limit` bytes are read; a bigger object comes back cut at `limit + 1`.
pub async fn get_small(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    limit: usize,
) -> Result<Option<Vec<u8>>, S3Error> {
    let get_err = |msg: String| S3Error::Get {
        bucket: bucket.to_string(),
        key: key.to_string(),
        msg,
    };
    let resp = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(r) => r,
        Err(e) => {
            if e.raw_response().map(|r| r.status().as_u16()) == Some(404) {
                return Ok(None);
            }
            return Err(get_err(crate::aws::describe(&e)));
        }
    };
    let mut body = resp.body;
    let mut out = Vec::new();
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| get_err(format!("download interrupted: {e}")))?
    {
        out.extend_from_slice(&chunk);
        if out.len() > limit {
            out.truncate(limit + 1);
            break;
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    #[test]
    fn uris() {
        assert_eq!(
            super::parse_uri("s3://b/k/x.tar.gz").unwrap(),
            ("b".into(), "k/x.tar.gz".into())
        );
        for bad in ["s3://b", "s3:///k", "http://b/k", "s3://b/"] {
            assert!(super::parse_uri(bad).is_err(), "{bad}");
        }
    }
}
