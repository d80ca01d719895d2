//! Starts the real `ember-server` binary on 127.0.0.1:0 and stops it when the test ends.
#![allow(clippy::disallowed_types, clippy::disallowed_methods, dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    pub fn start(extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ember-server"))
            .args(["--port", "0"])
            .args(extra)
            .env("RUST_LOG", "warn")
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
        Server { child, addr }
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
