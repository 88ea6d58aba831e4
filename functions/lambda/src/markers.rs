//! Small state objects in S3 written with conditional requests, so that concurrent invocations
//! agree on who did what (alert cooldowns, publish ledgers).

use aws_sdk_s3::error::SdkError;

use crate::aws::{code, describe};
use aws_sdk_s3::primitives::ByteStream;

/// A stored marker: its body and the entity tag to replace it conditionally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The body.
    pub body: Vec<u8>,
    /// Entity tag of this version.
    pub etag: String,
}

/// Outcome of [`MarkerStore::create`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// This call created it; the entity tag of what it wrote.
    Created(String),
    /// It already existed (another invocation got there first).
    Exists,
}

/// Outcome of [`MarkerStore::replace`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaced {
    /// This call replaced the expected version; the entity tag of what it wrote.
    Replaced(String),
    /// Someone changed it since it was read.
    Conflict,
}

/// A marker operation failed (not a lost race: those are outcomes).
#[derive(Debug, thiserror::Error)]
#[error("{operation} s3://{bucket}/{key} failed: {message}")]
pub struct MarkerError {
    /// What was attempted.
    pub operation: &'static str,
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The SDK's error.
    pub message: String,
}

/// Markers under `s3://bucket/prefix/`.
#[derive(Debug, Clone)]
pub struct MarkerStore {
    s3: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

/// How often a conditional write is retried when S3 answers 409 (concurrent conditional writes).
const CONFLICT_RETRIES: usize = 3;

impl MarkerStore {
    /// A store under `prefix` (a trailing `/` is added when missing).
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>, prefix: &str) -> MarkerStore {
        let mut prefix = prefix.trim_start_matches('/').to_owned();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        MarkerStore {
            s3,
            bucket: bucket.into(),
            prefix,
        }
    }

    /// The full key of marker `name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Reads a marker, `None` if it does not exist.
    pub async fn get(&self, name: &str) -> Result<Option<Stored>, MarkerError> {
        let key = self.key(name);
        match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(output) => {
                let etag = output.e_tag().unwrap_or_default().to_owned();
                let body = output
                    .body
                    .collect()
                    .await
                    .map_err(|e| self.error("GetObject", &key, e.to_string()))?;
                Ok(Some(Stored {
                    body: body.to_vec(),
                    etag,
                }))
            }
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => Ok(None),
            Err(e) => Err(self.error("GetObject", &key, describe(&e))),
        }
    }

    /// Creates a marker only if it does not exist (`If-None-Match: *`).
    pub async fn create(&self, name: &str, body: Vec<u8>) -> Result<Created, MarkerError> {
        let key = self.key(name);
        for _ in 0..CONFLICT_RETRIES {
            let sent = self
                .s3
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .if_none_match("*")
                .body(ByteStream::from(body.clone()))
                .send()
                .await;
            match sent {
                Ok(output) => {
                    return Ok(Created::Created(
                        output.e_tag().unwrap_or_default().to_owned(),
                    ));
                }
                Err(e) if code(&e) == Some("PreconditionFailed") => return Ok(Created::Exists),
                Err(e) if code(&e) == Some("ConditionalRequestConflict") => continue,
                Err(e) => return Err(self.error("PutObject (If-None-Match)", &key, describe(&e))),
            }
        }
        Ok(Created::Exists)
    }

    /// Replaces a marker only if it is still the version read (`If-Match: etag`).
    pub async fn replace(
        &self,
        name: &str,
        etag: &str,
        body: Vec<u8>,
    ) -> Result<Replaced, MarkerError> {
        let key = self.key(name);
        let sent = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .if_match(etag)
            .body(ByteStream::from(body))
            .send()
            .await;
        match sent {
            Ok(output) => Ok(Replaced::Replaced(
                output.e_tag().unwrap_or_default().to_owned(),
            )),
            Err(e)
                if matches!(
                    code(&e),
                    Some("PreconditionFailed" | "ConditionalRequestConflict" | "NoSuchKey")
                ) =>
            {
                Ok(Replaced::Conflict)
            }
            Err(e) => Err(self.error("PutObject (If-Match)", &key, describe(&e))),
        }
    }

    fn error(&self, operation: &'static str, key: &str, message: String) -> MarkerError {
        MarkerError {
            operation,
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            message,
        }
    }
}
