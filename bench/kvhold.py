#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Where each client's wait through a kvcache update goes (bench/kvhold.sh).

  kvhold.py RUN_DIR...

Each RUN_DIR holds one run: `trace` (BATON_TRACE of both versions: "NS PID
PHASE MINFLT"), `updates` (a line per update: [outcome, blackout_ms,
held_ms, mode]) and `slow` (kvload --slow: "slow CONN SENT_NS NS").  For
each update, from its COMMIT to its FINISH in the trace, each connection's
longest request in flight then is the one that spanned the update; its
length is what that client waited.  Prints, per mode, the medians (ms):

  held, blackout    what the update reported
  prep              COMMIT -> the program's prepare hook done (kvcache:
                    parking its workers, saving the connections)
  other             the rest of COMMIT -> FREEZE (states, image, the
                    keeper's fork; socket mode: the new process's start)
  first, median     FINISH -> the first / the median held client answered
  longest           the longest wait of a client through the update
  held-blackout, longest-held
"""
import json
import statistics
import sys


def phases(trace, start):
    """The phases of the update whose COMMIT is trace[start]: first time of
    each, up to the new version's "closed" or the next COMMIT."""
    ph = {}
    for i, (ns, _, name) in enumerate(trace[start:]):
        if name == "commit" and i:
            break
        ph.setdefault(name, ns)
        if name == "closed":
            break
    return ph


def run(d):
    with open(d + "/trace") as f:
        # Each process writes its notes at once: sorted, they interleave.
        trace = sorted((int(ns), int(pid), name)
                       for ns, pid, name, _ in (line.split() for line in f))
    with open(d + "/updates") as f:
        ups = [json.loads(line) for line in f]
    with open(d + "/slow") as f:
        slow = [tuple(map(int, line.split()[1:4])) for line in f
                if line.startswith("slow ")]
    commits = [i for i, t in enumerate(trace) if t[2] == "commit"]
    for k, i in enumerate(commits):
        ph = phases(trace, i)
        if "finish" not in ph or k >= len(ups) or ups[k][0] != "updated":
            continue
        c, fin = ph["commit"], ph["finish"]
        prep = ph.get("program-prepare", c)
        per = {}
        for conn, sent, ns in slow:
            if sent < fin and sent + ns > c and ns > per.get(conn, (0, 0))[1]:
                per[conn] = (sent, ns)
        if not per:
            continue
        ends = sorted(sent + ns - fin for sent, ns in per.values())
        yield {
            "mode": ups[k][3], "blackout": ups[k][1], "held": ups[k][2],
            "prep": (prep - c) / 1e6,
            "other": (ph["freeze"] - prep) / 1e6,
            "first": ends[0] / 1e6,
            "median": statistics.median(ends) / 1e6,
            "longest": max(ns for _, ns in per.values()) / 1e6,
        }


def main():
    rows = [r for d in sys.argv[1:] for r in run(d)]
    keys = ["held", "blackout", "prep", "other", "first", "median", "longest"]
    for mode in ("exec", "socket"):
        rr = [r for r in rows if r["mode"] == mode]
        if not rr:
            continue
        med = {k: statistics.median(r[k] for r in rr) for k in keys}
        med["held-blackout"] = statistics.median(r["held"] - r["blackout"]
                                                 for r in rr)
        med["longest-held"] = statistics.median(r["longest"] - r["held"]
                                                for r in rr)
        print(f"{mode:6} n={len(rr):3} " +
              " ".join(f"{k}={v:.2f}" for k, v in med.items()))


if __name__ == "__main__":
    main()
