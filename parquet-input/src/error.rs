//! Why a Parquet object could not be read to its end.

use std::io;

use flowlog_core::ScanReport;

/// What went wrong with a Parquet object.
#[derive(Debug, thiserror::Error)]
pub enum ParquetErrorKind {
    /// The bytes are not a Parquet file (no `PAR1` at both ends).
    #[error("not a Parquet file: {0}")]
    NotParquet(String),
    /// The footer, a page or a column chunk does not decode.
    #[error("corrupt Parquet data: {0}")]
    Corrupt(String),
    /// The schema names no flow-log field.
    #[error("no flow-log column in the Parquet schema (its columns: {columns})")]
    NotFlowLog {
        /// The first few column names.
        columns: String,
    },
    /// A column the aggregation needs has a type no flow log has.
    #[error(
        "column {column:?} is {kind}: flow-log columns are INT32, INT64 or strings, not repeated"
    )]
    UnsupportedColumn {
        /// The column.
        column: String,
        /// Its type.
        kind: String,
    },
    /// A column is compressed with a codec this build leaves out.
    #[error(
        "column {column:?} is compressed with {codec}: this build reads the codec AWS writes (GZIP) and uncompressed columns"
    )]
    UnsupportedCodec {
        /// The column.
        column: String,
        /// Its codec.
        codec: String,
    },
    /// A row group's columns take more memory than allowed (MAX_ROW_GROUP_BYTES).
    #[error(
        "row group {row_group} holds {bytes} bytes of the columns read, more than the budget of {budget} bytes for one row group"
    )]
    RowGroupTooLarge {
        /// 0-based row group.
        row_group: usize,
        /// Compressed or uncompressed size of its columns read, whichever is larger.
        bytes: u64,
        /// The budget.
        budget: u64,
    },
    /// The footer (the schema and where every column chunk is) is larger than allowed.
    #[error("the Parquet footer takes {bytes} bytes, more than the budget of {budget} bytes")]
    FooterTooLarge {
        /// Its size.
        bytes: u64,
        /// The budget.
        budget: u64,
    },
    /// Reading the input failed.
    #[error("reading the object failed: {0}")]
    Read(#[source] io::Error),
    /// A Parquet input held in memory whole is larger than allowed.
    #[error("the object exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The deadline passed before the end of the object.
    #[error("stopped at the deadline before the end of the object")]
    Deadline,
}

impl ParquetErrorKind {
    /// Whether the same object may be read on a retry (a read error, the deadline); every
    /// other kind is in the object itself.
    pub fn is_transient(&self) -> bool {
        matches!(self, ParquetErrorKind::Read(_) | ParquetErrorKind::Deadline)
    }
}

impl From<parquet::errors::ParquetError> for ParquetErrorKind {
    fn from(error: parquet::errors::ParquetError) -> Self {
        ParquetErrorKind::Corrupt(error.to_string())
    }
}

/// A failed read of a Parquet object, with what had been read before it.
#[derive(Debug, thiserror::Error)]
#[error("{kind} (after {} records in {} rows)", partial.records, partial.lines)]
pub struct ParquetScanError {
    /// What went wrong.
    #[source]
    pub kind: ParquetErrorKind,
    /// Everything counted up to the failure (rows count as lines).
    pub partial: Box<ScanReport>,
}
