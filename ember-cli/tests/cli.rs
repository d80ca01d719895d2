//! Runs the built `ember-cli` binary against a tiny fake server and checks what an
//! operator's script would see: stdout, stderr and the exit code.
//!
//! The fake server is a std `TcpListener` on `127.0.0.1:0` in a thread. It serves one
//! connection, answers each request with canned RESP bytes chosen by the command name, and
//! hands back the requests it received so tests can check what the client sent.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::thread::{self, JoinHandle};

use bytes::{Bytes, BytesMut};
use ember_proto::{decode_request, Limits};

/// The requests the fake server received, each as its arguments in text.
type Requests = Vec<Vec<String>>;

/// A fake server that serves one connection on its own thread.
struct FakeServer {
    port: u16,
    thread: JoinHandle<Requests>,
}

impl FakeServer {
    /// Starts a server that answers each request with `reply(command_name)`.
    fn start(reply: fn(&str) -> &'static [u8]) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let thread = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            serve(stream, reply)
        });
        FakeServer { port, thread }
    }

    /// Waits for the client to hang up and returns what it sent.
    fn requests(self) -> Requests {
        self.thread.join().unwrap()
    }
}

/// Answers requests until the client closes the connection.
fn serve(mut stream: TcpStream, reply: fn(&str) -> &'static [u8]) -> Requests {
    let mut requests = Vec::new();
    let mut buffer = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(args) = decode_request(&mut buffer, &Limits::default()).unwrap() {
            let args: Vec<String> = args.iter().map(text).collect();
            stream.write_all(reply(&args[0])).unwrap();
            requests.push(args);
        }
        let count = stream.read(&mut chunk).unwrap_or(0);
        if count == 0 {
            return requests;
        }
        buffer.extend_from_slice(&chunk[..count]);
    }
}

fn text(bytes: &Bytes) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The canned replies most tests use.
fn canned(command: &str) -> &'static [u8] {
    match command.to_ascii_uppercase().as_str() {
        "GET" => b"$5\r\nhello\r\n",
        "INCR" => b":7\r\n",
        "LRANGE" => b"*3\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\n$-1\r\n",
        "HGETALL" => b"%2\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n:2\r\n",
        "HELLO" => b"%1\r\n$5\r\nproto\r\n:3\r\n",
        "MISSING" => b"$-1\r\n",
        "BOOM" => b"-ERR unknown command 'BOOM'\r\n",
        _ => b"+OK\r\n",
    }
}

/// Runs the binary with `args`, feeding it `stdin`.
fn run_cli(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ember-cli"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs the binary against a fresh canned server and returns its output and requests.
fn run_against_canned(flags: &[&str], command: &[&str], stdin: &str) -> (Output, Requests) {
    let server = FakeServer::start(canned);
    let port = server.port.to_string();
    let mut args = vec!["-p", port.as_str()];
    args.extend_from_slice(flags);
    args.extend_from_slice(command);
    let output = run_cli(&args, stdin);
    (output, server.requests())
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn bulk_reply_prints_raw_and_exits_zero() {
    let (output, requests) = run_against_canned(&[], &["GET", "my key"], "");
    assert_eq!(stdout(&output), "hello\n");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(requests, [["GET", "my key"]]);
}

#[test]
fn raw_mode_flattens_arrays_and_maps() {
    let (output, _) = run_against_canned(&[], &["LRANGE", "l", "0", "-1"], "");
    assert_eq!(stdout(&output), "a\nb\n\n");
    let (output, _) = run_against_canned(&[], &["HGETALL", "h"], "");
    assert_eq!(stdout(&output), "f1\nv1\nf2\n2\n");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn human_mode_shows_types() {
    let (output, _) = run_against_canned(&["--human"], &["LRANGE", "l", "0", "-1"], "");
    assert_eq!(stdout(&output), "1) \"a\"\n2) 1) \"b\"\n3) (nil)\n");
    let (output, _) = run_against_canned(&["--no-raw"], &["INCR", "n"], "");
    assert_eq!(stdout(&output), "(integer) 7\n");
}

#[test]
fn error_reply_exits_one() {
    let (output, _) = run_against_canned(&[], &["BOOM"], "");
    assert_eq!(stdout(&output), "(error) ERR unknown command 'BOOM'\n");
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn connection_refused_exits_one() {
    // Binding and dropping a listener finds a port that nothing is listening on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = run_cli(&["-p", &port.to_string(), "PING"], "");
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    let expected = format!("Could not connect to ember at 127.0.0.1:{port}: ");
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert!(output.stdout.is_empty());
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn session_setup_runs_before_the_command() {
    let flags = ["-a", "secret", "--user", "ops", "-3", "-n", "2"];
    let (output, requests) = run_against_canned(&flags, &["INCR", "n"], "");
    assert_eq!(stdout(&output), "7\n");
    assert_eq!(output.status.code(), Some(0));
    let expected: Requests = vec![
        vec!["AUTH".into(), "ops".into(), "secret".into()],
        vec!["HELLO".into(), "3".into()],
        vec!["SELECT".into(), "2".into()],
        vec!["INCR".into(), "n".into()],
    ];
    assert_eq!(requests, expected);
}

#[test]
fn failed_setup_exits_one_without_running_the_command() {
    let server = FakeServer::start(|command| match command {
        "AUTH" => b"-WRONGPASS invalid username-password pair\r\n",
        _ => b"+OK\r\n",
    });
    let port = server.port.to_string();
    let output = run_cli(&["-p", &port, "-a", "bad", "PING"], "");
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert!(stderr.starts_with("AUTH failed: WRONGPASS"), "{stderr}");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn stdin_mode_runs_each_line() {
    let stdin = "SET k \"two words\"\n\nGET k\nMISSING\nBOOM\nSET 'a b' c\n";
    let (output, requests) = run_against_canned(&[], &[], stdin);
    assert_eq!(
        stdout(&output),
        "OK\nhello\n\n(error) ERR unknown command 'BOOM'\nOK\n"
    );
    // The error reply does not stop later lines, but it does set the exit code.
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(requests.len(), 5);
    assert_eq!(requests[0], ["SET", "k", "two words"]);
    assert_eq!(requests[4], ["SET", "a b", "c"]);
}

#[test]
fn stdin_mode_all_success_exits_zero() {
    let (output, requests) = run_against_canned(&["--human"], &[], "GET k\r\nMISSING\n");
    assert_eq!(stdout(&output), "\"hello\"\n(nil)\n");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(requests.len(), 2);
}

#[test]
fn stdin_mode_reports_unbalanced_quotes() {
    let (output, requests) = run_against_canned(&[], &[], "GET \"k\nGET k\n");
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert!(stderr.contains("line 1: unbalanced quotes"), "{stderr}");
    assert_eq!(stdout(&output), "hello\n");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(requests, [["GET", "k"]]);
}
