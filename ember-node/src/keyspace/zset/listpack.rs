//! The compact encoding of a small sorted set: one `Vec<u8>` holding every entry in
//! (score, member) order, so a small set costs one allocation and its iteration walks one
//! contiguous buffer.
//!
//! An entry is the member's length as a LEB128 varint, the member's bytes, then the score as
//! eight little-endian bytes. Entries are only ever walked front to back; the sets held here
//! are small (at most `zset-max-listpack-entries`), so every operation is a linear scan.

use std::ops::Range;

use bytes::Bytes;

use super::entry_less;

/// Bytes of the score at the end of every entry.
const SCORE_BYTES: usize = 8;

/// One decoded entry: where it lies in the buffer, its member and its score.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub start: usize,
    pub end: usize,
    pub member: &'a [u8],
    pub score: f64,
}

#[derive(Debug, Default, Clone)]
pub struct Listpack {
    buffer: Vec<u8>,
    len: usize,
}

impl Listpack {
    pub fn new() -> Listpack {
        Listpack::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The buffer's length, for memory accounting.
    pub fn buffer_bytes(&self) -> usize {
        self.buffer.len()
    }

    /// The entry starting at byte `start`, which must be an entry boundary.
    fn entry_at(&self, start: usize) -> Entry<'_> {
        assert!(start < self.buffer.len());
        let (member_len, header) = read_len(&self.buffer[start..]);
        let member_start = start + header;
        let score_start = member_start + member_len;
        let end = score_start + SCORE_BYTES;
        assert!(end <= self.buffer.len(), "entry runs past the buffer");
        let mut score = [0u8; SCORE_BYTES];
        score.copy_from_slice(&self.buffer[score_start..end]);
        Entry {
            start,
            end,
            member: &self.buffer[member_start..score_start],
            score: f64::from_le_bytes(score),
        }
    }

    /// Every entry in (score, member) order.
    pub fn iter(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            if at == self.buffer.len() {
                return None;
            }
            let entry = self.entry_at(at);
            at = entry.end;
            Some(entry)
        })
    }

    /// The member's rank and entry.
    pub fn find(&self, member: &[u8]) -> Option<(usize, Entry<'_>)> {
        self.iter().enumerate().find(|(_, e)| e.member == member)
    }

    /// Adds a member that is not present, at its place in the order.
    pub fn insert(&mut self, member: &[u8], score: f64) {
        assert!(!score.is_nan());
        debug_assert!(self.find(member).is_none());
        let at = self
            .iter()
            .find(|e| !entry_less(e.score, e.member, score, member))
            .map_or(self.buffer.len(), |e| e.start);
        let mut encoded = Vec::with_capacity(member.len() + 10 + SCORE_BYTES);
        write_len(&mut encoded, member.len());
        encoded.extend_from_slice(member);
        encoded.extend_from_slice(&score.to_le_bytes());
        self.buffer.splice(at..at, encoded);
        self.len += 1;
    }

    /// Removes a member; its score when it was present.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (_, entry) = self.find(member)?;
        let (span, score) = (entry.start..entry.end, entry.score);
        self.buffer.drain(span);
        assert!(self.len > 0);
        self.len -= 1;
        Some(score)
    }

    /// How many leading entries satisfy `below`, which must hold for a prefix of the order.
    pub fn count_while(&self, mut below: impl FnMut(f64, &[u8]) -> bool) -> usize {
        self.iter().take_while(|e| below(e.score, e.member)).count()
    }

    /// Copies of the entries whose ranks fall in `ranks`, in ascending order.
    pub fn entries(&self, ranks: Range<usize>) -> Vec<(Bytes, f64)> {
        assert!(ranks.end <= self.len);
        self.iter()
            .skip(ranks.start)
            .take(ranks.len())
            .map(|e| (Bytes::copy_from_slice(e.member), e.score))
            .collect()
    }

    /// Removes the entries whose ranks fall in `ranks` and returns them in ascending order.
    pub fn remove_ranks(&mut self, ranks: Range<usize>) -> Vec<(Bytes, f64)> {
        assert!(ranks.end <= self.len);
        if ranks.is_empty() {
            return Vec::new();
        }
        let removed = self.entries(ranks.clone());
        let mut bounds = self.iter().skip(ranks.start).take(ranks.len());
        let first = bounds.next().expect("the range is not empty");
        let last = bounds.last().unwrap_or(first);
        let span = first.start..last.end;
        self.buffer.drain(span);
        self.len -= ranks.len();
        removed
    }
}

/// Appends `len` as a LEB128 varint.
fn write_len(out: &mut Vec<u8>, len: usize) {
    let mut rest = len;
    loop {
        let low = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

/// Reads a LEB128 varint: the value and the bytes it took.
fn read_len(bytes: &[u8]) -> (usize, usize) {
    let mut value = 0usize;
    // A usize needs at most ten 7-bit groups; the bound keeps a corrupt buffer from looping.
    for (index, byte) in bytes.iter().take(10).enumerate() {
        value |= ((byte & 0x7f) as usize) << (7 * index);
        if byte & 0x80 == 0 {
            return (value, index + 1);
        }
    }
    panic!("a listpack length header is malformed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, 1 << 40] {
            let mut out = Vec::new();
            write_len(&mut out, len);
            assert_eq!(read_len(&out), (len, out.len()));
        }
    }

    #[test]
    fn entries_stay_sorted_by_score_then_member() {
        let mut pack = Listpack::new();
        pack.insert(b"b", 2.0);
        pack.insert(b"a", 2.0);
        pack.insert(b"z", -1.0);
        pack.insert(b"", 2.0);
        let order: Vec<(&[u8], f64)> = pack.iter().map(|e| (e.member, e.score)).collect();
        assert_eq!(
            order,
            vec![
                (&b"z"[..], -1.0),
                (&b""[..], 2.0),
                (&b"a"[..], 2.0),
                (&b"b"[..], 2.0)
            ]
        );
        assert_eq!(pack.remove(b"a"), Some(2.0));
        assert_eq!(pack.remove(b"a"), None);
        assert_eq!(pack.len(), 3);
        let removed = pack.remove_ranks(0..2);
        assert_eq!(removed.len(), 2);
        assert_eq!(pack.iter().map(|e| e.member).collect::<Vec<_>>(), [b"b"]);
    }
}
