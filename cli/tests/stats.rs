//! `flowlogs stats` against an independent count of what `flowlogs parse` prints, and the
//! README's one-line answers to the two everyday Logs Insights queries.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{FLOWLOGS, ok_stdout, records, root, samples};
use serde_json::Value;

/// Runs `stats` with `args` over `inputs` and returns its JSON document.
fn stats_json(args: &[&str], inputs: &[String]) -> Value {
    let mut all = vec!["stats", "--output", "json"];
    all.extend_from_slice(args);
    all.extend(inputs.iter().map(String::as_str));
    serde_json::from_str(&ok_stdout(&all)).unwrap()
}

/// Flows per value of `key`, counted from the parsed OK records that `keep` accepts.
fn count_by(records: &[Value], key: &str, keep: impl Fn(&Value) -> bool) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for record in records
        .iter()
        .filter(|r| r["log-status"] == "OK" && keep(r))
    {
        *counts.entry(record[key].to_string()).or_default() += 1;
    }
    counts
}

/// The groups of a `stats` document as key value (JSON text) → flows.
fn groups(doc: &Value, key: &str) -> BTreeMap<String, u64> {
    doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g[key].to_string(), g["flows"].as_u64().unwrap()))
        .collect()
}

/// The README line under `# Logs Insights: <query>`.
fn readme_command(query: &str) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let marker = format!("# Logs Insights: {query}");
    let mut lines = readme.lines().skip_while(|l| l.trim() != marker);
    assert!(lines.next().is_some(), "README has no line {marker:?}");
    let command = lines.next().unwrap().trim().to_owned();
    assert!(command.starts_with("flowlogs "), "{command}");
    command
}

/// Runs a README command line in the repository's root with this flowlogs first on PATH.
fn run_readme(command: &str) -> String {
    let bin = std::path::Path::new(FLOWLOGS).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-c", command])
        .current_dir(root())
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_readme_answers_the_top_talkers_query_in_one_line() {
    let command =
        readme_command("stats count(*) as records by srcAddr | sort records desc | limit 10");
    let doc: Value =
        serde_json::from_str(&run_readme(&format!("{command} --output json"))).unwrap();
    let expected = count_by(&records(&samples()), "srcaddr", |_| true);
    let mut top: Vec<u64> = expected.values().copied().collect();
    top.sort_unstable_by(|a, b| b.cmp(a));
    top.truncate(10);
    let found = doc["groups"].as_array().unwrap();
    let flows: Vec<u64> = found.iter().map(|g| g["flows"].as_u64().unwrap()).collect();
    assert_eq!(flows, top);
    for group in found {
        assert_eq!(
            expected[&group["source"].to_string()],
            group["flows"].as_u64().unwrap()
        );
    }
    let table = run_readme(&command);
    let first = table.lines().nth(2).unwrap();
    assert!(
        first.starts_with(found[0]["source"].as_str().unwrap()),
        "{table}"
    );
    assert_eq!(
        table.lines().count(),
        12,
        "heading, header, 10 rows:\n{table}"
    );
}

#[test]
fn the_readme_answers_the_rejected_sources_query_in_one_line() {
    let command = readme_command("filter action=\"REJECT\" | stats count(*) by srcAddr");
    let doc: Value =
        serde_json::from_str(&run_readme(&format!("{command} --output json"))).unwrap();
    let expected = count_by(&records(&samples()), "srcaddr", |r| r["action"] == "REJECT");
    assert!(expected.len() > 20, "the samples have rejected traffic");
    assert_eq!(groups(&doc, "source"), expected);
    assert_eq!(doc["groups_total"], expected.len());
    let table = run_readme(&command);
    assert_eq!(table.lines().count(), expected.len() + 2, "{table}");
}

#[test]
fn filters_keep_only_the_records_that_match_every_one() {
    let inputs = samples();
    let all = records(&inputs);
    let doc = stats_json(
        &[
            "--protocol",
            "tcp",
            "--port",
            "443,8000-8999",
            "--dst",
            "10.0.0.0/8",
            "--action",
            "accept",
            "--by",
            "destination",
        ],
        &inputs,
    );
    let expected = count_by(&all, "dstaddr", |r| {
        let port = r["dstport"].as_u64().unwrap_or(0);
        r["protocol"] == 6
            && (port == 443 || (8000..=8999).contains(&port))
            && r["dstaddr"].as_str().unwrap_or("").starts_with("10.")
            && r["action"] == "ACCEPT"
    });
    assert!(!expected.is_empty());
    assert_eq!(groups(&doc, "destination"), expected);
    let interface = all
        .iter()
        .find_map(|r| r["interface-id"].as_str())
        .unwrap()
        .to_owned();
    let doc = stats_json(&["--interface", &interface, "--by", "dstport"], &inputs);
    let expected = count_by(&all, "dstport", |r| r["interface-id"] == interface.as_str());
    assert_eq!(groups(&doc, "dstport"), expected);
}

#[test]
fn since_and_until_split_the_records_by_their_start() {
    let inputs = samples();
    let all = records(&inputs);
    let mut starts: Vec<i64> = all
        .iter()
        .filter(|r| r["log-status"] == "OK")
        .map(|r| r["start"].as_i64().unwrap())
        .collect();
    starts.sort_unstable();
    let middle = starts[starts.len() / 2].to_string();
    let before = stats_json(&["--until", &middle, "--by", "protocol"], &inputs);
    let after = stats_json(&["--since", &middle, "--by", "protocol"], &inputs);
    let t = middle.parse::<i64>().unwrap();
    let expected_before = starts.iter().filter(|&&s| s < t).count() as u64;
    assert_eq!(before["matched"]["flows"], expected_before);
    assert_eq!(
        after["matched"]["flows"],
        starts.len() as u64 - expected_before
    );
    let iso = ok_stdout(&[
        "stats",
        "--output",
        "json",
        "--until",
        "2023-11-14T22:13:20Z",
        &inputs[0],
    ]);
    let unix = ok_stdout(&[
        "stats",
        "--output",
        "json",
        "--until",
        "1700000000",
        &inputs[0],
    ]);
    assert_eq!(iso, unix);
}

#[test]
fn csv_and_json_list_the_same_groups_in_the_same_order() {
    let inputs = samples();
    let doc = stats_json(
        &["--by", "source,dstport", "--sort", "bytes", "--top", "25"],
        &inputs,
    );
    let mut args = vec![
        "stats",
        "--output",
        "csv",
        "--by",
        "source,dstport",
        "--sort",
        "bytes",
        "--top",
        "25",
    ];
    args.extend(inputs.iter().map(String::as_str));
    let csv = ok_stdout(&args);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("source,dstport,flows,packets,bytes,rejected")
    );
    let rows: Vec<&str> = lines.collect();
    let groups = doc["groups"].as_array().unwrap();
    assert_eq!(rows.len(), 25);
    let mut last_bytes = u64::MAX;
    for (row, group) in rows.iter().zip(groups) {
        let expected = format!(
            "{},{},{},{},{},{}",
            group["source"].as_str().unwrap(),
            group["dstport"],
            group["flows"],
            group["packets"],
            group["bytes"],
            group["rejected"]
        );
        assert_eq!(*row, expected);
        let bytes = group["bytes"].as_u64().unwrap();
        assert!(bytes <= last_bytes, "sorted by bytes");
        last_bytes = bytes;
    }
}
