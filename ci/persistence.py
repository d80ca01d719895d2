"""Acceptance check for persistence with redis-py against the real binary: write under
`--appendonly yes --appendfsync always`, kill -9 the server mid-stream, restart it on the
same directory, and check that every acknowledged write is there and nothing else; the
same with a BGREWRITEAOF and with a BGSAVE during the stream.

usage: python3 ci/persistence.py path/to/ember-server
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import redis


def start(binary, data_dir):
    process = subprocess.Popen(
        [binary, "--port", "0", "--shards", "3", "--data-dir", data_dir,
         "--appendonly", "yes", "--appendfsync", "always"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    assert line.startswith("ember listening on "), line
    port = int(line.strip().rsplit(":", 1)[1])
    client = redis.Redis(port=port, decode_responses=True)
    for _ in range(500):
        try:
            client.ping()
            break
        except redis.exceptions.BusyLoadingError:
            time.sleep(0.01)
    return process, client


def run(binary, during):
    with tempfile.TemporaryDirectory() as data_dir:
        process, client = start(binary, data_dir)
        acked = [0]
        stop = threading.Event()

        def writer():
            writer_client = redis.Redis(port=client.connection_pool.connection_kwargs["port"])
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    writer_client.rpush("log", n)
                    writer_client.set(f"k:{n}", n)
                    writer_client.hset("h", f"f{n}", n)
                except redis.exceptions.ConnectionError:
                    return
                acked[0] = n

        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(0.5)
        if during:
            client.execute_command(during)
            time.sleep(0.5)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        stop.set()
        thread.join()
        assert acked[0] > 50, f"the writer got going: {acked[0]}"
        process, client = start(binary, data_dir)
        try:
            log = [int(x) for x in client.lrange("log", 0, -1)]
            assert len(log) >= acked[0], (len(log), acked[0])
            assert log == list(range(1, len(log) + 1)), "the log is 1..n"
            assert client.get(f"k:{acked[0]}") == str(acked[0])
            assert int(client.hget("h", f"f{acked[0]}")) == acked[0]
            print(f"persistence ({during or 'plain'}): {acked[0]} acknowledged, "
                  f"{len(log)} recovered after kill -9")
        finally:
            process.terminate()
            process.wait()


def main():
    binary = sys.argv[1]
    for during in [None, "BGREWRITEAOF", "BGSAVE"]:
        run(binary, during)
    print("persistence checks passed")


if __name__ == "__main__":
    main()
