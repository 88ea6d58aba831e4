//! What every flow-log Lambda function shares: validated settings from the environment, AWS
//! clients (honouring `AWS_ENDPOINT_URL` for local emulators), JSON logs, flow-log objects
//! streamed from S3 into `flowlog-core`, and S3 conditional-write markers.

pub mod aws;
pub mod logging;
pub mod markers;
pub mod object;
pub mod settings;

pub use markers::{Created, MarkerError, MarkerStore, Replaced, Stored};
pub use object::{
    ObjectError, ObjectMeta, ObjectScan, PUBLISH_RESERVE, aggregate_object, invocation_deadline,
    read_deadline, scan_object,
};
pub use settings::{ReadSettings, SettingError, Settings};
