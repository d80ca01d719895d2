//! The bitmap family through redis-rs against the real server, RESP2 and RESP3: every
//! command, the error texts, and BITOP over keys that live on different shards.

mod common;

use common::{cmd, err, Server};
use redis::{RedisResult, Value};

fn query(c: &mut redis::Connection, words: &[&str]) -> RedisResult<Value> {
    let mut command = cmd(words[0]);
    for word in &words[1..] {
        command.arg(*word);
    }
    command.query(c)
}

fn int(c: &mut redis::Connection, words: &[&str]) -> i64 {
    let mut command = cmd(words[0]);
    for word in &words[1..] {
        command.arg(*word);
    }
    command.query(c).unwrap()
}

fn get(c: &mut redis::Connection, key: &str) -> Option<Vec<u8>> {
    cmd("GET").arg(key).query(c).unwrap()
}

#[test]
fn setbit_getbit_bitcount_bitpos_in_both_protocols() {
    let server = Server::start(&["--shards", "2"]);
    for (mut c, key) in [(server.client(), "bm:r2"), (server.client_resp3(), "bm:r3")] {
        assert_eq!(int(&mut c, &["SETBIT", key, "7", "1"]), 0);
        assert_eq!(int(&mut c, &["SETBIT", key, "7", "1"]), 1);
        assert_eq!(int(&mut c, &["SETBIT", key, "100", "1"]), 0);
        assert_eq!(get(&mut c, key).unwrap().len(), 13);
        assert_eq!(int(&mut c, &["GETBIT", key, "7"]), 1);
        assert_eq!(int(&mut c, &["GETBIT", key, "8"]), 0);
        assert_eq!(int(&mut c, &["GETBIT", key, "10000"]), 0);
        assert_eq!(int(&mut c, &["GETBIT", "bm:none", "3"]), 0);
        assert_eq!(int(&mut c, &["BITCOUNT", key]), 2);
        assert_eq!(int(&mut c, &["BITCOUNT", key, "0", "0"]), 1);
        assert_eq!(int(&mut c, &["BITCOUNT", key, "8", "99", "BIT"]), 0);
        assert_eq!(int(&mut c, &["BITCOUNT", key, "-1", "-1", "byte"]), 1);
        assert_eq!(int(&mut c, &["BITCOUNT", "bm:none"]), 0);
        assert_eq!(int(&mut c, &["BITPOS", key, "1"]), 7);
        assert_eq!(int(&mut c, &["BITPOS", key, "1", "1"]), 100);
        assert_eq!(int(&mut c, &["BITPOS", key, "1", "8", "-1", "BIT"]), 100);
        assert_eq!(int(&mut c, &["BITPOS", key, "0"]), 0);
        assert_eq!(int(&mut c, &["BITPOS", "bm:none", "1"]), -1);
        assert_eq!(int(&mut c, &["BITPOS", "bm:none", "0"]), 0);
    }
}

#[test]
fn bitpos_on_all_ones_follows_the_documented_edge_cases() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let _: () = cmd("SET")
        .arg("bm:ones")
        .arg(&b"\xff\xff\xff"[..])
        .query(&mut c)
        .unwrap();
    assert_eq!(int(&mut c, &["BITPOS", "bm:ones", "0"]), 24);
    assert_eq!(int(&mut c, &["BITPOS", "bm:ones", "0", "1"]), 24);
    assert_eq!(int(&mut c, &["BITPOS", "bm:ones", "0", "0", "-1"]), -1);
    assert_eq!(
        int(&mut c, &["BITPOS", "bm:ones", "0", "2", "23", "BIT"]),
        -1
    );
    let _: () = cmd("SET")
        .arg("bm:doc")
        .arg(&b"\xff\xf0\x00"[..])
        .query(&mut c)
        .unwrap();
    assert_eq!(int(&mut c, &["BITPOS", "bm:doc", "0"]), 12);
    assert_eq!(int(&mut c, &["BITPOS", "bm:doc", "1", "2"]), -1);
    assert_eq!(int(&mut c, &["BITPOS", "bm:doc", "1", "7", "15", "BIT"]), 7);
}

#[test]
fn errors_match_redis_texts() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let offset = "ERR: bit offset is not an integer or out of range";
    let not_integer = "ERR: value is not an integer or out of range";
    let cases: &[(&[&str], &str)] = &[
        (&["SETBIT", "bm:e", "-1", "1"], offset),
        (&["SETBIT", "bm:e", "4294967296", "1"], offset),
        (&["SETBIT", "bm:e", "x", "1"], offset),
        (&["SETBIT", "bm:e", "0", "2"], "ERR: bit is not an integer or out of range"),
        (&["GETBIT", "bm:e", "-5"], offset),
        (&["BITCOUNT", "bm:e", "0"], "ERR: syntax error"),
        (&["BITCOUNT", "bm:e", "0", "1", "bits"], "ERR: syntax error"),
        (&["BITCOUNT", "bm:e", "a", "1"], not_integer),
        (&["BITPOS", "bm:e", "3"], "ERR: The bit argument must be 1 or 0."),
        (&["BITPOS", "bm:e", "1", "0", "1", "BIT", "x"], "ERR: syntax error"),
        (&["BITOP", "NOT", "bm:d", "bm:a", "bm:b"], "ERR: BITOP NOT must be called with a single source key."),
        (&["BITOP", "NAND", "bm:d", "bm:a"], "ERR: syntax error"),
        (&["BITOP", "AND", "bm:d"], "ERR: wrong number of arguments for 'bitop' command"),
        (&["SETBIT", "bm:e", "1"], "ERR: wrong number of arguments for 'setbit' command"),
        (&["BITFIELD", "bm:e", "GET", "u64", "0"], "ERR: Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."),
        (&["BITFIELD", "bm:e", "GET", "i8", "#-1"], offset),
        (&["BITFIELD", "bm:e", "OVERFLOW", "NOPE"], "ERR: Invalid OVERFLOW type specified"),
        (&["BITFIELD", "bm:e", "SET", "u8", "0"], "ERR: syntax error"),
        (&["BITFIELD", "bm:e", "INCRBY", "u8", "0", "x"], not_integer),
        (&["BITFIELD_RO", "bm:e", "SET", "u8", "0", "1"], "ERR: BITFIELD_RO only supports the GET subcommand"),
    ];
    for (words, expected) in cases {
        assert_eq!(err(query(&mut c, words)), *expected, "{words:?}");
    }
    let exists: i64 = cmd("EXISTS").arg("bm:e").query(&mut c).unwrap();
    assert_eq!(exists, 0, "failed commands create nothing");
    let _: () = cmd("RPUSH").arg("bm:list").arg("x").query(&mut c).unwrap();
    let wrong = "WRONGTYPE: Operation against a key holding the wrong kind of value";
    for words in [
        &["SETBIT", "bm:list", "0", "1"][..],
        &["GETBIT", "bm:list", "0"],
        &["BITCOUNT", "bm:list"],
        &["BITPOS", "bm:list", "0"],
        &["BITOP", "OR", "bm:d", "bm:list"],
        &["BITFIELD", "bm:list", "GET", "u8", "0"],
        &["BITFIELD_RO", "bm:list", "GET", "u8", "0"],
    ] {
        assert_eq!(err(query(&mut c, words)), wrong, "{words:?}");
    }
}

#[test]
fn offsets_follow_proto_max_bulk_len() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("proto-max-bulk-len")
        .arg("1mb")
        .query(&mut c)
        .unwrap();
    let last = (1024 * 1024 * 8 - 1).to_string();
    let past = (1024 * 1024 * 8).to_string();
    assert_eq!(int(&mut c, &["SETBIT", "bm:big", &last, "1"]), 0);
    assert_eq!(int(&mut c, &["STRLEN", "bm:big"]), 1024 * 1024);
    assert_eq!(
        err(query(&mut c, &["SETBIT", "bm:big", &past, "1"])),
        "ERR: bit offset is not an integer or out of range"
    );
    assert_eq!(
        err(query(
            &mut c,
            &["BITFIELD", "bm:big", "GET", "u8", "#1048576"]
        )),
        "ERR: bit offset is not an integer or out of range"
    );
    assert_eq!(int(&mut c, &["BITCOUNT", "bm:big"]), 1);
    assert_eq!(int(&mut c, &["BITPOS", "bm:big", "1"]), 1024 * 1024 * 8 - 1);
}

#[test]
fn setbit_keeps_the_ttl_and_bitop_replaces_it() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let _: () = cmd("SET")
        .arg("bm:t")
        .arg("a")
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    assert_eq!(int(&mut c, &["SETBIT", "bm:t", "100", "1"]), 0);
    assert!(int(&mut c, &["TTL", "bm:t"]) > 0);
    let _: () = cmd("SET")
        .arg("bm:dest")
        .arg("x")
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    assert_eq!(int(&mut c, &["BITOP", "OR", "bm:dest", "bm:t"]), 13);
    assert_eq!(int(&mut c, &["TTL", "bm:dest"]), -1);
    assert_eq!(get(&mut c, "bm:dest"), get(&mut c, "bm:t"));
}

#[test]
fn bitop_spans_shards() {
    let server = Server::start(&["--shards", "4"]);
    let mut c = server.client();
    // Twelve keys spread over the four shards; key i holds 1 + i % 3 bytes of 1 << (i % 8).
    let keys: Vec<String> = (0..12).map(|i| format!("bm:src:{i}")).collect();
    let shards: std::collections::BTreeSet<usize> = keys
        .iter()
        .map(|key| ember_node::slot::shard_of_key(key.as_bytes(), 4))
        .collect();
    assert_eq!(shards.len(), 4, "the sources live on every shard");
    for (i, key) in keys.iter().enumerate() {
        let _: () = cmd("SET")
            .arg(key)
            .arg(vec![1u8 << (i % 8); 1 + i % 3])
            .query(&mut c)
            .unwrap();
    }
    let mut or = cmd("BITOP");
    or.arg("OR").arg("bm:dest").arg(&keys);
    assert_eq!(or.query::<i64>(&mut c).unwrap(), 3);
    // Byte 0 has every key; byte 1 the keys of length 2 or 3; byte 2 those of length 3.
    assert_eq!(get(&mut c, "bm:dest").unwrap(), vec![0xff, 0xbf, 0x2d]);
    let mut xor = cmd("BITOP");
    xor.arg("XOR")
        .arg("bm:dest")
        .arg(&keys[..2])
        .arg("bm:missing");
    assert_eq!(xor.query::<i64>(&mut c).unwrap(), 2);
    assert_eq!(get(&mut c, "bm:dest").unwrap(), vec![0x03, 0x02]);
    let mut and = cmd("BITOP");
    and.arg("AND").arg("bm:dest").arg(&keys[..3]);
    assert_eq!(and.query::<i64>(&mut c).unwrap(), 3);
    assert_eq!(get(&mut c, "bm:dest").unwrap(), vec![0, 0, 0]);
    assert_eq!(int(&mut c, &["BITOP", "NOT", "bm:dest", "bm:src:1"]), 2);
    assert_eq!(get(&mut c, "bm:dest").unwrap(), vec![0xfd, 0xfd]);
    assert_eq!(
        int(
            &mut c,
            &["BITOP", "AND", "bm:dest", "bm:missing", "bm:gone"]
        ),
        0
    );
    assert_eq!(
        int(&mut c, &["EXISTS", "bm:dest"]),
        0,
        "an empty result deletes"
    );
}

#[test]
fn bitfield_in_both_protocols() {
    let server = Server::start(&["--shards", "2"]);
    for (mut c, key) in [(server.client(), "bm:f2"), (server.client_resp3(), "bm:f3")] {
        let reply: Vec<Option<i64>> = cmd("BITFIELD")
            .arg(key)
            .arg(&["INCRBY", "i5", "100", "1", "GET", "u4", "0"])
            .query(&mut c)
            .unwrap();
        assert_eq!(reply, vec![Some(1), Some(0)]);
        let reply: Vec<Option<i64>> = cmd("BITFIELD")
            .arg(key)
            .arg(&[
                "SET", "i8", "#0", "100", "SET", "i8", "#1", "200", "GET", "u8", "8",
            ])
            .query(&mut c)
            .unwrap();
        assert_eq!(reply, vec![Some(0), Some(0), Some(200)]);
        let reply: Vec<Option<i64>> = cmd("BITFIELD")
            .arg(key)
            .arg(&["OVERFLOW", "SAT", "INCRBY", "u2", "102", "7"])
            .arg(&["OVERFLOW", "FAIL", "INCRBY", "u2", "102", "1"])
            .arg(&["OVERFLOW", "WRAP", "INCRBY", "u2", "102", "1"])
            .query(&mut c)
            .unwrap();
        assert_eq!(reply, vec![Some(3), None, Some(0)]);
        let raw = query(
            &mut c,
            &["BITFIELD", key, "OVERFLOW", "FAIL", "SET", "i8", "0", "128"],
        );
        assert_eq!(raw.unwrap(), Value::Array(vec![Value::Nil]));
        let reply: Vec<i64> = cmd("BITFIELD")
            .arg(key)
            .arg(&[
                "SET", "i64", "0", "-1", "GET", "u63", "0", "GET", "i64", "0",
            ])
            .query(&mut c)
            .unwrap();
        assert_eq!(reply, vec![0x64c8 << 48, i64::MAX, -1]);
        let reply: Vec<i64> = cmd("BITFIELD_RO")
            .arg(key)
            .arg(&["GET", "i8", "0", "GET", "u1", "63"])
            .query(&mut c)
            .unwrap();
        assert_eq!(reply, vec![-1, 1]);
        let empty = query(&mut c, &["BITFIELD", key]).unwrap();
        assert_eq!(empty, Value::Array(vec![]));
        let missing = query(&mut c, &["BITFIELD_RO", "bm:nothing", "GET", "u8", "0"]).unwrap();
        assert_eq!(missing, Value::Array(vec![Value::Int(0)]));
        assert_eq!(int(&mut c, &["EXISTS", "bm:nothing"]), 0);
    }
}

#[test]
fn a_setbit_that_changes_nothing_does_not_abort_a_watch() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let mut other = server.client();
    assert_eq!(int(&mut c, &["SETBIT", "bm:w", "3", "1"]), 0);
    let _: () = cmd("WATCH").arg("bm:w").query(&mut c).unwrap();
    assert_eq!(int(&mut other, &["SETBIT", "bm:w", "3", "1"]), 1);
    let reply: Vec<i64> = cmd("BITFIELD")
        .arg("bm:w")
        .arg(&["SET", "u8", "0", "16", "GET", "u8", "0"])
        .query(&mut other)
        .unwrap();
    assert_eq!(
        reply,
        vec![16, 16],
        "a BITFIELD SET of the same value changes nothing"
    );
    let reply: Value = redis::pipe()
        .atomic()
        .cmd("GETBIT")
        .arg("bm:w")
        .arg(3)
        .query(&mut c)
        .unwrap();
    assert_eq!(reply, Value::Array(vec![Value::Int(1)]));
    let _: () = cmd("WATCH").arg("bm:w").query(&mut c).unwrap();
    assert_eq!(int(&mut other, &["SETBIT", "bm:w", "3", "0"]), 1);
    let reply: Value = redis::pipe()
        .atomic()
        .cmd("GETBIT")
        .arg("bm:w")
        .arg(3)
        .query(&mut c)
        .unwrap();
    assert_eq!(reply, Value::Nil, "a real change aborts the transaction");
}

#[test]
fn command_info_describes_the_family() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let info: Value = cmd("COMMAND")
        .arg("INFO")
        .arg("bitop")
        .arg("bitfield_ro")
        .query(&mut c)
        .unwrap();
    let Value::Array(entries) = info else {
        panic!("an array: {info:?}");
    };
    let Value::Array(bitop) = &entries[0] else {
        panic!("an entry");
    };
    assert_eq!(bitop[1], Value::Int(-4));
    assert_eq!(
        &bitop[3..6],
        &[Value::Int(2), Value::Int(-1), Value::Int(1)]
    );
    let Value::Array(ro) = &entries[1] else {
        panic!("an entry");
    };
    assert_eq!(ro[1], Value::Int(-2));
}
