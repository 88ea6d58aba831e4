//! The object-read port on S3: `GetObject`, its body streamed.

use std::ops::Range;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use bytes::Bytes;

use crate::object::{ObjectError, ObjectSource, OpenedObject, Pinned};

/// Reads flow-log objects from S3.
#[derive(Debug, Clone)]
pub struct S3Objects {
    s3: aws_sdk_s3::Client,
}

impl S3Objects {
    /// Objects read through `s3`.
    pub fn new(s3: aws_sdk_s3::Client) -> S3Objects {
        S3Objects { s3 }
    }
}

impl ObjectSource for S3Objects {
    async fn open(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<OpenedObject, ObjectError> {
        let output = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .await
            .map_err(|e| classify(e, bucket, key))?;
        Ok(OpenedObject {
            etag: output.e_tag().map(|e| e.trim_matches('"').to_owned()),
            size: output.content_length(),
            last_modified: output.last_modified().map(|t| t.secs()),
            // The bridge must be created on the runtime (it captures the handle) and read off it.
            body: Box::new(tokio_util::io::SyncIoBridge::new(
                output.body.into_async_read(),
            )),
        })
    }

    async fn read_range(
        &self,
        bucket: &str,
        key: &str,
        pinned: Pinned<'_>,
        range: Range<u64>,
    ) -> Result<Bytes, ObjectError> {
        let output = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(pinned.version_id.map(str::to_owned))
            .set_if_match(pinned.etag.map(|e| format!("\"{e}\"")))
            .range(format!(
                "bytes={}-{}",
                range.start,
                range.end.saturating_sub(1)
            ))
            .send()
            .await
            .map_err(|e| classify(e, bucket, key))?;
        let body = output.body.collect().await.map_err(|e| ObjectError::Get {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            message: format!("reading bytes {}..{}: {e}", range.start, range.end),
        })?;
        let bytes = body.into_bytes();
        if bytes.len() as u64 != range.end - range.start {
            return Err(ObjectError::Get {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                message: format!(
                    "asked for bytes {}..{}, got {} bytes",
                    range.start,
                    range.end,
                    bytes.len()
                ),
            });
        }
        Ok(bytes)
    }
}

fn classify(error: SdkError<GetObjectError>, bucket: &str, key: &str) -> ObjectError {
    let (bucket, key) = (bucket.to_owned(), key.to_owned());
    if let SdkError::ServiceError(service) = &error {
        let err = service.err();
        if err.is_no_such_key() {
            return ObjectError::NotFound { bucket, key };
        }
        match err.code() {
            Some("AccessDenied" | "AllAccessDisabled" | "InvalidObjectState") => {
                return ObjectError::AccessDenied { bucket, key };
            }
            Some("NoSuchBucket") => return ObjectError::NotFound { bucket, key },
            Some("PreconditionFailed") => return ObjectError::Changed { bucket, key },
            _ => {}
        }
    }
    let message = crate::aws::describe(&error);
    ObjectError::Get {
        bucket,
        key,
        message,
    }
}
