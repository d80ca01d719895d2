//! The types-and-transactions world: one node (2-4 shards by seed) and, all driven by the
//! seed, data clients (collections and MULTI/EXEC over their own keys), queue producers and
//! consumers (blocking pops on shared keys), FIFO probes (two consumers blocked in a known
//! order), subscribers and one publisher, and an auditor that reads the queues at the end.
//! There are no crashes: in-flight blocking and pub/sub across a crash are not modelled.
//!
//! Hosts report to one `Board`; after the simulation ends the world runs the pub/sub check,
//! which needs every subscriber's and the publisher's record.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;
use rand::Rng;

use crate::checkers::delivery::QueueLedger;
use crate::checkers::pubsub::PubSubLedger;
use crate::scenario::TypesSpec;
use crate::trace::Trace;
use crate::types_hosts;
use crate::world::{self, LATENCY_MS_MAX_HIGH, LATENCY_MS_MAX_LOW, LATENCY_MS_MIN};

/// The encoding thresholds set with CONFIG SET, each drawn from this range, small enough
/// that the workload's collections cross them both ways.
const THRESHOLD_MIN: usize = 1;
const THRESHOLD_MAX: usize = 6;
/// The settings, in the order `Params::thresholds` holds them.
pub const THRESHOLD_NAMES: [&str; 5] = [
    "list-max-listpack-size",
    "hash-max-listpack-entries",
    "set-max-intset-entries",
    "set-max-listpack-entries",
    "zset-max-listpack-entries",
];

/// The blocking command a FIFO probe uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FifoKind {
    Blpop,
    Brpop,
    Blmove,
    Bzpopmin,
}

/// One FIFO probe: which command, and which of the two waiters blocks first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FifoProbe {
    pub kind: FifoKind,
    pub first: usize,
}

/// Everything the seed decides about a types world.
#[derive(Clone, Debug)]
pub struct Params {
    pub seed: u64,
    pub spec: TypesSpec,
    pub shards: usize,
    pub latency_ms_max: u64,
    /// Which hosts speak RESP3, by role.
    pub data_resp3: Vec<bool>,
    pub consumer_resp3: Vec<bool>,
    pub subscriber_resp3: Vec<bool>,
    pub thresholds: [usize; 5],
    pub fifo: Vec<FifoProbe>,
}

/// What every host reports to, single-threaded as turmoil is.
#[derive(Debug, Default)]
pub struct Board {
    pub failure: Option<String>,
    pub trace: Trace,
    pub replies: u64,
    /// EXECs that a broken WATCH aborted, and ones that ran.
    pub aborted: u64,
    pub committed: u64,
    pub queues: QueueLedger,
    pub pubsub: PubSubLedger,
    /// Producers and consumers still running; the auditor waits for none.
    pub queue_hosts_left: usize,
    pub publisher_done_ms: Option<u64>,
}

/// A finished run.
#[derive(Debug)]
pub struct Outcome {
    pub trace: Trace,
    pub summary: String,
    pub elapsed_ms: u64,
    pub failure: Option<String>,
}

impl Board {
    /// Records the first failure; later ones are consequences.
    pub fn fail(&mut self, host: &str, at_ms: u64, detail: String) {
        if self.failure.is_none() {
            self.failure = Some(format!("{host} at_ms={at_ms}: {detail}"));
        }
    }

    /// Adds one exchange (or one received frame) to the trace.
    pub fn record(&mut self, host: &str, at_ms: u64, args: &[Bytes], reply: &str) {
        let mut fields: Vec<&[u8]> = vec![host.as_bytes()];
        fields.extend(args.iter().map(|arg| &arg[..]));
        fields.push(reply.as_bytes());
        self.trace.record(at_ms, &fields);
        self.replies += 1;
    }
}

impl Params {
    pub fn derive(seed: u64, spec: &TypesSpec) -> Params {
        let mut rng = world::stream(seed, "types-params");
        let shards = rng.gen_range(spec.shards.clone());
        let latency_ms_max = rng.gen_range(LATENCY_MS_MAX_LOW..=LATENCY_MS_MAX_HIGH);
        // The first host of each role speaks RESP2 and the second RESP3; the rest by seed.
        let mut protocols = |count: usize| -> Vec<bool> {
            (0..count)
                .map(|index| match index {
                    0 => false,
                    1 => true,
                    _ => rng.gen_bool(0.5),
                })
                .collect()
        };
        let data_resp3 = protocols(spec.data);
        let consumer_resp3 = protocols(spec.consumers);
        let subscriber_resp3 = protocols(spec.subscribers);
        let thresholds = [(); 5].map(|_| rng.gen_range(THRESHOLD_MIN..=THRESHOLD_MAX));
        const KINDS: [FifoKind; 4] = [
            FifoKind::Blpop,
            FifoKind::Brpop,
            FifoKind::Blmove,
            FifoKind::Bzpopmin,
        ];
        let fifo = (0..spec.fifo)
            .map(|_| FifoProbe {
                kind: KINDS[rng.gen_range(0..KINDS.len())],
                first: rng.gen_range(0..2),
            })
            .collect();
        let params = Params {
            seed,
            spec: spec.clone(),
            shards,
            latency_ms_max,
            data_resp3,
            consumer_resp3,
            subscriber_resp3,
            thresholds,
            fifo,
        };
        assert!(spec.shards.contains(&params.shards));
        assert!(params.latency_ms_max > LATENCY_MS_MIN);
        params
    }

    /// One line with every derived parameter, printed before the run.
    pub fn describe(&self) -> String {
        let resp = |flags: &[bool]| -> String {
            let codes: Vec<&str> = flags.iter().map(|f| if *f { "3" } else { "2" }).collect();
            codes.join(",")
        };
        let thresholds: Vec<String> = THRESHOLD_NAMES
            .iter()
            .zip(self.thresholds)
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let fifo: Vec<String> = self
            .fifo
            .iter()
            .map(|probe| format!("{:?}/{}", probe.kind, probe.first))
            .collect();
        let spec = &self.spec;
        format!(
            "seed={} shards={} latency_ms={}..{} data={} ops={} resp_data=[{}] producers={} consumers={} items={} resp_consumers=[{}] subscribers={} messages={} resp_subscribers=[{}] fifo=[{}] {}",
            self.seed,
            self.shards,
            LATENCY_MS_MIN,
            self.latency_ms_max,
            spec.data,
            spec.ops,
            resp(&self.data_resp3),
            spec.producers,
            spec.consumers,
            spec.items,
            resp(&self.consumer_resp3),
            spec.subscribers,
            spec.messages,
            resp(&self.subscriber_resp3),
            fifo.join(","),
            thresholds.join(" ")
        )
    }
}

/// Runs the world `params` describes to its end, then the checks that need every record.
pub fn run(params: &Params) -> Outcome {
    let board = Rc::new(RefCell::new(Board {
        queue_hosts_left: params.spec.producers + params.spec.consumers,
        ..Board::default()
    }));
    let mut sim = world::build_sim(params.seed, params.latency_ms_max);
    world::add_node(&mut sim, params.seed, params.shards);
    for host in types_hosts::hosts(params) {
        let name = host.name();
        let (params, board) = (params.clone(), board.clone());
        sim.client(name, async move {
            types_hosts::run(host, params, board).await;
            Ok(())
        });
    }
    loop {
        let finished = match sim.step() {
            Ok(finished) => finished,
            Err(error) => {
                board
                    .borrow_mut()
                    .failure
                    .get_or_insert(format!("the simulation stopped: {error}"));
                break;
            }
        };
        if finished || board.borrow().failure.is_some() {
            break;
        }
    }
    let elapsed_ms = world::duration_ms(sim.elapsed());
    drop(sim);
    let mut board = board.borrow_mut();
    if board.failure.is_none() {
        if let Err(detail) = board.pubsub.finish() {
            board.fail("pubsub", elapsed_ms, detail);
        }
    }
    let summary = format!(
        "replies={} committed={} aborted={} pushed={} delivered={} timeouts={} messages={} deliveries={} events={} virtual_ms={elapsed_ms}",
        board.replies,
        board.committed,
        board.aborted,
        board.queues.pushed(),
        board.queues.delivered(),
        board.queues.timeouts,
        board.pubsub.messages(),
        board.pubsub.deliveries(),
        board.trace.events(),
    );
    Outcome {
        trace: board.trace.clone(),
        summary,
        elapsed_ms,
        failure: board.failure.clone(),
    }
}
