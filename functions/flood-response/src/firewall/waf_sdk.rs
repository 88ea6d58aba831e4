//! The [`IpSets`] port over the WAFv2 API.

use aws_sdk_wafv2::error::SdkError;
use aws_sdk_wafv2::types::Scope;
use flowlog_lambda::aws::describe;

use super::ApiError;
use super::waf::{IpSetView, IpSets, UpdateError};
use crate::config::{IpSetRef, WafScope};

/// IP sets through the SDK (standard retries for throttling). For CLOUDFRONT the client must
/// be in us-east-1.
#[derive(Debug, Clone)]
pub struct SdkIpSets {
    waf: aws_sdk_wafv2::Client,
    scope: Scope,
}

impl SdkIpSets {
    /// Calls through `waf` for sets of `scope`.
    pub fn new(waf: aws_sdk_wafv2::Client, scope: WafScope) -> Self {
        let scope = match scope {
            WafScope::Regional => Scope::Regional,
            WafScope::CloudFront => Scope::Cloudfront,
        };
        SdkIpSets { waf, scope }
    }
}

fn failure(operation: &'static str, set: &IpSetRef, message: String) -> ApiError {
    let hint = match message.split(':').next().unwrap_or_default() {
        "AccessDeniedException" => {
            " (the role needs wafv2:GetIPSet and wafv2:UpdateIPSet on this set's ARN)"
        }
        "WAFNonexistentItemException" => {
            " (check the set's name, id and WAF_SCOPE; CLOUDFRONT sets live in us-east-1)"
        }
        _ => "",
    };
    ApiError {
        operation,
        resource: format!("IP set {} ({})", set.name, set.id),
        message: format!("{message}{hint}"),
    }
}

impl IpSets for SdkIpSets {
    async fn get(&self, set: &IpSetRef) -> Result<IpSetView, ApiError> {
        let out = self
            .waf
            .get_ip_set()
            .scope(self.scope.clone())
            .name(&set.name)
            .id(&set.id)
            .send()
            .await
            .map_err(|e| failure("GetIPSet", set, describe(&e)))?;
        let (Some(ip_set), Some(token)) = (out.ip_set(), out.lock_token()) else {
            return Err(failure(
                "GetIPSet",
                set,
                "answer without IPSet or LockToken".into(),
            ));
        };
        Ok(IpSetView {
            addresses: ip_set.addresses().to_vec(),
            description: ip_set.description().map(str::to_owned),
            lock_token: token.to_owned(),
        })
    }

    async fn update(&self, set: &IpSetRef, next: IpSetView) -> Result<(), UpdateError> {
        let sent = self
            .waf
            .update_ip_set()
            .scope(self.scope.clone())
            .name(&set.name)
            .id(&set.id)
            .set_addresses(Some(next.addresses))
            .set_description(next.description)
            .lock_token(next.lock_token)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_waf_optimistic_lock_exception() => {
                Err(UpdateError::StaleToken)
            }
            Err(SdkError::ServiceError(e)) if e.err().is_waf_limits_exceeded_exception() => {
                Err(UpdateError::Full(e.err().to_string()))
            }
            Err(e) => Err(failure("UpdateIPSet", set, describe(&e)).into()),
        }
    }
}
