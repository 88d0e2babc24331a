#!/usr/bin/env python3
"""A memcached text-protocol client for test_kvcache_256m.sh.

  kvcache_fill.py fill PORT N      set fill:0 .. fill:N-1, each to its own
                                   1000-byte value, pipelined, every answer
                                   checked; prints the count stored
  kvcache_fill.py verify PORT N    get every one back in batches; prints
                                   "good BAD-COUNT" lines: how many came back
                                   with their value, how many did not
  kvcache_fill.py probe PORT FILE [SECONDS]
                                   one connection, one get at a time, until
                                   FILE exists and SECONDS (0) have passed
                                   (FILE.ready once the first was
                                   answered): prints the longest request in
                                   ms, the number of requests, the errors
                                   (a wrong answer, a closed connection),
                                   when the longest was sent
                                   (CLOCK_MONOTONIC ns, BATON_TRACE's
                                   clock) and how long it ran (s); then a
                                   line "long SENT_NS MS" for each request
                                   over 5 ms (LONG)

Every socket operation is bounded (30 s).
"""
import os
import socket
import sys
import time

VALUE = 1000
LONG = 0.005    # a request the probe lists, with when it was sent


def value(i):
    v = b"%08d" % i
    return (v * (VALUE // len(v) + 1))[:VALUE]


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def fill(port, n):
    s = connect(port)
    f = s.makefile("rb")
    stored = 0
    for base in range(0, n, 2000):
        batch = range(base, min(n, base + 2000))
        s.sendall(b"".join(b"set fill:%d 0 0 %d\r\n%s\r\n" % (i, VALUE, value(i))
                           for i in batch))
        for _ in batch:
            stored += f.readline() == b"STORED\r\n"
    print(stored)


def verify(port, n):
    s = connect(port)
    f = s.makefile("rb")
    good = 0
    for base in range(0, n, 200):
        keys = range(base, min(n, base + 200))
        s.sendall(b"get " + b" ".join(b"fill:%d" % i for i in keys) + b"\r\n")
        while (line := f.readline()) != b"END\r\n":
            parts = line.split()
            if len(parts) != 4 or parts[0] != b"VALUE":
                raise SystemExit("not an answer: %r" % line)
            data = f.read(int(parts[3]) + 2)
            good += data[:-2] == value(int(parts[1][5:]))
    print(good, n - good)


def probe(port, stop, seconds):
    s = connect(port)
    worst, worst_at, count, errors, longs = 0.0, 0, 0, 0, []
    first = time.monotonic()
    s.sendall(b"set probe 0 0 2\r\nok\r\n")
    s.recv(100)
    while not os.path.exists(stop) or time.monotonic() - first < seconds:
        t0 = time.monotonic()
        s.sendall(b"get probe\r\n")
        out = b""
        while not out.endswith(b"END\r\n"):
            d = s.recv(65536)
            if not d:
                errors += 1
                break
            out += d
        if out != b"VALUE probe 0 2\r\nok\r\nEND\r\n":
            errors += 1
            if not d:
                break
        took = time.monotonic() - t0
        if took > worst:
            worst, worst_at = took, int(t0 * 1e9)
        if took > LONG:
            longs.append((int(t0 * 1e9), took * 1000))
        count += 1
        if count == 1:
            open(stop + ".ready", "w").close()
    print("%.1f %d %d %d %.3f" % (worst * 1000, count, errors, worst_at,
                                  time.monotonic() - first))
    for at, ms in longs:
        print("long %d %.1f" % (at, ms))


if __name__ == "__main__":
    what, port = sys.argv[1], int(sys.argv[2])
    if what == "fill":
        fill(port, int(sys.argv[3]))
    elif what == "verify":
        verify(port, int(sys.argv[3]))
    else:
        probe(port, sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 0)
