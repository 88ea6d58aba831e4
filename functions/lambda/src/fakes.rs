//! In-memory stand-ins for the ports (feature `fakes`): a state store that can be told to fail,
//! objects held in memory, and a clock that moves only when told.

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::ops::Range;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::clock::Clock;
use crate::object::{ObjectError, ObjectSource, OpenedObject, Pinned};
use crate::state::{Created, Replaced, StateStore, StoreError, Stored, Version, split_name};

/// A clock at a set time; clones share it.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock at `now` (Unix seconds).
    pub fn at(now: i64) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(now)))
    }

    /// Moves the clock by `secs`.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Default)]
struct Records {
    records: HashMap<String, Stored>,
    writes: u64,
    /// (name contains, matching writes to let through first, writes left to fail)
    failures: Vec<(String, usize, usize)>,
}

/// A [`StateStore`] in memory; clones share it.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore(Arc<Mutex<Records>>);

impl MemoryStore {
    /// Makes the next `times` writes (create or replace) of records whose name contains
    /// `pattern` fail.
    pub fn fail_writes(&self, pattern: &str, times: usize) {
        self.fail_writes_after(pattern, 0, times);
    }

    /// Lets the next `skip` writes of records whose name contains `pattern` through, then
    /// makes the `times` after them fail.
    pub fn fail_writes_after(&self, pattern: &str, skip: usize, times: usize) {
        let mut inner = self.0.lock().unwrap();
        inner.failures.push((pattern.to_owned(), skip, times));
    }

    /// The names of every record, sorted.
    pub fn names(&self) -> Vec<String> {
        let inner = self.0.lock().unwrap();
        let mut names: Vec<String> = inner.records.keys().cloned().collect();
        names.sort();
        names
    }

    fn write(
        &self,
        name: &str,
        operation: &'static str,
        body: Vec<u8>,
        allowed: impl FnOnce(Option<&Stored>) -> bool,
    ) -> Result<Option<Version>, StoreError> {
        let mut inner = self.0.lock().unwrap();
        if let Some((_, skip, left)) = inner
            .failures
            .iter_mut()
            .find(|(pattern, _, left)| *left > 0 && name.contains(pattern.as_str()))
        {
            if *skip > 0 {
                *skip -= 1;
            } else {
                *left -= 1;
                return Err(StoreError {
                    operation,
                    location: self.locate(name),
                    message: "InternalError: injected by the test".into(),
                });
            }
        }
        if !allowed(inner.records.get(name)) {
            return Ok(None);
        }
        inner.writes += 1;
        let version = Version(format!("v{}", inner.writes));
        let stored = Stored {
            body,
            version: version.clone(),
        };
        inner.records.insert(name.to_owned(), stored);
        Ok(Some(version))
    }
}

/// Every operation first yields to the runtime, as a network call would, so that concurrent
/// tasks interleave their reads and writes.
impl StateStore for MemoryStore {
    async fn get(&self, name: &str) -> Result<Option<Stored>, StoreError> {
        tokio::task::yield_now().await;
        Ok(self.0.lock().unwrap().records.get(name).cloned())
    }

    async fn create(&self, name: &str, body: Vec<u8>) -> Result<Created, StoreError> {
        tokio::task::yield_now().await;
        let written = self.write(name, "create", body, |current| current.is_none())?;
        Ok(written.map_or(Created::Exists, Created::Created))
    }

    async fn replace(
        &self,
        name: &str,
        version: &Version,
        body: Vec<u8>,
    ) -> Result<Replaced, StoreError> {
        tokio::task::yield_now().await;
        let written = self.write(name, "replace", body, |current| {
            current.is_some_and(|c| &c.version == version)
        })?;
        Ok(written.map_or(Replaced::Conflict, Replaced::Replaced))
    }

    async fn list(&self, directory: &str) -> Result<Vec<(String, Stored)>, StoreError> {
        tokio::task::yield_now().await;
        let inner = self.0.lock().unwrap();
        let mut found: Vec<(String, Stored)> = inner
            .records
            .iter()
            .filter(|(name, _)| split_name(name).0 == directory)
            .map(|(name, stored)| (name.clone(), stored.clone()))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }

    fn locate(&self, name: &str) -> String {
        format!("memory://{name}")
    }
}

#[derive(Debug, Clone)]
struct Object {
    body: Bytes,
    etag: String,
    last_modified: i64,
}

/// Objects in memory, by bucket and key; clones share them.
#[derive(Debug, Clone, Default)]
pub struct MemoryObjects {
    objects: Arc<Mutex<HashMap<(String, String), Object>>>,
    puts: Arc<AtomicUsize>,
    opened: Arc<AtomicUsize>,
    ranges: Arc<AtomicUsize>,
    served: Arc<AtomicU64>,
}

/// A body that counts the bytes read from it.
struct Counted {
    body: Cursor<Bytes>,
    served: Arc<AtomicU64>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.body.read(buf)?;
        self.served.fetch_add(n as u64, Ordering::SeqCst);
        Ok(n)
    }
}

impl MemoryObjects {
    /// Stores `body` as `bucket/key`, arrived at `last_modified` (Unix seconds), with an entity
    /// tag no earlier put had.
    pub fn put(&self, bucket: &str, key: &str, body: Vec<u8>, last_modified: i64) {
        let object = Object {
            body: Bytes::from(body),
            etag: format!("etag-{}", self.puts.fetch_add(1, Ordering::SeqCst) + 1),
            last_modified,
        };
        let mut objects = self.objects.lock().unwrap();
        objects.insert((bucket.to_owned(), key.to_owned()), object);
    }

    /// How many objects were opened so far.
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    /// How many range reads were made so far.
    pub fn range_reads(&self) -> usize {
        self.ranges.load(Ordering::SeqCst)
    }

    /// Bytes handed out so far, by streams and range reads.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }

    fn find(&self, bucket: &str, key: &str) -> Result<Object, ObjectError> {
        let found = self
            .objects
            .lock()
            .unwrap()
            .get(&(bucket.to_owned(), key.to_owned()))
            .cloned();
        found.ok_or_else(|| ObjectError::NotFound {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }
}

impl ObjectSource for MemoryObjects {
    async fn open(
        &self,
        bucket: &str,
        key: &str,
        _version_id: Option<&str>,
    ) -> Result<OpenedObject, ObjectError> {
        let object = self.find(bucket, key)?;
        self.opened.fetch_add(1, Ordering::SeqCst);
        Ok(OpenedObject {
            etag: Some(object.etag),
            size: Some(object.body.len() as i64),
            last_modified: Some(object.last_modified),
            body: Box::new(Counted {
                body: Cursor::new(object.body),
                served: Arc::clone(&self.served),
            }),
        })
    }

    async fn read_range(
        &self,
        bucket: &str,
        key: &str,
        pinned: Pinned<'_>,
        range: Range<u64>,
    ) -> Result<Bytes, ObjectError> {
        let object = self.find(bucket, key)?;
        if pinned.etag.is_some_and(|etag| etag != object.etag) {
            return Err(ObjectError::Changed {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
            });
        }
        let len = object.body.len() as u64;
        if range.start > range.end || range.end > len {
            return Err(ObjectError::Get {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                message: format!(
                    "InvalidRange: bytes {}..{} of {len}",
                    range.start, range.end
                ),
            });
        }
        self.ranges.fetch_add(1, Ordering::SeqCst);
        self.served
            .fetch_add(range.end - range.start, Ordering::SeqCst);
        Ok(object.body.slice(range.start as usize..range.end as usize))
    }
}

/// Creates a DynamoDB table shaped like the template's `StateTable` (`pk`, `sk` strings,
/// on-demand), for end-to-end tests against a local emulator.
pub async fn create_state_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let attribute = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("name and type are set")
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("name and type are set")
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {name}: {}", crate::aws::describe(&e)));
}
