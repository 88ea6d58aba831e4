//! Line framing: splits the chunks of a scan into lines, tells headers, blank and overlong
//! lines from records, and hands each record line to the visitor.

use super::{RecordVisitor, ScanErrorKind, ScanOptions, ScanReport};
use crate::format::Format;
use crate::skip::{SkipReason, SkipReport};

/// Data lines read without any record and without a header before giving up on an object.
const GIVE_UP_AFTER_LINES: u64 = 1000;

/// Splits chunks into lines, classifies them and feeds records to the visitor.
pub(super) struct Lines<'v, V: ?Sized> {
    pub(super) visitor: &'v mut V,
    configured: Option<Format>,
    max_line: usize,
    /// The format in effect, once the first line has been seen.
    format: Option<Format>,
    has_header: bool,
    carry: Vec<u8>,
    /// The carried line outgrew `max_line`: keep only its start and drop the rest.
    overlong: bool,
    /// Set when the object has shown neither a header nor a record for too long.
    foreign: bool,
    pub(super) report: ScanReport,
}

impl<'v, V: RecordVisitor + ?Sized> Lines<'v, V> {
    pub(super) fn new(options: &ScanOptions, visitor: &'v mut V) -> Self {
        Lines {
            visitor,
            configured: options.format.clone(),
            max_line: options.max_line_bytes.max(1),
            format: None,
            has_header: false,
            carry: Vec::new(),
            overlong: false,
            foreign: false,
            report: ScanReport::default(),
        }
    }

    pub(super) fn feed(&mut self, mut chunk: &[u8]) -> Result<(), ScanErrorKind> {
        if !self.carry.is_empty() || self.overlong {
            let Some(end) = memchr::memchr(b'\n', chunk) else {
                self.extend_carry(chunk);
                return Ok(());
            };
            self.extend_carry(&chunk[..end]);
            let carry = std::mem::take(&mut self.carry);
            let overlong = std::mem::replace(&mut self.overlong, false);
            self.line(&carry, overlong);
            self.carry = carry;
            self.carry.clear();
            chunk = &chunk[end + 1..];
        }
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            if self.foreign {
                break;
            }
            let line = &chunk[start..end];
            self.line(line, line.len() > self.max_line);
            start = end + 1;
        }
        if self.foreign {
            return Err(self.foreign());
        }
        self.extend_carry(&chunk[start..]);
        Ok(())
    }

    pub(super) fn finish(&mut self) -> Result<(), ScanErrorKind> {
        if !self.carry.is_empty() || self.overlong {
            let carry = std::mem::take(&mut self.carry);
            let overlong = self.overlong;
            self.line(&carry, overlong);
        }
        if self.foreign {
            return Err(self.foreign());
        }
        let malformed = self.report.skipped.total()
            - self
                .report
                .skipped
                .counts
                .get(&SkipReason::BlankLine)
                .copied()
                .unwrap_or(0);
        if !self.has_header && self.report.records == 0 && malformed > 0 {
            return Err(self.foreign());
        }
        Ok(())
    }

    fn extend_carry(&mut self, bytes: &[u8]) {
        if self.overlong {
            return;
        }
        if self.carry.len() + bytes.len() > self.max_line {
            // Keep the start of the line for the skip sample, drop the rest.
            let keep = SkipReport::EXCERPT_BYTES.saturating_sub(self.carry.len());
            self.carry
                .extend_from_slice(&bytes[..bytes.len().min(keep)]);
            self.carry.truncate(SkipReport::EXCERPT_BYTES);
            self.overlong = true;
        } else {
            self.carry.extend_from_slice(bytes);
        }
    }

    fn foreign(&self) -> ScanErrorKind {
        let first = self
            .report
            .skipped
            .samples
            .iter()
            .find(|s| s.reason != SkipReason::BlankLine)
            .map(|s| format!("line {} ({})", s.line, s.reason.as_str()))
            .unwrap_or_else(|| "no line".into());
        ScanErrorKind::NotFlowLog(format!(
            "no header line and no valid record in the first {} lines; first bad: {first}",
            self.report.lines
        ))
    }

    fn line(&mut self, raw: &[u8], overlong: bool) {
        self.classify(raw, overlong);
        // Give up on an object that has shown neither a header nor one record for too long.
        self.foreign = !self.has_header
            && self.report.records == 0
            && self.report.lines >= GIVE_UP_AFTER_LINES;
    }

    fn classify(&mut self, raw: &[u8], overlong: bool) {
        self.report.lines += 1;
        let number = self.report.lines;
        if overlong {
            self.report
                .skipped
                .add(number, SkipReason::LineTooLong, raw);
            return;
        }
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(|&b| b == b' ') {
            self.report.skipped.add(number, SkipReason::BlankLine, line);
            return;
        }
        let first = line.iter().find(|&&b| b != b' ').copied().unwrap_or(b' ');
        if first.is_ascii_lowercase()
            && let Some(header) = Format::from_header_line(line)
        {
            self.report.header_lines += 1;
            self.has_header = true;
            if self.format.as_ref() != Some(&header) {
                self.visitor.begin_format(&header);
                self.format = Some(header);
            }
            return;
        }
        if self.format.is_none() {
            let format = self.configured.clone().unwrap_or_else(Format::default_v2);
            self.visitor.begin_format(&format);
            self.format = Some(format);
        }
        if !line.is_ascii() && std::str::from_utf8(line).is_err() {
            self.report
                .skipped
                .add(number, SkipReason::InvalidUtf8, line);
            return;
        }
        match self.visitor.record(line) {
            Ok(status) => {
                self.report.records += 1;
                self.report.log_status.add(status);
            }
            Err(reason) => self.report.skipped.add(number, reason, line),
        }
    }
}
