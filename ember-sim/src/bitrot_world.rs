//! The bit-rot world: writers fill the node's AOFs under `appendfsync always`; then the
//! world crashes the node, flips one durable bit inside a record that is not the last of
//! its AOF, and restarts it. The node must refuse to start with an error naming the file
//! and the damaged record's offset, serving no data meanwhile
//! (`checkers::corruption_refused`). Restarted with `--aof-load-corrupt yes` it must serve
//! again: every key a prefix of its writes (`recovered_prefix`), and every key on the
//! other shards all of them (`acknowledged`).

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use bytes::Bytes;
use ember_net::{FaultConfig, SimDisk};
use ember_node::persist::aof_path;
use ember_node::slot::shard_of_key;
use ember_node::ServerConfig;
use ember_proto::aof::{read_records, record_payload_len, AofEnd, AOF_RECORD_HEADER_BYTES};
use rand::rngs::mock::StepRng;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::checkers::corruption_refused::{self, Rot};
use crate::checkers::node_stops::{self, NodeEnd};
use crate::checkers::{acknowledged, recovered_prefix};
use crate::persist_client::{Writer, WriterSetup};
use crate::persist_faults::DOWN_MS_MAX;
use crate::persist_world::{self, Board, EndCell, Outcome, DATA_DIR, RECONNECT_SLACK_MS};
use crate::scenario::{BitrotSpec, Policy, ShutdownCheck};
use crate::session::Session;
use crate::world::{
    self, LATENCY_MS_MAX_HIGH, LATENCY_MS_MAX_LOW, LATENCY_MS_MIN, NODE_HOST, NODE_PORT,
};
use crate::write_log::KeyState;

/// How long the node may take to refuse its corrupt AOF.
const REFUSAL_DEADLINE_MS: u64 = 2_000;
/// The disk's latency per operation while the node loads the corrupt AOF.
const ROTTED_DISK_LATENCY_MS_MAX: u64 = 40;
/// How long after the refusal the node restarts with `--aof-load-corrupt yes`.
const LENIENT_RESTART_AFTER_MS: u64 = 50;
/// How often a writer probes the node while it loads the corrupt AOF.
const PROBE_EVERY_MS: u64 = 3;
/// How long a probe waits for its reply.
const PROBE_TIMEOUT_MS: u64 = 100;
/// The most attempts at the read-back after the lenient restart.
const READ_BACK_ATTEMPTS_MAX: usize = 200;
/// The fewest records (the header included) an AOF needs to be rotted in its middle.
const RECORDS_MIN: usize = 3;

/// Everything the seed decides before the run; the rotted bit is drawn from the files.
#[derive(Clone, Debug)]
pub struct Params {
    pub seed: u64,
    pub spec: BitrotSpec,
    pub shards: usize,
    pub latency_ms_max: u64,
}

/// How far the run has got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    #[default]
    Writing,
    /// The bit is flipped and the node restarted on it: it must refuse.
    Rotted,
    /// It refused and is down until `LENIENT_RESTART_AFTER_MS` later.
    Refused,
    /// Restarted with `--aof-load-corrupt yes`: it must serve a prefix.
    Lenient,
}

/// What the writers and the step loop share besides the `Board`.
#[derive(Debug, Default)]
pub struct Rotting {
    pub phase: Phase,
    pub writers_done: usize,
    pub rot: Option<Rot>,
    pub damaged_shard: Option<usize>,
    pub probes: u64,
    /// Writes on the damaged shard the lenient start dropped.
    pub dropped: u64,
}

impl Params {
    pub fn derive(seed: u64, spec: &BitrotSpec) -> Params {
        let mut rng = world::stream(seed, "bitrot-params");
        let shards = rng.gen_range(spec.shards.clone());
        let latency_ms_max = rng.gen_range(LATENCY_MS_MAX_LOW..=LATENCY_MS_MAX_HIGH);
        assert!(spec.shards.contains(&shards));
        Params {
            seed,
            spec: spec.clone(),
            shards,
            latency_ms_max,
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "seed={} shards={} policy=always clients={} writes={} latency_ms={}..{}",
            self.seed,
            self.shards,
            self.spec.clients,
            self.spec.writes,
            LATENCY_MS_MIN,
            self.latency_ms_max
        )
    }
}

/// Runs the bit-rot world to its end.
pub fn run(params: &Params) -> Outcome {
    let board = Rc::new(RefCell::new(Board::default()));
    let rotting = Rc::new(RefCell::new(Rotting::default()));
    let disk = SimDisk::new(params.seed);
    let config = Rc::new(RefCell::new(persist_world::node_config(
        params.shards,
        Policy::Always,
        "",
    )));
    let ended: EndCell = Rc::new(RefCell::new(None));
    let mut sim = world::build_sim(params.seed, params.latency_ms_max);
    persist_world::add_node(&mut sim, params.seed, &disk, &config, &ended);
    for index in 0..params.spec.clients {
        let setup = WriterSetup {
            index,
            seed: params.seed,
            policy: Policy::Always,
            writes: params.spec.writes,
            rng: world::stream(params.seed, &format!("writer-{index}")),
            reconnect_deadline_ms: DOWN_MS_MAX + RECONNECT_SLACK_MS,
            shutdown: ShutdownCheck::None,
            board: board.clone(),
        };
        let host = writer(setup, params.shards, rotting.clone());
        sim.client(format!("writer{index}"), host);
    }
    let mut world = World {
        params: params.clone(),
        disk,
        config,
        rng: world::stream(params.seed, "bitrot"),
        board: board.clone(),
        rotting: rotting.clone(),
        rotted_ms: 0,
        restart_ms: 0,
    };
    let elapsed_ms = world.step_to_end(&mut sim, &ended);
    drop(sim);
    let board = board.borrow();
    let rotting = rotting.borrow();
    let rot = rotting.rot.as_ref().map_or_else(String::new, |rot| {
        format!("{}@{} bit={}", rot.path.display(), rot.offset, rot.bit)
    });
    let summary = format!(
        "rot={rot} acked={} dropped={} probes={} read_backs={} events={} virtual_ms={elapsed_ms}",
        board.stats.acked,
        rotting.dropped,
        rotting.probes,
        board.stats.read_backs,
        board.trace.events(),
    );
    Outcome {
        trace: board.trace.clone(),
        summary,
        failure: board.failure.clone(),
    }
}

struct World {
    params: Params,
    disk: SimDisk,
    config: Rc<RefCell<ServerConfig>>,
    rng: ChaCha8Rng,
    board: Rc<RefCell<Board>>,
    rotting: Rc<RefCell<Rotting>>,
    rotted_ms: u64,
    restart_ms: u64,
}

impl World {
    fn step_to_end(&mut self, sim: &mut turmoil::Sim<'static>, ended: &EndCell) -> u64 {
        loop {
            let finished = match sim.step() {
                Ok(finished) => finished,
                Err(error) => {
                    let now_ms = world::duration_ms(sim.elapsed());
                    let detail = format!("the simulation stopped: {error}");
                    self.board.borrow_mut().fail("world", now_ms, detail);
                    break;
                }
            };
            let now_ms = world::duration_ms(sim.elapsed());
            let end = ended.borrow_mut().take();
            let phase = self.rotting.borrow().phase;
            match (phase, end) {
                (Phase::Rotted, Some(result)) => self.refused(sim, now_ms, result),
                (_, Some(result)) => self.unexpected_end(now_ms, result),
                (Phase::Writing, None) => self.rot_when_written(sim, now_ms),
                (Phase::Refused, None) if now_ms >= self.restart_ms => {
                    self.restart_lenient(sim, now_ms);
                }
                (Phase::Rotted, None) if now_ms > self.rotted_ms + REFUSAL_DEADLINE_MS => {
                    let detail = format!(
                        "the node did not refuse its corrupt AOF within {REFUSAL_DEADLINE_MS} ms"
                    );
                    self.board.borrow_mut().fail("node", now_ms, detail);
                }
                _ => {}
            }
            if finished || self.board.borrow().failure.is_some() {
                break;
            }
        }
        world::duration_ms(sim.elapsed())
    }

    /// No node end is expected outside the rotted start: judge it as any other.
    fn unexpected_end(&mut self, now_ms: u64, result: Result<(), String>) {
        let end = NodeEnd {
            at_ms: now_ms,
            generation: self.board.borrow().generation,
            result,
            faults_on: false,
            shutdown_requested: false,
        };
        let detail = node_stops::check(&end)
            .err()
            .unwrap_or_else(|| "the node stopped".to_string());
        self.board.borrow_mut().fail("node", now_ms, detail);
    }

    /// Once every writer is done: crash, flip one bit in the middle of an AOF, restart.
    fn rot_when_written(&mut self, sim: &mut turmoil::Sim<'static>, now_ms: u64) {
        if self.rotting.borrow().writers_done < self.params.spec.clients {
            return;
        }
        persist_world::crash_machine(sim, &self.disk, FaultConfig::default(), 0.0, &mut self.rng);
        self.next_generation(now_ms, b"crash");
        match self.flip_a_middle_bit() {
            Ok((shard, rot)) => {
                let mut rotting = self.rotting.borrow_mut();
                rotting.damaged_shard = Some(shard);
                rotting.rot = Some(rot);
                rotting.phase = Phase::Rotted;
            }
            Err(detail) => return self.board.borrow_mut().fail("world", now_ms, detail),
        }
        self.rotted_ms = now_ms;
        // A slow disk keeps the node loading long enough for the writers' probes to meet it.
        self.disk.set_faults(FaultConfig {
            latency_ms_max: ROTTED_DISK_LATENCY_MS_MAX,
            ..FaultConfig::default()
        });
        sim.bounce(NODE_HOST);
    }

    /// Picks an AOF with records after its damage, and one bit inside a record before its
    /// last; flips it on the durable bytes.
    fn flip_a_middle_bit(&mut self) -> Result<(usize, Rot), String> {
        let mut candidates = Vec::new();
        for shard in 0..self.params.shards {
            let path = aof_path(Path::new(DATA_DIR), shard);
            let starts = record_starts(&self.disk, &path)?;
            if starts.len() > RECORDS_MIN {
                candidates.push((shard, path, starts));
            }
        }
        if candidates.is_empty() {
            return Err(format!("no AOF holds {RECORDS_MIN} records to rot"));
        }
        let (shard, path, starts) = candidates.swap_remove(self.rng.gen_range(0..candidates.len()));
        // `starts` ends with the file's length; the last record is starts[len - 2]..
        let record = self.rng.gen_range(0..starts.len() - 2);
        let (offset, end) = (starts[record], starts[record + 1]);
        let bit = self.rng.gen_range(offset as u64 * 8..end as u64 * 8);
        let before = self
            .disk
            .durable_contents(NODE_HOST, &path)
            .expect("listed");
        assert!(self.disk.rot(NODE_HOST, &path, &mut StepRng::new(bit, 0)));
        let after = self
            .disk
            .durable_contents(NODE_HOST, &path)
            .expect("listed");
        let byte = usize::try_from(bit / 8).expect("small");
        assert_eq!(before[byte] ^ after[byte], 1 << (bit % 8));
        debug_assert!((0..before.len()).all(|i| i == byte || before[i] == after[i]));
        Ok((shard, Rot { path, offset, bit }))
    }

    /// The node refused the corrupt AOF, as it must: judge the error, then restart it
    /// with `--aof-load-corrupt yes`.
    fn refused(
        &mut self,
        sim: &mut turmoil::Sim<'static>,
        now_ms: u64,
        result: Result<(), String>,
    ) {
        let rot = self.rotting.borrow().rot.clone().expect("rotted");
        let reason = result.clone().err().unwrap_or_default();
        self.board
            .borrow_mut()
            .trace
            .record(now_ms, &[b"world", b"refused", reason.as_bytes()]);
        if let Err(detail) = corruption_refused::check_refusal(&rot, &result) {
            return self.board.borrow_mut().fail("node", now_ms, detail);
        }
        persist_world::crash_machine(sim, &self.disk, FaultConfig::default(), 0.0, &mut self.rng);
        self.next_generation(now_ms, b"crash");
        self.config.borrow_mut().aof_load_corrupt = true;
        self.rotting.borrow_mut().phase = Phase::Refused;
        self.restart_ms = now_ms + LENIENT_RESTART_AFTER_MS;
    }

    fn restart_lenient(&mut self, sim: &mut turmoil::Sim<'static>, now_ms: u64) {
        self.rotting.borrow_mut().phase = Phase::Lenient;
        self.board
            .borrow_mut()
            .trace
            .record(now_ms, &[b"world", b"restart lenient"]);
        sim.bounce(NODE_HOST);
    }

    fn next_generation(&mut self, now_ms: u64, event: &[u8]) {
        let mut board = self.board.borrow_mut();
        board.ends.push(persist_world::GenerationEnd {
            at_ms: now_ms,
            clean: false,
            shutdown_sent_ms: None,
        });
        board.generation += 1;
        board.trace.record(now_ms, &[b"world", event]);
    }
}

/// Where each record of the durable AOF at `path` starts, then the file's length.
fn record_starts(disk: &SimDisk, path: &Path) -> Result<Vec<usize>, String> {
    let Some(data) = disk.durable_contents(NODE_HOST, path) else {
        return Ok(Vec::new());
    };
    let scan = read_records(&Bytes::from(data));
    if scan.end != AofEnd::Clean {
        return Err(format!(
            "{} is damaged before the rot: {:?}",
            path.display(),
            scan.end
        ));
    }
    let mut starts = vec![0];
    let mut offset = 0;
    for record in &scan.records {
        offset += AOF_RECORD_HEADER_BYTES + record_payload_len(record).expect("read back");
        starts.push(offset);
    }
    assert_eq!(offset, scan.valid_len);
    Ok(starts)
}

/// A writer of the bit-rot world: its writes, then probes while the node loads the
/// corrupt AOF, then the read-back after the lenient start.
async fn writer(
    setup: WriterSetup,
    shards: usize,
    rotting: Rc<RefCell<Rotting>>,
) -> turmoil::Result {
    let mut writer = Writer::new(setup);
    while writer.sent < writer.setup.writes && !writer.failed() {
        let think_ms = writer.setup.rng.gen_range(0..=5);
        writer.sleep_ms(think_ms).await;
        if !writer.connect().await {
            return Ok(());
        }
        writer.write_batch().await;
    }
    let unacked = writer
        .keys
        .iter()
        .flat_map(|log| &log.writes)
        .filter(|write| write.acked_ms.is_none())
        .count();
    if unacked > 0 {
        writer.fail(format!(
            "{unacked} writes were not acknowledged with no crash"
        ));
    }
    writer.disconnect();
    rotting.borrow_mut().writers_done += 1;
    loop {
        let phase = rotting.borrow().phase;
        if writer.failed() {
            return Ok(());
        }
        match phase {
            Phase::Writing => writer.sleep_ms(PROBE_EVERY_MS).await,
            Phase::Rotted | Phase::Refused => probe(&mut writer, &rotting).await,
            Phase::Lenient => break,
        }
    }
    read_back_lenient(&mut writer, shards, &rotting).await;
    Ok(())
}

/// One attempt to read a key while the node loads the corrupt AOF: any reply must be
/// `-LOADING`. Failing to connect or to get a reply is expected.
async fn probe(writer: &mut Writer, rotting: &Rc<RefCell<Rotting>>) {
    let host = format!("writer{}", writer.setup.index);
    let generation = writer.setup.board.borrow().generation;
    let opened = Session::open(writer.setup.seed, &host, NODE_HOST, NODE_PORT, false).await;
    if let Ok(mut session) = opened {
        let command = writer.keys[0].read_command();
        if session.send(&[command]).await.is_ok() {
            let reply = session.read(PROBE_TIMEOUT_MS).await;
            // A reply that comes once the world has restarted the node is the lenient
            // node's, which may serve.
            let same_node = writer.setup.board.borrow().generation == generation;
            if let (Ok(frame), true) = (reply, same_node) {
                rotting.borrow_mut().probes += 1;
                if let Err(detail) = corruption_refused::check_no_service(&frame) {
                    writer.fail(detail);
                }
            }
        }
    }
    writer.sleep_ms(PROBE_EVERY_MS).await;
}

/// After the lenient start: every key a prefix of its writes, and complete unless it
/// lives on the damaged shard.
async fn read_back_lenient(writer: &mut Writer, shards: usize, rotting: &Rc<RefCell<Rotting>>) {
    for _ in 0..READ_BACK_ATTEMPTS_MAX {
        if writer.failed() || !writer.connect().await {
            return;
        }
        let states = match writer.read_states().await {
            Ok(Some(states)) => states,
            Ok(None) => continue,
            Err(detail) => return writer.fail(detail),
        };
        let damaged = rotting.borrow().damaged_shard.expect("rotted");
        for (log, state) in writer.keys.iter().zip(&states) {
            if let Err(detail) =
                judge_lenient(log, state, shard_of_key(&log.key, shards) == damaged)
            {
                return writer.fail(detail);
            }
            let applied = log.applied(state).expect("judged");
            rotting.borrow_mut().dropped += (log.writes.len() - applied) as u64;
        }
        writer.setup.board.borrow_mut().stats.read_backs += 1;
        return;
    }
    writer.fail(format!(
        "no read-back in {READ_BACK_ATTEMPTS_MAX} attempts after the lenient start"
    ));
}

fn judge_lenient(
    log: &crate::write_log::KeyLog,
    state: &KeyState,
    damaged: bool,
) -> Result<(), String> {
    let applied = recovered_prefix::check(log, state)?;
    if damaged {
        return Ok(());
    }
    acknowledged::check(log, applied)
}
