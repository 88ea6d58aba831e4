//! The port asking the detector for a verdict, and its SQS adapter.

use std::future::Future;

use flowlog_lambda::DetectRequest;

/// Where detect requests go.
pub trait DetectQueue {
    /// Sends one request; the error says why not.
    fn send(&self, request: &DetectRequest) -> impl Future<Output = Result<(), String>> + Send;
}

/// Sends requests to an SQS queue that triggers `flood-alert`.
#[derive(Debug, Clone)]
pub struct SqsDetectQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsDetectQueue {
    /// A queue at `url`.
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> SqsDetectQueue {
        SqsDetectQueue {
            client,
            url: url.into(),
        }
    }
}

impl DetectQueue for SqsDetectQueue {
    async fn send(&self, request: &DetectRequest) -> Result<(), String> {
        let body = serde_json::to_string(request).expect("plain fields serialize");
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "SendMessage to {}: {}",
                    self.url,
                    flowlog_lambda::aws::describe(&e)
                )
            })
    }
}
