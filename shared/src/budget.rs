//! The memory an aggregation may use for what its input controls, and what that allows.
//!
//! Everything an object can make the aggregation keep is bounded by one budget: tracked sources
//! and targets (with their evidence and index), the minutes they span beyond their inline ones
//! (one shared pool of windows), and learnt interfaces. Past a bound the least useful data goes,
//! counted: lighter subjects are not tracked ([`crate::Aggregator::untracked_flows`]), lighter
//! minutes give way to heavier ones ([`crate::Aggregator::windows_dropped`]).

use std::mem::size_of;

use crate::aggregate::{AggregateOptions, Key, MAX_RELAYS, SourceStats, TargetStats};
use crate::evidence::{Evidence, TargetEvidence};
use crate::minute::{MinuteCounts, ServedCounts, WindowTotals};
use crate::sketch::Admission;
use crate::source::{INTERFACE_BYTES, MAX_INTERFACES};
use crate::table::MAX_WINDOWS_PER_SOURCE;

/// Bytes the aggregation may use for what its input controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    /// The budget, in bytes.
    pub bytes: usize,
}

/// What the Lambda runtime, the SDK clients, the read buffers and the publishing need besides
/// the aggregation (measured peaks of the functions on empty objects are 20–30 MB).
const LAMBDA_RESERVED_MB: u64 = 48;

impl MemoryBudget {
    /// A budget of `bytes`.
    pub const fn new(bytes: usize) -> MemoryBudget {
        MemoryBudget { bytes }
    }

    /// The budget for a Lambda function of `memory_mb` MB (its `MemorySize`, or the runtime's
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`): what remains after the runtime's share, less a
    /// quarter for allocator slack and the outputs built from the aggregate; at least 8 MiB.
    pub fn for_lambda_memory_mb(memory_mb: u64) -> MemoryBudget {
        let usable = memory_mb.saturating_sub(LAMBDA_RESERVED_MB) * 3 / 4;
        let bytes = (usable << 20).max(8 << 20);
        MemoryBudget::new(usize::try_from(bytes).unwrap_or(usize::MAX))
    }
}

impl Default for MemoryBudget {
    /// 512 MiB: enough for the default 20,000 sources over a day of minutes each, so that
    /// only a hostile object meets it.
    fn default() -> MemoryBudget {
        MemoryBudget::new(512 << 20)
    }
}

/// What a budget allows an aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sources tracked one by one (at most [`AggregateOptions::max_sources`]).
    pub sources: usize,
    /// Targets tracked one by one (at most [`AggregateOptions::max_targets`]).
    pub targets: usize,
    /// Minutes that sources and targets may hold beyond their two inline ones, together.
    pub windows: usize,
    /// Interfaces whose own address is learnt.
    pub interfaces: usize,
}

/// Memory of one tracked subject at most: its table entry (vectors grow by doubling), its index
/// slot (a hash table at most half full after growing), its evidence with allocation overhead.
const fn subject_bytes<V>(evidence: usize) -> usize {
    2 * size_of::<(Key, V)>() + 2 * (size_of::<(Key, u32)>() + 1) + evidence + 16
}

/// A tracked source at most.
pub(crate) const SOURCE_BYTES: usize = subject_bytes::<SourceStats>(size_of::<Evidence>());
/// A tracked target at most.
pub(crate) const TARGET_BYTES: usize = subject_bytes::<TargetStats>(size_of::<TargetEvidence>());
/// A spill window (the larger of a source's and a target's).
const WINDOW_BYTES: usize = {
    let source = size_of::<(u32, MinuteCounts)>();
    let target = size_of::<(u32, ServedCounts)>();
    if source > target { source } else { target }
};
/// What does not grow with the input beyond fixed caps: two admission filters, a day of
/// all-traffic totals and of SKIPDATA windows, the relay set, the untracked bucket's minutes.
const FIXED_BYTES: usize = 2 * Admission::BYTES
    + crate::aggregate::MAX_TOTAL_WINDOWS * (size_of::<(u32, WindowTotals)>() + 48)
    + 2 * MAX_RELAYS * (size_of::<u128>() + 1)
    + MAX_WINDOWS_PER_SOURCE * WINDOW_BYTES;

impl Limits {
    /// Splits `budget`: a tenth at most for interfaces, then tracked subjects up to the
    /// configured counts within half of the rest, and spill windows in what remains.
    pub(crate) fn new(options: &AggregateOptions, budget: MemoryBudget) -> Limits {
        let free = budget.bytes.saturating_sub(FIXED_BYTES);
        let interfaces = (free / 10 / INTERFACE_BYTES).min(MAX_INTERFACES);
        let free = free - interfaces * INTERFACE_BYTES;
        let (sources, targets) = (options.max_sources, options.max_targets());
        let wanted = sources
            .saturating_mul(SOURCE_BYTES)
            .saturating_add(targets.saturating_mul(TARGET_BYTES));
        let (sources, targets) = if wanted <= free / 2 {
            (sources, targets)
        } else {
            let scale = |n: usize| (n as f64 * (free / 2) as f64 / wanted as f64) as usize;
            (scale(sources), scale(targets))
        };
        let used = sources * SOURCE_BYTES + targets * TARGET_BYTES;
        Limits {
            sources,
            targets,
            windows: (free - used) / WINDOW_BYTES,
            interfaces,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_budget_tracks_the_configured_sources_over_a_day_of_minutes() {
        let options = AggregateOptions::default();
        let limits = Limits::new(&options, MemoryBudget::default());
        assert_eq!(limits.sources, options.max_sources);
        assert_eq!(limits.targets, options.max_targets());
        assert!(limits.windows >= options.max_sources * 60, "{limits:?}");
        assert_eq!(limits.interfaces, MAX_INTERFACES);
    }

    #[test]
    fn a_small_lambda_tracks_fewer_sources_than_asked_rather_than_run_out() {
        let options = AggregateOptions {
            max_sources: 10_000_000,
            ..AggregateOptions::default()
        };
        let budget = MemoryBudget::for_lambda_memory_mb(512);
        assert_eq!(budget.bytes, ((512 - 48) * 3 / 4) << 20);
        let limits = Limits::new(&options, budget);
        let bytes = limits.sources * SOURCE_BYTES
            + limits.targets * TARGET_BYTES
            + limits.windows * WINDOW_BYTES
            + limits.interfaces * INTERFACE_BYTES
            + FIXED_BYTES;
        assert!(bytes <= budget.bytes, "{limits:?}: {bytes}");
        assert!(
            (100_000..10_000_000).contains(&limits.sources),
            "{limits:?}"
        );
        assert!(limits.windows >= limits.sources, "{limits:?}");
        assert_eq!(MemoryBudget::for_lambda_memory_mb(0).bytes, 8 << 20);
    }
}
