//! The report output port and its SNS adapter.

use std::future::Future;

use aws_sdk_sns::types::MessageAttributeValue;

use crate::report::Message;

/// A `Publish` that failed after the SDK's retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SNS Publish to {topic} failed: {message}")]
pub struct PublishError {
    /// The topic.
    pub topic: String,
    /// The service's code and message, or the transport error.
    pub message: String,
}

/// Where reports go.
pub trait ReportSink: Send + Sync {
    /// Publishes one report.
    fn publish(&self, message: &Message) -> impl Future<Output = Result<(), PublishError>> + Send;
}

/// Publishes to an SNS topic with `MessageStructure=json`.
#[derive(Debug, Clone)]
pub struct SnsReports {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsReports {
    /// Reports to `topic_arn`.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsReports {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

impl ReportSink for SnsReports {
    async fn publish(&self, message: &Message) -> Result<(), PublishError> {
        let error = |message: String| PublishError {
            topic: self.topic_arn.clone(),
            message,
        };
        let (group, dedup) = message.fifo.clone().unzip();
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&message.subject)
            .message(&message.message)
            .message_structure("json")
            .set_message_group_id(group)
            .set_message_deduplication_id(dedup);
        for (name, value) in &message.attributes {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| error(e.to_string()))?;
            request = request.message_attributes(*name, attribute);
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error(flowlog_lambda::aws::describe(&e)))
    }
}
