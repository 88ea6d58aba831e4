//! One OK record as the aggregation applies it: its fields and share of each minute
//! ([`Flow`]), and what it does to the tables once its batch is applied ([`Pending`]).

use super::key::Key;
use crate::minute::{
    MinuteCounts, NarrowCounts, ServedCounts, Spread, Traffic, WINDOW_SECS, add16, add32,
    add32_exact,
};

/// Most minutes a record covers ([`crate::MAX_SPAN_SECS`] from any second of a minute).
pub(super) const MAX_MINUTES: usize = 12;

/// The fields of one OK record that the aggregation uses.
#[derive(Debug)]
pub(super) struct Flow {
    pub(super) spread: Spread,
    pub(super) flow_minute: usize,
    /// Packets and bytes of each minute covered (computed once: every subject of the record
    /// takes the same parts).
    pub(super) parts: [Traffic; MAX_MINUTES],
    /// Its protocol's index in [`MinuteCounts::packets`].
    pub(super) slot: usize,
    pub(super) packets: u64,
    pub(super) reject: bool,
    /// Opens a TCP connection / never completes it (both false for other protocols).
    pub(super) opens: bool,
    pub(super) half_open: bool,
    pub(super) protocol: Option<u8>,
    pub(super) dst_port: u16,
}

impl Flow {
    /// Packets and bytes of the record's minute `i`.
    #[inline]
    pub(super) fn part(&self, i: usize) -> Traffic {
        self.parts[i]
    }

    /// Adds this record's share of minute `i` of its spread to `m`, as a request.
    #[inline]
    pub(super) fn add_request(&self, i: usize, m: &mut MinuteCounts) {
        let traffic = self.part(i);
        if i == self.flow_minute {
            m.flows = m.flows.saturating_add(1);
            m.rejected = m.rejected.saturating_add(u32::from(self.reject));
            m.connections = m.connections.saturating_add(u32::from(self.opens));
            m.half_open = m.half_open.saturating_add(u32::from(self.half_open));
        }
        add32(&mut m.packets[self.slot], traffic.packets);
        m.bytes.add(self.slot, traffic.bytes);
    }

    /// As [`Self::add_request`] for a narrow minute: false, changing nothing, when a count
    /// would outgrow it. Only `flows` needs checking of the per-record counts: rejected,
    /// opened and half-open records are flows too, so none exceeds it.
    #[inline]
    pub(super) fn add_request_narrow(&self, i: usize, n: &mut NarrowCounts) -> bool {
        let traffic = self.part(i);
        let here = i == self.flow_minute;
        let (Some(packets), Some(bytes)) = (
            add16(n.packets[self.slot], traffic.packets),
            add32_exact(n.bytes[self.slot], traffic.bytes),
        ) else {
            return false;
        };
        if here && n.flows == u16::MAX {
            return false;
        }
        n.packets[self.slot] = packets;
        n.bytes[self.slot] = bytes;
        if here {
            n.flows += 1;
            n.rejected += u16::from(self.reject);
            n.connections += u16::from(self.opens);
            n.half_open += u16::from(self.half_open);
        }
        true
    }

    /// Adds this record's share of minute `i` of its spread to `s`, as a request to it.
    #[inline]
    pub(super) fn add_served(&self, i: usize, s: &mut ServedCounts) {
        let traffic = self.part(i);
        if i == self.flow_minute {
            s.flows = s.flows.saturating_add(1);
            s.connections = s.connections.saturating_add(u32::from(self.opens));
            s.half_open = s.half_open.saturating_add(u32::from(self.half_open));
        }
        match self.slot {
            1 => add32(&mut s.udp_packets, traffic.packets),
            2 => add32(&mut s.icmp_packets, traffic.packets),
            _ => {}
        }
        add32(&mut s.packets, traffic.packets);
        s.bytes.add(0, traffic.bytes);
    }

    /// The weight of minute `i`'s share, to compare with a kept minute's.
    #[inline]
    pub(super) fn minute_weight(&self, i: usize) -> u64 {
        self.part(i)
            .packets
            .saturating_add(u64::from(i == self.flow_minute))
    }

    /// A record's weight in the tables: its packets plus one for the flow.
    pub(super) fn weight(&self) -> u64 {
        self.packets.saturating_add(1)
    }

    pub(super) fn minute_start(&self, i: usize) -> i64 {
        self.spread.first + i as i64 * WINDOW_SECS
    }
}

/// What one record does to the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Work {
    /// A request of `source` (and its /64) to `target`.
    Request,
    /// A UDP reply to the client `source` from the server `target`.
    UdpReply,
}

/// A record parsed and classified, its table updates waiting for its batch: the keys it
/// updates with their hashes (computed when the batch is applied).
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) flow: Flow,
    pub(super) work: Work,
    pub(super) source: (Key, u64),
    pub(super) net64: Option<(Key, u64)>,
    pub(super) target: Option<(Key, u64)>,
}
