//! One incident notice as one SNS alert: a short subject, a per-protocol message for
//! `MessageStructure=json` (readable text for email, the [`AlertDocument`] for machines),
//! message attributes for subscription filter policies (`stage` among them), and FIFO ids.
//!
//! Pure: no AWS types and no I/O. A finding's evidence is capped by the core (a handful of
//! ports, destinations and sources, sentences of bounded length), so an alert stays far below
//! the SNS limit ([`MAX_MESSAGE_BYTES`]) whatever the traffic; a test holds the worst case to it.

mod attributes;
mod email;
mod subject;

use flowlog_core::{Finding, Rate, Rule, Severity, Signal, TargetFinding};
use flowlog_incidents::{AlertDocument, FloodFinding};
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

impl<'a> From<&'a FloodFinding> for Flood<'a> {
    fn from(finding: &'a FloodFinding) -> Flood<'a> {
        match finding {
            FloodFinding::Source(f) => Flood::Source(f),
            FloodFinding::Target(t) => Flood::Target(t),
        }
    }
}

impl Flood<'_> {
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

/// Builds the alert for one notice; `fifo` when the topic is a FIFO topic (the alert then
/// carries a group and deduplication id).
pub fn build_alert(doc: &AlertDocument, fifo: bool) -> Alert {
    let document = doc.to_json();
    let email = email::text(doc);
    let default = subject::one_line(doc);
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
    let (group_id, dedup_id) = if fifo {
        let (group, dedup) = attributes::fifo_ids(doc);
        (Some(group), Some(dedup))
    } else {
        (None, None)
    };
    Alert {
        subject: subject::subject(doc),
        message,
        attributes: attributes::attributes(doc),
        group_id,
        dedup_id,
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Findings made by the core itself from hand-written records.

    use std::fmt::Write as _;

    use std::collections::BTreeMap;

    use flowlog_core::{
        AggregateOptions, Aggregator, Detection, FloodRules, ScanOptions, detect, scan,
    };
    use flowlog_incidents::{AlertDocument, Origin, Policy, Stage, plan};

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

    /// The notice `stage` of an incident made by the lifecycle itself from `detection(...)`.
    pub(crate) fn document(detection: &Detection, stage: Stage) -> AlertDocument {
        let policy = Policy::default();
        let started = plan(&BTreeMap::new(), detection, T0 + 600, &policy);
        let mut change = started[0].clone();
        if stage == Stage::Ended {
            let known = BTreeMap::from([(change.after.subject.clone(), change.after.clone())]);
            change = plan(&known, &Detection::default(), T0 + 7200, &policy)[0].clone();
        }
        let notice = change.notice.expect("each step notifies");
        assert_eq!(notice.stage, stage);
        AlertDocument::new(&change.after, &notice, origin())
    }

    pub(crate) fn origin() -> Origin {
        Origin {
            vpc_id: Some("vpc-0abc".into()),
            account_id: Some("123456789012".into()),
            region: Some("us-east-1".into()),
            detected_at: T0 + 600,
            backfill: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use flowlog_incidents::Stage;
    use serde_json::Value;

    use super::fixtures::{detection, document};
    use super::*;

    #[test]
    fn the_message_has_a_text_for_people_and_the_document_for_machines() {
        let doc = document(&detection("203.0.113.7", 2000, 3, 0), Stage::Started);
        let alert = build_alert(&doc, false);
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
        let parsed = AlertDocument::parse(envelope["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(parsed.to_json(), doc.to_json(), "rates are written rounded");
        assert!(envelope["email"].as_str().unwrap().contains("203.0.113.7"));
        assert_eq!(alert.group_id, None);
    }

    #[test]
    fn fifo_topics_group_by_subject_and_deduplicate_by_alert_id() {
        let d = detection("203.0.113.7", 2000, 3, 0);
        let started = build_alert(&document(&d, Stage::Started), true);
        let again = build_alert(&document(&d, Stage::Started), true);
        let ended = build_alert(&document(&d, Stage::Ended), true);
        assert_eq!(started.group_id.as_deref(), Some("203.0.113.7"));
        assert_eq!(
            started.dedup_id, again.dedup_id,
            "the same notice is the same message"
        );
        assert_ne!(started.dedup_id, ended.dedup_id);
        assert_eq!(ended.group_id, started.group_id);
        assert!(started.dedup_id.unwrap().ends_with("#1"));
    }

    #[test]
    fn the_largest_possible_alert_is_far_below_the_sns_limit() {
        // The longest addresses and every evidence list full: the core caps what a finding
        // carries, the incident what it keeps.
        let d = detection("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 3000, 5, 40);
        let mut largest = 0;
        for finding in flowlog_incidents::FloodFinding::all(&d) {
            let one = flowlog_core::Detection {
                floods: match &finding {
                    flowlog_incidents::FloodFinding::Source(f) => vec![f.clone()],
                    flowlog_incidents::FloodFinding::Target(_) => Vec::new(),
                },
                targets: match &finding {
                    flowlog_incidents::FloodFinding::Target(t) => vec![t.clone()],
                    flowlog_incidents::FloodFinding::Source(_) => Vec::new(),
                },
            };
            let mut doc = document(&one, Stage::Started);
            doc.origin.vpc_id = Some("v".repeat(64));
            doc.origin.region = Some("r".repeat(32));
            largest = largest.max(build_alert(&doc, true).size_bytes());
        }
        assert!(largest < MAX_MESSAGE_BYTES / 8, "{largest} bytes");
    }
}
