//! Encryption at rest through the real binary: with `--encryption-key-file`, acknowledged
//! writes survive `kill -9` (across BGSAVE and BGREWRITEAOF too) and no written value is
//! on disk in plain; a wrong key, no key, or a plain data directory under a key stop
//! start-up naming the file; a torn sealed tail is cut; a sealed record changed under a
//! valid CRC stops start-up as corruption; a bad key file is refused.
#![cfg(feature = "encryption")]
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{cmd, start_in, start_refused, TempDir};

const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// A directory holding key files, apart from the data directory.
struct Keys(TempDir);

impl Keys {
    fn new() -> Keys {
        let keys = Keys(TempDir::new());
        keys.write("good", format!("{KEY_HEX}\n").as_bytes());
        keys.write("raw", &[7; 32]);
        keys.write("short", &[7; 31]);
        keys
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.path(name), bytes).unwrap();
    }

    fn path(&self, name: &str) -> String {
        self.0 .0.join(name).to_str().unwrap().to_string()
    }
}

fn files(dir: &TempDir) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_str().unwrap();
            name.starts_with("shard-")
        })
        .collect();
    files.sort();
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Writes keys with a recognisable value, and returns the value.
fn fill(c: &mut redis::Connection, keys: usize, round: &str) -> String {
    let value = format!("plain-secret-{round}-0123456789");
    let mut pipe = redis::pipe();
    for i in 0..keys {
        pipe.cmd("SET")
            .arg(format!("{round}:{i}"))
            .arg(&value)
            .ignore();
    }
    pipe.cmd("RPUSH")
        .arg(format!("{round}:list"))
        .arg(&value)
        .ignore();
    pipe.cmd("HSET")
        .arg(format!("{round}:hash"))
        .arg("field")
        .arg(&value)
        .ignore();
    // A cross-shard command, logged as EMBER.PUT records of whole entries.
    pipe.cmd("MSET")
        .arg(format!("{round}:m1"))
        .arg(&value)
        .arg(format!("{round}:m2"))
        .arg(&value)
        .ignore();
    pipe.query::<()>(c).unwrap();
    value
}

fn assert_round(c: &mut redis::Connection, keys: usize, round: &str, value: &str) {
    for i in [0, keys / 2, keys - 1] {
        let got: Option<String> = cmd("GET").arg(format!("{round}:{i}")).query(c).unwrap();
        assert_eq!(got.as_deref(), Some(value), "{round}:{i}");
    }
    let list: Vec<String> = cmd("LRANGE")
        .arg(format!("{round}:list"))
        .arg(0)
        .arg(-1)
        .query(c)
        .unwrap();
    assert_eq!(list, [value]);
    let field: String = cmd("HGET")
        .arg(format!("{round}:hash"))
        .arg("field")
        .query(c)
        .unwrap();
    assert_eq!(field, value);
    let m2: String = cmd("GET").arg(format!("{round}:m2")).query(c).unwrap();
    assert_eq!(m2, value);
}

fn flags<'a>(key_file: &'a str, shards: &'a str) -> Vec<&'a str> {
    vec![
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--shards",
        shards,
        "--encryption-key-file",
        key_file,
    ]
}

#[test]
fn sealed_files_survive_kill_9_and_hide_every_value() {
    let (dir, keys) = (TempDir::new(), Keys::new());
    let good = keys.path("good");
    let mut server = start_in(&dir, &flags(&good, "2"));
    let mut c = server.client();
    let first = fill(&mut c, 50, "before");
    let _: String = cmd("BGREWRITEAOF").query(&mut c).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let second = fill(&mut c, 50, "after");
    server.kill();
    let on_disk = files(&dir);
    assert!(on_disk
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "snap")));
    assert!(on_disk
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "aof")));
    for path in &on_disk {
        let bytes = std::fs::read(path).unwrap();
        for value in [&first, &second] {
            assert!(!contains(&bytes, value.as_bytes()), "{}", path.display());
        }
        assert!(!contains(&bytes, b"before:list"), "{}", path.display());
    }
    // Restarted twice: the second start appends to a file it reopened under a new salt.
    for life in 0..2 {
        let mut server = start_in(&dir, &flags(&good, "2"));
        let mut c = server.client();
        assert_round(&mut c, 50, "before", &first);
        assert_round(&mut c, 50, "after", &second);
        let _: () = cmd("INCR").arg("lives").query(&mut c).unwrap();
        let lives: i64 = cmd("GET").arg("lives").query(&mut c).unwrap();
        assert_eq!(lives, life + 1);
        server.kill();
    }
    // A raw key file holding another key is refused for the first file it meets.
    let (code, stderr) = start_refused(&dir, &flags(&keys.path("raw"), "2"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("wrong encryption key for "), "{stderr}");
    let named = on_disk
        .iter()
        .any(|path| stderr.contains(&path.display().to_string()));
    assert!(named, "the file is named: {stderr}");
    let plain_flags = ["--appendonly", "yes", "--shards", "2"];
    let (code, stderr) = start_refused(&dir, &plain_flags);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("is encrypted"), "{stderr}");
    assert!(stderr.contains("--encryption-key-file"), "{stderr}");
}

#[test]
fn a_sealed_snapshot_alone_restores_and_refuses_another_key() {
    let (dir, keys) = (TempDir::new(), Keys::new());
    let good = ["--shards", "1", "--encryption-key-file", &keys.path("good")];
    let mut server = start_in(&dir, &good);
    let mut c = server.client();
    let value = fill(&mut c, 20, "snap");
    let _: String = cmd("SAVE").query(&mut c).unwrap();
    server.kill();
    let snapshot = dir.0.join("shard-0.snap");
    let bytes = std::fs::read(&snapshot).unwrap();
    assert!(!contains(&bytes, value.as_bytes()));
    let server = start_in(&dir, &good);
    assert_round(&mut server.client(), 20, "snap", &value);
    drop(server);
    let other = ["--shards", "1", "--encryption-key-file", &keys.path("raw")];
    let (code, stderr) = start_refused(&dir, &other);
    assert_eq!(code, Some(1), "{stderr}");
    let expected = format!("wrong encryption key for {}", snapshot.display());
    assert!(stderr.contains(&expected), "{stderr}");
    let (code, stderr) = start_refused(&dir, &["--shards", "1"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&snapshot.display().to_string()), "{stderr}");
    assert!(stderr.contains("is encrypted"), "{stderr}");
}

#[test]
fn a_plain_data_directory_under_a_key_is_refused() {
    let (dir, keys) = (TempDir::new(), Keys::new());
    let plain = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--shards",
        "1",
    ];
    let mut server = start_in(&dir, &plain);
    fill(&mut server.client(), 5, "plain");
    server.kill();
    let (code, stderr) = start_refused(&dir, &flags(&keys.path("good"), "1"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("shard-0.aof is not encrypted"), "{stderr}");
}

#[test]
fn bad_key_files_are_refused_at_start_up() {
    let (dir, keys) = (TempDir::new(), Keys::new());
    keys.write("hex-typo", format!("{}x\n", &KEY_HEX[1..]).as_bytes());
    for name in ["short", "hex-typo", "missing"] {
        let path = keys.path(name);
        let (code, stderr) = start_refused(&dir, &["--encryption-key-file", &path]);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        let expected = format!("--encryption-key-file {path}");
        assert!(stderr.contains(&expected), "{name}: {stderr}");
    }
}

/// The offset just after the record at `start` in an AOF.
fn record_end(bytes: &[u8], start: usize) -> usize {
    let length = u32::from_le_bytes(bytes[start..start + 4].try_into().unwrap()) as usize;
    start + 8 + length
}

#[test]
fn a_torn_sealed_tail_is_cut_and_a_changed_record_is_corruption() {
    let (dir, keys) = (TempDir::new(), Keys::new());
    let good = keys.path("good");
    let flags = flags(&good, "1");
    let mut server = start_in(&dir, &flags);
    let value = fill(&mut server.client(), 10, "torn");
    server.kill();
    let aof = dir.0.join("shard-0.aof");
    let whole = std::fs::read(&aof).unwrap();
    // Half a record, as a crash mid-write leaves.
    let torn_tail: Vec<u8> = [&whole[..], &[60, 0, 0, 0, 1, 2, 3, 4, 5, 6][..]].concat();
    std::fs::write(&aof, &torn_tail).unwrap();
    let server = start_in(&dir, &flags);
    assert_round(&mut server.client(), 10, "torn", &value);
    drop(server);
    let cut = std::fs::read(&aof).unwrap();
    assert!(cut.len() >= whole.len() && cut.len() < torn_tail.len());
    // The second record (after the header) changed, its CRC made to match again.
    let start = record_end(&cut, 0);
    let end = record_end(&cut, start);
    let mut changed = cut.clone();
    changed[start + 8 + 20] ^= 0x01;
    let crc = crc32c::crc32c(&changed[start + 8..end]);
    changed[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&aof, &changed).unwrap();
    let (code, stderr) = start_refused(&dir, &flags);
    assert_eq!(code, Some(1), "{stderr}");
    let expected = format!("{}: corrupt record at byte {start}", aof.display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("does not open"), "{stderr}");
    assert_eq!(std::fs::read(&aof).unwrap(), changed, "nothing was cut");
}

#[test]
fn a_restart_with_another_shard_count_keeps_keys_sealed() {
    let (dir, keys) = (TempDir::new(), Keys::new());
    let good = keys.path("good");
    let mut server = start_in(&dir, &flags(&good, "3"));
    let value = fill(&mut server.client(), 30, "reshard");
    server.kill();
    for shards in ["2", "1"] {
        let mut server = start_in(&dir, &flags(&good, shards));
        assert_round(&mut server.client(), 30, "reshard", &value);
        server.kill();
        for path in files(&dir) {
            let bytes = std::fs::read(&path).unwrap();
            assert!(!contains(&bytes, value.as_bytes()), "{}", path.display());
        }
    }
    let (code, stderr) = start_refused(&dir, &flags(&keys.path("raw"), "1"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("wrong encryption key for "), "{stderr}");
}
