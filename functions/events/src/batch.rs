//! S3 Batch Operations `LambdaInvoke` jobs (invocation schema 1.0 and 2.0): the tasks to run, and
//! the response naming each task's result.
//!
//! Schema 1.0 names a task's bucket by ARN (`s3BucketArn`), 2.0 by name (`s3Bucket`); both give
//! the key URL-encoded as in the job's manifest (`+` for a space), so the key is decoded, with
//! the key as given tried if the decoded one does not exist.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::decode::{DecodeError, ObjectRef, malformed};
use crate::key::form_decode;

const SHAPE: &str = "S3 Batch Operations";

/// The longest result string kept in a task's result (the job's completion report shows it).
pub const MAX_RESULT_STRING: usize = 1024;

/// The invocation schema of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// `1.0`: buckets by ARN.
    V1,
    /// `2.0`: buckets by name, and the job's user arguments.
    V2,
}

impl Schema {
    /// `1.0` or `2.0`, as the response must echo it.
    pub fn as_str(self) -> &'static str {
        match self {
            Schema::V1 => "1.0",
            Schema::V2 => "2.0",
        }
    }
}

/// One invocation of a Batch Operations job.
#[derive(Debug)]
pub struct BatchJob {
    /// The schema the job invokes with.
    pub schema: Schema,
    /// Echoed in the response.
    pub invocation_id: String,
    /// The job, for logs.
    pub job_id: String,
    /// The tasks (Batch Operations sends one per invocation).
    pub tasks: Vec<BatchTask>,
}

/// One task: an object to read, or why its fields could not be used.
#[derive(Debug)]
pub struct BatchTask {
    /// Echoed in the task's result.
    pub task_id: String,
    /// The object.
    pub object: Result<ObjectRef, DecodeError>,
}

/// How a task ended, as Batch Operations counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ResultCode {
    /// Done (also: nothing to do).
    Succeeded,
    /// Batch Operations retries the task.
    TemporaryFailure,
    /// The task fails for good and appears as failed in the completion report.
    PermanentFailure,
}

/// One task's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    /// The task's id.
    pub task_id: String,
    /// How it ended.
    pub result_code: ResultCode,
    /// What happened, in a few words (at most [`MAX_RESULT_STRING`] bytes).
    pub result_string: String,
}

impl TaskResult {
    /// A result, its string cut to [`MAX_RESULT_STRING`] bytes at a character boundary.
    pub fn new(task_id: String, result_code: ResultCode, mut result_string: String) -> TaskResult {
        if result_string.len() > MAX_RESULT_STRING {
            let mut cut = MAX_RESULT_STRING - '…'.len_utf8();
            while !result_string.is_char_boundary(cut) {
                cut -= 1;
            }
            result_string.truncate(cut);
            result_string.push('…');
        }
        TaskResult {
            task_id,
            result_code,
            result_string,
        }
    }
}

/// The response to one invocation.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Response<'a> {
    invocation_schema_version: &'static str,
    treat_missing_keys_as: ResultCode,
    invocation_id: &'a str,
    results: Vec<TaskResult>,
}

impl BatchJob {
    /// The Lambda response for the tasks' `results`.
    pub fn response(&self, results: Vec<TaskResult>) -> Value {
        serde_json::to_value(Response {
            invocation_schema_version: self.schema.as_str(),
            treat_missing_keys_as: ResultCode::PermanentFailure,
            invocation_id: &self.invocation_id,
            results,
        })
        .expect("a batch response serialises")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawJob {
    invocation_schema_version: String,
    invocation_id: String,
    #[serde(default)]
    job: RawJobId,
    tasks: Vec<RawTask>,
}

#[derive(Default, Deserialize)]
struct RawJobId {
    #[serde(default)]
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTask {
    task_id: String,
    s3_key: Option<String>,
    s3_version_id: Option<String>,
    s3_bucket_arn: Option<String>,
    s3_bucket: Option<String>,
}

/// Decodes a Batch Operations invocation (an object with `invocationSchemaVersion`).
pub(crate) fn decode_job(value: Value) -> Result<BatchJob, DecodeError> {
    let raw: RawJob = serde_json::from_value(value).map_err(|e| malformed(SHAPE, e))?;
    let schema = match raw.invocation_schema_version.as_str() {
        "1.0" => Schema::V1,
        "2.0" => Schema::V2,
        other => {
            return Err(malformed(
                SHAPE,
                format!("invocationSchemaVersion {other:?}; 1.0 and 2.0 are read"),
            ));
        }
    };
    let tasks = raw
        .tasks
        .into_iter()
        .map(|task| BatchTask {
            object: task_object(schema, &task),
            task_id: task.task_id,
        })
        .collect();
    Ok(BatchJob {
        schema,
        invocation_id: raw.invocation_id,
        job_id: raw.job.id,
        tasks,
    })
}

fn task_object(schema: Schema, task: &RawTask) -> Result<ObjectRef, DecodeError> {
    let bucket = match schema {
        Schema::V1 => task
            .s3_bucket_arn
            .as_deref()
            .map(bucket_of_arn)
            .ok_or_else(|| malformed(SHAPE, "task without s3BucketArn"))?,
        Schema::V2 => task
            .s3_bucket
            .clone()
            .ok_or_else(|| malformed(SHAPE, "task without s3Bucket"))?,
    };
    let raw = task
        .s3_key
        .clone()
        .ok_or_else(|| malformed(SHAPE, "task without s3Key"))?;
    let decoded = form_decode(&raw).ok_or_else(|| {
        malformed(
            SHAPE,
            format!("s3Key {raw:?} is not valid URL-encoded UTF-8"),
        )
    })?;
    let fallback = (decoded != raw).then_some(raw);
    Ok(ObjectRef {
        fallback_key: fallback,
        version_id: task.s3_version_id.clone().filter(|v| !v.is_empty()),
        ..ObjectRef::new(bucket, decoded)
    })
}

/// `arn:<partition>:s3:::<bucket>` gives the bucket; any other ARN (an access point) is kept
/// whole, which S3 accepts where a bucket name goes.
fn bucket_of_arn(arn: &str) -> String {
    match arn.split_once(":::") {
        Some((head, bucket)) if head.starts_with("arn:") && head.ends_with(":s3") => {
            bucket.to_owned()
        }
        _ => arn.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn v1(key: &str) -> Value {
        json!({"invocationSchemaVersion": "1.0", "invocationId": "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo",
               "job": {"id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce"},
               "tasks": [{"taskId": "dGFza2lkZ29lc2hlcmUK", "s3Key": key, "s3VersionId": "1",
                          "s3BucketArn": "arn:aws:s3:::flow-bucket"}]})
    }

    #[test]
    fn schema_1_0_names_the_bucket_by_arn_and_url_encodes_the_key() {
        let job = decode_job(v1("AWSLogs/aws-account-id%3D1/a+b.log.gz")).unwrap();
        assert_eq!(job.schema, Schema::V1);
        assert_eq!(job.job_id, "f3cc4f60-61f6-4a2b-8a21-d07600c373ce");
        let object = job.tasks[0].object.as_ref().unwrap();
        assert_eq!(object.bucket, "flow-bucket");
        assert_eq!(object.key, "AWSLogs/aws-account-id=1/a b.log.gz");
        assert_eq!(
            object.fallback_key.as_deref(),
            Some("AWSLogs/aws-account-id%3D1/a+b.log.gz")
        );
        assert_eq!(object.version_id.as_deref(), Some("1"));
    }

    #[test]
    fn schema_2_0_names_the_bucket_and_may_have_no_version() {
        let event = json!({"invocationSchemaVersion": "2.0", "invocationId": "i2",
            "job": {"id": "j2", "userArguments": {"k1": "v1"}},
            "tasks": [{"taskId": "t2", "s3Key": "plain.log.gz", "s3VersionId": null, "s3Bucket": "flow-bucket"}]});
        let job = decode_job(event).unwrap();
        assert_eq!(job.schema, Schema::V2);
        let object = job.tasks[0].object.as_ref().unwrap();
        assert_eq!(
            (object.bucket.as_str(), object.key.as_str()),
            ("flow-bucket", "plain.log.gz")
        );
        assert_eq!(
            (object.fallback_key.as_deref(), object.version_id.as_deref()),
            (None, None)
        );
    }

    #[test]
    fn a_task_without_its_fields_fails_alone_and_unknown_schemas_are_refused() {
        let mut event = v1("x.log.gz");
        event["tasks"][0]
            .as_object_mut()
            .unwrap()
            .remove("s3BucketArn");
        let job = decode_job(event).unwrap();
        let error = job.tasks[0].object.as_ref().unwrap_err().to_string();
        assert!(error.contains("s3BucketArn"), "{error}");
        let mut event = v1("x.log.gz");
        event["invocationSchemaVersion"] = json!("3.0");
        let error = decode_job(event).unwrap_err().to_string();
        assert!(error.contains("\"3.0\""), "{error}");
    }

    #[test]
    fn access_point_arns_are_kept_whole() {
        assert_eq!(bucket_of_arn("arn:aws:s3:::b"), "b");
        assert_eq!(bucket_of_arn("arn:aws-cn:s3:::b.c"), "b.c");
        let access_point = "arn:aws:s3:us-east-1:123456789012:accesspoint/logs";
        assert_eq!(bucket_of_arn(access_point), access_point);
    }

    #[test]
    fn the_response_echoes_the_schema_and_invocation_and_cuts_long_strings() {
        let job = decode_job(v1("x.log.gz")).unwrap();
        let long = "é".repeat(MAX_RESULT_STRING);
        let result = TaskResult::new("t".into(), ResultCode::TemporaryFailure, long);
        assert!(result.result_string.len() <= MAX_RESULT_STRING);
        assert!(result.result_string.ends_with('…'));
        let response = job.response(vec![TaskResult::new(
            "dGFza2lkZ29lc2hlcmUK".into(),
            ResultCode::Succeeded,
            "read".into(),
        )]);
        assert_eq!(
            response,
            json!({"invocationSchemaVersion": "1.0", "treatMissingKeysAs": "PermanentFailure",
                   "invocationId": "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo",
                   "results": [{"taskId": "dGFza2lkZ29lc2hlcmUK", "resultCode": "Succeeded", "resultString": "read"}]})
        );
    }
}
