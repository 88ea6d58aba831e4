//! `settings.txt` is every environment variable flood-alert reads: `scripts/check_template.py`
//! checks `template.yaml` against it. `UPDATE_SETTINGS=1` rewrites it.

use flood_alert::Config;
use flowlog_lambda::settings::{list, names_read};

#[test]
fn settings_txt_lists_every_variable_the_function_reads() {
    let required = [
        ("TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:alerts"),
        ("STATE_TABLE", "flowlogs-state"),
    ];
    // The settings are read whatever their values: one case.
    let read = names_read(&[&required], Config::from_settings).expect("a valid configuration");
    // The entry point runs flowlog-lambda's code (its cold start logs) and so flowlog-events'.
    let (dir, function) = (env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"));
    list::assert_current(dir, function, read, &["lambda", "events"]);
}
