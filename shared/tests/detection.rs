//! The flood verdict on flow logs shaped like a real VPC's (`flowlog_synth::traffic`): every
//! planted attack is found, and nothing else is. Each test prints one `DETECTION|` row (case,
//! format, planted, found, false alerts) for the detection table.

use std::collections::BTreeSet;
use std::net::IpAddr;

use flowlog_core::{
    AggregateOptions, Aggregator, Attribution, Detection, FloodRules, ScanOptions, scan,
};
use flowlog_synth::formats;
use flowlog_synth::traffic::{Actor, Attack, Planted, Scenario, Subject, Victim};

/// 2025-11-24 16:00 UTC: a whole minute, recent enough for any publishing test.
const START: i64 = 1_764_000_000;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn format_name(fields: &[&str]) -> &'static str {
    if fields == formats::DEFAULT_V2 {
        "default v2"
    } else if fields == formats::V3_EXAMPLE {
        "v3 (no flow-direction)"
    } else {
        "v5"
    }
}

/// Who each finding is about, with its rule.
fn found(d: &Detection) -> BTreeSet<(String, String)> {
    let sources = d
        .floods
        .iter()
        .map(|f| (f.source.to_string(), f.rule.to_string()));
    let targets = d
        .targets
        .iter()
        .map(|t| (format!("target {}", t.target), t.rule.to_string()));
    sources.chain(targets).collect()
}

fn expected(s: &Scenario) -> BTreeSet<(String, String)> {
    s.expected()
        .into_iter()
        .map(|e| match e.subject {
            Subject::Source(s) => (s, e.rule.to_string()),
            Subject::Target(t) => (format!("target {t}"), e.rule.to_string()),
        })
        .collect()
}

/// Streams the scenario's object into an aggregation (the writer runs on its own thread, so
/// even a storm of millions of records is never held in memory) and applies the rules.
fn detect_in(s: &Scenario, options: AggregateOptions) -> (Detection, Aggregator) {
    let (reader, writer) = std::io::pipe().unwrap();
    let scenario = s.clone();
    let producer =
        std::thread::spawn(move || scenario.write(std::io::BufWriter::new(writer)).unwrap());
    let mut aggregator = Aggregator::new(options);
    let report = scan(reader, &ScanOptions::default(), &mut aggregator).unwrap();
    let truth = producer.join().unwrap();
    assert_eq!(report.records, truth.records);
    assert_eq!(
        report.skipped.total(),
        0,
        "the model writes only valid records"
    );
    (
        flowlog_core::detect(&aggregator, &FloodRules::default()),
        aggregator,
    )
}

/// Asserts both sides, every planted flooder found and no other finding, and prints the row.
fn check_with(case: &str, s: &Scenario, options: AggregateOptions) -> Detection {
    let (detection, _) = detect_in(s, options);
    let want = expected(s);
    let got = found(&detection);
    let hits = want.intersection(&got).count();
    let false_alerts: Vec<_> = got.difference(&want).collect();
    let fields: Vec<&str> = s.fields.iter().map(String::as_str).collect();
    println!(
        "DETECTION| {case} | {} | {} | {} | {} |",
        format_name(&fields),
        want.len(),
        hits,
        false_alerts.len()
    );
    assert_eq!(
        got,
        want,
        "{case} in {}: found vs planted",
        format_name(&fields)
    );
    detection
}

fn check(case: &str, s: &Scenario) -> Detection {
    check_with(case, s, AggregateOptions::default())
}

fn in_both_formats(case: &str, attack: impl Into<Planted> + Clone) {
    for fields in [formats::V5_ALL, formats::DEFAULT_V2] {
        check(case, &Scenario::new(fields, START).with(attack.clone()));
    }
}

#[test]
fn a_completed_connection_flood_of_5000_a_minute_is_found() {
    in_both_formats(
        "completed-connection flood, 5,000/min",
        Attack::ConnectionFlood {
            source: ip("203.0.113.7"),
            per_minute: 5_000,
            victim: Victim::Web,
        },
    );
}

#[test]
fn a_request_flood_over_kept_alive_connections_is_found() {
    in_both_formats(
        "keep-alive request flood, 2,000 req/s on 8 connections",
        Attack::RequestFlood {
            source: ip("203.0.113.8"),
            per_second: 2_000,
            connections: 8,
            victim: Victim::Web2,
        },
    );
}

#[test]
fn a_udp_flood_from_random_ports_is_found() {
    in_both_formats(
        "UDP flood, random source ports, 120k pkt/min",
        Attack::UdpFlood {
            source: ip("203.0.113.9"),
            packets_per_minute: 120_000,
            one_tuple: false,
            victim: Victim::Web,
        },
    );
}

#[test]
fn a_udp_flood_in_one_five_tuple_is_found() {
    in_both_formats(
        "UDP flood, one 5-tuple, 300k pkt/min (600 s capture)",
        Attack::UdpFlood {
            source: ip("198.51.100.23"),
            packets_per_minute: 300_000,
            one_tuple: true,
            victim: Victim::Web2,
        },
    );
}

#[test]
fn an_icmp_flood_is_found_and_its_answering_victim_is_not_blamed() {
    in_both_formats(
        "ICMP flood, 30k pkt/min, answered",
        Attack::IcmpFlood {
            source: ip("203.0.113.10"),
            packets_per_minute: 30_000,
            victim: Victim::Web,
        },
    );
}

#[test]
fn a_syn_flood_is_found() {
    in_both_formats(
        "SYN flood (tcp-flags 2), 3,000/min",
        Attack::SynFlood {
            source: ip("203.0.113.11"),
            per_minute: 3_000,
            rst: false,
            victim: Victim::Web,
        },
    );
}

#[test]
fn a_syn_flood_whose_attacker_resets_each_connection_is_found() {
    in_both_formats(
        "SYN flood answered with RST (tcp-flags 6), 3,000/min",
        Attack::SynFlood {
            source: ip("203.0.113.12"),
            per_minute: 3_000,
            rst: true,
            victim: Victim::Web2,
        },
    );
}

#[test]
fn a_syn_flood_through_the_load_balancer_names_the_attacker_not_the_balancer() {
    in_both_formats(
        "SYN flood through the NLB, 3,000/min",
        Attack::SynFlood {
            source: ip("203.0.113.13"),
            per_minute: 3_000,
            rst: false,
            victim: Victim::Nlb,
        },
    );
    // Judged by `srcaddr` too, the balancer relays and is not blamed.
    let s = Scenario::new(formats::V5_ALL, START).with(Attack::SynFlood {
        source: ip("203.0.113.13"),
        per_minute: 3_000,
        rst: false,
        victim: Victim::Nlb,
    });
    let options = AggregateOptions {
        attribution: Attribution::SrcAddr,
        ..AggregateOptions::default()
    };
    check_with(
        "SYN flood through the NLB, --attribution srcaddr",
        &s,
        options,
    );
}

#[test]
fn an_ipv6_source_rotating_through_its_64_is_one_source_and_a_later_flood_is_still_found() {
    // 10,000 new addresses a minute for three minutes fill the 20,000-source table; a real
    // flooder arriving after it must still be tracked.
    for fields in [formats::V5_ALL, formats::DEFAULT_V2] {
        let s = Scenario::new(fields, START)
            .with(Planted {
                attack: Attack::Rotation {
                    network: "2001:db8:bad:1::".parse().unwrap(),
                    per_minute: 10_000,
                    victim: Victim::WebV6,
                },
                from_minute: 0,
                minutes: Some(3),
            })
            .with(Planted {
                attack: Attack::SynFlood {
                    source: ip("203.0.113.14"),
                    per_minute: 1_200,
                    rst: false,
                    victim: Victim::Api,
                },
                from_minute: 3,
                minutes: None,
            });
        let d = check(
            "IPv6 /64 rotation filling the table, then a 1,200/min SYN flood",
            &s,
        );
        let rotation = d
            .floods
            .iter()
            .find(|f| f.source.to_string().ends_with("/64"))
            .unwrap();
        let addresses = rotation.addresses.unwrap().value;
        assert!(
            addresses > 15_000,
            "the /64 used about 30,000 addresses: {addresses}"
        );
    }
}

#[test]
fn two_million_spoofed_syns_in_one_minute_are_one_incident_of_their_target() {
    let mut s = Scenario::new(formats::DEFAULT_V2, START).with(Planted {
        attack: Attack::SpoofedStorm {
            sources: 2_000_000,
            victim: Victim::Web,
        },
        from_minute: 2,
        minutes: Some(1),
    });
    s.background = vec![Actor::WebClients, Actor::Offices];
    let d = check("2,000,000 spoofed single-SYN sources in one minute", &s);
    let storm = &d.targets[0];
    assert!(
        storm.distinct_sources.value > 1_000_000,
        "{:?}",
        storm.distinct_sources
    );
    assert!(
        storm.rate.half_open_per_minute > 1_900_000,
        "{:?}",
        storm.rate
    );
    assert_eq!(storm.port, Some(443));
}

#[test]
fn cheap_spoofed_flows_sent_first_do_not_hide_a_real_flooder() {
    for fields in [formats::V5_ALL, formats::DEFAULT_V2] {
        let s = Scenario::new(fields, START)
            .with(Planted {
                attack: Attack::SpoofedStorm {
                    sources: 20_001,
                    victim: Victim::Web,
                },
                from_minute: 0,
                minutes: Some(1),
            })
            .with(Planted {
                attack: Attack::SynFlood {
                    source: ip("203.0.113.15"),
                    per_minute: 1_200,
                    rst: false,
                    victim: Victim::Web,
                },
                from_minute: 1,
                minutes: None,
            });
        check("20,001 spoofed SYNs first, then a 1,200/min SYN flood", &s);
    }
}

#[test]
fn a_botnet_below_every_per_source_threshold_is_one_incident_of_its_target() {
    for fields in [formats::V5_ALL, formats::DEFAULT_V2] {
        let s = Scenario::new(fields, START).with(Attack::Botnet {
            sources: 50,
            per_source: 200,
            victim: Victim::Api,
        });
        let d = check("botnet: 50 sources × 200 SYN/min", &s);
        assert!(d.targets[0].top_sources.len() >= 5);
    }
}

#[test]
fn one_source_below_raised_per_source_thresholds_is_not_a_many_source_flood_of_its_target() {
    // A user who raised the per-source thresholds past a SYN flood does not get it back as a
    // "distributed" flood of its victim: one source sending most of it is no botnet.
    let s = Scenario::new(formats::V5_ALL, START).with(Attack::SynFlood {
        source: ip("203.0.113.7"),
        per_minute: 4_000,
        rst: false,
        victim: Victim::Web,
    });
    let (reader, writer) = std::io::pipe().unwrap();
    let scenario = s.clone();
    let producer =
        std::thread::spawn(move || scenario.write(std::io::BufWriter::new(writer)).unwrap());
    let mut aggregator = Aggregator::new(AggregateOptions::default());
    scan(reader, &ScanOptions::default(), &mut aggregator).unwrap();
    producer.join().unwrap();
    let raised = FloodRules {
        half_open_per_minute: 1_000_000,
        ..FloodRules::default()
    };
    let d = flowlog_core::detect(&aggregator, &raised);
    assert!(found(&d).is_empty(), "{:?}", found(&d));
    println!("DETECTION|one SYN flood, per-source thresholds raised past it|v5|0|0|0");
    // With the default thresholds it is the source's flood, not its target's.
    let d = flowlog_core::detect(&aggregator, &FloodRules::default());
    assert_eq!(found(&d), expected(&s));
}

#[test]
fn two_flooders_of_one_host_are_found_and_also_make_one_incident_of_it() {
    for fields in [formats::V5_ALL, formats::DEFAULT_V2] {
        let s = Scenario::new(fields, START)
            .with(Attack::ConnectionFlood {
                source: ip("203.0.113.20"),
                per_minute: 3_000,
                victim: Victim::Web2,
            })
            .with(Attack::ConnectionFlood {
                source: ip("203.0.113.21"),
                per_minute: 2_500,
                victim: Victim::Web2,
            });
        let d = check("two connection floods on one host", &s);
        assert_eq!(d.targets[0].flagged_sources.len(), 2);
    }
}

#[test]
fn the_background_of_a_busy_vpc_raises_nothing_in_any_format() {
    for fields in [formats::V5_ALL, formats::V3_EXAMPLE, formats::DEFAULT_V2] {
        check(
            "busy VPC background (all benign actors)",
            &Scenario::new(fields, START),
        );
    }
}

/// One benign actor alone, busier than documented, in every format.
fn benign(case: &str, actor: Actor, busy: f64) {
    for fields in [formats::V5_ALL, formats::V3_EXAMPLE, formats::DEFAULT_V2] {
        let s = Scenario::new(fields, START).only(&[actor], busy);
        check(case, &s);
    }
}

#[test]
fn web_servers_answering_thousands_of_clients_are_never_flagged() {
    benign(
        "web servers answering ~10,000 connections/min (4×)",
        Actor::WebClients,
        4.0,
    );
}

#[test]
fn office_nats_are_never_flagged() {
    benign(
        "office NATs up to 700 connections/min (2×)",
        Actor::Offices,
        2.0,
    );
}

#[test]
fn api_partners_with_and_without_keep_alive_are_never_flagged() {
    benign(
        "API partners: 900 conn/min, 225 req/s pooled (1.5×)",
        Actor::Partners,
        1.5,
    );
}

#[test]
fn a_load_balancer_and_its_health_checks_are_never_flagged() {
    benign(
        "NLB: 3,200 conn/min to 3 targets, health checks (4×)",
        Actor::LoadBalancer,
        4.0,
    );
}

#[test]
fn a_nat_gateway_is_never_flagged() {
    benign(
        "NAT gateway: 4,800 calls/min to one API (4×)",
        Actor::NatGateway,
        4.0,
    );
}

#[test]
fn connection_pools_are_never_flagged() {
    benign(
        "connection pools, IPv4 and one IPv6 /64 (4×)",
        Actor::Pools,
        4.0,
    );
}

#[test]
fn a_monitor_polling_hundreds_of_targets_is_never_flagged() {
    benign("monitor polling and pinging 300 hosts", Actor::Monitor, 1.0);
}

#[test]
fn backups_and_downloads_are_never_flagged() {
    benign(
        "backup upload and S3 downloads (4×: 400 Mbit/s)",
        Actor::Bulk,
        4.0,
    );
}

#[test]
fn internet_scanners_are_never_flagged() {
    benign("internet scanners (4×)", Actor::Scanners, 4.0);
}
