//! Server and connection commands: PING, ECHO, HELLO, AUTH, CLIENT, CONFIG, COMMAND, INFO,
//! TIME, QUIT and RESET, through redis-rs and raw RESP.

mod common;

use common::{cmd, err, exchange, Server};
use redis::Value;

#[test]
fn ping_echo_time_and_unknown_commands() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    let echo: String = cmd("PING").arg("hi").query(&mut c).unwrap();
    assert_eq!(echo, "hi");
    let echo: Vec<u8> = cmd("ECHO").arg(&b"\x00\xff"[..]).query(&mut c).unwrap();
    assert_eq!(echo, b"\x00\xff");
    let time: Vec<String> = cmd("TIME").query(&mut c).unwrap();
    let seconds: u64 = time[0].parse().unwrap();
    assert!(seconds > 1_700_000_000);
    assert_eq!(
        err(cmd("NOSUCH").arg("a").arg("b").query(&mut c)),
        "ERR: unknown command 'NOSUCH', with args beginning with: 'a' 'b' "
    );
    assert_eq!(
        err(cmd("PING").arg("a").arg("b").query(&mut c)),
        "ERR: wrong number of arguments for 'ping' command"
    );
    let still: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(still, "PONG", "errors keep the connection open");
}

#[test]
fn hello_switches_protocol_and_describes_the_server() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    let reply = exchange(&mut raw, b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", 1);
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("%7\r\n"), "{text}");
    assert!(text.contains("$7\r\nversion\r\n$5\r\n7.2.4\r\n"), "{text}");
    // RESP3 now: a missing key is `_`, a map reply is `%`.
    let reply = exchange(&mut raw, b"*2\r\n$3\r\nGET\r\n$1\r\nx\r\n", 3);
    assert_eq!(reply, b"_\r\n");
    let reply = exchange(&mut raw, b"*2\r\n$5\r\nHELLO\r\n$1\r\n4\r\n", 5);
    assert_eq!(reply, b"-NOPROTO unsupported protocol version\r\n");
    let reply = exchange(&mut raw, b"*2\r\n$5\r\nHELLO\r\n$1\r\n2\r\n", 1);
    assert!(reply.starts_with(b"*14\r\n"), "RESP2 flattens the map");
    let reply = exchange(&mut raw, b"*2\r\n$3\r\nGET\r\n$1\r\nx\r\n", 5);
    assert_eq!(reply, b"$-1\r\n");
    let mut c = server.client_resp3();
    let info: Value = cmd("CONFIG").arg("GET").arg("port").query(&mut c).unwrap();
    assert!(matches!(info, Value::Map(_)), "{info:?}");
}

#[test]
fn auth_and_requirepass() {
    let server = Server::start(&["--requirepass", "sekret"]);
    let mut raw = server.raw();
    let reply = exchange(&mut raw, b"*2\r\n$3\r\nGET\r\n$1\r\nx\r\n", 10);
    assert_eq!(reply, b"-NOAUTH Authentication required.\r\n");
    let reply = exchange(&mut raw, b"*2\r\n$4\r\nAUTH\r\n$5\r\nwrong\r\n", 10);
    assert_eq!(
        reply,
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    let reply = exchange(&mut raw, b"*2\r\n$4\r\nAUTH\r\n$6\r\nsekret\r\n", 5);
    assert_eq!(reply, b"+OK\r\n");
    let reply = exchange(&mut raw, b"*2\r\n$3\r\nGET\r\n$1\r\nx\r\n", 5);
    assert_eq!(reply, b"$-1\r\n");
    let client = redis::Client::open(format!("redis://:sekret@{}/", server.addr)).unwrap();
    let mut c = client.get_connection().unwrap();
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    let reply = exchange(
        &mut server.raw(),
        b"*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$6\r\nsekret\r\n",
        1,
    );
    assert!(
        reply.starts_with(b"%7"),
        "{}",
        String::from_utf8_lossy(&reply)
    );

    let open = Server::start(&[]);
    let mut c = open.client();
    assert_eq!(
        err(cmd("AUTH").arg("x").query(&mut c)),
        "ERR: AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
    );
}

#[test]
fn client_subcommands() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let id: i64 = cmd("CLIENT").arg("ID").query(&mut c).unwrap();
    assert!(id > 0);
    let name: Value = cmd("CLIENT").arg("GETNAME").query(&mut c).unwrap();
    assert_eq!(name, Value::Nil);
    let _: () = cmd("CLIENT")
        .arg("SETNAME")
        .arg("worker-1")
        .query(&mut c)
        .unwrap();
    let name: String = cmd("CLIENT").arg("GETNAME").query(&mut c).unwrap();
    assert_eq!(name, "worker-1");
    assert_eq!(
        err(cmd("CLIENT").arg("SETNAME").arg("has space").query(&mut c)),
        "ERR: Client names cannot contain spaces, newlines or special characters."
    );
    let _: () = cmd("CLIENT")
        .arg("SETINFO")
        .arg("LIB-NAME")
        .arg("mylib")
        .query(&mut c)
        .unwrap();
    let info: String = cmd("CLIENT").arg("INFO").query(&mut c).unwrap();
    assert!(info.contains(&format!("id={id} ")), "{info}");
    assert!(
        info.contains("name=worker-1")
            && info.contains("lib-name=mylib")
            && info.contains("cmd=client|info"),
        "{info}"
    );
    let mut other = server.client();
    let _: () = cmd("SELECT").arg(3).query(&mut other).unwrap();
    let list: String = cmd("CLIENT").arg("LIST").query(&mut c).unwrap();
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.contains("db=3"));
    let mine: String = cmd("CLIENT")
        .arg("LIST")
        .arg("ID")
        .arg(id)
        .query(&mut c)
        .unwrap();
    assert_eq!(mine.lines().count(), 1);
    assert_eq!(
        err(cmd("CLIENT").arg("NOPE").query(&mut c)),
        "ERR: unknown subcommand 'NOPE'. Try CLIENT HELP."
    );
    assert_eq!(
        err(cmd("CLIENT").query(&mut c)),
        "ERR: wrong number of arguments for 'client' command"
    );
    assert_eq!(
        err(cmd("CLIENT").arg("SETNAME").query(&mut c)),
        "ERR: wrong number of arguments for 'client|setname' command"
    );
    let help: Vec<String> = cmd("CLIENT").arg("HELP").query(&mut c).unwrap();
    assert!(help.len() > 4);
}

#[test]
fn config_get_set_and_errors() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let pairs: Vec<String> = cmd("CONFIG")
        .arg("GET")
        .arg("hz")
        .arg("maxclients")
        .query(&mut c)
        .unwrap();
    assert_eq!(pairs, vec!["hz", "10", "maxclients", "10000"]);
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("hz")
        .arg(20)
        .arg("timeout")
        .arg(30)
        .query(&mut c)
        .unwrap();
    let pairs: Vec<String> = cmd("CONFIG").arg("GET").arg("hz").query(&mut c).unwrap();
    assert_eq!(pairs, vec!["hz", "20"]);
    assert_eq!(
        err(cmd("CONFIG").arg("SET").arg("nosuch").arg(1).query(&mut c)),
        "ERR: Unknown option or number of arguments for CONFIG SET - 'nosuch'"
    );
    assert_eq!(
        err(cmd("CONFIG").arg("SET").arg("port").arg(1).query(&mut c)),
        "ERR: CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"
    );
    assert_eq!(
        err(cmd("CONFIG").arg("SET").arg("maxclients").arg("x").query(&mut c)),
        "ERR: CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer"
    );
    let none: Vec<String> = cmd("CONFIG")
        .arg("GET")
        .arg("nosuch")
        .query(&mut c)
        .unwrap();
    assert!(none.is_empty());
    let save: Vec<String> = cmd("CONFIG").arg("GET").arg("save").query(&mut c).unwrap();
    assert_eq!(save, vec!["save", ""]);
    let _: () = cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
    assert_eq!(
        err(cmd("CONFIG").arg("REWRITE").query(&mut c)),
        "ERR: The server is running without a config file"
    );
}

#[test]
fn command_introspection_reads_the_table() {
    let server = Server::start(&[]);
    let mut c = server.client();
    let count: i64 = cmd("COMMAND").arg("COUNT").query(&mut c).unwrap();
    assert!(count > 50);
    let all: Vec<Value> = cmd("COMMAND").query(&mut c).unwrap();
    assert_eq!(all.len() as i64, count);
    let info: Vec<Value> = cmd("COMMAND")
        .arg("INFO")
        .arg("get")
        .arg("mset")
        .arg("nosuch")
        .query(&mut c)
        .unwrap();
    assert_eq!(info.len(), 3);
    assert_eq!(info[2], Value::Nil);
    let Value::Array(get) = &info[0] else {
        panic!("{info:?}")
    };
    assert_eq!(get[0], Value::BulkString(b"get".to_vec()));
    assert_eq!(get[1], Value::Int(2));
    assert_eq!(
        (get[3].clone(), get[4].clone(), get[5].clone()),
        (Value::Int(1), Value::Int(1), Value::Int(1))
    );
    let Value::Array(mset) = &info[1] else {
        panic!()
    };
    assert_eq!(
        (mset[1].clone(), mset[4].clone(), mset[5].clone()),
        (Value::Int(-3), Value::Int(-1), Value::Int(2))
    );
    let keys: Vec<String> = cmd("COMMAND")
        .arg("GETKEYS")
        .arg("MSET")
        .arg("a")
        .arg("1")
        .arg("b")
        .arg("2")
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, vec!["a", "b"]);
    let docs: Value = cmd("COMMAND").arg("DOCS").arg("set").query(&mut c).unwrap();
    assert!(format!("{docs:?}").contains("summary"));
    let names: Vec<String> = cmd("COMMAND")
        .arg("LIST")
        .arg("FILTERBY")
        .arg("PATTERN")
        .arg("get*")
        .query(&mut c)
        .unwrap();
    assert!(names.contains(&"getrange".to_string()) && !names.contains(&"set".to_string()));
}

#[test]
fn info_sections_report_the_server() {
    let server = Server::start(&["--shards", "2"]);
    let mut c = server.client();
    let _: () = cmd("SET")
        .arg("a")
        .arg(1)
        .arg("EX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    let _: () = cmd("SET").arg("b").arg(1).query(&mut c).unwrap();
    let _: Value = cmd("GET").arg("missing").query(&mut c).unwrap();
    let info: String = cmd("INFO").query(&mut c).unwrap();
    for field in [
        "redis_version:7.2.4",
        "ember_version:",
        "arch_bits:64",
        "process_id:",
        "tcp_port:",
        "cluster_enabled:0",
        "connected_clients:1",
        "used_memory:",
        "total_commands_processed:",
        "keyspace_misses:1",
        "db0:keys=2,expires=1",
    ] {
        assert!(info.contains(field), "INFO lacks {field}:\n{info}");
    }
    let only: String = cmd("INFO").arg("keyspace").query(&mut c).unwrap();
    assert!(only.starts_with("# Keyspace") && !only.contains("# Server"));
    let none: String = cmd("INFO").arg("nosuchsection").query(&mut c).unwrap();
    assert!(none.is_empty());
}

#[test]
fn quit_and_reset() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    let reply = exchange(
        &mut raw,
        b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n",
        10,
    );
    assert!(reply.starts_with(b"+OK\r\n%7"));
    let reply = exchange(&mut raw, b"*1\r\n$5\r\nRESET\r\n", 8);
    assert_eq!(reply, b"+RESET\r\n");
    let reply = exchange(&mut raw, b"*1\r\n$4\r\nQUIT\r\n", 5);
    assert_eq!(reply, b"+OK\r\n");
    assert!(common::closed(&mut raw));
}

#[test]
fn slowlog_records_slow_commands() {
    let server = Server::start(&["--shards", "2", "--slowlog-log-slower-than", "0"]);
    let mut c = server.client();
    let _: () = cmd("CLIENT")
        .arg("SETNAME")
        .arg("slowpoke")
        .query(&mut c)
        .unwrap();
    let _: () = cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let _: () = cmd("AUTH")
        .arg("secret")
        .query::<Value>(&mut c)
        .map(|_| ())
        .unwrap_or(());
    let entries: Vec<Value> = cmd("SLOWLOG").arg("GET").arg(1).query(&mut c).unwrap();
    let Value::Array(entry) = &entries[0] else {
        panic!("{entries:?}")
    };
    assert_eq!(entry.len(), 6);
    assert_eq!(
        entry[3],
        Value::Array(vec![
            Value::BulkString(b"SET".to_vec()),
            Value::BulkString(b"k".to_vec()),
            Value::BulkString(b"v".to_vec())
        ]),
        "AUTH is never logged: {entries:?}"
    );
    assert_eq!(entry[5], Value::BulkString(b"slowpoke".to_vec()));
    let len: i64 = cmd("SLOWLOG").arg("LEN").query(&mut c).unwrap();
    assert!(len >= 2);
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(-1)
        .query(&mut c)
        .unwrap();
    let _: () = cmd("SLOWLOG").arg("RESET").query(&mut c).unwrap();
    let _: () = cmd("SET").arg("k").arg("w").query(&mut c).unwrap();
    let len: i64 = cmd("SLOWLOG").arg("LEN").query(&mut c).unwrap();
    assert_eq!(len, 0, "-1 disables the log");
    assert_eq!(
        err(cmd("SLOWLOG").arg("GET").arg(-2).query(&mut c)),
        "ERR: count should be greater than or equal to -1"
    );
}
