//! Named, seeded random streams.
//!
//! Every stream is a `ChaCha8Rng` whose seed is a stable hash (FNV-1a, 64 bits) of the
//! run's seed, the host name and the stream's name. The same three inputs give the same
//! stream on every machine and in every process, which is what lets a simulation replay
//! from one seed. std's `DefaultHasher` and `ahash::RandomState::new()` are not used for
//! this because their output may change between processes or releases. Both backends
//! derive streams the same way; only the seed's origin differs (the OS in production,
//! unless one is given).
//!
//! `secure_random` is the exception: bytes that must never repeat from one run to the next
//! (the salts of encryption nonces). A production `Env` may be given a seed to make a run
//! repeatable, and then every named stream repeats too, so these bytes come from the OS on
//! every call. In simulation they come from the run's seed, so a run still replays; nothing
//! simulated is secret.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::env::Env;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Env {
    /// The random stream called `name` on this host. Asking twice for one name returns two
    /// generators in the same state, so each consumer should ask once and keep its stream.
    pub fn rng(&self, name: &str) -> ChaCha8Rng {
        stream(self.inner.seed, &self.inner.host, name)
    }

    /// Fills `buffer` with bytes that never repeat across runs: from the operating system in
    /// production (whatever seed the `Env` was given), from a stream of the seed in
    /// simulation. For nonce salts and the like, where a repeat would break encryption.
    pub fn secure_random(&self, buffer: &mut [u8]) {
        match &self.inner.backend {
            crate::env::Backend::Tokio => rand::rngs::OsRng.fill_bytes(buffer),
            #[cfg(feature = "sim")]
            crate::env::Backend::Sim(sim) => sim
                .secure_random
                .lock()
                .expect("secure random stream lock")
                .fill_bytes(buffer),
        }
    }

    /// A hasher state for maps and sets, seeded from the stream called `name`, so that
    /// iteration order is the same in every run of one seed.
    pub fn hash_state(&self, name: &str) -> ahash::RandomState {
        let mut rng = self.rng(name);
        ahash::RandomState::with_seeds(
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
        )
    }
}

/// The stream for (`seed`, `host`, `name`).
pub(crate) fn stream(seed: u64, host: &str, name: &str) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(stream_seed(seed, host, name))
}

/// A seed drawn once from the operating system.
pub(crate) fn os_seed() -> u64 {
    rand::rngs::OsRng.next_u64()
}

/// Hashes the inputs with their lengths in between, so that ("ab", "c") and ("a", "bc")
/// give different streams.
fn stream_seed(seed: u64, host: &str, name: &str) -> u64 {
    let mut hash = FNV_OFFSET_BASIS;
    hash = fnv1a(hash, &seed.to_le_bytes());
    hash = fnv1a(hash, &(host.len() as u64).to_le_bytes());
    hash = fnv1a(hash, host.as_bytes());
    hash = fnv1a(hash, &(name.len() as u64).to_le_bytes());
    fnv1a(hash, name.as_bytes())
}

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn fnv1a_matches_reference_vectors() {
        // Published FNV-1a 64 test vectors: the empty string and "a".
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn same_inputs_give_same_stream() {
        let first: Vec<u64> = stream(9, "h", "n")
            .sample_iter(rand::distributions::Standard)
            .take(8)
            .collect();
        let second: Vec<u64> = stream(9, "h", "n")
            .sample_iter(rand::distributions::Standard)
            .take(8)
            .collect();
        assert_eq!(first, second);
    }

    #[test]
    fn any_input_changes_the_stream() {
        let base = stream_seed(1, "host", "name");
        assert_ne!(base, stream_seed(2, "host", "name"));
        assert_ne!(base, stream_seed(1, "hosu", "name"));
        assert_ne!(base, stream_seed(1, "host", "namf"));
        assert_ne!(stream_seed(1, "ab", "c"), stream_seed(1, "a", "bc"));
    }

    #[test]
    fn secure_random_ignores_the_seed_in_production() {
        let first = Env::production(Some(42));
        let second = Env::production(Some(42));
        let (mut a, mut b, mut c) = ([0u8; 16], [0u8; 16], [0u8; 16]);
        first.secure_random(&mut a);
        second.secure_random(&mut b);
        first.secure_random(&mut c);
        assert_ne!(a, b, "two runs of one seed draw different bytes");
        assert_ne!(a, c, "two calls draw different bytes");
    }

    #[test]
    fn production_streams_follow_the_given_seed() {
        let first = Env::production(Some(42));
        let second = Env::production(Some(42));
        assert_eq!(first.rng("x").next_u64(), second.rng("x").next_u64());
        assert_ne!(first.rng("x").next_u64(), first.rng("y").next_u64());
        let a = first.hash_state("keys").hash_one("k");
        let b = second.hash_state("keys").hash_one("k");
        assert_eq!(a, b);
    }
}
