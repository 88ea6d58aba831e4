//! `flowlogs`: parse and analyze VPC Flow Logs objects locally, with the same core as the
//! Lambda functions.

mod analyze_cmd;
mod generate_cmd;
mod input;
mod parse_cmd;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use flowlog_core::{AggregateOptions, Attribution, FloodRules, Format, IpNet, ScanOptions};

/// Parse and analyze Amazon VPC Flow Logs objects (gzip or plain text, versions 2-11).
#[derive(Parser)]
#[command(name = "flowlogs", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every record as one JSON object per line, keyed by the AWS field names.
    ///
    /// Numeric fields are JSON numbers, `-` is null, everything else a string. A summary of
    /// skipped lines goes to standard error.
    Parse {
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Per-source flow, packet and byte rates and flood findings over the inputs, as a table or JSON.
    Analyze {
        #[command(flatten)]
        read: ReadArgs,
        /// Print one JSON document instead of a table.
        #[arg(long)]
        json: bool,
        /// How many sources to list (the table defaults to 20, JSON to all).
        #[arg(long)]
        top: Option<usize>,
        /// Count flows for `pkt-srcaddr` when the format has it (the real sender behind a NAT
        /// gateway, load balancer or Transit Gateway), or always for `srcaddr`.
        #[arg(long, default_value = "pkt-srcaddr", value_parser = parse_attribution)]
        attribution: Attribution,
        /// Distinct sources tracked one by one; the rest are counted as untracked.
        #[arg(long, default_value_t = AggregateOptions::default().max_sources)]
        max_sources: usize,
        #[command(flatten)]
        rules: RuleArgs,
    },
    /// Write a deterministic synthetic flow-log object (for demos, tests and benchmarks).
    Generate(generate_cmd::GenerateArgs),
}

#[derive(Args)]
struct ReadArgs {
    /// Format of objects without a header line, e.g. "${version} ${srcaddr} ...".
    /// Objects with a header line always use their header.
    #[arg(long, value_parser = parse_format)]
    format: Option<Format>,
    /// Files to read (gzip or plain text); standard input when none or `-`.
    files: Vec<String>,
}

impl ReadArgs {
    fn scan_options(&self) -> ScanOptions {
        ScanOptions {
            format: self.format.clone(),
            ..ScanOptions::default()
        }
    }
}

/// Thresholds of the flood rules, per source (or target) and minute; the README explains each
/// default.
#[derive(Args)]
struct RuleArgs {
    /// TCP connection attempts that never complete their handshake (SYN flood).
    #[arg(long, default_value_t = FloodRules::default().half_open_per_minute)]
    half_open_per_minute: u64,
    /// Share (0-1) of a source's connection attempts that must be half-open.
    #[arg(long, default_value_t = FloodRules::default().half_open_share, value_parser = parse_share)]
    half_open_share: f64,
    /// Completed TCP connections to one service (connection flood).
    #[arg(long, default_value_t = FloodRules::default().connections_per_minute)]
    connections_per_minute: u64,
    /// TCP request packets to one service over kept-alive connections (request flood).
    #[arg(long, default_value_t = FloodRules::default().request_packets_per_minute)]
    request_packets_per_minute: u64,
    /// UDP packets that are not a conversation (UDP flood).
    #[arg(long, default_value_t = FloodRules::default().udp_packets_per_minute)]
    udp_packets_per_minute: u64,
    /// ICMP packets (ping flood).
    #[arg(long, default_value_t = FloodRules::default().icmp_packets_per_minute)]
    icmp_packets_per_minute: u64,
    /// Share (0-1) of a source's traffic that must go to one target.
    #[arg(long, default_value_t = FloodRules::default().target_share, value_parser = parse_share)]
    target_share: f64,
    /// An address receiving this share (0-1) of what it sends relays or serves: not judged.
    #[arg(long, default_value_t = FloodRules::default().relay_share, value_parser = parse_share)]
    relay_share: f64,
    /// Half-open attempts against one target from many sources.
    #[arg(long, default_value_t = FloodRules::default().target_half_open_per_minute)]
    target_half_open_per_minute: u64,
    /// Distinct sources before traffic against a target counts as many-source.
    #[arg(long, default_value_t = FloodRules::default().min_sources)]
    min_sources: u64,
    /// Also judge hosts of the log itself for connection and request floods.
    #[arg(long)]
    internal_clients: bool,
    /// Never report sources in this CIDR (repeatable; IPv4 or IPv6, or a single address).
    #[arg(long = "allow", value_name = "CIDR", value_parser = parse_cidr)]
    allowlist: Vec<IpNet>,
}

impl RuleArgs {
    fn rules(self) -> FloodRules {
        FloodRules {
            half_open_per_minute: self.half_open_per_minute,
            half_open_share: self.half_open_share,
            connections_per_minute: self.connections_per_minute,
            request_packets_per_minute: self.request_packets_per_minute,
            udp_packets_per_minute: self.udp_packets_per_minute,
            icmp_packets_per_minute: self.icmp_packets_per_minute,
            target_share: self.target_share,
            relay_share: self.relay_share,
            target_half_open_per_minute: self.target_half_open_per_minute,
            min_sources: self.min_sources,
            internal_clients: self.internal_clients,
            allowlist: self.allowlist,
            ..FloodRules::default()
        }
    }
}

fn parse_share(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|x| (0.0..=1.0).contains(x))
        .ok_or_else(|| format!("{text:?} is not a share from 0 to 1"))
}

fn parse_cidr(text: &str) -> Result<IpNet, String> {
    flowlog_core::parse_cidr(text).map_err(|e| format!("{e}"))
}

fn parse_format(text: &str) -> Result<Format, String> {
    text.parse().map_err(|e| format!("{e}"))
}

fn parse_attribution(text: &str) -> Result<Attribution, String> {
    text.parse().map_err(|e| format!("{e}"))
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_failed_inputs) => ExitCode::FAILURE,
        Err(message) => {
            report_failure(&message);
            ExitCode::FAILURE
        }
    }
}

/// Prints one line saying what failed and why.
fn report_failure(message: &str) {
    eprintln!("flowlogs: {message}");
}

/// Runs a command; returns how many inputs failed (each already reported).
fn run(cli: Cli) -> Result<usize, String> {
    match cli.command {
        Command::Generate(args) => generate_cmd::run(&args).map(|()| 0),
        Command::Parse { read } => {
            let (reports, failed) = parse_cmd::run(&read.files, &read.scan_options())?;
            for (name, report) in reports {
                eprintln!(
                    "{name}: {} records (OK {}, NODATA {}, SKIPDATA {}), {} lines skipped{}",
                    report.records,
                    report.log_status.ok,
                    report.log_status.nodata,
                    report.log_status.skipdata,
                    report.skipped.total(),
                    skip_samples(&report.skipped),
                );
            }
            Ok(failed)
        }
        Command::Analyze {
            read,
            json,
            top,
            attribution,
            max_sources,
            rules,
        } => {
            let options = AggregateOptions {
                attribution,
                max_sources,
            };
            let (aggregator, totals) =
                analyze_cmd::aggregate(&read.files, &read.scan_options(), options);
            if totals.objects == 0 {
                return Ok(totals.failed);
            }
            let detection = flowlog_core::detect(&aggregator, &rules.rules());
            if json {
                println!(
                    "{}",
                    analyze_cmd::json(&aggregator, &totals, &detection, top)
                );
            } else {
                let table = analyze_cmd::table(&aggregator, &totals, &detection, top.unwrap_or(20));
                print!("{table}");
            }
            Ok(totals.failed)
        }
    }
}

fn skip_samples(skipped: &flowlog_core::SkipReport) -> String {
    let parts: Vec<_> = skipped
        .samples
        .iter()
        .map(|s| format!("line {}: {}", s.line, s.reason.as_str()))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" [{}]", parts.join("; "))
    }
}
