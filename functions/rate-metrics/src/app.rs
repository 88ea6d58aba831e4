//! The handler: decode the event, read each input (an object in S3, Parquet or text, or a
//! batch of CloudWatch Logs events) into the core, share its summary with the detector,
//! publish its metrics.
//!
//! The summary goes first: the detector must not wait on CloudWatch (throttling, an outage),
//! and a retry after a failed publication finds the summary written and adds nothing.

use std::time::SystemTime;

use flowlog_core::{Aggregator, Floor};
use flowlog_events::{Failure, Input, LogBatch, ObjectRef, Retry};
use flowlog_lambda::{
    DynamoStore, ObjectError, ObjectScan, ObjectSource, S3Objects, StateStore, StoreError,
    SummaryLog, SystemClock, aggregate_log_batch, aggregate_object, flow_log_origin,
    log_batch_meta, logs_origin, newest_event,
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

impl Failure for ProcessError {
    fn retry(&self) -> Retry {
        match self {
            ProcessError::Object(e) => e.retry(),
            ProcessError::Batch { .. } => Retry::Permanent,
            ProcessError::Summary { .. } | ProcessError::Publish { .. } => Retry::Temporary,
        }
    }
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
    /// response, S3 Batch Operations a result per task, other shapes fail the invocation if
    /// any input failed. `deadline` is when the runtime stops the invocation (unknown in local
    /// tests).
    pub async fn handle(
        &self,
        payload: Value,
        deadline: Option<SystemTime>,
    ) -> Result<Value, lambda_runtime::Error> {
        // Boxed: the object pipeline's future is deep enough to strain type layout otherwise.
        flowlog_events::handle_inputs(payload, &self.config.read.scope, |input| {
            Box::pin(async move {
                match input {
                    Input::Object(object) => self.publish_object(&object, deadline).await,
                    Input::Logs(batch) => self.publish_logs(&batch).await,
                }
            })
        })
        .await
    }

    /// Whether the ledger says this version of the input was published (a cheap check
    /// before reading it); `url` names it in errors.
    async fn already_published(
        &self,
        (bucket, key, etag): (&str, &str, &str),
        url: &str,
    ) -> Result<bool, ProcessError> {
        self.ledger
            .is_complete(bucket, key, etag)
            .await
            .map_err(|e| ProcessError::Publish {
                object: url.to_owned(),
                source: e.into(),
            })
    }

    async fn publish_object(
        &self,
        object: &ObjectRef,
        deadline: Option<SystemTime>,
    ) -> Result<String, ProcessError> {
        let url = format!("s3://{}/{}", object.bucket, object.key);
        if let Some(etag) = &object.etag
            && self
                .already_published((&object.bucket, &object.key, etag), &url)
                .await?
        {
            tracing::info!(object = %url, "already published: redelivery skipped");
            return Ok(ALREADY.into());
        }
        let scan = aggregate_object(&self.objects, object, &self.config.read, deadline).await?;
        let arrival = scan.meta.last_modified;
        let lag = match (arrival, scan.visitor.latest_end()) {
            (Some(arrived), Some(newest)) => Some((arrived - newest) as f64),
            _ => None,
        };
        let origin = flow_log_origin(&scan.meta.key);
        self.share_and_publish(scan, origin, arrival, lag).await
    }

    /// A batch of log events: like an object named by its log group, stream and event ids
    /// (exactly once per batch), its newest event standing for its arrival, and no delivery
    /// lag (the events carry no ingestion time).
    async fn publish_logs(&self, batch: &LogBatch) -> Result<String, ProcessError> {
        let meta = log_batch_meta(batch);
        let etag = meta.etag.as_deref().unwrap_or_default();
        let url = meta.url();
        if self
            .already_published((&meta.bucket, &meta.key, etag), &url)
            .await?
        {
            tracing::info!(object = %url, "already published: redelivery skipped");
            return Ok(ALREADY.into());
        }
        let scan = aggregate_log_batch(batch, &self.config.read).await?;
        let origin = logs_origin(batch, self.config.region.as_deref());
        self.share_and_publish(scan, origin, newest_event(batch), None)
            .await
    }

    /// Writes the summary (naming `origin`, the flow logs' account and region) and asks for a
    /// verdict, then publishes the metrics CloudWatch accepts now: windows from 14 days back to
    /// 2 hours ahead, and the self-telemetry (stamped at `arrival`, the time of publishing when
    /// unknown) unless `arrival` is older than that. Returns what happened, in a few words.
    async fn share_and_publish(
        &self,
        scan: ObjectScan<Aggregator>,
        origin: Option<(String, String)>,
        arrival: Option<i64>,
        lag: Option<f64>,
    ) -> Result<String, ProcessError> {
        let url = scan.meta.url();
        let aggregator = &scan.visitor;
        let summary = aggregator.summary(&Floor::shared(&self.config.rules));
        let shared = (summary.sources.len(), summary.targets.len());
        let (written, request) = self
            .summaries
            .put(&scan.meta, origin, summary)
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
        // Which windows CloudWatch takes depends on when they are sent (a backfilled object's
        // old windows are refused); everything else derives from the object alone, so that a
        // retry builds the same batches.
        let now = self.ledger.now();
        let arrival = arrival.unwrap_or(now);
        let traffic = metrics::traffic_datums(aggregator, self.config.top_n, now);
        let mut datums = traffic.datums;
        let telemetry = arrival >= now - metrics::MAX_PAST_SECS + metrics::TIMESTAMP_SAFETY_SECS;
        if telemetry {
            datums.extend(metrics::telemetry_datums(
                &scan.report,
                aggregator,
                lag,
                arrival,
            ));
        }
        let datum_count = datums.len();
        let namespace = &self.config.namespace;
        let batches =
            metrics::batches(namespace, datums).map_err(|source| ProcessError::Batch {
                object: url.clone(),
                source,
            })?;
        if traffic.stale_windows + traffic.future_windows > 0 || !telemetry {
            tracing::warn!(
                object = %url,
                stale_windows = traffic.stale_windows,
                future_windows = traffic.future_windows,
                telemetry,
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
                return Ok(ALREADY.into());
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
            encoding = scan.encoding(),
            records = report.records,
            skipped = report.skipped.total(),
            nodata = report.log_status.nodata,
            skipdata = report.log_status.skipdata,
            sources = aggregator.source_count(),
            untracked_flows = aggregator.untracked_flows(),
            summary = written.as_str(),
            shared_sources = shared.0,
            shared_targets = shared.1,
            detect_from = request.as_ref().map(|r| r.from),
            windows_dropped = aggregator.windows_dropped(),
            top_sources = traffic.top_sources.len(),
            datums = datum_count,
            requests = sent,
            already_published = already,
            stale_windows = traffic.stale_windows,
            future_windows = traffic.future_windows,
            lag_seconds = lag,
            duration_ms = scan.elapsed.as_millis() as u64,
            "object published"
        );
        let mut outcome = vec![
            format!("read {} records ({})", report.records, scan.encoding()),
            format!("published {datum_count} datums in {sent} requests ({already} sent before)"),
        ];
        if traffic.stale_windows > 0 || !telemetry {
            let telemetry = if telemetry { "" } else { " and its telemetry" };
            outcome.push(format!(
                "skipped {} windows older than CloudWatch accepts (14 days){telemetry}",
                traffic.stale_windows
            ));
        }
        if traffic.future_windows > 0 {
            outcome.push(format!(
                "skipped {} windows more than 2 hours ahead",
                traffic.future_windows
            ));
        }
        outcome.push(match &request {
            Some(request) => format!(
                "summary {} ({} sources, {} targets) for detection from {}",
                written.as_str(),
                shared.0,
                shared.1,
                flowlog_core::utc(request.from)
            ),
            None => "nothing above the detection floor".into(),
        });
        Ok(outcome.join("; "))
    }
}

/// What a redelivered input that was already published says.
const ALREADY: &str = "already published: redelivery skipped";
