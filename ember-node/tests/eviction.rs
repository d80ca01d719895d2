//! maxmemory and eviction through the real binary and a real client: noeviction refuses
//! writes with Redis's OOM error while reads and deletes go on; the LRU, LFU, TTL and
//! random policies keep memory under the limit and choose their victims as documented;
//! OBJECT IDLETIME and FREQ follow the policy; the settings are CONFIG GET/SET-able.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use common::{cmd, err, Server};

fn info_field(c: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let text: String = cmd("INFO").arg(section).query(c).expect("INFO");
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .trim()
        .parse()
        .expect("a number")
}

fn set(c: &mut redis::Connection, key: &str, value: &str) -> redis::RedisResult<redis::Value> {
    cmd("SET").arg(key).arg(value).query(c)
}

#[test]
fn noeviction_refuses_writes_with_the_oom_error_but_serves_reads_and_deletes() {
    let server = Server::start(&["--shards", "1", "--maxmemory", "1mb"]);
    let mut c = server.client();
    let value = "v".repeat(1000);
    let mut refused = None;
    for i in 0..5000 {
        if let Err(e) = set(&mut c, &format!("k{i}"), &value) {
            refused = Some((i, e));
            break;
        }
    }
    let (written, error) = refused.expect("writes stop before 5 MB");
    assert!(written > 100, "only {written} writes fitted in 1 MB");
    assert_eq!(error.code(), Some("OOM"));
    // Well under what is held now, so no small change in buffers lets a write through.
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("200kb")
        .query(&mut c)
        .expect("CONFIG SET maxmemory");
    assert_eq!(
        err(cmd("LPUSH").arg("list").arg("x").query(&mut c)),
        "OOM: command not allowed when used memory > 'maxmemory'."
    );
    let got: String = cmd("GET").arg("k0").query(&mut c).expect("reads go on");
    assert_eq!(got, value);
    let deleted: i64 = cmd("DEL")
        .arg("k0")
        .arg("k1")
        .query(&mut c)
        .expect("DEL is allowed");
    assert_eq!(deleted, 2);
    assert_eq!(info_field(&mut c, "stats", "evicted_keys"), 0);
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("0")
        .query(&mut c)
        .expect("CONFIG SET maxmemory");
    set(&mut c, "after", "x").expect("no limit, no refusal");
}

#[test]
fn allkeys_lru_stays_under_the_limit_and_keeps_recently_used_keys() {
    let server = Server::start(&[
        "--shards",
        "2",
        "--maxmemory",
        "2mb",
        "--maxmemory-policy",
        "allkeys-lru",
        "--maxmemory-samples",
        "10",
    ]);
    let mut c = server.client();
    let value = "v".repeat(500);
    // The LRU clock counts seconds, as Redis's does: old keys must be a second older.
    for i in 0..100 {
        set(&mut c, &format!("hot{i}"), &value).expect("fits");
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for i in 0..2000 {
        set(&mut c, &format!("old{i}"), &value).expect("allkeys-lru never refuses");
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut read = cmd("MGET");
    for h in 0..100 {
        read.arg(format!("hot{h}"));
    }
    let _: Vec<Option<String>> = read.query(&mut c).expect("MGET");
    // About 600 bytes a key: the hot and new keys fit in 2 MB, all of them with the old do
    // not, and evicting the old ones is enough.
    for i in 0..2000 {
        set(&mut c, &format!("new{i}"), &value).expect("allkeys-lru never refuses");
    }
    let dataset = info_field(&mut c, "memory", "used_memory_dataset");
    assert!(
        dataset <= 2 * 1024 * 1024 + 64 * 1024,
        "dataset {dataset} over the limit"
    );
    let evicted = info_field(&mut c, "stats", "evicted_keys");
    let keys: u64 = cmd("DBSIZE").query(&mut c).expect("DBSIZE");
    assert!(evicted > 500, "evicted {evicted}");
    assert_eq!(
        keys + evicted,
        4100,
        "every key is either present or evicted"
    );
    let count = |c: &mut redis::Connection, prefix: &str, n: usize| -> i64 {
        let mut exists = cmd("EXISTS");
        for i in 0..n {
            exists.arg(format!("{prefix}{i}"));
        }
        exists.query(c).expect("EXISTS")
    };
    // Approximately the least recently used went first: the old ones. (Sampling may
    // take a few others near the end, when few old keys are left; random eviction would
    // take about as many recent keys as old ones.)
    let recent = count(&mut c, "hot", 100) + count(&mut c, "new", 2000);
    let old = count(&mut c, "old", 2000);
    assert!(
        recent >= 2100 * 97 / 100,
        "only {recent} of 2100 recent keys survived"
    );
    assert!(old < 2000 - 500, "old keys went ({old} left)");
    // Every command may evict first, so count again at the end.
    let evicted = info_field(&mut c, "stats", "evicted_keys");
    let keys: u64 = cmd("DBSIZE").query(&mut c).expect("DBSIZE");
    assert_eq!(keys + evicted, 4100);
}

#[test]
fn volatile_ttl_evicts_the_soonest_expiring_and_never_keys_without_a_ttl() {
    let server = Server::start(&[
        "--shards",
        "1",
        "--maxmemory",
        "1mb",
        "--maxmemory-policy",
        "volatile-ttl",
    ]);
    let mut c = server.client();
    let value = "v".repeat(1000);
    for i in 0..300 {
        set(&mut c, &format!("keep{i}"), &value).expect("fits");
    }
    for i in 0..2000 {
        let result: redis::RedisResult<redis::Value> = cmd("SET")
            .arg(format!("ttl{i}"))
            .arg(&value)
            .arg("EX")
            .arg(10_000 + i)
            .query(&mut c);
        if result.is_err() {
            break;
        }
    }
    for i in 0..300 {
        let exists: i64 = cmd("EXISTS")
            .arg(format!("keep{i}"))
            .query(&mut c)
            .expect("EXISTS");
        assert_eq!(exists, 1, "keep{i} has no TTL and must not be evicted");
    }
    assert!(info_field(&mut c, "stats", "evicted_keys") > 0);
    // The survivors among TTL keys are the ones that expire last.
    let early: i64 = cmd("EXISTS").arg("ttl0").query(&mut c).expect("EXISTS");
    assert_eq!(early, 0, "the soonest-expiring key goes first");
    // With nothing volatile left to evict, writes are refused.
    let mut refused = false;
    for i in 0..3000 {
        if set(&mut c, &format!("more{i}"), &value).is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "volatile-ttl cannot evict keys without a TTL");
}

#[test]
fn object_idletime_and_freq_follow_the_policy_and_config_reports_it() {
    let server = Server::start(&["--shards", "1"]);
    let mut c = server.client();
    set(&mut c, "k", "v").expect("SET");
    let idle: i64 = cmd("OBJECT")
        .arg("IDLETIME")
        .arg("k")
        .query(&mut c)
        .expect("IDLETIME");
    assert!((0..=1).contains(&idle));
    let missing: Option<i64> = cmd("OBJECT")
        .arg("IDLETIME")
        .arg("nosuch")
        .query(&mut c)
        .expect("IDLETIME of a missing key");
    assert_eq!(missing, None);
    assert!(err(cmd("OBJECT").arg("FREQ").arg("k").query(&mut c))
        .starts_with("ERR: An LFU maxmemory policy is not selected"));
    let policy: Vec<String> = cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-policy")
        .query(&mut c)
        .expect("CONFIG GET");
    assert_eq!(policy, ["maxmemory-policy", "noeviction"]);
    assert_eq!(
        err(cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg("lru").query(&mut c)),
        "ERR: CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
    );
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lfu")
        .query(&mut c)
        .expect("CONFIG SET");
    set(&mut c, "f", "v").expect("SET");
    for _ in 0..200 {
        let _: String = cmd("GET").arg("f").query(&mut c).expect("GET");
    }
    let freq: i64 = cmd("OBJECT")
        .arg("FREQ")
        .arg("f")
        .query(&mut c)
        .expect("FREQ");
    assert!(freq > 5, "200 reads count ({freq})");
    assert!(err(cmd("OBJECT").arg("IDLETIME").arg("f").query(&mut c))
        .starts_with("ERR: An LFU maxmemory policy is selected"));
    let memory: String = cmd("INFO").arg("memory").query(&mut c).expect("INFO");
    assert!(memory.contains("maxmemory_policy:allkeys-lfu"), "{memory}");
    assert!(memory.contains("mem_allocator:mimalloc"), "{memory}");
}
