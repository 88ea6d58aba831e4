//! What the verdict reports: per flooding source a [`Finding`], per attacked target a
//! [`TargetFinding`], each with the evidence an on-call engineer acts on.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize, Serializer};

use super::rules::{Rule, Severity};
use crate::source::Source;

/// A count that may be only a lower bound (a capped set, a source tracked late, an estimate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bound {
    /// The count.
    pub value: u64,
    /// True when the real value may be higher.
    pub at_least: bool,
}

impl Bound {
    /// An exact count.
    pub fn exact(value: u64) -> Bound {
        Bound {
            value,
            at_least: false,
        }
    }

    /// A count the real value may exceed.
    pub fn at_least(value: u64) -> Bound {
        Bound {
            value,
            at_least: true,
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at_least {
            write!(f, "≥ {}", self.value)
        } else {
            write!(f, "{}", self.value)
        }
    }
}

/// One measured figure, the threshold it was held against, and whether it fired.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// The measured value.
    #[serde(serialize_with = "rounded")]
    pub value: f64,
    /// The threshold.
    pub threshold: f64,
    /// Whether the value crossed the threshold (in the direction the signal means).
    pub fired: bool,
}

fn rounded<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64((value * 1000.0).round() / 1000.0)
}

impl Signal {
    pub(crate) fn at_least(value: f64, threshold: f64) -> Signal {
        Signal {
            value,
            threshold,
            fired: value >= threshold,
        }
    }

    pub(crate) fn below(value: f64, threshold: f64) -> Signal {
        Signal {
            value,
            threshold,
            fired: value < threshold,
        }
    }
}

/// The rates of the worst minute.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Flow records per minute.
    pub flows_per_minute: u64,
    /// TCP connections opened per minute.
    pub connections_per_minute: u64,
    /// TCP connections per minute that never completed their handshake.
    pub half_open_per_minute: u64,
    /// Packets per second.
    #[serde(serialize_with = "rounded")]
    pub packets_per_second: f64,
    /// Bits per second.
    #[serde(serialize_with = "rounded")]
    pub bits_per_second: f64,
}

/// The destination a source sent the most to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TargetShare {
    /// Destination address.
    pub address: IpAddr,
    /// Destination port (0 for ICMP).
    pub port: u16,
    /// IP protocol number.
    pub protocol: u8,
    /// Share of the source's traffic (packets + flows) that went to this address: a lower bound.
    #[serde(serialize_with = "rounded")]
    pub share: f64,
}

/// A destination port and the flows the source sent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortCount {
    /// Destination port.
    pub port: u16,
    /// Flows to it (a lower bound: counted from when the source's evidence started).
    pub flows: u64,
}

/// A destination address and the flows the source sent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationCount {
    /// Destination address.
    pub address: IpAddr,
    /// Flows to it (a lower bound).
    pub flows: u64,
}

/// A source that flooded one target, as a target incident lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCount {
    /// Source address.
    pub address: IpAddr,
    /// Flows it sent to the target (a lower bound).
    pub flows: u64,
    /// Its packets + flows to the target (a lower bound).
    pub weight: u64,
}

/// One flagged minute of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlaggedMinute {
    /// Minute start, Unix seconds.
    pub start: i64,
    /// Flows in it (sent by a source, received by a target).
    pub flows: u64,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// A source whose traffic looks like a flood, with its worst window and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The flooding source: an address, or an IPv6 /64 whose addresses each sent little.
    pub source: Source,
    /// The flood's shape.
    pub rule: Rule,
    /// How urgent it is.
    pub severity: Severity,
    /// Start of the worst window (Unix seconds).
    pub window_start: i64,
    /// Request flows in the worst window.
    pub flows: u64,
    /// Request packets in the worst window.
    pub packets: u64,
    /// Request bytes in the worst window.
    pub bytes: u64,
    /// The worst window's rates.
    pub rate: Rate,
    /// The target it sent the most to.
    pub target: Option<TargetShare>,
    /// The figures and thresholds of the worst window, by name.
    pub signals: BTreeMap<String, Signal>,
    /// What fired, in one sentence.
    pub reason: String,
    /// Why this is not a busy client, in one sentence.
    pub not_a_busy_client: String,
    /// How many one-minute windows of this source were flagged.
    pub windows_flagged: usize,
    /// The flagged minutes with their figures, in time order.
    pub flagged: Vec<FlaggedMinute>,
    /// Start of the first flagged window.
    pub first_start: i64,
    /// End of the last flagged window.
    pub last_end: i64,
    /// The destination ports it sent most flows to.
    pub top_ports: Vec<PortCount>,
    /// The destination addresses it sent most flows to.
    pub top_destinations: Vec<DestinationCount>,
    /// Distinct destination ports (a lower bound when many).
    pub distinct_ports: Bound,
    /// For an IPv6 /64: how many of its addresses sent (an estimate).
    pub addresses: Option<Bound>,
    /// SKIPDATA records in the flagged windows: the log lost records, counts are lower bounds.
    pub skipdata_records: u64,
    /// The counts may miss some of its traffic (it was tracked late, or the log lost records).
    pub lower_bound: bool,
}

/// A target under attack from many sources, with its heaviest sources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetFinding {
    /// The attacked address.
    pub target: IpAddr,
    /// Its most requested port.
    pub port: Option<u16>,
    /// The flood's shape.
    pub rule: Rule,
    /// How urgent it is.
    pub severity: Severity,
    /// Start of the worst window.
    pub window_start: i64,
    /// What it received in the worst window.
    pub rate: Rate,
    /// Request packets it received in the worst window.
    pub packets: u64,
    /// Request bytes it received in the worst window.
    pub bytes: u64,
    /// Distinct sources that sent it requests (an estimate).
    pub distinct_sources: Bound,
    /// Its heaviest sources.
    pub top_sources: Vec<SourceCount>,
    /// Sources with a finding of their own against it.
    pub flagged_sources: Vec<Source>,
    /// The figures and thresholds of the worst window, by name.
    pub signals: BTreeMap<String, Signal>,
    /// What fired, in one sentence.
    pub reason: String,
    /// Why this is not a popular server, in one sentence.
    pub not_a_busy_client: String,
    /// How many one-minute windows were flagged.
    pub windows_flagged: usize,
    /// The flagged minutes with their figures, in time order.
    pub flagged: Vec<FlaggedMinute>,
    /// Start of the first flagged window.
    pub first_start: i64,
    /// End of the last flagged window.
    pub last_end: i64,
    /// SKIPDATA records in the flagged windows.
    pub skipdata_records: u64,
}

/// Everything the verdict found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Flooding sources, the biggest first.
    pub floods: Vec<Finding>,
    /// Targets under attack from many sources, the biggest first.
    pub targets: Vec<TargetFinding>,
}

impl Detection {
    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.floods.is_empty() && self.targets.is_empty()
    }
}
