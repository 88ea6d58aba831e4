//! Feeds arbitrary bytes through `scan` with both visitors and `detect`.
//!
//! Input layout: the first byte holds flags, the second a small line limit; the rest is the
//! object body.
//! - bit 0: gzip-compress the body (and check it reads exactly like the plain body);
//! - bit 1: the body's first line is a `${field}` format string configured for the scan;
//! - bit 2: use the second byte + 1 as `max_line_bytes` (else the default 64 KiB);
//! - bit 3: attribute flows to `pkt-srcaddr`;
//! - bits 4-5: `max_sources` of 0, 1, 3 or the default;
//! - bit 6: read in chunks of 64 KiB instead of 4 KiB (the minimum; small chunks put more line
//!   ends across chunk boundaries and keep the fuzzer fast).

#![no_main]

use std::io::Write;

use flowlog_core::{
    AggregateOptions, Aggregator, Attribution, Field, FloodRules, Format, LogStatus, RecordParser,
    RecordVisitor, ScanError, ScanErrorKind, ScanOptions, ScanReport, SkipReason, Value, detect,
    scan,
};
use libfuzzer_sys::fuzz_target;

/// Parses every record fully; with `check`, also runs the aggregator on the same line and
/// checks that a line the full parser accepts (with a real log-status) it accepts too.
struct Full {
    parser: RecordParser,
    format: Option<Format>,
    records: u64,
    check: Option<Aggregator>,
}

impl RecordVisitor for Full {
    fn begin_format(&mut self, format: &Format) {
        self.format = Some(format.clone());
        if let Some(aggregator) = &mut self.check {
            aggregator.begin_format(format);
        }
    }

    fn record(&mut self, line: &[u8]) -> Result<LogStatus, SkipReason> {
        let format = self.format.as_ref().expect("a format before any record");
        let fast = self.check.as_mut().map(|a| a.record(line));
        let record = self.parser.parse(format, line)?;
        for (_, value) in record.values() {
            if let Value::Text(text) = value {
                assert!(!text.is_empty() && !text.contains(' '));
            }
        }
        let status = record.log_status();
        if let Some(fast) = fast
            && record.get(Field::LogStatus) != Some(Value::Absent)
        {
            assert_eq!(fast, Ok(status), "aggregator disagrees on {line:?}");
        }
        self.records += 1;
        Ok(status)
    }
}

fn accounted(report: &ScanReport) {
    assert_eq!(
        report.lines,
        report.records + report.skipped.total() + report.header_lines,
        "{report:?}"
    );
    assert_eq!(report.records, report.log_status.total(), "{report:?}");
}

/// Checks the accounting and the error kind; returns the (partial) report.
fn checked(result: Result<ScanReport, ScanError>, input: &[u8]) -> (ScanReport, Option<String>) {
    let gzip = input.starts_with(&[0x1f, 0x8b]);
    match result {
        Ok(report) => {
            accounted(&report);
            assert_eq!(report.gzip, gzip);
            assert_eq!(report.input_bytes, input.len() as u64);
            (report, None)
        }
        Err(error) => {
            accounted(&error.partial);
            match error.kind {
                ScanErrorKind::NotFlowLog(_) => {}
                ScanErrorKind::CorruptGzip(_) | ScanErrorKind::TruncatedGzip => assert!(gzip),
                ref other => panic!("unexpected error for an in-memory input: {other:?}"),
            }
            let kind = error.kind.to_string();
            (*error.partial, Some(kind))
        }
    }
}

/// The counts of a report, without byte counts (which depend on compression).
fn counts(report: &ScanReport) -> impl PartialEq + std::fmt::Debug {
    (
        report.lines,
        report.records,
        report.header_lines,
        report.log_status,
        report.skipped.clone(),
    )
}

fn lines_in(text: &[u8]) -> u64 {
    let newlines = text.iter().filter(|&&b| b == b'\n').count() as u64;
    newlines + u64::from(!text.is_empty() && !text.ends_with(b"\n"))
}

fuzz_target!(|data: &[u8]| {
    let (&flags, rest) = data.split_first().unwrap_or((&0, &[]));
    let (&limit, mut body) = rest.split_first().unwrap_or((&0, &[]));
    let mut options = ScanOptions::default();
    if flags & 2 != 0 {
        let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
        options.format = std::str::from_utf8(&body[..end])
            .ok()
            .and_then(|s| s.parse::<Format>().ok());
        body = &body[(end + 1).min(body.len())..];
    }
    if flags & 4 != 0 {
        options.max_line_bytes = usize::from(limit) + 1;
    }
    options.chunk_bytes = if flags & 64 != 0 { 64 << 10 } else { 4096 };
    let aggregate = AggregateOptions {
        attribution: if flags & 8 != 0 {
            Attribution::PktSrcAddr
        } else {
            Attribution::SrcAddr
        },
        max_sources: [0, 1, 3, 20_000][usize::from(flags >> 4 & 3)],
    };
    let compressed;
    let input = if flags & 1 != 0 {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(body).unwrap();
        compressed = encoder.finish().unwrap();
        &compressed[..]
    } else {
        body
    };

    let mut aggregator = Aggregator::new(aggregate);
    let (fast, fast_error) = checked(scan(input, &options, &mut aggregator), input);
    // Thresholds low enough that small inputs reach every rule.
    let rules = FloodRules {
        half_open_per_minute: 1,
        connections_per_minute: 1,
        request_packets_per_minute: 1,
        udp_packets_per_minute: 1,
        icmp_packets_per_minute: 1,
        target_half_open_per_minute: 1,
        min_sources: 1,
        internal_clients: true,
        ..FloodRules::default()
    };
    let detection = detect(&aggregator, &rules);
    for finding in &detection.floods {
        assert!(finding.windows_flagged >= 1 && finding.first_start < finding.last_end);
        assert!(!finding.reason.is_empty() && !finding.not_a_busy_client.is_empty());
    }
    for target in &detection.targets {
        assert!(target.windows_flagged >= 1 && !target.reason.is_empty());
    }
    // Every OK record with a source and a time is in the totals once (or dropped past the
    // window cap); the others are unattributed; a source's requests are some of them.
    let flows: u64 = aggregator.window_totals().values().map(|t| t.flows).sum();
    let counted = flows + aggregator.totals_dropped();
    assert!(counted <= fast.log_status.ok);
    assert!(counted + aggregator.unattributed() >= fast.log_status.ok);
    for summary in aggregator.summaries() {
        assert!(summary.flows <= flows + aggregator.totals_dropped());
    }
    assert!(aggregator.source_count() <= aggregate.max_sources);

    let mut full = Full {
        parser: RecordParser::new(),
        format: None,
        records: 0,
        check: Some(Aggregator::new(aggregate)),
    };
    let (report, error) = checked(scan(input, &options, &mut full), input);
    assert_eq!(full.records, report.records);
    assert_eq!(fast.lines, report.lines);
    assert_eq!(fast.header_lines, report.header_lines);
    if fast_error.is_none() && error.is_none() {
        for reason in [SkipReason::BlankLine, SkipReason::LineTooLong] {
            assert_eq!(
                fast.skipped.counts.get(&reason),
                report.skipped.counts.get(&reason)
            );
        }
    }

    // The same text, compressed or not, reads the same (plain text that starts with the gzip
    // magic is read as gzip, so it is left out).
    if !body.starts_with(&[0x1f, 0x8b]) {
        let plain = scan(
            body,
            &options,
            &mut Full {
                parser: RecordParser::new(),
                format: None,
                records: 0,
                check: None,
            },
        );
        let (plain, plain_error) = checked(plain, body);
        if plain_error.is_none() {
            assert_eq!(plain.lines, lines_in(body));
        }
        if flags & 1 != 0 {
            assert_eq!(
                plain_error.is_some(),
                error.is_some(),
                "{plain_error:?} vs {error:?}"
            );
            if error.is_none() {
                assert_eq!(counts(&plain), counts(&report));
            }
        }
    }
});
