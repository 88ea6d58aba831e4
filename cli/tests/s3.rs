//! Reading `s3://bucket/prefix/` against a local moto server (the pinned one, started by the
//! harness): the same answers as the same objects on disk, and one-line failures.

mod common;

use std::process::{Command, Output, Stdio};

use aws_sdk_s3::primitives::ByteStream;
use common::{FLOWLOGS, samples};
use moto_harness::{MotoServer, unique_name};
use serde_json::Value;

const PREFIX: &str = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2023/11/14/";

/// A bucket on the shared moto server holding the sample objects under [`PREFIX`], plus an
/// object outside the prefix that must not be read.
fn bucket_with_samples() -> String {
    let moto = MotoServer::shared();
    let bucket = unique_name("flowlogs-cli");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(moto_harness::REGION))
            .endpoint_url(moto.endpoint())
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        let mut objects: Vec<(String, Vec<u8>)> = samples()
            .iter()
            .map(|path| {
                let name = path.rsplit('/').next().unwrap();
                (format!("{PREFIX}{name}"), std::fs::read(path).unwrap())
            })
            .collect();
        objects.push((format!("{PREFIX}folder/"), Vec::new()));
        objects.push((
            "AWSLogs/123456789012/CloudTrail/trail.json.gz".into(),
            b"not a flow log".to_vec(),
        ));
        for (key, body) in objects {
            s3.put_object()
                .bucket(&bucket)
                .key(key)
                .body(ByteStream::from(body))
                .send()
                .await
                .unwrap();
        }
    });
    bucket
}

/// Runs flowlogs with the moto server's AWS environment and no other AWS configuration.
fn flowlogs_s3(args: &[&str]) -> Output {
    let moto = MotoServer::shared();
    let mut command = Command::new(FLOWLOGS);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
        command.env_remove(key);
    }
    command
        .args(args)
        .envs(moto.aws_env())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stdin(Stdio::null())
        .output()
        .expect("flowlogs runs")
}

fn ok_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn analyze_of_an_s3_prefix_equals_analyze_of_the_same_objects_on_disk() {
    let bucket = bucket_with_samples();
    let url = format!("s3://{bucket}/AWSLogs/123456789012/vpcflowlogs/");
    let remote = ok_json(&flowlogs_s3(&["analyze", "--output", "json", &url]));
    let mut args = vec!["analyze", "--output", "json"];
    let inputs = samples();
    args.extend(inputs.iter().map(String::as_str));
    let local = ok_json(&flowlogs_s3(&args));
    assert_eq!(remote["objects"], 4);
    assert_eq!(remote, local);
    assert_eq!(remote["floods"][0]["source"], "203.0.113.7");
}

#[test]
fn stats_of_an_s3_prefix_read_one_object_at_a_time_equal_the_files_on_disk() {
    let bucket = bucket_with_samples();
    let url = format!("s3://{bucket}/{PREFIX}");
    let query = [
        "stats",
        "--output",
        "json",
        "--action",
        "reject",
        "--by",
        "source,dstport",
    ];
    let mut remote_args = query.to_vec();
    remote_args.extend(["--s3-concurrency", "1", &url]);
    let remote = ok_json(&flowlogs_s3(&remote_args));
    let mut local_args = query.to_vec();
    let inputs = samples();
    local_args.extend(inputs.iter().map(String::as_str));
    let local = ok_json(&flowlogs_s3(&local_args));
    assert!(remote["matched"]["flows"].as_u64().unwrap() > 0);
    assert_eq!(remote, local);
}

#[test]
fn an_s3_prefix_that_cannot_be_read_fails_with_one_line_each() {
    let bucket = bucket_with_samples();
    for (url, reason) in [
        (format!("s3://{}/", unique_name("missing")), "NoSuchBucket"),
        (
            format!("s3://{bucket}/no/such/prefix/"),
            "no object under this prefix",
        ),
        (
            format!("s3://{bucket}/AWSLogs/123456789012/CloudTrail/"),
            "not a VPC flow-log object",
        ),
    ] {
        let out = flowlogs_s3(&["stats", &url]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{url}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{url}: {stderr}");
        assert!(
            stderr.starts_with("flowlogs: s3://") && stderr.contains(reason),
            "{url}: {stderr}"
        );
    }
}
