//! The reference model: what one client's keys hold, written from Redis's documented
//! behaviour and not from ember's code, so that the two can disagree.
//!
//! Each client writes only its own keys, so the model of those keys is exact even while
//! other clients run. Time is the one source of doubt: the node applies a command at some
//! instant in the client's window [send, receive], so an expiry set relative to "now" is
//! only known to lie in a range, and a key whose expiry falls inside a window may or may not
//! be live for that command. Such a command accepts any reply, and the keys it writes become
//! Unknown until a write that does not depend on their state (SET, DEL, MSET ...) makes them
//! known again. A request whose reply was lost makes its keys Unknown the same way.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use ember_proto::Frame;

use crate::checkers::linearizable::{check, Expected, Reply};
use crate::workload::{Condition, IncrForm, Op, Request, TtlArg, ADMIN_DB};

/// Widens every window by this much on each side. turmoil delivers a message one tick after
/// it is sent at the earliest, so the node's clock is inside the window already; the slack
/// keeps the model sound should a host's clock within a tick round the other way.
pub const SLACK_MS: u64 = 1;

/// When the node may have run a command, in Unix milliseconds of virtual time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub earliest_ms: u64,
    pub latest_ms: u64,
}

impl Window {
    pub fn new(sent_ms: u64, received_ms: u64) -> Window {
        assert!(
            sent_ms <= received_ms,
            "a reply cannot come before its request"
        );
        Window {
            earliest_ms: sent_ms.saturating_sub(SLACK_MS),
            latest_ms: received_ms + SLACK_MS,
        }
    }

    /// The expiry of a TTL of `ttl_ms` set at some instant of this window.
    fn after(&self, ttl_ms: i64) -> Expiry {
        let shift =
            |at: u64| u64::try_from(i64::try_from(at).expect("time fits") + ttl_ms).unwrap_or(0);
        Expiry {
            lo_ms: shift(self.earliest_ms),
            hi_ms: shift(self.latest_ms),
        }
    }
}

/// A key's expiry time lies in `lo_ms..=hi_ms`; the key is live at `t` while `t <= at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expiry {
    pub lo_ms: u64,
    pub hi_ms: u64,
}

impl Expiry {
    fn at(at_ms: i64) -> Expiry {
        let at_ms = u64::try_from(at_ms).unwrap_or(0);
        Expiry {
            lo_ms: at_ms,
            hi_ms: at_ms,
        }
    }
}

/// A string value and its expiry.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub bytes: Bytes,
    pub expiry: Option<Expiry>,
}

#[derive(Clone, Debug, PartialEq)]
enum Entry {
    Known(Value),
    Unknown,
}

/// One client's keys. Absent keys have no entry.
#[derive(Debug)]
pub struct Model {
    entries: BTreeMap<(usize, Bytes), Entry>,
    /// Which incarnation of the node the model describes; a restart empties the node.
    generation: u64,
    /// How many keys all clients together can have in a shared database, which bounds
    /// DBSIZE there.
    shared_keys_max: i64,
}

/// A reply the model does not admit.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub detail: String,
}

/// What a key looks like to one command.
#[derive(Clone, Debug)]
enum Slot {
    Absent,
    Live(Value),
    Unknown,
}

/// One command's scratch state: the keys it touches, loaded from the model as they are
/// during the window, changed in order, then committed.
struct Exec<'a> {
    model: &'a Model,
    db: usize,
    window: Window,
    slots: BTreeMap<Bytes, Slot>,
    written: BTreeSet<Bytes>,
    /// The outcome depends on something the model cannot know.
    ambiguous: bool,
    /// INCRBYFLOAT's stored text is learnt from its reply.
    learn: Option<Bytes>,
}

impl Model {
    pub fn new(shared_keys_max: i64) -> Model {
        assert!(shared_keys_max > 0);
        Model {
            entries: BTreeMap::new(),
            generation: 0,
            shared_keys_max,
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The node restarted without persistence: everything is gone.
    pub fn reset(&mut self, generation: u64) {
        assert!(generation > self.generation, "generations only grow");
        self.entries.clear();
        self.generation = generation;
    }

    /// Checks the reply `got` to `request`, run within `window`, and applies the command.
    /// Ok(true) means the model could not predict the reply and accepted any.
    pub fn step(
        &mut self,
        request: &Request,
        window: Window,
        got: &Frame,
    ) -> Result<bool, Mismatch> {
        let mut exec = Exec {
            model: self,
            db: request.db,
            window,
            slots: BTreeMap::new(),
            written: BTreeSet::new(),
            ambiguous: false,
            learn: None,
        };
        let expected = exec.run(&request.op);
        let expected = if exec.ambiguous {
            Expected::Any
        } else {
            expected
        };
        check(&expected, got).map_err(|detail| Mismatch { detail })?;
        let Exec {
            slots,
            written,
            ambiguous,
            learn,
            ..
        } = exec;
        for key in written {
            self.store(request.db, key.clone(), slots[&key].clone());
        }
        // An ambiguous command may have written any key it names, along a path the model
        // did not follow; only blind writes end in a state the model knows regardless.
        if ambiguous && !is_blind_write(&request.op) && !is_read_only(&request.op) {
            for key in op_keys(&request.op) {
                self.store(request.db, key, Slot::Unknown);
            }
        }
        if let (Some(key), Frame::Bulk(text)) = (learn, got) {
            self.learn_text(request.db, key, text.clone());
        }
        Ok(ambiguous)
    }

    /// The request's reply was lost: it may or may not have run, so every key it could
    /// have written is Unknown.
    pub fn forget(&mut self, request: &Request) {
        let keys: Vec<Bytes> = match &request.op {
            Op::FlushDb => self
                .entries
                .keys()
                .filter(|(db, _)| *db == request.db)
                .map(|(_, key)| key.clone())
                .collect(),
            op => op_keys(op),
        };
        for key in keys {
            self.entries.insert((request.db, key), Entry::Unknown);
        }
    }

    fn store(&mut self, db: usize, key: Bytes, slot: Slot) {
        match slot {
            Slot::Absent => {
                self.entries.remove(&(db, key));
            }
            Slot::Live(value) => {
                self.entries.insert((db, key), Entry::Known(value));
            }
            Slot::Unknown => {
                self.entries.insert((db, key), Entry::Unknown);
            }
        }
    }

    fn learn_text(&mut self, db: usize, key: Bytes, text: Bytes) {
        if let Some(Entry::Known(value)) = self.entries.get_mut(&(db, key)) {
            value.bytes = text;
        }
    }

    /// The key as a command in `window` sees it.
    fn view(&self, db: usize, key: &Bytes, window: Window) -> Slot {
        match self.entries.get(&(db, key.clone())) {
            None => Slot::Absent,
            Some(Entry::Unknown) => Slot::Unknown,
            Some(Entry::Known(value)) => match value.expiry {
                None => Slot::Live(value.clone()),
                Some(expiry) if window.latest_ms <= expiry.lo_ms => Slot::Live(value.clone()),
                Some(expiry) if window.earliest_ms > expiry.hi_ms => Slot::Absent,
                Some(_) => Slot::Unknown,
            },
        }
    }

    /// DBSIZE's bounds: keys surely present, and keys perhaps present (the node counts
    /// expired keys it has not collected yet, as Redis does).
    fn db_size_bounds(&self, db: usize, window: Window) -> (i64, i64) {
        let mut surely = 0;
        let mut perhaps = 0;
        for ((entry_db, key), _) in self
            .entries
            .iter()
            .filter(|((entry_db, _), _)| *entry_db == db)
        {
            assert_eq!(*entry_db, db);
            perhaps += 1;
            if matches!(self.view(db, key, window), Slot::Live(_)) {
                surely += 1;
            }
        }
        assert!(surely <= perhaps);
        (surely, perhaps)
    }
}

/// Commands whose writes do not depend on the keys' previous state, so the model knows the
/// result even when it did not know the state before.
fn is_blind_write(op: &Op) -> bool {
    match op {
        Op::Set { condition, ttl, .. } => {
            *condition == Condition::Always && *ttl != TtlArg::KeepTtl
        }
        Op::SetEx { .. } | Op::GetSet { .. } | Op::GetDel { .. } | Op::Del { .. } | Op::FlushDb => {
            true
        }
        Op::MSet { nx, .. } => !nx,
        _ => false,
    }
}

/// Commands that never change a key.
fn is_read_only(op: &Op) -> bool {
    matches!(
        op,
        Op::Get { .. }
            | Op::MGet { .. }
            | Op::Strlen { .. }
            | Op::GetRange { .. }
            | Op::Exists { .. }
            | Op::Ttl { .. }
            | Op::Type { .. }
            | Op::DbSize
            | Op::Select { .. }
            | Op::Ping { .. }
            | Op::Echo { .. }
    )
}

/// Every key a command names.
pub fn op_keys(op: &Op) -> Vec<Bytes> {
    match op {
        Op::Get { key }
        | Op::Set { key, .. }
        | Op::SetNx { key, .. }
        | Op::SetEx { key, .. }
        | Op::GetSet { key, .. }
        | Op::GetDel { key }
        | Op::GetEx { key, .. }
        | Op::Incr { key, .. }
        | Op::IncrByFloat { key, .. }
        | Op::Append { key, .. }
        | Op::Strlen { key }
        | Op::GetRange { key, .. }
        | Op::SetRange { key, .. }
        | Op::Expire { key, .. }
        | Op::PExpireAt { key, .. }
        | Op::Ttl { key, .. }
        | Op::Persist { key }
        | Op::Type { key } => vec![key.clone()],
        Op::MGet { keys } | Op::Del { keys, .. } | Op::Exists { keys, .. } => keys.clone(),
        Op::MSet { pairs, .. } => pairs.iter().map(|(key, _)| key.clone()).collect(),
        Op::Rename { source, target, .. } => vec![source.clone(), target.clone()],
        Op::DbSize | Op::Select { .. } | Op::FlushDb | Op::Ping { .. } | Op::Echo { .. } => vec![],
    }
}

impl Exec<'_> {
    /// The live value of `key`, or None. An undetermined key makes the command ambiguous.
    fn read(&mut self, key: &Bytes) -> Option<Value> {
        if !self.slots.contains_key(key) {
            let slot = self.model.view(self.db, key, self.window);
            self.slots.insert(key.clone(), slot);
        }
        match &self.slots[key] {
            Slot::Absent => None,
            Slot::Live(value) => Some(value.clone()),
            Slot::Unknown => {
                self.ambiguous = true;
                None
            }
        }
    }

    fn write(&mut self, key: &Bytes, value: Option<Value>) {
        let slot = value.map_or(Slot::Absent, Slot::Live);
        self.slots.insert(key.clone(), slot);
        self.written.insert(key.clone());
    }

    /// The command's effect on `key` cannot be known: its reply is accepted whatever it is
    /// and the key becomes Unknown.
    fn undetermined(&mut self, key: &Bytes) -> Expected {
        self.ambiguous = true;
        self.slots.insert(key.clone(), Slot::Unknown);
        self.written.insert(key.clone());
        Expected::Any
    }

    fn run(&mut self, op: &Op) -> Expected {
        match op {
            Op::Get { key } => {
                Expected::Exact(self.read(key).map_or(Reply::Nil, |v| Reply::Bulk(v.bytes)))
            }
            Op::Set {
                key,
                value,
                condition,
                get,
                ttl,
            } => self.set(key, value, *condition, *get, ttl),
            Op::SetNx { key, value } => {
                let done = self.set(key, value, Condition::Nx, false, &TtlArg::None);
                Expected::Exact(Reply::Int(i64::from(done == Expected::Exact(ok()))))
            }
            Op::SetEx {
                key,
                amount,
                millis,
                value,
            } => self.setex(key, *amount, *millis, value),
            Op::MGet { keys } => {
                let values = keys
                    .iter()
                    .map(|key| self.read(key).map_or(Reply::Nil, |v| Reply::Bulk(v.bytes)));
                Expected::Exact(Reply::Array(values.collect()))
            }
            Op::MSet { pairs, nx } => self.mset(pairs, *nx),
            Op::GetSet { key, value } => {
                let old = self.read(key);
                self.write(
                    key,
                    Some(Value {
                        bytes: value.clone(),
                        expiry: None,
                    }),
                );
                Expected::Exact(old.map_or(Reply::Nil, |v| Reply::Bulk(v.bytes)))
            }
            Op::GetDel { key } => {
                let old = self.read(key);
                self.write(key, None);
                Expected::Exact(old.map_or(Reply::Nil, |v| Reply::Bulk(v.bytes)))
            }
            Op::GetEx { key, ttl } => self.getex(key, ttl),
            Op::Incr { key, form, amount } => self.incr(key, *form, *amount),
            Op::IncrByFloat { key, amount } => self.incr_float(key, amount),
            Op::Append { key, value } => self.append(key, value),
            Op::Strlen { key } => {
                Expected::Exact(Reply::Int(self.read(key).map_or(0, |v| len(&v.bytes))))
            }
            Op::GetRange { key, start, end } => {
                let bytes = self.read(key).map_or(Bytes::new(), |v| v.bytes);
                Expected::Exact(Reply::Bulk(get_range(&bytes, *start, *end)))
            }
            Op::SetRange { key, offset, value } => self.setrange(key, *offset, value),
            other => self.run_keys(other),
        }
    }

    /// The generic key commands and the keyless ones.
    fn run_keys(&mut self, op: &Op) -> Expected {
        match op {
            Op::Del { keys, .. } => {
                let mut deleted = 0;
                for key in keys {
                    if self.read(key).is_some() {
                        deleted += 1;
                    }
                    self.write(key, None);
                }
                Expected::Exact(Reply::Int(deleted))
            }
            Op::Exists { keys, .. } => {
                let found = keys.iter().filter(|key| self.read(key).is_some()).count();
                Expected::Exact(Reply::Int(len_i64(found)))
            }
            Op::Expire {
                key,
                amount,
                millis,
                condition,
            } => {
                let ttl_ms = if *millis { *amount } else { amount * 1000 };
                let expiry = self.window.after(ttl_ms);
                self.expire(key, expiry, *condition)
            }
            Op::PExpireAt { key, at_ms } => self.expire(key, Expiry::at(*at_ms), Condition::Always),
            Op::Ttl { key, millis } => self.ttl(key, *millis),
            Op::Persist { key } => match self.read(key) {
                Some(value) if value.expiry.is_some() => {
                    self.write(
                        key,
                        Some(Value {
                            expiry: None,
                            ..value
                        }),
                    );
                    Expected::Exact(Reply::Int(1))
                }
                _ => Expected::Exact(Reply::Int(0)),
            },
            Op::Type { key } => {
                let name = if self.read(key).is_some() {
                    "string"
                } else {
                    "none"
                };
                Expected::Exact(Reply::Status(name))
            }
            Op::Rename { source, target, nx } => self.rename(source, target, *nx),
            other => self.run_keyless(other),
        }
    }

    fn run_keyless(&mut self, op: &Op) -> Expected {
        match op {
            Op::DbSize if self.db == ADMIN_DB => {
                let (lo, hi) = self.model.db_size_bounds(self.db, self.window);
                Expected::IntIn { lo, hi }
            }
            Op::DbSize => Expected::IntIn {
                lo: 0,
                hi: self.model.shared_keys_max,
            },
            Op::FlushDb => {
                assert_eq!(
                    self.db, ADMIN_DB,
                    "FLUSHDB only runs in the admin's own database"
                );
                let keys: Vec<Bytes> = self
                    .model
                    .entries
                    .keys()
                    .filter(|(db, _)| *db == self.db)
                    .map(|(_, key)| key.clone())
                    .collect();
                for key in keys {
                    self.write(&key, None);
                }
                Expected::Exact(ok())
            }
            Op::Select { db } if (0..16).contains(db) => Expected::Exact(ok()),
            Op::Select { .. } => error("ERR DB index is out of range"),
            Op::Ping { message: None } => Expected::Exact(Reply::Status("PONG")),
            Op::Ping {
                message: Some(message),
            }
            | Op::Echo { message } => Expected::Exact(Reply::Bulk(message.clone())),
            other => unreachable!("run dispatches every op: {other:?}"),
        }
    }

    fn set(
        &mut self,
        key: &Bytes,
        value: &Bytes,
        condition: Condition,
        get: bool,
        ttl: &TtlArg,
    ) -> Expected {
        if !ttl_valid(ttl) {
            return error("ERR invalid expire time in 'set' command");
        }
        let old = self.read(key);
        let proceed = match condition {
            Condition::Nx => old.is_none(),
            Condition::Xx => old.is_some(),
            _ => true,
        };
        let reply = match (get, proceed) {
            (true, _) => old.clone().map_or(Reply::Nil, |v| Reply::Bulk(v.bytes)),
            (false, true) => Reply::Status("OK"),
            (false, false) => Reply::Nil,
        };
        if proceed {
            let keep = old.and_then(|v| v.expiry);
            let expiry = self.expiry_of(ttl, keep);
            self.write(
                key,
                Some(Value {
                    bytes: value.clone(),
                    expiry,
                }),
            );
        }
        Expected::Exact(reply)
    }

    fn setex(&mut self, key: &Bytes, amount: i64, millis: bool, value: &Bytes) -> Expected {
        if amount <= 0 {
            let name = if millis { "psetex" } else { "setex" };
            return error(&format!("ERR invalid expire time in '{name}' command"));
        }
        let ttl_ms = if millis { amount } else { amount * 1000 };
        let expiry = Some(self.window.after(ttl_ms));
        self.write(
            key,
            Some(Value {
                bytes: value.clone(),
                expiry,
            }),
        );
        Expected::Exact(ok())
    }

    fn mset(&mut self, pairs: &[(Bytes, Bytes)], nx: bool) -> Expected {
        assert!(!pairs.is_empty());
        if nx && pairs.iter().any(|(key, _)| self.read(key).is_some()) {
            return Expected::Exact(Reply::Int(0));
        }
        for (key, value) in pairs {
            self.write(
                key,
                Some(Value {
                    bytes: value.clone(),
                    expiry: None,
                }),
            );
        }
        Expected::Exact(if nx { Reply::Int(1) } else { ok() })
    }

    fn getex(&mut self, key: &Bytes, ttl: &TtlArg) -> Expected {
        if !ttl_valid(ttl) {
            return error("ERR invalid expire time in 'getex' command");
        }
        let Some(old) = self.read(key) else {
            return Expected::Exact(Reply::Nil);
        };
        if *ttl != TtlArg::None {
            let expiry = self.expiry_of(ttl, None);
            self.write(
                key,
                Some(Value {
                    expiry,
                    ..old.clone()
                }),
            );
        }
        Expected::Exact(Reply::Bulk(old.bytes))
    }

    /// The expiry a SET or GETEX option gives; `keep` is the key's current one.
    fn expiry_of(&self, ttl: &TtlArg, keep: Option<Expiry>) -> Option<Expiry> {
        match ttl {
            TtlArg::None | TtlArg::Persist => None,
            TtlArg::KeepTtl => keep,
            TtlArg::Ex(seconds) => Some(self.window.after(seconds * 1000)),
            TtlArg::Px(millis) => Some(self.window.after(*millis)),
            TtlArg::ExAt(seconds) => Some(Expiry::at(seconds * 1000)),
            TtlArg::PxAt(millis) => Some(Expiry::at(*millis)),
        }
    }

    fn incr(&mut self, key: &Bytes, form: IncrForm, amount: i64) -> Expected {
        let delta = match form {
            IncrForm::Incr => 1,
            IncrForm::Decr => -1,
            IncrForm::IncrBy => amount,
            IncrForm::DecrBy => amount
                .checked_neg()
                .expect("the workload never sends i64::MIN"),
        };
        let old = self.read(key);
        let current = match &old {
            None => 0,
            Some(value) => match parse_redis_i64(&value.bytes) {
                Some(current) => current,
                None => return error("ERR value is not an integer or out of range"),
            },
        };
        let Some(next) = current.checked_add(delta) else {
            return error("ERR increment or decrement would overflow");
        };
        let expiry = old.and_then(|v| v.expiry);
        self.write(
            key,
            Some(Value {
                bytes: Bytes::from(next.to_string()),
                expiry,
            }),
        );
        Expected::Exact(Reply::Int(next))
    }

    fn incr_float(&mut self, key: &Bytes, amount: &Bytes) -> Expected {
        let delta = parse_redis_f64(amount).expect("the workload sends valid increments");
        let old = self.read(key);
        let current = match &old {
            None => 0.0,
            Some(value) => match parse_redis_f64(&value.bytes) {
                Some(current) => current,
                None => return error("ERR value is not a valid float"),
            },
        };
        let next = current + delta;
        if !next.is_finite() {
            return error("ERR increment would produce NaN or Infinity");
        }
        let expiry = old.and_then(|v| v.expiry);
        self.write(
            key,
            Some(Value {
                bytes: Bytes::from(next.to_string()),
                expiry,
            }),
        );
        self.learn = Some(key.clone());
        Expected::Float(next)
    }

    fn append(&mut self, key: &Bytes, value: &Bytes) -> Expected {
        let old = self.read(key);
        let (mut bytes, expiry) = old.map_or((Vec::new(), None), |v| (v.bytes.to_vec(), v.expiry));
        bytes.extend_from_slice(value);
        let length = len(&bytes);
        self.write(
            key,
            Some(Value {
                bytes: Bytes::from(bytes),
                expiry,
            }),
        );
        Expected::Exact(Reply::Int(length))
    }

    fn setrange(&mut self, key: &Bytes, offset: i64, value: &Bytes) -> Expected {
        if offset < 0 {
            return error("ERR offset is out of range");
        }
        let old = self.read(key);
        if value.is_empty() {
            // Nothing to write: the key is neither created nor changed.
            return Expected::Exact(Reply::Int(old.map_or(0, |v| len(&v.bytes))));
        }
        let (mut bytes, expiry) = old.map_or((Vec::new(), None), |v| (v.bytes.to_vec(), v.expiry));
        let offset = usize::try_from(offset).expect("checked above");
        let end = offset + value.len();
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[offset..end].copy_from_slice(value);
        let length = len(&bytes);
        self.write(
            key,
            Some(Value {
                bytes: Bytes::from(bytes),
                expiry,
            }),
        );
        Expected::Exact(Reply::Int(length))
    }

    fn expire(&mut self, key: &Bytes, expiry: Expiry, condition: Condition) -> Expected {
        let Some(old) = self.read(key) else {
            return Expected::Exact(Reply::Int(0));
        };
        // Redis treats a key without a TTL as one that never expires: GT fails, LT succeeds.
        let proceed = match (condition, old.expiry) {
            (Condition::Always, _) => Some(true),
            (Condition::Nx, current) => Some(current.is_none()),
            (Condition::Xx, current) => Some(current.is_some()),
            (Condition::Gt, None) => Some(false),
            (Condition::Lt, None) => Some(true),
            (Condition::Gt, Some(current)) => later(expiry, current),
            (Condition::Lt, Some(current)) => later(current, expiry),
        };
        match proceed {
            None => self.undetermined(key),
            Some(false) => Expected::Exact(Reply::Int(0)),
            Some(true) => {
                self.write(
                    key,
                    Some(Value {
                        expiry: Some(expiry),
                        ..old
                    }),
                );
                Expected::Exact(Reply::Int(1))
            }
        }
    }

    fn ttl(&mut self, key: &Bytes, millis: bool) -> Expected {
        let Some(value) = self.read(key) else {
            return Expected::Exact(Reply::Int(-2));
        };
        let Some(expiry) = value.expiry else {
            return Expected::Exact(Reply::Int(-1));
        };
        // The key is surely live, so it expires no sooner than the window ends.
        assert!(expiry.lo_ms >= self.window.latest_ms);
        let lo = ms_i64(expiry.lo_ms - self.window.latest_ms);
        let hi = ms_i64(expiry.hi_ms - self.window.earliest_ms);
        let round = |ms: i64| if millis { ms } else { (ms + 500) / 1000 };
        Expected::IntIn {
            lo: round(lo),
            hi: round(hi),
        }
    }

    fn rename(&mut self, source: &Bytes, target: &Bytes, nx: bool) -> Expected {
        let Some(value) = self.read(source) else {
            return error("ERR no such key");
        };
        if source == target {
            return Expected::Exact(if nx { Reply::Int(0) } else { ok() });
        }
        if nx && self.read(target).is_some() {
            return Expected::Exact(Reply::Int(0));
        }
        self.write(target, Some(value));
        self.write(source, None);
        Expected::Exact(if nx { Reply::Int(1) } else { ok() })
    }
}

/// Whether `left` is surely later than `right` (Some(true)), surely not (Some(false)), or
/// either, as far as the model knows (None).
fn later(left: Expiry, right: Expiry) -> Option<bool> {
    if left.lo_ms > right.hi_ms {
        Some(true)
    } else if left.hi_ms <= right.lo_ms {
        Some(false)
    } else {
        None
    }
}

/// EX, PX, EXAT and PXAT take positive numbers only.
fn ttl_valid(ttl: &TtlArg) -> bool {
    match ttl {
        TtlArg::Ex(amount) | TtlArg::Px(amount) | TtlArg::ExAt(amount) | TtlArg::PxAt(amount) => {
            *amount > 0
        }
        TtlArg::None | TtlArg::KeepTtl | TtlArg::Persist => true,
    }
}

/// Redis's strict integer syntax (`string2ll`): an optional '-', digits, no '+', no leading
/// zeros, no "-0", no spaces, and within i64.
pub fn parse_redis_i64(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    if bytes == b"0" {
        return Some(0);
    }
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    let first = *digits.first()?;
    if !(b'1'..=b'9').contains(&first) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// Redis's float syntax (`strtold` over the whole string): no leading space, no NaN. Only
/// forms the workload produces are needed, and Rust's parser agrees with strtold on those.
pub fn parse_redis_f64(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty() || text.starts_with(char::is_whitespace) {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    if value.is_nan() {
        return None;
    }
    Some(value)
}

/// GETRANGE as Redis 7 computes it, negative indexes counting from the end.
pub fn get_range(bytes: &[u8], start: i64, end: i64) -> Bytes {
    let length = len(bytes);
    if start < 0 && end < 0 && start > end {
        return Bytes::new();
    }
    let start = if start < 0 {
        (start + length).max(0)
    } else {
        start
    };
    let end = if end < 0 { (end + length).max(0) } else { end };
    let end = end.min(length - 1);
    if start > end || length == 0 {
        return Bytes::new();
    }
    let (start, end) = (
        usize::try_from(start).expect("nonnegative"),
        usize::try_from(end).expect("nonnegative"),
    );
    Bytes::copy_from_slice(&bytes[start..=end])
}

fn ok() -> Reply {
    Reply::Status("OK")
}

fn error(text: &str) -> Expected {
    Expected::Exact(Reply::Error(text.to_string()))
}

fn len(bytes: &[u8]) -> i64 {
    len_i64(bytes.len())
}

fn len_i64(count: usize) -> i64 {
    i64::try_from(count).expect("lengths fit in i64")
}

fn ms_i64(ms: u64) -> i64 {
    i64::try_from(ms).expect("durations fit in i64")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::op_args;

    const KEYS_MAX: i64 = 24;

    fn request(db: usize, op: Op) -> Request {
        let args = op_args(&op, false);
        Request { op, db, args }
    }

    fn key(name: &'static str) -> Bytes {
        Bytes::from_static(name.as_bytes())
    }

    fn bulk(text: &'static str) -> Frame {
        Frame::bulk(text.as_bytes())
    }

    fn set(name: &'static str, value: &'static str, ttl: TtlArg) -> Op {
        Op::Set {
            key: key(name),
            value: key(value),
            condition: Condition::Always,
            get: false,
            ttl,
        }
    }

    fn get(name: &'static str) -> Op {
        Op::Get { key: key(name) }
    }

    #[test]
    fn set_then_get() {
        let mut model = Model::new(KEYS_MAX);
        let window = Window::new(100, 102);
        model
            .step(
                &request(0, set("k", "v", TtlArg::None)),
                window,
                &Frame::ok(),
            )
            .unwrap();
        model
            .step(&request(0, get("k")), window, &bulk("v"))
            .unwrap();
        assert!(model
            .step(&request(0, get("k")), window, &Frame::Null)
            .is_err());
        // Another database does not see it.
        model
            .step(&request(1, get("k")), window, &Frame::Null)
            .unwrap();
    }

    #[test]
    fn expiry_is_certain_outside_the_window_and_open_inside() {
        let mut model = Model::new(KEYS_MAX);
        // Set at some instant of 100..=102 (widened by the slack) with a 50 ms TTL.
        model
            .step(
                &request(0, set("k", "v", TtlArg::Px(50))),
                Window::new(100, 102),
                &Frame::ok(),
            )
            .unwrap();
        model
            .step(&request(0, get("k")), Window::new(120, 130), &bulk("v"))
            .unwrap();
        // The expiry lies in 149..=153, which a window of 150..=151 overlaps: either reply.
        model
            .step(&request(0, get("k")), Window::new(150, 151), &Frame::Null)
            .unwrap();
        model
            .step(&request(0, get("k")), Window::new(150, 151), &bulk("v"))
            .unwrap();
        // Well after it, the key is surely gone.
        assert!(model
            .step(&request(0, get("k")), Window::new(160, 161), &bulk("v"))
            .is_err());
        model
            .step(&request(0, get("k")), Window::new(160, 161), &Frame::Null)
            .unwrap();
    }

    #[test]
    fn ambiguous_writes_make_keys_unknown_until_a_blind_write() {
        let mut model = Model::new(KEYS_MAX);
        model
            .step(
                &request(0, set("k", "5", TtlArg::Px(50))),
                Window::new(100, 100),
                &Frame::ok(),
            )
            .unwrap();
        let incr = Op::Incr {
            key: key("k"),
            form: IncrForm::Incr,
            amount: 1,
        };
        // Expiry in 149..=151; INCR at 150 may see 5 or nothing.
        model
            .step(&request(0, incr), Window::new(150, 150), &Frame::Integer(1))
            .unwrap();
        model
            .step(
                &request(0, get("k")),
                Window::new(170, 171),
                &bulk("anything"),
            )
            .unwrap();
        model
            .step(
                &request(0, set("k", "w", TtlArg::None)),
                Window::new(180, 181),
                &Frame::ok(),
            )
            .unwrap();
        assert!(model
            .step(
                &request(0, get("k")),
                Window::new(190, 191),
                &bulk("anything")
            )
            .is_err());
    }

    #[test]
    fn ttl_is_a_range() {
        let mut model = Model::new(KEYS_MAX);
        model
            .step(
                &request(0, set("k", "v", TtlArg::Px(300))),
                Window::new(100, 104),
                &Frame::ok(),
            )
            .unwrap();
        let pttl = request(
            0,
            Op::Ttl {
                key: key("k"),
                millis: true,
            },
        );
        // Expiry in 399..=405, read during 199..=201: between 198 and 206 ms remain.
        model
            .step(&pttl, Window::new(200, 200), &Frame::Integer(198))
            .unwrap();
        model
            .step(&pttl, Window::new(200, 200), &Frame::Integer(206))
            .unwrap();
        assert!(model
            .step(&pttl, Window::new(200, 200), &Frame::Integer(207))
            .is_err());
        let ttl = request(
            0,
            Op::Ttl {
                key: key("k"),
                millis: false,
            },
        );
        model
            .step(&ttl, Window::new(200, 200), &Frame::Integer(0))
            .unwrap();
        assert!(model
            .step(&ttl, Window::new(200, 200), &Frame::Integer(1))
            .is_err());
    }

    #[test]
    fn expire_conditions_follow_redis() {
        let mut model = Model::new(KEYS_MAX);
        let window = Window::new(100, 100);
        model
            .step(
                &request(0, set("k", "v", TtlArg::None)),
                window,
                &Frame::ok(),
            )
            .unwrap();
        let expire = |condition| {
            request(
                0,
                Op::Expire {
                    key: key("k"),
                    amount: 100,
                    millis: true,
                    condition,
                },
            )
        };
        // No TTL counts as infinite: GT fails, LT succeeds.
        model
            .step(&expire(Condition::Gt), window, &Frame::Integer(0))
            .unwrap();
        model
            .step(&expire(Condition::Xx), window, &Frame::Integer(0))
            .unwrap();
        model
            .step(&expire(Condition::Lt), window, &Frame::Integer(1))
            .unwrap();
        model
            .step(&expire(Condition::Nx), window, &Frame::Integer(0))
            .unwrap();
        let missing = request(
            0,
            Op::Expire {
                key: key("gone"),
                amount: 100,
                millis: true,
                condition: Condition::Always,
            },
        );
        model.step(&missing, window, &Frame::Integer(0)).unwrap();
    }

    #[test]
    fn counters_parse_like_redis() {
        assert_eq!(parse_redis_i64(b"0"), Some(0));
        assert_eq!(parse_redis_i64(b"-12"), Some(-12));
        assert_eq!(parse_redis_i64(b"9223372036854775807"), Some(i64::MAX));
        for bad in [
            &b"+5"[..],
            b"007",
            b"-0",
            b"",
            b" 1",
            b"1e3",
            b"9223372036854775808",
            b"-",
        ] {
            assert_eq!(parse_redis_i64(bad), None, "{bad:?}");
        }
        assert_eq!(parse_redis_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_redis_f64(b"+5"), Some(5.0));
        assert_eq!(parse_redis_f64(b" 1"), None);
        assert_eq!(parse_redis_f64(b""), None);
    }

    #[test]
    fn getrange_matches_redis() {
        // Cases checked against redis-server 7.0.
        let hello = b"hello";
        assert_eq!(get_range(hello, -3, -1), Bytes::from_static(b"llo"));
        assert_eq!(get_range(hello, -1, -5), Bytes::new());
        assert_eq!(get_range(hello, 5, 10), Bytes::new());
        assert_eq!(get_range(hello, 0, 100), Bytes::from_static(b"hello"));
        assert_eq!(get_range(hello, -100, 1), Bytes::from_static(b"he"));
        assert_eq!(get_range(b"", 0, -1), Bytes::new());
    }

    #[test]
    fn restart_empties_the_model() {
        let mut model = Model::new(KEYS_MAX);
        let window = Window::new(100, 100);
        model
            .step(
                &request(0, set("k", "v", TtlArg::None)),
                window,
                &Frame::ok(),
            )
            .unwrap();
        model.reset(1);
        assert_eq!(model.generation(), 1);
        model
            .step(&request(0, get("k")), window, &Frame::Null)
            .unwrap();
    }

    #[test]
    fn a_lost_reply_forgets_its_keys() {
        let mut model = Model::new(KEYS_MAX);
        let window = Window::new(100, 100);
        model.forget(&request(0, set("k", "v", TtlArg::None)));
        model
            .step(&request(0, get("k")), window, &bulk("v"))
            .unwrap();
        model
            .step(&request(0, get("k")), window, &Frame::Null)
            .unwrap();
    }
}
