//! End to end against a local moto server: a flow-log object in S3, the handler on a real event,
//! and the metrics read back from CloudWatch with GetMetricStatistics.

mod common;

use std::net::IpAddr;

use common::{FLOODER, Fixture, s3_event, unique};
use rate_metrics::cloudwatch::{MetricsSink, PublishError};
use rate_metrics::metrics::Datum;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn s3_notification_publishes_per_source_rates_that_match_the_object() {
    let fx = Fixture::new().await;
    let key = "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/flow logs+1.log.gz";
    let truth = fx.put_object(key, 12_000).await;
    let namespace = unique("Rates");
    let response = fx
        .cloudwatch_app(&namespace)
        .handle(s3_event(&fx.bucket, &[key]), None)
        .await
        .unwrap();
    assert_eq!(response, json!({"objects": 1}));

    let flooder: IpAddr = FLOODER.parse().unwrap();
    let expected = &truth.per_source[&flooder];
    assert_eq!(
        fx.sum(&namespace, "Flows", Some(FLOODER)).await,
        expected.flows as f64
    );
    assert_eq!(
        fx.sum(&namespace, "Packets", Some(FLOODER)).await,
        expected.packets as f64
    );
    assert_eq!(
        fx.sum(&namespace, "Bytes", Some(FLOODER)).await,
        expected.bytes as f64
    );
    assert_eq!(
        fx.sum(&namespace, "RejectedFlows", Some(FLOODER)).await,
        expected.rejected as f64
    );
    assert_eq!(
        fx.sum(&namespace, "Records", None).await,
        truth.records as f64
    );
    assert_eq!(
        fx.sum(&namespace, "SkipDataRecords", None).await,
        truth.skipdata as f64
    );
    assert_eq!(
        fx.sum(&namespace, "SkippedLines", None).await,
        truth.malformed_lines as f64
    );
    // Only the top 5 sources get a SourceIp series; the quietest does not.
    let quietest = truth
        .per_source
        .iter()
        .min_by_key(|(_, s)| s.flows)
        .unwrap()
        .0
        .to_string();
    assert_eq!(fx.sum(&namespace, "Flows", Some(&quietest)).await, 0.0);
    println!(
        "read back: flooder Flows={} Packets={} Bytes={} RejectedFlows={}; Records={}",
        expected.flows, expected.packets, expected.bytes, expected.rejected, truth.records
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn all_traffic_totals_cover_every_source() {
    let fx = Fixture::new().await;
    let (body, truth) = fx.generate(6_000);
    // The request flows of the five busiest sources, as the core counts them (for moto below).
    let mut aggregator = flowlog_core::Aggregator::new(flowlog_core::AggregateOptions::default());
    flowlog_core::scan(
        &body[..],
        &flowlog_core::ScanOptions::default(),
        &mut aggregator,
    )
    .unwrap();
    let top5: f64 = aggregator
        .summaries()
        .iter()
        .take(5)
        .map(|s| s.flows)
        .sum::<u64>() as f64;
    fx.put_bytes("totals.log.gz", body).await;
    let namespace = unique("Totals");
    fx.cloudwatch_app(&namespace)
        .handle(s3_event(&fx.bucket, &["totals.log.gz"]), None)
        .await
        .unwrap();
    // The dimensionless series counts every record. CloudWatch answers a query without
    // dimensions with exactly that series; moto 5.2 sums every series of the name instead, so
    // both forms are accepted.
    let all = fx.sum(&namespace, "Flows", None).await;
    assert!(
        all == truth.flows as f64 || all == truth.flows as f64 + top5,
        "all-traffic Flows {all} vs truth {} (+top5 {top5} if the emulator ignores dimensions)",
        truth.flows
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqs_batch_reports_only_the_message_whose_object_is_missing() {
    let fx = Fixture::new().await;
    fx.put_object("present.log.gz", 2_000).await;
    let body = |key: &str| s3_event(&fx.bucket, &[key]).to_string();
    let event = json!({"Records": [
        {"messageId": "ok-1", "body": body("present.log.gz"), "eventSource": "aws:sqs"},
        {"messageId": "gone-2", "body": body("deleted-before-read.log.gz"), "eventSource": "aws:sqs"},
        {"messageId": "junk-3", "body": "{not json", "eventSource": "aws:sqs"},
    ]});
    let namespace = unique("Sqs");
    let response = fx
        .cloudwatch_app(&namespace)
        .handle(event, None)
        .await
        .unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "gone-2"}, {"itemIdentifier": "junk-3"}]})
    );
    assert!(fx.sum(&namespace, "Records", None).await > 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn eventbridge_object_created_is_processed() {
    let fx = Fixture::new().await;
    let truth = fx.put_object("eb/object.log.gz", 1_000).await;
    let event = json!({"version": "0", "id": "1", "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "time": "2025-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"version": "0", "bucket": {"name": fx.bucket}, "object": {"key": "eb/object.log.gz", "size": 1}}});
    let namespace = unique("Eb");
    fx.cloudwatch_app(&namespace)
        .handle(event, None)
        .await
        .unwrap();
    assert_eq!(
        fx.sum(&namespace, "Records", None).await,
        truth.records as f64
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_test_event_is_acknowledged_without_metrics() {
    let fx = Fixture::new().await;
    let namespace = unique("TestEvent");
    let event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": fx.bucket});
    let response = fx
        .cloudwatch_app(&namespace)
        .handle(event, None)
        .await
        .unwrap();
    assert!(response["ignored"].is_string());
    assert_eq!(fx.sum(&namespace, "Records", None).await, 0.0);
}

/// Accepts `fail_after` batches, then fails every request.
struct FailingSink {
    fail_after: usize,
    calls: std::sync::Mutex<usize>,
}

impl MetricsSink for FailingSink {
    async fn put(&self, namespace: &str, _batch: &[Datum]) -> Result<(), PublishError> {
        let mut calls = self.calls.lock().unwrap();
        *calls += 1;
        if *calls > self.fail_after {
            return Err(PublishError {
                namespace: namespace.into(),
                message: "ThrottlingException: Rate exceeded".into(),
            });
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_that_finally_fails_fails_the_invocation_with_a_clear_error() {
    let fx = Fixture::new().await;
    fx.put_object("fails.log.gz", 1_000).await;
    let app = fx.app(
        FailingSink {
            fail_after: 0,
            calls: Default::default(),
        },
        "Failing",
    );
    let error = app
        .handle(s3_event(&fx.bucket, &["fails.log.gz"]), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("fails.log.gz"), "{error}");
    assert!(error.contains("batch 1 of 1"), "{error}");
    assert!(error.contains("ThrottlingException"), "{error}");
}
