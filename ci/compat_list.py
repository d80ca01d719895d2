"""redis-py against a running ember: the list family, RESP2 and RESP3.

Usage: python3 ci/compat_list.py PORT
"""
import sys

import redis


def expect_error(call, text: str) -> None:
    try:
        call()
    except redis.ResponseError as e:
        assert str(e) == text, str(e)
        return
    raise AssertionError(f"expected the error {text!r}")


def check(protocol: int, port: int) -> None:
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol)
    r.flushall()
    # pushes and pops
    assert r.rpush("list:a", "a", "b", "c") == 3
    assert r.lpush("list:a", "y", "x") == 5
    assert r.lrange("list:a", 0, -1) == [b"x", b"y", b"a", b"b", b"c"]
    assert r.lpushx("list:a", "w") == 6 and r.rpushx("list:a", "d") == 7
    assert r.lpushx("list:none", "w") == 0 and r.exists("list:none") == 0
    assert r.llen("list:a") == 7 and r.llen("list:none") == 0
    assert r.lpop("list:a") == b"w" and r.rpop("list:a") == b"d"
    assert r.lpop("list:a", 2) == [b"x", b"y"]
    assert r.rpop("list:a", 0) == []
    assert r.lpop("list:none") is None and r.lpop("list:none", 3) is None
    assert r.rpop("list:a", 10) == [b"c", b"b", b"a"]
    assert r.exists("list:a") == 0
    expect_error(lambda: r.lpop("list:a", -1), "value is out of range, must be positive")
    # indexes, edits, ranges
    r.rpush("list:b", *"abcde")
    assert r.lindex("list:b", 0) == b"a" and r.lindex("list:b", -1) == b"e"
    assert r.lindex("list:b", 9) is None
    assert r.lset("list:b", 1, "B") is True
    expect_error(lambda: r.lset("list:b", 9, "z"), "index out of range")
    expect_error(lambda: r.lset("list:none", 0, "z"), "no such key")
    assert r.linsert("list:b", "BEFORE", "c", "x") == 6
    assert r.linsert("list:b", "AFTER", "e", "y") == 7
    assert r.linsert("list:b", "AFTER", "zz", "y") == -1
    assert r.linsert("list:none", "AFTER", "a", "y") == 0
    assert r.lrange("list:b", 0, -1) == [b"a", b"B", b"x", b"c", b"d", b"e", b"y"]
    assert r.lrange("list:b", -3, -2) == [b"d", b"e"] and r.lrange("list:b", 5, 2) == []
    assert r.ltrim("list:b", 1, -2) is True
    assert r.lrange("list:b", 0, -1) == [b"B", b"x", b"c", b"d", b"e"]
    # LREM from either end
    r.rpush("list:c", "a", "x", "b", "x", "c", "x")
    assert r.lrem("list:c", 1, "x") == 1
    assert r.lrem("list:c", -1, "x") == 1
    assert r.lrange("list:c", 0, -1) == [b"a", b"b", b"x", b"c"]
    assert r.lrem("list:c", 0, "x") == 1 and r.lrem("list:c", 0, "nope") == 0
    # LPOS
    r.rpush("list:p", "a", "b", "c", "1", "2", "3", "c", "c")
    assert r.lpos("list:p", "c") == 2
    assert r.lpos("list:p", "c", rank=-1) == 7
    assert r.lpos("list:p", "c", rank=2) == 6
    assert r.lpos("list:p", "c", count=0) == [2, 6, 7]
    assert r.lpos("list:p", "c", rank=-1, count=2) == [7, 6]
    assert r.lpos("list:p", "c", count=0, maxlen=7) == [2, 6]
    assert r.lpos("list:p", "z") is None and r.lpos("list:p", "z", count=1) == []
    assert r.lpos("list:none", "z") is None
    expect_error(
        lambda: r.lpos("list:p", "c", rank=0),
        "RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
        "or use negative to start from the end of the list",
    )
    expect_error(lambda: r.lpos("list:p", "c", count=-1), "COUNT can't be negative")
    expect_error(lambda: r.lpos("list:p", "c", maxlen=-1), "MAXLEN can't be negative")
    # moves
    r.rpush("list:src", "a", "b", "c", "d")
    assert r.lmove("list:src", "list:dst", "LEFT", "RIGHT") == b"a"
    assert r.lmove("list:src", "list:dst", "RIGHT", "LEFT") == b"d"
    assert r.rpoplpush("list:src", "list:dst") == b"c"
    assert r.lrange("list:dst", 0, -1) == [b"c", b"d", b"a"]
    assert r.lmove("list:dst", "list:dst", "LEFT", "RIGHT") == b"c"
    assert r.lrange("list:dst", 0, -1) == [b"d", b"a", b"c"]
    assert r.lmove("list:none", "list:dst") is None and r.rpoplpush("list:none", "list:dst") is None
    # LMPOP
    assert r.lmpop(2, "list:none", "list:dst", direction="RIGHT", count=2) == [b"list:dst", [b"c", b"a"]]
    assert r.lmpop(1, "list:none", direction="LEFT") is None
    expect_error(lambda: r.execute_command("LMPOP", 0, "list:x", "LEFT"), "numkeys should be greater than 0")
    expect_error(
        lambda: r.execute_command("LMPOP", 1, "list:x", "LEFT", "COUNT", 0), "count should be greater than 0"
    )
    expect_error(lambda: r.execute_command("LMPOP", 1, "list:x", "UP"), "syntax error")
    # types
    r.set("list:str", "v")
    for call in (
        lambda: r.lpush("list:str", "a"),
        lambda: r.lrange("list:str", 0, -1),
        lambda: r.lpos("list:str", "a"),
        lambda: r.lmove("list:dst", "list:str"),
    ):
        expect_error(call, "WRONGTYPE Operation against a key holding the wrong kind of value")
    # encodings
    r.rpush("list:enc", *range(10))
    assert r.object("encoding", "list:enc") in (b"listpack", "listpack")
    r.rpush("list:enc", "x" * 9000)
    assert r.object("encoding", "list:enc") in (b"quicklist", "quicklist")
    r.rpop("list:enc")
    assert r.object("encoding", "list:enc") in (b"listpack", "listpack")
    print(f"redis-py RESP{protocol} lists: ok")


if __name__ == "__main__":
    port = int(sys.argv[1])
    check(2, port)
    check(3, port)
