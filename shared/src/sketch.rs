//! Small fixed-size summaries of attacker-controlled streams: the heaviest keys (Space-Saving),
//! distinct counts (HyperLogLog) and a frequency filter for keys not tracked yet (Count-Min).
//! Each has a fixed memory cost whatever the input.

use std::hash::{BuildHasher, Hash};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A fixed hasher: sketches must give the same answer for the same input in every run.
fn hash64<K: Hash>(key: &K) -> u64 {
    let h = foldhash::fast::FixedState::with_seed(0x5eed_f10f_1065_u64).hash_one(key);
    // A finaliser (splitmix64's): every output bit depends on every input bit, which the
    // register index (the top bits) needs for small keys.
    let h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

/// The `N` heaviest keys of a weighted stream (Space-Saving, Metwally et al. 2005). A key whose
/// true weight exceeds `total / N` is always kept; each kept key knows how much of its weight
/// may belong to keys it replaced (`error`), so `weight - error` is a lower bound. Counts are
/// kept in 32 bits (saturating: a source's packets in one object stay far below 2^32), which
/// halves the cache lines an update touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopK<K, const N: usize> {
    keys: [K; N],
    weight: [u32; N],
    error: [u32; N],
    flows: [u32; N],
    len: u8,
    /// The slot the last key went to: streams repeat keys, so it is checked first.
    last: u8,
}

/// One key of a [`TopK`] with what is known of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heavy<K> {
    /// The key.
    pub key: K,
    /// Its weight, at least `weight - error` of which is its own.
    pub weight: u64,
    /// How much of `weight` may have come from keys it replaced.
    pub error: u64,
    /// Flows counted since it was last (re)admitted: a lower bound.
    pub flows: u64,
}

impl<K: Copy + PartialEq, const N: usize> TopK<K, N> {
    /// An empty summary; `filler` only fills unused slots.
    pub fn new(filler: K) -> Self {
        TopK {
            keys: [filler; N],
            weight: [0; N],
            error: [0; N],
            flows: [0; N],
            len: 0,
            last: 0,
        }
    }

    /// Adds `weight` (and `flows`) for `key`.
    #[inline]
    pub fn add(&mut self, key: K, weight: u64, flows: u64) {
        let weight = u32::try_from(weight).unwrap_or(u32::MAX);
        let flows = u32::try_from(flows).unwrap_or(u32::MAX);
        let len = usize::from(self.len);
        let last = usize::from(self.last);
        let found = if last < len && self.keys[last] == key {
            Some(last)
        } else {
            self.keys[..len].iter().position(|k| *k == key)
        };
        if let Some(i) = found {
            self.weight[i] = self.weight[i].saturating_add(weight);
            self.flows[i] = self.flows[i].saturating_add(flows);
            self.last = i as u8;
            return;
        }
        if len < N {
            self.keys[len] = key;
            self.weight[len] = weight;
            self.error[len] = 0;
            self.flows[len] = flows;
            self.last = len as u8;
            self.len += 1;
            return;
        }
        let (i, min) = self
            .weight
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(_, w)| w)
            .expect("N > 0");
        self.keys[i] = key;
        self.weight[i] = min.saturating_add(weight);
        self.error[i] = min;
        self.flows[i] = flows;
        self.last = i as u8;
    }

    /// The kept keys, heaviest (by lower bound) first.
    pub fn heaviest(&self) -> Vec<Heavy<K>> {
        let mut all: Vec<Heavy<K>> = (0..usize::from(self.len))
            .map(|i| Heavy {
                key: self.keys[i],
                weight: u64::from(self.weight[i]),
                error: u64::from(self.error[i]),
                flows: u64::from(self.flows[i]),
            })
            .collect();
        all.sort_by_key(|h| std::cmp::Reverse((h.weight - h.error, h.weight)));
        all
    }

    /// Whether keys were replaced (more distinct keys came than it keeps).
    pub fn overflowed(&self) -> bool {
        self.error[..usize::from(self.len)].iter().any(|&e| e > 0)
    }

    /// Distinct keys kept.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<K: Copy + PartialEq> Heavy<K> {
    /// The union of two lists of heavy keys (summaries of disjoint streams): weights of a key
    /// in both add up; the `n` heaviest by lower bound are kept.
    pub fn merge(a: &[Heavy<K>], b: &[Heavy<K>], n: usize) -> Vec<Heavy<K>> {
        let mut all: Vec<Heavy<K>> = a.to_vec();
        for h in b {
            match all.iter_mut().find(|x| x.key == h.key) {
                Some(x) => {
                    x.weight = x.weight.saturating_add(h.weight);
                    x.error = x.error.saturating_add(h.error);
                    x.flows = x.flows.saturating_add(h.flows);
                }
                None => all.push(*h),
            }
        }
        all.sort_by_key(|h| std::cmp::Reverse((h.weight - h.error, h.weight)));
        all.truncate(n);
        all
    }
}

/// Registers of a [`Distinct`] sketch: 2^6, for a standard error of about 13%.
const HLL_REGISTERS: usize = 64;

/// Approximate count of distinct keys (HyperLogLog, Flajolet et al. 2007) in 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distinct {
    registers: [u8; HLL_REGISTERS],
}

impl Default for Distinct {
    fn default() -> Self {
        Distinct {
            registers: [0; HLL_REGISTERS],
        }
    }
}

impl Distinct {
    /// Nothing added.
    pub const EMPTY: Distinct = Distinct {
        registers: [0; HLL_REGISTERS],
    };

    /// Adds a key.
    #[inline]
    pub fn add<K: Hash>(&mut self, key: &K) {
        let h = hash64(key);
        let index = (h >> 58) as usize;
        let rank = (h << 6 | 1 << 5).leading_zeros() as u8 + 1;
        if rank > self.registers[index] {
            self.registers[index] = rank;
        }
    }

    /// Adds every key the other sketch saw.
    pub fn merge(&mut self, other: &Distinct) {
        for (r, o) in self.registers.iter_mut().zip(other.registers) {
            *r = (*r).max(o);
        }
    }

    /// The estimated number of distinct keys added.
    pub fn estimate(&self) -> u64 {
        let m = HLL_REGISTERS as f64;
        let sum: f64 = self
            .registers
            .iter()
            .map(|&r| 2f64.powi(-i32::from(r)))
            .sum();
        let raw = 0.709 * m * m / sum;
        let zeros = self.registers.iter().filter(|&&r| r == 0).count();
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        estimate.round() as u64
    }
}

impl Serialize for Distinct {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.registers.iter())
    }
}

impl<'de> Deserialize<'de> for Distinct {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Distinct, D::Error> {
        let bytes = Vec::<u8>::deserialize(deserializer)?;
        let registers: [u8; HLL_REGISTERS] = bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("a distinct-count sketch has 64 registers"))?;
        Ok(Distinct { registers })
    }
}

/// Rows and width of the [`Admission`] filter: 4 × 2^14 counters (256 KiB).
const CM_ROWS: usize = 4;
const CM_BITS: u32 = 14;

/// How often keys that are not tracked were seen (Count-Min with conservative update, Cormode
/// and Muthukrishnan 2005; Estan and Varghese 2002): estimates never undercount, and a key seen
/// often is told apart from a crowd of keys seen once.
#[derive(Debug, Clone)]
pub struct Admission {
    counters: Box<[u32]>,
    total: u64,
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            counters: vec![0; CM_ROWS << CM_BITS].into_boxed_slice(),
            total: 0,
        }
    }
}

impl Admission {
    /// Memory of one filter.
    pub(crate) const BYTES: usize = (CM_ROWS << CM_BITS) * std::mem::size_of::<u32>();

    /// Adds `weight` for `key` and returns how much of the key's estimated total stands out
    /// from the crowd: the estimate less what any counter collects from other keys on average
    /// (the total added over the width of a row). A crowd of one-off keys thus stays near 0,
    /// however large, and a frequent key climbs by its own weight.
    pub fn add<K: Hash>(&mut self, key: &K, weight: u64) -> u64 {
        self.total = self.total.saturating_add(weight);
        let estimate = self.estimate_after_adding(key, weight);
        estimate.saturating_sub(self.total >> CM_BITS)
    }

    fn estimate_after_adding<K: Hash>(&mut self, key: &K, weight: u64) -> u64 {
        let h = hash64(key);
        let mask = (1u64 << CM_BITS) - 1;
        let slots: [usize; CM_ROWS] =
            std::array::from_fn(|r| (r << CM_BITS) + ((h >> (r as u32 * CM_BITS)) & mask) as usize);
        let current = slots.iter().map(|&s| self.counters[s]).min().unwrap_or(0);
        let target = u64::from(current)
            .saturating_add(weight)
            .min(u64::from(u32::MAX)) as u32;
        for &s in &slots {
            if self.counters[s] < target {
                self.counters[s] = target;
            }
        }
        u64::from(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_keeps_a_heavy_key_arriving_after_a_crowd_of_light_ones() {
        let mut top: TopK<u32, 8> = TopK::new(0);
        for k in 1..=10_000u32 {
            top.add(k, 1, 1);
        }
        for _ in 0..2_000 {
            top.add(99_999, 1, 1);
        }
        let first = top.heaviest()[0];
        assert_eq!(first.key, 99_999);
        assert!(first.weight - first.error <= 2_000 && first.weight >= 2_000);
        assert!(top.overflowed());
    }

    #[test]
    fn top_k_is_exact_below_its_capacity() {
        let mut top: TopK<u16, 4> = TopK::new(0);
        for (k, n) in [(443u16, 5u64), (80, 3), (22, 1)] {
            for _ in 0..n {
                top.add(k, 10, 1);
            }
        }
        let keys: Vec<_> = top
            .heaviest()
            .iter()
            .map(|h| (h.key, h.weight, h.flows))
            .collect();
        assert_eq!(keys, [(443, 50, 5), (80, 30, 3), (22, 10, 1)]);
        assert!(!top.overflowed());
    }

    #[test]
    fn distinct_counts_within_a_third_from_tens_to_millions() {
        for n in [10u64, 100, 1_000, 100_000, 2_000_000] {
            let mut d = Distinct::default();
            for k in 0..n {
                d.add(&k);
                d.add(&k); // repeats do not count
            }
            let e = d.estimate() as f64;
            assert!((e / n as f64 - 1.0).abs() < 0.34, "{n}: {e}");
        }
        assert_eq!(Distinct::default().estimate(), 0);
    }

    #[test]
    fn admission_tells_a_frequent_key_from_a_crowd() {
        let mut a = Admission::default();
        let mut crowd = 0;
        for k in 0..2_000_000u64 {
            crowd = crowd.max(a.add(&k, 2));
        }
        assert!(crowd < 400, "one-off keys stand out by {crowd}");
        let mut heavy = 0;
        for _ in 0..1_000 {
            heavy = a.add(&u64::MAX, 2);
        }
        assert!(heavy >= 1_500, "a frequent key stands out: {heavy}");
        assert!(a.add(&7_777_777u64, 2) < 400);
    }
}
