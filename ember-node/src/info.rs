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
        "persistence" => persistence(out),
        "stats" => stats(ctx, out),
        "replication" => replication(out),
        "cpu" => cpu(out),
        "cluster" => out.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
        "keyspace" => keyspace(ctx, out),
        _ => {}
    }
}

fn server(ctx: &mut Ctx, out: &mut String) {
    let shared = ctx.shared;
    let uptime_s = ctx.now_ms.saturating_sub(shared.started_unix_ms) / 1000;
    let _ = write!(
        out,
        "# Server\r\nredis_version:{}\r\nember_version:{}\r\nredis_mode:standalone\r\nos:{} {}\r\n\
         arch_bits:{}\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\n\
         server_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nshards:{}\r\n\
         executable:ember-server\r\nconfig_file:\r\ncluster_enabled:0\r\n",
        crate::REDIS_VERSION,
        crate::EMBER_VERSION,
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

fn memory(ctx: &mut Ctx, out: &mut String) {
    let used: usize = ctx.stores().map(|s| s.used_bytes()).sum();
    let _ = write!(
        out,
        "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_dataset:{used}\r\n\
         maxmemory:0\r\nmaxmemory_human:0B\r\nmaxmemory_policy:noeviction\r\nmem_allocator:libc\r\n",
        human(used),
    );
}

fn persistence(out: &mut String) {
    out.push_str("# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\n");
}

fn stats(ctx: &mut Ctx, out: &mut String) {
    let stats = &ctx.shared.stats;
    let (mut hits, mut misses, mut expired) = (0, 0, 0);
    for store in ctx.stores() {
        hits += store.stats.keyspace_hits;
        misses += store.stats.keyspace_misses;
        expired += store.stats.expired_keys;
    }
    let _ = write!(
        out,
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ntotal_net_input_bytes:{}\r\n\
         total_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{expired}\r\nevicted_keys:0\r\n\
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
