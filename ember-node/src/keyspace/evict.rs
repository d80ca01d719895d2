//! Eviction: the policies Redis has (`maxmemory-policy`), each entry's 24-bit access field
//! read as an LRU clock or as an LFU (minutes, counter) pair, and the pool of best
//! candidates that approximate LRU/LFU/TTL order from a few random samples per eviction.
//!
//! Every shard has the same share of `maxmemory` and evicts its own keys, so no shard ever
//! reads another's memory.

use bytes::Bytes;
use rand::Rng;

/// Candidates the pool keeps between evictions (Redis: EVPOOL_SIZE).
const POOL_SIZE: usize = 16;
/// The LFU counter a new key starts with, so it is not evicted before it had a chance.
pub const LFU_INIT: u32 = 5;
const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    VolatileLru,
    AllKeysLfu,
    VolatileLfu,
    AllKeysRandom,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    pub const ALL: [Policy; 8] = [
        Policy::NoEviction,
        Policy::AllKeysLru,
        Policy::VolatileLru,
        Policy::AllKeysLfu,
        Policy::VolatileLfu,
        Policy::AllKeysRandom,
        Policy::VolatileRandom,
        Policy::VolatileTtl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Policy::NoEviction => "noeviction",
            Policy::AllKeysLru => "allkeys-lru",
            Policy::VolatileLru => "volatile-lru",
            Policy::AllKeysLfu => "allkeys-lfu",
            Policy::VolatileLfu => "volatile-lfu",
            Policy::AllKeysRandom => "allkeys-random",
            Policy::VolatileRandom => "volatile-random",
            Policy::VolatileTtl => "volatile-ttl",
        }
    }

    pub fn parse(text: &str) -> Option<Policy> {
        Policy::ALL
            .into_iter()
            .find(|policy| policy.name().eq_ignore_ascii_case(text))
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    /// Whether only keys with a TTL may be evicted.
    pub fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    pub fn random(self) -> bool {
        matches!(self, Policy::AllKeysRandom | Policy::VolatileRandom)
    }
}

/// A shard's eviction settings, refreshed from the configuration before each command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub policy: Policy,
    /// This shard's share of maxmemory in bytes; 0 for no limit.
    pub budget_bytes: usize,
    /// This shard's share of the memory the process uses outside the shards' keys and
    /// values (buffers, tables of connections, the allocator's own): counted against the
    /// budget too, as Redis counts all of used_memory against maxmemory.
    pub overhead_bytes: usize,
    /// Keys sampled per eviction (maxmemory-samples).
    pub samples: usize,
    pub lfu_log_factor: u32,
    /// Minutes per halving step of an idle key's LFU counter (0: never decays).
    pub lfu_decay_minutes: u32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            policy: Policy::NoEviction,
            budget_bytes: 0,
            overhead_bytes: 0,
            samples: 5,
            lfu_log_factor: 10,
            lfu_decay_minutes: 1,
        }
    }
}

/// The LRU clock: seconds, in 24 bits (wraps every ~194 days, as Redis's does).
pub fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / 1000) as u32) & LRU_CLOCK_MAX
}

/// How long ago an LRU access field was set, in ms.
pub fn idle_ms(access: u32, now_ms: u64) -> u64 {
    let elapsed = lru_clock(now_ms).wrapping_sub(access) & LRU_CLOCK_MAX;
    u64::from(elapsed) * 1000
}

fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) as u32) & 0xFFFF
}

/// The LFU counter of an access field after the decay its idle minutes earned.
pub fn lfu_counter(access: u32, now_ms: u64, decay_minutes: u32) -> u32 {
    let counter = access & 0xFF;
    let last = access >> 8;
    let elapsed = lfu_minutes(now_ms).wrapping_sub(last) & 0xFFFF;
    let periods = elapsed.checked_div(decay_minutes).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// The access field of a new key.
pub fn initial_access(policy: Policy, now_ms: u64) -> u32 {
    if policy.is_lfu() {
        lfu_minutes(now_ms) << 8 | LFU_INIT
    } else {
        lru_clock(now_ms)
    }
}

/// The access field after one more access: the LRU clock, or the decayed LFU counter
/// incremented with probability 1 / ((counter - LFU_INIT) * log_factor + 1).
pub fn touched(access: u32, settings: &Settings, now_ms: u64, rng: &mut impl Rng) -> u32 {
    if !settings.policy.is_lfu() {
        return lru_clock(now_ms);
    }
    let mut counter = lfu_counter(access, now_ms, settings.lfu_decay_minutes);
    if counter < 255 {
        let base = counter.saturating_sub(LFU_INIT) as f64;
        let chance = 1.0 / (base * settings.lfu_log_factor as f64 + 1.0);
        if rng.gen::<f64>() < chance {
            counter += 1;
        }
    }
    lfu_minutes(now_ms) << 8 | counter
}

/// How good a victim a key is under `policy` (higher: evict sooner).
pub fn score(settings: &Settings, access: u32, expire_at: Option<u64>, now_ms: u64) -> u64 {
    match settings.policy {
        Policy::AllKeysLfu | Policy::VolatileLfu => {
            255 - u64::from(lfu_counter(access, now_ms, settings.lfu_decay_minutes))
        }
        Policy::VolatileTtl => u64::MAX - expire_at.unwrap_or(u64::MAX),
        _ => idle_ms(access, now_ms),
    }
}

/// The best candidates seen so far, best last.
#[derive(Default)]
pub struct Pool {
    candidates: Vec<(u64, usize, Bytes)>,
}

impl Pool {
    /// Offers a sampled key; keeps it if the pool has room or it beats the worst.
    pub fn offer(&mut self, score: u64, db: usize, key: &[u8]) {
        // A full pool turns away a key no better than its worst before looking for it.
        let full = self.candidates.len() == POOL_SIZE;
        if full && score <= self.candidates[0].0 {
            return;
        }
        if self
            .candidates
            .iter()
            .any(|(_, d, k)| *d == db && k[..] == *key)
        {
            return;
        }
        if full {
            self.candidates.remove(0);
        }
        let at = self.candidates.partition_point(|(s, ..)| *s <= score);
        self.candidates
            .insert(at, (score, db, Bytes::copy_from_slice(key)));
    }

    /// The best candidate, taken out of the pool.
    pub fn take_best(&mut self) -> Option<(usize, Bytes)> {
        self.candidates.pop().map(|(_, db, key)| (db, key))
    }

    pub fn clear(&mut self) {
        self.candidates.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn policies_parse_by_name() {
        for policy in Policy::ALL {
            assert_eq!(Policy::parse(policy.name()), Some(policy));
        }
        assert_eq!(Policy::parse("ALLKEYS-LRU"), Some(Policy::AllKeysLru));
        assert_eq!(Policy::parse("lru"), None);
    }

    #[test]
    fn lru_idle_time_wraps_with_the_clock() {
        let access = lru_clock(5_000);
        assert_eq!(idle_ms(access, 12_000), 7_000);
        let late = (u64::from(LRU_CLOCK_MAX) + 3) * 1000;
        assert_eq!(idle_ms(lru_clock(late - 4000), late), 4000);
    }

    #[test]
    fn lfu_counts_logarithmically_and_decays_per_idle_minute() {
        let settings = Settings {
            policy: Policy::AllKeysLfu,
            ..Settings::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut access = initial_access(settings.policy, 0);
        for _ in 0..1000 {
            access = touched(access, &settings, 0, &mut rng);
        }
        let counter = lfu_counter(access, 0, 1);
        assert!((15..40).contains(&counter), "1000 hits give {counter}");
        assert_eq!(lfu_counter(access, 3 * 60_000, 1), counter - 3);
        assert_eq!(lfu_counter(access, 3 * 60_000, 0), counter);
    }

    #[test]
    fn the_pool_keeps_the_best_candidates() {
        let mut pool = Pool::default();
        for i in 0..40u64 {
            pool.offer(i * 7 % 41, 0, format!("k{i}").as_bytes());
        }
        let (_, best) = pool.take_best().expect("full");
        assert_eq!(best, "k35"); // 35 * 7 % 41 = 40
        pool.offer(1000, 1, b"x");
        assert_eq!(pool.take_best(), Some((1, Bytes::from_static(b"x"))));
    }
}
