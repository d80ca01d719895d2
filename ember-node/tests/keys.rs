//! The generic key family through redis-rs against the real server.

mod common;

use std::collections::BTreeSet;

use common::{cmd, err, Server};
use redis::Value;

#[test]
fn expire_family_with_conditions() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let _: () = cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let set: i64 = cmd("EXPIRE")
        .arg("k")
        .arg(100)
        .arg("XX")
        .query(&mut c)
        .unwrap();
    assert_eq!(set, 0, "XX needs an existing TTL");
    let set: i64 = cmd("EXPIRE")
        .arg("k")
        .arg(100)
        .arg("NX")
        .query(&mut c)
        .unwrap();
    assert_eq!(set, 1);
    let set: i64 = cmd("EXPIRE")
        .arg("k")
        .arg(50)
        .arg("GT")
        .query(&mut c)
        .unwrap();
    assert_eq!(set, 0);
    let set: i64 = cmd("EXPIRE")
        .arg("k")
        .arg(50)
        .arg("LT")
        .query(&mut c)
        .unwrap();
    assert_eq!(set, 1);
    let ttl: i64 = cmd("TTL").arg("k").query(&mut c).unwrap();
    assert_eq!(ttl, 50);
    let set: i64 = cmd("PEXPIRE")
        .arg("k")
        .arg(200_000)
        .arg("GT")
        .query(&mut c)
        .unwrap();
    assert_eq!(set, 1);
    let set: i64 = cmd("PEXPIREAT")
        .arg("k")
        .arg(4_000_000_000_000u64)
        .query(&mut c)
        .unwrap();
    assert_eq!(set, 1);
    let at: i64 = cmd("EXPIRETIME").arg("k").query(&mut c).unwrap();
    assert_eq!(at, 4_000_000_000);
    let removed: i64 = cmd("PERSIST").arg("k").query(&mut c).unwrap();
    assert_eq!(removed, 1);
    let removed: i64 = cmd("PERSIST").arg("k").query(&mut c).unwrap();
    assert_eq!(removed, 0);
    let ttl: i64 = cmd("TTL").arg("k").query(&mut c).unwrap();
    assert_eq!(ttl, -1);
    let ttl: i64 = cmd("PTTL").arg("missing").query(&mut c).unwrap();
    assert_eq!(ttl, -2);
    let set: i64 = cmd("EXPIRE").arg("missing").arg(10).query(&mut c).unwrap();
    assert_eq!(set, 0);
    assert_eq!(
        err(cmd("EXPIRE")
            .arg("k")
            .arg(10)
            .arg("NX")
            .arg("XX")
            .query(&mut c)),
        "ERR: NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        err(cmd("EXPIRE")
            .arg("k")
            .arg(10)
            .arg("GT")
            .arg("LT")
            .query(&mut c)),
        "ERR: GT and LT options at the same time are not compatible"
    );
    assert_eq!(
        err(cmd("EXPIRE").arg("k").arg(10).arg("YY").query(&mut c)),
        "ERR: Unsupported option YY"
    );
    assert_eq!(
        err(cmd("EXPIRE").arg("k").arg(i64::MAX).query(&mut c)),
        "ERR: invalid expire time in 'expire' command"
    );
    // A time in the past deletes the key.
    let set: i64 = cmd("EXPIREAT").arg("k").arg(1).query(&mut c).unwrap();
    assert_eq!(set, 1);
    let exists: i64 = cmd("EXISTS").arg("k").query(&mut c).unwrap();
    assert_eq!(exists, 0);
}

#[test]
fn keys_expire_without_being_touched() {
    let server = Server::start(&["--shards", "2", "--hz", "100"]);
    let mut c = server.client();
    for i in 0..200 {
        let _: () = cmd("SET")
            .arg(format!("t{i}"))
            .arg("v")
            .arg("PX")
            .arg(50)
            .query(&mut c)
            .unwrap();
    }
    let _: () = cmd("SET").arg("keep").arg("v").query(&mut c).unwrap();
    // Poll DBSIZE (which does not expire keys itself) until active expiry has collected them.
    let mut size = 0;
    for _ in 0..200 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        size = cmd("DBSIZE").query(&mut c).unwrap();
        if size == 1 {
            break;
        }
    }
    assert_eq!(size, 1, "active expiry removed every expired key");
    let info: String = cmd("INFO").arg("stats").query(&mut c).unwrap();
    assert!(info.contains("expired_keys:200"), "{info}");
}

#[test]
fn type_rename_and_renamenx_across_shards() {
    let server = Server::start(&["--shards", "4"]);
    let mut c = server.client();
    let kind: String = cmd("TYPE").arg("nothing").query(&mut c).unwrap();
    assert_eq!(kind, "none");
    let _: () = cmd("SET")
        .arg("src")
        .arg("v")
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    let kind: String = cmd("TYPE").arg("src").query(&mut c).unwrap();
    assert_eq!(kind, "string");
    for i in 0..20 {
        let target = format!("dst{i}");
        let _: () = cmd("RENAME")
            .arg(if i == 0 {
                "src".to_string()
            } else {
                format!("dst{}", i - 1)
            })
            .arg(&target)
            .query(&mut c)
            .unwrap();
    }
    let v: String = cmd("GET").arg("dst19").query(&mut c).unwrap();
    assert_eq!(v, "v");
    let ttl: i64 = cmd("TTL").arg("dst19").query(&mut c).unwrap();
    assert!(ttl > 90, "RENAME keeps the TTL");
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 1);
    assert_eq!(
        err(cmd("RENAME").arg("nope").arg("x").query(&mut c)),
        "ERR: no such key"
    );
    let _: () = cmd("SET").arg("other").arg("o").query(&mut c).unwrap();
    let moved: i64 = cmd("RENAMENX")
        .arg("dst19")
        .arg("other")
        .query(&mut c)
        .unwrap();
    assert_eq!(moved, 0);
    let moved: i64 = cmd("RENAMENX")
        .arg("dst19")
        .arg("fresh")
        .query(&mut c)
        .unwrap();
    assert_eq!(moved, 1);
    let same: String = cmd("RENAME")
        .arg("fresh")
        .arg("fresh")
        .query(&mut c)
        .unwrap();
    assert_eq!(same, "OK");
}

#[test]
fn scan_walks_every_shard_and_never_misses_stable_keys() {
    let server = Server::start(&["--shards", "3"]);
    let mut c = server.client();
    let mut expected = BTreeSet::new();
    for i in 0..1000 {
        let key = format!("user:{i}");
        let _: () = cmd("SET").arg(&key).arg(i).query(&mut c).unwrap();
        expected.insert(key);
    }
    let mut seen = BTreeSet::new();
    let mut cursor: u64 = 0;
    let mut writer = server.client();
    let mut round = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(50)
            .query(&mut c)
            .unwrap();
        seen.extend(keys);
        // Churn other keys between calls: tables grow and shrink, stable keys must still appear.
        for j in 0..30 {
            let _: () = cmd("SET")
                .arg(format!("churn:{round}:{j}"))
                .arg(1)
                .query(&mut writer)
                .unwrap();
        }
        round += 1;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let missing: Vec<_> = expected.difference(&seen).collect();
    assert!(missing.is_empty(), "SCAN missed {missing:?}");
    let (_, matched): (u64, Vec<String>) = cmd("SCAN")
        .arg(0)
        .arg("MATCH")
        .arg("nomatch*")
        .arg("COUNT")
        .arg(10_000)
        .query(&mut c)
        .unwrap();
    assert!(matched.is_empty());
    let (_, typed): (u64, Vec<String>) = cmd("SCAN")
        .arg(0)
        .arg("TYPE")
        .arg("list")
        .query(&mut c)
        .unwrap();
    assert!(typed.is_empty());
    assert_eq!(
        err(cmd("SCAN").arg("abc").query(&mut c)),
        "ERR: invalid cursor"
    );
    assert_eq!(
        err(cmd("SCAN").arg(0).arg("COUNT").arg(0).query(&mut c)),
        "ERR: syntax error"
    );
    let keys: Vec<String> = cmd("KEYS").arg("user:99*").query(&mut c).unwrap();
    let keys: BTreeSet<String> = keys.into_iter().collect();
    let want: BTreeSet<String> = ["user:99".to_string()]
        .into_iter()
        .chain((990..1000).map(|i| format!("user:{i}")))
        .collect();
    assert_eq!(keys, want);
}

#[test]
fn del_unlink_touch_exists_randomkey_and_databases() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let none: Value = cmd("RANDOMKEY").query(&mut c).unwrap();
    assert_eq!(none, Value::Nil);
    let _: () = cmd("MSET")
        .arg("a")
        .arg(1)
        .arg("b")
        .arg(2)
        .arg("c")
        .arg(3)
        .query(&mut c)
        .unwrap();
    let key: String = cmd("RANDOMKEY").query(&mut c).unwrap();
    assert!(["a", "b", "c"].contains(&key.as_str()));
    let touched: i64 = cmd("TOUCH")
        .arg("a")
        .arg("b")
        .arg("zz")
        .query(&mut c)
        .unwrap();
    assert_eq!(touched, 2);
    let removed: i64 = cmd("UNLINK").arg("a").arg("zz").query(&mut c).unwrap();
    assert_eq!(removed, 1);
    let _: () = cmd("SELECT").arg(5).query(&mut c).unwrap();
    let size: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, 0, "databases are separate");
    let _: () = cmd("SET").arg("b").arg("in-5").query(&mut c).unwrap();
    let _: () = cmd("FLUSHDB").query(&mut c).unwrap();
    let _: () = cmd("SELECT").arg(0).query(&mut c).unwrap();
    let size: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, 2, "FLUSHDB only empties the selected database");
    let _: () = cmd("FLUSHALL").arg("SYNC").query(&mut c).unwrap();
    let size: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, 0);
    assert_eq!(
        err(cmd("SELECT").arg(16).query(&mut c)),
        "ERR: DB index is out of range"
    );
    assert_eq!(
        err(cmd("FLUSHALL").arg("LATER").query(&mut c)),
        "ERR: syntax error"
    );
}

#[test]
fn object_encoding_refcount_and_freq() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let _: () = cmd("MSET")
        .arg("i")
        .arg("12345")
        .arg("e")
        .arg("short")
        .arg("r")
        .arg("x".repeat(45))
        .query(&mut c)
        .unwrap();
    for (key, want) in [("i", "int"), ("e", "embstr"), ("r", "raw")] {
        let encoding: String = cmd("OBJECT")
            .arg("ENCODING")
            .arg(key)
            .query(&mut c)
            .unwrap();
        assert_eq!(encoding, want, "{key}");
    }
    let missing: Value = cmd("OBJECT")
        .arg("ENCODING")
        .arg("nope")
        .query(&mut c)
        .unwrap();
    assert_eq!(missing, Value::Nil);
    let refs: i64 = cmd("OBJECT")
        .arg("REFCOUNT")
        .arg("i")
        .query(&mut c)
        .unwrap();
    assert_eq!(refs, 1);
    assert!(err(cmd("OBJECT").arg("FREQ").arg("i").query(&mut c))
        .starts_with("ERR: An LFU maxmemory policy is not selected"));
    assert_eq!(
        err(cmd("OBJECT").arg("IDLE").arg("i").query(&mut c)),
        "ERR: unknown subcommand 'IDLE'. Try OBJECT HELP."
    );
}

#[test]
fn copy_move_and_swapdb() {
    let server = Server::start(&["--shards", "3"]);
    let mut c = server.client();
    let _: () = cmd("SET")
        .arg("s")
        .arg("v")
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    let _: () = cmd("RPUSH")
        .arg("l")
        .arg("a")
        .arg("b")
        .query(&mut c)
        .unwrap();
    let copied: i64 = cmd("COPY").arg("s").arg("s2").query(&mut c).unwrap();
    assert_eq!(copied, 1);
    let ttl: i64 = cmd("TTL").arg("s2").query(&mut c).unwrap();
    assert!(ttl > 90, "COPY keeps the TTL");
    let copied: i64 = cmd("COPY").arg("l").arg("s2").query(&mut c).unwrap();
    assert_eq!(copied, 0, "destination exists");
    let copied: i64 = cmd("COPY")
        .arg("l")
        .arg("s2")
        .arg("REPLACE")
        .query(&mut c)
        .unwrap();
    assert_eq!(copied, 1);
    let _: () = cmd("RPUSH").arg("s2").arg("c").query(&mut c).unwrap();
    let original: Vec<String> = cmd("LRANGE").arg("l").arg(0).arg(-1).query(&mut c).unwrap();
    assert_eq!(original, vec!["a", "b"], "the copy is independent");
    let copied: i64 = cmd("COPY")
        .arg("l")
        .arg("l")
        .arg("DB")
        .arg(2)
        .query(&mut c)
        .unwrap();
    assert_eq!(copied, 1);
    assert_eq!(
        err(cmd("COPY").arg("l").arg("l").query(&mut c)),
        "ERR: source and destination objects are the same"
    );
    assert_eq!(
        err(cmd("COPY")
            .arg("l")
            .arg("x")
            .arg("DB")
            .arg(99)
            .query(&mut c)),
        "ERR: DB index is out of range"
    );
    let moved: i64 = cmd("MOVE").arg("s").arg(1).query(&mut c).unwrap();
    assert_eq!(moved, 1);
    let exists: i64 = cmd("EXISTS").arg("s").query(&mut c).unwrap();
    assert_eq!(exists, 0);
    let moved: i64 = cmd("MOVE").arg("l").arg(2).query(&mut c).unwrap();
    assert_eq!(moved, 0, "already in the target database");
    assert_eq!(
        err(cmd("MOVE").arg("l").arg(0).query(&mut c)),
        "ERR: source and destination objects are the same"
    );
    let _: () = cmd("SWAPDB").arg(0).arg(1).query(&mut c).unwrap();
    let v: String = cmd("GET").arg("s").query(&mut c).unwrap();
    assert_eq!(v, "v", "db 1's key is now in db 0");
    let ttl: i64 = cmd("TTL").arg("s").query(&mut c).unwrap();
    assert!(ttl > 90, "with its TTL");
    let size: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, 1);
    assert_eq!(
        err(cmd("SWAPDB").arg("x").arg(1).query(&mut c)),
        "ERR: invalid first DB index"
    );
    assert_eq!(
        err(cmd("SWAPDB").arg(0).arg(16).query(&mut c)),
        "ERR: DB index is out of range"
    );
}
