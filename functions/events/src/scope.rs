//! Which objects a function reads: flow logs in its bucket, under its prefix. Anything else a
//! shared bucket announces (CloudTrail, ELB or S3 access logs under the same `AWSLogs/`) is
//! skipped without being read.

use crate::decode::ObjectRef;

/// The path segment every flow-log key has after the prefix: `…/vpcflowlogs/…`, or
/// `…/aws-service=vpcflowlogs/…` in the Hive-style layout.
pub const FLOW_LOG_SEGMENT: &str = "vpcflowlogs/";
/// How every flow-log object in the plain-text format is named.
pub const FLOW_LOG_SUFFIX: &str = ".log.gz";
/// How flow-log objects in the Parquet format end (`….log.parquet`; what a key ends with only
/// admits it: the object's content says whether it is Parquet or text).
pub const PARQUET_SUFFIX: &str = ".parquet";
/// Every ending a flow-log key may have.
pub const FLOW_LOG_SUFFIXES: &[&str] = &[FLOW_LOG_SUFFIX, PARQUET_SUFFIX];

/// The bucket and key prefix a function reads flow logs from. Unset parts accept anything; with
/// a prefix, a key must also look like a flow log: `<prefix>…vpcflowlogs/….log.gz` or
/// `<prefix>…vpcflowlogs/….parquet`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The only bucket read, if set.
    pub bucket: Option<String>,
    /// The key prefix read, if set.
    pub prefix: Option<String>,
}

impl Scope {
    /// Why `object` is outside the scope, or `None` when it is to be read. Either spelling of
    /// the key may match (EventBridge keys may or may not be URL-encoded).
    pub fn excludes(&self, object: &ObjectRef) -> Option<String> {
        if let Some(bucket) = &self.bucket
            && *bucket != object.bucket
        {
            return Some(format!("bucket is not {bucket}"));
        }
        let prefix = self.prefix.as_deref()?;
        let is_flow_log = |key: &str| {
            key.strip_prefix(prefix).is_some_and(|rest| {
                rest.contains(FLOW_LOG_SEGMENT)
                    && FLOW_LOG_SUFFIXES
                        .iter()
                        .any(|suffix| rest.ends_with(suffix))
            })
        };
        let keys = std::iter::once(&object.key).chain(&object.fallback_key);
        if keys.into_iter().any(|k| is_flow_log(k)) {
            None
        } else {
            Some(format!(
                "key is not {prefix}…{FLOW_LOG_SEGMENT}…{FLOW_LOG_SUFFIX} or …{PARQUET_SUFFIX}"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            bucket: Some("logs".into()),
            prefix: Some("AWSLogs/".into()),
        }
    }

    #[test]
    fn flow_logs_in_both_key_layouts_are_in_scope() {
        for key in [
            "AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/01/01/123456789012_vpcflowlogs_us-east-1_fl-1_20250101T0000Z_a.log.gz",
            "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2025/x.log.gz",
            "AWSLogs/aws-account-id%3D123456789012/aws-service%3Dvpcflowlogs/x.log.gz",
            "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2025/month=01/day=01/hour=00/x.log.parquet",
        ] {
            assert_eq!(
                scope().excludes(&ObjectRef::new("logs", key)),
                None,
                "{key}"
            );
        }
    }

    #[test]
    fn other_logs_under_the_same_prefix_are_out_of_scope() {
        for key in [
            "AWSLogs/123456789012/CloudTrail/us-east-1/2025/01/01/123456789012_CloudTrail_us-east-1_x.json.gz",
            "AWSLogs/123456789012/elasticloadbalancing/us-east-1/2025/01/01/x.log.gz",
            "AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/01/01/x.json",
            "other/123456789012/vpcflowlogs/us-east-1/x.log.gz",
        ] {
            let why = scope().excludes(&ObjectRef::new("logs", key)).expect(key);
            assert!(why.contains("AWSLogs/…vpcflowlogs/….log.gz"), "{why}");
        }
    }

    #[test]
    fn another_bucket_is_out_of_scope() {
        let key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/x.log.gz";
        assert_eq!(
            scope()
                .excludes(&ObjectRef::new("elsewhere", key))
                .as_deref(),
            Some("bucket is not logs")
        );
    }

    #[test]
    fn an_unset_scope_reads_everything() {
        assert_eq!(
            Scope::default().excludes(&ObjectRef::new("any", "letter.txt")),
            None
        );
    }

    #[test]
    fn the_decoded_fallback_key_may_match() {
        let mut eventbridge = ObjectRef::new("logs", "vpc%2FAWSLogs/1/vpcflowlogs/x.log.gz");
        eventbridge.fallback_key = Some("vpc/AWSLogs/1/vpcflowlogs/x.log.gz".into());
        let scope = Scope {
            bucket: None,
            prefix: Some("vpc/".into()),
        };
        assert_eq!(scope.excludes(&eventbridge), None);
    }
}
