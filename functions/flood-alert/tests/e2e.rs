//! The whole product end to end on a local moto server, through the real AWS SDK: flow-log
//! objects in S3 read by `rate-metrics` (summaries into DynamoDB, detect requests into SQS,
//! metrics into CloudWatch), `flood-alert` run by the detect queue and the schedule, notices
//! read back from an SQS queue subscribed to the SNS topic.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::QueueAttributeName;
use flood_alert::{App, Config};
use flowlog_core::FloodRules;
use flowlog_incidents::{AlertDocument, Policy, Stage};
use flowlog_lambda::{ReadSettings, Settings};
use flowlog_synth::{Compression, Flood, Spec, formats};
use moto_harness::{Fault, FaultProxy, MotoServer, unique_name as unique};
use rate_metrics::cloudwatch::CloudWatchSink;
use serde_json::{Value, json};

const FLOODER: &str = "203.0.113.7";

async fn sdk_at(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(moto_harness::REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "moto",
        ))
        .load()
        .await
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Where everything lives: a bucket, the state table, the detect queue, the alert topic and
/// an inbox queue subscribed to it.
struct Fixture {
    sdk: SdkConfig,
    bucket: String,
    table: String,
    detect_queue: String,
    topic_arn: String,
    inbox: String,
    /// Minute-aligned start of the flood: ten minutes ago.
    start: i64,
}

impl Fixture {
    async fn new() -> Fixture {
        let sdk = sdk_at(MotoServer::shared().endpoint()).await;
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
        let (sns, sqs) = (
            aws_sdk_sns::Client::new(&sdk),
            aws_sdk_sqs::Client::new(&sdk),
        );
        let queue = async |name: &str| {
            sqs.create_queue()
                .queue_name(unique(name))
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap()
        };
        let (detect_queue, inbox) = (queue("detect").await, queue("inbox").await);
        let topic_arn = sns
            .create_topic()
            .name(unique("alerts"))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        let inbox_arn = sqs
            .get_queue_attributes()
            .queue_url(&inbox)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(inbox_arn)
            .send()
            .await
            .unwrap();
        Fixture {
            sdk,
            bucket,
            table,
            detect_queue,
            topic_arn,
            inbox,
            start: (now() - 600) / 60 * 60,
        }
    }

    /// One flow log's file: `flood_flows` SYNs from the flooder spread over five minutes from
    /// the fixture's start, among ordinary traffic of its own seed.
    async fn put_object(&self, key: &str, seed: u64, flood_flows: u64) {
        self.put_object_at(key, seed, flood_flows, self.start).await;
    }

    /// The same, from `start`.
    async fn put_object_at(&self, key: &str, seed: u64, flood_flows: u64, start: i64) {
        let spec = Spec {
            records: 4_000 + flood_flows,
            seed,
            start,
            span_secs: 300,
            flood: Some(Flood {
                source: FLOODER.parse().unwrap(),
                flows: flood_flows,
                syn_only: true,
                reject_share: 0.0,
                dst_ports: 1,
            }),
            ..Spec::default()
        }
        .with_fields(formats::V5_ALL);
        let mut body = Vec::new();
        flowlog_synth::write_object(&spec, Compression::Gzip { level: 6 }, &mut body).unwrap();
        flowlog_lambda::aws::s3_client(&self.sdk)
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
    }

    /// `rate-metrics` as deployed: summaries to the table, requests to the detect queue.
    fn reader(&self) -> rate_metrics::App<CloudWatchSink> {
        let config = rate_metrics::Config {
            namespace: unique("E2E"),
            top_n: 5,
            read: ReadSettings::from_settings(&Settings::new(&|_| None)).unwrap(),
            state_table: self.table.clone(),
            rules: FloodRules::default(),
            detect_queue_url: Some(self.detect_queue.clone()),
            region: Some("us-east-1".into()),
        };
        let sink = CloudWatchSink::new(aws_sdk_cloudwatch::Client::new(&self.sdk));
        rate_metrics::App::new(rate_metrics::Clients::new(&self.sdk), sink, config)
    }

    /// `flood-alert` as deployed, its SNS client on `sns_sdk` (e.g. a fault-injecting proxy).
    fn detector_through(&self, sns_sdk: &SdkConfig) -> App {
        let vars = |name: &str| match name {
            "TOPIC_ARN" => Some(self.topic_arn.clone()),
            "STATE_TABLE" => Some(self.table.clone()),
            _ => None,
        };
        let config = Config::from_settings(&Settings::new(&vars)).unwrap();
        App::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            aws_sdk_sns::Client::new(sns_sdk),
            config,
        )
    }

    fn detector(&self) -> App {
        self.detector_through(&self.sdk)
    }

    async fn read(&self, key: &str) {
        let event = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": self.bucket}, "object": {"key": key, "size": 1}}}]});
        self.reader().handle(event, None).await.unwrap();
    }

    /// The detect queue's waiting requests as the SQS event Lambda would invoke with.
    async fn detect_batch(&self) -> Value {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let out = sqs
            .receive_message()
            .queue_url(&self.detect_queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let records: Vec<Value> = out
            .messages()
            .iter()
            .map(|m| {
                json!({"messageId": m.message_id(), "receiptHandle": m.receipt_handle(),
                "body": m.body(), "eventSource": "aws:sqs"})
            })
            .collect();
        for m in out.messages() {
            sqs.delete_message()
                .queue_url(&self.detect_queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        json!({ "Records": records })
    }

    /// Every notice waiting in the inbox (removed), as SNS envelopes.
    async fn drain(&self) -> Vec<Value> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let mut all = Vec::new();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(&self.inbox)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            if out.messages().is_empty() {
                return all;
            }
            for m in out.messages() {
                all.push(serde_json::from_str(m.body().unwrap()).unwrap());
                sqs.delete_message()
                    .queue_url(&self.inbox)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

fn document(envelope: &Value) -> AlertDocument {
    AlertDocument::parse(envelope["Message"].as_str().unwrap()).unwrap()
}

fn stage_attribute(envelope: &Value) -> &str {
    envelope["MessageAttributes"]["stage"]["Value"]
        .as_str()
        .unwrap()
}

fn schedule(time: i64) -> Value {
    json!({"version": "0", "id": "e", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "region": "us-east-1", "time": flowlog_core::utc(time),
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/flowlogs-incidents"], "detail": {}})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_split_over_two_flow_logs_starts_once_through_redelivery_and_a_race_and_ends_by_the_schedule()
 {
    let fx = Fixture::new().await;
    // 200 half-open a minute in each of two flow logs' files: below the threshold (300) alone.
    let (a, b) = (
        "AWSLogs/1/vpcflowlogs/us-east-1/a.log.gz",
        "AWSLogs/1/vpcflowlogs/us-east-1/b.log.gz",
    );
    fx.put_object(a, 1, 1_000).await;
    fx.put_object(b, 2, 1_000).await;

    fx.read(a).await;
    let batch = fx.detect_batch().await;
    assert_eq!(
        batch["Records"].as_array().unwrap().len(),
        1,
        "one request per object"
    );
    let response = fx.detector().handle(batch).await.unwrap();
    assert_eq!(response, json!({"batchItemFailures": []}));
    assert!(fx.drain().await.is_empty(), "half a flood is no flood");

    fx.read(b).await;
    // Redelivered: the ledger knows the object is done; nothing is added or asked again.
    fx.read(b).await;
    let batch = fx.detect_batch().await;
    // Two detectors at once: the queue's batch and the schedule.
    let (first, second) = (fx.detector(), fx.detector());
    let (x, y) = tokio::join!(first.handle(batch), second.handle(schedule(now())));
    x.unwrap();
    y.unwrap();
    let notices = fx.drain().await;
    assert_eq!(notices.len(), 1, "{notices:#?}");
    let started = document(&notices[0]);
    assert_eq!(
        (started.stage, started.subject.as_str()),
        (Stage::Started, FLOODER)
    );
    assert_eq!(stage_attribute(&notices[0]), "STARTED");
    let subject = notices[0]["Subject"].as_str().unwrap();
    assert!(
        subject.starts_with("[FLOOD STARTED] 203.0.113.7 "),
        "{subject}"
    );
    assert!(
        (380..=420).contains(&started.peak.flows_per_minute),
        "both files, each once: {}",
        started.peak.flows_per_minute
    );

    // The schedule runs on without new data: once the last minute settled and went quiet, ENDED.
    let policy = Policy::default();
    let quiet = started.last_active + 60 + policy.settle_secs + policy.quiet_secs;
    fx.detector().handle(schedule(quiet - 300)).await.unwrap();
    assert!(fx.drain().await.is_empty());
    fx.detector().handle(schedule(quiet + 60)).await.unwrap();
    fx.detector().handle(schedule(quiet + 360)).await.unwrap();
    let notices = fx.drain().await;
    assert_eq!(notices.len(), 1, "{notices:#?}");
    let ended = document(&notices[0]);
    assert_eq!(
        (ended.stage, ended.seq, ended.incident_id.as_str()),
        (Stage::Ended, 2, started.incident_id.as_str())
    );
    assert_eq!(stage_attribute(&notices[0]), "ENDED");
    assert!(ended.totals.flows >= 1_900, "{:?}", ended.totals);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_that_fails_after_the_claim_is_sent_once_by_a_later_run() {
    let fx = Fixture::new().await;
    let key = "AWSLogs/1/vpcflowlogs/us-east-1/flood.log.gz";
    fx.put_object(key, 3, 3_000).await;
    fx.read(key).await;
    // SNS refuses every attempt of the SDK's retries: the invocation fails after its claim.
    let proxy = FaultProxy::start(
        MotoServer::shared().endpoint(),
        vec![Fault::query_error(
            "Action=Publish",
            3,
            500,
            "InternalError",
        )],
    )
    .unwrap();
    let failing = fx.detector_through(&sdk_at(&proxy.endpoint()).await);
    let batch = fx.detect_batch().await;
    let response = failing.handle(batch).await.unwrap();
    assert_eq!(
        response["batchItemFailures"].as_array().unwrap().len(),
        1,
        "the queue retries it"
    );
    assert!(proxy.injected() >= 1);
    assert!(fx.drain().await.is_empty());
    // The next scheduled run, more than a minute later, publishes the pending notice.
    fx.detector().handle(schedule(now() + 120)).await.unwrap();
    fx.detector().handle(schedule(now() + 180)).await.unwrap();
    let notices = fx.drain().await;
    assert_eq!(notices.len(), 1, "{notices:#?}");
    assert_eq!(document(&notices[0]).seq, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn ordinary_traffic_writes_no_summary_and_the_schedule_sends_nothing() {
    let fx = Fixture::new().await;
    let key = "AWSLogs/1/vpcflowlogs/us-east-1/normal.log.gz";
    fx.put_object(key, 4, 0).await;
    fx.read(key).await;
    assert_eq!(
        fx.detect_batch().await["Records"].as_array().unwrap().len(),
        0
    );
    let report = fx.detector().handle(json!({"detect": {}})).await.unwrap();
    assert_eq!(
        (report["objects"].as_u64(), report["floods"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(fx.drain().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_publish_is_retried_by_the_sdk_and_the_notice_arrives_once() {
    let fx = Fixture::new().await;
    let key = "AWSLogs/1/vpcflowlogs/us-east-1/throttled.log.gz";
    fx.put_object(key, 5, 3_000).await;
    fx.read(key).await;
    let proxy = FaultProxy::start(
        MotoServer::shared().endpoint(),
        vec![Fault::query_error("Action=Publish", 2, 400, "Throttling")],
    )
    .unwrap();
    let detector = fx.detector_through(&sdk_at(&proxy.endpoint()).await);
    let response = detector.handle(fx.detect_batch().await).await.unwrap();
    assert_eq!(response, json!({"batchItemFailures": []}));
    assert_eq!(
        proxy.injected(),
        2,
        "two throttled answers, then the publish"
    );
    let notices = fx.drain().await;
    assert_eq!(notices.len(), 1, "{notices:#?}");
    assert_eq!(document(&notices[0]).stage, Stage::Started);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_lettered_request_for_an_old_flood_redriven_to_the_detect_queue_reports_it_once() {
    let fx = Fixture::new().await;
    let sqs = aws_sdk_sqs::Client::new(&fx.sdk);
    let dead = sqs
        .create_queue()
        .queue_name(unique("detect-dlq"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    // Eight hours ago: older than the live window, so only its request gets it judged.
    let start = (now() - 8 * 3600) / 60 * 60;
    let key = "AWSLogs/1/vpcflowlogs/us-east-1/old.log.gz";
    fx.put_object_at(key, 6, 3_000, start).await;
    fx.read(key).await;
    // The request failed its retries and waits in the dead-letter queue.
    let batch = fx.detect_batch().await;
    let body = batch["Records"][0]["body"].as_str().unwrap().to_owned();
    sqs.send_message()
        .queue_url(&dead)
        .message_body(&body)
        .send()
        .await
        .unwrap();
    fx.detector().handle(schedule(now())).await.unwrap();
    assert!(
        fx.drain().await.is_empty(),
        "the schedule judges the live window only"
    );
    // The stack's RedriveCommand moves it back (moto has no StartMessageMoveTask: by hand).
    let moved = sqs
        .receive_message()
        .queue_url(&dead)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    for m in moved.messages() {
        sqs.send_message()
            .queue_url(&fx.detect_queue)
            .message_body(m.body().unwrap())
            .send()
            .await
            .unwrap();
        sqs.delete_message()
            .queue_url(&dead)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    fx.detector().handle(fx.detect_batch().await).await.unwrap();
    let notices = fx.drain().await;
    let stages: Vec<Stage> = notices.iter().map(|n| document(n).stage).collect();
    assert_eq!(stages, [Stage::Started, Stage::Ended], "{notices:#?}");
    assert!(notices.iter().all(|n| document(n).origin.backfill));
    assert_eq!(notices[0]["MessageAttributes"]["backfill"]["Value"], "true");
}
