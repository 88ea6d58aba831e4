//! The email: a plain-text report, one fact per line, ending with what to do.

use std::fmt::{Display, Write as _};

use flowlog_core::{Rule, WINDOW_SECS, utc};
use flowlog_incidents::{AlertDocument, Stage};

use super::Flood;
use super::attributes::printable;

/// A signal's value as people read it: shares in percent, counts whole.
fn shown(name: &str, value: f64) -> String {
    if name.ends_with("share") {
        format!("{:.0}%", 100.0 * value)
    } else if value.fract() == 0.0 || value >= 100.0 {
        flowlog_core::thousands(value.round() as u64)
    } else {
        format!("{value:.1}")
    }
}

/// `14m`, `2h05m`.
pub(super) fn duration(secs: i64) -> String {
    let minutes = secs.max(0) / 60;
    if minutes < 60 {
        format!("{minutes}m")
    } else {
        format!("{}h{:02}m", minutes / 60, minutes % 60)
    }
}

/// The email text for one notice.
pub(super) fn text(doc: &AlertDocument) -> String {
    let flood = Flood::from(&doc.finding);
    let mut t = String::with_capacity(4096);
    let rate = flood.rate();
    let (flagged, first, last) = flood.windows();
    let who = match flood {
        Flood::Source(f) => format!("from {}", f.source),
        Flood::Target(t) => format!("against {}", t.target),
    };
    let _ = writeln!(
        t,
        "{}{}: {} severity flood: {} {who}\n",
        doc.stage.as_str(),
        if doc.origin.backfill {
            " (backfill: a past flood, not happening now)"
        } else {
            ""
        },
        flood.severity().as_str(),
        flood.rule()
    );

    let _ = writeln!(t, "The incident");
    let _ = writeln!(
        t,
        "  Id: {} (notice {}, alert id {})",
        doc.incident_id, doc.seq, doc.alert_id
    );
    let _ = writeln!(t, "  First flagged minute: {}", utc(doc.opened));
    let _ = writeln!(t, "  Last flagged minute: {}", utc(doc.last_active));
    match (doc.stage, doc.ended_at) {
        (Stage::Ended, Some(ended)) => {
            let _ = writeln!(
                t,
                "  Over: no flagged minute since, declared ended at {}",
                utc(ended)
            );
        }
        _ => {
            let _ = writeln!(
                t,
                "  Still going on: an update follows while it lasts, and a notice when it ends"
            );
        }
    }
    let _ = writeln!(t, "  Duration so far: {}", duration(doc.duration_secs));
    let _ = writeln!(
        t,
        "  Totals over {} flagged minutes: {} flows, {} packets, {} bytes",
        doc.totals.minutes,
        flowlog_core::thousands(doc.totals.flows),
        flowlog_core::thousands(doc.totals.packets),
        flowlog_core::thousands(doc.totals.bytes)
    );
    let _ = writeln!(
        t,
        "  Peak minute: {} with {} flows, {:.0} packets/s\n",
        utc(doc.peak.window_start),
        flowlog_core::thousands(doc.peak.flows_per_minute),
        doc.peak.packets_per_second
    );

    let _ = writeln!(t, "What happened");
    let _ = writeln!(t, "  {} ({}).", flood.reason(), flood.rule().meaning());
    let _ = writeln!(t, "\nWhy this is not a busy client");
    let _ = writeln!(t, "  {}.", flood.not_a_busy_client());

    let _ = writeln!(t, "\nWhen (UTC)");
    let _ = writeln!(
        t,
        "  Worst minute: {} to {}",
        utc(flood.window_start()),
        utc(flood.window_start().saturating_add(WINDOW_SECS))
    );
    let _ = writeln!(
        t,
        "  Minutes flagged: {flagged}, from {} to {}",
        utc(first),
        utc(last)
    );
    let _ = writeln!(t, "  Detected: {}", utc(doc.origin.detected_at));

    let _ = writeln!(t, "\nThe worst minute");
    let _ = writeln!(
        t,
        "  Flows: {}",
        flowlog_core::thousands(rate.flows_per_minute)
    );
    let _ = writeln!(
        t,
        "  TCP connections opened: {}",
        flowlog_core::thousands(rate.connections_per_minute)
    );
    let _ = writeln!(
        t,
        "  Of them never completed: {}",
        flowlog_core::thousands(rate.half_open_per_minute)
    );
    let _ = writeln!(t, "  Packets per second: {:.0}", rate.packets_per_second);
    let _ = writeln!(t, "  Bits per second: {:.0}", rate.bits_per_second);

    let _ = writeln!(t, "\nSignals (value, threshold)");
    for (name, s) in flood.signals() {
        let _ = writeln!(
            t,
            "  {}: {} (threshold {}){}",
            name.replace('_', " "),
            shown(name, s.value),
            shown(name, s.threshold),
            if s.fired { "" } else { ", not fired" }
        );
    }

    let _ = writeln!(
        t,
        "\nEvidence (counts from when the source was first tracked: lower bounds)"
    );
    match flood {
        Flood::Source(f) => {
            if let Some(target) = f.target {
                let _ = writeln!(
                    t,
                    "  Target: {}{} (protocol {}), at least {:.0}% of its traffic",
                    target.address,
                    if target.port > 0 {
                        format!(":{}", target.port)
                    } else {
                        String::new()
                    },
                    target.protocol,
                    100.0 * target.share
                );
            }
            let ports = with_flows(f.top_ports.iter().map(|p| (p.port, p.flows)), "");
            let _ = writeln!(
                t,
                "  Destination ports: {ports} ({} distinct)",
                f.distinct_ports
            );
            let destinations = f.top_destinations.iter().map(|d| (d.address, d.flows));
            let _ = writeln!(t, "  Destinations: {}", with_flows(destinations, ""));
            if let Some(addresses) = f.addresses {
                let _ = writeln!(t, "  Addresses of the /64 that sent: about {addresses}");
            }
        }
        Flood::Target(target) => {
            let _ = writeln!(t, "  Distinct sources: about {}", target.distinct_sources);
            let sources = target.top_sources.iter().map(|s| (s.address, s.flows));
            let _ = writeln!(t, "  Heaviest sources: {}", with_flows(sources, " flows"));
            if !target.flagged_sources.is_empty() {
                let flagged: Vec<String> = target
                    .flagged_sources
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                let _ = writeln!(
                    t,
                    "  Sources with an alert of their own: {}",
                    flagged.join(", ")
                );
            }
        }
    }
    if flood.skipdata_records() > 0 {
        let _ = writeln!(
            t,
            "\nWARNING: {} SKIPDATA records: the flow log itself dropped records in these minutes; counts are lower bounds.",
            flowlog_core::thousands(flood.skipdata_records())
        );
    }

    let known = |v: &Option<String>| v.as_deref().map_or_else(|| "unknown".into(), printable);
    let _ = writeln!(t, "\nWhere it came from");
    let _ = writeln!(t, "  VPC: {}", known(&doc.origin.vpc_id));
    let _ = writeln!(t, "  Account: {}", known(&doc.origin.account_id));
    let _ = writeln!(t, "  Region: {}", known(&doc.origin.region));

    let _ = writeln!(t, "\nWhat to do next");
    if doc.stage == Stage::Ended {
        let _ = writeln!(
            t,
            "  The flood is over. If you blocked {} for it, you can lift the block; keep it if the source has no business with you.",
            match flood {
                Flood::Source(f) => f.source.to_string(),
                Flood::Target(_) => "its sources".into(),
            }
        );
        return t;
    }
    match flood {
        Flood::Source(f) => {
            let _ = writeln!(
                t,
                "  1. If the traffic is unwanted, block {} with a network ACL deny rule on the subnet (security groups cannot deny), an AWS WAF IP set, or your edge firewall.",
                f.source
            );
            let _ = writeln!(
                t,
                "  2. If {} is expected (a scanner you run, a load test, a partner), add it to the allowlist.",
                f.source
            );
        }
        Flood::Target(target) => {
            let _ = writeln!(
                t,
                "  1. Many sources: blocking one address will not help. For {} put AWS WAF rate-based rules (ALB, CloudFront, API Gateway) or AWS Shield Advanced in front of it.",
                target.target
            );
            let _ = writeln!(
                t,
                "  2. Check that SYN cookies are on and that the service's security group admits only the clients it needs."
            );
        }
    }
    if flood.rule() == Rule::PortScan {
        let _ = writeln!(
            t,
            "  3. Check that only the ports the service needs are open to this source."
        );
    }
    t
}

/// `item (flows)` for each, `unit` after the count, joined by commas; `none` for none.
fn with_flows<T: Display>(items: impl Iterator<Item = (T, u64)>, unit: &str) -> String {
    let listed: Vec<String> = items
        .map(|(item, flows)| format!("{item} ({}{unit})", flowlog_core::thousands(flows)))
        .collect();
    if listed.is_empty() {
        "none".into()
    } else {
        listed.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use flowlog_incidents::Stage;

    use super::super::fixtures::{detection, document};
    use super::*;

    /// Fails naming the first of `needles` that `text` does not contain.
    #[track_caller]
    fn assert_contains_all(text: &str, needles: &[&str]) {
        for needle in needles {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn the_email_reports_stage_incident_what_why_when_figures_signals_evidence_origin_and_next_steps()
     {
        let doc = document(&detection("203.0.113.7", 2000, 3, 0), Stage::Started);
        let text = text(&doc);
        assert_contains_all(
            &text,
            &[
                "STARTED: HIGH severity flood: syn-flood from 203.0.113.7",
                "Id: 203.0.113.7@1700000040 (notice 1, alert id 203.0.113.7@1700000040#1)",
                "Totals over 3 flagged minutes: 6,000 flows",
                "Still going on",
                "never completed their handshake",
                "Why this is not a busy client",
                "Worst minute: 2023-11-14T22:14:00Z",
                "Minutes flagged: 3",
                "Of them never completed: 2,000",
                "half open per minute: 2,000 (threshold 300)",
                "half open share: 100% (threshold 50%)",
                "Target: 10.0.0.5:443",
                "Destination ports: 443",
                "Account: 123456789012",
                "network ACL deny rule",
            ],
        );
    }

    #[test]
    fn the_ended_email_gives_duration_and_totals_and_says_it_is_over() {
        let doc = document(&detection("203.0.113.7", 2000, 3, 0), Stage::Ended);
        let text = text(&doc);
        assert_contains_all(
            &text,
            &[
                "ENDED: HIGH severity flood: syn-flood from 203.0.113.7",
                "Over: no flagged minute since",
                "Duration so far: 3m",
                "Totals over 3 flagged minutes",
                "The flood is over",
            ],
        );
        assert!(!text.contains("network ACL deny rule"));
    }

    #[test]
    fn a_target_email_lists_its_sources_and_advises_against_blocking_one() {
        let doc = document(&detection("203.0.113.7", 0, 1, 40), Stage::Started);
        let text = text(&doc);
        assert!(
            text.contains("distributed-syn-flood against 10.0.0.5"),
            "{text}"
        );
        assert!(text.contains("Heaviest sources: 198.51."), "{text}");
        assert!(
            text.contains("blocking one address will not help"),
            "{text}"
        );
    }

    #[test]
    fn control_characters_from_the_origin_are_shown_escaped() {
        let mut doc = document(&detection("203.0.113.7", 2000, 1, 0), Stage::Started);
        doc.origin.vpc_id = Some("vpc-1\nx".into());
        assert!(text(&doc).contains("VPC: vpc-1\\nx"));
    }

    #[test]
    fn a_backfill_notice_says_the_flood_is_in_the_past() {
        let mut doc = document(&detection("203.0.113.7", 2000, 1, 0), Stage::Started);
        doc.origin.backfill = true;
        assert!(text(&doc).starts_with("STARTED (backfill: a past flood, not happening now)"));
    }
}
