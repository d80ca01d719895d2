//! MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password]
//! [AUTH2 username password] [KEYS key ...]: moves keys to another server atomically, as
//! Redis does. The connection runs it itself (`Handler::Migrate`): it holds the stores of
//! the keys' shards for the whole transfer (so no command sees a key half moved), sends
//! each key as RESTORE-ASKING with its remaining TTL and DUMP payload, and deletes the keys
//! the target accepted (unless COPY).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ember_proto::dump::encode_dump;
use ember_proto::{Frame, Limits, Protocol};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::table::flag::{DANGEROUS, NO_MULTI, WRITE};
use super::table::{CommandSpec, Handler, KeySpec, Route};
use super::{Args, CmdError};
use crate::shard::ShardLocal;
use crate::slot::shard_of_key;

pub const COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "migrate",
    group: "generic",
    arity: -6,
    // Refused inside MULTI: it waits on the network while holding stores.
    flags: WRITE | DANGEROUS | NO_MULTI,
    keys: KeySpec {
        first: 3,
        last: 3,
        step: 1,
        keynum: 0,
    },
    route: Route::None,
    summary: "Atomically transfers a key from one Redis instance to another.",
    complexity: "This command actually executes a DUMP+DEL in the source instance, and a RESTORE in the target instance. See the pages of these commands for time complexity. Also an O(N) data transfer between the two instances is performed.",
    since: "2.6.0",
    handler: Handler::Migrate,
    subcommands: &[],
}];

/// MIGRATE's arguments.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    target: SocketAddr,
    db: i64,
    timeout: Duration,
    copy: bool,
    replace: bool,
    auth: Option<(Option<Bytes>, Bytes)>,
    keys: Vec<Bytes>,
}

fn parse(argv: &[Bytes]) -> Result<Request, CmdError> {
    let mut args = Args::new(argv, 1);
    let host = args.bytes()?;
    let port = args.i64()?;
    let key = args.bytes()?;
    let db = args.i64()?;
    let timeout_ms = args.i64()?;
    let mut request = Request {
        target: target_address(&host, port)?,
        db,
        // Redis takes a timeout of 0 or less as 1 s.
        timeout: Duration::from_millis(if timeout_ms <= 0 {
            1000
        } else {
            timeout_ms as u64
        }),
        copy: false,
        replace: false,
        auth: None,
        keys: Vec::new(),
    };
    while !args.is_empty() {
        if args.flag("COPY") {
            request.copy = true;
        } else if args.flag("REPLACE") {
            request.replace = true;
        } else if args.flag("AUTH") {
            request.auth = Some((None, args.bytes()?));
        } else if args.flag("AUTH2") {
            let user = args.bytes()?;
            request.auth = Some((Some(user), args.bytes()?));
        } else if args.flag("KEYS") {
            if !key.is_empty() {
                return Err(CmdError::Err(
                    "When using MIGRATE KEYS option, the key argument must be set to the empty string"
                        .into(),
                ));
            }
            while !args.is_empty() {
                request.keys.push(args.bytes()?);
            }
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if request.keys.is_empty() {
        request.keys.push(key);
    }
    Ok(request)
}

/// The target's address: an IP literal, or `localhost`. Names are not resolved (that would
/// be I/O outside `Env`).
fn target_address(host: &[u8], port: i64) -> Result<SocketAddr, CmdError> {
    let text = String::from_utf8_lossy(host);
    let ip: IpAddr = if text.eq_ignore_ascii_case("localhost") {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        text.parse()
            .map_err(|_| CmdError::Raw("IOERR error or timeout connecting to the client".into()))?
    };
    let port = u16::try_from(port).map_err(|_| CmdError::NotInteger)?;
    Ok(SocketAddr::new(ip, port))
}

fn command(words: &[&[u8]], out: &mut BytesMut) {
    ember_proto::encode(
        &Frame::Array(
            words
                .iter()
                .map(|w| Frame::Bulk(Bytes::copy_from_slice(w)))
                .collect(),
        ),
        Protocol::Resp2,
        out,
    );
}

/// Runs MIGRATE for a connection of `local`'s shard, in database `db`.
pub async fn execute(local: &ShardLocal, cluster: bool, argv: &[Bytes]) -> Frame {
    match run(local, cluster, argv).await {
        Ok(frame) => frame,
        Err(error) => error.to_frame(),
    }
}

async fn run(local: &ShardLocal, cluster: bool, argv: &[Bytes]) -> Result<Frame, CmdError> {
    let request = parse(argv)?;
    if cluster && request.db != 0 {
        return Err(CmdError::Err("DB index is out of range".into()));
    }
    let db = usize::try_from(request.db)
        .ok()
        .filter(|&db| db < crate::limits::DATABASES_MAX)
        .ok_or(CmdError::DbIndexOutOfRange)?;
    let shared = local.shared.clone();
    let mut shards: Vec<usize> = request
        .keys
        .iter()
        .map(|key| shard_of_key(key, shared.shard_count))
        .collect();
    shards.sort_unstable();
    shards.dedup();
    // Held until the transfer ends: no command sees a key both here and there.
    let mut stores = local.borrow_many(&shards).await;
    let now = local.env.unix_ms();
    let mut sent = Vec::new();
    let mut out = BytesMut::new();
    if let Some((user, password)) = &request.auth {
        match user {
            Some(user) => command(&[b"AUTH", user, password], &mut out),
            None => command(&[b"AUTH", password], &mut out),
        }
    }
    if !cluster {
        command(&[b"SELECT", request.db.to_string().as_bytes()], &mut out);
    }
    for key in &request.keys {
        let shard = shard_of_key(key, shared.shard_count);
        let store = stores
            .iter_mut()
            .find(|s| s.id == shard)
            .expect("borrowed above");
        if !store.exists(db, key, now) {
            continue;
        }
        let entry = store.entry_of(db, key).expect("the key is live");
        let Some(payload) = encode_dump(&entry.value) else {
            local.return_many(stores);
            return Err(CmdError::Err("value is too large to MIGRATE".into()));
        };
        let ttl = entry
            .expire_at_ms
            .map_or(0, |at| at.saturating_sub(now).max(1));
        let ttl = ttl.to_string();
        let mut words: Vec<&[u8]> = vec![b"RESTORE-ASKING", key, ttl.as_bytes(), &payload];
        if request.replace {
            words.push(b"REPLACE");
        }
        command(&words, &mut out);
        sent.push(key.clone());
    }
    if sent.is_empty() {
        local.return_many(stores);
        return Ok(Frame::Simple(Bytes::from_static(b"NOKEY")));
    }
    let expected = sent.len() + usize::from(request.auth.is_some()) + usize::from(!cluster);
    let replies = local
        .env
        .timeout(
            request.timeout,
            exchange(local, request.target, out, expected),
        )
        .await;
    let replies = match replies {
        Ok(Ok(replies)) => replies,
        Ok(Err(error)) => {
            local.return_many(stores);
            return Err(error);
        }
        Err(_elapsed) => {
            local.return_many(stores);
            return Err(CmdError::Raw(
                "IOERR error or timeout reading to target instance".into(),
            ));
        }
    };
    let mut first_error = None;
    let mut moved = Vec::new();
    for (index, reply) in replies.into_iter().enumerate() {
        let restore = index.checked_sub(expected - sent.len());
        match (reply, restore) {
            (Frame::Error(text), _) => {
                first_error.get_or_insert(text);
            }
            (_, Some(i)) => moved.push(sent[i].clone()),
            (_, None) => {}
        }
    }
    if !request.copy && !moved.is_empty() {
        let mut argv = vec![Bytes::from_static(b"DEL")];
        argv.extend(moved.iter().cloned());
        for key in &moved {
            let shard = shard_of_key(key, shared.shard_count);
            let store = stores
                .iter_mut()
                .find(|s| s.id == shard)
                .expect("borrowed above");
            store.discard(db, key, now);
        }
        let mut refs: Vec<&mut crate::keyspace::Store> =
            stores.iter_mut().map(|s| &mut **s).collect();
        crate::persist::log::after_command(&shared, &mut refs, db, &argv, None);
    }
    local.return_many(stores);
    match first_error {
        Some(text) => Err(CmdError::Raw(format!(
            "ERR Target instance replied with error: {}",
            String::from_utf8_lossy(&text)
        ))),
        None => Ok(super::ok()),
    }
}

/// Sends `out` to `target` and reads `expected` replies.
async fn exchange(
    local: &ShardLocal,
    target: SocketAddr,
    out: BytesMut,
    expected: usize,
) -> Result<Vec<Frame>, CmdError> {
    let connect = || CmdError::Raw("IOERR error or timeout connecting to the client".into());
    let read_failed = || CmdError::Raw("IOERR error or timeout reading to target instance".into());
    let mut conn = local.env.connect(target).await.map_err(|_| connect())?;
    conn.write_all(&out).await.map_err(|_| connect())?;
    let mut input = BytesMut::with_capacity(4096);
    let mut replies = Vec::with_capacity(expected);
    let limits = Limits::default();
    while replies.len() < expected {
        match ember_proto::decode(&mut input, &limits) {
            Ok(Some(frame)) => {
                replies.push(frame);
                continue;
            }
            Ok(None) => {}
            Err(_) => return Err(read_failed()),
        }
        let read = conn.read_buf(&mut input).await.map_err(|_| read_failed())?;
        if read == 0 {
            return Err(read_failed());
        }
    }
    Ok(replies)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Bytes> {
        text.split(' ')
            .map(|w| Bytes::copy_from_slice(if w == "\"\"" { b"" } else { w.as_bytes() }))
            .collect()
    }

    #[test]
    fn arguments_parse_like_redis() {
        let request = parse(&words("MIGRATE 127.0.0.1 7000 k 0 5000 COPY REPLACE")).expect("ok");
        assert_eq!(request.target, "127.0.0.1:7000".parse().expect("addr"));
        assert!(request.copy && request.replace);
        assert_eq!(request.keys, vec![Bytes::from_static(b"k")]);
        let request =
            parse(&words("MIGRATE localhost 7000 \"\" 0 0 AUTH2 u p KEYS a b")).expect("ok");
        assert_eq!(request.keys.len(), 2);
        assert_eq!(request.timeout, Duration::from_secs(1));
        assert_eq!(
            request.auth,
            Some((Some(Bytes::from_static(b"u")), Bytes::from_static(b"p")))
        );
        assert!(matches!(
            parse(&words("MIGRATE 127.0.0.1 7000 k 0 10 KEYS a")),
            Err(CmdError::Err(_))
        ));
        assert!(matches!(
            parse(&words("MIGRATE 127.0.0.1 7000 k 0 10 BOGUS")),
            Err(CmdError::Syntax)
        ));
    }
}
