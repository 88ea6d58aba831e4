//! What a block or release is reported as: an SNS message to the alert topic (a subject, text
//! for e-mail, a `flowlog.response` JSON document for machines, message attributes that never
//! match the function's own subscription filter) with the exact command that undoes it by
//! hand. Pure.

use flowlog_core::IpNet;
use serde::Serialize;

use crate::firewall::Location;
use crate::registry::{Entry, Phase, ReleaseReason};

/// `type` of the document.
pub const DOCUMENT_TYPE: &str = "flowlog.response";

/// Version of the document's schema.
pub const DOCUMENT_VERSION: u32 = 1;

/// The `stage` attribute of every report: not STARTED or ENDED, so the function's own
/// subscription (filtered on those) never delivers its reports back to it.
pub const STAGE: &str = "RESPONSE";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The source was blocked (or, in a dry run, would be).
    Blocked,
    /// The block was released (or would be).
    Released,
    /// The source was not blocked: cap reached, firewall full or refusing.
    NotBlocked,
}

impl Action {
    /// `BLOCKED`, `RELEASED`, `NOT_BLOCKED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Blocked => "BLOCKED",
            Action::Released => "RELEASED",
            Action::NotBlocked => "NOT_BLOCKED",
        }
    }

    /// The action an entry's phase reports.
    pub fn of(entry: &Entry) -> Action {
        match entry.phase {
            Phase::Blocking | Phase::Blocked => Action::Blocked,
            Phase::Releasing | Phase::Released => Action::Released,
            Phase::Refused => Action::NotBlocked,
        }
    }
}

/// Where a report is from, besides the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// Where the block lives.
    pub location: Location,
    /// `waf` or `nacl`.
    pub response: &'static str,
    /// Nothing was changed.
    pub dry_run: bool,
    /// The block was there already (made by a crashed attempt, or by hand).
    pub already: bool,
    /// When this report was made (Unix seconds).
    pub at: i64,
    /// The topic is FIFO.
    pub fifo: bool,
}

/// The machine-readable report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseDocument<'a> {
    /// [`DOCUMENT_TYPE`].
    #[serde(rename = "type")]
    pub document_type: &'static str,
    /// [`DOCUMENT_VERSION`].
    pub version: u32,
    /// What happened.
    pub action: Action,
    /// Nothing was changed: this is what would have happened.
    pub dry_run: bool,
    /// `waf` or `nacl`.
    pub response: &'static str,
    /// The network blocked.
    #[serde(serialize_with = "crate::registry::text::serialize")]
    pub network: IpNet,
    /// The incident.
    pub incident_id: &'a str,
    /// The STARTED notice that asked for the block.
    pub alert_id: &'a str,
    /// The incident's severity.
    pub severity: &'static str,
    /// When the block was recorded (Unix seconds).
    pub since: i64,
    /// When it is released at the latest.
    pub expires_at: i64,
    /// Why it was released: `ended` or `timeout`.
    pub release_reason: Option<&'static str>,
    /// The ENDED notice that released it.
    pub ended_alert_id: Option<&'a str>,
    /// Why it was not blocked.
    pub refusal: Option<&'a str>,
    /// It was there already.
    pub already: bool,
    /// Where it lives.
    pub location: LocationDoc<'a>,
    /// The command that undoes this by hand (after a release or a refusal: that blocks by
    /// hand); in a dry run, the command that would do it.
    pub undo: String,
    /// One sentence.
    pub text: String,
    /// When this report was made.
    pub reported_at: i64,
}

/// [`Location`] as the document shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LocationDoc<'a> {
    /// A WAF IP set.
    Waf {
        /// Its scope.
        scope: &'static str,
        /// Its name.
        name: &'a str,
        /// Its id.
        id: &'a str,
        /// Its API's region.
        region: &'a str,
    },
    /// A network ACL.
    Nacl {
        /// Its id.
        acl_id: &'a str,
        /// The entry's rule number.
        rule_number: Option<i32>,
        /// Its region.
        region: &'a str,
    },
}

/// One SNS publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Under 100 characters, one line.
    pub subject: String,
    /// The `MessageStructure=json` object.
    pub message: String,
    /// String message attributes.
    pub attributes: Vec<(&'static str, String)>,
    /// FIFO group id (the network) and deduplication id (network, incident, action).
    pub fifo: Option<(String, String)>,
}

/// The `aws` command that adds (`add`) or removes `net` at `location`.
pub fn command(location: &Location, net: IpNet, add: bool) -> String {
    match location {
        Location::Waf {
            scope,
            name,
            id,
            region,
        } => {
            let op = if add { '+' } else { '-' };
            format!(
                "T=$(aws wafv2 get-ip-set --region {region} --scope {scope} --name {name} --id {id}) && \
                 aws wafv2 update-ip-set --region {region} --cli-input-json \"$(echo \"$T\" | jq \
                 '{{Scope: \"{scope}\", Name: .IPSet.Name, Id: .IPSet.Id, Description: .IPSet.Description, \
                 LockToken: .LockToken, Addresses: ((.IPSet.Addresses {op} [\"{net}\"]) | unique)}} | del(..|nulls)')\""
            )
        }
        Location::Nacl {
            acl_id,
            rule_number,
            region,
        } => {
            let number =
                rule_number.map_or_else(|| "<a free rule number>".to_owned(), |n| n.to_string());
            if add {
                let block = match net {
                    IpNet::V4(_) => "--cidr-block",
                    IpNet::V6(_) => "--ipv6-cidr-block",
                };
                format!(
                    "aws ec2 create-network-acl-entry --region {region} --network-acl-id {acl_id} \
                     --ingress --rule-number {number} --protocol -1 --rule-action deny {block} {net}"
                )
            } else {
                format!(
                    "aws ec2 delete-network-acl-entry --region {region} --network-acl-id {acl_id} \
                     --ingress --rule-number {number}"
                )
            }
        }
    }
}

fn where_text(location: &Location) -> String {
    match location {
        Location::Waf { scope, name, .. } => format!("WAF IP set {name} ({scope})"),
        Location::Nacl {
            acl_id,
            rule_number: Some(n),
            ..
        } => format!("network ACL {acl_id} (inbound rule {n})"),
        Location::Nacl { acl_id, .. } => format!("network ACL {acl_id}"),
    }
}

fn duration(secs: i64) -> String {
    match secs {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// The report of `entry`'s current phase.
pub fn build(entry: &Entry, ctx: &Context) -> Message {
    let action = Action::of(entry);
    let net = entry.network;
    let place = where_text(&ctx.location);
    let would = if ctx.dry_run { "would be " } else { "" };
    // A dry run shows the command that would do it; otherwise the one that undoes it.
    let undoing = !ctx.dry_run;
    let (undo, text, subject) = match action {
        Action::Blocked => (
            command(&ctx.location, net, !undoing),
            format!(
                "{net} {would}blocked in {place} for incident {}, until {} at the latest{}.",
                entry.incident_id,
                flowlog_core::utc(entry.expires_at),
                if ctx.already {
                    " (it was there already)"
                } else {
                    ""
                }
            ),
            format!(
                "[{}BLOCKED] {net} in {place} for {} ({})",
                if ctx.dry_run {
                    "DRY RUN: WOULD BE "
                } else {
                    ""
                },
                duration(entry.expires_at - entry.since),
                entry.severity.as_str()
            ),
        ),
        Action::Released => {
            let why = match &entry.release {
                Some(ReleaseReason::Ended { .. }) => "its incident ended",
                _ => "MAX_BLOCK_SECS passed",
            };
            (
                command(&ctx.location, net, undoing),
                format!(
                    "{net} {would}released from {place}: {why} (blocked since {}).",
                    flowlog_core::utc(entry.since)
                ),
                format!(
                    "[{}RELEASED] {net} from {place}: {why}",
                    if ctx.dry_run {
                        "DRY RUN: WOULD BE "
                    } else {
                        ""
                    }
                ),
            )
        }
        Action::NotBlocked => {
            let why = entry.refusal.as_deref().unwrap_or("refused");
            (
                command(&ctx.location, net, true),
                format!("{net} was not blocked in {place}: {why}."),
                format!("[NOT BLOCKED] {net}: see the message"),
            )
        }
    };
    let location = match &ctx.location {
        Location::Waf {
            scope,
            name,
            id,
            region,
        } => LocationDoc::Waf {
            scope,
            name,
            id,
            region,
        },
        Location::Nacl {
            acl_id,
            rule_number,
            region,
        } => LocationDoc::Nacl {
            acl_id,
            rule_number: *rule_number,
            region,
        },
    };
    let (release_reason, ended_alert_id) = match &entry.release {
        Some(ReleaseReason::Ended { alert_id }) if action == Action::Released => {
            (Some("ended"), Some(alert_id.as_str()))
        }
        Some(ReleaseReason::Timeout) if action == Action::Released => (Some("timeout"), None),
        _ => (None, None),
    };
    let document = ResponseDocument {
        document_type: DOCUMENT_TYPE,
        version: DOCUMENT_VERSION,
        action,
        dry_run: ctx.dry_run,
        response: ctx.response,
        network: net,
        incident_id: &entry.incident_id,
        alert_id: &entry.alert_id,
        severity: entry.severity.as_str(),
        since: entry.since,
        expires_at: entry.expires_at,
        release_reason,
        ended_alert_id,
        refusal: entry
            .refusal
            .as_deref()
            .filter(|_| action == Action::NotBlocked),
        already: ctx.already,
        location,
        undo: undo.clone(),
        text: text.clone(),
        reported_at: ctx.at,
    };
    let json = serde_json::to_string(&document).expect("the document serializes");
    let hand = match (action, ctx.dry_run) {
        (_, true) => "Nothing was changed (DRY_RUN). To do it by hand",
        (Action::Blocked, false) => "To undo it by hand",
        (Action::Released, false) => "To block it again by hand",
        (Action::NotBlocked, false) => "To block it by hand anyway",
    };
    let email = format!(
        "{text}\n\n{hand}:\n\n  {undo}\n\nIncident {}, alert {}, severity {}.\n",
        entry.incident_id,
        entry.alert_id,
        entry.severity.as_str()
    );
    let envelope = serde_json::json!({
        "default": text,
        "email": email,
        "sqs": json,
        "lambda": json,
        "http": json,
        "https": json,
        "email-json": json,
    });
    let attributes = vec![
        ("stage", STAGE.to_owned()),
        ("action", action.as_str().to_owned()),
        ("dry_run", ctx.dry_run.to_string()),
        ("response", ctx.response.to_owned()),
        ("severity", entry.severity.as_str().to_owned()),
        ("source_ip", net.to_string()),
        ("alert_id", entry.alert_id.clone()),
        ("incident_id", entry.incident_id.clone()),
    ];
    let fifo = ctx.fifo.then(|| {
        let dedup = format!("{net}-{}-{}", entry.incident_id, action.as_str());
        (
            net.to_string(),
            dedup
                .chars()
                .filter(char::is_ascii_graphic)
                .take(128)
                .collect(),
        )
    });
    Message {
        subject: subject.chars().take(99).collect(),
        message: envelope.to_string(),
        attributes,
        fifo,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Registry, Start, Step};
    use flowlog_core::Severity;

    const T0: i64 = 1_764_000_000;

    fn entry(phase: Phase) -> Entry {
        let mut r = Registry::default();
        let start = Start {
            network: "203.0.113.7/32".parse().unwrap(),
            incident_id: format!("203.0.113.7@{T0}"),
            alert_id: format!("203.0.113.7@{T0}#1"),
            severity: Severity::High,
        };
        let Step::Block(mut e) = r.start(&start, T0, 100, 3600) else {
            panic!()
        };
        e.phase = phase;
        e.rule_number = Some(7);
        e
    }

    fn ctx(location: Location, dry_run: bool) -> Context {
        Context {
            location,
            response: "nacl",
            dry_run,
            already: false,
            at: T0 + 5,
            fifo: false,
        }
    }

    fn nacl() -> Location {
        Location::Nacl {
            acl_id: "acl-0abc".into(),
            rule_number: Some(7),
            region: "eu-west-1".into(),
        }
    }

    #[test]
    fn a_block_report_says_where_until_when_and_the_exact_undo_command() {
        let m = build(&entry(Phase::Blocked), &ctx(nacl(), false));
        assert_eq!(
            m.subject,
            "[BLOCKED] 203.0.113.7/32 in network ACL acl-0abc (inbound rule 7) for 1 h (HIGH)"
        );
        let envelope: serde_json::Value = serde_json::from_str(&m.message).unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(envelope["lambda"].as_str().unwrap()).unwrap();
        assert_eq!(doc["type"], DOCUMENT_TYPE);
        assert_eq!(doc["action"], "blocked");
        assert_eq!(doc["network"], "203.0.113.7/32");
        assert_eq!(doc["location"]["kind"], "nacl");
        assert_eq!(doc["expires_at"], T0 + 3600);
        assert_eq!(
            doc["undo"],
            "aws ec2 delete-network-acl-entry --region eu-west-1 --network-acl-id acl-0abc --ingress --rule-number 7"
        );
        assert!(
            envelope["email"]
                .as_str()
                .unwrap()
                .contains("To undo it by hand")
        );
        assert!(m.attributes.contains(&("stage", "RESPONSE".into())));
        assert!(m.attributes.contains(&("action", "BLOCKED".into())));
        assert!(m.fifo.is_none());
    }

    #[test]
    fn a_waf_release_names_the_reason_and_the_command_to_block_again() {
        let mut e = entry(Phase::Released);
        e.release = Some(ReleaseReason::Timeout);
        let waf = Location::Waf {
            scope: "REGIONAL",
            name: "block-v4".into(),
            id: "abc".into(),
            region: "us-east-1".into(),
        };
        let m = build(&e, &ctx(waf, false));
        assert!(
            m.subject
                .starts_with("[RELEASED] 203.0.113.7/32 from WAF IP set block-v4")
        );
        let envelope: serde_json::Value = serde_json::from_str(&m.message).unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(envelope["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(doc["release_reason"], "timeout");
        let undo = doc["undo"].as_str().unwrap();
        assert!(undo.contains(
            "aws wafv2 get-ip-set --region us-east-1 --scope REGIONAL --name block-v4 --id abc"
        ));
        assert!(
            undo.contains("(.IPSet.Addresses + [\"203.0.113.7/32\"])"),
            "{undo}"
        );
    }

    #[test]
    fn a_dry_run_and_a_refusal_say_nothing_was_changed() {
        let m = build(&entry(Phase::Blocked), &ctx(nacl(), true));
        assert!(
            m.subject
                .starts_with("[DRY RUN: WOULD BE BLOCKED] 203.0.113.7/32")
        );
        assert!(m.attributes.contains(&("dry_run", "true".into())));
        let mut refused = entry(Phase::Refused);
        refused.refusal = Some("MAX_ENTRIES=2 sources are blocked already".into());
        let m = build(&refused, &ctx(nacl(), false));
        assert_eq!(m.subject, "[NOT BLOCKED] 203.0.113.7/32: see the message");
        let envelope: serde_json::Value = serde_json::from_str(&m.message).unwrap();
        assert!(
            envelope["default"]
                .as_str()
                .unwrap()
                .contains("MAX_ENTRIES=2")
        );
    }
}
