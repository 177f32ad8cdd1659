#!/usr/bin/env python3
"""minimize.py — delta debugging (ddmin) of a failing trace.

    minimize.py TRACE_DIR OUT_DIR [--nudge PATH] [--trigger TYPE]

TRACE_DIR holds config.yaml, events.jsonl, catalog.jsonl and end_time (as
gen.py writes them). Shrinks the event list to a 1-minimal list on which
`nudge replay` and model.py still disagree, writes it to OUT_DIR with the
same files, and prints the command that reproduces it. With --trigger, only
discrepancies of that trigger type count (a trace that fails for several
reasons shrinks to the one under study).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare  # noqa: E402
import model    # noqa: E402


def run_pair(nudge, d, events):
    """Returns the discrepancies of the trace d with these event lines."""
    ev = os.path.join(d, "events.jsonl")
    with open(ev, "w") as f:
        f.write("".join(events))
    end = open(os.path.join(d, "end_time")).read().strip()
    out = os.path.join(d, "engine.jsonl")
    cmd = [nudge, "replay", "-c", os.path.join(d, "config.yaml"), "--input",
           ev, "--end-time", end, "--output", out]
    cat = os.path.join(d, "catalog.jsonl")
    if os.path.exists(cat):
        cmd += ["--catalog", cat]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    acts = model.run(os.path.join(d, "config.yaml"), ev,
                     cat if os.path.exists(cat) else None, int(end))
    return compare.compare(compare.load(out), acts)


def ddmin(items, fails):
    n = 2
    while len(items) >= 2:
        chunk = max(1, len(items) // n)
        subsets = [items[i:i + chunk] for i in range(0, len(items), chunk)]
        reduced = False
        for i, s in enumerate(subsets):
            comp = [x for j, t in enumerate(subsets) if j != i for x in t]
            if fails(s):
                items, n, reduced = s, 2, True
                break
            if len(subsets) > 2 and fails(comp):
                items, n, reduced = comp, max(n - 1, 2), True
                break
        if not reduced:
            if n >= len(items):
                break
            n = min(len(items), n * 2)
    return items


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("out")
    ap.add_argument("--nudge", default=os.path.join(HERE, "..", "..",
                                                    "build", "nudge"))
    ap.add_argument("--trigger", help="only this trigger type's discrepancies")
    a = ap.parse_args()

    def pair(events):
        return [d for d in run_pair(a.nudge, work, events)
                if a.trigger is None or d[1] == a.trigger]

    work = tempfile.mkdtemp()
    try:
        for f in ("config.yaml", "catalog.jsonl", "end_time"):
            if os.path.exists(os.path.join(a.trace, f)):
                shutil.copy(os.path.join(a.trace, f), work)
        events = open(os.path.join(a.trace, "events.jsonl")).readlines()
        if not pair(events):
            print("minimize: the trace shows no discrepancy")
            return 1
        small = ddmin(events, lambda ev: bool(pair(ev)))
        os.makedirs(a.out, exist_ok=True)
        for f in ("config.yaml", "catalog.jsonl", "end_time"):
            if os.path.exists(os.path.join(work, f)):
                shutil.copy(os.path.join(work, f), a.out)
        with open(os.path.join(a.out, "events.jsonl"), "w") as f:
            f.write("".join(small))
        diffs = pair(small)
        print("minimize: %d of %d events remain (%s):" % (
            len(small), len(events), a.out))
        sys.stdout.write("".join("  " + x for x in small))
        for kind, typ, text in diffs:
            print("[%s] %s" % (typ, text))
        print("reproduce: tests/diff/run.sh --trace %s" % a.out)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
