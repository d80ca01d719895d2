//! Every bound the node enforces, as named constants with the unit last.
//!
//! Config may lower a limit but never raise it past these values; relationships between
//! bounds are checked at compile time so a careless edit cannot make them inconsistent.

/// Largest string value (and bulk argument) accepted: Redis's `proto-max-bulk-len`.
pub const STRING_LEN_MAX_BYTES: usize = 512 * 1024 * 1024;

/// Number of logical databases SELECT can reach.
pub const DATABASES_MAX: usize = 16;

/// A connection whose unparsed input grows past this is closed (Redis's client-query-buffer-limit).
pub const QUERY_BUFFER_MAX_BYTES: usize = 1024 * 1024 * 1024;

/// How many bytes one socket read asks for when the buffer has no room left.
pub const READ_CHUNK_BYTES: usize = 16 * 1024;

/// Clients accepted at once before new ones are refused with an error.
pub const CLIENTS_MAX: usize = 10_000;

/// Longest client name CLIENT SETNAME accepts.
pub const CLIENT_NAME_MAX_BYTES: usize = 1024;

/// Keys sampled per round of the active expiry cycle (Redis: 20).
pub const EXPIRE_SAMPLE_KEYS: usize = 20;

/// Rounds per active expiry tick: the cycle stops here even if most samples were expired.
pub const EXPIRE_ROUNDS_MAX: usize = 16;

/// Share of one tick the active expiry cycle may spend, in percent (Redis: 25).
pub const EXPIRE_TICK_BUDGET_PERCENT: u64 = 25;

/// Largest COUNT a SCAN call may do work for in one call; larger counts are clamped.
pub const SCAN_COUNT_MAX: usize = 100_000;

/// Shards a node may run; the SCAN cursor reserves 8 bits for the shard index.
pub const SHARDS_MAX: usize = 256;

/// Largest absolute time, in ms, an expiry can name before it is refused as invalid.
pub const EXPIRE_AT_MAX_MS: i64 = i64::MAX / 2;

/// Requests one connection executes from a single read before it writes replies.
pub const PIPELINE_BATCH_MAX: usize = 1024;

/// Bytes of published messages queued for one subscriber before it is cut off (Redis's
/// client-output-buffer-limit for pubsub clients: 32 MB).
pub const PUBSUB_QUEUE_MAX_BYTES: usize = 32 * 1024 * 1024;

/// A value with more elements than this (or a database with more keys) is freed off the
/// hot path when deleted (Redis's LAZYFREE_THRESHOLD).
pub const LAZY_FREE_ELEMENTS_MIN: usize = 64;

/// Bytes of replies a connection buffers before flushing mid-batch.
pub const REPLY_BUFFER_FLUSH_BYTES: usize = 64 * 1024;

const _: () = assert!(
    SHARDS_MAX <= 256,
    "the SCAN cursor keeps the shard in 8 bits"
);
const _: () = assert!(STRING_LEN_MAX_BYTES < QUERY_BUFFER_MAX_BYTES);
const _: () = assert!(EXPIRE_TICK_BUDGET_PERCENT > 0 && EXPIRE_TICK_BUDGET_PERCENT < 100);
const _: () = assert!(READ_CHUNK_BYTES <= REPLY_BUFFER_FLUSH_BYTES);

/// The shortest cluster-bus secret `--cluster-secret-file` accepts: 16 bytes, so that a
/// guessable word is refused.
pub const CLUSTER_SECRET_MIN_BYTES: usize = 16;
