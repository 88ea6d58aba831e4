//! Typed settings from environment variables, validated once at cold start.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::str::FromStr;

use flowlog_core::{AggregateOptions, FloodRules, Format, MemoryBudget, ScanOptions};
use flowlog_events::Scope;
use flowlog_parquet::{DEFAULT_MAX_ROW_GROUP_BYTES, ParquetOptions};

/// A setting that is present but unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {name}={value:?} is invalid: {expected}")]
pub struct SettingError {
    /// The variable.
    pub name: String,
    /// Its value.
    pub value: String,
    /// What it should be.
    pub expected: String,
}

/// Reads variables through a lookup function (the process environment, or a map in tests).
pub struct Settings<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Settings<'a> {
    /// Settings read through `lookup`.
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Settings { lookup }
    }

    /// The raw value, if set and not blank.
    pub fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// The value of a variable that must be set.
    pub fn required(&self, name: &str) -> Result<String, SettingError> {
        self.raw(name).ok_or_else(|| SettingError {
            name: name.into(),
            value: String::new(),
            expected: "a value (it is required)".into(),
        })
    }

    /// Parses `name` with `parse`, or returns `default` when it is unset.
    pub fn parse<T>(
        &self,
        name: &str,
        default: T,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, SettingError> {
        match self.raw(name) {
            None => Ok(default),
            Some(value) => parse(value.trim()).ok_or_else(|| SettingError {
                name: name.into(),
                value,
                expected: expected.into(),
            }),
        }
    }

    /// A whole number in `range`, or `default` when unset.
    pub fn number<T>(
        &self,
        name: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, SettingError>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let expected = format!("a number from {} to {}", range.start(), range.end());
        self.parse(name, default, &expected, |v| {
            v.parse().ok().filter(|n| range.contains(n))
        })
    }
}

/// The name of every variable `read` asks for, over all `cases`: `read` runs once per case,
/// through a lookup that answers from the case's variables (of two equal names the later wins)
/// and records each name it is asked for. A reader that reads some settings only in one mode
/// needs a case per mode; a case it refuses is an error, as the names after the refused one would
/// go unrecorded. For each function's checked-in settings list (see [`list`]).
pub fn names_read<T>(
    cases: &[&[(&str, &str)]],
    read: impl Fn(&Settings<'_>) -> Result<T, SettingError>,
) -> Result<BTreeSet<String>, SettingError> {
    let asked = RefCell::new(BTreeSet::new());
    for vars in cases {
        let lookup = |name: &str| {
            asked.borrow_mut().insert(name.to_owned());
            vars.iter()
                .rev()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        read(&Settings::new(&lookup))?;
    }
    Ok(asked.into_inner())
}

/// Each function's settings list, `functions/<function>/settings.txt`: every environment
/// variable it reads, one a line, sorted, under a header saying how it is made. The function's
/// `tests/settings.rs` makes it from [`names_read`] and [`list::direct_reads`] and fails when the
/// checked-in file differs; `scripts/check_template.py` checks `template.yaml` against it.
#[cfg(any(test, feature = "fakes"))]
pub mod list {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    /// The variable that makes the settings-list tests rewrite the lists instead of failing.
    pub const UPDATE_VARIABLE: &str = "UPDATE_SETTINGS";

    /// The names the `.rs` files under `dirs` read straight from the process environment, past
    /// [`Settings`](super::Settings): the string literal each call of `env::var` or
    /// `env::var_os` is given. A read of a name held in a variable is not found (the lookup
    /// behind `Settings` is one): name such a variable literally at its read.
    pub fn direct_reads(dirs: &[PathBuf]) -> std::io::Result<BTreeSet<String>> {
        let mut names = BTreeSet::new();
        let mut todo: Vec<PathBuf> = dirs.to_vec();
        while let Some(path) = todo.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path)? {
                    todo.push(entry?.path());
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                names.extend(literal_reads(&std::fs::read_to_string(&path)?));
            }
        }
        Ok(names)
    }

    pub(crate) fn literal_reads(source: &str) -> impl Iterator<Item = String> + '_ {
        source.match_indices("env::var").filter_map(|(at, call)| {
            let rest = &source[at + call.len()..];
            let rest = rest.strip_prefix("_os").unwrap_or(rest);
            let rest = rest.strip_prefix('(')?.trim_start().strip_prefix('"')?;
            let name = &rest[..rest.find('"')?];
            let plain = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            plain.then(|| name.to_owned())
        })
    }

    /// Checks the settings list of `function`, `settings.txt` in its crate directory: the names
    /// its settings reader reads (`read`, from [`names_read`](super::names_read)) and the
    /// [`direct_reads`] of its sources and of the sources of `uses`, the crates beside it under
    /// `functions/` that it runs code of. With `UPDATE_SETTINGS=1` in the environment the list
    /// is rewritten instead. Panics with what differs and how to regenerate the list.
    pub fn assert_current(crate_dir: &str, function: &str, read: BTreeSet<String>, uses: &[&str]) {
        if let Err(e) = check(Path::new(crate_dir), function, read, uses) {
            panic!("{e}");
        }
    }

    fn check(
        crate_dir: &Path,
        function: &str,
        read: BTreeSet<String>,
        uses: &[&str],
    ) -> Result<(), String> {
        let mut dirs = vec![crate_dir.join("src")];
        dirs.extend(
            uses.iter()
                .map(|u| crate_dir.join("..").join(u).join("src")),
        );
        let mut names = read;
        names.extend(direct_reads(&dirs).map_err(|e| format!("reading {dirs:?}: {e}"))?);
        let path = crate_dir.join("settings.txt");
        let regenerate = format!("{UPDATE_VARIABLE}=1 cargo test -p {function} --test settings");
        let mut text = format!(
            "# Generated by `cargo test -p {function} --test settings` (do not edit): every environment\n\
             # variable {function} reads, through its Config in every mode and straight from the\n\
             # environment. scripts/check_template.py checks template.yaml against it.\n\
             # Regenerate: {regenerate}\n"
        );
        for name in &names {
            text.push_str(name);
            text.push('\n');
        }
        // Test tooling, not a setting: read by the constant's name, which `direct_reads` skips.
        if std::env::var_os(UPDATE_VARIABLE).is_some_and(|v| v == "1") {
            return std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()));
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == text {
            return Ok(());
        }
        let listed: BTreeSet<String> = current
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect();
        let unlisted: Vec<_> = names.difference(&listed).collect();
        let unread: Vec<_> = listed.difference(&names).collect();
        Err(format!(
            "{} is not current: {function} reads {unlisted:?} it does not list, and it lists \
             {unread:?} {function} does not read (or its header or order changed). Regenerate it with \
             `{regenerate}`, then wire each new setting in template.yaml (tests/template/run.sh checks)",
            path.display()
        ))
    }
}

/// Which objects are read, and how they are read and aggregated: the settings of every
/// function that reads flow logs.
#[derive(Debug, Clone)]
pub struct ReadSettings {
    /// The flow-log bucket and prefix; objects elsewhere are skipped unread.
    pub scope: Scope,
    /// Scanner options (format for headerless objects, line and inflate caps).
    pub scan: ScanOptions,
    /// Aggregation options (attribution, source cap).
    pub aggregate: AggregateOptions,
    /// How Parquet objects are read.
    pub parquet: ParquetRead,
    /// Memory one object's aggregation may use: derived from the function's memory size.
    pub memory: MemoryBudget,
}

/// The variable the Lambda runtime sets to the function's `MemorySize` in MB.
pub const MEMORY_SIZE_VARIABLE: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";

/// How Parquet objects are read: their columns and row-group budget, and from what size on by
/// range reads rather than whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetRead {
    /// Columns and the row-group budget (`MAX_ROW_GROUP_BYTES`).
    pub options: ParquetOptions,
    /// Objects larger than this are read by ranges (footer, then each row group's columns);
    /// smaller ones whole, from the request that found them to be Parquet.
    pub ranged_above: u64,
}

/// Default [`ParquetRead::ranged_above`]: 8 MiB.
pub const RANGED_ABOVE_BYTES: u64 = 8 << 20;

impl ReadSettings {
    /// Reads `FLOW_LOG_BUCKET`, `FLOW_LOG_PREFIX`, `FLOW_LOG_FORMAT`, `ATTRIBUTION`,
    /// `MAX_SOURCES`, `MAX_LINE_BYTES`, `MAX_INFLATED_BYTES`, `MAX_COMPRESSION_RATIO`,
    /// `MAX_ROW_GROUP_BYTES`, and the runtime's `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` for the memory
    /// budget ([`MemoryBudget::for_lambda_memory_mb`]; unset outside Lambda: the default budget).
    pub fn from_settings(settings: &Settings<'_>) -> Result<ReadSettings, SettingError> {
        let scope = Scope {
            bucket: settings.parse(
                "FLOW_LOG_BUCKET",
                None,
                "an S3 bucket name (3 to 63 of a-z, 0-9, '.' and '-')",
                |v| {
                    let valid = (3..=63).contains(&v.len())
                        && v.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                        });
                    valid.then(|| Some(v.to_owned()))
                },
            )?,
            prefix: settings.parse(
                "FLOW_LOG_PREFIX",
                None,
                "a key prefix ending with \"/\", e.g. AWSLogs/",
                |v| v.ends_with('/').then(|| Some(v.to_owned())),
            )?,
        };
        let defaults = ScanOptions::default();
        let format = settings.raw("FLOW_LOG_FORMAT").map(|text| {
            text.parse::<Format>().map_err(|e| SettingError {
                name: "FLOW_LOG_FORMAT".into(),
                value: text.clone(),
                expected: e.to_string(),
            })
        });
        let scan = ScanOptions {
            format: format.transpose()?,
            max_line_bytes: settings.number(
                "MAX_LINE_BYTES",
                defaults.max_line_bytes,
                1024..=(16 << 20),
            )?,
            max_decompressed_bytes: settings.number(
                "MAX_INFLATED_BYTES",
                defaults.max_decompressed_bytes,
                (1 << 20)..=(1 << 40),
            )?,
            max_compression_ratio: settings.number(
                "MAX_COMPRESSION_RATIO",
                defaults.max_compression_ratio,
                2..=100_000,
            )?,
            ..defaults
        };
        let aggregate = AggregateOptions {
            attribution: settings.parse(
                "ATTRIBUTION",
                AggregateOptions::default().attribution,
                "\"srcaddr\" or \"pkt-srcaddr\"",
                |v| v.parse().ok(),
            )?,
            max_sources: settings.number(
                "MAX_SOURCES",
                AggregateOptions::default().max_sources,
                1..=10_000_000,
            )?,
        };
        let parquet = ParquetRead {
            options: ParquetOptions {
                max_row_group_bytes: settings.number(
                    "MAX_ROW_GROUP_BYTES",
                    DEFAULT_MAX_ROW_GROUP_BYTES,
                    (1 << 20)..=(4 << 30),
                )?,
                ..ParquetOptions::default()
            },
            ranged_above: RANGED_ABOVE_BYTES,
        };
        let memory = match settings.raw(MEMORY_SIZE_VARIABLE) {
            None => MemoryBudget::default(),
            Some(_) => MemoryBudget::for_lambda_memory_mb(settings.number(
                MEMORY_SIZE_VARIABLE,
                0,
                128..=10_240,
            )?),
        };
        Ok(ReadSettings {
            scope,
            scan,
            aggregate,
            parquet,
            memory,
        })
    }
}

/// The flood thresholds, which both functions need: the detector judges by them, the reader
/// keeps in the shared state only sources above a floor derived from them. Reads
/// `HALF_OPEN_PER_MINUTE`, `HALF_OPEN_SHARE`, `CONNECTIONS_PER_MINUTE`,
/// `REQUEST_PACKETS_PER_MINUTE`, `UDP_PACKETS_PER_MINUTE`, `ICMP_PACKETS_PER_MINUTE`,
/// `TARGET_SHARE`, `RELAY_SHARE`, `TARGET_HALF_OPEN_PER_MINUTE`, `MIN_SOURCES`,
/// `INTERNAL_CLIENTS` and `ALLOWLIST`.
pub fn flood_rules(s: &Settings<'_>) -> Result<FloodRules, SettingError> {
    let defaults = FloodRules::default();
    let share = |name: &str, default: f64| {
        s.parse(name, default, "a share from 0 to 1", |v| {
            v.parse::<f64>().ok().filter(|x| (0.0..=1.0).contains(x))
        })
    };
    let rate = |name: &str, default: u64| s.number(name, default, 1..=1_000_000_000_000);
    let allowlist = s.parse(
        "ALLOWLIST",
        Vec::new(),
        "comma-separated CIDRs, e.g. 10.0.0.0/8,2001:db8::/32",
        crate::env::cidr_list,
    )?;
    Ok(FloodRules {
        half_open_per_minute: rate("HALF_OPEN_PER_MINUTE", defaults.half_open_per_minute)?,
        half_open_share: share("HALF_OPEN_SHARE", defaults.half_open_share)?,
        connections_per_minute: rate("CONNECTIONS_PER_MINUTE", defaults.connections_per_minute)?,
        request_packets_per_minute: rate(
            "REQUEST_PACKETS_PER_MINUTE",
            defaults.request_packets_per_minute,
        )?,
        udp_packets_per_minute: rate("UDP_PACKETS_PER_MINUTE", defaults.udp_packets_per_minute)?,
        icmp_packets_per_minute: rate("ICMP_PACKETS_PER_MINUTE", defaults.icmp_packets_per_minute)?,
        target_share: share("TARGET_SHARE", defaults.target_share)?,
        relay_share: share("RELAY_SHARE", defaults.relay_share)?,
        target_half_open_per_minute: rate(
            "TARGET_HALF_OPEN_PER_MINUTE",
            defaults.target_half_open_per_minute,
        )?,
        min_sources: s.number("MIN_SOURCES", defaults.min_sources, 1..=1_000_000)?,
        internal_clients: s.parse(
            "INTERNAL_CLIENTS",
            defaults.internal_clients,
            "true or false",
            |v| v.parse::<bool>().ok(),
        )?,
        allowlist,
        ..defaults
    })
}

/// The DynamoDB table of the shared state (`STATE_TABLE`, required): a table name of 3 to 255
/// of `a-z A-Z 0-9 _ - .`.
pub fn state_table(s: &Settings<'_>) -> Result<String, SettingError> {
    let table = s.required("STATE_TABLE")?;
    let valid = (3..=255).contains(&table.len())
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if valid {
        Ok(table)
    } else {
        Err(SettingError {
            name: "STATE_TABLE".into(),
            value: table,
            expected: "a DynamoDB table name (3 to 255 of a-z, A-Z, 0-9, '_', '-', '.')".into(),
        })
    }
}

/// The SNS topic alerts and reports go to (`TOPIC_ARN`, required): an ARN.
pub fn topic_arn(s: &Settings<'_>) -> Result<String, SettingError> {
    let topic_arn = s.required("TOPIC_ARN")?;
    if topic_arn.starts_with("arn:") {
        Ok(topic_arn)
    } else {
        Err(SettingError {
            name: "TOPIC_ARN".into(),
            value: topic_arn,
            expected: "an SNS topic ARN".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<ReadSettings, SettingError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| map.get(name).cloned();
        ReadSettings::from_settings(&Settings::new(&lookup))
    }

    #[test]
    fn unset_variables_give_the_defaults() {
        let settings = read(&[]).unwrap();
        assert_eq!(settings.scan.format, None);
        assert_eq!(settings.aggregate, AggregateOptions::default());
        assert_eq!(settings.scan.max_line_bytes, 64 << 10);
        assert_eq!(settings.scope, Scope::default());
        assert_eq!(settings.parquet.options.max_row_group_bytes, 128 << 20);
        assert_eq!(settings.memory, MemoryBudget::default());
    }

    #[test]
    fn the_memory_budget_follows_the_functions_memory_size() {
        let small = read(&[(MEMORY_SIZE_VARIABLE, "512")]).unwrap().memory;
        assert_eq!(small, MemoryBudget::for_lambda_memory_mb(512));
        assert!(small.bytes < 512 << 20);
        let large = read(&[(MEMORY_SIZE_VARIABLE, "3008")]).unwrap().memory;
        assert_eq!(large, MemoryBudget::for_lambda_memory_mb(3008));
        assert!(large.bytes > small.bytes);
        for bad in ["64", "lots", "20000"] {
            let error = read(&[(MEMORY_SIZE_VARIABLE, bad)]).unwrap_err();
            assert_eq!(error.name, MEMORY_SIZE_VARIABLE);
        }
    }

    #[test]
    fn the_flow_log_bucket_and_prefix_make_the_scope() {
        let settings =
            read(&[("FLOW_LOG_BUCKET", "my-logs"), ("FLOW_LOG_PREFIX", "vpc/")]).unwrap();
        assert_eq!(settings.scope.bucket.as_deref(), Some("my-logs"));
        assert_eq!(settings.scope.prefix.as_deref(), Some("vpc/"));
    }

    #[test]
    fn valid_values_are_used() {
        let settings = read(&[
            ("FLOW_LOG_FORMAT", "${srcaddr} ${log-status}"),
            ("ATTRIBUTION", "srcaddr"),
            ("MAX_SOURCES", "500"),
            ("MAX_INFLATED_BYTES", "1048576"),
            ("MAX_ROW_GROUP_BYTES", "2097152"),
        ])
        .unwrap();
        assert_eq!(settings.parquet.options.max_row_group_bytes, 2 << 20);
        assert_eq!(settings.scan.format.unwrap().len(), 2);
        assert_eq!(
            settings.aggregate.attribution,
            flowlog_core::Attribution::SrcAddr
        );
        assert_eq!(settings.aggregate.max_sources, 500);
        assert_eq!(settings.scan.max_decompressed_bytes, 1 << 20);
    }

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    #[test]
    fn flood_rules_default_to_the_documented_thresholds_and_read_each_setting() {
        let none = lookup(&[]);
        assert_eq!(
            flood_rules(&Settings::new(&none)).unwrap(),
            FloodRules::default()
        );
        let vars = lookup(&[
            ("CONNECTIONS_PER_MINUTE", "900"),
            ("HALF_OPEN_SHARE", "0.5"),
            ("INTERNAL_CLIENTS", "true"),
            ("ALLOWLIST", "10.0.0.0/8, 2001:db8::/32"),
        ]);
        let rules = flood_rules(&Settings::new(&vars)).unwrap();
        assert_eq!(rules.connections_per_minute, 900);
        assert_eq!(rules.half_open_share, 0.5);
        assert!(rules.internal_clients);
        assert_eq!(rules.allowlist.len(), 2);
    }

    #[test]
    fn bad_rules_and_table_names_name_the_variable() {
        for (name, value) in [
            ("HALF_OPEN_SHARE", "2"),
            ("CONNECTIONS_PER_MINUTE", "0"),
            ("ALLOWLIST", "10.0.0.0/33"),
            ("INTERNAL_CLIENTS", "yes"),
        ] {
            let vars = lookup(&[(name, value)]);
            assert_eq!(flood_rules(&Settings::new(&vars)).unwrap_err().name, name);
        }
        let none = lookup(&[]);
        assert!(
            state_table(&Settings::new(&none))
                .unwrap_err()
                .expected
                .contains("required")
        );
        let bad = lookup(&[("STATE_TABLE", "no spaces")]);
        assert_eq!(
            state_table(&Settings::new(&bad)).unwrap_err().name,
            "STATE_TABLE"
        );
        let good = lookup(&[("STATE_TABLE", "flowlogs-State_1")]);
        assert_eq!(
            state_table(&Settings::new(&good)).unwrap(),
            "flowlogs-State_1"
        );
        assert!(
            topic_arn(&Settings::new(&none))
                .unwrap_err()
                .expected
                .contains("required")
        );
        let bad = lookup(&[("TOPIC_ARN", "alerts")]);
        assert_eq!(
            topic_arn(&Settings::new(&bad)).unwrap_err().expected,
            "an SNS topic ARN"
        );
    }

    #[test]
    fn names_read_records_every_name_asked_in_every_case() {
        let read = |s: &Settings<'_>| match s.raw("MODE").as_deref() {
            Some("b") => Ok(s.raw("B")),
            _ => s.required("A").map(Some),
        };
        let names = names_read(&[&[("A", "1")], &[("A", "1"), ("MODE", "b")]], read).unwrap();
        assert_eq!(Vec::from_iter(names), ["A", "B", "MODE"]);
        let refused = names_read(&[&[("MODE", "b")], &[]], read).unwrap_err();
        assert_eq!(refused.name, "A");
    }

    #[test]
    fn direct_reads_are_the_literal_names_given_to_env_var() {
        let source = "let region = std::env::var(\"AWS_REGION\").ok();\n\
                      let level = env::var_os( \"RUST_LOG\");\n\
                      let lookup = |name| std::env::var(name).ok(); // \"env::var\"\n\
                      env::var(\"lower\"); env::var(\"\")";
        assert_eq!(
            Vec::from_iter(list::literal_reads(source)),
            ["AWS_REGION", "RUST_LOG"]
        );
    }

    #[test]
    fn bad_values_name_the_variable_and_what_it_should_be() {
        for (name, value, hint) in [
            ("MAX_SOURCES", "lots", "a number from 1 to"),
            ("MAX_SOURCES", "0", "a number from 1 to"),
            ("MAX_ROW_GROUP_BYTES", "1000", "a number from 1048576 to"),
            ("ATTRIBUTION", "dstaddr", "pkt-srcaddr"),
            ("FLOW_LOG_FORMAT", "${Bad}", "bad format token"),
            ("FLOW_LOG_BUCKET", "Not_A_Bucket", "an S3 bucket name"),
            ("FLOW_LOG_PREFIX", "AWSLogs", "ending with \"/\""),
        ] {
            let error = read(&[(name, value)]).unwrap_err();
            assert_eq!(error.name, name);
            assert!(error.to_string().contains(hint), "{error}");
        }
    }
}
