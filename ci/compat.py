"""redis-py against a running ember: every command family of the foundation, RESP2 and RESP3.

Usage: python3 ci/compat.py PORT
"""
import sys

import redis


def check(protocol: int, port: int) -> None:
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol)
    r.flushall()
    # strings
    assert r.set("s", "v") is True
    assert r.get("s") == b"v"
    assert r.set("s", "w", nx=True) is None
    assert r.set("s", "w", xx=True, get=True) == b"v"
    assert r.set("t", "1", ex=100) and 99 <= r.ttl("t") <= 100
    assert r.set("t", "2", keepttl=True) and r.ttl("t") > 0
    assert r.setnx("n", 1) is True and r.setnx("n", 2) is False
    assert r.execute_command("SETEX", "e", 10, "v") and r.execute_command("PSETEX", "p", 5000, "v")
    assert r.ttl("e") == 10 and 4000 < r.pttl("p") <= 5000
    assert r.mset({"a": 1, "b": 2, "c": 3}) is True
    assert r.mget("a", "b", "missing", "c") == [b"1", b"2", None, b"3"]
    assert r.msetnx({"a": 9, "z": 9}) is False and r.get("z") is None
    assert r.getset("a", 5) == b"1"
    assert r.getdel("a") == b"5" and r.get("a") is None
    assert r.getex("b", ex=50) == b"2" and r.ttl("b") == 50
    assert r.getex("b", persist=True) == b"2" and r.ttl("b") == -1
    assert r.incr("i") == 1 and r.incrby("i", 10) == 11 and r.decr("i") == 10 and r.decrby("i", 5) == 5
    assert r.incrbyfloat("f", 10.5) == 10.5 and r.incrbyfloat("f", 0.1) == 10.6
    assert r.append("ap", "Hello") == 5 and r.append("ap", " World") == 11
    assert r.strlen("ap") == 11 and r.getrange("ap", 0, 4) == b"Hello"
    assert r.setrange("ap", 6, "Redis") == 11 and r.get("ap") == b"Hello Redis"
    try:
        r.incr("ap")
        raise AssertionError("INCR on a non-number must fail")
    except redis.ResponseError as e:
        assert str(e) == "value is not an integer or out of range", str(e)
    # keys
    assert r.exists("b", "c", "nope") == 2
    assert r.expire("c", 100) is True and r.expire("c", 50, gt=True) is False
    assert r.pexpire("c", 200000, gt=True) is True
    assert r.persist("c") is True and r.ttl("c") == -1 and r.pttl("nope") == -2
    assert r.expireat("c", 4000000000) and r.expiretime("c") == 4000000000
    assert r.type("c") == b"string" and r.type("nope") == b"none"
    assert r.rename("c", "c2") is True and r.get("c2") == b"3"
    assert r.renamenx("c2", "b") is False
    assert r.touch("b", "c2") == 2
    assert r.delete("b", "nope") == 1 and r.unlink("c2") == 1
    # dump and restore
    assert r.rpush("dl", "a", "b") == 2 and r.dump("nope") is None
    payload = r.dump("dl")
    assert r.restore("dl2", 5000, payload) and r.lrange("dl2", 0, -1) == [b"a", b"b"]
    assert 4000 < r.pttl("dl2") <= 5000
    try:
        r.restore("dl2", 0, payload)
        raise AssertionError("RESTORE over an existing key must fail")
    except redis.ResponseError as e:
        assert str(e) == "BUSYKEY Target key name already exists.", str(e)
    assert r.restore("dl2", 0, payload, replace=True, idletime=10) and r.pttl("dl2") == -1
    r.flushdb()
    for i in range(500):
        r.set(f"user:{i}", i)
    assert set(r.scan_iter(match="user:*", count=37)) == {f"user:{i}".encode() for i in range(500)}
    assert len(r.keys("user:1*")) == 111
    assert r.randomkey() is not None
    assert r.dbsize() == 500
    # server and connection
    assert r.ping() is True and r.echo("hi") == b"hi"
    assert r.client_setname("compat")
    assert r.client_getname() in ("compat", b"compat")
    assert isinstance(r.client_id(), int)
    assert any(c.get("name") == "compat" for c in r.client_list())
    assert r.config_get("port")["port"] == str(port)
    assert r.config_set("hz", 15) and r.config_get("hz")["hz"] == "15"
    info = r.info()
    assert info["redis_version"] == "7.2.4" and info["tcp_port"] == port
    assert r.info("keyspace")["db0"]["keys"] == 500
    assert len(r.time()) == 2
    assert r.command_count() > 50
    assert r.execute_command("SELECT", 3)
    pipe = r.pipeline(transaction=False)
    for i in range(1000):
        pipe.set(f"p:{i}", i)
        pipe.incr(f"p:{i}")
    results = pipe.execute()
    assert results[1::2] == list(range(1, 1001))
    print(f"redis-py RESP{protocol}: ok")


if __name__ == "__main__":
    port = int(sys.argv[1])
    check(2, port)
    check(3, port)
