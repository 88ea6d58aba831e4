//! The flood verdict over an aggregation.
//!
//! A source is judged on the traffic it **initiates** (see [`crate::Aggregator`]), minute by
//! minute, and only on traffic concentrated on one target: a monitor polling hundreds of hosts
//! or a client of many services is never one flood. Each rule looks at what a flood of its
//! shape cannot hide and a busy client never shows:
//!
//! | rule | fires when, in one minute |
//! |---|---|
//! | [`Rule::SynFlood`] / [`Rule::PortScan`] | many connection attempts never complete, and most of its attempts are such |
//! | [`Rule::ConnectionFlood`] | it completes more connections to one service than any client opens |
//! | [`Rule::RequestFlood`] | it sends request-sized packets to one service at a flood rate |
//! | [`Rule::UdpFlood`] | it sends UDP packets that are not a conversation |
//! | [`Rule::IcmpFlood`] | it sends ICMP at a flood rate |
//!
//! Connection and request floods are judged for sources outside the log only (unless
//! [`FloodRules::internal_clients`]): inside a VPC, services call each other at any rate.
//! An address that receives about as much as it sends (a load balancer, a NAT gateway, a proxy,
//! a server calling its back end) relays or serves; it is not judged as a client. Targets are
//! judged as well: many sources against one host (spoofed SYNs, a botnet) are one incident.

mod explain;
mod finding;
mod rules;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

pub use finding::{
    Bound, DestinationCount, Detection, Finding, FlaggedMinute, PortCount, Rate, Signal,
    SourceCount, TargetFinding, TargetShare,
};
pub use rules::{CidrError, FloodRules, Rule, Severity, parse_cidr};

use crate::aggregate::Aggregator;
use crate::minute::{Minute, Served, WINDOW_SECS};
use crate::source::Source;
use crate::summary::{Floor, SourceEvidence, SourcePart, Summary, TargetPart};

/// Ports and destinations a finding lists.
const TOP_EVIDENCE: usize = 5;
/// Request packets smaller than this on average are bare ACKs clocking a download.
const REQUEST_MIN_BYTES: f64 = 100.0;
/// Request packets this large on average carry bulk data (an upload or a backup).
const REQUEST_MAX_BYTES: f64 = 1_000.0;
/// UDP answered with at least this share of its packets may be a conversation...
const ANSWERED_SHARE: f64 = 0.1;
/// ...when its packets are this large on average (a tunnel, a media stream)...
const CONVERSATION_MIN_BYTES: f64 = 200.0;
/// ...or more comes back than goes out (a download over QUIC).
const DOWNLOAD_ANSWER_RATIO: f64 = 1.5;
/// A /64 is judged as one source only when its addresses each sent about this few flows: one
/// sender rotating addresses, not a subnet of busy hosts.
const ROTATING_FLOWS_PER_ADDRESS: f64 = 4.0;
/// Per-target UDP and ICMP thresholds are this multiple of the per-source ones.
const TARGET_PACKET_FACTOR: u64 = 5;
/// A target is flooded by many sources only if no one of them (not found flooding on its
/// own) sent it this share of the flows the found ones leave: one dominant source is a
/// single-source flood, judged (and allowed, or tuned) by the per-source rules.
const DOMINANT_SHARE: f64 = 0.5;

/// What the verdict can judge: a [`Summary`] (merged objects, from the shared state) or a whole
/// [`Aggregator`] (everything it read).
pub trait AsSummary {
    /// The summary to judge.
    fn as_summary(&self) -> Cow<'_, Summary>;
}

impl AsSummary for Summary {
    fn as_summary(&self) -> Cow<'_, Summary> {
        Cow::Borrowed(self)
    }
}

impl AsSummary for Aggregator {
    fn as_summary(&self) -> Cow<'_, Summary> {
        Cow::Owned(self.summary(&Floor::NONE))
    }
}

/// Applies the rules to every source and target.
pub fn detect(input: &impl AsSummary, rules: &FloodRules) -> Detection {
    let summary = input.as_summary();
    let summary = summary.as_ref();
    let mut floods: Vec<Finding> = summary
        .sources
        .iter()
        .filter(|(source, _)| !rules.allowlist.iter().any(|n| source.is_in(n)))
        .filter_map(|(source, part)| judge_source(summary, *source, part, rules))
        .collect();
    resolve_ping_pong(summary, &mut floods);
    drop_networks_explained_by_members(&mut floods);
    floods.sort_by(|a, b| b.packets.cmp(&a.packets).then(a.source.cmp(&b.source)));

    let mut targets: Vec<TargetFinding> = summary
        .targets
        .iter()
        .filter_map(|(address, part)| judge_target(summary, *address, part, &floods, rules))
        .collect();
    for multi in multi_source(&floods, &targets) {
        targets.push(multi);
    }
    targets.sort_by(|a, b| b.packets.cmp(&a.packets).then(a.target.cmp(&b.target)));
    Detection { floods, targets }
}

/// What a source's evidence says about where its traffic went.
struct Concentration {
    /// Its heaviest destination address and that address's share of its traffic.
    address: Option<(IpAddr, f64)>,
    /// Its heaviest (address, port, protocol) and that service's share.
    service: Option<TargetShare>,
    /// Whether it tried more ports than are remembered, none of them taking half its traffic.
    scanning: bool,
}

impl Concentration {
    fn of(evidence: Option<&SourceEvidence>) -> Concentration {
        let Some(e) = evidence.filter(|e| e.weight > 0) else {
            return Concentration {
                address: None,
                service: None,
                scanning: false,
            };
        };
        let share = |w: u64, error: u64| ((w - error) as f64 / e.weight as f64).min(1.0);
        let address = e
            .addresses
            .first()
            .map(|h| (h.key, share(h.weight, h.error)));
        let port = e.ports.first().map(|h| (h.key, share(h.weight, h.error)));
        // Addresses and ports are counted apart; the share of their pair is at least the sum of
        // their shares less one (the Fréchet bound).
        let service = address
            .zip(port)
            .map(|((address, a), (port, p))| TargetShare {
                address,
                port,
                protocol: e.protocol,
                share: (a + p - 1.0).max(0.0),
            });
        let scanning =
            e.port_set.is_some_and(|p| p.saturated()) && port.is_none_or(|(_, p)| p < 0.5);
        Concentration {
            address,
            service,
            scanning,
        }
    }

    fn address_share(&self) -> f64 {
        self.address.map_or(0.0, |(_, s)| s)
    }

    fn service_share(&self) -> f64 {
        self.service.map_or(0.0, |s| s.share)
    }
}

/// A rule that fired in one minute, how many times over its threshold, and the figures.
#[derive(Debug, Clone)]
struct Verdict {
    rule: Rule,
    ratio: f64,
    signals: BTreeMap<String, Signal>,
}

impl Verdict {
    fn new(
        rule: Rule,
        fired: Signal,
        signals: impl IntoIterator<Item = (&'static str, Signal)>,
    ) -> Verdict {
        Verdict {
            rule,
            ratio: fired.value / fired.threshold,
            signals: signals
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        }
    }
}

/// The verdict that is furthest over its threshold.
fn worst(candidates: Vec<Verdict>) -> Option<Verdict> {
    candidates
        .into_iter()
        .max_by(|a, b| a.ratio.total_cmp(&b.ratio))
}

/// One flagged minute of a source.
struct Flagged {
    start: i64,
    minute: Minute,
    verdict: Verdict,
}

fn judge_source(
    summary: &Summary,
    source: Source,
    part: &SourcePart,
    rules: &FloodRules,
) -> Option<Finding> {
    let address = match source {
        Source::Addr(ip) => Some(ip),
        Source::Net64(_) => None,
    };
    if address.is_some_and(|ip| summary.is_relay(ip)) {
        return None;
    }
    let evidence = part.evidence();
    let concentration = Concentration::of(evidence);
    let windows = part.windows();
    let members = evidence
        .and_then(|e| e.members.as_ref())
        .map(|m| m.estimate())
        .filter(|_| address.is_none());
    if address.is_none() {
        let flows: u64 = windows.iter().map(|(_, m)| u64::from(m.flows)).sum();
        let members = members.unwrap_or(0);
        if members == 0 || flows as f64 / members as f64 > ROTATING_FLOWS_PER_ADDRESS {
            return None;
        }
    }
    // A host of the log calling another service is the application's own load.
    let internal = address.is_some_and(|ip| summary.is_local(ip)) && !rules.internal_clients;
    let served: BTreeMap<i64, Served> = address
        .and_then(|ip| summary.targets.get(&ip))
        .map(|t| t.windows().into_iter().collect())
        .unwrap_or_default();
    let flagged: Vec<Flagged> = windows
        .iter()
        .filter_map(|(start, m)| {
            judge_minute(m, served.get(start), &concentration, internal, rules).map(|verdict| {
                Flagged {
                    start: *start,
                    minute: *m,
                    verdict,
                }
            })
        })
        .collect();
    let worst = flagged.iter().max_by(|a, b| {
        a.verdict
            .ratio
            .total_cmp(&b.verdict.ratio)
            .then(b.start.cmp(&a.start))
    })?;
    let skipdata = skipdata_in(summary, flagged.iter().map(|f| f.start));
    let rate = rate_of(&worst.minute);
    let target = match worst.verdict.rule {
        Rule::ConnectionFlood | Rule::RequestFlood => concentration.service,
        _ => concentration.service.map(|mut s| {
            if let Some((address, share)) = concentration.address {
                if s.address != address {
                    s = TargetShare {
                        address,
                        port: 0,
                        protocol: s.protocol,
                        share,
                    };
                } else {
                    s.share = share;
                }
            }
            s
        }),
    };
    let ports = evidence.and_then(|e| e.port_set);
    let (reason, not_a_busy_client) = explain::source(
        worst.verdict.rule,
        &worst.minute,
        &rate,
        target.as_ref(),
        rules,
    );
    Some(Finding {
        source,
        rule: worst.verdict.rule,
        severity: severity(worst.verdict.ratio, rules),
        window_start: worst.start,
        flows: u64::from(worst.minute.flows),
        packets: worst.minute.traffic().packets,
        bytes: worst.minute.traffic().bytes,
        rate,
        target,
        signals: worst.verdict.signals.clone(),
        reason,
        not_a_busy_client,
        windows_flagged: flagged.len(),
        flagged: flagged
            .iter()
            .map(|f| {
                let t = f.minute.traffic();
                FlaggedMinute {
                    start: f.start,
                    flows: u64::from(f.minute.flows),
                    packets: t.packets,
                    bytes: t.bytes,
                }
            })
            .collect(),
        first_start: flagged.first().map_or(worst.start, |f| f.start),
        last_end: flagged.last().map_or(worst.start, |f| f.start) + WINDOW_SECS,
        top_ports: evidence.map(top_ports).unwrap_or_default(),
        top_destinations: evidence
            .map(|e| {
                e.addresses
                    .iter()
                    .take(TOP_EVIDENCE)
                    .map(|h| DestinationCount {
                        address: h.key,
                        flows: h.flows,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        distinct_ports: ports.map_or(Bound::exact(0), |p| {
            if p.saturated() {
                Bound::at_least(p.distinct() as u64)
            } else {
                Bound::exact(p.distinct() as u64)
            }
        }),
        addresses: members.map(Bound::at_least),
        skipdata_records: skipdata,
        lower_bound: part.lower_bound() || skipdata > 0,
    })
}

/// The rule that fires for one minute of a source, with how far over its threshold it is.
fn judge_minute(
    m: &Minute,
    served: Option<&Served>,
    c: &Concentration,
    internal: bool,
    rules: &FloodRules,
) -> Option<Verdict> {
    let served = served.copied().unwrap_or_default();
    // Serving (or relaying) about as much as it sends: not a client.
    let serves = |received: f64, sent: f64| received >= rules.relay_share * sent;
    let target_share = Signal::at_least(c.address_share(), rules.target_share);
    let service_share = Signal::at_least(c.service_share(), rules.target_share);
    let mut candidates: Vec<Verdict> = Vec::new();

    let half_open = f64::from(m.half_open);
    let connections = f64::from(m.connections);
    let syn = Signal::at_least(half_open, rules.half_open_per_minute as f64);
    let syn_share = Signal::at_least(half_open / connections.max(1.0), rules.half_open_share);
    if syn.fired
        && syn_share.fired
        && target_share.fired
        && !serves(f64::from(served.connections), connections)
    {
        let rule = if c.scanning {
            Rule::PortScan
        } else {
            Rule::SynFlood
        };
        candidates.push(Verdict::new(
            rule,
            syn,
            [
                ("half_open_per_minute", syn),
                ("half_open_share", syn_share),
                ("target_share", target_share),
            ],
        ));
    }

    let completed = Signal::at_least(connections - half_open, rules.connections_per_minute as f64);
    if completed.fired
        && service_share.fired
        && !internal
        && !serves(f64::from(served.connections), connections)
    {
        candidates.push(Verdict::new(
            Rule::ConnectionFlood,
            completed,
            [
                ("completed_connections_per_minute", completed),
                ("service_share", service_share),
            ],
        ));
    }

    let tcp_packets = m.tcp.packets as f64;
    let requests = Signal::at_least(tcp_packets, rules.request_packets_per_minute as f64);
    let size = m.tcp.bytes as f64 / tcp_packets.max(1.0);
    let request_sized = Signal {
        value: size,
        threshold: REQUEST_MIN_BYTES,
        fired: (REQUEST_MIN_BYTES..REQUEST_MAX_BYTES).contains(&size),
    };
    if requests.fired
        && request_sized.fired
        && service_share.fired
        && !internal
        && !serves(served.packets as f64, tcp_packets)
    {
        candidates.push(Verdict::new(
            Rule::RequestFlood,
            requests,
            [
                ("request_packets_per_minute", requests),
                ("average_packet_bytes", request_sized),
                ("service_share", service_share),
            ],
        ));
    }

    let udp = m.udp.packets as f64;
    let udp_rate = Signal::at_least(udp, rules.udp_packets_per_minute as f64);
    let answered = m.udp_answered as f64 / udp.max(1.0);
    let udp_size = m.udp.bytes as f64 / udp.max(1.0);
    let conversation = answered >= ANSWERED_SHARE
        && (udp_size >= CONVERSATION_MIN_BYTES || answered > DOWNLOAD_ANSWER_RATIO);
    if udp_rate.fired
        && !conversation
        && target_share.fired
        && !serves(served.udp_packets as f64, udp)
    {
        candidates.push(Verdict::new(
            Rule::UdpFlood,
            udp_rate,
            [
                ("udp_packets_per_minute", udp_rate),
                ("answered_share", Signal::below(answered, ANSWERED_SHARE)),
                ("target_share", target_share),
            ],
        ));
    }

    // ICMP has no request/reply in flow logs (no type field): a victim's echo replies look like
    // a flood back, which `resolve_ping_pong` sorts out.
    let icmp = Signal::at_least(m.icmp.packets as f64, rules.icmp_packets_per_minute as f64);
    if icmp.fired && target_share.fired {
        candidates.push(Verdict::new(
            Rule::IcmpFlood,
            icmp,
            [
                ("icmp_packets_per_minute", icmp),
                ("target_share", target_share),
            ],
        ));
    }
    worst(candidates)
}

/// An ICMP flood answered by its victim shows twice, once each way: keep the side that is not
/// one of the log's own hosts (the attacker), or the heavier one.
fn resolve_ping_pong(summary: &Summary, floods: &mut Vec<Finding>) {
    let icmp: Vec<(Source, IpAddr, u64)> = floods
        .iter()
        .filter(|f| f.rule == Rule::IcmpFlood)
        .filter_map(|f| f.target.map(|t| (f.source, t.address, f.packets)))
        .collect();
    let answered: Vec<Source> = icmp
        .iter()
        .filter(|(source, target, packets)| {
            icmp.iter().any(|(s2, t2, p2)| {
                *s2 == Source::Addr(*target) && Source::Addr(*t2) == *source && {
                    let me_local = summary.is_local(source.address());
                    let peer_local = summary.is_local(*target);
                    match (me_local, peer_local) {
                        (true, false) => true,
                        (false, true) => false,
                        _ => packets < p2,
                    }
                }
            })
        })
        .map(|(s, _, _)| *s)
        .collect();
    floods.retain(|f| !(f.rule == Rule::IcmpFlood && answered.contains(&f.source)));
}

/// A /64 finding adds nothing when addresses inside it were found flooding on their own.
fn drop_networks_explained_by_members(floods: &mut Vec<Finding>) {
    let members: Vec<(IpAddr, u64)> = floods
        .iter()
        .filter_map(|f| match f.source {
            Source::Addr(ip @ IpAddr::V6(_)) => Some((ip, f.flows)),
            _ => None,
        })
        .collect();
    floods.retain(|f| match f.source {
        Source::Net64(_) => {
            let explained: u64 = members
                .iter()
                .filter(|(ip, _)| {
                    Source::Addr(*ip)
                        .is_in(&ipnet::IpNet::new(f.source.address(), 64).expect("a /64"))
                })
                .map(|(_, flows)| flows)
                .sum();
            (explained as f64) < 0.5 * f.flows as f64
        }
        Source::Addr(_) => true,
    });
}

fn judge_target(
    summary: &Summary,
    address: IpAddr,
    part: &TargetPart,
    floods: &[Finding],
    rules: &FloodRules,
) -> Option<TargetFinding> {
    let evidence = part.evidence()?;
    let distinct = evidence.distinct.estimate();
    if distinct < rules.min_sources {
        return None;
    }
    let top_sources = &evidence.sources;
    let found = flagged_against(floods, address);
    let is_found = |ip: &IpAddr| found.contains(&Source::Addr(*ip));
    let total: u64 = part.windows().iter().map(|(_, s)| u64::from(s.flows)).sum();
    let found_flows: u64 = top_sources
        .iter()
        .filter(|h| is_found(&h.key))
        .map(|h| h.flows)
        .sum();
    let rest = total.saturating_sub(found_flows) as f64;
    if top_sources
        .iter()
        .find(|h| !is_found(&h.key))
        .is_some_and(|top| top.flows as f64 >= DOMINANT_SHARE * rest)
    {
        return None;
    }
    // What sources already found flooding this target sent it: only the rest can be a
    // many-source flood.
    let explained = explained_by_findings(summary, floods, address);
    let distinct_signal = Signal::at_least(distinct as f64, rules.min_sources as f64);
    let flagged: Vec<(i64, Served, Verdict)> = part
        .windows()
        .into_iter()
        .filter_map(|(start, s)| {
            let known = explained.get(&start).copied().unwrap_or_default();
            let half_open = (f64::from(s.half_open) - known.half_open).max(0.0);
            let syn = Signal::at_least(half_open, rules.target_half_open_per_minute as f64);
            let share = Signal::at_least(
                half_open / f64::from(s.connections).max(1.0),
                rules.half_open_share,
            );
            let udp = Signal::at_least(
                (s.udp_packets as f64 - known.udp).max(0.0),
                (rules.udp_packets_per_minute * TARGET_PACKET_FACTOR) as f64,
            );
            let replied = s.udp_replied as f64 / (s.udp_packets as f64).max(1.0);
            let icmp = Signal::at_least(
                (s.icmp_packets as f64 - known.icmp).max(0.0),
                (rules.icmp_packets_per_minute * TARGET_PACKET_FACTOR) as f64,
            );
            let mut candidates = Vec::new();
            if syn.fired && share.fired {
                candidates.push(Verdict::new(
                    Rule::DistributedSynFlood,
                    syn,
                    [
                        ("half_open_per_minute", syn),
                        ("half_open_share", share),
                        ("distinct_sources", distinct_signal),
                    ],
                ));
            }
            if udp.fired && replied < ANSWERED_SHARE {
                candidates.push(Verdict::new(
                    Rule::DistributedUdpFlood,
                    udp,
                    [
                        ("udp_packets_per_minute", udp),
                        ("answered_share", Signal::below(replied, ANSWERED_SHARE)),
                        ("distinct_sources", distinct_signal),
                    ],
                ));
            }
            if icmp.fired {
                candidates.push(Verdict::new(
                    Rule::DistributedIcmpFlood,
                    icmp,
                    [
                        ("icmp_packets_per_minute", icmp),
                        ("distinct_sources", distinct_signal),
                    ],
                ));
            }
            worst(candidates).map(|v| (start, s, v))
        })
        .collect();
    let (start, served, verdict) = flagged
        .iter()
        .max_by(|a, b| a.2.ratio.total_cmp(&b.2.ratio).then(b.0.cmp(&a.0)))?
        .clone();
    let Verdict {
        rule,
        ratio,
        signals,
    } = verdict;
    let rate = served_rate(&served);
    let port = evidence.ports.first().map(|h| h.key);
    let skipdata = skipdata_in(summary, flagged.iter().map(|f| f.0));
    let (reason, not_a_busy_client) = explain::target(rule, &served, &rate, distinct, rules);
    Some(TargetFinding {
        target: address,
        port,
        rule,
        severity: severity(ratio, rules),
        window_start: start,
        rate,
        packets: served.packets,
        bytes: served.bytes,
        distinct_sources: Bound::at_least(distinct),
        top_sources: top_sources
            .iter()
            .take(TOP_EVIDENCE)
            .map(|h| SourceCount {
                address: h.key,
                flows: h.flows,
                weight: h.weight - h.error,
            })
            .collect(),
        flagged_sources: flagged_against(floods, address),
        signals,
        reason,
        not_a_busy_client,
        windows_flagged: flagged.len(),
        flagged: flagged
            .iter()
            .map(|(start, s, _)| FlaggedMinute {
                start: *start,
                flows: u64::from(s.flows),
                packets: s.packets,
                bytes: s.bytes,
            })
            .collect(),
        first_start: flagged.first().map_or(start, |f| f.0),
        last_end: flagged.last().map_or(start, |f| f.0) + WINDOW_SECS,
        skipdata_records: skipdata,
    })
}

/// Per minute, what flooding sources already reported sent to one target.
#[derive(Debug, Clone, Copy, Default)]
struct Explained {
    half_open: f64,
    udp: f64,
    icmp: f64,
}

fn explained_by_findings(
    summary: &Summary,
    floods: &[Finding],
    target: IpAddr,
) -> BTreeMap<i64, Explained> {
    let mut by_start: BTreeMap<i64, Explained> = BTreeMap::new();
    for f in floods {
        let Some(t) = f.target.filter(|t| t.address == target) else {
            continue;
        };
        let Some(part) = summary.sources.get(&f.source) else {
            continue;
        };
        for (start, m) in part.windows() {
            let e = by_start.entry(start).or_default();
            e.half_open += f64::from(m.half_open) * t.share;
            e.udp += m.udp.packets as f64 * t.share;
            e.icmp += m.icmp.packets as f64 * t.share;
        }
    }
    by_start
}

/// One incident per target that two or more flooding sources hit (and no many-source finding
/// already covers).
fn multi_source(floods: &[Finding], targets: &[TargetFinding]) -> Vec<TargetFinding> {
    let mut by_target: BTreeMap<IpAddr, Vec<&Finding>> = BTreeMap::new();
    for f in floods {
        if let Some(t) = f.target {
            by_target.entry(t.address).or_default().push(f);
        }
    }
    by_target
        .into_iter()
        .filter(|(target, fs)| fs.len() >= 2 && !targets.iter().any(|t| t.target == *target))
        .map(|(target, fs)| {
            let worst = fs
                .iter()
                .max_by_key(|f| (f.packets, std::cmp::Reverse(f.source)))
                .expect("two or more");
            let flows: u64 = fs.iter().map(|f| f.flows).sum();
            let packets: u64 = fs.iter().map(|f| f.packets).sum();
            let bytes: u64 = fs.iter().map(|f| f.bytes).sum();
            let severity = fs.iter().map(|f| f.severity).max().expect("two or more");
            let (reason, not_a_busy_client) = explain::multi_source(fs.len(), worst.rule, target);
            TargetFinding {
                target,
                port: worst.target.map(|t| t.port).filter(|&p| p > 0),
                rule: Rule::MultiSourceFlood,
                severity,
                window_start: worst.window_start,
                rate: Rate {
                    flows_per_minute: flows,
                    connections_per_minute: fs.iter().map(|f| f.rate.connections_per_minute).sum(),
                    half_open_per_minute: fs.iter().map(|f| f.rate.half_open_per_minute).sum(),
                    packets_per_second: packets as f64 / WINDOW_SECS as f64,
                    bits_per_second: bytes as f64 * 8.0 / WINDOW_SECS as f64,
                },
                packets,
                bytes,
                distinct_sources: Bound::at_least(fs.len() as u64),
                top_sources: fs
                    .iter()
                    .filter_map(|f| match f.source {
                        Source::Addr(address) => Some(SourceCount {
                            address,
                            flows: f.flows,
                            weight: f.packets + f.flows,
                        }),
                        Source::Net64(_) => None,
                    })
                    .take(TOP_EVIDENCE)
                    .collect(),
                flagged_sources: fs.iter().map(|f| f.source).collect(),
                signals: BTreeMap::from([(
                    "flooding_sources".to_owned(),
                    Signal::at_least(fs.len() as f64, 2.0),
                )]),
                reason,
                not_a_busy_client,
                windows_flagged: fs.iter().map(|f| f.windows_flagged).max().unwrap_or(1),
                flagged: {
                    let mut by_start: BTreeMap<i64, FlaggedMinute> = BTreeMap::new();
                    for m in fs.iter().flat_map(|f| &f.flagged) {
                        let e = by_start.entry(m.start).or_insert(FlaggedMinute {
                            start: m.start,
                            flows: 0,
                            packets: 0,
                            bytes: 0,
                        });
                        e.flows += m.flows;
                        e.packets += m.packets;
                        e.bytes += m.bytes;
                    }
                    by_start.into_values().collect()
                },
                first_start: fs
                    .iter()
                    .map(|f| f.first_start)
                    .min()
                    .unwrap_or(worst.window_start),
                last_end: fs
                    .iter()
                    .map(|f| f.last_end)
                    .max()
                    .unwrap_or(worst.window_start),
                skipdata_records: fs.iter().map(|f| f.skipdata_records).max().unwrap_or(0),
            }
        })
        .collect()
}

fn flagged_against(floods: &[Finding], target: IpAddr) -> Vec<Source> {
    floods
        .iter()
        .filter(|f| f.target.is_some_and(|t| t.address == target))
        .map(|f| f.source)
        .collect()
}

fn severity(ratio: f64, rules: &FloodRules) -> Severity {
    if ratio >= rules.high_severity_factor as f64 {
        Severity::High
    } else {
        Severity::Medium
    }
}

fn rate_of(m: &Minute) -> Rate {
    let t = m.traffic();
    Rate {
        flows_per_minute: u64::from(m.flows),
        connections_per_minute: u64::from(m.connections),
        half_open_per_minute: u64::from(m.half_open),
        packets_per_second: t.packets as f64 / WINDOW_SECS as f64,
        bits_per_second: t.bytes as f64 * 8.0 / WINDOW_SECS as f64,
    }
}

fn served_rate(s: &Served) -> Rate {
    Rate {
        flows_per_minute: u64::from(s.flows),
        connections_per_minute: u64::from(s.connections),
        half_open_per_minute: u64::from(s.half_open),
        packets_per_second: s.packets as f64 / WINDOW_SECS as f64,
        bits_per_second: s.bytes as f64 * 8.0 / WINDOW_SECS as f64,
    }
}

fn skipdata_in(summary: &Summary, starts: impl Iterator<Item = i64>) -> u64 {
    starts
        .map(|s| summary.skipdata.get(&s).copied().unwrap_or(0))
        .sum()
}

/// The ports a source sent the most flows to.
fn top_ports(e: &SourceEvidence) -> Vec<PortCount> {
    e.ports
        .iter()
        .take(TOP_EVIDENCE)
        .map(|h| PortCount {
            port: h.key,
            flows: h.flows,
        })
        .collect()
}
