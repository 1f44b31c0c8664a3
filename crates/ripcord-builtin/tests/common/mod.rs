//! Test harness: a [`StepContext`] that records notes, a real approval mailbox on a tempdir,
//! minijinja evaluation; a tiny HTTP/1.1 server on 127.0.0.1; bounded polling helpers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ripcord_builtin::CoreExecutor;
use ripcord_engine::StepError;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub const RUN_ID: &str = "run-1";

pub use ripcord_engine::testing::TestContext;

/// How to run one step.
#[derive(Clone)]
pub struct Opts {
    pub step_id: String,
    pub dry_run: bool,
    pub timeout: Duration,
    pub cancel: CancellationToken,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            step_id: "step-1".into(),
            dry_run: false,
            timeout: Duration::from_secs(10),
            cancel: CancellationToken::new(),
        }
    }
}

impl Opts {
    pub fn dry_run() -> Self {
        Self {
            dry_run: true,
            ..Self::default()
        }
    }
    pub fn timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            ..Self::default()
        }
    }
    pub fn cancel(cancel: &CancellationToken) -> Self {
        Self {
            cancel: cancel.clone(),
            ..Self::default()
        }
    }
}

/// Decode `with` for `kind` (as the engine does after rendering) and execute it.
pub async fn run(
    ctx: &TestContext,
    kind: &str,
    with: Value,
    opts: Opts,
) -> Result<Value, StepError> {
    let attempt = ripcord_engine::testing::Attempt {
        step_id: &opts.step_id,
        dry_run: opts.dry_run,
        timeout: opts.timeout,
        cancel: opts.cancel.clone(),
    };
    ripcord_engine::testing::execute(&CoreExecutor::new(), ctx, kind, with, attempt).await
}

/// [`run`] with owned arguments, for `tokio::spawn`.
pub async fn run_owned(
    ctx: Arc<TestContext>,
    kind: &'static str,
    with: Value,
    opts: Opts,
) -> Result<Value, StepError> {
    run(&ctx, kind, with, opts).await
}

pub fn failed(result: Result<Value, StepError>) -> String {
    match result {
        Err(StepError::Failed(m)) => m,
        other => panic!("expected StepError::Failed, got {other:?}"),
    }
}

/// Poll `f` every 10 ms until it gives `Some`, for at most `limit`.
pub async fn poll_until<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// processes

/// Whether a process exists and is not a zombie.
pub fn process_alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_ascii_whitespace().next())
        .unwrap_or("");
    state != "Z" && state != "X"
}

/// The pids a script wrote to `file`, once it holds `n` complete lines (up to 5 s).
pub async fn read_pids(file: &Path, n: usize) -> Vec<i32> {
    let pids = poll_until(Duration::from_secs(5), || {
        let text = std::fs::read_to_string(file).ok()?;
        let pids: Vec<i32> = text
            .split_terminator('\n')
            .map(|l| l.trim().parse().ok())
            .collect::<Option<_>>()?;
        (text.ends_with('\n') && pids.len() == n).then_some(pids)
    })
    .await;
    pids.unwrap_or_else(|| panic!("{} did not get {n} pids within 5 s", file.display()))
}

/// Wait (up to `limit`) until none of `pids` is alive; panic naming the survivors.
pub async fn assert_all_gone(pids: &[i32], limit: Duration) {
    let gone = poll_until(limit, || {
        pids.iter().all(|&p| !process_alive(p)).then_some(())
    })
    .await;
    if gone.is_none() {
        let alive: Vec<i32> = pids.iter().copied().filter(|&p| process_alive(p)).collect();
        for &p in &alive {
            // Do not leave them behind, whatever the test says.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        panic!("processes {alive:?} still alive after {limit:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP server

/// A request the test server received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub received: mpsc::UnboundedReceiver<Received>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next request the server got (up to 5 s).
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(5), self.received.recv())
            .await
            .expect("a request within 5 s")
            .expect("the server is running")
    }
}

pub const BIG_BODY: usize = 100_000;

/// Start a small HTTP/1.1 server on 127.0.0.1 (one request per connection). Routes:
/// `/json`, `/text`, `/status/NNN`, `/big`, `/long-error`, `/headers`, `/echo`, `/hang`.
pub async fn server() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let (tx, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = serve(stream, tx).await;
            });
        }
    });
    Server { addr, received }
}

async fn serve(mut stream: TcpStream, tx: mpsc::UnboundedSender<Received>) -> std::io::Result<()> {
    let Some(request) = read_request(&mut stream).await? else {
        return Ok(());
    };
    let path = request
        .path
        .split_once('?')
        .map_or(request.path.as_str(), |(path, _query)| path)
        .to_owned();
    let echo = json!({
        "method": request.method,
        "body": String::from_utf8_lossy(&request.body),
        "content_type": request.header("content-type"),
    });
    let _ = tx.send(request);
    let json_type = ("content-type", "application/json".to_owned());
    let (status, headers, body): (u16, Vec<(&str, String)>, Vec<u8>) = match path.as_str() {
        "/json" => (
            200,
            vec![json_type],
            json!({"status": "ok", "nested": {"n": 3, "name": "db"}, "list": [1, 2]})
                .to_string()
                .into_bytes(),
        ),
        "/text" => (200, vec![], b"hello world".to_vec()),
        "/big" => (200, vec![], vec![b'x'; BIG_BODY]),
        "/long-error" => (500, vec![], "e".repeat(1000).into_bytes()),
        "/headers" => (
            200,
            vec![
                ("X-Custom", "Yes".into()),
                ("Set-Cookie", "a=1".into()),
                ("Set-Cookie", "b=2".into()),
            ],
            b"{}".to_vec(),
        ),
        "/echo" => (200, vec![json_type], echo.to_string().into_bytes()),
        "/hang" => {
            // Never answer; hold the connection until the client goes away.
            let mut sink = [0u8; 1024];
            while stream.read(&mut sink).await? > 0 {}
            return Ok(());
        }
        p if p.starts_with("/status/") => {
            let code: u16 = p["/status/".len()..].parse().unwrap_or(500);
            (code, vec![], format!("status {code} body").into_bytes())
        }
        _ => (404, vec![], b"not found".to_vec()),
    };
    let mut head = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.shutdown().await
}

async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Received>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return Ok(None);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let path = first.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(Received {
        method,
        path,
        headers,
        body,
    }))
}

/// A 127.0.0.1 port nothing listens on (bound, then released).
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}
