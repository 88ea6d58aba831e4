//! `make bench`: what decides the cost of a flow-log object on Lambda, per format.
//!
//! For each generated gzip object: the inflate-only pass (the floor: zlib-rs into a reused
//! buffer), parse+aggregate as the functions run it (two threads, inflate ‖ parse) with its wall
//! time, and the CPU-seconds of both threads together (what one core would take: Lambda bills
//! a fraction of a core below 1,769 MB), per GB of gzip; peak RSS, and memory per tracked
//! source as the slope between two runs tracking all sources and half of them (each in a
//! process of its own, so that the fixed buffers of a scan are not counted per source); and,
//! with `--peers PYTHON`, the same per-source-and-minute job run by polars and DuckDB.
//!
//! Usage: `cargo bench -p flowlog-core --bench throughput -- [--records N] [--runs R]
//! [--objects v2,custom,v3] [--peers PYTHON] [--summaries] [--peak-with MAX_SOURCES]`. Objects are generated once under
//! the target directory; figures are medians of `R` runs (3), each object in a process of its
//! own. `--summaries` prints each object's per-source summaries as JSON instead (to compare
//! builds for different CPUs); `--peak-with N` prints the peak RSS (KiB) of one aggregation of
//! the object tracking at most `N` sources, and how many it tracked.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use flowlog_core::{AggregateOptions, Aggregator, ScanOptions, scan};
use flowlog_synth::{Compression, Flood, Spec, formats};

/// A generated object of the bench.
struct Object {
    name: &'static str,
    label: &'static str,
    fields: &'static [&'static str],
    sources: u32,
}

const OBJECTS: [Object; 3] = [
    Object {
        name: "v2",
        label: "default v2 format, header, 5k sources",
        fields: formats::DEFAULT_V2,
        sources: 5_000,
    },
    Object {
        name: "custom",
        label: "custom format (29 fields of v2-v5), header, 50k sources",
        fields: formats::V5_ALL,
        sources: 50_000,
    },
    Object {
        name: "v3",
        label: "custom v3 format (21 fields), header, 5k sources: the bench object until now",
        fields: formats::V3_EXAMPLE,
        sources: 5_000,
    },
];

fn main() {
    let mut records: u64 = 2_000_000;
    let mut runs = 3;
    let mut names = vec!["v2", "custom", "v3"];
    let mut peers: Option<PathBuf> = None;
    let mut summaries = false;
    let mut peak_with: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--records" => records = value().parse().expect("--records N"),
            "--runs" => runs = value().parse().expect("--runs R"),
            "--objects" => names = value().split(',').map(leak).collect(),
            "--peers" => peers = Some(PathBuf::from(value())),
            "--summaries" => summaries = true,
            "--peak-with" => peak_with = Some(value().parse().expect("--peak-with N")),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    let object = |name: &str| {
        OBJECTS
            .iter()
            .find(|o| o.name == name)
            .unwrap_or_else(|| panic!("unknown object {name}"))
    };
    if let (Some(max_sources), [name]) = (peak_with, &names[..]) {
        let path = generate(object(name), records);
        let tracked = parse_and_aggregate(&path, max_sources).1;
        println!("peak {} {tracked}", rss_kib("VmHWM"));
        return;
    }
    if summaries {
        for name in names {
            print_summaries(object(name), records);
        }
        return;
    }
    if let [name] = names[..] {
        bench(object(name), records, runs, peers.as_deref());
        return;
    }
    println!(
        "{records} records per object, median of {runs} runs; load average {}",
        load_average()
    );
    // One process per object: peak memory is per process.
    for name in names {
        let mut child = Command::new(std::env::current_exe().unwrap());
        child.args([
            "--records",
            &records.to_string(),
            "--runs",
            &runs.to_string(),
        ]);
        child.args(["--objects", name]);
        if let Some(python) = &peers {
            child.arg("--peers").arg(python);
        }
        assert!(child.status().unwrap().success(), "bench of {name} failed");
    }
}

/// The aggregate of an object as JSON, for comparing builds (the aarch64 test).
fn print_summaries(object: &Object, records: u64) {
    let path = generate(object, records);
    let mut aggregator = Aggregator::new(AggregateOptions::default());
    let report = scan(
        File::open(path).unwrap(),
        &ScanOptions::default(),
        &mut aggregator,
    )
    .unwrap();
    println!(
        "summaries {} {} {}",
        object.name,
        report.records,
        serde_json::to_string(&aggregator.summaries()).unwrap()
    );
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// Wall time and CPU time of the whole process (all threads).
#[derive(Debug, Clone, Copy)]
struct Cost {
    wall: Duration,
    cpu: Duration,
}

fn measure<T>(f: impl FnOnce() -> T) -> (Cost, T) {
    let (wall, cpu) = (Instant::now(), process_cpu());
    let out = f();
    let cost = Cost {
        wall: wall.elapsed(),
        cpu: process_cpu() - cpu,
    };
    (cost, out)
}

fn median(mut costs: Vec<Cost>) -> Cost {
    let mid = costs.len() / 2;
    costs.sort_by_key(|c| c.wall);
    let wall = costs[mid].wall;
    costs.sort_by_key(|c| c.cpu);
    Cost {
        wall,
        cpu: costs[mid].cpu,
    }
}

fn bench(object: &Object, records: u64, runs: usize, peers: Option<&Path>) {
    let path = generate(object, records);
    let gzip_bytes = std::fs::metadata(&path).unwrap().len();
    let gb = gzip_bytes as f64 / 1e9;
    println!();
    println!(
        "== {}: {} ({:.1} MB gzip)",
        object.name,
        object.label,
        gzip_bytes as f64 / 1e6
    );
    reset_peak_rss();
    let inflate = median(
        (0..runs)
            .map(|_| measure(|| inflate_only(&path)).0)
            .collect(),
    );
    let inflate_peak = rss_kib("VmHWM");

    reset_peak_rss();
    let mut outcome = None;
    let parse = median(
        (0..runs)
            .map(|_| {
                let (cost, out) =
                    measure(|| parse_and_aggregate(&path, AggregateOptions::default().max_sources));
                outcome = Some(out);
                cost
            })
            .collect(),
    );
    let peak = rss_kib("VmHWM");
    let (report, tracked) = outcome.expect("at least one run");
    let (all, half) = (
        peak_of(object, records, tracked),
        peak_of(object, records, tracked / 2),
    );
    let per_source = (all.0 as f64 - half.0 as f64) * 1024.0 / (all.1 as f64 - half.1 as f64);
    let fixed_mb = (all.0 as f64 - per_source * all.1 as f64 / 1024.0) / 1024.0;

    println!(
        "{:<34} {:>8} {:>8} {:>10} {:>8} {:>9}",
        "job", "wall s", "CPU s", "CPU s/GB", "× floor", "peak MB"
    );
    let row = |job: &str, c: Cost, floor: Duration, peak_mb: f64| {
        println!(
            "{job:<34} {:>8.3} {:>8.3} {:>10.1} {:>8.2} {:>9.1}",
            c.wall.as_secs_f64(),
            c.cpu.as_secs_f64(),
            c.cpu.as_secs_f64() / gb,
            c.cpu.as_secs_f64() / floor.as_secs_f64(),
            peak_mb
        )
    };
    row(
        "inflate only (the floor)",
        inflate,
        inflate.cpu,
        inflate_peak as f64 / 1024.0,
    );
    row(
        "parse+aggregate, CPU (one core)",
        parse,
        inflate.cpu,
        peak as f64 / 1024.0,
    );
    println!(
        "{:<34} {:>8.3} {:>8} {:>10} {:>8.2} {:>9}",
        "parse+aggregate, 2 threads (wall)",
        parse.wall.as_secs_f64(),
        "",
        "",
        parse.wall.as_secs_f64() / inflate.wall.as_secs_f64(),
        ""
    );
    println!(
        "targets: one core <= 1.60 x floor, 2 threads <= 1.10 x floor, <= 512 bytes per source"
    );
    println!(
        "{} records ({} skipped), {tracked} sources tracked; memory {per_source:.0} bytes per \
         tracked source (peak {:.1} MB tracking {}, {:.1} MB tracking {}) over {fixed_mb:.1} MB \
         fixed",
        report.records,
        report.skipped.total(),
        all.0 as f64 / 1024.0,
        all.1,
        half.0 as f64 / 1024.0,
        half.1,
    );
    if let Some(python) = peers {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers.py");
        for (engine, threads) in [("polars", 0), ("polars", 1), ("duckdb", 0), ("duckdb", 1)] {
            let runs: Vec<(Cost, f64)> = (0..runs)
                .filter_map(|_| peer(python, &script, engine, threads, &path))
                .collect();
            let Some(&(_, peak_mb)) = runs.last() else {
                println!("{engine}: failed (see above)");
                continue;
            };
            let cost = median(runs.into_iter().map(|(c, _)| c).collect());
            let job = format!(
                "{engine}, {}",
                if threads == 0 {
                    "all threads"
                } else {
                    "1 thread"
                }
            );
            row(&job, cost, inflate.cpu, peak_mb);
            println!(
                "{:<34} {:>8} {:>8} {:>10} {:>8.2} {:>9}",
                "",
                "",
                "",
                "wall:",
                cost.wall.as_secs_f64() / inflate.wall.as_secs_f64(),
                ""
            );
        }
    }
}

/// Runs one peer job; its wall and CPU time as it measured them, and its peak RSS.
fn peer(
    python: &Path,
    script: &Path,
    engine: &str,
    threads: usize,
    object: &Path,
) -> Option<(Cost, f64)> {
    let out = Command::new(python)
        .arg(script)
        .arg(engine)
        .arg(threads.to_string())
        .arg(object)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("{engine}: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let values: Vec<f64> = text
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let [wall, cpu, peak, ..] = values[..] else {
        return None;
    };
    Some((
        Cost {
            wall: Duration::from_secs_f64(wall),
            cpu: Duration::from_secs_f64(cpu),
        },
        peak,
    ))
}

/// The object `object` of `records` records (deterministic: the same bytes on every machine).
fn generate(object: &Object, records: u64) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("flows-{}-{records}.log.gz", object.name));
    if !path.exists() {
        let started = Instant::now();
        let spec = Spec {
            records,
            seed: 42,
            sources: object.sources,
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
        .with_fields(object.fields);
        let partial = path.with_extension("partial");
        let file = std::io::BufWriter::new(File::create(&partial).unwrap());
        flowlog_synth::write_object(&spec, Compression::Gzip { level: 6 }, file).unwrap();
        std::fs::rename(&partial, &path).unwrap();
        println!(
            "generated {} in {:.1} s",
            path.display(),
            started.elapsed().as_secs_f64()
        );
    }
    path
}

/// Inflates the object into a reused buffer and throws the bytes away.
fn inflate_only(path: &Path) -> u64 {
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
    std::hint::black_box(total)
}

/// Peak RSS (KiB) of a process aggregating the object with at most `max_sources` tracked, and
/// how many it tracked.
fn peak_of(object: &Object, records: u64, max_sources: usize) -> (u64, usize) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--records", &records.to_string(), "--objects", object.name])
        .args(["--peak-with", &max_sources.max(1).to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("peak "))
        .expect("peak line");
    let mut values = line.split_whitespace().map(|v| v.parse::<u64>().unwrap());
    (values.next().unwrap(), values.next().unwrap() as usize)
}

fn parse_and_aggregate(path: &Path, max_sources: usize) -> (flowlog_core::ScanReport, usize) {
    let mut aggregator = Aggregator::new(AggregateOptions {
        max_sources,
        ..AggregateOptions::default()
    });
    let report = scan(
        File::open(path).unwrap(),
        &ScanOptions::default(),
        &mut aggregator,
    )
    .unwrap();
    (report, aggregator.source_count())
}

/// CPU time of this process so far, all threads (`CLOCK_PROCESS_CPUTIME_ID`).
fn process_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// A memory figure of this process from `/proc/self/status` (`VmRSS`, `VmHWM`), in KiB.
fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets the peak RSS (`VmHWM`) to the current RSS (Linux `clear_refs` 5).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
