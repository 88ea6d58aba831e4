//! End to end against a local moto server: the same flow-log records delivered every way AWS
//! delivers them (a gzip text object, a Parquet object, a CloudWatch Logs subscription batch, an
//! S3 Batch Operations task) publish the same per-source metrics and share the same summary,
//! hence the same verdict.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use base64::Engine;
use common::{FLOODER, Fixture, encode_key, s3_event, unique};
use flowlog_core::{FloodRules, Summary};
use flowlog_lambda::{DynamoStore, SummaryLog};
use flowlog_synth::{Compression, Flood, Spec, Truth, formats};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";

/// `AWSLogs/<account>/vpcflowlogs/us-east-1/<yyyy>/<mm>/<dd>/[<HH>/]` or its Hive-style
/// form, for the fixture's first minute.
fn prefix(fx: &Fixture, hive: bool, per_hour: bool) -> String {
    let t = flowlog_core::utc(fx.start); // 2026-12-01T19:50:00Z
    let (y, m, d, h) = (&t[0..4], &t[5..7], &t[8..10], &t[11..13]);
    let hour = |hive: bool| match (per_hour, hive) {
        (false, _) => String::new(),
        (true, true) => format!("hour={h}/"),
        (true, false) => format!("{h}/"),
    };
    if hive {
        format!(
            "AWSLogs/aws-account-id={ACCOUNT}/aws-service=vpcflowlogs/aws-region=us-east-1/year={y}/month={m}/day={d}/{}",
            hour(true)
        )
    } else {
        format!(
            "AWSLogs/{ACCOUNT}/vpcflowlogs/us-east-1/{y}/{m}/{d}/{}",
            hour(false)
        )
    }
}

fn file_name(fx: &Fixture, hash: &str, suffix: &str) -> String {
    let t = flowlog_core::utc(fx.start);
    let stamp = format!(
        "{}{}{}T{}{}Z",
        &t[0..4],
        &t[5..7],
        &t[8..10],
        &t[11..13],
        &t[14..16]
    );
    format!("{ACCOUNT}_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f67890_{stamp}_{hash}{suffix}")
}

/// The fixture's records with a SYN flood from [`FLOODER`], NODATA and SKIPDATA but no
/// malformed line (no typed Parquet row can hold one): gzip text with a header.
fn records(fx: &Fixture, start: i64) -> (Vec<u8>, Truth) {
    let spec = Spec {
        records: 4_000,
        seed: 41,
        start,
        span_secs: fx.span,
        nodata_every: 300,
        skipdata_every: 900,
        flood: Some(Flood {
            source: FLOODER.parse().unwrap(),
            flows: 1_500,
            syn_only: true,
            reject_share: 0.25,
            dst_ports: 2,
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

fn to_parquet(gzip_text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let options = flowlog_parquet::WriteOptions {
        rows_per_row_group: 1_000,
    };
    flowlog_parquet::write_parquet(gzip_text, None, &mut out, &options).unwrap();
    out
}

/// The record lines of gzip text, header left out, as CloudWatch Logs holds them.
fn record_lines(gzip_text: &[u8]) -> Vec<String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(gzip_text)
        .read_to_string(&mut text)
        .unwrap();
    text.lines().skip(1).map(str::to_owned).collect()
}

/// The `${field}` format of the records, for `FLOW_LOG_FORMAT`.
fn v5_format() -> flowlog_core::Format {
    formats::V5_ALL.join(" ").parse().unwrap()
}

/// Puts `lines` into a new log stream on moto (one event per record, at the record's start, in
/// time order as PutLogEvents wants them), and reads the events back with their ids.
async fn logged_events(fx: &Fixture, group: &str, stream: &str, lines: &[String]) -> Vec<Value> {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&fx.sdk);
    logs.create_log_group()
        .log_group_name(group)
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
        .unwrap();
    let start = formats::V5_ALL.iter().position(|f| *f == "start").unwrap();
    let mut events: Vec<(i64, &String)> = lines
        .iter()
        .map(|line| {
            let t: i64 = line.split(' ').nth(start).unwrap().parse().unwrap();
            (t * 1000, line)
        })
        .collect();
    events.sort_by_key(|(t, _)| *t);
    for chunk in events.chunks(2_000) {
        let batch: Vec<InputLogEvent> = chunk
            .iter()
            .map(|(t, line)| {
                InputLogEvent::builder()
                    .timestamp(*t)
                    .message(*line)
                    .build()
                    .unwrap()
            })
            .collect();
        logs.put_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .set_log_events(Some(batch))
            .send()
            .await
            .unwrap();
    }
    let mut read = Vec::new();
    let mut token = None;
    loop {
        let page = logs
            .filter_log_events()
            .log_group_name(group)
            .log_stream_names(stream)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        for event in page.events() {
            read.push(
                json!({"id": event.event_id().unwrap(), "timestamp": event.timestamp().unwrap(),
                             "message": event.message().unwrap()}),
            );
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() || page.events().is_empty() {
            break;
        }
    }
    assert_eq!(
        read.len(),
        lines.len(),
        "every record came back from CloudWatch Logs"
    );
    read
}

/// The event a subscription filter sends a Lambda function for `events` of one stream.
fn subscription_event(group: &str, stream: &str, events: &[Value]) -> Value {
    let data = json!({"messageType": "DATA_MESSAGE", "owner": ACCOUNT, "logGroup": group,
        "logStream": stream, "subscriptionFilters": ["flowlogs-rate-metrics"], "logEvents": events});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data.to_string().as_bytes()).unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    json!({"awslogs": {"data": encoded}})
}

fn batch_event(schema: &str, bucket: &str, keys: &[&str]) -> Value {
    let tasks: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let mut task = json!({"taskId": format!("task-{i}"), "s3Key": encode_key(key), "s3VersionId": null});
            if schema == "1.0" {
                task["s3BucketArn"] = json!(format!("arn:aws:s3:::{bucket}"));
            } else {
                task["s3Bucket"] = json!(bucket);
            }
            task
        })
        .collect();
    json!({"invocationSchemaVersion": schema, "invocationId": unique("inv"),
           "job": {"id": unique("job"), "userArguments": {}}, "tasks": tasks})
}

/// One delivery's own state table and namespace, the function on them (records read as the
/// V5 format when headerless, flow logs under `AWSLogs/` only), and what it published.
struct Delivery {
    table: String,
    namespace: String,
}

impl Delivery {
    async fn new(fx: &Fixture, name: &str) -> Delivery {
        let table = unique("state");
        flowlog_lambda::fakes::create_state_table(&aws_sdk_dynamodb::Client::new(&fx.sdk), &table)
            .await;
        Delivery {
            table,
            namespace: unique(name),
        }
    }

    async fn handle(
        &self,
        fx: &Fixture,
        event: Value,
        tweak: impl FnOnce(&mut rate_metrics::Config),
    ) -> Value {
        let table = self.table.clone();
        let app = fx.cloudwatch_app_with(&self.namespace, |c| {
            c.state_table = table;
            c.read.scope.prefix = Some("AWSLogs/".into());
            c.read.scan.format = Some(v5_format());
            tweak(c);
        });
        app.handle(event, None).await.unwrap()
    }

    /// The flooder's four series, summed over the fixture's minutes.
    async fn flooder_sums(&self, fx: &Fixture) -> [f64; 4] {
        let mut sums = [0.0; 4];
        for (sum, metric) in sums
            .iter_mut()
            .zip(["Flows", "Packets", "Bytes", "RejectedFlows"])
        {
            *sum = fx.sum(&self.namespace, metric, Some(FLOODER)).await;
        }
        sums
    }

    /// Every summary shared for the fixture's minutes, merged, as the detector loads them, and
    /// the accounts and regions they name.
    async fn summary(&self, fx: &Fixture) -> (Summary, BTreeSet<(String, String)>) {
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&fx.sdk), &self.table, 3600);
        let loaded = SummaryLog::new(store)
            .load(fx.start, fx.start + fx.span + 900)
            .await
            .unwrap();
        assert_eq!(loaded.unreadable, 0);
        (loaded.summary, loaded.origins)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_flood_gives_the_same_metrics_and_verdict_as_text_parquet_logs_or_a_batch_task() {
    let fx = Fixture::new().await;
    let (text, truth) = records(&fx, fx.start);
    let text_key = format!(
        "{}{}",
        prefix(&fx, false, false),
        file_name(&fx, "5d1f0a2b", ".log.gz")
    );
    fx.put_bytes(&text_key, text.clone()).await;
    // Parquet as AWS writes it with HiveCompatiblePartitions and PerHourPartition, read by
    // range reads (footer, then each row group's columns) on the real S3 API.
    let parquet_key = format!(
        "{}{}",
        prefix(&fx, true, true),
        file_name(&fx, "7c3e9b10", ".log.parquet")
    );
    fx.put_bytes(&parquet_key, to_parquet(&text)).await;

    let as_text = Delivery::new(&fx, "Text").await;
    let response = as_text
        .handle(&fx, s3_event(&fx.bucket, &[&text_key]), |_| {})
        .await;
    assert_eq!(response, json!({"objects": 1}));

    let as_parquet = Delivery::new(&fx, "Parquet").await;
    let response = as_parquet
        .handle(&fx, s3_event(&fx.bucket, &[&parquet_key]), |c| {
            c.read.parquet.ranged_above = 0
        })
        .await;
    assert_eq!(response, json!({"objects": 1}));

    let as_logs = Delivery::new(&fx, "Logs").await;
    let (group, stream) = (
        format!("/vpc/{}", unique("flow-logs")),
        "eni-0a1b2c3d4e5f67890-all",
    );
    let events = logged_events(&fx, &group, stream, &record_lines(&text)).await;
    let event = subscription_event(&group, stream, &events);
    let response = as_logs.handle(&fx, event.clone(), |_| {}).await;
    assert_eq!(response, json!({"log_batches": 1}));
    // Delivered again (an asynchronous invocation retried): published once.
    as_logs.handle(&fx, event, |_| {}).await;

    let as_task = Delivery::new(&fx, "Batch").await;
    let response = as_task
        .handle(&fx, batch_event("2.0", &fx.bucket, &[&text_key]), |_| {})
        .await;
    let result = &response["results"][0];
    assert_eq!(result["resultCode"], "Succeeded", "{response}");
    let said = result["resultString"].as_str().unwrap();
    assert!(
        said.starts_with("read 4000 records (gzip); published "),
        "{said}"
    );
    assert!(said.contains("for detection from"), "{said}");

    let flooder = &truth.per_source[&FLOODER.parse().unwrap()];
    let expected = [
        flooder.flows,
        flooder.packets,
        flooder.bytes,
        flooder.rejected,
    ]
    .map(|n| n as f64);
    let (text_summary, _) = as_text.summary(&fx).await;
    assert!(text_summary.sources.contains_key(&FLOODER.parse().unwrap()));
    let rules = FloodRules::default();
    let verdict = flowlog_core::detect(&text_summary, &rules);
    let found: Vec<String> = verdict
        .floods
        .iter()
        .map(|f| f.source.to_string())
        .collect();
    assert_eq!(found, [FLOODER], "the flood, and nothing else");
    assert!(verdict.targets.is_empty());
    for (delivery, name) in [
        (&as_text, "text"),
        (&as_parquet, "Parquet"),
        (&as_logs, "CloudWatch Logs"),
        (&as_task, "batch task"),
    ] {
        assert_eq!(
            delivery.flooder_sums(&fx).await,
            expected,
            "{name}: the flooder's metrics"
        );
        let (summary, origins) = delivery.summary(&fx).await;
        assert_eq!(
            summary, text_summary,
            "{name}: the summary shared with the detector"
        );
        // From the key, or for log events from their owner and the function's region.
        assert_eq!(
            origins,
            BTreeSet::from([(ACCOUNT.to_owned(), "us-east-1".to_owned())]),
            "{name}: the account and region the verdict names"
        );
        assert_eq!(
            flowlog_core::detect(&summary, &rules),
            verdict,
            "{name}: the verdict"
        );
    }
    println!(
        "text, Parquet, CloudWatch Logs and batch task: flooder Flows={} Packets={} Bytes={} RejectedFlows={}; verdict {found:?}",
        expected[0], expected[1], expected[2], expected[3]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_operations_tasks_report_old_windows_as_skipped_and_bad_objects_as_permanent_failures()
 {
    let fx = Fixture::new().await;
    // A backfill of flow logs 20 days old: CloudWatch takes none of their windows.
    let old_start = (common::now() - 20 * 86_400) / 60 * 60;
    let (old, _) = records(&fx, old_start);
    let old_key = format!(
        "AWSLogs/{ACCOUNT}/vpcflowlogs/us-east-1/old/{}",
        file_name(&fx, "0ld00001", ".log.gz")
    );
    fx.put_bytes(&old_key, old.clone()).await;
    let parquet_key = format!(
        "{}{}",
        prefix(&fx, true, false),
        file_name(&fx, "9a8b7c6d", ".log.parquet")
    );
    let (text, _) = records(&fx, fx.start);
    fx.put_bytes(&parquet_key, to_parquet(&text)).await;
    let mut corrupt = to_parquet(&text);
    let middle = corrupt.len() / 2;
    corrupt[middle..middle + 4_000].fill(0x11);
    let corrupt_key = format!(
        "{}{}",
        prefix(&fx, true, false),
        file_name(&fx, "bad00bad", ".log.parquet")
    );
    fx.put_bytes(&corrupt_key, corrupt).await;
    let missing_key = format!(
        "{}{}",
        prefix(&fx, false, false),
        file_name(&fx, "90e90e90", ".log.gz")
    );
    let trail_key = format!("AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/trail.json.gz");

    let delivery = Delivery::new(&fx, "Backfill").await;
    let keys = [
        &old_key,
        &parquet_key,
        &corrupt_key,
        &missing_key,
        &trail_key,
    ];
    let response = delivery
        .handle(
            &fx,
            batch_event("1.0", &fx.bucket, &keys.map(String::as_str)),
            |_| {},
        )
        .await;
    assert_eq!(response["invocationSchemaVersion"], "1.0");
    assert_eq!(response["treatMissingKeysAs"], "PermanentFailure");
    let results: Vec<(String, String)> = response["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["resultCode"].as_str().unwrap().to_owned(),
                r["resultString"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let (code, said) = &results[0];
    assert_eq!(code, "Succeeded", "{said}");
    let skipped: u32 = said
        .split("skipped ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no skipped windows in {said:?}"));
    assert!(skipped >= 5, "{said}");
    assert!(
        said.contains(" windows older than CloudWatch accepts (14 days)"),
        "{said}"
    );
    assert!(
        said.contains("for detection from"),
        "the old summary is still shared: {said}"
    );
    assert_eq!(results[1].0, "Succeeded", "{}", results[1].1);
    assert!(
        results[1].1.starts_with("read 4000 records (parquet)"),
        "{}",
        results[1].1
    );
    assert_eq!(results[2].0, "PermanentFailure");
    assert!(
        results[2].1.contains("corrupt Parquet data"),
        "{}",
        results[2].1
    );
    assert_eq!(results[3].0, "PermanentFailure");
    assert!(results[3].1.contains("does not exist"), "{}", results[3].1);
    assert_eq!(results[4].0, "Succeeded");
    assert!(
        results[4].1.starts_with("not read: out of scope"),
        "{}",
        results[4].1
    );

    // The old windows reached no metric; the old object's summary is filed under its minutes
    // for the detector's backfill.
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&fx.sdk),
        &delivery.table,
        3600,
    );
    let old_summary = SummaryLog::new(store)
        .load(old_start, old_start + fx.span + 900)
        .await
        .unwrap();
    assert_eq!(old_summary.objects, 1);
    assert!(
        old_summary
            .summary
            .sources
            .contains_key(&FLOODER.parse().unwrap())
    );
    let recent = delivery.flooder_sums(&fx).await;
    assert!(
        recent[0] > 0.0,
        "the Parquet object's windows are recent and published"
    );

    // A task CloudWatch refuses for now is a temporary failure, for Batch Operations to retry.
    let throttled = Delivery::new(&fx, "Throttled").await;
    let app = fx.app_with(Throttled, &throttled.namespace, |c| {
        c.state_table = throttled.table.clone()
    });
    let response = app
        .handle(batch_event("2.0", &fx.bucket, &[&parquet_key]), None)
        .await
        .unwrap();
    assert_eq!(
        response["results"][0]["resultCode"], "TemporaryFailure",
        "{response}"
    );
    assert!(
        response["results"][0]["resultString"]
            .as_str()
            .unwrap()
            .contains("ThrottlingException")
    );
}

/// Refuses every batch, as CloudWatch does when throttling.
struct Throttled;

impl rate_metrics::cloudwatch::MetricsSink for Throttled {
    async fn put(
        &self,
        namespace: &str,
        _batch: &[rate_metrics::metrics::Datum],
    ) -> Result<(), rate_metrics::cloudwatch::PublishError> {
        Err(rate_metrics::cloudwatch::PublishError {
            namespace: namespace.into(),
            message: "ThrottlingException: Rate exceeded".into(),
        })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_stream_delivered_in_several_batches_is_counted_once_and_control_messages_read_nothing()
 {
    let fx = Fixture::new().await;
    let (text, truth) = records(&fx, fx.start);
    let mut lines = record_lines(&text);
    // One record whose source is no address: skipped, the rest of its batch read.
    let srcaddr = formats::V5_ALL
        .iter()
        .position(|f| *f == "srcaddr")
        .unwrap();
    let mut bad: Vec<&str> = lines[100].split(' ').collect();
    bad[srcaddr] = "not-an-address";
    let bad = bad.join(" ");
    lines.insert(100, bad);
    let (group, stream) = (
        format!("/vpc/{}", unique("flow-logs")),
        "eni-0123456789abcdef0-all",
    );
    let events = logged_events(&fx, &group, stream, &lines).await;
    let delivery = Delivery::new(&fx, "Batches").await;
    let (first, second) = events.split_at(events.len() / 3);
    for part in [first, second, first] {
        let response = delivery
            .handle(&fx, subscription_event(&group, stream, part), |_| {})
            .await;
        assert_eq!(response, json!({"log_batches": 1}));
    }
    let flooder = &truth.per_source[&FLOODER.parse().unwrap()];
    let sums = delivery.flooder_sums(&fx).await;
    assert_eq!(sums[0], flooder.flows as f64, "each record counted once");
    assert_eq!(
        fx.sum(&delivery.namespace, "SkippedLines", None).await,
        1.0,
        "the bad record"
    );
    let verdict = flowlog_core::detect(&delivery.summary(&fx).await.0, &FloodRules::default());
    let found: Vec<String> = verdict
        .floods
        .iter()
        .map(|f| f.source.to_string())
        .collect();
    assert_eq!(found, [FLOODER]);

    let control = json!({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "",
        "logStream": "", "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": 0,
        "message": "CWL CONTROL MESSAGE: Checking health of destination Lambda function."}]});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(control.to_string().as_bytes()).unwrap();
    let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    let response = delivery
        .handle(&fx, json!({"awslogs": {"data": data}}), |_| {})
        .await;
    assert!(
        response["ignored"]
            .as_str()
            .unwrap()
            .contains("control message"),
        "{response}"
    );
}
