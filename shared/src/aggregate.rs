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
    /// Distinct destination ports remembered per source and window.
    pub max_ports: usize,
    /// Distinct destination addresses remembered per source and window.
    pub max_destinations: usize,
}

impl Default for AggregateOptions {
    fn default() -> AggregateOptions {
        AggregateOptions {
            attribution: Attribution::SrcAddr,
            max_sources: 20_000,
            max_ports: 64,
            max_destinations: 16,
        }
    }
}

/// Counts per key for at most `cap` distinct keys; past that, new keys only set `saturated`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally<T> {
    entries: Vec<(T, u32)>,
    saturated: bool,
}

impl<T> Default for Tally<T> {
    fn default() -> Self {
        Tally {
            entries: Vec::new(),
            saturated: false,
        }
    }
}

impl<T: Copy + PartialEq + Ord> Tally<T> {
    fn add(&mut self, key: T, cap: usize) {
        if let Some(entry) = self.entries.iter_mut().find(|(k, _)| *k == key) {
            entry.1 = entry.1.saturating_add(1);
        } else if self.entries.len() < cap {
            self.entries.push((key, 1));
        } else {
            self.saturated = true;
        }
    }

    /// Distinct keys seen (a lower bound when [`Tally::saturated`]).
    pub fn distinct(&self) -> usize {
        self.entries.len()
    }

    /// More distinct keys were seen than could be remembered.
    pub fn saturated(&self) -> bool {
        self.saturated
    }

    /// The `n` most frequent keys with their counts, most frequent first.
    pub fn top(&self, n: usize) -> Vec<(T, u32)> {
        let mut entries = self.entries.clone();
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
    /// Destination ports with their flow counts (bounded).
    pub dst_ports: Tally<u16>,
    /// Destination addresses with their flow counts (bounded).
    pub destinations: Tally<IpAddr>,
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
            dst_ports: Tally::default(),
            destinations: Tally::default(),
        }
    }

    fn add(&mut self, flow: &Flow, options: &AggregateOptions) {
        self.flows += 1;
        self.packets += flow.packets;
        self.bytes += flow.bytes;
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
            self.dst_ports.add(port, options.max_ports);
        }
        if let Some(dst) = flow.dst {
            self.destinations.add(dst, options.max_destinations);
        }
    }
}

/// Everything one source sent, window by window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceStats {
    windows: Vec<WindowStats>,
}

impl SourceStats {
    /// The source's windows, in order of first appearance.
    pub fn windows(&self) -> &[WindowStats] {
        &self.windows
    }

    fn add(&mut self, flow: &Flow, options: &AggregateOptions) {
        let window = window_of(flow.start);
        // Records are unordered but an object spans few windows: search from the latest.
        let stats = match self.windows.iter().rposition(|w| w.start == window) {
            Some(i) => &mut self.windows[i],
            None => {
                self.windows.push(WindowStats::new(window));
                self.windows.last_mut().expect("just pushed")
            }
        };
        stats.add(flow, options);
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
            summary.packets += w.packets;
            summary.bytes += w.bytes;
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

    /// OK records with no source address or no time (the format lacks them, or `-`).
    pub fn unattributed(&self) -> u64 {
        self.unattributed
    }

    /// SKIPDATA records per window: the log itself lost records there.
    pub fn skipdata_by_window(&self) -> &BTreeMap<i64, u64> {
        &self.skipdata
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
            t.packets += window.packets;
            t.bytes += window.bytes;
            t.rejected += window.rejected;
        }
        totals
    }

    fn add(&mut self, source: IpAddr, flow: &Flow) {
        if let Some(stats) = self.sources.get_mut(&source) {
            stats.add(flow, &self.options);
        } else if self.sources.len() < self.options.max_sources {
            self.sources
                .entry(source)
                .or_default()
                .add(flow, &self.options);
        } else {
            self.untracked_flows += 1;
            self.untracked.add(flow, &self.options);
        }
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
