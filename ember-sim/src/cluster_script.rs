//! The cluster scenario language. A cluster file's first block is `cluster ...` (the
//! world); every later block is one step run in that same world, in order, and its
//! expected output is what the step reports (never seed-dependent).
//!
//! ```text
//! cluster nodes=3 shards=1..2 clients=3 keys=6   the world: nodes, shards per node, clients
//! join                         node 1 bootstraps; the others MEET in, seed-picked sides
//! spread                       slots split evenly (DELSLOTSRANGE, ADDSLOTSRANGE)
//! clients start | clients stop the workload runs between these
//! run ms=2000                  let virtual time pass
//! converge within_ms=20000     one topology, everyone alive, cluster_state:ok everywhere
//! partition minority leader=in|out|any   cut a minority of nodes off from the rest
//! partition all                cut every node off from every other
//! expect-down within_ms=8000   nodes without a majority refuse (CLUSTERDOWN), others serve
//! heal                         repair every link
//! crash who=leader|follower|any down_ms=1500   crash a node and its disk; restart later
//! leader-crash                 move an empty slot; the Raft leader crashes mid-change
//! migrate slots=2 fault=none|crash-source|crash-target|partition-source|partition-target
//!         then=resume|rollback  move slots holding keys under the workload
//! census                       every key on exactly one node, its slot's owner, as modelled
//! ```

use std::ops::RangeInclusive;

use crate::scenario::{number, range as shard_range};

/// The most nodes, clients and keys per kind a cluster world may have.
pub const NODES_MAX: usize = 7;
pub const CLIENTS_MAX: usize = 8;
pub const KEYS_MAX: usize = 64;
/// The most virtual time one step may be given.
pub const STEP_MS_MAX: u64 = 120_000;
/// The most slots one migrate step may move.
pub const MIGRATE_SLOTS_MAX: usize = 8;

/// The world a cluster file runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSpec {
    pub nodes: usize,
    pub shards: RangeInclusive<usize>,
    pub clients: usize,
    /// Keys of each kind (strings, counters, pairs) per client.
    pub keys: usize,
}

/// Which nodes a minority partition cuts off, with respect to the Raft leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaderSide {
    In,
    Out,
    Any,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partition {
    Minority(LeaderSide),
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Leader,
    Follower,
    Any,
}

/// What goes wrong in the middle of a migration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationFault {
    None,
    CrashSource,
    CrashTarget,
    PartitionSource,
    PartitionTarget,
}

/// What the operator does about a migration a fault interrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    Resume,
    Rollback,
}

/// One step of a cluster scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Join,
    Spread,
    ClientsStart,
    ClientsStop,
    Run {
        ms: u64,
    },
    Converge {
        within_ms: u64,
    },
    Partition(Partition),
    ExpectDown {
        within_ms: u64,
    },
    Heal,
    Crash {
        who: Who,
        down_ms: u64,
    },
    LeaderCrash,
    Migrate {
        slots: usize,
        fault: MigrationFault,
        then: Then,
    },
    Census,
}

impl ClusterSpec {
    /// Parses `cluster nodes=3 shards=1..2 clients=3 keys=6`.
    pub fn parse(command: &str) -> Result<ClusterSpec, String> {
        let (name, settings) = words(command)?;
        if name != "cluster" {
            return Err(format!("unknown command `{command}`"));
        }
        let mut spec = ClusterSpec {
            nodes: 3,
            shards: 1..=2,
            clients: 3,
            keys: 6,
        };
        for (name, value) in settings {
            match name {
                "nodes" => spec.nodes = number(value, 1..=NODES_MAX)?,
                "shards" => spec.shards = shard_range(value)?,
                "clients" => spec.clients = number(value, 1..=CLIENTS_MAX)?,
                "keys" => spec.keys = number(value, 1..=KEYS_MAX)?,
                _ => return Err(format!("unknown setting `{name}`")),
            }
        }
        Ok(spec)
    }
}

impl Step {
    /// Parses one step line.
    pub fn parse(command: &str) -> Result<Step, String> {
        let (name, settings) = words(command)?;
        let mut setting = Settings(settings);
        let step = match name {
            "join" => Step::Join,
            "spread" => Step::Spread,
            "clients" => match setting.flag()? {
                "start" => Step::ClientsStart,
                "stop" => Step::ClientsStop,
                other => return Err(format!("`clients {other}`: start or stop")),
            },
            "run" => Step::Run {
                ms: setting.ms("ms", None)?,
            },
            "converge" => Step::Converge {
                within_ms: setting.ms("within_ms", Some(30_000))?,
            },
            "partition" => Step::Partition(match setting.flag()? {
                "minority" => Partition::Minority(match setting.value("leader", "any")? {
                    "in" => LeaderSide::In,
                    "out" => LeaderSide::Out,
                    "any" => LeaderSide::Any,
                    other => return Err(format!("`leader={other}`: in, out or any")),
                }),
                "all" => Partition::All,
                other => return Err(format!("`partition {other}`: minority or all")),
            }),
            "expect-down" => Step::ExpectDown {
                within_ms: setting.ms("within_ms", Some(10_000))?,
            },
            "heal" => Step::Heal,
            "crash" => Step::Crash {
                who: match setting.value("who", "any")? {
                    "leader" => Who::Leader,
                    "follower" => Who::Follower,
                    "any" => Who::Any,
                    other => return Err(format!("`who={other}`: leader, follower or any")),
                },
                down_ms: setting.ms("down_ms", Some(1_500))?,
            },
            "leader-crash" => Step::LeaderCrash,
            "migrate" => Step::Migrate {
                slots: number(setting.value("slots", "1")?, 1..=MIGRATE_SLOTS_MAX)?,
                fault: match setting.value("fault", "none")? {
                    "none" => MigrationFault::None,
                    "crash-source" => MigrationFault::CrashSource,
                    "crash-target" => MigrationFault::CrashTarget,
                    "partition-source" => MigrationFault::PartitionSource,
                    "partition-target" => MigrationFault::PartitionTarget,
                    other => return Err(format!("`fault={other}` is not a migration fault")),
                },
                then: match setting.value("then", "resume")? {
                    "resume" => Then::Resume,
                    "rollback" => Then::Rollback,
                    other => return Err(format!("`then={other}`: resume or rollback")),
                },
            },
            "census" => Step::Census,
            _ => return Err(format!("unknown step `{command}`")),
        };
        setting.finish()?;
        Ok(step)
    }
}

/// A step's `name=value` settings, taken one by one; whatever is left is an error.
struct Settings<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Settings<'a> {
    /// A bare word (`start`), given as a setting with an empty value.
    fn flag(&mut self) -> Result<&'a str, String> {
        match self.0.first() {
            Some((word, "")) => {
                let word = *word;
                self.0.remove(0);
                Ok(word)
            }
            _ => Err("a word is missing".to_string()),
        }
    }

    fn value(&mut self, name: &str, default: &'a str) -> Result<&'a str, String> {
        match self.0.iter().position(|(key, _)| *key == name) {
            Some(index) => Ok(self.0.remove(index).1),
            None => Ok(default),
        }
    }

    fn ms(&mut self, name: &str, default: Option<u64>) -> Result<u64, String> {
        let text = match (self.0.iter().position(|(key, _)| *key == name), default) {
            (Some(index), _) => self.0.remove(index).1,
            (None, Some(default)) => return Ok(default),
            (None, None) => return Err(format!("`{name}=` is missing")),
        };
        let ms = number(text, 1..=STEP_MS_MAX as usize)?;
        Ok(ms as u64)
    }

    fn finish(self) -> Result<(), String> {
        match self.0.first() {
            None => Ok(()),
            Some((name, _)) => Err(format!("unknown setting `{name}`")),
        }
    }
}

/// A command's first word and its settings.
type Words<'a> = (&'a str, Vec<(&'a str, &'a str)>);

/// The command's first word and its settings (`name=value`, or a bare word with "").
fn words(command: &str) -> Result<Words<'_>, String> {
    let mut words = command.split_whitespace();
    let name = words.next().ok_or("an empty command")?;
    let settings = words
        .map(|word| word.split_once('=').unwrap_or((word, "")))
        .collect();
    Ok((name, settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_settings() {
        let spec = ClusterSpec::parse("cluster nodes=5 shards=2 clients=4 keys=3").unwrap();
        assert_eq!(
            spec,
            ClusterSpec {
                nodes: 5,
                shards: 2..=2,
                clients: 4,
                keys: 3
            }
        );
        assert!(ClusterSpec::parse("cluster nodes=9").is_err());
        assert!(ClusterSpec::parse("cluster bogus=1").is_err());
        assert!(ClusterSpec::parse("join").is_err());
    }

    #[test]
    fn steps() {
        assert_eq!(Step::parse("join"), Ok(Step::Join));
        assert_eq!(Step::parse("clients stop"), Ok(Step::ClientsStop));
        assert_eq!(Step::parse("run ms=250"), Ok(Step::Run { ms: 250 }));
        assert!(Step::parse("run").is_err());
        assert_eq!(
            Step::parse("partition minority leader=in"),
            Ok(Step::Partition(Partition::Minority(LeaderSide::In)))
        );
        assert_eq!(
            Step::parse("partition all"),
            Ok(Step::Partition(Partition::All))
        );
        assert_eq!(
            Step::parse("crash who=leader down_ms=900"),
            Ok(Step::Crash {
                who: Who::Leader,
                down_ms: 900
            })
        );
        assert_eq!(
            Step::parse("migrate slots=2 fault=crash-target then=rollback"),
            Ok(Step::Migrate {
                slots: 2,
                fault: MigrationFault::CrashTarget,
                then: Then::Rollback
            })
        );
        assert!(Step::parse("migrate fault=flood").is_err());
        assert!(Step::parse("heal now").is_err());
        assert!(Step::parse("converge within_ms=0").is_err());
        assert!(Step::parse("dance").is_err());
    }
}
