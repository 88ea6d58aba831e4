//! Any flow-log input as a stream: text (gzip or plain) or Parquet, told apart by the first
//! bytes, never by a name.

use std::io::{self, Read};
use std::sync::Arc;

use bytes::Bytes;
use flowlog_core::{RecordVisitor, ScanError, ScanOptions, ScanReport};

use crate::error::{ParquetErrorKind, ParquetScanError};
use crate::read::{MAGIC, ParquetOptions, is_parquet, scan_parquet};

/// Why an input could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A text object.
    #[error(transparent)]
    Text(#[from] ScanError),
    /// A Parquet object.
    #[error(transparent)]
    Parquet(#[from] ParquetScanError),
}

impl InputError {
    /// What was counted before the failure.
    pub fn partial(&self) -> &ScanReport {
        match self {
            InputError::Text(e) => &e.partial,
            InputError::Parquet(e) => &e.partial,
        }
    }
}

/// What reading an input found, and whether it was Parquet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    /// Records, statuses, skipped lines (rows for Parquet), bytes.
    pub report: ScanReport,
    /// The input was Parquet.
    pub parquet: bool,
}

/// The first `N` bytes of `input` (fewer at its end), whatever the reader's read sizes.
pub fn read_head<const N: usize, R: Read>(input: &mut R) -> io::Result<([u8; N], usize)> {
    let mut head = [0u8; N];
    let mut got = 0;
    while got < N {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((head, got))
}

/// Reads `input` to its end into `visitor`: text through [`flowlog_core::scan`], Parquet
/// (starting with `PAR1`) through [`scan_parquet`] once the stream is held in memory (at most
/// `scan.max_decompressed_bytes`; row groups are still decoded one at a time).
pub fn scan_input<R, V>(
    mut input: R,
    scan: &ScanOptions,
    parquet: &ParquetOptions,
    visitor: &mut V,
) -> Result<Scanned, InputError>
where
    R: Read + Send,
    V: RecordVisitor + ?Sized,
{
    let parquet_error = |kind| ParquetScanError {
        kind,
        partial: Box::default(),
    };
    let (head, got) = read_head::<4, _>(&mut input).map_err(|e| ScanError {
        kind: flowlog_core::ScanErrorKind::Read(e),
        partial: Box::default(),
    })?;
    if !is_parquet(&head[..got]) {
        let report = flowlog_core::scan(
            io::Cursor::new(head).take(got as u64).chain(input),
            scan,
            visitor,
        )?;
        return Ok(Scanned {
            report,
            parquet: false,
        });
    }
    let limit = scan.max_decompressed_bytes;
    let mut whole = MAGIC.to_vec();
    input
        .take(limit.saturating_add(1))
        .read_to_end(&mut whole)
        .map_err(|e| parquet_error(ParquetErrorKind::Read(e)))?;
    if whole.len() as u64 > limit {
        return Err(parquet_error(ParquetErrorKind::TooLarge { limit }).into());
    }
    let report = scan_parquet(Arc::new(Bytes::from(whole)), scan, parquet, visitor)?;
    Ok(Scanned {
        report,
        parquet: true,
    })
}
