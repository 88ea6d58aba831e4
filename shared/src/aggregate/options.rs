//! The choices of an aggregation: which address a flow counts for, and how many subjects are
//! tracked one by one.

use std::str::FromStr;

use serde::Serialize;

/// Which address a flow is attributed to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum Attribution {
    /// `srcaddr`/`dstaddr`: the addresses seen by the interface (a NAT gateway's or a load
    /// balancer's own for traffic through them).
    #[serde(rename = "srcaddr")]
    SrcAddr,
    /// `pkt-srcaddr`/`pkt-dstaddr` when the format has them: the real ends of a connection
    /// through a NAT gateway, Transit Gateway or load balancer. Falls back to `srcaddr`.
    #[default]
    #[serde(rename = "pkt-srcaddr")]
    PktSrcAddr,
}

/// A value other than `srcaddr` or `pkt-srcaddr`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown attribution {0:?}: expected \"srcaddr\" or \"pkt-srcaddr\"")]
pub struct AttributionError(String);

impl FromStr for Attribution {
    type Err = AttributionError;

    fn from_str(text: &str) -> Result<Attribution, AttributionError> {
        match text {
            "srcaddr" => Ok(Attribution::SrcAddr),
            "pkt-srcaddr" => Ok(Attribution::PktSrcAddr),
            other => Err(AttributionError(other.into())),
        }
    }
}

/// Bounds and choices of the aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregateOptions {
    /// Which address a flow counts for.
    pub attribution: Attribution,
    /// Sources tracked one by one (and targets, see [`AggregateOptions::max_targets`]); once
    /// full, a heavier newcomer replaces the lightest and the rest is counted as untracked.
    pub max_sources: usize,
}

impl AggregateOptions {
    /// Targets tracked: a quarter of the sources (at least 1,024, at most `max_sources`).
    /// Flooded targets are heavy, and heavy ones are kept whatever the table holds; a smaller
    /// table keeps the hot path in cache.
    pub fn max_targets(&self) -> usize {
        (self.max_sources / 4).max(1024).min(self.max_sources)
    }
}

impl Default for AggregateOptions {
    fn default() -> AggregateOptions {
        AggregateOptions {
            attribution: Attribution::PktSrcAddr,
            max_sources: 20_000,
        }
    }
}
