//! Progress on standard error, only when it is a terminal: bytes read or written with percent
//! and time left when the total is known, a spinner with what is going on when it is not.

use std::io::{self, IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Under `--progress auto`, work that ends sooner than this draws nothing (no flash of a bar).
const REVEAL_AFTER: Duration = Duration::from_millis(400);

/// `--progress`: when to draw progress (only ever on a terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum When {
    Auto,
    Always,
    Never,
}

static WHEN: OnceLock<When> = OnceLock::new();

impl When {
    /// Makes every progress line follow the choice.
    pub fn apply(self) {
        let _ = WHEN.set(self);
    }
}

/// How a progress line appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// Not at all.
    Never,
    /// Once the work has taken a moment.
    Soon,
    /// At once.
    Now,
}

/// How to show progress: on a terminal (standard error), unless standard output is that
/// terminal too while the command writes to it as it goes, and as `--progress` says.
pub fn wanted(streams_stdout: bool) -> Show {
    if !io::stderr().is_terminal() || (streams_stdout && io::stdout().is_terminal()) {
        return Show::Never;
    }
    match WHEN.get().copied().unwrap_or(When::Auto) {
        When::Auto => Show::Soon,
        When::Always => Show::Now,
        When::Never => Show::Never,
    }
}

/// A progress line; does nothing when standard error is not a terminal.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
    /// When a hidden bar starts drawing, if it is to be shown.
    reveal: Option<Arc<Reveal>>,
}

struct Reveal {
    at: Instant,
    done: AtomicBool,
}

impl Progress {
    /// A bar over `total` bytes, or a spinner counting bytes when the total is unknown.
    pub fn bytes(total: Option<u64>, show: Show) -> Progress {
        let template = match total {
            Some(_) => "{msg} {wide_bar} {percent:>3}% {done}/{total} {rate} {eta} left",
            None => "{spinner} {msg} {done} {rate} {elapsed}",
        };
        Progress::new(total, show, template)
    }

    /// A spinner saying what is going on.
    pub fn spinner(message: impl Into<String>, show: Show) -> Progress {
        let progress = Progress::new(None, show, "{spinner} {msg} {elapsed}");
        progress.set_message(message);
        progress
    }

    fn new(total: Option<u64>, show: Show, template: &str) -> Progress {
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden())
            .with_style(style(template));
        let at = match show {
            Show::Never => None,
            Show::Soon => Some(Instant::now() + REVEAL_AFTER),
            Show::Now => Some(Instant::now()),
        };
        let reveal = at.map(|at| {
            Arc::new(Reveal {
                at,
                done: AtomicBool::new(false),
            })
        });
        let progress = Progress { bar, reveal };
        progress.reveal_when_due();
        progress
    }

    /// What is being worked on.
    pub fn set_message(&self, message: impl Into<String>) {
        self.bar.set_message(message.into());
        self.reveal_when_due();
    }

    fn reveal_when_due(&self) {
        if let Some(reveal) = &self.reveal
            && !reveal.done.load(Ordering::Relaxed)
            && Instant::now() >= reveal.at
            && !reveal.done.swap(true, Ordering::Relaxed)
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.bar.enable_steady_tick(Duration::from_millis(200));
        }
    }

    /// Counts `n` more bytes; a total that was an estimate grows to stay ahead.
    pub fn advance(&self, n: u64) {
        self.bar.inc(n);
        self.reveal_when_due();
        if let Some(total) = self.bar.length()
            && self.bar.position() > total
        {
            self.bar.set_length(self.bar.position());
        }
    }

    /// Prints a line above the progress line (messages must not garble it).
    pub fn println(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    /// Removes the progress line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// `reader`, counting what is read from it.
    pub fn reader<R: Read>(&self, reader: R) -> Counted<R> {
        Counted {
            inner: reader,
            progress: self.clone(),
        }
    }

    /// `writer`, counting what is written to it.
    pub fn writer<W: Write>(&self, writer: W) -> Counted<W> {
        Counted {
            inner: writer,
            progress: self.clone(),
        }
    }
}

/// A reader or writer that advances a [`Progress`] by the bytes passing through it.
pub struct Counted<T> {
    inner: T,
    progress: Progress,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A template with `{done}`, `{total}` and `{rate}` in the units of the rest of the output.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("the templates are valid")
        .with_key("done", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&crate::text::bytes(s.pos() as f64));
        })
        .with_key("total", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&crate::text::bytes(s.len().unwrap_or(0) as f64));
        })
        .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}/s", crate::text::bytes(s.per_sec()));
        })
}
