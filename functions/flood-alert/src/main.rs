//! Lambda entry point: settings and clients once per cold start, then the handler.

use flood_alert::{App, Config};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, sdk) = flowlog_lambda::env::cold_start(Config::from_settings).await?;
    let app = App::new(
        flowlog_lambda::aws::dynamodb_client(&sdk),
        aws_sdk_sns::Client::new(&sdk),
        config,
    );
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        app.handle(event.payload).await
    }))
    .await
}
