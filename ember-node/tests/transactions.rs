//! MULTI/EXEC/DISCARD/WATCH/UNWATCH against the real server, including atomicity across
//! shards under a concurrent reader.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{cmd, err, exchange, Server};
use redis::Value;

#[test]
fn queued_commands_run_in_order_at_exec() {
    let server = Server::start(&["--shards", "4"]);
    let mut c = server.client();
    let _: () = cmd("MULTI").query(&mut c).unwrap();
    let queued: String = cmd("SET").arg("a").arg(1).query(&mut c).unwrap();
    assert_eq!(queued, "QUEUED");
    let _: String = cmd("INCR").arg("a").query(&mut c).unwrap();
    let _: String = cmd("MSET")
        .arg("x")
        .arg(1)
        .arg("y")
        .arg(2)
        .arg("z")
        .arg(3)
        .query(&mut c)
        .unwrap();
    let _: String = cmd("SELECT").arg(1).query(&mut c).unwrap();
    let _: String = cmd("SET").arg("a").arg("in-db-1").query(&mut c).unwrap();
    let _: String = cmd("DBSIZE").query(&mut c).unwrap();
    let replies: Vec<Value> = cmd("EXEC").query(&mut c).unwrap();
    assert_eq!(
        replies,
        vec![
            Value::Okay,
            Value::Int(2),
            Value::Okay,
            Value::Okay,
            Value::Okay,
            Value::Int(1),
        ]
    );
    let v: String = cmd("GET").arg("a").query(&mut c).unwrap();
    assert_eq!(v, "in-db-1", "the queued SELECT stays in effect");
}

#[test]
fn queue_errors_abort_and_runtime_errors_do_not() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    // redis-rs turns an error inside EXEC's array into Err, so read the raw reply.
    let mut raw = server.raw();
    let request = b"*3\r\n$3\r\nSET\r\n$1\r\ns\r\n$4\r\ntext\r\n*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\ns\r\n*3\r\n$3\r\nSET\r\n$1\r\nt\r\n$1\r\n1\r\n*1\r\n$4\r\nEXEC\r\n";
    let expected = "+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n-ERR value is not an integer or out of range\r\n+OK\r\n";
    let reply = exchange(&mut raw, request, expected.len());
    assert_eq!(
        String::from_utf8_lossy(&reply),
        expected,
        "a runtime error does not stop the rest"
    );

    let _: () = cmd("MULTI").query(&mut c).unwrap();
    let _: String = cmd("SET").arg("u").arg(1).query(&mut c).unwrap();
    assert!(err(cmd("NOSUCHCOMMAND").query(&mut c)).starts_with("ERR: unknown command"));
    assert_eq!(
        err(cmd("GET").query(&mut c)),
        "ERR: wrong number of arguments for 'get' command"
    );
    assert_eq!(
        err(cmd("EXEC").query(&mut c)),
        "EXECABORT: Transaction discarded because of previous errors."
    );
    let exists: i64 = cmd("EXISTS").arg("u").query(&mut c).unwrap();
    assert_eq!(exists, 0, "nothing of an aborted transaction runs");
}

#[test]
fn multi_discard_and_their_errors() {
    let server = Server::start(&[]);
    let mut c = server.client();
    assert_eq!(err(cmd("EXEC").query(&mut c)), "ERR: EXEC without MULTI");
    assert_eq!(
        err(cmd("DISCARD").query(&mut c)),
        "ERR: DISCARD without MULTI"
    );
    let _: () = cmd("MULTI").query(&mut c).unwrap();
    assert_eq!(
        err(cmd("MULTI").query(&mut c)),
        "ERR: MULTI calls can not be nested"
    );
    assert_eq!(
        err(cmd("WATCH").arg("k").query(&mut c)),
        "ERR: WATCH inside MULTI is not allowed"
    );
    let _: String = cmd("SET").arg("k").arg(1).query(&mut c).unwrap();
    let _: () = cmd("DISCARD").query(&mut c).unwrap();
    let exists: i64 = cmd("EXISTS").arg("k").query(&mut c).unwrap();
    assert_eq!(exists, 0);
    // A nested MULTI and a refused WATCH do not poison the transaction.
    let _: () = cmd("MULTI").query(&mut c).unwrap();
    let _ = err(cmd("MULTI").query(&mut c));
    let _: String = cmd("SET").arg("k").arg(1).query(&mut c).unwrap();
    let replies: Vec<Value> = cmd("EXEC").query(&mut c).unwrap();
    assert_eq!(replies, vec![Value::Okay]);
}

#[test]
fn watch_aborts_when_a_key_changes_expires_or_is_flushed() {
    let server = Server::start(&["--shards", "3"]);
    let mut c = server.client();
    let mut other = server.client();
    let exec_after = |c: &mut redis::Connection, change: &mut dyn FnMut()| -> Value {
        let _: () = cmd("WATCH").arg("w").arg("w2").query(c).unwrap();
        change();
        let _: () = cmd("MULTI").query(c).unwrap();
        let _: String = cmd("SET").arg("result").arg(1).query(c).unwrap();
        cmd("EXEC").query(c).unwrap()
    };
    let _: () = cmd("SET").arg("w").arg(0).query(&mut c).unwrap();
    assert_eq!(
        exec_after(&mut c, &mut || {}),
        Value::Array(vec![Value::Okay]),
        "untouched: runs"
    );
    let aborted = exec_after(&mut c, &mut || {
        let _: () = cmd("SET").arg("w2").arg(1).query(&mut other).unwrap();
    });
    assert_eq!(aborted, Value::Nil, "changed by another client");
    let _: () = cmd("WATCH").arg("w").query(&mut c).unwrap();
    let _: () = cmd("INCR").arg("w").query(&mut c).unwrap();
    let _: () = cmd("MULTI").query(&mut c).unwrap();
    let _: String = cmd("PING").query(&mut c).unwrap();
    let aborted: Value = cmd("EXEC").query(&mut c).unwrap();
    assert_eq!(aborted, Value::Nil, "changed by the same client");
    let _: () = cmd("SET")
        .arg("w")
        .arg(1)
        .arg("PX")
        .arg(30)
        .query(&mut c)
        .unwrap();
    let aborted = exec_after(&mut c, &mut || {
        std::thread::sleep(std::time::Duration::from_millis(60))
    });
    assert_eq!(aborted, Value::Nil, "expired since WATCH");
    let _: () = cmd("SET").arg("w").arg(1).query(&mut c).unwrap();
    let aborted = exec_after(&mut c, &mut || {
        let _: () = cmd("FLUSHALL").query(&mut other).unwrap();
    });
    assert_eq!(aborted, Value::Nil, "flushed");
    let _: () = cmd("SET").arg("w").arg(1).query(&mut c).unwrap();
    let _: () = cmd("WATCH").arg("w").query(&mut c).unwrap();
    let _: () = cmd("UNWATCH").query(&mut c).unwrap();
    let _: () = cmd("SET").arg("w").arg(2).query(&mut other).unwrap();
    let _: () = cmd("MULTI").query(&mut c).unwrap();
    let _: String = cmd("PING").query(&mut c).unwrap();
    let ran: Value = cmd("EXEC").query(&mut c).unwrap();
    assert!(matches!(ran, Value::Array(_)), "UNWATCH forgets: {ran:?}");
    // A no-op WATCH on a missing key that stays missing does not abort.
    assert_eq!(
        exec_after(&mut c, &mut || {}),
        Value::Array(vec![Value::Okay])
    );
}

#[test]
fn exec_null_reply_shapes_in_resp2_and_resp3() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    let mut other = server.client();
    let reply = exchange(&mut raw, b"*2\r\n$5\r\nWATCH\r\n$1\r\nk\r\n", 5);
    assert_eq!(reply, b"+OK\r\n");
    let _: () = cmd("SET").arg("k").arg(1).query(&mut other).unwrap();
    let reply = exchange(&mut raw, b"*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nEXEC\r\n", 10);
    assert_eq!(reply, b"+OK\r\n*-1\r\n");
    let _ = exchange(&mut raw, b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", 1);
    let reply = exchange(&mut raw, b"*2\r\n$5\r\nWATCH\r\n$1\r\nk\r\n", 5);
    assert_eq!(reply, b"+OK\r\n");
    let _: () = cmd("SET").arg("k").arg(2).query(&mut other).unwrap();
    let reply = exchange(&mut raw, b"*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nEXEC\r\n", 8);
    assert_eq!(reply, b"+OK\r\n_\r\n");
}

#[test]
fn transactions_across_shards_are_never_seen_half_done() {
    let server = Server::start(&["--shards", "4"]);
    let mut c = server.client();
    // Keys on different shards (no hash tag).
    let keys = ["alpha", "bravo", "charlie", "delta"];
    let mut mset = cmd("MSET");
    for key in keys {
        mset.arg(key).arg(0);
    }
    let _: () = mset.query(&mut c).unwrap();
    let url = server.url();
    let writer = std::thread::spawn(move || {
        let mut w = redis::Client::open(url).unwrap().get_connection().unwrap();
        for _ in 0..300 {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for key in keys {
                pipe.cmd("INCR").arg(key).ignore();
            }
            let _: () = pipe.query(&mut w).unwrap();
        }
    });
    let mut reads = 0;
    while !writer.is_finished() || reads == 0 {
        let values: Vec<i64> = cmd("MGET").arg(&keys[..]).query(&mut c).unwrap();
        assert!(
            values.iter().all(|v| *v == values[0]),
            "saw a half-applied transaction: {values:?}"
        );
        reads += 1;
    }
    writer.join().unwrap();
    let values: Vec<i64> = cmd("MGET").arg(&keys[..]).query(&mut c).unwrap();
    assert_eq!(values, vec![300; 4]);
}
