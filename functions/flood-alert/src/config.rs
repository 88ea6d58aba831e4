//! The function's settings, validated at cold start.

use flowlog_core::{Cidr, FloodRules};
use flowlog_lambda::{ReadSettings, SettingError, Settings};

/// Everything the function can be told through its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// SNS topic for alerts (`TOPIC_ARN`, required); a `.fifo` topic gets group and dedup ids.
    pub topic_arn: String,
    /// Bucket holding the alert state (`ALERT_STATE_BUCKET`, required).
    pub state_bucket: String,
    /// Prefix of the alert state objects (`ALERT_STATE_PREFIX`, default `flood-alert-state/`).
    pub state_prefix: String,
    /// One alert per source per this many seconds of flow time (`COOLDOWN_SECONDS`, default 900).
    pub cooldown_secs: i64,
    /// The flood thresholds (`MIN_FLOWS_PER_MINUTE`, `SYN_ONLY_SHARE`, `REJECT_SHARE`,
    /// `DISTINCT_PORTS`, `MAX_PACKETS_PER_FLOW`, `HEAVY_BYTES_PER_FLOW`, `ALLOWLIST`).
    pub rules: FloodRules,
    /// How objects are read and aggregated.
    pub read: ReadSettings,
}

impl Config {
    /// Reads and validates the settings.
    pub fn from_settings(s: &Settings<'_>) -> Result<Config, SettingError> {
        let required = |name: &str| {
            s.raw(name).ok_or_else(|| SettingError {
                name: name.into(),
                value: String::new(),
                expected: "a value (it is required)".into(),
            })
        };
        let defaults = FloodRules::default();
        let share = |name: &str, default: f64| {
            s.parse(name, default, "a share from 0 to 1", |v| {
                v.parse::<f64>().ok().filter(|x| (0.0..=1.0).contains(x))
            })
        };
        let topic_arn = required("TOPIC_ARN")?;
        if !topic_arn.starts_with("arn:") {
            return Err(SettingError {
                name: "TOPIC_ARN".into(),
                value: topic_arn,
                expected: "an SNS topic ARN".into(),
            });
        }
        let allowlist = s.parse(
            "ALLOWLIST",
            Vec::new(),
            "comma-separated CIDRs, e.g. 10.0.0.0/8,2001:db8::/32",
            |v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| c.parse::<Cidr>().ok())
                    .collect()
            },
        )?;
        Ok(Config {
            topic_arn,
            state_bucket: required("ALERT_STATE_BUCKET")?,
            state_prefix: s
                .raw("ALERT_STATE_PREFIX")
                .unwrap_or_else(|| "flood-alert-state/".into()),
            cooldown_secs: s.number("COOLDOWN_SECONDS", 900, 60..=7 * 86_400)?,
            rules: FloodRules {
                min_flows_per_minute: s.number(
                    "MIN_FLOWS_PER_MINUTE",
                    defaults.min_flows_per_minute,
                    1..=100_000_000,
                )?,
                syn_only_share: share("SYN_ONLY_SHARE", defaults.syn_only_share)?,
                reject_share: share("REJECT_SHARE", defaults.reject_share)?,
                distinct_ports: s.number(
                    "DISTINCT_PORTS",
                    defaults.distinct_ports,
                    1..=flowlog_core::PORTS_PER_WINDOW,
                )?,
                max_packets_per_flow: s.parse(
                    "MAX_PACKETS_PER_FLOW",
                    defaults.max_packets_per_flow,
                    "a positive number",
                    |v| v.parse::<f64>().ok().filter(|x| *x > 0.0 && x.is_finite()),
                )?,
                heavy_bytes_per_flow: s.number(
                    "HEAVY_BYTES_PER_FLOW",
                    defaults.heavy_bytes_per_flow,
                    1..=u64::MAX,
                )?,
                allowlist,
                ..defaults
            },
            read: ReadSettings::from_settings(s)?,
        })
    }

    /// Reads and validates the process environment.
    pub fn from_env() -> Result<Config, SettingError> {
        Config::from_settings(&Settings::new(&|name| std::env::var(name).ok()))
    }

    /// Whether the topic is a FIFO topic.
    pub fn fifo(&self) -> bool {
        self.topic_arn.ends_with(".fifo")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, SettingError> {
        let mut all = vec![
            ("TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:alerts"),
            ("ALERT_STATE_BUCKET", "state"),
        ];
        all.extend_from_slice(vars);
        let all: Vec<(String, String)> = all
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| {
            all.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        Config::from_settings(&Settings::new(&lookup))
    }

    #[test]
    fn defaults_are_the_documented_thresholds() {
        let c = config(&[]).unwrap();
        assert_eq!(c.cooldown_secs, 900);
        assert_eq!(c.rules, FloodRules::default());
        assert_eq!(c.state_prefix, "flood-alert-state/");
        assert!(!c.fifo());
    }

    #[test]
    fn allowlist_and_thresholds_are_read() {
        let c = config(&[
            ("ALLOWLIST", "10.0.0.0/8, 2001:db8::/32"),
            ("MIN_FLOWS_PER_MINUTE", "100"),
            ("SYN_ONLY_SHARE", "0.9"),
        ])
        .unwrap();
        assert_eq!(c.rules.allowlist.len(), 2);
        assert_eq!(c.rules.min_flows_per_minute, 100);
        assert_eq!(c.rules.syn_only_share, 0.9);
    }

    #[test]
    fn missing_or_bad_settings_name_the_variable() {
        for (name, value) in [
            ("TOPIC_ARN", ""),
            ("TOPIC_ARN", "alerts"),
            ("ALLOWLIST", "10.0.0.0/33"),
            ("SYN_ONLY_SHARE", "1.5"),
            ("COOLDOWN_SECONDS", "5"),
        ] {
            let error = config(&[(name, value)]).unwrap_err();
            assert_eq!(error.name, name, "{error}");
        }
    }
}
