//! The function's settings, validated at cold start.

use flowlog_core::FloodRules;
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
    /// The flood thresholds (`HALF_OPEN_PER_MINUTE`, `HALF_OPEN_SHARE`,
    /// `CONNECTIONS_PER_MINUTE`, `REQUEST_PACKETS_PER_MINUTE`, `UDP_PACKETS_PER_MINUTE`,
    /// `ICMP_PACKETS_PER_MINUTE`, `TARGET_SHARE`, `RELAY_SHARE`, `TARGET_HALF_OPEN_PER_MINUTE`,
    /// `MIN_SOURCES`, `INTERNAL_CLIENTS`, `ALLOWLIST`).
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
                    .map(|c| flowlog_core::parse_cidr(c).ok())
                    .collect()
            },
        )?;
        let rate = |name: &str, default: u64| s.number(name, default, 1..=1_000_000_000_000);
        Ok(Config {
            topic_arn,
            state_bucket: required("ALERT_STATE_BUCKET")?,
            state_prefix: s
                .raw("ALERT_STATE_PREFIX")
                .unwrap_or_else(|| "flood-alert-state/".into()),
            cooldown_secs: s.number("COOLDOWN_SECONDS", 900, 60..=7 * 86_400)?,
            rules: FloodRules {
                half_open_per_minute: rate("HALF_OPEN_PER_MINUTE", defaults.half_open_per_minute)?,
                half_open_share: share("HALF_OPEN_SHARE", defaults.half_open_share)?,
                connections_per_minute: rate(
                    "CONNECTIONS_PER_MINUTE",
                    defaults.connections_per_minute,
                )?,
                request_packets_per_minute: rate(
                    "REQUEST_PACKETS_PER_MINUTE",
                    defaults.request_packets_per_minute,
                )?,
                udp_packets_per_minute: rate(
                    "UDP_PACKETS_PER_MINUTE",
                    defaults.udp_packets_per_minute,
                )?,
                icmp_packets_per_minute: rate(
                    "ICMP_PACKETS_PER_MINUTE",
                    defaults.icmp_packets_per_minute,
                )?,
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
            ("HALF_OPEN_PER_MINUTE", "100"),
            ("HALF_OPEN_SHARE", "0.9"),
            ("INTERNAL_CLIENTS", "true"),
        ])
        .unwrap();
        assert_eq!(c.rules.allowlist.len(), 2);
        assert_eq!(c.rules.half_open_per_minute, 100);
        assert_eq!(c.rules.half_open_share, 0.9);
        assert!(c.rules.internal_clients);
    }

    #[test]
    fn missing_or_bad_settings_name_the_variable() {
        for (name, value) in [
            ("TOPIC_ARN", ""),
            ("TOPIC_ARN", "alerts"),
            ("ALLOWLIST", "10.0.0.0/33"),
            ("HALF_OPEN_SHARE", "1.5"),
            ("CONNECTIONS_PER_MINUTE", "0"),
            ("INTERNAL_CLIENTS", "sometimes"),
            ("COOLDOWN_SECONDS", "5"),
        ] {
            let error = config(&[(name, value)]).unwrap_err();
            assert_eq!(error.name, name, "{error}");
        }
    }
}
