//! The `flood-alert` Lambda function: the detector. It judges the shared state — every
//! object's summary, written by `rate-metrics` — as one verdict, keeps each flood as an
//! incident (STARTED, ONGOING, ENDED) and publishes each notice to SNS exactly once.
//!
//! trigger (detect queue, schedule, direct) → [`flowlog_lambda::SummaryLog::load`] (merged
//! summaries) → [`flowlog_core::detect`] → [`flowlog_incidents::plan`] → per change: claim
//! ([`incident_store`], compare-and-swap) → [`alert::build_alert`] → [`sns::AlertSink`] →
//! confirm. `main.rs` only builds the clients and hands [`App::handle`] to the runtime.

pub mod alert;
mod app;
mod config;
pub mod detector;
pub mod incident_store;
pub mod sns;
pub mod trigger;

pub use app::App;
pub use config::Config;
