//! Reading whole objects: gzip and plain, headers, formats, bad lines and damaged streams.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use flowlog_core::{
    Field, Format, LogStatus, RecordParser, RecordVisitor, ScanErrorKind, ScanOptions, SkipReason,
    Value, scan,
};

const DEFAULT_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
const OK_LINE: &str = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK";
const NODATA_LINE: &str =
    "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA";
const SKIPDATA_LINE: &str =
    "2 123456789010 eni-11111111111111111 - - - - - - - 1431280876 1431280934 - SKIPDATA";

/// Parses every record fully and remembers formats and a few values.
#[derive(Default)]
struct Collect {
    parser: RecordParser,
    format: Option<Format>,
    formats: Vec<Format>,
    srcaddrs: Vec<String>,
}

impl RecordVisitor for Collect {
    fn begin_format(&mut self, format: &Format) {
        self.format = Some(format.clone());
        self.formats.push(format.clone());
    }

    fn record(&mut self, line: &[u8]) -> Result<LogStatus, SkipReason> {
        let format = self
            .format
            .as_ref()
            .expect("format announced before records");
        let record = self.parser.parse(format, line)?;
        if let Some(Value::Address(ip)) = record.get(Field::SrcAddr) {
            self.srcaddrs.push(ip.to_string());
        }
        Ok(record.log_status())
    }
}

fn gzip(text: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(text).unwrap();
    encoder.finish().unwrap()
}

fn object(lines: &[&str]) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[test]
fn plain_and_gzip_objects_read_the_same() {
    let text = object(&[DEFAULT_HEADER, OK_LINE, NODATA_LINE, SKIPDATA_LINE]);
    let mut plain = Collect::default();
    let plain_report = scan(text.as_bytes(), &ScanOptions::default(), &mut plain).unwrap();
    let mut gz = Collect::default();
    let gz_report = scan(&gzip(text.as_bytes())[..], &ScanOptions::default(), &mut gz).unwrap();
    assert!(!plain_report.gzip);
    assert!(gz_report.gzip);
    assert_eq!(plain_report.records, 3);
    assert_eq!(gz_report.records, 3);
    assert_eq!(gz_report.log_status.ok, 1);
    assert_eq!(gz_report.log_status.nodata, 1);
    assert_eq!(gz_report.log_status.skipdata, 1);
    assert_eq!(gz_report.header_lines, 1);
    assert_eq!(gz_report.inflated_bytes, text.len() as u64);
    assert_eq!(plain.srcaddrs, gz.srcaddrs);
}

#[test]
fn multi_member_gzip_is_read_to_the_end() {
    let mut bytes = gzip(object(&[DEFAULT_HEADER, OK_LINE]).as_bytes());
    bytes.extend(gzip(object(&[OK_LINE, OK_LINE]).as_bytes()));
    let report = scan(&bytes[..], &ScanOptions::default(), &mut Collect::default()).unwrap();
    assert_eq!(report.records, 3);
}

#[test]
fn a_header_with_leading_spaces_is_still_a_header() {
    let mut visitor = Collect::default();
    let report = scan(
        &b"  srcaddr log-status\n10.0.0.1 OK\n"[..],
        &ScanOptions::default(),
        &mut visitor,
    )
    .unwrap();
    assert_eq!((report.header_lines, report.records), (1, 1));
}

#[test]
fn headerless_object_uses_the_configured_format() {
    let format: Format = "${srcaddr} ${dstaddr} ${log-status}".parse().unwrap();
    let options = ScanOptions {
        format: Some(format.clone()),
        ..ScanOptions::default()
    };
    let mut visitor = Collect::default();
    let report = scan(&b"10.0.0.1 10.0.0.2 OK\n"[..], &options, &mut visitor).unwrap();
    assert_eq!(report.records, 1);
    assert_eq!(report.header_lines, 0);
    assert_eq!(visitor.formats, [format]);
}

#[test]
fn headerless_object_without_configuration_uses_the_default_format() {
    let mut visitor = Collect::default();
    let report = scan(OK_LINE.as_bytes(), &ScanOptions::default(), &mut visitor).unwrap();
    assert_eq!(
        report.records, 1,
        "a last line without newline still counts"
    );
    assert_eq!(visitor.formats, [Format::default_v2()]);
}

#[test]
fn the_header_wins_over_the_configured_format() {
    let options = ScanOptions {
        format: Some("${srcaddr}".parse().unwrap()),
        ..ScanOptions::default()
    };
    let text = object(&[DEFAULT_HEADER, OK_LINE]);
    let mut visitor = Collect::default();
    let report = scan(text.as_bytes(), &options, &mut visitor).unwrap();
    assert_eq!(report.records, 1);
    assert_eq!(visitor.formats, [Format::default_v2()]);
}

#[test]
fn repeated_and_changed_headers_blank_lines_and_crlf_are_handled() {
    let v3 = "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status";
    let v3_skip = "3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-01234567890123456 eni-1235b8ca123456789 123456789010 - - - - - - - - - - 1566848875 1566848933 - - SKIPDATA";
    let text = format!(
        "{DEFAULT_HEADER}\r\n{OK_LINE}\r\n\n{DEFAULT_HEADER}\n{v3}\n{v3_skip}\n  \n{OK_LINE}\n"
    );
    let mut visitor = Collect::default();
    let report = scan(text.as_bytes(), &ScanOptions::default(), &mut visitor).unwrap();
    assert_eq!(report.header_lines, 3);
    assert_eq!(
        visitor.formats.len(),
        2,
        "an identical repeated header is not a new format"
    );
    assert_eq!(report.log_status.ok, 1);
    assert_eq!(report.log_status.skipdata, 1);
    assert_eq!(report.skipped.counts[&SkipReason::BlankLine], 2);
    assert_eq!(
        report.skipped.counts[&SkipReason::FieldCount],
        1,
        "the v2 line after the v3 header no longer fits"
    );
    assert_eq!(report.lines, 8);
}

#[test]
fn malformed_lines_are_counted_with_samples_and_reading_goes_on() {
    let bad_number = OK_LINE.replace(" 22 ", " 99999 ");
    let bad_address = OK_LINE.replace("172.31.16.139", "172.31.16.1399");
    let text = object(&[
        DEFAULT_HEADER,
        OK_LINE,
        "bogus line",
        &bad_number,
        OK_LINE,
        &bad_address,
        OK_LINE,
    ]);
    let report = scan(
        text.as_bytes(),
        &ScanOptions::default(),
        &mut Collect::default(),
    )
    .unwrap();
    assert_eq!(report.records, 3);
    assert_eq!(report.skipped.total(), 3);
    let lines: Vec<_> = report
        .skipped
        .samples
        .iter()
        .map(|s| (s.line, s.reason))
        .collect();
    assert_eq!(
        lines,
        [
            (3, SkipReason::FieldCount),
            (4, SkipReason::BadNumber),
            (6, SkipReason::BadAddress)
        ]
    );
    assert_eq!(report.skipped.samples[0].excerpt, "bogus line");
}

#[test]
fn overlong_lines_are_skipped_without_buffering_them_whole() {
    let huge = "9".repeat(3 << 20);
    let text = object(&[DEFAULT_HEADER, OK_LINE, &huge, OK_LINE]);
    let options = ScanOptions {
        chunk_bytes: 64 << 10,
        ..ScanOptions::default()
    };
    for input in [text.clone().into_bytes(), gzip(text.as_bytes())] {
        let report = scan(&input[..], &options, &mut Collect::default()).unwrap();
        assert_eq!(report.records, 2);
        assert_eq!(report.skipped.counts[&SkipReason::LineTooLong], 1);
        let sample = &report.skipped.samples[0];
        assert_eq!((sample.line, sample.excerpt.len()), (3, 96));
    }
}

#[test]
fn a_line_split_across_chunks_is_joined() {
    let text = object(&[DEFAULT_HEADER, OK_LINE, OK_LINE, OK_LINE]);
    let options = ScanOptions {
        chunk_bytes: 4096,
        ..ScanOptions::default()
    };
    let long_text = text.repeat(100);
    let report = scan(long_text.as_bytes(), &options, &mut Collect::default()).unwrap();
    assert_eq!(report.records, 300);
    assert_eq!(report.skipped.total(), 0);
    assert_eq!(report.header_lines, 100);
}

#[test]
fn corrupt_gzip_is_a_typed_error_with_the_records_read_before_it() {
    let mut lines = vec![DEFAULT_HEADER];
    lines.extend(std::iter::repeat_n(OK_LINE, 20_000));
    let mut bytes = gzip(object(&lines).as_bytes());
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 64] {
        *b = !*b;
    }
    let error = scan(&bytes[..], &ScanOptions::default(), &mut Collect::default()).unwrap_err();
    assert!(
        matches!(error.kind, ScanErrorKind::CorruptGzip(_)),
        "{error}"
    );
    assert!(error.partial.records > 0 && error.partial.records < 20_000);
    assert!(error.to_string().contains("corrupt gzip"), "{error}");
}

#[test]
fn truncated_gzip_is_a_typed_error() {
    let mut lines = vec![DEFAULT_HEADER];
    lines.extend(std::iter::repeat_n(OK_LINE, 20_000));
    let bytes = gzip(object(&lines).as_bytes());
    let truncated = &bytes[..bytes.len() * 2 / 3];
    let error = scan(truncated, &ScanOptions::default(), &mut Collect::default()).unwrap_err();
    assert!(
        matches!(error.kind, ScanErrorKind::TruncatedGzip),
        "{error}"
    );
    assert!(error.partial.records > 0);
}

#[test]
fn text_that_is_not_a_flow_log_is_a_typed_error() {
    let text = "Dear reader,\nthis is a letter, not a flow log.\nRegards\n";
    let error = scan(
        text.as_bytes(),
        &ScanOptions::default(),
        &mut Collect::default(),
    )
    .unwrap_err();
    assert!(
        matches!(error.kind, ScanErrorKind::NotFlowLog(_)),
        "{error}"
    );
    assert_eq!(error.partial.records, 0);
}

#[test]
fn a_large_foreign_object_is_abandoned_early() {
    let text = "some,csv,data,here\n".repeat(1_000_000);
    let error = scan(
        text.as_bytes(),
        &ScanOptions::default(),
        &mut Collect::default(),
    )
    .unwrap_err();
    assert!(matches!(error.kind, ScanErrorKind::NotFlowLog(_)));
    assert!(
        error.partial.lines < 100_000,
        "read {} lines",
        error.partial.lines
    );
}

#[test]
fn binary_data_is_not_a_flow_log() {
    let bytes = [0u8, 1, 2, 3, 0, 0, 10, 20];
    let error = scan(&bytes[..], &ScanOptions::default(), &mut Collect::default()).unwrap_err();
    assert!(matches!(error.kind, ScanErrorKind::NotFlowLog(_)));
}

#[test]
fn empty_and_header_only_objects_are_empty_not_errors() {
    for text in ["", "\n", &format!("{DEFAULT_HEADER}\n")] {
        let report = scan(
            text.as_bytes(),
            &ScanOptions::default(),
            &mut Collect::default(),
        )
        .unwrap();
        assert_eq!(report.records, 0, "{text:?}");
    }
    let report = scan(
        &gzip(b"")[..],
        &ScanOptions::default(),
        &mut Collect::default(),
    )
    .unwrap();
    assert_eq!(report.records, 0);
}

#[test]
fn inflated_size_cap_stops_a_decompression_bomb() {
    let zeros_as_text = vec![b' '; 32 << 20];
    let bomb = gzip(&zeros_as_text);
    let options = ScanOptions {
        max_decompressed_bytes: 4 << 20,
        ..ScanOptions::default()
    };
    let error = scan(&bomb[..], &options, &mut Collect::default()).unwrap_err();
    assert!(matches!(error.kind, ScanErrorKind::TooLarge { limit } if limit == 4 << 20));
}

#[test]
fn compression_ratio_cap_stops_a_decompression_bomb() {
    let spaces = vec![b' '; 96 << 20];
    let bomb = gzip(&spaces);
    let error = scan(&bomb[..], &ScanOptions::default(), &mut Collect::default()).unwrap_err();
    assert!(
        matches!(error.kind, ScanErrorKind::CompressionRatio { limit: 100 }),
        "{error}"
    );
}

#[test]
fn read_errors_of_the_source_are_reported_as_read_errors() {
    struct Failing(usize);
    impl std::io::Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("connection reset"));
            }
            let line = format!("{OK_LINE}\n");
            let n = line.len().min(buf.len());
            buf[..n].copy_from_slice(&line.as_bytes()[..n]);
            self.0 -= 1;
            Ok(n)
        }
    }
    let error = scan(Failing(5), &ScanOptions::default(), &mut Collect::default()).unwrap_err();
    assert!(matches!(error.kind, ScanErrorKind::Read(_)), "{error}");
    assert!(error.to_string().contains("connection reset"));
}

#[test]
fn lines_that_are_not_utf8_are_skipped_for_every_visitor() {
    let mut bad = OK_LINE.as_bytes().to_vec();
    bad[4] = 0xff;
    let mut text = format!("{DEFAULT_HEADER}\n").into_bytes();
    text.extend_from_slice(&bad);
    text.push(b'\n');
    let mut aggregator = flowlog_core::Aggregator::new(flowlog_core::AggregateOptions::default());
    let report = scan(&text[..], &ScanOptions::default(), &mut aggregator).unwrap();
    assert_eq!(report.records, 0);
    assert_eq!(report.skipped.counts[&SkipReason::InvalidUtf8], 1);
}

#[test]
fn a_passed_deadline_stops_the_scan_with_the_partial_counts() {
    let text = object(&[DEFAULT_HEADER, OK_LINE]).repeat(50_000);
    let options = ScanOptions {
        deadline: Some(std::time::Instant::now()),
        chunk_bytes: 4096,
        ..ScanOptions::default()
    };
    let error = scan(text.as_bytes(), &options, &mut Collect::default()).unwrap_err();
    assert!(matches!(error.kind, ScanErrorKind::Deadline), "{error}");
    assert!(error.partial.records < 50_000);
    assert!(error.to_string().contains("deadline"));
}
