//! The memory budget: an object with more sources and minutes than a budget holds is read to
//! its end within the budget, every flow is still counted somewhere, and what the verdict
//! needs survives: the busiest sources keep their counts and a flood is still found.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use flowlog_core::{
    AggregateOptions, Aggregator, FloodRules, MemoryBudget, Rule, ScanOptions, Source, detect, scan,
};

/// Counts the bytes this test binary holds, and their peak since the last reset.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let held = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(held, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Measuring tests run one at a time: the counters are the process's.
static MEASURING: Mutex<()> = Mutex::new(());

/// Peak bytes allocated while `work` runs, above what was held before it.
fn peak_growth<T>(work: impl FnOnce() -> T) -> (T, usize) {
    let before = HELD.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let value = work();
    (value, PEAK.load(Ordering::Relaxed) - before)
}

const T0: u64 = 1_700_000_040; // a whole minute
const MINUTES: u64 = 30;
const BACKGROUND: u32 = 20_000;
const SERVER: &str = "172.31.0.10";
/// Five clients fifty connections a minute each, every minute.
const BUSY: [&str; 5] = [
    "192.0.2.1",
    "192.0.2.2",
    "192.0.2.3",
    "192.0.2.4",
    "192.0.2.5",
];
const BUSY_PER_MINUTE: u64 = 50;
/// A client like the background ones (one connection a minute), until it floods.
const FLOODER: &str = "203.0.113.66";
const FLOOD_MINUTES: std::ops::Range<u64> = 20..25;
const FLOOD_PER_MINUTE: u64 = 2_000;
/// Memory the scan itself holds besides the aggregation (its chunks and one partial line).
const SCAN_BYTES: usize = 4 << 20;

/// The object, in time order (`tcp-flags` 3: SYN and FIN, a client's completed connection;
/// AWS logs ACK only with SYN-ACK): every minute each background client opens one completed
/// connection to the server, the busy clients fifty each, the flooder one, and during
/// [`FLOOD_MINUTES`] the flooder also sends [`FLOOD_PER_MINUTE`] bare SYNs.
fn object() -> String {
    let mut text = String::from(
        "srcaddr dstaddr srcport dstport protocol packets bytes start end action tcp-flags log-status\n",
    );
    let line = |text: &mut String, src: &str, port: u64, t: u64, flags: u8| {
        let (packets, bytes) = if flags == 2 { (1, 40) } else { (6, 900) };
        writeln!(
            text,
            "{src} {SERVER} {} 443 6 {packets} {bytes} {t} {} ACCEPT {flags} OK",
            32_768 + port % 28_000,
            t + 1
        )
        .unwrap();
    };
    for m in 0..MINUTES {
        let t = T0 + m * 60;
        for s in 0..BACKGROUND {
            let [_, _, a, b] = s.to_be_bytes();
            line(&mut text, &format!("198.18.{a}.{b}"), u64::from(s), t, 3);
            if s % 100 == 0 {
                for (i, busy) in BUSY.iter().enumerate() {
                    let per_block = BUSY_PER_MINUTE / 10;
                    if s / 100 < 10 {
                        for k in 0..per_block {
                            line(&mut text, busy, i as u64 * 1000 + k, t, 3);
                        }
                    }
                }
            }
        }
        line(&mut text, FLOODER, m, t, 3);
        if FLOOD_MINUTES.contains(&m) {
            for k in 0..FLOOD_PER_MINUTE {
                line(&mut text, FLOODER, k, t, 2);
            }
        }
    }
    text
}

fn records() -> u64 {
    MINUTES * (u64::from(BACKGROUND) + BUSY.len() as u64 * BUSY_PER_MINUTE + 1)
        + (FLOOD_MINUTES.end - FLOOD_MINUTES.start) * FLOOD_PER_MINUTE
}

fn aggregate(text: &str, max_sources: usize, budget: MemoryBudget) -> (Aggregator, usize) {
    let (aggregator, bytes) = peak_growth(|| {
        let options = AggregateOptions {
            max_sources,
            ..AggregateOptions::default()
        };
        let mut aggregator = Aggregator::with_budget(options, budget);
        let report = scan(text.as_bytes(), &ScanOptions::default(), &mut aggregator).unwrap();
        assert_eq!(report.log_status.ok, records());
        aggregator
    });
    (aggregator, bytes)
}

fn flows_of(aggregator: &Aggregator, address: &str) -> Option<u64> {
    let ip: IpAddr = address.parse().unwrap();
    aggregator
        .source(Source::Addr(ip))
        .map(|v| v.summary().flows)
}

#[test]
fn many_sources_stay_within_the_budget_and_the_busiest_and_the_flood_are_still_found() {
    let _serial = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let text = object();
    let budget = MemoryBudget::new(4 << 20);
    let max_sources = AggregateOptions::default().max_sources;
    let (aggregator, bytes) = aggregate(&text, max_sources, budget);

    // Memory: within the budget (and the scan's own buffers), while the same object with every
    // source tracked takes many times as much.
    assert!(
        bytes <= budget.bytes + SCAN_BYTES,
        "peak {bytes} bytes for a budget of {}",
        budget.bytes
    );
    // The reference: every source tracked, every minute kept (38.6 MB with narrow minutes).
    let (unbounded, unbounded_bytes) = aggregate(&text, 50_000, MemoryBudget::default());
    assert!(
        unbounded_bytes > 8 * budget.bytes,
        "{unbounded_bytes} bytes without the budget's pressure"
    );
    assert_eq!(
        unbounded.source_count(),
        BACKGROUND as usize + BUSY.len() + 1
    );
    assert_eq!(unbounded.windows_dropped(), 0);

    // The budget bit: fewer sources tracked than configured, minutes dropped.
    let limits = aggregator.limits();
    assert!(limits.sources < max_sources, "{limits:?}");
    assert!(aggregator.source_count() <= limits.sources);
    assert!(aggregator.source_count() < BACKGROUND as usize);
    assert!(aggregator.untracked_flows() > 0);

    // Every flow counted once: tracked, untracked, or unattributed (a dropped minute).
    let tracked: u64 = aggregator.summaries().iter().map(|s| s.flows).sum();
    assert_eq!(
        tracked + aggregator.untracked_flows() + aggregator.unattributed(),
        records(),
        "tracked {tracked}, untracked {}, unattributed {}",
        aggregator.untracked_flows(),
        aggregator.unattributed()
    );

    // The busiest sources are tracked and keep every minute: once the pool is spent, a minute
    // of theirs that finds no window frees the spill minutes of a much lighter source, so at
    // most its first record is lost (unattributed); and they are the top five.
    for busy in BUSY {
        let flows = flows_of(&aggregator, busy).unwrap();
        let all = MINUTES * BUSY_PER_MINUTE;
        assert!(
            (all - MINUTES..=all).contains(&flows),
            "{busy}: {flows} of {all}"
        );
        let view = aggregator
            .source(Source::Addr(busy.parse().unwrap()))
            .unwrap();
        assert_eq!(view.windows().len() as u64, MINUTES, "{busy}");
        assert_eq!(view.lower_bound(), flows < all, "{busy}");
    }
    assert!(aggregator.windows_dropped() > 0);
    let mut top: Vec<String> = aggregator
        .summaries()
        .iter()
        .skip(1)
        .take(BUSY.len())
        .map(|s| s.source.to_string())
        .collect();
    top.sort();
    assert_eq!(top, BUSY);

    // The flood is found from the same source and minutes as without the budget, although its
    // source had been as light as any other for twenty minutes before.
    let rules = FloodRules::default();
    let flooded = |aggregator: &Aggregator| {
        let mut found: Vec<(String, Rule, i64)> = detect(aggregator, &rules)
            .floods
            .iter()
            .map(|f| (f.source.to_string(), f.rule, f.window_start))
            .collect();
        found.sort();
        found
    };
    let expected = flooded(&unbounded);
    assert!(
        expected
            .iter()
            .any(|(s, r, _)| s == FLOODER && *r == Rule::SynFlood),
        "{expected:?}"
    );
    let found = flooded(&aggregator);
    assert!(
        found.iter().any(|(s, r, w)| s == FLOODER
            && *r == Rule::SynFlood
            && FLOOD_MINUTES.contains(&((*w as u64 - T0) / 60))),
        "{found:?}"
    );
    let flooder = flows_of(&aggregator, FLOODER).unwrap();
    let flood_flows = (FLOOD_MINUTES.end - FLOOD_MINUTES.start) * FLOOD_PER_MINUTE;
    assert!(
        flooder >= flood_flows * 9 / 10,
        "{flooder} of {flood_flows}"
    );
    // Dropped minutes make counts lower bounds, never higher ones.
    assert!(flooder <= MINUTES + flood_flows);
    assert!(
        aggregator
            .summaries()
            .iter()
            .all(|s| s.flows <= MINUTES * BUSY_PER_MINUTE.max(1) + flood_flows)
    );
}

#[test]
fn a_flood_after_hours_of_light_traffic_is_found_though_its_source_is_at_its_minute_cap() {
    // One connection a minute for three hours fills the source's minutes long before the flood
    // (each minute weighs as much as one flood record): the flood's minute must still take the
    // place of a light one.
    let _serial = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let mut text = String::from(
        "srcaddr dstaddr srcport dstport protocol packets bytes start end action tcp-flags log-status\n",
    );
    let flood_minute = 150;
    for m in 0..180u64 {
        let t = T0 + m * 60;
        writeln!(
            text,
            "{FLOODER} {SERVER} 40000 443 6 1 40 {t} {t} ACCEPT 3 OK"
        )
        .unwrap();
        if m == flood_minute {
            for k in 0..FLOOD_PER_MINUTE {
                let port = 32_768 + k;
                writeln!(
                    text,
                    "{FLOODER} {SERVER} {port} 443 6 1 40 {t} {t} ACCEPT 2 OK"
                )
                .unwrap();
            }
        }
    }
    let mut aggregator = Aggregator::new(AggregateOptions::default());
    scan(text.as_bytes(), &ScanOptions::default(), &mut aggregator).unwrap();
    let view = aggregator
        .source(Source::Addr(FLOODER.parse().unwrap()))
        .unwrap();
    assert_eq!(view.windows().len(), flowlog_core::MAX_WINDOWS_PER_SOURCE);
    assert!(view.lower_bound());
    let flood_start = (T0 + flood_minute * 60) as i64;
    let flood = view
        .windows()
        .into_iter()
        .find(|(start, _)| *start == flood_start)
        .map(|(_, m)| u64::from(m.flows));
    assert!(flood >= Some(FLOOD_PER_MINUTE - 1), "{flood:?}");
    let found: Vec<(String, Rule, i64)> = detect(&aggregator, &FloodRules::default())
        .floods
        .iter()
        .map(|f| (f.source.to_string(), f.rule, f.window_start))
        .collect();
    assert_eq!(found, [(FLOODER.to_string(), Rule::SynFlood, flood_start)]);
    // Every flow counted once.
    assert_eq!(
        view.summary().flows + aggregator.unattributed(),
        180 + FLOOD_PER_MINUTE
    );
}

#[test]
fn the_default_budget_keeps_every_minute_of_an_ordinary_object() {
    let _serial = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let mut text = String::from("srcaddr start end packets bytes log-status\n");
    for m in 0..12 {
        let t = T0 + m * 60;
        for s in 0..2_000u32 {
            let [_, _, a, b] = s.to_be_bytes();
            writeln!(text, "10.1.{a}.{b} {t} {t} 1 40 OK").unwrap();
        }
    }
    let mut aggregator = Aggregator::new(AggregateOptions::default());
    scan(text.as_bytes(), &ScanOptions::default(), &mut aggregator).unwrap();
    assert_eq!(aggregator.windows_dropped(), 0);
    assert_eq!(aggregator.unattributed(), 0);
    assert_eq!(aggregator.untracked_flows(), 0);
    assert_eq!(aggregator.source_count(), 2_000);
    assert!(aggregator.summaries().iter().all(|s| s.flows == 12));
}

#[test]
fn a_lambda_budget_grows_with_its_memory_size() {
    let small = MemoryBudget::for_lambda_memory_mb(128);
    let default = MemoryBudget::for_lambda_memory_mb(512);
    let large = MemoryBudget::for_lambda_memory_mb(10_240);
    assert!(small.bytes < default.bytes && default.bytes < large.bytes);
    // Never more than the function has.
    assert!(default.bytes < 512 << 20);
    let options = AggregateOptions {
        max_sources: 10_000_000,
        ..AggregateOptions::default()
    };
    let tracked = |b: MemoryBudget| Aggregator::with_budget(options, b).limits().sources;
    assert!(tracked(small) < tracked(default) && tracked(default) < tracked(large));
}
