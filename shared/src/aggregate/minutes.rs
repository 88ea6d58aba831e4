//! A source's minutes, narrow while its counts are small: most sources send a few flows a
//! minute, and a narrow minute takes 40 bytes where a wide one takes 64. The first count that
//! outgrows the narrow form widens all of the source's minutes at once; the counts are exact
//! either way.

use crate::minute::{MinuteCounts, NarrowCounts};
use crate::table::{Pool, Windows};

/// The minutes of one source (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SourceMinutes {
    Narrow(Windows<NarrowCounts>),
    Wide(Windows<MinuteCounts>),
}

impl Default for SourceMinutes {
    fn default() -> Self {
        SourceMinutes::Narrow(Windows::default())
    }
}

impl SourceMinutes {
    /// Minutes held.
    pub(crate) fn len(&self) -> usize {
        match self {
            SourceMinutes::Narrow(w) => w.len(),
            SourceMinutes::Wide(w) => w.len(),
        }
    }

    /// Minutes held in the shared pool.
    pub(crate) fn pooled(&self) -> usize {
        match self {
            SourceMinutes::Narrow(w) => w.pooled(),
            SourceMinutes::Wide(w) => w.pooled(),
        }
    }

    /// `(window start, counts)`, inline minutes first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (i64, MinuteCounts)> + '_ {
        let (narrow, wide) = match self {
            SourceMinutes::Narrow(w) => (Some(w), None),
            SourceMinutes::Wide(w) => (None, Some(w)),
        };
        let narrow = narrow
            .into_iter()
            .flat_map(|w| w.iter().map(|(s, n)| (s, n.widen())));
        let wide = wide
            .into_iter()
            .flat_map(|w| w.iter().map(|(s, m)| (s, *m)));
        narrow.chain(wide)
    }

    /// The wide form of the minutes, made so if they were narrow.
    fn widened(&mut self) -> &mut Windows<MinuteCounts> {
        if let SourceMinutes::Narrow(w) = self {
            *self = SourceMinutes::Wide(w.map(NarrowCounts::widen));
        }
        match self {
            SourceMinutes::Wide(w) => w,
            SourceMinutes::Narrow(_) => unreachable!("widened above"),
        }
    }

    /// Adds to the minute starting at `start` what `narrow` adds to a narrow minute (it returns
    /// false, changing nothing, when a count would outgrow it) or `wide` to a wide one; the
    /// minute is found or made as [`Windows::get_or_insert_weighed`] does (`dropped` gets a
    /// minute that gave way). Whether the minute was kept.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add(
        &mut self,
        start: i64,
        weight: u64,
        cap: usize,
        pool: &mut Pool,
        dropped: impl FnOnce(&MinuteCounts),
        narrow: impl FnOnce(&mut NarrowCounts) -> bool,
        wide: impl FnOnce(&mut MinuteCounts),
    ) -> bool {
        if let SourceMinutes::Narrow(w) = self {
            let Some(n) =
                w.get_or_insert_weighed(start, weight, cap, pool, NarrowCounts::weight, |old| {
                    dropped(&old.widen())
                })
            else {
                return false;
            };
            if narrow(n) {
                return true;
            }
            // The minute is held: widening keeps it, and finds it again without a pool window.
            let m = self
                .widened()
                .get_or_insert_within(start, cap)
                .expect("the minute is held");
            wide(m);
            return true;
        }
        let w = self.widened();
        match w.get_or_insert_weighed(start, weight, cap, pool, MinuteCounts::weight, dropped) {
            Some(m) => {
                wide(m);
                true
            }
            None => false,
        }
    }

    /// Adds `counts` to the minute starting at `start`, made if there is room within `cap`
    /// (no pool: the untracked bucket's merges). Whether it was kept.
    pub(crate) fn merge(&mut self, start: i64, counts: &MinuteCounts, cap: usize) -> bool {
        if let SourceMinutes::Narrow(w) = self {
            let Some(n) = w.get_or_insert_within(start, cap) else {
                return false;
            };
            let mut merged = n.widen();
            merged.merge(counts);
            if let Some(fits) = NarrowCounts::fit(&merged) {
                *n = fits;
                return true;
            }
        }
        let w = self.widened();
        match w.get_or_insert_within(start, cap) {
            Some(m) => {
                m.merge(counts);
                true
            }
            None => false,
        }
    }

    /// As [`Windows::release_spill`].
    pub(crate) fn release_spill(&mut self, mut dropped: impl FnMut(&MinuteCounts)) -> usize {
        match self {
            SourceMinutes::Narrow(w) => w.release_spill(|n| dropped(&n.widen())),
            SourceMinutes::Wide(w) => w.release_spill(dropped),
        }
    }

    /// As [`Windows::prefetch_last`].
    #[inline]
    pub(crate) fn prefetch_last(&self) {
        match self {
            SourceMinutes::Narrow(w) => w.prefetch_last(),
            SourceMinutes::Wide(w) => w.prefetch_last(),
        }
    }

    /// Whether the minutes are still narrow.
    #[cfg(test)]
    pub(crate) fn is_narrow(&self) -> bool {
        matches!(self, SourceMinutes::Narrow(_))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::flow::Flow;
    use super::*;
    use crate::minute::{Spread, Traffic};

    /// One update: a request's share of a minute, or UDP packets answered in it.
    #[derive(Debug, Clone)]
    enum Update {
        Request {
            minute: i64,
            packets: u64,
            bytes: u64,
            slot: usize,
            flow: bool,
            reject: bool,
            opens: bool,
        },
        Answered {
            minute: i64,
            packets: u64,
        },
        /// Another part's minute merged in (the untracked bucket's way), maybe near a limit.
        Merge {
            minute: i64,
            flows: u32,
            packets: u64,
        },
    }

    fn counts() -> impl Strategy<Value = u64> {
        prop_oneof![
            0..200u64,
            65_000..66_000u64,
            4_294_967_000..4_294_968_000u64
        ]
    }

    fn update() -> impl Strategy<Value = Update> {
        prop_oneof![
            (
                0..4i64,
                counts(),
                counts(),
                0..4usize,
                any::<bool>(),
                any::<bool>(),
                any::<bool>()
            )
                .prop_map(|(minute, packets, bytes, slot, flow, reject, opens)| {
                    Update::Request {
                        minute,
                        packets,
                        bytes,
                        slot,
                        flow,
                        reject,
                        opens,
                    }
                }),
            (0..4i64, counts()).prop_map(|(minute, packets)| Update::Answered { minute, packets }),
            (0..4i64, prop_oneof![0..10u32, 65_530..65_536u32], counts()).prop_map(
                |(minute, flows, packets)| Update::Merge {
                    minute,
                    flows,
                    packets
                }
            ),
        ]
    }

    /// A one-minute request record of the given counts, its flow in the minute or not.
    fn flow(start: i64, packets: u64, bytes: u64, slot: usize, flags: [bool; 3]) -> Flow {
        let [here, reject, opens] = flags;
        let mut parts = [Traffic::default(); super::super::flow::MAX_MINUTES];
        parts[0] = Traffic { packets, bytes };
        Flow {
            spread: Spread::new(start, start),
            // Minute 1 does not exist: the record then adds traffic but no flow.
            flow_minute: usize::from(!here),
            parts,
            slot,
            packets,
            reject: reject && here,
            opens: opens && here,
            half_open: opens && here,
            protocol: None,
            dst_port: 0,
        }
    }

    proptest! {
        #[test]
        fn narrow_minutes_count_as_wide_ones_whatever_the_updates(
            updates in prop::collection::vec(update(), 1..60),
            cap in 2..6usize,
            pool_windows in 0..4usize,
        ) {
            let (mut minutes, mut pool) = (SourceMinutes::default(), Pool { free: pool_windows });
            let (mut wide, mut wide_pool) = (Windows::<MinuteCounts>::default(), Pool { free: pool_windows });
            let (mut dropped, mut wide_dropped) = (Vec::new(), Vec::new());
            for u in &updates {
                let (kept, wide_kept) = match *u {
                    Update::Request { minute, packets, bytes, slot, flow: here, reject, opens } => {
                        let start = 1_700_000_040 + minute * 60;
                        let f = flow(start, packets, bytes, slot, [here, reject, opens]);
                        let weight = f.minute_weight(0);
                        let kept = minutes.add(
                            start, weight, cap, &mut pool,
                            |m| dropped.push(*m),
                            |n| f.add_request_narrow(0, n),
                            |m| f.add_request(0, m),
                        );
                        let wide_kept = wide
                            .get_or_insert_weighed(start, weight, cap, &mut wide_pool, MinuteCounts::weight, |m| wide_dropped.push(*m))
                            .map(|m| f.add_request(0, m))
                            .is_some();
                        (kept, wide_kept)
                    }
                    Update::Answered { minute, packets } => {
                        let start = 1_700_000_040 + minute * 60;
                        let kept = minutes.add(
                            start, packets, cap, &mut pool,
                            |m| dropped.push(*m),
                            |n| n.add_answered(packets),
                            |m| crate::minute::add32(&mut m.udp_answered, packets),
                        );
                        let wide_kept = wide
                            .get_or_insert_weighed(start, packets, cap, &mut wide_pool, MinuteCounts::weight, |m| wide_dropped.push(*m))
                            .map(|m| crate::minute::add32(&mut m.udp_answered, packets))
                            .is_some();
                        (kept, wide_kept)
                    }
                    Update::Merge { minute, flows, packets } => {
                        let start = 1_700_000_040 + minute * 60;
                        let mut counts = MinuteCounts {
                            flows,
                            connections: flows / 2,
                            half_open: flows / 3,
                            rejected: flows / 4,
                            udp_answered: u32::try_from(packets).unwrap_or(u32::MAX),
                            ..MinuteCounts::default()
                        };
                        counts.packets[1] = u32::try_from(packets).unwrap_or(u32::MAX);
                        counts.bytes.add(1, packets * 40);
                        let kept = minutes.merge(start, &counts, cap);
                        let wide_kept = wide
                            .get_or_insert_within(start, cap)
                            .map(|m| m.merge(&counts))
                            .is_some();
                        (kept, wide_kept)
                    }
                };
                prop_assert_eq!(kept, wide_kept);
            }
            let narrow_seen: Vec<(i64, MinuteCounts)> = minutes.iter().collect();
            let wide_seen: Vec<(i64, MinuteCounts)> = wide.iter().map(|(s, m)| (s, *m)).collect();
            prop_assert_eq!(narrow_seen, wide_seen);
            prop_assert_eq!(dropped, wide_dropped);
            prop_assert_eq!((minutes.len(), minutes.pooled(), pool), (wide.len(), wide.pooled(), wide_pool));
        }
    }
}
