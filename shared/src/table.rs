//! Bounded containers of the aggregation: the minutes of one subject, and a table of subjects
//! that keeps the heaviest ones once it is full.

use std::hash::{BuildHasher, Hash};

use crate::minute::WINDOW_SECS;
use crate::sketch::Admission;

/// Minutes kept inline: most subjects of an object span a minute or two, and an inline value
/// saves the cache miss of a second allocation on every record.
const INLINE: usize = 2;

/// Minutes one subject may span. An AWS object spans some 5–20 minutes (a 5-minute file plus
/// records of up to 10-minute capture windows); past the cap a record's minute takes the place
/// of the subject's lightest minute if it is heavier, else its flow counts as unattributed.
pub const MAX_WINDOWS_PER_SOURCE: usize = 60;

/// Minutes that subjects may hold beyond their inline ones, shared by all of them: the memory
/// budget's window share, in windows. Each subject's spill vector takes from it as it grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pool {
    pub(crate) free: usize,
}

/// Per-minute values of one subject, found by minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows<T> {
    keys: [u32; INLINE],
    values: [T; INLINE],
    /// Minutes beyond the inline ones, with their minute numbers.
    more: Vec<(u32, T)>,
    inline: u8,
    /// Index (inline ones first) of the minute found last: records come in time order.
    last: u16,
    /// The minute last refused for want of room ([`NO_MINUTE`]: none) and the weight of its
    /// records refused so far: once it outweighs the lightest minute held, it takes its place.
    candidate: u32,
    candidate_weight: u32,
}

/// No minute: minute numbers stop at `u32::MAX - 1`.
const NO_MINUTE: u32 = u32::MAX;

impl<T: Default + Copy> Default for Windows<T> {
    fn default() -> Self {
        Windows {
            keys: [u32::MAX; INLINE],
            values: [T::default(); INLINE],
            more: Vec::new(),
            inline: 0,
            last: 0,
            candidate: NO_MINUTE,
            candidate_weight: 0,
        }
    }
}

/// A minute number (Unix seconds / 60) for a window start.
#[inline]
fn minute_number(start: i64) -> u32 {
    (start.div_euclid(WINDOW_SECS)).clamp(0, i64::from(u32::MAX - 1)) as u32
}

impl<T: Default + Copy> Windows<T> {
    /// Minutes held.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.inline) + self.more.len()
    }

    /// Minutes held in the shared pool (capacity of the spill vector).
    pub(crate) fn pooled(&self) -> usize {
        self.more.capacity()
    }

    #[inline]
    fn find(&self, m: u32) -> Option<usize> {
        let last = usize::from(self.last);
        if last < self.len() && self.key(last) == m {
            return Some(last);
        }
        if let Some(i) = self.keys[..usize::from(self.inline)]
            .iter()
            .position(|&k| k == m)
        {
            return Some(i);
        }
        // Newest first: records come roughly in time order.
        self.more
            .iter()
            .rposition(|&(k, _)| k == m)
            .map(|i| i + INLINE)
    }

    #[inline]
    fn key(&self, i: usize) -> u32 {
        if i < INLINE {
            self.keys[i]
        } else {
            self.more[i - INLINE].0
        }
    }

    #[inline]
    fn value_mut(&mut self, i: usize) -> &mut T {
        self.last = i as u16;
        if i < INLINE {
            &mut self.values[i]
        } else {
            &mut self.more[i - INLINE].1
        }
    }

    /// Adds minute `m` in a new slot if there is room: inline, or in the spill vector within
    /// `cap` windows, growing it from `pool` when one is given (else freely).
    #[inline]
    fn push(&mut self, m: u32, cap: usize, pool: Option<&mut Pool>) -> Option<usize> {
        let len = self.len();
        if usize::from(self.inline) < INLINE {
            let i = usize::from(self.inline);
            self.keys[i] = m;
            self.values[i] = T::default();
            self.inline += 1;
            return Some(i);
        }
        if len >= cap.min(usize::from(u16::MAX)) {
            return None;
        }
        if self.more.len() == self.more.capacity() {
            // Grown by half, not doubled: `make bench` 1,843 against 2,404 bytes per tracked
            // source (v2), 1,845 against 2,118 (custom format), at the same CPU.
            let wanted = (self.more.capacity() / 2).max(2).min(cap - len);
            let granted = match pool {
                Some(pool) => {
                    let granted = wanted.min(pool.free);
                    pool.free -= granted;
                    granted
                }
                None => wanted,
            };
            if granted == 0 {
                return None;
            }
            self.more.reserve_exact(granted);
        }
        self.more.push((m, T::default()));
        Some(len)
    }

    /// The values of the window starting at `start` (Unix seconds, a multiple of 60), created
    /// empty if needed; `None` when the subject already spans `cap` windows.
    #[inline]
    pub(crate) fn get_or_insert_within(&mut self, start: i64, cap: usize) -> Option<&mut T> {
        let m = minute_number(start);
        let i = match self.find(m) {
            Some(i) => i,
            None => self.push(m, cap, None)?,
        };
        Some(self.value_mut(i))
    }

    /// As [`Self::get_or_insert_within`], with spill windows from `pool`. When the subject is
    /// full (at `cap`, or the pool is spent) a new minute's records are refused until together
    /// (this one of `weight` included) they outweigh the lightest minute held by `weigh`; then
    /// the new minute takes its place (the dropped minute goes to `dropped`): what is kept is
    /// what the verdict needs, the busiest minutes, even when a subject's earlier minutes were
    /// as light as each of a flood's records.
    #[inline]
    pub(crate) fn get_or_insert_weighed(
        &mut self,
        start: i64,
        weight: u64,
        cap: usize,
        pool: &mut Pool,
        weigh: impl Fn(&T) -> u64,
        dropped: impl FnOnce(&T),
    ) -> Option<&mut T> {
        let m = minute_number(start);
        if let Some(i) = self.find(m) {
            return Some(self.value_mut(i));
        }
        if let Some(i) = self.push(m, cap, Some(pool)) {
            return Some(self.value_mut(i));
        }
        let (i, lightest) = (0..self.len())
            .map(|i| (i, weigh(self.value(i))))
            .min_by_key(|&(_, w)| w)?;
        let refused = if self.candidate == m {
            u64::from(self.candidate_weight).saturating_add(weight)
        } else {
            weight
        };
        if refused <= lightest {
            self.candidate = m;
            self.candidate_weight = u32::try_from(refused).unwrap_or(u32::MAX);
            return None;
        }
        self.candidate = NO_MINUTE;
        dropped(self.value(i));
        if i < INLINE {
            self.keys[i] = m;
        } else {
            self.more[i - INLINE].0 = m;
        }
        let value = self.value_mut(i);
        *value = T::default();
        Some(value)
    }

    /// The same minutes with each value mapped by `f`, holding as many pool windows (the
    /// spill vector's capacity is kept).
    pub(crate) fn map<U>(&self, f: impl Fn(&T) -> U) -> Windows<U> {
        let mut more = Vec::with_capacity(self.more.capacity());
        more.extend(self.more.iter().map(|(k, v)| (*k, f(v))));
        Windows {
            keys: self.keys,
            values: self.values.each_ref().map(&f),
            more,
            inline: self.inline,
            last: self.last,
            candidate: self.candidate,
            candidate_weight: self.candidate_weight,
        }
    }

    /// Drops the minutes beyond the inline ones (each handed to `dropped`) and frees their
    /// memory; returns the windows that go back to the pool.
    pub(crate) fn release_spill(&mut self, mut dropped: impl FnMut(&T)) -> usize {
        self.more.iter().for_each(|(_, v)| dropped(v));
        let freed = self.more.capacity();
        self.more = Vec::new();
        if usize::from(self.last) >= INLINE {
            self.last = 0;
        }
        freed
    }

    /// Prefetches the spill slot of the minute found last (the one the next record most
    /// likely updates).
    #[inline]
    pub(crate) fn prefetch_last(&self) {
        if let Some(slot) = self.more.get(usize::from(self.last).wrapping_sub(INLINE)) {
            prefetch_lines(slot);
        }
    }

    fn value(&self, i: usize) -> &T {
        if i < INLINE {
            &self.values[i]
        } else {
            &self.more[i - INLINE].1
        }
    }
}

impl<T> Windows<T> {
    /// `(window start, values)`, inline minutes first.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &T)> {
        let inline = usize::from(self.inline);
        self.keys[..inline]
            .iter()
            .zip(&self.values[..inline])
            .chain(self.more.iter().map(|(k, v)| (k, v)))
            .map(|(&k, v)| (i64::from(k) * WINDOW_SECS, v))
    }
}

/// A subject of a [`Table`]: how much traffic it carried (to decide which to keep), and which
/// of its memory a record touches (to fetch it ahead, see [`prefetch`]).
pub(crate) trait Weighted {
    fn weight(&self) -> u64;

    /// Spill windows it holds from the shared pool.
    fn pooled(&self) -> usize;

    /// Prefetches the parts of the subject outside its entry that a record updates.
    fn prefetch_parts(&self);
}

/// Asks the CPU to bring the cache line of `p` in, without waiting for it: the aggregation
/// fetches what a batch of records will touch before touching any of it, so that the misses of
/// a whole batch overlap instead of following one another.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above (`prfm` never faults).
    unsafe {
        std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) p, options(nostack, readonly, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}

/// Prefetches the cache lines of `value` (at most 4).
#[inline(always)]
pub(crate) fn prefetch_lines<T>(value: *const T) {
    let bytes = std::mem::size_of::<T>().min(256);
    for offset in (0..bytes).step_by(64) {
        prefetch(value.cast::<u8>().wrapping_add(offset));
    }
}

/// Entries sampled to find one to evict when a heavier newcomer arrives.
const EVICTION_SAMPLE: usize = 8;

/// Where each key's entry is: open addressing with linear probing, a slot holding 32 bits of
/// the key's hash and the entry's position + 1 (0: empty). Written out rather than a `HashMap`
/// to know a key's slot from its hash alone, which is what lets a batch prefetch it.
#[derive(Debug)]
struct Index {
    slots: Vec<u64>,
    len: usize,
}

impl Index {
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        hash as usize & self.mask()
    }

    #[inline]
    fn tag(hash: u64) -> u64 {
        (hash >> 32) << 32
    }

    /// The positions of the entries whose hash matches `hash`'s, in probe order.
    #[inline]
    fn candidates(&self, hash: u64) -> impl Iterator<Item = usize> + '_ {
        let tag = Self::tag(hash);
        let mut i = self.home(hash);
        std::iter::from_fn(move || {
            loop {
                let slot = self.slots[i];
                if slot == 0 {
                    return None;
                }
                i = (i + 1) & self.mask();
                if slot & !0xFFFF_FFFF == tag {
                    return Some((slot as u32 - 1) as usize);
                }
            }
        })
    }

    /// Adds entry `position` (at most half the slots are used).
    fn insert(&mut self, hash: u64, position: usize) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        self.put(hash, position);
        self.len += 1;
    }

    fn put(&mut self, hash: u64, position: usize) {
        let mut i = self.home(hash);
        while self.slots[i] != 0 {
            i = (i + 1) & self.mask();
        }
        self.slots[i] = Self::tag(hash) | (position as u64 + 1);
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![0; size]);
        for slot in old.into_iter().filter(|&s| s != 0) {
            self.put_raw(slot);
        }
    }

    /// Re-places a slot whose home is derived from its tag (see [`Index::home_of_slot`]).
    fn put_raw(&mut self, slot: u64) {
        let mut i = Self::home_of_slot(slot) & self.mask();
        while self.slots[i] != 0 {
            i = (i + 1) & self.mask();
        }
        self.slots[i] = slot;
    }

    /// The home of a stored slot: its tag's bits.
    fn home_of_slot(slot: u64) -> usize {
        (slot >> 32) as usize
    }

    /// Finds the slot holding `position`.
    fn slot_of(&self, hash: u64, position: usize) -> usize {
        let mut i = self.home(hash);
        while self.slots[i] as u32 as usize != position + 1 {
            i = (i + 1) & self.mask();
        }
        i
    }

    /// Removes entry `position`, closing the gap so that every probe still finds its key.
    fn remove(&mut self, hash: u64, position: usize) {
        let mut hole = self.slot_of(hash, position);
        self.slots[hole] = 0;
        self.len -= 1;
        let mut i = (hole + 1) & self.mask();
        while self.slots[i] != 0 {
            let home = Self::home_of_slot(self.slots[i]) & self.mask();
            // Move the slot back if its home is not in (hole, i] (cyclically).
            let stays = if hole < i {
                hole < home && home <= i
            } else {
                hole < home || home <= i
            };
            if !stays {
                self.slots[hole] = self.slots[i];
                self.slots[i] = 0;
                hole = i;
            }
            i = (i + 1) & self.mask();
        }
    }

    /// Entry `from` moved to `to`.
    fn moved(&mut self, hash: u64, from: usize, to: usize) {
        let i = self.slot_of(hash, from);
        self.slots[i] = (self.slots[i] & !0xFFFF_FFFF) | (to as u64 + 1);
    }
}

/// Up to `cap` subjects, keyed by `K`. Once full, a newcomer is admitted only when the
/// [`Admission`] filter has seen more of it than the lightest of a few sampled entries, which
/// it then replaces: heavy subjects are tracked whatever came before them, and a crowd of
/// one-off keys (a spoofed storm) cannot push them out.
#[derive(Debug)]
pub(crate) struct Table<K, V> {
    hasher: foldhash::fast::RandomState,
    index: Index,
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
            hasher: foldhash::fast::RandomState::default(),
            index: Index {
                slots: vec![0; 16],
                len: 0,
            },
            entries: Vec::new(),
            cap,
            admission: None,
            cursor: 0,
            floor: 0,
            refused: 0,
        }
    }

    /// The hash of `key`, whose 32 high bits are also its home slot (see [`Index`]).
    #[inline]
    pub(crate) fn hash(&self, key: &K) -> u64 {
        let h = self.hasher.hash_one(key);
        // The home slot must be recoverable from the 32 bits a slot keeps.
        (h & !0xFFFF_FFFF) | (h >> 32)
    }

    #[inline]
    fn position(&self, key: &K, hash: u64) -> Option<usize> {
        self.index
            .candidates(hash)
            .find(|&i| self.entries[i].0 == *key)
    }

    /// First step of fetching `key`'s entry ahead: its slot in the index.
    #[inline]
    pub(crate) fn prefetch_slot(&self, hash: u64) {
        prefetch(&self.index.slots[self.index.home(hash)]);
    }

    /// Second step (once the slot is in cache): the entry, if there is one.
    #[inline]
    pub(crate) fn prefetch_entry(&self, hash: u64) {
        if let Some(i) = self.index.candidates(hash).next() {
            prefetch_lines(&self.entries[i]);
        }
    }

    /// Third step (once the entry is in cache): what it points to.
    #[inline]
    pub(crate) fn prefetch_parts(&self, key: &K, hash: u64) {
        if let Some(i) = self.position(key, hash) {
            self.entries[i].1.prefetch_parts();
        }
    }

    /// The entry of `key` (of hash [`Self::hash`]), created with `make(prior)` if there is
    /// room or it is heavier than an entry it evicts (handed to `evicted`).
    #[inline]
    pub(crate) fn slot(
        &mut self,
        key: K,
        hash: u64,
        weight: u64,
        make: impl FnOnce(u64) -> V,
        evicted: impl FnOnce(K, V),
    ) -> Slot<'_, V> {
        if let Some(i) = self.position(&key, hash) {
            return Slot::Tracked(&mut self.entries[i].1);
        }
        if self.entries.len() < self.cap {
            return Slot::Tracked(self.push(key, hash, make(0)));
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
        let old_hash = self.hash(&self.entries[victim].0);
        self.index.remove(old_hash, victim);
        let last = self.entries.len() - 1;
        if victim != last {
            let moved_hash = self.hash(&self.entries[last].0);
            self.index.moved(moved_hash, last, victim);
        }
        let (old_key, old) = self.entries.swap_remove(victim);
        evicted(old_key, old);
        Slot::Tracked(self.push(key, hash, make(seen.saturating_sub(weight))))
    }

    /// For a subject of `weight` that found the window pool spent: the lightest of a few sampled
    /// entries that hold pooled windows, if it is less than half as heavy, is handed to
    /// `release` (which frees its spill windows into the pool). The factor keeps subjects of
    /// about equal weight from taking each other's minutes in turn. Whether one was found.
    pub(crate) fn reclaim_for(&mut self, weight: u64, release: impl FnOnce(&K, &mut V)) -> bool {
        let n = self.entries.len();
        if n == 0 {
            return false;
        }
        let victim = (0..EVICTION_SAMPLE.min(n))
            .map(|j| (self.cursor + j) % n)
            .filter(|&i| self.entries[i].1.pooled() > 0)
            .min_by_key(|&i| self.entries[i].1.weight());
        self.cursor = (self.cursor + EVICTION_SAMPLE) % n;
        match victim {
            Some(i) if self.entries[i].1.weight().saturating_mul(2) < weight => {
                let (key, value) = &mut self.entries[i];
                release(key, value);
                true
            }
            _ => false,
        }
    }

    fn push(&mut self, key: K, hash: u64, value: V) -> &mut V {
        let i = self.entries.len();
        self.index.insert(hash, i);
        self.entries.push((key, value));
        &mut self.entries[i].1
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.position(key, self.hash(key))
            .map(|i| &self.entries[i].1)
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

        fn pooled(&self) -> usize {
            0
        }

        fn prefetch_parts(&self) {}
    }

    fn add(t: &mut Table<u64, Count>, key: u64, evictions: &mut u64) -> bool {
        let hash = t.hash(&key);
        match t.slot(key, hash, 1, Count, |_, _| *evictions += 1) {
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
    fn the_index_finds_every_key_after_evictions_move_and_remove_entries() {
        // A tiny table evicts on almost every newcomer: entries are removed and moved (swap
        // remove), slots shifted back; every tracked key must still be found, and only those.
        let mut t: Table<u64, Count> = Table::new(64);
        let mut evictions = 0;
        for round in 0..20u64 {
            for k in 0..2_000u64 {
                // Keys seen more often in later rounds outweigh the tracked ones.
                for _ in 0..=(k % 5) * round {
                    add(&mut t, k, &mut evictions);
                }
            }
            let tracked: Vec<u64> = t.iter().map(|(k, _)| *k).collect();
            assert_eq!(tracked.len(), 64);
            for k in 0..2_000u64 {
                assert_eq!(
                    t.get(&k).is_some(),
                    tracked.contains(&k),
                    "round {round} key {k}"
                );
            }
        }
        assert!(evictions > 1_000, "{evictions}");
    }

    #[test]
    fn windows_find_minutes_inline_and_beyond_and_stop_at_the_cap() {
        let cap = MAX_WINDOWS_PER_SOURCE;
        let mut w: Windows<u32> = Windows::default();
        for round in 0..3 {
            for m in 0..cap as i64 {
                *w.get_or_insert_within(m * 60, cap).unwrap() += 1;
            }
            assert_eq!(w.iter().count(), cap, "round {round}");
        }
        assert!(w.get_or_insert_within(10_000 * 60, cap).is_none());
        assert!(w.iter().all(|(_, &v)| v == 3));
        assert_eq!(w.iter().nth(20).map(|(s, _)| s), Some(20 * 60));
    }

    #[test]
    fn a_full_subject_keeps_its_busiest_minutes_within_the_pool() {
        let mut pool = Pool { free: 6 };
        let mut w: Windows<u64> = Windows::default();
        let mut dropped = Vec::new();
        // Minute m weighs m; inline minutes take nothing from the pool.
        for m in 1..=20u64 {
            if let Some(v) = w.get_or_insert_weighed(
                m as i64 * 60,
                m,
                100,
                &mut pool,
                |&v| v,
                |&v| dropped.push(v),
            ) {
                *v += m;
            }
        }
        assert_eq!(pool.free, 0);
        assert_eq!(w.len(), 8);
        assert_eq!(w.pooled(), 6);
        let mut kept: Vec<u64> = w.iter().map(|(_, &v)| v).collect();
        kept.sort_unstable();
        assert_eq!(kept, (13..=20).collect::<Vec<_>>());
        assert_eq!(dropped, (1..=12).collect::<Vec<_>>());
        // A record lighter than every kept minute is refused.
        let refused = w.get_or_insert_weighed(99 * 60, 5, 100, &mut pool, |&v| v, |_| {});
        assert!(refused.is_none());
    }

    #[test]
    fn a_minute_of_light_records_takes_a_full_subjects_lightest_minute_once_it_outweighs_it() {
        // A subject at its cap with minutes of weight 10 each; then a flood minute whose records
        // weigh 1 each: refused until together they outweigh 10, counted from then on.
        let cap = 4;
        let mut pool = Pool { free: 2 };
        let mut w: Windows<u64> = Windows::default();
        for m in 0..cap as i64 {
            *w.get_or_insert_weighed(m * 60, 10, cap, &mut pool, |&v| v, |_| {})
                .unwrap() += 10;
        }
        let mut dropped = Vec::new();
        let mut refused = 0;
        for _ in 0..100 {
            match w.get_or_insert_weighed(50 * 60, 1, cap, &mut pool, |&v| v, |&v| dropped.push(v))
            {
                Some(v) => *v += 1,
                None => refused += 1,
            }
        }
        assert_eq!(refused, 10);
        assert_eq!(dropped, [10]);
        assert_eq!(w.len(), cap);
        let flood = w.iter().find(|&(s, _)| s == 50 * 60).map(|(_, &v)| v);
        assert_eq!(flood, Some(90));
        // Refusals of another minute in between start its count again.
        let mut pool = Pool { free: 2 };
        let mut w: Windows<u64> = Windows::default();
        for m in 0..cap as i64 {
            *w.get_or_insert_weighed(m * 60, 10, cap, &mut pool, |&v| v, |_| {})
                .unwrap() += 10;
        }
        for i in 0..40 {
            let minute = 60 + i % 2;
            assert!(
                w.get_or_insert_weighed(minute * 60, 1, cap, &mut pool, |&v| v, |_| {})
                    .is_none()
            );
        }
    }

    #[test]
    fn released_spill_minutes_return_to_the_pool_and_the_inline_ones_stay() {
        let mut pool = Pool { free: 10 };
        let mut w: Windows<u64> = Windows::default();
        for m in 0..6i64 {
            *w.get_or_insert_weighed(m * 60, 1, 60, &mut pool, |&v| v, |_| {})
                .unwrap() += 1;
        }
        assert_eq!(w.len(), 6);
        let mut dropped = 0;
        let freed = w.release_spill(|&v| dropped += v);
        assert_eq!(
            (dropped, freed, w.len(), w.pooled()),
            (4, 10 - pool.free, 2, 0)
        );
        // The inline minutes are still found and updated.
        *w.get_or_insert_weighed(60, 1, 60, &mut pool, |&v| v, |_| {})
            .unwrap() += 1;
        let kept: Vec<(i64, u64)> = w.iter().map(|(s, &v)| (s, v)).collect();
        assert_eq!(kept, [(0, 1), (60, 2)]);
    }
}
