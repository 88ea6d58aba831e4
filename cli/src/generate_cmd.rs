//! `flowlogs generate`: deterministic synthetic flow-log objects for demos, tests and benchmarks.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;

use clap::Args;
use flowlog_core::Format;
use flowlog_synth::traffic::{Attack, Planted, Scenario, Subject, TrafficTruth};
use flowlog_synth::{Compression, Flood, Spec, Truth, formats, write_object};
use serde_json::json;

/// What to generate.
#[derive(Args)]
pub struct GenerateArgs {
    /// Record lines to write (header and injected malformed lines not counted).
    #[arg(long, default_value_t = 10_000)]
    records: u64,
    /// Seed: the same arguments always give byte-identical output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Format: a preset (default, v3, v5, v8, v11) or a "${field} ..." string.
    #[arg(long, default_value = "default")]
    format: String,
    /// Leave out the header line (as CloudWatch Logs delivers records).
    #[arg(long)]
    no_header: bool,
    /// Unix seconds of the first record.
    #[arg(long, default_value_t = flowlog_synth::DEFAULT_START)]
    start: i64,
    /// Seconds the records' start times spread over.
    #[arg(long, default_value_t = 300)]
    span_secs: i64,
    /// Distinct normal sources.
    #[arg(long, default_value_t = 200)]
    sources: u32,
    /// Share of sources that are IPv6 (0-1).
    #[arg(long, default_value_t = 0.1)]
    ipv6_share: f64,
    /// Every Nth record is NODATA (0: none).
    #[arg(long, default_value_t = 0)]
    nodata_every: u64,
    /// Every Nth record is SKIPDATA (0: none).
    #[arg(long, default_value_t = 0)]
    skipdata_every: u64,
    /// Insert a malformed line after every Nth record (0: none).
    #[arg(long, default_value_t = 0)]
    malformed_every: u64,
    /// Add a flood from this address.
    #[arg(long, value_name = "IP")]
    flood: Option<IpAddr>,
    /// Flows of the flood over the whole span (part of --records).
    #[arg(long, default_value_t = 5_000)]
    flood_flows: u64,
    /// Share of the flood's flows that are rejected (0-1).
    #[arg(long, default_value_t = 0.0)]
    flood_reject_share: f64,
    /// Distinct destination ports the flood hits.
    #[arg(long, default_value_t = 1)]
    flood_ports: u16,
    /// Make the flood complete its handshakes (not SYN-only).
    #[arg(long)]
    flood_not_syn: bool,
    /// Add a heavy downloader: few flows with huge byte counts (not a flood).
    #[arg(long)]
    heavy_downloader: bool,
    /// Gzip the output at this level (1-9), as AWS delivers objects to S3.
    #[arg(long, value_name = "LEVEL")]
    gzip: Option<u32>,
    /// Write here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<String>,
    /// Write the ground truth (totals and per-source counts) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    truth: Option<String>,
    /// Model a whole VPC instead (connections between its hosts and the internet, logged at
    /// every interface in both directions, as traffic type ALL does), busy and benign; add
    /// attacks with --attack. --records, --sources and the --flood options do not apply.
    #[arg(long, conflicts_with_all = ["records", "sources", "ipv6_share", "flood", "heavy_downloader", "nodata_every", "skipdata_every", "malformed_every"])]
    vpc: bool,
    /// With --vpc: minutes of traffic.
    #[arg(long, default_value_t = 5, requires = "vpc")]
    minutes: u32,
    /// With --vpc: how busy the benign hosts are (their rates times this).
    #[arg(long, default_value_t = 1.0, requires = "vpc")]
    busy: f64,
    /// With --vpc: plant an attack, NAME or NAME=SOURCE (repeatable). Names: connection-flood,
    /// request-flood, udp-flood, udp-tuple-flood, icmp-flood, syn-flood, syn-rst-flood,
    /// nlb-syn-flood, ipv6-rotation, spoofed-storm, botnet.
    #[arg(long, value_name = "NAME[=SOURCE]", requires = "vpc", value_parser = parse_attack)]
    attack: Vec<Attack>,
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
    fn spec(&self) -> Result<Spec, String> {
        let fields: Vec<String> = match formats::named(&self.format) {
            Some(preset) => preset.iter().map(|f| f.to_string()).collect(),
            None => {
                let format: Format = self.format.parse().map_err(|e| format!("--format: {e}"))?;
                format
                    .columns()
                    .iter()
                    .map(|c| c.name().to_owned())
                    .collect()
            }
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
}

/// Writes the object and, if asked, its ground truth.
pub fn run(args: &GenerateArgs) -> Result<(), String> {
    if args.vpc {
        return run_vpc(args);
    }
    let spec = args.spec()?;
    let compression = match args.gzip {
        Some(level @ 1..=9) => Compression::Gzip { level },
        Some(level) => return Err(format!("--gzip: level {level} is not 1-9")),
        None => Compression::None,
    };
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(File::create(path).map_err(|e| format!("{path}: {e}"))?),
        None => Box::new(io::stdout().lock()),
    };
    let truth = match write_object(&spec, compression, BufWriter::with_capacity(1 << 20, out)) {
        Ok(truth) => truth,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => return Err(format!("writing the object: {e}")),
    };
    if let Some(path) = &args.truth {
        let text = serde_json::to_string_pretty(&truth_json(&truth)).expect("serialises");
        std::fs::write(path, text + "\n").map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

/// `--vpc`: the modelled VPC with its attacks.
fn run_vpc(args: &GenerateArgs) -> Result<(), String> {
    let fields: Vec<&str> = match formats::named(&args.format) {
        Some(preset) => preset.to_vec(),
        None => {
            return Err(format!(
                "--format {:?}: --vpc takes a preset (default, v3, v5, v8, v11)",
                args.format
            ));
        }
    };
    let mut scenario = Scenario::new(&fields, args.start);
    scenario.seed = args.seed;
    scenario.minutes = args.minutes.max(1);
    scenario.busy = args.busy;
    for attack in &args.attack {
        scenario.attacks.push(Planted::from(attack.clone()));
    }
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(File::create(path).map_err(|e| format!("{path}: {e}"))?),
        None => Box::new(io::stdout().lock()),
    };
    let out = BufWriter::with_capacity(1 << 20, out);
    let written = match args.gzip {
        Some(level @ 1..=9) => scenario.write_gzip(level, out),
        Some(level) => return Err(format!("--gzip: level {level} is not 1-9")),
        None => scenario.write(out),
    };
    let truth = match written {
        Ok(truth) => truth,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => return Err(format!("writing the object: {e}")),
    };
    if let Some(path) = &args.truth {
        let text = serde_json::to_string_pretty(&vpc_truth_json(&truth)).expect("serialises");
        std::fs::write(path, text + "\n").map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
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
