//! What asked for a verdict: the detect queue (a batch of requests from `rate-metrics`), the
//! schedule (an EventBridge `Scheduled Event`, whose `time` is the verdict's now), or a direct
//! invocation `{"detect": {"now": …, "from": …, "until": …}}` (operations, local runs).

use flowlog_lambda::DetectRequest;
use serde_json::Value;

/// A decoded invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// Where it came from, for logs.
    pub source: &'static str,
    /// The verdict's wall time, when the event fixes it (the schedule, a direct invocation).
    pub now: Option<i64>,
    /// The earliest and latest new minute asked about.
    pub new_minutes: Option<(i64, i64)>,
    /// SQS message ids, to report as failed if the verdict fails.
    pub message_ids: Vec<String>,
    /// Messages that were not detect requests (logged, not retried: they never will be).
    pub malformed: usize,
}

/// Why an invocation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    /// Not a shape this function is invoked with.
    #[error(
        "unsupported event: expected a detect-queue batch, a Scheduled Event or {{\"detect\": {{…}}}}; got {0}"
    )]
    Unsupported(String),
    /// A scheduled event whose time is not RFC 3339.
    #[error("Scheduled Event time {0:?} is not an RFC 3339 UTC time")]
    Time(String),
}

/// Decodes an invocation payload.
pub fn decode(payload: &Value) -> Result<Trigger, TriggerError> {
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        let mut trigger = Trigger {
            source: "detect-queue",
            now: None,
            new_minutes: None,
            message_ids: Vec::new(),
            malformed: 0,
        };
        for record in records {
            if let Some(id) = record.get("messageId").and_then(Value::as_str) {
                trigger.message_ids.push(id.to_owned());
            }
            let body = record
                .get("body")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match serde_json::from_str::<DetectRequest>(body) {
                Ok(r) => widen(&mut trigger.new_minutes, r.from, r.until),
                Err(e) => {
                    tracing::warn!(body = %truncated(body), error = %e, "not a detect request: dropped");
                    trigger.malformed += 1;
                }
            }
        }
        return Ok(trigger);
    }
    if payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        let time = payload
            .get("time")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let now = parse_time(time).ok_or_else(|| TriggerError::Time(time.to_owned()))?;
        return Ok(Trigger {
            source: "schedule",
            now: Some(now),
            new_minutes: None,
            message_ids: Vec::new(),
            malformed: 0,
        });
    }
    if let Some(detect) = payload.get("detect") {
        let number = |k: &str| detect.get(k).and_then(Value::as_i64);
        let new_minutes = match (number("from"), number("until")) {
            (Some(from), Some(until)) => Some((from, until)),
            (Some(from), None) => Some((from, from + flowlog_core::WINDOW_SECS)),
            _ => None,
        };
        return Ok(Trigger {
            source: "direct",
            now: number("now"),
            new_minutes,
            message_ids: Vec::new(),
            malformed: 0,
        });
    }
    Err(TriggerError::Unsupported(truncated(&payload.to_string())))
}

fn widen(range: &mut Option<(i64, i64)>, from: i64, until: i64) {
    *range = Some(match *range {
        Some((a, b)) => (a.min(from), b.max(until)),
        None => (from, until),
    });
}

fn truncated(text: &str) -> String {
    text.chars().take(200).collect()
}

/// `2026-12-01T19:40:00Z` (EventBridge's form) in Unix seconds.
fn parse_time(text: &str) -> Option<i64> {
    use aws_sdk_sns::primitives::{DateTime, DateTimeFormat};
    DateTime::from_str(text, DateTimeFormat::DateTime)
        .ok()
        .map(|t| t.secs())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_queue_batch_asks_about_the_span_of_its_requests_and_drops_junk() {
        let request = |from: i64, until: i64| {
            json!({"messageId": format!("m{from}"), "eventSource": "aws:sqs",
                "body": json!({"from": from, "until": until, "object": "s3://b/k"}).to_string()})
        };
        let batch = json!({"Records": [request(600, 720), request(120, 300),
            {"messageId": "bad", "eventSource": "aws:sqs", "body": "hello"}]});
        let t = decode(&batch).unwrap();
        assert_eq!(t.new_minutes, Some((120, 720)));
        assert_eq!(t.message_ids, ["m600", "m120", "bad"]);
        assert_eq!((t.malformed, t.now), (1, None));
    }

    #[test]
    fn the_schedule_gives_the_verdict_its_time() {
        let event = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event",
            "source": "aws.events", "time": "2026-12-01T19:40:00Z", "detail": {}});
        let t = decode(&event).unwrap();
        assert_eq!(
            (t.source, t.now, t.new_minutes),
            ("schedule", Some(1_796_154_000), None)
        );
        let bad = json!({"detail-type": "Scheduled Event", "time": "yesterday"});
        assert_eq!(decode(&bad), Err(TriggerError::Time("yesterday".into())));
    }

    #[test]
    fn a_direct_invocation_may_set_now_and_the_minutes() {
        let t = decode(&json!({"detect": {"now": 1000, "from": 600}})).unwrap();
        assert_eq!((t.now, t.new_minutes), (Some(1000), Some((600, 660))));
        assert_eq!(decode(&json!({"detect": {}})).unwrap().now, None);
    }

    #[test]
    fn other_events_are_refused_with_what_is_expected() {
        let error = decode(&json!({"hello": "world"})).unwrap_err().to_string();
        assert!(
            error.contains("Scheduled Event") && error.contains("hello"),
            "{error}"
        );
    }
}
