//! Splitting a record line into tokens and reading typed values from them, without allocating.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Byte range of one token inside its line.
pub(crate) type Span = (u32, u32);

/// Splits `line` on runs of ASCII spaces into `spans` (cleared first). Leading and trailing
/// spaces are ignored, so a doubled separator does not create an empty field.
#[inline]
pub(crate) fn split(line: &[u8], spans: &mut Vec<Span>) {
    spans.clear();
    let mut start = 0usize;
    let mut push = |space: usize| {
        if space > start {
            spans.push((start as u32, space as u32));
        }
        start = space + 1;
    };
    let scanned = scan_blocks(line, &mut push);
    for (i, &b) in line.iter().enumerate().skip(scanned) {
        if b == b' ' {
            push(i);
        }
    }
    if line.len() > start {
        spans.push((start as u32, line.len() as u32));
    }
}

/// Calls `found` with the index of every space in the leading whole 16-byte blocks of `line`
/// (SSE2, part of every x86-64 CPU); returns how many bytes it covered.
#[cfg(target_arch = "x86_64")]
#[inline]
fn scan_blocks(line: &[u8], found: &mut impl FnMut(usize)) -> usize {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let blocks = line.len() / 16;
    // SAFETY: SSE2 is in the x86-64 baseline; every load reads 16 bytes inside `line`.
    unsafe {
        let spaces = _mm_set1_epi8(b' ' as i8);
        for block in 0..blocks {
            let bytes = _mm_loadu_si128(line.as_ptr().add(block * 16) as *const __m128i);
            let mut mask = _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, spaces)) as u32;
            while mask != 0 {
                found(block * 16 + mask.trailing_zeros() as usize);
                mask &= mask - 1;
            }
        }
    }
    blocks * 16
}

/// Portable fallback: eight bytes at a time, flagging the bytes equal to b' '.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn scan_blocks(line: &[u8], found: &mut impl FnMut(usize)) -> usize {
    let words = line.len() / 8;
    for w in 0..words {
        let bytes: [u8; 8] = line[w * 8..w * 8 + 8].try_into().expect("eight bytes");
        let mut flags = space_flags(u64::from_le_bytes(bytes));
        while flags != 0 {
            found(w * 8 + (flags.trailing_zeros() / 8) as usize);
            flags &= flags - 1;
        }
    }
    words * 8
}

/// The high bit of each byte of the result is set exactly where `word` holds a space.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline]
fn space_flags(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
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

/// Parses a decimal unsigned integer of at most `bits` bits (no sign, no spaces, no overflow).
#[inline]
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
    if bits < 64 && value >> bits != 0 {
        return None;
    }
    Some(value)
}

/// Values at or above this are taken for epoch milliseconds (no seconds value reaches it before
/// the year 5138); AWS documents seconds, but millisecond values have been seen in the wild.
const MILLIS_THRESHOLD: u64 = 100_000_000_000;

/// Parses `start`/`end` as Unix seconds, normalising epoch milliseconds to seconds.
#[inline]
pub(crate) fn unix_seconds(token: &[u8]) -> Option<i64> {
    let raw = unsigned(token, 63)?;
    let secs = if raw >= MILLIS_THRESHOLD {
        raw / 1000
    } else {
        raw
    };
    Some(secs as i64)
}

/// Parses an IPv4 or IPv6 address into its 128-bit form (see [`crate::addr`]).
#[inline]
pub(crate) fn address_bits(token: &[u8]) -> Option<crate::addr::Addr> {
    if let Some(v4) = ipv4(token) {
        return Some(crate::addr::Addr::v4(v4.into()));
    }
    if token.len() > 45 || !token.contains(&b':') {
        return None;
    }
    let text = std::str::from_utf8(token).ok()?;
    text.parse::<Ipv6Addr>()
        .ok()
        .map(|a| crate::addr::Addr(a.into()))
}

/// Parses an IPv4 or IPv6 address (IPv4 through a fast path, IPv6 through the standard parser).
#[inline]
pub(crate) fn address(token: &[u8]) -> Option<IpAddr> {
    if let Some(v4) = ipv4(token) {
        return Some(IpAddr::V4(v4));
    }
    if token.len() > 45 || !token.contains(&b':') {
        return None;
    }
    let text = std::str::from_utf8(token).ok()?;
    text.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// Dotted-quad IPv4 without leading zeros beyond a single `0`, as AWS writes them.
#[inline]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(line: &str) -> Vec<&str> {
        let mut spans = Vec::new();
        split(line.as_bytes(), &mut spans);
        spans
            .iter()
            .map(|&s| std::str::from_utf8(slice(line.as_bytes(), s)).unwrap())
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
        for cut in 0..line.len() {
            let Some(text) = line.get(cut..) else {
                continue;
            };
            let expected: Vec<&str> = text.split(' ').filter(|t| !t.is_empty()).collect();
            assert_eq!(tokens(text), expected, "from {cut}");
        }
    }

    #[test]
    fn space_flags_mark_exactly_the_spaces() {
        let word = u64::from_le_bytes(*b" a  \xa0b \x00");
        assert_eq!(space_flags(word), 0x0080_0000_8080_0080);
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
    fn unix_seconds_normalises_milliseconds() {
        assert_eq!(unix_seconds(b"1566848875"), Some(1_566_848_875));
        assert_eq!(unix_seconds(b"1566848875123"), Some(1_566_848_875));
        assert_eq!(unix_seconds(b"164000066"), Some(164_000_066));
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
}
