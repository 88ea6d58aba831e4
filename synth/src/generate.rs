//! Record generation: records drawn one by one from weighted tables (see the crate docs).

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;

use crate::net::{self, SUBNETS};
use crate::rng::{Rng, mix64};
use crate::write::{Addr, Field, Host, Kind, Rec, Status, Writer};
use crate::{Flood, HEAVY_DOWNLOADER, HEAVY_SOURCE, SourceTruth, Spec, Truth};

/// Output is handed on once the buffer holds this many bytes.
pub(crate) const CHUNK: usize = 1 << 20;
/// Capacity that holds a chunk plus the longest line that can end it.
pub(crate) const CHUNK_CAPACITY: usize = CHUNK + (64 << 10);

/// Host key of the heavy downloader's ENI.
const HEAVY_KEY: u32 = u32::MAX;
/// Host key of the ENI a private flood source sends from.
const FLOOD_KEY: u32 = u32::MAX - 1;

/// Columns a "bad number" malformed line corrupts, most preferred first.
const NUMERIC: [Field; 11] = [
    Field::Packets,
    Field::Bytes,
    Field::SrcPort,
    Field::DstPort,
    Field::Protocol,
    Field::Start,
    Field::End,
    Field::Version,
    Field::TcpFlags,
    Field::TrafficPath,
    Field::EncryptionStatus,
];
/// Columns a "bad IP address" malformed line corrupts, most preferred first.
const ADDRESSES: [Field; 4] = [
    Field::SrcAddr,
    Field::DstAddr,
    Field::PktSrcAddr,
    Field::PktDstAddr,
];
const BAD_NUMBERS: [&[u8]; 4] = [b"12x4", b"99999999999999999999999", b"0x1F", b"4.5"];
const BAD_ADDRESSES: [&[u8]; 4] = [b"10.0.300.7", b"not-an-ip", b"2600:1f18::zz", b"10.0.0"];
const EXTRA_TOKENS: [&[u8]; 3] = [b"-", b"extra", b"0"];
const GARBAGE: [&[u8]; 5] = [
    b"\xff\xfe\x00\x01",
    "\u{65e5}\u{672c}\u{8a9e}".as_bytes(),
    b"\xc3\x28\xa0\xa1",
    "\u{20ac}\u{20ac}\u{fffd}".as_bytes(),
    b"\x80\x81\x82",
];

/// TCP flags of records on the initiating side (OR-ed over the capture window, as AWS
/// logs them): SYN+FIN for a short connection, SYN alone for the first window of a long one or
/// an unanswered attempt, FIN or nothing for later windows, RST for an aborted one.
const CLIENT_FLAGS: [(u32, u8); 6] = [(45, 3), (10, 2), (10, 1), (25, 0), (5, 6), (5, 7)];
/// TCP flags of records on the answering side: SYN-ACK (18), with FIN (19) for short
/// connections; FIN or nothing for later windows.
const SERVER_FLAGS: [(u32, u8); 4] = [(45, 19), (25, 18), (15, 1), (15, 0)];
/// Destination ports of outbound requests to the internet.
const EGRESS_PORTS: [(u32, u16); 10] = [
    (55, 443),
    (14, 80),
    (5, 22),
    (5, 8443),
    (4, 5432),
    (4, 3306),
    (3, 6379),
    (4, 8080),
    (3, 9200),
    (3, 27017),
];
/// Destination ports of requests between hosts of the VPC.
const INTRA_PORTS: [(u32, u16); 9] = [
    (25, 443),
    (15, 5432),
    (10, 3306),
    (12, 6379),
    (15, 8080),
    (5, 9200),
    (5, 22),
    (5, 27017),
    (8, 2049),
];
/// Destination ports of inbound requests from the internet (0 = random high port).
const INBOUND_PORTS: [(u32, u16); 10] = [
    (45, 443),
    (15, 80),
    (12, 22),
    (6, 3389),
    (4, 8080),
    (4, 23),
    (3, 445),
    (3, 25),
    (3, 5432),
    (5, 0),
];
/// Source ports of records sent by servers.
const SERVER_PORTS: [(u32, u16); 4] = [(60, 443), (20, 80), (10, 22), (10, 8443)];

/// A normal source address.
#[derive(Debug, Clone, Copy)]
struct Source {
    addr: Addr,
    /// A host of the VPC (else an internet peer).
    local: bool,
    /// Host key (local) or peer index (remote).
    key: u32,
}

/// Whose truth a record counts towards.
#[derive(Debug, Clone, Copy)]
enum Owner {
    Pool(u32),
    Flood,
    Heavy,
}

impl Owner {
    fn tag(self) -> u32 {
        match self {
            Owner::Pool(k) => k,
            Owner::Flood => u32::MAX,
            Owner::Heavy => u32::MAX - 1,
        }
    }

    fn of(tag: u32) -> Owner {
        match tag {
            u32::MAX => Owner::Flood,
            t if t == u32::MAX - 1 => Owner::Heavy,
            k => Owner::Pool(k),
        }
    }
}

/// `floor((i+1)·n/total) − floor(i·n/total)` shifted by `phase`: spreads `n` events
/// evenly over `total` slots.
fn fires(i: u64, n: u64, total: u64, phase: u64) -> u64 {
    let (i, n, total, phase) = (i as u128, n as u128, total as u128, phase as u128);
    (((i + 1) * n + phase) / total - (i * n + phase) / total) as u64
}

/// A share in 0..=1 as parts per million.
fn ppm(share: f64) -> u64 {
    if share.is_nan() {
        return 0;
    }
    (share.clamp(0.0, 1.0) * 1e6).round() as u64
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_private() || a.is_loopback() || a.is_link_local(),
        IpAddr::V6(a) => a.is_unique_local() || a.is_loopback(),
    }
}

struct Generator<'a> {
    spec: &'a Spec,
    writer: Writer,
    numeric_col: usize,
    address_col: usize,
    rng: Rng,
    records: u64,
    span: i64,
    sources: Vec<Source>,
    local_v4: u32,
    local_v6: u32,
    flood: Option<Flood>,
    flood_flows: u64,
    flood_reject_ppm: u64,
    heavy_flows: u64,
    due: Due,
    pool_truth: Vec<SourceTruth>,
    flood_truth: SourceTruth,
    heavy_truth: SourceTruth,
    truth: Truth,
    scratch: Vec<u8>,
}

/// Special records owed but not yet written (slots collide and are deferred).
#[derive(Default)]
struct Due {
    flood: u64,
    flood_done: u64,
    heavy: u64,
    heavy_done: u64,
    nodata: u64,
    skipdata: u64,
}

impl<'a> Generator<'a> {
    fn new(spec: &'a Spec) -> Self {
        let writer = Writer::new(&spec.fields, spec.seed);
        let fields = writer.fields();
        let col_of = |wanted: &[Field]| {
            wanted
                .iter()
                .find_map(|w| fields.iter().position(|f| f == w))
                .unwrap_or(0)
        };
        let numeric_col = col_of(&NUMERIC);
        let address_col = col_of(&ADDRESSES);

        let v6_ppm = ppm(spec.ipv6_share);
        let mut sources = Vec::with_capacity(spec.sources as usize);
        let mut counts = [0u32; 2];
        let (mut local_v4, mut local_v6) = (0u32, 0u32);
        for k in 0..u64::from(spec.sources) {
            let v6 = (k + 1) * v6_ppm / 1_000_000 > k * v6_ppm / 1_000_000;
            let c = &mut counts[usize::from(v6)];
            let (local, key) = (*c % 2 == 0, *c / 2);
            *c += 1;
            let addr = match (v6, local) {
                (false, true) => Addr::V4(net::local_v4(key)),
                (false, false) => Addr::V4(net::remote_v4(key)),
                (true, true) => Addr::V6(net::local_v6(key)),
                (true, false) => Addr::V6(net::remote_v6(key)),
            };
            if local {
                if v6 {
                    local_v6 += 1;
                } else {
                    local_v4 += 1;
                }
            }
            sources.push(Source { addr, local, key });
        }

        let records = spec.records;
        let flood_flows = spec.flood.map_or(0, |f| f.flows.min(records));
        let span = spec.span_secs.max(1);
        let heavy_flows = if spec.heavy_downloader {
            // About 10 flows per minute, but never more than 5% of the other records.
            let per_minute = (span.saturating_mul(10) / 60).max(1) as u64;
            per_minute.min(
                ((records - flood_flows) / 20)
                    .max(1)
                    .min(records - flood_flows),
            )
        } else {
            0
        };

        Generator {
            spec,
            numeric_col,
            address_col,
            rng: Rng::new(spec.seed),
            records,
            span,
            pool_truth: vec![SourceTruth::default(); sources.len()],
            sources,
            local_v4: local_v4.max(1),
            local_v6: local_v6.max(1),
            flood: spec.flood,
            flood_flows,
            flood_reject_ppm: spec.flood.map_or(0, |f| ppm(f.reject_share)),
            heavy_flows,
            due: Due::default(),
            flood_truth: SourceTruth::default(),
            heavy_truth: SourceTruth::default(),
            truth: Truth::default(),
            scratch: Vec::new(),
            writer,
        }
    }

    /// The ENI of local host `key` (per address family).
    fn host(&self, v6: bool, key: u32) -> Host {
        let h = mix64(self.spec.seed ^ mix64(u64::from(key) | (u64::from(v6) << 32)));
        let kind = if key >= FLOOD_KEY {
            Kind::Ec2
        } else {
            match h % 100 {
                0..60 => Kind::Ec2,
                60..70 => Kind::EcsEc2,
                70..78 => Kind::EcsFargate,
                78..85 => Kind::Lambda,
                85..91 => Kind::NatGateway,
                91..96 => Kind::LoadBalancer,
                _ => Kind::VpcEndpoint,
            }
        };
        Host {
            h,
            kind,
            subnet: key % SUBNETS,
        }
    }

    fn local_addr(v6: bool, key: u32) -> Addr {
        if v6 {
            Addr::V6(net::local_v6(key))
        } else {
            Addr::V4(net::local_v4(key))
        }
    }

    /// A random local host of the family other than `not` (when there is a choice).
    fn random_local(&mut self, v6: bool, not: Option<u32>) -> u32 {
        let n = if v6 { self.local_v6 } else { self.local_v4 };
        let k = self.rng.below(u64::from(n)) as u32;
        match not {
            Some(x) if x == k && n > 1 => (k + 1) % n,
            _ => k,
        }
    }

    /// A random internet peer (not necessarily one of the sources).
    fn random_public(&mut self, v6: bool) -> Addr {
        let r = self.rng.next_u64() as u32;
        if v6 {
            Addr::V6(net::remote_v6(r))
        } else {
            Addr::V4(net::remote_v4(r))
        }
    }

    fn ephemeral(&mut self) -> u16 {
        self.rng.range(32768, 65535) as u16
    }

    /// Nominal time of record slot `i`: slots are spread evenly over the span.
    fn slot_time(&self, i: u64) -> i64 {
        let off = i128::from(i) * i128::from(self.span) / i128::from(self.records.max(1));
        self.spec.start + off as i64
    }

    fn blank(&self, index: u64, status: Status, owner: Owner, eni: Host, start: i64) -> Rec {
        let owner = owner.tag();
        let none = Addr::V4(0);
        Rec {
            index,
            status,
            owner,
            eni,
            src: none,
            dst: none,
            pkt_src: none,
            pkt_dst: none,
            srcport: 0,
            dstport: 0,
            proto: 6,
            packets: 0,
            bytes: 0,
            start,
            end: start,
            reject: false,
            flags: 0,
            ingress: false,
            path: 0,
            bpa: false,
            encryption: 0,
            next_hop: None,
        }
    }

    fn next_record(&mut self, i: u64) -> Rec {
        let d = &mut self.due;
        d.flood += fires(i, self.flood_flows, self.records, 0);
        d.heavy += fires(i, self.heavy_flows, self.records, self.records / 2);
        if self.spec.nodata_every > 0 && (i + 1).is_multiple_of(self.spec.nodata_every) {
            d.nodata += 1;
        }
        if self.spec.skipdata_every > 0 && (i + 1).is_multiple_of(self.spec.skipdata_every) {
            d.skipdata += 1;
        }
        if d.flood > 0 {
            d.flood -= 1;
            let j = d.flood_done;
            d.flood_done += 1;
            self.flood_record(i, j)
        } else if d.heavy > 0 {
            d.heavy -= 1;
            let j = d.heavy_done;
            d.heavy_done += 1;
            self.heavy_record(i, j)
        } else if d.nodata > 0 {
            d.nodata -= 1;
            self.no_data_record(i, Status::NoData)
        } else if d.skipdata > 0 {
            d.skipdata -= 1;
            self.no_data_record(i, Status::SkipData)
        } else if self.sources.is_empty() {
            self.no_data_record(i, Status::NoData)
        } else {
            self.normal_record(i)
        }
    }

    fn no_data_record(&mut self, i: u64, status: Status) -> Rec {
        let key = self.rng.below(u64::from(self.local_v4)) as u32;
        let eni = self.host(false, key);
        let start = self.slot_time(i);
        let mut r = self.blank(i, status, Owner::Pool(0), eni, start);
        r.end = start + self.rng.range(30, 59) as i64;
        r
    }

    fn flood_record(&mut self, i: u64, j: u64) -> Rec {
        let f = self.flood.expect("flood slots exist only with a flood");
        let src = Addr::from_ip(f.source);
        let v6 = src.is_v6();
        let start = self.spec.start
            + (i128::from(j) * i128::from(self.span) / i128::from(self.flood_flows)) as i64;
        let (eni, dst, ingress, path) = if is_private(f.source) {
            let victim = if v6 {
                Addr::V6(0x2001_0db8_0000_0000_0000_0000_0000_0080)
            } else {
                Addr::V4(u32::from_be_bytes([203, 0, 113, 80]))
            };
            (self.host(v6, FLOOD_KEY), victim, false, 8)
        } else {
            (self.host(v6, 0), Self::local_addr(v6, 0), true, 0)
        };
        let mut r = self.blank(i, Status::Ok, Owner::Flood, eni, start);
        r.src = src;
        r.pkt_src = src;
        r.dst = dst;
        r.pkt_dst = dst;
        r.ingress = ingress;
        r.path = path;
        r.srcport = self.rng.range(1024, 65535) as u16;
        r.dstport = if f.dst_ports <= 1 {
            443
        } else {
            1 + (j % u64::from(f.dst_ports)) as u16
        };
        r.packets = self.rng.range(1, 2);
        r.bytes = r.packets * self.rng.range(40, 60);
        r.end = start + self.rng.below(3) as i64;
        r.flags = if f.syn_only {
            2
        } else {
            self.rng.weighted(&[(70, 3), (20, 1), (10, 0)])
        };
        r.reject = fires(j, self.flood_reject_ppm, 1_000_000, 0) > 0;
        r
    }

    fn heavy_record(&mut self, i: u64, j: u64) -> Rec {
        let start = self.spec.start
            + (i128::from(j) * i128::from(self.span) / i128::from(self.heavy_flows)) as i64;
        let eni = self.host(false, HEAVY_KEY);
        let mut r = self.blank(i, Status::Ok, Owner::Heavy, eni, start);
        r.src = Addr::V4(HEAVY_SOURCE.into());
        r.pkt_src = r.src;
        r.dst = Addr::V4(HEAVY_DOWNLOADER.into());
        r.pkt_dst = r.dst;
        r.ingress = true;
        r.srcport = 443;
        r.dstport = 50000 + (j % 10) as u16;
        r.bytes = self.rng.range(100_000_000, 1_000_000_000);
        r.packets = r.bytes / self.rng.range(1400, 1460);
        r.end = start + 59;
        r.flags = 19;
        r.encryption = 2;
        r
    }

    fn normal_record(&mut self, i: u64) -> Rec {
        let n = self.sources.len() as u64;
        // The smaller of two uniform picks: low indices are the busiest sources.
        let k = self.rng.below(n).min(self.rng.below(n)) as u32;
        let src = self.sources[k as usize];
        let v6 = src.addr.is_v6();
        let jitter = self.rng.below(21) as i64;
        let start = (self.slot_time(i) - jitter).max(self.spec.start);
        let me = if src.local {
            self.host(v6, src.key)
        } else {
            self.host(v6, 0)
        };
        let mut r = self.blank(i, Status::Ok, Owner::Pool(k), me, start);
        r.src = src.addr;
        r.end = start + self.rng.below(60) as i64;
        let roll = self.rng.below(100);
        // (server side, reject probability in per mille)
        let (server, reject_pm) = if src.local {
            if me.kind == Kind::NatGateway && roll < 50 {
                self.nat_return(&mut r, v6, src.key)
            } else if roll < 15 {
                self.intra_vpc(&mut r, v6, src.key)
            } else if roll < 30 {
                self.local_server_reply(&mut r, v6)
            } else {
                self.egress_request(&mut r, v6)
            }
        } else {
            self.inbound_from_internet(&mut r, v6, roll)
        };
        self.fill_counters(&mut r, server, reject_pm);
        r
    }

    /// NAT gateway forwarding a reply from the internet to a VPC host: captured on the
    /// host's ENI, `pkt-srcaddr` is the original internet server.
    fn nat_return(&mut self, r: &mut Rec, v6: bool, me: u32) -> (bool, u64) {
        let d = self.random_local(v6, Some(me));
        r.eni = self.host(v6, d);
        r.dst = Self::local_addr(v6, d);
        r.pkt_dst = r.dst;
        r.pkt_src = self.random_public(v6);
        r.ingress = true;
        r.srcport = self.rng.weighted(&SERVER_PORTS);
        r.dstport = self.ephemeral();
        r.encryption = if r.srcport == 443 { 2 } else { 0 };
        (true, 2)
    }

    /// Request between two hosts of the VPC; through a NAT gateway when the target
    /// is one (then `pkt-dstaddr` is the final internet destination).
    fn intra_vpc(&mut self, r: &mut Rec, v6: bool, me: u32) -> (bool, u64) {
        let d = self.random_local(v6, Some(me));
        let target = self.host(v6, d);
        r.dst = Self::local_addr(v6, d);
        r.pkt_src = r.src;
        r.srcport = self.ephemeral();
        if target.kind == Kind::NatGateway {
            r.eni = target;
            r.ingress = true;
            r.pkt_dst = self.random_public(v6);
            r.dstport = self.rng.weighted(&EGRESS_PORTS);
            r.encryption = if r.dstport == 443 { 2 } else { 0 };
        } else {
            r.pkt_dst = r.dst;
            r.path = 1;
            r.next_hop = Some(target);
            r.dstport = self.rng.weighted(&INTRA_PORTS);
            r.encryption = match (r.dstport == 443, self.rng.chance(600)) {
                (true, _) => 3,
                (false, true) => 1,
                (false, false) => 0,
            };
        }
        (false, 20)
    }

    /// A VPC server answering an internet client.
    fn local_server_reply(&mut self, r: &mut Rec, v6: bool) -> (bool, u64) {
        r.dst = self.random_public(v6);
        r.pkt_src = r.src;
        r.pkt_dst = r.dst;
        r.srcport = self.rng.weighted(&SERVER_PORTS);
        r.dstport = self.rng.range(1024, 65535) as u16;
        r.path = 8;
        r.encryption = if r.srcport == 443 { 2 } else { 0 };
        (true, 5)
    }

    /// A VPC host calling out: mostly TCP, some DNS/NTP over UDP, some ICMP.
    fn egress_request(&mut self, r: &mut Rec, v6: bool) -> (bool, u64) {
        r.pkt_src = r.src;
        let what = self.rng.below(100);
        if what < 85 {
            r.dst = self.random_public(v6);
            r.srcport = self.ephemeral();
            r.dstport = self.rng.weighted(&EGRESS_PORTS);
            r.encryption = if matches!(r.dstport, 443 | 8443) {
                2
            } else {
                0
            };
        } else if what < 95 {
            r.proto = 17;
            r.srcport = self.ephemeral();
            let dns = what < 92;
            r.dstport = if dns { 53 } else { 123 };
            r.dst = match (v6, dns) {
                (false, true) => Addr::V4(self.rng.pick(&[0x0808_0808, 0x0101_0101, 0x0909_0909])),
                (false, false) => Addr::V4(u32::from_be_bytes([162, 159, 200, 123])),
                (true, true) => Addr::V6(0x2001_4860_4860_0000_0000_0000_0000_8888),
                (true, false) => Addr::V6(0x2606_4700_00f1_0000_0000_0000_0000_0123),
            };
        } else {
            r.proto = if v6 { 58 } else { 1 };
            r.dst = self.random_public(v6);
        }
        r.pkt_dst = r.dst;
        r.path = match r.dst.service() {
            Some("S3" | "DYNAMODB") if self.rng.chance(500) => 7,
            _ if self.rng.chance(300) => 2,
            _ => 8,
        };
        (false, 10)
    }

    /// An internet peer reaching a VPC host: requests (often rejected on admin
    /// ports), replies from servers the host called, and pings.
    fn inbound_from_internet(&mut self, r: &mut Rec, v6: bool, roll: u64) -> (bool, u64) {
        let d = self.random_local(v6, None);
        r.eni = self.host(v6, d);
        r.dst = Self::local_addr(v6, d);
        r.pkt_src = r.src;
        r.pkt_dst = r.dst;
        r.ingress = true;
        if roll < 55 {
            r.srcport = self.rng.range(1024, 65535) as u16;
            r.dstport = match self.rng.weighted(&INBOUND_PORTS) {
                0 => self.rng.range(1024, 65535) as u16,
                p => p,
            };
            r.encryption = if r.dstport == 443 { 2 } else { 0 };
            let reject_pm = match r.dstport {
                443 | 80 => 30,
                8080 | 25 => 300,
                _ => 700,
            };
            (false, reject_pm)
        } else if roll < 92 {
            let (proto, port) = self.rng.weighted(&[
                (70, (6, 443)),
                (15, (6, 80)),
                (10, (17, 53)),
                (5, (17, 123)),
            ]);
            r.proto = proto;
            r.srcport = port;
            r.dstport = self.ephemeral();
            r.encryption = if port == 443 { 2 } else { 0 };
            (true, 5)
        } else {
            r.proto = if v6 { 58 } else { 1 };
            (false, 300)
        }
    }

    /// Action, packets, bytes and TCP flags for a normal record.
    fn fill_counters(&mut self, r: &mut Rec, server: bool, reject_pm: u64) {
        if r.proto != 6 && r.proto != 17 {
            r.srcport = 0;
            r.dstport = 0;
        }
        r.reject = self.rng.chance(reject_pm);
        if r.reject {
            r.packets = self.rng.range(1, 3);
            r.bytes = r.packets * self.rng.range(40, 60);
            r.flags = if r.proto == 6 { 2 } else { 0 };
            r.encryption = 0;
            r.bpa = r.ingress && self.rng.chance(100);
            r.end = r.start + self.rng.below(5) as i64;
            return;
        }
        match r.proto {
            6 => {
                r.packets = 1 + self.rng.below(50).min(self.rng.below(50));
                r.bytes = r.packets * self.rng.range(40, 1500);
                r.flags = if server {
                    self.rng.weighted(&SERVER_FLAGS)
                } else {
                    self.rng.weighted(&CLIENT_FLAGS)
                };
            }
            17 => {
                r.packets = self.rng.range(1, 4);
                let size = if r.dstport == 123 || r.srcport == 123 {
                    76
                } else {
                    self.rng.range(60, 512)
                };
                r.bytes = r.packets * size;
            }
            _ => {
                r.packets = self.rng.range(1, 10);
                r.bytes = r.packets * if r.src.is_v6() { 104 } else { 84 };
            }
        }
    }

    fn tally(&mut self, r: &Rec) {
        let t = &mut self.truth;
        t.records += 1;
        match r.status {
            Status::NoData => {
                t.nodata += 1;
                return;
            }
            Status::SkipData => {
                t.skipdata += 1;
                return;
            }
            Status::Ok => t.ok += 1,
        }
        let syn_only = u64::from(r.proto == 6 && r.flags == 2);
        let reject = u64::from(r.reject);
        t.flows += 1;
        t.packets += r.packets;
        t.bytes += r.bytes;
        t.rejected += reject;
        t.syn_only += syn_only;
        let s = match Owner::of(r.owner) {
            Owner::Pool(k) => &mut self.pool_truth[k as usize],
            Owner::Flood => &mut self.flood_truth,
            Owner::Heavy => &mut self.heavy_truth,
        };
        s.flows += 1;
        s.packets += r.packets;
        s.bytes += r.bytes;
        s.rejected += reject;
        s.syn_only += syn_only;
    }

    fn finish(mut self) -> Truth {
        let mut per_source = BTreeMap::new();
        let mut add = |ip: IpAddr, s: &SourceTruth| {
            if s.flows == 0 {
                return;
            }
            let e: &mut SourceTruth = per_source.entry(ip).or_default();
            e.flows += s.flows;
            e.packets += s.packets;
            e.bytes += s.bytes;
            e.rejected += s.rejected;
            e.syn_only += s.syn_only;
        };
        for (src, s) in self.sources.iter().zip(&self.pool_truth) {
            add(src.addr.ip(), s);
        }
        if let Some(f) = self.flood {
            add(f.source, &self.flood_truth);
        }
        add(IpAddr::V4(HEAVY_SOURCE), &self.heavy_truth);
        self.truth.per_source = per_source;
        self.truth
    }

    /// Appends one malformed line derived from the record line at `line_start..`.
    fn write_malformed(&mut self, buf: &mut Vec<u8>, line_start: usize) {
        let n = self.truth.malformed_lines;
        let (kind, variant) = ((n % 5) as usize, (n / 5) as usize);
        self.scratch.clear();
        self.scratch
            .extend_from_slice(&buf[line_start..buf.len() - 1]);
        let line = &self.scratch;
        match kind {
            0 => {
                let cut = line.iter().rposition(|&b| b == b' ').unwrap_or(0);
                buf.extend_from_slice(&line[..cut]);
            }
            1 => {
                buf.extend_from_slice(line);
                buf.push(b' ');
                buf.extend_from_slice(EXTRA_TOKENS[variant % EXTRA_TOKENS.len()]);
            }
            2 | 3 => {
                let (col, bad) = if kind == 2 {
                    (self.numeric_col, BAD_NUMBERS[variant % BAD_NUMBERS.len()])
                } else {
                    (
                        self.address_col,
                        BAD_ADDRESSES[variant % BAD_ADDRESSES.len()],
                    )
                };
                for (c, token) in line.split(|&b| b == b' ').enumerate() {
                    if c > 0 {
                        buf.push(b' ');
                    }
                    buf.extend_from_slice(if c == col { bad } else { token });
                }
            }
            _ => {
                for c in 0..self.writer.fields().len().max(1) {
                    if c > 0 {
                        buf.push(b' ');
                    }
                    buf.extend_from_slice(GARBAGE[(variant + c) % GARBAGE.len()]);
                }
            }
        }
        buf.push(b'\n');
        self.truth.malformed_lines += 1;
    }
}

/// Generates the whole object as uncompressed chunks of about [`CHUNK`] bytes.
///
/// `emit(chunk, last)` receives every chunk in order (the final one, possibly empty,
/// with `last` set) and must leave `chunk` empty. Chunk boundaries depend only on the
/// spec.
pub(crate) fn generate(
    spec: &Spec,
    mut emit: impl FnMut(&mut Vec<u8>, bool) -> io::Result<()>,
) -> io::Result<Truth> {
    let mut g = Generator::new(spec);
    let mut buf = Vec::with_capacity(CHUNK_CAPACITY);
    if spec.header {
        g.writer.write_header(&mut buf);
    }
    let malformed_every = spec.malformed_every;
    for i in 0..spec.records {
        let line_start = buf.len();
        let rec = g.next_record(i);
        g.writer.write_record(&mut buf, &rec);
        g.tally(&rec);
        if malformed_every > 0 && (i + 1).is_multiple_of(malformed_every) {
            g.write_malformed(&mut buf, line_start);
        }
        if buf.len() >= CHUNK {
            emit(&mut buf, false)?;
            debug_assert!(buf.is_empty());
        }
    }
    emit(&mut buf, true)?;
    Ok(g.finish())
}
