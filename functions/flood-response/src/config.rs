//! The function's settings, validated at cold start.

use std::ops::RangeInclusive;

use flowlog_core::{IpNet, Severity};
use flowlog_lambda::{SettingError, Settings};

/// Rule numbers AWS accepts for a network ACL entry.
pub const NACL_RULE_NUMBERS: RangeInclusive<i32> = 1..=32766;

/// Which IP set scope: a regional web ACL (ALB, API Gateway, ...) or CloudFront's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WafScope {
    /// `REGIONAL`: the IP set lives in the function's region.
    Regional,
    /// `CLOUDFRONT`: the IP set lives in us-east-1, whatever the function's region.
    CloudFront,
}

impl WafScope {
    /// `REGIONAL` / `CLOUDFRONT`, as the API and the CLI spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            WafScope::Regional => "REGIONAL",
            WafScope::CloudFront => "CLOUDFRONT",
        }
    }
}

/// One WAF IP set, as the API names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpSetRef {
    /// Its name.
    pub name: String,
    /// Its id.
    pub id: String,
}

/// The WAF IP sets blocked sources go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WafSettings {
    /// Their scope.
    pub scope: WafScope,
    /// The set for IPv4 sources (`WAF_IPV4_SET_NAME`, `WAF_IPV4_SET_ID`).
    pub ipv4: Option<IpSetRef>,
    /// The set for IPv6 sources and /64s (`WAF_IPV6_SET_NAME`, `WAF_IPV6_SET_ID`).
    pub ipv6: Option<IpSetRef>,
}

/// The network ACL blocked sources get a DENY entry in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaclSettings {
    /// `acl-...` (`NACL_ID`).
    pub acl_id: String,
    /// Rule numbers this function may use (`NACL_RULE_RANGE`, default 1-99).
    pub rules: RangeInclusive<i32>,
}

/// What the function does with a flooding source (`RESPONSE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `none`: nothing (the default; the template then deploys no response function at all).
    Off,
    /// `waf`: add it to a WAF IP set.
    Waf(WafSettings),
    /// `nacl`: a DENY entry in a network ACL.
    Nacl(NaclSettings),
}

/// Everything the function can be told through its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `RESPONSE` and where blocks go.
    pub mode: Mode,
    /// `DRY_RUN`: decide, log and report, but change nothing (default false).
    pub dry_run: bool,
    /// The alert topic, where block and release reports go (`TOPIC_ARN`, required).
    pub topic_arn: String,
    /// The shared state table, where the block registry is a record of its own partition
    /// (`STATE_TABLE`, required).
    pub state_table: String,
    /// Lowest severity blocked (`MIN_SEVERITY`, default HIGH).
    pub min_severity: Severity,
    /// A block is released at most this long after it was made (`MAX_BLOCK_SECS`, default 3600).
    pub max_block_secs: i64,
    /// At most this many sources blocked at once (`MAX_ENTRIES`, default 100).
    pub max_entries: usize,
    /// Never blocked (`BLOCK_ALLOWLIST`, CIDRs).
    pub allowlist: Vec<IpNet>,
    /// The VPC's own networks, never blocked (`VPC_CIDRS`, CIDRs).
    pub vpc_cidrs: Vec<IpNet>,
}

fn invalid(name: &str, value: &str, expected: &str) -> SettingError {
    SettingError {
        name: name.into(),
        value: value.into(),
        expected: expected.into(),
    }
}

/// A name and an id together, or neither.
fn ip_set(
    (name_var, name): (&str, Option<String>),
    (id_var, id): (&str, Option<String>),
) -> Result<Option<IpSetRef>, SettingError> {
    match (name, id) {
        (Some(name), Some(id)) => Ok(Some(IpSetRef { name, id })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(invalid(
            id_var,
            "",
            &format!("the id of the IP set {name_var} names (both or neither)"),
        )),
        (None, Some(id)) => Err(invalid(
            name_var,
            "",
            &format!("the name of the IP set whose id is {id} (both or neither)"),
        )),
    }
}

/// `FIRST-LAST` within 1-32766.
fn rule_range(text: &str) -> Option<RangeInclusive<i32>> {
    let (first, last) = text.split_once('-')?;
    let (first, last): (i32, i32) = (first.trim().parse().ok()?, last.trim().parse().ok()?);
    let ok =
        first <= last && NACL_RULE_NUMBERS.contains(&first) && NACL_RULE_NUMBERS.contains(&last);
    ok.then_some(first..=last)
}

impl Config {
    /// Reads and validates the settings.
    pub fn from_settings(s: &Settings<'_>) -> Result<Config, SettingError> {
        let cidrs = |name: &str| {
            s.parse(
                name,
                Vec::new(),
                "comma-separated CIDRs, e.g. 198.51.100.0/24,2001:db8::/32",
                flowlog_lambda::env::cidr_list,
            )
        };
        let set_name = |name: &str| {
            let value = s.parse(
                name,
                None,
                "an IP set name (1 to 128 of A-Z, a-z, 0-9, '-' and '_')",
                |v| {
                    let ok = (1..=128).contains(&v.len())
                        && v.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                    ok.then(|| Some(v.to_owned()))
                },
            );
            value.map(|v| (name.to_owned(), v))
        };
        let set_id = |name: &str| {
            let value = s.parse(
                name,
                None,
                "an IP set id (1 to 36 of a-z, 0-9 and '-')",
                |v| {
                    let ok = (1..=36).contains(&v.len())
                        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
                    ok.then(|| Some(v.to_owned()))
                },
            );
            value.map(|v| (name.to_owned(), v))
        };
        let pair = |(n, name): (String, Option<String>), (i, id): (String, Option<String>)| {
            ip_set((&n, name), (&i, id))
        };
        let mode = match s
            .raw("RESPONSE")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("none") => Mode::Off,
            Some("waf") => {
                let scope = s.parse(
                    "WAF_SCOPE",
                    WafScope::Regional,
                    "REGIONAL or CLOUDFRONT",
                    |v| match v {
                        "REGIONAL" => Some(WafScope::Regional),
                        "CLOUDFRONT" => Some(WafScope::CloudFront),
                        _ => None,
                    },
                )?;
                let waf = WafSettings {
                    scope,
                    ipv4: pair(set_name("WAF_IPV4_SET_NAME")?, set_id("WAF_IPV4_SET_ID")?)?,
                    ipv6: pair(set_name("WAF_IPV6_SET_NAME")?, set_id("WAF_IPV6_SET_ID")?)?,
                };
                if waf.ipv4.is_none() && waf.ipv6.is_none() {
                    return Err(invalid(
                        "WAF_IPV4_SET_NAME",
                        "",
                        "an IPv4 or IPv6 IP set (name and id) when RESPONSE=waf",
                    ));
                }
                Mode::Waf(waf)
            }
            Some("nacl") => {
                let acl_id = s.required("NACL_ID")?;
                let valid = acl_id.strip_prefix("acl-").is_some_and(|hex| {
                    !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())
                });
                if !valid {
                    return Err(invalid("NACL_ID", &acl_id, "a network ACL id, acl-..."));
                }
                let rules = s.parse(
                    "NACL_RULE_RANGE",
                    1..=99,
                    "FIRST-LAST rule numbers within 1-32766, e.g. 1-99",
                    rule_range,
                )?;
                Mode::Nacl(NaclSettings { acl_id, rules })
            }
            Some(other) => return Err(invalid("RESPONSE", other, "none, waf or nacl")),
        };
        let topic_arn = flowlog_lambda::settings::topic_arn(s)?;
        Ok(Config {
            mode,
            dry_run: s.parse("DRY_RUN", false, "true or false", |v| v.parse().ok())?,
            topic_arn,
            state_table: flowlog_lambda::state_table(s)?,
            min_severity: s.parse(
                "MIN_SEVERITY",
                Severity::High,
                "HIGH or MEDIUM",
                |v| match v {
                    "HIGH" => Some(Severity::High),
                    "MEDIUM" => Some(Severity::Medium),
                    _ => None,
                },
            )?,
            max_block_secs: s.number("MAX_BLOCK_SECS", 3600, 60..=7 * 86_400)?,
            max_entries: s.number("MAX_ENTRIES", 100, 1..=10_000)?,
            allowlist: cidrs("BLOCK_ALLOWLIST")?,
            vpc_cidrs: cidrs("VPC_CIDRS")?,
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
            ("STATE_TABLE", "flowlogs-state"),
        ];
        all.extend_from_slice(vars);
        flowlog_lambda::env::from_vars(&all, Config::from_settings)
    }

    #[test]
    fn defaults_are_off_high_severity_one_hour_and_a_hundred_entries() {
        let c = config(&[]).unwrap();
        assert_eq!(c.mode, Mode::Off);
        assert!(!c.dry_run);
        assert_eq!(c.min_severity, Severity::High);
        assert_eq!(c.max_block_secs, 3600);
        assert_eq!(c.max_entries, 100);
        assert_eq!(c.state_table, "flowlogs-state");
        assert!(c.allowlist.is_empty() && c.vpc_cidrs.is_empty());
    }

    #[test]
    fn waf_mode_reads_scope_and_both_sets() {
        let c = config(&[
            ("RESPONSE", "waf"),
            ("WAF_SCOPE", "CLOUDFRONT"),
            ("WAF_IPV4_SET_NAME", "block-v4"),
            ("WAF_IPV4_SET_ID", "a1b2-c3"),
            ("WAF_IPV6_SET_NAME", "block-v6"),
            ("WAF_IPV6_SET_ID", "d4e5"),
            ("DRY_RUN", "true"),
            ("MIN_SEVERITY", "MEDIUM"),
        ])
        .unwrap();
        let Mode::Waf(waf) = c.mode else {
            panic!("{:?}", c.mode)
        };
        assert_eq!(waf.scope, WafScope::CloudFront);
        assert_eq!(waf.ipv4.unwrap().id, "a1b2-c3");
        assert_eq!(waf.ipv6.unwrap().name, "block-v6");
        assert!(c.dry_run);
        assert_eq!(c.min_severity, Severity::Medium);
    }

    #[test]
    fn nacl_mode_reads_the_acl_and_the_reserved_rule_range() {
        let c = config(&[("RESPONSE", "nacl"), ("NACL_ID", "acl-0abc12")]).unwrap();
        assert_eq!(
            c.mode,
            Mode::Nacl(NaclSettings {
                acl_id: "acl-0abc12".into(),
                rules: 1..=99
            })
        );
        let c = config(&[
            ("RESPONSE", "nacl"),
            ("NACL_ID", "acl-0abc12"),
            ("NACL_RULE_RANGE", "200-219"),
        ])
        .unwrap();
        assert!(matches!(c.mode, Mode::Nacl(n) if n.rules == (200..=219)));
    }

    #[test]
    fn bad_or_missing_settings_name_the_variable() {
        for (vars, name) in [
            (vec![("RESPONSE", "block")], "RESPONSE"),
            (vec![("RESPONSE", "waf")], "WAF_IPV4_SET_NAME"),
            (
                vec![("RESPONSE", "waf"), ("WAF_IPV4_SET_NAME", "v4")],
                "WAF_IPV4_SET_ID",
            ),
            (
                vec![("RESPONSE", "waf"), ("WAF_IPV6_SET_ID", "abc")],
                "WAF_IPV6_SET_NAME",
            ),
            (
                vec![
                    ("RESPONSE", "waf"),
                    ("WAF_SCOPE", "GLOBAL"),
                    ("WAF_IPV4_SET_NAME", "v4"),
                    ("WAF_IPV4_SET_ID", "abc"),
                ],
                "WAF_SCOPE",
            ),
            (vec![("RESPONSE", "nacl")], "NACL_ID"),
            (vec![("RESPONSE", "nacl"), ("NACL_ID", "sg-123")], "NACL_ID"),
            (
                vec![
                    ("RESPONSE", "nacl"),
                    ("NACL_ID", "acl-1"),
                    ("NACL_RULE_RANGE", "99-1"),
                ],
                "NACL_RULE_RANGE",
            ),
            (
                vec![
                    ("RESPONSE", "nacl"),
                    ("NACL_ID", "acl-1"),
                    ("NACL_RULE_RANGE", "0-10"),
                ],
                "NACL_RULE_RANGE",
            ),
            (vec![("TOPIC_ARN", "alerts")], "TOPIC_ARN"),
            (vec![("STATE_TABLE", "a")], "STATE_TABLE"),
            (vec![("MAX_BLOCK_SECS", "10")], "MAX_BLOCK_SECS"),
            (vec![("MAX_ENTRIES", "0")], "MAX_ENTRIES"),
            (vec![("BLOCK_ALLOWLIST", "10.0.0.0/33")], "BLOCK_ALLOWLIST"),
            (vec![("VPC_CIDRS", "vpc")], "VPC_CIDRS"),
            (vec![("MIN_SEVERITY", "LOW")], "MIN_SEVERITY"),
            (vec![("DRY_RUN", "maybe")], "DRY_RUN"),
        ] {
            let error = config(&vars).unwrap_err();
            assert_eq!(error.name, name, "{vars:?}: {error}");
        }
    }
}
