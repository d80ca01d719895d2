//! The hash family through redis-rs against the real server: every command, RESP2 and RESP3
//! reply shapes, errors, and the listpack -> hashtable conversion seen by OBJECT ENCODING.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{cmd, err, Server};
use redis::{FromRedisValue, RedisResult, Value};

fn command(words: &[&str]) -> redis::Cmd {
    let mut command = cmd(words[0]);
    for word in &words[1..] {
        command.arg(*word);
    }
    command
}

/// Runs a command and converts its reply, panicking on an error reply.
fn q<T: FromRedisValue>(c: &mut redis::Connection, words: &[&str]) -> T {
    command(words)
        .query(c)
        .unwrap_or_else(|e| panic!("{words:?}: {e}"))
}

fn try_q(c: &mut redis::Connection, words: &[&str]) -> RedisResult<Value> {
    command(words).query(c)
}

fn encoding(c: &mut redis::Connection, key: &str) -> String {
    q(c, &["OBJECT", "ENCODING", key])
}

fn bulk(text: &str) -> Value {
    Value::BulkString(text.as_bytes().to_vec())
}

#[test]
fn set_get_and_the_read_commands() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let added: i64 = q(&mut c, &["HSET", "h", "a", "1", "b", "2", "a", "3"]);
    assert_eq!(added, 2, "a repeated field counts once");
    let again: i64 = q(&mut c, &["HSET", "h", "a", "4", "c", "5"]);
    assert_eq!(again, 1);
    let value: Option<String> = q(&mut c, &["HGET", "h", "a"]);
    assert_eq!(value.as_deref(), Some("4"));
    let missing: Option<String> = q(&mut c, &["HGET", "h", "zz"]);
    assert_eq!(missing, None);
    let missing_key: Option<String> = q(&mut c, &["HGET", "nokey", "a"]);
    assert_eq!(missing_key, None);
    let ok: String = q(&mut c, &["HMSET", "h", "d", "6", "e", "7"]);
    assert_eq!(ok, "OK");
    let values: Vec<Option<String>> = q(&mut c, &["HMGET", "h", "a", "zz", "e"]);
    assert_eq!(values, vec![Some("4".into()), None, Some("7".into())]);
    let none: Vec<Option<String>> = q(&mut c, &["HMGET", "nokey", "a", "b"]);
    assert_eq!(none, vec![None, None]);
    let len: i64 = q(&mut c, &["HLEN", "h"]);
    assert_eq!(len, 5);
    let zero: i64 = q(&mut c, &["HLEN", "nokey"]);
    assert_eq!(zero, 0);
    let exists: (i64, i64, i64) = (
        q(&mut c, &["HEXISTS", "h", "a"]),
        q(&mut c, &["HEXISTS", "h", "zz"]),
        q(&mut c, &["HEXISTS", "nokey", "a"]),
    );
    assert_eq!(exists, (1, 0, 0));
    let _: i64 = q(&mut c, &["HSET", "h", "long", "hello world"]);
    let lens: (i64, i64, i64) = (
        q(&mut c, &["HSTRLEN", "h", "long"]),
        q(&mut c, &["HSTRLEN", "h", "zz"]),
        q(&mut c, &["HSTRLEN", "nokey", "zz"]),
    );
    assert_eq!(lens, (11, 0, 0));
    let mut keys: Vec<String> = q(&mut c, &["HKEYS", "h"]);
    keys.sort();
    assert_eq!(keys, ["a", "b", "c", "d", "e", "long"]);
    let mut values: Vec<String> = q(&mut c, &["HVALS", "h"]);
    values.sort();
    assert_eq!(values, ["2", "4", "5", "6", "7", "hello world"]);
    let empty: Vec<String> = q(&mut c, &["HKEYS", "nokey"]);
    assert!(empty.is_empty());
    let empty: Vec<String> = q(&mut c, &["HVALS", "nokey"]);
    assert!(empty.is_empty());
    let all: BTreeMap<String, String> = q(&mut c, &["HGETALL", "h"]);
    assert_eq!(all.len(), 6);
    assert_eq!(all["long"], "hello world");
    let flat: Value = q(&mut c, &["HGETALL", "h"]);
    let Value::Array(items) = flat else {
        panic!("RESP2 HGETALL is a flat array: {flat:?}");
    };
    assert_eq!(items.len(), 12);
    let missing: Value = q(&mut c, &["HGETALL", "nokey"]);
    assert_eq!(missing, Value::Array(vec![]));
    let type_name: String = q(&mut c, &["TYPE", "h"]);
    assert_eq!(type_name, "hash");
}

#[test]
fn setnx_and_delete() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let set: i64 = q(&mut c, &["HSETNX", "h", "f", "1"]);
    assert_eq!(set, 1);
    let kept: i64 = q(&mut c, &["HSETNX", "h", "f", "2"]);
    assert_eq!(kept, 0);
    let value: String = q(&mut c, &["HGET", "h", "f"]);
    assert_eq!(value, "1");
    let _: () = q(&mut c, &["HMSET", "h", "a", "1", "b", "2", "c", "3"]);
    let none: i64 = q(&mut c, &["HDEL", "h", "x", "y"]);
    assert_eq!(none, 0);
    let two: i64 = q(&mut c, &["HDEL", "h", "a", "c", "x"]);
    assert_eq!(two, 2);
    let all: BTreeMap<String, String> = q(&mut c, &["HGETALL", "h"]);
    assert_eq!(all.len(), 2);
    let rest: i64 = q(&mut c, &["HDEL", "h", "b", "f", "b", "z"]);
    assert_eq!(rest, 2);
    let exists: i64 = q(&mut c, &["EXISTS", "h"]);
    assert_eq!(exists, 0, "the hash goes with its last field");
    let missing: i64 = q(&mut c, &["HDEL", "nokey", "a"]);
    assert_eq!(missing, 0);
}

#[test]
fn writes_keep_the_ttl() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let _: i64 = q(&mut c, &["HSET", "h", "a", "1"]);
    let _: i64 = q(&mut c, &["EXPIRE", "h", "100"]);
    let _: i64 = q(&mut c, &["HSET", "h", "b", "2"]);
    let _: i64 = q(&mut c, &["HINCRBY", "h", "n", "1"]);
    let _: i64 = q(&mut c, &["HDEL", "h", "a"]);
    let ttl: i64 = q(&mut c, &["TTL", "h"]);
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
}

#[test]
fn arity_and_wrong_type_errors() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    assert_eq!(
        err(try_q(&mut c, &["HSET", "h", "a", "1", "b"])),
        "ERR: wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        err(try_q(&mut c, &["HMSET", "h", "a", "1", "b"])),
        "ERR: wrong number of arguments for 'hmset' command"
    );
    assert_eq!(
        err(try_q(&mut c, &["HSET", "h", "a"])),
        "ERR: wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        err(try_q(&mut c, &["HGET", "h"])),
        "ERR: wrong number of arguments for 'hget' command"
    );
    let _: () = q(&mut c, &["SET", "s", "v"]);
    let wrong = "WRONGTYPE: Operation against a key holding the wrong kind of value";
    for words in [
        &["HSET", "s", "a", "1"][..],
        &["HMSET", "s", "a", "1"],
        &["HSETNX", "s", "a", "1"],
        &["HGET", "s", "a"],
        &["HMGET", "s", "a", "b"],
        &["HGETALL", "s"],
        &["HDEL", "s", "a"],
        &["HEXISTS", "s", "a"],
        &["HLEN", "s"],
        &["HSTRLEN", "s", "a"],
        &["HINCRBY", "s", "a", "1"],
        &["HINCRBYFLOAT", "s", "a", "1.5"],
        &["HKEYS", "s"],
        &["HVALS", "s"],
        &["HRANDFIELD", "s"],
        &["HRANDFIELD", "s", "0"],
        &["HRANDFIELD", "s", "-5", "WITHVALUES"],
        &["HSCAN", "s", "0"],
    ] {
        assert_eq!(err(try_q(&mut c, words)), wrong, "{words:?}");
    }
    let value: String = q(&mut c, &["GET", "s"]);
    assert_eq!(value, "v");
}

#[test]
fn hincrby_and_hincrbyfloat() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let two: i64 = q(&mut c, &["HINCRBY", "h", "n", "2"]);
    assert_eq!(two, 2);
    let five: i64 = q(&mut c, &["HINCRBY", "h", "n", "3"]);
    assert_eq!(five, 5);
    let big: i64 = q(&mut c, &["HINCRBY", "h", "n", "17179869184"]);
    assert_eq!(big, 17179869189);
    let _: i64 = q(
        &mut c,
        &["HSET", "h", "sp", " 11", "neg", "-9223372036854775484"],
    );
    assert_eq!(
        err(try_q(&mut c, &["HINCRBY", "h", "sp", "1"])),
        "ERR: hash value is not an integer"
    );
    let near: i64 = q(&mut c, &["HINCRBY", "h", "neg", "-1"]);
    assert_eq!(near, -9223372036854775485);
    assert_eq!(
        err(try_q(&mut c, &["HINCRBY", "h", "neg", "-10000"])),
        "ERR: increment or decrement would overflow"
    );
    assert_eq!(
        err(try_q(&mut c, &["HINCRBY", "h", "n", "v"])),
        "ERR: value is not an integer or out of range"
    );
    let float: String = q(&mut c, &["HINCRBYFLOAT", "h", "f", "1.23"]);
    assert_eq!(float, "1.23");
    let two: String = q(&mut c, &["HINCRBYFLOAT", "h", "f", "0.77"]);
    assert_eq!(two, "2");
    let less: String = q(&mut c, &["HINCRBYFLOAT", "h", "f", "-0.1"]);
    assert_eq!(less, "1.9");
    let exp: String = q(&mut c, &["HINCRBYFLOAT", "h", "e", "5.0e3"]);
    assert_eq!(exp, "5000");
    let stored: String = q(&mut c, &["HGET", "h", "e"]);
    assert_eq!(stored, "5000");
    let from_int: String = q(&mut c, &["HINCRBYFLOAT", "h", "n", "0.5"]);
    assert_eq!(from_int, "17179869189.5");
    assert_eq!(
        err(try_q(&mut c, &["HINCRBY", "h", "n", "1"])),
        "ERR: hash value is not an integer"
    );
    assert_eq!(
        err(try_q(&mut c, &["HINCRBYFLOAT", "h", "sp", "1"])),
        "ERR: hash value is not a float"
    );
    let _: i64 = q(&mut c, &["HSET", "h", "nul", "1\u{0}2"]);
    assert_eq!(
        err(try_q(&mut c, &["HINCRBYFLOAT", "h", "nul", "1"])),
        "ERR: hash value is not a float"
    );
    assert_eq!(
        err(try_q(&mut c, &["HINCRBYFLOAT", "h", "f", "v"])),
        "ERR: value is not a valid float"
    );
    assert_eq!(
        err(try_q(&mut c, &["HINCRBYFLOAT", "hfoo", "field", "+inf"])),
        "ERR: value is NaN or Infinity"
    );
    let exists: i64 = q(&mut c, &["EXISTS", "hfoo"]);
    assert_eq!(exists, 0);
    let _: i64 = q(&mut c, &["HSET", "h", "max", "1.7e308"]);
    assert_eq!(
        err(try_q(&mut c, &["HINCRBYFLOAT", "h", "max", "1.7e308"])),
        "ERR: increment would produce NaN or Infinity"
    );
}

#[test]
fn encodings_convert_past_the_thresholds_and_never_back() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let _: i64 = q(&mut c, &["HSET", "small", "a", "1"]);
    assert_eq!(encoding(&mut c, "small"), "listpack");
    let _: () = q(&mut c, &["CONFIG", "SET", "hash-max-listpack-entries", "4"]);
    let _: () = q(&mut c, &["CONFIG", "SET", "hash-max-ziplist-value", "8"]);
    for field in ["b", "c", "d"] {
        let _: i64 = q(&mut c, &["HSET", "small", field, "1"]);
    }
    assert_eq!(encoding(&mut c, "small"), "listpack");
    let _: i64 = q(&mut c, &["HSET", "small", "e", "1"]);
    assert_eq!(encoding(&mut c, "small"), "hashtable");
    let _: i64 = q(&mut c, &["HDEL", "small", "a", "b", "c", "d"]);
    assert_eq!(
        encoding(&mut c, "small"),
        "hashtable",
        "never converts back"
    );
    let _: i64 = q(&mut c, &["HDEL", "small", "e"]);
    let _: i64 = q(&mut c, &["HSET", "small", "a", "1"]);
    assert_eq!(
        encoding(&mut c, "small"),
        "listpack",
        "a new key starts compact"
    );

    let _: i64 = q(&mut c, &["HSET", "value", "f", "12345678"]);
    assert_eq!(encoding(&mut c, "value"), "listpack");
    let _: i64 = q(&mut c, &["HSET", "value", "f", "123456789"]);
    assert_eq!(encoding(&mut c, "value"), "hashtable");
    let _: i64 = q(&mut c, &["HSET", "field", "123456789", "v"]);
    assert_eq!(encoding(&mut c, "field"), "hashtable");
    // HINCRBYFLOAT sizes the encoding by the increment as given, as Redis does.
    let _: String = q(&mut c, &["HINCRBYFLOAT", "inc8", "tmp", "0.000005"]);
    assert_eq!(encoding(&mut c, "inc8"), "listpack");
    let _: String = q(&mut c, &["HINCRBYFLOAT", "inc9", "tmp", "0.0000005"]);
    assert_eq!(encoding(&mut c, "inc9"), "hashtable");
    let _: String = q(&mut c, &["HINCRBYFLOAT", "f9", "abcdefghi", "1"]);
    assert_eq!(encoding(&mut c, "f9"), "hashtable");
    // More pairs in one HSET than the compact form holds convert, duplicates or not.
    let _: i64 = q(
        &mut c,
        &[
            "HSET", "dups", "a", "1", "a", "2", "a", "3", "a", "4", "a", "5",
        ],
    );
    assert_eq!(encoding(&mut c, "dups"), "hashtable");
    let values: Vec<String> = q(&mut c, &["HVALS", "dups"]);
    assert_eq!(values, ["5"]);

    let _: () = q(
        &mut c,
        &["CONFIG", "SET", "hash-max-listpack-entries", "128"],
    );
    let _: () = q(&mut c, &["CONFIG", "SET", "hash-max-listpack-value", "64"]);
    for i in 0..200 {
        let field = format!("f{i}");
        let _: i64 = q(&mut c, &["HSET", "big", &field, "v"]);
        if i == 127 {
            assert_eq!(encoding(&mut c, "big"), "listpack");
        }
    }
    assert_eq!(encoding(&mut c, "big"), "hashtable");
    let len: i64 = q(&mut c, &["HLEN", "big"]);
    assert_eq!(len, 200);
    for i in 0..200 {
        let field = format!("f{i}");
        let value: String = q(&mut c, &["HGET", "big", &field]);
        assert_eq!(value, "v");
    }
}

#[test]
fn resp3_reply_shapes() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client_resp3();
    let _: i64 = q(&mut c, &["HSET", "h", "a", "1", "b", "2"]);
    let all: Value = q(&mut c, &["HGETALL", "h"]);
    let Value::Map(pairs) = all else {
        panic!("RESP3 HGETALL is a map: {all:?}");
    };
    let mut pairs: Vec<(Value, Value)> = pairs;
    pairs.sort_by_key(|(field, _)| format!("{field:?}"));
    assert_eq!(pairs, vec![(bulk("a"), bulk("1")), (bulk("b"), bulk("2"))]);
    let empty: Value = q(&mut c, &["HGETALL", "nokey"]);
    assert_eq!(empty, Value::Map(vec![]));
    let values: Value = q(&mut c, &["HMGET", "h", "a", "zz"]);
    assert_eq!(values, Value::Array(vec![bulk("1"), Value::Nil]));
    let missing: Value = q(&mut c, &["HGET", "h", "zz"]);
    assert_eq!(missing, Value::Nil);
    let nested: Value = q(&mut c, &["HRANDFIELD", "h", "5", "WITHVALUES"]);
    let Value::Array(items) = nested else {
        panic!("an array: {nested:?}");
    };
    assert_eq!(items.len(), 2);
    for item in &items {
        let Value::Array(pair) = item else {
            panic!("RESP3 HRANDFIELD WITHVALUES nests pairs: {item:?}");
        };
        assert_eq!(pair.len(), 2);
    }
    let repeated: Value = q(&mut c, &["HRANDFIELD", "h", "-3", "WITHVALUES"]);
    let Value::Array(items) = repeated else {
        panic!("an array: {repeated:?}");
    };
    assert_eq!(items.len(), 3);
    let fields: Value = q(&mut c, &["HRANDFIELD", "h", "3"]);
    let Value::Array(items) = fields else {
        panic!("an array: {fields:?}");
    };
    assert!(items
        .iter()
        .all(|item| matches!(item, Value::BulkString(_))));
    let none: Value = q(&mut c, &["HRANDFIELD", "nokey"]);
    assert_eq!(none, Value::Nil);
    let float: Value = q(&mut c, &["HINCRBYFLOAT", "h", "f", "2.5"]);
    assert_eq!(float, bulk("2.5"));
    let scan: Value = q(&mut c, &["HSCAN", "h", "0", "NOVALUES"]);
    let Value::Array(parts) = scan else {
        panic!("an array: {scan:?}");
    };
    assert_eq!(parts[0], bulk("0"));
}

#[test]
fn hrandfield_counts() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let _: () = q(&mut c, &["CONFIG", "SET", "hash-max-listpack-value", "10"]);
    let contents: Vec<(String, String)> = (0..10)
        .map(|i| (format!("f{i}"), format!("v{i}")))
        .collect();
    let long = "x".repeat(80);
    for (key, extra) in [("lp", "v9"), ("ht", long.as_str())] {
        for (field, value) in &contents[..9] {
            let _: i64 = q(&mut c, &["HSET", key, field, value]);
        }
        let _: i64 = q(&mut c, &["HSET", key, "f9", extra]);
        let want = if key == "lp" { "listpack" } else { "hashtable" };
        assert_eq!(encoding(&mut c, key), want);
        let all_fields: BTreeSet<String> = contents.iter().map(|(f, _)| f.clone()).collect();

        let one: String = q(&mut c, &["HRANDFIELD", key]);
        assert!(all_fields.contains(&one));
        let repeated: Vec<String> = q(&mut c, &["HRANDFIELD", key, "-1001"]);
        assert_eq!(repeated.len(), 1001);
        let seen: BTreeSet<String> = repeated.into_iter().collect();
        assert_eq!(seen, all_fields, "1001 draws reach every field");
        let with_values: Vec<String> = q(&mut c, &["HRANDFIELD", key, "-20", "WITHVALUES"]);
        assert_eq!(with_values.len(), 40);
        for pair in with_values.chunks(2) {
            let value: String = q(&mut c, &["HGET", key, &pair[0]]);
            assert_eq!(value, pair[1]);
        }
        for size in [10, 20] {
            let fields: Vec<String> = q(&mut c, &["HRANDFIELD", key, &size.to_string()]);
            assert_eq!(fields.into_iter().collect::<BTreeSet<_>>(), all_fields);
        }
        for size in [8usize, 2] {
            let fields: Vec<String> = q(&mut c, &["HRANDFIELD", key, &size.to_string()]);
            let distinct: BTreeSet<String> = fields.iter().cloned().collect();
            assert_eq!(fields.len(), size);
            assert_eq!(distinct.len(), size);
            let pairs: Vec<String> = q(
                &mut c,
                &["HRANDFIELD", key, &size.to_string(), "WITHVALUES"],
            );
            assert_eq!(pairs.len(), size * 2);
        }
        let zero: Value = q(&mut c, &["HRANDFIELD", key, "0"]);
        assert_eq!(zero, Value::Array(vec![]));
    }
    let missing: Value = q(&mut c, &["HRANDFIELD", "nokey", "100"]);
    assert_eq!(missing, Value::Array(vec![]));
    let missing: Value = q(&mut c, &["HRANDFIELD", "nokey"]);
    assert_eq!(missing, Value::Nil);
    for words in [
        &["HRANDFIELD", "lp", "-9223372036854770000", "WITHVALUES"][..],
        &["HRANDFIELD", "lp", "-9223372036854775808", "WITHVALUES"],
        &["HRANDFIELD", "lp", "-9223372036854775808"],
        &["HRANDFIELD", "lp", "-9223372036854770000"],
    ] {
        let message = err(try_q(&mut c, words));
        assert!(
            message.contains("value is out of range"),
            "{words:?}: {message}"
        );
    }
    assert_eq!(
        err(try_q(&mut c, &["HRANDFIELD", "lp", "1", "WITHSCORES"])),
        "ERR: syntax error"
    );
    assert_eq!(
        err(try_q(&mut c, &["HRANDFIELD", "lp", "1", "WITHVALUES", "x"])),
        "ERR: syntax error"
    );
    assert_eq!(
        err(try_q(&mut c, &["HRANDFIELD", "lp", "x"])),
        "ERR: value is not an integer or out of range"
    );
}

/// Runs HSCAN to the end and returns what it saw, with the number of calls it took.
fn scan_all(c: &mut redis::Connection, key: &str, extra: &[&str]) -> (Vec<String>, usize) {
    let mut cursor = "0".to_string();
    let mut items = Vec::new();
    let mut calls = 0;
    loop {
        let mut words = vec!["HSCAN", key, cursor.as_str()];
        words.extend_from_slice(extra);
        let (next, batch): (String, Vec<String>) = q(c, &words);
        items.extend(batch);
        calls += 1;
        cursor = next;
        if cursor == "0" {
            return (items, calls);
        }
        assert!(calls < 10_000, "HSCAN must finish");
    }
}

#[test]
fn hscan_small_and_big() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let _: i64 = q(&mut c, &["HSET", "small", "a", "1", "b", "2", "c", "3"]);
    let (items, calls) = scan_all(&mut c, "small", &["COUNT", "1"]);
    assert_eq!(calls, 1, "a compact hash comes back whole");
    assert_eq!(items, ["a", "1", "b", "2", "c", "3"]);
    let (fields, _) = scan_all(&mut c, "small", &["NOVALUES"]);
    assert_eq!(fields, ["a", "b", "c"]);
    let (matched, _) = scan_all(&mut c, "small", &["MATCH", "[ab]", "NOVALUES"]);
    assert_eq!(matched, ["a", "b"]);
    for i in 0..1000 {
        let field = format!("field:{i}");
        let value = format!("value:{i}");
        let _: i64 = q(&mut c, &["HSET", "big", &field, &value]);
    }
    assert_eq!(encoding(&mut c, "big"), "hashtable");
    let (items, calls) = scan_all(&mut c, "big", &["COUNT", "100"]);
    assert!(calls > 1);
    let pairs: BTreeMap<String, String> = items
        .chunks(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect();
    assert_eq!(pairs.len(), 1000);
    assert!(pairs.iter().all(|(f, v)| f[6..] == v[6..]));
    let (fields, _) = scan_all(&mut c, "big", &["MATCH", "field:1*", "NOVALUES"]);
    let fields: BTreeSet<String> = fields.into_iter().collect();
    assert_eq!(fields.len(), 111);
    let empty: (String, Vec<String>) = q(&mut c, &["HSCAN", "nokey", "0", "COUNT", "0"]);
    assert_eq!(empty, ("0".to_string(), vec![]));
    assert_eq!(
        err(try_q(&mut c, &["HSCAN", "big", "0", "COUNT", "0"])),
        "ERR: syntax error"
    );
    assert_eq!(
        err(try_q(&mut c, &["HSCAN", "big", "0", "TYPE", "hash"])),
        "ERR: syntax error"
    );
    assert_eq!(
        err(try_q(&mut c, &["HSCAN", "big", "0", "COUNT", "x"])),
        "ERR: value is not an integer or out of range"
    );
    assert_eq!(
        err(try_q(&mut c, &["HSCAN", "big", "-1"])),
        "ERR: invalid cursor"
    );
}
