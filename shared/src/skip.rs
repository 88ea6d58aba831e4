//! Lines that were not read as records: why, how many, and a few samples.

use std::collections::BTreeMap;

use serde::Serialize;

/// Why a line was skipped. Serialised in `snake_case`, the keys of the `skipped` report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The number of values differs from the number of columns of the format.
    FieldCount,
    /// A numeric field holds something that is not a number of its size.
    BadNumber,
    /// An address field holds something that is not an IPv4 or IPv6 address.
    BadAddress,
    /// `action` is neither `ACCEPT` nor `REJECT`.
    BadAction,
    /// `log-status` is neither `OK`, `NODATA` nor `SKIPDATA`.
    BadLogStatus,
    /// A text field is not valid UTF-8.
    InvalidUtf8,
    /// The line is longer than the configured maximum (64 KiB by default).
    LineTooLong,
    /// An empty or all-space line.
    BlankLine,
}

impl SkipReason {
    /// The reason's name as it appears in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::FieldCount => "field_count",
            SkipReason::BadNumber => "bad_number",
            SkipReason::BadAddress => "bad_address",
            SkipReason::BadAction => "bad_action",
            SkipReason::BadLogStatus => "bad_log_status",
            SkipReason::InvalidUtf8 => "invalid_utf8",
            SkipReason::LineTooLong => "line_too_long",
            SkipReason::BlankLine => "blank_line",
        }
    }
}

/// One skipped line kept as an example: where it was, why, and its first bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkipSample {
    /// 1-based line number in the object (the header is line 1).
    pub line: u64,
    /// Why it was skipped.
    pub reason: SkipReason,
    /// At most [`SkipReport::EXCERPT_BYTES`] bytes of the line, lossily decoded.
    pub excerpt: String,
}

/// Counts of skipped lines by reason, with the first few as samples.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SkipReport {
    /// How many lines were skipped for each reason.
    pub counts: BTreeMap<SkipReason, u64>,
    /// The first [`SkipReport::MAX_SAMPLES`] skipped lines.
    pub samples: Vec<SkipSample>,
}

impl SkipReport {
    /// How many samples are kept.
    pub const MAX_SAMPLES: usize = 8;
    /// How much of a sampled line is kept.
    pub const EXCERPT_BYTES: usize = 96;

    /// Records one skipped line.
    pub fn add(&mut self, line: u64, reason: SkipReason, text: &[u8]) {
        *self.counts.entry(reason).or_default() += 1;
        if self.samples.len() < Self::MAX_SAMPLES {
            let cut = &text[..text.len().min(Self::EXCERPT_BYTES)];
            self.samples.push(SkipSample {
                line,
                reason,
                excerpt: String::from_utf8_lossy(cut).into_owned(),
            });
        }
    }

    /// All skipped lines, whatever the reason.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_line_but_keeps_only_the_first_samples() {
        let mut report = SkipReport::default();
        for line in 1..=20 {
            report.add(line, SkipReason::FieldCount, &[b'x'; 500]);
        }
        report.add(21, SkipReason::BadNumber, b"2 x");
        assert_eq!(report.total(), 21);
        assert_eq!(report.counts[&SkipReason::FieldCount], 20);
        assert_eq!(report.samples.len(), SkipReport::MAX_SAMPLES);
        assert_eq!(report.samples[0].excerpt.len(), SkipReport::EXCERPT_BYTES);
    }

    #[test]
    fn reasons_serialise_in_snake_case() {
        let json = serde_json::to_string(&SkipReason::LineTooLong).unwrap();
        assert_eq!(json, "\"line_too_long\"");
        assert_eq!(SkipReason::BadLogStatus.as_str(), "bad_log_status");
    }
}
