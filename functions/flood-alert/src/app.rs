//! The handler: decode the event, read each object, detect floods, alert once per cooldown.

use std::time::{SystemTime, UNIX_EPOCH};

use flowlog_events::ObjectRef;
use flowlog_lambda::{ObjectError, S3Objects, S3StateStore, StoreError, aggregate_object};
use serde_json::Value;

use crate::alert::{AlertContext, Flood, build_alert};
use crate::config::Config;
use crate::cooldown::{Cooldown, Decision};
use crate::sns::{AlertSink, PublishError};

/// Why an object's alerts were not all settled.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The object could not be read.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// The alert state could not be read or written.
    #[error("alert state: {0}")]
    State(#[from] StoreError),
    /// An alert could not be published (its claim was released for the retry).
    #[error("{object}: alert for {subject} not published: {error}")]
    Publish {
        /// The object.
        object: String,
        /// Who the alert is about (a source, or `target-` and an address).
        subject: String,
        /// Why.
        error: PublishError,
    },
    /// Another invocation is publishing an alert about this subject right now; retry later.
    #[error(
        "{object}: an alert for {subject} is being published by another invocation; retry later"
    )]
    Busy {
        /// The object.
        object: String,
        /// Who the alert is about.
        subject: String,
    },
}

/// The function: where objects come from, the cooldown state, and a sink for alerts.
pub struct App<S> {
    objects: S3Objects,
    sink: S,
    cooldown: Cooldown,
    config: Config,
}

impl<S: AlertSink + Sync> App<S> {
    /// The function with its clients and settings.
    pub fn new(s3: aws_sdk_s3::Client, sink: S, config: Config) -> Self {
        let store = S3StateStore::new(
            s3.clone(),
            config.state_bucket.clone(),
            &config.state_prefix,
        );
        let cooldown = Cooldown::new(store, config.cooldown_secs);
        App {
            objects: S3Objects::new(s3),
            sink,
            cooldown,
            config,
        }
    }

    /// Handles one invocation: any accepted event shape; SQS batches get a partial batch
    /// response, other shapes fail the invocation if any object failed. `deadline` is when
    /// the runtime stops the invocation (unknown in local tests).
    pub async fn handle(
        &self,
        payload: Value,
        deadline: Option<SystemTime>,
    ) -> Result<Value, lambda_runtime::Error> {
        // Boxed: the object pipeline's future is deep enough to strain type layout otherwise.
        flowlog_events::handle(payload, &self.config.read.scope, |object| {
            Box::pin(async move { self.alert_object(&object, deadline).await })
        })
        .await
    }

    async fn alert_object(
        &self,
        object: &ObjectRef,
        deadline: Option<SystemTime>,
    ) -> Result<(), ProcessError> {
        let scan = aggregate_object(&self.objects, object, &self.config.read, deadline).await?;
        let url = scan.meta.url();
        let detection = flowlog_core::detect(&scan.visitor, &self.config.rules);
        let (account_id, region) = object.flow_log_origin().unzip();
        let context = AlertContext {
            object: url.clone(),
            vpc_id: None,
            account_id,
            region,
            fifo: self.config.fifo(),
            detected_at: unix_now(),
        };
        let (mut alerted, mut suppressed) = (0, 0);
        let mut first_error = None;
        let floods = detection.floods.iter().map(Flood::Source);
        let targets = detection.targets.iter().map(Flood::Target);
        for flood in floods.chain(targets) {
            match self.alert(flood, &context).await {
                Ok(true) => alerted += 1,
                Ok(false) => suppressed += 1,
                // Keep going: the other alerts must not wait for this one's retry.
                Err(e) => {
                    tracing::error!(object = %url, subject = %flood.key(), error = %e, "alert failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        let report = &scan.report;
        tracing::info!(
            object = %url,
            records = report.records,
            skipped = report.skipped.total(),
            skipdata = report.log_status.skipdata,
            sources = scan.visitor.source_count(),
            untracked_flows = scan.visitor.untracked_flows(),
            windows_dropped = scan.visitor.windows_dropped(),
            floods = detection.floods.len(),
            targets = detection.targets.len(),
            alerted,
            suppressed,
            duration_ms = scan.elapsed.as_millis() as u64,
            "object checked"
        );
        first_error.map_or(Ok(()), Err)
    }

    /// Alerts about one flood unless its subject is in cooldown; true when published.
    async fn alert(&self, flood: Flood<'_>, context: &AlertContext) -> Result<bool, ProcessError> {
        let subject = flood.key();
        let window_start = flood.window_start();
        let decision = self
            .cooldown
            .claim(&subject, window_start, &context.object, unix_now())
            .await?;
        let claim = match decision {
            Decision::Alert(claim) => claim,
            Decision::Suppressed { alerted_window } => {
                tracing::info!(
                    subject,
                    window_start,
                    alerted_window,
                    "in cooldown: not alerted again"
                );
                return Ok(false);
            }
            Decision::Busy => {
                return Err(ProcessError::Busy {
                    object: context.object.clone(),
                    subject,
                });
            }
        };
        let alert = build_alert(flood, context);
        if let Err(error) = self.sink.publish(&alert).await {
            self.cooldown.abandon(&claim).await?;
            return Err(ProcessError::Publish {
                object: context.object.clone(),
                subject,
                error,
            });
        }
        self.cooldown.sent(&claim).await?;
        tracing::warn!(
            subject,
            rule = flood.rule().as_str(),
            severity = flood.severity().as_str(),
            alert = %alert.subject,
            "flood alert published"
        );
        Ok(true)
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
