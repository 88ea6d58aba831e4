//! The process environment at a cold start: settings read once, the SDK configuration, and the
//! small value parsers more than one function's settings share.

use aws_config::SdkConfig;
use flowlog_core::IpNet;

use crate::settings::{SettingError, Settings};

/// Starts JSON logging, reads the function's settings with `read` from the process environment,
/// then loads the SDK configuration: what every entry point does before it builds its handler.
pub async fn cold_start<T>(
    read: impl FnOnce(&Settings<'_>) -> Result<T, SettingError>,
) -> Result<(T, SdkConfig), SettingError> {
    crate::logging::init();
    let config = from_env(read)?;
    Ok((config, crate::aws::sdk_config().await))
}

/// Reads settings with `read` from the process environment.
pub fn from_env<T>(
    read: impl FnOnce(&Settings<'_>) -> Result<T, SettingError>,
) -> Result<T, SettingError> {
    read(&Settings::new(&|name| std::env::var(name).ok()))
}

/// Reads settings with `read` from `vars`; of two equal names the later wins (for tests: the
/// required variables first, then the case's own).
pub fn from_vars<T>(
    vars: &[(&str, &str)],
    read: impl FnOnce(&Settings<'_>) -> Result<T, SettingError>,
) -> Result<T, SettingError> {
    let lookup = |name: &str| {
        vars.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    };
    read(&Settings::new(&lookup))
}

/// A comma-separated list of CIDRs (blanks around and between entries ignored), or `None` if
/// one entry is not a CIDR.
pub fn cidr_list(value: &str) -> Option<Vec<IpNet>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| flowlog_core::parse_cidr(c).ok())
        .collect()
}

/// Whether an SNS topic ARN names a FIFO topic.
pub fn is_fifo_topic(topic_arn: &str) -> bool {
    topic_arn.ends_with(".fifo")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_variables_win_and_cidr_lists_skip_blanks() {
        let read = |s: &Settings<'_>| Ok(s.raw("A"));
        assert_eq!(
            from_vars(&[("A", "1"), ("A", "2")], read).unwrap(),
            Some("2".into())
        );
        assert_eq!(from_vars(&[], read).unwrap(), None);
        assert_eq!(cidr_list(" 10.0.0.0/8, ,2001:db8::/32").unwrap().len(), 2);
        assert_eq!(cidr_list("").unwrap(), Vec::new());
        assert_eq!(cidr_list("10.0.0.0/8,nope"), None);
        assert!(is_fifo_topic("arn:aws:sns:us-east-1:1:t.fifo"));
        assert!(!is_fifo_topic("arn:aws:sns:us-east-1:1:t"));
    }
}
