//! Reading a batch of CloudWatch Logs events into the core: each event's message is one record
//! line of the flow log's format (`FLOW_LOG_FORMAT`; log events have no header line), read as
//! a headerless text object would be.

use std::time::Instant;

use flowlog_core::Aggregator;
use flowlog_events::LogBatch;

use crate::digest::digest_128;
use crate::object::{LOGS_BUCKET_PREFIX, ObjectError, ObjectMeta, ObjectScan};
use crate::settings::ReadSettings;
use crate::summaries::is_account_id;

/// What stands for the batch where an object would: bucket `cwl:<log group>`, key the log
/// stream, entity tag a digest of the event ids (so a redelivered batch is the same "object
/// version", and another batch of the stream another one), size the bytes of the messages.
/// No arrival time: the events carry only their records' times.
pub fn log_batch_meta(batch: &LogBatch) -> ObjectMeta {
    ObjectMeta {
        bucket: format!("{LOGS_BUCKET_PREFIX}{}", batch.log_group),
        key: batch.log_stream.clone(),
        etag: Some(event_ids_digest(batch)),
        size: Some(batch.events.iter().map(|e| e.message.len() as i64).sum()),
        last_modified: None,
    }
}

/// The account and region of a batch's flow logs: the account that owns the log group
/// (`owner`, 12 digits) and `region`, the function's own (a subscription delivers only log
/// groups of its region). `None` when either is unknown.
pub fn logs_origin(batch: &LogBatch, region: Option<&str>) -> Option<(String, String)> {
    let account = &batch.owner;
    let region = region.filter(|r| !r.is_empty())?;
    is_account_id(account).then(|| (account.clone(), region.to_owned()))
}

/// The newest event's time (Unix seconds): a batch's stand-in for an arrival, the same on
/// every delivery of it.
pub fn newest_event(batch: &LogBatch) -> Option<i64> {
    batch
        .events
        .iter()
        .map(|e| e.timestamp.div_euclid(1000))
        .max()
}

/// A 128-bit digest ([`digest_128`]) of the batch's event ids in order.
fn event_ids_digest(batch: &LogBatch) -> String {
    digest_128(batch.events.iter().map(|event| event.id.as_bytes()))
}

/// Reads `batch` into a fresh [`Aggregator`] with the function's read settings, on a blocking
/// thread.
pub async fn aggregate_log_batch(
    batch: &LogBatch,
    read: &ReadSettings,
) -> Result<ObjectScan<Aggregator>, ObjectError> {
    let started = Instant::now();
    let meta = log_batch_meta(batch);
    let mut text = Vec::with_capacity(meta.size.unwrap_or(0) as usize + batch.events.len());
    for event in &batch.events {
        text.extend_from_slice(event.message.as_bytes());
        text.push(b'\n');
    }
    let (options, aggregate) = (read.scan.clone(), read.aggregate);
    let (visitor, result) = tokio::task::spawn_blocking(move || {
        let mut visitor = Aggregator::new(aggregate);
        let result = flowlog_core::scan(&text[..], &options, &mut visitor);
        (visitor, result)
    })
    .await
    .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()));
    match result {
        Ok(report) => Ok(ObjectScan {
            visitor,
            report,
            meta,
            parquet: false,
            elapsed: started.elapsed(),
        }),
        Err(source) => Err(ObjectError::Logs {
            batch: batch.describe(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use flowlog_events::LogEvent;

    use super::*;

    fn batch(ids: &[&str], messages: &[&str]) -> LogBatch {
        LogBatch {
            owner: "123456789012".into(),
            log_group: "/vpc/flow-logs".into(),
            log_stream: "eni-0a1b2c3d4e5f67890-all".into(),
            subscription_filters: vec!["flowlogs".into()],
            events: ids
                .iter()
                .zip(messages)
                .enumerate()
                .map(|(i, (id, message))| LogEvent {
                    id: (*id).into(),
                    timestamp: 1_700_000_000_000 + 1000 * i as i64,
                    message: (*message).into(),
                })
                .collect(),
        }
    }

    const RECORD: &str = "2 123456789012 eni-0a1b2c3d4e5f67890 198.51.100.7 10.0.0.5 40000 443 6 3 180 1700000000 1700000030 ACCEPT OK";

    #[test]
    fn a_batch_names_its_owner_account_and_the_function_region() {
        let mut b = batch(&["1"], &["x"]);
        assert_eq!(
            logs_origin(&b, Some("eu-west-1")),
            Some(("123456789012".into(), "eu-west-1".into()))
        );
        assert_eq!(logs_origin(&b, None), None, "no region, no origin");
        b.owner = "CloudwatchLogs".into();
        assert_eq!(logs_origin(&b, Some("eu-west-1")), None, "not an account");
    }

    #[test]
    fn a_batch_is_named_by_its_log_group_stream_and_event_ids() {
        let one = log_batch_meta(&batch(&["1", "2"], &[RECORD, RECORD]));
        assert_eq!(one.url(), "cwl:/vpc/flow-logs/eni-0a1b2c3d4e5f67890-all");
        assert_eq!(one, log_batch_meta(&batch(&["1", "2"], &[RECORD, RECORD])));
        let other = log_batch_meta(&batch(&["1", "3"], &[RECORD, RECORD]));
        assert_ne!(one.etag, other.etag);
        assert_eq!(one.etag.as_ref().unwrap().len(), 32);
        // Pinned: the ledger and the summaries name a batch by it; another value would make a
        // redelivered batch look new.
        assert_eq!(
            one.etag.as_deref(),
            Some("40e56fed1ecb4a6add23d96813980cc7")
        );
        assert_eq!(
            newest_event(&batch(&["1", "2"], &[RECORD, RECORD])),
            Some(1_700_000_001)
        );
    }

    #[tokio::test]
    async fn events_are_records_of_the_configured_format_and_a_bad_one_is_skipped() {
        let read = ReadSettings::from_settings(&crate::Settings::new(&|_| None)).unwrap();
        let scan = aggregate_log_batch(
            &batch(&["1", "2", "3"], &[RECORD, "2 garbage", RECORD]),
            &read,
        )
        .await
        .unwrap();
        assert_eq!(scan.report.records, 2);
        assert_eq!(scan.report.skipped.total(), 1);
        assert_eq!(
            scan.visitor
                .window_totals()
                .values()
                .map(|t| t.flows)
                .sum::<u64>(),
            2
        );
        let junk = aggregate_log_batch(&batch(&["1"], &["hello world"]), &read)
            .await
            .unwrap_err();
        assert!(
            junk.to_string().starts_with(
                "cwl:/vpc/flow-logs/eni-0a1b2c3d4e5f67890-all: not a VPC flow-log object"
            ),
            "{junk}"
        );
    }
}
