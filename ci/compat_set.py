"""redis-py against a running ember: the set family, RESP2 and RESP3.

Usage: python3 ci/compat_set.py PORT
"""
import sys

import redis


def expect_error(call, text: str) -> None:
    try:
        call()
    except redis.ResponseError as error:
        assert text in str(error), str(error)
        return
    raise AssertionError(f"expected an error containing {text!r}")


def check(protocol: int, port: int) -> None:
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol)
    r.flushall()
    # membership
    assert r.sadd("set:a", "x", "y", "z", "x") == 3
    assert r.sadd("set:a", "y", "w") == 1
    assert r.smembers("set:a") == {b"x", b"y", b"z", b"w"}
    assert r.scard("set:a") == 4 and r.scard("set:none") == 0
    assert r.sismember("set:a", "x") in (1, True) and r.sismember("set:a", "q") in (0, False)
    assert [bool(f) for f in r.smismember("set:a", ["x", "q", "w"])] == [True, False, True]
    assert r.srem("set:a", "w", "nope") == 1
    assert r.smembers("set:none") == set()
    # encodings and integer order
    r.sadd("set:ints", 30, -5, 7)
    assert r.object("encoding", "set:ints") == b"intset"
    assert r.execute_command("SMEMBERS", "set:ints") in ([b"-5", b"7", b"30"], {b"-5", b"7", b"30"})
    r.sadd("set:ints", "text")
    assert r.object("encoding", "set:ints") == b"listpack"
    r.sadd("set:ints", *[f"m{i}" for i in range(200)])
    assert r.object("encoding", "set:ints") == b"hashtable"
    # random picks
    assert r.srandmember("set:a") in {b"x", b"y", b"z"}
    assert len(r.srandmember("set:a", 2)) == 2
    assert len(r.srandmember("set:a", -7)) == 7
    assert set(r.srandmember("set:a", 10)) == {b"x", b"y", b"z"}
    assert r.srandmember("set:none") is None and r.srandmember("set:none", 3) == []
    r.sadd("set:pop", *range(10))
    assert r.spop("set:pop") is not None
    popped = r.spop("set:pop", 3)
    assert len(popped) == 3 and r.scard("set:pop") == 6
    assert len(r.spop("set:pop", 100)) == 6 and r.exists("set:pop") == 0
    assert r.spop("set:none") is None
    assert not r.spop("set:none", 2)
    expect_error(lambda: r.spop("set:a", -1), "value is out of range, must be positive")
    # move and algebra
    r.sadd("set:b", "y", "q")
    assert r.smove("set:a", "set:b", "x") is True
    assert r.smove("set:a", "set:b", "nope") is False
    assert r.smembers("set:b") == {b"x", b"y", b"q"}
    assert r.sinter("set:a", "set:b") == {b"y"}
    assert r.sunion("set:a", "set:b") == {b"x", b"y", b"z", b"q"}
    assert r.sdiff("set:b", "set:a") == {b"x", b"q"}
    assert r.sintercard(2, ["set:a", "set:b"]) == 1
    assert r.sintercard(2, ["set:b", "set:b"], limit=2) == 2
    assert r.sinterstore("set:dst", "set:a", "set:b") == 1
    assert r.sunionstore("set:dst", "set:a", "set:b") == 4
    assert r.sdiffstore("set:dst", "set:b", "set:a") == 2 and r.smembers("set:dst") == {b"x", b"q"}
    assert r.sinterstore("set:dst", "set:a", "set:none") == 0 and r.exists("set:dst") == 0
    expect_error(lambda: r.execute_command("SINTERCARD", 0, "set:a"), "numkeys should be greater than 0")
    expect_error(lambda: r.execute_command("SINTERCARD", 1, "set:a", "LIMIT", -1), "LIMIT can't be negative")
    # scan
    big = {f"scan:{i}".encode() for i in range(500)}
    r.sadd("set:big", *big)
    assert set(r.sscan_iter("set:big", count=20)) == big
    assert set(r.sscan_iter("set:big", match="scan:1*")) == {m for m in big if m.startswith(b"scan:1")}
    cursor, found = r.sscan("set:a", 0)
    assert cursor == 0 and sorted(found) == [b"y", b"z"]
    # wrong type
    r.set("set:str", "v")
    for call in (
        lambda: r.sadd("set:str", "a"),
        lambda: r.smembers("set:str"),
        lambda: r.sinter("set:a", "set:str"),
        lambda: r.smove("set:a", "set:str", "absent"),
    ):
        expect_error(call, "WRONGTYPE")
    print(f"redis-py sets RESP{protocol}: ok")


if __name__ == "__main__":
    port = int(sys.argv[1])
    check(2, port)
    check(3, port)
