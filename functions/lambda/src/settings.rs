//! Typed settings from environment variables, validated once at cold start.

use std::str::FromStr;

use flowlog_core::{AggregateOptions, Format, MemoryBudget, ScanOptions};
use flowlog_events::Scope;

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

/// Which objects are read, and how they are read and aggregated: the settings both functions
/// share.
#[derive(Debug, Clone)]
pub struct ReadSettings {
    /// The flow-log bucket and prefix; objects elsewhere are skipped unread.
    pub scope: Scope,
    /// Scanner options (format for headerless objects, line and inflate caps).
    pub scan: ScanOptions,
    /// Aggregation options (attribution, source cap).
    pub aggregate: AggregateOptions,
    /// Memory one object's aggregation may use: derived from the function's memory size.
    pub memory: MemoryBudget,
}

/// The variable the Lambda runtime sets to the function's `MemorySize` in MB.
pub const MEMORY_SIZE_VARIABLE: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";

impl ReadSettings {
    /// Reads `FLOW_LOG_BUCKET`, `FLOW_LOG_PREFIX`, `FLOW_LOG_FORMAT`, `ATTRIBUTION`,
    /// `MAX_SOURCES`, `MAX_LINE_BYTES`, `MAX_INFLATED_BYTES`, `MAX_COMPRESSION_RATIO`, and the
    /// runtime's `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` for the memory budget
    /// ([`MemoryBudget::for_lambda_memory_mb`]; unset outside Lambda: the default budget).
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
            memory,
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
        ])
        .unwrap();
        assert_eq!(settings.scan.format.unwrap().len(), 2);
        assert_eq!(
            settings.aggregate.attribution,
            flowlog_core::Attribution::SrcAddr
        );
        assert_eq!(settings.aggregate.max_sources, 500);
        assert_eq!(settings.scan.max_decompressed_bytes, 1 << 20);
    }

    #[test]
    fn bad_values_name_the_variable_and_what_it_should_be() {
        for (name, value, hint) in [
            ("MAX_SOURCES", "lots", "a number from 1 to"),
            ("MAX_SOURCES", "0", "a number from 1 to"),
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
