//! DUMP and RESTORE: a key's value as a versioned, checksummed payload (`ember_proto::dump`)
//! and a key made from one, on this node or another. RESTORE follows Redis's checks, their
//! order and their error texts: options, then BUSYKEY, then the TTL, then the payload.
//!
//! A restored value is rebuilt as snapshot loading rebuilds one, so collections take the
//! encodings today's thresholds give them, whatever they had where they were dumped.

use ahash::RandomState;
use bytes::Bytes;
use ember_proto::dump::{decode_dump, encode_dump};
use ember_proto::snapshot::SnapshotValue;
use ember_proto::Frame;

use super::table::{flag::*, CommandSpec, ONE_KEY};
use super::{ok, Args, CmdError, Ctx};
use crate::keyspace::cut::from_snapshot;
use crate::keyspace::evict::{self, Policy};
use crate::keyspace::{EncodingLimits, Ttl, Value};

super::table::keyed_family!("generic");

pub const COMMANDS: &[CommandSpec] = &[
    cmd("dump", 2, READONLY, ONE_KEY, "2.6.0", "Returns a serialized representation of the value stored at a key.", "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).", dump),
    cmd("restore-asking", -4, WRITE | DENYOOM | DANGEROUS, ONE_KEY, "3.0.0", "An internal command for migrating keys in a cluster: RESTORE, as if ASKING came first.", "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size.", restore),
    cmd("restore", -4, WRITE | DENYOOM | DANGEROUS, ONE_KEY, "2.6.0", "Creates a key from the serialized representation of a value.", "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).", restore),
];

/// The width of an entry's access field, and of the LRU clock kept in it (`evict`).
const ACCESS_MASK: u32 = (1 << 24) - 1;

/// The largest LFU counter (FREQ's range is 0..=255, as in Redis).
const FREQ_MAX: i64 = 255;

/// RESTORE's options after the key, the TTL and the payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct RestoreOptions {
    replace: bool,
    /// The TTL argument is a unix time in ms, not a duration.
    absttl: bool,
    idle_seconds: Option<u64>,
    freq: Option<u8>,
}

impl RestoreOptions {
    /// Parses the options with Redis's rules: IDLETIME and FREQ each need a value, and once
    /// one of them was given the other is a syntax error.
    fn parse(args: &mut Args) -> Result<RestoreOptions, CmdError> {
        let mut options = RestoreOptions::default();
        // Bounded by the arguments: every pass consumes at least one or fails.
        while !args.is_empty() {
            let has_value = args.remaining() >= 2;
            if args.flag("REPLACE") {
                options.replace = true;
            } else if args.flag("ABSTTL") {
                options.absttl = true;
            } else if has_value && options.freq.is_none() && args.flag("IDLETIME") {
                let idle = args.i64()?;
                let idle = u64::try_from(idle)
                    .map_err(|_| CmdError::Err("Invalid IDLETIME value, must be >= 0".into()))?;
                options.idle_seconds = Some(idle);
            } else if has_value && options.idle_seconds.is_none() && args.flag("FREQ") {
                let freq = args.i64()?;
                if !(0..=FREQ_MAX).contains(&freq) {
                    return Err(CmdError::Err(
                        "Invalid FREQ value, must be >= 0 and <= 255".into(),
                    ));
                }
                options.freq = Some(u8::try_from(freq).expect("checked range"));
            } else {
                return Err(CmdError::Syntax);
            }
        }
        assert!(options.idle_seconds.is_none() || options.freq.is_none());
        Ok(options)
    }

    /// When the key expires: never for a TTL of 0, else the TTL as a unix time (ABSTTL) or
    /// as a duration from now.
    fn expire_at(&self, ttl: u64, now_ms: u64) -> Option<u64> {
        match (ttl, self.absttl) {
            (0, _) => None,
            (at, true) => Some(at),
            (duration, false) => Some(now_ms.saturating_add(duration)),
        }
    }

    /// The access field the key starts with, when an option sets one that `policy` tracks:
    /// FREQ is an LFU counter and IDLETIME an LRU age, each ignored under the other kind
    /// of policy, as in Redis. An idle time past the clock's range is clamped to it.
    fn access(&self, policy: Policy, now_ms: u64) -> Option<u32> {
        match (self.freq, self.idle_seconds) {
            (Some(freq), _) if policy.is_lfu() => {
                // The LFU field is (minutes << 8 | counter): keep today's minutes.
                let fresh = evict::initial_access(policy, now_ms);
                Some(fresh & !0xFF | u32::from(freq))
            }
            (_, Some(idle)) if !policy.is_lfu() => {
                let idle = u32::try_from(idle).unwrap_or(ACCESS_MASK).min(ACCESS_MASK);
                Some(evict::lru_clock(now_ms).wrapping_sub(idle) & ACCESS_MASK)
            }
            _ => None,
        }
    }
}

/// DUMP key: the key's value as a payload RESTORE takes back, or nil when the key is
/// missing. A read: it counts a hit or a miss and an access, as Redis's DUMP does.
fn dump(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let store = ctx.store(&key);
    if store.get(db, &key, now).is_none() {
        return Ok(Frame::Null);
    }
    let entry = store.entry_of(db, &key).expect("the key is live");
    let payload = encode_dump(&entry.value)
        .ok_or_else(|| CmdError::Err("value is too large to DUMP".into()))?;
    Ok(Frame::Bulk(payload))
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]:
/// creates `key` from a DUMP payload. A TTL that is already past creates nothing (deleting
/// the old value under REPLACE) and still answers OK, as Redis does. The AOF records the
/// key's resulting state (`persist::log`).
fn restore(ctx: &mut Ctx, args: &mut Args) -> Result<Frame, CmdError> {
    let key = args.key()?;
    let ttl = args.bytes()?;
    let payload = args.bytes()?;
    let options = RestoreOptions::parse(args)?;
    let (db, now) = (ctx.db, ctx.now_ms);
    let limits = ctx.encoding_limits();
    let store = ctx.store(&key);
    if !options.replace && store.exists(db, &key, now) {
        return Err(CmdError::Raw(
            "BUSYKEY Target key name already exists.".into(),
        ));
    }
    let ttl = super::args::parse_i64(&ttl).ok_or(CmdError::NotInteger)?;
    let ttl =
        u64::try_from(ttl).map_err(|_| CmdError::Err("Invalid TTL value, must be >= 0".into()))?;
    let value = restored_value(&payload, &limits, store.hasher())?;
    let expire_at = options.expire_at(ttl, now);
    if expire_at.is_some_and(|at| at <= now) {
        if options.replace {
            store.discard(db, &key, now);
        }
        return Ok(ok());
    }
    store.insert(db, &key, value, expire_at.map_or(Ttl::Clear, Ttl::At), now);
    if let Some(access) = options.access(store.eviction().policy, now) {
        let present = store.set_access(db, &key, access);
        assert!(present, "the key was just inserted");
    }
    Ok(ok())
}

/// The value a payload holds, built for this keyspace. A payload whose footer is wrong and
/// one whose value is damaged get Redis's two different errors.
fn restored_value(
    payload: &Bytes,
    limits: &EncodingLimits,
    hasher: &RandomState,
) -> Result<Value, CmdError> {
    let bad_format = || CmdError::Err("Bad data format".into());
    let value = decode_dump(payload).map_err(|error| {
        if error.is_footer() {
            CmdError::Err("DUMP payload version or checksum are wrong".into())
        } else {
            bad_format()
        }
    })?;
    // The payload is a slice of the request buffer: a string copies out its own bytes, so
    // the key neither pins the buffer nor is accounted for less than it holds. Collections
    // copy their elements as they are built.
    let value = match value {
        SnapshotValue::Str(bytes) => SnapshotValue::Str(Bytes::copy_from_slice(&bytes)),
        collection => collection,
    };
    from_snapshot(value, limits, hasher).ok_or_else(bad_format)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<RestoreOptions, CmdError> {
        let argv: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        RestoreOptions::parse(&mut Args::new(&argv, 0))
    }

    #[test]
    fn options_parse_like_redis() {
        assert_eq!(parse(&[]), Ok(RestoreOptions::default()));
        let all = parse(&["replace", "ABSTTL", "IdleTime", "7"]).expect("valid");
        assert!(all.replace && all.absttl);
        assert_eq!(all.idle_seconds, Some(7));
        assert_eq!(parse(&["FREQ", "255"]).expect("valid").freq, Some(255));
        assert_eq!(
            parse(&["IDLETIME", "1", "IDLETIME", "2"])
                .expect("repeats override")
                .idle_seconds,
            Some(2)
        );
        assert_eq!(
            parse(&["IDLETIME", "1", "FREQ", "2"]),
            Err(CmdError::Syntax)
        );
        assert_eq!(
            parse(&["FREQ", "2", "IDLETIME", "1"]),
            Err(CmdError::Syntax)
        );
        assert_eq!(parse(&["IDLETIME"]), Err(CmdError::Syntax));
        assert_eq!(parse(&["NX"]), Err(CmdError::Syntax));
        assert_eq!(parse(&["FREQ", "x"]), Err(CmdError::NotInteger));
        let message = |words: &[&str]| parse(words).expect_err("refused").message();
        assert_eq!(
            message(&["IDLETIME", "-1"]),
            "ERR Invalid IDLETIME value, must be >= 0"
        );
        assert_eq!(
            message(&["FREQ", "256"]),
            "ERR Invalid FREQ value, must be >= 0 and <= 255"
        );
    }

    #[test]
    fn ttls_are_durations_or_unix_times() {
        let relative = RestoreOptions::default();
        let absolute = RestoreOptions {
            absttl: true,
            ..RestoreOptions::default()
        };
        assert_eq!(relative.expire_at(0, 1000), None);
        assert_eq!(absolute.expire_at(0, 1000), None);
        assert_eq!(relative.expire_at(50, 1000), Some(1050));
        assert_eq!(absolute.expire_at(50, 1000), Some(50));
        assert_eq!(relative.expire_at(u64::MAX, 1000), Some(u64::MAX));
    }

    #[test]
    fn access_fields_read_back_as_the_options_set_them() {
        let now = 1_700_000_123_456;
        let idle = RestoreOptions {
            idle_seconds: Some(3600),
            ..RestoreOptions::default()
        };
        let access = idle
            .access(Policy::AllKeysLru, now)
            .expect("LRU tracks idle time");
        assert_eq!(evict::idle_ms(access, now), 3_600_000);
        assert_eq!(idle.access(Policy::AllKeysLfu, now), None);
        let huge = RestoreOptions {
            idle_seconds: Some(u64::MAX),
            ..RestoreOptions::default()
        };
        let access = huge.access(Policy::NoEviction, now).expect("clamped");
        assert_eq!(evict::idle_ms(access, now), u64::from(ACCESS_MASK) * 1000);
        let freq = RestoreOptions {
            freq: Some(200),
            ..RestoreOptions::default()
        };
        let access = freq
            .access(Policy::VolatileLfu, now)
            .expect("LFU tracks FREQ");
        assert_eq!(evict::lfu_counter(access, now, 1), 200);
        assert_eq!(freq.access(Policy::AllKeysLru, now), None);
    }
}
