//! The metrics output port and its CloudWatch adapter.

use std::future::Future;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

use crate::metrics::{Datum, Unit};

/// A `PutMetricData` request that failed after the SDK's retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PutMetricData to namespace {namespace:?} failed: {message}")]
pub struct PublishError {
    /// Namespace of the request.
    pub namespace: String,
    /// The service's code and message, or the transport error.
    pub message: String,
}

/// Where metric batches go. One call is one `PutMetricData` request.
pub trait MetricsSink {
    /// Publishes one batch (already within the service limits).
    fn put(
        &self,
        namespace: &str,
        batch: &[Datum],
    ) -> impl Future<Output = Result<(), PublishError>> + Send;
}

/// Publishes to CloudWatch; throttling and 5xx answers are retried with backoff by the SDK's
/// standard retry strategy before an error is returned.
#[derive(Debug, Clone)]
pub struct CloudWatchSink {
    client: aws_sdk_cloudwatch::Client,
}

impl CloudWatchSink {
    /// A sink over `client`.
    pub fn new(client: aws_sdk_cloudwatch::Client) -> Self {
        CloudWatchSink { client }
    }
}

impl MetricsSink for CloudWatchSink {
    async fn put(&self, namespace: &str, batch: &[Datum]) -> Result<(), PublishError> {
        self.client
            .put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(batch.iter().map(to_sdk).collect()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| PublishError {
                namespace: namespace.to_owned(),
                message: flowlog_lambda::aws::describe(&e),
            })
    }
}

/// The SDK form of a datum.
pub fn to_sdk(datum: &Datum) -> MetricDatum {
    let dimensions: Vec<Dimension> = datum
        .dimensions
        .iter()
        .map(|d| Dimension::builder().name(d.name).value(&d.value).build())
        .collect();
    MetricDatum::builder()
        .metric_name(datum.name)
        .set_dimensions((!dimensions.is_empty()).then_some(dimensions))
        .timestamp(DateTime::from_secs(datum.timestamp))
        .value(datum.value)
        .unit(match datum.unit {
            Unit::Count => StandardUnit::Count,
            Unit::Bytes => StandardUnit::Bytes,
            Unit::Seconds => StandardUnit::Seconds,
        })
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Dimension as Dim;

    #[test]
    fn datums_keep_name_dimensions_window_timestamp_and_unit() {
        let datum = Datum {
            name: "Bytes",
            dimensions: vec![Dim {
                name: "SourceIp",
                value: "203.0.113.7".into(),
            }],
            timestamp: 1_700_000_040,
            value: 1234.0,
            unit: Unit::Bytes,
        };
        let sdk = to_sdk(&datum);
        assert_eq!(sdk.metric_name(), Some("Bytes"));
        assert_eq!(sdk.dimensions()[0].value(), Some("203.0.113.7"));
        assert_eq!(sdk.timestamp().map(|t| t.secs()), Some(1_700_000_040));
        assert_eq!(sdk.unit(), Some(&StandardUnit::Bytes));
        assert_eq!(sdk.value(), Some(1234.0));
    }

    #[test]
    fn datums_without_dimensions_send_none() {
        let datum = Datum {
            name: "Records",
            dimensions: vec![],
            timestamp: 0,
            value: 1.0,
            unit: Unit::Count,
        };
        assert!(to_sdk(&datum).dimensions.is_none());
    }
}
