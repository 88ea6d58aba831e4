//! Ready-made field lists (log formats) for [`Spec::fields`](crate::Spec::fields).

/// The default format (all version 2 fields in AWS table order).
pub const DEFAULT_V2: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// The custom version 3 format used in the AWS documentation examples.
pub const V3_EXAMPLE: &[&str] = &[
    "version",
    "vpc-id",
    "subnet-id",
    "instance-id",
    "interface-id",
    "account-id",
    "type",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "protocol",
    "bytes",
    "packets",
    "start",
    "end",
    "action",
    "tcp-flags",
    "log-status",
];

/// All 29 fields of versions 2–5, in AWS table order.
pub const V5_ALL: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
    "vpc-id",
    "subnet-id",
    "instance-id",
    "tcp-flags",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "region",
    "az-id",
    "sublocation-type",
    "sublocation-id",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
    "flow-direction",
    "traffic-path",
];

/// All 40 fields of versions 2–8, in AWS table order.
pub const V8_ALL: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
    "vpc-id",
    "subnet-id",
    "instance-id",
    "tcp-flags",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "region",
    "az-id",
    "sublocation-type",
    "sublocation-id",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
    "flow-direction",
    "traffic-path",
    "ecs-cluster-arn",
    "ecs-cluster-name",
    "ecs-container-instance-arn",
    "ecs-container-instance-id",
    "ecs-container-id",
    "ecs-second-container-id",
    "ecs-service-name",
    "ecs-task-definition-arn",
    "ecs-task-arn",
    "ecs-task-id",
    "reject-reason",
];

/// All 54 fields of versions 2–11, in AWS table order.
pub const V11_ALL: &[&str] = &[
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
    "vpc-id",
    "subnet-id",
    "instance-id",
    "tcp-flags",
    "type",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "region",
    "az-id",
    "sublocation-type",
    "sublocation-id",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
    "flow-direction",
    "traffic-path",
    "ecs-cluster-arn",
    "ecs-cluster-name",
    "ecs-container-instance-arn",
    "ecs-container-instance-id",
    "ecs-container-id",
    "ecs-second-container-id",
    "ecs-service-name",
    "ecs-task-definition-arn",
    "ecs-task-arn",
    "ecs-task-id",
    "reject-reason",
    "resource-id",
    "encryption-status",
    "instance-tag",
    "instance-tag-2",
    "interface-tag",
    "interface-tag-2",
    "asg-tag",
    "asg-tag-2",
    "interface-type",
    "next-hop-interface-id",
    "next-hop-subnet-id",
    "next-hop-az-id",
    "next-hop-vpc-id",
    "next-hop-interface-type",
];

/// Looks a ready-made format up by a short name: `default`/`v2`, `v3`, `v5`, `v8`,
/// `v11` (case-insensitive).
pub fn named(name: &str) -> Option<&'static [&'static str]> {
    match name.to_ascii_lowercase().as_str() {
        "default" | "v2" => Some(DEFAULT_V2),
        "v3" => Some(V3_EXAMPLE),
        "v5" => Some(V5_ALL),
        "v8" => Some(V8_ALL),
        "v11" => Some(V11_ALL),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_can_be_looked_up_by_short_name() {
        assert_eq!(named("V5"), Some(V5_ALL));
        assert_eq!(named("default"), Some(DEFAULT_V2));
        assert_eq!(named("v4"), None);
    }

    #[test]
    fn formats_have_documented_lengths_and_share_the_table_order() {
        assert_eq!(DEFAULT_V2.len(), 14);
        assert_eq!(V3_EXAMPLE.len(), 21);
        assert_eq!(V5_ALL.len(), 29);
        assert_eq!(V8_ALL.len(), 40);
        assert_eq!(V11_ALL.len(), 54);
        assert_eq!(&V11_ALL[..40], V8_ALL);
        assert_eq!(&V11_ALL[..29], V5_ALL);
        assert_eq!(&V11_ALL[..14], DEFAULT_V2);
        let mut names = V11_ALL.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 54);
        assert!(V3_EXAMPLE.iter().all(|f| V5_ALL.contains(f)));
    }
}
