//! Address plans: the VPC's own hosts, internet peers and AWS service ranges.
//!
//! Every mapping from an index to an address is injective over a large range, so a
//! pool of `n` sources really holds `n` distinct addresses. No pool ever produces an
//! address in 10.200.0.0/13, 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 or
//! 2001:db8::/32, which leaves those free for callers (flood sources, fixtures).

/// Subnets of the synthetic VPCs: two VPCs with one subnet in each of three AZs.
pub(crate) const SUBNETS: u32 = 6;

/// First octets used for internet peers (none of them AWS ranges or documentation nets).
const INTERNET_V4: [u32; 16] = [
    23, 31, 45, 62, 81, 89, 91, 103, 141, 151, 176, 185, 188, 193, 212, 217,
];

/// /16 ranges tagged with an AWS service name (first two octets, `pkt-*-aws-service`).
const SERVICE_V4: [(u32, u32, &str); 5] = [
    (52, 217, "S3"),
    (54, 210, "EC2"),
    (13, 33, "CLOUDFRONT"),
    (3, 218, "DYNAMODB"),
    (52, 216, "S3"),
];

/// /32 prefixes for internet IPv6 peers, each with a fixed middle 32 bits.
const INTERNET_V6: [(u32, u32); 4] = [
    (0x2a01_04f8, 0x0c17_2a1f),
    (0x2a00_1450, 0x4001_0816),
    (0x2606_4700, 0x0000_0003),
    (0x2001_067c, 0x1360_8001),
];

/// A bijection on the low `bits` bits of `x` (odd multiplies and xor-shifts modulo
/// 2^bits), used to scatter consecutive indices over an address range.
fn scramble_bits(x: u32, bits: u32) -> u32 {
    let mask = (1u32 << bits) - 1;
    let mut y = x.wrapping_add(0x5A_5A5A) & mask;
    y = y.wrapping_mul(0x9E37_79B1) & mask;
    y ^= y >> (bits / 2);
    y = y.wrapping_mul(0x85EB_CA6B) & mask;
    y ^ (y >> (bits / 3))
}

/// A bijection on u64 that never maps a small index to 0.
fn scramble64(x: u64) -> u64 {
    let y = x.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    y ^ (y >> 29)
}

/// The subnet (0..SUBNETS) a local host key lives in.
pub(crate) fn subnet_of(key: u32) -> u32 {
    key % SUBNETS
}

/// IPv4 address of local host `key`: 10.(16·subnet + hi).x.(4..=253).
pub(crate) fn local_v4(key: u32) -> u32 {
    let s = subnet_of(key);
    let idx = key / SUBNETS;
    let last = 4 + idx % 250;
    let rest = idx / 250;
    let third = rest % 256;
    let hi = (rest / 256) % 16;
    (10 << 24) | ((16 * s + hi) << 16) | (third << 8) | last
}

/// IPv6 address of local host `key`, inside 2600:1f18:4a3b:2a00::/56.
pub(crate) fn local_v6(key: u32) -> u128 {
    let s = subnet_of(key);
    let high: u64 = 0x2600_1f18_4a3b_2a00 + u64::from(s);
    (u128::from(high) << 64) | u128::from(scramble64(u64::from(key)))
}

/// IPv4 address of remote peer `r`: every tenth is an AWS service address.
pub(crate) fn remote_v4(r: u32) -> u32 {
    if r % 10 == 9 {
        let q = r / 10;
        let (a, b, _) = SERVICE_V4[(q % 4) as usize];
        (a << 24) | (b << 16) | scramble_bits(q / 4 + (q % 4) * 0x3C6F, 16)
    } else {
        let first = INTERNET_V4[(r % 16) as usize];
        (first << 24) | scramble_bits(r / 16 + (r % 16) * 0x9E_3779, 24)
    }
}

/// IPv6 address of remote peer `r`.
pub(crate) fn remote_v6(r: u32) -> u128 {
    let (prefix, mid) = INTERNET_V6[(r % 4) as usize];
    (u128::from(prefix) << 96) | (u128::from(mid) << 64) | u128::from(scramble64(u64::from(r / 4)))
}

/// The AWS service name AWS would write for an address, if any.
pub(crate) fn aws_service_v4(a: u32) -> Option<&'static str> {
    let (x, y) = (a >> 24, (a >> 16) & 0xFF);
    SERVICE_V4
        .iter()
        .find(|&&(p, q, _)| p == x && q == y)
        .map(|&(_, _, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn local_and_remote_pools_are_injective() {
        let n = 600_000u32;
        let v4: HashSet<u32> = (0..n).map(local_v4).chain((0..n).map(remote_v4)).collect();
        assert_eq!(v4.len(), 2 * n as usize);
        let v6: HashSet<u128> = (0..n).map(local_v6).chain((0..n).map(remote_v6)).collect();
        assert_eq!(v6.len(), 2 * n as usize);
    }

    #[test]
    fn pools_avoid_reserved_caller_ranges() {
        for r in 0..2_000_000u32 {
            let a = remote_v4(r);
            let l = local_v4(r);
            assert_eq!(l >> 24, 10);
            assert!((l >> 16) & 0xFF < 96, "local hosts stay below 10.96/11");
            for net in [0xC000_0200u32, 0xC633_6400, 0xCB00_7100] {
                assert_ne!(a & 0xFFFF_FF00, net);
            }
            assert_ne!(a >> 24, 10);
        }
    }

    #[test]
    fn service_ranges_are_recognised() {
        assert_eq!(aws_service_v4(remote_v4(9)), Some("S3"));
        assert_eq!(aws_service_v4(remote_v4(0)), None);
    }
}
