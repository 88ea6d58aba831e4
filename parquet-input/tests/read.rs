//! Parquet flow logs written as AWS documents them, read back: the same aggregate and verdict as
//! their text, only the columns needed, row groups within a budget, bad rows skipped and bad
//! files refused with a typed error.

use std::sync::Arc;

use bytes::Bytes;
use flowlog_core::{
    AggregateOptions, Aggregator, FloodRules, Floor, Format, LogStatus, RecordVisitor, ScanOptions,
    SkipReason,
};
use flowlog_parquet::{
    Columns, Footer, Layout, ParquetErrorKind, ParquetOptions, Ranges, WriteOptions, is_parquet,
    parse_footer, scan_input, scan_parquet, write_parquet,
};
use flowlog_synth::{Compression, Flood, Spec, formats};
use parquet::basic::{ConvertedType, Repetition, Type as Physical};
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

const FLOODER: &str = "203.0.113.7";

/// A generated text object (V5 custom format, NODATA and SKIPDATA, a SYN flood), without
/// malformed lines: a typed Parquet file cannot hold those.
fn text(records: u64, fields: &[&str]) -> Vec<u8> {
    let spec = Spec {
        records,
        seed: 31,
        start: 1_700_000_040,
        span_secs: 300,
        nodata_every: 300,
        skipdata_every: 700,
        flood: Some(Flood {
            source: FLOODER.parse().unwrap(),
            flows: records / 3,
            syn_only: true,
            reject_share: 0.2,
            dst_ports: 2,
        }),
        heavy_downloader: true,
        ..Spec::default()
    }
    .with_fields(fields);
    let mut out = Vec::new();
    flowlog_synth::write_object(&spec, Compression::Gzip { level: 1 }, &mut out).unwrap();
    out
}

fn parquet_of(text: &[u8], rows_per_row_group: usize) -> Bytes {
    let mut out = Vec::new();
    write_parquet(text, None, &mut out, &WriteOptions { rows_per_row_group }).unwrap();
    Bytes::from(out)
}

fn aggregate_text(text: &[u8]) -> (Aggregator, flowlog_core::ScanReport) {
    let mut aggregator = Aggregator::new(AggregateOptions::default());
    let report = flowlog_core::scan(text, &ScanOptions::default(), &mut aggregator).unwrap();
    (aggregator, report)
}

fn aggregate_parquet(parquet: &Bytes) -> (Aggregator, flowlog_core::ScanReport) {
    let mut aggregator = Aggregator::new(AggregateOptions::default());
    let report = scan_parquet(
        Arc::new(parquet.clone()),
        &ScanOptions::default(),
        &ParquetOptions::default(),
        &mut aggregator,
    )
    .unwrap();
    (aggregator, report)
}

#[test]
fn a_parquet_twin_of_a_text_object_aggregates_and_detects_the_same() {
    for fields in [formats::V5_ALL, formats::DEFAULT_V2, formats::V11_ALL] {
        let text = text(6_000, fields);
        let parquet = parquet_of(&text, 1_000);
        assert!(is_parquet(&parquet));
        let (from_text, text_report) = aggregate_text(&text);
        let (from_parquet, report) = aggregate_parquet(&parquet);
        assert_eq!(report.records, text_report.records);
        assert_eq!(report.log_status, text_report.log_status);
        assert_eq!(report.skipped.total(), 0);
        assert_eq!(from_parquet.window_totals(), from_text.window_totals());
        assert_eq!(from_parquet.summaries(), from_text.summaries());
        assert_eq!(
            from_parquet.summary(&Floor::NONE),
            from_text.summary(&Floor::NONE)
        );
        let rules = FloodRules::default();
        let (found, expected) = (
            flowlog_core::detect(&from_parquet, &rules),
            flowlog_core::detect(&from_text, &rules),
        );
        assert_eq!(found, expected);
        if fields != formats::DEFAULT_V2 {
            // With tcp-flags the SYN flood is found, and nothing else.
            let sources: Vec<String> = found.floods.iter().map(|f| f.source.to_string()).collect();
            assert_eq!(sources, [FLOODER], "{fields:?}");
            assert!(found.targets.is_empty());
        }
    }
}

#[test]
fn text_and_parquet_inputs_are_told_apart_by_their_first_bytes() {
    let text = text(500, formats::V5_ALL);
    let parquet = parquet_of(&text, 10_000);
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&text[..]), &mut plain).unwrap();
    for (input, is_parquet) in [
        (&text[..], false),
        (&plain[..], false),
        (&parquet[..], true),
    ] {
        let mut aggregator = Aggregator::new(AggregateOptions::default());
        let scanned = scan_input(
            input,
            &ScanOptions::default(),
            &ParquetOptions::default(),
            &mut aggregator,
        )
        .unwrap();
        assert_eq!(scanned.parquet, is_parquet);
        assert_eq!(scanned.report.records, 500);
    }
}

/// Rows of the columns given, each `(name, physical type, values)` with `None` for a null.
#[allow(clippy::type_complexity)]
fn handmade(columns: &[(&str, Physical, Vec<Option<String>>)], rows_per_group: usize) -> Bytes {
    let fields = columns
        .iter()
        .map(|(name, kind, _)| {
            let mut t =
                Type::primitive_type_builder(name, *kind).with_repetition(Repetition::OPTIONAL);
            if *kind == Physical::BYTE_ARRAY {
                t = t.with_converted_type(ConvertedType::UTF8);
            }
            Arc::new(t.build().unwrap())
        })
        .collect();
    let schema = Arc::new(
        Type::group_type_builder("schema")
            .with_fields(fields)
            .build()
            .unwrap(),
    );
    let mut out = Vec::new();
    let mut writer = SerializedFileWriter::new(
        &mut out,
        schema,
        Arc::new(WriterProperties::builder().build()),
    )
    .unwrap();
    let rows = columns[0].2.len();
    for start in (0..rows).step_by(rows_per_group) {
        let end = (start + rows_per_group).min(rows);
        let mut group = writer.next_row_group().unwrap();
        for (_, kind, values) in columns {
            let part = &values[start..end];
            let defs: Vec<i16> = part.iter().map(|v| i16::from(v.is_some())).collect();
            let present = part.iter().flatten();
            let mut column = group.next_column().unwrap().unwrap();
            match kind {
                Physical::INT32 => {
                    let v: Vec<i32> = present.map(|s| s.parse().unwrap()).collect();
                    column
                        .typed::<Int32Type>()
                        .write_batch(&v, Some(&defs), None)
                        .unwrap();
                }
                Physical::INT64 => {
                    let v: Vec<i64> = present.map(|s| s.parse().unwrap()).collect();
                    column
                        .typed::<Int64Type>()
                        .write_batch(&v, Some(&defs), None)
                        .unwrap();
                }
                _ => {
                    let v: Vec<ByteArray> = present.map(|s| ByteArray::from(s.as_str())).collect();
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&v, Some(&defs), None)
                        .unwrap();
                }
            }
            column.close().unwrap();
        }
        group.close().unwrap();
    }
    writer.close().unwrap();
    Bytes::from(out)
}

fn values(items: &[&str]) -> Vec<Option<String>> {
    items
        .iter()
        .map(|s| (*s != "NULL").then(|| s.to_string()))
        .collect()
}

/// Keeps every line it is given.
#[derive(Default)]
struct Lines {
    format: Option<Format>,
    lines: Vec<String>,
}

impl RecordVisitor for Lines {
    fn begin_format(&mut self, format: &Format) {
        self.format = Some(format.clone());
    }

    fn record(&mut self, line: &[u8]) -> Result<LogStatus, SkipReason> {
        self.lines.push(String::from_utf8(line.to_vec()).unwrap());
        Ok(LogStatus::Ok)
    }
}

#[test]
fn rows_render_in_schema_order_with_nulls_as_dashes_and_unread_columns_left_out() {
    let parquet = handmade(
        &[
            ("version", Physical::INT32, values(&["5", "5"])),
            (
                "srcaddr",
                Physical::BYTE_ARRAY,
                values(&["198.51.100.1", "NULL"]),
            ),
            (
                "ecs_task_arn",
                Physical::BYTE_ARRAY,
                values(&["arn:aws:ecs:x", "NULL"]),
            ),
            ("bytes", Physical::INT64, values(&["4000000000000", "NULL"])),
            (
                "log_status",
                Physical::BYTE_ARRAY,
                values(&["OK", "NODATA"]),
            ),
        ],
        10,
    );
    let mut lines = Lines::default();
    scan_parquet(
        Arc::new(parquet.clone()),
        &ScanOptions::default(),
        &ParquetOptions::default(),
        &mut lines,
    )
    .unwrap();
    assert_eq!(
        lines.format.unwrap().to_string(),
        "${srcaddr} ${bytes} ${log-status}"
    );
    assert_eq!(lines.lines, ["198.51.100.1 4000000000000 OK", "- - NODATA"]);
    let mut all = Lines::default();
    let options = ParquetOptions {
        columns: Columns::All,
        ..ParquetOptions::default()
    };
    scan_parquet(
        Arc::new(parquet),
        &ScanOptions::default(),
        &options,
        &mut all,
    )
    .unwrap();
    assert_eq!(
        all.lines[0],
        "5 198.51.100.1 arn:aws:ecs:x 4000000000000 OK"
    );
    assert_eq!(all.lines[1], "5 - - - NODATA");
}

#[test]
fn a_bad_row_is_skipped_with_its_reason_and_the_rest_is_read() {
    let parquet = handmade(
        &[
            (
                "srcaddr",
                Physical::BYTE_ARRAY,
                values(&["198.51.100.1", "not-an-ip", "198.51.100.2"]),
            ),
            (
                "dstaddr",
                Physical::BYTE_ARRAY,
                values(&["10.0.0.1", "10.0.0.1", "10.0.0.1"]),
            ),
            (
                "srcport",
                Physical::INT32,
                values(&["40000", "40001", "-7"]),
            ),
            ("dstport", Physical::INT32, values(&["443", "443", "443"])),
            ("protocol", Physical::INT32, values(&["6", "6", "6"])),
            ("packets", Physical::INT64, values(&["3", "3", "3"])),
            ("bytes", Physical::INT64, values(&["180", "180", "180"])),
            (
                "start",
                Physical::INT64,
                values(&["1700000040", "1700000040", "1700000040"]),
            ),
            (
                "end",
                Physical::INT64,
                values(&["1700000050", "1700000050", "1700000050"]),
            ),
            (
                "action",
                Physical::BYTE_ARRAY,
                values(&["ACCEPT", "ACCEPT", "ACCEPT"]),
            ),
            (
                "log_status",
                Physical::BYTE_ARRAY,
                values(&["OK", "OK", "OK"]),
            ),
        ],
        2,
    );
    let (aggregator, report) = aggregate_parquet(&parquet);
    assert_eq!((report.records, report.lines), (1, 3));
    assert_eq!(report.skipped.counts[&SkipReason::BadAddress], 1);
    assert_eq!(report.skipped.counts[&SkipReason::BadNumber], 1);
    assert_eq!(
        report.skipped.samples[0].line, 2,
        "rows are numbered from 1 over the file"
    );
    assert_eq!(
        report.skipped.samples[1].excerpt,
        "198.51.100.2 10.0.0.1 -7 443 6 3 180 1700000040 1700000050 ACCEPT OK"
    );
    assert_eq!(
        aggregator
            .window_totals()
            .values()
            .map(|t| t.flows)
            .sum::<u64>(),
        1
    );
}

#[test]
fn only_the_footer_and_the_needed_column_chunks_are_fetched() {
    let text = text(3_000, formats::V11_ALL);
    let parquet = parquet_of(&text, 1_000);
    let len = parquet.len() as u64;
    let tail_len = 8 << 10;
    let tail = parquet.slice((len - tail_len) as usize..);
    let options = ParquetOptions::default();
    let metadata = match parse_footer(&tail, len, &options).unwrap() {
        Footer::Metadata(m) => m,
        Footer::NeedTail(n) => {
            match parse_footer(&parquet.slice((len - n) as usize..), len, &options).unwrap() {
                Footer::Metadata(m) => m,
                Footer::NeedTail(_) => panic!("the whole tail was given"),
            }
        }
    };
    let layout = Layout::new(*metadata, &options).unwrap();
    assert_eq!(layout.row_groups(), 3);
    assert_eq!(layout.format().len(), 16);
    let mut aggregator = Aggregator::new(AggregateOptions::default());
    aggregator.begin_format(layout.format());
    let mut report = flowlog_core::ScanReport::default();
    let mut fetched = 0;
    for index in 0..layout.row_groups() {
        let mut ranges = Ranges::new(len);
        for range in layout.chunk_ranges(index).unwrap() {
            ranges.insert(
                range.start,
                parquet.slice(range.start as usize..range.end as usize),
            );
        }
        fetched += ranges.held();
        layout
            .read_row_group(
                index,
                &Arc::new(ranges),
                &ScanOptions::default(),
                &mut aggregator,
                &mut report,
            )
            .unwrap();
    }
    assert_eq!(report.records, 3_000);
    assert!(
        fetched < len * 3 / 4,
        "fetched {fetched} of {len} bytes: the 38 columns not read are never fetched"
    );
    let (from_text, _) = aggregate_text(&text);
    assert_eq!(aggregator.window_totals(), from_text.window_totals());
}

#[test]
fn a_row_group_over_the_budget_fails_the_object_with_a_clear_error() {
    let parquet = parquet_of(&text(3_000, formats::V5_ALL), 1_000);
    let tight = ParquetOptions {
        max_row_group_bytes: 4 << 10,
        ..ParquetOptions::default()
    };
    let mut aggregator = Aggregator::new(AggregateOptions::default());
    let error = scan_parquet(
        Arc::new(parquet),
        &ScanOptions::default(),
        &tight,
        &mut aggregator,
    )
    .unwrap_err();
    assert!(
        matches!(
            error.kind,
            ParquetErrorKind::RowGroupTooLarge {
                row_group: 0,
                budget: 4096,
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("more than the budget of 4096 bytes"),
        "{error}"
    );
    assert!(!error.kind.is_transient());
}

#[test]
fn corrupt_or_truncated_files_fail_with_a_typed_error_and_the_rows_read_so_far() {
    let parquet = parquet_of(&text(3_000, formats::V5_ALL), 1_000);
    let read = |bytes: Bytes| {
        let mut aggregator = Aggregator::new(AggregateOptions::default());
        scan_parquet(
            Arc::new(bytes),
            &ScanOptions::default(),
            &ParquetOptions::default(),
            &mut aggregator,
        )
        .unwrap_err()
    };
    let truncated = read(parquet.slice(..parquet.len() - 100));
    assert!(
        matches!(truncated.kind, ParquetErrorKind::NotParquet(_)),
        "{truncated}"
    );
    assert!(
        truncated.to_string().contains("does not end with PAR1"),
        "{truncated}"
    );

    let mut footer = parquet.to_vec();
    let at = footer.len() - 30;
    footer[at..at + 16].fill(0xff);
    let broken = read(Bytes::from(footer));
    assert!(
        matches!(broken.kind, ParquetErrorKind::Corrupt(_)),
        "{broken}"
    );

    // Damage the last row group's pages: the first two are read, then the object fails.
    let metadata =
        match parse_footer(&parquet, parquet.len() as u64, &ParquetOptions::default()).unwrap() {
            Footer::Metadata(m) => m,
            Footer::NeedTail(_) => panic!("whole file"),
        };
    let last = metadata.row_group(2);
    let (start, len) = last.column(3).byte_range();
    let mut pages = parquet.to_vec();
    pages[start as usize..(start + len) as usize].fill(0x5a);
    let damaged = read(Bytes::from(pages));
    assert!(
        matches!(damaged.kind, ParquetErrorKind::Corrupt(_)),
        "{damaged}"
    );
    assert_eq!(damaged.partial.records, 2_000);
    assert!(!damaged.kind.is_transient());

    let junk = read(Bytes::from_static(b"PAR1 this is not parquet at all PAR1"));
    assert!(matches!(junk.kind, ParquetErrorKind::Corrupt(_)), "{junk}");
}

#[test]
fn a_file_without_flow_log_columns_is_refused() {
    let parquet = handmade(&[("customer", Physical::BYTE_ARRAY, values(&["a"]))], 10);
    let mut lines = Lines::default();
    let error = scan_parquet(
        Arc::new(parquet),
        &ScanOptions::default(),
        &ParquetOptions::default(),
        &mut lines,
    )
    .unwrap_err();
    assert!(
        matches!(error.kind, ParquetErrorKind::NotFlowLog { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("its columns: customer"),
        "{error}"
    );
}

#[test]
fn the_deadline_stops_a_read_with_its_partial_counts() {
    let parquet = parquet_of(&text(3_000, formats::V5_ALL), 1_000);
    let past = ScanOptions {
        deadline: Some(std::time::Instant::now()),
        ..ScanOptions::default()
    };
    let mut aggregator = Aggregator::new(AggregateOptions::default());
    let error = scan_parquet(
        Arc::new(parquet),
        &past,
        &ParquetOptions::default(),
        &mut aggregator,
    )
    .unwrap_err();
    assert!(matches!(error.kind, ParquetErrorKind::Deadline));
    assert!(error.kind.is_transient());
}

#[test]
fn text_that_changes_format_midway_is_not_written() {
    let text =
        b"version srcaddr log-status\n2 198.51.100.1 OK\nsrcaddr log-status\n198.51.100.2 OK\n";
    let error = write_parquet(&text[..], None, Vec::new(), &WriteOptions::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("changes its format after 1 records"),
        "{error}"
    );
}
