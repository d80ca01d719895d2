//! The cluster bus over ember-net: one listener per node on the bus port, speaking
//! ember-proto's `cluster_bus` frames (HMAC-tagged when a secret is configured). It
//! carries two kinds of traffic:
//!
//! - Gossip: SWIM's one-way messages ([`Gossip`]). Each peer address gets one outbound
//!   connection, fed by a bounded queue and written by its own task; a full queue drops
//!   the message (SWIM tolerates loss by design). turmoil's TCP drops the segments of a
//!   partitioned link without telling either end, which leaves a connection silently dead
//!   after the partition heals, so a gossip connection is replaced once it is older than
//!   `connection_age_max`, and the receiver drops a connection silent for `idle_timeout`.
//! - RPCs: request/response calls ([`BusClient::call`]) for Raft and for proposals
//!   forwarded to the leader. A request travels as `BusMessage::Raft { kind:
//!   KIND_REQUEST, body }` with `body = request id (u64 LE) | service (u8) | payload`, and
//!   its reply as `kind: KIND_RESPONSE` with `body = request id | payload`. A connection
//!   carries one request at a time: the caller takes it out of the idle pool for the
//!   exchange and puts it back only after reading the whole reply with the matching id.
//!   If the call is cancelled or times out halfway, the connection is dropped with it, so
//!   a late reply can never be read as the answer to the next request; a reply with any
//!   other id fails the call and drops the connection too. Every call has a deadline, and
//!   the next call after a failure opens a fresh connection.
//!
//! Every connection starts with a `Hello` from the connecting side, answered by the
//! accepting side's `Hello`; the protocol version must match. Sizes are bounded by the
//! codec: a frame's declared length is checked against the payload limit before anything
//! is buffered for it, and the decoder holds at most one partial frame and one read.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use ember_net::{Conn, Env, Listener};
use ember_proto::cluster_bus::{
    BusCodec, BusDecoder, BusKey, BusMessage, Hello, BUS_PAYLOAD_MAX_BYTES, BUS_PROTOCOL_VERSION,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::raft::{RaftNodeId, RaftTransport, TransportError};

/// The default distance from the data port to the bus port, as Redis Cluster's.
pub const BUS_PORT_OFFSET_DEFAULT: u16 = 10000;

/// `BusMessage::Raft::kind` of an RPC request.
pub const KIND_REQUEST: u8 = 1;
/// `BusMessage::Raft::kind` of an RPC reply.
pub const KIND_RESPONSE: u8 = 2;

/// The bytes before an RPC request's payload: request id and service.
pub const REQUEST_HEADER_BYTES: usize = 8 + 1;
/// The bytes before an RPC reply's payload: the request id.
pub const RESPONSE_HEADER_BYTES: usize = 8;

/// The largest RPC payload, request or reply: what fits one bus frame after the RPC
/// header and postcard's enum tag and length prefix.
pub const RPC_PAYLOAD_MAX_BYTES: usize = BUS_PAYLOAD_MAX_BYTES - 64;

/// Idle connections kept per peer for RPCs; more are closed after use.
pub const IDLE_CONNECTIONS_PER_PEER_MAX: usize = 4;

/// Messages queued for one gossip peer; more are dropped.
pub const GOSSIP_QUEUE_MAX: usize = 64;

/// Gossip peers with a live sender task; past this, senders that finished are pruned and
/// a message to yet another peer is dropped.
pub const GOSSIP_PEERS_MAX: usize = 4096;

/// Bytes read from a connection at a time.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// How long the listener waits before accepting again after a failed accept.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);

const _: () = assert!(REQUEST_HEADER_BYTES + RPC_PAYLOAD_MAX_BYTES < BUS_PAYLOAD_MAX_BYTES);
const _: () = assert!(KIND_REQUEST != KIND_RESPONSE);

/// The RPC services the bus carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Service {
    /// openraft's RPCs: the payload is a `raft::RaftRequest` in postcard.
    Raft = 0,
    /// A topology proposal forwarded to the leader (see `node`).
    Propose = 1,
    /// The leader's applied log index, for a node catching up before it serves (see
    /// `node`): the payload is empty, the reply a little-endian u64.
    Applied = 2,
}

/// Timings of the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusTimings {
    /// How long connecting plus the Hello exchange may take.
    pub connect_timeout: Duration,
    /// An outbound connection older than this is not reused: gossip opens a new one, and
    /// an idle RPC connection is closed instead of taken.
    pub connection_age_max: Duration,
    /// An inbound connection that brings no frame for this long is closed.
    pub idle_timeout: Duration,
}

/// What a node says about itself on the bus, and how it frames messages.
#[derive(Clone, Debug)]
pub struct BusIdentity {
    pub hello: Hello,
    pub codec: BusCodec,
    pub timings: BusTimings,
}

/// The calling side of RPCs: a pool of idle connections per peer. `Send + Sync`, so
/// openraft's tasks can use it as their [`RaftTransport`].
pub struct BusClient {
    env: Env,
    identity: BusIdentity,
    next_request: AtomicU64,
    idle: Mutex<BTreeMap<SocketAddr, Vec<Pooled>>>,
}

/// An outbound connection with its decoder, as kept between calls.
struct Pooled {
    conn: Conn,
    decoder: BusDecoder,
    opened: Instant,
    /// Whether the peer's `Hello` has been read.
    greeted: bool,
    /// A request written whose reply was not read (its call timed out or was cancelled),
    /// and since when: the next call on this connection discards that reply by its id.
    pending: Option<(u64, Instant)>,
}

/// A connection lent to one call. If the call is dropped after its request was written
/// whole, the connection goes back to the pool marked with the unread reply; dropped at
/// any other point (a frame half-written), the connection is closed.
struct Lease<'a> {
    client: &'a BusClient,
    to: SocketAddr,
    pooled: Option<Pooled>,
    state: LeaseState,
}

/// Where a lent connection is in its call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LeaseState {
    /// Between frames: safe to reuse.
    Clean,
    /// A request frame is being written: a drop now leaves half a frame on the wire.
    Writing,
    /// The request was written whole and its reply is awaited.
    Awaiting(u64),
}

/// What the listener hands each inbound message to. Runs on the node's local tasks.
pub trait BusHandler: 'static {
    /// Answers one RPC from `from`. `None` closes the connection (an unknown service).
    fn rpc(
        &self,
        from: Hello,
        service: u8,
        payload: Vec<u8>,
    ) -> impl Future<Output = Option<Vec<u8>>>;

    /// Takes one gossip message (`Ping`, `PingReq`, `Ack` or `StateSync`).
    fn gossip(&self, message: BusMessage);
}

/// The sending side of gossip: one queue and task per peer address. Local to the node's
/// thread.
pub struct Gossip {
    env: Env,
    identity: BusIdentity,
    peers: RefCell<BTreeMap<SocketAddr, mpsc::Sender<BusMessage>>>,
}

impl BusTimings {
    /// Timings for a cluster with this node timeout: connections are renewed about once
    /// per node timeout, so a connection blackholed by a healed partition costs at most
    /// that much silence.
    pub fn from_node_timeout(node_timeout: Duration) -> BusTimings {
        let connection_age_max = node_timeout.max(Duration::from_millis(100));
        BusTimings {
            connect_timeout: (connection_age_max / 2).min(Duration::from_secs(2)),
            connection_age_max,
            idle_timeout: connection_age_max * 3,
        }
    }
}

impl BusIdentity {
    /// A codec that authenticates with `secret` when given.
    pub fn new(hello: Hello, secret: Option<&[u8]>, timings: BusTimings) -> BusIdentity {
        assert!(!timings.connect_timeout.is_zero());
        assert!(timings.idle_timeout > timings.connection_age_max);
        BusIdentity {
            hello,
            codec: BusCodec::new(secret.map(BusKey::new)),
            timings,
        }
    }
}

impl BusClient {
    pub fn new(env: Env, identity: BusIdentity) -> BusClient {
        BusClient {
            env,
            identity,
            next_request: AtomicU64::new(1),
            idle: Mutex::new(BTreeMap::new()),
        }
    }

    /// Sends `payload` to `service` at the bus address `to` and waits at most `timeout`
    /// for the reply's payload.
    pub async fn call(
        &self,
        to: SocketAddr,
        service: Service,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, TransportError> {
        if payload.len() > RPC_PAYLOAD_MAX_BYTES {
            return Err(TransportError::TooLarge(payload.len()));
        }
        let request = self.next_request.fetch_add(1, Ordering::Relaxed);
        let mut lease = Lease {
            client: self,
            to,
            pooled: self.take_idle(to),
            state: LeaseState::Clean,
        };
        let exchange = async {
            if lease.pooled.is_none() {
                lease.pooled = Some(self.open(to).await?);
            }
            exchange(&mut lease, &self.identity.codec, request, service, payload).await
        };
        let result = match self.env.timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout(timeout)),
        };
        if result.is_err() && !matches!(result, Err(TransportError::Timeout(_))) {
            // The connection failed or broke the protocol: never reuse it.
            lease.pooled = None;
        }
        drop(lease);
        result
    }

    /// Connects to `to` and returns the peer's `Hello` (CLUSTER MEET's first step).
    pub async fn hello(&self, to: SocketAddr) -> Result<Hello, TransportError> {
        let timeout = self.identity.timings.connect_timeout;
        let greeting = async {
            let mut pooled = self.open(to).await?;
            let hello = read_hello(&mut pooled).await?;
            Ok::<_, TransportError>((pooled, hello))
        };
        let (pooled, hello) = self
            .env
            .timeout(timeout, greeting)
            .await
            .map_err(|_| TransportError::Timeout(timeout))??;
        self.put_idle(to, pooled);
        Ok(hello)
    }

    /// Connects and writes this node's `Hello`, within the connect timeout. The peer's
    /// `Hello` is read with the first reply, so a new connection costs one round trip
    /// before the request rather than two.
    async fn open(&self, to: SocketAddr) -> Result<Pooled, TransportError> {
        let timeout = self.identity.timings.connect_timeout;
        let opening = async {
            let mut conn = self.env.connect(to).await?;
            conn.set_nodelay(true)?;
            let hello = BusMessage::Hello(self.identity.hello);
            write_message(&mut conn, &self.identity.codec, &hello).await?;
            Ok::<_, TransportError>(conn)
        };
        let conn = match self.env.timeout(timeout, opening).await {
            Ok(result) => result?,
            Err(_) => return Err(TransportError::Timeout(timeout)),
        };
        Ok(Pooled {
            conn,
            decoder: BusDecoder::new(self.identity.codec.clone()),
            opened: self.env.now(),
            greeted: false,
            pending: None,
        })
    }

    /// The newest idle connection to `to` still fit to use; the others are closed: those
    /// older than the age limit, and those whose unread reply has been outstanding for
    /// longer than a connect timeout (a link that swallows replies is not trusted).
    fn take_idle(&self, to: SocketAddr) -> Option<Pooled> {
        let now = self.env.now();
        let timings = self.identity.timings;
        let fit = |pooled: &Pooled| {
            let young = now.saturating_duration_since(pooled.opened) < timings.connection_age_max;
            let answering = pooled.pending.is_none_or(|(_, since)| {
                now.saturating_duration_since(since) < timings.connect_timeout
            });
            young && answering
        };
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let pool = idle.get_mut(&to)?;
        pool.retain(fit);
        let taken = pool.pop();
        if pool.is_empty() {
            idle.remove(&to);
        }
        taken
    }

    fn put_idle(&self, to: SocketAddr, pooled: Pooled) {
        // Unread bytes with nothing pending mean the connection is out of step: close it.
        if pooled.pending.is_none() && pooled.decoder.buffered_len() != 0 {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let pool = idle.entry(to).or_default();
        if pool.len() < IDLE_CONNECTIONS_PER_PEER_MAX {
            pool.push(pooled);
        }
    }

    /// Idle connections held for `to`, for tests.
    pub fn idle_connections(&self, to: SocketAddr) -> usize {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.get(&to).map_or(0, Vec::len)
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(mut pooled) = self.pooled.take() else {
            return;
        };
        match self.state {
            LeaseState::Clean => {}
            // Half a frame went out: the connection is unusable.
            LeaseState::Writing => return,
            // Dropped while waiting for the reply to `request`: the next call skips it.
            LeaseState::Awaiting(request) => {
                pooled.pending = Some((request, self.client.env.now()));
            }
        }
        self.client.put_idle(self.to, pooled);
    }
}

impl RaftTransport for BusClient {
    async fn send(
        &self,
        _target: RaftNodeId,
        address: &str,
        request: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, TransportError> {
        let to: SocketAddr = address
            .parse()
            .map_err(|_| TransportError::BadAddress(address.to_string()))?;
        self.call(to, Service::Raft, &request, timeout).await
    }
}

/// The most stale replies one call may skip: each is the reply to an earlier call on the
/// connection that gave up waiting, and a connection is lent again only shortly after.
const STALE_REPLIES_MAX: usize = 4;

/// Writes one request on the leased connection and reads its reply, skipping replies to
/// earlier requests whose calls gave up.
async fn exchange(
    lease: &mut Lease<'_>,
    codec: &BusCodec,
    request: u64,
    service: Service,
    payload: &[u8],
) -> Result<Vec<u8>, TransportError> {
    let mut body = Vec::with_capacity(REQUEST_HEADER_BYTES + payload.len());
    body.extend_from_slice(&request.to_le_bytes());
    body.push(service as u8);
    body.extend_from_slice(payload);
    let message = BusMessage::Raft {
        kind: KIND_REQUEST,
        body,
    };
    let Some(pooled) = lease.pooled.as_mut() else {
        return Err(protocol_error("no connection leased".to_string()));
    };
    lease.state = LeaseState::Writing;
    write_message(&mut pooled.conn, codec, &message).await?;
    lease.state = LeaseState::Awaiting(request);
    let Some(pooled) = lease.pooled.as_mut() else {
        return Err(protocol_error("no connection leased".to_string()));
    };
    if !pooled.greeted {
        read_hello(pooled).await?;
    }
    for _ in 0..=STALE_REPLIES_MAX {
        let reply = read_message(&mut pooled.conn, &mut pooled.decoder).await?;
        let BusMessage::Raft {
            kind: KIND_RESPONSE,
            body,
        } = reply
        else {
            return Err(protocol_error("expected an RPC reply".to_string()));
        };
        let (id, reply) = split_response(body)?;
        if id < request {
            // The reply to a call that gave up; its id says it is not ours.
            continue;
        }
        if id > request {
            return Err(protocol_error(format!(
                "reply to request {id} while waiting for {request}"
            )));
        }
        lease.state = LeaseState::Clean;
        pooled.pending = None;
        return Ok(reply);
    }
    Err(protocol_error("too many stale replies".to_string()))
}

/// Reads and checks the peer's `Hello`, the first message on every connection.
async fn read_hello(pooled: &mut Pooled) -> Result<Hello, TransportError> {
    let hello = match read_message(&mut pooled.conn, &mut pooled.decoder).await? {
        BusMessage::Hello(hello) => hello,
        other => return Err(protocol_error(format!("expected Hello, got {other:?}"))),
    };
    check_hello(&hello)?;
    pooled.greeted = true;
    Ok(hello)
}

/// Splits a reply body into its request id and payload.
fn split_response(mut body: Vec<u8>) -> Result<(u64, Vec<u8>), TransportError> {
    let Some(id_bytes) = body.first_chunk::<8>() else {
        return Err(protocol_error(
            "a reply shorter than its header".to_string(),
        ));
    };
    let id = u64::from_le_bytes(*id_bytes);
    body.drain(..RESPONSE_HEADER_BYTES);
    Ok((id, body))
}

/// Splits a request body into its id, service and payload.
fn split_request(mut body: Vec<u8>) -> Option<(u64, u8, Vec<u8>)> {
    let (id_bytes, rest) = body.split_first_chunk::<8>()?;
    let id = u64::from_le_bytes(*id_bytes);
    let service = *rest.first()?;
    body.drain(..REQUEST_HEADER_BYTES);
    Some((id, service, body))
}

fn check_hello(hello: &Hello) -> Result<(), TransportError> {
    if hello.protocol_version != BUS_PROTOCOL_VERSION {
        return Err(protocol_error(format!(
            "peer speaks bus protocol {}, this node {BUS_PROTOCOL_VERSION}",
            hello.protocol_version
        )));
    }
    Ok(())
}

fn protocol_error(reason: String) -> TransportError {
    TransportError::Unreachable(io::Error::new(io::ErrorKind::InvalidData, reason))
}

/// Encodes and writes one message.
pub async fn write_message<W: AsyncWrite + Unpin>(
    writer: &mut W,
    codec: &BusCodec,
    message: &BusMessage,
) -> Result<(), TransportError> {
    let mut frame = BytesMut::new();
    codec
        .encode(message, &mut frame)
        .map_err(|error| TransportError::Unreachable(io::Error::other(error)))?;
    writer.write_all(&frame).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads until one whole message is decoded. The decoder refuses a declared length over
/// its limit from the header alone, so the buffer never grows past one frame and a read.
pub async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut R,
    decoder: &mut BusDecoder,
) -> Result<BusMessage, TransportError> {
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    // Bounded by the peer's bytes: every pass reads at least one byte or returns.
    loop {
        match decoder.next_message() {
            Ok(Some(message)) => return Ok(message),
            Ok(None) => {}
            Err(error) => {
                return Err(TransportError::Unreachable(io::Error::new(
                    io::ErrorKind::InvalidData,
                    error,
                )))
            }
        }
        let read = reader.read(&mut chunk).await?;
        if read == 0 {
            return Err(TransportError::Unreachable(
                io::ErrorKind::UnexpectedEof.into(),
            ));
        }
        decoder.feed(&chunk[..read]);
    }
}

/// Accepts bus connections on `listener` and serves each on its own local task until the
/// task running this is dropped.
pub async fn serve<H: BusHandler>(
    env: Env,
    listener: Listener,
    identity: BusIdentity,
    handler: Rc<H>,
) {
    loop {
        match listener.accept().await {
            Ok((conn, peer)) => {
                let (env, identity, handler) = (env.clone(), identity.clone(), handler.clone());
                drop(env.clone().spawn(async move {
                    if let Err(error) = serve_connection(&env, conn, &identity, &*handler).await {
                        tracing::debug!(%peer, %error, "bus connection closed");
                    }
                }));
            }
            Err(error) => {
                tracing::warn!(%error, "bus listener failed to accept");
                env.sleep(ACCEPT_RETRY_DELAY).await;
            }
        }
    }
}

/// The Hello exchange, then messages until the peer closes, falls silent or misbehaves.
async fn serve_connection<H: BusHandler>(
    env: &Env,
    mut conn: Conn,
    identity: &BusIdentity,
    handler: &H,
) -> Result<(), TransportError> {
    conn.set_nodelay(true)?;
    let codec = &identity.codec;
    let mut decoder = BusDecoder::new(codec.clone());
    let timings = identity.timings;
    let first = env
        .timeout(
            timings.connect_timeout,
            read_message(&mut conn, &mut decoder),
        )
        .await
        .map_err(|_| TransportError::Timeout(timings.connect_timeout))??;
    let BusMessage::Hello(peer) = first else {
        return Err(protocol_error(
            "the first message is not a Hello".to_string(),
        ));
    };
    check_hello(&peer)?;
    write_message(&mut conn, codec, &BusMessage::Hello(identity.hello)).await?;
    // Bounded by the peer: each pass consumes one message or ends the connection.
    loop {
        let next = env
            .timeout(timings.idle_timeout, read_message(&mut conn, &mut decoder))
            .await;
        let message = match next {
            Ok(Ok(message)) => message,
            Ok(Err(TransportError::Unreachable(error)))
                if error.kind() == io::ErrorKind::UnexpectedEof =>
            {
                return Ok(());
            }
            Ok(Err(error)) => return Err(error),
            Err(_) => return Err(TransportError::Timeout(timings.idle_timeout)),
        };
        match message {
            BusMessage::Raft {
                kind: KIND_REQUEST,
                body,
            } => {
                let Some((id, service, payload)) = split_request(body) else {
                    return Err(protocol_error(
                        "a request shorter than its header".to_string(),
                    ));
                };
                let Some(reply) = handler.rpc(peer, service, payload).await else {
                    return Err(protocol_error(format!("unknown service {service}")));
                };
                let mut body = Vec::with_capacity(RESPONSE_HEADER_BYTES + reply.len());
                body.extend_from_slice(&id.to_le_bytes());
                body.extend_from_slice(&reply);
                let response = BusMessage::Raft {
                    kind: KIND_RESPONSE,
                    body,
                };
                write_message(&mut conn, codec, &response).await?;
            }
            BusMessage::Ping(_)
            | BusMessage::PingReq(_)
            | BusMessage::Ack(_)
            | BusMessage::StateSync(_) => handler.gossip(message),
            BusMessage::Hello(_) | BusMessage::Raft { .. } => {
                return Err(protocol_error("an unexpected message".to_string()));
            }
        }
    }
}

impl Gossip {
    pub fn new(env: Env, identity: BusIdentity) -> Gossip {
        Gossip {
            env,
            identity,
            peers: RefCell::new(BTreeMap::new()),
        }
    }

    /// Queues `message` for the bus address `to`; drops it if that peer's queue is full.
    /// Must be called on the node's thread (it may start a local task).
    pub fn send(&self, to: SocketAddr, message: BusMessage) {
        let mut peers = self.peers.borrow_mut();
        let queued = match peers.get(&to) {
            Some(queue) => queue.try_send(message),
            None => Err(mpsc::error::TrySendError::Closed(message)),
        };
        let message = match queued {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => return,
            Err(mpsc::error::TrySendError::Closed(message)) => message,
        };
        // No sender task for this peer (or it finished after being idle): start one.
        if peers.len() >= GOSSIP_PEERS_MAX {
            peers.retain(|_, queue| !queue.is_closed());
            if peers.len() >= GOSSIP_PEERS_MAX {
                return;
            }
        }
        let (queue, receiver) = mpsc::channel(GOSSIP_QUEUE_MAX);
        // A fresh channel has room for one message.
        let _ = queue.try_send(message);
        peers.insert(to, queue);
        let (env, identity) = (self.env.clone(), self.identity.clone());
        drop(self.env.spawn(gossip_sender(env, identity, to, receiver)));
    }
}

/// Writes one peer's gossip in order, on a connection renewed by age and after errors.
/// Ends after an idle timeout without messages; [`Gossip::send`] starts another then.
async fn gossip_sender(
    env: Env,
    identity: BusIdentity,
    to: SocketAddr,
    mut queue: mpsc::Receiver<BusMessage>,
) {
    let timings = identity.timings;
    let mut connection: Option<(Conn, Instant)> = None;
    // Bounded by the queue: every pass takes one message or ends the task.
    loop {
        let Ok(Some(message)) = env.timeout(timings.idle_timeout, queue.recv()).await else {
            return;
        };
        let now = env.now();
        if connection.as_ref().is_some_and(|(_, opened)| {
            now.saturating_duration_since(*opened) >= timings.connection_age_max
        }) {
            connection = None;
        }
        if connection.is_none() {
            let opening = env.timeout(timings.connect_timeout, open_gossip(&env, &identity, to));
            match opening.await {
                Ok(Ok(conn)) => connection = Some((conn, env.now())),
                Ok(Err(error)) => {
                    tracing::trace!(%to, %error, "gossip connect failed; message dropped");
                    continue;
                }
                Err(_) => continue,
            }
        }
        let Some((conn, _)) = connection.as_mut() else {
            continue;
        };
        if let Err(error) = write_message(conn, &identity.codec, &message).await {
            tracing::trace!(%to, %error, "gossip write failed; reconnecting next time");
            connection = None;
        }
    }
}

/// Connects and sends this node's `Hello`. The peer's `Hello` is left unread: nothing
/// else ever comes back on a gossip connection.
async fn open_gossip(
    env: &Env,
    identity: &BusIdentity,
    to: SocketAddr,
) -> Result<Conn, TransportError> {
    let mut conn = env.connect(to).await?;
    conn.set_nodelay(true)?;
    write_message(
        &mut conn,
        &identity.codec,
        &BusMessage::Hello(identity.hello),
    )
    .await?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_net::SimDisk;
    use ember_proto::cluster_bus::{NodeAddress, NodeId};
    use std::net::{IpAddr, Ipv4Addr};

    const PORT: u16 = 16379;

    /// Answers service `Raft` with its payload after `payload[0] * 10` ms; closes the
    /// connection on any other service.
    struct Echo {
        env: Env,
    }

    impl BusHandler for Echo {
        async fn rpc(&self, _from: Hello, service: u8, payload: Vec<u8>) -> Option<Vec<u8>> {
            if service != Service::Raft as u8 {
                return None;
            }
            let delay_ms = u64::from(payload.first().copied().unwrap_or(0)) * 10;
            self.env.sleep(Duration::from_millis(delay_ms)).await;
            Some(payload)
        }

        fn gossip(&self, _message: BusMessage) {}
    }

    fn identity(byte: u8, secret: Option<&[u8]>) -> BusIdentity {
        let hello = Hello {
            sender: NodeId::from_bytes([byte; 20]),
            address: NodeAddress {
                ip: IpAddr::V4(Ipv4Addr::new(192, 168, 0, byte)),
                data_port: 6379,
                bus_port: PORT,
            },
            protocol_version: BUS_PROTOCOL_VERSION,
        };
        BusIdentity::new(
            hello,
            secret,
            BusTimings::from_node_timeout(Duration::from_secs(1)),
        )
    }

    /// A world with one echo server and a client script, 5 ms per message.
    fn with_server<F, Fut>(secret: Option<&'static [u8]>, client: F)
    where
        F: FnOnce(Env, SocketAddr) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let mut sim = turmoil::Builder::new()
            .epoch(std::time::UNIX_EPOCH)
            .rng_seed(5)
            .min_message_latency(Duration::from_millis(5))
            .max_message_latency(Duration::from_millis(5))
            .build();
        let disk = SimDisk::new(5);
        let server_disk = disk.clone();
        sim.host("server", move || {
            let disk = server_disk.clone();
            async move {
                let env = Env::simulation(5, "server", disk, 1, 0);
                let listener = env
                    .bind(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), PORT))
                    .await?;
                let handler = Rc::new(Echo { env: env.clone() });
                serve(env, listener, identity(1, secret), handler).await;
                Ok(())
            }
        });
        sim.client("client", async move {
            let env = Env::simulation(5, "client", disk, 1, 0);
            let server = SocketAddr::new(turmoil::lookup("server"), PORT);
            client(env, server).await;
            Ok(())
        });
        sim.run().unwrap();
    }

    #[test]
    fn a_late_reply_is_skipped_by_its_id_and_never_answers_the_next_call() {
        with_server(Some(b"k"), |env, server| async move {
            let client = BusClient::new(env.clone(), identity(2, Some(b"k")));
            let short = Duration::from_millis(50);
            // The server answers after 200 ms: the call gives up at 50 ms.
            let late = client.call(server, Service::Raft, &[20], short).await;
            assert!(matches!(late, Err(TransportError::Timeout(_))), "{late:?}");
            // The connection went back with its reply outstanding.
            assert_eq!(client.idle_connections(server), 1);
            // Wait for the late reply to arrive: the next call must skip it.
            env.sleep(Duration::from_millis(300)).await;
            let next = client.call(server, Service::Raft, &[0, 7], short).await;
            assert_eq!(next.unwrap(), vec![0, 7]);
            assert_eq!(client.idle_connections(server), 1);
        });
    }

    #[test]
    fn a_call_dropped_by_its_caller_leaves_no_stale_reply() {
        with_server(None, |env, server| async move {
            let client = BusClient::new(env.clone(), identity(2, None));
            let long = Duration::from_secs(5);
            // The caller gives up (drops the future) before the reply comes.
            let dropped = env
                .timeout(
                    Duration::from_millis(40),
                    client.call(server, Service::Raft, &[10, 1], long),
                )
                .await;
            assert!(dropped.is_err());
            // At once, while the stale reply is still in flight.
            let next = client.call(server, Service::Raft, &[0, 2], long).await;
            assert_eq!(next.unwrap(), vec![0, 2]);
            // Several calls in a row reuse one connection.
            for round in 0..5u8 {
                let reply = client.call(server, Service::Raft, &[0, round], long).await;
                assert_eq!(reply.unwrap(), vec![0, round]);
            }
            assert_eq!(client.idle_connections(server), 1);
        });
    }

    #[test]
    fn a_reply_outstanding_too_long_retires_its_connection() {
        with_server(None, |env, server| async move {
            let client = BusClient::new(env.clone(), identity(2, None));
            // 2.5 s: far past the connect timeout that bounds an outstanding reply.
            let late = client
                .call(server, Service::Raft, &[250], Duration::from_millis(20))
                .await;
            assert!(late.is_err());
            env.sleep(Duration::from_millis(600)).await;
            let next = client
                .call(server, Service::Raft, &[0, 9], Duration::from_secs(1))
                .await;
            assert_eq!(next.unwrap(), vec![0, 9], "a new connection answers");
        });
    }

    #[test]
    fn an_unknown_service_or_a_wrong_secret_fails_the_call_and_drops_the_connection() {
        with_server(Some(b"right"), |env, server| async move {
            let timeout = Duration::from_secs(1);
            let client = BusClient::new(env.clone(), identity(2, Some(b"right")));
            let unknown = client.call(server, Service::Propose, &[0], timeout).await;
            assert!(unknown.is_err(), "{unknown:?}");
            assert_eq!(client.idle_connections(server), 0);
            let ok = client.call(server, Service::Raft, &[0, 3], timeout).await;
            assert_eq!(ok.unwrap(), vec![0, 3]);
            let wrong = BusClient::new(env.clone(), identity(3, Some(b"wrong")));
            let refused = wrong.call(server, Service::Raft, &[0], timeout).await;
            assert!(refused.is_err(), "{refused:?}");
            let plain = BusClient::new(env, identity(4, None));
            assert!(plain.hello(server).await.is_err());
            let hello = client.hello(server).await.unwrap();
            assert_eq!(hello.sender, NodeId::from_bytes([1; 20]));
        });
    }

    #[test]
    fn a_reply_to_another_request_fails_the_call() {
        let mut sim = turmoil::Builder::new()
            .epoch(std::time::UNIX_EPOCH)
            .rng_seed(6)
            .build();
        // A broken server that answers every request under the next request's id.
        sim.host("server", || async {
            let env = Env::simulation(6, "server", SimDisk::new(6), 1, 0);
            let listener = env
                .bind(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), PORT))
                .await?;
            let codec = BusCodec::new(None);
            let (mut conn, _) = listener.accept().await?;
            let mut decoder = BusDecoder::new(codec.clone());
            let hello = BusMessage::Hello(identity(1, None).hello);
            write_message(&mut conn, &codec, &hello).await?;
            // Bounded by the client's requests.
            loop {
                let message = read_message(&mut conn, &mut decoder).await?;
                if let BusMessage::Raft {
                    kind: KIND_REQUEST,
                    body,
                } = message
                {
                    let (id, _, payload) = split_request(body).unwrap();
                    let mut reply = (id + 1).to_le_bytes().to_vec();
                    reply.extend_from_slice(&payload);
                    let response = BusMessage::Raft {
                        kind: KIND_RESPONSE,
                        body: reply,
                    };
                    write_message(&mut conn, &codec, &response).await?;
                }
            }
        });
        sim.client("client", async {
            let env = Env::simulation(6, "client", SimDisk::new(6), 1, 0);
            let server = SocketAddr::new(turmoil::lookup("server"), PORT);
            let client = BusClient::new(env, identity(2, None));
            let result = client
                .call(server, Service::Raft, &[1], Duration::from_secs(1))
                .await;
            assert!(
                matches!(result, Err(TransportError::Unreachable(_))),
                "{result:?}"
            );
            assert_eq!(client.idle_connections(server), 0);
            Ok(())
        });
        sim.run().unwrap();
    }

    #[test]
    fn request_and_reply_bodies_split_or_are_refused() {
        let mut body = 7u64.to_le_bytes().to_vec();
        body.push(1);
        body.extend_from_slice(b"xy");
        assert_eq!(split_request(body), Some((7, 1, b"xy".to_vec())));
        assert_eq!(split_request(vec![1, 2, 3]), None);
        assert_eq!(split_request(7u64.to_le_bytes().to_vec()), None);
        assert!(split_response(vec![1, 2]).is_err());
        let (id, payload) = split_response(9u64.to_le_bytes().to_vec()).unwrap();
        assert_eq!((id, payload), (9, Vec::new()));
    }
}
