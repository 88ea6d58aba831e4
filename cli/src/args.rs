//! The command line: subcommands, options, their ranges and help.

use clap::{Args, Parser, Subcommand, ValueEnum};
use flowlog_core::{AggregateOptions, Attribution, FloodRules, Format, IpNet};

use crate::filter::FilterArgs;
use crate::generate_cmd::GenerateArgs;

const MAIN_HELP: &str = "\
Inputs: files (gzip or plain text, or Parquet as flow logs deliver it to S3; told apart by
their first bytes), - or nothing for standard input, or s3://bucket/prefix/ (every object
under the prefix, with credentials and region from the usual AWS chain: environment, profile,
SSO cache, role).

Examples:
  flowlogs stats --by source --sort flows --top 10 *.log.gz        # the top talkers
  flowlogs stats --action reject --by source s3://my-logs/AWSLogs/ # who is rejected
  flowlogs analyze s3://my-logs/AWSLogs/123456789012/vpcflowlogs/  # rates and floods
  flowlogs parse --port 22 object.log.gz                           # the records, as JSON
  flowlogs completions bash > ~/.local/share/bash-completion/completions/flowlogs

Exit status: 0 success; 1 an input could not be read or is not a flow log (the others are
still read), or output could not be written; 2 the command line is wrong.";

const PARSE_HELP: &str = "\
Examples:
  flowlogs parse object.log.gz | jq -c '{srcaddr, dstaddr, bytes}'
  flowlogs parse --action reject --port 22,3389 s3://my-logs/AWSLogs/
  aws logs tail my-flow-log-group --format short | cut -d' ' -f2- | flowlogs parse --preset default";

const STATS_HELP: &str = "\
Counts the OK records (flows) that match the filters, with their packets, bytes and rejected
flows, per group. NODATA and SKIPDATA records carry no traffic and are not grouped.

Examples:
  # Logs Insights: stats count(*) as records by srcAddr | sort records desc | limit 10
  flowlogs stats --by source --sort flows --top 10 *.log.gz
  # Logs Insights: filter action=\"REJECT\" | stats count(*) by srcAddr
  flowlogs stats --action reject --by source --top all *.log.gz
  flowlogs stats --by destination,dstport --protocol tcp --since 6h s3://my-logs/AWSLogs/
  flowlogs stats --by interface --sort bytes --output csv *.log.gz > interfaces.csv
  flowlogs stats --src 203.0.113.0/24 --by dstport --output json object.log.gz";

const ANALYZE_HELP: &str = "\
Examples:
  flowlogs analyze object.log.gz
  flowlogs analyze object.log.parquet
  flowlogs analyze --output json s3://my-logs/AWSLogs/ | jq '.floods[] | {source, rule}'
  flowlogs analyze --allow 198.51.100.0/24 --half-open-per-minute 600 *.log.gz

A source is judged by the requests it sends; the flood rules and their defaults are explained
in the README's \"Flood rules\" section.";

const REPLAY_HELP: &str = "\
Examples:
  flowlogs replay AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/01/0*/*.log.gz
  flowlogs replay --half-open-per-minute 600 --quiet-seconds 300 s3://my-logs/AWSLogs/
  flowlogs replay --output json last-week/*.log.gz | jq -r '.[] | [.stage, .subject] | @tsv'

Each input is an object as S3 delivered it: it arrives --delay seconds after its last record,
and a verdict runs at each arrival and every --every seconds, over what has arrived, as the
alert function judges its state table. The notices are the ones it would have published.";

const GENERATE_HELP: &str = "\
Examples:
  flowlogs generate --records 1000000 --preset v5 --gzip 6 -o big.log.gz
  flowlogs generate --flood 203.0.113.7 --truth truth.json -o flood.log
  flowlogs generate --vpc --minutes 2 --attack syn-flood=203.0.113.7 --gzip 6 -o vpc.log.gz
  flowlogs generate --preset v5 --parquet -o object.log.parquet";

const COMPLETIONS_HELP: &str = "\
Examples:
  flowlogs completions bash > ~/.local/share/bash-completion/completions/flowlogs
  flowlogs completions zsh > \"${fpath[1]}/_flowlogs\"
  flowlogs completions fish > ~/.config/fish/completions/flowlogs.fish";

/// Parse, query and analyze Amazon VPC Flow Logs (gzip or plain text, or Parquet, versions
/// 2-11), from files or straight from S3.
#[derive(Parser)]
#[command(name = "flowlogs", version, about, long_about = None, after_help = MAIN_HELP)]
pub struct Cli {
    /// When to colour the output: auto (standard output is a terminal and NO_COLOR is not
    /// set), always or never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
    /// When to draw progress on standard error, only ever a terminal: auto (once the work has
    /// taken a moment), always (from the start) or never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = crate::progress::When::Auto)]
    pub progress: crate::progress::When,
    #[command(subcommand)]
    pub command: Command,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    /// Makes standard output and error follow the choice.
    pub fn apply(self) {
        let choice = match self {
            ColorWhen::Auto => anstream::ColorChoice::Auto,
            ColorWhen::Always => anstream::ColorChoice::AlwaysAnsi,
            ColorWhen::Never => anstream::ColorChoice::Never,
        };
        choice.write_global();
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Print every record as one JSON object per line, keyed by the AWS field names.
    ///
    /// Numeric fields are JSON numbers, `-` is null, everything else a string. With a filter,
    /// only the OK records that match are printed. A summary of each input goes to standard
    /// error.
    #[command(after_help = PARSE_HELP)]
    Parse(ParseArgs),
    /// Flows, packets and bytes per source, destination, port or interface: the answers to
    /// everyday Logs Insights queries.
    #[command(after_help = STATS_HELP)]
    Stats(StatsArgs),
    /// Per-source rates and flood findings (the verdict of the alert function), as a table or
    /// JSON.
    #[command(after_help = ANALYZE_HELP)]
    Analyze(AnalyzeArgs),
    /// Replay objects in time order through the alert function's incident lifecycle: the
    /// STARTED, ONGOING and ENDED notices it would have sent (to tune thresholds before
    /// deploying).
    #[command(after_help = REPLAY_HELP)]
    Replay(ReplayArgs),
    /// Write a deterministic synthetic flow-log object (for demos, tests and benchmarks).
    #[command(after_help = GENERATE_HELP)]
    Generate(GenerateArgs),
    /// Print a shell completion script.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// What to read and how.
#[derive(Args)]
pub struct InputArgs {
    /// Files (gzip or plain text, or Parquet), s3://bucket/prefix/, or - for standard input (the
    /// default).
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    #[command(flatten)]
    pub format: FormatArgs,
    /// S3 objects downloading at once (1-64).
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub s3_concurrency: u16,
}

impl InputArgs {
    /// The core's reading options: the format for input without a header line.
    pub fn scan_options(&self) -> flowlog_core::ScanOptions {
        flowlog_core::ScanOptions {
            format: self.format.format(),
            ..flowlog_core::ScanOptions::default()
        }
    }

    /// How to read the inputs.
    pub fn read_options(&self, streams_stdout: bool) -> crate::input::ReadOptions {
        crate::input::ReadOptions {
            s3_concurrency: usize::from(self.s3_concurrency),
            streams_stdout,
        }
    }
}

/// The records' format: a preset or a format string, never both.
#[derive(Args, Clone, Default)]
#[group(multiple = false)]
pub struct FormatArgs {
    /// The records' format as a LogFormat string, e.g. '${version} ${srcaddr} ${dstaddr} ...';
    /// every name must be a documented field. When reading, it applies to input without a
    /// header line only.
    #[arg(long, value_name = "FORMAT", value_parser = parse_log_format)]
    pub log_format: Option<Format>,
    /// The records' format by name: default (the v2 default format), v3, v5, v8 or v11. When
    /// reading, it applies to input without a header line only.
    #[arg(long, value_name = "NAME", value_parser = parse_preset)]
    pub preset: Option<Preset>,
}

impl FormatArgs {
    /// The format given, if any.
    pub fn format(&self) -> Option<Format> {
        match (&self.log_format, &self.preset) {
            (Some(format), _) => Some(format.clone()),
            (None, Some(preset)) => Some(preset.format()),
            (None, None) => None,
        }
    }
}

/// A named format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    /// Its name, as given.
    pub name: String,
    /// Its fields.
    pub fields: &'static [&'static str],
}

impl Preset {
    /// The preset's format.
    pub fn format(&self) -> Format {
        Format::from_names(self.fields.iter().copied()).expect("presets are valid formats")
    }
}

/// `--preset`: one of the named formats.
pub fn parse_preset(text: &str) -> Result<Preset, String> {
    match flowlog_synth::formats::named(text) {
        Some(fields) => Ok(Preset {
            name: text.to_ascii_lowercase(),
            fields,
        }),
        None if text.contains('$') || text.contains(' ') => Err(format!(
            "{text:?} is a format string: give it with --log-format"
        )),
        None => Err(format!(
            "unknown preset {text:?}: expected default, v3, v5, v8 or v11"
        )),
    }
}

/// `--log-format`: a format string naming documented fields only.
pub fn parse_log_format(text: &str) -> Result<Format, String> {
    if flowlog_synth::formats::named(text).is_some() {
        return Err(format!(
            "{text:?} is the name of a preset, not a format string: give it with --preset {text}"
        ));
    }
    Format::parse_strict(text).map_err(|e| e.to_string())
}

/// `--top`: how many rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Top {
    /// At most this many.
    N(usize),
    /// All of them.
    All,
}

impl Top {
    /// The limit for `rows` rows.
    pub fn limit(self, rows: usize) -> usize {
        match self {
            Top::N(n) => n.min(rows),
            Top::All => rows,
        }
    }
}

/// `--top`: a number from 1, or `all`.
pub fn parse_top(text: &str) -> Result<Top, String> {
    if text.eq_ignore_ascii_case("all") {
        return Ok(Top::All);
    }
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(Top::N(n)),
        _ => Err(format!("{text:?} is not a number from 1, or all")),
    }
}

/// `flowlogs parse`.
#[derive(Args)]
pub struct ParseArgs {
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// What `stats` groups by (any combination, in the order given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Key {
    /// srcaddr.
    #[value(alias = "srcaddr")]
    Source,
    /// dstaddr.
    #[value(alias = "dstaddr")]
    Destination,
    /// dstport.
    #[value(alias = "port")]
    Dstport,
    /// interface-id.
    #[value(alias = "interface-id")]
    Interface,
    /// protocol.
    Protocol,
    /// action.
    Action,
}

/// `--sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortBy {
    Flows,
    Packets,
    Bytes,
}

/// `stats --output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
    Csv,
}

/// `flowlogs stats`.
#[derive(Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Group by these keys (comma-separated, e.g. source,destination): source, destination,
    /// dstport, interface, protocol, action.
    #[arg(
        long,
        value_name = "KEYS",
        value_enum,
        value_delimiter = ',',
        ignore_case = true,
        default_value = "source"
    )]
    pub by: Vec<Key>,
    /// Order the groups by flows (OK records), packets or bytes, largest first.
    #[arg(long, value_enum, default_value_t = SortBy::Flows)]
    pub sort: SortBy,
    /// Groups to print: a number from 1, or all (default: 20 in a table, all in JSON and CSV).
    #[arg(long, value_name = "N|all", value_parser = parse_top)]
    pub top: Option<Top>,
    /// table (aligned columns under a heading), json (one document) or csv (with a header row).
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Groups counted one by one (1-10,000,000); beyond, the rest are added up as one.
    #[arg(long, value_name = "N", default_value_t = 1_000_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub max_groups: u32,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// `analyze --output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnalyzeOutput {
    Table,
    Json,
}

/// `flowlogs analyze`.
#[derive(Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// table (for people) or json (the findings in the form the alert function publishes).
    #[arg(long, value_enum, default_value_t = AnalyzeOutput::Table)]
    pub output: AnalyzeOutput,
    /// The same as --output json.
    #[arg(long, conflicts_with = "output")]
    pub json: bool,
    /// Sources to list: a number from 1, or all (default: 20 in a table, all in JSON).
    #[arg(long, value_name = "N|all", value_parser = parse_top)]
    pub top: Option<Top>,
    /// Count flows for pkt-srcaddr when the format has it (the real sender behind a NAT
    /// gateway, load balancer or Transit Gateway), or always for srcaddr.
    #[arg(long, default_value = "pkt-srcaddr", value_parser = parse_attribution)]
    pub attribution: Attribution,
    /// Distinct sources tracked one by one (1-10,000,000); the rest are counted as untracked.
    #[arg(long, value_name = "N", default_value_t = AggregateOptions::default().max_sources as u32, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub max_sources: u32,
    #[command(flatten)]
    pub rules: RuleArgs,
}

/// `flowlogs replay`.
#[derive(Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// table (a timeline for people) or json (the notices' documents, as published).
    #[arg(long, value_enum, default_value_t = AnalyzeOutput::Table)]
    pub output: AnalyzeOutput,
    /// Seconds from an object's last record to its arrival (S3 delivers about 10 minutes late).
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(i64).range(0..=86_400))]
    pub delay: i64,
    /// Seconds between scheduled verdicts (the function's schedule runs every 5 minutes).
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(i64).range(60..=86_400))]
    pub every: i64,
    /// An ONGOING notice at most this often while a flood lasts.
    #[arg(long, value_name = "SECS", default_value_t = flowlog_incidents::Policy::default().update_every_secs, value_parser = clap::value_parser!(i64).range(60..=86_400))]
    pub update_every_seconds: i64,
    /// A flood ends after this many seconds without a flagged minute...
    #[arg(long, value_name = "SECS", default_value_t = flowlog_incidents::Policy::default().quiet_secs, value_parser = clap::value_parser!(i64).range(60..=86_400))]
    pub quiet_seconds: i64,
    /// ...counted once their data had time to arrive.
    #[arg(long, value_name = "SECS", default_value_t = flowlog_incidents::Policy::default().settle_secs, value_parser = clap::value_parser!(i64).range(0..=7_200))]
    pub settle_seconds: i64,
    /// Count flows for pkt-srcaddr when the format has it, or always for srcaddr.
    #[arg(long, default_value = "pkt-srcaddr", value_parser = parse_attribution)]
    pub attribution: Attribution,
    #[command(flatten)]
    pub rules: RuleArgs,
}

impl ReplayArgs {
    /// The lifecycle these flags set.
    pub fn policy(&self) -> flowlog_incidents::Policy {
        flowlog_incidents::Policy {
            update_every_secs: self.update_every_seconds,
            quiet_secs: self.quiet_seconds,
            settle_secs: self.settle_seconds,
        }
    }
}

/// Thresholds of the flood rules, per source (or target) and minute; the README explains each
/// default.
#[derive(Args)]
#[command(next_help_heading = "Flood rules (per source or target and minute)")]
pub struct RuleArgs {
    /// TCP connection attempts that never complete their handshake (SYN flood), from 1.
    #[arg(long, value_name = "N", default_value_t = FloodRules::default().half_open_per_minute, value_parser = at_least_one())]
    half_open_per_minute: u64,
    /// Share (0-1) of a source's connection attempts that must be half-open.
    #[arg(long, value_name = "SHARE", default_value_t = FloodRules::default().half_open_share, value_parser = parse_share)]
    half_open_share: f64,
    /// Completed TCP connections to one service (connection flood), from 1.
    #[arg(long, value_name = "N", default_value_t = FloodRules::default().connections_per_minute, value_parser = at_least_one())]
    connections_per_minute: u64,
    /// TCP request packets to one service over kept-alive connections (request flood), from 1.
    #[arg(long, value_name = "N", default_value_t = FloodRules::default().request_packets_per_minute, value_parser = at_least_one())]
    request_packets_per_minute: u64,
    /// UDP packets that are not a conversation (UDP flood), from 1.
    #[arg(long, value_name = "N", default_value_t = FloodRules::default().udp_packets_per_minute, value_parser = at_least_one())]
    udp_packets_per_minute: u64,
    /// ICMP packets (ping flood), from 1.
    #[arg(long, value_name = "N", default_value_t = FloodRules::default().icmp_packets_per_minute, value_parser = at_least_one())]
    icmp_packets_per_minute: u64,
    /// Share (0-1) of a source's traffic that must go to one target.
    #[arg(long, value_name = "SHARE", default_value_t = FloodRules::default().target_share, value_parser = parse_share)]
    target_share: f64,
    /// An address receiving this share (0-1) of what it sends relays or serves: not judged.
    #[arg(long, value_name = "SHARE", default_value_t = FloodRules::default().relay_share, value_parser = parse_share)]
    relay_share: f64,
    /// Half-open attempts against one target from many sources, from 1.
    #[arg(long, value_name = "N", default_value_t = FloodRules::default().target_half_open_per_minute, value_parser = at_least_one())]
    target_half_open_per_minute: u64,
    /// Distinct sources before traffic against a target counts as many-source, from 1.
    #[arg(long, value_name = "N", default_value_t = FloodRules::default().min_sources, value_parser = at_least_one())]
    min_sources: u64,
    /// Also judge hosts of the log itself for connection and request floods.
    #[arg(long)]
    internal_clients: bool,
    /// Never report sources in this CIDR (repeatable; IPv4 or IPv6, or a single address).
    #[arg(long = "allow", value_name = "CIDR", value_parser = parse_cidr)]
    allowlist: Vec<IpNet>,
}

impl RuleArgs {
    /// The rules with these thresholds.
    pub fn rules(&self) -> FloodRules {
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
            allowlist: self.allowlist.clone(),
            ..FloodRules::default()
        }
    }
}

fn at_least_one() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(1..)
}

/// A share from 0 to 1.
pub fn parse_share(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|x| (0.0..=1.0).contains(x))
        .ok_or_else(|| format!("{text:?} is not a share from 0 to 1"))
}

/// A CIDR, or a single address.
pub fn parse_cidr(text: &str) -> Result<IpNet, String> {
    flowlog_core::parse_cidr(text).map_err(|e| format!("{e}"))
}

fn parse_attribution(text: &str) -> Result<Attribution, String> {
    text.parse().map_err(|e| format!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn presets_and_format_strings_point_at_each_other() {
        assert!(parse_log_format("v5").unwrap_err().contains("--preset v5"));
        assert!(
            parse_preset("${srcaddr}")
                .unwrap_err()
                .contains("--log-format")
        );
        assert_eq!(parse_preset("V5").unwrap().fields.len(), 29);
        let error = parse_log_format("${version} ${srcadr}").unwrap_err();
        assert!(
            error.contains("\"srcadr\"") && error.contains("\"srcaddr\""),
            "{error}"
        );
    }

    #[test]
    fn top_is_a_positive_number_or_all() {
        assert_eq!(parse_top("10"), Ok(Top::N(10)));
        assert_eq!(parse_top("ALL"), Ok(Top::All));
        assert!(parse_top("0").is_err());
        assert!(parse_top("-3").is_err());
        assert_eq!(Top::N(10).limit(3), 3);
    }
}
