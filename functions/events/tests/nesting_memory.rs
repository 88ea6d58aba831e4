//! Decoding a large event that nests wrappers allocates nothing like the event again per level
//! (measured with a counting allocator; this binary holds only this test, so nothing else
//! allocates meanwhile).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use flowlog_events::{DecodeError, Input, MAX_NESTING, Trigger, decode};
use serde_json::{Value, json};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(live, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated at the peak of `f`, above what was live before it.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst) - before)
}

/// A failure-destination record around `payload`, carrying `ballast` in its context.
fn wrap(payload: Value, ballast: &Value) -> Value {
    json!({"requestContext": {"condition": "RetriesExhausted", "ballast": ballast},
           "requestPayload": payload})
}

#[test]
fn a_large_event_nesting_wrappers_is_decoded_without_copies_and_deep_nesting_refused() {
    // About 5 MB of JSON: 600,000 small numbers, ~19 MB as a parsed tree.
    let ballast = Value::Array((0..150_000).map(|i| json!(i % 10)).collect());
    let inner = json!({"version": "0", "detail-type": "Object Created", "source": "aws.s3",
        "detail": {"bucket": {"name": "b"}, "object": {"key": "AWSLogs/x.log.gz"}}});
    let mut event = inner;
    for _ in 0..MAX_NESTING {
        event = wrap(event, &ballast);
    }
    let text = event.to_string();
    assert!(text.len() > 1 << 20, "{} bytes", text.len());
    let (decoded, peak) = peak_during(|| decode(event));
    let Trigger::Inputs(inputs) = decoded.unwrap() else {
        panic!("inputs expected")
    };
    assert!(matches!(&inputs[..], [Input::Object(o)] if o.key == "AWSLogs/x.log.gz"));
    // Copying the rest of the event at each level would allocate tens of MB.
    assert!(
        peak < 64 << 10,
        "decoding allocated {peak} bytes at its peak"
    );

    // The same ballast one level deeper is refused, again without copies.
    let mut deeper: Value = serde_json::from_str(&text).unwrap();
    deeper = wrap(deeper, &ballast);
    let (decoded, peak) = peak_during(|| decode(deeper));
    assert_eq!(
        decoded.unwrap_err(),
        DecodeError::TooDeep { limit: MAX_NESTING }
    );
    assert!(
        peak < 64 << 10,
        "refusing allocated {peak} bytes at its peak"
    );
}
