//! Cluster routing: which node serves a command's keys, decided from the committed topology
//! exactly as Redis Cluster decides it (getNodeByQuery):
//!
//! - keys of different slots: `-CROSSSLOT`;
//! - a slot nobody owns, or a cluster without every slot covered: `-CLUSTERDOWN`;
//! - a slot another node owns: `-MOVED slot ip:port`, unless this node is importing the
//!   slot and the client sent ASKING just before;
//! - a slot this node owns and is migrating: served here while the keys are here; a key
//!   already gone gets `-ASK slot ip:port` (several keys, some gone: `-TRYAGAIN`), which
//!   the shard decides, since only it can see which keys exist.

use std::sync::Arc;

use bytes::Bytes;
use ember_cluster::topology::{NodeInfo, NodeName, Topology};
use ember_proto::Frame;

use crate::slot::{key_slot, SLOT_COUNT};

/// A command on a slot this node is migrating away: it runs only if `keys` are all here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    pub slot: u16,
    pub to: String,
    pub keys: Vec<Bytes>,
}

/// What a node knows to route: who it is, the topology it has applied, and whether it
/// reaches a majority of the masters that serve slots.
#[derive(Clone)]
pub struct ClusterView {
    pub myself: NodeName,
    pub topology: Arc<Topology>,
    pub quorum: bool,
}

/// Where a command goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Run it here.
    Here,
    /// Run it here if its keys are here; otherwise send the client to `to` with ASK.
    HereWhileMigrating { slot: u16, to: String },
    /// Refuse it with this error.
    Refuse(Redirect),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    CrossSlot,
    Moved { slot: u16, to: String },
    Ask { slot: u16, to: String },
    TryAgain,
    SlotNotServed,
    ClusterDown,
}

impl Redirect {
    pub fn to_frame(&self) -> Frame {
        let line = match self {
            Redirect::CrossSlot => "CROSSSLOT Keys in request don't hash to the same slot".into(),
            Redirect::Moved { slot, to } => format!("MOVED {slot} {to}"),
            Redirect::Ask { slot, to } => format!("ASK {slot} {to}"),
            Redirect::TryAgain => "TRYAGAIN Multiple keys request during rehashing of slot".into(),
            Redirect::SlotNotServed => "CLUSTERDOWN Hash slot not served".into(),
            Redirect::ClusterDown => "CLUSTERDOWN The cluster is down".into(),
        };
        Frame::Error(Bytes::from(line))
    }
}

/// `ip:port` of a node's client port, as MOVED and ASK name it.
pub fn client_address(node: &NodeInfo) -> String {
    match node.ip {
        std::net::IpAddr::V6(ip) => format!("[{ip}]:{}", node.port),
        std::net::IpAddr::V4(ip) => format!("{ip}:{}", node.port),
    }
}

impl ClusterView {
    /// Redis's cluster_state:ok: every slot has an owner and this node reaches a majority
    /// of the masters serving them.
    pub fn is_ok(&self) -> bool {
        self.quorum && self.topology.slots_assigned() == SLOT_COUNT as usize
    }

    /// Routes a command with these keys; `asking` is whether the client sent ASKING just
    /// before it.
    pub fn route<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>, asking: bool) -> Route {
        let mut slot = None;
        for key in keys {
            let this = key_slot(key);
            match slot {
                None => slot = Some(this),
                Some(first) if first != this => return Route::Refuse(Redirect::CrossSlot),
                Some(_) => {}
            }
        }
        let Some(slot) = slot else {
            return Route::Here;
        };
        if !self.quorum {
            // Cut off from the majority: the slots may be changing hands elsewhere.
            return Route::Refuse(Redirect::ClusterDown);
        }
        let Some(owner) = self.topology.slot_owner(slot) else {
            return Route::Refuse(Redirect::SlotNotServed);
        };
        if owner.name == self.myself {
            if let Some(to) = self.topology.migrating(slot) {
                if let Some(target) = self.topology.node(to) {
                    let to = client_address(target);
                    return Route::HereWhileMigrating { slot, to };
                }
            }
            return if self.is_ok() {
                Route::Here
            } else {
                Route::Refuse(Redirect::ClusterDown)
            };
        }
        let importing_here = self
            .topology
            .importing(slot)
            .is_some_and(|(importer, _)| *importer == self.myself);
        if importing_here && asking {
            return Route::Here;
        }
        if !self.is_ok() {
            return Route::Refuse(Redirect::ClusterDown);
        }
        Route::Refuse(Redirect::Moved {
            slot,
            to: client_address(owner),
        })
    }
}

/// What a command on a migrating slot gets, from how many of its `keys` are `missing`
/// here: it runs when none is missing; every key gone sends the client to the importing
/// node with ASK; some gone and some here is TRYAGAIN, as in Redis.
pub fn ask_if_missing(slot: u16, to: &str, keys: usize, missing: usize) -> Option<Redirect> {
    match missing {
        0 => None,
        _ if missing == keys => Some(Redirect::Ask {
            slot,
            to: to.to_string(),
        }),
        _ => Some(Redirect::TryAgain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ember_cluster::topology::{NodeAddress, SlotAction, SlotRange, TopologyCommand};

    fn name(n: u8) -> NodeName {
        NodeName::parse(&format!("{n:02x}").repeat(20)).expect("40 hex digits")
    }

    fn topology() -> Topology {
        let mut t = Topology::new();
        for (n, port) in [(1u8, 7001u16), (2, 7002)] {
            t.apply(&TopologyCommand::Meet(NodeAddress {
                name: name(n),
                ip: "127.0.0.1".parse().expect("ip"),
                port,
                bus_port: port + 10000,
            }))
            .expect("meet");
        }
        t.apply(&TopologyCommand::AddSlots {
            node: name(1),
            ranges: vec![SlotRange::new(0, 8191)],
        })
        .expect("add");
        t.apply(&TopologyCommand::AddSlots {
            node: name(2),
            ranges: vec![SlotRange::new(8192, 16383)],
        })
        .expect("add");
        t
    }

    fn view(me: u8, t: &Topology) -> ClusterView {
        ClusterView {
            myself: name(me),
            topology: Arc::new(t.clone()),
            quorum: true,
        }
    }

    #[test]
    fn keys_route_by_slot_owner() {
        let t = topology();
        // "foo" is slot 12182, "bar" 5061, "{foo}x" shares foo's slot.
        let one = view(1, &t);
        assert_eq!(one.route([&b"bar"[..]], false), Route::Here);
        assert_eq!(
            one.route([&b"foo"[..]], false),
            Route::Refuse(Redirect::Moved {
                slot: 12182,
                to: "127.0.0.1:7002".into()
            })
        );
        assert_eq!(
            one.route([&b"foo"[..], &b"bar"[..]], false),
            Route::Refuse(Redirect::CrossSlot)
        );
        let two = view(2, &t);
        assert_eq!(two.route([&b"foo"[..], &b"{foo}x"[..]], false), Route::Here);
        assert_eq!(two.route(std::iter::empty(), false), Route::Here);
    }

    #[test]
    fn migration_asks_and_asking_is_honoured_by_the_importer() {
        let mut t = topology();
        t.apply(&TopologyCommand::SetSlot {
            node: name(2),
            slot: 12182,
            action: SlotAction::Migrating { to: name(1) },
        })
        .expect("migrating");
        t.apply(&TopologyCommand::SetSlot {
            node: name(1),
            slot: 12182,
            action: SlotAction::Importing { from: name(2) },
        })
        .expect("importing");
        assert_eq!(
            view(2, &t).route([&b"foo"[..]], false),
            Route::HereWhileMigrating {
                slot: 12182,
                to: "127.0.0.1:7001".into()
            }
        );
        let importer = view(1, &t);
        assert_eq!(importer.route([&b"foo"[..]], true), Route::Here);
        assert!(matches!(
            importer.route([&b"foo"[..]], false),
            Route::Refuse(Redirect::Moved { slot: 12182, .. })
        ));
        assert_eq!(
            ask_if_missing(12182, "127.0.0.1:7001", 2, 1),
            Some(Redirect::TryAgain)
        );
        assert_eq!(ask_if_missing(12182, "127.0.0.1:7001", 1, 0), None);
    }

    #[test]
    fn uncovered_slots_make_the_cluster_down() {
        let mut t = topology();
        t.apply(&TopologyCommand::DelSlots {
            ranges: vec![SlotRange::single(0)],
        })
        .expect("del");
        let one = view(1, &t);
        assert_eq!(
            one.route([&b"bar"[..]], false),
            Route::Refuse(Redirect::ClusterDown)
        );
        // Slot 0 holds no key of these tests; a key in slot 0 is not served.
        let key_in_slot_0 = (0..100_000)
            .map(|i| format!("k{i}"))
            .find(|k| key_slot(k.as_bytes()) == 0)
            .expect("some key hashes to slot 0");
        assert_eq!(
            one.route([key_in_slot_0.as_bytes()], false),
            Route::Refuse(Redirect::SlotNotServed)
        );
        let cut_off = ClusterView {
            quorum: false,
            ..view(1, &topology())
        };
        assert_eq!(
            cut_off.route([&b"bar"[..]], false),
            Route::Refuse(Redirect::ClusterDown)
        );
        assert_eq!(cut_off.route(std::iter::empty(), false), Route::Here);
        assert_eq!(
            Redirect::ClusterDown.to_frame(),
            Frame::Error(Bytes::from_static(b"CLUSTERDOWN The cluster is down"))
        );
    }
}
