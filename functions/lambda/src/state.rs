//! The state-store port: small named records written with compare-and-swap, so that concurrent
//! invocations agree on who did what (publish leases and ledgers, shared summaries, incidents).
//!
//! Every record has an opaque [`Version`] that changes with each write. A backend needs two
//! conditional writes: *create if absent* and *replace if still at version V*, and a listing of
//! the records of one directory (the part of a name before its last `/`). DynamoDB does them
//! with conditional `PutItem`s on `attribute_not_exists` and on a version attribute, and a
//! `Query` on the directory as partition key ([`crate::DynamoStore`]).

use std::future::Future;

/// The version of a stored record: a DynamoDB version attribute, a fake's counter, ...
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(pub String);

/// A stored record: its body and the version to replace it conditionally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The body.
    pub body: Vec<u8>,
    /// The version of this body.
    pub version: Version,
}

/// Outcome of [`StateStore::create`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// This call created it; the version it wrote.
    Created(Version),
    /// It already existed (another invocation got there first).
    Exists,
}

/// Outcome of [`StateStore::replace`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaced {
    /// This call replaced the expected version; the version it wrote.
    Replaced(Version),
    /// Someone changed or removed it since it was read.
    Conflict,
}

/// A state operation failed (not a lost race: those are outcomes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} {location} failed: {message}")]
pub struct StoreError {
    /// What was attempted.
    pub operation: &'static str,
    /// The record, as the store names it (e.g. `s3://bucket/prefix/name`).
    pub location: String,
    /// The backend's error.
    pub message: String,
}

/// Named records with compare-and-swap writes.
pub trait StateStore: Send + Sync {
    /// Reads a record, `None` if it does not exist.
    fn get(&self, name: &str) -> impl Future<Output = Result<Option<Stored>, StoreError>> + Send;

    /// Creates a record only if it does not exist.
    fn create(
        &self,
        name: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Created, StoreError>> + Send;

    /// Replaces a record only if it is still at `version`.
    fn replace(
        &self,
        name: &str,
        version: &Version,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Replaced, StoreError>> + Send;

    /// Every record directly in `directory` (names `directory/<base>` without a further `/`),
    /// in name order.
    fn list(
        &self,
        directory: &str,
    ) -> impl Future<Output = Result<Vec<(String, Stored)>, StoreError>> + Send;

    /// Where record `name` lives, for messages.
    fn locate(&self, name: &str) -> String;
}

/// Splits a name into its directory and base name: `a/b/c` is (`a/b`, `c`); a name without `/`
/// is in the directory `""`.
pub fn split_name(name: &str) -> (&str, &str) {
    name.rsplit_once('/').unwrap_or(("", name))
}
