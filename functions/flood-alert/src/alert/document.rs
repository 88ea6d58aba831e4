//! The machine-readable alert: the finding as the core serialises it, with where it came from.

use serde::Serialize;

use super::{AlertContext, Flood};

/// `type` of the document.
pub const DOCUMENT_TYPE: &str = "flowlog.flood";

/// Version of the document's schema: 2 since findings name their target, rates and sentences
/// (and targets under attack from many sources became alerts of their own).
pub const DOCUMENT_VERSION: u32 = 2;

#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "type")]
    kind_of_document: &'static str,
    version: u32,
    /// `source` or `target`.
    kind: &'static str,
    #[serde(flatten)]
    flood: Flood<'a>,
    window_start_utc: String,
    object: &'a str,
    vpc_id: Option<&'a str>,
    account_id: Option<&'a str>,
    region: Option<&'a str>,
    detected_at: i64,
}

/// The document as JSON text.
pub(super) fn json(flood: Flood<'_>, ctx: &AlertContext) -> String {
    serde_json::to_string(&Document {
        kind_of_document: DOCUMENT_TYPE,
        version: DOCUMENT_VERSION,
        kind: flood.kind(),
        flood,
        window_start_utc: flowlog_core::utc(flood.window_start()),
        object: &ctx.object,
        vpc_id: ctx.vpc_id.as_deref(),
        account_id: ctx.account_id.as_deref(),
        region: ctx.region.as_deref(),
        detected_at: ctx.detected_at,
    })
    .expect("the document serializes: plain fields, string keys")
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::fixtures::{T0, context, detection};
    use super::*;

    #[test]
    fn a_source_document_carries_the_finding_and_its_context() {
        let d = detection("203.0.113.7", 2000, 3, 0);
        let doc: Value =
            serde_json::from_str(&json(Flood::Source(&d.floods[0]), &context())).unwrap();
        assert_eq!(
            (doc["type"].as_str(), doc["version"].as_u64()),
            (Some(DOCUMENT_TYPE), Some(2))
        );
        assert_eq!(doc["kind"], "source");
        assert_eq!(doc["source"], "203.0.113.7");
        assert_eq!(doc["rule"], "syn-flood");
        assert_eq!(doc["target"]["address"], "10.0.0.5");
        assert_eq!(doc["window_start"], T0);
        assert_eq!(doc["window_start_utc"], "2023-11-14T22:14:00Z");
        assert_eq!(doc["windows_flagged"], 3);
        assert!(
            doc["signals"]["half_open_per_minute"]["fired"]
                .as_bool()
                .unwrap()
        );
        assert!(
            doc["not_a_busy_client"]
                .as_str()
                .unwrap()
                .contains("busy client")
        );
        assert_eq!(doc["account_id"], "123456789012");
        assert_eq!(doc["detected_at"], T0 + 600);
    }

    #[test]
    fn a_target_document_lists_its_top_sources() {
        let d = detection("203.0.113.7", 0, 1, 40);
        let doc: Value =
            serde_json::from_str(&json(Flood::Target(&d.targets[0]), &context())).unwrap();
        assert_eq!(doc["kind"], "target");
        assert_eq!(doc["target"], "10.0.0.5");
        assert_eq!(doc["rule"], "distributed-syn-flood");
        assert_eq!(doc["top_sources"].as_array().unwrap().len(), 5);
        assert!(doc["distinct_sources"]["value"].as_u64().unwrap() >= 30);
    }
}
