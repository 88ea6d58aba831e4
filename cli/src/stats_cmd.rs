//! `flowlogs stats`: flows, packets and bytes per group of the records that pass the filters,
//! the counterpart of a Logs Insights `filter ... | stats count(*) by ... | sort | limit`.
//!
//! A plain counter over each record's own fields (`srcaddr`, not the flood verdict's
//! requests-and-replies attribution): the answers match what the log says, line by line.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;

use flowlog_core::{
    Action, Field, Format, LogStatus, RecordParser, RecordVisitor, SkipReason, StatusCounts, Value,
};
use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Value as Json, json};

use crate::Error;
use crate::analyze_cmd::Totals;
use crate::args::{Key, Output, SortBy, StatsArgs, Top};
use crate::filter::{FilterArgs, MissingFields, protocol_name};
use crate::input::{ALL_COLUMNS, Failure};
use crate::text::{self, HEADING, count, counted, styled};

/// Groups in a table unless `--top` says otherwise.
const TABLE_GROUPS: usize = 20;

/// What a group adds up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// OK records.
    pub flows: u64,
    /// Their packets.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Those with action REJECT.
    pub rejected: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.flows += other.flows;
        self.packets = self.packets.saturating_add(other.packets);
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.rejected += other.rejected;
    }

    fn get(&self, sort: SortBy) -> u64 {
        match sort {
            SortBy::Flows => self.flows,
            SortBy::Packets => self.packets,
            SortBy::Bytes => self.bytes,
        }
    }
}

/// A group's key: the values of the chosen keys (the others stay `None`, as do absent values).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
struct GroupKey {
    source: Option<IpAddr>,
    destination: Option<IpAddr>,
    dstport: Option<u16>,
    /// Index into [`Counter::interface_names`].
    interface: Option<u32>,
    protocol: Option<u8>,
    action: Option<Action>,
}

/// Counts the records that pass the filter, per group.
pub struct Counter {
    keys: Vec<Key>,
    filter: FilterArgs,
    max_groups: usize,
    parser: RecordParser,
    format: Option<Format>,
    groups: HashMap<GroupKey, Counts>,
    interfaces: HashMap<Box<str>, u32>,
    interface_names: Vec<Box<str>>,
    /// Flows of groups beyond `max_groups`.
    other: Counts,
    /// Every record that passed.
    matched: Counts,
    missing: MissingFields,
}

impl Counter {
    /// A counter grouping by `keys` (at least one).
    pub fn new(keys: Vec<Key>, filter: FilterArgs, max_groups: usize) -> Counter {
        Counter {
            keys,
            filter,
            max_groups,
            parser: RecordParser::new(),
            format: None,
            groups: HashMap::new(),
            interfaces: HashMap::new(),
            interface_names: Vec::new(),
            other: Counts::default(),
            matched: Counts::default(),
            missing: MissingFields::default(),
        }
    }

    fn key_fields(&self) -> Vec<(Field, &'static str)> {
        self.keys
            .iter()
            .map(|key| match key {
                Key::Source => (Field::SrcAddr, "--by source"),
                Key::Destination => (Field::DstAddr, "--by destination"),
                Key::Dstport => (Field::DstPort, "--by dstport"),
                Key::Interface => (Field::InterfaceId, "--by interface"),
                Key::Protocol => (Field::Protocol, "--by protocol"),
                Key::Action => (Field::Action, "--by action"),
            })
            .collect()
    }
}

impl RecordVisitor for Counter {
    fn begin_format(&mut self, format: &Format) {
        let mut needed = self.filter.fields();
        needed.extend(self.key_fields());
        self.missing.check(format, &needed);
        self.format = Some(format.clone());
    }

    fn record(&mut self, line: &[u8]) -> Result<LogStatus, SkipReason> {
        let format = self.format.as_ref().expect("the format is set first");
        let record = self.parser.parse(format, line)?;
        let status = record.log_status();
        if status != LogStatus::Ok || !self.filter.matches(&record) {
            return Ok(status);
        }
        let unsigned = |field| match record.get(field) {
            Some(Value::Unsigned(n)) => Some(n),
            _ => None,
        };
        let address = |field| match record.get(field) {
            Some(Value::Address(IpAddr::V6(v6))) => {
                Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
            }
            Some(Value::Address(v4)) => Some(v4),
            _ => None,
        };
        let action = match record.get(Field::Action) {
            Some(Value::Action(action)) => Some(action),
            _ => None,
        };
        let counts = Counts {
            flows: 1,
            packets: unsigned(Field::Packets).unwrap_or(0),
            bytes: unsigned(Field::Bytes).unwrap_or(0),
            rejected: u64::from(action == Some(Action::Reject)),
        };
        let mut key = GroupKey::default();
        for k in &self.keys {
            match k {
                Key::Source => key.source = address(Field::SrcAddr),
                Key::Destination => key.destination = address(Field::DstAddr),
                Key::Dstport => key.dstport = unsigned(Field::DstPort).map(|p| p as u16),
                Key::Protocol => key.protocol = unsigned(Field::Protocol).map(|p| p as u8),
                Key::Action => key.action = action,
                Key::Interface => {
                    key.interface = match record.get(Field::InterfaceId) {
                        Some(Value::Text(eni)) => Some(match self.interfaces.get(eni) {
                            Some(&index) => index,
                            None => {
                                let index = self.interface_names.len() as u32;
                                self.interface_names.push(eni.into());
                                self.interfaces.insert(eni.into(), index);
                                index
                            }
                        }),
                        _ => None,
                    }
                }
            }
        }
        self.matched.add(&counts);
        if let Some(group) = self.groups.get_mut(&key) {
            group.add(&counts);
        } else if self.groups.len() < self.max_groups {
            self.groups.insert(key, counts);
        } else {
            self.other.add(&counts);
        }
        Ok(status)
    }
}

/// One group as printed.
struct Row {
    /// The key's values for a table (`-` when absent).
    cells: Vec<String>,
    /// The key's values for JSON and CSV (`null` when absent).
    values: Vec<Json>,
    counts: Counts,
}

impl Counter {
    /// The groups, largest first by `sort` (ties: more flows first, then by key).
    fn rows(&self, sort: SortBy) -> Vec<Row> {
        let mut rows: Vec<Row> = self
            .groups
            .iter()
            .map(|(key, counts)| {
                let (cells, values) = self.keys.iter().map(|k| self.value(key, *k)).unzip();
                Row {
                    cells,
                    values,
                    counts: *counts,
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.counts
                .get(sort)
                .cmp(&a.counts.get(sort))
                .then(b.counts.flows.cmp(&a.counts.flows))
                .then_with(|| a.cells.cmp(&b.cells))
        });
        rows
    }

    fn value(&self, key: &GroupKey, k: Key) -> (String, Json) {
        let shown = |value: Option<String>, json: Json| match value {
            Some(text) => (text, json),
            None => ("-".to_owned(), Json::Null),
        };
        match k {
            Key::Source => shown(key.source.map(|a| a.to_string()), json!(key.source)),
            Key::Destination => shown(
                key.destination.map(|a| a.to_string()),
                json!(key.destination),
            ),
            Key::Dstport => shown(key.dstport.map(|p| p.to_string()), json!(key.dstport)),
            Key::Interface => {
                let name = key.interface.map(|i| &*self.interface_names[i as usize]);
                shown(name.map(str::to_owned), json!(name))
            }
            Key::Protocol => shown(
                key.protocol.map(|p| {
                    protocol_name(u64::from(p)).map_or_else(|| p.to_string(), str::to_owned)
                }),
                json!(key.protocol),
            ),
            Key::Action => shown(
                key.action.map(|a| a.as_str().to_owned()),
                json!(key.action.map(Action::as_str)),
            ),
        }
    }
}

fn key_name(key: Key) -> &'static str {
    match key {
        Key::Source => "source",
        Key::Destination => "destination",
        Key::Dstport => "dstport",
        Key::Interface => "interface",
        Key::Protocol => "protocol",
        Key::Action => "action",
    }
}

fn sort_name(sort: SortBy) -> &'static str {
    match sort {
        SortBy::Flows => "flows",
        SortBy::Packets => "packets",
        SortBy::Bytes => "bytes",
    }
}

/// `2,265 sources`, `12 destination ports`, `40 groups of source, destination`.
fn groups_noun(keys: &[Key], n: u64) -> String {
    match keys {
        [key] => counted(
            n,
            match key {
                Key::Source => "source",
                Key::Destination => "destination",
                Key::Dstport => "destination port",
                Key::Interface => "interface",
                Key::Protocol => "protocol",
                Key::Action => "action",
            },
        ),
        _ => {
            let names: Vec<_> = keys.iter().map(|k| key_name(*k)).collect();
            format!("{} of {}", counted(n, "group"), names.join(", "))
        }
    }
}

/// Runs `stats`; returns how many inputs failed (each already reported).
pub fn run(args: StatsArgs) -> Result<usize, Error> {
    args.filter.check().map_err(Error::Usage)?;
    if let Some(key) = args
        .by
        .iter()
        .enumerate()
        .find_map(|(i, k)| args.by[..i].contains(k).then_some(k))
    {
        return Err(Error::Usage(format!("--by names {} twice", key_name(*key))));
    }
    let options = args.input.scan_options();
    let mut counter = Counter::new(
        args.by.clone(),
        args.filter.clone(),
        args.max_groups as usize,
    );
    let mut totals = Totals::default();
    let failed = crate::input::for_each(
        &args.input.inputs,
        args.input.read_options(false),
        |name, reader| {
            let scanned = flowlog_parquet::scan_input(reader, &options, &ALL_COLUMNS, &mut counter)
                .map_err(|e| Failure::Input(format!("{name}: {e}")))?;
            totals.add(&scanned);
            Ok(())
        },
    )?;
    for note in counter.missing.notes() {
        eprintln!("flowlogs: note: {note}");
    }
    if totals.objects == 0 {
        return Ok(failed);
    }
    let rows = counter.rows(args.sort);
    let default_top = match args.output {
        Output::Table => Top::N(TABLE_GROUPS),
        Output::Json | Output::Csv => Top::All,
    };
    let shown = args.top.unwrap_or(default_top).limit(rows.len());
    let text = match args.output {
        Output::Table => table(&counter, &rows[..shown], rows.len(), &totals, &args),
        Output::Json => json(&counter, &rows[..shown], rows.len(), &totals, &args),
        Output::Csv => csv(&counter, &rows[..shown]),
    };
    text::print(&text)?;
    Ok(failed)
}

fn table(
    counter: &Counter,
    rows: &[Row],
    total: usize,
    totals: &Totals,
    args: &StatsArgs,
) -> String {
    let mut out = String::new();
    let matched = if args.filter.is_active() {
        format!(
            "{} of {} matched the filters",
            counted(counter.matched.flows, "flow"),
            count(totals.log_status.ok)
        )
    } else {
        counted(counter.matched.flows, "flow")
    };
    let heading = format!(
        "Top {} of {} by {}; {matched} ({}, {})",
        rows.len(),
        groups_noun(&counter.keys, total as u64),
        sort_name(args.sort),
        counted(totals.objects as u64, "object"),
        counted(totals.records, "record"),
    );
    text::wrap(&mut out, "", 2, &styled(HEADING, &heading), text::width());
    if rows.is_empty() {
        return out;
    }
    let mut header: Vec<String> = counter
        .keys
        .iter()
        .map(|k| key_name(*k).to_ascii_uppercase())
        .collect();
    header.extend(["FLOWS", "PACKETS", "BYTES", "REJECTED"].map(String::from));
    let mut lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut cells = row.cells.clone();
            cells.extend(counts_cells(&row.counts));
            cells
        })
        .collect();
    if counter.other.flows > 0 {
        let mut cells = vec!["(other groups)".to_owned()];
        cells.resize(counter.keys.len(), String::new());
        cells.extend(counts_cells(&counter.other));
        lines.push(cells);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let keys = counter.keys.len();
    let render = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if i < keys {
                    format!("{cell:<w$}", w = widths[i])
                } else {
                    format!("{cell:>w$}", w = widths[i])
                }
            })
            .collect();
        parts.join("  ").trim_end().to_owned()
    };
    let _ = writeln!(out, "{}", styled(HEADING, &render(&header)));
    for line in &lines {
        let _ = writeln!(out, "{}", render(line));
    }
    if counter.other.flows > 0 {
        let note = format!(
            "(other groups): the flows of groups beyond --max-groups {}, added up",
            count(counter.max_groups as u64)
        );
        text::wrap(&mut out, "", 2, &styled(text::DIM, &note), text::width());
    }
    out
}

fn counts_cells(counts: &Counts) -> [String; 4] {
    [
        count(counts.flows),
        count(counts.packets),
        count(counts.bytes),
        count(counts.rejected),
    ]
}

/// The `--output json` document.
#[derive(Serialize)]
struct Document<'a> {
    by: Vec<&'static str>,
    sort: &'static str,
    objects: usize,
    records: u64,
    log_status: StatusCounts,
    skipped: &'a BTreeMap<&'static str, u64>,
    /// Every record that passed the filters.
    matched: Counts,
    /// Groups found (`groups` holds the first `--top` of them).
    groups_total: usize,
    groups: Vec<Group<'a>>,
    /// The flows of groups beyond `--max-groups`, added up.
    other_groups: Option<Counts>,
}

/// One group: its keys in the order given, then its counts.
struct Group<'a> {
    keys: &'a [Key],
    row: &'a Row,
}

impl Serialize for Group<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.keys.len() + 4))?;
        for (key, value) in self.keys.iter().zip(&self.row.values) {
            map.serialize_entry(key_name(*key), value)?;
        }
        let c = &self.row.counts;
        map.serialize_entry("flows", &c.flows)?;
        map.serialize_entry("packets", &c.packets)?;
        map.serialize_entry("bytes", &c.bytes)?;
        map.serialize_entry("rejected", &c.rejected)?;
        map.end()
    }
}

fn json(
    counter: &Counter,
    rows: &[Row],
    total: usize,
    totals: &Totals,
    args: &StatsArgs,
) -> String {
    let document = Document {
        by: counter.keys.iter().map(|k| key_name(*k)).collect(),
        sort: sort_name(args.sort),
        objects: totals.objects,
        records: totals.records,
        log_status: totals.log_status,
        skipped: &totals.skipped,
        matched: counter.matched,
        groups_total: total,
        groups: rows
            .iter()
            .map(|row| Group {
                keys: &counter.keys,
                row,
            })
            .collect(),
        other_groups: (counter.other.flows > 0).then_some(counter.other),
    };
    serde_json::to_string_pretty(&document).expect("the document serialises") + "\n"
}

fn csv(counter: &Counter, rows: &[Row]) -> String {
    let mut out = String::new();
    let mut header: Vec<&str> = counter.keys.iter().map(|k| key_name(*k)).collect();
    header.extend(["flows", "packets", "bytes", "rejected"]);
    let _ = writeln!(out, "{}", header.join(","));
    for row in rows {
        let mut cells: Vec<String> = row
            .values
            .iter()
            .map(|v| match v {
                Json::Null => String::new(),
                Json::String(s) => csv_field(s),
                other => other.to_string(),
            })
            .collect();
        let c = row.counts;
        cells.extend([c.flows, c.packets, c.bytes, c.rejected].map(|n| n.to_string()));
        let _ = writeln!(out, "{}", cells.join(","));
    }
    out
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlog_core::ScanOptions;

    const LOG: &str = "\
version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status
2 1 eni-a 203.0.113.7 10.0.1.10 40000 22 6 2 120 1700000000 1700000060 REJECT OK
2 1 eni-a 203.0.113.7 10.0.1.10 40001 22 6 2 120 1700000000 1700000060 REJECT OK
2 1 eni-b 198.51.100.1 10.0.1.10 40002 443 6 10 9000 1700000000 1700000060 ACCEPT OK
2 1 eni-b - - - - - - - 1700000000 1700000060 - NODATA
";

    fn counter(keys: Vec<Key>, filter: FilterArgs) -> Counter {
        let mut counter = Counter::new(keys, filter, 1000);
        flowlog_core::scan(LOG.as_bytes(), &ScanOptions::default(), &mut counter).unwrap();
        counter
    }

    #[test]
    fn groups_add_up_ok_records_per_key() {
        let counter = counter(vec![Key::Source], FilterArgs::default());
        let rows = counter.rows(SortBy::Flows);
        let summary: Vec<_> = rows
            .iter()
            .map(|r| (r.cells[0].as_str(), r.counts.flows, r.counts.rejected))
            .collect();
        assert_eq!(summary, [("203.0.113.7", 2, 2), ("198.51.100.1", 1, 0)]);
        assert_eq!(counter.matched.flows, 3);
        let by_bytes = counter.rows(SortBy::Bytes);
        assert_eq!(by_bytes[0].cells[0], "198.51.100.1");
    }

    #[test]
    fn keys_combine_and_filters_apply() {
        let filter = FilterArgs {
            action: Some(crate::filter::ActionArg::Reject),
            ..FilterArgs::default()
        };
        let counter = counter(vec![Key::Interface, Key::Dstport, Key::Protocol], filter);
        let rows = counter.rows(SortBy::Flows);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].cells, ["eni-a", "22", "tcp"]);
        assert_eq!(rows[0].values, [json!("eni-a"), json!(22), json!(6)]);
    }

    #[test]
    fn groups_beyond_the_cap_are_added_up_as_other() {
        let mut counter = Counter::new(vec![Key::Source], FilterArgs::default(), 1);
        flowlog_core::scan(LOG.as_bytes(), &ScanOptions::default(), &mut counter).unwrap();
        assert_eq!(counter.groups.len(), 1);
        assert_eq!(counter.other.flows, 1);
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("eni-1"), "eni-1");
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
