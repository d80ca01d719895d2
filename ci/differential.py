#!/usr/bin/env python3
"""Differential testing: ember against a real redis-server, reply by reply.

Starts redis-server (--save "" --appendonly no) and the given ember-server (--shards 3) on
free loopback ports, then for every seed: FLUSHALL on both, generate a random command
sequence over a small key space, send each command to both servers over raw RESP sockets
(one RESP2 and one RESP3 connection per server, commands spread over both) and compare
the replies exactly (reply type and bytes). Replies whose order or content is random by
design (SMEMBERS, KEYS, SPOP, SRANDMEMBER, SCAN ...) are compared order-insensitively or by
shape only; TTL-like replies with a tolerance. Known, intentional differences (ember
follows Redis 7.2 where the reference redis-server is 7.0; long double vs f64 float
increments) are counted as "expected"; after one in a write, and after SPOP, the touched
keys are rebuilt on both servers from Redis's copy. An unexpected difference in a read,
or where both replied with an error, is recorded and the seed goes on; any other ends the
seed (the data may have diverged). Each distinct difference (command, reply kinds) is
then minimised (ddmin) to the shortest command sequence that still shows it. A few fixed
subscribe-mode probes (several replies per command) run first.

Usage: python3 ci/differential.py path/to/ember-server [SEEDS] [--commands N]
           [--first-seed S] [--redis-server PATH] [--no-minimize] [--verbose]
Exits 1 when an unexpected difference was found, 0 otherwise.
"""
import argparse
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time

# --------------------------------------------------------------------------- RESP


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """One RESP connection; replies parse to (type char, value) tuples that keep the
    wire type, so comparing them is comparing the reply bytes."""

    def __init__(self, port, proto=2, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(timeout)
        self.buf = b""
        self.pos = 0
        self.proto = proto
        if proto == 3:
            r = self.call(["HELLO", "3"])
            assert r[0] == "%", r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, args):
        self.sock.sendall(encode(args))

    def call(self, args):
        self.send(args)
        return self.read()

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("connection closed")
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = self.buf[self.pos:i]
                self.pos = i + 2
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = self.buf[self.pos:self.pos + n]
        self.pos += n + 2
        return data

    def read(self):
        line = self._line()
        t, rest = chr(line[0]), line[1:]
        if t in "+-":
            return (t, rest)
        if t == ":":
            return (t, int(rest))
        if t in "$=!":
            n = int(rest)
            return (t, None) if n < 0 else (t, self._exact(n))
        if t in "*~>":
            n = int(rest)
            return (t, None) if n < 0 else (t, tuple(self.read() for _ in range(n)))
        if t == "%":
            n = int(rest)
            return (t, tuple((self.read(), self.read()) for _ in range(n)))
        if t == "|":
            n = int(rest)
            for _ in range(2 * n):
                self.read()
            return self.read()
        if t == "_":
            return ("_", None)
        if t in ",#(":
            return (t, rest)
        raise ValueError("bad RESP line %r" % line)

    def pending(self, wait):
        """True when a reply (or part of one) arrives within `wait` seconds."""
        if len(self.buf) > self.pos:
            return True
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(1 << 16)
        except (socket.timeout, BlockingIOError):
            return False
        finally:
            self.sock.settimeout(5.0)
        if not chunk:
            raise ConnectionError("connection closed")
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0
        return True


def to_resp(r):
    """The reply's exact wire bytes (re-encoded from the lossless parse)."""
    t, v = r
    if t in "+-,#(":
        return t.encode() + v + b"\r\n"
    if t == ":":
        return b":%d\r\n" % v
    if t in "$=!":
        return (b"%s-1\r\n" % t.encode()) if v is None else b"%s%d\r\n%s\r\n" % (t.encode(), len(v), v)
    if t in "*~>":
        if v is None:
            return b"%s-1\r\n" % t.encode()
        return b"%s%d\r\n" % (t.encode(), len(v)) + b"".join(to_resp(x) for x in v)
    if t == "%":
        return b"%%%d\r\n" % len(v) + b"".join(to_resp(a) + to_resp(b) for a, b in v)
    if t == "_":
        return b"_\r\n"
    return repr(r).encode()


def show(r, limit=300):
    s = repr(to_resp(r))[2:-1]
    return s if len(s) <= limit else s[:limit] + "...(%d bytes)" % len(to_resp(r))


def show_args(args):
    out = []
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        if len(b) > 40:
            out.append("%s...(%d bytes)" % (repr(b[:12])[1:], len(b)))
        elif re.fullmatch(rb"[A-Za-z0-9_.:+\-*?\[\]^()]+", b):
            out.append(b.decode())
        else:
            out.append(repr(b)[1:])
    return " ".join(out)


# --------------------------------------------------------------------------- normalisation


def sortkey(r):
    return repr(r)


def norm(mode, r):
    """Bring a reply to a form that is equal on both servers when they agree."""
    t, v = r
    if mode == "exact" or t == "-" or v is None:
        return r
    if mode == "set":
        if t in "*~":
            return (t, tuple(sorted(v, key=sortkey)))
        return r
    if mode == "pairs":
        if t == "%":
            return (t, tuple(sorted(v, key=sortkey)))
        if t == "*":
            if v and v[0][0] == "*":
                return (t, tuple(sorted(v, key=sortkey)))
            pairs = [(v[i], v[i + 1]) for i in range(0, len(v) - 1, 2)]
            return (t, tuple(sorted(pairs, key=sortkey)))
        return r
    if mode == "shape":
        if t in "*~%":
            inner = tuple(sorted(set(x[0] if not isinstance(x[0], tuple) else "pair" for x in v)))
            return (t, ("len", len(v), inner))
        if t in "$":
            return (t, "notnull")
        return r
    if mode == "scan":
        # a single SCAN step (inside EXEC): cursors and batches legitimately differ
        if t == "*" and len(v) == 2 and v[0][0] == "$" and v[1][0] in "*~":
            return (t, "scan reply")
        return r
    if mode == "ignore":
        return ("ignored", None)
    if mode.startswith("tol"):
        return r  # compared by close()
    return r


def close(mode, a, b):
    """Tolerant comparison of TTL-like integer replies."""
    tol = int(mode[3:])
    if a[0] == ":" and b[0] == ":":
        x, y = a[1], b[1]
        if x < 0 or y < 0:
            return x == y
        return abs(x - y) <= tol
    return a == b


def same(mode, a, b):
    if mode.startswith("tol"):
        return close(mode, a, b)
    return norm(mode, a) == norm(mode, b)


# --------------------------------------------------------------------------- generation

KEYS = ["s", "l", "h", "t", "z", "x", "y", "w"]
OWN = {"str": "s", "list": "l", "hash": "h", "set": "t", "zset": "z"}

VALS = [b"", b"0", b"1", b"-1", b"7", b"1.5", b"-inf", b"+inf", b"nan", b"9223372036854775807",
        b"-9223372036854775808", b"9223372036854775808", b"1e3", b" 1", b"abc", b"\x00\xff\r\n",
        b"x" * 70, b"3.0", b"-0", b"01", b"hello", b"10", b"-5", b"0.1", b"5e-1", b"1" * 50]
MEMS = [b"a", b"b", b"c", b"d", b"e", b"1", b"2", b"-3", b"1.5", b"", b"\xff\x00", b"10", b"7",
        b"aa", b"ab", b"B"]
INTS = ["0", "1", "2", "3", "-1", "-2", "5", "10", "-100", "100", "abc", "1.5", "",
        "9223372036854775807", "-9223372036854775808", "9223372036854775808", "+1", "007", " 3"]
SCORES = ["0", "1", "2", "-1", "1.5", "-2.5", "3", "10", "0.1", "0.3", "-1.1", "-inf", "+inf", "inf", "-Inf", "nan",
          "abc", "1e308", "1e309", "0x10", "", " 1", "5e-1", "+5", "-0", "2.0"]
RANGE_SCORES = ["-inf", "+inf", "0", "1", "(1", "2", "(2", "1.5", "(-inf", "(+inf", "5", "-1",
                "abc", "(", "((1", "nan", "10"]
LEX = ["-", "+", "[a", "(a", "[b", "(c", "[", "(", "a", "[\xff", "[aa", "(B", "[1"]
FLOATS = ["1", "1.5", "-2.5", "0.25", "1e3", "-1", "0", "abc", "inf", "-inf", "nan", "", "0.1",
          "5.0e3", "1e308", "3.0", "  1", "1_0", "0x10", "9223372036854775807"]
EXACT_FLOATS = {"1", "1.5", "-2.5", "0.25", "1e3", "-1", "0", "5.0e3", "3.0"}
PATTERNS = ["*", "s*", "?", "[a-h]", "[^s]*", "\\*", "x", "", "*[", "[h-z]*", "h?", "*y*", "1*", "a*"]


class Cmd:
    __slots__ = ("args", "mode", "conn", "post", "scan")

    def __init__(self, args, mode="exact", post=None, scan=None):
        self.args = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.mode = mode
        self.conn = 0
        self.post = post
        self.scan = scan  # None or index of the cursor argument: iterate to the end


class Gen:
    def __init__(self, rng):
        self.r = rng

    def c(self, seq):
        return self.r.choice(seq)

    def p(self, prob):
        return self.r.random() < prob

    def key(self, fam):
        if self.p(0.12):
            return self.c(KEYS)
        return self.c([OWN[fam], OWN[fam], "x", "y"])

    def keys(self, fam, lo=1, hi=3):
        return [self.key(fam) for _ in range(self.r.randint(lo, hi))]

    def val(self):
        return self.c(VALS)

    def mem(self):
        if self.p(0.02):
            return b"m" * 70
        return self.c(MEMS)

    def mems(self, lo=1, hi=4):
        return [self.mem() for _ in range(self.r.randint(lo, hi))]

    def int(self):
        if self.p(0.75):
            return str(self.r.randint(-4, 6))
        return self.c(INTS)

    def cnt(self):
        if self.p(0.8):
            return str(self.r.randint(0, 5))
        return self.c(INTS)

    def flt(self, exact_only=False):
        if exact_only:
            return self.c(sorted(EXACT_FLOATS))
        if self.p(0.7):
            return self.c(sorted(EXACT_FLOATS))
        return self.c(FLOATS)

    def score(self):
        if self.p(0.7):
            return str(self.r.randint(-2, 5))
        return self.c(SCORES)

    def maybe_junk(self, args, prob=0.05):
        """Occasionally break a command: drop an argument, add a junk one, lower-case it."""
        if self.p(prob):
            choice = self.r.randint(0, 2)
            if choice == 0 and len(args) > 1:
                args = args[:-1]
            elif choice == 1:
                args = args + [self.c(["junk", "1", "NX", "COUNT", ""])]
            else:
                args = [args[0].lower()] + args[1:]
        return args

    # ---- strings
    def g_string(self, in_multi):
        r, k = self.r, self.key("str")
        which = r.randint(0, 27)
        if which == 0:
            args = ["SET", k, self.val()]
            opts = []
            if self.p(0.5):
                opts.append(self.c(["NX", "XX", "NX", "XX", "nx"]))
            if self.p(0.4):
                e = self.c(["EX", "PX", "EXAT", "PXAT", "KEEPTTL", "ex"])
                if e == "KEEPTTL":
                    opts.append(e)
                elif e in ("EX", "ex"):
                    opts += [e, self.c(["100", "1000", "0", "-1", "abc", "9223372036854775807", "1.5"])]
                elif e == "PX":
                    opts += [e, self.c(["100000", "5000000", "0", "-5", "x"])]
                elif e == "EXAT":
                    opts += [e, self.c([str(int(time.time()) + 1000), "1", "0", "4000000000", "-1"])]
                else:
                    opts += [e, self.c([str(int(time.time() * 1000) + 900000), "1", "0", "4000000000000"])]
            if self.p(0.3):
                opts.append("GET")
            if self.p(0.08):
                opts.append(self.c(["EX", "KEEPTTL", "PX", "GET", "NX", "bogus"]))
                if self.p(0.5):
                    opts.append("100000")
            r.shuffle(opts) if self.p(0.1) else None
            return Cmd(args + opts)
        if which == 1:
            return Cmd(self.maybe_junk(["SETNX", k, self.val()]))
        if which == 2:
            return Cmd(self.maybe_junk(["SETEX", k, self.c(["100", "1000", "0", "-1", "abc"]), self.val()]))
        if which == 3:
            return Cmd(self.maybe_junk(["PSETEX", k, self.c(["100000", "900000", "0", "-1", "abc"]), self.val()]))
        if which == 4:
            return Cmd(["MGET"] + self.keys("str", 1, 4))
        if which == 5:
            args = ["MSET"]
            for _ in range(r.randint(1, 3)):
                args += [self.key("str"), self.val()]
            if self.p(0.1):
                args = args[:-1]
            return Cmd(args)
        if which == 6:
            args = ["MSETNX"]
            for _ in range(r.randint(1, 3)):
                args += [self.key("str"), self.val()]
            if self.p(0.1):
                args = args[:-1]
            return Cmd(args)
        if which == 7:
            return Cmd(self.maybe_junk(["GETSET", k, self.val()]))
        if which == 8:
            return Cmd(self.maybe_junk(["GETDEL", k]))
        if which == 9:
            args = ["GETEX", k]
            if self.p(0.7):
                e = self.c(["EX", "PX", "EXAT", "PXAT", "PERSIST", "KEEPTTL", "ex"])
                if e in ("PERSIST", "KEEPTTL"):
                    args.append(e)
                elif e in ("EX", "ex"):
                    args += [e, self.c(["100", "1000", "0", "-1", "abc"])]
                elif e == "PX":
                    args += [e, self.c(["100000", "0", "-5"])]
                elif e == "EXAT":
                    args += [e, self.c([str(int(time.time()) + 1000), "1", "0"])]
                else:
                    args += [e, self.c([str(int(time.time() * 1000) + 900000), "1", "0"])]
            if self.p(0.1):
                args.append(self.c(["EX", "PERSIST", "100"]))
            return Cmd(args)
        if which in (10, 11):
            return Cmd(self.maybe_junk([self.c(["INCR", "DECR"]), k]))
        if which in (12, 13):
            return Cmd(self.maybe_junk([self.c(["INCRBY", "DECRBY"]), k, self.int()]))
        if which == 14:
            f = self.flt(exact_only=in_multi)
            return Cmd(self.maybe_junk(["INCRBYFLOAT", k, f]), )
        if which == 15:
            return Cmd(self.maybe_junk(["APPEND", k, self.val()]))
        if which == 16:
            return Cmd(self.maybe_junk(["STRLEN", k]))
        if which in (17, 18):
            return Cmd(self.maybe_junk([self.c(["GETRANGE", "SUBSTR"]), k, self.int(), self.int()]))
        if which == 19:
            off = self.c(["0", "1", "3", "5", "10", "-1", "abc", "536870912", "1000"]) if self.p(0.9) else "100"
            return Cmd(self.maybe_junk(["SETRANGE", k, off, self.c([b"", b"ab", b"xyz", b"\x00"])]))
        if which == 20:
            return Cmd(["GET", k])
        if which == 21:
            return Cmd(["SET", k, self.c([b"1", b"10", b"abc", b"-7", b"1.5", b"12345678901234567890"])])
        if which == 22:
            return Cmd(["OBJECT", "ENCODING", k])
        return Cmd(["GET", k]) if self.p(0.5) else Cmd(["INCR", k])

    # ---- keys
    def g_keys(self, in_multi):
        r, k = self.r, self.c(KEYS + ["nokey"])
        which = r.randint(0, 24)
        if which == 0:
            return Cmd([self.c(["DEL", "UNLINK"])] + [self.c(KEYS) for _ in range(r.randint(1, 3))])
        if which == 1:
            return Cmd([self.c(["EXISTS", "TOUCH"])] + [self.c(KEYS + ["nokey"]) for _ in range(r.randint(1, 4))])
        if which in (2, 3):
            cmd = self.c(["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"])
            if cmd == "EXPIRE":
                t = self.c(["100", "200", "1000", "50", "0", "-1", "abc", "9223372036854775807", "1.5"])
            elif cmd == "PEXPIRE":
                t = self.c(["100000", "200000", "1000000", "0", "-1", "x", "9223372036854775807"])
            elif cmd == "EXPIREAT":
                t = self.c([str(int(time.time()) + d) for d in (500, 1000, 2000)] + ["1", "0", "4000000000", "abc"])
            else:
                t = self.c([str(int(time.time() * 1000) + d) for d in (500000, 1000000)] + ["1", "4000000000000"])
            args = [cmd, k, t]
            if self.p(0.5):
                args.append(self.c(["NX", "XX", "GT", "LT", "nx", "gt"]))
            if self.p(0.1):
                args.append(self.c(["NX", "XX", "GT", "LT", "bad"]))
            return Cmd(args)
        if which == 4:
            return Cmd(["TTL", k], mode="tol1")
        if which == 5:
            return Cmd(["PTTL", k], mode="tol1500")
        if which == 6:
            return Cmd(["EXPIRETIME", k], mode="tol1")
        if which == 7:
            return Cmd(["PEXPIRETIME", k], mode="tol1500")
        if which == 8:
            return Cmd(self.maybe_junk(["PERSIST", k]))
        if which == 9:
            return Cmd(self.maybe_junk(["TYPE", k]))
        if which in (10, 11):
            return Cmd(self.maybe_junk([self.c(["RENAME", "RENAMENX"]), k, self.c(KEYS + ["nokey"])]))
        if which == 12:
            return Cmd(["KEYS", self.c(PATTERNS)], mode="set")
        if which in (13, 14):
            sub = self.c(["ENCODING", "ENCODING", "ENCODING", "REFCOUNT", "FREQ", "encoding", "BOGUS"])
            args = ["OBJECT", sub, k]
            if self.p(0.05):
                args = args[:2] if self.p(0.5) else args + ["extra"]
            return Cmd(args)
        if which == 15:
            return Cmd(["DBSIZE"])
        if which == 16:
            return Cmd(["RANDOMKEY"], mode="shape")
        if which == 17:
            args = ["SCAN", "0"]
            if self.p(0.4):
                args += ["MATCH", self.c(PATTERNS)]
            if self.p(0.4):
                args += ["COUNT", self.c(["1", "2", "10", "0", "-1", "abc", "1000"])]
            if self.p(0.3):
                args += ["TYPE", self.c(["string", "list", "hash", "set", "zset", "none", "bogus", "STRING"])]
            if self.p(0.05):
                args.append("extra")
            if self.p(0.05):
                args[1] = self.c(["abc", "-1", "18446744073709551615", "18446744073709551616", "1.5", ""])
                return Cmd(args, mode="shape")
            return Cmd(args, mode="scan", scan=1)
        if which == 18:
            return Cmd(self.maybe_junk(["ECHO", self.val()], 0.2))
        if which == 19:
            return Cmd(self.maybe_junk(["PING"] + ([self.val()] if self.p(0.5) else []), 0.2))
        if which == 20 and not in_multi:
            return Cmd(["SELECT", self.c(["0", "0", "1", "16", "-1", "abc", "15"])])
        if which == 21:
            return Cmd([self.c(["TTL", "PTTL", "TYPE", "EXISTS", "PERSIST", "EXPIRETIME"])])
        return Cmd(["EXISTS", k])

    # ---- lists
    def g_list(self, in_multi):
        r, k = self.r, self.key("list")
        which = r.randint(0, 27)
        side = lambda: self.c(["LEFT", "RIGHT", "LEFT", "RIGHT", "left", "MIDDLE"])
        tmo = lambda: self.c(["0.01", "0.01", "0.02", "-1", "abc", "0.01"]) if not in_multi else self.c(["0.01", "1"])
        if which in (0, 1):
            return Cmd(self.maybe_junk([self.c(["LPUSH", "RPUSH"]), k] + self.mems(1, 4)))
        if which == 2:
            return Cmd(self.maybe_junk([self.c(["LPUSHX", "RPUSHX"]), k] + self.mems(1, 3)))
        if which in (3, 4):
            args = [self.c(["LPOP", "RPOP"]), k]
            if self.p(0.4):
                args.append(self.cnt())
            return Cmd(self.maybe_junk(args))
        if which == 5:
            return Cmd(self.maybe_junk(["LLEN", k]))
        if which in (6, 7):
            return Cmd(self.maybe_junk(["LRANGE", k, self.int(), self.int()]))
        if which == 8:
            return Cmd(self.maybe_junk(["LINDEX", k, self.int()]))
        if which == 9:
            return Cmd(self.maybe_junk(["LSET", k, self.int(), self.mem()]))
        if which == 10:
            return Cmd(self.maybe_junk(["LINSERT", k, self.c(["BEFORE", "AFTER", "before", "MIDDLE"]), self.mem(), self.mem()]))
        if which == 11:
            return Cmd(self.maybe_junk(["LREM", k, self.int(), self.mem()]))
        if which == 12:
            return Cmd(self.maybe_junk(["LTRIM", k, self.int(), self.int()]))
        if which == 13:
            args = ["LPOS", k, self.mem()]
            opts = []
            if self.p(0.4):
                opts += ["RANK", self.c(["1", "-1", "2", "-2", "0", "abc", "-9223372036854775808"])]
            if self.p(0.4):
                opts += ["COUNT", self.c(["0", "1", "2", "-1", "abc"])]
            if self.p(0.3):
                opts += ["MAXLEN", self.c(["0", "1", "2", "-1", "abc"])]
            if self.p(0.05):
                opts.append(self.c(["RANK", "BOGUS"]))
            return Cmd(args + opts)
        if which == 14:
            return Cmd(self.maybe_junk(["LMOVE", k, self.key("list"), side(), side()]))
        if which == 15:
            return Cmd(self.maybe_junk(["RPOPLPUSH", k, self.key("list")]))
        if which == 16:
            ks = self.keys("list", 1, 3)
            n = str(len(ks)) if self.p(0.85) else self.c(["0", "-1", "5", "abc"])
            args = ["LMPOP", n] + ks + [side()]
            if self.p(0.5):
                args += ["COUNT", self.cnt()]
            return Cmd(self.maybe_junk(args))
        if which == 17:
            return Cmd(self.maybe_junk([self.c(["BLPOP", "BRPOP"])] + self.keys("list", 1, 2) + [tmo()]))
        if which == 18:
            return Cmd(self.maybe_junk(["BLMOVE", k, self.key("list"), side(), side(), tmo()]))
        if which == 19:
            ks = self.keys("list", 1, 2)
            args = ["BLMPOP", tmo(), str(len(ks))] + ks + [side()]
            if self.p(0.5):
                args += ["COUNT", self.cnt()]
            return Cmd(self.maybe_junk(args))
        if which == 20:
            return Cmd(self.maybe_junk(["BRPOPLPUSH", k, self.key("list"), tmo()]))
        if which == 21:
            return Cmd(["OBJECT", "ENCODING", k])
        if which == 22 and self.p(0.2):
            return Cmd(["RPUSH", k] + [b"e%d" % i for i in range(r.choice([130, 200]))])
        return Cmd(["LRANGE", k, "0", "-1"])

    # ---- hashes
    def g_hash(self, in_multi):
        r, k = self.r, self.key("hash")
        which = r.randint(0, 22)
        if which in (0, 1):
            args = [self.c(["HSET", "HMSET"]), k]
            for _ in range(r.randint(1, 3)):
                args += [self.mem(), self.val()]
            if self.p(0.07):
                args = args[:-1]
            return Cmd(args)
        if which == 2:
            return Cmd(self.maybe_junk(["HSETNX", k, self.mem(), self.val()]))
        if which == 3:
            return Cmd(self.maybe_junk(["HGET", k, self.mem()]))
        if which == 4:
            return Cmd(["HMGET", k] + self.mems(1, 4))
        if which == 5:
            return Cmd(self.maybe_junk(["HDEL", k] + self.mems(1, 3)))
        if which == 6:
            return Cmd(self.maybe_junk(["HEXISTS", k, self.mem()]))
        if which == 7:
            return Cmd(self.maybe_junk(["HLEN", k]))
        if which == 8:
            return Cmd(self.maybe_junk(["HSTRLEN", k, self.mem()]))
        if which in (9, 10):
            return Cmd(self.maybe_junk([self.c(["HKEYS", "HVALS"]), k]), mode="set")
        if which == 11:
            return Cmd(self.maybe_junk(["HGETALL", k]), mode="pairs")
        if which == 12:
            return Cmd(self.maybe_junk(["HINCRBY", k, self.mem(), self.int()]))
        if which == 13:
            return Cmd(self.maybe_junk(["HINCRBYFLOAT", k, self.mem(), self.flt(exact_only=in_multi)]), )
        if which == 14:
            args = ["HRANDFIELD", k]
            if self.p(0.7):
                args.append(self.c(["0", "1", "2", "5", "-2", "-5", "abc", "100", "-9223372036854775808"]))
                if self.p(0.5):
                    args.append(self.c(["WITHVALUES", "WITHVALUES", "withvalues", "BOGUS"]))
            return Cmd(args, mode="shape")
        if which == 15:
            args = ["HSCAN", k, "0"]
            if self.p(0.4):
                args += ["MATCH", self.c(PATTERNS)]
            if self.p(0.4):
                args += ["COUNT", self.c(["1", "2", "10", "0", "-1", "abc"])]
            if self.p(0.05):
                args.append("extra")
            return Cmd(args, mode="scan", scan=2)
        if which == 16:
            return Cmd(["OBJECT", "ENCODING", k])
        if which == 17 and self.p(0.3):
            args = ["HSET", k]
            for i in range(r.choice([130, 140])):
                args += [b"f%d" % i, b"v"]
            return Cmd(args)
        return Cmd(["HGETALL", k], mode="pairs")

    # ---- sets
    def g_set(self, in_multi):
        r, k = self.r, self.key("set")
        which = r.randint(0, 24)
        if which in (0, 1):
            return Cmd(self.maybe_junk(["SADD", k] + self.mems(1, 4)))
        if which == 2:
            return Cmd(self.maybe_junk(["SREM", k] + self.mems(1, 3)))
        if which == 3:
            return Cmd(self.maybe_junk(["SCARD", k]))
        if which == 4:
            return Cmd(self.maybe_junk(["SISMEMBER", k, self.mem()]))
        if which == 5:
            return Cmd(["SMISMEMBER", k] + self.mems(1, 3) if self.p(0.95) else ["SMISMEMBER", k])
        if which == 6:
            return Cmd(self.maybe_junk(["SMEMBERS", k]), mode="set")
        if which == 7:
            args = ["SPOP", k]
            if in_multi:
                return Cmd(["SPOP", k, "1000"], mode="set")
            if self.p(0.6):
                args.append(self.c(["0", "1", "2", "3", "10", "-1", "abc"]))
            return Cmd(args, mode="shape", post="resync_set")
        if which == 8:
            args = ["SRANDMEMBER", k]
            if self.p(0.7):
                args.append(self.c(["0", "1", "2", "5", "-2", "-5", "abc", "-9223372036854775808"]))
            return Cmd(self.maybe_junk(args), mode="shape")
        if which == 9:
            return Cmd(self.maybe_junk(["SMOVE", k, self.key("set"), self.mem()]))
        if which in (10, 11):
            return Cmd([self.c(["SDIFF", "SINTER", "SUNION"])] + self.keys("set", 1, 3), mode="set")
        if which in (12, 13):
            return Cmd([self.c(["SDIFFSTORE", "SINTERSTORE", "SUNIONSTORE"]), self.key("set")] + self.keys("set", 1, 3))
        if which == 14:
            ks = self.keys("set", 1, 3)
            n = str(len(ks)) if self.p(0.85) else self.c(["0", "-1", "5", "abc"])
            args = ["SINTERCARD", n] + ks
            if self.p(0.4):
                args += ["LIMIT", self.c(["0", "1", "2", "-1", "abc"])]
            return Cmd(self.maybe_junk(args))
        if which == 15:
            args = ["SSCAN", k, "0"]
            if self.p(0.4):
                args += ["MATCH", self.c(PATTERNS)]
            if self.p(0.4):
                args += ["COUNT", self.c(["1", "2", "10", "0", "-1", "abc"])]
            return Cmd(args, mode="scan", scan=2)
        if which in (16, 17):
            return Cmd(["OBJECT", "ENCODING", k])
        if which == 18 and self.p(0.3):
            return Cmd(["SADD", k] + [b"%d" % i for i in range(r.choice([100, 520, 600]))])
        if which == 19 and self.p(0.3):
            return Cmd(["SADD", k] + [b"m%d" % i for i in range(r.choice([100, 130]))])
        return Cmd(["SMEMBERS", k], mode="set")

    # ---- sorted sets
    def g_zset(self, in_multi):
        r, k = self.r, self.key("zset")
        which = r.randint(0, 40)
        ws = lambda: ["WITHSCORES"] if self.p(0.4) else []
        if which in (0, 1, 2):
            args = ["ZADD", k]
            opts = []
            for o in ("NX", "XX", "GT", "LT", "CH", "INCR"):
                if self.p(0.15):
                    opts.append(o)
            r.shuffle(opts)
            args += opts
            for _ in range(1 if "INCR" in opts and self.p(0.8) else r.randint(1, 3)):
                args += [self.score(), self.mem()]
            if self.p(0.05):
                args = args[:-1]
            return Cmd(args)
        if which == 3:
            return Cmd(self.maybe_junk(["ZCARD", k]))
        if which == 4:
            return Cmd(self.maybe_junk(["ZCOUNT", k, self.c(RANGE_SCORES), self.c(RANGE_SCORES)]))
        if which == 5:
            return Cmd(self.maybe_junk(["ZINCRBY", k, self.score(), self.mem()]))
        if which == 6:
            return Cmd(self.maybe_junk(["ZSCORE", k, self.mem()]))
        if which == 7:
            return Cmd(["ZMSCORE", k] + self.mems(1, 3))
        if which in (8, 9):
            args = [self.c(["ZRANK", "ZREVRANK"]), k, self.mem()]
            if self.p(0.3) and not in_multi:
                args.append(self.c(["WITHSCORE", "WITHSCORES", "withscore"]))
            return Cmd(args)
        if which in (10, 11, 12, 13):
            by = self.c(["", "", "BYSCORE", "BYLEX"])
            if by == "BYSCORE":
                lo, hi = self.c(RANGE_SCORES), self.c(RANGE_SCORES)
            elif by == "BYLEX":
                lo, hi = self.c(LEX), self.c(LEX)
            else:
                lo, hi = self.int(), self.int()
            args = ["ZRANGE", k, lo, hi] + ([by] if by else [])
            if self.p(0.3):
                args.append("REV")
            if self.p(0.25):
                args += ["LIMIT", self.int(), self.int()]
            if by != "BYLEX":
                args += ws()
            elif self.p(0.05):
                args.append("WITHSCORES")
            if self.p(0.05):
                args.append(self.c(["BYSCORE", "BYLEX", "LIMIT", "bogus"]))
            return Cmd(args)
        if which in (14, 15):
            cmd = self.c(["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"])
            args = [cmd, k, self.c(RANGE_SCORES), self.c(RANGE_SCORES)] + ws()
            if self.p(0.3):
                args += ["LIMIT", self.int(), self.int()]
            return Cmd(self.maybe_junk(args))
        if which in (16, 17):
            cmd = self.c(["ZRANGEBYLEX", "ZREVRANGEBYLEX"])
            args = [cmd, k, self.c(LEX), self.c(LEX)]
            if self.p(0.3):
                args += ["LIMIT", self.int(), self.int()]
            return Cmd(self.maybe_junk(args))
        if which == 18:
            return Cmd(self.maybe_junk(["ZREVRANGE", k, self.int(), self.int()] + ws()))
        if which == 19:
            by = self.c(["", "BYSCORE", "BYLEX"])
            if by == "BYSCORE":
                lo, hi = self.c(RANGE_SCORES), self.c(RANGE_SCORES)
            elif by == "BYLEX":
                lo, hi = self.c(LEX), self.c(LEX)
            else:
                lo, hi = self.int(), self.int()
            args = ["ZRANGESTORE", self.key("zset"), k, lo, hi] + ([by] if by else [])
            if self.p(0.3):
                args.append("REV")
            if self.p(0.25):
                args += ["LIMIT", self.int(), self.int()]
            if self.p(0.05):
                args.append("WITHSCORES")
            return Cmd(args)
        if which == 20:
            return Cmd(self.maybe_junk(["ZLEXCOUNT", k, self.c(LEX), self.c(LEX)]))
        if which == 21:
            return Cmd(self.maybe_junk(["ZREM", k] + self.mems(1, 3)))
        if which == 22:
            cmd = self.c(["ZREMRANGEBYLEX", "ZREMRANGEBYRANK", "ZREMRANGEBYSCORE"])
            if cmd == "ZREMRANGEBYLEX":
                a = [self.c(LEX), self.c(LEX)]
            elif cmd == "ZREMRANGEBYRANK":
                a = [self.int(), self.int()]
            else:
                a = [self.c(RANGE_SCORES), self.c(RANGE_SCORES)]
            return Cmd(self.maybe_junk([cmd, k] + a))
        if which in (23, 24):
            args = [self.c(["ZPOPMIN", "ZPOPMAX"]), k]
            if self.p(0.5):
                args.append(self.cnt())
            return Cmd(self.maybe_junk(args))
        if which == 25:
            ks = self.keys("zset", 1, 3)
            n = str(len(ks)) if self.p(0.85) else self.c(["0", "-1", "5", "abc"])
            args = ["ZMPOP", n] + ks + [self.c(["MIN", "MAX", "min", "BOTH"])]
            if self.p(0.5):
                args += ["COUNT", self.cnt()]
            return Cmd(self.maybe_junk(args))
        if which == 26:
            tmo = self.c(["0.01", "0.02", "-1", "abc"]) if not in_multi else "0.01"
            return Cmd(self.maybe_junk([self.c(["BZPOPMIN", "BZPOPMAX"])] + self.keys("zset", 1, 2) + [tmo]))
        if which == 27:
            tmo = self.c(["0.01", "0.02", "-1", "abc"]) if not in_multi else "0.01"
            ks = self.keys("zset", 1, 2)
            args = ["BZMPOP", tmo, str(len(ks))] + ks + [self.c(["MIN", "MAX"])]
            if self.p(0.5):
                args += ["COUNT", self.cnt()]
            return Cmd(self.maybe_junk(args))
        if which == 28:
            args = ["ZRANDMEMBER", k]
            if self.p(0.7):
                args.append(self.c(["0", "1", "2", "5", "-2", "-5", "abc", "-9223372036854775808"]))
                if self.p(0.5):
                    args.append(self.c(["WITHSCORES", "WITHSCORES", "BOGUS"]))
            return Cmd(args, mode="shape")
        if which in (29, 30, 31, 32):
            cmd = self.c(["ZDIFF", "ZINTER", "ZUNION", "ZDIFFSTORE", "ZINTERSTORE", "ZUNIONSTORE", "ZINTERCARD"])
            ks = self.keys("zset", 1, 3)
            n = str(len(ks)) if self.p(0.85) else self.c(["0", "-1", "5", "abc"])
            args = [cmd] + ([self.key("zset")] if cmd.endswith("STORE") else []) + [n] + ks
            if cmd == "ZINTERCARD":
                if self.p(0.4):
                    args += ["LIMIT", self.c(["0", "1", "2", "-1", "abc"])]
                return Cmd(args)
            if cmd not in ("ZDIFF", "ZDIFFSTORE"):
                if self.p(0.4):
                    nw = len(ks) if self.p(0.85) else len(ks) + self.c([-1, 1])
                    args += ["WEIGHTS"] + [self.c(["1", "2", "-1", "0", "1.5", "inf", "-inf", "abc"]) for _ in range(max(nw, 0))]
                if self.p(0.4):
                    args += ["AGGREGATE", self.c(["SUM", "MIN", "MAX", "sum", "AVG"])]
            elif self.p(0.05):
                args += ["WEIGHTS", "1"]
            if not cmd.endswith("STORE"):
                args += ws()
            elif self.p(0.05):
                args.append("WITHSCORES")
            return Cmd(args)
        if which == 33:
            args = ["ZSCAN", k, "0"]
            if self.p(0.4):
                args += ["MATCH", self.c(PATTERNS)]
            if self.p(0.4):
                args += ["COUNT", self.c(["1", "2", "10", "0", "-1", "abc"])]
            return Cmd(args, mode="scan", scan=2)
        if which in (34, 35):
            return Cmd(["OBJECT", "ENCODING", k])
        if which == 36 and self.p(0.3):
            args = ["ZADD", k]
            for i in range(r.choice([130, 150])):
                args += [str(i), b"m%d" % i]
            return Cmd(args)
        return Cmd(["ZRANGE", k, "0", "-1", "WITHSCORES"])

    # ---- pub/sub
    def g_pubsub(self, in_multi):
        which = self.r.randint(0, 6)
        ch = self.c(["ch1", "ch2", "ch3", "other", "c3"])
        if which in (0, 1, 2):
            return Cmd(["PUBLISH", ch, self.c([b"hi", b"", b"\x00bin"])] + (["extra"] if self.p(0.05) else []))
        if which == 3:
            return Cmd(["PUBSUB", "NUMSUB"] + [self.c(["ch1", "ch2", "ch3", "other"]) for _ in range(self.r.randint(0, 3))])
        if which == 4:
            return Cmd(["PUBSUB", "NUMPAT"] + (["x"] if self.p(0.1) else []))
        if which == 5:
            return Cmd(["PUBSUB", "CHANNELS"] + ([self.c(["*", "ch*", "c?", "x"])] if self.p(0.6) else []), mode="set")
        return Cmd(["PUBSUB", self.c(["BOGUS", "numsub", "channels"])], mode="set")

    FAMILIES = [("string", 5), ("keys", 3), ("list", 4), ("hash", 4), ("set", 4), ("zset", 6), ("pubsub", 1)]

    def one(self, in_multi=False):
        fams = [f for f, _ in self.FAMILIES]
        weights = [w for _, w in self.FAMILIES]
        fam = self.r.choices(fams, weights)[0]
        return getattr(self, "g_" + fam)(in_multi)

    def sequence(self, n):
        """A list of Cmd; MULTI blocks and WATCH stay on one connection."""
        out = []
        while len(out) < n:
            conn = self.r.randint(0, 1)
            roll = self.r.random()
            if roll < 0.06:
                block = []
                if self.p(0.5):
                    block.append(Cmd(["WATCH"] + [self.c(KEYS) for _ in range(self.r.randint(1, 2))]))
                    if self.p(0.5):
                        other = self.one()
                        other.conn = 1 - conn
                        block.append(other)
                    if self.p(0.3):
                        block.append(self.one())
                block.append(Cmd(["MULTI"]))
                for _ in range(self.r.randint(0, 5)):
                    block.append(self.one(in_multi=True))
                if self.p(0.1):
                    block.append(Cmd([self.c(["MULTI", "WATCH", "SELECT"]), "x"] if self.p(0.5) else ["MULTI"]))
                if self.p(0.1):
                    block.append(Cmd(["NOSUCHCMD", "x"]))
                if self.p(0.1):
                    block.append(Cmd(["GET"]))
                block.append(Cmd([self.c(["EXEC", "EXEC", "EXEC", "DISCARD"])]))
                for c in block:
                    if c.conn == 0:
                        c.conn = conn
                out += block
            elif roll < 0.07:
                c = Cmd([self.c(["EXEC", "DISCARD", "UNWATCH", "WATCH", "MULTI"])])
                if c.args[0] == b"MULTI":
                    c = Cmd(["EXEC"])
                c.conn = conn
                out.append(c)
            else:
                c = self.one()
                c.conn = conn
                out.append(c)
        # never leave a connection inside MULTI
        out.append(Cmd(["DISCARD"], mode="ignore"))
        out[-1].conn = 0
        out.append(Cmd(["DISCARD"], mode="ignore"))
        out[-1].conn = 1
        return out


# --------------------------------------------------------------------------- servers


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Servers:
    def __init__(self, ember_bin, redis_bin):
        self.procs = []
        self.logs = []
        rport = free_port()
        rlog = tempfile.NamedTemporaryFile(prefix="diff-redis-", suffix=".log", delete=False)
        self.procs.append(subprocess.Popen([redis_bin, "--port", str(rport), "--bind", "127.0.0.1",
                                            "--save", "", "--appendonly", "no"],
                                           stdout=rlog, stderr=subprocess.STDOUT))
        elog = tempfile.NamedTemporaryFile(prefix="diff-ember-", suffix=".log", delete=False)
        self.procs.append(subprocess.Popen([ember_bin, "--port", "0", "--shards", "3"],
                                           stdout=elog, stderr=subprocess.STDOUT))
        self.logs = [rlog.name, elog.name]
        eport = None
        for _ in range(100):
            with open(elog.name, "rb") as f:
                m = re.search(rb"ember listening on [0-9.]+:(\d+)", f.read())
            if m:
                eport = int(m.group(1))
                break
            time.sleep(0.05)
        if eport is None:
            self.stop()
            raise SystemExit("ember-server did not start; log: " + elog.name)
        self.ports = [rport, eport]
        for port in self.ports:
            for _ in range(100):
                try:
                    Conn(port).close()
                    break
                except OSError:
                    time.sleep(0.05)
        self.subs = []
        for port in self.ports:
            s2 = Conn(port, 2)
            for ch in ("ch1", "ch2"):
                s2.send(["SUBSCRIBE", ch])
                s2.read()
            s2.send(["PSUBSCRIBE", "ch*"])
            s2.read()
            s3 = Conn(port, 3)
            s3.send(["SUBSCRIBE", "ch2"])
            s3.read()
            s3.send(["PSUBSCRIBE", "c?3"])
            s3.read()
            self.subs.append((s2, s3))

    def drain_subs(self):
        """Messages each subscriber got since the last drain, per server."""
        out = []
        for s2, s3 in self.subs:
            msgs = []
            for s in (s2, s3):
                got = []
                while s.pending(0.05):
                    got.append(s.read())
                    while s.pending(0.0):
                        got.append(s.read())
                msgs.append(got)
            out.append(msgs)
        return out

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        for log in self.logs:
            try:
                os.unlink(log)
            except OSError:
                pass


# --------------------------------------------------------------------------- expected differences


def is_float_bulk(r):
    if r[0] not in "$,":
        return None
    try:
        return float(r[1])
    except (TypeError, ValueError):
        return None


SCORE_REPLIES = set(b"""ZSCORE ZMSCORE ZINCRBY ZADD ZRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE ZREVRANGE ZPOPMIN
ZPOPMAX ZMPOP BZPOPMIN BZPOPMAX BZMPOP ZRANDMEMBER ZUNION ZINTER ZDIFF ZSCAN ZRANK ZREVRANK""".split())
LEX_COMMANDS = set(b"ZRANGEBYLEX ZREVRANGEBYLEX ZLEXCOUNT ZREMRANGEBYLEX".split())
NUMERIC = re.compile(rb"^[-+]?(\d+\.?\d*(e[-+]?\d+)?|inf|nan)$", re.I)


def shortest_doubles(r):
    """Replace every number-looking bulk string or double by Python's shortest repr of
    its value (what Redis 7.2's fpconv prints; 7.0 prints %.17g)."""
    t, v = r
    if t in "$," and v is not None and NUMERIC.match(v):
        try:
            f = float(v)
        except ValueError:
            return r
        return (t, repr(f).encode())
    if t in "*~>" and v is not None:
        return (t, tuple(shortest_doubles(x) for x in v))
    if t == "%":
        return (t, tuple((shortest_doubles(x), shortest_doubles(y)) for x, y in v))
    if t == "scan":
        return (t, tuple(sorted(((e[0], e[1], shortest_doubles(e[2])) if e[0] == "pair" else e for e in v),
                                key=sortkey)))
    return r


def expected(cmd, a, b, ctx):
    """A label when the difference between Redis's `a` and ember's `b` is a known one."""
    name = cmd.args[0].upper()
    if name in SCORE_REPLIES and same(cmd.mode, shortest_doubles(a), shortest_doubles(b)):
        # 7.2's ZSCAN on a skiplist still prints %.17Lg (redis/redis#15821): no excuse there
        if not (name == b"ZSCAN" and ctx.encoding(cmd.args[1]) == b"skiplist"):
            return "7.2: shortest double formatting"
    if (name in LEX_COMMANDS or (name in (b"ZRANGE", b"ZRANGESTORE") and b"BYLEX" in [x.upper() for x in cmd.args])) \
            and a[0] != "-" and b[0] != "-" and ctx.mixed_scores(cmd):
        return "lex range over mixed scores is unspecified"
    if name == b"OBJECT" and len(cmd.args) >= 3:
        sub = cmd.args[1].upper()
        if sub == b"ENCODING" and a[0] in "$+" and b[0] in "$+":
            ra, rb = a[1], b[1]
            t = ctx.redis_type(cmd)
            if t == b"list" and ra == b"quicklist" and rb == b"listpack":
                return "7.2: small lists are listpack"
            if t == b"hash" and ra == b"listpack" and rb == b"hashtable" and ctx.hash_between(cmd, 129, 512):
                return "hash-max-listpack-entries: ember 128 (redis.conf), redis-server built-in 512"
            if t == b"set" and ra == b"hashtable" and rb == b"listpack":
                if ctx.set_fits_listpack(cmd):
                    return "7.2: small sets are listpack"
        if sub == b"REFCOUNT" and a[0] == ":" and b[0] == ":":
            return "refcount: Redis shares objects"
    if name in (b"INCRBYFLOAT", b"HINCRBYFLOAT"):
        x, y = is_float_bulk(a), is_float_bulk(b)
        if x is not None and y is not None and abs(x - y) <= 1e-9 * max(1.0, abs(x)):
            return "long double vs f64"
    if name in (b"GET", b"HGET", b"HMGET", b"HGETALL", b"HVALS", b"MGET", b"GETDEL", b"GETSET", b"GETEX"):
        pass
    if name in (b"ZRANK", b"ZREVRANK") and len(cmd.args) == 4 and a[0] == "-" \
            and a[1].startswith(b"ERR wrong number of arguments"):
        # 7.0: arity 3; 7.2 takes an optional WITHSCORE (anything else: syntax error)
        if cmd.args[3].upper() == b"WITHSCORE" and b[0] in "*_-":
            return "7.2: ZRANK WITHSCORE"
        if cmd.args[3].upper() != b"WITHSCORE" and b == ("-", b"ERR syntax error"):
            return "7.2: ZRANK WITHSCORE"
    if name == b"LPOS" and b"-9223372036854775808" in cmd.args and b[0] == "-" \
            and b"must between -9223372036854775807" in b[1]:
        return "7.2: LPOS RANK LLONG_MIN is rejected"
    if name in (b"HSCAN", b"ZSCAN") and any(x.upper() in (b"NOVALUES", b"NOSCORES") for x in cmd.args):
        return "7.4+: NOVALUES/NOSCORES"
    return None


# --------------------------------------------------------------------------- running


class Result:
    def __init__(self, idx, cmd, a, b, label):
        self.idx, self.cmd, self.a, self.b, self.label = idx, cmd, a, b, label

    def signature(self):
        def kind(r):
            if r[0] == "-":
                return "-" + r[1].split(b" ")[0].decode(errors="replace") + ":" + re.sub(rb"'[^']*'", b"'_'", r[1])[:60].decode(errors="replace")
            return r[0]
        args = self.cmd.args
        name = args[0].upper().decode(errors="replace")
        if name in ("OBJECT", "PUBSUB") and len(args) > 1:
            name += " " + args[1].upper().decode(errors="replace")
        return "%s | %s | %s" % (name, kind(self.a), kind(self.b))


class Runner:
    def __init__(self, servers):
        self.servers = servers

    def open(self):
        self.conns = []  # conns[server][proto_index]
        for port in self.servers.ports:
            self.conns.append([Conn(port, 2), Conn(port, 3)])
        self.multi = [[None, None], [None, None]]  # queued modes per server/connection

    def close(self):
        for pair in self.conns:
            for c in pair:
                c.close()

    # helpers for the expected-difference checks (read-only commands on Redis, conn 0 db)
    def redis_type(self, cmd):
        c = self.conns[0][self.cur_conn]
        if self.multi[0][self.cur_conn] is not None:
            return None
        return c.call(["TYPE", cmd.args[2]])[1]

    def hash_between(self, cmd, lo, hi):
        n = self.conns[0][self.cur_conn].call(["HLEN", cmd.args[2]])[1]
        return lo <= n <= hi

    def encoding(self, key):
        return self.conns[0][self.cur_conn].call(["OBJECT", "ENCODING", key])[1]

    def mixed_scores(self, cmd):
        """True when a source sorted set holds different scores (then lex ranges are
        unspecified); read on Redis *after* the command, so for ZREMRANGEBYLEX this
        may miss: it also accepts when the key no longer exists."""
        c = self.conns[0][self.cur_conn]
        key = cmd.args[2] if cmd.args[0].upper() == b"ZRANGESTORE" else cmd.args[1]
        r = c.call(["ZRANGE", key, "0", "-1", "WITHSCORES"])
        if r[0] == "-":
            return False
        if r[1] and r[1][0][0] == "*":
            scores = {x[1][1] for x in r[1]}
        else:
            scores = {x[1] for x in r[1][1::2]}
        return len(scores) > 1 or cmd.args[0].upper() == b"ZREMRANGEBYLEX" or \
            (cmd.args[0].upper() == b"ZRANGESTORE" and cmd.args[1] == cmd.args[2])

    def set_fits_listpack(self, cmd):
        c = self.conns[0][self.cur_conn]
        r = c.call(["SMEMBERS", cmd.args[2]])
        if r[0] not in "*~" or r[1] is None:
            return False
        return len(r[1]) <= 128 and all(len(m[1]) <= 64 for m in r[1])

    def exchange(self, server, cmd):
        c = self.conns[server][cmd.conn]
        if cmd.scan is None:
            return c.call(cmd.args)
        # iterate the cursor to the end; the reply is [final cursor, all elements]
        args = list(cmd.args)
        elements = []
        first = None
        for _ in range(5000):
            r = c.call(args)
            if first is None:
                first = r
            if r[0] != "*" or r[1] is None or len(r[1]) != 2:
                return r
            cursor, items = r[1]
            if items[0] not in "*~":
                return r
            name = args[0].upper()
            vals = items[1]
            if name in (b"HSCAN", b"ZSCAN") and not any(a.upper() in (b"NOVALUES", b"NOSCORES") for a in args):
                vals = tuple(("pair", vals[i], vals[i + 1]) for i in range(0, len(vals) - 1, 2))
            elements.extend(vals)
            if cursor == ("$", b"0"):
                break
            args[cmd.scan] = cursor[1]
        uniq = sorted(set(elements), key=sortkey)
        return ("scan", tuple(uniq))

    def step(self, idx, cmd):
        """Send one command to both servers; returns (Result or None, [Result expected...])."""
        self.cur_conn = cmd.conn
        replies = [self.exchange(s, cmd) for s in (0, 1)]
        a, b = replies
        name = cmd.args[0].upper()
        mode = cmd.mode
        expected_hits = []
        bad = None
        # transaction bookkeeping
        modes_for_exec = None
        for s in (0, 1):
            q = self.multi[s][cmd.conn]
            r = replies[s]
            if q is None:
                if name == b"MULTI" and r == ("+", b"OK"):
                    self.multi[s][cmd.conn] = []
            else:
                if name == b"EXEC" or name == b"DISCARD":
                    if s == 0:
                        modes_for_exec = q
                    self.multi[s][cmd.conn] = None
                elif r == ("+", b"QUEUED"):
                    q.append(cmd)
        if name == b"EXEC" and modes_for_exec is not None and a[0] == "*" and b[0] == "*" \
                and a[1] is not None and b[1] is not None and len(a[1]) == len(b[1]) == len(modes_for_exec):
            for i, (qc, x, y) in enumerate(zip(modes_for_exec, a[1], b[1])):
                if not same(qc.mode, x, y):
                    lab = expected(qc, x, y, self)
                    r = Result(idx, qc, x, y, lab)
                    r.in_exec = True
                    if lab:
                        expected_hits.append(r)
                    elif bad is None:
                        bad = r
            return bad, expected_hits, replies
        if not same(mode, a, b):
            lab = expected(cmd, a, b, self)
            r = Result(idx, cmd, a, b, lab)
            if lab:
                expected_hits.append(r)
            else:
                bad = r
        return bad, expected_hits, replies


def resync_key(runner, conn, key):
    """Commands that rebuild `key` on both servers as Redis holds it (content and TTL)."""
    c = runner.conns[0][conn]
    t = c.call(["TYPE", key])[1]
    out = [Cmd(["DEL", key], mode="ignore")]
    flat = lambda r: [x[1] for x in r[1]] if r[0] in "*~" else [x[1] for kv in r[1] for x in kv]
    if t == b"string":
        out.append(Cmd(["SET", key, c.call(["GET", key])[1]], mode="ignore"))
    elif t == b"list":
        out.append(Cmd(["RPUSH", key] + flat(c.call(["LRANGE", key, "0", "-1"])), mode="ignore"))
    elif t == b"hash":
        out.append(Cmd(["HSET", key] + flat(c.call(["HGETALL", key])), mode="ignore"))
    elif t == b"set":
        out.append(Cmd(["SADD", key] + flat(c.call(["SMEMBERS", key])), mode="ignore"))
    elif t == b"zset":
        r = c.call(["ZRANGE", key, "0", "-1", "WITHSCORES"])
        items = [x for pair in r[1] for x in pair[1]] if r[1] and r[1][0][0] == "*" else list(r[1])
        args = ["ZADD", key]
        for i in range(0, len(items), 2):
            args += [items[i + 1][1], items[i][1]]
        out.append(Cmd(args, mode="ignore"))
    pexp = c.call(["PEXPIRETIME", key])[1]
    if t != b"none" and pexp > 0:
        out.append(Cmd(["PEXPIREAT", key, str(pexp)], mode="ignore"))
    return out


def resync_cmds(runner, cmd, replies, expected_hits):
    """Commands that bring both servers to Redis's state after a random mutation (SPOP) or
    an expected difference in a write; recorded in the trace so replays stay exact."""
    if runner.multi[0][cmd.conn] is not None or runner.multi[1][cmd.conn] is not None:
        return []
    keys = []
    if cmd.post == "resync_set":
        keys.append(cmd.args[1])
    for e in expected_hits:
        if e.cmd.args[0].upper() not in READONLY:
            keys += [a for a in e.cmd.args[1:] if a.decode(errors="replace") in KEYS]
    out = []
    for key in dict.fromkeys(keys):
        out += resync_key(runner, cmd.conn, key)
    for o in out:
        o.conn = cmd.conn
    return out


READONLY = set(b"""GET MGET STRLEN GETRANGE SUBSTR EXISTS TTL PTTL EXPIRETIME PEXPIRETIME TYPE KEYS OBJECT
DBSIZE RANDOMKEY SCAN ECHO PING LLEN LRANGE LINDEX LPOS HGET HMGET HEXISTS HLEN HSTRLEN HKEYS HVALS
HGETALL HRANDFIELD HSCAN SCARD SISMEMBER SMISMEMBER SMEMBERS SRANDMEMBER SDIFF SINTER SUNION SINTERCARD
SSCAN ZCARD ZCOUNT ZSCORE ZMSCORE ZRANK ZREVRANK ZRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE ZRANGEBYLEX
ZREVRANGEBYLEX ZREVRANGE ZLEXCOUNT ZRANDMEMBER ZDIFF ZINTER ZUNION ZINTERCARD ZSCAN PUBLISH PUBSUB
TOUCH""".split())


def harmless(bad):
    """A difference after which both servers still hold the same data."""
    if getattr(bad, "in_exec", False):
        return False
    if bad.cmd.args[0].upper() in READONLY:
        return True
    return bad.a[0] == "-" and bad.b[0] == "-"


def run_trace(servers, trace, stop_on_bad=True, check_subs=True, resync=False, all_bad=None):
    """Run a list of Cmd on fresh connections after FLUSHALL. With `all_bad` (a list),
    differences after which the data still agrees are collected there and the run goes on.
    Returns (first unexpected Result or None, expected Results, executed trace)."""
    runner = Runner(servers)
    runner.open()
    for s in (0, 1):
        runner.conns[s][0].call(["FLUSHALL"])
    if check_subs:
        servers.drain_subs()
    exp = []
    executed = []
    bad = None
    try:
        i = 0
        for cmd in trace:
            b, e, replies = runner.step(len(executed), cmd)
            executed.append(cmd)
            exp += e
            if b is not None:
                if all_bad is not None and harmless(b):
                    all_bad.append((b, list(executed)))
                else:
                    bad = b
                    if stop_on_bad:
                        break
            for extra in (resync_cmds(runner, cmd, replies, e) if resync else []):
                runner.step(len(executed), extra)
                executed.append(extra)
            i += 1
        if bad is None and check_subs:
            subs = servers.drain_subs()
            if subs[0] != subs[1]:
                for which in (0, 1):
                    if subs[0][which] != subs[1][which]:
                        sc = Cmd(["<subscriber RESP%d messages>" % (2 + which)])
                        bad = Result(len(executed), sc, ("*", tuple(subs[0][which])), ("*", tuple(subs[1][which])), None)
                        break
    finally:
        runner.close()
    return bad, exp, executed


def still_fails(servers, trace, sig):
    others = []
    try:
        bad, _, _ = run_trace(servers, trace, check_subs=sig.startswith("<subscriber"), all_bad=others)
    except (OSError, ConnectionError):
        return False
    found = [b for b, _ in others] + ([bad] if bad is not None else [])
    if sig.startswith("<subscriber"):
        return any(b.signature() == sig for b in found)
    return any(b.signature() == sig and b.idx == len(trace) - 1 for b in found)


def minimize(servers, trace, sig, budget=400):
    """ddmin over the trace prefix; the last command (the differing one) is kept."""
    last = trace[-1]
    prefix = trace[:-1]
    runs = [0]

    def test(pre):
        runs[0] += 1
        return still_fails(servers, pre + [last], sig)

    n = 2
    while len(prefix) >= 1 and runs[0] < budget:
        chunk = max(1, len(prefix) // n)
        reduced = False
        for start in range(0, len(prefix), chunk):
            cand = prefix[:start] + prefix[start + chunk:]
            if test(cand):
                prefix = cand
                n = max(n - 1, 2)
                reduced = True
                break
            if runs[0] >= budget:
                break
        if not reduced:
            if chunk == 1:
                break
            n = min(len(prefix), n * 2)
    # also try simplifying: move every command to connection 0 (RESP2) or 1 (RESP3)
    return prefix + [last]


PUBSUB_PROBES = [
    (2, ["SUBSCRIBE a b", "PING", "PING hi", "GET k", "PSUBSCRIBE p*", "SUBSCRIBE a", "UNSUBSCRIBE a",
         "PUNSUBSCRIBE", "UNSUBSCRIBE", "PING", "UNSUBSCRIBE", "PUNSUBSCRIBE x", "SUBSCRIBE",
         "PUBSUB NUMPAT"]),
    (3, ["SUBSCRIBE a b", "PING", "PING hi", "GET k", "PSUBSCRIBE p*", "UNSUBSCRIBE a",
         "PUNSUBSCRIBE", "UNSUBSCRIBE", "PING", "UNSUBSCRIBE", "PUNSUBSCRIBE x", "SUBSCRIBE"]),
    (2, ["SUBSCRIBE a", "MULTI", "RESET", "GET k", "MULTI", "SUBSCRIBE b", "EXEC"]),
]


def pubsub_probes(servers):
    """Subscribe-mode replies (several replies per command): everything each command
    produced within a short wait, compared in order."""
    diffs = []
    for proto, lines in PUBSUB_PROBES:
        conns = [Conn(port, proto) for port in servers.ports]
        pubs = [Conn(port, 2) for port in servers.ports]
        done = []
        try:
            for line in lines:
                args = line.split()
                got = []
                for c, pub in zip(conns, pubs):
                    c.send(args)
                    replies = []
                    while c.pending(0.1):
                        replies.append(c.read())
                        while c.pending(0.0):
                            replies.append(c.read())
                    got.append(("*", tuple(replies)))
                cmd = Cmd(args)
                cmd.conn = proto - 2
                done.append(cmd)
                if got[0] != got[1]:
                    diffs.append((list(done), Result(len(done) - 1, cmd, got[0], got[1], None)))
                    break
        finally:
            for c in conns + pubs:
                c.close()
    return diffs


def fmt_trace(trace):
    lines = []
    for c in trace:
        if c.mode == "ignore" and c.args[0] == b"DISCARD":
            continue
        lines.append("    [RESP%d] %s" % (2 + c.conn, show_args(c.args)))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ember", help="path to ember-server")
    ap.add_argument("seeds", nargs="?", type=int, default=200)
    ap.add_argument("--commands", type=int, default=150, help="commands per seed")
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--no-minimize", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))  # still stop the servers
    servers = Servers(args.ember, args.redis_server)
    failures = {}  # signature -> (seed, trace, Result)
    expected_counts = {}
    expected_example = {}
    counts = {}
    total = 0
    started = time.time()
    try:
        for trace, bad in pubsub_probes(servers):
            sig = "subscribe mode: " + bad.signature()
            counts[sig] = counts.get(sig, 0) + 1
            failures[sig] = (0, trace, bad)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            gen = Gen(random.Random(seed))
            trace = gen.sequence(args.commands)
            others = []
            bad, exp, executed = run_trace(servers, trace, resync=True, all_bad=others)
            total += len(executed)
            for b, ex in others:
                sig = b.signature()
                counts[sig] = counts.get(sig, 0) + 1
                if sig not in failures or len(ex) < len(failures[sig][1]):
                    failures[sig] = (seed, ex, b)
            for e in exp:
                expected_counts[e.label] = expected_counts.get(e.label, 0) + 1
                expected_example.setdefault(e.label, e)
            if bad is not None:
                sig = bad.signature()
                counts[sig] = counts.get(sig, 0) + 1
                if args.verbose:
                    print("seed %d: %s" % (seed, sig))
                if sig not in failures or len(executed) < len(failures[sig][1]):
                    failures[sig] = (seed, executed[:bad.idx + 1], bad)
        print("differential: %d seeds, %d commands, %.1fs" % (args.seeds, total, time.time() - started))
        for label, n in sorted(expected_counts.items()):
            e = expected_example[label]
            print("  expected (%s): %d, e.g. %s -> redis %s, ember %s"
                  % (label, n, show_args(e.cmd.args), show(e.a, 80), show(e.b, 80)))
        for n, (sig, (seed, trace, bad)) in enumerate(sorted(failures.items()), 1):
            if not args.no_minimize and not sig.startswith("<subscriber") and seed:
                trace = minimize(servers, trace, sig)
                _, _, _ = None, None, None
                b2, _, _ = run_trace(servers, trace)
                if b2 is not None:
                    bad = b2
            print("\nDIFF %d (seed %d, seen %d times): %s" % (n, seed, counts[sig], sig))
            print(fmt_trace(trace))
            print("  redis: %s" % show(bad.a))
            print("  ember: %s" % show(bad.b))
        print("\nsummary: %d unexpected difference(s), %d expected difference(s) in %d commands"
              % (len(failures), sum(expected_counts.values()), total))
    finally:
        servers.stop()
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
