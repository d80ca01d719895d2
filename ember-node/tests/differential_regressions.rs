//! Regressions found by differential testing against a real redis-server (ci/differential.py):
//! each test is one difference, with Redis's exact reply.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use common::{cmd, exchange, resp, Server};
use redis::Value;

fn reply(raw: &mut std::net::TcpStream, words: &[&str], expected: &str) {
    let got = exchange(raw, &resp(words), expected.len());
    assert_eq!(String::from_utf8_lossy(&got), expected, "{words:?}");
}

#[test]
fn getex_checks_the_key_before_the_expire_value() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    reply(&mut raw, &["GETEX", "missing", "EX", "-1"], "$-1\r\n");
    reply(&mut raw, &["GETEX", "missing", "EX", "abc"], "$-1\r\n");
    reply(&mut raw, &["RPUSH", "list", "a"], ":1\r\n");
    reply(
        &mut raw,
        &["GETEX", "list", "EX", "abc"],
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
}

#[test]
fn floats_parse_like_strtod() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    reply(&mut raw, &["INCRBYFLOAT", "f", "0x10"], "$2\r\n16\r\n");
    reply(
        &mut raw,
        &["HINCRBYFLOAT", "h", "field", "0x1p3"],
        "$1\r\n8\r\n",
    );
    reply(
        &mut raw,
        &["ZADD", "z", "1e309", "a"],
        "-ERR value is not a valid float\r\n",
    );
    reply(
        &mut raw,
        &["ZADD", "z", "1e-400", "a"],
        "-ERR value is not a valid float\r\n",
    );
    reply(&mut raw, &["RPUSH", "list", "a"], ":1\r\n");
    reply(
        &mut raw,
        &["INCRBYFLOAT", "list", "abc"],
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
}

#[test]
fn pop_counts_that_are_not_integers_must_be_positive() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    reply(
        &mut raw,
        &["LPOP", "l", "1.5"],
        "-ERR value is out of range, must be positive\r\n",
    );
    reply(
        &mut raw,
        &["RPOP", "l", "abc"],
        "-ERR value is out of range, must be positive\r\n",
    );
}

#[test]
fn negative_zero_scores_print_as_zero() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    reply(&mut raw, &["ZADD", "z", "-0", "m"], ":1\r\n");
    reply(&mut raw, &["ZSCORE", "z", "m"], "$1\r\n0\r\n");
}

#[test]
fn failed_or_empty_writes_do_not_abort_a_watch() {
    let server = Server::start(&["--shards", "3"]);
    let mut c = server.client();
    let _: () = cmd("SET").arg("str").arg("v").query(&mut c).unwrap();
    let _: () = cmd("RPUSH").arg("l").arg("a").query(&mut c).unwrap();
    let _: () = cmd("WATCH").arg("str").arg("z").query(&mut c).unwrap();
    // LMOVE into a string fails before moving; ZMPOP over missing keys pops nothing.
    assert!(cmd("LMOVE")
        .arg("l")
        .arg("str")
        .arg("LEFT")
        .arg("LEFT")
        .query::<Value>(&mut c)
        .is_err());
    let _: Value = cmd("ZMPOP")
        .arg(2)
        .arg("z")
        .arg("nokey")
        .arg("MIN")
        .query(&mut c)
        .unwrap();
    let _: Value = cmd("LPOP").arg("z").query(&mut c).unwrap();
    let _: () = cmd("MULTI").query(&mut c).unwrap();
    let _: String = cmd("PING").query(&mut c).unwrap();
    let ran: Value = cmd("EXEC").query(&mut c).unwrap();
    assert!(
        matches!(ran, Value::Array(_)),
        "the transaction ran: {ran:?}"
    );
}

#[test]
fn subscribe_can_be_queued_in_multi_and_numsub_is_an_array() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    reply(&mut raw, &["MULTI"], "+OK\r\n");
    reply(&mut raw, &["SUBSCRIBE", "ch"], "+QUEUED\r\n");
    reply(
        &mut raw,
        &["EXEC"],
        "*1\r\n*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
    );
    let mut other = server.raw();
    use std::io::Write;
    other.write_all(&resp(&["HELLO", "3"])).unwrap();
    let _ = common::read_until(&mut other, b"modules\r\n*0\r\n");
    reply(
        &mut other,
        &["PUBSUB", "NUMSUB", "ch"],
        "*2\r\n$2\r\nch\r\n:1\r\n",
    );
}

#[test]
fn scan_with_an_unknown_type_matches_nothing() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    reply(&mut raw, &["SET", "k", "v"], "+OK\r\n");
    reply(
        &mut raw,
        &["SCAN", "0", "TYPE", "nosuchtype"],
        "*2\r\n$1\r\n0\r\n*0\r\n",
    );
}

#[test]
fn string_encodings_follow_how_the_string_was_built() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    // Each expectation is what redis-server 7 answers for the same sequence.
    let steps: &[(&[&str], Option<&str>)] = &[
        (&["SET", "a", "1234"], None),
        (&["SETRANGE", "a", "0", "2"], Some("raw")),
        (&["SET", "b", "1"], None),
        (&["APPEND", "b", "2"], Some("raw")),
        (&["SET", "c", "1"], None),
        (&["INCRBYFLOAT", "c", "1"], Some("embstr")),
        (&["SETBIT", "d", "1", "1"], Some("raw")),
        (&["SET", "e", "12"], None),
        (&["INCR", "e"], Some("int")),
        (&["APPEND", "f", "5"], Some("int")),
        (&["BITOP", "OR", "g", "d", "d"], Some("raw")),
    ];
    for (words, encoding) in steps {
        let mut request = cmd(words[0]);
        for word in &words[1..] {
            request.arg(*word);
        }
        let _: Value = request.query(&mut c).unwrap();
        if let Some(expected) = encoding {
            let key = if words[0] == "BITOP" {
                words[2]
            } else {
                words[1]
            };
            let got: String = cmd("OBJECT")
                .arg("ENCODING")
                .arg(key)
                .query(&mut c)
                .unwrap();
            assert_eq!(got, *expected, "after {words:?}");
        }
    }
}

#[test]
fn commands_failing_with_wrongtype_and_random_reads_do_not_abort_a_watch() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let _: () = cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .query(&mut c)
        .unwrap();
    let _: () = cmd("SADD")
        .arg("s")
        .arg("a")
        .arg("b")
        .query(&mut c)
        .unwrap();
    let _: () = cmd("WATCH").arg("h").arg("s").query(&mut c).unwrap();
    assert!(cmd("RPOP").arg("h").query::<Value>(&mut c).is_err());
    assert!(cmd("RPUSHX")
        .arg("h")
        .arg("x")
        .query::<Value>(&mut c)
        .is_err());
    assert!(cmd("ZADD")
        .arg("s")
        .arg(1)
        .arg("m")
        .query::<Value>(&mut c)
        .is_err());
    let _: Value = cmd("SRANDMEMBER").arg("s").query(&mut c).unwrap();
    let _: Value = cmd("HRANDFIELD").arg("h").query(&mut c).unwrap();
    let _: Value = cmd("SINTER").arg("s").arg("s").query(&mut c).unwrap();
    let _: () = cmd("MULTI").query(&mut c).unwrap();
    let _: String = cmd("PING").query(&mut c).unwrap();
    let ran: Value = cmd("EXEC").query(&mut c).unwrap();
    assert!(
        matches!(ran, Value::Array(_)),
        "the transaction ran: {ran:?}"
    );
}

#[test]
fn blocking_moves_inside_multi_answer_like_lmove() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    reply(&mut raw, &["MULTI"], "+OK\r\n");
    reply(&mut raw, &["BRPOPLPUSH", "l", "t", "0.01"], "+QUEUED\r\n");
    reply(&mut raw, &["EXEC"], "*1\r\n$-1\r\n");
    reply(
        &mut raw,
        &["BZMPOP", "-1", "1", "k", "MIN", "COUNT", "0"],
        "-ERR count should be greater than 0\r\n",
    );
}
