//! Publish/subscribe against the real server: RESP2 subscribe mode, RESP3 pushes on a normal
//! connection, patterns, introspection, and a slow subscriber cut off at its buffer limit.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{cmd, exchange, read_until, Server};

fn publish(server: &Server, channel: &str, message: &str) -> i64 {
    let mut c = server.client();
    cmd("PUBLISH")
        .arg(channel)
        .arg(message)
        .query(&mut c)
        .unwrap()
}

#[test]
fn resp2_subscribe_mode_receives_messages_and_restricts_commands() {
    let server = Server::start(&["--shards", "2"]);
    let mut sub = server.raw();
    let expected = "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$6\r\nsports\r\n:2\r\n";
    let reply = exchange(
        &mut sub,
        b"*3\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n$6\r\nsports\r\n",
        expected.len(),
    );
    assert_eq!(String::from_utf8_lossy(&reply), expected);
    assert_eq!(publish(&server, "news", "hello"), 1);
    let expected = "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n";
    assert_eq!(
        String::from_utf8_lossy(&exchange(&mut sub, b"", expected.len())),
        expected
    );
    let expected = "*2\r\n$4\r\npong\r\n$0\r\n\r\n";
    let reply = exchange(&mut sub, b"*1\r\n$4\r\nPING\r\n", expected.len());
    assert_eq!(String::from_utf8_lossy(&reply), expected);
    let expected = "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n";
    let reply = exchange(&mut sub, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", expected.len());
    assert_eq!(String::from_utf8_lossy(&reply), expected);
    let expected = "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$6\r\nsports\r\n:0\r\n";
    let reply = exchange(&mut sub, b"*1\r\n$11\r\nUNSUBSCRIBE\r\n", expected.len());
    assert_eq!(String::from_utf8_lossy(&reply), expected);
    let reply = exchange(&mut sub, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 5);
    assert_eq!(
        reply, b"$-1\r\n",
        "normal commands again after unsubscribing everything"
    );
    let expected = "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n";
    let reply = exchange(&mut sub, b"*1\r\n$11\r\nUNSUBSCRIBE\r\n", expected.len());
    assert_eq!(String::from_utf8_lossy(&reply), expected);
    assert_eq!(publish(&server, "news", "nobody"), 0);
}

#[test]
fn patterns_and_introspection() {
    let server = Server::start(&[]);
    let mut sub = server.raw();
    let expected = "*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:1\r\n";
    assert_eq!(
        String::from_utf8_lossy(&exchange(
            &mut sub,
            b"*2\r\n$10\r\nPSUBSCRIBE\r\n$6\r\nnews.*\r\n",
            expected.len()
        )),
        expected
    );
    let mut other = server.raw();
    other
        .write_all(b"*3\r\n$9\r\nSUBSCRIBE\r\n$9\r\nnews.tech\r\n$5\r\nchess\r\n")
        .unwrap();
    let _ = read_until(&mut other, b"chess\r\n:2\r\n");
    assert_eq!(publish(&server, "news.tech", "rust"), 2);
    let expected = "*4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n$9\r\nnews.tech\r\n$4\r\nrust\r\n";
    assert_eq!(
        String::from_utf8_lossy(&exchange(&mut sub, b"", expected.len())),
        expected
    );
    let mut c = server.client();
    let mut channels: Vec<String> = cmd("PUBSUB").arg("CHANNELS").query(&mut c).unwrap();
    channels.sort();
    assert_eq!(channels, vec!["chess", "news.tech"]);
    let channels: Vec<String> = cmd("PUBSUB")
        .arg("CHANNELS")
        .arg("news*")
        .query(&mut c)
        .unwrap();
    assert_eq!(channels, vec!["news.tech"]);
    let counts: Vec<redis::Value> = cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("chess")
        .arg("none")
        .query(&mut c)
        .unwrap();
    assert_eq!(counts.len(), 4);
    assert_eq!(counts[1], redis::Value::Int(1));
    assert_eq!(counts[3], redis::Value::Int(0));
    let patterns: i64 = cmd("PUBSUB").arg("NUMPAT").query(&mut c).unwrap();
    assert_eq!(patterns, 1);
    drop(other);
    // The closed subscriber's channels disappear.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let channels: Vec<String> = cmd("PUBSUB").arg("CHANNELS").query(&mut c).unwrap();
        if channels.is_empty() || Instant::now() > deadline {
            assert!(channels.is_empty(), "{channels:?}");
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn resp3_gets_pushes_on_a_normal_connection() {
    let server = Server::start(&["--shards", "2"]);
    let mut sub = server.raw();
    sub.write_all(b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n").unwrap();
    let _ = read_until(&mut sub, b"$7\r\nmodules\r\n*0\r\n");
    let expected = ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n";
    let reply = exchange(
        &mut sub,
        b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n",
        expected.len(),
    );
    assert_eq!(String::from_utf8_lossy(&reply), expected);
    let reply = exchange(&mut sub, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 3);
    assert_eq!(
        reply, b"_\r\n",
        "RESP3 connections keep running commands while subscribed"
    );
    assert_eq!(publish(&server, "ch", "hi"), 1);
    let expected = ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n";
    assert_eq!(
        String::from_utf8_lossy(&exchange(&mut sub, b"", expected.len())),
        expected
    );
}

#[test]
fn a_subscriber_that_never_reads_is_cut_off() {
    let server = Server::start(&[]);
    let mut sub = server.raw();
    sub.write_all(b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nfeed\r\n")
        .unwrap();
    let _ = read_until(&mut sub, b":1\r\n");
    let mut c = server.client();
    let payload = vec![b'x'; 1024 * 1024];
    let mut delivered = 0;
    for _ in 0..100 {
        let n: i64 = cmd("PUBLISH")
            .arg("feed")
            .arg(&payload)
            .query(&mut c)
            .unwrap();
        delivered += n;
    }
    assert!(
        delivered < 100,
        "the subscriber was cut off after {delivered} MB"
    );
    let numsub: Vec<redis::Value> = cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("feed")
        .query(&mut c)
        .unwrap();
    assert_eq!(numsub[1], redis::Value::Int(0));
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
}
