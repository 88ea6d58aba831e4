//! What the aggregation keeps of one subject seen from one vantage: a source's requests
//! ([`SourceStats`]) or what a target was served ([`TargetStats`]), per minute, with evidence
//! once it is heavy enough to need it.

use super::minutes::SourceMinutes;
use crate::evidence::{Evidence, TargetEvidence};
use crate::minute::{MinuteCounts, ServedCounts};
use crate::table::{MAX_WINDOWS_PER_SOURCE, Weighted, Windows, prefetch_lines};

/// Weight (packets + flows) a subject carries before evidence is kept for it: most sources send
/// a handful of flows and never need it.
pub(super) const EVIDENCE_FROM: u64 = 32;

/// What sources and targets have in common, for the table and the views.
pub(crate) trait Subject {
    /// The counts of one minute.
    type Counts: Copy;
    /// What is kept of its peers and ports once it weighs [`EVIDENCE_FROM`].
    type Evidence;

    /// Its minutes: `(window start, counts)`.
    fn minutes(&self) -> impl Iterator<Item = (i64, Self::Counts)> + '_;

    /// Its evidence (once started) and its weight (packets + flows).
    fn parts(&self) -> (Option<&Self::Evidence>, u64);

    /// Minutes it holds from the shared pool.
    fn pooled_minutes(&self) -> usize;

    /// Prefetches the minute found last.
    fn prefetch_minutes(&self);
}

impl<S: Subject> Weighted for S {
    fn weight(&self) -> u64 {
        self.parts().1
    }

    fn pooled(&self) -> usize {
        self.pooled_minutes()
    }

    fn prefetch_parts(&self) {
        self.prefetch_minutes();
        if let Some(e) = self.parts().0 {
            prefetch_lines(e);
        }
    }
}

/// Everything one source sent, seen from one vantage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceStats {
    pub(crate) windows: SourceMinutes,
    pub(crate) weight: u64,
    pub(crate) prior: u64,
    pub(crate) first_start: i64,
    pub(crate) last_end: i64,
    pub(crate) evidence: Option<Box<Evidence>>,
    /// Minutes were dropped for heavier ones (the memory budget): its counts are lower bounds.
    pub(crate) trimmed: bool,
}

impl Subject for SourceStats {
    type Counts = MinuteCounts;
    type Evidence = Evidence;

    fn minutes(&self) -> impl Iterator<Item = (i64, MinuteCounts)> + '_ {
        self.windows.iter()
    }

    fn parts(&self) -> (Option<&Evidence>, u64) {
        (self.evidence.as_deref(), self.weight)
    }

    fn pooled_minutes(&self) -> usize {
        self.windows.pooled()
    }

    fn prefetch_minutes(&self) {
        self.windows.prefetch_last();
    }
}

impl SourceStats {
    pub(super) fn new(prior: u64) -> SourceStats {
        SourceStats {
            windows: SourceMinutes::default(),
            weight: prior,
            prior,
            first_start: i64::MAX,
            last_end: i64::MIN,
            evidence: None,
            trimmed: false,
        }
    }

    pub(super) fn merge_from(&mut self, other: &SourceStats) {
        for (start, m) in other.windows.iter() {
            self.windows.merge(start, &m, MAX_WINDOWS_PER_SOURCE);
        }
        self.weight = self.weight.saturating_add(other.weight);
    }

    /// Adds `weight`; its evidence, started once it carries [`EVIDENCE_FROM`] (and then
    /// including the record being counted).
    #[inline]
    pub(super) fn weigh(&mut self, weight: u64) -> Option<&mut Evidence> {
        let before = self.weight;
        self.weight = self.weight.saturating_add(weight);
        if self.evidence.is_none() && self.weight >= EVIDENCE_FROM {
            self.evidence = Some(Box::new(Evidence::new(before)));
        }
        self.evidence.as_deref_mut()
    }

    /// Its flows, for the untracked count when it is evicted.
    pub(super) fn flows(&self) -> u64 {
        self.windows.iter().map(|(_, m)| u64::from(m.flows)).sum()
    }
}

/// Everything one address received as a server or target, seen from one vantage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetStats {
    pub(crate) windows: Windows<ServedCounts>,
    pub(crate) weight: u64,
    pub(crate) evidence: Option<Box<TargetEvidence>>,
}

impl Subject for TargetStats {
    type Counts = ServedCounts;
    type Evidence = TargetEvidence;

    fn minutes(&self) -> impl Iterator<Item = (i64, ServedCounts)> + '_ {
        self.windows.iter().map(|(start, s)| (start, *s))
    }

    fn parts(&self) -> (Option<&TargetEvidence>, u64) {
        (self.evidence.as_deref(), self.weight)
    }

    fn pooled_minutes(&self) -> usize {
        self.windows.pooled()
    }

    fn prefetch_minutes(&self) {
        self.windows.prefetch_last();
    }
}

impl TargetStats {
    pub(super) fn new(prior: u64) -> TargetStats {
        TargetStats {
            windows: Windows::default(),
            weight: prior,
            evidence: None,
        }
    }
}
