//! Blocking in a network ACL: an inbound DENY entry for the network (all protocols), under the
//! lowest free rule number of a reserved range, so it is evaluated before the ACL's allow rules
//! above the range. Rule numbers are one sequence per direction for IPv4 and IPv6 entries alike.
//!
//! The ACL is read before every change: a block that is already there (a retry after a crash)
//! is adopted, a number taken meanwhile by another writer (`NetworkAclEntryAlreadyExists`) makes
//! it read again and pick the next, and a release deletes an entry only when it is still this
//! block's DENY (never a rule someone put in its place) and only when it exists (deleting a
//! missing entry is an error in AWS, and an HTTP 500 in moto).

use std::future::Future;
use std::ops::RangeInclusive;

use flowlog_core::IpNet;

use super::{ApiError, Firewall, FirewallError, Location, Outcome, Removal};
use crate::config::NaclSettings;

/// Rules per direction per ACL by default (an adjustable quota, up to 40), counted separately
/// for IPv4 and IPv6 and including the default `*` deny rule.
pub const DEFAULT_RULES_PER_DIRECTION: usize = 20;

/// One entry of an ACL, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclEntry {
    /// Its rule number.
    pub rule_number: i32,
    /// Outbound.
    pub egress: bool,
    /// ALLOW (else DENY).
    pub allow: bool,
    /// Its IPv4 or IPv6 CIDR.
    pub cidr: Option<IpNet>,
}

/// Why an entry was not created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateError {
    /// The rule number is taken (`NetworkAclEntryAlreadyExists`).
    #[error("NetworkAclEntryAlreadyExists")]
    Exists,
    /// The ACL has as many entries as its quota allows (`NetworkAclEntryLimitExceeded`).
    #[error("NetworkAclEntryLimitExceeded")]
    LimitExceeded,
    /// Anything else.
    #[error(transparent)]
    Failed(#[from] ApiError),
}

/// The EC2 API, as far as one network ACL's entries go.
pub trait NetworkAcls: Send + Sync {
    /// The ACL's entries (`DescribeNetworkAcls`).
    fn entries(&self, acl_id: &str)
    -> impl Future<Output = Result<Vec<AclEntry>, ApiError>> + Send;

    /// An inbound DENY of every protocol from `net` (`CreateNetworkAclEntry`).
    fn create_deny(
        &self,
        acl_id: &str,
        rule_number: i32,
        net: IpNet,
    ) -> impl Future<Output = Result<(), CreateError>> + Send;

    /// Deletes inbound entry `rule_number` (`DeleteNetworkAclEntry`).
    fn delete(
        &self,
        acl_id: &str,
        rule_number: i32,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}

/// Attempts at a free rule number when other writers keep taking them.
const CREATE_ATTEMPTS: usize = 5;

/// The network ACL response.
#[derive(Debug, Clone)]
pub struct NaclFirewall<P> {
    acls: P,
    settings: NaclSettings,
    region: String,
}

/// What the ACL's inbound entries say about blocking `net` with a number of `range`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    /// Our DENY for it is there.
    Present(i32),
    /// This number is free and ahead of every ALLOW that covers it.
    Free(i32),
    /// It cannot be placed.
    Refused(String),
}

fn slot(entries: &[AclEntry], net: IpNet, range: &RangeInclusive<i32>) -> Slot {
    let inbound: Vec<&AclEntry> = entries.iter().filter(|e| !e.egress).collect();
    if let Some(ours) = inbound
        .iter()
        .find(|e| !e.allow && e.cidr == Some(net) && range.contains(&e.rule_number))
    {
        return Slot::Present(ours.rule_number);
    }
    let Some(free) = range
        .clone()
        .find(|n| inbound.iter().all(|e| e.rule_number != *n))
    else {
        return Slot::Refused(format!(
            "every rule number of NACL_RULE_RANGE {}-{} is taken",
            range.start(),
            range.end()
        ));
    };
    if let Some(allow) = inbound
        .iter()
        .filter(|e| e.allow && e.rule_number < free)
        .find(|e| e.cidr.is_some_and(|c| c.contains(&net)))
    {
        return Slot::Refused(format!(
            "inbound rule {} allows {} before any rule this function may use ({free}): \
             move NACL_RULE_RANGE below it",
            allow.rule_number,
            allow.cidr.map(|c| c.to_string()).unwrap_or_default()
        ));
    }
    Slot::Free(free)
}

/// Inbound entries of `net`'s address family (what AWS's per-direction quota counts).
pub(crate) fn same_family(entries: &[AclEntry], net: IpNet) -> usize {
    entries
        .iter()
        .filter(|e| !e.egress)
        .filter(|e| {
            e.cidr
                .is_some_and(|c| c.addr().is_ipv4() == net.addr().is_ipv4())
        })
        .count()
}

/// Why `net` is refused when its family's inbound entries fill the default quota.
fn full(entries: &[AclEntry], net: IpNet) -> String {
    let inbound = entries.iter().filter(|e| !e.egress).count();
    let same_family = same_family(entries, net);
    format!(
        "the ACL has {same_family} inbound entries of this address family ({inbound} in all); \
         AWS allows {DEFAULT_RULES_PER_DIRECTION} per direction and family by default, the \
         default deny included (a quota increase allows up to 40)"
    )
}

impl<P: NetworkAcls> NaclFirewall<P> {
    /// The ACL of `settings`, in `region`.
    pub fn new(acls: P, settings: NaclSettings, region: &str) -> Self {
        NaclFirewall {
            acls,
            settings,
            region: region.to_owned(),
        }
    }

    fn acl(&self) -> &str {
        &self.settings.acl_id
    }
}

impl<P: NetworkAcls> Firewall for NaclFirewall<P> {
    async fn plan(&self, net: IpNet) -> Result<Outcome, FirewallError> {
        let entries = self.acls.entries(self.acl()).await?;
        Ok(match slot(&entries, net, &self.settings.rules) {
            // The quota may have been raised: a live block asks AWS; a dry run warns.
            Slot::Free(_) if same_family(&entries, net) >= DEFAULT_RULES_PER_DIRECTION => {
                Outcome::Refused(full(&entries, net))
            }
            Slot::Present(n) => Outcome::Placed {
                rule_number: Some(n),
                already: true,
            },
            Slot::Free(n) => Outcome::Placed {
                rule_number: Some(n),
                already: false,
            },
            Slot::Refused(why) => Outcome::Refused(why),
        })
    }

    async fn block(&self, net: IpNet) -> Result<Outcome, FirewallError> {
        for _ in 0..CREATE_ATTEMPTS {
            let entries = self.acls.entries(self.acl()).await?;
            let number = match slot(&entries, net, &self.settings.rules) {
                Slot::Present(n) => {
                    return Ok(Outcome::Placed {
                        rule_number: Some(n),
                        already: true,
                    });
                }
                Slot::Refused(why) => return Ok(Outcome::Refused(why)),
                Slot::Free(n) => n,
            };
            match self.acls.create_deny(self.acl(), number, net).await {
                Ok(()) => {
                    return Ok(Outcome::Placed {
                        rule_number: Some(number),
                        already: false,
                    });
                }
                Err(CreateError::Exists) => {
                    tracing::info!(
                        acl = self.acl(),
                        number,
                        "rule number taken meanwhile: reading again"
                    );
                }
                Err(CreateError::LimitExceeded) => {
                    return Ok(Outcome::Refused(full(&entries, net)));
                }
                Err(CreateError::Failed(e)) => return Err(e.into()),
            }
        }
        Err(ApiError {
            operation: "CreateNetworkAclEntry",
            resource: self.acl().to_owned(),
            message: format!(
                "every free rule number was taken by another writer {CREATE_ATTEMPTS} times"
            ),
        }
        .into())
    }

    async fn release(&self, net: IpNet, rule: Option<i32>) -> Result<Removal, FirewallError> {
        let entries = self.acls.entries(self.acl()).await?;
        let ours = |e: &&AclEntry| {
            !e.egress
                && !e.allow
                && e.cidr == Some(net)
                && self.settings.rules.contains(&e.rule_number)
        };
        // The recorded number first; any of our DENYs for it otherwise (recorded before the
        // number was known).
        let found = entries
            .iter()
            .filter(ours)
            .find(|e| Some(e.rule_number) == rule)
            .or_else(|| entries.iter().find(|e| ours(e)));
        let Some(entry) = found else {
            return Ok(Removal::AlreadyGone);
        };
        self.acls.delete(self.acl(), entry.rule_number).await?;
        Ok(Removal::Removed)
    }

    fn locate(&self, _net: IpNet, rule_number: Option<i32>) -> Location {
        Location::Nacl {
            acl_id: self.settings.acl_id.clone(),
            rule_number,
            region: self.region.clone(),
        }
    }

    fn kind(&self) -> &'static str {
        "nacl"
    }

    fn target(&self) -> String {
        format!("nacl-{}", self.settings.acl_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::MemoryAcls;

    fn firewall(acls: &MemoryAcls, rules: RangeInclusive<i32>) -> NaclFirewall<MemoryAcls> {
        let settings = NaclSettings {
            acl_id: "acl-1".into(),
            rules,
        };
        NaclFirewall::new(acls.clone(), settings, "us-east-1")
    }

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    fn allow(rule_number: i32, cidr: &str) -> AclEntry {
        AclEntry {
            rule_number,
            egress: false,
            allow: true,
            cidr: Some(net(cidr)),
        }
    }

    #[tokio::test]
    async fn a_block_takes_the_lowest_free_number_of_the_range_and_is_adopted_on_retry() {
        let acls = MemoryAcls::with(
            "acl-1",
            vec![
                allow(100, "0.0.0.0/0"),
                allow(101, "::/0"),
                allow(2, "192.0.2.0/24"),
            ],
        );
        let fw = firewall(&acls, 1..=99);
        assert_eq!(
            fw.block(net("203.0.113.7/32")).await.unwrap(),
            Outcome::Placed {
                rule_number: Some(1),
                already: false
            }
        );
        assert_eq!(
            fw.block(net("2001:db8::7/128")).await.unwrap(),
            Outcome::Placed {
                rule_number: Some(3),
                already: false
            }
        );
        assert_eq!(
            fw.block(net("203.0.113.7/32")).await.unwrap(),
            Outcome::Placed {
                rule_number: Some(1),
                already: true
            }
        );
        assert_eq!(acls.creates(), 2);
    }

    #[tokio::test]
    async fn a_number_taken_meanwhile_makes_it_pick_the_next() {
        let acls = MemoryAcls::with("acl-1", vec![allow(100, "0.0.0.0/0")]);
        acls.take_before_next_create("acl-1", 1);
        let outcome = firewall(&acls, 1..=99)
            .block(net("203.0.113.7/32"))
            .await
            .unwrap();
        assert!(matches!(
            outcome,
            Outcome::Placed {
                rule_number: Some(2),
                ..
            }
        ));
    }

    #[tokio::test]
    async fn an_allow_rule_ahead_of_the_range_a_full_range_and_the_quota_refuse() {
        let acls = MemoryAcls::with("acl-1", vec![allow(5, "0.0.0.0/0")]);
        let outcome = firewall(&acls, 10..=19)
            .plan(net("203.0.113.7/32"))
            .await
            .unwrap();
        assert!(matches!(&outcome, Outcome::Refused(why) if why.contains("inbound rule 5")));

        let acls = MemoryAcls::with(
            "acl-1",
            vec![allow(10, "192.0.2.0/24"), allow(11, "192.0.2.0/24")],
        );
        let outcome = firewall(&acls, 10..=11)
            .block(net("203.0.113.7/32"))
            .await
            .unwrap();
        assert!(matches!(&outcome, Outcome::Refused(why) if why.contains("10-11 is taken")));

        let many: Vec<AclEntry> = (1..=20).map(|n| allow(200 + n, "192.0.2.0/24")).collect();
        let acls = MemoryAcls::with("acl-1", many);
        let outcome = firewall(&acls, 1..=99)
            .block(net("203.0.113.7/32"))
            .await
            .unwrap();
        assert!(matches!(&outcome, Outcome::Refused(why) if why.contains("20 per direction")));
    }

    #[tokio::test]
    async fn a_release_deletes_only_our_deny_and_a_missing_one_is_already_gone() {
        let acls = MemoryAcls::with("acl-1", vec![allow(100, "0.0.0.0/0")]);
        let fw = firewall(&acls, 1..=99);
        fw.block(net("203.0.113.7/32")).await.unwrap();
        // Someone replaced rule 1 by hand with another network: not ours to delete.
        acls.replace("acl-1", 1, net("198.51.100.0/24"));
        assert_eq!(
            fw.release(net("203.0.113.7/32"), Some(1)).await.unwrap(),
            Removal::AlreadyGone
        );
        assert_eq!(acls.rules("acl-1"), [1, 100]);
        fw.block(net("203.0.113.7/32")).await.unwrap();
        assert_eq!(
            fw.release(net("203.0.113.7/32"), Some(2)).await.unwrap(),
            Removal::Removed
        );
        assert_eq!(acls.rules("acl-1"), [1, 100]);
        assert_eq!(acls.deletes(), 1);
    }
}
