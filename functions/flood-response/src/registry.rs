//! The block registry: one state record listing every source this function blocked (or refused
//! to block) and where each one is in its life. Pure: the handler reads it, applies one of these
//! transitions and writes it back with compare-and-swap, so concurrent invocations never block
//! a source twice, and a crash at any point leaves a record the next invocation (a Lambda retry,
//! or the schedule) completes.
//!
//! An entry goes `Blocking` (recorded, the network change may or may not be made) → `Blocked`
//! (made) → `Releasing` (release decided) → `Released` (undone), and is dropped once its release
//! is reported. `Refused` records a block the cap or the firewall refused, so a redelivered
//! notice reports it once. Each report is claimed before it is published and marked sent after
//! (a claim older than [`CLAIM_SECS`] is taken over), so every block and release is reported.

use std::collections::{BTreeMap, BTreeSet};

use flowlog_core::{IpNet, Severity};
use serde::{Deserialize, Serialize};

/// A report claimed longer ago than this was abandoned by a crashed invocation.
pub const CLAIM_SECS: i64 = 60;

/// Refused entries kept (beyond them a redelivered refusal is reported again).
pub const MAX_REFUSED: usize = 200;

/// Where an entry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Recorded; the network change may or may not have been made.
    Blocking,
    /// Blocked.
    Blocked,
    /// Release decided; the network change may or may not have been undone.
    Releasing,
    /// Released; dropped once reported.
    Released,
    /// Not blocked (cap reached, firewall full); dropped at the incident's end or expiry.
    Refused,
}

/// Why a block was released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum ReleaseReason {
    /// The incident ended.
    Ended {
        /// The ENDED notice.
        alert_id: String,
    },
    /// `MAX_BLOCK_SECS` passed.
    Timeout,
}

/// Whether the entry's current phase was reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "report")]
pub enum Report {
    /// Not yet.
    Unsent,
    /// An invocation is publishing it since `at`.
    Claimed {
        /// When it claimed it.
        at: i64,
    },
    /// Published.
    Sent,
}

/// One source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// What is (to be) blocked.
    #[serde(with = "text")]
    pub network: IpNet,
    /// The incident it was blocked for.
    pub incident_id: String,
    /// The STARTED notice.
    pub alert_id: String,
    /// The incident's severity.
    pub severity: Severity,
    /// Its phase.
    pub phase: Phase,
    /// The network ACL rule number it holds (NACL only).
    pub rule_number: Option<i32>,
    /// When the block was recorded (Unix seconds).
    pub since: i64,
    /// When it is released at the latest.
    pub expires_at: i64,
    /// Why it is being released.
    pub release: Option<ReleaseReason>,
    /// Why it was refused.
    pub refusal: Option<String>,
    /// Whether the current phase was reported.
    pub report: Report,
}

impl Entry {
    /// Whether it holds (or may hold) a place in the firewall: counts against the cap.
    fn holds_a_place(&self) -> bool {
        matches!(
            self.phase,
            Phase::Blocking | Phase::Blocked | Phase::Releasing
        )
    }

    /// Whether its report is due and nobody live is publishing it.
    fn report_due(&self, now: i64) -> bool {
        match self.report {
            Report::Unsent => true,
            Report::Claimed { at } => now - at >= CLAIM_SECS,
            Report::Sent => false,
        }
    }
}

/// Every entry, by network (`203.0.113.7/32`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    /// The entries.
    pub entries: BTreeMap<String, Entry>,
}

/// A STARTED notice, as far as the registry is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// What to block.
    pub network: IpNet,
    /// The incident.
    pub incident_id: String,
    /// The notice.
    pub alert_id: String,
    /// Its severity.
    pub severity: Severity,
}

/// What to do next about one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Make the block (recorded as `Blocking`).
    Block(Entry),
    /// Undo the block (recorded as `Releasing`).
    Release(Entry),
    /// Publish the report of its current phase (claimed).
    Report(Entry),
    /// Nothing: already done, or being done by another live invocation.
    Nothing(&'static str),
    /// Another phase is in the way (a release in progress); retry later.
    Busy {
        /// The network.
        network: IpNet,
        /// What is in the way.
        why: &'static str,
    },
}

impl Registry {
    /// Parses a stored registry.
    pub fn from_json(body: &[u8]) -> Result<Registry, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// The registry as stored.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("the registry serializes: strings and numbers")
    }

    /// Entries holding a place in the firewall.
    pub fn places(&self) -> usize {
        self.entries.values().filter(|e| e.holds_a_place()).count()
    }

    fn claim(&mut self, key: &str, now: i64) -> Step {
        let entry = self.entries.get_mut(key).expect("claimed entries exist");
        entry.report = Report::Claimed { at: now };
        Step::Report(entry.clone())
    }

    /// A STARTED notice: record the block (or the refusal when `max_entries` are held).
    pub fn start(&mut self, start: &Start, now: i64, max_entries: usize, max_secs: i64) -> Step {
        let key = start.network.to_string();
        if let Some(entry) = self.entries.get_mut(&key) {
            return match entry.phase {
                Phase::Blocking => {
                    // A crashed or failed attempt: make the block (it is idempotent).
                    entry.incident_id.clone_from(&start.incident_id);
                    Step::Block(entry.clone())
                }
                Phase::Blocked | Phase::Refused => {
                    // A new incident of a source still blocked adopts the block, so that its
                    // end releases it.
                    entry.incident_id.clone_from(&start.incident_id);
                    if entry.report_due(now) {
                        self.claim(&key, now)
                    } else {
                        Step::Nothing("already blocked (or refused) and reported")
                    }
                }
                Phase::Releasing | Phase::Released => Step::Busy {
                    network: start.network,
                    why: "its previous block is being released",
                },
            };
        }
        if self.places() >= max_entries {
            let entry = Entry {
                report: Report::Claimed { at: now },
                ..new_entry(start, now, max_secs, Phase::Refused, cap_text(max_entries))
            };
            let refusals = self.entries.values().filter(|e| e.phase == Phase::Refused);
            if refusals.count() < MAX_REFUSED {
                self.entries.insert(key, entry.clone());
            }
            return Step::Report(entry);
        }
        let entry = new_entry(start, now, max_secs, Phase::Blocking, None);
        self.entries.insert(key, entry.clone());
        Step::Block(entry)
    }

    /// The block of `network` was made (with this ACL rule number): claim its report.
    pub fn blocked(&mut self, network: IpNet, rule_number: Option<i32>, now: i64) -> Step {
        let key = network.to_string();
        match self.entries.get_mut(&key) {
            Some(entry) if entry.phase == Phase::Blocking => {
                entry.phase = Phase::Blocked;
                entry.rule_number = rule_number;
                self.claim(&key, now)
            }
            _ => Step::Nothing("settled by another invocation"),
        }
    }

    /// The firewall refused the block of `network` for good (full, shadowed): claim the report.
    pub fn refused(&mut self, network: IpNet, why: String, now: i64) -> Step {
        let key = network.to_string();
        match self.entries.get_mut(&key) {
            Some(entry) if entry.phase == Phase::Blocking => {
                entry.phase = Phase::Refused;
                entry.refusal = Some(why);
                self.claim(&key, now)
            }
            _ => Step::Nothing("settled by another invocation"),
        }
    }

    /// An ENDED notice for `network`'s incident `incident_id`: release it.
    pub fn end(&mut self, network: IpNet, incident_id: &str, alert_id: &str) -> Step {
        let key = network.to_string();
        let Some(entry) = self.entries.get_mut(&key) else {
            return Step::Nothing("not blocked (never, or already released)");
        };
        if entry.incident_id != incident_id {
            return Step::Nothing("blocked for another incident, released at its end or expiry");
        }
        match entry.phase {
            Phase::Blocking | Phase::Blocked => {
                entry.phase = Phase::Releasing;
                entry.release = Some(ReleaseReason::Ended {
                    alert_id: alert_id.to_owned(),
                });
                entry.report = Report::Unsent;
                Step::Release(entry.clone())
            }
            Phase::Releasing => Step::Release(entry.clone()),
            Phase::Released => Step::Nothing("already released"),
            Phase::Refused => {
                self.entries.remove(&key);
                Step::Nothing("was not blocked (refused); forgotten")
            }
        }
    }

    /// The release of `network` was made: claim its report.
    pub fn released(&mut self, network: IpNet, now: i64) -> Step {
        let key = network.to_string();
        match self.entries.get_mut(&key) {
            Some(entry) if entry.phase == Phase::Releasing => {
                entry.phase = Phase::Released;
                self.claim(&key, now)
            }
            _ => Step::Nothing("settled by another invocation"),
        }
    }

    /// The report of `entry`'s phase was published: mark it, and drop a released entry.
    pub fn reported(&mut self, entry: &Entry) {
        let key = entry.network.to_string();
        let Some(current) = self.entries.get_mut(&key) else {
            return;
        };
        if current.phase != entry.phase {
            return; // moved on meanwhile; its next report is its own
        }
        if current.phase == Phase::Released {
            self.entries.remove(&key);
        } else {
            current.report = Report::Sent;
        }
    }

    /// A published report could not be marked before another claim: give up the claim so the
    /// retry publishes it.
    pub fn abandon(&mut self, entry: &Entry) {
        if let Some(current) = self.entries.get_mut(&entry.network.to_string())
            && current.phase == entry.phase
        {
            current.report = Report::Unsent;
        }
    }

    /// The schedule: the next thing overdue, if any. Expired blocks are released, stalled
    /// releases completed, abandoned reports published, expired refusals forgotten.
    /// Entries named in `skip` (failed earlier in this sweep) are left for the next one.
    pub fn sweep(&mut self, now: i64, skip: &BTreeSet<String>) -> Option<Step> {
        self.entries.retain(|_, e| {
            !(e.phase == Phase::Refused && e.expires_at <= now && !e.report_due(now))
        });
        let key = self
            .entries
            .iter()
            .filter(|(key, _)| !skip.contains(*key))
            .find_map(|(key, e)| {
                let overdue = match e.phase {
                    Phase::Blocking | Phase::Blocked => e.expires_at <= now,
                    Phase::Releasing => true,
                    Phase::Released | Phase::Refused => false,
                };
                (overdue || (e.phase != Phase::Blocking && e.report_due(now))).then(|| key.clone())
            })?;
        let entry = self.entries.get_mut(&key).expect("found above");
        Some(match entry.phase {
            Phase::Blocking | Phase::Blocked if entry.expires_at <= now => {
                entry.phase = Phase::Releasing;
                entry.release = Some(ReleaseReason::Timeout);
                entry.report = Report::Unsent;
                Step::Release(entry.clone())
            }
            Phase::Releasing => Step::Release(entry.clone()),
            _ => self.claim(&key, now),
        })
    }
}

/// A network as its text, `203.0.113.7/32`.
pub(crate) mod text {
    use flowlog_core::IpNet;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(net: &IpNet, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(net)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<IpNet, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn cap_text(max_entries: usize) -> Option<String> {
    Some(format!(
        "MAX_ENTRIES={max_entries} sources are blocked already: nothing more is blocked until one is released"
    ))
}

fn new_entry(
    start: &Start,
    now: i64,
    max_secs: i64,
    phase: Phase,
    refusal: Option<String>,
) -> Entry {
    Entry {
        network: start.network,
        incident_id: start.incident_id.clone(),
        alert_id: start.alert_id.clone(),
        severity: start.severity,
        phase,
        rule_number: None,
        since: now,
        expires_at: now + max_secs,
        release: None,
        refusal,
        report: Report::Unsent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_764_000_000;

    fn start(source: &str) -> Start {
        Start {
            network: source.parse().unwrap(),
            incident_id: format!("{source}@{T0}"),
            alert_id: format!("{source}@{T0}#1"),
            severity: Severity::High,
        }
    }

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[test]
    fn a_start_is_recorded_blocked_reported_then_a_redelivery_does_nothing() {
        let mut r = Registry::default();
        let s = start("203.0.113.7/32");
        assert!(matches!(r.start(&s, T0, 100, 3600), Step::Block(e) if e.expires_at == T0 + 3600));
        let Step::Report(entry) = r.blocked(s.network, None, T0 + 1) else {
            panic!()
        };
        assert_eq!(entry.phase, Phase::Blocked);
        r.reported(&entry);
        assert_eq!(r.entries[&s.network.to_string()].report, Report::Sent);
        assert!(matches!(r.start(&s, T0 + 5, 100, 3600), Step::Nothing(_)));
        assert_eq!(r.places(), 1);
    }

    #[test]
    fn a_start_that_crashed_before_blocking_makes_the_block_on_redelivery() {
        let mut r = Registry::default();
        let s = start("203.0.113.7/32");
        r.start(&s, T0, 100, 3600);
        assert!(matches!(r.start(&s, T0 + 60, 100, 3600), Step::Block(_)));
    }

    #[test]
    fn a_report_claimed_by_a_crashed_invocation_is_taken_over_after_a_minute() {
        let mut r = Registry::default();
        let s = start("203.0.113.7/32");
        r.start(&s, T0, 100, 3600);
        r.blocked(s.network, None, T0);
        assert!(matches!(r.start(&s, T0 + 10, 100, 3600), Step::Nothing(_)));
        assert!(matches!(
            r.start(&s, T0 + CLAIM_SECS, 100, 3600),
            Step::Report(_)
        ));
    }

    #[test]
    fn the_cap_refuses_once_and_a_release_makes_room() {
        let mut r = Registry::default();
        for (i, source) in ["203.0.113.1/32", "203.0.113.2/32"].iter().enumerate() {
            let s = start(source);
            assert!(matches!(r.start(&s, T0, 2, 3600), Step::Block(_)), "{i}");
            r.blocked(s.network, None, T0);
        }
        let third = start("203.0.113.3/32");
        let Step::Report(refusal) = r.start(&third, T0, 2, 3600) else {
            panic!()
        };
        assert_eq!(refusal.phase, Phase::Refused);
        assert!(
            refusal
                .refusal
                .as_deref()
                .unwrap()
                .contains("MAX_ENTRIES=2")
        );
        r.reported(&refusal);
        assert!(matches!(r.start(&third, T0 + 1, 2, 3600), Step::Nothing(_)));
        let first = start("203.0.113.1/32");
        assert!(matches!(
            r.end(first.network, &first.incident_id, "end#3"),
            Step::Release(_)
        ));
        let Step::Report(released) = r.released(first.network, T0 + 2) else {
            panic!()
        };
        r.reported(&released);
        assert!(!r.entries.contains_key("203.0.113.1/32"));
        assert_eq!(r.places(), 1);
        assert!(matches!(
            r.end(third.network, &third.incident_id, "end#2"),
            Step::Nothing(_)
        ));
        assert!(matches!(
            r.start(&start("203.0.113.4/32"), T0 + 3, 2, 3600),
            Step::Block(_)
        ));
    }

    #[test]
    fn an_end_of_another_incident_releases_nothing() {
        let mut r = Registry::default();
        let s = start("203.0.113.7/32");
        r.start(&s, T0, 100, 3600);
        assert!(matches!(
            r.end(s.network, "203.0.113.7@1", "x#2"),
            Step::Nothing(_)
        ));
        assert!(matches!(
            r.end(net("203.0.113.8/32"), "203.0.113.8@1", "x#2"),
            Step::Nothing(_)
        ));
    }

    #[test]
    fn the_sweep_releases_expired_blocks_and_completes_stalled_releases() {
        let none = BTreeSet::new();
        let mut r = Registry::default();
        let s = start("203.0.113.7/32");
        r.start(&s, T0, 100, 3600);
        let Step::Report(entry) = r.blocked(s.network, Some(3), T0) else {
            panic!()
        };
        r.reported(&entry);
        assert_eq!(r.sweep(T0 + 3599, &none), None);
        let Some(Step::Release(entry)) = r.sweep(T0 + 3600, &none) else {
            panic!()
        };
        assert_eq!(entry.release, Some(ReleaseReason::Timeout));
        assert_eq!(entry.rule_number, Some(3));
        // The release crashed: the next sweep completes it.
        assert!(matches!(r.sweep(T0 + 3900, &none), Some(Step::Release(_))));
        r.released(s.network, T0 + 3900);
        // Its report is claimed; the sweep takes it over only once the claim is stale.
        assert_eq!(r.sweep(T0 + 3910, &none), None);
        let Some(Step::Report(entry)) = r.sweep(T0 + 3900 + CLAIM_SECS, &none) else {
            panic!()
        };
        r.reported(&entry);
        assert!(r.entries.is_empty());
    }

    #[test]
    fn a_report_marked_after_the_entry_moved_on_leaves_the_new_phase_alone() {
        let mut r = Registry::default();
        let s = start("203.0.113.7/32");
        r.start(&s, T0, 100, 3600);
        let Step::Report(blocked) = r.blocked(s.network, None, T0) else {
            panic!()
        };
        r.end(s.network, &s.incident_id, "x#3");
        r.reported(&blocked);
        assert_eq!(r.entries[&s.network.to_string()].phase, Phase::Releasing);
        assert_eq!(r.entries[&s.network.to_string()].report, Report::Unsent);
    }

    #[test]
    fn the_registry_round_trips_as_json() {
        let mut r = Registry::default();
        r.start(&start("2001:db8:1:2::/64"), T0, 100, 3600);
        assert_eq!(Registry::from_json(&r.to_json()).unwrap(), r);
    }
}
