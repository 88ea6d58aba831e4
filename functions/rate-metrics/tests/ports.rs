//! The handler on in-memory ports (objects, ledger, clock): retries, scope and deletions without
//! a server.

use std::sync::Mutex;

use flowlog_lambda::Settings;
use flowlog_lambda::fakes::{ManualClock, MemoryObjects, MemoryStore};
use flowlog_synth::{Compression, Spec, formats};
use rate_metrics::cloudwatch::{MetricsSink, PublishError};
use rate_metrics::ledger::Ledger;
use rate_metrics::metrics::Datum;
use rate_metrics::{App, Config};
use serde_json::{Value, json};

const BUCKET: &str = "flow-logs";
const KEY: &str = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/01/01/123456789012_vpcflowlogs_us-east-1_fl-1_20250101T0000Z_a.log.gz";
const START: i64 = 1_735_689_600;

/// Records every batch it accepts.
#[derive(Default)]
struct Recorder(Mutex<Vec<Vec<Datum>>>);

impl MetricsSink for &Recorder {
    async fn put(&self, _namespace: &str, batch: &[Datum]) -> Result<(), PublishError> {
        self.0.lock().unwrap().push(batch.to_vec());
        Ok(())
    }
}

fn objects() -> MemoryObjects {
    let spec = Spec {
        records: 3_000,
        seed: 7,
        start: START,
        span_secs: 600,
        ..Spec::default()
    }
    .with_fields(formats::V5_ALL);
    let mut body = Vec::new();
    flowlog_synth::write_object(&spec, Compression::Gzip { level: 1 }, &mut body).unwrap();
    let objects = MemoryObjects::default();
    objects.put(BUCKET, KEY, body, START + 900);
    objects
}

fn config(vars: &[(&str, &str)]) -> Config {
    let lookup = |name: &str| {
        vars.iter()
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
    let recorder = Recorder::default();
    let app = App::from_parts(
        objects,
        &recorder,
        Some(Ledger::new(store.clone(), clock.clone())),
        config(&[]),
    );
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
    let recorder = Recorder::default();
    let scoped = config(&[("FLOW_LOG_BUCKET", BUCKET), ("FLOW_LOG_PREFIX", "AWSLogs/")]);
    let app = App::from_parts(
        objects.clone(),
        &recorder,
        None::<Ledger<MemoryStore>>,
        scoped,
    );
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
    let recorder = Recorder::default();
    let app = App::from_parts(
        objects.clone(),
        &recorder,
        None::<Ledger<MemoryStore>>,
        config(&[]),
    );
    let mut deleted = event(BUCKET, KEY);
    deleted["detail-type"] = json!("Object Deleted");
    let response = app.handle(deleted, None).await.unwrap();
    assert!(response["ignored"].is_string(), "{response}");
    assert_eq!(objects.opened(), 0);
}
