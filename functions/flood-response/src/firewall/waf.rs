//! Blocking in WAF IP sets (one for IPv4, one for IPv6) with the lock-token protocol WAF
//! requires: read the set and its token, write the whole new list with that token, and when WAF
//! answers `WAFOptimisticLockException` (someone changed the set in between) read again and
//! retry, with bounded, jittered exponential backoff.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use flowlog_core::IpNet;

use super::{ApiError, Firewall, FirewallError, Location, Outcome, Removal};
use crate::config::{IpSetRef, WafScope, WafSettings};

/// Addresses one IP set holds at most (a WAF quota that cannot be raised).
pub const MAX_ADDRESSES_PER_SET: usize = 10_000;

/// An IP set as read, with the token its next update must carry; and the set an update
/// writes, with the token read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpSetView {
    /// Its addresses (CIDRs, as WAF returns them).
    pub addresses: Vec<String>,
    /// Its description, which an update must send again (an update replaces everything).
    pub description: Option<String>,
    /// The lock token.
    pub lock_token: String,
}

/// Why an update did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    /// The token is stale: someone changed the set since it was read.
    #[error("WAFOptimisticLockException: the IP set changed since it was read")]
    StaleToken,
    /// WAF refused the size of the set.
    #[error("the IP set is full: {0}")]
    Full(String),
    /// Anything else.
    #[error(transparent)]
    Failed(#[from] ApiError),
}

/// The WAF API, as far as IP sets go.
pub trait IpSets: Send + Sync {
    /// `GetIPSet`.
    fn get(&self, set: &IpSetRef) -> impl Future<Output = Result<IpSetView, ApiError>> + Send;

    /// `UpdateIPSet`: `next`'s addresses and description replace the set's, with
    /// `next.lock_token`.
    fn update(
        &self,
        set: &IpSetRef,
        next: IpSetView,
    ) -> impl Future<Output = Result<(), UpdateError>> + Send;
}

/// How stale-token conflicts are retried.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Updates tried in all.
    pub attempts: u32,
    /// The first wait; each next one doubles, with full jitter, up to [`Backoff::max`].
    pub base: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    /// Six updates over at most about six seconds.
    fn default() -> Backoff {
        Backoff {
            attempts: 6,
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
        }
    }
}

impl Backoff {
    /// The wait before retry number `retry` (0-based): uniform in [0, min(max, base × 2^retry)].
    pub fn wait(&self, retry: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1 << retry.min(16))
            .min(self.max)
            .as_micros() as u64;
        let jitter = RandomState::new().hash_one(retry) % (ceiling + 1);
        Duration::from_micros(jitter)
    }
}

/// The WAF response: IPv4 sources into one set, IPv6 sources and /64s into the other.
#[derive(Debug, Clone)]
pub struct WafFirewall<P> {
    sets: P,
    settings: WafSettings,
    region: String,
    backoff: Backoff,
}

impl<P: IpSets> WafFirewall<P> {
    /// The sets of `settings`, called in `region` (us-east-1 for CLOUDFRONT, whatever is given).
    pub fn new(sets: P, settings: WafSettings, region: &str, backoff: Backoff) -> Self {
        let region = match settings.scope {
            WafScope::CloudFront => "us-east-1".to_owned(),
            WafScope::Regional => region.to_owned(),
        };
        WafFirewall {
            sets,
            settings,
            region,
            backoff,
        }
    }

    fn set_for(&self, net: IpNet) -> Result<&IpSetRef, String> {
        let (set, family, var) = match net {
            IpNet::V4(_) => (&self.settings.ipv4, "IPv4", "WAF_IPV4_SET_NAME/ID"),
            IpNet::V6(_) => (&self.settings.ipv6, "IPv6", "WAF_IPV6_SET_NAME/ID"),
        };
        set.as_ref()
            .ok_or_else(|| format!("no {family} IP set is configured ({var})"))
    }

    /// Reads the set, changes its list with `change` (None: nothing to write), and writes it
    /// with the token read, again while the token goes stale.
    async fn modify(
        &self,
        set: &IpSetRef,
        change: impl Fn(&[String]) -> Result<Option<Vec<String>>, String>,
    ) -> Result<Result<bool, String>, FirewallError> {
        for attempt in 0..self.backoff.attempts {
            if attempt > 0 {
                tokio::time::sleep(self.backoff.wait(attempt - 1)).await;
            }
            let view = self.sets.get(set).await?;
            let addresses = match change(&view.addresses) {
                Ok(Some(addresses)) => addresses,
                Ok(None) => return Ok(Ok(false)),
                Err(refusal) => return Ok(Err(refusal)),
            };
            match self.sets.update(set, IpSetView { addresses, ..view }).await {
                Ok(()) => return Ok(Ok(true)),
                Err(UpdateError::StaleToken) => {
                    tracing::info!(set = %set.name, attempt, "IP set changed since read: retrying");
                }
                Err(UpdateError::Full(why)) => return Ok(Err(why)),
                Err(UpdateError::Failed(e)) => return Err(e.into()),
            }
        }
        Err(FirewallError::Contended {
            resource: format!("IP set {} ({})", set.name, set.id),
            attempts: self.backoff.attempts,
        })
    }
}

/// Whether `text` (an address of the set) is `net`.
fn is(text: &str, net: IpNet) -> bool {
    flowlog_core::parse_cidr(text).is_ok_and(|n| n == net)
}

fn adding(addresses: &[String], net: IpNet) -> Result<Option<Vec<String>>, String> {
    if addresses.iter().any(|a| is(a, net)) {
        return Ok(None);
    }
    if addresses.len() >= MAX_ADDRESSES_PER_SET {
        return Err(format!(
            "the IP set holds {} addresses, the WAF maximum",
            addresses.len()
        ));
    }
    let mut next = addresses.to_vec();
    next.push(net.to_string());
    Ok(Some(next))
}

impl<P: IpSets> Firewall for WafFirewall<P> {
    async fn plan(&self, net: IpNet) -> Result<Outcome, FirewallError> {
        let set = match self.set_for(net) {
            Ok(set) => set,
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        };
        let view = self.sets.get(set).await?;
        Ok(match adding(&view.addresses, net) {
            Ok(change) => Outcome::Placed {
                rule_number: None,
                already: change.is_none(),
            },
            Err(refusal) => Outcome::Refused(refusal),
        })
    }

    async fn block(&self, net: IpNet) -> Result<Outcome, FirewallError> {
        let set = match self.set_for(net) {
            Ok(set) => set,
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        };
        Ok(match self.modify(set, |a| adding(a, net)).await? {
            Ok(written) => Outcome::Placed {
                rule_number: None,
                already: !written,
            },
            Err(refusal) => Outcome::Refused(refusal),
        })
    }

    async fn release(&self, net: IpNet, _rule: Option<i32>) -> Result<Removal, FirewallError> {
        let Ok(set) = self.set_for(net) else {
            return Ok(Removal::AlreadyGone);
        };
        let removing = |addresses: &[String]| {
            let kept: Vec<String> = addresses.iter().filter(|a| !is(a, net)).cloned().collect();
            Ok((kept.len() != addresses.len()).then_some(kept))
        };
        Ok(match self.modify(set, removing).await? {
            Ok(true) => Removal::Removed,
            Ok(false) | Err(_) => Removal::AlreadyGone,
        })
    }

    fn locate(&self, net: IpNet, _rule: Option<i32>) -> Location {
        let (name, id) = match self.set_for(net) {
            Ok(set) => (set.name.clone(), set.id.clone()),
            Err(_) => (String::new(), String::new()),
        };
        Location::Waf {
            scope: self.settings.scope.as_str(),
            name,
            id,
            region: self.region.clone(),
        }
    }

    fn kind(&self) -> &'static str {
        "waf"
    }

    fn target(&self) -> String {
        let id = |set: &Option<IpSetRef>| set.as_ref().map_or("none", |s| s.id.as_str()).to_owned();
        format!(
            "waf-{}-{}-{}",
            self.settings.scope.as_str(),
            id(&self.settings.ipv4),
            id(&self.settings.ipv6)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::MemoryIpSets;

    fn settings() -> WafSettings {
        WafSettings {
            scope: WafScope::Regional,
            ipv4: Some(IpSetRef {
                name: "block-v4".into(),
                id: "v4id".into(),
            }),
            ipv6: None,
        }
    }

    fn firewall(sets: &MemoryIpSets) -> WafFirewall<MemoryIpSets> {
        let backoff = Backoff {
            attempts: 4,
            base: Duration::from_millis(1),
            max: Duration::from_millis(4),
        };
        WafFirewall::new(sets.clone(), settings(), "eu-west-1", backoff)
    }

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[tokio::test]
    async fn a_block_adds_the_network_and_keeps_the_others_and_the_description() {
        let sets = MemoryIpSets::with("v4id", &["198.51.100.0/24"], Some("blocklist"));
        let outcome = firewall(&sets).block(net("203.0.113.7/32")).await.unwrap();
        assert_eq!(
            outcome,
            Outcome::Placed {
                rule_number: None,
                already: false
            }
        );
        assert_eq!(
            sets.addresses("v4id"),
            ["198.51.100.0/24", "203.0.113.7/32"]
        );
        assert_eq!(sets.description("v4id").as_deref(), Some("blocklist"));
        let again = firewall(&sets).block(net("203.0.113.7/32")).await.unwrap();
        assert!(matches!(again, Outcome::Placed { already: true, .. }));
        assert_eq!(sets.updates(), 1);
    }

    #[tokio::test]
    async fn a_stale_lock_token_is_read_again_and_retried_without_losing_the_other_change() {
        let sets = MemoryIpSets::with("v4id", &[], None);
        // Two concurrent writers add their own addresses before each of our first two updates.
        sets.interfere("v4id", &["192.0.2.1/32", "192.0.2.2/32"]);
        firewall(&sets).block(net("203.0.113.7/32")).await.unwrap();
        assert_eq!(
            sets.addresses("v4id"),
            ["192.0.2.1/32", "192.0.2.2/32", "203.0.113.7/32"]
        );
        assert_eq!(sets.stale_updates(), 2);
    }

    #[tokio::test]
    async fn a_set_that_keeps_changing_fails_after_the_bounded_attempts() {
        let sets = MemoryIpSets::with("v4id", &[], None);
        let others: Vec<String> = (1..=10).map(|i| format!("192.0.2.{i}/32")).collect();
        sets.interfere(
            "v4id",
            &others.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let error = firewall(&sets)
            .block(net("203.0.113.7/32"))
            .await
            .unwrap_err();
        assert!(
            matches!(error, FirewallError::Contended { attempts: 4, .. }),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_release_removes_only_the_network_and_a_missing_one_is_already_gone() {
        let sets = MemoryIpSets::with("v4id", &["198.51.100.0/24", "203.0.113.7/32"], None);
        let fw = firewall(&sets);
        assert_eq!(
            fw.release(net("203.0.113.7/32"), None).await.unwrap(),
            Removal::Removed
        );
        assert_eq!(sets.addresses("v4id"), ["198.51.100.0/24"]);
        assert_eq!(
            fw.release(net("203.0.113.7/32"), None).await.unwrap(),
            Removal::AlreadyGone
        );
    }

    #[tokio::test]
    async fn a_family_without_a_set_and_a_full_set_are_refused() {
        let sets = MemoryIpSets::with("v4id", &[], None);
        let outcome = firewall(&sets).block(net("2001:db8::7/128")).await.unwrap();
        assert!(matches!(outcome, Outcome::Refused(why) if why.contains("WAF_IPV6_SET")));
        let full: Vec<String> = (0..MAX_ADDRESSES_PER_SET)
            .map(|i| format!("10.{}.{}.{}/32", i >> 16, (i >> 8) & 255, i & 255))
            .collect();
        let sets = MemoryIpSets::with(
            "v4id",
            &full.iter().map(String::as_str).collect::<Vec<_>>(),
            None,
        );
        let outcome = firewall(&sets).plan(net("203.0.113.7/32")).await.unwrap();
        assert!(matches!(outcome, Outcome::Refused(why) if why.contains("10000")));
    }

    #[test]
    fn backoff_waits_grow_and_stay_bounded() {
        let b = Backoff::default();
        for retry in 0..20 {
            assert!(b.wait(retry) <= b.max);
        }
        assert!(b.wait(0) <= b.base);
    }
}
