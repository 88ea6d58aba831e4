//! Gzip output compressed on several threads, still as one standard gzip member.
//!
//! The text is cut into chunks (at deterministic record boundaries); each chunk is
//! deflated on its own and ended with a sync flush (the last one with a final
//! block), so the concatenated raw deflate streams form one valid stream. The CRC-32
//! of the whole text is combined from the per-chunk CRCs. The bytes written depend
//! only on the spec and level, never on the number of threads.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc;
use std::thread;

use flate2::{Compress, Crc, FlushCompress, Status};

use crate::generate::{self, CHUNK, CHUNK_CAPACITY};
use crate::{Spec, Truth};

/// Objects with fewer records are compressed on the calling thread.
const THREADED_FROM_RECORDS: u64 = 20_000;

/// A compressed chunk and the CRC of its uncompressed bytes.
type Deflated = io::Result<(Vec<u8>, Crc)>;

/// Writes the gzip object for `spec`, choosing the number of compression threads.
pub(crate) fn write<W: Write>(spec: &Spec, level: u32, out: W) -> io::Result<Truth> {
    let workers = if spec.records < THREADED_FROM_RECORDS {
        0
    } else {
        thread::available_parallelism().map_or(1, |n| n.get().min(8))
    };
    write_with_workers(spec, level, out, workers)
}

/// Writes the gzip object with `workers` compression threads (0 = all inline).
pub(crate) fn write_with_workers<W: Write>(
    spec: &Spec,
    level: u32,
    mut out: W,
    workers: usize,
) -> io::Result<Truth> {
    let level = level.min(9);
    out.write_all(&header(level))?;
    let mut crc = Crc::new();
    let truth = if workers == 0 {
        let mut deflater = Compress::new(flate2::Compression::new(level), false);
        generate::generate(spec, |chunk, last| {
            let (packed, chunk_crc) = deflate(&mut deflater, chunk, last)?;
            out.write_all(&packed)?;
            crc.combine(&chunk_crc);
            chunk.clear();
            Ok(())
        })?
    } else {
        threaded(spec, level, &mut out, &mut crc, workers)?
    };
    out.write_all(&crc.sum().to_le_bytes())?;
    out.write_all(&crc.amount().to_le_bytes())?;
    out.flush()?;
    Ok(truth)
}

/// One thread generates, `workers` threads deflate, the calling thread writes in order.
fn threaded<W: Write>(
    spec: &Spec,
    level: u32,
    out: &mut W,
    crc: &mut Crc,
    workers: usize,
) -> io::Result<Truth> {
    thread::scope(|scope| {
        let (result_tx, result_rx) = mpsc::channel::<(u64, Deflated)>();
        let (recycle_tx, recycle_rx) = mpsc::channel::<Vec<u8>>();
        let mut work_txs = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Vec<u8>, bool)>(2);
            work_txs.push(work_tx);
            let (result_tx, recycle_tx) = (result_tx.clone(), recycle_tx.clone());
            scope.spawn(move || {
                let mut deflater = Compress::new(flate2::Compression::new(level), false);
                for (seq, mut chunk, last) in work_rx {
                    let result = deflate(&mut deflater, &chunk, last);
                    chunk.clear();
                    let _ = recycle_tx.send(chunk);
                    if result_tx.send((seq, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop((result_tx, recycle_tx));

        let generator = scope.spawn(move || {
            let mut seq = 0u64;
            let truth = generate::generate(spec, |chunk, last| {
                let fresh = recycle_rx
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(CHUNK_CAPACITY));
                let full = std::mem::replace(chunk, fresh);
                work_txs[(seq % workers as u64) as usize]
                    .send((seq, full, last))
                    .map_err(|_| io::Error::other("gzip compression stopped"))?;
                seq += 1;
                Ok(())
            })?;
            Ok::<_, io::Error>((truth, seq))
        });

        // Results arrive out of order; write them in sequence. Bounded work queues
        // keep at most a few chunks per worker in flight.
        let mut pending: BTreeMap<u64, Deflated> = BTreeMap::new();
        let mut next = 0u64;
        for (seq, result) in &result_rx {
            pending.insert(seq, result);
            while let Some(result) = pending.remove(&next) {
                let (packed, chunk_crc) = result?;
                out.write_all(&packed)?;
                crc.combine(&chunk_crc);
                next += 1;
            }
        }
        let (truth, chunks) = generator.join().expect("generator thread panicked")?;
        if next != chunks {
            return Err(io::Error::other("a gzip compression thread failed"));
        }
        Ok(truth)
    })
}

/// The 10-byte gzip member header: deflate, no name, no mtime, OS unknown.
fn header(level: u32) -> [u8; 10] {
    let xfl = match level {
        9 => 2,
        0 | 1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 0xff]
}

/// Raw-deflates one chunk on its own: ends with a sync flush, or with the final block
/// when `last`.
fn deflate(deflater: &mut Compress, input: &[u8], last: bool) -> Deflated {
    deflater.reset();
    let mut crc = Crc::new();
    crc.update(input);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(input.len() / 2 + 4096);
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(CHUNK / 4));
        }
        let consumed = deflater.total_in() as usize;
        let status = deflater
            .compress_vec(&input[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let all_in = deflater.total_in() as usize == input.len();
        match status {
            Status::StreamEnd => break,
            // A sync flush is complete once all input is in and output space is left.
            _ if !last && all_in && out.len() < out.capacity() => break,
            _ => {}
        }
    }
    Ok((out, crc))
}
