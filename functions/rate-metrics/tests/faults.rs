//! The fault matrix, end to end against the local moto server (and a fault-injecting proxy
//! where moto cannot fail): each bad input or failing dependency gives a clear error, loses no
//! record and publishes nothing twice.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::{FLOODER, Fixture, s3_event, unique};
use flate2::Compression;
use flate2::write::GzEncoder;
use moto_harness::{Fault, FaultProxy, MotoServer};
use rate_metrics::Clients;
use rate_metrics::cloudwatch::{CloudWatchSink, MetricsSink, PublishError};
use rate_metrics::metrics::Datum;
use serde_json::json;

const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// `n` default-format records in the fixture's time range.
fn records(fx: &Fixture, n: usize) -> String {
    (0..n)
        .map(|i| {
            let start = fx.start + (i as i64 % fx.span);
            format!("2 123456789012 eni-1 198.51.100.{} 10.0.0.5 4{i:04} 443 6 3 180 {start} {} ACCEPT OK\n", i % 50, start + 5)
        })
        .collect()
}

async fn fails_and_publishes_nothing(fx: &Fixture, key: &str, body: Vec<u8>, expected: &str) {
    fx.put_bytes(key, body).await;
    let namespace = unique("Faults");
    let error = fx
        .cloudwatch_app(&namespace)
        .handle(s3_event(&fx.bucket, &[key]), None)
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains(expected), "{message}");
    assert!(
        message.contains(key),
        "the error names the object: {message}"
    );
    assert_eq!(
        fx.sum(&namespace, "Records", None).await,
        0.0,
        "nothing published"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_gzip_fails_the_object_and_publishes_nothing() {
    let fx = Fixture::new().await;
    let mut body = fx.generate(20_000).0;
    let middle = body.len() / 2;
    body[middle..middle + 256].iter_mut().for_each(|b| *b = !*b);
    fails_and_publishes_nothing(&fx, "corrupt.log.gz", body, "corrupt gzip").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_gzip_fails_the_object_and_publishes_nothing() {
    let fx = Fixture::new().await;
    let body = fx.generate(20_000).0;
    let cut = body.len() * 2 / 3;
    fails_and_publishes_nothing(&fx, "truncated.log.gz", body[..cut].to_vec(), "truncated").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_text_that_is_not_a_flow_log_is_refused() {
    let fx = Fixture::new().await;
    let letter = b"Dear reader,\nthis object is a letter, not a flow log.\nKind regards\n".to_vec();
    fails_and_publishes_nothing(&fx, "letter.txt", letter, "not a VPC flow-log object").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn header_only_and_empty_objects_are_read_as_zero_records() {
    let fx = Fixture::new().await;
    fx.put_bytes("empty.log.gz", gzip(b"")).await;
    fx.put_bytes("header-only.log.gz", gzip(format!("{HEADER}\n").as_bytes()))
        .await;
    let namespace = unique("Empty");
    let response = fx
        .cloudwatch_app(&namespace)
        .handle(
            s3_event(&fx.bucket, &["empty.log.gz", "header-only.log.gz"]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(response, json!({"objects": 2}));
    assert_eq!(fx.sum(&namespace, "Records", None).await, 0.0);
    assert_eq!(fx.sum(&namespace, "Flows", None).await, 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_line_of_several_megabytes_is_skipped_and_the_rest_published() {
    let fx = Fixture::new().await;
    let huge = "7".repeat(6 << 20);
    let text = format!(
        "{HEADER}\n{}{huge}\n{}",
        records(&fx, 100),
        records(&fx, 100)
    );
    fx.put_bytes("huge-line.log.gz", gzip(text.as_bytes()))
        .await;
    let namespace = unique("HugeLine");
    fx.cloudwatch_app(&namespace)
        .handle(s3_event(&fx.bucket, &["huge-line.log.gz"]), None)
        .await
        .unwrap();
    assert_eq!(fx.sum(&namespace, "Records", None).await, 200.0);
    assert_eq!(fx.sum(&namespace, "SkippedLines", None).await, 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_decompression_bomb_is_stopped_by_the_configured_inflate_cap() {
    let fx = Fixture::new().await;
    let bomb = gzip(&vec![b' '; 64 << 20]);
    assert!(bomb.len() < 1 << 20, "a bomb: {} bytes", bomb.len());
    fx.put_bytes("bomb.log.gz", bomb).await;
    let namespace = unique("Bomb");
    let app = fx.cloudwatch_app_with(&namespace, |c| {
        c.read.scan.max_decompressed_bytes = 16 << 20
    });
    let error = app
        .handle(s3_event(&fx.bucket, &["bomb.log.gz"]), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("inflated data exceeds the limit of 16777216 bytes"),
        "{error}"
    );
    assert_eq!(fx.sum(&namespace, "Records", None).await, 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_deleted_before_it_is_read_fails_as_not_found() {
    let fx = Fixture::new().await;
    let namespace = unique("Deleted");
    let error = fx
        .cloudwatch_app(&namespace)
        .handle(s3_event(&fx.bucket, &["deleted-before-read.log.gz"]), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("does not exist (deleted before it was read?)"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_names_what_to_check() {
    let fx = Fixture::new().await;
    fx.put_object("denied.log.gz", 500).await;
    let proxy = FaultProxy::start(
        MotoServer::shared().endpoint(),
        vec![Fault::s3_error("denied.log.gz", 10, 403, "AccessDenied")],
    )
    .unwrap();
    let s3 = flowlog_lambda::aws::s3_client(&common::sdk_at(&proxy.endpoint()).await);
    let app = rate_metrics::App::new(
        Clients {
            s3,
            ..Clients::new(&fx.sdk)
        },
        CloudWatchSink::new(aws_sdk_cloudwatch::Client::new(&fx.sdk)),
        fx.config("Denied", |_| {}),
    );
    let error = app
        .handle(s3_event(&fx.bucket, &["denied.log.gz"]), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("access denied") && error.contains("s3:GetObject"),
        "{error}"
    );
    assert!(proxy.injected() >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn throttled_put_metric_data_is_retried_with_backoff_then_succeeds() {
    let fx = Fixture::new().await;
    let truth = fx.put_object("throttled.log.gz", 2_000).await;
    let proxy = FaultProxy::start(
        MotoServer::shared().endpoint(),
        // This client sends only PutMetricData, gzip-compressed: match the request line.
        vec![Fault::query_error("POST /", 2, 400, "Throttling")],
    )
    .unwrap();
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&common::sdk_at(&proxy.endpoint()).await);
    let namespace = unique("Throttled");
    let app = rate_metrics::App::new(
        Clients::new(&fx.sdk),
        CloudWatchSink::new(cloudwatch),
        fx.config(&namespace, |_| {}),
    );
    let started = std::time::Instant::now();
    app.handle(s3_event(&fx.bucket, &["throttled.log.gz"]), None)
        .await
        .unwrap();
    assert_eq!(proxy.injected(), 2, "two throttled answers");
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "the SDK backed off between attempts"
    );
    assert_eq!(
        fx.sum(&namespace, "Records", None).await,
        truth.records as f64
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_event_delivered_twice_is_counted_once() {
    let fx = Fixture::new().await;
    let truth = fx.put_object("twice.log.gz", 3_000).await;
    let namespace = unique("Twice");
    let app = fx.cloudwatch_app(&namespace);
    let event = s3_event(&fx.bucket, &["twice.log.gz"]);
    app.handle(event.clone(), None).await.unwrap();
    app.handle(event, None).await.unwrap();
    assert_eq!(
        fx.sum(&namespace, "Records", None).await,
        truth.records as f64
    );
    let flooder = truth.per_source[&FLOODER.parse().unwrap()].flows as f64;
    assert_eq!(fx.sum(&namespace, "Flows", Some(FLOODER)).await, flooder);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_invocations_racing_on_one_event_count_it_once() {
    let fx = Fixture::new().await;
    let truth = fx.put_object("race.log.gz", 3_000).await;
    let namespace = unique("Race");
    // Two instances of the function on one state table.
    let first = fx.cloudwatch_app(&namespace);
    let second = fx.cloudwatch_app(&namespace);
    let event = s3_event(&fx.bucket, &["race.log.gz"]);
    let (a, b) = tokio::join!(
        first.handle(event.clone(), None),
        second.handle(event.clone(), None)
    );
    for result in [&a, &b] {
        if let Err(e) = result {
            assert!(e.to_string().contains("retry later"), "{e}");
        }
    }
    // The loser's retry finds the object published.
    second.handle(event, None).await.unwrap();
    assert_eq!(
        fx.sum(&namespace, "Records", None).await,
        truth.records as f64
    );
}

/// Records every batch it accepts; fails the `fail_call`-th call once.
struct FlakySink {
    calls: Mutex<usize>,
    fail_call: usize,
    accepted: Arc<Mutex<Vec<Vec<Datum>>>>,
}

impl MetricsSink for FlakySink {
    async fn put(&self, namespace: &str, batch: &[Datum]) -> Result<(), PublishError> {
        let call = {
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            *calls
        };
        if call == self.fail_call {
            return Err(PublishError {
                namespace: namespace.into(),
                message: "InternalFailure: injected".into(),
            });
        }
        self.accepted.lock().unwrap().push(batch.to_vec());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_a_partial_failure_publishes_only_the_missing_batches() {
    let fx = Fixture::new().await;
    fx.put_object("partial.log.gz", 6_000).await;
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let sink = FlakySink {
        calls: Mutex::new(0),
        fail_call: 3,
        accepted: accepted.clone(),
    };
    let app = fx.app_with(sink, "Partial", |c| c.top_n = 1000);
    let event = s3_event(&fx.bucket, &["partial.log.gz"]);
    let error = app
        .handle(event.clone(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("batch 3 of") && error.contains("2 published before it"),
        "{error}"
    );
    let batches: usize = error
        .split("batch 3 of ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(batches >= 4, "{batches} batches");
    app.handle(event.clone(), None).await.unwrap();
    app.handle(event, None).await.unwrap(); // a redelivery after completion: nothing more
    let accepted = accepted.lock().unwrap();
    assert_eq!(accepted.len(), batches, "every batch once, none twice");
    for (i, a) in accepted.iter().enumerate() {
        assert!(
            accepted[..i].iter().all(|b| b != a),
            "batch {i} published twice"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invocation_near_its_timeout_stops_cleanly_and_its_retry_publishes() {
    let fx = Fixture::new().await;
    let truth = fx.put_object("deadline.log.gz", 20_000).await;
    let namespace = unique("Deadline");
    let app = fx.cloudwatch_app(&namespace);
    let event = s3_event(&fx.bucket, &["deadline.log.gz"]);
    let almost_over = SystemTime::now() + Duration::from_millis(5);
    let error = app
        .handle(event.clone(), Some(almost_over))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("stopped at the deadline") && error.contains("records in"),
        "{error}"
    );
    assert_eq!(
        fx.sum(&namespace, "Records", None).await,
        0.0,
        "nothing half-published"
    );
    app.handle(event, None).await.unwrap();
    assert_eq!(
        fx.sum(&namespace, "Records", None).await,
        truth.records as f64
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_completion_write_is_retried_at_once_and_counted_once() {
    let fx = Fixture::new().await;
    let truth = fx.put_object("complete-fails.log.gz", 3_000).await;
    // The one PutItem of the completion marker is refused (not retried by the SDK).
    let proxy = FaultProxy::start(
        MotoServer::shared().endpoint(),
        vec![
            Fault::json_error("DynamoDB_20120810.PutItem", 1, 400, "AccessDeniedException")
                .and("\"S\":\"complete\""),
        ],
    )
    .unwrap();
    let namespace = unique("Complete");
    let dynamodb = aws_sdk_dynamodb::Client::new(&common::sdk_at(&proxy.endpoint()).await);
    let app = rate_metrics::App::new(
        Clients {
            dynamodb,
            ..Clients::new(&fx.sdk)
        },
        CloudWatchSink::new(aws_sdk_cloudwatch::Client::new(&fx.sdk)),
        fx.config(&namespace, |_| {}),
    );
    let event = s3_event(&fx.bucket, &["complete-fails.log.gz"]);
    let error = app
        .handle(event.clone(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("AccessDenied"), "{error}");
    assert_eq!(proxy.injected(), 1, "{:#?}", proxy.requests());
    // The immediate retry is not refused as busy, and publishes nothing again.
    app.handle(event, None).await.unwrap();
    let flooder = truth.per_source[&FLOODER.parse().unwrap()].flows as f64;
    assert_eq!(fx.sum(&namespace, "Flows", Some(FLOODER)).await, flooder);
    assert_eq!(
        fx.sum(&namespace, "Records", None).await,
        truth.records as f64
    );
}
