//! Allocation-free text formatting into a reusable byte buffer.

use std::io::Write as _;
use std::net::Ipv6Addr;

/// Appends the decimal form of `v`.
#[inline]
pub(crate) fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    if v < 10 {
        buf.push(b'0' + v as u8);
        return;
    }
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        tmp[i] = b'0' + v as u8;
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// "00" "01" … "99".
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// Appends the decimal form of a signed `v`.
#[inline]
pub(crate) fn push_i64(buf: &mut Vec<u8>, v: i64) {
    if v < 0 {
        buf.push(b'-');
    }
    push_u64(buf, v.unsigned_abs());
}

/// Appends the low `digits` nibbles of `v` as fixed-width lowercase hex.
#[inline]
pub(crate) fn push_hex(buf: &mut Vec<u8>, v: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        buf.push(HEX[((v >> (i * 4)) & 0xF) as usize]);
    }
}

/// Appends dotted-quad IPv4 text.
#[inline]
pub(crate) fn push_ipv4(buf: &mut Vec<u8>, a: u32) {
    for (i, octet) in a.to_be_bytes().into_iter().enumerate() {
        if i > 0 {
            buf.push(b'.');
        }
        push_u64(buf, u64::from(octet));
    }
}

/// Appends RFC 5952 IPv6 text (the standard library's canonical form).
#[inline]
pub(crate) fn push_ipv6(buf: &mut Vec<u8>, a: u128) {
    // Writing into a Vec cannot fail.
    let _ = write!(buf, "{}", Ipv6Addr::from(a));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut b = Vec::new();
        f(&mut b);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn integers_format_like_display() {
        for v in [0u64, 1, 9, 10, 99, 100, 65535, 1_700_000_000, u64::MAX] {
            assert_eq!(text(|b| push_u64(b, v)), v.to_string());
        }
        for v in [0i64, -1, -1_700_000_000, i64::MIN, i64::MAX] {
            assert_eq!(text(|b| push_i64(b, v)), v.to_string());
        }
    }

    #[test]
    fn hex_is_fixed_width_lowercase() {
        assert_eq!(text(|b| push_hex(b, 0xAB, 4)), "00ab");
        assert_eq!(text(|b| push_hex(b, u64::MAX, 16)), "ffffffffffffffff");
    }

    #[test]
    fn addresses_format_like_std() {
        assert_eq!(text(|b| push_ipv4(b, 0x0A00_0104)), "10.0.1.4");
        let v6: u128 = "2600:1f18::1".parse::<Ipv6Addr>().unwrap().into();
        assert_eq!(text(|b| push_ipv6(b, v6)), "2600:1f18::1");
    }
}
