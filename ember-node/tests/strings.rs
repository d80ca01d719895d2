//! The string family through redis-rs against the real server, RESP2 and RESP3.

mod common;

use common::{cmd, err, Server};
use redis::Value;

#[test]
fn set_get_and_every_set_option() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let ok: String = cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    assert_eq!(ok, "OK");
    let v: Option<String> = cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v.as_deref(), Some("v"));
    let nx: Option<String> = cmd("SET")
        .arg("k")
        .arg("w")
        .arg("NX")
        .query(&mut c)
        .unwrap();
    assert_eq!(nx, None);
    let xx: Option<String> = cmd("SET")
        .arg("missing")
        .arg("w")
        .arg("XX")
        .query(&mut c)
        .unwrap();
    assert_eq!(xx, None);
    let old: Option<String> = cmd("SET")
        .arg("k")
        .arg("w")
        .arg("GET")
        .query(&mut c)
        .unwrap();
    assert_eq!(old.as_deref(), Some("v"));
    let _: () = cmd("SET")
        .arg("t")
        .arg("1")
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    let ttl: i64 = cmd("TTL").arg("t").query(&mut c).unwrap();
    assert!((99..=100).contains(&ttl));
    let _: () = cmd("SET")
        .arg("t")
        .arg("2")
        .arg("KEEPTTL")
        .query(&mut c)
        .unwrap();
    let pttl: i64 = cmd("PTTL").arg("t").query(&mut c).unwrap();
    assert!(pttl > 98_000 && pttl <= 100_000);
    let _: () = cmd("SET")
        .arg("t")
        .arg("3")
        .arg("PX")
        .arg(5000)
        .query(&mut c)
        .unwrap();
    let pttl: i64 = cmd("PTTL").arg("t").query(&mut c).unwrap();
    assert!(pttl > 4000 && pttl <= 5000);
    let _: () = cmd("SET")
        .arg("t")
        .arg("4")
        .arg("EXAT")
        .arg(4_000_000_000u64)
        .query(&mut c)
        .unwrap();
    let at: i64 = cmd("EXPIRETIME").arg("t").query(&mut c).unwrap();
    assert_eq!(at, 4_000_000_000);
    let _: () = cmd("SET")
        .arg("t")
        .arg("5")
        .arg("PXAT")
        .arg(4_000_000_000_123u64)
        .query(&mut c)
        .unwrap();
    let at: i64 = cmd("PEXPIRETIME").arg("t").query(&mut c).unwrap();
    assert_eq!(at, 4_000_000_000_123);
    let _: () = cmd("SET").arg("t").arg("6").query(&mut c).unwrap();
    let ttl: i64 = cmd("TTL").arg("t").query(&mut c).unwrap();
    assert_eq!(ttl, -1, "plain SET clears the TTL");
    // A past EXAT deletes the key.
    let _: () = cmd("SET")
        .arg("t")
        .arg("7")
        .arg("EXAT")
        .arg(1)
        .query(&mut c)
        .unwrap();
    let exists: i64 = cmd("EXISTS").arg("t").query(&mut c).unwrap();
    assert_eq!(exists, 0);
}

#[test]
fn set_errors_match_redis() {
    let server = Server::start(&[]);
    let mut c = server.client();
    assert_eq!(
        err(cmd("SET")
            .arg("k")
            .arg("v")
            .arg("NX")
            .arg("XX")
            .query(&mut c)),
        "ERR: syntax error"
    );
    assert_eq!(
        err(cmd("SET").arg("k").arg("v").arg("EX").arg(0).query(&mut c)),
        "ERR: invalid expire time in 'set' command"
    );
    assert_eq!(
        err(cmd("SET")
            .arg("k")
            .arg("v")
            .arg("EX")
            .arg("x")
            .query(&mut c)),
        "ERR: value is not an integer or out of range"
    );
    assert_eq!(
        err(cmd("SET")
            .arg("k")
            .arg("v")
            .arg("EX")
            .arg(1)
            .arg("PX")
            .arg(1)
            .query(&mut c)),
        "ERR: syntax error"
    );
    assert_eq!(
        err(cmd("SET").arg("k").query(&mut c)),
        "ERR: wrong number of arguments for 'set' command"
    );
    assert_eq!(
        err(cmd("SETEX").arg("k").arg(-1).arg("v").query(&mut c)),
        "ERR: invalid expire time in 'setex' command"
    );
    assert_eq!(
        err(cmd("GETEX")
            .arg("k")
            .arg("PERSIST")
            .arg("EX")
            .arg(1)
            .query(&mut c)),
        "ERR: syntax error"
    );
}

#[test]
fn counters_overflow_and_float_formatting() {
    let server = Server::start(&["--shards", "3"]);
    let mut c = server.client();
    let n: i64 = cmd("INCR").arg("n").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let n: i64 = cmd("INCRBY").arg("n").arg(41).query(&mut c).unwrap();
    assert_eq!(n, 42);
    let n: i64 = cmd("DECRBY").arg("n").arg(2).query(&mut c).unwrap();
    assert_eq!(n, 40);
    let n: i64 = cmd("DECR").arg("n").query(&mut c).unwrap();
    assert_eq!(n, 39);
    let _: () = cmd("SET").arg("big").arg(i64::MAX).query(&mut c).unwrap();
    assert_eq!(
        err(cmd("INCR").arg("big").query(&mut c)),
        "ERR: increment or decrement would overflow"
    );
    assert_eq!(
        err(cmd("DECRBY").arg("n").arg(i64::MIN).query(&mut c)),
        "ERR: decrement would overflow"
    );
    let _: () = cmd("SET").arg("s").arg("abc").query(&mut c).unwrap();
    assert_eq!(
        err(cmd("INCR").arg("s").query(&mut c)),
        "ERR: value is not an integer or out of range"
    );
    let _: () = cmd("SET").arg("f").arg("10.50").query(&mut c).unwrap();
    let f: String = cmd("INCRBYFLOAT")
        .arg("f")
        .arg("0.1")
        .query(&mut c)
        .unwrap();
    assert_eq!(f, "10.6");
    let f: String = cmd("INCRBYFLOAT").arg("f").arg("-5").query(&mut c).unwrap();
    assert_eq!(f, "5.6");
    let _: () = cmd("SET").arg("e").arg("5.0e3").query(&mut c).unwrap();
    let f: String = cmd("INCRBYFLOAT")
        .arg("e")
        .arg("2.0e2")
        .query(&mut c)
        .unwrap();
    assert_eq!(f, "5200");
    assert_eq!(
        err(cmd("INCRBYFLOAT").arg("s").arg("1").query(&mut c)),
        "ERR: value is not a valid float"
    );
    assert_eq!(
        err(cmd("INCRBYFLOAT").arg("f").arg("inf").query(&mut c)),
        "ERR: increment would produce NaN or Infinity"
    );
}

#[test]
fn ranges_append_and_size_limits() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let len: i64 = cmd("APPEND").arg("a").arg("Hello").query(&mut c).unwrap();
    assert_eq!(len, 5);
    let len: i64 = cmd("APPEND").arg("a").arg(" World").query(&mut c).unwrap();
    assert_eq!(len, 11);
    let s: String = cmd("GETRANGE")
        .arg("a")
        .arg(-5)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(s, "World");
    let len: i64 = cmd("SETRANGE")
        .arg("a")
        .arg(6)
        .arg("Redis")
        .query(&mut c)
        .unwrap();
    assert_eq!(len, 11);
    let s: String = cmd("GET").arg("a").query(&mut c).unwrap();
    assert_eq!(s, "Hello Redis");
    let len: i64 = cmd("SETRANGE")
        .arg("pad")
        .arg(3)
        .arg("x")
        .query(&mut c)
        .unwrap();
    assert_eq!(len, 4);
    let s: Vec<u8> = cmd("GET").arg("pad").query(&mut c).unwrap();
    assert_eq!(s, b"\0\0\0x");
    let len: i64 = cmd("STRLEN").arg("a").query(&mut c).unwrap();
    assert_eq!(len, 11);
    assert_eq!(
        err(cmd("SETRANGE")
            .arg("a")
            .arg(536_870_912)
            .arg("x")
            .query(&mut c)),
        "ERR: string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    assert_eq!(
        err(cmd("SETRANGE").arg("a").arg(-1).arg("x").query(&mut c)),
        "ERR: offset is out of range"
    );
    let len: i64 = cmd("SETRANGE")
        .arg("none")
        .arg(100)
        .arg("")
        .query(&mut c)
        .unwrap();
    assert_eq!(len, 0);
    let exists: i64 = cmd("EXISTS").arg("none").query(&mut c).unwrap();
    assert_eq!(exists, 0, "an empty SETRANGE creates nothing");
    // APPEND past the limit: lower the limit so the test does not need 512 MB.
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("proto-max-bulk-len")
        .arg("1mb")
        .query(&mut c)
        .unwrap();
    let chunk = vec![b'x'; 600 * 1024];
    let _: i64 = cmd("APPEND").arg("big").arg(&chunk).query(&mut c).unwrap();
    assert_eq!(
        err(cmd("APPEND").arg("big").arg(&chunk).query(&mut c)),
        "ERR: string exceeds maximum allowed size (proto-max-bulk-len)"
    );
}

#[test]
fn multi_key_commands_span_shards_atomically() {
    let server = Server::start(&["--shards", "4"]);
    let mut c = server.client();
    let keys: Vec<String> = (0..40).map(|i| format!("key:{i}")).collect();
    let mut mset = cmd("MSET");
    for k in &keys {
        mset.arg(k).arg(format!("v-{k}"));
    }
    let _: () = mset.query(&mut c).unwrap();
    let values: Vec<Option<String>> = cmd("MGET").arg(&keys).arg("nosuch").query(&mut c).unwrap();
    assert_eq!(values.len(), 41);
    for (k, v) in keys.iter().zip(&values) {
        assert_eq!(v.as_deref(), Some(format!("v-{k}").as_str()));
    }
    assert_eq!(values[40], None);
    let set: i64 = cmd("MSETNX")
        .arg("key:0")
        .arg("x")
        .arg("fresh")
        .arg("y")
        .query(&mut c)
        .unwrap();
    assert_eq!(set, 0);
    let fresh: i64 = cmd("EXISTS").arg("fresh").query(&mut c).unwrap();
    assert_eq!(fresh, 0, "MSETNX sets nothing when any key exists");
    let set: i64 = cmd("MSETNX")
        .arg("fresh")
        .arg("x")
        .arg("fresh2")
        .arg("y")
        .query(&mut c)
        .unwrap();
    assert_eq!(set, 1);
    let n: i64 = cmd("EXISTS").arg(&keys).arg("key:0").query(&mut c).unwrap();
    assert_eq!(n, 41, "EXISTS counts repeats");
    let n: i64 = cmd("DEL")
        .arg(&keys[..10])
        .arg("nosuch")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 10);
    let size: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, 32);
    assert_eq!(
        err(cmd("MSET").arg("a").arg("1").arg("b").query(&mut c)),
        "ERR: wrong number of arguments for 'mset' command"
    );
}

#[test]
fn getset_getdel_getex_setnx_psetex() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let old: Option<String> = cmd("GETSET").arg("g").arg("1").query(&mut c).unwrap();
    assert_eq!(old, None);
    let old: Option<String> = cmd("GETSET").arg("g").arg("2").query(&mut c).unwrap();
    assert_eq!(old.as_deref(), Some("1"));
    let v: Option<String> = cmd("GETEX")
        .arg("g")
        .arg("EX")
        .arg(50)
        .query(&mut c)
        .unwrap();
    assert_eq!(v.as_deref(), Some("2"));
    let ttl: i64 = cmd("TTL").arg("g").query(&mut c).unwrap();
    assert_eq!(ttl, 50);
    let _: Option<String> = cmd("GETEX").arg("g").arg("PERSIST").query(&mut c).unwrap();
    let ttl: i64 = cmd("TTL").arg("g").query(&mut c).unwrap();
    assert_eq!(ttl, -1);
    let v: Option<String> = cmd("GETDEL").arg("g").query(&mut c).unwrap();
    assert_eq!(v.as_deref(), Some("2"));
    let v: Option<String> = cmd("GET").arg("g").query(&mut c).unwrap();
    assert_eq!(v, None);
    let set: i64 = cmd("SETNX").arg("n").arg("a").query(&mut c).unwrap();
    assert_eq!(set, 1);
    let set: i64 = cmd("SETNX").arg("n").arg("b").query(&mut c).unwrap();
    assert_eq!(set, 0);
    let _: () = cmd("PSETEX")
        .arg("p")
        .arg(1500)
        .arg("v")
        .query(&mut c)
        .unwrap();
    let pttl: i64 = cmd("PTTL").arg("p").query(&mut c).unwrap();
    assert!(pttl > 1000 && pttl <= 1500);
    let _: () = cmd("SETEX")
        .arg("s")
        .arg(10)
        .arg("v")
        .query(&mut c)
        .unwrap();
    let ttl: i64 = cmd("TTL").arg("s").query(&mut c).unwrap();
    assert_eq!(ttl, 10);
}

#[test]
fn binary_safe_keys_and_values_in_resp3() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client_resp3();
    let key: Vec<u8> = vec![0xff, 0x00, b'\r', b'\n', 0xfe];
    let value: Vec<u8> = (0..=255u8).collect();
    let _: () = cmd("SET").arg(&key).arg(&value).query(&mut c).unwrap();
    let got: Vec<u8> = cmd("GET").arg(&key).query(&mut c).unwrap();
    assert_eq!(got, value);
    let keys: Vec<Vec<u8>> = cmd("KEYS").arg("*").query(&mut c).unwrap();
    assert_eq!(keys, vec![key.clone()]);
    let v: Value = cmd("GET").arg("missing").query(&mut c).unwrap();
    assert_eq!(v, Value::Nil);
}

#[test]
fn a_pipeline_of_a_thousand_commands_answers_in_order() {
    let server = Server::start(&["--shards", "4"]);
    let mut c = server.client();
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("SET").arg(format!("p{i}")).arg(i).ignore();
        pipe.cmd("INCR").arg(format!("p{i}"));
    }
    let replies: Vec<i64> = pipe.query(&mut c).unwrap();
    assert_eq!(replies, (1..=1000).collect::<Vec<i64>>());
    let size: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, 1000);
}
