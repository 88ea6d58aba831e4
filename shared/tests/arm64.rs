//! The aarch64 build of the core splits lines with NEON where x86-64 uses SSE2 (Lambda runs
//! arm64): built for aarch64 and run under qemu-user, its unit and scan tests pass and the
//! bench's aggregates of the three bench objects are those of the native build, byte for byte.
//! Speed under emulation means nothing: only results are compared.
//!
//! What it needs is installed when missing, pinned: the aarch64 musl standard library (rustup,
//! for the workspace's toolchain; musl links statically, so qemu needs no aarch64 system
//! libraries), qemu-user-static (Debian, as root), and zig as the linker (the `cargo-lambda`
//! group of `scripts/tools.sh`, which `make build` uses too).

#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TARGET: &str = "aarch64-unknown-linux-musl";
/// Debian 12's qemu-user-static (bookworm).
const QEMU: &str = "qemu-user-static=1:7.2+dfsg-7+deb12u18+b3";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(command: &mut Command) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Installs what is missing; returns the linker wrapper.
fn prerequisites(work: &Path) -> PathBuf {
    let targets = run(Command::new("rustup").args(["target", "list", "--installed"]));
    if !String::from_utf8_lossy(&targets.stdout)
        .lines()
        .any(|t| t == TARGET)
    {
        run(Command::new("rustup").args(["target", "add", TARGET]));
    }
    if !installed("qemu-aarch64-static") {
        run(Command::new("apt-get").args(["update", "-qq"]));
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", QEMU])
            .env("DEBIAN_FRONTEND", "noninteractive"));
    }
    let tools = run(Command::new(root().join("scripts/tools.sh")).arg("cargo-lambda"));
    let cargo_lambda = PathBuf::from(String::from_utf8_lossy(&tools.stdout).trim());
    let python = cargo_lambda.with_file_name("python");
    std::fs::create_dir_all(work).unwrap();
    let linker = work.join("aarch64-linux-musl-cc");
    std::fs::write(
        &linker,
        format!(
            "#!/bin/sh\nexec {} -m ziglang cc -target aarch64-linux-musl \"$@\"\n",
            python.display()
        ),
    )
    .unwrap();
    run(Command::new("chmod").arg("+x").arg(&linker));
    linker
}

/// `cargo test` of the core in `work`, natively or for aarch64 under qemu.
fn cargo_test(work: &Path, linker: &Path, aarch64: bool, args: &[&str]) -> String {
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(root())
        .args(["test", "--locked", "-p", "flowlog-core"])
        .args(
            aarch64
                .then_some(["--target", TARGET])
                .into_iter()
                .flatten(),
        )
        .args(args)
        .env("CARGO_TARGET_DIR", work)
        .env(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER",
            linker.as_os_str(),
        )
        .env(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUNNER",
            "qemu-aarch64-static",
        )
        // zig brings musl's start files and libc: Rust's own copies would be linked twice.
        .env(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS",
            "-C link-self-contained=no",
        );
    String::from_utf8_lossy(&run(&mut cargo).stdout).into_owned()
}

#[test]
fn the_aarch64_build_gives_the_native_results_under_qemu() {
    let work = PathBuf::from(
        std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| root().join("target").into()),
    )
    .join("aarch64-check");
    let linker = prerequisites(&work);
    let tests = cargo_test(&work, &linker, true, &["--lib", "--test", "scan"]);
    assert!(tests.contains("test result: ok"), "{tests}");

    let bench = [
        "--bench",
        "throughput",
        "--",
        "--records",
        "20000",
        "--summaries",
    ];
    let summaries = |out: String| -> Vec<String> {
        out.lines()
            .filter(|l| l.starts_with("summaries "))
            .map(String::from)
            .collect()
    };
    let native = summaries(cargo_test(&work, &linker, false, &bench));
    let emulated = summaries(cargo_test(&work, &linker, true, &bench));
    assert_eq!(native.len(), 3, "{native:?}");
    assert_eq!(emulated, native);
}
