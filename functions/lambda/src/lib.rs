//! What every flow-log Lambda function shares: validated settings from the environment, AWS
//! clients (honouring `AWS_ENDPOINT_URL` for local emulators), JSON logs, and the ports with
//! their AWS adapters: flow-log objects (text streamed, Parquet whole or by range reads) and
//! CloudWatch Logs batches read into `flowlog-core` ([`ObjectSource`], [`aggregate_log_batch`]), small
//! records written with compare-and-swap ([`StateStore`], in DynamoDB), the time ([`Clock`]), and one
//! [`Lease`] primitive over them. Feature `fakes` adds in-memory stand-ins for tests.

pub mod aws;
mod clock;
mod digest;
mod dynamo;
pub mod env;
#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
mod lease;
pub mod logging;
mod logs;
mod object;
mod s3_objects;
pub mod settings;
pub mod sns;
mod state;
mod summaries;

pub use clock::{Clock, SystemClock};
pub use digest::{FieldDigest, digest_128};
pub use dynamo::{DynamoStore, MAX_BODY_BYTES};
pub use lease::{Acquired, Lease, LeaseError};
pub use logs::{aggregate_log_batch, log_batch_meta, logs_origin, newest_event};
pub use object::{
    LOGS_BUCKET_PREFIX, ObjectError, ObjectMeta, ObjectScan, ObjectSource, OpenedObject,
    PUBLISH_RESERVE, Pinned, aggregate_object, invocation_deadline, read_deadline, scan_object,
};
pub use s3_objects::S3Objects;
pub use settings::{
    ParquetRead, RANGED_ABOVE_BYTES, ReadSettings, SettingError, Settings, flood_rules, state_table,
};
pub use state::{Created, Replaced, StateStore, StoreError, Stored, Version, split_name};
pub use summaries::{
    BUCKET_SECS, DetectRequest, Loaded, SPAN_SECS, SummaryLog, Written, flow_log_origin,
};
