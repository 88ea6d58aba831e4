//! Per-source, per-minute aggregation of traffic records: the fast path of the crate.
//!
//! Each record is counted once, for the client of its connection: a request for the address
//! that sent it, a reply (only its UDP packets matter, see [`Minute::udp_answered`]) for the
//! address it went back to. The server side of every request is counted as well, as a target
//! ([`Served`]), which is how floods from many sources against one address are seen. Legs of a
//! connection at a NAT gateway, load balancer or Transit Gateway interface (`pkt-srcaddr` or
//! `pkt-dstaddr` differing from the interface's addresses) mark the relay and count for the
//! real ends under a vantage of their own (see [`Vantage`]).
//!
//! Only the columns the aggregation needs are parsed. Memory is bounded: at most
//! `max_sources` sources and as many targets are tracked (the heaviest, see [`crate::table`]),
//! the rest are counted together as untracked; each keeps at most
//! [`crate::MAX_WINDOWS_PER_SOURCE`] minutes and fixed-size evidence.

mod flow;
mod key;
mod layout;
mod minutes;
mod options;
mod stats;

use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasher;
use std::net::IpAddr;

use crate::addr::Addr;
use crate::budget::{Limits, MemoryBudget};
use crate::classify::{self, Role, TCP, UDP};
use crate::evidence::TargetEvidence;
use crate::format::Format;
use crate::minute::{
    Minute, ServedCounts, Spread, Traffic, WindowTotals, add32, protocol_slot, window_of,
};
use crate::record::{Action, LogStatus};
use crate::scan::RecordVisitor;
use crate::skip::SkipReason;
use crate::source::{Direction, Interfaces, Source, Vantage};
use crate::table::{MAX_WINDOWS_PER_SOURCE, Pool, Slot, Table, Windows};
use crate::token::{self, Span, Tokens};
use crate::view::{SourceSummary, SourceView, TargetView};

use flow::{Flow, MAX_MINUTES, Pending, Work};
pub(crate) use key::Key;
use layout::Layout;
pub use options::{AggregateOptions, Attribution, AttributionError};
use stats::EVIDENCE_FROM;
pub(crate) use stats::{SourceStats, Subject, TargetStats};

/// Relay addresses remembered.
pub(crate) const MAX_RELAYS: usize = 10_000;
/// Minutes of all-traffic totals kept (a day); records of further minutes are counted in
/// [`Aggregator::totals_dropped`].
pub const MAX_TOTAL_WINDOWS: usize = 1440;

/// Records whose table updates are applied together (see [`Aggregator::flush`]): 128 took 18 %
/// less CPU than 32 or 1 on the bench objects (256 no less than 128); 53 KB of pending records.
const BATCH: usize = 128;

/// Aggregates records per source and minute; a [`RecordVisitor`] for [`crate::scan()`].
#[derive(Debug)]
pub struct Aggregator {
    options: AggregateOptions,
    layout: Option<Layout>,
    tokens: Tokens,
    sources: Table<Key, SourceStats>,
    targets: Table<Key, TargetStats>,
    untracked: SourceStats,
    untracked_flows: u64,
    unattributed: u64,
    relays: HashSet<Addr, foldhash::fast::RandomState>,
    interfaces: Interfaces,
    hasher: foldhash::fast::FixedState,
    totals: Windows<WindowTotals>,
    totals_dropped: u64,
    skipdata: BTreeMap<i64, u64>,
    skipdata_dropped: u64,
    latest_end: Option<i64>,
    /// Records parsed whose table updates wait for their batch (see [`Aggregator::flush`]).
    pending: Vec<Pending>,
    /// Spill windows of sources and targets left in the memory budget.
    pool: Pool,
    /// The untracked bucket's own: it is one subject of at most [`MAX_WINDOWS_PER_SOURCE`]
    /// minutes (a fixed share of the budget), never starved by the tracked ones.
    untracked_pool: Pool,
    windows_dropped: u64,
    limits: Limits,
}

/// Whether a subject holding `minutes` was refused one for want of pool windows (not its cap).
#[inline]
fn starving(pool: &Pool, minutes: usize) -> bool {
    pool.free == 0 && minutes < MAX_WINDOWS_PER_SOURCE
}

impl Aggregator {
    /// An empty aggregation within the default [`MemoryBudget`]. Its tables are randomly
    /// seeded: sources are attacker-controlled.
    pub fn new(options: AggregateOptions) -> Aggregator {
        Aggregator::with_budget(options, MemoryBudget::default())
    }

    /// An empty aggregation whose memory for what the input controls (sources, targets, their
    /// minutes, interfaces, relays, gaps) stays within `budget`: past it, the least useful data
    /// goes (lighter sources and targets, then the lightest minutes of a subject), counted in
    /// [`Self::untracked_flows`], [`Self::unattributed`] and [`Self::windows_dropped`].
    pub fn with_budget(options: AggregateOptions, budget: MemoryBudget) -> Aggregator {
        let limits = Limits::new(&options, budget);
        Aggregator {
            options,
            layout: None,
            tokens: Tokens::default(),
            sources: Table::new(limits.sources),
            targets: Table::new(limits.targets),
            untracked: SourceStats::new(0),
            untracked_flows: 0,
            unattributed: 0,
            relays: HashSet::default(),
            interfaces: Interfaces::new(limits.interfaces),
            hasher: foldhash::fast::FixedState::with_seed(0xf10f_5eed),
            totals: Windows::default(),
            totals_dropped: 0,
            skipdata: BTreeMap::new(),
            skipdata_dropped: 0,
            latest_end: None,
            pending: Vec::with_capacity(BATCH),
            pool: Pool {
                free: limits.windows,
            },
            untracked_pool: Pool {
                free: MAX_WINDOWS_PER_SOURCE,
            },
            windows_dropped: 0,
            limits,
        }
    }

    /// What the memory budget allows: sources and targets tracked, spill windows.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Minutes of sources and targets dropped for heavier ones once the memory budget's
    /// windows were spent (their flows count as [`Self::unattributed`]).
    pub fn windows_dropped(&self) -> u64 {
        self.windows_dropped
    }

    /// SKIPDATA records of windows past [`MAX_TOTAL_WINDOWS`] distinct ones, left out of
    /// [`Self::skipdata_by_window`].
    pub fn skipdata_dropped(&self) -> u64 {
        self.skipdata_dropped
    }

    /// Every tracked source address (IPv6 /64 roll-ups excluded), in address order.
    pub fn sources(&self) -> Vec<SourceView<'_>> {
        self.views(false)
    }

    /// The IPv6 /64 roll-ups: every IPv6 source also counts for its /64.
    pub fn networks(&self) -> Vec<SourceView<'_>> {
        self.views(true)
    }

    fn views(&self, net64: bool) -> Vec<SourceView<'_>> {
        let mut by: BTreeMap<Source, SourceView<'_>> = BTreeMap::new();
        for (key, stats) in self.sources.iter().filter(|(k, _)| k.net64 == net64) {
            let source = key.source();
            let view = by.entry(source).or_insert(SourceView {
                source,
                by_vantage: [None; Vantage::ALL.len()],
            });
            view.by_vantage[key.vantage.index()] = Some(stats);
        }
        by.into_values().collect()
    }

    /// One tracked source.
    pub fn source(&self, source: Source) -> Option<SourceView<'_>> {
        let (addr, net64) = match source {
            Source::Addr(ip) => (Addr::from(ip), false),
            Source::Net64(net) => (Addr::from(IpAddr::V6(net)).net64(), true),
        };
        let by_vantage = Vantage::ALL.map(|vantage| {
            self.sources.get(&Key {
                addr,
                net64,
                vantage,
            })
        });
        by_vantage
            .iter()
            .any(Option::is_some)
            .then_some(SourceView { source, by_vantage })
    }

    /// Every tracked target, in address order.
    pub fn targets(&self) -> Vec<TargetView<'_>> {
        let mut by: BTreeMap<IpAddr, TargetView<'_>> = BTreeMap::new();
        for (key, stats) in self.targets.iter() {
            let address = key.addr.ip();
            let view = by.entry(address).or_insert(TargetView {
                address,
                by_vantage: [None; Vantage::ALL.len()],
            });
            view.by_vantage[key.vantage.index()] = Some(stats);
        }
        by.into_values().collect()
    }

    /// One tracked target.
    pub fn target(&self, address: IpAddr) -> Option<TargetView<'_>> {
        let addr = Addr::from(address);
        let by_vantage = Vantage::ALL.map(|vantage| {
            self.targets.get(&Key {
                addr,
                net64: false,
                vantage,
            })
        });
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
        self.relays.contains(&Addr::from(address))
    }

    /// Whether the address has an interface in the log (it was seen from its own interface).
    pub fn is_local(&self, address: IpAddr) -> bool {
        let key = Key {
            addr: Addr::from(address),
            net64: false,
            vantage: Vantage::Own,
        };
        self.sources.get(&key).is_some() || self.targets.get(&key).is_some()
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
    pub fn untracked(&self) -> impl Iterator<Item = (i64, Minute)> + '_ {
        self.untracked
            .windows
            .iter()
            .map(|(s, m)| (s, Minute::from(&m)))
    }

    /// OK records not counted for any source: no source address or no time (the format lacks
    /// them, or `-`), or a minute of a source already spanning [`crate::MAX_WINDOWS_PER_SOURCE`]
    /// windows (or holding all its budget allows) that weighed less than all of them.
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
    /// packets and bytes spread over the minutes each record covers, in time order.
    pub fn window_totals(&self) -> BTreeMap<i64, WindowTotals> {
        self.totals.iter().map(|(start, t)| (start, *t)).collect()
    }

    /// OK records of minutes past [`MAX_TOTAL_WINDOWS`], left out of [`Self::window_totals`].
    pub fn totals_dropped(&self) -> u64 {
        self.totals_dropped
    }

    /// Counts one request of `flow` for `initiator` (and its /64) and for its target.
    #[inline]
    fn request(&mut self, p: &Pending) {
        let flow = &p.flow;
        let weight = flow.weight();
        let to = p.target.map(|(k, _)| k.addr);
        let (key, hash) = p.source;
        self.count_request(flow, key, hash, weight, to, None, true);
        if let Some((net, hash)) = p.net64 {
            self.count_request(flow, net, hash, weight, to, Some(key.addr), false);
        }
        let Some((target, hash)) = p.target else {
            return;
        };
        let initiator = key.addr;
        let pool = &mut self.pool;
        let dropped = &mut self.windows_dropped;
        let slot = self
            .targets
            .slot(target, hash, weight, TargetStats::new, |_, old| {
                pool.free += old.windows.pooled();
            });
        if let Slot::Tracked(t) = slot {
            let mut starved = false;
            for i in 0..flow.spread.minutes {
                match t.windows.get_or_insert_weighed(
                    flow.minute_start(i),
                    flow.minute_weight(i),
                    MAX_WINDOWS_PER_SOURCE,
                    pool,
                    ServedCounts::weight,
                    |_| *dropped += 1,
                ) {
                    Some(s) => flow.add_served(i, s),
                    None => starved |= starving(pool, t.windows.len()),
                }
            }
            t.weight = t.weight.saturating_add(weight);
            if t.evidence.is_none() && t.weight >= EVIDENCE_FROM {
                t.evidence = Some(Box::new(TargetEvidence::new()));
            }
            // Who sent it matters for the shapes of a many-source flood (half-open attempts,
            // UDP, ICMP), not for the completed connections of its clients.
            let flood_shaped = flow.half_open || !matches!(flow.protocol, Some(TCP));
            if flood_shaped && let Some(e) = t.evidence.as_deref_mut() {
                e.add(initiator, flow.dst_port, weight);
            }
            if starved {
                let weight = t.weight;
                self.reclaim_target_windows(weight);
            }
        }
    }

    /// After a tracked source of `weight` was refused a minute for want of pool windows: frees
    /// the spill minutes of a much lighter source into the pool, for its next records (the
    /// refused one stays unattributed). Their flows become unattributed.
    #[cold]
    fn reclaim_source_windows(&mut self, weight: u64) {
        let pool = &mut self.pool;
        let dropped = &mut self.windows_dropped;
        let unattributed = &mut self.unattributed;
        self.sources.reclaim_for(weight, |key, stats| {
            let (mut minutes, mut flows) = (0, 0);
            pool.free += stats.windows.release_spill(|m| {
                minutes += 1;
                flows += u64::from(m.flows);
            });
            stats.trimmed = true;
            *dropped += minutes;
            // A /64's flows are its members' too, counted there.
            if !key.net64 {
                *unattributed += flows;
            }
        });
    }

    /// As [`Self::reclaim_source_windows`], for a target.
    #[cold]
    fn reclaim_target_windows(&mut self, weight: u64) {
        let pool = &mut self.pool;
        let dropped = &mut self.windows_dropped;
        self.targets.reclaim_for(weight, |_, stats| {
            pool.free += stats.windows.release_spill(|_| *dropped += 1);
        });
    }

    /// Counts a request for one source key (an address, or the /64 `member` belongs to);
    /// `primary` marks the address itself, whose untracked and unplaced flows are counted.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn count_request(
        &mut self,
        flow: &Flow,
        key: Key,
        hash: u64,
        weight: u64,
        to: Option<Addr>,
        member: Option<Addr>,
        primary: bool,
    ) {
        let untracked = &mut self.untracked;
        let untracked_flows = &mut self.untracked_flows;
        let pool = &mut self.pool;
        let slot = self
            .sources
            .slot(key, hash, weight, SourceStats::new, |_, old| {
                *untracked_flows += old.flows();
                untracked.merge_from(&old);
                pool.free += old.windows.pooled();
            });
        let (stats, pool, tracked) = match slot {
            Slot::Tracked(stats) => (stats, pool, true),
            Slot::Untracked if primary => {
                self.untracked_flows += 1;
                (&mut self.untracked, &mut self.untracked_pool, false)
            }
            Slot::Untracked => return,
        };
        let mut placed = true;
        let mut starved = false;
        let mut lost_flows = 0u64;
        let mut trimmed = 0u64;
        for i in 0..flow.spread.minutes {
            let kept = stats.windows.add(
                flow.minute_start(i),
                flow.minute_weight(i),
                MAX_WINDOWS_PER_SOURCE,
                pool,
                |old| {
                    lost_flows += u64::from(old.flows);
                    trimmed += 1;
                },
                |n| flow.add_request_narrow(i, n),
                |m| flow.add_request(i, m),
            );
            if !kept {
                placed = false;
                starved |= tracked && starving(pool, stats.windows.len());
            }
        }
        if trimmed > 0 || !placed {
            // Minutes dropped or a record refused: its counts are lower bounds.
            stats.trimmed = true;
            self.windows_dropped += trimmed;
        }
        // An untracked flow is counted in `untracked_flows` whether or not the bucket kept
        // its minute: each flow is counted once, tracked, untracked or unattributed.
        if primary && tracked {
            self.unattributed += lost_flows + u64::from(!placed);
        }
        stats.first_start = stats.first_start.min(flow.spread.start());
        stats.last_end = stats.last_end.max(flow.spread.end());
        if let Some(e) = stats.weigh(weight)
            && let Some(to) = to
        {
            e.add(
                to,
                flow.dst_port,
                flow.protocol.unwrap_or(0),
                weight,
                member,
            );
        }
        if starved {
            let weight = stats.weight;
            self.reclaim_source_windows(weight);
        }
    }

    /// Counts a UDP reply for the client it went back to, and for the server that sent it.
    fn udp_reply(&mut self, p: &Pending) {
        let flow = &p.flow;
        let Some((server, hash)) = p.target else {
            return;
        };
        let pool = &mut self.pool;
        let dropped = &mut self.windows_dropped;
        let slot = self
            .targets
            .slot(server, hash, 1, TargetStats::new, |_, old| {
                pool.free += old.windows.pooled();
            });
        if let Slot::Tracked(t) = slot {
            let mut starved = false;
            for i in 0..flow.spread.minutes {
                let part = flow.part(i).packets;
                match t.windows.get_or_insert_weighed(
                    flow.minute_start(i),
                    part,
                    MAX_WINDOWS_PER_SOURCE,
                    pool,
                    ServedCounts::weight,
                    |_| *dropped += 1,
                ) {
                    Some(s) => add32(&mut s.udp_replied, part),
                    None => starved |= starving(pool, t.windows.len()),
                }
            }
            if starved {
                let weight = t.weight;
                self.reclaim_target_windows(weight);
            }
        }
        let (key, hash) = p.source;
        let untracked = &mut self.untracked;
        let untracked_flows = &mut self.untracked_flows;
        let pool = &mut self.pool;
        let slot = self.sources.slot(key, hash, 1, SourceStats::new, |_, old| {
            *untracked_flows += old.flows();
            untracked.merge_from(&old);
            pool.free += old.windows.pooled();
        });
        let (stats, pool, tracked) = match slot {
            Slot::Tracked(stats) => (stats, pool, true),
            Slot::Untracked => (&mut self.untracked, &mut self.untracked_pool, false),
        };
        let mut lost_flows = 0u64;
        let mut trimmed = 0u64;
        let mut starved = false;
        for i in 0..flow.spread.minutes {
            let part = flow.part(i).packets;
            let kept = stats.windows.add(
                flow.minute_start(i),
                part,
                MAX_WINDOWS_PER_SOURCE,
                pool,
                |old| {
                    lost_flows += u64::from(old.flows);
                    trimmed += 1;
                },
                |n| n.add_answered(part),
                |m| add32(&mut m.udp_answered, part),
            );
            if !kept {
                starved |= tracked && starving(pool, stats.windows.len());
            }
        }
        let weight = stats.weight;
        if trimmed > 0 {
            stats.trimmed = true;
            self.windows_dropped += trimmed;
            if tracked {
                self.unattributed += lost_flows;
            }
        }
        if starved {
            self.reclaim_source_windows(weight);
        }
    }

    /// Applies the batch of pending records, in order. The records of a batch touch entries
    /// spread over megabytes (random sources and targets); fetched one after another the
    /// misses of each record follow each other, so the batch is walked three times first:
    /// index slots, then entries, then what the entries point to, each prefetched for all its
    /// records before any is awaited.
    fn flush(&mut self) {
        let mut pending = std::mem::take(&mut self.pending);
        for p in &mut pending {
            p.source.1 = self.sources.hash(&p.source.0);
            self.sources.prefetch_slot(p.source.1);
            if let Some((key, hash)) = &mut p.net64 {
                *hash = self.sources.hash(key);
                self.sources.prefetch_slot(*hash);
            }
            if let Some((key, hash)) = &mut p.target {
                *hash = self.targets.hash(key);
                self.targets.prefetch_slot(*hash);
            }
        }
        for p in &pending {
            self.sources.prefetch_entry(p.source.1);
            if let Some((_, hash)) = p.target {
                self.targets.prefetch_entry(hash);
            }
        }
        for p in &pending {
            self.sources.prefetch_parts(&p.source.0, p.source.1);
            if let Some((key, hash)) = &p.target {
                self.targets.prefetch_parts(key, *hash);
            }
        }
        for p in &pending {
            match p.work {
                Work::Request => self.request(p),
                Work::UdpReply => self.udp_reply(p),
            }
        }
        pending.clear();
        self.pending = pending;
    }

    #[inline]
    fn total(&mut self, flow: &Flow) {
        for i in 0..flow.spread.minutes {
            let here = i == flow.flow_minute;
            let Some(t) = self
                .totals
                .get_or_insert_within(flow.minute_start(i), MAX_TOTAL_WINDOWS)
            else {
                self.totals_dropped += u64::from(here);
                continue;
            };
            t.flows += u64::from(here);
            t.rejected += u64::from(here && flow.reject);
            let part = flow.part(i);
            t.packets = t.packets.saturating_add(part.packets);
            t.bytes = t.bytes.saturating_add(part.bytes);
        }
    }

    fn mark_relay(&mut self, address: Addr) {
        if self.relays.len() < MAX_RELAYS {
            self.relays.insert(address);
        }
    }
}

/// Reads the optional column `index` of the split line with `parse`, `-` giving `None`.
#[inline]
fn optional<T>(
    line: &[u8],
    spans: &Tokens,
    index: Option<usize>,
    parse: impl FnOnce(&[u8], Span) -> Option<T>,
    reason: SkipReason,
) -> Result<Option<T>, SkipReason> {
    let Some(i) = index else { return Ok(None) };
    let span = spans.span(i);
    if token::is_absent(token::slice(line, span)) {
        return Ok(None);
    }
    parse(line, span).map(Some).ok_or(reason)
}

impl RecordVisitor for Aggregator {
    fn begin_format(&mut self, format: &Format) {
        self.layout = Some(Layout::of(format));
    }

    fn end(&mut self) {
        self.flush();
    }

    fn record(&mut self, line: &[u8]) -> Result<LogStatus, SkipReason> {
        let layout = self
            .layout
            .unwrap_or_else(|| Layout::of(&Format::default_v2()));
        self.tokens.split(line);
        let spans = &self.tokens;
        if spans.len() != layout.columns {
            return Err(SkipReason::FieldCount);
        }
        let number = |index, bits| {
            optional(
                line,
                spans,
                index,
                |line, span| token::unsigned_in(line, span, bits),
                SkipReason::BadNumber,
            )
        };
        let time = |index| {
            optional(
                line,
                spans,
                index,
                token::unix_seconds_in,
                SkipReason::BadNumber,
            )
        };
        let address = |index| {
            optional(
                line,
                spans,
                index,
                token::address_in,
                SkipReason::BadAddress,
            )
        };

        let status = match layout.status {
            Some(i) => LogStatus::parse(token::slice(line, spans.span(i)))
                .ok_or(SkipReason::BadLogStatus)?,
            None => LogStatus::Ok,
        };
        // Every column this visitor reads is validated whatever the status, so a line it
        // accepts is one the full parser accepts too (for these columns).
        let start = time(layout.start)?;
        let end = time(layout.end)?;
        let src = address(layout.src)?;
        let dst = address(layout.dst)?;
        // The pkt- addresses usually repeat the interface's: compare the text before parsing.
        let same = |a: Option<usize>, b: Option<usize>| match (a, b) {
            (Some(a), Some(b)) => {
                token::slice(line, spans.span(a)) == token::slice(line, spans.span(b))
            }
            _ => false,
        };
        let (pkt_src, pkt_dst) = match self.options.attribution {
            Attribution::PktSrcAddr => (
                if same(layout.pkt_src, layout.src) {
                    src
                } else {
                    address(layout.pkt_src)?
                },
                if same(layout.pkt_dst, layout.dst) {
                    dst
                } else {
                    address(layout.pkt_dst)?
                },
            ),
            Attribution::SrcAddr => (None, None),
        };
        let action = optional(
            line,
            spans,
            layout.action,
            |line, span| Action::parse(token::slice(line, span)),
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
            .and_then(|i| Direction::parse(token::slice(line, spans.span(i))));
        let interface = layout
            .interface
            .map(|i| token::slice(line, spans.span(i)))
            .filter(|id| flow_direction.is_none() && !token::is_absent(id))
            .map(|id| self.hasher.hash_one(id));
        let flow_start = start.or(end);
        if status != LogStatus::Ok {
            if status == LogStatus::SkipData
                && let Some(t) = flow_start
            {
                let window = window_of(t);
                if self.skipdata.len() < MAX_TOTAL_WINDOWS || self.skipdata.contains_key(&window) {
                    *self.skipdata.entry(window).or_default() += 1;
                } else {
                    self.skipdata_dropped += 1;
                }
            }
            return Ok(status);
        }
        let (Some(t0), Some(src)) = (flow_start, src) else {
            self.unattributed += 1;
            return Ok(LogStatus::Ok);
        };
        let spread = Spread::new(t0, end.unwrap_or(t0));
        // A record's one flow goes to a minute picked by a hash of what varies between the
        // records of a flood: ports and counts.
        let flow_minute = if spread.minutes > 1 {
            spread.flow_minute(self.hasher.hash_one((src_port, dst_port, t0, packets)))
        } else {
            0
        };
        let tcp = protocol == Some(TCP);
        let mut parts = [Traffic::default(); MAX_MINUTES];
        for (i, part) in parts.iter_mut().enumerate().take(spread.minutes) {
            *part = Traffic {
                packets: spread.part(i, packets),
                bytes: spread.part(i, bytes),
            };
        }
        let flow = Flow {
            spread,
            flow_minute,
            parts,
            slot: protocol_slot(protocol),
            packets,
            reject: action == Some(Action::Reject),
            opens: tcp && classify::opens_connection(flags),
            half_open: tcp && classify::is_half_open(flags, packets, bytes),
            protocol,
            dst_port: dst_port.unwrap_or(0),
        };
        self.latest_end = self.latest_end.max(Some(spread.end()));
        self.total(&flow);

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
        // Seen from the end whose interface sends (`Egress`) or receives (`Ingress`) it.
        let vantage = |side: Direction| match (forwarded, direction) {
            (true, Some(Direction::Egress)) => Vantage::ForwardedOut,
            (true, _) => Vantage::ForwardedIn,
            (false, Some(d)) if d == side => Vantage::Own,
            (false, _) => Vantage::Peer,
        };
        let (src, dst) = (pkt_src.unwrap_or(src), pkt_dst.or(dst));
        let key = |addr: Addr, side: Direction| Key {
            addr,
            net64: false,
            vantage: vantage(side),
        };
        let (work, source, target) =
            match (classify::role(protocol, src_port, dst_port, flags), dst) {
                (Role::Request, dst) => (
                    Work::Request,
                    key(src, Direction::Egress),
                    dst.map(|d| key(d, Direction::Ingress)),
                ),
                (Role::Reply, Some(dst)) if protocol == Some(UDP) => (
                    Work::UdpReply,
                    key(dst, Direction::Ingress),
                    Some(key(src, Direction::Egress)),
                ),
                (Role::Reply, _) => return Ok(LogStatus::Ok),
            };
        let net64 = (work == Work::Request && !source.addr.is_v4()).then_some(Key {
            addr: source.addr.net64(),
            net64: true,
            vantage: source.vantage,
        });
        self.pending.push(Pending {
            flow,
            work,
            source: (source, 0),
            net64: net64.map(|k| (k, 0)),
            target: target.map(|k| (k, 0)),
        });
        if self.pending.len() == BATCH {
            self.flush();
        }
        Ok(LogStatus::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{ScanOptions, scan};

    #[test]
    fn what_a_tracked_source_holds_packs_without_padding() {
        use std::mem::size_of;
        let sizes = (
            size_of::<(Key, SourceStats)>(),
            size_of::<crate::evidence::Evidence>(),
            size_of::<(Key, TargetStats)>(),
        );
        // A `u128` address aligned to 16 made them 256, 336 and 176.
        assert_eq!(sizes, (240, 320, 160));
    }

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

    /// The minutes of every vantage of `addr` (as a source), and whether they are all narrow.
    fn minutes_of(a: &Aggregator, addr: &str) -> (Vec<(i64, Minute)>, bool) {
        let addr = Addr::from(ip(addr));
        let narrow = a
            .sources
            .iter()
            .filter(|(k, _)| k.addr == addr && !k.net64)
            .all(|(_, s)| s.windows.is_narrow());
        let view = a.source(Source::Addr(addr.ip())).expect("tracked");
        (view.windows(), narrow)
    }

    #[test]
    fn small_counts_stay_narrow_and_the_first_large_one_widens_them_exactly() {
        let line = |t: u64, protocol: u8, packets: u64, bytes: u64, port: u32| {
            let flags = if protocol == 6 { 3 } else { 0 };
            format!(
                "5 eni-a 10.0.1.10 10.0.2.20 {port} 443 {protocol} {packets} {bytes} {t} {t} ACCEPT OK {flags} egress 10.0.1.10 10.0.2.20"
            )
        };
        let traffic = |packets, bytes| Traffic { packets, bytes };
        let t0 = 1_700_000_040; // a minute start
        let small: Vec<String> = (0..10)
            .map(|i| line(t0 + i, 6, 4, 300, 40_000 + i as u32))
            .collect();
        let a = aggregate(V5, &small);
        let (minutes, narrow) = minutes_of(&a, "10.0.1.10");
        assert!(narrow, "ten small requests need no wide counts");
        assert_eq!(minutes.len(), 1);
        assert_eq!(
            (minutes[0].1.flows, minutes[0].1.tcp),
            (10, traffic(40, 3_000))
        );

        // Each way a count can outgrow a narrow minute, alone: packets and bytes in one record
        // of the next minute, or flows (70,000 records, half of them UDP, so that neither
        // protocol's packets outgrow 16 bits) in the one after. Counted exactly, the earlier
        // minute unchanged.
        let mut large = small.clone();
        large.push(line(t0 + 60, 6, 100_000, 6_000_000_000, 50_000));
        let mut many = small.clone();
        many.extend((0..70_000u64).map(|i| {
            let protocol = if i % 2 == 0 { 6 } else { 17 };
            line(
                t0 + 120 + i % 60,
                protocol,
                1,
                40,
                1_024 + (i % 60_000) as u32,
            )
        }));
        // Or UDP answers: two replies of 40,000 packets to ten DNS queries.
        let mut answered = small.clone();
        for i in 0..10 {
            answered
                .push(line(t0 + 180 + i, 17, 1, 60, 30_000 + i as u32).replace(" 443 ", " 53 "));
        }
        for port in [30_000, 30_001] {
            let t = t0 + 181;
            answered.push(format!(
                "5 eni-a 10.0.2.20 10.0.1.10 53 {port} 17 40000 4000000 {t} {t} ACCEPT OK 0 ingress 10.0.2.20 10.0.1.10"
            ));
        }
        for (lines, minute, expected) in [
            (
                &large,
                60,
                (1, 1, traffic(100_000, 6_000_000_000), traffic(0, 0), 0),
            ),
            (
                &many,
                120,
                (
                    70_000,
                    35_000,
                    traffic(35_000, 1_400_000),
                    traffic(35_000, 1_400_000),
                    0,
                ),
            ),
            (
                &answered,
                180,
                (10, 0, traffic(0, 0), traffic(10, 600), 80_000),
            ),
        ] {
            let a = aggregate(V5, lines);
            let (minutes, narrow) = minutes_of(&a, "10.0.1.10");
            assert!(
                !narrow,
                "minute {minute}: the large counts widened the minutes"
            );
            let by_start: BTreeMap<i64, Minute> = minutes.into_iter().collect();
            assert_eq!(by_start.len(), 2);
            let first = by_start[&(t0 as i64)];
            assert_eq!((first.flows, first.tcp), (10, traffic(40, 3_000)));
            let m = by_start[&(t0 as i64 + minute)];
            assert_eq!(
                (m.flows, m.connections, m.tcp, m.udp, m.udp_answered),
                expected,
                "minute {minute}"
            );
        }
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
        let members = nets[0].evidence().unwrap().members().estimate();
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
