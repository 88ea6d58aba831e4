//! Opening the inputs named on the command line, with a progress line for big ones.

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::time::{Duration, Instant};

/// One input: a file, or standard input for `-`.
pub struct Input {
    /// How the input is named in messages.
    pub name: String,
    reader: Box<dyn Read + Send>,
}

impl Input {
    /// Opens `path` (`-` is standard input), with a clear error naming the file.
    pub fn open(path: &str) -> Result<Input, String> {
        if path == "-" {
            return Ok(Input::wrap("<stdin>".into(), Box::new(io::stdin())));
        }
        let file = File::open(path).map_err(|e| format!("{path}: cannot open: {e}"))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(format!("{path}: is a directory"));
        }
        Ok(Input::wrap(path.into(), Box::new(file)))
    }

    fn wrap(name: String, reader: Box<dyn Read + Send>) -> Input {
        let reader: Box<dyn Read + Send> = if io::stderr().is_terminal() {
            Box::new(Progress::new(name.clone(), reader))
        } else {
            reader
        };
        Input { name, reader }
    }

    /// The input's bytes.
    pub fn into_reader(self) -> Box<dyn Read + Send> {
        self.reader
    }
}

/// The inputs to read: the named files, or standard input when none are named.
pub fn names(files: &[String]) -> Vec<String> {
    if files.is_empty() {
        vec!["-".into()]
    } else {
        files.to_vec()
    }
}

/// Prints how much of a big input has been read, at most twice a second, on a terminal.
struct Progress {
    name: String,
    inner: Box<dyn Read + Send>,
    bytes: u64,
    started: Instant,
    last: Instant,
    shown: bool,
}

impl Progress {
    const EVERY: Duration = Duration::from_millis(500);

    fn new(name: String, inner: Box<dyn Read + Send>) -> Progress {
        let now = Instant::now();
        Progress {
            name,
            inner,
            bytes: 0,
            started: now,
            last: now,
            shown: false,
        }
    }
}

impl Read for Progress {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        let now = Instant::now();
        if n > 0 && now.duration_since(self.last) >= Self::EVERY {
            self.last = now;
            self.shown = true;
            let secs = now.duration_since(self.started).as_secs_f64();
            let mib = self.bytes as f64 / (1 << 20) as f64;
            eprint!(
                "\r{}: {mib:.1} MiB read ({:.1} MiB/s)  ",
                self.name,
                mib / secs
            );
        }
        if n == 0 && self.shown {
            self.shown = false;
            eprint!("\r{}\r", " ".repeat(self.name.len() + 40));
        }
        Ok(n)
    }
}
