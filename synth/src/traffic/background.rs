//! The busy, benign life of the modelled VPC: everything a flood detector must not blame.
//!
//! | actor | traffic (per minute, roughly) |
//! |---|---|
//! | 1,500 internet clients (some IPv6) | 0.2–6 HTTPS connections each to the web servers |
//! | 3 office NATs | 120–350 connections each to the web servers and the API |
//! | a partner without keep-alive | 600 completed connections to the API |
//! | a partner with a connection pool | 10 kept-alive connections, 150 requests/s |
//! | internet clients through the NLB | 800 connections spread over 3 targets; health checks |
//! | 6 app servers through the NAT gateway | 200 calls each to one third-party API (1,200 from the NAT) |
//! | app and web servers | connection pools to the database, cache and API (IPv6 too) |
//! | the monitor | polls 300 hosts every 30 s and pings them every minute |
//! | the backup host | uploads to S3 over 4 connections (~100 Mbit/s) |
//! | the downloader | downloads from S3 over 3 connections |
//! | 40 internet scanners | a few probes each on random ports, rejected |
//! | app servers | DNS queries to a public resolver, answered |

use super::capture::{Capture, Conn, End, Route, Tcp};
use super::vpc::{FLEET, Vpc, outside};
use crate::net;
use crate::rng::Rng;
use crate::write::Addr;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;

/// When traffic happens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub(crate) start: i64,
    pub(crate) minutes: u32,
}

impl Span {
    /// Start of minute `m`.
    pub(crate) fn minute(&self, m: u32) -> i64 {
        self.start + i64::from(m) * 60
    }

    /// Seconds covered.
    pub(crate) fn secs(&self) -> i64 {
        i64::from(self.minutes) * 60
    }
}

/// About `rate` arrivals in each minute (±20%), each at a random second of it.
pub(crate) fn arrivals(rng: &mut Rng, span: Span, rate: f64, mut each: impl FnMut(&mut Rng, i64)) {
    for m in 0..span.minutes {
        let jitter = 0.8 + 0.4 * rng.below(1000) as f64 / 1000.0;
        let n = (rate * jitter).round() as u64;
        for _ in 0..n {
            let t = span.minute(m) + rng.below(60) as i64;
            each(rng, t);
        }
    }
}

pub(crate) fn ephemeral(rng: &mut Rng) -> u16 {
    rng.range(32768, 60999) as u16
}

/// A short TCP exchange: `c2s`/`s2c` are (packets, bytes).
pub(crate) fn tcp(
    client: End,
    server: End,
    route: Route,
    start: i64,
    c2s: (u64, u64),
    s2c: (u64, u64),
) -> Conn {
    Conn {
        client,
        server,
        route,
        proto: TCP,
        tcp: Tcp::Complete,
        start,
        secs: 0,
        c2s,
        s2c,
        rejected: false,
    }
}

fn scaled(rng: &mut Rng, (packets, bytes): (u64, u64)) -> (u64, u64) {
    let f = 50 + rng.below(101);
    ((packets * f / 100).max(3), (bytes * f / 100).max(180))
}

/// A benign actor of the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// Internet clients of the web servers, IPv4 and IPv6.
    WebClients,
    /// Offices, each behind one NAT address.
    Offices,
    /// API partners: one without keep-alive, one with a connection pool.
    Partners,
    /// Clients through the network load balancer, and its health checks.
    LoadBalancer,
    /// App servers calling out through the NAT gateway (and DNS through it).
    NatGateway,
    /// Connection pools to the database, cache and API (IPv6 too).
    Pools,
    /// The monitor polling and pinging 300 hosts.
    Monitor,
    /// Backups up to S3 and downloads from it.
    Bulk,
    /// Internet scanners, rejected.
    Scanners,
}

impl Actor {
    /// Every actor.
    pub const ALL: [Actor; 9] = [
        Actor::WebClients,
        Actor::Offices,
        Actor::Partners,
        Actor::LoadBalancer,
        Actor::NatGateway,
        Actor::Pools,
        Actor::Monitor,
        Actor::Bulk,
        Actor::Scanners,
    ];
}

/// The `actors` of the background, their rates and volumes multiplied by `busy`.
pub(crate) fn add(
    vpc: &Vpc,
    seed: u64,
    span: Span,
    actors: &[Actor],
    busy: f64,
    capture: &mut Capture,
) {
    let enis = vpc.enis();
    let mut put = |c: Conn| capture.add(&c, &enis);
    let actor = |n: u64| Rng::new(seed ^ (0xB0B0 + n) << 20);
    let on = |a: Actor| actors.contains(&a);
    let volume = |n: u64| (n as f64 * busy).round() as u64;
    let minutes = u64::from(span.minutes);

    if on(Actor::WebClients) {
        // Internet clients of the web servers (a tenth over IPv6), heavy-tailed.
        let mut rng = actor(1);
        for i in 0..1_500u32 {
            let ipv6 = i % 10 == 0;
            let client = if ipv6 {
                Addr::V6(net::remote_v6(i))
            } else {
                Addr::V4(net::remote_v4(i))
            };
            let u = (1 + rng.below(1000)) as f64 / 1000.0;
            let rate = (0.2 * u.powf(-0.8)).min(6.0) * busy;
            let web = vpc.web[(i % 2) as usize];
            let server_addr = if ipv6 { vpc.v6(web) } else { vpc.v4(web) };
            arrivals(&mut rng, span, rate, |rng, t| {
                let port = if rng.chance(100) { 80 } else { 443 };
                let mut c = tcp(
                    End {
                        addr: client,
                        port: ephemeral(rng),
                    },
                    End {
                        addr: server_addr,
                        port,
                    },
                    Route::Inbound { server: web },
                    t,
                    scaled(rng, (12, 1_800)),
                    scaled(rng, (30, 40_000)),
                );
                c.secs = if rng.chance(50) {
                    rng.range(30, 240) as i64
                } else {
                    rng.below(20) as i64
                };
                put(c);
            });
        }
    }

    if on(Actor::Offices) {
        // Offices behind one NAT address each.
        let mut rng = actor(2);
        for (k, office) in outside::offices().into_iter().enumerate() {
            let rate = [120.0, 220.0, 350.0][k] * busy;
            arrivals(&mut rng, span, rate, |rng, t| {
                let (server, port) = if rng.chance(200) {
                    (vpc.api, 8443)
                } else {
                    (vpc.web[rng.below(2) as usize], 443)
                };
                let mut c = tcp(
                    End {
                        addr: office,
                        port: ephemeral(rng),
                    },
                    End {
                        addr: vpc.v4(server),
                        port,
                    },
                    Route::Inbound { server },
                    t,
                    scaled(rng, (10, 1_500)),
                    scaled(rng, (25, 30_000)),
                );
                c.secs = rng.below(30) as i64;
                put(c);
            });
        }
    }

    if on(Actor::Partners) {
        // A partner calling the API with a new connection per request...
        let mut rng = actor(3);
        arrivals(&mut rng, span, 600.0 * busy, |rng, t| {
            put(tcp(
                End {
                    addr: outside::partner(),
                    port: ephemeral(rng),
                },
                End {
                    addr: vpc.v4(vpc.api),
                    port: 8443,
                },
                Route::Inbound { server: vpc.api },
                t,
                (7, 1_100),
                (6, 2_400),
            ));
        });
        // ...and another over ten kept-alive connections, 150 requests a second in all.
        for k in 0..10u16 {
            let requests = volume(150 * 60 * minutes / 10);
            let mut c = tcp(
                End {
                    addr: outside::pooled_partner(),
                    port: 40_000 + k,
                },
                End {
                    addr: vpc.v4(vpc.api),
                    port: 8443,
                },
                Route::Inbound { server: vpc.api },
                span.start,
                (requests * 2, requests * (420 + 52)),
                (requests * 2, requests * (1_400 + 52)),
            );
            c.secs = span.secs() - 1;
            put(c);
        }
    }

    if on(Actor::LoadBalancer) {
        // Internet clients through the NLB to its three targets, and its health checks.
        let mut rng = actor(4);
        arrivals(&mut rng, span, 800.0 * busy, |rng, t| {
            let node = vpc.nlb[rng.below(2) as usize];
            let target = vpc.targets[rng.below(3) as usize];
            let client = Addr::V4(net::remote_v4(5_000 + rng.below(2_000) as u32));
            let mut c = tcp(
                End {
                    addr: client,
                    port: ephemeral(rng),
                },
                End {
                    addr: vpc.v4(target),
                    port: 443,
                },
                Route::Nlb {
                    nlb: node,
                    via: vpc.v4(node),
                    target,
                    target_port: 8080,
                },
                t,
                scaled(rng, (10, 1_400)),
                scaled(rng, (20, 20_000)),
            );
            c.secs = rng.below(10) as i64;
            put(c);
        });
        for node in vpc.nlb {
            for target in vpc.targets {
                for s in (0..span.secs()).step_by(10) {
                    let mut c = tcp(
                        End {
                            addr: vpc.v4(node),
                            port: ephemeral(&mut rng),
                        },
                        End {
                            addr: vpc.v4(target),
                            port: 8080,
                        },
                        Route::Internal {
                            client: node,
                            server: target,
                        },
                        span.start + s,
                        (3, 140),
                        (1, 60),
                    );
                    c.tcp = Tcp::HalfOpenRst;
                    put(c);
                }
            }
        }
    }

    if on(Actor::NatGateway) {
        // App servers calling a third-party API through the NAT gateway, and DNS.
        let mut rng = actor(5);
        let nat = vpc.v4(vpc.nat);
        for &app in &vpc.apps {
            arrivals(&mut rng, span, 200.0 * busy, |rng, t| {
                put(tcp(
                    End {
                        addr: vpc.v4(app),
                        port: ephemeral(rng),
                    },
                    End {
                        addr: outside::saas_api(),
                        port: 443,
                    },
                    Route::Nat {
                        client: app,
                        nat: vpc.nat,
                        via: nat,
                        port: rng.range(1024, 65535) as u16,
                    },
                    t,
                    scaled(rng, (9, 1_300)),
                    scaled(rng, (12, 9_000)),
                ));
            });
            arrivals(&mut rng, span, 30.0 * busy, |rng, t| {
                let mut c = tcp(
                    End {
                        addr: vpc.v4(app),
                        port: ephemeral(rng),
                    },
                    End {
                        addr: outside::dns(),
                        port: 53,
                    },
                    Route::Nat {
                        client: app,
                        nat: vpc.nat,
                        via: nat,
                        port: rng.range(1024, 65535) as u16,
                    },
                    t,
                    (1, 72),
                    (1, 140),
                );
                c.proto = UDP;
                put(c);
            });
        }
    }

    if on(Actor::Pools) {
        // Connection pools: apps to the database and cache, web servers to the API (apps over
        // IPv6 to the API, from one /64).
        let mut pool = |client: usize, server: usize, port: u16, ipv6: bool, k: u16| {
            let (ca, sa) = if ipv6 {
                (vpc.v6(client), vpc.v6(server))
            } else {
                (vpc.v4(client), vpc.v4(server))
            };
            let mut c = tcp(
                End {
                    addr: ca,
                    port: 50_000 + k,
                },
                End { addr: sa, port },
                Route::Internal { client, server },
                span.start,
                (volume(1_500 * minutes), volume(400_000 * minutes)),
                (volume(1_800 * minutes), volume(1_200_000 * minutes)),
            );
            c.secs = span.secs() - 1;
            put(c);
        };
        for (j, &app) in vpc.apps.iter().enumerate() {
            for k in 0..8 {
                pool(app, vpc.db, 5432, false, k);
                pool(app, vpc.cache, 6379, false, 100 + k);
                pool(app, vpc.api, 8080, true, 200 + k + j as u16);
            }
        }
        for web in vpc.web {
            for k in 0..6 {
                pool(web, vpc.api, 8080, false, 300 + k);
            }
        }
    }

    if on(Actor::Monitor) {
        // The monitor polls and pings the fleet.
        let mut rng = actor(6);
        let monitor = vpc.monitor;
        for (i, &host) in vpc.fleet.iter().enumerate().take(FLEET) {
            for s in (0..span.secs()).step_by(30) {
                let t = span.start + s + (i % 30) as i64;
                put(tcp(
                    End {
                        addr: vpc.v4(monitor),
                        port: ephemeral(&mut rng),
                    },
                    End {
                        addr: vpc.v4(host),
                        port: 9100,
                    },
                    Route::Internal {
                        client: monitor,
                        server: host,
                    },
                    t,
                    (6, 420),
                    (18, 24_000),
                ));
            }
            for m in 0..span.minutes {
                let mut c = tcp(
                    End {
                        addr: vpc.v4(monitor),
                        port: 0,
                    },
                    End {
                        addr: vpc.v4(host),
                        port: 0,
                    },
                    Route::Internal {
                        client: monitor,
                        server: host,
                    },
                    span.minute(m) + (i % 60) as i64,
                    (1, 84),
                    (1, 84),
                );
                c.proto = ICMP;
                put(c);
            }
        }
    }

    if on(Actor::Bulk) {
        // Bulk transfers: backups up to S3, downloads from it.
        for k in 0..4u16 {
            let mut c = tcp(
                End {
                    addr: vpc.v4(vpc.backup),
                    port: 45_000 + k,
                },
                End {
                    addr: outside::s3(),
                    port: 443,
                },
                Route::Outbound { client: vpc.backup },
                span.start,
                (volume(20_000 * minutes), volume(20_000 * 1_448 * minutes)),
                (volume(10_000 * minutes), volume(10_000 * 52 * minutes)),
            );
            c.secs = span.secs() - 1;
            put(c);
        }
        for k in 0..3u16 {
            let mut c = tcp(
                End {
                    addr: vpc.v4(vpc.downloader),
                    port: 46_000 + k,
                },
                End {
                    addr: outside::s3(),
                    port: 443,
                },
                Route::Outbound {
                    client: vpc.downloader,
                },
                span.start + 5,
                (volume(15_000 * minutes), volume(15_000 * 52 * minutes)),
                (volume(30_000 * minutes), volume(30_000 * 1_448 * minutes)),
            );
            c.secs = span.secs() - 10;
            put(c);
        }
    }

    if on(Actor::Scanners) {
        // Internet scanners knocking on random ports; the security groups drop them.
        let mut rng = actor(7);
        for i in 0..40u32 {
            let scanner = Addr::V4(net::remote_v4(1_000_000 + i));
            arrivals(&mut rng, span, (1.0 + f64::from(i % 5)) * busy, |rng, t| {
                let server = [vpc.web[0], vpc.web[1], vpc.api][rng.below(3) as usize];
                let port = rng.pick(&[22u16, 23, 3389, 445, 5900, 8080, 6379, 9200]);
                let mut c = tcp(
                    End {
                        addr: scanner,
                        port: ephemeral(rng),
                    },
                    End {
                        addr: vpc.v4(server),
                        port,
                    },
                    Route::Inbound { server },
                    t,
                    (1, 44),
                    (0, 0),
                );
                c.tcp = Tcp::HalfOpen;
                c.rejected = true;
                put(c);
            });
        }
    }
}
