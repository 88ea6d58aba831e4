//! What every flow-log Lambda function shares: validated settings from the environment, AWS
//! clients (honouring `AWS_ENDPOINT_URL` for local emulators), JSON logs, and the ports with
//! their S3 adapters: flow-log objects streamed into `flowlog-core` ([`ObjectSource`]), small
//! records written with compare-and-swap ([`StateStore`]), the time ([`Clock`]), and one
//! [`Lease`] primitive over them. Feature `fakes` adds in-memory stand-ins for tests.

pub mod aws;
mod clock;
#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
mod lease;
pub mod logging;
mod object;
mod s3_objects;
mod s3_state;
pub mod settings;
mod state;

pub use clock::{Clock, SystemClock};
pub use lease::{Acquired, Lease, LeaseError};
pub use object::{
    ObjectError, ObjectMeta, ObjectScan, ObjectSource, OpenedObject, PUBLISH_RESERVE,
    aggregate_object, invocation_deadline, read_deadline, scan_object,
};
pub use s3_objects::S3Objects;
pub use s3_state::S3StateStore;
pub use settings::{ReadSettings, SettingError, Settings};
pub use state::{Created, Replaced, StateStore, StoreError, Stored, Version};
