//! Exactly-once effects on at-least-once input: which metric batches of an object were
//! published, kept in a [`StateStore`] (S3 with conditional writes in the function).
//!
//! Per object version (`bucket/key/etag`) the ledger holds a [`Lease`] (who is publishing, for
//! [`LEASE_TTL_SECS`], renewed while publishing), one *done* marker per published batch named by
//! its position and content, and a *complete* marker. Only the lease holder publishes; a racing
//! invocation is told to retry later; a retry after a failure publishes only the batches
//! without a done marker; a redelivery after completion does nothing. A batch's content comes
//! from the object alone (its windows, and its arrival for self-telemetry), so a retry,
//! whenever it runs, names the same batches.
//!
//! Order per batch: publish, then mark. A crash between the two (a window of one request)
//! publishes that batch again on the retry. For metrics we accept that rare duplicate rather
//! than risk losing the batch: marking first would turn the same crash into silently missing
//! traffic. Alerts choose the other way (flood-alert claims an incident's notice before it
//! publishes, and a retry publishes a pending notice again under the same alert id). Any failure releases
//! the lease, so the retry continues at once; after a crash the lease expires within
//! [`LEASE_TTL_SECS`], before Lambda's first retry (about a minute later) arrives.

use std::sync::atomic::{AtomicU64, Ordering};

use flowlog_lambda::{
    Acquired, Clock, FieldDigest, Lease, LeaseError, ObjectMeta, StateStore, StoreError,
};

use crate::cloudwatch::{MetricsSink, PublishError};
use crate::metrics::Datum;

/// How long a publish lease lasts unless renewed. Its holder renews it before each batch once
/// a third of it has passed; Lambda retries a failed asynchronous invocation after about one
/// and then two more minutes, so a retry after a crash always finds it expired.
pub const LEASE_TTL_SECS: i64 = 30;

/// What a publication did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Every batch of this object version had been published before: nothing was sent.
    AlreadyComplete,
    /// The batches not yet published were sent.
    Sent {
        /// Requests sent now.
        sent: usize,
        /// Batches found published by an earlier attempt.
        already: usize,
    },
}

/// Why an object's batches were not all published.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A request failed after the SDK's retries; earlier batches of the object were published.
    #[error("batch {batch} of {batches} failed ({published} published before it): {source}")]
    Publish {
        /// 1-based index of the failed batch.
        batch: usize,
        /// Batches of the object.
        batches: usize,
        /// Batches published before the failure.
        published: usize,
        /// Why.
        #[source]
        source: PublishError,
    },
    /// Another invocation is publishing this object right now.
    #[error("another invocation holds the publish lease until {until}; retry later")]
    Busy {
        /// When the other lease expires unless renewed (Unix seconds).
        until: i64,
    },
    /// This invocation stalled past its lease and another took the object over.
    #[error("{0}; retry later")]
    LeaseLost(LeaseError),
    /// The ledger could not be read or written.
    #[error("publish ledger: {0}")]
    Store(#[from] StoreError),
}

impl From<LeaseError> for LedgerError {
    fn from(error: LeaseError) -> Self {
        match error {
            LeaseError::Store(e) => LedgerError::Store(e),
            lost @ LeaseError::Lost { .. } => LedgerError::LeaseLost(lost),
        }
    }
}

/// The ledger of every object, in a state store.
#[derive(Debug)]
pub struct Ledger<S> {
    store: S,
    clock: Box<dyn Clock>,
}

async fn put<K: MetricsSink>(
    sink: &K,
    namespace: &str,
    batches: &[Vec<Datum>],
    index: usize,
    batch: &[Datum],
) -> Result<(), LedgerError> {
    sink.put(namespace, batch)
        .await
        .map_err(|source| LedgerError::Publish {
            batch: index + 1,
            batches: batches.len(),
            published: index,
            source,
        })
}

impl<S: StateStore> Ledger<S> {
    /// A ledger in `store`, its leases timed by `clock`.
    pub fn new(store: S, clock: impl Clock + 'static) -> Ledger<S> {
        Ledger {
            store,
            clock: Box::new(clock),
        }
    }

    /// The time on the ledger's clock (Unix seconds): when publishing happens.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    fn base(bucket: &str, key: &str, etag: &str) -> String {
        format!(
            "{bucket}/{key}/{}/",
            if etag.is_empty() { "no-etag" } else { etag }
        )
    }

    /// Whether this object version was completely published (a cheap check before reading it).
    pub async fn is_complete(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
    ) -> Result<bool, StoreError> {
        let complete = format!("{}complete", Self::base(bucket, key, etag));
        Ok(self.store.get(&complete).await?.is_some())
    }

    /// Publishes the batches of `object` not yet published, under the object's lease, then
    /// marks the object complete. Any failure gives the lease up for the retry.
    pub async fn publish<K: MetricsSink>(
        &self,
        object: &ObjectMeta,
        sink: &K,
        namespace: &str,
        batches: &[Vec<Datum>],
    ) -> Result<Published, LedgerError> {
        let base = Self::base(
            &object.bucket,
            &object.key,
            object.etag.as_deref().unwrap_or(""),
        );
        if self.store.get(&format!("{base}complete")).await?.is_some() {
            return Ok(Published::AlreadyComplete);
        }
        let lease_name = format!("{base}lease");
        let holder = holder_id(self.clock.now());
        let acquired = Lease::acquire(
            &self.store,
            self.clock.as_ref(),
            &lease_name,
            &holder,
            LEASE_TTL_SECS,
        )
        .await?;
        let mut lease = match acquired {
            Acquired::Held(lease) => lease,
            Acquired::Busy { until } => return Err(LedgerError::Busy { until }),
        };
        let result = self
            .publish_held(&mut lease, &base, sink, namespace, batches)
            .await;
        if result.is_err()
            && let Err(e) = lease.release().await
        {
            tracing::warn!(lease = %self.store.locate(&lease_name), error = %e, "lease not released: it expires by itself");
        }
        result
    }

    async fn publish_held<K: MetricsSink>(
        &self,
        lease: &mut Lease<'_, S>,
        base: &str,
        sink: &K,
        namespace: &str,
        batches: &[Vec<Datum>],
    ) -> Result<Published, LedgerError> {
        let mut already = 0;
        for (i, batch) in batches.iter().enumerate() {
            let done = format!(
                "{base}batch-{}-of-{}-{:016x}",
                i + 1,
                batches.len(),
                fingerprint(batch)
            );
            if self.store.get(&done).await?.is_some() {
                already += 1;
                continue;
            }
            lease.renew_if_due().await?;
            put(sink, namespace, batches, i, batch).await?;
            self.store.create(&done, Vec::new()).await?;
        }
        self.store
            .create(&format!("{base}complete"), Vec::new())
            .await?;
        Ok(Published::Sent {
            sent: batches.len() - already,
            already,
        })
    }
}

/// A lease holder's name: this process, the time, and a sequence number.
fn holder_id(now: i64) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}-{now}-{n}", std::process::id())
}

/// A stable 64-bit digest ([`FieldDigest`]) of a batch's content, so a batch that changes
/// (other settings) is never mistaken for one published before.
fn fingerprint(batch: &[Datum]) -> u64 {
    let mut digest = FieldDigest::default();
    for d in batch {
        digest.field(d.name.as_bytes());
        for dim in &d.dimensions {
            digest.field(dim.name.as_bytes());
            digest.field(dim.value.as_bytes());
        }
        digest.field(&d.timestamp.to_le_bytes());
        digest.field(&d.value.to_bits().to_le_bytes());
        digest.field(d.unit.as_str().as_bytes());
    }
    digest.finish()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use flowlog_lambda::fakes::{ManualClock, MemoryStore};

    use super::*;
    use crate::metrics::{Dimension, Unit};

    fn datum(value: f64) -> Datum {
        Datum {
            name: "Flows",
            dimensions: vec![Dimension {
                name: "SourceIp",
                value: "192.0.2.1".into(),
            }],
            timestamp: 1_700_000_040,
            value,
            unit: Unit::Count,
        }
    }

    fn batches(n: usize) -> Vec<Vec<Datum>> {
        (0..n).map(|i| vec![datum(i as f64)]).collect()
    }

    fn object() -> ObjectMeta {
        ObjectMeta {
            bucket: "logs".into(),
            key: "AWSLogs/1/vpcflowlogs/x.log.gz".into(),
            etag: Some("e1".into()),
            size: None,
            last_modified: None,
        }
    }

    const LEASE: &str = "logs/AWSLogs/1/vpcflowlogs/x.log.gz/e1/lease";

    /// Accepts batches, except that call `fail` fails and call `hang` never returns; each call
    /// moves `clock` by `secs_per_call`, then on call `rival.0` a rival tries to take the lease
    /// and `rival_held` records whether it did.
    #[derive(Default)]
    struct TestSink {
        calls: Mutex<usize>,
        accepted: Mutex<Vec<Vec<Datum>>>,
        fail: Option<usize>,
        hang: Option<usize>,
        secs_per_call: i64,
        clock: ManualClock,
        rival: Option<(usize, MemoryStore)>,
        rival_held: Mutex<Option<bool>>,
    }

    impl TestSink {
        fn accepted(&self) -> Vec<Vec<Datum>> {
            self.accepted.lock().unwrap().clone()
        }
    }

    impl MetricsSink for TestSink {
        async fn put(&self, namespace: &str, batch: &[Datum]) -> Result<(), PublishError> {
            let call = {
                let mut calls = self.calls.lock().unwrap();
                *calls += 1;
                *calls
            };
            self.clock.advance(self.secs_per_call);
            if let Some((at, store)) = &self.rival
                && *at == call
            {
                let rival = Lease::acquire(store, &self.clock, LEASE, "rival", LEASE_TTL_SECS);
                let held = matches!(rival.await.unwrap(), Acquired::Held(_));
                *self.rival_held.lock().unwrap() = Some(held);
            }
            if self.hang == Some(call) {
                std::future::pending::<()>().await;
            }
            if self.fail == Some(call) {
                return Err(PublishError {
                    namespace: namespace.into(),
                    message: "InternalFailure: injected".into(),
                });
            }
            self.accepted.lock().unwrap().push(batch.to_vec());
            Ok(())
        }
    }

    fn ledger(store: &MemoryStore, clock: &ManualClock) -> Ledger<MemoryStore> {
        Ledger::new(store.clone(), clock.clone())
    }

    #[tokio::test]
    async fn a_failed_completion_write_releases_the_lease_and_the_retry_sends_nothing_again() {
        let (store, clock) = (MemoryStore::default(), ManualClock::at(1_000));
        let sink = TestSink::default();
        let all = batches(3);
        store.fail_writes("/complete", 1);
        let error = ledger(&store, &clock)
            .publish(&object(), &sink, "Ns", &all)
            .await
            .unwrap_err();
        assert!(matches!(error, LedgerError::Store(_)), "{error}");
        clock.advance(90);
        let retry = ledger(&store, &clock)
            .publish(&object(), &sink, "Ns", &all)
            .await
            .unwrap();
        assert_eq!(
            retry,
            Published::Sent {
                sent: 0,
                already: 3
            }
        );
        assert_eq!(sink.accepted(), all);
    }

    #[tokio::test]
    async fn a_crash_mid_publication_is_followed_by_exactly_one_complete_publication() {
        let (store, clock) = (MemoryStore::default(), ManualClock::at(1_000));
        let all = batches(4);
        let crashing = TestSink {
            hang: Some(3),
            ..TestSink::default()
        };
        let (ledger, meta) = (ledger(&store, &clock), object());
        // The invocation dies during its third request: nothing is released.
        let crashed = tokio::time::timeout(
            Duration::from_millis(50),
            ledger.publish(&meta, &crashing, "Ns", &all),
        );
        assert!(crashed.await.is_err(), "the publication hung");
        assert_eq!(crashing.accepted(), all[..2]);
        let retry = TestSink::default();
        // A retry within the lease is told to come back; Lambda's first retry, a minute later,
        // finds the lease expired and publishes the rest once.
        let busy = ledger.publish(&object(), &retry, "Ns", &all).await;
        assert!(
            matches!(busy, Err(LedgerError::Busy { until: 1_030 })),
            "{busy:?}"
        );
        clock.advance(60);
        let done = ledger.publish(&object(), &retry, "Ns", &all).await.unwrap();
        assert_eq!(
            done,
            Published::Sent {
                sent: 2,
                already: 2
            }
        );
        assert_eq!([crashing.accepted(), retry.accepted()].concat(), all);
        let again = ledger.publish(&object(), &retry, "Ns", &all).await.unwrap();
        assert_eq!(again, Published::AlreadyComplete);
    }

    #[tokio::test]
    async fn a_failed_publish_releases_the_lease_for_an_immediate_retry() {
        let (store, clock) = (MemoryStore::default(), ManualClock::at(1_000));
        let all = batches(3);
        let failing = TestSink {
            fail: Some(2),
            ..TestSink::default()
        };
        let ledger = ledger(&store, &clock);
        let error = ledger
            .publish(&object(), &failing, "Ns", &all)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("batch 2 of 3 failed (1 published before it)"),
            "{error}"
        );
        let retry = TestSink::default();
        let done = ledger.publish(&object(), &retry, "Ns", &all).await.unwrap();
        assert_eq!(
            done,
            Published::Sent {
                sent: 2,
                already: 1
            }
        );
        assert_eq!([failing.accepted(), retry.accepted()].concat(), all);
    }

    #[tokio::test]
    async fn a_slow_publication_keeps_its_lease_by_renewing_it() {
        let (store, clock) = (MemoryStore::default(), ManualClock::at(1_000));
        let slow = TestSink {
            secs_per_call: 12,
            clock: clock.clone(),
            rival: Some((5, store.clone())),
            ..TestSink::default()
        };
        let all = batches(5);
        let done = ledger(&store, &clock)
            .publish(&object(), &slow, "Ns", &all)
            .await
            .unwrap();
        assert_eq!(
            done,
            Published::Sent {
                sent: 5,
                already: 0
            }
        );
        assert_eq!(
            *slow.rival_held.lock().unwrap(),
            Some(false),
            "60 s into a 30 s lease, the renewed lease still stood"
        );
    }

    #[tokio::test]
    async fn a_publisher_whose_lease_was_taken_over_stops_before_its_next_batch() {
        let (store, clock) = (MemoryStore::default(), ManualClock::at(1_000));
        let stalled = TestSink {
            secs_per_call: LEASE_TTL_SECS + 10,
            clock: clock.clone(),
            rival: Some((1, store.clone())),
            ..TestSink::default()
        };
        let all = batches(3);
        let error = ledger(&store, &clock)
            .publish(&object(), &stalled, "Ns", &all)
            .await
            .unwrap_err();
        assert_eq!(*stalled.rival_held.lock().unwrap(), Some(true));
        assert!(matches!(error, LedgerError::LeaseLost(_)), "{error}");
        assert!(error.to_string().contains("retry later"), "{error}");
        assert_eq!(stalled.accepted(), all[..1]);
    }

    #[test]
    fn the_fingerprint_is_stable_and_sees_every_field() {
        assert_eq!(fingerprint(&[datum(1.0)]), fingerprint(&[datum(1.0)]));
        assert_ne!(fingerprint(&[datum(1.0)]), fingerprint(&[datum(2.0)]));
        let mut other = datum(1.0);
        other.dimensions[0].value = "192.0.2.2".into();
        assert_ne!(fingerprint(&[datum(1.0)]), fingerprint(&[other]));
        // Pinned: a different value after a change would orphan every ledger in S3.
        assert_eq!(
            format!("{:016x}", fingerprint(&[datum(1.0)])),
            "48a81ee84a3a8dda"
        );
    }
}
