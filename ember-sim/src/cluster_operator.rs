//! The operator: a host that runs the cluster scenario's orders the way a person with
//! redis-cli would, through the nodes' client ports: CLUSTER MEET to join, DELSLOTSRANGE
//! and ADDSLOTSRANGE to spread the slots, SETSLOT IMPORTING/MIGRATING, GETKEYSINSLOT and
//! MIGRATE to move a slot live, SETSLOT NODE to hand it over, CLUSTER INFO and GET to see
//! what clients see, KEYS to count what each node holds.
//!
//! Every change is retried until the committed topology shows it, because a proposal that
//! times out may still commit (a leader crashed mid-change, a partition healed), and a
//! retry of a change that did commit may be refused. Reading the topology to decide is the
//! read-only hook the checkers use too; the changes themselves go through the real
//! commands.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ember_cluster::topology::{NodeName, Topology, SLOT_COUNT};
use ember_net::Env;
use ember_node::slot::key_slot;
use ember_proto::Frame;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::checkers::linearizable::show;
use crate::checkers::{converged, key_census};
use crate::cluster_client::Keys;
use crate::cluster_link::{args, error_text, render, Link};
use crate::cluster_script::{MigrationFault, Step, Then};
use crate::cluster_world::{Board, ClientPhase, FaultRequest};
use crate::world::EPOCH_UNIX_MS;

/// How long one exchange may take.
const CALL_TIMEOUT_MS: u64 = 3_000;
/// How long an order may take before it fails.
const ORDER_MS_MAX: u64 = 120_000;
/// The pause between polls of the topology and between retries.
const POLL_MS: u64 = 20;
/// Keys one MIGRATE moves, and its timeout.
const MIGRATE_BATCH_KEYS: usize = 3;
const MIGRATE_TIMEOUT_MS: u64 = 1_000;
/// How long a fault in the middle of a migration or a topology change lasts.
const FAULT_MS_MIN: u64 = 400;
const FAULT_MS_MAX: u64 = 2_500;

/// What the operator host needs.
pub struct OperatorSetup {
    pub seed: u64,
    pub rng: ChaCha8Rng,
    /// Every node's client address.
    pub nodes: Vec<SocketAddr>,
    pub clients: usize,
    pub keys: usize,
    pub board: Rc<RefCell<Board>>,
}

struct Operator {
    setup: OperatorSetup,
    env: Env,
    links: BTreeMap<usize, Link>,
    /// Node ids, learned with CLUSTER MYID (they survive restarts).
    ids: Vec<Option<NodeName>>,
    /// When the current order must be done by.
    deadline_ms: u64,
}

/// The operator's life: wait for an order, carry it out, answer; forever.
pub async fn run(setup: OperatorSetup) -> turmoil::Result {
    let env = Env::simulation(
        setup.seed,
        "operator",
        ember_net::SimDisk::new(setup.seed),
        1,
        EPOCH_UNIX_MS,
    );
    let nodes = setup.nodes.len();
    let mut operator = Operator {
        setup,
        env,
        links: BTreeMap::new(),
        ids: vec![None; nodes],
        deadline_ms: 0,
    };
    loop {
        let order = operator.setup.board.borrow_mut().order.take();
        let Some(step) = order else {
            operator.sleep_ms(5).await;
            continue;
        };
        operator.deadline_ms = operator.now_ms() + ORDER_MS_MAX;
        let answer = operator.execute(&step).await;
        let now_ms = operator.now_ms();
        let mut board = operator.setup.board.borrow_mut();
        let shown = match &answer {
            Ok(lines) => lines.join(" | "),
            Err(error) => format!("FAILED {error}"),
        };
        board.note(
            now_ms,
            &[
                b"operator",
                format!("{step:?}").as_bytes(),
                shown.as_bytes(),
            ],
        );
        board.answer = Some(answer);
    }
}

impl Operator {
    fn now_ms(&self) -> u64 {
        self.env.unix_ms() - EPOCH_UNIX_MS
    }

    async fn sleep_ms(&self, ms: u64) {
        self.env.sleep(Duration::from_millis(ms)).await;
    }

    fn check_deadline(&self, what: &str) -> Result<(), String> {
        if self.now_ms() > self.deadline_ms {
            return Err(format!("{what}: not done within {ORDER_MS_MAX} ms"));
        }
        if self.setup.board.borrow().failure.is_some() {
            return Err("the run failed meanwhile".to_string());
        }
        Ok(())
    }

    async fn execute(&mut self, step: &Step) -> Result<Vec<String>, String> {
        match step {
            Step::Join => self.join().await,
            Step::Spread => self.spread().await,
            Step::Converge { within_ms } => self.converge(*within_ms).await,
            Step::ExpectDown { within_ms } => self.expect_down(*within_ms).await,
            Step::LeaderCrash => self.leader_crash().await,
            Step::Migrate { slots, fault, then } => self.migrate(*slots, *fault, *then).await,
            Step::Census => self.census().await,
            other => unreachable!("{other:?} is the world's step"),
        }
    }

    /// One exchange with node `node`; a connection error drops the cached link.
    async fn call(&mut self, node: usize, command: Vec<Bytes>) -> Result<Frame, String> {
        if !self.links.contains_key(&node) {
            let link = Link::open(&self.env, self.setup.nodes[node]).await?;
            self.links.insert(node, link);
        }
        let link = self.links.get_mut(&node).expect("just opened");
        let result = match link
            .exchange(&self.env, std::slice::from_ref(&command), CALL_TIMEOUT_MS)
            .await
        {
            Ok(mut replies) => Ok(replies.remove(0)),
            Err(error) => {
                self.links.remove(&node);
                Err(format!("{error:?}"))
            }
        };
        let shown = match &result {
            Ok(frame) => show(frame),
            Err(error) => error.clone(),
        };
        let (now_ms, target) = (self.now_ms(), format!("node{}", node + 1));
        let fields: [&[u8]; 4] = [
            b"operator",
            target.as_bytes(),
            &render(&command).into_bytes(),
            shown.as_bytes(),
        ];
        self.setup.board.borrow_mut().note(now_ms, &fields);
        result
    }

    /// Calls until a reply that is not an error comes, or the order's deadline passes.
    async fn call_until_ok(&mut self, node: usize, command: Vec<Bytes>) -> Result<Frame, String> {
        loop {
            self.check_deadline(&render(&command))?;
            match self.call(node, command.clone()).await {
                Ok(frame) if error_text(&frame).is_none() => return Ok(frame),
                Ok(_) | Err(_) => self.sleep_ms(POLL_MS).await,
            }
        }
    }

    /// Node `node`'s id, asking it once it runs.
    async fn id(&mut self, node: usize) -> Result<NodeName, String> {
        if let Some(id) = self.ids[node] {
            return Ok(id);
        }
        let reply = self.call_until_ok(node, args(&["CLUSTER", "MYID"])).await?;
        let Frame::Bulk(text) = &reply else {
            return Err(format!("CLUSTER MYID replied {}", show(&reply)));
        };
        let id = NodeName::parse(&String::from_utf8_lossy(text))
            .ok_or_else(|| format!("CLUSTER MYID replied {text:?}"))?;
        self.ids[node] = Some(id);
        Ok(id)
    }

    /// Every node's id, in node order.
    async fn all_ids(&mut self) -> Result<Vec<NodeName>, String> {
        let mut ids = Vec::with_capacity(self.setup.nodes.len());
        for node in 0..self.setup.nodes.len() {
            ids.push(self.id(node).await?);
        }
        Ok(ids)
    }

    /// The newest committed topology a running node has applied: the one with the
    /// highest applied log index. (A node replaying its log after a restart passes through
    /// older states, so "some node shows it" is not "it holds now".)
    fn topology(&self) -> Option<Arc<Topology>> {
        let board = self.setup.board.borrow();
        board
            .nodes
            .iter()
            .flatten()
            .max_by_key(|handle| handle.cluster.raft_metrics().last_applied)
            .map(|handle| handle.cluster.topology())
    }

    /// Whether the newest committed topology satisfies `done`.
    fn committed(&self, done: &dyn Fn(&Topology) -> bool) -> bool {
        self.topology().is_some_and(|topology| done(&topology))
    }

    /// Sends `command` to node `node` until a committed topology satisfies `done`.
    async fn propose_until(
        &mut self,
        node: usize,
        command: Vec<Bytes>,
        done: &dyn Fn(&Topology) -> bool,
    ) -> Result<(), String> {
        loop {
            if self.committed(done) {
                return Ok(());
            }
            self.check_deadline(&render(&command))?;
            let _ = self.call(node, command.clone()).await;
            // Committed or refused, the topology says which next time round; refusals of
            // a change that already happened are expected after an ambiguous attempt.
            self.sleep_ms(POLL_MS).await;
        }
    }

    /// Waits until every running node's topology satisfies `done`.
    async fn wait_all(
        &mut self,
        what: &str,
        done: &dyn Fn(&Topology) -> bool,
    ) -> Result<(), String> {
        loop {
            let all = {
                let board = self.setup.board.borrow();
                let handles: Vec<_> = board.nodes.iter().collect();
                handles.iter().all(|node| {
                    node.as_ref()
                        .is_some_and(|handle| done(&handle.cluster.topology()))
                })
            };
            if all {
                return Ok(());
            }
            self.check_deadline(what)?;
            self.sleep_ms(POLL_MS).await;
        }
    }

    fn address_words(&self, node: usize) -> (String, String) {
        let addr = self.setup.nodes[node];
        (addr.ip().to_string(), addr.port().to_string())
    }

    /// Node 1 bootstraps; each other node joins by a MEET sent either to a member or to
    /// itself, as the seed picks.
    async fn join(&mut self) -> Result<Vec<String>, String> {
        let count = self.setup.nodes.len();
        let mut joined = vec![0];
        for node in 1..count {
            let id = self.id(node).await?;
            let member = *joined.choose(&mut self.setup.rng).expect("node 1 is in");
            let (sender, met) = match self.setup.rng.gen_bool(0.5) {
                true => (member, node),
                false => (node, member),
            };
            let (ip, port) = self.address_words(met);
            let meet = args(&["CLUSTER", "MEET", &ip, &port]);
            self.propose_until(sender, meet, &|t| t.node(&id).is_some())
                .await?;
            joined.push(node);
        }
        self.wait_all("every node knows every node", &|t| {
            t.nodes().count() == count
        })
        .await?;
        self.converge_raft().await?;
        let voters = self.topology().map_or(0, |t| t.voters().count());
        Ok(vec![format!("ok nodes={count} voters={voters}")])
    }

    /// Waits until Raft's voters are the topology's everywhere.
    async fn converge_raft(&mut self) -> Result<(), String> {
        loop {
            let why = {
                let board = self.setup.board.borrow();
                raft_why_not(&board)
            };
            let Some(why) = why else {
                return Ok(());
            };
            self.check_deadline(&why)?;
            self.sleep_ms(POLL_MS).await;
        }
    }

    /// Node 1 gives up all but its share of the slots; each other node adds its share.
    async fn spread(&mut self) -> Result<Vec<String>, String> {
        let count = self.setup.nodes.len();
        let ranges = shares(count);
        if count > 1 {
            let mut delete = args(&["CLUSTER", "DELSLOTSRANGE"]);
            for (start, end) in &ranges[1..] {
                delete.push(Bytes::from(start.to_string()));
                delete.push(Bytes::from(end.to_string()));
            }
            let first_given = ranges[1].0;
            let owner_of_first = self.id(0).await?;
            self.propose_until(0, delete, &|t| {
                t.slot_owner(first_given)
                    .is_none_or(|owner| owner.name != owner_of_first)
            })
            .await?;
        }
        for (node, (start, end)) in ranges.iter().enumerate().skip(1) {
            let id = self.id(node).await?;
            let add = args(&[
                "CLUSTER",
                "ADDSLOTSRANGE",
                &start.to_string(),
                &end.to_string(),
            ]);
            let start = *start;
            self.propose_until(node, add, &|t| {
                t.slot_owner(start).is_some_and(|owner| owner.name == id)
            })
            .await?;
        }
        let all = usize::from(SLOT_COUNT);
        self.wait_all("every slot is assigned", &|t| t.slots_assigned() == all)
            .await?;
        Ok(vec![format!("ok owners={count}")])
    }

    /// Waits until the nodes have converged, then asks each for CLUSTER INFO.
    async fn converge(&mut self, within_ms: u64) -> Result<Vec<String>, String> {
        let deadline_ms = self.now_ms() + within_ms;
        loop {
            let why = {
                let board = self.setup.board.borrow();
                converged::why_not(&board.nodes)
            };
            let Some(why) = why else {
                break;
            };
            if self.now_ms() > deadline_ms {
                return Err(format!("not converged within {within_ms} ms: {why}"));
            }
            self.check_deadline(&why)?;
            self.sleep_ms(POLL_MS).await;
        }
        for node in 0..self.setup.nodes.len() {
            let reply = self.call_until_ok(node, args(&["CLUSTER", "INFO"])).await?;
            let text = match &reply {
                Frame::Bulk(text) | Frame::Verbatim { text, .. } => {
                    String::from_utf8_lossy(text).into_owned()
                }
                other => return Err(format!("CLUSTER INFO replied {}", show(other))),
            };
            if !text.contains("cluster_state:ok") {
                return Err(format!("node{} says {text:?} after converging", node + 1));
            }
        }
        self.setup.board.borrow_mut().calm = true;
        Ok(vec!["ok converged".to_string()])
    }

    /// Nodes cut off from the majority of the slot-serving masters refuse keys with
    /// CLUSTERDOWN; the others serve their own slots.
    async fn expect_down(&mut self, within_ms: u64) -> Result<Vec<String>, String> {
        let Some(topology) = self.topology() else {
            return Err("no node runs".to_string());
        };
        let ids = self.all_ids().await?;
        let count = ids.len();
        let serving: Vec<usize> = (0..count)
            .filter(|n| !topology.slot_ranges(&ids[*n]).is_empty())
            .collect();
        let (mut down, mut up) = (0, 0);
        for (node, id) in ids.iter().enumerate() {
            let reach = {
                let board = self.setup.board.borrow();
                serving.iter().filter(|s| board.linked(node, **s)).count()
            };
            let quorum = reach * 2 > serving.len();
            let Some(key) = probe_key(&topology, *id) else {
                continue;
            };
            let deadline_ms = self.now_ms() + within_ms;
            loop {
                let reply = self
                    .call(node, vec![Bytes::from_static(b"GET"), key.clone()])
                    .await;
                let refused = match &reply {
                    Ok(frame) => error_text(frame).is_some_and(|e| e.starts_with("CLUSTERDOWN")),
                    Err(_) => false,
                };
                let served = matches!(&reply, Ok(frame) if error_text(frame).is_none());
                if (quorum && served) || (!quorum && refused) {
                    break;
                }
                if self.now_ms() > deadline_ms {
                    let wanted = if quorum {
                        "serve"
                    } else {
                        "refuse with CLUSTERDOWN"
                    };
                    return Err(format!(
                        "node{} did not {wanted} within {within_ms} ms: {reply:?}",
                        node + 1
                    ));
                }
                self.sleep_ms(POLL_MS * 5).await;
            }
            if quorum {
                up += 1;
            } else {
                down += 1;
            }
        }
        Ok(vec![format!("ok down={down} serving={up}")])
    }

    /// Moves one slot that holds no key while the Raft leader crashes at a seed-picked
    /// moment during the change; the change must still complete.
    async fn leader_crash(&mut self) -> Result<Vec<String>, String> {
        let used: BTreeSet<u16> = self.client_slots().keys().copied().collect();
        let topology = self.topology().ok_or("no node runs")?;
        let slot = loop {
            let slot = self.setup.rng.gen_range(0..SLOT_COUNT);
            if !used.contains(&slot) && topology.slot_owner(slot).is_some() {
                break slot;
            }
        };
        let after_ms = self.setup.rng.gen_range(0..60);
        let down_ms = self.setup.rng.gen_range(FAULT_MS_MIN..=FAULT_MS_MAX);
        let request = FaultRequest::CrashLeader { after_ms, down_ms };
        self.setup.board.borrow_mut().requests.push_back(request);
        self.move_slot(slot, None).await?;
        Ok(vec!["ok moved=1".to_string()])
    }

    /// Slot -> the client keys in it.
    fn client_slots(&self) -> BTreeMap<u16, Vec<Bytes>> {
        let mut slots: BTreeMap<u16, Vec<Bytes>> = BTreeMap::new();
        for client in 0..self.setup.clients {
            for key in Keys::of(client, self.setup.keys).all() {
                slots.entry(key_slot(key)).or_default().push(key.clone());
            }
        }
        slots
    }

    /// Migrates `count` slots that hold keys, under the clients' workload; the first one
    /// meets `fault` partway, and is then resumed or rolled back.
    async fn migrate(
        &mut self,
        count: usize,
        fault: MigrationFault,
        then: Then,
    ) -> Result<Vec<String>, String> {
        let mut candidates: Vec<u16> = self.client_slots().keys().copied().collect();
        candidates.shuffle(&mut self.setup.rng);
        let mut moved = 0;
        for (index, slot) in candidates.into_iter().take(count).enumerate() {
            let plan = (index == 0 && fault != MigrationFault::None).then(|| FaultPlan {
                fault,
                then,
                after_batches: self.setup.rng.gen_range(1..=3),
                ms: self.setup.rng.gen_range(FAULT_MS_MIN..=FAULT_MS_MAX),
            });
            if self.move_slot(slot, plan).await? {
                moved += 1;
            }
        }
        let then = match then {
            Then::Resume => "resume",
            Then::Rollback => "rollback",
        };
        Ok(vec![format!(
            "ok slots={count} moved={moved} fault={} then={then}",
            fault_name(fault)
        )])
    }

    /// Moves `slot` from its owner to another node, as `redis-cli --cluster reshard`
    /// does; with a fault plan, the fault strikes after some batches. True if the slot
    /// changed hands (false when rolled back).
    async fn move_slot(&mut self, slot: u16, plan: Option<FaultPlan>) -> Result<bool, String> {
        let topology = self.topology().ok_or("no node runs")?;
        let ids = self.all_ids().await?;
        let count = ids.len();
        let owner = topology.slot_owner(slot).ok_or("an unassigned slot")?.name;
        let source = ids
            .iter()
            .position(|id| *id == owner)
            .expect("a known owner");
        let others: Vec<usize> = (0..count).filter(|n| *n != source).collect();
        let target = *others.choose(&mut self.setup.rng).ok_or("a single node")?;
        let (source_id, target_id) = (ids[source], ids[target]);
        let text = slot.to_string();
        let importing = args(&["CLUSTER", "SETSLOT", &text, "IMPORTING", source_id.as_str()]);
        self.propose_until(target, importing, &|t| {
            t.importing(slot) == Some((&target_id, &source_id))
        })
        .await?;
        let migrating = args(&["CLUSTER", "SETSLOT", &text, "MIGRATING", target_id.as_str()]);
        self.propose_until(source, migrating, &|t| {
            t.migrating(slot) == Some(&target_id)
        })
        .await?;
        let mut pending = plan;
        let mut batches = 0;
        loop {
            let more = self.migrate_batch(slot, source, target).await?;
            batches += 1;
            // The fault strikes after its batches, or before the hand-over at the latest,
            // while the next MIGRATE may already be on its way.
            if let Some(plan) = pending.filter(|plan| plan.after_batches <= batches || !more) {
                pending = None;
                self.strike(plan, source, target);
                if plan.then == Then::Rollback {
                    self.roll_back(slot, source, target).await?;
                    return Ok(false);
                }
            }
            if !more {
                break;
            }
        }
        let node = args(&["CLUSTER", "SETSLOT", &text, "NODE", target_id.as_str()]);
        self.propose_until(target, node, &|t| {
            t.slot_owner(slot).is_some_and(|o| o.name == target_id) && t.migrating(slot).is_none()
        })
        .await?;
        Ok(true)
    }

    /// Asks the world for the plan's fault, striking the source or the target.
    fn strike(&mut self, plan: FaultPlan, source: usize, target: usize) {
        let request = match plan.fault {
            MigrationFault::None => return,
            MigrationFault::CrashSource => FaultRequest::Crash {
                node: source,
                down_ms: plan.ms,
            },
            MigrationFault::CrashTarget => FaultRequest::Crash {
                node: target,
                down_ms: plan.ms,
            },
            MigrationFault::PartitionSource => FaultRequest::Isolate {
                node: source,
                ms: plan.ms,
            },
            MigrationFault::PartitionTarget => FaultRequest::Isolate {
                node: target,
                ms: plan.ms,
            },
        };
        self.setup.board.borrow_mut().requests.push_back(request);
    }

    /// Moves one batch of `slot`'s keys from `from` to `to` (retrying until it goes);
    /// false when `from` has none left.
    async fn migrate_batch(&mut self, slot: u16, from: usize, to: usize) -> Result<bool, String> {
        loop {
            let listing = args(&[
                "CLUSTER",
                "GETKEYSINSLOT",
                &slot.to_string(),
                &MIGRATE_BATCH_KEYS.to_string(),
            ]);
            let reply = self.call_until_ok(from, listing).await?;
            let Frame::Array(keys) = reply else {
                return Err(format!("GETKEYSINSLOT replied {}", show(&reply)));
            };
            if keys.is_empty() {
                return Ok(false);
            }
            let (ip, port) = self.address_words(to);
            let timeout = MIGRATE_TIMEOUT_MS.to_string();
            let mut command = args(&["MIGRATE", &ip, &port, "", "0", &timeout, "REPLACE", "KEYS"]);
            for key in &keys {
                let Frame::Bulk(key) = key else {
                    return Err(format!("GETKEYSINSLOT listed {}", show(key)));
                };
                command.push(key.clone());
            }
            match self.call(from, command.clone()).await {
                Ok(Frame::Simple(text)) if &text[..] == b"OK" || &text[..] == b"NOKEY" => {
                    let moved = if &text[..] == b"OK" { keys.len() } else { 0 };
                    self.setup.board.borrow_mut().stats.migrated_keys += moved as u64;
                    return Ok(true);
                }
                Ok(frame) if error_text(&frame).is_some() => {}
                Ok(frame) => return Err(format!("MIGRATE replied {}", show(&frame))),
                Err(_) => {}
            }
            self.check_deadline("MIGRATE")?;
            self.sleep_ms(POLL_MS).await;
        }
    }

    /// Rolls back a migration of `slot` from `source` to `target`: the keys already moved
    /// go back to the source, and the slot is left with the source, stable.
    async fn roll_back(&mut self, slot: u16, source: usize, target: usize) -> Result<(), String> {
        let (source_id, target_id) = (self.id(source).await?, self.id(target).await?);
        let text = slot.to_string();
        // One commit swaps the roles: the target owns the slot and migrates it back.
        let reverse = args(&["CLUSTER", "SETSLOT", &text, "REVERSE"]);
        self.propose_until(target, reverse, &|t| {
            t.slot_owner(slot).is_some_and(|o| o.name == target_id)
                && t.migrating(slot) == Some(&source_id)
        })
        .await?;
        while self.migrate_batch(slot, target, source).await? {}
        let node = args(&["CLUSTER", "SETSLOT", &text, "NODE", source_id.as_str()]);
        self.propose_until(source, node, &|t| {
            t.slot_owner(slot).is_some_and(|o| o.name == source_id) && t.migrating(slot).is_none()
        })
        .await
    }

    /// Every key on every node, each read back where it is; judged by `key_census`.
    async fn census(&mut self) -> Result<Vec<String>, String> {
        let (phase, models) = {
            let board = self.setup.board.borrow();
            (board.clients, board.models.clone())
        };
        if phase != ClientPhase::Stopping || models.len() != self.setup.clients {
            return Err("the census needs the clients stopped".to_string());
        }
        let topology = self.topology().ok_or("no node runs")?;
        let ids = self.all_ids().await?;
        let mut census = key_census::Census::default();
        for (node, id) in ids.iter().enumerate() {
            let reply = self.call_until_ok(node, args(&["KEYS", "*"])).await?;
            let Frame::Array(keys) = reply else {
                return Err(format!("KEYS replied {}", show(&reply)));
            };
            for key in keys {
                let Frame::Bulk(key) = key else {
                    return Err(format!("KEYS listed {}", show(&key)));
                };
                let owned = topology
                    .slot_owner(key_slot(&key))
                    .is_some_and(|owner| owner.name == *id);
                let value = if owned {
                    let get = vec![Bytes::from_static(b"GET"), key.clone()];
                    match self.call_until_ok(node, get).await? {
                        Frame::Bulk(value) => value,
                        other => return Err(format!("GET {key:?} replied {}", show(&other))),
                    }
                } else {
                    Bytes::new()
                };
                census.held.entry(key).or_default().push((node, value));
            }
        }
        let owner = |key: &Bytes| {
            let name = topology.slot_owner(key_slot(key))?.name;
            ids.iter().position(|id| *id == name)
        };
        let problems = key_census::check(&census, &models, owner, self.now_ms());
        if !problems.is_empty() {
            return Err(format!("census: {}", problems.join("; ")));
        }
        let keys = census.held.len().to_string();
        let now_ms = self.now_ms();
        self.setup
            .board
            .borrow_mut()
            .note(now_ms, &[b"census", keys.as_bytes()]);
        Ok(vec!["ok".to_string()])
    }
}

/// A fault to strike in the middle of a migration.
#[derive(Clone, Copy, Debug)]
struct FaultPlan {
    fault: MigrationFault,
    then: Then,
    /// Batches moved before it strikes.
    after_batches: usize,
    /// How long the node stays down or cut off.
    ms: u64,
}

/// Why Raft's voters are not yet the topology's on every running node.
fn raft_why_not(board: &Board) -> Option<String> {
    for (index, handle) in board.nodes.iter().enumerate() {
        let Some(handle) = handle else {
            return Some(format!("node{} is down", index + 1));
        };
        let topology = handle.cluster.topology();
        let mut wanted: Vec<u64> = topology.voters().map(|v| v.name.raft_id()).collect();
        wanted.sort_unstable();
        let metrics = handle.cluster.raft_metrics();
        let membership = metrics.membership_config.membership();
        let voters: Vec<u64> = membership.voter_ids().collect();
        if voters != wanted || membership.get_joint_config().len() != 1 {
            return Some(format!("node{}'s Raft voters are {voters:?}", index + 1));
        }
    }
    None
}

/// The slot ranges `count` nodes get, as even as can be.
fn shares(count: usize) -> Vec<(u16, u16)> {
    let total = usize::from(SLOT_COUNT);
    (0..count)
        .map(|node| {
            let start = total * node / count;
            let end = total * (node + 1) / count - 1;
            (start as u16, end as u16)
        })
        .collect()
}

/// A key whose slot `owner` owns, to probe it with.
fn probe_key(topology: &Topology, owner: NodeName) -> Option<Bytes> {
    (0..100_000).find_map(|n| {
        let key = Bytes::from(format!("probe:{n}"));
        let slot = key_slot(&key);
        topology
            .slot_owner(slot)
            .is_some_and(|info| info.name == owner)
            .then_some(key)
    })
}

fn fault_name(fault: MigrationFault) -> &'static str {
    match fault {
        MigrationFault::None => "none",
        MigrationFault::CrashSource => "crash-source",
        MigrationFault::CrashTarget => "crash-target",
        MigrationFault::PartitionSource => "partition-source",
        MigrationFault::PartitionTarget => "partition-target",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_slot_once() {
        for count in 1..=7 {
            let ranges = shares(count);
            assert_eq!(ranges[0].0, 0);
            assert_eq!(ranges[count - 1].1, SLOT_COUNT - 1);
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].1 + 1, pair[1].0);
            }
        }
    }
}
