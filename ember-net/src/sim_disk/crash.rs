//! What a crash leaves of one host's files.
//!
//! The model: writes reach the platter in the order they were made, and a crash stops
//! that stream at a random point.
//! - Directory entries: the pending entry changes (create, rename, remove) survive as a
//!   random prefix, in order; committed ones (by `sync_dir`) always survive.
//! - File data: an inode's pending data operations since its last fsync are split into
//!   units, one per 4096-byte page of each append (by file offset) and one per length
//!   change. A cut point is drawn uniformly among the units: units before it are kept,
//!   units after it are dropped, and the unit at the cut, if it is a page, is dropped or
//!   torn (a random strict prefix kept), evenly. So unsynced appends survive as a prefix
//!   of what was written, never with a hole in the middle. With `garble_probability`
//!   above zero, a torn page may instead keep its full length with random bytes after the
//!   torn point, as a sector written halfway would read back.
//! - Files that no durable entry names are gone; fsynced bytes of a surviving file are
//!   never touched.
//!
//! Every draw comes from the caller's generator, in a fixed order (entries first, then
//! inodes by id), so one seed always gives one outcome.

use rand::Rng;

use super::host_disk::{DataOp, HostDisk, Inode};
use super::PAGE_SIZE_BYTES;

/// A unit of pending data that a crash keeps or loses as a whole (unless torn).
enum Unit {
    /// Bytes appended at the end of the file, all within one page.
    Write(Vec<u8>),
    SetLen(u64),
}

impl HostDisk {
    pub(crate) fn crash(&mut self, rng: &mut impl Rng, garble_probability: f64) {
        assert!((0.0..=1.0).contains(&garble_probability));
        let pending = std::mem::take(&mut self.pending_dir_ops);
        let kept = rng.gen_range(0..=pending.len());
        for op in &pending[..kept] {
            op.apply(&mut self.durable_names);
        }
        self.names.clone_from(&self.durable_names);
        self.collect_garbage();
        for inode in self.inodes.values_mut() {
            crash_inode(inode, rng, garble_probability);
        }
        debug_assert!(self
            .names
            .values()
            .all(|inode| self.inodes.contains_key(inode)));
    }
}

fn crash_inode(inode: &mut Inode, rng: &mut impl Rng, garble_probability: f64) {
    let units = split_into_units(inode.durable.len(), &inode.pending);
    let cut = rng.gen_range(0..=units.len());
    let mut contents = std::mem::take(&mut inode.durable);
    for unit in &units[..cut] {
        apply(&mut contents, unit);
    }
    if let Some(Unit::Write(page)) = units.get(cut) {
        tear(&mut contents, page, rng, garble_probability);
    }
    inode.visible.clone_from(&contents);
    inode.durable = contents;
    inode.pending.clear();
}

fn split_into_units(durable_len: usize, pending: &[DataOp]) -> Vec<Unit> {
    let mut units = Vec::new();
    let mut len = durable_len;
    for op in pending {
        match op {
            DataOp::SetLen(new_len) => {
                units.push(Unit::SetLen(*new_len));
                len = usize::try_from(*new_len).expect("a simulated file fits in memory");
            }
            DataOp::Append(bytes) => {
                let mut rest = bytes.as_slice();
                while !rest.is_empty() {
                    let room = PAGE_SIZE_BYTES - len % PAGE_SIZE_BYTES;
                    let (page, after) = rest.split_at(room.min(rest.len()));
                    units.push(Unit::Write(page.to_vec()));
                    len += page.len();
                    rest = after;
                }
            }
        }
    }
    units
}

fn apply(contents: &mut Vec<u8>, unit: &Unit) {
    match unit {
        Unit::Write(page) => contents.extend_from_slice(page),
        Unit::SetLen(len) => contents.resize(
            usize::try_from(*len).expect("a simulated file fits in memory"),
            0,
        ),
    }
}

/// The unit at the cut: dropped, or torn to a strict prefix, possibly garbled after it.
fn tear(contents: &mut Vec<u8>, page: &[u8], rng: &mut impl Rng, garble_probability: f64) {
    assert!(!page.is_empty());
    if !rng.gen_bool(0.5) {
        return;
    }
    let kept = rng.gen_range(0..page.len());
    contents.extend_from_slice(&page[..kept]);
    if garble_probability > 0.0 && rng.gen_bool(garble_probability) {
        contents.extend((kept..page.len()).map(|_| rng.gen::<u8>()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::path::Path;

    const DIR: &str = "/d";

    fn disk() -> HostDisk {
        let mut disk = HostDisk::default();
        disk.create_dir_all(Path::new(DIR)).unwrap();
        disk
    }

    /// A deterministic payload in which every byte differs from its neighbours.
    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|index| (index % 251) as u8).collect()
    }

    #[test]
    fn units_follow_page_boundaries() {
        let pending = vec![
            DataOp::Append(vec![1; 5000]),
            DataOp::SetLen(10),
            DataOp::Append(vec![2; 10]),
        ];
        let units = split_into_units(100, &pending);
        let sizes: Vec<String> = units
            .iter()
            .map(|unit| match unit {
                Unit::Write(page) => format!("w{}", page.len()),
                Unit::SetLen(len) => format!("l{len}"),
            })
            .collect();
        assert_eq!(sizes, ["w3996", "w1004", "l10", "w10"]);
    }

    #[test]
    fn fsynced_data_always_survives() {
        for seed in 0..200 {
            let mut disk = disk();
            let path = Path::new("/d/aof");
            let (inode, _) = disk.open_append(path).unwrap();
            disk.append(inode, &payload(9000));
            disk.fsync(inode);
            disk.sync_dir(Path::new(DIR)).unwrap();
            disk.append(inode, &payload(20000)[9000..]);
            disk.crash(&mut ChaCha8Rng::seed_from_u64(seed), 0.0);
            let contents = disk.read(path).unwrap();
            assert!(contents.len() >= 9000, "seed {seed}");
            assert_eq!(contents, payload(contents.len()), "seed {seed}");
        }
    }

    #[test]
    fn unsynced_appends_survive_as_a_prefix() {
        let mut lengths = std::collections::BTreeSet::new();
        for seed in 0..300 {
            let mut disk = disk();
            let path = Path::new("/d/aof");
            let (inode, _) = disk.open_append(path).unwrap();
            disk.sync_dir(Path::new(DIR)).unwrap();
            for chunk in payload(12000).chunks(1000) {
                disk.append(inode, chunk);
            }
            disk.crash(&mut ChaCha8Rng::seed_from_u64(seed), 0.0);
            let contents = disk.read(path).unwrap();
            assert_eq!(contents, payload(contents.len()), "seed {seed}");
            assert_eq!(disk.durable_contents(path).unwrap(), contents);
            lengths.insert(contents.len());
        }
        // Losing everything, keeping everything and tearing mid-page all happen.
        assert!(lengths.contains(&0));
        assert!(lengths.contains(&12000));
        assert!(lengths
            .iter()
            .any(|len| len % PAGE_SIZE_BYTES != 0 && *len != 12000));
    }

    #[test]
    fn garbling_writes_bytes_past_the_tear() {
        let mut garbled = 0;
        for seed in 0..200 {
            let mut disk = disk();
            let path = Path::new("/d/aof");
            let (inode, _) = disk.open_append(path).unwrap();
            disk.sync_dir(Path::new(DIR)).unwrap();
            disk.append(inode, &payload(8192));
            disk.crash(&mut ChaCha8Rng::seed_from_u64(seed), 1.0);
            let contents = disk.read(path).unwrap();
            if contents != payload(contents.len()) {
                garbled += 1;
                // Garbage stays within the torn page: pages end on a boundary.
                assert_eq!(contents.len() % PAGE_SIZE_BYTES, 0, "seed {seed}");
            }
        }
        assert!(garbled > 0);
    }

    #[test]
    fn unsynced_rename_may_be_undone_but_synced_never() {
        let mut undone = 0;
        for seed in 0..100 {
            let mut disk = disk();
            let inode = disk.write_new(Path::new("/d/snap.tmp"), b"new").unwrap();
            disk.fsync(inode);
            let old = disk.write_new(Path::new("/d/snap"), b"old").unwrap();
            disk.fsync(old);
            disk.sync_dir(Path::new(DIR)).unwrap();
            disk.rename(Path::new("/d/snap.tmp"), Path::new("/d/snap"))
                .unwrap();
            let synced = seed % 2 == 0;
            if synced {
                disk.sync_dir(Path::new(DIR)).unwrap();
            }
            disk.crash(&mut ChaCha8Rng::seed_from_u64(seed), 0.0);
            let contents = disk.read(Path::new("/d/snap")).unwrap();
            if contents == b"old" {
                assert!(!synced, "seed {seed}");
                assert_eq!(disk.read(Path::new("/d/snap.tmp")).unwrap(), b"new");
                undone += 1;
            } else {
                assert_eq!(contents, b"new");
                assert!(!disk.exists(Path::new("/d/snap.tmp")));
            }
        }
        assert!(undone > 0);
    }

    #[test]
    fn files_in_unsynced_directories_may_vanish() {
        let mut vanished = 0;
        for seed in 0..50 {
            let mut disk = disk();
            let inode = disk.write_new(Path::new("/d/new"), b"data").unwrap();
            disk.fsync(inode);
            disk.crash(&mut ChaCha8Rng::seed_from_u64(seed), 0.0);
            match disk.read(Path::new("/d/new")) {
                Ok(contents) => assert_eq!(contents, b"data"),
                Err(_) => vanished += 1,
            }
        }
        assert!(vanished > 0);
    }

    #[test]
    fn same_seed_same_outcome() {
        let outcome = |seed: u64| {
            let mut disk = disk();
            let (inode, _) = disk.open_append(Path::new("/d/a")).unwrap();
            disk.append(inode, &payload(10000));
            disk.write_new(Path::new("/d/b"), &payload(5000)).unwrap();
            disk.crash(&mut ChaCha8Rng::seed_from_u64(seed), 0.5);
            (
                disk.read(Path::new("/d/a")).ok(),
                disk.read(Path::new("/d/b")).ok(),
            )
        };
        for seed in 0..20 {
            assert_eq!(outcome(seed), outcome(seed));
        }
    }
}
