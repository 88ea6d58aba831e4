//! `make bench`: inflate-only vs. parse+aggregate throughput and peak memory on a generated
//! custom-format gzip object. Usage: `cargo bench -p flowlog-core --bench throughput --
//! [--records N] [--runs R]`. The object is generated once under the target directory.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use flowlog_core::{AggregateOptions, Aggregator, ScanOptions, scan};
use flowlog_synth::{Compression, Flood, Spec, formats};

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
    let path = object(records);
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "object: {} ({:.1} MB gzip, {records} records, format v3 custom with header)",
        path.display(),
        size as f64 / 1e6
    );

    let inflate = best_of(runs, || inflate_only(&path));
    let (parse, report, sources) = (0..runs)
        .map(|_| parse_and_aggregate(&path))
        .min_by_key(|(d, ..)| *d)
        .expect("at least one run");
    let ratio = parse.as_secs_f64() / inflate.as_secs_f64();
    println!(
        "inflate only        {:>8.3} s  ({:.0} MB/s inflated)",
        inflate.as_secs_f64(),
        report.inflated_bytes as f64 / 1e6 / inflate.as_secs_f64()
    );
    println!(
        "parse+aggregate     {:>8.3} s  ({:.2} M records/s, {} sources, {} records, {} skipped)",
        parse.as_secs_f64(),
        report.records as f64 / 1e6 / parse.as_secs_f64(),
        sources,
        report.records,
        report.skipped.total()
    );
    println!("ratio               {ratio:>8.2} x  (target <= 1.25)");
    println!(
        "peak RSS            {:>8.1} MB (target <= 48)",
        peak_rss_kib() as f64 / 1024.0
    );
    println!("best of {runs} runs each, 2 threads for parse+aggregate (inflate || parse)");
}

fn object(records: u64) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("flows-v3-{records}.log.gz"));
    if !path.exists() {
        let started = Instant::now();
        let spec = Spec {
            records,
            seed: 42,
            sources: 5_000,
            span_secs: 600,
            nodata_every: 5_000,
            skipdata_every: 50_000,
            flood: Some(Flood {
                source: "203.0.113.7".parse().unwrap(),
                flows: records / 20,
                syn_only: true,
                reject_share: 0.3,
                dst_ports: 1,
            }),
            heavy_downloader: true,
            ..Spec::default()
        }
        .with_fields(formats::V3_EXAMPLE);
        let partial = path.with_extension("partial");
        let file = std::io::BufWriter::new(File::create(&partial).unwrap());
        flowlog_synth::write_object(&spec, Compression::Gzip { level: 6 }, file).unwrap();
        std::fs::rename(&partial, &path).unwrap();
        println!("generated in {:.1} s", started.elapsed().as_secs_f64());
    }
    path
}

fn best_of(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().expect("at least one run")
}

/// Inflates the object into a reused buffer and throws the bytes away.
fn inflate_only(path: &PathBuf) -> Duration {
    let started = Instant::now();
    let file = BufReader::with_capacity(256 << 10, File::open(path).unwrap());
    let mut decoder = flate2::bufread::MultiGzDecoder::new(file);
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0u64;
    loop {
        let n = decoder.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    std::hint::black_box(total);
    started.elapsed()
}

fn parse_and_aggregate(path: &PathBuf) -> (Duration, flowlog_core::ScanReport, usize) {
    let started = Instant::now();
    let mut aggregator = Aggregator::new(AggregateOptions::default());
    let report = scan(
        File::open(path).unwrap(),
        &ScanOptions::default(),
        &mut aggregator,
    )
    .unwrap();
    let elapsed = started.elapsed();
    (elapsed, report, aggregator.source_count())
}

/// Peak resident set size of this process (Linux `VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
