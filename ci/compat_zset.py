"""redis-py against a running ember: the sorted-set family, RESP2 and RESP3.

Usage: python3 ci/compat_zset.py PORT
"""
import sys

import redis


def pairs(result):
    """Members with scores as (bytes, float) tuples, whatever shape the protocol gave."""
    return [(bytes(m), float(s)) for m, s in result]


def check(protocol: int, port: int) -> None:
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol)
    r.flushall()
    # adding and scoring
    assert r.zadd("zset:a", {"a": 1, "b": 2, "c": 3}) == 3
    assert r.zadd("zset:a", {"a": 5, "d": 4}, nx=True) == 1
    assert r.zadd("zset:a", {"a": 0, "x": 9}, xx=True, ch=True) == 1
    assert r.zadd("zset:a", {"a": 10}, gt=True, ch=True) == 1
    assert r.zadd("zset:a", {"a": 20}, lt=True, ch=True) == 0
    assert r.zadd("zset:a", {"a": 1}, incr=True) == 11.0
    assert r.zadd("zset:a", {"a": 1}, nx=True, incr=True) is None
    assert r.zincrby("zset:a", -10, "a") == 1.0
    assert r.zscore("zset:a", "b") == 2.0 and r.zscore("zset:a", "nope") is None
    assert r.zmscore("zset:a", ["a", "nope", "d"]) == [1.0, None, 4.0]
    assert r.zcard("zset:a") == 4 and r.zcard("zset:missing") == 0
    assert r.zrem("zset:a", "d", "nope") == 1
    try:
        r.zadd("zset:a", {"a": 1}, nx=True, xx=True)
        raise AssertionError("NX with XX must fail")
    except redis.DataError:
        pass  # redis-py refuses it before sending
    try:
        r.execute_command("ZADD", "zset:a", "NX", "XX", 1, "a")
        raise AssertionError("NX with XX must fail")
    except redis.ResponseError as e:
        assert str(e) == "XX and NX options at the same time are not compatible", str(e)
    try:
        r.zincrby("zset:inf", float("inf"), "m")
        r.zincrby("zset:inf", float("-inf"), "m")
        raise AssertionError("inf - inf must fail")
    except redis.ResponseError as e:
        assert "NaN" in str(e), str(e)
    # ranks and ranges
    r.zadd("zset:r", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    assert r.zrank("zset:r", "c") == 2 and r.zrevrank("zset:r", "c") == 2
    assert r.zrank("zset:r", "nope") is None
    assert r.zrank("zset:r", "b", withscore=True) == [1, 2.0]
    assert r.zrange("zset:r", 0, 1) == [b"a", b"b"]
    assert pairs(r.zrange("zset:r", 0, 1, withscores=True)) == [(b"a", 1.0), (b"b", 2.0)]
    assert r.zrange("zset:r", 0, 1, desc=True) == [b"e", b"d"]
    assert r.zrange("zset:r", "(1", 4, byscore=True, offset=1, num=2) == [b"c", b"d"]
    assert r.zrangebyscore("zset:r", 2, "+inf", start=0, num=2) == [b"b", b"c"]
    assert pairs(r.zrevrangebyscore("zset:r", 5, 3, withscores=True)) == [
        (b"e", 5.0),
        (b"d", 4.0),
        (b"c", 3.0),
    ]
    assert r.zrevrange("zset:r", 0, 0) == [b"e"]
    assert r.zcount("zset:r", "(1", 3) == 2
    r.zadd("zset:lex", {"a": 0, "b": 0, "c": 0, "d": 0})
    assert r.zrangebylex("zset:lex", "(a", "[c") == [b"b", b"c"]
    assert r.zrevrangebylex("zset:lex", "+", "-", start=0, num=2) == [b"d", b"c"]
    assert r.zlexcount("zset:lex", "-", "+") == 4
    assert r.zrangestore("zset:dst", "zset:r", 1, 2) == 2
    assert r.zrange("zset:dst", 0, -1) == [b"b", b"c"]
    assert r.zremrangebyrank("zset:dst", 0, 0) == 1
    assert r.zremrangebyscore("zset:r", "-inf", 1) == 1
    assert r.zremrangebylex("zset:lex", "-", "[b") == 2
    # pops
    # Without a count RESP3 replies flat [member, score]; redis-py pairs only RESP2's.
    popped = r.zpopmin("zset:r")
    assert (popped == [b"b", 2.0]) if protocol == 3 else (pairs(popped) == [(b"b", 2.0)]), popped
    assert pairs(r.zpopmax("zset:r", 2)) == [(b"e", 5.0), (b"d", 4.0)]
    assert r.zpopmin("zset:missing") == []
    key, popped = r.zmpop(2, ["zset:missing", "zset:r"], min=True, count=5)
    assert key == b"zset:r" and pairs(popped) == [(b"c", 3.0)]
    assert r.zmpop(1, ["zset:r"], max=True) is None
    assert r.exists("zset:r") == 0
    # set operations
    r.zadd("zset:u1", {"a": 1, "b": 2, "c": 3})
    r.zadd("zset:u2", {"b": 1, "c": 2, "d": 3})
    assert r.zunionstore("zset:out", ["zset:u1", "zset:u2"]) == 4
    assert pairs(r.zrange("zset:out", 0, -1, withscores=True)) == [
        (b"a", 1.0),
        (b"b", 3.0),
        (b"d", 3.0),
        (b"c", 5.0),
    ]
    assert r.zinterstore("zset:out", {"zset:u1": 2, "zset:u2": 3}) == 2
    assert pairs(r.zrange("zset:out", 0, -1, withscores=True)) == [(b"b", 7.0), (b"c", 12.0)]
    assert pairs(r.zunion(["zset:u1", "zset:u2"], aggregate="MAX", withscores=True)) == [
        (b"a", 1.0),
        (b"b", 2.0),
        (b"c", 3.0),
        (b"d", 3.0),
    ]
    assert r.zinter(["zset:u1", "zset:u2"]) == [b"b", b"c"]
    assert r.zdiff(["zset:u1", "zset:u2"]) == [b"a"]
    assert r.zdiffstore("zset:out", ["zset:u1", "zset:u2"]) == 1
    assert r.zintercard(2, ["zset:u1", "zset:u2"], limit=1) == 1
    # random members and scanning
    assert r.zrandmember("zset:u1") in (b"a", b"b", b"c")
    assert sorted(r.zrandmember("zset:u1", 5)) == [b"a", b"b", b"c"]
    assert len(r.zrandmember("zset:u1", -7)) == 7
    assert len(r.zrandmember("zset:u1", 2, withscores=True)) in (2, 4)
    assert dict(r.zscan_iter("zset:u1")) == {b"a": 1.0, b"b": 2.0, b"c": 3.0}
    r.config_set("zset-max-listpack-entries", 8)
    r.zadd("zset:big", {f"m{i}": i for i in range(300)})
    assert r.object("encoding", "zset:big") in (b"skiplist", "skiplist")
    assert len(dict(r.zscan_iter("zset:big", count=20))) == 300
    assert r.zrank("zset:big", "m150") == 150
    assert r.zcount("zset:big", 100, "(200") == 100
    r.config_set("zset-max-listpack-entries", 128)
    assert r.object("encoding", "zset:u1") in (b"listpack", "listpack")
    # wrong type
    r.set("zset:string", "v")
    try:
        r.zadd("zset:string", {"a": 1})
        raise AssertionError("ZADD on a string must fail")
    except redis.ResponseError as e:
        assert str(e).startswith("WRONGTYPE"), str(e)
    print(f"redis-py RESP{protocol} sorted sets: ok")


if __name__ == "__main__":
    port = int(sys.argv[1])
    check(2, port)
    check(3, port)
