//! Configuration: the start-up flags (`ServerConfig`, parsed by clap in `main.rs` or built
//! directly by the simulator) and the settings CONFIG GET/SET read and change at run time
//! (`RuntimeConfig`). Only settings that exist and take effect are listed; CONFIG SET
//! validates every pair before applying any, as Redis does.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use bytes::Bytes;

use crate::keyspace::evict::{self, Policy};
use crate::keyspace::EncodingLimits;
use crate::limits::{CLIENTS_MAX, DATABASES_MAX, STRING_LEN_MAX_BYTES};

/// Smallest proto-max-bulk-len CONFIG SET accepts (Redis: 1 MiB).
const PROTO_MAX_BULK_LEN_MIN_BYTES: usize = 1024 * 1024;

#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "ember-server",
    version,
    about = "ember: a Redis-compatible, sharded, in-memory cache"
)]
pub struct ServerConfig {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// TCP port to listen on (0 picks a free port).
    #[arg(long, default_value_t = 6379)]
    pub port: u16,
    /// Shard threads; defaults to the number of cores.
    #[arg(long)]
    pub shards: Option<usize>,
    /// Require clients to AUTH with this password.
    #[arg(long)]
    pub requirepass: Option<String>,
    /// Background task frequency per second (active expiry runs at this rate).
    #[arg(long, default_value_t = 10)]
    pub hz: u32,
    /// Most clients connected at once.
    #[arg(long, default_value_t = CLIENTS_MAX)]
    pub maxclients: usize,
    /// Close a client after this many idle seconds (0: never).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,
    /// Largest bulk argument and string value, in bytes (suffixes k, kb, m, mb, g, gb).
    #[arg(long, default_value = "512mb", value_parser = parse_memory)]
    pub proto_max_bulk_len: usize,
    /// Log commands that run at least this many microseconds (-1: never, 0: every one).
    #[arg(long, default_value_t = 10_000, allow_hyphen_values = true)]
    pub slowlog_log_slower_than: i64,
    /// Entries the slow log keeps.
    #[arg(long, default_value_t = 128)]
    pub slowlog_max_len: usize,
    /// Directory for the AOF, snapshots and the manifest.
    #[arg(long, default_value = ".")]
    pub data_dir: String,
    /// Log every write to a per-shard append-only file (`--appendonly` or `--appendonly yes`).
    #[arg(long, num_args = 0..=1, default_missing_value = "yes", default_value = "no", value_parser = parse_yes_no)]
    pub appendonly: bool,
    /// When the AOF is fsynced: always (before acknowledging), everysec, or no.
    #[arg(long, default_value = "everysec")]
    pub appendfsync: String,
    /// Automatic snapshots: pairs of "seconds changes" ("3600 1 300 100"); "" for none.
    #[arg(long, default_value = "")]
    pub save: String,
    /// Load an AOF up to its first corrupt record (dropping the rest) instead of refusing
    /// to start.
    #[arg(long, num_args = 0..=1, default_missing_value = "yes", default_value = "no", value_parser = parse_yes_no)]
    pub aof_load_corrupt: bool,
    /// Encrypt the AOF and snapshots at rest with AES-256-GCM under the key in this file:
    /// exactly 32 raw bytes, or 64 hex digits and an optional newline. Needs a build with
    /// the cargo feature `encryption`.
    #[arg(long)]
    pub encryption_key_file: Option<String>,
    /// Memory limit for keys and values (suffixes k, kb, m, mb, g, gb; 0: none). Each shard
    /// gets an equal share and evicts by `--maxmemory-policy` when over it.
    #[arg(long, alias = "max-memory", default_value = "0", value_parser = parse_memory)]
    pub maxmemory: usize,
    /// What to do at the memory limit: noeviction (refuse writes with -OOM), allkeys-lru,
    /// volatile-lru, allkeys-lfu, volatile-lfu, allkeys-random, volatile-random, volatile-ttl.
    #[arg(long, alias = "eviction-policy", default_value = "noeviction", value_parser = parse_policy)]
    pub maxmemory_policy: Policy,
    /// Keys sampled per eviction (1 to 64): more is closer to true LRU/LFU and slower.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub maxmemory_samples: u32,
    /// LFU counter growth: hits needed to saturate grow with this factor.
    #[arg(long, default_value_t = 10)]
    pub lfu_log_factor: u32,
    /// Minutes after which an idle key's LFU counter is decremented (0: never).
    #[arg(long, default_value_t = 1)]
    pub lfu_decay_time: u32,
    /// Run as a Redis Cluster node (`--cluster-enabled` or `--cluster-enabled yes`): hash
    /// slots, MOVED/ASK, CLUSTER commands, the cluster bus.
    #[arg(long, num_args = 0..=1, default_missing_value = "yes", default_value = "no", value_parser = parse_yes_no)]
    pub cluster_enabled: bool,
    /// Make this node a new cluster of one that owns every slot (harmless on restart).
    #[arg(long)]
    pub cluster_bootstrap: bool,
    /// The cluster bus listens on the client port plus this.
    #[arg(long, default_value_t = 10000)]
    pub cluster_port_offset: u16,
    /// Milliseconds after which an unreachable node is considered failing.
    #[arg(long, default_value_t = 5000)]
    pub cluster_node_timeout: u64,
    /// The IP address this node announces to the cluster and in MOVED/ASK redirections
    /// (default: `--host`); needed when `--host` is 0.0.0.0.
    #[arg(long)]
    pub cluster_announce_ip: Option<String>,
    /// A file holding the secret every node of the cluster shares: cluster-bus frames are
    /// authenticated with an HMAC-SHA256 under it, and frames without it are refused.
    #[arg(long)]
    pub cluster_secret_file: Option<String>,
    /// Told about every applied topology entry and membership change (the simulator's
    /// checkers); not a flag.
    #[arg(skip)]
    pub cluster_observer: Option<ClusterObserver>,
}

/// The cluster observer, with a `Debug` that does not try to print a closure.
#[derive(Clone)]
pub struct ClusterObserver(pub ember_cluster::Observer);

impl std::fmt::Debug for ClusterObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterObserver")
    }
}

fn parse_policy(text: &str) -> Result<Policy, String> {
    Policy::parse(text).ok_or_else(|| POLICY_CHOICES.to_string())
}

const POLICY_CHOICES: &str = "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction";

fn policy_index(policy: Policy) -> u32 {
    Policy::ALL
        .iter()
        .position(|&p| p == policy)
        .expect("every policy is listed") as u32
}

/// yes/no as Redis's configuration writes booleans.
pub fn parse_yes_no(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("'{text}' is not yes or no")),
    }
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 6379,
            shards: None,
            requirepass: None,
            hz: 10,
            maxclients: CLIENTS_MAX,
            timeout: 0,
            proto_max_bulk_len: STRING_LEN_MAX_BYTES,
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            data_dir: ".".into(),
            appendonly: false,
            appendfsync: "everysec".into(),
            save: String::new(),
            aof_load_corrupt: false,
            encryption_key_file: None,
            maxmemory: 0,
            maxmemory_policy: Policy::NoEviction,
            maxmemory_samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            cluster_enabled: false,
            cluster_bootstrap: false,
            cluster_port_offset: 10000,
            cluster_node_timeout: 5000,
            cluster_announce_ip: None,
            cluster_secret_file: None,
            cluster_observer: None,
        }
    }
}

/// A memory size as Redis writes it: digits with an optional k/kb/m/mb/g/gb suffix
/// (k = 1000, kb = 1024), case-insensitive.
pub fn parse_memory(text: &str) -> Result<usize, String> {
    let lower = text.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err(format!("invalid memory size '{text}'")),
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("invalid memory size '{text}'"))?;
    let bytes = number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("memory size '{text}' is too large"))?;
    usize::try_from(bytes).map_err(|_| format!("memory size '{text}' is too large"))
}

/// A validated CONFIG SET value, applied only once every pair validated.
enum Setting {
    Hz(u32),
    MaxClients(usize),
    Timeout(u64),
    ProtoMaxBulkLen(usize),
    RequirePass(Option<Bytes>),
    Encoding(usize, i64),
    SlowlogSlowerThan(i64),
    SlowlogMaxLen(usize),
    Save(Vec<(u64, u64)>),
    MaxMemory(usize),
    MaxMemoryPolicy(Policy),
    MaxMemorySamples(u32),
    LfuLogFactor(u32),
    LfuDecayTime(u32),
}

/// The collection encoding thresholds: (name, Redis's older alias, index into `encoding`).
const ENCODING_PARAMETERS: &[(&str, &str)] = &[
    ("hash-max-listpack-entries", "hash-max-ziplist-entries"),
    ("hash-max-listpack-value", "hash-max-ziplist-value"),
    ("set-max-intset-entries", "set-max-intset-entries"),
    ("set-max-listpack-entries", "set-max-listpack-entries"),
    ("set-max-listpack-value", "set-max-listpack-value"),
    ("zset-max-listpack-entries", "zset-max-ziplist-entries"),
    ("zset-max-listpack-value", "zset-max-ziplist-value"),
    ("list-max-listpack-size", "list-max-ziplist-size"),
];

fn encoding_index(name: &str) -> Option<usize> {
    ENCODING_PARAMETERS
        .iter()
        .position(|(n, alias)| *n == name || *alias == name)
}

pub struct RuntimeConfig {
    bind: String,
    port: u16,
    hz: AtomicU32,
    maxclients: AtomicUsize,
    timeout_s: AtomicU64,
    proto_max_bulk_len: AtomicUsize,
    requirepass: Mutex<Option<Bytes>>,
    slowlog_slower_than_us: std::sync::atomic::AtomicI64,
    slowlog_max_len: AtomicUsize,
    /// Indexed like ENCODING_PARAMETERS.
    encoding: [std::sync::atomic::AtomicI64; 8],
    appendonly: bool,
    appendfsync: String,
    dir: String,
    save: Mutex<Vec<(u64, u64)>>,
    maxmemory: AtomicUsize,
    /// An index into `Policy::ALL`.
    maxmemory_policy: AtomicU32,
    maxmemory_samples: AtomicU32,
    lfu_log_factor: AtomicU32,
    lfu_decay_time: AtomicU32,
}

const PARAMETERS: &[&str] = &[
    "appendfsync",
    "appendonly",
    "bind",
    "dir",
    "databases",
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "hash-max-ziplist-entries",
    "hash-max-ziplist-value",
    "hz",
    "lfu-decay-time",
    "lfu-log-factor",
    "list-max-listpack-size",
    "list-max-ziplist-size",
    "maxclients",
    "maxmemory",
    "maxmemory-policy",
    "maxmemory-samples",
    "port",
    "proto-max-bulk-len",
    "requirepass",
    "save",
    "set-max-intset-entries",
    "set-max-listpack-entries",
    "set-max-listpack-value",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "timeout",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "zset-max-ziplist-entries",
    "zset-max-ziplist-value",
];

impl RuntimeConfig {
    pub fn new(config: &ServerConfig, port: u16) -> RuntimeConfig {
        RuntimeConfig {
            bind: config.host.clone(),
            port,
            hz: AtomicU32::new(config.hz.clamp(1, 500)),
            maxclients: AtomicUsize::new(config.maxclients.clamp(1, CLIENTS_MAX)),
            timeout_s: AtomicU64::new(config.timeout),
            proto_max_bulk_len: AtomicUsize::new(
                config.proto_max_bulk_len.min(STRING_LEN_MAX_BYTES),
            ),
            requirepass: Mutex::new(
                config
                    .requirepass
                    .as_ref()
                    .filter(|p| !p.is_empty())
                    .map(|p| Bytes::from(p.clone())),
            ),
            slowlog_slower_than_us: std::sync::atomic::AtomicI64::new(
                config.slowlog_log_slower_than,
            ),
            slowlog_max_len: AtomicUsize::new(config.slowlog_max_len),
            encoding: encoding_values(&EncodingLimits::default())
                .map(std::sync::atomic::AtomicI64::new),
            appendonly: config.appendonly,
            appendfsync: config.appendfsync.to_ascii_lowercase(),
            dir: config.data_dir.clone(),
            save: Mutex::new(crate::persist::parse_save(&config.save).unwrap_or_default()),
            maxmemory: AtomicUsize::new(config.maxmemory),
            maxmemory_policy: AtomicU32::new(policy_index(config.maxmemory_policy)),
            maxmemory_samples: AtomicU32::new(config.maxmemory_samples.clamp(1, 64)),
            lfu_log_factor: AtomicU32::new(config.lfu_log_factor),
            lfu_decay_time: AtomicU32::new(config.lfu_decay_time),
        }
    }

    pub fn maxmemory(&self) -> usize {
        self.maxmemory.load(Ordering::Relaxed)
    }

    pub fn maxmemory_policy(&self) -> Policy {
        Policy::ALL[self.maxmemory_policy.load(Ordering::Relaxed) as usize]
    }

    /// One shard's eviction settings: an equal share of maxmemory.
    pub fn eviction(&self, shard_count: usize) -> evict::Settings {
        evict::Settings {
            policy: self.maxmemory_policy(),
            budget_bytes: self.maxmemory().div_ceil(shard_count.max(1)),
            overhead_bytes: 0,
            samples: self.maxmemory_samples.load(Ordering::Relaxed) as usize,
            lfu_log_factor: self.lfu_log_factor.load(Ordering::Relaxed),
            lfu_decay_minutes: self.lfu_decay_time.load(Ordering::Relaxed),
        }
    }

    /// The snapshot schedule: (seconds, changes) pairs.
    pub fn save_points(&self) -> Vec<(u64, u64)> {
        self.save.lock().expect("config lock").clone()
    }

    /// The slow log threshold in microseconds; negative disables the log.
    pub fn slowlog_slower_than_us(&self) -> i64 {
        self.slowlog_slower_than_us.load(Ordering::Relaxed)
    }

    pub fn slowlog_max_len(&self) -> usize {
        self.slowlog_max_len.load(Ordering::Relaxed)
    }

    pub fn encoding_limits(&self) -> EncodingLimits {
        let value = |i: usize| self.encoding[i].load(Ordering::Relaxed);
        EncodingLimits {
            hash_listpack_entries: value(0) as usize,
            hash_listpack_value_bytes: value(1) as usize,
            set_intset_entries: value(2) as usize,
            set_listpack_entries: value(3) as usize,
            set_listpack_value_bytes: value(4) as usize,
            zset_listpack_entries: value(5) as usize,
            zset_listpack_value_bytes: value(6) as usize,
            list_listpack_size: value(7),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn hz(&self) -> u32 {
        self.hz.load(Ordering::Relaxed)
    }

    pub fn maxclients(&self) -> usize {
        self.maxclients.load(Ordering::Relaxed)
    }

    pub fn timeout_s(&self) -> u64 {
        self.timeout_s.load(Ordering::Relaxed)
    }

    pub fn proto_max_bulk_len(&self) -> usize {
        self.proto_max_bulk_len.load(Ordering::Relaxed)
    }

    pub fn requirepass(&self) -> Option<Bytes> {
        self.requirepass.lock().expect("config lock").clone()
    }

    fn get(&self, name: &str) -> String {
        match name {
            "appendonly" => if self.appendonly { "yes" } else { "no" }.into(),
            "appendfsync" => self.appendfsync.clone(),
            "dir" => self.dir.clone(),
            "bind" => self.bind.clone(),
            "databases" => DATABASES_MAX.to_string(),
            "hz" => self.hz().to_string(),
            "maxclients" => self.maxclients().to_string(),
            "port" => self.port.to_string(),
            "proto-max-bulk-len" => self.proto_max_bulk_len().to_string(),
            "requirepass" => self
                .requirepass()
                .map(|p| String::from_utf8_lossy(&p).into_owned())
                .unwrap_or_default(),
            "save" => crate::persist::format_save(&self.save_points()),
            "timeout" => self.timeout_s().to_string(),
            "slowlog-log-slower-than" => self.slowlog_slower_than_us().to_string(),
            "slowlog-max-len" => self.slowlog_max_len().to_string(),
            "maxmemory" => self.maxmemory().to_string(),
            "maxmemory-policy" => self.maxmemory_policy().name().to_string(),
            "maxmemory-samples" => self.maxmemory_samples.load(Ordering::Relaxed).to_string(),
            "lfu-log-factor" => self.lfu_log_factor.load(Ordering::Relaxed).to_string(),
            "lfu-decay-time" => self.lfu_decay_time.load(Ordering::Relaxed).to_string(),
            other => match encoding_index(other) {
                Some(index) => self.encoding[index].load(Ordering::Relaxed).to_string(),
                None => unreachable!("only listed parameters are read"),
            },
        }
    }

    /// Every parameter whose name matches the glob `pattern`, with its value.
    pub fn matching(&self, pattern: &[u8]) -> Vec<(String, String)> {
        PARAMETERS
            .iter()
            .filter(|name| crate::cmd::keys::glob_match(pattern, name.as_bytes()))
            .map(|name| (name.to_string(), self.get(name)))
            .collect()
    }

    /// Validates every pair, then applies them all; nothing changes if any pair is bad.
    pub fn set_many(&self, pairs: &[(String, Bytes)]) -> Result<(), String> {
        let mut settings = Vec::with_capacity(pairs.len());
        for (index, (name, value)) in pairs.iter().enumerate() {
            if !PARAMETERS.contains(&name.as_str()) {
                return Err(format!(
                    "Unknown option or number of arguments for CONFIG SET - '{name}'"
                ));
            }
            let failed = |why: &str| {
                format!("CONFIG SET failed (possibly related to argument '{name}') - {why}")
            };
            if pairs[..index].iter().any(|(n, _)| n == name) {
                return Err(failed("duplicate parameter"));
            }
            settings.push(parse_setting(name, value).map_err(|why| failed(&why))?);
        }
        for setting in settings {
            self.apply(setting);
        }
        Ok(())
    }

    fn apply(&self, setting: Setting) {
        match setting {
            Setting::Hz(hz) => self.hz.store(hz, Ordering::Relaxed),
            Setting::MaxClients(n) => self.maxclients.store(n, Ordering::Relaxed),
            Setting::Timeout(s) => self.timeout_s.store(s, Ordering::Relaxed),
            Setting::ProtoMaxBulkLen(n) => self.proto_max_bulk_len.store(n, Ordering::Relaxed),
            Setting::RequirePass(p) => *self.requirepass.lock().expect("config lock") = p,
            Setting::Encoding(index, value) => self.encoding[index].store(value, Ordering::Relaxed),
            Setting::SlowlogSlowerThan(us) => {
                self.slowlog_slower_than_us.store(us, Ordering::Relaxed)
            }
            Setting::SlowlogMaxLen(len) => self.slowlog_max_len.store(len, Ordering::Relaxed),
            Setting::Save(points) => *self.save.lock().expect("config lock") = points,
            Setting::MaxMemory(bytes) => self.maxmemory.store(bytes, Ordering::Relaxed),
            Setting::MaxMemoryPolicy(policy) => self
                .maxmemory_policy
                .store(policy_index(policy), Ordering::Relaxed),
            Setting::MaxMemorySamples(n) => self.maxmemory_samples.store(n, Ordering::Relaxed),
            Setting::LfuLogFactor(n) => self.lfu_log_factor.store(n, Ordering::Relaxed),
            Setting::LfuDecayTime(n) => self.lfu_decay_time.store(n, Ordering::Relaxed),
        }
    }
}

fn encoding_values(limits: &EncodingLimits) -> [i64; 8] {
    [
        limits.hash_listpack_entries as i64,
        limits.hash_listpack_value_bytes as i64,
        limits.set_intset_entries as i64,
        limits.set_listpack_entries as i64,
        limits.set_listpack_value_bytes as i64,
        limits.zset_listpack_entries as i64,
        limits.zset_listpack_value_bytes as i64,
        limits.list_listpack_size,
    ]
}

fn parse_integer(value: &[u8]) -> Result<i64, String> {
    crate::cmd::args::parse_i64(value)
        .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())
}

fn in_range(value: i64, low: i64, high: i64) -> Result<i64, String> {
    if value < low || value > high {
        return Err(format!(
            "argument must be between {low} and {high} inclusive"
        ));
    }
    Ok(value)
}

fn parse_setting(name: &str, value: &[u8]) -> Result<Setting, String> {
    Ok(match name {
        // Redis accepts any non-negative hz and clamps it to 1..=500.
        "hz" => {
            Setting::Hz(in_range(parse_integer(value)?, 0, i32::MAX as i64)?.clamp(1, 500) as u32)
        }
        "maxclients" => {
            Setting::MaxClients(in_range(parse_integer(value)?, 1, CLIENTS_MAX as i64)? as usize)
        }
        "timeout" => Setting::Timeout(in_range(parse_integer(value)?, 0, i32::MAX as i64)? as u64),
        "proto-max-bulk-len" => {
            let text = String::from_utf8_lossy(value);
            let bytes =
                parse_memory(&text).map_err(|_| "argument must be a memory value".to_string())?;
            let (low, high) = (
                PROTO_MAX_BULK_LEN_MIN_BYTES as i64,
                STRING_LEN_MAX_BYTES as i64,
            );
            Setting::ProtoMaxBulkLen(in_range(bytes as i64, low, high)? as usize)
        }
        "requirepass" => {
            Setting::RequirePass((!value.is_empty()).then(|| Bytes::copy_from_slice(value)))
        }
        "slowlog-log-slower-than" => {
            Setting::SlowlogSlowerThan(in_range(parse_integer(value)?, -1, i64::MAX)?)
        }
        "slowlog-max-len" => {
            Setting::SlowlogMaxLen(in_range(parse_integer(value)?, 0, i64::MAX)? as usize)
        }
        "save" => Setting::Save(crate::persist::parse_save(&String::from_utf8_lossy(value))?),
        "maxmemory" => Setting::MaxMemory(
            parse_memory(&String::from_utf8_lossy(value))
                .map_err(|_| "argument must be a memory value".to_string())?,
        ),
        "maxmemory-policy" => {
            Setting::MaxMemoryPolicy(parse_policy(&String::from_utf8_lossy(value))?)
        }
        "maxmemory-samples" => {
            Setting::MaxMemorySamples(in_range(parse_integer(value)?, 1, 64)? as u32)
        }
        "lfu-log-factor" => {
            Setting::LfuLogFactor(in_range(parse_integer(value)?, 0, i32::MAX as i64)? as u32)
        }
        "lfu-decay-time" => {
            Setting::LfuDecayTime(in_range(parse_integer(value)?, 0, i32::MAX as i64)? as u32)
        }
        "list-max-listpack-size" | "list-max-ziplist-size" => {
            let size = in_range(parse_integer(value)?, i32::MIN as i64, i32::MAX as i64)?;
            Setting::Encoding(7, size)
        }
        other => match encoding_index(other) {
            // Entry counts and value sizes: any non-negative size, with memory units.
            Some(index) => {
                let text = String::from_utf8_lossy(value);
                let size = parse_memory(&text)
                    .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
                Setting::Encoding(index, in_range(size as i64, 0, i64::MAX)?)
            }
            None => return Err("can't set immutable config".into()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_parse_with_redis_units() {
        assert_eq!(parse_memory("512mb"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_memory("1k"), Ok(1000));
        assert_eq!(parse_memory("1KB"), Ok(1024));
        assert_eq!(parse_memory("100"), Ok(100));
        assert!(parse_memory("1tb").is_err());
        assert!(parse_memory("x").is_err());
    }

    #[test]
    fn config_set_is_all_or_nothing() {
        let config = RuntimeConfig::new(&ServerConfig::default(), 6379);
        let pairs = vec![
            ("hz".to_string(), Bytes::from("50")),
            ("port".to_string(), Bytes::from("1")),
        ];
        let error = config.set_many(&pairs).unwrap_err();
        assert_eq!(
            error,
            "CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"
        );
        assert_eq!(config.hz(), 10, "nothing applied");
        config.set_many(&pairs[..1]).unwrap();
        assert_eq!(config.hz(), 50);
    }

    #[test]
    fn config_get_matches_globs() {
        let config = RuntimeConfig::new(&ServerConfig::default(), 7000);
        assert_eq!(
            config.matching(b"port"),
            vec![("port".to_string(), "7000".to_string())]
        );
        assert_eq!(config.matching(b"*max*").len(), 2 + 13 + 1 + 3);
        config
            .set_many(&[("hash-max-ziplist-entries".to_string(), Bytes::from("7"))])
            .unwrap();
        assert_eq!(config.encoding_limits().hash_listpack_entries, 7);
        assert_eq!(
            config.matching(b"hash-max-listpack-entries"),
            vec![("hash-max-listpack-entries".to_string(), "7".to_string())]
        );
        assert!(config.matching(b"nosuch").is_empty());
    }
}
