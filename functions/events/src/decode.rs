//! Recognising the shape of an invocation payload and extracting the inputs it names.

use aws_lambda_events::event::sns::SnsEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use serde::Deserialize;
use serde_json::Value;

use crate::batch::{BatchJob, decode_job};
use crate::key::form_decode;
use crate::logs::{LogBatch, Subscription, decode_awslogs};

/// One S3 object to read, as the event named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// Bucket name.
    pub bucket: String,
    /// Object key, decoded (S3 notifications URL-encode it).
    pub key: String,
    /// Another spelling of the key to try if `key` does not exist (EventBridge does not say
    /// whether its keys are encoded: the raw key is tried first, then its decoded form).
    pub fallback_key: Option<String>,
    /// Object size in bytes, when the event gives it.
    pub size: Option<u64>,
    /// Entity tag, without quotes, when the event gives it.
    pub etag: Option<String>,
    /// Version id, when the bucket is versioned.
    pub version_id: Option<String>,
}

impl ObjectRef {
    /// `bucket/key`, with nothing else known of it.
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> ObjectRef {
        ObjectRef {
            bucket: bucket.into(),
            key: key.into(),
            fallback_key: None,
            size: None,
            etag: None,
            version_id: None,
        }
    }
}

/// One unit of work: an object to read, or a batch of log events to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A flow-log object in S3.
    Object(ObjectRef),
    /// Flow-log records delivered to CloudWatch Logs, from a subscription filter.
    Logs(LogBatch),
}

impl Input {
    /// `s3://bucket/key` or `cwl:<group>/<stream>`: how logs and errors name the input.
    pub fn describe(&self) -> String {
        match self {
            Input::Object(object) => format!("s3://{}/{}", object.bucket, object.key),
            Input::Logs(batch) => batch.describe(),
        }
    }
}

/// One SQS message: its id and what its body named (or why it could not be read).
#[derive(Debug)]
pub struct SqsItem {
    /// The message id, echoed in `batchItemFailures` when the message fails.
    pub message_id: String,
    /// The inputs in the body.
    pub inputs: Result<Vec<Input>, DecodeError>,
}

/// A decoded invocation.
#[derive(Debug)]
pub enum Trigger {
    /// Inputs named directly (S3 notification, EventBridge, SNS, CloudWatch Logs, a failure
    /// record): one failure fails the call.
    Inputs(Vec<Input>),
    /// An SQS batch: failures are reported per message.
    Sqs(Vec<SqsItem>),
    /// An S3 Batch Operations job: answered per task.
    Batch(BatchJob),
    /// Nothing to do, and why (e.g. `s3:TestEvent`).
    Ignored(&'static str),
}

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON.
    #[error("payload is not JSON: {0}")]
    NotJson(String),
    /// JSON, but of no accepted shape.
    #[error(
        "unrecognised event shape ({0}); expected an S3 notification, EventBridge Object Created, SQS, SNS, CloudWatch Logs subscription or S3 Batch Operations event"
    )]
    UnknownShape(String),
    /// Wrappers nested deeper than any real event does.
    #[error("event nests more than {limit} wrappers (failure records, SNS messages)")]
    TooDeep {
        /// [`MAX_NESTING`].
        limit: usize,
    },
    /// An accepted shape with missing or malformed fields.
    #[error("malformed {shape} event: {detail}")]
    Malformed {
        /// Which shape.
        shape: &'static str,
        /// What was wrong.
        detail: String,
    },
}

pub(crate) fn malformed(shape: &'static str, detail: impl ToString) -> DecodeError {
    DecodeError::Malformed {
        shape,
        detail: detail.to_string(),
    }
}

/// Wrappers one event may nest (failure-destination records, SNS envelopes and messages). The
/// deepest real shape, a redriven failure record of an SNS-triggered invocation in an SQS
/// message, nests three.
pub const MAX_NESTING: usize = 4;

/// Decodes an invocation payload. Wrappers are unwrapped in place, never copied.
pub fn decode(event: Value) -> Result<Trigger, DecodeError> {
    if first_record_source(&event).as_deref() == Some("aws:sqs") {
        let sqs: SqsEvent = serde_json::from_value(event).map_err(|e| malformed("SQS", e))?;
        let items = sqs
            .records
            .into_iter()
            .map(|message| SqsItem {
                message_id: message.message_id.unwrap_or_default(),
                inputs: match message.body {
                    Some(body) => decode_text(&body, 1),
                    None => Err(malformed("SQS", "message without body")),
                },
            })
            .collect();
        return Ok(Trigger::Sqs(items));
    }
    if event.get("invocationSchemaVersion").is_some() && event.get("tasks").is_some() {
        return decode_job(event).map(Trigger::Batch);
    }
    let inputs = decode_payload(event, 0)?;
    Ok(if inputs.is_empty() {
        Trigger::Ignored(
            "nothing to read in the event (s3:TestEvent, a deletion, an empty notification or a CloudWatch Logs control message)",
        )
    } else {
        Trigger::Inputs(inputs)
    })
}

/// `Records[0].eventSource` (S3, SQS) or `Records[0].EventSource` (SNS).
fn first_record_source(event: &Value) -> Option<String> {
    let first = event.get("Records")?.get(0)?;
    first
        .get("eventSource")
        .or_else(|| first.get("EventSource"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A message body or SNS message, `depth` wrappers down: JSON text of any accepted inner shape.
fn decode_text(text: &str, depth: usize) -> Result<Vec<Input>, DecodeError> {
    if depth > MAX_NESTING {
        return Err(DecodeError::TooDeep { limit: MAX_NESTING });
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    decode_payload(value, depth)
}

/// The `detail` of an EventBridge "Object Created" event.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ObjectCreatedDetail {
    bucket: NamedBucket,
    object: CreatedObject,
}

#[derive(Deserialize)]
struct NamedBucket {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct CreatedObject {
    key: String,
    size: Option<u64>,
    etag: Option<String>,
    version_id: Option<String>,
}

/// An S3 notification, an EventBridge event, an SNS event or envelope, a test event, a
/// CloudWatch Logs subscription event, or a Lambda failure-destination record wrapping one of
/// them (a redrive from the dead-letter queue), `depth` wrappers down.
fn decode_payload(value: Value, depth: usize) -> Result<Vec<Input>, DecodeError> {
    if depth > MAX_NESTING {
        return Err(DecodeError::TooDeep { limit: MAX_NESTING });
    }
    let Value::Object(mut map) = value else {
        return Err(DecodeError::UnknownShape(format!(
            "a JSON {}, not an object",
            kind(&value)
        )));
    };
    let text = |map: &serde_json::Map<String, Value>, field: &str| {
        map.get(field).and_then(Value::as_str).map(str::to_owned)
    };
    if text(&map, "Event").as_deref() == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    if let Some(awslogs) = map.get("awslogs") {
        return Ok(match decode_awslogs(awslogs)? {
            Subscription::Data(batch) => vec![Input::Logs(batch)],
            Subscription::Control => Vec::new(),
        });
    }
    if map.contains_key("requestContext")
        && let Some(payload) = map.remove("requestPayload")
    {
        return decode_payload(payload, depth + 1);
    }
    if map.contains_key("Records") {
        let value = Value::Object(map);
        return if first_record_source(&value).as_deref() == Some("aws:sns") {
            let sns: SnsEvent = serde_json::from_value(value).map_err(|e| malformed("SNS", e))?;
            let mut objects = Vec::new();
            for record in sns.records {
                objects.extend(decode_text(&record.sns.message, depth + 1)?);
            }
            Ok(objects)
        } else {
            s3_notification(value).map(|objects| objects.into_iter().map(Input::Object).collect())
        };
    }
    if text(&map, "Type").as_deref() == Some("Notification") {
        let Some(Value::String(message)) = map.remove("Message") else {
            return Err(malformed("SNS envelope", "no Message text"));
        };
        return decode_text(&message, depth + 1);
    }
    if let Some(detail_type) = text(&map, "detail-type") {
        if detail_type != "Object Created" {
            // Deletions, restores, tag changes: nothing new to read, as for S3 notifications.
            if text(&map, "source").as_deref() == Some("aws.s3") {
                return Ok(Vec::new());
            }
            return Err(DecodeError::UnknownShape(format!(
                "EventBridge detail-type {detail_type:?}"
            )));
        }
        let detail = map
            .remove("detail")
            .ok_or_else(|| malformed("EventBridge", "no detail"))?;
        let detail: ObjectCreatedDetail =
            serde_json::from_value(detail).map_err(|e| malformed("EventBridge", e))?;
        let raw = detail.object.key;
        let decoded = form_decode(&raw).filter(|k| *k != raw);
        return Ok(vec![Input::Object(ObjectRef {
            bucket: detail.bucket.name,
            key: raw,
            fallback_key: decoded,
            size: detail.object.size,
            etag: detail.object.etag.map(unquote),
            version_id: detail.object.version_id,
        })]);
    }
    let keys: Vec<_> = map.keys().take(5).cloned().collect();
    Err(DecodeError::UnknownShape(format!(
        "top-level keys {keys:?}"
    )))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// An S3 event notification, read leniently: only the fields used are required (emulators
/// and older senders leave out `userIdentity`, `requestParameters` and the like).
#[derive(Deserialize)]
struct S3Notification {
    #[serde(rename = "Records")]
    records: Vec<S3Record>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Record {
    event_name: Option<String>,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: NamedBucket,
    object: S3Object,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Object {
    key: String,
    size: Option<u64>,
    #[serde(rename = "eTag")]
    e_tag: Option<String>,
    version_id: Option<String>,
}

fn s3_notification(value: Value) -> Result<Vec<ObjectRef>, DecodeError> {
    let event: S3Notification = serde_json::from_value(value).map_err(|e| malformed("S3", e))?;
    let mut objects = Vec::with_capacity(event.records.len());
    for record in event.records {
        let name = record.event_name.unwrap_or_default();
        if !name.starts_with("ObjectCreated:") {
            continue; // deletions, restores and the like carry no new flow records
        }
        let bucket = record.s3.bucket.name;
        let raw = record.s3.object.key;
        let key = form_decode(&raw).ok_or_else(|| {
            malformed(
                "S3",
                format!("object key {raw:?} is not valid URL-encoded UTF-8"),
            )
        })?;
        objects.push(ObjectRef {
            bucket,
            key,
            fallback_key: None,
            size: record.s3.object.size,
            etag: record.s3.object.e_tag.map(unquote),
            version_id: record.s3.object.version_id.filter(|v| !v.is_empty()),
        });
    }
    Ok(objects)
}

fn unquote(etag: String) -> String {
    etag.trim_matches('"').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s3_record(key: &str) -> Value {
        json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2023-11-14T22:20:01.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:AROAEXAMPLE"},
            "requestParameters": {"sourceIPAddress": "10.0.0.1"},
            "responseElements": {"x-amz-request-id": "R1", "x-amz-id-2": "I2"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "flowlogs",
                   "bucket": {"name": "flow-bucket", "ownerIdentity": {"principalId": "A1"}, "arn": "arn:aws:s3:::flow-bucket"},
                   "object": {"key": key, "size": 2595, "eTag": "\"0123abcd\"", "sequencer": "0063CC545C372D5A7F"}}
        })
    }

    fn notification(keys: &[&str]) -> Value {
        json!({"Records": keys.iter().map(|k| s3_record(k)).collect::<Vec<_>>()})
    }

    fn eventbridge(key: &str) -> Value {
        json!({
            "version": "0", "id": "e1", "detail-type": "Object Created", "source": "aws.s3",
            "account": "123456789012", "time": "2023-11-14T22:20:01Z", "region": "us-east-1",
            "resources": ["arn:aws:s3:::flow-bucket"],
            "detail": {"version": "0", "bucket": {"name": "flow-bucket"},
                       "object": {"key": key, "size": 5, "etag": "b1946ac9", "sequencer": "617f08299329d189"},
                       "request-id": "N4", "requester": "123456789012", "reason": "PutObject"}
        })
    }

    fn sqs(bodies: &[String]) -> Value {
        json!({"Records": bodies.iter().enumerate().map(|(i, b)| json!({
            "messageId": format!("m{i}"), "receiptHandle": "h", "body": b,
            "attributes": {}, "messageAttributes": {}, "md5OfBody": "x",
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"
        })).collect::<Vec<_>>()})
    }

    fn sns_envelope(message: &Value) -> Value {
        json!({"Type": "Notification", "MessageId": "s1", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
               "Message": message.to_string(), "Timestamp": "2023-11-14T22:20:02.000Z"})
    }

    fn sns_event(message: &Value) -> Value {
        json!({"Records": [{
            "EventSource": "aws:sns", "EventVersion": "1.0",
            "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:t:sub",
            "Sns": {"Type": "Notification", "MessageId": "s1", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
                    "Subject": "Amazon S3 Notification", "Message": message.to_string(),
                    "Timestamp": "2023-11-14T22:20:02.000Z", "SignatureVersion": "1", "Signature": "x",
                    "SigningCertUrl": "https://example.invalid/c.pem", "UnsubscribeUrl": "https://example.invalid/u",
                    "MessageAttributes": {}}
        }]})
    }

    fn objects(trigger: Trigger) -> Vec<ObjectRef> {
        match trigger {
            Trigger::Inputs(inputs) => object_inputs(inputs),
            other => panic!("expected objects, got {other:?}"),
        }
    }

    fn object_inputs(inputs: Vec<Input>) -> Vec<ObjectRef> {
        inputs
            .into_iter()
            .map(|input| match input {
                Input::Object(object) => object,
                other => panic!("expected an object, got {other:?}"),
            })
            .collect()
    }

    #[test]
    fn s3_notification_with_several_records_names_each_object() {
        let found = objects(decode(notification(&["a.log.gz", "b.log.gz"])).unwrap());
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].bucket, "flow-bucket");
        assert_eq!(found[1].key, "b.log.gz");
        assert_eq!(found[0].etag.as_deref(), Some("0123abcd"));
        assert_eq!(found[0].size, Some(2595));
    }

    #[test]
    fn fields_not_read_such_as_the_sequencer_are_ignored() {
        // Both fixtures carry a `sequencer`.
        let found = objects(decode(notification(&["a.log.gz"])).unwrap());
        let expected = ObjectRef {
            size: Some(2595),
            etag: Some("0123abcd".into()),
            ..ObjectRef::new("flow-bucket", "a.log.gz")
        };
        assert_eq!(found, [expected]);
        let found = objects(decode(eventbridge("b.log.gz")).unwrap());
        let expected = ObjectRef {
            size: Some(5),
            etag: Some("b1946ac9".into()),
            ..ObjectRef::new("flow-bucket", "b.log.gz")
        };
        assert_eq!(found, [expected]);
    }

    #[test]
    fn s3_keys_are_url_decoded() {
        let key =
            "AWSLogs/aws-account-id%3D123456789012/aws-service%3Dvpcflowlogs/my+logs/x.log.gz";
        let found = objects(decode(notification(&[key])).unwrap());
        assert_eq!(
            found[0].key,
            "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/my logs/x.log.gz"
        );
    }

    #[test]
    fn minimal_s3_records_as_emulators_send_them_are_accepted() {
        let event = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "b"}, "object": {"key": "AWSLogs%2Fyear%3D2025%2Fa+b%2Bc.log.gz"}}}]});
        let found = objects(decode(event).unwrap());
        assert_eq!(found[0].key, "AWSLogs/year=2025/a b+c.log.gz");
        assert_eq!((found[0].size, found[0].etag.as_deref()), (None, None));
    }

    #[test]
    fn non_creation_records_are_skipped() {
        let mut event = notification(&["gone.log.gz"]);
        event["Records"][0]["eventName"] = json!("ObjectRemoved:Delete");
        assert!(matches!(decode(event).unwrap(), Trigger::Ignored(_)));
    }

    #[test]
    fn s3_test_event_is_acknowledged_and_ignored() {
        let event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2023-11-14T22:00:00.000Z",
                           "Bucket": "flow-bucket", "RequestId": "R", "HostId": "H"});
        assert!(matches!(decode(event).unwrap(), Trigger::Ignored(_)));
    }

    #[test]
    fn eventbridge_object_created_keeps_the_raw_key_with_a_decoded_fallback() {
        let found = objects(decode(eventbridge("a/year%3D2023/b.log.gz")).unwrap());
        assert_eq!(found[0].key, "a/year%3D2023/b.log.gz");
        assert_eq!(
            found[0].fallback_key.as_deref(),
            Some("a/year=2023/b.log.gz")
        );
        let plain = objects(decode(eventbridge("a/b.log.gz")).unwrap());
        assert_eq!(plain[0].fallback_key, None);
    }

    #[test]
    fn eventbridge_object_deleted_is_acknowledged_and_ignored() {
        let mut event = eventbridge("x");
        event["detail-type"] = json!("Object Deleted");
        event["detail"]["deletion-type"] = json!("Permanently Deleted");
        assert!(matches!(decode(event).unwrap(), Trigger::Ignored(_)));
    }

    #[test]
    fn eventbridge_events_of_other_services_are_refused() {
        let mut event = eventbridge("x");
        event["source"] = json!("aws.ec2");
        event["detail-type"] = json!("EC2 Instance State-change Notification");
        assert!(matches!(decode(event), Err(DecodeError::UnknownShape(_))));
    }

    #[test]
    fn s3_delete_records_are_acknowledged_and_ignored() {
        let mut event = notification(&["gone.log.gz"]);
        event["Records"][0]["eventName"] = json!("ObjectRemoved:Delete");
        assert!(matches!(decode(event).unwrap(), Trigger::Ignored(_)));
    }

    fn failure_record(payload: Value) -> Value {
        json!({"version": "1.0", "requestContext": {"condition": "RetriesExhausted"},
               "requestPayload": payload, "responseContext": {"statusCode": 200}})
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused() {
        let mut event = eventbridge("deep.log.gz");
        for _ in 0..MAX_NESTING {
            event = failure_record(event);
        }
        assert_eq!(
            objects(decode(event.clone()).unwrap())[0].key,
            "deep.log.gz"
        );
        assert_eq!(
            decode(failure_record(event)).unwrap_err(),
            DecodeError::TooDeep { limit: MAX_NESTING }
        );
    }

    #[test]
    fn a_redriven_failure_record_of_an_sns_invocation_names_its_object() {
        let record = failure_record(sns_event(&notification(&["via-sns.log.gz"])));
        let Trigger::Sqs(items) = decode(sqs(&[record.to_string()])).unwrap() else {
            panic!("SQS")
        };
        let inputs = items.into_iter().next().unwrap().inputs.unwrap();
        assert_eq!(object_inputs(inputs)[0].key, "via-sns.log.gz");
    }

    #[test]
    fn sqs_bodies_may_hold_any_shape_and_bad_ones_fail_alone() {
        let bodies = [
            notification(&["one.log.gz"]).to_string(),
            eventbridge("two.log.gz").to_string(),
            sns_envelope(&notification(&["three.log.gz"])).to_string(),
            "not json at all".to_string(),
            json!({"Event": "s3:TestEvent"}).to_string(),
        ];
        let Trigger::Sqs(items) = decode(sqs(&bodies)).unwrap() else {
            panic!("expected SQS")
        };
        let keys: Vec<_> = items
            .iter()
            .map(|i| {
                i.inputs.clone().map(|o| {
                    object_inputs(o)
                        .into_iter()
                        .map(|r| r.key)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        assert_eq!(keys[0], Ok(vec!["one.log.gz".to_string()]));
        assert_eq!(keys[1], Ok(vec!["two.log.gz".to_string()]));
        assert_eq!(keys[2], Ok(vec!["three.log.gz".to_string()]));
        assert!(matches!(keys[3], Err(DecodeError::NotJson(_))));
        assert_eq!(keys[4], Ok(vec![]));
        assert_eq!(items[3].message_id, "m3");
    }

    #[test]
    fn sns_wrapped_s3_notification_names_its_objects() {
        let found = objects(decode(sns_event(&notification(&["sns.log.gz"]))).unwrap());
        assert_eq!(found[0].key, "sns.log.gz");
    }

    #[test]
    fn failure_destination_records_are_unwrapped_for_a_redrive() {
        let record = json!({"version": "1.0", "timestamp": "2023-11-14T22:30:00.000Z",
            "requestContext": {"requestId": "r", "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST",
                               "condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": eventbridge("redrive.log.gz"),
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": "boom"}});
        assert_eq!(
            objects(decode(record.clone()).unwrap())[0].key,
            "redrive.log.gz"
        );
        let Trigger::Sqs(items) = decode(sqs(&[record.to_string()])).unwrap() else {
            panic!("SQS")
        };
        let inputs = items.into_iter().next().unwrap().inputs.unwrap();
        assert_eq!(object_inputs(inputs)[0].key, "redrive.log.gz");
    }

    #[test]
    fn a_cloudwatch_logs_data_message_is_one_batch_and_a_control_message_is_ignored() {
        use crate::logs::tests::{awslogs, data_message};
        let Trigger::Inputs(inputs) = decode(awslogs(&data_message(&["2 x", "2 y"]))).unwrap()
        else {
            panic!("inputs")
        };
        let [Input::Logs(batch)] = &inputs[..] else {
            panic!("one batch, got {inputs:?}")
        };
        assert_eq!(batch.events.len(), 2);
        let mut control = data_message(&[]);
        control["messageType"] = json!("CONTROL_MESSAGE");
        assert!(matches!(
            decode(awslogs(&control)).unwrap(),
            Trigger::Ignored(_)
        ));
    }

    #[test]
    fn a_failed_cloudwatch_logs_batch_redriven_through_sqs_is_read_again() {
        use crate::logs::tests::{awslogs, data_message};
        let record = failure_record(awslogs(&data_message(&["2 x"])));
        let Trigger::Sqs(items) = decode(sqs(&[record.to_string()])).unwrap() else {
            panic!("SQS")
        };
        let inputs = items.into_iter().next().unwrap().inputs.unwrap();
        assert!(matches!(&inputs[..], [Input::Logs(b)] if b.events[0].message == "2 x"));
    }

    #[test]
    fn s3_batch_operations_invocations_are_jobs() {
        let event = json!({"invocationSchemaVersion": "1.0", "invocationId": "i", "job": {"id": "j"},
            "tasks": [{"taskId": "t", "s3Key": "k.log.gz", "s3VersionId": null, "s3BucketArn": "arn:aws:s3:::b"}]});
        let Trigger::Batch(job) = decode(event).unwrap() else {
            panic!("batch")
        };
        assert_eq!(job.tasks[0].task_id, "t");
    }

    #[test]
    fn unknown_shapes_are_refused_with_their_keys() {
        let error = decode(json!({"hello": "world"})).unwrap_err();
        assert!(error.to_string().contains("hello"), "{error}");
        assert!(matches!(
            decode(json!([1, 2])),
            Err(DecodeError::UnknownShape(_))
        ));
    }
}
