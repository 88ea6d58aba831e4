//! The two sentences of every finding: what fired, and why it is not a busy client.

use std::net::IpAddr;

use super::finding::{Rate, TargetShare};
use super::rules::{FloodRules, Rule};
use crate::human::thousands;
use crate::minute::{Minute, Served};

fn percent(share: f64) -> String {
    format!("{:.0}%", 100.0 * share)
}

fn service(t: Option<&TargetShare>) -> String {
    match t {
        Some(t) if t.port > 0 => format!("{}:{}", t.address, t.port),
        Some(t) => t.address.to_string(),
        None => "one target".into(),
    }
}

fn share_of(t: Option<&TargetShare>) -> String {
    t.map_or_else(String::new, |t| {
        format!(
            ", {} of its traffic to {}",
            percent(t.share),
            service(Some(t))
        )
    })
}

/// What fired and why it is not a busy client, for a source.
pub(crate) fn source(
    rule: Rule,
    m: &Minute,
    rate: &Rate,
    target: Option<&TargetShare>,
    rules: &FloodRules,
) -> (String, String) {
    let connections = u64::from(m.connections);
    let half_open = u64::from(m.half_open);
    match rule {
        Rule::SynFlood | Rule::PortScan => (
            format!(
                "{} TCP connection attempts in one minute never completed their handshake (threshold {}), {} of its {} attempts{}",
                thousands(half_open),
                thousands(rules.half_open_per_minute),
                percent(half_open as f64 / connections.max(1) as f64),
                thousands(connections),
                share_of(target),
            ),
            if rule == Rule::PortScan {
                "a client connects to the ports of a service it uses; this one knocks on many ports and completes almost nothing".into()
            } else {
                "a busy client's connections complete; these are SYNs that are never followed up (spoofed, or abandoned on purpose with RST)".into()
            },
        ),
        Rule::ConnectionFlood => (
            format!(
                "{} completed TCP connections in one minute (threshold {}){}",
                thousands(connections - half_open),
                thousands(rules.connections_per_minute),
                share_of(target),
            ),
            format!(
                "a busy client reuses connections (keep-alive, pools); opening a new one every {:.0} ms to one service for a whole minute is a flood",
                60_000.0 / (connections - half_open).max(1) as f64
            ),
        ),
        Rule::RequestFlood => (
            format!(
                "{} TCP request packets in one minute ({:.0}/s, threshold {}) over {} flows, averaging {:.0} bytes{}",
                thousands(m.tcp.packets),
                rate.packets_per_second,
                thousands(rules.request_packets_per_minute),
                thousands(u64::from(m.flows)),
                m.tcp.bytes as f64 / m.tcp.packets.max(1) as f64,
                share_of(target),
            ),
            "request-sized packets (not the bare ACKs of a download, not the full packets of an upload) at a rate no single client sends to one service".into(),
        ),
        Rule::UdpFlood => (
            format!(
                "{} UDP packets in one minute ({:.0}/s, {:.1} Mbit/s, threshold {}), {} answered{}",
                thousands(m.udp.packets),
                m.udp.packets as f64 / 60.0,
                m.udp.bytes as f64 * 8.0 / 60.0 / 1e6,
                thousands(rules.udp_packets_per_minute),
                percent(m.udp_answered as f64 / m.udp.packets.max(1) as f64),
                share_of(target),
            ),
            "UDP clients hold a conversation (queries answered, tunnels and streams both ways); this traffic goes one way".into(),
        ),
        Rule::IcmpFlood => (
            format!(
                "{} ICMP packets in one minute ({:.0}/s, threshold {}){}",
                thousands(m.icmp.packets),
                m.icmp.packets as f64 / 60.0,
                thousands(rules.icmp_packets_per_minute),
                share_of(target),
            ),
            "monitoring pings a host about once a second; this is a flood ping".into(),
        ),
        _ => (rule.meaning().into(), String::new()),
    }
}

/// What fired and why it is not a popular server, for a target.
pub(crate) fn target(
    rule: Rule,
    s: &Served,
    rate: &Rate,
    distinct: u64,
    rules: &FloodRules,
) -> (String, String) {
    let why = "a popular server's clients complete their connections and are answered; this traffic comes from many sources, none of them flooding alone, and is not".to_string();
    let what = match rule {
        Rule::DistributedSynFlood => format!(
            "{} half-open TCP connection attempts in one minute (threshold {}) of {} attempts",
            thousands(u64::from(s.half_open)),
            thousands(rules.target_half_open_per_minute),
            thousands(u64::from(s.connections)),
        ),
        Rule::DistributedUdpFlood => format!(
            "{} one-way UDP packets in one minute ({:.0}/s)",
            thousands(s.udp_packets),
            s.udp_packets as f64 / 60.0,
        ),
        Rule::DistributedIcmpFlood => format!(
            "{} ICMP packets in one minute ({:.0}/s)",
            thousands(s.icmp_packets),
            rate.packets_per_second,
        ),
        _ => rule.meaning().into(),
    };
    (
        format!("{what} from about {} sources", thousands(distinct)),
        why,
    )
}

/// The sentences of a target hit by several flooding sources.
pub(crate) fn multi_source(sources: usize, rule: Rule, target: IpAddr) -> (String, String) {
    (
        format!("{sources} sources each flooding {target} (the largest: {rule})"),
        "each source is over a flood threshold on its own; together they are one attack on one host".into(),
    )
}
