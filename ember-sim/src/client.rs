//! A simulated client: one host that connects to the node over turmoil's TCP, speaks RESP2
//! (or RESP3 after `HELLO 3`), sends its workload in small pipelines and checks every reply
//! against its model.
//!
//! Every request has a deadline, because turmoil's TCP does not retransmit and a crashed
//! node never answers. A lost reply is excused only if the node crashed since the connection
//! was opened; otherwise the node dropped or stalled a live connection, which is a failure.
//! Reconnecting backs off and must succeed within a deadline once the node is back.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ember_net::{Conn, Env};
use ember_proto::{decode, encode, Frame, Limits, Protocol};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::checkers::linearizable::show;
use crate::oracle::{op_keys, Model, Window};
use crate::workload::{Request, Workload};
use crate::world::{Shared, EPOCH_UNIX_MS};

/// How long a reply may take while the node is up; latencies are a few milliseconds.
const REQUEST_TIMEOUT_MS: u64 = 1_000;
/// How long one connection attempt may take.
const CONNECT_TIMEOUT_MS: u64 = 200;
/// Backoff between connection attempts.
const BACKOFF_MS_MIN: u64 = 5;
const BACKOFF_MS_MAX: u64 = 80;
/// How long a client may take to get a connection, beyond the longest outage.
pub const RECONNECT_SLACK_MS: u64 = 2_000;
/// How many recent exchanges a client keeps to explain a failure.
const HISTORY_LEN_MAX: usize = 256;
/// How many of them a failure report shows.
const HISTORY_SHOWN_MAX: usize = 12;
/// The largest reply the client accepts; these commands' replies are tiny.
const READ_BUFFER_MAX_BYTES: usize = 1024 * 1024;

/// Everything a client host needs, fixed before the run starts.
pub struct ClientSetup {
    pub index: usize,
    pub seed: u64,
    pub ops: usize,
    pub resp3: bool,
    pub workload: Workload,
    pub model: Model,
    pub node: &'static str,
    pub port: u16,
    pub reconnect_deadline_ms: u64,
    pub shared: Rc<RefCell<Shared>>,
}

/// An open connection and the node generation it was opened in.
struct Link {
    conn: Conn,
    buffer: BytesMut,
    generation: u64,
}

struct Client {
    setup: ClientSetup,
    env: Env,
    addr: SocketAddr,
    link: Option<Link>,
    /// The connection's database as the workload left it; 0 again after a reconnect.
    db: usize,
    /// Commands sent so far, of `setup.ops`.
    sent: usize,
    /// Recent exchanges, oldest first: (keys named, rendered line).
    history: VecDeque<(Vec<Bytes>, String)>,
}

/// The client host's whole life: its ops, then a last PING once all faults are healed.
pub async fn run(setup: ClientSetup) -> turmoil::Result {
    let host = format!("client{}", setup.index);
    let env = Env::simulation(
        setup.seed,
        &host,
        ember_net::SimDisk::new(setup.seed),
        1,
        EPOCH_UNIX_MS,
    );
    let addr = env.lookup_host(setup.node, setup.port).await?;
    let mut client = Client {
        setup,
        env,
        addr,
        link: None,
        db: 0,
        sent: 0,
        history: VecDeque::new(),
    };
    while client.sent < client.setup.ops && !client.failed() {
        let think_ms = client.setup.workload.think_ms();
        client.env.sleep(Duration::from_millis(think_ms)).await;
        if client.link.is_none() && !client.connect().await {
            return Ok(());
        }
        let room = client.setup.ops - client.sent;
        let now_ms = client.env.unix_ms();
        let batch = client
            .setup
            .workload
            .next_batch(&mut client.db, now_ms, room);
        client.sent += batch.len();
        client.send_batch(&batch).await;
    }
    assert!(client.sent <= client.setup.ops);
    client.finish().await;
    Ok(())
}

impl Client {
    fn failed(&self) -> bool {
        self.setup.shared.borrow().failure.is_some()
    }

    fn virtual_ms(&self) -> u64 {
        self.env.unix_ms() - EPOCH_UNIX_MS
    }

    fn fail(&self, detail: String) {
        let mut shared = self.setup.shared.borrow_mut();
        if shared.failure.is_none() {
            let at_ms = self.virtual_ms();
            shared.failure = Some(format!(
                "client={} at_ms={at_ms}: {detail}",
                self.setup.index
            ));
        }
    }

    /// Connects (and says HELLO 3 if this client speaks RESP3), backing off between tries.
    /// False when the deadline passed, which is recorded as a failure.
    async fn connect(&mut self) -> bool {
        assert!(self.link.is_none());
        let started_ms = self.virtual_ms();
        let mut backoff_ms = BACKOFF_MS_MIN;
        loop {
            if self.try_connect().await {
                self.setup.shared.borrow_mut().stats.connects += 1;
                return true;
            }
            if self.failed() {
                return false;
            }
            if self.virtual_ms() - started_ms > self.setup.reconnect_deadline_ms {
                self.fail(format!(
                    "could not connect within {} ms",
                    self.setup.reconnect_deadline_ms
                ));
                return false;
            }
            self.env.sleep(Duration::from_millis(backoff_ms)).await;
            backoff_ms = (backoff_ms * 2).min(BACKOFF_MS_MAX);
        }
    }

    async fn try_connect(&mut self) -> bool {
        let generation = self.setup.shared.borrow().generation;
        let connecting = self.env.connect(self.addr);
        let Ok(Ok(conn)) = self
            .env
            .timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), connecting)
            .await
        else {
            return false;
        };
        // A node that restarted since the model was built is empty (no persistence yet).
        let current = self.setup.shared.borrow().generation;
        if current != self.setup.model.generation() {
            self.setup.model.reset(current);
        }
        self.link = Some(Link {
            conn,
            buffer: BytesMut::new(),
            generation,
        });
        let line = format!(
            "connected at {} ms, node generation {current}",
            self.virtual_ms()
        );
        self.remember(Vec::new(), line);
        self.db = 0;
        if self.setup.resp3 {
            return self.hello().await;
        }
        true
    }

    /// Switches the connection to RESP3; the reply must be a map that says `proto 3`.
    async fn hello(&mut self) -> bool {
        let args = vec![Bytes::from_static(b"HELLO"), Bytes::from_static(b"3")];
        match self.call(&args).await {
            Ok(Frame::Map(pairs)) => {
                let proto = pairs
                    .iter()
                    .find(|(key, _)| *key == Frame::bulk(&b"proto"[..]));
                if !matches!(proto, Some((_, Frame::Integer(3)))) {
                    self.fail(format!("HELLO 3 did not report proto 3: {pairs:?}"));
                    return false;
                }
                true
            }
            Ok(other) => {
                self.fail(format!("HELLO 3 replied {}", show(&other)));
                false
            }
            Err(error) => {
                self.lost(&format!("HELLO 3: {error}"));
                false
            }
        }
    }

    /// Sends one command and waits for its reply.
    async fn call(&mut self, args: &[Bytes]) -> std::io::Result<Frame> {
        let mut out = BytesMut::new();
        encode(
            &Frame::command(args.iter().cloned()),
            Protocol::Resp2,
            &mut out,
        );
        self.write(&out).await?;
        self.read_reply().await
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let link = self.link.as_mut().expect("connected");
        let writing = link.conn.write_all(bytes);
        self.env
            .timeout(Duration::from_millis(REQUEST_TIMEOUT_MS), writing)
            .await?
    }

    async fn read_reply(&mut self) -> std::io::Result<Frame> {
        let env = self.env.clone();
        let link = self.link.as_mut().expect("connected");
        env.timeout(Duration::from_millis(REQUEST_TIMEOUT_MS), read_frame(link))
            .await?
    }

    /// Sends `batch` in one write and checks each reply as it arrives.
    async fn send_batch(&mut self, batch: &[Request]) {
        let mut out = BytesMut::new();
        for request in batch {
            encode(
                &Frame::command(request.args.iter().cloned()),
                Protocol::Resp2,
                &mut out,
            );
        }
        let sent_ms = self.env.unix_ms();
        if let Err(error) = self.write(&out).await {
            return self.abandon(batch, &format!("write: {error}"));
        }
        for (index, request) in batch.iter().enumerate() {
            let frame = match self.read_reply().await {
                Ok(frame) => frame,
                Err(error) => return self.abandon(&batch[index..], &format!("read: {error}")),
            };
            let received_ms = self.env.unix_ms();
            self.record(request, received_ms, &frame);
            let window = Window::new(sent_ms, received_ms);
            let line = format!(
                "op {} db={} {}..{} ms: {} -> {}",
                self.sent - batch.len() + index,
                request.db,
                sent_ms - EPOCH_UNIX_MS,
                received_ms - EPOCH_UNIX_MS,
                render_args(&request.args),
                show(&frame)
            );
            match self.setup.model.step(request, window, &frame) {
                Ok(false) => {}
                Ok(true) => self.setup.shared.borrow_mut().stats.unchecked += 1,
                Err(mismatch) => {
                    let protocol = if self.setup.resp3 { 3 } else { 2 };
                    let history = self.explain(&op_keys(&request.op));
                    self.fail(format!(
                        "mismatch (resp{protocol}) {line}\n  {}\n{history}",
                        mismatch.detail
                    ));
                    return;
                }
            }
            self.remember(op_keys(&request.op), line);
        }
    }

    fn record(&self, request: &Request, received_ms: u64, frame: &Frame) {
        let client = self.setup.index.to_string();
        let reply = show(frame);
        let mut fields: Vec<&[u8]> = vec![client.as_bytes()];
        fields.extend(request.args.iter().map(|arg| &arg[..]));
        fields.push(reply.as_bytes());
        let mut shared = self.setup.shared.borrow_mut();
        shared.trace.record(received_ms - EPOCH_UNIX_MS, &fields);
        shared.stats.replies += 1;
    }

    fn remember(&mut self, keys: Vec<Bytes>, line: String) {
        if self.history.len() == HISTORY_LEN_MAX {
            self.history.pop_front();
        }
        self.history.push_back((keys, line));
        assert!(self.history.len() <= HISTORY_LEN_MAX);
    }

    /// The latest exchanges that named any of `keys`, or that lost or reset state.
    fn explain(&self, keys: &[Bytes]) -> String {
        let relevant: Vec<&String> = self
            .history
            .iter()
            .rev()
            .filter(|(named, _)| named.is_empty() || named.iter().any(|key| keys.contains(key)))
            .take(HISTORY_SHOWN_MAX)
            .map(|(_, line)| line)
            .collect();
        let lines: Vec<String> = relevant
            .iter()
            .rev()
            .map(|line| format!("  history: {line}"))
            .collect();
        lines.join("\n")
    }

    /// The replies to `requests` will never come: their keys become Unknown.
    fn abandon(&mut self, requests: &[Request], error: &str) {
        for request in requests {
            self.setup.model.forget(request);
            let line = format!(
                "lost at {} ms: {} ({error})",
                self.virtual_ms(),
                render_args(&request.args)
            );
            self.remember(op_keys(&request.op), line);
        }
        self.setup.shared.borrow_mut().stats.lost += requests.len() as u64;
        let first = render_args(&requests[0].args);
        self.lost(&format!("{first}: {error}"));
    }

    /// The connection failed. Excused only if the node crashed since it was opened.
    fn lost(&mut self, what: &str) {
        let link = self.link.take().expect("a connection was open");
        let generation = self.setup.shared.borrow().generation;
        if generation == link.generation {
            self.fail(format!("connection lost while the node was up: {what}"));
        }
    }

    /// Liveness: once every fault is healed the node must answer a PING.
    async fn finish(&mut self) {
        while !self.failed() && !self.setup.shared.borrow().healed {
            self.env.sleep(Duration::from_millis(BACKOFF_MS_MAX)).await;
        }
        for _ in 0..2 {
            if self.failed() || (self.link.is_none() && !self.connect().await) {
                return;
            }
            match self.call(&[Bytes::from_static(b"PING")]).await {
                Ok(Frame::Simple(text)) if text == "PONG" => return,
                Ok(other) => return self.fail(format!("final PING replied {}", show(&other))),
                // The connection may predate the last restart; one retry on a new one.
                Err(error) => self.lost(&format!("final PING: {error}")),
            }
        }
    }
}

/// Reads until one whole frame is buffered.
async fn read_frame(link: &mut Link) -> std::io::Result<Frame> {
    loop {
        match decode(&mut link.buffer, &Limits::DEFAULT) {
            Ok(Some(frame)) => return Ok(frame),
            Ok(None) => {}
            Err(error) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    error.to_string(),
                ))
            }
        }
        if link.buffer.len() > READ_BUFFER_MAX_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "reply too large",
            ));
        }
        let read = link.conn.read_buf(&mut link.buffer).await?;
        if read == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
    }
}

/// A request as a readable line: `SET c1:k0 "v" PX 50`.
pub fn render_args(args: &[Bytes]) -> String {
    let words: Vec<String> = args
        .iter()
        .map(|arg| {
            let text = String::from_utf8_lossy(arg);
            if !text.is_empty()
                && text
                    .bytes()
                    .all(|byte| byte.is_ascii_graphic() && byte != b'"')
            {
                text.into_owned()
            } else {
                format!("{text:?}")
            }
        })
        .collect();
    words.join(" ")
}
