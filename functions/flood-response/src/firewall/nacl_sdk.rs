//! The [`NetworkAcls`] port over the EC2 API.

use aws_sdk_ec2::types::RuleAction;
use flowlog_core::IpNet;
use flowlog_lambda::aws::{code, describe};

use super::ApiError;
use super::nacl::{AclEntry, CreateError, NetworkAcls};

/// Network ACL entries through the SDK (standard retries for throttling).
#[derive(Debug, Clone)]
pub struct SdkNetworkAcls {
    ec2: aws_sdk_ec2::Client,
}

impl SdkNetworkAcls {
    /// Calls through `ec2`.
    pub fn new(ec2: aws_sdk_ec2::Client) -> Self {
        SdkNetworkAcls { ec2 }
    }
}

fn failure(operation: &'static str, acl_id: &str, message: String) -> ApiError {
    let hint = match message.split(':').next().unwrap_or_default() {
        "UnauthorizedOperation" => {
            " (the role needs ec2:DescribeNetworkAcls on *, and ec2:CreateNetworkAclEntry / \
             ec2:DeleteNetworkAclEntry on this ACL's ARN)"
        }
        "InvalidNetworkAclID.NotFound" => " (check NACL_ID and the function's region)",
        _ => "",
    };
    ApiError {
        operation,
        resource: acl_id.to_owned(),
        message: format!("{message}{hint}"),
    }
}

impl NetworkAcls for SdkNetworkAcls {
    async fn entries(&self, acl_id: &str) -> Result<Vec<AclEntry>, ApiError> {
        let out = self
            .ec2
            .describe_network_acls()
            .network_acl_ids(acl_id)
            .send()
            .await
            .map_err(|e| failure("DescribeNetworkAcls", acl_id, describe(&e)))?;
        let Some(acl) = out.network_acls().first() else {
            return Err(failure(
                "DescribeNetworkAcls",
                acl_id,
                "InvalidNetworkAclID.NotFound: no such ACL".into(),
            ));
        };
        Ok(acl
            .entries()
            .iter()
            .filter_map(|e| {
                let cidr = e.cidr_block().or(e.ipv6_cidr_block());
                Some(AclEntry {
                    rule_number: e.rule_number()?,
                    egress: e.egress().unwrap_or(false),
                    allow: e.rule_action() == Some(&RuleAction::Allow),
                    cidr: cidr.and_then(|c| flowlog_core::parse_cidr(c).ok()),
                })
            })
            .collect())
    }

    async fn create_deny(
        &self,
        acl_id: &str,
        rule_number: i32,
        net: IpNet,
    ) -> Result<(), CreateError> {
        let request = self
            .ec2
            .create_network_acl_entry()
            .network_acl_id(acl_id)
            .rule_number(rule_number)
            .protocol("-1")
            .rule_action(RuleAction::Deny)
            .egress(false);
        let request = match net {
            IpNet::V4(_) => request.cidr_block(net.to_string()),
            IpNet::V6(_) => request.ipv6_cidr_block(net.to_string()),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("NetworkAclEntryAlreadyExists") => Err(CreateError::Exists),
            Err(e) if code(&e) == Some("NetworkAclEntryLimitExceeded") => {
                Err(CreateError::LimitExceeded)
            }
            Err(e) => Err(failure("CreateNetworkAclEntry", acl_id, describe(&e)).into()),
        }
    }

    async fn delete(&self, acl_id: &str, rule_number: i32) -> Result<(), ApiError> {
        self.ec2
            .delete_network_acl_entry()
            .network_acl_id(acl_id)
            .rule_number(rule_number)
            .egress(false)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failure("DeleteNetworkAclEntry", acl_id, describe(&e)))
    }
}
