//! Splitting a record line into tokens and reading typed values from them, without allocating.
//!
//! The hot path reads a value through its line and span ([`unsigned_in`], [`address_in`]):
//! loading a whole machine word that ends where the token ends (the bytes before it are masked
//! off) lets digits and dots be checked and combined eight or sixteen at a time, without a
//! branch per character that mispredicts on every change of length.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::addr::Addr;

/// Byte range of one token inside its line.
pub(crate) type Span = (u32, u32);

/// Bytes classified per step of [`Tokens::split`].
const BLOCK: usize = 64;

/// The tokens of one line: reused from line to line (it only grows, to the most tokens a
/// line had).
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    /// Token edges in line order, starts and ends alternating (a start at an even index).
    edges: Vec<u32>,
    /// Tokens of the line last split.
    len: usize,
}

impl Tokens {
    /// Splits `line` on runs of ASCII spaces. Leading and trailing spaces are ignored, so a
    /// doubled separator does not create an empty field.
    ///
    /// Each 64-byte block becomes a bit mask of its spaces ([`space_mask`]); the mask's edges
    /// are the tokens' starts and ends, which alternate (one loop exit per 64 bytes to mispredict,
    /// not one per 16).
    #[inline]
    pub(crate) fn split(&mut self, line: &[u8]) {
        let mut edges = 0;
        // 1 when the byte before the next block is part of a token.
        let mut carry = 0u64;
        let mut add = |tokens: u64, offset: u32, out: &mut Vec<u32>| {
            let before = tokens << 1 | carry;
            carry = tokens >> 63;
            // Room for an edge at every byte.
            if out.len() < edges + BLOCK {
                out.resize(edges + BLOCK, 0);
            }
            edges += flatten(tokens ^ before, offset, &mut out[edges..]);
        };
        let mut blocks = line.chunks_exact(BLOCK);
        let mut offset = 0u32;
        for block in &mut blocks {
            let block: &[u8; BLOCK] = block.try_into().expect("a whole block");
            add(!space_mask(block), offset, &mut self.edges);
            offset += BLOCK as u32;
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            // Padded with spaces, which also end a token running to the end of the line.
            let mut block = [b' '; BLOCK];
            block[..rest.len()].copy_from_slice(rest);
            add(!space_mask(&block), offset, &mut self.edges);
        } else if carry != 0 {
            self.edges[edges] = line.len() as u32;
            edges += 1;
        }
        debug_assert!(edges % 2 == 0);
        self.len = edges / 2;
    }

    /// Tokens of the line last split.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The span of token `i` of the line last split.
    #[inline]
    pub(crate) fn span(&self, i: usize) -> Span {
        debug_assert!(i < self.len);
        (self.edges[2 * i], self.edges[2 * i + 1])
    }

    /// Every span of the line last split, in order.
    pub(crate) fn spans(&self) -> impl Iterator<Item = Span> + '_ {
        self.edges[..2 * self.len]
            .chunks_exact(2)
            .map(|pair| (pair[0], pair[1]))
    }
}

/// Writes `offset` + the index of every set bit of `bits` into `out`; returns how many.
#[inline(always)]
fn flatten(mut bits: u64, offset: u32, out: &mut [u32]) -> usize {
    let mut n = 0;
    while bits != 0 {
        out[n] = offset + bits.trailing_zeros();
        bits &= bits - 1;
        n += 1;
    }
    n
}

/// Bit `i` set when byte `i` of the block is a space: SSE2 (in every x86-64 CPU).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn space_mask(block: &[u8; BLOCK]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is in the x86-64 baseline; each load reads 16 bytes inside `block`.
    unsafe {
        let spaces = _mm_set1_epi8(b' ' as i8);
        let part = |at: usize| {
            let bytes = _mm_loadu_si128(block.as_ptr().add(at) as *const __m128i);
            u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, spaces)) as u16) << at
        };
        part(0) | part(16) | part(32) | part(48)
    }
}

/// Bit `i` set when byte `i` of the block is a space: NEON (in every AArch64 CPU). NEON has no
/// byte mask instruction: each lane's comparison keeps one bit of its position in a byte, and
/// three rounds of pairwise adds fold the 64 lanes into the 64 bits of one lane.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
fn space_mask(block: &[u8; BLOCK]) -> u64 {
    use std::arch::aarch64::{
        vandq_u8, vceqq_u8, vdupq_n_u8, vgetq_lane_u64, vld1q_u8, vpaddq_u8, vreinterpretq_u64_u8,
    };
    const WEIGHTS: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
    // SAFETY: NEON is in the AArch64 baseline; each load reads 16 bytes inside its array.
    unsafe {
        let spaces = vdupq_n_u8(b' ');
        let weights = vld1q_u8(WEIGHTS.as_ptr());
        let part =
            |at: usize| vandq_u8(vceqq_u8(vld1q_u8(block.as_ptr().add(at)), spaces), weights);
        let low = vpaddq_u8(part(0), part(16));
        let high = vpaddq_u8(part(32), part(48));
        let both = vpaddq_u8(low, high);
        vgetq_lane_u64(vreinterpretq_u64_u8(vpaddq_u8(both, both)), 0)
    }
}

/// Bit `i` set when byte `i` of the block is a space: eight bytes at a time elsewhere.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline(always)]
fn space_mask(block: &[u8; BLOCK]) -> u64 {
    let mut mask = 0;
    for (i, word) in block.chunks_exact(8).enumerate() {
        let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        mask |= gather_high_bits(space_flags(word)) << (8 * i);
    }
    mask
}

/// One bit per byte: bit `i` of the result is the high bit of byte `i` of `flags`.
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), allow(dead_code))]
#[inline]
fn gather_high_bits(flags: u64) -> u64 {
    // Byte i's bit lands alone at bit 56 + i: the shifts 56 - 7i never collide.
    ((flags >> 7) & ONES).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of the result is set exactly where `word` holds a space.
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), allow(dead_code))]
#[inline]
fn space_flags(word: u64) -> u64 {
    let x = word ^ (ONES * u64::from(b' '));
    // Exact zero-byte test (no false positives from borrows): ((x & 0x7f..) + 0x7f..) | x.
    !(((x & !HIGHS).wrapping_add(!HIGHS)) | x) & HIGHS
}

/// The bytes of a token.
#[inline]
pub(crate) fn slice(line: &[u8], (a, b): Span) -> &[u8] {
    &line[a as usize..b as usize]
}

/// `-` marks a value AWS could not compute or that does not apply.
#[inline]
pub(crate) fn is_absent(token: &[u8]) -> bool {
    token == b"-"
}

/// The eight bytes of `line` ending at `end` (at least 8), little-endian: the token ending there
/// is in the top bytes.
#[inline(always)]
fn word_ending_at(line: &[u8], end: usize) -> u64 {
    u64::from_le_bytes(line[end - 8..end].try_into().expect("eight bytes"))
}

/// The value of the last `len` (1..=8) bytes of `word` as decimal digits (the first in the
/// lowest byte), or `None` if one is not a digit.
#[inline(always)]
fn eight_digits(word: u64, len: usize) -> Option<u64> {
    // The bytes before the token become zeros: leading zeros of the value.
    let digits = (word ^ (ONES * u64::from(b'0'))) & (!0u64 << (8 * (8 - len)));
    // Every byte below 10: no high nibble, none after adding 6.
    if (digits | digits.wrapping_add(ONES * 6)) & 0xF0F0_F0F0_F0F0_F0F0 != 0 {
        return None;
    }
    // Combine neighbours: pairs (10a + b), quads, then the eight digits.
    let pairs = digits.wrapping_mul(10 * 256 + 1) >> 8 & 0x00FF_00FF_00FF_00FF;
    let quads = pairs.wrapping_mul(100 * 65536 + 1) >> 16 & 0x0000_FFFF_0000_FFFF;
    Some(quads.wrapping_mul(10_000 * (1 << 32) + 1) >> 32)
}

/// [`unsigned`] of the token at `span` of `line`, digits eight at a time. Inlined into each
/// column's read, so that each length test is predicted per column.
#[inline(always)]
pub(crate) fn unsigned_in(line: &[u8], span: Span, bits: u8) -> Option<u64> {
    let (start, end) = (span.0 as usize, span.1 as usize);
    let len = end - start;
    let value = if (1..=8).contains(&len) && end >= 8 {
        eight_digits(word_ending_at(line, end), len)?
    } else if (9..=16).contains(&len) && end >= 16 {
        let low = eight_digits(word_ending_at(line, end), 8)?;
        let high = eight_digits(word_ending_at(line, end - 8), len - 8)?;
        high * 100_000_000 + low
    } else {
        return unsigned(&line[start..end], bits);
    };
    fits(value, bits)
}

#[inline(always)]
fn fits(value: u64, bits: u8) -> Option<u64> {
    (bits >= 64 || value >> bits == 0).then_some(value)
}

/// Parses a decimal unsigned integer of at most `bits` bits (no sign, no spaces, no overflow).
pub(crate) fn unsigned(token: &[u8], bits: u8) -> Option<u64> {
    if token.is_empty() || token.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &b in token {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    fits(value, bits)
}

/// Values at or above this are taken for epoch milliseconds (no seconds value reaches it before
/// the year 5138); AWS documents seconds, but millisecond values have been seen in the wild.
const MILLIS_THRESHOLD: u64 = 100_000_000_000;

fn seconds(raw: u64) -> i64 {
    let secs = if raw >= MILLIS_THRESHOLD {
        raw / 1000
    } else {
        raw
    };
    secs as i64
}

/// Parses `start`/`end` at `span` of `line` as Unix seconds, normalising epoch milliseconds
/// to seconds.
#[inline(always)]
pub(crate) fn unix_seconds_in(line: &[u8], span: Span) -> Option<i64> {
    unsigned_in(line, span, 63).map(seconds)
}

/// Parses the IPv4 or IPv6 address at `span` of `line` into its 128-bit form (see
/// [`crate::addr`]).
#[inline]
pub(crate) fn address_in(line: &[u8], span: Span) -> Option<Addr> {
    let (start, end) = (span.0 as usize, span.1 as usize);
    let len = end - start;
    if (7..=15).contains(&len) && end >= 16 {
        let word = u128::from_le_bytes(line[end - 16..end].try_into().expect("sixteen bytes"));
        if let Some(v4) = dotted_quad(word, len) {
            return Some(Addr::v4(v4));
        }
    }
    address_bits(&line[start..end])
}

/// Parses an IPv4 or IPv6 address into its 128-bit form.
fn address_bits(token: &[u8]) -> Option<Addr> {
    if let Some(v4) = ipv4(token) {
        return Some(Addr::v4(v4.into()));
    }
    ipv6(token).map(Addr)
}

/// Parses an IPv4 or IPv6 address (as written: `::ffff:1.2.3.4` stays IPv6).
pub(crate) fn address(token: &[u8]) -> Option<IpAddr> {
    if let Some(v4) = ipv4(token) {
        return Some(IpAddr::V4(v4));
    }
    ipv6(token).map(|bits| IpAddr::V6(Ipv6Addr::from(bits)))
}

const ONES_128: u128 = u128::from_le_bytes([1; 16]);
const HIGHS_128: u128 = ONES_128 * 0x80;

/// A dotted quad in the last `len` (7..=15) bytes of `word` (the first in the lowest byte),
/// as [`ipv4`] accepts it: its dots and digits found sixteen bytes at once, each octet read
/// from its last three bytes without a branch on its length.
#[inline(always)]
fn dotted_quad(word: u128, len: usize) -> Option<u32> {
    let skip = 16 - len;
    let token = HIGHS_128 << (8 * skip);
    let x = word ^ (ONES_128 * u128::from(b'.'));
    let dots = !(((x & !HIGHS_128).wrapping_add(!HIGHS_128)) | x) & token;
    let digits = (word ^ (ONES_128 * u128::from(b'0'))) & (!0u128 << (8 * skip));
    let not_digit = (digits | digits.wrapping_add(ONES_128 * 6)) & (ONES_128 * 0xF0);
    // Spread each byte's flag to its high bit to compare with `dots`.
    let not_digit = (not_digit | not_digit << 3 | not_digit << 2 | not_digit << 1) & token;
    // Exactly three dots (no popcount instruction in the x86-64 baseline).
    let rest = dots & dots.wrapping_sub(1);
    let last = rest & rest.wrapping_sub(1);
    if not_digit & !dots != 0 || last == 0 || last & last.wrapping_sub(1) != 0 {
        return None;
    }
    // Octet ends (byte indexes of the dots, then the end of the word).
    let first = (dots.trailing_zeros() / 8) as usize;
    let second = (rest.trailing_zeros() / 8) as usize;
    let third = (last.trailing_zeros() / 8) as usize;
    let byte = digits.to_le_bytes().map(u32::from);
    let mut bits = 0u32;
    let mut ok = true;
    for (from, to) in [
        (skip, first),
        (first + 1, second),
        (second + 1, third),
        (third + 1, 16),
    ] {
        let n = to - from;
        // Digits of a shorter octet are multiplied by 0 (whatever lies there): no branch.
        let value = byte[to - 1]
            + u32::from(n >= 2) * 10 * byte[to.wrapping_sub(2) & 15]
            + u32::from(n >= 3) * 100 * byte[to.wrapping_sub(3) & 15];
        let leading_zero = (n >= 2) & (byte[from & 15] == 0);
        ok &= (1..=3).contains(&n) & (value <= 255) & !leading_zero;
        bits = bits << 8 | (value & 0xff);
    }
    ok.then_some(bits)
}

/// Dotted-quad IPv4 without leading zeros beyond a single `0`, as AWS writes them.
fn ipv4(token: &[u8]) -> Option<Ipv4Addr> {
    if token.len() < 7 || token.len() > 15 {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut index = 0usize;
    let mut value: u32 = 0;
    let mut digits = 0u8;
    for &b in token {
        if b == b'.' {
            if digits == 0 || index == 3 {
                return None;
            }
            octets[index] = value as u8;
            index += 1;
            value = 0;
            digits = 0;
            continue;
        }
        let digit = b.wrapping_sub(b'0');
        if digit > 9 || digits == 3 || (digits == 1 && value == 0) {
            return None;
        }
        value = value * 10 + u32::from(digit);
        if value > 255 {
            return None;
        }
        digits += 1;
    }
    if digits == 0 || index != 3 {
        return None;
    }
    octets[3] = value as u8;
    Some(Ipv4Addr::from(octets))
}

fn hex_digit(b: u8) -> Option<u16> {
    match b {
        b'0'..=b'9' => Some(u16::from(b - b'0')),
        b'a'..=b'f' => Some(u16::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u16::from(b - b'A' + 10)),
        _ => None,
    }
}

/// An IPv6 address as the standard parser accepts it (groups of 1–4 hex digits, one `::`, an
/// embedded IPv4 in the last two groups), as 128 bits. Written out because the standard
/// parser, general and char-based, cost about 1,650 instructions per address in `make bench`
/// (a tenth of its sources are IPv6): this one costs about 200.
fn ipv6(text: &[u8]) -> Option<u128> {
    if text.len() < 2 || text.len() > 45 {
        return None;
    }
    let mut groups = [0u16; 8];
    let mut n = 0;
    let mut gap = None;
    let mut i = 0;
    if text.starts_with(b"::") {
        gap = Some(0);
        i = 2;
    }
    while i < text.len() {
        let start = i;
        let mut value = 0u16;
        while i < text.len() && i - start < 4 {
            let Some(h) = hex_digit(text[i]) else { break };
            value = value << 4 | h;
            i += 1;
        }
        if text.get(i) == Some(&b'.') {
            // An embedded IPv4 address ends the text and fills two groups.
            let v4 = u32::from(ipv4(&text[start..])?);
            if n > 6 {
                return None;
            }
            groups[n] = (v4 >> 16) as u16;
            groups[n + 1] = v4 as u16;
            n += 2;
            break;
        }
        if i == start || n == 8 {
            return None;
        }
        groups[n] = value;
        n += 1;
        match text.get(i) {
            None => break,
            Some(b':') => i += 1,
            Some(_) => return None,
        }
        if text.get(i) == Some(&b':') {
            if gap.is_some() {
                return None;
            }
            gap = Some(n);
            i += 1;
        } else if i == text.len() {
            return None; // a single trailing ':'
        }
    }
    match gap {
        None if n == 8 => {}
        Some(at) if n < 8 => {
            let tail = n - at;
            groups.copy_within(at..n, 8 - tail);
            groups[at..8 - tail].fill(0);
        }
        _ => return None,
    }
    Some(
        groups
            .iter()
            .fold(0u128, |bits, &g| bits << 16 | u128::from(g)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(line: &str) -> Vec<&str> {
        let mut tokens = Tokens::default();
        tokens.split(line.as_bytes());
        assert_eq!(tokens.spans().count(), tokens.len());
        tokens
            .spans()
            .map(|s| std::str::from_utf8(slice(line.as_bytes(), s)).unwrap())
            .collect()
    }

    #[test]
    fn split_tolerates_runs_of_spaces_and_edges() {
        assert_eq!(tokens("a b  c"), ["a", "b", "c"]);
        assert_eq!(tokens("  a b "), ["a", "b"]);
        assert!(tokens("").is_empty());
        assert!(tokens("   ").is_empty());
    }

    #[test]
    fn split_agrees_with_a_plain_split_on_every_alignment() {
        let line = "2 123456789010 eni-1235b8ca123456789  172.31.16.139 \u{a0}x 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK  ";
        let long = format!(
            "{line}{}{line} a b c d e f g h i j k l m n o p q r s t u v w x y z 1 2 3 4 5 6 7 8 9 {}",
            " ".repeat(70),
            "x".repeat(130)
        );
        for cut in 0..long.len() {
            let Some(text) = long.get(cut..) else {
                continue;
            };
            let expected: Vec<&str> = text.split(' ').filter(|t| !t.is_empty()).collect();
            assert_eq!(tokens(text), expected, "from {cut}");
        }
    }

    #[test]
    fn split_handles_a_token_per_byte_and_lines_of_whole_blocks() {
        let dense = "a ".repeat(200);
        assert_eq!(tokens(&dense).len(), 200);
        let exact = "x".repeat(63) + " " + &"y".repeat(64);
        assert_eq!(tokens(&exact), ["x".repeat(63), "y".repeat(64)]);
    }

    #[test]
    fn space_flags_mark_exactly_the_spaces() {
        let word = u64::from_le_bytes(*b" a  \xa0b \x00");
        assert_eq!(space_flags(word), 0x0080_0000_8080_0080);
        assert_eq!(gather_high_bits(space_flags(word)), 0b0100_1101);
    }

    #[test]
    fn space_mask_marks_exactly_the_spaces() {
        let mut block = [b'x'; BLOCK];
        for i in [0, 1, 7, 8, 15, 16, 31, 32, 47, 48, 62, 63] {
            block[i] = b' ';
        }
        block[20] = 0xa0;
        let expected = block
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b' ')
            .fold(0u64, |m, (i, _)| m | 1 << i);
        assert_eq!(space_mask(&block), expected);
    }

    /// Every token of `line` parsed through its span and through the token alone.
    fn both_ways(line: &str, bits: u8) -> Vec<(Option<u64>, Option<u64>)> {
        let mut tokens = Tokens::default();
        tokens.split(line.as_bytes());
        tokens
            .spans()
            .map(|s| {
                (
                    unsigned_in(line.as_bytes(), s, bits),
                    unsigned(slice(line.as_bytes(), s), bits),
                )
            })
            .collect()
    }

    #[test]
    fn unsigned_rejects_signs_overflow_and_junk() {
        assert_eq!(unsigned(b"0", 8), Some(0));
        assert_eq!(unsigned(b"255", 8), Some(255));
        assert_eq!(unsigned(b"256", 8), None);
        assert_eq!(unsigned(b"65535", 16), Some(65535));
        assert_eq!(unsigned(b"18446744073709551615", 64), Some(u64::MAX));
        assert_eq!(unsigned(b"18446744073709551616", 64), None);
        for bad in [&b""[..], b"-1", b"+1", b"1a", b" 1", b"1.5"] {
            assert_eq!(unsigned(bad, 64), None, "{bad:?}");
        }
    }

    #[test]
    fn unsigned_in_a_line_agrees_with_the_digit_loop() {
        let mut values: Vec<String> = (0..=20)
            .map(|n| "9876543210".repeat(2)[..n].to_owned())
            .collect();
        values.extend(
            [
                "0",
                "7",
                "10",
                "255",
                "256",
                "65535",
                "65536",
                "1418530010",
                "99999999",
                "100000000",
                "18446744073709551615",
                "18446744073709551616",
                "1a",
                "a1",
                "12x4",
                "4.5",
                "0x1F",
                "-",
                "+1",
                "1/",
                "1:",
                "\u{e9}1",
                "00000000000000000001",
            ]
            .map(String::from),
        );
        // Non-ASCII bytes right before a token must not leak into it.
        let line = format!(
            "\u{ffff}\u{ffff}\u{ffff}\u{ffff}x {}",
            values.join(" \u{ffff}\u{ff}")
        );
        let line = line.replace('\u{ff}', " ");
        for bits in [8, 16, 63, 64] {
            for (fast, slow) in both_ways(&line, bits) {
                assert_eq!(fast, slow, "{line}");
            }
        }
        assert_eq!(
            both_ways("12345678 1418530010", 64)[1].0,
            Some(1_418_530_010)
        );
    }

    #[test]
    fn unix_seconds_normalises_milliseconds() {
        let line = b"1566848875 1566848875123 164000066";
        assert_eq!(unix_seconds_in(line, (0, 10)), Some(1_566_848_875));
        assert_eq!(unix_seconds_in(line, (11, 24)), Some(1_566_848_875));
        assert_eq!(unix_seconds_in(line, (25, 34)), Some(164_000_066));
    }

    #[test]
    fn address_parses_both_families_and_rejects_junk() {
        assert_eq!(address(b"10.0.0.1"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(
            address(b"255.255.255.255"),
            Some("255.255.255.255".parse().unwrap())
        );
        assert_eq!(
            address(b"2a02:cf40::"),
            Some("2a02:cf40::".parse().unwrap())
        );
        assert_eq!(
            address(b"2001:db8:1234:a100:8d6e:3477:df66:f105"),
            Some("2001:db8:1234:a100:8d6e:3477:df66:f105".parse().unwrap())
        );
        for bad in [
            &b"256.0.0.1"[..],
            b"1.2.3",
            b"1.2.3.4.5",
            b"01.2.3.4",
            b"1..3.4",
            b"1.2.3.",
            b"-",
            b"eni-1",
            b"::g",
        ] {
            assert_eq!(address(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ipv4_fast_path_agrees_with_std() {
        for text in [
            "0.0.0.0",
            "1.2.3.4",
            "192.168.100.200",
            "10.0.0.255",
            "0.10.0.1",
        ] {
            assert_eq!(ipv4(text.as_bytes()), text.parse().ok(), "{text}");
        }
    }

    /// Pseudo-random numbers for the agreement tests (splitmix64).
    fn randoms(seed: u64) -> impl Iterator<Item = u64> {
        let mut state = seed;
        std::iter::repeat_with(move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let z = (state ^ (state >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
    }

    #[test]
    fn dotted_quads_in_a_line_agree_with_the_byte_loop() {
        let mut texts: Vec<String> = randoms(7)
            .take(3000)
            .map(|r| {
                let o = r.to_le_bytes();
                let octet = |b: u8| match b % 4 {
                    0 => b % 10,
                    1 => b % 100,
                    _ => b,
                };
                format!(
                    "{}.{}.{}.{}",
                    octet(o[0]),
                    octet(o[1]),
                    octet(o[2]),
                    octet(o[3])
                )
            })
            .collect();
        // Mutations: every byte of some addresses replaced by each interesting byte.
        let mut mutated = Vec::new();
        for text in texts.iter().take(40) {
            for i in 0..text.len() {
                for b in [b'.', b'0', b'9', b'/', b':', b'a', b' ', 0xff] {
                    let mut bytes = text.clone().into_bytes();
                    bytes[i] = b;
                    mutated.push(String::from_utf8_lossy(&bytes).into_owned());
                }
            }
        }
        texts.extend(mutated);
        texts.extend(
            [
                "1.2.3.04",
                "1.2.3.400",
                "255.255.255.256",
                "1.2.3.4.",
                ".1.2.3.4",
                "1.2..3",
                "1.2.3.4.5",
                "1.22.333.4",
                "00.1.2.3",
                "9.99.199.255",
            ]
            .map(String::from),
        );
        for text in &texts {
            let line = format!("\u{ffff}\u{ffff}\u{ffff}\u{ffff}\u{ffff}\u{ffff} {text}");
            let start = line.len() - text.len();
            let span = (start as u32, line.len() as u32);
            let expected = address_bits(text.as_bytes());
            assert_eq!(address_in(line.as_bytes(), span), expected, "{text:?}");
            if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                let std: Option<Ipv4Addr> = text.parse().ok();
                assert_eq!(expected, std.map(|a| Addr::v4(a.into())), "{text:?}");
            }
        }
    }

    #[test]
    fn ipv6_agrees_with_the_standard_parser() {
        let mut texts: Vec<String> = randoms(11)
            .take(2000)
            .flat_map(|r| {
                // Runs of zero groups so that `::` appears in many places.
                let zeros = (r >> 60) as u32;
                let bits = (u128::from(r) << 64 | u128::from(r.rotate_left(17)))
                    & !(((1u128 << (16 * (zeros % 8))) - 1) << (16 * (zeros / 2)));
                let a = Ipv6Addr::from(bits);
                [
                    a.to_string(),
                    format!("{:x?}", a.segments()).replace(", ", ":"),
                ]
            })
            .map(|t| t.trim_matches(['[', ']']).to_owned())
            .collect();
        texts.extend(
            [
                "::",
                "::1",
                "1::",
                "1::2",
                ":1",
                "1:",
                "1:::2",
                "::1::",
                "1:2:3:4:5:6:7:8",
                "1:2:3:4:5:6:7:8:9",
                "1:2:3:4:5:6:7::",
                "::2:3:4:5:6:7:8",
                "1:2:3:4:5:6::7:8",
                "12345::",
                "0000:0000::",
                "::ffff:203.0.113.7",
                "::203.0.113.7",
                "1:2:3:4:5:6:1.2.3.4",
                "1:2:3:4:5:6:7:1.2.3.4",
                "::1.2.3",
                "::1.2.3.04",
                "ABCD:ef01::",
                "g::",
                "2001:db8::1 ",
                "1.2.3.4",
                "::ffff:1.2.3.4:5",
                "1::2:3:4:5:6:7",
                "1::2:3:4:5:6:7:8",
            ]
            .map(String::from),
        );
        for text in &texts {
            let std: Option<Ipv6Addr> = text.parse().ok();
            assert_eq!(ipv6(text.as_bytes()), std.map(u128::from), "{text:?}");
        }
    }
}
