//! The datums one flow-log object gives: its traffic per one-minute window, and how reading it went.

use std::collections::BTreeMap;
use std::net::IpAddr;

use flowlog_core::{Aggregator, ScanReport, SourceView, WindowTotals};

use super::datum::{Datum, Dimension, Unit};
use super::limits::{MAX_FUTURE_SECS, MAX_PAST_SECS, TIMESTAMP_SAFETY_SECS};
use super::names::*;

/// The traffic metrics of one object, and what was left out.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficDatums {
    /// Datums by window, all traffic before per-source, sources in rank order.
    pub datums: Vec<Datum>,
    /// The sources given a [`SOURCE_IP`] dimension, busiest first.
    pub top_sources: Vec<IpAddr>,
    /// Windows not emitted: older than CloudWatch accepts.
    pub stale_windows: usize,
    /// Windows not emitted: further in the future than CloudWatch accepts.
    pub future_windows: usize,
}

/// The traffic metrics of every one-minute window of `aggregator`, timestamped at the window start.
///
/// Each window gives [`FLOWS`], [`PACKETS`], [`BYTES`] and [`REJECTED_FLOWS`] for all traffic
/// (tracked and untracked sources, no dimension), then the same four with a [`SOURCE_IP`]
/// dimension for each of the `top_n` sources with the most flows in the object (ties: the
/// smaller address first) that sent anything in that window. Windows starting outside
/// `[at − 14 days + 5 min, at + 2 h − 5 min]` are left out and counted instead. `at` is the
/// object's arrival rather than the time of publishing, so a retry gives the same datums.
pub fn traffic_datums(aggregator: &Aggregator, top_n: usize, at: i64) -> TrafficDatums {
    let top = top_sources(aggregator, top_n);
    // The top sources' windows by start, each list in rank order.
    let mut by_window: BTreeMap<i64, Vec<(IpAddr, WindowTotals)>> = BTreeMap::new();
    for (ip, view) in &top {
        for (start, minute) in view.windows() {
            let traffic = minute.traffic();
            let totals = WindowTotals {
                flows: u64::from(minute.flows),
                packets: traffic.packets,
                bytes: traffic.bytes,
                rejected: u64::from(minute.rejected),
            };
            by_window.entry(start).or_default().push((*ip, totals));
        }
    }

    let oldest = at - MAX_PAST_SECS + TIMESTAMP_SAFETY_SECS;
    let newest = at + MAX_FUTURE_SECS - TIMESTAMP_SAFETY_SECS;
    let mut out = TrafficDatums {
        datums: Vec::new(),
        top_sources: top.iter().map(|(ip, _)| *ip).collect(),
        stale_windows: 0,
        future_windows: 0,
    };
    for (start, totals) in aggregator.window_totals() {
        if start < oldest {
            out.stale_windows += 1;
            continue;
        }
        if start > newest {
            out.future_windows += 1;
            continue;
        }
        push_traffic(&mut out.datums, start, &[], totals);
        for (ip, totals) in by_window.get(&start).into_iter().flatten() {
            let dimension = Dimension {
                name: SOURCE_IP,
                value: ip.to_string(),
            };
            push_traffic(&mut out.datums, start, &[dimension], *totals);
        }
    }
    out
}

/// The `n` sources with the most request flows, busiest first, ties broken by the smaller
/// address.
fn top_sources(aggregator: &Aggregator, n: usize) -> Vec<(IpAddr, SourceView<'_>)> {
    let mut ranked: Vec<_> = aggregator
        .sources()
        .into_iter()
        .map(|view| (view.summary().flows, view.source.address(), view))
        .collect();
    // Addresses are unique, so this order is total: the hash order of the tables cannot leak.
    ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.truncate(n);
    ranked.into_iter().map(|(_, ip, view)| (ip, view)).collect()
}

/// Appends the four traffic metrics of one window, in their fixed order.
fn push_traffic(
    datums: &mut Vec<Datum>,
    timestamp: i64,
    dimensions: &[Dimension],
    totals: WindowTotals,
) {
    let metrics = [
        (FLOWS, totals.flows, Unit::Count),
        (PACKETS, totals.packets, Unit::Count),
        (BYTES, totals.bytes, Unit::Bytes),
        (REJECTED_FLOWS, totals.rejected, Unit::Count),
    ];
    for (name, value, unit) in metrics {
        datums.push(Datum {
            name,
            dimensions: dimensions.to_vec(),
            timestamp,
            value: value as f64,
            unit,
        });
    }
}

/// How reading and aggregating the object went, as dimensionless datums at `timestamp`.
///
/// In order: [`RECORDS`], [`SKIPPED_LINES`], [`NODATA_RECORDS`], [`SKIPDATA_RECORDS`],
/// [`TRACKED_SOURCES`], [`UNTRACKED_FLOWS`], then [`DELIVERY_LAG_SECONDS`] when `lag_secs` is
/// given.
pub fn telemetry_datums(
    report: &ScanReport,
    aggregator: &Aggregator,
    lag_secs: Option<f64>,
    timestamp: i64,
) -> Vec<Datum> {
    let counts = [
        (RECORDS, report.records),
        (SKIPPED_LINES, report.skipped.total()),
        (NODATA_RECORDS, report.log_status.nodata),
        (SKIPDATA_RECORDS, report.log_status.skipdata),
        (TRACKED_SOURCES, aggregator.source_count() as u64),
        (UNTRACKED_FLOWS, aggregator.untracked_flows()),
    ];
    let datum = |name, value, unit| Datum {
        name,
        dimensions: Vec::new(),
        timestamp,
        value,
        unit,
    };
    let mut datums: Vec<Datum> = counts
        .into_iter()
        .map(|(name, value)| datum(name, value as f64, Unit::Count))
        .collect();
    if let Some(lag) = lag_secs {
        datums.push(datum(DELIVERY_LAG_SECONDS, lag, Unit::Seconds));
    }
    datums
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::*;
    use flowlog_core::AggregateOptions;

    fn value_of(datums: &[Datum], name: &str, timestamp: i64, source: Option<&str>) -> f64 {
        let found: Vec<_> = datums
            .iter()
            .filter(|d| {
                d.name == name
                    && d.timestamp == timestamp
                    && d.dimensions.first().map(|dim| dim.value.as_str()) == source
            })
            .collect();
        assert_eq!(found.len(), 1, "{name} at {timestamp} for {source:?}");
        found[0].value
    }

    fn sources_of(datums: &[Datum]) -> Vec<String> {
        let mut sources: Vec<String> = datums
            .iter()
            .flat_map(|d| d.dimensions.iter().map(|dim| dim.value.clone()))
            .collect();
        sources.sort();
        sources.dedup();
        sources
    }
    #[test]
    fn datums_are_timestamped_at_window_starts_not_now() {
        // Each record inside one minute (a record spanning two is spread over both).
        let aggregator = aggregate(&[
            flow("10.0.0.1", T + 5, 3, 300, "ACCEPT"),
            flow("10.0.0.1", T + 45, 1, 100, "REJECT"),
            flow("10.0.0.1", T + 61, 2, 200, "ACCEPT"),
        ]);
        let out = traffic_datums(&aggregator, 1, NOW);
        let mut stamps: Vec<i64> = out.datums.iter().map(|d| d.timestamp).collect();
        stamps.dedup();
        assert_eq!(stamps, [T, T + 60]);
        assert_eq!(value_of(&out.datums, FLOWS, T, None), 2.0);
        assert_eq!(value_of(&out.datums, PACKETS, T, None), 4.0);
        assert_eq!(value_of(&out.datums, BYTES, T, None), 400.0);
        assert_eq!(value_of(&out.datums, REJECTED_FLOWS, T, None), 1.0);
        assert_eq!(value_of(&out.datums, FLOWS, T + 60, Some("10.0.0.1")), 1.0);
        let bytes = out.datums.iter().find(|d| d.name == BYTES).unwrap();
        assert_eq!(bytes.unit, Unit::Bytes);
        assert_eq!((out.stale_windows, out.future_windows), (0, 0));
    }

    #[test]
    fn all_traffic_totals_include_untracked_sources() {
        let options = AggregateOptions {
            max_sources: 2,
            ..AggregateOptions::default()
        };
        let lines: Vec<String> = (1..=5)
            .map(|i| {
                flow(
                    &format!("10.0.0.{i}"),
                    T + i,
                    i as u64,
                    100 * i as u64,
                    "REJECT",
                )
            })
            .collect();
        let (aggregator, _) = aggregate_with(options, &lines);
        assert_eq!(aggregator.untracked_flows(), 3);
        let out = traffic_datums(&aggregator, 10, NOW);
        assert_eq!(value_of(&out.datums, FLOWS, T, None), 5.0);
        assert_eq!(value_of(&out.datums, PACKETS, T, None), 15.0);
        assert_eq!(value_of(&out.datums, BYTES, T, None), 1500.0);
        assert_eq!(value_of(&out.datums, REJECTED_FLOWS, T, None), 5.0);
        // Only the two tracked sources can be named.
        assert_eq!(out.top_sources.len(), 2);
        let per_source: f64 = out
            .datums
            .iter()
            .filter(|d| d.name == FLOWS && !d.dimensions.is_empty())
            .map(|d| d.value)
            .sum();
        assert_eq!(per_source + aggregator.untracked_flows() as f64, 5.0);
    }

    #[test]
    fn top_n_names_only_the_busiest_sources_ties_to_the_smaller_address() {
        let mut lines = Vec::new();
        for (source, flows) in [
            ("10.0.0.3", 5),
            ("10.0.0.9", 2),
            ("10.0.0.2", 2),
            ("10.0.0.1", 1),
        ] {
            for i in 0..flows {
                // Spread over two windows: ranking is by the object's total.
                lines.push(flow(source, T + 60 * (i % 2) + i, 1, 10, "ACCEPT"));
            }
        }
        let aggregator = aggregate(&lines);
        let out = traffic_datums(&aggregator, 2, NOW);
        let top: Vec<String> = out.top_sources.iter().map(IpAddr::to_string).collect();
        assert_eq!(top, ["10.0.0.3", "10.0.0.2"]);
        assert_eq!(sources_of(&out.datums), ["10.0.0.2", "10.0.0.3"]);
        assert!(
            out.datums
                .iter()
                .all(|d| d.dimensions.iter().all(|dim| dim.name == SOURCE_IP))
        );
        assert_eq!(value_of(&out.datums, FLOWS, T, Some("10.0.0.3")), 3.0);
        assert_eq!(value_of(&out.datums, FLOWS, T + 60, Some("10.0.0.3")), 2.0);
    }

    #[test]
    fn datums_are_ordered_by_window_then_all_traffic_then_rank() {
        let aggregator = aggregate(&[
            flow("10.0.0.2", T + 70, 1, 10, "ACCEPT"),
            flow("10.0.0.1", T + 1, 1, 10, "ACCEPT"),
            flow("10.0.0.1", T + 2, 1, 10, "ACCEPT"),
            flow("10.0.0.2", T + 3, 1, 10, "ACCEPT"),
        ]);
        let out = traffic_datums(&aggregator, 5, NOW);
        let shape: Vec<(i64, &str, Option<&str>)> = out
            .datums
            .iter()
            .map(|d| {
                let source = d.dimensions.first().map(|dim| dim.value.as_str());
                (d.timestamp, d.name, source)
            })
            .collect();
        let mut expected = Vec::new();
        for (window, sources) in [
            (T, &["10.0.0.1", "10.0.0.2"][..]),
            (T + 60, &["10.0.0.2"][..]),
        ] {
            for source in std::iter::once(None).chain(sources.iter().map(|s| Some(*s))) {
                for name in [FLOWS, PACKETS, BYTES, REJECTED_FLOWS] {
                    expected.push((window, name, source));
                }
            }
        }
        assert_eq!(shape, expected);
    }

    #[test]
    fn zero_top_n_gives_only_all_traffic() {
        let aggregator = aggregate(&[
            flow("10.0.0.1", T, 1, 10, "ACCEPT"),
            flow("10.0.0.2", T + 60, 1, 10, "ACCEPT"),
        ]);
        let out = traffic_datums(&aggregator, 0, NOW);
        assert!(out.top_sources.is_empty());
        assert_eq!(out.datums.len(), 8);
        assert!(out.datums.iter().all(|d| d.dimensions.is_empty()));
    }

    #[test]
    fn windows_outside_cloudwatch_limits_are_dropped_and_counted() {
        let oldest = NOW - MAX_PAST_SECS + TIMESTAMP_SAFETY_SECS;
        let newest = NOW + MAX_FUTURE_SECS - TIMESTAMP_SAFETY_SECS;
        // NOW is a window start, so are both limits.
        let aggregator = aggregate(&[
            flow("10.0.0.1", oldest - 60, 1, 10, "ACCEPT"),
            flow("10.0.0.1", oldest - 120, 1, 10, "ACCEPT"),
            flow("10.0.0.1", oldest, 1, 10, "ACCEPT"),
            flow("10.0.0.1", NOW, 1, 10, "ACCEPT"),
            flow("10.0.0.1", newest, 1, 10, "ACCEPT"),
            flow("10.0.0.1", newest + 60, 1, 10, "ACCEPT"),
        ]);
        let out = traffic_datums(&aggregator, 1, NOW);
        assert_eq!(out.stale_windows, 2);
        assert_eq!(out.future_windows, 1);
        let mut stamps: Vec<i64> = out.datums.iter().map(|d| d.timestamp).collect();
        stamps.dedup();
        assert_eq!(stamps, [oldest, NOW, newest]);
        assert_eq!(out.datums.len(), 3 * 8);
    }

    #[test]
    fn telemetry_reports_scan_counts_sources_and_lag() {
        let options = AggregateOptions {
            max_sources: 1,
            ..AggregateOptions::default()
        };
        let mut lines = vec![
            flow("10.0.0.1", T, 1, 10, "ACCEPT"),
            flow("10.0.0.2", T, 1, 10, "ACCEPT"),
            flow("10.0.0.3", T, 1, 10, "ACCEPT"),
            format!("- - - - - - {T} {} - NODATA", T + 60),
            format!("- - - - - - {T} {} - SKIPDATA", T + 60),
            format!("- - - - - - {T} {} - SKIPDATA", T + 60),
            "10.0.0.4 not-a-record".into(),
        ];
        lines.push(String::new());
        let (aggregator, report) = aggregate_with(options, &lines);
        let datums = telemetry_datums(&report, &aggregator, Some(42.5), NOW);
        let got: Vec<(&str, f64, Unit)> =
            datums.iter().map(|d| (d.name, d.value, d.unit)).collect();
        assert_eq!(
            got,
            [
                (RECORDS, 6.0, Unit::Count),
                (SKIPPED_LINES, report.skipped.total() as f64, Unit::Count),
                (NODATA_RECORDS, 1.0, Unit::Count),
                (SKIPDATA_RECORDS, 2.0, Unit::Count),
                (TRACKED_SOURCES, 1.0, Unit::Count),
                (UNTRACKED_FLOWS, 2.0, Unit::Count),
                (DELIVERY_LAG_SECONDS, 42.5, Unit::Seconds),
            ]
        );
        assert!(report.skipped.total() >= 1);
        assert!(
            datums
                .iter()
                .all(|d| d.timestamp == NOW && d.dimensions.is_empty())
        );

        let without_lag = telemetry_datums(&report, &aggregator, None, NOW);
        assert_eq!(without_lag.len(), 6);
        assert!(without_lag.iter().all(|d| d.name != DELIVERY_LAG_SECONDS));
    }
}
