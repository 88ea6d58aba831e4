//! Starts a throwaway local [moto] server (a mock of the AWS APIs) for tests.
//!
//! ```no_run
//! let moto = moto_harness::MotoServer::start().expect("moto server");
//! // Point the AWS SDK at it, e.g. `aws_config::defaults(..).endpoint_url(moto.endpoint())`,
//! // or give a child process the environment from `moto.aws_env()`.
//! println!("moto listening on {}", moto.endpoint());
//! // Dropping `moto` kills and reaps the server.
//! ```
//!
//! The `moto_server` executable comes from `<workspace>/.tools/venv/bin/`, installed
//! (or checked against its pin, a fast no-op) by `scripts/tools.sh moto` once per
//! process. Set `MOTO_SERVER=/path/to/moto_server` to use another installation.
//!
//! The operating system picks the port (`-p 0`), and the harness reads the bound
//! port back from the server's log, so parallel test binaries never race for a
//! port. The server's stdout and stderr go to `<target dir>/moto-harness/*.log`.
//!
//! The server is wrapped in a tiny watchdog that exits as soon as its standard
//! input closes, so it also goes away when the test process dies without running
//! destructors (a `static`, a panic with `panic = "abort"`, or SIGKILL).
//!
//! [moto]: https://docs.getmoto.org/

mod fault;
pub use fault::{Fault, FaultProxy};

/// A name no other caller in this process gets (tests share one moto server, so each test
/// names its buckets, queues and namespaces with this).
pub fn unique_name(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long [`MotoServer::start`] waits for the server to answer HTTP.
///
/// A warm start takes about one second; the margin covers a cold, loaded CI machine.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The AWS account id moto uses unless told otherwise (useful to build ARNs).
pub const ACCOUNT_ID: &str = "123456789012";

/// The region the harness' [`MotoServer::aws_env`] selects.
pub const REGION: &str = "us-east-1";

/// Environment variable naming a `moto_server` executable to use instead of the
/// workspace's pinned one.
pub const MOTO_SERVER_ENV: &str = "MOTO_SERVER";

/// Lines of the server log quoted in [`Error::NotReady`].
const LOG_TAIL_LINES: usize = 40;

/// Readiness probe: a tiny JSON document served by moto's own management API.
const READY_PATH: &str = "/moto-api/config";

/// Runs the entry-point script given as first argument, but exits the whole
/// process once stdin reaches EOF, i.e. once the parent test process is gone.
const WATCHDOG_PY: &str = "\
import os, runpy, sys, threading
def _watch():
    try:
        while sys.stdin.buffer.read(65536):
            pass
    finally:
        os._exit(0)
threading.Thread(target=_watch, daemon=True).start()
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
";

/// Why a moto server could not be provided.
#[derive(Debug)]
pub enum Error {
    /// `moto_server` could not be found or installed.
    Install(String),
    /// An operating-system call failed (spawning, log file, socket).
    Io {
        /// What the harness was doing.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The server exited or did not answer within the timeout.
    NotReady {
        /// What went wrong.
        reason: String,
        /// The server's log file.
        log_path: PathBuf,
        /// The last lines of that log.
        log_tail: String,
    },
    /// A request to moto's management API got an unexpected answer.
    Api(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Install(msg) => write!(f, "moto_server unavailable: {msg}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::NotReady {
                reason,
                log_path,
                log_tail,
            } => write!(
                f,
                "moto server not ready: {reason}\n--- last lines of {} ---\n{log_tail}",
                log_path.display()
            ),
            Error::Api(msg) => write!(f, "moto management API: {msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// A running moto server on a loopback port; killed and reaped on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    /// Kept open while the server should live: its EOF stops the watchdog.
    stdin: Option<ChildStdin>,
    port: u16,
    endpoint: String,
    log_path: PathBuf,
}

impl MotoServer {
    /// Starts a fresh server and waits (up to [`DEFAULT_READY_TIMEOUT`]) until it answers.
    pub fn start() -> Result<Self, Error> {
        Self::start_with_timeout(DEFAULT_READY_TIMEOUT)
    }

    /// Like [`MotoServer::start`] with an explicit readiness timeout.
    pub fn start_with_timeout(ready_timeout: Duration) -> Result<Self, Error> {
        let exe = moto_server_path()?;
        let log_path = next_log_path()?;
        let log = File::create(&log_path)
            .map_err(io_err(format!("creating log file {}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(io_err("duplicating log file handle"))?;

        let args = ["-H", "127.0.0.1", "-p", "0"];
        // The watchdog needs the venv's interpreter (moto_server is a Python entry point).
        let python = exe
            .parent()
            .filter(|bin| {
                bin.parent()
                    .is_some_and(|venv| venv.join("pyvenv.cfg").is_file())
            })
            .map(|bin| bin.join("python"))
            .filter(|py| py.is_file());
        let mut cmd = match &python {
            Some(py) => {
                let mut c = Command::new(py);
                c.arg("-c").arg(WATCHDOG_PY).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(if python.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(log)
            .stderr(log_err);
        let mut child = cmd
            .spawn()
            .map_err(io_err(format!("spawning {}", exe.display())))?;
        let stdin = child.stdin.take();

        // From here on, dropping `server` cleans up if readiness fails.
        let mut server = MotoServer {
            child,
            stdin,
            port: 0,
            endpoint: String::new(),
            log_path,
        };
        server.wait_ready(ready_timeout)?;
        Ok(server)
    }

    /// A server shared by every test of the current process, started on first use.
    ///
    /// Tests running in parallel against it must use distinct resource names
    /// (buckets, topics, queues) and must not call [`MotoServer::reset`]. The
    /// server is never dropped; the watchdog stops it when the process exits.
    ///
    /// # Panics
    /// If the server cannot be started (the message includes the log tail).
    pub fn shared() -> &'static MotoServer {
        static SHARED: OnceLock<MotoServer> = OnceLock::new();
        SHARED.get_or_init(|| MotoServer::start().unwrap_or_else(|e| panic!("{e}")))
    }

    /// Base URL of the server, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The loopback TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The file receiving the server's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Environment for a child process using the AWS SDK against this server:
    /// endpoint, dummy credentials, region, and no instance-metadata probing.
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_SESSION_TOKEN", "testing".to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }

    /// Deletes all state held by the server (every service, every region).
    pub fn reset(&self) -> Result<(), Error> {
        match http_request(
            self.port,
            "POST",
            "/moto-api/reset",
            Duration::from_secs(10),
        ) {
            Ok(200) => Ok(()),
            Ok(status) => Err(Error::Api(format!("reset answered HTTP {status}"))),
            Err(e) => Err(io_err("POST /moto-api/reset")(e)),
        }
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    return Err(self.not_ready(format!("process exited ({status})")));
                }
                Ok(None) => {}
                Err(e) => return Err(io_err("polling the moto process")(e)),
            }
            if self.port == 0
                && let Some(port) = fs::read_to_string(&self.log_path)
                    .ok()
                    .and_then(|log| parse_port(&log))
            {
                self.port = port;
                self.endpoint = format!("http://127.0.0.1:{port}");
            }
            if self.port != 0
                && matches!(http_request(self.port, "GET", READY_PATH, Duration::from_secs(2)),
                            Ok(status) if (200..300).contains(&status))
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.not_ready(format!("no answer within {timeout:?}")));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn not_ready(&self, reason: String) -> Error {
        Error::NotReady {
            reason,
            log_path: self.log_path.clone(),
            log_tail: log_tail(&self.log_path, LOG_TAIL_LINES),
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Extracts the port from werkzeug's ` * Running on http://127.0.0.1:PORT` line.
fn parse_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains("Running on http"))?;
    let after = &line[line.find("://")? + 3..];
    let hostport = after
        .split(|c: char| c == '/' || c.is_whitespace())
        .next()?;
    let port: u16 = hostport.rsplit(':').next()?.parse().ok()?;
    (port != 0).then_some(port)
}

/// Sends a body-less HTTP/1.1 request to 127.0.0.1:`port`; returns the status code.
fn http_request(port: u16, method: &str, path: &str, timeout: Duration) -> io::Result<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let status_line = String::from_utf8_lossy(&head);
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .filter(|_| status_line.starts_with("HTTP/"))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an HTTP response"))
}

fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read log: {e})"),
    }
}

/// The workspace root: the nearest ancestor of this crate holding `scripts/tools.sh`.
fn workspace_root() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|p| p.join("scripts/tools.sh").is_file())
        .map(Path::to_path_buf)
}

/// Resolves (installing if needed, once per process) the `moto_server` executable.
fn moto_server_path() -> Result<PathBuf, Error> {
    static PATH: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PATH.get_or_init(resolve_moto_server)
        .clone()
        .map_err(Error::Install)
}

fn resolve_moto_server() -> Result<PathBuf, String> {
    if let Some(custom) = std::env::var_os(MOTO_SERVER_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(custom);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{MOTO_SERVER_ENV}={} does not exist",
                path.display()
            ))
        };
    }
    let root = workspace_root().ok_or_else(|| {
        format!(
            "no scripts/tools.sh above {}; set {MOTO_SERVER_ENV}",
            env!("CARGO_MANIFEST_DIR")
        )
    })?;
    let installed = root.join(".tools/venv/bin/moto_server");
    let script = root.join("scripts/tools.sh");
    // tools.sh is a ~10 ms no-op when the pinned version is installed; it prints
    // the executable's path on stdout and its progress/errors on stderr.
    let out = Command::new("bash")
        .arg(&script)
        .arg("moto")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let printed = String::from_utf8_lossy(&out.stdout);
            let path = printed
                .lines()
                .last()
                .map(|l| PathBuf::from(l.trim()))
                .unwrap_or_else(|| installed.clone());
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!(
                    "{} reported {} which does not exist",
                    script.display(),
                    path.display()
                ))
            }
        }
        failed if installed.is_file() => {
            let why = match failed {
                Ok(out) => format!("exit status {}", out.status),
                Err(e) => e.to_string(),
            };
            eprintln!(
                "moto-harness: `{} moto` failed ({why}); using existing {}",
                script.display(),
                installed.display()
            );
            Ok(installed)
        }
        Ok(out) => Err(format!(
            "`{} moto` failed with {}",
            script.display(),
            out.status
        )),
        Err(e) => Err(format!("cannot run `bash {}`: {e}", script.display())),
    }
}

/// A fresh log file path under `<target dir>/moto-harness/`, named after the
/// running executable so reruns overwrite instead of piling up.
fn next_log_path() -> Result<PathBuf, Error> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let dir = target_dir().join("moto-harness");
    fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
    let exe_stem = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| format!("pid{}", std::process::id()));
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    // The process id too: nextest runs each test in a process of its own, and two servers
    // sharing a log would read each other's port back (then fail once the other one stops).
    let pid = std::process::id();
    Ok(dir.join(format!("{exe_stem}-{pid}-{seq}.log")))
}

/// Cargo's target directory: the ancestor of the running test binary holding
/// `CACHEDIR.TAG`, else `$CARGO_TARGET_DIR`, else `<workspace>/target`, else the
/// system temporary directory.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .skip(1)
            .find(|p| p.join("CACHEDIR.TAG").is_file())
            .map(Path::to_path_buf)
    }) {
        return dir;
    }
    let root = workspace_root();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        return match (&root, dir.is_absolute()) {
            (Some(root), false) => root.join(dir),
            _ => dir,
        };
    }
    root.map(|r| r.join("target"))
        .unwrap_or_else(|| std::env::temp_dir().join(OsString::from("moto-harness")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_werkzeug_banner() {
        let log = "WARNING: dev server\n * Running on http://127.0.0.1:41234\nPress CTRL+C\n";
        assert_eq!(parse_port(log), Some(41234));
        assert_eq!(parse_port(" * Running on http://127.0.0.1:0\n"), None);
        assert_eq!(parse_port("starting\n"), None);
    }

    #[test]
    fn starts_answers_resets_and_stops() {
        let started = Instant::now();
        let moto = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
        eprintln!(
            "moto ready in {:?} at {}",
            started.elapsed(),
            moto.endpoint()
        );
        let port = moto.port();
        assert_eq!(moto.endpoint(), format!("http://127.0.0.1:{port}"));
        assert!(moto.log_path().is_file());
        assert!(!moto.log_path().starts_with(env!("CARGO_MANIFEST_DIR")));
        // S3 ListBuckets on the root path answers 200 without signing.
        assert_eq!(
            http_request(port, "GET", "/", Duration::from_secs(5)).unwrap(),
            200
        );
        moto.reset().unwrap();
        assert!(
            moto.aws_env()
                .iter()
                .any(|(k, v)| *k == "AWS_ENDPOINT_URL" && v == moto.endpoint())
        );

        let pid = moto.child.id();
        drop(moto);
        assert!(
            TcpStream::connect_timeout(
                &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                Duration::from_secs(1)
            )
            .is_err(),
            "port {port} still accepts connections after drop"
        );
        if cfg!(target_os = "linux") {
            assert!(
                !Path::new(&format!("/proc/{pid}")).exists(),
                "process {pid} not reaped"
            );
        }
    }

    #[test]
    fn shared_is_started_once() {
        let a = MotoServer::shared();
        let b = MotoServer::shared();
        assert_eq!(a.endpoint(), b.endpoint());
        assert_eq!(
            http_request(a.port(), "GET", READY_PATH, Duration::from_secs(5)).unwrap(),
            201
        );
    }
}
