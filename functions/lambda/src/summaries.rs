//! The shared state between the reader and the detector: each object version's summary
//! ([`flowlog_core::Summary`]: per-minute figures of the sources and targets above the floor),
//! written once and listed by time.
//!
//! A summary is named `summary/<bucket>/<object id>`: the bucket is the five minutes its first
//! minute falls in, the object id a digest of the object's bucket, key and entity tag. Created
//! if absent, so a redelivered or concurrently read object adds nothing; the detector merges
//! every summary of the minutes it judges, which makes it one verdict over all objects.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flowlog_core::Summary;
use serde::{Deserialize, Serialize};

use crate::digest::digest_128;
use crate::dynamo::MAX_BODY_BYTES;
use crate::object::ObjectMeta;
use crate::state::{Created, StateStore, StoreError};

/// Width of the time buckets summaries are filed under (seconds).
pub const BUCKET_SECS: i64 = 300;

/// How far before the minutes it judges the detector looks for summaries: an object's first
/// minute can precede its last by its capture windows (up to 10 minutes) and the 5 minutes of
/// records a delivery gathers.
pub const SPAN_SECS: i64 = 30 * 60;

/// Directory of the summaries.
const DIRECTORY: &str = "summary";

/// Version of the stored form.
const FORMAT: u32 = 1;

/// A summary as stored: where it came from, and the figures.
#[derive(Debug, Serialize, Deserialize)]
struct StoredSummary {
    format: u32,
    object: String,
    /// The account and region of the flow log, from its key.
    #[serde(default)]
    origin: Option<(String, String)>,
    summary: Summary,
}

/// The account and region of a key in the AWS flow-log layout
/// (`…AWSLogs/<account>/vpcflowlogs/<region>/…`, or the Hive-style
/// `aws-account-id=<account>/aws-service=vpcflowlogs/aws-region=<region>`).
pub fn flow_log_origin(key: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = key.split('/').collect();
    let at = parts.iter().position(|p| *p == "AWSLogs")?;
    let value = |part: Option<&&str>, hive: &str| {
        part.map(|p| p.strip_prefix(hive).unwrap_or(p).to_owned())
    };
    let account = value(parts.get(at + 1), "aws-account-id=")?;
    let service = value(parts.get(at + 2), "aws-service=")?;
    let region = value(parts.get(at + 3), "aws-region=")?;
    (service == "vpcflowlogs" && is_account_id(&account)).then_some((account, region))
}

/// Whether `text` is an AWS account id: 12 digits.
pub(crate) fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// What the reader asks the detector once a summary is written: a verdict over minutes
/// `[from, until)` (the detector widens it to everything still open).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectRequest {
    /// The summary's first minute.
    pub from: i64,
    /// The end of its last minute.
    pub until: i64,
    /// The object it came from, for logs.
    pub object: String,
}

/// What writing an object's summary did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Nothing of the object was above the floor: nothing to share.
    Empty,
    /// This call wrote it.
    Created,
    /// It was already there (a redelivery, a concurrent read).
    Exists,
}

impl Written {
    /// `empty`, `created`, `exists`: for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Written::Empty => "empty",
            Written::Created => "created",
            Written::Exists => "exists",
        }
    }
}

/// Summaries merged for a verdict.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Everything merged, cut to the minutes asked for.
    pub summary: Summary,
    /// Summaries merged.
    pub objects: usize,
    /// Summaries that could not be decoded (skipped, logged).
    pub unreadable: usize,
    /// The accounts and regions of the flow logs merged (from their keys).
    pub origins: std::collections::BTreeSet<(String, String)>,
}

/// The summaries in a state store.
#[derive(Debug, Clone)]
pub struct SummaryLog<S> {
    store: S,
}

impl<S: StateStore> SummaryLog<S> {
    /// The summaries in `store`.
    pub fn new(store: S) -> SummaryLog<S> {
        SummaryLog { store }
    }

    /// Writes `object`'s summary once, with the account and region of its flow logs when known
    /// ([`flow_log_origin`] for an S3 key): a summary larger than a record can be is cut to its
    /// heaviest sources and targets. Also the request to send the detector, unless empty.
    pub async fn put(
        &self,
        object: &ObjectMeta,
        origin: Option<(String, String)>,
        summary: Summary,
    ) -> Result<(Written, Option<DetectRequest>), StoreError> {
        let Some((first, last)) = summary.minute_range() else {
            return Ok((Written::Empty, None));
        };
        let request = DetectRequest {
            from: first,
            until: last + flowlog_core::WINDOW_SECS,
            object: object.url(),
        };
        let name = format!("{DIRECTORY}/{}/{}", bucket_of(first), object_id(object));
        let body = encode(object.url(), origin, summary, MAX_BODY_BYTES);
        let written = match self.store.create(&name, body).await? {
            Created::Created(_) => Written::Created,
            Created::Exists => Written::Exists,
        };
        Ok((written, Some(request)))
    }

    /// Every summary with minutes in `[from, until)`, merged and cut to those minutes.
    pub async fn load(&self, from: i64, until: i64) -> Result<Loaded, StoreError> {
        let mut loaded = Loaded::default();
        let mut bucket = bucket_of(from - SPAN_SECS);
        while bucket < until {
            for (name, stored) in self.store.list(&format!("{DIRECTORY}/{bucket}")).await? {
                match decode(&stored.body) {
                    Ok(part) => {
                        loaded.summary.merge(&part.summary);
                        loaded.objects += 1;
                        loaded.origins.extend(part.origin);
                    }
                    Err(reason) => {
                        tracing::warn!(summary = %self.store.locate(&name), reason, "unreadable summary skipped");
                        loaded.unreadable += 1;
                    }
                }
            }
            bucket += BUCKET_SECS;
        }
        loaded.summary.retain_minutes(from, until);
        Ok(loaded)
    }
}

fn bucket_of(minute: i64) -> i64 {
    minute.div_euclid(BUCKET_SECS) * BUCKET_SECS
}

/// A 128-bit digest ([`digest_128`]) of the object version: keys run to 1,024 bytes, more than
/// a DynamoDB sort key holds once bucket and tag are added.
fn object_id(object: &ObjectMeta) -> String {
    digest_128([
        object.bucket.as_str(),
        object.key.as_str(),
        object.etag.as_deref().unwrap_or(""),
    ])
}

/// gzip of the JSON, halving the sources and targets kept until it fits `max_bytes`.
fn encode(
    mut object: String,
    origin: Option<(String, String)>,
    mut summary: Summary,
    max_bytes: usize,
) -> Vec<u8> {
    loop {
        let stored = StoredSummary {
            format: FORMAT,
            object,
            origin: origin.clone(),
            summary,
        };
        let json =
            serde_json::to_vec(&stored).expect("a summary serializes: string keys, plain fields");
        let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::fast());
        gz.write_all(&json).expect("writing to memory");
        let body = gz.finish().expect("writing to memory");
        if body.len() <= max_bytes || stored.summary.is_empty() {
            return body;
        }
        let StoredSummary {
            object: o,
            summary: mut s,
            ..
        } = stored;
        let (sources, targets) = (s.sources.len() / 2, s.targets.len() / 2);
        tracing::warn!(object = %o, bytes = body.len(), max_bytes, sources, targets, "summary over its size budget: keeping the heaviest half");
        s.keep_heaviest(sources, targets);
        (object, summary) = (o, s);
    }
}

fn decode(body: &[u8]) -> Result<StoredSummary, String> {
    let mut json = Vec::new();
    GzDecoder::new(body)
        .read_to_end(&mut json)
        .map_err(|e| format!("not gzip: {e}"))?;
    let stored: StoredSummary =
        serde_json::from_slice(&json).map_err(|e| format!("not a summary: {e}"))?;
    if stored.format != FORMAT {
        return Err(format!(
            "stored form {}, this build reads {FORMAT}",
            stored.format
        ));
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use flowlog_core::{AggregateOptions, Aggregator, Floor, ScanOptions, scan};

    use super::*;
    use crate::fakes::MemoryStore;

    const HEADER: &str = "interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action tcp-flags flow-direction log-status";
    const T0: i64 = 1_700_000_040;

    fn summary(source_count: u32, flows: u32, minute: i64) -> Summary {
        let mut text = format!("{HEADER}\n");
        for s in 0..source_count {
            for i in 0..flows {
                let t = T0 + minute * 60 + i64::from(i % 50);
                text.push_str(&format!(
                    "eni-1 198.51.{}.{} 10.0.0.5 {} 443 6 1 44 {t} {} ACCEPT 2 ingress OK\n",
                    s / 250,
                    s % 250,
                    20000 + i,
                    t + 1
                ));
            }
        }
        let mut a = Aggregator::new(AggregateOptions::default());
        scan(text.as_bytes(), &ScanOptions::default(), &mut a).unwrap();
        a.summary(&Floor::NONE)
    }

    fn meta(key: &str, etag: &str) -> ObjectMeta {
        ObjectMeta {
            bucket: "logs".into(),
            key: key.into(),
            etag: Some(etag.into()),
            size: None,
            last_modified: None,
        }
    }

    #[tokio::test]
    async fn an_object_version_is_written_once_and_summaries_merge_by_time() {
        let log = SummaryLog::new(MemoryStore::default());
        let put = async |key: &str, etag: &str, summary: Summary| {
            log.put(&meta(key, etag), flow_log_origin(key), summary)
                .await
                .unwrap()
        };
        let (written, request) = put("a", "1", summary(1, 30, 0)).await;
        assert_eq!(written, Written::Created);
        let request = request.unwrap();
        assert_eq!((request.from, request.until), (T0, T0 + 60));
        assert_eq!(request.object, "s3://logs/a");
        assert_eq!(put("a", "1", summary(1, 30, 0)).await.0, Written::Exists);
        // Another version of the same key is another object.
        assert_eq!(put("a", "2", summary(1, 30, 0)).await.0, Written::Created);
        assert_eq!(put("b", "1", summary(1, 30, 20)).await.0, Written::Created);
        assert_eq!(
            put("c", "1", Summary::default()).await,
            (Written::Empty, None)
        );

        let loaded = log.load(T0, T0 + 60).await.unwrap();
        assert_eq!(
            (loaded.objects, loaded.unreadable),
            (2, 0),
            "b is in a later bucket"
        );
        let windows = loaded.summary.sources.values().next().unwrap().windows();
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].1.flows, 60, "two versions, each counted once");
        let later = log.load(T0 + 20 * 60, T0 + 21 * 60).await.unwrap();
        assert_eq!(later.summary.sources.len(), 1);
        assert_eq!(log.load(T0 + 3600, T0 + 7200).await.unwrap().objects, 0);
    }

    #[tokio::test]
    async fn an_unreadable_summary_is_skipped_and_counted() {
        let store = MemoryStore::default();
        let log = SummaryLog::new(store.clone());
        log.put(&meta("a", "1"), None, summary(1, 30, 0))
            .await
            .unwrap();
        store
            .create(
                &format!("summary/{}/junk", bucket_of(T0)),
                b"not gzip".to_vec(),
            )
            .await
            .unwrap();
        let loaded = log.load(T0, T0 + 60).await.unwrap();
        assert_eq!((loaded.objects, loaded.unreadable), (1, 1));
    }

    #[test]
    fn a_summary_over_its_budget_keeps_its_heaviest_sources() {
        let big = summary(400, 3, 0);
        let (omitted, big_targets) = (big.omitted, big.targets.len());
        let whole = encode("s3://logs/a".into(), None, big.clone(), usize::MAX);
        let cut = encode("s3://logs/a".into(), None, big, whole.len() / 3);
        assert!(cut.len() <= whole.len() / 3);
        let decoded = decode(&cut).unwrap();
        assert!(decoded.summary.sources.len() < 400 && !decoded.summary.sources.is_empty());
        let cut_targets = (big_targets - decoded.summary.targets.len()) as u64;
        assert_eq!(
            decoded.summary.sources.len() as u64 + decoded.summary.omitted - omitted - cut_targets,
            400
        );
    }

    #[test]
    fn object_ids_are_stable_and_tell_versions_apart() {
        assert_eq!(object_id(&meta("k", "1")), object_id(&meta("k", "1")));
        assert_ne!(object_id(&meta("k", "1")), object_id(&meta("k", "2")));
        assert_ne!(object_id(&meta("k1", "")), object_id(&meta("k", "1")));
        assert_eq!(object_id(&meta("k", "1")).len(), 32);
        // Pinned: summaries are stored under these ids; another value would orphan them.
        assert_eq!(
            object_id(&meta("k", "1")),
            "519b96e5ebd089a156f4ad3825e96fbe"
        );
        let unversioned = ObjectMeta {
            etag: None,
            ..meta(
                "AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/01/01/x.log.gz",
                "",
            )
        };
        assert_eq!(object_id(&unversioned), "12ae5944050ccd74fe3d148f183f0e4b");
    }

    #[test]
    fn account_and_region_come_from_the_flow_log_key_layout() {
        let origin = |key: &str| flow_log_origin(key);
        assert_eq!(
            origin("p/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2025/01/01/x.log.gz"),
            Some(("123456789012".into(), "eu-west-1".into()))
        );
        assert_eq!(
            origin(
                "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-2/year=2025/x"
            ),
            Some(("123456789012".into(), "us-east-2".into()))
        );
        assert_eq!(origin("somewhere/else.log.gz"), None);
        assert_eq!(
            origin("AWSLogs/12345/vpcflowlogs/us-east-1/x"),
            None,
            "not an account id"
        );
    }

    #[tokio::test]
    async fn loading_names_the_accounts_and_regions_merged() {
        let log = SummaryLog::new(MemoryStore::default());
        let key = "AWSLogs/123456789012/vpcflowlogs/eu-west-1/2025/01/01/x.log.gz";
        log.put(&meta(key, "1"), flow_log_origin(key), summary(1, 30, 0))
            .await
            .unwrap();
        let loaded = log.load(T0, T0 + 60).await.unwrap();
        let want: std::collections::BTreeSet<_> =
            [("123456789012".to_owned(), "eu-west-1".to_owned())].into();
        assert_eq!(loaded.origins, want);
    }
}
