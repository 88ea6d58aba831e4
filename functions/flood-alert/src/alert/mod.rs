//! One flood finding as one SNS alert: a short subject, a per-protocol message for
//! `MessageStructure=json` (readable text for email, a JSON document for machines), message
//! attributes for subscription filter policies, and FIFO ids.
//!
//! Pure: no AWS types and no I/O. A finding's evidence is capped by the core (a handful of
//! ports, destinations and sources, sentences of bounded length), so an alert stays far below
//! the SNS limit ([`MAX_MESSAGE_BYTES`]) whatever the traffic; a test holds the worst case to it.

mod attributes;
mod document;
mod email;
mod subject;

use flowlog_core::{Finding, Rate, Rule, Severity, Signal, TargetFinding};
use serde::Serialize;

pub use attributes::AttributeValue;

/// The SNS limit on one published message, body and message attributes together (256 KiB).
pub const MAX_MESSAGE_BYTES: usize = 262_144;

/// A flooding source or a target under attack: what one alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Flood<'a> {
    /// One source flooding.
    Source(&'a Finding),
    /// One target flooded by many sources.
    Target(&'a TargetFinding),
}

impl Flood<'_> {
    /// Who the alert is about, as FIFO group ids and the alert state know it: the source
    /// (`203.0.113.7`, `2001:db8:1:2::/64`) or `target-` and the target's address.
    pub fn key(&self) -> String {
        match self {
            Flood::Source(f) => f.source.to_string(),
            Flood::Target(t) => format!("target-{}", t.target),
        }
    }

    /// `source` or `target`.
    pub fn kind(&self) -> &'static str {
        match self {
            Flood::Source(_) => "source",
            Flood::Target(_) => "target",
        }
    }

    /// The flood's shape.
    pub fn rule(&self) -> Rule {
        match self {
            Flood::Source(f) => f.rule,
            Flood::Target(t) => t.rule,
        }
    }

    /// How urgent it is.
    pub fn severity(&self) -> Severity {
        match self {
            Flood::Source(f) => f.severity,
            Flood::Target(t) => t.severity,
        }
    }

    /// Start of the worst minute.
    pub fn window_start(&self) -> i64 {
        match self {
            Flood::Source(f) => f.window_start,
            Flood::Target(t) => t.window_start,
        }
    }

    fn rate(&self) -> &Rate {
        match self {
            Flood::Source(f) => &f.rate,
            Flood::Target(t) => &t.rate,
        }
    }

    fn reason(&self) -> &str {
        match self {
            Flood::Source(f) => &f.reason,
            Flood::Target(t) => &t.reason,
        }
    }

    fn not_a_busy_client(&self) -> &str {
        match self {
            Flood::Source(f) => &f.not_a_busy_client,
            Flood::Target(t) => &t.not_a_busy_client,
        }
    }

    fn signals(&self) -> &std::collections::BTreeMap<String, Signal> {
        match self {
            Flood::Source(f) => &f.signals,
            Flood::Target(t) => &t.signals,
        }
    }

    fn windows(&self) -> (usize, i64, i64) {
        match self {
            Flood::Source(f) => (f.windows_flagged, f.first_start, f.last_end),
            Flood::Target(t) => (t.windows_flagged, t.first_start, t.last_end),
        }
    }

    fn skipdata_records(&self) -> u64 {
        match self {
            Flood::Source(f) => f.skipdata_records,
            Flood::Target(t) => t.skipdata_records,
        }
    }
}

/// Where and when a finding was made: what the alert says besides the finding itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertContext {
    /// The flow-log object the finding came from, as `s3://bucket/key`.
    pub object: String,
    /// The VPC the flow log belongs to, when known.
    pub vpc_id: Option<String>,
    /// The AWS account of the flow log, when known.
    pub account_id: Option<String>,
    /// The region of the flow log, when known.
    pub region: Option<String>,
    /// Whether the topic is a FIFO topic (the alert then carries a group and deduplication id).
    pub fifo: bool,
    /// When the finding was made (Unix seconds).
    pub detected_at: i64,
}

/// Everything one SNS `Publish` of a flood alert needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Subject (email subject line): under 100 characters, no line breaks or control characters.
    pub subject: String,
    /// A JSON object of per-protocol messages, for `MessageStructure=json`.
    pub message: String,
    /// Message attributes for subscription filter policies, by name.
    pub attributes: Vec<(&'static str, AttributeValue)>,
    /// FIFO message group id (who the alert is about); `None` for a standard topic.
    pub group_id: Option<String>,
    /// FIFO deduplication id, stable for the same alert; `None` for a standard topic.
    pub dedup_id: Option<String>,
}

impl Alert {
    /// Bytes SNS counts against [`MAX_MESSAGE_BYTES`]: the message plus every attribute's name,
    /// data type and value.
    pub fn size_bytes(&self) -> usize {
        self.message.len()
            + self
                .attributes
                .iter()
                .map(|(name, value)| name.len() + value.data_type().len() + value.as_str().len())
                .sum::<usize>()
    }
}

/// The `MessageStructure=json` object: one message per protocol.
#[derive(Serialize)]
struct Envelope<'a> {
    default: &'a str,
    email: &'a str,
    sqs: &'a str,
    lambda: &'a str,
    http: &'a str,
    https: &'a str,
    #[serde(rename = "email-json")]
    email_json: &'a str,
}

/// Builds the alert for one flood.
pub fn build_alert(flood: Flood<'_>, ctx: &AlertContext) -> Alert {
    let document = document::json(flood, ctx);
    let email = email::text(flood, ctx);
    let default = subject::one_line(flood);
    let message = serde_json::to_string(&Envelope {
        default: &default,
        email: &email,
        sqs: &document,
        lambda: &document,
        http: &document,
        https: &document,
        email_json: &document,
    })
    .expect("the envelope serializes: strings only");
    let (group_id, dedup_id) = if ctx.fifo {
        let (group, dedup) = attributes::fifo_ids(flood);
        (Some(group), Some(dedup))
    } else {
        (None, None)
    };
    Alert {
        subject: subject::subject(flood),
        message,
        attributes: attributes::attributes(flood, ctx),
        group_id,
        dedup_id,
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Findings made by the core itself from hand-written records.

    use std::fmt::Write as _;

    use flowlog_core::{
        AggregateOptions, Aggregator, Detection, FloodRules, ScanOptions, detect, scan,
    };

    use super::AlertContext;

    const HEADER: &str = "interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action tcp-flags flow-direction pkt-srcaddr pkt-dstaddr log-status";
    /// 2023-11-14T22:14:00Z.
    pub(crate) const T0: i64 = 1_700_000_040;

    /// `per_minute` SYNs a minute for `minutes` from `source` to 10.0.0.5:443, and as many
    /// from each of `botnet` sources at 200 a minute.
    pub(crate) fn detection(source: &str, per_minute: u32, minutes: i64, botnet: u32) -> Detection {
        let mut text = format!("{HEADER}\n");
        for m in 0..minutes {
            for i in 0..per_minute {
                let t = T0 + m * 60 + i64::from(i % 59);
                let _ = writeln!(
                    text,
                    "eni-1 {source} 10.0.0.5 {} 443 6 1 44 {t} {} ACCEPT 2 ingress {source} 10.0.0.5 OK",
                    20000 + i,
                    t + 1
                );
            }
            for b in 0..botnet {
                for i in 0..200 {
                    let t = T0 + m * 60 + i64::from(i % 59);
                    let _ = writeln!(
                        text,
                        "eni-1 198.51.{}.{} 10.0.0.5 {} 443 6 1 44 {t} {} ACCEPT 2 ingress - - OK",
                        100 + b / 250,
                        b % 250,
                        20000 + i,
                        t + 1
                    );
                }
            }
        }
        let mut aggregator = Aggregator::new(AggregateOptions::default());
        scan(text.as_bytes(), &ScanOptions::default(), &mut aggregator).expect("scans");
        detect(&aggregator, &FloodRules::default())
    }

    pub(crate) fn context() -> AlertContext {
        AlertContext {
            object: "s3://flow-logs/AWSLogs/123456789012/vpcflowlogs/us-east-1/2023/11/14/x.log.gz"
                .into(),
            vpc_id: Some("vpc-0abc".into()),
            account_id: Some("123456789012".into()),
            region: Some("us-east-1".into()),
            fifo: false,
            detected_at: T0 + 600,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::fixtures::{context, detection};
    use super::*;

    #[test]
    fn the_message_has_a_text_for_people_and_the_document_for_machines() {
        let d = detection("203.0.113.7", 2000, 3, 0);
        let alert = build_alert(Flood::Source(&d.floods[0]), &context());
        let envelope: Value = serde_json::from_str(&alert.message).unwrap();
        for key in [
            "default",
            "email",
            "sqs",
            "lambda",
            "http",
            "https",
            "email-json",
        ] {
            assert!(envelope[key].is_string(), "{key}");
        }
        for key in ["sqs", "lambda", "http", "https", "email-json"] {
            assert_eq!(envelope[key], envelope["sqs"], "{key} carries the document");
        }
        let doc: Value = serde_json::from_str(envelope["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(doc["source"], "203.0.113.7");
        assert!(envelope["email"].as_str().unwrap().contains("203.0.113.7"));
        assert_eq!(alert.group_id, None);
    }

    #[test]
    fn fifo_topics_get_stable_ids_per_subject_and_window() {
        let d = detection("203.0.113.7", 2000, 3, 0);
        let ctx = AlertContext {
            fifo: true,
            ..context()
        };
        let a = build_alert(Flood::Source(&d.floods[0]), &ctx);
        let b = build_alert(
            Flood::Source(&d.floods[0]),
            &AlertContext {
                detected_at: 1,
                ..ctx
            },
        );
        assert_eq!(a.group_id.as_deref(), Some("203.0.113.7"));
        assert_eq!(
            a.dedup_id, b.dedup_id,
            "the same finding later is the same alert"
        );
        assert!(a.dedup_id.unwrap().starts_with("203.0.113.7-syn-flood-"));
    }

    #[test]
    fn the_largest_possible_alert_is_far_below_the_sns_limit() {
        // The longest addresses, an object key of S3's maximum 1,024 bytes, every evidence list
        // full: the core caps what a finding carries.
        let d = detection("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 3000, 5, 40);
        let ctx = AlertContext {
            object: format!("s3://{}/{}", "b".repeat(63), "k".repeat(1024)),
            vpc_id: Some("v".repeat(64)),
            account_id: Some("1".repeat(12)),
            region: Some("r".repeat(32)),
            fifo: true,
            detected_at: 0,
        };
        let largest = d
            .floods
            .iter()
            .map(|f| build_alert(Flood::Source(f), &ctx))
            .chain(
                d.targets
                    .iter()
                    .map(|t| build_alert(Flood::Target(t), &ctx)),
            )
            .map(|a| a.size_bytes())
            .max()
            .unwrap();
        assert!(largest < MAX_MESSAGE_BYTES / 8, "{largest} bytes");
    }
}
