//! The `flood-response` Lambda function (opt-in, `RESPONSE=waf|nacl`): a flooding source is
//! blocked when its incident starts and released when it ends, or after `MAX_BLOCK_SECS`,
//! whichever comes first.
//!
//! SNS notice ([`event`]) → [`guard::Guard`] (who may be blocked) → [`registry::Registry`] (what
//! is blocked, kept with compare-and-swap in a [`flowlog_lambda::StateStore`]) →
//! [`firewall::Firewall`] (a WAF IP set or a network ACL) → [`report`] → [`sns::ReportSink`].
//! The schedule ([`event::Work::Sweep`]) releases what is overdue, even after a crash.

mod app;
pub mod config;
pub mod event;
#[cfg(test)]
mod fakes;
pub mod firewall;
pub mod guard;
pub mod registry;
pub mod report;
pub mod sns;
#[cfg(test)]
mod testing;

pub use app::{App, Policy, REGISTRY_DIRECTORY, REGISTRY_RETENTION_SECS, ResponseError, Tally};
pub use config::{Config, Mode};
