//! The handler: decode the event, read each object into the core, publish its metrics.

use std::time::SystemTime;

use flowlog_events::ObjectRef;
use flowlog_lambda::{
    Clock, ObjectError, ObjectSource, S3Objects, S3StateStore, StateStore, SystemClock,
    aggregate_object,
};
use serde_json::Value;

use crate::cloudwatch::MetricsSink;
use crate::config::Config;
use crate::ledger::{Ledger, LedgerError, Published, publish_at_least_once};
use crate::metrics::{self, BatchError};

/// Why an object's metrics were not (all) published.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The object could not be read.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// A datum can never be published (nothing of the object was).
    #[error("{object}: metrics refused before publishing: {source}")]
    Batch {
        /// The object.
        object: String,
        /// Why.
        #[source]
        source: BatchError,
    },
    /// Publishing stopped (a failed request, the ledger, another invocation holding the
    /// object); the retry publishes what is missing.
    #[error("{object}: {source}")]
    Publish {
        /// The object.
        object: String,
        /// Why.
        #[source]
        source: LedgerError,
    },
}

/// The function: where objects come from, a sink for the metrics and the publish ledger
/// (S3 for both in the function, fakes in tests), built once.
pub struct App<S, O = S3Objects, T = S3StateStore> {
    objects: O,
    sink: S,
    ledger: Option<Ledger<T>>,
    config: Config,
}

impl<S: MetricsSink + Sync> App<S> {
    /// The function reading objects from S3, with its ledger in S3 when the config names one.
    pub fn new(s3: aws_sdk_s3::Client, sink: S, config: Config) -> Self {
        let ledger = config.ledger.as_ref().map(|(bucket, prefix)| {
            Ledger::new(
                S3StateStore::new(s3.clone(), bucket.clone(), prefix),
                SystemClock,
            )
        });
        App::from_parts(S3Objects::new(s3), sink, ledger, config)
    }
}

impl<S: MetricsSink + Sync, O: ObjectSource, T: StateStore> App<S, O, T> {
    /// The function on any ports; without a `ledger` redeliveries are published again
    /// (`config.ledger` is not used).
    pub fn from_parts(objects: O, sink: S, ledger: Option<Ledger<T>>, config: Config) -> Self {
        App {
            objects,
            sink,
            ledger,
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
            Box::pin(async move { self.publish_object(&object, deadline).await })
        })
        .await
    }

    async fn publish_object(
        &self,
        object: &ObjectRef,
        deadline: Option<SystemTime>,
    ) -> Result<(), ProcessError> {
        let event_url = || format!("s3://{}/{}", object.bucket, object.key);
        if let (Some(ledger), Some(etag)) = (&self.ledger, &object.etag)
            && ledger
                .is_complete(&object.bucket, &object.key, etag)
                .await
                .map_err(|e| ProcessError::Publish {
                    object: event_url(),
                    source: e.into(),
                })?
        {
            tracing::info!(object = %event_url(), "already published: redelivery skipped");
            return Ok(());
        }
        let scan = aggregate_object(&self.objects, object, &self.config.read, deadline).await?;
        let url = scan.meta.url();
        let aggregator = &scan.visitor;
        // Everything published derives from the object alone, so that a retry, whenever it
        // runs, builds the same batches. S3 always sends Last-Modified.
        let arrival = scan.meta.last_modified.unwrap_or_else(|| SystemClock.now());
        let lag = match (scan.meta.last_modified, aggregator.latest_end()) {
            (Some(arrived), Some(newest)) => Some((arrived - newest) as f64),
            _ => None,
        };
        let traffic = metrics::traffic_datums(aggregator, self.config.top_n, arrival);
        let mut datums = traffic.datums;
        datums.extend(metrics::telemetry_datums(
            &scan.report,
            aggregator,
            lag,
            arrival,
        ));
        let datum_count = datums.len();
        let namespace = &self.config.namespace;
        let batches =
            metrics::batches(namespace, datums).map_err(|source| ProcessError::Batch {
                object: url.clone(),
                source,
            })?;
        if traffic.stale_windows + traffic.future_windows > 0 {
            tracing::warn!(
                object = %url,
                stale_windows = traffic.stale_windows,
                future_windows = traffic.future_windows,
                "windows outside CloudWatch's accepted time range (14 days back, 2 hours ahead) were not published"
            );
        }
        let published = match &self.ledger {
            Some(ledger) => {
                ledger
                    .publish(&scan.meta, &self.sink, namespace, &batches)
                    .await
            }
            None => publish_at_least_once(&self.sink, namespace, &batches).await,
        };
        let (sent, already) = match published {
            Ok(Published::Sent { sent, already }) => (sent, already),
            Ok(Published::AlreadyComplete) => {
                tracing::info!(object = %url, "already published: redelivery skipped");
                return Ok(());
            }
            Err(source) => {
                return Err(ProcessError::Publish {
                    object: url,
                    source,
                });
            }
        };
        let report = &scan.report;
        tracing::info!(
            object = %url,
            records = report.records,
            skipped = report.skipped.total(),
            nodata = report.log_status.nodata,
            skipdata = report.log_status.skipdata,
            sources = aggregator.source_count(),
            untracked_flows = aggregator.untracked_flows(),
            windows_dropped = aggregator.windows_dropped(),
            top_sources = traffic.top_sources.len(),
            datums = datum_count,
            requests = sent,
            already_published = already,
            lag_seconds = lag,
            duration_ms = scan.elapsed.as_millis() as u64,
            "object published"
        );
        Ok(())
    }
}
