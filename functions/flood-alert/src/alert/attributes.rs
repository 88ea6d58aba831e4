//! Message attributes for subscription filter policies, and FIFO ids.

use super::{AlertContext, Flood};

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

/// `severity`, `kind` (`source`/`target`), `source_ip` or `target_ip`, `rule`,
/// `flows_per_minute` and, when known, `vpc_id`: six of the ten SQS raw delivery passes on.
pub(super) fn attributes(
    flood: Flood<'_>,
    ctx: &AlertContext,
) -> Vec<(&'static str, AttributeValue)> {
    let who = match flood {
        Flood::Source(f) => ("source_ip", AttributeValue::String(f.source.to_string())),
        Flood::Target(t) => ("target_ip", AttributeValue::String(t.target.to_string())),
    };
    let mut attributes = vec![
        (
            "severity",
            AttributeValue::String(flood.severity().as_str().into()),
        ),
        ("kind", AttributeValue::String(flood.kind().into())),
        who,
        ("rule", AttributeValue::String(flood.rule().as_str().into())),
        (
            "flows_per_minute",
            AttributeValue::Number(flood.rate().flows_per_minute.to_string()),
        ),
    ];
    if let Some(vpc) = ctx.vpc_id.as_deref().filter(|v| !v.trim().is_empty()) {
        attributes.push(("vpc_id", AttributeValue::String(printable(vpc))));
    }
    attributes
}

/// Group id: who the alert is about. Deduplication id: who, rule and worst minute, so the same
/// finding made again (a redelivered object) is the same message.
pub(super) fn fifo_ids(flood: Flood<'_>) -> (String, String) {
    let key = flood.key();
    let dedup = format!("{key}-{}-{}", flood.rule(), flood.window_start());
    (fifo_id(&key), fifo_id(&dedup))
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
    use super::super::fixtures::{context, detection};
    use super::*;

    #[test]
    fn attributes_name_severity_kind_subject_rule_and_rate() {
        let d = detection("203.0.113.7", 2000, 1, 0);
        let got: Vec<(&str, String)> = attributes(Flood::Source(&d.floods[0]), &context())
            .into_iter()
            .map(|(n, v)| (n, format!("{}:{}", v.data_type(), v.as_str())))
            .collect();
        assert_eq!(
            got,
            [
                ("severity", "String:HIGH".to_string()),
                ("kind", "String:source".into()),
                ("source_ip", "String:203.0.113.7".into()),
                ("rule", "String:syn-flood".into()),
                ("flows_per_minute", "Number:2000".into()),
                ("vpc_id", "String:vpc-0abc".into()),
            ]
        );
        let d = detection("203.0.113.7", 0, 1, 40);
        let target = attributes(Flood::Target(&d.targets[0]), &context());
        assert_eq!(
            target[2],
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
