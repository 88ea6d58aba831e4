//! The alert output port and its SNS adapter.

use std::future::Future;

use flowlog_lambda::sns::{JsonMessage, publish_json};

use crate::alert::Alert;

/// A `Publish` that failed after the SDK's retries.
pub use flowlog_lambda::sns::PublishError;

/// Where alerts go.
pub trait AlertSink {
    /// Publishes one alert.
    fn publish(&self, alert: &Alert) -> impl Future<Output = Result<(), PublishError>> + Send;
}

/// Publishes to an SNS topic with `MessageStructure=json`; throttling is retried with backoff
/// by the SDK's standard retry strategy.
#[derive(Debug, Clone)]
pub struct SnsSink {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsSink {
    /// A sink publishing to `topic_arn`.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsSink {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

impl AlertSink for SnsSink {
    async fn publish(&self, alert: &Alert) -> Result<(), PublishError> {
        let message = JsonMessage {
            subject: &alert.subject,
            message: &alert.message,
            group_id: alert.group_id.as_deref(),
            dedup_id: alert.dedup_id.as_deref(),
        };
        let attributes = alert
            .attributes
            .iter()
            .map(|(name, value)| (*name, value.data_type(), value.as_str()));
        publish_json(&self.client, &self.topic_arn, message, attributes).await
    }
}
