//! The network-changing port: block a network, release it, and say where a block lives and
//! how to undo it by hand. Two implementations over lower ports of their own: a WAF IP set
//! ([`waf`], lock-token protocol) and a network ACL ([`nacl`], reserved rule numbers). Each
//! lower port has an SDK adapter and an in-memory fake.

pub mod nacl;
mod nacl_sdk;
pub mod waf;
mod waf_sdk;

use std::future::Future;

use flowlog_core::IpNet;

pub use nacl_sdk::SdkNetworkAcls;
pub use waf_sdk::SdkIpSets;

/// A call to AWS failed (after the SDK's own retries).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} on {resource} failed: {message}")]
pub struct ApiError {
    /// The API operation.
    pub operation: &'static str,
    /// The IP set or ACL.
    pub resource: String,
    /// The service's code and message, or the transport error, with what to check.
    pub message: String,
}

/// A block or release that did not happen now; the invocation fails and is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FirewallError {
    /// An API call failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Others kept changing the IP set: every lock token went stale.
    #[error(
        "{resource}: the IP set changed under every one of {attempts} updates (WAFOptimisticLockException); retried later"
    )]
    Contended {
        /// The IP set.
        resource: String,
        /// Updates tried.
        attempts: u32,
    },
}

/// What a block did, or would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Blocked (or would be): in the ACL, under this rule number.
    Placed {
        /// The ACL rule number (NACL only).
        rule_number: Option<i32>,
        /// It was blocked already (a retry after a crash, or someone else's entry).
        already: bool,
    },
    /// Cannot be blocked here, for a reason retrying does not change: reported, not retried.
    Refused(String),
}

/// What a release did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The entry was removed.
    Removed,
    /// It was not there (removed by hand, or by a release that crashed before recording it).
    AlreadyGone,
}

/// Where a block lives, for reports and undo commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// In a WAF IP set.
    Waf {
        /// `REGIONAL` / `CLOUDFRONT`.
        scope: &'static str,
        /// The set's name.
        name: String,
        /// The set's id.
        id: String,
        /// The region its API is called in.
        region: String,
    },
    /// In a network ACL.
    Nacl {
        /// `acl-...`.
        acl_id: String,
        /// The entry's rule number, when known.
        rule_number: Option<i32>,
        /// The ACL's region.
        region: String,
    },
}

/// Blocks and releases networks.
pub trait Firewall: Send + Sync {
    /// What [`Firewall::block`] would do, reading only (for `DRY_RUN`).
    fn plan(&self, net: IpNet) -> impl Future<Output = Result<Outcome, FirewallError>> + Send;

    /// Blocks `net`; idempotent (a network already blocked is reported as such).
    fn block(&self, net: IpNet) -> impl Future<Output = Result<Outcome, FirewallError>> + Send;

    /// Releases `net` (blocked under `rule_number`, for an ACL); idempotent, and never removes
    /// an entry that is not this block's.
    fn release(
        &self,
        net: IpNet,
        rule_number: Option<i32>,
    ) -> impl Future<Output = Result<Removal, FirewallError>> + Send;

    /// Where the block of `net` lives.
    fn locate(&self, net: IpNet, rule_number: Option<i32>) -> Location;

    /// `waf` or `nacl`.
    fn kind(&self) -> &'static str;

    /// What it blocks in, as a name: `waf-REGIONAL-<IPv4 set id>-<IPv6 set id>`, `nacl-<ACL id>`.
    fn target(&self) -> String;
}
