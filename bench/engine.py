"""The engine against redis-server, side by side in the same run (issue 4's benchmarks).

Builds ember in release (unless given a binary), installs redis-server and redis-tools from
the distribution when missing, and measures, alternating ember and redis for every cell:

1. Throughput: `redis-benchmark -t set,get -d 64 -r 1000000 -c 50 -n N -P {1,16}`: ops/s,
   p50/p99/p99.9 latency, and server CPU seconds per million operations (utime+stime of
   the server process from /proc), unpinned with ember's default shard count, and pinned
   (server on core 0, client on core 1, ember with one shard).
2. Memory: RSS per key after loading 1,000,000 keys of 14-byte names and 16-byte values,
   without and with a TTL on every key, and INFO used_memory against RSS.
3. Idle: server CPU over 10 s of doing nothing with those million keys loaded.
4. Eviction: allkeys-lru under a 64 MB limit (`maxmemory 64mb`): time to write about 1 GB
   (1,000,000 SETs of 1,000-byte values over 10,000,000 key names), and RSS at the end.

Usage: python3 bench/engine.py [path/to/ember-server] [requests]
Prints a markdown report (ratios ember/redis) for bench/README.md.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROUNDS = 2
KEYS = 1_000_000
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def ensure_tools():
    if shutil.which("redis-server") and shutil.which("redis-benchmark"):
        return
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server", "redis-tools"],
                   check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def build_ember() -> str:
    subprocess.run(["cargo", "build", "--release", "--bin", "ember-server"], check=True)
    return os.path.join("target", "release", "ember-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(port, *args) -> str:
    return subprocess.run(["redis-cli", "-p", str(port), *args], check=True,
                          capture_output=True, text=True).stdout


class Server:
    def __init__(self, kind, ember, cores=None, shards=None, extra=()):
        self.kind = kind
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"bench-{kind}-")
        if kind == "redis":
            cmd = ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no",
                   "--dir", self.dir]
            cmd += [a for pair in extra for a in (f"--{pair[0]}", pair[1])]
        else:
            cmd = [ember, "--port", str(self.port), "--data-dir", self.dir]
            if shards:
                cmd += ["--shards", str(shards)]
            cmd += [a for pair in extra for a in (f"--{pair[0]}", pair[1])]
        if cores is not None:
            cmd = ["taskset", "-c", cores] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if "PONG" in cli(self.port, "PING"):
                    return
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{kind} did not start")

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.proc.pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def info(self, field) -> int:
        text = cli(self.port, "INFO", "memory")
        return int(re.search(rf"^{field}:(\d+)", text, re.M).group(1))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def benchmark(port, test, pipeline, requests, client_cores=None, data=64, keyspace=1_000_000):
    cmd = ["redis-benchmark", "-p", str(port), "-t", test, "-d", str(data), "-r", str(keyspace),
           "-c", "50", "-n", str(requests), "-P", str(pipeline)]
    if client_cores is not None:
        cmd = ["taskset", "-c", client_cores] + cmd
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"throughput summary: ([\d.]+) requests per second", out).group(1))
    summary = re.search(r"latency summary \(msec\):\s*\n\s*avg.*\n\s*([\d.\s]+)", out).group(1).split()
    p50, p99 = float(summary[2]), float(summary[4])
    p999 = p99
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)% <= ([\d.]+) milliseconds", line)
        if m and float(m.group(1)) >= 99.9:
            p999 = float(m.group(2))
            break
    return rps, p50, p99, p999


def throughput(ember, requests, pinned):
    rows = []
    for pipeline in (1, 16):
        for test in ("set", "get"):
            best = {}
            for _ in range(ROUNDS):
                for kind in ("ember", "redis"):
                    server = Server(kind, ember, cores="0" if pinned else None,
                                    shards=1 if pinned else None)
                    try:
                        if test == "get":
                            benchmark(server.port, "set", 16, 200_000,
                                      client_cores="1" if pinned else None)
                        before = server.cpu_seconds()
                        rps, p50, p99, p999 = benchmark(server.port, test, pipeline, requests,
                                                        client_cores="1" if pinned else None)
                        cpu = (server.cpu_seconds() - before) / requests * 1e6
                    finally:
                        server.stop()
                    if kind not in best or rps > best[kind][0]:
                        best[kind] = (rps, p50, p99, p999, cpu)
            rows.append((test.upper(), pipeline, best["ember"], best["redis"]))
    return rows


def load_keys(port, ttl):
    lines = []
    for i in range(KEYS):
        key = f"key:{i:010d}"  # 14 bytes
        value = f"{i:016d}"  # 16 bytes
        if ttl:
            lines.append(f"*5\r\n$3\r\nSET\r\n$14\r\n{key}\r\n$16\r\n{value}\r\n$2\r\nEX\r\n$6\r\n360000\r\n")
        else:
            lines.append(f"*3\r\n$3\r\nSET\r\n$14\r\n{key}\r\n$16\r\n{value}\r\n")
    payload = "".join(lines).encode()
    subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=payload, check=True,
                   capture_output=True)
    assert int(cli(port, "DBSIZE").strip()) == KEYS


def memory(ember):
    rows = []
    for ttl in (False, True):
        result = {}
        for kind in ("ember", "redis"):
            server = Server(kind, ember)
            try:
                empty = server.rss_bytes()
                load_keys(server.port, ttl)
                time.sleep(1)
                rss = server.rss_bytes()
                used = server.info("used_memory")
                idle = None
                if not ttl:
                    before = server.cpu_seconds()
                    time.sleep(10)
                    idle = (server.cpu_seconds() - before) / 10 * 100
                result[kind] = (rss / KEYS, (rss - empty) / KEYS, used, rss, idle)
            finally:
                server.stop()
        rows.append((ttl, result["ember"], result["redis"]))
    return rows


def eviction(ember):
    result = {}
    for kind in ("ember", "redis"):
        server = Server(kind, ember, extra=(("maxmemory", "64mb"),
                                            ("maxmemory-policy", "allkeys-lru")))
        try:
            started = time.monotonic()
            benchmark(server.port, "set", 16, 1_000_000, data=1000, keyspace=10_000_000)
            seconds = time.monotonic() - started
            result[kind] = (seconds, server.rss_bytes(), server.info("used_memory"))
        finally:
            server.stop()
    return result


def main():
    ensure_tools()
    ember = sys.argv[1] if len(sys.argv) > 1 else build_ember()
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    version = subprocess.run(["redis-server", "--version"], capture_output=True,
                             text=True).stdout.split()[2].removeprefix("v=")
    print(f"# ember vs redis-server {version}, {time.strftime('%Y-%m-%d')}, "
          f"{os.cpu_count()} cores, {requests} requests per cell, best of {ROUNDS}\n")
    for pinned in (False, True):
        title = ("Pinned: server on core 0 (ember --shards 1), client on core 1" if pinned
                 else "Unpinned, ember's default shard count")
        print(f"## {title}\n")
        print("| test | -P | ember ops/s | redis ops/s | ratio | ember p50/p99/p99.9 ms "
              "| redis p50/p99/p99.9 ms | CPU s per M ops ember / redis (ratio) |")
        print("|---|---|---|---|---|---|---|---|")
        for test, pipeline, e, r in throughput(ember, requests, pinned):
            print(f"| {test} | {pipeline} | {e[0]:,.0f} | {r[0]:,.0f} | {e[0] / r[0]:.2f} "
                  f"| {e[1]}/{e[2]}/{e[3]} | {r[1]}/{r[2]}/{r[3]} "
                  f"| {e[4]:.2f} / {r[4]:.2f} ({e[4] / r[4]:.2f}) |")
        print()
    print("## Memory: 1,000,000 keys, 14-byte names, 16-byte values\n")
    print("| TTL | ember RSS/key | redis RSS/key | ember (RSS-empty)/key | redis (RSS-empty)/key "
          "| ember used_memory/RSS | redis used_memory/RSS | idle CPU % ember / redis |")
    print("|---|---|---|---|---|---|---|---|")
    for ttl, e, r in memory(ember):
        idle = f"{e[4]:.2f} / {r[4]:.2f}" if e[4] is not None else "-"
        print(f"| {'yes' if ttl else 'no'} | {e[0]:.1f} | {r[0]:.1f} | {e[1]:.1f} | {r[1]:.1f} "
              f"| {e[2] / e[3]:.2f} | {r[2] / r[3]:.2f} | {idle} |")
    print()
    print("## Eviction: allkeys-lru, maxmemory 64mb, 1,000,000 SETs of 1,000 bytes (-P 16)\n")
    result = eviction(ember)
    e, r = result["ember"], result["redis"]
    limit = 64 * 1024 * 1024
    print("| | seconds | speed vs redis | RSS MB | RSS / limit | used_memory MB |")
    print("|---|---|---|---|---|---|")
    for kind, v in (("ember", e), ("redis", r)):
        print(f"| {kind} | {v[0]:.1f} | {r[0] / v[0]:.2f} | {v[1] / 2**20:.1f} "
              f"| {v[1] / limit:.2f} | {v[2] / 2**20:.1f} |")


if __name__ == "__main__":
    main()
