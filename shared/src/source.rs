//! The subjects of aggregation: source addresses (IPv4-mapped IPv6 folded into IPv4, IPv6 also
//! rolled up per /64), and where a record was captured relative to them.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

use crate::addr::Addr;
use serde::{Serialize, Serializer};

/// An address, or an IPv6 /64 network standing for every address in it (one attacker rotating
/// through its /64 is one source).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// One IPv4 or IPv6 address.
    Addr(IpAddr),
    /// The /64 network with this (masked) address.
    Net64(Ipv6Addr),
}

impl Source {
    /// The address, or the /64's network address.
    pub fn address(&self) -> IpAddr {
        match *self {
            Source::Addr(ip) => ip,
            Source::Net64(net) => IpAddr::V6(net),
        }
    }

    /// Whether an allowlisted network covers it (a /64 only when the network covers it all).
    pub fn is_in(&self, net: &IpNet) -> bool {
        match (*self, net) {
            (Source::Addr(ip), _) => net.contains(&ip),
            (Source::Net64(n), IpNet::V6(v6)) => v6.prefix_len() <= 64 && v6.contains(&n),
            (Source::Net64(_), IpNet::V4(_)) => false,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Addr(ip) => write!(f, "{ip}"),
            Source::Net64(net) => write!(f, "{net}/64"),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Text that is neither an address nor an IPv6 `network/64`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an address or an IPv6 /64")]
pub struct SourceError(String);

impl std::str::FromStr for Source {
    type Err = SourceError;

    fn from_str(text: &str) -> Result<Source, SourceError> {
        let bad = || SourceError(text.into());
        match text.strip_suffix("/64") {
            Some(net) => net.parse().map(Source::Net64).map_err(|_| bad()),
            None => text.parse().map(Source::Addr).map_err(|_| bad()),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Source, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a record was captured relative to the address it is counted for.
///
/// A connection is logged at every interface it crosses: both ends inside the VPC, and the
/// relays (NAT gateway, load balancer) between. Each vantage alone sees the whole of what an
/// address sends through it, so an address is counted separately per vantage and its figures
/// are the largest of them (see [`crate::SourceView`]), never their sum.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Vantage {
    /// At the address's own interface.
    Own,
    /// At another interface (its peer's), or not known.
    Peer,
    /// A leg forwarded by a relay (`pkt-srcaddr` or `pkt-dstaddr` differs from the
    /// interface's addresses), leaving the interface that captured it.
    ForwardedOut,
    /// A forwarded leg arriving at the interface that captured it (or of unknown direction).
    ForwardedIn,
}

impl Vantage {
    /// Every vantage, in index order.
    pub(crate) const ALL: [Vantage; 4] = [
        Vantage::Own,
        Vantage::Peer,
        Vantage::ForwardedOut,
        Vantage::ForwardedIn,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Which way a record crossed the interface that captured it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Leaving it: `srcaddr` is the interface's own address.
    Egress,
    /// Arriving: `dstaddr` is the interface's own address.
    Ingress,
}

impl Direction {
    /// Reads `flow-direction`.
    pub(crate) fn parse(token: &[u8]) -> Option<Direction> {
        match token {
            b"egress" => Some(Direction::Egress),
            b"ingress" => Some(Direction::Ingress),
            _ => None,
        }
    }
}

/// Interfaces remembered for learning their own address (the default format has no
/// `flow-direction`) at most; past the limit (this, or less within a memory budget), records of
/// new interfaces have no known direction.
pub(crate) const MAX_INTERFACES: usize = 100_000;

/// Memory one learnt interface takes (its entry and its owner's, with hash-table slack).
pub(crate) const INTERFACE_BYTES: usize =
    2 * (std::mem::size_of::<(u64, [Learning; 2])>() + std::mem::size_of::<(Addr, u64)>() + 2);

/// The own address of each interface, learnt from its records: every record an interface
/// captures has the interface's address as `srcaddr` (egress) or `dstaddr` (ingress), so the
/// address two records share is the interface's. An interface that only ever talks to one peer
/// is told apart once that peer is known to own another interface.
#[derive(Debug)]
pub(crate) struct Interfaces {
    learnt: std::collections::HashMap<u64, [Learning; 2], foldhash::fast::RandomState>,
    owners: std::collections::HashMap<Addr, u64, foldhash::fast::RandomState>,
    limit: usize,
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) enum Learning {
    #[default]
    Unknown,
    Candidates(Addr, Addr),
    Owner(Addr),
}

impl Interfaces {
    /// Remembers at most `limit` interfaces.
    pub(crate) fn new(limit: usize) -> Interfaces {
        Interfaces {
            learnt: Default::default(),
            owners: Default::default(),
            limit,
        }
    }

    /// The direction of a record captured at interface `id` (a hash of its `interface-id`).
    #[inline]
    pub(crate) fn direction(&mut self, id: u64, src: Addr, dst: Addr) -> Option<Direction> {
        if self.learnt.len() >= self.limit && !self.learnt.contains_key(&id) {
            return None;
        }
        let owners = &mut self.owners;
        let slot = &mut self.learnt.entry(id).or_default()[usize::from(!src.is_v4())];
        let elsewhere = |a: Addr| owners.get(&a).is_some_and(|&other| other != id);
        let mut learnt = false;
        let owner = match *slot {
            Learning::Owner(owner) => owner,
            Learning::Unknown => {
                *slot = Learning::Candidates(src, dst);
                return None;
            }
            Learning::Candidates(a, b) => {
                let (a_hit, b_hit) = (a == src || a == dst, b == src || b == dst);
                match (a_hit, b_hit) {
                    (true, false) => {
                        *slot = Learning::Owner(a);
                        learnt = true;
                        a
                    }
                    (false, true) => {
                        *slot = Learning::Owner(b);
                        learnt = true;
                        b
                    }
                    (false, false) => {
                        *slot = Learning::Candidates(src, dst);
                        return None;
                    }
                    (true, true) if elsewhere(a) && !elsewhere(b) => {
                        *slot = Learning::Owner(b);
                        learnt = true;
                        b
                    }
                    (true, true) if elsewhere(b) && !elsewhere(a) => {
                        *slot = Learning::Owner(a);
                        learnt = true;
                        a
                    }
                    (true, true) => return None,
                }
            }
        };
        if learnt && owners.len() < self.limit {
            owners.entry(owner).or_insert(id);
        }
        if owner == src {
            Some(Direction::Egress)
        } else if owner == dst {
            Some(Direction::Ingress)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn addr(s: &str) -> Addr {
        Addr::from(ip(s))
    }

    #[test]
    fn a_net64_prints_and_matches_as_a_network() {
        let s = Source::Net64("2001:db8:1:2::".parse().unwrap());
        assert_eq!(s.to_string(), "2001:db8:1:2::/64");
        assert!(s.is_in(&"2001:db8::/32".parse().unwrap()));
        assert!(!s.is_in(&"2001:db8:1:2:aaaa::/80".parse().unwrap()));
        assert!(Source::Addr(ip("10.1.2.3")).is_in(&"10.0.0.0/8".parse().unwrap()));
    }

    #[test]
    fn an_interface_address_is_learnt_from_two_records() {
        let mut ifs = Interfaces::new(MAX_INTERFACES);
        let (me, a, b) = (addr("10.0.1.5"), addr("198.51.100.1"), addr("198.51.100.2"));
        assert_eq!(ifs.direction(1, a, me), None);
        assert_eq!(ifs.direction(1, me, b), Some(Direction::Egress));
        assert_eq!(ifs.direction(1, a, me), Some(Direction::Ingress));
        // Another family on the same interface is learnt on its own.
        let (me6, c) = (addr("2600:1f18::5"), addr("2a01:4f8::1"));
        assert_eq!(ifs.direction(1, c, me6), None);
        assert_eq!(ifs.direction(1, me6, c), None, "the same pair says nothing");
        assert_eq!(
            ifs.direction(1, addr("2a01:4f8::2"), me6),
            Some(Direction::Ingress)
        );
    }

    #[test]
    fn an_interface_with_one_peer_is_learnt_once_the_peer_owns_another() {
        let mut ifs = Interfaces::new(MAX_INTERFACES);
        let (web, api, other) = (addr("10.0.1.10"), addr("10.0.2.20"), addr("10.0.1.99"));
        // Interface 1 (web) only talks to the API: ambiguous on its own.
        assert_eq!(ifs.direction(1, web, api), None);
        assert_eq!(ifs.direction(1, api, web), None);
        // Interface 2 is learnt to be the API's.
        assert_eq!(ifs.direction(2, web, api), None);
        assert_eq!(ifs.direction(2, other, api), Some(Direction::Ingress));
        // So interface 1 is the web server's.
        assert_eq!(ifs.direction(1, web, api), Some(Direction::Egress));
    }
}
