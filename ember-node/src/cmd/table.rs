//! The command table: every command as data. Dispatch, the arity check, key extraction for
//! routing, COMMAND INFO/DOCS/COUNT and ACL categories all read it; nothing restates arity
//! or key positions anywhere else.

use std::sync::OnceLock;

use bytes::Bytes;
use ember_proto::Frame;

use super::{
    bitmap, cluster, connection, dump, hash, keys, list, migrate, persistence, pubsub, server, set,
    string, transaction, zset, DataFn, SessionFn,
};

pub mod flag {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const FAST: u32 = 1 << 9;
    pub const NO_AUTH: u32 = 1 << 10;
    pub const NO_MULTI: u32 = 1 << 11;
    pub const DANGEROUS: u32 = 1 << 12;
    /// Set by the table for specs with a `keynum`; never written in a spec.
    pub const MOVABLE_KEYS: u32 = 1 << 13;

    /// Flag names as COMMAND INFO reports them.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MULTI, "no_multi"),
        (MOVABLE_KEYS, "movablekeys"),
    ];
}

/// Key positions, as Redis's legacy (first, last, step) triple: `last = -1` means through
/// the end, `-2` all but the last argument. `keynum`, when not 0, is the index of a
/// `numkeys` argument followed by that many keys (LMPOP, ZUNIONSTORE, SINTERCARD ...): such
/// commands have "movable keys" that only the arguments can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub first: i32,
    pub last: i32,
    pub step: i32,
    pub keynum: i32,
}

impl KeySpec {
    /// Fixed keys at (first, last, step) plus `numkeys` keys after the argument at `keynum`.
    pub const fn with_keynum(first: i32, last: i32, step: i32, keynum: i32) -> KeySpec {
        KeySpec {
            first,
            last,
            step,
            keynum,
        }
    }
}

pub const NO_KEYS: KeySpec = KeySpec {
    first: 0,
    last: 0,
    step: 0,
    keynum: 0,
};
pub const ONE_KEY: KeySpec = KeySpec {
    first: 1,
    last: 1,
    step: 1,
    keynum: 0,
};
pub const ALL_KEYS: KeySpec = KeySpec {
    first: 1,
    last: -1,
    step: 1,
    keynum: 0,
};
pub const KEY_VALUE_PAIRS: KeySpec = KeySpec {
    first: 1,
    last: -1,
    step: 2,
    keynum: 0,
};
pub const TWO_KEYS: KeySpec = KeySpec {
    first: 1,
    last: 2,
    step: 1,
    keynum: 0,
};

#[derive(Clone, Copy)]
pub enum Handler {
    Data(DataFn),
    Session(SessionFn),
    /// A container such as CLIENT: the second argument names one of `subcommands`.
    Container,
    /// EXEC, which the connection runs itself (it borrows stores for the whole queue).
    Exec,
    /// SUBSCRIBE and friends: several reply frames.
    Subscription(super::SubscriptionFn),
    /// SAVE, BGSAVE, BGREWRITEAOF and SHUTDOWN, which the connection runs itself (they wait
    /// for shards to write their files).
    Persistence,
    /// CLUSTER's subcommands, which the connection runs itself (they wait for Raft commits
    /// or read the store of the shard that owns a slot).
    Cluster,
    /// MIGRATE, which the connection runs itself (it holds stores across network I/O).
    Migrate,
}

/// Defines a family's `cmd`: a data command routed by its keys, in `group`. Every family whose
/// commands all route by key uses it, so the spec's shape is written once.
macro_rules! keyed_family {
    ($group:literal) => {
        #[allow(clippy::too_many_arguments)]
        const fn cmd(
            name: &'static str,
            arity: i32,
            flags: u32,
            keys: $crate::cmd::table::KeySpec,
            since: &'static str,
            summary: &'static str,
            complexity: &'static str,
            handler: $crate::cmd::DataFn,
        ) -> $crate::cmd::table::CommandSpec {
            $crate::cmd::table::CommandSpec {
                name,
                group: $group,
                arity,
                flags,
                keys,
                route: $crate::cmd::table::Route::Keys,
                summary,
                complexity,
                since,
                handler: $crate::cmd::table::Handler::Data(handler),
                subcommands: &[],
            }
        }
    };
}
pub(crate) use keyed_family;

/// Which stores a data command needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The shards owning the keys at the spec's key positions.
    Keys,
    /// Every shard (DBSIZE, FLUSHALL, KEYS, INFO ...).
    AllShards,
    /// No store: a session command.
    None,
}

pub struct CommandSpec {
    /// Lowercase; subcommands are "container|sub" as Redis names them.
    pub name: &'static str,
    pub group: &'static str,
    pub arity: i32,
    pub flags: u32,
    pub keys: KeySpec,
    pub route: Route,
    pub summary: &'static str,
    pub complexity: &'static str,
    pub since: &'static str,
    pub handler: Handler,
    pub subcommands: &'static [CommandSpec],
}

impl std::fmt::Debug for CommandSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CommandSpec({})", self.name)
    }
}

impl CommandSpec {
    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = self.arity as i64;
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// The positions of the keys in `argv`, bounded by `argv`'s length. A `numkeys` that is
    /// not a positive integer fitting in `argv` adds no keys; the handler reports the error.
    pub fn key_positions(&self, argv: &[Bytes]) -> Vec<usize> {
        let argc = argv.len();
        let KeySpec {
            first,
            last,
            step,
            keynum,
        } = self.keys;
        let (first, step) = (first.max(0) as usize, step.max(1) as usize);
        let last = if last < 0 {
            (argc as i64 + last as i64).max(0) as usize
        } else {
            (last as usize).min(argc.saturating_sub(1))
        };
        let end = if first == 0 { 0 } else { last + 1 };
        let mut positions: Vec<usize> = (first..end).step_by(step).collect();
        if keynum > 0 {
            let keynum = keynum as usize;
            let count = argv
                .get(keynum)
                .and_then(|n| super::args::parse_i64(n))
                .unwrap_or(0);
            let available = argc.saturating_sub(keynum + 1) as i64;
            if count > 0 && count <= available {
                positions.extend(keynum + 1..keynum + 1 + count as usize);
            }
        }
        positions
    }

    /// Flags as COMMAND INFO reports them, with `movablekeys` derived from the key spec.
    pub fn reported_flags(&self) -> u32 {
        let movable = if self.keys.keynum > 0 {
            flag::MOVABLE_KEYS
        } else {
            0
        };
        self.flags | movable
    }

    pub fn subcommand(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let subcommands: &'static [CommandSpec] = self.subcommands;
        subcommands.iter().find(|s| {
            let sub = s.name.split('|').nth(1).unwrap_or(s.name);
            sub.as_bytes().eq_ignore_ascii_case(name)
        })
    }

    /// ACL categories as Redis derives them: the group's, then read/write, fast/slow, extras.
    pub fn acl_categories(&self) -> Vec<&'static str> {
        let mut categories = vec![group_category(self.group)];
        if self.has(flag::WRITE) {
            categories.push("@write");
        }
        if self.has(flag::READONLY) {
            categories.push("@read");
        }
        if self.has(flag::ADMIN) {
            categories.push("@admin");
        }
        if self.has(flag::DANGEROUS) || self.has(flag::ADMIN) {
            categories.push("@dangerous");
        }
        if self.has(flag::PUBSUB) {
            categories.push("@pubsub");
        }
        categories.push(if self.has(flag::FAST) {
            "@fast"
        } else {
            "@slow"
        });
        categories
    }
}

fn group_category(group: &str) -> &'static str {
    match group {
        "string" => "@string",
        "generic" => "@keyspace",
        "connection" => "@connection",
        "server" => "@admin",
        "list" => "@list",
        "hash" => "@hash",
        "set" => "@set",
        "sorted-set" => "@sortedset",
        "bitmap" => "@bitmap",
        "pubsub" => "@pubsub",
        "transactions" => "@transaction",
        _ => "@slow",
    }
}

/// Every family's commands, in one list.
pub fn all() -> &'static [&'static CommandSpec] {
    static ALL: OnceLock<Vec<&'static CommandSpec>> = OnceLock::new();
    ALL.get_or_init(|| {
        let families: [&'static [CommandSpec]; 15] = [
            migrate::COMMANDS,
            bitmap::COMMANDS,
            cluster::COMMANDS,
            transaction::COMMANDS,
            pubsub::COMMANDS,
            string::COMMANDS,
            keys::COMMANDS,
            server::COMMANDS,
            persistence::COMMANDS,
            connection::COMMANDS,
            list::COMMANDS,
            hash::COMMANDS,
            set::COMMANDS,
            zset::COMMANDS,
            dump::COMMANDS,
        ];
        let mut all: Vec<&'static CommandSpec> = families.iter().flat_map(|f| f.iter()).collect();
        all.sort_by_key(|s| s.name);
        all
    })
}

/// Finds a top-level command by name, ignoring ASCII case, through a hash index of the
/// table (every request looks its command up; a binary search with a lowercased copy was
/// a few percent of a pipelined GET).
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    if name.len() > NAME_LEN_MAX {
        return None;
    }
    let table = all();
    let index = name_index();
    let mask = index.len() - 1;
    let mut slot = name_hash(name) & mask;
    // Bounded: the index is at least four times the table, so an empty slot comes soon.
    for _ in 0..index.len() {
        let entry = index[slot];
        if entry == 0 {
            return None;
        }
        let spec = table[usize::from(entry - 1)];
        if spec.name.as_bytes().eq_ignore_ascii_case(name) {
            return Some(spec);
        }
        slot = (slot + 1) & mask;
    }
    None
}

/// The longest command name `lookup` considers.
const NAME_LEN_MAX: usize = 32;

/// FNV-1a over the lowercased name.
fn name_hash(name: &[u8]) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name {
        hash ^= u64::from(byte.to_ascii_lowercase());
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash as usize
}

/// Open addressing over `all()`: each slot holds a table position plus one, 0 when empty.
fn name_index() -> &'static [u16] {
    static INDEX: OnceLock<Vec<u16>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let table = all();
        let size = (table.len() * 4).next_power_of_two();
        assert!(table.len() < usize::from(u16::MAX));
        let mut index = vec![0u16; size];
        for (position, spec) in table.iter().enumerate() {
            assert!(spec.name.len() <= NAME_LEN_MAX, "{}", spec.name);
            let mut slot = name_hash(spec.name.as_bytes()) & (size - 1);
            while index[slot] != 0 {
                slot = (slot + 1) & (size - 1);
            }
            index[slot] = position as u16 + 1;
        }
        index
    })
}

/// COMMAND INFO's ten-element description of one command.
pub fn info_frame(spec: &CommandSpec) -> Frame {
    let flags = flag::NAMES
        .iter()
        .filter(|(bit, _)| spec.reported_flags() & bit != 0)
        .map(|(_, name)| Frame::Simple(Bytes::from_static(name.as_bytes())))
        .collect();
    let categories = spec
        .acl_categories()
        .into_iter()
        .map(|c| Frame::Simple(Bytes::from_static(c.as_bytes())))
        .collect();
    let subcommands = spec.subcommands.iter().map(info_frame).collect();
    Frame::Array(vec![
        Frame::Bulk(Bytes::from_static(spec.name.as_bytes())),
        Frame::Integer(spec.arity as i64),
        Frame::Set(flags),
        Frame::Integer(spec.keys.first as i64),
        Frame::Integer(spec.keys.last as i64),
        Frame::Integer(spec.keys.step as i64),
        Frame::Set(categories),
        Frame::Array(Vec::new()),
        Frame::Array(key_specs(spec)),
        Frame::Array(subcommands),
    ])
}

/// Redis 7 key specifications, derived from the (first, last, step) triple.
fn key_specs(spec: &CommandSpec) -> Vec<Frame> {
    if spec.keys.first <= 0 {
        return Vec::new();
    }
    let b = |s: &'static str| Frame::Bulk(Bytes::from_static(s.as_bytes()));
    let access = if spec.has(flag::WRITE) { "RW" } else { "RO" };
    let last_key = if spec.keys.last < 0 {
        spec.keys.last as i64
    } else {
        (spec.keys.last - spec.keys.first) as i64
    };
    vec![Frame::Map(vec![
        (
            b("flags"),
            Frame::Set(vec![Frame::Simple(Bytes::from_static(access.as_bytes()))]),
        ),
        (
            b("begin_search"),
            Frame::Map(vec![
                (b("type"), b("index")),
                (
                    b("spec"),
                    Frame::Map(vec![(b("index"), Frame::Integer(spec.keys.first as i64))]),
                ),
            ]),
        ),
        (
            b("find_keys"),
            Frame::Map(vec![
                (b("type"), b("range")),
                (
                    b("spec"),
                    Frame::Map(vec![
                        (b("lastkey"), Frame::Integer(last_key)),
                        (b("keystep"), Frame::Integer(spec.keys.step as i64)),
                        (b("limit"), Frame::Integer(0)),
                    ]),
                ),
            ]),
        ),
    ])]
}

/// COMMAND DOCS's map for one command.
pub fn docs_frame(spec: &CommandSpec) -> Frame {
    let b = |s: &'static str| Frame::Bulk(Bytes::from_static(s.as_bytes()));
    let mut fields = vec![
        (b("summary"), b(spec.summary)),
        (b("since"), b(spec.since)),
        (b("group"), b(spec.group)),
        (b("complexity"), b(spec.complexity)),
    ];
    if !spec.subcommands.is_empty() {
        let subs = spec
            .subcommands
            .iter()
            .map(|s| (b(s.name), docs_frame(s)))
            .collect();
        fields.push((b("subcommands"), Frame::Map(subs)));
    }
    Frame::Map(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_spec() -> Vec<&'static CommandSpec> {
        let mut specs = Vec::new();
        for spec in all() {
            specs.push(*spec);
            specs.extend(spec.subcommands.iter());
        }
        specs
    }

    #[test]
    fn names_are_unique_lowercase_and_sorted() {
        let names: Vec<&str> = all().iter().map(|s| s.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
        for spec in every_spec() {
            assert_eq!(spec.name, spec.name.to_lowercase());
        }
    }

    #[test]
    fn write_xor_readonly_and_keys_within_arity() {
        for spec in every_spec() {
            assert!(
                !(spec.has(flag::WRITE) && spec.has(flag::READONLY)),
                "{} is both write and readonly",
                spec.name
            );
            if spec.arity > 0 && spec.keys.last > 0 {
                assert!(
                    spec.keys.last < spec.arity,
                    "{}: last key past arity",
                    spec.name
                );
            }
            if spec.route == Route::Keys {
                let has_keys = spec.keys.first > 0 || spec.keys.keynum > 0;
                assert!(has_keys, "{} routes by keys but has none", spec.name);
            }
            assert!(
                !spec.has(flag::MOVABLE_KEYS),
                "{}: movablekeys is derived",
                spec.name
            );
            match spec.handler {
                Handler::Container => assert!(!spec.subcommands.is_empty(), "{}", spec.name),
                Handler::Session(_)
                | Handler::Exec
                | Handler::Subscription(_)
                | Handler::Persistence
                | Handler::Cluster
                | Handler::Migrate => {
                    assert_eq!(spec.route, Route::None, "{}", spec.name)
                }
                Handler::Data(_) => assert_ne!(spec.route, Route::None, "{}", spec.name),
            }
        }
    }

    #[test]
    fn lookup_ignores_case_and_rejects_unknown_names() {
        for spec in all() {
            let upper = spec.name.to_ascii_uppercase();
            assert_eq!(lookup(upper.as_bytes()).map(|s| s.name), Some(spec.name));
        }
        assert!(lookup(b"").is_none());
        assert!(lookup(b"ge").is_none());
        assert!(lookup(b"gett").is_none());
        assert_eq!(lookup(b"GeT").map(|s| s.name), Some("get"));
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(&[b'a'; 100]).is_none());
        let client = lookup(b"client").expect("client exists");
        assert_eq!(
            client.subcommand(b"SETNAME").map(|s| s.name),
            Some("client|setname")
        );
    }

    #[test]
    fn key_positions_follow_the_spec() {
        let argv = |words: &[&str]| -> Vec<Bytes> {
            words.iter().map(|w| Bytes::from(w.to_string())).collect()
        };
        let mset = lookup(b"mset").unwrap();
        assert_eq!(
            mset.key_positions(&argv(&["mset", "a", "1", "b", "2"])),
            vec![1, 3]
        );
        let del = lookup(b"del").unwrap();
        assert_eq!(
            del.key_positions(&argv(&["del", "a", "b", "c"])),
            vec![1, 2, 3]
        );
        let ping = lookup(b"ping").unwrap();
        assert!(ping.key_positions(&argv(&["ping", "x"])).is_empty());
        let movable = CommandSpec {
            keys: KeySpec::with_keynum(1, 1, 1, 2),
            ..*lookup(b"get").unwrap()
        };
        assert_eq!(
            movable.key_positions(&argv(&["z", "dst", "2", "a", "b", "WEIGHTS"])),
            vec![1, 3, 4]
        );
        assert_eq!(
            movable.key_positions(&argv(&["z", "dst", "9", "a"])),
            vec![1],
            "numkeys past the end"
        );
        assert_eq!(
            movable.key_positions(&argv(&["z", "dst", "x", "a"])),
            vec![1],
            "numkeys not a number"
        );
    }
}
