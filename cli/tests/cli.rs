//! The `flowlogs` binary end to end: generated objects in, the documented contract out.

mod common;

use std::process::Command;

use common::{flowlogs, generate, ok_stdout, scratch, with_stdin};
use serde_json::Value;

#[test]
fn analyze_json_matches_the_ground_truth_in_every_format() {
    for (format, gzip) in [
        ("default", true),
        ("v3", false),
        ("v5", true),
        ("v8", false),
        ("v11", true),
    ] {
        let mut args = vec![
            "--preset",
            format,
            "--records",
            "20000",
            "--nodata-every",
            "500",
        ];
        args.extend([
            "--skipdata-every",
            "700",
            "--malformed-every",
            "1000",
            "--seed",
            "7",
        ]);
        if gzip {
            args.extend(["--gzip", "6"]);
        }
        let (object, truth) = generate(&format!("truth-{format}.log"), &args);
        let analyze = ["analyze", "--json", "--attribution", "srcaddr", &object];
        let doc: Value = serde_json::from_str(&ok_stdout(&analyze)).unwrap();
        assert_eq!(doc["records"], truth["records"], "{format}");
        assert_eq!(doc["log_status"]["OK"], truth["ok"], "{format}");
        assert_eq!(doc["log_status"]["NODATA"], truth["nodata"], "{format}");
        assert_eq!(doc["log_status"]["SKIPDATA"], truth["skipdata"], "{format}");
        let skipped: u64 = doc["skipped"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(
            skipped,
            truth["malformed_lines"].as_u64().unwrap(),
            "{format}"
        );
        // Every record, request or reply, is in the totals exactly once.
        for key in ["flows", "packets", "bytes", "rejected"] {
            assert_eq!(doc["totals"][key], truth[key], "{format} total {key}");
        }
        // A source is counted for the requests it sent: some of the records it is srcaddr of.
        let sources = doc["sources"].as_array().unwrap();
        assert!(!sources.is_empty(), "{format}");
        for source in sources {
            let address = source["source"].as_str().unwrap();
            let sent = &truth["per_source"][address];
            for key in ["flows", "packets", "bytes", "rejected"] {
                assert!(
                    source[key].as_u64().unwrap() <= sent[key].as_u64().unwrap_or(0),
                    "{format} {key} of {address}: {} > {}",
                    source[key],
                    sent[key]
                );
            }
        }
        assert_eq!(
            doc["floods"],
            Value::Array(vec![]),
            "{format}: no flood in normal traffic"
        );
        assert_eq!(doc["targets"], Value::Array(vec![]), "{format}");
    }
}

#[test]
fn parse_prints_one_json_object_per_record_keyed_by_the_header() {
    let (object, truth) = generate(
        "parse-v11.log",
        &[
            "--preset",
            "v11",
            "--records",
            "500",
            "--nodata-every",
            "50",
        ],
    );
    let header = std::fs::read_to_string(&object)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let names: Vec<&str> = header.split(' ').collect();
    let out = ok_stdout(&["parse", &object]);
    let records: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len() as u64, truth["records"].as_u64().unwrap());
    for record in &records {
        let keys: Vec<&str> = record
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut sorted_names = names.clone();
        sorted_names.sort_unstable();
        let mut sorted_keys = keys.clone();
        sorted_keys.sort_unstable();
        assert_eq!(sorted_keys, sorted_names);
        assert!(record["version"].is_u64() && record["start"].is_i64());
        assert!(record["account-id"].is_string());
        if record["log-status"] == "NODATA" {
            assert!(record["srcaddr"].is_null() && record["packets"].is_null());
        } else {
            assert!(record["srcaddr"].is_string() && record["bytes"].is_u64());
        }
    }
}

#[test]
fn parse_reads_stdin_and_uses_log_format_for_headerless_input() {
    let out = with_stdin(
        &[
            "parse",
            "--log-format",
            "${srcaddr} ${dstport} ${log-status}",
            "-",
        ],
        b"2001:db8::1 443 OK\nbogus\n10.0.0.1 - OK\n",
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"srcaddr\":\"2001:db8::1\",\"dstport\":443,\"log-status\":\"OK\"}\n\
         {\"srcaddr\":\"10.0.0.1\",\"dstport\":null,\"log-status\":\"OK\"}\n"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("2 records")
            && stderr.contains("1 line skipped")
            && stderr.contains("line 2: field_count"),
        "{stderr}"
    );
}

#[test]
fn fields_unknown_in_a_header_line_are_kept_as_text() {
    let out = with_stdin(
        &["parse"],
        b"srcaddr dstport log-status brand-new\n10.0.0.1 443 OK x\n",
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"srcaddr\":\"10.0.0.1\",\"dstport\":443,\"log-status\":\"OK\",\"brand-new\":\"x\"}\n"
    );
}

#[test]
fn analyze_finds_the_flood_and_shows_it_in_both_outputs() {
    let (object, _) = generate(
        "flood.log.gz",
        &[
            "--preset",
            "v5",
            "--records",
            "30000",
            "--flood",
            "203.0.113.7",
            "--flood-flows",
            "12000",
            "--heavy-downloader",
            "--gzip",
            "6",
        ],
    );
    let doc: Value = serde_json::from_str(&ok_stdout(&["analyze", "--json", &object])).unwrap();
    let floods = doc["floods"].as_array().unwrap();
    assert_eq!(floods.len(), 1, "{floods:?}");
    assert_eq!(floods[0]["source"], "203.0.113.7");
    assert_eq!(floods[0]["rule"], "syn-flood");
    assert!(floods[0]["flows"].as_u64().unwrap() >= 2000);
    for key in ["window_start", "packets", "bytes", "signals", "reason"] {
        assert!(!floods[0][key].is_null(), "{key}");
    }
    let table = ok_stdout(&["analyze", &object]);
    assert!(
        table.contains("FLOODS (1)") && table.contains("HIGH syn-flood 203.0.113.7"),
        "{table}"
    );
    let allowed = ok_stdout(&["analyze", "--json", "--allow", "203.0.113.0/24", &object]);
    assert_eq!(
        serde_json::from_str::<Value>(&allowed).unwrap()["floods"],
        Value::Array(vec![])
    );
}

#[test]
fn unreadable_or_foreign_input_exits_non_zero_with_one_line() {
    let foreign = scratch("letter.txt");
    std::fs::write(&foreign, "Dear reader,\nthis is not a flow log.\n").unwrap();
    for args in [
        vec!["analyze", foreign.to_str().unwrap()],
        vec!["parse", "/no/such/file.log.gz"],
    ] {
        let out = flowlogs(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("flowlogs: "), "{stderr}");
    }
}

#[test]
fn a_bad_input_among_several_is_reported_and_the_others_still_read() {
    let (good, truth) = generate("good-among-bad.log", &["--records", "300"]);
    let out = flowlogs(&["analyze", "--json", "/no/such/file", &good]);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["records"], truth["records"]);
    assert_eq!(doc["objects"], 1);
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("/no/such/file")
    );
    let out = flowlogs(&["parse", "/no/such/file", &good]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        out.stdout.iter().filter(|&&b| b == b'\n').count() as u64,
        truth["records"].as_u64().unwrap()
    );
}

#[test]
fn bundled_sample_objects_are_exactly_what_the_generator_writes() {
    let root = common::root();
    let out = scratch("samples");
    std::fs::create_dir_all(&out).unwrap();
    let status = Command::new("bash")
        .arg(root.join("scripts/make-samples.sh"))
        .env("FLOWLOGS", env!("CARGO_BIN_EXE_flowlogs"))
        .env("OUT", &out)
        .status()
        .unwrap();
    assert!(status.success());
    let bundled = root.join("events/objects");
    let mut names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 5);
    for name in names {
        let fresh = std::fs::read(out.join(&name)).unwrap();
        let committed = std::fs::read(bundled.join(&name)).unwrap_or_default();
        assert!(
            fresh == committed,
            "{name:?} differs: run scripts/make-samples.sh"
        );
    }
}

#[test]
fn the_generators_own_big_object_reports_only_its_planted_flood() {
    for format in ["default", "v5"] {
        let (object, _) = generate(
            &format!("big-{format}.log.gz"),
            &[
                "--records",
                "2000000",
                "--preset",
                format,
                "--flood",
                "203.0.113.7",
                "--gzip",
                "1",
            ],
        );
        let doc: Value = serde_json::from_str(&ok_stdout(&["analyze", "--json", &object])).unwrap();
        let floods: Vec<(&str, &str)> = doc["floods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["source"].as_str().unwrap(), f["rule"].as_str().unwrap()))
            .collect();
        assert_eq!(floods, [("203.0.113.7", "syn-flood")], "{format}");
        assert_eq!(doc["targets"], Value::Array(vec![]), "{format}");
    }
}

#[test]
fn a_modelled_vpc_reports_exactly_its_planted_attacks() {
    let (object, truth) = generate(
        "vpc.log.gz",
        &[
            "--vpc",
            "--preset",
            "v5",
            "--minutes",
            "3",
            "--gzip",
            "1",
            "--attack",
            "connection-flood",
            "--attack",
            "udp-flood=198.51.100.77",
            "--attack",
            "botnet",
        ],
    );
    let doc: Value = serde_json::from_str(&ok_stdout(&["analyze", "--json", &object])).unwrap();
    let mut found: Vec<String> = doc["floods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["source"].as_str().unwrap(),
                f["rule"].as_str().unwrap()
            )
        })
        .chain(doc["targets"].as_array().unwrap().iter().map(|t| {
            format!(
                "target {} {}",
                t["target"].as_str().unwrap(),
                t["rule"].as_str().unwrap()
            )
        }))
        .collect();
    let mut expected: Vec<String> = truth["expected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match e.get("source") {
            Some(source) => format!(
                "{} {}",
                source.as_str().unwrap(),
                e["rule"].as_str().unwrap()
            ),
            None => format!(
                "target {} {}",
                e["target"].as_str().unwrap(),
                e["rule"].as_str().unwrap()
            ),
        })
        .collect();
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
    assert!(
        expected.contains(&"198.51.100.77 udp-flood".to_string()),
        "{expected:?}"
    );
    assert_eq!(doc["records"], truth["records"]);
}

#[test]
fn parquet_inputs_give_what_their_text_gives_in_analyze_parse_and_stats() {
    let args = [
        "--preset",
        "v5",
        "--records",
        "6000",
        "--nodata-every",
        "400",
        "--flood",
        "203.0.113.7",
        "--seed",
        "21",
    ];
    let (text, _) = generate("twin.log.gz", &[&args[..], &["--gzip", "6"]].concat());
    // The name says nothing: the first bytes do.
    let (parquet, _) = generate("twin-parquet.log", &[&args[..], &["--parquet"]].concat());
    assert!(std::fs::read(&parquet).unwrap().starts_with(b"PAR1"));
    let analyze = |input: &str| -> Value {
        serde_json::from_str(&ok_stdout(&["analyze", "--output", "json", input])).unwrap()
    };
    let (from_text, from_parquet) = (analyze(&text), analyze(&parquet));
    for key in [
        "records",
        "log_status",
        "skipped",
        "totals",
        "sources",
        "floods",
        "targets",
    ] {
        assert_eq!(from_parquet[key], from_text[key], "analyze {key}");
    }
    assert_eq!(from_parquet["floods"][0]["source"], "203.0.113.7");
    let table = ok_stdout(&["analyze", &parquet, &text]);
    assert!(
        table.starts_with("2 objects (1 Parquet), 12,000 records"),
        "{table}"
    );
    assert_eq!(
        common::records(std::slice::from_ref(&parquet)),
        common::records(std::slice::from_ref(&text)),
        "parse prints every field of every record alike"
    );
    let stats =
        |input: &str| ok_stdout(&["stats", "--by", "source,dstport", "--output", "csv", input]);
    assert_eq!(stats(&parquet), stats(&text));
    let mut broken = std::fs::read(&parquet).unwrap();
    broken.truncate(broken.len() - 10);
    let path = scratch("broken.parquet");
    std::fs::write(&path, broken).unwrap();
    let out = flowlogs(&["analyze", path.to_str().unwrap(), &text]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a bad input is reported, the rest still read"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.parquet: not a Parquet file"),
        "{stderr}"
    );
}
