//! The function's settings, validated at cold start.

use flowlog_core::FloodRules;
use flowlog_incidents::Policy;
use flowlog_lambda::{SettingError, Settings, flood_rules, state_table};

/// Everything the function can be told through its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// SNS topic for alerts (`TOPIC_ARN`, required); a `.fifo` topic gets group and dedup ids.
    pub topic_arn: String,
    /// The DynamoDB table of the shared state: summaries to judge, incidents (`STATE_TABLE`,
    /// required).
    pub state_table: String,
    /// The flood thresholds (see [`flood_rules`]); `rate-metrics` must have the same.
    pub rules: FloodRules,
    /// How incidents update and end (`UPDATE_EVERY_SECONDS` default 900, `QUIET_SECONDS`
    /// default 600, `SETTLE_SECONDS` default 1200).
    pub policy: Policy,
    /// The VPC named in alerts (`VPC_ID`, optional).
    pub vpc_id: Option<String>,
}

impl Config {
    /// Reads and validates the settings.
    pub fn from_settings(s: &Settings<'_>) -> Result<Config, SettingError> {
        let topic_arn = flowlog_lambda::settings::topic_arn(s)?;
        let defaults = Policy::default();
        Ok(Config {
            topic_arn,
            state_table: state_table(s)?,
            rules: flood_rules(s)?,
            policy: Policy {
                update_every_secs: s.number(
                    "UPDATE_EVERY_SECONDS",
                    defaults.update_every_secs,
                    60..=86_400,
                )?,
                quiet_secs: s.number("QUIET_SECONDS", defaults.quiet_secs, 60..=86_400)?,
                settle_secs: s.number("SETTLE_SECONDS", defaults.settle_secs, 0..=7_200)?,
            },
            vpc_id: s.raw("VPC_ID"),
        })
    }

    /// Whether the topic is a FIFO topic.
    pub fn fifo(&self) -> bool {
        flowlog_lambda::env::is_fifo_topic(&self.topic_arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, SettingError> {
        let mut all = vec![
            ("TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:alerts"),
            ("STATE_TABLE", "state"),
        ];
        all.extend_from_slice(vars);
        flowlog_lambda::env::from_vars(&all, Config::from_settings)
    }

    #[test]
    fn defaults_are_the_documented_thresholds_and_lifecycle() {
        let c = config(&[]).unwrap();
        assert_eq!(c.rules, FloodRules::default());
        assert_eq!(c.policy, Policy::default());
        assert_eq!(
            (c.policy.update_every_secs, c.policy.quiet_secs),
            (900, 600)
        );
        assert_eq!(c.state_table, "state");
        assert!(!c.fifo());
    }

    #[test]
    fn thresholds_and_lifecycle_are_read() {
        let c = config(&[
            ("HALF_OPEN_PER_MINUTE", "100"),
            ("UPDATE_EVERY_SECONDS", "300"),
            ("QUIET_SECONDS", "120"),
            ("SETTLE_SECONDS", "0"),
            (
                "TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:alerts.fifo",
            ),
        ])
        .unwrap();
        assert_eq!(c.rules.half_open_per_minute, 100);
        assert_eq!(
            c.policy,
            Policy {
                update_every_secs: 300,
                quiet_secs: 120,
                settle_secs: 0
            }
        );
        assert!(c.fifo());
    }

    #[test]
    fn missing_or_bad_settings_name_the_variable() {
        for (name, value) in [
            ("TOPIC_ARN", ""),
            ("TOPIC_ARN", "alerts"),
            ("STATE_TABLE", ""),
            ("ALLOWLIST", "10.0.0.0/33"),
            ("QUIET_SECONDS", "5"),
            ("UPDATE_EVERY_SECONDS", "soon"),
        ] {
            let error = config(&[(name, value)]).unwrap_err();
            assert_eq!(error.name, name, "{error}");
        }
    }
}
