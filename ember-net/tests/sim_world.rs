//! A small simulated world driven only through ember-net's public API, the way ember-sim
//! drives one: a server host that logs each client line to the simulated disk and replies
//! with the simulated wall clock and a seeded token, a client, a crash of the server's host
//! and disk, a restart that reads the log back, and a check that one seed replays exactly.

#![cfg(feature = "sim")]

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use ember_net::{Env, FaultConfig, SimDisk};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const PORT: u16 = 6380;
const EPOCH_UNIX_MS: u64 = 1_700_000_000_000;
const MESSAGES: usize = 10;

type Trace = Rc<RefCell<Vec<String>>>;

/// Runs the world for `seed` and returns everything observable, in order.
fn run_world(seed: u64) -> Vec<String> {
    let trace: Trace = Rc::default();
    let disk = SimDisk::new(seed);
    disk.set_faults(FaultConfig {
        latency_ms_max: 3,
        ..FaultConfig::default()
    });
    let mut sim = turmoil::Builder::new()
        .epoch(UNIX_EPOCH + Duration::from_millis(EPOCH_UNIX_MS))
        .rng_seed(seed)
        .build();
    let host_disk = disk.clone();
    sim.host("server", move || {
        let disk = host_disk.clone();
        async move { server(Env::simulation(seed, "server", disk, 2, EPOCH_UNIX_MS)).await }
    });
    let names: Vec<String> = (0..MESSAGES).map(|index| format!("msg-{index}")).collect();
    sim.client("client", client(seed, "client", names, trace.clone()));
    sim.run().unwrap();

    sim.crash("server");
    disk.crash("server", &mut ChaCha8Rng::seed_from_u64(seed));
    let log = disk
        .durable_contents("server", Path::new("/data/log"))
        .unwrap();
    check_log_after_crash(&log);
    trace
        .borrow_mut()
        .push(format!("durable log: {:?}", String::from_utf8_lossy(&log)));

    sim.bounce("server");
    sim.client(
        "late",
        client(seed, "late", vec!["after-crash".to_string()], trace.clone()),
    );
    sim.run().unwrap();
    let trace = trace.borrow().clone();
    trace
}

/// Every even message was fsynced once appended, so the log keeps at least up to the
/// last even message, and past it only a prefix of what was written.
fn check_log_after_crash(log: &[u8]) {
    let written: String = (0..MESSAGES)
        .map(|index| format!("msg-{index}\n"))
        .collect();
    let last_even = MESSAGES - 1 - (MESSAGES - 1) % 2;
    let synced: String = (0..=last_even)
        .map(|index| format!("msg-{index}\n"))
        .collect();
    assert!(
        written.as_bytes().starts_with(log),
        "the log is a prefix of what was written"
    );
    assert!(log.starts_with(synced.as_bytes()), "fsynced lines survive");
}

async fn server(env: Env) -> turmoil::Result {
    let dir = Path::new("/data");
    env.create_dir_all(dir).await?;
    let log_path = dir.join("log");
    let restored = match env.read(&log_path).await {
        Ok(bytes) => bytes.iter().filter(|byte| **byte == b'\n').count(),
        Err(_) => 0,
    };
    let mut log = env.open_append(&log_path).await?;
    env.sync_dir(dir).await?;
    let listener = env
        .bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, PORT)))
        .await?;
    let mut tokens = env.rng("tokens");
    loop {
        let (conn, _) = listener.accept().await?;
        let (reader, mut writer) = conn.into_split();
        let mut lines = BufReader::new(reader).lines();
        while let Some(line) = lines.next_line().await? {
            log.append(format!("{line}\n").as_bytes()).await?;
            if line
                .chars()
                .last()
                .and_then(|digit| digit.to_digit(10))
                .is_some_and(|digit| digit % 2 == 0)
            {
                log.fsync().await?;
            }
            let token: u16 = tokens.gen();
            let reply = format!(
                "{line} at {} token {token} restored {restored}\n",
                env.unix_ms()
            );
            writer.write_all(reply.as_bytes()).await?;
        }
    }
}

async fn client(
    seed: u64,
    host: &'static str,
    messages: Vec<String>,
    trace: Trace,
) -> turmoil::Result {
    let env = Env::simulation(seed, host, SimDisk::new(seed), 1, EPOCH_UNIX_MS);
    let addr = env.lookup_host("server", PORT).await?;
    let conn = connect_with_retry(&env, addr).await?;
    let (reader, mut writer) = conn.into_split();
    let mut replies = BufReader::new(reader).lines();
    let mut pace = env.rng("pace");
    for message in messages {
        env.sleep(Duration::from_millis(pace.gen_range(1..50)))
            .await;
        writer.write_all(format!("{message}\n").as_bytes()).await?;
        let reply = env
            .timeout(Duration::from_secs(5), replies.next_line())
            .await??;
        let reply = reply.expect("the server replies to every line");
        trace.borrow_mut().push(format!("{host} <- {reply}"));
    }
    assert!(env.unix_ms() >= EPOCH_UNIX_MS);
    Ok(())
}

/// The server may not be listening yet (or again, after a restart).
async fn connect_with_retry(env: &Env, addr: SocketAddr) -> std::io::Result<ember_net::Conn> {
    let mut attempts = 0;
    loop {
        match env.connect(addr).await {
            Ok(conn) => return Ok(conn),
            Err(error) if attempts >= 50 => return Err(error),
            Err(_) => {
                attempts += 1;
                env.sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

#[test]
fn same_seed_replays_exactly() {
    let first = run_world(7);
    let second = run_world(7);
    assert_eq!(first, second);
    assert_eq!(first.len(), MESSAGES + 2);
    let last = first.last().unwrap();
    assert!(last.starts_with("late <- after-crash at "), "{last}");
    // The restarted server read back exactly the lines the crash left on disk.
    let durable = &first[MESSAGES];
    let durable_lines = durable.matches("\\n").count();
    assert!(
        last.ends_with(&format!("restored {durable_lines}")),
        "{durable} / {last}"
    );
}

#[test]
fn different_seeds_differ() {
    assert_ne!(run_world(1), run_world(2));
}

#[test]
fn wall_clock_in_replies_is_virtual() {
    for line in run_world(3).iter().filter(|line| line.contains(" at ")) {
        let unix_ms: u64 = line
            .split(" at ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        // The whole world runs well under a simulated minute after its epoch.
        assert!(unix_ms >= EPOCH_UNIX_MS, "{line}");
        assert!(unix_ms < EPOCH_UNIX_MS + 60_000, "{line}");
    }
}
