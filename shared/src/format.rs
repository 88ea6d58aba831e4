//! The column layout of a flow log: from an S3 header line, a `${field}` format string, or the
//! default v2 format.

use std::fmt;
use std::str::FromStr;

use crate::field::{Field, FieldKind};
use crate::token;

/// One column of a format: a documented field, or a name this crate does not know (kept as text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Column {
    /// A field from the AWS field table.
    Known(Field),
    /// Any other name; its values are kept as strings.
    Unknown(Box<str>),
}

impl Column {
    /// Resolves a name, accepting the Parquet/Athena spelling with `_` for a known field.
    pub fn from_name(name: &str) -> Column {
        if let Some(field) = Field::from_name(name) {
            return Column::Known(field);
        }
        if name.contains('_')
            && let Some(field) = Field::from_name(&name.replace('_', "-"))
        {
            return Column::Known(field);
        }
        Column::Unknown(name.into())
    }

    /// The column's name as AWS spells it (unknown names as given).
    pub fn name(&self) -> &str {
        match self {
            Column::Known(field) => field.name(),
            Column::Unknown(name) => name,
        }
    }

    /// How values of this column are typed.
    pub fn kind(&self) -> FieldKind {
        match self {
            Column::Known(field) => field.kind(),
            Column::Unknown(_) => FieldKind::Text,
        }
    }
}

/// Why a format string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The string names no field at all.
    #[error("the format names no field; expected e.g. \"${{version}} ${{srcaddr}} ...\"")]
    Empty,
    /// A token is neither `${name}` nor a bare field name.
    #[error(
        "bad format token {token:?}: expected ${{field-name}} (lower-case letters, digits, '-')"
    )]
    BadToken {
        /// The offending token.
        token: String,
    },
    /// The same field appears twice.
    #[error("field {name:?} appears twice in the format")]
    Duplicate {
        /// The repeated name.
        name: String,
    },
    /// A name no flow-log version documents, in a format that must name known fields only
    /// ([`Format::parse_strict`]).
    #[error("unknown field {name:?} (the nearest known field is {nearest:?})")]
    UnknownField {
        /// The name as written.
        name: String,
        /// The documented field closest to it in spelling.
        nearest: &'static str,
    },
}

/// The ordered columns of a flow log's records.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Format {
    columns: Vec<Column>,
}

impl Format {
    /// The default format (the 14 v2 fields), used when an object has no header line and no
    /// format was configured.
    pub fn default_v2() -> Format {
        Format {
            columns: Field::ALL
                .iter()
                .filter(|f| f.version() == 2)
                .map(|&f| Column::Known(f))
                .collect(),
        }
    }

    /// Builds a format from field names, refusing an empty list, a malformed name or a duplicate.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Format, FormatError> {
        let mut columns: Vec<Column> = Vec::new();
        for name in names {
            if !is_field_name(name.as_bytes()) {
                return Err(FormatError::BadToken { token: name.into() });
            }
            let column = Column::from_name(name);
            if columns.contains(&column) {
                return Err(FormatError::Duplicate { name: name.into() });
            }
            columns.push(column);
        }
        if columns.is_empty() {
            return Err(FormatError::Empty);
        }
        Ok(Format { columns })
    }

    /// Recognises an S3 header line: every token a field-like name, at least one of them a
    /// documented field, no duplicates. Returns `None` for anything else (e.g. a record).
    pub fn from_header_line(line: &[u8]) -> Option<Format> {
        let first = *line.iter().find(|&&b| b != b' ')?;
        if !first.is_ascii_lowercase() {
            return None;
        }
        let text = std::str::from_utf8(line).ok()?;
        let format = Format::from_names(text.split(' ').filter(|t| !t.is_empty())).ok()?;
        format
            .columns
            .iter()
            .any(|c| matches!(c, Column::Known(_)))
            .then_some(format)
    }

    /// The columns in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// How many values a record of this format has.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Always false: a format has at least one column.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Parses a `${field}` format string given by a person (a command-line option, a
    /// setting), refusing names that AWS documents for no flow log, with the nearest known one.
    /// The fields only Transit Gateway flow logs have are accepted and kept as text. Header
    /// lines stay lenient ([`Format::from_header_line`]): a field AWS adds later is kept.
    pub fn parse_strict(text: &str) -> Result<Format, FormatError> {
        let format: Format = text.parse()?;
        match format.columns.iter().find_map(|c| match c {
            Column::Unknown(name)
                if !TRANSIT_GATEWAY_FIELDS.contains(&&*name.replace('_', "-")) =>
            {
                Some(name)
            }
            _ => None,
        }) {
            Some(name) => Err(FormatError::UnknownField {
                name: name.to_string(),
                nearest: nearest_field(name),
            }),
            None => Ok(format),
        }
    }

    /// The index of a documented field, if the format has it.
    pub fn position(&self, field: Field) -> Option<usize> {
        self.columns.iter().position(|c| *c == Column::Known(field))
    }
}

impl FromStr for Format {
    type Err = FormatError;

    /// Parses a `LogFormat` string: `${version} ${srcaddr} ...` (bare names are accepted too).
    fn from_str(text: &str) -> Result<Format, FormatError> {
        let names = text.split_ascii_whitespace().map(|token| {
            token
                .strip_prefix("${")
                .and_then(|t| t.strip_suffix('}'))
                .unwrap_or(token)
        });
        Format::from_names(names)
    }
}

impl fmt::Display for Format {
    /// Writes the format as a `${field}` string, the form AWS's `LogFormat` takes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, column) in self.columns.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "${{{}}}", column.name())?;
        }
        Ok(())
    }
}

/// The fields of Transit Gateway flow logs that VPC flow logs do not have (AWS documents both
/// kinds of record; these are read as text).
const TRANSIT_GATEWAY_FIELDS: &[&str] = &[
    "resource-type",
    "tgw-id",
    "tgw-attachment-id",
    "tgw-src-vpc-account-id",
    "tgw-dst-vpc-account-id",
    "tgw-src-vpc-id",
    "tgw-dst-vpc-id",
    "tgw-src-subnet-id",
    "tgw-dst-subnet-id",
    "tgw-src-eni",
    "tgw-dst-eni",
    "tgw-src-az-id",
    "tgw-dst-az-id",
    "tgw-pair-attachment-id",
    "packets-lost-no-route",
    "packets-lost-blackhole",
    "packets-lost-mtu-exceeded",
    "packets-lost-ttl-expired",
];

/// The documented field name (VPC or Transit Gateway) the fewest single-character edits away
/// from `name` (`_` read as `-`); ties go to the earlier one of the AWS tables.
fn nearest_field(name: &str) -> &'static str {
    let name = name.replace('_', "-");
    Field::ALL
        .iter()
        .map(|f| f.name())
        .chain(TRANSIT_GATEWAY_FIELDS.iter().copied())
        .min_by_key(|known| edit_distance(&name, known))
        .expect("the field tables are not empty")
}

/// Levenshtein distance over bytes (field names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// A field name as it may appear in a header: `[a-z][a-z0-9_-]*`.
fn is_field_name(name: &[u8]) -> bool {
    matches!(name.first(), Some(b) if b.is_ascii_lowercase())
        && name
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !token::is_absent(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

    #[test]
    fn default_format_is_the_14_v2_fields_in_order() {
        let format = Format::default_v2();
        let names: Vec<_> = format.columns().iter().map(Column::name).collect();
        assert_eq!(names.join(" "), DEFAULT_HEADER);
    }

    #[test]
    fn header_line_gives_the_format() {
        let format = Format::from_header_line(DEFAULT_HEADER.as_bytes()).unwrap();
        assert_eq!(format, Format::default_v2());
    }

    #[test]
    fn header_keeps_unknown_columns_as_text() {
        let format = Format::from_header_line(b"version srcaddr brand-new-field").unwrap();
        assert_eq!(
            format.columns()[2],
            Column::Unknown("brand-new-field".into())
        );
        assert_eq!(format.columns()[2].kind(), FieldKind::Text);
    }

    #[test]
    fn records_and_prose_are_not_headers() {
        for line in [
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
            "i-0123 eni-1 10.0.0.1 10.0.0.2 - -",
            "hello world",
            "version version",
            "",
            "- - -",
        ] {
            assert_eq!(Format::from_header_line(line.as_bytes()), None, "{line}");
        }
    }

    #[test]
    fn format_string_with_dollar_braces_parses_and_displays() {
        let format: Format = "${version} ${vpc-id} ${srcaddr}  ${tcp-flags}"
            .parse()
            .unwrap();
        assert_eq!(format.len(), 4);
        assert_eq!(format.position(Field::TcpFlags), Some(3));
        assert_eq!(
            format.to_string(),
            "${version} ${vpc-id} ${srcaddr} ${tcp-flags}"
        );
    }

    #[test]
    fn format_string_accepts_underscore_spelling_of_known_fields() {
        let format: Format = "${log_status} ${pkt_srcaddr}".parse().unwrap();
        assert_eq!(
            format.columns(),
            [
                Column::Known(Field::LogStatus),
                Column::Known(Field::PktSrcAddr)
            ]
        );
    }

    #[test]
    fn strict_parsing_names_an_unknown_field_and_the_nearest_known_one() {
        assert_eq!(
            Format::parse_strict("${version} ${srcadr} ${dstport}"),
            Err(FormatError::UnknownField {
                name: "srcadr".into(),
                nearest: "srcaddr",
            })
        );
        let message = Format::parse_strict("${log-stats}")
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "unknown field \"log-stats\" (the nearest known field is \"log-status\")"
        );
    }

    #[test]
    fn strict_parsing_accepts_every_documented_field_in_either_spelling() {
        let all: Vec<String> = Field::ALL
            .iter()
            .map(|f| format!("${{{}}}", f.name()))
            .collect();
        assert_eq!(Format::parse_strict(&all.join(" ")).unwrap().len(), 54);
        assert_eq!(
            Format::parse_strict("${pkt_srcaddr} ${log_status}").unwrap(),
            "${pkt-srcaddr} ${log-status}".parse().unwrap()
        );
    }

    #[test]
    fn strict_parsing_accepts_transit_gateway_fields_as_text() {
        let format =
            Format::parse_strict("${version} ${resource-type} ${tgw_id} ${srcaddr}").unwrap();
        assert_eq!(format.columns()[1], Column::Unknown("resource-type".into()));
        assert_eq!(format.columns()[1].kind(), FieldKind::Text);
        assert_eq!(format.position(Field::SrcAddr), Some(3));
        assert!(matches!(
            Format::parse_strict("${tgw-idd}"),
            Err(FormatError::UnknownField {
                nearest: "tgw-id",
                ..
            })
        ));
    }

    #[test]
    fn the_nearest_field_reads_underscores_as_hyphens() {
        assert_eq!(nearest_field("tcp_flag"), "tcp-flags");
        assert_eq!(nearest_field("interfaceid"), "interface-id");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn bad_format_strings_are_refused_with_a_reason() {
        assert_eq!("".parse::<Format>(), Err(FormatError::Empty));
        assert!(matches!(
            "${Version}".parse::<Format>(),
            Err(FormatError::BadToken { .. })
        ));
        assert!(matches!(
            "${srcaddr} ${srcaddr}".parse::<Format>(),
            Err(FormatError::Duplicate { .. })
        ));
    }
}
