//! Lambda entry point: settings and clients once per cold start, then the handler.

use aws_config::Region;
use flood_response::config::WafScope;
use flood_response::firewall::nacl::NaclFirewall;
use flood_response::firewall::waf::{Backoff, WafFirewall};
use flood_response::firewall::{Firewall, SdkIpSets, SdkNetworkAcls};
use flood_response::guard::Guard;
use flood_response::sns::SnsReports;
use flood_response::{App, Config, Mode, Policy, REGISTRY_RETENTION_SECS};
use flowlog_lambda::{DynamoStore, SystemClock};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, sdk) = flowlog_lambda::env::cold_start(Config::from_settings).await?;
    let region = sdk.region().map(ToString::to_string).unwrap_or_default();
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        config.state_table.clone(),
        REGISTRY_RETENTION_SECS,
    );
    let reports = SnsReports::new(aws_sdk_sns::Client::new(&sdk), config.topic_arn.clone());
    let policy = Policy {
        guard: Guard::new(
            config.min_severity,
            config.allowlist.clone(),
            config.vpc_cidrs.clone(),
        ),
        dry_run: config.dry_run,
        max_entries: config.max_entries,
        max_block_secs: config.max_block_secs,
        fifo: config.fifo(),
    };
    match config.mode {
        Mode::Off => {
            tracing::warn!("RESPONSE=none: notices are acknowledged and nothing is blocked");
            lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
                Ok::<_, lambda_runtime::Error>(json!({ "response": "none" }))
            }))
            .await
        }
        Mode::Waf(waf) => {
            // CloudFront's IP sets are served from us-east-1 only.
            let sdk = match waf.scope {
                WafScope::CloudFront => sdk.to_builder().region(Region::new("us-east-1")).build(),
                WafScope::Regional => sdk,
            };
            let sets = SdkIpSets::new(aws_sdk_wafv2::Client::new(&sdk), waf.scope);
            let firewall = WafFirewall::new(sets, waf, &region, Backoff::default());
            serve(App::new(firewall, store, reports, SystemClock, policy)).await
        }
        Mode::Nacl(nacl) => {
            let acls = SdkNetworkAcls::new(aws_sdk_ec2::Client::new(&sdk));
            let firewall = NaclFirewall::new(acls, nacl, &region);
            serve(App::new(firewall, store, reports, SystemClock, policy)).await
        }
    }
}

async fn serve<F: Firewall>(
    app: App<F, DynamoStore, SnsReports, SystemClock>,
) -> Result<(), lambda_runtime::Error> {
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // Boxed: the handler's future is deep enough to strain type layout otherwise.
        Box::pin(app.handle(event.payload)).await
    }))
    .await
}
