//! One alert per source (or attacked target) per cooldown, agreed between concurrent and repeated invocations through
//! per-source state objects in S3 written with conditional requests.
//!
//! A source's state lists the windows already alerted (the newest [`REMEMBERED`]) and at most one
//! pending claim. To alert, an invocation must *claim* (create or replace the state with its
//! pending window, conditionally); only the winner publishes, then records the window as sent.
//! A claim whose publisher died goes stale after [`CLAIM_TIMEOUT_SECS`] and may be taken over, so
//! a failed publish delays an alert but never loses it; a fresh claim by someone else makes the
//! caller retry later instead of publishing a duplicate.

use flowlog_lambda::{Created, Replaced, S3StateStore, StateStore, StoreError};
use serde::{Deserialize, Serialize};

/// Alerted windows remembered per source.
pub const REMEMBERED: usize = 16;
/// Seconds after which a claim nobody completed may be taken over.
pub const CLAIM_TIMEOUT_SECS: i64 = 60;
/// Conditional-write races retried before giving up as busy.
const ATTEMPTS: usize = 4;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    source: String,
    /// Windows alerted, oldest first.
    alerted: Vec<i64>,
    pending: Option<Pending>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Pending {
    window_start: i64,
    claimed_at: i64,
    object: String,
}

/// The right to publish one alert, held until [`Cooldown::sent`] or [`Cooldown::abandon`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    name: String,
    window_start: i64,
}

/// What the caller may do about a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Publish, then call [`Cooldown::sent`].
    Alert(Claim),
    /// Already alerted within the cooldown (at that window start).
    Suppressed {
        /// The window of the earlier alert.
        alerted_window: i64,
    },
    /// Another invocation is publishing for this source right now: retry later.
    Busy,
}

/// The cooldown store.
#[derive(Debug, Clone)]
pub struct Cooldown {
    store: S3StateStore,
    cooldown_secs: i64,
}

impl Cooldown {
    /// Cooldown state in `store`, one alert per source per `cooldown_secs` of flow time.
    pub fn new(store: S3StateStore, cooldown_secs: i64) -> Self {
        Cooldown {
            store,
            cooldown_secs,
        }
    }

    /// The state object of a subject: its key with `/` (of an IPv6 /64) made safe.
    fn name(subject: &str) -> String {
        format!("{}.json", subject.replace('/', "_"))
    }

    /// Decides, race-free, whether this invocation alerts about `subject` (a source, or
    /// `target-` and an address) for `window_start`.
    pub async fn claim(
        &self,
        subject: &str,
        window_start: i64,
        object: &str,
        now: i64,
    ) -> Result<Decision, StoreError> {
        let name = Self::name(subject);
        for _ in 0..ATTEMPTS {
            let stored = self.store.get(&name).await?;
            let state = stored
                .as_ref()
                .and_then(|s| serde_json::from_slice::<State>(&s.body).ok())
                .unwrap_or_else(|| State {
                    source: subject.to_owned(),
                    ..State::default()
                });
            if let Some(&alerted_window) = state
                .alerted
                .iter()
                .find(|&&w| (w - window_start).abs() < self.cooldown_secs)
            {
                return Ok(Decision::Suppressed { alerted_window });
            }
            if let Some(p) = &state.pending
                && (p.window_start - window_start).abs() < self.cooldown_secs
                && now - p.claimed_at < CLAIM_TIMEOUT_SECS
            {
                return Ok(Decision::Busy);
            }
            let mut next = state;
            next.pending = Some(Pending {
                window_start,
                claimed_at: now,
                object: object.to_owned(),
            });
            let body = serde_json::to_vec(&next).expect("state serialises");
            let won = match &stored {
                None => matches!(self.store.create(&name, body).await?, Created::Created(_)),
                Some(s) => matches!(
                    self.store.replace(&name, &s.version, body).await?,
                    Replaced::Replaced(_)
                ),
            };
            if won {
                return Ok(Decision::Alert(Claim { name, window_start }));
            }
        }
        Ok(Decision::Busy)
    }

    /// Records that the claimed alert was published.
    pub async fn sent(&self, claim: &Claim) -> Result<(), StoreError> {
        self.finish(claim, true).await
    }

    /// Gives the claim up after a failed publish, so a retry may take it over at once.
    pub async fn abandon(&self, claim: &Claim) -> Result<(), StoreError> {
        self.finish(claim, false).await
    }

    /// Re-reads the state and records the outcome, retrying if someone writes in between.
    async fn finish(&self, claim: &Claim, published: bool) -> Result<(), StoreError> {
        for _ in 0..ATTEMPTS {
            let Some(stored) = self.store.get(&claim.name).await? else {
                return Ok(());
            };
            let mut state: State = serde_json::from_slice(&stored.body).unwrap_or_default();
            if published && !state.alerted.contains(&claim.window_start) {
                state.alerted.push(claim.window_start);
                state.alerted.sort_unstable();
                let excess = state.alerted.len().saturating_sub(REMEMBERED);
                state.alerted.drain(..excess);
            }
            if state
                .pending
                .as_ref()
                .is_some_and(|p| p.window_start == claim.window_start)
            {
                state.pending = None;
            }
            let body = serde_json::to_vec(&state).expect("state serialises");
            if let Replaced::Replaced(_) = self
                .store
                .replace(&claim.name, &stored.version, body)
                .await?
            {
                return Ok(());
            }
        }
        Err(StoreError {
            operation: "record alert state",
            location: self.store.locate(&claim.name),
            message: "kept losing conditional-write races".into(),
        })
    }
}
