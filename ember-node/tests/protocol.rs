//! Malformed input against the real server: every case gets `-ERR Protocol error: ...` and a
//! closed connection, the requests before the bad one are still answered, nothing large is
//! allocated, and the server keeps serving everyone else.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::io::Write;

use common::{closed, cmd, exchange, Server};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn assert_protocol_error(server: &Server, request: &[u8], expected: &str) {
    let mut raw = server.raw();
    let reply = exchange(&mut raw, request, expected.len());
    assert_eq!(
        String::from_utf8_lossy(&reply),
        expected,
        "for {:?}",
        String::from_utf8_lossy(&request[..request.len().min(40)])
    );
    assert!(
        closed(&mut raw),
        "the connection closes after a protocol error"
    );
}

#[test]
fn malformed_requests_get_protocol_errors_and_close() {
    let server = Server::start(&["--shards", "2"]);
    assert_protocol_error(
        &server,
        b"*1\r\n%3\r\n",
        "-ERR Protocol error: expected '$', got '%'\r\n",
    );
    assert_protocol_error(
        &server,
        b"*1\r\n$-5\r\n",
        "-ERR Protocol error: invalid bulk length\r\n",
    );
    assert_protocol_error(
        &server,
        b"*abc\r\n",
        "-ERR Protocol error: invalid multibulk length\r\n",
    );
    assert_protocol_error(
        &server,
        b"*99999999999\r\n",
        "-ERR Protocol error: invalid multibulk length\r\n",
    );
    assert_protocol_error(
        &server,
        b"*1\r\n$1073741824\r\nabcdefghij",
        "-ERR Protocol error: invalid bulk length\r\n",
    );
    assert_protocol_error(
        &server,
        b"SET \"a b\r\n",
        "-ERR Protocol error: unbalanced quotes in request\r\n",
    );
    let deep = b"*1\r\n".repeat(100_000);
    assert_protocol_error(
        &server,
        &deep,
        "-ERR Protocol error: expected '$', got '*'\r\n",
    );
    // Requests before the bad frame are executed and answered first.
    assert_protocol_error(
        &server,
        b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$-5\r\n",
        "+PONG\r\n+OK\r\n-ERR Protocol error: invalid bulk length\r\n",
    );
    let mut c = server.client();
    let v: String = cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v", "the SET before the bad frame was applied");
}

#[test]
fn inline_commands_work_like_telnet() {
    let server = Server::start(&[]);
    let mut raw = server.raw();
    let reply = exchange(
        &mut raw,
        b"PING\r\nSET greeting \"hello world\"\r\nGET greeting\n",
        29,
    );
    assert_eq!(reply, b"+PONG\r\n+OK\r\n$11\r\nhello world\r\n");
    let reply = exchange(&mut raw, b"\r\n\r\nNOSUCH x\r\n", 10);
    assert!(
        reply.starts_with(b"-ERR unknown command 'NOSUCH'"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let reply = exchange(&mut raw, b"PING\r\n", 7);
    assert_eq!(reply, b"+PONG\r\n", "bad commands keep the connection open");
}

#[test]
fn a_huge_declared_bulk_allocates_nothing_and_others_are_served() {
    let mut server = Server::start(&["--shards", "2"]);
    let pid = server_pid(&server);
    let before = rss_kib(pid);
    // 500 MB declared (within the 512 MB limit) with ten bytes behind it, on many connections.
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut raw = server.raw();
        raw.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$524288000\r\nabcdefghij")
            .unwrap();
        held.push(raw);
    }
    let mut c = server.client();
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    let after = rss_kib(pid);
    assert!(
        after < before + 50 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    assert!(server.is_running());
}

fn server_pid(server: &Server) -> u32 {
    let mut c = server.client();
    let info: String = cmd("INFO").arg("server").query(&mut c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO reports process_id")
}

#[test]
fn redis_cli_pipe_mode_style_mass_insertion() {
    let server = Server::start(&["--shards", "2"]);
    let mut payload = Vec::new();
    for i in 0..100_000 {
        let key = format!("key:{i}");
        let value = format!("value:{i}");
        payload.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
                key.len(),
                value.len()
            )
            .as_bytes(),
        );
    }
    let mut raw = server.raw();
    let writer = {
        let mut raw = raw.try_clone().unwrap();
        std::thread::spawn(move || raw.write_all(&payload).unwrap())
    };
    let expected = b"+OK\r\n".len() * 100_000;
    let reply = exchange(&mut raw, b"", expected);
    writer.join().unwrap();
    assert_eq!(reply.len(), expected);
    assert!(reply.chunks(5).all(|c| c == b"+OK\r\n"));
    let mut c = server.client();
    let size: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, 100_000);
}
