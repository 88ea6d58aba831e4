//! Exactly-once effects on at-least-once input: which metric batches of an object were
//! published, kept in S3 with conditional writes.
//!
//! Per object version (`bucket/key/etag`) the ledger holds a *lease* (who is publishing, until
//! when), one *done* marker per published batch, and a *complete* marker. Only the lease holder
//! publishes; a racing invocation is told to retry later; a retry after a partial failure
//! publishes only the batches without a done marker; a redelivery after completion does nothing.
//!
//! Order per batch: publish, then mark. A crash between the two (a window of one S3 request)
//! publishes that batch again on the retry. For metrics we accept that rare duplicate rather
//! than risk losing the batch: marking first would turn the same crash into silently missing
//! traffic. Alerts choose the other way (see the flood-alert cooldown).

use flowlog_lambda::{Created, MarkerError, MarkerStore, Replaced};
use serde::{Deserialize, Serialize};

use crate::metrics::Datum;

/// The ledger of every object, under a prefix of a bucket.
#[derive(Debug, Clone)]
pub struct Ledger {
    store: MarkerStore,
}

#[derive(Debug, Serialize, Deserialize)]
struct Lease {
    holder: String,
    expires_at: i64,
}

/// What an invocation may do with an object.
#[derive(Debug)]
pub enum Start<'a> {
    /// Every batch of this object version was published already.
    Complete,
    /// Another invocation holds the lease until `until` (Unix seconds): retry later.
    Busy {
        /// When the other lease expires.
        until: i64,
    },
    /// This invocation holds the lease: publish what is missing.
    Publish(ObjectLedger<'a>),
}

/// The ledger of one object version, held under a lease.
#[derive(Debug)]
pub struct ObjectLedger<'a> {
    store: &'a MarkerStore,
    base: String,
    lease_etag: String,
}

impl Ledger {
    /// A ledger in `store`.
    pub fn new(store: MarkerStore) -> Ledger {
        Ledger { store }
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
    ) -> Result<bool, MarkerError> {
        Ok(self
            .store
            .get(&format!("{}complete", Self::base(bucket, key, etag)))
            .await?
            .is_some())
    }

    /// Takes the lease of an object version until `expires_at`, unless it is complete or leased.
    pub async fn start(
        &self,
        (bucket, key, etag): (&str, &str, &str),
        holder: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<Start<'_>, MarkerError> {
        let base = Self::base(bucket, key, etag);
        if self.store.get(&format!("{base}complete")).await?.is_some() {
            return Ok(Start::Complete);
        }
        let lease_name = format!("{base}lease");
        let body = serde_json::to_vec(&Lease {
            holder: holder.to_owned(),
            expires_at,
        })
        .expect("serialises");
        let won = match self.store.create(&lease_name, body.clone()).await? {
            Created::Created(etag) => Some(etag),
            Created::Exists => match self.store.get(&lease_name).await? {
                None => None,
                Some(current) => {
                    let lease: Option<Lease> = serde_json::from_slice(&current.body).ok();
                    match lease {
                        Some(l) if now < l.expires_at => {
                            return Ok(Start::Busy {
                                until: l.expires_at,
                            });
                        }
                        _ => match self.store.replace(&lease_name, &current.etag, body).await? {
                            Replaced::Replaced(etag) => Some(etag),
                            Replaced::Conflict => None,
                        },
                    }
                }
            },
        };
        Ok(match won {
            Some(lease_etag) => Start::Publish(ObjectLedger {
                store: &self.store,
                base,
                lease_etag,
            }),
            None => Start::Busy { until: now + 60 },
        })
    }
}

impl ObjectLedger<'_> {
    fn batch_name(&self, index: usize, count: usize, batch: &[Datum]) -> String {
        format!(
            "{}batch-{}-of-{count}-{:016x}",
            self.base,
            index + 1,
            fingerprint(batch)
        )
    }

    /// Whether batch `index` of `count` (with exactly this content) was published.
    pub async fn published(
        &self,
        index: usize,
        count: usize,
        batch: &[Datum],
    ) -> Result<bool, MarkerError> {
        Ok(self
            .store
            .get(&self.batch_name(index, count, batch))
            .await?
            .is_some())
    }

    /// Records that batch `index` of `count` was published.
    pub async fn mark(
        &self,
        index: usize,
        count: usize,
        batch: &[Datum],
    ) -> Result<(), MarkerError> {
        self.store
            .create(&self.batch_name(index, count, batch), Vec::new())
            .await
            .map(|_| ())
    }

    /// Records that every batch was published: later deliveries skip the object.
    pub async fn complete(&self) -> Result<(), MarkerError> {
        self.store
            .create(&format!("{}complete", self.base), Vec::new())
            .await
            .map(|_| ())
    }

    /// Gives the lease up (after a failure), so a retry may take it at once.
    pub async fn release(&self) -> Result<(), MarkerError> {
        let body = serde_json::to_vec(&Lease {
            holder: String::new(),
            expires_at: 0,
        })
        .expect("serialises");
        self.store
            .replace(&format!("{}lease", self.base), &self.lease_etag, body)
            .await
            .map(|_| ())
    }
}

/// A stable 64-bit FNV-1a digest of a batch's content, so a batch that changes (other settings)
/// is never mistaken for one published before.
fn fingerprint(batch: &[Datum]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        hash = (hash ^ 0xff).wrapping_mul(0x0100_0000_01b3);
    };
    for d in batch {
        eat(d.name.as_bytes());
        for dim in &d.dimensions {
            eat(dim.name.as_bytes());
            eat(dim.value.as_bytes());
        }
        eat(&d.timestamp.to_le_bytes());
        eat(&d.value.to_bits().to_le_bytes());
        eat(d.unit.as_str().as_bytes());
    }
    hash
}

#[cfg(test)]
mod tests {
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
