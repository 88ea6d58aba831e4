//! Notices for the unit tests, made from the sample events (so the samples stay valid).

use flowlog_core::{Rate, Rule, Severity, Source, TargetFinding};
use flowlog_incidents::{AlertDocument, FloodFinding, Kind, Stage};

const STARTED: &str = include_str!("../../../events/response/sns-started.json");
const ENDED: &str = include_str!("../../../events/response/sns-ended.json");

fn sample(text: &str) -> AlertDocument {
    let event: serde_json::Value = serde_json::from_str(text).expect("sample JSON");
    let message = event["Records"][0]["Sns"]["Message"]
        .as_str()
        .expect("sample message");
    AlertDocument::parse(message).expect("sample document")
}

/// `doc` about `source` (its ids follow).
fn about(mut doc: AlertDocument, source: &str) -> AlertDocument {
    let parsed: Source = source.parse().expect("a source");
    doc.subject = parsed.to_string();
    doc.incident_id = format!("{parsed}@{}", doc.opened);
    doc.alert_id = format!("{}#{}", doc.incident_id, doc.seq);
    if let FloodFinding::Source(f) = &mut doc.finding {
        f.source = parsed;
    }
    doc
}

/// A STARTED notice about `source` at `severity`.
pub fn started(source: &str, severity: Severity) -> AlertDocument {
    let mut doc = about(sample(STARTED), source);
    if let FloodFinding::Source(f) = &mut doc.finding {
        f.severity = severity;
    }
    doc
}

/// The ENDED notice of [`started`]'s incident.
pub fn ended(source: &str) -> AlertDocument {
    about(sample(ENDED), source)
}

/// A STARTED notice about a target attacked by many sources.
pub fn target_started(target: &str) -> AlertDocument {
    let mut doc = sample(STARTED);
    doc.kind = Kind::Target;
    doc.stage = Stage::Started;
    doc.subject = format!("target-{target}");
    doc.finding = FloodFinding::Target(TargetFinding {
        target: target.parse().expect("an address"),
        port: Some(443),
        rule: Rule::SynFlood,
        severity: Severity::High,
        window_start: doc.opened,
        rate: Rate {
            flows_per_minute: 30_000,
            connections_per_minute: 0,
            half_open_per_minute: 30_000,
            packets_per_second: 500.0,
            bits_per_second: 240_000.0,
        },
        packets: 30_000,
        bytes: 1_800_000,
        distinct_sources: flowlog_core::Bound::at_least(50),
        top_sources: Vec::new(),
        flagged_sources: Vec::new(),
        signals: Default::default(),
        reason: String::new(),
        not_a_busy_client: String::new(),
        windows_flagged: 1,
        flagged: Vec::new(),
        first_start: doc.opened,
        last_end: doc.opened + 60,
        skipdata_records: 0,
    });
    doc
}
