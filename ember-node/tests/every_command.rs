//! A property test: random argument lists thrown at every command in the table. Whatever the
//! arguments, the server must answer each request with a well-formed reply and keep running.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use common::{cmd, Server};
use proptest::prelude::*;
use redis::Value;

/// Arguments chosen to reach edge cases: numbers at the limits, option words, odd bytes.
fn argument() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"".to_vec()),
        Just(b"0".to_vec()),
        Just(b"-1".to_vec()),
        Just(b"1".to_vec()),
        Just(b"9223372036854775807".to_vec()),
        Just(b"-9223372036854775808".to_vec()),
        Just(b"99999999999999999999".to_vec()),
        Just(b"1.5".to_vec()),
        Just(b"inf".to_vec()),
        Just(b"nan".to_vec()),
        Just(b"k1".to_vec()),
        Just(b"k2".to_vec()),
        Just(b"{tag}k3".to_vec()),
        Just(b"*".to_vec()),
        prop::sample::select(vec![
            "NX", "XX", "GT", "LT", "EX", "PX", "EXAT", "PXAT", "KEEPTTL", "GET", "PERSIST",
            "MATCH", "COUNT", "TYPE", "ID", "LIST", "INFO", "SET", "GETNAME", "hz", "ASYNC"
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..12),
    ]
}

const EXCLUDED: &[&str] = &[
    "quit",
    "shutdown",
    "config|set",
    "subscribe",
    "psubscribe",
    "unsubscribe",
    "punsubscribe",
    "blpop",
    "brpop",
    "blmove",
    "brpoplpush",
    "blmpop",
    "bzpopmin",
    "bzpopmax",
    "bzmpop",
];

/// Every command and subcommand name the server lists, as argv prefixes.
fn every_command(c: &mut redis::Connection) -> Vec<Vec<Vec<u8>>> {
    let names: Vec<String> = cmd("COMMAND").arg("LIST").query(c).unwrap();
    names
        .into_iter()
        // QUIT ends the connection and SHUTDOWN the server; CONFIG SET could lock the test out; the subscription
        // commands answer once per channel, which a request/response client cannot pair up
        // (tests/pubsub.rs covers them); blocking commands with a timeout of 0 rightly wait
        // for ever (tests/blocking.rs covers them).
        .filter(|n| !EXCLUDED.contains(&n.as_str()))
        .map(|n| n.split('|').map(|p| p.as_bytes().to_vec()).collect())
        .collect()
}

#[test]
fn every_command_answers_any_arguments() {
    let mut server = Server::start(&["--shards", "3"]);
    let mut c = server.client();
    let commands = every_command(&mut c);
    assert!(
        commands.len() > 60,
        "the table lists {} commands",
        commands.len()
    );
    let config = ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let strategy = prop::collection::vec(
        (0..commands.len(), prop::collection::vec(argument(), 0..6)),
        1..40,
    );
    let connection = std::cell::RefCell::new(c);
    proptest!(config, |(requests in strategy)| {
        let mut c = connection.borrow_mut();
        for (index, args) in requests {
            let mut request = redis::Cmd::new();
            for part in commands[index].iter().chain(args.iter()) {
                request.arg(part.as_slice());
            }
            // Any reply (including an error reply) is fine; a dropped connection is not.
            match request.query::<Value>(&mut *c) {
                Ok(_) => {}
                Err(e) => prop_assert!(e.code().is_some(), "{:?} {:?}: {}", commands[index], args, e),
            }
        }
    });
    assert!(server.is_running());
    // The random commands may have left that connection in MULTI or another database:
    // a fresh connection checks the server itself.
    drop(connection);
    let mut fresh = server.client();
    let pong: String = cmd("PING").query(&mut fresh).unwrap();
    assert_eq!(pong, "PONG");
}
