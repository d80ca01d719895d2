//! MIGRATE between two real servers through redis-rs: a key moves with its TTL, COPY keeps
//! it, KEYS moves several, a missing key answers NOKEY, a key the target already has is
//! refused without REPLACE and replaced with it, and an unreachable target is an IOERR.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use common::{cmd, err, Server};

fn migrate(
    from: &mut redis::Connection,
    to: &Server,
    key: &str,
    extra: &[&str],
) -> redis::RedisResult<redis::Value> {
    let mut command = cmd("MIGRATE");
    command
        .arg(to.addr.ip().to_string())
        .arg(to.addr.port())
        .arg(key)
        .arg(0)
        .arg(5000);
    for word in extra {
        command.arg(*word);
    }
    command.query(from)
}

#[test]
fn migrate_moves_keys_with_their_ttl_and_options() {
    let source = Server::start(&[]);
    let target = Server::start(&[]);
    let (mut s, mut t) = (source.client(), target.client());
    let _: () = cmd("SET")
        .arg("k")
        .arg("v")
        .arg("EX")
        .arg(1000)
        .query(&mut s)
        .expect("SET");
    let _: i64 = cmd("RPUSH")
        .arg("list")
        .arg("a")
        .arg("b")
        .query(&mut s)
        .expect("RPUSH");
    assert_eq!(
        migrate(&mut s, &target, "k", &[]).expect("MIGRATE"),
        redis::Value::Okay
    );
    let here: i64 = cmd("EXISTS").arg("k").query(&mut s).expect("EXISTS");
    assert_eq!(here, 0, "moved away");
    let value: String = cmd("GET").arg("k").query(&mut t).expect("GET");
    assert_eq!(value, "v");
    let ttl: i64 = cmd("TTL").arg("k").query(&mut t).expect("TTL");
    assert!((990..=1000).contains(&ttl), "{ttl}");

    assert_eq!(
        migrate(&mut s, &target, "list", &["COPY"]).expect("MIGRATE COPY"),
        redis::Value::Okay
    );
    let kept: i64 = cmd("LLEN").arg("list").query(&mut s).expect("LLEN");
    assert_eq!(kept, 2, "COPY keeps the source key");
    assert_eq!(
        err(migrate(&mut s, &target, "list", &[])),
        "ERR: Target instance replied with error: BUSYKEY Target key name already exists."
    );
    assert_eq!(
        migrate(&mut s, &target, "list", &["REPLACE"]).expect("MIGRATE REPLACE"),
        redis::Value::Okay
    );
    assert_eq!(
        migrate(&mut s, &target, "nosuch", &[]).expect("MIGRATE"),
        redis::Value::SimpleString("NOKEY".into())
    );

    for key in ["a", "b", "c"] {
        let _: () = cmd("SET").arg(key).arg(key).query(&mut s).expect("SET");
    }
    assert_eq!(
        migrate(&mut s, &target, "", &["KEYS", "a", "b", "c", "missing"]).expect("MIGRATE KEYS"),
        redis::Value::Okay
    );
    let left: i64 = cmd("EXISTS")
        .arg("a")
        .arg("b")
        .arg("c")
        .query(&mut s)
        .expect("EXISTS");
    assert_eq!(left, 0);
    let there: Vec<String> = cmd("MGET")
        .arg("a")
        .arg("b")
        .arg("c")
        .query(&mut t)
        .expect("MGET");
    assert_eq!(there, ["a", "b", "c"]);
    assert_eq!(
        err(migrate(&mut s, &target, "k", &["KEYS", "a"])),
        "ERR: When using MIGRATE KEYS option, the key argument must be set to the empty string"
    );
}

#[test]
fn an_unreachable_target_is_an_ioerr_and_the_key_stays() {
    let source = Server::start(&[]);
    let mut s = source.client();
    let _: () = cmd("SET").arg("k").arg("v").query(&mut s).expect("SET");
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let result: redis::RedisResult<redis::Value> = cmd("MIGRATE")
        .arg("127.0.0.1")
        .arg(port)
        .arg("k")
        .arg(0)
        .arg(1000)
        .query(&mut s);
    assert_eq!(
        err(result),
        "IOERR: error or timeout connecting to the client"
    );
    let still: String = cmd("GET").arg("k").query(&mut s).expect("GET");
    assert_eq!(still, "v");
}
