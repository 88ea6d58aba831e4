//! Streaming an object (gzip or plain text) line by line into a [`RecordVisitor`].
//!
//! One thread reads and inflates the input into large chunks; the calling thread splits them
//! into lines and hands each record line to the visitor. Memory is a handful of chunks plus one
//! carried partial line (capped), whatever the size of the object.
//!
//! The producer is [`inflate`]; the line framing is [`lines`].

mod inflate;
mod lines;

use std::io::{self, Read};
use std::sync::mpsc;

use serde::Serialize;

use crate::format::Format;
use crate::record::LogStatus;
use crate::skip::{SkipReason, SkipReport};

use inflate::{Limits, produce};
use lines::Lines;

/// How an object is read.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Format for objects without a header line (`None`: the default v2 format).
    pub format: Option<Format>,
    /// Longer lines are skipped as [`SkipReason::LineTooLong`] without being buffered.
    pub max_line_bytes: usize,
    /// Inflated bytes beyond this fail the object as [`ScanErrorKind::TooLarge`].
    pub max_decompressed_bytes: u64,
    /// Past [`RATIO_GRACE_BYTES`] inflated, a gzip object whose inflated size exceeds this
    /// multiple of its compressed size fails as [`ScanErrorKind::CompressionRatio`].
    pub max_compression_ratio: u64,
    /// Size of the chunks the input is read and inflated in.
    pub chunk_bytes: usize,
    /// Stop reading at this instant with [`ScanErrorKind::Deadline`] (e.g. before a Lambda
    /// function's timeout), reporting how far the scan got.
    pub deadline: Option<std::time::Instant>,
}

/// Inflated bytes read before the compression-ratio check applies.
pub const RATIO_GRACE_BYTES: u64 = 64 << 20;

impl Default for ScanOptions {
    fn default() -> ScanOptions {
        ScanOptions {
            format: None,
            max_line_bytes: 64 << 10,
            max_decompressed_bytes: 8 << 30,
            max_compression_ratio: 100,
            chunk_bytes: 256 << 10,
            deadline: None,
        }
    }
}

/// Receives the lines of an object that are records.
pub trait RecordVisitor {
    /// A format takes effect: the object's header, or the configured/default format before the
    /// first record of a headerless object. Called again if a different header appears later.
    fn begin_format(&mut self, format: &Format);

    /// One record line (never a header or a blank line): its status, or why it is skipped.
    fn record(&mut self, line: &[u8]) -> Result<LogStatus, SkipReason>;

    /// The scan is over (read to its end or stopped by an error): a visitor that defers work
    /// (the [`crate::Aggregator`] applies records in batches) completes it here. A visitor
    /// wrapping another must forward this.
    fn end(&mut self) {}
}

/// Records read, by `log-status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    /// `OK` records.
    #[serde(rename = "OK")]
    pub ok: u64,
    /// `NODATA` records.
    #[serde(rename = "NODATA")]
    pub nodata: u64,
    /// `SKIPDATA` records.
    #[serde(rename = "SKIPDATA")]
    pub skipdata: u64,
}

impl StatusCounts {
    fn add(&mut self, status: LogStatus) {
        match status {
            LogStatus::Ok => self.ok += 1,
            LogStatus::NoData => self.nodata += 1,
            LogStatus::SkipData => self.skipdata += 1,
        }
    }

    /// All records, whatever their status.
    pub fn total(&self) -> u64 {
        self.ok + self.nodata + self.skipdata
    }
}

/// What reading one object found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanReport {
    /// Record lines read (all statuses; headers, blank and skipped lines excluded).
    pub records: u64,
    /// Records by status.
    pub log_status: StatusCounts,
    /// Lines not read as records.
    pub skipped: SkipReport,
    /// Header lines (the first, and any repeated later).
    pub header_lines: u64,
    /// Every line seen, of any kind.
    pub lines: u64,
    /// Bytes read from the input.
    pub input_bytes: u64,
    /// Bytes after inflating (equal to `input_bytes` for plain text).
    pub inflated_bytes: u64,
    /// Whether the input was gzip.
    pub gzip: bool,
}

/// Why an object could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum ScanErrorKind {
    /// Reading the input failed (network, file system).
    #[error("reading the object failed: {0}")]
    Read(#[source] io::Error),
    /// The gzip stream is damaged.
    #[error("corrupt gzip data: {0}")]
    CorruptGzip(#[source] io::Error),
    /// The gzip stream stops before its end: the object is truncated.
    #[error("gzip stream is truncated (ends before its final block)")]
    TruncatedGzip,
    /// More inflated data than allowed.
    #[error("inflated data exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// Inflated far more than a flow log compresses: a decompression bomb.
    #[error("compression ratio exceeds {limit}:1 (a decompression bomb?)")]
    CompressionRatio {
        /// The configured limit.
        limit: u64,
    },
    /// The object is not a VPC flow log.
    #[error("not a VPC flow-log object: {0}")]
    NotFlowLog(String),
    /// The deadline passed before the end of the object.
    #[error("stopped at the deadline before the end of the object")]
    Deadline,
}

/// A failed read, with what had been read before it.
#[derive(Debug, thiserror::Error)]
#[error("{kind} (after {} records in {} lines)", partial.records, partial.lines)]
pub struct ScanError {
    /// What went wrong.
    #[source]
    pub kind: ScanErrorKind,
    /// Everything counted up to the failure.
    pub partial: Box<ScanReport>,
}

/// Reads `input` to its end, handing every record line to `visitor`.
///
/// Malformed lines are counted in the report and never stop the read; a damaged or foreign
/// object stops it with a [`ScanError`] that carries the partial counts.
pub fn scan<R, V>(input: R, options: &ScanOptions, visitor: &mut V) -> Result<ScanReport, ScanError>
where
    R: Read + Send,
    V: RecordVisitor + ?Sized,
{
    let (full_tx, full_rx) = mpsc::sync_channel::<Result<Vec<u8>, ScanErrorKind>>(2);
    let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
    let limits = Limits::from(options);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || produce(input, limits, &full_tx, &free_rx));
        let mut lines = Lines::new(options, visitor);
        let mut failure = None;
        for message in &full_rx {
            if options
                .deadline
                .is_some_and(|d| std::time::Instant::now() >= d)
            {
                failure = Some(ScanErrorKind::Deadline);
                break;
            }
            match message {
                Ok(chunk) => {
                    if let Err(kind) = lines.feed(&chunk) {
                        failure = Some(kind);
                        break;
                    }
                    // The producer may have finished; then the buffer is simply dropped.
                    let _ = free_tx.send(chunk);
                }
                Err(kind) => {
                    failure = Some(kind);
                    break;
                }
            }
        }
        drop(full_rx);
        let produced = producer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let failure = failure.or_else(|| lines.finish().err());
        lines.visitor.end();
        let mut report = lines.report;
        report.input_bytes = produced.input_bytes;
        report.inflated_bytes = produced.inflated_bytes;
        report.gzip = produced.gzip;
        match failure {
            None => Ok(report),
            Some(kind) => Err(ScanError {
                kind,
                partial: Box::new(report),
            }),
        }
    })
}
