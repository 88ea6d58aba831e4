//! The subject line and the one-line text: who, what shape, how much, in a few characters.

use flowlog_core::{Rule, Severity};
use flowlog_incidents::{AlertDocument, Stage};

use super::Flood;

/// SNS subjects must be shorter than 100 characters.
const MAX_SUBJECT_CHARS: usize = 99;

/// `[FLOOD STARTED] 203.0.113.7 -> 10.0.1.10:443 syn-flood 3k half-open/min HIGH`;
/// `[FLOOD ENDED after 14m] …` with the peak figure; `[PAST FLOOD …]` for a backfill.
pub(super) fn subject(doc: &AlertDocument) -> String {
    let flood = Flood::from(&doc.finding);
    let stage = match doc.stage {
        Stage::Ended => format!("ENDED after {}", super::email::duration(doc.duration_secs)),
        stage => stage.as_str().to_owned(),
    };
    let tag = if doc.origin.backfill {
        "PAST FLOOD"
    } else {
        "FLOOD"
    };
    let mut subject = format!("[{tag} {stage}] {}", headline(flood));
    if flood.severity() == Severity::High && subject.chars().count() + 5 <= MAX_SUBJECT_CHARS {
        subject.push_str(" HIGH");
    }
    subject
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_SUBJECT_CHARS)
        .collect()
}

/// For protocols without their own message (SMS, mobile push, Firehose).
pub(super) fn one_line(doc: &AlertDocument) -> String {
    let flood = Flood::from(&doc.finding);
    format!(
        "{} {} {} since {}",
        doc.stage.as_str(),
        flood.severity().as_str(),
        headline(flood),
        flowlog_core::utc(doc.opened)
    )
}

fn headline(flood: Flood<'_>) -> String {
    let who = match flood {
        Flood::Source(f) => match f.target {
            Some(t) if t.port > 0 => format!("{} -> {}:{}", f.source, t.address, t.port),
            Some(t) => format!("{} -> {}", f.source, t.address),
            None => f.source.to_string(),
        },
        Flood::Target(t) => match t.port {
            Some(port) => format!("{}:{port} <- many", t.target),
            None => format!("{} <- many", t.target),
        },
    };
    format!("{who} {} {}", flood.rule(), figure(flood))
}

/// The figure that measures the flood's shape: `3k half-open/min`, `83 conn/s`, ...
fn figure(flood: Flood<'_>) -> String {
    let r = flood.rate();
    match flood.rule() {
        Rule::SynFlood | Rule::PortScan | Rule::DistributedSynFlood => {
            format!("{} half-open/min", compact(r.half_open_per_minute))
        }
        Rule::ConnectionFlood => format!("{} conn/min", compact(r.connections_per_minute)),
        Rule::RequestFlood
        | Rule::UdpFlood
        | Rule::IcmpFlood
        | Rule::DistributedUdpFlood
        | Rule::DistributedIcmpFlood => {
            format!("{} pkt/s", compact(r.packets_per_second.round() as u64))
        }
        Rule::MultiSourceFlood => match flood {
            Flood::Target(t) => format!("{} sources", t.flagged_sources.len()),
            Flood::Source(_) => String::new(),
        },
    }
}

/// A count in at most five characters: `950`, `2.1k`, `12k`, `1.2M` (rounded down).
pub(super) fn compact(n: u64) -> String {
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

#[cfg(test)]
mod tests {
    use flowlog_incidents::Stage;

    use super::super::fixtures::{detection, document};
    use super::*;

    #[test]
    fn the_subject_names_stage_source_target_shape_rate_and_severity() {
        let d = detection("203.0.113.7", 2000, 1, 0);
        assert_eq!(
            subject(&document(&d, Stage::Started)),
            "[FLOOD STARTED] 203.0.113.7 -> 10.0.0.5:443 syn-flood 2k half-open/min HIGH"
        );
        assert_eq!(
            subject(&document(&d, Stage::Ended)),
            "[FLOOD ENDED after 1m] 203.0.113.7 -> 10.0.0.5:443 syn-flood 2k half-open/min HIGH"
        );
        let d = detection("203.0.113.7", 0, 1, 40);
        assert_eq!(
            subject(&document(&d, Stage::Started)),
            "[FLOOD STARTED] 10.0.0.5:443 <- many distributed-syn-flood 8k half-open/min"
        );
    }

    #[test]
    fn a_backfill_subject_says_past_flood() {
        let mut doc = document(&detection("203.0.113.7", 2000, 1, 0), Stage::Started);
        doc.origin.backfill = true;
        assert!(subject(&doc).starts_with("[PAST FLOOD STARTED]"));
        assert!(one_line(&doc).starts_with("STARTED HIGH 203.0.113.7"));
    }

    #[test]
    fn the_subject_stays_under_100_characters_without_control_characters() {
        let d = detection("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 2000, 1, 0);
        let s = subject(&document(&d, Stage::Ended));
        assert!(
            s.chars().count() < 100 && !s.chars().any(char::is_control),
            "{s}"
        );
    }

    #[test]
    fn compact_counts_fit_five_characters() {
        for (n, text) in [
            (950, "950"),
            (2_100, "2.1k"),
            (12_345, "12k"),
            (1_250_000, "1.2M"),
            (1000, "1k"),
        ] {
            assert_eq!(compact(n), text);
        }
        assert!(compact(u64::MAX).len() <= 5);
    }
}
