//! The order of a large sorted set: a skiplist whose links carry spans (how many entries
//! each link jumps over), which makes it an order-statistic structure: finding an entry's
//! rank, the entry at a rank and the number of entries below a bound all take O(log n).
//!
//! Nodes live in one arena (`Vec<Node>`) and point at each other by `u32` index, so the
//! structure has no unsafe code and no reference cycles; freed slots are reused. Slot 0 is
//! the head, which holds no entry and has every level. Levels are chosen by the caller (from
//! the member's seeded hash), so the shape replays exactly in simulation.

use std::ops::Range;

use bytes::Bytes;

use super::entry_less;

/// Levels a node may have: 32 levels with p = 1/4 cover far more than 2^32 entries.
pub const LEVELS_MAX: usize = 32;

/// The index that means "no node".
const NIL: u32 = u32::MAX;

/// The head's slot in the arena.
const HEAD: u32 = 0;

#[derive(Clone, Copy, Debug)]
struct Link {
    forward: u32,
    /// Entries from this node to `forward` along level 0 (to the end when `forward` is NIL).
    span: u32,
}

#[derive(Clone, Debug)]
struct Node {
    member: Bytes,
    score: f64,
    backward: u32,
    links: Vec<Link>,
}

#[derive(Clone, Debug)]
pub struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    /// Levels in use (at least 1).
    level: usize,
    len: usize,
    tail: u32,
}

impl Default for SkipList {
    fn default() -> SkipList {
        SkipList::new()
    }
}

impl SkipList {
    pub fn new() -> SkipList {
        let head = Node {
            member: Bytes::new(),
            score: 0.0,
            backward: NIL,
            links: vec![
                Link {
                    forward: NIL,
                    span: 0
                };
                LEVELS_MAX
            ],
        };
        SkipList {
            nodes: vec![head],
            free: Vec::new(),
            level: 1,
            len: 0,
            tail: NIL,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn node(&self, index: u32) -> &Node {
        &self.nodes[index as usize]
    }

    fn node_mut(&mut self, index: u32) -> &mut Node {
        &mut self.nodes[index as usize]
    }

    fn forward(&self, index: u32, level: usize) -> u32 {
        self.node(index).links[level].forward
    }

    fn span(&self, index: u32, level: usize) -> u32 {
        self.node(index).links[level].span
    }

    /// True when the node at `index` sorts strictly before (score, member).
    fn before(&self, index: u32, score: f64, member: &[u8]) -> bool {
        let node = self.node(index);
        entry_less(node.score, &node.member, score, member)
    }

    /// The last node before (score, member) on every level, and the rank (count of entries)
    /// of each of those nodes.
    fn path_to(&self, score: f64, member: &[u8]) -> ([u32; LEVELS_MAX], [u32; LEVELS_MAX]) {
        let mut update = [HEAD; LEVELS_MAX];
        let mut rank = [0u32; LEVELS_MAX];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i + 1 == self.level { 0 } else { rank[i + 1] };
            loop {
                let next = self.forward(x, i);
                if next == NIL || !self.before(next, score, member) {
                    break;
                }
                rank[i] += self.span(x, i);
                x = next;
            }
            update[i] = x;
        }
        (update, rank)
    }

    fn allocate(&mut self, member: Bytes, score: f64, level: usize) -> u32 {
        let links = vec![
            Link {
                forward: NIL,
                span: 0
            };
            level
        ];
        let node = Node {
            member,
            score,
            backward: NIL,
            links,
        };
        match self.free.pop() {
            Some(index) => {
                self.nodes[index as usize] = node;
                index
            }
            None => {
                let index = u32::try_from(self.nodes.len()).expect("fewer than 2^32 nodes");
                assert!(index != NIL);
                self.nodes.push(node);
                index
            }
        }
    }

    /// Adds an entry that is not present, with `level` levels (1..=LEVELS_MAX).
    pub fn insert(&mut self, member: Bytes, score: f64, level: usize) {
        assert!((1..=LEVELS_MAX).contains(&level));
        assert!(!score.is_nan());
        let (mut update, mut rank) = self.path_to(score, &member);
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.node_mut(HEAD).links[i].span = self.len as u32;
            }
            self.level = level;
        }
        let x = self.allocate(member, score, level);
        for i in 0..level {
            let before = update[i];
            let jumped = rank[0] - rank[i];
            let link = self.node(before).links[i];
            self.node_mut(x).links[i] = Link {
                forward: link.forward,
                span: link.span - jumped,
            };
            self.node_mut(before).links[i] = Link {
                forward: x,
                span: jumped + 1,
            };
        }
        for (i, &before) in update.iter().enumerate().take(self.level).skip(level) {
            self.node_mut(before).links[i].span += 1;
        }
        let backward = if update[0] == HEAD { NIL } else { update[0] };
        self.node_mut(x).backward = backward;
        match self.forward(x, 0) {
            NIL => self.tail = x,
            next => self.node_mut(next).backward = x,
        }
        self.len += 1;
        assert!(self.len < NIL as usize);
    }

    /// Unlinks node `x`, given the last node before it on every level, and frees its slot.
    fn unlink(&mut self, x: u32, update: &[u32; LEVELS_MAX]) -> (Bytes, f64) {
        assert!(x != HEAD && x != NIL);
        for (i, &before) in update.iter().enumerate().take(self.level) {
            if self.forward(before, i) == x {
                let link = self.node(x).links[i];
                let merged = self.span(before, i) + link.span - 1;
                self.node_mut(before).links[i] = Link {
                    forward: link.forward,
                    span: merged,
                };
            } else {
                self.node_mut(before).links[i].span -= 1;
            }
        }
        let backward = self.node(x).backward;
        match self.forward(x, 0) {
            NIL => self.tail = backward,
            next => self.node_mut(next).backward = backward,
        }
        while self.level > 1 && self.forward(HEAD, self.level - 1) == NIL {
            self.level -= 1;
        }
        assert!(self.len > 0);
        self.len -= 1;
        let node = self.node_mut(x);
        let member = std::mem::take(&mut node.member);
        node.links = Vec::new();
        let score = node.score;
        self.free.push(x);
        (member, score)
    }

    /// Removes the entry (score, member), which must be present; returns the stored member.
    pub fn remove(&mut self, member: &[u8], score: f64) -> Bytes {
        let (update, _) = self.path_to(score, member);
        let x = self.forward(update[0], 0);
        assert!(x != NIL, "the entry is in the list");
        assert!(self.node(x).member == member && self.node(x).score == score);
        self.unlink(x, &update).0
    }

    /// Moves an entry to a new score. When its neighbours still bracket the new score the
    /// node stays where it is; otherwise it is unlinked and inserted again.
    pub fn update_score(&mut self, member: &[u8], old: f64, new: f64, level: usize) {
        let (update, _) = self.path_to(old, member);
        let x = self.forward(update[0], 0);
        assert!(x != NIL && self.node(x).member == member);
        let backward = self.node(x).backward;
        let next = self.forward(x, 0);
        let after_previous = backward == NIL || self.before(backward, new, member);
        let before_next = next == NIL || {
            let n = self.node(next);
            entry_less(new, member, n.score, &n.member)
        };
        if after_previous && before_next {
            self.node_mut(x).score = new;
            return;
        }
        let (stored, _) = self.unlink(x, &update);
        self.insert(stored, new, level);
    }

    /// The 0-based rank of (score, member), if present.
    pub fn rank(&self, member: &[u8], score: f64) -> Option<usize> {
        let mut x = HEAD;
        let mut traversed = 0u64;
        for i in (0..self.level).rev() {
            loop {
                let next = self.forward(x, i);
                if next == NIL {
                    break;
                }
                let node = self.node(next);
                if entry_less(score, member, node.score, &node.member) {
                    break;
                }
                traversed += self.span(x, i) as u64;
                x = next;
            }
            if x != HEAD && self.node(x).member == member {
                return Some(traversed as usize - 1);
            }
        }
        None
    }

    /// How many leading entries satisfy `below`, which must hold for a prefix of the order.
    pub fn count_while(&self, mut below: impl FnMut(f64, &[u8]) -> bool) -> usize {
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let next = self.forward(x, i);
                if next == NIL {
                    break;
                }
                let node = self.node(next);
                if !below(node.score, &node.member) {
                    break;
                }
                traversed += self.span(x, i) as usize;
                x = next;
            }
        }
        assert!(traversed <= self.len);
        traversed
    }

    /// The node at 0-based `rank`, which must be below `len`.
    fn node_at(&self, rank: usize) -> u32 {
        assert!(rank < self.len);
        let target = rank as u64 + 1;
        let mut x = HEAD;
        let mut traversed = 0u64;
        for i in (0..self.level).rev() {
            loop {
                let next = self.forward(x, i);
                if next == NIL || traversed + self.span(x, i) as u64 > target {
                    break;
                }
                traversed += self.span(x, i) as u64;
                x = next;
            }
            if traversed == target {
                return x;
            }
        }
        unreachable!("rank {rank} is below the length {}", self.len)
    }

    /// The entry at 0-based `rank`.
    pub fn get(&self, rank: usize) -> (Bytes, f64) {
        let node = self.node(self.node_at(rank));
        (node.member.clone(), node.score)
    }

    /// The entries whose ranks fall in `ranks`, ascending, or descending when `reverse`.
    pub fn entries(&self, ranks: Range<usize>, reverse: bool) -> Vec<(Bytes, f64)> {
        assert!(ranks.end <= self.len);
        let mut out = Vec::with_capacity(ranks.len());
        if ranks.is_empty() {
            return out;
        }
        let mut x = if reverse {
            self.node_at(ranks.end - 1)
        } else {
            self.node_at(ranks.start)
        };
        for _ in 0..ranks.len() {
            assert!(x != NIL);
            let node = self.node(x);
            out.push((node.member.clone(), node.score));
            x = if reverse {
                node.backward
            } else {
                node.links[0].forward
            };
        }
        out
    }

    /// Visits every entry in ascending order.
    pub fn for_each(&self, mut visit: impl FnMut(&Bytes, f64)) {
        let mut x = self.forward(HEAD, 0);
        while x != NIL {
            let node = self.node(x);
            visit(&node.member, node.score);
            x = node.links[0].forward;
        }
    }

    /// Removes the entries whose ranks fall in `ranks`; returns them in ascending order.
    pub fn remove_ranks(&mut self, ranks: Range<usize>) -> Vec<(Bytes, f64)> {
        assert!(ranks.end <= self.len);
        let mut removed = Vec::with_capacity(ranks.len());
        if ranks.is_empty() {
            return removed;
        }
        // The last node before rank `start` on every level stays the last node before the
        // next entry to remove, so one descent serves the whole run.
        let mut update = [HEAD; LEVELS_MAX];
        let mut x = HEAD;
        let mut traversed = 0u64;
        for i in (0..self.level).rev() {
            loop {
                let next = self.forward(x, i);
                if next == NIL || traversed + self.span(x, i) as u64 > ranks.start as u64 {
                    break;
                }
                traversed += self.span(x, i) as u64;
                x = next;
            }
            update[i] = x;
        }
        for _ in ranks.clone() {
            let target = self.forward(update[0], 0);
            removed.push(self.unlink(target, &update));
        }
        removed
    }

    /// Checks every link's span and back pointer against a level-0 walk (O(n log n)).
    #[cfg(test)]
    pub fn check(&self) {
        let mut ranks = vec![0u64; self.nodes.len()];
        let mut x = self.forward(HEAD, 0);
        let mut rank = 0u64;
        let mut previous = NIL;
        while x != NIL {
            rank += 1;
            ranks[x as usize] = rank;
            assert_eq!(self.node(x).backward, previous);
            previous = x;
            x = self.forward(x, 0);
        }
        assert_eq!(rank as usize, self.len);
        assert_eq!(self.tail, previous);
        for (index, node) in self.nodes.iter().enumerate() {
            if index != HEAD as usize && node.links.is_empty() {
                continue;
            }
            let from = ranks[index];
            for (i, link) in node.links.iter().enumerate().take(self.level) {
                let to = match link.forward {
                    NIL => self.len as u64,
                    next => ranks[next as usize],
                };
                assert_eq!(link.span as u64, to - from, "node {index} level {i}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> Bytes {
        Bytes::from(format!("m{i:04}"))
    }

    #[test]
    fn ranks_and_lookups_follow_the_order() {
        let mut list = SkipList::new();
        for i in 0..200 {
            let score = (i % 17) as f64;
            list.insert(key(i), score, 1 + (i * 7919 % 13) % 5);
        }
        list.check();
        let mut all = Vec::new();
        list.for_each(|m, s| all.push((m.clone(), s)));
        for (rank, (member, score)) in all.iter().enumerate() {
            assert_eq!(list.rank(member, *score), Some(rank));
            assert_eq!(list.get(rank), (member.clone(), *score));
        }
        assert_eq!(list.count_while(|s, _| s < 3.0), 3 * 12);
        let removed = list.remove_ranks(10..50);
        assert_eq!(removed.len(), 40);
        list.check();
        assert_eq!(list.len(), 160);
        list.update_score(&all[0].0, all[0].1, 100.0, 3);
        list.check();
        assert_eq!(list.get(159).0, all[0].0);
        let back = list.entries(150..160, true);
        assert_eq!(back[0].0, all[0].0);
    }
}
