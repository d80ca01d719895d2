//! Starts the real `ember-server` binary on 127.0.0.1:0 and stops it when the test ends.
#![allow(clippy::disallowed_types, clippy::disallowed_methods, dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// The data directory made for this server, unless the test passed its own.
    _data: Option<TempDir>,
}

/// A directory removed when dropped, unique to this process and call.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ember-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Server {
    /// Starts a server with its own empty data directory (unless `extra` names one).
    pub fn start(extra: &[&str]) -> Server {
        let data = (!extra.contains(&"--data-dir")).then(TempDir::new);
        let mut server = Server::spawn(extra, data.as_ref().map(TempDir::path));
        server._data = data;
        server
    }

    fn spawn(extra: &[&str], data_dir: Option<&str>) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ember-server"));
        command.args(["--port", "0"]);
        if let Some(dir) = data_dir {
            command.args(["--data-dir", dir]);
        }
        let mut child = command
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("EMBER_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ember-server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reads the listening line");
        let addr = line
            .trim()
            .strip_prefix("ember listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .parse()
            .expect("an address");
        Server {
            child,
            addr,
            _data: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit by itself and gives its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// A redis-rs connection whose reads time out, so a hang fails the test instead of
    /// stalling the run.
    pub fn client(&self) -> redis::Connection {
        connect(self.url())
    }

    pub fn client_resp3(&self) -> redis::Connection {
        connect(format!("{}?protocol=resp3", self.url()))
    }

    pub fn raw(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("raw connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

fn connect(url: String) -> redis::Connection {
    let connection = redis::Client::open(url)
        .unwrap()
        .get_connection()
        .expect("connects");
    connection
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    connection
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends raw bytes and reads until the peer closes or `expect_len` bytes arrived.
pub fn exchange(stream: &mut TcpStream, request: &[u8], expect_len: usize) -> Vec<u8> {
    stream.write_all(request).unwrap();
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    while reply.len() < expect_len {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) => panic!(
                "read failed after {:?}: {e}",
                String::from_utf8_lossy(&reply)
            ),
        }
    }
    reply
}

/// True when the peer closed the connection (read returns 0 or a reset).
pub fn closed(stream: &mut TcpStream) -> bool {
    let mut chunk = [0u8; 64];
    matches!(stream.read(&mut chunk), Ok(0) | Err(_))
}

/// An expected error reply as "CODE: detail", so assertions read like Redis's error lines.
pub fn err(result: redis::RedisResult<redis::Value>) -> String {
    let error = result.expect_err("expected an error reply");
    format!(
        "{}: {}",
        error.code().unwrap_or("?"),
        error.detail().unwrap_or("")
    )
}

/// A request as RESP bytes, for tests that speak the protocol directly.
pub fn resp(words: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for word in words {
        out.extend_from_slice(format!("${}\r\n{word}\r\n", word.len()).as_bytes());
    }
    out
}

/// Starts a server on `dir` and waits until it has loaded its data (commands get -LOADING
/// until then, and INFO says loading:1).
pub fn start_in(dir: &TempDir, extra: &[&str]) -> Server {
    let mut args = vec!["--data-dir", dir.path()];
    args.extend_from_slice(extra);
    let server = Server::start(&args);
    let mut c = server.client();
    for _ in 0..500 {
        let info: String = cmd("INFO").arg("persistence").query(&mut c).unwrap();
        if info.contains("\r\nloading:0") {
            return server;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("still loading after 5 s");
}

/// Runs the server on `dir` expecting it to refuse to start: its exit code and stderr. A
/// server still running after 20 s is killed and fails the test.
pub fn start_refused(dir: &TempDir, extra: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ember-server"))
        .args(["--port", "0", "--data-dir", dir.path()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ember-server runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ember-server {extra:?} did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    let mut pipe = child.stderr.take().expect("piped stderr");
    pipe.read_to_string(&mut stderr).expect("reads stderr");
    (status.code(), stderr)
}

pub fn cmd(name: &str) -> redis::Cmd {
    redis::cmd(name)
}

/// Reads until `needle` has arrived (or the read times out), returning everything read.
pub fn read_until(stream: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    while !seen.windows(needle.len()).any(|w| w == needle) {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => seen.extend_from_slice(&chunk[..n]),
            Err(e) => panic!(
                "waiting for {:?}, read {:?}: {e}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&seen)
            ),
        }
    }
    seen
}
