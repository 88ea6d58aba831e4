//! Lambda entry point: settings and clients once per cold start, then the handler.

use lambda_runtime::{LambdaEvent, service_fn};
use rate_metrics::cloudwatch::CloudWatchSink;
use rate_metrics::{App, Clients, Config};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, sdk) = flowlog_lambda::env::cold_start(Config::from_settings).await?;
    let app = App::new(
        Clients::new(&sdk),
        CloudWatchSink::new(aws_sdk_cloudwatch::Client::new(&sdk)),
        config,
    );
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = flowlog_lambda::invocation_deadline(event.context.deadline);
        app.handle(event.payload, Some(deadline)).await
    }))
    .await
}
