//! The data clients' seeded workload for the types scenario: list, hash, set, sorted-set
//! and string commands over the client's own keys (`d{client}:k{n}`, which hash to
//! different slots, so multi-key commands cross shards), plus MULTI/EXEC transactions of
//! such commands, some under a WATCH that the client itself breaks before EXEC.
//!
//! Each family prefers its own two keys so most commands find the type they expect, but any
//! key may be chosen, which exercises WRONGTYPE. Collections grow to a few elements, past
//! the small encoding thresholds the scenario configures, and shrink again.

use bytes::Bytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::collections::Store;

/// Key names per data client: two per family.
pub const KEYS_PER_CLIENT: usize = 8;
/// The most commands in one transaction, and in one plain pipeline.
const TRANSACTION_COMMANDS_MAX: usize = 5;
const PIPELINE_MAX: usize = 3;
/// The most elements one command adds.
const ITEMS_MAX: usize = 4;

/// One batch: plain commands, or one transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum Batch {
    Plain(Vec<Vec<Bytes>>),
    Transaction(Transaction),
}

/// WATCH key? (a write to it)? MULTI commands... EXEC|DISCARD.
#[derive(Clone, Debug, PartialEq)]
pub struct Transaction {
    pub watch: Option<Bytes>,
    /// A write to the watched key between WATCH and MULTI, which must abort EXEC.
    pub touch: Option<Vec<Bytes>>,
    pub commands: Vec<Vec<Bytes>>,
    /// A command with the wrong arity is queued: EXEC answers EXECABORT.
    pub bad_arity: bool,
    pub discard: bool,
}

/// One data client's generator.
pub struct CollectionsWorkload {
    rng: ChaCha8Rng,
    keys: Vec<Bytes>,
}

impl CollectionsWorkload {
    pub fn new(rng: ChaCha8Rng, client: usize) -> CollectionsWorkload {
        let keys: Vec<Bytes> = (0..KEYS_PER_CLIENT)
            .map(|index| Bytes::from(format!("d{client}:k{index}")))
            .collect();
        CollectionsWorkload { rng, keys }
    }

    pub fn think_ms(&mut self) -> u64 {
        self.rng.gen_range(0..15)
    }

    /// The next batch. `store` is the model now, which the WATCH-breaking write consults so
    /// that it surely changes the key.
    pub fn next_batch(&mut self, store: &Store) -> Batch {
        if self.rng.gen_bool(0.15) {
            return Batch::Transaction(self.transaction(store));
        }
        let size = self.rng.gen_range(1..=PIPELINE_MAX);
        Batch::Plain((0..size).map(|_| self.command()).collect())
    }

    /// How many commands `batch` sends.
    pub fn sent(batch: &Batch) -> usize {
        match batch {
            Batch::Plain(commands) => commands.len(),
            Batch::Transaction(tx) => {
                usize::from(tx.watch.is_some())
                    + usize::from(tx.touch.is_some())
                    + 2
                    + tx.commands.len()
                    + usize::from(tx.bad_arity)
            }
        }
    }

    fn transaction(&mut self, store: &Store) -> Transaction {
        let watch = self.rng.gen_bool(0.5).then(|| self.any_key());
        let touch = match &watch {
            Some(key) if self.rng.gen_bool(0.5) => Some(if store.get(key).is_some() {
                words("DEL", [key.clone()])
            } else {
                words("SET", [key.clone(), Bytes::from_static(b"touched")])
            }),
            _ => None,
        };
        let size = self.rng.gen_range(1..=TRANSACTION_COMMANDS_MAX);
        Transaction {
            watch,
            touch,
            commands: (0..size).map(|_| self.command()).collect(),
            bad_arity: self.rng.gen_bool(0.05),
            discard: self.rng.gen_bool(0.1),
        }
    }

    fn command(&mut self) -> Vec<Bytes> {
        match self.rng.gen_range(0..100) {
            0..=29 => self.list(),
            30..=49 => self.hash(),
            50..=69 => self.set(),
            70..=89 => self.zset(),
            _ => self.keys(),
        }
    }

    fn list(&mut self) -> Vec<Bytes> {
        let key = self.key(0);
        match self.rng.gen_range(0..12) {
            0..=2 => {
                let name = if self.rng.gen_bool(0.5) {
                    "LPUSH"
                } else {
                    "RPUSH"
                };
                let items = self.items(|w| w.list_item());
                words(name, std::iter::once(key).chain(items))
            }
            3..=4 => {
                let name = if self.rng.gen_bool(0.5) {
                    "LPOP"
                } else {
                    "RPOP"
                };
                let mut args = words(name, [key]);
                if self.rng.gen_bool(0.4) {
                    args.push(number(self.rng.gen_range(1..=3)));
                }
                args
            }
            5 => words("LRANGE", [key, self.index(), self.index()]),
            6 => words("LLEN", [key]),
            7 => words("LINDEX", [key, self.index()]),
            8..=9 => {
                let target = self.key(0);
                let side = |rng: &mut ChaCha8Rng| {
                    Bytes::from_static(if rng.gen_bool(0.5) { b"LEFT" } else { b"RIGHT" })
                };
                let (from, to) = (side(&mut self.rng), side(&mut self.rng));
                words("LMOVE", [key, target, from, to])
            }
            10 => words("LTRIM", [key, self.index(), self.index()]),
            _ => {
                let limit = number(self.rng.gen_range(-2..=2));
                words("LREM", [key, limit, self.list_item()])
            }
        }
    }

    fn hash(&mut self) -> Vec<Bytes> {
        let key = self.key(2);
        match self.rng.gen_range(0..9) {
            0..=2 => {
                let pairs = self.rng.gen_range(1..=3);
                let mut args = words("HSET", [key]);
                for _ in 0..pairs {
                    args.push(self.field());
                    args.push(self.hash_value());
                }
                args
            }
            3 => words("HGET", [key, self.field()]),
            4 => {
                let fields = self.items(|w| w.field());
                words("HDEL", std::iter::once(key).chain(fields))
            }
            5 => words("HLEN", [key]),
            6 => words("HGETALL", [key]),
            7 => {
                if self.rng.gen_bool(0.5) {
                    words("HEXISTS", [key, self.field()])
                } else {
                    let fields = self.items(|w| w.field());
                    words("HMGET", std::iter::once(key).chain(fields))
                }
            }
            _ => words(
                "HINCRBY",
                [key, self.field(), number(self.rng.gen_range(-5..=5))],
            ),
        }
    }

    fn set(&mut self) -> Vec<Bytes> {
        let key = self.key(4);
        match self.rng.gen_range(0..10) {
            0..=2 => {
                let members = self.items(|w| w.set_member());
                words("SADD", std::iter::once(key).chain(members))
            }
            3 => {
                let members = self.items(|w| w.set_member());
                words("SREM", std::iter::once(key).chain(members))
            }
            4 => words("SCARD", [key]),
            5 => words("SISMEMBER", [key, self.set_member()]),
            6 => words("SMEMBERS", [key]),
            7 => words("SMOVE", [key, self.key(4), self.set_member()]),
            _ => {
                const NAMES: [&str; 3] = ["SUNIONSTORE", "SINTERSTORE", "SDIFFSTORE"];
                let name = NAMES[self.rng.gen_range(0..NAMES.len())];
                let sources = self.rng.gen_range(1..=3);
                let mut args = words(name, [key]);
                for _ in 0..sources {
                    args.push(self.key(4));
                }
                args
            }
        }
    }

    fn zset(&mut self) -> Vec<Bytes> {
        let key = self.key(6);
        match self.rng.gen_range(0..11) {
            0..=2 => {
                let pairs = self.rng.gen_range(1..=3);
                let mut args = words("ZADD", [key]);
                for _ in 0..pairs {
                    args.push(self.score());
                    args.push(self.zset_member());
                }
                args
            }
            3 => {
                let members = self.items(|w| w.zset_member());
                words("ZREM", std::iter::once(key).chain(members))
            }
            4 => words("ZSCORE", [key, self.zset_member()]),
            5 => words("ZCARD", [key]),
            6 => words("ZINCRBY", [key, self.score(), self.zset_member()]),
            7 => {
                let mut args = words("ZRANGE", [key, self.index(), self.index()]);
                if self.rng.gen_bool(0.5) {
                    args.push(Bytes::from_static(b"WITHSCORES"));
                }
                args
            }
            8 => {
                if self.rng.gen_bool(0.5) {
                    words("ZRANK", [key, self.zset_member()])
                } else {
                    let name = if self.rng.gen_bool(0.5) {
                        "ZPOPMIN"
                    } else {
                        "ZPOPMAX"
                    };
                    let mut args = words(name, [key]);
                    if self.rng.gen_bool(0.5) {
                        args.push(number(self.rng.gen_range(1..=3)));
                    }
                    args
                }
            }
            _ => self.zset_store(key),
        }
    }

    fn zset_store(&mut self, target: Bytes) -> Vec<Bytes> {
        let name = if self.rng.gen_bool(0.6) {
            "ZUNIONSTORE"
        } else {
            "ZINTERSTORE"
        };
        let sources = self.rng.gen_range(1..=3);
        let mut args = words(name, [target, number(sources)]);
        for _ in 0..sources {
            // Plain sets are valid sources too, with score 1.
            let family = if self.rng.gen_bool(0.25) { 4 } else { 6 };
            args.push(self.key(family));
        }
        if self.rng.gen_bool(0.3) {
            args.push(Bytes::from_static(b"WEIGHTS"));
            for _ in 0..sources {
                args.push(number(self.rng.gen_range(1..=3)));
            }
        }
        if self.rng.gen_bool(0.4) {
            const HOW: [&str; 3] = ["SUM", "MIN", "MAX"];
            args.push(Bytes::from_static(b"AGGREGATE"));
            args.push(Bytes::from_static(HOW[self.rng.gen_range(0..3)].as_bytes()));
        }
        args
    }

    fn keys(&mut self) -> Vec<Bytes> {
        match self.rng.gen_range(0..6) {
            0 => words("SET", [self.any_key(), self.list_item()]),
            1 => words("GET", [self.any_key()]),
            2 => words("DEL", [self.any_key(), self.any_key()]),
            3 => words("EXISTS", [self.any_key(), self.any_key()]),
            _ => words("TYPE", [self.any_key()]),
        }
    }

    /// One of the family's two keys (`first`, `first + 1`), or now and then any key.
    fn key(&mut self, first: usize) -> Bytes {
        if self.rng.gen_bool(0.1) {
            return self.any_key();
        }
        self.keys[first + self.rng.gen_range(0..2)].clone()
    }

    fn any_key(&mut self) -> Bytes {
        self.keys[self.rng.gen_range(0..KEYS_PER_CLIENT)].clone()
    }

    fn items(&mut self, mut draw: impl FnMut(&mut Self) -> Bytes) -> Vec<Bytes> {
        let count = self.rng.gen_range(1..=ITEMS_MAX);
        (0..count).map(|_| draw(self)).collect()
    }

    fn index(&mut self) -> Bytes {
        number(self.rng.gen_range(-6..6))
    }

    fn list_item(&mut self) -> Bytes {
        Bytes::from(format!("x{}", self.rng.gen_range(0..6)))
    }

    fn field(&mut self) -> Bytes {
        Bytes::from(format!("f{}", self.rng.gen_range(0..7)))
    }

    fn hash_value(&mut self) -> Bytes {
        if self.rng.gen_bool(0.7) {
            number(self.rng.gen_range(-5..20))
        } else {
            Bytes::from(format!("v{}", self.rng.gen_range(0..4)))
        }
    }

    /// Integers keep a set in the intset encoding; a word converts it.
    fn set_member(&mut self) -> Bytes {
        if self.rng.gen_bool(0.7) {
            number(self.rng.gen_range(0..12))
        } else {
            Bytes::from(format!("s{}", self.rng.gen_range(0..4)))
        }
    }

    fn zset_member(&mut self) -> Bytes {
        Bytes::from(format!("m{}", self.rng.gen_range(0..8)))
    }

    /// Integers and halves, so sums stay exact.
    fn score(&mut self) -> Bytes {
        let halves = self.rng.gen_range(-8..16);
        let score = f64::from(halves) / 2.0;
        Bytes::from(format!("{score}"))
    }
}

pub fn words(name: &'static str, rest: impl IntoIterator<Item = Bytes>) -> Vec<Bytes> {
    let mut args = vec![Bytes::from_static(name.as_bytes())];
    args.extend(rest);
    args
}

fn number(value: i64) -> Bytes {
    Bytes::from(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn same_stream_same_batches_and_only_own_keys() {
        let store = Store::default();
        let mut first = CollectionsWorkload::new(ChaCha8Rng::seed_from_u64(4), 2);
        let mut second = CollectionsWorkload::new(ChaCha8Rng::seed_from_u64(4), 2);
        for _ in 0..300 {
            let batch = first.next_batch(&store);
            assert_eq!(batch, second.next_batch(&store));
            let commands = match &batch {
                Batch::Plain(commands) => commands.clone(),
                Batch::Transaction(tx) => tx.commands.clone(),
            };
            for args in commands {
                for arg in &args[1..] {
                    assert!(
                        !arg.starts_with(b"d") || arg.starts_with(b"d2:k"),
                        "{arg:?}"
                    );
                }
            }
        }
    }
}
