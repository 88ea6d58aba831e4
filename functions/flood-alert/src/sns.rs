//! The alert output port and its SNS adapter.

use std::future::Future;

use aws_sdk_sns::types::MessageAttributeValue;

use crate::alert::Alert;

/// A `Publish` that failed after the SDK's retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SNS Publish to {topic} failed: {message}")]
pub struct PublishError {
    /// The topic.
    pub topic: String,
    /// The service's code and message, or the transport error.
    pub message: String,
}

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
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&alert.subject)
            .message(&alert.message)
            .message_structure("json")
            .set_message_group_id(alert.group_id.clone())
            .set_message_deduplication_id(alert.dedup_id.clone());
        for (name, value) in &alert.attributes {
            let attribute = MessageAttributeValue::builder()
                .data_type(value.data_type())
                .string_value(value.as_str())
                .build()
                .map_err(|e| PublishError {
                    topic: self.topic_arn.clone(),
                    message: e.to_string(),
                })?;
            request = request.message_attributes(*name, attribute);
        }
        request.send().await.map(|_| ()).map_err(|e| PublishError {
            topic: self.topic_arn.clone(),
            message: flowlog_lambda::aws::describe(&e),
        })
    }
}
