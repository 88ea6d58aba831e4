//! The handler: decode the invocation, move each affected registry entry one step at a time
//! (record, change the network, record, report, mark), and sweep what is overdue on schedule.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use flowlog_core::IpNet;
use flowlog_events::partial_batch_response;
use flowlog_incidents::{AlertDocument, FloodFinding, Stage};
use flowlog_lambda::{Clock, Created, Replaced, StateStore, StoreError};
use serde_json::{Value, json};

use crate::event::{self, DecodeError, Work};
use crate::firewall::{Firewall, FirewallError, Outcome, Removal};
use crate::guard::{Guard, network};
use crate::registry::{Entry, Registry, Start, Step};
use crate::report::{self, Action, Context};
use crate::sns::{PublishError, ReportSink};

/// The state table partition (record directory) of the block registries.
pub const REGISTRY_DIRECTORY: &str = "flood-response";

/// The registry records live this long after their last write (the table's TTL). Every block
/// is released within `MAX_BLOCK_SECS` (at most 7 days), which writes the record.
pub const REGISTRY_RETENTION_SECS: i64 = 30 * 86_400;

/// Compare-and-swap attempts on the registry before the invocation gives up (and is retried).
const CAS_ATTEMPTS: u32 = 8;

/// Steps one sweep takes at most (each entry needs at most three).
const MAX_SWEEP_STEPS: usize = 3 * 10_000 + 10;

/// Why a notice or a sweep did not complete; the invocation fails and is retried, then
/// dead-lettered.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// The registry could not be read or written.
    #[error("block registry: {0}")]
    State(#[from] StoreError),
    /// The registry record is not one this build reads.
    #[error("block registry {location} is unreadable ({error}): fix or delete it by hand")]
    Corrupt {
        /// Where it is.
        location: String,
        /// Why.
        error: String,
    },
    /// Other invocations kept changing the registry.
    #[error(
        "block registry {location}: changed by others under {CAS_ATTEMPTS} writes; retried later"
    )]
    Contended {
        /// Where it is.
        location: String,
    },
    /// The network change failed.
    #[error(transparent)]
    Firewall(#[from] FirewallError),
    /// A report could not be published (its claim was given up for the retry).
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// Another phase of the same network is in progress.
    #[error("{network}: {why}; retried later")]
    Busy {
        /// The network.
        network: IpNet,
        /// What is in the way.
        why: &'static str,
    },
    /// The payload can never be handled.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// What the function was told to do besides where (the firewall) and with what.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Who may be blocked.
    pub guard: Guard,
    /// Change nothing.
    pub dry_run: bool,
    /// At most this many sources blocked.
    pub max_entries: usize,
    /// Longest block.
    pub max_block_secs: i64,
    /// The report topic is FIFO.
    pub fifo: bool,
}

/// Counts for the invocation's summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Notices read.
    pub notices: usize,
    /// Notices that asked for nothing (policy, stage, other documents).
    pub skipped: usize,
    /// Blocks made (or, dry, planned).
    pub blocked: usize,
    /// Releases made.
    pub released: usize,
    /// Blocks refused (cap, firewall).
    pub refused: usize,
    /// Reports published.
    pub reports: usize,
    /// Work that failed.
    pub failed: usize,
}

/// The function over its ports.
pub struct App<F, S, R, C> {
    firewall: F,
    store: S,
    reports: R,
    clock: C,
    policy: Policy,
    registry: String,
}

impl<F: Firewall, S: StateStore, R: ReportSink, C: Clock> App<F, S, R, C> {
    /// The function. The registry is named after the firewall's target, and apart for dry
    /// runs, so neither a dry run nor a change of IP set or ACL ever mixes with live blocks.
    pub fn new(firewall: F, store: S, reports: R, clock: C, policy: Policy) -> Self {
        let dry = if policy.dry_run { "dry-run-" } else { "" };
        let registry = format!("{REGISTRY_DIRECTORY}/{dry}blocks-{}", firewall.target());
        App {
            firewall,
            store,
            reports,
            clock,
            policy,
            registry,
        }
    }

    /// The registry's record name.
    pub fn registry_name(&self) -> &str {
        &self.registry
    }

    /// Handles one invocation. SQS batches (the redrive queue) get a partial batch response;
    /// other shapes fail the invocation when any work failed, so Lambda retries it.
    pub async fn handle(&self, payload: Value) -> Result<Value, lambda_runtime::Error> {
        let mut tally = Tally::default();
        let result = match event::sqs_messages(&payload) {
            Some(messages) => {
                let mut failures = Vec::new();
                for (id, body) in messages {
                    let outcome = match event::decode_body(&body) {
                        Ok(work) => self.run_all(work, &mut tally).await,
                        Err(e) => {
                            tally.failed += 1;
                            Err(e.into())
                        }
                    };
                    if let Err(e) = outcome {
                        tracing::error!(message_id = %id, error = %e, "redriven message failed");
                        failures.push(id);
                    }
                }
                Ok(partial_batch_response(failures))
            }
            None => match event::decode(&payload) {
                Ok(work) => self
                    .run_all(work, &mut tally)
                    .await
                    .map(|()| json!(summary(&tally))),
                Err(e) => {
                    tally.failed += 1;
                    Err(ResponseError::from(e))
                }
            },
        };
        tracing::info!(
            response = self.firewall.kind(),
            dry_run = self.policy.dry_run,
            notices = tally.notices,
            skipped = tally.skipped,
            blocked = tally.blocked,
            released = tally.released,
            refused = tally.refused,
            reports = tally.reports,
            failed = tally.failed,
            "invocation done"
        );
        result.map_err(|e| Box::new(e) as lambda_runtime::Error)
    }

    /// Runs every item, keeps going past failures, returns the first.
    async fn run_all(&self, work: Vec<Work>, tally: &mut Tally) -> Result<(), ResponseError> {
        let mut first = None;
        for item in work {
            let outcome = match item {
                Work::Notice(doc) => {
                    tally.notices += 1;
                    self.notice(&doc, tally).await
                }
                Work::Sweep => self.sweep(tally).await,
                Work::Ignored(what) => {
                    tally.skipped += 1;
                    tracing::info!(what, "not a flood notice: ignored");
                    Ok(())
                }
            };
            if let Err(e) = outcome {
                tally.failed += 1;
                tracing::error!(error = %e, "response failed");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    async fn notice(&self, doc: &AlertDocument, tally: &mut Tally) -> Result<(), ResponseError> {
        let step = match doc.stage {
            Stage::Started => {
                let network = match self.policy.guard.admit(doc) {
                    Ok(network) => network,
                    Err(skip) => {
                        tally.skipped += 1;
                        tracing::info!(alert_id = %doc.alert_id, reason = %skip, "not blocked");
                        return Ok(());
                    }
                };
                let start = Start {
                    network,
                    incident_id: doc.incident_id.clone(),
                    alert_id: doc.alert_id.clone(),
                    severity: doc.finding.severity(),
                };
                let (max, secs) = (self.policy.max_entries, self.policy.max_block_secs);
                self.update(|r| r.start(&start, self.clock.now(), max, secs))
                    .await?
            }
            Stage::Ended => {
                let FloodFinding::Source(finding) = &doc.finding else {
                    tally.skipped += 1;
                    return Ok(());
                };
                let network = network(finding.source);
                self.update(|r| r.end(network, &doc.incident_id, &doc.alert_id))
                    .await?
            }
            Stage::Ongoing => {
                tally.skipped += 1;
                return Ok(());
            }
        };
        self.drive(step, tally).await
    }

    /// Releases what is overdue, completes stalled releases and publishes abandoned reports; an
    /// entry that fails is left for the next sweep and the others still go.
    async fn sweep(&self, tally: &mut Tally) -> Result<(), ResponseError> {
        let mut failed: BTreeSet<String> = BTreeSet::new();
        let mut first = None;
        for _ in 0..MAX_SWEEP_STEPS {
            let now = self.clock.now();
            let Some(step) = self.update(|r| r.sweep(now, &failed)).await? else {
                break;
            };
            let key = match &step {
                Step::Block(e) | Step::Release(e) | Step::Report(e) => e.network.to_string(),
                Step::Nothing(_) | Step::Busy { .. } => break,
            };
            if let Err(e) = self.drive(step, tally).await {
                tracing::error!(network = %key, error = %e, "overdue entry not settled");
                failed.insert(key);
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Takes `step` and the steps that follow from it to the end: a block or release made and
    /// recorded, and its report published and marked.
    async fn drive(&self, mut step: Step, tally: &mut Tally) -> Result<(), ResponseError> {
        let mut already = false;
        loop {
            step = match step {
                Step::Block(entry) => {
                    let net = entry.network;
                    let outcome = if self.policy.dry_run {
                        self.firewall.plan(net).await?
                    } else {
                        self.firewall.block(net).await?
                    };
                    match outcome {
                        Outcome::Placed {
                            rule_number,
                            already: was,
                        } => {
                            already = was;
                            tally.blocked += 1;
                            self.update(|r| r.blocked(net, rule_number, self.clock.now()))
                                .await?
                        }
                        Outcome::Refused(why) => {
                            self.update(|r| r.refused(net, why.clone(), self.clock.now()))
                                .await?
                        }
                    }
                }
                Step::Release(entry) => {
                    let net = entry.network;
                    if !self.policy.dry_run {
                        let removal = self.firewall.release(net, entry.rule_number).await?;
                        already = removal == Removal::AlreadyGone;
                    }
                    tally.released += 1;
                    self.update(|r| r.released(net, self.clock.now())).await?
                }
                Step::Report(entry) => return self.report(&entry, already, tally).await,
                Step::Nothing(why) => {
                    tracing::info!(why, "nothing to do");
                    return Ok(());
                }
                Step::Busy { network, why } => return Err(ResponseError::Busy { network, why }),
            };
        }
    }

    async fn report(
        &self,
        entry: &Entry,
        already: bool,
        tally: &mut Tally,
    ) -> Result<(), ResponseError> {
        let location = self.firewall.locate(entry.network, entry.rule_number);
        let ctx = Context {
            location,
            response: self.firewall.kind(),
            dry_run: self.policy.dry_run,
            already,
            at: self.clock.now(),
            fifo: self.policy.fifo,
        };
        let message = report::build(entry, &ctx);
        if let Err(e) = self.reports.publish(&message).await {
            self.update(|r| r.abandon(entry)).await?;
            return Err(e.into());
        }
        tally.reports += 1;
        self.update(|r| r.reported(entry)).await?;
        let action = Action::of(entry);
        if action == Action::NotBlocked {
            tally.refused += 1;
        }
        let undo = report::command(&ctx.location, entry.network, action != Action::Blocked);
        tracing::warn!(
            action = action.as_str(),
            network = %entry.network,
            incident_id = %entry.incident_id,
            alert_id = %entry.alert_id,
            response = ctx.response,
            dry_run = ctx.dry_run,
            already,
            rule_number = entry.rule_number,
            expires_at = entry.expires_at,
            refusal = entry.refusal.as_deref(),
            hand = %undo,
            subject = %message.subject,
            "response reported"
        );
        Ok(())
    }

    /// Reads the registry, applies `change` and writes it back if it changed, again while
    /// another invocation wrote in between.
    async fn update<T>(&self, change: impl Fn(&mut Registry) -> T) -> Result<T, ResponseError> {
        for attempt in 0..CAS_ATTEMPTS {
            if attempt > 0 {
                let ceiling = 20u64 << attempt.min(6);
                let wait = RandomState::new().hash_one(attempt) % ceiling;
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            let stored = self.store.get(&self.registry).await?;
            let (mut registry, version) = match stored {
                None => (Registry::default(), None),
                Some(s) => {
                    let registry =
                        Registry::from_json(&s.body).map_err(|e| ResponseError::Corrupt {
                            location: self.store.locate(&self.registry),
                            error: e.to_string(),
                        })?;
                    (registry, Some(s.version))
                }
            };
            let before = registry.clone();
            let out = change(&mut registry);
            if registry == before {
                return Ok(out);
            }
            let written = match version {
                None => matches!(
                    self.store
                        .create(&self.registry, registry.to_json())
                        .await?,
                    Created::Created(_)
                ),
                Some(v) => matches!(
                    self.store
                        .replace(&self.registry, &v, registry.to_json())
                        .await?,
                    Replaced::Replaced(_)
                ),
            };
            if written {
                return Ok(out);
            }
        }
        Err(ResponseError::Contended {
            location: self.store.locate(&self.registry),
        })
    }
}

fn summary(t: &Tally) -> Value {
    json!({
        "notices": t.notices, "skipped": t.skipped, "blocked": t.blocked, "released": t.released,
        "refused": t.refused, "reports": t.reports,
    })
}

#[cfg(test)]
mod tests {
    use flowlog_core::Severity;
    use flowlog_lambda::fakes::{ManualClock, MemoryStore};

    use super::*;
    use crate::config::NaclSettings;
    use crate::fakes::{MemoryAcls, MemoryReports};
    use crate::firewall::nacl::{AclEntry, NaclFirewall};
    use crate::testing::{ended, started, target_started};

    const T0: i64 = 1_764_000_400;

    struct Fixture {
        acls: MemoryAcls,
        store: MemoryStore,
        reports: MemoryReports,
        clock: ManualClock,
    }

    type TestApp = App<NaclFirewall<MemoryAcls>, MemoryStore, MemoryReports, ManualClock>;

    impl Fixture {
        fn new() -> Fixture {
            let allow_all = AclEntry {
                rule_number: 100,
                egress: false,
                allow: true,
                cidr: Some("0.0.0.0/0".parse().unwrap()),
            };
            Fixture {
                acls: MemoryAcls::with("acl-1", vec![allow_all]),
                store: MemoryStore::default(),
                reports: MemoryReports::default(),
                clock: ManualClock::at(T0),
            }
        }

        fn app(&self, dry_run: bool, max_entries: usize) -> TestApp {
            let settings = NaclSettings {
                acl_id: "acl-1".into(),
                rules: 1..=99,
            };
            let policy = Policy {
                guard: Guard::new(
                    Severity::High,
                    vec!["198.51.100.0/24".parse().unwrap()],
                    Vec::new(),
                ),
                dry_run,
                max_entries,
                max_block_secs: 3600,
                fifo: false,
            };
            App::new(
                NaclFirewall::new(self.acls.clone(), settings, "us-east-1"),
                self.store.clone(),
                self.reports.clone(),
                self.clock.clone(),
                policy,
            )
        }

        /// `(action, network, dry_run)` of every report.
        fn reported(&self) -> Vec<(String, String, String)> {
            self.reports
                .messages()
                .iter()
                .map(|m| {
                    let get = |name: &str| {
                        m.attributes
                            .iter()
                            .find(|(n, _)| *n == name)
                            .map(|(_, v)| v.clone())
                            .unwrap()
                    };
                    (get("action"), get("source_ip"), get("dry_run"))
                })
                .collect()
        }
    }

    fn sns(doc: &AlertDocument) -> Value {
        json!({"Records": [{"EventSource": "aws:sns",
            "Sns": {"Message": serde_json::to_string(doc).unwrap(), "MessageAttributes": {}}}]})
    }

    /// Delivers `doc` to `app` by SNS; the invocation must succeed.
    async fn deliver(app: &TestApp, doc: &AlertDocument) -> Value {
        app.handle(sns(doc)).await.unwrap()
    }

    fn schedule() -> Value {
        json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})
    }

    fn row(action: &str, net: &str, dry: bool) -> (String, String, String) {
        (action.into(), net.into(), dry.to_string())
    }

    #[tokio::test]
    async fn a_started_notice_blocks_once_and_a_redelivery_blocks_nothing_twice() {
        let fx = Fixture::new();
        let app = fx.app(false, 100);
        let doc = started("203.0.113.7", Severity::High);
        deliver(&app, &doc).await;
        deliver(&app, &doc).await;
        assert_eq!(fx.acls.rules("acl-1"), [1, 100]);
        assert_eq!(fx.acls.creates(), 1);
        assert_eq!(fx.reported(), [row("BLOCKED", "203.0.113.7/32", false)]);
    }

    #[tokio::test]
    async fn an_ended_notice_releases_the_block_and_reports_it() {
        let fx = Fixture::new();
        let app = fx.app(false, 100);
        deliver(&app, &started("203.0.113.7", Severity::High)).await;
        fx.clock.advance(600);
        let out = deliver(&app, &ended("203.0.113.7")).await;
        assert_eq!(out["released"], 1);
        assert_eq!(fx.acls.rules("acl-1"), [100]);
        assert_eq!(
            fx.reported(),
            [
                row("BLOCKED", "203.0.113.7/32", false),
                row("RELEASED", "203.0.113.7/32", false)
            ]
        );
        assert!(fx.store.names().len() == 1, "{:?}", fx.store.names());
        // A redelivered ENDED finds nothing to release.
        deliver(&app, &ended("203.0.113.7")).await;
        assert_eq!(fx.reports.messages().len(), 2);
    }

    #[tokio::test]
    async fn a_dry_run_reports_what_it_would_do_and_changes_nothing() {
        let fx = Fixture::new();
        let app = fx.app(true, 100);
        deliver(&app, &started("203.0.113.7", Severity::High)).await;
        deliver(&app, &ended("203.0.113.7")).await;
        assert_eq!(fx.acls.rules("acl-1"), [100]);
        assert_eq!(fx.acls.creates() + fx.acls.deletes(), 0);
        assert_eq!(
            fx.reported(),
            [
                row("BLOCKED", "203.0.113.7/32", true),
                row("RELEASED", "203.0.113.7/32", true)
            ]
        );
        assert!(app.registry_name().starts_with("flood-response/dry-run-"));
    }

    #[tokio::test]
    async fn the_cap_blocks_nothing_more_and_says_so_once() {
        let fx = Fixture::new();
        let app = fx.app(false, 1);
        deliver(&app, &started("203.0.113.7", Severity::High)).await;
        let second = started("203.0.113.8", Severity::High);
        deliver(&app, &second).await;
        deliver(&app, &second).await;
        assert_eq!(fx.acls.rules("acl-1"), [1, 100]);
        assert_eq!(
            fx.reported(),
            [
                row("BLOCKED", "203.0.113.7/32", false),
                row("NOT_BLOCKED", "203.0.113.8/32", false)
            ]
        );
        let text = &fx.reports.messages()[1].message;
        assert!(text.contains("MAX_ENTRIES=1"), "{text}");
    }

    #[tokio::test]
    async fn allowlisted_special_use_and_target_notices_change_nothing() {
        let fx = Fixture::new();
        let app = fx.app(false, 100);
        for doc in [
            started("198.51.100.7", Severity::High),
            started("10.0.0.7", Severity::High),
            started("203.0.113.7", Severity::Medium),
            target_started("10.0.1.10"),
        ] {
            let out = deliver(&app, &doc).await;
            assert_eq!(out["skipped"], 1, "{out}");
        }
        assert_eq!(fx.acls.creates(), 0);
        assert!(fx.reports.messages().is_empty());
        assert!(fx.store.names().is_empty());
    }

    #[tokio::test]
    async fn a_crash_after_blocking_is_completed_by_the_retry_without_a_second_entry() {
        let fx = Fixture::new();
        let app = fx.app(false, 100);
        let doc = started("203.0.113.7", Severity::High);
        // The block was recorded by an attempt that died; the next one makes it, then
        // recording that fails (as if the function died there).
        let registry = app.registry_name().to_owned();
        app.update(|r| {
            r.start(
                &Start {
                    network: "203.0.113.7/32".parse().unwrap(),
                    incident_id: doc.incident_id.clone(),
                    alert_id: doc.alert_id.clone(),
                    severity: Severity::High,
                },
                T0,
                100,
                3600,
            )
        })
        .await
        .unwrap();
        fx.store.fail_writes(&registry, 1);
        assert!(app.handle(sns(&doc)).await.is_err());
        assert_eq!(fx.acls.rules("acl-1"), [1, 100]);
        // Lambda's retry adopts the entry already made and reports it once.
        deliver(&app, &doc).await;
        assert_eq!(fx.acls.creates(), 1);
        assert_eq!(fx.reported(), [row("BLOCKED", "203.0.113.7/32", false)]);
        let doc: Value = serde_json::from_str(&fx.reports.messages()[0].message).unwrap();
        assert!(doc["lambda"].as_str().unwrap().contains("\"already\":true"));
    }

    #[tokio::test]
    async fn a_failed_report_is_retried_and_sent_once() {
        let fx = Fixture::new();
        let app = fx.app(false, 100);
        let doc = started("203.0.113.7", Severity::High);
        fx.reports.fail_next(1);
        assert!(app.handle(sns(&doc)).await.is_err());
        assert!(fx.reports.messages().is_empty());
        deliver(&app, &doc).await;
        deliver(&app, &doc).await;
        assert_eq!(fx.reported(), [row("BLOCKED", "203.0.113.7/32", false)]);
        assert_eq!(fx.acls.creates(), 1);
    }

    #[tokio::test]
    async fn the_schedule_releases_blocks_past_the_maximum_time_and_leaves_the_others() {
        let fx = Fixture::new();
        let app = fx.app(false, 100);
        deliver(&app, &started("203.0.113.7", Severity::High)).await;
        fx.clock.advance(1800);
        deliver(&app, &started("203.0.113.8", Severity::High)).await;
        app.handle(schedule()).await.unwrap();
        assert_eq!(fx.acls.rules("acl-1"), [1, 2, 100]);
        fx.clock.advance(1800);
        let out = app.handle(schedule()).await.unwrap();
        assert_eq!(out["released"], 1);
        assert_eq!(fx.acls.rules("acl-1"), [2, 100]);
        let last = fx.reports.messages().pop().unwrap();
        assert!(
            last.message.contains("MAX_BLOCK_SECS passed"),
            "{}",
            last.message
        );
        // The ENDED of the released incident, arriving late, does nothing more.
        deliver(&app, &ended("203.0.113.7")).await;
        assert_eq!(fx.reports.messages().len(), 3);
    }

    #[tokio::test]
    async fn a_redriven_sqs_batch_reports_only_the_message_that_failed() {
        let fx = Fixture::new();
        let app = fx.app(false, 100);
        let record = |doc: &AlertDocument| json!({"requestPayload": sns(doc)}).to_string();
        let batch = json!({"Records": [
            {"eventSource": "aws:sqs", "messageId": "good", "body": record(&started("203.0.113.7", Severity::High))},
            {"eventSource": "aws:sqs", "messageId": "junk", "body": "not json"},
        ]});
        let out = app.handle(batch).await.unwrap();
        assert_eq!(
            out,
            json!({"batchItemFailures": [{"itemIdentifier": "junk"}]})
        );
        assert_eq!(fx.acls.rules("acl-1"), [1, 100]);
    }
}
