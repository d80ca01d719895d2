//! All nodes converge to the same topology once faults heal: every node runs, has applied
//! the same topology, sees every other node alive through SWIM, has Raft voters that are
//! the topology's (with no membership change half done), every slot is assigned, and every
//! node reaches a majority (so each says cluster_state:ok). The `converge` step requires
//! this within a bound of virtual time.

use ember_proto::cluster_bus::MemberState;

use crate::cluster_world::NodeHandle;

/// Why the nodes have not converged, or None if they have.
pub fn why_not(nodes: &[Option<NodeHandle>]) -> Option<String> {
    let mut handles = Vec::with_capacity(nodes.len());
    for (index, node) in nodes.iter().enumerate() {
        match node {
            Some(handle) => handles.push((index, handle)),
            None => return Some(format!("node{} is down", index + 1)),
        }
    }
    let (_, first) = handles.first()?;
    let topology = first.cluster.topology();
    if topology.nodes().count() != nodes.len() {
        return Some(format!(
            "the topology has {} nodes of {}",
            topology.nodes().count(),
            nodes.len()
        ));
    }
    if topology.slots_assigned() != usize::from(ember_cluster::topology::SLOT_COUNT) {
        return Some(format!("{} slots assigned", topology.slots_assigned()));
    }
    let mut voters: Vec<u64> = topology.voters().map(|v| v.name.raft_id()).collect();
    voters.sort_unstable();
    for (index, handle) in &handles {
        let name = index + 1;
        if *handle.cluster.topology() != *topology {
            return Some(format!("node{name} has another topology than node1"));
        }
        let membership = handle.cluster.membership();
        let me = handle.cluster.myself();
        for info in topology.nodes().filter(|info| info.name != me) {
            let state = membership.get(&info.name);
            if state != Some(&MemberState::Alive) {
                return Some(format!("node{name} sees {} as {state:?}", info.name));
            }
        }
        let metrics = handle.cluster.raft_metrics();
        let membership = metrics.membership_config.membership();
        let raft_voters: Vec<u64> = membership.voter_ids().collect();
        if raft_voters != voters || membership.get_joint_config().len() != 1 {
            return Some(format!(
                "node{name}'s Raft voters {raft_voters:?} are not the topology's {voters:?}"
            ));
        }
        let quorum = handle
            .shared
            .cluster_quorum
            .load(std::sync::atomic::Ordering::Relaxed);
        if !quorum {
            return Some(format!("node{name} does not reach a majority"));
        }
    }
    None
}
