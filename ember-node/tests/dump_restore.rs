//! DUMP and RESTORE through the real binary and a real client: every type and encoding
//! round-trips (on the same server and into another process), RESTORE's TTL, ABSTTL,
//! REPLACE, IDLETIME and FREQ behave as Redis's, damaged payloads are refused with Redis's
//! errors, restored keys take the target's encoding thresholds, and the AOF replays a
//! RESTORE to the same key and absolute expiry.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use common::{cmd, err, start_in, Server, TempDir};

/// What a client sees of a key: its type, its encoding and its contents in a canonical
/// order (hash pairs and set members sorted).
#[derive(Debug, PartialEq)]
struct Seen {
    type_name: String,
    encoding: String,
    contents: Vec<Vec<u8>>,
}

fn seen(c: &mut redis::Connection, key: &str) -> Seen {
    let type_name: String = cmd("TYPE").arg(key).query(c).expect("TYPE");
    let encoding: String = cmd("OBJECT")
        .arg("ENCODING")
        .arg(key)
        .query(c)
        .expect("OBJECT ENCODING");
    let contents: Vec<Vec<u8>> = match type_name.as_str() {
        "string" => vec![cmd("GET").arg(key).query(c).expect("GET")],
        "list" => cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query(c)
            .expect("LRANGE"),
        "hash" => {
            let flat: Vec<Vec<u8>> = cmd("HGETALL").arg(key).query(c).expect("HGETALL");
            let mut pairs: Vec<Vec<u8>> = flat
                .chunks(2)
                .map(|pair| [pair[0].clone(), b"=".to_vec(), pair[1].clone()].concat())
                .collect();
            pairs.sort();
            pairs
        }
        "set" => {
            let mut members: Vec<Vec<u8>> = cmd("SMEMBERS").arg(key).query(c).expect("SMEMBERS");
            members.sort();
            members
        }
        "zset" => cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query(c)
            .expect("ZRANGE"),
        other => panic!("{key} has type {other}"),
    };
    Seen {
        type_name,
        encoding,
        contents,
    }
}

fn dump(c: &mut redis::Connection, key: &str) -> Option<Vec<u8>> {
    cmd("DUMP").arg(key).query(c).expect("DUMP")
}

fn restore(
    c: &mut redis::Connection,
    key: &str,
    ttl: i64,
    payload: &[u8],
    options: &[&str],
) -> redis::RedisResult<redis::Value> {
    cmd("RESTORE")
        .arg(key)
        .arg(ttl)
        .arg(payload)
        .arg(options)
        .query(c)
}

fn restored(c: &mut redis::Connection, key: &str, ttl: i64, payload: &[u8], options: &[&str]) {
    let reply = restore(c, key, ttl, payload, options).expect("RESTORE");
    assert_eq!(reply, redis::Value::Okay, "RESTORE {key}");
}

fn query_i64(c: &mut redis::Connection, words: &[&str]) -> i64 {
    let mut command = cmd(words[0]);
    command.arg(&words[1..]);
    command.query(c).expect("an integer reply")
}

/// The server's clock in unix ms, from TIME.
fn server_now_ms(c: &mut redis::Connection) -> i64 {
    let time: Vec<String> = cmd("TIME").query(c).expect("TIME");
    let seconds: i64 = time[0].parse().expect("seconds");
    let micros: i64 = time[1].parse().expect("microseconds");
    seconds * 1000 + micros / 1000
}

/// Keys of every type in both of its encodings, with the encoding each must have.
fn fill_every_encoding(c: &mut redis::Connection) -> Vec<(String, &'static str)> {
    let mut keys = Vec::new();
    let mut add = |key: &str, encoding: &'static str| keys.push((key.to_string(), encoding));
    let binary: Vec<u8> = (0..=255u8).rev().collect();
    let strings: [(&str, Vec<u8>, &str); 5] = [
        ("s:int", b"-9223372036854775808".to_vec(), "int"),
        ("s:embstr", b"hello".to_vec(), "embstr"),
        ("s:raw", vec![b'r'; 100], "raw"),
        ("s:binary", binary, "raw"),
        ("s:empty", Vec::new(), "embstr"),
    ];
    for (key, value, encoding) in strings {
        let _: () = cmd("SET").arg(key).arg(value).query(c).expect("SET");
        add(key, encoding);
    }
    let small: Vec<String> = (0..5).map(|i| format!("e{i}")).collect();
    let large: Vec<String> = (0..1000).map(|i| format!("element-{i}")).collect();
    let ints: Vec<String> = (0..20).map(|i| (i * 1_000_003 - 7).to_string()).collect();
    let mut push = |command: &str, key: &str, members: &[String]| {
        let _: i64 = cmd(command).arg(key).arg(members).query(c).expect(command);
    };
    push("RPUSH", "l:small", &[small.clone(), ints.clone()].concat());
    push("RPUSH", "l:large", &large);
    push("SADD", "set:ints", &ints);
    push("SADD", "set:small", &small);
    push("SADD", "set:large", &large);
    let pairs = |members: &[String]| -> Vec<String> {
        members
            .iter()
            .flat_map(|m| [m.clone(), format!("value of {m}")])
            .collect()
    };
    push("HSET", "h:small", &pairs(&small));
    push("HSET", "h:large", &pairs(&large));
    let scored = |members: &[String]| -> Vec<String> {
        members
            .iter()
            .enumerate()
            .flat_map(|(i, m)| [format!("{}", i as f64 * 1.5 - 3.0), m.clone()])
            .collect()
    };
    push("ZADD", "z:small", &scored(&small));
    push("ZADD", "z:large", &scored(&large));
    for (key, encoding) in [
        ("l:small", "listpack"),
        ("l:large", "quicklist"),
        ("set:ints", "intset"),
        ("set:small", "listpack"),
        ("set:large", "hashtable"),
        ("h:small", "listpack"),
        ("h:large", "hashtable"),
        ("z:small", "listpack"),
        ("z:large", "skiplist"),
    ] {
        add(key, encoding);
    }
    let _: i64 = cmd("ZADD")
        .arg("z:odd")
        .arg("-inf")
        .arg("low")
        .arg("inf")
        .arg("high")
        .arg("-0")
        .arg("zero")
        .arg("1e-300")
        .arg("tiny")
        .query(c)
        .expect("ZADD");
    add("z:odd", "listpack");
    keys
}

#[test]
fn every_type_and_encoding_round_trips_on_one_server() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    for (key, encoding) in fill_every_encoding(&mut c) {
        let before = seen(&mut c, &key);
        assert_eq!(before.encoding, encoding, "{key} before DUMP");
        let payload = dump(&mut c, &key).expect("a live key dumps");
        let copy = format!("copy:{key}");
        restored(&mut c, &copy, 0, &payload, &[]);
        assert_eq!(seen(&mut c, &copy), before, "{key}");
        assert_eq!(query_i64(&mut c, &["PTTL", &copy]), -1, "{key}: no TTL");
        restored(&mut c, &key, 0, &payload, &["REPLACE"]);
        assert_eq!(seen(&mut c, &key), before, "{key} over itself");
    }
}

#[test]
fn payloads_restore_into_another_server_with_its_own_thresholds() {
    let source = Server::start(&["--shards", "3"]);
    let target = Server::start(&["--shards", "1"]);
    let mut s = source.client();
    let mut t = target.client();
    let keys = fill_every_encoding(&mut s);
    for (key, _) in &keys {
        let payload = dump(&mut s, key).expect("a live key dumps");
        restored(&mut t, key, 0, &payload, &[]);
        assert_eq!(seen(&mut t, key), seen(&mut s, key), "{key}");
    }
    // Collections take the target's thresholds: small ones leave their compact encodings.
    for (setting, value) in [
        ("hash-max-listpack-entries", "2"),
        ("set-max-intset-entries", "2"),
        ("set-max-listpack-entries", "2"),
        ("zset-max-listpack-entries", "2"),
    ] {
        let _: () = cmd("CONFIG")
            .arg("SET")
            .arg(setting)
            .arg(value)
            .query(&mut t)
            .expect("CONFIG SET");
    }
    for (key, encoding) in [
        ("h:small", "hashtable"),
        ("set:ints", "hashtable"),
        ("set:small", "hashtable"),
        ("z:small", "skiplist"),
    ] {
        let payload = dump(&mut s, key).expect("a live key dumps");
        restored(&mut t, key, 0, &payload, &["REPLACE"]);
        let after = seen(&mut t, key);
        assert_eq!(after.encoding, encoding, "{key} under small thresholds");
        assert_eq!(after.contents, seen(&mut s, key).contents, "{key}");
    }
}

#[test]
fn dump_of_a_missing_key_is_nil_and_busykey_guards_existing_keys() {
    let server = Server::start(&[]);
    let mut c = server.client();
    assert_eq!(dump(&mut c, "missing"), None);
    let _: () = cmd("SET").arg("k").arg("old").query(&mut c).unwrap();
    let _: i64 = cmd("RPUSH")
        .arg("list")
        .arg("a")
        .arg("b")
        .query(&mut c)
        .unwrap();
    let payload = dump(&mut c, "list").expect("dumps");
    assert_eq!(
        err(restore(&mut c, "k", 0, &payload, &[])),
        "BUSYKEY: Target key name already exists."
    );
    let kept: String = cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(kept, "old");
    restored(&mut c, "k", 0, &payload, &["REPLACE"]);
    let list: Vec<String> = cmd("LRANGE").arg("k").arg(0).arg(-1).query(&mut c).unwrap();
    assert_eq!(list, ["a", "b"]);
    // BUSYKEY comes before the TTL and the payload are looked at, as in Redis.
    assert_eq!(
        err(restore(&mut c, "k", -5, b"junk", &[])),
        "BUSYKEY: Target key name already exists."
    );
}

#[test]
fn ttls_are_durations_unix_times_or_none() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let _: () = cmd("SET").arg("src").arg("v").query(&mut c).unwrap();
    let payload = dump(&mut c, "src").expect("dumps");
    restored(&mut c, "relative", 10_000, &payload, &[]);
    let pttl = query_i64(&mut c, &["PTTL", "relative"]);
    assert!((9_000..=10_000).contains(&pttl), "PTTL {pttl}");
    restored(&mut c, "none", 0, &payload, &[]);
    assert_eq!(query_i64(&mut c, &["PTTL", "none"]), -1);
    let at = server_now_ms(&mut c) + 60_000;
    restored(&mut c, "absolute", at, &payload, &["ABSTTL"]);
    assert_eq!(query_i64(&mut c, &["PEXPIRETIME", "absolute"]), at);
    // A time already past creates nothing, yet the reply is OK.
    restored(&mut c, "past", 1, &payload, &["ABSTTL"]);
    assert_eq!(query_i64(&mut c, &["EXISTS", "past"]), 0);
    // ... and under REPLACE it deletes what was there.
    restored(&mut c, "none", 1, &payload, &["ABSTTL", "REPLACE"]);
    assert_eq!(query_i64(&mut c, &["EXISTS", "none"]), 0);
    assert_eq!(
        err(restore(&mut c, "neg", -1, &payload, &[])),
        "ERR: Invalid TTL value, must be >= 0"
    );
    let not_a_number: redis::RedisResult<redis::Value> = cmd("RESTORE")
        .arg("nan")
        .arg("soon")
        .arg(&payload)
        .query(&mut c);
    assert_eq!(
        err(not_a_number),
        "ERR: value is not an integer or out of range"
    );
}

#[test]
fn idletime_and_freq_set_the_access_field_the_policy_tracks() {
    let lru = Server::start(&["--maxmemory-policy", "allkeys-lru"]);
    let mut c = lru.client();
    let _: () = cmd("SET").arg("src").arg("v").query(&mut c).unwrap();
    let payload = dump(&mut c, "src").expect("dumps");
    restored(&mut c, "idle", 0, &payload, &["IDLETIME", "1000"]);
    let idle = query_i64(&mut c, &["OBJECT", "IDLETIME", "idle"]);
    assert!((1000..1005).contains(&idle), "OBJECT IDLETIME {idle}");
    restored(&mut c, "fresh", 0, &payload, &[]);
    assert!(query_i64(&mut c, &["OBJECT", "IDLETIME", "fresh"]) < 5);
    // FREQ is accepted and ignored without an LFU policy.
    restored(&mut c, "freq", 0, &payload, &["FREQ", "100"]);
    assert!(query_i64(&mut c, &["OBJECT", "IDLETIME", "freq"]) < 5);
    assert_eq!(
        err(restore(
            &mut c,
            "both",
            0,
            &payload,
            &["IDLETIME", "1", "FREQ", "1"]
        )),
        "ERR: syntax error"
    );
    assert_eq!(
        err(restore(
            &mut c,
            "both",
            0,
            &payload,
            &["FREQ", "1", "IDLETIME", "1"]
        )),
        "ERR: syntax error"
    );
    assert_eq!(
        err(restore(&mut c, "bad", 0, &payload, &["IDLETIME", "-1"])),
        "ERR: Invalid IDLETIME value, must be >= 0"
    );
    assert_eq!(
        err(restore(&mut c, "bad", 0, &payload, &["FREQ", "256"])),
        "ERR: Invalid FREQ value, must be >= 0 and <= 255"
    );
    assert_eq!(
        err(restore(&mut c, "bad", 0, &payload, &["IDLETIME"])),
        "ERR: syntax error"
    );
    assert_eq!(query_i64(&mut c, &["EXISTS", "both", "bad"]), 0);

    let lfu = Server::start(&["--maxmemory-policy", "allkeys-lfu"]);
    let mut c = lfu.client();
    restored(&mut c, "hot", 0, &payload, &["FREQ", "100"]);
    assert_eq!(query_i64(&mut c, &["OBJECT", "FREQ", "hot"]), 100);
    restored(&mut c, "cold", 0, &payload, &["FREQ", "0"]);
    assert_eq!(query_i64(&mut c, &["OBJECT", "FREQ", "cold"]), 0);
    restored(&mut c, "idle", 0, &payload, &["IDLETIME", "1000"]);
    assert_eq!(
        query_i64(&mut c, &["OBJECT", "FREQ", "idle"]),
        5,
        "IDLETIME is ignored under LFU: a new key's counter"
    );
}

/// A payload's kind and value under a footer that verifies, with the given version.
fn framed(body: &[u8], version: u16) -> Vec<u8> {
    let mut payload = body.to_vec();
    payload.extend_from_slice(&version.to_le_bytes());
    let checksum = u64::from(crc32c::crc32c(&payload));
    payload.extend_from_slice(&checksum.to_le_bytes());
    payload
}

#[test]
fn damaged_payloads_are_refused() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let _: i64 = cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .query(&mut c)
        .unwrap();
    let payload = dump(&mut c, "h").expect("dumps");
    let wrong = "ERR: DUMP payload version or checksum are wrong";
    for at in 0..payload.len() {
        let mut flipped = payload.clone();
        flipped[at] ^= 0x20;
        assert_eq!(
            err(restore(&mut c, "x", 0, &flipped, &[])),
            wrong,
            "byte {at}"
        );
    }
    for cut in [0, 1, 9, payload.len() - 1] {
        let truncated = &payload[..cut];
        assert_eq!(
            err(restore(&mut c, "x", 0, truncated, &[])),
            wrong,
            "cut {cut}"
        );
    }
    let body = &payload[..payload.len() - 10];
    assert_eq!(
        framed(body, 1),
        payload,
        "the layout is value, version, checksum"
    );
    assert_eq!(err(restore(&mut c, "x", 0, &framed(body, 2), &[])), wrong);
    assert_eq!(
        err(restore(&mut c, "x", 0, &framed(b"\x07junk", 1), &[])),
        "ERR: Bad data format"
    );
    assert_eq!(
        err(restore(&mut c, "x", 0, &framed(b"\x03\x00", 1), &[])),
        "ERR: Bad data format",
        "an empty set"
    );
    assert_eq!(query_i64(&mut c, &["EXISTS", "x"]), 0);
}

#[test]
fn command_info_matches_redis() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let info: Vec<redis::Value> = cmd("COMMAND")
        .arg("INFO")
        .arg("dump")
        .arg("restore")
        .query(&mut c)
        .expect("COMMAND INFO");
    let described = |value: &redis::Value| -> (String, i64, Vec<String>, Vec<String>) {
        let redis::Value::Array(fields) = value else {
            panic!("not an array: {value:?}");
        };
        let name: String = redis::from_redis_value(&fields[0]).unwrap();
        let arity: i64 = redis::from_redis_value(&fields[1]).unwrap();
        let flags: Vec<String> = redis::from_redis_value(&fields[2]).unwrap();
        let range: Vec<i64> = fields[3..6]
            .iter()
            .map(|v| redis::from_redis_value(v).unwrap())
            .collect();
        assert_eq!(range, [1, 1, 1], "{name}: one key");
        let categories: Vec<String> = redis::from_redis_value(&fields[6]).unwrap();
        (name, arity, flags, categories)
    };
    let (name, arity, flags, categories) = described(&info[0]);
    assert_eq!((name.as_str(), arity), ("dump", 2));
    assert_eq!(flags, ["readonly"]);
    assert_eq!(categories, ["@keyspace", "@read", "@slow"]);
    let (name, arity, flags, categories) = described(&info[1]);
    assert_eq!((name.as_str(), arity), ("restore", -4));
    assert_eq!(flags, ["write", "denyoom"]);
    assert_eq!(categories, ["@keyspace", "@write", "@dangerous", "@slow"]);
}

#[test]
fn the_aof_replays_restore_to_the_same_key_and_expiry() {
    let dir = TempDir::new();
    let flags = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--shards",
        "2",
    ];
    let mut server = start_in(&dir, &flags);
    let mut c = server.client();
    let keys = fill_every_encoding(&mut c);
    let mut expected = Vec::new();
    for (index, (key, _)) in keys.iter().enumerate() {
        let payload = dump(&mut c, key).expect("dumps");
        let copy = format!("copy:{key}");
        let ttl = if index % 2 == 0 { 0 } else { 3_600_000 };
        restored(&mut c, &copy, ttl, &payload, &["IDLETIME", "50"]);
        let at = query_i64(&mut c, &["PEXPIRETIME", &copy]);
        expected.push((copy, seen(&mut c, key), at));
    }
    let _: () = cmd("SET").arg("doomed").arg("x").query(&mut c).unwrap();
    let payload = dump(&mut c, "doomed").expect("dumps");
    restored(&mut c, "doomed", 1, &payload, &["REPLACE", "ABSTTL"]);
    server.kill();
    // Relative TTLs were logged as unix times: replayed at another time, they still agree.
    let logged: Vec<u8> = std::fs::read_dir(&dir.0)
        .expect("the data directory")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.to_string_lossy().contains(".aof"))
        .flat_map(|path| std::fs::read(path).expect("an AOF"))
        .collect();
    assert!(logged.windows(6).any(|window| window == b"ABSTTL"));
    let server = start_in(&dir, &flags);
    let mut c = server.client();
    for (copy, before, at) in expected {
        assert_eq!(seen(&mut c, &copy), before, "{copy} after restart");
        assert_eq!(query_i64(&mut c, &["PEXPIRETIME", &copy]), at, "{copy}");
    }
    assert_eq!(query_i64(&mut c, &["EXISTS", "doomed"]), 0);
}
