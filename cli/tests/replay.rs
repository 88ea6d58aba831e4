//! `flowlogs replay`: objects in time order through the incident lifecycle.

mod common;

use common::{generate, ok_stdout};
use serde_json::Value;

/// 2023-11-14T22:14:00Z.
const T0: i64 = 1_700_000_040;

/// A modelled VPC for `minutes` from `start`, with a SYN flood from 203.0.113.7 when `flood`.
fn vpc(name: &str, start: i64, minutes: u32, seed: u32, flood: bool) -> String {
    let (start, minutes, seed) = (start.to_string(), minutes.to_string(), seed.to_string());
    let mut args = vec![
        "--vpc",
        "--preset",
        "v5",
        "--gzip",
        "1",
        "--start",
        &start,
        "--minutes",
        &minutes,
        "--seed",
        &seed,
    ];
    if flood {
        args.extend(["--attack", "syn-flood=203.0.113.7"]);
    }
    generate(name, &args).0
}

#[test]
fn a_flood_over_three_objects_is_one_incident_started_once_updated_and_ended() {
    // Twenty minutes of flood in three deliveries, then quiet traffic.
    let a = vpc("replay-a.log.gz", T0, 8, 1, true);
    let b = vpc("replay-b.log.gz", T0 + 480, 8, 2, true);
    let c = vpc("replay-c.log.gz", T0 + 960, 4, 3, true);
    let quiet = vpc("replay-quiet.log.gz", T0 + 1200, 5, 4, false);
    // Given out of order: the replay orders them by arrival.
    let json = ok_stdout(&["replay", "--output", "json", &c, &quiet, &a, &b]);
    let notices: Vec<Value> = serde_json::from_str(&json).unwrap();
    let stages: Vec<(&str, &str)> = notices
        .iter()
        .map(|n| (n["stage"].as_str().unwrap(), n["subject"].as_str().unwrap()))
        .collect();
    assert_eq!(
        stages,
        [
            ("STARTED", "203.0.113.7"),
            ("ONGOING", "203.0.113.7"),
            ("ENDED", "203.0.113.7")
        ],
        "only the planted flood, once per stage"
    );
    let ended = &notices[2];
    assert_eq!(ended["totals"]["minutes"], 20);
    assert_eq!(ended["incident_id"], format!("203.0.113.7@{T0}"));
    assert_eq!(ended["finding"]["rule"], "syn-flood");

    let table = ok_stdout(&["replay", &a, &b, &c, &quiet]);
    assert!(
        table.starts_with("4 objects replayed, arriving 10 min after their last record"),
        "{table}"
    );
    assert!(
        table.contains("STARTED  203.0.113.7  syn-flood  HIGH  since 22:14:00Z"),
        "{table}"
    );
    assert!(
        table.contains("ENDED    203.0.113.7  syn-flood  HIGH  after 20 min: 20 minutes flagged"),
        "{table}"
    );
    assert!(
        table.trim_end().ends_with("3 notices about 1 incident."),
        "{table}"
    );
}

#[test]
fn quiet_objects_replay_to_no_notice_and_a_higher_threshold_silences_a_flood() {
    let quiet = vpc("replay-only-quiet.log.gz", T0, 4, 5, false);
    assert!(
        ok_stdout(&["replay", &quiet])
            .trim_end()
            .ends_with("0 notices about 0 incidents.")
    );
    let flood = vpc("replay-tuned.log.gz", T0, 4, 6, true);
    let tuned = ok_stdout(&[
        "replay",
        "--half-open-per-minute",
        "1000000",
        "--output",
        "json",
        &flood,
    ]);
    assert_eq!(tuned.trim(), "[]");
}

#[test]
fn parquet_and_text_objects_replay_into_one_incident() {
    // The same modelled VPC's flood, first as gzip text, then its next minutes as Parquet.
    let text = vpc("replay-text.log.gz", T0, 8, 5, true);
    let parquet = generate(
        "replay-next.log.parquet",
        &[
            "--vpc",
            "--preset",
            "v5",
            "--parquet",
            "--start",
            &(T0 + 480).to_string(),
            "--minutes",
            "4",
            "--seed",
            "6",
            "--attack",
            "syn-flood=203.0.113.7",
        ],
    )
    .0;
    let json = ok_stdout(&["replay", "--output", "json", &text, &parquet]);
    let notices: Vec<Value> = serde_json::from_str(&json).unwrap();
    let ended = notices
        .iter()
        .find(|n| n["stage"] == "ENDED")
        .expect("the incident ends");
    assert!(
        notices.iter().all(|n| n["subject"] == "203.0.113.7"),
        "{json}"
    );
    assert_eq!(ended["incident_id"], format!("203.0.113.7@{T0}"));
    assert_eq!(
        ended["totals"]["minutes"], 12,
        "both objects' minutes in one incident"
    );
}
