//! `flowlogs`: parse and analyze VPC Flow Logs objects locally, with the same core as the
//! Lambda functions.

mod analyze_cmd;
mod generate_cmd;
mod input;
mod parse_cmd;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use flowlog_core::{AggregateOptions, Attribution, Cidr, FloodRules, Format, ScanOptions};

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
        /// Attribute flows to `srcaddr` or, when present, `pkt-srcaddr`.
        #[arg(long, default_value = "srcaddr", value_parser = parse_attribution)]
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

/// Thresholds of the flood rules (defaults documented in the README).
#[derive(Args)]
struct RuleArgs {
    /// Flows from one source in one minute before it can be a flood.
    #[arg(long, default_value_t = FloodRules::default().min_flows_per_minute)]
    min_flows_per_minute: u64,
    /// Share of TCP flows that are SYN-only (0-1) that signals a SYN flood.
    #[arg(long, default_value_t = FloodRules::default().syn_only_share)]
    syn_only_share: f64,
    /// Share of rejected flows (0-1) that signals a flood against closed doors.
    #[arg(long, default_value_t = FloodRules::default().reject_share)]
    reject_share: f64,
    /// Distinct destination ports in a minute that signal a scan.
    #[arg(long, default_value_t = FloodRules::default().distinct_ports)]
    distinct_ports: usize,
    /// Average packets per flow at or below which flows are tiny.
    #[arg(long, default_value_t = FloodRules::default().max_packets_per_flow)]
    max_packets_per_flow: f64,
    /// Average bytes per flow at or above which a source is a heavy client, not a flood.
    #[arg(long, default_value_t = FloodRules::default().heavy_bytes_per_flow)]
    heavy_bytes_per_flow: u64,
    /// Never report sources in this CIDR (repeatable; IPv4 or IPv6).
    #[arg(long = "allow", value_name = "CIDR", value_parser = parse_cidr)]
    allowlist: Vec<Cidr>,
}

impl RuleArgs {
    fn rules(self) -> FloodRules {
        FloodRules {
            min_flows_per_minute: self.min_flows_per_minute,
            syn_only_share: self.syn_only_share,
            reject_share: self.reject_share,
            distinct_ports: self.distinct_ports,
            max_packets_per_flow: self.max_packets_per_flow,
            heavy_bytes_per_flow: self.heavy_bytes_per_flow,
            allowlist: self.allowlist,
            ..FloodRules::default()
        }
    }
}

fn parse_cidr(text: &str) -> Result<Cidr, String> {
    text.parse().map_err(|e| format!("{e}"))
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
            let floods = flowlog_core::detect(&aggregator, &rules.rules());
            if json {
                println!("{}", analyze_cmd::json(&aggregator, &totals, &floods, top));
            } else {
                let table = analyze_cmd::table(&aggregator, &totals, &floods, top.unwrap_or(20));
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
