//! AWS clients with bounded retries (standard mode: exponential backoff with jitter)
//! and timeouts from the configuration. Credentials and region come from the SDK's
//! default chain; endpoints from AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3 / _SSM.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

use crate::config::Config;

/// The shared SDK configuration.
pub async fn sdk_config(cfg: &Config) -> aws_config::SdkConfig {
    let retry = RetryConfig::standard()
        .with_max_attempts(cfg.aws_attempts.value.max(1))
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(5));
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(cfg.aws_connect_timeout_s.value))
        .operation_attempt_timeout(Duration::from_secs(cfg.aws_operation_timeout_s.value))
        .build();
    // HTTPS on rustls with ring and the system's CA certificates; the SDK's default client
    // is the same with aws-lc, a second crypto library (see Cargo.toml).
    let https_client = {
        use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
        aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https()
    };
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client)
        .retry_config(retry)
        .timeout_config(timeouts);
    if let Some(r) = &cfg.aws_region.value {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    loader.load().await
}

/// An S3 client; path-style addressing when an endpoint is overridden (moto, MinIO,
/// VPC endpoints by IP), virtual-hosted otherwise.
pub fn s3(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let custom = std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(custom)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

pub fn ssm(sdk: &aws_config::SdkConfig) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(sdk)
}

/// A short description of an SDK error: the service's code and message when there is
/// one, else the transport's cause (connection refused, timeout, ...).
pub fn describe<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_s3::error::SdkError;
    match err {
        SdkError::ServiceError(s) => {
            let e = s.err();
            match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => e.to_string(),
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_string(),
        SdkError::DispatchFailure(d) => {
            let mut msg = String::from("cannot reach the endpoint");
            let mut src: Option<&dyn std::error::Error> =
                d.as_connector_error().map(|c| c as &dyn std::error::Error);
            let mut last = None;
            while let Some(s) = src {
                last = Some(s.to_string());
                src = s.source();
            }
            if let Some(l) = last {
                msg.push_str(&format!(" ({l})"));
            }
            msg
        }
        other => {
            let mut s = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(e) = src {
                s = format!("{s}: {e}");
                src = e.source();
            }
            s
        }
    }
}
