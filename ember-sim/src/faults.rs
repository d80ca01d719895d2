//! Faults: when the node crashes and when it comes back, drawn from the seed before the run
//! starts and applied by the world's step loop at those instants of virtual time.
//!
//! A crash drops the node's tasks and sockets (turmoil's `crash`); the restart runs the
//! host's start-up again (`bounce`). There is no persistence yet, so the restarted node is
//! empty; clients learn of the restart through the world's generation counter, which only
//! the fault schedule changes.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Earliest and latest gap before a crash, after the start or the previous restart.
const CRASH_GAP_MS_MIN: u64 = 300;
const CRASH_GAP_MS_MAX: u64 = 1_200;
/// How long the node stays down.
const DOWN_MS_MIN: u64 = 20;
const DOWN_MS_MAX: u64 = 300;
/// The most crashes a scenario may ask for.
pub const CRASHES_MAX: usize = 5;

/// One crash and its restart, in milliseconds of virtual time since the world began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crash {
    pub at_ms: u64,
    pub down_ms: u64,
}

impl Crash {
    pub fn restart_ms(&self) -> u64 {
        self.at_ms + self.down_ms
    }
}

/// What the world must do now to the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Crash,
    Restart,
}

/// The crashes of one run, in order, and how far the run has got through them.
#[derive(Debug)]
pub struct Schedule {
    crashes: Vec<Crash>,
    next: usize,
    down: bool,
}

impl Schedule {
    /// `count` crashes, spaced by the seed's fault stream.
    pub fn draw(rng: &mut ChaCha8Rng, count: usize) -> Schedule {
        assert!(count <= CRASHES_MAX);
        let mut crashes = Vec::with_capacity(count);
        let mut since_ms = 0;
        for _ in 0..count {
            let at_ms = since_ms + rng.gen_range(CRASH_GAP_MS_MIN..=CRASH_GAP_MS_MAX);
            let down_ms = rng.gen_range(DOWN_MS_MIN..=DOWN_MS_MAX);
            let crash = Crash { at_ms, down_ms };
            since_ms = crash.restart_ms();
            crashes.push(crash);
        }
        debug_assert!(crashes
            .windows(2)
            .all(|pair| pair[0].restart_ms() < pair[1].at_ms));
        Schedule {
            crashes,
            next: 0,
            down: false,
        }
    }

    pub fn crashes(&self) -> &[Crash] {
        &self.crashes
    }

    /// The longest the node is ever down, which bounds how long a client may need to get
    /// back in.
    pub fn down_ms_max() -> u64 {
        DOWN_MS_MAX
    }

    /// The action due at `elapsed_ms`, if any; at most one per call, so a crash and its
    /// restart never fall in the same step.
    pub fn due(&mut self, elapsed_ms: u64) -> Option<Action> {
        let crash = *self.crashes.get(self.next)?;
        if !self.down && elapsed_ms >= crash.at_ms {
            self.down = true;
            return Some(Action::Crash);
        }
        if self.down && elapsed_ms >= crash.restart_ms() {
            self.down = false;
            self.next += 1;
            return Some(Action::Restart);
        }
        None
    }

    /// Whether every crash has been healed.
    pub fn healed(&self) -> bool {
        self.next == self.crashes.len() && !self.down
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn crashes_alternate_with_restarts() {
        let mut schedule = Schedule::draw(&mut ChaCha8Rng::seed_from_u64(5), 3);
        assert_eq!(schedule.crashes().len(), 3);
        let mut actions = Vec::new();
        for elapsed_ms in 0..10_000 {
            if let Some(action) = schedule.due(elapsed_ms) {
                actions.push((elapsed_ms, action));
            }
        }
        assert!(schedule.healed());
        assert_eq!(actions.len(), 6);
        for (index, (at_ms, action)) in actions.iter().enumerate() {
            let crash = schedule.crashes()[index / 2];
            if index % 2 == 0 {
                assert_eq!((*at_ms, *action), (crash.at_ms, Action::Crash));
            } else {
                assert_eq!((*at_ms, *action), (crash.restart_ms(), Action::Restart));
            }
        }
    }

    #[test]
    fn no_crashes_is_healed_at_once() {
        let mut schedule = Schedule::draw(&mut ChaCha8Rng::seed_from_u64(5), 0);
        assert!(schedule.healed());
        assert_eq!(schedule.due(1_000_000), None);
    }
}
