//! `flowlogs analyze`: per-source rates and flood findings over one or more objects.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use flowlog_core::{
    AggregateOptions, Aggregator, Detection, Finding, ScanOptions, ScanReport, SourceSummary,
    StatusCounts, TargetFinding, WindowTotals,
};
use serde::Serialize;

/// The totals of several objects' reports.
#[derive(Debug, Default)]
pub struct Totals {
    /// Objects read.
    pub objects: usize,
    /// Record lines, all statuses.
    pub records: u64,
    /// Records by status.
    pub log_status: StatusCounts,
    /// Skipped lines by reason name.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Inputs that could not be read (reported on standard error).
    pub failed: usize,
}

impl Totals {
    /// Adds one object's report.
    pub fn add(&mut self, report: &ScanReport) {
        self.objects += 1;
        self.records += report.records;
        self.log_status.ok += report.log_status.ok;
        self.log_status.nodata += report.log_status.nodata;
        self.log_status.skipdata += report.log_status.skipdata;
        for (reason, count) in &report.skipped.counts {
            *self.skipped.entry(reason.as_str()).or_default() += count;
        }
    }
}

/// The `--json` document.
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

/// Reads every input into one aggregation; each failing input is reported on standard error
/// and counted in [`Totals::failed`].
pub fn aggregate(
    files: &[String],
    scan_options: &ScanOptions,
    options: AggregateOptions,
) -> (Aggregator, Totals) {
    let mut aggregator = Aggregator::new(options);
    let mut totals = Totals::default();
    for name in crate::input::names(files) {
        let result = crate::input::Input::open(&name).and_then(|input| {
            let label = input.name.clone();
            flowlog_core::scan(input.into_reader(), scan_options, &mut aggregator)
                .map_err(|e| format!("{label}: {e}"))
        });
        match result {
            Ok(report) => totals.add(&report),
            Err(message) => {
                totals.failed += 1;
                crate::report_failure(&message);
            }
        }
    }
    (aggregator, totals)
}

/// The `--json` document as a string.
pub fn json(
    aggregator: &Aggregator,
    totals: &Totals,
    detection: &Detection,
    top: Option<usize>,
) -> String {
    let mut sources = aggregator.summaries();
    if let Some(n) = top {
        sources.truncate(n);
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

/// The human-readable report.
pub fn table(
    aggregator: &Aggregator,
    totals: &Totals,
    detection: &Detection,
    top: usize,
) -> String {
    let mut out = String::new();
    let status = &totals.log_status;
    let _ = writeln!(
        out,
        "{} object(s), {} records (OK {}, NODATA {}, SKIPDATA {}), {} lines skipped{}",
        totals.objects,
        count(totals.records),
        count(status.ok),
        count(status.nodata),
        count(status.skipdata),
        count(totals.skipped.values().sum()),
        skipped_detail(&totals.skipped),
    );
    let summaries = aggregator.summaries();
    let _ = writeln!(
        out,
        "{} sources tracked{}{}",
        count(summaries.len() as u64),
        if aggregator.untracked_flows() > 0 {
            format!(
                ", {} flows from untracked sources (cap reached)",
                count(aggregator.untracked_flows())
            )
        } else {
            String::new()
        },
        if aggregator.unattributed() > 0 {
            format!(
                ", {} records without source or time",
                count(aggregator.unattributed())
            )
        } else {
            String::new()
        },
    );
    if summaries.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\nTop {} sources by request flows (what each sent as a client; rates over its active time, at least one minute):",
        top.min(summaries.len())
    );
    let _ = writeln!(
        out,
        "{:<40} {:>10} {:>10} {:>11} {:>11} {:>9}",
        "SOURCE", "FLOWS", "PEAK/MIN", "PACKETS/S", "BYTES/S", "REJECTED"
    );
    for s in summaries.iter().take(top) {
        let secs = (s.last_end - s.first_start).max(60) as f64;
        let _ = writeln!(
            out,
            "{:<40} {:>10} {:>10} {:>11.1} {:>11} {:>8.1}%",
            s.source.to_string(),
            count(s.flows),
            count(s.peak_flows_per_minute),
            s.packets as f64 / secs,
            bytes_per_sec(s.bytes as f64 / secs),
            100.0 * s.rejected as f64 / s.flows.max(1) as f64,
        );
    }
    flood_section(&mut out, &detection.floods);
    target_section(&mut out, &detection.targets);
    out
}

fn skipdata_note(records: u64) -> String {
    if records > 0 {
        format!("; {records} SKIPDATA records: the log lost data, counts are lower bounds")
    } else {
        String::new()
    }
}

fn flood_section(out: &mut String, floods: &[Finding]) {
    if floods.is_empty() {
        let _ = writeln!(out, "\nNo flood found.");
        return;
    }
    let _ = writeln!(out, "\nFLOODS ({}):", floods.len());
    for f in floods {
        let target = f.target.map_or_else(String::new, |t| {
            if t.port > 0 {
                format!(" -> {}:{}", t.address, t.port)
            } else {
                format!(" -> {}", t.address)
            }
        });
        let _ = writeln!(
            out,
            "  [{}] {} {}{target} at {}: {}",
            f.severity.as_str(),
            f.rule,
            f.source,
            utc_minute(f.window_start),
            f.reason
        );
        let _ = writeln!(out, "      not a busy client: {}", f.not_a_busy_client);
        let ports: Vec<_> = f
            .top_ports
            .iter()
            .map(|p| format!("{} ({})", p.port, count(p.flows)))
            .collect();
        let _ = writeln!(
            out,
            "      {} minute(s) flagged, {} .. {}; {:.0} packets/s, {}; ports: {} ({} distinct){}",
            f.windows_flagged,
            utc_minute(f.first_start),
            utc_minute(f.last_end),
            f.rate.packets_per_second,
            bits_per_sec(f.rate.bits_per_second),
            ports.join(", "),
            f.distinct_ports,
            skipdata_note(f.skipdata_records),
        );
    }
}

fn target_section(out: &mut String, targets: &[TargetFinding]) {
    if targets.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nTARGETS UNDER ATTACK FROM MANY SOURCES ({}):",
        targets.len()
    );
    for t in targets {
        let port = t.port.map_or_else(String::new, |p| format!(":{p}"));
        let _ = writeln!(
            out,
            "  [{}] {} {}{port} at {}: {}",
            t.severity.as_str(),
            t.rule,
            t.target,
            utc_minute(t.window_start),
            t.reason
        );
        let sources: Vec<_> = t
            .top_sources
            .iter()
            .map(|s| format!("{} ({} flows)", s.address, count(s.flows)))
            .collect();
        let _ = writeln!(
            out,
            "      {} minute(s) flagged; {} distinct sources; top: {}{}",
            t.windows_flagged,
            t.distinct_sources,
            sources.join(", "),
            skipdata_note(t.skipdata_records),
        );
    }
}

fn bits_per_sec(rate: f64) -> String {
    const UNITS: [&str; 4] = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s"];
    let mut value = rate;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_minute(unix: i64) -> String {
    let iso = flowlog_core::utc(unix);
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}

fn skipped_detail(skipped: &BTreeMap<&'static str, u64>) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let parts: Vec<_> = skipped.iter().map(|(r, n)| format!("{r} {n}")).collect();
    format!(" ({})", parts.join(", "))
}

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes_per_sec(rate: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = rate;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn unix_times_print_as_utc_minutes() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(1_700_000_040), "2023-11-14 22:14 UTC");
        assert_eq!(utc_minute(951_782_400), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn byte_rates_use_decimal_units() {
        assert_eq!(bytes_per_sec(12.0), "12.0 B");
        assert_eq!(bytes_per_sec(1_500_000.0), "1.5 MB");
    }
}
