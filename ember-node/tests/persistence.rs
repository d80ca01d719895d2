//! Persistence through the real binary: acknowledged writes survive `kill -9` under
//! `appendfsync always` (also across BGREWRITEAOF and BGSAVE), torn tails are cut,
//! corruption stops start-up with the file and offset, snapshots alone restore, keys that
//! expired while down stay gone, and a restart with another shard count keeps every key.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{cmd, start_in, Server, TempDir};

/// Appends 1, 2, 3 ... to a list (and SETs a key per number) until told to stop, and
/// returns the last number whose reply arrived.
fn writer(
    server: &Server,
    stop: Arc<AtomicBool>,
    acked: Arc<AtomicI64>,
) -> std::thread::JoinHandle<()> {
    let mut c = server.client();
    std::thread::spawn(move || {
        let mut n = 0i64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let pushed: redis::RedisResult<i64> = cmd("RPUSH").arg("log").arg(n).query(&mut c);
            let set: redis::RedisResult<()> = cmd("SET").arg(format!("k:{n}")).arg(n).query(&mut c);
            if pushed.is_err() || set.is_err() {
                return;
            }
            acked.store(n, Ordering::Relaxed);
        }
    })
}

/// Kills the server mid-stream (optionally after `during` runs), restarts it on the same
/// directory, and checks every acknowledged write and nothing else.
fn acknowledged_writes_survive_kill(during: Option<&str>) {
    let dir = TempDir::new();
    let flags = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--shards",
        "3",
    ];
    let mut server = start_in(&dir, &flags);
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicI64::new(0));
    let thread = writer(&server, stop.clone(), acked.clone());
    // Until the writer is well going: every write waits for an fsync, slow on a busy disk.
    let wait_for_writes = |at_least: i64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while acked.load(Ordering::Relaxed) < at_least && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for_writes(60);
    if let Some(command) = during {
        let mut c = server.client();
        let _: String = cmd(command).query(&mut c).unwrap();
        let before = acked.load(Ordering::Relaxed);
        wait_for_writes(before + 60);
    }
    server.kill();
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap();
    let acked = acked.load(Ordering::Relaxed);
    assert!(acked > 50, "the writer got going ({acked} writes)");
    let server = start_in(&dir, &flags);
    let mut c = server.client();
    let log: Vec<i64> = cmd("LRANGE")
        .arg("log")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert!(
        log.len() as i64 >= acked,
        "{} entries, {acked} acknowledged",
        log.len()
    );
    // The log is exactly 1..=n: nothing lost in the middle, nothing never written.
    let expected: Vec<i64> = (1..=log.len() as i64).collect();
    assert_eq!(log, expected);
    for n in [1, acked / 2, acked] {
        let value: Option<i64> = cmd("GET").arg(format!("k:{n}")).query(&mut c).unwrap();
        assert_eq!(value, Some(n), "k:{n}");
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    acknowledged_writes_survive_kill(None);
}

#[test]
fn acknowledged_writes_survive_kill_9_after_bgrewriteaof() {
    acknowledged_writes_survive_kill(Some("BGREWRITEAOF"));
}

#[test]
fn acknowledged_writes_survive_kill_9_after_bgsave() {
    acknowledged_writes_survive_kill(Some("BGSAVE"));
}

fn fill(c: &mut redis::Connection, keys: usize) {
    let mut pipe = redis::pipe();
    for i in 0..keys {
        pipe.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
    }
    pipe.cmd("RPUSH").arg("list").arg(&["a", "b", "c"]).ignore();
    pipe.cmd("HSET").arg("hash").arg("f").arg("v").ignore();
    pipe.cmd("SADD").arg("set").arg(&[1, 2, 3]).ignore();
    pipe.cmd("ZADD").arg("zset").arg(1.5).arg("m").ignore();
    pipe.query::<()>(c).unwrap();
}

fn shutdown(server: &mut Server, how: &str) {
    let mut c = server.client();
    let _: redis::RedisResult<()> = cmd("SHUTDOWN").arg(how).query(&mut c);
    assert_eq!(
        server.wait_exit(Duration::from_secs(10)),
        Some(0),
        "SHUTDOWN exits 0"
    );
}

fn aof_files(dir: &TempDir) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "aof"))
        .collect();
    files.sort();
    files
}

#[test]
fn a_torn_tail_is_cut_and_the_rest_loads() {
    let dir = TempDir::new();
    let flags = ["--appendonly", "yes", "--shards", "1"];
    let mut server = start_in(&dir, &flags);
    fill(&mut server.client(), 100);
    shutdown(&mut server, "NOSAVE");
    let aof = &aof_files(&dir)[0];
    let whole = std::fs::metadata(aof).unwrap().len();
    // Half a record: a length and part of a payload, as a crash mid-write leaves.
    let mut file = std::fs::OpenOptions::new().append(true).open(aof).unwrap();
    std::io::Write::write_all(&mut file, &[40, 0, 0, 0, 1, 2, 3, 4, 0, 1]).unwrap();
    drop(file);
    let server = start_in(&dir, &flags);
    let mut c = server.client();
    let size: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, 104);
    assert_eq!(
        std::fs::metadata(aof).unwrap().len(),
        whole,
        "cut back to the last whole record"
    );
}

#[test]
fn corruption_in_the_middle_stops_start_up_naming_file_and_offset() {
    let dir = TempDir::new();
    let flags = ["--appendonly", "yes", "--shards", "1"];
    let mut server = start_in(&dir, &flags);
    fill(&mut server.client(), 100);
    shutdown(&mut server, "NOSAVE");
    let aof = aof_files(&dir)[0].clone();
    let mut bytes = std::fs::read(&aof).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&aof, &bytes).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ember-server"))
        .args(["--port", "0", "--data-dir", dir.path()])
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&aof.display().to_string()), "{stderr}");
    assert!(stderr.contains("corrupt record at byte"), "{stderr}");
    assert_eq!(std::fs::read(&aof).unwrap(), bytes, "nothing was cut");
    // The operator may load the records before the damage on purpose.
    let server = start_in(&dir, &[&flags[..], &["--aof-load-corrupt", "yes"]].concat());
    let mut c = server.client();
    let size: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert!(size > 0 && size < 104, "a prefix loaded: {size} keys");
}

#[test]
fn snapshots_alone_restore_every_type_and_ttl() {
    let dir = TempDir::new();
    let mut server = start_in(&dir, &["--shards", "2"]);
    let mut c = server.client();
    fill(&mut c, 50);
    let _: () = cmd("SET")
        .arg("ttl")
        .arg("v")
        .arg("EX")
        .arg(1000)
        .query(&mut c)
        .unwrap();
    let _: () = cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg(300)
        .query(&mut c)
        .unwrap();
    let _: () = cmd("SELECT").arg(3).query(&mut c).unwrap();
    let _: () = cmd("SET").arg("in-db-3").arg("x").query(&mut c).unwrap();
    let before: i64 = cmd("LASTSAVE").query(&mut c).unwrap();
    let _: String = cmd("SAVE").query(&mut c).unwrap();
    let after: i64 = cmd("LASTSAVE").query(&mut c).unwrap();
    assert!(after >= before);
    let info: String = cmd("INFO").arg("persistence").query(&mut c).unwrap();
    assert!(info.contains("rdb_changes_since_last_save:0"), "{info}");
    assert!(info.contains("rdb_saves:1"), "{info}");
    shutdown(&mut server, "NOSAVE");
    std::thread::sleep(Duration::from_millis(400));
    let server = start_in(&dir, &["--shards", "2"]);
    let mut c = server.client();
    let size: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, 55, "the key that expired while down is gone");
    let list: Vec<String> = cmd("LRANGE")
        .arg("list")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(list, ["a", "b", "c"]);
    let score: f64 = cmd("ZSCORE").arg("zset").arg("m").query(&mut c).unwrap();
    assert_eq!(score, 1.5);
    let ttl: i64 = cmd("TTL").arg("ttl").query(&mut c).unwrap();
    assert!((990..=1000).contains(&ttl), "{ttl}");
    let _: () = cmd("SELECT").arg(3).query(&mut c).unwrap();
    let value: String = cmd("GET").arg("in-db-3").query(&mut c).unwrap();
    assert_eq!(value, "x");
}

#[test]
fn a_restart_with_another_shard_count_keeps_every_key() {
    let dir = TempDir::new();
    let mut server = start_in(&dir, &["--appendonly", "yes", "--shards", "3"]);
    let mut c = server.client();
    fill(&mut c, 500);
    let _: String = cmd("BGREWRITEAOF").query(&mut c).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let _: () = cmd("SET")
        .arg("after-rewrite")
        .arg(1)
        .query(&mut c)
        .unwrap();
    shutdown(&mut server, "NOSAVE");
    for shards in ["2", "4", "1"] {
        let mut server = start_in(&dir, &["--appendonly", "yes", "--shards", shards]);
        let mut c = server.client();
        let size: i64 = cmd("DBSIZE").query(&mut c).unwrap();
        assert_eq!(size, 505, "with {shards} shards");
        let value: i64 = cmd("GET").arg("key:499").query(&mut c).unwrap();
        assert_eq!(value, 499);
        let _: () = cmd("INCR").arg("after-rewrite").query(&mut c).unwrap();
        shutdown(&mut server, "NOSAVE");
    }
    let server = start_in(&dir, &["--appendonly", "yes", "--shards", "1"]);
    let mut c = server.client();
    let value: i64 = cmd("GET").arg("after-rewrite").query(&mut c).unwrap();
    assert_eq!(
        value, 4,
        "one increment per life, none lost or applied twice"
    );
    let manifest = std::fs::read_to_string(dir.0.join("ember.manifest")).unwrap();
    assert!(manifest.contains("shards 1"), "{manifest}");
}

#[test]
fn sigterm_saves_on_a_schedule_and_exits_zero() {
    let dir = TempDir::new();
    let mut server = start_in(&dir, &["--save", "3600 1"]);
    let mut c = server.client();
    fill(&mut c, 10);
    let pid = server.pid();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(dir.0.join("shard-0.snap").exists() || dir.0.join("shard-1.snap").exists());
    let server = start_in(&dir, &[]);
    let mut c = server.client();
    let size: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, 14);
}

#[test]
fn persistence_commands_answer_like_redis() {
    let dir = TempDir::new();
    let server = start_in(&dir, &["--appendonly", "yes"]);
    let mut c = server.client();
    let started: String = cmd("BGSAVE").query(&mut c).unwrap();
    assert_eq!(started, "Background saving started");
    let error = cmd("BGSAVE")
        .arg("NOW")
        .query::<String>(&mut c)
        .unwrap_err();
    assert!(error.to_string().contains("syntax error"), "{error}");
    let error = cmd("SHUTDOWN")
        .arg("ABORT")
        .query::<String>(&mut c)
        .unwrap_err();
    assert!(
        error.to_string().contains("No shutdown in progress."),
        "{error}"
    );
    let appendonly: Vec<String> = cmd("CONFIG")
        .arg("GET")
        .arg("appendonly")
        .query(&mut c)
        .unwrap();
    assert_eq!(appendonly, ["appendonly", "yes"]);
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("save")
        .arg("900 1 300 10")
        .query(&mut c)
        .unwrap();
    let save: Vec<String> = cmd("CONFIG").arg("GET").arg("save").query(&mut c).unwrap();
    assert_eq!(save, ["save", "900 1 300 10"]);
    std::thread::sleep(Duration::from_millis(300));
    let info: String = cmd("INFO").arg("persistence").query(&mut c).unwrap();
    for field in [
        "loading:0",
        "aof_enabled:1",
        "rdb_bgsave_in_progress:0",
        "rdb_last_bgsave_status:ok",
        "aof_last_write_status:ok",
    ] {
        assert!(info.contains(field), "{field} in {info}");
    }
}
