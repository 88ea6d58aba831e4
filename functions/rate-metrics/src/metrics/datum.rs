//! One metric data point and its parts.

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
    /// The dimension's name, e.g. [`SOURCE_IP`](super::SOURCE_IP).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_are_cloudwatch_names() {
        assert_eq!(Unit::Count.as_str(), "Count");
        assert_eq!(Unit::Bytes.as_str(), "Bytes");
        assert_eq!(Unit::Seconds.as_str(), "Seconds");
    }
}
