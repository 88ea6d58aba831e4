//! The `flood-alert` Lambda function: repeated traffic from one IP in a new flow-log object
//! becomes one clear SNS alert, once per source per cooldown.
//!
//! event → object streamed from S3 → [`flowlog_core::Aggregator`] → [`flowlog_core::detect`]
//! → [`cooldown::Cooldown`] (who may alert, agreed through S3 conditional writes) →
//! [`message::build_alert`] → [`sns::AlertSink`].

pub mod alert;
mod app;
mod config;
pub mod cooldown;
pub mod sns;

pub use app::{App, ProcessError};
pub use config::Config;
