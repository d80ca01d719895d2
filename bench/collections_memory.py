"""Bytes of RSS per element for small collections: ember against redis-server, same run.

For each type, loads KEYS keys of ELEMENTS small elements each (small enough to stay in the
compact encodings: listpack / intset) into a fresh server, and reports
(RSS after - RSS before) / (KEYS * ELEMENTS). Both servers run on loopback with persistence
off; RSS comes from /proc/<pid>/status.

Usage: python3 bench/collections_memory.py path/to/ember-server [keys] [elements]
"""
import os
import socket
import subprocess
import sys
import time

import redis

TYPES = ["hash", "set-int", "set-str", "list", "zset"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def start(kind: str, ember: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"]
    else:
        cmd = [ember, "--port", str(port), "--shards", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return proc, port
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"{kind} did not start")


def load(client: redis.Redis, kind: str, keys: int, elements: int) -> None:
    pipe = client.pipeline(transaction=False)
    for k in range(keys):
        key = f"{kind}:{k:08d}"
        if kind == "hash":
            pipe.hset(key, mapping={f"field{e}": f"value{e:04d}" for e in range(elements)})
        elif kind == "set-int":
            pipe.sadd(key, *[k * elements + e for e in range(elements)])
        elif kind == "set-str":
            pipe.sadd(key, *[f"member{e:04d}" for e in range(elements)])
        elif kind == "list":
            pipe.rpush(key, *[f"item{e:04d}" for e in range(elements)])
        elif kind == "zset":
            pipe.zadd(key, {f"member{e:04d}": e * 1.5 for e in range(elements)})
        if k % 1000 == 999:
            pipe.execute()
    pipe.execute()


def measure(server: str, ember: str, kind: str, keys: int, elements: int) -> float:
    proc, port = start(server, ember)
    try:
        client = redis.Redis(port=port)
        time.sleep(0.2)
        before = rss_bytes(proc.pid)
        load(client, kind, keys, elements)
        time.sleep(0.2)
        after = rss_bytes(proc.pid)
        encoding = client.object("encoding", f"{kind}:{0:08d}")
        return (after - before) / (keys * elements), encoding
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ember = sys.argv[1]
    keys = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    elements = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"# {keys} keys x {elements} elements each; {version}")
    print(f"{'type':<8} {'redis B/elem':>13} {'ember B/elem':>13} {'ember/redis':>12}  encodings (redis, ember)")
    for kind in TYPES:
        redis_bytes, redis_enc = measure("redis", ember, kind, keys, elements)
        ember_bytes, ember_enc = measure("ember", ember, kind, keys, elements)
        ratio = ember_bytes / redis_bytes if redis_bytes else float("nan")
        print(f"{kind:<8} {redis_bytes:>13.1f} {ember_bytes:>13.1f} {ratio:>12.2f}  {redis_enc.decode()}, {ember_enc.decode()}")


if __name__ == "__main__":
    main()
