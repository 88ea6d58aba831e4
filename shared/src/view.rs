//! Read-only views of the aggregation: one source or target over all its vantages.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use crate::aggregate::{SourceStats, Subject, TargetStats};
use crate::evidence::{Evidence, TargetEvidence};
use crate::minute::{Minute, Served};
use crate::sketch::Heavy;
use crate::source::{Source, Vantage};

/// One source's totals, as `flowlogs analyze --json` prints them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceSummary {
    /// The source address (or IPv6 /64).
    pub source: Source,
    /// Request flow records.
    pub flows: u64,
    /// Request packets.
    pub packets: u64,
    /// Request bytes.
    pub bytes: u64,
    /// Rejected request flows.
    pub rejected: u64,
    /// TCP connections that never completed their handshake (the name is kept from when this
    /// counted `tcp-flags` = 2 records).
    pub syn_only: u64,
    /// TCP connections opened.
    pub connections: u64,
    /// Request flows in the busiest one-minute window.
    pub peak_flows_per_minute: u64,
    /// Earliest flow start, Unix seconds.
    pub first_start: i64,
    /// Latest flow end, Unix seconds.
    pub last_end: i64,
    /// The source was tracked only once its traffic outweighed others' (the table was full):
    /// the counts miss what it sent before and are lower bounds.
    pub lower_bound: bool,
}

/// One source as seen from each vantage (its own interface, its peers', relays' legs): its
/// figures per minute are those of the vantage that saw the most of it (each alone sees the
/// whole of what it sends through it), never their sum.
#[derive(Debug, Clone, Copy)]
pub struct SourceView<'a> {
    /// The source.
    pub source: Source,
    pub(crate) by_vantage: [Option<&'a SourceStats>; Vantage::ALL.len()],
}

impl<'a> SourceView<'a> {
    fn stats(&self) -> impl Iterator<Item = &'a SourceStats> {
        self.by_vantage.into_iter().flatten()
    }

    /// The source's minutes in time order: for each, the vantage with more request flows.
    pub fn windows(&self) -> Vec<(i64, Minute)> {
        busiest(self.by_vantage, |m: &Minute| (m.flows, m.traffic().packets))
    }

    /// Its minutes as each vantage saw them.
    pub(crate) fn vantage_windows(&self) -> Vec<(Vantage, Vec<(i64, Minute)>)> {
        vantage_windows(self.by_vantage)
    }

    /// The evidence of the vantage that saw the most of it.
    pub fn evidence(&self) -> Option<&'a Evidence> {
        heaviest_evidence(self.by_vantage)
    }

    /// The source's weight (packets + flows) since evidence started.
    pub fn evidence_weight(&self) -> u64 {
        self.stats()
            .filter_map(|s| s.evidence.as_ref().map(|e| s.weight - e.since_weight))
            .max()
            .unwrap_or(0)
    }

    /// Whether it was tracked only once the table was full, or lost minutes to the memory
    /// budget (its counts are lower bounds).
    pub fn lower_bound(&self) -> bool {
        self.stats().any(|s| s.prior > 0 || s.trimmed)
    }

    /// Sums over its minutes.
    pub fn summary(&self) -> SourceSummary {
        let mut s = SourceSummary {
            source: self.source,
            flows: 0,
            packets: 0,
            bytes: 0,
            rejected: 0,
            syn_only: 0,
            connections: 0,
            peak_flows_per_minute: 0,
            first_start: self.stats().map(|s| s.first_start).min().unwrap_or(0),
            last_end: self.stats().map(|s| s.last_end).max().unwrap_or(0),
            lower_bound: self.lower_bound(),
        };
        for (_, m) in self.windows() {
            let t = m.traffic();
            s.flows += u64::from(m.flows);
            s.packets = s.packets.saturating_add(t.packets);
            s.bytes = s.bytes.saturating_add(t.bytes);
            s.rejected += u64::from(m.rejected);
            s.syn_only += u64::from(m.half_open);
            s.connections += u64::from(m.connections);
            s.peak_flows_per_minute = s.peak_flows_per_minute.max(u64::from(m.flows));
        }
        s
    }
}

/// One address as a target, over its vantages (see [`SourceView`]).
#[derive(Debug, Clone, Copy)]
pub struct TargetView<'a> {
    /// The address.
    pub address: IpAddr,
    pub(crate) by_vantage: [Option<&'a TargetStats>; Vantage::ALL.len()],
}

impl<'a> TargetView<'a> {
    fn stats(&self) -> impl Iterator<Item = &'a TargetStats> {
        self.by_vantage.into_iter().flatten()
    }

    /// What it received per minute, in time order (the vantage that saw more of each minute).
    pub fn windows(&self) -> Vec<(i64, Served)> {
        busiest(self.by_vantage, |s: &Served| (s.flows, s.packets))
    }

    /// What it received as each vantage saw it.
    pub(crate) fn vantage_windows(&self) -> Vec<(Vantage, Vec<(i64, Served)>)> {
        vantage_windows(self.by_vantage)
    }

    /// The evidence of the vantage that saw the most of it.
    pub(crate) fn target_evidence(&self) -> Option<&'a TargetEvidence> {
        heaviest_evidence(self.by_vantage)
    }

    /// Estimated distinct sources that sent it requests.
    pub fn distinct_sources(&self) -> u64 {
        self.stats()
            .filter_map(|s| s.evidence.as_ref())
            .map(|e| e.distinct.estimate())
            .max()
            .unwrap_or(0)
    }

    /// Its heaviest sources (by packets + flows), with lower-bound weights.
    pub fn top_sources(&self) -> Vec<Heavy<IpAddr>> {
        self.target_evidence()
            .map(|e| e.heaviest_sources())
            .unwrap_or_default()
    }

    /// Its most requested ports.
    pub fn top_ports(&self) -> Vec<Heavy<u16>> {
        self.target_evidence()
            .map(|e| e.ports.heaviest())
            .unwrap_or_default()
    }
}

/// A subject as each vantage saw it (`None`: not seen from there).
type ByVantage<'a, S> = [Option<&'a S>; Vantage::ALL.len()];

/// A subject's minutes in time order: for each, the vantage that saw the most of it by `key`.
fn busiest<'a, S, T, K>(by_vantage: ByVantage<'a, S>, key: impl Fn(&T) -> K) -> Vec<(i64, T)>
where
    S: Subject,
    T: Default + for<'c> From<&'c S::Counts>,
    K: PartialOrd,
{
    let mut by_start: BTreeMap<i64, T> = BTreeMap::new();
    for stats in by_vantage.into_iter().flatten() {
        for (start, counts) in stats.minutes() {
            let m = T::from(&counts);
            let slot = by_start.entry(start).or_default();
            if key(&m) > key(slot) {
                *slot = m;
            }
        }
    }
    by_start.into_iter().collect()
}

/// A subject's minutes as each vantage saw them.
fn vantage_windows<'a, S, T>(by_vantage: ByVantage<'a, S>) -> Vec<(Vantage, Vec<(i64, T)>)>
where
    S: Subject,
    T: for<'c> From<&'c S::Counts>,
{
    Vantage::ALL
        .into_iter()
        .zip(by_vantage)
        .filter_map(|(v, stats)| {
            let minutes = stats?.minutes();
            Some((v, minutes.map(|(t, m)| (t, T::from(&m))).collect()))
        })
        .collect()
}

/// The evidence of the vantage that saw the most of a subject (the heaviest that has some).
fn heaviest_evidence<'a, S: Subject>(by_vantage: ByVantage<'a, S>) -> Option<&'a S::Evidence> {
    by_vantage
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let (evidence, weight) = s.parts();
            evidence.map(|e| (weight, e))
        })
        .max_by_key(|&(weight, _)| weight)
        .map(|(_, e)| e)
}
