//! One-minute windows and how a record's counts are spread over them.
//!
//! A record covers its capture window, `start..=end`: up to 600 s by default (60 s on Nitro
//! instances) plus up to 60 s of capture lag. Counting it all in the minute of `start` would put
//! ten minutes of a flood into one; instead packets and bytes are split over the minutes the
//! record covers in proportion to the seconds it spends in each, and the record itself (one
//! flow) is placed in one of them, chosen by a hash of the record so that many records spread
//! evenly. Totals stay exact integers.

use serde::{Deserialize, Serialize};

/// Length of an aggregation window, in seconds.
pub const WINDOW_SECS: i64 = 60;

/// Longest span a record is spread over: the 600 s maximum aggregation interval plus the 60 s
/// AWS allows between a packet and its capture. Longer spans (bad data) are cut to this.
pub const MAX_SPAN_SECS: i64 = 660;

/// The start of the one-minute window holding `unix_seconds`.
pub fn window_of(unix_seconds: i64) -> i64 {
    unix_seconds - unix_seconds.rem_euclid(WINDOW_SECS)
}

/// How one record's `start..=end` falls into minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spread {
    start: i64,
    /// Seconds covered (at least 1).
    len: i64,
    /// Start of the first minute.
    pub(crate) first: i64,
    /// Minutes covered (1..=12).
    pub(crate) minutes: usize,
}

impl Spread {
    /// The minutes of `start..=end`; an `end` before `start` counts as `start`.
    #[inline]
    pub(crate) fn new(start: i64, end: i64) -> Spread {
        let end = end.clamp(start, start.saturating_add(MAX_SPAN_SECS - 1));
        let first = window_of(start);
        Spread {
            start,
            len: end - start + 1,
            first,
            minutes: ((window_of(end) - first) / WINDOW_SECS) as usize + 1,
        }
    }

    /// First second covered.
    pub(crate) fn start(&self) -> i64 {
        self.start
    }

    /// Last second covered (after cutting an absurd span).
    pub(crate) fn end(&self) -> i64 {
        self.start + self.len - 1
    }

    /// The part of `value` that falls in minute `i` (0-based); the parts add up to `value`.
    #[inline(always)]
    pub(crate) fn part(&self, i: usize, value: u64) -> u64 {
        if self.minutes == 1 {
            return value;
        }
        self.part_of_many(i, value)
    }

    #[inline(never)]
    fn part_of_many(&self, i: usize, value: u64) -> u64 {
        let through = |i: usize| -> u64 {
            // Seconds of the record before the end of minute i.
            let end_of = self.first + (i as i64 + 1) * WINDOW_SECS;
            ((end_of - self.start).clamp(0, self.len)) as u64
        };
        let len = self.len as u64;
        // Spans are at most MAX_SPAN_SECS (< 2^10) seconds: 64-bit products are exact below
        // 2^54, which covers any real count; larger ones take 128 bits.
        let share = |seconds: u64| match value.checked_mul(seconds) {
            Some(product) => product / len,
            None => (u128::from(value) * u128::from(seconds) / u128::from(len)) as u64,
        };
        let before = if i == 0 { 0 } else { share(through(i - 1)) };
        share(through(i)) - before
    }

    /// The minute (0-based) that holds the record's one flow, for a hash `h` of the record.
    #[inline]
    pub(crate) fn flow_minute(&self, h: u64) -> usize {
        if self.minutes == 1 {
            return 0;
        }
        let at = self.start + (h % self.len as u64) as i64;
        ((window_of(at) - self.first) / WINDOW_SECS) as usize
    }
}

/// Packets and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

impl Traffic {
    #[inline]
    fn add(&mut self, other: Traffic) {
        self.packets = self.packets.saturating_add(other.packets);
        self.bytes = self.bytes.saturating_add(other.bytes);
    }
}

/// What one source initiated in one minute: its requests (never the replies it sent as a
/// server), and how much UDP came back to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Minute {
    /// Request records.
    pub flows: u32,
    /// TCP connections opened (SYNs; every TCP request record without `tcp-flags`).
    pub connections: u32,
    /// TCP connections that never completed their handshake (see the README).
    pub half_open: u32,
    /// Request records with `action` = `REJECT`.
    pub rejected: u32,
    /// TCP requests.
    pub tcp: Traffic,
    /// UDP requests.
    pub udp: Traffic,
    /// ICMP and ICMPv6.
    pub icmp: Traffic,
    /// Any other protocol.
    pub other: Traffic,
    /// UDP packets the source's UDP peers sent back to it.
    pub udp_answered: u64,
}

impl Minute {
    /// Adds another part's counts of the same minute (summaries merged across objects).
    pub(crate) fn merge(&mut self, o: &Minute) {
        self.flows = self.flows.saturating_add(o.flows);
        self.connections = self.connections.saturating_add(o.connections);
        self.half_open = self.half_open.saturating_add(o.half_open);
        self.rejected = self.rejected.saturating_add(o.rejected);
        self.tcp.add(o.tcp);
        self.udp.add(o.udp);
        self.icmp.add(o.icmp);
        self.other.add(o.other);
        self.udp_answered = self.udp_answered.saturating_add(o.udp_answered);
    }

    /// Packets and bytes over all protocols.
    pub fn traffic(&self) -> Traffic {
        let mut t = self.tcp;
        t.add(self.udp);
        t.add(self.icmp);
        t.add(self.other);
        t
    }
}

/// What one address received as a server (or as the target of a flood) in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Served {
    /// Request records addressed to it.
    pub flows: u32,
    /// TCP connections opened to it.
    pub connections: u32,
    /// TCP connections to it that never completed their handshake.
    pub half_open: u32,
    /// UDP request packets to it.
    pub udp_packets: u64,
    /// ICMP packets to it.
    pub icmp_packets: u64,
    /// Request packets to it, all protocols.
    pub packets: u64,
    /// Request bytes to it, all protocols.
    pub bytes: u64,
    /// UDP packets it sent back as replies.
    pub udp_replied: u64,
}

impl Served {
    /// Adds another part's counts of the same minute (summaries merged across objects).
    pub(crate) fn merge(&mut self, o: &Served) {
        self.flows = self.flows.saturating_add(o.flows);
        self.connections = self.connections.saturating_add(o.connections);
        self.half_open = self.half_open.saturating_add(o.half_open);
        self.udp_packets = self.udp_packets.saturating_add(o.udp_packets);
        self.icmp_packets = self.icmp_packets.saturating_add(o.icmp_packets);
        self.packets = self.packets.saturating_add(o.packets);
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.udp_replied = self.udp_replied.saturating_add(o.udp_replied);
    }
}

/// A [`Minute`] as the aggregation stores it: packets per protocol and the reply count in 32
/// bits (saturating: 2^32 packets in one minute is 70 million a second from one source), bytes
/// in 48 ([`ByteCounts`]). 60 bytes with no 8-byte field, so a spilled minute and its number take
/// 64 where they took 80 (a source keeps one per minute it spans, 11 for most in `make bench`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MinuteCounts {
    pub(crate) flows: u32,
    pub(crate) connections: u32,
    pub(crate) half_open: u32,
    pub(crate) rejected: u32,
    /// TCP, UDP, ICMP and other packets (see [`protocol_slot`]).
    pub(crate) packets: [u32; 4],
    pub(crate) udp_answered: u32,
    /// TCP, UDP, ICMP and other bytes.
    pub(crate) bytes: ByteCounts<4>,
}

/// Byte counters of 48 bits, saturating (a saturated one reads as `u64::MAX`): 2^48 bytes in a
/// minute is 37 Tbit/s, 190 times the 200 Gbit/s of the fastest ENI. Kept as a 32-bit and a
/// 16-bit half so that the counts holding them need only 4-byte alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteCounts<const N: usize> {
    low: [u32; N],
    high: [u16; N],
}

impl<const N: usize> Default for ByteCounts<N> {
    fn default() -> Self {
        ByteCounts {
            low: [0; N],
            high: [0; N],
        }
    }
}

/// The largest count a [`ByteCounts`] holds: it means "at least this many".
const BYTES_MAX: u64 = (1 << 48) - 1;

impl<const N: usize> ByteCounts<N> {
    /// Counter `i` (`u64::MAX` once saturated).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> u64 {
        let v = u64::from(self.high[i]) << 32 | u64::from(self.low[i]);
        if v == BYTES_MAX { u64::MAX } else { v }
    }

    /// Adds `n` to counter `i`, saturating.
    #[inline]
    pub(crate) fn add(&mut self, i: usize, n: u64) {
        let v = self.get(i).saturating_add(n).min(BYTES_MAX);
        self.low[i] = v as u32;
        self.high[i] = (v >> 32) as u16;
    }

    /// Adds the other's counters.
    pub(crate) fn merge(&mut self, other: &ByteCounts<N>) {
        for i in 0..N {
            self.add(i, other.get(i));
        }
    }
}

/// The index of a protocol in [`MinuteCounts::packets`] and [`MinuteCounts::bytes`].
#[inline]
pub(crate) fn protocol_slot(protocol: Option<u8>) -> usize {
    match protocol {
        Some(6) => 0,
        Some(17) => 1,
        Some(1 | 58) => 2,
        _ => 3,
    }
}

/// A 32-bit counter as the 64-bit count it stands for: a saturated one stays saturated.
#[inline]
fn widen(counter: u32) -> u64 {
    if counter == u32::MAX {
        u64::MAX
    } else {
        u64::from(counter)
    }
}

/// Adds `n` (a count of packets) to a 32-bit counter, saturating.
#[inline]
pub(crate) fn add32(counter: &mut u32, n: u64) {
    *counter = u32::try_from(u64::from(*counter).saturating_add(n)).unwrap_or(u32::MAX);
}

impl MinuteCounts {
    /// Adds another minute's counts.
    pub(crate) fn merge(&mut self, o: &MinuteCounts) {
        self.flows = self.flows.saturating_add(o.flows);
        self.connections = self.connections.saturating_add(o.connections);
        self.half_open = self.half_open.saturating_add(o.half_open);
        self.rejected = self.rejected.saturating_add(o.rejected);
        for i in 0..4 {
            self.packets[i] = self.packets[i].saturating_add(o.packets[i]);
        }
        self.bytes.merge(&o.bytes);
        self.udp_answered = self.udp_answered.saturating_add(o.udp_answered);
    }

    /// How much the minute weighs when one has to go: its flows and packets.
    pub(crate) fn weight(&self) -> u64 {
        u64::from(self.flows) + self.packets.iter().map(|&p| u64::from(p)).sum::<u64>()
    }
}

/// A [`MinuteCounts`] whose counts are small, as most sources' are: flows, packets and the
/// reply count in 16 bits, bytes in 32, exactly (no saturation). 36 bytes, 40 with its minute
/// number where a [`MinuteCounts`] takes 64: a source's minutes stay narrow until one count
/// outgrows them (65,535 flows or packets of one protocol in a minute, or 4 GiB), then all of
/// them widen at once ([`crate::aggregate`]'s `SourceMinutes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NarrowCounts {
    pub(crate) flows: u16,
    pub(crate) connections: u16,
    pub(crate) half_open: u16,
    pub(crate) rejected: u16,
    /// TCP, UDP, ICMP and other packets (see [`protocol_slot`]).
    pub(crate) packets: [u16; 4],
    pub(crate) udp_answered: u16,
    /// TCP, UDP, ICMP and other bytes.
    pub(crate) bytes: [u32; 4],
}

/// `counter + n` if it fits 16 bits.
#[inline]
pub(crate) fn add16(counter: u16, n: u64) -> Option<u16> {
    u16::try_from(n).ok()?.checked_add(counter)
}

/// `counter + n` if it fits 32 bits.
#[inline]
pub(crate) fn add32_exact(counter: u32, n: u64) -> Option<u32> {
    u32::try_from(n).ok()?.checked_add(counter)
}

impl NarrowCounts {
    /// The same counts in the wide form.
    pub(crate) fn widen(&self) -> MinuteCounts {
        let mut bytes = ByteCounts::default();
        for (i, &b) in self.bytes.iter().enumerate() {
            bytes.add(i, u64::from(b));
        }
        MinuteCounts {
            flows: u32::from(self.flows),
            connections: u32::from(self.connections),
            half_open: u32::from(self.half_open),
            rejected: u32::from(self.rejected),
            packets: self.packets.map(u32::from),
            udp_answered: u32::from(self.udp_answered),
            bytes,
        }
    }

    /// `wide`'s counts, if they all fit.
    pub(crate) fn fit(wide: &MinuteCounts) -> Option<NarrowCounts> {
        let n16 = |v: u32| u16::try_from(v).ok();
        let mut packets = [0u16; 4];
        let mut bytes = [0u32; 4];
        for i in 0..4 {
            packets[i] = n16(wide.packets[i])?;
            bytes[i] = u32::try_from(wide.bytes.get(i)).ok()?;
        }
        Some(NarrowCounts {
            flows: n16(wide.flows)?,
            connections: n16(wide.connections)?,
            half_open: n16(wide.half_open)?,
            rejected: n16(wide.rejected)?,
            packets,
            udp_answered: n16(wide.udp_answered)?,
            bytes,
        })
    }

    /// As [`MinuteCounts::weight`].
    pub(crate) fn weight(&self) -> u64 {
        u64::from(self.flows) + self.packets.iter().map(|&p| u64::from(p)).sum::<u64>()
    }

    /// Adds `packets` UDP answers: false, changing nothing, when they would outgrow 16 bits.
    #[inline]
    pub(crate) fn add_answered(&mut self, packets: u64) -> bool {
        match add16(self.udp_answered, packets) {
            Some(sum) => {
                self.udp_answered = sum;
                true
            }
            None => false,
        }
    }
}

impl From<&MinuteCounts> for Minute {
    fn from(c: &MinuteCounts) -> Minute {
        let traffic = |i: usize| Traffic {
            packets: widen(c.packets[i]),
            bytes: c.bytes.get(i),
        };
        Minute {
            flows: c.flows,
            connections: c.connections,
            half_open: c.half_open,
            rejected: c.rejected,
            tcp: traffic(0),
            udp: traffic(1),
            icmp: traffic(2),
            other: traffic(3),
            udp_answered: widen(c.udp_answered),
        }
    }
}

/// A [`Served`] as the aggregation stores it: packet counts in 32 bits (saturating), bytes in 48
/// ([`ByteCounts`]): 36 bytes where a [`Served`] takes 56 (40 with its minute number, was 48).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ServedCounts {
    pub(crate) flows: u32,
    pub(crate) connections: u32,
    pub(crate) half_open: u32,
    pub(crate) udp_packets: u32,
    pub(crate) icmp_packets: u32,
    pub(crate) packets: u32,
    pub(crate) udp_replied: u32,
    pub(crate) bytes: ByteCounts<1>,
}

impl ServedCounts {
    /// How much the minute weighs when one has to go: its flows and packets.
    pub(crate) fn weight(&self) -> u64 {
        u64::from(self.flows) + u64::from(self.packets)
    }
}

impl From<&ServedCounts> for Served {
    fn from(c: &ServedCounts) -> Served {
        Served {
            flows: c.flows,
            connections: c.connections,
            half_open: c.half_open,
            udp_packets: widen(c.udp_packets),
            icmp_packets: widen(c.icmp_packets),
            packets: widen(c.packets),
            bytes: c.bytes.get(0),
            udp_replied: widen(c.udp_replied),
        }
    }
}

/// All records of one minute, requests and replies alike, whatever their source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WindowTotals {
    /// Flow records.
    pub flows: u64,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Rejected flow records.
    pub rejected: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_inside_one_minute_stays_there() {
        let s = Spread::new(120, 150);
        assert_eq!((s.first, s.minutes), (120, 1));
        assert_eq!(s.part(0, 1000), 1000);
        assert_eq!(s.flow_minute(12345), 0);
    }

    #[test]
    fn a_ten_minute_record_is_spread_in_proportion_and_adds_up() {
        // 600 s aligned on a minute: ten equal parts.
        let s = Spread::new(600, 1199);
        assert_eq!(s.minutes, 10);
        let parts: Vec<u64> = (0..10).map(|i| s.part(i, 3_000_000)).collect();
        assert!(parts.iter().all(|&p| p == 300_000), "{parts:?}");
        // Unaligned: the first and last minutes get their share of seconds.
        let s = Spread::new(630, 689);
        assert_eq!(s.minutes, 2);
        assert_eq!((s.part(0, 60), s.part(1, 60)), (30, 30));
        let s = Spread::new(601, 1263);
        let total: u64 = (0..s.minutes).map(|i| s.part(i, 999_983)).sum();
        assert_eq!(total, 999_983);
    }

    #[test]
    fn flows_of_many_records_spread_evenly_over_their_window() {
        let s = Spread::new(600, 1199);
        let mut per_minute = [0u32; 10];
        for h in 0..30_000u64 {
            per_minute[s.flow_minute(h.wrapping_mul(0x9E37_79B9_7F4A_7C15))] += 1;
        }
        assert!(
            per_minute.iter().all(|&n| (2_800..3_200).contains(&n)),
            "{per_minute:?}"
        );
    }

    #[test]
    fn byte_counters_carry_past_32_bits_and_saturate_at_48() {
        let mut b = ByteCounts::<2>::default();
        b.add(1, u64::from(u32::MAX));
        b.add(1, 2);
        assert_eq!((b.get(0), b.get(1)), (0, (1 << 32) + 1));
        b.add(0, (1 << 48) - 2);
        assert_eq!(b.get(0), (1 << 48) - 2, "one below the cap is exact");
        b.add(0, 1);
        assert_eq!(b.get(0), u64::MAX, "the cap reads as saturated");
        b.add(0, 5);
        assert_eq!(b.get(0), u64::MAX, "and stays so");
        let mut other = ByteCounts::<2>::default();
        other.add(1, 10);
        other.merge(&b);
        assert_eq!((other.get(0), other.get(1)), (u64::MAX, (1 << 32) + 11));
    }

    #[test]
    fn narrow_minutes_hold_small_counts_exactly_and_refuse_larger_ones() {
        let mut wide = MinuteCounts {
            flows: 65_535,
            connections: 7,
            half_open: 3,
            rejected: 2,
            packets: [65_535, 1, 0, 9],
            udp_answered: 4,
            ..MinuteCounts::default()
        };
        wide.bytes.add(0, u64::from(u32::MAX));
        wide.bytes.add(3, 12);
        let narrow = NarrowCounts::fit(&wide).expect("every count fits");
        assert_eq!(narrow.widen(), wide);
        assert_eq!(narrow.weight(), wide.weight());
        for grown in [
            MinuteCounts {
                flows: 65_536,
                ..wide
            },
            MinuteCounts {
                packets: [0, 0, 65_536, 0],
                ..wide
            },
            MinuteCounts {
                udp_answered: 1 << 20,
                ..wide
            },
        ] {
            assert_eq!(NarrowCounts::fit(&grown), None, "{grown:?}");
        }
        let mut more_bytes = wide;
        more_bytes.bytes.add(0, 1);
        assert_eq!(NarrowCounts::fit(&more_bytes), None);
        assert_eq!((add16(65_534, 1), add16(65_535, 1)), (Some(65_535), None));
        assert_eq!(add16(0, 1 << 40), None);
        assert_eq!(add32_exact(u32::MAX, 1), None);
    }

    #[test]
    fn stored_minutes_need_only_four_byte_alignment() {
        assert_eq!(std::mem::size_of::<(u32, MinuteCounts)>(), 64);
        assert_eq!(std::mem::size_of::<(u32, ServedCounts)>(), 40);
        assert_eq!(std::mem::size_of::<(u32, NarrowCounts)>(), 40);
    }

    #[test]
    fn absurd_spans_are_cut_and_reversed_ones_collapse() {
        let s = Spread::new(0, 10_000_000);
        assert_eq!(s.minutes, 11);
        let s = Spread::new(500, 100);
        assert_eq!((s.first, s.minutes), (480, 1));
    }
}
