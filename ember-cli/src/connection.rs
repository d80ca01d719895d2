//! One blocking TCP connection to an ember server: send a command, read its reply.
//!
//! Blocking I/O is enough for a client that does one thing at a time, and it keeps the
//! CLI free of an async runtime. Replies are decoded with ember-proto's client-side
//! decoder, whose `Limits` bound every length the server declares.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use bytes::{Bytes, BytesMut};
use ember_proto::{decode, encode, Frame, Limits, Protocol};

/// How long to wait for each address of the host to accept, so that an unreachable host
/// fails in seconds instead of after the kernel's retries.
const CONNECT_TIMEOUT_MS: u64 = 10_000;

/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// The most bytes one reply may buffer before the client gives up on it. Each declared
/// length is bounded by `Limits`, but an aggregate of many large strings is not, so this
/// caps the whole.
const REPLY_LEN_MAX_BYTES: usize = 1024 * 1024 * 1024;

/// The most attribute frames skipped before one reply. Attributes describe the reply that
/// follows them, and a server sending endless attributes must not hang the client.
const ATTRIBUTES_SKIPPED_MAX: usize = 64;

const _: () = assert!(READ_CHUNK_BYTES <= REPLY_LEN_MAX_BYTES);

/// An open connection and the bytes read from it that are not yet a whole frame.
pub struct Connection {
    stream: TcpStream,
    buffer: BytesMut,
    limits: Limits,
}

impl Connection {
    /// Connects to `host:port`. The error reads `Could not connect to ember at host:port:
    /// <reason>`, which is the whole message the operator sees.
    pub fn connect(host: &str, port: u16) -> anyhow::Result<Connection> {
        let stream = open_stream(host, port)
            .map_err(|reason| anyhow!("Could not connect to ember at {host}:{port}: {reason}"))?;
        // Commands are small and sent one at a time, so waiting to batch them only adds
        // latency.
        stream.set_nodelay(true).ok();
        Ok(Connection {
            stream,
            buffer: BytesMut::with_capacity(READ_CHUNK_BYTES),
            limits: Limits::default(),
        })
    }

    /// Sends `args` as an array of bulk strings and returns the reply.
    pub fn request(&mut self, args: &[Bytes]) -> anyhow::Result<Frame> {
        assert!(!args.is_empty());
        let mut out = BytesMut::new();
        // A request is an array of bulk strings, which both protocol versions spell alike.
        encode(
            &Frame::command(args.iter().cloned()),
            Protocol::Resp2,
            &mut out,
        );
        self.stream
            .write_all(&out)
            .context("Error writing to ember")?;
        self.read_reply()
    }

    /// Reads the next reply, skipping the attribute frames that may precede it.
    fn read_reply(&mut self) -> anyhow::Result<Frame> {
        for _ in 0..=ATTRIBUTES_SKIPPED_MAX {
            let frame = self.read_frame()?;
            if !matches!(frame, Frame::Attribute(_)) {
                return Ok(frame);
            }
        }
        bail!("Error reading from ember: more than {ATTRIBUTES_SKIPPED_MAX} attributes before a reply")
    }

    /// Reads until one whole frame is buffered, then decodes it.
    fn read_frame(&mut self) -> anyhow::Result<Frame> {
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        // Each pass either returns or grows the buffer by at least one byte, and the buffer
        // is capped, so the loop is bounded.
        loop {
            let decoded = decode(&mut self.buffer, &self.limits)
                .map_err(|error| anyhow!("Protocol error from ember: {error}"))?;
            if let Some(frame) = decoded {
                return Ok(frame);
            }
            if self.buffer.len() >= REPLY_LEN_MAX_BYTES {
                bail!("Error reading from ember: reply larger than {REPLY_LEN_MAX_BYTES} bytes");
            }
            let count = self
                .stream
                .read(&mut chunk)
                .context("Error reading from ember")?;
            if count == 0 {
                bail!("Error reading from ember: server closed the connection");
            }
            assert!(count <= chunk.len());
            self.buffer.extend_from_slice(&chunk[..count]);
        }
    }
}

/// Resolves `host` and tries each of its addresses in turn, returning the last failure's
/// reason in the short form an operator expects ("Connection refused").
fn open_stream(host: &str, port: u16) -> Result<TcpStream, String> {
    let addresses = (host, port)
        .to_socket_addrs()
        .map_err(|error| short_reason(&error))?;
    let timeout = Duration::from_millis(CONNECT_TIMEOUT_MS);
    let mut reason = "no address found for host".to_string();
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => return Ok(stream),
            Err(error) => reason = short_reason(&error),
        }
    }
    Err(reason)
}

/// An I/O error's text without the " (os error N)" suffix std adds, which means nothing to
/// an operator.
fn short_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error ") {
        Some(index) => text[..index].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reason_drops_os_error_suffix() {
        let error = std::io::Error::from_raw_os_error(111);
        let reason = short_reason(&error);
        assert!(!reason.contains("os error"), "{reason}");
        assert!(!reason.is_empty());
        let custom = std::io::Error::other("plain text");
        assert_eq!(short_reason(&custom), "plain text");
    }
}
