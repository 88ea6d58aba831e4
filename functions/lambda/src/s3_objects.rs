//! The object-read port on S3: `GetObject`, its body streamed.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;

use crate::object::{ObjectError, ObjectSource, OpenedObject};

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
