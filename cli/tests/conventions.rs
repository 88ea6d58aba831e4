//! The conventions of the command line: help, exit status, option ranges, the format flags,
//! completions, colour, progress and the layout of the findings.

mod common;

use common::{
    FLOWLOGS, coloured, flowlogs, generate, ok_stdout, on_a_terminal, samples, scratch, with_stdin,
};
use serde_json::Value;

const COMMANDS: [&str; 5] = ["parse", "stats", "analyze", "generate", "completions"];

#[test]
fn every_help_has_examples_and_names_no_internal_crate() {
    let mut pages = vec![ok_stdout(&["--help"])];
    pages.extend(COMMANDS.iter().map(|c| ok_stdout(&[c, "--help"])));
    for (page, name) in pages.iter().zip(["flowlogs"].iter().chain(&COMMANDS)) {
        assert!(page.contains("Usage: flowlogs"), "{name}");
        assert!(page.contains("Examples:"), "{name} --help has no examples");
        for internal in [
            "flowlog-core",
            "flowlog_core",
            "flowlog-synth",
            "flowlog_synth",
            "crate",
        ] {
            assert!(!page.contains(internal), "{name} --help names {internal}");
        }
    }
    assert!(pages[0].contains("Exit status: 0"), "{}", pages[0]);
    let manifest = std::fs::read_to_string(common::root().join("cli/Cargo.toml")).unwrap();
    let description = manifest
        .lines()
        .find(|l| l.starts_with("description"))
        .unwrap();
    assert!(!description.contains("flowlog-"), "{description}");
}

#[test]
fn exit_status_is_0_for_success_1_for_bad_input_and_2_for_usage() {
    let (good, _) = generate("status.log", &["--records", "100"]);
    assert_eq!(flowlogs(&["analyze", &good]).status.code(), Some(0));
    assert_eq!(
        flowlogs(&["stats", "/no/such/file.log.gz"]).status.code(),
        Some(1)
    );
    for usage in [
        &["analyze", "--no-such-option"][..],
        &["frobnicate"],
        &["analyze", "--format", "v5", &good],
        &["stats", "--by", "source,source", &good],
        &[
            "stats",
            "--since",
            "2025-11-24",
            "--until",
            "2025-11-23",
            &good,
        ],
        &["generate", "--records", "10", "--flood", "203.0.113.7"],
    ] {
        let out = flowlogs(usage);
        assert_eq!(out.status.code(), Some(2), "{usage:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("error"),
            "{usage:?}"
        );
    }
}

#[test]
fn out_of_range_options_are_refused_naming_the_option() {
    for (args, option) in [
        (
            &["generate", "--flood-reject-share", "5"][..],
            "--flood-reject-share",
        ),
        (&["generate", "--ipv6-share", "1.5"], "--ipv6-share"),
        (&["generate", "--gzip", "10"], "--gzip"),
        (&["generate", "--flood-ports", "0"], "--flood-ports"),
        (&["generate", "--vpc", "--minutes", "0"], "--minutes"),
        (&["generate", "--vpc", "--busy", "0"], "--busy"),
        (&["analyze", "--top", "0"], "--top"),
        (
            &["analyze", "--half-open-share", "1.5"],
            "--half-open-share",
        ),
        (
            &["analyze", "--half-open-per-minute", "0"],
            "--half-open-per-minute",
        ),
        (&["analyze", "--max-sources", "0"], "--max-sources"),
        (&["analyze", "--s3-concurrency", "65"], "--s3-concurrency"),
        (&["stats", "--max-groups", "0"], "--max-groups"),
        (&["stats", "--port", "70000"], "--port"),
        (&["stats", "--port", "9000-8000"], "--port"),
        (&["stats", "--protocol", "300"], "--protocol"),
        (&["stats", "--since", "yesterday"], "--since"),
        (&["parse", "--src", "10.0.0.0/33"], "--src"),
    ] {
        let out = flowlogs(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(option), "{args:?}: {stderr}");
    }
}

#[test]
fn a_misspelt_field_in_a_format_string_is_refused_with_the_nearest_known_one() {
    for command in ["parse", "stats", "analyze", "generate"] {
        let out = flowlogs(&[command, "--log-format", "${version} ${srcadr} ${dstport}"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("unknown field \"srcadr\"") && stderr.contains("\"srcaddr\""),
            "{command}: {stderr}"
        );
    }
}

#[test]
fn a_preset_and_a_format_string_each_have_their_flag_and_point_to_the_other() {
    let out = flowlogs(&["analyze", "--log-format", "v5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--preset v5"));
    let out = flowlogs(&["generate", "--preset", "${srcaddr}"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--log-format"));
    let out = flowlogs(&["parse", "--preset", "v5", "--log-format", "${srcaddr}"]);
    assert_eq!(out.status.code(), Some(2), "one or the other");
}

#[test]
fn a_headerless_object_reads_the_same_with_its_preset_or_its_format_string() {
    let (with_header, _) = generate("preset-header.log", &["--preset", "v5", "--records", "400"]);
    let (headerless, _) = generate(
        "preset-headerless.log",
        &["--preset", "v5", "--records", "400", "--no-header"],
    );
    let format_string = flowlog_synth::formats::V5_ALL
        .iter()
        .map(|f| format!("${{{f}}}"))
        .collect::<Vec<_>>()
        .join(" ");
    let expected = ok_stdout(&["parse", &with_header]);
    assert_eq!(expected.lines().count(), 400);
    for command in ["parse", "stats", "analyze"] {
        let reference = ok_stdout(&[command, &with_header]);
        assert_eq!(
            ok_stdout(&[command, "--preset", "v5", &headerless]),
            reference,
            "{command} --preset"
        );
        assert_eq!(
            ok_stdout(&[command, "--log-format", &format_string, &headerless]),
            reference,
            "{command} --log-format"
        );
    }
    let (generated, _) = generate(
        "format-string.log",
        &["--log-format", &format_string, "--records", "400"],
    );
    assert_eq!(
        std::fs::read(&generated).unwrap(),
        std::fs::read(&with_header).unwrap()
    );
}

#[test]
fn completions_are_printed_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = ok_stdout(&["completions", shell]);
        assert!(
            script.contains("flowlogs") && script.contains("stats") && script.contains("top"),
            "{shell}"
        );
    }
}

#[test]
fn colour_is_used_on_a_terminal_unless_no_color_is_set() {
    let flood = &samples()[2];
    assert!(flood.ends_with("flood.log.gz"));
    let command = format!("{FLOWLOGS} analyze {flood}");
    assert!(coloured(&on_a_terminal(&command, &[])));
    assert!(!coloured(&on_a_terminal(&command, &[("NO_COLOR", "1")])));
    assert!(!coloured(&ok_stdout(&["analyze", flood])), "piped");
    assert!(coloured(&ok_stdout(&[
        "analyze", "--color", "always", flood
    ])));
    let never = format!("{FLOWLOGS} analyze --color never {flood}");
    assert!(!coloured(&on_a_terminal(&never, &[])));
}

#[test]
fn progress_is_drawn_on_a_terminal_and_never_into_a_pipe() {
    let big = scratch("progress.log.gz");
    let big = big.to_str().unwrap();
    let generate_command =
        format!("{FLOWLOGS} --progress always generate --records 600000 --gzip 1 -o {big}");
    let drawn = on_a_terminal(&generate_command, &[]);
    assert!(
        drawn.contains("writing 600,000 records") && drawn.contains("% "),
        "{drawn:.2000}"
    );
    let analyze_command = format!("{FLOWLOGS} --progress always analyze --output json {big}");
    let drawn = on_a_terminal(&analyze_command, &[]);
    assert!(
        drawn.contains("progress.log.gz") && drawn.contains("% ") && drawn.contains(" left"),
        "{drawn:.2000}"
    );
    let out = flowlogs(&["--progress", "always", "analyze", "--output", "json", big]);
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vpc = scratch("progress-vpc.log");
    let vpc_command = format!("{FLOWLOGS} generate --vpc --minutes 1 -o {}", vpc.display());
    assert!(on_a_terminal(&vpc_command, &[]).contains("modelling 1 minute of a VPC"));
}

#[test]
fn quick_work_and_progress_never_draw_no_bar() {
    let (small, _) = generate("quick.log", &["--records", "100"]);
    for command in [
        format!("{FLOWLOGS} analyze --output json {small}"),
        format!("{FLOWLOGS} --progress never generate --vpc --minutes 1 -o {small}.vpc"),
    ] {
        let drawn = on_a_terminal(&command, &[]);
        assert!(
            !drawn.contains(" left") && !drawn.contains("modelling"),
            "{command}: {drawn:.2000}"
        );
    }
}

#[test]
fn findings_wrap_between_words_within_120_columns() {
    let inputs = samples();
    let mut args = vec!["analyze"];
    args.extend(inputs.iter().map(String::as_str));
    let table = ok_stdout(&args);
    assert!(table.lines().all(|l| l.chars().count() <= 120), "{table}");
    args.extend(["--output", "json"]);
    let doc: Value = serde_json::from_str(&ok_stdout(&args)).unwrap();
    let words: Vec<&str> = table.split_whitespace().collect();
    let flood = &doc["floods"][0];
    for sentence in [&flood["reason"], &flood["not_a_busy_client"]] {
        let sentence: Vec<&str> = sentence.as_str().unwrap().split_whitespace().collect();
        assert!(
            words
                .windows(sentence.len())
                .any(|w| w == sentence.as_slice()),
            "{sentence:?} is not whole in\n{table}"
        );
    }
}

#[test]
fn records_by_log_status_and_gaps_in_flagged_minutes_are_named_apart() {
    let inputs = samples();
    let mut args = vec!["analyze"];
    args.extend(inputs.iter().map(String::as_str));
    let table = ok_stdout(&args);
    args.extend(["--output", "json"]);
    let doc: Value = serde_json::from_str(&ok_stdout(&args)).unwrap();
    let all = doc["log_status"]["SKIPDATA"].as_u64().unwrap();
    let flagged = doc["floods"][0]["skipdata_records"].as_u64().unwrap();
    assert_ne!(all, flagged, "the samples show both figures");
    assert!(
        table.contains("records by log-status: OK ")
            && table.contains(&format!(", SKIPDATA {all};")),
        "{table}"
    );
    let gap = if flagged == 1 { "record" } else { "records" };
    assert!(
        table.contains(&format!(
            "Log gaps: {flagged} SKIPDATA {gap} in the flagged minutes"
        )),
        "{table}"
    );
}

#[test]
fn numbers_are_written_one_way_in_every_human_summary() {
    let (object, _) = generate(
        "numbers.log",
        &["--records", "12345", "--malformed-every", "1000"],
    );
    let out = flowlogs(&["parse", &object]);
    let summary = String::from_utf8(out.stderr).unwrap();
    assert!(summary.contains(": 12,345 records (OK 12,345"), "{summary}");
    assert!(summary.contains(", 12 lines skipped"), "{summary}");
    let table = ok_stdout(&["analyze", &object]);
    assert!(
        table.starts_with("1 object, 12,345 records by log-status"),
        "{table}"
    );
    let stats = ok_stdout(&["stats", &object]);
    assert!(stats.contains("12,345 flows"), "{stats}");
}

#[test]
fn a_closed_pipe_ends_quietly_with_success() {
    let (object, _) = generate("pipe.log", &["--records", "50000"]);
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            &format!("{FLOWLOGS} parse {object} | head -1 >/dev/null; echo ${{PIPESTATUS[0]}}"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = with_stdin(&["stats", "--output", "csv"], b"");
    assert!(out.status.success(), "empty standard input is an empty log");
}
