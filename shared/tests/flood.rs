//! The flood rules on traffic shapes: floods are flagged with evidence, busy clients are not.

use std::fmt::Write as _;

use flowlog_core::{
    AggregateOptions, Aggregator, Attribution, Cidr, FloodRules, ScanOptions, Severity, detect,
    scan,
};

const HEADER: &str = "srcaddr pkt-srcaddr dstaddr srcport dstport protocol packets bytes start end action tcp-flags log-status";
const T0: i64 = 1_700_000_040; // a window start

/// `flows` records from `src` in the minute starting at `t0`.
struct Traffic<'a> {
    src: &'a str,
    flows: u32,
    t0: i64,
    ports: u16,
    protocol: u8,
    packets: u64,
    bytes: u64,
    action: &'a str,
    flags: &'a str,
}

impl Traffic<'_> {
    fn lines(&self, out: &mut String) {
        for i in 0..self.flows {
            let port = 1000 + (i % u32::from(self.ports.max(1))) as u16;
            let start = self.t0 + i64::from(i % 60);
            let _ = writeln!(
                out,
                "{src} {src} 10.0.0.5 {sport} {port} {proto} {pk} {by} {start} {end} {action} {flags} OK",
                src = self.src,
                sport = 30000 + i % 30000,
                proto = self.protocol,
                pk = self.packets,
                by = self.bytes,
                end = start + 5,
                action = self.action,
                flags = self.flags,
            );
        }
    }
}

fn syn_flood(src: &str, flows: u32) -> Traffic<'_> {
    Traffic {
        src,
        flows,
        t0: T0,
        ports: 1,
        protocol: 6,
        packets: 1,
        bytes: 44,
        action: "ACCEPT",
        flags: "2",
    }
}

fn analyze(traffic: &[Traffic<'_>], extra: &str, rules: &FloodRules) -> Vec<flowlog_core::Finding> {
    let mut text = format!("{HEADER}\n");
    for t in traffic {
        t.lines(&mut text);
    }
    text.push_str(extra);
    let mut aggregator = Aggregator::new(AggregateOptions {
        attribution: Attribution::PktSrcAddr,
        ..AggregateOptions::default()
    });
    scan(text.as_bytes(), &ScanOptions::default(), &mut aggregator).unwrap();
    detect(&aggregator, rules)
}

#[test]
fn syn_flood_is_flagged_with_its_evidence() {
    let findings = analyze(
        &[syn_flood("203.0.113.7", 2000)],
        "",
        &FloodRules::default(),
    );
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(f.source.to_string(), "203.0.113.7");
    assert_eq!(f.rule, "syn-flood");
    assert_eq!(f.severity, Severity::Medium);
    assert_eq!(
        (f.window_start, f.flows, f.packets, f.bytes),
        (T0, 2000, 2000, 88_000)
    );
    assert!(f.signals.flows_per_minute.fired && f.signals.syn_only_share.fired);
    assert_eq!(f.signals.syn_only_share.value, 1.0);
    assert!(f.signals.packets_per_flow.fired && !f.signals.heavy_client.fired);
    assert_eq!(f.top_ports[0].port, 1000);
    assert_eq!(f.top_ports[0].flows, 2000);
    assert_eq!(f.top_destinations[0].address.to_string(), "10.0.0.5");
    assert!(
        f.reason.contains("2000 flows in one minute"),
        "{}",
        f.reason
    );
    assert!(f.reason.contains("100% SYN-only"), "{}", f.reason);
    assert!(f.reason.contains("heavy client"), "{}", f.reason);
    assert_eq!((f.first_start, f.last_end), (T0, T0 + 59 + 5));
}

#[test]
fn far_over_the_volume_threshold_is_high_severity() {
    let findings = analyze(
        &[syn_flood("203.0.113.7", 3000)],
        "",
        &FloodRules::default(),
    );
    assert_eq!(findings[0].severity, Severity::High);
}

#[test]
fn reject_heavy_scan_is_flagged() {
    let scan = Traffic {
        src: "198.51.100.9",
        flows: 800,
        t0: T0,
        ports: 300,
        protocol: 6,
        packets: 1,
        bytes: 40,
        action: "REJECT",
        flags: "0",
    };
    let findings = analyze(&[scan], "", &FloodRules::default());
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(f.rule, "port-scan");
    assert!(f.signals.reject_share.fired && f.signals.distinct_ports.fired);
    assert_eq!(f.severity, Severity::High, "three shape signals");
}

#[test]
fn accepted_connections_to_many_ports_are_flagged() {
    let probe = Traffic {
        src: "198.51.100.10",
        flows: 700,
        t0: T0,
        ports: 100,
        protocol: 6,
        packets: 4,
        bytes: 240,
        action: "ACCEPT",
        flags: "19",
    };
    let findings = analyze(&[probe], "", &FloodRules::default());
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].rule, "port-scan");
    assert_eq!(
        findings[0].signals.distinct_ports.value, 32.0,
        "bounded at the port cap"
    );
}

#[test]
fn rejected_udp_flood_is_flagged() {
    let flood = Traffic {
        src: "192.0.2.77",
        flows: 900,
        t0: T0,
        ports: 1,
        protocol: 17,
        packets: 1,
        bytes: 120,
        action: "REJECT",
        flags: "-",
    };
    let findings = analyze(&[flood], "", &FloodRules::default());
    assert_eq!(findings[0].rule, "udp-flood");
}

#[test]
fn ipv6_flooder_is_flagged() {
    let findings = analyze(
        &[syn_flood("2001:db8::bad", 1500)],
        "",
        &FloodRules::default(),
    );
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].source.to_string(), "2001:db8::bad");
}

#[test]
fn heavy_downloader_is_not_a_flood() {
    let few_big = Traffic {
        src: "10.1.1.1",
        flows: 20,
        t0: T0,
        ports: 1,
        protocol: 6,
        packets: 400_000,
        bytes: 500_000_000,
        action: "ACCEPT",
        flags: "19",
    };
    let many_big = Traffic {
        src: "10.1.1.2",
        flows: 1500,
        t0: T0,
        ports: 1,
        protocol: 6,
        packets: 1,
        bytes: 2_000_000,
        action: "ACCEPT",
        flags: "2",
    };
    assert!(analyze(&[few_big, many_big], "", &FloodRules::default()).is_empty());
}

#[test]
fn busy_but_normal_client_is_not_a_flood() {
    let busy = Traffic {
        src: "10.2.2.2",
        flows: 900,
        t0: T0,
        ports: 2,
        protocol: 6,
        packets: 12,
        bytes: 6000,
        action: "ACCEPT",
        flags: "19",
    };
    assert!(analyze(&[busy], "", &FloodRules::default()).is_empty());
}

#[test]
fn allowlisted_addresses_are_never_reported() {
    let rules = FloodRules {
        allowlist: vec![
            "203.0.113.0/24".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ],
        ..FloodRules::default()
    };
    let traffic = [
        syn_flood("203.0.113.7", 2000),
        syn_flood("2001:db8::1", 2000),
        syn_flood("198.51.100.1", 2000),
    ];
    let findings = analyze(&traffic, "", &rules);
    let sources: Vec<_> = findings.iter().map(|f| f.source.to_string()).collect();
    assert_eq!(sources, ["198.51.100.1"]);
}

#[test]
fn the_worst_window_is_reported_and_flagged_windows_counted() {
    let first = syn_flood("203.0.113.7", 1000);
    let second = Traffic {
        t0: T0 + 60,
        flows: 2500,
        ..syn_flood("203.0.113.7", 0)
    };
    let quiet = Traffic {
        t0: T0 + 120,
        flows: 10,
        ..syn_flood("203.0.113.7", 0)
    };
    let findings = analyze(&[first, second, quiet], "", &FloodRules::default());
    assert_eq!(findings.len(), 1);
    assert_eq!(
        (findings[0].window_start, findings[0].flows),
        (T0 + 60, 2500)
    );
    assert_eq!(findings[0].windows_flagged, 2);
    assert_eq!(findings[0].first_start, T0);
}

#[test]
fn skipdata_in_a_flagged_window_is_reported() {
    let skip = format!("- - - - - - - - {} {} - - SKIPDATA\n", T0 + 3, T0 + 50);
    let findings = analyze(
        &[syn_flood("203.0.113.7", 2000)],
        &skip.repeat(3),
        &FloodRules::default(),
    );
    assert_eq!(findings[0].skipdata_records, 3);
}

#[test]
fn attribution_to_pkt_srcaddr_names_the_sender_behind_a_nat() {
    let mut text = format!("{HEADER}\n");
    for i in 0..1000 {
        let _ = writeln!(
            text,
            "10.0.9.9 198.51.100.66 10.0.0.5 {} 80 6 1 44 {} {} ACCEPT 2 OK",
            40000 + i,
            T0 + i % 60,
            T0 + 61
        );
    }
    for (attribution, expected) in [
        (Attribution::PktSrcAddr, "198.51.100.66"),
        (Attribution::SrcAddr, "10.0.9.9"),
    ] {
        let mut aggregator = Aggregator::new(AggregateOptions {
            attribution,
            ..AggregateOptions::default()
        });
        scan(text.as_bytes(), &ScanOptions::default(), &mut aggregator).unwrap();
        let findings = detect(&aggregator, &FloodRules::default());
        assert_eq!(findings[0].source.to_string(), expected);
    }
}

#[test]
fn cidrs_parse_and_match_within_their_family_only() {
    let net: Cidr = "10.0.0.0/8".parse().unwrap();
    assert!(net.contains("10.200.1.1".parse().unwrap()));
    assert!(!net.contains("11.0.0.1".parse().unwrap()));
    assert!(!net.contains("::ffff:10.0.0.1".parse().unwrap()));
    let single: Cidr = "192.0.2.1".parse().unwrap();
    assert_eq!(single.to_string(), "192.0.2.1/32");
    assert!(
        "0.0.0.0/0"
            .parse::<Cidr>()
            .unwrap()
            .contains("8.8.8.8".parse().unwrap())
    );
    assert!("2001:db8::/129".parse::<Cidr>().is_err());
    assert!("10.0.0.0/x".parse::<Cidr>().is_err());
    assert!("example.com".parse::<Cidr>().is_err());
}
