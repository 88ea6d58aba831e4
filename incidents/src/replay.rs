//! The lifecycle over objects in time order, in memory: what the functions would have sent.
//!
//! Each object arrives some delay after its last record (S3 delivers flow logs about ten
//! minutes late); a verdict runs at every arrival and on a fixed schedule, over the summaries
//! arrived so far within [`Policy::live_window`], exactly as `flood-alert` judges the state
//! table: the same floor, the same verdict, the same [`plan`].

use std::collections::BTreeMap;

use flowlog_core::{FloodRules, Summary, detect};

use crate::incident::{Incident, Notice};
use crate::plan::{Policy, plan};

/// One object: when it arrived and its summary.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// Unix seconds.
    pub at: i64,
    /// Its figures above the shared floor.
    pub summary: Summary,
}

/// A notice the replay sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// When (Unix seconds).
    pub at: i64,
    /// What.
    pub notice: Notice,
    /// The incident as it was then.
    pub incident: Incident,
}

/// Replays `arrivals` with a verdict at each arrival and every `every_secs`, until every
/// incident has ended; the notices in the order sent.
pub fn replay(
    mut arrivals: Vec<Arrival>,
    rules: &FloodRules,
    policy: &Policy,
    every_secs: i64,
) -> Vec<Sent> {
    arrivals.sort_by_key(|a| a.at);
    let (Some(first), Some(last)) = (
        arrivals.first().map(|a| a.at),
        arrivals.last().map(|a| a.at),
    ) else {
        return Vec::new();
    };
    let every = every_secs.max(60);
    // The schedule's ticks, then the arrivals: a verdict at each.
    let mut times: Vec<i64> = (0..)
        .map(|k| first.div_euclid(every) * every + k * every)
        .take_while(|t| *t <= last + policy.lookback_secs() + every)
        .chain(arrivals.iter().map(|a| a.at))
        .collect();
    times.sort_unstable();
    times.dedup();
    let mut known: BTreeMap<String, Incident> = BTreeMap::new();
    let mut arrived = Summary::default();
    let mut next = 0;
    let mut sent = Vec::new();
    for now in times {
        while next < arrivals.len() && arrivals[next].at <= now {
            arrived.merge(&arrivals[next].summary);
            next += 1;
        }
        let (from, until) = policy.live_window(now);
        let mut window = arrived.clone();
        window.retain_minutes(from, until);
        let detection = detect(&window, rules);
        for change in plan(&known, &detection, now, policy) {
            if let Some(notice) = change.notice {
                sent.push(Sent {
                    at: now,
                    notice,
                    incident: change.after.clone(),
                });
            }
            known.insert(change.after.subject.clone(), change.after);
        }
        if now > last && known.values().all(|i| !i.is_open()) && next == arrivals.len() {
            break;
        }
    }
    sent
}

#[cfg(test)]
mod tests {
    use flowlog_core::{AggregateOptions, Aggregator, Floor, ScanOptions, scan};

    use super::*;
    use crate::incident::Stage;
    use crate::plan::tests::T0;

    const HEADER: &str = "interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action tcp-flags flow-direction log-status";

    /// A file of `per_minute` SYNs a minute from 203.0.113.7 over `minutes` from `first`,
    /// arriving ten minutes after its last record.
    fn file(first: i64, minutes: i64, per_minute: u32) -> Arrival {
        let mut text = format!("{HEADER}\n");
        for m in 0..minutes {
            for i in 0..per_minute {
                let t = first + m * 60 + i64::from(i % 59);
                text.push_str(&format!(
                    "eni-1 203.0.113.7 10.0.0.5 {} 443 6 1 44 {t} {} ACCEPT 2 ingress OK\n",
                    20000 + i,
                    t + 1
                ));
            }
        }
        let mut a = Aggregator::new(AggregateOptions::default());
        scan(text.as_bytes(), &ScanOptions::default(), &mut a).unwrap();
        Arrival {
            at: a.latest_end().unwrap() + 600,
            summary: a.summary(&Floor::shared(&FloodRules::default())),
        }
    }

    #[test]
    fn a_flood_over_three_files_starts_goes_on_and_ends_once() {
        let policy = Policy::default();
        // Out of order, as S3 delivers: 25 minutes of flood in three files, two halves of the
        // last minute's rate in separate files.
        let files = vec![
            file(T0 + 900, 10, 400),
            file(T0, 15, 400),
            file(T0 + 1500, 1, 200),
            file(T0 + 1500, 1, 200),
        ];
        let sent = replay(files, &FloodRules::default(), &policy, 300);
        let stages: Vec<Stage> = sent.iter().map(|s| s.notice.stage).collect();
        assert_eq!(
            stages,
            [Stage::Started, Stage::Ongoing, Stage::Ended],
            "{sent:#?}"
        );
        let ended = &sent[2].incident;
        assert_eq!(ended.totals().minutes, 26);
        assert_eq!(ended.opened, T0);
        assert!(sent.windows(2).all(|w| w[0].at <= w[1].at));
        // Ended once quiet and settled after the last flagged minute.
        let quiet = ended.last_active + 60 + policy.settle_secs + policy.quiet_secs;
        assert!(
            sent[2].at >= quiet && sent[2].at < quiet + 300,
            "{} vs {quiet}",
            sent[2].at
        );
    }

    #[test]
    fn ordinary_files_send_nothing_and_no_files_nothing_either() {
        let sent = replay(
            vec![file(T0, 5, 100)],
            &FloodRules::default(),
            &Policy::default(),
            300,
        );
        assert!(sent.is_empty(), "{sent:#?}");
        assert!(replay(Vec::new(), &FloodRules::default(), &Policy::default(), 300).is_empty());
    }
}
