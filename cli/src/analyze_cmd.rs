//! `flowlogs analyze`: per-source rates and flood findings over one or more objects.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use flowlog_core::{
    AggregateOptions, Aggregator, Detection, Finding, ScanOptions, Severity, SourceSummary,
    StatusCounts, TargetFinding, WindowTotals,
};
use flowlog_parquet::{ParquetOptions, Scanned};
use serde::Serialize;

use crate::Error;
use crate::args::{AnalyzeArgs, AnalyzeOutput, Top};
use crate::input::{Failure, ReadOptions};
use crate::text::{self, EMPHASIS, GOOD, HEADING, count, counted, styled, utc_minute, wrap};

/// Sources in the table unless `--top` says otherwise.
const TABLE_SOURCES: usize = 20;

/// The totals of several objects' reports.
#[derive(Debug, Default)]
pub struct Totals {
    /// Objects read.
    pub objects: usize,
    /// Of them, Parquet.
    pub parquet: usize,
    /// Record lines, all statuses.
    pub records: u64,
    /// Records by status.
    pub log_status: StatusCounts,
    /// Skipped lines by reason name.
    pub skipped: BTreeMap<&'static str, u64>,
}

impl Totals {
    /// Adds one object's report.
    pub fn add(&mut self, scanned: &Scanned) {
        let report = &scanned.report;
        self.objects += 1;
        self.parquet += usize::from(scanned.parquet);
        self.records += report.records;
        self.log_status.ok += report.log_status.ok;
        self.log_status.nodata += report.log_status.nodata;
        self.log_status.skipdata += report.log_status.skipdata;
        for (reason, count) in &report.skipped.counts {
            *self.skipped.entry(reason.as_str()).or_default() += count;
        }
    }

    /// `5 objects (1 Parquet), 65,051 records by log-status: OK 65,023, NODATA 25, SKIPDATA 3;
    /// 3 lines skipped (bad_number 1, field_count 2)` (a Parquet row counts as a line).
    pub fn line(&self) -> String {
        let status = &self.log_status;
        let skipped: u64 = self.skipped.values().sum();
        let detail = if self.skipped.is_empty() {
            String::new()
        } else {
            let parts: Vec<_> = self
                .skipped
                .iter()
                .map(|(r, n)| format!("{r} {}", count(*n)))
                .collect();
            format!(" ({})", parts.join(", "))
        };
        let parquet = match self.parquet {
            0 => String::new(),
            n => format!(" ({} Parquet)", count(n as u64)),
        };
        format!(
            "{}{parquet}, {} by log-status: OK {}, NODATA {}, SKIPDATA {}; {} skipped{detail}",
            counted(self.objects as u64, "object"),
            counted(self.records, "record"),
            count(status.ok),
            count(status.nodata),
            count(status.skipdata),
            counted(skipped, "line"),
        )
    }
}

/// The `--output json` document.
#[derive(Serialize)]
struct Document<'a> {
    objects: usize,
    records: u64,
    log_status: StatusCounts,
    skipped: &'a BTreeMap<&'static str, u64>,
    unattributed: u64,
    untracked_flows: u64,
    /// Every OK record (requests and replies alike): flows, packets, bytes, rejected.
    totals: WindowTotals,
    sources: &'a [SourceSummary],
    floods: &'a [Finding],
    /// Targets under attack from many sources.
    targets: &'a [TargetFinding],
}

/// Runs `analyze`; returns how many inputs failed (each already reported).
pub fn run(args: AnalyzeArgs) -> Result<usize, Error> {
    let options = AggregateOptions {
        attribution: args.attribution,
        max_sources: args.max_sources as usize,
    };
    let (aggregator, totals, failed) = aggregate(
        &args.input.inputs,
        &args.input.scan_options(),
        args.input.read_options(false),
        options,
    )?;
    if totals.objects == 0 {
        return Ok(failed);
    }
    let detection = flowlog_core::detect(&aggregator, &args.rules.rules());
    let output = if args.json {
        AnalyzeOutput::Json
    } else {
        args.output
    };
    let text = match output {
        AnalyzeOutput::Json => json(&aggregator, &totals, &detection, args.top) + "\n",
        AnalyzeOutput::Table => table(
            &aggregator,
            &totals,
            &detection,
            args.top.unwrap_or(Top::N(TABLE_SOURCES)),
            text::width(),
        ),
    };
    text::print(&text)?;
    Ok(failed)
}

/// Reads every input into one aggregation; returns it, the totals and how many inputs failed
/// (each reported on standard error).
pub fn aggregate(
    inputs: &[String],
    scan_options: &ScanOptions,
    read_options: ReadOptions,
    options: AggregateOptions,
) -> Result<(Aggregator, Totals, usize), Error> {
    let mut aggregator = Aggregator::new(options);
    let mut totals = Totals::default();
    let parquet = ParquetOptions::default();
    let failed = crate::input::for_each(inputs, read_options, |name, reader| {
        let scanned = flowlog_parquet::scan_input(reader, scan_options, &parquet, &mut aggregator)
            .map_err(|e| Failure::Input(format!("{name}: {e}")))?;
        totals.add(&scanned);
        Ok(())
    })?;
    Ok((aggregator, totals, failed))
}

/// The JSON document as a string.
pub fn json(
    aggregator: &Aggregator,
    totals: &Totals,
    detection: &Detection,
    top: Option<Top>,
) -> String {
    let mut sources = aggregator.summaries();
    if let Some(top) = top {
        sources.truncate(top.limit(sources.len()));
    }
    let document = Document {
        objects: totals.objects,
        records: totals.records,
        log_status: totals.log_status,
        skipped: &totals.skipped,
        unattributed: aggregator.unattributed(),
        untracked_flows: aggregator.untracked_flows(),
        totals: all_traffic(aggregator),
        sources: &sources,
        floods: &detection.floods,
        targets: &detection.targets,
    };
    serde_json::to_string_pretty(&document).expect("the document serialises")
}

/// Every OK record, summed over its minutes.
fn all_traffic(aggregator: &Aggregator) -> WindowTotals {
    aggregator
        .window_totals()
        .values()
        .fold(WindowTotals::default(), |mut sum, t| {
            sum.flows += t.flows;
            sum.packets = sum.packets.saturating_add(t.packets);
            sum.bytes = sum.bytes.saturating_add(t.bytes);
            sum.rejected += t.rejected;
            sum
        })
}

/// The human-readable report, its prose wrapped at `width` columns.
pub fn table(
    aggregator: &Aggregator,
    totals: &Totals,
    detection: &Detection,
    top: Top,
    width: usize,
) -> String {
    let mut out = String::new();
    wrap(&mut out, "", 2, &totals.line(), width);
    let summaries = aggregator.summaries();
    let mut tracked = format!("{} tracked", counted(summaries.len() as u64, "source"));
    if aggregator.untracked_flows() > 0 {
        let _ = write!(
            tracked,
            ", {} from untracked sources (cap reached)",
            counted(aggregator.untracked_flows(), "flow")
        );
    }
    if aggregator.unattributed() > 0 {
        let _ = write!(
            tracked,
            ", {} without source or time",
            counted(aggregator.unattributed(), "record")
        );
    }
    wrap(&mut out, "", 2, &tracked, width);
    if summaries.is_empty() {
        return out;
    }
    let shown = top.limit(summaries.len());
    out.push('\n');
    let title = format!(
        "Top {shown} of {} by request flows (what each sent as a client; rates over its active time, at least a minute):",
        counted(summaries.len() as u64, "source")
    );
    wrap(&mut out, "", 2, &styled(HEADING, &title), width);
    let header = format!(
        "{:<39} {:>9} {:>9} {:>10} {:>11} {:>9}",
        "SOURCE", "FLOWS", "PEAK/MIN", "PACKETS/S", "BYTES/S", "REJECTED"
    );
    let _ = writeln!(out, "{}", styled(HEADING, &header));
    for s in summaries.iter().take(shown) {
        let secs = (s.last_end - s.first_start).max(60) as f64;
        let _ = writeln!(
            out,
            "{:<39} {:>9} {:>9} {:>10.1} {:>11} {:>9}",
            s.source.to_string(),
            count(s.flows),
            count(s.peak_flows_per_minute),
            s.packets as f64 / secs,
            text::bytes(s.bytes as f64 / secs),
            text::percent(s.rejected, s.flows),
        );
    }
    flood_section(&mut out, &detection.floods, width);
    target_section(&mut out, &detection.targets, width);
    out
}

fn severity(severity: Severity) -> String {
    let style = match severity {
        Severity::High => text::HIGH,
        _ => text::MEDIUM,
    };
    styled(style, severity.as_str())
}

/// `2 minutes flagged, 2023-11-14 22:13 to 22:15 UTC`.
fn flagged(windows: usize, first: i64, last: i64) -> String {
    let (from, to) = (utc_minute(first), utc_minute(last));
    let to = if from[..10] == to[..10] {
        to[11..].to_owned()
    } else {
        to
    };
    format!(
        "{} flagged, {} to {to}",
        counted(windows as u64, "minute"),
        from.trim_end_matches(" UTC")
    )
}

/// The SKIPDATA records of a finding's own minutes (not the inputs' SKIPDATA records).
fn log_gaps(out: &mut String, skipdata_records: u64, width: usize) {
    if skipdata_records > 0 {
        let note = format!(
            "Log gaps: {} in the flagged minutes (the log lost data there): the counts are lower bounds.",
            counted(skipdata_records, "SKIPDATA record")
        );
        wrap(out, "    ", 4, &note, width);
    }
}

fn flood_section(out: &mut String, floods: &[Finding], width: usize) {
    if floods.is_empty() {
        let _ = writeln!(out, "\n{}", styled(GOOD, "No flood found."));
        return;
    }
    let _ = writeln!(
        out,
        "\n{}",
        styled(HEADING, &format!("FLOODS ({})", floods.len()))
    );
    for f in floods {
        let target = f.target.map_or_else(String::new, |t| {
            if t.port > 0 {
                format!(" -> {}:{}", t.address, t.port)
            } else {
                format!(" -> {}", t.address)
            }
        });
        let headline = format!(
            "{} {}{target}, worst minute {}",
            severity(f.severity),
            styled(EMPHASIS, &format!("{} {}", f.rule, f.source)),
            utc_minute(f.window_start)
        );
        wrap(out, "  ", 4, &headline, width);
        wrap(out, "    ", 4, &f.reason, width);
        wrap(
            out,
            "    ",
            4,
            &format!("Not a busy client: {}", f.not_a_busy_client),
            width,
        );
        let ports: Vec<_> = f
            .top_ports
            .iter()
            .map(|p| format!("{} ({})", p.port, counted(p.flows, "flow")))
            .collect();
        let figures = format!(
            "{}; {:.1} packets/s, {}; ports {}, {} distinct",
            flagged(f.windows_flagged, f.first_start, f.last_end),
            f.rate.packets_per_second,
            text::bits_per_sec(f.rate.bits_per_second),
            ports.join(", "),
            f.distinct_ports,
        );
        wrap(out, "    ", 4, &figures, width);
        log_gaps(out, f.skipdata_records, width);
    }
}

fn target_section(out: &mut String, targets: &[TargetFinding], width: usize) {
    if targets.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n{}",
        styled(
            HEADING,
            &format!("TARGETS UNDER ATTACK FROM MANY SOURCES ({})", targets.len())
        )
    );
    for t in targets {
        let port = t.port.map_or_else(String::new, |p| format!(":{p}"));
        let headline = format!(
            "{} {}, worst minute {}",
            severity(t.severity),
            styled(EMPHASIS, &format!("{} {}{port}", t.rule, t.target)),
            utc_minute(t.window_start)
        );
        wrap(out, "  ", 4, &headline, width);
        wrap(out, "    ", 4, &t.reason, width);
        let sources: Vec<_> = t
            .top_sources
            .iter()
            .map(|s| format!("{} ({})", s.address, counted(s.flows, "flow")))
            .collect();
        let figures = format!(
            "{}; {} distinct sources; top: {}",
            flagged(t.windows_flagged, t.first_start, t.last_end),
            t.distinct_sources,
            sources.join(", "),
        );
        wrap(out, "    ", 4, &figures, width);
        log_gaps(out, t.skipdata_records, width);
    }
}

#[cfg(test)]
mod tests {
    use flowlog_core::ScanReport;

    use super::*;

    #[test]
    fn flagged_minutes_name_the_day_once() {
        assert_eq!(
            flagged(2, 1_700_000_000 - 20, 1_700_000_100),
            "2 minutes flagged, 2023-11-14 22:13 to 22:15 UTC"
        );
        assert_eq!(
            flagged(1, 0, 86_400),
            "1 minute flagged, 1970-01-01 00:00 to 1970-01-02 00:00 UTC"
        );
    }

    #[test]
    fn the_totals_line_names_records_by_log_status() {
        let mut totals = Totals::default();
        let report = ScanReport {
            records: 10,
            log_status: StatusCounts {
                ok: 7,
                nodata: 2,
                skipdata: 1,
            },
            ..ScanReport::default()
        };
        totals.add(&Scanned {
            report: report.clone(),
            parquet: false,
        });
        assert_eq!(
            totals.line(),
            "1 object, 10 records by log-status: OK 7, NODATA 2, SKIPDATA 1; 0 lines skipped"
        );
        totals.add(&Scanned {
            report,
            parquet: true,
        });
        assert!(
            totals
                .line()
                .starts_with("2 objects (1 Parquet), 20 records"),
            "{}",
            totals.line()
        );
    }
}
