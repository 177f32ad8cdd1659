#!/usr/bin/env python3
"""compare.py — compares the actions of `nudge replay` with the model's.

    compare.py ENGINE.jsonl MODEL.jsonl [--quiet]

Actions are matched by (trigger_name, key, stage, created_at, reference),
the reference being the order_id (post_purchase_upsell), the cart part and
device/channel B (channel_switch) or the cart_id (the others); then every
field but `emitted_at` (wall clock, TRIGGERS.md §4) is compared, action_id
included. Prints missing / extra / different actions; exit 1 on any.
"""
import json
import os
import sys

IGNORED = {"emitted_at"}


def match_key(a):
    key = a.get("customer_id") or a.get("anonymous_id")
    if a.get("trigger") == "post_purchase_upsell":
        ref = a.get("order_id")
    elif a.get("trigger") == "channel_switch":
        ref = (a.get("cart_id"), a.get("device_id") or a.get("channel"))
    else:
        ref = a.get("cart_id")
    return (a.get("trigger_name"), key, a.get("stage"), a.get("created_at"),
            json.dumps(ref))


def load(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def short(a):
    return json.dumps({k: v for k, v in a.items() if k not in IGNORED},
                      separators=(",", ":"))


def compare(engine, model):
    """Returns a list of discrepancies: (kind, trigger type, text)."""
    def group(acts):
        g = {}
        for a in acts:
            g.setdefault(match_key(a), []).append(a)
        return g
    ge, gm = group(engine), group(model)
    diffs = []
    for k in sorted(set(ge) | set(gm), key=lambda k: (k[3] or 0, str(k))):
        es, ms = ge.get(k, []), gm.get(k, [])
        typ = (es or ms)[0].get("trigger")
        for i in range(max(len(es), len(ms))):
            e = es[i] if i < len(es) else None
            m = ms[i] if i < len(ms) else None
            if e is None:
                diffs.append(("missing", typ, "missing in engine (model has):"
                              "\n    " + short(m)))
            elif m is None:
                diffs.append(("extra", typ, "extra in engine (model has "
                              "none):\n    " + short(e)))
            else:
                fields = [f for f in sorted(set(e) | set(m))
                          if f not in IGNORED and e.get(f) != m.get(f)]
                if fields:
                    lines = ["different %s:" % (k,)]
                    for f in fields:
                        lines.append("    %-16s engine %s" % (
                            f, json.dumps(e.get(f))))
                        lines.append("    %-16s model  %s" % (
                            "", json.dumps(m.get(f))))
                    diffs.append(("different:" + ",".join(fields), typ,
                                  "\n".join(lines)))
    if not diffs:
        # The same actions: they must also come in the same order, the
        # firing order of §2 and §5 (due time, key, trigger name, and the
        # reference for instances of one trigger due together).
        for i, (e, m) in enumerate(zip(engine, model)):
            if match_key(e) != match_key(m):
                diffs.append(("order", e.get("trigger"),
                              "order differs at action %d:\n    engine %s"
                              "\n    model  %s" % (i, short(e), short(m))))
                break
    return diffs


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quiet = "--quiet" in sys.argv
    engine, model = load(args[0]), load(args[1])
    # DIFF_ONLY=type,...: compare only these trigger types' actions
    only = set(filter(None, os.environ.get("DIFF_ONLY", "").split(",")))
    if only:
        engine = [a for a in engine if a.get("trigger") in only]
        model = [a for a in model if a.get("trigger") in only]
    diffs = compare(engine, model)
    if not quiet:
        for kind, typ, text in diffs:
            print("[%s] %s" % (typ, text))
        print("compare: %d engine actions, %d model actions, %d "
              "discrepancies" % (len(engine), len(model), len(diffs)))
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
