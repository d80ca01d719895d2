"""redis-py against a running ember: the bitmap family (bit operations on strings), RESP2 and RESP3.

Usage: python3 ci/compat_bitmap.py PORT
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
    # SETBIT and GETBIT
    assert r.setbit("bitmap:a", 7, 1) == 0 and r.setbit("bitmap:a", 7, 1) == 1
    assert r.setbit("bitmap:a", 100, 1) == 0 and r.strlen("bitmap:a") == 13
    assert r.getbit("bitmap:a", 7) == 1 and r.getbit("bitmap:a", 6) == 0
    assert r.getbit("bitmap:a", 100000) == 0 and r.getbit("bitmap:none", 0) == 0
    assert r.get("bitmap:a")[:1] == b"\x01"
    # BITCOUNT
    r.set("bitmap:s", "foobar")
    assert r.bitcount("bitmap:s") == 26
    assert r.bitcount("bitmap:s", 0, 0) == 4 and r.bitcount("bitmap:s", 1, 1) == 6
    assert r.bitcount("bitmap:s", 1, 1, mode="BYTE") == 6
    assert r.bitcount("bitmap:s", 5, 30, mode="BIT") == 17
    assert r.bitcount("bitmap:s", -2, -1) == 7 and r.bitcount("bitmap:s", -1, -2) == 0
    assert r.bitcount("bitmap:none") == 0
    # BITPOS, with the documented edge cases
    r.set("bitmap:p", b"\xff\xf0\x00")
    assert r.bitpos("bitmap:p", 0) == 12
    r.set("bitmap:p", b"\x00\xff\xf0")
    assert r.bitpos("bitmap:p", 1, 0) == 8 and r.bitpos("bitmap:p", 1, 2) == 16
    assert r.bitpos("bitmap:p", 1, 7, 15, mode="BIT") == 8
    r.set("bitmap:p", b"\x00\x00\x00")
    assert r.bitpos("bitmap:p", 1) == -1
    r.set("bitmap:ones", b"\xff\xff\xff")
    assert r.bitpos("bitmap:ones", 0) == 24
    assert r.bitpos("bitmap:ones", 0, 0, -1) == -1
    assert r.bitpos("bitmap:ones", 0, 0, 23, mode="BIT") == -1
    assert r.bitpos("bitmap:none", 1) == -1 and r.bitpos("bitmap:none", 0) == 0
    # BITOP
    r.set("bitmap:k1", "foobar")
    r.set("bitmap:k2", "abcdef")
    assert r.bitop("AND", "bitmap:dest", "bitmap:k1", "bitmap:k2") == 6
    assert r.get("bitmap:dest") == b"`bc`ab"
    assert r.bitop("OR", "bitmap:dest", "bitmap:k1", "bitmap:missing") == 6
    assert r.get("bitmap:dest") == b"foobar"
    assert r.bitop("XOR", "bitmap:dest", "bitmap:k1", "bitmap:k1") == 6
    assert r.get("bitmap:dest") == b"\x00" * 6
    assert r.bitop("NOT", "bitmap:dest", "bitmap:p") == 3 and r.get("bitmap:dest") == b"\xff" * 3
    assert r.bitop("NOT", "bitmap:dest", "bitmap:missing") == 0 and r.exists("bitmap:dest") == 0
    # BITFIELD and BITFIELD_RO
    bf = r.bitfield("bitmap:f")
    assert bf.incrby("i5", 100, 1).get("u4", 0).execute() == [1, 0]
    assert r.bitfield("bitmap:f").set("i8", "#0", 100).set("i8", "#1", 200).get("u8", 8).execute() == [0, 0, 200]
    ops = r.bitfield("bitmap:f").overflow("SAT").incrby("u2", 102, 7)
    ops = ops.overflow("FAIL").incrby("u2", 102, 1).overflow("WRAP").incrby("u2", 102, 1)
    assert ops.execute() == [3, None, 0]
    assert r.bitfield("bitmap:f", default_overflow="SAT").set("i8", 200, 300).get("i8", 200).execute() == [0, 127]
    assert r.bitfield("bitmap:g").overflow("FAIL").set("u8", 100, 256).execute() == [None]
    assert r.strlen("bitmap:g") == 14
    assert r.bitfield("bitmap:h").set("i64", 0, -1).get("u63", 0).get("i64", 0).execute() == [0, 2**63 - 1, -1]
    assert r.bitfield_ro("bitmap:h", "i8", 0, items=[("u1", 63), ("u8", 64)]) == [-1, 1, 0]
    assert r.execute_command("BITFIELD", "bitmap:h") == []
    # errors
    offset = "bit offset is not an integer or out of range"
    expect_error(lambda: r.setbit("bitmap:e", -1, 1), offset)
    expect_error(lambda: r.setbit("bitmap:e", 2**32, 1), offset)
    expect_error(lambda: r.execute_command("SETBIT", "bitmap:e", 0, 2), "bit is not an integer or out of range")
    expect_error(lambda: r.execute_command("BITCOUNT", "bitmap:s", 0), "syntax error")
    expect_error(lambda: r.execute_command("BITCOUNT", "bitmap:s", 0, 1, "BITS"), "syntax error")
    expect_error(lambda: r.execute_command("BITPOS", "bitmap:s", 2), "The bit argument must be 1 or 0.")
    expect_error(lambda: r.bitop("NOT", "bitmap:d", "bitmap:k1", "bitmap:k2"),
                 "BITOP NOT must be called with a single source key.")
    expect_error(lambda: r.bitfield("bitmap:e").get("u64", 0).execute(),
                 "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")
    expect_error(lambda: r.execute_command("BITFIELD", "bitmap:e", "OVERFLOW", "NOPE"), "Invalid OVERFLOW type specified")
    expect_error(lambda: r.execute_command("BITFIELD_RO", "bitmap:e", "SET", "u8", 0, 1),
                 "BITFIELD_RO only supports the GET subcommand")
    assert r.exists("bitmap:e") == 0
    r.rpush("bitmap:list", "x")
    wrong = "WRONGTYPE Operation against a key holding the wrong kind of value"
    for call in (lambda: r.setbit("bitmap:list", 0, 1), lambda: r.getbit("bitmap:list", 0),
                 lambda: r.bitcount("bitmap:list"), lambda: r.bitpos("bitmap:list", 1),
                 lambda: r.bitop("OR", "bitmap:d", "bitmap:list")):
        try:
            call()
            raise AssertionError("expected WRONGTYPE")
        except redis.ResponseError as e:
            assert str(e) == wrong, str(e)
    print(f"redis-py RESP{protocol} bitmap: ok")


if __name__ == "__main__":
    port = int(sys.argv[1])
    check(2, port)
    check(3, port)
