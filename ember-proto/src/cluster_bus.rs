//! The cluster bus: the messages nodes exchange on the bus port (SWIM membership, Raft
//! RPCs, the connection handshake), their framing, optional HMAC-SHA256 authentication,
//! and a streaming decoder. Pure code: the node does the I/O.
//!
//! # Frame layout
//!
//! ```text
//! frame   = magic "EMCB" | version u8 | flags u8 | length u32 LE | [tag [32]] | payload
//! flags   = bit 0: authenticated (a tag follows the header); every other bit is zero
//! tag     = HMAC-SHA256(secret, magic | version | flags | length | payload)
//! payload = one `BusMessage` in postcard, exactly `length` bytes
//! ```
//!
//! The decoder checks each header field as soon as its bytes arrive: the magic (a prefix
//! of it, so garbage fails at once), the version, the flags against its own
//! configuration (a node with a secret refuses untagged frames, and a node without one
//! refuses tagged frames, since it cannot check them and the two are misconfigured), and
//! the length against `BusCodec::payload_max_bytes`. Only then does it wait for the rest
//! of the frame, so a declared length never sizes anything: the buffer grows only by
//! bytes the peer has really sent. The tag is checked in constant time before the payload
//! is parsed. Inside the payload, every sequence's declared count is checked against its
//! limit before anything is allocated for it, and byte strings are taken whole from the
//! received payload.
//!
//! # Versions
//!
//! `BUS_VERSION` names this layout and this set of messages. A frame of any other version
//! is refused with `BusError::UnsupportedVersion` naming it, before its length is read, so
//! a v2 node talking to this one is told apart from noise. New messages or fields need a
//! new version; `Hello::protocol_version` lets peers agree on behaviour within one.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use bytes::{BufMut, BytesMut};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Sha256;

/// The first four bytes of every frame.
pub const BUS_MAGIC: [u8; 4] = *b"EMCB";

/// The frame layout and message set this code reads and writes.
pub const BUS_VERSION: u8 = 1;

/// The behaviour version a node announces in its `Hello`.
pub const BUS_PROTOCOL_VERSION: u16 = 1;

/// The header: magic, version, flags and payload length.
pub const BUS_HEADER_BYTES: usize = 4 + 1 + 1 + 4;

/// The HMAC-SHA256 tag of an authenticated frame.
pub const BUS_TAG_BYTES: usize = 32;

/// The flag bit that says a tag follows the header.
pub const BUS_FLAG_AUTHENTICATED: u8 = 0x01;

/// The longest payload any codec accepts. Gossip messages are a few kilobytes; this
/// leaves room for Raft batches and a topology snapshot (16384 slots and their owners).
pub const BUS_PAYLOAD_MAX_BYTES: usize = 4 * 1024 * 1024;

/// The most membership updates piggybacked on one ping, ping-req or ack.
pub const BUS_UPDATES_MAX: usize = 64;

/// The most members one state sync carries: the largest cluster ember supports.
pub const BUS_MEMBERS_MAX: usize = 4096;

/// The secret the fuzz target and the corpus test authenticate with.
pub const BUS_TEST_SECRET: &[u8] = b"ember cluster bus test secret";

const _: () = assert!(BUS_PAYLOAD_MAX_BYTES <= u32::MAX as usize);
const _: () = assert!(BUS_FLAG_AUTHENTICATED != 0);
// A full sync (about 80 bytes a member) fits in one frame with room to spare.
const _: () = assert!(BUS_MEMBERS_MAX * 128 <= BUS_PAYLOAD_MAX_BYTES);

type HmacSha256 = Hmac<Sha256>;

/// A node's identity: 160 random bits, written as 40 lowercase hex digits like a Redis
/// Cluster node id. On the wire it is the 20 raw bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId([u8; 20]);

/// Why a string is not a node id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NodeIdError {
    #[error("a node id has 40 hex digits, not {length} characters")]
    Length { length: usize },
    #[error("a node id has only hex digits")]
    NotHex,
}

/// Where a node serves clients and where it listens for the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeAddress {
    pub ip: IpAddr,
    pub data_port: u16,
    pub bus_port: u16,
}

/// What the cluster believes about a member. Within one incarnation a later state in
/// this order overrides an earlier one; see `MemberUpdate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MemberState {
    /// Answering probes.
    Alive,
    /// A probe failed; the member has a while to refute before it is declared dead.
    Suspect,
    /// Declared failed after its suspicion ran out.
    Dead,
    /// Left the cluster on purpose.
    Left,
}

/// One claim about one member, as gossiped. The member's incarnation is a counter only it
/// raises: to refute a suspicion of itself, or to come back after being declared dead or
/// having left. Claims are ordered by incarnation, then by state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberUpdate {
    pub node: NodeId,
    pub address: NodeAddress,
    pub incarnation: u64,
    pub state: MemberState,
    /// The node that made the claim: the suspecting node for `Suspect`, the declaring
    /// node for `Dead`, the member itself for `Alive` and `Left`. Independent suspicions
    /// of one member shorten its suspicion (Lifeguard).
    pub origin: NodeId,
}

/// The first message on every bus connection, in both directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub sender: NodeId,
    pub address: NodeAddress,
    pub protocol_version: u16,
}

/// A SWIM probe. The receiver answers with an `Ack` of the same sequence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    pub sequence: u64,
    /// The sender's own record, so a receiver that has never heard of it can answer.
    pub sender: MemberUpdate,
    #[serde(deserialize_with = "updates_field")]
    pub updates: Vec<MemberUpdate>,
}

/// An indirect probe: the receiver pings `target` on the sender's behalf and relays the
/// target's ack, under the sender's sequence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingReq {
    pub sequence: u64,
    pub sender: MemberUpdate,
    pub target: NodeId,
    pub target_address: NodeAddress,
    #[serde(deserialize_with = "updates_field")]
    pub updates: Vec<MemberUpdate>,
}

/// The answer to a `Ping`, or a relayed answer to a `PingReq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub sequence: u64,
    /// The probed member's own record (for a relayed ack too, so the prober can tell
    /// whom it is from).
    pub sender: MemberUpdate,
    #[serde(deserialize_with = "updates_field")]
    pub updates: Vec<MemberUpdate>,
}

/// A full exchange of member tables (push-pull): how a node joins through a seed, and
/// how two halves of a healed partition catch up on what gossip no longer carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSync {
    pub sender: MemberUpdate,
    /// Whether the receiver should answer with its own table.
    pub reply_wanted: bool,
    #[serde(deserialize_with = "members_field")]
    pub members: Vec<MemberUpdate>,
}

/// Everything that travels on the cluster bus.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BusMessage {
    Hello(Hello),
    Ping(Ping),
    PingReq(PingReq),
    Ack(Ack),
    StateSync(StateSync),
    /// A Raft RPC, opaque here: `kind` names the RPC and `body` is its encoding, both
    /// owned by the topology's Raft layer.
    Raft {
        kind: u8,
        #[serde(serialize_with = "bytes_out", deserialize_with = "bytes_in")]
        body: Vec<u8>,
    },
}

/// The shared secret that authenticates frames, keyed once.
#[derive(Clone)]
pub struct BusKey {
    mac: HmacSha256,
}

/// How a node frames and checks bus messages: its payload limit and its secret, if any.
#[derive(Clone, Debug)]
pub struct BusCodec {
    payload_max_bytes: usize,
    key: Option<BusKey>,
}

/// Why bytes received on the bus are not a message. Every one ends the connection: after
/// it the stream's framing cannot be trusted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    #[error("not a cluster bus frame: bad magic")]
    BadMagic,
    #[error("cluster bus version {version} is not supported (this node speaks {BUS_VERSION})")]
    UnsupportedVersion { version: u8 },
    #[error("unknown frame flags {flags:#04x}")]
    UnknownFlags { flags: u8 },
    #[error("an unauthenticated frame, but this node requires the cluster secret")]
    MissingMac,
    #[error("an authenticated frame, but this node has no cluster secret to check it")]
    UnexpectedMac,
    #[error("payload of {length} bytes is over the limit of {limit} bytes")]
    TooLarge { length: u32, limit: usize },
    #[error("authentication failed: wrong cluster secret or a changed frame")]
    BadMac,
    #[error("payload does not parse: {0}")]
    Malformed(postcard::Error),
    #[error("{count} bytes after the message in the payload")]
    TrailingBytes { count: usize },
}

/// Why a message cannot be sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BusEncodeError {
    #[error("{count} {what} is over the limit of {limit}")]
    OverLimit {
        what: &'static str,
        count: usize,
        limit: usize,
    },
    #[error("payload of {length} bytes is over the limit of {limit} bytes")]
    TooLarge { length: usize, limit: usize },
    #[error("message does not serialize: {0}")]
    Serialize(postcard::Error),
}

/// Reads messages from a stream of bytes as they arrive, like the RESP decoder: feed what
/// was read, then take messages until `Ok(None)`. After an error it returns that error
/// again on every call.
#[derive(Clone, Debug)]
pub struct BusDecoder {
    codec: BusCodec,
    buffer: BytesMut,
    failed: Option<BusError>,
}

impl NodeId {
    pub const BYTES: usize = 20;
    pub const HEX_LEN: usize = 40;

    pub const fn from_bytes(bytes: [u8; 20]) -> NodeId {
        NodeId(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl FromStr for NodeId {
    type Err = NodeIdError;

    /// Parses 40 hex digits, in either case.
    fn from_str(text: &str) -> Result<NodeId, NodeIdError> {
        let digits = text.as_bytes();
        if digits.len() != NodeId::HEX_LEN {
            return Err(NodeIdError::Length {
                length: digits.len(),
            });
        }
        let mut bytes = [0u8; 20];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let high = hex_value(pair[0]).ok_or(NodeIdError::NotHex)?;
            let low = hex_value(pair[1]).ok_or(NodeIdError::NotHex)?;
            *byte = high << 4 | low;
        }
        Ok(NodeId(bytes))
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl NodeAddress {
    /// Where the node's bus listens: the address bus messages are sent to.
    pub fn bus(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.bus_port)
    }

    /// Where the node serves clients: the address MOVED and ASK name.
    pub fn data(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.data_port)
    }
}

impl MemberUpdate {
    /// Whether this claim replaces `current`, a claim about the same member: a higher
    /// incarnation always does; within one incarnation only a graver state does, so a
    /// member clears a suspicion only by raising its incarnation.
    pub fn overrides(&self, current: &MemberUpdate) -> bool {
        assert_eq!(self.node, current.node, "claims about different members");
        if self.incarnation != current.incarnation {
            return self.incarnation > current.incarnation;
        }
        self.state > current.state
    }
}

impl BusMessage {
    /// Checks the counts a peer is held to, so that what this node sends it will read.
    pub fn check_limits(&self) -> Result<(), BusEncodeError> {
        let (what, count, limit) = match self {
            BusMessage::Ping(ping) => ("updates", ping.updates.len(), BUS_UPDATES_MAX),
            BusMessage::PingReq(req) => ("updates", req.updates.len(), BUS_UPDATES_MAX),
            BusMessage::Ack(ack) => ("updates", ack.updates.len(), BUS_UPDATES_MAX),
            BusMessage::StateSync(sync) => ("members", sync.members.len(), BUS_MEMBERS_MAX),
            BusMessage::Hello(_) | BusMessage::Raft { .. } => return Ok(()),
        };
        if count > limit {
            return Err(BusEncodeError::OverLimit { what, count, limit });
        }
        Ok(())
    }
}

impl BusKey {
    /// Keys HMAC-SHA256 with the cluster's shared secret.
    pub fn new(secret: &[u8]) -> BusKey {
        let mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
        BusKey { mac }
    }

    fn tag(&self, header: &[u8], payload: &[u8]) -> [u8; BUS_TAG_BYTES] {
        let mut mac = self.mac.clone();
        mac.update(header);
        mac.update(payload);
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` authenticates `header` and `payload`, compared in constant time.
    fn verify(&self, header: &[u8], payload: &[u8], tag: &[u8]) -> bool {
        assert_eq!(tag.len(), BUS_TAG_BYTES);
        let mut mac = self.mac.clone();
        mac.update(header);
        mac.update(payload);
        mac.verify_slice(tag).is_ok()
    }
}

impl fmt::Debug for BusKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BusKey(..)")
    }
}

impl BusCodec {
    /// A codec with the largest payload limit, authenticating with `key` if given.
    pub fn new(key: Option<BusKey>) -> BusCodec {
        BusCodec {
            payload_max_bytes: BUS_PAYLOAD_MAX_BYTES,
            key,
        }
    }

    /// Lowers the payload limit; it never rises above `BUS_PAYLOAD_MAX_BYTES`.
    pub fn with_payload_max_bytes(mut self, payload_max_bytes: usize) -> BusCodec {
        self.payload_max_bytes = payload_max_bytes.min(BUS_PAYLOAD_MAX_BYTES);
        self
    }

    pub fn payload_max_bytes(&self) -> usize {
        self.payload_max_bytes
    }

    pub fn is_authenticated(&self) -> bool {
        self.key.is_some()
    }

    /// Appends `message` as one frame, tagged if this codec has a key.
    pub fn encode(&self, message: &BusMessage, out: &mut BytesMut) -> Result<(), BusEncodeError> {
        message.check_limits()?;
        let payload = postcard::to_allocvec(message).map_err(BusEncodeError::Serialize)?;
        if payload.len() > self.payload_max_bytes {
            return Err(BusEncodeError::TooLarge {
                length: payload.len(),
                limit: self.payload_max_bytes,
            });
        }
        let flags = if self.key.is_some() {
            BUS_FLAG_AUTHENTICATED
        } else {
            0
        };
        let mut header = [0u8; BUS_HEADER_BYTES];
        header[..4].copy_from_slice(&BUS_MAGIC);
        header[4] = BUS_VERSION;
        header[5] = flags;
        header[6..].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        out.reserve(BUS_HEADER_BYTES + BUS_TAG_BYTES + payload.len());
        out.put_slice(&header);
        if let Some(key) = &self.key {
            out.put_slice(&key.tag(&header, &payload));
        }
        out.put_slice(&payload);
        Ok(())
    }

    /// Takes one message off the front of `buf`. `Ok(None)`: more bytes are needed and
    /// nothing was consumed. On an error nothing is consumed either; the caller closes
    /// the connection.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<BusMessage>, BusError> {
        let Some(frame_len) = self.check_header(buf)? else {
            return Ok(None);
        };
        if buf.len() < frame_len {
            return Ok(None);
        }
        let tag_len = self.tag_len();
        let (header, rest) = buf[..frame_len].split_at(BUS_HEADER_BYTES);
        let (tag, payload) = rest.split_at(tag_len);
        if let Some(key) = &self.key {
            if !key.verify(header, payload, tag) {
                return Err(BusError::BadMac);
            }
        }
        let message = decode_payload(payload)?;
        let _ = buf.split_to(frame_len);
        Ok(Some(message))
    }

    fn tag_len(&self) -> usize {
        if self.key.is_some() {
            BUS_TAG_BYTES
        } else {
            0
        }
    }

    /// Checks the header fields present in `buf` and, once the whole header is there,
    /// returns the length of the frame it announces.
    fn check_header(&self, buf: &[u8]) -> Result<Option<usize>, BusError> {
        let magic_len = buf.len().min(BUS_MAGIC.len());
        if buf[..magic_len] != BUS_MAGIC[..magic_len] {
            return Err(BusError::BadMagic);
        }
        if let Some(&version) = buf.get(4) {
            if version != BUS_VERSION {
                return Err(BusError::UnsupportedVersion { version });
            }
        }
        if let Some(&flags) = buf.get(5) {
            self.check_flags(flags)?;
        }
        let Some(length_bytes) = buf.get(6..BUS_HEADER_BYTES) else {
            return Ok(None);
        };
        let length = u32::from_le_bytes(length_bytes.try_into().expect("four bytes"));
        if length as usize > self.payload_max_bytes {
            return Err(BusError::TooLarge {
                length,
                limit: self.payload_max_bytes,
            });
        }
        Ok(Some(BUS_HEADER_BYTES + self.tag_len() + length as usize))
    }

    fn check_flags(&self, flags: u8) -> Result<(), BusError> {
        if flags & !BUS_FLAG_AUTHENTICATED != 0 {
            return Err(BusError::UnknownFlags { flags });
        }
        let tagged = flags & BUS_FLAG_AUTHENTICATED != 0;
        match (tagged, self.key.is_some()) {
            (false, true) => Err(BusError::MissingMac),
            (true, false) => Err(BusError::UnexpectedMac),
            _ => Ok(()),
        }
    }
}

/// Parses one message that must fill `payload` exactly.
fn decode_payload(payload: &[u8]) -> Result<BusMessage, BusError> {
    let (message, rest) =
        postcard::take_from_bytes::<BusMessage>(payload).map_err(BusError::Malformed)?;
    if !rest.is_empty() {
        return Err(BusError::TrailingBytes { count: rest.len() });
    }
    Ok(message)
}

impl BusDecoder {
    pub fn new(codec: BusCodec) -> BusDecoder {
        BusDecoder {
            codec,
            buffer: BytesMut::new(),
            failed: None,
        }
    }

    /// Appends bytes read from the connection. Once the decoder has failed they are
    /// dropped.
    pub fn feed(&mut self, data: &[u8]) {
        if self.failed.is_none() {
            self.buffer.extend_from_slice(data);
        }
    }

    /// The next whole message, `Ok(None)` until more bytes arrive, or the error that
    /// ended the stream.
    pub fn next_message(&mut self) -> Result<Option<BusMessage>, BusError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = self.codec.decode(&mut self.buffer);
        if let Err(error) = &result {
            self.failed = Some(error.clone());
            self.buffer = BytesMut::new();
        }
        result
    }

    /// Bytes received but not yet taken as a message.
    pub fn buffered_len(&self) -> usize {
        self.buffer.len()
    }
}

/// Reads `updates` and refuses a count over `BUS_UPDATES_MAX` before allocating.
fn updates_field<'de, D: Deserializer<'de>>(input: D) -> Result<Vec<MemberUpdate>, D::Error> {
    input.deserialize_seq(BoundedVec::<MemberUpdate>::new(BUS_UPDATES_MAX))
}

/// Reads `members` and refuses a count over `BUS_MEMBERS_MAX` before allocating.
fn members_field<'de, D: Deserializer<'de>>(input: D) -> Result<Vec<MemberUpdate>, D::Error> {
    input.deserialize_seq(BoundedVec::<MemberUpdate>::new(BUS_MEMBERS_MAX))
}

/// A sequence visitor that checks the declared count against a limit, and never
/// reserves more than it.
struct BoundedVec<T> {
    limit: usize,
    marker: std::marker::PhantomData<T>,
}

impl<T> BoundedVec<T> {
    fn new(limit: usize) -> BoundedVec<T> {
        BoundedVec {
            limit,
            marker: std::marker::PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for BoundedVec<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a sequence of at most {} elements", self.limit)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let declared = seq.size_hint().unwrap_or(0);
        if declared > self.limit {
            return Err(serde::de::Error::invalid_length(declared, &self));
        }
        let mut items = Vec::with_capacity(declared);
        // Bounded by the limit: a sequence that runs past it is refused.
        while let Some(item) = seq.next_element()? {
            if items.len() == self.limit {
                return Err(serde::de::Error::invalid_length(self.limit + 1, &self));
            }
            items.push(item);
        }
        Ok(items)
    }
}

/// Writes a byte string as one length-prefixed block rather than element by element.
fn bytes_out<S: Serializer>(body: &[u8], output: S) -> Result<S::Ok, S::Error> {
    output.serialize_bytes(body)
}

/// Reads a byte string whose length postcard checks against the bytes left in the
/// payload before copying it.
fn bytes_in<'de, D: Deserializer<'de>>(input: D) -> Result<Vec<u8>, D::Error> {
    struct BytesVisitor;
    impl<'de> serde::de::Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
            Ok(bytes.to_vec())
        }
    }
    input.deserialize_bytes(BytesVisitor)
}

/// The check that the `cluster_bus_decode` fuzz target and the corpus test run on
/// arbitrary bytes, kept here so they cannot drift apart. It reads `data` as a stream of
/// frames under three codecs (plain, authenticated, and plain with a small limit), whole
/// and fed in uneven pieces, and checks both ways agree; then frames `data` as one
/// payload, plain and with a correct tag, so the payload parser is reached past the
/// header. Every message decoded must encode and decode back to itself.
pub fn check_bus_decode(data: &[u8]) {
    let plain = BusCodec::new(None);
    let keyed = BusCodec::new(Some(BusKey::new(BUS_TEST_SECRET)));
    let small = BusCodec::new(None).with_payload_max_bytes(64);
    for codec in [&plain, &keyed, &small] {
        let whole = decode_all(codec, data);
        let pieces = decode_in_pieces(codec, data);
        assert_eq!(whole, pieces, "whole and piecewise decoding agree");
        for message in &whole.0 {
            check_round_trip(codec, message);
        }
    }
    if data.len() <= BUS_PAYLOAD_MAX_BYTES {
        let bare = decode_payload(data);
        let (framed, tagged) = (frame_payload(&plain, data), frame_payload(&keyed, data));
        let expected = bare.clone().map(Some);
        assert_eq!(plain.decode(&mut BytesMut::from(&framed[..])), expected);
        assert_eq!(keyed.decode(&mut BytesMut::from(&tagged[..])), expected);
        let mut forged = BytesMut::from(&tagged[..]);
        forged[BUS_HEADER_BYTES] ^= 0x01;
        assert_eq!(keyed.decode(&mut forged), Err(BusError::BadMac));
        if let Ok(message) = bare {
            check_round_trip(&plain, &message);
        }
    }
}

/// Every message in `data` and how the stream ended (`None`: it needs more bytes).
type Decoded = (Vec<BusMessage>, Option<BusError>);

fn decode_all(codec: &BusCodec, data: &[u8]) -> Decoded {
    let mut buf = BytesMut::from(data);
    let mut messages = Vec::new();
    // Bounded by the input: each message consumes at least a header.
    loop {
        let before = buf.len();
        match codec.decode(&mut buf) {
            Ok(Some(message)) => {
                assert!(buf.len() + BUS_HEADER_BYTES <= before);
                messages.push(message);
            }
            Ok(None) => return (messages, None),
            Err(error) => {
                assert_eq!(buf.len(), before, "an error consumes nothing");
                return (messages, Some(error));
            }
        }
    }
}

fn decode_in_pieces(codec: &BusCodec, data: &[u8]) -> Decoded {
    let mut decoder = BusDecoder::new(codec.clone());
    let mut messages = Vec::new();
    let mut fed = 0;
    let mut piece_len = 1;
    // Bounded by the input: every pass feeds at least one byte or ends the loop.
    loop {
        match decoder.next_message() {
            Ok(Some(message)) => messages.push(message),
            Ok(None) if fed < data.len() => {
                let end = data.len().min(fed + piece_len);
                decoder.feed(&data[fed..end]);
                fed = end;
                piece_len = piece_len % 11 + 3;
            }
            Ok(None) => return (messages, None),
            Err(error) => {
                assert_eq!(decoder.next_message(), Err(error.clone()), "errors stick");
                return (messages, Some(error));
            }
        }
    }
}

fn check_round_trip(codec: &BusCodec, message: &BusMessage) {
    let mut encoded = BytesMut::new();
    codec
        .encode(message, &mut encoded)
        .expect("a decoded message is within the limits it was decoded under");
    let again = codec.decode(&mut encoded);
    assert_eq!(again.as_ref(), Ok(&Some(message.clone())));
    assert!(encoded.is_empty());
}

/// `payload` framed whole with a correct header, and tag if `codec` has a key.
fn frame_payload(codec: &BusCodec, payload: &[u8]) -> BytesMut {
    assert!(payload.len() <= BUS_PAYLOAD_MAX_BYTES);
    let mut header = [0u8; BUS_HEADER_BYTES];
    header[..4].copy_from_slice(&BUS_MAGIC);
    header[4] = BUS_VERSION;
    header[5] = if codec.key.is_some() {
        BUS_FLAG_AUTHENTICATED
    } else {
        0
    };
    header[6..].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    let mut out = BytesMut::with_capacity(BUS_HEADER_BYTES + BUS_TAG_BYTES + payload.len());
    out.put_slice(&header);
    if let Some(key) = &codec.key {
        out.put_slice(&key.tag(&header, payload));
    }
    out.put_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn node(byte: u8) -> NodeId {
        NodeId::from_bytes([byte; 20])
    }

    fn address(last: u8) -> NodeAddress {
        NodeAddress {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
            data_port: 6379,
            bus_port: 16379,
        }
    }

    fn update(byte: u8, incarnation: u64, state: MemberState) -> MemberUpdate {
        MemberUpdate {
            node: node(byte),
            address: address(byte),
            incarnation,
            state,
            origin: node(byte),
        }
    }

    fn ping() -> BusMessage {
        BusMessage::Ping(Ping {
            sequence: 7,
            sender: update(1, 3, MemberState::Alive),
            updates: vec![
                update(2, 0, MemberState::Suspect),
                update(3, 9, MemberState::Dead),
            ],
        })
    }

    fn encoded(codec: &BusCodec, message: &BusMessage) -> BytesMut {
        let mut out = BytesMut::new();
        codec.encode(message, &mut out).expect("encodes");
        out
    }

    #[test]
    fn node_ids_print_and_parse_as_forty_hex_digits() {
        let id = NodeId::from_bytes(
            *b"\x01\x23\x45\x67\x89\xab\xcd\xef\x00\xff\x01\x23\x45\x67\x89\xab\xcd\xef\x00\xff",
        );
        let text = id.to_string();
        assert_eq!(text, "0123456789abcdef00ff0123456789abcdef00ff");
        assert_eq!(text.parse::<NodeId>(), Ok(id));
        assert_eq!(text.to_uppercase().parse::<NodeId>(), Ok(id));
        assert_eq!(
            "abc".parse::<NodeId>(),
            Err(NodeIdError::Length { length: 3 })
        );
        let bad = format!("{}g", &text[..39]);
        assert_eq!(bad.parse::<NodeId>(), Err(NodeIdError::NotHex));
    }

    #[test]
    fn golden_header_bytes() {
        let out = encoded(&BusCodec::new(None), &ping());
        assert_eq!(&out[..6], b"EMCB\x01\x00");
        let length = u32::from_le_bytes(out[6..10].try_into().unwrap()) as usize;
        assert_eq!(out.len(), BUS_HEADER_BYTES + length);
        // The variant index of `Ping`, then the sequence as a varint.
        assert_eq!(&out[10..12], b"\x01\x07");
        let keyed = BusCodec::new(Some(BusKey::new(b"secret")));
        let out = encoded(&keyed, &ping());
        assert_eq!(&out[..6], b"EMCB\x01\x01");
        assert_eq!(out.len(), BUS_HEADER_BYTES + BUS_TAG_BYTES + length);
    }

    #[test]
    fn every_message_round_trips_under_both_codecs() {
        let messages = [
            BusMessage::Hello(Hello {
                sender: node(4),
                address: NodeAddress {
                    ip: "::1".parse().unwrap(),
                    data_port: 7000,
                    bus_port: 17000,
                },
                protocol_version: BUS_PROTOCOL_VERSION,
            }),
            ping(),
            BusMessage::PingReq(PingReq {
                sequence: u64::MAX,
                sender: update(1, 0, MemberState::Alive),
                target: node(2),
                target_address: address(2),
                updates: vec![],
            }),
            BusMessage::Ack(Ack {
                sequence: 0,
                sender: update(2, 1, MemberState::Alive),
                updates: vec![update(5, 2, MemberState::Left)],
            }),
            BusMessage::StateSync(StateSync {
                sender: update(1, 0, MemberState::Alive),
                reply_wanted: true,
                members: (0..100).map(|i| update(i, 1, MemberState::Alive)).collect(),
            }),
            BusMessage::Raft {
                kind: 3,
                body: vec![0, 1, 2, 255],
            },
        ];
        let codecs = [BusCodec::new(None), BusCodec::new(Some(BusKey::new(b"k")))];
        for codec in &codecs {
            let mut stream = BytesMut::new();
            for message in &messages {
                stream.extend_from_slice(&encoded(codec, message));
            }
            for message in &messages {
                assert_eq!(codec.decode(&mut stream), Ok(Some(message.clone())));
            }
            assert!(stream.is_empty());
        }
    }

    #[test]
    fn streaming_decoder_waits_for_each_byte() {
        let codec = BusCodec::new(Some(BusKey::new(b"k")));
        let frame = encoded(&codec, &ping());
        let mut decoder = BusDecoder::new(codec);
        for &byte in &frame[..frame.len() - 1] {
            decoder.feed(&[byte]);
            assert_eq!(decoder.next_message(), Ok(None));
        }
        decoder.feed(&frame[frame.len() - 1..]);
        assert_eq!(decoder.next_message(), Ok(Some(ping())));
        assert_eq!(decoder.buffered_len(), 0);
        assert_eq!(decoder.next_message(), Ok(None));
    }

    #[test]
    fn header_errors_come_as_soon_as_their_bytes_arrive() {
        let codec = BusCodec::new(None);
        assert_eq!(codec.decode(&mut BytesMut::from(&b"EM"[..])), Ok(None));
        assert_eq!(
            codec.decode(&mut BytesMut::from(&b"*1\r\n"[..])),
            Err(BusError::BadMagic)
        );
        assert_eq!(
            codec.decode(&mut BytesMut::from(&b"EMCB\x02"[..])),
            Err(BusError::UnsupportedVersion { version: 2 })
        );
        assert_eq!(
            codec.decode(&mut BytesMut::from(&b"EMCB\x01\x80"[..])),
            Err(BusError::UnknownFlags { flags: 0x80 })
        );
        assert_eq!(
            codec.decode(&mut BytesMut::from(&b"EMCB\x01\x01"[..])),
            Err(BusError::UnexpectedMac)
        );
        let keyed = BusCodec::new(Some(BusKey::new(b"k")));
        assert_eq!(
            keyed.decode(&mut BytesMut::from(&b"EMCB\x01\x00"[..])),
            Err(BusError::MissingMac)
        );
    }

    #[test]
    fn a_declared_length_over_the_limit_is_refused_from_the_header_alone() {
        let codec = BusCodec::new(None).with_payload_max_bytes(100);
        let mut buf = BytesMut::from(&b"EMCB\x01\x00\xff\xff\xff\xff"[..]);
        assert_eq!(
            codec.decode(&mut buf),
            Err(BusError::TooLarge {
                length: u32::MAX,
                limit: 100
            })
        );
        assert_eq!(buf.len(), BUS_HEADER_BYTES, "an error consumes nothing");
        let big = BusMessage::Raft {
            kind: 0,
            body: vec![0; 200],
        };
        assert!(matches!(
            codec.encode(&big, &mut BytesMut::new()),
            Err(BusEncodeError::TooLarge { limit: 100, .. })
        ));
        let unlimited = BusCodec::new(None).with_payload_max_bytes(usize::MAX);
        assert_eq!(unlimited.payload_max_bytes(), BUS_PAYLOAD_MAX_BYTES);
    }

    #[test]
    fn a_wrong_secret_or_a_changed_byte_fails_authentication() {
        let codec = BusCodec::new(Some(BusKey::new(b"right")));
        let frame = encoded(&codec, &ping());
        let wrong = BusCodec::new(Some(BusKey::new(b"wrong")));
        assert_eq!(wrong.decode(&mut frame.clone()), Err(BusError::BadMac));
        for index in [
            6,
            BUS_HEADER_BYTES,
            BUS_HEADER_BYTES + BUS_TAG_BYTES,
            frame.len() - 1,
        ] {
            let mut changed = frame.clone();
            changed[index] ^= 0x01;
            let result = codec.decode(&mut changed);
            // A changed length is either refused or waits for bytes that never come.
            assert!(
                matches!(result, Err(BusError::BadMac) | Ok(None)),
                "byte {index}: {result:?}"
            );
        }
    }

    #[test]
    fn malformed_payloads_are_typed_errors() {
        let codec = BusCodec::new(None);
        let mut unknown_variant = frame_payload(&codec, b"\x09");
        assert!(matches!(
            codec.decode(&mut unknown_variant),
            Err(BusError::Malformed(_))
        ));
        let mut payload = postcard::to_allocvec(&ping()).unwrap();
        payload.push(0);
        assert_eq!(
            codec.decode(&mut frame_payload(&codec, &payload)),
            Err(BusError::TrailingBytes { count: 1 })
        );
        let mut empty = frame_payload(&codec, b"");
        assert!(matches!(
            codec.decode(&mut empty),
            Err(BusError::Malformed(_))
        ));
    }

    #[test]
    fn counts_over_their_limits_are_refused_both_ways() {
        let too_many = BusMessage::Ack(Ack {
            sequence: 1,
            sender: update(1, 0, MemberState::Alive),
            updates: vec![update(2, 0, MemberState::Alive); BUS_UPDATES_MAX + 1],
        });
        let codec = BusCodec::new(None);
        assert_eq!(
            codec.encode(&too_many, &mut BytesMut::new()),
            Err(BusEncodeError::OverLimit {
                what: "updates",
                count: BUS_UPDATES_MAX + 1,
                limit: BUS_UPDATES_MAX
            })
        );
        let payload = postcard::to_allocvec(&too_many).unwrap();
        let result = codec.decode(&mut frame_payload(&codec, &payload));
        assert!(matches!(result, Err(BusError::Malformed(_))), "{result:?}");
        // A count of 2^32 - 1 in five bytes is refused before anything is reserved.
        let mut huge = b"\x03\x01".to_vec();
        huge.extend_from_slice(&postcard::to_allocvec(&update(1, 0, MemberState::Alive)).unwrap());
        huge.extend_from_slice(b"\xff\xff\xff\xff\x0f");
        let result = codec.decode(&mut frame_payload(&codec, &huge));
        assert!(matches!(result, Err(BusError::Malformed(_))), "{result:?}");
    }

    #[test]
    fn a_raft_body_longer_than_the_payload_is_refused() {
        let codec = BusCodec::new(None);
        let result = codec.decode(&mut frame_payload(&codec, b"\x05\x01\xff\xff\x03ab"));
        assert!(matches!(result, Err(BusError::Malformed(_))), "{result:?}");
    }

    #[test]
    fn the_decoder_stays_failed_after_an_error() {
        let mut decoder = BusDecoder::new(BusCodec::new(None));
        decoder.feed(b"GARBAGE");
        assert_eq!(decoder.next_message(), Err(BusError::BadMagic));
        decoder.feed(&encoded(&BusCodec::new(None), &ping()));
        assert_eq!(decoder.next_message(), Err(BusError::BadMagic));
        assert_eq!(decoder.buffered_len(), 0);
    }

    #[test]
    fn claims_order_by_incarnation_then_state() {
        let alive = update(1, 4, MemberState::Alive);
        let suspect = update(1, 4, MemberState::Suspect);
        let dead = update(1, 4, MemberState::Dead);
        let refuted = update(1, 5, MemberState::Alive);
        assert!(suspect.overrides(&alive));
        assert!(!alive.overrides(&suspect));
        assert!(dead.overrides(&suspect));
        assert!(refuted.overrides(&dead));
        assert!(!update(1, 3, MemberState::Left).overrides(&alive));
        assert!(!alive.overrides(&alive));
    }

    #[test]
    fn check_bus_decode_accepts_assorted_input() {
        let keyed = BusCodec::new(Some(BusKey::new(BUS_TEST_SECRET)));
        let frame = encoded(&keyed, &ping());
        for cut in 0..=frame.len() {
            check_bus_decode(&frame[..cut]);
        }
        let plain = encoded(&BusCodec::new(None), &ping());
        check_bus_decode(&plain);
        check_bus_decode(&postcard::to_allocvec(&ping()).unwrap());
        check_bus_decode(b"");
        check_bus_decode(b"EMCB\x01\x00\x00\x00\x00\x00");
    }
}
