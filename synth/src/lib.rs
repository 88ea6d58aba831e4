//! Deterministic generator of realistic synthetic AWS VPC Flow Logs objects.
//!
//! [`write_object`] writes one flow-log object (optionally gzip-compressed, like the
//! objects AWS delivers to S3) for a [`Spec`] and returns the [`Truth`]: exact counts of
//! what was written, for tests to compare a parser's results against.
//!
//! The same [`Spec`] always produces byte-identical output. Record contents do not
//! depend on which fields are selected, so the same seed yields the same flows in the
//! default format and in a custom one. Memory use does not grow with
//! [`Spec::records`]; it is proportional to [`Spec::sources`].
//!
//! What the records look like: VPC hosts (EC2, ECS, Lambda, NAT gateway, load
//! balancer and VPC endpoint ENIs in two VPCs, six subnets, three AZs of us-east-1)
//! talk to internet peers and to each other, and internet peers reach them. Mostly
//! TCP (443, 80, 22, databases; ephemeral client ports; replies from server ports),
//! some UDP 53/123 and ICMP/ICMPv6 (ports 0); 1–50 packets of 40–1500 bytes;
//! `end` = `start` + 0..59 s; REJECT mostly for inbound admin ports. NAT gateway
//! traffic has `pkt-srcaddr`/`pkt-dstaddr` differing from `srcaddr`/`dstaddr`.
//! Records are roughly in time order.
//!
//! Address plan: normal sources are private hosts of the synthetic VPCs
//! (10.0.0.0/9 and 2600:1f18:4a3b:2a00::/56) and internet peers. No normal source is
//! ever in 10.200.0.0/13, 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 or
//! 2001:db8::/32, so those are safe choices for [`Flood::source`].

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};

pub mod formats;
mod generate;
mod gzip;
mod net;
mod rng;
mod text;
pub mod traffic;
mod write;

/// Default [`Spec::start`]: 1 700 000 000 rounded down to a whole minute.
pub const DEFAULT_START: i64 = 1_700_000_000 / 60 * 60;

/// Source address of the heavy-downloader flows: an S3 address sending large
/// downloads to [`HEAVY_DOWNLOADER`] (so `per_source` holds it under this address).
pub const HEAVY_SOURCE: Ipv4Addr = Ipv4Addr::new(52, 216, 148, 21);

/// The VPC host that receives the heavy-downloader flows (their `dstaddr`).
pub const HEAVY_DOWNLOADER: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 10);

/// What to generate. Start from [`Spec::default`] and set the fields you need.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Format columns, in order. Unknown names are allowed; their values are tokens
    /// like `x-17`.
    pub fields: Vec<String>,
    /// Write the header line (the field names) first.
    pub header: bool,
    /// Number of record lines (excluding the header and injected malformed lines).
    pub records: u64,
    /// Seed of the generator; equal specs give byte-identical output.
    pub seed: u64,
    /// Unix seconds of the first capture window.
    pub start: i64,
    /// Record `start` values fall in `[start, start + span_secs)` (at least 1 second).
    pub span_secs: i64,
    /// Number of distinct normal source addresses (flood and heavy sources come on top;
    /// with 0, every slot not taken by them is a NODATA record). Memory grows with it.
    pub sources: u32,
    /// Fraction (0..=1) of the normal sources that are IPv6.
    pub ipv6_share: f64,
    /// Every Nth record is NODATA (0 = none).
    pub nodata_every: u64,
    /// Every Nth record is SKIPDATA (0 = none).
    pub skipdata_every: u64,
    /// After every Nth record, inject one extra malformed line (0 = none), cycling
    /// through: too few fields, too many fields, bad number, bad IP address,
    /// non-ASCII garbage.
    pub malformed_every: u64,
    /// One attacking source, whose flows are part of `records`.
    pub flood: Option<Flood>,
    /// Add the heavy-downloader flows (from [`HEAVY_SOURCE`] to [`HEAVY_DOWNLOADER`]):
    /// about 10 long flows per minute of span (at most 5% of the non-flood records)
    /// with 10⁸–10⁹ bytes each, all ACCEPT, `tcp-flags` 19. They are part of `records`.
    pub heavy_downloader: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            fields: formats::DEFAULT_V2.iter().map(|f| f.to_string()).collect(),
            header: true,
            records: 10_000,
            seed: 1,
            start: DEFAULT_START,
            span_secs: 300,
            sources: 200,
            ipv6_share: 0.1,
            nodata_every: 0,
            skipdata_every: 0,
            malformed_every: 0,
            flood: None,
            heavy_downloader: false,
        }
    }
}

impl Spec {
    /// Replaces the format columns, e.g. `Spec::default().with_fields(formats::V5_ALL)`.
    pub fn with_fields(mut self, fields: &[&str]) -> Self {
        self.fields = fields.iter().map(|f| f.to_string()).collect();
        self
    }
}

/// A single attacking source that floods the VPC (or, if the source is a private
/// address, floods an outside victim from inside the VPC).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flood {
    /// `srcaddr` (and `pkt-srcaddr`) of every flood record.
    pub source: IpAddr,
    /// Total flood records over the span, spread evenly; part of [`Spec::records`]
    /// (capped at it).
    pub flows: u64,
    /// SYN flood: every flood record has `tcp-flags` 2.
    pub syn_only: bool,
    /// Fraction (0..=1) of flood records with action REJECT (exactly
    /// `floor(flows × reject_share)`, spread evenly).
    pub reject_share: f64,
    /// Number of distinct destination ports hit (ports 1..=dst_ports; 443 when ≤ 1).
    pub dst_ports: u16,
}

/// Output encoding of the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain text.
    None,
    /// A gzip stream, like S3-delivered flow logs; `level` 0–9 (higher is clamped to 9).
    Gzip {
        /// zlib compression level.
        level: u32,
    },
}

/// Totals of one source address over its OK records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceTruth {
    /// OK records with this `srcaddr`.
    pub flows: u64,
    /// Sum of `packets`.
    pub packets: u64,
    /// Sum of `bytes`.
    pub bytes: u64,
    /// Records with action REJECT.
    pub rejected: u64,
    /// TCP records whose `tcp-flags` value is 2 (SYN only).
    pub syn_only: u64,
}

/// Ground truth of one generated object.
///
/// Values count what was generated for each record, whether or not the format has
/// the column (e.g. `syn_only` is counted even without `tcp-flags` in the format).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Truth {
    /// Record lines written (`ok + nodata + skipdata`); excludes header and malformed lines.
    pub records: u64,
    /// Records with log-status OK.
    pub ok: u64,
    /// Records with log-status NODATA.
    pub nodata: u64,
    /// Records with log-status SKIPDATA.
    pub skipdata: u64,
    /// Injected malformed lines.
    pub malformed_lines: u64,
    /// Flows, i.e. OK records (equal to `ok`).
    pub flows: u64,
    /// Sum of `packets` over OK records.
    pub packets: u64,
    /// Sum of `bytes` over OK records.
    pub bytes: u64,
    /// OK records with action REJECT.
    pub rejected: u64,
    /// OK TCP records whose `tcp-flags` value is 2 (SYN only).
    pub syn_only: u64,
    /// Totals per `srcaddr` of OK records (only addresses that occur).
    pub per_source: BTreeMap<IpAddr, SourceTruth>,
}

/// Writes one flow-log object for `spec` to `out` and returns what was written.
///
/// Output goes to `out` in chunks of about 1 MiB, so `out` needs no extra buffering;
/// it is flushed at the end. [`Compression::Gzip`] writes one standard gzip member
/// (readable by `flate2::read::GzDecoder`, `gunzip`, …); for large objects it is
/// compressed on all available cores, and the bytes do not depend on the core count.
pub fn write_object<W: Write>(spec: &Spec, compression: Compression, out: W) -> io::Result<Truth> {
    match compression {
        Compression::None => {
            let mut out = out;
            let truth = generate::generate(spec, |chunk, _last| {
                out.write_all(chunk)?;
                chunk.clear();
                Ok(())
            })?;
            out.flush()?;
            Ok(truth)
        }
        Compression::Gzip { level } => gzip::write(spec, level, out),
    }
}

#[cfg(test)]
mod tests;
