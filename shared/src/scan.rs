//! Streaming an object (gzip or plain text) line by line into a [`RecordVisitor`].
//!
//! One thread reads and inflates the input into large chunks; the calling thread splits them
//! into lines and hands each record line to the visitor. Memory is a handful of chunks plus one
//! carried partial line (capped), whatever the size of the object.

use std::cell::Cell;
use std::io::{self, BufReader, Read};
use std::sync::mpsc;

use serde::Serialize;

use crate::format::Format;
use crate::record::LogStatus;
use crate::skip::{SkipReason, SkipReport};

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

/// Data lines read without any record and without a header before giving up on an object.
const GIVE_UP_AFTER_LINES: u64 = 1000;

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

#[derive(Debug, Clone, Copy)]
struct Limits {
    chunk_bytes: usize,
    max_inflated: u64,
    max_ratio: u64,
}

impl From<&ScanOptions> for Limits {
    fn from(options: &ScanOptions) -> Limits {
        Limits {
            chunk_bytes: options.chunk_bytes.max(4096),
            max_inflated: options.max_decompressed_bytes,
            max_ratio: options.max_compression_ratio,
        }
    }
}

struct Produced {
    input_bytes: u64,
    inflated_bytes: u64,
    gzip: bool,
}

/// Counts the bytes drawn from the input and remembers whether an error came from it.
struct Counting<'c, R> {
    inner: R,
    bytes: &'c Cell<u64>,
    failed: &'c Cell<bool>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.bytes.set(self.bytes.get() + n as u64);
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.failed.set(true);
                }
                Err(e)
            }
        }
    }
}

type ChunkSender = mpsc::SyncSender<Result<Vec<u8>, ScanErrorKind>>;

fn produce<R: Read>(
    input: R,
    limits: Limits,
    full: &ChunkSender,
    free: &mpsc::Receiver<Vec<u8>>,
) -> Produced {
    let input_bytes = Cell::new(0);
    let source_failed = Cell::new(false);
    let counting = Counting {
        inner: input,
        bytes: &input_bytes,
        failed: &source_failed,
    };
    // Read the first two bytes whatever the reader's read sizes, then put them back in front.
    let mut counting = counting;
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < head.len() {
        match counting.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = full.send(Err(ScanErrorKind::Read(e)));
                return Produced {
                    input_bytes: input_bytes.get(),
                    inflated_bytes: 0,
                    gzip: false,
                };
            }
        }
    }
    let gzip = head[..got] == [0x1f, 0x8b];
    let buffered = BufReader::with_capacity(
        limits.chunk_bytes,
        io::Cursor::new(head).take(got as u64).chain(counting),
    );
    let pump = Pump {
        limits,
        gzip,
        input_bytes: &input_bytes,
        source_failed: &source_failed,
    };
    let inflated_bytes = if gzip {
        pump.run(flate2::bufread::MultiGzDecoder::new(buffered), full, free)
    } else {
        pump.run(buffered, full, free)
    };
    Produced {
        input_bytes: input_bytes.get(),
        inflated_bytes,
        gzip,
    }
}

struct Pump<'c> {
    limits: Limits,
    gzip: bool,
    input_bytes: &'c Cell<u64>,
    source_failed: &'c Cell<bool>,
}

impl Pump<'_> {
    /// Sends chunks until the end of the data, an error, or the consumer hanging up; returns
    /// how many bytes it produced.
    fn run(&self, mut data: impl Read, full: &ChunkSender, free: &mpsc::Receiver<Vec<u8>>) -> u64 {
        let mut produced = 0u64;
        loop {
            let mut chunk = free
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(self.limits.chunk_bytes));
            chunk.resize(self.limits.chunk_bytes, 0);
            let mut filled = 0;
            let mut fault = None;
            while filled < chunk.len() {
                match data.read(&mut chunk[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        fault = Some(self.classify(e));
                        break;
                    }
                }
            }
            chunk.truncate(filled);
            produced += filled as u64;
            if fault.is_none() {
                fault = self.check_limits(produced);
            }
            let done = filled == 0 || fault.is_some();
            if filled > 0 && full.send(Ok(chunk)).is_err() {
                return produced;
            }
            if let Some(kind) = fault {
                let _ = full.send(Err(kind));
            }
            if done {
                return produced;
            }
        }
    }

    fn classify(&self, error: io::Error) -> ScanErrorKind {
        if self.source_failed.get() || !self.gzip {
            ScanErrorKind::Read(error)
        } else if error.kind() == io::ErrorKind::UnexpectedEof {
            ScanErrorKind::TruncatedGzip
        } else {
            ScanErrorKind::CorruptGzip(error)
        }
    }

    fn check_limits(&self, produced: u64) -> Option<ScanErrorKind> {
        if produced > self.limits.max_inflated {
            return Some(ScanErrorKind::TooLarge {
                limit: self.limits.max_inflated,
            });
        }
        let ratio_exceeded = self.gzip
            && produced > RATIO_GRACE_BYTES
            && produced / self.input_bytes.get().max(1) > self.limits.max_ratio;
        ratio_exceeded.then_some(ScanErrorKind::CompressionRatio {
            limit: self.limits.max_ratio,
        })
    }
}

/// Splits chunks into lines, classifies them and feeds records to the visitor.
struct Lines<'v, V: ?Sized> {
    visitor: &'v mut V,
    configured: Option<Format>,
    max_line: usize,
    /// The format in effect, once the first line has been seen.
    format: Option<Format>,
    has_header: bool,
    carry: Vec<u8>,
    /// The carried line outgrew `max_line`: keep only its start and drop the rest.
    overlong: bool,
    /// Set when the object has shown neither a header nor a record for too long.
    foreign: bool,
    report: ScanReport,
}

impl<'v, V: RecordVisitor + ?Sized> Lines<'v, V> {
    fn new(options: &ScanOptions, visitor: &'v mut V) -> Self {
        Lines {
            visitor,
            configured: options.format.clone(),
            max_line: options.max_line_bytes.max(1),
            format: None,
            has_header: false,
            carry: Vec::new(),
            overlong: false,
            foreign: false,
            report: ScanReport::default(),
        }
    }

    fn feed(&mut self, mut chunk: &[u8]) -> Result<(), ScanErrorKind> {
        if !self.carry.is_empty() || self.overlong {
            let Some(end) = memchr::memchr(b'\n', chunk) else {
                self.extend_carry(chunk);
                return Ok(());
            };
            self.extend_carry(&chunk[..end]);
            let carry = std::mem::take(&mut self.carry);
            let overlong = std::mem::replace(&mut self.overlong, false);
            self.line(&carry, overlong);
            self.carry = carry;
            self.carry.clear();
            chunk = &chunk[end + 1..];
        }
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            if self.foreign {
                break;
            }
            let line = &chunk[start..end];
            self.line(line, line.len() > self.max_line);
            start = end + 1;
        }
        if self.foreign {
            return Err(self.foreign());
        }
        self.extend_carry(&chunk[start..]);
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ScanErrorKind> {
        if !self.carry.is_empty() || self.overlong {
            let carry = std::mem::take(&mut self.carry);
            let overlong = self.overlong;
            self.line(&carry, overlong);
        }
        if self.foreign {
            return Err(self.foreign());
        }
        let malformed = self.report.skipped.total()
            - self
                .report
                .skipped
                .counts
                .get(&SkipReason::BlankLine)
                .copied()
                .unwrap_or(0);
        if !self.has_header && self.report.records == 0 && malformed > 0 {
            return Err(self.foreign());
        }
        Ok(())
    }

    fn extend_carry(&mut self, bytes: &[u8]) {
        if self.overlong {
            return;
        }
        if self.carry.len() + bytes.len() > self.max_line {
            // Keep the start of the line for the skip sample, drop the rest.
            let keep = SkipReport::EXCERPT_BYTES.saturating_sub(self.carry.len());
            self.carry
                .extend_from_slice(&bytes[..bytes.len().min(keep)]);
            self.carry.truncate(SkipReport::EXCERPT_BYTES);
            self.overlong = true;
        } else {
            self.carry.extend_from_slice(bytes);
        }
    }

    fn foreign(&self) -> ScanErrorKind {
        let first = self
            .report
            .skipped
            .samples
            .iter()
            .find(|s| s.reason != SkipReason::BlankLine)
            .map(|s| format!("line {} ({})", s.line, s.reason.as_str()))
            .unwrap_or_else(|| "no line".into());
        ScanErrorKind::NotFlowLog(format!(
            "no header line and no valid record in the first {} lines; first bad: {first}",
            self.report.lines
        ))
    }

    fn line(&mut self, raw: &[u8], overlong: bool) {
        self.classify(raw, overlong);
        // Give up on an object that has shown neither a header nor one record for too long.
        self.foreign = !self.has_header
            && self.report.records == 0
            && self.report.lines >= GIVE_UP_AFTER_LINES;
    }

    fn classify(&mut self, raw: &[u8], overlong: bool) {
        self.report.lines += 1;
        let number = self.report.lines;
        if overlong {
            self.report
                .skipped
                .add(number, SkipReason::LineTooLong, raw);
            return;
        }
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(|&b| b == b' ') {
            self.report.skipped.add(number, SkipReason::BlankLine, line);
            return;
        }
        let first = line.iter().find(|&&b| b != b' ').copied().unwrap_or(b' ');
        if first.is_ascii_lowercase()
            && let Some(header) = Format::from_header_line(line)
        {
            self.report.header_lines += 1;
            self.has_header = true;
            if self.format.as_ref() != Some(&header) {
                self.visitor.begin_format(&header);
                self.format = Some(header);
            }
            return;
        }
        if self.format.is_none() {
            let format = self.configured.clone().unwrap_or_else(Format::default_v2);
            self.visitor.begin_format(&format);
            self.format = Some(format);
        }
        if !line.is_ascii() && std::str::from_utf8(line).is_err() {
            self.report
                .skipped
                .add(number, SkipReason::InvalidUtf8, line);
            return;
        }
        match self.visitor.record(line) {
            Ok(status) => {
                self.report.records += 1;
                self.report.log_status.add(status);
            }
            Err(reason) => self.report.skipped.add(number, reason, line),
        }
    }
}
