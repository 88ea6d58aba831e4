//! The machine-readable notice: what subscribers (people's tools, `flood-response`) parse from
//! the alert topic's messages. Serialises and deserialises: the producer and every consumer in
//! this workspace share this one type.

use serde::{Deserialize, Serialize};

use crate::flood::FloodFinding;
use crate::incident::{Figures, Incident, Kind, Notice, Peak, Stage};

/// `type` of the document.
pub const DOCUMENT_TYPE: &str = "flowlog.flood";

/// Version of the schema: 3 since notices belong to incidents (stage, sequence number, stable
/// alert id, totals); 2 named targets and rates; 1 was one finding per object.
pub const DOCUMENT_VERSION: u32 = 3;

/// Where the verdict came from, for the document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The VPC whose flow logs these are, when known.
    pub vpc_id: Option<String>,
    /// The account delivering them, when known.
    pub account_id: Option<String>,
    /// Their region, when known.
    pub region: Option<String>,
    /// When the verdict was reached (Unix seconds).
    pub detected_at: i64,
    /// The flood is in the past (a backfill): for the record, never paged as current.
    pub backfill: bool,
}

/// One notice about one incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertDocument {
    /// Always [`DOCUMENT_TYPE`].
    #[serde(rename = "type")]
    pub document_type: String,
    /// [`DOCUMENT_VERSION`].
    pub version: u32,
    /// Stable across redeliveries: `<incident id>#<seq>`.
    pub alert_id: String,
    /// `<subject>@<first flagged minute>`.
    pub incident_id: String,
    /// STARTED, ONGOING or ENDED.
    pub stage: Stage,
    /// The notice's number within the incident (1 for STARTED).
    pub seq: u32,
    /// Source or target.
    pub kind: Kind,
    /// Who it is about: a source address, an IPv6 /64, or `target-<address>`.
    pub subject: String,
    /// Start of the first flagged minute (Unix seconds).
    pub opened: i64,
    /// `opened` in RFC 3339.
    pub opened_utc: String,
    /// Start of the last flagged minute.
    pub last_active: i64,
    /// When it was declared over, for ENDED.
    pub ended_at: Option<i64>,
    /// From the first flagged minute to the end of the last.
    pub duration_secs: i64,
    /// The worst minute.
    pub peak: Peak,
    /// Summed over the flagged minutes.
    pub totals: Figures,
    /// The latest finding, with its evidence.
    pub finding: FloodFinding,
    /// Where it came from.
    #[serde(flatten)]
    pub origin: Origin,
}

impl AlertDocument {
    /// The document of `notice` about `incident`.
    pub fn new(incident: &Incident, notice: &Notice, origin: Origin) -> AlertDocument {
        AlertDocument {
            document_type: DOCUMENT_TYPE.to_owned(),
            version: DOCUMENT_VERSION,
            alert_id: notice.alert_id.clone(),
            incident_id: incident.id.clone(),
            stage: notice.stage,
            seq: notice.seq,
            kind: incident.kind,
            subject: incident.subject.clone(),
            opened: incident.opened,
            opened_utc: flowlog_core::utc(incident.opened),
            last_active: incident.last_active,
            ended_at: incident.ended_at,
            duration_secs: incident.duration_secs(),
            peak: incident.peak,
            totals: incident.totals(),
            finding: incident.finding.clone(),
            origin,
        }
    }

    /// Parses a document, refusing other types and newer versions.
    pub fn parse(text: &str) -> Result<AlertDocument, DocumentError> {
        let doc: AlertDocument =
            serde_json::from_str(text).map_err(|e| DocumentError::Malformed(e.to_string()))?;
        if doc.document_type != DOCUMENT_TYPE {
            return Err(DocumentError::NotAFloodAlert(doc.document_type));
        }
        if doc.version != DOCUMENT_VERSION {
            return Err(DocumentError::Version(doc.version));
        }
        Ok(doc)
    }

    /// The document as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("the document serializes: plain fields, string keys")
    }
}

/// A message that is not a notice this code understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// Not JSON of the document's shape.
    #[error("not a flood alert document: {0}")]
    Malformed(String),
    /// Another document type.
    #[error("document type {0:?}, expected {DOCUMENT_TYPE:?}")]
    NotAFloodAlert(String),
    /// Another schema version.
    #[error("document version {0}, this build reads version {DOCUMENT_VERSION}")]
    Version(u32),
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::plan::tests::{T0, verdict};
    use crate::{Policy, plan};

    fn started() -> AlertDocument {
        let changes = plan(
            &BTreeMap::new(),
            &verdict(&[0, 1]),
            T0 + 1300,
            &Policy::default(),
        );
        let c = &changes[0];
        let origin = Origin {
            account_id: Some("123456789012".into()),
            detected_at: T0 + 1300,
            ..Origin::default()
        };
        AlertDocument::new(&c.after, c.notice.as_ref().unwrap(), origin)
    }

    #[test]
    fn a_document_round_trips_and_names_its_incident_stage_and_subject() {
        let doc = started();
        let json = doc.to_json();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["type"], DOCUMENT_TYPE);
        assert_eq!(value["version"], 3);
        assert_eq!(value["stage"], "STARTED");
        assert_eq!(value["kind"], "source");
        assert_eq!(value["subject"], "203.0.113.7");
        assert_eq!(value["alert_id"], format!("203.0.113.7@{T0}#1"));
        assert_eq!(value["finding"]["source"], "203.0.113.7");
        assert_eq!(value["totals"]["minutes"], 2);
        assert_eq!(value["account_id"], "123456789012");
        assert_eq!(AlertDocument::parse(&json).unwrap(), doc);
    }

    #[test]
    fn other_documents_are_refused_with_the_reason() {
        let mut doc = started();
        doc.version = 2;
        assert_eq!(
            AlertDocument::parse(&doc.to_json()),
            Err(DocumentError::Version(2))
        );
        doc.version = DOCUMENT_VERSION;
        doc.document_type = "other".into();
        assert!(matches!(
            AlertDocument::parse(&doc.to_json()),
            Err(DocumentError::NotAFloodAlert(_))
        ));
        assert!(matches!(
            AlertDocument::parse("{}"),
            Err(DocumentError::Malformed(_))
        ));
    }

    #[test]
    fn a_flood_of_a_whole_day_keeps_its_notice_small() {
        let mut detection = verdict(&[0]);
        let flagged = detection.floods[0].flagged[0];
        detection.floods[0].flagged = (0..1440)
            .map(|m| flowlog_core::FlaggedMinute {
                start: T0 + m * 60,
                ..flagged
            })
            .collect();
        let changes = plan(
            &BTreeMap::new(),
            &detection,
            T0 + 90_000,
            &Policy::default(),
        );
        let c = &changes[0];
        assert_eq!(
            c.after.totals().minutes,
            1440,
            "the incident counts every minute"
        );
        let doc = AlertDocument::new(&c.after, c.notice.as_ref().unwrap(), Origin::default());
        match &doc.finding {
            FloodFinding::Source(f) => {
                assert_eq!(f.flagged.len(), crate::FLAGGED_IN_FINDING);
                assert_eq!(
                    f.flagged.last().unwrap().start,
                    T0 + 1439 * 60,
                    "the latest kept"
                );
            }
            FloodFinding::Target(_) => panic!("a source finding"),
        }
        assert!(
            doc.to_json().len() < 16 * 1024,
            "{} bytes",
            doc.to_json().len()
        );
    }
}
