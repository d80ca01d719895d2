//! Raft RPCs as bytes: the request and response messages, the [`RaftTransport`] trait that
//! carries them to a node, openraft's network over any transport, and [`RaftService`],
//! which answers them on the receiving node.
//!
//! Every transport failure, a refused connection, a reset, a timeout or an unreadable
//! reply, becomes `RPCError::Unreachable`: openraft then backs off before the next try.
//! `RPCError::Network` would make it retry at once, which under a partition spins and,
//! under turmoil, runs out of ephemeral ports.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::{Deserialize, Serialize};

use super::{RaftNodeId, TopologyRaft, TypeConfig};

/// The largest RPC frame, request or reply. The config keeps AppendEntries batches and
/// snapshot chunks well under it (see `default_config`).
pub const RAFT_RPC_MAX_BYTES: usize = 16 << 20;

/// Carries one serialized RPC to a node and brings its serialized reply back.
///
/// The cluster bus implements this once it carries Raft messages; [`super::TcpTransport`]
/// is a plain TCP implementation until then.
pub trait RaftTransport: Send + Sync + 'static {
    /// Sends `request` to `target`, whose Raft address is `address`, and waits at most
    /// `timeout` for the reply.
    fn send(
        &self,
        target: RaftNodeId,
        address: &str,
        request: Vec<u8>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<u8>, TransportError>> + Send;
}

/// Why a transport could not bring a reply back.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("unreachable: {0}")]
    Unreachable(#[from] std::io::Error),
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    #[error("a frame of {0} bytes is over the limit")]
    TooLarge(usize),
    #[error("address {0} is not host:port")]
    BadAddress(String),
}

/// A Raft RPC.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<RaftNodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
}

/// The reply to a [`RaftRequest`] of the same name.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftResponse {
    AppendEntries(Result<AppendEntriesResponse<RaftNodeId>, RaftError<RaftNodeId>>),
    Vote(Result<VoteResponse<RaftNodeId>, RaftError<RaftNodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<RaftNodeId>, RaftError<RaftNodeId, InstallSnapshotError>>,
    ),
    /// The receiver could not read the request.
    Refused(String),
}

/// Makes a [`Network`] per target over one shared transport.
pub struct NetworkFactory<T> {
    transport: Arc<T>,
}

/// openraft's connection to one node.
pub struct Network<T> {
    transport: Arc<T>,
    target: RaftNodeId,
    address: String,
}

/// Answers Raft RPCs for the local node.
#[derive(Clone)]
pub struct RaftService {
    raft: TopologyRaft,
}

/// A transport-level failure or a reply of the wrong kind, as one error type.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("unreadable reply: {0}")]
    Decode(postcard::Error),
    #[error("the peer refused the request: {0}")]
    Refused(String),
    #[error("a reply of the wrong kind")]
    WrongKind,
}

impl<T: RaftTransport> NetworkFactory<T> {
    pub fn new(transport: Arc<T>) -> NetworkFactory<T> {
        NetworkFactory { transport }
    }
}

impl<T: RaftTransport> RaftNetworkFactory<TypeConfig> for NetworkFactory<T> {
    type Network = Network<T>;

    async fn new_client(&mut self, target: RaftNodeId, node: &BasicNode) -> Network<T> {
        Network {
            transport: self.transport.clone(),
            target,
            address: node.addr.clone(),
        }
    }
}

impl<T: RaftTransport> Network<T> {
    /// Sends `request` and returns the reply's decoded form.
    async fn call(
        &self,
        request: &RaftRequest,
        timeout: Duration,
    ) -> Result<RaftResponse, CallError> {
        let bytes = postcard::to_allocvec(request).map_err(CallError::Decode)?;
        if bytes.len() > RAFT_RPC_MAX_BYTES {
            return Err(TransportError::TooLarge(bytes.len()).into());
        }
        let reply = self
            .transport
            .send(self.target, &self.address, bytes, timeout)
            .await?;
        let response: RaftResponse = postcard::from_bytes(&reply).map_err(CallError::Decode)?;
        match response {
            RaftResponse::Refused(reason) => Err(CallError::Refused(reason)),
            response => Ok(response),
        }
    }
}

/// Maps a failed call to openraft's error, as the module doc explains.
fn unreachable<E: std::error::Error>(error: CallError) -> RPCError<RaftNodeId, BasicNode, E> {
    if matches!(error, CallError::WrongKind | CallError::Decode(_)) {
        tracing::warn!(%error, "raft peer sent a bad reply");
    }
    RPCError::Unreachable(Unreachable::new(&error))
}

impl<T: RaftTransport> RaftNetwork<TypeConfig> for Network<T> {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        AppendEntriesResponse<RaftNodeId>,
        RPCError<RaftNodeId, BasicNode, RaftError<RaftNodeId>>,
    > {
        let request = RaftRequest::AppendEntries(rpc);
        match self.call(&request, option.hard_ttl()).await {
            Ok(RaftResponse::AppendEntries(Ok(reply))) => Ok(reply),
            Ok(RaftResponse::AppendEntries(Err(error))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, error)))
            }
            Ok(_) => Err(unreachable(CallError::WrongKind)),
            Err(error) => Err(unreachable(error)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<RaftNodeId>,
        RPCError<RaftNodeId, BasicNode, RaftError<RaftNodeId, InstallSnapshotError>>,
    > {
        let request = RaftRequest::InstallSnapshot(rpc);
        match self.call(&request, option.hard_ttl()).await {
            Ok(RaftResponse::InstallSnapshot(Ok(reply))) => Ok(reply),
            Ok(RaftResponse::InstallSnapshot(Err(error))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, error)))
            }
            Ok(_) => Err(unreachable(CallError::WrongKind)),
            Err(error) => Err(unreachable(error)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<RaftNodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<RaftNodeId>, RPCError<RaftNodeId, BasicNode, RaftError<RaftNodeId>>>
    {
        let request = RaftRequest::Vote(rpc);
        match self.call(&request, option.hard_ttl()).await {
            Ok(RaftResponse::Vote(Ok(reply))) => Ok(reply),
            Ok(RaftResponse::Vote(Err(error))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, error)))
            }
            Ok(_) => Err(unreachable(CallError::WrongKind)),
            Err(error) => Err(unreachable(error)),
        }
    }
}

impl RaftService {
    pub fn new(raft: TopologyRaft) -> RaftService {
        RaftService { raft }
    }

    /// Decodes one request, hands it to the local Raft and encodes the reply. Bytes that
    /// are not a request get a `Refused` reply, never a panic.
    pub async fn handle(&self, request: &[u8]) -> Vec<u8> {
        let response = match postcard::from_bytes::<RaftRequest>(request) {
            Ok(RaftRequest::AppendEntries(rpc)) => {
                RaftResponse::AppendEntries(self.raft.append_entries(rpc).await)
            }
            Ok(RaftRequest::Vote(rpc)) => RaftResponse::Vote(self.raft.vote(rpc).await),
            Ok(RaftRequest::InstallSnapshot(rpc)) => {
                RaftResponse::InstallSnapshot(self.raft.install_snapshot(rpc).await)
            }
            Err(error) => RaftResponse::Refused(error.to_string()),
        };
        encode_response(&response)
    }
}

fn encode_response(response: &RaftResponse) -> Vec<u8> {
    match postcard::to_allocvec(response) {
        Ok(bytes) => bytes,
        Err(error) => {
            let refused = RaftResponse::Refused(format!("reply did not encode: {error}"));
            // A string-only variant always encodes.
            postcard::to_allocvec(&refused).expect("a refusal encodes")
        }
    }
}
