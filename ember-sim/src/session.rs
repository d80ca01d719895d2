//! A plain connection for the types scenario's hosts: connect once (no faults run there, so
//! there is no reconnect path), optionally switch to RESP3, send commands and read frames,
//! every read under a deadline so that a node that stops answering fails the run instead
//! of hanging it.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ember_net::{Conn, Env};
use ember_proto::{decode, encode, Frame, Limits, Protocol};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::world::EPOCH_UNIX_MS;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT_MS: u64 = 500;
/// The largest reply a session accepts; the scenario's replies are small.
const READ_BUFFER_MAX_BYTES: usize = 1024 * 1024;

/// One connection and its read buffer.
pub struct Session {
    pub env: Env,
    conn: Conn,
    buffer: BytesMut,
    pub resp3: bool,
}

impl Session {
    /// Connects `host` to the node; with `resp3`, says HELLO 3 and checks the reply.
    pub async fn open(
        seed: u64,
        host: &str,
        node: &str,
        port: u16,
        resp3: bool,
    ) -> Result<Session, String> {
        let env = Env::simulation(seed, host, ember_net::SimDisk::new(seed), 1, EPOCH_UNIX_MS);
        let addr = env
            .lookup_host(node, port)
            .await
            .map_err(|error| format!("lookup: {error}"))?;
        let connecting = env.connect(addr);
        let conn = match env
            .timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), connecting)
            .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(error)) => return Err(format!("connect: {error}")),
            Err(_) => return Err("connect timed out".to_string()),
        };
        let mut session = Session {
            env,
            conn,
            buffer: BytesMut::new(),
            resp3: false,
        };
        if resp3 {
            let reply = session.call(&["HELLO", "3"], 1_000).await?;
            let Frame::Map(pairs) = &reply else {
                return Err(format!("HELLO 3 replied {reply:?}"));
            };
            let proto = pairs
                .iter()
                .find(|(key, _)| *key == Frame::bulk(&b"proto"[..]));
            if !matches!(proto, Some((_, Frame::Integer(3)))) {
                return Err(format!("HELLO 3 did not report proto 3: {pairs:?}"));
            }
            session.resp3 = true;
        }
        Ok(session)
    }

    /// Virtual milliseconds since the world began.
    pub fn now_ms(&self) -> u64 {
        self.env.unix_ms() - EPOCH_UNIX_MS
    }

    pub async fn sleep_ms(&self, ms: u64) {
        self.env.sleep(Duration::from_millis(ms)).await;
    }

    /// Sleeps until `at_ms` of virtual time, if that is still ahead.
    pub async fn sleep_until_ms(&self, at_ms: u64) {
        let now_ms = self.now_ms();
        if at_ms > now_ms {
            self.sleep_ms(at_ms - now_ms).await;
        }
    }

    /// Sends one command and reads one frame within `timeout_ms`.
    pub async fn call<A: AsRef<[u8]>>(
        &mut self,
        args: &[A],
        timeout_ms: u64,
    ) -> Result<Frame, String> {
        let args: Vec<Bytes> = args
            .iter()
            .map(|arg| Bytes::copy_from_slice(arg.as_ref()))
            .collect();
        self.send(&[args]).await?;
        self.read(timeout_ms).await
    }

    /// Writes `commands` in one write (a pipeline).
    pub async fn send(&mut self, commands: &[Vec<Bytes>]) -> Result<(), String> {
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
        let writing = self.conn.write_all(&out);
        match self
            .env
            .timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), writing)
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(format!("write: {error}")),
            Err(_) => Err("write timed out".to_string()),
        }
    }

    /// Reads one frame; an error if none comes within `timeout_ms`.
    pub async fn read(&mut self, timeout_ms: u64) -> Result<Frame, String> {
        match self.read_within(timeout_ms).await? {
            Some(frame) => Ok(frame),
            None => Err(format!("no reply within {timeout_ms} ms")),
        }
    }

    /// Reads one frame, or None if none comes within `timeout_ms` (a subscriber's idle wait).
    pub async fn read_within(&mut self, timeout_ms: u64) -> Result<Option<Frame>, String> {
        let reading = read_frame(&mut self.conn, &mut self.buffer, READ_BUFFER_MAX_BYTES);
        match self
            .env
            .timeout(Duration::from_millis(timeout_ms), reading)
            .await
        {
            Ok(Ok(frame)) => Ok(Some(frame)),
            Ok(Err(error)) => Err(error),
            Err(_) => Ok(None),
        }
    }
}

/// Reads until one whole frame is buffered, refusing replies past `max_bytes`. Cancel-safe:
/// bytes read stay in `buffer`.
pub(crate) async fn read_frame(
    conn: &mut Conn,
    buffer: &mut BytesMut,
    max_bytes: usize,
) -> Result<Frame, String> {
    loop {
        match decode(buffer, &Limits::DEFAULT) {
            Ok(Some(frame)) => return Ok(frame),
            Ok(None) => {}
            Err(error) => return Err(format!("undecodable reply: {error}")),
        }
        if buffer.len() > max_bytes {
            return Err("reply too large".to_string());
        }
        let read = conn
            .read_buf(buffer)
            .await
            .map_err(|error| format!("read: {error}"))?;
        if read == 0 {
            return Err("connection closed".to_string());
        }
    }
}
