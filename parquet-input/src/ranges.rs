//! The parts of an object fetched so far, as the Parquet reader's byte source: the footer, then
//! one row group's column chunks at a time, each a range read of the object.

use std::ops::Range;

use bytes::{Buf, Bytes};
use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};

/// Byte ranges of an object of `len` bytes, fetched by the caller.
#[derive(Debug, Clone, Default)]
pub struct Ranges {
    len: u64,
    pieces: Vec<(u64, Bytes)>,
}

impl Ranges {
    /// No range yet of an object of `len` bytes.
    pub fn new(len: u64) -> Ranges {
        Ranges {
            len,
            pieces: Vec::new(),
        }
    }

    /// Adds the bytes read at `start`.
    pub fn insert(&mut self, start: u64, bytes: Bytes) {
        self.pieces.push((start, bytes));
    }

    /// Bytes held.
    pub fn held(&self) -> u64 {
        self.pieces.iter().map(|(_, b)| b.len() as u64).sum()
    }

    /// The piece holding all of `range`, and where the range starts in it.
    fn find(&self, range: Range<u64>) -> parquet::errors::Result<(&Bytes, usize)> {
        self.pieces
            .iter()
            .find(|(start, bytes)| *start <= range.start && range.end <= start + bytes.len() as u64)
            .map(|(start, bytes)| (bytes, (range.start - start) as usize))
            .ok_or_else(|| {
                ParquetError::General(format!(
                    "bytes {}..{} of the object were not fetched (a column chunk outside its row group's ranges)",
                    range.start, range.end
                ))
            })
    }
}

impl Length for Ranges {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for Ranges {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let (bytes, at) = self.find(start..start)?;
        Ok(bytes.slice(at..).reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let (bytes, at) = self.find(start..start + length as u64)?;
        Ok(bytes.slice(at..at + length))
    }
}

/// `ranges` sorted and merged where they are less than `gap` bytes apart, so that close column
/// chunks come in one request.
pub fn coalesce(mut ranges: Vec<Range<u64>>, gap: u64) -> Vec<Range<u64>> {
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end + gap => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn reads_are_served_from_the_piece_that_holds_them() {
        let mut ranges = Ranges::new(100);
        ranges.insert(10, Bytes::from_static(b"0123456789"));
        ranges.insert(50, Bytes::from_static(b"abcdef"));
        assert_eq!(ranges.get_bytes(12, 3).unwrap(), Bytes::from_static(b"234"));
        let mut rest = String::new();
        ranges
            .get_read(52)
            .unwrap()
            .read_to_string(&mut rest)
            .unwrap();
        assert_eq!(rest, "cdef");
        assert_eq!((ranges.len(), ranges.held()), (100, 16));
        let error = ranges.get_bytes(18, 5).unwrap_err().to_string();
        assert!(
            error.contains("18..23 of the object were not fetched"),
            "{error}"
        );
    }

    #[test]
    fn close_ranges_merge_into_one_request() {
        assert_eq!(
            coalesce(vec![40..50, 0..10, 12..20, 100..110], 5),
            vec![0..20, 40..50, 100..110]
        );
        assert_eq!(coalesce(vec![0..10, 5..8], 0), vec![0..10]);
    }
}
