//! Flood incidents with a lifecycle, from one verdict to the next.
//!
//! A verdict ([`flowlog_core::detect`]) says which sources and targets flood now, over the
//! minutes it was given. People need more than that: to be told once when a flood starts,
//! reminded while it lasts, and told when it is over. [`plan`] compares the current findings
//! with the incidents already known and returns each change with at most one [`Notice`]:
//!
//! - **STARTED**: a subject without an open incident is found flooding minutes after the last
//!   one of its previous incident;
//! - **ONGOING**: at most every [`Policy::update_every_secs`] while new minutes are flagged, with
//!   the peak and totals so far;
//! - **ENDED**: once no minute was flagged for [`Policy::quiet_secs`] after the data of those
//!   minutes had time to arrive ([`Policy::settle_secs`]), with duration, peak and totals.
//!
//! Pure: no I/O, no clock. The functions keep incidents in DynamoDB and publish notices to SNS
//! exactly once; `flowlogs replay` keeps them in memory over local files ([`replay`]).

mod document;
mod flood;
mod incident;
mod plan;
mod replay;

pub use document::{AlertDocument, DOCUMENT_TYPE, DOCUMENT_VERSION, DocumentError, Origin};
pub use flood::FloodFinding;
pub use incident::{Figures, Incident, Kind, Notice, Peak, Pending, Stage};
pub use plan::{Change, Policy, plan};
pub use replay::{Arrival, Sent, replay};
