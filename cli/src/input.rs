//! The inputs named on the command line: files, standard input (`-`, or nothing named), and
//! `s3://bucket/prefix/` (every object under it), read in order under one progress line. Each
//! is text (gzip or plain) or Parquet, as its first bytes say ([`flowlog_parquet::scan_input`]).

use std::fs::File;
use std::io::{self, IsTerminal, Read};

use crate::progress::{Progress, Show};
use crate::s3::{Fetcher, Object, S3, S3Url};

/// How `parse` and `stats` read Parquet inputs: every column, as a text object has them all.
pub const ALL_COLUMNS: flowlog_parquet::ParquetOptions = flowlog_parquet::ParquetOptions {
    columns: flowlog_parquet::Columns::All,
    max_row_group_bytes: flowlog_parquet::DEFAULT_MAX_ROW_GROUP_BYTES,
};

/// How to read the inputs.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// S3 objects downloading at once.
    pub s3_concurrency: usize,
    /// The command writes to standard output while it reads: no progress line when that is
    /// the same terminal.
    pub streams_stdout: bool,
}

/// Why reading one input stopped.
pub enum Failure {
    /// This input is bad (reported and counted; the others are still read).
    Input(String),
    /// Nothing more can be done (output is gone).
    Fatal(crate::Error),
}

enum Item {
    Stdin,
    File { path: String, size: Option<u64> },
    S3(Object),
}

impl Item {
    fn size(&self) -> Option<u64> {
        match self {
            Item::Stdin => None,
            Item::File { size, .. } => *size,
            Item::S3(object) => Some(object.size),
        }
    }
}

/// Calls `each` with the name and bytes of every input in order. An input that cannot be
/// opened, or for which `each` fails, is reported on standard error and counted; returns how
/// many failed.
pub fn for_each(
    names: &[String],
    options: ReadOptions,
    mut each: impl FnMut(&str, Box<dyn Read + Send + '_>) -> Result<(), Failure>,
) -> Result<usize, crate::Error> {
    let show = crate::progress::wanted(options.streams_stdout);
    let report = |progress: Option<&Progress>, message: &str| {
        let line = format!("flowlogs: {message}");
        match progress {
            Some(p) if show != Show::Never => p.println(&line),
            _ => eprintln!("{line}"),
        }
    };
    let mut failed = 0;
    let mut s3: Option<S3> = None;
    let mut items = Vec::new();
    let names = if names.is_empty() {
        vec!["-".to_owned()]
    } else {
        names.to_vec()
    };
    for name in names {
        if name == "-" {
            items.push(Item::Stdin);
            continue;
        }
        let Some(url) = S3Url::parse(&name) else {
            // Pipes and devices have no size to show progress against.
            let size = std::fs::metadata(&name)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len());
            items.push(Item::File { path: name, size });
            continue;
        };
        let listed = url.and_then(|url| {
            if s3.is_none() {
                s3 = Some(S3::connect()?);
            }
            // Listing is a network round trip per 1,000 objects: say so from the start.
            let now = if show == Show::Never { show } else { Show::Now };
            let spinner = Progress::spinner(format!("listing {url}"), now);
            let listed = s3.as_ref().expect("connected").list(&url, &spinner);
            spinner.finish();
            listed
        });
        match listed {
            Ok(objects) => items.extend(objects.into_iter().map(Item::S3)),
            Err(message) => {
                report(None, &message);
                failed += 1;
            }
        }
    }
    let objects: Vec<Object> = items
        .iter()
        .filter_map(|item| match item {
            Item::S3(object) => Some(object.clone()),
            _ => None,
        })
        .collect();
    let mut fetcher: Option<Fetcher<'_>> = s3
        .as_ref()
        .map(|s3| s3.fetch(objects, options.s3_concurrency));
    let total = items.iter().map(Item::size).sum::<Option<u64>>();
    let progress = Progress::bytes(total, show);
    let count = items.len();
    for (i, item) in items.iter().enumerate() {
        let (name, reader): (String, Result<Box<dyn Read + Send>, String>) = match item {
            Item::Stdin => {
                if io::stdin().is_terminal() {
                    eprintln!(
                        "flowlogs: reading records from standard input (Ctrl-D ends; name files or s3:// prefixes to read those)"
                    );
                }
                ("<stdin>".to_owned(), Ok(Box::new(io::stdin())))
            }
            Item::File { path, .. } => (path.clone(), open(path)),
            Item::S3(_) => {
                let (object, body) = fetcher
                    .as_mut()
                    .and_then(Fetcher::next_object)
                    .expect("one fetched object per listed one");
                (object.name(), Ok(Box::new(body)))
            }
        };
        if count > 1 {
            progress.set_message(format!("[{}/{count}] {}", i + 1, tail(&name, 40)));
        } else {
            progress.set_message(tail(&name, 40));
        }
        let result = reader
            .map_err(Failure::Input)
            .and_then(|reader| each(&name, Box::new(progress.reader(reader))));
        match result {
            Ok(()) => {}
            Err(Failure::Input(message)) => {
                report(Some(&progress), &message);
                failed += 1;
            }
            Err(Failure::Fatal(error)) => {
                progress.finish();
                return Err(error);
            }
        }
    }
    progress.finish();
    Ok(failed)
}

fn open(path: &str) -> Result<Box<dyn Read + Send>, String> {
    let file = File::open(path).map_err(|e| format!("{path}: cannot open: {e}"))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(format!("{path}: is a directory"));
    }
    Ok(Box::new(file))
}

/// The last `max` characters of `name`, with `…` when cut.
fn tail(name: &str, max: usize) -> String {
    let chars = name.chars().count();
    if chars <= max {
        name.to_owned()
    } else {
        let kept: String = name.chars().skip(chars - max + 1).collect();
        format!("…{kept}")
    }
}
