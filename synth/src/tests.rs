use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

fn generate(spec: &Spec) -> (Vec<u8>, Truth) {
    let mut out = Vec::new();
    let truth = write_object(spec, Compression::None, &mut out).unwrap();
    (out, truth)
}

fn text(spec: &Spec) -> (String, Truth) {
    let (bytes, truth) = generate(spec);
    (
        String::from_utf8(bytes).expect("no malformed lines, so UTF-8"),
        truth,
    )
}

fn flood(source: IpAddr, flows: u64) -> Flood {
    Flood {
        source,
        flows,
        syn_only: true,
        reject_share: 0.5,
        dst_ports: 100,
    }
}

/// A spec exercising every kind of record.
fn busy_spec(fields: &[&str]) -> Spec {
    Spec {
        records: 20_000,
        seed: 42,
        nodata_every: 500,
        skipdata_every: 1_300,
        flood: Some(flood(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 3_000)),
        heavy_downloader: true,
        ..Spec::default()
    }
    .with_fields(fields)
}

/// Column index of `name` in `spec`'s format.
fn col(spec: &Spec, name: &str) -> usize {
    spec.fields.iter().position(|f| f == name).unwrap()
}

/// Record lines (header skipped) split into values.
fn rows<'a>(spec: &Spec, text: &'a str) -> Vec<Vec<&'a str>> {
    text.lines()
        .skip(usize::from(spec.header))
        .map(|l| l.split(' ').collect())
        .collect()
}

/// Whether a line is a valid record for the v11 format (a tiny validator).
fn valid_v11_line(line: &[u8]) -> bool {
    let Ok(line) = std::str::from_utf8(line) else {
        return false;
    };
    let v: Vec<&str> = line.split(' ').collect();
    if v.len() != formats::V11_ALL.len() {
        return false;
    }
    let num = |i: usize, max: u64| v[i] == "-" || v[i].parse::<u64>().is_ok_and(|x| x <= max);
    let addr = |i: usize| v[i] == "-" || v[i].parse::<IpAddr>().is_ok();
    let u16max = u64::from(u16::MAX);
    let u8max = u64::from(u8::MAX);
    num(0, u64::from(u32::MAX))
        && addr(3)
        && addr(4)
        && num(5, u16max)
        && num(6, u16max)
        && num(7, u8max)
        && num(8, u64::MAX)
        && num(9, u64::MAX)
        && num(10, u64::MAX)
        && num(11, u64::MAX)
        && num(17, u8max)
        && addr(19)
        && addr(20)
        && num(28, u8max)
        && num(41, u8max)
        && v.iter().all(|t| t.is_ascii())
}

#[test]
fn same_spec_gives_byte_identical_output_and_seed_changes_it() {
    let spec = busy_spec(formats::V11_ALL);
    let (a, ta) = generate(&spec);
    let (b, tb) = generate(&spec);
    assert_eq!(a, b);
    assert_eq!(ta, tb);
    let (c, _) = generate(&Spec { seed: 43, ..spec });
    assert_ne!(a, c);
}

#[test]
fn header_line_lists_the_fields_and_can_be_disabled() {
    let spec = Spec::default().with_fields(formats::V3_EXAMPLE);
    let (t, _) = text(&spec);
    assert_eq!(t.lines().next().unwrap(), formats::V3_EXAMPLE.join(" "));
    let (t, truth) = text(&Spec {
        header: false,
        ..spec
    });
    assert!(t.starts_with("3 vpc-0"));
    assert_eq!(t.lines().count() as u64, truth.records);
    assert!(t.ends_with('\n') && !t.contains("\r") && !t.contains("  "));
}

#[test]
fn every_record_line_has_the_format_field_count() {
    for format in [
        formats::DEFAULT_V2,
        formats::V3_EXAMPLE,
        formats::V5_ALL,
        formats::V8_ALL,
        formats::V11_ALL,
        &["srcaddr", "bytes"][..],
    ] {
        let spec = busy_spec(format);
        let (t, truth) = text(&spec);
        let rows = rows(&spec, &t);
        assert_eq!(rows.len() as u64, truth.records);
        assert_eq!(truth.records, spec.records);
        for row in rows {
            assert_eq!(row.len(), format.len(), "{row:?}");
            assert!(row.iter().all(|v| !v.is_empty()));
        }
    }
}

#[test]
fn truth_totals_match_a_recount_of_the_text() {
    let spec = busy_spec(formats::V11_ALL);
    let (t, truth) = text(&spec);
    let (src, packets, bytes) = (
        col(&spec, "srcaddr"),
        col(&spec, "packets"),
        col(&spec, "bytes"),
    );
    let (action, status) = (col(&spec, "action"), col(&spec, "log-status"));
    let (flags, proto) = (col(&spec, "tcp-flags"), col(&spec, "protocol"));
    let mut recount = Truth::default();
    let mut per_source: BTreeMap<IpAddr, SourceTruth> = BTreeMap::new();
    for row in rows(&spec, &t) {
        recount.records += 1;
        match row[status] {
            "NODATA" => recount.nodata += 1,
            "SKIPDATA" => recount.skipdata += 1,
            "OK" => {
                recount.ok += 1;
                recount.flows += 1;
                let s = per_source.entry(row[src].parse().unwrap()).or_default();
                let (p, b): (u64, u64) =
                    (row[packets].parse().unwrap(), row[bytes].parse().unwrap());
                let rejected = u64::from(row[action] == "REJECT");
                let syn = u64::from(row[proto] == "6" && row[flags] == "2");
                recount.packets += p;
                recount.bytes += b;
                recount.rejected += rejected;
                recount.syn_only += syn;
                s.flows += 1;
                s.packets += p;
                s.bytes += b;
                s.rejected += rejected;
                s.syn_only += syn;
            }
            other => panic!("unexpected log-status {other}"),
        }
    }
    recount.per_source = per_source;
    assert_eq!(recount, truth);
    assert_eq!(truth.ok + truth.nodata + truth.skipdata, spec.records);
    assert!(truth.nodata >= 39 && truth.skipdata >= 14, "{truth:?}");
    assert!(truth.rejected > 0 && truth.syn_only > truth.rejected / 2);
    // 200 normal sources (almost all active), the flood source and the heavy source.
    assert!(truth.per_source.len() <= 202 && truth.per_source.len() > 150);
}

#[test]
fn malformed_lines_are_injected_after_every_nth_record_and_counted() {
    let spec = Spec {
        records: 1_000,
        malformed_every: 7,
        ..busy_spec(formats::V11_ALL)
    };
    let (bytes, truth) = generate(&spec);
    assert_eq!(truth.malformed_lines, 1_000 / 7);
    assert_eq!(truth.records, 1_000);
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    assert_eq!(lines.last(), Some(&&b""[..]));
    let lines = &lines[1..lines.len() - 1];
    assert_eq!(lines.len() as u64, truth.records + truth.malformed_lines);
    let invalid: Vec<usize> = (0..lines.len())
        .filter(|&i| !valid_v11_line(lines[i]))
        .collect();
    // Record i (0-based) is followed by a malformed line when (i + 1) % 7 == 0.
    let expected: Vec<usize> = (0..truth.malformed_lines as usize)
        .map(|m| 8 * m + 7)
        .collect();
    assert_eq!(invalid, expected);
    // The kinds cycle: too few, too many, bad number, bad address, garbage.
    let n = formats::V11_ALL.len();
    let count = |l: &[u8]| l.split(|&b| b == b' ').count();
    assert_eq!(count(lines[7]), n - 1);
    assert_eq!(count(lines[15]), n + 1);
    assert_eq!(count(lines[23]), n);
    assert_eq!(count(lines[31]), n);
    assert!(!lines[39].is_ascii());
}

#[test]
fn gzip_output_decompresses_to_the_plain_output() {
    let spec = Spec {
        malformed_every: 101,
        ..busy_spec(formats::V5_ALL)
    };
    let (plain, truth) = generate(&spec);
    let mut gz = Vec::new();
    let gz_truth = write_object(&spec, Compression::Gzip { level: 6 }, &mut gz).unwrap();
    assert_eq!(truth, gz_truth);
    assert!(gz.len() < plain.len() / 3);
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut unpacked)
        .unwrap();
    assert_eq!(unpacked, plain);
    let mut again = Vec::new();
    write_object(&spec, Compression::Gzip { level: 6 }, &mut again).unwrap();
    assert_eq!(again, gz, "gzip output is deterministic too");
}

#[test]
fn gzip_bytes_do_not_depend_on_the_number_of_compression_threads() {
    let spec = busy_spec(formats::V11_ALL);
    let mut runs = Vec::new();
    for workers in [0, 1, 3] {
        let mut gz = Vec::new();
        let truth = gzip::write_with_workers(&spec, 1, &mut gz, workers).unwrap();
        runs.push((gz, truth));
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0], runs[2]);
    let (plain, _) = generate(&spec);
    assert!(plain.len() > 3 * (1 << 20), "several chunks");
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&runs[0].0[..])
        .read_to_end(&mut unpacked)
        .unwrap();
    assert_eq!(unpacked, plain);
}

#[test]
fn gzip_of_an_empty_object_is_valid() {
    for header in [false, true] {
        let spec = Spec {
            records: 0,
            header,
            ..Spec::default()
        };
        let mut gz = Vec::new();
        write_object(&spec, Compression::Gzip { level: 9 }, &mut gz).unwrap();
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut unpacked)
            .unwrap();
        assert_eq!(unpacked, generate(&spec).0);
    }
}

#[test]
fn flood_source_appears_with_the_requested_flows() {
    let attacker = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    let spec = busy_spec(formats::V5_ALL);
    let (t, truth) = text(&spec);
    let s = truth.per_source[&attacker];
    assert_eq!(s.flows, 3_000);
    assert_eq!(s.syn_only, 3_000);
    assert_eq!(s.rejected, 1_500);
    assert!(s.packets >= 3_000 && s.packets <= 6_000);
    assert!(s.bytes >= 40 * s.packets && s.bytes <= 60 * s.packets);

    let (src, dport, start) = (
        col(&spec, "srcaddr"),
        col(&spec, "dstport"),
        col(&spec, "start"),
    );
    let pkt_src = col(&spec, "pkt-srcaddr");
    let flood_rows: Vec<_> = rows(&spec, &t)
        .into_iter()
        .filter(|r| r[src] == "198.51.100.7")
        .collect();
    assert_eq!(flood_rows.len(), 3_000);
    assert!(flood_rows.iter().all(|r| r[pkt_src] == r[src]));
    let ports: BTreeSet<&str> = flood_rows.iter().map(|r| r[dport]).collect();
    assert_eq!(ports.len(), 100);
    // Spread evenly: each of the 5 minutes of the span holds a fifth of the flows.
    let mut per_minute = [0u64; 5];
    for r in &flood_rows {
        let t: i64 = r[start].parse().unwrap();
        per_minute[((t - spec.start) / 60) as usize] += 1;
    }
    assert_eq!(per_minute, [600; 5]);
}

#[test]
fn ipv6_flood_from_inside_the_vpc_is_egress() {
    let attacker: IpAddr = "fd00::66".parse().unwrap();
    let spec = Spec {
        flood: Some(Flood {
            syn_only: false,
            reject_share: 0.0,
            dst_ports: 1,
            ..flood(attacker, 500)
        }),
        ..busy_spec(formats::V5_ALL)
    };
    let (t, truth) = text(&spec);
    assert_eq!(truth.per_source[&attacker].flows, 500);
    assert_eq!(truth.per_source[&attacker].rejected, 0);
    let (src, dir, dport) = (
        col(&spec, "srcaddr"),
        col(&spec, "flow-direction"),
        col(&spec, "dstport"),
    );
    for r in rows(&spec, &t).iter().filter(|r| r[src] == "fd00::66") {
        assert_eq!((r[dir], r[dport]), ("egress", "443"));
    }
}

#[test]
fn heavy_downloader_sends_few_huge_accepted_flows() {
    let spec = busy_spec(formats::V5_ALL);
    let (t, truth) = text(&spec);
    let s = truth.per_source[&IpAddr::V4(HEAVY_SOURCE)];
    assert_eq!(s.flows, 50, "10 per minute over 5 minutes");
    assert_eq!(s.rejected, 0);
    assert!(s.bytes >= 50 * 100_000_000);
    let normal_max = truth
        .per_source
        .iter()
        .filter(|(ip, _)| **ip != IpAddr::V4(HEAVY_SOURCE))
        .map(|(_, s)| s.bytes)
        .max()
        .unwrap();
    assert!(s.bytes > 100 * normal_max);
    let (src, dst) = (col(&spec, "srcaddr"), col(&spec, "dstaddr"));
    let heavy = HEAVY_SOURCE.to_string();
    let dsts: BTreeSet<&str> = rows(&spec, &t)
        .into_iter()
        .filter(|r| r[src] == heavy)
        .map(|r| r[dst])
        .collect();
    assert_eq!(dsts, BTreeSet::from(["10.200.0.10"]));
}

#[test]
fn sources_and_ipv6_share_are_respected() {
    let spec = Spec {
        records: 200_000,
        sources: 100,
        ipv6_share: 0.25,
        ..Spec::default()
    };
    let (_, truth) = text(&spec);
    assert_eq!(truth.per_source.len(), 100);
    let v6 = truth.per_source.keys().filter(|ip| ip.is_ipv6()).count();
    assert_eq!(v6, 25);
    let private = truth
        .per_source
        .keys()
        .filter(|ip| matches!(ip, IpAddr::V4(a) if a.is_private()))
        .count();
    assert!(private > 20 && private < 60, "{private}");
}

#[test]
fn values_are_plausible() {
    let spec = busy_spec(formats::V11_ALL);
    let (t, _) = text(&spec);
    let c = |name| col(&spec, name);
    let mut protocols = BTreeSet::new();
    let mut flags = BTreeSet::new();
    let mut pkt_src_differs = 0;
    for r in rows(&spec, &t) {
        assert_eq!(r[0], "11");
        assert_eq!(r[c("account-id")], "123456789012");
        assert!(r[c("interface-id")].starts_with("eni-0") && r[c("interface-id")].len() == 21);
        assert!(r[c("vpc-id")].starts_with("vpc-0") && r[c("subnet-id")].starts_with("subnet-0"));
        assert_eq!(r[c("region")], "us-east-1");
        assert!(r[c("az-id")].starts_with("use1-az"));
        let start: i64 = r[c("start")].parse().unwrap();
        let end: i64 = r[c("end")].parse().unwrap();
        assert!(start >= spec.start && start < spec.start + spec.span_secs);
        assert!((0..60).contains(&(end - start)));
        if r[c("log-status")] != "OK" {
            for name in [
                "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes",
                "action",
            ] {
                assert_eq!(r[c(name)], "-");
            }
            continue;
        }
        let src: IpAddr = r[c("srcaddr")].parse().unwrap();
        let dst: IpAddr = r[c("dstaddr")].parse().unwrap();
        assert_eq!(src.is_ipv6(), dst.is_ipv6());
        assert_eq!(r[c("type")], if src.is_ipv6() { "IPv6" } else { "IPv4" });
        pkt_src_differs += usize::from(r[c("pkt-srcaddr")] != r[c("srcaddr")]);
        let proto: u8 = r[c("protocol")].parse().unwrap();
        protocols.insert(proto);
        if proto != 6 && proto != 17 {
            assert_eq!((r[c("srcport")], r[c("dstport")]), ("0", "0"));
        }
        let packets: u64 = r[c("packets")].parse().unwrap();
        let bytes: u64 = r[c("bytes")].parse().unwrap();
        assert!(packets >= 1 && bytes >= 40 * packets && bytes <= 1500 * packets);
        flags.insert(r[c("tcp-flags")].parse::<u8>().unwrap());
        assert!(matches!(r[c("action")], "ACCEPT" | "REJECT"));
        match r[c("flow-direction")] {
            "ingress" => assert_eq!(r[c("traffic-path")], "-"),
            "egress" => assert!(
                r[c("traffic-path")]
                    .parse::<u8>()
                    .is_ok_and(|p| (1..=8).contains(&p))
            ),
            other => panic!("bad direction {other}"),
        }
        assert!(matches!(r[c("reject-reason")], "-" | "BPA"));
        assert!(
            r[c("encryption-status")]
                .parse::<u8>()
                .is_ok_and(|e| e <= 3)
        );
    }
    assert_eq!(protocols, BTreeSet::from([1, 6, 17, 58]));
    assert_eq!(flags, BTreeSet::from([0, 1, 2, 3, 6, 7, 18, 19]));
    assert!(pkt_src_differs > 0);
    assert!(t.contains(" S3 ") && !t.contains("  "));
    assert!(t.contains("arn:aws:ecs:us-east-1:123456789012:task/") && t.contains(" BPA "));
    assert!(t.contains(" nat_gateway ") && t.contains(" i-0"));
}

#[test]
fn nodata_records_keep_eni_metadata() {
    let spec = Spec {
        records: 100,
        nodata_every: 10,
        skipdata_every: 25,
        ..Spec::default()
    }
    .with_fields(formats::V5_ALL);
    let (t, truth) = text(&spec);
    assert_eq!((truth.nodata, truth.skipdata), (10, 3));
    let c = |name| col(&spec, name);
    let nodata: Vec<_> = rows(&spec, &t)
        .into_iter()
        .filter(|r| r[c("log-status")] == "NODATA")
        .collect();
    assert_eq!(nodata.len(), 10);
    for r in nodata {
        assert_eq!(r[0], "5");
        assert!(r[c("interface-id")].starts_with("eni-0") && r[c("vpc-id")].starts_with("vpc-0"));
        for name in [
            "tcp-flags",
            "type",
            "pkt-srcaddr",
            "flow-direction",
            "traffic-path",
        ] {
            assert_eq!(r[c(name)], "-");
        }
    }
}

#[test]
fn unknown_fields_get_placeholder_tokens() {
    let spec = Spec::default().with_fields(&["srcaddr", "my-field", "bytes"]);
    let (t, _) = text(&spec);
    assert_eq!(t.lines().next(), Some("srcaddr my-field bytes"));
    for r in rows(&spec, &t) {
        assert!(r[1].starts_with("x-") && r[1][2..].parse::<u32>().is_ok());
    }
}

#[test]
fn version_column_is_the_highest_field_version() {
    for (format, version) in [
        (formats::DEFAULT_V2, "2"),
        (formats::V3_EXAMPLE, "3"),
        (&["version", "az-id"][..], "4"),
        (formats::V8_ALL, "8"),
        (&["version", "resource-id"][..], "9"),
    ] {
        let (t, _) = text(
            &Spec {
                records: 3,
                ..Spec::default()
            }
            .with_fields(format),
        );
        assert!(rows(&Spec::default(), &t).iter().all(|r| r[0] == version));
    }
}

#[test]
fn degenerate_specs_do_not_panic() {
    for spec in [
        Spec {
            records: 0,
            ..Spec::default()
        },
        Spec {
            sources: 0,
            ..Spec::default()
        },
        Spec {
            sources: 1,
            ipv6_share: 1.0,
            ..Spec::default()
        },
        Spec {
            span_secs: 0,
            ipv6_share: f64::NAN,
            ..Spec::default()
        },
        Spec {
            records: 5,
            flood: Some(flood(IpAddr::V6(Ipv6Addr::LOCALHOST), 50)),
            ..Spec::default()
        },
        Spec {
            fields: vec![],
            malformed_every: 1,
            ..Spec::default()
        },
    ] {
        let (_, truth) = generate(&spec);
        assert_eq!(truth.records, spec.records);
    }
}
