//! The function's settings, validated at cold start.

use flowlog_lambda::{ReadSettings, SettingError, Settings};

/// Everything the function can be told through its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// CloudWatch namespace (`METRICS_NAMESPACE`, default `VPCFlowLogs`).
    pub namespace: String,
    /// Sources per object published with a `SourceIp` dimension (`TOP_N`, default 20).
    pub top_n: usize,
    /// How objects are read and aggregated (see [`ReadSettings`]).
    pub read: ReadSettings,
    /// Where the publish ledger lives (`LEDGER_BUCKET`, `LEDGER_PREFIX` default
    /// `rate-metrics-ledger/`); without a bucket, redeliveries are published again.
    pub ledger: Option<(String, String)>,
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
            ledger: settings.raw("LEDGER_BUCKET").map(|bucket| {
                let prefix = settings
                    .raw("LEDGER_PREFIX")
                    .unwrap_or_else(|| "rate-metrics-ledger/".into());
                (bucket, prefix)
            }),
        })
    }

    /// Reads and validates the process environment.
    pub fn from_env() -> Result<Config, SettingError> {
        Config::from_settings(&Settings::new(&|name| std::env::var(name).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, SettingError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        Config::from_settings(&Settings::new(&lookup))
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = config(&[]).unwrap();
        assert_eq!((c.namespace.as_str(), c.top_n), ("VPCFlowLogs", 20));
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
