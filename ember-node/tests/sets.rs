//! The set family through redis-rs against the real server, RESP2 and RESP3: every command,
//! reply shapes, errors, encodings and keys spread over shards.

mod common;

use std::collections::BTreeSet;

use common::{cmd, err, Server};
use redis::{Connection, RedisResult, Value};

fn run(c: &mut Connection, words: &[&str]) -> RedisResult<Value> {
    let mut command = cmd(words[0]);
    for word in &words[1..] {
        command.arg(*word);
    }
    command.query(c)
}

fn members(c: &mut Connection, words: &[&str]) -> BTreeSet<String> {
    let mut command = cmd(words[0]);
    for word in &words[1..] {
        command.arg(*word);
    }
    command.query(c).unwrap()
}

fn strings(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn encoding(c: &mut Connection, key: &str) -> String {
    cmd("OBJECT").arg("ENCODING").arg(key).query(c).unwrap()
}

fn bulk(text: &str) -> Value {
    Value::BulkString(text.as_bytes().to_vec())
}

#[test]
fn add_remove_membership_and_cardinality() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let added: i64 = cmd("SADD")
        .arg("s")
        .arg(&["a", "b", "a"])
        .query(&mut c)
        .unwrap();
    assert_eq!(added, 2);
    let added: i64 = cmd("SADD").arg("s").arg(&["b", "c"]).query(&mut c).unwrap();
    assert_eq!(added, 1);
    assert_eq!(
        members(&mut c, &["SMEMBERS", "s"]),
        strings(&["a", "b", "c"])
    );
    let card: i64 = cmd("SCARD").arg("s").query(&mut c).unwrap();
    assert_eq!(card, 3);
    let is: i64 = cmd("SISMEMBER").arg("s").arg("a").query(&mut c).unwrap();
    let not: i64 = cmd("SISMEMBER").arg("s").arg("z").query(&mut c).unwrap();
    assert_eq!((is, not), (1, 0));
    let flags: Vec<i64> = cmd("SMISMEMBER")
        .arg("s")
        .arg(&["a", "z", "c"])
        .query(&mut c)
        .unwrap();
    assert_eq!(flags, [1, 0, 1]);
    let flags: Vec<i64> = cmd("SMISMEMBER")
        .arg("nokey")
        .arg("a")
        .query(&mut c)
        .unwrap();
    assert_eq!(flags, [0]);
    let removed: i64 = cmd("SREM")
        .arg("s")
        .arg(&["a", "zz"])
        .query(&mut c)
        .unwrap();
    assert_eq!(removed, 1);
    let removed: i64 = cmd("SREM").arg("s").arg(&["b", "c"]).query(&mut c).unwrap();
    assert_eq!(removed, 2);
    let exists: i64 = cmd("EXISTS").arg("s").query(&mut c).unwrap();
    assert_eq!(exists, 0, "an emptied set is deleted");
    let removed: i64 = cmd("SREM").arg("s").arg("a").query(&mut c).unwrap();
    assert_eq!(removed, 0);
    assert_eq!(
        run(&mut c, &["SMEMBERS", "s"]).unwrap(),
        Value::Array(vec![])
    );
    let card: i64 = cmd("SCARD").arg("s").query(&mut c).unwrap();
    assert_eq!(card, 0);
}

#[test]
fn intset_members_come_back_ascending_and_binary_members_round_trip() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let _: i64 = cmd("SADD")
        .arg("n")
        .arg(&["30", "-5", "100000", "7", "-9223372036854775808"])
        .query(&mut c)
        .unwrap();
    let ordered: Vec<String> = cmd("SMEMBERS").arg("n").query(&mut c).unwrap();
    assert_eq!(ordered, ["-9223372036854775808", "-5", "7", "30", "100000"]);
    let binary: &[u8] = b"a\x00b\r\n";
    let _: i64 = cmd("SADD").arg("b").arg(binary).query(&mut c).unwrap();
    let found: i64 = cmd("SISMEMBER").arg("b").arg(binary).query(&mut c).unwrap();
    assert_eq!(found, 1);
    let back: Vec<Vec<u8>> = cmd("SMEMBERS").arg("b").query(&mut c).unwrap();
    assert_eq!(back, [binary.to_vec()]);
}

#[test]
fn wrong_type_is_reported_for_every_key_position() {
    let server = Server::start(&["--shards", "3"]);
    let mut c = server.client();
    let _: () = cmd("SET").arg("str").arg("x").query(&mut c).unwrap();
    let _: i64 = cmd("SADD").arg("s").arg("a").query(&mut c).unwrap();
    let wrong = "WRONGTYPE: Operation against a key holding the wrong kind of value";
    for words in [
        &["SADD", "str", "a"][..],
        &["SREM", "str", "a"],
        &["SMEMBERS", "str"],
        &["SISMEMBER", "str", "a"],
        &["SMISMEMBER", "str", "a"],
        &["SCARD", "str"],
        &["SPOP", "str"],
        &["SPOP", "str", "1"],
        &["SRANDMEMBER", "str"],
        &["SRANDMEMBER", "str", "-1"],
        &["SMOVE", "str", "s", "a"],
        &["SMOVE", "s", "str", "absent"],
        &["SINTER", "nokey", "str"],
        &["SINTERSTORE", "dst", "s", "str"],
        &["SINTERCARD", "2", "s", "str"],
        &["SUNION", "s", "str"],
        &["SUNIONSTORE", "dst", "str"],
        &["SDIFF", "nokey", "str"],
        &["SDIFFSTORE", "dst", "s", "str"],
        &["SSCAN", "str", "0"],
    ] {
        assert_eq!(err(run(&mut c, words)), wrong, "{words:?}");
    }
    let moved: i64 = cmd("SMOVE")
        .arg("nokey")
        .arg("str")
        .arg("a")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        moved, 0,
        "a missing source answers 0 before the destination is checked"
    );
}

#[test]
fn argument_errors_use_redis_texts() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let _: i64 = cmd("SADD").arg("s").arg("a").query(&mut c).unwrap();
    for (words, message) in [
        (
            &["SADD", "s"][..],
            "ERR: wrong number of arguments for 'sadd' command",
        ),
        (
            &["SPOP", "s", "-1"],
            "ERR: value is out of range, must be positive",
        ),
        (
            &["SPOP", "s", "abc"],
            "ERR: value is out of range, must be positive",
        ),
        (&["SPOP", "s", "1", "2"], "ERR: syntax error"),
        (
            &["SRANDMEMBER", "s", "abc"],
            "ERR: value is not an integer or out of range",
        ),
        (&["SRANDMEMBER", "s", "1", "2"], "ERR: syntax error"),
        (
            &["SINTERCARD", "0", "s"],
            "ERR: numkeys should be greater than 0",
        ),
        (
            &["SINTERCARD", "-1", "s"],
            "ERR: numkeys should be greater than 0",
        ),
        (
            &["SINTERCARD", "5", "s"],
            "ERR: Number of keys can't be greater than number of args",
        ),
        (
            &["SINTERCARD", "1", "s", "LIMIT", "-2"],
            "ERR: LIMIT can't be negative",
        ),
        (&["SINTERCARD", "1", "s", "LIMIT"], "ERR: syntax error"),
        (&["SINTERCARD", "1", "s", "BOGUS", "1"], "ERR: syntax error"),
        (&["SSCAN", "s", "abc"], "ERR: invalid cursor"),
        (&["SSCAN", "s", "0", "COUNT", "0"], "ERR: syntax error"),
        (
            &["SSCAN", "s", "0", "COUNT", "x"],
            "ERR: value is not an integer or out of range",
        ),
        (&["SSCAN", "s", "0", "TYPE", "set"], "ERR: syntax error"),
    ] {
        assert_eq!(err(run(&mut c, words)), message, "{words:?}");
    }
    assert!(
        err(run(&mut c, &["SRANDMEMBER", "s", "-9223372036854775808"]))
            .contains("value is out of range")
    );
}

#[test]
fn spop_and_srandmember_counts() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let all = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];
    let _: i64 = cmd("SADD").arg("s").arg(&all).query(&mut c).unwrap();
    let one: String = cmd("SRANDMEMBER").arg("s").query(&mut c).unwrap();
    assert!(all.contains(&one.as_str()));
    let distinct: Vec<String> = cmd("SRANDMEMBER").arg("s").arg(4).query(&mut c).unwrap();
    assert_eq!(distinct.iter().collect::<BTreeSet<_>>().len(), 4);
    let whole = members(&mut c, &["SRANDMEMBER", "s", "100"]);
    assert_eq!(whole, strings(&all));
    let repeated: Vec<String> = cmd("SRANDMEMBER").arg("s").arg(-25).query(&mut c).unwrap();
    assert_eq!(repeated.len(), 25);
    assert!(repeated.iter().all(|m| all.contains(&m.as_str())));
    let none: Vec<String> = cmd("SRANDMEMBER").arg("s").arg(0).query(&mut c).unwrap();
    assert!(none.is_empty());
    assert_eq!(run(&mut c, &["SRANDMEMBER", "nokey"]).unwrap(), Value::Nil);
    assert_eq!(
        run(&mut c, &["SRANDMEMBER", "nokey", "5"]).unwrap(),
        Value::Array(vec![])
    );

    let popped: String = cmd("SPOP").arg("s").query(&mut c).unwrap();
    assert!(all.contains(&popped.as_str()));
    let popped_many: Vec<String> = cmd("SPOP").arg("s").arg(3).query(&mut c).unwrap();
    assert_eq!(popped_many.len(), 3);
    let card: i64 = cmd("SCARD").arg("s").query(&mut c).unwrap();
    assert_eq!(card, 6);
    let none: Vec<String> = cmd("SPOP").arg("s").arg(0).query(&mut c).unwrap();
    assert!(none.is_empty());
    let rest: Vec<String> = cmd("SPOP").arg("s").arg(100).query(&mut c).unwrap();
    assert_eq!(rest.len(), 6);
    let exists: i64 = cmd("EXISTS").arg("s").query(&mut c).unwrap();
    assert_eq!(exists, 0);
    assert_eq!(run(&mut c, &["SPOP", "nokey"]).unwrap(), Value::Nil);
    assert_eq!(
        run(&mut c, &["SPOP", "nokey", "2"]).unwrap(),
        Value::Array(vec![])
    );
}

#[test]
fn spop_with_a_large_count_keeps_the_rest_intact() {
    let server = Server::start(&[]);
    let mut c = server.client();
    for encoding_kind in ["int", "text", "big"] {
        let key = format!("pool:{encoding_kind}");
        let all: Vec<String> = (0..200)
            .map(|i| match encoding_kind {
                "int" => i.to_string(),
                "text" => format!("m{}", i % 100),
                _ => format!("member:{i}"),
            })
            .collect();
        let _: i64 = cmd("SADD").arg(&key).arg(&all).query(&mut c).unwrap();
        let size: usize = cmd("SCARD").arg(&key).query(&mut c).unwrap();
        for count in [size - 2, 1] {
            let before: BTreeSet<String> = cmd("SMEMBERS").arg(&key).query(&mut c).unwrap();
            let popped: Vec<String> = cmd("SPOP").arg(&key).arg(count).query(&mut c).unwrap();
            let after: BTreeSet<String> = cmd("SMEMBERS").arg(&key).query(&mut c).unwrap();
            assert_eq!(popped.len(), count);
            let mut union: BTreeSet<String> = popped.into_iter().collect();
            assert_eq!(union.len(), count, "distinct members popped");
            union.extend(after.iter().cloned());
            assert_eq!(union, before);
            assert_eq!(after.len(), before.len() - count);
        }
    }
}

#[test]
fn smove_between_shards() {
    let server = Server::start(&["--shards", "4"]);
    let mut c = server.client();
    let _: i64 = cmd("SADD")
        .arg("from")
        .arg(&["a", "b"])
        .query(&mut c)
        .unwrap();
    let _: i64 = cmd("SADD").arg("to").arg("c").query(&mut c).unwrap();
    let moved: i64 = cmd("SMOVE")
        .arg("from")
        .arg("to")
        .arg("a")
        .query(&mut c)
        .unwrap();
    assert_eq!(moved, 1);
    let moved: i64 = cmd("SMOVE")
        .arg("from")
        .arg("to")
        .arg("zz")
        .query(&mut c)
        .unwrap();
    assert_eq!(moved, 0);
    let moved: i64 = cmd("SMOVE")
        .arg("from")
        .arg("fresh")
        .arg("b")
        .query(&mut c)
        .unwrap();
    assert_eq!(moved, 1);
    let exists: i64 = cmd("EXISTS").arg("from").query(&mut c).unwrap();
    assert_eq!(exists, 0, "the emptied source is deleted");
    assert_eq!(members(&mut c, &["SMEMBERS", "to"]), strings(&["a", "c"]));
    assert_eq!(members(&mut c, &["SMEMBERS", "fresh"]), strings(&["b"]));
    let same: i64 = cmd("SMOVE")
        .arg("to")
        .arg("to")
        .arg("a")
        .query(&mut c)
        .unwrap();
    assert_eq!(same, 1);
    let card: i64 = cmd("SCARD").arg("to").query(&mut c).unwrap();
    assert_eq!(card, 2);
    let _: i64 = cmd("SADD").arg("ints").arg(5).query(&mut c).unwrap();
    let _: i64 = cmd("SMOVE")
        .arg("to")
        .arg("ints")
        .arg("c")
        .query(&mut c)
        .unwrap();
    assert_eq!(encoding(&mut c, "ints"), "listpack");
}

#[test]
fn algebra_across_shards() {
    let server = Server::start(&["--shards", "4"]);
    let mut c = server.client();
    let _: i64 = cmd("SADD")
        .arg("k1")
        .arg(&["a", "b", "c", "d"])
        .query(&mut c)
        .unwrap();
    let _: i64 = cmd("SADD")
        .arg("k2")
        .arg(&["c", "d", "e"])
        .query(&mut c)
        .unwrap();
    let _: i64 = cmd("SADD")
        .arg("k3")
        .arg(&["a", "c", "e"])
        .query(&mut c)
        .unwrap();
    assert_eq!(
        members(&mut c, &["SINTER", "k1", "k2", "k3"]),
        strings(&["c"])
    );
    assert_eq!(members(&mut c, &["SINTER", "k1", "nokey"]), strings(&[]));
    assert_eq!(
        members(&mut c, &["SUNION", "k1", "k2", "nokey"]),
        strings(&["a", "b", "c", "d", "e"])
    );
    assert_eq!(
        members(&mut c, &["SDIFF", "k1", "k2", "k3"]),
        strings(&["b"])
    );
    assert_eq!(members(&mut c, &["SDIFF", "nokey", "k1"]), strings(&[]));
    assert_eq!(
        members(&mut c, &["SDIFF", "k1", "nokey"]),
        strings(&["a", "b", "c", "d"])
    );
    let card: i64 = cmd("SINTERCARD")
        .arg(2)
        .arg("k1")
        .arg("k2")
        .query(&mut c)
        .unwrap();
    assert_eq!(card, 2);
    let card: i64 = cmd("SINTERCARD")
        .arg(2)
        .arg("k1")
        .arg("k2")
        .arg("LIMIT")
        .arg(1)
        .query(&mut c)
        .unwrap();
    assert_eq!(card, 1);
    let card: i64 = cmd("SINTERCARD")
        .arg(2)
        .arg("k1")
        .arg("nokey")
        .query(&mut c)
        .unwrap();
    assert_eq!(card, 0);
}

#[test]
fn store_forms_replace_or_delete_the_destination() {
    let server = Server::start(&["--shards", "4"]);
    let mut c = server.client();
    let _: i64 = cmd("SADD")
        .arg("k1")
        .arg(&["a", "b", "c", "d"])
        .query(&mut c)
        .unwrap();
    let _: i64 = cmd("SADD")
        .arg("k2")
        .arg(&["c", "d", "e"])
        .query(&mut c)
        .unwrap();
    let _: i64 = cmd("SADD")
        .arg("k3")
        .arg(&["a", "c", "e"])
        .query(&mut c)
        .unwrap();
    // The destination is replaced whatever it held, and loses its TTL.
    let _: () = cmd("SET")
        .arg("dst")
        .arg("v")
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    let stored: i64 = cmd("SINTERSTORE")
        .arg("dst")
        .arg("k1")
        .arg("k2")
        .query(&mut c)
        .unwrap();
    assert_eq!(stored, 2);
    assert_eq!(members(&mut c, &["SMEMBERS", "dst"]), strings(&["c", "d"]));
    let ttl: i64 = cmd("TTL").arg("dst").query(&mut c).unwrap();
    assert_eq!(ttl, -1);
    let stored: i64 = cmd("SUNIONSTORE")
        .arg("dst")
        .arg("k2")
        .arg("k3")
        .query(&mut c)
        .unwrap();
    assert_eq!(stored, 4);
    let stored: i64 = cmd("SDIFFSTORE")
        .arg("dst")
        .arg("k1")
        .arg("k3")
        .query(&mut c)
        .unwrap();
    assert_eq!(stored, 2);
    assert_eq!(members(&mut c, &["SMEMBERS", "dst"]), strings(&["b", "d"]));
    let stored: i64 = cmd("SUNIONSTORE")
        .arg("k1")
        .arg("k1")
        .arg("k2")
        .query(&mut c)
        .unwrap();
    assert_eq!(stored, 5, "the destination may also be a source");
    let stored: i64 = cmd("SINTERSTORE")
        .arg("dst")
        .arg("k1")
        .arg("nokey")
        .query(&mut c)
        .unwrap();
    assert_eq!(stored, 0);
    let exists: i64 = cmd("EXISTS").arg("dst").query(&mut c).unwrap();
    assert_eq!(exists, 0, "an empty result deletes the destination");
    let stored: i64 = cmd("SDIFFSTORE")
        .arg("k2")
        .arg("k2")
        .arg("k2")
        .query(&mut c)
        .unwrap();
    assert_eq!(stored, 0);
    let exists: i64 = cmd("EXISTS").arg("k2").query(&mut c).unwrap();
    assert_eq!(exists, 0);
}

#[test]
fn sintercard_keys_are_movable() {
    let server = Server::start(&["--shards", "4"]);
    let mut c = server.client();
    let keys: Vec<String> = cmd("COMMAND")
        .arg("GETKEYS")
        .arg("SINTERCARD")
        .arg(2)
        .arg("x")
        .arg("y")
        .arg("LIMIT")
        .arg(3)
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, ["x", "y"]);
}

#[test]
fn store_results_take_the_encoding_of_their_members() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let ints: Vec<i64> = (0..200).collect();
    let more: Vec<i64> = (195..400).collect();
    let _: i64 = cmd("SADD").arg("i1").arg(&ints).query(&mut c).unwrap();
    let _: i64 = cmd("SADD").arg("i2").arg(&more).query(&mut c).unwrap();
    let _: i64 = cmd("SINTERSTORE")
        .arg("r")
        .arg("i1")
        .arg("i2")
        .query(&mut c)
        .unwrap();
    assert_eq!(encoding(&mut c, "r"), "intset");
    let _: i64 = cmd("SUNIONSTORE")
        .arg("r")
        .arg("i1")
        .arg("i2")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        encoding(&mut c, "r"),
        "intset",
        "400 integers fit an intset"
    );
    let _: i64 = cmd("SADD")
        .arg("t")
        .arg(&["x", "195"])
        .query(&mut c)
        .unwrap();
    let _: i64 = cmd("SUNIONSTORE")
        .arg("r")
        .arg("t")
        .arg("i1")
        .query(&mut c)
        .unwrap();
    assert_eq!(encoding(&mut c, "r"), "hashtable");
    let _: i64 = cmd("SINTERSTORE")
        .arg("r")
        .arg("t")
        .arg("i2")
        .query(&mut c)
        .unwrap();
    assert_eq!(encoding(&mut c, "r"), "intset");
}

#[test]
fn encodings_convert_at_the_default_thresholds() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let _: i64 = cmd("SADD").arg("s").arg(&[1, 2, 3]).query(&mut c).unwrap();
    assert_eq!(encoding(&mut c, "s"), "intset");
    let _: i64 = cmd("SADD").arg("s").arg("abc").query(&mut c).unwrap();
    assert_eq!(encoding(&mut c, "s"), "listpack");
    let _: i64 = cmd("SADD")
        .arg("s")
        .arg("x".repeat(65))
        .query(&mut c)
        .unwrap();
    assert_eq!(encoding(&mut c, "s"), "hashtable");
    let _: i64 = cmd("SREM")
        .arg("s")
        .arg("x".repeat(65))
        .query(&mut c)
        .unwrap();
    assert_eq!(
        encoding(&mut c, "s"),
        "hashtable",
        "never converts back on shrink"
    );
    let _: i64 = cmd("DEL").arg("s").query(&mut c).unwrap();
    let _: i64 = cmd("SADD").arg("s").arg(1).query(&mut c).unwrap();
    assert_eq!(encoding(&mut c, "s"), "intset", "a new key starts compact");
}

#[test]
fn encodings_follow_config_set_thresholds() {
    let server = Server::start(&[]);
    let mut c = server.client();

    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("set-max-intset-entries")
        .arg(4)
        .query(&mut c)
        .unwrap();
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("set-max-listpack-entries")
        .arg(3)
        .query(&mut c)
        .unwrap();
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("set-max-listpack-value")
        .arg(4)
        .query(&mut c)
        .unwrap();
    let _: i64 = cmd("SADD")
        .arg("small")
        .arg(&[1, 2, 3, 4])
        .query(&mut c)
        .unwrap();
    assert_eq!(encoding(&mut c, "small"), "intset");
    let _: i64 = cmd("SADD").arg("small").arg(5).query(&mut c).unwrap();
    assert_eq!(encoding(&mut c, "small"), "hashtable");
    let _: i64 = cmd("SADD")
        .arg("lp")
        .arg(&["a", "b", "c"])
        .query(&mut c)
        .unwrap();
    assert_eq!(encoding(&mut c, "lp"), "listpack");
    let _: i64 = cmd("SADD").arg("lp").arg("d").query(&mut c).unwrap();
    assert_eq!(encoding(&mut c, "lp"), "hashtable");
    let _: i64 = cmd("SADD").arg("long").arg("abcde").query(&mut c).unwrap();
    assert_eq!(encoding(&mut c, "long"), "hashtable");
    let _: i64 = cmd("SADD")
        .arg("many")
        .arg(&["a", "b", "c", "d"])
        .query(&mut c)
        .unwrap();
    assert_eq!(encoding(&mut c, "many"), "hashtable");
    let _: i64 = cmd("SADD")
        .arg("mixed")
        .arg(&["1", "2", "3"])
        .query(&mut c)
        .unwrap();
    let _: i64 = cmd("SADD").arg("mixed").arg("a").query(&mut c).unwrap();
    assert_eq!(
        encoding(&mut c, "mixed"),
        "hashtable",
        "3 integers + text > 3 entries"
    );
}

#[test]
fn sscan_walks_every_encoding() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let empty: (String, Vec<String>) = cmd("SSCAN").arg("nokey").arg(0).query(&mut c).unwrap();
    assert_eq!(empty, ("0".to_string(), vec![]));
    let _: i64 = cmd("SADD")
        .arg("small")
        .arg(&["a1", "a2", "b1"])
        .query(&mut c)
        .unwrap();
    let (cursor, found): (String, Vec<String>) = cmd("SSCAN")
        .arg("small")
        .arg(0)
        .arg("MATCH")
        .arg("a*")
        .arg("COUNT")
        .arg(1)
        .query(&mut c)
        .unwrap();
    assert_eq!(cursor, "0");
    assert_eq!(
        found.into_iter().collect::<BTreeSet<_>>(),
        strings(&["a1", "a2"])
    );
    let big: Vec<String> = (0..1000).map(|i| format!("member:{i}")).collect();
    let _: i64 = cmd("SADD").arg("big").arg(&big).query(&mut c).unwrap();
    let mut seen = BTreeSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let (next, found): (String, Vec<String>) = cmd("SSCAN")
            .arg("big")
            .arg(&cursor)
            .arg("MATCH")
            .arg("member:1*")
            .arg("COUNT")
            .arg(50)
            .query(&mut c)
            .unwrap();
        seen.extend(found);
        calls += 1;
        cursor = next;
        if cursor == "0" {
            break;
        }
    }
    assert!(calls > 1, "a hashtable is scanned in steps");
    let expected: BTreeSet<String> = big
        .into_iter()
        .filter(|m| m.starts_with("member:1"))
        .collect();
    assert_eq!(seen, expected);
}

#[test]
fn resp3_reply_shapes() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client_resp3();
    let _: i64 = cmd("SADD").arg("s").arg(&["b", "a"]).query(&mut c).unwrap();
    let _: i64 = cmd("SADD").arg("t").arg(&["a", "c"]).query(&mut c).unwrap();
    let set = |items: &[&str]| Value::Set(items.iter().map(|m| bulk(m)).collect());
    assert_eq!(run(&mut c, &["SMEMBERS", "s"]).unwrap(), set(&["b", "a"]));
    assert_eq!(run(&mut c, &["SMEMBERS", "nokey"]).unwrap(), set(&[]));
    assert_eq!(run(&mut c, &["SINTER", "s", "t"]).unwrap(), set(&["a"]));
    assert!(
        matches!(run(&mut c, &["SUNION", "s", "t"]).unwrap(), Value::Set(ref m) if m.len() == 3)
    );
    assert_eq!(run(&mut c, &["SDIFF", "s", "t"]).unwrap(), set(&["b"]));
    assert!(
        matches!(run(&mut c, &["SRANDMEMBER", "s", "-3"]).unwrap(), Value::Array(ref m) if m.len() == 3)
    );
    assert!(
        matches!(run(&mut c, &["SRANDMEMBER", "s", "1"]).unwrap(), Value::Array(ref m) if m.len() == 1)
    );
    assert_eq!(run(&mut c, &["SRANDMEMBER", "nokey"]).unwrap(), Value::Nil);
    assert_eq!(
        run(&mut c, &["SMISMEMBER", "s", "a", "x"]).unwrap(),
        Value::Array(vec![Value::Int(1), Value::Int(0)])
    );
    let Value::Array(scan) = run(&mut c, &["SSCAN", "s", "0"]).unwrap() else {
        panic!("SSCAN answers an array")
    };
    assert_eq!(scan[0], bulk("0"));
    assert!(matches!(scan[1], Value::Array(ref m) if m.len() == 2));
    assert!(matches!(run(&mut c, &["SPOP", "t", "1"]).unwrap(), Value::Set(ref m) if m.len() == 1));
    assert_eq!(run(&mut c, &["SPOP", "nokey", "1"]).unwrap(), set(&[]));
    assert_eq!(run(&mut c, &["SPOP", "nokey"]).unwrap(), Value::Nil);
    assert_eq!(run(&mut c, &["SCARD", "s"]).unwrap(), Value::Int(2));
}

#[test]
fn random_picks_cover_a_hashtable_evenly() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let all: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    let _: i64 = cmd("SADD").arg("h").arg(&all).query(&mut c).unwrap();
    assert_eq!(encoding(&mut c, "h"), "hashtable");
    let picks: Vec<String> = cmd("SRANDMEMBER")
        .arg("h")
        .arg(-20_000)
        .query(&mut c)
        .unwrap();
    let mut counts = std::collections::BTreeMap::new();
    for pick in &picks {
        *counts.entry(pick.as_str()).or_insert(0usize) += 1;
    }
    assert_eq!(counts.len(), 200, "every member comes up");
    let expected = 100.0;
    let chi_square: f64 = counts
        .values()
        .map(|&n| (n as f64 - expected).powi(2) / expected)
        .sum();
    assert!(
        chi_square < 300.0,
        "chi-square {chi_square} with 199 degrees of freedom"
    );
}
