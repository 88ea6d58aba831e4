//! Every sample event in `events/` decodes, and names objects that `events/uploads.tsv` uploads
//! (or, for CloudWatch Logs, holds log events).

use std::path::Path;

use flowlog_events::{Input, Trigger, decode};

fn events_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../events"))
}

fn uploaded_keys() -> Vec<String> {
    let manifest = std::fs::read_to_string(events_dir().join("uploads.tsv")).unwrap();
    manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (file, key) = l.split_once('\t').expect("file<TAB>key");
            assert!(events_dir().join(file).is_file(), "{file} is missing");
            key.to_owned()
        })
        .collect()
}

/// The keys of the objects an event names; a batch of log events must hold some.
fn keys_of(trigger: Trigger) -> Vec<String> {
    let key = |input: Input| match input {
        Input::Object(object) => Some(object.key),
        Input::Logs(batch) => {
            assert!(
                !batch.events.is_empty(),
                "{} holds no event",
                batch.describe()
            );
            None
        }
    };
    match trigger {
        Trigger::Inputs(inputs) => inputs.into_iter().filter_map(key).collect(),
        Trigger::Sqs(items) => items
            .into_iter()
            .flat_map(|i| i.inputs.unwrap())
            .filter_map(key)
            .collect(),
        Trigger::Batch(job) => job
            .tasks
            .into_iter()
            .map(|t| t.object.unwrap().key)
            .collect(),
        Trigger::Ignored(_) => Vec::new(),
    }
}

#[test]
fn every_sample_event_decodes_to_uploaded_objects() {
    let uploaded = uploaded_keys();
    let mut shapes = Vec::new();
    for entry in std::fs::read_dir(events_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let trigger = decode(event).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let keys = keys_of(trigger);
        if name == "s3-test-event.json" || name.starts_with("cloudwatch-logs") {
            assert!(keys.is_empty());
        } else {
            assert!(!keys.is_empty(), "{name} names no object");
        }
        for key in keys {
            assert!(
                uploaded.contains(&key),
                "{name}: {key} is not in uploads.tsv"
            );
        }
        shapes.push(name);
    }
    shapes.sort();
    assert_eq!(
        shapes,
        [
            "cloudwatch-logs-subscription.json",
            "eventbridge-object-created.json",
            "s3-batch-operations-v1.json",
            "s3-batch-operations-v2.json",
            "s3-notification-flood.json",
            "s3-notification-hive-key.json",
            "s3-notification.json",
            "s3-test-event.json",
            "sns-s3-notification.json",
            "sqs-s3-notification.json",
        ]
    );
}
