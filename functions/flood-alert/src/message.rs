//! One flood [`Finding`] as one SNS alert: a short subject, a per-protocol message for
//! `MessageStructure=json` (readable text for email, a JSON document for machines), message
//! attributes for subscription filter policies, and FIFO ids.
//!
//! Pure: no AWS types and no I/O. The whole message always stays within the SNS size limit;
//! oversized evidence is trimmed and the trimming is marked.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::IpAddr;

use flowlog_core::utc;
use flowlog_core::{DestinationCount, Finding, PortCount, Severity, Signal, Signals, WINDOW_SECS};
use serde::Serialize;

/// The SNS limit on one published message, body and message attributes together (256 KiB).
pub const MAX_MESSAGE_BYTES: usize = 262_144;

/// SNS subjects must be shorter than 100 characters.
const MAX_SUBJECT_CHARS: usize = 99;

/// Longest FIFO message group id and deduplication id.
const MAX_FIFO_ID_CHARS: usize = 128;

/// Evidence entries per list kept before free text is shortened.
const KEEP_EVIDENCE: usize = 5;

/// The line the email text carries when anything was trimmed.
const TRUNCATION_MARKER: &str = "… evidence truncated to fit the 256 KiB SNS limit";

/// `type` of the machine-readable document.
const DOCUMENT_TYPE: &str = "flowlog.flood";

/// Version of the machine-readable document's schema.
const DOCUMENT_VERSION: u32 = 1;

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

/// Everything one SNS `Publish` of a flood alert needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Subject (email subject line): under 100 characters, no line breaks or control characters.
    pub subject: String,
    /// A JSON object of per-protocol messages, for `MessageStructure=json`.
    pub message: String,
    /// Message attributes for subscription filter policies, by name.
    pub attributes: Vec<(&'static str, AttributeValue)>,
    /// FIFO message group id (the source address); `None` for a standard topic.
    pub group_id: Option<String>,
    /// FIFO deduplication id, stable for the same alert; `None` for a standard topic.
    pub dedup_id: Option<String>,
}

impl Alert {
    /// Bytes SNS counts against [`MAX_MESSAGE_BYTES`]: the message plus every attribute's name,
    /// data type and value.
    pub fn size_bytes(&self) -> usize {
        body_size(&self.message, &self.attributes)
    }
}

/// Builds the alert for `finding`, trimmed if need be to fit [`MAX_MESSAGE_BYTES`].
pub fn build_alert(finding: &Finding, ctx: &AlertContext) -> Alert {
    let (group_id, dedup_id) = if ctx.fifo {
        (
            Some(fifo_id(&finding.source.to_string())),
            Some(fifo_id(&format!(
                "{}-{}-{}",
                finding.source, finding.rule, finding.window_start
            ))),
        )
    } else {
        (None, None)
    };
    let body = fit(finding, ctx);
    Alert {
        subject: subject(finding),
        message: body.message,
        attributes: body.attributes,
        group_id,
        dedup_id,
    }
}

// ---------------------------------------------------------------------------------------------
// Subject

/// `[FLOOD] 203.0.113.7 2.1k flows/min SYN 98% HIGH`.
fn subject(finding: &Finding) -> String {
    let mut subject = format!(
        "[FLOOD] {} {} flows/min",
        finding.source,
        compact(finding.flows)
    );
    if let Some(shape) = shape(finding) {
        subject.push(' ');
        subject.push_str(&shape);
    }
    if finding.severity == Severity::High && subject.chars().count() + 5 <= MAX_SUBJECT_CHARS {
        subject.push_str(" HIGH");
    }
    subject
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_SUBJECT_CHARS)
        .collect()
}

/// The strongest shape of the flood in a few characters: `SYN 98%`, `REJ 91%`, `250 ports`, …
fn shape(finding: &Finding) -> Option<String> {
    let s = &finding.signals;
    let syn = || format!("SYN {}", percent(s.syn_only_share.value));
    let rej = || format!("REJ {}", percent(s.reject_share.value));
    let ports = || format!("{} ports", whole(s.distinct_ports.value));
    match finding.rule {
        "syn-flood" => Some(syn()),
        "rejected-flood" => Some(rej()),
        "port-scan" => Some(ports()),
        "udp-flood" => Some("UDP".into()),
        "icmp-flood" => Some("ICMP".into()),
        _ => {
            if s.syn_only_share.fired {
                Some(syn())
            } else if s.reject_share.fired {
                Some(rej())
            } else if s.distinct_ports.fired {
                Some(ports())
            } else if s.packets_per_flow.fired {
                Some(format!("{:.1} pkts/flow", s.packets_per_flow.value))
            } else {
                None
            }
        }
    }
}

/// A count in at most five characters: `950`, `2.1k`, `12k`, `1.2M` (rounded down).
fn compact(n: u64) -> String {
    const UNITS: [char; 6] = ['k', 'M', 'G', 'T', 'P', 'E'];
    if n < 1000 {
        return n.to_string();
    }
    let (mut scale, mut unit) = (1000_u64, 0);
    while n / scale >= 1000 && unit + 1 < UNITS.len() {
        scale *= 1000;
        unit += 1;
    }
    let (whole, tenth) = (n / scale, n % scale * 10 / scale);
    if whole >= 10 || tenth == 0 {
        format!("{whole}{}", UNITS[unit])
    } else {
        format!("{whole}.{tenth}{}", UNITS[unit])
    }
}

/// A share as a whole percentage: `98%`.
fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// A non-negative measurement as a whole number.
fn whole(value: f64) -> u64 {
    value.round() as u64
}

/// `1234567` → `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// FIFO ids

/// An id SNS FIFO accepts: printable ASCII only (others become `_`), at most 128 characters.
fn fifo_id(raw: &str) -> String {
    raw.chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(MAX_FIFO_ID_CHARS)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Fitting the size limit

/// How much of the finding an attempt keeps.
#[derive(Debug, Clone, Copy)]
struct Trim {
    /// Entries kept of each evidence list.
    evidence: usize,
    /// Characters kept of each free-text field (reason, object, ids).
    text: usize,
}

/// A rendered message and its attributes.
struct Body {
    message: String,
    attributes: Vec<(&'static str, AttributeValue)>,
}

impl Body {
    fn fits(&self) -> bool {
        body_size(&self.message, &self.attributes) <= MAX_MESSAGE_BYTES
    }
}

fn body_size(message: &str, attributes: &[(&'static str, AttributeValue)]) -> usize {
    message.len()
        + attributes
            .iter()
            .map(|(name, value)| name.len() + value.data_type().len() + value.as_str().len())
            .sum::<usize>()
}

/// The fullest body that fits: all of it; else fewer evidence entries (never fewer than the top
/// few); else the top few with shortened free text; else the bare figures.
fn fit(finding: &Finding, ctx: &AlertContext) -> Body {
    let attempt = |trim: Trim| render(finding, ctx, trim);
    let full = attempt(Trim {
        evidence: usize::MAX,
        text: usize::MAX,
    });
    if full.fits() {
        return full;
    }
    let evidence = finding.top_ports.len().max(finding.top_destinations.len());
    let keep = KEEP_EVIDENCE.min(evidence);
    if let Some(body) = largest_fitting(keep, evidence, |n| {
        attempt(Trim {
            evidence: n,
            text: usize::MAX,
        })
    }) {
        return body;
    }
    let text = [
        Some(finding.reason.as_str()),
        Some(ctx.object.as_str()),
        ctx.vpc_id.as_deref(),
        ctx.account_id.as_deref(),
        ctx.region.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(|s| s.chars().count())
    .max()
    .unwrap_or(0);
    for evidence in [keep, 0] {
        if let Some(body) = largest_fitting(0, text, |n| attempt(Trim { evidence, text: n })) {
            return body;
        }
    }
    // Unreachable in practice: without evidence or free text only bounded figures remain.
    attempt(Trim {
        evidence: 0,
        text: 0,
    })
}

/// The body of the largest `n` in `low..=high` that fits, by bisection (a body grows with `n`);
/// `None` when even `low` does not fit.
fn largest_fitting(low: usize, high: usize, render: impl Fn(usize) -> Body) -> Option<Body> {
    let mut best = Some(render(low)).filter(Body::fits)?;
    let (mut good, mut bad) = (low, high.saturating_add(1));
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        let body = render(mid);
        if body.fits() {
            (good, best) = (mid, body);
        } else {
            bad = mid;
        }
    }
    Some(best)
}

/// At most `max` characters of `text`, ending in `…` when cut.
fn cap(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
    }
}

/// What one attempt shows of the finding and its context.
struct View<'a> {
    finding: &'a Finding,
    ctx: &'a AlertContext,
    ports: &'a [PortCount],
    destinations: &'a [DestinationCount],
    reason: Cow<'a, str>,
    object: Cow<'a, str>,
    vpc_id: Option<Cow<'a, str>>,
    account_id: Option<Cow<'a, str>>,
    region: Option<Cow<'a, str>>,
    truncated: bool,
}

impl<'a> View<'a> {
    fn new(finding: &'a Finding, ctx: &'a AlertContext, trim: Trim) -> View<'a> {
        let ports = &finding.top_ports[..trim.evidence.min(finding.top_ports.len())];
        let destinations =
            &finding.top_destinations[..trim.evidence.min(finding.top_destinations.len())];
        let reason = cap(&finding.reason, trim.text);
        let object = cap(&ctx.object, trim.text);
        let optional = |value: &'a Option<String>| value.as_deref().map(|v| cap(v, trim.text));
        let (vpc_id, account_id, region) = (
            optional(&ctx.vpc_id),
            optional(&ctx.account_id),
            optional(&ctx.region),
        );
        let cut = |shown: &Option<Cow<'_, str>>| matches!(shown, Some(Cow::Owned(_)));
        let truncated = ports.len() < finding.top_ports.len()
            || destinations.len() < finding.top_destinations.len()
            || matches!(reason, Cow::Owned(_))
            || matches!(object, Cow::Owned(_))
            || cut(&vpc_id)
            || cut(&account_id)
            || cut(&region);
        View {
            finding,
            ctx,
            ports,
            destinations,
            reason,
            object,
            vpc_id,
            account_id,
            region,
            truncated,
        }
    }
}

fn render(finding: &Finding, ctx: &AlertContext, trim: Trim) -> Body {
    let view = View::new(finding, ctx, trim);
    let document = serde_json::to_string(&Document::of(&view))
        .expect("the alert document serializes: plain fields, string keys");
    let email = email_text(&view);
    let default = default_text(finding);
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
    Body {
        message,
        attributes: attributes(&view),
    }
}

// ---------------------------------------------------------------------------------------------
// Message parts

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

/// The machine-readable alert (`type` `flowlog.flood`, `version` 1).
#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    version: u32,
    source: IpAddr,
    rule: &'a str,
    severity: Severity,
    window_start: i64,
    window_start_utc: String,
    flows: u64,
    packets: u64,
    bytes: u64,
    signals: &'a Signals,
    reason: &'a str,
    windows_flagged: usize,
    first_start: i64,
    last_end: i64,
    top_ports: &'a [PortCount],
    top_destinations: &'a [DestinationCount],
    skipdata_records: u64,
    object: &'a str,
    vpc_id: Option<&'a str>,
    account_id: Option<&'a str>,
    region: Option<&'a str>,
    detected_at: i64,
    evidence_truncated: bool,
}

impl<'a> Document<'a> {
    fn of(view: &'a View<'a>) -> Document<'a> {
        let f = view.finding;
        Document {
            kind: DOCUMENT_TYPE,
            version: DOCUMENT_VERSION,
            source: f.source,
            rule: f.rule,
            severity: f.severity,
            window_start: f.window_start,
            window_start_utc: utc(f.window_start),
            flows: f.flows,
            packets: f.packets,
            bytes: f.bytes,
            signals: &f.signals,
            reason: &view.reason,
            windows_flagged: f.windows_flagged,
            first_start: f.first_start,
            last_end: f.last_end,
            top_ports: view.ports,
            top_destinations: view.destinations,
            skipdata_records: f.skipdata_records,
            object: &view.object,
            vpc_id: view.vpc_id.as_deref(),
            account_id: view.account_id.as_deref(),
            region: view.region.as_deref(),
            detected_at: view.ctx.detected_at,
            evidence_truncated: view.truncated,
        }
    }
}

/// One line for protocols without their own message (SMS, mobile push, Firehose).
fn default_text(f: &Finding) -> String {
    let mut text = format!(
        "{} {} from {}: {} flows in the minute from {}",
        f.severity.as_str(),
        f.rule,
        f.source,
        grouped(f.flows),
        utc(f.window_start)
    );
    if let Some(shape) = shape(f) {
        let _ = write!(text, " ({shape})");
    }
    text
}

/// Filter-policy attributes: severity, source_ip, rule, flows_per_minute and, when known, vpc_id.
fn attributes(view: &View<'_>) -> Vec<(&'static str, AttributeValue)> {
    let f = view.finding;
    let mut attributes = vec![
        (
            "severity",
            AttributeValue::String(f.severity.as_str().into()),
        ),
        ("source_ip", AttributeValue::String(f.source.to_string())),
        ("rule", AttributeValue::String(f.rule.into())),
        (
            "flows_per_minute",
            AttributeValue::Number(f.flows.to_string()),
        ),
    ];
    if let Some(vpc) = view.vpc_id.as_deref().map(printable)
        && !vpc.trim().is_empty()
    {
        attributes.push(("vpc_id", AttributeValue::String(vpc.into_owned())));
    }
    attributes
}

/// `text` with control characters (line breaks in an object key, say) shown escaped.
fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// What the rule means, in words.
fn rule_meaning(rule: &str) -> &'static str {
    match rule {
        "syn-flood" => "a SYN flood: connections opened and never completed",
        "port-scan" => "a port scan: many destination ports probed",
        "udp-flood" => "a UDP flood: many small UDP flows",
        "icmp-flood" => "an ICMP flood: many small ICMP flows",
        "rejected-flood" => {
            "a flood of rejected traffic: most flows were refused by security groups or network ACLs"
        }
        "connection-flood" => "a connection flood: many tiny flows",
        _ => "flood-shaped traffic",
    }
}

/// Shows a signal's value or threshold in its unit.
type Show = fn(f64) -> String;

/// One signal as `label: value (threshold >= t)`.
fn signal_line(label: &str, signal: &Signal, at_most: bool, show: Show) -> String {
    format!(
        "  {label}: {} (threshold {} {})",
        show(signal.value),
        if at_most { "<=" } else { ">=" },
        show(signal.threshold)
    )
}

fn count_of(value: f64) -> String {
    grouped(whole(value))
}

fn share_of(value: f64) -> String {
    percent(value)
}

fn decimal_of(value: f64) -> String {
    format!("{value:.1}")
}

/// The email: a plain-text report, one fact per line.
fn email_text(view: &View<'_>) -> String {
    let f = view.finding;
    let s = &f.signals;
    let source = f.source;
    let mut t = String::with_capacity(4096);
    let line = |t: &mut String, text: &str| {
        t.push_str(text);
        t.push('\n');
    };

    let _ = writeln!(
        t,
        "{} severity flood alert: {} from {source}",
        f.severity.as_str(),
        f.rule
    );
    line(&mut t, "");
    line(&mut t, "What happened");
    let _ = writeln!(
        t,
        "  {source} opened {} flows in one minute, shaped like {} (rule {}).",
        grouped(f.flows),
        rule_meaning(f.rule),
        f.rule
    );
    line(&mut t, "");

    line(&mut t, "When (UTC)");
    let _ = writeln!(
        t,
        "  Worst minute: {} to {}",
        utc(f.window_start),
        utc(f.window_start.saturating_add(WINDOW_SECS))
    );
    let _ = writeln!(t, "  Minutes flagged: {}", f.windows_flagged);
    let _ = writeln!(t, "  First seen: {}", utc(f.first_start));
    let _ = writeln!(t, "  Last seen: {}", utc(f.last_end));
    let _ = writeln!(t, "  Detected: {}", utc(view.ctx.detected_at));
    line(&mut t, "");

    line(&mut t, "Figures for the worst minute");
    let _ = writeln!(t, "  Flows: {}", grouped(f.flows));
    let _ = writeln!(t, "  Packets: {}", grouped(f.packets));
    let _ = writeln!(t, "  Bytes: {}", grouped(f.bytes));
    line(&mut t, "");

    line(&mut t, "Signals that fired");
    line(
        &mut t,
        &signal_line("flows per minute", &s.flows_per_minute, false, count_of),
    );
    let shapes: [(&str, &Signal, bool, Show); 4] = [
        (
            "SYN-only share of TCP flows",
            &s.syn_only_share,
            false,
            share_of,
        ),
        ("rejected share of flows", &s.reject_share, false, share_of),
        (
            "distinct destination ports (a lower bound when many)",
            &s.distinct_ports,
            false,
            count_of,
        ),
        (
            "average packets per flow",
            &s.packets_per_flow,
            true,
            decimal_of,
        ),
    ];
    for (label, signal, at_most, show) in shapes {
        if signal.fired {
            line(&mut t, &signal_line(label, signal, at_most, show));
        }
    }
    line(&mut t, "");

    line(
        &mut t,
        "Top destination ports (flows from this source in the object)",
    );
    if view.ports.is_empty() {
        line(&mut t, "  none listed");
    }
    for p in view.ports {
        let _ = writeln!(t, "  {}: {}", p.port, grouped(u64::from(p.flows)));
    }
    line(
        &mut t,
        "Top destinations (flows from this source in the object)",
    );
    if view.destinations.is_empty() {
        line(&mut t, "  none listed");
    }
    for d in view.destinations {
        let _ = writeln!(t, "  {}: {}", d.address, grouped(u64::from(d.flows)));
    }
    if view.truncated {
        let _ = writeln!(
            t,
            "{TRUNCATION_MARKER}: showing {} of {} ports and {} of {} destinations",
            grouped(view.ports.len() as u64),
            grouped(f.top_ports.len() as u64),
            grouped(view.destinations.len() as u64),
            grouped(f.top_destinations.len() as u64)
        );
    }
    line(&mut t, "");

    if f.skipdata_records > 0 {
        let _ = writeln!(
            t,
            "WARNING: {} SKIPDATA records: the flow log itself dropped records in this window; \
             counts are lower bounds.",
            grouped(f.skipdata_records)
        );
        line(&mut t, "");
    }

    line(&mut t, "Why this is not a heavy client");
    let _ = writeln!(t, "  {}", printable(&view.reason));
    let _ = writeln!(
        t,
        "  Average bytes per flow: {} (a heavy client averages {} or more).",
        count_of(s.heavy_client.value),
        count_of(s.heavy_client.threshold)
    );
    line(&mut t, "");

    let known = |value: &Option<Cow<'_, str>>| {
        value
            .as_deref()
            .map_or_else(|| "unknown".to_owned(), |v| printable(v).into_owned())
    };
    line(&mut t, "Where it came from");
    let _ = writeln!(t, "  Object: {}", printable(&view.object));
    let _ = writeln!(t, "  VPC: {}", known(&view.vpc_id));
    let _ = writeln!(t, "  Account: {}", known(&view.account_id));
    let _ = writeln!(t, "  Region: {}", known(&view.region));
    line(&mut t, "");

    line(&mut t, "What to do next");
    line(
        &mut t,
        "  1. Check the security groups and network ACLs in front of the destinations above: \
         should these ports be reachable from this source at all?",
    );
    if f.rule == "rejected-flood" {
        line(
            &mut t,
            "     Most of this traffic was already rejected, so the filtering holds; blocking \
             earlier saves the noise.",
        );
    }
    let _ = writeln!(
        t,
        "  2. If the traffic is unwanted, block {source} with a network ACL deny rule on the \
         subnet (security groups cannot deny) or at your edge firewall."
    );
    line(
        &mut t,
        "  3. For internet-facing services, consider AWS WAF rate-based rules (ALB, CloudFront, \
         API Gateway) and AWS Shield Advanced for larger or repeated attacks.",
    );
    let _ = writeln!(
        t,
        "  4. If {source} is expected (a scanner, a load test, a partner), add it to the \
         allowlist so it is not reported again."
    );
    t
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::net::{IpAddr, Ipv4Addr};

    use flowlog_core::{
        AggregateOptions, Aggregator, Attribution, FloodRules, ScanOptions, detect, scan,
    };
    use serde_json::Value;

    use super::*;

    const T0: i64 = 1_700_000_040; // 2023-11-14T22:14:00Z
    const MACHINE_KEYS: [&str; 5] = ["sqs", "lambda", "http", "https", "email-json"];
    const LONGEST_IPV6: &str = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    const RULES: [&str; 6] = [
        "syn-flood",
        "port-scan",
        "udp-flood",
        "icmp-flood",
        "rejected-flood",
        "connection-flood",
    ];

    fn signal(value: f64, threshold: f64, fired: bool) -> Signal {
        Signal {
            value,
            threshold,
            fired,
        }
    }

    fn syn_flood() -> Finding {
        Finding {
            source: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)),
            rule: "syn-flood",
            severity: Severity::High,
            window_start: T0,
            flows: 2_150,
            packets: 2_300,
            bytes: 101_200,
            signals: Signals {
                flows_per_minute: signal(2150.0, 600.0, true),
                syn_only_share: signal(0.98, 0.6, true),
                reject_share: signal(0.1, 0.8, false),
                distinct_ports: signal(2.0, 20.0, false),
                packets_per_flow: signal(1.07, 2.0, true),
                heavy_client: signal(47.07, 65536.0, false),
            },
            reason: "2150 flows in one minute (threshold 600) with 98% SYN-only, tiny flows \
                     (1.1 packets each); averages 1.1 packets and 47 bytes per flow, below the \
                     65536 bytes per flow of a heavy client"
                .into(),
            windows_flagged: 3,
            first_start: T0 - 118,
            last_end: T0 + 64,
            top_ports: vec![
                PortCount {
                    port: 443,
                    flows: 2_000,
                },
                PortCount {
                    port: 80,
                    flows: 150,
                },
            ],
            top_destinations: vec![DestinationCount {
                address: "10.0.1.5".parse().unwrap(),
                flows: 2_150,
            }],
            skipdata_records: 0,
        }
    }

    fn context() -> AlertContext {
        AlertContext {
            object: "s3://flow-logs/AWSLogs/123456789012/vpcflowlogs/us-east-1/2023/11/14/\
                     123456789012_vpcflowlogs_us-east-1_fl-0abc_20231114T2215Z_1a2b3c4d.log.gz"
                .into(),
            vpc_id: Some("vpc-0123456789abcdef0".into()),
            account_id: Some("123456789012".into()),
            region: Some("us-east-1".into()),
            fifo: false,
            detected_at: T0 + 400,
        }
    }

    /// The envelope, the email text and the (checked identical) machine document.
    fn parts(alert: &Alert) -> (Value, String, Value) {
        let envelope: Value = serde_json::from_str(&alert.message).expect("message is JSON");
        let email = envelope["email"]
            .as_str()
            .expect("email is a string")
            .to_owned();
        let first = envelope["sqs"].as_str().expect("sqs is a string");
        for key in MACHINE_KEYS {
            assert_eq!(envelope[key].as_str(), Some(first), "{key}");
        }
        let document = serde_json::from_str(first).expect("the document is JSON");
        (envelope, email, document)
    }

    fn assert_clean_subject(subject: &str) {
        assert!(
            subject.chars().count() < 100,
            "{} chars: {subject}",
            subject.len()
        );
        assert!(!subject.chars().any(char::is_control), "{subject:?}");
        assert!(subject.starts_with("[FLOOD] "), "{subject}");
    }

    fn huge() -> (Finding, AlertContext) {
        let mut finding = syn_flood();
        finding.top_ports = (0..6_000)
            .map(|i| PortCount {
                port: i as u16,
                flows: 4_000_000_000 - i,
            })
            .collect();
        finding.top_destinations = (0..6_000_u32)
            .map(|i| DestinationCount {
                address: IpAddr::V6(std::net::Ipv6Addr::from(u128::MAX - u128::from(i))),
                flows: 4_000_000_000 - i,
            })
            .collect();
        finding.reason = "a \"quoted\" reason\n".repeat(20_000);
        let mut ctx = context();
        ctx.object = format!("s3://bucket/{}", "k\u{1}é".repeat(40_000));
        (finding, ctx)
    }

    #[test]
    fn subject_names_source_rate_shape_and_high_severity() {
        let alert = build_alert(&syn_flood(), &context());
        assert_eq!(
            alert.subject,
            "[FLOOD] 203.0.113.7 2.1k flows/min SYN 98% HIGH"
        );
        let mut medium = syn_flood();
        medium.severity = Severity::Medium;
        medium.flows = 950;
        assert_eq!(
            build_alert(&medium, &context()).subject,
            "[FLOOD] 203.0.113.7 950 flows/min SYN 98%"
        );
    }

    #[test]
    fn subject_shape_follows_the_rule() {
        let mut f = syn_flood();
        f.severity = Severity::Medium;
        f.signals.reject_share = signal(0.91, 0.8, true);
        f.signals.distinct_ports = signal(250.0, 20.0, true);
        let expected = [
            ("syn-flood", "SYN 98%"),
            ("port-scan", "250 ports"),
            ("udp-flood", "UDP"),
            ("icmp-flood", "ICMP"),
            ("rejected-flood", "REJ 91%"),
            ("connection-flood", "SYN 98%"),
        ];
        for (rule, shape) in expected {
            f.rule = rule;
            let subject = build_alert(&f, &context()).subject;
            assert_eq!(
                subject,
                format!("[FLOOD] 203.0.113.7 2.1k flows/min {shape}")
            );
            assert_clean_subject(&subject);
        }
        f.rule = "connection-flood";
        f.signals.syn_only_share.fired = false;
        f.signals.reject_share.fired = false;
        f.signals.distinct_ports.fired = false;
        assert_eq!(
            build_alert(&f, &context()).subject,
            "[FLOOD] 203.0.113.7 2.1k flows/min 1.1 pkts/flow"
        );
    }

    #[test]
    fn subject_stays_under_100_chars_for_the_longest_ipv6_and_every_rule() {
        let mut f = syn_flood();
        f.source = LONGEST_IPV6.parse().unwrap();
        assert_eq!(f.source.to_string().len(), 39);
        f.flows = u64::MAX;
        f.signals.distinct_ports = signal(1e12, 20.0, true);
        for rule in RULES {
            f.rule = rule;
            let subject = build_alert(&f, &context()).subject;
            assert_clean_subject(&subject);
            assert!(subject.contains(LONGEST_IPV6), "{subject}");
            assert!(subject.ends_with(" HIGH"), "{subject}");
        }
    }

    #[test]
    fn rates_are_compact() {
        let cases = [
            (0, "0"),
            (950, "950"),
            (999, "999"),
            (1_000, "1k"),
            (2_150, "2.1k"),
            (9_999, "9.9k"),
            (12_000, "12k"),
            (999_999, "999k"),
            (1_200_000, "1.2M"),
            (3_000_000_000, "3G"),
            (u64::MAX, "18E"),
        ];
        for (n, text) in cases {
            assert_eq!(compact(n), text, "{n}");
        }
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(999), "999");
    }

    #[test]
    fn unix_seconds_format_as_utc_iso8601() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(T0), "2023-11-14T22:14:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(utc(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59Z");
        assert_eq!(utc(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(utc(1_735_689_599), "2024-12-31T23:59:59Z");
    }

    #[test]
    fn message_is_json_with_default_and_a_value_per_protocol() {
        let alert = build_alert(&syn_flood(), &context());
        let (envelope, email, _) = parts(&alert);
        let keys: Vec<&str> = envelope
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for key in ["default", "email"].into_iter().chain(MACHINE_KEYS) {
            assert!(envelope[key].is_string(), "{key} in {keys:?}");
        }
        assert_eq!(keys.len(), 7, "{keys:?}");
        let default = envelope["default"].as_str().unwrap();
        assert_eq!(
            default,
            "HIGH syn-flood from 203.0.113.7: 2,150 flows in the minute from \
             2023-11-14T22:14:00Z (SYN 98%)"
        );
        assert!(email.lines().count() > 20, "{email}");
    }

    #[test]
    fn machine_document_carries_the_figures_and_context() {
        let alert = build_alert(&syn_flood(), &context());
        let (_, _, doc) = parts(&alert);
        assert_eq!(doc["type"], "flowlog.flood");
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["source"], "203.0.113.7");
        assert_eq!(doc["rule"], "syn-flood");
        assert_eq!(doc["severity"], "HIGH");
        assert_eq!(doc["window_start"], T0);
        assert_eq!(doc["window_start_utc"], "2023-11-14T22:14:00Z");
        assert_eq!(doc["flows"], 2_150);
        assert_eq!(doc["packets"], 2_300);
        assert_eq!(doc["bytes"], 101_200);
        assert_eq!(doc["signals"]["syn_only_share"]["value"], 0.98);
        assert_eq!(doc["signals"]["syn_only_share"]["threshold"], 0.6);
        assert_eq!(doc["signals"]["syn_only_share"]["fired"], true);
        assert_eq!(doc["signals"]["heavy_client"]["fired"], false);
        assert!(doc["reason"].as_str().unwrap().contains("98% SYN-only"));
        assert_eq!(doc["windows_flagged"], 3);
        assert_eq!(doc["first_start"], T0 - 118);
        assert_eq!(doc["last_end"], T0 + 64);
        assert_eq!(doc["top_ports"][0]["port"], 443);
        assert_eq!(doc["top_ports"][0]["flows"], 2_000);
        assert_eq!(doc["top_destinations"][0]["address"], "10.0.1.5");
        assert_eq!(doc["skipdata_records"], 0);
        assert_eq!(doc["object"], context().object.as_str());
        assert_eq!(doc["vpc_id"], "vpc-0123456789abcdef0");
        assert_eq!(doc["account_id"], "123456789012");
        assert_eq!(doc["region"], "us-east-1");
        assert_eq!(doc["detected_at"], T0 + 400);
        assert_eq!(doc["evidence_truncated"], false);
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 24, "{keys:?}");

        let unknown = AlertContext {
            object: "s3://b/k".into(),
            ..AlertContext::default()
        };
        let (_, email, doc) = parts(&build_alert(&syn_flood(), &unknown));
        assert!(doc["vpc_id"].is_null() && doc["account_id"].is_null() && doc["region"].is_null());
        assert!(email.contains("  VPC: unknown\n"), "{email}");
    }

    #[test]
    fn email_text_reports_what_when_figures_signals_evidence_and_next_steps() {
        let (_, email, _) = parts(&build_alert(&syn_flood(), &context()));
        for expected in [
            "HIGH severity flood alert: syn-flood from 203.0.113.7",
            "203.0.113.7 opened 2,150 flows in one minute, shaped like a SYN flood",
            "Worst minute: 2023-11-14T22:14:00Z to 2023-11-14T22:15:00Z",
            "Minutes flagged: 3",
            "First seen: 2023-11-14T22:12:02Z",
            "Last seen: 2023-11-14T22:15:04Z",
            "Detected: 2023-11-14T22:20:40Z",
            "Flows: 2,150",
            "Packets: 2,300",
            "Bytes: 101,200",
            "flows per minute: 2,150 (threshold >= 600)",
            "SYN-only share of TCP flows: 98% (threshold >= 60%)",
            "average packets per flow: 1.1 (threshold <= 2.0)",
            "  443: 2,000\n",
            "  80: 150\n",
            "  10.0.1.5: 2,150\n",
            "Why this is not a heavy client",
            "below the 65536 bytes per flow of a heavy client",
            "Average bytes per flow: 47 (a heavy client averages 65,536 or more)",
            "Object: s3://flow-logs/AWSLogs/123456789012/",
            "VPC: vpc-0123456789abcdef0",
            "Account: 123456789012",
            "Region: us-east-1",
            "security groups and network ACLs",
            "block 203.0.113.7 with a network ACL deny rule",
            "AWS WAF",
            "AWS Shield",
            "allowlist",
        ] {
            assert!(
                email.contains(expected),
                "missing {expected:?} in:\n{email}"
            );
        }
        // Signals that did not fire are not listed as fired.
        assert!(!email.contains("rejected share of flows"), "{email}");
        assert!(!email.contains(TRUNCATION_MARKER), "{email}");
    }

    #[test]
    fn skipdata_warning_only_when_the_log_dropped_records() {
        let (_, email, doc) = parts(&build_alert(&syn_flood(), &context()));
        assert!(!email.contains("SKIPDATA"), "{email}");
        assert_eq!(doc["skipdata_records"], 0);

        let mut f = syn_flood();
        f.skipdata_records = 1_234;
        let (_, email, doc) = parts(&build_alert(&f, &context()));
        assert!(
            email.contains(
                "WARNING: 1,234 SKIPDATA records: the flow log itself dropped records in this \
                 window; counts are lower bounds."
            ),
            "{email}"
        );
        assert_eq!(doc["skipdata_records"], 1_234);
    }

    #[test]
    fn attributes_serve_filter_policies() {
        let alert = build_alert(&syn_flood(), &context());
        assert_eq!(
            alert.attributes,
            vec![
                ("severity", AttributeValue::String("HIGH".into())),
                ("source_ip", AttributeValue::String("203.0.113.7".into())),
                ("rule", AttributeValue::String("syn-flood".into())),
                ("flows_per_minute", AttributeValue::Number("2150".into())),
                (
                    "vpc_id",
                    AttributeValue::String("vpc-0123456789abcdef0".into())
                ),
            ]
        );
        assert_eq!(alert.attributes[3].1.data_type(), "Number");
        assert_eq!(alert.attributes[0].1.data_type(), "String");
        for (name, value) in &alert.attributes {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
                "{name}"
            );
            assert!(!value.as_str().is_empty(), "{name}");
        }

        for vpc_id in [None, Some(String::new())] {
            let ctx = AlertContext {
                vpc_id,
                ..context()
            };
            let alert = build_alert(&syn_flood(), &ctx);
            let names: Vec<&str> = alert.attributes.iter().map(|(n, _)| *n).collect();
            assert_eq!(names, ["severity", "source_ip", "rule", "flows_per_minute"]);
        }
    }

    #[test]
    fn fifo_alerts_group_by_source_and_dedup_by_source_rule_and_window() {
        let ctx = AlertContext {
            fifo: true,
            ..context()
        };
        let alert = build_alert(&syn_flood(), &ctx);
        assert_eq!(alert.group_id.as_deref(), Some("203.0.113.7"));
        assert_eq!(
            alert.dedup_id.as_deref(),
            Some("203.0.113.7-syn-flood-1700000040")
        );

        let mut v6 = syn_flood();
        v6.source = LONGEST_IPV6.parse().unwrap();
        let alert = build_alert(&v6, &ctx);
        assert_eq!(alert.group_id.as_deref(), Some(LONGEST_IPV6));
        assert_eq!(
            alert.dedup_id,
            Some(format!("{LONGEST_IPV6}-syn-flood-1700000040"))
        );

        let standard = build_alert(&syn_flood(), &context());
        assert_eq!((standard.group_id, standard.dedup_id), (None, None));
    }

    #[test]
    fn fifo_ids_keep_to_the_allowed_characters_and_length() {
        let allowed = |id: &str| {
            id.len() <= 128 && !id.is_empty() && id.chars().all(|c| c.is_ascii_graphic())
        };
        assert_eq!(fifo_id("a b\té:c"), "a_b__:c");
        let long = fifo_id(&"x".repeat(300));
        assert_eq!(long.len(), 128);
        let punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
        assert_eq!(fifo_id(punctuation), punctuation);
        for source in ["203.0.113.7", LONGEST_IPV6, "::ffff:192.0.2.1"] {
            let mut f = syn_flood();
            f.source = source.parse().unwrap();
            f.window_start = i64::MIN;
            for rule in RULES {
                f.rule = rule;
                let ctx = AlertContext {
                    fifo: true,
                    ..context()
                };
                let alert = build_alert(&f, &ctx);
                assert!(allowed(alert.group_id.as_deref().unwrap()));
                assert!(allowed(alert.dedup_id.as_deref().unwrap()));
            }
        }
    }

    #[test]
    fn huge_evidence_is_trimmed_to_the_sns_limit_and_marked() {
        let (finding, ctx) = huge();
        let alert = build_alert(&finding, &ctx);
        assert!(
            alert.size_bytes() <= MAX_MESSAGE_BYTES,
            "{}",
            alert.size_bytes()
        );
        assert_eq!(
            alert.size_bytes(),
            alert.message.len()
                + alert
                    .attributes
                    .iter()
                    .map(|(n, v)| n.len() + v.data_type().len() + v.as_str().len())
                    .sum::<usize>()
        );
        let (_, email, doc) = parts(&alert);
        assert_eq!(doc["evidence_truncated"], true);
        assert!(email.contains(TRUNCATION_MARKER), "marker missing");
        // The top entries survive; the free text was shortened and says so.
        let ports = doc["top_ports"].as_array().unwrap();
        assert!(ports.len() >= KEEP_EVIDENCE, "{}", ports.len());
        assert_eq!(ports[0]["port"], 0);
        assert!(doc["reason"].as_str().unwrap().ends_with('…'));
        assert!(doc["reason"].as_str().unwrap().len() < finding.reason.len());
        assert!(doc["object"].as_str().unwrap().starts_with("s3://bucket/k"));
        // Control characters of the object key stay out of the email's lines.
        assert!(!email.contains('\u{1}'));
        assert_clean_subject(&alert.subject);
    }

    #[test]
    fn many_ports_drop_entries_but_keep_the_text() {
        let mut finding = syn_flood();
        finding.top_ports = (0..20_000)
            .map(|i| PortCount {
                port: (i % 65_536) as u16,
                flows: 20_000 - i,
            })
            .collect();
        let alert = build_alert(&finding, &context());
        assert!(alert.size_bytes() <= MAX_MESSAGE_BYTES);
        let (_, email, doc) = parts(&alert);
        assert_eq!(doc["evidence_truncated"], true);
        assert_eq!(doc["reason"], finding.reason.as_str());
        assert_eq!(doc["object"], context().object.as_str());
        let kept = doc["top_ports"].as_array().unwrap().len();
        assert!(kept > 100 && kept < 20_000, "{kept}");
        assert_eq!(doc["top_destinations"].as_array().unwrap().len(), 1);
        assert!(
            email.contains(&format!(
                "{TRUNCATION_MARKER}: showing {} of 20,000 ports and 1 of 1 destinations",
                grouped(kept as u64)
            )),
            "{email}"
        );
        // As much as fits is kept: one more entry would not fit.
        let bigger = render(
            &finding,
            &context(),
            Trim {
                evidence: kept + 1,
                text: usize::MAX,
            },
        );
        assert!(!bigger.fits());
    }

    #[test]
    fn an_ordinary_finding_is_not_truncated() {
        let alert = build_alert(&syn_flood(), &context());
        assert!(alert.size_bytes() < 16 * 1024, "{}", alert.size_bytes());
        let (_, email, doc) = parts(&alert);
        assert_eq!(doc["evidence_truncated"], false);
        assert!(!email.contains("truncated"));
    }

    #[test]
    fn the_same_input_gives_the_same_alert() {
        let ctx = AlertContext {
            fifo: true,
            ..context()
        };
        assert_eq!(
            build_alert(&syn_flood(), &ctx),
            build_alert(&syn_flood(), &ctx)
        );
        let (finding, ctx) = huge();
        assert_eq!(build_alert(&finding, &ctx), build_alert(&finding, &ctx));
    }

    #[test]
    fn a_detected_flood_becomes_an_alert() {
        let mut text = String::from(
            "srcaddr pkt-srcaddr dstaddr srcport dstport protocol packets bytes start end \
             action tcp-flags log-status\n",
        );
        for i in 0..3_100_i64 {
            let start = T0 + i % 60;
            let _ = writeln!(
                text,
                "198.51.100.9 198.51.100.9 10.0.0.5 {} 443 6 1 44 {start} {} ACCEPT 2 OK",
                30_000 + i,
                start + 5
            );
        }
        let mut aggregator = Aggregator::new(AggregateOptions {
            attribution: Attribution::PktSrcAddr,
            ..AggregateOptions::default()
        });
        scan(text.as_bytes(), &ScanOptions::default(), &mut aggregator).unwrap();
        let findings = detect(&aggregator, &FloodRules::default());
        assert_eq!(findings.len(), 1);
        let alert = build_alert(&findings[0], &context());
        assert_eq!(
            alert.subject,
            "[FLOOD] 198.51.100.9 3.1k flows/min SYN 100% HIGH"
        );
        let (_, email, doc) = parts(&alert);
        assert_eq!(doc["flows"], 3_100);
        assert_eq!(doc["window_start_utc"], "2023-11-14T22:14:00Z");
        assert!(email.contains("  443: 3,100\n"), "{email}");
    }
}
