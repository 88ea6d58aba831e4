//! An upper bound of the bytes a datum adds to a `PutMetricData` request body, tied to the
//! awsQuery wire format (form-encoded `MetricData.member.N.*` parameters).

use super::datum::Datum;

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
pub(super) fn base_size(namespace: &str) -> usize {
    "Action=PutMetricData&Version=2010-08-01&Namespace=".len() + encoded_len(namespace)
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::datum::Unit;
    use crate::metrics::limits::MAX_TIMESTAMP;
    use crate::metrics::names::*;
    use crate::metrics::testing::*;

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
}
