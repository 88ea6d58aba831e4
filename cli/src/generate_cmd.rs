//! `flowlogs generate`: deterministic synthetic flow-log objects for demos, tests and benchmarks.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;

use clap::Args;
use flowlog_synth::traffic::{Attack, Planted, Scenario, Subject, TrafficTruth};
use flowlog_synth::{Compression, Flood, Spec, Truth, write_object};
use serde_json::json;

use crate::Error;
use crate::args::{FormatArgs, parse_share};
use crate::progress::{Progress, Show};

/// Records generated to estimate the size of a big object for its progress bar.
const SAMPLE_RECORDS: u64 = 5_000;

/// What to generate.
#[derive(Args)]
pub struct GenerateArgs {
    /// Record lines to write (header and injected malformed lines not counted).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    records: u64,
    /// Seed: the same arguments always give byte-identical output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    format: FormatArgs,
    /// Leave out the header line (as CloudWatch Logs delivers records).
    #[arg(long)]
    no_header: bool,
    /// Unix seconds of the first record.
    #[arg(long, value_name = "UNIX", default_value_t = flowlog_synth::DEFAULT_START, value_parser = clap::value_parser!(i64).range(0..=253_402_300_799))]
    start: i64,
    /// Seconds the records' start times spread over (1-2,592,000).
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(i64).range(1..=2_592_000))]
    span_secs: i64,
    /// Distinct normal sources (0-10,000,000).
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    sources: u32,
    /// Share of sources that are IPv6 (0-1).
    #[arg(long, value_name = "SHARE", default_value_t = 0.1, value_parser = parse_share)]
    ipv6_share: f64,
    /// Every Nth record is NODATA (0: none).
    #[arg(long, value_name = "N", default_value_t = 0)]
    nodata_every: u64,
    /// Every Nth record is SKIPDATA (0: none).
    #[arg(long, value_name = "N", default_value_t = 0)]
    skipdata_every: u64,
    /// Insert a malformed line after every Nth record (0: none).
    #[arg(long, value_name = "N", default_value_t = 0)]
    malformed_every: u64,
    /// Add a flood from this address.
    #[arg(long, value_name = "IP")]
    flood: Option<IpAddr>,
    /// Flows of the flood over the whole span (part of --records, so at most --records).
    #[arg(long, value_name = "N", default_value_t = 5_000)]
    flood_flows: u64,
    /// Share of the flood's flows that are rejected (0-1).
    #[arg(long, value_name = "SHARE", default_value_t = 0.0, value_parser = parse_share)]
    flood_reject_share: f64,
    /// Distinct destination ports the flood hits (1-65535).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    flood_ports: u16,
    /// Make the flood complete its handshakes (not SYN-only).
    #[arg(long)]
    flood_not_syn: bool,
    /// Add a heavy downloader: few flows with huge byte counts (not a flood).
    #[arg(long)]
    heavy_downloader: bool,
    /// Gzip the output at this level (1-9), as AWS delivers objects to S3.
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(u32).range(1..=9))]
    gzip: Option<u32>,
    /// Write Parquet as flow logs deliver it to S3 with FileFormat=parquet (a column per
    /// field, `_` for `-`, GZIP pages; malformed lines cannot be held and are left out).
    #[arg(long, conflicts_with_all = ["gzip", "no_header"])]
    parquet: bool,
    /// Write here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<String>,
    /// Write the ground truth (totals and per-source counts) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    truth: Option<String>,
    /// Model a whole VPC instead (connections between its hosts and the internet, logged at
    /// every interface in both directions, as traffic type ALL does), busy and benign; add
    /// attacks with --attack. Takes a --preset; --records, --sources and the --flood options
    /// do not apply.
    #[arg(long, conflicts_with_all = ["records", "sources", "ipv6_share", "flood", "heavy_downloader", "nodata_every", "skipdata_every", "malformed_every", "log_format"])]
    vpc: bool,
    /// With --vpc: minutes of traffic (1-1440).
    #[arg(long, default_value_t = 5, requires = "vpc", value_parser = clap::value_parser!(u32).range(1..=1440))]
    minutes: u32,
    /// With --vpc: how busy the benign hosts are (their rates times this, above 0 and at most 100).
    #[arg(long, default_value_t = 1.0, requires = "vpc", value_parser = parse_busy)]
    busy: f64,
    /// With --vpc: plant an attack, NAME or NAME=SOURCE (repeatable). Names: connection-flood,
    /// request-flood, udp-flood, udp-tuple-flood, icmp-flood, syn-flood, syn-rst-flood,
    /// nlb-syn-flood, ipv6-rotation, spoofed-storm, botnet.
    #[arg(long, value_name = "NAME[=SOURCE]", requires = "vpc", value_parser = parse_attack)]
    attack: Vec<Attack>,
}

fn parse_busy(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|x| *x > 0.0 && *x <= 100.0)
        .ok_or_else(|| format!("{text:?} is not a factor above 0 and at most 100"))
}

fn parse_attack(text: &str) -> Result<Attack, String> {
    let (name, source) = match text.split_once('=') {
        Some((name, source)) => {
            let ip: IpAddr = source
                .parse()
                .map_err(|_| format!("{source:?} is not an IP address"))?;
            (name, Some(ip))
        }
        None => (text, None),
    };
    Attack::named(name, source).ok_or_else(|| {
        let names: Vec<_> = Attack::NAMES.iter().map(|(n, _)| *n).collect();
        format!(
            "unknown attack {name:?}: expected one of {}",
            names.join(", ")
        )
    })
}

impl GenerateArgs {
    fn spec(&self) -> Result<Spec, Error> {
        if self.flood.is_some() && self.flood_flows > self.records {
            return Err(Error::Usage(format!(
                "--flood-flows {} is more than --records {}: the flood's flows are part of the records",
                self.flood_flows, self.records
            )));
        }
        let fields: Vec<String> = match self.format.format() {
            Some(format) => format
                .columns()
                .iter()
                .map(|c| c.name().to_owned())
                .collect(),
            None => Spec::default().fields,
        };
        Ok(Spec {
            fields,
            header: !self.no_header,
            records: self.records,
            seed: self.seed,
            start: self.start,
            span_secs: self.span_secs,
            sources: self.sources,
            ipv6_share: self.ipv6_share,
            nodata_every: self.nodata_every,
            skipdata_every: self.skipdata_every,
            malformed_every: self.malformed_every,
            flood: self.flood.map(|source| Flood {
                source,
                flows: self.flood_flows,
                syn_only: !self.flood_not_syn,
                reject_share: self.flood_reject_share,
                dst_ports: self.flood_ports,
            }),
            heavy_downloader: self.heavy_downloader,
        })
    }

    fn compression(&self) -> Compression {
        match self.gzip {
            Some(level) => Compression::Gzip { level },
            None => Compression::None,
        }
    }

    fn out(&self) -> Result<Box<dyn Write>, Error> {
        Ok(match &self.output {
            Some(path) => {
                Box::new(File::create(path).map_err(|e| Error::Failed(format!("{path}: {e}")))?)
            }
            None => Box::new(io::stdout().lock()),
        })
    }

    fn progress(&self, total: Option<u64>) -> Progress {
        let show = crate::progress::wanted(self.output.is_none());
        // Modelling a VPC writes nothing for a while: say so from the start.
        let show = match show {
            Show::Soon if self.vpc => Show::Now,
            show => show,
        };
        Progress::bytes(total, show)
    }
}

/// Writes the object and, if asked, its ground truth.
pub fn run(args: &GenerateArgs) -> Result<(), Error> {
    if args.vpc {
        return run_vpc(args);
    }
    let spec = args.spec()?;
    let compression = args.compression();
    let progress = args.progress(estimate_size(&spec, compression));
    progress.set_message(format!(
        "writing {}",
        crate::text::counted(spec.records, "record")
    ));
    let out = BufWriter::with_capacity(1 << 20, progress.writer(args.out()?));
    let written = if args.parquet {
        let mut text = Vec::new();
        write_object(&spec, Compression::None, &mut text)
            .and_then(|truth| to_parquet(&text, out).map(|()| truth))
    } else {
        write_object(&spec, compression, out)
    };
    progress.finish();
    let truth = finish(written)?;
    if let Some(path) = &args.truth {
        write_truth(path, &truth_json(&truth))?;
    }
    Ok(())
}

/// The size of the object `spec` describes, from a small sample of it; `None` when the
/// object is small enough not to need an estimate.
fn estimate_size(spec: &Spec, compression: Compression) -> Option<u64> {
    if spec.records <= SAMPLE_RECORDS * 4 {
        return None;
    }
    let scale = SAMPLE_RECORDS as f64 / spec.records as f64;
    let sample = Spec {
        records: SAMPLE_RECORDS,
        flood: spec.flood.map(|flood| Flood {
            flows: (flood.flows as f64 * scale) as u64,
            ..flood
        }),
        ..spec.clone()
    };
    let mut counter = ByteCount(0);
    write_object(&sample, compression, &mut counter).ok()?;
    Some((counter.0 as f64 / scale) as u64)
}

struct ByteCount(u64);

impl Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `--vpc`: the modelled VPC with its attacks.
fn run_vpc(args: &GenerateArgs) -> Result<(), Error> {
    let fields: Vec<&str> = match &args.format.preset {
        Some(preset) => preset.fields.to_vec(),
        None => flowlog_synth::formats::DEFAULT_V2.to_vec(),
    };
    let mut scenario = Scenario::new(&fields, args.start);
    scenario.seed = args.seed;
    scenario.minutes = args.minutes;
    scenario.busy = args.busy;
    for attack in &args.attack {
        scenario.attacks.push(Planted::from(attack.clone()));
    }
    let progress = args.progress(None);
    progress.set_message(format!(
        "modelling {} of a VPC's traffic, then writing it",
        crate::text::counted(u64::from(args.minutes), "minute")
    ));
    let out = BufWriter::with_capacity(1 << 20, progress.writer(args.out()?));
    let written = match args.gzip {
        _ if args.parquet => {
            let mut text = Vec::new();
            scenario
                .write(&mut text)
                .and_then(|truth| to_parquet(&text, out).map(|()| truth))
        }
        Some(level) => scenario.write_gzip(level, out),
        None => scenario.write(out),
    };
    progress.finish();
    let truth = finish(written)?;
    if let Some(path) = &args.truth {
        write_truth(path, &vpc_truth_json(&truth))?;
    }
    Ok(())
}

/// Writes the records of flow-log `text` to `out` as Parquet (made in memory: standard
/// output cannot move to the writer's threads).
fn to_parquet(text: &[u8], mut out: impl Write) -> io::Result<()> {
    let options = flowlog_parquet::WriteOptions::default();
    let mut parquet = Vec::new();
    flowlog_parquet::write_parquet(text, None, &mut parquet, &options).map_err(io::Error::other)?;
    out.write_all(&parquet)?;
    out.flush()
}

/// The result of writing; a closed pipe (`| head`) ends the program quietly.
fn finish<T>(written: io::Result<T>) -> Result<T, Error> {
    match written {
        Ok(truth) => Ok(truth),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Error::Output(e.to_string())),
    }
}

fn write_truth(path: &str, truth: &serde_json::Value) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(truth).expect("serialises");
    std::fs::write(path, text + "\n").map_err(|e| Error::Output(format!("{path}: {e}")))
}

fn vpc_truth_json(truth: &TrafficTruth) -> serde_json::Value {
    let expected: Vec<serde_json::Value> = truth
        .expected
        .iter()
        .map(|e| match &e.subject {
            Subject::Source(source) => json!({"source": source, "rule": e.rule}),
            Subject::Target(target) => json!({"target": target.to_string(), "rule": e.rule}),
        })
        .collect();
    json!({"records": truth.records, "expected": expected})
}

fn truth_json(truth: &Truth) -> serde_json::Value {
    let per_source: serde_json::Map<String, serde_json::Value> = truth
        .per_source
        .iter()
        .map(|(ip, s)| {
            let counts = json!({"flows": s.flows, "packets": s.packets, "bytes": s.bytes,
                                "rejected": s.rejected, "syn_only": s.syn_only});
            (ip.to_string(), counts)
        })
        .collect();
    json!({
        "records": truth.records, "ok": truth.ok, "nodata": truth.nodata, "skipdata": truth.skipdata,
        "malformed_lines": truth.malformed_lines, "flows": truth.flows, "packets": truth.packets,
        "bytes": truth.bytes, "rejected": truth.rejected, "syn_only": truth.syn_only,
        "per_source": per_source,
    })
}
