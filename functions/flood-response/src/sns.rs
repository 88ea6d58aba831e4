//! The report output port and its SNS adapter.

use std::future::Future;

use flowlog_lambda::sns::{JsonMessage, publish_json};

use crate::report::Message;

/// A `Publish` that failed after the SDK's retries.
pub use flowlog_lambda::sns::PublishError;

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
        let (group_id, dedup_id) = message
            .fifo
            .as_ref()
            .map(|(group, dedup)| (group.as_str(), dedup.as_str()))
            .unzip();
        let json = JsonMessage {
            subject: &message.subject,
            message: &message.message,
            group_id,
            dedup_id,
        };
        let attributes = message
            .attributes
            .iter()
            .map(|(name, value)| (*name, "String", value.as_str()));
        publish_json(&self.client, &self.topic_arn, json, attributes).await
    }
}
