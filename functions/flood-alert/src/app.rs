//! The handler: decode what asked for a verdict, run the detector, report.

use flowlog_events::partial_batch_response;
use flowlog_incidents::Origin;
use flowlog_lambda::{Clock, DynamoStore, StateStore, SummaryLog, SystemClock};
use serde_json::Value;

use crate::config::Config;
use crate::detector::{Detector, Judging, Run};
use crate::sns::{AlertSink, SnsSink};
use crate::trigger;

/// How long an incident record is kept after its last write: an open incident is rewritten
/// as it changes and ends within [`flowlog_incidents::Policy::lookback_secs`] of its last
/// flagged minute; a day of ended ones (longer than the live window) keeps their minutes
/// from starting another.
const INCIDENT_RETENTION_SECS: i64 = 86_400;

/// The function: the detector on its store and sink, and a clock for runs the event does not
/// date.
pub struct App<S = DynamoStore, A = SnsSink> {
    detector: Detector<S, A>,
    clock: Box<dyn Clock>,
}

impl App {
    /// The function on AWS.
    pub fn new(
        dynamodb: aws_sdk_dynamodb::Client,
        sns: aws_sdk_sns::Client,
        config: Config,
    ) -> App {
        let store = DynamoStore::new(dynamodb, &config.state_table, INCIDENT_RETENTION_SECS);
        let sink = SnsSink::new(sns, config.topic_arn.clone());
        App::from_parts(store, sink, SystemClock, config)
    }
}

impl<S: StateStore + Clone, A: AlertSink + Sync> App<S, A> {
    /// The function on any ports (`config.state_table` and `config.topic_arn` are not used).
    pub fn from_parts(store: S, sink: A, clock: impl Clock + 'static, config: Config) -> Self {
        let judging = Judging {
            rules: config.rules.clone(),
            policy: config.policy,
            fifo: config.fifo(),
            origin: Origin {
                vpc_id: config.vpc_id.clone(),
                region: std::env::var("AWS_REGION").ok(),
                ..Origin::default()
            },
        };
        App {
            detector: Detector::new(SummaryLog::new(store.clone()), store, sink, judging),
            clock: Box::new(clock),
        }
    }

    /// Handles one invocation. A detect-queue batch gets a partial batch response (every
    /// message failed when the verdict failed, so the queue retries them); other triggers fail
    /// the invocation, and Lambda retries it.
    pub async fn handle(&self, payload: Value) -> Result<Value, lambda_runtime::Error> {
        let trigger = trigger::decode(&payload)?;
        let run = &Run {
            now: trigger.now.unwrap_or_else(|| self.clock.now()),
            ranges: trigger.ranges.clone(),
        };
        let started = std::time::Instant::now();
        // Boxed: the verdict's future is deep enough to strain type layout otherwise.
        let result = Box::pin(self.detector.run(run)).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let queued = !trigger.message_ids.is_empty();
        match result {
            Ok(report) => {
                tracing::info!(
                    trigger = trigger.source,
                    now = run.now,
                    requests = run.ranges.len(),
                    earliest = run.ranges.iter().map(|r| r.0).min(),
                    objects = report.objects,
                    unreadable = report.unreadable,
                    floods = report.floods,
                    targets = report.targets,
                    started = report.started,
                    ongoing = report.ongoing,
                    ended = report.ended,
                    republished = report.republished,
                    lost_races = report.lost_races,
                    busy = report.busy,
                    malformed = trigger.malformed,
                    duration_ms,
                    "verdict"
                );
                if queued {
                    Ok(partial_batch_response([]))
                } else {
                    Ok(serde_json::to_value(&report).expect("plain counts serialize"))
                }
            }
            Err(error) => {
                tracing::error!(trigger = trigger.source, now = run.now, error = %error, duration_ms, "verdict failed");
                if queued {
                    Ok(partial_batch_response(trigger.message_ids.iter().cloned()))
                } else {
                    Err(error.into())
                }
            }
        }
    }
}
