//! The events that announce a new flow-log object, decoded into [`ObjectRef`]s, and the
//! dispatch that turns per-object results into the Lambda response.
//!
//! Accepted: S3 event notifications (`Records[].s3`), EventBridge "Object Created", SNS
//! notifications wrapping either, and SQS messages whose body is any of those (answered with a
//! partial batch response). The `s3:TestEvent` S3 sends when a notification is configured is
//! acknowledged and ignored, and so are deletions. Objects outside the function's [`Scope`]
//! (bucket, flow-log prefix) are skipped without being read.

mod decode;
mod dispatch;
mod key;
mod scope;

pub use decode::{DecodeError, MAX_NESTING, ObjectRef, SqsItem, Trigger, decode};
pub use dispatch::{DispatchError, ObjectFailure, dispatch, handle};
pub use key::form_decode;
pub use scope::{FLOW_LOG_SEGMENT, FLOW_LOG_SUFFIX, Scope};
