//! A node's identity in its data dir: the 40-hex node id, drawn once from `Env`'s
//! randomness on first start and read back on every restart, so a restarted node rejoins
//! as itself (the same Raft id, the same SWIM member).
//!
//! The file `cluster-node.conf` is two lines of text, `ember-cluster-node 1` and
//! `node-id <40 hex digits>`. It is written to a temporary file, fsynced, renamed into
//! place and the directory synced, so a crash leaves either no file or a whole one; any
//! other content is an error naming the file rather than a silent new identity, which
//! would make the node a stranger to its own cluster.

use std::io;
use std::path::{Path, PathBuf};

use ember_net::Env;

use crate::topology::NodeName;

/// The identity file's name in the data dir.
pub const IDENTITY_FILE_NAME: &str = "cluster-node.conf";
const IDENTITY_TEMP_FILE_NAME: &str = "cluster-node.conf.tmp";
/// The first line of the file, naming its format.
const IDENTITY_HEADER: &str = "ember-cluster-node 1";
/// Larger files are refused before they are parsed.
const IDENTITY_FILE_MAX_BYTES: usize = 256;

/// Why the identity could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// Reads the node id from `dir`, or draws a new one and persists it durably. Returns the
/// id and whether it was new.
pub async fn load_or_create(env: &Env, dir: &Path) -> Result<(NodeName, bool), IdentityError> {
    let path = dir.join(IDENTITY_FILE_NAME);
    let io_error = |source| IdentityError::Io {
        path: path.clone(),
        source,
    };
    env.create_dir_all(dir).await.map_err(io_error)?;
    if env.exists(&path).await {
        let data = env.read(&path).await.map_err(io_error)?;
        let name = parse(&data).map_err(|reason| IdentityError::Invalid {
            path: path.clone(),
            reason,
        })?;
        return Ok((name, false));
    }
    let mut raw = [0u8; 20];
    env.secure_random(&mut raw);
    let name = NodeName::from_bytes(raw);
    save(env, dir, &name).await.map_err(io_error)?;
    Ok((name, true))
}

fn render(name: &NodeName) -> String {
    format!("{IDENTITY_HEADER}\nnode-id {name}\n")
}

fn parse(data: &[u8]) -> Result<NodeName, String> {
    if data.len() > IDENTITY_FILE_MAX_BYTES {
        return Err(format!("{} bytes is too long", data.len()));
    }
    let text = std::str::from_utf8(data).map_err(|_| "not UTF-8".to_string())?;
    let mut lines = text.lines();
    if lines.next() != Some(IDENTITY_HEADER) {
        return Err(format!("the first line is not `{IDENTITY_HEADER}`"));
    }
    let id = lines
        .next()
        .and_then(|line| line.strip_prefix("node-id "))
        .ok_or_else(|| "no `node-id` line".to_string())?;
    let name = NodeName::parse(id).ok_or_else(|| format!("`{id}` is not a 40-hex node id"))?;
    if lines.any(|line| !line.trim().is_empty()) {
        return Err("unexpected lines after the node id".to_string());
    }
    Ok(name)
}

async fn save(env: &Env, dir: &Path, name: &NodeName) -> io::Result<()> {
    let temp = dir.join(IDENTITY_TEMP_FILE_NAME);
    let mut file = env.write_new(&temp, render(name).as_bytes()).await?;
    file.fsync().await?;
    env.rename(&temp, &dir.join(IDENTITY_FILE_NAME)).await?;
    env.sync_dir(dir).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_round_trips_and_damage_is_an_error() {
        let name = NodeName::from_bytes([0xab; 20]);
        let text = render(&name);
        assert_eq!(parse(text.as_bytes()), Ok(name));
        assert!(parse(b"ember-cluster-node 2\nnode-id x\n").is_err());
        assert!(parse(b"ember-cluster-node 1\n").is_err());
        assert!(parse(b"ember-cluster-node 1\nnode-id ABAB\n").is_err());
        let extra = format!("{text}more\n");
        assert!(parse(extra.as_bytes()).is_err());
        assert!(parse(&[b'x'; 300]).is_err());
        assert!(parse(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn a_new_id_is_persisted_and_read_back() {
        let disk = ember_net::SimDisk::new(7);
        let mut sim = turmoil::Builder::new()
            .epoch(std::time::UNIX_EPOCH)
            .rng_seed(7)
            .build();
        sim.client("node", async move {
            let env = Env::simulation(7, "node", disk.clone(), 1, 0);
            let dir = Path::new("/data");
            let (first, new) = load_or_create(&env, dir).await.unwrap();
            assert!(new);
            let again = Env::simulation(8, "node", disk, 1, 0);
            let (second, new) = load_or_create(&again, dir).await.unwrap();
            assert!(!new);
            assert_eq!(first, second);
            Ok(())
        });
        sim.run().unwrap();
    }
}
