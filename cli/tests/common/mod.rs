//! What the tests of the `flowlogs` binary share: running it, scratch files, generated objects.
#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The binary under test.
pub const FLOWLOGS: &str = env!("CARGO_BIN_EXE_flowlogs");

/// Runs flowlogs with no standard input.
pub fn flowlogs(args: &[&str]) -> Output {
    Command::new(FLOWLOGS)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("flowlogs runs")
}

/// Standard output of a run that must succeed.
pub fn ok_stdout(args: &[&str]) -> String {
    let out = flowlogs(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs flowlogs with `stdin` as its standard input.
pub fn with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(FLOWLOGS)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// A path in this test run's scratch directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Generates an object and returns its path and ground truth.
pub fn generate(name: &str, extra: &[&str]) -> (String, Value) {
    let object = scratch(name);
    let truth = scratch(&format!("{name}.truth.json"));
    let (o, t) = (object.to_str().unwrap(), truth.to_str().unwrap());
    let mut args = vec!["generate", "-o", o, "--truth", t];
    args.extend_from_slice(extra);
    ok_stdout(&args);
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(&truth).unwrap()).unwrap();
    (o.to_owned(), truth)
}

/// The repository's root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The bundled sample objects, in name order.
pub fn samples() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("events/objects"))
        .unwrap()
        .map(|e| e.unwrap().path().to_str().unwrap().to_owned())
        .filter(|p| p.ends_with(".log.gz"))
        .collect();
    names.sort();
    names
}

/// Every record `flowlogs parse` prints for `inputs`, as JSON objects.
pub fn records(inputs: &[String]) -> Vec<Value> {
    let mut args = vec!["parse"];
    args.extend(inputs.iter().map(String::as_str));
    ok_stdout(&args)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs `script` so that flowlogs sees a terminal; returns all it wrote there.
pub fn on_a_terminal(command: &str, env: &[(&str, &str)]) -> String {
    let out = Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("script(1) from util-linux runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether `text` holds an SGR (colour or style) escape sequence.
pub fn coloured(text: &str) -> bool {
    text.split("\u{1b}[").skip(1).any(|rest| {
        rest.chars()
            .find(|c| !(c.is_ascii_digit() || *c == ';'))
            .is_some_and(|c| c == 'm')
    })
}
