//! Which records a query keeps (`--action`, `--protocol`, `--port`, `--src`, `--dst`,
//! `--interface`, `--since`, `--until`), like a Logs Insights `filter`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use clap::{Args, ValueEnum};
use flowlog_core::{Action, Field, Format, IpNet, LogStatus, Record, Value};

/// `--action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActionArg {
    /// Traffic security groups and network ACLs let through (ACCEPT).
    Accept,
    /// Traffic they rejected (REJECT).
    Reject,
}

impl From<ActionArg> for Action {
    fn from(action: ActionArg) -> Action {
        match action {
            ActionArg::Accept => Action::Accept,
            ActionArg::Reject => Action::Reject,
        }
    }
}

/// The record filters; every given one must match.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Filters (every one given must match; only OK records match)")]
pub struct FilterArgs {
    /// Only records with this action.
    #[arg(long, value_enum, ignore_case = true)]
    pub action: Option<ActionArg>,
    /// Only these protocols: tcp, udp, icmp, icmpv6 or a number 0-255 (comma-separated).
    #[arg(long, value_name = "PROTO", value_delimiter = ',', value_parser = parse_protocol)]
    pub protocol: Vec<u8>,
    /// Only these destination ports or ranges, e.g. 22,443,8000-8999.
    #[arg(long, value_name = "PORTS", value_delimiter = ',', value_parser = parse_ports)]
    pub port: Vec<RangeInclusive<u16>>,
    /// Only records whose srcaddr is in this CIDR or is this address (repeatable).
    #[arg(long, value_name = "CIDR", value_parser = crate::args::parse_cidr)]
    pub src: Vec<IpNet>,
    /// Only records whose dstaddr is in this CIDR or is this address (repeatable).
    #[arg(long, value_name = "CIDR", value_parser = crate::args::parse_cidr)]
    pub dst: Vec<IpNet>,
    /// Only records of these network interfaces (interface-id, comma-separated).
    #[arg(long, value_name = "ENI", value_delimiter = ',')]
    pub interface: Vec<String>,
    /// Only records whose start is at or after this time (UTC): 2025-11-24T16:00Z,
    /// 2025-11-24, Unix seconds, or 90m / 6h / 2d before now.
    #[arg(long, value_name = "TIME", value_parser = crate::when::parse_now)]
    pub since: Option<i64>,
    /// Only records whose start is before this time (the forms of --since).
    #[arg(long, value_name = "TIME", value_parser = crate::when::parse_now)]
    pub until: Option<i64>,
}

impl FilterArgs {
    /// Whether any filter is given.
    pub fn is_active(&self) -> bool {
        self.action.is_some()
            || !self.protocol.is_empty()
            || !self.port.is_empty()
            || !self.src.is_empty()
            || !self.dst.is_empty()
            || !self.interface.is_empty()
            || self.since.is_some()
            || self.until.is_some()
    }

    /// `--since` must come before `--until`.
    pub fn check(&self) -> Result<(), String> {
        match (self.since, self.until) {
            (Some(since), Some(until)) if since >= until => Err(format!(
                "--since ({}) is not before --until ({})",
                flowlog_core::utc(since),
                flowlog_core::utc(until)
            )),
            _ => Ok(()),
        }
    }

    /// The fields the filters read, with the option that reads each.
    pub fn fields(&self) -> Vec<(Field, &'static str)> {
        let mut fields = Vec::new();
        let mut need = |given: bool, field, option| {
            if given {
                fields.push((field, option));
            }
        };
        need(self.action.is_some(), Field::Action, "--action");
        need(!self.protocol.is_empty(), Field::Protocol, "--protocol");
        need(!self.port.is_empty(), Field::DstPort, "--port");
        need(!self.src.is_empty(), Field::SrcAddr, "--src");
        need(!self.dst.is_empty(), Field::DstAddr, "--dst");
        need(
            !self.interface.is_empty(),
            Field::InterfaceId,
            "--interface",
        );
        need(self.since.is_some(), Field::Start, "--since");
        need(self.until.is_some(), Field::Start, "--until");
        fields
    }

    /// Whether `record` passes every filter. With a filter given, only OK records (the ones
    /// that describe traffic) can match.
    pub fn matches(&self, record: &Record<'_>) -> bool {
        if !self.is_active() {
            return true;
        }
        if record.log_status() != LogStatus::Ok {
            return false;
        }
        if let Some(action) = self.action
            && record.get(Field::Action) != Some(Value::Action(action.into()))
        {
            return false;
        }
        if !self.protocol.is_empty()
            && !matches!(record.get(Field::Protocol), Some(Value::Unsigned(p)) if self.protocol.iter().any(|&q| u64::from(q) == p))
        {
            return false;
        }
        if !self.port.is_empty()
            && !matches!(record.get(Field::DstPort), Some(Value::Unsigned(p)) if self.port.iter().any(|r| r.contains(&(p as u16))))
        {
            return false;
        }
        if !in_any(&self.src, record.get(Field::SrcAddr))
            || !in_any(&self.dst, record.get(Field::DstAddr))
        {
            return false;
        }
        if !self.interface.is_empty()
            && !matches!(record.get(Field::InterfaceId), Some(Value::Text(eni)) if self.interface.iter().any(|i| i == eni))
        {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(Value::UnixSeconds(start)) = record.get(Field::Start) else {
                return false;
            };
            if self.since.is_some_and(|since| start < since)
                || self.until.is_some_and(|until| start >= until)
            {
                return false;
            }
        }
        true
    }
}

fn in_any(networks: &[IpNet], value: Option<Value<'_>>) -> bool {
    if networks.is_empty() {
        return true;
    }
    let Some(Value::Address(address)) = value else {
        return false;
    };
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    };
    networks.iter().any(|n| n.contains(&address))
}

/// Fields the filters and group keys need that `format` lacks, named with their options:
/// collected across inputs and reported once, since nothing can match them there.
#[derive(Debug, Default)]
pub struct MissingFields(BTreeSet<(&'static str, &'static str)>);

impl MissingFields {
    /// Notes the fields of `needed` that `format` lacks.
    pub fn check(&mut self, format: &Format, needed: &[(Field, &'static str)]) {
        for &(field, option) in needed {
            if format.position(field).is_none() {
                self.0.insert((option, field.name()));
            }
        }
    }

    /// One note per option whose field some input's format lacks.
    pub fn notes(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(option, field)| {
                format!("{option}: some input's format has no {field} field; none of its records could match")
            })
            .collect()
    }
}

fn parse_protocol(text: &str) -> Result<u8, String> {
    match text.to_ascii_lowercase().as_str() {
        "icmp" => Ok(1),
        "tcp" => Ok(6),
        "udp" => Ok(17),
        "icmpv6" => Ok(58),
        number => number.parse().map_err(|_| {
            format!("{text:?} is not a protocol: expected tcp, udp, icmp, icmpv6 or a number 0-255")
        }),
    }
}

/// The name of a protocol number when it has a common one.
pub fn protocol_name(number: u64) -> Option<&'static str> {
    match number {
        1 => Some("icmp"),
        6 => Some("tcp"),
        17 => Some("udp"),
        58 => Some("icmpv6"),
        _ => None,
    }
}

fn parse_ports(text: &str) -> Result<RangeInclusive<u16>, String> {
    let bad = || format!("{text:?} is not a port (0-65535) or a range of ports like 8000-8999");
    let (low, high) = text.split_once('-').unwrap_or((text, text));
    let (low, high): (u16, u16) = (
        low.trim().parse().map_err(|_| bad())?,
        high.trim().parse().map_err(|_| bad())?,
    );
    if low > high {
        return Err(bad());
    }
    Ok(low..=high)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlog_core::RecordParser;

    fn check(filter: &FilterArgs, line: &str) -> bool {
        let format = Format::parse_strict(
            "${interface-id} ${srcaddr} ${dstaddr} ${dstport} ${protocol} ${start} ${action} ${log-status}",
        )
        .unwrap();
        let mut parser = RecordParser::new();
        let record = parser.parse(&format, line.as_bytes()).unwrap();
        filter.matches(&record)
    }

    const SSH_REJECTED: &str = "eni-1 203.0.113.7 10.0.1.10 22 6 1700000040 REJECT OK";

    #[test]
    fn every_given_filter_must_match() {
        let filter = FilterArgs {
            action: Some(ActionArg::Reject),
            protocol: vec![6],
            port: vec![20..=23],
            src: vec!["203.0.113.0/24".parse().unwrap()],
            dst: vec!["10.0.1.10/32".parse().unwrap()],
            interface: vec!["eni-1".into()],
            since: Some(1_700_000_040),
            until: Some(1_700_000_041),
        };
        assert!(check(&filter, SSH_REJECTED));
        for miss in [
            FilterArgs {
                action: Some(ActionArg::Accept),
                ..filter.clone()
            },
            FilterArgs {
                protocol: vec![17],
                ..filter.clone()
            },
            FilterArgs {
                port: vec![443..=443],
                ..filter.clone()
            },
            FilterArgs {
                src: vec!["10.0.0.0/8".parse().unwrap()],
                ..filter.clone()
            },
            FilterArgs {
                interface: vec!["eni-2".into()],
                ..filter.clone()
            },
            FilterArgs {
                until: Some(1_700_000_040),
                since: None,
                ..filter.clone()
            },
        ] {
            assert!(!check(&miss, SSH_REJECTED), "{miss:?}");
        }
    }

    #[test]
    fn with_a_filter_only_ok_records_match() {
        let line = "eni-1 - - - - 1700000040 - NODATA";
        assert!(check(&FilterArgs::default(), line));
        let filter = FilterArgs {
            since: Some(0),
            ..FilterArgs::default()
        };
        assert!(!check(&filter, line));
    }

    #[test]
    fn ports_protocols_and_time_order_are_validated() {
        assert_eq!(parse_ports("8000-8999"), Ok(8000..=8999));
        assert!(parse_ports("9000-8000").is_err());
        assert!(parse_ports("65536").is_err());
        assert_eq!(parse_protocol("UDP"), Ok(17));
        assert!(parse_protocol("256").is_err());
        let reversed = FilterArgs {
            since: Some(10),
            until: Some(5),
            ..FilterArgs::default()
        };
        assert!(reversed.check().is_err());
    }
}
