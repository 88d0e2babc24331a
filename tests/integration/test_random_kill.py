#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Random SIGKILLs during live updates of kvcache: no program, no item lost.

  test_random_kill.py BATON KVCACHE_V1 KVCACHE_V2 REAP

kvcache-v1 runs under reap (every process it leads to accounted for) with
ITEMS items stored by libmemcached's memccp, and a client connection held
open.  Then UPDATES updates in each mode (as many as fit in BUDGET_S), in
a random order, all to v2 (v1 to v2 first, v2 to v2 after; v2 to v1 is
refused by design).  During each,
at a random instant from the request to as long after it as an update
without a kill took lately (40 ms at first), one random process of the
program that exists at that instant is sent SIGKILL:

  dry-run  the target checking the image, before anything is frozen
  keeper   the process holding every preserved fd from FREEZE on
  new      socket mode: the new version, a new process (started with the
           update, beside the dry run: told from it by its environment)
  old      the old version - in exec mode the same process becomes the new
           one - but only once its keeper exists (a live child holding
           its commit cell: a previous update's keeper still its child is
           not it): before FREEZE nothing but the program holds its
           state, and a kill -9 then is outside the guarantee
           (docs/reliability.md)

The old and new versions are the program once the update is over, which a
kill is no fault of: they are stopped first (SIGSTOP, a pause, as a busy
machine would make), and killed only if the keeper has not been told that
a version finished or gave up - it leaves when told, or renames itself
baton-let-go while it waits for a socket-mode old process to exit - or if
it left with the update undecided (the commit cell says LIVE), which is
the keeper failing the program.

First, on made-up processes, that the judge tells this update's keeper
from a previous one's.  Whatever the client is told, the program must then answer `baton status`,
running, within RUNNING_S; every item must read back with its value, and
the held connection must still be served.  At the end: the tally, every
item read back with memccat, SIGTERM, and reap's log must show no process
that died of a signal but those this test sent, and no failed exit but a
new version's whose old process was killed as it handed over.  TAP output.

RANDOM_KILL_SEED=N makes the same choices again (the seed is printed); the
instants are the same, what runs at them may not be.
"""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter

ITEMS = 300
UPDATES = 100               # per mode, as many as fit in
BUDGET_S = 40               # so that a loaded machine stays well in time
WINDOW_S = 0.040            # until updates have been timed
RUNNING_S = 15
KEEPER = "baton-keeper"
LET_GO = "baton-let-go"     # a keeper told the update is over (keeper.c)
CELL_LIVE = 0               # lib/host/keeper.c: enum baton_cell_state

baton, v1, v2, reap = sys.argv[1:5]
seed = int(os.environ.get("RANDOM_KILL_SEED") or time.time_ns() % (1 << 32))
rng = random.Random(seed)
tmp = tempfile.TemporaryDirectory()
ctl = os.path.join(tmp.name, "ctl")
n_tests = failed = 0


def tap(good, name, *details):
    global n_tests, failed
    n_tests += 1
    failed += not good
    print(f"{'ok' if good else 'not ok'} {n_tests} - {name}", flush=True)
    for d in details:
        for line in str(d).splitlines():
            print(f"#   {line}", flush=True)


def comment(text):
    print(f"# {text}", flush=True)


# ---- The program, through its control socket and its memcached port ----

def status():
    """The program's status, or None if it does not answer (baton waits 5 s)."""
    try:
        r = subprocess.run([baton, "status", "--socket", ctl, "--json"],
                           capture_output=True, text=True, timeout=10)
        return json.loads(r.stdout) if r.returncode == 0 else None
    except (subprocess.TimeoutExpired, ValueError):
        return None


def running_within(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        st = status()
        if st and st.get("state") == "running":
            return st
        time.sleep(0.05)
    return None


def recv_until(sock, end):
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("the server closed the connection")
        data += chunk
    return data


def get_all(sock, keys):
    """One multi-key get: {key: value} of what came back."""
    sock.sendall(b"get " + b" ".join(k.encode() for k in keys) + b"\r\n")
    data = recv_until(sock, b"END\r\n")
    got, pos = {}, 0
    while not data.startswith(b"END\r\n", pos):
        eol = data.index(b"\r\n", pos)
        _, key, _, size = data[pos:eol].split()
        start = eol + 2
        got[key.decode()] = data[start:start + int(size)].decode()
        pos = start + int(size) + 2
    return got


def lost_items(port, items):
    """The keys that do not read back with their value (all, if none can)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            got = get_all(s, list(items))
    except OSError:
        return list(items)
    return [k for k, v in items.items() if got.get(k) != v]


def held_answers(sock):
    try:
        sock.sendall(b"get held\r\n")
        return recv_until(sock, b"END\r\n") == b"VALUE held 0 4\r\nheld\r\nEND\r\n"
    except OSError:
        return False


# ---- The program's processes, from /proc ----

def stat(pid):
    """(ppid, comm, state) of @pid, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[1]), s[s.index("(") + 1:s.rindex(")")], fields[0]


def descendants(root):
    """{pid: stat} of every process below @root, read from the children
    lists of its threads: quicker than every process in /proc."""
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    children = [int(c) for c in f.read().split()]
            except OSError:
                continue
            for child in children:
                st = stat(child)
                if st:
                    out[child] = st
                    todo.append(child)
    return out


def is_dry_run(pid):
    """Whether @pid was started as a dry run (BATON_DRY_RUN in the
    environment it was started with, which unsetenv() leaves in place)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return any(v.startswith(b"BATON_DRY_RUN=") for v in f.read().split(b"\0"))
    except OSError:
        return False


def candidates(reaper, old):
    """(kind, pid) of each process of the program a kill may hit now; the
    keepers; this update's keeper, if it exists."""
    procs = descendants(reaper)
    keepers = [p for p, (_, comm, _) in procs.items() if comm == KEEPER]
    # The keeper of this update: @old's child, alive, and holding the cell
    # @old holds.  A previous update's (an exec-mode keeper told to go, its
    # exit not yet reaped by @old's loop) holds another cell or none: @old
    # killed then is killed before this update's keeper exists - outside
    # the guarantee, and the program lost.
    cell = cell_path(old)
    ours = [k for k in keepers if procs[k][0] == old and procs[k][2] != "Z" and
            cell is not None and (cell_path(k) or (0, 0))[1] == cell[1]]
    # Its keeper told the update finished (socket mode, waiting for @old to
    # exit): @old's child is the new version, the program now.
    over = any(comm == LET_GO and ppid == old for ppid, comm, _ in procs.values())
    out = []
    for pid, (ppid, comm, state) in procs.items():
        if state == "Z":
            continue
        if comm == KEEPER:
            out.append(("keeper", pid))
        elif pid == old:
            if ours:
                out.append(("old", pid))
        elif keepers:
            out.append(("new", pid))
        elif ppid == old and not over:
            out.append(("dry-run" if is_dry_run(pid) else "new", pid))
        # else: what a finished update left running - the program itself
    return out, keepers, ours


def state_of(pid):
    st = stat(pid)
    return st and st[2]


def wait_state(pid, wanted, seconds):
    """Until @pid's state is one of @wanted (None: gone); its last state."""
    end = time.monotonic() + seconds
    while True:
        st = state_of(pid)
        if st in wanted or st is None or time.monotonic() >= end:
            return st
        time.sleep(0.0005)


def cell_path(pid):
    """(/proc path of @pid's fd on a commit cell, the cell's inode), or None.
    An fd that closes as it is looked at is passed over, not taken as none."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in fds:
        path = f"/proc/{pid}/fd/{fd}"
        try:
            if os.readlink(path).startswith("/memfd:baton-cell"):
                return path, os.stat(path).st_ino
        except OSError:
            continue
    return None


def cell_of(pid):
    """The commit cell, read through @pid's fd on it; None if it has none."""
    cell = cell_path(pid)
    try:
        with open(cell[0], "rb") as f:
            return int.from_bytes(f.read(4), "little")
    except (OSError, TypeError):
        return None


def kill_version(pidfd, pid, keepers):
    """SIGKILL a version of the program if the update still holds it.

    Stopped, it sends nothing more; the keeper, once asleep, has read all
    it was sent.  A keeper that left was told the update is over - unless
    the cell is still LIVE.  Returns what happened."""
    signal.pidfd_send_signal(pidfd, signal.SIGSTOP)
    if wait_state(pid, ("T", "Z"), 2) != "T":
        return "gone"
    # Asleep and still the keeper: one told a version finished renames
    # itself (baton-let-go) before it waits for the old process to exit.
    holding = [wait_state(k, ("S", "Z"), 2) == "S" and (stat(k) or (0, ""))[1] == KEEPER
               for k in keepers]
    if any(holding) or cell_of(pid) == CELL_LIVE:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        return "killed"
    signal.pidfd_send_signal(pidfd, signal.SIGCONT)
    return "after the update"


# ---- The judge, on a made-up program ----

def made_up(keeper):
    """A process in the middle of a commit: its cell made (LIVE), and a
    child named as a keeper - @keeper "ours" (forked holding that cell),
    "exited" (a previous update's, exited and not reaped yet) or "other"
    (a previous update's, asleep, holding its own cell).  (its pid, the
    keeper's)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            if keeper != "ours":
                k = os.fork()
                if k == 0:
                    with open("/proc/self/comm", "w") as f:
                        f.write(KEEPER)
                    if keeper == "other":
                        os.write(os.memfd_create("baton-cell"), bytes(4))
                        os.write(w, b"%d\n" % os.getpid())
                        signal.pause()
                    os._exit(0)
            os.write(os.memfd_create("baton-cell"), bytes(4))
            if keeper == "ours":
                k = os.fork()
                if k == 0:
                    with open("/proc/self/comm", "w") as f:
                        f.write(KEEPER)
                    os.write(w, b"%d\n" % os.getpid())
                    signal.pause()
            elif keeper == "exited":
                os.write(w, b"%d\n" % k)
            signal.pause()
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        k = int(f.readline())
    wait_state(k, ("S", "Z") if keeper == "exited" else ("S",), 5)
    return pid, k


def judge_tells_keepers():
    """The old process is offered for a kill only once this update's
    keeper exists: a previous update's, still its child, is not it."""
    offered = {}
    for keeper in ("ours", "exited", "other"):
        pid, k = made_up(keeper)
        try:
            offered[keeper] = ("old", pid) in candidates(os.getpid(), pid)[0]
        finally:
            for p in (k, pid):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            os.waitpid(pid, 0)
    tap(offered == {"ours": True, "exited": False, "other": False},
        "the old process is offered for a kill with its update's keeper, "
        "not with a previous update's still its child", f"offered: {offered}")


# ---- The run ----

def start():
    out = open(os.path.join(tmp.name, "server.out"), "w+")
    err = open(os.path.join(tmp.name, "server.err"), "w+")
    reaper = subprocess.Popen([reap, "-l", os.path.join(tmp.name, "procs"), "-t", "170",
                               "--", v1, "--port", "0", "--memory", "8",
                               "--control", ctl], stdout=out, stderr=err)
    for _ in range(200):
        out.seek(0)
        line = out.readline()
        if "listening on" in line and status():
            return reaper, int(line.rsplit(":", 1)[1]), err
        time.sleep(0.05)
    tap(False, "kvcache-v1 listens and answers status", server_err(err))
    print(f"1..{n_tests}")
    sys.exit(1)


def server_err(err):
    err.seek(0)
    return "".join(err.readlines()[-20:])


def store(port, servers):
    """ITEMS items, distinct values of varied lengths, stored with memccp."""
    items = {}
    item_dir = os.path.join(tmp.name, "items")
    os.mkdir(item_dir)
    for i in range(ITEMS):
        key = f"item{i:03d}"
        items[key] = f"v{i}-{seed}-" + "%x" % rng.getrandbits(rng.randrange(4, 400))
        with open(os.path.join(item_dir, key), "w") as f:
            f.write(items[key])
    r = subprocess.run(["memccp", servers] + sorted(items), cwd=item_dir,
                       capture_output=True, text=True)
    tap(r.returncode == 0 and not lost_items(port, items),
        f"{ITEMS} items stored with memccp, each read back", r.stderr)
    return items


def strike(reaper, old, window):
    """At a random instant of the window, kill a random process of the
    program: its kind, its pid (None: nothing killed), what happened when."""
    t0 = time.monotonic()
    time.sleep(rng.uniform(0, window))
    at = (time.monotonic() - t0) * 1000
    cands, keepers, ours = candidates(reaper, old)
    if not cands:
        return "none", None, f"nothing to kill at {at:.1f} ms"
    kind, pid = rng.choice(cands)
    # Through a pidfd: a pid that ends and is used again is not hit.
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return f"none: {kind} gone", None, f"{kind} {pid} gone at {at:.1f} ms: not killed"
    try:
        if kind in ("old", "new"):
            # The old process by its update's keeper; a new one by any
            # (told the update is over, it renames itself).
            how = kill_version(pidfd, pid, ours if kind == "old" else keepers)
        else:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            how = "killed"
    except ProcessLookupError:
        how = "gone"
    finally:
        os.close(pidfd)
    if how != "killed":
        return f"none: {kind} {how}", None, f"{kind} {pid} {how} at {at:.1f} ms: not killed"
    return kind, pid, f"killed {kind} {pid} at {at:.1f} ms"


def outcome(client):
    """What the client that asked for the update was told."""
    try:
        out, err = client.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        client.kill()
        client.communicate()
        return "the client hung"
    try:
        return json.loads(out)["outcome"]
    except (ValueError, KeyError):
        return "no answer: " + err.strip().rsplit(": ", 1)[-1]


def main():
    comment(f"seed {seed} (RANDOM_KILL_SEED={seed} makes the same choices again)")
    judge_tells_keepers()
    reaper, port, err = start()
    tap(True, f"kvcache-v1 listens on {port} and answers status")
    servers = f"--servers=127.0.0.1:{port}"
    items = store(port, servers)
    held = socket.create_connection(("127.0.0.1", port), timeout=5)
    held.sendall(b"set held 0 0 4\r\nheld\r\n")
    tap(recv_until(held, b"\r\n") == b"STORED\r\n", "a held connection stores")

    modes = ["exec"] * UPDATES + ["socket"] * UPDATES
    rng.shuffle(modes)
    killed, kinds, outcomes, versions = set(), Counter(), Counter(), Counter()
    programs_lost = items_lost = conns_lost = socket_old_kills = 0
    durations = []              # of the updates nothing was killed in
    window = WINDOW_S
    old = status()["pid"]
    end = time.monotonic() + BUDGET_S
    for n, mode in enumerate(modes, 1):
        if time.monotonic() >= end:
            comment(f"{BUDGET_S} s are up: {n - 1} of {len(modes)} updates made")
            break
        if durations:
            window = sorted(durations[-5:])[len(durations[-5:]) // 2]
        t0 = time.monotonic()
        client = subprocess.Popen([baton, "update", "--socket", ctl, "--to", v2,
                                   "--mode", mode, "--timeout", "5", "--json"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        kind, pid, what = strike(reaper.pid, old, window)
        told = outcome(client)
        if pid:
            killed.add(pid)
            socket_old_kills += kind == "old" and mode == "socket"
        elif told == "updated":
            durations.append(time.monotonic() - t0)
        kinds[kind] += 1
        outcomes[told] += 1
        st = running_within(RUNNING_S)
        if not st:
            programs_lost += 1
            with open(os.path.join(tmp.name, "procs")) as f:
                ended = f.readlines()[-10:]
            tap(False, f"update {n} ({mode}): {what}; told {told}: the program is lost",
                "the last processes to end (reap):", *ended, server_err(err))
            break
        old = st["pid"]
        versions[st["program"]] += 1
        bad = lost_items(port, items)
        items_lost += len(bad)
        conn_ok = held_answers(held)
        conns_lost += not conn_ok
        tap(not bad and conn_ok,
            f"update {n} ({mode}): {what}; told {told}; {st['program']} runs, pid {old}, "
            f"{ITEMS - len(bad)}/{ITEMS} items" + ("" if conn_ok else ", the held connection lost"),
            *(f"lost {k}" for k in bad[:10]), server_err(err) if bad or not conn_ok else "")
        if not conn_ok:
            held.close()
            held = socket.create_connection(("127.0.0.1", port), timeout=5)

    comment(f"window: the last updates without a kill took {window * 1000:.1f} ms")
    comment("kills: " + ", ".join(f"{k} {c}" for k, c in sorted(kinds.items())))
    comment("told: " + ", ".join(f"{k} {c}" for k, c in sorted(outcomes.items())))
    comment("then running: " + ", ".join(f"{k} {c}" for k, c in sorted(versions.items())))
    tap(programs_lost == 0 and sum(kinds.values()) >= 30,
        f"{programs_lost} programs lost in {sum(kinds.values())} updates")
    tap(items_lost == 0, f"{items_lost} items lost")
    tap(conns_lost == 0, f"{conns_lost} times the held connection was lost")

    r = subprocess.run(["memccat", servers] + sorted(items), capture_output=True, text=True)
    want = "".join(items[k] + "\n" for k in sorted(items))
    tap(r.returncode == 0 and r.stdout == want,
        f"every item read back with memccat ({len(r.stdout.splitlines())} values)",
        *r.stderr.splitlines()[-3:])

    final = status()
    if final:
        os.kill(final["pid"], signal.SIGTERM)
    try:
        reaper.wait(timeout=30)
    except subprocess.TimeoutExpired:
        for pid in descendants(reaper.pid):
            os.kill(pid, signal.SIGKILL)
        reaper.wait()
    check_log(final, killed, socket_old_kills, err)
    print(f"1..{n_tests}")
    comment(f"{n_tests - failed} passed, {failed} failed (seed {seed})")
    return 1 if failed else 0


def check_log(final, killed, socket_old_kills, err):
    """Nothing died of a signal but our SIGKILLs and the final SIGTERM; the
    only failed exits are new versions whose old process we killed while it
    handed over (they say so, exit 1, and the keeper brings the old back)."""
    with open(os.path.join(tmp.name, "procs")) as f:
        log = f.read()
    bad, gave_up = [], []
    for line in log.splitlines():
        pid, name, how, code = line.split()
        if how == "report":
            bad.append(line)    # a sanitizer's report, on reap's stderr
        elif how == "signal" and not ((code == "9" and int(pid) in killed) or
                                      (code == "15" and final and int(pid) == final["pid"])):
            bad.append(line)
        elif how == "exit" and code != "0":
            (gave_up if name.startswith("kvcache") else bad).append(line)
    comment(f"{len(gave_up)} new versions gave up, their old process killed "
            f"({socket_old_kills} kills of an old process in socket mode)")
    tap(final is not None and not bad and len(gave_up) <= socket_old_kills,
        f"every process of the program ended well, or by our {len(killed)} SIGKILLs "
        "or the final SIGTERM", "" if final else "no program was left to stop",
        *bad, *gave_up, "" if not bad else log + server_err(err))


sys.exit(main())
