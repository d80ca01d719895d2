//! At most one owner per slot per config epoch: every topology any node ever applies names,
//! for a slot and the owner's config epoch, the same owner. A slot changes hands only with
//! an owner whose epoch is new to it (a node's epoch is unique when it joins, and taking a
//! slot by migration bumps it), so two nodes claiming one slot under one epoch would be
//! two different histories of the cluster.

use std::collections::BTreeMap;
use std::sync::Arc;

use ember_cluster::topology::{NodeName, Topology};

/// Each slot's owner and the owner's config epoch, by slot.
type OwnerTable = Vec<Option<(NodeName, u64)>>;

/// The owners seen so far, and what each node's last seen topology said.
#[derive(Debug, Default)]
pub struct SlotOwners {
    /// (slot, config epoch) -> the owner seen with it, and the node that showed it first.
    claims: BTreeMap<(u16, u64), (NodeName, usize)>,
    /// Per node: the last topology checked (to skip unchanged ones) and its owner table.
    last: BTreeMap<usize, (Arc<Topology>, OwnerTable)>,
}

impl SlotOwners {
    /// Checks node `node`'s current topology; only slots whose owner changed since the
    /// last check of that node are looked at again.
    pub fn observe(&mut self, node: usize, topology: &Arc<Topology>) -> Result<(), String> {
        if let Some((seen, _)) = self.last.get(&node) {
            if Arc::ptr_eq(seen, topology) {
                return Ok(());
            }
        }
        let owners = owner_table(topology);
        let before = self.last.get(&node).map(|(_, owners)| owners);
        for (slot, owner) in owners.iter().enumerate() {
            let Some((name, epoch)) = owner else {
                continue;
            };
            if before.is_some_and(|before| before[slot] == *owner) {
                continue;
            }
            let slot = u16::try_from(slot).expect("16384 slots");
            match self.claims.get(&(slot, *epoch)) {
                None => {
                    self.claims.insert((slot, *epoch), (*name, node));
                }
                Some((claimed, _)) if claimed == name => {}
                Some((claimed, first)) => {
                    return Err(format!(
                        "slot {slot} at config epoch {epoch}: node {first} saw owner {claimed}, node {node} sees {name}"
                    ))
                }
            }
        }
        self.last.insert(node, (topology.clone(), owners));
        Ok(())
    }
}

fn owner_table(topology: &Topology) -> OwnerTable {
    (0..ember_cluster::topology::SLOT_COUNT)
        .map(|slot| {
            topology
                .slot_owner(slot)
                .map(|info| (info.name, info.config_epoch))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_cluster::topology::{NodeAddress, SlotAction, SlotRange, TopologyCommand};

    fn name(n: u8) -> NodeName {
        NodeName::parse(&format!("{n:02x}").repeat(20)).unwrap()
    }

    fn two_nodes() -> Topology {
        let mut topology = Topology::new();
        for n in [1u8, 2] {
            topology
                .apply(&TopologyCommand::Meet(NodeAddress {
                    name: name(n),
                    ip: "10.0.0.1".parse().unwrap(),
                    port: 6379 + u16::from(n),
                    bus_port: 16379 + u16::from(n),
                }))
                .unwrap();
        }
        topology
            .apply(&TopologyCommand::AddSlots {
                node: name(1),
                ranges: vec![SlotRange::new(0, 16383)],
            })
            .unwrap();
        topology
    }

    #[test]
    fn a_migration_with_a_new_epoch_passes() {
        let mut owners = SlotOwners::default();
        let mut topology = two_nodes();
        assert!(owners.observe(0, &Arc::new(topology.clone())).is_ok());
        for (node, action) in [
            (2, SlotAction::Importing { from: name(1) }),
            (1, SlotAction::Migrating { to: name(2) }),
            (2, SlotAction::Node { owner: name(2) }),
        ] {
            topology
                .apply(&TopologyCommand::SetSlot {
                    node: name(node),
                    slot: 7,
                    action,
                })
                .unwrap();
        }
        assert!(owners.observe(0, &Arc::new(topology.clone())).is_ok());
        assert!(owners.observe(1, &Arc::new(topology)).is_ok());
    }

    #[test]
    fn two_owners_under_one_epoch_fail() {
        let mut owners = SlotOwners::default();
        let topology = two_nodes();
        let epoch = topology.node(&name(1)).unwrap().config_epoch;
        // Another history, seen first from node 1: node 2 took slot 7 under node 1's epoch.
        owners.claims.insert((7, epoch), (name(2), 1));
        assert!(owners.observe(0, &Arc::new(topology)).is_err());
    }
}
