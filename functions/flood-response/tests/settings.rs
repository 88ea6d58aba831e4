//! `settings.txt` is every environment variable flood-response reads: `scripts/check_template.py`
//! checks `template.yaml` against it. `UPDATE_SETTINGS=1` rewrites it.

use flood_response::Config;
use flowlog_lambda::settings::{list, names_read};

#[test]
fn settings_txt_lists_every_variable_the_function_reads() {
    let topic = ("TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:alerts");
    let table = ("STATE_TABLE", "flowlogs-state");
    // Each mode reads settings of its own: a case per mode.
    let cases: [&[(&str, &str)]; 3] = [
        &[topic, table],
        &[
            topic,
            table,
            ("RESPONSE", "waf"),
            ("WAF_IPV4_SET_NAME", "block-v4"),
            ("WAF_IPV4_SET_ID", "a1b2"),
        ],
        &[
            topic,
            table,
            ("RESPONSE", "nacl"),
            ("NACL_ID", "acl-0abc12"),
        ],
    ];
    let read =
        names_read(&cases, Config::from_settings).expect("each case is a valid configuration");
    // The entry point runs flowlog-lambda's code (its cold start logs) and so flowlog-events'.
    let (dir, function) = (env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"));
    list::assert_current(dir, function, read, &["lambda", "events"]);
}
