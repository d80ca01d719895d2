//! The list family through redis-rs against the real server, RESP2 and RESP3: every command,
//! the nil shapes byte for byte, errors, and OBJECT ENCODING across the listpack/quicklist
//! boundary in both directions.

mod common;

use std::io::{Read, Write};

use common::{cmd, err, Server};
use redis::{Connection, RedisResult, Value};

fn range(c: &mut Connection, key: &str) -> Vec<String> {
    cmd("LRANGE").arg(key).arg(0).arg(-1).query(c).unwrap()
}

fn encoding(c: &mut Connection, key: &str) -> String {
    cmd("OBJECT").arg("ENCODING").arg(key).query(c).unwrap()
}

fn q(c: &mut Connection, words: &[&str]) -> RedisResult<Value> {
    let mut command = cmd(words[0]);
    for word in &words[1..] {
        command.arg(*word);
    }
    command.query(c)
}

fn int(c: &mut Connection, words: &[&str]) -> i64 {
    match q(c, words).unwrap() {
        Value::Int(n) => n,
        other => panic!("{words:?}: expected an integer, got {other:?}"),
    }
}

fn bulk(text: &str) -> Value {
    Value::BulkString(text.as_bytes().to_vec())
}

fn bulks(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| bulk(s)).collect())
}

/// Sends `commands` (after HELLO 3 when `resp3`) on a raw socket and returns the reply bytes
/// that follow HELLO's, read until a final ECHO marker arrives.
fn raw_replies(server: &Server, resp3: bool, commands: &[&[&str]]) -> String {
    let mut request = Vec::new();
    let mut all: Vec<&[&str]> = Vec::new();
    if resp3 {
        all.push(&["HELLO", "3"]);
    }
    all.push(&["ECHO", "START"]);
    all.extend_from_slice(commands);
    all.push(&["ECHO", "END"]);
    for words in all {
        request.extend_from_slice(format!("*{}\r\n", words.len()).as_bytes());
        for word in words {
            request.extend_from_slice(format!("${}\r\n{}\r\n", word.len(), word).as_bytes());
        }
    }
    let mut stream = server.raw();
    stream.write_all(&request).unwrap();
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    while !reply.ends_with(b"$3\r\nEND\r\n") {
        let n = stream.read(&mut chunk).expect("reads replies");
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&reply));
        reply.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8(reply).unwrap();
    let start = text.find("$5\r\nSTART\r\n").unwrap() + "$5\r\nSTART\r\n".len();
    text[start..text.len() - "$3\r\nEND\r\n".len()].to_string()
}

#[test]
fn pushes_and_pops_at_both_ends() {
    let server = Server::start(&["--shards", "2"]);
    for resp3 in [false, true] {
        let mut c = if resp3 {
            server.client_resp3()
        } else {
            server.client()
        };
        let _: () = cmd("FLUSHALL").query(&mut c).unwrap();
        assert_eq!(int(&mut c, &["RPUSH", "l", "a", "b", "c"]), 3);
        assert_eq!(int(&mut c, &["LPUSH", "l", "y", "x"]), 5);
        assert_eq!(range(&mut c, "l"), ["x", "y", "a", "b", "c"]);
        assert_eq!(int(&mut c, &["LPUSHX", "l", "w"]), 6);
        assert_eq!(int(&mut c, &["RPUSHX", "l", "d", "e"]), 8);
        assert_eq!(int(&mut c, &["LPUSHX", "nope", "w"]), 0);
        assert_eq!(int(&mut c, &["RPUSHX", "nope", "w"]), 0);
        assert_eq!(int(&mut c, &["EXISTS", "nope"]), 0);
        assert_eq!(q(&mut c, &["LPOP", "l"]).unwrap(), bulk("w"));
        assert_eq!(q(&mut c, &["RPOP", "l"]).unwrap(), bulk("e"));
        assert_eq!(q(&mut c, &["LPOP", "l", "2"]).unwrap(), bulks(&["x", "y"]));
        assert_eq!(q(&mut c, &["RPOP", "l", "2"]).unwrap(), bulks(&["d", "c"]));
        assert_eq!(q(&mut c, &["LPOP", "l", "0"]).unwrap(), bulks(&[]));
        assert_eq!(q(&mut c, &["RPOP", "l", "10"]).unwrap(), bulks(&["b", "a"]));
        assert_eq!(
            int(&mut c, &["EXISTS", "l"]),
            0,
            "an emptied list is deleted"
        );
        assert_eq!(q(&mut c, &["LPOP", "l"]).unwrap(), Value::Nil);
        assert_eq!(q(&mut c, &["LPOP", "l", "1"]).unwrap(), Value::Nil);
        assert_eq!(int(&mut c, &["LLEN", "l"]), 0);
        assert_eq!(
            err(q(&mut c, &["LPOP", "l", "-1"])),
            "ERR: value is out of range, must be positive"
        );
        assert_eq!(
            err(q(&mut c, &["RPOP", "l", "1", "2"])),
            "ERR: wrong number of arguments for 'rpop' command"
        );
        assert_eq!(
            err(q(&mut c, &["LPUSH", "l"])),
            "ERR: wrong number of arguments for 'lpush' command"
        );
    }
}

#[test]
fn nil_shapes_match_redis_byte_for_byte() {
    let server = Server::start(&["--shards", "2"]);
    let commands: &[&[&str]] = &[
        &["LPOP", "missing"],
        &["RPOP", "missing", "1"],
        &["LPOP", "missing", "0"],
        &["LINDEX", "missing", "0"],
        &["LMOVE", "missing", "x", "LEFT", "RIGHT"],
        &["LMPOP", "2", "missing", "other", "LEFT"],
        &["LPOS", "missing", "a"],
        &["LPOS", "missing", "a", "COUNT", "0"],
        &["LRANGE", "missing", "0", "-1"],
    ];
    assert_eq!(
        raw_replies(&server, false, commands),
        "$-1\r\n*-1\r\n*-1\r\n$-1\r\n$-1\r\n*-1\r\n$-1\r\n*0\r\n*0\r\n"
    );
    let resp3 = raw_replies(&server, true, commands);
    assert_eq!(resp3, "_\r\n_\r\n_\r\n_\r\n_\r\n_\r\n_\r\n*0\r\n*0\r\n");
}

#[test]
fn indexes_ranges_and_in_place_edits() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    assert_eq!(int(&mut c, &["RPUSH", "l", "a", "b", "c", "d", "e"]), 5);
    assert_eq!(q(&mut c, &["LINDEX", "l", "0"]).unwrap(), bulk("a"));
    assert_eq!(q(&mut c, &["LINDEX", "l", "-1"]).unwrap(), bulk("e"));
    assert_eq!(q(&mut c, &["LINDEX", "l", "5"]).unwrap(), Value::Nil);
    assert_eq!(
        err(q(&mut c, &["LINDEX", "l", "x"])),
        "ERR: value is not an integer or out of range"
    );
    let r: Vec<String> = cmd("LRANGE")
        .arg("l")
        .arg(-3)
        .arg(-2)
        .query(&mut c)
        .unwrap();
    assert_eq!(r, ["c", "d"]);
    let r: Vec<String> = cmd("LRANGE")
        .arg("l")
        .arg(-100)
        .arg(100)
        .query(&mut c)
        .unwrap();
    assert_eq!(r.len(), 5);
    let r: Vec<String> = cmd("LRANGE").arg("l").arg(3).arg(1).query(&mut c).unwrap();
    assert!(r.is_empty());
    assert_eq!(
        err(q(&mut c, &["LRANGE", "l", "0", "x"])),
        "ERR: value is not an integer or out of range"
    );
    assert_eq!(q(&mut c, &["LSET", "l", "1", "B"]).unwrap(), Value::Okay);
    assert_eq!(q(&mut c, &["LSET", "l", "-1", "E"]).unwrap(), Value::Okay);
    assert_eq!(
        err(q(&mut c, &["LSET", "l", "5", "z"])),
        "ERR: index out of range"
    );
    assert_eq!(
        err(q(&mut c, &["LSET", "nope", "0", "z"])),
        "ERR: no such key"
    );
    assert_eq!(range(&mut c, "l"), ["a", "B", "c", "d", "E"]);
    assert_eq!(int(&mut c, &["LINSERT", "l", "BEFORE", "c", "x"]), 6);
    assert_eq!(int(&mut c, &["LINSERT", "l", "after", "E", "y"]), 7);
    assert_eq!(int(&mut c, &["LINSERT", "l", "AFTER", "zz", "y"]), -1);
    assert_eq!(int(&mut c, &["LINSERT", "nope", "AFTER", "a", "y"]), 0);
    assert_eq!(
        err(q(&mut c, &["LINSERT", "l", "NEAR", "a", "y"])),
        "ERR: syntax error"
    );
    assert_eq!(range(&mut c, "l"), ["a", "B", "x", "c", "d", "E", "y"]);
    assert_eq!(q(&mut c, &["LTRIM", "l", "1", "-2"]).unwrap(), Value::Okay);
    assert_eq!(range(&mut c, "l"), ["B", "x", "c", "d", "E"]);
    assert_eq!(
        q(&mut c, &["LTRIM", "nope", "0", "1"]).unwrap(),
        Value::Okay
    );
    assert_eq!(q(&mut c, &["LTRIM", "l", "3", "1"]).unwrap(), Value::Okay);
    assert_eq!(
        int(&mut c, &["EXISTS", "l"]),
        0,
        "an empty trim deletes the key"
    );
}

#[test]
fn lrem_counts_from_either_end() {
    let server = Server::start(&[]);
    let mut c = server.client_resp3();
    let items = ["a", "x", "b", "x", "c", "x", "d", "x"];
    let mut push = cmd("RPUSH");
    push.arg("l").arg(&items[..]);
    let _: i64 = push.query(&mut c).unwrap();
    assert_eq!(int(&mut c, &["LREM", "l", "2", "x"]), 2);
    assert_eq!(range(&mut c, "l"), ["a", "b", "c", "x", "d", "x"]);
    assert_eq!(int(&mut c, &["LREM", "l", "-1", "x"]), 1);
    assert_eq!(range(&mut c, "l"), ["a", "b", "c", "x", "d"]);
    assert_eq!(int(&mut c, &["LREM", "l", "0", "x"]), 1);
    assert_eq!(int(&mut c, &["LREM", "l", "0", "nope"]), 0);
    assert_eq!(int(&mut c, &["LREM", "missing", "0", "a"]), 0);
    for item in ["a", "b", "c", "d"] {
        assert_eq!(int(&mut c, &["LREM", "l", "1", item]), 1);
    }
    assert_eq!(int(&mut c, &["EXISTS", "l"]), 0);
    // Integers and their text compare equal; non-canonical spellings do not.
    assert_eq!(
        int(&mut c, &["RPUSH", "n", "10", "010", "10", "-0", "0"]),
        5
    );
    assert_eq!(int(&mut c, &["LREM", "n", "0", "10"]), 2);
    assert_eq!(range(&mut c, "n"), ["010", "-0", "0"]);
}

#[test]
fn lpos_with_every_option() {
    let server = Server::start(&[]);
    for resp3 in [false, true] {
        let mut c = if resp3 {
            server.client_resp3()
        } else {
            server.client()
        };
        let _: () = cmd("FLUSHALL").query(&mut c).unwrap();
        let _: i64 = cmd("RPUSH")
            .arg("l")
            .arg(&["a", "b", "c", "1", "2", "3", "c", "c"][..])
            .query(&mut c)
            .unwrap();
        assert_eq!(int(&mut c, &["LPOS", "l", "c"]), 2);
        assert_eq!(int(&mut c, &["LPOS", "l", "c", "RANK", "2"]), 6);
        assert_eq!(int(&mut c, &["LPOS", "l", "c", "RANK", "-1"]), 7);
        assert_eq!(int(&mut c, &["LPOS", "l", "3"]), 5);
        assert_eq!(
            q(&mut c, &["LPOS", "l", "c", "RANK", "4"]).unwrap(),
            Value::Nil
        );
        assert_eq!(q(&mut c, &["LPOS", "l", "z"]).unwrap(), Value::Nil);
        let all: Vec<i64> = cmd("LPOS")
            .arg("l")
            .arg("c")
            .arg("COUNT")
            .arg(0)
            .query(&mut c)
            .unwrap();
        assert_eq!(all, [2, 6, 7]);
        let two: Vec<i64> = cmd("LPOS")
            .arg(&["l", "c", "RANK", "-1", "COUNT", "2"][..])
            .query(&mut c)
            .unwrap();
        assert_eq!(two, [7, 6]);
        let capped: Vec<i64> = cmd("LPOS")
            .arg(&["l", "c", "COUNT", "0", "MAXLEN", "7"][..])
            .query(&mut c)
            .unwrap();
        assert_eq!(capped, [2, 6]);
        let none: Vec<i64> = cmd("LPOS")
            .arg(&["l", "z", "COUNT", "1"][..])
            .query(&mut c)
            .unwrap();
        assert!(none.is_empty());
    }
}

#[test]
fn lpos_errors_follow_redis() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let _: i64 = cmd("RPUSH")
        .arg(&["l", "a", "c"][..])
        .query(&mut c)
        .unwrap();
    assert_eq!(
        err(q(&mut c, &["LPOS", "l", "c", "RANK", "0"])),
        "ERR: RANK can't be zero: use 1 to start from the first match, 2 from the second ... \
         or use negative to start from the end of the list"
    );
    assert_eq!(
        err(q(&mut c, &["LPOS", "l", "c", "COUNT", "-1"])),
        "ERR: COUNT can't be negative"
    );
    assert_eq!(
        err(q(&mut c, &["LPOS", "l", "c", "MAXLEN", "-1"])),
        "ERR: MAXLEN can't be negative"
    );
    assert_eq!(
        err(q(&mut c, &["LPOS", "l", "c", "RANK", "x"])),
        "ERR: value is not an integer or out of range"
    );
    assert_eq!(
        err(q(&mut c, &["LPOS", "l", "c", "COUNT"])),
        "ERR: syntax error"
    );
    assert_eq!(
        err(q(&mut c, &["LPOS", "l", "c", "FOO", "1"])),
        "ERR: syntax error"
    );
}

#[test]
fn lmove_every_direction_and_rotation() {
    let server = Server::start(&["--shards", "4"]);
    let mut c = server.client();
    let _: i64 = cmd("RPUSH")
        .arg("src")
        .arg(&["a", "b", "c", "d"][..])
        .query(&mut c)
        .unwrap();
    // Destinations on several shards: the move is atomic across them.
    assert_eq!(
        q(&mut c, &["LMOVE", "src", "d1", "LEFT", "LEFT"]).unwrap(),
        bulk("a")
    );
    assert_eq!(
        q(&mut c, &["LMOVE", "src", "d2", "LEFT", "RIGHT"]).unwrap(),
        bulk("b")
    );
    assert_eq!(
        q(&mut c, &["LMOVE", "src", "d1", "RIGHT", "LEFT"]).unwrap(),
        bulk("d")
    );
    assert_eq!(
        q(&mut c, &["LMOVE", "src", "d1", "RIGHT", "RIGHT"]).unwrap(),
        bulk("c")
    );
    assert_eq!(int(&mut c, &["EXISTS", "src"]), 0);
    assert_eq!(range(&mut c, "d1"), ["d", "a", "c"]);
    assert_eq!(range(&mut c, "d2"), ["b"]);
    assert_eq!(
        q(&mut c, &["LMOVE", "d1", "d1", "LEFT", "RIGHT"]).unwrap(),
        bulk("d")
    );
    assert_eq!(range(&mut c, "d1"), ["a", "c", "d"]);
    assert_eq!(
        q(&mut c, &["LMOVE", "d1", "d1", "RIGHT", "LEFT"]).unwrap(),
        bulk("d")
    );
    assert_eq!(range(&mut c, "d1"), ["d", "a", "c"]);
    assert_eq!(q(&mut c, &["RPOPLPUSH", "d1", "d1"]).unwrap(), bulk("c"));
    assert_eq!(range(&mut c, "d1"), ["c", "d", "a"]);
    assert_eq!(q(&mut c, &["RPOPLPUSH", "d2", "d3"]).unwrap(), bulk("b"));
    assert_eq!(int(&mut c, &["EXISTS", "d2"]), 0);
    assert_eq!(range(&mut c, "d3"), ["b"]);
    assert_eq!(q(&mut c, &["RPOPLPUSH", "nope", "d3"]).unwrap(), Value::Nil);
    assert_eq!(
        q(&mut c, &["LMOVE", "nope", "d3", "LEFT", "LEFT"]).unwrap(),
        Value::Nil
    );
    assert_eq!(
        err(q(&mut c, &["LMOVE", "d1", "d3", "UP", "LEFT"])),
        "ERR: syntax error"
    );
    let _: () = cmd("SET").arg("s").arg("v").query(&mut c).unwrap();
    assert!(err(q(&mut c, &["LMOVE", "d1", "s", "LEFT", "LEFT"])).starts_with("WRONGTYPE"));
    assert!(err(q(&mut c, &["RPOPLPUSH", "s", "d1"])).starts_with("WRONGTYPE"));
    assert_eq!(
        range(&mut c, "d1"),
        ["c", "d", "a"],
        "a failed move changes nothing"
    );
    assert_eq!(q(&mut c, &["RPOPLPUSH", "nope", "s"]).unwrap(), Value::Nil);
}

#[test]
fn lmpop_pops_from_the_first_non_empty_list() {
    let server = Server::start(&["--shards", "4"]);
    for resp3 in [false, true] {
        let mut c = if resp3 {
            server.client_resp3()
        } else {
            server.client()
        };
        let _: () = cmd("FLUSHALL").query(&mut c).unwrap();
        let _: i64 = cmd("RPUSH")
            .arg("k2")
            .arg(&["a", "b", "c"][..])
            .query(&mut c)
            .unwrap();
        let _: i64 = cmd("RPUSH")
            .arg("k3")
            .arg(&["x"][..])
            .query(&mut c)
            .unwrap();
        let reply = q(&mut c, &["LMPOP", "3", "k1", "k2", "k3", "LEFT"]).unwrap();
        assert_eq!(reply, Value::Array(vec![bulk("k2"), bulks(&["a"])]));
        let reply = q(&mut c, &["LMPOP", "2", "k2", "k3", "right", "COUNT", "10"]).unwrap();
        assert_eq!(reply, Value::Array(vec![bulk("k2"), bulks(&["c", "b"])]));
        assert_eq!(int(&mut c, &["EXISTS", "k2"]), 0);
        let reply = q(&mut c, &["LMPOP", "1", "k2", "LEFT", "COUNT", "2"]).unwrap();
        assert_eq!(reply, Value::Nil);
        let _: () = cmd("SET").arg("s").arg("v").query(&mut c).unwrap();
        assert!(err(q(&mut c, &["LMPOP", "2", "k1", "s", "LEFT"])).starts_with("WRONGTYPE"));
        assert_eq!(
            q(&mut c, &["LMPOP", "2", "k3", "s", "LEFT"]).unwrap(),
            Value::Array(vec![bulk("k3"), bulks(&["x"])]),
            "keys after the first non-empty list are not looked at"
        );
    }
    let mut c = server.client();
    let keys: Vec<String> = cmd("COMMAND")
        .arg(&["GETKEYS", "LMPOP", "2", "a", "b", "LEFT", "COUNT", "3"][..])
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, ["a", "b"]);
}

#[test]
fn lmpop_errors_follow_redis() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let errors = [
        (
            &["LMPOP", "0", "k1", "LEFT"][..],
            "ERR: numkeys should be greater than 0",
        ),
        (
            &["LMPOP", "-1", "k1", "LEFT"],
            "ERR: numkeys should be greater than 0",
        ),
        (
            &["LMPOP", "x", "k1", "LEFT"],
            "ERR: numkeys should be greater than 0",
        ),
        (&["LMPOP", "3", "k1", "LEFT"], "ERR: syntax error"),
        (&["LMPOP", "1", "k1", "MIDDLE"], "ERR: syntax error"),
        (
            &["LMPOP", "1", "k1", "LEFT", "COUNT", "0"],
            "ERR: count should be greater than 0",
        ),
        (
            &["LMPOP", "1", "k1", "LEFT", "COUNT", "x"],
            "ERR: count should be greater than 0",
        ),
        (
            &["LMPOP", "1", "k1", "LEFT", "COUNT", "1", "COUNT", "2"],
            "ERR: syntax error",
        ),
        (&["LMPOP", "1", "k1", "LEFT", "COUNT"], "ERR: syntax error"),
        (
            &["LMPOP", "1", "k1"],
            "ERR: wrong number of arguments for 'lmpop' command",
        ),
    ];
    for (words, expected) in errors {
        assert_eq!(err(q(&mut c, words)), expected, "{words:?}");
    }
}

#[test]
fn every_command_refuses_other_types() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let _: () = cmd("SET").arg("s").arg("v").query(&mut c).unwrap();
    let commands: &[&[&str]] = &[
        &["LPUSH", "s", "a"],
        &["RPUSH", "s", "a"],
        &["LPUSHX", "s", "a"],
        &["RPUSHX", "s", "a"],
        &["LPOP", "s"],
        &["RPOP", "s", "2"],
        &["LLEN", "s"],
        &["LRANGE", "s", "0", "-1"],
        &["LINDEX", "s", "0"],
        &["LSET", "s", "0", "a"],
        &["LINSERT", "s", "BEFORE", "a", "b"],
        &["LREM", "s", "0", "a"],
        &["LTRIM", "s", "0", "1"],
        &["LPOS", "s", "a"],
        &["LMOVE", "s", "d", "LEFT", "LEFT"],
        &["RPOPLPUSH", "s", "d"],
        &["LMPOP", "1", "s", "LEFT"],
    ];
    for words in commands {
        assert_eq!(
            err(q(&mut c, words)),
            "WRONGTYPE: Operation against a key holding the wrong kind of value",
            "{words:?}"
        );
    }
    assert_eq!(q(&mut c, &["GET", "s"]).unwrap(), bulk("v"));
}

#[test]
fn encodings_convert_at_the_configured_limits() {
    let server = Server::start(&[]);
    let mut c = server.client();
    // The default (-2) is 8 KiB of listpack.
    let _: i64 = cmd("RPUSH")
        .arg("small")
        .arg(&["a", "b", "1"][..])
        .query(&mut c)
        .unwrap();
    assert_eq!(encoding(&mut c, "small"), "listpack");
    assert_eq!(
        q(&mut c, &["TYPE", "small"]).unwrap(),
        Value::SimpleString("list".into())
    );
    let big = "x".repeat(9000);
    assert_eq!(int(&mut c, &["RPUSH", "big", &big]), 1);
    assert_eq!(encoding(&mut c, "big"), "quicklist");
    for i in 0..1000 {
        let _: i64 = cmd("RPUSH")
            .arg("many")
            .arg(format!("element:{i}"))
            .query(&mut c)
            .unwrap();
    }
    assert_eq!(encoding(&mut c, "many"), "quicklist");
    let r: Vec<String> = cmd("LRANGE")
        .arg("many")
        .arg(500)
        .arg(502)
        .query(&mut c)
        .unwrap();
    assert_eq!(r, ["element:500", "element:501", "element:502"]);
    assert_eq!(
        q(&mut c, &["LINDEX", "many", "-1"]).unwrap(),
        bulk("element:999")
    );
    assert_eq!(int(&mut c, &["LPOS", "many", "element:777"]), 777);
    // Shrinking far enough converts back to a listpack.
    assert_eq!(
        q(&mut c, &["LTRIM", "many", "0", "9"]).unwrap(),
        Value::Okay
    );
    assert_eq!(encoding(&mut c, "many"), "listpack");
    assert_eq!(int(&mut c, &["LLEN", "many"]), 10);
}

#[test]
fn encodings_follow_an_entry_count_fill() {
    let server = Server::start(&[]);
    let mut c = server.client();
    // 4 entries per listpack; back to a listpack at half of that (2).
    let _: () = cmd("CONFIG")
        .arg(&["SET", "list-max-listpack-size", "4"][..])
        .query(&mut c)
        .unwrap();
    let _: i64 = cmd("RPUSH")
        .arg("l")
        .arg(&["a", "b", "c", "d"][..])
        .query(&mut c)
        .unwrap();
    assert_eq!(encoding(&mut c, "l"), "listpack");
    assert_eq!(int(&mut c, &["RPUSH", "l", "e"]), 5);
    assert_eq!(encoding(&mut c, "l"), "quicklist");
    assert_eq!(int(&mut c, &["LREM", "l", "0", "e"]), 1);
    assert_eq!(
        encoding(&mut c, "l"),
        "quicklist",
        "4 entries are above half of 4"
    );
    let _: Value = q(&mut c, &["LPOP", "l", "2"]).unwrap();
    assert_eq!(encoding(&mut c, "l"), "listpack");
    assert_eq!(range(&mut c, "l"), ["c", "d"]);
    // LINSERT and LSET grow too; a new key starts compact again.
    let _: () = cmd("CONFIG")
        .arg(&["SET", "list-max-ziplist-size", "2"][..])
        .query(&mut c)
        .unwrap();
    assert_eq!(int(&mut c, &["LINSERT", "l", "BEFORE", "d", "x"]), 3);
    assert_eq!(encoding(&mut c, "l"), "quicklist");
    assert_eq!(range(&mut c, "l"), ["c", "x", "d"]);
    let _: Value = q(&mut c, &["RPOP", "l", "3"]).unwrap();
    assert_eq!(int(&mut c, &["RPUSH", "l", "fresh", "y"]), 2);
    assert_eq!(encoding(&mut c, "l"), "listpack");
    // Like Redis, LSET checks growth as if the element were added, even in place.
    assert_eq!(q(&mut c, &["LSET", "l", "0", "z"]).unwrap(), Value::Okay);
    assert_eq!(encoding(&mut c, "l"), "quicklist");
    assert_eq!(range(&mut c, "l"), ["z", "y"]);
}

#[test]
fn encodings_follow_a_byte_fill() {
    let server = Server::start(&[]);
    let mut c = server.client();
    // -1 is 4 KiB of listpack: 7 header bytes and 103 bytes per 100-byte element.
    let _: () = cmd("CONFIG")
        .arg(&["SET", "list-max-listpack-size", "-1"][..])
        .query(&mut c)
        .unwrap();
    let value = "v".repeat(100);
    for _ in 0..39 {
        let _: i64 = cmd("RPUSH").arg("bytes").arg(&value).query(&mut c).unwrap();
    }
    assert_eq!(encoding(&mut c, "bytes"), "listpack");
    let _: i64 = cmd("RPUSH").arg("bytes").arg(&value).query(&mut c).unwrap();
    assert_eq!(encoding(&mut c, "bytes"), "quicklist");
}

#[test]
fn large_lists_stay_consistent_across_middle_operations() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let mut model: Vec<String> = Vec::new();
    let mut pipe = redis::pipe();
    for i in 0..5000 {
        let value = if i % 3 == 0 {
            i.to_string()
        } else {
            format!("v{i}")
        };
        pipe.cmd("RPUSH").arg("big").arg(&value).ignore();
        model.push(value);
    }
    let _: () = pipe.query(&mut c).unwrap();
    assert_eq!(
        int(&mut c, &["LINSERT", "big", "AFTER", "v2500", "inserted"]),
        5001
    );
    let at = model.iter().position(|v| v == "v2500").unwrap();
    model.insert(at + 1, "inserted".into());
    assert_eq!(
        q(&mut c, &["LSET", "big", "4000", &"L".repeat(5000)]).unwrap(),
        Value::Okay
    );
    model[4000] = "L".repeat(5000);
    assert_eq!(int(&mut c, &["LREM", "big", "0", "3"]), 1);
    model.retain(|v| v != "3");
    assert_eq!(
        q(&mut c, &["LTRIM", "big", "7", "-8"]).unwrap(),
        Value::Okay
    );
    model = model[7..model.len() - 7].to_vec();
    assert_eq!(range(&mut c, "big"), model);
    let tail: Vec<String> = cmd("RPOP").arg("big").arg(3).query(&mut c).unwrap();
    let expected: Vec<String> = model.iter().rev().take(3).cloned().collect();
    assert_eq!(tail, expected);
}
