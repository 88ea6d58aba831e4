//! End to end against a local moto server: a flow-log object in S3, the handler on a real event,
//! the alert read back from an SQS queue subscribed to the SNS topic.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::QueueAttributeName;
use flood_alert::sns::SnsSink;
use flood_alert::{App, Config};
use flowlog_core::FloodRules;
use flowlog_lambda::ReadSettings;
use flowlog_synth::{Compression, Flood, Spec, formats};
use moto_harness::{Fault, FaultProxy, MotoServer, unique_name as unique};
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

struct Fixture {
    sdk: SdkConfig,
    bucket: String,
    topic_arn: String,
    queue_url: String,
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
        let sns = aws_sdk_sns::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let topic_arn = sns
            .create_topic()
            .name(unique("alerts"))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        let queue_url = sqs
            .create_queue()
            .queue_name(unique("inbox"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
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
            .endpoint(queue_arn)
            .send()
            .await
            .unwrap();
        Fixture {
            sdk,
            bucket,
            topic_arn,
            queue_url,
        }
    }

    async fn put_object(&self, key: &str, flood: bool) {
        let start = (SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            - 3600)
            / 60
            * 60;
        let spec = Spec {
            records: 12_000,
            seed: 5,
            start,
            skipdata_every: 1500,
            flood: flood.then(|| Flood {
                source: FLOODER.parse().unwrap(),
                flows: 6_000,
                syn_only: true,
                reject_share: 0.1,
                dst_ports: 2,
            }),
            heavy_downloader: true,
            ..Spec::default()
        }
        .with_fields(formats::V5_ALL);
        let mut body = Vec::new();
        flowlog_synth::write_object(&spec, Compression::Gzip { level: 6 }, &mut body).unwrap();
        let s3 = flowlog_lambda::aws::s3_client(&self.sdk);
        s3.put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
    }

    fn app(&self, state_prefix: &str) -> App<SnsSink> {
        self.app_publishing_through(state_prefix, &self.sdk)
    }

    /// The function with its SNS client on `sns_sdk` (e.g. a fault-injecting proxy).
    fn app_publishing_through(&self, state_prefix: &str, sns_sdk: &SdkConfig) -> App<SnsSink> {
        let config = Config {
            topic_arn: self.topic_arn.clone(),
            state_bucket: self.bucket.clone(),
            state_prefix: state_prefix.to_owned(),
            cooldown_secs: 900,
            rules: FloodRules::default(),
            read: ReadSettings::from_settings(&flowlog_lambda::Settings::new(&|_| None)).unwrap(),
        };
        let sink = SnsSink::new(aws_sdk_sns::Client::new(sns_sdk), self.topic_arn.clone());
        App::new(flowlog_lambda::aws::s3_client(&self.sdk), sink, config)
    }

    /// Every SNS envelope waiting in the queue (and removes them).
    async fn drain(&self) -> Vec<Value> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let mut all = Vec::new();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return all;
            }
            for m in messages {
                all.push(serde_json::from_str(m.body().unwrap()).unwrap());
                sqs.delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

fn s3_event(bucket: &str, key: &str) -> Value {
    json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}}}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_sends_one_clear_alert_and_a_redelivery_sends_none() {
    let fx = Fixture::new().await;
    let key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/01/01/flood.log.gz";
    fx.put_object(key, true).await;
    let app = fx.app(&unique("state"));
    app.handle(s3_event(&fx.bucket, key), None).await.unwrap();

    let alerts = fx.drain().await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let envelope = &alerts[0];
    let subject = envelope["Subject"].as_str().unwrap();
    assert!(subject.starts_with("[FLOOD] 203.0.113.7 "), "{subject}");
    assert!(
        subject.contains("syn-flood") && subject.contains("half-open/min"),
        "{subject}"
    );
    assert!(
        subject.chars().count() < 100 && !subject.contains('\n'),
        "{subject}"
    );
    let attributes = &envelope["MessageAttributes"];
    assert_eq!(attributes["source_ip"]["Value"], FLOODER);
    assert_eq!(attributes["rule"]["Value"], "syn-flood");
    assert!(matches!(
        attributes["severity"]["Value"].as_str(),
        Some("HIGH" | "MEDIUM")
    ));
    assert_eq!(attributes["flows_per_minute"]["Type"], "Number");
    let document: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(document["type"], "flowlog.flood");
    assert_eq!(document["source"], FLOODER);
    assert_eq!(document["rule"], "syn-flood");
    assert!(document["flows"].as_u64().unwrap() >= 600);
    assert_eq!(document["account_id"], "123456789012");
    assert_eq!(document["region"], "us-east-1");
    assert!(
        document["object"]
            .as_str()
            .unwrap()
            .ends_with("flood.log.gz")
    );
    println!(
        "alert subject: {subject}; worst minute flows: {}",
        document["flows"]
    );

    // The same event again (S3 delivers at least once): no second alert.
    app.handle(s3_event(&fx.bucket, key), None).await.unwrap();
    assert!(fx.drain().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_invocations_racing_on_the_same_event_send_one_alert() {
    let fx = Fixture::new().await;
    fx.put_object("race.log.gz", true).await;
    let state = unique("state");
    let (a, b) = (fx.app(&state), fx.app(&state));
    let event = s3_event(&fx.bucket, "race.log.gz");
    let (ra, rb) = tokio::join!(a.handle(event.clone(), None), b.handle(event.clone(), None));
    // The loser either saw the alert as sent, or a fresh claim and asks to be retried.
    let outcomes = [ra.is_ok(), rb.is_ok()];
    assert!(outcomes.contains(&true), "{ra:?} {rb:?}");
    if let Some(e) = ra.as_ref().err().or(rb.as_ref().err()) {
        assert!(e.to_string().contains("retry later"), "{e}");
    }
    // Its retry is then a no-op.
    a.handle(event, None).await.unwrap();
    assert_eq!(fx.drain().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn normal_traffic_with_a_heavy_downloader_sends_nothing() {
    let fx = Fixture::new().await;
    fx.put_object("quiet.log.gz", false).await;
    fx.app(&unique("state"))
        .handle(s3_event(&fx.bucket, "quiet.log.gz"), None)
        .await
        .unwrap();
    assert!(fx.drain().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_object_fails_the_invocation_and_sends_nothing() {
    let fx = Fixture::new().await;
    let error = fx
        .app(&unique("state"))
        .handle(s3_event(&fx.bucket, "never-written.log.gz"), None)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
    assert!(fx.drain().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_publish_is_retried_with_backoff_and_the_alert_arrives_once() {
    let fx = Fixture::new().await;
    fx.put_object("throttled.log.gz", true).await;
    let proxy = FaultProxy::start(
        MotoServer::shared().endpoint(),
        vec![Fault::query_error("Action=Publish", 2, 400, "Throttling")],
    )
    .unwrap();
    let app = fx.app_publishing_through(&unique("state"), &sdk_at(&proxy.endpoint()).await);
    app.handle(s3_event(&fx.bucket, "throttled.log.gz"), None)
        .await
        .unwrap();
    assert_eq!(proxy.injected(), 2);
    assert_eq!(fx.drain().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_that_keeps_failing_fails_the_invocation_and_its_retry_alerts_once() {
    let fx = Fixture::new().await;
    fx.put_object("sns-down.log.gz", true).await;
    let state = unique("state");
    let proxy = FaultProxy::start(
        MotoServer::shared().endpoint(),
        vec![Fault::query_error(
            "Action=Publish",
            100,
            500,
            "InternalError",
        )],
    )
    .unwrap();
    let broken = fx.app_publishing_through(&state, &sdk_at(&proxy.endpoint()).await);
    let event = s3_event(&fx.bucket, "sns-down.log.gz");
    let error = broken
        .handle(event.clone(), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("not published") && error.contains("InternalError"),
        "{error}"
    );
    assert!(fx.drain().await.is_empty());
    // The failed publisher gave its claim up: the retry may alert at once.
    fx.app(&state).handle(event.clone(), None).await.unwrap();
    fx.app(&state).handle(event, None).await.unwrap();
    assert_eq!(fx.drain().await.len(), 1);
}

/// What `aws sqs start-message-move-task --source-arn <failed> --destination-arn <redrive>`
/// does: every message's body and attributes into the destination, then out of the source.
/// moto 5.2.5 does not implement StartMessageMoveTask, so the test moves them itself.
async fn move_messages(sqs: &aws_sdk_sqs::Client, from: &str, to: &str) -> usize {
    let mut moved = 0;
    loop {
        let out = sqs
            .receive_message()
            .queue_url(from)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return moved;
        }
        for m in messages {
            sqs.send_message()
                .queue_url(to)
                .message_body(m.body().unwrap())
                .set_message_attributes(m.message_attributes.clone())
                .send()
                .await
                .unwrap();
            sqs.delete_message()
                .queue_url(from)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
            moved += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_lettered_events_redriven_through_the_redrive_queue_alert_once() {
    let fx = Fixture::new().await;
    let sqs = aws_sdk_sqs::Client::new(&fx.sdk);
    let queue = |name: &str| {
        let sqs = sqs.clone();
        let name = unique(name);
        async move {
            let out = sqs.create_queue().queue_name(name).send().await.unwrap();
            out.queue_url.unwrap()
        }
    };
    let (failed, redrive) = (queue("failed").await, queue("redrive").await);
    let key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/01/01/late.log.gz";
    let event = s3_event(&fx.bucket, key);
    let app = fx.app(&unique("state"));
    // The object cannot be read yet: the invocation fails, and after its retries Lambda puts a
    // destination record in the failed queue; EventBridge puts an undeliverable event there
    // as it is.
    assert!(app.handle(event.clone(), None).await.is_err());
    let record = json!({"version": "1.0", "timestamp": "2025-01-01T00:10:00.000Z",
        "requestContext": {"requestId": "r1", "condition": "RetriesExhausted", "approximateInvokeCount": 3,
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:flood-alert:$LATEST"},
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "does not exist"}});
    let undeliverable = json!({"version": "0", "id": "e1", "detail-type": "Object Created",
        "source": "aws.s3", "account": "123456789012", "region": "us-east-1",
        "detail": {"bucket": {"name": fx.bucket}, "object": {"key": key}}});
    for body in [record, undeliverable] {
        sqs.send_message()
            .queue_url(&failed)
            .message_body(body.to_string())
            .send()
            .await
            .unwrap();
    }
    // The cause is fixed, then the redrive: failed queue -> redrive queue -> the function.
    fx.put_object(key, true).await;
    assert_eq!(move_messages(&sqs, &failed, &redrive).await, 2);
    let out = sqs
        .receive_message()
        .queue_url(&redrive)
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
    assert_eq!(records.len(), 2);
    let response = app
        .handle(json!({ "Records": records }), None)
        .await
        .unwrap();
    assert_eq!(response, json!({"batchItemFailures": []}));
    assert_eq!(fx.drain().await.len(), 1, "two redriven events, one alert");
}
