//! Human-readable output: one way to write counts, sizes, rates and times, styles that
//! `anstream` strips when colour is off, and wrapping at word boundaries.

use std::io::{self, IsTerminal, Write};

use anstyle::{AnsiColor, Style};

/// Headings.
pub const HEADING: Style = Style::new().bold();
/// A `HIGH` finding.
pub const HIGH: Style = AnsiColor::Red.on_default().bold();
/// A `MEDIUM` finding.
pub const MEDIUM: Style = AnsiColor::Yellow.on_default().bold();
/// Rule names and subjects of findings.
pub const EMPHASIS: Style = Style::new().bold();
/// Secondary text (notes, where the JSON is).
pub const DIM: Style = Style::new().dimmed();
/// Nothing found: good news.
pub const GOOD: Style = AnsiColor::Green.on_default();

/// `text` in `style` (the escape codes are removed on output when colour is off).
pub fn styled(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    flowlog_core::thousands(n)
}

/// `n` and the noun, plural unless `n` is 1: `1 minute`, `2 minutes`.
pub fn counted(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", count(n))
    }
}

/// Decimal (SI) units with one decimal: `12.0 B`, `1.5 MB`.
pub fn bytes(value: f64) -> String {
    scaled(value, &["B", "kB", "MB", "GB", "TB", "PB"])
}

/// Bits per second in decimal units: `24.0 kbit/s`.
pub fn bits_per_sec(rate: f64) -> String {
    scaled(rate, &["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"])
}

fn scaled(mut value: f64, units: &[&str]) -> String {
    let mut unit = 0;
    while value >= 999.95 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", units[unit])
}

/// A share as a percentage with one decimal: `12.5%`.
pub fn percent(part: u64, whole: u64) -> String {
    format!("{:.1}%", 100.0 * part as f64 / whole.max(1) as f64)
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_minute(unix: i64) -> String {
    let iso = flowlog_core::utc(unix);
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}

/// The width to wrap human-readable output at: the terminal's (at least 60 columns) when
/// standard output is one, else `COLUMNS` when set, else 120.
pub fn width() -> usize {
    let columns = if io::stdout().is_terminal() {
        console::Term::stdout()
            .size_checked()
            .map(|(_rows, cols)| usize::from(cols))
    } else {
        None
    };
    columns
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        .unwrap_or(120)
        .max(60)
}

/// Appends `text` to `out` as lines of at most `width` columns, breaking only between words;
/// the first line starts with `first`, the others with `indent` spaces. A word longer than a
/// whole line stays in one piece on a line of its own.
pub fn wrap(out: &mut String, first: &str, indent: usize, text: &str, width: usize) {
    let mut line = String::from(first);
    let mut line_width = visible_width(first);
    let mut empty = true;
    for word in text.split_whitespace() {
        let word_width = visible_width(word);
        if !empty && line_width + 1 + word_width > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = " ".repeat(indent);
            line_width = indent;
            empty = true;
        }
        if !empty {
            line.push(' ');
            line_width += 1;
        }
        line.push_str(word);
        line_width += word_width;
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// Columns `text` takes on a terminal: characters outside ANSI escape sequences.
pub fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte (0x40..=0x7e).
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            width += 1;
        }
    }
    width
}

/// Writes `text` to standard output, colour stripped unless it is wanted (`--color`,
/// `NO_COLOR`, a terminal). A closed pipe (`| head`) ends the program quietly with success.
pub fn print(text: &str) -> Result<(), crate::Error> {
    let mut out = anstream::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(crate::Error::Output(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(counted(1, "minute"), "1 minute");
        assert_eq!(counted(1200, "record"), "1,200 records");
    }

    #[test]
    fn unix_times_print_as_utc_minutes() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(1_700_000_040), "2023-11-14 22:14 UTC");
        assert_eq!(utc_minute(951_782_400), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn sizes_and_rates_use_decimal_units_with_one_decimal() {
        assert_eq!(bytes(12.0), "12.0 B");
        assert_eq!(bytes(999.96), "1.0 kB");
        assert_eq!(bytes(1_500_000.0), "1.5 MB");
        assert_eq!(bits_per_sec(24_000.0), "24.0 kbit/s");
        assert_eq!(percent(1, 8), "12.5%");
        assert_eq!(percent(0, 0), "0.0%");
    }

    #[test]
    fn wrapping_breaks_between_words_with_a_hanging_indent() {
        let mut out = String::new();
        wrap(&mut out, "  note: ", 4, "one two three four five six", 20);
        assert_eq!(out, "  note: one two\n    three four five\n    six\n");
        let mut out = String::new();
        wrap(&mut out, "", 2, "a-very-long-unbreakable-word b", 10);
        assert_eq!(out, "a-very-long-unbreakable-word\n  b\n");
    }

    #[test]
    fn escape_codes_take_no_columns() {
        assert_eq!(visible_width(&styled(HIGH, "HIGH")), 4);
        let mut out = String::new();
        wrap(
            &mut out,
            &format!("{} ", styled(HIGH, "HIGH")),
            2,
            "ab cd",
            8,
        );
        assert_eq!(visible_width(out.lines().next().unwrap()), 7);
    }
}
