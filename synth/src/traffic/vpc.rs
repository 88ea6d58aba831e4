//! The modelled VPC: its interfaces and addresses, and the outside world it talks to.
//!
//! | subnet | hosts |
//! |---|---|
//! | 10.0.0.0/24 public | NAT gateway 10.0.0.220, NLB nodes 10.0.0.50 and .51 |
//! | 10.0.1.0/24 web | web1 10.0.1.10 (Nitro), web2 10.0.1.11 (600 s capture), both dual-stack |
//! | 10.0.2.0/24 app | api 10.0.2.20, NLB targets .31–.33, app servers .41–.46 (IPv6 in api's /64) |
//! | 10.0.3.0/24 data | db 10.0.3.10, cache 10.0.3.11 |
//! | 10.0.4.0/24 ops | monitor 10.0.4.5, backup 10.0.4.6, downloader 10.0.4.7 |
//! | 10.0.5.0–10.0.6.255 | a fleet of 300 hosts the monitor polls |

use crate::rng::mix64;
use crate::write::{Addr, Host, Kind};

use super::capture::Eni;

/// IPv6 prefix of the VPC (a /56; subnet n is its n-th /64).
const VPC_V6: u128 = 0x2600_1f18_4a3b_2a00 << 64;

/// Hosts in the fleet the monitor polls.
pub(crate) const FLEET: usize = 300;

pub(crate) fn v4(a: u8, b: u8, c: u8, d: u8) -> Addr {
    Addr::V4(u32::from_be_bytes([a, b, c, d]))
}

fn v6(subnet: u128, host: u128) -> Addr {
    Addr::V6(VPC_V6 | subnet << 64 | host)
}

/// An interface and the addresses it owns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    pub(crate) eni: Eni,
    pub(crate) v4: Addr,
    pub(crate) v6: Option<Addr>,
}

/// Indices of the named hosts in [`Vpc::nodes`].
#[derive(Debug, Clone)]
pub(crate) struct Vpc {
    pub(crate) nodes: Vec<Node>,
    pub(crate) nat: usize,
    pub(crate) nlb: [usize; 2],
    pub(crate) web: [usize; 2],
    pub(crate) api: usize,
    pub(crate) targets: [usize; 3],
    pub(crate) apps: Vec<usize>,
    pub(crate) db: usize,
    pub(crate) cache: usize,
    pub(crate) monitor: usize,
    pub(crate) backup: usize,
    pub(crate) downloader: usize,
    pub(crate) fleet: Vec<usize>,
}

impl Vpc {
    pub(crate) fn new(seed: u64) -> Vpc {
        let mut nodes = Vec::new();
        let mut add = |kind: Kind, subnet: u32, window: i64, v4: Addr, v6: Option<Addr>| {
            let h = mix64(seed ^ mix64(0xE41 + nodes.len() as u64));
            nodes.push(Node {
                eni: Eni {
                    host: Host { h, kind, subnet },
                    window,
                    phase: (h % 60) as i64,
                },
                v4,
                v6,
            });
            nodes.len() - 1
        };
        let nat = add(Kind::NatGateway, 0, 60, v4(10, 0, 0, 220), None);
        let nlb = [
            add(Kind::LoadBalancer, 0, 60, v4(10, 0, 0, 50), None),
            add(Kind::LoadBalancer, 3, 60, v4(10, 0, 0, 51), None),
        ];
        let web = [
            add(Kind::Ec2, 1, 60, v4(10, 0, 1, 10), Some(v6(1, 0x10))),
            add(Kind::Ec2, 4, 600, v4(10, 0, 1, 11), Some(v6(1, 0x11))),
        ];
        let api = add(Kind::Ec2, 2, 60, v4(10, 0, 2, 20), Some(v6(2, 0x20)));
        let targets = [31, 32, 33].map(|d| add(Kind::EcsFargate, 2, 60, v4(10, 0, 2, d), None));
        let apps: Vec<usize> = (41..=46)
            .map(|d| {
                add(
                    Kind::Ec2,
                    2,
                    if d % 2 == 0 { 60 } else { 600 },
                    v4(10, 0, 2, d),
                    Some(v6(2, u128::from(d))),
                )
            })
            .collect();
        let db = add(Kind::Ec2, 3, 60, v4(10, 0, 3, 10), None);
        let cache = add(Kind::Ec2, 3, 600, v4(10, 0, 3, 11), None);
        let monitor = add(Kind::Ec2, 4, 60, v4(10, 0, 4, 5), None);
        let backup = add(Kind::Ec2, 4, 60, v4(10, 0, 4, 6), None);
        let downloader = add(Kind::Ec2, 4, 600, v4(10, 0, 4, 7), None);
        let fleet = (0..FLEET)
            .map(|i| {
                let window = if i % 3 == 0 { 600 } else { 60 };
                add(
                    Kind::Ec2,
                    5,
                    window,
                    v4(10, 0, 5 + (i / 250) as u8, 1 + (i % 250) as u8),
                    None,
                )
            })
            .collect();
        Vpc {
            nodes,
            nat,
            nlb,
            web,
            api,
            targets,
            apps,
            db,
            cache,
            monitor,
            backup,
            downloader,
            fleet,
        }
    }

    pub(crate) fn enis(&self) -> Vec<Eni> {
        self.nodes.iter().map(|n| n.eni).collect()
    }

    pub(crate) fn v4(&self, i: usize) -> Addr {
        self.nodes[i].v4
    }

    pub(crate) fn v6(&self, i: usize) -> Addr {
        self.nodes[i].v6.expect("a dual-stack host")
    }
}

/// Fixed outside addresses of the model.
pub(crate) mod outside {
    use super::v4;
    use crate::write::Addr;

    /// Offices behind one NAT address each, using the web site and the API all day.
    pub(crate) fn offices() -> [Addr; 3] {
        [
            v4(81, 2, 69, 142),
            v4(89, 187, 160, 4),
            v4(141, 101, 64, 10),
        ]
    }
    /// A partner calling the API without keep-alive: a new connection per request.
    pub(crate) fn partner() -> Addr {
        v4(185, 199, 108, 50)
    }
    /// A partner calling the API over a pool of kept-alive connections.
    pub(crate) fn pooled_partner() -> Addr {
        v4(185, 199, 108, 51)
    }
    /// The third-party API the app servers call through the NAT gateway.
    pub(crate) fn saas_api() -> Addr {
        v4(104, 18, 32, 7)
    }
    /// An S3 address (backups go to it, downloads come from it).
    pub(crate) fn s3() -> Addr {
        v4(52, 216, 148, 21)
    }
    /// A public DNS resolver.
    pub(crate) fn dns() -> Addr {
        v4(8, 8, 8, 8)
    }
}
