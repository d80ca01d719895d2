//! The list type: one compact buffer while the list is small ("listpack") and a deque of
//! bounded compact nodes once it grows ("quicklist"), converting between the two at the sizes
//! Redis 7.2 does, so OBJECT ENCODING reports the same name for the same commands.
//!
//! A pack is a single `Vec<u8>` of entries, with no allocation per element. Each entry is a
//! tag byte (the kind and, for short payloads, the length), the payload, then a back-length:
//! the entry's own length written to be read right to left, so pops and negative indexes walk
//! from the tail without scanning from the head. Elements whose text is a canonical 64-bit
//! integer are stored as integers in 1 to 9 bytes. The byte cost of every entry mirrors a Redis
//! listpack's, so `list-max-listpack-size` size limits trip at the same element counts.
//!
//! The full encoding keeps the head and tail nodes at the ends of a `VecDeque`, so pushes and
//! pops at either end are O(1) amortised (bounded by one node's bytes), while middle operations
//! walk node lengths first and then one node's entries.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::cmd::args::parse_i64;

/// Bytes a listpack spends beyond its entries (its header and end marker). Counted so the
/// size thresholds compare the same totals Redis compares.
const PACK_HEADER_BYTES: usize = 7;

/// The size a node never passes when `list-max-listpack-size` counts entries (positive fill).
const NODE_SAFETY_MAX_BYTES: usize = 8192;

/// Node size limits for `list-max-listpack-size` -1 through -5; smaller fills use the last.
const NODE_LEVEL_MAX_BYTES: [usize; 5] = [4096, 8192, 16384, 32768, 65536];

/// Memory modelled per node of the full encoding: the deque slot and the node's header.
const NODE_OVERHEAD_BYTES: usize = 32;

// Entry tags. The top bits select the kind; see `encode_into` and `decode_at`.
const TAG_TEXT_6BIT: u8 = 0x80;
const TAG_INT_13BIT: u8 = 0xc0;
const TAG_TEXT_12BIT: u8 = 0xe0;
const TAG_TEXT_32BIT: u8 = 0xf0;
const TAG_INT_16BIT: u8 = 0xf1;
const TAG_INT_24BIT: u8 = 0xf2;
const TAG_INT_32BIT: u8 = 0xf3;
const TAG_INT_64BIT: u8 = 0xf4;

/// An end of a list, named as LMOVE and LMPOP name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

/// One element as stored: text, or an integer that was given as its canonical text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry<'a> {
    Text(&'a [u8]),
    Int(i64),
}

impl Entry<'_> {
    /// The element as the client gave it: integers print back to the same canonical text.
    pub fn to_bytes(self) -> Bytes {
        match self {
            Entry::Text(text) => Bytes::copy_from_slice(text),
            Entry::Int(value) => Bytes::from(value.to_string()),
        }
    }

    /// Canonical integers are always stored as `Int`, so comparing kinds first is exact.
    fn matches(self, probe: &Probe) -> bool {
        match (self, probe.int) {
            (Entry::Int(value), Some(wanted)) => value == wanted,
            (Entry::Text(text), None) => text == probe.bytes,
            _ => false,
        }
    }
}

/// An element to look for, classified once so each comparison is one integer or byte compare.
struct Probe<'a> {
    bytes: &'a [u8],
    int: Option<i64>,
}

impl<'a> Probe<'a> {
    fn new(bytes: &'a [u8]) -> Probe<'a> {
        Probe {
            bytes,
            int: parse_i64(bytes),
        }
    }
}

/// The per-node limits that `list-max-listpack-size` (Redis's "fill") sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NodeLimit {
    bytes_max: usize,
    entries_max: usize,
}

impl NodeLimit {
    fn new(fill: i64) -> NodeLimit {
        if fill >= 0 {
            NodeLimit {
                bytes_max: NODE_SAFETY_MAX_BYTES,
                entries_max: usize::try_from(fill.max(1)).unwrap_or(usize::MAX),
            }
        } else {
            let level = usize::try_from(fill.unsigned_abs() - 1).unwrap_or(usize::MAX);
            NodeLimit {
                bytes_max: NODE_LEVEL_MAX_BYTES[level.min(NODE_LEVEL_MAX_BYTES.len() - 1)],
                entries_max: usize::MAX,
            }
        }
    }

    fn exceeded(self, bytes: usize, entries: usize) -> bool {
        bytes > self.bytes_max || entries > self.entries_max
    }

    /// Whether a single-node full list is small enough to go back to the compact encoding:
    /// below half of the limit, so a list at the boundary does not flip on every command. Only
    /// the limit the fill names counts here (an entry-count fill has no byte limit to halve).
    fn compact_again(self, fill: i64, bytes: usize, entries: usize) -> bool {
        if fill >= 0 {
            entries <= self.entries_max / 2
        } else {
            bytes <= self.bytes_max / 2 && entries <= u32::MAX as usize / 2
        }
    }
}

/// A compact run of entries in one buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Pack {
    buf: Vec<u8>,
    len: usize,
}

#[derive(Clone, Debug)]
enum Repr {
    Compact(Pack),
    Full(Quick),
}

/// The full encoding: packs of bounded size, with their totals kept current.
#[derive(Clone, Debug, Default)]
struct Quick {
    nodes: VecDeque<Pack>,
    len: usize,
    bytes: usize,
}

/// A Redis list value.
#[derive(Clone, Debug)]
pub struct List {
    repr: Repr,
}

impl Default for List {
    fn default() -> List {
        List::new()
    }
}

impl List {
    /// A new list always starts compact, as in Redis.
    pub fn new() -> List {
        List {
            repr: Repr::Compact(Pack::default()),
        }
    }

    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Compact(_) => "listpack",
            Repr::Full(_) => "quicklist",
        }
    }

    pub fn size_bytes(&self) -> usize {
        match &self.repr {
            Repr::Compact(pack) => pack.bytes(),
            Repr::Full(quick) => quick.bytes + quick.nodes.len() * NODE_OVERHEAD_BYTES,
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Compact(pack) => pack.len,
            Repr::Full(quick) => quick.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pushes `elements` one after the other at `end` (so LPUSH a b c leaves c first).
    pub fn push(&mut self, end: End, elements: &[Bytes], fill: i64) {
        let added_bytes = elements.iter().map(|e| e.len()).sum();
        self.grow(added_bytes, elements.len(), fill);
        let len_before = self.len();
        for element in elements {
            self.push_entry(end, classify(element), fill);
        }
        assert_eq!(self.len(), len_before + elements.len());
    }

    /// Removes up to `count` elements from `end`, in the order they were taken.
    pub fn pop(&mut self, end: End, count: usize, fill: i64) -> Vec<Bytes> {
        let taken = match &mut self.repr {
            Repr::Compact(pack) => pack.take(end, count),
            Repr::Full(quick) => quick.take(end, count),
        };
        assert!(taken.len() <= count);
        self.shrink(fill);
        taken
    }

    /// LMOVE with the same source and destination: pops at `from` and pushes at `to`.
    pub fn rotate(&mut self, from: End, to: End, fill: i64) -> Option<Bytes> {
        let element = self.pop(from, 1, fill).pop()?;
        self.push(to, std::slice::from_ref(&element), fill);
        self.shrink(fill);
        Some(element)
    }

    /// The element at `index`; negative indexes count from the tail.
    pub fn get(&self, index: i64) -> Option<Bytes> {
        let index = normalize_index(self.len(), index)?;
        let (node, local) = self.locate(index);
        Some(node.get(local).to_bytes())
    }

    /// Replaces the element at `index`; false when the index is out of range. Like Redis, the
    /// compact encoding is checked for growth before the index is, and for shrinking after.
    pub fn set(&mut self, index: i64, element: &[u8], fill: i64) -> bool {
        self.grow(element.len(), 1, fill);
        let Some(index) = normalize_index(self.len(), index) else {
            return false;
        };
        let entry = classify(element);
        match &mut self.repr {
            Repr::Compact(pack) => pack.replace(index, entry),
            Repr::Full(quick) => quick.replace(index, entry, NodeLimit::new(fill)),
        }
        self.shrink(fill);
        true
    }

    /// Inserts `element` next to the first `pivot`; the new length, or `None` when the pivot
    /// is missing.
    pub fn insert(
        &mut self,
        pivot: &[u8],
        element: &[u8],
        after: bool,
        fill: i64,
    ) -> Option<usize> {
        self.grow(element.len(), 1, fill);
        let probe = Probe::new(pivot);
        let found = self.entries().position(|entry| entry.matches(&probe))?;
        let index = if after { found + 1 } else { found };
        let entry = classify(element);
        match &mut self.repr {
            Repr::Compact(pack) => pack.insert(index, entry),
            Repr::Full(quick) => quick.insert(index, entry, NodeLimit::new(fill)),
        }
        Some(self.len())
    }

    /// LREM: removes up to `count` matches scanning from the head (`count` > 0), from the tail
    /// (`count` < 0), or all of them (0). Returns how many went.
    pub fn remove(&mut self, element: &[u8], count: i64, fill: i64) -> usize {
        let probe = Probe::new(element);
        let limit = match count {
            0 => usize::MAX,
            _ => usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX),
        };
        let from_tail = count < 0;
        let removed = match &mut self.repr {
            Repr::Compact(pack) => pack.remove_matching(&probe, from_tail, limit),
            Repr::Full(quick) => quick.remove_matching(&probe, from_tail, limit, fill),
        };
        assert!(removed <= limit);
        self.shrink(fill);
        removed
    }

    /// LTRIM: keeps only `start..=stop` (Redis index rules); may leave the list empty.
    pub fn trim(&mut self, start: i64, stop: i64, fill: i64) {
        let len = self.len();
        let (head, tail) = match normalize_range(len, start, stop) {
            Some((first, last)) => (first, len - 1 - last),
            None => (len, 0),
        };
        match &mut self.repr {
            Repr::Compact(pack) => {
                pack.remove(0, head);
                pack.remove(pack.len - tail, tail);
            }
            Repr::Full(quick) => {
                quick.drop_end(End::Left, head);
                quick.drop_end(End::Right, tail);
            }
        }
        assert_eq!(self.len(), len - head - tail);
        self.shrink(fill);
    }

    /// LRANGE: the elements in `start..=stop` (Redis index rules).
    pub fn range(&self, start: i64, stop: i64) -> Vec<Bytes> {
        let Some((first, last)) = normalize_range(self.len(), start, stop) else {
            return Vec::new();
        };
        let wanted = last - first + 1;
        let mut out = Vec::with_capacity(wanted);
        let mut skip = first;
        for node in self.nodes() {
            if skip >= node.len {
                skip -= node.len;
                continue;
            }
            let room = wanted - out.len();
            out.extend(node.iter_from(skip).take(room).map(Entry::to_bytes));
            skip = 0;
            if out.len() == wanted {
                break;
            }
        }
        assert_eq!(out.len(), wanted);
        out
    }

    /// LPOS: indexes (from the head) of matches of `element`. A negative `rank` scans from the
    /// tail; |rank| - 1 matches are skipped first. `count` 0 means all matches, `maxlen` 0
    /// means the whole list is compared.
    pub fn positions(&self, element: &[u8], rank: i64, count: usize, maxlen: usize) -> Vec<usize> {
        assert!(rank != 0);
        let probe = Probe::new(element);
        let skip = usize::try_from(rank.unsigned_abs() - 1).unwrap_or(usize::MAX);
        let compared = if maxlen == 0 {
            self.len()
        } else {
            maxlen.min(self.len())
        };
        let wanted = if count == 0 { usize::MAX } else { count };
        let len = self.len();
        if rank > 0 {
            let scan = self.entries().enumerate().take(compared);
            collect_matches(scan, &probe, skip, wanted)
        } else {
            let scan = self.entries().rev().enumerate().take(compared);
            let found = collect_matches(scan, &probe, skip, wanted);
            found
                .into_iter()
                .map(|from_tail| len - 1 - from_tail)
                .collect()
        }
    }

    /// Every element from head to tail.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Bytes> + '_ {
        self.entries().map(Entry::to_bytes)
    }

    fn entries(&self) -> impl DoubleEndedIterator<Item = Entry<'_>> + '_ {
        self.nodes().flat_map(Pack::iter)
    }

    /// The packs in order: the one buffer of a compact list, or the nodes of a full one.
    fn nodes(&self) -> impl DoubleEndedIterator<Item = &Pack> + '_ {
        let (first, second): (&[Pack], &[Pack]) = match &self.repr {
            Repr::Compact(pack) => (std::slice::from_ref(pack), &[]),
            Repr::Full(quick) => quick.nodes.as_slices(),
        };
        first.iter().chain(second.iter())
    }

    /// The node holding element `index` and the index within it, walking from the nearer end.
    fn locate(&self, index: usize) -> (&Pack, usize) {
        assert!(index < self.len());
        match &self.repr {
            Repr::Compact(pack) => (pack, index),
            Repr::Full(quick) => {
                let (node, local) = quick.locate(index);
                (&quick.nodes[node], local)
            }
        }
    }

    fn push_entry(&mut self, end: End, entry: Entry, fill: i64) {
        match &mut self.repr {
            Repr::Compact(pack) => pack.push(end, entry),
            Repr::Full(quick) => quick.push(end, entry, NodeLimit::new(fill)),
        }
    }

    /// Leaves the compact encoding if adding `added_entries` elements of `added_bytes` would
    /// pass the node limit. Like Redis, it counts the raw lengths of what is added.
    fn grow(&mut self, added_bytes: usize, added_entries: usize, fill: i64) {
        let Repr::Compact(pack) = &mut self.repr else {
            return;
        };
        let bytes = pack.bytes().saturating_add(added_bytes);
        if !NodeLimit::new(fill).exceeded(bytes, pack.len + added_entries) {
            return;
        }
        let pack = std::mem::take(pack);
        let mut quick = Quick::default();
        if pack.len > 0 {
            quick.insert_node(0, pack);
        }
        self.repr = Repr::Full(quick);
    }

    /// Returns to the compact encoding when the full list is one node below half the limit.
    fn shrink(&mut self, fill: i64) {
        let Repr::Full(quick) = &mut self.repr else {
            return;
        };
        if quick.nodes.len() != 1 {
            return;
        }
        let node = &quick.nodes[0];
        if !NodeLimit::new(fill).compact_again(fill, node.bytes(), node.len) {
            return;
        }
        let pack = quick.nodes.pop_front().expect("one node");
        assert_eq!(pack.len, quick.len);
        self.repr = Repr::Compact(pack);
    }

    /// Checks every internal invariant; O(n), for tests.
    #[cfg(test)]
    fn check(&self) {
        match &self.repr {
            Repr::Compact(pack) => pack.check(),
            Repr::Full(quick) => {
                assert!(quick.nodes.iter().all(|n| n.len > 0), "no empty nodes");
                assert_eq!(quick.len, quick.nodes.iter().map(|n| n.len).sum::<usize>());
                assert_eq!(
                    quick.bytes,
                    quick.nodes.iter().map(|n| n.bytes()).sum::<usize>()
                );
                quick.nodes.iter().for_each(Pack::check);
            }
        }
    }
}

/// Collects the indexes (as the scan counts them) of matches after skipping `skip` of them.
fn collect_matches<'a>(
    scan: impl Iterator<Item = (usize, Entry<'a>)>,
    probe: &Probe,
    skip: usize,
    wanted: usize,
) -> Vec<usize> {
    let mut found = Vec::new();
    let mut seen = 0usize;
    for (index, entry) in scan {
        if !entry.matches(probe) {
            continue;
        }
        seen += 1;
        if seen > skip {
            found.push(index);
            if found.len() == wanted {
                break;
            }
        }
    }
    found
}

/// Redis's index rule: negative counts from the tail; `None` when outside the list.
fn normalize_index(len: usize, index: i64) -> Option<usize> {
    let len = i64::try_from(len).expect("lengths fit in i64");
    let index = if index < 0 { len + index } else { index };
    if (0..len).contains(&index) {
        Some(index as usize)
    } else {
        None
    }
}

/// Redis's range rule (LRANGE, LTRIM): negative ends count from the tail, the start clamps
/// to 0 and the stop to the last element; `None` when the range holds nothing.
fn normalize_range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = i64::try_from(len).expect("lengths fit in i64");
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop as usize))
}

/// How an element is stored: canonical integer text becomes an integer.
fn classify(element: &[u8]) -> Entry<'_> {
    match parse_i64(element) {
        Some(value) => Entry::Int(value),
        None => Entry::Text(element),
    }
}

impl Quick {
    /// Applies `change` to one node and keeps the totals current.
    fn edit<R>(&mut self, node: usize, change: impl FnOnce(&mut Pack) -> R) -> R {
        let pack = &mut self.nodes[node];
        let (bytes_before, len_before) = (pack.bytes(), pack.len);
        let result = change(pack);
        self.bytes = self.bytes - bytes_before + pack.bytes();
        self.len = self.len - len_before + pack.len;
        result
    }

    fn insert_node(&mut self, at: usize, pack: Pack) {
        assert!(pack.len > 0, "nodes are never empty");
        self.bytes += pack.bytes();
        self.len += pack.len;
        self.nodes.insert(at, pack);
    }

    fn remove_node(&mut self, at: usize) -> Pack {
        let pack = self.nodes.remove(at).expect("node index in range");
        self.bytes -= pack.bytes();
        self.len -= pack.len;
        pack
    }

    fn fits(&self, node: usize, entry_size: usize, limit: NodeLimit) -> bool {
        let pack = &self.nodes[node];
        !limit.exceeded(pack.bytes() + entry_size, pack.len + 1)
    }

    /// (node, index within the node) of element `index`, walking from the nearer end.
    fn locate(&self, index: usize) -> (usize, usize) {
        assert!(index < self.len);
        if index < self.len / 2 {
            let mut skip = index;
            for (node, pack) in self.nodes.iter().enumerate() {
                if skip < pack.len {
                    return (node, skip);
                }
                skip -= pack.len;
            }
        } else {
            let mut from_tail = self.len - 1 - index;
            for (node, pack) in self.nodes.iter().enumerate().rev() {
                if from_tail < pack.len {
                    return (node, pack.len - 1 - from_tail);
                }
                from_tail -= pack.len;
            }
        }
        unreachable!("index {index} below the length {} was not found", self.len)
    }

    fn push(&mut self, end: End, entry: Entry, limit: NodeLimit) {
        let size = entry_bytes(entry);
        let node = match end {
            End::Left => 0,
            End::Right => self.nodes.len().saturating_sub(1),
        };
        if !self.nodes.is_empty() && self.fits(node, size, limit) {
            self.edit(node, |pack| pack.push(end, entry));
            return;
        }
        let mut pack = Pack::default();
        pack.push(end, entry);
        let at = match end {
            End::Left => 0,
            End::Right => self.nodes.len(),
        };
        self.insert_node(at, pack);
    }

    fn take(&mut self, end: End, count: usize) -> Vec<Bytes> {
        let mut taken = Vec::with_capacity(count.min(self.len));
        while taken.len() < count && !self.nodes.is_empty() {
            let node = match end {
                End::Left => 0,
                End::Right => self.nodes.len() - 1,
            };
            let wanted = count - taken.len();
            taken.extend(self.edit(node, |pack| pack.take(end, wanted)));
            if self.nodes[node].len == 0 {
                self.remove_node(node);
            }
        }
        taken
    }

    /// Removes `count` elements at `end`: whole nodes first, then part of the boundary node.
    fn drop_end(&mut self, end: End, count: usize) {
        assert!(count <= self.len);
        let mut left = count;
        while left > 0 {
            let node = match end {
                End::Left => 0,
                End::Right => self.nodes.len() - 1,
            };
            let node_len = self.nodes[node].len;
            if node_len <= left {
                self.remove_node(node);
                left -= node_len;
                continue;
            }
            let start = match end {
                End::Left => 0,
                End::Right => node_len - left,
            };
            self.edit(node, |pack| pack.remove(start, left));
            left = 0;
        }
    }

    fn replace(&mut self, index: usize, entry: Entry, limit: NodeLimit) {
        let (node, local) = self.locate(index);
        self.edit(node, |pack| pack.replace(local, entry));
        self.split_oversized(node, limit);
    }

    /// Halves a node that grew past the limit until every part fits (or holds one element).
    fn split_oversized(&mut self, node: usize, limit: NodeLimit) {
        let pack = &self.nodes[node];
        if pack.len < 2 || !limit.exceeded(pack.bytes(), pack.len) {
            return;
        }
        let half = pack.len / 2;
        let right = self.edit(node, |pack| pack.split_off(half));
        self.insert_node(node + 1, right);
        self.split_oversized(node + 1, limit);
        self.split_oversized(node, limit);
    }

    /// Inserts before the element now at `index` (`index == len` appends).
    fn insert(&mut self, index: usize, entry: Entry, limit: NodeLimit) {
        assert!(index <= self.len);
        if index == 0 || index == self.len {
            let end = if index == 0 { End::Left } else { End::Right };
            return self.push(end, entry, limit);
        }
        let size = entry_bytes(entry);
        let (node, local) = self.locate(index);
        if self.fits(node, size, limit) {
            return self.edit(node, |pack| pack.insert(local, entry));
        }
        if local == 0 {
            // Between two nodes: the tail of the previous one, or a node of its own.
            if self.fits(node - 1, size, limit) {
                return self.edit(node - 1, |pack| pack.push(End::Right, entry));
            }
            return self.insert_node(node, Pack::single(entry));
        }
        // The node is full: split it at the insertion point and place the element at the seam.
        let right = self.edit(node, |pack| pack.split_off(local));
        self.insert_node(node + 1, right);
        if self.fits(node, size, limit) {
            self.edit(node, |pack| pack.push(End::Right, entry));
        } else if self.fits(node + 1, size, limit) {
            self.edit(node + 1, |pack| pack.push(End::Left, entry));
        } else {
            self.insert_node(node + 1, Pack::single(entry));
        }
    }

    fn remove_matching(
        &mut self,
        probe: &Probe,
        from_tail: bool,
        limit: usize,
        fill: i64,
    ) -> usize {
        let mut removed = 0;
        let order: Vec<usize> = if from_tail {
            (0..self.nodes.len()).rev().collect()
        } else {
            (0..self.nodes.len()).collect()
        };
        for node in order {
            if removed == limit {
                break;
            }
            removed += self.edit(node, |pack| {
                pack.remove_matching(probe, from_tail, limit - removed)
            });
        }
        if removed > 0 {
            for node in (0..self.nodes.len()).rev() {
                if self.nodes[node].len == 0 {
                    self.remove_node(node);
                }
            }
            self.merge_neighbours(NodeLimit::new(fill));
        }
        removed
    }

    /// Joins adjacent nodes whose union fits the limit, so removals do not leave the list
    /// fragmented into many small nodes.
    fn merge_neighbours(&mut self, limit: NodeLimit) {
        let mut node = 0;
        while node + 1 < self.nodes.len() {
            let (left, right) = (&self.nodes[node], &self.nodes[node + 1]);
            let bytes = left.bytes() + right.bytes() - PACK_HEADER_BYTES;
            if limit.exceeded(bytes, left.len + right.len) {
                node += 1;
                continue;
            }
            let right = self.remove_node(node + 1);
            self.edit(node, |pack| pack.append(&right));
        }
    }
}

impl Pack {
    fn single(entry: Entry) -> Pack {
        let mut pack = Pack::default();
        pack.push(End::Right, entry);
        pack
    }

    /// Size as a listpack would report it, header included.
    fn bytes(&self) -> usize {
        self.buf.len() + PACK_HEADER_BYTES
    }

    /// Byte offset of entry `index` (`len` gives the end), walking from the nearer end.
    fn offset_of(&self, index: usize) -> usize {
        assert!(index <= self.len);
        if index <= self.len / 2 {
            let mut offset = 0;
            for _ in 0..index {
                offset += decode_at(&self.buf, offset).1;
            }
            offset
        } else {
            let mut offset = self.buf.len();
            for _ in index..self.len {
                offset -= back_len_at(&self.buf, offset);
            }
            offset
        }
    }

    fn get(&self, index: usize) -> Entry<'_> {
        assert!(index < self.len);
        decode_at(&self.buf, self.offset_of(index)).0
    }

    fn iter(&self) -> PackIter<'_> {
        PackIter {
            buf: &self.buf,
            front: 0,
            back: self.buf.len(),
            remaining: self.len,
        }
    }

    fn iter_from(&self, index: usize) -> PackIter<'_> {
        PackIter {
            buf: &self.buf,
            front: self.offset_of(index),
            back: self.buf.len(),
            remaining: self.len - index,
        }
    }

    fn insert(&mut self, index: usize, entry: Entry) {
        let offset = self.offset_of(index);
        let size = entry_bytes(entry);
        self.buf
            .splice(offset..offset, std::iter::repeat_n(0, size));
        encode_into(&mut self.buf[offset..offset + size], entry);
        self.len += 1;
    }

    fn push(&mut self, end: End, entry: Entry) {
        match end {
            End::Left => self.insert(0, entry),
            End::Right => {
                let offset = self.buf.len();
                let size = entry_bytes(entry);
                self.buf.resize(offset + size, 0);
                encode_into(&mut self.buf[offset..], entry);
                self.len += 1;
            }
        }
    }

    /// Removes `count` entries starting at entry `index`.
    fn remove(&mut self, index: usize, count: usize) {
        assert!(index + count <= self.len);
        if count == 0 {
            return;
        }
        let start = self.offset_of(index);
        let mut stop = start;
        for _ in 0..count {
            stop += decode_at(&self.buf, stop).1;
        }
        self.buf.drain(start..stop);
        self.len -= count;
    }

    /// Up to `count` entries from `end`, removed in one move of the remaining bytes.
    fn take(&mut self, end: End, count: usize) -> Vec<Bytes> {
        let count = count.min(self.len);
        let taken: Vec<Bytes> = match end {
            End::Left => self.iter().take(count).map(Entry::to_bytes).collect(),
            End::Right => self.iter().rev().take(count).map(Entry::to_bytes).collect(),
        };
        match end {
            End::Left => self.remove(0, count),
            End::Right => self.remove(self.len - count, count),
        }
        taken
    }

    fn replace(&mut self, index: usize, entry: Entry) {
        let offset = self.offset_of(index);
        let old_size = decode_at(&self.buf, offset).1;
        let size = entry_bytes(entry);
        self.buf
            .splice(offset..offset + old_size, std::iter::repeat_n(0, size));
        encode_into(&mut self.buf[offset..offset + size], entry);
    }

    /// Moves entries `index..` into a new pack.
    fn split_off(&mut self, index: usize) -> Pack {
        let offset = self.offset_of(index);
        let right = Pack {
            buf: self.buf.split_off(offset),
            len: self.len - index,
        };
        self.len = index;
        right
    }

    fn append(&mut self, other: &Pack) {
        self.buf.extend_from_slice(&other.buf);
        self.len += other.len;
    }

    /// Removes up to `limit` matches, the first ones or (`from_tail`) the last ones, by
    /// sliding the kept entries down in one pass.
    fn remove_matching(&mut self, probe: &Probe, from_tail: bool, limit: usize) -> usize {
        let mut doomed: Vec<usize> = Vec::new();
        if from_tail {
            let mut offset = self.buf.len();
            while offset > 0 && doomed.len() < limit {
                offset -= back_len_at(&self.buf, offset);
                if decode_at(&self.buf, offset).0.matches(probe) {
                    doomed.push(offset);
                }
            }
            doomed.reverse();
        } else {
            let mut offset = 0;
            while offset < self.buf.len() && doomed.len() < limit {
                let (entry, size) = decode_at(&self.buf, offset);
                if entry.matches(probe) {
                    doomed.push(offset);
                }
                offset += size;
            }
        }
        self.remove_offsets(&doomed);
        doomed.len()
    }

    /// Removes the entries starting at `offsets` (ascending).
    fn remove_offsets(&mut self, offsets: &[usize]) {
        debug_assert!(offsets.windows(2).all(|w| w[0] < w[1]));
        let Some(&first) = offsets.first() else {
            return;
        };
        let mut write = first;
        for (i, &start) in offsets.iter().enumerate() {
            let stop = start + decode_at(&self.buf, start).1;
            let next = offsets.get(i + 1).copied().unwrap_or(self.buf.len());
            self.buf.copy_within(stop..next, write);
            write += next - stop;
        }
        self.buf.truncate(write);
        self.len -= offsets.len();
    }

    #[cfg(test)]
    fn check(&self) {
        let entries: Vec<Entry> = self.iter().collect();
        assert_eq!(entries.len(), self.len);
        let backwards: Vec<Entry> = self.iter().rev().collect();
        assert!(entries.iter().eq(backwards.iter().rev()));
        for entry in entries {
            if let Entry::Text(text) = entry {
                assert!(parse_i64(text).is_none(), "integers are stored as integers");
            }
        }
    }
}

/// Walks a pack's entries from either end.
struct PackIter<'a> {
    buf: &'a [u8],
    front: usize,
    back: usize,
    remaining: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let (entry, size) = decode_at(self.buf, self.front);
        self.front += size;
        self.remaining -= 1;
        assert!(self.front <= self.back);
        Some(entry)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl DoubleEndedIterator for PackIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.back -= back_len_at(self.buf, self.back);
        self.remaining -= 1;
        assert!(self.front <= self.back);
        Some(decode_at(self.buf, self.back).0)
    }
}

/// Bytes of an entry's tag and payload.
fn head_bytes(entry: Entry) -> usize {
    match entry {
        Entry::Int(value) => 1 + int_width(value),
        Entry::Text(text) if text.len() < 64 => 1 + text.len(),
        Entry::Text(text) if text.len() < 4096 => 2 + text.len(),
        Entry::Text(text) => 5 + text.len(),
    }
}

/// Payload bytes after the tag for an integer (0: the value lives in the tag itself).
fn int_width(value: i64) -> usize {
    if (0..128).contains(&value) {
        0
    } else if (-4096..4096).contains(&value) {
        1
    } else if i16::try_from(value).is_ok() {
        2
    } else if (-(1 << 23)..(1 << 23)).contains(&value) {
        3
    } else if i32::try_from(value).is_ok() {
        4
    } else {
        8
    }
}

/// Bytes the back-length of an entry with `head` bytes takes (the same steps as a listpack).
fn back_len_bytes(head: usize) -> usize {
    match head {
        0..=127 => 1,
        128..16383 => 2,
        16383..2097151 => 3,
        2097151..268435455 => 4,
        _ => 5,
    }
}

fn entry_bytes(entry: Entry) -> usize {
    let head = head_bytes(entry);
    head + back_len_bytes(head)
}

/// Writes `entry` into `slot`, which is exactly `entry_bytes(entry)` long.
fn encode_into(slot: &mut [u8], entry: Entry) {
    let head = head_bytes(entry);
    assert_eq!(slot.len(), head + back_len_bytes(head));
    match entry {
        Entry::Int(value) => match int_width(value) {
            0 => slot[0] = value as u8,
            1 => {
                let bits = (value as u16) & 0x1fff;
                slot[0] = TAG_INT_13BIT | (bits >> 8) as u8;
                slot[1] = bits as u8;
            }
            width => {
                slot[0] = match width {
                    2 => TAG_INT_16BIT,
                    3 => TAG_INT_24BIT,
                    4 => TAG_INT_32BIT,
                    _ => TAG_INT_64BIT,
                };
                slot[1..head].copy_from_slice(&value.to_le_bytes()[..width]);
            }
        },
        Entry::Text(text) => {
            let len = text.len();
            let payload_at = head - len;
            match payload_at {
                1 => slot[0] = TAG_TEXT_6BIT | len as u8,
                2 => {
                    slot[0] = TAG_TEXT_12BIT | (len >> 8) as u8;
                    slot[1] = len as u8;
                }
                _ => {
                    let len = u32::try_from(len).expect("elements are below 4 GiB");
                    slot[0] = TAG_TEXT_32BIT;
                    slot[1..5].copy_from_slice(&len.to_le_bytes());
                }
            }
            slot[payload_at..head].copy_from_slice(text);
        }
    }
    write_back_len(&mut slot[head..], head);
}

/// The back-length: 7 bits per byte, least significant group last, and a high bit on every
/// byte that has more groups to its left.
fn write_back_len(out: &mut [u8], head: usize) {
    let count = out.len();
    for group in 0..count {
        let bits = ((head >> (7 * group)) & 0x7f) as u8;
        let more = if group + 1 < count { 0x80 } else { 0 };
        out[count - 1 - group] = bits | more;
    }
}

/// The full size of the entry that ends at `end`, read from its back-length.
fn back_len_at(buf: &[u8], end: usize) -> usize {
    let mut head = 0usize;
    let mut at = end;
    for group in 0..5 {
        at -= 1;
        let byte = buf[at];
        head |= ((byte & 0x7f) as usize) << (7 * group);
        if byte & 0x80 == 0 {
            return head + (end - at);
        }
    }
    panic!("a list back-length is at most five bytes");
}

/// The entry at `offset` and its full size (tag, payload and back-length).
fn decode_at(buf: &[u8], offset: usize) -> (Entry<'_>, usize) {
    let tag = buf[offset];
    let text = |skip: usize, len: usize| {
        let start = offset + skip;
        (Entry::Text(&buf[start..start + len]), skip + len)
    };
    let (entry, head) = if tag < 0x80 {
        (Entry::Int(tag as i64), 1)
    } else if tag & 0xc0 == TAG_TEXT_6BIT {
        text(1, (tag & 0x3f) as usize)
    } else if tag & 0xe0 == TAG_INT_13BIT {
        let bits = (((tag & 0x1f) as u16) << 8) | buf[offset + 1] as u16;
        (Entry::Int((((bits << 3) as i16) >> 3) as i64), 2)
    } else if tag & 0xf0 == TAG_TEXT_12BIT {
        text(2, (((tag & 0x0f) as usize) << 8) | buf[offset + 1] as usize)
    } else if tag == TAG_TEXT_32BIT {
        let len: [u8; 4] = buf[offset + 1..offset + 5].try_into().expect("four bytes");
        text(5, u32::from_le_bytes(len) as usize)
    } else {
        let width = match tag {
            TAG_INT_16BIT => 2,
            TAG_INT_24BIT => 3,
            TAG_INT_32BIT => 4,
            TAG_INT_64BIT => 8,
            _ => panic!("corrupt list entry tag {tag:#x}"),
        };
        let mut bytes = [0u8; 8];
        bytes[..width].copy_from_slice(&buf[offset + 1..offset + 1 + width]);
        let shift = 64 - 8 * width as u32;
        let value = (i64::from_le_bytes(bytes) << shift) >> shift;
        (Entry::Int(value), 1 + width)
    };
    (entry, head + back_len_bytes(head))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    fn all(list: &List) -> Vec<Bytes> {
        list.iter().collect()
    }

    #[test]
    fn entries_round_trip_through_every_encoding() {
        let mut samples: Vec<Vec<u8>> = [
            "0",
            "127",
            "128",
            "-1",
            "-4096",
            "4095",
            "4096",
            "-4097",
            "32767",
            "-32768",
            "32768",
            "8388607",
            "-8388608",
            "8388608",
            "2147483647",
            "-2147483648",
            "2147483648",
            "9223372036854775807",
            "-9223372036854775808",
            "01",
            "-0",
            "+1",
            "",
            "a",
            "1.5",
            " 1",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        for len in [63, 64, 127, 128, 4095, 4096, 16380, 16384, 70000] {
            samples.push(vec![b'x'; len]);
        }
        let mut pack = Pack::default();
        for sample in &samples {
            pack.push(End::Right, classify(sample));
        }
        pack.check();
        let back: Vec<Vec<u8>> = pack.iter().map(|e| e.to_bytes().to_vec()).collect();
        assert_eq!(back, samples);
        let reversed: Vec<Vec<u8>> = pack.iter().rev().map(|e| e.to_bytes().to_vec()).collect();
        assert!(reversed.iter().eq(samples.iter().rev()));
    }

    #[test]
    fn entry_sizes_follow_listpack_costs() {
        assert_eq!(entry_bytes(classify(b"7")), 2);
        assert_eq!(entry_bytes(classify(b"1000")), 3);
        assert_eq!(entry_bytes(classify(b"hello")), 7);
        assert_eq!(entry_bytes(classify(&[b'a'; 100])), 103);
        assert_eq!(entry_bytes(classify(b"12345678901")), 10);
    }

    #[test]
    fn pushes_pops_and_reads_at_both_ends() {
        let mut list = List::new();
        list.push(End::Left, &[b("a"), b("b"), b("c")], -2);
        list.push(End::Right, &[b("1"), b("2")], -2);
        assert_eq!(all(&list), vec![b("c"), b("b"), b("a"), b("1"), b("2")]);
        assert_eq!(list.get(-1), Some(b("2")));
        assert_eq!(list.get(5), None);
        assert_eq!(list.range(1, -2), vec![b("b"), b("a"), b("1")]);
        assert_eq!(list.range(-100, 100).len(), 5);
        assert!(list.range(3, 1).is_empty());
        assert_eq!(list.pop(End::Right, 2, -2), vec![b("2"), b("1")]);
        assert_eq!(list.pop(End::Left, 10, -2), vec![b("c"), b("b"), b("a")]);
        assert!(list.is_empty());
    }

    #[test]
    fn converts_past_the_limits_and_back_below_half() {
        let mut list = List::new();
        let fill = 4;
        list.push(End::Right, &[b("a"), b("b"), b("c"), b("d")], fill);
        assert_eq!(list.encoding(), "listpack");
        list.push(End::Right, &[b("e")], fill);
        assert_eq!(list.encoding(), "quicklist");
        list.check();
        list.pop(End::Left, 2, fill);
        assert_eq!(list.encoding(), "quicklist", "3 entries is above half of 4");
        list.pop(End::Left, 1, fill);
        assert_eq!(list.encoding(), "quicklist", "two nodes never convert");
        list.pop(End::Left, 1, fill);
        assert_eq!(list.encoding(), "listpack");
        assert_eq!(all(&list), vec![b("e")]);

        let mut big = List::new();
        big.push(End::Right, &[Bytes::from(vec![b'x'; 9000])], -2);
        assert_eq!(big.encoding(), "quicklist", "one element past 8 KiB");
    }

    #[test]
    fn byte_limit_counts_like_a_listpack() {
        // -1 is 4096 bytes: 7 header bytes plus 100-byte entries of 103 bytes each.
        let mut list = List::new();
        let element = Bytes::from(vec![b'v'; 100]);
        for _ in 0..39 {
            list.push(End::Right, std::slice::from_ref(&element), -1);
        }
        assert_eq!(list.size_bytes(), 7 + 39 * 103);
        assert_eq!(list.encoding(), "listpack");
        list.push(End::Right, std::slice::from_ref(&element), -1);
        assert_eq!(list.encoding(), "quicklist");
    }

    #[test]
    fn positions_follow_rank_count_and_maxlen() {
        let mut list = List::new();
        let items: Vec<Bytes> = ["a", "b", "c", "1", "2", "3", "c", "c"]
            .iter()
            .map(|s| b(s))
            .collect();
        list.push(End::Right, &items, -2);
        assert_eq!(list.positions(b"c", 1, 1, 0), vec![2]);
        assert_eq!(list.positions(b"c", 1, 0, 0), vec![2, 6, 7]);
        assert_eq!(list.positions(b"c", 2, 0, 0), vec![6, 7]);
        assert_eq!(list.positions(b"c", -1, 0, 0), vec![7, 6, 2]);
        assert_eq!(list.positions(b"c", -1, 2, 0), vec![7, 6]);
        assert_eq!(list.positions(b"c", 1, 0, 3), vec![2]);
        assert_eq!(list.positions(b"c", -1, 0, 2), vec![7, 6]);
        assert!(list.positions(b"c", 4, 0, 0).is_empty());
        assert_eq!(list.positions(b"2", 1, 1, 0), vec![4]);
        assert!(list.positions(b"02", 1, 1, 0).is_empty());
    }

    /// Operations of the model-based test.
    #[derive(Clone, Debug)]
    enum Op {
        Push(bool, Vec<Vec<u8>>),
        Pop(bool, usize),
        Set(i64, Vec<u8>),
        Insert(Vec<u8>, Vec<u8>, bool),
        Remove(Vec<u8>, i64),
        Trim(i64, i64),
        Rotate(bool, bool),
    }

    fn element() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            6 => prop::sample::select(vec!["a", "b", "c", "1", "-5", "300", "70000", "x9"])
                .prop_map(|s| s.as_bytes().to_vec()),
            1 => (100usize..3000).prop_map(|n| vec![b'z'; n]),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<bool>(), prop::collection::vec(element(), 1..6)).prop_map(|(l, e)| Op::Push(l, e)),
            2 => (any::<bool>(), 0usize..6).prop_map(|(l, n)| Op::Pop(l, n)),
            1 => (-12i64..12, element()).prop_map(|(i, e)| Op::Set(i, e)),
            1 => (element(), element(), any::<bool>()).prop_map(|(p, e, a)| Op::Insert(p, e, a)),
            1 => (element(), -3i64..3).prop_map(|(e, c)| Op::Remove(e, c)),
            1 => (-15i64..15, -15i64..15).prop_map(|(s, e)| Op::Trim(s, e)),
            1 => (any::<bool>(), any::<bool>()).prop_map(|(f, t)| Op::Rotate(f, t)),
        ]
    }

    fn end(left: bool) -> End {
        if left {
            End::Left
        } else {
            End::Right
        }
    }

    /// Applies `op` to the reference model: a plain `VecDeque` of byte strings.
    fn apply_model(model: &mut VecDeque<Vec<u8>>, op: &Op) {
        match op {
            Op::Push(left, elements) => {
                for e in elements {
                    if *left {
                        model.push_front(e.clone())
                    } else {
                        model.push_back(e.clone())
                    }
                }
            }
            Op::Pop(left, n) => {
                for _ in 0..*n {
                    if *left {
                        model.pop_front();
                    } else {
                        model.pop_back();
                    }
                }
            }
            Op::Set(index, e) => {
                if let Some(i) = normalize_index(model.len(), *index) {
                    model[i] = e.clone();
                }
            }
            Op::Insert(pivot, e, after) => {
                if let Some(i) = model.iter().position(|x| x == pivot) {
                    model.insert(if *after { i + 1 } else { i }, e.clone());
                }
            }
            Op::Remove(e, count) => remove_model(model, e, *count),
            Op::Trim(start, stop) => {
                let kept: VecDeque<Vec<u8>> = match normalize_range(model.len(), *start, *stop) {
                    Some((a, z)) => model.range(a..=z).cloned().collect(),
                    None => VecDeque::new(),
                };
                *model = kept;
            }
            Op::Rotate(from, to) => {
                let taken = if *from {
                    model.pop_front()
                } else {
                    model.pop_back()
                };
                if let Some(x) = taken {
                    if *to {
                        model.push_front(x)
                    } else {
                        model.push_back(x)
                    }
                }
            }
        }
    }

    fn remove_model(model: &mut VecDeque<Vec<u8>>, e: &[u8], count: i64) {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let mut hits: Vec<usize> = model
            .iter()
            .enumerate()
            .filter(|(_, x)| *x == e)
            .map(|(i, _)| i)
            .collect();
        if count < 0 {
            hits.reverse();
        }
        hits.truncate(limit);
        hits.sort_unstable();
        for i in hits.into_iter().rev() {
            model.remove(i);
        }
    }

    fn apply_list(list: &mut List, op: &Op, fill: i64) {
        match op {
            Op::Push(left, elements) => {
                let elements: Vec<Bytes> =
                    elements.iter().map(|e| Bytes::from(e.clone())).collect();
                list.push(end(*left), &elements, fill);
            }
            Op::Pop(left, n) => {
                list.pop(end(*left), *n, fill);
            }
            Op::Set(index, e) => {
                list.set(*index, e, fill);
            }
            Op::Insert(pivot, e, after) => {
                list.insert(pivot, e, *after, fill);
            }
            Op::Remove(e, count) => {
                list.remove(e, *count, fill);
            }
            Op::Trim(start, stop) => list.trim(*start, *stop, fill),
            Op::Rotate(from, to) => {
                list.rotate(end(*from), end(*to), fill);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn list_matches_a_deque_model(
            fill in prop::sample::select(vec![1i64, 2, 3, 5, -1, -2]),
            ops in prop::collection::vec(op(), 1..60),
        ) {
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            let mut list = List::new();
            for op in &ops {
                apply_model(&mut model, op);
                apply_list(&mut list, op, fill);
                list.check();
                let got: Vec<Vec<u8>> = list.iter().map(|b| b.to_vec()).collect();
                let want: Vec<Vec<u8>> = model.iter().cloned().collect();
                prop_assert_eq!(&got, &want, "after {:?}", op);
                prop_assert_eq!(list.len(), model.len());
                let back: Vec<Vec<u8>> = list.iter().rev().map(|b| b.to_vec()).collect();
                prop_assert!(back.iter().eq(want.iter().rev()));
                for index in -(model.len() as i64) - 1..=model.len() as i64 {
                    let expected = normalize_index(model.len(), index).map(|i| model[i].clone());
                    prop_assert_eq!(list.get(index).map(|b| b.to_vec()), expected);
                }
                if list.is_empty() {
                    // The key would be deleted; a new key starts compact again.
                    list = List::new();
                    prop_assert_eq!(list.encoding(), "listpack");
                }
            }
        }
    }
}
