//! The handler on in-memory ports (objects, state, detect queue, clock): retries, the summary
//! shared before the metrics, scope and deletions without a server.

use std::sync::Mutex;

use flowlog_lambda::fakes::{ManualClock, MemoryObjects, MemoryStore};
use flowlog_lambda::{DetectRequest, Settings, SummaryLog};
use flowlog_synth::{Compression, Flood, Spec, formats};
use rate_metrics::cloudwatch::{MetricsSink, PublishError};
use rate_metrics::detect_queue::DetectQueue;
use rate_metrics::ledger::Ledger;
use rate_metrics::metrics::Datum;
use rate_metrics::{App, Config};
use serde_json::{Value, json};

const BUCKET: &str = "flow-logs";
const KEY: &str = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/01/01/123456789012_vpcflowlogs_us-east-1_fl-1_20250101T0000Z_a.log.gz";
const START: i64 = 1_735_689_600;

/// Records every batch it accepts; refuses them all while `down`.
#[derive(Default)]
struct Recorder(Mutex<Vec<Vec<Datum>>>, std::sync::atomic::AtomicBool);

impl MetricsSink for &Recorder {
    async fn put(&self, namespace: &str, batch: &[Datum]) -> Result<(), PublishError> {
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(PublishError {
                namespace: namespace.to_owned(),
                message: "Throttling: Rate exceeded".into(),
            });
        }
        self.0.lock().unwrap().push(batch.to_vec());
        Ok(())
    }
}

/// Records every detect request; refuses them all while `down`.
#[derive(Default)]
struct Requests(Mutex<Vec<DetectRequest>>, std::sync::atomic::AtomicBool);

impl DetectQueue for &Requests {
    async fn send(&self, request: &DetectRequest) -> Result<(), String> {
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("SendMessage: AWS.SimpleQueueService.NonExistentQueue".into());
        }
        self.0.lock().unwrap().push(request.clone());
        Ok(())
    }
}

/// The function on memory: objects, one store for ledger and summaries, a clock.
fn app<'a>(
    objects: &MemoryObjects,
    store: &MemoryStore,
    clock: &ManualClock,
    recorder: &'a Recorder,
    requests: &'a Requests,
    config: Config,
) -> App<&'a Recorder, MemoryObjects, MemoryStore, &'a Requests> {
    App::from_parts(
        objects.clone(),
        recorder,
        Ledger::new(store.clone(), clock.clone()),
        SummaryLog::new(store.clone()),
        Some(requests),
        config,
    )
}

/// 3,000 records over ten minutes; a SYN flood from 203.0.113.7 when `flood`.
fn objects_with(flood: bool) -> MemoryObjects {
    let spec = Spec {
        records: 3_000,
        seed: 7,
        start: START,
        span_secs: 600,
        flood: flood.then(|| Flood {
            source: "203.0.113.7".parse().unwrap(),
            flows: 2_000,
            syn_only: true,
            reject_share: 0.0,
            dst_ports: 1,
        }),
        ..Spec::default()
    }
    .with_fields(formats::V5_ALL);
    let mut body = Vec::new();
    flowlog_synth::write_object(&spec, Compression::Gzip { level: 1 }, &mut body).unwrap();
    let objects = MemoryObjects::default();
    objects.put(BUCKET, KEY, body, START + 900);
    objects
}

fn objects() -> MemoryObjects {
    objects_with(false)
}

fn config(vars: &[(&str, &str)]) -> Config {
    let lookup = |name: &str| {
        vars.iter()
            .chain(&[("STATE_TABLE", "unused")])
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    };
    let mut config = Config::from_settings(&Settings::new(&lookup)).unwrap();
    config.top_n = 1000;
    config
}

fn event(bucket: &str, key: &str) -> Value {
    json!({"version": "0", "detail-type": "Object Created", "source": "aws.s3",
        "detail": {"bucket": {"name": bucket}, "object": {"key": key}}})
}

#[tokio::test]
async fn a_retry_minutes_after_a_failed_completion_write_publishes_nothing_again() {
    let (objects, store, clock) = (
        objects(),
        MemoryStore::default(),
        ManualClock::at(START + 960),
    );
    let (recorder, requests) = (Recorder::default(), Requests::default());
    let app = app(&objects, &store, &clock, &recorder, &requests, config(&[]));
    store.fail_writes("/complete", 1);
    let error = app.handle(event(BUCKET, KEY), None).await.unwrap_err();
    assert!(error.to_string().contains("complete"), "{error}");
    let published = recorder.0.lock().unwrap().clone();
    assert!(published.len() >= 2, "{} batches", published.len());
    // Stamped with the windows of the object or its arrival, never the time of publishing.
    for datum in published.iter().flatten() {
        let t = datum.timestamp;
        assert!(
            t == START + 900 || (t % 60 == 0 && (START..START + 660).contains(&t)),
            "{datum:?}"
        );
    }
    // Lambda's retries come about one and three minutes later.
    clock.advance(180);
    app.handle(event(BUCKET, KEY), None).await.unwrap();
    assert_eq!(*recorder.0.lock().unwrap(), published, "nothing sent twice");
    assert!(store.names().iter().any(|n| n.ends_with("/complete")));
}

#[tokio::test]
async fn objects_outside_the_flow_log_bucket_or_prefix_are_skipped_unread() {
    let objects = objects();
    let (recorder, requests) = (Recorder::default(), Requests::default());
    let scoped = config(&[("FLOW_LOG_BUCKET", BUCKET), ("FLOW_LOG_PREFIX", "AWSLogs/")]);
    let (store, clock) = (MemoryStore::default(), ManualClock::at(START + 960));
    let app = app(&objects, &store, &clock, &recorder, &requests, scoped);
    let trail = "AWSLogs/123456789012/CloudTrail/us-east-1/2025/01/01/trail.json.gz";
    for (bucket, key) in [(BUCKET, trail), ("other-bucket", KEY)] {
        let response = app.handle(event(bucket, key), None).await.unwrap();
        assert_eq!(response, json!({"objects": 0, "out_of_scope": 1}));
    }
    assert_eq!(objects.opened(), 0, "nothing read");
    assert!(recorder.0.lock().unwrap().is_empty());
    let response = app.handle(event(BUCKET, KEY), None).await.unwrap();
    assert_eq!(response, json!({"objects": 1}));
    assert_eq!(objects.opened(), 1);
}

#[tokio::test]
async fn an_eventbridge_object_deleted_event_is_acknowledged_and_nothing_read() {
    let objects = objects();
    let (recorder, requests) = (Recorder::default(), Requests::default());
    let (store, clock) = (MemoryStore::default(), ManualClock::at(START + 960));
    let app = app(&objects, &store, &clock, &recorder, &requests, config(&[]));
    let mut deleted = event(BUCKET, KEY);
    deleted["detail-type"] = json!("Object Deleted");
    let response = app.handle(deleted, None).await.unwrap();
    assert!(response["ignored"].is_string(), "{response}");
    assert_eq!(objects.opened(), 0);
}

#[tokio::test]
async fn a_flood_object_shares_its_summary_and_asks_for_a_verdict_even_when_cloudwatch_is_down() {
    let (objects, store, clock) = (
        objects_with(true),
        MemoryStore::default(),
        ManualClock::at(START + 960),
    );
    let (recorder, requests) = (Recorder::default(), Requests::default());
    let app = app(&objects, &store, &clock, &recorder, &requests, config(&[]));
    recorder.1.store(true, std::sync::atomic::Ordering::SeqCst);
    let error = app.handle(event(BUCKET, KEY), None).await.unwrap_err();
    assert!(error.to_string().contains("Throttling"), "{error}");
    let summaries: Vec<String> = store
        .names()
        .into_iter()
        .filter(|n| n.starts_with("summary/"))
        .collect();
    assert_eq!(
        summaries.len(),
        1,
        "the detector's share is written before the metrics"
    );
    let sent = requests.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].from >= START && sent[0].until <= START + 720,
        "{:?}",
        sent[0]
    );
    assert!(sent[0].object.ends_with(KEY));
    let loaded = SummaryLog::new(store.clone())
        .load(START, START + 720)
        .await
        .unwrap();
    let flooder = "203.0.113.7".parse().unwrap();
    assert!(
        loaded.summary.sources.contains_key(&flooder),
        "the flooder is above the floor"
    );
    assert!(
        loaded.summary.sources.len() < 10,
        "normal sources stay below it: {}",
        loaded.summary.sources.len()
    );

    // CloudWatch is back: the retry publishes, adds no second summary, and asks again (the
    // first attempt may have stopped before asking).
    recorder.1.store(false, std::sync::atomic::Ordering::SeqCst);
    clock.advance(60);
    app.handle(event(BUCKET, KEY), None).await.unwrap();
    assert!(!recorder.0.lock().unwrap().is_empty());
    assert_eq!(
        store
            .names()
            .iter()
            .filter(|n| n.starts_with("summary/"))
            .count(),
        1
    );
    assert_eq!(requests.0.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn an_object_of_ordinary_traffic_writes_no_summary_and_asks_nothing() {
    let (objects, store, clock) = (
        objects(),
        MemoryStore::default(),
        ManualClock::at(START + 960),
    );
    let (recorder, requests) = (Recorder::default(), Requests::default());
    let app = app(&objects, &store, &clock, &recorder, &requests, config(&[]));
    app.handle(event(BUCKET, KEY), None).await.unwrap();
    assert!(
        !recorder.0.lock().unwrap().is_empty(),
        "metrics are published"
    );
    assert!(
        store.names().iter().all(|n| !n.starts_with("summary/")),
        "{:?}",
        store.names()
    );
    assert!(requests.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_summary_write_fails_the_object_before_any_metric() {
    let (objects, store, clock) = (
        objects_with(true),
        MemoryStore::default(),
        ManualClock::at(START + 960),
    );
    let (recorder, requests) = (Recorder::default(), Requests::default());
    let app = app(&objects, &store, &clock, &recorder, &requests, config(&[]));
    store.fail_writes("summary/", 1);
    let error = app.handle(event(BUCKET, KEY), None).await.unwrap_err();
    assert!(error.to_string().contains("summary not written"), "{error}");
    assert!(recorder.0.lock().unwrap().is_empty());
    assert!(requests.0.lock().unwrap().is_empty());
    app.handle(event(BUCKET, KEY), None).await.unwrap();
    assert_eq!(requests.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_detect_request_that_cannot_be_sent_leaves_the_verdict_to_the_schedule_and_publishes() {
    let (objects, store, clock) = (
        objects_with(true),
        MemoryStore::default(),
        ManualClock::at(START + 960),
    );
    let (recorder, requests) = (Recorder::default(), Requests::default());
    let app = app(&objects, &store, &clock, &recorder, &requests, config(&[]));
    requests.1.store(true, std::sync::atomic::Ordering::SeqCst);
    app.handle(event(BUCKET, KEY), None).await.unwrap();
    assert!(
        !recorder.0.lock().unwrap().is_empty(),
        "metrics are published"
    );
    assert_eq!(
        store
            .names()
            .iter()
            .filter(|n| n.starts_with("summary/"))
            .count(),
        1,
        "the schedule finds it"
    );
}

#[tokio::test]
async fn a_backfilled_object_publishes_no_metric_cloudwatch_would_refuse_but_shares_its_summary() {
    // Read a month after it arrived: its windows and its arrival are older than CloudWatch
    // takes.
    let (objects, store, clock) = (
        objects_with(true),
        MemoryStore::default(),
        ManualClock::at(START + 30 * 86_400),
    );
    let (recorder, requests) = (Recorder::default(), Requests::default());
    let app = app(&objects, &store, &clock, &recorder, &requests, config(&[]));
    let task = json!({"invocationSchemaVersion": "2.0", "invocationId": "i", "job": {"id": "j"},
        "tasks": [{"taskId": "t", "s3Bucket": BUCKET, "s3Key": KEY, "s3VersionId": null}]});
    let response = app.handle(task, None).await.unwrap();
    let result = &response["results"][0];
    assert_eq!(result["resultCode"], "Succeeded", "{response}");
    let said = result["resultString"].as_str().unwrap();
    assert!(said.contains("published 0 datums"), "{said}");
    assert!(
        said.contains("windows older than CloudWatch accepts (14 days) and its telemetry"),
        "{said}"
    );
    assert!(
        said.contains("for detection from 2025-01-01T00:0"),
        "{said}"
    );
    assert!(recorder.0.lock().unwrap().iter().all(Vec::is_empty));
    assert_eq!(requests.0.lock().unwrap()[0].from, START);
    let loaded = SummaryLog::new(store.clone())
        .load(START, START + 720)
        .await
        .unwrap();
    assert!(
        loaded
            .summary
            .sources
            .contains_key(&"203.0.113.7".parse().unwrap())
    );
}

#[tokio::test]
async fn without_a_detect_queue_the_summary_is_still_written() {
    let (objects, store, clock) = (
        objects_with(true),
        MemoryStore::default(),
        ManualClock::at(START + 960),
    );
    let recorder = Recorder::default();
    let app = App::from_parts(
        objects.clone(),
        &recorder,
        Ledger::new(store.clone(), clock.clone()),
        SummaryLog::new(store.clone()),
        None::<&Requests>,
        config(&[]),
    );
    app.handle(event(BUCKET, KEY), None).await.unwrap();
    assert_eq!(
        store
            .names()
            .iter()
            .filter(|n| n.starts_with("summary/"))
            .count(),
        1
    );
}

#[tokio::test]
async fn the_sample_cloudwatch_logs_event_publishes_its_records_once() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../events/cloudwatch-logs-subscription.json"
    );
    let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (objects, store, clock) = (
        MemoryObjects::default(),
        MemoryStore::default(),
        ManualClock::at(1_700_000_600),
    );
    let (recorder, requests) = (Recorder::default(), Requests::default());
    let app = app(&objects, &store, &clock, &recorder, &requests, config(&[]));
    let response = app.handle(event.clone(), None).await.unwrap();
    assert_eq!(response, json!({"log_batches": 1}));
    let records: f64 = recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .flatten()
        .filter(|d| d.name == "Records")
        .map(|d| d.value)
        .sum();
    assert_eq!(records, 24.0);
    let published = recorder.0.lock().unwrap().len();
    app.handle(event, None).await.unwrap();
    assert_eq!(
        recorder.0.lock().unwrap().len(),
        published,
        "a redelivery adds nothing"
    );
    assert!(
        store
            .names()
            .iter()
            .any(|n| n.starts_with("cwl:/vpc/flow-logs/eni-0a1b2c3d4e5f67890-all/")),
        "{:?}",
        store.names()
    );
}
