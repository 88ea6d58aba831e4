//! Bounded containers of the aggregation: the minutes of one subject, and a table of subjects
//! that keeps the heaviest ones once it is full.

use std::collections::HashMap;
use std::hash::Hash;

use crate::minute::WINDOW_SECS;
use crate::sketch::Admission;

/// Minute keys kept inline, searched without touching the values.
const INLINE_KEYS: usize = 8;
/// Values kept inline: most subjects of an object span a minute or two, and an inline value
/// saves the cache miss of a second allocation on every record.
const INLINE_VALUES: usize = 2;

/// Minutes one subject may span. An AWS object spans some 5–20 minutes (a 5-minute file plus
/// records of up to 10-minute capture windows); flows past the cap count as unattributed.
pub const MAX_WINDOWS_PER_SOURCE: usize = 60;

/// Per-minute values of one subject, found by minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows<T> {
    keys: [u32; INLINE_KEYS],
    more_keys: Vec<u32>,
    values: [T; INLINE_VALUES],
    more_values: Vec<T>,
    len: u16,
    last: u16,
}

impl<T: Default + Copy> Default for Windows<T> {
    fn default() -> Self {
        Windows {
            keys: [u32::MAX; INLINE_KEYS],
            more_keys: Vec::new(),
            values: [T::default(); INLINE_VALUES],
            more_values: Vec::new(),
            len: 0,
            last: 0,
        }
    }
}

/// A minute number (Unix seconds / 60) for a window start.
#[inline]
fn minute_number(start: i64) -> u32 {
    (start.div_euclid(WINDOW_SECS)).clamp(0, i64::from(u32::MAX - 1)) as u32
}

impl<T: Default + Copy> Windows<T> {
    /// The values of the window starting at `start` (Unix seconds, a multiple of 60), created
    /// empty if needed; `None` when the subject already spans [`MAX_WINDOWS_PER_SOURCE`].
    #[inline]
    pub(crate) fn get_or_insert(&mut self, start: i64) -> Option<&mut T> {
        self.get_or_insert_within(start, MAX_WINDOWS_PER_SOURCE)
    }

    /// As [`Self::get_or_insert`], with at most `cap` windows.
    #[inline]
    pub(crate) fn get_or_insert_within(&mut self, start: i64, cap: usize) -> Option<&mut T> {
        let m = minute_number(start);
        let len = usize::from(self.len);
        let last = usize::from(self.last);
        let i = if last < len && self.key(last) == m {
            last
        } else {
            let found = self.keys[..len.min(INLINE_KEYS)]
                .iter()
                .position(|&k| k == m)
                .or_else(|| {
                    self.more_keys
                        .iter()
                        .position(|&k| k == m)
                        .map(|i| i + INLINE_KEYS)
                });
            match found {
                Some(i) => i,
                None if len >= cap.min(usize::from(u16::MAX)) => return None,
                None => {
                    if len < INLINE_KEYS {
                        self.keys[len] = m;
                    } else {
                        self.more_keys.push(m);
                    }
                    if len >= INLINE_VALUES {
                        self.more_values.push(T::default());
                    }
                    self.len += 1;
                    len
                }
            }
        };
        self.last = i as u16;
        Some(self.value_mut(i))
    }

    #[inline]
    fn value_mut(&mut self, i: usize) -> &mut T {
        if i < INLINE_VALUES {
            &mut self.values[i]
        } else {
            &mut self.more_values[i - INLINE_VALUES]
        }
    }
}

impl<T> Windows<T> {
    #[inline]
    fn key(&self, i: usize) -> u32 {
        if i < INLINE_KEYS {
            self.keys[i]
        } else {
            self.more_keys[i - INLINE_KEYS]
        }
    }

    /// `(window start, values)` in order of first appearance.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &T)> {
        let len = usize::from(self.len);
        self.values
            .iter()
            .take(len)
            .chain(self.more_values.iter())
            .enumerate()
            .map(|(i, v)| (i64::from(self.key(i)) * WINDOW_SECS, v))
    }
}

/// A subject of a [`Table`]: how much traffic it carried (to decide which to keep).
pub(crate) trait Weighted {
    fn weight(&self) -> u64;
}

/// Entries sampled to find one to evict when a heavier newcomer arrives.
const EVICTION_SAMPLE: usize = 8;

/// Up to `cap` subjects, keyed by `K`. Once full, a newcomer is admitted only when the
/// [`Admission`] filter has seen more of it than the lightest of a few sampled entries, which
/// it then replaces: heavy subjects are tracked whatever came before them, and a crowd of
/// one-off keys (a spoofed storm) cannot push them out.
#[derive(Debug)]
pub(crate) struct Table<K, V> {
    index: HashMap<K, u32, foldhash::fast::RandomState>,
    entries: Vec<(K, V)>,
    cap: usize,
    admission: Option<Box<Admission>>,
    cursor: usize,
    /// The weight of the last entry sampled for eviction: a newcomer the filter has seen no
    /// more of is refused without sampling again (entries only grow, so it is never too high
    /// for long).
    floor: u64,
    refused: u32,
}

/// Refusals between two samples taken only to refresh the eviction floor.
const RESAMPLE_EVERY: u32 = 64;

/// What a [`Table`] lookup found.
pub(crate) enum Slot<'a, V> {
    /// Tracked (newly or already); `prior` is the weight it may have carried before it was.
    Tracked(&'a mut V),
    /// Not tracked: count it with the untracked traffic.
    Untracked,
}

impl<K: Copy + Eq + Hash, V: Weighted> Table<K, V> {
    pub(crate) fn new(cap: usize) -> Self {
        Table {
            index: HashMap::default(),
            entries: Vec::new(),
            cap,
            admission: None,
            cursor: 0,
            floor: 0,
            refused: 0,
        }
    }

    /// The entry of `key`, created with `make(prior)` if there is room or it is heavier than
    /// an entry it evicts (handed to `evicted`).
    #[inline]
    pub(crate) fn slot(
        &mut self,
        key: K,
        weight: u64,
        make: impl FnOnce(u64) -> V,
        evicted: impl FnOnce(K, V),
    ) -> Slot<'_, V> {
        if let Some(&i) = self.index.get(&key) {
            return Slot::Tracked(&mut self.entries[i as usize].1);
        }
        if self.entries.len() < self.cap {
            return Slot::Tracked(self.push(key, make(0)));
        }
        if self.cap == 0 {
            return Slot::Untracked;
        }
        let seen = self.admission.get_or_insert_default().add(&key, weight);
        self.refused = self.refused.wrapping_add(1);
        // Sampling again now and then lets the floor come down when the sample was unlucky.
        if seen <= self.floor && !self.refused.is_multiple_of(RESAMPLE_EVERY) {
            return Slot::Untracked;
        }
        let victim = (0..EVICTION_SAMPLE.min(self.entries.len()))
            .map(|j| (self.cursor + j) % self.entries.len())
            .min_by_key(|&i| self.entries[i].1.weight())
            .expect("the table is not empty");
        self.cursor = (victim + 1) % self.entries.len();
        self.floor = self.entries[victim].1.weight();
        if seen <= self.floor {
            return Slot::Untracked;
        }
        let (old_key, old) = self.entries.swap_remove(victim);
        self.index.remove(&old_key);
        if let Some((moved, _)) = self.entries.get(victim) {
            self.index.insert(*moved, victim as u32);
        }
        evicted(old_key, old);
        Slot::Tracked(self.push(key, make(seen.saturating_sub(weight))))
    }

    fn push(&mut self, key: K, value: V) -> &mut V {
        let i = self.entries.len();
        self.index.insert(key, i as u32);
        self.entries.push((key, value));
        &mut self.entries[i].1
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.index.get(key).map(|&i| &self.entries[i as usize].1)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct Count(u64);
    impl Weighted for Count {
        fn weight(&self) -> u64 {
            self.0
        }
    }

    fn add(t: &mut Table<u64, Count>, key: u64, evictions: &mut u64) -> bool {
        match t.slot(key, 1, Count, |_, _| *evictions += 1) {
            Slot::Tracked(c) => {
                c.0 += 1;
                true
            }
            Slot::Untracked => false,
        }
    }

    #[test]
    fn a_heavy_key_after_a_full_table_of_one_off_keys_is_tracked() {
        let mut t = Table::new(1_000);
        let mut evictions = 0;
        for k in 0..20_001u64 {
            add(&mut t, k, &mut evictions);
        }
        let mut tracked = 0;
        for _ in 0..1_200 {
            tracked += u64::from(add(&mut t, u64::MAX, &mut evictions));
        }
        assert_eq!(t.len(), 1_000);
        assert!(tracked >= 1_190, "tracked {tracked} of 1200");
        assert!(t.get(&u64::MAX).unwrap().0 >= 1_190);
        // A crowd of further one-off keys does not push it out.
        for k in 100_000..300_000u64 {
            add(&mut t, k, &mut evictions);
        }
        assert!(t.get(&u64::MAX).is_some());
    }

    #[test]
    fn windows_find_minutes_inline_and_beyond_and_stop_at_the_cap() {
        let mut w: Windows<u32> = Windows::default();
        for round in 0..3 {
            for m in 0..MAX_WINDOWS_PER_SOURCE as i64 {
                *w.get_or_insert(m * 60).unwrap() += 1;
            }
            assert_eq!(w.iter().count(), MAX_WINDOWS_PER_SOURCE, "round {round}");
        }
        assert!(w.get_or_insert(10_000 * 60).is_none());
        assert!(w.iter().all(|(_, &v)| v == 3));
        assert_eq!(w.iter().nth(20).map(|(s, _)| s), Some(20 * 60));
    }
}
