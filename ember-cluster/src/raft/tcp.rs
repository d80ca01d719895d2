//! A [`RaftTransport`] over ember-net TCP, and the server loop that answers it.
//!
//! Frames are a u32 LE length and that many bytes of postcard, checked against
//! [`RAFT_RPC_MAX_BYTES`] before anything is allocated. A client keeps one connection per
//! target and sends one request at a time on it; any failure, timeout or cancellation
//! drops the connection, so a late reply can never be read as the answer to the next
//! request (that once made a leader count a follower's stale success as an ack of newer
//! entries), and the next RPC reconnects (turmoil's TCP has no retransmission, so a connection that saw
//! a fault is not trusted again).

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ember_net::{Conn, Env, Listener};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::network::{RaftService, RaftTransport, TransportError, RAFT_RPC_MAX_BYTES};
use super::RaftNodeId;

const FRAME_HEADER_BYTES: usize = 4;
const _: () = assert!(RAFT_RPC_MAX_BYTES <= u32::MAX as usize);

/// How long the server waits before accepting again after a failed accept.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);

/// The client side: one cached connection per target.
pub struct TcpTransport {
    env: Env,
    connections: Mutex<BTreeMap<RaftNodeId, Arc<tokio::sync::Mutex<Option<Conn>>>>>,
}

impl TcpTransport {
    pub fn new(env: Env) -> TcpTransport {
        TcpTransport {
            env,
            connections: Mutex::new(BTreeMap::new()),
        }
    }

    fn slot(&self, target: RaftNodeId) -> Arc<tokio::sync::Mutex<Option<Conn>>> {
        let mut connections = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        connections.entry(target).or_default().clone()
    }
}

impl RaftTransport for TcpTransport {
    async fn send(
        &self,
        target: RaftNodeId,
        address: &str,
        request: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, TransportError> {
        let slot = self.slot(target);
        let mut cached = slot.lock().await;
        // The connection is taken out for the exchange and put back only after a whole
        // reply: if this future is dropped halfway (openraft cancels RPCs), the connection
        // goes with it, so a reply still in flight can never answer the next request.
        let connection = cached.take();
        let exchange = exchange(&self.env, connection, address, &request);
        match self.env.timeout(timeout, exchange).await {
            Ok(Ok((conn, reply))) => {
                *cached = Some(conn);
                Ok(reply)
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(TransportError::Timeout(timeout)),
        }
    }
}

/// Connects if needed, writes the request and reads the reply; returns the connection
/// for reuse with the reply.
async fn exchange(
    env: &Env,
    connection: Option<Conn>,
    address: &str,
    request: &[u8],
) -> Result<(Conn, Vec<u8>), TransportError> {
    let mut conn = match connection {
        Some(conn) => conn,
        None => {
            let addr = resolve(env, address).await?;
            let conn = env.connect(addr).await?;
            conn.set_nodelay(true)?;
            conn
        }
    };
    write_frame(&mut conn, request).await?;
    let reply = read_frame(&mut conn).await?;
    Ok((conn, reply))
}

/// Parses `host:port`, looking the host up through `Env` when it is not an IP address.
async fn resolve(env: &Env, address: &str) -> Result<SocketAddr, TransportError> {
    if let Ok(addr) = address.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bad = || TransportError::BadAddress(address.to_string());
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok(env.lookup_host(host, port).await?)
}

/// Writes one length-prefixed frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    payload: &[u8],
) -> Result<(), TransportError> {
    if payload.len() > RAFT_RPC_MAX_BYTES {
        return Err(TransportError::TooLarge(payload.len()));
    }
    let length =
        u32::try_from(payload.len()).map_err(|_| TransportError::TooLarge(payload.len()))?;
    let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES + payload.len());
    frame.extend_from_slice(&length.to_le_bytes());
    frame.extend_from_slice(payload);
    writer.write_all(&frame).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads one length-prefixed frame, refusing a declared length over the limit before
/// allocating for it.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Vec<u8>, TransportError> {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    reader.read_exact(&mut header).await?;
    let length = u32::from_le_bytes(header) as usize;
    if length > RAFT_RPC_MAX_BYTES {
        return Err(TransportError::TooLarge(length));
    }
    let mut payload = vec![0u8; length];
    reader.read_exact(&mut payload).await?;
    Ok(payload)
}

/// Accepts Raft connections on `listener` and answers each request with `service`, one
/// local task per connection, until the task running this is dropped.
pub async fn serve_tcp(env: Env, listener: Listener, service: RaftService) {
    loop {
        match listener.accept().await {
            Ok((conn, peer)) => {
                let service = service.clone();
                drop(env.spawn(async move {
                    if let Err(error) = serve_connection(conn, &service).await {
                        tracing::debug!(%peer, %error, "raft connection closed");
                    }
                }));
            }
            Err(error) => {
                tracing::warn!(%error, "raft listener failed to accept");
                env.sleep(ACCEPT_RETRY_DELAY).await;
            }
        }
    }
}

/// Answers requests on one connection until the peer closes it or sends a bad frame.
async fn serve_connection(mut conn: Conn, service: &RaftService) -> Result<(), TransportError> {
    conn.set_nodelay(true)?;
    loop {
        let request = match read_frame(&mut conn).await {
            Ok(request) => request,
            Err(TransportError::Unreachable(error))
                if error.kind() == io::ErrorKind::UnexpectedEof =>
            {
                return Ok(());
            }
            Err(error) => return Err(error),
        };
        let reply = service.handle(&request).await;
        write_frame(&mut conn, &reply).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_oversized_lengths_are_refused_before_allocating() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut buffer = Vec::new();
            write_frame(&mut buffer, b"vote").await.unwrap();
            assert_eq!(&buffer[..4], &4u32.to_le_bytes());
            assert_eq!(read_frame(&mut buffer.as_slice()).await.unwrap(), b"vote");

            let huge = (RAFT_RPC_MAX_BYTES as u32 + 1).to_le_bytes();
            let error = read_frame(&mut huge.as_slice()).await.unwrap_err();
            assert!(matches!(error, TransportError::TooLarge(_)), "{error}");

            // A frame cut short is an error, not a short read.
            let error = read_frame(&mut &buffer[..6]).await.unwrap_err();
            assert!(matches!(error, TransportError::Unreachable(_)), "{error}");
        });
    }

    #[test]
    fn addresses_resolve_or_are_refused() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let env = Env::production(Some(1));
        runtime.block_on(async {
            let addr = resolve(&env, "127.0.0.1:7000").await.unwrap();
            assert_eq!(addr.port(), 7000);
            assert!(matches!(
                resolve(&env, "no-port").await,
                Err(TransportError::BadAddress(_))
            ));
            assert!(matches!(
                resolve(&env, ":70").await,
                Err(TransportError::BadAddress(_))
            ));
            assert!(matches!(
                resolve(&env, "h:99999").await,
                Err(TransportError::BadAddress(_))
            ));
        });
    }
}
