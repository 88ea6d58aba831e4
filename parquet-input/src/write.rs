//! Flow-log text turned into Parquet as AWS documents its flow-log Parquet files: one column
//! per field of the format, named with `_` for `-` (`log_status`), INT32 for the small numbers
//! (version, ports, protocol, tcp-flags, traffic-path, encryption-status), INT64 for packets,
//! bytes, start and end, UTF-8 strings for the rest; `-` becomes a null; GZIP pages. For test
//! fixtures, samples and `flowlogs generate --parquet`.

use std::io::{Read, Write};
use std::sync::Arc;

use flowlog_core::{FieldKind, Format, LogStatus, RecordVisitor, ScanOptions, SkipReason};
use parquet::basic::{Compression, ConvertedType, GzipLevel, Repetition, Type as Physical};
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

/// How Parquet is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// Rows per row group (the last may have fewer).
    pub rows_per_row_group: usize,
}

impl Default for WriteOptions {
    fn default() -> WriteOptions {
        WriteOptions {
            rows_per_row_group: 100_000,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Rows written.
    pub rows: u64,
    /// Row groups written.
    pub row_groups: usize,
    /// Lines of the text that no typed row can hold (wrong field count, a value that is not a
    /// number of its column's type), left out.
    pub dropped: u64,
}

/// Why no Parquet was written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The text could not be read.
    #[error("reading the flow-log text: {0}")]
    Read(#[from] flowlog_core::ScanError),
    /// Writing failed.
    #[error("writing Parquet: {0}")]
    Write(#[from] parquet::errors::ParquetError),
    /// The text changes its format midway; one Parquet file has one schema.
    #[error("the text changes its format after {records} records; a Parquet file has one schema")]
    FormatChanged {
        /// Records before the new format.
        records: u64,
    },
    /// The text holds no record.
    #[error("the text holds no flow-log record")]
    Empty,
}

/// Writes the records of flow-log `text` (gzip or plain, a header line or `format`) to `out`.
pub fn write_parquet<R, W>(
    text: R,
    format: Option<Format>,
    out: W,
    options: &WriteOptions,
) -> Result<Written, WriteError>
where
    R: Read + Send,
    W: Write + Send,
{
    let mut sink = Sink {
        out: Some(out),
        writer: None,
        columns: Vec::new(),
        options: *options,
        written: Written::default(),
        lines: 0,
        error: None,
    };
    let scan = ScanOptions {
        format,
        ..ScanOptions::default()
    };
    flowlog_core::scan(text, &scan, &mut sink)?;
    if let Some(error) = sink.error.take() {
        return Err(error);
    }
    sink.flush()?;
    let written = sink.written;
    match sink.writer.take() {
        Some(writer) if written.rows > 0 => {
            writer.close()?;
            Ok(written)
        }
        _ => Err(WriteError::Empty),
    }
}

/// One column being filled: its values (nulls left out) and definition levels.
enum Buffer {
    Int32(Vec<i32>, Vec<i16>),
    Int64(Vec<i64>, Vec<i16>),
    Text(Vec<ByteArray>, Vec<i16>),
}

/// A value parsed from its token, before the row is known to fit.
enum Parsed<'a> {
    Null,
    Int32(i32),
    Int64(i64),
    Text(&'a [u8]),
}

/// How a field's values are stored.
fn physical(kind: FieldKind) -> Physical {
    match kind {
        FieldKind::Unsigned { bits } if bits <= 32 => Physical::INT32,
        FieldKind::Unsigned { .. } | FieldKind::UnixSeconds => Physical::INT64,
        _ => Physical::BYTE_ARRAY,
    }
}

fn parse(token: &[u8], kind: Physical) -> Option<Parsed<'_>> {
    if token == b"-" {
        return Some(Parsed::Null);
    }
    let number = || std::str::from_utf8(token).ok();
    match kind {
        Physical::INT32 => number()?
            .parse::<u32>()
            .ok()
            .and_then(|n| i32::try_from(n).ok())
            .map(Parsed::Int32),
        Physical::INT64 => number()?
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Parsed::Int64),
        _ => Some(Parsed::Text(token)),
    }
}

struct Sink<W: Write + Send> {
    out: Option<W>,
    writer: Option<SerializedFileWriter<W>>,
    columns: Vec<(Physical, Buffer)>,
    options: WriteOptions,
    written: Written,
    lines: u64,
    error: Option<WriteError>,
}

impl<W: Write + Send> Sink<W> {
    fn start(&mut self, format: &Format) -> Result<(), WriteError> {
        let fields = format
            .columns()
            .iter()
            .map(|column| {
                let kind = physical(column.kind());
                let name = column.name().replace('-', "_");
                let mut field =
                    Type::primitive_type_builder(&name, kind).with_repetition(Repetition::OPTIONAL);
                if kind == Physical::BYTE_ARRAY {
                    field = field.with_converted_type(ConvertedType::UTF8);
                }
                field.build().map(Arc::new)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let schema = Type::group_type_builder("flow_log")
            .with_fields(fields)
            .build()?;
        let props = WriterProperties::builder()
            .set_compression(Compression::GZIP(GzipLevel::default()))
            .set_created_by(format!("flowlog-parquet {}", env!("CARGO_PKG_VERSION")))
            .build();
        let out = self.out.take().expect("a schema is set once");
        self.writer = Some(SerializedFileWriter::new(
            out,
            Arc::new(schema),
            Arc::new(props),
        )?);
        self.columns = format
            .columns()
            .iter()
            .map(|c| {
                let kind = physical(c.kind());
                let buffer = match kind {
                    Physical::INT32 => Buffer::Int32(Vec::new(), Vec::new()),
                    Physical::INT64 => Buffer::Int64(Vec::new(), Vec::new()),
                    _ => Buffer::Text(Vec::new(), Vec::new()),
                };
                (kind, buffer)
            })
            .collect();
        Ok(())
    }

    fn push(&mut self, line: &[u8]) -> Result<LogStatus, SkipReason> {
        let tokens: Vec<&[u8]> = line
            .split(|&b| b == b' ')
            .filter(|t| !t.is_empty())
            .collect();
        if tokens.len() != self.columns.len() {
            return Err(SkipReason::FieldCount);
        }
        let parsed: Vec<Parsed<'_>> = tokens
            .iter()
            .zip(&self.columns)
            .map(|(token, (kind, _))| parse(token, *kind))
            .collect::<Option<_>>()
            .ok_or(SkipReason::BadNumber)?;
        for (value, (_, buffer)) in parsed.into_iter().zip(&mut self.columns) {
            match (buffer, value) {
                (Buffer::Int32(_, d) | Buffer::Int64(_, d) | Buffer::Text(_, d), Parsed::Null) => {
                    d.push(0)
                }
                (Buffer::Int32(v, d), Parsed::Int32(n)) => {
                    v.push(n);
                    d.push(1);
                }
                (Buffer::Int64(v, d), Parsed::Int64(n)) => {
                    v.push(n);
                    d.push(1);
                }
                (Buffer::Text(v, d), Parsed::Text(t)) => {
                    v.push(ByteArray::from(t.to_vec()));
                    d.push(1);
                }
                _ => unreachable!("values are parsed for their column's type"),
            }
        }
        self.written.rows += 1;
        Ok(LogStatus::Ok)
    }

    /// Writes the buffered rows as one row group.
    fn flush(&mut self) -> Result<(), WriteError> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        let rows = match self.columns.first() {
            Some((_, Buffer::Int32(_, d) | Buffer::Int64(_, d) | Buffer::Text(_, d))) => d.len(),
            None => 0,
        };
        if rows == 0 {
            return Ok(());
        }
        let mut group = writer.next_row_group()?;
        for (_, buffer) in &mut self.columns {
            let mut column = group.next_column()?.expect("one column per field");
            match buffer {
                Buffer::Int32(v, d) => {
                    column.typed::<Int32Type>().write_batch(v, Some(d), None)?;
                    v.clear();
                    d.clear();
                }
                Buffer::Int64(v, d) => {
                    column.typed::<Int64Type>().write_batch(v, Some(d), None)?;
                    v.clear();
                    d.clear();
                }
                Buffer::Text(v, d) => {
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(v, Some(d), None)?;
                    v.clear();
                    d.clear();
                }
            }
            column.close()?;
        }
        group.close()?;
        self.written.row_groups += 1;
        Ok(())
    }
}

impl<W: Write + Send> RecordVisitor for Sink<W> {
    fn begin_format(&mut self, format: &Format) {
        if self.error.is_some() {
            return;
        }
        if self.writer.is_some() {
            self.error = Some(WriteError::FormatChanged {
                records: self.lines,
            });
        } else if let Err(e) = self.start(format) {
            self.error = Some(e);
        }
    }

    fn record(&mut self, line: &[u8]) -> Result<LogStatus, SkipReason> {
        self.lines += 1;
        if self.error.is_some() {
            return Err(SkipReason::FieldCount);
        }
        let status = self.push(line).inspect_err(|_| self.written.dropped += 1)?;
        if self
            .written
            .rows
            .is_multiple_of(self.options.rows_per_row_group.max(1) as u64)
            && let Err(e) = self.flush()
        {
            self.error = Some(e);
        }
        Ok(status)
    }
}
