//! The `rate-metrics` Lambda function: each new flow-log object in S3 becomes per-source request
//! rates in CloudWatch.
//!
//! event → [`flowlog_events::decode`] → object streamed from S3 → [`flowlog_core::Aggregator`]
//! → its summary written once to the shared state ([`flowlog_lambda::SummaryLog`]) and a
//! [`detect_queue`] request to `flood-alert` → [`metrics`] (datums, batches) →
//! [`cloudwatch::MetricsSink`], each batch published once per object version through the
//! [`ledger`]. `main.rs` only builds the
//! clients and hands [`App::handle`] to the Lambda runtime.

mod app;
pub mod cloudwatch;
mod config;
pub mod detect_queue;
pub mod ledger;
pub mod metrics;

pub use app::{App, Clients, ProcessError, SUMMARY_RETENTION_SECS};
pub use config::Config;
