//! From the incidents known and the latest verdict to the changes to make and notices to send.

use std::collections::BTreeMap;

use flowlog_core::{Detection, WINDOW_SECS};

use crate::flood::FloodFinding;
use crate::incident::{Incident, Notice, Stage};

/// How incidents open, update and close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// An ONGOING notice at most this often (seconds), while new minutes are flagged.
    pub update_every_secs: i64,
    /// An incident ends after this many seconds without a flagged minute...
    pub quiet_secs: i64,
    /// ...counted only once the data of those seconds had time to arrive: S3 delivers flow
    /// logs some 10 minutes after their capture window of up to 10 minutes.
    pub settle_secs: i64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            update_every_secs: 900,
            quiet_secs: 600,
            settle_secs: 1200,
        }
    }
}

impl Policy {
    /// How far back a verdict must look so that an open incident's last minutes are in it.
    pub fn lookback_secs(&self) -> i64 {
        self.settle_secs + self.quiet_secs + 2 * WINDOW_SECS
    }

    /// The minutes a verdict at `now` judges: `[now - lookback, now + a minute)` (the minute
    /// ahead takes in records stamped by a clock slightly ahead).
    pub fn live_window(&self, now: i64) -> (i64, i64) {
        (now - self.lookback_secs(), now + WINDOW_SECS)
    }
}

/// One incident's new state, and the notice to send about it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The state it replaces (`None` for a new incident).
    pub before: Option<Incident>,
    /// Its new state, as it will be once the notice is sent.
    pub after: Incident,
    /// What to tell people.
    pub notice: Option<Notice>,
}

/// The changes the latest verdict makes to the incidents `known` (by subject: the latest
/// incident of each), at wall time `now`.
pub fn plan(
    known: &BTreeMap<String, Incident>,
    detection: &Detection,
    now: i64,
    policy: &Policy,
) -> Vec<Change> {
    let mut changes: BTreeMap<String, Change> = BTreeMap::new();
    for finding in FloodFinding::all(detection) {
        let key = finding.key();
        let prev = known.get(&key);
        match prev.filter(|i| i.is_open()) {
            Some(open) => {
                let mut after = open.clone();
                after.absorb(&finding);
                let new_minutes = after.last_active > open.last_sent_active;
                let due = now.saturating_sub(open.last_sent_at) >= policy.update_every_secs;
                let notice =
                    (new_minutes && due).then(|| Notice::of(&after, Stage::Ongoing, open.sent + 1));
                if after != *open || notice.is_some() {
                    changes.insert(
                        key,
                        Change {
                            before: Some(open.clone()),
                            after,
                            notice,
                        },
                    );
                }
            }
            None => {
                // Minutes the previous incident already covered are not a new flood.
                let after_previous = prev.map_or(i64::MIN, |p| p.last_active);
                let Some(first) = finding
                    .flagged()
                    .iter()
                    .map(|m| m.start)
                    .find(|&s| s > after_previous)
                else {
                    continue;
                };
                let mut after = Incident::open(&finding, first);
                after.absorb(&finding);
                let notice = Some(Notice::of(&after, Stage::Started, 1));
                changes.insert(
                    key,
                    Change {
                        before: prev.cloned(),
                        after,
                        notice,
                    },
                );
            }
        }
    }
    // Quiet long enough (and settled): over. Not in the plan that opens it.
    let open: Vec<(String, Incident, Option<Incident>)> = known
        .iter()
        .filter(|(k, i)| i.is_open() && !changes.contains_key(*k))
        .map(|(k, i)| (k.clone(), i.clone(), Some(i.clone())))
        .chain(
            changes
                .iter()
                .filter(|(_, c)| c.before.as_ref().is_some_and(Incident::is_open))
                .map(|(k, c)| (k.clone(), c.after.clone(), c.before.clone())),
        )
        .collect();
    for (key, mut after, before) in open {
        let quiet_since = after.last_active + WINDOW_SECS;
        if now - policy.settle_secs >= quiet_since + policy.quiet_secs {
            let seq = before.as_ref().map_or(0, |b| b.sent) + 1;
            after.ended_at = Some(now);
            let notice = Notice::of(&after, Stage::Ended, seq);
            changes.insert(
                key,
                Change {
                    before,
                    after,
                    notice: Some(notice),
                },
            );
        }
    }
    let mut changes: Vec<Change> = changes.into_values().collect();
    for c in &mut changes {
        if let Some(n) = &c.notice {
            c.after.sent = n.seq;
            c.after.last_sent_at = now;
            c.after.last_sent_active = c.after.last_active;
        }
    }
    changes
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flowlog_core::{AggregateOptions, Aggregator, FloodRules, ScanOptions, detect, scan};
    use std::fmt::Write as _;

    const HEADER: &str = "interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action tcp-flags flow-direction log-status";
    pub(crate) const T0: i64 = 1_700_000_040;

    /// A verdict on a SYN flood from 203.0.113.7 in each of `minutes` (offsets from T0).
    pub(crate) fn verdict(minutes: &[i64]) -> Detection {
        let mut text = format!("{HEADER}\n");
        for m in minutes {
            for i in 0..600 {
                let t = T0 + m * 60 + i % 59;
                let _ = writeln!(
                    text,
                    "eni-1 203.0.113.7 10.0.0.5 {} 443 6 1 44 {t} {} ACCEPT 2 ingress OK",
                    20000 + i,
                    t + 1
                );
            }
        }
        let mut a = Aggregator::new(AggregateOptions::default());
        scan(text.as_bytes(), &ScanOptions::default(), &mut a).unwrap();
        detect(&a, &FloodRules::default())
    }

    /// Plans and applies; the stages notified.
    fn step(
        known: &mut BTreeMap<String, Incident>,
        d: &Detection,
        now: i64,
        policy: &Policy,
    ) -> Vec<Stage> {
        let changes = plan(known, d, now, policy);
        apply(known, &changes)
    }

    fn apply(known: &mut BTreeMap<String, Incident>, changes: &[Change]) -> Vec<Stage> {
        for c in changes {
            known.insert(c.after.subject.clone(), c.after.clone());
        }
        changes
            .iter()
            .filter_map(|c| c.notice.as_ref().map(|n| n.stage))
            .collect()
    }

    #[test]
    fn a_flood_starts_goes_on_and_ends_with_one_notice_per_stage() {
        let policy = Policy::default();
        let mut known = BTreeMap::new();
        let now = |minute: i64| T0 + minute * 60 + policy.settle_secs;
        // Minute 0: STARTED.
        let stages = step(&mut known, &verdict(&[0]), now(1), &policy);
        assert_eq!(stages, [Stage::Started]);
        // The same verdict again (a redelivery, the schedule): nothing new.
        assert!(
            plan(&known, &verdict(&[0]), now(2), &policy)
                .iter()
                .all(|c| c.notice.is_none())
        );
        // New minutes, but too soon for an update: the state changes, no notice.
        let changes = plan(&known, &verdict(&[0, 1, 2]), now(5), &policy);
        assert_eq!(apply(&mut known, &changes), []);
        // Fifteen minutes after the first notice, with new minutes: ONGOING with totals.
        let stages = step(&mut known, &verdict(&[0, 1, 2, 3, 15]), now(16), &policy);
        assert_eq!(stages, [Stage::Ongoing]);
        let incident = &known["203.0.113.7"];
        assert_eq!((incident.sent, incident.totals().minutes), (2, 5));
        assert_eq!(incident.totals().flows, 3000);
        // Quiet: once the last minute has settled and ten more passed, ENDED.
        assert!(plan(&known, &Detection::default(), now(15) + 60 + 599, &policy).is_empty());
        let stages = step(
            &mut known,
            &Detection::default(),
            now(15) + 60 + 600,
            &policy,
        );
        assert_eq!(stages, [Stage::Ended]);
        let incident = &known["203.0.113.7"];
        assert_eq!((incident.sent, incident.duration_secs()), (3, 16 * 60));
        assert!(!incident.is_open());
        // Nothing more about it.
        assert!(plan(&known, &Detection::default(), now(60), &policy).is_empty());
    }

    #[test]
    fn the_old_minutes_of_an_ended_incident_do_not_start_another_but_new_ones_do() {
        let policy = Policy::default();
        let mut known = BTreeMap::new();
        step(&mut known, &verdict(&[0]), T0 + 60, &policy);
        step(&mut known, &Detection::default(), T0 + 3600, &policy);
        assert!(!known["203.0.113.7"].is_open());
        assert!(plan(&known, &verdict(&[0]), T0 + 3700, &policy).is_empty());
        let changes = plan(&known, &verdict(&[0, 70]), T0 + 4300, &policy);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            changes[0].notice.as_ref().map(|n| n.stage),
            Some(Stage::Started)
        );
        assert_eq!(changes[0].after.id, format!("203.0.113.7@{}", T0 + 70 * 60));
    }

    #[test]
    fn notices_have_stable_ids_and_incidents_survive_json() {
        let policy = Policy::default();
        let first = plan(&BTreeMap::new(), &verdict(&[0]), T0 + 60, &policy);
        let again = plan(&BTreeMap::new(), &verdict(&[0]), T0 + 90, &policy);
        let id = |c: &[Change]| c[0].notice.as_ref().unwrap().alert_id.clone();
        assert_eq!(id(&first), id(&again));
        assert_eq!(id(&first), format!("203.0.113.7@{T0}#1"));
        let text = serde_json::to_string(&first[0].after).unwrap();
        assert_eq!(
            serde_json::from_str::<Incident>(&text).unwrap(),
            first[0].after
        );
    }
}
