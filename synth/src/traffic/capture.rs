//! How VPC Flow Logs see a connection: one record per interface it crosses, per direction, per
//! capture window of that interface, with `tcp-flags` OR-ed over the window and packets of one
//! 5-tuple in a window merged into one record.

use std::collections::HashMap;

use crate::write::{Addr, Host, Rec, Status};

/// `tcp-flags` bits.
const FIN: u8 = 1;
const SYN: u8 = 2;
const RST: u8 = 4;
const SYN_ACK: u8 = 18;

/// An interface of the modelled VPC.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Eni {
    /// Identity (interface, subnet, instance ids derive from it) and kind.
    pub(crate) host: Host,
    /// Capture window: 60 s on Nitro instances, 600 s (the default) elsewhere.
    pub(crate) window: i64,
    /// Offset of its windows from the minute.
    pub(crate) phase: i64,
}

/// One end of a connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct End {
    pub(crate) addr: Addr,
    pub(crate) port: u16,
}

/// How a connection crosses the VPC (indices into the model's interfaces).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Route {
    /// Both ends are hosts of the VPC.
    Internal { client: usize, server: usize },
    /// From the internet to a host with a public address.
    Inbound { server: usize },
    /// From a host with a public address (or through a gateway endpoint) out.
    Outbound { client: usize },
    /// From a private host to the internet through a NAT gateway (`via` = its private address,
    /// `port` = the translated source port).
    Nat {
        client: usize,
        nat: usize,
        via: Addr,
        port: u16,
    },
    /// From the internet through a network load balancer node (`via`) to a target, with
    /// client IP preservation.
    Nlb {
        nlb: usize,
        via: Addr,
        target: usize,
        target_port: u16,
    },
}

/// How a TCP connection went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tcp {
    /// Handshake, data, FIN.
    Complete,
    /// A SYN answered by SYN-ACKs and never followed up.
    HalfOpen,
    /// A SYN whose SYN-ACK the client answers with RST.
    HalfOpenRst,
}

/// One connection (or, for ICMP and UDP, one exchange between two ends).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conn {
    pub(crate) client: End,
    pub(crate) server: End,
    pub(crate) route: Route,
    pub(crate) proto: u8,
    pub(crate) tcp: Tcp,
    pub(crate) start: i64,
    /// Seconds from first to last packet.
    pub(crate) secs: i64,
    pub(crate) c2s: (u64, u64),
    /// Packets and bytes back; (0, 0) when nothing answers.
    pub(crate) s2c: (u64, u64),
    /// The server's security group drops it (logged REJECT at the server's interface).
    pub(crate) rejected: bool,
}

/// One direction of a connection at one interface.
struct Leg {
    eni: usize,
    src: End,
    dst: End,
    pkt_src: Addr,
    pkt_dst: Addr,
    ingress: bool,
    /// Client to server (else the reply direction).
    forward: bool,
    reject: bool,
}

fn leg(eni: usize, src: End, dst: End, ingress: bool, forward: bool) -> Leg {
    Leg {
        eni,
        src,
        dst,
        pkt_src: src.addr,
        pkt_dst: dst.addr,
        ingress,
        forward,
        reject: false,
    }
}

impl Conn {
    fn legs(&self) -> Vec<Leg> {
        let (c, s) = (self.client, self.server);
        let mut legs = match self.route {
            Route::Internal { client, server } => vec![
                leg(client, c, s, false, true),
                leg(client, s, c, true, false),
                leg(server, c, s, true, true),
                leg(server, s, c, false, false),
            ],
            Route::Inbound { server } => vec![
                leg(server, c, s, true, true),
                leg(server, s, c, false, false),
            ],
            Route::Outbound { client } => vec![
                leg(client, c, s, false, true),
                leg(client, s, c, true, false),
            ],
            Route::Nat {
                client,
                nat,
                via,
                port,
            } => {
                let outside = End { addr: via, port };
                let mut to_nat = leg(
                    nat,
                    c,
                    End {
                        addr: via,
                        port: s.port,
                    },
                    true,
                    true,
                );
                to_nat.pkt_dst = s.addr;
                let mut back = leg(
                    nat,
                    End {
                        addr: via,
                        port: s.port,
                    },
                    c,
                    false,
                    false,
                );
                back.pkt_src = s.addr;
                vec![
                    leg(client, c, s, false, true),
                    leg(client, s, c, true, false),
                    to_nat,
                    leg(nat, outside, s, false, true),
                    leg(nat, s, outside, true, false),
                    back,
                ]
            }
            Route::Nlb {
                nlb,
                via,
                target,
                target_port,
            } => {
                // `server` is the target's address with the listener's port; the node forwards
                // from the client's own port (client IP preservation).
                let listener = End {
                    addr: via,
                    port: s.port,
                };
                let node = End {
                    addr: via,
                    port: c.port,
                };
                let tgt = End {
                    addr: s.addr,
                    port: target_port,
                };
                let mut fwd = leg(nlb, node, tgt, false, true);
                fwd.pkt_src = c.addr;
                let mut ret = leg(nlb, tgt, node, true, false);
                ret.pkt_dst = c.addr;
                let mut at_target = leg(target, node, tgt, true, true);
                at_target.pkt_src = c.addr;
                let mut from_target = leg(target, tgt, node, false, false);
                from_target.pkt_dst = c.addr;
                vec![
                    leg(nlb, c, listener, true, true),
                    fwd,
                    ret,
                    leg(nlb, listener, c, false, false),
                    at_target,
                    from_target,
                ]
            }
        };
        if self.rejected {
            // Dropped on arrival at the server: logged there as REJECT, never answered.
            legs.retain(|l| l.forward);
            let last = legs.len() - 1;
            legs[last].reject = true;
        }
        if self.s2c.0 == 0 {
            legs.retain(|l| l.forward);
        }
        legs
    }
}

/// Identity of a record for merging: interface, 5-tuple, capture window.
type Key = (usize, u128, u128, u16, u16, u8, i64, bool);

/// Collects the records of many connections, merging those that share a key.
#[derive(Default)]
pub(crate) struct Capture {
    records: Vec<Rec>,
    index: HashMap<Key, usize>,
}

fn bits(a: Addr) -> u128 {
    match a {
        Addr::V4(v) => u128::from(v),
        Addr::V6(v) => v | 1 << 127,
    }
}

impl Capture {
    /// Adds every record of `conn` as the interfaces `enis` capture it.
    pub(crate) fn add(&mut self, conn: &Conn, enis: &[Eni]) {
        for leg in conn.legs() {
            let eni = enis[leg.eni];
            let (packets, bytes) = if leg.forward { conn.c2s } else { conn.s2c };
            let end = conn.start + conn.secs;
            let first = window_start(conn.start, eni);
            let windows = ((window_start(end, eni) - first) / eni.window + 1) as usize;
            let span = (conn.secs + 1) as u64;
            let (mut done_p, mut done_b) = (0u64, 0u64);
            for w in 0..windows {
                let ws = first + w as i64 * eni.window;
                let from = conn.start.max(ws);
                let to = end.min(ws + eni.window - 1);
                // Cumulative shares keep the totals exact.
                let through = (to - conn.start + 1) as u64;
                let p = packets * through / span - done_p;
                let b = bytes * through / span - done_b;
                done_p += p;
                done_b += b;
                if p == 0 {
                    continue;
                }
                let mut flags = 0u8;
                if conn.proto == 6 {
                    let (is_first, is_last) = (w == 0, w + 1 == windows);
                    flags = match (leg.forward, conn.tcp) {
                        (true, Tcp::Complete) => {
                            (u8::from(is_first) * SYN) | (u8::from(is_last) * FIN)
                        }
                        (true, Tcp::HalfOpen) => SYN,
                        (true, Tcp::HalfOpenRst) => SYN | RST,
                        (false, Tcp::Complete) => {
                            (u8::from(is_first) * SYN_ACK) | (u8::from(is_last) * FIN)
                        }
                        (false, _) => SYN_ACK,
                    };
                }
                // First and last packet of the window, logged up to a minute late (AWS says
                // so; Nitro interfaces are quicker).
                let lag_max = if eni.window > 60 { 60 } else { 5 };
                let lag = (eni.host.h.wrapping_add(ws as u64) % (lag_max + 1)) as i64;
                let (start, stop) = (from + lag, to + lag);
                let key: Key = (
                    leg.eni,
                    bits(leg.src.addr),
                    bits(leg.dst.addr),
                    leg.src.port,
                    leg.dst.port,
                    conn.proto,
                    ws,
                    leg.pkt_src != leg.src.addr,
                );
                match self.index.get(&key) {
                    Some(&i) => {
                        let r = &mut self.records[i];
                        r.packets += p;
                        r.bytes += b;
                        r.flags |= flags;
                        r.start = r.start.min(start);
                        r.end = r.end.max(stop);
                    }
                    None => {
                        self.index.insert(key, self.records.len());
                        self.records.push(Rec {
                            index: self.records.len() as u64,
                            status: Status::Ok,
                            owner: 0,
                            eni: eni.host,
                            src: leg.src.addr,
                            dst: leg.dst.addr,
                            pkt_src: leg.pkt_src,
                            pkt_dst: leg.pkt_dst,
                            srcport: leg.src.port,
                            dstport: leg.dst.port,
                            proto: conn.proto,
                            packets: p,
                            bytes: b,
                            start,
                            end: stop,
                            reject: leg.reject,
                            flags,
                            ingress: leg.ingress,
                            path: if leg.ingress { 0 } else { 1 },
                            bpa: false,
                            encryption: 0,
                            next_hop: None,
                        });
                    }
                }
            }
        }
    }

    /// The records in the order a file would hold them: by end of capture, then interface.
    pub(crate) fn into_records(mut self) -> Vec<Rec> {
        self.records.sort_by_key(|r| (r.end, r.eni.h, r.index));
        self.records
    }
}

fn window_start(t: i64, eni: Eni) -> i64 {
    t - (t - eni.phase).rem_euclid(eni.window)
}
