"""redis-py against a running ember: the hash family, RESP2 and RESP3.

Usage: python3 ci/compat_hash.py PORT
"""
import sys
import warnings

import redis


def expect_error(call, text: str) -> None:
    try:
        call()
    except redis.ResponseError as e:
        assert text in str(e), f"expected {text!r}, got {str(e)!r}"
        return
    raise AssertionError(f"expected an error containing {text!r}")


def check(protocol: int, port: int) -> None:
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol)
    r.flushall()
    r.config_set("hash-max-listpack-entries", 128)
    r.config_set("hash-max-listpack-value", 64)
    # writes and single-field reads
    assert r.hset("hash:h", "a", "1") == 1
    assert r.hset("hash:h", mapping={"a": "2", "b": "3", "c": "4"}) == 2
    assert r.hset("hash:h", items=["d", "5", "e", "6"]) == 2
    assert r.hsetnx("hash:h", "a", "x") in (0, False)
    assert r.hsetnx("hash:h", "z", "26") in (1, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert r.hmset("hash:m", {"x": 1, "y": 2}) is True
    assert r.hget("hash:h", "a") == b"2" and r.hget("hash:h", "nope") is None
    assert r.hget("hash:missing", "a") is None
    assert r.hmget("hash:h", ["a", "nope", "b"]) == [b"2", None, b"3"]
    assert r.hmget("hash:missing", "a", "b") == [None, None]
    assert r.hlen("hash:h") == 6 and r.hlen("hash:missing") == 0
    assert r.hexists("hash:h", "a") is True and r.hexists("hash:h", "nope") is False
    assert r.hstrlen("hash:h", "a") == 1 and r.hstrlen("hash:h", "nope") == 0
    # whole-hash reads
    everything = {b"a": b"2", b"b": b"3", b"c": b"4", b"d": b"5", b"e": b"6", b"z": b"26"}
    assert r.hgetall("hash:h") == everything
    assert r.hgetall("hash:missing") == {}
    assert sorted(r.hkeys("hash:h")) == sorted(everything)
    assert sorted(r.hvals("hash:h")) == sorted(everything.values())
    assert r.hkeys("hash:missing") == [] and r.hvals("hash:missing") == []
    # deletes: the key goes with its last field
    assert r.hdel("hash:h", "a", "nope") == 1
    assert r.hdel("hash:m", "x", "y", "w") == 2 and r.exists("hash:m") == 0
    # counters
    assert r.hincrby("hash:n", "i", 5) == 5 and r.hincrby("hash:n", "i", -7) == -2
    assert r.hincrbyfloat("hash:n", "f", 10.5) == 10.5
    assert r.hincrbyfloat("hash:n", "f", 0.1) == 10.6
    assert r.hget("hash:n", "f") == b"10.6"
    assert r.hincrbyfloat("hash:n", "g", 1.23) == 1.23 and r.hincrbyfloat("hash:n", "g", 0.77) == 2
    assert r.hget("hash:n", "g") == b"2"
    r.hset("hash:n", "s", "abc")
    expect_error(lambda: r.hincrby("hash:n", "s", 1), "hash value is not an integer")
    expect_error(lambda: r.hincrbyfloat("hash:n", "s", 1), "hash value is not a float")
    r.hset("hash:n", "max", 9223372036854775807)
    expect_error(lambda: r.hincrby("hash:n", "max", 1), "increment or decrement would overflow")
    expect_error(lambda: r.execute_command("HINCRBYFLOAT", "hash:inf", "f", "+inf"), "value is NaN or Infinity")
    assert r.exists("hash:inf") == 0
    # errors
    r.set("hash:str", "v")
    expect_error(lambda: r.hget("hash:str", "a"), "WRONGTYPE")
    expect_error(lambda: r.hset("hash:str", "a", "1"), "WRONGTYPE")
    expect_error(lambda: r.hscan("hash:str"), "WRONGTYPE")
    expect_error(lambda: r.execute_command("HSET", "hash:h", "a", "1", "b"), "wrong number of arguments for 'hset' command")
    # random fields
    fields = set(everything) - {b"a"}
    assert r.hrandfield("hash:h") in fields
    assert r.hrandfield("hash:missing") is None
    assert r.hrandfield("hash:missing", 3) == []
    assert r.hrandfield("hash:h", 0) == []
    assert set(r.hrandfield("hash:h", 100)) == fields
    picked = r.hrandfield("hash:h", 3)
    assert len(picked) == 3 and len(set(picked)) == 3 and set(picked) <= fields
    assert len(r.hrandfield("hash:h", -50)) == 50
    with_values = r.hrandfield("hash:h", -4, withvalues=True)
    if protocol == 2:
        assert len(with_values) == 8
        pairs = list(zip(with_values[::2], with_values[1::2]))
    else:
        assert len(with_values) == 4 and all(len(p) == 2 for p in with_values)
        pairs = [tuple(p) for p in with_values]
    assert all(everything[f] == v for f, v in pairs)
    expect_error(lambda: r.hrandfield("hash:h", -9223372036854775808), "value is out of range")
    expect_error(lambda: r.hrandfield("hash:h", -9223372036854770000, withvalues=True), "value is out of range")
    # scans: a compact hash in one call, a big one with a cursor
    cursor, page = r.hscan("hash:h", 0, count=1)
    assert cursor == 0 and page == {f: everything[f] for f in fields}
    cursor, names = r.hscan("hash:h", 0, match="[bc]", no_values=True)
    assert cursor == 0 and sorted(names) == [b"b", b"c"]
    assert r.hscan("hash:missing") == (0, {})
    assert r.object("encoding", "hash:h") in (b"listpack", "listpack")
    big = {f"field:{i}": f"value:{i}" for i in range(1000)}
    r.hset("hash:big", mapping=big)
    assert r.object("encoding", "hash:big") in (b"hashtable", "hashtable")
    seen = dict(r.hscan_iter("hash:big", count=50))
    assert seen == {k.encode(): v.encode() for k, v in big.items()}
    names = set(r.hscan_iter("hash:big", match="field:1*", no_values=True))
    assert len(names) == 111
    assert r.hlen("hash:big") == 1000
    # conversion thresholds follow CONFIG SET, and a new key starts compact again
    r.config_set("hash-max-ziplist-entries", 2)
    r.hset("hash:small", mapping={"a": 1, "b": 2})
    assert r.object("encoding", "hash:small") in (b"listpack", "listpack")
    r.hset("hash:small", "c", 3)
    assert r.object("encoding", "hash:small") in (b"hashtable", "hashtable")
    r.config_set("hash-max-listpack-entries", 128)
    r.hset("hash:long", "f", "x" * 65)
    assert r.object("encoding", "hash:long") in (b"hashtable", "hashtable")
    pipe = r.pipeline(transaction=False)
    for i in range(200):
        pipe.hset("hash:piped", f"f{i}", i)
        pipe.hincrby("hash:piped", f"f{i}", 1)
    results = pipe.execute()
    assert results[1::2] == list(range(1, 201))
    print(f"redis-py hashes RESP{protocol}: ok")


if __name__ == "__main__":
    port = int(sys.argv[1])
    check(2, port)
    check(3, port)
