//! Running a per-object job over a decoded trigger and shaping the Lambda response.

use std::fmt::Display;
use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use serde_json::{Value, json};

use crate::decode::{ObjectRef, Trigger};
use crate::scope::Scope;

/// One object (or undecodable message) that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFailure {
    /// `bucket/key`, or the SQS message id when its body could not be decoded.
    pub what: String,
    /// Why.
    pub error: String,
}

/// Objects named directly by the event failed: the invocation fails so Lambda retries it (and
/// sends it to the on-failure destination after the last retry).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} of {total} object(s) failed; first: {}: {}", failures.len(), failures[0].what, failures[0].error)]
pub struct DispatchError {
    /// Every failure.
    pub failures: Vec<ObjectFailure>,
    /// Objects in the event.
    pub total: usize,
}

/// Decodes an invocation payload and [`dispatch`]es it: the Lambda response, or the error that
/// fails the invocation.
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

/// Whether `object` is to be read; an object outside `scope` is logged with the reason and
/// counted in `skipped`.
fn in_scope(scope: &Scope, object: &ObjectRef, skipped: &mut usize) -> bool {
    let Some(reason) = scope.excludes(object) else {
        return true;
    };
    tracing::warn!(object = %format!("s3://{}/{}", object.bucket, object.key), reason, "out of scope: not read");
    *skipped += 1;
    false
}

/// Runs `process` on every object of `trigger` within `scope`, one after the other; logs each
/// failure and each object skipped as out of scope (those count as done).
///
/// Direct events: every object is attempted, then any failure fails the call; the response
/// counts the objects processed and, if any, those `out_of_scope`. SQS batches: the call
/// succeeds with a partial batch response naming only the messages that failed (a bad body or
/// any of its objects), so only those are retried.
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
    let mut skipped = 0;
    match trigger {
        Trigger::Ignored(reason) => Ok(json!({ "ignored": reason })),
        Trigger::Objects(objects) => {
            let total = objects.len();
            let mut failures = Vec::new();
            for object in objects {
                if !in_scope(scope, &object, &mut skipped) {
                    continue;
                }
                let what = format!("s3://{}/{}", object.bucket, object.key);
                if let Err(e) = process(object).await {
                    failures.push(ObjectFailure {
                        what,
                        error: e.to_string(),
                    });
                }
            }
            if !failures.is_empty() {
                Err(DispatchError { failures, total })
            } else if skipped > 0 {
                Ok(json!({ "objects": total - skipped, "out_of_scope": skipped }))
            } else {
                Ok(json!({ "objects": total }))
            }
        }
        Trigger::Sqs(items) => {
            let mut response = SqsBatchResponse::default();
            for item in items {
                let ok = match item.objects {
                    Err(e) => {
                        tracing::error!(message_id = %item.message_id, error = %e, "undecodable message");
                        false
                    }
                    Ok(objects) => {
                        let mut ok = true;
                        for object in objects {
                            if !in_scope(scope, &object, &mut skipped) {
                                continue;
                            }
                            let what = format!("s3://{}/{}", object.bucket, object.key);
                            if let Err(e) = process(object).await {
                                tracing::error!(object = %what, message_id = %item.message_id, error = %e, "object failed");
                                ok = false;
                            }
                        }
                        ok
                    }
                };
                if !ok {
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = item.message_id;
                    response.batch_item_failures.push(failure);
                }
            }
            if skipped > 0 {
                tracing::warn!(out_of_scope = skipped, "objects out of scope were not read");
            }
            Ok(serde_json::to_value(response).expect("a batch response serialises"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{DecodeError, SqsItem};

    fn object(key: &str) -> ObjectRef {
        ObjectRef {
            bucket: "b".into(),
            key: key.into(),
            fallback_key: None,
            size: None,
            etag: None,
            version_id: None,
            sequencer: None,
        }
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
        let trigger = Trigger::Objects(vec![object("bad1"), object("good"), object("bad2")]);
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
        let trigger = Trigger::Objects(vec![object("a"), object("b")]);
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
                objects: Ok(vec![object("good")]),
            },
            SqsItem {
                message_id: "m1".into(),
                objects: Ok(vec![object("good"), object("bad")]),
            },
            SqsItem {
                message_id: "m2".into(),
                objects: Err(DecodeError::NotJson("x".into())),
            },
            SqsItem {
                message_id: "m3".into(),
                objects: Ok(vec![]),
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
        let direct = Trigger::Objects(vec![object(flow_log), object(trail)]);
        let response = dispatch(direct, &scope, |o| {
            seen.push(o.key.clone());
            fail_on_bad(o)
        })
        .await
        .unwrap();
        assert_eq!(response, json!({"objects": 1, "out_of_scope": 1}));
        let sqs = Trigger::Sqs(vec![SqsItem {
            message_id: "m0".into(),
            objects: Ok(vec![object(trail)]),
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
}
