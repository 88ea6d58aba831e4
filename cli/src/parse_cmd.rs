//! `flowlogs parse`: every record as one JSON object per line.

use std::io::{self, Write};

use flowlog_core::{Format, LogStatus, RecordParser, RecordVisitor, ScanReport, SkipReason, Value};

use crate::Error;
use crate::args::ParseArgs;
use crate::filter::{FilterArgs, MissingFields};
use crate::input::Failure;
use crate::text::count;

/// Writes each record that passes the filter as a JSON object keyed by the AWS field names of
/// its format.
pub struct JsonLines<W: Write> {
    out: W,
    parser: RecordParser,
    format: Option<Format>,
    filter: FilterArgs,
    missing: MissingFields,
    /// The first write error; reading stops mattering once output is gone.
    pub error: Option<io::Error>,
}

impl<W: Write> JsonLines<W> {
    /// A writer over `out`.
    pub fn new(out: W, filter: FilterArgs) -> Self {
        JsonLines {
            out,
            parser: RecordParser::new(),
            format: None,
            filter,
            missing: MissingFields::default(),
            error: None,
        }
    }

    /// Flushes the output.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl<W: Write> RecordVisitor for JsonLines<W> {
    fn begin_format(&mut self, format: &Format) {
        self.missing.check(format, &self.filter.fields());
        self.format = Some(format.clone());
    }

    fn record(&mut self, line: &[u8]) -> Result<LogStatus, SkipReason> {
        let format = self
            .format
            .as_ref()
            .unwrap_or_else(|| unreachable!("format set first"));
        let record = self.parser.parse(format, line)?;
        let status = record.log_status();
        if self.error.is_none() && self.filter.matches(&record) {
            let mut buf = Vec::with_capacity(line.len() * 2);
            buf.push(b'{');
            for (i, (column, value)) in record.values().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                write_json_string(&mut buf, column.name());
                buf.push(b':');
                write_value(&mut buf, value);
            }
            buf.extend_from_slice(b"}\n");
            if let Err(e) = self.out.write_all(&buf) {
                self.error = Some(e);
            }
        }
        Ok(status)
    }
}

fn write_value(buf: &mut Vec<u8>, value: Value<'_>) {
    match value {
        Value::Absent => buf.extend_from_slice(b"null"),
        Value::Unsigned(n) => buf.extend_from_slice(n.to_string().as_bytes()),
        Value::UnixSeconds(t) => buf.extend_from_slice(t.to_string().as_bytes()),
        Value::Address(ip) => write_json_string(buf, &ip.to_string()),
        Value::Action(a) => write_json_string(buf, a.as_str()),
        Value::LogStatus(s) => write_json_string(buf, s.as_str()),
        Value::Text(t) => write_json_string(buf, t),
    }
}

fn write_json_string(buf: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(buf, text).expect("writing to a Vec cannot fail");
}

/// Runs `parse`: every readable input is printed and summed up on standard error, each
/// failing one reported. Returns how many inputs failed.
pub fn run(args: ParseArgs) -> Result<usize, Error> {
    args.filter.check().map_err(Error::Usage)?;
    let options = args.input.scan_options();
    let stdout = io::stdout().lock();
    let mut writer = JsonLines::new(io::BufWriter::with_capacity(1 << 16, stdout), args.filter);
    let mut reports: Vec<(String, ScanReport)> = Vec::new();
    let failed = crate::input::for_each(
        &args.input.inputs,
        args.input.read_options(true),
        |name, reader| {
            let parquet = crate::input::ALL_COLUMNS;
            let result = flowlog_parquet::scan_input(reader, &options, &parquet, &mut writer);
            if let Some(e) = writer.error.take() {
                return Err(Failure::Fatal(output_error(e)));
            }
            let report = result
                .map_err(|e| Failure::Input(format!("{name}: {e}")))?
                .report;
            reports.push((name.to_owned(), report));
            Ok(())
        },
    )?;
    writer.flush().map_err(output_error)?;
    for (name, report) in reports {
        eprintln!(
            "{name}: {} (OK {}, NODATA {}, SKIPDATA {}), {} skipped{}",
            crate::text::counted(report.records, "record"),
            count(report.log_status.ok),
            count(report.log_status.nodata),
            count(report.log_status.skipdata),
            crate::text::counted(report.skipped.total(), "line"),
            skip_samples(&report.skipped),
        );
    }
    for note in writer.missing.notes() {
        eprintln!("flowlogs: note: {note}");
    }
    Ok(failed)
}

/// A closed pipe (`| head`) ends the program quietly with success.
fn output_error(error: io::Error) -> Error {
    if error.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    Error::Output(error.to_string())
}

fn skip_samples(skipped: &flowlog_core::SkipReport) -> String {
    let parts: Vec<_> = skipped
        .samples
        .iter()
        .map(|s| format!("line {}: {}", s.line, s.reason.as_str()))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" [{}]", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_numbers_dash_is_null_and_the_rest_strings() {
        let text = "version srcaddr dstport log-status vpc-id future\n2 10.0.0.1 443 OK - x\"y\n";
        let mut out = Vec::new();
        let mut writer = JsonLines::new(&mut out, FilterArgs::default());
        let options = flowlog_core::ScanOptions::default();
        flowlog_core::scan(text.as_bytes(), &options, &mut writer).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"version\":2,\"srcaddr\":\"10.0.0.1\",\"dstport\":443,\"log-status\":\"OK\",\"vpc-id\":null,\"future\":\"x\\\"y\"}\n"
        );
    }
}
