//! The persist world's faults, as episodes: from one start of the node to its next end.
//! In each, the world may turn disk faults on, the admin may ask for a BGSAVE or a
//! BGREWRITEAOF, and then the world crashes the node and restarts it after a down time.
//! Some episodes end with a SHUTDOWN from the admin instead; the machine still crashes
//! once the node has exited (a power cut right after a clean shutdown), and if the node
//! has not exited `SHUTDOWN_DEADLINE_MS` later it crashes anyway.
//!
//! Every episode is drawn from the seed before the run starts. Its instants count from the
//! node's (re)start rather than from time zero, because a node that stops on a failed
//! write ends its episode early, at an instant nothing could have drawn: the down time
//! then runs from the stop, and the next episode from the restart. So one seed still
//! gives one run. A crash is sometimes placed a few milliseconds after the save request,
//! so that crashes also land while snapshots are written and AOFs rotated.

use ember_net::FaultConfig;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// When, after a (re)start, the world crashes the node.
const CRASH_AFTER_MS_MIN: u64 = 150;
const CRASH_AFTER_MS_MAX: u64 = 1_800;
/// A crash aimed at the node's start-up (recovery, its cuts and its first AOF writes)
/// comes this soon after the restart, in a share of the episodes without a save.
const START_UP_CRASH_MS_MAX: u64 = 15;
const START_UP_CRASH_PROBABILITY: f64 = 0.125;
/// The share of fault episodes whose faults are on from the restart, so that loading and
/// cutting torn tails meet them too.
const FAULTS_AT_START_UP_PROBABILITY: f64 = 0.25;
/// How long the node stays down after a crash or a stop.
pub const DOWN_MS_MIN: u64 = 20;
pub const DOWN_MS_MAX: u64 = 200;
/// When, after a (re)start, disk faults come on in the other fault episodes: after the
/// node has loaded its files.
const FAULTS_AFTER_MS_MIN: u64 = 100;
const FAULTS_AFTER_MS_MAX: u64 = 600;
/// How soon after a save request a crash aimed at the save comes.
const CRASH_AFTER_SAVE_MS_MAX: u64 = 40;
/// The largest injected latency per disk operation while faults are on.
const FAULT_LATENCY_MS_MAX: u64 = 3;

/// The share of episodes (other than start-up crashes) that end with a SHUTDOWN.
const SHUTDOWN_PROBABILITY: f64 = 0.2;
/// How long after a SHUTDOWN the world waits for the node to exit before it crashes it.
pub const SHUTDOWN_DEADLINE_MS: u64 = 2_000;

/// A request the admin host sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminOrder {
    BgSave,
    BgRewriteAof,
    Shutdown,
}

/// One episode; every instant counts from the node's start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Episode {
    pub crash_after_ms: u64,
    pub down_ms: u64,
    pub faults: Option<(u64, FaultConfig)>,
    /// A BGSAVE or BGREWRITEAOF.
    pub save: Option<(u64, AdminOrder)>,
    /// Whether the admin's SHUTDOWN at `crash_after_ms` ends the episode instead of a crash.
    pub shutdown: bool,
}

/// What the world must do now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    FaultsOn(FaultConfig),
    Admin(AdminOrder),
    Crash,
    Restart,
}

/// The episodes of one run and how far the run has got through them.
#[derive(Debug)]
pub struct Timeline {
    episodes: Vec<Episode>,
    next: usize,
    phase: Phase,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Up {
        since_ms: u64,
        faults_done: bool,
        save_done: bool,
        shutdown_sent: bool,
    },
    Down {
        until_ms: u64,
    },
}

impl Episode {
    /// `count` episodes; with `faults`, most turn on one kind of disk fault. Without
    /// `startup_eio`, faults on from a restart are ENOSPC and failed fsyncs only. With
    /// `shutdowns`, some end with a SHUTDOWN.
    pub fn draw(
        rng: &mut ChaCha8Rng,
        count: usize,
        faults: bool,
        startup_eio: bool,
        shutdowns: bool,
    ) -> Vec<Episode> {
        (0..count)
            .map(|_| Episode::draw_one(rng, faults, startup_eio, shutdowns))
            .collect()
    }

    fn draw_one(rng: &mut ChaCha8Rng, faults: bool, startup_eio: bool, shutdowns: bool) -> Episode {
        let mut crash_after_ms = rng.gen_range(CRASH_AFTER_MS_MIN..=CRASH_AFTER_MS_MAX);
        let down_ms = rng.gen_range(DOWN_MS_MIN..=DOWN_MS_MAX);
        let save = rng.gen_bool(0.5).then(|| {
            let kind = if rng.gen_bool(0.5) {
                AdminOrder::BgSave
            } else {
                AdminOrder::BgRewriteAof
            };
            (rng.gen_range(CRASH_AFTER_MS_MIN / 2..crash_after_ms), kind)
        });
        let mut shutdown = shutdowns && rng.gen_bool(SHUTDOWN_PROBABILITY);
        match save {
            Some((save_ms, _)) if rng.gen_bool(0.5) => {
                crash_after_ms =
                    (save_ms + rng.gen_range(0..=CRASH_AFTER_SAVE_MS_MAX)).min(CRASH_AFTER_MS_MAX);
            }
            None if rng.gen_bool(START_UP_CRASH_PROBABILITY) => {
                crash_after_ms = rng.gen_range(1..=START_UP_CRASH_MS_MAX);
                shutdown = false;
            }
            _ => {}
        }
        let faults = (faults && rng.gen_bool(0.75)).then(|| {
            let after_ms = if rng.gen_bool(FAULTS_AT_START_UP_PROBABILITY) {
                0
            } else {
                rng.gen_range(FAULTS_AFTER_MS_MIN..=FAULTS_AFTER_MS_MAX)
            };
            (
                after_ms,
                draw_fault_config(rng, after_ms > 0 || startup_eio),
            )
        });
        let episode = Episode {
            crash_after_ms,
            down_ms,
            faults,
            save,
            shutdown,
        };
        assert!(episode.crash_after_ms >= 1);
        assert!(episode.crash_after_ms <= CRASH_AFTER_MS_MAX);
        assert!((DOWN_MS_MIN..=DOWN_MS_MAX).contains(&episode.down_ms));
        episode
    }

    /// A short line for the parameters: `crash@900+50 faults@300:eio0.020 bgsave@400`.
    pub fn describe(&self) -> String {
        let end = if self.shutdown { "shutdown" } else { "crash" };
        let mut text = format!("{end}@{}+{}", self.crash_after_ms, self.down_ms);
        if let Some((after_ms, config)) = self.faults {
            text.push_str(&format!(" faults@{after_ms}:{}", describe_faults(&config)));
        }
        if let Some((after_ms, kind)) = self.save {
            text.push_str(&format!(" {}@{after_ms}", kind.name().to_lowercase()));
        }
        text
    }
}

/// One kind of fault (or all three, weaker), and a little latency; EIO only with `eio`.
fn draw_fault_config(rng: &mut ChaCha8Rng, eio: bool) -> FaultConfig {
    let mut config = FaultConfig {
        latency_ms_max: rng.gen_range(0..=FAULT_LATENCY_MS_MAX),
        ..FaultConfig::default()
    };
    let first_kind = if eio { 0 } else { 1 };
    match rng.gen_range(first_kind..4) {
        0 => config.eio_probability = rng.gen_range(0.005..0.05),
        1 => config.enospc_probability = rng.gen_range(0.005..0.05),
        2 => config.fsync_fail_probability = rng.gen_range(0.01..0.1),
        _ => {
            if eio {
                config.eio_probability = rng.gen_range(0.002..0.02);
            }
            config.enospc_probability = rng.gen_range(0.002..0.02);
            config.fsync_fail_probability = rng.gen_range(0.005..0.05);
        }
    }
    assert!(eio || config.eio_probability == 0.0);
    config
}

fn describe_faults(config: &FaultConfig) -> String {
    format!(
        "eio{:.3}/enospc{:.3}/fsync{:.3}/lat{}",
        config.eio_probability,
        config.enospc_probability,
        config.fsync_fail_probability,
        config.latency_ms_max
    )
}

impl AdminOrder {
    /// The command that makes the request.
    pub fn name(self) -> &'static str {
        match self {
            AdminOrder::BgSave => "BGSAVE",
            AdminOrder::BgRewriteAof => "BGREWRITEAOF",
            AdminOrder::Shutdown => "SHUTDOWN",
        }
    }
}

impl Timeline {
    /// The run's episodes; the node starts up at time zero.
    pub fn new(episodes: Vec<Episode>) -> Timeline {
        Timeline {
            episodes,
            next: 0,
            phase: Phase::Up {
                since_ms: 0,
                faults_done: false,
                save_done: false,
                shutdown_sent: false,
            },
        }
    }

    /// The event due at `now_ms`, if any; at most one per call.
    pub fn due(&mut self, now_ms: u64) -> Option<Event> {
        match self.phase {
            Phase::Down { until_ms } if now_ms >= until_ms => {
                self.phase = Phase::Up {
                    since_ms: now_ms,
                    faults_done: false,
                    save_done: false,
                    shutdown_sent: false,
                };
                Some(Event::Restart)
            }
            Phase::Down { .. } => None,
            Phase::Up { since_ms, .. } => {
                let episode = *self.episodes.get(self.next)?;
                self.due_while_up(episode, now_ms.saturating_sub(since_ms), now_ms)
            }
        }
    }

    fn due_while_up(&mut self, episode: Episode, up_ms: u64, now_ms: u64) -> Option<Event> {
        let Phase::Up {
            faults_done,
            save_done,
            shutdown_sent,
            ..
        } = &mut self.phase
        else {
            unreachable!("called while up");
        };
        if let Some((after_ms, config)) = episode.faults {
            if !*faults_done && up_ms >= after_ms {
                *faults_done = true;
                return Some(Event::FaultsOn(config));
            }
        }
        if let Some((after_ms, kind)) = episode.save {
            if !*save_done && up_ms >= after_ms {
                *save_done = true;
                return Some(Event::Admin(kind));
            }
        }
        if up_ms < episode.crash_after_ms {
            return None;
        }
        if episode.shutdown && !*shutdown_sent {
            *shutdown_sent = true;
            return Some(Event::Admin(AdminOrder::Shutdown));
        }
        if !episode.shutdown || up_ms >= episode.crash_after_ms + SHUTDOWN_DEADLINE_MS {
            self.end_episode(now_ms);
            return Some(Event::Crash);
        }
        None
    }

    /// The node stopped by itself at `now_ms`: its episode ends, and the down time starts.
    pub fn node_ended(&mut self, now_ms: u64) {
        assert!(
            matches!(self.phase, Phase::Up { .. }),
            "a down node cannot stop"
        );
        self.end_episode(now_ms);
    }

    fn end_episode(&mut self, now_ms: u64) {
        let down_ms = self
            .episodes
            .get(self.next)
            .map_or(DOWN_MS_MIN, |episode| episode.down_ms);
        self.next = (self.next + 1).min(self.episodes.len());
        self.phase = Phase::Down {
            until_ms: now_ms + down_ms,
        };
    }

    /// Whether every episode is over and the node is up: the liveness phase.
    pub fn healed(&self) -> bool {
        self.next == self.episodes.len() && matches!(self.phase, Phase::Up { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn events(timeline: &mut Timeline, stop_at_ms: Option<u64>) -> Vec<(u64, Event)> {
        let mut events = Vec::new();
        for now_ms in 0..20_000 {
            if Some(now_ms) == stop_at_ms {
                timeline.node_ended(now_ms);
            }
            if let Some(event) = timeline.due(now_ms) {
                events.push((now_ms, event));
            }
        }
        events
    }

    #[test]
    fn episodes_count_from_each_restart() {
        let episode = Episode {
            crash_after_ms: 500,
            down_ms: 50,
            faults: Some((100, FaultConfig::default())),
            save: Some((200, AdminOrder::BgSave)),
            shutdown: false,
        };
        let mut timeline = Timeline::new(vec![episode, episode]);
        let seen = events(&mut timeline, None);
        let expected = vec![
            (100, Event::FaultsOn(FaultConfig::default())),
            (200, Event::Admin(AdminOrder::BgSave)),
            (500, Event::Crash),
            (550, Event::Restart),
            (650, Event::FaultsOn(FaultConfig::default())),
            (750, Event::Admin(AdminOrder::BgSave)),
            (1_050, Event::Crash),
            (1_100, Event::Restart),
        ];
        assert_eq!(seen, expected);
        assert!(timeline.healed());
    }

    #[test]
    fn a_stop_ends_its_episode_early() {
        let episode = Episode {
            crash_after_ms: 500,
            down_ms: 50,
            faults: None,
            save: None,
            shutdown: false,
        };
        let mut timeline = Timeline::new(vec![episode, episode]);
        let seen = events(&mut timeline, Some(120));
        assert_eq!(
            seen,
            vec![
                (170, Event::Restart),
                (670, Event::Crash),
                (720, Event::Restart)
            ]
        );
    }

    #[test]
    fn a_shutdown_waits_for_the_exit_then_crashes() {
        let episode = Episode {
            crash_after_ms: 300,
            down_ms: 50,
            faults: None,
            save: None,
            shutdown: true,
        };
        let mut timeline = Timeline::new(vec![episode, episode]);
        // The first node exits at 310 ms; the second never does.
        let seen = events(&mut timeline, Some(310));
        let shutdown = Event::Admin(AdminOrder::Shutdown);
        assert_eq!(
            seen,
            vec![
                (300, shutdown),
                (360, Event::Restart),
                (660, shutdown),
                (660 + SHUTDOWN_DEADLINE_MS, Event::Crash),
                (710 + SHUTDOWN_DEADLINE_MS, Event::Restart),
            ]
        );
    }

    #[test]
    fn draws_replay_and_stay_in_bounds() {
        let draw = |seed| Episode::draw(&mut ChaCha8Rng::seed_from_u64(seed), 4, true, false, true);
        for seed in 0..50 {
            let episodes = draw(seed);
            assert_eq!(episodes, draw(seed));
            for episode in &episodes {
                assert!(episode.crash_after_ms <= CRASH_AFTER_MS_MAX);
                if let Some((0, config)) = episode.faults {
                    assert_eq!(config.eio_probability, 0.0);
                }
                if let Some((save_ms, _)) = episode.save {
                    assert!(save_ms < CRASH_AFTER_MS_MAX);
                }
            }
        }
    }
}
