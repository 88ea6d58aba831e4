//! `flowlogs replay`: the objects in time order through the alert function's incident
//! lifecycle ([`flowlog_incidents::replay`]), printed as a timeline or as the notices' JSON.

use std::fmt::Write as _;

use flowlog_core::{AggregateOptions, Aggregator, Floor, Severity};
use flowlog_incidents::{AlertDocument, Arrival, Origin, Sent, Stage};

use crate::Error;
use crate::args::{AnalyzeOutput, ReplayArgs};
use crate::input::Failure;
use crate::text::{self, EMPHASIS, GOOD, HIGH, MEDIUM, count, counted, styled};

/// Runs `replay`; returns how many inputs failed (each already reported).
pub fn run(args: ReplayArgs) -> Result<usize, Error> {
    let rules = args.rules.rules();
    let floor = Floor::shared(&rules);
    let options = AggregateOptions {
        attribution: args.attribution,
        ..AggregateOptions::default()
    };
    let scan_options = args.input.scan_options();
    let mut arrivals = Vec::new();
    let mut empty = 0;
    let failed = crate::input::for_each(
        &args.input.inputs,
        args.input.read_options(false),
        |name, reader| {
            // One aggregation per object, as the reader function does.
            let mut aggregator = Aggregator::new(options);
            let parquet = flowlog_parquet::ParquetOptions::default();
            flowlog_parquet::scan_input(reader, &scan_options, &parquet, &mut aggregator)
                .map_err(|e| Failure::Input(format!("{name}: {e}")))?;
            match aggregator.latest_end() {
                Some(end) => arrivals.push(Arrival {
                    at: end + args.delay,
                    summary: aggregator.summary(&floor),
                }),
                None => empty += 1,
            }
            Ok(())
        },
    )?;
    let objects = arrivals.len();
    let sent = flowlog_incidents::replay(arrivals, &rules, &args.policy(), args.every);
    let out = match args.output {
        AnalyzeOutput::Json => {
            let documents: Vec<AlertDocument> = sent
                .iter()
                .map(|s| {
                    let origin = Origin {
                        detected_at: s.at,
                        ..Origin::default()
                    };
                    AlertDocument::new(&s.incident, &s.notice, origin)
                })
                .collect();
            serde_json::to_string_pretty(&documents).expect("documents serialize") + "\n"
        }
        AnalyzeOutput::Table => timeline(&sent, objects, empty, &args),
    };
    text::print(&out)?;
    Ok(failed)
}

fn timeline(sent: &[Sent], objects: usize, empty: usize, args: &ReplayArgs) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{} replayed, arriving {} after their last record, a verdict at each arrival and every {}:",
        counted(objects as u64, "object"),
        minutes(args.delay),
        minutes(args.every),
    );
    if empty > 0 {
        let _ = writeln!(
            t,
            "{} without records left out.",
            counted(empty as u64, "object")
        );
    }
    for s in sent {
        let i = &s.incident;
        let stage = match s.notice.stage {
            Stage::Started => styled(HIGH, "STARTED"),
            Stage::Ongoing => styled(MEDIUM, "ONGOING"),
            Stage::Ended => styled(GOOD, "ENDED  "),
        };
        let severity = match i.severity {
            Severity::High => styled(HIGH, "HIGH"),
            Severity::Medium => styled(MEDIUM, "MEDIUM"),
        };
        let totals = i.totals();
        let detail = match s.notice.stage {
            Stage::Started => format!(
                "since {}, peak {} flows/min",
                clock(i.opened),
                count(i.peak.flows_per_minute)
            ),
            Stage::Ongoing => format!(
                "{} flagged so far, {} flows, peak {} flows/min",
                counted(totals.minutes, "minute"),
                count(totals.flows),
                count(i.peak.flows_per_minute)
            ),
            Stage::Ended => format!(
                "after {}: {} flagged, {} flows, peak {} flows/min",
                minutes(i.duration_secs()),
                counted(totals.minutes, "minute"),
                count(totals.flows),
                count(i.peak.flows_per_minute)
            ),
        };
        let _ = writeln!(
            t,
            "{}  {stage}  {}  {}  {severity}  {detail}",
            flowlog_core::utc(s.at),
            styled(EMPHASIS, &i.subject),
            i.rule
        );
    }
    let incidents: std::collections::BTreeSet<&str> =
        sent.iter().map(|s| s.incident.id.as_str()).collect();
    let _ = writeln!(
        t,
        "{} about {}.",
        counted(sent.len() as u64, "notice"),
        counted(incidents.len() as u64, "incident")
    );
    t
}

/// `22:14:00Z`.
fn clock(unix: i64) -> String {
    flowlog_core::utc(unix)[11..].to_owned()
}

/// `10 min`, `90 s`, `2 h 5 min`.
fn minutes(secs: i64) -> String {
    match secs {
        s if s % 60 != 0 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}
