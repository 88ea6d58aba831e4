//! The thresholds of the flood verdict and the names of the shapes it finds. README explains
//! each default against public practice (FastNetMon, GuardDuty, Zeek, AWS WAF).

use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Thresholds of the flood verdict, per source (or per target) and minute.
#[derive(Debug, Clone, PartialEq)]
pub struct FloodRules {
    /// TCP connection attempts per minute that never completed their handshake.
    pub half_open_per_minute: u64,
    /// Share of a source's connection attempts that must be half-open for a SYN flood.
    pub half_open_share: f64,
    /// Completed TCP connections per minute to one service.
    pub connections_per_minute: u64,
    /// TCP request packets per minute carrying requests (not bulk data, not bare ACKs) to one
    /// service: a request flood over kept-alive connections.
    pub request_packets_per_minute: u64,
    /// UDP packets per minute that are not a conversation (see [`Rule::UdpFlood`]).
    pub udp_packets_per_minute: u64,
    /// ICMP packets per minute.
    pub icmp_packets_per_minute: u64,
    /// Share of a source's traffic (packets + flows) that must go to one target address.
    pub target_share: f64,
    /// An address that receives at least this share of what it sends is relaying or serving
    /// (a load balancer, a NAT, a server calling its back end), not a client.
    pub relay_share: f64,
    /// Half-open connection attempts per minute against one target from many sources.
    pub target_half_open_per_minute: u64,
    /// Distinct sources needed before traffic against a target counts as many-source.
    pub min_sources: u64,
    /// How many times over its threshold a finding becomes HIGH severity.
    pub high_severity_factor: u64,
    /// Also judge the log's own hosts for connection and request floods. Off by default:
    /// services inside a VPC legitimately call each other at rates no outside client reaches
    /// (an app server's thousands of queries a second to its database).
    pub internal_clients: bool,
    /// Sources never reported.
    pub allowlist: Vec<IpNet>,
}

impl Default for FloodRules {
    fn default() -> FloodRules {
        FloodRules {
            half_open_per_minute: 300,
            half_open_share: 0.5,
            connections_per_minute: 1_000,
            request_packets_per_minute: 30_000,
            udp_packets_per_minute: 60_000,
            icmp_packets_per_minute: 6_000,
            target_share: 0.5,
            relay_share: 0.25,
            target_half_open_per_minute: 3_000,
            min_sources: 10,
            high_severity_factor: 5,
            internal_clients: false,
            allowlist: Vec::new(),
        }
    }
}

/// How urgent a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Over the threshold.
    Medium,
    /// At least [`FloodRules::high_severity_factor`] times over it.
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

/// The shape of a flood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// TCP connection attempts that never complete (SYN, maybe the attacker's own RST).
    SynFlood,
    /// Half-open attempts spread over many ports of one host.
    PortScan,
    /// Completed TCP connections opened faster than any client does.
    ConnectionFlood,
    /// Requests sent at a flood rate over a few kept-alive connections.
    RequestFlood,
    /// UDP packets that are not a conversation.
    UdpFlood,
    /// ICMP packets (ping flood).
    IcmpFlood,
    /// Half-open attempts against one target from many sources (spoofed or a botnet).
    DistributedSynFlood,
    /// One-way UDP against one target from many sources.
    DistributedUdpFlood,
    /// ICMP against one target from many sources.
    DistributedIcmpFlood,
    /// Several sources each flooding the same target.
    MultiSourceFlood,
}

impl Rule {
    /// The rule's name in alerts, logs and JSON (`syn-flood`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::SynFlood => "syn-flood",
            Rule::PortScan => "port-scan",
            Rule::ConnectionFlood => "connection-flood",
            Rule::RequestFlood => "request-flood",
            Rule::UdpFlood => "udp-flood",
            Rule::IcmpFlood => "icmp-flood",
            Rule::DistributedSynFlood => "distributed-syn-flood",
            Rule::DistributedUdpFlood => "distributed-udp-flood",
            Rule::DistributedIcmpFlood => "distributed-icmp-flood",
            Rule::MultiSourceFlood => "multi-source-flood",
        }
    }

    /// Every rule, for help texts and tests.
    pub const ALL: [Rule; 10] = [
        Rule::SynFlood,
        Rule::PortScan,
        Rule::ConnectionFlood,
        Rule::RequestFlood,
        Rule::UdpFlood,
        Rule::IcmpFlood,
        Rule::DistributedSynFlood,
        Rule::DistributedUdpFlood,
        Rule::DistributedIcmpFlood,
        Rule::MultiSourceFlood,
    ];

    /// What the rule means, in one phrase for people.
    pub fn meaning(self) -> &'static str {
        match self {
            Rule::SynFlood => "TCP connection attempts that never complete their handshake",
            Rule::PortScan => "half-open connection attempts across many ports of one host",
            Rule::ConnectionFlood => {
                "complete TCP connections opened far faster than any client opens them"
            }
            Rule::RequestFlood => "requests at a flood rate over a few kept-alive connections",
            Rule::UdpFlood => "UDP packets that are not a conversation",
            Rule::IcmpFlood => "a ping flood",
            Rule::DistributedSynFlood => {
                "half-open connection attempts against one host from many sources (spoofed, or a botnet)"
            }
            Rule::DistributedUdpFlood => "one-way UDP against one host from many sources",
            Rule::DistributedIcmpFlood => "ICMP against one host from many sources",
            Rule::MultiSourceFlood => "several sources each flooding the same host",
        }
    }

    /// Whether it is about a target under attack from many sources rather than one source.
    pub fn is_about_target(self) -> bool {
        matches!(
            self,
            Rule::DistributedSynFlood
                | Rule::DistributedUdpFlood
                | Rule::DistributedIcmpFlood
                | Rule::MultiSourceFlood
        )
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A CIDR (or bare address) that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad CIDR {0:?}: expected e.g. 10.0.0.0/8, 2001:db8::/32 or a single address")]
pub struct CidrError(String);

/// Parses an allowlist entry: a CIDR, or a single address (a /32 or /128).
pub fn parse_cidr(text: &str) -> Result<IpNet, CidrError> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| CidrError(text.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_and_bare_addresses_parse_and_junk_does_not() {
        assert_eq!(parse_cidr("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(
            parse_cidr(" 203.0.113.7 ").unwrap().to_string(),
            "203.0.113.7/32"
        );
        assert_eq!(
            parse_cidr("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        for bad in ["10.0.0.0/33", "host", "", "10.0.0/8"] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rule_names_are_the_serialised_names() {
        for rule in Rule::ALL {
            assert_eq!(
                serde_json::to_value(rule).unwrap(),
                serde_json::Value::String(rule.as_str().into())
            );
        }
    }
}
