//! The sorted-set family through redis-rs against the real server (two shards, so multi-key
//! commands cross shards), RESP2 and RESP3, in both encodings.

mod common;

use common::Server;
use redis::{Connection, Value};

/// A reply as compact text: arrays in brackets, RESP3 doubles prefixed with ',', nils as
/// "nil" and errors as "error: ...", so whole replies compare as one string.
fn show(value: &Value) -> String {
    match value {
        Value::Nil => "nil".into(),
        Value::Int(i) => i.to_string(),
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::SimpleString(text) => text.clone(),
        Value::Okay => "OK".into(),
        Value::Double(d) => format!(",{d}"),
        Value::Array(items) | Value::Set(items) => {
            let inner: Vec<String> = items.iter().map(show).collect();
            format!("[{}]", inner.join(" "))
        }
        other => format!("{other:?}"),
    }
}

/// Runs one command given as words and shows its reply.
fn run(c: &mut Connection, words: &str) -> String {
    let parts: Vec<&str> = words.split(' ').collect();
    let mut request = redis::cmd(parts[0]);
    for part in &parts[1..] {
        request.arg(*part);
    }
    match request.query::<Value>(c) {
        Ok(value) => show(&value),
        Err(error) => format!(
            "error: {} {}",
            error.code().unwrap_or("?"),
            error.detail().unwrap_or("")
        ),
    }
}

/// Asserts each (command, expected reply) in order.
fn expect(c: &mut Connection, cases: &[(&str, &str)]) {
    for (words, expected) in cases {
        assert_eq!(run(c, words), *expected, "{words}");
    }
}

#[test]
fn zadd_options_scores_and_errors() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    expect(
        &mut c,
        &[
            ("ZADD z XX 1 a", "0"),
            ("EXISTS z", "0"),
            ("ZADD z 10 x 20 y 30 z", "3"),
            ("ZADD z 5 foo 11 x 20 y", "1"),
            ("ZADD z CH 12 x 20 y 6 foo", "2"),
            ("ZADD z GT CH 1 foo 13 x", "1"),
            ("ZADD z LT CH 1 foo 99 x", "1"),
            ("ZADD z NX 50 x 40 new", "1"),
            ("ZADD z XX 41 new 1 never", "0"),
            ("ZSCORE z never", "nil"),
            ("ZADD z INCR 2 x", "15"),
            ("ZADD z NX INCR 2 x", "nil"),
            ("ZADD z GT INCR -1 x", "nil"),
            ("ZINCRBY z 1.5 x", "16.5"),
            ("ZINCRBY z 1 brandnew", "1"),
            ("ZSCORE z x", "16.5"),
            ("ZMSCORE z x nope y", "[16.5 nil 20]"),
            ("ZMSCORE missing a b", "[nil nil]"),
            ("ZCARD z", "6"),
            ("ZCARD missing", "0"),
            (
                "ZADD z NX XX 1 a",
                "error: ERR XX and NX options at the same time are not compatible",
            ),
            (
                "ZADD z GT NX 1 a",
                "error: ERR GT, LT, and/or NX options at the same time are not compatible",
            ),
            (
                "ZADD z GT LT 1 a",
                "error: ERR GT, LT, and/or NX options at the same time are not compatible",
            ),
            (
                "ZADD z INCR 1 a 2 b",
                "error: ERR INCR option supports a single increment-element pair",
            ),
            ("ZADD z 1 a 2", "error: ERR syntax error"),
            ("ZADD z nan a", "error: ERR value is not a valid float"),
            ("ZADD z 1 a 2x b", "error: ERR value is not a valid float"),
            ("ZSCORE z a", "nil"),
            ("ZADD inf +inf a -inf b inf c", "3"),
            ("ZRANGE inf 0 -1 WITHSCORES", "[b -inf a inf c inf]"),
            (
                "ZINCRBY inf -inf a",
                "error: ERR resulting score is not a number (NaN)",
            ),
            ("ZINCRBY z abc x", "error: ERR value is not a valid float"),
            ("ZREM z x y nope", "2"),
            ("ZREM missing a", "0"),
            ("ZADD one 1 a", "1"),
            ("ZREM one a", "1"),
            ("EXISTS one", "0"),
            ("ZADD big 1.7976931348623157e308 max", "1"),
        ],
    );
    // The largest double survives the round trip (its text form is the encoder's choice).
    let max: f64 = run(&mut c, "ZSCORE big max").parse().unwrap();
    assert_eq!(max, f64::MAX);
}

#[test]
fn ranks_and_the_range_family() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    run(&mut c, "ZADD z -inf a 1 b 2 c 3 d 4 e 5 f +inf g");
    run(
        &mut c,
        "ZADD lex 0 alpha 0 bar 0 cool 0 down 0 elephant 0 foo 0 great 0 hill 0 omega",
    );
    expect(
        &mut c,
        &[
            ("ZRANK z c", "2"),
            ("ZREVRANK z c", "4"),
            ("ZRANK z c WITHSCORE", "[2 2]"),
            ("ZREVRANK z g WITHSCORE", "[0 inf]"),
            ("ZRANK z nope", "nil"),
            ("ZRANK z nope WITHSCORE", "nil"),
            ("ZRANK z c bogus", "error: ERR syntax error"),
            ("ZRANGE z 0 -1", "[a b c d e f g]"),
            ("ZRANGE z -2 -1 WITHSCORES", "[f 5 g inf]"),
            ("ZRANGE z 5 -2", "[f]"),
            ("ZRANGE z 6 -2", "[]"),
            ("ZRANGE z 1 100", "[b c d e f g]"),
            ("ZRANGE z 0 1 REV", "[g f]"),
            ("ZREVRANGE z 0 2 WITHSCORES", "[g inf f 5 e 4]"),
            ("ZRANGE z (1 3 BYSCORE", "[c d]"),
            ("ZRANGE z 3 (1 BYSCORE REV", "[d c]"),
            ("ZRANGE z -inf +inf BYSCORE LIMIT 1 2", "[b c]"),
            ("ZRANGE z +inf -inf BYSCORE REV LIMIT 1 -1", "[f e d c b a]"),
            ("ZRANGEBYSCORE z 0 10 LIMIT 2 3 WITHSCORES", "[d 3 e 4 f 5]"),
            ("ZRANGEBYSCORE z (2.4 (2.6", "[]"),
            ("ZREVRANGEBYSCORE z 10 0 LIMIT 2 10", "[d c b]"),
            ("ZRANGEBYSCORE z 0 10 LIMIT -1 2", "[]"),
            ("ZCOUNT z (0 (3", "2"),
            ("ZCOUNT z -inf +inf", "7"),
            ("ZRANGEBYLEX lex - [cool", "[alpha bar cool]"),
            ("ZRANGEBYLEX lex (bar (down", "[cool]"),
            ("ZREVRANGEBYLEX lex + (great", "[omega hill]"),
            ("ZRANGE lex [d + BYLEX REV LIMIT 0 2", "[]"),
            ("ZRANGE lex + [d BYLEX REV LIMIT 0 2", "[omega hill]"),
            ("ZRANGEBYLEX lex - + LIMIT 1 2", "[bar cool]"),
            ("ZLEXCOUNT lex [bar (foo", "4"),
            ("ZLEXCOUNT lex + -", "0"),
            ("ZRANGE z 0 1 LIMIT 0 1", "error: ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"),
            ("ZRANGE lex - + BYLEX WITHSCORES", "error: ERR syntax error, WITHSCORES not supported in combination with BYLEX"),
            ("ZRANGEBYSCORE z a 1", "error: ERR min or max is not a float"),
            ("ZRANGEBYSCORE z 1 nan", "error: ERR min or max is not a float"),
            ("ZRANGEBYLEX lex foo +", "error: ERR min or max not valid string range item"),
            ("ZRANGEBYLEX lex +x [a", "error: ERR min or max not valid string range item"),
            ("ZREVRANGE z 0 -1 BYSCORE", "error: ERR syntax error"),
            ("ZRANGEBYSCORE z 0 1 REV", "error: ERR syntax error"),
            ("ZRANGE z a 1", "error: ERR value is not an integer or out of range"),
            ("ZRANGE missing 0 -1", "[]"),
            ("ZRANGESTORE dst z 1 2", "2"),
            ("ZRANGE dst 0 -1 WITHSCORES", "[b 1 c 2]"),
            ("ZRANGESTORE dst z 5 0 BYSCORE REV LIMIT 0 2", "2"),
            ("ZRANGE dst 0 -1 WITHSCORES", "[e 4 f 5]"),
            ("ZRANGESTORE dst lex [b [c BYLEX", "1"),
            ("ZRANGESTORE dst z 0 -1 WITHSCORES", "error: ERR syntax error"),
            ("ZRANGESTORE dst z 50 60 BYSCORE", "0"),
            ("EXISTS dst", "0"),
            ("ZRANGESTORE dst missing 0 -1", "0"),
        ],
    );
}

#[test]
fn range_removals_delete_empty_keys() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let reset = |c: &mut Connection| {
        run(c, "DEL z");
        run(c, "ZADD z 1 a 2 b 3 c 4 d 5 e");
    };
    reset(&mut c);
    expect(
        &mut c,
        &[
            ("ZREMRANGEBYSCORE z (1 (5", "3"),
            ("ZRANGE z 0 -1", "[a e]"),
        ],
    );
    reset(&mut c);
    expect(
        &mut c,
        &[
            ("ZREMRANGEBYRANK z -10 0", "1"),
            ("ZREMRANGEBYRANK z 10 -1", "0"),
        ],
    );
    expect(
        &mut c,
        &[("ZREMRANGEBYRANK z 0 10", "4"), ("EXISTS z", "0")],
    );
    run(&mut c, "ZADD lex 0 a 0 b 0 c 0 d");
    expect(
        &mut c,
        &[
            ("ZREMRANGEBYLEX lex (a [c", "2"),
            ("ZRANGE lex 0 -1", "[a d]"),
            ("ZREMRANGEBYLEX lex - +", "2"),
            ("EXISTS lex", "0"),
            ("ZREMRANGEBYSCORE missing -inf +inf", "0"),
            (
                "ZREMRANGEBYSCORE lex str 1",
                "error: ERR min or max is not a float",
            ),
            (
                "ZREMRANGEBYLEX lex a b",
                "error: ERR min or max not valid string range item",
            ),
            (
                "ZREMRANGEBYRANK lex a 1",
                "error: ERR value is not an integer or out of range",
            ),
        ],
    );
}

#[test]
fn set_operations_across_shards() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    run(&mut c, "ZADD za 1 a 2 b 3 c");
    run(&mut c, "ZADD zb 1 b 2 c 3 d");
    expect(
        &mut c,
        &[
            ("ZUNIONSTORE out 2 za zb", "4"),
            ("ZRANGE out 0 -1 WITHSCORES", "[a 1 b 3 d 3 c 5]"),
            ("ZUNIONSTORE out 2 za zb WEIGHTS 2 3", "4"),
            ("ZRANGE out 0 -1 WITHSCORES", "[a 2 b 7 d 9 c 12]"),
            (
                "ZUNION 2 za zb AGGREGATE MAX WITHSCORES",
                "[a 1 b 2 c 3 d 3]",
            ),
            ("ZINTERSTORE out 2 za zb AGGREGATE MIN", "2"),
            ("ZRANGE out 0 -1 WITHSCORES", "[b 1 c 2]"),
            ("ZINTER 2 za zb WEIGHTS 2 3 WITHSCORES", "[b 7 c 12]"),
            ("ZINTER 2 za zb", "[b c]"),
            ("ZDIFF 2 za zb WITHSCORES", "[a 1]"),
            ("ZDIFFSTORE out 2 za zb", "1"),
            ("ZDIFFSTORE out 2 za za", "0"),
            ("EXISTS out", "0"),
            ("ZINTERCARD 2 za zb", "2"),
            ("ZINTERCARD 2 za zb LIMIT 1", "1"),
            ("ZINTERCARD 1 missing LIMIT 0", "0"),
            ("ZUNION 1 missing", "[]"),
            ("ZUNIONSTORE out 1 missing", "0"),
            (
                "ZUNION 0 za",
                "error: ERR at least 1 input key is needed for 'zunion' command",
            ),
            (
                "ZINTERSTORE out 0 za",
                "error: ERR at least 1 input key is needed for 'zinterstore' command",
            ),
            (
                "ZINTERCARD 0 za",
                "error: ERR at least 1 input key is needed for 'zintercard' command",
            ),
            ("ZUNION 3 za zb", "error: ERR syntax error"),
            (
                "ZUNIONSTORE out 2 za zb WITHSCORES",
                "error: ERR syntax error",
            ),
            ("ZDIFF 2 za zb WEIGHTS 1 2", "error: ERR syntax error"),
            (
                "ZINTER 2 za zb WEIGHTS nan nan",
                "error: ERR weight value is not a float",
            ),
            (
                "ZINTERCARD 1 za LIMIT -1",
                "error: ERR LIMIT can't be negative",
            ),
            ("ZINTERCARD 1 za LIMIT", "error: ERR syntax error"),
        ],
    );
    run(&mut c, "ZADD inf1 +inf k");
    run(&mut c, "ZADD inf2 -inf k");
    expect(
        &mut c,
        &[
            ("ZUNIONSTORE inf3 2 inf1 inf2", "1"),
            ("ZSCORE inf3 k", "0"),
            ("ZUNIONSTORE inf3 1 inf2 WEIGHTS 0", "1"),
            ("ZSCORE inf3 k", "0"),
        ],
    );
}

#[test]
fn pops_and_zmpop_in_both_protocols() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    run(&mut c, "ZADD z 0 a 1 b 2 c 3 d 4 e");
    expect(
        &mut c,
        &[
            ("ZPOPMIN missing", "[]"),
            ("ZPOPMIN z", "[a 0]"),
            ("ZPOPMAX z 2", "[e 4 d 3]"),
            ("ZPOPMIN z 0", "[]"),
            (
                "ZPOPMIN z -1",
                "error: ERR value is out of range, must be positive",
            ),
            ("ZPOPMIN z 1 2", "error: ERR syntax error"),
            ("ZMPOP 2 missing z MIN COUNT 10", "[z [[b 1] [c 2]]]"),
            ("EXISTS z", "0"),
            ("ZMPOP 1 z MAX", "nil"),
            (
                "ZMPOP 0 z MIN",
                "error: ERR numkeys should be greater than 0",
            ),
            (
                "ZMPOP 1 z MIN COUNT 0",
                "error: ERR count should be greater than 0",
            ),
            ("ZMPOP 1 z bad", "error: ERR syntax error"),
            (
                "ZMPOP 1",
                "error: ERR wrong number of arguments for 'zmpop' command",
            ),
        ],
    );
    let mut c3 = server.client_resp3();
    run(&mut c3, "ZADD z3 0 a 1 b 2 c 3 d");
    expect(
        &mut c3,
        &[
            ("ZPOPMIN z3", "[a ,0]"),
            ("ZPOPMAX z3 1", "[[d ,3]]"),
            ("ZMPOP 1 z3 MIN", "[z3 [[b ,1]]]"),
            ("ZMPOP 1 missing MIN", "nil"),
            ("ZSCORE z3 c", ",2"),
            ("ZRANGE z3 0 -1 WITHSCORES", "[[c ,2]]"),
            ("ZRANK z3 c WITHSCORE", "[0 ,2]"),
            ("ZMSCORE z3 c nope", "[,2 nil]"),
            ("ZINCRBY z3 0.5 c", ",2.5"),
            ("ZADD z3 INCR 1 c", ",3.5"),
            ("ZUNION 1 z3 WITHSCORES", "[[c ,3.5]]"),
            ("ZRANDMEMBER z3 1 WITHSCORES", "[[c ,3.5]]"),
            ("ZRANDMEMBER z3 -2", "[c c]"),
        ],
    );
}

#[test]
fn random_members_and_scan() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    run(&mut c, "ZADD r 1 a 2 b 3 c 4 d 5 e");
    for _ in 0..20 {
        let one = run(&mut c, "ZRANDMEMBER r");
        assert!(["a", "b", "c", "d", "e"].contains(&one.as_str()), "{one}");
        let three = run(&mut c, "ZRANDMEMBER r 3");
        let mut members: Vec<&str> = three.trim_matches(['[', ']']).split(' ').collect();
        members.sort();
        members.dedup();
        assert_eq!(members.len(), 3, "{three}");
    }
    expect(
        &mut c,
        &[
            ("ZRANDMEMBER missing", "nil"),
            ("ZRANDMEMBER missing 3", "[]"),
            ("ZRANDMEMBER r 0", "[]"),
            ("ZRANDMEMBER r 1 bogus", "error: ERR syntax error"),
            ("ZRANDMEMBER r -9223372036854775808", "error: ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"),
            ("ZRANDMEMBER r -9223372036854770000 WITHSCORES", "error: ERR value is out of range"),
        ],
    );
    assert_eq!(run(&mut c, "ZRANDMEMBER r -20").split(' ').count(), 20);
    assert_eq!(
        run(&mut c, "ZRANDMEMBER r 10 WITHSCORES")
            .split(' ')
            .count(),
        10
    );
    expect(
        &mut c,
        &[
            ("ZSCAN r 0", "[0 [a 1 b 2 c 3 d 4 e 5]]"),
            ("ZSCAN r 0 MATCH [bd] NOSCORES", "[0 [b d]]"),
            ("ZSCAN r 0 COUNT 0", "error: ERR syntax error"),
            ("ZSCAN r x", "error: ERR invalid cursor"),
            ("ZSCAN missing 0", "[0 []]"),
        ],
    );
    // A skiplist scans through its table with a cursor; every member comes back.
    run(&mut c, "CONFIG SET zset-max-listpack-entries 16");
    for i in 0..500 {
        run(&mut c, &format!("ZADD big {i}.5 m{i}"));
    }
    assert_eq!(run(&mut c, "OBJECT ENCODING big"), "skiplist");
    let mut cursor = "0".to_string();
    let mut seen = std::collections::BTreeMap::new();
    loop {
        let mut request = redis::cmd("ZSCAN");
        request.arg("big").arg(&cursor).arg("COUNT").arg(37);
        let (next, items): (String, Vec<String>) = request.query(&mut c).unwrap();
        for pair in items.chunks(2) {
            seen.insert(pair[0].clone(), pair[1].clone());
        }
        cursor = next;
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 500);
    assert_eq!(seen["m7"], "7.5");
}

#[test]
fn encodings_convert_past_the_thresholds_and_never_back() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    expect(
        &mut c,
        &[
            ("CONFIG SET zset-max-listpack-entries 4", "OK"),
            ("CONFIG SET zset-max-listpack-value 8", "OK"),
            ("ZADD z 1 a 2 b 3 c 4 d", "4"),
            ("OBJECT ENCODING z", "listpack"),
            ("ZADD z 5 e", "1"),
            ("OBJECT ENCODING z", "skiplist"),
            ("ZREM z a b c d", "4"),
            ("OBJECT ENCODING z", "skiplist"),
            ("ZRANGE z 0 -1 WITHSCORES", "[e 5]"),
            ("ZADD long 1 123456789", "1"),
            ("OBJECT ENCODING long", "skiplist"),
            ("ZADD short 1 12345678", "1"),
            ("OBJECT ENCODING short", "listpack"),
            ("ZINCRBY short 1 123456789", "1"),
            ("OBJECT ENCODING short", "skiplist"),
            ("ZADD many 1 a 2 b 3 c 4 d 5 e", "5"),
            ("OBJECT ENCODING many", "skiplist"),
            ("ZRANGESTORE small many 0 1", "2"),
            ("OBJECT ENCODING small", "listpack"),
            ("ZUNIONSTORE all 1 many", "5"),
            ("OBJECT ENCODING all", "skiplist"),
            ("CONFIG SET zset-max-ziplist-entries 0", "OK"),
            ("ZADD zero 1 a", "1"),
            ("OBJECT ENCODING zero", "skiplist"),
            ("ZRANGESTORE zero2 zero 0 -1", "1"),
            ("OBJECT ENCODING zero2", "skiplist"),
        ],
    );
    // Both encodings answer the same queries the same way.
    run(&mut c, "CONFIG SET zset-max-listpack-entries 128");
    run(&mut c, "ZADD k1 3 c 1 a 2 b 2 bb 0 z");
    run(&mut c, "CONFIG SET zset-max-listpack-entries 0");
    run(&mut c, "ZADD k2 3 c 1 a 2 b 2 bb 0 z");
    assert_eq!(run(&mut c, "OBJECT ENCODING k1"), "listpack");
    assert_eq!(run(&mut c, "OBJECT ENCODING k2"), "skiplist");
    for query in [
        "ZRANGE {} 0 -1 WITHSCORES",
        "ZRANGE {} (1 +inf BYSCORE REV LIMIT 1 2",
        "ZRANK {} bb",
        "ZREVRANK {} a WITHSCORE",
        "ZCOUNT {} 1 (3",
        "ZRANGEBYSCORE {} 2 2",
    ] {
        assert_eq!(
            run(&mut c, &query.replace("{}", "k1")),
            run(&mut c, &query.replace("{}", "k2")),
            "{query}"
        );
    }
}

#[test]
fn every_command_refuses_other_types() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    run(&mut c, "SET s v");
    run(&mut c, "ZADD z 1 a");
    for words in [
        "ZADD s 1 a",
        "ZINCRBY s 1 a",
        "ZREM s a",
        "ZSCORE s a",
        "ZMSCORE s a",
        "ZCARD s",
        "ZCOUNT s 0 1",
        "ZLEXCOUNT s - +",
        "ZRANK s a",
        "ZREVRANK s a",
        "ZRANGE s 0 -1",
        "ZRANGESTORE z s 0 -1",
        "ZRANGEBYSCORE s 0 1",
        "ZREVRANGEBYSCORE s 1 0",
        "ZRANGEBYLEX s - +",
        "ZREVRANGEBYLEX s + -",
        "ZREVRANGE s 0 -1",
        "ZREMRANGEBYRANK s 0 1",
        "ZREMRANGEBYSCORE s 0 1",
        "ZREMRANGEBYLEX s - +",
        "ZPOPMIN s",
        "ZPOPMAX s 0",
        "ZMPOP 2 nope s MIN",
        "ZUNIONSTORE out 2 z s",
        "ZINTERSTORE out 2 z s",
        "ZDIFFSTORE out 2 z s",
        "ZUNION 2 z s",
        "ZINTER 2 s z",
        "ZDIFF 2 z s",
        "ZINTERCARD 2 z s",
        "ZRANDMEMBER s",
        "ZRANDMEMBER s 2",
        "ZSCAN s 0",
    ] {
        let reply = run(&mut c, words);
        assert!(reply.starts_with("error: WRONGTYPE"), "{words}: {reply}");
    }
    assert_eq!(run(&mut c, "ZRANGE z 0 -1"), "[a]", "the source survives");
}

#[test]
fn plain_sets_count_as_score_one_in_set_algebra() {
    let server = Server::start(&["--shards", "3"]);
    let mut c = server.client();
    run(&mut c, "ZADD z 1 a 2 b 3 c");
    run(&mut c, "SADD s b c d");
    run(&mut c, "SADD nums 1 2");
    assert_eq!(run(&mut c, "ZUNION 2 z s WITHSCORES"), "[a 1 d 1 b 3 c 4]");
    assert_eq!(
        run(&mut c, "ZINTER 2 z s WEIGHTS 1 10 WITHSCORES"),
        "[b 12 c 13]"
    );
    assert_eq!(run(&mut c, "ZDIFF 2 z s"), "[a]");
    assert_eq!(run(&mut c, "ZINTERCARD 2 s z"), "2");
    assert_eq!(run(&mut c, "ZUNIONSTORE out 2 s nums AGGREGATE MAX"), "5");
    assert_eq!(
        run(&mut c, "ZRANGE out 0 -1 WITHSCORES"),
        "[1 1 2 1 b 1 c 1 d 1]"
    );
}

#[test]
fn zscan_reads_the_cursor_then_the_key_then_the_options() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    run(&mut c, "SET str v");
    run(&mut c, "ZADD z 1 a 2 b");
    expect(
        &mut c,
        &[
            ("ZSCAN nokey 0 COUNT abc", "[0 []]"),
            ("ZSCAN nokey 0 bogus", "[0 []]"),
            (
                "ZSCAN str 0 COUNT abc",
                "error: WRONGTYPE Operation against a key holding the wrong kind of value",
            ),
            ("ZSCAN str abc COUNT abc", "error: ERR invalid cursor"),
            ("ZSCAN nokey abc", "error: ERR invalid cursor"),
            (
                "ZSCAN z 0 COUNT abc",
                "error: ERR value is not an integer or out of range",
            ),
            ("ZSCAN z 0 COUNT 0", "error: ERR syntax error"),
        ],
    );
}

#[test]
fn set_operations_check_types_before_options() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    run(&mut c, "SET str v");
    run(&mut c, "ZADD z 1 a 2 b");
    let wrongtype = "error: WRONGTYPE Operation against a key holding the wrong kind of value";
    expect(
        &mut c,
        &[
            ("ZUNION 2 z str WEIGHTS abc", wrongtype),
            ("ZUNION 2 z str WEIGHTS 1 abc", wrongtype),
            ("ZINTER 2 z str AGGREGATE bogus", wrongtype),
            ("ZDIFF 2 z str WITHSCORES bogus", wrongtype),
            ("ZUNIONSTORE out 2 z str WEIGHTS 1 abc", wrongtype),
            ("ZINTERSTORE out 2 str z AGGREGATE avg", wrongtype),
            ("ZDIFFSTORE out 2 z str bogus", wrongtype),
            ("ZINTERCARD 2 z str LIMIT -1", wrongtype),
            (
                "ZINTERCARD 2 nokey nokey2 LIMIT -1",
                "error: ERR LIMIT can't be negative",
            ),
            ("ZUNION 3 z str", "error: ERR syntax error"),
            (
                "ZUNION 0 str",
                "error: ERR at least 1 input key is needed for 'zunion' command",
            ),
            (
                "ZUNION 2 z nokey WEIGHTS 1 abc",
                "error: ERR weight value is not a float",
            ),
        ],
    );
}

#[test]
fn set_operations_combine_the_smallest_input_first() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    run(&mut c, "ZADD y 0 m0 0 m1 0 m2 0 m3");
    run(&mut c, "SADD t m0 m1");
    run(&mut c, "ZADD a5 5 m");
    run(&mut c, "ZADD b0 0 m");
    run(&mut c, "ZADD big 5 m 1 x 1 y");
    run(&mut c, "ZADD pinf inf m");
    run(&mut c, "ZADD ninf -inf m 1 p");
    expect(
        &mut c,
        &[
            // t (2 members) goes first: 2, then y: inf * 0 is NaN, and so is the sum: 0.
            (
                "ZINTER 2 y t WEIGHTS inf 2 AGGREGATE sum WITHSCORES",
                "[m0 0 m1 0]",
            ),
            ("ZINTERSTORE out 2 y t WEIGHTS inf 2", "2"),
            ("ZRANGE out 0 -1 WITHSCORES", "[m0 0 m1 0]"),
            // MIN and MAX keep the score so far against a later NaN.
            (
                "ZINTER 2 y t WEIGHTS inf 2 AGGREGATE min WITHSCORES",
                "[m0 2 m1 2]",
            ),
            (
                "ZINTER 2 y t WEIGHTS inf 2 AGGREGATE max WITHSCORES",
                "[m0 2 m1 2]",
            ),
            // Same sizes keep the argument order; only the first input's NaN becomes 0.
            (
                "ZINTER 2 a5 b0 WEIGHTS 1 inf AGGREGATE min WITHSCORES",
                "[m 5]",
            ),
            (
                "ZINTER 2 b0 a5 WEIGHTS inf 1 AGGREGATE min WITHSCORES",
                "[m 0]",
            ),
            (
                "ZUNION 2 a5 b0 WEIGHTS 1 inf AGGREGATE min WITHSCORES",
                "[m 0]",
            ),
            // inf + -inf first (the two smaller inputs) is 0, then + 5.
            ("ZUNION 3 big pinf ninf WITHSCORES", "[p 1 x 1 y 1 m 5]"),
            ("ZINTER 3 big pinf ninf WITHSCORES", "[m 5]"),
        ],
    );
}

#[test]
fn a_lone_paren_bound_is_exclusive_zero() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    run(&mut c, "SET str v");
    run(&mut c, "ZADD z 1 a 2 b");
    expect(
        &mut c,
        &[
            ("ZCOUNT z ( (2", "1"),
            ("ZCOUNT z ( +inf", "2"),
            ("ZCOUNT z -inf (", "0"),
            ("ZRANGEBYSCORE x ( 0", "[]"),
            ("ZRANGE z (-inf ( BYSCORE", "[]"),
            ("ZRANGE z ( (+inf BYSCORE WITHSCORES", "[a 1 b 2]"),
            ("ZREVRANGEBYSCORE z (inf ( WITHSCORES", "[b 2 a 1]"),
            (
                "ZCOUNT str ( (2",
                "error: WRONGTYPE Operation against a key holding the wrong kind of value",
            ),
            ("ZREMRANGEBYSCORE z ( (1", "0"),
            ("ZCOUNT z (( 1", "error: ERR min or max is not a float"),
            ("ZCOUNT z (nan 1", "error: ERR min or max is not a float"),
        ],
    );
}

#[test]
fn zpop_counts_use_the_positive_parser() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    run(&mut c, "SET str v");
    run(&mut c, "ZADD z 1 a 2 b");
    let positive = "error: ERR value is out of range, must be positive";
    expect(
        &mut c,
        &[
            ("ZPOPMIN z abc", positive),
            ("ZPOPMAX z 1.5", positive),
            ("ZPOPMIN z -1", positive),
            ("ZPOPMIN nokey abc", positive),
            ("ZPOPMAX str abc", positive),
            ("ZPOPMIN z 1 2", "error: ERR syntax error"),
            ("ZCARD z", "2"),
        ],
    );
}

#[test]
fn zrandmember_parses_the_count_before_extra_words() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    run(&mut c, "SET str v");
    run(&mut c, "ZADD y 0 m0 0 m1");
    let range = "error: ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
    expect(
        &mut c,
        &[
            ("ZRANDMEMBER y -9223372036854775808 BOGUS", range),
            ("ZRANDMEMBER str -9223372036854775808 BOGUS", range),
            (
                "ZRANDMEMBER y abc BOGUS",
                "error: ERR value is not an integer or out of range",
            ),
            ("ZRANDMEMBER y 1 BOGUS", "error: ERR syntax error"),
            (
                "ZRANDMEMBER y 9223372036854775807 WITHSCORES",
                "error: ERR value is out of range",
            ),
        ],
    );
}

#[test]
fn zrange_limit_count_of_minus_one_is_no_limit() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    run(&mut c, "SET str v");
    run(&mut c, "ZADD z 1 a 2 b");
    let limit =
        "error: ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
    expect(
        &mut c,
        &[
            (
                "ZRANGE z -4 1.5 LIMIT -2 -1",
                "error: ERR value is not an integer or out of range",
            ),
            (
                "ZRANGE str -4 1.5 LIMIT -2 -1",
                "error: ERR value is not an integer or out of range",
            ),
            ("ZRANGE z -4 1.5 LIMIT -2 5", limit),
            ("ZRANGE z 0 -1 LIMIT 5 -1", "[a b]"),
            ("ZRANGE z 0 -1 LIMIT 0 -2", limit),
            (
                "ZRANGE z a b BYLEX WITHSCORES LIMIT 0 -1",
                "error: ERR syntax error, WITHSCORES not supported in combination with BYLEX",
            ),
            ("ZRANGESTORE out z 0 -1 LIMIT 1 -1", "2"),
            ("ZRANGE out 0 -1 WITHSCORES", "[a 1 b 2]"),
        ],
    );
}

#[test]
fn zincrby_on_a_new_member_stores_zero_plus_the_increment() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    run(&mut c, "ZINCRBY n -0 m");
    run(&mut c, "ZADD n2 INCR -0 m");
    expect(
        &mut c,
        &[
            ("ZSCORE n m", "0"),
            ("ZSCORE n2 m", "0"),
            ("ZRANGE n 0 -1 WITHSCORES", "[m 0]"),
        ],
    );
}

#[test]
fn zrank_with_two_words_after_the_member_is_an_arity_error() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    run(&mut c, "SET str v");
    run(&mut c, "ZADD z 1 a 2 b");
    expect(
        &mut c,
        &[
            (
                "ZRANK z a WITHSCORE bogus",
                "error: ERR wrong number of arguments for 'zrank' command",
            ),
            (
                "ZREVRANK str a WITHSCORE bogus",
                "error: ERR wrong number of arguments for 'zrevrank' command",
            ),
            ("ZRANK z a bogus", "error: ERR syntax error"),
            ("ZREVRANK z a WITHSCORE", "[1 1]"),
        ],
    );
}
