//! What `PutMetricData` accepts, and the checks of a datum and a namespace against it.

use super::datum::Datum;

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
pub(super) const MAX_NAME_CHARS: usize = 255;
/// Longest dimension value, in characters.
pub(super) const MAX_DIMENSION_VALUE_CHARS: usize = 1024;
/// Largest magnitude CloudWatch accepts for a value: 2^360.
pub(super) const MAX_ABS_VALUE: f64 = f64::from_bits((1023 + 360) << 52);
/// Latest timestamp with a four-digit year (9999-12-31T23:59:59Z), as the size estimate assumes.
pub(super) const MAX_TIMESTAMP: i64 = 253_402_300_799;

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
pub(super) fn validate(datum: &Datum) -> Result<(), BatchError> {
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
pub(super) fn validate_namespace(namespace: &str) -> Result<(), BatchError> {
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
#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::batch::batches;
    use crate::metrics::names::*;
    use crate::metrics::testing::*;

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
