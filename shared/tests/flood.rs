//! The flood rules on hand-written records: each rule's gates, evidence and explanations, and
//! what keeps a busy client, a relay or an allowlisted source out.

use std::fmt::Write as _;

use flowlog_core::{
    AggregateOptions, Aggregator, Attribution, Detection, FloodRules, Rule, ScanOptions, Severity,
    detect, parse_cidr, scan,
};

const V5: &str = "interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action tcp-flags flow-direction pkt-srcaddr pkt-dstaddr log-status";
const T0: i64 = 1_700_000_040; // a window start

/// `flows` request records from `src` to `dst:port` in the minute at `t0`, as captured at the
/// destination's interface.
#[derive(Clone)]
struct Traffic<'a> {
    src: &'a str,
    dst: &'a str,
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
            let start = self.t0 + i64::from(i % 59); // and end within the same minute
            let _ = writeln!(
                out,
                "eni-victim {src} {dst} {sport} {port} {proto} {pk} {by} {start} {end} {action} {flags} ingress {src} {dst} OK",
                src = self.src,
                dst = self.dst,
                sport = 30000 + i % 30000,
                proto = self.protocol,
                pk = self.packets,
                by = self.bytes,
                end = start + 1,
                action = self.action,
                flags = self.flags,
            );
        }
    }
}

fn syn_flood(src: &str, flows: u32) -> Traffic<'_> {
    Traffic {
        src,
        dst: "10.0.0.5",
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

fn analyze_with(
    traffic: &[Traffic<'_>],
    extra: &str,
    rules: &FloodRules,
    attribution: Attribution,
) -> Detection {
    let mut text = format!("{V5}\n");
    for t in traffic {
        t.lines(&mut text);
    }
    text.push_str(extra);
    let mut aggregator = Aggregator::new(AggregateOptions {
        attribution,
        ..AggregateOptions::default()
    });
    scan(text.as_bytes(), &ScanOptions::default(), &mut aggregator).unwrap();
    detect(&aggregator, rules)
}

fn analyze(traffic: &[Traffic<'_>], extra: &str, rules: &FloodRules) -> Detection {
    analyze_with(traffic, extra, rules, Attribution::PktSrcAddr)
}

#[test]
fn a_syn_flood_is_flagged_with_its_evidence() {
    let d = analyze(
        &[syn_flood("203.0.113.7", 2000)],
        "",
        &FloodRules::default(),
    );
    assert_eq!(d.floods.len(), 1, "{d:#?}");
    let f = &d.floods[0];
    assert_eq!(f.source.to_string(), "203.0.113.7");
    assert_eq!(f.rule, Rule::SynFlood);
    assert_eq!(f.severity, Severity::High, "2,000 is over 5 × 300");
    assert_eq!((f.window_start, f.flows, f.packets), (T0, 2000, 2000));
    assert_eq!(f.rate.half_open_per_minute, 2000);
    let target = f.target.unwrap();
    assert_eq!(
        (target.address.to_string(), target.port),
        ("10.0.0.5".into(), 1000)
    );
    assert!(target.share > 0.99);
    for name in ["half_open_per_minute", "half_open_share", "target_share"] {
        assert!(f.signals[name].fired, "{name}");
    }
    assert_eq!(
        (f.top_ports[0].port, f.top_ports[0].flows > 1900),
        (1000, true)
    );
    assert_eq!(f.top_destinations[0].address.to_string(), "10.0.0.5");
    assert!(
        f.reason.contains("never completed their handshake"),
        "{}",
        f.reason
    );
    assert!(
        f.not_a_busy_client.contains("busy client"),
        "{}",
        f.not_a_busy_client
    );
    assert_eq!((f.first_start, f.last_end), (T0, T0 + 60));
    assert!(!f.lower_bound);
    assert!(d.targets.is_empty(), "one source: its own finding says it");
}

#[test]
fn just_over_the_threshold_is_medium_and_just_under_is_nothing() {
    let d = analyze(&[syn_flood("203.0.113.7", 300)], "", &FloodRules::default());
    assert_eq!(d.floods[0].severity, Severity::Medium);
    assert!(analyze(&[syn_flood("203.0.113.7", 299)], "", &FloodRules::default()).is_empty());
}

#[test]
fn half_open_attempts_spread_over_many_ports_are_a_port_scan_with_a_lower_bound() {
    let scan = Traffic {
        ports: 1000,
        action: "REJECT",
        ..syn_flood("198.51.100.9", 2000)
    };
    let d = analyze(&[scan], "", &FloodRules::default());
    let f = &d.floods[0];
    assert_eq!(f.rule, Rule::PortScan);
    assert!(f.distinct_ports.at_least);
    assert_eq!(f.distinct_ports.to_string(), "≥ 32");
}

#[test]
fn completed_connections_flood_only_past_what_a_client_opens() {
    let connect = |flows| Traffic {
        packets: 5,
        bytes: 420,
        flags: "3",
        ..syn_flood("203.0.113.7", flows)
    };
    let d = analyze(&[connect(5000)], "", &FloodRules::default());
    assert_eq!(d.floods[0].rule, Rule::ConnectionFlood);
    assert!(d.floods[0].signals["completed_connections_per_minute"].fired);
    assert!(analyze(&[connect(900)], "", &FloodRules::default()).is_empty());
}

#[test]
fn a_source_spread_over_many_targets_is_not_one_flood() {
    // A monitor polling 400 hosts: many connections, none concentrated.
    let mut text = String::new();
    for h in 0..400u32 {
        let dst = format!("10.0.{}.{}", 5 + h / 250, 1 + h % 250);
        Traffic {
            dst: &dst,
            packets: 6,
            bytes: 420,
            flags: "3",
            ..syn_flood("10.0.4.5", 4)
        }
        .lines(&mut text);
    }
    assert!(analyze(&[], &text, &FloodRules::default()).is_empty());
}

#[test]
fn udp_nobody_answers_is_a_flood_and_a_conversation_is_not() {
    let udp = Traffic {
        protocol: 17,
        packets: 100,
        bytes: 51_200,
        flags: "0",
        ..syn_flood("203.0.113.9", 1000)
    };
    let d = analyze(std::slice::from_ref(&udp), "", &FloodRules::default());
    assert_eq!(d.floods[0].rule, Rule::UdpFlood);
    assert!(d.floods[0].signals["answered_share"].fired);
    // The same packets answered in kind (a tunnel): not a flood.
    let mut replies = String::new();
    for i in 0..1000u32 {
        let start = T0 + i64::from(i % 60);
        let _ = writeln!(
            replies,
            "eni-victim 10.0.0.5 203.0.113.9 1000 {} 17 100 51200 {start} {} ACCEPT 0 egress 10.0.0.5 203.0.113.9 OK",
            30000 + i,
            start + 1
        );
    }
    assert!(analyze(&[udp], &replies, &FloodRules::default()).is_empty());
}

#[test]
fn request_sized_packets_at_a_flood_rate_flag_and_bulk_data_or_acks_do_not() {
    let stream = |packets: u64, size: u64| Traffic {
        flows: 4,
        packets,
        bytes: packets * size,
        flags: "0",
        ..syn_flood("203.0.113.8", 4)
    };
    let d = analyze(&[stream(20_000, 300)], "", &FloodRules::default());
    assert_eq!(d.floods[0].rule, Rule::RequestFlood);
    for (what, size) in [("an upload", 1448), ("a download's ACKs", 52)] {
        assert!(
            analyze(&[stream(20_000, size)], "", &FloodRules::default()).is_empty(),
            "{what}"
        );
    }
}

#[test]
fn an_ipv6_flooder_is_flagged() {
    let d = analyze(
        &[syn_flood("2001:db8::bad", 1200)],
        "",
        &FloodRules::default(),
    );
    assert_eq!(d.floods.len(), 1, "the address, not also its /64");
    assert_eq!(d.floods[0].source.to_string(), "2001:db8::bad");
}

#[test]
fn allowlisted_sources_are_never_reported_mapped_ipv4_included() {
    let rules = FloodRules {
        allowlist: vec![
            parse_cidr("203.0.113.0/24").unwrap(),
            parse_cidr("2001:db8::/32").unwrap(),
        ],
        ..FloodRules::default()
    };
    let d = analyze(
        &[
            syn_flood("203.0.113.7", 2000),
            syn_flood("::ffff:203.0.113.8", 2000),
            syn_flood("2001:db8::bad", 2000),
            syn_flood("198.51.100.1", 2000),
        ],
        "",
        &rules,
    );
    let sources: Vec<_> = d.floods.iter().map(|f| f.source.to_string()).collect();
    assert_eq!(sources, ["198.51.100.1"]);
}

#[test]
fn the_worst_window_is_reported_and_flagged_windows_counted() {
    let d = analyze(
        &[
            syn_flood("203.0.113.7", 700),
            Traffic {
                t0: T0 + 60,
                ..syn_flood("203.0.113.7", 1500)
            },
            Traffic {
                t0: T0 + 120,
                ..syn_flood("203.0.113.7", 100)
            },
        ],
        "",
        &FloodRules::default(),
    );
    let f = &d.floods[0];
    assert_eq!((f.window_start, f.flows), (T0 + 60, 1500));
    assert_eq!(f.windows_flagged, 2);
    assert_eq!((f.first_start, f.last_end), (T0, T0 + 120));
}

#[test]
fn skipdata_in_a_flagged_window_makes_the_counts_lower_bounds() {
    let skip = format!(
        "eni-victim - - - - - - - {T0} {} - - - - - SKIPDATA\n",
        T0 + 60
    )
    .repeat(3);
    let d = analyze(
        &[syn_flood("203.0.113.7", 2000)],
        &skip,
        &FloodRules::default(),
    );
    assert_eq!(d.floods[0].skipdata_records, 3);
    assert!(d.floods[0].lower_bound);
}

#[test]
fn the_sender_behind_a_load_balancer_is_named_and_the_balancer_is_a_relay() {
    // Captured at the target: srcaddr is the balancer's node, pkt-srcaddr the client.
    let mut text = String::new();
    for i in 0..1000 {
        let _ = writeln!(
            text,
            "eni-target 10.0.9.9 10.0.0.5 {} 80 6 1 44 {} {} ACCEPT 2 ingress 198.51.100.66 10.0.0.5 OK",
            40000 + i,
            T0 + i % 60,
            T0 + 61
        );
    }
    let d = analyze(&[], &text, &FloodRules::default());
    let sources: Vec<_> = d.floods.iter().map(|f| f.source.to_string()).collect();
    assert_eq!(sources, ["198.51.100.66"]);
    // By `srcaddr`, only the node is seen: it is then what is reported.
    let d = analyze_with(&[], &text, &FloodRules::default(), Attribution::SrcAddr);
    assert_eq!(d.floods[0].source.to_string(), "10.0.9.9");
}

#[test]
fn an_address_serving_as_much_as_it_sends_is_not_judged_as_a_client() {
    // Without pkt- fields: a proxy receives 1,000 connections a minute and opens as many.
    let mut text = String::new();
    for i in 0..1000 {
        let (t, e) = (T0 + i % 60, T0 + i % 60 + 1);
        let _ = writeln!(
            text,
            "eni-proxy 198.51.100.{} 10.0.0.9 {} 443 6 1 44 {t} {e} ACCEPT 2 ingress - - OK",
            i % 200,
            40000 + i
        );
        let _ = writeln!(
            text,
            "eni-proxy 10.0.0.9 10.0.1.5 {} 8080 6 1 44 {t} {e} ACCEPT 2 egress - - OK",
            40000 + i
        );
    }
    let d = analyze(&[], &text, &FloodRules::default());
    assert!(
        d.floods.iter().all(|f| f.source.to_string() != "10.0.0.9"),
        "{d:#?}"
    );
}

#[test]
fn an_icmp_flood_names_the_sender_not_the_host_answering_it() {
    let mut text = String::new();
    for (src, dst, direction) in [
        ("203.0.113.10", "10.0.0.5", "ingress"),
        ("10.0.0.5", "203.0.113.10", "egress"),
    ] {
        let _ = writeln!(
            text,
            "eni-victim {src} {dst} 0 0 1 20000 1680000 {T0} {} ACCEPT - {direction} {src} {dst} OK",
            T0 + 59
        );
    }
    let d = analyze(&[], &text, &FloodRules::default());
    let found: Vec<_> = d
        .floods
        .iter()
        .map(|f| (f.source.to_string(), f.rule))
        .collect();
    assert_eq!(found, [("203.0.113.10".to_string(), Rule::IcmpFlood)]);
}

#[test]
fn hosts_calling_services_inside_the_log_are_judged_only_when_asked() {
    // 10.0.2.41 has an interface in the log (egress records) and opens 2,000 connections a
    // minute to its database.
    let mut text = String::new();
    for i in 0..2000 {
        let t = T0 + i % 60;
        let _ = writeln!(
            text,
            "eni-app 10.0.2.41 10.0.3.10 {} 5432 6 5 420 {t} {} ACCEPT 3 egress 10.0.2.41 10.0.3.10 OK",
            20000 + i,
            t + 1
        );
    }
    assert!(analyze(&[], &text, &FloodRules::default()).is_empty());
    let rules = FloodRules {
        internal_clients: true,
        ..FloodRules::default()
    };
    assert_eq!(
        analyze(&[], &text, &rules).floods[0].rule,
        Rule::ConnectionFlood
    );
}

#[test]
fn many_sources_each_below_the_threshold_are_one_incident_of_their_target() {
    let sources: Vec<String> = (0..40).map(|i| format!("198.51.100.{}", 10 + i)).collect();
    let botnet: Vec<Traffic<'_>> = sources.iter().map(|s| syn_flood(s, 200)).collect();
    let d = analyze(&botnet, "", &FloodRules::default());
    assert!(d.floods.is_empty(), "{:#?}", d.floods);
    let t = &d.targets[0];
    assert_eq!(
        (t.target.to_string(), t.rule),
        ("10.0.0.5".into(), Rule::DistributedSynFlood)
    );
    assert_eq!(t.rate.half_open_per_minute, 8000);
    assert!(t.distinct_sources.value >= 30);
    assert_eq!(t.top_sources.len(), 5);
    assert_eq!(t.port, Some(1000));
}

#[test]
fn rules_and_severities_serialise_as_their_names() {
    let d = analyze(
        &[syn_flood("203.0.113.7", 2000)],
        "",
        &FloodRules::default(),
    );
    let json = serde_json::to_value(&d.floods[0]).unwrap();
    assert_eq!(json["rule"], "syn-flood");
    assert_eq!(json["severity"], "HIGH");
    assert_eq!(json["source"], "203.0.113.7");
    assert_eq!(json["distinct_ports"]["at_least"], false);
    for key in [
        "window_start",
        "flows",
        "packets",
        "bytes",
        "signals",
        "reason",
        "windows_flagged",
        "first_start",
        "last_end",
        "top_ports",
        "top_destinations",
        "skipdata_records",
    ] {
        assert!(json.get(key).is_some(), "documented key {key}");
    }
}
