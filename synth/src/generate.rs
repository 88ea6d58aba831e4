//! Record generation and serialisation.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;

use crate::net::{self, SUBNETS};
use crate::rng::{Rng, mix64};
use crate::text::{push_hex, push_i64, push_ipv4, push_ipv6, push_u64};
use crate::{Flood, HEAVY_DOWNLOADER, HEAVY_SOURCE, SourceTruth, Spec, Truth};

/// Output is handed on once the buffer holds this many bytes.
pub(crate) const CHUNK: usize = 1 << 20;
/// Capacity that holds a chunk plus the longest line that can end it.
pub(crate) const CHUNK_CAPACITY: usize = CHUNK + (64 << 10);

const ACCOUNT: &[u8] = b"123456789012";
const ARN_PREFIX: &[u8] = b"arn:aws:ecs:us-east-1:123456789012:";

/// Host key of the heavy downloader's ENI.
const HEAVY_KEY: u32 = u32::MAX;
/// Host key of the ENI a private flood source sends from.
const FLOOD_KEY: u32 = u32::MAX - 1;

macro_rules! fields {
    ($( $variant:ident = $name:literal, $version:literal; )*) => {
        /// A column of the format.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Field { $( $variant, )* Unknown }

        impl Field {
            fn from_name(name: &str) -> Field {
                match name { $( $name => Field::$variant, )* _ => Field::Unknown }
            }

            fn version(self) -> u64 {
                match self { $( Field::$variant => $version, )* Field::Unknown => 2 }
            }
        }
    };
}

fields! {
    Version = "version", 2;
    AccountId = "account-id", 2;
    InterfaceId = "interface-id", 2;
    SrcAddr = "srcaddr", 2;
    DstAddr = "dstaddr", 2;
    SrcPort = "srcport", 2;
    DstPort = "dstport", 2;
    Protocol = "protocol", 2;
    Packets = "packets", 2;
    Bytes = "bytes", 2;
    Start = "start", 2;
    End = "end", 2;
    Action = "action", 2;
    LogStatus = "log-status", 2;
    VpcId = "vpc-id", 3;
    SubnetId = "subnet-id", 3;
    InstanceId = "instance-id", 3;
    TcpFlags = "tcp-flags", 3;
    Type = "type", 3;
    PktSrcAddr = "pkt-srcaddr", 3;
    PktDstAddr = "pkt-dstaddr", 3;
    Region = "region", 4;
    AzId = "az-id", 4;
    SublocationType = "sublocation-type", 4;
    SublocationId = "sublocation-id", 4;
    PktSrcAwsService = "pkt-src-aws-service", 5;
    PktDstAwsService = "pkt-dst-aws-service", 5;
    FlowDirection = "flow-direction", 5;
    TrafficPath = "traffic-path", 5;
    EcsClusterArn = "ecs-cluster-arn", 7;
    EcsClusterName = "ecs-cluster-name", 7;
    EcsContainerInstanceArn = "ecs-container-instance-arn", 7;
    EcsContainerInstanceId = "ecs-container-instance-id", 7;
    EcsContainerId = "ecs-container-id", 7;
    EcsSecondContainerId = "ecs-second-container-id", 7;
    EcsServiceName = "ecs-service-name", 7;
    EcsTaskDefinitionArn = "ecs-task-definition-arn", 7;
    EcsTaskArn = "ecs-task-arn", 7;
    EcsTaskId = "ecs-task-id", 7;
    RejectReason = "reject-reason", 8;
    ResourceId = "resource-id", 9;
    EncryptionStatus = "encryption-status", 10;
    InstanceTag = "instance-tag", 11;
    InstanceTag2 = "instance-tag-2", 11;
    InterfaceTag = "interface-tag", 11;
    InterfaceTag2 = "interface-tag-2", 11;
    AsgTag = "asg-tag", 11;
    AsgTag2 = "asg-tag-2", 11;
    InterfaceType = "interface-type", 11;
    NextHopInterfaceId = "next-hop-interface-id", 11;
    NextHopSubnetId = "next-hop-subnet-id", 11;
    NextHopAzId = "next-hop-az-id", 11;
    NextHopVpcId = "next-hop-vpc-id", 11;
    NextHopInterfaceType = "next-hop-interface-type", 11;
}

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

const CLUSTERS: [&[u8]; 3] = [b"prod-web", b"prod-workers", b"staging-apps"];
const SERVICES: [&[u8]; 4] = [b"web", b"api", b"worker", b"scheduler"];
const ROLES: [&[u8]; 7] = [
    b"web", b"api", b"worker", b"db", b"batch", b"cache", b"bastion",
];
const TEAMS: [&[u8]; 4] = [b"payments", b"platform", b"search", b"data"];
const AZ_IDS: [&[u8]; 3] = [b"use1-az1", b"use1-az2", b"use1-az4"];

/// TCP flags of records on the initiating side.
const CLIENT_FLAGS: [(u32, u8); 7] = [(35, 19), (15, 3), (10, 2), (8, 1), (20, 0), (5, 6), (7, 18)];
/// TCP flags of records on the answering side.
const SERVER_FLAGS: [(u32, u8); 5] = [(40, 19), (30, 18), (10, 3), (10, 1), (10, 0)];
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

/// An address in numeric form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Addr {
    V4(u32),
    V6(u128),
}

impl Addr {
    fn from_ip(ip: IpAddr) -> Addr {
        match ip {
            IpAddr::V4(a) => Addr::V4(a.into()),
            IpAddr::V6(a) => Addr::V6(a.into()),
        }
    }

    fn ip(self) -> IpAddr {
        match self {
            Addr::V4(a) => IpAddr::V4(a.into()),
            Addr::V6(a) => IpAddr::V6(a.into()),
        }
    }

    fn is_v6(self) -> bool {
        matches!(self, Addr::V6(_))
    }

    fn push(self, buf: &mut Vec<u8>) {
        match self {
            Addr::V4(a) => push_ipv4(buf, a),
            Addr::V6(a) => push_ipv6(buf, a),
        }
    }

    fn service(self) -> Option<&'static str> {
        match self {
            Addr::V4(a) => net::aws_service_v4(a),
            Addr::V6(_) => None,
        }
    }
}

/// What kind of resource owns an ENI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ec2,
    EcsEc2,
    EcsFargate,
    Lambda,
    NatGateway,
    LoadBalancer,
    VpcEndpoint,
}

/// An ENI of the synthetic VPCs; all its identifiers derive from `h`.
#[derive(Debug, Clone, Copy)]
struct Host {
    h: u64,
    kind: Kind,
    subnet: u32,
}

impl Host {
    fn id(self, salt: u64) -> u64 {
        mix64(self.h ^ salt)
    }

    fn is_ecs(self) -> bool {
        matches!(self.kind, Kind::EcsEc2 | Kind::EcsFargate)
    }

    fn has_instance(self) -> bool {
        matches!(self.kind, Kind::Ec2 | Kind::EcsEc2)
    }
}

/// A normal source address.
#[derive(Debug, Clone, Copy)]
struct Source {
    addr: Addr,
    /// A host of the VPC (else an internet peer).
    local: bool,
    /// Host key (local) or peer index (remote).
    key: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    NoData,
    SkipData,
}

/// Whose truth a record counts towards.
#[derive(Debug, Clone, Copy)]
enum Owner {
    Pool(u32),
    Flood,
    Heavy,
}

/// Everything about one record; which parts are written depends on the format.
#[derive(Debug, Clone, Copy)]
struct Rec {
    index: u64,
    status: Status,
    owner: Owner,
    eni: Host,
    src: Addr,
    dst: Addr,
    pkt_src: Addr,
    pkt_dst: Addr,
    srcport: u16,
    dstport: u16,
    proto: u8,
    packets: u64,
    bytes: u64,
    start: i64,
    end: i64,
    reject: bool,
    flags: u8,
    ingress: bool,
    /// traffic-path, 0 for `-`.
    path: u8,
    bpa: bool,
    encryption: u8,
    next_hop: Option<Host>,
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
    fields: Vec<Field>,
    version: u64,
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
        let fields: Vec<Field> = spec.fields.iter().map(|f| Field::from_name(f)).collect();
        let version = fields.iter().map(|f| f.version()).max().unwrap_or(2);
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
            version,
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
            fields,
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
            self.rng.weighted(&[(40, 19), (30, 3), (20, 1), (10, 0)])
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
        let s = match r.owner {
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

    fn write_header(&self, buf: &mut Vec<u8>) {
        for (c, name) in self.spec.fields.iter().enumerate() {
            if c > 0 {
                buf.push(b' ');
            }
            buf.extend_from_slice(name.as_bytes());
        }
        buf.push(b'\n');
    }

    fn write_record(&self, buf: &mut Vec<u8>, r: &Rec) {
        for (c, &f) in self.fields.iter().enumerate() {
            if c > 0 {
                buf.push(b' ');
            }
            self.write_field(buf, f, r);
        }
        buf.push(b'\n');
    }

    fn write_field(&self, buf: &mut Vec<u8>, f: Field, r: &Rec) {
        let ok = r.status == Status::Ok;
        let e = r.eni;
        match f {
            Field::Version => push_u64(buf, self.version),
            Field::AccountId => buf.extend_from_slice(ACCOUNT),
            Field::InterfaceId => push_eni_id(buf, e),
            Field::Start => push_i64(buf, r.start),
            Field::End => push_i64(buf, r.end),
            Field::LogStatus => buf.extend_from_slice(match r.status {
                Status::Ok => b"OK",
                Status::NoData => b"NODATA",
                Status::SkipData => b"SKIPDATA",
            }),
            Field::VpcId => push_vpc_id(buf, self.spec.seed, e),
            Field::SubnetId => push_subnet_id(buf, self.spec.seed, e),
            Field::InstanceId if e.has_instance() => {
                buf.extend_from_slice(b"i-0");
                push_hex(buf, e.id(0x1), 16);
            }
            Field::Region => buf.extend_from_slice(b"us-east-1"),
            Field::AzId => buf.extend_from_slice(AZ_IDS[(e.subnet % 3) as usize]),
            Field::EcsClusterArn if e.is_ecs() => {
                buf.extend_from_slice(ARN_PREFIX);
                buf.extend_from_slice(b"cluster/");
                buf.extend_from_slice(cluster(e));
            }
            Field::EcsClusterName if e.is_ecs() => buf.extend_from_slice(cluster(e)),
            Field::EcsContainerInstanceArn if e.kind == Kind::EcsEc2 => {
                buf.extend_from_slice(ARN_PREFIX);
                buf.extend_from_slice(b"container-instance/");
                buf.extend_from_slice(cluster(e));
                buf.push(b'/');
                push_hex128(buf, e, 0x2);
            }
            Field::EcsContainerInstanceId if e.kind == Kind::EcsEc2 => push_hex128(buf, e, 0x2),
            Field::EcsContainerId if e.is_ecs() => push_hex256(buf, e, 0x3),
            Field::EcsSecondContainerId if e.is_ecs() && (e.h >> 20) % 10 < 3 => {
                push_hex256(buf, e, 0x4)
            }
            Field::EcsServiceName if e.is_ecs() => buf.extend_from_slice(service(e)),
            Field::EcsTaskDefinitionArn if e.is_ecs() => {
                buf.extend_from_slice(ARN_PREFIX);
                buf.extend_from_slice(b"task-definition/");
                buf.extend_from_slice(service(e));
                buf.push(b':');
                push_u64(buf, 1 + (e.h >> 16) % 40);
            }
            Field::EcsTaskArn if e.is_ecs() => {
                buf.extend_from_slice(ARN_PREFIX);
                buf.extend_from_slice(b"task/");
                buf.extend_from_slice(cluster(e));
                buf.push(b'/');
                push_hex128(buf, e, 0x5);
            }
            Field::EcsTaskId if e.is_ecs() => push_hex128(buf, e, 0x5),
            Field::ResourceId if e.kind == Kind::NatGateway => {
                buf.extend_from_slice(b"nat-0");
                push_hex(buf, e.id(0x6), 16);
            }
            Field::ResourceId if e.kind == Kind::VpcEndpoint => {
                buf.extend_from_slice(b"vpce-0");
                push_hex(buf, e.id(0x6), 16);
            }
            Field::InstanceTag if e.has_instance() => {
                buf.extend_from_slice(b"Name=");
                buf.extend_from_slice(role(e));
                buf.push(b'-');
                push_u64(buf, 1 + (e.h >> 40) % 40);
            }
            Field::InstanceTag2 if e.has_instance() => push_env(buf, e),
            Field::InterfaceTag => {
                buf.extend_from_slice(b"team=");
                buf.extend_from_slice(TEAMS[((e.h >> 32) % 4) as usize]);
            }
            Field::InterfaceTag2 if (e.h >> 34).is_multiple_of(2) => {
                buf.extend_from_slice(b"cost-center=cc-");
                push_u64(buf, 1000 + (e.h >> 36) % 9000);
            }
            Field::AsgTag if has_asg(e) => {
                buf.extend_from_slice(b"aws:autoscaling:groupName=");
                buf.extend_from_slice(role(e));
                buf.extend_from_slice(b"-asg");
            }
            Field::AsgTag2 if has_asg(e) => push_env(buf, e),
            Field::InterfaceType => buf.extend_from_slice(interface_type(e)),
            Field::Unknown => {
                buf.extend_from_slice(b"x-");
                push_u64(buf, r.index % 1000);
            }
            _ if !ok => buf.push(b'-'),
            // Everything below exists only for OK records.
            Field::SrcAddr => r.src.push(buf),
            Field::DstAddr => r.dst.push(buf),
            Field::SrcPort => push_u64(buf, u64::from(r.srcport)),
            Field::DstPort => push_u64(buf, u64::from(r.dstport)),
            Field::Protocol => push_u64(buf, u64::from(r.proto)),
            Field::Packets => push_u64(buf, r.packets),
            Field::Bytes => push_u64(buf, r.bytes),
            Field::Action => buf.extend_from_slice(if r.reject { b"REJECT" } else { b"ACCEPT" }),
            Field::TcpFlags => push_u64(buf, u64::from(if r.proto == 6 { r.flags } else { 0 })),
            Field::Type => buf.extend_from_slice(if r.src.is_v6() { b"IPv6" } else { b"IPv4" }),
            Field::PktSrcAddr => r.pkt_src.push(buf),
            Field::PktDstAddr => r.pkt_dst.push(buf),
            Field::PktSrcAwsService => push_opt(buf, r.pkt_src.service()),
            Field::PktDstAwsService => push_opt(buf, r.pkt_dst.service()),
            Field::FlowDirection => {
                buf.extend_from_slice(if r.ingress { b"ingress" } else { b"egress" })
            }
            Field::TrafficPath if !r.ingress && r.path > 0 => push_u64(buf, u64::from(r.path)),
            Field::RejectReason if r.reject && r.bpa => buf.extend_from_slice(b"BPA"),
            Field::EncryptionStatus => push_u64(buf, u64::from(r.encryption)),
            Field::NextHopInterfaceId if r.next_hop.is_some() => {
                push_eni_id(buf, r.next_hop.expect("checked"))
            }
            Field::NextHopSubnetId if r.next_hop.is_some() => {
                push_subnet_id(buf, self.spec.seed, r.next_hop.expect("checked"))
            }
            Field::NextHopAzId if r.next_hop.is_some() => {
                let n = r.next_hop.expect("checked");
                buf.extend_from_slice(AZ_IDS[(n.subnet % 3) as usize]);
            }
            Field::NextHopVpcId if r.next_hop.is_some() => {
                push_vpc_id(buf, self.spec.seed, r.next_hop.expect("checked"))
            }
            Field::NextHopInterfaceType if r.next_hop.is_some() => {
                buf.extend_from_slice(interface_type(r.next_hop.expect("checked")))
            }
            _ => buf.push(b'-'),
        }
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
                for c in 0..self.fields.len().max(1) {
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

fn push_eni_id(buf: &mut Vec<u8>, e: Host) {
    buf.extend_from_slice(b"eni-0");
    push_hex(buf, e.id(0x0), 16);
}

fn push_vpc_id(buf: &mut Vec<u8>, seed: u64, e: Host) {
    buf.extend_from_slice(b"vpc-0");
    push_hex(buf, mix64(seed ^ 0x7670_6300 ^ u64::from(e.subnet / 3)), 16);
}

fn push_subnet_id(buf: &mut Vec<u8>, seed: u64, e: Host) {
    buf.extend_from_slice(b"subnet-0");
    push_hex(buf, mix64(seed ^ 0x5375_6200 ^ u64::from(e.subnet)), 16);
}

/// 32 hex digits (ECS task and container-instance ids).
fn push_hex128(buf: &mut Vec<u8>, e: Host, salt: u64) {
    push_hex(buf, e.id(salt << 8), 16);
    push_hex(buf, e.id((salt << 8) | 1), 16);
}

/// 64 hex digits (container ids).
fn push_hex256(buf: &mut Vec<u8>, e: Host, salt: u64) {
    for part in 0..4 {
        push_hex(buf, e.id((salt << 8) | part), 16);
    }
}

fn push_opt(buf: &mut Vec<u8>, v: Option<&str>) {
    buf.extend_from_slice(v.unwrap_or("-").as_bytes());
}

fn push_env(buf: &mut Vec<u8>, e: Host) {
    buf.extend_from_slice(if (e.h >> 28).is_multiple_of(4) {
        b"env=staging"
    } else {
        b"env=prod"
    });
}

fn cluster(e: Host) -> &'static [u8] {
    CLUSTERS[((e.h >> 8) % 3) as usize]
}

fn service(e: Host) -> &'static [u8] {
    SERVICES[((e.h >> 12) % 4) as usize]
}

fn role(e: Host) -> &'static [u8] {
    ROLES[((e.h >> 44) % 7) as usize]
}

fn has_asg(e: Host) -> bool {
    e.has_instance() && (e.h >> 48) % 10 < 7
}

fn interface_type(e: Host) -> &'static [u8] {
    match e.kind {
        Kind::Ec2 | Kind::EcsEc2 | Kind::EcsFargate => b"interface",
        Kind::Lambda => b"lambda",
        Kind::NatGateway => b"nat_gateway",
        Kind::LoadBalancer => b"network_load_balancer",
        Kind::VpcEndpoint => b"vpc_endpoint",
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
        g.write_header(&mut buf);
    }
    let malformed_every = spec.malformed_every;
    for i in 0..spec.records {
        let line_start = buf.len();
        let rec = g.next_record(i);
        g.write_record(&mut buf, &rec);
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
