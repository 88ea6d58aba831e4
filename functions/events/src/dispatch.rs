//! Running a per-input job over a decoded trigger and shaping the Lambda response.

use std::fmt::Display;
use std::future::Future;

use serde_json::{Value, json};

use crate::batch::{ResultCode, TaskResult};
use crate::decode::{Input, ObjectRef, Trigger};
use crate::scope::Scope;

/// The answer to an SQS-triggered invocation: the messages that failed, for Lambda to return
/// to their queue (`ReportBatchItemFailures`); the others are deleted.
pub fn partial_batch_response(failed: impl IntoIterator<Item = String>) -> Value {
    // `{"batchItemFailures": [{"itemIdentifier": id}, ...]}`, as a literal: binary size is
    // measured against the commit before the structure pass (see the closing note of issue 15).
    let failures: Vec<Value> = failed
        .into_iter()
        .map(|id| json!({"itemIdentifier": id}))
        .collect();
    json!({"batchItemFailures": failures})
}

/// One input (or undecodable message) that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFailure {
    /// `s3://bucket/key`, `cwl:<group>/<stream>`, or the SQS message id when its body could
    /// not be decoded.
    pub what: String,
    /// Why.
    pub error: String,
}

/// Inputs named directly by the event failed: the invocation fails so Lambda retries it (and
/// sends it to the on-failure destination after the last retry).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} of {total} input(s) failed; first: {}: {}", failures.len(), failures[0].what, failures[0].error)]
pub struct DispatchError {
    /// Every failure.
    pub failures: Vec<ObjectFailure>,
    /// Inputs in the event.
    pub total: usize,
}

/// Whether an input that failed may succeed when tried again (S3 Batch Operations retries a
/// `TemporaryFailure` task and reports a `PermanentFailure` one as failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Throttling, a network fault, another invocation holding the input, the deadline.
    Temporary,
    /// A missing or unreadable object, access denied, data that can never be published.
    Permanent,
}

/// An error a per-input job returns: what it says, and whether a retry may help.
pub trait Failure: Display {
    /// Whether a retry may help.
    fn retry(&self) -> Retry;
}

/// Decodes an invocation payload and [`dispatch_inputs`] it: the Lambda response, or the error
/// that fails the invocation.
pub async fn handle_inputs<F, Fut, E>(
    payload: Value,
    scope: &Scope,
    process: F,
) -> Result<Value, Box<dyn std::error::Error + Send + Sync>>
where
    F: FnMut(Input) -> Fut,
    Fut: Future<Output = Result<String, E>>,
    E: Failure,
{
    let trigger = crate::decode::decode(payload)?;
    Ok(dispatch_inputs(trigger, scope, process).await?)
}

/// Decodes an invocation payload and [`dispatch`]es its objects: the Lambda response, or the
/// error that fails the invocation.
pub async fn handle<F, Fut, E>(
    payload: Value,
    scope: &Scope,
    process: F,
) -> Result<Value, Box<dyn std::error::Error + Send + Sync>>
where
    F: FnMut(ObjectRef) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let trigger = crate::decode::decode(payload)?;
    Ok(dispatch(trigger, scope, process).await?)
}

/// An object job's error, or an input such a job cannot read.
struct ObjectsOnly<E>(Result<E, &'static str>);

impl<E: Display> Display for ObjectsOnly<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Ok(e) => e.fmt(f),
            Err(why) => f.write_str(why),
        }
    }
}

impl<E: Display> Failure for ObjectsOnly<E> {
    fn retry(&self) -> Retry {
        match self.0 {
            Ok(_) => Retry::Temporary,
            Err(_) => Retry::Permanent,
        }
    }
}

/// [`dispatch_inputs`] for a function that reads only objects: a CloudWatch Logs batch fails
/// (this function does not read them), and every failed object is taken as temporary.
pub async fn dispatch<F, Fut, E>(
    trigger: Trigger,
    scope: &Scope,
    mut process: F,
) -> Result<Value, DispatchError>
where
    F: FnMut(ObjectRef) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    dispatch_inputs(trigger, scope, |input| {
        let started = match input {
            Input::Object(object) => Some(process(object)),
            Input::Logs(_) => None,
        };
        async move {
            match started {
                Some(job) => job
                    .await
                    .map(|()| String::new())
                    .map_err(|e| ObjectsOnly(Ok(e))),
                None => Err(ObjectsOnly(Err(
                    "CloudWatch Logs batches are read by rate-metrics, not by this function",
                ))),
            }
        }
    })
    .await
}

/// Whether `input` is to be read; an object outside `scope` is logged with the reason and
/// counted in `skipped`. Log batches come from the subscription the stack made: always read.
fn in_scope(scope: &Scope, input: &Input, skipped: &mut usize) -> bool {
    let Input::Object(object) = input else {
        return true;
    };
    let Some(reason) = scope.excludes(object) else {
        return true;
    };
    tracing::warn!(object = %input.describe(), reason, "out of scope: not read");
    *skipped += 1;
    false
}

/// Runs `process` on every input of `trigger` within `scope`, one after the other; logs each
/// failure and each object skipped as out of scope (those count as done). `process` returns a
/// few words on what it did, which only S3 Batch Operations results show.
///
/// Direct events: every input is attempted, then any failure fails the call; the response
/// counts the objects and log batches read and, if any, the objects `out_of_scope`. SQS
/// batches: the call succeeds with a partial batch response naming only the messages that
/// failed (a bad body or any of its inputs), so only those are retried. Batch Operations: the
/// call succeeds with a result per task, `Succeeded` (also for an object out of scope),
/// `TemporaryFailure` or `PermanentFailure` by the error's [`Failure::retry`], with a result
/// string.
pub async fn dispatch_inputs<F, Fut, E>(
    trigger: Trigger,
    scope: &Scope,
    mut process: F,
) -> Result<Value, DispatchError>
where
    F: FnMut(Input) -> Fut,
    Fut: Future<Output = Result<String, E>>,
    E: Failure,
{
    let mut skipped = 0;
    match trigger {
        Trigger::Ignored(reason) => Ok(json!({ "ignored": reason })),
        Trigger::Inputs(inputs) => {
            let total = inputs.len();
            let (mut objects, mut batches) = (0, 0);
            let mut failures = Vec::new();
            for input in inputs {
                if !in_scope(scope, &input, &mut skipped) {
                    continue;
                }
                match input {
                    Input::Object(_) => objects += 1,
                    Input::Logs(_) => batches += 1,
                }
                let what = input.describe();
                if let Err(e) = process(input).await {
                    failures.push(ObjectFailure {
                        what,
                        error: e.to_string(),
                    });
                }
            }
            if !failures.is_empty() {
                return Err(DispatchError { failures, total });
            }
            let mut response = serde_json::Map::new();
            if objects > 0 || batches == 0 {
                response.insert("objects".into(), json!(objects));
            }
            if batches > 0 {
                response.insert("log_batches".into(), json!(batches));
            }
            if skipped > 0 {
                response.insert("out_of_scope".into(), json!(skipped));
            }
            Ok(Value::Object(response))
        }
        Trigger::Sqs(items) => {
            let mut failed = Vec::new();
            for item in items {
                let ok = match item.inputs {
                    Err(e) => {
                        tracing::error!(message_id = %item.message_id, error = %e, "undecodable message");
                        false
                    }
                    Ok(inputs) => {
                        let mut ok = true;
                        for input in inputs {
                            if !in_scope(scope, &input, &mut skipped) {
                                continue;
                            }
                            let what = input.describe();
                            if let Err(e) = process(input).await {
                                tracing::error!(input = %what, message_id = %item.message_id, error = %e, "input failed");
                                ok = false;
                            }
                        }
                        ok
                    }
                };
                if !ok {
                    failed.push(item.message_id);
                }
            }
            if skipped > 0 {
                tracing::warn!(out_of_scope = skipped, "objects out of scope were not read");
            }
            Ok(partial_batch_response(failed))
        }
        Trigger::Batch(mut job) => {
            let mut results = Vec::with_capacity(job.tasks.len());
            for task in std::mem::take(&mut job.tasks) {
                let (code, text) = match task.object {
                    Err(e) => (ResultCode::PermanentFailure, e.to_string()),
                    Ok(object) => {
                        if let Some(reason) = scope.excludes(&object) {
                            let what = format!("s3://{}/{}", object.bucket, object.key);
                            tracing::warn!(object = %what, reason, task = %task.task_id, "out of scope: not read");
                            (
                                ResultCode::Succeeded,
                                format!("not read: out of scope ({reason})"),
                            )
                        } else {
                            let input = Input::Object(object);
                            let what = input.describe();
                            match process(input).await {
                                Ok(done) => (ResultCode::Succeeded, done),
                                Err(e) => {
                                    tracing::error!(object = %what, job = %job.job_id, task = %task.task_id, error = %e, "task failed");
                                    let code = match e.retry() {
                                        Retry::Temporary => ResultCode::TemporaryFailure,
                                        Retry::Permanent => ResultCode::PermanentFailure,
                                    };
                                    (code, e.to_string())
                                }
                            }
                        }
                    }
                };
                results.push(TaskResult::new(task.task_id, code, text));
            }
            Ok(job.response(results))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BatchJob, BatchTask, Schema};
    use crate::decode::{DecodeError, SqsItem};
    use crate::logs::LogBatch;

    fn object(key: &str) -> ObjectRef {
        ObjectRef::new("b", key)
    }

    fn objects(keys: &[&str]) -> Vec<Input> {
        keys.iter().map(|k| Input::Object(object(k))).collect()
    }

    async fn fail_on_bad(o: ObjectRef) -> Result<(), String> {
        if o.key.contains("bad") {
            Err(format!("cannot read {}", o.key))
        } else {
            Ok(())
        }
    }

    #[tokio::test]
    async fn direct_objects_are_all_attempted_and_any_failure_fails_the_call() {
        let mut seen = Vec::new();
        let trigger = Trigger::Inputs(objects(&["bad1", "good", "bad2"]));
        let error = dispatch(trigger, &Scope::default(), |o| {
            seen.push(o.key.clone());
            fail_on_bad(o)
        })
        .await
        .unwrap_err();
        assert_eq!(seen, ["bad1", "good", "bad2"]);
        assert_eq!(error.failures.len(), 2);
        assert_eq!(error.total, 3);
        assert!(
            error.to_string().contains("s3://b/bad1: cannot read bad1"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn direct_objects_that_all_succeed_report_their_count() {
        let trigger = Trigger::Inputs(objects(&["a", "b"]));
        assert_eq!(
            dispatch(trigger, &Scope::default(), fail_on_bad)
                .await
                .unwrap(),
            json!({"objects": 2})
        );
    }

    #[tokio::test]
    async fn sqs_batch_reports_only_the_failed_messages() {
        let trigger = Trigger::Sqs(vec![
            SqsItem {
                message_id: "m0".into(),
                inputs: Ok(objects(&["good"])),
            },
            SqsItem {
                message_id: "m1".into(),
                inputs: Ok(objects(&["good", "bad"])),
            },
            SqsItem {
                message_id: "m2".into(),
                inputs: Err(DecodeError::NotJson("x".into())),
            },
            SqsItem {
                message_id: "m3".into(),
                inputs: Ok(vec![]),
            },
        ]);
        let response = dispatch(trigger, &Scope::default(), fail_on_bad)
            .await
            .unwrap();
        assert_eq!(
            response,
            json!({"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]})
        );
    }

    #[tokio::test]
    async fn ignored_events_succeed_without_work() {
        let response = dispatch(
            Trigger::Ignored("test event"),
            &Scope::default(),
            fail_on_bad,
        )
        .await
        .unwrap();
        assert_eq!(response, json!({"ignored": "test event"}));
    }

    #[tokio::test]
    async fn objects_out_of_scope_are_counted_and_never_processed() {
        let scope = Scope {
            bucket: None,
            prefix: Some("AWSLogs/".into()),
        };
        let flow_log = "AWSLogs/123456789012/vpcflowlogs/us-east-1/x.log.gz";
        let trail = "AWSLogs/123456789012/CloudTrail/us-east-1/x.json.gz";
        let mut seen = Vec::new();
        let direct = Trigger::Inputs(objects(&[flow_log, trail]));
        let response = dispatch(direct, &scope, |o| {
            seen.push(o.key.clone());
            fail_on_bad(o)
        })
        .await
        .unwrap();
        assert_eq!(response, json!({"objects": 1, "out_of_scope": 1}));
        let sqs = Trigger::Sqs(vec![SqsItem {
            message_id: "m0".into(),
            inputs: Ok(objects(&[trail])),
        }]);
        let response = dispatch(sqs, &scope, |o| {
            seen.push(o.key.clone());
            fail_on_bad(o)
        })
        .await
        .unwrap();
        assert_eq!(response, json!({"batchItemFailures": []}));
        assert_eq!(seen, [flow_log]);
    }

    /// Fails `temp…` keys temporarily and `perm…` keys for good; says what it read otherwise.
    struct Judged(Retry);

    impl Display for Judged {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "judged {:?}", self.0)
        }
    }

    impl Failure for Judged {
        fn retry(&self) -> Retry {
            self.0
        }
    }

    async fn judge(input: Input) -> Result<String, Judged> {
        let what = input.describe();
        match input {
            Input::Object(o) if o.key.starts_with("temp") => Err(Judged(Retry::Temporary)),
            Input::Object(o) if o.key.starts_with("perm") => Err(Judged(Retry::Permanent)),
            _ => Ok(format!("read {what}")),
        }
    }

    fn batch(keys: &[&str]) -> LogBatch {
        LogBatch {
            owner: "123456789012".into(),
            log_group: "/vpc/flow".into(),
            log_stream: keys.join(","),
            subscription_filters: vec![],
            events: vec![],
        }
    }

    #[tokio::test]
    async fn batch_operations_tasks_are_answered_one_by_one_by_how_they_failed() {
        let task = |id: &str, key: &str| BatchTask {
            task_id: id.into(),
            object: Ok(ObjectRef::new("logs", key)),
        };
        let job = BatchJob {
            schema: Schema::V2,
            invocation_id: "inv".into(),
            job_id: "job".into(),
            tasks: vec![
                task("t1", "AWSLogs/1/vpcflowlogs/ok.log.gz"),
                task("t2", "temp/AWSLogs/1/vpcflowlogs/x.log.gz"),
                task("t3", "perm/AWSLogs/1/vpcflowlogs/x.log.gz"),
                BatchTask {
                    task_id: "t4".into(),
                    object: Err(DecodeError::NotJson("no key".into())),
                },
                task("t5", "AWSLogs/1/CloudTrail/x.json.gz"),
            ],
        };
        let scope = Scope {
            bucket: Some("logs".into()),
            prefix: None,
        };
        let response = dispatch_inputs(Trigger::Batch(job), &scope, judge)
            .await
            .unwrap();
        assert_eq!(response["invocationSchemaVersion"], "2.0");
        assert_eq!(response["invocationId"], "inv");
        let results: Vec<(String, String)> = response["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["resultCode"].as_str().unwrap().into(),
                    r["resultString"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            results[0],
            (
                "Succeeded".into(),
                "read s3://logs/AWSLogs/1/vpcflowlogs/ok.log.gz".into()
            )
        );
        assert_eq!(
            results[1],
            ("TemporaryFailure".into(), "judged Temporary".into())
        );
        assert_eq!(
            results[2],
            ("PermanentFailure".into(), "judged Permanent".into())
        );
        assert_eq!(results[3].0, "PermanentFailure");
        assert!(results[3].1.contains("no key"), "{results:?}");
        // Out of scope only with a prefix; within the bucket, every key is read.
        assert_eq!(results[4].0, "Succeeded");
        let prefixed = Scope {
            bucket: None,
            prefix: Some("AWSLogs/".into()),
        };
        let job = BatchJob {
            schema: Schema::V1,
            invocation_id: "inv".into(),
            job_id: "job".into(),
            tasks: vec![task("t5", "AWSLogs/1/CloudTrail/x.json.gz")],
        };
        let response = dispatch_inputs(Trigger::Batch(job), &prefixed, judge)
            .await
            .unwrap();
        assert_eq!(response["results"][0]["resultCode"], "Succeeded");
        assert!(
            response["results"][0]["resultString"]
                .as_str()
                .unwrap()
                .starts_with("not read: out of scope"),
            "{response}"
        );
    }

    #[tokio::test]
    async fn log_batches_are_read_and_counted_apart_from_objects() {
        let trigger = Trigger::Inputs(vec![
            Input::Logs(batch(&["eni-1"])),
            Input::Object(object("a.log.gz")),
        ]);
        let response = dispatch_inputs(trigger, &Scope::default(), judge)
            .await
            .unwrap();
        assert_eq!(response, json!({"objects": 1, "log_batches": 1}));
    }

    #[tokio::test]
    async fn a_function_that_reads_only_objects_refuses_log_batches_by_name() {
        let trigger = Trigger::Inputs(vec![Input::Logs(batch(&["eni-1"]))]);
        let error = dispatch(trigger, &Scope::default(), fail_on_bad)
            .await
            .unwrap_err();
        assert_eq!(error.failures[0].what, "cwl:/vpc/flow/eni-1");
        assert!(error.failures[0].error.contains("rate-metrics"), "{error}");
    }
}
