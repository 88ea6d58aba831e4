//! Streaming parser and per-source aggregation for Amazon VPC Flow Logs (versions 2–11).
//!
//! Data flows one way: bytes ([`scan()`], gzip or plain) → lines → records ([`RecordVisitor`]:
//! the full [`RecordParser`] or the fast [`Aggregator`]) → per-source, per-minute aggregates →
//! flood findings ([`detect`]).
//! The crate does no network I/O and depends on no AWS crate.

mod aggregate;
mod field;
mod flood;
mod format;
mod record;
mod scan;
mod skip;
mod time;
mod token;

pub use aggregate::{
    AggregateOptions, Aggregator, Attribution, AttributionError, MAX_WINDOWS_PER_SOURCE,
    PORTS_PER_WINDOW, PortSet, ProtocolCounts, SourceStats, SourceSummary, TOP_DESTINATIONS,
    TOP_PORTS, Tally, WINDOW_SECS, WindowStats, WindowTotals, window_of,
};
pub use field::{Field, FieldKind};
pub use flood::{
    Cidr, CidrError, DestinationCount, Finding, FloodRules, PortCount, Severity, Signal, Signals,
    detect,
};
pub use format::{Column, Format, FormatError};
pub use record::{Action, LogStatus, Record, RecordParser, Value};
pub use scan::{
    RATIO_GRACE_BYTES, RecordVisitor, ScanError, ScanErrorKind, ScanOptions, ScanReport,
    StatusCounts, scan,
};
pub use skip::{SkipReason, SkipReport, SkipSample};
pub use time::utc;
