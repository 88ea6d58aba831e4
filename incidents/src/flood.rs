//! A finding about a source or a target, owned (an incident keeps its latest one).

use flowlog_core::{Finding, FlaggedMinute, Rate, Rule, Severity, TargetFinding};
use serde::{Deserialize, Serialize};

use crate::incident::Kind;

/// Flagged minutes a finding carries once kept in an incident (and so in its notices): the
/// latest hour. The incident keeps every minute's figures itself, and notices stay far below
/// SNS's 256 KiB however long a flood lasts.
pub const FLAGGED_IN_FINDING: usize = 60;

/// A flooding source, or a target flooded by many sources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FloodFinding {
    /// One source flooding.
    Source(Finding),
    /// One target flooded by many sources.
    Target(TargetFinding),
}

impl FloodFinding {
    /// Who it is about, as incidents and FIFO group ids know it: the source (`203.0.113.7`,
    /// `2001:db8:1:2::/64`), or `target-` and the target's address.
    pub fn key(&self) -> String {
        match self {
            FloodFinding::Source(f) => f.source.to_string(),
            FloodFinding::Target(t) => format!("target-{}", t.target),
        }
    }

    /// Source or target.
    pub fn kind(&self) -> Kind {
        match self {
            FloodFinding::Source(_) => Kind::Source,
            FloodFinding::Target(_) => Kind::Target,
        }
    }

    /// The flood's shape.
    pub fn rule(&self) -> Rule {
        match self {
            FloodFinding::Source(f) => f.rule,
            FloodFinding::Target(t) => t.rule,
        }
    }

    /// How urgent it is.
    pub fn severity(&self) -> Severity {
        match self {
            FloodFinding::Source(f) => f.severity,
            FloodFinding::Target(t) => t.severity,
        }
    }

    /// Start of the worst minute.
    pub fn window_start(&self) -> i64 {
        match self {
            FloodFinding::Source(f) => f.window_start,
            FloodFinding::Target(t) => t.window_start,
        }
    }

    /// The worst minute's rates.
    pub fn rate(&self) -> &Rate {
        match self {
            FloodFinding::Source(f) => &f.rate,
            FloodFinding::Target(t) => &t.rate,
        }
    }

    /// The flagged minutes.
    pub fn flagged(&self) -> &[FlaggedMinute] {
        match self {
            FloodFinding::Source(f) => &f.flagged,
            FloodFinding::Target(t) => &t.flagged,
        }
    }

    /// The same finding with only its latest [`FLAGGED_IN_FINDING`] flagged minutes (the
    /// count of flagged windows stays whole).
    pub fn trimmed(&self) -> FloodFinding {
        let mut finding = self.clone();
        let flagged = match &mut finding {
            FloodFinding::Source(f) => &mut f.flagged,
            FloodFinding::Target(t) => &mut t.flagged,
        };
        let excess = flagged.len().saturating_sub(FLAGGED_IN_FINDING);
        flagged.drain(..excess);
        finding
    }

    /// Every finding of a verdict, sources first.
    pub fn all(detection: &flowlog_core::Detection) -> Vec<FloodFinding> {
        let sources = detection.floods.iter().cloned().map(FloodFinding::Source);
        let targets = detection.targets.iter().cloned().map(FloodFinding::Target);
        sources.chain(targets).collect()
    }
}
