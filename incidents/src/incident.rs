//! An incident: one flood of one subject from its first flagged minute to its end.

use std::collections::BTreeMap;

use flowlog_core::{FlaggedMinute, Rule, Severity};
use serde::{Deserialize, Serialize};

use crate::flood::FloodFinding;

/// Flagged minutes kept one by one per incident (a day); older ones are added into
/// [`Incident::earlier`].
const MINUTES_KEPT: usize = 1440;

/// What an incident is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One flooding source.
    Source,
    /// One target under attack from many sources.
    Target,
}

/// The stage a notice announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Stage {
    /// The flood began.
    Started,
    /// It goes on.
    Ongoing,
    /// It is over.
    Ended,
}

impl Stage {
    /// `STARTED`, `ONGOING`, `ENDED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Started => "STARTED",
            Stage::Ongoing => "ONGOING",
            Stage::Ended => "ENDED",
        }
    }
}

/// Flows, packets and bytes, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    /// Flagged minutes.
    pub minutes: u64,
    /// Flows.
    pub flows: u64,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

impl Figures {
    fn add(&mut self, m: &FlaggedMinute) {
        self.minutes += 1;
        self.flows = self.flows.saturating_add(m.flows);
        self.packets = self.packets.saturating_add(m.packets);
        self.bytes = self.bytes.saturating_add(m.bytes);
    }
}

/// The worst minute so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Peak {
    /// Its start.
    pub window_start: i64,
    /// Flows in it.
    pub flows_per_minute: u64,
    /// Packets per second.
    pub packets_per_second: f64,
    /// Bits per second.
    pub bits_per_second: f64,
}

/// A notice claimed for publishing and not yet confirmed sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Its stage.
    pub stage: Stage,
    /// Its number within the incident.
    pub seq: u32,
    /// When it was claimed (Unix seconds).
    pub claimed_at: i64,
}

/// One flood of one subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Who it is about ([`FloodFinding::key`]).
    pub subject: String,
    /// Source or target.
    pub kind: Kind,
    /// Stable id: the subject and the start of its first flagged minute.
    pub id: String,
    /// The flood's shape (of the latest finding).
    pub rule: Rule,
    /// The highest severity seen.
    pub severity: Severity,
    /// Start of the first flagged minute.
    pub opened: i64,
    /// Start of the last flagged minute.
    pub last_active: i64,
    /// The worst minute.
    pub peak: Peak,
    /// Flagged minutes with their figures (the latest [`MINUTES_KEPT`]).
    pub minutes: BTreeMap<i64, FlaggedMinute>,
    /// Totals of flagged minutes older than those kept.
    pub earlier: Figures,
    /// Notices sent so far (the number of the latest).
    pub sent: u32,
    /// When the latest notice was sent (Unix seconds).
    pub last_sent_at: i64,
    /// `last_active` when the latest notice was sent.
    pub last_sent_active: i64,
    /// When the incident ended (Unix seconds), if it did.
    pub ended_at: Option<i64>,
    /// A notice claimed but not confirmed sent.
    pub pending: Option<Pending>,
    /// The latest finding, for the notices' evidence.
    pub finding: FloodFinding,
}

impl Incident {
    /// A new incident for `finding`, whose first new flagged minute is `opened`.
    pub(crate) fn open(finding: &FloodFinding, opened: i64) -> Incident {
        let subject = finding.key();
        Incident {
            id: format!("{subject}@{opened}"),
            subject,
            kind: finding.kind(),
            rule: finding.rule(),
            severity: finding.severity(),
            opened,
            last_active: opened,
            peak: Peak::default(),
            minutes: BTreeMap::new(),
            earlier: Figures::default(),
            sent: 0,
            last_sent_at: i64::MIN,
            last_sent_active: i64::MIN,
            ended_at: None,
            pending: None,
            finding: finding.clone(),
        }
    }

    /// Whether it has ended.
    pub fn is_open(&self) -> bool {
        self.ended_at.is_none()
    }

    /// Flows, packets and bytes over every flagged minute.
    pub fn totals(&self) -> Figures {
        let mut t = self.earlier;
        for m in self.minutes.values() {
            t.add(m);
        }
        t
    }

    /// Seconds from its first flagged minute to the end of its last.
    pub fn duration_secs(&self) -> i64 {
        self.last_active + flowlog_core::WINDOW_SECS - self.opened
    }

    /// Takes in the latest finding: its flagged minutes (late data may complete a minute: a
    /// minute's larger figures win), rule, severity and peak.
    pub(crate) fn absorb(&mut self, finding: &FloodFinding) {
        for m in finding.flagged().iter().filter(|m| m.start >= self.opened) {
            let slot = self.minutes.entry(m.start).or_insert(*m);
            if (m.flows, m.packets) > (slot.flows, slot.packets) {
                *slot = *m;
            }
            self.last_active = self.last_active.max(m.start);
        }
        while self.minutes.len() > MINUTES_KEPT {
            if let Some((_, oldest)) = self.minutes.pop_first() {
                self.earlier.add(&oldest);
            }
        }
        self.rule = finding.rule();
        self.severity = self.severity.max(finding.severity());
        let rate = finding.rate();
        if (rate.flows_per_minute, rate.packets_per_second)
            > (self.peak.flows_per_minute, self.peak.packets_per_second)
        {
            self.peak = Peak {
                window_start: finding.window_start(),
                flows_per_minute: rate.flows_per_minute,
                packets_per_second: rate.packets_per_second,
                bits_per_second: rate.bits_per_second,
            };
        }
        self.finding = finding.clone();
    }
}

/// One message to send about an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// Its stage.
    pub stage: Stage,
    /// Its number within the incident (1 for STARTED).
    pub seq: u32,
    /// Stable id: the incident's id and the number; the same notice sent twice has the same id.
    pub alert_id: String,
}

impl Notice {
    /// The notice a pending claim stands for (to publish it again).
    pub fn of_pending(incident: &Incident, pending: &Pending) -> Notice {
        Notice::of(incident, pending.stage, pending.seq)
    }

    pub(crate) fn of(incident: &Incident, stage: Stage, seq: u32) -> Notice {
        Notice {
            stage,
            seq,
            alert_id: format!("{}#{seq}", incident.id),
        }
    }
}
