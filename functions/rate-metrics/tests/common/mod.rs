//! What the end-to-end tests share: the moto server, a bucket with generated objects, the
//! function built on real SDK clients, and read-back of the metrics.
#![allow(dead_code)] // each test file uses a different part

use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use aws_sdk_s3::primitives::ByteStream;
use flowlog_lambda::ReadSettings;
use flowlog_synth::{Compression, Flood, Spec, Truth, formats};
use moto_harness::MotoServer;
pub use moto_harness::unique_name as unique;
use rate_metrics::cloudwatch::{CloudWatchSink, MetricsSink};
use rate_metrics::{App, Clients, Config};
use serde_json::{Value, json};

pub const FLOODER: &str = "203.0.113.7";

pub async fn sdk() -> SdkConfig {
    sdk_at(MotoServer::shared().endpoint()).await
}

/// SDK configuration for an endpoint (moto, or a fault-injecting proxy in front of it).
pub async fn sdk_at(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(moto_harness::REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub struct Fixture {
    pub sdk: SdkConfig,
    pub bucket: String,
    /// A state table of its own.
    pub table: String,
    pub start: i64,
    pub span: i64,
}

impl Fixture {
    pub async fn new() -> Fixture {
        let sdk = sdk().await;
        let bucket = unique("flowlogs");
        flowlog_lambda::aws::s3_client(&sdk)
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        let table = unique("state");
        flowlog_lambda::fakes::create_state_table(&aws_sdk_dynamodb::Client::new(&sdk), &table)
            .await;
        // Recent enough for CloudWatch's 14-day window, minute-aligned.
        let start = (now() - 3600) / 60 * 60;
        Fixture {
            sdk,
            bucket,
            table,
            start,
            span: 300,
        }
    }

    /// A generated gzip object (the flooder's SYN flood among normal traffic, NODATA, SKIPDATA
    /// and malformed lines) in the fixture's time range, with its ground truth.
    pub fn generate(&self, records: u64) -> (Vec<u8>, Truth) {
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
        (body, truth)
    }

    /// Uploads a generated object and returns its ground truth.
    pub async fn put_object(&self, key: &str, records: u64) -> Truth {
        let (body, truth) = self.generate(records);
        self.put_bytes(key, body).await;
        truth
    }

    pub fn app<S: MetricsSink + Sync>(&self, sink: S, namespace: &str) -> App<S> {
        self.app_with(sink, namespace, |_| {})
    }

    /// The function with `tweak` applied to its settings.
    pub fn app_with<S: MetricsSink + Sync>(
        &self,
        sink: S,
        namespace: &str,
        tweak: impl FnOnce(&mut Config),
    ) -> App<S> {
        App::new(Clients::new(&self.sdk), sink, self.config(namespace, tweak))
    }

    /// The function on CloudWatch with `tweak` applied to its settings.
    pub fn cloudwatch_app_with(
        &self,
        namespace: &str,
        tweak: impl FnOnce(&mut Config),
    ) -> App<CloudWatchSink> {
        self.app_with(
            CloudWatchSink::new(aws_sdk_cloudwatch::Client::new(&self.sdk)),
            namespace,
            tweak,
        )
    }

    /// Default settings (top 5 sources, the fixture's state table, no detect queue) with
    /// `tweak` applied.
    pub fn config(&self, namespace: &str, tweak: impl FnOnce(&mut Config)) -> Config {
        let mut config = Config {
            namespace: namespace.to_owned(),
            top_n: 5,
            read: ReadSettings::from_settings(&flowlog_lambda::Settings::new(&|_| None)).unwrap(),
            state_table: self.table.clone(),
            rules: flowlog_core::FloodRules::default(),
            detect_queue_url: None,
            region: Some("us-east-1".into()),
        };
        tweak(&mut config);
        config
    }

    pub fn cloudwatch_app(&self, namespace: &str) -> App<CloudWatchSink> {
        self.app(
            CloudWatchSink::new(aws_sdk_cloudwatch::Client::new(&self.sdk)),
            namespace,
        )
    }

    /// Uploads raw bytes.
    pub async fn put_bytes(&self, key: &str, body: Vec<u8>) {
        flowlog_lambda::aws::s3_client(&self.sdk)
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
    }

    /// Sum of a metric from the object's first window to now (traffic is stamped with its
    /// windows, self-telemetry with the object's arrival), for one source or for all traffic.
    pub async fn sum(&self, namespace: &str, metric: &str, source: Option<&str>) -> f64 {
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
pub fn encode_key(key: &str) -> String {
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

pub fn s3_event(bucket: &str, keys: &[&str]) -> Value {
    json!({"Records": keys.iter().map(|k| json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2025-01-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": encode_key(k), "size": 1, "sequencer": "00"}}
    })).collect::<Vec<_>>()})
}
