//! The handler: decode the event, read each object into the core, share its summary with the
//! detector, publish its metrics.
//!
//! The summary goes first: the detector must not wait on CloudWatch (throttling, an outage),
//! and a retry after a failed publication finds the summary written and adds nothing.

use std::time::SystemTime;

use flowlog_core::Floor;
use flowlog_events::ObjectRef;
use flowlog_lambda::{
    Clock, DynamoStore, ObjectError, ObjectSource, S3Objects, StateStore, StoreError, SummaryLog,
    SystemClock, aggregate_object,
};
use serde_json::Value;

use crate::cloudwatch::MetricsSink;
use crate::config::Config;
use crate::detect_queue::{DetectQueue, SqsDetectQueue};
use crate::ledger::{Ledger, LedgerError, Published};
use crate::metrics::{self, BatchError};

/// Why an object's metrics were not (all) published.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The object could not be read.
    #[error(transparent)]
    Object(#[from] ObjectError),
    /// Its summary could not be shared with the detector (nothing was published).
    #[error("{object}: summary not written: {source}")]
    Summary {
        /// The object.
        object: String,
        /// Why.
        #[source]
        source: StoreError,
    },
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

/// How long a ledger record is kept: longer than any redelivery (SQS keeps a message at most
/// 14 days).
const LEDGER_RETENTION_SECS: i64 = 15 * 86_400;

/// How long a summary is kept: the detector judges the last hours; two days leave room for
/// late deliveries and a stopped detector's catch-up.
pub const SUMMARY_RETENTION_SECS: i64 = 2 * 86_400;

/// The AWS clients the function uses.
#[derive(Debug, Clone)]
pub struct Clients {
    /// Flow-log objects.
    pub s3: aws_sdk_s3::Client,
    /// The state table.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The detect queue.
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    /// Every client from one SDK configuration.
    pub fn new(sdk: &aws_config::SdkConfig) -> Clients {
        Clients {
            s3: flowlog_lambda::aws::s3_client(sdk),
            dynamodb: flowlog_lambda::aws::dynamodb_client(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
        }
    }
}

/// The function: where objects come from, a sink for the metrics, the publish ledger and the
/// summaries (DynamoDB in the function, fakes in tests), and the detect queue; built once.
pub struct App<S, O = S3Objects, T = DynamoStore, Q = SqsDetectQueue> {
    objects: O,
    sink: S,
    ledger: Ledger<T>,
    summaries: SummaryLog<T>,
    detect: Option<Q>,
    config: Config,
}

impl<S: MetricsSink + Sync> App<S> {
    /// The function on AWS.
    pub fn new(clients: Clients, sink: S, config: Config) -> Self {
        let store = DynamoStore::new(clients.dynamodb, &config.state_table, LEDGER_RETENTION_SECS);
        let summaries = SummaryLog::new(store.with_retention(SUMMARY_RETENTION_SECS));
        let detect = config
            .detect_queue_url
            .as_ref()
            .map(|url| SqsDetectQueue::new(clients.sqs, url));
        App::from_parts(
            S3Objects::new(clients.s3),
            sink,
            Ledger::new(store, SystemClock),
            summaries,
            detect,
            config,
        )
    }
}

impl<S, O, T, Q> App<S, O, T, Q>
where
    S: MetricsSink + Sync,
    O: ObjectSource,
    T: StateStore,
    Q: DetectQueue + Sync,
{
    /// The function on any ports (`config.state_table` and `config.detect_queue_url` are not
    /// used).
    pub fn from_parts(
        objects: O,
        sink: S,
        ledger: Ledger<T>,
        summaries: SummaryLog<T>,
        detect: Option<Q>,
        config: Config,
    ) -> Self {
        App {
            objects,
            sink,
            ledger,
            summaries,
            detect,
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
        if let Some(etag) = &object.etag
            && self
                .ledger
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
        let summary = aggregator.summary(&Floor::shared(&self.config.rules));
        let shared = (summary.sources.len(), summary.targets.len());
        let (written, request) =
            self.summaries
                .put(&scan.meta, summary)
                .await
                .map_err(|source| ProcessError::Summary {
                    object: url.clone(),
                    source,
                })?;
        // Also after a redelivery: the first attempt may have stopped before asking. A lost
        // request only delays the verdict to the detector's next scheduled run.
        if let (Some(queue), Some(request)) = (&self.detect, &request)
            && let Err(error) = queue.send(request).await
        {
            tracing::warn!(object = %url, error, "detect request not sent: the schedule runs the detector");
        }
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
        let published = self
            .ledger
            .publish(&scan.meta, &self.sink, namespace, &batches)
            .await;
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
            summary = written.as_str(),
            shared_sources = shared.0,
            shared_targets = shared.1,
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
