//! The invocation's payload as work: flood notices from the alert topic (SNS), the schedule
//! (EventBridge `Scheduled Event`), and both again inside Lambda failure-destination records
//! redriven through the redrive queue (SQS). Pure.

use flowlog_incidents::{AlertDocument, DocumentError};
use serde_json::Value;

/// Wrappers (SQS message, destination record, SNS message) unwrapped at most.
const MAX_DEPTH: usize = 4;

/// One thing to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// A flood notice.
    Notice(Box<AlertDocument>),
    /// Release what is overdue.
    Sweep,
    /// A message that is not for this function (another document type, a test message): its
    /// description, logged and acknowledged.
    Ignored(String),
}

/// A payload that can never be handled, however often it is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No shape this function knows.
    #[error("not an SNS notification, a scheduled event, a redriven record or a flood alert: {0}")]
    Unknown(String),
    /// Wrappers nested deeper than [`MAX_DEPTH`].
    #[error("event nests more than {MAX_DEPTH} wrappers")]
    TooDeep,
    /// A flood alert of the wrong version, or malformed.
    #[error(transparent)]
    Document(#[from] DocumentError),
}

/// The work in `payload`. SQS messages are decoded one by one ([`sqs_messages`]).
pub fn decode(payload: &Value) -> Result<Vec<Work>, DecodeError> {
    decode_at(payload, 0)
}

/// The messages of an SQS event, with their ids, or `None` for other payloads.
pub fn sqs_messages(payload: &Value) -> Option<Vec<(String, String)>> {
    let records = payload.get("Records")?.as_array()?;
    let is_sqs = |r: &Value| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs");
    if records.is_empty() || !records.iter().all(is_sqs) {
        return None;
    }
    Some(
        records
            .iter()
            .map(|r| {
                let field = |name: &str| {
                    r.get(name)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                (field("messageId"), field("body"))
            })
            .collect(),
    )
}

/// The work in one SQS message body.
pub fn decode_body(body: &str) -> Result<Vec<Work>, DecodeError> {
    let value: Value = serde_json::from_str(body)
        .map_err(|e| DecodeError::Unknown(format!("SQS body is not JSON: {e}")))?;
    decode_at(&value, 1)
}

fn decode_at(payload: &Value, depth: usize) -> Result<Vec<Work>, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    // A Lambda destination record: the original event is its requestPayload.
    if let Some(inner) = payload.get("requestPayload") {
        return decode_at(inner, depth + 1);
    }
    if payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        return Ok(vec![Work::Sweep]);
    }
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        let mut work = Vec::with_capacity(records.len());
        for record in records {
            let message = record
                .get("Sns")
                .and_then(|sns| sns.get("Message"))
                .and_then(Value::as_str)
                .ok_or_else(|| DecodeError::Unknown("a record without Sns.Message".into()))?;
            work.push(notice(message)?);
        }
        return Ok(work);
    }
    if payload.get("type").is_some() {
        return Ok(vec![notice(&payload.to_string())?]);
    }
    let mut keys: Vec<&str> = payload
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.truncate(8);
    Err(DecodeError::Unknown(format!("keys {keys:?}")))
}

fn notice(text: &str) -> Result<Work, DecodeError> {
    // Another document type is someone else's message, whatever its shape.
    let value: Option<Value> = serde_json::from_str(text).ok();
    if let Some(other) = value
        .as_ref()
        .and_then(|v| v.get("type"))
        .and_then(Value::as_str)
        .filter(|t| *t != flowlog_incidents::DOCUMENT_TYPE)
    {
        return Ok(Work::Ignored(format!("a {other:?} document")));
    }
    match AlertDocument::parse(text) {
        Ok(doc) => Ok(Work::Notice(Box::new(doc))),
        Err(DocumentError::NotAFloodAlert(other)) => {
            Ok(Work::Ignored(format!("a {other:?} document")))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlog_incidents::Stage;
    use serde_json::json;

    fn sample(name: &str) -> Value {
        let path = format!(
            "{}/../../events/response/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_sample_sns_notices_and_schedule_decode() {
        let started = decode(&sample("sns-started.json")).unwrap();
        assert!(matches!(&started[..], [Work::Notice(d)] if d.stage == Stage::Started));
        let ended = decode(&sample("sns-ended.json")).unwrap();
        assert!(matches!(&ended[..], [Work::Notice(d)] if d.stage == Stage::Ended));
        assert_eq!(decode(&sample("schedule.json")).unwrap(), [Work::Sweep]);
    }

    #[test]
    fn a_redriven_destination_record_in_an_sqs_message_decodes_to_its_original_event() {
        let record = json!({"version": "1.0", "requestContext": {"condition": "RetriesExhausted"},
            "requestPayload": sample("sns-started.json")});
        let sqs = json!({"Records": [{"eventSource": "aws:sqs", "messageId": "m1",
            "body": record.to_string()}]});
        let messages = sqs_messages(&sqs).unwrap();
        assert_eq!(messages[0].0, "m1");
        let work = decode_body(&messages[0].1).unwrap();
        assert!(matches!(&work[..], [Work::Notice(d)] if d.stage == Stage::Started));
        assert_eq!(sqs_messages(&sample("sns-started.json")), None);
    }

    #[test]
    fn other_documents_are_ignored_and_unknown_shapes_refused() {
        let own = json!({"type": "flowlog.response", "version": 1});
        assert!(matches!(&decode(&own).unwrap()[..], [Work::Ignored(_)]));
        assert!(matches!(
            decode(&json!({"hello": 1})),
            Err(DecodeError::Unknown(_))
        ));
        let mut deep = sample("schedule.json");
        for _ in 0..6 {
            deep = json!({ "requestPayload": deep });
        }
        assert_eq!(decode(&deep), Err(DecodeError::TooDeep));
        let mut old = sample("sns-started.json");
        let message = old["Records"][0]["Sns"]["Message"]
            .as_str()
            .unwrap()
            .replace("\"version\":3", "\"version\":2");
        old["Records"][0]["Sns"]["Message"] = Value::String(message);
        assert!(matches!(
            decode(&old),
            Err(DecodeError::Document(DocumentError::Version(2)))
        ));
    }
}
