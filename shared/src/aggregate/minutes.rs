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
