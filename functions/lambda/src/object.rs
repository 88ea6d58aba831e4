//! Reading one object into the core through the object-read port: text streamed, never
//! buffered whole; Parquet (told by its first bytes) read whole when small, otherwise by range
//! reads of its footer and then of each row group's column chunks.

use std::future::Future;
use std::io::{Cursor, Read};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use flowlog_core::{Aggregator, RecordVisitor, ScanError, ScanErrorKind, ScanOptions, ScanReport};
use flowlog_events::{ObjectRef, Retry};
use flowlog_parquet::{
    FOOTER_GUESS, Footer, Layout, ParquetErrorKind, ParquetScanError, Ranges, is_parquet,
    parse_footer, read_head, scan_parquet,
};

use crate::settings::{ParquetRead, ReadSettings};

/// What is known of the object that was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Bucket.
    pub bucket: String,
    /// Key actually read (the decoded fallback when the raw key did not exist).
    pub key: String,
    /// Entity tag, without quotes.
    pub etag: Option<String>,
    /// Size in bytes.
    pub size: Option<i64>,
    /// When S3 stored it (Unix seconds): the object's arrival.
    pub last_modified: Option<i64>,
}

/// How [`ObjectMeta::bucket`] starts for a batch of CloudWatch Logs events: `cwl:<log group>`
/// (no S3 bucket name has a colon).
pub const LOGS_BUCKET_PREFIX: &str = "cwl:";

impl ObjectMeta {
    /// `s3://bucket/key`, or `cwl:<log group>/<log stream>` for a batch of log events.
    pub fn url(&self) -> String {
        if self.bucket.starts_with(LOGS_BUCKET_PREFIX) {
            format!("{}/{}", self.bucket, self.key)
        } else {
            format!("s3://{}/{}", self.bucket, self.key)
        }
    }
}

/// A read object: the visitor after it saw every record, what the scan counted, and timing.
#[derive(Debug)]
pub struct ObjectScan<V> {
    /// The visitor, holding what it gathered.
    pub visitor: V,
    /// Records, statuses, skipped lines, bytes.
    pub report: ScanReport,
    /// The object.
    pub meta: ObjectMeta,
    /// It was Parquet (otherwise text; [`ScanReport::gzip`] tells whether gzip).
    pub parquet: bool,
    /// Time from the GetObject call to the end of the scan.
    pub elapsed: Duration,
}

impl<V> ObjectScan<V> {
    /// `parquet`, `gzip` or `text`: for logs.
    pub fn encoding(&self) -> &'static str {
        match (self.parquet, self.report.gzip) {
            (true, _) => "parquet",
            (false, true) => "gzip",
            (false, false) => "text",
        }
    }
}

/// Why an object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The key does not exist (deleted before it was read, or a wrong key).
    #[error("s3://{bucket}/{key} does not exist (deleted before it was read?)")]
    NotFound {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// The function may not read it.
    #[error(
        "access denied to s3://{bucket}/{key}: check the function's role (s3:GetObject on the prefix) and the bucket policy"
    )]
    AccessDenied {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// GetObject failed otherwise (throttling, network, service error after the SDK's retries).
    #[error("GetObject s3://{bucket}/{key} failed: {message}")]
    Get {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// The SDK's error, with its code.
        message: String,
    },
    /// The object changed between reads of its parts (a new version replaced it).
    #[error(
        "s3://{bucket}/{key} changed while it was read (replaced by a new version); a retry reads the new one"
    )]
    Changed {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// The body could not be read to its end, or is not a flow log.
    #[error("s3://{bucket}/{key}: {source}")]
    Scan {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// What the scanner found, with its partial counts.
        #[source]
        source: ScanError,
    },
    /// A Parquet object could not be read to its end.
    #[error("s3://{bucket}/{key}: {source}")]
    Parquet {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// What the reader found, with its partial counts.
        #[source]
        source: ParquetScanError,
    },
    /// A batch of CloudWatch Logs events could not be read (none of it is a flow log).
    #[error("{batch}: {source}")]
    Logs {
        /// `cwl:<log group>/<log stream>`.
        batch: String,
        /// What the scanner found.
        #[source]
        source: ScanError,
    },
}

impl ObjectError {
    /// Whether reading the object again may succeed: not for a missing, forbidden, damaged or
    /// foreign object; yes after a failed request, a replaced object or the deadline.
    pub fn retry(&self) -> Retry {
        let transient = match self {
            ObjectError::NotFound { .. } | ObjectError::AccessDenied { .. } => false,
            ObjectError::Get { .. } | ObjectError::Changed { .. } => true,
            ObjectError::Scan { source, .. } | ObjectError::Logs { source, .. } => {
                matches!(
                    source.kind,
                    ScanErrorKind::Read(_) | ScanErrorKind::Deadline
                )
            }
            ObjectError::Parquet { source, .. } => source.kind.is_transient(),
        };
        if transient {
            Retry::Temporary
        } else {
            Retry::Permanent
        }
    }
}

/// The invocation's deadline from the runtime's `deadline` (epoch milliseconds). Local
/// emulators send a timeout instead (cargo-lambda: 600000); a value before the year 2001 is
/// taken as milliseconds from now.
pub fn invocation_deadline(deadline_ms: u64) -> SystemTime {
    const YEAR_2001_MS: u64 = 978_307_200_000;
    let ms = Duration::from_millis(deadline_ms);
    if deadline_ms < YEAR_2001_MS {
        SystemTime::now() + ms
    } else {
        SystemTime::UNIX_EPOCH + ms
    }
}

/// When to stop reading an object so that time remains to publish before the invocation's
/// `deadline`: a quarter of the time left, at most [`PUBLISH_RESERVE`].
pub fn read_deadline(deadline: SystemTime) -> Instant {
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    Instant::now() + left - (left / 4).min(PUBLISH_RESERVE)
}

/// The most time kept free for publishing after reading an object.
pub const PUBLISH_RESERVE: Duration = Duration::from_secs(20);

/// An object opened for reading: what S3 said of it, and its body.
pub struct OpenedObject {
    /// Entity tag, without quotes.
    pub etag: Option<String>,
    /// Size in bytes.
    pub size: Option<i64>,
    /// When S3 stored it (Unix seconds).
    pub last_modified: Option<i64>,
    /// The body, read on a blocking thread.
    pub body: Box<dyn Read + Send>,
}

/// Which version of an object a range read must read: the one opened first.
#[derive(Debug, Clone, Copy)]
pub struct Pinned<'a> {
    /// The version id, when the event named one.
    pub version_id: Option<&'a str>,
    /// The entity tag the object had when opened (`If-Match`).
    pub etag: Option<&'a str>,
}

/// The object-read port: where flow-log objects come from ([`crate::S3Objects`] in the
/// functions, [`crate::fakes::MemoryObjects`] in tests).
pub trait ObjectSource: Send + Sync {
    /// Opens `bucket/key` (at `version_id` when given) for streaming.
    fn open(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> impl Future<Output = Result<OpenedObject, ObjectError>> + Send;

    /// Reads bytes `range` of `bucket/key` at the `pinned` version; a different version (the
    /// object was replaced) is [`ObjectError::Changed`].
    fn read_range(
        &self,
        bucket: &str,
        key: &str,
        pinned: Pinned<'_>,
        range: Range<u64>,
    ) -> impl Future<Output = Result<Bytes, ObjectError>> + Send;
}

/// Reads `object` into a fresh [`Aggregator`] with the function's read settings (its memory
/// budget included), stopping early enough before the invocation's `deadline` (if known) to
/// publish the result.
pub async fn aggregate_object<O: ObjectSource>(
    source: &O,
    object: &ObjectRef,
    read: &ReadSettings,
    deadline: Option<SystemTime>,
) -> Result<ObjectScan<Aggregator>, ObjectError> {
    let options = ScanOptions {
        deadline: deadline.map(read_deadline),
        ..read.scan.clone()
    };
    let visitor = Aggregator::with_budget(read.aggregate, read.memory);
    scan_object(source, object, &options, &read.parquet, visitor).await
}

/// What the blocking thread made of an object's stream.
enum Streamed<V> {
    /// Text, read to its end (or to its failure).
    Text(V, Result<ScanReport, ScanError>),
    /// Parquet small enough to be read whole, read.
    Parquet(V, Result<ScanReport, ParquetScanError>),
    /// Parquet to read by ranges: the stream was dropped after its first bytes.
    Ranged(V),
}

/// Reads `object` from `source` and runs `visitor` over its records on a blocking thread (the
/// text scanner itself uses a second thread to inflate). Tries the event's fallback key if the
/// key does not exist. A Parquet object of at most `parquet.ranged_above` bytes is read whole
/// from the same request; a larger one by range reads, one row group at a time.
pub async fn scan_object<O: ObjectSource, V>(
    source: &O,
    object: &ObjectRef,
    options: &ScanOptions,
    parquet: &ParquetRead,
    visitor: V,
) -> Result<ObjectScan<V>, ObjectError>
where
    V: RecordVisitor + Send + 'static,
{
    let started = Instant::now();
    let version = object.version_id.as_deref();
    // Without s3:ListBucket, S3 answers a missing key with 403 rather than 404: try the
    // event's other spelling of the key on either.
    let (key, opened) = match source.open(&object.bucket, &object.key, version).await {
        Err(ObjectError::NotFound { .. } | ObjectError::AccessDenied { .. })
            if object.fallback_key.is_some() =>
        {
            let fallback = object.fallback_key.clone().expect("checked");
            let opened = source.open(&object.bucket, &fallback, version).await?;
            (fallback, opened)
        }
        result => (object.key.clone(), result?),
    };
    let meta = ObjectMeta {
        bucket: object.bucket.clone(),
        key,
        etag: opened.etag,
        size: opened.size,
        last_modified: opened.last_modified,
    };
    let (mut body, scan, columns) = (opened.body, options.clone(), parquet.options.clone());
    let whole_up_to = parquet.ranged_above;
    let size = opened.size.and_then(|s| u64::try_from(s).ok());
    let streamed = tokio::task::spawn_blocking(move || {
        let mut visitor = visitor;
        let (head, got) = match read_head::<4, _>(&mut body) {
            Ok(head) => head,
            Err(e) => {
                let error = ScanError {
                    kind: ScanErrorKind::Read(e),
                    partial: Box::default(),
                };
                return Streamed::Text(visitor, Err(error));
            }
        };
        if !is_parquet(&head[..got]) {
            let input = Cursor::new(head).take(got as u64).chain(body);
            let result = flowlog_core::scan(input, &scan, &mut visitor);
            return Streamed::Text(visitor, result);
        }
        match size {
            Some(size) if size > whole_up_to => Streamed::Ranged(visitor),
            _ => {
                let result = read_whole(head, body, whole_up_to)
                    .and_then(|whole| scan_parquet(Arc::new(whole), &scan, &columns, &mut visitor));
                Streamed::Parquet(visitor, result)
            }
        }
    })
    .await
    .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()));
    let (visitor, report, parquet_read) = match streamed {
        Streamed::Text(visitor, Ok(report)) => (visitor, report, false),
        Streamed::Text(_, Err(source)) => {
            return Err(ObjectError::Scan {
                bucket: meta.bucket,
                key: meta.key,
                source,
            });
        }
        Streamed::Parquet(visitor, result) => {
            let report = result.map_err(|source| parquet_error(&meta, source))?;
            (visitor, report, true)
        }
        Streamed::Ranged(visitor) => {
            let size = size.expect("ranged only with a known size");
            let (visitor, report) = scan_ranges(
                source,
                object,
                &meta,
                size,
                options.clone(),
                parquet,
                visitor,
            )
            .await?;
            (visitor, report, true)
        }
    };
    Ok(ObjectScan {
        visitor,
        report,
        meta,
        parquet: parquet_read,
        elapsed: started.elapsed(),
    })
}

fn parquet_error(meta: &ObjectMeta, source: ParquetScanError) -> ObjectError {
    ObjectError::Parquet {
        bucket: meta.bucket.clone(),
        key: meta.key.clone(),
        source,
    }
}

/// The rest of a small Parquet object's stream after its first four bytes, all of it.
fn read_whole(head: [u8; 4], body: impl Read, limit: u64) -> Result<Bytes, ParquetScanError> {
    let fail = |kind| ParquetScanError {
        kind,
        partial: Box::default(),
    };
    let mut whole = head.to_vec();
    body.take(limit.saturating_add(1))
        .read_to_end(&mut whole)
        .map_err(|e| fail(ParquetErrorKind::Read(e)))?;
    if whole.len() as u64 > limit {
        return Err(fail(ParquetErrorKind::TooLarge { limit }));
    }
    Ok(Bytes::from(whole))
}

/// A large Parquet object by range reads: its footer, then per row group the column chunks
/// the aggregation reads, decoded on a blocking thread while nothing else of it is held.
async fn scan_ranges<O: ObjectSource, V>(
    source: &O,
    object: &ObjectRef,
    meta: &ObjectMeta,
    size: u64,
    scan: ScanOptions,
    parquet: &ParquetRead,
    mut visitor: V,
) -> Result<(V, ScanReport), ObjectError>
where
    V: RecordVisitor + Send + 'static,
{
    let pinned = Pinned {
        version_id: object.version_id.as_deref(),
        etag: meta.etag.as_deref(),
    };
    let read = |range: Range<u64>| source.read_range(&meta.bucket, &meta.key, pinned, range);
    let mut report = ScanReport::default();
    let fail = |kind, report: &ScanReport| {
        let source = ParquetScanError {
            kind,
            partial: Box::new(report.clone()),
        };
        parquet_error(meta, source)
    };
    let mut tail_len = FOOTER_GUESS.min(size);
    let metadata = loop {
        let tail = read(size - tail_len..size).await?;
        report.input_bytes += tail.len() as u64;
        match parse_footer(&tail, size, &parquet.options).map_err(|k| fail(k, &report))? {
            Footer::Metadata(metadata) => break metadata,
            Footer::NeedTail(needed) if needed > tail_len && needed <= size => tail_len = needed,
            Footer::NeedTail(_) => {
                let kind = ParquetErrorKind::Corrupt("the footer does not decode".into());
                return Err(fail(kind, &report));
            }
        }
    };
    let layout = Arc::new(Layout::new(*metadata, &parquet.options).map_err(|k| fail(k, &report))?);
    visitor.begin_format(layout.format());
    for index in 0..layout.row_groups() {
        if scan.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(fail(ParquetErrorKind::Deadline, &report));
        }
        let mut ranges = Ranges::new(size);
        for range in layout.chunk_ranges(index).map_err(|k| fail(k, &report))? {
            let start = range.start;
            ranges.insert(start, read(range).await?);
        }
        report.input_bytes += ranges.held();
        let (layout, scan) = (Arc::clone(&layout), scan.clone());
        let (returned, counted, result) = tokio::task::spawn_blocking(move || {
            let result =
                layout.read_row_group(index, &Arc::new(ranges), &scan, &mut visitor, &mut report);
            (visitor, report, result)
        })
        .await
        .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()));
        (visitor, report) = (returned, counted);
        result.map_err(|k| fail(k, &report))?;
    }
    // The aggregator applies records in batches: the last one is applied here.
    visitor.end();
    Ok((visitor, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::MemoryObjects;
    use flowlog_core::MemoryBudget;

    fn object(key: &str, fallback: Option<&str>) -> ObjectRef {
        ObjectRef {
            fallback_key: fallback.map(str::to_owned),
            ..ObjectRef::new("logs", key)
        }
    }

    #[tokio::test]
    async fn the_decoded_fallback_key_is_read_when_the_raw_key_does_not_exist() {
        let objects = MemoryObjects::default();
        let text = b"version srcaddr log-status\n2 192.0.2.1 OK\n".to_vec();
        objects.put("logs", "a/year=2025/x.log", text, 1_700_000_000);
        let read = ReadSettings::from_settings(&crate::Settings::new(&|_| None)).unwrap();
        let raw = object("a/year%3D2025/x.log", Some("a/year=2025/x.log"));
        let scan = aggregate_object(&objects, &raw, &read, None).await.unwrap();
        assert_eq!(scan.meta.key, "a/year=2025/x.log");
        assert_eq!(scan.meta.last_modified, Some(1_700_000_000));
        assert_eq!(scan.report.records, 1);
        let missing = aggregate_object(&objects, &object("gone.log", None), &read, None).await;
        assert!(matches!(missing, Err(ObjectError::NotFound { .. })));
    }

    #[tokio::test]
    async fn an_object_is_aggregated_within_the_budget_of_the_functions_memory_size() {
        let objects = MemoryObjects::default();
        let text = b"version srcaddr start end log-status\n2 192.0.2.1 1700000040 1700000041 OK\n"
            .to_vec();
        objects.put("logs", "x.log", text, 1_700_000_000);
        let env = |name: &str| match name {
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => Some("128".to_owned()),
            "MAX_SOURCES" => Some("10000000".to_owned()),
            _ => None,
        };
        let read = ReadSettings::from_settings(&crate::Settings::new(&env)).unwrap();
        let scan = aggregate_object(&objects, &object("x.log", None), &read, None)
            .await
            .unwrap();
        let expected =
            Aggregator::with_budget(read.aggregate, MemoryBudget::for_lambda_memory_mb(128));
        assert_eq!(scan.visitor.limits(), expected.limits());
        // 128 MB cannot hold ten million sources: fewer are tracked rather than run out.
        assert!(scan.visitor.limits().sources < 10_000_000);
        assert_eq!(scan.visitor.source_count(), 1);
    }

    #[test]
    fn epoch_deadlines_are_absolute_and_emulator_timeouts_relative() {
        let epoch_ms = 1_700_000_000_000;
        assert_eq!(
            invocation_deadline(epoch_ms),
            SystemTime::UNIX_EPOCH + Duration::from_millis(epoch_ms)
        );
        let relative = invocation_deadline(600_000)
            .duration_since(SystemTime::now())
            .unwrap();
        assert!(relative > Duration::from_secs(599) && relative <= Duration::from_secs(600));
    }

    #[test]
    fn the_read_deadline_keeps_a_quarter_of_the_time_up_to_twenty_seconds() {
        let in_secs = |s: u64| SystemTime::now() + Duration::from_secs(s);
        let left = |i: Instant| i.saturating_duration_since(Instant::now()).as_secs_f64();
        assert!((left(read_deadline(in_secs(4))) - 3.0).abs() < 0.2);
        assert!((left(read_deadline(in_secs(300))) - 280.0).abs() < 0.2);
        assert_eq!(
            left(read_deadline(SystemTime::now() - Duration::from_secs(5))),
            0.0
        );
    }

    fn read_settings() -> ReadSettings {
        ReadSettings::from_settings(&crate::Settings::new(&|_| None)).unwrap()
    }

    /// A generated object with a SYN flood, as gzip text and as Parquet of 500-row groups.
    fn text_and_parquet() -> (Vec<u8>, Vec<u8>) {
        text_and_parquet_of(flowlog_synth::formats::V5_ALL)
    }

    fn text_and_parquet_of(fields: &[&str]) -> (Vec<u8>, Vec<u8>) {
        let spec = flowlog_synth::Spec {
            records: 3_000,
            seed: 3,
            flood: Some(flowlog_synth::Flood {
                source: "203.0.113.7".parse().unwrap(),
                flows: 1_000,
                syn_only: true,
                reject_share: 0.0,
                dst_ports: 1,
            }),
            ..flowlog_synth::Spec::default()
        }
        .with_fields(fields);
        let mut text = Vec::new();
        flowlog_synth::write_object(
            &spec,
            flowlog_synth::Compression::Gzip { level: 1 },
            &mut text,
        )
        .unwrap();
        let mut parquet = Vec::new();
        let options = flowlog_parquet::WriteOptions {
            rows_per_row_group: 500,
        };
        flowlog_parquet::write_parquet(&text[..], None, &mut parquet, &options).unwrap();
        (text, parquet)
    }

    #[tokio::test]
    async fn parquet_is_told_by_its_bytes_and_small_objects_are_read_in_one_request() {
        let (text, parquet) = text_and_parquet();
        let objects = MemoryObjects::default();
        objects.put("logs", "a.log.gz", text, 1_700_000_000);
        // A Parquet object under a text-like name: the bytes decide.
        objects.put("logs", "b.log.gz", parquet.clone(), 1_700_000_000);
        let read = read_settings();
        let from_text = aggregate_object(&objects, &object("a.log.gz", None), &read, None)
            .await
            .unwrap();
        let from_parquet = aggregate_object(&objects, &object("b.log.gz", None), &read, None)
            .await
            .unwrap();
        assert_eq!(
            (from_text.encoding(), from_parquet.encoding()),
            ("gzip", "parquet")
        );
        assert_eq!(objects.range_reads(), 0);
        assert_eq!(from_parquet.report.records, from_text.report.records);
        assert_eq!(
            from_parquet.visitor.window_totals(),
            from_text.visitor.window_totals()
        );
        assert_eq!(from_parquet.report.input_bytes, parquet.len() as u64);
    }

    #[tokio::test]
    async fn large_parquet_objects_are_read_by_ranges_one_row_group_at_a_time() {
        // 54 columns, of which the aggregation reads 16: most of the object is never fetched.
        let (text, parquet) = text_and_parquet_of(flowlog_synth::formats::V11_ALL);
        let objects = MemoryObjects::default();
        objects.put("logs", "a.log.gz", text, 1_700_000_000);
        objects.put("logs", "b.log.parquet", parquet.clone(), 1_700_000_000);
        let mut read = read_settings();
        read.parquet.ranged_above = 1024;
        let from_text = aggregate_object(&objects, &object("a.log.gz", None), &read, None)
            .await
            .unwrap();
        let before = objects.served();
        let from_parquet = aggregate_object(&objects, &object("b.log.parquet", None), &read, None)
            .await
            .unwrap();
        let served = objects.served() - before;
        // The footer, then per row group one merged read of its columns.
        assert_eq!(objects.range_reads(), 1 + 6);
        assert!(
            served < parquet.len() as u64,
            "{served} of {} bytes",
            parquet.len()
        );
        assert_eq!(
            from_parquet.report.input_bytes + 4,
            served,
            "4 bytes told it was Parquet"
        );
        assert_eq!(
            from_parquet.visitor.window_totals(),
            from_text.visitor.window_totals()
        );
        assert_eq!(
            from_parquet.visitor.summaries(),
            from_text.visitor.summaries()
        );
    }

    /// Replaces the object with a new version right after opening it.
    struct Replacing(MemoryObjects);

    impl ObjectSource for Replacing {
        async fn open(
            &self,
            bucket: &str,
            key: &str,
            version: Option<&str>,
        ) -> Result<OpenedObject, ObjectError> {
            let opened = self.0.open(bucket, key, version).await;
            self.0.put(bucket, key, b"new".to_vec(), 1_700_000_100);
            opened
        }

        async fn read_range(
            &self,
            bucket: &str,
            key: &str,
            pinned: Pinned<'_>,
            range: Range<u64>,
        ) -> Result<Bytes, ObjectError> {
            self.0.read_range(bucket, key, pinned, range).await
        }
    }

    #[tokio::test]
    async fn an_object_replaced_while_read_by_ranges_fails_for_a_retry() {
        let (_, parquet) = text_and_parquet();
        let objects = MemoryObjects::default();
        objects.put("logs", "b.parquet", parquet, 1_700_000_000);
        let mut read = read_settings();
        read.parquet.ranged_above = 1024;
        let error = aggregate_object(&Replacing(objects), &object("b.parquet", None), &read, None)
            .await
            .unwrap_err();
        assert!(matches!(error, ObjectError::Changed { .. }), "{error}");
        assert_eq!(error.retry(), Retry::Temporary);
    }

    #[tokio::test]
    async fn a_corrupt_parquet_object_fails_for_good_with_its_partial_counts() {
        let (_, mut parquet) = text_and_parquet();
        let middle = parquet.len() / 2;
        parquet[middle..middle + 2000].fill(0x33);
        let objects = MemoryObjects::default();
        objects.put("logs", "b.parquet", parquet, 1_700_000_000);
        for ranged_above in [1024, u64::MAX] {
            let mut read = read_settings();
            read.parquet.ranged_above = ranged_above;
            let error = aggregate_object(&objects, &object("b.parquet", None), &read, None)
                .await
                .unwrap_err();
            let ObjectError::Parquet { source, .. } = &error else {
                panic!("{error}")
            };
            assert!(
                matches!(source.kind, ParquetErrorKind::Corrupt(_)),
                "{error}"
            );
            assert!(
                source.partial.records > 0 && source.partial.records < 3_000,
                "{error}"
            );
            assert!(
                error
                    .to_string()
                    .starts_with("s3://logs/b.parquet: corrupt Parquet data"),
                "{error}"
            );
            assert_eq!(error.retry(), Retry::Permanent);
        }
    }
}
