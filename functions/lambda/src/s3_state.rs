//! The state store in S3: one object per record under a prefix, written with conditional
//! requests (`If-None-Match: *` to create, `If-Match: <etag>` to replace).

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;

use crate::aws::{code, describe};
use crate::state::{Created, Replaced, StateStore, StoreError, Stored, Version};

/// Records under `s3://bucket/prefix/`.
#[derive(Debug, Clone)]
pub struct S3StateStore {
    s3: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

/// How often a conditional write is retried when S3 answers 409 (concurrent conditional writes).
const CONFLICT_RETRIES: usize = 3;

impl S3StateStore {
    /// A store under `prefix` (a trailing `/` is added when missing).
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>, prefix: &str) -> S3StateStore {
        let mut prefix = prefix.trim_start_matches('/').to_owned();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        S3StateStore {
            s3,
            bucket: bucket.into(),
            prefix,
        }
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn error(&self, operation: &'static str, name: &str, message: String) -> StoreError {
        StoreError {
            operation,
            location: self.locate(name),
            message,
        }
    }
}

fn version(etag: Option<&str>) -> Version {
    Version(etag.unwrap_or_default().to_owned())
}

impl StateStore for S3StateStore {
    async fn get(&self, name: &str) -> Result<Option<Stored>, StoreError> {
        let sent = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .send()
            .await;
        match sent {
            Ok(output) => {
                let version = version(output.e_tag());
                let body = output
                    .body
                    .collect()
                    .await
                    .map_err(|e| self.error("GetObject", name, e.to_string()))?;
                Ok(Some(Stored {
                    body: body.to_vec(),
                    version,
                }))
            }
            Err(SdkError::ServiceError(e)) if e.err().is_no_such_key() => Ok(None),
            Err(e) => Err(self.error("GetObject", name, describe(&e))),
        }
    }

    async fn create(&self, name: &str, body: Vec<u8>) -> Result<Created, StoreError> {
        for _ in 0..CONFLICT_RETRIES {
            let sent = self
                .s3
                .put_object()
                .bucket(&self.bucket)
                .key(self.key(name))
                .if_none_match("*")
                .body(ByteStream::from(body.clone()))
                .send()
                .await;
            match sent {
                Ok(output) => return Ok(Created::Created(version(output.e_tag()))),
                Err(e) if code(&e) == Some("PreconditionFailed") => return Ok(Created::Exists),
                Err(e) if code(&e) == Some("ConditionalRequestConflict") => continue,
                Err(e) => return Err(self.error("PutObject (If-None-Match)", name, describe(&e))),
            }
        }
        Ok(Created::Exists)
    }

    async fn replace(
        &self,
        name: &str,
        expected: &Version,
        body: Vec<u8>,
    ) -> Result<Replaced, StoreError> {
        let sent = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .if_match(&expected.0)
            .body(ByteStream::from(body))
            .send()
            .await;
        match sent {
            Ok(output) => Ok(Replaced::Replaced(version(output.e_tag()))),
            Err(e)
                if matches!(
                    code(&e),
                    Some("PreconditionFailed" | "ConditionalRequestConflict" | "NoSuchKey")
                ) =>
            {
                Ok(Replaced::Conflict)
            }
            Err(e) => Err(self.error("PutObject (If-Match)", name, describe(&e))),
        }
    }

    async fn list(&self, directory: &str) -> Result<Vec<(String, Stored)>, StoreError> {
        let prefix = if directory.is_empty() {
            self.prefix.clone()
        } else {
            format!("{}{directory}/", self.prefix)
        };
        let mut names = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("ListObjectsV2", directory, describe(&e)))?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    names.push(key[self.prefix.len()..].to_owned());
                }
            }
        }
        let mut found = Vec::with_capacity(names.len());
        for name in names {
            // Gone between the listing and the read: not listed.
            if let Some(stored) = self.get(&name).await? {
                found.push((name, stored));
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    fn locate(&self, name: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(name))
    }
}
