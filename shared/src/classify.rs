//! Who started a flow. With traffic type ALL every connection is logged once per direction (and
//! at every interface it crosses), so a record is either a **request** (client → server) or a
//! **reply** (server → client). Only requests say what a source does; replies belong to the
//! client that asked for them.
//!
//! The record itself tells which it is, in order of certainty:
//! 1. `tcp-flags` (OR-ed over the capture window): SYN-ACK is only ever sent by the side that
//!    accepts a connection; a SYN without it is sent by the side that opens one.
//! 2. Port roles: the server side listens on a service port (below 1024, or a well-known
//!    registered port), the client side sends from an ephemeral port. This is all the default
//!    format offers.

/// `tcp-flags` bits AWS logs (RST, 4, needs no name here).
pub(crate) const FIN: u8 = 0x01;
/// SYN.
pub(crate) const SYN: u8 = 0x02;
/// ACK: logged only together with SYN (SYN-ACK = 18).
pub(crate) const ACK: u8 = 0x10;
const SYN_ACK: u8 = SYN | ACK;

/// TCP, UDP and ICMP protocol numbers.
pub(crate) const TCP: u8 = 6;
/// UDP.
pub(crate) const UDP: u8 = 17;

/// Which way a record's packets went relative to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// From the side that opened the connection (or, without a connection notion, the sender).
    Request,
    /// From the side that accepted it.
    Reply,
}

/// Registered ports (1024 and above) that servers listen on: databases, caches, queues, web
/// and admin ports seen in VPCs. Below 1024 every port counts as a service port.
const SERVICE_PORTS: &[u16] = &[
    1080, 1194, 1433, 1521, 1883, 2049, 2181, 2375, 2376, 2379, 3000, 3128, 3268, 3306, 3389, 3478,
    4443, 4500, 5000, 5060, 5061, 5222, 5432, 5439, 5601, 5671, 5672, 5900, 5984, 6379, 6443, 6881,
    7001, 7199, 7474, 8000, 8008, 8080, 8081, 8086, 8088, 8200, 8443, 8500, 8883, 8888, 9000, 9042,
    9080, 9090, 9092, 9093, 9100, 9200, 9300, 9418, 9443, 10250, 11211, 15672, 27015, 27017, 50051,
    51820,
];

/// First port of the ephemeral range of Linux (32768–60999); Windows and the IANA range
/// (49152–65535) lie inside it.
const EPHEMERAL_FROM: u16 = 32768;

/// How strongly a port marks the server side: 0 = service port, 1 = other registered port,
/// 2 = ephemeral port.
fn rank(port: u16) -> u8 {
    if port < 1024 || SERVICE_PORTS.binary_search(&port).is_ok() {
        0
    } else if port < EPHEMERAL_FROM {
        1
    } else {
        2
    }
}

/// Whether a record is a request or a reply. `flags` is `tcp-flags`, and the ports the
/// ports, when the format has them (without both ports a record counts for its sender).
#[inline]
pub(crate) fn role(
    protocol: Option<u8>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    flags: Option<u8>,
) -> Role {
    match protocol {
        Some(TCP) => {
            if let Some(f) = flags {
                if f & SYN_ACK == SYN_ACK {
                    return Role::Reply;
                }
                if f & SYN != 0 {
                    return Role::Request;
                }
            }
            by_ports(src_port, dst_port)
        }
        // UDP and SCTP have ports; everything else (ICMP carries `0 0`) counts for its sender.
        Some(UDP | 132) => by_ports(src_port, dst_port),
        _ => Role::Request,
    }
}

/// The side on the more service-like port is the server; on a tie the lower port is.
#[inline]
fn by_ports(src_port: Option<u16>, dst_port: Option<u16>) -> Role {
    let (Some(src_port), Some(dst_port)) = (src_port, dst_port) else {
        return Role::Request;
    };
    let (s, d) = (rank(src_port), rank(dst_port));
    if d < s || (d == s && dst_port <= src_port) {
        Role::Request
    } else {
        Role::Reply
    }
}

/// A TCP request that never completed its handshake: a SYN, possibly answered by the client's
/// own RST (`tcp-flags` 2 or 6), no FIN, and no more packets than a SYN with retransmissions.
/// Without `tcp-flags` (the default format), a request of at most two packets of at most 80
/// bytes each, which a completed connection (SYN, ACK, FIN or RST) never is.
#[inline]
pub(crate) fn is_half_open(flags: Option<u8>, packets: u64, bytes: u64) -> bool {
    match flags {
        Some(f) => f & (SYN | FIN | ACK) == SYN && packets <= 4,
        None => packets <= 2 && bytes <= packets * 80,
    }
}

/// Whether a TCP request opens a connection in its window: a SYN when `tcp-flags` says so,
/// every request record otherwise (one record per 5-tuple and window).
#[inline]
pub(crate) fn opens_connection(flags: Option<u8>) -> bool {
    flags.is_none_or(|f| f & SYN != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ports_are_sorted_for_binary_search() {
        assert!(SERVICE_PORTS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn syn_ack_marks_the_reply_and_syn_the_request_whatever_the_ports() {
        // A client on a low port, a server on a high one: the flags decide.
        assert_eq!(
            role(Some(TCP), Some(80), Some(50000), Some(2)),
            Role::Request
        );
        assert_eq!(
            role(Some(TCP), Some(50000), Some(80), Some(18)),
            Role::Reply
        );
        assert_eq!(
            role(Some(TCP), Some(50000), Some(80), Some(19)),
            Role::Reply
        );
        assert_eq!(
            role(Some(TCP), Some(50000), Some(80), Some(27)),
            Role::Reply
        );
        assert_eq!(
            role(Some(TCP), Some(80), Some(50000), Some(3)),
            Role::Request
        );
        assert_eq!(
            role(Some(TCP), Some(80), Some(50000), Some(6)),
            Role::Request
        );
    }

    #[test]
    fn without_a_syn_the_ports_decide() {
        // Mid-connection windows (no SYN in them) and the default format.
        assert_eq!(
            role(Some(TCP), Some(51234), Some(443), Some(0)),
            Role::Request
        );
        assert_eq!(
            role(Some(TCP), Some(443), Some(51234), Some(1)),
            Role::Reply
        );
        assert_eq!(role(Some(TCP), Some(443), Some(51234), None), Role::Reply);
        assert_eq!(
            role(Some(TCP), Some(40000), Some(5432), None),
            Role::Request
        );
        assert_eq!(role(Some(TCP), Some(5432), Some(40000), None), Role::Reply);
        assert_eq!(role(Some(UDP), Some(53), Some(61000), None), Role::Reply);
        assert_eq!(role(Some(UDP), Some(61000), Some(53), None), Role::Request);
        // Registered but unknown port against an ephemeral one: the registered side serves.
        assert_eq!(role(Some(TCP), Some(12345), Some(40000), None), Role::Reply);
        // Two ephemeral ports, or two service ports: the lower one is the server.
        assert_eq!(
            role(Some(UDP), Some(50000), Some(40000), None),
            Role::Request
        );
        assert_eq!(role(Some(UDP), Some(123), Some(123), None), Role::Request);
    }

    #[test]
    fn icmp_and_other_protocols_count_for_their_sender() {
        assert_eq!(role(Some(1), Some(0), Some(0), None), Role::Request);
        assert_eq!(role(Some(58), Some(0), Some(0), None), Role::Request);
        assert_eq!(role(Some(47), Some(0), Some(0), None), Role::Request);
        assert_eq!(role(None, Some(0), Some(0), None), Role::Request);
    }

    #[test]
    fn without_both_ports_a_record_counts_for_its_sender() {
        assert_eq!(role(Some(TCP), None, Some(443), None), Role::Request);
        assert_eq!(role(Some(UDP), Some(53), None, None), Role::Request);
    }

    #[test]
    fn half_open_is_a_lone_syn_with_or_without_rst() {
        assert!(is_half_open(Some(2), 1, 44));
        assert!(is_half_open(Some(6), 2, 84));
        assert!(!is_half_open(Some(3), 4, 200), "SYN+FIN completed");
        assert!(
            !is_half_open(Some(2), 3000, 180_000),
            "first window of a long connection"
        );
        assert!(!is_half_open(Some(0), 1, 40), "no SYN in the window");
        assert!(is_half_open(None, 1, 60));
        assert!(!is_half_open(None, 5, 400));
    }
}
