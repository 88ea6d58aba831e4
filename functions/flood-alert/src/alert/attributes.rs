//! Message attributes for subscription filter policies, and FIFO ids.

use flowlog_incidents::AlertDocument;

use super::Flood;

/// Longest FIFO message group id and deduplication id.
const MAX_FIFO_ID_CHARS: usize = 128;

/// The value of one SNS message attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// A `String` attribute.
    String(String),
    /// A `Number` attribute, in decimal notation.
    Number(String),
}

impl AttributeValue {
    /// The SNS data type: `String` or `Number`.
    pub fn data_type(&self) -> &'static str {
        match self {
            AttributeValue::String(_) => "String",
            AttributeValue::Number(_) => "Number",
        }
    }

    /// The value as SNS receives it (`StringValue`).
    pub fn as_str(&self) -> &str {
        match self {
            AttributeValue::String(value) | AttributeValue::Number(value) => value,
        }
    }
}

/// `stage`, `severity`, `kind` (`source`/`target`), `source_ip` or `target_ip`, `rule`,
/// `alert_id`, `backfill`, `flows_per_minute` and, when known, `vpc_id`: SQS raw delivery
/// passes on ten.
pub(super) fn attributes(doc: &AlertDocument) -> Vec<(&'static str, AttributeValue)> {
    let flood = Flood::from(&doc.finding);
    let who = match flood {
        Flood::Source(f) => ("source_ip", AttributeValue::String(f.source.to_string())),
        Flood::Target(t) => ("target_ip", AttributeValue::String(t.target.to_string())),
    };
    let mut attributes = vec![
        ("stage", AttributeValue::String(doc.stage.as_str().into())),
        (
            "severity",
            AttributeValue::String(flood.severity().as_str().into()),
        ),
        ("kind", AttributeValue::String(flood.kind().into())),
        who,
        ("rule", AttributeValue::String(flood.rule().as_str().into())),
        ("alert_id", AttributeValue::String(fifo_id(&doc.alert_id))),
        (
            "backfill",
            AttributeValue::String(doc.origin.backfill.to_string()),
        ),
        (
            "flows_per_minute",
            AttributeValue::Number(flood.rate().flows_per_minute.to_string()),
        ),
    ];
    if let Some(vpc) = doc
        .origin
        .vpc_id
        .as_deref()
        .filter(|v| !v.trim().is_empty())
    {
        attributes.push(("vpc_id", AttributeValue::String(printable(vpc))));
    }
    attributes
}

/// Group id: who the alert is about, so one subject's notices arrive in order. Deduplication
/// id: the notice's alert id, so the same notice published again is the same message.
pub(super) fn fifo_ids(doc: &AlertDocument) -> (String, String) {
    (fifo_id(&doc.subject), fifo_id(&doc.alert_id))
}

/// An id SNS FIFO accepts: printable ASCII only (others become `_`), at most 128 characters.
fn fifo_id(raw: &str) -> String {
    raw.chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(MAX_FIFO_ID_CHARS)
        .collect()
}

/// `text` with control characters shown escaped.
pub(super) fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use flowlog_incidents::Stage;

    use super::super::fixtures::{T0, detection, document};
    use super::*;

    #[test]
    fn attributes_name_stage_severity_kind_subject_rule_alert_and_rate() {
        let d = detection("203.0.113.7", 2000, 1, 0);
        let got: Vec<(&str, String)> = attributes(&document(&d, Stage::Started))
            .into_iter()
            .map(|(n, v)| (n, format!("{}:{}", v.data_type(), v.as_str())))
            .collect();
        assert_eq!(
            got,
            [
                ("stage", "String:STARTED".to_string()),
                ("severity", "String:HIGH".into()),
                ("kind", "String:source".into()),
                ("source_ip", "String:203.0.113.7".into()),
                ("rule", "String:syn-flood".into()),
                ("alert_id", format!("String:203.0.113.7@{T0}#1")),
                ("backfill", "String:false".into()),
                ("flows_per_minute", "Number:2000".into()),
                ("vpc_id", "String:vpc-0abc".into()),
            ]
        );
        let d = detection("203.0.113.7", 0, 1, 40);
        let target = attributes(&document(&d, Stage::Started));
        assert_eq!(
            target[3],
            ("target_ip", AttributeValue::String("10.0.0.5".into()))
        );
    }

    #[test]
    fn fifo_ids_are_printable_ascii_and_bounded() {
        assert_eq!(fifo_id("a b\u{e9}"), "a_b_");
        assert_eq!(fifo_id(&"x".repeat(500)).len(), MAX_FIFO_ID_CHARS);
        assert_eq!(printable("vpc-1\nx"), "vpc-1\\nx");
    }
}
