//! The producer of a scan: a thread that reads the input, inflates it when it is gzip, and
//! sends it on in chunks, within the inflated-size and compression-ratio limits.

use std::cell::Cell;
use std::io::{self, BufReader, Read};
use std::sync::mpsc;

use super::{RATIO_GRACE_BYTES, ScanErrorKind, ScanOptions};

#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    chunk_bytes: usize,
    max_inflated: u64,
    max_ratio: u64,
}

impl From<&ScanOptions> for Limits {
    fn from(options: &ScanOptions) -> Limits {
        Limits {
            chunk_bytes: options.chunk_bytes.max(4096),
            max_inflated: options.max_decompressed_bytes,
            max_ratio: options.max_compression_ratio,
        }
    }
}

/// What the producer read: bytes in and out, and whether it was gzip.
pub(super) struct Produced {
    pub(super) input_bytes: u64,
    pub(super) inflated_bytes: u64,
    pub(super) gzip: bool,
}

/// Counts the bytes drawn from the input and remembers whether an error came from it.
struct Counting<'c, R> {
    inner: R,
    bytes: &'c Cell<u64>,
    failed: &'c Cell<bool>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.bytes.set(self.bytes.get() + n as u64);
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.failed.set(true);
                }
                Err(e)
            }
        }
    }
}

type ChunkSender = mpsc::SyncSender<Result<Vec<u8>, ScanErrorKind>>;

/// Reads `input` to its end (or the first error, or the consumer hanging up), sending its
/// inflated bytes on `full` in chunks and reusing the buffers that come back on `free`.
pub(super) fn produce<R: Read>(
    input: R,
    limits: Limits,
    full: &ChunkSender,
    free: &mpsc::Receiver<Vec<u8>>,
) -> Produced {
    let input_bytes = Cell::new(0);
    let source_failed = Cell::new(false);
    let counting = Counting {
        inner: input,
        bytes: &input_bytes,
        failed: &source_failed,
    };
    // Read the first two bytes whatever the reader's read sizes, then put them back in front.
    let mut counting = counting;
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < head.len() {
        match counting.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = full.send(Err(ScanErrorKind::Read(e)));
                return Produced {
                    input_bytes: input_bytes.get(),
                    inflated_bytes: 0,
                    gzip: false,
                };
            }
        }
    }
    let gzip = head[..got] == [0x1f, 0x8b];
    let buffered = BufReader::with_capacity(
        limits.chunk_bytes,
        io::Cursor::new(head).take(got as u64).chain(counting),
    );
    let pump = Pump {
        limits,
        gzip,
        input_bytes: &input_bytes,
        source_failed: &source_failed,
    };
    let inflated_bytes = if gzip {
        pump.run(flate2::bufread::MultiGzDecoder::new(buffered), full, free)
    } else {
        pump.run(buffered, full, free)
    };
    Produced {
        input_bytes: input_bytes.get(),
        inflated_bytes,
        gzip,
    }
}

struct Pump<'c> {
    limits: Limits,
    gzip: bool,
    input_bytes: &'c Cell<u64>,
    source_failed: &'c Cell<bool>,
}

impl Pump<'_> {
    /// Sends chunks until the end of the data, an error, or the consumer hanging up; returns
    /// how many bytes it produced.
    fn run(&self, mut data: impl Read, full: &ChunkSender, free: &mpsc::Receiver<Vec<u8>>) -> u64 {
        let mut produced = 0u64;
        loop {
            let mut chunk = free
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(self.limits.chunk_bytes));
            chunk.resize(self.limits.chunk_bytes, 0);
            let mut filled = 0;
            let mut fault = None;
            while filled < chunk.len() {
                match data.read(&mut chunk[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        fault = Some(self.classify(e));
                        break;
                    }
                }
            }
            chunk.truncate(filled);
            produced += filled as u64;
            if fault.is_none() {
                fault = self.check_limits(produced);
            }
            let done = filled == 0 || fault.is_some();
            if filled > 0 && full.send(Ok(chunk)).is_err() {
                return produced;
            }
            if let Some(kind) = fault {
                let _ = full.send(Err(kind));
            }
            if done {
                return produced;
            }
        }
    }

    fn classify(&self, error: io::Error) -> ScanErrorKind {
        if self.source_failed.get() || !self.gzip {
            ScanErrorKind::Read(error)
        } else if error.kind() == io::ErrorKind::UnexpectedEof {
            ScanErrorKind::TruncatedGzip
        } else {
            ScanErrorKind::CorruptGzip(error)
        }
    }

    fn check_limits(&self, produced: u64) -> Option<ScanErrorKind> {
        if produced > self.limits.max_inflated {
            return Some(ScanErrorKind::TooLarge {
                limit: self.limits.max_inflated,
            });
        }
        let ratio_exceeded = self.gzip
            && produced > RATIO_GRACE_BYTES
            && produced / self.input_bytes.get().max(1) > self.limits.max_ratio;
        ratio_exceeded.then_some(ScanErrorKind::CompressionRatio {
            limit: self.limits.max_ratio,
        })
    }
}
