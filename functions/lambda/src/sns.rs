//! SNS `Publish` with `MessageStructure=json`, as both notifying functions send it.

use aws_sdk_sns::types::MessageAttributeValue;

/// A `Publish` that failed after the SDK's retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SNS Publish to {topic} failed: {message}")]
pub struct PublishError {
    /// The topic.
    pub topic: String,
    /// The service's code and message, or the transport error.
    pub message: String,
}

/// One message to publish.
#[derive(Debug, Clone, Copy)]
pub struct JsonMessage<'a> {
    /// The e-mail subject.
    pub subject: &'a str,
    /// The JSON document of one text per protocol.
    pub message: &'a str,
    /// The FIFO message group id, for a FIFO topic.
    pub group_id: Option<&'a str>,
    /// The FIFO deduplication id, for a FIFO topic.
    pub dedup_id: Option<&'a str>,
}

/// Publishes `message` to `topic_arn` with `MessageStructure=json` and the message attributes
/// `(name, data type, value)`; throttling is retried with backoff by the SDK's retry strategy.
pub async fn publish_json<'a>(
    client: &aws_sdk_sns::Client,
    topic_arn: &str,
    message: JsonMessage<'_>,
    attributes: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> Result<(), PublishError> {
    let error = |message: String| PublishError {
        topic: topic_arn.to_owned(),
        message,
    };
    let mut request = client
        .publish()
        .topic_arn(topic_arn)
        .subject(message.subject)
        .message(message.message)
        .message_structure("json")
        .set_message_group_id(message.group_id.map(str::to_owned))
        .set_message_deduplication_id(message.dedup_id.map(str::to_owned));
    for (name, data_type, value) in attributes {
        let attribute = MessageAttributeValue::builder()
            .data_type(data_type)
            .string_value(value)
            .build()
            .map_err(|e| error(e.to_string()))?;
        request = request.message_attributes(name, attribute);
    }
    request
        .send()
        .await
        .map(|_| ())
        .map_err(|e| error(crate::aws::describe(&e)))
}
