//! The handler: decode the event, read each object into the core, publish its metrics.

use std::time::{SystemTime, UNIX_EPOCH};

use flowlog_events::ObjectRef;
use flowlog_lambda::{MarkerError, MarkerStore, ObjectError, aggregate_object};
use serde_json::Value;

use crate::cloudwatch::{MetricsSink, PublishError};
use crate::config::Config;
use crate::ledger::{Ledger, Start};
use crate::metrics::{self, BatchError};

/// Lease length when the invocation's deadline is unknown (the longest Lambda timeout).
const DEFAULT_LEASE_SECS: i64 = 900;

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
    /// The publish ledger could not be read or written.
    #[error("publish ledger: {0}")]
    Ledger(#[from] MarkerError),
    /// Another invocation is publishing this object right now; retry later.
    #[error("{object}: another invocation holds the publish lease until {until}; retry later")]
    Busy {
        /// The object.
        object: String,
        /// When the other lease expires (Unix seconds).
        until: i64,
    },
}

/// The function: an S3 client to read objects and a sink for the metrics, built once.
pub struct App<S> {
    s3: aws_sdk_s3::Client,
    sink: S,
    ledger: Option<Ledger>,
    config: Config,
}

impl<S: MetricsSink + Sync> App<S> {
    /// The function with its clients and settings.
    pub fn new(s3: aws_sdk_s3::Client, sink: S, config: Config) -> Self {
        let ledger = config.ledger.as_ref().map(|(bucket, prefix)| {
            Ledger::new(MarkerStore::new(s3.clone(), bucket.clone(), prefix))
        });
        App {
            s3,
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
        flowlog_events::handle(payload, |object| {
            Box::pin(async move { self.publish_object(&object, deadline).await })
        })
        .await
    }

    async fn publish_object(
        &self,
        object: &ObjectRef,
        deadline: Option<SystemTime>,
    ) -> Result<(), ProcessError> {
        if let (Some(ledger), Some(etag)) = (&self.ledger, &object.etag)
            && ledger
                .is_complete(&object.bucket, &object.key, etag)
                .await?
        {
            tracing::info!(object = %format!("s3://{}/{}", object.bucket, object.key), "already published: redelivery skipped");
            return Ok(());
        }
        let scan = aggregate_object(&self.s3, object, &self.config.read, deadline).await?;
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
        let lease_until = deadline.map_or(now + DEFAULT_LEASE_SECS, |d| unix(d) + 10);
        let holder = format!("{}-{}", std::process::id(), now);
        let id = (
            scan.meta.bucket.as_str(),
            scan.meta.key.as_str(),
            scan.meta.etag.as_deref().unwrap_or(""),
        );
        let lease = match &self.ledger {
            None => None,
            Some(ledger) => match ledger.start(id, &holder, lease_until, now).await? {
                Start::Complete => {
                    tracing::info!(object = %url, "already published: redelivery skipped");
                    return Ok(());
                }
                Start::Busy { until } => return Err(ProcessError::Busy { object: url, until }),
                Start::Publish(lease) => Some(lease),
            },
        };
        let mut already = 0;
        for (i, batch) in batches.iter().enumerate() {
            if let Some(lease) = &lease
                && lease.published(i, batches.len(), batch).await?
            {
                already += 1;
                continue;
            }
            if let Err(source) = self.sink.put(&self.config.namespace, batch).await {
                if let Some(lease) = &lease {
                    lease.release().await?;
                }
                return Err(ProcessError::Publish {
                    object: url.clone(),
                    batch: i + 1,
                    batches: batches.len(),
                    published: i,
                    source,
                });
            }
            if let Some(lease) = &lease {
                lease.mark(i, batches.len(), batch).await?;
            }
        }
        if let Some(lease) = &lease {
            lease.complete().await?;
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
            requests = batches.len() - already,
            already_published = already,
            lag_seconds = lag,
            duration_ms = scan.elapsed.as_millis() as u64,
            "object published"
        );
        Ok(())
    }
}

fn unix(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn unix_now() -> i64 {
    unix(SystemTime::now())
}
