//! Every node applies the same topology log: an entry a node applies at an index is the
//! entry every other node applied, or will apply, at that index (Raft's state machine
//! safety), with the same result, since the topology is a deterministic function of its
//! log. A node that restarts applies its log again from its snapshot, and must apply the
//! same entries again.

use std::collections::BTreeMap;

use ember_cluster::raft::AppliedEntry;

/// The entries seen so far, by log index, with the node that first applied each.
#[derive(Debug, Default)]
pub struct LogMatching {
    entries: BTreeMap<u64, (usize, AppliedEntry)>,
}

impl LogMatching {
    /// Node `node` applied `entry`; an error if another node applied something else there.
    pub fn observe(&mut self, node: usize, entry: &AppliedEntry) -> Result<(), String> {
        let index = entry.log_id.index;
        match self.entries.get(&index) {
            None => {
                self.entries.insert(index, (node, entry.clone()));
                Ok(())
            }
            Some((_, seen)) if seen == entry => Ok(()),
            Some((first, seen)) => Err(format!(
                "log index {index}: node {first} applied {seen:?}, node {node} applied {entry:?}"
            )),
        }
    }

    /// How many distinct indexes were applied.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_cluster::topology::NodeName;
    use ember_cluster::topology::{Applied, SlotRange, TopologyCommand};
    use openraft::{CommittedLeaderId, LogId};

    fn entry(index: u64, term: u64, start: u16) -> AppliedEntry {
        let node = NodeName::parse(&"ab".repeat(20)).unwrap();
        AppliedEntry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            command: Some(TopologyCommand::AddSlots {
                node,
                ranges: vec![SlotRange::new(start, start)],
            }),
            result: Ok(Applied::SlotsAdded { count: 1 }),
        }
    }

    #[test]
    fn the_same_index_must_hold_the_same_entry() {
        let mut log = LogMatching::default();
        assert!(log.observe(0, &entry(1, 1, 5)).is_ok());
        assert!(log.observe(1, &entry(1, 1, 5)).is_ok());
        assert!(
            log.observe(0, &entry(1, 1, 5)).is_ok(),
            "a replay after a restart"
        );
        assert!(log.observe(2, &entry(1, 1, 6)).is_err(), "another command");
        assert!(log.observe(2, &entry(1, 2, 5)).is_err(), "another term");
        assert!(log.observe(2, &entry(2, 1, 6)).is_ok());
        assert_eq!(log.len(), 2);
    }
}
