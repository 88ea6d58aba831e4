//! A lease: the right, for a short time, to do one job that must not be done twice at once.
//!
//! One record per job in a [`StateStore`] holds who has the lease and until when. Taking it is a
//! compare-and-swap: create the record, or replace one that has expired (its holder died or
//! gave it up). The holder renews it while it works, each renewal again a compare-and-swap on
//! the version it last wrote, so a holder that lost its lease (it stalled past the expiry and
//! someone took over) finds out at its next renewal instead of carrying on. Leases are short so
//! that a retry after a crash finds the lease expired.

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::state::{Created, Replaced, StateStore, StoreError, Version};

/// Compare-and-swap races retried before answering busy.
const ATTEMPTS: usize = 3;

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    holder: String,
    expires_at: i64,
}

impl Record {
    fn body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a lease record serialises")
    }
}

/// A lease that is held; renew it while working, release it when giving up.
#[derive(Debug)]
pub struct Lease<'a, S> {
    store: &'a S,
    clock: &'a dyn Clock,
    name: String,
    holder: String,
    ttl: i64,
    version: Version,
    expires_at: i64,
}

/// Outcome of [`Lease::acquire`].
#[derive(Debug)]
pub enum Acquired<'a, S> {
    /// This caller holds the lease.
    Held(Lease<'a, S>),
    /// Someone else holds it until `until` (Unix seconds).
    Busy {
        /// When the other holder's lease expires, unless renewed.
        until: i64,
    },
}

/// A held lease could not be kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// Another holder took the lease over (this one let it expire).
    #[error("the lease {location} was taken over by another invocation")]
    Lost {
        /// The lease record.
        location: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<'a, S: StateStore> Lease<'a, S> {
    /// Takes lease `name` for `ttl` seconds as `holder`, unless someone else holds it.
    pub async fn acquire(
        store: &'a S,
        clock: &'a dyn Clock,
        name: &str,
        holder: &str,
        ttl: i64,
    ) -> Result<Acquired<'a, S>, StoreError> {
        // Told when every attempt lost a race: a new lease lasts this long at most.
        let until = clock.now() + ttl;
        for _ in 0..ATTEMPTS {
            let now = clock.now();
            let record = Record {
                holder: holder.to_owned(),
                expires_at: now + ttl,
            };
            let won = match store.create(name, record.body()).await? {
                Created::Created(version) => Some(version),
                Created::Exists => {
                    let Some(current) = store.get(name).await? else {
                        continue; // removed in between: try to create it again
                    };
                    // An unreadable record is one nobody can renew: take it over too.
                    match serde_json::from_slice::<Record>(&current.body) {
                        Ok(other) if other.expires_at > now => {
                            return Ok(Acquired::Busy {
                                until: other.expires_at,
                            });
                        }
                        _ => match store.replace(name, &current.version, record.body()).await? {
                            Replaced::Replaced(version) => Some(version),
                            Replaced::Conflict => None,
                        },
                    }
                }
            };
            if let Some(version) = won {
                return Ok(Acquired::Held(Lease {
                    store,
                    clock,
                    name: name.to_owned(),
                    holder: holder.to_owned(),
                    ttl,
                    version,
                    expires_at: record.expires_at,
                }));
            }
        }
        Ok(Acquired::Busy { until })
    }

    /// When the lease expires unless renewed (Unix seconds).
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// Extends the lease to `ttl` seconds from now; fails with [`LeaseError::Lost`] if someone
    /// else wrote the record since this holder's last write.
    pub async fn renew(&mut self) -> Result<(), LeaseError> {
        let record = Record {
            holder: self.holder.clone(),
            expires_at: self.clock.now() + self.ttl,
        };
        match self
            .store
            .replace(&self.name, &self.version, record.body())
            .await?
        {
            Replaced::Replaced(version) => {
                self.version = version;
                self.expires_at = record.expires_at;
                Ok(())
            }
            Replaced::Conflict => Err(LeaseError::Lost {
                location: self.store.locate(&self.name),
            }),
        }
    }

    /// Renews the lease once a third of its time has passed since the last renewal.
    pub async fn renew_if_due(&mut self) -> Result<(), LeaseError> {
        if self.expires_at - self.clock.now() < self.ttl * 2 / 3 {
            self.renew().await?;
        }
        Ok(())
    }

    /// Gives the lease up so that the next caller takes it at once. A lease already taken over
    /// is left to its new holder.
    pub async fn release(self) -> Result<(), StoreError> {
        let record = Record {
            holder: String::new(),
            expires_at: 0,
        };
        self.store
            .replace(&self.name, &self.version, record.body())
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{ManualClock, MemoryStore};

    const TTL: i64 = 30;

    async fn acquire<'a>(
        store: &'a MemoryStore,
        clock: &'a ManualClock,
        holder: &str,
    ) -> Acquired<'a, MemoryStore> {
        Lease::acquire(store, clock, "job/lease", holder, TTL)
            .await
            .unwrap()
    }

    fn held<S>(acquired: Acquired<'_, S>) -> Lease<'_, S> {
        match acquired {
            Acquired::Held(lease) => lease,
            Acquired::Busy { until } => panic!("busy until {until}"),
        }
    }

    #[tokio::test]
    async fn a_live_lease_makes_others_busy_until_it_expires() {
        let (store, clock) = (MemoryStore::default(), ManualClock::at(1_000));
        let lease = held(acquire(&store, &clock, "a").await);
        assert_eq!(lease.expires_at(), 1_000 + TTL);
        clock.advance(TTL - 1);
        assert!(matches!(
            acquire(&store, &clock, "b").await,
            Acquired::Busy { until: 1_030 }
        ));
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_over() {
        let (store, clock) = (MemoryStore::default(), ManualClock::at(1_000));
        let crashed = held(acquire(&store, &clock, "a").await);
        clock.advance(TTL);
        let taken = held(acquire(&store, &clock, "b").await);
        assert_eq!(taken.expires_at(), 1_000 + 2 * TTL);
        drop(crashed);
    }

    #[tokio::test]
    async fn a_holder_whose_lease_was_taken_over_cannot_renew_or_release_it() {
        let (store, clock) = (MemoryStore::default(), ManualClock::at(1_000));
        let mut stale = held(acquire(&store, &clock, "a").await);
        clock.advance(TTL + 5);
        let _new = held(acquire(&store, &clock, "b").await);
        assert!(matches!(stale.renew().await, Err(LeaseError::Lost { .. })));
        stale.release().await.unwrap();
        // The release of the stale holder left the new lease in place.
        assert!(matches!(
            acquire(&store, &clock, "c").await,
            Acquired::Busy { .. }
        ));
    }

    #[tokio::test]
    async fn a_released_lease_is_taken_at_once() {
        let (store, clock) = (MemoryStore::default(), ManualClock::at(1_000));
        held(acquire(&store, &clock, "a").await)
            .release()
            .await
            .unwrap();
        held(acquire(&store, &clock, "b").await);
    }

    #[tokio::test]
    async fn an_unreadable_lease_record_is_taken_over() {
        let (store, clock) = (MemoryStore::default(), ManualClock::at(1_000));
        store
            .create("job/lease", b"garbage".to_vec())
            .await
            .unwrap();
        held(acquire(&store, &clock, "a").await);
    }

    #[tokio::test]
    async fn renewing_keeps_the_lease_past_its_first_expiry() {
        let (store, clock) = (MemoryStore::default(), ManualClock::at(1_000));
        let mut lease = held(acquire(&store, &clock, "a").await);
        clock.advance(5);
        lease.renew_if_due().await.unwrap();
        assert_eq!(lease.expires_at(), 1_030, "not due yet: no write");
        clock.advance(10);
        lease.renew_if_due().await.unwrap();
        assert_eq!(lease.expires_at(), 1_045);
        clock.advance(20);
        assert!(matches!(
            acquire(&store, &clock, "b").await,
            Acquired::Busy { until: 1_045 }
        ));
    }
}
