//! The detector on in-memory ports (state store, sink, clock): one verdict over objects split
//! in any way, one notice per stage, exactly once through races, redeliveries, crashes and
//! failed writes between steps.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use flood_alert::alert::Alert;
use flood_alert::sns::{AlertSink, PublishError};
use flood_alert::{App, Config};
use flowlog_core::{AggregateOptions, Aggregator, FloodRules, Floor, ScanOptions, scan};
use flowlog_incidents::{AlertDocument, Policy, Stage};
use flowlog_lambda::fakes::{ManualClock, MemoryStore};
use flowlog_lambda::{ObjectMeta, Settings, SummaryLog, Written};
use serde_json::{Value, json};

const HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status tcp-flags flow-direction";
/// A minute boundary 2023-11-14T22:14:00Z.
const T0: i64 = 1_700_000_040;
const FLOODER: &str = "203.0.113.7";

/// Keeps every alert; fails the next `failing` publishes.
#[derive(Default)]
struct Inbox {
    alerts: Mutex<Vec<Alert>>,
    failing: AtomicUsize,
}

impl Inbox {
    fn documents(&self) -> Vec<AlertDocument> {
        self.alerts
            .lock()
            .unwrap()
            .iter()
            .map(|a| {
                let envelope: Value = serde_json::from_str(&a.message).unwrap();
                AlertDocument::parse(envelope["lambda"].as_str().unwrap()).unwrap()
            })
            .collect()
    }

    fn stages(&self) -> Vec<(Stage, String)> {
        self.documents()
            .into_iter()
            .map(|d| (d.stage, d.alert_id))
            .collect()
    }
}

impl AlertSink for &Inbox {
    async fn publish(&self, alert: &Alert) -> Result<(), PublishError> {
        if self.failing.load(Ordering::SeqCst) > 0 {
            self.failing.fetch_sub(1, Ordering::SeqCst);
            return Err(PublishError {
                topic: "arn:aws:sns:us-east-1:123456789012:alerts".into(),
                message: "InternalError: injected by the test".into(),
            });
        }
        self.alerts.lock().unwrap().push(alert.clone());
        Ok(())
    }
}

fn config() -> Config {
    let vars = |name: &str| match name {
        "TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:alerts".to_owned()),
        "STATE_TABLE" => Some("unused".to_owned()),
        _ => None,
    };
    Config::from_settings(&Settings::new(&vars)).unwrap()
}

/// One object's records: `per_minute` SYNs a minute from the flooder to 10.0.0.5:443 over
/// `minutes` minutes from `first`, among a little ordinary traffic, as seen at `eni`.
fn object(eni: &str, first: i64, minutes: i64, per_minute: u32) -> String {
    let mut text = format!("{HEADER}\n");
    for m in 0..minutes {
        let t0 = first + m * 60;
        for i in 0..per_minute {
            let t = t0 + i64::from(i % 59);
            text.push_str(&format!(
                "5 123456789012 {eni} {FLOODER} 10.0.0.5 {} 443 6 1 44 {t} {} ACCEPT OK 2 ingress\n",
                20000 + i,
                t + 1
            ));
        }
        for c in 0..20 {
            let t = t0 + c;
            text.push_str(&format!(
                "5 123456789012 {eni} 198.51.100.{c} 10.0.0.5 {} 443 6 12 4000 {t} {} ACCEPT OK 3 ingress\n",
                40000 + c,
                t + 5
            ));
        }
    }
    text
}

/// Reads an object the way `rate-metrics` does and shares its summary.
async fn share(store: &MemoryStore, key: &str, etag: &str, text: &str) -> Written {
    let mut aggregator = Aggregator::new(AggregateOptions::default());
    scan(text.as_bytes(), &ScanOptions::default(), &mut aggregator).unwrap();
    let summary = aggregator.summary(&Floor::shared(&FloodRules::default()));
    let meta = ObjectMeta {
        bucket: "flow-logs".into(),
        key: key.into(),
        etag: Some(etag.into()),
        size: None,
        last_modified: None,
    };
    SummaryLog::new(store.clone())
        .put(&meta, flowlog_lambda::flow_log_origin(key), summary)
        .await
        .unwrap()
        .0
}

fn detect_batch(from: i64, until: i64) -> Value {
    json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs",
        "body": json!({"from": from, "until": until, "object": "s3://flow-logs/x"}).to_string()}]})
}

fn schedule(now: i64) -> Value {
    json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
        "time": flowlog_core::utc(now), "detail": {}})
}

fn app<'a>(
    store: &MemoryStore,
    inbox: &'a Inbox,
    clock: &ManualClock,
) -> App<MemoryStore, &'a Inbox> {
    App::from_parts(store.clone(), inbox, clock.clone(), config())
}

#[tokio::test]
async fn a_flood_split_over_two_objects_is_found_once_as_if_it_came_in_one() {
    let (store, inbox) = (MemoryStore::default(), Inbox::default());
    let clock = ManualClock::at(T0 + 600);
    let app = app(&store, &inbox, &clock);
    // 200 half-open a minute in each of two flow logs' files: each below the threshold (300).
    assert_eq!(
        share(&store, "a.log.gz", "1", &object("eni-a", T0, 3, 200)).await,
        Written::Created
    );
    app.handle(detect_batch(T0, T0 + 180)).await.unwrap();
    assert!(inbox.stages().is_empty(), "one half alone is no flood");
    assert_eq!(
        share(&store, "b.log.gz", "1", &object("eni-b", T0, 3, 200)).await,
        Written::Created
    );
    let response = app.handle(detect_batch(T0, T0 + 180)).await.unwrap();
    assert_eq!(response, json!({"batchItemFailures": []}));
    let docs = inbox.documents();
    assert_eq!(docs.len(), 1, "{:?}", inbox.stages());
    let doc = &docs[0];
    assert_eq!(
        (doc.stage, doc.subject.as_str(), doc.seq),
        (Stage::Started, FLOODER, 1)
    );
    assert_eq!(doc.alert_id, format!("{FLOODER}@{T0}#1"));
    assert_eq!(doc.totals.minutes, 3);
    assert_eq!(doc.peak.flows_per_minute, 400, "both halves, each once");
    assert!(!doc.origin.backfill);
}

#[tokio::test]
async fn a_redelivered_object_adds_nothing_and_a_repeated_verdict_sends_nothing() {
    let (store, inbox) = (MemoryStore::default(), Inbox::default());
    let clock = ManualClock::at(T0 + 600);
    let app = app(&store, &inbox, &clock);
    let text = object("eni-a", T0, 2, 500);
    share(&store, "a.log.gz", "1", &text).await;
    app.handle(detect_batch(T0, T0 + 120)).await.unwrap();
    assert_eq!(share(&store, "a.log.gz", "1", &text).await, Written::Exists);
    clock.advance(60);
    app.handle(detect_batch(T0, T0 + 120)).await.unwrap();
    app.handle(schedule(T0 + 700)).await.unwrap();
    assert_eq!(inbox.stages().len(), 1, "{:?}", inbox.stages());
    assert_eq!(
        inbox.documents()[0].peak.flows_per_minute,
        500,
        "counted once"
    );
}

#[tokio::test]
async fn two_detectors_racing_on_one_flood_send_one_started() {
    let (store, inbox) = (MemoryStore::default(), Inbox::default());
    let clock = ManualClock::at(T0 + 600);
    share(&store, "a.log.gz", "1", &object("eni-a", T0, 2, 500)).await;
    let (first, second) = (app(&store, &inbox, &clock), app(&store, &inbox, &clock));
    let (a, b) = tokio::join!(
        first.handle(detect_batch(T0, T0 + 120)),
        second.handle(schedule(T0 + 600))
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(
        inbox.stages(),
        [(Stage::Started, format!("{FLOODER}@{T0}#1"))]
    );
}

#[tokio::test]
async fn a_flood_starts_goes_on_and_ends_by_the_schedule_with_one_notice_per_stage() {
    let (store, inbox) = (MemoryStore::default(), Inbox::default());
    let policy = Policy::default();
    let clock = ManualClock::at(T0 + 120);
    let app = app(&store, &inbox, &clock);
    share(&store, "a.log.gz", "1", &object("eni-a", T0, 2, 500)).await;
    app.handle(detect_batch(T0, T0 + 120)).await.unwrap();
    // Fifteen minutes on, the flood goes on: one update with the totals so far.
    share(&store, "b.log.gz", "1", &object("eni-a", T0 + 900, 2, 700)).await;
    clock.advance(900);
    app.handle(detect_batch(T0 + 900, T0 + 1020)).await.unwrap();
    // Quiet, and the schedule runs on: nothing until the last minute settled and went quiet.
    let quiet_end = T0 + 960 + 60 + policy.settle_secs + policy.quiet_secs;
    for now in [T0 + 1500, quiet_end - 60] {
        app.handle(schedule(now)).await.unwrap();
    }
    assert_eq!(inbox.stages().len(), 2);
    app.handle(schedule(quiet_end + 240)).await.unwrap();
    app.handle(schedule(quiet_end + 540)).await.unwrap();
    let docs = inbox.documents();
    let stages: Vec<(Stage, u32)> = docs.iter().map(|d| (d.stage, d.seq)).collect();
    assert_eq!(
        stages,
        [(Stage::Started, 1), (Stage::Ongoing, 2), (Stage::Ended, 3)]
    );
    let ongoing = &docs[1];
    assert_eq!(
        (ongoing.totals.minutes, ongoing.peak.flows_per_minute),
        (4, 700)
    );
    let ended = &docs[2];
    assert_eq!(ended.duration_secs, 1020);
    assert_eq!(ended.totals.flows, 2 * 500 + 2 * 700);
    assert_eq!(ended.ended_at, Some(quiet_end + 240));
    assert!(
        docs.iter()
            .all(|d| d.incident_id == format!("{FLOODER}@{T0}"))
    );
}

#[tokio::test]
async fn a_failed_publish_leaves_the_notice_pending_and_a_later_run_sends_it_once() {
    let (store, inbox) = (MemoryStore::default(), Inbox::default());
    let clock = ManualClock::at(T0 + 600);
    let app = app(&store, &inbox, &clock);
    share(&store, "a.log.gz", "1", &object("eni-a", T0, 2, 500)).await;
    inbox.failing.store(1, Ordering::SeqCst);
    let response = app.handle(detect_batch(T0, T0 + 120)).await.unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "m1"}]}),
        "the queue retries"
    );
    assert!(inbox.stages().is_empty());
    // Within a minute the claim is presumed alive: nothing is sent, and no second incident.
    clock.advance(30);
    app.handle(detect_batch(T0, T0 + 120)).await.unwrap();
    assert!(inbox.stages().is_empty());
    // Then the notice is published, once, under its id.
    clock.advance(31);
    app.handle(detect_batch(T0, T0 + 120)).await.unwrap();
    app.handle(schedule(T0 + 700)).await.unwrap();
    assert_eq!(
        inbox.stages(),
        [(Stage::Started, format!("{FLOODER}@{T0}#1"))]
    );
}

#[tokio::test]
async fn a_failed_confirmation_write_between_publish_and_done_is_retried_and_nothing_sent_twice() {
    let (store, inbox) = (MemoryStore::default(), Inbox::default());
    let clock = ManualClock::at(T0 + 600);
    let app = app(&store, &inbox, &clock);
    share(&store, "a.log.gz", "1", &object("eni-a", T0, 2, 500)).await;
    // The claim goes through; the first two confirmation writes fail.
    store.fail_writes_after("incident/", 1, 2);
    app.handle(detect_batch(T0, T0 + 120)).await.unwrap();
    clock.advance(120);
    app.handle(detect_batch(T0, T0 + 120)).await.unwrap();
    app.handle(schedule(T0 + 800)).await.unwrap();
    assert_eq!(inbox.stages().len(), 1, "{:?}", inbox.stages());
}

#[tokio::test]
async fn a_crash_between_the_claim_and_the_alert_is_healed_by_the_next_run() {
    let (store, inbox) = (MemoryStore::default(), Inbox::default());
    let clock = ManualClock::at(T0 + 600);
    share(&store, "a.log.gz", "1", &object("eni-a", T0, 2, 500)).await;
    // The run stops after its claim: a publish that never returns is a crash.
    inbox.failing.store(1, Ordering::SeqCst);
    let crashed = app(&store, &inbox, &clock);
    let _ = crashed.handle(json!({"detect": {"now": T0 + 600}})).await;
    assert!(store.names().iter().any(|n| n.starts_with("incident/")));
    // A fresh instance, the schedule five minutes later: the notice arrives, once.
    let healed = app(&store, &inbox, &clock);
    healed.handle(schedule(T0 + 900)).await.unwrap();
    healed.handle(schedule(T0 + 1200)).await.unwrap();
    assert_eq!(
        inbox.stages(),
        [(Stage::Started, format!("{FLOODER}@{T0}#1"))]
    );
}

#[tokio::test]
async fn a_flood_in_old_objects_is_reported_as_a_past_flood_started_and_ended_in_one_run() {
    let (store, inbox) = (MemoryStore::default(), Inbox::default());
    let now = T0 + 30 * 86_400;
    let clock = ManualClock::at(now);
    let app = app(&store, &inbox, &clock);
    share(&store, "old.log.gz", "1", &object("eni-a", T0, 3, 500)).await;
    // A live request in the same batch: each is judged over its own minutes.
    share(
        &store,
        "new.log.gz",
        "1",
        &object("eni-a", now - 600, 1, 20),
    )
    .await;
    let batch = json!({"Records": [
        {"messageId": "old", "eventSource": "aws:sqs",
         "body": json!({"from": T0, "until": T0 + 180, "object": "s3://flow-logs/old"}).to_string()},
        {"messageId": "new", "eventSource": "aws:sqs",
         "body": json!({"from": now - 600, "until": now - 540, "object": "s3://flow-logs/new"}).to_string()}]});
    app.handle(batch.clone()).await.unwrap();
    let docs = inbox.documents();
    let stages: Vec<Stage> = docs.iter().map(|d| d.stage).collect();
    assert_eq!(
        stages,
        [Stage::Started, Stage::Ended],
        "started and over in one run"
    );
    assert!(docs.iter().all(|d| d.origin.backfill));
    assert_eq!(docs[1].totals.minutes, 3);
    {
        let alerts = inbox.alerts.lock().unwrap();
        assert!(
            alerts[0].subject.starts_with("[PAST FLOOD STARTED]"),
            "{}",
            alerts[0].subject
        );
        assert!(
            alerts[1].subject.starts_with("[PAST FLOOD ENDED after 3m]"),
            "{}",
            alerts[1].subject
        );
    }
    // Redelivered, and the schedule: nothing more.
    app.handle(batch).await.unwrap();
    app.handle(schedule(now + 300)).await.unwrap();
    assert_eq!(inbox.stages().len(), 2, "{:?}", inbox.stages());
}

#[tokio::test]
async fn an_object_delivered_hours_late_whose_request_was_lost_is_judged_by_the_schedule() {
    let (store, inbox) = (MemoryStore::default(), Inbox::default());
    let now = T0 + 3 * 3600;
    let clock = ManualClock::at(now);
    let app = app(&store, &inbox, &clock);
    // Its summary is written, its detect request never arrives.
    share(&store, "late.log.gz", "1", &object("eni-a", T0, 2, 500)).await;
    app.handle(schedule(now)).await.unwrap();
    let docs = inbox.documents();
    assert_eq!(docs.len(), 1, "{:?}", inbox.stages());
    assert_eq!(
        (docs[0].stage, docs[0].origin.backfill),
        (Stage::Started, false)
    );
}

#[tokio::test]
async fn notices_name_the_account_and_region_of_the_flow_logs_judged() {
    let (store, inbox) = (MemoryStore::default(), Inbox::default());
    let clock = ManualClock::at(T0 + 600);
    let app = app(&store, &inbox, &clock);
    let key = "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2023/11/14/a.log.gz";
    share(&store, key, "1", &object("eni-a", T0, 2, 500)).await;
    app.handle(schedule(T0 + 600)).await.unwrap();
    let doc = &inbox.documents()[0];
    assert_eq!(doc.origin.account_id.as_deref(), Some("123456789012"));
    assert_eq!(doc.origin.region.as_deref(), Some("eu-west-1"));
}

#[tokio::test]
async fn ordinary_traffic_sends_nothing_and_leaves_no_incident() {
    let (store, inbox) = (MemoryStore::default(), Inbox::default());
    let clock = ManualClock::at(T0 + 600);
    let app = app(&store, &inbox, &clock);
    share(&store, "a.log.gz", "1", &object("eni-a", T0, 3, 20)).await;
    let report = app
        .handle(json!({"detect": {"now": T0 + 600, "from": T0}}))
        .await
        .unwrap();
    assert_eq!(report["floods"], 0);
    assert!(inbox.stages().is_empty());
    assert!(store.names().iter().all(|n| !n.starts_with("incident/")));
}
