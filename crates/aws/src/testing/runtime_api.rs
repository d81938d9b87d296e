//! A local Lambda Runtime API (the HTTP interface Lambda offers a function's process), to
//! run a function's real bootstrap — greenlight's binary or any other runtime's loop — as
//! Lambda runs it, and time it: init (from the process's start to its first request for an
//! invocation, what Lambda reports as Init Duration), each invocation (from handing the
//! event over to receiving the answer), and the process's peak resident memory.
//!
//! Only the calls a function makes are served: `GET /2018-06-01/runtime/invocation/next`,
//! `POST …/invocation/{id}/response`, `POST …/invocation/{id}/error` and
//! `POST …/runtime/init/error`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How one invocation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The function's response body.
    Response(String),
    /// The function's error body (`{"errorType": …, "errorMessage": …}`).
    Error(String),
}

/// One process's run: its init, then one entry per event, in order.
#[derive(Clone, Debug)]
pub struct Run {
    pub init: Duration,
    pub invocations: Vec<(Duration, Answer)>,
    /// The process's peak resident set (`VmHWM`), in KiB, read after the last invocation.
    pub peak_rss_kib: u64,
}

/// What the connections tell the run.
enum Seen {
    Next(Instant),
    Answer(String, Answer, Instant),
    InitError(String),
}

/// Runs `command` (a function's bootstrap) with `env` plus the Lambda runtime's variables
/// under a local Runtime API, hands it `events` one after the other, and stops it. Fails
/// with what went wrong (an init error, an exit, no answer within `timeout`).
pub fn run(
    mut command: Command,
    env: &BTreeMap<String, String>,
    events: &[serde_json::Value],
    timeout: Duration,
) -> Result<Run, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let api = listener.local_addr().map_err(|e| e.to_string())?;
    let (seen_tx, seen) = channel::<Seen>();
    let (event_tx, event_rx) = channel::<(String, String)>();
    let event_rx = Arc::new(Mutex::new(event_rx));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (seen_tx, event_rx) = (seen_tx.clone(), event_rx.clone());
            std::thread::spawn(move || serve(stream, seen_tx, event_rx));
        }
    });
    command
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("the bootstrap does not start: {e}"))?;
    let result = drive(&mut child, started, &seen, &event_tx, events, timeout);
    let _ = child.kill();
    let out = child.wait_with_output().ok();
    result.map_err(|e| {
        let stderr = out
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .unwrap_or_default();
        format!("{e}; its standard error: {}", stderr.trim())
    })
}

fn drive(
    child: &mut Child,
    started: Instant,
    seen: &Receiver<Seen>,
    event_tx: &Sender<(String, String)>,
    events: &[serde_json::Value],
    timeout: Duration,
) -> Result<Run, String> {
    let wait = |child: &mut Child| -> Result<Seen, String> {
        let deadline = Instant::now() + timeout;
        loop {
            match seen.recv_timeout(Duration::from_millis(20)) {
                Ok(s) => return Ok(s),
                Err(RecvTimeoutError::Disconnected) => return Err("the API stopped".into()),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("the bootstrap exited ({status})"));
            }
            if Instant::now() > deadline {
                return Err(format!("no request within {timeout:?}"));
            }
        }
    };
    let init = match wait(child)? {
        Seen::Next(at) => at - started,
        Seen::InitError(body) => return Err(format!("init failed: {body}")),
        Seen::Answer(..) => return Err("an answer before any invocation".into()),
    };
    let mut invocations = Vec::new();
    for (n, event) in events.iter().enumerate() {
        let id = format!("bench-{n}");
        let handed = Instant::now();
        event_tx
            .send((id.clone(), event.to_string()))
            .map_err(|_| "the API stopped".to_string())?;
        loop {
            match wait(child)? {
                Seen::Answer(of, answer, at) if of == id => {
                    invocations.push((at - handed, answer));
                    break;
                }
                Seen::Answer(of, ..) => return Err(format!("an answer for {of}, not {id}")),
                Seen::InitError(body) => return Err(format!("init failed: {body}")),
                Seen::Next(_) => {}
            }
        }
    }
    let peak_rss_kib = peak_rss_kib(child.id()).unwrap_or(0);
    Ok(Run {
        init,
        invocations,
        peak_rss_kib,
    })
}

/// `VmHWM` of a running process, in KiB (Linux).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One connection: requests until the client closes it (the runtime clients keep theirs
/// open between invocations).
fn serve(stream: TcpStream, seen: Sender<Seen>, events: Arc<Mutex<Receiver<(String, String)>>>) {
    let Ok(mut write) = stream.try_clone() else {
        return;
    };
    let mut read = BufReader::new(stream);
    while let Some((method, path, body)) = request(&mut read) {
        let reply = match (method.as_str(), path.as_str()) {
            ("GET", "/2018-06-01/runtime/invocation/next") => {
                let _ = seen.send(Seen::Next(Instant::now()));
                // Wait for the run to hand over the next event (none once it is done).
                let next = events.lock().ok().and_then(|rx| rx.recv().ok());
                let Some((id, event)) = next else {
                    return;
                };
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() + 60_000)
                    .unwrap_or_default();
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\nLambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Sampled=0\r\nContent-Length: {}\r\n\r\n{event}",
                    event.len()
                )
            }
            ("POST", "/2018-06-01/runtime/init/error") => {
                let _ = seen.send(Seen::InitError(body));
                accepted()
            }
            ("POST", p) if p.starts_with("/2018-06-01/runtime/invocation/") => {
                let rest = &p["/2018-06-01/runtime/invocation/".len()..];
                let at = Instant::now();
                match rest.rsplit_once('/') {
                    Some((id, "response")) => {
                        let _ = seen.send(Seen::Answer(id.into(), Answer::Response(body), at));
                    }
                    Some((id, "error")) => {
                        let _ = seen.send(Seen::Answer(id.into(), Answer::Error(body), at));
                    }
                    _ => {}
                }
                accepted()
            }
            _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string(),
        };
        if write.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn accepted() -> String {
    "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n".to_string()
}

/// Reads one HTTP/1.1 request: method, path and body (by Content-Length or chunked).
fn request(read: &mut BufReader<TcpStream>) -> Option<(String, String, String)> {
    let mut line = String::new();
    if read.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut header = String::new();
        read.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().ok()?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            read.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            read.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        read.read_exact(&mut body).ok()?;
    }
    Some((method, path, String::from_utf8_lossy(&body).into_owned()))
}
