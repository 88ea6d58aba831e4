//! CloudWatch Logs subscription events: `{"awslogs": {"data": base64(gzip(JSON))}}`, one batch
//! of log events of one log stream. Flow logs delivered to CloudWatch Logs put one record in
//! each event's message, without a header line.

use std::io::Read;

use base64::Engine;
use serde::Deserialize;

use crate::decode::{DecodeError, malformed};

/// The most JSON one subscription event may inflate to. CloudWatch Logs sends at most 1 MiB of
/// log events per batch; anything far larger is not a subscription event.
pub const MAX_LOG_DATA_BYTES: u64 = 16 << 20;

/// One batch of log events from a subscription filter (`DATA_MESSAGE`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogBatch {
    /// Account that owns the log group.
    #[serde(default)]
    pub owner: String,
    /// Log group the events were written to.
    pub log_group: String,
    /// Log stream of the events (for flow logs, one per network interface).
    pub log_stream: String,
    /// The subscription filters that matched.
    #[serde(default)]
    pub subscription_filters: Vec<String>,
    /// The events, oldest first.
    #[serde(rename = "logEvents")]
    pub events: Vec<LogEvent>,
}

/// One log event: for flow logs, one record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LogEvent {
    /// CloudWatch Logs' unique id of the event.
    pub id: String,
    /// When the event happened, epoch milliseconds (for flow logs, the record's `start`).
    pub timestamp: i64,
    /// The record.
    pub message: String,
}

impl LogBatch {
    /// `cwl:<log group>/<log stream>`: how logs and errors name the batch.
    pub fn describe(&self) -> String {
        format!("cwl:{}/{}", self.log_group, self.log_stream)
    }
}

/// What a subscription event holds: a batch to read, or a control message (sent when a
/// subscription is created, to check the destination) that reads nothing.
#[derive(Debug)]
pub(crate) enum Subscription {
    Data(LogBatch),
    Control,
}

/// Decodes the `awslogs` member of an event: base64, then gzip (at most
/// [`MAX_LOG_DATA_BYTES`] inflated), then JSON.
pub(crate) fn decode_awslogs(awslogs: &serde_json::Value) -> Result<Subscription, DecodeError> {
    const SHAPE: &str = "CloudWatch Logs";
    let data = awslogs
        .get("data")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| malformed(SHAPE, "awslogs has no data text"))?;
    let gzip = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| malformed(SHAPE, format!("data is not base64: {e}")))?;
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(&gzip[..])
        .take(MAX_LOG_DATA_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| malformed(SHAPE, format!("data is not gzip: {e}")))?;
    if json.len() as u64 > MAX_LOG_DATA_BYTES {
        return Err(malformed(
            SHAPE,
            format!("data inflates past {MAX_LOG_DATA_BYTES} bytes"),
        ));
    }
    let data: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| malformed(SHAPE, format!("data: {e}")))?;
    match data.get("messageType").and_then(serde_json::Value::as_str) {
        Some("CONTROL_MESSAGE") => Ok(Subscription::Control),
        Some("DATA_MESSAGE") => serde_json::from_value(data)
            .map(Subscription::Data)
            .map_err(|e| malformed(SHAPE, format!("data: {e}"))),
        Some(other) => Err(malformed(SHAPE, format!("messageType {other:?}"))),
        None => Err(malformed(SHAPE, "data has no messageType")),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use serde_json::{Value, json};

    use super::*;

    /// A subscription event around `data`, encoded as CloudWatch Logs does.
    pub(crate) fn awslogs(data: &Value) -> Value {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data.to_string().as_bytes()).unwrap();
        let encoded = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        json!({"awslogs": {"data": encoded}})
    }

    pub(crate) fn data_message(messages: &[&str]) -> Value {
        json!({
            "messageType": "DATA_MESSAGE", "owner": "123456789012",
            "logGroup": "/vpc/flow-logs", "logStream": "eni-0a1b2c3d4e5f67890-all",
            "subscriptionFilters": ["flowlogs"],
            "logEvents": messages.iter().enumerate().map(|(i, m)| json!({
                "id": format!("3768{i:052}"), "timestamp": 1_700_000_000_000_i64 + i as i64, "message": m
            })).collect::<Vec<_>>()
        })
    }

    #[test]
    fn a_data_message_gives_its_stream_and_events_in_order() {
        let event = awslogs(&data_message(&["2 a", "2 b"]));
        let Subscription::Data(batch) = decode_awslogs(&event["awslogs"]).unwrap() else {
            panic!("data")
        };
        assert_eq!(batch.log_group, "/vpc/flow-logs");
        assert_eq!(batch.log_stream, "eni-0a1b2c3d4e5f67890-all");
        assert_eq!(batch.events.len(), 2);
        assert_eq!(batch.events[1].message, "2 b");
        assert_eq!(batch.events[1].timestamp, 1_700_000_000_001);
        assert_eq!(
            batch.describe(),
            "cwl:/vpc/flow-logs/eni-0a1b2c3d4e5f67890-all"
        );
    }

    #[test]
    fn a_control_message_reads_nothing() {
        let control = json!({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs",
            "logGroup": "", "logStream": "", "subscriptionFilters": [],
            "logEvents": [{"id": "", "timestamp": 1_700_000_000_000_i64,
                           "message": "CWL CONTROL MESSAGE: Checking health of destination Lambda function."}]});
        let event = awslogs(&control);
        assert!(matches!(
            decode_awslogs(&event["awslogs"]).unwrap(),
            Subscription::Control
        ));
    }

    #[test]
    fn bad_data_is_refused_with_the_reason() {
        for (data, hint) in [
            (json!({"data": "%%%"}), "not base64"),
            (json!({"data": "aGVsbG8="}), "not gzip"),
            (json!({}), "no data"),
        ] {
            let error = decode_awslogs(&data).unwrap_err().to_string();
            assert!(error.contains(hint), "{error}");
        }
        let unknown = awslogs(&json!({"messageType": "OTHER"}));
        let error = decode_awslogs(&unknown["awslogs"]).unwrap_err().to_string();
        assert!(error.contains("messageType \"OTHER\""), "{error}");
    }

    #[test]
    fn data_inflating_past_the_cap_is_refused() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b' '; (MAX_LOG_DATA_BYTES + 10) as usize])
            .unwrap();
        let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        let error = decode_awslogs(&json!({ "data": data }))
            .unwrap_err()
            .to_string();
        assert!(error.contains("inflates past"), "{error}");
    }
}
