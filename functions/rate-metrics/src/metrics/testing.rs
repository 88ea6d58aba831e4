//! Fixtures shared by the tests of the metrics modules.

use flowlog_core::{AggregateOptions, Aggregator, ScanOptions, ScanReport, scan};

use super::datum::{Datum, Dimension, Unit};
use super::names::{FLOWS, SOURCE_IP};

pub(super) const HEADER: &str =
    "srcaddr dstaddr dstport protocol packets bytes start end action log-status";
/// 2023-11-14T22:13:00Z, a window start.
pub(super) const T: i64 = 1_699_999_980;
pub(super) const NOW: i64 = T + 600;

pub(super) fn flow(src: &str, start: i64, packets: u64, bytes: u64, action: &str) -> String {
    format!(
        "{src} 10.9.9.9 443 6 {packets} {bytes} {start} {} {action} OK",
        start + 10
    )
}

pub(super) fn aggregate_with(
    options: AggregateOptions,
    lines: &[String],
) -> (Aggregator, ScanReport) {
    let text = format!("{HEADER}\n{}\n", lines.join("\n"));
    let mut aggregator = Aggregator::new(options);
    let report = scan(text.as_bytes(), &ScanOptions::default(), &mut aggregator)
        .expect("the test object scans");
    (aggregator, report)
}

pub(super) fn aggregate(lines: &[String]) -> Aggregator {
    aggregate_with(AggregateOptions::default(), lines).0
}
pub(super) fn datum(name: &'static str, dimensions: Vec<Dimension>, value: f64) -> Datum {
    Datum {
        name,
        dimensions,
        timestamp: T,
        value,
        unit: Unit::Count,
    }
}

pub(super) fn dimension(name: &'static str, value: &str) -> Dimension {
    Dimension {
        name,
        value: value.into(),
    }
}
/// A plain awsQuery form encoder: unreserved bytes kept, all others `%XX`.
pub(super) fn form_encode(text: &str) -> String {
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
pub(super) fn real_body(namespace: &str, datums: &[Datum]) -> String {
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

pub(super) fn many(n: usize) -> Vec<Datum> {
    (0..n)
        .map(|i| datum(FLOWS, vec![dimension(SOURCE_IP, "10.0.0.1")], i as f64))
        .collect()
}
