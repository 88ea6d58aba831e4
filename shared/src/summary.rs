//! What the verdict needs of an aggregation, as a value: serialisable (one object's share of
//! the shared state), mergeable (objects of any number of files, flow logs and delivery times
//! add up as if they were one), and filtered by a floor so only traffic that could be part of a
//! flood is kept. [`crate::detect`] judges a summary.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::aggregate::Aggregator;
use crate::detect::FloodRules;
use crate::evidence::{PortSet, TOP_SOURCES, TOP_TARGETS};
use crate::minute::{Minute, Served};
use crate::sketch::{Distinct, Heavy};
use crate::source::{Source, Vantage};

/// Destination addresses and ports a summary keeps per source.
const ADDRESSES: usize = 4;

/// The least a minute must show for its subject to be kept in a summary: a fraction of each
/// rule's threshold. A flood split over objects (AWS cuts files at 75 MB and every 5 minutes,
/// and a source may reach several flow logs) is found as long as each part carries this much.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Floor {
    half_open: u64,
    connections: u64,
    tcp_packets: u64,
    udp_packets: u64,
    icmp_packets: u64,
    target_half_open: u64,
}

impl Floor {
    /// Keeps everything (the CLI over local files).
    pub const NONE: Floor = Floor {
        half_open: 0,
        connections: 0,
        tcp_packets: 0,
        udp_packets: 0,
        icmp_packets: 0,
        target_half_open: 0,
    };

    /// `1 / divisor` of each threshold of `rules`.
    /// How many parts a minute's traffic may be split into and still be found: the floor
    /// the functions share objects' figures above (files of several flow logs, of two
    /// deliveries, of shards past 75 MB).
    pub const SHARED_DIVISOR: u64 = 10;

    /// The floor of the shared state: a tenth ([`Floor::SHARED_DIVISOR`]) of each threshold.
    pub fn shared(rules: &FloodRules) -> Floor {
        Floor::of(rules, Floor::SHARED_DIVISOR)
    }

    pub fn of(rules: &FloodRules, divisor: u64) -> Floor {
        let part = |threshold: u64| (threshold / divisor.max(1)).max(1);
        Floor {
            half_open: part(rules.half_open_per_minute),
            connections: part(rules.connections_per_minute),
            tcp_packets: part(rules.request_packets_per_minute),
            udp_packets: part(rules.udp_packets_per_minute),
            icmp_packets: part(rules.icmp_packets_per_minute),
            target_half_open: part(rules.target_half_open_per_minute),
        }
    }

    fn keeps_source(&self, m: &Minute) -> bool {
        u64::from(m.half_open) >= self.half_open
            || u64::from(m.connections) >= self.connections
            || m.tcp.packets >= self.tcp_packets
            || m.udp.packets >= self.udp_packets
            || m.icmp.packets >= self.icmp_packets
    }

    fn keeps_target(&self, s: &Served) -> bool {
        u64::from(s.half_open) >= self.target_half_open
            || s.udp_packets >= self.udp_packets
            || s.icmp_packets >= self.icmp_packets
    }
}

/// A source's evidence, as a summary keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEvidence {
    /// Weight (packets + flows) since the evidence started: shares are of it.
    pub weight: u64,
    /// Heaviest destination addresses.
    pub addresses: Vec<Heavy<IpAddr>>,
    /// Heaviest destination ports.
    pub ports: Vec<Heavy<u16>>,
    /// Distinct destination ports.
    pub port_set: Option<PortSet>,
    /// For an IPv6 /64: its addresses that sent.
    pub members: Option<Distinct>,
    /// Protocol of the latest request.
    pub protocol: u8,
}

impl SourceEvidence {
    fn merge(&mut self, other: &SourceEvidence) {
        self.weight = self.weight.saturating_add(other.weight);
        self.addresses = Heavy::merge(&self.addresses, &other.addresses, ADDRESSES);
        self.ports = Heavy::merge(&self.ports, &other.ports, TOP_TARGETS);
        match (&mut self.port_set, &other.port_set) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, Some(theirs)) => self.port_set = Some(*theirs),
            _ => {}
        }
        match (&mut self.members, &other.members) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, Some(theirs)) => self.members = Some(theirs.clone()),
            _ => {}
        }
        if other.protocol != 0 {
            self.protocol = other.protocol;
        }
    }
}

/// A target's evidence, as a summary keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetEvidence {
    /// Heaviest sources.
    pub sources: Vec<Heavy<IpAddr>>,
    /// Most requested ports.
    pub ports: Vec<Heavy<u16>>,
    /// Distinct sources.
    pub distinct: Distinct,
}

impl TargetEvidence {
    fn merge(&mut self, other: &TargetEvidence) {
        self.sources = Heavy::merge(&self.sources, &other.sources, TOP_SOURCES);
        self.ports = Heavy::merge(&self.ports, &other.ports, 4);
        self.distinct.merge(&other.distinct);
    }
}

/// One source in a summary: its minutes per vantage, and its evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePart {
    minutes: BTreeMap<Vantage, BTreeMap<i64, Minute>>,
    evidence: Option<SourceEvidence>,
    lower_bound: bool,
}

impl SourcePart {
    /// Its minutes in time order: for each, the vantage with more request flows (each vantage
    /// alone sees everything a source sends through it; see [`crate::SourceView`]).
    pub fn windows(&self) -> Vec<(i64, Minute)> {
        merged(self.minutes.values(), |m| (m.flows, m.traffic().packets))
    }

    /// Its evidence.
    pub fn evidence(&self) -> Option<&SourceEvidence> {
        self.evidence.as_ref()
    }

    /// Whether its counts may miss some of its traffic (tracked late).
    pub fn lower_bound(&self) -> bool {
        self.lower_bound
    }

    fn merge(&mut self, other: &SourcePart) {
        merge_minutes(&mut self.minutes, &other.minutes, Minute::merge);
        match (&mut self.evidence, &other.evidence) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, Some(theirs)) => self.evidence = Some(theirs.clone()),
            _ => {}
        }
        self.lower_bound |= other.lower_bound;
    }
}

/// One target in a summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetPart {
    minutes: BTreeMap<Vantage, BTreeMap<i64, Served>>,
    evidence: Option<TargetEvidence>,
}

impl TargetPart {
    /// What it received per minute, in time order (the vantage that saw more of each minute).
    pub fn windows(&self) -> Vec<(i64, Served)> {
        merged(self.minutes.values(), |s| (s.flows, s.packets))
    }

    /// Its evidence.
    pub fn evidence(&self) -> Option<&TargetEvidence> {
        self.evidence.as_ref()
    }

    fn merge(&mut self, other: &TargetPart) {
        merge_minutes(&mut self.minutes, &other.minutes, Served::merge);
        match (&mut self.evidence, &other.evidence) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, Some(theirs)) => self.evidence = Some(theirs.clone()),
            _ => {}
        }
    }
}

fn merged<'a, T: Copy + Default + 'a, K: Ord>(
    vantages: impl Iterator<Item = &'a BTreeMap<i64, T>>,
    rank: impl Fn(&T) -> K,
) -> Vec<(i64, T)> {
    let mut by_start: BTreeMap<i64, T> = BTreeMap::new();
    for minutes in vantages {
        for (start, value) in minutes {
            let slot = by_start.entry(*start).or_default();
            if rank(value) > rank(slot) {
                *slot = *value;
            }
        }
    }
    by_start.into_iter().collect()
}

fn merge_minutes<T: Copy + Default>(
    mine: &mut BTreeMap<Vantage, BTreeMap<i64, T>>,
    theirs: &BTreeMap<Vantage, BTreeMap<i64, T>>,
    add: fn(&mut T, &T),
) {
    for (vantage, minutes) in theirs {
        let mine = mine.entry(*vantage).or_default();
        for (start, value) in minutes {
            add(mine.entry(*start).or_default(), value);
        }
    }
}

/// What the verdict needs of one or more objects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Sources (addresses and IPv6 /64s) at or above the floor.
    pub sources: BTreeMap<Source, SourcePart>,
    /// Targets at or above the floor, and those of kept sources that serve too.
    pub targets: BTreeMap<IpAddr, TargetPart>,
    /// SKIPDATA records per minute.
    pub skipdata: BTreeMap<i64, u64>,
    /// Addresses known to relay (NAT gateways, load balancers, Transit Gateways).
    pub relays: BTreeSet<IpAddr>,
    /// Kept addresses that have an interface in the log.
    pub locals: BTreeSet<IpAddr>,
    /// Sources and targets below the floor, left out.
    pub omitted: u64,
    /// Latest flow end of any record, Unix seconds.
    pub latest_end: Option<i64>,
}

impl Summary {
    /// Adds another summary (of other objects: disjoint records).
    pub fn merge(&mut self, other: &Summary) {
        for (source, part) in &other.sources {
            self.sources.entry(*source).or_default().merge(part);
        }
        for (target, part) in &other.targets {
            self.targets.entry(*target).or_default().merge(part);
        }
        for (start, n) in &other.skipdata {
            *self.skipdata.entry(*start).or_default() += n;
        }
        self.relays.extend(other.relays.iter().copied());
        self.locals.extend(other.locals.iter().copied());
        self.omitted += other.omitted;
        self.latest_end = self.latest_end.max(other.latest_end);
    }

    /// Keeps only minutes starting in `[from, until)` (and drops subjects left empty).
    pub fn retain_minutes(&mut self, from: i64, until: i64) {
        let keep = |start: &i64| (from..until).contains(start);
        for part in self.sources.values_mut() {
            for minutes in part.minutes.values_mut() {
                minutes.retain(|s, _| keep(s));
            }
        }
        for part in self.targets.values_mut() {
            for minutes in part.minutes.values_mut() {
                minutes.retain(|s, _| keep(s));
            }
        }
        self.sources
            .retain(|_, p| p.minutes.values().any(|m| !m.is_empty()));
        self.targets
            .retain(|_, p| p.minutes.values().any(|m| !m.is_empty()));
        self.skipdata.retain(|s, _| keep(s));
    }

    /// Whether the address relays other hosts' connections.
    pub fn is_relay(&self, address: IpAddr) -> bool {
        self.relays.contains(&address)
    }

    /// Whether the address has an interface in the log.
    pub fn is_local(&self, address: IpAddr) -> bool {
        self.locals.contains(&address)
    }

    /// Whether it holds no source and no target (nothing above the floor).
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty() && self.targets.is_empty()
    }

    /// The first and last minute starts it holds figures for.
    pub fn minute_range(&self) -> Option<(i64, i64)> {
        let sources = self.sources.values().flat_map(|p| p.minutes.values());
        let targets = self.targets.values().flat_map(|p| p.minutes.values());
        let firsts = sources
            .clone()
            .filter_map(|m| m.first_key_value().map(|(s, _)| *s));
        let lasts = sources.filter_map(|m| m.last_key_value().map(|(s, _)| *s));
        let first = firsts
            .chain(
                targets
                    .clone()
                    .filter_map(|m| m.first_key_value().map(|(s, _)| *s)),
            )
            .min()?;
        let last = lasts
            .chain(targets.filter_map(|m| m.last_key_value().map(|(s, _)| *s)))
            .max()?;
        Some((first, last))
    }

    /// Keeps the `max_sources` sources and `max_targets` targets with the most flows in their
    /// worst minute (ties to the smaller key), counting the rest as omitted: how a summary is
    /// cut to fit a size budget.
    pub fn keep_heaviest(&mut self, max_sources: usize, max_targets: usize) {
        fn worst<T: Copy + Default>(
            minutes: &BTreeMap<Vantage, BTreeMap<i64, T>>,
            flows: fn(&T) -> u32,
        ) -> u32 {
            minutes
                .values()
                .flat_map(|m| m.values())
                .map(flows)
                .max()
                .unwrap_or(0)
        }
        if self.sources.len() > max_sources {
            let mut ranked: Vec<(u32, Source)> = self
                .sources
                .iter()
                .map(|(s, p)| (worst(&p.minutes, |m: &Minute| m.flows), *s))
                .collect();
            ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            for (_, source) in &ranked[max_sources..] {
                self.sources.remove(source);
            }
            self.omitted += (ranked.len() - max_sources) as u64;
        }
        if self.targets.len() > max_targets {
            let mut ranked: Vec<(u32, IpAddr)> = self
                .targets
                .iter()
                .map(|(t, p)| (worst(&p.minutes, |s: &Served| s.flows), *t))
                .collect();
            ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            for (_, target) in &ranked[max_targets..] {
                self.targets.remove(target);
            }
            self.omitted += (ranked.len() - max_targets) as u64;
        }
    }
}

impl Aggregator {
    /// The summary of what was read: every source and target with a minute at or above
    /// `floor` (all of them with [`Floor::NONE`]), the targets of kept sources that also serve
    /// (to tell relays and servers from clients), and the flags of kept addresses.
    pub fn summary(&self, floor: &Floor) -> Summary {
        let mut summary = Summary {
            skipdata: self.skipdata_by_window().clone(),
            latest_end: self.latest_end(),
            ..Summary::default()
        };
        let mut addresses: BTreeSet<IpAddr> = BTreeSet::new();
        for view in self.sources().into_iter().chain(self.networks()) {
            let windows = view.vantage_windows();
            if !windows
                .iter()
                .any(|(_, ms)| ms.iter().any(|(_, m)| floor.keeps_source(m)))
            {
                summary.omitted += 1;
                continue;
            }
            let evidence = view.evidence().map(|e| SourceEvidence {
                weight: view.evidence_weight(),
                addresses: e.addresses(),
                ports: e.top_ports(),
                port_set: Some(*e.ports()),
                members: matches!(view.source, Source::Net64(_)).then(|| e.members().clone()),
                protocol: e.protocol(),
            });
            if let Source::Addr(ip) = view.source {
                addresses.insert(ip);
            }
            summary.sources.insert(
                view.source,
                SourcePart {
                    minutes: windows
                        .into_iter()
                        .map(|(v, ms)| (v, ms.into_iter().collect()))
                        .collect(),
                    evidence,
                    lower_bound: view.lower_bound(),
                },
            );
        }
        for view in self.targets() {
            let windows = view.vantage_windows();
            let flooded = windows
                .iter()
                .any(|(_, ms)| ms.iter().any(|(_, s)| floor.keeps_target(s)));
            if !flooded && !addresses.contains(&view.address) {
                summary.omitted += 1;
                continue;
            }
            addresses.insert(view.address);
            let evidence = view.target_evidence().map(|e| TargetEvidence {
                sources: e.heaviest_sources(),
                ports: e.ports.heaviest(),
                distinct: e.distinct.clone(),
            });
            summary.targets.insert(
                view.address,
                TargetPart {
                    minutes: windows
                        .into_iter()
                        .map(|(v, ms)| (v, ms.into_iter().collect()))
                        .collect(),
                    evidence,
                },
            );
        }
        for ip in addresses {
            if self.is_relay(ip) {
                summary.relays.insert(ip);
            }
            if self.is_local(ip) {
                summary.locals.insert(ip);
            }
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::AggregateOptions;
    use crate::scan::{ScanOptions, scan};

    const HEADER: &str = "interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action tcp-flags flow-direction log-status";

    fn summary_of(lines: &str, floor: &Floor) -> Summary {
        let mut a = Aggregator::new(AggregateOptions::default());
        scan(
            format!("{HEADER}\n{lines}").as_bytes(),
            &ScanOptions::default(),
            &mut a,
        )
        .unwrap();
        a.summary(floor)
    }

    fn syns(source: &str, n: u32, t0: i64) -> String {
        (0..n)
            .map(|i| {
                format!(
                    "eni-1 {source} 10.0.0.5 {} 443 6 1 44 {} {} ACCEPT 2 ingress OK\n",
                    20000 + i,
                    t0 + i64::from(i % 50),
                    t0 + i64::from(i % 50) + 1
                )
            })
            .collect()
    }

    #[test]
    fn the_floor_keeps_flood_shaped_sources_and_leaves_the_rest_out() {
        let text = syns("203.0.113.7", 40, 1_700_000_040) + &syns("198.51.100.1", 3, 1_700_000_040);
        let rules = FloodRules::default();
        let s = summary_of(&text, &Floor::of(&rules, 10));
        let kept: Vec<String> = s.sources.keys().map(|k| k.to_string()).collect();
        assert_eq!(kept, ["203.0.113.7"]);
        assert!(s.omitted >= 1);
        assert_eq!(summary_of(&text, &Floor::NONE).sources.len(), 2);
    }

    #[test]
    fn summaries_of_parts_of_a_minute_merge_to_the_whole() {
        let t0 = 1_700_000_040;
        let whole = summary_of(&syns("203.0.113.7", 400, t0), &Floor::NONE);
        let mut merged = summary_of(&syns("203.0.113.7", 200, t0), &Floor::NONE);
        merged.merge(&summary_of(&syns("203.0.113.7", 200, t0), &Floor::NONE));
        let windows = |s: &Summary| s.sources.values().next().unwrap().windows();
        assert_eq!(windows(&merged), windows(&whole));
        // Evidence starts once a source carries some weight, in each object: close, not equal.
        let source = "203.0.113.7".parse().unwrap();
        let evidence = |s: &Summary| s.sources[&source].evidence().unwrap().clone();
        let (merged, whole) = (evidence(&merged), evidence(&whole));
        assert_eq!(merged.addresses[0].key, whole.addresses[0].key);
        assert!(
            whole.weight - merged.weight <= 32,
            "{} vs {}",
            merged.weight,
            whole.weight
        );
    }

    #[test]
    fn a_summary_survives_json() {
        let s = summary_of(&syns("2001:db8::7", 40, 1_700_000_040), &Floor::NONE);
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Summary>(&text).unwrap(), s);
    }

    #[test]
    fn minutes_outside_a_range_are_dropped() {
        let t0 = 1_700_000_040;
        let mut s = summary_of(
            &(syns("203.0.113.7", 40, t0) + &syns("203.0.113.7", 40, t0 + 600)),
            &Floor::NONE,
        );
        s.retain_minutes(t0 + 300, t0 + 3600);
        let windows = s.sources.values().next().unwrap().windows();
        assert_eq!(
            windows.iter().map(|(start, _)| *start).collect::<Vec<_>>(),
            [t0 + 600]
        );
    }

    #[test]
    fn the_heaviest_sources_are_kept_and_the_rest_counted_omitted() {
        let t0 = 1_700_000_040;
        let lines = syns("203.0.113.7", 300, t0)
            + &syns("203.0.113.8", 100, t0)
            + &syns("203.0.113.9", 200, t0);
        let mut s = summary_of(&lines, &Floor::NONE);
        assert_eq!(s.minute_range(), Some((t0, t0)));
        let omitted = s.omitted;
        s.keep_heaviest(2, usize::MAX);
        let kept: Vec<String> = s.sources.keys().map(ToString::to_string).collect();
        assert_eq!(kept, ["203.0.113.7", "203.0.113.9"]);
        assert_eq!(s.omitted, omitted + 1);
        s.keep_heaviest(0, 0);
        assert!(s.is_empty());
        assert_eq!(s.minute_range(), None);
    }
}
