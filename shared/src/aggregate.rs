//! Per-source, per-minute aggregation of traffic records: the fast path of the crate.
//!
//! Only the columns the aggregation needs are parsed. Memory is bounded by the number of
//! tracked sources (capped; the rest go to one untracked bucket) times the windows they span.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::str::FromStr;

use serde::Serialize;

use crate::field::Field;
use crate::format::Format;
use crate::record::{Action, LogStatus};
use crate::scan::RecordVisitor;
use crate::skip::SkipReason;
use crate::token::{self, Span};

/// Length of an aggregation window, in seconds.
pub const WINDOW_SECS: i64 = 60;

/// The start of the one-minute window holding `unix_seconds`.
pub fn window_of(unix_seconds: i64) -> i64 {
    unix_seconds - unix_seconds.rem_euclid(WINDOW_SECS)
}

/// Which address a flow is attributed to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum Attribution {
    /// `srcaddr`: the address seen by the interface (a NAT gateway's for traffic through it).
    #[default]
    #[serde(rename = "srcaddr")]
    SrcAddr,
    /// `pkt-srcaddr` when the format has it and it is not `-`, else `srcaddr`: the original
    /// sender behind a NAT gateway, Transit Gateway or load balancer.
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
    /// Distinct sources tracked one by one; flows of further sources go to the untracked bucket.
    pub max_sources: usize,
}

impl Default for AggregateOptions {
    fn default() -> AggregateOptions {
        AggregateOptions {
            attribution: Attribution::SrcAddr,
            max_sources: 20_000,
        }
    }
}

/// Distinct destination ports remembered per source and window (the count saturates here).
pub const PORTS_PER_WINDOW: usize = 32;
/// Destination ports with flow counts kept per source as evidence.
pub const TOP_PORTS: usize = 16;
/// Destination addresses with flow counts kept per source as evidence.
pub const TOP_DESTINATIONS: usize = 8;

/// The distinct destination ports of one window, exact up to [`PORTS_PER_WINDOW`]. Stored
/// inline: no allocation, one cache line to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSet {
    ports: [u16; PORTS_PER_WINDOW],
    len: u8,
    saturated: bool,
}

impl PortSet {
    const EMPTY: PortSet = PortSet {
        ports: [0; PORTS_PER_WINDOW],
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
        if len < PORTS_PER_WINDOW {
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

    /// More than [`PORTS_PER_WINDOW`] distinct ports were seen.
    pub fn saturated(&self) -> bool {
        self.saturated
    }
}

/// Flow counts for the first `N` distinct keys seen, stored inline; later keys only set
/// `saturated`. Evidence for findings, not an exact top-N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally<T, const N: usize> {
    keys: [T; N],
    counts: [u32; N],
    len: u8,
    saturated: bool,
}

impl<T: Copy + PartialEq + Ord, const N: usize> Tally<T, N> {
    const fn new(filler: T) -> Self {
        Tally {
            keys: [filler; N],
            counts: [0; N],
            len: 0,
            saturated: false,
        }
    }

    #[inline]
    fn add(&mut self, key: T) {
        let len = usize::from(self.len);
        if let Some(i) = self.keys[..len].iter().position(|k| *k == key) {
            self.counts[i] = self.counts[i].saturating_add(1);
        } else if len < N {
            self.keys[len] = key;
            self.counts[len] = 1;
            self.len += 1;
        } else {
            self.saturated = true;
        }
    }

    /// Distinct keys remembered (a lower bound when [`Tally::saturated`]).
    pub fn distinct(&self) -> usize {
        usize::from(self.len)
    }

    /// More distinct keys were seen than could be remembered.
    pub fn saturated(&self) -> bool {
        self.saturated
    }

    /// The `n` most frequent remembered keys with their counts, most frequent first.
    pub fn top(&self, n: usize) -> Vec<(T, u32)> {
        let len = usize::from(self.len);
        let mut entries: Vec<(T, u32)> = self.keys[..len]
            .iter()
            .copied()
            .zip(self.counts[..len].iter().copied())
            .collect();
        entries.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        entries.truncate(n);
        entries
    }
}

/// Flows per transport protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProtocolCounts {
    /// Protocol 6.
    pub tcp: u64,
    /// Protocol 17.
    pub udp: u64,
    /// Protocols 1 and 58.
    pub icmp: u64,
    /// Anything else, or unknown.
    pub other: u64,
}

/// What one source sent in one one-minute window (by flow `start`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowStats {
    /// Window start, Unix seconds, a multiple of [`WINDOW_SECS`].
    pub start: i64,
    /// Flow records.
    pub flows: u64,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Flows with `action` = `REJECT`.
    pub rejected: u64,
    /// TCP flows whose only flag was SYN (`tcp-flags` = 2): handshakes never completed.
    pub syn_only: u64,
    /// Flows by protocol.
    pub protocols: ProtocolCounts,
    /// Earliest flow `start`.
    pub first_start: i64,
    /// Latest flow `end`.
    pub last_end: i64,
    /// Distinct destination ports (bounded).
    pub dst_ports: PortSet,
}

impl WindowStats {
    fn new(start: i64) -> WindowStats {
        WindowStats {
            start,
            flows: 0,
            packets: 0,
            bytes: 0,
            rejected: 0,
            syn_only: 0,
            protocols: ProtocolCounts::default(),
            first_start: i64::MAX,
            last_end: i64::MIN,
            dst_ports: PortSet::EMPTY,
        }
    }

    #[inline]
    fn add(&mut self, flow: &Flow) {
        self.flows += 1;
        // Values come from the object: saturate rather than wrap on absurd ones.
        self.packets = self.packets.saturating_add(flow.packets);
        self.bytes = self.bytes.saturating_add(flow.bytes);
        self.rejected += u64::from(flow.action == Some(Action::Reject));
        self.syn_only += u64::from(flow.tcp_flags == Some(2));
        match flow.protocol {
            Some(6) => self.protocols.tcp += 1,
            Some(17) => self.protocols.udp += 1,
            Some(1 | 58) => self.protocols.icmp += 1,
            _ => self.protocols.other += 1,
        }
        self.first_start = self.first_start.min(flow.start);
        self.last_end = self.last_end.max(flow.end);
        if let Some(port) = flow.dst_port {
            self.dst_ports.insert(port);
        }
    }
}

/// Window starts kept inline in [`SourceStats`]; further windows are found through an index.
const INLINE_STARTS: usize = 16;
/// Windows one source may span (a day of minutes). An AWS object spans a few minutes; the cap
/// only matters for objects with absurd timestamps, whose extra flows count as unattributed.
pub const MAX_WINDOWS_PER_SOURCE: usize = 1440;

/// Everything one source sent: per-window counters, plus the destinations it hit most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStats {
    /// Starts of the first windows, parallel to `windows`, searched without touching them.
    starts: [i64; INLINE_STARTS],
    /// Positions of the windows past the inline ones, by start.
    more: Option<Box<Map<i64, u32>>>,
    windows: Vec<WindowStats>,
    top_ports: Tally<u16, TOP_PORTS>,
    top_destinations: Tally<IpAddr, TOP_DESTINATIONS>,
}

impl Default for SourceStats {
    fn default() -> Self {
        SourceStats {
            starts: [i64::MIN; INLINE_STARTS],
            more: None,
            windows: Vec::new(),
            top_ports: Tally::new(0),
            top_destinations: Tally::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
        }
    }
}

impl SourceStats {
    /// The source's windows, in order of first appearance.
    pub fn windows(&self) -> &[WindowStats] {
        &self.windows
    }

    /// Destination ports it sent the most flows to (the first [`TOP_PORTS`] distinct ones).
    pub fn top_ports(&self) -> &Tally<u16, TOP_PORTS> {
        &self.top_ports
    }

    /// Destination addresses it sent the most flows to (the first [`TOP_DESTINATIONS`]).
    pub fn top_destinations(&self) -> &Tally<IpAddr, TOP_DESTINATIONS> {
        &self.top_destinations
    }

    /// Adds a flow; false (and nothing changed) when it would need a window past the cap.
    #[inline]
    fn add(&mut self, flow: &Flow) -> bool {
        let window = window_of(flow.start);
        let inline = self.windows.len().min(INLINE_STARTS);
        let found = match self.starts[..inline].iter().position(|&s| s == window) {
            Some(i) => Some(i),
            None => self
                .more
                .as_ref()
                .and_then(|m| m.get(&window))
                .map(|&i| i as usize),
        };
        let index = match found {
            Some(i) => i,
            None if self.windows.len() >= MAX_WINDOWS_PER_SOURCE => return false,
            None => {
                let i = self.windows.len();
                if i < INLINE_STARTS {
                    self.starts[i] = window;
                } else {
                    self.more.get_or_insert_default().insert(window, i as u32);
                }
                self.windows.push(WindowStats::new(window));
                i
            }
        };
        self.windows[index].add(flow);
        if let Some(port) = flow.dst_port {
            self.top_ports.add(port);
        }
        if let Some(dst) = flow.dst {
            self.top_destinations.add(dst);
        }
        true
    }

    /// Sums over all windows.
    pub fn summary(&self, source: IpAddr) -> SourceSummary {
        let mut summary = SourceSummary {
            source,
            flows: 0,
            packets: 0,
            bytes: 0,
            rejected: 0,
            syn_only: 0,
            peak_flows_per_minute: 0,
            first_start: i64::MAX,
            last_end: i64::MIN,
        };
        for w in &self.windows {
            summary.flows += w.flows;
            summary.packets = summary.packets.saturating_add(w.packets);
            summary.bytes = summary.bytes.saturating_add(w.bytes);
            summary.rejected += w.rejected;
            summary.syn_only += w.syn_only;
            summary.peak_flows_per_minute = summary.peak_flows_per_minute.max(w.flows);
            summary.first_start = summary.first_start.min(w.first_start);
            summary.last_end = summary.last_end.max(w.last_end);
        }
        summary
    }
}

/// One source's totals, as `flowlogs analyze --json` prints them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceSummary {
    /// The source address.
    pub source: IpAddr,
    /// Flow records.
    pub flows: u64,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Rejected flows.
    pub rejected: u64,
    /// SYN-only TCP flows.
    pub syn_only: u64,
    /// Flows in the source's busiest one-minute window.
    pub peak_flows_per_minute: u64,
    /// Earliest flow start, Unix seconds.
    pub first_start: i64,
    /// Latest flow end, Unix seconds.
    pub last_end: i64,
}

/// All traffic in one window, whatever its source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WindowTotals {
    /// Flow records.
    pub flows: u64,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Rejected flows.
    pub rejected: u64,
}

/// The fields of one OK record that the aggregation uses.
struct Flow {
    start: i64,
    end: i64,
    packets: u64,
    bytes: u64,
    action: Option<Action>,
    tcp_flags: Option<u64>,
    protocol: Option<u64>,
    dst_port: Option<u16>,
    dst: Option<IpAddr>,
}

/// Column positions of the fields the aggregation reads.
#[derive(Debug, Clone, Copy)]
struct Layout {
    columns: usize,
    status: Option<usize>,
    src: Option<usize>,
    pkt_src: Option<usize>,
    dst: Option<usize>,
    dst_port: Option<usize>,
    protocol: Option<usize>,
    packets: Option<usize>,
    bytes: Option<usize>,
    start: Option<usize>,
    end: Option<usize>,
    action: Option<usize>,
    tcp_flags: Option<usize>,
}

impl Layout {
    fn of(format: &Format) -> Layout {
        Layout {
            columns: format.len(),
            status: format.position(Field::LogStatus),
            src: format.position(Field::SrcAddr),
            pkt_src: format.position(Field::PktSrcAddr),
            dst: format.position(Field::DstAddr),
            dst_port: format.position(Field::DstPort),
            protocol: format.position(Field::Protocol),
            packets: format.position(Field::Packets),
            bytes: format.position(Field::Bytes),
            start: format.position(Field::Start),
            end: format.position(Field::End),
            action: format.position(Field::Action),
            tcp_flags: format.position(Field::TcpFlags),
        }
    }
}

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Aggregates records per source and minute; a [`RecordVisitor`] for [`crate::scan()`].
#[derive(Debug)]
pub struct Aggregator {
    options: AggregateOptions,
    layout: Option<Layout>,
    spans: Vec<Span>,
    sources: Map<IpAddr, SourceStats>,
    untracked: SourceStats,
    untracked_flows: u64,
    unattributed: u64,
    skipdata: BTreeMap<i64, u64>,
}

impl Aggregator {
    /// An empty aggregation. Its hasher is randomly seeded: sources are attacker-controlled.
    pub fn new(options: AggregateOptions) -> Aggregator {
        Aggregator {
            options,
            layout: None,
            spans: Vec::with_capacity(64),
            sources: Map::default(),
            untracked: SourceStats::default(),
            untracked_flows: 0,
            unattributed: 0,
            skipdata: BTreeMap::new(),
        }
    }

    /// The options it was built with.
    pub fn options(&self) -> &AggregateOptions {
        &self.options
    }

    /// Each tracked source with its windows (in no particular order).
    pub fn sources(&self) -> impl Iterator<Item = (IpAddr, &SourceStats)> {
        self.sources.iter().map(|(ip, stats)| (*ip, stats))
    }

    /// How many sources are tracked one by one.
    pub fn source_count(&self) -> usize {
        self.sources.len()
    }

    /// Traffic of sources beyond the cap, lumped together.
    pub fn untracked(&self) -> &SourceStats {
        &self.untracked
    }

    /// Flows counted in the untracked bucket.
    pub fn untracked_flows(&self) -> u64 {
        self.untracked_flows
    }

    /// OK records not placed in any window: no source address or no time (the format lacks
    /// them, or `-`), or a source already spanning [`MAX_WINDOWS_PER_SOURCE`] windows.
    pub fn unattributed(&self) -> u64 {
        self.unattributed
    }

    /// SKIPDATA records per window: the log itself lost records there.
    pub fn skipdata_by_window(&self) -> &BTreeMap<i64, u64> {
        &self.skipdata
    }

    /// The latest flow `end` of any OK record, tracked or not.
    pub fn latest_end(&self) -> Option<i64> {
        self.sources
            .values()
            .chain(std::iter::once(&self.untracked))
            .flat_map(SourceStats::windows)
            .map(|w| w.last_end)
            .max()
    }

    /// Per-source totals, the busiest (by flows) first.
    pub fn summaries(&self) -> Vec<SourceSummary> {
        let mut all: Vec<_> = self.sources().map(|(ip, s)| s.summary(ip)).collect();
        all.sort_unstable_by(|a, b| b.flows.cmp(&a.flows).then(a.source.cmp(&b.source)));
        all
    }

    /// All traffic per window, tracked and untracked sources alike.
    pub fn window_totals(&self) -> BTreeMap<i64, WindowTotals> {
        let mut totals: BTreeMap<i64, WindowTotals> = BTreeMap::new();
        let all = self
            .sources
            .values()
            .chain(std::iter::once(&self.untracked));
        for window in all.flat_map(SourceStats::windows) {
            let t = totals.entry(window.start).or_default();
            t.flows += window.flows;
            t.packets = t.packets.saturating_add(window.packets);
            t.bytes = t.bytes.saturating_add(window.bytes);
            t.rejected += window.rejected;
        }
        totals
    }

    fn add(&mut self, source: IpAddr, flow: &Flow) {
        let placed = if let Some(stats) = self.sources.get_mut(&source) {
            stats.add(flow)
        } else if self.sources.len() < self.options.max_sources {
            self.sources.entry(source).or_default().add(flow)
        } else {
            self.untracked_flows += 1;
            self.untracked.add(flow)
        };
        self.unattributed += u64::from(!placed);
    }
}

/// Reads the optional column `index` of the split line with `parse`, `-` giving `None`.
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
        let pkt_src = match self.options.attribution {
            Attribution::PktSrcAddr => address(layout.pkt_src)?,
            Attribution::SrcAddr => None,
        };
        let action = optional(
            line,
            spans,
            layout.action,
            Action::parse,
            SkipReason::BadAction,
        )?;
        let flow_start = start.or(end);
        let flow = Flow {
            start: flow_start.unwrap_or_default(),
            end: end.or(start).unwrap_or_default(),
            packets: number(layout.packets, 64)?.unwrap_or(0),
            bytes: number(layout.bytes, 64)?.unwrap_or(0),
            action,
            tcp_flags: number(layout.tcp_flags, 8)?,
            protocol: number(layout.protocol, 8)?,
            dst_port: number(layout.dst_port, 16)?.map(|p| p as u16),
            dst: address(layout.dst)?,
        };
        if status != LogStatus::Ok {
            if status == LogStatus::SkipData
                && let Some(t) = flow_start
            {
                *self.skipdata.entry(window_of(t)).or_default() += 1;
            }
            return Ok(status);
        }
        match (pkt_src.or(src), flow_start) {
            (Some(source), Some(_)) => self.add(source, &flow),
            _ => self.unattributed += 1,
        }
        Ok(LogStatus::Ok)
    }
}
