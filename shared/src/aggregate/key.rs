//! The key of the source and target tables: an address (or IPv6 /64) and its vantage.

use std::net::IpAddr;

use crate::addr::Addr;
use crate::source::{Source, Vantage};

/// A table key: an address (or /64) and the vantage it was seen from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    pub(super) addr: Addr,
    pub(super) net64: bool,
    pub(super) vantage: Vantage,
}

impl std::hash::Hash for Key {
    /// Two writes (the derived hash makes three, and this is hashed on every record).
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(self.addr.0);
        state.write_u8(u8::from(self.net64) << 4 | self.vantage as u8);
    }
}

impl Key {
    /// The source it counts for.
    pub(super) fn source(&self) -> Source {
        if self.net64 {
            match self.addr.ip() {
                IpAddr::V6(v6) => Source::Net64(v6),
                v4 => Source::Addr(v4),
            }
        } else {
            Source::Addr(self.addr.ip())
        }
    }
}
