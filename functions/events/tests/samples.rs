//! Every sample event in `events/` decodes, and names objects that `events/uploads.tsv` uploads.

use std::path::Path;

use flowlog_events::{Trigger, decode};

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

fn keys_of(trigger: Trigger) -> Vec<String> {
    match trigger {
        Trigger::Objects(objects) => objects.into_iter().map(|o| o.key).collect(),
        Trigger::Sqs(items) => items
            .into_iter()
            .flat_map(|i| i.objects.unwrap())
            .map(|o| o.key)
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
        if name == "s3-test-event.json" {
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
            "eventbridge-object-created.json",
            "s3-notification-flood.json",
            "s3-notification-hive-key.json",
            "s3-notification.json",
            "s3-test-event.json",
            "sns-s3-notification.json",
            "sqs-s3-notification.json",
        ]
    );
}
