//! The function's settings, validated at cold start.

use flowlog_core::FloodRules;
use flowlog_lambda::{ReadSettings, SettingError, Settings, flood_rules, state_table};

/// Everything the function can be told through its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// CloudWatch namespace (`METRICS_NAMESPACE`, default `VPCFlowLogs`).
    pub namespace: String,
    /// Sources per object published with a `SourceIp` dimension (`TOP_N`, default 20).
    pub top_n: usize,
    /// How objects are read and aggregated (see [`ReadSettings`]).
    pub read: ReadSettings,
    /// The DynamoDB table of the shared state: the publish ledger and the summaries the
    /// detector judges (`STATE_TABLE`, required).
    pub state_table: String,
    /// The flood thresholds: a source is shared with the detector when one of its minutes
    /// reaches a tenth of one ([`flowlog_core::Floor::shared`]). Same settings as
    /// `flood-alert`'s.
    pub rules: FloodRules,
    /// The queue asking `flood-alert` for a verdict once a summary is written
    /// (`DETECT_QUEUE_URL`); without one the detector's schedule alone runs it.
    pub detect_queue_url: Option<String>,
    /// The function's region (`AWS_REGION`, set by Lambda): a CloudWatch Logs subscription
    /// delivers only log groups of its own region, so it is theirs, named in their summaries.
    pub region: Option<String>,
}

impl Config {
    /// Reads and validates the settings.
    pub fn from_settings(settings: &Settings<'_>) -> Result<Config, SettingError> {
        let namespace = settings.parse(
            "METRICS_NAMESPACE",
            "VPCFlowLogs".to_owned(),
            "1-255 characters, not starting with \"AWS/\"",
            |v| (v.len() <= 255 && !v.starts_with("AWS/")).then(|| v.to_owned()),
        )?;
        Ok(Config {
            namespace,
            top_n: settings.number("TOP_N", 20, 0..=1000)?,
            read: ReadSettings::from_settings(settings)?,
            state_table: state_table(settings)?,
            rules: flood_rules(settings)?,
            detect_queue_url: settings.raw("DETECT_QUEUE_URL"),
            region: settings.raw("AWS_REGION"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, SettingError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .chain(&[("STATE_TABLE", "state")])
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        Config::from_settings(&Settings::new(&lookup))
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = config(&[]).unwrap();
        assert_eq!((c.namespace.as_str(), c.top_n), ("VPCFlowLogs", 20));
        assert_eq!(
            (c.state_table.as_str(), c.detect_queue_url),
            ("state", None)
        );
        assert_eq!(c.rules, FloodRules::default());
    }

    #[test]
    fn reserved_namespaces_and_silly_top_n_are_refused() {
        assert_eq!(
            config(&[("METRICS_NAMESPACE", "AWS/EC2")])
                .unwrap_err()
                .name,
            "METRICS_NAMESPACE"
        );
        assert_eq!(config(&[("TOP_N", "5000")]).unwrap_err().name, "TOP_N");
        assert_eq!(config(&[("TOP_N", "0")]).unwrap().top_n, 0);
    }
}
