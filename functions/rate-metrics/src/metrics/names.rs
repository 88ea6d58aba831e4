//! The names of the metrics and of their dimension.

/// Flow records (all traffic, or one source's with a [`SOURCE_IP`] dimension).
pub const FLOWS: &str = "Flows";
/// Packets of those flows.
pub const PACKETS: &str = "Packets";
/// Bytes of those flows.
pub const BYTES: &str = "Bytes";
/// Flows with `action` = `REJECT`.
pub const REJECTED_FLOWS: &str = "RejectedFlows";
/// Dimension naming the source address of per-source traffic metrics.
pub const SOURCE_IP: &str = "SourceIp";

/// Record lines read from the object (all log statuses).
pub const RECORDS: &str = "Records";
/// Lines of the object not read as records (malformed, too long, blank).
pub const SKIPPED_LINES: &str = "SkippedLines";
/// `NODATA` records.
pub const NODATA_RECORDS: &str = "NoDataRecords";
/// `SKIPDATA` records: the flow log itself lost data.
pub const SKIPDATA_RECORDS: &str = "SkipDataRecords";
/// How late the object was processed, in seconds, as the caller measures it.
pub const DELIVERY_LAG_SECONDS: &str = "DeliveryLagSeconds";
/// Sources tracked one by one.
pub const TRACKED_SOURCES: &str = "TrackedSources";
/// Flows of sources beyond the tracking cap.
pub const UNTRACKED_FLOWS: &str = "UntrackedFlows";
