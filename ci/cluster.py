"""A real three-node ember cluster on loopback, driven by redis-cli and redis-py.

1. ci/cluster.sh starts three nodes (the first bootstraps, the others are met, the slots
   are spread) and waits for cluster_state:ok everywhere.
2. `redis-cli -c` follows MOVED; `redis-cli --cluster check` finds every slot covered and
   every node agreeing.
3. redis-py's RedisCluster writes and reads keys on every node, with pipelines and hash
   tags.
4. A live migration of one slot under a redis-py workload: the target imports, the source
   migrates, the keys move in batches (GETKEYSINSLOT, DUMP, ASKING + RESTORE, DEL) while
   the workload keeps creating keys in that slot (following ASK to the target), then one
   SETSLOT NODE commit hands the slot over. Every acknowledged key must be readable after.
5. A migration stopped halfway (MIGRATE ... KEYS) and rolled back under a workload:
   SETSLOT REVERSE on the target (sent twice: a retry changes nothing), the keys moved
   back, SETSLOT NODE to the source; every acknowledged key is readable on the source.
6. `redis-cli --cluster reshard` (MIGRATE ... KEYS in batches) moves 30 slots while a
   redis-py workload creates keys and increments counters in them: every acknowledged
   key is there and every counter equals its acknowledged increments.
7. Two nodes frozen (SIGSTOP): the third, cut off from the majority, stops serving keys
   (CLUSTERDOWN) within the failure detection time; thawed, the cluster is ok again.

Usage: python3 ci/cluster.py path/to/ember-server
"""
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis
from redis.cluster import RedisCluster

HERE = os.path.dirname(os.path.abspath(__file__))


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def three_ports():
    """Three consecutive client ports whose bus ports (+10000) are free too."""
    for _ in range(200):
        base = random.randint(20000, 25000)
        ports = [base, base + 1, base + 2]
        if all(port_free(p) and port_free(p + 10000) for p in ports):
            return ports
    raise RuntimeError("no free ports")


def cli(port, *args) -> str:
    return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                          check=True, capture_output=True, text=True).stdout


def node_ids(port):
    ids = {}
    for line in cli(port, "CLUSTER", "NODES").splitlines():
        fields = line.split()
        ids[int(fields[1].split("@")[0].split(":")[1])] = fields[0]
    return ids


def owner_port(port, slot):
    for start, end, master, *_ in redis.Redis(port=port).execute_command("CLUSTER", "SLOTS"):
        if start <= slot <= end:
            return master[1]
    raise AssertionError(f"slot {slot} has no owner")


def check_redis_cli(ports):
    assert cli(ports[0], "-c", "SET", "foo", "bar").strip() == "OK"
    for port in ports:
        assert cli(port, "-c", "GET", "foo").strip() == "bar"
    moved = cli(ports[0], "GET", "foo").strip()
    assert moved.startswith("MOVED 12182 ") or moved == "bar", moved
    report = subprocess.run(["redis-cli", "--cluster", "check", f"127.0.0.1:{ports[0]}"],
                            capture_output=True, text=True).stdout
    assert "[OK] All 16384 slots covered." in report, report
    assert "[OK] All nodes agree about slots configuration." in report, report
    print("redis-cli -c and --cluster check: ok")


def check_redis_py(ports):
    rc = RedisCluster(host="127.0.0.1", port=ports[0])
    for i in range(3000):
        rc.set(f"py:{i}", i)
    assert all(int(rc.get(f"py:{i}")) == i for i in range(3000))
    per_node = [int(redis.Redis(port=p).dbsize()) for p in ports]
    assert all(n > 500 for n in per_node), per_node
    pipe = rc.pipeline()
    for i in range(200):
        pipe.incr(f"counter:{i}")
    assert sum(pipe.execute()) == 200
    rc.mset({"{tag}a": "1", "{tag}b": "2"})
    assert rc.mget("{tag}a", "{tag}b") == [b"1", b"2"]
    try:
        redis.Redis(port=ports[0]).mset({"a": 1, "b": 2})
        raise AssertionError("MSET across slots must fail")
    except redis.exceptions.ClusterCrossSlotError:
        pass
    print(f"redis-py RedisCluster: ok (keys per node {per_node})")


def start_writer(port, tag, acknowledged, also_other=False):
    """A redis-py RedisCluster writing `<tag>:<i>` = i from the next i on, appending each
    acknowledged i; with `also_other`, a key of another slot after each. Returns the stop
    event, the errors seen (counted, not hidden) and the thread."""
    stop = threading.Event()
    errors = []

    def workload():
        writer = RedisCluster(host="127.0.0.1", port=port)
        i = len(acknowledged)
        while not stop.is_set():
            try:
                writer.set(f"{tag}:{i}", i)
                acknowledged.append(i)
                if also_other:
                    writer.set(f"other:{i}", i)
            except redis.RedisError as error:
                errors.append(repr(error))
            i += 1

    thread = threading.Thread(target=workload)
    thread.start()
    return stop, errors, thread


def migrate_under_load(ports):
    rc = RedisCluster(host="127.0.0.1", port=ports[0])
    slot = rc.keyslot("{mig}")
    source = owner_port(ports[0], slot)
    target = next(p for p in ports if p != source)
    ids = node_ids(ports[0])
    for i in range(500):
        rc.set(f"{{mig}}:{i}", i)
    acknowledged = list(range(500))
    stop, errors, thread = start_writer(ports[1], "{mig}", acknowledged, also_other=True)
    src, dst = redis.Redis(port=source), redis.Redis(port=target)
    try:
        src.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target])
        raise AssertionError("SETSLOT NODE must refuse while the owner holds keys")
    except redis.ResponseError as error:
        assert "still hold keys for this hash slot" in str(error), error
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source])
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target])
    moved = 0
    while True:
        keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 50)
        if not keys:
            break
        for key in keys:
            payload = src.dump(key)
            if payload is None:
                continue
            pipe = dst.pipeline(transaction=False)
            pipe.execute_command("ASKING")
            pipe.execute_command("RESTORE", key, 0, payload, "REPLACE")
            pipe.execute()
            src.delete(key)
            moved += 1
        time.sleep(0.01)
    dst.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target])
    time.sleep(0.5)
    stop.set()
    thread.join()
    assert not errors, errors[:5]
    assert owner_port(ports[0], slot) == target
    reader = RedisCluster(host="127.0.0.1", port=ports[2])
    missing = [i for i in acknowledged if reader.get(f"{{mig}}:{i}") != str(i).encode()]
    assert not missing, f"{len(missing)} acknowledged keys lost, e.g. {missing[:5]}"
    on_target = int(dst.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot))
    assert on_target == len(acknowledged), (on_target, len(acknowledged))
    assert int(src.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)) == 0
    print(f"live migration of slot {slot} ({source} -> {target}): moved {moved} keys, "
          f"{len(acknowledged)} acknowledged keys all readable")


def rollback_under_load(ports):
    """A migration stopped halfway and rolled back with SETSLOT REVERSE, under writes."""
    rc = RedisCluster(host="127.0.0.1", port=ports[0])
    slot = rc.keyslot("{rb}")
    source = owner_port(ports[0], slot)
    target = next(p for p in ports if p != source)
    ids = node_ids(ports[0])
    for i in range(300):
        rc.set(f"{{rb}}:{i}", i)
    acknowledged = list(range(300))

    def migrate(src, dst_port, limit):
        moved = 0
        while moved < limit:
            keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 20)
            if not keys:
                break
            reply = src.execute_command("MIGRATE", "127.0.0.1", dst_port, "", 0, 5000,
                                        "REPLACE", "KEYS", *keys)
            assert reply in (b"OK", b"NOKEY", "OK", "NOKEY"), reply
            moved += len(keys)
        return moved

    stop, errors, thread = start_writer(ports[1], "{rb}", acknowledged)
    src, dst = redis.Redis(port=source), redis.Redis(port=target)
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source])
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target])
    forward = migrate(src, target, 150)
    dst.execute_command("CLUSTER", "SETSLOT", slot, "REVERSE")
    dst.execute_command("CLUSTER", "SETSLOT", slot, "REVERSE")  # a retry changes nothing
    back = migrate(dst, source, 10**9)
    src.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[source])
    time.sleep(0.5)
    stop.set()
    thread.join()
    assert not errors, errors[:5]
    assert owner_port(ports[0], slot) == source
    reader = RedisCluster(host="127.0.0.1", port=ports[2])
    missing = [i for i in acknowledged if reader.get(f"{{rb}}:{i}") != str(i).encode()]
    assert not missing, f"{len(missing)} acknowledged keys lost, e.g. {missing[:5]}"
    on_source = int(src.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot))
    assert on_source == len(acknowledged), (on_source, len(acknowledged))
    assert int(dst.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)) == 0
    print(f"rollback of slot {slot} ({source} -> {target} -> {source}): {forward} keys out, "
          f"{back} back, {len(acknowledged)} acknowledged keys all readable on the owner")


def reshard_under_load(ports):
    ids = node_ids(ports[0])
    rc = RedisCluster(host="127.0.0.1", port=ports[0])
    for i in range(3000):
        rc.set(f"r:{i}", i)
    created, increments = list(range(3000)), {}
    stop = threading.Event()
    errors = []

    def workload():
        writer = RedisCluster(host="127.0.0.1", port=ports[2])
        i = 3000
        while not stop.is_set():
            try:
                writer.set(f"r:{i}", i)
                created.append(i)
                counter = f"n:{i % 40}"
                writer.incr(counter)
                increments[counter] = increments.get(counter, 0) + 1
            except redis.RedisError as error:
                errors.append(repr(error))
            i += 1

    thread = threading.Thread(target=workload)
    thread.start()
    time.sleep(0.3)
    result = subprocess.run(
        ["redis-cli", "--cluster", "reshard", f"127.0.0.1:{ports[0]}",
         "--cluster-from", ids[ports[0]], "--cluster-to", ids[ports[1]],
         "--cluster-slots", "30", "--cluster-yes"],
        capture_output=True, text=True, timeout=300)
    time.sleep(0.3)
    stop.set()
    thread.join()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert not errors, errors[:5]
    # Every node applies the last commit within moments (as Redis's gossip spreads it).
    deadline = time.monotonic() + 10
    while True:
        report = subprocess.run(["redis-cli", "--cluster", "check", f"127.0.0.1:{ports[0]}"],
                                capture_output=True, text=True).stdout
        agreed = "[OK] All nodes agree about slots configuration." in report
        if agreed or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "[OK] All 16384 slots covered." in report, report
    assert agreed, report
    reader = RedisCluster(host="127.0.0.1", port=ports[1])
    missing = [i for i in created if reader.get(f"r:{i}") != str(i).encode()]
    assert not missing, f"{len(missing)} acknowledged keys lost, e.g. {missing[:5]}"
    wrong = {k: (int(reader.get(k) or 0), n) for k, n in increments.items()
             if int(reader.get(k) or 0) != n}
    assert not wrong, f"counters differ from acknowledged increments: {wrong}"
    print(f"redis-cli --cluster reshard of 30 slots under load: {len(created)} keys and "
          f"{sum(increments.values())} increments all there")


def minority_stops_serving(ports, data):
    pids = [int(open(os.path.join(data, str(p), "pid")).read()) for p in ports[1:]]
    lone = redis.Redis(port=ports[0])
    key = next(f"m{i}" for i in range(10000) if owner_port(ports[0], RedisCluster.keyslot(
        RedisCluster(host="127.0.0.1", port=ports[0]), f"m{i}")) == ports[0])
    lone.set(key, "v")
    for pid in pids:
        os.kill(pid, 19)  # SIGSTOP
    try:
        deadline = time.monotonic() + 30
        refused = None
        while time.monotonic() < deadline:
            try:
                lone.get(key)
            except redis.exceptions.ClusterDownError as error:
                refused = str(error)
                break
            time.sleep(0.2)
        assert refused == "The cluster is down", refused
        waited = 30 - (deadline - time.monotonic())
    finally:
        for pid in pids:
            os.kill(pid, 18)  # SIGCONT
    deadline = time.monotonic() + 30
    while b"cluster_state:ok" not in lone.execute_command("CLUSTER", "INFO"):
        assert time.monotonic() < deadline, "the cluster did not recover"
        time.sleep(0.2)
    assert lone.get(key) == b"v"
    print(f"a node cut off from the majority refused keys after {waited:.1f} s, "
          f"and served them again once the others were back")


def main():
    binary = os.path.abspath(sys.argv[1])
    ports = three_ports()
    data = tempfile.mkdtemp(prefix="ember-cluster-")
    script = os.path.join(HERE, "cluster.sh")
    try:
        subprocess.run(["bash", script, "start", binary, data, *map(str, ports)],
                       check=True, capture_output=True, text=True, timeout=120)
        check_redis_cli(ports)
        check_redis_py(ports)
        migrate_under_load(ports)
        rollback_under_load(ports)
        reshard_under_load(ports)
        minority_stops_serving(ports, data)
    except Exception:
        for port in ports:
            log = os.path.join(data, str(port), "log")
            if os.path.exists(log):
                print(f"--- {log} (tail)")
                print("".join(open(log).readlines()[-20:]))
        raise
    finally:
        subprocess.run(["bash", script, "stop", data], check=False)
        shutil.rmtree(data, ignore_errors=True)
    print("cluster: all checks passed")


if __name__ == "__main__":
    main()
