//! Pull: from the configured source to a verified, unpacked bundle directory plus the
//! SSM variables, falling back to the last-known-good bundle when the source cannot be
//! reached or gives something that does not match its pin. Nothing here touches the
//! host outside the cache.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::bundle::{self, Limits};
use crate::cache::{Cache, CacheError, State};
use crate::config::Config;
use crate::s3::{self, Fetch, S3Error};
use crate::sign::{self, PublicKey};
use crate::ssm::{self, Pointer, SsmError, SsmVars};

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("no source configured: give a playbook, `--source URI`, or `source` in {0}")]
    NoSource(String),
    #[error(
        "source '{uri}' is not understood: use a directory, a bundle file, file://…, s3://bucket/key or ssm:/prefix"
    )]
    BadSource { uri: String },
    #[error(
        "{uri}: no sha256 pin: set `sha256` in the configuration, or use an ssm: source whose `bundle` parameter carries one"
    )]
    NoPin { uri: String },
    #[error("{what}, and there is no cached bundle to fall back on; nothing was changed")]
    NoFallback { what: String },
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("cannot start the AWS client: {0}")]
    Runtime(std::io::Error),
    /// `trusted_keys` is set and the bundle is not signed by one of them.
    #[error("{uri}: refused: {why}; nothing was changed")]
    Untrusted { uri: String, why: String },
}

/// Where the run's configuration came from.
#[derive(Debug)]
pub struct Pulled {
    /// The bundle's root directory.
    pub dir: PathBuf,
    /// The bundle's sha256 (`None` for a plain directory source).
    pub sha256: Option<String>,
    /// The source URI as configured.
    pub uri: String,
    /// Why the run uses the last-known-good bundle instead of the source, if it does.
    pub fallback: Option<String>,
    /// 304 / same checksum: nothing was downloaded.
    pub unchanged: bool,
    /// Bytes downloaded.
    pub downloaded: u64,
    /// SSM variables (group → vars) and the secrets to mask.
    pub vars: SsmVars,
    /// Damage found in the cache and dealt with (a damaged archive removed, an unpacked
    /// tree unpacked again), to be shown as warnings.
    pub warnings: Vec<String>,
    /// The trusted key that signed the bundle (with `trusted_keys` set).
    pub signed_by: Option<sign::Verified>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Why a fetch of a bundle did not give a usable bundle.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    S3(#[from] S3Error),
    #[error(transparent)]
    Ssm(#[from] SsmError),
    #[error("{uri}: refused: its sha256 is {actual}, but the pin says {pin}")]
    Mismatch {
        uri: String,
        actual: String,
        pin: String,
    },
    #[error("{uri}: {source}")]
    Read { uri: String, source: std::io::Error },
    #[error(transparent)]
    Cache(#[from] CacheError),
}

struct Got {
    sha256: String,
    unchanged: bool,
    downloaded: u64,
}

/// Pull per the configuration. `progress`: show a progress bar on a terminal.
pub fn pull(cfg: &Config, progress: bool) -> Result<Pulled, PullError> {
    let uri = cfg
        .source
        .value
        .clone()
        .ok_or_else(|| PullError::NoSource(crate::config::DEFAULT_PATH.into()))?;
    // A plain directory: used as it is, nothing cached.
    let as_path = uri.strip_prefix("file://").unwrap_or(&uri);
    if !uri.contains("://") || uri.starts_with("file://") {
        let p = Path::new(as_path);
        if p.is_dir() {
            if !cfg.trusted_keys.value.is_empty() {
                return Err(PullError::Untrusted {
                    uri,
                    why: "it is a directory, which cannot carry a signature, and \
                          `trusted_keys` requires every bundle to be signed: give a bundle \
                          file built with `agent bundle --sign`"
                        .into(),
                });
            }
            return Ok(Pulled {
                dir: p.to_path_buf(),
                sha256: None,
                uri,
                fallback: None,
                unchanged: false,
                downloaded: 0,
                vars: SsmVars::default(),
                warnings: Vec::new(),
                signed_by: None,
            });
        }
    }
    let cache = Cache::open(&cfg.cache_dir.value)?;
    let limits = Limits {
        max_bytes: cfg.max_bundle_mb.value.saturating_mul(1024 * 1024),
        ..Limits::default()
    };
    let pin = cfg.sha256.value.clone();
    if !uri.starts_with("ssm:") && pin.is_none() {
        return Err(PullError::NoPin { uri });
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(PullError::Runtime)?;
    // Variables read from SSM in this run, kept even when the bundle itself is refused.
    let mut fresh_vars: Option<SsmVars> = None;
    let keys = &cfg.trusted_keys.value;
    let result: Result<(Got, SsmVars, String, SigFetch), FetchError> = rt.block_on(async {
        if let Some(prefix) = uri.strip_prefix("ssm:") {
            let prefix = if prefix.is_empty() || prefix == "/" {
                format!(
                    "/agent/{}",
                    cfg.environment.value.as_deref().unwrap_or("default")
                )
            } else {
                prefix.to_string()
            };
            let sdk = crate::aws::sdk_config(cfg).await;
            let client = crate::aws::ssm(&sdk);
            let params = ssm::get_all(&client, &prefix).await?;
            let (pointer, vars) = ssm::interpret(&prefix, &params)?;
            fresh_vars = Some(vars.clone());
            cache.save_vars(
                &serde_json::to_value(vars.without_secrets(&params, &prefix)).unwrap_or_default(),
            )?;
            let pointer = pointer.ok_or_else(|| SsmError::BadPointer {
                name: format!("{}/bundle", prefix.trim_end_matches('/')),
                msg: "is missing: it must say where the bundle is ({\"uri\": …, \"sha256\": …})"
                    .into(),
            })?;
            let got = fetch_pinned(cfg, &cache, &pointer, progress, Some(&sdk)).await?;
            let sig = fetch_signature(keys, &pointer.uri, Some(&sdk)).await?;
            Ok((got, vars, pointer.uri, sig))
        } else {
            let pointer = Pointer {
                uri: uri.clone(),
                sha256: pin.clone().unwrap_or_default(),
            };
            let sdk = if uri.starts_with("s3://") {
                Some(crate::aws::sdk_config(cfg).await)
            } else {
                None
            };
            let got = fetch_pinned(cfg, &cache, &pointer, progress, sdk.as_ref()).await?;
            let sig = fetch_signature(keys, &uri, sdk.as_ref()).await?;
            Ok((got, SsmVars::default(), uri.clone(), sig))
        }
    });
    match result {
        Ok((got, vars, bundle_uri, sig)) => {
            // Before anything is unpacked or used: the signature, when keys are pinned.
            let signed_by = match check_signature(&cache, keys, &got.sha256, sig) {
                Ok(v) => v,
                Err(why) => {
                    cache.forget(&got.sha256);
                    return Err(PullError::Untrusted {
                        uri: bundle_uri,
                        why,
                    });
                }
            };
            let dir = match cache.unpacked(&got.sha256, limits) {
                Ok(d) => d,
                Err(e) => {
                    // Verified but unusable (refused member, too big): never used, not kept.
                    cache.forget(&got.sha256);
                    return fall_back(&cache, keys, &uri, e.to_string(), limits, Some(vars));
                }
            };
            cache.set_current(&got.sha256)?;
            let _ = cache.prune(cfg.keep_bundles.value);
            Ok(Pulled {
                dir,
                sha256: Some(got.sha256),
                uri: bundle_uri,
                fallback: None,
                unchanged: got.unchanged,
                downloaded: got.downloaded,
                vars,
                warnings: cache.take_notes(),
                signed_by,
            })
        }
        Err(e) => fall_back(&cache, keys, &uri, e.to_string(), limits, fresh_vars),
    }
}

/// A bundle's signature as the source gave it.
enum SigFetch {
    /// No keys are pinned: not asked for.
    NotNeeded,
    /// There is none at `.0`.
    Missing(String),
    /// Found at `.0`.
    Found(String, Vec<u8>),
}

/// Where a bundle's signature is: beside it, its URI (an S3 key, a path) + `.minisig`.
pub fn signature_uri(bundle_uri: &str) -> String {
    format!("{bundle_uri}.minisig")
}

/// Get the signature of the bundle at `uri` (only when keys are pinned). A signature that
/// is not there is `Missing` (refused later); one that cannot be read (S3 unreachable) is
/// a fetch error like the bundle's own (the last-known-good bundle is used).
async fn fetch_signature(
    keys: &[PublicKey],
    uri: &str,
    sdk: Option<&aws_config::SdkConfig>,
) -> Result<SigFetch, FetchError> {
    if keys.is_empty() {
        return Ok(SigFetch::NotNeeded);
    }
    let at = signature_uri(uri);
    if at.starts_with("s3://") {
        let (bucket, key) = s3::parse_uri(&at)?;
        let Some(sdk) = sdk else {
            return Err(FetchError::Read {
                uri: at,
                source: std::io::Error::other("no AWS client"),
            });
        };
        let client = crate::aws::s3(sdk);
        return Ok(
            match s3::get_small(&client, &bucket, &key, sign::MAX_SIG_BYTES).await? {
                Some(b) => SigFetch::Found(at, b),
                None => SigFetch::Missing(at),
            },
        );
    }
    let path = at.strip_prefix("file://").unwrap_or(&at).to_string();
    let read = std::fs::File::open(&path).and_then(|f| {
        use std::io::Read;
        let mut b = Vec::new();
        f.take(sign::MAX_SIG_BYTES as u64 + 1).read_to_end(&mut b)?;
        Ok(b)
    });
    match read {
        Ok(b) => Ok(SigFetch::Found(at, b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SigFetch::Missing(at)),
        Err(source) => Err(FetchError::Read { uri: at, source }),
    }
}

/// The trusted keys' ids, for messages.
fn key_ids(keys: &[PublicKey]) -> String {
    keys.iter()
        .map(PublicKey::key_id)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Check the archive cached as `sha` against its signature; keep a good signature beside
/// it (for the last-known-good fallback). `Err`: why it is refused.
fn check_signature(
    cache: &Cache,
    keys: &[PublicKey],
    sha: &str,
    sig: SigFetch,
) -> Result<Option<sign::Verified>, String> {
    let (at, bytes) = match sig {
        SigFetch::NotNeeded => return Ok(None),
        SigFetch::Missing(at) => {
            return Err(format!(
                "it is not signed (there is no {at}), and `trusted_keys` requires a signature \
                 by one of the keys {}",
                key_ids(keys)
            ));
        }
        SigFetch::Found(at, b) => (at, b),
    };
    let archive = cache
        .verified_archive(sha)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("bundle {sha} is not in the cache"))?;
    let v = sign::verify_file(keys, &bytes, &archive).map_err(|e| format!("{at}: {e}"))?;
    cache
        .save_signature(sha, &bytes)
        .map_err(|e| e.to_string())?;
    tracing::info!(
        "bundle {sha}: signature by trusted key {} verified (trusted comment: {})",
        v.key_id,
        v.trusted_comment
    );
    Ok(Some(v))
}

/// Use the last-known-good bundle, with the variables just read from SSM when that
/// worked, else the cached non-secret ones.
fn fall_back(
    cache: &Cache,
    keys: &[PublicKey],
    uri: &str,
    why: String,
    limits: Limits,
    fresh_vars: Option<SsmVars>,
) -> Result<Pulled, PullError> {
    let Some(sha) = cache.current() else {
        return Err(PullError::NoFallback { what: why });
    };
    // With keys pinned, the cached bundle is used only with a signature that still
    // verifies against them (keys may have changed since it was cached).
    let signed_by = if keys.is_empty() {
        None
    } else {
        let sig = match cache.load_signature(&sha) {
            Some(b) => SigFetch::Found(cache.signature_path(&sha).display().to_string(), b),
            None => SigFetch::Missing(cache.signature_path(&sha).display().to_string()),
        };
        match check_signature(cache, keys, &sha, sig) {
            Ok(v) => v,
            Err(e) => {
                return Err(PullError::NoFallback {
                    what: format!("{why}; the cached bundle {sha} cannot be used either: {e}"),
                });
            }
        }
    };
    let dir = match cache.unpacked(&sha, limits) {
        Ok(d) => d,
        Err(e) => {
            let mut what = format!("{why}; the cached bundle cannot be used either: {e}");
            for n in cache.take_notes() {
                what.push_str(&format!(" ({n})"));
            }
            return Err(PullError::NoFallback { what });
        }
    };
    let vars: SsmVars = fresh_vars.unwrap_or_else(|| {
        cache
            .load_vars()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    });
    Ok(Pulled {
        dir,
        sha256: Some(sha),
        uri: uri.to_string(),
        fallback: Some(why),
        unchanged: false,
        downloaded: 0,
        vars,
        warnings: cache.take_notes(),
        signed_by,
    })
}

/// Fetch `pointer.uri` into the cache and check it against `pointer.sha256`.
async fn fetch_pinned(
    cfg: &Config,
    cache: &Cache,
    pointer: &Pointer,
    progress: bool,
    sdk: Option<&aws_config::SdkConfig>,
) -> Result<Got, FetchError> {
    let uri = &pointer.uri;
    let pin = pointer.sha256.to_ascii_lowercase();
    // Already cached and intact: no need to ask anyone (the pin names the content).
    let cached = cache.verified_archive(&pin).ok().flatten().is_some();
    if uri.starts_with("s3://") {
        let (bucket, key) = s3::parse_uri(uri)?;
        let state = cache.load_state();
        let etag = state
            .as_ref()
            .filter(|s| s.uri == *uri && s.sha256 == pin && cached)
            .and_then(|s| s.etag.clone());
        let owned;
        let sdk = match sdk {
            Some(s) => s,
            None => {
                owned = crate::aws::sdk_config(cfg).await;
                &owned
            }
        };
        let client = crate::aws::s3(sdk);
        match s3::fetch(&client, &bucket, &key, etag.as_deref(), cache, progress).await? {
            Fetch::Unchanged => Ok(Got {
                sha256: pin,
                unchanged: true,
                downloaded: 0,
            }),
            Fetch::Downloaded {
                file,
                sha256,
                etag,
                bytes,
            } => {
                if sha256 != pin {
                    return Err(FetchError::Mismatch {
                        uri: uri.clone(),
                        actual: sha256,
                        pin,
                    });
                }
                cache.store(file, &sha256)?;
                cache.save_state(&State {
                    uri: uri.clone(),
                    etag,
                    sha256: sha256.clone(),
                    fetched_at: now(),
                })?;
                Ok(Got {
                    sha256,
                    unchanged: false,
                    downloaded: bytes,
                })
            }
        }
    } else {
        // A bundle file on disk (file://… or a path).
        let path = uri.strip_prefix("file://").unwrap_or(uri);
        let read = |source| FetchError::Read {
            uri: uri.clone(),
            source,
        };
        let actual = bundle::sha256_file(Path::new(path)).map_err(read)?;
        if actual != pin {
            return Err(FetchError::Mismatch {
                uri: uri.clone(),
                actual,
                pin,
            });
        }
        if !cached {
            let mut tmp = cache.download_file()?;
            let mut f = std::fs::File::open(path).map_err(read)?;
            std::io::copy(&mut f, &mut tmp).map_err(read)?;
            // Re-check what was copied: the file could change under us.
            let copied = bundle::sha256_file(tmp.path()).map_err(read)?;
            if copied != pin {
                return Err(FetchError::Mismatch {
                    uri: uri.clone(),
                    actual: copied,
                    pin,
                });
            }
            cache.store(tmp, &pin)?;
        }
        Ok(Got {
            sha256: pin,
            unchanged: cached,
            downloaded: 0,
        })
    }
}

/// Is `uri` a source kind we know? (`agent config` checks this early.)
pub fn check_uri(uri: &str) -> Result<(), PullError> {
    if uri.starts_with("s3://") {
        s3::parse_uri(uri).map_err(|_| PullError::BadSource { uri: uri.into() })?;
        return Ok(());
    }
    if uri.starts_with("ssm:") || uri.starts_with("file://") || !uri.contains("://") {
        return Ok(());
    }
    Err(PullError::BadSource { uri: uri.into() })
}
