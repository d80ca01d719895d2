//! One host's files on the simulated disk: a page cache in front of durable state.
//!
//! Files are inodes named by directory entries. Each inode keeps its durable bytes, the
//! data operations since its last fsync, and the bytes a reader sees now (durable plus
//! pending, like a page cache). Directory entries are kept twice, as the running host sees
//! them and as they would be found after a crash; creating, renaming and removing a file
//! changes the first at once and the second only when `sync_dir` of the entry's directory
//! commits the operation. Directories themselves are durable as soon as they are created:
//! a simplification, since ember creates its directories once at start-up.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

pub(crate) type InodeId = u64;

#[derive(Default)]
pub(crate) struct HostDisk {
    /// Directory entries as the running host sees them.
    pub(super) names: BTreeMap<PathBuf, InodeId>,
    /// Directory entries that survive a crash.
    pub(super) durable_names: BTreeMap<PathBuf, InodeId>,
    /// Entry changes not yet committed by `sync_dir`, oldest first.
    pub(super) pending_dir_ops: Vec<DirOp>,
    pub(super) dirs: BTreeSet<PathBuf>,
    pub(super) inodes: BTreeMap<InodeId, Inode>,
    next_inode: InodeId,
}

#[derive(Default)]
pub(super) struct Inode {
    pub(super) durable: Vec<u8>,
    /// Data operations since the last fsync, oldest first.
    pub(super) pending: Vec<DataOp>,
    /// What a read sees: `durable` with `pending` applied.
    pub(super) visible: Vec<u8>,
}

pub(super) enum DataOp {
    Append(Vec<u8>),
    SetLen(u64),
}

/// A directory entry change. Each carries the inode it names, so committing it does not
/// depend on earlier operations in other directories having been committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DirOp {
    Link {
        path: PathBuf,
        inode: InodeId,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        inode: InodeId,
    },
    Unlink {
        path: PathBuf,
    },
}

impl HostDisk {
    pub(crate) fn create_dir_all(&mut self, path: &Path) -> io::Result<()> {
        if self.names.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is a file", path.display()),
            ));
        }
        for ancestor in path.ancestors().filter(|dir| !is_root(dir)) {
            self.dirs.insert(ancestor.to_path_buf());
        }
        Ok(())
    }

    /// Opens `path` for appending, creating it if missing; returns its inode and length.
    pub(crate) fn open_append(&mut self, path: &Path) -> io::Result<(InodeId, u64)> {
        if let Some(inode) = self.names.get(path) {
            let len = self.inodes[inode].visible.len() as u64;
            return Ok((*inode, len));
        }
        let inode = self.create(path)?;
        Ok((inode, 0))
    }

    /// Creates or truncates `path` and writes `data` to it, not yet durably.
    pub(crate) fn write_new(&mut self, path: &Path, data: &[u8]) -> io::Result<InodeId> {
        let inode = match self.names.get(path) {
            Some(inode) => *inode,
            None => self.create(path)?,
        };
        self.set_len(inode, 0);
        self.append(inode, data);
        Ok(inode)
    }

    /// Appends to an inode. Writes to an inode that no entry names any more are dropped:
    /// nothing could ever read them, exactly as with an unlinked file on a real disk.
    pub(crate) fn append(&mut self, inode: InodeId, data: &[u8]) {
        if let Some(file) = self.inodes.get_mut(&inode) {
            file.visible.extend_from_slice(data);
            file.pending.push(DataOp::Append(data.to_vec()));
        }
    }

    /// Makes an inode's pending data durable.
    pub(crate) fn fsync(&mut self, inode: InodeId) {
        if let Some(file) = self.inodes.get_mut(&inode) {
            file.durable.clone_from(&file.visible);
            file.pending.clear();
        }
    }

    /// Cuts or extends `path` to `len` and makes the file durable, as the production backend
    /// does, so recovery can trim a torn tail and rely on the trim.
    pub(crate) fn truncate(&mut self, path: &Path, len: u64) -> io::Result<()> {
        let inode = *self.names.get(path).ok_or_else(|| not_found(path))?;
        self.set_len(inode, len);
        self.fsync(inode);
        Ok(())
    }

    pub(crate) fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let inode = self.names.get(path).ok_or_else(|| not_found(path))?;
        Ok(self.inodes[inode].visible.clone())
    }

    pub(crate) fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let inode = *self.names.get(from).ok_or_else(|| not_found(from))?;
        self.check_parent(to)?;
        if self.dirs.contains(to) {
            return Err(is_a_directory(to));
        }
        self.names.remove(from);
        self.names.insert(to.to_path_buf(), inode);
        self.pending_dir_ops.push(DirOp::Rename {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            inode,
        });
        Ok(())
    }

    pub(crate) fn remove(&mut self, path: &Path) -> io::Result<()> {
        self.names.remove(path).ok_or_else(|| not_found(path))?;
        self.pending_dir_ops.push(DirOp::Unlink {
            path: path.to_path_buf(),
        });
        Ok(())
    }

    /// Commits, in order, every pending entry change in `dir`, then forgets inodes that
    /// nothing names any more.
    pub(crate) fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        if !self.is_dir(dir) {
            return Err(not_found(dir));
        }
        let (commit, keep): (Vec<DirOp>, Vec<DirOp>) = std::mem::take(&mut self.pending_dir_ops)
            .into_iter()
            .partition(|op| op.touches(dir));
        self.pending_dir_ops = keep;
        for op in &commit {
            op.apply(&mut self.durable_names);
        }
        self.collect_garbage();
        Ok(())
    }

    /// The files and directories directly in `dir`, sorted.
    pub(crate) fn list_dir(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        if !self.is_dir(dir) {
            return Err(not_found(dir));
        }
        let files = self.names.keys();
        let entries: BTreeSet<&PathBuf> = files
            .chain(self.dirs.iter())
            .filter(|path| path.parent() == Some(dir))
            .collect();
        Ok(entries.into_iter().cloned().collect())
    }

    pub(crate) fn exists(&self, path: &Path) -> bool {
        self.names.contains_key(path) || self.is_dir(path)
    }

    pub(crate) fn visible_contents(&self, path: &Path) -> Option<Vec<u8>> {
        self.names
            .get(path)
            .map(|inode| self.inodes[inode].visible.clone())
    }

    pub(crate) fn durable_contents(&self, path: &Path) -> Option<Vec<u8>> {
        self.durable_names
            .get(path)
            .map(|inode| self.inodes[inode].durable.clone())
    }

    /// Flips one bit of the durable bytes of `path` at `bit_index` (modulo its length in
    /// bits). The running host's reads see the flip only if the file has no pending writes,
    /// since otherwise its page cache still holds the good bytes.
    pub(crate) fn flip_bit(&mut self, path: &Path, bit_index: u64) -> bool {
        let Some(inode) = self.durable_names.get(path) else {
            return false;
        };
        let file = self.inodes.get_mut(inode).expect("a named inode exists");
        if file.durable.is_empty() {
            return false;
        }
        let bit = bit_index % (file.durable.len() as u64 * 8);
        let byte = usize::try_from(bit / 8).expect("the index is below the length");
        file.durable[byte] ^= 1 << (bit % 8);
        if file.pending.is_empty() {
            file.visible.clone_from(&file.durable);
        }
        true
    }

    fn create(&mut self, path: &Path) -> io::Result<InodeId> {
        self.check_parent(path)?;
        if self.dirs.contains(path) {
            return Err(is_a_directory(path));
        }
        let inode = self.next_inode;
        self.next_inode += 1;
        self.inodes.insert(inode, Inode::default());
        self.names.insert(path.to_path_buf(), inode);
        self.pending_dir_ops.push(DirOp::Link {
            path: path.to_path_buf(),
            inode,
        });
        Ok(inode)
    }

    fn set_len(&mut self, inode: InodeId, len: u64) {
        let file = self.inodes.get_mut(&inode).expect("a named inode exists");
        let len_bytes = usize::try_from(len).expect("a simulated file fits in memory");
        file.visible.resize(len_bytes, 0);
        file.pending.push(DataOp::SetLen(len));
    }

    fn check_parent(&self, path: &Path) -> io::Result<()> {
        match path.parent() {
            Some(parent) if !self.is_dir(parent) => Err(not_found(parent)),
            _ => Ok(()),
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        is_root(path) || self.dirs.contains(path)
    }

    /// Drops inodes that no entry names, visibly, durably or in a pending operation.
    pub(super) fn collect_garbage(&mut self) {
        let mut live: BTreeSet<InodeId> = self.names.values().copied().collect();
        live.extend(self.durable_names.values().copied());
        live.extend(self.pending_dir_ops.iter().filter_map(DirOp::inode));
        self.inodes.retain(|inode, _| live.contains(inode));
    }
}

impl DirOp {
    /// Whether the operation changes an entry of `dir`.
    fn touches(&self, dir: &Path) -> bool {
        match self {
            DirOp::Link { path, .. } | DirOp::Unlink { path } => path.parent() == Some(dir),
            DirOp::Rename { from, to, .. } => {
                from.parent() == Some(dir) || to.parent() == Some(dir)
            }
        }
    }

    pub(super) fn apply(&self, names: &mut BTreeMap<PathBuf, InodeId>) {
        match self {
            DirOp::Link { path, inode } => {
                names.insert(path.clone(), *inode);
            }
            DirOp::Rename { from, to, inode } => {
                names.remove(from);
                names.insert(to.clone(), *inode);
            }
            DirOp::Unlink { path } => {
                names.remove(path);
            }
        }
    }

    fn inode(&self) -> Option<InodeId> {
        match self {
            DirOp::Link { inode, .. } | DirOp::Rename { inode, .. } => Some(*inode),
            DirOp::Unlink { .. } => None,
        }
    }
}

/// The root (`/`) and the empty path (the working directory) always exist.
fn is_root(path: &Path) -> bool {
    path.as_os_str().is_empty() || path == Path::new("/")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file or directory", path.display()),
    )
}

fn is_a_directory(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::IsADirectory,
        format!("{} is a directory", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk_with_dir() -> HostDisk {
        let mut disk = HostDisk::default();
        disk.create_dir_all(Path::new("/data/aof")).unwrap();
        disk
    }

    #[test]
    fn reads_see_pending_writes() {
        let mut disk = disk_with_dir();
        let path = Path::new("/data/a");
        let (inode, len) = disk.open_append(path).unwrap();
        assert_eq!(len, 0);
        disk.append(inode, b"abc");
        assert_eq!(disk.read(path).unwrap(), b"abc");
        assert_eq!(disk.durable_contents(path), None);
        disk.fsync(inode);
        disk.sync_dir(Path::new("/data")).unwrap();
        assert_eq!(disk.durable_contents(path).unwrap(), b"abc");
    }

    fn kind<T>(result: io::Result<T>) -> io::ErrorKind {
        result.map(|_| ()).unwrap_err().kind()
    }

    #[test]
    fn missing_parents_and_files_are_not_found() {
        let mut disk = disk_with_dir();
        assert_eq!(
            kind(disk.open_append(Path::new("/nope/a"))),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            kind(disk.read(Path::new("/data/missing"))),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            kind(disk.remove(Path::new("/data/missing"))),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            kind(disk.list_dir(Path::new("/nope"))),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            kind(disk.open_append(Path::new("/data/aof"))),
            io::ErrorKind::IsADirectory
        );
    }

    #[test]
    fn list_dir_is_sorted_and_shallow() {
        let mut disk = disk_with_dir();
        disk.write_new(Path::new("/data/b"), b"").unwrap();
        disk.write_new(Path::new("/data/a"), b"").unwrap();
        disk.write_new(Path::new("/data/aof/x"), b"").unwrap();
        let listed = disk.list_dir(Path::new("/data")).unwrap();
        let expected: Vec<PathBuf> = ["/data/a", "/data/aof", "/data/b"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(listed, expected);
        assert!(disk.exists(Path::new("/data/aof")));
        assert!(disk.exists(Path::new("/data/aof/x")));
        assert!(!disk.exists(Path::new("/data/c")));
    }

    #[test]
    fn write_new_replaces_contents_and_truncate_is_durable() {
        let mut disk = disk_with_dir();
        let path = Path::new("/data/a");
        disk.write_new(path, b"first version").unwrap();
        disk.write_new(path, b"second").unwrap();
        assert_eq!(disk.read(path).unwrap(), b"second");
        disk.sync_dir(Path::new("/data")).unwrap();
        disk.truncate(path, 3).unwrap();
        assert_eq!(disk.read(path).unwrap(), b"sec");
        assert_eq!(disk.durable_contents(path).unwrap(), b"sec");
    }

    #[test]
    fn sync_dir_commits_only_its_own_entries() {
        let mut disk = disk_with_dir();
        disk.write_new(Path::new("/data/a"), b"").unwrap();
        disk.write_new(Path::new("/data/aof/b"), b"").unwrap();
        disk.sync_dir(Path::new("/data/aof")).unwrap();
        assert!(disk.durable_contents(Path::new("/data/aof/b")).is_some());
        assert!(disk.durable_contents(Path::new("/data/a")).is_none());
        assert_eq!(disk.pending_dir_ops.len(), 1);
    }

    #[test]
    fn removed_files_are_collected_after_sync_dir() {
        let mut disk = disk_with_dir();
        let inode = disk.write_new(Path::new("/data/a"), b"x").unwrap();
        disk.sync_dir(Path::new("/data")).unwrap();
        disk.remove(Path::new("/data/a")).unwrap();
        disk.sync_dir(Path::new("/data")).unwrap();
        assert!(disk.inodes.is_empty());
        // A straggling handle's writes vanish, as they would into an unlinked file.
        disk.append(inode, b"late");
        assert!(disk.inodes.is_empty());
    }

    #[test]
    fn flip_bit_changes_one_bit() {
        let mut disk = disk_with_dir();
        let path = Path::new("/data/a");
        let inode = disk.write_new(path, &[0u8; 4]).unwrap();
        disk.fsync(inode);
        disk.sync_dir(Path::new("/data")).unwrap();
        assert!(disk.flip_bit(path, 9));
        assert_eq!(disk.durable_contents(path).unwrap(), vec![0, 2, 0, 0]);
        assert_eq!(disk.read(path).unwrap(), vec![0, 2, 0, 0]);
    }
}
