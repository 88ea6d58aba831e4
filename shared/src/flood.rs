//! Flood rules: which sources sent repeated traffic shaped like a flood, with the evidence.
//!
//! A window is flagged when one source opens many flows in a minute (the volume signal) **and**
//! the flows look like a flood rather than a busy client: mostly unanswered SYNs, mostly
//! rejected, spread over many ports, or tiny. Flows that carry real data (a backup, a download)
//! veto the verdict whatever their number.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::aggregate::{Aggregator, SourceStats, WINDOW_SECS, WindowStats};

/// An IPv4 or IPv6 network in CIDR notation (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// A CIDR that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad CIDR {0:?}: expected e.g. 10.0.0.0/8, 2001:db8::/32 or a single address")]
pub struct CidrError(String);

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        let bad = || CidrError(text.into());
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (text.trim(), None),
        };
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Cidr {
    /// Whether `ip` lies in this network (never across address families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                bits >> (width - prefix)
            }
        }
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n).into(), self.prefix, 32)
                    == masked(u32::from(a).into(), self.prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(n.into(), self.prefix, 128) == masked(a.into(), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// Thresholds of the flood verdict. See the crate README for the reasoning behind the defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct FloodRules {
    /// Flows from one source in one minute before anything else is considered.
    pub min_flows_per_minute: u64,
    /// Share of TCP flows that were SYN-only (handshake never completed).
    pub syn_only_share: f64,
    /// Share of flows rejected by security groups or network ACLs.
    pub reject_share: f64,
    /// Distinct destination ports in the minute.
    pub distinct_ports: usize,
    /// Average packets per flow at or below which flows count as tiny.
    pub max_packets_per_flow: f64,
    /// Average bytes per flow at or above which the source is a heavy client, not a flood.
    pub heavy_bytes_per_flow: u64,
    /// Flows per minute, as a multiple of the minimum, that make a finding HIGH severity.
    pub high_severity_factor: u64,
    /// Sources never reported.
    pub allowlist: Vec<Cidr>,
}

impl Default for FloodRules {
    fn default() -> FloodRules {
        FloodRules {
            min_flows_per_minute: 600,
            syn_only_share: 0.6,
            reject_share: 0.8,
            distinct_ports: 20,
            max_packets_per_flow: 2.0,
            heavy_bytes_per_flow: 64 * 1024,
            high_severity_factor: 5,
            allowlist: Vec::new(),
        }
    }
}

/// How urgent a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Over the thresholds.
    Medium,
    /// Far over the volume threshold, or with three or more flood signals.
    High,
}

impl Severity {
    /// `MEDIUM` / `HIGH`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
        }
    }
}

/// One measured figure, the threshold it was held against, and whether it fired.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Signal {
    /// The measured value.
    #[serde(serialize_with = "rounded")]
    pub value: f64,
    /// The threshold.
    pub threshold: f64,
    /// Whether the value crossed the threshold.
    pub fired: bool,
}

fn rounded<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64((value * 1000.0).round() / 1000.0)
}

impl Signal {
    fn at_least(value: f64, threshold: f64) -> Signal {
        Signal {
            value,
            threshold,
            fired: value >= threshold,
        }
    }

    fn at_most(value: f64, threshold: f64) -> Signal {
        Signal {
            value,
            threshold,
            fired: value <= threshold,
        }
    }
}

/// The figures behind a verdict on one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Signals {
    /// Flows in the minute (the volume signal; required).
    pub flows_per_minute: Signal,
    /// Share of TCP flows that were SYN-only.
    pub syn_only_share: Signal,
    /// Share of flows rejected.
    pub reject_share: Signal,
    /// Distinct destination ports (a lower bound when many).
    pub distinct_ports: Signal,
    /// Average packets per flow (fires when at or below the threshold).
    pub packets_per_flow: Signal,
    /// Average bytes per flow (fires when at or above: a heavy client, which vetoes the verdict).
    pub heavy_client: Signal,
}

impl Signals {
    fn measure(window: &WindowStats, rules: &FloodRules) -> Signals {
        let flows = window.flows.max(1) as f64;
        let tcp = window.protocols.tcp.max(1) as f64;
        Signals {
            flows_per_minute: Signal::at_least(
                window.flows as f64,
                rules.min_flows_per_minute as f64,
            ),
            syn_only_share: Signal::at_least(window.syn_only as f64 / tcp, rules.syn_only_share),
            reject_share: Signal::at_least(window.rejected as f64 / flows, rules.reject_share),
            distinct_ports: Signal::at_least(
                window.dst_ports.distinct() as f64,
                rules.distinct_ports as f64,
            ),
            packets_per_flow: Signal::at_most(
                window.packets as f64 / flows,
                rules.max_packets_per_flow,
            ),
            heavy_client: Signal::at_least(
                window.bytes as f64 / flows,
                rules.heavy_bytes_per_flow as f64,
            ),
        }
    }

    /// The flood-shape signals that fired, by name.
    pub fn shape_fired(&self) -> Vec<&'static str> {
        [
            ("syn_only_share", self.syn_only_share),
            ("reject_share", self.reject_share),
            ("distinct_ports", self.distinct_ports),
            ("packets_per_flow", self.packets_per_flow),
        ]
        .into_iter()
        .filter(|(_, s)| s.fired)
        .map(|(name, _)| name)
        .collect()
    }

    fn is_flood(&self) -> bool {
        self.flows_per_minute.fired && !self.heavy_client.fired && !self.shape_fired().is_empty()
    }
}

/// A destination port and the flows the source sent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PortCount {
    /// Destination port.
    pub port: u16,
    /// Flows to it.
    pub flows: u32,
}

/// A destination address and the flows the source sent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DestinationCount {
    /// Destination address.
    pub address: IpAddr,
    /// Flows to it.
    pub flows: u32,
}

/// A source whose traffic looks like a flood, with its worst window and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The flooding source.
    pub source: IpAddr,
    /// The rule that names the flood's shape (`syn-flood`, `port-scan`, …).
    pub rule: &'static str,
    /// How urgent it is.
    pub severity: Severity,
    /// Start of the worst window (Unix seconds).
    pub window_start: i64,
    /// Flows in the worst window.
    pub flows: u64,
    /// Packets in the worst window.
    pub packets: u64,
    /// Bytes in the worst window.
    pub bytes: u64,
    /// The figures and thresholds of the worst window.
    pub signals: Signals,
    /// One sentence: what fired and why this is not a heavy client.
    pub reason: String,
    /// How many one-minute windows of this source were flagged.
    pub windows_flagged: usize,
    /// Earliest flow start over the flagged windows.
    pub first_start: i64,
    /// Latest flow end over the flagged windows.
    pub last_end: i64,
    /// The destination ports this source sent most flows to, over the object(s) read.
    pub top_ports: Vec<PortCount>,
    /// The destination addresses this source sent most flows to, over the object(s) read.
    pub top_destinations: Vec<DestinationCount>,
    /// SKIPDATA records in the flagged windows: the log lost records, counts are lower bounds.
    pub skipdata_records: u64,
}

/// How many ports and destinations a finding lists.
const TOP_EVIDENCE: usize = 5;

/// Applies the rules to every tracked source; one finding per flooding source, the biggest
/// (by flows in its worst window) first.
pub fn detect(aggregator: &Aggregator, rules: &FloodRules) -> Vec<Finding> {
    let mut findings: Vec<Finding> = aggregator
        .sources()
        .filter(|(ip, _)| !rules.allowlist.iter().any(|c| c.contains(*ip)))
        .filter_map(|(ip, stats)| {
            let flagged: Vec<(&WindowStats, Signals)> = stats
                .windows()
                .iter()
                .map(|w| (w, Signals::measure(w, rules)))
                .filter(|(_, s)| s.is_flood())
                .collect();
            let (worst, signals) = flagged.iter().max_by_key(|(w, _)| (w.flows, -w.start))?;
            let skipdata = flagged
                .iter()
                .map(|(w, _)| {
                    aggregator
                        .skipdata_by_window()
                        .get(&w.start)
                        .copied()
                        .unwrap_or(0)
                })
                .sum();
            Some(finding(
                ip, stats, worst, *signals, &flagged, skipdata, rules,
            ))
        })
        .collect();
    findings.sort_by(|a, b| b.flows.cmp(&a.flows).then(a.source.cmp(&b.source)));
    findings
}

fn finding(
    source: IpAddr,
    stats: &SourceStats,
    worst: &WindowStats,
    signals: Signals,
    flagged: &[(&WindowStats, Signals)],
    skipdata_records: u64,
    rules: &FloodRules,
) -> Finding {
    let shape = signals.shape_fired();
    let far_over = worst.flows >= rules.min_flows_per_minute * rules.high_severity_factor;
    let severity = if far_over || shape.len() >= 3 {
        Severity::High
    } else {
        Severity::Medium
    };
    let rule = rule_name(worst, &signals);
    let flows = worst.flows.max(1) as f64;
    let reason = format!(
        "{} flows in one minute (threshold {}) with {}; averages {:.1} packets and {:.0} bytes per flow, \
         below the {} bytes per flow of a heavy client",
        worst.flows,
        rules.min_flows_per_minute,
        shape
            .iter()
            .map(|s| describe(s, &signals))
            .collect::<Vec<_>>()
            .join(", "),
        worst.packets as f64 / flows,
        worst.bytes as f64 / flows,
        rules.heavy_bytes_per_flow,
    );
    Finding {
        source,
        rule,
        severity,
        window_start: worst.start,
        flows: worst.flows,
        packets: worst.packets,
        bytes: worst.bytes,
        signals,
        reason,
        windows_flagged: flagged.len(),
        first_start: flagged
            .iter()
            .map(|(w, _)| w.first_start)
            .min()
            .unwrap_or(worst.start),
        last_end: flagged
            .iter()
            .map(|(w, _)| w.last_end)
            .max()
            .unwrap_or(worst.start + WINDOW_SECS),
        top_ports: stats
            .top_ports()
            .top(TOP_EVIDENCE)
            .into_iter()
            .map(|(port, flows)| PortCount { port, flows })
            .collect(),
        top_destinations: stats
            .top_destinations()
            .top(TOP_EVIDENCE)
            .into_iter()
            .map(|(address, flows)| DestinationCount { address, flows })
            .collect(),
        skipdata_records,
    }
}

/// Names the flood by its dominant shape, most specific first.
fn rule_name(window: &WindowStats, signals: &Signals) -> &'static str {
    let share = |n: u64| n as f64 / window.flows.max(1) as f64;
    if signals.syn_only_share.fired && share(window.protocols.tcp) >= 0.5 {
        "syn-flood"
    } else if signals.distinct_ports.fired {
        "port-scan"
    } else if share(window.protocols.udp) >= 0.9 {
        "udp-flood"
    } else if share(window.protocols.icmp) >= 0.9 {
        "icmp-flood"
    } else if signals.reject_share.fired {
        "rejected-flood"
    } else {
        "connection-flood"
    }
}

fn describe(signal: &str, s: &Signals) -> String {
    match signal {
        "syn_only_share" => format!("{:.0}% SYN-only", 100.0 * s.syn_only_share.value),
        "reject_share" => format!("{:.0}% rejected", 100.0 * s.reject_share.value),
        "distinct_ports" => format!("{:.0} destination ports", s.distinct_ports.value),
        _ => format!("tiny flows ({:.1} packets each)", s.packets_per_flow.value),
    }
}
