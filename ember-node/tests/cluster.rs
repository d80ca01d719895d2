//! Cluster mode through the real binary and redis-rs: a node started without it refuses
//! the cluster commands as Redis does; a bootstrapped node of one owns every slot and
//! answers CLUSTER INFO/MYID/NODES/SLOTS/SHARDS/KEYSLOT in Redis's formats, refuses keys of
//! different slots with CROSSSLOT, SELECT of another database, and sends MOVED once a slot
//! is given away. (Several nodes: ci/cluster.py and ember-cluster's simulations.)
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use common::{cmd, err, Server};

fn cluster_node() -> Server {
    // The bus listens on the client port plus the offset; 1 keeps it below 65536 for any
    // ephemeral client port.
    Server::start(&[
        "--cluster-enabled",
        "yes",
        "--cluster-bootstrap",
        "--cluster-port-offset",
        "1",
    ])
}

#[test]
fn without_cluster_mode_the_cluster_commands_are_refused() {
    let server = Server::start(&[]);
    let mut c = server.client();
    for words in [
        &["CLUSTER", "INFO"][..],
        &["CLUSTER", "KEYSLOT", "x"],
        &["ASKING"],
        &["READONLY"],
    ] {
        let mut command = cmd(words[0]);
        for word in &words[1..] {
            command.arg(*word);
        }
        assert_eq!(
            err(command.query(&mut c)),
            "ERR: This instance has cluster support disabled",
            "{words:?}"
        );
    }
    let info: String = cmd("INFO").arg("cluster").query(&mut c).expect("INFO");
    assert!(info.contains("cluster_enabled:0"), "{info}");
}

#[test]
fn a_bootstrapped_node_owns_every_slot_and_speaks_redis_cluster_formats() {
    let server = cluster_node();
    let mut c = server.client();
    let info: String = cmd("CLUSTER")
        .arg("INFO")
        .query(&mut c)
        .expect("CLUSTER INFO");
    assert!(info.contains("cluster_state:ok\r\n"), "{info}");
    assert!(info.contains("cluster_slots_assigned:16384\r\n"), "{info}");
    assert!(info.contains("cluster_known_nodes:1\r\n"), "{info}");
    let id: String = cmd("CLUSTER").arg("MYID").query(&mut c).expect("MYID");
    assert_eq!(id.len(), 40);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let nodes: String = cmd("CLUSTER").arg("NODES").query(&mut c).expect("NODES");
    let port = server.addr.port();
    let line = nodes.lines().next().expect("one node");
    assert_eq!(
        line,
        format!(
            "{id} 127.0.0.1:{port}@{} myself,master - 0 0 1 connected 0-16383",
            port + 1
        )
    );
    let slots: Vec<(i64, i64, Vec<redis::Value>)> =
        cmd("CLUSTER").arg("SLOTS").query(&mut c).expect("SLOTS");
    assert_eq!(slots.len(), 1);
    assert_eq!((slots[0].0, slots[0].1), (0, 16383));
    let slot: i64 = cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg("foo")
        .query(&mut c)
        .expect("KEYSLOT");
    assert_eq!(slot, 12182);
    let tagged: i64 = cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg("{user1000}.following")
        .query(&mut c)
        .expect("KEYSLOT");
    let tag: i64 = cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg("user1000")
        .query(&mut c)
        .expect("KEYSLOT");
    assert_eq!(tagged, tag);
    let shards: Vec<redis::Value> = cmd("CLUSTER").arg("SHARDS").query(&mut c).expect("SHARDS");
    assert_eq!(shards.len(), 1);
    let info: String = cmd("INFO").arg("cluster").query(&mut c).expect("INFO");
    assert!(info.contains("cluster_enabled:1"), "{info}");

    let _: () = cmd("SET").arg("{t}a").arg("1").query(&mut c).expect("SET");
    let _: () = cmd("SET").arg("{t}b").arg("2").query(&mut c).expect("SET");
    let both: Vec<String> = cmd("MGET")
        .arg("{t}a")
        .arg("{t}b")
        .query(&mut c)
        .expect("MGET");
    assert_eq!(both, ["1", "2"]);
    assert_eq!(
        err(cmd("MSET")
            .arg("a")
            .arg("1")
            .arg("b")
            .arg("2")
            .query(&mut c)),
        "CROSSSLOT: Keys in request don't hash to the same slot"
    );
    assert_eq!(
        err(cmd("SELECT").arg("1").query(&mut c)),
        "ERR: SELECT is not allowed in cluster mode"
    );
    let in_slot: i64 = cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(tag)
        .query(&mut c)
        .expect("COUNTKEYSINSLOT");
    assert_eq!(in_slot, 0, "{{t}} is not user1000's slot");
    let t_slot: i64 = cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg("t")
        .query(&mut c)
        .expect("KEYSLOT");
    let keys: Vec<String> = cmd("CLUSTER")
        .arg("GETKEYSINSLOT")
        .arg(t_slot)
        .arg(10)
        .query(&mut c)
        .expect("GETKEYSINSLOT");
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, ["{t}a", "{t}b"]);

    // A transaction's keys must share one slot; one that mixes slots is discarded at EXEC
    // (sent one command at a time: redis-rs's atomic pipeline hides EXEC's error code).
    let _: () = cmd("MULTI").query(&mut c).expect("MULTI");
    let queued: String = cmd("SET").arg("{a}x").arg(1).query(&mut c).expect("SET");
    assert_eq!(queued, "QUEUED");
    let _: String = cmd("SET").arg("{b}y").arg(2).query(&mut c).expect("SET");
    let mixed: redis::RedisResult<redis::Value> = cmd("EXEC").query(&mut c);
    let error = mixed.expect_err("EXEC refuses keys of two slots");
    assert_eq!(error.code(), Some("CROSSSLOT"));
    let discarded: redis::RedisResult<redis::Value> = cmd("EXEC").query(&mut c);
    assert!(
        discarded.is_err_and(|e| e.to_string().contains("EXEC without MULTI")),
        "the refused transaction is over"
    );
    for key in ["{a}x", "{b}y"] {
        let exists: i64 = cmd("EXISTS").arg(key).query(&mut c).expect("EXISTS");
        assert_eq!(exists, 0, "nothing of the refused transaction ran");
    }
    let same: Vec<redis::Value> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("{a}x")
        .arg(1)
        .cmd("INCR")
        .arg("{a}n")
        .query(&mut c)
        .expect("one slot commits");
    assert_eq!(same.len(), 2);

    // Give foo's slot away: with nobody serving it, the cluster is down for that slot.
    let _: () = cmd("CLUSTER")
        .arg("DELSLOTS")
        .arg(12182)
        .query(&mut c)
        .expect("DELSLOTS");
    assert_eq!(
        err(cmd("GET").arg("foo").query(&mut c)),
        "CLUSTERDOWN: Hash slot not served"
    );
    assert_eq!(
        err(cmd("CLUSTER").arg("DELSLOTS").arg(12182).query(&mut c)),
        "ERR: Slot 12182 is already unassigned"
    );
    assert_eq!(
        err(cmd("CLUSTER").arg("ADDSLOTS").arg(16384).query(&mut c)),
        "ERR: Invalid or out of range slot"
    );
    let _: () = cmd("CLUSTER")
        .arg("ADDSLOTS")
        .arg(12182)
        .query(&mut c)
        .expect("ADDSLOTS");
    let _: Option<String> = cmd("GET").arg("foo").query(&mut c).expect("served again");
}

/// `--cluster-secret-file`: nodes sharing the secret meet; a node with another secret
/// cannot (its bus frames fail authentication); a secret too short refuses to start.
#[test]
fn the_cluster_bus_secret_admits_only_nodes_that_share_it() {
    let secrets = common::TempDir::new();
    let write = |name: &str, text: &str| {
        let path = secrets.0.join(name);
        std::fs::write(&path, text).expect("writes the secret");
        path.to_str().expect("utf-8 path").to_string()
    };
    let shared = write("shared", "correct horse battery staple\n");
    let other = write("other", "a different secret of some length\n");
    let short = write("short", "tiny\n");
    let node = |secret: &str, bootstrap: bool| {
        let mut args = vec![
            "--cluster-enabled",
            "yes",
            "--cluster-port-offset",
            "1",
            "--cluster-secret-file",
            secret,
        ];
        if bootstrap {
            args.push("--cluster-bootstrap");
        }
        Server::start(&args)
    };
    let first = node(&shared, true);
    let friend = node(&shared, false);
    let stranger = node(&other, false);
    let port = first.addr.port().to_string();
    let meet = |server: &Server| -> redis::RedisResult<redis::Value> {
        cmd("CLUSTER")
            .arg("MEET")
            .arg("127.0.0.1")
            .arg(&port)
            .query(&mut server.client())
    };
    meet(&friend).expect("a node with the shared secret joins");
    let nodes: String = cmd("CLUSTER")
        .arg("NODES")
        .query(&mut first.client())
        .expect("CLUSTER NODES");
    assert_eq!(nodes.lines().count(), 2, "{nodes}");
    let refused = err(meet(&stranger));
    assert!(refused.contains("cannot reach"), "{refused}");
    let nodes: String = cmd("CLUSTER")
        .arg("NODES")
        .query(&mut first.client())
        .expect("CLUSTER NODES");
    assert_eq!(
        nodes.lines().count(),
        2,
        "the stranger was not let in: {nodes}"
    );
    let dir = common::TempDir::new();
    let (code, stderr) = common::start_refused(
        &dir,
        &["--cluster-enabled", "yes", "--cluster-secret-file", &short],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("at least 16 bytes"), "{stderr}");
}
