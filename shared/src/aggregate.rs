//! Per-source, per-minute aggregation of traffic records: the fast path of the crate.
//!
//! Each record is counted once, for the client of its connection: a request for the address
//! that sent it, a reply (only its UDP packets matter, see [`Minute::udp_answered`]) for the
//! address it went back to. The server side of every request is counted as well, as a target
//! ([`Served`]), which is how floods from many sources against one address are seen. Legs of a
//! connection at a NAT gateway, load balancer or Transit Gateway interface (`pkt-srcaddr` or
//! `pkt-dstaddr` differing from the interface's addresses) repeat what the endpoints' own
//! records say: they only mark the relay.
//!
//! Only the columns the aggregation needs are parsed. Memory is bounded: at most
//! `max_sources` sources and as many targets are tracked (the heaviest, see [`crate::table`]),
//! the rest are counted together as untracked; each keeps at most
//! [`crate::MAX_WINDOWS_PER_SOURCE`] minutes and fixed-size evidence.

use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use serde::Serialize;

use crate::classify::{self, Role, TCP, UDP};
use crate::field::Field;
use crate::format::Format;
use crate::minute::{Minute, Served, Spread, Traffic, WindowTotals, window_of};
use crate::record::{Action, LogStatus};
use crate::scan::RecordVisitor;
use crate::sketch::{Distinct, TopK};
use crate::skip::SkipReason;
use crate::source::{Direction, Interfaces, Source, Vantage, normalize};
use crate::table::{Slot, Table, Weighted, Windows};
use crate::token::{self, Span};

/// Which address a flow is attributed to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum Attribution {
    /// `srcaddr`/`dstaddr`: the addresses seen by the interface (a NAT gateway's or a load
    /// balancer's own for traffic through them).
    #[serde(rename = "srcaddr")]
    SrcAddr,
    /// `pkt-srcaddr`/`pkt-dstaddr` when the format has them: the real ends of a connection
    /// through a NAT gateway, Transit Gateway or load balancer. Falls back to `srcaddr`.
    #[default]
    #[serde(rename = "pkt-srcaddr")]
    PktSrcAddr,
}

/// A value other than `srcaddr` or `pkt-srcaddr`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown attribution {0:?}: expected \"srcaddr\" or \"pkt-srcaddr\"")]
pub struct AttributionError(String);

impl FromStr for Attribution {
    type Err = AttributionError;

    fn from_str(text: &str) -> Result<Attribution, AttributionError> {
        match text {
            "srcaddr" => Ok(Attribution::SrcAddr),
            "pkt-srcaddr" => Ok(Attribution::PktSrcAddr),
            other => Err(AttributionError(other.into())),
        }
    }
}

/// Bounds and choices of the aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregateOptions {
    /// Which address a flow counts for.
    pub attribution: Attribution,
    /// Sources (and, separately, targets) tracked one by one; once full, a heavier newcomer
    /// replaces the lightest and the rest is counted as untracked.
    pub max_sources: usize,
}

impl Default for AggregateOptions {
    fn default() -> AggregateOptions {
        AggregateOptions {
            attribution: Attribution::PktSrcAddr,
            max_sources: 20_000,
        }
    }
}

/// Distinct destination ports remembered per source (the count saturates here).
pub const PORTS_PER_SOURCE: usize = 32;
/// Targets (address, port, protocol) kept per source as evidence: the heaviest.
pub const TOP_TARGETS: usize = 8;
/// Sources kept per target as evidence: the heaviest.
pub const TOP_SOURCES: usize = 8;
/// Weight (packets + flows) a subject carries before evidence is kept for it: most sources send
/// a handful of flows and never need it.
const EVIDENCE_FROM: u64 = 32;
/// Relay addresses remembered.
const MAX_RELAYS: usize = 10_000;
/// Minutes of all-traffic totals kept (a day); records of further minutes are counted in
/// [`Aggregator::totals_dropped`].
pub const MAX_TOTAL_WINDOWS: usize = 1440;

/// The distinct destination ports of a source, exact up to [`PORTS_PER_SOURCE`]. Inline: no
/// allocation, one cache line to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSet {
    ports: [u16; PORTS_PER_SOURCE],
    len: u8,
    saturated: bool,
}

impl PortSet {
    const EMPTY: PortSet = PortSet {
        ports: [0; PORTS_PER_SOURCE],
        len: 0,
        saturated: false,
    };

    #[inline]
    fn insert(&mut self, port: u16) {
        if self.saturated {
            return; // the count is capped: nothing left to learn
        }
        let len = usize::from(self.len);
        // Compare against all slots without branching (vectorises), then keep the used ones.
        let mut hits = 0u32;
        for (i, &p) in self.ports.iter().enumerate() {
            hits |= u32::from(p == port) << i;
        }
        if hits & ((1u64 << len) - 1) as u32 != 0 {
            return;
        }
        if len < PORTS_PER_SOURCE {
            self.ports[len] = port;
            self.len += 1;
        } else {
            self.saturated = true;
        }
    }

    /// Distinct ports seen (a lower bound when [`PortSet::saturated`]).
    pub fn distinct(&self) -> usize {
        usize::from(self.len)
    }

    /// More than [`PORTS_PER_SOURCE`] distinct ports were seen.
    pub fn saturated(&self) -> bool {
        self.saturated
    }
}

/// What a source's requests went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Target {
    /// Destination address.
    pub address: IpAddr,
    /// Destination port (0 for ICMP).
    pub port: u16,
    /// IP protocol number.
    pub protocol: u8,
}

const NO_TARGET: Target = Target {
    address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    port: 0,
    protocol: 0,
};

/// The evidence kept for a source once it carries some weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The source's weight when evidence started: shares are of the weight since.
    since_weight: u64,
    /// Its heaviest targets (weight = packets + flows).
    pub targets: TopK<Target, TOP_TARGETS>,
    /// Its heaviest destination addresses, whatever the port.
    pub addresses: TopK<IpAddr, 4>,
    /// Its distinct destination ports.
    pub ports: PortSet,
    /// For an IPv6 /64: how many addresses of it sent.
    pub members: Distinct,
}

impl Evidence {
    fn new(since_weight: u64) -> Evidence {
        Evidence {
            since_weight,
            targets: TopK::new(NO_TARGET),
            addresses: TopK::new(NO_TARGET.address),
            ports: PortSet::EMPTY,
            members: Distinct::default(),
        }
    }
}

/// Everything one source sent, seen from one vantage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStats {
    windows: Windows<Minute>,
    weight: u64,
    prior: u64,
    first_start: i64,
    last_end: i64,
    evidence: Option<Box<Evidence>>,
}

impl Weighted for SourceStats {
    fn weight(&self) -> u64 {
        self.weight
    }
}

impl SourceStats {
    fn new(prior: u64) -> SourceStats {
        SourceStats {
            windows: Windows::default(),
            weight: prior,
            prior,
            first_start: i64::MAX,
            last_end: i64::MIN,
            evidence: None,
        }
    }

    fn merge_from(&mut self, other: &SourceStats) {
        for (start, m) in other.windows.iter() {
            if let Some(w) = self.windows.get_or_insert(start) {
                w.merge(m);
            }
        }
        self.weight = self.weight.saturating_add(other.weight);
    }

    /// Its evidence, started once it carries [`EVIDENCE_FROM`]; `before` is its weight
    /// before the record being counted, which the evidence then includes.
    fn evidence_mut(&mut self, before: u64) -> Option<&mut Evidence> {
        if self.evidence.is_none() && self.weight >= EVIDENCE_FROM {
            self.evidence = Some(Box::new(Evidence::new(before)));
        }
        self.evidence.as_deref_mut()
    }
}

/// Everything one address received as a server or target, seen from one vantage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStats {
    windows: Windows<Served>,
    weight: u64,
    sources: Distinct,
    top: Option<Box<(TopK<IpAddr, TOP_SOURCES>, TopK<u16, 4>)>>,
}

impl Weighted for TargetStats {
    fn weight(&self) -> u64 {
        self.weight
    }
}

impl TargetStats {
    fn new(prior: u64) -> TargetStats {
        TargetStats {
            windows: Windows::default(),
            weight: prior,
            sources: Distinct::default(),
            top: None,
        }
    }
}

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

/// One source as seen from its own interface and from elsewhere: its figures per minute are
/// those of the vantage that saw more of it (a connection inside the VPC is logged at both
/// ends; each end alone sees all of it).
#[derive(Debug, Clone, Copy)]
pub struct SourceView<'a> {
    /// The source.
    pub source: Source,
    by_vantage: [Option<&'a SourceStats>; 4],
}

impl<'a> SourceView<'a> {
    fn stats(&self) -> impl Iterator<Item = &'a SourceStats> {
        self.by_vantage.into_iter().flatten()
    }

    /// The source's minutes in time order: for each, the vantage with more request flows.
    pub fn windows(&self) -> Vec<(i64, Minute)> {
        let mut by_start: BTreeMap<i64, Minute> = BTreeMap::new();
        for stats in self.stats() {
            for (start, m) in stats.windows.iter() {
                let slot = by_start.entry(start).or_default();
                if (m.flows, m.traffic().packets) > (slot.flows, slot.traffic().packets) {
                    *slot = *m;
                }
            }
        }
        by_start.into_iter().collect()
    }

    /// The evidence of the vantage that saw the most of it.
    pub fn evidence(&self) -> Option<&'a Evidence> {
        self.stats()
            .filter(|s| s.evidence.is_some())
            .max_by_key(|s| s.weight)
            .and_then(|s| s.evidence.as_deref())
    }

    /// The source's weight (packets + flows) since evidence started.
    pub fn evidence_weight(&self) -> u64 {
        self.stats()
            .filter_map(|s| s.evidence.as_ref().map(|e| s.weight - e.since_weight))
            .max()
            .unwrap_or(0)
    }

    /// Whether it was tracked only once the table was full (its counts are lower bounds).
    pub fn lower_bound(&self) -> bool {
        self.stats().any(|s| s.prior > 0)
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

/// One address as a target, from both vantages (see [`SourceView`]).
#[derive(Debug, Clone, Copy)]
pub struct TargetView<'a> {
    /// The address.
    pub address: IpAddr,
    by_vantage: [Option<&'a TargetStats>; 4],
}

impl<'a> TargetView<'a> {
    fn stats(&self) -> impl Iterator<Item = &'a TargetStats> {
        self.by_vantage.into_iter().flatten()
    }

    /// What it received per minute, in time order (the vantage that saw more of each minute).
    pub fn windows(&self) -> Vec<(i64, Served)> {
        let mut by_start: BTreeMap<i64, Served> = BTreeMap::new();
        for stats in self.stats() {
            for (start, s) in stats.windows.iter() {
                let slot = by_start.entry(start).or_default();
                if (s.flows, s.packets) > (slot.flows, slot.packets) {
                    *slot = *s;
                }
            }
        }
        by_start.into_iter().collect()
    }

    /// Estimated distinct sources that sent it requests.
    pub fn distinct_sources(&self) -> u64 {
        self.stats()
            .map(|s| s.sources.estimate())
            .max()
            .unwrap_or(0)
    }

    /// Its heaviest sources (by packets + flows), with lower-bound weights.
    pub fn top_sources(&self) -> Vec<crate::sketch::Heavy<IpAddr>> {
        self.stats()
            .filter_map(|s| s.top.as_ref())
            .max_by_key(|t| t.0.heaviest().first().map(|h| h.weight))
            .map(|t| t.0.heaviest())
            .unwrap_or_default()
    }

    /// Its most requested ports.
    pub fn top_ports(&self) -> Vec<crate::sketch::Heavy<u16>> {
        self.stats()
            .filter_map(|s| s.top.as_ref())
            .max_by_key(|t| t.1.heaviest().first().map(|h| h.weight))
            .map(|t| t.1.heaviest())
            .unwrap_or_default()
    }
}

/// The fields of one OK record that the aggregation uses.
struct Flow {
    spread: Spread,
    flow_minute: usize,
    packets: u64,
    bytes: u64,
    reject: bool,
    flags: Option<u8>,
    protocol: Option<u8>,
    dst_port: u16,
}

impl Flow {
    /// This record's share of minute `i` of its spread, as a request.
    #[inline]
    fn request_part(&self, i: usize) -> Minute {
        let here = u32::from(i == self.flow_minute);
        let traffic = Traffic {
            packets: self.spread.part(i, self.packets),
            bytes: self.spread.part(i, self.bytes),
        };
        let mut m = Minute {
            flows: here,
            rejected: here & u32::from(self.reject),
            ..Minute::default()
        };
        match self.protocol {
            Some(TCP) => {
                m.tcp = traffic;
                m.connections = here & u32::from(classify::opens_connection(self.flags));
                m.half_open =
                    here & u32::from(classify::is_half_open(self.flags, self.packets, self.bytes));
            }
            Some(UDP) => m.udp = traffic,
            Some(1 | 58) => m.icmp = traffic,
            _ => m.other = traffic,
        }
        m
    }

    /// A record's weight in the tables: its packets plus one for the flow.
    fn weight(&self) -> u64 {
        self.packets.saturating_add(1)
    }
}

/// Column positions of the fields the aggregation reads.
#[derive(Debug, Clone, Copy)]
struct Layout {
    columns: usize,
    status: Option<usize>,
    interface: Option<usize>,
    src: Option<usize>,
    pkt_src: Option<usize>,
    dst: Option<usize>,
    pkt_dst: Option<usize>,
    src_port: Option<usize>,
    dst_port: Option<usize>,
    protocol: Option<usize>,
    packets: Option<usize>,
    bytes: Option<usize>,
    start: Option<usize>,
    end: Option<usize>,
    action: Option<usize>,
    tcp_flags: Option<usize>,
    direction: Option<usize>,
}

impl Layout {
    fn of(format: &Format) -> Layout {
        Layout {
            columns: format.len(),
            status: format.position(Field::LogStatus),
            interface: format.position(Field::InterfaceId),
            src: format.position(Field::SrcAddr),
            pkt_src: format.position(Field::PktSrcAddr),
            dst: format.position(Field::DstAddr),
            pkt_dst: format.position(Field::PktDstAddr),
            src_port: format.position(Field::SrcPort),
            dst_port: format.position(Field::DstPort),
            protocol: format.position(Field::Protocol),
            packets: format.position(Field::Packets),
            bytes: format.position(Field::Bytes),
            start: format.position(Field::Start),
            end: format.position(Field::End),
            action: format.position(Field::Action),
            tcp_flags: format.position(Field::TcpFlags),
            direction: format.position(Field::FlowDirection),
        }
    }
}

/// Aggregates records per source and minute; a [`RecordVisitor`] for [`crate::scan()`].
#[derive(Debug)]
pub struct Aggregator {
    options: AggregateOptions,
    layout: Option<Layout>,
    spans: Vec<Span>,
    sources: Table<(Source, Vantage), SourceStats>,
    targets: Table<(IpAddr, Vantage), TargetStats>,
    untracked: SourceStats,
    untracked_flows: u64,
    unattributed: u64,
    relays: HashSet<IpAddr, foldhash::fast::RandomState>,
    interfaces: Interfaces,
    hasher: foldhash::fast::FixedState,
    totals: BTreeMap<i64, WindowTotals>,
    totals_dropped: u64,
    skipdata: BTreeMap<i64, u64>,
    latest_end: Option<i64>,
}

impl Aggregator {
    /// An empty aggregation. Its tables are randomly seeded: sources are attacker-controlled.
    pub fn new(options: AggregateOptions) -> Aggregator {
        Aggregator {
            options,
            layout: None,
            spans: Vec::with_capacity(64),
            sources: Table::new(options.max_sources),
            targets: Table::new(options.max_sources),
            untracked: SourceStats::new(0),
            untracked_flows: 0,
            unattributed: 0,
            relays: HashSet::default(),
            interfaces: Interfaces::default(),
            hasher: foldhash::fast::FixedState::with_seed(0xf10f_5eed),
            totals: BTreeMap::new(),
            totals_dropped: 0,
            skipdata: BTreeMap::new(),
            latest_end: None,
        }
    }

    /// Every tracked source address (IPv6 /64 roll-ups excluded), in address order.
    pub fn sources(&self) -> Vec<SourceView<'_>> {
        self.views(|s| matches!(s, Source::Addr(_)))
    }

    /// The IPv6 /64 roll-ups: every IPv6 source also counts for its /64.
    pub fn networks(&self) -> Vec<SourceView<'_>> {
        self.views(|s| matches!(s, Source::Net64(_)))
    }

    /// One tracked source.
    pub fn source(&self, source: Source) -> Option<SourceView<'_>> {
        let by_vantage = Vantage::ALL.map(|v| self.sources.get(&(source, v)));
        by_vantage
            .iter()
            .any(Option::is_some)
            .then_some(SourceView { source, by_vantage })
    }

    fn views(&self, keep: impl Fn(&Source) -> bool) -> Vec<SourceView<'_>> {
        let mut by: BTreeMap<Source, SourceView<'_>> = BTreeMap::new();
        for ((source, vantage), stats) in self.sources.iter().filter(|((s, _), _)| keep(s)) {
            let view = by.entry(*source).or_insert(SourceView {
                source: *source,
                by_vantage: [None; 4],
            });
            view.by_vantage[vantage.index()] = Some(stats);
        }
        by.into_values().collect()
    }

    /// Every tracked target, in address order.
    pub fn targets(&self) -> Vec<TargetView<'_>> {
        let mut by: BTreeMap<IpAddr, TargetView<'_>> = BTreeMap::new();
        for ((address, vantage), stats) in self.targets.iter() {
            let view = by.entry(*address).or_insert(TargetView {
                address: *address,
                by_vantage: [None; 4],
            });
            view.by_vantage[vantage.index()] = Some(stats);
        }
        by.into_values().collect()
    }

    /// One tracked target.
    pub fn target(&self, address: IpAddr) -> Option<TargetView<'_>> {
        let by_vantage = Vantage::ALL.map(|v| self.targets.get(&(address, v)));
        by_vantage
            .iter()
            .any(Option::is_some)
            .then_some(TargetView {
                address,
                by_vantage,
            })
    }

    /// Whether the address relays other hosts' connections (a NAT gateway, load balancer or
    /// Transit Gateway interface, known from `pkt-srcaddr`/`pkt-dstaddr`).
    pub fn is_relay(&self, address: IpAddr) -> bool {
        self.relays.contains(&address)
    }

    /// Whether the address has an interface in the log (it was seen from its own interface).
    pub fn is_local(&self, address: IpAddr) -> bool {
        let source = Source::Addr(address);
        self.sources.get(&(source, Vantage::Own)).is_some()
            || self.targets.get(&(address, Vantage::Own)).is_some()
    }

    /// How many source addresses are tracked one by one.
    pub fn source_count(&self) -> usize {
        self.sources().len()
    }

    /// Request flows of sources that were not tracked (the table was full, or they were
    /// replaced by heavier ones).
    pub fn untracked_flows(&self) -> u64 {
        self.untracked_flows
    }

    /// The untracked sources' requests per minute, lumped together.
    pub fn untracked(&self) -> impl Iterator<Item = (i64, &Minute)> {
        self.untracked.windows.iter()
    }

    /// OK records not counted for any source: no source address or no time (the format lacks
    /// them, or `-`), or a source already spanning [`crate::MAX_WINDOWS_PER_SOURCE`] windows.
    pub fn unattributed(&self) -> u64 {
        self.unattributed
    }

    /// SKIPDATA records per window: the log itself lost records there.
    pub fn skipdata_by_window(&self) -> &BTreeMap<i64, u64> {
        &self.skipdata
    }

    /// The latest flow `end` of any OK record.
    pub fn latest_end(&self) -> Option<i64> {
        self.latest_end
    }

    /// Per-source totals, the busiest (by request flows) first.
    pub fn summaries(&self) -> Vec<SourceSummary> {
        let mut all: Vec<_> = self.sources().iter().map(SourceView::summary).collect();
        all.sort_by(|a, b| b.flows.cmp(&a.flows).then(a.source.cmp(&b.source)));
        all
    }

    /// Every OK record per window (requests and replies, tracked or not, relay legs too), with
    /// packets and bytes spread over the minutes each record covers.
    pub fn window_totals(&self) -> &BTreeMap<i64, WindowTotals> {
        &self.totals
    }

    /// OK records of minutes past [`MAX_TOTAL_WINDOWS`], left out of [`Self::window_totals`].
    pub fn totals_dropped(&self) -> u64 {
        self.totals_dropped
    }

    /// Counts one request of `flow` for `initiator` (and its /64) and for its target.
    fn request(
        &mut self,
        flow: &Flow,
        initiator: (IpAddr, Vantage),
        target: Option<(IpAddr, Vantage)>,
    ) {
        let weight = flow.weight();
        let dst_target = Target {
            address: target.map_or(NO_TARGET.address, |t| t.0),
            port: flow.dst_port,
            protocol: flow.protocol.unwrap_or(0),
        };
        let mut keys = [Some((Source::Addr(initiator.0), initiator.1)), None];
        if let IpAddr::V6(v6) = initiator.0 {
            keys[1] = Some((Source::net64(v6), initiator.1));
        }
        for (n, key) in keys.into_iter().flatten().enumerate() {
            let untracked = &mut self.untracked;
            let untracked_flows = &mut self.untracked_flows;
            let slot = self.sources.slot(key, weight, SourceStats::new, |_, old| {
                *untracked_flows += old
                    .windows
                    .iter()
                    .map(|(_, m)| u64::from(m.flows))
                    .sum::<u64>();
                untracked.merge_from(&old);
            });
            let stats = match slot {
                Slot::Tracked(stats) => stats,
                Slot::Untracked if n == 0 => {
                    self.untracked_flows += 1;
                    &mut self.untracked
                }
                Slot::Untracked => continue,
            };
            let mut placed = true;
            for i in 0..flow.spread.minutes {
                let start = flow.spread.first + i as i64 * crate::minute::WINDOW_SECS;
                match stats.windows.get_or_insert(start) {
                    Some(m) => m.merge(&flow.request_part(i)),
                    None => placed = false,
                }
            }
            if !placed && n == 0 {
                self.unattributed += 1;
            }
            let before = stats.weight;
            stats.weight = stats.weight.saturating_add(weight);
            stats.first_start = stats.first_start.min(flow.spread.start());
            stats.last_end = stats.last_end.max(flow.spread.end());
            if let Some(e) = stats.evidence_mut(before)
                && target.is_some()
            {
                e.targets.add(dst_target, weight, 1);
                e.addresses.add(dst_target.address, weight, 1);
                e.ports.insert(flow.dst_port);
                if n == 1 {
                    e.members.add(&initiator.0);
                }
            }
        }

        let Some(target) = target else { return };
        let slot = self
            .targets
            .slot(target, weight, TargetStats::new, |_, _| {});
        if let Slot::Tracked(t) = slot {
            for i in 0..flow.spread.minutes {
                let start = flow.spread.first + i as i64 * crate::minute::WINDOW_SECS;
                let m = flow.request_part(i);
                let t_total = m.traffic();
                if let Some(s) = t.windows.get_or_insert(start) {
                    s.merge(&Served {
                        flows: m.flows,
                        connections: m.connections,
                        half_open: m.half_open,
                        udp_packets: m.udp.packets,
                        icmp_packets: m.icmp.packets,
                        packets: t_total.packets,
                        bytes: t_total.bytes,
                        udp_replied: 0,
                    });
                }
            }
            t.weight = t.weight.saturating_add(weight);
            t.sources.add(&initiator.0);
            if t.top.is_none() && t.weight >= EVIDENCE_FROM {
                t.top = Some(Box::new((TopK::new(initiator.0), TopK::new(0))));
            }
            if let Some(top) = t.top.as_deref_mut() {
                top.0.add(initiator.0, weight, 1);
                top.1.add(flow.dst_port, weight, 1);
            }
        }
    }

    /// Counts a UDP reply for the client it went back to, and for the server that sent it.
    fn udp_reply(&mut self, flow: &Flow, initiator: (IpAddr, Vantage), server: (IpAddr, Vantage)) {
        if let Slot::Tracked(t) = self.targets.slot(server, 1, TargetStats::new, |_, _| {}) {
            for i in 0..flow.spread.minutes {
                let start = flow.spread.first + i as i64 * crate::minute::WINDOW_SECS;
                if let Some(s) = t.windows.get_or_insert(start) {
                    s.udp_replied = s
                        .udp_replied
                        .saturating_add(flow.spread.part(i, flow.packets));
                }
            }
        }
        let key = (Source::Addr(initiator.0), initiator.1);
        let untracked = &mut self.untracked;
        let untracked_flows = &mut self.untracked_flows;
        let slot = self.sources.slot(key, 1, SourceStats::new, |_, old| {
            *untracked_flows += old
                .windows
                .iter()
                .map(|(_, m)| u64::from(m.flows))
                .sum::<u64>();
            untracked.merge_from(&old);
        });
        let stats = match slot {
            Slot::Tracked(stats) => stats,
            Slot::Untracked => &mut self.untracked,
        };
        for i in 0..flow.spread.minutes {
            let start = flow.spread.first + i as i64 * crate::minute::WINDOW_SECS;
            if let Some(m) = stats.windows.get_or_insert(start) {
                m.udp_answered = m
                    .udp_answered
                    .saturating_add(flow.spread.part(i, flow.packets));
            }
        }
    }

    fn total(&mut self, flow: &Flow) {
        for i in 0..flow.spread.minutes {
            let start = flow.spread.first + i as i64 * crate::minute::WINDOW_SECS;
            if self.totals.len() >= MAX_TOTAL_WINDOWS && !self.totals.contains_key(&start) {
                self.totals_dropped += u64::from(i == flow.flow_minute);
                continue;
            }
            let t = self.totals.entry(start).or_default();
            t.flows += u64::from(i == flow.flow_minute);
            t.rejected += u64::from(i == flow.flow_minute && flow.reject);
            t.packets = t.packets.saturating_add(flow.spread.part(i, flow.packets));
            t.bytes = t.bytes.saturating_add(flow.spread.part(i, flow.bytes));
        }
    }

    fn mark_relay(&mut self, address: IpAddr) {
        if self.relays.len() < MAX_RELAYS {
            self.relays.insert(address);
        }
    }
}

/// Reads the optional column `index` of the split line with `parse`, `-` giving `None`.
#[inline]
fn optional<T>(
    line: &[u8],
    spans: &[Span],
    index: Option<usize>,
    parse: impl FnOnce(&[u8]) -> Option<T>,
    reason: SkipReason,
) -> Result<Option<T>, SkipReason> {
    let Some(i) = index else { return Ok(None) };
    let text = token::slice(line, spans[i]);
    if token::is_absent(text) {
        return Ok(None);
    }
    parse(text).map(Some).ok_or(reason)
}

impl RecordVisitor for Aggregator {
    fn begin_format(&mut self, format: &Format) {
        self.layout = Some(Layout::of(format));
    }

    fn record(&mut self, line: &[u8]) -> Result<LogStatus, SkipReason> {
        let layout = self
            .layout
            .unwrap_or_else(|| Layout::of(&Format::default_v2()));
        token::split(line, &mut self.spans);
        let spans = &self.spans[..];
        if spans.len() != layout.columns {
            return Err(SkipReason::FieldCount);
        }
        let number = |index, bits| {
            optional(
                line,
                spans,
                index,
                |t| token::unsigned(t, bits),
                SkipReason::BadNumber,
            )
        };
        let time = |index| {
            optional(
                line,
                spans,
                index,
                token::unix_seconds,
                SkipReason::BadNumber,
            )
        };
        let address = |index| optional(line, spans, index, token::address, SkipReason::BadAddress);

        let status = match layout.status {
            Some(i) => {
                LogStatus::parse(token::slice(line, spans[i])).ok_or(SkipReason::BadLogStatus)?
            }
            None => LogStatus::Ok,
        };
        // Every column this visitor reads is validated whatever the status, so a line it
        // accepts is one the full parser accepts too (for these columns).
        let start = time(layout.start)?;
        let end = time(layout.end)?;
        let src = address(layout.src)?;
        let dst = address(layout.dst)?;
        let (pkt_src, pkt_dst) = match self.options.attribution {
            Attribution::PktSrcAddr => (address(layout.pkt_src)?, address(layout.pkt_dst)?),
            Attribution::SrcAddr => (None, None),
        };
        let action = optional(
            line,
            spans,
            layout.action,
            Action::parse,
            SkipReason::BadAction,
        )?;
        let packets = number(layout.packets, 64)?.unwrap_or(0);
        let bytes = number(layout.bytes, 64)?.unwrap_or(0);
        let flags = number(layout.tcp_flags, 8)?.map(|f| f as u8);
        let protocol = number(layout.protocol, 8)?.map(|p| p as u8);
        let src_port = number(layout.src_port, 16)?.map(|p| p as u16);
        let dst_port = number(layout.dst_port, 16)?.map(|p| p as u16);
        let flow_direction = layout
            .direction
            .and_then(|i| Direction::parse(token::slice(line, spans[i])));
        let interface = layout
            .interface
            .map(|i| token::slice(line, spans[i]))
            .filter(|id| flow_direction.is_none() && !token::is_absent(id))
            .map(|id| self.hasher.hash_one(id));
        let flow_start = start.or(end);
        if status != LogStatus::Ok {
            if status == LogStatus::SkipData
                && let Some(t) = flow_start
            {
                *self.skipdata.entry(window_of(t)).or_default() += 1;
            }
            return Ok(status);
        }
        let (Some(t0), Some(src)) = (flow_start, src) else {
            self.unattributed += 1;
            return Ok(LogStatus::Ok);
        };
        let spread = Spread::new(t0, end.unwrap_or(t0));
        // The record's one flow goes to a minute picked by a hash of what varies between the
        // records of a flood: ports and the source's low bits.
        let h = self.hasher.hash_one((src_port, dst_port, t0, packets));
        let dst_port_value = dst_port.unwrap_or(0);
        let flow = Flow {
            spread,
            flow_minute: spread.flow_minute(h),
            packets,
            bytes,
            reject: action == Some(Action::Reject),
            flags,
            protocol,
            dst_port: dst_port_value,
        };
        self.latest_end = self.latest_end.max(Some(spread.end()));
        self.total(&flow);

        let src = normalize(src);
        let dst = dst.map(normalize);
        let pkt_src = pkt_src.map(normalize);
        let pkt_dst = pkt_dst.map(normalize);
        // A leg forwarded by a relay (NAT gateway, load balancer, Transit Gateway): `srcaddr`
        // or `dstaddr` is the relay's, the `pkt-` address the real end's.
        let forwarded_src = pkt_src.is_some_and(|p| p != src);
        let forwarded_dst = matches!((pkt_dst, dst), (Some(p), Some(d)) if p != d);
        if forwarded_src {
            self.mark_relay(src);
        }
        if forwarded_dst && let Some(d) = dst {
            self.mark_relay(d);
        }
        let direction = match (flow_direction, dst) {
            (Some(d), _) => Some(d),
            (None, Some(dst)) => interface.and_then(|id| self.interfaces.direction(id, src, dst)),
            (None, None) => None,
        };
        let forwarded = forwarded_src || forwarded_dst;
        // Seen from the end whose interface leaves (`Egress`) or receives (`Ingress`) it.
        let vantage = |side: Direction| match (forwarded, direction) {
            (true, Some(Direction::Egress)) => Vantage::ForwardedOut,
            (true, _) => Vantage::ForwardedIn,
            (false, Some(d)) if d == side => Vantage::Own,
            (false, _) => Vantage::Peer,
        };
        let (src, dst) = (pkt_src.unwrap_or(src), pkt_dst.or(dst));
        match (classify::role(protocol, src_port, dst_port, flags), dst) {
            (Role::Request, dst) => self.request(
                &flow,
                (src, vantage(Direction::Egress)),
                dst.map(|d| (d, vantage(Direction::Ingress))),
            ),
            (Role::Reply, Some(dst)) if protocol == Some(UDP) => {
                self.udp_reply(
                    &flow,
                    (dst, vantage(Direction::Ingress)),
                    (src, vantage(Direction::Egress)),
                );
            }
            (Role::Reply, _) => {}
        }
        Ok(LogStatus::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{ScanOptions, scan};

    const V5: &str = "version interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status tcp-flags flow-direction pkt-srcaddr pkt-dstaddr";

    fn aggregate(header: &str, lines: &[String]) -> Aggregator {
        let mut text = format!("{header}\n");
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        let mut a = Aggregator::new(AggregateOptions::default());
        scan(text.as_bytes(), &ScanOptions::default(), &mut a).unwrap();
        a
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn replies_are_not_requests_of_the_server() {
        // A web server answering 200 clients: each connection logged once per direction.
        let mut lines = Vec::new();
        for c in 0..200u32 {
            let client = format!("198.51.100.{}", c % 250);
            let port = 40000 + c;
            lines.push(format!("5 eni-web {client} 10.0.1.5 {port} 443 6 6 600 1700000000 1700000030 ACCEPT OK 3 ingress {client} 10.0.1.5"));
            lines.push(format!("5 eni-web 10.0.1.5 {client} 443 {port} 6 5 9000 1700000000 1700000030 ACCEPT OK 19 egress 10.0.1.5 {client}"));
        }
        let a = aggregate(V5, &lines);
        assert!(
            a.source(Source::Addr(ip("10.0.1.5"))).is_none(),
            "the server sent no request"
        );
        let served: u32 = a
            .target(ip("10.0.1.5"))
            .unwrap()
            .windows()
            .iter()
            .map(|(_, s)| s.flows)
            .sum();
        assert_eq!(served, 200);
        assert_eq!(
            a.window_totals().values().map(|t| t.flows).sum::<u64>(),
            400
        );
    }

    #[test]
    fn a_connection_inside_the_vpc_counts_once_for_its_client() {
        // Four records: client and server interface, each direction.
        let mut lines = Vec::new();
        for i in 0..50u32 {
            let p = 40000 + i;
            lines.push(format!("5 eni-a 10.0.1.10 10.0.2.20 {p} 5432 6 4 300 1700000000 1700000010 ACCEPT OK 3 egress 10.0.1.10 10.0.2.20"));
            lines.push(format!("5 eni-a 10.0.2.20 10.0.1.10 5432 {p} 6 4 900 1700000000 1700000010 ACCEPT OK 19 ingress 10.0.2.20 10.0.1.10"));
            lines.push(format!("5 eni-b 10.0.1.10 10.0.2.20 {p} 5432 6 4 300 1700000000 1700000010 ACCEPT OK 3 ingress 10.0.1.10 10.0.2.20"));
            lines.push(format!("5 eni-b 10.0.2.20 10.0.1.10 5432 {p} 6 4 900 1700000000 1700000010 ACCEPT OK 19 egress 10.0.2.20 10.0.1.10"));
        }
        let a = aggregate(V5, &lines);
        let s = a.source(Source::Addr(ip("10.0.1.10"))).unwrap().summary();
        assert_eq!((s.flows, s.connections, s.packets), (50, 50, 200));
        assert!(a.is_local(ip("10.0.1.10")));
    }

    #[test]
    fn the_default_format_learns_each_interface_address_to_count_once() {
        let header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
        let mut lines = Vec::new();
        for i in 0..50u32 {
            let p = 40000 + i;
            // Client 10.0.1.10 (eni-a) to the database 10.0.2.20 (eni-b), logged at both.
            for eni in ["eni-a", "eni-b"] {
                lines.push(format!(
                    "2 1 {eni} 10.0.1.10 10.0.2.20 {p} 5432 6 4 300 1700000000 1700000010 ACCEPT OK"
                ));
                lines.push(format!(
                    "2 1 {eni} 10.0.2.20 10.0.1.10 5432 {p} 6 4 900 1700000000 1700000010 ACCEPT OK"
                ));
            }
            // Each interface also talks to others: the client to the internet, the database
            // to a second client.
            lines.push(format!(
                "2 1 eni-a 10.0.1.10 93.184.216.34 {p} 443 6 4 300 1700000000 1700000010 ACCEPT OK"
            ));
            lines.push(format!(
                "2 1 eni-b 10.0.3.30 10.0.2.20 {p} 5432 6 4 300 1700000000 1700000010 ACCEPT OK"
            ));
        }
        let a = aggregate(header, &lines);
        let s = a.source(Source::Addr(ip("10.0.1.10"))).unwrap().summary();
        // 50 to the database and 50 to the internet; the first records of each interface come
        // before its address is known.
        assert!((98..=102).contains(&s.flows), "{}", s.flows);
        assert!(a.is_local(ip("10.0.1.10")));
    }

    #[test]
    fn relay_legs_mark_the_relay_and_count_for_nobody() {
        // Instance 10.0.1.5 to 203.0.113.5 through NAT gateway 10.0.0.220 (AWS's example).
        let lines = [
            "5 eni-nat 10.0.1.5 10.0.0.220 40000 443 6 5 500 1700000000 1700000010 ACCEPT OK 3 ingress 10.0.1.5 203.0.113.5",
            "5 eni-nat 10.0.0.220 203.0.113.5 50000 443 6 5 500 1700000000 1700000010 ACCEPT OK 3 egress 10.0.0.220 203.0.113.5",
            "5 eni-nat 203.0.113.5 10.0.0.220 443 50000 6 5 5000 1700000000 1700000010 ACCEPT OK 19 ingress 203.0.113.5 10.0.0.220",
            "5 eni-nat 10.0.0.220 10.0.1.5 443 40000 6 5 5000 1700000000 1700000010 ACCEPT OK 19 egress 203.0.113.5 10.0.1.5",
            "5 eni-i 10.0.1.5 203.0.113.5 40000 443 6 5 500 1700000000 1700000010 ACCEPT OK 3 egress 10.0.1.5 203.0.113.5",
            "5 eni-i 203.0.113.5 10.0.1.5 443 40000 6 5 5000 1700000000 1700000010 ACCEPT OK 19 ingress 203.0.113.5 10.0.1.5",
        ]
        .map(String::from);
        let a = aggregate(V5, &lines);
        assert!(a.is_relay(ip("10.0.0.220")));
        let instance = a.source(Source::Addr(ip("10.0.1.5"))).unwrap().summary();
        assert_eq!(instance.flows, 1);
        assert_eq!(a.window_totals().values().map(|t| t.flows).sum::<u64>(), 6);
    }

    #[test]
    fn mapped_ipv4_sources_are_the_ipv4_source() {
        let lines = [
            "5 eni-a ::ffff:203.0.113.7 10.0.1.5 40000 443 6 2 80 1700000000 1700000001 ACCEPT OK 2 ingress ::ffff:203.0.113.7 10.0.1.5",
            "5 eni-a 203.0.113.7 10.0.1.5 40001 443 6 2 80 1700000000 1700000001 ACCEPT OK 2 ingress 203.0.113.7 10.0.1.5",
        ]
        .map(String::from);
        let a = aggregate(V5, &lines);
        let s = a.source(Source::Addr(ip("203.0.113.7"))).unwrap().summary();
        assert_eq!((s.flows, s.syn_only), (2, 2));
        assert_eq!(a.source_count(), 1);
    }

    #[test]
    fn ipv6_sources_also_count_for_their_64() {
        let lines: Vec<String> = (1..=40u32)
            .map(|i| format!("5 eni-a 2001:db8:1:2::{i:x} 10.0.1.5 40000 443 6 2 80 1700000000 1700000001 ACCEPT OK 2 ingress - -"))
            .collect();
        let a = aggregate(V5, &lines);
        let nets = a.networks();
        assert_eq!(nets.len(), 1);
        assert_eq!(nets[0].source.to_string(), "2001:db8:1:2::/64");
        assert_eq!(nets[0].summary().flows, 40);
        let members = nets[0].evidence().unwrap().members.estimate();
        assert!((15..=40).contains(&members), "{members}");
    }

    #[test]
    fn a_ten_minute_record_is_spread_over_its_minutes() {
        let lines: Vec<String> = (0..3000u32)
            .map(|i| format!("5 eni-a 203.0.113.7 10.0.1.5 {} 443 6 3 200 1700000040 1700000639 ACCEPT OK 3 ingress - -", 20000 + i))
            .collect();
        let a = aggregate(V5, &lines);
        let windows = a.source(Source::Addr(ip("203.0.113.7"))).unwrap().windows();
        assert_eq!(windows.len(), 10);
        assert!(
            windows.iter().all(|(_, m)| (250..350).contains(&m.flows)),
            "{windows:?}"
        );
        assert_eq!(
            windows.iter().map(|(_, m)| m.tcp.packets).sum::<u64>(),
            9000
        );
    }
}
