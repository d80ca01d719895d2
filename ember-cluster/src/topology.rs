//! The cluster's replicated topology: nodes, the owner of each of the 16384 slots, slot
//! migrations and config epochs, changed only by applying [`TopologyCommand`]s in the
//! order the Raft log commits them.
//!
//! Everything here is pure and deterministic: no clock, no randomness, no hashed maps,
//! so every node that applies one sequence of commands reaches one state. Validation
//! follows Redis Cluster's CLUSTER ADDSLOTS/DELSLOTS/SETSLOT/FORGET/REPLICATE errors, with
//! the node that received the client's command standing in for Redis's "myself". Checks
//! that need the keyspace (a slot that still holds keys) belong to the command handler
//! that proposes, not here.
//!
//! Epochs follow Redis: the cluster's current epoch only grows; a new master gets a fresh
//! config epoch (the state Redis reaches once its epoch-collision rule has run); finishing
//! an import bumps the importer's epoch unless it already holds the unique maximum; a
//! promoted replica takes `current_epoch + 1`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

/// Hash slots in a cluster.
pub const SLOT_COUNT: u16 = 16384;
/// Voting members of the Raft group; nodes met after this many voters join as learners.
pub const VOTERS_MAX: usize = 5;
/// Nodes in one topology; a bound on every loop over nodes and on decoded snapshots.
pub const NODES_MAX: usize = 1000;
/// Length of a node name: 160 bits in lowercase hex, as Redis Cluster's node ids.
pub const NODE_NAME_LEN: usize = 40;

const _: () = assert!(
    VOTERS_MAX % 2 == 1,
    "an odd voter count tolerates the most faults"
);
const _: () = assert!(VOTERS_MAX <= NODES_MAX);

/// A node's 40-hex-character id.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeName([u8; NODE_NAME_LEN]);

/// What a node is in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Master,
    Replica { master: NodeName },
}

/// One node as every member knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: NodeName,
    pub ip: IpAddr,
    /// The client (data) port.
    pub port: u16,
    /// The cluster bus port.
    pub bus_port: u16,
    pub role: Role,
    /// Whether the node votes in the Raft group (otherwise it is a learner).
    pub voter: bool,
    pub config_epoch: u64,
    /// The compact number that the slot table stores; never reused.
    number: NodeNumber,
}

/// The address part of CLUSTER MEET, with the met node's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddress {
    pub name: NodeName,
    pub ip: IpAddr,
    pub port: u16,
    pub bus_port: u16,
}

/// An inclusive range of slots, as CLUSTER ADDSLOTSRANGE takes them. A single slot is a
/// range whose ends are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SlotRange {
    pub start: u16,
    pub end: u16,
}

/// The forms of CLUSTER SETSLOT: Redis's four, and ember's REVERSE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SlotAction {
    Importing {
        from: NodeName,
    },
    Migrating {
        to: NodeName,
    },
    Node {
        owner: NodeName,
    },
    Stable,
    /// Rolls an open migration back in one commit when sent to the importing node: it takes
    /// the slot and migrates it back to the old owner, which imports it. Clients keep
    /// finding every key (the new owner serves the keys already moved and sends the rest
    /// back with ASK), and once the moved keys are back, SETSLOT NODE returns the slot to
    /// the old owner. Idempotent: sent to the owner of an open migration it does nothing.
    Reverse,
}

/// A proposed change to the topology. Each is applied whole or not at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TopologyCommand {
    /// CLUSTER MEET: adds a master, a voter while there are fewer than [`VOTERS_MAX`]. A
    /// known node keeps its state and takes the new address.
    Meet(NodeAddress),
    /// CLUSTER ADDSLOTS/ADDSLOTSRANGE received by `node`.
    AddSlots {
        node: NodeName,
        ranges: Vec<SlotRange>,
    },
    /// CLUSTER DELSLOTS/DELSLOTSRANGE.
    DelSlots { ranges: Vec<SlotRange> },
    /// CLUSTER SETSLOT received by `node`.
    SetSlot {
        node: NodeName,
        slot: u16,
        action: SlotAction,
    },
    /// CLUSTER FORGET: removes the node; its slots become unassigned.
    Forget { node: NodeName },
    /// CLUSTER REPLICATE received by `node`.
    Replicate { node: NodeName, master: NodeName },
    /// A failover: the replica takes its master's slots with a new config epoch.
    PromoteReplica { replica: NodeName },
}

/// What an applied command changed, for the proposer's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    /// A new node; `voter` says whether it joined the Raft voters.
    Met {
        voter: bool,
    },
    /// The node was known; its address is now the given one.
    AlreadyKnown,
    SlotsAdded {
        count: u32,
    },
    SlotsDeleted {
        count: u32,
    },
    SlotSet,
    /// The node is gone; `promoted` is the learner that took its vote, if any.
    Forgotten {
        promoted: Option<NodeName>,
    },
    Replicating,
    Promoted {
        config_epoch: u64,
    },
    /// A log entry that carried no command (a Raft blank or membership entry).
    Nothing,
}

/// Why a command was refused. The `Display` text is the reply a Redis client sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum TopologyError {
    #[error("ERR Invalid or out of range slot")]
    SlotOutOfRange,
    #[error("ERR start slot number {start} is greater than end slot number {end}")]
    RangeReversed { start: u16, end: u16 },
    #[error("ERR Slot {0} specified multiple times")]
    SlotRepeated(u16),
    #[error("ERR Slot {0} is already busy")]
    SlotBusy(u16),
    #[error("ERR Slot {0} is already unassigned")]
    SlotUnassigned(u16),
    #[error("ERR Unknown node {0}")]
    UnknownNode(NodeName),
    #[error("ERR I don't know about node {0}")]
    DontKnowNode(NodeName),
    #[error("ERR Slot {0} is not being migrated")]
    NotMigrating(u16),
    #[error("ERR Please use SETSLOT only with masters.")]
    SetSlotOnReplica,
    #[error("ERR I'm not the owner of hash slot {0}")]
    NotOwner(u16),
    #[error("ERR I'm already the owner of hash slot {0}")]
    AlreadyOwner(u16),
    #[error("ERR Target node is not a master")]
    TargetNotMaster,
    /// Redis accepts this and then serves ASK redirections to itself; ember refuses.
    #[error("ERR Can't import hash slot {0} from myself")]
    ImportFromSelf(u16),
    /// Redis accepts this and then serves ASK redirections to itself; ember refuses.
    #[error("ERR Can't migrate hash slot {0} to myself")]
    MigrateToSelf(u16),
    #[error("ERR Can't replicate myself")]
    ReplicateSelf,
    #[error("ERR I can only replicate a master, not a replica.")]
    ReplicateReplica,
    #[error("ERR To set a master the node must be empty and without assigned slots.")]
    MasterNotEmpty,
    #[error("ERR You should send CLUSTER FAILOVER to a replica")]
    FailoverOnMaster,
    #[error("ERR Invalid node address specified: {0}")]
    BadAddress(String),
    /// Raft names a node by the first 64 bits of its name, so two must differ there.
    #[error("ERR Node {0} collides with the Raft id of node {1}")]
    RaftIdCollision(NodeName, NodeName),
    #[error("ERR Too many nodes in the cluster")]
    TooManyNodes,
}

/// The whole replicated state.
#[derive(Clone, PartialEq, Eq)]
pub struct Topology {
    current_epoch: u64,
    nodes: BTreeMap<NodeName, NodeInfo>,
    /// Each slot's owner by node number; one entry per slot.
    slots: Vec<Option<NodeNumber>>,
    /// Slot -> the node its owner migrates it to.
    migrating: BTreeMap<u16, NodeName>,
    /// Slot -> (the importing node, the node it imports from).
    importing: BTreeMap<u16, (NodeName, NodeName)>,
    next_number: u32,
}

/// A node's number in the slot table: 4 bytes a slot instead of a 40-byte name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct NodeNumber(NonZeroU32);

impl Topology {
    /// An empty cluster: no nodes, every slot unassigned, epoch 0.
    pub fn new() -> Topology {
        Topology {
            current_epoch: 0,
            nodes: BTreeMap::new(),
            slots: vec![None; usize::from(SLOT_COUNT)],
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            next_number: 1,
        }
    }

    /// Applies one command, or changes nothing and says why.
    pub fn apply(&mut self, command: &TopologyCommand) -> Result<Applied, TopologyError> {
        let applied = match command {
            TopologyCommand::Meet(address) => self.meet(address),
            TopologyCommand::AddSlots { node, ranges } => self.add_slots(node, ranges),
            TopologyCommand::DelSlots { ranges } => self.del_slots(ranges),
            TopologyCommand::SetSlot { node, slot, action } => self.set_slot(node, *slot, action),
            TopologyCommand::Forget { node } => self.forget(node),
            TopologyCommand::Replicate { node, master } => self.replicate(node, master),
            TopologyCommand::PromoteReplica { replica } => self.promote(replica),
        }?;
        debug_assert!(self.check().is_ok(), "{:?}", self.check());
        Ok(applied)
    }

    pub fn current_epoch(&self) -> u64 {
        self.current_epoch
    }

    pub fn node(&self, name: &NodeName) -> Option<&NodeInfo> {
        self.nodes.get(name)
    }

    /// Every node, ordered by name.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.values()
    }

    /// The voters, ordered by name.
    pub fn voters(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.values().filter(|node| node.voter)
    }

    /// The node that owns `slot`, if any.
    pub fn slot_owner(&self, slot: u16) -> Option<&NodeInfo> {
        let number = (*self.slots.get(usize::from(slot))?)?;
        self.node_by_number(number)
    }

    /// The slots `name` owns, as maximal ranges in order.
    pub fn slot_ranges(&self, name: &NodeName) -> Vec<SlotRange> {
        let Some(number) = self.nodes.get(name).map(|node| node.number) else {
            return Vec::new();
        };
        let mut ranges: Vec<SlotRange> = Vec::new();
        for (slot, owner) in (0..SLOT_COUNT).zip(&self.slots) {
            if *owner != Some(number) {
                continue;
            }
            match ranges.last_mut() {
                Some(last) if last.end + 1 == slot => last.end = slot,
                _ => ranges.push(SlotRange::single(slot)),
            }
        }
        ranges
    }

    /// How many slots have an owner.
    pub fn slots_assigned(&self) -> usize {
        self.slots.iter().filter(|owner| owner.is_some()).count()
    }

    /// Where `slot`'s owner is migrating it to.
    pub fn migrating(&self, slot: u16) -> Option<&NodeName> {
        self.migrating.get(&slot)
    }

    /// Which node imports `slot`, and from whom.
    pub fn importing(&self, slot: u16) -> Option<(&NodeName, &NodeName)> {
        self.importing
            .get(&slot)
            .map(|(importer, source)| (importer, source))
    }

    /// The state as bytes, for a Raft snapshot.
    pub fn to_bytes(&self) -> Vec<u8> {
        let wire = TopologyWire::from(self);
        // Serializing plain data into a Vec cannot fail.
        postcard::to_allocvec(&wire).expect("a topology serializes")
    }

    /// Reads [`Topology::to_bytes`]'s output back, checking every invariant, since the
    /// bytes come from a disk or a peer.
    pub fn from_bytes(bytes: &[u8]) -> Result<Topology, DecodeError> {
        let wire: TopologyWire =
            postcard::from_bytes(bytes).map_err(|e| DecodeError(e.to_string()))?;
        wire.into_topology()
    }

    fn meet(&mut self, address: &NodeAddress) -> Result<Applied, TopologyError> {
        if address.ip.is_unspecified() || address.port == 0 || address.bus_port == 0 {
            return Err(TopologyError::BadAddress(format!(
                "{}:{}@{}",
                address.ip, address.port, address.bus_port
            )));
        }
        if let Some(known) = self.nodes.get_mut(&address.name) {
            known.ip = address.ip;
            known.port = address.port;
            known.bus_port = address.bus_port;
            return Ok(Applied::AlreadyKnown);
        }
        if self.nodes.len() >= NODES_MAX {
            return Err(TopologyError::TooManyNodes);
        }
        let raft_id = address.name.raft_id();
        if let Some(other) = self.nodes.keys().find(|name| name.raft_id() == raft_id) {
            return Err(TopologyError::RaftIdCollision(address.name, *other));
        }
        let voter = self.voters().count() < VOTERS_MAX;
        let number = self.take_number();
        self.current_epoch += 1;
        let node = NodeInfo {
            name: address.name,
            ip: address.ip,
            port: address.port,
            bus_port: address.bus_port,
            role: Role::Master,
            voter,
            config_epoch: self.current_epoch,
            number,
        };
        self.nodes.insert(address.name, node);
        Ok(Applied::Met { voter })
    }

    fn add_slots(
        &mut self,
        name: &NodeName,
        ranges: &[SlotRange],
    ) -> Result<Applied, TopologyError> {
        let number = self.known(name)?.number;
        let slots = expand_ranges(ranges, |slot| match self.slots[usize::from(slot)] {
            Some(_) => Err(TopologyError::SlotBusy(slot)),
            None => Ok(()),
        })?;
        for slot in &slots {
            self.slots[usize::from(*slot)] = Some(number);
            // Redis: a slot added to the node that was importing it is no longer importing.
            if self
                .importing
                .get(slot)
                .is_some_and(|(importer, _)| importer == name)
            {
                self.importing.remove(slot);
            }
        }
        Ok(Applied::SlotsAdded {
            count: count_u32(slots.len()),
        })
    }

    fn del_slots(&mut self, ranges: &[SlotRange]) -> Result<Applied, TopologyError> {
        let slots = expand_ranges(ranges, |slot| match self.slots[usize::from(slot)] {
            Some(_) => Ok(()),
            None => Err(TopologyError::SlotUnassigned(slot)),
        })?;
        for slot in &slots {
            self.slots[usize::from(*slot)] = None;
            self.migrating.remove(slot);
            self.importing.remove(slot);
        }
        Ok(Applied::SlotsDeleted {
            count: count_u32(slots.len()),
        })
    }

    fn set_slot(
        &mut self,
        name: &NodeName,
        slot: u16,
        action: &SlotAction,
    ) -> Result<Applied, TopologyError> {
        let issuer = self.known(name)?;
        if issuer.role != Role::Master {
            return Err(TopologyError::SetSlotOnReplica);
        }
        if slot >= SLOT_COUNT {
            return Err(TopologyError::SlotOutOfRange);
        }
        let owned = self.slots[usize::from(slot)] == Some(issuer.number);
        match action {
            SlotAction::Migrating { to } => {
                if !owned {
                    return Err(TopologyError::NotOwner(slot));
                }
                self.master_target(to, TopologyError::DontKnowNode(*to))?;
                if to == name {
                    return Err(TopologyError::MigrateToSelf(slot));
                }
                self.migrating.insert(slot, *to);
            }
            SlotAction::Importing { from } => {
                if owned {
                    return Err(TopologyError::AlreadyOwner(slot));
                }
                self.master_target(from, TopologyError::DontKnowNode(*from))?;
                if from == name {
                    return Err(TopologyError::ImportFromSelf(slot));
                }
                self.importing.insert(slot, (*name, *from));
            }
            SlotAction::Stable => {
                self.migrating.remove(&slot);
                self.importing.remove(&slot);
            }
            SlotAction::Node { owner } => self.set_slot_owner(slot, owner)?,
            SlotAction::Reverse => self.reverse_migration(name, slot)?,
        }
        Ok(Applied::SlotSet)
    }

    /// SETSLOT NODE: one commit switches ownership and ends the slot's migration, so no
    /// node can see the new owner with the old migration state.
    fn set_slot_owner(&mut self, slot: u16, owner: &NodeName) -> Result<(), TopologyError> {
        let number = self.master_target(owner, TopologyError::UnknownNode(*owner))?;
        let imported = self
            .importing
            .get(&slot)
            .is_some_and(|(importer, _)| importer == owner);
        self.slots[usize::from(slot)] = Some(number);
        self.migrating.remove(&slot);
        self.importing.remove(&slot);
        if imported {
            self.bump_epoch_without_consensus(owner);
        }
        Ok(())
    }

    /// SETSLOT REVERSE from a node on either side of an open migration: afterwards that node
    /// owns the slot and migrates it to the other side. From the importing node this
    /// reverses the migration (with a new epoch for it, as a finished import gives); from
    /// the owner, or applied again (a retried proposal), it changes nothing, so a retry
    /// can never swap the roles back.
    fn reverse_migration(&mut self, name: &NodeName, slot: u16) -> Result<(), TopologyError> {
        let owner = self.slots[usize::from(slot)]
            .and_then(|number| self.node_by_number(number))
            .map(|node| node.name)
            .ok_or(TopologyError::NotMigrating(slot))?;
        let migrating_to = self.migrating.get(&slot).copied();
        let importing = self.importing.get(&slot).copied();
        if owner == *name {
            // Already reversed by this node: its migration back is open.
            let back = migrating_to.filter(|to| importing == Some((*to, owner)));
            return back.map(|_| ()).ok_or(TopologyError::NotMigrating(slot));
        }
        if migrating_to != Some(*name) || importing != Some((*name, owner)) {
            return Err(TopologyError::NotMigrating(slot));
        }
        let number = self.master_target(name, TopologyError::UnknownNode(*name))?;
        self.slots[usize::from(slot)] = Some(number);
        self.migrating.insert(slot, owner);
        self.importing.insert(slot, (owner, *name));
        self.bump_epoch_without_consensus(name);
        Ok(())
    }

    fn forget(&mut self, name: &NodeName) -> Result<Applied, TopologyError> {
        let node = self.known(name)?.clone();
        for owner in self.slots.iter_mut() {
            if *owner == Some(node.number) {
                *owner = None;
            }
        }
        self.migrating.retain(|_, target| target != name);
        self.importing
            .retain(|_, (importer, source)| importer != name && source != name);
        for other in self.nodes.values_mut() {
            // A replica of a forgotten master has no one to follow: it becomes an empty
            // master, as Redis leaves it with no master to replicate.
            if other.role == (Role::Replica { master: *name }) {
                other.role = Role::Master;
            }
        }
        self.nodes.remove(name);
        let promoted = if node.voter {
            self.promote_first_learner()
        } else {
            None
        };
        Ok(Applied::Forgotten { promoted })
    }

    fn replicate(&mut self, name: &NodeName, master: &NodeName) -> Result<Applied, TopologyError> {
        let node = self.known(name)?;
        let node_number = node.number;
        let node_is_master = node.role == Role::Master;
        let target = self.known(master)?;
        if name == master {
            return Err(TopologyError::ReplicateSelf);
        }
        if target.role != Role::Master {
            return Err(TopologyError::ReplicateReplica);
        }
        if node_is_master && self.slots.contains(&Some(node_number)) {
            return Err(TopologyError::MasterNotEmpty);
        }
        self.known_mut(name)?.role = Role::Replica { master: *master };
        Ok(Applied::Replicating)
    }

    /// A failover: the replica takes its master's slots with a fresh epoch; the old master
    /// and its other replicas follow the new master.
    fn promote(&mut self, name: &NodeName) -> Result<Applied, TopologyError> {
        let Role::Replica { master } = self.known(name)?.role.clone() else {
            return Err(TopologyError::FailoverOnMaster);
        };
        let old_number = self.known(&master)?.number;
        let new_number = self.known(name)?.number;
        for owner in self.slots.iter_mut() {
            if *owner == Some(old_number) {
                *owner = Some(new_number);
            }
        }
        for (importer, source) in self.importing.values_mut() {
            if *importer == master {
                *importer = *name;
            }
            if *source == master {
                *source = *name;
            }
        }
        for target in self.migrating.values_mut() {
            if *target == master {
                *target = *name;
            }
        }
        for other in self.nodes.values_mut() {
            if other.role == (Role::Replica { master }) && other.name != *name {
                other.role = Role::Replica { master: *name };
            }
        }
        self.known_mut(&master)?.role = Role::Replica { master: *name };
        self.current_epoch += 1;
        let config_epoch = self.current_epoch;
        let promoted = self.known_mut(name)?;
        promoted.role = Role::Master;
        promoted.config_epoch = config_epoch;
        Ok(Applied::Promoted { config_epoch })
    }

    /// Redis's `clusterBumpConfigEpochWithoutConsensus`: a node whose epoch is zero or not
    /// the cluster's greatest takes a new one.
    fn bump_epoch_without_consensus(&mut self, name: &NodeName) {
        let max_epoch = self
            .nodes
            .values()
            .map(|node| node.config_epoch)
            .fold(self.current_epoch, u64::max);
        let current_epoch = self.current_epoch;
        if let Some(node) = self.nodes.get_mut(name) {
            if node.config_epoch == 0 || node.config_epoch != max_epoch {
                node.config_epoch = current_epoch + 1;
                self.current_epoch = current_epoch + 1;
            }
        }
    }

    fn promote_first_learner(&mut self) -> Option<NodeName> {
        let learner = self.nodes.values_mut().find(|node| !node.voter)?;
        learner.voter = true;
        Some(learner.name)
    }

    fn known(&self, name: &NodeName) -> Result<&NodeInfo, TopologyError> {
        self.nodes
            .get(name)
            .ok_or(TopologyError::UnknownNode(*name))
    }

    fn known_mut(&mut self, name: &NodeName) -> Result<&mut NodeInfo, TopologyError> {
        self.nodes
            .get_mut(name)
            .ok_or(TopologyError::UnknownNode(*name))
    }

    /// The number of `name`, which must be a known master; `unknown` is the error Redis
    /// gives for an unknown node in this position.
    fn master_target(
        &self,
        name: &NodeName,
        unknown: TopologyError,
    ) -> Result<NodeNumber, TopologyError> {
        let node = self.nodes.get(name).ok_or(unknown)?;
        if node.role != Role::Master {
            return Err(TopologyError::TargetNotMaster);
        }
        Ok(node.number)
    }

    fn node_by_number(&self, number: NodeNumber) -> Option<&NodeInfo> {
        self.nodes.values().find(|node| node.number == number)
    }

    fn take_number(&mut self) -> NodeNumber {
        let number = NonZeroU32::new(self.next_number).expect("node numbers start at 1");
        // NODES_MAX bounds live nodes, not numbers ever taken; u32 outlasts any cluster.
        self.next_number = self.next_number.checked_add(1).expect("node numbers left");
        NodeNumber(number)
    }

    /// Every invariant, checked after each apply in debug builds and on every decode.
    fn check(&self) -> Result<(), DecodeError> {
        let fail = |what: &str| Err(DecodeError(what.to_string()));
        if self.slots.len() != usize::from(SLOT_COUNT) {
            return fail("slot table has the wrong length");
        }
        if self.nodes.len() > NODES_MAX {
            return fail("too many nodes");
        }
        let mut numbers = BTreeMap::new();
        for (name, node) in &self.nodes {
            if *name != node.name || node.number.0.get() >= self.next_number {
                return fail("node entry does not match its key");
            }
            if numbers.insert(node.number, node.name).is_some() {
                return fail("two nodes share a number");
            }
            if node.config_epoch > self.current_epoch {
                return fail("a config epoch is past the current epoch");
            }
            if let Role::Replica { master } = &node.role {
                if !self.nodes.contains_key(master) || master == name {
                    return fail("a replica follows an unknown node");
                }
            }
        }
        if self.voters().count() > VOTERS_MAX {
            return fail("too many voters");
        }
        if self
            .slots
            .iter()
            .flatten()
            .any(|n| !numbers.contains_key(n))
        {
            return fail("a slot is owned by an unknown node");
        }
        let known = |name: &NodeName| self.nodes.contains_key(name);
        let migrations_known = self
            .migrating
            .iter()
            .all(|(s, t)| *s < SLOT_COUNT && known(t))
            && self
                .importing
                .iter()
                .all(|(s, (i, f))| *s < SLOT_COUNT && known(i) && known(f));
        if !migrations_known {
            return fail("a migration names an unknown node or slot");
        }
        Ok(())
    }
}

impl Default for Topology {
    fn default() -> Topology {
        Topology::new()
    }
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slots: Vec<(NodeName, Vec<SlotRange>)> = self
            .nodes
            .keys()
            .map(|name| (*name, self.slot_ranges(name)))
            .collect();
        f.debug_struct("Topology")
            .field("current_epoch", &self.current_epoch)
            .field("nodes", &self.nodes.values().collect::<Vec<_>>())
            .field("slots", &slots)
            .field("migrating", &self.migrating)
            .field("importing", &self.importing)
            .finish()
    }
}

/// A topology's bytes did not decode into a valid topology.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid topology bytes: {0}")]
pub struct DecodeError(String);

/// The serialized form: slots as runs, so a snapshot is a few hundred bytes.
#[derive(Serialize, Deserialize)]
struct TopologyWire {
    current_epoch: u64,
    next_number: u32,
    nodes: Vec<NodeInfo>,
    /// (first slot, last slot, owner number), in slot order.
    slot_runs: Vec<(u16, u16, NodeNumber)>,
    migrating: Vec<(u16, NodeName)>,
    importing: Vec<(u16, NodeName, NodeName)>,
}

impl From<&Topology> for TopologyWire {
    fn from(topology: &Topology) -> TopologyWire {
        let mut slot_runs: Vec<(u16, u16, NodeNumber)> = Vec::new();
        for (slot, owner) in (0..SLOT_COUNT).zip(&topology.slots) {
            let Some(owner) = owner else { continue };
            match slot_runs.last_mut() {
                Some((_, end, number)) if *end + 1 == slot && number == owner => *end = slot,
                _ => slot_runs.push((slot, slot, *owner)),
            }
        }
        TopologyWire {
            current_epoch: topology.current_epoch,
            next_number: topology.next_number,
            nodes: topology.nodes.values().cloned().collect(),
            slot_runs,
            migrating: topology.migrating.iter().map(|(s, t)| (*s, *t)).collect(),
            importing: topology
                .importing
                .iter()
                .map(|(s, (i, f))| (*s, *i, *f))
                .collect(),
        }
    }
}

impl TopologyWire {
    fn into_topology(self) -> Result<Topology, DecodeError> {
        if self.nodes.len() > NODES_MAX {
            return Err(DecodeError("too many nodes".to_string()));
        }
        let mut topology = Topology::new();
        topology.current_epoch = self.current_epoch;
        topology.next_number = self.next_number;
        for node in self.nodes {
            if topology.nodes.insert(node.name, node).is_some() {
                return Err(DecodeError("a node appears twice".to_string()));
            }
        }
        for (start, end, number) in self.slot_runs {
            if start > end || end >= SLOT_COUNT {
                return Err(DecodeError("a slot run is out of range".to_string()));
            }
            for slot in start..=end {
                let entry = &mut topology.slots[usize::from(slot)];
                if entry.replace(number).is_some() {
                    return Err(DecodeError("a slot is owned twice".to_string()));
                }
            }
        }
        topology.migrating = self.migrating.into_iter().collect();
        topology.importing = self
            .importing
            .into_iter()
            .map(|(slot, importer, source)| (slot, (importer, source)))
            .collect();
        topology.check()?;
        Ok(topology)
    }
}

impl NodeName {
    /// Parses a 40-character lowercase hex node id.
    pub fn parse(text: &str) -> Option<NodeName> {
        let bytes: [u8; NODE_NAME_LEN] = text.as_bytes().try_into().ok()?;
        let valid = bytes
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
        valid.then_some(NodeName(bytes))
    }

    /// A name from 20 bytes (e.g. drawn from `Env::secure_random`).
    pub fn from_bytes(raw: [u8; NODE_NAME_LEN / 2]) -> NodeName {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut name = [0u8; NODE_NAME_LEN];
        for (i, byte) in raw.iter().enumerate() {
            name[2 * i] = HEX[usize::from(byte >> 4)];
            name[2 * i + 1] = HEX[usize::from(byte & 0x0f)];
        }
        NodeName(name)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(&self.0).expect("a node name is ASCII")
    }

    /// The node's id in the Raft group: the name's first 16 hex digits.
    pub fn raft_id(&self) -> u64 {
        self.0[..16].iter().fold(0u64, |id, digit| {
            let value = match digit {
                b'0'..=b'9' => digit - b'0',
                _ => digit - b'a' + 10,
            };
            (id << 4) | u64::from(value)
        })
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeName({})", self.as_str())
    }
}

impl Serialize for NodeName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for NodeName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<NodeName, D::Error> {
        let text = <&str>::deserialize(deserializer)?;
        NodeName::parse(text).ok_or_else(|| serde::de::Error::custom("invalid node name"))
    }
}

impl SlotRange {
    pub fn single(slot: u16) -> SlotRange {
        SlotRange {
            start: slot,
            end: slot,
        }
    }

    pub fn new(start: u16, end: u16) -> SlotRange {
        SlotRange { start, end }
    }
}

/// The slots of `ranges` in the order given, after Redis's argument checks in Redis's
/// order: every range's ends first, then slot by slot `check` (busy or unassigned) and
/// then repetition, so the first failing slot names the error.
fn expand_ranges(
    ranges: &[SlotRange],
    check: impl Fn(u16) -> Result<(), TopologyError>,
) -> Result<Vec<u16>, TopologyError> {
    for range in ranges {
        if range.start >= SLOT_COUNT || range.end >= SLOT_COUNT {
            return Err(TopologyError::SlotOutOfRange);
        }
        if range.start > range.end {
            return Err(TopologyError::RangeReversed {
                start: range.start,
                end: range.end,
            });
        }
    }
    let mut seen = vec![false; usize::from(SLOT_COUNT)];
    let mut slots = Vec::new();
    for range in ranges {
        for slot in range.start..=range.end {
            check(slot)?;
            if std::mem::replace(&mut seen[usize::from(slot)], true) {
                return Err(TopologyError::SlotRepeated(slot));
            }
            slots.push(slot);
        }
    }
    assert!(slots.len() <= usize::from(SLOT_COUNT));
    Ok(slots)
}

fn count_u32(count: usize) -> u32 {
    // At most SLOT_COUNT slots, checked by expand_ranges.
    u32::try_from(count).expect("a slot count fits u32")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: u8) -> NodeName {
        NodeName::from_bytes([n; NODE_NAME_LEN / 2])
    }

    fn meet(n: u8) -> TopologyCommand {
        TopologyCommand::Meet(NodeAddress {
            name: name(n),
            ip: IpAddr::from([10, 0, 0, n]),
            port: 6379,
            bus_port: 16379,
        })
    }

    fn add(n: u8, ranges: &[(u16, u16)]) -> TopologyCommand {
        TopologyCommand::AddSlots {
            node: name(n),
            ranges: ranges.iter().map(|(s, e)| SlotRange::new(*s, *e)).collect(),
        }
    }

    fn del(ranges: &[(u16, u16)]) -> TopologyCommand {
        TopologyCommand::DelSlots {
            ranges: ranges.iter().map(|(s, e)| SlotRange::new(*s, *e)).collect(),
        }
    }

    fn set_slot(n: u8, slot: u16, action: SlotAction) -> TopologyCommand {
        TopologyCommand::SetSlot {
            node: name(n),
            slot,
            action,
        }
    }

    /// Nodes 1..=count, met in order; node 1 owns 0..=5460, 2 the next third, 3 the rest.
    fn cluster(count: u8) -> Topology {
        let mut topology = Topology::new();
        for n in 1..=count {
            topology.apply(&meet(n)).unwrap();
        }
        topology
    }

    fn three_masters() -> Topology {
        let mut topology = cluster(3);
        topology.apply(&add(1, &[(0, 5460)])).unwrap();
        topology.apply(&add(2, &[(5461, 10922)])).unwrap();
        topology.apply(&add(3, &[(10923, 16383)])).unwrap();
        topology
    }

    fn error_text(topology: &mut Topology, command: TopologyCommand) -> String {
        let before = topology.clone();
        let error = topology.apply(&command).unwrap_err().to_string();
        assert_eq!(*topology, before, "a refused command changes nothing");
        error
    }

    #[test]
    fn node_names_parse_and_map_to_raft_ids() {
        let text = "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca";
        let parsed = NodeName::parse(text).unwrap();
        assert_eq!(parsed.as_str(), text);
        assert_eq!(parsed.raft_id(), 0xe7d1_eecc_e10f_d6bb);
        assert_eq!(NodeName::parse(&text[1..]), None);
        assert_eq!(NodeName::parse(&text.to_uppercase()), None);
        assert_eq!(NodeName::parse(&text.replace('e', "g")), None);
        assert_eq!(name(0xab).as_str(), "ab".repeat(20));
    }

    #[test]
    fn meet_adds_masters_with_fresh_epochs_and_five_voters() {
        let mut topology = Topology::new();
        for n in 1..=7u8 {
            let voter = n <= 5;
            assert_eq!(topology.apply(&meet(n)), Ok(Applied::Met { voter }));
            let node = topology.node(&name(n)).unwrap();
            assert_eq!(node.role, Role::Master);
            assert_eq!(node.config_epoch, u64::from(n));
        }
        assert_eq!(topology.current_epoch(), 7);
        assert_eq!(topology.voters().count(), VOTERS_MAX);
        assert_eq!(topology.nodes().count(), 7);
    }

    #[test]
    fn meet_again_updates_the_address_only() {
        let mut topology = cluster(1);
        let moved = TopologyCommand::Meet(NodeAddress {
            name: name(1),
            ip: IpAddr::from([10, 9, 9, 9]),
            port: 7000,
            bus_port: 17000,
        });
        assert_eq!(topology.apply(&moved), Ok(Applied::AlreadyKnown));
        let node = topology.node(&name(1)).unwrap();
        assert_eq!(
            (node.ip, node.port, node.bus_port),
            (IpAddr::from([10, 9, 9, 9]), 7000, 17000)
        );
        assert_eq!(topology.current_epoch(), 1);
    }

    #[test]
    fn meet_refuses_bad_addresses_and_raft_id_collisions() {
        let mut topology = cluster(1);
        let unspecified = TopologyCommand::Meet(NodeAddress {
            name: name(2),
            ip: IpAddr::from([0, 0, 0, 0]),
            port: 6379,
            bus_port: 16379,
        });
        assert_eq!(
            error_text(&mut topology, unspecified),
            "ERR Invalid node address specified: 0.0.0.0:6379@16379"
        );
        let mut twin = *name(1)
            .as_str()
            .as_bytes()
            .first_chunk::<NODE_NAME_LEN>()
            .unwrap();
        twin[39] = b'0';
        let twin = NodeName::parse(std::str::from_utf8(&twin).unwrap()).unwrap();
        let collide = TopologyCommand::Meet(NodeAddress {
            name: twin,
            ip: IpAddr::from([10, 0, 0, 2]),
            port: 6379,
            bus_port: 16379,
        });
        assert!(error_text(&mut topology, collide).starts_with("ERR Node "));
    }

    #[test]
    fn add_slots_assigns_and_reports_ranges() {
        let mut topology = three_masters();
        assert_eq!(topology.slots_assigned(), usize::from(SLOT_COUNT));
        assert_eq!(topology.slot_owner(0).unwrap().name, name(1));
        assert_eq!(topology.slot_owner(16383).unwrap().name, name(3));
        assert_eq!(
            topology.slot_ranges(&name(2)),
            vec![SlotRange::new(5461, 10922)]
        );
        topology.apply(&del(&[(100, 199)])).unwrap();
        assert_eq!(
            topology.apply(&add(2, &[(100, 100), (150, 199)])),
            Ok(Applied::SlotsAdded { count: 51 })
        );
        assert_eq!(
            topology.slot_ranges(&name(2)),
            vec![
                SlotRange::new(100, 100),
                SlotRange::new(150, 199),
                SlotRange::new(5461, 10922)
            ]
        );
    }

    #[test]
    fn add_slots_errors_match_redis() {
        let mut topology = cluster(2);
        topology.apply(&add(1, &[(5, 5)])).unwrap();
        assert_eq!(
            error_text(&mut topology, add(2, &[(5, 5)])),
            "ERR Slot 5 is already busy"
        );
        assert_eq!(
            error_text(&mut topology, add(2, &[(7, 9), (9, 9)])),
            "ERR Slot 9 specified multiple times"
        );
        assert_eq!(
            error_text(&mut topology, add(2, &[(16384, 16384)])),
            "ERR Invalid or out of range slot"
        );
        assert_eq!(
            error_text(&mut topology, add(2, &[(10, 3)])),
            "ERR start slot number 10 is greater than end slot number 3"
        );
        assert_eq!(
            error_text(&mut topology, add(9, &[(10, 10)])),
            format!("ERR Unknown node {}", name(9))
        );
        // The whole command is refused when one slot is busy: slot 4 stays free.
        assert_eq!(
            error_text(&mut topology, add(2, &[(4, 5)])),
            "ERR Slot 5 is already busy"
        );
        assert!(topology.slot_owner(4).is_none());
    }

    #[test]
    fn del_slots_and_its_errors() {
        let mut topology = three_masters();
        topology
            .apply(&set_slot(1, 7, SlotAction::Migrating { to: name(2) }))
            .unwrap();
        assert_eq!(
            topology.apply(&del(&[(0, 9)])),
            Ok(Applied::SlotsDeleted { count: 10 })
        );
        assert!(topology.slot_owner(7).is_none());
        assert_eq!(topology.migrating(7), None);
        assert_eq!(
            error_text(&mut topology, del(&[(5, 5)])),
            "ERR Slot 5 is already unassigned"
        );
        assert_eq!(
            error_text(&mut topology, del(&[(20, 20), (20, 20)])),
            "ERR Slot 20 specified multiple times"
        );
        assert_eq!(
            error_text(&mut topology, del(&[(0, 20000)])),
            "ERR Invalid or out of range slot"
        );
    }

    #[test]
    fn setslot_migrating_and_importing() {
        let mut topology = three_masters();
        let migrate = set_slot(1, 42, SlotAction::Migrating { to: name(2) });
        assert_eq!(topology.apply(&migrate), Ok(Applied::SlotSet));
        assert_eq!(topology.migrating(42), Some(&name(2)));
        let import = set_slot(2, 42, SlotAction::Importing { from: name(1) });
        assert_eq!(topology.apply(&import), Ok(Applied::SlotSet));
        assert_eq!(topology.importing(42), Some((&name(2), &name(1))));
        assert_eq!(
            topology.apply(&set_slot(1, 42, SlotAction::Stable)),
            Ok(Applied::SlotSet)
        );
        assert_eq!(topology.migrating(42), None);
        assert_eq!(topology.importing(42), None);
    }

    #[test]
    fn setslot_errors_match_redis() {
        let mut topology = three_masters();
        topology.apply(&meet(4)).unwrap();
        topology
            .apply(&TopologyCommand::Replicate {
                node: name(4),
                master: name(1),
            })
            .unwrap();
        let cases = [
            (
                set_slot(2, 42, SlotAction::Migrating { to: name(3) }),
                "ERR I'm not the owner of hash slot 42".to_string(),
            ),
            (
                set_slot(1, 42, SlotAction::Migrating { to: name(9) }),
                format!("ERR I don't know about node {}", name(9)),
            ),
            (
                set_slot(1, 42, SlotAction::Migrating { to: name(4) }),
                "ERR Target node is not a master".to_string(),
            ),
            (
                set_slot(1, 42, SlotAction::Migrating { to: name(1) }),
                "ERR Can't migrate hash slot 42 to myself".to_string(),
            ),
            (
                set_slot(1, 42, SlotAction::Importing { from: name(2) }),
                "ERR I'm already the owner of hash slot 42".to_string(),
            ),
            (
                set_slot(2, 42, SlotAction::Importing { from: name(9) }),
                format!("ERR I don't know about node {}", name(9)),
            ),
            (
                set_slot(2, 42, SlotAction::Importing { from: name(4) }),
                "ERR Target node is not a master".to_string(),
            ),
            (
                set_slot(2, 42, SlotAction::Importing { from: name(2) }),
                "ERR Can't import hash slot 42 from myself".to_string(),
            ),
            (
                set_slot(2, 42, SlotAction::Node { owner: name(9) }),
                format!("ERR Unknown node {}", name(9)),
            ),
            (
                set_slot(2, 42, SlotAction::Node { owner: name(4) }),
                "ERR Target node is not a master".to_string(),
            ),
            (
                set_slot(4, 42, SlotAction::Stable),
                "ERR Please use SETSLOT only with masters.".to_string(),
            ),
            (
                set_slot(2, 16384, SlotAction::Stable),
                "ERR Invalid or out of range slot".to_string(),
            ),
            (
                set_slot(9, 42, SlotAction::Stable),
                format!("ERR Unknown node {}", name(9)),
            ),
        ];
        for (command, expected) in cases {
            assert_eq!(error_text(&mut topology, command), expected);
        }
    }

    #[test]
    fn setslot_reverse_hands_an_open_migration_back() {
        let mut topology = three_masters();
        let reverse = |node: u8| set_slot(node, 42, SlotAction::Reverse);
        assert_eq!(
            error_text(&mut topology, reverse(2)),
            "ERR Slot 42 is not being migrated"
        );
        topology
            .apply(&set_slot(1, 42, SlotAction::Migrating { to: name(2) }))
            .unwrap();
        assert_eq!(
            error_text(&mut topology, reverse(2)),
            "ERR Slot 42 is not being migrated",
            "only half open"
        );
        topology
            .apply(&set_slot(2, 42, SlotAction::Importing { from: name(1) }))
            .unwrap();
        assert_eq!(
            error_text(&mut topology, reverse(3)),
            "ERR Slot 42 is not being migrated",
            "a bystander cannot reverse it"
        );
        // The owner already migrates the slot away from itself: nothing to do.
        let open = topology.clone();
        assert_eq!(topology.apply(&reverse(1)), Ok(Applied::SlotSet));
        assert_eq!(topology, open);
        let epoch = topology.current_epoch();
        assert_eq!(topology.apply(&reverse(2)), Ok(Applied::SlotSet));
        assert_eq!(topology.slot_owner(42).unwrap().name, name(2));
        assert_eq!(topology.migrating(42), Some(&name(1)));
        assert_eq!(topology.importing(42), Some((&name(1), &name(2))));
        assert_eq!(topology.current_epoch(), epoch + 1);
        // A retried proposal applies again and changes nothing.
        let reversed = topology.clone();
        assert_eq!(topology.apply(&reverse(2)), Ok(Applied::SlotSet));
        assert_eq!(topology, reversed);
        // SETSLOT NODE to the old owner, once the keys are back, closes it.
        let close = set_slot(1, 42, SlotAction::Node { owner: name(1) });
        assert_eq!(topology.apply(&close), Ok(Applied::SlotSet));
        assert_eq!(topology.slot_owner(42).unwrap().name, name(1));
        assert_eq!(topology.migrating(42), None);
        assert_eq!(topology.importing(42), None);
    }

    #[test]
    fn setslot_node_finishes_a_migration_and_bumps_the_importer_epoch() {
        let mut topology = three_masters();
        topology
            .apply(&set_slot(1, 42, SlotAction::Migrating { to: name(2) }))
            .unwrap();
        topology
            .apply(&set_slot(2, 42, SlotAction::Importing { from: name(1) }))
            .unwrap();
        assert_eq!(topology.current_epoch(), 3);
        let switch = set_slot(2, 42, SlotAction::Node { owner: name(2) });
        assert_eq!(topology.apply(&switch), Ok(Applied::SlotSet));
        assert_eq!(topology.slot_owner(42).unwrap().name, name(2));
        assert_eq!(topology.migrating(42), None);
        assert_eq!(topology.importing(42), None);
        // Node 2 had epoch 2, not the maximum: it takes current_epoch + 1.
        assert_eq!(topology.current_epoch(), 4);
        assert_eq!(topology.node(&name(2)).unwrap().config_epoch, 4);
        // Node 2 now holds the unique maximum, so a second import does not bump again.
        topology
            .apply(&set_slot(2, 43, SlotAction::Importing { from: name(1) }))
            .unwrap();
        topology
            .apply(&set_slot(1, 43, SlotAction::Node { owner: name(2) }))
            .unwrap();
        assert_eq!(topology.current_epoch(), 4);
        // Without an import, assigning a slot does not touch epochs.
        topology
            .apply(&set_slot(3, 44, SlotAction::Node { owner: name(3) }))
            .unwrap();
        assert_eq!(topology.node(&name(3)).unwrap().config_epoch, 3);
        assert_eq!(topology.slot_owner(44).unwrap().name, name(3));
    }

    #[test]
    fn add_slots_ends_the_adders_import() {
        let mut topology = cluster(2);
        topology.apply(&add(1, &[(0, 0)])).unwrap();
        topology
            .apply(&set_slot(2, 1, SlotAction::Importing { from: name(1) }))
            .unwrap();
        topology.apply(&add(2, &[(1, 1)])).unwrap();
        assert_eq!(topology.importing(1), None);
    }

    #[test]
    fn replicate_and_its_errors() {
        let mut topology = three_masters();
        topology.apply(&meet(4)).unwrap();
        topology.apply(&meet(5)).unwrap();
        let replicate = |node, master| TopologyCommand::Replicate {
            node: name(node),
            master: name(master),
        };
        assert_eq!(topology.apply(&replicate(4, 1)), Ok(Applied::Replicating));
        assert_eq!(
            topology.node(&name(4)).unwrap().role,
            Role::Replica { master: name(1) }
        );
        // A replica may switch masters.
        assert_eq!(topology.apply(&replicate(4, 2)), Ok(Applied::Replicating));
        assert_eq!(
            error_text(&mut topology, replicate(5, 5)),
            "ERR Can't replicate myself"
        );
        assert_eq!(
            error_text(&mut topology, replicate(5, 4)),
            "ERR I can only replicate a master, not a replica."
        );
        assert_eq!(
            error_text(&mut topology, replicate(1, 2)),
            "ERR To set a master the node must be empty and without assigned slots."
        );
        assert_eq!(
            error_text(&mut topology, replicate(5, 9)),
            format!("ERR Unknown node {}", name(9))
        );
        assert_eq!(
            error_text(&mut topology, replicate(9, 1)),
            format!("ERR Unknown node {}", name(9))
        );
    }

    #[test]
    fn promote_replica_takes_the_slots_with_a_new_epoch() {
        let mut topology = three_masters();
        topology.apply(&meet(4)).unwrap();
        topology.apply(&meet(5)).unwrap();
        for replica in [4, 5] {
            topology
                .apply(&TopologyCommand::Replicate {
                    node: name(replica),
                    master: name(1),
                })
                .unwrap();
        }
        topology
            .apply(&set_slot(1, 7, SlotAction::Migrating { to: name(2) }))
            .unwrap();
        let promote = TopologyCommand::PromoteReplica { replica: name(4) };
        assert_eq!(
            topology.apply(&promote),
            Ok(Applied::Promoted { config_epoch: 6 })
        );
        assert_eq!(topology.current_epoch(), 6);
        assert_eq!(
            topology.slot_ranges(&name(4)),
            vec![SlotRange::new(0, 5460)]
        );
        assert!(topology.slot_ranges(&name(1)).is_empty());
        assert_eq!(topology.node(&name(4)).unwrap().role, Role::Master);
        assert_eq!(
            topology.node(&name(1)).unwrap().role,
            Role::Replica { master: name(4) }
        );
        assert_eq!(
            topology.node(&name(5)).unwrap().role,
            Role::Replica { master: name(4) }
        );
        assert_eq!(topology.migrating(7), Some(&name(2)));
        assert_eq!(
            error_text(
                &mut topology,
                TopologyCommand::PromoteReplica { replica: name(2) }
            ),
            "ERR You should send CLUSTER FAILOVER to a replica"
        );
        assert_eq!(
            error_text(
                &mut topology,
                TopologyCommand::PromoteReplica { replica: name(9) }
            ),
            format!("ERR Unknown node {}", name(9))
        );
    }

    #[test]
    fn forget_unassigns_slots_frees_replicas_and_hands_on_the_vote() {
        let mut topology = three_masters();
        for n in 4..=7 {
            topology.apply(&meet(n)).unwrap();
        }
        assert!(!topology.node(&name(6)).unwrap().voter);
        topology
            .apply(&TopologyCommand::Replicate {
                node: name(6),
                master: name(1),
            })
            .unwrap();
        topology
            .apply(&set_slot(2, 9000, SlotAction::Migrating { to: name(1) }))
            .unwrap();
        let forget = TopologyCommand::Forget { node: name(1) };
        assert_eq!(
            topology.apply(&forget),
            Ok(Applied::Forgotten {
                promoted: Some(name(6))
            })
        );
        assert!(topology.node(&name(1)).is_none());
        assert!(topology.slot_owner(0).is_none());
        assert_eq!(topology.slots_assigned(), usize::from(SLOT_COUNT) - 5461);
        assert_eq!(topology.node(&name(6)).unwrap().role, Role::Master);
        assert!(topology.node(&name(6)).unwrap().voter);
        assert_eq!(topology.voters().count(), VOTERS_MAX);
        assert_eq!(topology.migrating(9000), None);
        assert_eq!(
            error_text(&mut topology, TopologyCommand::Forget { node: name(1) }),
            format!("ERR Unknown node {}", name(1))
        );
        // A learner leaves without touching the voters.
        let forget_learner = TopologyCommand::Forget { node: name(7) };
        assert_eq!(
            topology.apply(&forget_learner),
            Ok(Applied::Forgotten { promoted: None })
        );
        // Numbers are never reused: a node met again gets a new one and slots stay apart.
        topology.apply(&meet(1)).unwrap();
        topology.apply(&add(1, &[(0, 0)])).unwrap();
        assert_eq!(topology.slot_ranges(&name(1)), vec![SlotRange::single(0)]);
    }

    #[test]
    fn the_same_commands_give_the_same_state() {
        let commands = [
            meet(1),
            meet(2),
            add(1, &[(0, 8191)]),
            add(2, &[(8192, 16383)]),
            set_slot(1, 5, SlotAction::Migrating { to: name(2) }),
            add(2, &[(5, 5)]),
            set_slot(2, 5, SlotAction::Importing { from: name(1) }),
            set_slot(2, 5, SlotAction::Node { owner: name(2) }),
        ];
        let run = || {
            let mut topology = Topology::new();
            let results: Vec<_> = commands.iter().map(|c| topology.apply(c)).collect();
            (topology, results)
        };
        let (first, first_results) = run();
        let (second, second_results) = run();
        assert_eq!(first, second);
        assert_eq!(first_results, second_results);
        assert_eq!(first.to_bytes(), second.to_bytes());
    }

    #[test]
    fn bytes_round_trip_and_bad_bytes_are_refused() {
        let mut topology = three_masters();
        topology.apply(&meet(4)).unwrap();
        topology
            .apply(&TopologyCommand::Replicate {
                node: name(4),
                master: name(3),
            })
            .unwrap();
        topology
            .apply(&set_slot(1, 1, SlotAction::Migrating { to: name(2) }))
            .unwrap();
        topology
            .apply(&set_slot(2, 1, SlotAction::Importing { from: name(1) }))
            .unwrap();
        let bytes = topology.to_bytes();
        assert!(
            bytes.len() < 1024,
            "slots are stored as runs: {} bytes",
            bytes.len()
        );
        assert_eq!(Topology::from_bytes(&bytes).unwrap(), topology);
        assert!(Topology::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(Topology::from_bytes(b"").is_err());
        // A slot owned by a node number nobody has must not load.
        let mut wire = TopologyWire::from(&topology);
        wire.slot_runs
            .push((0, 0, NodeNumber(NonZeroU32::new(99).unwrap())));
        let bad = postcard::to_allocvec(&wire).unwrap();
        assert!(Topology::from_bytes(&bad).is_err());
    }
}
