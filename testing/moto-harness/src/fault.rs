//! A fault-injecting HTTP proxy in front of the moto server, for failures moto cannot produce
//! (throttling, access denied): the first `times` requests matching a rule get the rule's
//! error response, everything else is forwarded unchanged.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// One kind of fault: which requests, how often, and the response they get instead.
pub struct Fault {
    /// Requests whose head (request line and headers) or body contains this text (e.g.
    /// `Action=PutMetricData`, `GET /bucket/key`, `DynamoDB_20120810.PutItem`)...
    pub when_contains: String,
    /// ...and each of these too.
    pub and_contains: Vec<String>,
    /// How many matching requests fail before the rest go through.
    pub times: usize,
    /// HTTP status of the injected response.
    pub status: u16,
    /// Body of the injected response (an AWS error document).
    pub body: String,
    /// Its content type.
    pub content_type: &'static str,
}

impl Fault {
    /// An awsQuery-protocol error (CloudWatch, SNS): `<ErrorResponse><Error><Code>…`.
    pub fn query_error(when_contains: &str, times: usize, status: u16, code: &str) -> Fault {
        Fault {
            when_contains: when_contains.to_owned(),
            and_contains: Vec::new(),
            times,
            status,
            content_type: "text/xml",
            body: format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected by the test</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
            ),
        }
    }

    /// An S3 REST-XML error: `<Error><Code>…`.
    pub fn s3_error(when_contains: &str, times: usize, status: u16, code: &str) -> Fault {
        Fault {
            when_contains: when_contains.to_owned(),
            and_contains: Vec::new(),
            times,
            status,
            content_type: "text/xml",
            body: format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected by the test</Message><RequestId>fault</RequestId></Error>"
            ),
        }
    }
}

impl Fault {
    /// An awsJson-protocol error (DynamoDB, SQS): `{"__type": code, "message": …}`.
    pub fn json_error(when_contains: &str, times: usize, status: u16, code: &str) -> Fault {
        Fault {
            when_contains: when_contains.to_owned(),
            and_contains: Vec::new(),
            times,
            status,
            content_type: "application/x-amz-json-1.0",
            body: format!("{{\"__type\":\"{code}\",\"message\":\"injected by the test\"}}"),
        }
    }

    /// Only requests that also contain `text`.
    pub fn and(mut self, text: &str) -> Fault {
        self.and_contains.push(text.to_owned());
        self
    }

    fn matches(&self, head: &str, body: &str) -> bool {
        std::iter::once(&self.when_contains)
            .chain(&self.and_contains)
            .all(|t| head.contains(t.as_str()) || body.contains(t.as_str()))
    }
}

struct Rule {
    fault: Fault,
    left: AtomicUsize,
}

/// The proxy; stops when dropped.
pub struct FaultProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    rules: Arc<Vec<Rule>>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str, faults: Vec<Fault>) -> io::Result<FaultProxy> {
        let upstream = upstream
            .strip_prefix("http://")
            .unwrap_or(upstream)
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let rules = Arc::new(
            faults
                .into_iter()
                .map(|fault| Rule {
                    left: AtomicUsize::new(fault.times),
                    fault,
                })
                .collect::<Vec<_>>(),
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, rules2, seen2) = (stop.clone(), rules.clone(), seen.clone());
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (upstream, rules, seen) =
                            (upstream.clone(), rules2.clone(), seen2.clone());
                        thread::spawn(move || {
                            let _ = serve(client, &upstream, &rules, &seen);
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(std::time::Duration::from_millis(5));
                    }
                    Err(_) => break,
                }
            }
        });
        Ok(FaultProxy {
            port,
            stop,
            rules,
            seen,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many responses were injected so far.
    pub fn injected(&self) -> usize {
        self.rules
            .iter()
            .map(|r| r.fault.times - r.left.load(Ordering::Relaxed))
            .sum()
    }

    /// The request lines seen (injected and forwarded), in order.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One client connection: requests one after the other (keep-alive).
fn serve(
    client: TcpStream,
    upstream: &str,
    rules: &[Rule],
    seen: &Mutex<Vec<String>>,
) -> io::Result<()> {
    client.set_nonblocking(false)?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    loop {
        let Some((head, body)) = read_message(&mut reader)? else {
            return Ok(());
        };
        let request_line = head.lines().next().unwrap_or_default().to_owned();
        seen.lock().unwrap().push(request_line.clone());
        let text = String::from_utf8_lossy(&body);
        let hit = rules.iter().find(|r| {
            r.fault.matches(&head, &text)
                && r.left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
        });
        match hit {
            Some(rule) => {
                let f = &rule.fault;
                write!(
                    client,
                    "HTTP/1.1 {} Injected\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n{}",
                    f.status,
                    f.content_type,
                    f.body.len(),
                    f.body
                )?;
            }
            None => {
                let mut up = TcpStream::connect(upstream)?;
                up.write_all(head.as_bytes())?;
                up.write_all(&body)?;
                let mut up_reader = BufReader::new(up.try_clone()?);
                let Some((response_head, response_body)) = read_message(&mut up_reader)? else {
                    return Ok(());
                };
                client.write_all(response_head.as_bytes())?;
                client.write_all(&response_body)?;
                let _ = up.shutdown(Shutdown::Both);
            }
        }
        client.flush()?;
    }
}

/// Reads one HTTP/1.1 message (head with its final blank line, and a Content-Length body).
fn read_message(reader: &mut impl BufRead) -> io::Result<Option<(String, Vec<u8>)>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let end = line == "\r\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some((head, body)))
}
