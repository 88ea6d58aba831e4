//! The CloudWatch metric data one flow-log object produces, and its split into requests.
//!
//! Pure: no AWS types and no I/O. [`traffic_datums`] and [`telemetry_datums`] turn an
//! [`Aggregator`] and a [`ScanReport`] into [`Datum`]s; [`batches`] validates them against the
//! `PutMetricData` limits and splits them into requests. Everything here is deterministic: the
//! same object always gives the same datums in the same order and the same batches.

use std::collections::BTreeMap;
use std::net::IpAddr;

use flowlog_core::{Aggregator, ScanReport, SourceView, WindowTotals};

/// Flow records (all traffic, or one source's with a [`SOURCE_IP`] dimension).
pub const FLOWS: &str = "Flows";
/// Packets of those flows.
pub const PACKETS: &str = "Packets";
/// Bytes of those flows.
pub const BYTES: &str = "Bytes";
/// Flows with `action` = `REJECT`.
pub const REJECTED_FLOWS: &str = "RejectedFlows";
/// Dimension naming the source address of per-source traffic metrics.
pub const SOURCE_IP: &str = "SourceIp";

/// Record lines read from the object (all log statuses).
pub const RECORDS: &str = "Records";
/// Lines of the object not read as records (malformed, too long, blank).
pub const SKIPPED_LINES: &str = "SkippedLines";
/// `NODATA` records.
pub const NODATA_RECORDS: &str = "NoDataRecords";
/// `SKIPDATA` records: the flow log itself lost data.
pub const SKIPDATA_RECORDS: &str = "SkipDataRecords";
/// How late the object was processed, in seconds, as the caller measures it.
pub const DELIVERY_LAG_SECONDS: &str = "DeliveryLagSeconds";
/// Sources tracked one by one.
pub const TRACKED_SOURCES: &str = "TrackedSources";
/// Flows of sources beyond the tracking cap.
pub const UNTRACKED_FLOWS: &str = "UntrackedFlows";

/// Most datums in one `PutMetricData` request.
pub const MAX_DATUMS_PER_REQUEST: usize = 1000;
/// Largest request body we build: CloudWatch allows 1 MiB (1,048,576 bytes); the rest is headroom.
pub const MAX_REQUEST_BYTES: usize = 1_000_000;
/// Most dimensions on one datum.
pub const MAX_DIMENSIONS: usize = 30;

/// How far in the past CloudWatch accepts a timestamp: 14 days.
pub const MAX_PAST_SECS: i64 = 14 * 24 * 3600;
/// How far in the future CloudWatch accepts a timestamp: 2 hours.
pub const MAX_FUTURE_SECS: i64 = 2 * 3600;
/// Margin kept inside both limits, for clock skew and the time publishing takes.
pub const TIMESTAMP_SAFETY_SECS: i64 = 5 * 60;

/// Longest metric or dimension name, in characters.
const MAX_NAME_CHARS: usize = 255;
/// Longest dimension value, in characters.
const MAX_DIMENSION_VALUE_CHARS: usize = 1024;
/// Largest magnitude CloudWatch accepts for a value: 2^360.
const MAX_ABS_VALUE: f64 = f64::from_bits((1023 + 360) << 52);
/// Latest timestamp with a four-digit year (9999-12-31T23:59:59Z), as the size estimate assumes.
const MAX_TIMESTAMP: i64 = 253_402_300_799;

/// A CloudWatch unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// A plain count.
    Count,
    /// Bytes.
    Bytes,
    /// Seconds.
    Seconds,
}

impl Unit {
    /// The unit's name as CloudWatch spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
            Unit::Seconds => "Seconds",
        }
    }
}

/// One dimension of a datum.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dimension {
    /// The dimension's name, e.g. [`SOURCE_IP`].
    pub name: &'static str,
    /// Its value.
    pub value: String,
}

/// One metric data point, ready to become a CloudWatch `MetricDatum`.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    /// The metric name (one of the constants of this module).
    pub name: &'static str,
    /// Dimensions, possibly none.
    pub dimensions: Vec<Dimension>,
    /// When the value applies, Unix seconds.
    pub timestamp: i64,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: Unit,
}

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

/// A datum or namespace CloudWatch would refuse; nothing of the set should be published.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatchError {
    /// The namespace is empty, too long or reserved.
    #[error("namespace {namespace:?} is invalid: {reason}")]
    Namespace {
        /// The namespace.
        namespace: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The metric name is empty or longer than 255 characters.
    #[error("metric name of {chars} characters (must be 1 to 255): {metric:?}")]
    MetricName {
        /// The metric.
        metric: &'static str,
        /// Its length in characters.
        chars: usize,
    },
    /// More dimensions than CloudWatch allows.
    #[error("metric {metric}: {count} dimensions, at most 30 allowed")]
    TooManyDimensions {
        /// The metric.
        metric: &'static str,
        /// How many it has.
        count: usize,
    },
    /// A dimension name is empty or longer than 255 characters.
    #[error(
        "metric {metric}: dimension name of {chars} characters (must be 1 to 255): {dimension:?}"
    )]
    DimensionName {
        /// The metric.
        metric: &'static str,
        /// The dimension.
        dimension: &'static str,
        /// Its length in characters.
        chars: usize,
    },
    /// A dimension value is empty or longer than 1024 characters.
    #[error(
        "metric {metric}: value of dimension {dimension} has {chars} characters (must be 1 to 1024)"
    )]
    DimensionValue {
        /// The metric.
        metric: &'static str,
        /// The dimension.
        dimension: &'static str,
        /// The value's length in characters.
        chars: usize,
    },
    /// The value is NaN or infinite.
    #[error("metric {metric}: value {value} is not finite")]
    NonFinite {
        /// The metric.
        metric: &'static str,
        /// The value.
        value: f64,
    },
    /// The value's magnitude exceeds 2^360.
    #[error("metric {metric}: value {value:e} is outside ±2^360")]
    ValueOutOfRange {
        /// The metric.
        metric: &'static str,
        /// The value.
        value: f64,
    },
    /// The timestamp is before 1970 or after year 9999.
    #[error("metric {metric}: timestamp {timestamp} is outside 1970 to 9999")]
    Timestamp {
        /// The metric.
        metric: &'static str,
        /// The timestamp, Unix seconds.
        timestamp: i64,
    },
}

/// Checks one datum against the `PutMetricData` limits.
fn validate(datum: &Datum) -> Result<(), BatchError> {
    let metric = datum.name;
    let chars = metric.chars().count();
    if !(1..=MAX_NAME_CHARS).contains(&chars) {
        return Err(BatchError::MetricName { metric, chars });
    }
    if datum.dimensions.len() > MAX_DIMENSIONS {
        return Err(BatchError::TooManyDimensions {
            metric,
            count: datum.dimensions.len(),
        });
    }
    for dimension in &datum.dimensions {
        let chars = dimension.name.chars().count();
        if !(1..=MAX_NAME_CHARS).contains(&chars) {
            return Err(BatchError::DimensionName {
                metric,
                dimension: dimension.name,
                chars,
            });
        }
        let chars = dimension.value.chars().count();
        if !(1..=MAX_DIMENSION_VALUE_CHARS).contains(&chars) {
            return Err(BatchError::DimensionValue {
                metric,
                dimension: dimension.name,
                chars,
            });
        }
    }
    let value = datum.value;
    if !value.is_finite() {
        return Err(BatchError::NonFinite { metric, value });
    }
    if value.abs() > MAX_ABS_VALUE {
        return Err(BatchError::ValueOutOfRange { metric, value });
    }
    if !(0..=MAX_TIMESTAMP).contains(&datum.timestamp) {
        return Err(BatchError::Timestamp {
            metric,
            timestamp: datum.timestamp,
        });
    }
    Ok(())
}

/// Checks a namespace: 1 to 255 characters, not in the `AWS/` space.
fn validate_namespace(namespace: &str) -> Result<(), BatchError> {
    let reason = if namespace.is_empty() {
        "empty"
    } else if namespace.chars().count() > MAX_NAME_CHARS {
        "longer than 255 characters"
    } else if namespace.starts_with("AWS/") {
        "the AWS/ prefix is reserved for AWS services"
    } else {
        return Ok(());
    };
    Err(BatchError::Namespace {
        namespace: namespace.into(),
        reason,
    })
}

/// Length of `text` percent-encoded: every byte outside RFC 3986's unreserved set takes three.
///
/// Exact for an encoder that keeps `A-Z a-z 0-9 - . _ ~` and escapes the rest; an upper bound
/// for any encoder that escapes less (or writes a space as `+`).
fn encoded_len(text: &str) -> usize {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                1
            } else {
                3
            }
        })
        .sum()
}

/// Key prefix of a datum's parameters, with the widest member index (1000).
const MEMBER: &str = "&MetricData.member.1000.";
/// Key infix of a dimension's parameters, with the widest dimension index (30).
const DIMENSION_MEMBER: &str = "Dimensions.member.30.";
/// `YYYY-MM-DDTHH:MM:SSZ`: a whole-second timestamp with a four-digit year.
const TIMESTAMP_CHARS: usize = 20;
/// Longest shortest-round-trip text of an `f64` (sign, 17 digits, point, exponent), with slack.
const VALUE_CHARS: usize = 24;

/// Upper bound of the bytes `datum` adds to a form-encoded `PutMetricData` request body.
///
/// Keys are counted at their widest member indexes, names and dimension values at their exact
/// percent-encoded length, and the timestamp and value texts at three bytes per character of
/// their longest form, whatever characters the serializer emits.
pub fn encoded_size(datum: &Datum) -> usize {
    let mut size = MEMBER.len() + "MetricName=".len() + encoded_len(datum.name);
    if datum.dimensions.is_empty() {
        // An empty list may still be sent as a bare `Dimensions=` parameter.
        size += MEMBER.len() + "Dimensions=".len();
    }
    for dimension in &datum.dimensions {
        size += MEMBER.len() + DIMENSION_MEMBER.len() + "Name=".len();
        size += encoded_len(dimension.name);
        size += MEMBER.len() + DIMENSION_MEMBER.len() + "Value=".len();
        size += encoded_len(&dimension.value);
    }
    size += MEMBER.len() + "Timestamp=".len() + 3 * TIMESTAMP_CHARS;
    size += MEMBER.len() + "Value=".len() + 3 * VALUE_CHARS;
    size += MEMBER.len() + "Unit=".len() + encoded_len(datum.unit.as_str());
    size
}

/// Bytes of a request body before its first datum.
fn base_size(namespace: &str) -> usize {
    "Action=PutMetricData&Version=2010-08-01&Namespace=".len() + encoded_len(namespace)
}

/// Splits `datums`, in order, into `PutMetricData` requests for `namespace`.
///
/// Each batch has at most [`MAX_DATUMS_PER_REQUEST`] datums and an estimated body (the request
/// overhead plus the [`encoded_size`] of its datums) of at most [`MAX_REQUEST_BYTES`]; a new
/// batch starts only when the next datum would break either limit, so the split depends on the
/// datums alone. Fails, returning nothing, if the namespace or any datum would be refused.
pub fn batches(namespace: &str, datums: Vec<Datum>) -> Result<Vec<Vec<Datum>>, BatchError> {
    validate_namespace(namespace)?;
    for datum in &datums {
        validate(datum)?;
    }
    let base = base_size(namespace);
    let mut out = Vec::new();
    let mut batch: Vec<Datum> = Vec::new();
    let mut size = base;
    for datum in datums {
        let datum_size = encoded_size(&datum);
        // Validation bounds a datum far below the limit (30 dimensions of 1024 reserved
        // characters come to about 120 kB), so a lone datum always fits.
        debug_assert!(base + datum_size <= MAX_REQUEST_BYTES);
        if batch.len() == MAX_DATUMS_PER_REQUEST || size + datum_size > MAX_REQUEST_BYTES {
            out.push(std::mem::take(&mut batch));
            size = base;
        }
        size += datum_size;
        batch.push(datum);
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use flowlog_core::{AggregateOptions, ScanOptions, scan};

    const HEADER: &str =
        "srcaddr dstaddr dstport protocol packets bytes start end action log-status";
    /// 2023-11-14T22:13:00Z, a window start.
    const T: i64 = 1_699_999_980;
    const NOW: i64 = T + 600;

    fn flow(src: &str, start: i64, packets: u64, bytes: u64, action: &str) -> String {
        format!(
            "{src} 10.9.9.9 443 6 {packets} {bytes} {start} {} {action} OK",
            start + 10
        )
    }

    fn aggregate_with(options: AggregateOptions, lines: &[String]) -> (Aggregator, ScanReport) {
        let text = format!("{HEADER}\n{}\n", lines.join("\n"));
        let mut aggregator = Aggregator::new(options);
        let report = scan(text.as_bytes(), &ScanOptions::default(), &mut aggregator)
            .expect("the test object scans");
        (aggregator, report)
    }

    fn aggregate(lines: &[String]) -> Aggregator {
        aggregate_with(AggregateOptions::default(), lines).0
    }

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

    fn datum(name: &'static str, dimensions: Vec<Dimension>, value: f64) -> Datum {
        Datum {
            name,
            dimensions,
            timestamp: T,
            value,
            unit: Unit::Count,
        }
    }

    fn dimension(name: &'static str, value: &str) -> Dimension {
        Dimension {
            name,
            value: value.into(),
        }
    }

    #[test]
    fn unit_names_are_cloudwatch_names() {
        assert_eq!(Unit::Count.as_str(), "Count");
        assert_eq!(Unit::Bytes.as_str(), "Bytes");
        assert_eq!(Unit::Seconds.as_str(), "Seconds");
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
    fn the_same_object_gives_the_same_datums_and_batches() {
        // Many tied sources: the aggregator's randomly seeded hash order must not show.
        let lines: Vec<String> = (0..300)
            .map(|i| {
                flow(
                    &format!("10.0.{}.{}", i / 200, i % 200),
                    T + i % 120,
                    1,
                    10,
                    "ACCEPT",
                )
            })
            .collect();
        let first = traffic_datums(&aggregate(&lines), 50, NOW);
        let second = traffic_datums(&aggregate(&lines), 50, NOW);
        assert_eq!(first, second);
        assert_eq!(first.top_sources[0].to_string(), "10.0.0.0");
        let first = batches("FlowLogs", first.datums).unwrap();
        let second = batches("FlowLogs", second.datums).unwrap();
        assert_eq!(first, second);
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

    fn many(n: usize) -> Vec<Datum> {
        (0..n)
            .map(|i| datum(FLOWS, vec![dimension(SOURCE_IP, "10.0.0.1")], i as f64))
            .collect()
    }

    #[test]
    fn batches_split_at_exactly_1000_datums() {
        let one = batches("FlowLogs", many(1000)).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].len(), 1000);

        let two = batches("FlowLogs", many(1001)).unwrap();
        let sizes: Vec<usize> = two.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1000, 1]);
        assert_eq!(two.concat(), many(1001), "order is preserved");

        assert!(batches("FlowLogs", Vec::new()).unwrap().is_empty());
    }

    #[test]
    fn long_dimension_values_split_batches_on_size_before_1000_datums() {
        for value in ["a".repeat(1000), "/".repeat(1000)] {
            let datums: Vec<Datum> = (0..1000)
                .map(|i| datum(FLOWS, vec![dimension("Path", &value)], i as f64))
                .collect();
            let split = batches("FlowLogs", datums.clone()).unwrap();
            assert!(split.len() > 1, "{} batches", split.len());
            assert!(split[0].len() < 1000);
            for batch in &split {
                let estimate: usize =
                    base_size("FlowLogs") + batch.iter().map(encoded_size).sum::<usize>();
                assert!(estimate <= MAX_REQUEST_BYTES, "{estimate}");
                assert!(real_body("FlowLogs", batch).len() <= estimate);
            }
            assert_eq!(split.concat(), datums);
        }
    }

    #[test]
    fn thirty_dimensions_of_maximal_values_still_split_into_valid_batches() {
        let dimensions: Vec<Dimension> = (0..MAX_DIMENSIONS)
            .map(|_| dimension("Key", &"é/".repeat(512)))
            .collect();
        let datums = vec![datum(FLOWS, dimensions, 1.0); 40];
        let split = batches("FlowLogs", datums).unwrap();
        for batch in &split {
            let estimate: usize =
                base_size("FlowLogs") + batch.iter().map(encoded_size).sum::<usize>();
            assert!(estimate <= MAX_REQUEST_BYTES);
            assert!(real_body("FlowLogs", batch).len() <= estimate);
        }
        assert!(split.len() > 1);
    }

    /// A plain awsQuery form encoder: unreserved bytes kept, all others `%XX`.
    fn form_encode(text: &str) -> String {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    /// The request body the SDK's awsQuery serializer writes for `datums`.
    fn real_body(namespace: &str, datums: &[Datum]) -> String {
        let mut body = format!(
            "Action=PutMetricData&Version=2010-08-01&Namespace={}",
            form_encode(namespace)
        );
        for (i, d) in datums.iter().enumerate() {
            let member = format!("&MetricData.member.{}.", i + 1);
            body += &format!("{member}MetricName={}", form_encode(d.name));
            if d.dimensions.is_empty() {
                body += &format!("{member}Dimensions=");
            }
            for (j, dim) in d.dimensions.iter().enumerate() {
                let key = format!("{member}Dimensions.member.{}.", j + 1);
                body += &format!("{key}Name={}", form_encode(dim.name));
                body += &format!("{key}Value={}", form_encode(&dim.value));
            }
            body += &format!(
                "{member}Timestamp={}",
                form_encode(&flowlog_core::utc(d.timestamp))
            );
            body += &format!("{member}Value={}", form_encode(&format!("{:?}", d.value)));
            body += &format!("{member}Unit={}", form_encode(d.unit.as_str()));
        }
        body
    }

    #[test]
    fn the_test_encoder_writes_the_documented_form() {
        assert_eq!(flowlog_core::utc(1_700_000_040), "2023-11-14T22:14:00Z");
        assert_eq!(flowlog_core::utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(flowlog_core::utc(MAX_TIMESTAMP), "9999-12-31T23:59:59Z");
        let d = Datum {
            timestamp: 1_700_000_040,
            ..datum(FLOWS, vec![dimension(SOURCE_IP, "::1")], 3.0)
        };
        assert_eq!(
            real_body("NS", &[d]),
            "Action=PutMetricData&Version=2010-08-01&Namespace=NS\
             &MetricData.member.1.MetricName=Flows\
             &MetricData.member.1.Dimensions.member.1.Name=SourceIp\
             &MetricData.member.1.Dimensions.member.1.Value=%3A%3A1\
             &MetricData.member.1.Timestamp=2023-11-14T22%3A14%3A00Z\
             &MetricData.member.1.Value=3.0\
             &MetricData.member.1.Unit=Count"
        );
    }

    #[test]
    fn encoded_size_bounds_the_real_encoding() {
        let ipv6 = "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff";
        let cases = [
            datum(RECORDS, Vec::new(), 0.0),
            datum(FLOWS, vec![dimension(SOURCE_IP, "10.0.0.1")], 12_345.0),
            datum(
                BYTES,
                vec![dimension(SOURCE_IP, ipv6)],
                -1.797_693_134_862_315_7e308,
            ),
            datum(
                PACKETS,
                vec![dimension("Key", &"日本/ &=+%".repeat(100))],
                1e-300,
            ),
            datum(
                FLOWS,
                vec![dimension("K", &"~".repeat(1024)); 30],
                0.1 + 0.2,
            ),
            Datum {
                timestamp: MAX_TIMESTAMP,
                unit: Unit::Seconds,
                ..datum(DELIVERY_LAG_SECONDS, Vec::new(), -123.456_789_012_345_67)
            },
        ];
        assert_eq!(real_body("NS", &[]).len(), base_size("NS"));
        for d in &cases {
            // As the 1000th member of a batch: the widest index.
            let mut batch = vec![datum(RECORDS, Vec::new(), 0.0); 999];
            batch.push(d.clone());
            let before = real_body("NS", &batch[..999]).len();
            let real = real_body("NS", &batch).len() - before;
            let estimate = encoded_size(d);
            assert!(
                real <= estimate,
                "{}: real {real} > estimate {estimate}",
                d.name
            );
            // And a whole body at the widest indexes stays within its estimate.
            let total: usize = base_size("NS") + batch.iter().map(encoded_size).sum::<usize>();
            assert!(real_body("NS", &batch).len() <= total);
        }
    }

    #[test]
    fn datums_cloudwatch_would_refuse_are_errors_naming_the_metric() {
        let bad = [
            datum(FLOWS, vec![dimension("K", "v"); 31], 1.0),
            datum(FLOWS, vec![dimension(SOURCE_IP, "")], 1.0),
            datum(FLOWS, vec![dimension(SOURCE_IP, &"x".repeat(1025))], 1.0),
            datum(FLOWS, vec![dimension("", "v")], 1.0),
            datum(FLOWS, Vec::new(), f64::NAN),
            datum(FLOWS, Vec::new(), f64::INFINITY),
            datum(FLOWS, Vec::new(), f64::NEG_INFINITY),
            datum(FLOWS, Vec::new(), -1e120),
            Datum {
                timestamp: -1,
                ..datum(FLOWS, Vec::new(), 1.0)
            },
        ];
        for d in bad {
            let mut datums = many(5);
            datums.push(d.clone());
            let error = batches("FlowLogs", datums).expect_err("refused");
            assert!(error.to_string().contains("metric Flows"), "{error}");
        }
        let long: &'static str = Box::leak("M".repeat(256).into_boxed_str());
        let error = batches("FlowLogs", vec![datum(long, Vec::new(), 1.0)]).unwrap_err();
        assert_eq!(
            error,
            BatchError::MetricName {
                metric: long,
                chars: 256
            }
        );

        // The limits themselves are accepted.
        let edge = vec![
            datum(
                FLOWS,
                vec![dimension("K", &"x".repeat(1024)); 30],
                2f64.powi(360),
            ),
            datum(
                Box::leak("M".repeat(255).into_boxed_str()),
                Vec::new(),
                -(2f64.powi(360)),
            ),
        ];
        assert_eq!(batches("FlowLogs", edge).unwrap().len(), 1);
    }

    #[test]
    fn invalid_namespaces_are_refused() {
        for namespace in ["", "AWS/VPC", &"n".repeat(256)] {
            let error = batches(namespace, many(1)).unwrap_err();
            assert!(matches!(error, BatchError::Namespace { .. }), "{error}");
        }
    }
}
