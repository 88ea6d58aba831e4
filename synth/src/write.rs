//! Writing one record line in any format: every field of versions 2–11 from one [`Rec`].

use std::net::IpAddr;

use crate::net;
use crate::rng::mix64;
use crate::text::{push_hex, push_i64, push_ipv4, push_ipv6, push_u64};

pub(crate) const ACCOUNT: &[u8] = b"123456789012";
pub(crate) const ARN_PREFIX: &[u8] = b"arn:aws:ecs:us-east-1:123456789012:";

macro_rules! fields {
    ($( $variant:ident = $name:literal, $version:literal; )*) => {
        /// A column of the format.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Field { $( $variant, )* Unknown }

        impl Field {
            pub(crate) fn from_name(name: &str) -> Field {
                match name { $( $name => Field::$variant, )* _ => Field::Unknown }
            }

            pub(crate) fn version(self) -> u64 {
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

pub(crate) const CLUSTERS: [&[u8]; 3] = [b"prod-web", b"prod-workers", b"staging-apps"];
pub(crate) const SERVICES: [&[u8]; 4] = [b"web", b"api", b"worker", b"scheduler"];
pub(crate) const ROLES: [&[u8]; 7] = [
    b"web", b"api", b"worker", b"db", b"batch", b"cache", b"bastion",
];
pub(crate) const TEAMS: [&[u8]; 4] = [b"payments", b"platform", b"search", b"data"];
pub(crate) const AZ_IDS: [&[u8]; 3] = [b"use1-az1", b"use1-az2", b"use1-az4"];

/// An address in numeric form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Addr {
    V4(u32),
    V6(u128),
}

impl Addr {
    pub(crate) fn from_ip(ip: IpAddr) -> Addr {
        match ip {
            IpAddr::V4(a) => Addr::V4(a.into()),
            IpAddr::V6(a) => Addr::V6(a.into()),
        }
    }

    pub(crate) fn ip(self) -> IpAddr {
        match self {
            Addr::V4(a) => IpAddr::V4(a.into()),
            Addr::V6(a) => IpAddr::V6(a.into()),
        }
    }

    pub(crate) fn is_v6(self) -> bool {
        matches!(self, Addr::V6(_))
    }

    pub(crate) fn push(self, buf: &mut Vec<u8>) {
        match self {
            Addr::V4(a) => push_ipv4(buf, a),
            Addr::V6(a) => push_ipv6(buf, a),
        }
    }

    pub(crate) fn service(self) -> Option<&'static str> {
        match self {
            Addr::V4(a) => net::aws_service_v4(a),
            Addr::V6(_) => None,
        }
    }
}

/// What kind of resource owns an ENI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
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
pub(crate) struct Host {
    pub(crate) h: u64,
    pub(crate) kind: Kind,
    pub(crate) subnet: u32,
}

impl Host {
    pub(crate) fn id(self, salt: u64) -> u64 {
        mix64(self.h ^ salt)
    }

    pub(crate) fn is_ecs(self) -> bool {
        matches!(self.kind, Kind::EcsEc2 | Kind::EcsFargate)
    }

    pub(crate) fn has_instance(self) -> bool {
        matches!(self.kind, Kind::Ec2 | Kind::EcsEc2)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    NoData,
    SkipData,
}

/// Everything about one record; which parts are written depends on the format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rec {
    pub(crate) index: u64,
    pub(crate) status: Status,
    /// Whose ground truth the record counts towards (the caller's tag).
    pub(crate) owner: u32,
    pub(crate) eni: Host,
    pub(crate) src: Addr,
    pub(crate) dst: Addr,
    pub(crate) pkt_src: Addr,
    pub(crate) pkt_dst: Addr,
    pub(crate) srcport: u16,
    pub(crate) dstport: u16,
    pub(crate) proto: u8,
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) reject: bool,
    pub(crate) flags: u8,
    pub(crate) ingress: bool,
    /// traffic-path, 0 for `-`.
    pub(crate) path: u8,
    pub(crate) bpa: bool,
    pub(crate) encryption: u8,
    pub(crate) next_hop: Option<Host>,
}

/// Writes records in one format.
pub(crate) struct Writer {
    names: Vec<String>,
    fields: Vec<Field>,
    version: u64,
    seed: u64,
}

impl Writer {
    /// A writer for the format `names`; `seed` derives VPC and subnet identifiers.
    pub(crate) fn new(names: &[String], seed: u64) -> Writer {
        let fields: Vec<Field> = names.iter().map(|f| Field::from_name(f)).collect();
        let version = fields.iter().map(|f| f.version()).max().unwrap_or(2);
        Writer {
            names: names.to_vec(),
            fields,
            version,
            seed,
        }
    }

    /// The format's columns.
    pub(crate) fn fields(&self) -> &[Field] {
        &self.fields
    }

    pub(crate) fn write_header(&self, buf: &mut Vec<u8>) {
        for (c, name) in self.names.iter().enumerate() {
            if c > 0 {
                buf.push(b' ');
            }
            buf.extend_from_slice(name.as_bytes());
        }
        buf.push(b'\n');
    }

    pub(crate) fn write_record(&self, buf: &mut Vec<u8>, r: &Rec) {
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
            Field::VpcId => push_vpc_id(buf, self.seed, e),
            Field::SubnetId => push_subnet_id(buf, self.seed, e),
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
                push_subnet_id(buf, self.seed, r.next_hop.expect("checked"))
            }
            Field::NextHopAzId if r.next_hop.is_some() => {
                let n = r.next_hop.expect("checked");
                buf.extend_from_slice(AZ_IDS[(n.subnet % 3) as usize]);
            }
            Field::NextHopVpcId if r.next_hop.is_some() => {
                push_vpc_id(buf, self.seed, r.next_hop.expect("checked"))
            }
            Field::NextHopInterfaceType if r.next_hop.is_some() => {
                buf.extend_from_slice(interface_type(r.next_hop.expect("checked")))
            }
            _ => buf.push(b'-'),
        }
    }
}

pub(crate) fn push_eni_id(buf: &mut Vec<u8>, e: Host) {
    buf.extend_from_slice(b"eni-0");
    push_hex(buf, e.id(0x0), 16);
}

pub(crate) fn push_vpc_id(buf: &mut Vec<u8>, seed: u64, e: Host) {
    buf.extend_from_slice(b"vpc-0");
    push_hex(buf, mix64(seed ^ 0x7670_6300 ^ u64::from(e.subnet / 3)), 16);
}

pub(crate) fn push_subnet_id(buf: &mut Vec<u8>, seed: u64, e: Host) {
    buf.extend_from_slice(b"subnet-0");
    push_hex(buf, mix64(seed ^ 0x5375_6200 ^ u64::from(e.subnet)), 16);
}

/// 32 hex digits (ECS task and container-instance ids).
pub(crate) fn push_hex128(buf: &mut Vec<u8>, e: Host, salt: u64) {
    push_hex(buf, e.id(salt << 8), 16);
    push_hex(buf, e.id((salt << 8) | 1), 16);
}

/// 64 hex digits (container ids).
pub(crate) fn push_hex256(buf: &mut Vec<u8>, e: Host, salt: u64) {
    for part in 0..4 {
        push_hex(buf, e.id((salt << 8) | part), 16);
    }
}

pub(crate) fn push_opt(buf: &mut Vec<u8>, v: Option<&str>) {
    buf.extend_from_slice(v.unwrap_or("-").as_bytes());
}

pub(crate) fn push_env(buf: &mut Vec<u8>, e: Host) {
    buf.extend_from_slice(if (e.h >> 28).is_multiple_of(4) {
        b"env=staging"
    } else {
        b"env=prod"
    });
}

pub(crate) fn cluster(e: Host) -> &'static [u8] {
    CLUSTERS[((e.h >> 8) % 3) as usize]
}

pub(crate) fn service(e: Host) -> &'static [u8] {
    SERVICES[((e.h >> 12) % 4) as usize]
}

pub(crate) fn role(e: Host) -> &'static [u8] {
    ROLES[((e.h >> 44) % 7) as usize]
}

pub(crate) fn has_asg(e: Host) -> bool {
    e.has_instance() && (e.h >> 48) % 10 < 7
}

pub(crate) fn interface_type(e: Host) -> &'static [u8] {
    match e.kind {
        Kind::Ec2 | Kind::EcsEc2 | Kind::EcsFargate => b"interface",
        Kind::Lambda => b"lambda",
        Kind::NatGateway => b"nat_gateway",
        Kind::LoadBalancer => b"network_load_balancer",
        Kind::VpcEndpoint => b"vpc_endpoint",
    }
}
