"""AOF write throughput and restart load time: ember against redis-server, same run.

1. Throughput: for `appendfsync everysec` and `always`, starts each server with the AOF
   on (redis: no RDB snapshots) in a fresh directory and runs
   `redis-benchmark -t set -d 64 -r 1000000 -c 50 -n N -P {1,16}` against it, alternating
   ember and redis for each cell so both see the same machine state.
2. Load time: loads about DATASET_MB of data (1 KiB values) into each server, writes a
   snapshot (SAVE), stops it, restarts it on the same directory and times start to first
   non-LOADING reply; then the same from the AOF alone (redis: appendonly with no
   preamble; ember: the AOF with no snapshot).

3. BGSAVE under load: loads keys, then runs redis-benchmark SET at -P 1 alone and again
   right after a BGSAVE starts, and reports throughput, p50/p99/max latency and how long
   the save took (redis forks; ember writes a few keys at a time from each shard's thread,
   saving a key's old value first when a write reaches a key not yet saved).

Usage: python3 bench/persistence.py path/to/ember-server [requests] [dataset_mb] [shards]
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(kind: str, ember: str, data_dir: str, aof: bool, fsync: str, shards: str):
    port = free_port()
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--dir", data_dir, "--save", "",
               "--appendonly", "yes" if aof else "no", "--appendfsync", fsync,
               "--aof-use-rdb-preamble", "no"]
    else:
        cmd = [ember, "--port", str(port), "--data-dir", data_dir,
               "--appendonly", "yes" if aof else "no", "--appendfsync", fsync]
        if shards:
            cmd += ["--shards", shards]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    while time.monotonic() - started < 600:
        try:
            client.ping()
            return proc, port, time.monotonic() - started
        except (redis.ConnectionError, redis.exceptions.BusyLoadingError):
            time.sleep(0.01)
    raise RuntimeError(f"{kind} did not start")


def stop(proc, port):
    try:
        redis.Redis(port=port).shutdown(nosave=True)
    except redis.ConnectionError:
        pass
    proc.wait(timeout=60)


def benchmark(port: int, requests: int, pipeline: int) -> float:
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", "set", "-d", "64", "-r", "1000000",
         "-c", "50", "-n", str(requests), "-P", str(pipeline), "-q"],
        capture_output=True, text=True, check=True).stdout
    match = re.search(r"SET: ([0-9.]+) requests per second", out.replace("\r", "\n"))
    return float(match.group(1))


def throughput(ember: str, requests: int, shards: str):
    print("| fsync | pipeline | redis ops/s | ember ops/s | ember / redis |")
    print("|---|---:|---:|---:|---:|")
    for fsync in ["everysec", "always"]:
        for pipeline in [1, 16]:
            rates = {}
            for kind in ["redis", "ember"]:
                data = tempfile.mkdtemp(prefix=f"bench-{kind}-")
                proc, port, _ = start(kind, ember, data, True, fsync, shards)
                try:
                    rates[kind] = benchmark(port, requests, pipeline)
                finally:
                    stop(proc, port)
                    shutil.rmtree(data)
            print(f"| {fsync} | {pipeline} | {rates['redis']:.0f} | {rates['ember']:.0f} | "
                  f"{rates['ember'] / rates['redis']:.2f} |", flush=True)


def load_time(ember: str, dataset_mb: int, shards: str):
    keys = dataset_mb * 1024
    print("| source | dataset | redis s | ember s | ember / redis |")
    print("|---|---:|---:|---:|---:|")
    for source in ["snapshot", "aof"]:
        times = {}
        for kind in ["redis", "ember"]:
            data = tempfile.mkdtemp(prefix=f"bench-{kind}-")
            aof = source == "aof"
            proc, port, _ = start(kind, ember, data, aof, "everysec", shards)
            subprocess.run(
                ["redis-benchmark", "-p", str(port), "-t", "set", "-d", "1024", "-r",
                 str(keys), "-n", str(keys * 2), "-c", "50", "-P", "16", "-q"],
                capture_output=True, check=True)
            client = redis.Redis(port=port)
            size = client.dbsize()
            if not aof:
                client.save()
            stop(proc, port)
            proc, port, seconds = start(kind, ember, data, aof, "everysec", shards)
            assert redis.Redis(port=port).dbsize() == size
            times[kind] = seconds
            stop(proc, port)
            shutil.rmtree(data)
        print(f"| {source} | {dataset_mb} MB ({keys} keys) | {times['redis']:.2f} | "
              f"{times['ember']:.2f} | {times['ember'] / times['redis']:.2f} |", flush=True)


def latency(port: int, requests: int) -> str:
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-t", "set", "-d", "64", "-r", "1000000",
         "-c", "20", "-n", str(requests), "-P", "1", "--csv"],
        capture_output=True, text=True, check=True).stdout
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    row = [c.strip('"') for c in out.strip().splitlines()[-1].split(",")]
    return f"{float(row[1]):.0f} ops/s, p50 {row[4]} ms, p99 {row[6]} ms, max {row[7]} ms"


def bgsave_under_load(ember: str, keys: int, requests: int, shards: str):
    print("| server | SET alone | SET during BGSAVE | BGSAVE took |")
    print("|---|---|---|---:|")
    for kind in ["redis", "ember"]:
        data = tempfile.mkdtemp(prefix=f"bench-{kind}-")
        proc, port, _ = start(kind, ember, data, False, "everysec", shards)
        try:
            subprocess.run(
                ["redis-benchmark", "-p", str(port), "-t", "set", "-d", "100", "-r",
                 str(keys), "-n", str(keys * 2), "-c", "50", "-P", "16", "-q"],
                capture_output=True, check=True)
            client = redis.Redis(port=port)
            alone = latency(port, requests)
            before = client.lastsave()
            started = time.monotonic()
            client.bgsave()
            during = latency(port, requests)
            while client.lastsave() == before or client.info("persistence")["rdb_bgsave_in_progress"]:
                time.sleep(0.01)
            took = time.monotonic() - started
            print(f"| {kind} ({client.dbsize()} keys) | {alone} | {during} | {took:.2f} s |", flush=True)
        finally:
            stop(proc, port)
            shutil.rmtree(data)


def main():
    ember = sys.argv[1]
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    dataset_mb = int(sys.argv[3]) if len(sys.argv) > 3 else 1024
    shards = sys.argv[4] if len(sys.argv) > 4 else ""
    print(f"redis-server: {subprocess.run(['redis-server', '--version'], capture_output=True, text=True).stdout.strip()}")
    print(f"cores: {os.cpu_count()}, requests per cell: {requests}, shards: {shards or 'default'}\n")
    throughput(ember, requests, shards)
    print()
    load_time(ember, dataset_mb, shards)
    print()
    bgsave_under_load(ember, dataset_mb * 1024, requests, shards)


if __name__ == "__main__":
    main()
