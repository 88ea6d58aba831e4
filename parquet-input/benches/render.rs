//! Where the time of reading a Parquet flow log goes: decoding the column chunks alone, decoding
//! and rendering rows into the core's line buffer, and the whole read into an `Aggregator`;
//! the same records as plain text for comparison. Usage: `cargo bench -p flowlog-parquet
//! --bench render -- [--records N] [--runs R]`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use flowlog_core::{
    AggregateOptions, Aggregator, Column, Format, LogStatus, RecordVisitor, ScanOptions, SkipReason,
};
use flowlog_parquet::{
    AGGREGATION_FIELDS, ParquetOptions, WriteOptions, scan_parquet, write_parquet,
};
use flowlog_synth::{Compression, Flood, Spec, formats};
use parquet::column::reader::{ColumnReader, get_column_reader};
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::serialized_reader::SerializedPageReader;

fn main() {
    let mut records: u64 = 2_000_000;
    let mut runs = 3;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--records" => {
                records = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--records N")
            }
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).expect("--runs R"),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    let spec = Spec {
        records,
        seed: 5,
        sources: 20_000,
        flood: Some(Flood {
            source: "203.0.113.7".parse().unwrap(),
            flows: records / 10,
            syn_only: true,
            reject_share: 0.0,
            dst_ports: 1,
        }),
        ..Spec::default()
    }
    .with_fields(formats::V5_ALL);
    let mut text = Vec::new();
    flowlog_synth::write_object(&spec, Compression::None, &mut text).unwrap();
    let mut parquet = Vec::new();
    let written = write_parquet(&text[..], None, &mut parquet, &WriteOptions::default()).unwrap();
    let parquet = Bytes::from(parquet);
    println!(
        "{} rows of {} columns ({} read), {} row groups: {:.1} MB Parquet (GZIP), {:.1} MB text",
        written.rows,
        formats::V5_ALL.len(),
        formats::V5_ALL
            .iter()
            .filter(|n| matches!(Column::from_name(n), Column::Known(f) if AGGREGATION_FIELDS.contains(&f)))
            .count(),
        written.row_groups,
        parquet.len() as f64 / 1e6,
        text.len() as f64 / 1e6
    );
    let rows = written.rows as f64;
    let decode = best_of(runs, || decode_only(&parquet));
    let render = best_of(runs, || {
        scan_parquet(
            Arc::new(parquet.clone()),
            &ScanOptions::default(),
            &ParquetOptions::default(),
            &mut Discard,
        )
        .unwrap();
    });
    let full = best_of(runs, || {
        let mut aggregator = Aggregator::new(AggregateOptions::default());
        scan_parquet(
            Arc::new(parquet.clone()),
            &ScanOptions::default(),
            &ParquetOptions::default(),
            &mut aggregator,
        )
        .unwrap();
    });
    let plain = best_of(runs, || {
        let mut aggregator = Aggregator::new(AggregateOptions::default());
        flowlog_core::scan(&text[..], &ScanOptions::default(), &mut aggregator).unwrap();
    });
    let rate = |d: Duration| rows / d.as_secs_f64() / 1e6;
    println!(
        "decode only           {:>7.3} s  {:>5.2} M rows/s",
        decode.as_secs_f64(),
        rate(decode)
    );
    println!(
        "decode + render       {:>7.3} s  {:>5.2} M rows/s",
        render.as_secs_f64(),
        rate(render)
    );
    println!(
        "decode+render+aggr.   {:>7.3} s  {:>5.2} M rows/s",
        full.as_secs_f64(),
        rate(full)
    );
    println!(
        "same records as text  {:>7.3} s  {:>5.2} M rows/s (plain text into the Aggregator)",
        plain.as_secs_f64(),
        rate(plain)
    );
    let share = |d: f64| 100.0 * d / full.as_secs_f64();
    println!(
        "of the Parquet read: decoding {:.0}%, rendering {:.0}%, parsing the line and aggregating {:.0}%",
        share(decode.as_secs_f64()),
        share(render.as_secs_f64() - decode.as_secs_f64()),
        share(full.as_secs_f64() - render.as_secs_f64())
    );
}

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .expect("at least one run")
}

/// Accepts every row unread.
struct Discard;

impl RecordVisitor for Discard {
    fn begin_format(&mut self, _format: &Format) {}

    fn record(&mut self, _line: &[u8]) -> Result<LogStatus, SkipReason> {
        Ok(LogStatus::Ok)
    }
}

/// Decodes the columns the aggregation reads, in batches as the reader does, and renders
/// nothing.
fn decode_only(parquet: &Bytes) {
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(parquet)
        .unwrap();
    let schema = metadata.file_metadata().schema_descr();
    let source = Arc::new(parquet.clone());
    let mut values = 0usize;
    for row_group in metadata.row_groups() {
        let rows = row_group.num_rows() as usize;
        for (leaf, column) in schema.columns().iter().enumerate() {
            let wanted = matches!(Column::from_name(column.name()), Column::Known(f) if AGGREGATION_FIELDS.contains(&f));
            if !wanted {
                continue;
            }
            let pages =
                SerializedPageReader::new(Arc::clone(&source), row_group.column(leaf), rows, None)
                    .unwrap();
            let mut defs = Vec::new();
            let mut done = 0;
            match get_column_reader(column.clone(), Box::new(pages)) {
                ColumnReader::Int32ColumnReader(mut r) => {
                    let mut v = Vec::new();
                    while done < rows {
                        defs.clear();
                        v.clear();
                        done += r
                            .read_records(4096, Some(&mut defs), None, &mut v)
                            .unwrap()
                            .0;
                        values += v.len();
                    }
                }
                ColumnReader::Int64ColumnReader(mut r) => {
                    let mut v = Vec::new();
                    while done < rows {
                        defs.clear();
                        v.clear();
                        done += r
                            .read_records(4096, Some(&mut defs), None, &mut v)
                            .unwrap()
                            .0;
                        values += v.len();
                    }
                }
                ColumnReader::ByteArrayColumnReader(mut r) => {
                    let mut v = Vec::new();
                    while done < rows {
                        defs.clear();
                        v.clear();
                        done += r
                            .read_records(4096, Some(&mut defs), None, &mut v)
                            .unwrap()
                            .0;
                        values += v.len();
                    }
                }
                _ => unreachable!("flow-log columns are INT32, INT64 or strings"),
            }
        }
    }
    assert!(values > 0);
}
