//! The events that announce new flow-log data, decoded into [`Input`]s, and the dispatch that
//! turns per-input results into the Lambda response.
//!
//! Accepted: S3 event notifications (`Records[].s3`), EventBridge "Object Created", SNS
//! notifications wrapping either, SQS messages whose body is any of those (answered with a
//! partial batch response), CloudWatch Logs subscription events (`awslogs`: a batch of log
//! events, each a record), and S3 Batch Operations jobs (schema 1.0 and 2.0, answered per
//! task). The `s3:TestEvent` S3 sends when a notification is configured is acknowledged and
//! ignored, and so are deletions and CloudWatch Logs control messages. Objects outside the
//! function's [`Scope`] (bucket, flow-log prefix) are skipped without being read.

mod batch;
mod decode;
mod dispatch;
mod key;
mod logs;
mod scope;

pub use batch::{BatchJob, BatchTask, MAX_RESULT_STRING, ResultCode, Schema, TaskResult};
pub use decode::{DecodeError, Input, MAX_NESTING, ObjectRef, SqsItem, Trigger, decode};
pub use dispatch::{
    DispatchError, Failure, ObjectFailure, Retry, dispatch, dispatch_inputs, handle, handle_inputs,
    partial_batch_response,
};
pub use key::form_decode;
pub use logs::{LogBatch, LogEvent, MAX_LOG_DATA_BYTES};
pub use scope::{FLOW_LOG_SEGMENT, FLOW_LOG_SUFFIX, FLOW_LOG_SUFFIXES, PARQUET_SUFFIX, Scope};
