//! Typed access to every value of a record (the full parse used by `flowlogs parse`).

use std::net::IpAddr;

use serde::Serialize;

use crate::field::{Field, FieldKind};
use crate::format::{Column, Format};
use crate::skip::SkipReason;
use crate::token::{self, Span, Tokens};

/// `action`: whether security groups and network ACLs let the traffic through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Action {
    /// `ACCEPT`
    #[serde(rename = "ACCEPT")]
    Accept,
    /// `REJECT`
    #[serde(rename = "REJECT")]
    Reject,
}

impl Action {
    /// Parses `ACCEPT` / `REJECT`.
    pub fn parse(token: &[u8]) -> Option<Action> {
        match token {
            b"ACCEPT" => Some(Action::Accept),
            b"REJECT" => Some(Action::Reject),
            _ => None,
        }
    }

    /// The value as AWS writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "ACCEPT",
            Action::Reject => "REJECT",
        }
    }
}

/// `log-status`: whether the record describes traffic or a gap in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum LogStatus {
    /// Data is logging normally.
    #[serde(rename = "OK")]
    Ok,
    /// No traffic on the interface during the interval.
    #[serde(rename = "NODATA")]
    NoData,
    /// Records were skipped during the interval (capacity or an internal error): data was lost.
    #[serde(rename = "SKIPDATA")]
    SkipData,
}

impl LogStatus {
    /// Parses `OK` / `NODATA` / `SKIPDATA`.
    pub fn parse(token: &[u8]) -> Option<LogStatus> {
        match token {
            b"OK" => Some(LogStatus::Ok),
            b"NODATA" => Some(LogStatus::NoData),
            b"SKIPDATA" => Some(LogStatus::SkipData),
            _ => None,
        }
    }

    /// The value as AWS writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStatus::Ok => "OK",
            LogStatus::NoData => "NODATA",
            LogStatus::SkipData => "SKIPDATA",
        }
    }
}

/// One typed value of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// `-`: not applicable or not computable (never zero).
    Absent,
    /// Ports, protocol, packets, bytes, version, tcp-flags, traffic-path, encryption-status.
    Unsigned(u64),
    /// `start` / `end` in Unix seconds.
    UnixSeconds(i64),
    /// An IPv4 or IPv6 address.
    Address(IpAddr),
    /// `action`.
    Action(Action),
    /// `log-status`.
    LogStatus(LogStatus),
    /// Any other field, as written.
    Text(&'a str),
}

/// A value as the parser keeps it between lines: text as its place in the line, which the
/// [`Record`] borrows it from.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// Any value but text.
    Typed(Value<'static>),
    /// A text column, validated as UTF-8.
    Text(Span),
}

/// Parses whole records, reusing its buffers from line to line.
#[derive(Debug, Default)]
pub struct RecordParser {
    tokens: Tokens,
    slots: Vec<Slot>,
}

impl RecordParser {
    /// A parser with empty buffers.
    pub fn new() -> RecordParser {
        RecordParser::default()
    }

    /// Parses and validates every value of `line` under `format`.
    pub fn parse<'a>(
        &'a mut self,
        format: &'a Format,
        line: &'a [u8],
    ) -> Result<Record<'a>, SkipReason> {
        self.tokens.split(line);
        if self.tokens.len() != format.len() {
            return Err(SkipReason::FieldCount);
        }
        self.slots.clear();
        for (column, span) in format.columns().iter().zip(self.tokens.spans()) {
            let text = token::slice(line, span);
            // Every record has a log-status; `-` there is not a value AWS writes.
            let slot = if token::is_absent(text) && column.kind() != FieldKind::LogStatus {
                Slot::Typed(Value::Absent)
            } else {
                typed(column.kind(), line, span)?
            };
            self.slots.push(slot);
        }
        Ok(Record {
            format,
            line,
            slots: &self.slots,
        })
    }
}

fn typed(kind: FieldKind, line: &[u8], span: Span) -> Result<Slot, SkipReason> {
    let text = token::slice(line, span);
    let value = match kind {
        FieldKind::Unsigned { bits } => {
            Value::Unsigned(token::unsigned_in(line, span, bits).ok_or(SkipReason::BadNumber)?)
        }
        FieldKind::UnixSeconds => {
            Value::UnixSeconds(token::unix_seconds_in(line, span).ok_or(SkipReason::BadNumber)?)
        }
        FieldKind::Address => Value::Address(token::address(text).ok_or(SkipReason::BadAddress)?),
        FieldKind::Action => Value::Action(Action::parse(text).ok_or(SkipReason::BadAction)?),
        FieldKind::LogStatus => {
            Value::LogStatus(LogStatus::parse(text).ok_or(SkipReason::BadLogStatus)?)
        }
        FieldKind::Text => {
            std::str::from_utf8(text).map_err(|_| SkipReason::InvalidUtf8)?;
            return Ok(Slot::Text(span));
        }
    };
    Ok(Slot::Typed(value))
}

/// A parsed record: its values in format order.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    format: &'a Format,
    line: &'a [u8],
    slots: &'a [Slot],
}

impl<'a> Record<'a> {
    /// Each column with its value, in format order.
    pub fn values(&self) -> impl Iterator<Item = (&'a Column, Value<'a>)> + '_ {
        self.format
            .columns()
            .iter()
            .zip(self.slots)
            .map(|(column, slot)| (column, self.value(slot)))
    }

    /// The value of a documented field, or `None` when the format lacks it.
    pub fn get(&self, field: Field) -> Option<Value<'a>> {
        let index = self.format.position(field)?;
        Some(self.value(&self.slots[index]))
    }

    /// The record's `log-status`; a format without that column logs traffic only, so `OK`.
    pub fn log_status(&self) -> LogStatus {
        match self.get(Field::LogStatus) {
            Some(Value::LogStatus(status)) => status,
            _ => LogStatus::Ok,
        }
    }

    fn value(&self, slot: &Slot) -> Value<'a> {
        match *slot {
            Slot::Typed(value) => value,
            // Validated as UTF-8 when parsed.
            Slot::Text(span) => {
                Value::Text(std::str::from_utf8(token::slice(self.line, span)).unwrap_or_default())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(format: &Format, line: &str) -> Result<Vec<(String, String)>, SkipReason> {
        let mut parser = RecordParser::new();
        let record = parser.parse(format, line.as_bytes())?;
        Ok(record
            .values()
            .map(|(c, v)| (c.name().to_owned(), format!("{v:?}")))
            .collect())
    }

    #[test]
    fn default_record_is_typed_field_by_field() {
        let format = Format::default_v2();
        let line = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK";
        let mut parser = RecordParser::new();
        let record = parser.parse(&format, line.as_bytes()).unwrap();
        assert_eq!(record.get(Field::Version), Some(Value::Unsigned(2)));
        assert_eq!(
            record.get(Field::AccountId),
            Some(Value::Text("123456789010"))
        );
        assert_eq!(
            record.get(Field::SrcAddr),
            Some(Value::Address("172.31.16.139".parse().unwrap()))
        );
        assert_eq!(record.get(Field::DstPort), Some(Value::Unsigned(22)));
        assert_eq!(
            record.get(Field::Start),
            Some(Value::UnixSeconds(1_418_530_010))
        );
        assert_eq!(
            record.get(Field::Action),
            Some(Value::Action(Action::Accept))
        );
        assert_eq!(record.log_status(), LogStatus::Ok);
        assert_eq!(record.get(Field::VpcId), None);
    }

    #[test]
    fn dash_is_absent_not_zero() {
        let format = Format::default_v2();
        let line = "2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA";
        let mut parser = RecordParser::new();
        let record = parser.parse(&format, line.as_bytes()).unwrap();
        assert_eq!(record.get(Field::Packets), Some(Value::Absent));
        assert_eq!(record.get(Field::SrcAddr), Some(Value::Absent));
        assert_eq!(record.log_status(), LogStatus::NoData);
    }

    #[test]
    fn unknown_columns_are_kept_as_text() {
        let format: Format = "${srcaddr} ${future-field}".parse().unwrap();
        let values = parse(&format, "10.0.0.1 whatever").unwrap();
        assert_eq!(
            values[1],
            ("future-field".into(), "Text(\"whatever\")".into())
        );
    }

    #[test]
    fn malformed_values_give_their_reason() {
        let format = Format::default_v2();
        let good = "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 40 1 2 ACCEPT OK";
        assert!(parse(&format, good).is_ok());
        let cases = [
            (good.replace(" OK", ""), SkipReason::FieldCount),
            (format!("{good} extra"), SkipReason::FieldCount),
            (good.replace(" 6 ", " 600 "), SkipReason::BadNumber),
            (
                good.replace("10.0.0.1", "10.0.0.300"),
                SkipReason::BadAddress,
            ),
            (good.replace("ACCEPT", "ALLOW"), SkipReason::BadAction),
            (good.replace(" OK", " FINE"), SkipReason::BadLogStatus),
        ];
        for (line, reason) in cases {
            let mut parser = RecordParser::new();
            assert_eq!(parser.parse(&format, line.as_bytes()).err(), Some(reason));
        }
        let mut not_utf8 = good.as_bytes().to_vec();
        not_utf8[5] = 0xff; // inside the interface id
        let mut parser = RecordParser::new();
        assert_eq!(
            parser.parse(&format, &not_utf8).err(),
            Some(SkipReason::InvalidUtf8)
        );
    }
}
