//! The state store in DynamoDB: one item per record in one table, written with conditional
//! `PutItem`s, listed by `Query`, expired by the table's TTL.
//!
//! Item: `pk` (S, the record's directory, `.` for none), `sk` (S, its base name), `body` (B),
//! `version` (N, 1 on create, +1 on each replace: the condition of the next replace) and
//! `expires_at` (N, Unix seconds; the table's TTL attribute). Reads are strongly consistent, so
//! an invocation sees what the previous one wrote.

use std::sync::Arc;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::aws::{code, describe};
use crate::clock::{Clock, SystemClock};
use crate::state::{Created, Replaced, StateStore, StoreError, Stored, Version, split_name};

/// The largest body a record may have here. DynamoDB items hold 400 KB (names and values
/// together; binary values at their length), but moto 5.2.5, which the tests run against,
/// counts a binary value at its base64 length (a 406,400-byte body was refused): 288 KiB
/// encodes to 384 KiB, leaving 16 KiB for the key (at most 3 KiB) and the other attributes.
pub const MAX_BODY_BYTES: usize = 288 * 1024;

/// Records in one DynamoDB table, each kept `retention_secs` after its last write.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    retention_secs: i64,
    clock: Arc<dyn Clock>,
}

impl DynamoStore {
    /// A store in `table` whose records expire `retention_secs` after their last write.
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        retention_secs: i64,
    ) -> DynamoStore {
        DynamoStore {
            client,
            table: table.into(),
            retention_secs,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same table with another retention (records of another kind).
    pub fn with_retention(&self, retention_secs: i64) -> DynamoStore {
        DynamoStore {
            retention_secs,
            ..self.clone()
        }
    }

    /// The same store timed by `clock` (for expiry times in tests).
    pub fn with_clock(self, clock: impl Clock + 'static) -> DynamoStore {
        DynamoStore {
            clock: Arc::new(clock),
            ..self
        }
    }

    fn error(&self, operation: &'static str, name: &str, message: String) -> StoreError {
        StoreError {
            operation,
            location: self.locate(name),
            message,
        }
    }

    fn key(name: &str) -> [(&'static str, AttributeValue); 2] {
        let (directory, base) = split_name(name);
        [
            ("pk", AttributeValue::S(partition(directory))),
            ("sk", AttributeValue::S(base.to_owned())),
        ]
    }

    async fn put(
        &self,
        operation: &'static str,
        name: &str,
        body: Vec<u8>,
        version: u64,
        condition: &str,
        values: Vec<(&'static str, AttributeValue)>,
    ) -> Result<Option<Version>, StoreError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(self.error(
                operation,
                name,
                format!(
                    "the record is {} bytes; DynamoDB items hold at most {MAX_BODY_BYTES}",
                    body.len()
                ),
            ));
        }
        let expires_at = self.clock.now().saturating_add(self.retention_secs);
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("body", AttributeValue::B(Blob::new(body)))
            .item("version", AttributeValue::N(version.to_string()))
            .item("expires_at", AttributeValue::N(expires_at.to_string()))
            .condition_expression(condition);
        for (k, v) in Self::key(name) {
            request = request.item(k, v);
        }
        for (k, v) in values {
            request = request.expression_attribute_values(k, v);
        }
        match request.send().await {
            Ok(_) => Ok(Some(Version(version.to_string()))),
            Err(e) if code(&e) == Some("ConditionalCheckFailedException") => Ok(None),
            Err(e) => Err(self.error(operation, name, describe(&e))),
        }
    }
}

/// DynamoDB key attributes cannot be empty: the directory of names without one is `.`.
fn partition(directory: &str) -> String {
    if directory.is_empty() {
        ".".to_owned()
    } else {
        directory.to_owned()
    }
}

/// The body and version of an item, if it has both.
fn stored(item: &std::collections::HashMap<String, AttributeValue>) -> Option<Stored> {
    let body = item.get("body")?.as_b().ok()?.clone().into_inner();
    let version = item.get("version")?.as_n().ok()?.clone();
    Some(Stored {
        body,
        version: Version(version),
    })
}

impl StateStore for DynamoStore {
    async fn get(&self, name: &str) -> Result<Option<Stored>, StoreError> {
        let mut request = self
            .client
            .get_item()
            .table_name(&self.table)
            .consistent_read(true);
        for (k, v) in Self::key(name) {
            request = request.key(k, v);
        }
        let output = request
            .send()
            .await
            .map_err(|e| self.error("GetItem", name, describe(&e)))?;
        Ok(output.item().and_then(stored))
    }

    async fn create(&self, name: &str, body: Vec<u8>) -> Result<Created, StoreError> {
        let written = self
            .put(
                "PutItem (attribute_not_exists)",
                name,
                body,
                1,
                "attribute_not_exists(pk)",
                Vec::new(),
            )
            .await?;
        Ok(written.map_or(Created::Exists, Created::Created))
    }

    async fn replace(
        &self,
        name: &str,
        expected: &Version,
        body: Vec<u8>,
    ) -> Result<Replaced, StoreError> {
        // A version this store did not write cannot match: a lost race, not an error.
        let Ok(current) = expected.0.parse::<u64>() else {
            return Ok(Replaced::Conflict);
        };
        let written = self
            .put(
                "PutItem (version =)",
                name,
                body,
                current + 1,
                "version = :expected",
                vec![(":expected", AttributeValue::N(current.to_string()))],
            )
            .await?;
        Ok(written.map_or(Replaced::Conflict, Replaced::Replaced))
    }

    async fn list(&self, directory: &str) -> Result<Vec<(String, Stored)>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(partition(directory)))
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| self.error("Query", &format!("{directory}/"), describe(&e)))?;
            for item in page.items() {
                let base = item.get("sk").and_then(|v| v.as_s().ok());
                if let (Some(base), Some(record)) = (base, stored(item)) {
                    let name = if directory.is_empty() {
                        base.clone()
                    } else {
                        format!("{directory}/{base}")
                    };
                    found.push((name, record));
                }
            }
        }
        // Query returns a partition in sort-key order: already in name order.
        Ok(found)
    }

    fn locate(&self, name: &str) -> String {
        let (directory, base) = split_name(name);
        format!("dynamodb://{}/{}/{base}", self.table, partition(directory))
    }
}
