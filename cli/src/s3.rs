//! Reading `s3://bucket/prefix/` directly: the objects under the prefix are listed, then read
//! in key order (the order flow logs are written in) with up to N of them downloading at once,
//! each buffering a bounded amount ahead of the reader.

use std::collections::VecDeque;
use std::io::{self, Read};

use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use bytes::{Buf, Bytes};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use crate::progress::Progress;

/// Chunks of a body buffered ahead of the reader, per object (a few MB).
const CHUNKS_AHEAD: usize = 64;

/// `s3://bucket/prefix`: every object whose key starts with the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    /// The bucket.
    pub bucket: String,
    /// The key prefix (may be empty: the whole bucket).
    pub prefix: String,
}

impl S3Url {
    /// Parses `s3://bucket/prefix`; `None` when `text` is not an S3 URL at all.
    pub fn parse(text: &str) -> Option<Result<S3Url, String>> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        Some(if bucket.is_empty() {
            Err(format!("{text}: no bucket: expected s3://bucket/prefix/"))
        } else {
            Ok(S3Url {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
            })
        })
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// One listed object.
#[derive(Debug, Clone)]
pub struct Object {
    bucket: String,
    key: String,
    /// Its size in bytes, as listed.
    pub size: u64,
}

impl Object {
    /// `s3://bucket/key`.
    pub fn name(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// An S3 client on its own small runtime, for a program that is otherwise synchronous.
pub struct S3 {
    runtime: Runtime,
    client: Client,
}

impl S3 {
    /// A client with the usual configuration chain: credentials from the environment,
    /// profiles, SSO caches, web identity, container or instance roles; the region from
    /// `AWS_REGION` or the profile, else us-east-1; `AWS_ENDPOINT_URL` for a local server
    /// (then buckets are addressed by path).
    pub fn connect() -> Result<S3, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the S3 client: {e}"))?;
        let config = runtime.block_on(async {
            let region = RegionProviderChain::default_provider().or_else(Region::new("us-east-1"));
            aws_config::defaults(BehaviorVersion::latest())
                .region(region)
                .load()
                .await
        });
        let client = Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(config.endpoint_url().is_some())
                .build(),
        );
        Ok(S3 { runtime, client })
    }

    /// Every object under `url` in key order, leaving out folder markers (keys ending in `/`).
    pub fn list(&self, url: &S3Url, progress: &Progress) -> Result<Vec<Object>, String> {
        self.runtime.block_on(async {
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&url.bucket)
                .prefix(&url.prefix)
                .into_paginator()
                .send();
            let mut objects = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| format!("{url}: {}", list_error(&e)))?;
                for object in page.contents() {
                    let key = object.key().unwrap_or_default();
                    if key.ends_with('/') {
                        continue;
                    }
                    objects.push(Object {
                        bucket: url.bucket.clone(),
                        key: key.to_owned(),
                        size: object.size().unwrap_or(0).max(0) as u64,
                    });
                }
                progress.set_message(format!(
                    "listing {url}: {}",
                    crate::text::counted(objects.len() as u64, "object")
                ));
            }
            if objects.is_empty() {
                return Err(format!("{url}: no object under this prefix"));
            }
            Ok(objects)
        })
    }

    /// Reads `objects` in order, with at most `concurrency` of them downloading at once.
    pub fn fetch(&self, objects: Vec<Object>, concurrency: usize) -> Fetcher<'_> {
        Fetcher {
            s3: self,
            objects: objects.into(),
            pending: VecDeque::new(),
            concurrency: concurrency.max(1),
        }
    }

    fn start(&self, object: &Object) -> Body {
        let (tx, rx) = mpsc::channel(CHUNKS_AHEAD);
        let request = self
            .client
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key);
        self.runtime.spawn(async move {
            let mut body = match request.send().await {
                Ok(output) => output.body,
                Err(e) => {
                    let _ = tx.send(Err(get_error(&e))).await;
                    return;
                }
            };
            while let Some(chunk) = body.next().await {
                let message = chunk.map_err(|e| io::Error::other(format!("reading the body: {e}")));
                let failed = message.is_err();
                // A closed channel means the reader stopped (the object failed to parse).
                if tx.send(message).await.is_err() || failed {
                    return;
                }
            }
        });
        Body {
            rx,
            chunk: Bytes::new(),
        }
    }
}

/// Hands out the objects in order, keeping the next ones downloading.
pub struct Fetcher<'a> {
    s3: &'a S3,
    objects: VecDeque<Object>,
    pending: VecDeque<(Object, Body)>,
    concurrency: usize,
}

impl Fetcher<'_> {
    /// The next object and its body.
    pub fn next_object(&mut self) -> Option<(Object, Body)> {
        while self.pending.len() < self.concurrency {
            let Some(object) = self.objects.pop_front() else {
                break;
            };
            let body = self.s3.start(&object);
            self.pending.push_back((object, body));
        }
        self.pending.pop_front()
    }
}

/// An object's bytes as they arrive.
pub struct Body {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    chunk: Bytes,
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}

fn list_error<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let hint = match error.code() {
        Some("AccessDenied") => ": the credentials need s3:ListBucket on the bucket",
        Some("PermanentRedirect" | "AuthorizationHeaderMalformed") => {
            ": the bucket is in another region; set AWS_REGION to it"
        }
        _ => "",
    };
    format!("{}{hint}", describe(error))
}

fn get_error<E, R>(error: &SdkError<E, R>) -> io::Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let hint = match error.code() {
        Some("NoSuchKey") => " (deleted after it was listed?)",
        Some("AccessDenied") => ": the credentials need s3:GetObject on it",
        _ => "",
    };
    io::Error::other(format!("{}{hint}", describe(error)))
}

/// The service's code and message, or the chain of causes (no credentials, DNS, TLS), each
/// said once.
fn describe<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if let Some(code) = error.code() {
        return format!("{code}: {}", error.message().unwrap_or("no message"));
    }
    let mut causes: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = next {
        let text = cause.to_string();
        if !causes.iter().any(|c| c.contains(&text)) {
            causes.push(text);
        }
        next = cause.source();
    }
    // One line: the SDK lists the providers it tried on lines of their own.
    let message = causes
        .join(": ")
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ")
        .replace(":; ", ": ");
    if message.contains("credentials") {
        format!(
            "{message} (no usable AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, or log in with `aws sso login`)"
        )
    } else {
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_name_a_bucket_and_a_prefix() {
        assert_eq!(
            S3Url::parse("s3://logs/AWSLogs/123/"),
            Some(Ok(S3Url {
                bucket: "logs".into(),
                prefix: "AWSLogs/123/".into()
            }))
        );
        assert_eq!(
            S3Url::parse("s3://logs").unwrap().unwrap().to_string(),
            "s3://logs/"
        );
        assert!(S3Url::parse("s3:///key").unwrap().is_err());
        assert_eq!(S3Url::parse("logs/file.log.gz"), None);
    }
}
