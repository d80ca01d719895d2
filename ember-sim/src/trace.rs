//! The trace: a stable 64-bit hash over every event of a run (virtual time, who, what was
//! sent, what came back), so two runs of one seed can be compared with one number.
//!
//! The hash is FNV-1a, written here rather than taken from std, because std's hashers are
//! seeded per process (or may change between releases) and a trace must compare equal
//! across processes and machines. Each field is preceded by its length, so that the
//! events ("ab", "c") and ("a", "bc") hash differently.

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The running hash of a run's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    hash: u64,
    events: u64,
}

impl Default for Trace {
    fn default() -> Trace {
        Trace::new()
    }
}

impl Trace {
    pub fn new() -> Trace {
        Trace {
            hash: FNV_OFFSET_BASIS,
            events: 0,
        }
    }

    /// Adds one event made of `fields`, at `time_ms` of virtual time.
    pub fn record(&mut self, time_ms: u64, fields: &[&[u8]]) {
        assert!(fields.len() <= u32::MAX as usize);
        let events_before = self.events;
        self.absorb(&time_ms.to_le_bytes());
        self.absorb(&(fields.len() as u64).to_le_bytes());
        for field in fields {
            self.absorb(&(field.len() as u64).to_le_bytes());
            self.absorb(field);
        }
        self.events += 1;
        assert_eq!(self.events, events_before + 1);
    }

    /// The hash of every event so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// How many events were recorded.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The hash as the 16 hex digits the runner prints.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.hash)
    }

    fn absorb(&mut self, bytes: &[u8]) {
        self.hash = fnv1a(self.hash, bytes);
    }
}

/// FNV-1a, 64 bits, continuing from `hash`.
pub fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_published_vectors() {
        // Test vectors from the FNV reference (isthe.com/chongo/tech/comp/fnv).
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET_BASIS, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn field_boundaries_matter() {
        let mut joined = Trace::new();
        joined.record(1, &[b"ab", b"c"]);
        let mut split = Trace::new();
        split.record(1, &[b"a", b"bc"]);
        assert_ne!(joined.hash(), split.hash());
        assert_eq!(joined.events(), 1);
    }

    #[test]
    fn time_matters() {
        let mut early = Trace::new();
        early.record(1, &[b"x"]);
        let mut late = Trace::new();
        late.record(2, &[b"x"]);
        assert_ne!(early, late);
        assert_eq!(early.hex().len(), 16);
    }
}
