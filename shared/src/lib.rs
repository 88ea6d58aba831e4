//! Streaming parser, per-source aggregation and flood verdict for Amazon VPC Flow Logs
//! (versions 2–11).
//!
//! Data flows one way: bytes ([`scan()`], gzip or plain) → lines → records ([`RecordVisitor`]:
//! the full [`RecordParser`] or the fast [`Aggregator`]) → per-source and per-target minutes →
//! findings ([`detect`]).
//! The crate does no network I/O and depends on no AWS crate.

mod addr;
mod aggregate;
mod budget;
mod classify;
mod detect;
mod evidence;
mod field;
mod format;
mod human;
mod minute;
mod record;
mod scan;
mod sketch;
mod skip;
mod source;
mod summary;
mod table;
mod time;
mod token;
mod view;

pub use aggregate::{
    AggregateOptions, Aggregator, Attribution, AttributionError, MAX_TOTAL_WINDOWS,
};
pub use budget::{Limits, MemoryBudget};
pub use detect::{
    AsSummary, Bound, CidrError, DestinationCount, Detection, Finding, FlaggedMinute, FloodRules,
    PortCount, Rate, Rule, Severity, Signal, SourceCount, TargetFinding, TargetShare, detect,
    parse_cidr,
};
pub use evidence::{Evidence, PORTS_PER_SOURCE, PortSet, TOP_SOURCES, TOP_TARGETS, Target};
pub use field::{Field, FieldKind};
pub use format::{Column, Format, FormatError};
pub use human::thousands;
pub use ipnet::IpNet;
pub use minute::{MAX_SPAN_SECS, Minute, Served, Traffic, WINDOW_SECS, WindowTotals, window_of};
pub use record::{Action, LogStatus, Record, RecordParser, Value};
pub use scan::{
    RATIO_GRACE_BYTES, RecordVisitor, ScanError, ScanErrorKind, ScanOptions, ScanReport,
    StatusCounts, scan,
};
pub use sketch::{Distinct, Heavy, TopK};
pub use skip::{SkipReason, SkipReport, SkipSample};
pub use source::{Source, SourceError};
pub use summary::{Floor, SourceEvidence, SourcePart, Summary, TargetEvidence, TargetPart};
pub use table::MAX_WINDOWS_PER_SOURCE;
pub use time::utc;
pub use view::{SourceSummary, SourceView, TargetView};
