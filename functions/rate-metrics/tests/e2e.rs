//! End to end against a local moto server: a flow-log object in S3, the handler on a real event,
//! and the metrics read back from CloudWatch with GetMetricStatistics.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use aws_sdk_s3::primitives::ByteStream;
use flowlog_lambda::ReadSettings;
use flowlog_synth::{Compression, Flood, Spec, Truth, formats};
use moto_harness::MotoServer;
use rate_metrics::cloudwatch::{CloudWatchSink, MetricsSink, PublishError};
use rate_metrics::metrics::Datum;
use rate_metrics::{App, Config};
use serde_json::{Value, json};

const FLOODER: &str = "203.0.113.7";

async fn sdk() -> SdkConfig {
    let moto = MotoServer::shared();
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(moto_harness::REGION))
        .endpoint_url(moto.endpoint())
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

/// A name no other test in this process uses (tests share one moto server).
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Fixture {
    sdk: SdkConfig,
    bucket: String,
    start: i64,
    span: i64,
}

impl Fixture {
    async fn new() -> Fixture {
        let sdk = sdk().await;
        let bucket = unique("flowlogs");
        flowlog_lambda::aws::s3_client(&sdk)
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        // Recent enough for CloudWatch's 14-day window, minute-aligned.
        let start = (now() - 3600) / 60 * 60;
        Fixture {
            sdk,
            bucket,
            start,
            span: 300,
        }
    }

    /// Uploads a generated object and returns its ground truth.
    async fn put_object(&self, key: &str, records: u64) -> Truth {
        let spec = Spec {
            records,
            seed: 99,
            start: self.start,
            span_secs: self.span,
            nodata_every: 400,
            skipdata_every: 900,
            malformed_every: 2000,
            flood: Some(Flood {
                source: FLOODER.parse().unwrap(),
                flows: records / 3,
                syn_only: true,
                reject_share: 0.25,
                dst_ports: 3,
            }),
            heavy_downloader: true,
            ..Spec::default()
        }
        .with_fields(formats::V5_ALL);
        let mut body = Vec::new();
        let truth =
            flowlog_synth::write_object(&spec, Compression::Gzip { level: 6 }, &mut body).unwrap();
        flowlog_lambda::aws::s3_client(&self.sdk)
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
        truth
    }

    fn app<S: MetricsSink + Sync>(&self, sink: S, namespace: &str) -> App<S> {
        let config = Config {
            namespace: namespace.to_owned(),
            top_n: 5,
            read: ReadSettings::from_settings(&flowlog_lambda::Settings::new(&|_| None)).unwrap(),
            ledger: Some((self.bucket.clone(), unique("ledger"))),
        };
        App::new(flowlog_lambda::aws::s3_client(&self.sdk), sink, config)
    }

    fn cloudwatch_app(&self, namespace: &str) -> App<CloudWatchSink> {
        self.app(
            CloudWatchSink::new(aws_sdk_cloudwatch::Client::new(&self.sdk)),
            namespace,
        )
    }

    /// Sum of a metric from the object's first window to now (traffic is stamped with its
    /// windows, self-telemetry with the processing time), for one source or for all traffic.
    async fn sum(&self, namespace: &str, metric: &str, source: Option<&str>) -> f64 {
        let client = aws_sdk_cloudwatch::Client::new(&self.sdk);
        let mut request = client
            .get_metric_statistics()
            .namespace(namespace)
            .metric_name(metric)
            .start_time(DateTime::from_secs(self.start - 600))
            .end_time(DateTime::from_secs(now() + 600))
            .period(60)
            .statistics(Statistic::Sum);
        if let Some(ip) = source {
            request = request.dimensions(Dimension::builder().name("SourceIp").value(ip).build());
        }
        let out = request.send().await.unwrap();
        out.datapoints().iter().filter_map(|p| p.sum()).sum()
    }
}

/// The form S3 gives keys in notifications (form-encoded, `/` kept).
fn encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn s3_event(bucket: &str, keys: &[&str]) -> Value {
    json!({"Records": keys.iter().map(|k| json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2025-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": encode_key(k), "size": 1, "sequencer": "00"}}
    })).collect::<Vec<_>>()})
}

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
    let truth = fx.put_object("totals.log.gz", 6_000).await;
    let namespace = unique("Totals");
    fx.cloudwatch_app(&namespace)
        .handle(s3_event(&fx.bucket, &["totals.log.gz"]), None)
        .await
        .unwrap();
    // The dimensionless series. CloudWatch answers a query without dimensions with exactly
    // that series; moto 5.2 sums every series of the name instead, so both forms are accepted.
    let top5: f64 = {
        let mut flows: Vec<u64> = truth.per_source.values().map(|s| s.flows).collect();
        flows.sort_unstable_by(|a, b| b.cmp(a));
        flows.iter().take(5).sum::<u64>() as f64
    };
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
