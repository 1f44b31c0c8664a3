//! Test harness: the core executors run one step at a time (the shared part, bounded polling
//! and process checks, is `ripcord_testkit::harness`); a tiny HTTP/1.1 server on 127.0.0.1.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ripcord_builtin::CoreExecutor;
use ripcord_engine::StepError;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub(crate) const RUN_ID: &str = "run-1";

#[allow(unused_imports)] // each test binary uses a different subset
pub(crate) use ripcord_testkit::harness::{
    TestContext, assert_all_gone, failed, poll_until, process_alive, read_pids,
};

/// How to run one step (10 s timeout by default).
pub(crate) type Opts = ripcord_testkit::harness::Opts<10>;

/// Decode `with` for `kind` (as the engine does after rendering) and execute it.
pub(crate) async fn run(
    ctx: &TestContext,
    kind: &str,
    with: Value,
    opts: Opts,
) -> Result<Value, StepError> {
    ripcord_testkit::harness::execute(&CoreExecutor::new(), ctx, kind, with, &opts).await
}

/// [`run`] with owned arguments, for `tokio::spawn`.
pub(crate) async fn run_owned(
    ctx: Arc<TestContext>,
    kind: &'static str,
    with: Value,
    opts: Opts,
) -> Result<Value, StepError> {
    run(&ctx, kind, with, opts).await
}

// ---------------------------------------------------------------------------------------------
// HTTP server

/// A request the test server received.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

pub(crate) struct Server {
    pub addr: SocketAddr,
    pub received: mpsc::UnboundedReceiver<Received>,
}

impl Server {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next request the server got (up to 5 s).
    pub(crate) async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(5), self.received.recv())
            .await
            .expect("a request within 5 s")
            .expect("the server is running")
    }
}

pub(crate) const BIG_BODY: usize = 100_000;

/// Start a small HTTP/1.1 server on 127.0.0.1 (one request per connection). Routes:
/// `/json`, `/text`, `/status/NNN`, `/big`, `/long-error`, `/headers`, `/echo`, `/hang`.
pub(crate) async fn server() -> Server {
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
pub(crate) async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}
