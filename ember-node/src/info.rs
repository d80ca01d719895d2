//! INFO's sections, written in Redis's `field:value` format so monitoring tools and client
//! libraries that parse INFO read ember unchanged.

use std::fmt::Write as _;

use crate::cmd::Ctx;
use crate::limits::DATABASES_MAX;

pub fn write_section(ctx: &mut Ctx, section: &str, out: &mut String) {
    match section {
        "server" => server(ctx, out),
        "clients" => clients(ctx, out),
        "memory" => memory(ctx, out),
        "persistence" => persistence(ctx, out),
        "stats" => stats(ctx, out),
        "replication" => replication(out),
        "cpu" => cpu(out),
        "cluster" => {
            let enabled = u8::from(ctx.shared.cluster.is_some());
            let _ = write!(out, "# Cluster\r\ncluster_enabled:{enabled}\r\n");
        }
        "keyspace" => keyspace(ctx, out),
        _ => {}
    }
}

fn server(ctx: &mut Ctx, out: &mut String) {
    let shared = ctx.shared;
    let uptime_s = ctx.now_ms.saturating_sub(shared.started_unix_ms) / 1000;
    let _ = write!(
        out,
        "# Server\r\nredis_version:{}\r\nember_version:{}\r\nredis_mode:{}\r\nos:{} {}\r\n\
         arch_bits:{}\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\n\
         server_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nshards:{}\r\n\
         executable:ember-server\r\nconfig_file:\r\n",
        crate::REDIS_VERSION,
        crate::EMBER_VERSION,
        if shared.cluster.is_some() {
            "cluster"
        } else {
            "standalone"
        },
        std::env::consts::OS,
        std::env::consts::ARCH,
        usize::BITS,
        shared.process_id,
        shared.run_id,
        shared.config.port(),
        ctx.now_ms * 1000,
        uptime_s,
        uptime_s / 86400,
        shared.config.hz(),
        shared.shard_count,
    );
}

fn clients(ctx: &mut Ctx, out: &mut String) {
    let shared = ctx.shared;
    let _ = write!(
        out,
        "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nblocked_clients:{}\r\n\
         tracking_clients:0\r\nclients_in_timeout_table:0\r\n",
        shared.clients.count(),
        shared.config.maxclients(),
        shared.stats.blocked_clients.load(std::sync::atomic::Ordering::Relaxed),
    );
}

fn human(bytes: usize) -> String {
    let units = ["B", "K", "M", "G", "T"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2}{}", units[unit])
}

/// used_memory is what the allocator handed out (the shards' own accounting where the
/// counting allocator is not installed, as in the simulator); used_memory_dataset is what
/// the shards account to keys, values and their tables, which eviction compares with
/// maxmemory.
fn memory(ctx: &mut Ctx, out: &mut String) {
    let dataset: usize = ctx.stores().map(|s| s.memory_bytes()).sum();
    let (used, allocator) = match crate::alloc::allocated_bytes() {
        Some(bytes) => (bytes, "mimalloc"),
        None => (dataset, "libc"),
    };
    let config = &ctx.shared.config;
    let maxmemory = config.maxmemory();
    let _ = write!(
        out,
        "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_dataset:{dataset}\r\n\
         maxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_allocator:{allocator}\r\n",
        human(used),
        human(maxmemory),
        config.maxmemory_policy().name(),
    );
}

fn persistence(ctx: &mut Ctx, out: &mut String) {
    use std::sync::atomic::Ordering::Relaxed;
    let persist = &ctx.shared.persist;
    let saving = persist.saving.load(Relaxed);
    let status = |ok: bool| if ok { "ok" } else { "err" };
    let changes = persist.total_changes() - persist.changes_at_last_save.load(Relaxed);
    let aof_ok = persist.failure().is_none();
    let _ = write!(
        out,
        "# Persistence\r\nloading:{}\r\nasync_loading:0\r\nloading_loaded_keys:{}\r\nloading_duration_ms:{}\r\n\
         rdb_changes_since_last_save:{changes}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\n\
         rdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_saves:{}\r\n\
         aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:0\r\naof_rewrites:{}\r\n\
         aof_last_bgrewrite_status:{}\r\naof_last_write_status:{}\r\naof_fsync_policy:{}\r\n",
        u8::from(persist.is_loading()),
        persist.loaded_keys.load(Relaxed),
        persist.load_duration_ms.load(Relaxed),
        u8::from(saving),
        persist.last_save_unix_ms.load(Relaxed) / 1000,
        status(persist.last_save_ok.load(Relaxed)),
        persist.last_save_duration_ms.load(Relaxed) / 1000,
        persist.saves.load(Relaxed),
        u8::from(persist.appendonly),
        u8::from(saving && persist.appendonly),
        persist.aof_rewrites.load(Relaxed),
        status(persist.last_save_ok.load(Relaxed)),
        status(aof_ok),
        persist.fsync.name(),
    );
    if persist.appendonly {
        let size: u64 = persist
            .shards
            .iter()
            .map(|s| s.aof_bytes.load(Relaxed))
            .sum();
        let _ = write!(
            out,
            "aof_current_size:{size}\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\n"
        );
    }
}

fn stats(ctx: &mut Ctx, out: &mut String) {
    let stats = &ctx.shared.stats;
    let (mut hits, mut misses, mut expired, mut evicted) = (0, 0, 0, 0);
    for store in ctx.stores() {
        hits += store.stats.keyspace_hits;
        misses += store.stats.keyspace_misses;
        expired += store.stats.expired_keys;
        evicted += store.stats.evicted_keys;
    }
    let _ = write!(
        out,
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ntotal_net_input_bytes:{}\r\n\
         total_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{expired}\r\nevicted_keys:{evicted}\r\n\
         keyspace_hits:{hits}\r\nkeyspace_misses:{misses}\r\npubsub_channels:0\r\npubsub_patterns:0\r\n",
        stats.connections_received.load(std::sync::atomic::Ordering::Relaxed),
        stats.total(|s| &s.commands),
        stats.total(|s| &s.net_input_bytes),
        stats.total(|s| &s.net_output_bytes),
        stats.rejected_connections.load(std::sync::atomic::Ordering::Relaxed),
    );
}

fn replication(out: &mut String) {
    out.push_str("# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n");
}

fn cpu(out: &mut String) {
    out.push_str("# CPU\r\n");
}

fn keyspace(ctx: &mut Ctx, out: &mut String) {
    out.push_str("# Keyspace\r\n");
    for db in 0..DATABASES_MAX {
        let (mut keys, mut expires) = (0, 0);
        for store in ctx.stores() {
            keys += store.len(db);
            expires += store.expires_len(db);
        }
        if keys > 0 {
            let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
        }
    }
}
