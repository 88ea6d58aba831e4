//! Who may be blocked: the policy checks before anything is recorded or changed. Pure.

use std::net::IpAddr;

use flowlog_core::{IpNet, Severity, Source};
use flowlog_incidents::{AlertDocument, FloodFinding, Kind};

/// Networks never blocked whatever the settings: they are not the internet's, so a "flood" from
/// them is the VPC's own traffic, AWS's (link-local: instance metadata, DNS, NTP) or a
/// misreading. IANA's special-purpose registries, less what is globally routed and the
/// documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32): those
/// never reach a VPC from the internet, so blocking one harms nobody, and the tests and samples
/// use them as attackers.
pub const NEVER_BLOCKED: &[&str] = &[
    "0.0.0.0/8",      // "this network"
    "10.0.0.0/8",     // RFC 1918
    "100.64.0.0/10",  // RFC 6598 shared address space (carrier-grade NAT)
    "127.0.0.0/8",    // loopback
    "169.254.0.0/16", // link-local (instance metadata, Amazon DNS and time)
    "172.16.0.0/12",  // RFC 1918
    "192.0.0.0/24",   // IETF protocol assignments
    "192.168.0.0/16", // RFC 1918
    "198.18.0.0/15",  // benchmarking
    "224.0.0.0/4",    // multicast
    "240.0.0.0/4",    // reserved, and the limited broadcast address
    "::/128",         // unspecified
    "::1/128",        // loopback
    "::ffff:0:0/96",  // IPv4-mapped (the core folds these to IPv4)
    "100::/64",       // discard-only
    "fc00::/7",       // unique local
    "fe80::/10",      // link-local
    "ff00::/8",       // multicast
];

/// Why a notice blocks nothing; logged, never an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    /// A target under attack from many sources: blocking it would block the victim.
    #[error("a target-kind incident: its subject is the victim, not a source")]
    TargetKind,
    /// A backfill: the flood is in the past.
    #[error("a backfill notice: the flood is in the past")]
    Backfill,
    /// Below `MIN_SEVERITY`.
    #[error("severity {got} is below MIN_SEVERITY={min}")]
    Severity {
        /// The incident's severity.
        got: &'static str,
        /// The setting.
        min: &'static str,
    },
    /// In `BLOCK_ALLOWLIST`.
    #[error("{source_net} is in BLOCK_ALLOWLIST ({net})")]
    Allowlisted {
        /// The source.
        source_net: IpNet,
        /// The allowlisted network.
        net: IpNet,
    },
    /// One of the VPC's own networks.
    #[error("{source_net} is in the VPC's own network {net} (VPC_CIDRS)")]
    Vpc {
        /// The source.
        source_net: IpNet,
        /// The VPC network.
        net: IpNet,
    },
    /// Private or other special-use addresses.
    #[error("{source_net} is in the special-use range {net}, never blocked")]
    SpecialUse {
        /// The source.
        source_net: IpNet,
        /// The special-use range.
        net: IpNet,
    },
}

/// The policy: what may be blocked.
#[derive(Debug, Clone)]
pub struct Guard {
    min_severity: Severity,
    allowlist: Vec<IpNet>,
    vpc_cidrs: Vec<IpNet>,
    special: Vec<IpNet>,
}

impl Guard {
    /// The policy of these settings.
    pub fn new(min_severity: Severity, allowlist: Vec<IpNet>, vpc_cidrs: Vec<IpNet>) -> Guard {
        let special = NEVER_BLOCKED
            .iter()
            .map(|n| n.parse().expect("the special-use table holds CIDRs"))
            .collect();
        Guard {
            min_severity,
            allowlist,
            vpc_cidrs,
            special,
        }
    }

    /// The network to block for a STARTED notice, or why none.
    pub fn admit(&self, doc: &AlertDocument) -> Result<IpNet, Skip> {
        let finding = match (&doc.kind, &doc.finding) {
            (Kind::Source, FloodFinding::Source(finding)) => finding,
            _ => return Err(Skip::TargetKind),
        };
        if doc.origin.backfill {
            return Err(Skip::Backfill);
        }
        if finding.severity < self.min_severity {
            return Err(Skip::Severity {
                got: finding.severity.as_str(),
                min: self.min_severity.as_str(),
            });
        }
        let net = network(finding.source);
        let overlapping = |list: &[IpNet]| list.iter().copied().find(|n| overlaps(*n, net));
        if let Some(found) = overlapping(&self.allowlist) {
            return Err(Skip::Allowlisted {
                source_net: net,
                net: found,
            });
        }
        if let Some(found) = overlapping(&self.vpc_cidrs) {
            return Err(Skip::Vpc {
                source_net: net,
                net: found,
            });
        }
        if let Some(found) = overlapping(&self.special) {
            return Err(Skip::SpecialUse {
                source_net: net,
                net: found,
            });
        }
        Ok(net)
    }
}

/// The network a source stands for: its address as a /32 or /128, or its /64.
pub fn network(source: Source) -> IpNet {
    match source {
        Source::Addr(ip) => IpNet::from(canonical(ip)),
        Source::Net64(net) => IpNet::new(IpAddr::V6(net), 64)
            .expect("64 is a valid IPv6 prefix")
            .trunc(),
    }
}

/// IPv4-mapped IPv6 addresses as IPv4 (the core already folds them; kept for hand-made input).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether two networks share an address (one contains the other).
fn overlaps(a: IpNet, b: IpNet) -> bool {
    a.contains(&b) || b.contains(&a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{started, target_started};

    fn guard() -> Guard {
        Guard::new(
            Severity::High,
            vec!["198.51.100.0/24".parse().unwrap()],
            vec!["203.0.113.128/25".parse().unwrap()],
        )
    }

    #[test]
    fn a_high_severity_public_source_is_admitted_as_its_host_network() {
        let net = guard()
            .admit(&started("203.0.113.7", Severity::High))
            .unwrap();
        assert_eq!(net.to_string(), "203.0.113.7/32");
        let net = guard()
            .admit(&started("2001:db8:1:2::/64", Severity::High))
            .unwrap();
        assert_eq!(net.to_string(), "2001:db8:1:2::/64");
        let net = guard()
            .admit(&started("2001:db8::7", Severity::High))
            .unwrap();
        assert_eq!(net.to_string(), "2001:db8::7/128");
    }

    #[test]
    fn targets_backfills_and_low_severity_are_never_blocked() {
        assert_eq!(
            guard().admit(&target_started("10.0.1.10")),
            Err(Skip::TargetKind)
        );
        let mut doc = started("203.0.113.7", Severity::High);
        doc.origin.backfill = true;
        assert_eq!(guard().admit(&doc), Err(Skip::Backfill));
        assert!(matches!(
            guard().admit(&started("203.0.113.7", Severity::Medium)),
            Err(Skip::Severity { .. })
        ));
    }

    #[test]
    fn allowlisted_vpc_and_special_use_sources_are_never_blocked() {
        let skip = |source: &str| guard().admit(&started(source, Severity::High)).unwrap_err();
        assert!(matches!(skip("198.51.100.9"), Skip::Allowlisted { .. }));
        assert!(matches!(skip("203.0.113.200"), Skip::Vpc { .. }));
        for private in [
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "100.64.1.1",
            "169.254.169.254",
            "127.0.0.1",
            "fd00::1",
            "fe80::1",
            "fd00:1:2:3::/64",
        ] {
            assert!(
                matches!(skip(private), Skip::SpecialUse { .. }),
                "{private}"
            );
        }
    }
}
