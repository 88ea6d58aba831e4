//! `flowlogs parse`: every record as one JSON object per line.

use std::io::{self, Write};

use flowlog_core::{
    Format, LogStatus, RecordParser, RecordVisitor, ScanOptions, ScanReport, SkipReason, Value,
};

/// Writes each record as a JSON object keyed by the AWS field names of its format.
pub struct JsonLines<W: Write> {
    out: W,
    parser: RecordParser,
    format: Option<Format>,
    /// The first write error; reading stops mattering once output is gone.
    pub error: Option<io::Error>,
}

impl<W: Write> JsonLines<W> {
    /// A writer over `out`.
    pub fn new(out: W) -> Self {
        JsonLines {
            out,
            parser: RecordParser::new(),
            format: None,
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
        self.format = Some(format.clone());
    }

    fn record(&mut self, line: &[u8]) -> Result<LogStatus, SkipReason> {
        let format = self
            .format
            .as_ref()
            .unwrap_or_else(|| unreachable!("format set first"));
        let record = self.parser.parse(format, line)?;
        let status = record.log_status();
        if self.error.is_none() {
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

/// Runs `parse` over the inputs: every readable input is printed, each failing one reported
/// on standard error. Returns the reports per input and how many inputs failed.
pub fn run(
    files: &[String],
    options: &ScanOptions,
) -> Result<(Vec<(String, ScanReport)>, usize), String> {
    let stdout = io::stdout().lock();
    let mut writer = JsonLines::new(io::BufWriter::with_capacity(1 << 16, stdout));
    let mut reports = Vec::new();
    let mut failed = 0;
    for name in crate::input::names(files) {
        let result = crate::input::Input::open(&name).and_then(|input| {
            let label = input.name.clone();
            flowlog_core::scan(input.into_reader(), options, &mut writer)
                .map(|report| (label.clone(), report))
                .map_err(|e| format!("{label}: {e}"))
        });
        if let Some(e) = writer.error.take() {
            return broken_pipe_or(e);
        }
        match result {
            Ok(report) => reports.push(report),
            Err(message) => {
                failed += 1;
                crate::report_failure(&message);
            }
        }
    }
    if let Err(e) = writer.flush() {
        return broken_pipe_or(e);
    }
    Ok((reports, failed))
}

fn broken_pipe_or<T>(error: io::Error) -> Result<T, String> {
    if error.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    Err(format!("writing output: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_numbers_dash_is_null_and_the_rest_strings() {
        let text = "version srcaddr dstport log-status vpc-id future\n2 10.0.0.1 443 OK - x\"y\n";
        let mut out = Vec::new();
        let mut writer = JsonLines::new(&mut out);
        flowlog_core::scan(text.as_bytes(), &ScanOptions::default(), &mut writer).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"version\":2,\"srcaddr\":\"10.0.0.1\",\"dstport\":443,\"log-status\":\"OK\",\"vpc-id\":null,\"future\":\"x\\\"y\"}\n"
        );
    }
}
