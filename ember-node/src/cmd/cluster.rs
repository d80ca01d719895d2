//! The cluster family: CLUSTER's subcommands, ASKING, READONLY and READWRITE.
//!
//! CLUSTER subcommands are run by the connection itself (`Handler::Cluster`): the ones that
//! change the topology wait for a Raft commit, and COUNTKEYSINSLOT/GETKEYSINSLOT borrow
//! the store of the shard that owns the slot. Replies use Redis Cluster's formats, so
//! `redis-cli -c`, `redis-cli --cluster check` and cluster-aware clients read them.

use std::sync::Arc;

use bytes::Bytes;
use ember_cluster::topology::{
    NodeInfo, NodeName, Role, SlotAction, SlotRange, Topology, TopologyCommand,
};
use ember_cluster::ClusterNode;
use ember_proto::cluster_bus::MemberState;
use ember_proto::{Frame, Protocol};

use super::table::flag::{LOADING, NO_MULTI, STALE};
use super::table::{CommandSpec, Handler, Route, NO_KEYS};
use super::{bulk, int, ok, Args, CmdError, SessionCtx, SessionFn};
use crate::cluster::client_address;
use crate::slot::{key_slot, SLOT_COUNT};

const DISABLED: &str = "This instance has cluster support disabled";

const fn session(name: &'static str, summary: &'static str, handler: SessionFn) -> CommandSpec {
    CommandSpec {
        name,
        group: "cluster",
        arity: 1,
        flags: LOADING | STALE,
        keys: NO_KEYS,
        route: Route::None,
        summary,
        complexity: "O(1)",
        since: "3.0.0",
        handler: Handler::Session(handler),
        subcommands: &[],
    }
}

const fn sub(name: &'static str, arity: i32, summary: &'static str) -> CommandSpec {
    CommandSpec {
        name,
        group: "cluster",
        arity,
        flags: NO_MULTI | STALE,
        keys: NO_KEYS,
        route: Route::None,
        summary,
        complexity: "O(N) where N is the number of arguments or slots",
        since: "3.0.0",
        handler: Handler::Cluster,
        subcommands: &[],
    }
}

const SUBCOMMANDS: &[CommandSpec] = &[
    sub("cluster|addslots", -3, "Assigns new hash slots to a node."),
    sub(
        "cluster|addslotsrange",
        -4,
        "Assigns new hash slot ranges to a node.",
    ),
    sub(
        "cluster|count-failure-reports",
        3,
        "Returns the number of active failure reports active for a node.",
    ),
    sub(
        "cluster|countkeysinslot",
        3,
        "Returns the number of keys in a hash slot.",
    ),
    sub(
        "cluster|delslots",
        -3,
        "Sets hash slots as unbound for a node.",
    ),
    sub(
        "cluster|delslotsrange",
        -4,
        "Sets hash slot ranges as unbound for a node.",
    ),
    sub("cluster|forget", 3, "Removes a node from the nodes table."),
    sub(
        "cluster|getkeysinslot",
        4,
        "Returns the key names in a hash slot.",
    ),
    sub(
        "cluster|help",
        2,
        "Returns helpful text about the different subcommands.",
    ),
    sub(
        "cluster|info",
        2,
        "Returns information about the state of a node.",
    ),
    sub("cluster|keyslot", 3, "Returns the hash slot for a key."),
    sub(
        "cluster|meet",
        -4,
        "Forces a node to handshake with another node.",
    ),
    sub("cluster|myid", 2, "Returns the ID of a node."),
    sub(
        "cluster|nodes",
        2,
        "Returns the cluster configuration for a node.",
    ),
    sub("cluster|setslot", -4, "Binds a hash slot to a node."),
    sub(
        "cluster|shards",
        2,
        "Returns the mapping of cluster slots to shards.",
    ),
    sub(
        "cluster|slots",
        2,
        "Returns the mapping of cluster slots to nodes.",
    ),
];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "cluster",
        group: "cluster",
        arity: -2,
        flags: 0,
        keys: NO_KEYS,
        route: Route::None,
        summary: "A container for Redis Cluster commands.",
        complexity: "Depends on subcommand.",
        since: "3.0.0",
        handler: Handler::Container,
        subcommands: SUBCOMMANDS,
    },
    session(
        "asking",
        "Signals that a cluster client is following an -ASK redirect.",
        asking,
    ),
    session(
        "readonly",
        "Enables read-only queries for a connection to a Redis Cluster replica node.",
        readonly,
    ),
    session(
        "readwrite",
        "Enables read-write queries for a connection to a Redis Cluster replica node.",
        readwrite,
    ),
];

fn enabled(ctx: &SessionCtx) -> Result<(), CmdError> {
    if ctx.shared.cluster.is_none() {
        return Err(CmdError::Err(DISABLED.into()));
    }
    Ok(())
}

/// ASKING: the next command may touch a slot this node is importing.
fn asking(ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    enabled(ctx)?;
    ctx.session.asking = true;
    Ok(ok())
}

/// READONLY: reads of a replica's slots are served here (ember has no replicas yet, so on
/// a master it changes nothing, as in Redis).
fn readonly(ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    enabled(ctx)?;
    ctx.session.readonly = true;
    Ok(ok())
}

fn readwrite(ctx: &mut SessionCtx, _args: &mut Args) -> Result<Frame, CmdError> {
    enabled(ctx)?;
    ctx.session.readonly = false;
    Ok(ok())
}

/// What a CLUSTER subcommand needs from the connection.
pub struct Call<'a> {
    pub node: &'a ClusterNode,
    /// Whether this node reaches a majority of the masters serving slots.
    pub quorum: bool,
    pub protocol: Protocol,
    pub now_ms: u64,
}

/// What the connection must do for a subcommand that reads keys: count or list the keys
/// of `slot` on the shard that owns it.
pub enum KeysInSlot {
    Count(u16),
    List(u16, usize),
}

/// The answer to a CLUSTER subcommand, or the keys work the connection does for it.
pub enum Outcome {
    Reply(Frame),
    Keys(KeysInSlot),
}

/// Runs a CLUSTER subcommand; `None` for a node not in cluster mode.
pub async fn execute(
    call: Option<Call<'_>>,
    spec: &CommandSpec,
    argv: &[Bytes],
) -> Result<Outcome, CmdError> {
    let Some(call) = call else {
        return Err(CmdError::Err(DISABLED.into()));
    };
    let node = call.node;
    let mut args = Args::new(argv, 2);
    let reply = match spec.name {
        "cluster|myid" => bulk(Bytes::from(node.myself().to_string())),
        "cluster|keyslot" => int(i64::from(key_slot(&args.bytes()?))),
        "cluster|info" => super::verbatim(info(node, call.quorum)),
        "cluster|nodes" => super::verbatim(nodes(node, call.now_ms)),
        "cluster|slots" => slots(&node.topology()),
        "cluster|shards" => shards(node, call.protocol),
        "cluster|help" => help(),
        "cluster|count-failure-reports" => {
            let name = parse_node(&args.bytes()?)?;
            if node.topology().node(&name).is_none() {
                return Err(CmdError::Err(format!("Unknown node {name}")));
            }
            let suspected = matches!(
                node.membership().get(&name),
                Some(MemberState::Suspect | MemberState::Dead)
            );
            int(i64::from(suspected))
        }
        "cluster|countkeysinslot" => {
            let slot = parse_slot(&args.bytes()?)?;
            return Ok(Outcome::Keys(KeysInSlot::Count(slot)));
        }
        "cluster|getkeysinslot" => {
            let slot = parse_slot(&args.bytes()?)?;
            let count = args.i64()?;
            if count < 0 {
                return Err(CmdError::Err("Invalid number of keys".into()));
            }
            return Ok(Outcome::Keys(KeysInSlot::List(slot, count as usize)));
        }
        "cluster|meet" => {
            let ip = String::from_utf8_lossy(&args.bytes()?).into_owned();
            let ip: std::net::IpAddr = ip
                .parse()
                .map_err(|_| CmdError::Err(format!("Invalid node address specified: {ip}")))?;
            let port = parse_port(&args.bytes()?)?;
            let bus_port = match args.is_empty() {
                true => None,
                false => Some(parse_port(&args.bytes()?)?),
            };
            node.meet(ip, port, bus_port).await.map_err(refused)?;
            ok()
        }
        "cluster|addslots" | "cluster|delslots" => {
            let mut ranges = Vec::new();
            while !args.is_empty() {
                ranges.push(SlotRange::single(parse_slot(&args.bytes()?)?));
            }
            propose_slots(node, spec.name == "cluster|addslots", ranges).await?
        }
        "cluster|addslotsrange" | "cluster|delslotsrange" => {
            if !(argv.len() - 2).is_multiple_of(2) {
                return Err(CmdError::WrongArity {
                    command: spec.name.to_string(),
                });
            }
            let mut ranges = Vec::new();
            while !args.is_empty() {
                let start = parse_slot(&args.bytes()?)?;
                let end = parse_slot(&args.bytes()?)?;
                if start > end {
                    return Err(CmdError::Err(format!(
                        "start slot number {start} is greater than end slot number {end}"
                    )));
                }
                ranges.push(SlotRange::new(start, end));
            }
            propose_slots(node, spec.name == "cluster|addslotsrange", ranges).await?
        }
        "cluster|forget" => {
            let name = parse_node(&args.bytes()?)?;
            if name == node.myself() {
                return Err(CmdError::Err(
                    "I tried hard but I can't forget myself...".into(),
                ));
            }
            node.propose(TopologyCommand::Forget { node: name })
                .await
                .map_err(refused)?;
            ok()
        }
        "cluster|setslot" => {
            let slot = parse_slot(&args.bytes()?)?;
            let how = args.bytes()?.to_ascii_lowercase();
            let action =
                match &how[..] {
                    b"importing" => SlotAction::Importing {
                        from: parse_node(&args.bytes()?)?,
                    },
                    b"migrating" => SlotAction::Migrating {
                        to: parse_node(&args.bytes()?)?,
                    },
                    b"node" => SlotAction::Node {
                        owner: parse_node(&args.bytes()?)?,
                    },
                    b"stable" => SlotAction::Stable,
                    b"reverse" => SlotAction::Reverse,
                    _ => return Err(CmdError::Err(
                        "Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP"
                            .into(),
                    )),
                };
            if !args.is_empty() {
                return Err(CmdError::Syntax);
            }
            let command = TopologyCommand::SetSlot {
                node: node.myself(),
                slot,
                action,
            };
            node.propose(command).await.map_err(refused)?;
            ok()
        }
        other => unreachable!("{other} is not a CLUSTER subcommand"),
    };
    Ok(Outcome::Reply(reply))
}

async fn propose_slots(
    node: &ClusterNode,
    add: bool,
    ranges: Vec<SlotRange>,
) -> Result<Frame, CmdError> {
    let command = if add {
        TopologyCommand::AddSlots {
            node: node.myself(),
            ranges,
        }
    } else {
        TopologyCommand::DelSlots { ranges }
    };
    node.propose(command).await.map_err(refused)?;
    Ok(ok())
}

/// A cluster error's text is already a whole Redis error line.
fn refused(error: ember_cluster::ClusterError) -> CmdError {
    CmdError::Raw(error.to_string())
}

fn parse_slot(text: &[u8]) -> Result<u16, CmdError> {
    super::args::parse_i64(text)
        .filter(|slot| (0..SLOT_COUNT as i64).contains(slot))
        .map(|slot| slot as u16)
        .ok_or_else(|| CmdError::Err("Invalid or out of range slot".into()))
}

fn parse_port(text: &[u8]) -> Result<u16, CmdError> {
    super::args::parse_i64(text)
        .filter(|port| (0..=65535).contains(port))
        .map(|port| port as u16)
        .ok_or_else(|| {
            CmdError::Err(format!(
                "Invalid base port specified: {}",
                String::from_utf8_lossy(text)
            ))
        })
}

fn parse_node(text: &[u8]) -> Result<NodeName, CmdError> {
    let text = String::from_utf8_lossy(text);
    NodeName::parse(&text).ok_or_else(|| CmdError::Err(format!("Unknown node {text}")))
}

/// The `fail?`/`fail` flag and link state SWIM gives a node.
fn health(node: &ClusterNode, name: &NodeName) -> (&'static str, &'static str) {
    if *name == node.myself() {
        return ("", "connected");
    }
    match node.membership().get(name) {
        Some(MemberState::Suspect) => (",fail?", "connected"),
        Some(MemberState::Dead | MemberState::Left) => (",fail", "disconnected"),
        _ => ("", "connected"),
    }
}

fn info(node: &ClusterNode, quorum: bool) -> String {
    let topology = node.topology();
    let assigned = topology.slots_assigned();
    let state = if quorum && assigned == SLOT_COUNT as usize {
        "ok"
    } else {
        "fail"
    };
    let masters_with_slots = topology
        .nodes()
        .filter(|n| !topology.slot_ranges(&n.name).is_empty())
        .count();
    let my_epoch = topology
        .node(&node.myself())
        .map_or(0, |me| me.config_epoch);
    format!(
        "cluster_state:{state}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{assigned}\r\n\
         cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{}\r\n\
         cluster_size:{masters_with_slots}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{my_epoch}\r\n\
         cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n\
         total_cluster_links_buffer_limit_exceeded:0\r\n",
        topology.nodes().count(),
        topology.current_epoch(),
    )
}

fn bus_address(info: &NodeInfo) -> String {
    format!("{}@{}", client_address(info), info.bus_port)
}

/// CLUSTER NODES: one line per node, Redis's format.
pub fn nodes(node: &ClusterNode, _now_ms: u64) -> String {
    let topology = node.topology();
    let mut out = String::new();
    for info in topology.nodes() {
        let (fail, link) = health(node, &info.name);
        let myself = if info.name == node.myself() {
            "myself,"
        } else {
            ""
        };
        let (role, master) = match &info.role {
            Role::Master => ("master", "-".to_string()),
            Role::Replica { master } => ("slave", master.to_string()),
        };
        out.push_str(&format!(
            "{} {} {myself}{role}{fail} {master} 0 0 {} {link}",
            info.name,
            bus_address(info),
            info.config_epoch
        ));
        for range in topology.slot_ranges(&info.name) {
            if range.start == range.end {
                out.push_str(&format!(" {}", range.start));
            } else {
                out.push_str(&format!(" {}-{}", range.start, range.end));
            }
        }
        for slot in 0..SLOT_COUNT {
            if let Some(to) = topology.migrating(slot) {
                if topology.slot_owner(slot).map(|o| &o.name) == Some(&info.name) {
                    out.push_str(&format!(" [{slot}->-{to}]"));
                }
            }
            if let Some((importer, from)) = topology.importing(slot) {
                if *importer == info.name {
                    out.push_str(&format!(" [{slot}-<-{from}]"));
                }
            }
        }
        out.push('\n');
    }
    out
}

fn node_entry(info: &NodeInfo) -> Frame {
    Frame::Array(vec![
        bulk(Bytes::from(info.ip.to_string())),
        int(i64::from(info.port)),
        bulk(Bytes::from(info.name.to_string())),
        Frame::Array(Vec::new()),
    ])
}

/// CLUSTER SLOTS: each owned range with its master.
fn slots(topology: &Arc<Topology>) -> Frame {
    let mut ranges: Vec<(SlotRange, &NodeInfo)> = topology
        .nodes()
        .flat_map(|info| {
            topology
                .slot_ranges(&info.name)
                .into_iter()
                .map(move |range| (range, info))
        })
        .collect();
    ranges.sort_by_key(|(range, _)| range.start);
    Frame::Array(
        ranges
            .into_iter()
            .map(|(range, info)| {
                Frame::Array(vec![
                    int(i64::from(range.start)),
                    int(i64::from(range.end)),
                    node_entry(info),
                ])
            })
            .collect(),
    )
}

fn map(protocol: Protocol, pairs: Vec<(&'static str, Frame)>) -> Frame {
    let pairs: Vec<(Frame, Frame)> = pairs
        .into_iter()
        .map(|(key, value)| (bulk(Bytes::from_static(key.as_bytes())), value))
        .collect();
    match protocol {
        Protocol::Resp3 => Frame::Map(pairs),
        Protocol::Resp2 => Frame::Array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()),
    }
}

/// CLUSTER SHARDS: each master with its slot ranges and its nodes.
fn shards(node: &ClusterNode, protocol: Protocol) -> Frame {
    let topology = node.topology();
    let shards = topology
        .nodes()
        .filter(|info| matches!(info.role, Role::Master))
        .map(|info| {
            let slots = topology
                .slot_ranges(&info.name)
                .into_iter()
                .flat_map(|r| [int(i64::from(r.start)), int(i64::from(r.end))])
                .collect();
            let (fail, _) = health(node, &info.name);
            let member = map(
                protocol,
                vec![
                    ("id", bulk(Bytes::from(info.name.to_string()))),
                    ("port", int(i64::from(info.port))),
                    ("ip", bulk(Bytes::from(info.ip.to_string()))),
                    ("endpoint", bulk(Bytes::from(info.ip.to_string()))),
                    ("role", bulk(Bytes::from_static(b"master"))),
                    ("replication-offset", int(0)),
                    (
                        "health",
                        bulk(Bytes::from_static(if fail.is_empty() {
                            b"online"
                        } else {
                            b"failed"
                        })),
                    ),
                ],
            );
            map(
                protocol,
                vec![
                    ("slots", Frame::Array(slots)),
                    ("nodes", Frame::Array(vec![member])),
                ],
            )
        })
        .collect();
    Frame::Array(shards)
}

fn help() -> Frame {
    super::connection::help_reply(
        "CLUSTER",
        &[
            "ADDSLOTS <slot> [<slot> ...]",
            "    Assign slots to current node.",
            "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Assign slots which are between <start-slot> and <end-slot> to current node.",
            "COUNT-FAILURE-REPORTS <node-id>",
            "    Return number of failure reports for <node-id>.",
            "COUNTKEYSINSLOT <slot>",
            "    Return the number of keys in <slot>.",
            "DELSLOTS <slot> [<slot> ...]",
            "    Delete slots information from current node.",
            "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
            "    Delete slots information which are between <start-slot> and <end-slot>.",
            "FORGET <node-id>",
            "    Remove a node from the cluster.",
            "GETKEYSINSLOT <slot> <count>",
            "    Return key names stored by current node in a slot.",
            "INFO",
            "    Return information about the cluster.",
            "KEYSLOT <key>",
            "    Return the hash slot for <key>.",
            "MEET <ip> <port> [<bus-port>]",
            "    Connect nodes into a working cluster.",
            "MYID",
            "    Return the node id.",
            "NODES",
            "    Return cluster configuration seen by node. Output format:",
            "    <id> <ip:port@bus-port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
            "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>|REVERSE)",
            "    Set slot state. REVERSE (ember), sent to the importing node, rolls an open migration",
            "    back: that node takes the slot and migrates it back; SETSLOT NODE then returns it.",
            "SHARDS",
            "    Return information about slot range mappings and the nodes associated with them.",
            "SLOTS",
            "    Return information about slots range mappings. Each range is made of:",
            "    start, end, master and replicas IP addresses, ports and ids",
        ],
    )
}
