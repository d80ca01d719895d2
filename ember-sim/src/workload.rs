//! The seeded workload: each client draws its commands from its own random stream, over key
//! names only it writes (`c{client}:k{n}`), so that one reference model per client is exact
//! however the clients interleave. Multi-key commands use several of the client's keys,
//! which hash to different slots and so still cross shards.
//!
//! Values are drawn from a pool that includes strings Redis does not accept as integers
//! ("+5", "007", "-0", "1e3") so that parsing edge cases are exercised, and TTLs are tens to
//! hundreds of milliseconds so that keys really expire, lazily and actively, during a run.

use bytes::Bytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Key names per client.
pub const KEYS_PER_CLIENT: usize = 6;
/// The databases every client uses.
pub const SHARED_DBS: usize = 2;
/// The database only the admin client (client 0) uses, where DBSIZE and FLUSHDB are exact.
pub const ADMIN_DB: usize = 2;
/// The most commands sent in one write (a pipeline).
pub const PIPELINE_MAX: usize = 3;
/// The most keys one multi-key command names.
const MULTI_KEYS_MAX: usize = 4;

/// A TTL option of SET or GETEX.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TtlArg {
    None,
    Ex(i64),
    Px(i64),
    ExAt(i64),
    PxAt(i64),
    KeepTtl,
    Persist,
}

/// SET's NX/XX, and EXPIRE's NX/XX/GT/LT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    Always,
    Nx,
    Xx,
    Gt,
    Lt,
}

/// How INCR and its relatives were spelled; the model only needs the delta.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncrForm {
    Incr,
    Decr,
    IncrBy,
    DecrBy,
}

/// One command, typed so the model can interpret it.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Get {
        key: Bytes,
    },
    Set {
        key: Bytes,
        value: Bytes,
        condition: Condition,
        get: bool,
        ttl: TtlArg,
    },
    SetNx {
        key: Bytes,
        value: Bytes,
    },
    SetEx {
        key: Bytes,
        amount: i64,
        millis: bool,
        value: Bytes,
    },
    MGet {
        keys: Vec<Bytes>,
    },
    MSet {
        pairs: Vec<(Bytes, Bytes)>,
        nx: bool,
    },
    GetSet {
        key: Bytes,
        value: Bytes,
    },
    GetDel {
        key: Bytes,
    },
    GetEx {
        key: Bytes,
        ttl: TtlArg,
    },
    Incr {
        key: Bytes,
        form: IncrForm,
        amount: i64,
    },
    IncrByFloat {
        key: Bytes,
        amount: Bytes,
    },
    Append {
        key: Bytes,
        value: Bytes,
    },
    Strlen {
        key: Bytes,
    },
    GetRange {
        key: Bytes,
        start: i64,
        end: i64,
    },
    SetRange {
        key: Bytes,
        offset: i64,
        value: Bytes,
    },
    Del {
        keys: Vec<Bytes>,
        unlink: bool,
    },
    Exists {
        keys: Vec<Bytes>,
        touch: bool,
    },
    Expire {
        key: Bytes,
        amount: i64,
        millis: bool,
        condition: Condition,
    },
    PExpireAt {
        key: Bytes,
        at_ms: i64,
    },
    Ttl {
        key: Bytes,
        millis: bool,
    },
    Persist {
        key: Bytes,
    },
    Type {
        key: Bytes,
    },
    Rename {
        source: Bytes,
        target: Bytes,
        nx: bool,
    },
    DbSize,
    Select {
        db: i64,
    },
    FlushDb,
    Ping {
        message: Option<Bytes>,
    },
    Echo {
        message: Bytes,
    },
}

/// A command as sent: the op, the database it runs in, and its arguments on the wire.
#[derive(Clone, Debug)]
pub struct Request {
    pub op: Op,
    pub db: usize,
    pub args: Vec<Bytes>,
}

/// One client's command generator.
pub struct Workload {
    rng: ChaCha8Rng,
    keys: Vec<Bytes>,
    admin: bool,
}

impl Workload {
    /// `admin` clients may also use [`ADMIN_DB`] and run FLUSHDB there.
    pub fn new(rng: ChaCha8Rng, client: usize, admin: bool) -> Workload {
        let keys: Vec<Bytes> = (0..KEYS_PER_CLIENT)
            .map(|index| Bytes::from(format!("c{client}:k{index}")))
            .collect();
        assert_eq!(keys.len(), KEYS_PER_CLIENT);
        Workload { rng, keys, admin }
    }

    /// How long to wait before the next batch, in milliseconds.
    pub fn think_ms(&mut self) -> u64 {
        self.rng.gen_range(0..25)
    }

    /// The next pipeline of 1..=PIPELINE_MAX commands. `db` is the connection's database; a
    /// SELECT in the batch changes it for the commands after it, as it will on the server.
    pub fn next_batch(&mut self, db: &mut usize, now_ms: u64, room: usize) -> Vec<Request> {
        assert!(room >= 1);
        let size = match self.rng.gen_range(0..10) {
            0..=6 => 1,
            7..=8 => 2,
            _ => PIPELINE_MAX,
        };
        let mut batch = Vec::with_capacity(size);
        for _ in 0..size.min(room) {
            let op = self.next_op(*db, now_ms);
            if let Op::Select { db: target } = op {
                if let Ok(target) = usize::try_from(target) {
                    if target <= ADMIN_DB {
                        *db = target;
                    }
                }
            }
            let lowercase = self.rng.gen_bool(0.2);
            let args = op_args(&op, lowercase);
            batch.push(Request { op, db: *db, args });
        }
        assert!(!batch.is_empty() && batch.len() <= PIPELINE_MAX);
        batch
    }

    fn next_op(&mut self, db: usize, now_ms: u64) -> Op {
        match self.rng.gen_range(0..100) {
            0..=11 => Op::Get { key: self.key() },
            12..=23 => self.set(now_ms),
            24..=26 => Op::SetNx {
                key: self.key(),
                value: self.value(),
            },
            27..=29 => Op::SetEx {
                key: self.key(),
                amount: self.rng.gen_range(1..=2),
                millis: false,
                value: self.value(),
            },
            30..=32 => Op::SetEx {
                key: self.key(),
                amount: self.ttl_ms(),
                millis: true,
                value: self.value(),
            },
            33..=35 => Op::MGet { keys: self.keys() },
            36..=38 => Op::MSet {
                pairs: self.pairs(),
                nx: self.rng.gen_bool(0.4),
            },
            39..=40 => Op::GetSet {
                key: self.key(),
                value: self.value(),
            },
            41..=42 => Op::GetDel { key: self.key() },
            43..=45 => Op::GetEx {
                key: self.key(),
                ttl: self.getex_ttl(now_ms),
            },
            46..=51 => self.incr(),
            52..=53 => Op::IncrByFloat {
                key: self.key(),
                amount: self.float_amount(),
            },
            54..=56 => self.string_edit(),
            57..=59 => self.range(),
            60..=63 => Op::Del {
                keys: self.keys(),
                unlink: self.rng.gen_bool(0.3),
            },
            64..=66 => Op::Exists {
                keys: self.keys(),
                touch: self.rng.gen_bool(0.3),
            },
            67..=72 => self.expire(now_ms),
            73..=77 => Op::Ttl {
                key: self.key(),
                millis: self.rng.gen_bool(0.6),
            },
            78..=79 => Op::Persist { key: self.key() },
            80..=81 => Op::Type { key: self.key() },
            82..=85 => Op::Rename {
                source: self.key(),
                target: self.key(),
                nx: self.rng.gen_bool(0.4),
            },
            86..=88 => self.keyspace(db),
            89..=92 => Op::Select {
                db: self.select_target(),
            },
            93..=96 => self.ping_or_echo(),
            _ => Op::Get { key: self.key() },
        }
    }

    fn set(&mut self, now_ms: u64) -> Op {
        let condition = match self.rng.gen_range(0..6) {
            0 => Condition::Nx,
            1 => Condition::Xx,
            _ => Condition::Always,
        };
        let ttl = match self.rng.gen_range(0..12) {
            0..=1 => TtlArg::Px(self.ttl_ms()),
            2 => TtlArg::Ex(self.rng.gen_range(1..=2)),
            3 => TtlArg::PxAt(self.absolute_ms(now_ms)),
            4 => TtlArg::ExAt(self.absolute_ms(now_ms) / 1000 + 1),
            5 => TtlArg::KeepTtl,
            // An invalid expire time: the node must refuse it and change nothing.
            6 if self.rng.gen_bool(0.2) => TtlArg::Px(0),
            _ => TtlArg::None,
        };
        Op::Set {
            key: self.key(),
            value: self.value(),
            condition,
            get: self.rng.gen_bool(0.2),
            ttl,
        }
    }

    fn getex_ttl(&mut self, now_ms: u64) -> TtlArg {
        match self.rng.gen_range(0..6) {
            0 => TtlArg::Px(self.ttl_ms()),
            1 => TtlArg::Ex(1),
            2 => TtlArg::PxAt(self.absolute_ms(now_ms)),
            3 => TtlArg::Persist,
            _ => TtlArg::None,
        }
    }

    fn incr(&mut self) -> Op {
        let form = match self.rng.gen_range(0..4) {
            0 => IncrForm::Incr,
            1 => IncrForm::Decr,
            2 => IncrForm::IncrBy,
            _ => IncrForm::DecrBy,
        };
        let amount = match form {
            IncrForm::Incr | IncrForm::Decr => 1,
            // Huge deltas now and then reach the overflow check.
            _ if self.rng.gen_bool(0.05) => i64::MAX - self.rng.gen_range(0..3),
            _ => self.rng.gen_range(-100..=100),
        };
        Op::Incr {
            key: self.key(),
            form,
            amount,
        }
    }

    fn string_edit(&mut self) -> Op {
        if self.rng.gen_bool(0.5) {
            Op::Append {
                key: self.key(),
                value: self.value(),
            }
        } else {
            // A negative offset must be refused with Redis's error.
            let offset = if self.rng.gen_bool(0.05) {
                -1
            } else {
                self.rng.gen_range(0..12)
            };
            Op::SetRange {
                key: self.key(),
                offset,
                value: self.value(),
            }
        }
    }

    fn range(&mut self) -> Op {
        if self.rng.gen_bool(0.3) {
            return Op::Strlen { key: self.key() };
        }
        let start = self.rng.gen_range(-8..8);
        let end = self.rng.gen_range(-8..10);
        Op::GetRange {
            key: self.key(),
            start,
            end,
        }
    }

    fn expire(&mut self, now_ms: u64) -> Op {
        if self.rng.gen_bool(0.25) {
            return Op::PExpireAt {
                key: self.key(),
                at_ms: self.absolute_ms(now_ms),
            };
        }
        let condition = match self.rng.gen_range(0..8) {
            0 => Condition::Nx,
            1 => Condition::Xx,
            2 => Condition::Gt,
            3 => Condition::Lt,
            _ => Condition::Always,
        };
        let (amount, millis) = match self.rng.gen_range(0..10) {
            0 => (self.rng.gen_range(1..=2), false),
            // Zero and negative TTLs delete the key at once.
            1 => (self.rng.gen_range(-5..=0), true),
            _ => (self.ttl_ms(), true),
        };
        Op::Expire {
            key: self.key(),
            amount,
            millis,
            condition,
        }
    }

    fn keyspace(&mut self, db: usize) -> Op {
        if self.admin && db == ADMIN_DB && self.rng.gen_bool(0.3) {
            Op::FlushDb
        } else {
            Op::DbSize
        }
    }

    fn select_target(&mut self) -> i64 {
        if self.rng.gen_bool(0.05) {
            // Out of range: the node must refuse it and keep the current database.
            return 16;
        }
        let dbs = if self.admin { ADMIN_DB + 1 } else { SHARED_DBS };
        self.rng.gen_range(0..dbs) as i64
    }

    fn ping_or_echo(&mut self) -> Op {
        match self.rng.gen_range(0..3) {
            0 => Op::Ping { message: None },
            1 => Op::Ping {
                message: Some(self.value()),
            },
            _ => Op::Echo {
                message: self.value(),
            },
        }
    }

    /// Half the choices go to the first two keys so that commands meet on the same key.
    fn key(&mut self) -> Bytes {
        let index = if self.rng.gen_bool(0.5) {
            self.rng.gen_range(0..2)
        } else {
            self.rng.gen_range(0..KEYS_PER_CLIENT)
        };
        self.keys[index].clone()
    }

    fn keys(&mut self) -> Vec<Bytes> {
        let count = self.rng.gen_range(1..=MULTI_KEYS_MAX);
        (0..count).map(|_| self.key()).collect()
    }

    fn pairs(&mut self) -> Vec<(Bytes, Bytes)> {
        let count = self.rng.gen_range(1..=MULTI_KEYS_MAX);
        (0..count).map(|_| (self.key(), self.value())).collect()
    }

    fn ttl_ms(&mut self) -> i64 {
        self.rng.gen_range(10..400)
    }

    /// An absolute time near `now_ms`, sometimes already past.
    fn absolute_ms(&mut self, now_ms: u64) -> i64 {
        let now = i64::try_from(now_ms).expect("virtual time fits in i64");
        now + self.rng.gen_range(-100..400)
    }

    fn float_amount(&mut self) -> Bytes {
        const AMOUNTS: [&str; 6] = ["1.5", "-0.25", "10", "3.0e2", "-7", "0.1"];
        Bytes::from_static(AMOUNTS[self.rng.gen_range(0..AMOUNTS.len())].as_bytes())
    }

    fn value(&mut self) -> Bytes {
        const TRICKY: [&str; 9] = [
            "+5",
            "007",
            "-0",
            "1e3",
            "",
            "1.5",
            "abc",
            "9223372036854775806",
            " 1",
        ];
        match self.rng.gen_range(0..10) {
            0..=4 => Bytes::from(self.rng.gen_range(-50i64..100).to_string()),
            5..=6 => Bytes::from_static(TRICKY[self.rng.gen_range(0..TRICKY.len())].as_bytes()),
            _ => {
                let len = self.rng.gen_range(1..=6);
                let text: String = (0..len)
                    .map(|_| char::from(self.rng.gen_range(b'a'..=b'z')))
                    .collect();
                Bytes::from(text)
            }
        }
    }
}

/// The arguments of `op` on the wire, the command name in upper or lower case.
pub fn op_args(op: &Op, lowercase: bool) -> Vec<Bytes> {
    let mut args = op_args_upper(op);
    assert!(!args.is_empty());
    if lowercase {
        args[0] = Bytes::from(args[0].to_ascii_lowercase());
    }
    args
}

fn op_args_upper(op: &Op) -> Vec<Bytes> {
    match op {
        Op::Get { key } => words("GET", [key.clone()]),
        Op::Set {
            key,
            value,
            condition,
            get,
            ttl,
        } => set_args(key, value, *condition, *get, ttl),
        Op::SetNx { key, value } => words("SETNX", [key.clone(), value.clone()]),
        Op::SetEx {
            key,
            amount,
            millis,
            value,
        } => {
            let name = if *millis { "PSETEX" } else { "SETEX" };
            words(name, [key.clone(), number(*amount), value.clone()])
        }
        Op::MGet { keys } => words("MGET", keys.iter().cloned()),
        Op::MSet { pairs, nx } => {
            let flat = pairs
                .iter()
                .flat_map(|(key, value)| [key.clone(), value.clone()]);
            words(if *nx { "MSETNX" } else { "MSET" }, flat)
        }
        Op::GetSet { key, value } => words("GETSET", [key.clone(), value.clone()]),
        Op::GetDel { key } => words("GETDEL", [key.clone()]),
        Op::GetEx { key, ttl } => {
            let mut args = words("GETEX", [key.clone()]);
            args.extend(ttl_args(ttl));
            args
        }
        Op::Incr { key, form, amount } => incr_args(key, *form, *amount),
        Op::IncrByFloat { key, amount } => words("INCRBYFLOAT", [key.clone(), amount.clone()]),
        Op::Append { key, value } => words("APPEND", [key.clone(), value.clone()]),
        Op::Strlen { key } => words("STRLEN", [key.clone()]),
        Op::GetRange { key, start, end } => {
            words("GETRANGE", [key.clone(), number(*start), number(*end)])
        }
        Op::SetRange { key, offset, value } => {
            words("SETRANGE", [key.clone(), number(*offset), value.clone()])
        }
        other => key_args_upper(other),
    }
}

/// The generic key commands and the keyless ones.
fn key_args_upper(op: &Op) -> Vec<Bytes> {
    match op {
        Op::Del { keys, unlink } => {
            words(if *unlink { "UNLINK" } else { "DEL" }, keys.iter().cloned())
        }
        Op::Exists { keys, touch } => words(
            if *touch { "TOUCH" } else { "EXISTS" },
            keys.iter().cloned(),
        ),
        Op::Expire {
            key,
            amount,
            millis,
            condition,
        } => {
            let mut args = words(
                if *millis { "PEXPIRE" } else { "EXPIRE" },
                [key.clone(), number(*amount)],
            );
            args.extend(condition_arg(*condition));
            args
        }
        Op::PExpireAt { key, at_ms } => words("PEXPIREAT", [key.clone(), number(*at_ms)]),
        Op::Ttl { key, millis } => words(if *millis { "PTTL" } else { "TTL" }, [key.clone()]),
        Op::Persist { key } => words("PERSIST", [key.clone()]),
        Op::Type { key } => words("TYPE", [key.clone()]),
        Op::Rename { source, target, nx } => words(
            if *nx { "RENAMENX" } else { "RENAME" },
            [source.clone(), target.clone()],
        ),
        Op::DbSize => words("DBSIZE", []),
        Op::Select { db } => words("SELECT", [number(*db)]),
        Op::FlushDb => words("FLUSHDB", []),
        Op::Ping { message } => words("PING", message.iter().cloned()),
        Op::Echo { message } => words("ECHO", [message.clone()]),
        other => unreachable!("op_args_upper spells the string commands: {other:?}"),
    }
}

fn set_args(
    key: &Bytes,
    value: &Bytes,
    condition: Condition,
    get: bool,
    ttl: &TtlArg,
) -> Vec<Bytes> {
    let mut args = words("SET", [key.clone(), value.clone()]);
    args.extend(condition_arg(condition));
    if get {
        args.push(Bytes::from_static(b"GET"));
    }
    args.extend(ttl_args(ttl));
    args
}

fn incr_args(key: &Bytes, form: IncrForm, amount: i64) -> Vec<Bytes> {
    match form {
        IncrForm::Incr => words("INCR", [key.clone()]),
        IncrForm::Decr => words("DECR", [key.clone()]),
        IncrForm::IncrBy => words("INCRBY", [key.clone(), number(amount)]),
        IncrForm::DecrBy => words("DECRBY", [key.clone(), number(amount)]),
    }
}

fn ttl_args(ttl: &TtlArg) -> Vec<Bytes> {
    let pair =
        |name: &'static str, amount: i64| vec![Bytes::from_static(name.as_bytes()), number(amount)];
    match ttl {
        TtlArg::None => vec![],
        TtlArg::Ex(amount) => pair("EX", *amount),
        TtlArg::Px(amount) => pair("PX", *amount),
        TtlArg::ExAt(amount) => pair("EXAT", *amount),
        TtlArg::PxAt(amount) => pair("PXAT", *amount),
        TtlArg::KeepTtl => vec![Bytes::from_static(b"KEEPTTL")],
        TtlArg::Persist => vec![Bytes::from_static(b"PERSIST")],
    }
}

fn condition_arg(condition: Condition) -> Option<Bytes> {
    let word: &'static [u8] = match condition {
        Condition::Always => return None,
        Condition::Nx => b"NX",
        Condition::Xx => b"XX",
        Condition::Gt => b"GT",
        Condition::Lt => b"LT",
    };
    Some(Bytes::from_static(word))
}

fn words(name: &'static str, rest: impl IntoIterator<Item = Bytes>) -> Vec<Bytes> {
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
    fn same_stream_same_batches() {
        let mut first = Workload::new(ChaCha8Rng::seed_from_u64(3), 1, false);
        let mut second = Workload::new(ChaCha8Rng::seed_from_u64(3), 1, false);
        let (mut db_first, mut db_second) = (0, 0);
        for step in 0..200 {
            let a = first.next_batch(&mut db_first, 1_000 + step, PIPELINE_MAX);
            let b = second.next_batch(&mut db_second, 1_000 + step, PIPELINE_MAX);
            assert_eq!(a.len(), b.len());
            for (left, right) in a.iter().zip(&b) {
                assert_eq!(left.op, right.op);
                assert_eq!(left.args, right.args);
            }
        }
        assert_eq!(db_first, db_second);
    }

    #[test]
    fn clients_touch_only_their_own_keys() {
        let mut workload = Workload::new(ChaCha8Rng::seed_from_u64(9), 2, false);
        let mut db = 0;
        for step in 0..500 {
            for request in workload.next_batch(&mut db, step, PIPELINE_MAX) {
                assert!(
                    request.db < ADMIN_DB,
                    "only the admin uses the admin database"
                );
                assert_ne!(request.op, Op::FlushDb);
                for key in crate::oracle::op_keys(&request.op) {
                    assert!(key.starts_with(b"c2:k"), "{key:?}");
                }
            }
        }
    }

    #[test]
    fn set_arguments_are_spelled_like_redis() {
        let op = Op::Set {
            key: Bytes::from_static(b"k"),
            value: Bytes::from_static(b"v"),
            condition: Condition::Nx,
            get: true,
            ttl: TtlArg::Px(5),
        };
        let args = op_args(&op, true);
        let expected: Vec<&[u8]> = vec![b"set", b"k", b"v", b"NX", b"GET", b"PX", b"5"];
        assert_eq!(args, expected);
    }
}
