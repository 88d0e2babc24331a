#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hostile clients of a control socket, for test_hostile_control.sh.

  hostile_clients.py SOCKET SECONDS [IDLE]

Until SIGTERM, or SECONDS at most, it keeps, all at once, in one thread:

  - IDLE (1000) connections that never send; when the server lets one go
    (its request deadline), it connects again;
  - one client streaming a 10 MiB line with no newline, again each time
    the server cuts it off;
  - clients sending random bytes;
  - clients sending fds (pipes) with SCM_RIGHTS, up to 24 at once - more
    than the server has room for in one message - with a request, whole or
    cut short;
  - clients sending half a JSON object, then closing.

Each of these but the idle ones comes back RETRY_S after it ended, so that
the load is the server's to bear rather than a core spent on reconnecting.

It prints "up" once every idle connection has connected, and at the end
one JSON line of what it did.  The server closing on it is expected: an
OSError is counted, never raised.  It exits 0 once its idle connections
have all been up at once, 1 if they never were.
"""
import json
import os
import random
import selectors
import signal
import socket
import sys
import time

STREAM_LINE = 10 << 20
CHUNK = 64 << 10
GARBAGE = 4
SCM = 4
PARTIAL = 4
RETRY_S = 0.005

path, seconds = sys.argv[1], float(sys.argv[2])
n_idle = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
rng = random.Random()
sel = selectors.DefaultSelector()
counts = {"idle_connects": 0, "idle_closed_by_server": 0, "stream_bytes": 0,
          "stream_cut": 0, "garbage": 0, "scm_fds": 0, "partial": 0,
          "connect_retries": 0, "errors": 0}
# (when, kind) of the clients to connect: new, back, or whose connect()
# found the backlog full.
pending = []


def again(kind, delay):
    pending.append((time.monotonic() + delay, kind))


def connect(kind):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(path)
    except BlockingIOError:
        counts["connect_retries"] += 1
        s.close()
        again(kind, 0)
        return
    except OSError:
        counts["errors"] += 1
        s.close()
        again(kind, RETRY_S)
        return
    start(kind, s)


def start(kind, s):
    """A connected client begins its misbehaviour."""
    state = {"kind": kind, "sent": 0}
    if kind == "idle":
        counts["idle_connects"] += 1
        sel.register(s, selectors.EVENT_READ, state)
    elif kind == "stream":
        sel.register(s, selectors.EVENT_WRITE, state)
    elif kind == "garbage":
        data = rng.randbytes(rng.randrange(1, 4096))
        if rng.random() < 0.5:
            data += b"\n"
        send_and_read(s, state, lambda: s.send(data))
        counts["garbage"] += 1
    elif kind == "scm":
        pipes = [os.pipe() for _ in range(rng.randrange(1, 13))]
        fds = [fd for p in pipes for fd in p]
        data = rng.choice([b'{"cmd":"status"}\n', b'{"cmd":"sta'])
        send_and_read(s, state, lambda: socket.send_fds(s, [data], fds))
        for fd in fds:
            os.close(fd)
        counts["scm_fds"] += len(fds)
    elif kind == "partial":
        try:
            s.send(b'{"cmd":"status"')
        except OSError:
            counts["errors"] += 1
        s.close()
        counts["partial"] += 1
        again(kind, RETRY_S)


def send_and_read(s, state, send):
    """Send once, then read whatever the server says until it closes."""
    try:
        send()
    except OSError:
        counts["errors"] += 1
    sel.register(s, selectors.EVENT_READ, state)


def closed(s, state):
    sel.unregister(s)
    s.close()
    if state["kind"] == "idle":
        counts["idle_closed_by_server"] += 1
    elif state["kind"] == "stream":
        counts["stream_cut"] += 1
    again(state["kind"], 0 if state["kind"] == "idle" else RETRY_S)


def on_event(key, events):
    s, state = key.fileobj, key.data
    if events & selectors.EVENT_READ:
        try:
            if s.recv(65536):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        closed(s, state)
        return
    # The stream: the rest of its line, a chunk at a time.
    try:
        n = s.send(b"x" * min(CHUNK, STREAM_LINE - state["sent"]))
    except BlockingIOError:
        return
    except OSError:
        closed(s, state)
        return
    state["sent"] += n
    counts["stream_bytes"] += n
    if state["sent"] >= STREAM_LINE:
        sel.modify(s, selectors.EVENT_READ, state)


for kind, k in (("idle", n_idle), ("stream", 1), ("garbage", GARBAGE),
                ("scm", SCM), ("partial", PARTIAL)):
    pending.extend([(0.0, kind)] * k)
deadline = time.monotonic() + seconds
said_up = stop = False


def on_term(sig, frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
while not stop and time.monotonic() < deadline:
    now = time.monotonic()
    due = [kind for when, kind in pending if when <= now]
    pending = [(when, kind) for when, kind in pending if when > now]
    for kind in due:
        connect(kind)
    if not said_up and counts["idle_connects"] >= n_idle:
        print("up", flush=True)
        said_up = True
    for key, events in sel.select(timeout=0.002 if pending else 0.1):
        on_event(key, events)

for key in list(sel.get_map().values()):
    key.fileobj.close()
counts["up"] = said_up
print(json.dumps(counts), flush=True)
sys.exit(0 if said_up else 1)
