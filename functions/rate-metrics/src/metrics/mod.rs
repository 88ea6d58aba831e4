//! The CloudWatch metric data one flow-log object produces, and its split into requests.
//!
//! Pure: no AWS types and no I/O. [`traffic_datums`] and [`telemetry_datums`] turn an
//! [`flowlog_core::Aggregator`] and a [`flowlog_core::ScanReport`] into [`Datum`]s; [`batches`] validates them against the
//! `PutMetricData` limits and splits them into requests. Everything here is deterministic: the
//! same object always gives the same datums in the same order and the same batches.
//!
//! One concept a file: the metric and dimension names (`names.rs`), the [`Datum`] type
//! (`datum.rs`), the datums of one object (`object.rs`), the `PutMetricData` limits and their
//! checks (`limits.rs`), the request-size estimate for the awsQuery wire format (`size.rs`), and
//! the split into requests (`batch.rs`).

mod batch;
mod datum;
mod limits;
mod names;
mod object;
mod size;
#[cfg(test)]
mod testing;

pub use batch::batches;
pub use datum::{Datum, Dimension, Unit};
pub use limits::{
    BatchError, MAX_DATUMS_PER_REQUEST, MAX_DIMENSIONS, MAX_FUTURE_SECS, MAX_PAST_SECS,
    MAX_REQUEST_BYTES, TIMESTAMP_SAFETY_SECS,
};
pub use names::*;
pub use object::{TrafficDatums, telemetry_datums, traffic_datums};
pub use size::encoded_size;
