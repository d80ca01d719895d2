//! Blocking pops against the real server: woken by pushes from other clients, served FIFO,
//! timing out with Redis's nil shapes, moving between lists, non-blocking inside MULTI, and
//! forgetting clients that disconnect while blocked.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{cmd, exchange, read_until, resp, Server};
use redis::Value;

/// Sends a command that is expected to block, on its own connection.
fn send_blocking(server: &Server, words: &[&str]) -> TcpStream {
    let mut stream = server.raw();
    stream.write_all(&resp(words)).unwrap();
    stream
}

fn blocked_clients(c: &mut redis::Connection) -> i64 {
    let info: String = cmd("INFO").arg("clients").query(c).unwrap();
    let line = info
        .lines()
        .find(|l| l.starts_with("blocked_clients:"))
        .expect("INFO clients has blocked_clients");
    line["blocked_clients:".len()..].trim().parse().unwrap()
}

fn wait_blocked(c: &mut redis::Connection, count: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while blocked_clients(c) != count {
        assert!(
            Instant::now() < deadline,
            "never reached {count} blocked clients"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn blpop_is_woken_by_a_push_from_another_client() {
    let server = Server::start(&["--shards", "3"]);
    let mut c = server.client();
    let mut blocked = send_blocking(&server, &["BLPOP", "empty-a", "jobs", "0"]);
    wait_blocked(&mut c, 1);
    let pushed: i64 = cmd("RPUSH").arg("jobs").arg("job-1").query(&mut c).unwrap();
    assert_eq!(pushed, 1);
    let expected = "*2\r\n$4\r\njobs\r\n$5\r\njob-1\r\n";
    assert_eq!(
        String::from_utf8_lossy(&exchange(&mut blocked, b"", expected.len())),
        expected
    );
    let len: i64 = cmd("LLEN").arg("jobs").query(&mut c).unwrap();
    assert_eq!(
        len, 0,
        "the popped element is gone and the empty list deleted"
    );
    wait_blocked(&mut c, 0);
}

#[test]
fn blocked_clients_are_served_in_the_order_they_blocked() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let mut clients = Vec::new();
    for n in 1..=3 {
        clients.push(send_blocking(&server, &["BLPOP", "queue", "0"]));
        wait_blocked(&mut c, n);
    }
    let _: i64 = cmd("LPUSH")
        .arg("queue")
        .arg("a")
        .arg("b")
        .arg("c")
        .query(&mut c)
        .unwrap();
    for (client, element) in clients.iter_mut().zip(["c", "b", "a"]) {
        let expected = format!("*2\r\n$5\r\nqueue\r\n$1\r\n{element}\r\n");
        assert_eq!(
            String::from_utf8_lossy(&exchange(client, b"", expected.len())),
            expected
        );
    }
}

#[test]
fn timeouts_answer_redis_nil_shapes() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    let started = Instant::now();
    assert_eq!(
        exchange(&mut raw, &resp(&["BLPOP", "nothing", "0.1"]), 5),
        b"*-1\r\n"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(90),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(
        exchange(
            &mut raw,
            &resp(&["BRPOPLPUSH", "nothing", "dst", "0.05"]),
            5
        ),
        b"*-1\r\n",
        "Redis answers a timed-out BRPOPLPUSH with a null array"
    );
    assert_eq!(
        exchange(
            &mut raw,
            &resp(&["BLMOVE", "nothing", "dst", "LEFT", "LEFT", "0.05"]),
            5
        ),
        b"*-1\r\n"
    );
    assert_eq!(
        exchange(&mut raw, &resp(&["BZPOPMIN", "nothing", "0.05"]), 5),
        b"*-1\r\n"
    );
    raw.write_all(&resp(&["HELLO", "3"])).unwrap();
    let _ = read_until(&mut raw, b"modules\r\n*0\r\n");
    assert_eq!(
        exchange(
            &mut raw,
            &resp(&["BLMPOP", "0.05", "1", "nothing", "LEFT"]),
            3
        ),
        b"_\r\n"
    );
    let mut c = server.client();
    let error = cmd("BLPOP")
        .arg("k")
        .arg("-1")
        .query::<Value>(&mut c)
        .unwrap_err();
    assert_eq!(error.detail(), Some("timeout is negative"));
    let error = cmd("BLPOP")
        .arg("k")
        .arg("soon")
        .query::<Value>(&mut c)
        .unwrap_err();
    assert_eq!(
        error.detail(),
        Some("timeout is not a float or out of range")
    );
    let _: () = cmd("SET").arg("str").arg("v").query(&mut c).unwrap();
    let error = cmd("BLPOP")
        .arg("str")
        .arg("0")
        .query::<Value>(&mut c)
        .unwrap_err();
    assert_eq!(error.code(), Some("WRONGTYPE"));
}

#[test]
fn blmove_moves_once_the_source_gets_data() {
    let server = Server::start(&["--shards", "4"]);
    let mut c = server.client();
    let mut blocked = send_blocking(
        &server,
        &["BLMOVE", "source", "target", "RIGHT", "LEFT", "5"],
    );
    wait_blocked(&mut c, 1);
    let _: i64 = cmd("RPUSH")
        .arg("source")
        .arg("x")
        .arg("y")
        .query(&mut c)
        .unwrap();
    assert_eq!(exchange(&mut blocked, b"", 7), b"$1\r\ny\r\n");
    let target: Vec<String> = cmd("LRANGE")
        .arg("target")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(target, vec!["y"]);
    let source: Vec<String> = cmd("LRANGE")
        .arg("source")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(source, vec!["x"]);
}

#[test]
fn blocking_commands_do_not_block_inside_multi() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    let mut request = resp(&["MULTI"]);
    request.extend(resp(&["BLPOP", "nothing", "0"]));
    request.extend(resp(&["EXEC"]));
    let expected = "+OK\r\n+QUEUED\r\n*1\r\n*-1\r\n";
    assert_eq!(
        String::from_utf8_lossy(&exchange(&mut raw, &request, expected.len())),
        expected
    );
}

#[test]
fn a_client_that_disconnects_while_blocked_is_forgotten() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let gone = send_blocking(&server, &["BRPOP", "k", "0"]);
    let mut waiting = {
        wait_blocked(&mut c, 1);
        drop(gone);
        wait_blocked(&mut c, 0);
        send_blocking(&server, &["BRPOP", "k", "0"])
    };
    wait_blocked(&mut c, 1);
    let _: i64 = cmd("RPUSH").arg("k").arg("only").query(&mut c).unwrap();
    let expected = "*2\r\n$1\r\nk\r\n$4\r\nonly\r\n";
    assert_eq!(
        String::from_utf8_lossy(&exchange(&mut waiting, b"", expected.len())),
        expected
    );
}

#[test]
fn sorted_set_blocking_pops() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let mut min = send_blocking(&server, &["BZPOPMIN", "scores", "0"]);
    wait_blocked(&mut c, 1);
    let _: i64 = cmd("ZADD")
        .arg("scores")
        .arg(2)
        .arg("b")
        .arg(1)
        .arg("a")
        .arg(3)
        .arg("c")
        .query(&mut c)
        .unwrap();
    let expected = "*3\r\n$6\r\nscores\r\n$1\r\na\r\n$1\r\n1\r\n";
    assert_eq!(
        String::from_utf8_lossy(&exchange(&mut min, b"", expected.len())),
        expected
    );
    let mut many = send_blocking(
        &server,
        &["BZMPOP", "0", "2", "none", "scores", "MAX", "COUNT", "5"],
    );
    let expected =
        "*2\r\n$6\r\nscores\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n";
    assert_eq!(
        String::from_utf8_lossy(&exchange(&mut many, b"", expected.len())),
        expected
    );
}

#[test]
fn commands_sent_while_blocked_run_after_the_reply() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let mut blocked = send_blocking(&server, &["BLPOP", "k", "0"]);
    wait_blocked(&mut c, 1);
    blocked.write_all(&resp(&["PING"])).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let _: i64 = cmd("RPUSH").arg("k").arg("v").query(&mut c).unwrap();
    let expected = "*2\r\n$1\r\nk\r\n$1\r\nv\r\n+PONG\r\n";
    assert_eq!(
        String::from_utf8_lossy(&exchange(&mut blocked, b"", expected.len())),
        expected
    );
}
