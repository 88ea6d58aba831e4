//! The handler: decode the event, read each object, detect floods, alert once per cooldown.

use std::time::{SystemTime, UNIX_EPOCH};

use flowlog_core::Finding;
use flowlog_events::ObjectRef;
use flowlog_lambda::{ObjectError, S3Objects, S3StateStore, StoreError, aggregate_object};
use serde_json::Value;

use crate::config::Config;
use crate::cooldown::{Cooldown, Decision};
use crate::message::{AlertContext, build_alert};
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
    #[error("{object}: alert for {source_ip} not published: {error}")]
    Publish {
        /// The object.
        object: String,
        /// The flooding source.
        source_ip: String,
        /// Why.
        error: PublishError,
    },
    /// Another invocation is publishing an alert for this source right now; retry later.
    #[error(
        "{object}: an alert for {source_ip} is being published by another invocation; retry later"
    )]
    Busy {
        /// The object.
        object: String,
        /// The flooding source.
        source_ip: String,
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
        let findings = flowlog_core::detect(&scan.visitor, &self.config.rules);
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
        for finding in &findings {
            match self.alert(finding, &context).await {
                Ok(true) => alerted += 1,
                Ok(false) => suppressed += 1,
                // Keep going: the other sources' alerts must not wait for this one's retry.
                Err(e) => {
                    tracing::error!(object = %url, source_ip = %finding.source, error = %e, "alert failed");
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
            floods = findings.len(),
            alerted,
            suppressed,
            duration_ms = scan.elapsed.as_millis() as u64,
            "object checked"
        );
        first_error.map_or(Ok(()), Err)
    }

    /// Alerts about one finding unless its source is in cooldown; true when published.
    async fn alert(&self, finding: &Finding, context: &AlertContext) -> Result<bool, ProcessError> {
        let source_ip = finding.source.to_string();
        let decision = self
            .cooldown
            .claim(
                finding.source,
                finding.window_start,
                &context.object,
                unix_now(),
            )
            .await?;
        let claim = match decision {
            Decision::Alert(claim) => claim,
            Decision::Suppressed { alerted_window } => {
                tracing::info!(
                    source_ip,
                    window_start = finding.window_start,
                    alerted_window,
                    "in cooldown: not alerted again"
                );
                return Ok(false);
            }
            Decision::Busy => {
                return Err(ProcessError::Busy {
                    object: context.object.clone(),
                    source_ip,
                });
            }
        };
        let alert = build_alert(finding, context);
        if let Err(error) = self.sink.publish(&alert).await {
            self.cooldown.abandon(&claim).await?;
            return Err(ProcessError::Publish {
                object: context.object.clone(),
                source_ip,
                error,
            });
        }
        self.cooldown.sent(&claim).await?;
        tracing::warn!(source_ip, rule = finding.rule, severity = finding.severity.as_str(), flows = finding.flows, subject = %alert.subject, "flood alert published");
        Ok(true)
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
