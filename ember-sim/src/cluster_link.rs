//! A connection to one cluster node for the cluster world's hosts: connect, send a pipeline
//! of commands, read frames, each step under a deadline (turmoil's TCP never retransmits,
//! and a crashed or cut-off node never answers).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ember_net::{Conn, Env};
use ember_proto::{encode, Frame, Protocol};
use tokio::io::AsyncWriteExt;

use crate::session::read_frame;

/// How long one connection attempt may take.
pub const CONNECT_TIMEOUT_MS: u64 = 200;
/// The largest reply a link accepts (KEYS of a node's share of the keys is the largest).
const READ_BUFFER_MAX_BYTES: usize = 4 * 1024 * 1024;

/// An open connection and what it has read but not yet decoded.
pub struct Link {
    pub addr: SocketAddr,
    conn: Conn,
    buffer: BytesMut,
}

/// Why an exchange failed, and whether the request may have reached the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// Nothing was sent: the node did not run the command.
    NotSent(String),
    /// The request went out but no reply came: the node may have run it.
    Lost(String),
}

impl Link {
    /// Connects to `addr` within [`CONNECT_TIMEOUT_MS`].
    pub async fn open(env: &Env, addr: SocketAddr) -> Result<Link, String> {
        let connecting = env.connect(addr);
        match env
            .timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), connecting)
            .await
        {
            Ok(Ok(conn)) => Ok(Link {
                addr,
                conn,
                buffer: BytesMut::new(),
            }),
            Ok(Err(error)) => Err(format!("connect {addr}: {error}")),
            Err(_) => Err(format!("connect {addr}: timed out")),
        }
    }

    /// Sends `commands` in one write and reads one reply for each, within `timeout_ms`.
    pub async fn exchange(
        &mut self,
        env: &Env,
        commands: &[Vec<Bytes>],
        timeout_ms: u64,
    ) -> Result<Vec<Frame>, LinkError> {
        assert!(!commands.is_empty());
        let mut out = BytesMut::new();
        for args in commands {
            assert!(!args.is_empty());
            encode(
                &Frame::command(args.iter().cloned()),
                Protocol::Resp2,
                &mut out,
            );
        }
        let timeout = Duration::from_millis(timeout_ms);
        match env.timeout(timeout, self.conn.write_all(&out)).await {
            Ok(Ok(())) => {}
            // A partial write may have delivered whole commands.
            Ok(Err(error)) => return Err(LinkError::Lost(format!("write: {error}"))),
            Err(_) => return Err(LinkError::Lost("write timed out".to_string())),
        }
        let mut replies = Vec::with_capacity(commands.len());
        for _ in commands {
            let reading = read_frame(&mut self.conn, &mut self.buffer, READ_BUFFER_MAX_BYTES);
            match env.timeout(timeout, reading).await {
                Ok(Ok(frame)) => replies.push(frame),
                Ok(Err(error)) => return Err(LinkError::Lost(error)),
                Err(_) => return Err(LinkError::Lost(format!("no reply within {timeout_ms} ms"))),
            }
        }
        Ok(replies)
    }
}

/// Arguments from text words.
pub fn args(words: &[&str]) -> Vec<Bytes> {
    words
        .iter()
        .map(|word| Bytes::copy_from_slice(word.as_bytes()))
        .collect()
}

/// An error reply's text, if `frame` is one.
pub fn error_text(frame: &Frame) -> Option<String> {
    match frame {
        Frame::Error(text) => Some(String::from_utf8_lossy(text).into_owned()),
        _ => None,
    }
}

/// A command as one line of words, for traces and failure reports.
pub fn render(command: &[Bytes]) -> String {
    let words: Vec<String> = command
        .iter()
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    words.join(" ")
}
