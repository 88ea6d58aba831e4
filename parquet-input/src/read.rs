//! Reading a Parquet flow log into a [`RecordVisitor`], one row group at a time.
//!
//! Each row is rendered, in the schema's column order, into one reused line buffer as the text
//! record it stands for (`-` for a null), and handed to the visitor after the format from the
//! column names ([`RecordVisitor::begin_format`]): aggregation and detection are literally the
//! ones text objects go through, skip reasons included. Rendering costs one text parse per row
//! (`benches/render.rs` measures it); it is kept so that Parquet and text can never disagree.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use flowlog_core::{
    Column, Field, Format, LogStatus, RecordVisitor, ScanOptions, ScanReport, SkipReason,
};
use parquet::basic::{Compression, Type as Physical};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl, get_column_reader};
use parquet::data_type::{
    BoolType, ByteArray, ByteArrayType, DataType, FixedLenByteArrayType, Int32Type, Int64Type,
};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::reader::ChunkReader;
use parquet::file::serialized_reader::SerializedPageReader;

use crate::error::{ParquetErrorKind, ParquetScanError};
use crate::ranges::coalesce;

/// The four bytes every Parquet file starts and ends with.
pub const MAGIC: &[u8; 4] = b"PAR1";

/// How much of an object's end to read first: the footer of a flow-log object (schema and
/// column chunk locations) is a few KiB per row group.
pub const FOOTER_GUESS: u64 = 64 << 10;

/// Column chunks less than this far apart are fetched in one range read.
pub const COALESCE_GAP: u64 = 64 << 10;

/// Rows decoded from every column before they are rendered.
const BATCH_ROWS: usize = 4096;

/// The fields [`flowlog_core::Aggregator`] reads (its columns, `shared/src/aggregate.rs`); the
/// others are never fetched. The equivalence tests (a text object and its Parquet twin give
/// the same aggregate) fail if the core starts reading another field.
pub const AGGREGATION_FIELDS: &[Field] = &[
    Field::LogStatus,
    Field::InterfaceId,
    Field::SrcAddr,
    Field::PktSrcAddr,
    Field::DstAddr,
    Field::PktDstAddr,
    Field::SrcPort,
    Field::DstPort,
    Field::Protocol,
    Field::Packets,
    Field::Bytes,
    Field::Start,
    Field::End,
    Field::Action,
    Field::TcpFlags,
    Field::FlowDirection,
];

/// Whether `head` (the first bytes of an object) starts a Parquet file.
pub fn is_parquet(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// Which columns are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Columns {
    /// Those the aggregation reads ([`AGGREGATION_FIELDS`]).
    Aggregation,
    /// Every column with a field-like name (for printing records whole).
    All,
}

/// How Parquet objects are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetOptions {
    /// Which columns.
    pub columns: Columns,
    /// The most memory one row group's columns read may take (compressed or uncompressed,
    /// whichever is larger); a larger row group fails the object. Also caps the footer.
    pub max_row_group_bytes: u64,
}

/// Default [`ParquetOptions::max_row_group_bytes`]: 128 MiB.
pub const DEFAULT_MAX_ROW_GROUP_BYTES: u64 = 128 << 20;

impl Default for ParquetOptions {
    fn default() -> ParquetOptions {
        ParquetOptions {
            columns: Columns::Aggregation,
            max_row_group_bytes: DEFAULT_MAX_ROW_GROUP_BYTES,
        }
    }
}

/// What the end of an object gave.
#[derive(Debug)]
pub enum Footer {
    /// The file's metadata.
    Metadata(Box<ParquetMetaData>),
    /// The footer is longer: read this many bytes from the end of the object and try again.
    NeedTail(u64),
}

/// Parses the footer from `tail`, the last bytes of an object of `len` bytes.
pub fn parse_footer(
    tail: &Bytes,
    len: u64,
    options: &ParquetOptions,
) -> Result<Footer, ParquetErrorKind> {
    if !tail.ends_with(MAGIC) {
        return Err(ParquetErrorKind::NotParquet(
            "it does not end with PAR1 (truncated, or not Parquet)".into(),
        ));
    }
    let mut reader = ParquetMetaDataReader::new();
    match reader.try_parse_sized(tail, len) {
        Ok(()) => Ok(Footer::Metadata(Box::new(reader.finish()?))),
        Err(ParquetError::NeedMoreData(needed)) => {
            let needed = needed as u64;
            if needed > options.max_row_group_bytes {
                return Err(ParquetErrorKind::FooterTooLarge {
                    bytes: needed,
                    budget: options.max_row_group_bytes,
                });
            }
            Ok(Footer::NeedTail(needed))
        }
        Err(e) => Err(e.into()),
    }
}

/// A column read.
#[derive(Debug, Clone)]
struct Selected {
    leaf: usize,
    name: String,
    max_def: i16,
}

/// A Parquet flow log's columns to read and the format their rows render in.
#[derive(Debug)]
pub struct Layout {
    metadata: ParquetMetaData,
    selected: Vec<Selected>,
    format: Format,
    budget: u64,
}

impl Layout {
    /// The columns of `metadata` that `options` asks for, checked: known types, not repeated,
    /// at least one flow-log field.
    pub fn new(
        metadata: ParquetMetaData,
        options: &ParquetOptions,
    ) -> Result<Layout, ParquetErrorKind> {
        let schema = metadata.file_metadata().schema_descr_ptr();
        let leaves = schema.columns();
        let wanted = |name: &str| match options.columns {
            Columns::Aggregation => matches!(
                Column::from_name(name),
                Column::Known(field) if AGGREGATION_FIELDS.contains(&field)
            ),
            Columns::All => Format::from_names([name]).is_ok(),
        };
        let mut chosen: Vec<usize> = (0..leaves.len())
            .filter(|&leaf| wanted(leaves[leaf].name()))
            .collect();
        if chosen.is_empty() {
            // A flow log without any column the aggregation reads still has rows to count.
            chosen.extend(
                leaves
                    .iter()
                    .position(|c| matches!(Column::from_name(c.name()), Column::Known(_))),
            );
        }
        if chosen.is_empty() {
            let names: Vec<&str> = leaves.iter().take(6).map(|c| c.name()).collect();
            return Err(ParquetErrorKind::NotFlowLog {
                columns: names.join(", "),
            });
        }
        let mut selected = Vec::with_capacity(chosen.len());
        for leaf in chosen {
            let column = &leaves[leaf];
            let name = column.name();
            if column.max_rep_level() > 0 {
                return Err(ParquetErrorKind::UnsupportedColumn {
                    column: name.into(),
                    kind: "a repeated column".into(),
                });
            }
            let kind = column.physical_type();
            if !matches!(
                kind,
                Physical::BOOLEAN
                    | Physical::INT32
                    | Physical::INT64
                    | Physical::BYTE_ARRAY
                    | Physical::FIXED_LEN_BYTE_ARRAY
            ) {
                return Err(ParquetErrorKind::UnsupportedColumn {
                    column: name.into(),
                    kind: kind.to_string(),
                });
            }
            selected.push(Selected {
                leaf,
                name: name.to_owned(),
                max_def: column.max_def_level(),
            });
        }
        let format = Format::from_names(selected.iter().map(|s| s.name.as_str()))
            .map_err(|e| ParquetErrorKind::Corrupt(format!("schema: {e}")))?;
        Ok(Layout {
            metadata,
            selected,
            format,
            budget: options.max_row_group_bytes,
        })
    }

    /// The format the rows render in: the columns read, in schema order.
    pub fn format(&self) -> &Format {
        &self.format
    }

    /// Row groups in the file.
    pub fn row_groups(&self) -> usize {
        self.metadata.num_row_groups()
    }

    /// The byte ranges of row group `index`'s columns read, close ones merged, once its size
    /// is within the budget and its codecs are readable.
    pub fn chunk_ranges(&self, index: usize) -> Result<Vec<Range<u64>>, ParquetErrorKind> {
        let row_group = self.metadata.row_group(index);
        let (mut compressed, mut uncompressed) = (0u64, 0u64);
        let mut ranges = Vec::with_capacity(self.selected.len());
        for s in &self.selected {
            let chunk = row_group.column(s.leaf);
            if !matches!(
                chunk.compression(),
                Compression::UNCOMPRESSED | Compression::GZIP(_)
            ) {
                return Err(ParquetErrorKind::UnsupportedCodec {
                    column: s.name.clone(),
                    codec: chunk.compression().to_string(),
                });
            }
            let (start, len) = chunk.byte_range();
            compressed += len;
            uncompressed += u64::try_from(chunk.uncompressed_size()).unwrap_or(u64::MAX);
            ranges.push(start..start.saturating_add(len));
        }
        let bytes = compressed.max(uncompressed);
        if bytes > self.budget {
            return Err(ParquetErrorKind::RowGroupTooLarge {
                row_group: index,
                bytes,
                budget: self.budget,
            });
        }
        Ok(coalesce(ranges, COALESCE_GAP))
    }

    /// Reads row group `index` from `source` (which holds at least its [`Layout::chunk_ranges`])
    /// into `visitor`, counting into `report` as the text scanner counts lines: each row is a
    /// line, numbered from 1 over the whole object.
    pub fn read_row_group<R, V>(
        &self,
        index: usize,
        source: &Arc<R>,
        scan: &ScanOptions,
        visitor: &mut V,
        report: &mut ScanReport,
    ) -> Result<(), ParquetErrorKind>
    where
        R: ChunkReader + 'static,
        V: RecordVisitor + ?Sized,
    {
        let row_group = self.metadata.row_group(index);
        let rows = usize::try_from(row_group.num_rows()).map_err(|_| {
            ParquetErrorKind::Corrupt(format!("row group {index} has a negative row count"))
        })?;
        let schema = self.metadata.file_metadata().schema_descr();
        let mut cursors = Vec::with_capacity(self.selected.len());
        for s in &self.selected {
            let chunk = row_group.column(s.leaf);
            let pages = SerializedPageReader::new(Arc::clone(source), chunk, rows, None)?;
            let reader = get_column_reader(schema.column(s.leaf), Box::new(pages));
            cursors.push(Cursor::new(reader, s.max_def));
            report.inflated_bytes += u64::try_from(chunk.uncompressed_size()).unwrap_or(0);
        }
        let mut line = Vec::with_capacity(256);
        let mut done = 0;
        while done < rows {
            if scan
                .deadline
                .is_some_and(|d| std::time::Instant::now() >= d)
            {
                return Err(ParquetErrorKind::Deadline);
            }
            let batch = BATCH_ROWS.min(rows - done);
            for (cursor, s) in cursors.iter_mut().zip(&self.selected) {
                let got = cursor.fill(batch)?;
                if got != batch {
                    return Err(ParquetErrorKind::Corrupt(format!(
                        "column {:?} of row group {index} ends after {} of its {rows} rows",
                        s.name,
                        done + got
                    )));
                }
            }
            for row in 0..batch {
                line.clear();
                for (i, cursor) in cursors.iter_mut().enumerate() {
                    if i > 0 {
                        line.push(b' ');
                    }
                    cursor.render(row, &mut line);
                }
                visit(&line, scan, visitor, report);
            }
            done += batch;
        }
        Ok(())
    }
}

/// One rendered row, as the text scanner handles a record line.
fn visit<V: RecordVisitor + ?Sized>(
    line: &[u8],
    scan: &ScanOptions,
    visitor: &mut V,
    report: &mut ScanReport,
) {
    report.lines += 1;
    let number = report.lines;
    if line.len() > scan.max_line_bytes {
        report.skipped.add(number, SkipReason::LineTooLong, line);
        return;
    }
    if !line.is_ascii() && std::str::from_utf8(line).is_err() {
        report.skipped.add(number, SkipReason::InvalidUtf8, line);
        return;
    }
    match visitor.record(line) {
        Ok(status) => {
            report.records += 1;
            match status {
                LogStatus::Ok => report.log_status.ok += 1,
                LogStatus::NoData => report.log_status.nodata += 1,
                LogStatus::SkipData => report.log_status.skipdata += 1,
            }
        }
        Err(reason) => report.skipped.add(number, reason, line),
    }
}

/// A column's decoded values of one batch: dense (nulls have no value, only a definition level
/// below the column's maximum).
enum Values {
    Bool(ColumnReaderImpl<BoolType>, Vec<bool>),
    Int32(ColumnReaderImpl<Int32Type>, Vec<i32>),
    Int64(ColumnReaderImpl<Int64Type>, Vec<i64>),
    Bytes(ColumnReaderImpl<ByteArrayType>, Vec<ByteArray>),
    Fixed(
        ColumnReaderImpl<FixedLenByteArrayType>,
        Vec<<FixedLenByteArrayType as DataType>::T>,
    ),
}

struct Cursor {
    values: Values,
    defs: Vec<i16>,
    max_def: i16,
    next: usize,
}

impl Cursor {
    fn new(reader: ColumnReader, max_def: i16) -> Cursor {
        let values = match reader {
            ColumnReader::BoolColumnReader(r) => Values::Bool(r, Vec::new()),
            ColumnReader::Int32ColumnReader(r) => Values::Int32(r, Vec::new()),
            ColumnReader::Int64ColumnReader(r) => Values::Int64(r, Vec::new()),
            ColumnReader::ByteArrayColumnReader(r) => Values::Bytes(r, Vec::new()),
            ColumnReader::FixedLenByteArrayColumnReader(r) => Values::Fixed(r, Vec::new()),
            // Layout::new admits no other physical type.
            ColumnReader::Int96ColumnReader(_)
            | ColumnReader::FloatColumnReader(_)
            | ColumnReader::DoubleColumnReader(_) => unreachable!("refused by Layout::new"),
        };
        Cursor {
            values,
            defs: Vec::with_capacity(BATCH_ROWS),
            max_def,
            next: 0,
        }
    }

    /// Decodes the next `rows` rows; returns how many there were.
    fn fill(&mut self, rows: usize) -> parquet::errors::Result<usize> {
        self.defs.clear();
        self.next = 0;
        let defs = (self.max_def > 0).then_some(&mut self.defs);
        let (records, _, _) = match &mut self.values {
            Values::Bool(r, v) => {
                v.clear();
                r.read_records(rows, defs, None, v)?
            }
            Values::Int32(r, v) => {
                v.clear();
                r.read_records(rows, defs, None, v)?
            }
            Values::Int64(r, v) => {
                v.clear();
                r.read_records(rows, defs, None, v)?
            }
            Values::Bytes(r, v) => {
                v.clear();
                r.read_records(rows, defs, None, v)?
            }
            Values::Fixed(r, v) => {
                v.clear();
                r.read_records(rows, defs, None, v)?
            }
        };
        Ok(records)
    }

    /// Appends row `row` of the batch (rows are rendered in order) as text.
    fn render(&mut self, row: usize, line: &mut Vec<u8>) {
        if self.max_def > 0 && self.defs[row] < self.max_def {
            line.push(b'-');
            return;
        }
        let at = self.next;
        self.next += 1;
        let mut digits = itoa::Buffer::new();
        let text: &[u8] = match &self.values {
            Values::Bool(_, v) => {
                if v[at] {
                    b"true"
                } else {
                    b"false"
                }
            }
            Values::Int32(_, v) => digits.format(v[at]).as_bytes(),
            Values::Int64(_, v) => digits.format(v[at]).as_bytes(),
            Values::Bytes(_, v) => v[at].data(),
            Values::Fixed(_, v) => v[at].data(),
        };
        // An empty string is no value, as `-` is in text (and keeps the columns apart).
        line.extend_from_slice(if text.is_empty() { b"-" } else { text });
    }
}

/// Reads a whole Parquet object held by `source` (`len` bytes) into `visitor`.
pub fn scan_parquet<R, V>(
    source: Arc<R>,
    scan: &ScanOptions,
    options: &ParquetOptions,
    visitor: &mut V,
) -> Result<ScanReport, ParquetScanError>
where
    R: ChunkReader + 'static,
    V: RecordVisitor + ?Sized,
{
    let mut report = ScanReport {
        input_bytes: source.len(),
        ..ScanReport::default()
    };
    match read_all(&source, scan, options, visitor, &mut report) {
        Ok(()) => Ok(report),
        Err(kind) => Err(ParquetScanError {
            kind,
            partial: Box::new(report),
        }),
    }
}

fn read_all<R, V>(
    source: &Arc<R>,
    scan: &ScanOptions,
    options: &ParquetOptions,
    visitor: &mut V,
    report: &mut ScanReport,
) -> Result<(), ParquetErrorKind>
where
    R: ChunkReader + 'static,
    V: RecordVisitor + ?Sized,
{
    let len = source.len();
    if len < 12 {
        return Err(ParquetErrorKind::NotParquet(format!(
            "{len} bytes is too short"
        )));
    }
    let mut tail_len = FOOTER_GUESS.min(len);
    let metadata = loop {
        let tail = source.get_bytes(len - tail_len, tail_len as usize)?;
        match parse_footer(&tail, len, options)? {
            Footer::Metadata(metadata) => break metadata,
            Footer::NeedTail(needed) if needed > tail_len => tail_len = needed,
            Footer::NeedTail(_) => {
                return Err(ParquetErrorKind::Corrupt(
                    "the footer does not decode".into(),
                ));
            }
        }
    };
    let layout = Layout::new(*metadata, options)?;
    visitor.begin_format(layout.format());
    for index in 0..layout.row_groups() {
        layout.chunk_ranges(index)?;
        layout.read_row_group(index, source, scan, visitor, report)?;
    }
    visitor.end();
    Ok(())
}
