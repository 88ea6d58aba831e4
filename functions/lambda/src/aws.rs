//! AWS clients built once per cold start.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// Loads the shared SDK configuration from the environment (region, credentials, retry mode
/// and attempts from `AWS_RETRY_MODE` / `AWS_MAX_ATTEMPTS`, `AWS_ENDPOINT_URL` for emulators).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// An S3 client; path-style addressing when an endpoint is overridden (local emulators serve
/// buckets on one host), virtual-hosted otherwise.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// One line for an SDK error: the service's code and message when there is one, otherwise the
/// whole chain of causes (timeouts, DNS, TLS).
pub fn describe<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error.code() {
        Some(code) => format!("{code}: {}", error.message().unwrap_or("no message")),
        None => aws_sdk_s3::error::DisplayErrorContext(error).to_string(),
    }
}

/// The service's error code, if the service answered with one.
pub fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// A DynamoDB client.
pub fn dynamodb_client(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}
