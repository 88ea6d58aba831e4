//! `settings.txt` is every environment variable rate-metrics reads: `scripts/check_template.py`
//! checks `template.yaml` against it. `UPDATE_SETTINGS=1` rewrites it.

use flowlog_lambda::settings::{MEMORY_SIZE_VARIABLE, list, names_read};
use rate_metrics::Config;

#[test]
fn settings_txt_lists_every_variable_the_function_reads() {
    let required = ("STATE_TABLE", "flowlogs-state");
    // The memory budget is read only when the runtime sets the memory size: a case each way.
    let cases: [&[(&str, &str)]; 2] = [&[required], &[required, (MEMORY_SIZE_VARIABLE, "1024")]];
    let read =
        names_read(&cases, Config::from_settings).expect("each case is a valid configuration");
    // The entry point runs flowlog-lambda's code (its cold start logs) and flowlog-events'.
    let (dir, function) = (env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"));
    list::assert_current(dir, function, read, &["lambda", "events"]);
}
