//! The flow-log fields AWS documents for versions 2–11, and how each value is typed.

/// How the text of a field's value is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A non-negative integer that fits the given number of bits.
    Unsigned { bits: u8 },
    /// Unix seconds (`start`, `end`); epoch milliseconds are normalised to seconds.
    UnixSeconds,
    /// An IPv4 or IPv6 address.
    Address,
    /// `ACCEPT` or `REJECT`.
    Action,
    /// `OK`, `NODATA` or `SKIPDATA`.
    LogStatus,
    /// Free text, kept as it is (also every field this crate does not know).
    Text,
}

macro_rules! fields {
    ($( $variant:ident = $name:literal, v $version:literal, $kind:expr; )*) => {
        /// A field AWS documents for VPC flow-log records (versions 2–11).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Field { $( #[doc = concat!("`", $name, "` (v", stringify!($version), ")")] $variant, )* }

        impl Field {
            /// Every known field, in the order of the AWS field table.
            pub const ALL: &'static [Field] = &[ $( Field::$variant, )* ];

            /// The field's name as it appears in formats and S3 header lines (`log-status`).
            pub const fn name(self) -> &'static str {
                match self { $( Field::$variant => $name, )* }
            }

            /// The flow-log version that introduced the field.
            pub const fn version(self) -> u8 {
                match self { $( Field::$variant => $version, )* }
            }

            /// How the field's value is typed.
            pub const fn kind(self) -> FieldKind {
                match self { $( Field::$variant => $kind, )* }
            }

            /// Looks a field up by its hyphenated name.
            pub fn from_name(name: &str) -> Option<Field> {
                match name { $( $name => Some(Field::$variant), )* _ => None }
            }
        }
    };
}

const U8: FieldKind = FieldKind::Unsigned { bits: 8 };
const U16: FieldKind = FieldKind::Unsigned { bits: 16 };
const U32: FieldKind = FieldKind::Unsigned { bits: 32 };
const U64: FieldKind = FieldKind::Unsigned { bits: 64 };
const TEXT: FieldKind = FieldKind::Text;
const ADDR: FieldKind = FieldKind::Address;

fields! {
    Version = "version", v 2, U32;
    AccountId = "account-id", v 2, TEXT;
    InterfaceId = "interface-id", v 2, TEXT;
    SrcAddr = "srcaddr", v 2, ADDR;
    DstAddr = "dstaddr", v 2, ADDR;
    SrcPort = "srcport", v 2, U16;
    DstPort = "dstport", v 2, U16;
    Protocol = "protocol", v 2, U8;
    Packets = "packets", v 2, U64;
    Bytes = "bytes", v 2, U64;
    Start = "start", v 2, FieldKind::UnixSeconds;
    End = "end", v 2, FieldKind::UnixSeconds;
    Action = "action", v 2, FieldKind::Action;
    LogStatus = "log-status", v 2, FieldKind::LogStatus;
    VpcId = "vpc-id", v 3, TEXT;
    SubnetId = "subnet-id", v 3, TEXT;
    InstanceId = "instance-id", v 3, TEXT;
    TcpFlags = "tcp-flags", v 3, U8;
    Type = "type", v 3, TEXT;
    PktSrcAddr = "pkt-srcaddr", v 3, ADDR;
    PktDstAddr = "pkt-dstaddr", v 3, ADDR;
    Region = "region", v 4, TEXT;
    AzId = "az-id", v 4, TEXT;
    SublocationType = "sublocation-type", v 4, TEXT;
    SublocationId = "sublocation-id", v 4, TEXT;
    PktSrcAwsService = "pkt-src-aws-service", v 5, TEXT;
    PktDstAwsService = "pkt-dst-aws-service", v 5, TEXT;
    FlowDirection = "flow-direction", v 5, TEXT;
    TrafficPath = "traffic-path", v 5, U8;
    EcsClusterArn = "ecs-cluster-arn", v 7, TEXT;
    EcsClusterName = "ecs-cluster-name", v 7, TEXT;
    EcsContainerInstanceArn = "ecs-container-instance-arn", v 7, TEXT;
    EcsContainerInstanceId = "ecs-container-instance-id", v 7, TEXT;
    EcsContainerId = "ecs-container-id", v 7, TEXT;
    EcsSecondContainerId = "ecs-second-container-id", v 7, TEXT;
    EcsServiceName = "ecs-service-name", v 7, TEXT;
    EcsTaskDefinitionArn = "ecs-task-definition-arn", v 7, TEXT;
    EcsTaskArn = "ecs-task-arn", v 7, TEXT;
    EcsTaskId = "ecs-task-id", v 7, TEXT;
    RejectReason = "reject-reason", v 8, TEXT;
    ResourceId = "resource-id", v 9, TEXT;
    EncryptionStatus = "encryption-status", v 10, U8;
    InstanceTag = "instance-tag", v 11, TEXT;
    InstanceTag2 = "instance-tag-2", v 11, TEXT;
    InterfaceTag = "interface-tag", v 11, TEXT;
    InterfaceTag2 = "interface-tag-2", v 11, TEXT;
    AsgTag = "asg-tag", v 11, TEXT;
    AsgTag2 = "asg-tag-2", v 11, TEXT;
    InterfaceType = "interface-type", v 11, TEXT;
    NextHopInterfaceId = "next-hop-interface-id", v 11, TEXT;
    NextHopSubnetId = "next-hop-subnet-id", v 11, TEXT;
    NextHopAzId = "next-hop-az-id", v 11, TEXT;
    NextHopVpcId = "next-hop-vpc-id", v 11, TEXT;
    NextHopInterfaceType = "next-hop-interface-type", v 11, TEXT;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_all_54_documented_fields_with_unique_names() {
        assert_eq!(Field::ALL.len(), 54);
        let mut names: Vec<_> = Field::ALL.iter().map(|f| f.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 54);
    }

    #[test]
    fn names_round_trip() {
        for &f in Field::ALL {
            assert_eq!(Field::from_name(f.name()), Some(f));
        }
        assert_eq!(Field::from_name("no-such-field"), None);
    }

    #[test]
    fn version_counts_match_the_aws_table() {
        let count = |v| Field::ALL.iter().filter(|f| f.version() == v).count();
        assert_eq!(
            [2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map(count),
            [14, 7, 4, 4, 0, 10, 1, 1, 1, 12]
        );
    }
}
