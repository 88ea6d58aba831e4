//! The `rate-metrics` Lambda function: each new flow-log object in S3 becomes per-source request
//! rates in CloudWatch.
//!
//! event → [`flowlog_events::decode`] → object streamed from S3 → [`flowlog_core::Aggregator`]
//! → [`metrics`] (datums, batches) → [`cloudwatch::MetricsSink`], each batch published once
//! per object version through the [`ledger`]. `main.rs` only builds the
//! clients and hands [`App::handle`] to the Lambda runtime.

mod app;
pub mod cloudwatch;
mod config;
pub mod ledger;
pub mod metrics;

pub use app::{App, ProcessError};
pub use config::Config;
