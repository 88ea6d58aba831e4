//! Addresses as the hot path keeps them: 128 bits, IPv4 in its IPv4-mapped IPv6 form, so that
//! `203.0.113.7` and `::ffff:203.0.113.7` are one address and comparing or hashing one is a
//! single integer operation.

use std::net::{IpAddr, Ipv6Addr};

/// An address as 128 bits (see the module docs), aligned to 8 bytes rather than the 16 of a
/// `u128`: the keys and evidence that hold one then pack without padding (a table entry of a
/// source 256 -> 240 bytes, a source's evidence 336 -> 320).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(C, packed(8))]
pub(crate) struct Addr(pub(crate) u128);

/// The IPv4-mapped prefix `::ffff:0:0/96`.
const MAPPED: u128 = 0xffff << 32;
const MAPPED_MASK: u128 = !0u128 << 32;

impl Addr {
    /// The unspecified address, for unused slots.
    pub(crate) const NONE: Addr = Addr(0);

    #[inline]
    pub(crate) fn v4(bits: u32) -> Addr {
        Addr(MAPPED | u128::from(bits))
    }

    #[inline]
    pub(crate) fn is_v4(self) -> bool {
        self.0 & MAPPED_MASK == MAPPED
    }

    /// The address as the standard type: IPv4 for the mapped range.
    pub(crate) fn ip(self) -> IpAddr {
        if self.is_v4() {
            IpAddr::V4((self.0 as u32).into())
        } else {
            IpAddr::V6(Ipv6Addr::from(self.0))
        }
    }

    /// The network address of the IPv6 /64 holding it.
    #[inline]
    pub(crate) fn net64(self) -> Addr {
        Addr(self.0 & !((1u128 << 64) - 1))
    }
}

impl From<IpAddr> for Addr {
    fn from(ip: IpAddr) -> Addr {
        match ip {
            IpAddr::V4(a) => Addr::v4(a.into()),
            IpAddr::V6(a) => Addr(a.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_and_its_mapped_form_are_one_address() {
        assert_eq!(
            Addr::from(ip("203.0.113.7")),
            Addr::from(ip("::ffff:203.0.113.7"))
        );
        assert_eq!(Addr::from(ip("::ffff:203.0.113.7")).ip(), ip("203.0.113.7"));
        assert_eq!(Addr::from(ip("2001:db8::1")).ip(), ip("2001:db8::1"));
        assert!(!Addr::from(ip("2001:db8::1")).is_v4());
    }

    #[test]
    fn the_64_of_an_ipv6_address_drops_its_interface_bits() {
        let a = Addr::from(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd"));
        assert_eq!(a.net64().ip(), ip("2001:db8:1:2::"));
    }
}
