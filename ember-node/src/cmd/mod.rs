//! Commands: one file per family, each exporting a `const` slice of `CommandSpec`s, and the
//! two contexts handlers run in.
//!
//! - Data handlers (`Ctx`) run on the shard(s) that own the command's keys, given `&mut`
//!   access to exactly those shards' stores. The same synchronous handler serves a key on the
//!   connection's own shard, a key on another shard, and keys spread over several shards:
//!   routing and atomicity are the executor's job (`shard.rs`), never the handler's.
//! - Session handlers (`SessionCtx`) change connection state (SELECT, HELLO, CLIENT ...) or
//!   read server-wide state, and touch no store.

pub mod args;
pub mod bitmap;
pub mod blocking;
pub mod cluster;
pub mod connection;
pub mod dump;
pub mod hash;
pub mod keys;
pub mod list;
pub mod migrate;
pub mod persistence;
pub mod pubsub;
pub mod scan;
pub mod server;
pub mod set;
pub mod string;
pub mod table;
pub mod transaction;
pub mod zset;

use bytes::Bytes;
use ember_proto::{Frame, Protocol};

use crate::keyspace::{EncodingLimits, Store};
use crate::server::Shared;
use crate::slot::shard_of_key;
pub use args::Args;
pub use table::{lookup, CommandSpec, Handler, Route};

/// What a data handler sees: the time, the connection's database and protocol, and the stores
/// of the shards its keys live on (all stores for keyless commands such as DBSIZE).
pub struct Ctx<'s, 't> {
    pub now_ms: u64,
    pub db: usize,
    pub protocol: Protocol,
    pub shared: &'s Shared,
    /// The connection's WATCH flag; given only to WATCH.
    pub watch: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The connection's place in line on keys; given only to blocking commands outside MULTI.
    pub waiter: Option<std::sync::Arc<crate::keyspace::blocking::Waiter>>,
    /// How the command is written to the AOF when replaying its arguments would not redo
    /// what it did (SPOP's random picks): one command whose keys live with its first key.
    pub propagate: Option<Vec<Bytes>>,
    stores: &'s mut [&'t mut Store],
}

impl<'s, 't> Ctx<'s, 't> {
    pub fn new(
        now_ms: u64,
        db: usize,
        protocol: Protocol,
        shared: &'s Shared,
        stores: &'s mut [&'t mut Store],
    ) -> Ctx<'s, 't> {
        assert!(!stores.is_empty());
        Ctx {
            now_ms,
            db,
            protocol,
            shared,
            watch: None,
            waiter: None,
            propagate: None,
            stores,
        }
    }

    /// The store that owns `key`. The executor reserved it before the handler ran; a missing
    /// store means the command table's key positions are wrong, which is a bug.
    pub fn store(&mut self, key: &[u8]) -> &mut Store {
        let shard = shard_of_key(key, self.shared.shard_count);
        let store = self.stores.iter_mut().find(|s| s.id == shard);
        store.expect("the key's shard was reserved for this command")
    }

    /// Every store the command was given, in shard order.
    pub fn stores(&mut self) -> impl Iterator<Item = &mut Store> + use<'_, 's, 't> {
        self.stores.iter_mut().map(|s| &mut **s)
    }

    pub fn store_count(&self) -> usize {
        self.stores.len()
    }

    /// The thresholds at which collections leave their compact encodings.
    pub fn encoding_limits(&self) -> EncodingLimits {
        self.shared.config.encoding_limits()
    }
}

/// Connection state that commands may read or change.
#[derive(Debug)]
pub struct Session {
    pub id: u64,
    pub protocol: Protocol,
    pub db: usize,
    pub name: Option<Bytes>,
    pub authenticated: bool,
    /// Set by QUIT: the reply is sent, then the connection closes.
    pub closing: bool,
    pub transaction: transaction::Transaction,
    pub pubsub: crate::pubsub::Subscriptions,
    /// ASKING was sent: the next command may touch a slot this node is importing.
    pub asking: bool,
    /// READONLY was sent (reads of a replica's slots are served; ember has no replicas).
    pub readonly: bool,
}

impl Session {
    pub fn new(id: u64, authenticated: bool) -> Session {
        Session {
            id,
            protocol: Protocol::Resp2,
            db: 0,
            name: None,
            authenticated,
            closing: false,
            transaction: transaction::Transaction::default(),
            pubsub: crate::pubsub::Subscriptions::default(),
            asking: false,
            readonly: false,
        }
    }
}

pub struct SessionCtx<'a> {
    pub session: &'a mut Session,
    pub shared: &'a Shared,
    pub now_ms: u64,
}

pub type DataFn = fn(&mut Ctx, &mut Args) -> Result<Frame, CmdError>;
pub type SessionFn = fn(&mut SessionCtx, &mut Args) -> Result<Frame, CmdError>;
/// A command that answers with several frames (SUBSCRIBE answers once per channel).
pub type SubscriptionFn = fn(&mut SessionCtx, &mut Args) -> Result<Vec<Frame>, CmdError>;

pub use crate::error::CmdError;

// Reply constructors used across the families.

pub fn ok() -> Frame {
    Frame::Simple(Bytes::from_static(b"OK"))
}

pub fn bulk(bytes: impl Into<Bytes>) -> Frame {
    Frame::Bulk(bytes.into())
}

pub fn int(value: i64) -> Frame {
    Frame::Integer(value)
}

pub fn int_len(value: usize) -> Frame {
    Frame::Integer(i64::try_from(value).expect("lengths fit in i64"))
}

pub fn simple(text: &'static str) -> Frame {
    Frame::Simple(Bytes::from_static(text.as_bytes()))
}

pub fn text(text: String) -> Frame {
    Frame::Bulk(Bytes::from(text))
}

/// A verbatim text reply (INFO, CLIENT LIST): RESP3 `=`, RESP2 bulk string.
pub fn verbatim(text: String) -> Frame {
    Frame::Verbatim {
        format: *b"txt",
        text: Bytes::from(text),
    }
}
