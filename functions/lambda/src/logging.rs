//! JSON logs on standard error (CloudWatch Logs), one object per line.

/// Installs the JSON subscriber. The level comes from `AWS_LAMBDA_LOG_LEVEL` (set by the Lambda
/// logging configuration) or `RUST_LOG`, `info` by default.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into())
        .to_lowercase();
    let filter = tracing_subscriber::EnvFilter::try_new(&level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
