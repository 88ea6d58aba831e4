//! The handler: decode the event, read each object into the core, publish its metrics.

use std::time::{SystemTime, UNIX_EPOCH};

use flowlog_core::Aggregator;
use flowlog_events::ObjectRef;
use flowlog_lambda::{ObjectError, scan_object};
use serde_json::Value;

use crate::cloudwatch::{MetricsSink, PublishError};
use crate::config::Config;
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
    /// A request failed after retries; earlier batches of the object were published.
    #[error(
        "{object}: batch {batch} of {batches} failed ({published} published before it): {source}"
    )]
    Publish {
        /// The object.
        object: String,
        /// 1-based index of the failed batch.
        batch: usize,
        /// Batches of the object.
        batches: usize,
        /// Batches published before the failure.
        published: usize,
        /// Why.
        #[source]
        source: PublishError,
    },
}

/// The function: an S3 client to read objects and a sink for the metrics, built once.
pub struct App<S> {
    s3: aws_sdk_s3::Client,
    sink: S,
    config: Config,
}

impl<S: MetricsSink + Sync> App<S> {
    /// The function with its clients and settings.
    pub fn new(s3: aws_sdk_s3::Client, sink: S, config: Config) -> Self {
        App { s3, sink, config }
    }

    /// Handles one invocation: any accepted event shape; SQS batches get a partial batch
    /// response, other shapes fail the invocation if any object failed.
    pub async fn handle(&self, payload: Value) -> Result<Value, lambda_runtime::Error> {
        let trigger = flowlog_events::decode(payload)?;
        // Boxed: the object pipeline's future is deep enough to strain type layout otherwise.
        Ok(flowlog_events::dispatch(trigger, |object| Box::pin(self.process(object))).await?)
    }

    /// Reads one object and publishes its metrics; logs one summary line.
    pub async fn process(&self, object: ObjectRef) -> Result<(), ProcessError> {
        let url = format!("s3://{}/{}", object.bucket, object.key);
        let result = self.publish_object(&object).await;
        if let Err(error) = &result {
            tracing::error!(object = %url, error = %error, retryable = retryable(error), "object failed");
        }
        result
    }

    async fn publish_object(&self, object: &ObjectRef) -> Result<(), ProcessError> {
        let aggregator = Aggregator::new(self.config.read.aggregate);
        let scan = scan_object(&self.s3, object, &self.config.read.scan, aggregator).await?;
        let url = scan.meta.url();
        let aggregator = &scan.visitor;
        let now = unix_now();
        let lag = match (scan.meta.last_modified, aggregator.latest_end()) {
            (Some(arrived), Some(newest)) => Some((arrived - newest) as f64),
            _ => None,
        };
        let traffic = metrics::traffic_datums(aggregator, self.config.top_n, now);
        let mut datums = traffic.datums;
        datums.extend(metrics::telemetry_datums(
            &scan.report,
            aggregator,
            lag,
            now,
        ));
        let datum_count = datums.len();
        let batches = metrics::batches(&self.config.namespace, datums).map_err(|source| {
            ProcessError::Batch {
                object: url.clone(),
                source,
            }
        })?;
        if traffic.stale_windows + traffic.future_windows > 0 {
            tracing::warn!(
                object = %url,
                stale_windows = traffic.stale_windows,
                future_windows = traffic.future_windows,
                "windows outside CloudWatch's accepted time range (14 days back, 2 hours ahead) were not published"
            );
        }
        for (i, batch) in batches.iter().enumerate() {
            self.sink
                .put(&self.config.namespace, batch)
                .await
                .map_err(|source| ProcessError::Publish {
                    object: url.clone(),
                    batch: i + 1,
                    batches: batches.len(),
                    published: i,
                    source,
                })?;
        }
        let report = &scan.report;
        tracing::info!(
            object = %url,
            records = report.records,
            skipped = report.skipped.total(),
            nodata = report.log_status.nodata,
            skipdata = report.log_status.skipdata,
            sources = aggregator.source_count(),
            untracked_flows = aggregator.untracked_flows(),
            top_sources = traffic.top_sources.len(),
            datums = datum_count,
            requests = batches.len(),
            lag_seconds = lag,
            duration_ms = scan.elapsed.as_millis() as u64,
            "object published"
        );
        Ok(())
    }
}

fn retryable(error: &ProcessError) -> bool {
    match error {
        ProcessError::Object(e) => e.is_retryable(),
        ProcessError::Batch { .. } => false,
        ProcessError::Publish { .. } => true,
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
