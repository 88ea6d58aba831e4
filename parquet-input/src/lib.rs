//! VPC flow logs in Apache Parquet, as AWS delivers them to S3 (`FileFormat=parquet`), read
//! into the same aggregation and detection as text objects.
//!
//! A Parquet object is told from text by its first bytes (`PAR1`), never by its key. Its
//! footer gives the schema; only the columns the aggregation reads are decoded, one row group
//! at a time (a row group over a memory budget fails the object), and every row is rendered
//! into the core's text path ([`read`]'s notes say why and what it costs). The reader works on
//! any [`parquet::file::reader::ChunkReader`]: the object in memory, a file, or the [`Ranges`]
//! a caller fetched with range reads (the footer, then each row group's column chunks).
//! [`write_parquet`] writes flow-log text as AWS's documented columns, for fixtures and samples.

mod error;
mod input;
mod ranges;
pub mod read;
mod write;

pub use error::{ParquetErrorKind, ParquetScanError};
pub use input::{InputError, Scanned, read_head, scan_input};
pub use ranges::{Ranges, coalesce};
pub use read::{
    AGGREGATION_FIELDS, COALESCE_GAP, Columns, DEFAULT_MAX_ROW_GROUP_BYTES, FOOTER_GUESS, Footer,
    Layout, MAGIC, ParquetOptions, is_parquet, parse_footer, scan_parquet,
};
pub use write::{WriteError, WriteOptions, Written, write_parquet};
