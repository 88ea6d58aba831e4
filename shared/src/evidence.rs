//! Fixed-size evidence kept per source and per target once they carry some weight: where a
//! source's traffic went, and who sent a target its traffic.

use std::net::IpAddr;

use serde::Serialize;

use crate::addr::Addr;
use crate::sketch::{Distinct, Heavy, TopK};

/// Distinct destination ports remembered per source (the count saturates here).
pub const PORTS_PER_SOURCE: usize = 32;
/// Destination ports kept per source as evidence: the heaviest.
pub const TOP_TARGETS: usize = 8;
/// Sources kept per target as evidence: the heaviest.
pub const TOP_SOURCES: usize = 8;

/// The distinct destination ports of a source, exact up to [`PORTS_PER_SOURCE`]. Inline: no
/// allocation, one cache line to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortSet {
    ports: [u16; PORTS_PER_SOURCE],
    len: u8,
    saturated: bool,
}

impl PortSet {
    /// No port.
    pub const EMPTY: PortSet = PortSet {
        ports: [0; PORTS_PER_SOURCE],
        len: 0,
        saturated: false,
    };

    #[inline]
    fn insert(&mut self, port: u16) {
        if self.saturated {
            return; // the count is capped: nothing left to learn
        }
        let len = usize::from(self.len);
        // Compare against all slots without branching (vectorises), then keep the used ones.
        let mut hits = 0u32;
        for (i, &p) in self.ports.iter().enumerate() {
            hits |= u32::from(p == port) << i;
        }
        if hits & ((1u64 << len) - 1) as u32 != 0 {
            return;
        }
        if len < PORTS_PER_SOURCE {
            self.ports[len] = port;
            self.len += 1;
        } else {
            self.saturated = true;
        }
    }

    /// Adds the other set's ports.
    pub fn merge(&mut self, other: &PortSet) {
        for &port in &other.ports[..usize::from(other.len)] {
            self.insert(port);
        }
        self.saturated |= other.saturated;
    }

    /// Distinct ports seen (a lower bound when [`PortSet::saturated`]).
    pub fn distinct(&self) -> usize {
        usize::from(self.len)
    }

    /// More than [`PORTS_PER_SOURCE`] distinct ports were seen.
    pub fn saturated(&self) -> bool {
        self.saturated
    }
}

/// What a source's requests went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Target {
    /// Destination address.
    pub address: IpAddr,
    /// Destination port (0 for ICMP).
    pub port: u16,
    /// IP protocol number.
    pub protocol: u8,
}

fn heavy<K: Copy, T>(h: Heavy<K>, key: impl Fn(K) -> T) -> Heavy<T> {
    Heavy {
        key: key(h.key),
        weight: h.weight,
        error: h.error,
        flows: h.flows,
    }
}

/// Destination addresses kept per source.
const TOP_ADDRESSES: usize = 4;

/// The evidence kept for a source once it carries some weight: its heaviest destination
/// addresses and ports, kept apart (two small summaries of plain keys cost a fraction of one
/// of (address, port) pairs on every record: 0.33 s of 1.34 s for 2 M records in `make
/// bench`), its distinct ports, and for a /64 how many of its addresses sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The source's weight when evidence started: shares are of the weight since.
    pub(crate) since_weight: u64,
    addresses: TopK<Addr, TOP_ADDRESSES>,
    top_ports: TopK<u16, TOP_TARGETS>,
    ports: PortSet,
    /// For an IPv6 /64 only: the addresses of it that sent.
    members: Option<Box<Distinct>>,
    protocol: u8,
}

impl Evidence {
    pub(crate) fn new(since_weight: u64) -> Evidence {
        Evidence {
            since_weight,
            addresses: TopK::new(Addr::NONE),
            top_ports: TopK::new(0),
            ports: PortSet::EMPTY,
            members: None,
            protocol: 0,
        }
    }

    /// Counts one request to `addr:port` (and, for a /64, the address that sent it).
    #[inline]
    pub(crate) fn add(
        &mut self,
        addr: Addr,
        port: u16,
        protocol: u8,
        weight: u64,
        member: Option<Addr>,
    ) {
        self.addresses.add(addr, weight, 1);
        self.top_ports.add(port, weight, 1);
        self.ports.insert(port);
        self.protocol = protocol;
        if let Some(m) = member {
            self.members.get_or_insert_default().add(&m);
        }
    }

    /// Its heaviest destination addresses, whatever the port.
    pub fn addresses(&self) -> Vec<Heavy<IpAddr>> {
        self.addresses
            .heaviest()
            .into_iter()
            .map(|h| heavy(h, Addr::ip))
            .collect()
    }

    /// Its heaviest destination ports, whatever the address.
    pub fn top_ports(&self) -> Vec<Heavy<u16>> {
        self.top_ports.heaviest()
    }

    /// The protocol of its latest request.
    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    /// Its distinct destination ports.
    pub fn ports(&self) -> &PortSet {
        &self.ports
    }

    /// For an IPv6 /64: how many addresses of it sent.
    pub fn members(&self) -> &Distinct {
        self.members.as_deref().unwrap_or(&Distinct::EMPTY)
    }
}

/// The evidence kept for a target once it carries some weight: its heaviest sources and ports
/// and how many sources it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetEvidence {
    pub(crate) sources: TopK<Addr, TOP_SOURCES>,
    pub(crate) ports: TopK<u16, 4>,
    pub(crate) distinct: Distinct,
}

impl TargetEvidence {
    pub(crate) fn new() -> TargetEvidence {
        TargetEvidence {
            sources: TopK::new(Addr::NONE),
            ports: TopK::new(0),
            distinct: Distinct::default(),
        }
    }

    #[inline]
    pub(crate) fn add(&mut self, source: Addr, port: u16, weight: u64) {
        self.sources.add(source, weight, 1);
        self.ports.add(port, weight, 1);
        self.distinct.add(&source);
    }

    pub(crate) fn heaviest_sources(&self) -> Vec<Heavy<IpAddr>> {
        self.sources
            .heaviest()
            .into_iter()
            .map(|h| heavy(h, Addr::ip))
            .collect()
    }
}
