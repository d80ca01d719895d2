//! ember-proto: ember's wire formats, as pure code with no I/O and no clock.
//!
//! Module map:
//! - `resp::frame`: the `Frame` value that every RESP2/RESP3 reply or request is made of.
//! - `resp::decode`: incremental, zero-copy decoders. `decode_request` is the server's view
//!   of a client request (multibulk or inline, with Redis's exact protocol errors), and
//!   `decode` reads any RESP2/RESP3 frame (the client's view).
//! - `resp::encode`: the encoder, with Redis's RESP2 downgrades of RESP3 types.
//! - `fuzzing`: the decode/encode loop shared by the fuzz target and the corpus test.
//! - `aof`: the append-only file's checksummed records, and how a damaged file ends.
//! - `cluster_bus`: the cluster bus's messages (SWIM, Raft envelopes, the handshake), their
//!   versioned, size-limited frames with optional HMAC-SHA256, and a streaming decoder.
//! - `snapshot`: the per-shard point-in-time file: header, checksummed blocks, footer.
//! - `dump`: the DUMP/RESTORE payload: one value in the snapshot's encoding, then a
//!   version and a checksum.
//! - `seal` (feature `encryption`): AES-256-GCM sealing of AOF records and snapshot blocks,
//!   its nonces, key check and key file.

pub mod aof;
pub mod cluster_bus;
pub mod dump;
pub mod fuzzing;
pub mod resp;
#[cfg(feature = "encryption")]
pub mod seal;
pub mod snapshot;

pub use aof::{
    classify_tail, classify_tail_with, encode_record, first_record, read_records,
    read_records_with, record_payload_len, AofDamage, AofDecoder, AofEnd, AofRecord, AofScan,
    AofStreamError, OpenError, PayloadError, PayloadOpener, Plain,
};
pub use dump::{decode_dump, encode_dump, DumpError};
pub use resp::decode::{decode, decode_request, DecodeError, Limits};
pub use resp::encode::{encode, format_double, Protocol};
pub use resp::frame::Frame;
pub use snapshot::{
    SnapshotEntry, SnapshotError, SnapshotErrorKind, SnapshotHeader, SnapshotReader, SnapshotValue,
    SnapshotWriteError, SnapshotWriter,
};
