//! Flow logs shaped like a real VPC's, with planted attacks and the findings they must raise.
//!
//! Where [`crate::write_object`] draws records one by one, this model draws **connections**
//! between the hosts of a VPC ([`vpc`]) and the internet, and logs each the way VPC Flow Logs
//! with traffic type ALL do: once per direction at every interface it crosses (four records
//! inside the VPC, six through a NAT gateway or a load balancer, with `pkt-srcaddr` and
//! `pkt-dstaddr` naming the real ends), per capture window of each interface (60 s on Nitro
//! instances, 600 s elsewhere, a long connection spanning several), `tcp-flags` OR-ed over the
//! window, packets of one 5-tuple in a window merged into one record. The background
//! ([`background`]) is busy and benign; each [`Attack`] adds a flood and an [`Expected`]
//! finding.

mod background;
mod capture;
mod vpc;

use std::io::{self, Write};
use std::net::{IpAddr, Ipv6Addr};

pub use background::Actor;
use background::{Span, arrivals, ephemeral, tcp};
use capture::{Capture, Conn, End, Route, Tcp};
use vpc::Vpc;

use crate::rng::Rng;
use crate::write::{Addr, Rec, Status, Writer};

/// A host of the model that attacks aim at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Victim {
    /// The first web server (10.0.1.10, Nitro: 60 s capture windows).
    Web,
    /// The second web server (10.0.1.11, 600 s capture windows).
    Web2,
    /// The first web server's IPv6 address.
    WebV6,
    /// The API server (10.0.2.20, port 8443).
    Api,
    /// The network load balancer (node 10.0.0.50, port 443), in front of three targets.
    Nlb,
}

impl Victim {
    /// The address findings name for it (the NLB node for the load balancer).
    pub fn address(self) -> IpAddr {
        let vpc = Vpc::new(0);
        let (addr, _) = self.endpoint(&vpc, 0);
        addr.ip()
    }

    /// The address and port a request goes to.
    fn endpoint(self, vpc: &Vpc, port: u16) -> (Addr, u16) {
        match self {
            Victim::Web => (vpc.v4(vpc.web[0]), if port == 0 { 443 } else { port }),
            Victim::Web2 => (vpc.v4(vpc.web[1]), if port == 0 { 443 } else { port }),
            Victim::WebV6 => (vpc.v6(vpc.web[0]), if port == 0 { 443 } else { port }),
            Victim::Api => (vpc.v4(vpc.api), if port == 0 { 8443 } else { port }),
            Victim::Nlb => (vpc.v4(vpc.nlb[0]), 443),
        }
    }

    /// How a connection from the internet reaches it (`k` spreads over the NLB's targets).
    fn route(self, vpc: &Vpc, k: u64) -> (Route, Addr) {
        match self {
            Victim::Web | Victim::WebV6 => (Route::Inbound { server: vpc.web[0] }, Addr::V4(0)),
            Victim::Web2 => (Route::Inbound { server: vpc.web[1] }, Addr::V4(0)),
            Victim::Api => (Route::Inbound { server: vpc.api }, Addr::V4(0)),
            Victim::Nlb => {
                let target = vpc.targets[(k % 3) as usize];
                let node = vpc.nlb[0];
                (
                    Route::Nlb {
                        nlb: node,
                        via: vpc.v4(node),
                        target,
                        target_port: 8080,
                    },
                    vpc.v4(target),
                )
            }
        }
    }
}

/// A planted attack.
#[derive(Debug, Clone, PartialEq)]
pub enum Attack {
    /// Complete HTTP connections (connect, request, response, close) at `per_minute`.
    ConnectionFlood {
        /// The attacker.
        source: IpAddr,
        /// Connections a minute.
        per_minute: u32,
        /// Its target.
        victim: Victim,
    },
    /// Requests over a few kept-alive connections.
    RequestFlood {
        /// The attacker.
        source: IpAddr,
        /// Requests a second, all connections together.
        per_second: u32,
        /// Kept-alive connections.
        connections: u16,
        /// Its target.
        victim: Victim,
    },
    /// UDP packets that nothing answers.
    UdpFlood {
        /// The attacker.
        source: IpAddr,
        /// Packets a minute.
        packets_per_minute: u64,
        /// All in one 5-tuple (one record per capture window) rather than from random ports.
        one_tuple: bool,
        /// Its target.
        victim: Victim,
    },
    /// Echo requests, answered by the victim.
    IcmpFlood {
        /// The attacker.
        source: IpAddr,
        /// Packets a minute.
        packets_per_minute: u64,
        /// Its target.
        victim: Victim,
    },
    /// SYNs from random ports, answered by SYN-ACKs and never followed up (or, with `rst`,
    /// answered by the attacker's RST: `tcp-flags` 6).
    SynFlood {
        /// The attacker.
        source: IpAddr,
        /// SYNs a minute.
        per_minute: u32,
        /// The attacker resets each half-open connection.
        rst: bool,
        /// Its target.
        victim: Victim,
    },
    /// SYNs from a new address of one IPv6 /64 each time.
    Rotation {
        /// The /64 (its network address).
        network: Ipv6Addr,
        /// SYNs (and addresses) a minute.
        per_minute: u32,
        /// Its target (the IPv6 web address).
        victim: Victim,
    },
    /// Single SYNs from spoofed random IPv4 sources, all in the attack's first minute.
    SpoofedStorm {
        /// Spoofed sources.
        sources: u32,
        /// Its target.
        victim: Victim,
    },
    /// Many sources, each SYN flooding below the per-source threshold.
    Botnet {
        /// Sources.
        sources: u32,
        /// SYNs a minute from each.
        per_source: u32,
        /// Its target.
        victim: Victim,
    },
}

impl Attack {
    /// The attack names [`Attack::named`] knows, each with what it plants.
    pub const NAMES: [(&'static str, &'static str); 11] = [
        (
            "connection-flood",
            "5,000 completed HTTP connections a minute to the web server",
        ),
        (
            "request-flood",
            "2,000 requests a second over 8 kept-alive connections",
        ),
        (
            "udp-flood",
            "120,000 UDP packets a minute from random ports",
        ),
        (
            "udp-tuple-flood",
            "300,000 UDP packets a minute in one 5-tuple",
        ),
        ("icmp-flood", "30,000 pings a minute, answered"),
        ("syn-flood", "3,000 SYNs a minute, never completed"),
        (
            "syn-rst-flood",
            "3,000 SYNs a minute, each reset by the attacker (tcp-flags 6)",
        ),
        (
            "nlb-syn-flood",
            "3,000 SYNs a minute through the load balancer",
        ),
        (
            "ipv6-rotation",
            "3,000 SYNs a minute, each from a new address of one /64",
        ),
        (
            "spoofed-storm",
            "200,000 single SYNs from spoofed sources in one minute",
        ),
        ("botnet", "50 sources, 200 SYNs a minute each"),
    ];

    /// A named attack (see [`Attack::NAMES`]) from `source` (a default documentation address
    /// when `None`; ignored by the many-source attacks).
    pub fn named(name: &str, source: Option<IpAddr>) -> Option<Attack> {
        let from = |default: &str| source.unwrap_or_else(|| default.parse().expect("an address"));
        Some(match name {
            "connection-flood" => Attack::ConnectionFlood {
                source: from("203.0.113.7"),
                per_minute: 5_000,
                victim: Victim::Web,
            },
            "request-flood" => Attack::RequestFlood {
                source: from("203.0.113.8"),
                per_second: 2_000,
                connections: 8,
                victim: Victim::Web2,
            },
            "udp-flood" => Attack::UdpFlood {
                source: from("203.0.113.9"),
                packets_per_minute: 120_000,
                one_tuple: false,
                victim: Victim::Web,
            },
            "udp-tuple-flood" => Attack::UdpFlood {
                source: from("198.51.100.23"),
                packets_per_minute: 300_000,
                one_tuple: true,
                victim: Victim::Web2,
            },
            "icmp-flood" => Attack::IcmpFlood {
                source: from("203.0.113.10"),
                packets_per_minute: 30_000,
                victim: Victim::Web,
            },
            "syn-flood" | "syn-rst-flood" | "nlb-syn-flood" => Attack::SynFlood {
                source: from(match name {
                    "syn-flood" => "203.0.113.11",
                    "syn-rst-flood" => "203.0.113.12",
                    _ => "203.0.113.13",
                }),
                per_minute: 3_000,
                rst: name == "syn-rst-flood",
                victim: if name == "nlb-syn-flood" {
                    Victim::Nlb
                } else {
                    Victim::Web
                },
            },
            "ipv6-rotation" => Attack::Rotation {
                network: "2001:db8:bad:1::".parse().expect("an address"),
                per_minute: 3_000,
                victim: Victim::WebV6,
            },
            "spoofed-storm" => Attack::SpoofedStorm {
                sources: 200_000,
                victim: Victim::Web,
            },
            "botnet" => Attack::Botnet {
                sources: 50,
                per_source: 200,
                victim: Victim::Api,
            },
            _ => return None,
        })
    }
}

/// When an attack runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Planted {
    /// The attack.
    pub attack: Attack,
    /// First minute (from the scenario's start).
    pub from_minute: u32,
    /// Minutes it lasts (to the end of the scenario when `None`).
    pub minutes: Option<u32>,
}

impl From<Attack> for Planted {
    fn from(attack: Attack) -> Planted {
        Planted {
            attack,
            from_minute: 0,
            minutes: None,
        }
    }
}

/// Who a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    /// A source: an address, or an IPv6 /64 written `network/64`.
    Source(String),
    /// A target under attack from many sources.
    Target(IpAddr),
}

/// A finding the planted attacks must raise: who, and the rule's name (`syn-flood`, ...).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Expected {
    /// Who.
    pub subject: Subject,
    /// The rule's name.
    pub rule: &'static str,
}

/// What a scenario wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrafficTruth {
    /// Record lines written (the header excluded).
    pub records: u64,
    /// The findings its attacks must raise (and no other).
    pub expected: Vec<Expected>,
}

/// A VPC's traffic over some minutes, with attacks.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Seed; the same scenario always writes the same bytes.
    pub seed: u64,
    /// Unix seconds of the first minute (a multiple of 60).
    pub start: i64,
    /// Minutes of traffic.
    pub minutes: u32,
    /// Format columns, in order.
    pub fields: Vec<String>,
    /// The benign actors of the background.
    pub background: Vec<Actor>,
    /// How busy they are: their rates and volumes times this (1 = as documented).
    pub busy: f64,
    /// The attacks.
    pub attacks: Vec<Planted>,
}

impl Scenario {
    /// Five minutes of background in `fields`, from `start`, no attacks.
    pub fn new(fields: &[&str], start: i64) -> Scenario {
        Scenario {
            seed: 7,
            start: start - start.rem_euclid(60),
            minutes: 5,
            fields: fields.iter().map(|f| f.to_string()).collect(),
            background: Actor::ALL.to_vec(),
            busy: 1.0,
            attacks: Vec::new(),
        }
    }

    /// Only these background actors, `busy` times as busy.
    pub fn only(mut self, actors: &[Actor], busy: f64) -> Scenario {
        self.background = actors.to_vec();
        self.busy = busy;
        self
    }

    /// Adds an attack.
    pub fn with(mut self, attack: impl Into<Planted>) -> Scenario {
        self.attacks.push(attack.into());
        self
    }

    /// Writes the object (header line, then records) and returns its truth.
    pub fn write(&self, mut out: impl Write) -> io::Result<TrafficTruth> {
        let vpc = Vpc::new(self.seed);
        let span = Span {
            start: self.start,
            minutes: self.minutes,
        };
        let mut capture = Capture::default();
        background::add(
            &vpc,
            self.seed,
            span,
            &self.background,
            self.busy,
            &mut capture,
        );
        let enis = vpc.enis();
        let mut storms = Vec::new();
        for (n, planted) in self.attacks.iter().enumerate() {
            let from = planted.from_minute.min(self.minutes);
            let minutes = planted
                .minutes
                .unwrap_or(self.minutes - from)
                .min(self.minutes - from);
            let active = Span {
                start: span.minute(from),
                minutes,
            };
            let mut rng = Rng::new(self.seed ^ 0xA77A_C000 ^ (n as u64) << 32);
            if let Attack::SpoofedStorm { sources, victim } = planted.attack {
                storms.push((sources, victim, active, rng));
                continue;
            }
            for conn in attack_connections(&vpc, &planted.attack, active, &mut rng) {
                capture.add(&conn, &enis);
            }
        }
        let writer = Writer::new(&self.fields, self.seed);
        let mut buf = Vec::with_capacity(1 << 20);
        writer.write_header(&mut buf);
        let mut records = 0u64;
        for rec in capture.into_records() {
            writer.write_record(&mut buf, &rec);
            records += 1;
            if buf.len() >= 1 << 20 {
                out.write_all(&buf)?;
                buf.clear();
            }
        }
        for (sources, victim, active, mut rng) in storms {
            let (dst, port) = victim.endpoint(&vpc, 0);
            let eni = match victim.route(&vpc, 0).0 {
                Route::Inbound { server } => enis[server].host,
                _ => enis[vpc.nlb[0]].host,
            };
            for i in 0..u64::from(sources) {
                let t = active.start + (i * 60 / u64::from(sources).max(1)) as i64;
                let src = Addr::V4(spoofed(&mut rng));
                writer.write_record(
                    &mut buf,
                    &syn_record(eni, src, dst, ephemeral(&mut rng), port, t, i),
                );
                records += 1;
                if buf.len() >= 1 << 20 {
                    out.write_all(&buf)?;
                    buf.clear();
                }
            }
        }
        out.write_all(&buf)?;
        out.flush()?;
        Ok(TrafficTruth {
            records,
            expected: self.expected(),
        })
    }

    /// Writes the object gzip-compressed at `level` (0–9), as S3 delivers it.
    pub fn write_gzip(&self, level: u32, out: impl Write) -> io::Result<TrafficTruth> {
        let mut encoder =
            flate2::write::GzEncoder::new(out, flate2::Compression::new(level.min(9)));
        let truth = self.write(&mut encoder)?;
        encoder.finish()?.flush()?;
        Ok(truth)
    }

    /// The findings the attacks must raise.
    pub fn expected(&self) -> Vec<Expected> {
        let source = |ip: &IpAddr, rule| Expected {
            subject: Subject::Source(ip.to_string()),
            rule,
        };
        let mut expected: Vec<Expected> = self
            .attacks
            .iter()
            .map(|p| match &p.attack {
                Attack::ConnectionFlood { source: s, .. } => source(s, "connection-flood"),
                Attack::RequestFlood { source: s, .. } => source(s, "request-flood"),
                Attack::UdpFlood { source: s, .. } => source(s, "udp-flood"),
                Attack::IcmpFlood { source: s, .. } => source(s, "icmp-flood"),
                Attack::SynFlood { source: s, .. } => source(s, "syn-flood"),
                Attack::Rotation { network, .. } => Expected {
                    subject: Subject::Source(format!("{network}/64")),
                    rule: "syn-flood",
                },
                Attack::SpoofedStorm { victim, .. } | Attack::Botnet { victim, .. } => Expected {
                    subject: Subject::Target(victim.address()),
                    rule: "distributed-syn-flood",
                },
            })
            .collect();
        // Two or more single-source floods on one host are also one incident of that host.
        let mut victims: Vec<IpAddr> = self
            .attacks
            .iter()
            .filter_map(|p| match &p.attack {
                Attack::ConnectionFlood { victim, .. }
                | Attack::RequestFlood { victim, .. }
                | Attack::UdpFlood { victim, .. }
                | Attack::IcmpFlood { victim, .. }
                | Attack::SynFlood { victim, .. } => Some(victim.address()),
                _ => None,
            })
            .collect();
        victims.sort();
        for pair in victims.windows(2) {
            let target = Subject::Target(pair[0]);
            if pair[0] == pair[1] && !expected.iter().any(|e| e.subject == target) {
                expected.push(Expected {
                    subject: target,
                    rule: "multi-source-flood",
                });
            }
        }
        expected.sort();
        expected.dedup();
        expected
    }
}

/// A random public IPv4 address (not private, not multicast, not reserved).
fn spoofed(rng: &mut Rng) -> u32 {
    loop {
        let a = rng.next_u64() as u32;
        let first = a >> 24;
        if !matches!(
            first,
            0 | 10 | 100 | 127 | 169 | 172 | 192 | 198 | 203 | 224..=255
        ) {
            return a;
        }
    }
}

/// One lone SYN at the victim's interface.
fn syn_record(
    eni: crate::write::Host,
    src: Addr,
    dst: Addr,
    sport: u16,
    dport: u16,
    t: i64,
    i: u64,
) -> Rec {
    Rec {
        index: i,
        status: Status::Ok,
        owner: 0,
        eni,
        src,
        dst,
        pkt_src: src,
        pkt_dst: dst,
        srcport: sport,
        dstport: dport,
        proto: 6,
        packets: 1,
        bytes: 60,
        start: t,
        end: t,
        reject: false,
        flags: 2,
        ingress: true,
        path: 0,
        bpa: false,
        encryption: 0,
        next_hop: None,
    }
}

fn addr(ip: IpAddr) -> Addr {
    match ip {
        IpAddr::V4(a) => Addr::V4(a.into()),
        IpAddr::V6(a) => Addr::V6(a.into()),
    }
}

/// The connections of one attack over `span`.
fn attack_connections(vpc: &Vpc, attack: &Attack, span: Span, rng: &mut Rng) -> Vec<Conn> {
    let mut out = Vec::new();
    let mut k = 0u64;
    // Flooding tools step through source ports, so no 5-tuple repeats within a capture window.
    let mut next_port = 1024 + rng.below(64_000) as u32;
    let mut port = move |_: &mut Rng| {
        next_port = if next_port >= 65_535 {
            1024
        } else {
            next_port + 1
        };
        next_port as u16
    };
    let mut to =
        |victim: Victim, src: Addr, sport: u16, t: i64, c2s: (u64, u64), s2c: (u64, u64)| {
            let (dst, port) = victim.endpoint(vpc, 0);
            let (route, target) = victim.route(vpc, k);
            k += 1;
            let server = match route {
                Route::Nlb { .. } => End { addr: target, port },
                _ => End { addr: dst, port },
            };
            tcp(
                End {
                    addr: src,
                    port: sport,
                },
                server,
                route,
                t,
                c2s,
                s2c,
            )
        };
    match *attack {
        Attack::ConnectionFlood {
            source,
            per_minute,
            victim,
        } => {
            for_each_minute(span, per_minute, |t| {
                let sport = port(rng);
                out.push(to(victim, addr(source), sport, t, (5, 420), (4, 1_800)));
            });
        }
        Attack::RequestFlood {
            source,
            per_second,
            connections,
            victim,
        } => {
            let requests =
                u64::from(per_second) * span.secs() as u64 / u64::from(connections.max(1));
            for c in 0..connections {
                let mut conn = to(
                    victim,
                    addr(source),
                    41_000 + c,
                    span.start,
                    (requests * 2, requests * (350 + 52)),
                    (requests * 2, requests * (1_300 + 52)),
                );
                conn.secs = span.secs() - 1;
                out.push(conn);
            }
        }
        Attack::UdpFlood {
            source,
            packets_per_minute,
            one_tuple,
            victim,
        } => {
            if one_tuple {
                let mut conn = to(
                    victim,
                    addr(source),
                    12_345,
                    span.start,
                    (
                        packets_per_minute * u64::from(span.minutes),
                        packets_per_minute * u64::from(span.minutes) * 1_024,
                    ),
                    (0, 0),
                );
                conn.proto = 17;
                conn.server.port = 27_015;
                conn.secs = span.secs() - 1;
                out.push(conn);
            } else {
                for_each_minute(span, (packets_per_minute / 2) as u32, |t| {
                    let sport = port(rng);
                    let mut conn = to(victim, addr(source), sport, t, (2, 1_024), (0, 0));
                    conn.proto = 17;
                    conn.server.port = 53;
                    out.push(conn);
                });
            }
        }
        Attack::IcmpFlood {
            source,
            packets_per_minute,
            victim,
        } => {
            let packets = packets_per_minute * u64::from(span.minutes);
            let mut conn = to(
                victim,
                addr(source),
                0,
                span.start,
                (packets, packets * 84),
                (packets, packets * 84),
            );
            conn.proto = 1;
            conn.server.port = 0;
            conn.secs = span.secs() - 1;
            out.push(conn);
        }
        Attack::SynFlood {
            source,
            per_minute,
            rst,
            victim,
        } => {
            for_each_minute(span, per_minute, |t| {
                let sport = port(rng);
                let (c2s, s2c) = if rst {
                    ((2, 100), (1, 60))
                } else {
                    ((1, 60), (5, 300))
                };
                let mut conn = to(victim, addr(source), sport, t, c2s, s2c);
                conn.tcp = if rst { Tcp::HalfOpenRst } else { Tcp::HalfOpen };
                out.push(conn);
            });
        }
        Attack::Rotation {
            network,
            per_minute,
            victim,
        } => {
            let net = u128::from(network) & !((1u128 << 64) - 1);
            for_each_minute(span, per_minute, |t| {
                let src = Addr::V6(net | u128::from(rng.next_u64()));
                let sport = port(rng);
                let mut conn = to(victim, src, sport, t, (1, 80), (3, 240));
                conn.tcp = Tcp::HalfOpen;
                out.push(conn);
            });
        }
        Attack::Botnet {
            sources,
            per_source,
            victim,
        } => {
            for s in 0..sources {
                let src = Addr::V4(crate::net::remote_v4(3_000_000 + s));
                arrivals(rng, span, f64::from(per_source), |rng, t| {
                    let sport = port(rng);
                    let mut conn = to(victim, src, sport, t, (1, 60), (5, 300));
                    conn.tcp = Tcp::HalfOpen;
                    out.push(conn);
                });
            }
        }
        Attack::SpoofedStorm { .. } => unreachable!("written line by line"),
    }
    out
}

/// `per_minute` evenly spaced instants in each minute of `span`.
fn for_each_minute(span: Span, per_minute: u32, mut each: impl FnMut(i64)) {
    for m in 0..span.minutes {
        for i in 0..u64::from(per_minute) {
            each(span.minute(m) + (i * 60 / u64::from(per_minute).max(1)) as i64);
        }
    }
}
