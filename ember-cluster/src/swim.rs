//! SWIM membership and failure detection, as a sans-IO state machine.
//!
//! The machine owns no socket, clock or thread. Its driver calls `tick(now_ms)` often
//! (every few milliseconds of its clock) and `receive(message, now_ms)` for each cluster
//! bus message, sends the `Outgoing` messages each call returns, and acts on the
//! `SwimEvent`s. Its only randomness is the seeded generator it is built with, so the
//! same inputs give the same outputs, byte for byte.
//!
//! # The protocol
//!
//! - Probing: once per probe interval the node pings the next member of a shuffled
//!   round-robin order (reshuffled each round; a new member goes in at a random place in
//!   the rest of the round), so every member is probed within two rounds. Without an ack
//!   by the probe timeout it asks `indirect_probes` random alive members to ping the
//!   target for it (`PingReq`); they relay the target's ack under the prober's sequence.
//!   Without any ack by the end of the interval the target becomes suspect.
//! - Suspicion (Lifeguard): a suspect has between `suspicion_min` and `suspicion_max` to
//!   refute before the suspecting node declares it dead. The minimum is
//!   `suspicion_mult` probe intervals, scaled by log10 of the cluster size; the timeout
//!   starts at the maximum and falls to the minimum as independent nodes suspect the same
//!   incarnation (linearly here, in integers, so runs replay exactly).
//! - Incarnations: only a member raises its own incarnation. A claim about a member
//!   replaces the one held if its incarnation is higher, or equal with a graver state
//!   (`MemberUpdate::overrides`). A node that hears it is suspected, dead or left (at its
//!   incarnation or above) refutes by announcing itself alive one incarnation higher.
//! - Dissemination: every change is queued and piggybacked on pings, ping-reqs and acks,
//!   the least-sent first, each sent `retransmit_mult * ceil(log2(n + 1))` times. A message
//!   to a member held suspect or dead carries that claim first, so the member hears it
//!   and refutes at once (Lifeguard's buddy system).
//! - Joining and catching up: `join` sends a state sync (push-pull) to seed addresses
//!   until some member answers; each node also syncs with one random known member (dead
//!   ones included) about every `sync_interval_ms`, which heals a partition after its two
//!   halves have declared each other dead and stopped gossiping about it.
//! - Leaving: `leave` announces the node `Left` one incarnation higher, directly to every
//!   member it knows alive, and the machine goes quiet.
//!
//! Messages name their sender's record, so a reply goes to the bus address the sender
//! declares (a connection's source address is an ephemeral port, not a bus address).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use ember_proto::cluster_bus::{
    Ack, BusMessage, MemberState, MemberUpdate, NodeAddress, NodeId, Ping, PingReq, StateSync,
    BUS_MEMBERS_MAX, BUS_UPDATES_MAX,
};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Redis Cluster's default `cluster-node-timeout`.
pub const NODE_TIMEOUT_DEFAULT_MS: u64 = 5000;

/// The shortest node timeout the derived intervals stay meaningful for.
pub const NODE_TIMEOUT_MIN_MS: u64 = 100;

/// The most other members one node tracks: a state sync carries them and the node.
pub const MEMBERS_MAX: usize = BUS_MEMBERS_MAX - 1;

/// The most ping-reqs a node relays at once; more are dropped unanswered.
pub const RELAYS_MAX: usize = 256;

/// The most seed addresses `join` keeps.
pub const SEEDS_MAX: usize = 16;

const _: () = assert!(MEMBERS_MAX < BUS_MEMBERS_MAX);
const _: () = assert!(NODE_TIMEOUT_MIN_MS <= NODE_TIMEOUT_DEFAULT_MS);

/// The machine's timing and fan-out. `from_node_timeout` derives them from the cluster's
/// node timeout; fields may be changed after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwimConfig {
    /// How often a member is probed.
    pub probe_interval_ms: u64,
    /// How long a direct ping waits for its ack before indirect probes go out.
    pub probe_timeout_ms: u64,
    /// How many members are asked to probe a silent target.
    pub indirect_probes: usize,
    /// The shortest suspicion, in probe intervals, before scaling by cluster size.
    pub suspicion_mult: u64,
    /// The longest suspicion, as a multiple of the shortest.
    pub suspicion_max_mult: u64,
    /// λ: each update is sent `retransmit_mult * ceil(log2(n + 1))` times.
    pub retransmit_mult: u64,
    /// The most updates piggybacked on one message.
    pub piggyback_max: usize,
    /// About how often a node exchanges its whole table with a random member.
    pub sync_interval_ms: u64,
}

/// A message for the driver to send to a bus address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub to: SocketAddr,
    pub message: BusMessage,
}

/// A change in what this node believes about a member, for the caller to act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwimEvent {
    /// A member heard of for the first time, alive or suspect.
    NodeJoined { node: NodeId, address: NodeAddress },
    /// A member is suspected at this incarnation; it is still counted as up.
    NodeSuspected { node: NodeId, incarnation: u64 },
    /// A member's suspicion ran out: it is down.
    NodeFailed { node: NodeId, incarnation: u64 },
    /// A suspect, dead or departed member is alive again, at this incarnation.
    NodeAlive {
        node: NodeId,
        address: NodeAddress,
        incarnation: u64,
    },
    /// A member left on purpose.
    NodeLeft { node: NodeId },
}

/// What one call produced: messages to send and events to act on, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwimOutput {
    pub messages: Vec<Outgoing>,
    pub events: Vec<SwimEvent>,
}

/// One node's view of the cluster and its probing state.
#[derive(Debug)]
pub struct Swim {
    config: SwimConfig,
    /// This node's own record: `Alive`, or `Left` once it has left.
    local: MemberUpdate,
    members: BTreeMap<NodeId, Member>,
    probe_order: Vec<NodeId>,
    probe_index: usize,
    probe: Option<Probe>,
    next_probe_ms: u64,
    next_sync_ms: u64,
    sequence: u64,
    relays: BTreeMap<u64, Relay>,
    broadcasts: BTreeMap<NodeId, Broadcast>,
    broadcast_serial: u64,
    seeds: Vec<SocketAddr>,
    next_join_ms: Option<u64>,
    now_ms: u64,
    rng: ChaCha8Rng,
    output: SwimOutput,
}

#[derive(Clone, Debug)]
struct Member {
    record: MemberUpdate,
    suspicion: Option<Suspicion>,
}

/// A running suspicion: who has suspected this incarnation, and its timeout's range.
#[derive(Clone, Debug)]
struct Suspicion {
    started_ms: u64,
    origins: BTreeSet<NodeId>,
    confirmations_expected: usize,
    timeout_min_ms: u64,
    timeout_max_ms: u64,
}

/// The probe of the current interval.
#[derive(Clone, Copy, Debug)]
struct Probe {
    target: NodeId,
    sequence: u64,
    sent_ms: u64,
    indirect_sent: bool,
}

/// A ping-req being served: the ping to the target went out under `sequence` (the key).
#[derive(Clone, Copy, Debug)]
struct Relay {
    origin: SocketAddr,
    origin_sequence: u64,
    target: NodeId,
    expires_ms: u64,
}

#[derive(Clone, Copy, Debug)]
struct Broadcast {
    update: MemberUpdate,
    transmits: u64,
    serial: u64,
}

impl SwimConfig {
    /// Timings for a cluster whose nodes count as failing after `node_timeout_ms`: five
    /// probes per timeout, half an interval for the direct ack, and a shortest suspicion
    /// of four intervals, so a crashed node's first failed probe plus the shortest
    /// suspicion is about one node timeout. Full syncs run every six timeouts.
    pub fn from_node_timeout(node_timeout_ms: u64) -> SwimConfig {
        let node_timeout_ms = node_timeout_ms.max(NODE_TIMEOUT_MIN_MS);
        let probe_interval_ms = node_timeout_ms / 5;
        let config = SwimConfig {
            probe_interval_ms,
            probe_timeout_ms: probe_interval_ms / 2,
            indirect_probes: 3,
            suspicion_mult: 4,
            suspicion_max_mult: 3,
            retransmit_mult: 3,
            piggyback_max: 16,
            sync_interval_ms: node_timeout_ms * 6,
        };
        config.check();
        config
    }

    /// Asserts the relations the machine relies on.
    fn check(&self) {
        assert!(self.probe_timeout_ms > 0);
        assert!(self.probe_timeout_ms < self.probe_interval_ms);
        assert!(self.suspicion_mult >= 1);
        assert!(self.suspicion_max_mult >= 1);
        assert!(self.retransmit_mult >= 1);
        assert!(self.piggyback_max >= 1);
        assert!(
            self.piggyback_max < BUS_UPDATES_MAX,
            "room for the buddy claim"
        );
        assert!(self.sync_interval_ms >= self.probe_interval_ms);
    }
}

impl Default for SwimConfig {
    fn default() -> SwimConfig {
        SwimConfig::from_node_timeout(NODE_TIMEOUT_DEFAULT_MS)
    }
}

impl Swim {
    /// A node alone, at `incarnation` (0 for a new node; a restarted node may pass one
    /// above any it used before, or 0 and refute what the cluster still believes).
    pub fn new(
        config: SwimConfig,
        node: NodeId,
        address: NodeAddress,
        incarnation: u64,
        rng: ChaCha8Rng,
        now_ms: u64,
    ) -> Swim {
        config.check();
        let mut swim = Swim {
            config,
            local: MemberUpdate {
                node,
                address,
                incarnation,
                state: MemberState::Alive,
                origin: node,
            },
            members: BTreeMap::new(),
            probe_order: Vec::new(),
            probe_index: 0,
            probe: None,
            next_probe_ms: now_ms,
            next_sync_ms: now_ms,
            sequence: 0,
            relays: BTreeMap::new(),
            broadcasts: BTreeMap::new(),
            broadcast_serial: 0,
            seeds: Vec::new(),
            next_join_ms: None,
            now_ms,
            rng,
            output: SwimOutput::default(),
        };
        // Spread the start of probing and syncing, so nodes started together do not
        // probe in lockstep.
        swim.next_probe_ms = now_ms + swim.rng.gen_range(0..config.probe_interval_ms);
        swim.next_sync_ms = now_ms + swim.sync_delay_ms();
        swim
    }

    /// Joins the cluster through `seeds` (bus addresses): a state sync to each, repeated
    /// every probe interval until some member is known alive.
    pub fn join(&mut self, seeds: &[SocketAddr], now_ms: u64) -> SwimOutput {
        self.advance(now_ms);
        self.seeds = seeds.iter().copied().take(SEEDS_MAX).collect();
        if !self.is_left() && !self.seeds.is_empty() {
            self.send_join();
        }
        self.take_output()
    }

    /// Runs the timers: the probe cycle, suspicion timeouts, relays, syncs and joins.
    pub fn tick(&mut self, now_ms: u64) -> SwimOutput {
        self.advance(now_ms);
        if self.is_left() {
            return self.take_output();
        }
        self.tick_probe();
        self.tick_suspicions();
        self.relays.retain(|_, relay| relay.expires_ms > now_ms);
        self.tick_sync();
        if self.next_join_ms.is_some_and(|at| now_ms >= at) {
            self.send_join();
        }
        self.take_output()
    }

    /// Handles one message from the bus. Messages that are not SWIM's are ignored.
    pub fn receive(&mut self, message: &BusMessage, now_ms: u64) -> SwimOutput {
        self.advance(now_ms);
        if self.is_left() {
            return self.take_output();
        }
        match message {
            BusMessage::Ping(ping) => self.on_ping(ping),
            BusMessage::PingReq(request) => self.on_ping_req(request),
            BusMessage::Ack(ack) => self.on_ack(ack),
            BusMessage::StateSync(sync) => self.on_sync(sync),
            BusMessage::Hello(_) | BusMessage::Raft { .. } => {}
        }
        self.take_output()
    }

    /// Leaves the cluster: tells every member known alive, then stays quiet.
    pub fn leave(&mut self, now_ms: u64) -> SwimOutput {
        self.advance(now_ms);
        if self.is_left() {
            return self.take_output();
        }
        self.local.incarnation = self.local.incarnation.saturating_add(1);
        self.local.state = MemberState::Left;
        self.probe = None;
        self.next_join_ms = None;
        let targets: Vec<SocketAddr> = self
            .members
            .values()
            .filter(|member| is_up(member.record.state))
            .map(|member| member.record.address.bus())
            .collect();
        for to in targets {
            let message = BusMessage::Ping(Ping {
                sequence: self.next_sequence(),
                sender: self.local,
                updates: vec![self.local],
            });
            self.output.messages.push(Outgoing { to, message });
        }
        self.take_output()
    }

    /// Drops a dead or departed member from the table (CLUSTER FORGET). A live member is
    /// kept: it would be heard of again at once. Returns whether it was dropped.
    pub fn forget(&mut self, node: NodeId) -> bool {
        let Some(member) = self.members.get(&node) else {
            return false;
        };
        if is_up(member.record.state) {
            return false;
        }
        self.members.remove(&node);
        self.broadcasts.remove(&node);
        true
    }

    /// This node's own record.
    pub fn local(&self) -> &MemberUpdate {
        &self.local
    }

    /// What this node believes about every other member it knows, by node id.
    pub fn members(&self) -> impl Iterator<Item = &MemberUpdate> {
        self.members.values().map(|member| &member.record)
    }

    pub fn member(&self, node: &NodeId) -> Option<&MemberUpdate> {
        self.members.get(node).map(|member| &member.record)
    }

    pub fn config(&self) -> &SwimConfig {
        &self.config
    }

    fn is_left(&self) -> bool {
        self.local.state == MemberState::Left
    }

    fn advance(&mut self, now_ms: u64) {
        assert!(now_ms >= self.now_ms, "the clock went back");
        self.now_ms = now_ms;
        debug_assert!(self.output.messages.is_empty() && self.output.events.is_empty());
    }

    fn take_output(&mut self) -> SwimOutput {
        std::mem::take(&mut self.output)
    }

    fn next_sequence(&mut self) -> u64 {
        self.sequence = self.sequence.wrapping_add(1);
        self.sequence
    }

    /// A sync delay between half and one and a half intervals.
    fn sync_delay_ms(&mut self) -> u64 {
        let interval = self.config.sync_interval_ms;
        self.rng.gen_range(interval / 2..=interval + interval / 2)
    }

    /// Ends the current probe if its interval is over, sends its indirect probes once
    /// its timeout passes, and starts the next probe when one is due.
    fn tick_probe(&mut self) {
        let now_ms = self.now_ms;
        if let Some(probe) = self.probe {
            if now_ms >= probe.sent_ms + self.config.probe_interval_ms {
                self.probe = None;
                self.suspect(probe.target, self.local.node);
            } else if !probe.indirect_sent && now_ms >= probe.sent_ms + self.config.probe_timeout_ms
            {
                self.send_indirect_probes(probe);
            }
        }
        if self.probe.is_none() && now_ms >= self.next_probe_ms {
            self.next_probe_ms = now_ms + self.config.probe_interval_ms;
            if let Some(target) = self.next_probe_target() {
                self.start_probe(target);
            }
        }
    }

    fn start_probe(&mut self, target: NodeId) {
        let Some(member) = self.members.get(&target) else {
            unreachable!("probe targets are members");
        };
        let to = member.record.address.bus();
        let sequence = self.next_sequence();
        self.probe = Some(Probe {
            target,
            sequence,
            sent_ms: self.now_ms,
            indirect_sent: false,
        });
        let message = BusMessage::Ping(Ping {
            sequence,
            sender: self.local,
            updates: self.piggyback(Some(target)),
        });
        self.output.messages.push(Outgoing { to, message });
    }

    /// The next member of the round-robin order that is still up, reshuffling the order
    /// when a round ends.
    fn next_probe_target(&mut self) -> Option<NodeId> {
        // Bounded: one pass over the rest of this round, then one over a fresh round.
        for _ in 0..2 {
            while self.probe_index < self.probe_order.len() {
                let candidate = self.probe_order[self.probe_index];
                self.probe_index += 1;
                let up = self
                    .members
                    .get(&candidate)
                    .is_some_and(|member| is_up(member.record.state));
                if up {
                    return Some(candidate);
                }
            }
            self.probe_order = self
                .members
                .values()
                .filter(|member| is_up(member.record.state))
                .map(|member| member.record.node)
                .collect();
            self.probe_order.shuffle(&mut self.rng);
            self.probe_index = 0;
        }
        None
    }

    /// Puts a member that came up into the rest of this round at a random place, unless
    /// it is there already. The part of the round already probed is dropped first, so
    /// the order never holds a member twice nor grows past the table.
    fn add_to_probe_order(&mut self, node: NodeId) {
        self.probe_order.drain(..self.probe_index);
        self.probe_index = 0;
        if self.probe_order.contains(&node) {
            return;
        }
        let position = self.rng.gen_range(0..=self.probe_order.len());
        self.probe_order.insert(position, node);
        assert!(self.probe_order.len() <= MEMBERS_MAX);
    }

    fn send_indirect_probes(&mut self, probe: Probe) {
        let Some(target) = self.members.get(&probe.target).map(|member| member.record) else {
            return;
        };
        let helpers: Vec<NodeId> = self
            .members
            .values()
            .filter(|member| member.record.state == MemberState::Alive)
            .map(|member| member.record.node)
            .filter(|node| *node != probe.target)
            .collect();
        let chosen: Vec<NodeId> = helpers
            .choose_multiple(&mut self.rng, self.config.indirect_probes)
            .copied()
            .collect();
        for helper in chosen {
            let to = self.members[&helper].record.address.bus();
            let message = BusMessage::PingReq(PingReq {
                sequence: probe.sequence,
                sender: self.local,
                target: target.node,
                target_address: target.address,
                updates: self.piggyback(Some(helper)),
            });
            self.output.messages.push(Outgoing { to, message });
        }
        if let Some(current) = &mut self.probe {
            current.indirect_sent = true;
        }
    }

    /// Declares dead every suspect whose suspicion has run out.
    fn tick_suspicions(&mut self) {
        let now_ms = self.now_ms;
        let expired: Vec<MemberUpdate> = self
            .members
            .values()
            .filter(|member| {
                member
                    .suspicion
                    .as_ref()
                    .is_some_and(|suspicion| now_ms >= suspicion.deadline_ms())
            })
            .map(|member| member.record)
            .collect();
        for record in expired {
            assert_eq!(record.state, MemberState::Suspect);
            let dead = MemberUpdate {
                state: MemberState::Dead,
                origin: self.local.node,
                ..record
            };
            self.apply(dead);
        }
    }

    /// Every `sync_interval_ms` or so, a full exchange with one random member that has
    /// not left, dead or not.
    fn tick_sync(&mut self) {
        if self.now_ms < self.next_sync_ms {
            return;
        }
        self.next_sync_ms = self.now_ms + self.sync_delay_ms();
        let candidates: Vec<SocketAddr> = self
            .members
            .values()
            .filter(|member| member.record.state != MemberState::Left)
            .map(|member| member.record.address.bus())
            .collect();
        if let Some(&to) = candidates.choose(&mut self.rng) {
            self.send_sync(to, true);
        }
    }

    fn send_join(&mut self) {
        let seeds = self.seeds.clone();
        for seed in seeds {
            self.send_sync(seed, true);
        }
        self.next_join_ms = Some(self.now_ms + self.config.probe_interval_ms);
    }

    /// Sends this node's whole table, itself included.
    fn send_sync(&mut self, to: SocketAddr, reply_wanted: bool) {
        let mut members = Vec::with_capacity(self.members.len() + 1);
        members.push(self.local);
        members.extend(self.members.values().map(|member| member.record));
        assert!(members.len() <= BUS_MEMBERS_MAX);
        let message = BusMessage::StateSync(StateSync {
            sender: self.local,
            reply_wanted,
            members,
        });
        self.output.messages.push(Outgoing { to, message });
    }

    fn on_ping(&mut self, ping: &Ping) {
        self.apply_all(&ping.sender, &ping.updates);
        let message = BusMessage::Ack(Ack {
            sequence: ping.sequence,
            sender: self.local,
            updates: self.piggyback(Some(ping.sender.node)),
        });
        let to = ping.sender.address.bus();
        self.output.messages.push(Outgoing { to, message });
    }

    /// Pings the target on the sender's behalf, or acks at once if the target is this
    /// node. Relays beyond `RELAYS_MAX` are dropped: the prober then counts on its other
    /// helpers.
    fn on_ping_req(&mut self, request: &PingReq) {
        self.apply_all(&request.sender, &request.updates);
        let origin = request.sender.address.bus();
        if request.target == self.local.node {
            let message = BusMessage::Ack(Ack {
                sequence: request.sequence,
                sender: self.local,
                updates: self.piggyback(Some(request.sender.node)),
            });
            self.output.messages.push(Outgoing {
                to: origin,
                message,
            });
            return;
        }
        if self.relays.len() >= RELAYS_MAX {
            return;
        }
        let sequence = self.next_sequence();
        let relay = Relay {
            origin,
            origin_sequence: request.sequence,
            target: request.target,
            expires_ms: self.now_ms + self.config.probe_interval_ms,
        };
        self.relays.insert(sequence, relay);
        let message = BusMessage::Ping(Ping {
            sequence,
            sender: self.local,
            updates: self.piggyback(Some(request.target)),
        });
        let to = request.target_address.bus();
        self.output.messages.push(Outgoing { to, message });
    }

    /// Ends this node's probe if the ack answers it, or relays an ack it asked for on
    /// another node's behalf.
    fn on_ack(&mut self, ack: &Ack) {
        self.apply_all(&ack.sender, &ack.updates);
        let answers_probe = self
            .probe
            .is_some_and(|probe| probe.sequence == ack.sequence && probe.target == ack.sender.node);
        if answers_probe {
            self.probe = None;
            return;
        }
        let Some(relay) = self.relays.get(&ack.sequence).copied() else {
            return;
        };
        if relay.target != ack.sender.node {
            return;
        }
        self.relays.remove(&ack.sequence);
        let message = BusMessage::Ack(Ack {
            sequence: relay.origin_sequence,
            sender: ack.sender,
            updates: self.piggyback(None),
        });
        self.output.messages.push(Outgoing {
            to: relay.origin,
            message,
        });
    }

    fn on_sync(&mut self, sync: &StateSync) {
        self.apply_all(&sync.sender, &sync.members);
        if sync.reply_wanted {
            self.send_sync(sync.sender.address.bus(), false);
        }
    }

    /// Merges a sender's own record and the claims it carried.
    fn apply_all(&mut self, sender: &MemberUpdate, updates: &[MemberUpdate]) {
        self.apply(*sender);
        // Bounded by the message, whose counts the decoder checked.
        for update in updates {
            self.apply(*update);
        }
        let joined = self
            .members
            .values()
            .any(|member| member.record.state == MemberState::Alive);
        if joined {
            self.next_join_ms = None;
        }
    }

    /// Suspects a member at the incarnation this node holds for it.
    fn suspect(&mut self, node: NodeId, origin: NodeId) {
        let Some(member) = self.members.get(&node) else {
            return;
        };
        let claim = MemberUpdate {
            state: MemberState::Suspect,
            origin,
            ..member.record
        };
        self.apply(claim);
    }

    /// Merges one claim into the table: the heart of the protocol.
    fn apply(&mut self, update: MemberUpdate) {
        if update.node == self.local.node {
            self.apply_to_self(update);
            return;
        }
        let Some(member) = self.members.get(&update.node) else {
            self.apply_new(update);
            return;
        };
        let current = member.record;
        if update.state == MemberState::Suspect
            && current.state == MemberState::Suspect
            && update.incarnation == current.incarnation
        {
            self.confirm_suspicion(update);
            return;
        }
        if !update.overrides(&current) {
            return;
        }
        self.transition(current, update);
    }

    /// Refutes a claim that this node is suspect, dead or gone, or an alive claim from an
    /// incarnation above its own (from before a restart), by going one above it.
    fn apply_to_self(&mut self, update: MemberUpdate) {
        let stale = update.incarnation < self.local.incarnation;
        let harmless =
            update.state == MemberState::Alive && update.incarnation == self.local.incarnation;
        if stale || harmless || self.is_left() {
            return;
        }
        self.local.incarnation = update.incarnation.saturating_add(1);
        assert_eq!(self.local.state, MemberState::Alive);
        self.queue_broadcast(self.local);
    }

    fn apply_new(&mut self, update: MemberUpdate) {
        if self.members.len() >= MEMBERS_MAX {
            return;
        }
        self.members.insert(
            update.node,
            Member {
                record: update,
                suspicion: None,
            },
        );
        self.queue_broadcast(update);
        if !is_up(update.state) {
            // Heard of only as gone: kept so that stale alive claims cannot revive it.
            return;
        }
        self.output.events.push(SwimEvent::NodeJoined {
            node: update.node,
            address: update.address,
        });
        self.add_to_probe_order(update.node);
        if update.state == MemberState::Suspect {
            self.start_suspicion(update);
        }
    }

    /// Replaces `current` with `update`, which overrides it, and reports the change.
    fn transition(&mut self, current: MemberUpdate, update: MemberUpdate) {
        assert!(update.overrides(&current));
        let member = self.members.get_mut(&update.node).expect("a known member");
        member.record = update;
        member.suspicion = None;
        self.queue_broadcast(update);
        if !is_up(current.state) && is_up(update.state) {
            self.add_to_probe_order(update.node);
        }
        let node = update.node;
        let event = match update.state {
            MemberState::Alive if current.state == MemberState::Alive => None,
            MemberState::Alive => Some(SwimEvent::NodeAlive {
                node,
                address: update.address,
                incarnation: update.incarnation,
            }),
            MemberState::Suspect => {
                self.start_suspicion(update);
                Some(SwimEvent::NodeSuspected {
                    node,
                    incarnation: update.incarnation,
                })
            }
            MemberState::Dead if current.state == MemberState::Dead => None,
            MemberState::Dead => Some(SwimEvent::NodeFailed {
                node,
                incarnation: update.incarnation,
            }),
            MemberState::Left if current.state == MemberState::Left => None,
            MemberState::Left => Some(SwimEvent::NodeLeft { node }),
        };
        self.output.events.extend(event);
    }

    /// Starts the suspicion of `update.node` at the longest timeout for the confirmations
    /// the cluster's size lets it expect.
    fn start_suspicion(&mut self, update: MemberUpdate) {
        assert_eq!(update.state, MemberState::Suspect);
        let up = 1 + self
            .members
            .values()
            .filter(|member| is_up(member.record.state))
            .count();
        let scale = (up as u64).ilog10().max(1) as u64;
        let timeout_min_ms = self.config.suspicion_mult * scale * self.config.probe_interval_ms;
        let suspicion = Suspicion {
            started_ms: self.now_ms,
            origins: BTreeSet::from([update.origin]),
            confirmations_expected: self.config.indirect_probes.min(up.saturating_sub(2)),
            timeout_min_ms,
            timeout_max_ms: timeout_min_ms * self.config.suspicion_max_mult,
        };
        let member = self.members.get_mut(&update.node).expect("a known member");
        member.suspicion = Some(suspicion);
    }

    /// Counts another node's suspicion of the same incarnation, and passes it on so that
    /// the others count it too.
    fn confirm_suspicion(&mut self, update: MemberUpdate) {
        let member = self.members.get_mut(&update.node).expect("a known member");
        let Some(suspicion) = &mut member.suspicion else {
            return;
        };
        if suspicion.origins.len() > suspicion.confirmations_expected
            || !suspicion.origins.insert(update.origin)
        {
            return;
        }
        self.queue_broadcast(update);
    }

    /// Queues `update` for dissemination, replacing any queued claim about its member.
    fn queue_broadcast(&mut self, update: MemberUpdate) {
        self.broadcast_serial += 1;
        let broadcast = Broadcast {
            update,
            transmits: 0,
            serial: self.broadcast_serial,
        };
        self.broadcasts.insert(update.node, broadcast);
        assert!(self.broadcasts.len() <= MEMBERS_MAX + 1);
    }

    /// The updates for one message: the claim about `recipient` first if this node holds
    /// it suspect or dead, then the least-sent queued updates, newest first among equals.
    /// Updates sent their full number of times leave the queue.
    fn piggyback(&mut self, recipient: Option<NodeId>) -> Vec<MemberUpdate> {
        let mut updates = Vec::with_capacity(self.config.piggyback_max + 1);
        let buddy = recipient
            .and_then(|node| self.members.get(&node))
            .map(|member| member.record)
            .filter(|record| matches!(record.state, MemberState::Suspect | MemberState::Dead));
        updates.extend(buddy);
        let mut queued: Vec<(u64, std::cmp::Reverse<u64>, NodeId)> = self
            .broadcasts
            .values()
            .map(|queued| {
                (
                    queued.transmits,
                    std::cmp::Reverse(queued.serial),
                    queued.update.node,
                )
            })
            .collect();
        queued.sort_unstable();
        let limit = self.retransmit_limit();
        for (_, _, node) in queued.into_iter().take(self.config.piggyback_max) {
            let broadcast = self.broadcasts.get_mut(&node).expect("a queued update");
            broadcast.transmits += 1;
            // The buddy claim already carries it: it counts as sent, once.
            if Some(broadcast.update) != buddy {
                updates.push(broadcast.update);
            }
            if broadcast.transmits >= limit {
                self.broadcasts.remove(&node);
            }
        }
        assert!(updates.len() <= BUS_UPDATES_MAX);
        updates
    }

    /// λ·⌈log2(n + 1)⌉, with n the members known, this node included.
    fn retransmit_limit(&self) -> u64 {
        let known = self.members.len() as u64 + 1;
        let log = (known + 1).next_power_of_two().trailing_zeros() as u64;
        self.config.retransmit_mult * log.max(1)
    }
}

impl Suspicion {
    /// From the longest timeout down to the shortest as confirmations arrive.
    fn deadline_ms(&self) -> u64 {
        assert!(!self.origins.is_empty());
        assert!(self.timeout_min_ms <= self.timeout_max_ms);
        if self.confirmations_expected == 0 {
            return self.started_ms + self.timeout_min_ms;
        }
        let confirmations = (self.origins.len() - 1).min(self.confirmations_expected) as u64;
        let span = self.timeout_max_ms - self.timeout_min_ms;
        let cut = span * confirmations / self.confirmations_expected as u64;
        self.started_ms + self.timeout_max_ms - cut
    }
}

/// Whether a member in this state is probed and counted as part of the cluster.
fn is_up(state: MemberState) -> bool {
    matches!(state, MemberState::Alive | MemberState::Suspect)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use ember_proto::cluster_bus::{BusCodec, BusKey};
    use rand::SeedableRng;
    use std::net::{IpAddr, Ipv4Addr};

    /// How far the simulated clock moves between ticks.
    const STEP_MS: u64 = 5;

    fn node_id(index: usize) -> NodeId {
        let mut bytes = [0u8; 20];
        bytes[0] = 0xe0;
        bytes[19] = index as u8;
        NodeId::from_bytes(bytes)
    }

    fn address(index: usize) -> NodeAddress {
        NodeAddress {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, index as u8 + 1)),
            data_port: 6379,
            bus_port: 16379,
        }
    }

    /// A message on its way: who sent it, to whom, and its frame.
    struct Flight {
        from: usize,
        to: usize,
        frame: BytesMut,
    }

    /// Several machines and a message router between them, with scripted loss,
    /// partitions and crashes. Every message is framed and authenticated by the bus
    /// codec on the way, so the wire format carries all of it.
    struct Cluster {
        config: SwimConfig,
        seed: u64,
        now_ms: u64,
        nodes: Vec<Option<Swim>>,
        in_flight: BTreeMap<(u64, u64), Flight>,
        flight_serial: u64,
        rng: ChaCha8Rng,
        loss_percent: u32,
        /// Directed pairs (from, to) whose messages are dropped.
        cut: BTreeSet<(usize, usize)>,
        log: Vec<(u64, usize, SwimEvent)>,
        codec: BusCodec,
        starts: u64,
    }

    impl Cluster {
        /// `count` nodes started at time 0; every node but the first joins through it.
        fn new(count: usize, seed: u64) -> Cluster {
            let mut cluster = Cluster {
                config: SwimConfig::default(),
                seed,
                now_ms: 0,
                nodes: Vec::new(),
                in_flight: BTreeMap::new(),
                flight_serial: 0,
                rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5357_494d),
                loss_percent: 0,
                cut: BTreeSet::new(),
                log: Vec::new(),
                codec: BusCodec::new(Some(BusKey::new(b"swim tests"))),
                starts: 0,
            };
            for index in 0..count {
                cluster.nodes.push(None);
                cluster.start(index, 0);
            }
            cluster
        }

        fn start(&mut self, index: usize, incarnation: u64) {
            self.starts += 1;
            let rng = ChaCha8Rng::seed_from_u64(self.seed.wrapping_mul(1_000_003) + self.starts);
            let swim = Swim::new(
                self.config,
                node_id(index),
                address(index),
                incarnation,
                rng,
                self.now_ms,
            );
            self.nodes[index] = Some(swim);
            if index != 0 {
                let now_ms = self.now_ms;
                let output = self.swim(index).join(&[address(0).bus()], now_ms);
                self.route(index, output);
            }
        }

        fn swim(&mut self, index: usize) -> &mut Swim {
            self.nodes[index].as_mut().expect("a running node")
        }

        fn view(&self, index: usize) -> &Swim {
            self.nodes[index].as_ref().expect("a running node")
        }

        fn crash(&mut self, index: usize) {
            self.nodes[index] = None;
        }

        fn isolate(&mut self, index: usize) {
            for other in 0..self.nodes.len() {
                if other != index {
                    self.cut.insert((index, other));
                    self.cut.insert((other, index));
                }
            }
        }

        fn split(&mut self, left: &[usize], right: &[usize]) {
            for &a in left {
                for &b in right {
                    self.cut.insert((a, b));
                    self.cut.insert((b, a));
                }
            }
        }

        fn heal(&mut self) {
            self.cut.clear();
        }

        fn route(&mut self, from: usize, output: SwimOutput) {
            for event in output.events {
                self.log.push((self.now_ms, from, event));
            }
            for outgoing in output.messages {
                let mut frame = BytesMut::new();
                self.codec
                    .encode(&outgoing.message, &mut frame)
                    .expect("SWIM keeps its messages within the bus limits");
                let Some(to) = (0..self.nodes.len()).find(|&i| address(i).bus() == outgoing.to)
                else {
                    continue;
                };
                if self.rng.gen_range(0..100) < self.loss_percent {
                    continue;
                }
                let deliver_ms = self.now_ms + self.rng.gen_range(1..=20);
                self.flight_serial += 1;
                let key = (deliver_ms, self.flight_serial);
                self.in_flight.insert(key, Flight { from, to, frame });
            }
        }

        fn run_until(&mut self, end_ms: u64) {
            // Bounded by the end time: every pass moves the clock one step.
            while self.now_ms < end_ms {
                self.now_ms += STEP_MS;
                self.deliver_due();
                for index in 0..self.nodes.len() {
                    if let Some(swim) = self.nodes[index].as_mut() {
                        let output = swim.tick(self.now_ms);
                        self.route(index, output);
                    }
                }
            }
        }

        fn deliver_due(&mut self) {
            // Bounded by the messages in flight; new ones are due in a later step.
            while let Some(entry) = self.in_flight.first_entry() {
                if entry.key().0 > self.now_ms {
                    break;
                }
                let flight = entry.remove();
                if self.cut.contains(&(flight.from, flight.to)) {
                    continue;
                }
                let mut frame = flight.frame;
                let message = self.codec.decode(&mut frame);
                let Ok(Some(message)) = message else {
                    panic!("a frame sent whole decodes: {message:?}");
                };
                assert!(frame.is_empty());
                let now_ms = self.now_ms;
                if let Some(swim) = self.nodes[flight.to].as_mut() {
                    let output = swim.receive(&message, now_ms);
                    self.route(flight.to, output);
                }
            }
        }

        /// Whether every running node in `among` holds every other one alive.
        fn all_alive(&self, among: &[usize]) -> bool {
            among.iter().all(|&i| {
                among.iter().filter(|&&j| j != i).all(|&j| {
                    let record = self.view(i).member(&node_id(j));
                    record.is_some_and(|record| record.state == MemberState::Alive)
                })
            })
        }

        /// When each observer first logged an event matching `matches`.
        fn first_times(&self, matches: impl Fn(&SwimEvent) -> bool) -> BTreeMap<usize, u64> {
            let mut times = BTreeMap::new();
            for (time, observer, event) in &self.log {
                if matches(event) {
                    times.entry(*observer).or_insert(*time);
                }
            }
            times
        }

        fn count(&self, matches: impl Fn(&SwimEvent) -> bool) -> usize {
            self.log
                .iter()
                .filter(|(_, _, event)| matches(event))
                .count()
        }
    }

    fn failed(node: usize) -> impl Fn(&SwimEvent) -> bool {
        move |event| matches!(event, SwimEvent::NodeFailed { node: id, .. } if *id == node_id(node))
    }

    fn any_failed(event: &SwimEvent) -> bool {
        matches!(event, SwimEvent::NodeFailed { .. })
    }

    fn suspected(node: usize) -> impl Fn(&SwimEvent) -> bool {
        move |event| matches!(event, SwimEvent::NodeSuspected { node: id, .. } if *id == node_id(node))
    }

    fn alive_again(node: usize) -> impl Fn(&SwimEvent) -> bool {
        move |event| matches!(event, SwimEvent::NodeAlive { node: id, .. } if *id == node_id(node))
    }

    #[test]
    fn config_derives_from_the_node_timeout() {
        let config = SwimConfig::default();
        assert_eq!(config.probe_interval_ms, 1000);
        assert_eq!(config.probe_timeout_ms, 500);
        assert_eq!(config.sync_interval_ms, 30_000);
        let fast = SwimConfig::from_node_timeout(1);
        assert_eq!(fast.probe_interval_ms, NODE_TIMEOUT_MIN_MS / 5);
        assert!(fast.probe_timeout_ms < fast.probe_interval_ms);
    }

    #[test]
    fn suspicion_falls_from_its_longest_to_its_shortest_with_confirmations() {
        let mut suspicion = Suspicion {
            started_ms: 100,
            origins: BTreeSet::from([node_id(1)]),
            confirmations_expected: 3,
            timeout_min_ms: 4000,
            timeout_max_ms: 12_000,
        };
        assert_eq!(suspicion.deadline_ms(), 12_100);
        suspicion.origins.insert(node_id(2));
        assert_eq!(suspicion.deadline_ms(), 9434);
        suspicion
            .origins
            .extend([node_id(3), node_id(4), node_id(5)]);
        assert_eq!(suspicion.deadline_ms(), 4100);
        suspicion.confirmations_expected = 0;
        assert_eq!(suspicion.deadline_ms(), 4100);
    }

    fn lone(index: usize) -> Swim {
        let rng = ChaCha8Rng::seed_from_u64(index as u64);
        Swim::new(
            SwimConfig::default(),
            node_id(index),
            address(index),
            0,
            rng,
            0,
        )
    }

    fn record(index: usize, incarnation: u64, state: MemberState, origin: usize) -> MemberUpdate {
        MemberUpdate {
            node: node_id(index),
            address: address(index),
            incarnation,
            state,
            origin: node_id(origin),
        }
    }

    #[test]
    fn a_suspected_node_refutes_one_incarnation_higher() {
        let mut swim = lone(0);
        let ping = BusMessage::Ping(Ping {
            sequence: 9,
            sender: record(1, 0, MemberState::Alive, 1),
            updates: vec![record(0, 3, MemberState::Suspect, 1)],
        });
        let output = swim.receive(&ping, 10);
        assert_eq!(swim.local().incarnation, 4);
        assert_eq!(
            output.events,
            vec![SwimEvent::NodeJoined {
                node: node_id(1),
                address: address(1)
            }]
        );
        let [Outgoing {
            to,
            message: BusMessage::Ack(ack),
        }] = &output.messages[..]
        else {
            panic!("one ack: {output:?}");
        };
        assert_eq!(*to, address(1).bus());
        assert_eq!(ack.sequence, 9);
        assert_eq!(ack.sender.incarnation, 4);
        assert!(ack.updates.contains(&record(0, 4, MemberState::Alive, 0)));
        // A stale claim changes nothing.
        let stale = BusMessage::Ping(Ping {
            sequence: 10,
            sender: record(1, 0, MemberState::Alive, 1),
            updates: vec![record(0, 2, MemberState::Dead, 1)],
        });
        swim.receive(&stale, 20);
        assert_eq!(swim.local().incarnation, 4);
    }

    #[test]
    fn a_ping_req_is_relayed_and_its_ack_returned_to_the_prober() {
        let mut helper = lone(0);
        let request = BusMessage::PingReq(PingReq {
            sequence: 77,
            sender: record(1, 0, MemberState::Alive, 1),
            target: node_id(2),
            target_address: address(2),
            updates: vec![],
        });
        let output = helper.receive(&request, 5);
        let [Outgoing {
            to,
            message: BusMessage::Ping(ping),
        }] = &output.messages[..]
        else {
            panic!("one ping to the target: {output:?}");
        };
        assert_eq!(*to, address(2).bus());
        let ack = BusMessage::Ack(Ack {
            sequence: ping.sequence,
            sender: record(2, 0, MemberState::Alive, 2),
            updates: vec![],
        });
        let output = helper.receive(&ack, 8);
        let [Outgoing {
            to,
            message: BusMessage::Ack(relayed),
        }] = &output.messages[..]
        else {
            panic!("one relayed ack: {output:?}");
        };
        assert_eq!(*to, address(1).bus());
        assert_eq!(relayed.sequence, 77);
        assert_eq!(relayed.sender.node, node_id(2));
        // The relay is spent: the same ack again goes nowhere.
        assert!(helper.receive(&ack, 9).messages.is_empty());
    }

    #[test]
    fn updates_are_sent_a_bounded_number_of_times_least_sent_first() {
        let mut swim = lone(0);
        for index in 1..=3 {
            swim.apply(record(index, 0, MemberState::Alive, index));
        }
        // Four nodes known: ⌈log2 5⌉ = 3, times λ = 3.
        assert_eq!(swim.retransmit_limit(), 9);
        for _ in 0..9 {
            assert_eq!(swim.piggyback(None).len(), 3);
        }
        assert!(swim.piggyback(None).is_empty());
        swim.apply(record(2, 1, MemberState::Suspect, 3));
        let updates = swim.piggyback(Some(node_id(2)));
        // The buddy claim first, and not again from the queue.
        assert_eq!(updates, vec![record(2, 1, MemberState::Suspect, 3)]);
        assert!(swim.piggyback(Some(node_id(1))).len() == 1);
    }

    #[test]
    fn all_nodes_learn_each_other_after_joining_through_one_seed() {
        let mut cluster = Cluster::new(6, 1);
        let everyone: Vec<usize> = (0..6).collect();
        cluster.run_until(3000);
        assert!(cluster.all_alive(&everyone));
        for observer in 0..6 {
            let joined = cluster
                .log
                .iter()
                .filter(|(_, who, event)| {
                    *who == observer && matches!(event, SwimEvent::NodeJoined { .. })
                })
                .count();
            assert_eq!(joined, 5, "node {observer} heard of each other node once");
        }
        cluster.run_until(60_000);
        assert!(cluster.all_alive(&everyone));
        assert_eq!(
            cluster.count(|event| !matches!(event, SwimEvent::NodeJoined { .. })),
            0
        );
    }

    #[test]
    fn a_crashed_node_is_suspected_then_declared_dead_by_all_within_a_bound() {
        for seed in 1..=5 {
            let mut cluster = Cluster::new(5, seed);
            cluster.run_until(5000);
            assert!(cluster.all_alive(&[0, 1, 2, 3, 4]));
            cluster.crash(4);
            let crashed_ms = cluster.now_ms;
            // Two probe rounds for someone to reach it, the longest suspicion, then
            // a couple of intervals for the news to spread.
            let config = cluster.config;
            let bound_ms = 2 * 4 * config.probe_interval_ms
                + config.suspicion_mult * config.suspicion_max_mult * config.probe_interval_ms
                + 2 * config.probe_interval_ms;
            cluster.run_until(crashed_ms + bound_ms);
            let suspected = cluster.first_times(suspected(4));
            let failed = cluster.first_times(failed(4));
            for observer in 0..4 {
                let failed_ms = failed[&observer];
                assert!(
                    suspected[&observer] <= failed_ms,
                    "seed {seed}: suspect first"
                );
                assert!(failed_ms <= crashed_ms + bound_ms);
                let record = cluster.view(observer).member(&node_id(4)).unwrap();
                assert_eq!(record.state, MemberState::Dead);
            }
            assert_eq!(
                cluster.count(any_failed),
                4,
                "seed {seed}: no one else failed"
            );
            assert!(cluster.all_alive(&[0, 1, 2, 3]));
        }
    }

    #[test]
    fn a_briefly_partitioned_node_refutes_its_suspicion_and_stays_alive() {
        for seed in 1..=5 {
            let mut cluster = Cluster::new(5, seed);
            cluster.run_until(5000);
            cluster.isolate(4);
            cluster.run_until(8000);
            cluster.heal();
            cluster.run_until(30_000);
            assert!(
                !cluster.first_times(suspected(4)).is_empty(),
                "seed {seed}: someone suspected the cut-off node"
            );
            assert_eq!(cluster.count(any_failed), 0, "seed {seed}");
            assert!(
                cluster.view(4).local().incarnation >= 1,
                "seed {seed}: it refuted"
            );
            assert!(cluster.all_alive(&[0, 1, 2, 3, 4]), "seed {seed}");
        }
    }

    #[test]
    fn false_suspicions_under_packet_loss_are_refuted() {
        let mut suspicions = 0;
        for seed in 1..=5 {
            let mut cluster = Cluster::new(5, seed);
            cluster.run_until(5000);
            cluster.loss_percent = 15;
            cluster.run_until(65_000);
            cluster.loss_percent = 0;
            cluster.run_until(80_000);
            suspicions += cluster.count(|event| matches!(event, SwimEvent::NodeSuspected { .. }));
            assert_eq!(cluster.count(any_failed), 0, "seed {seed}");
            assert!(cluster.all_alive(&[0, 1, 2, 3, 4]), "seed {seed}");
        }
        assert!(suspicions > 0, "the loss caused suspicions to refute");
    }

    #[test]
    fn a_rejoining_node_with_a_higher_incarnation_is_alive_again() {
        let mut cluster = Cluster::new(5, 7);
        cluster.run_until(5000);
        cluster.crash(3);
        cluster.run_until(30_000);
        assert_eq!(cluster.first_times(failed(3)).len(), 4);
        cluster.start(3, 1);
        cluster.run_until(35_000);
        let alive = cluster.first_times(alive_again(3));
        assert_eq!(alive.keys().copied().collect::<Vec<_>>(), vec![0, 1, 2, 4]);
        assert!(cluster.all_alive(&[0, 1, 2, 3, 4]));
        assert_eq!(cluster.view(3).local().incarnation, 1);
    }

    #[test]
    fn a_node_restarted_at_incarnation_zero_refutes_its_death() {
        let mut cluster = Cluster::new(4, 8);
        cluster.run_until(5000);
        cluster.crash(2);
        cluster.run_until(30_000);
        assert_eq!(cluster.first_times(failed(2)).len(), 3);
        cluster.start(2, 0);
        cluster.run_until(40_000);
        assert_eq!(cluster.first_times(alive_again(2)).len(), 3);
        assert!(cluster.all_alive(&[0, 1, 2, 3]));
        assert!(cluster.view(2).local().incarnation >= 1);
    }

    #[test]
    fn a_graceful_leave_is_reported_as_left_not_failed() {
        let mut cluster = Cluster::new(5, 9);
        cluster.run_until(5000);
        let output = cluster.swim(1).leave(5000);
        assert_eq!(output.messages.len(), 4);
        cluster.route(1, output);
        cluster.run_until(20_000);
        let left = cluster.first_times(
            |event| matches!(event, SwimEvent::NodeLeft { node } if *node == node_id(1)),
        );
        assert_eq!(left.keys().copied().collect::<Vec<_>>(), vec![0, 2, 3, 4]);
        assert_eq!(cluster.count(any_failed), 0);
        assert!(cluster.swim(1).tick(25_000).messages.is_empty());
        assert!(cluster.swim(0).forget(node_id(1)));
        assert!(cluster.view(0).member(&node_id(1)).is_none());
        assert!(!cluster.swim(0).forget(node_id(2)), "a live member is kept");
    }

    #[test]
    fn a_long_partition_heals_through_state_syncs() {
        let mut cluster = Cluster::new(5, 11);
        cluster.run_until(5000);
        cluster.split(&[0, 1, 2], &[3, 4]);
        cluster.run_until(45_000);
        assert_eq!(
            cluster.count(any_failed),
            12,
            "each side declared the other dead"
        );
        cluster.heal();
        let bound_ms = 45_000 + 2 * cluster.config.sync_interval_ms;
        cluster.run_until(bound_ms);
        assert!(cluster.all_alive(&[0, 1, 2, 3, 4]));
    }

    #[test]
    fn random_faults_then_healing_converge_to_everyone_alive() {
        for seed in 100..120 {
            let mut cluster = Cluster::new(5, seed);
            let mut faults = ChaCha8Rng::seed_from_u64(seed);
            cluster.run_until(3000);
            // Safety phase: each second, new loss and a new random cut.
            for second in 0..30 {
                cluster.loss_percent = faults.gen_range(0..30);
                cluster.heal();
                if faults.gen_bool(0.3) {
                    cluster.isolate(faults.gen_range(0..5));
                }
                cluster.run_until(4000 + second * 1000);
            }
            // Liveness phase: no faults; syncs reach any member declared dead.
            cluster.loss_percent = 0;
            cluster.heal();
            let healed_ms = cluster.now_ms;
            cluster.run_until(healed_ms + 2 * cluster.config.sync_interval_ms);
            assert!(cluster.all_alive(&[0, 1, 2, 3, 4]), "seed {seed}");
        }
    }

    fn scripted_run(seed: u64) -> Vec<(u64, usize, SwimEvent)> {
        let mut cluster = Cluster::new(5, seed);
        cluster.loss_percent = 10;
        cluster.run_until(10_000);
        cluster.isolate(2);
        cluster.run_until(25_000);
        cluster.heal();
        cluster.crash(4);
        cluster.run_until(50_000);
        cluster.log
    }

    #[test]
    fn the_same_seed_gives_the_same_events() {
        let first = scripted_run(42);
        assert!(first.len() > 10);
        assert_eq!(first, scripted_run(42));
        assert_ne!(first, scripted_run(43));
    }
}
