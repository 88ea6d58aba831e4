//! Streaming one object into the core, never buffering it whole, through the object-read port.

use std::future::Future;
use std::io::Read;
use std::time::{Duration, Instant, SystemTime};

use flowlog_core::{Aggregator, RecordVisitor, ScanError, ScanOptions, ScanReport};

use crate::settings::ReadSettings;
use flowlog_events::ObjectRef;

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

impl ObjectMeta {
    /// `s3://bucket/key`.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
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
    /// Time from the GetObject call to the end of the scan.
    pub elapsed: Duration,
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
    let aggregator = Aggregator::with_budget(read.aggregate, read.memory);
    scan_object(source, object, &options, aggregator).await
}

/// Reads `object` from `source` and runs `visitor` over its records on a blocking thread (the
/// scanner itself uses a second thread to inflate). Tries the event's fallback key if the key
/// does not exist.
pub async fn scan_object<O: ObjectSource, V>(
    source: &O,
    object: &ObjectRef,
    options: &ScanOptions,
    mut visitor: V,
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
    let (reader, options) = (opened.body, options.clone());
    let scanned = tokio::task::spawn_blocking(move || {
        let result = flowlog_core::scan(reader, &options, &mut visitor);
        (visitor, result)
    })
    .await;
    let (visitor, result) = match scanned {
        Ok(done) => done,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    };
    match result {
        Ok(report) => Ok(ObjectScan {
            visitor,
            report,
            meta,
            elapsed: started.elapsed(),
        }),
        Err(source) => Err(ObjectError::Scan {
            bucket: meta.bucket,
            key: meta.key,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::MemoryObjects;
    use flowlog_core::MemoryBudget;

    fn object(key: &str, fallback: Option<&str>) -> ObjectRef {
        ObjectRef {
            bucket: "logs".into(),
            key: key.into(),
            fallback_key: fallback.map(str::to_owned),
            size: None,
            etag: None,
            version_id: None,
            sequencer: None,
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
}
